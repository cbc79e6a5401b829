"""VAD probabilities -> utterances: when to decode a partial, a final, or speculatively.

Pure logic over 32 ms frames, so it tests without a model. Per channel it keeps the audio of
the utterance in progress and emits snapshots of it:

- ``partial``  every ``partial_interval_s`` of speech: a provisional hypothesis is due;
- ``closing``  once ``tail_s`` of silence follows speech: the audio the final will have if
               the speaker stays silent, so the final can be decoded while we wait to be sure;
- ``final``    once ``endpoint_silence_s`` of silence confirms the end; once the utterance holds
               ``long_utterance_s`` of audio, already at a ``tail_s`` pause (a comma), so a
               long turn is finalised piece by piece and its last piece is quick to decode;
               or when speech runs ``max_utterance_s`` without a pause (cut at its quietest
               frame); or when the stream ends.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ferryman.asr.vad import FRAME

RATE = 16000
FRAME_S = FRAME / RATE

Kind = Literal["partial", "closing", "final"]


@dataclass(frozen=True)
class EndpointConfig:
    onset: float = 0.35
    offset: float = 0.2
    endpoint_silence_s: float = 0.45
    tail_s: float = 0.2
    preroll_s: float = 0.25
    min_utterance_s: float = 0.3
    long_utterance_s: float = 6.0
    max_utterance_s: float = 14.0
    partial_interval_s: float = 0.7
    split_search_s: float = 3.0

    @classmethod
    def from_settings(cls, settings) -> "EndpointConfig":
        return cls(onset=settings.vad_onset, offset=settings.vad_offset,
                   endpoint_silence_s=settings.endpoint_silence_s, preroll_s=settings.preroll_s,
                   tail_s=min(0.2, settings.endpoint_silence_s),
                   min_utterance_s=settings.min_utterance_s, long_utterance_s=settings.long_utterance_s,
                   max_utterance_s=settings.max_utterance_s,
                   partial_interval_s=settings.partial_interval_s)


def _frames(seconds: float) -> int:
    return max(1, round(seconds / FRAME_S))


@dataclass
class Snapshot:
    kind: Kind
    index: int          # utterance number within the channel
    start: float        # channel seconds
    audio: np.ndarray   # 16 kHz float32

    @property
    def end(self) -> float:
        return self.start + len(self.audio) / RATE

    @property
    def key(self) -> tuple[int, int]:
        """Identifies the exact audio: a final equal to an earlier closing snapshot reuses its decode."""
        return self.index, len(self.audio)


class Segmenter:
    def __init__(self, config: EndpointConfig = EndpointConfig(), offset_s: float = 0.0, first_index: int = 0):
        self.cfg = config
        self.offset_s = offset_s
        self._frame_no = 0                       # frames seen so far
        self._preroll: deque[tuple[np.ndarray, float]] = deque(maxlen=_frames(config.preroll_s))
        self._index = first_index
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._frames: list[np.ndarray] = []
        self._probs: list[float] = []
        self._start_frame = 0
        self._last_voiced = -1                   # index into self._frames
        self._voiced = 0                         # frames at or above the offset threshold
        self._partial_at = 0                     # len(self._frames) at the last partial
        self._closing_sent = False

    @property
    def next_index(self) -> int:
        return self._index

    @property
    def in_speech(self) -> bool:
        return bool(self._frames)

    def push(self, frames: np.ndarray, probs: np.ndarray) -> list[Snapshot]:
        out: list[Snapshot] = []
        for frame, prob in zip(frames, probs):
            out.extend(self._step(frame, float(prob)))
            self._frame_no += 1
        return out

    def flush(self) -> list[Snapshot]:
        """End of stream: whatever speech is open becomes a final."""
        return self._finish() if self.in_speech else []

    # -- internals -----------------------------------------------------------------------
    def _step(self, frame: np.ndarray, prob: float) -> list[Snapshot]:
        if not self.in_speech:
            if prob < self.cfg.onset:
                self._preroll.append((frame, prob))
                return []
            self._begin()
        self._append(frame, prob)
        return self._decide()

    def _append(self, frame: np.ndarray, prob: float) -> None:
        self._frames.append(frame)
        self._probs.append(prob)
        if prob >= self.cfg.offset:
            self._last_voiced = len(self._frames) - 1
            self._voiced += 1
            self._closing_sent = False

    def _begin(self) -> None:
        """Speech onset: the pre-roll (soft starts the VAD was unsure of) opens the utterance."""
        preroll = list(self._preroll)
        self._preroll.clear()
        self._reset_utterance()
        self._start_frame = self._frame_no - len(preroll)
        for frame, prob in preroll:
            self._append(frame, prob)

    def _decide(self) -> list[Snapshot]:
        silence = len(self._frames) - 1 - self._last_voiced
        if silence >= _frames(self.cfg.endpoint_silence_s) or (
                silence >= _frames(self.cfg.tail_s) and len(self._frames) >= _frames(self.cfg.long_utterance_s)):
            return self._finish()
        if silence >= _frames(self.cfg.tail_s) and not self._closing_sent and self._long_enough():
            self._closing_sent = True
            return [self._snapshot("closing", self._final_length())]
        if len(self._frames) >= _frames(self.cfg.max_utterance_s):
            return self._split()
        if silence == 0 and len(self._frames) - self._partial_at >= _frames(self.cfg.partial_interval_s):
            self._partial_at = len(self._frames)
            return [self._snapshot("partial", len(self._frames))]
        return []

    def _final_length(self) -> int:
        return min(len(self._frames), self._last_voiced + 1 + _frames(self.cfg.tail_s))

    def _snapshot(self, kind: Kind, n_frames: int) -> Snapshot:
        audio = np.concatenate(self._frames[:n_frames]) if n_frames else np.zeros(0, np.float32)
        return Snapshot(kind, self._index, self.offset_s + self._start_frame * FRAME_S, audio)

    def _long_enough(self) -> bool:
        """Enough voiced audio to be speech rather than a click or a cough."""
        return self._voiced * FRAME_S >= self.cfg.min_utterance_s

    def _finish(self) -> list[Snapshot]:
        out = []
        if self._long_enough():
            out.append(self._snapshot("final", self._final_length()))
            self._index += 1
        cut = self._final_length()
        leftover = list(zip(self._frames[cut:], self._probs[cut:]))
        self._reset_utterance()
        self._preroll.extend(leftover)
        return out

    def _split(self) -> list[Snapshot]:
        """Too long without a pause: cut at the quietest frame of the last few seconds."""
        search = _frames(self.cfg.split_search_s)
        window = self._probs[-search:-1] or self._probs
        cut = len(self._probs) - search + int(np.argmin(window)) + 1 if len(self._probs) > search else len(self._probs)
        final = self._snapshot("final", cut)
        rest = list(zip(self._frames[cut:], self._probs[cut:]))
        start = self._start_frame + cut
        self._index += 1
        self._reset_utterance()
        self._start_frame = start
        for frame, prob in rest:
            self._append(frame, prob)
        return [final]
