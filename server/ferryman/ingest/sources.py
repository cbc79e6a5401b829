"""Offline sources for replay: a stereo audio file, or a corpus call's reference turns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ferryman.events import CHANNELS, TranscriptEvent
from ferryman.ingest.audio import ASR_RATE


class AudioFileError(ValueError):
    pass


def _channel_count(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as container:
            channels = container.streams.audio[0].channels if container.streams.audio else 0
    except av.FFmpegError as exc:
        raise AudioFileError(f"cannot decode {path} as audio: {exc}") from exc
    if channels == 0:
        raise AudioFileError(f"cannot decode {path}: no audio stream in it")
    return channels


def read_stereo(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Any file PyAV reads -> (agent, customer) float32 at 16 kHz (channel 0, channel 1)."""
    from faster_whisper.audio import decode_audio

    if not Path(path).is_file():
        raise AudioFileError(f"no such audio file: {path}")
    channels = _channel_count(path)
    if channels != 2:
        raise AudioFileError(f"{path} has {channels} channel(s); a call recording must be stereo "
                             "(channel 0 agent, channel 1 customer)")
    agent, customer = decode_audio(str(path), sampling_rate=ASR_RATE, split_stereo=True)
    if len(agent) == 0:
        raise AudioFileError(f"cannot decode {path}: no audio samples")
    return agent, customer


@dataclass(frozen=True)
class StereoBlock:
    agent: np.ndarray
    customer: np.ndarray
    seconds: float


def stereo_blocks(agent: np.ndarray, customer: np.ndarray, block_s: float = 0.1) -> Iterator[StereoBlock]:
    step = int(block_s * ASR_RATE)
    for i in range(0, max(len(agent), len(customer)), step):
        a, c = agent[i:i + step], customer[i:i + step]
        n = max(len(a), len(c))
        yield StereoBlock(np.pad(a, (0, n - len(a))), np.pad(c, (0, n - len(c))), n / ASR_RATE)


def reference_events(call_path: Path, partials: bool = False) -> list[TranscriptEvent]:
    """The reference finals, and with ``partials`` a provisional first half of each turn at its
    midpoint (what a streaming ASR shows mid-utterance), all in time order."""
    finals = reference_finals(call_path)
    if not partials:
        return finals
    halves = [final.model_copy(update={"final": False, "text": final.text[:max(1, len(final.text) // 2)],
                                       "end": round((final.start + final.end) / 2, 3)})
              for final in finals]
    return sorted(finals + halves, key=lambda e: (e.end, e.final))


def reference_finals(call_path: Path) -> list[TranscriptEvent]:
    """Each turn of a corpus call as the final an ideal ASR would emit at the turn's end."""
    call = json.loads(Path(call_path).read_text(encoding="utf-8"))
    speaker = {"A": CHANNELS[0], "C": CHANNELS[1]}
    counters = {ch: 0 for ch in CHANNELS}
    events = []
    for turn in sorted(call["turns"], key=lambda t: t["end"]):
        channel = speaker[turn["spk"]]
        events.append(TranscriptEvent(channel=channel, final=True, utterance=counters[channel],
                                      start=turn["start"], end=turn["end"], text=turn["text"]))
        counters[channel] += 1
    return events
