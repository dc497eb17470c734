"""Adapters at the edge: Django, Celery, logging."""
