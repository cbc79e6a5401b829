"""Streaming voice-activity probabilities from the Silero VAD that faster-whisper bundles.

faster-whisper runs Silero over a whole file at once; here the same ONNX model is stepped
chunk by chunk with its recurrent state and 64-sample context carried per channel, which
gives identical probabilities for a stream.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

FRAME = 512       # samples per VAD decision at 16 kHz (32 ms)
_CONTEXT = 64     # samples of the previous frame the model sees


@lru_cache(maxsize=1)
def _shared_model():
    # One ONNX session for every channel: onnxruntime sessions are safe to run concurrently.
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


class StreamingVad:
    frame_s = FRAME / 16000

    def __init__(self) -> None:
        self._session = _shared_model().session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def __call__(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed 16 kHz samples; return (frames [n, 512], speech probability per frame)."""
        buffered = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        n = len(buffered) // FRAME
        self._pending = buffered[n * FRAME:]
        if n == 0:
            return np.zeros((0, FRAME), dtype=np.float32), np.zeros(0, dtype=np.float32)
        frames = buffered[: n * FRAME].reshape(n, FRAME)
        contexts = np.concatenate([self._context[None], frames[:-1, -_CONTEXT:]], axis=0)
        out, self._h, self._c = self._session.run(
            None, {"input": np.concatenate([contexts, frames], axis=1), "h": self._h, "c": self._c})
        self._context = frames[-1, -_CONTEXT:].copy()
        return frames, out.reshape(-1)
