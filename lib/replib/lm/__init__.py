"""Shared lm blocks (used by two papers or more)."""
