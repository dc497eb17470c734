"""Core's own transports: ``memory`` (for tests and demos)."""
