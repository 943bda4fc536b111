"""Shared nn blocks (used by two papers or more)."""
