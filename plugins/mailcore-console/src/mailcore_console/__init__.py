"""mailcore-console: print messages instead of sending them. A development tool, never a fallback."""
