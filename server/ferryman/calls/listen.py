"""Listen-in: a live call's audio to a supervisor's browser (both channels, mixed there).

Only while someone listens: each listener socket keeps ``listening:{call_id}`` alive in Redis (a
key with a few seconds' expiry, refreshed), and the node carrying the call — whichever node of the
floor that is — checks it at most once a second and, while it exists, publishes each channel's
audio on the Redis pub/sub channel ``listen:{call_id}`` in chunks of ~200 ms:

    1 byte   channel (0 agent, 1 customer)
    8 bytes  call time of the chunk's first sample, seconds (float64, little-endian)
    rest     the samples: 8 kHz, 16-bit signed little-endian (telephone band is all a call has)

The browser schedules each chunk at its call time, so the two channels mix in step. A Redis
hiccup costs the listener some audio, never the call: publishing is fire-and-forget.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time

import numpy as np
import redis.asyncio as aioredis

from ferryman.events import CHANNELS, Channel

log = logging.getLogger(__name__)
LISTEN_RATE = 8000
CHUNK_S = 0.2
LISTENER_TTL_S = 6          # a listener refreshes its key every 2 s
_HEADER = struct.Struct("<Bd")


def listening_key(call_id: str) -> str:
    return f"listening:{call_id}"


def audio_channel(call_id: str) -> str:
    return f"listen:{call_id}"


def encode_chunk(channel: Channel, t: float, samples_16k: np.ndarray) -> bytes:
    """16 kHz float samples in [-1, 1] -> one chunk (halved to 8 kHz by averaging pairs: a
    two-tap low-pass, enough for speech already limited to the telephone band)."""
    even = samples_16k[: len(samples_16k) // 2 * 2].reshape(-1, 2).mean(axis=1)
    pcm = np.clip(np.round(even * 32767), -32768, 32767).astype("<i2")
    return _HEADER.pack(CHANNELS.index(channel), t) + pcm.tobytes()


class AudioTap:
    """Sees every channel's audio of one live call (``tap(channel, t, samples)``) and publishes
    it while someone listens."""

    def __init__(self, client: aioredis.Redis, call_id: str, check_every_s: float = 1.0):
        self._redis, self.call_id, self._check_every_s = client, call_id, check_every_s
        self._buffers: dict[Channel, list[np.ndarray]] = {ch: [] for ch in CHANNELS}
        self._starts: dict[Channel, float] = {}
        self._listening = False
        self._checked_at = 0.0
        self._tasks: set[asyncio.Task] = set()

    def __call__(self, channel: Channel, t: float, samples: np.ndarray) -> None:
        self._maybe_check()
        if not self._listening:
            self._buffers[channel].clear()
            self._starts.pop(channel, None)
            return
        self._starts.setdefault(channel, t)
        self._buffers[channel].append(samples)
        if sum(len(s) for s in self._buffers[channel]) >= CHUNK_S * 16_000:
            chunk = encode_chunk(channel, self._starts.pop(channel), np.concatenate(self._buffers[channel]))
            self._buffers[channel].clear()
            self._spawn(self._redis.publish(audio_channel(self.call_id), chunk))

    def _maybe_check(self) -> None:
        now = time.monotonic()
        if now - self._checked_at >= self._check_every_s:
            self._checked_at = now
            self._spawn(self._check())

    async def _check(self) -> None:
        self._listening = bool(await self._redis.exists(listening_key(self.call_id)))

    def _spawn(self, work) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("listen-in of call %s: %s", self.call_id, task.exception())
