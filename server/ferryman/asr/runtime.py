"""What every call on a node shares: the loaded decoder, the decode scheduler, the streaming policy."""

from __future__ import annotations

from dataclasses import dataclass

from ferryman.asr.scheduler import DecodeScheduler
from ferryman.asr.streaming import Decoder, StreamingConfig


@dataclass
class AsrRuntime:
    decoder: Decoder
    scheduler: DecodeScheduler
    config: StreamingConfig
    context_chars: int = 60


def build_runtime(settings) -> AsrRuntime:
    """Load the model (blocking, a second or two) and return what every call shares."""
    from ferryman.asr.decoder import WhisperDecoder

    return AsrRuntime(WhisperDecoder(settings), DecodeScheduler(settings.asr_workers, settings.partial_max_wait_s),
                      StreamingConfig.from_settings(settings), settings.asr_context_chars)
