"""Speech recognition stage: VAD-gated streaming decoding with faster-whisper."""

from __future__ import annotations


def build_runtime(settings):
    """Load the model (blocking, a second or two) and return what every call shares."""
    from ferryman.asr.runtime import build_runtime as build

    return build(settings)
