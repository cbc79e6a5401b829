"""Speech recognition stage: VAD-gated streaming decoding with faster-whisper."""

from __future__ import annotations


def build_runtime(settings):
    """Load the model (blocking, a second or two) and return what every call shares."""
    from ferryman.asr.decoder import WhisperDecoder
    from ferryman.asr.scheduler import DecodeScheduler
    from ferryman.asr.streaming import StreamingConfig
    from ferryman.pipeline import AsrRuntime

    return AsrRuntime(WhisperDecoder(settings), DecodeScheduler(settings.asr_workers),
                      StreamingConfig.from_settings(settings), settings.asr_context_chars)
