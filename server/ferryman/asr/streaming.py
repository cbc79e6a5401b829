"""Streaming transcription of one channel: audio in, partial and final transcript events out.

    samples -> StreamingVad -> Segmenter -> snapshots -> decodes (scheduler) -> TranscriptEvent

Partials are best effort: at most one waits per channel (a newer one replaces it) and one
that arrives after its utterance was finalised is dropped. Finals are never dropped and are
emitted in order. A final whose audio equals the "closing" snapshot taken early in the
silence reuses that decode, so most of the decoding happens while we wait for the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

import numpy as np

from ferryman.asr.bias import PromptContext
from ferryman.asr.decoder import Hypothesis
from ferryman.asr.scheduler import LATER, URGENT, DecodeScheduler, Shed
from ferryman.asr.segmenter import EndpointConfig, Segmenter, Snapshot
from ferryman.asr.text import common_prefix
from ferryman.asr.vad import StreamingVad
from ferryman.events import Channel, TranscriptEvent

log = logging.getLogger(__name__)
Emit = Callable[[TranscriptEvent], Awaitable[None]]


class Decoder(Protocol):
    def decode(self, audio: np.ndarray, prompt: str = "", beam_size: int = 1, prefix: str = "") -> Hypothesis: ...


@dataclass(frozen=True)
class StreamingConfig:
    endpoint: EndpointConfig = EndpointConfig()
    final_beam: int = 5
    partial_beam: int = 1

    @classmethod
    def from_settings(cls, settings) -> "StreamingConfig":
        return cls(EndpointConfig.from_settings(settings), settings.asr_final_beam, settings.asr_partial_beam)


class ChannelTranscriber:
    def __init__(self, channel: Channel, decoder: Decoder, scheduler: DecodeScheduler,
                 context: PromptContext, emit: Emit, config: StreamingConfig = StreamingConfig(),
                 offset_s: float = 0.0, first_index: int = 0):
        self.channel = channel
        self._decoder, self._scheduler, self._context, self._emit = decoder, scheduler, context, emit
        self._config = config
        self._vad = StreamingVad()
        self._segmenter = Segmenter(config.endpoint, offset_s, first_index)
        self._finals: asyncio.Queue[Snapshot | None] = asyncio.Queue()
        self._speculative: dict[tuple[int, int], asyncio.Task[Hypothesis]] = {}
        self._partial_due: Snapshot | None = None
        self._partial_wakeup = asyncio.Event()
        self._partials_idle = asyncio.Event()
        self._partials_idle.set()
        self._finalised_through = -1          # highest utterance index handed to the finals queue
        self._partials: dict[int, tuple[str, str]] = {}   # index -> (last text, stable prefix)
        self._final_count = 0
        self._tasks = [asyncio.create_task(self._final_worker()), asyncio.create_task(self._partial_worker())]

    @property
    def final_count(self) -> int:
        return self._final_count

    @property
    def next_index(self) -> int:
        """Utterance number the next speech gets (a resumed channel continues from here)."""
        return self._segmenter.next_index

    def feed(self, samples: np.ndarray) -> None:
        """Take 16 kHz float32 samples; schedules decodes, returns at once."""
        self._segment(*self._vad(samples))

    async def feed_async(self, samples: np.ndarray) -> None:
        """The same, the VAD on a worker thread (live calls: the event loop carries every call's
        sockets; onnxruntime releases the GIL while it runs)."""
        self._segment(*await asyncio.to_thread(self._vad, samples))

    def _segment(self, frames: np.ndarray, probs: np.ndarray) -> None:
        for snap in self._segmenter.push(frames, probs):
            self._route(snap)

    async def flush(self) -> None:
        """End of this channel's audio: finalise open speech and wait for every final."""
        for snap in self._segmenter.flush():
            self._route(snap)
        await self._finals.put(None)
        await self._tasks[0]
        self._tasks[1].cancel()
        for task in self._speculative.values():
            task.cancel()

    async def idle(self) -> None:
        """Wait until everything scheduled so far is emitted (offline replay at audio speed)."""
        await self._finals.join()
        await self._partials_idle.wait()

    # -- routing -------------------------------------------------------------------------
    def _route(self, snap: Snapshot) -> None:
        if snap.kind == "partial":
            self._partial_due = snap
            self._partials_idle.clear()
            self._partial_wakeup.set()
        elif snap.kind == "closing":
            self._speculate(snap)
        else:
            self._finalised_through = snap.index
            if self._partial_due is not None and self._partial_due.index <= snap.index:
                self._partial_due = None
            self._finals.put_nowait(snap)

    def _speculate(self, snap: Snapshot) -> None:
        for key in [k for k in self._speculative if k[0] == snap.index]:
            self._speculative.pop(key).cancel()   # speech resumed: that audio will not be final
        self._speculative[snap.key] = asyncio.create_task(self._decode(snap, URGENT, self._config.final_beam))

    async def _decode(self, snap: Snapshot, priority: int, beam: int, prefix: str = "") -> Hypothesis:
        prompt = self._context.prompt()
        wanted = (lambda: snap.index > self._finalised_through) if priority == LATER else None
        return await self._scheduler.run(priority, self._decoder.decode, snap.audio, prompt, beam, prefix,
                                         wanted=wanted)

    # -- workers -------------------------------------------------------------------------
    async def _final_worker(self) -> None:
        while (snap := await self._finals.get()) is not None:
            try:
                await self._finalise(snap)
            except Exception:  # a failed decode must not stop the channel
                log.exception("final decode failed on %s utterance %d", self.channel, snap.index)
            finally:
                self._finals.task_done()
        self._finals.task_done()

    async def _finalise(self, snap: Snapshot) -> None:
        pending = self._speculative.pop(snap.key, None)
        for key in [k for k in self._speculative if k[0] <= snap.index]:
            self._speculative.pop(key).cancel()
        hyp = await pending if pending is not None else await self._decode(snap, URGENT, self._config.final_beam)
        had_partials = self._partials.pop(snap.index, None) is not None
        if not hyp.text and not had_partials:
            return  # nothing heard and nothing shown: stay silent
        self._context.add_final(hyp.text)
        self._final_count += 1
        await self._emit(self._event(snap, hyp.text, final=True))

    async def _partial_worker(self) -> None:
        while True:
            await self._partial_wakeup.wait()
            self._partial_wakeup.clear()
            snap, self._partial_due = self._partial_due, None
            try:
                if snap is not None and snap.index > self._finalised_through:
                    stable = self._partials.get(snap.index, ("", ""))[1]
                    hyp = await self._decode(snap, LATER, self._config.partial_beam, stable)
                    if hyp.text and snap.index > self._finalised_through:
                        await self._emit(self._partial_event(snap, hyp.text))
            except Shed:
                pass            # the node is busy or the partial is stale: the next one will do
            except Exception:
                log.exception("partial decode failed on %s", self.channel)
            finally:
                if self._partial_due is None:
                    self._partials_idle.set()

    def _partial_event(self, snap: Snapshot, text: str) -> TranscriptEvent:
        previous, stable = self._partials.get(snap.index, ("", ""))
        agreed = common_prefix(previous, text)
        if len(agreed) < len(stable) and text.startswith(stable):
            agreed = stable  # a stable prefix never shrinks while the hypothesis keeps it
        self._partials[snap.index] = (text, agreed)
        return self._event(snap, text, final=False, stable=agreed)

    def _event(self, snap: Snapshot, text: str, final: bool, stable: str | None = None) -> TranscriptEvent:
        return TranscriptEvent(channel=self.channel, final=final, utterance=snap.index,
                               start=round(snap.start, 3), end=round(snap.end, 3), text=text, stable=stable)
