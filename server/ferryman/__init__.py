"""Ferryman (摆渡): a real-time call copilot for Mandarin collection calls."""
