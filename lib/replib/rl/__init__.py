"""Shared rl blocks (used by two papers or more)."""
