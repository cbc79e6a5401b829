"""Audio and transcripts in: websocket protocol, decoding, offline sources."""
