"""Cases (what is known before the call) and their Redis store."""
