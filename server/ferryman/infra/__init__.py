"""Connections to the outside: Redis."""
