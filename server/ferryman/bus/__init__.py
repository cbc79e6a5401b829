"""Delivery: per-call event streams in Redis and their subscribers."""
