"""One call's pipeline, the same object behind the server, ``ferryman replay`` and the tests.

    audio (per channel, 16 kHz) -> ChannelTranscriber -> TranscriptEvent --+
    reference turns (--transcript) ------------------------------------------+-> processors -> sink

Only the source of audio and the clock differ between uses: an ``AudioClock`` stamps events
with the seconds of audio consumed (offline replay), a ``WallClock`` with wall seconds since
the call started, times a speed factor (live calls, paced replay).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Protocol

import numpy as np

from ferryman.asr.bias import PromptContext, bias_prompt
from ferryman.asr.runtime import AsrRuntime
from ferryman.asr.streaming import ChannelTranscriber
from ferryman.cases.schema import Case
from ferryman.events import CHANNELS, CallEvent, Channel, Event, TranscriptEvent
from ferryman.ingest.audio import ASR_RATE


class Clock(Protocol):
    def now(self) -> float: ...


class AudioClock:
    """Call time = seconds of audio consumed so far (advanced by the feeder)."""

    def __init__(self) -> None:
        self.position = 0.0

    def advance(self, seconds: float) -> None:
        self.position += seconds

    def now(self) -> float:
        return round(self.position, 3)


class WallClock:
    """Call time = wall seconds since the call started (times ``speed``). A call taken over from
    another node keeps its time: ``started_at`` is the epoch second it started there."""

    def __init__(self, speed: float = 1.0, started_at: float | None = None):
        self.speed = speed
        self._epoch = started_at
        self._t0 = time.monotonic()

    def now(self) -> float:
        elapsed = time.time() - self._epoch if self._epoch is not None else time.monotonic() - self._t0
        return round(max(0.0, elapsed) * self.speed, 3)


class EventSink(Protocol):
    async def publish(self, event: Event) -> None: ...


# A processor sees every event on its way to the sink and may add events (the hint engine).
Processor = Callable[[Event], Awaitable[list[Event]]]


class CallPipeline:
    def __init__(self, call_id: str, case: Case | None, sink: EventSink, clock: Clock,
                 asr: AsrRuntime | None = None, processors: list[Processor] | None = None,
                 agent_id: str | None = None, on_final: Callable[[float], None] | None = None):
        self.call_id, self.case, self.agent_id = call_id, case, agent_id
        self._on_final = on_final
        self.clock = clock
        self._sink = sink
        self._asr = asr
        self._processors = processors or []
        self._emit_lock = asyncio.Lock()   # events leave in the order they were made
        self._context = PromptContext(bias_prompt(case), asr.context_chars if asr else 0)
        self._channels: dict[Channel, ChannelTranscriber] = {}
        self._next_index: dict[Channel, int] = {}      # a resumed channel continues numbering
        self._heard_until: dict[Channel, float] = {}    # call time up to which audio came in
        self._final_end: dict[Channel, float] = {}      # call time the last final of a channel ends
        self._closed_finals = 0
        self._audio_taps: list[Callable[[Channel, float, np.ndarray], None]] = []

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        await self.emit(CallEvent(state="started", case_id=self.case.case_id if self.case else None,
                                  agent_id=self.agent_id))

    def resume(self, history: list[Event]) -> None:
        """Take over a call another node started: the decoder context and the processors (the
        hint engine) absorb its finals, utterance numbers continue after its last final (a
        partial left without a final is superseded by the new final of the same number), and
        each channel's audio is wanted again from the end of its last final."""
        finals = [e for e in history if isinstance(e, TranscriptEvent) and e.final]
        for event in finals:
            self._context.add_final(event.text)
            for process in self._processors:
                absorb = getattr(process, "absorb", None)
                if absorb is not None:
                    absorb(event)
        for channel in CHANNELS:
            mine = [e for e in finals if e.channel == channel]
            self._next_index[channel] = max((e.utterance for e in mine), default=-1) + 1
            self._final_end[channel] = max((e.end for e in mine), default=0.0)
        self._closed_finals = len(finals)

    def resume_point(self, channel: Channel) -> float:
        """Call time from which this channel's audio has not been heard (or not transcribed)."""
        return max(self._heard_until.get(channel, 0.0), self._final_end.get(channel, 0.0))

    async def finish(self, state: str = "ended", detail: str | None = None) -> None:
        """Flush every channel (finals for open speech), then announce the end."""
        await asyncio.gather(*(self.close_channel(ch) for ch in list(self._channels)))
        await self.emit(CallEvent(state=state, detail=detail))

    # -- audio in ------------------------------------------------------------------------
    def open_channel(self, channel: Channel, offset_s: float = 0.0) -> ChannelTranscriber:
        if self._asr is None:
            raise RuntimeError("this pipeline was built without ASR (transcript replay)")
        if channel not in self._channels:
            self._channels[channel] = ChannelTranscriber(
                channel, self._asr.decoder, self._asr.scheduler, self._context, self.emit,
                self._asr.config, offset_s, first_index=self._next_index.get(channel, 0))
            self._heard_until[channel] = offset_s
        return self._channels[channel]

    def add_audio_tap(self, tap: Callable[[Channel, float, np.ndarray], None]) -> None:
        """``tap(channel, call time of the first sample, samples)`` sees all audio (listen-in)."""
        self._audio_taps.append(tap)

    def _heard(self, channel: Channel, samples: np.ndarray) -> None:
        for tap in self._audio_taps:
            tap(channel, self._heard_until[channel], samples)
        self._heard_until[channel] += len(samples) / ASR_RATE

    def push_audio(self, channel: Channel, samples: np.ndarray) -> None:
        transcriber = self.open_channel(channel)
        self._heard(channel, samples)
        transcriber.feed(samples)

    async def push_audio_async(self, channel: Channel, samples: np.ndarray) -> None:
        """``push_audio`` with the VAD off the event loop (live calls)."""
        transcriber = self.open_channel(channel)
        self._heard(channel, samples)
        await transcriber.feed_async(samples)

    async def skip_ahead(self, channel: Channel, seconds: float) -> None:
        """Time passed on the call without this channel's audio: what was open is finalised and
        the channel's audio goes on ``seconds`` later (as after a reconnect)."""
        if channel in self._channels:
            await self.close_channel(channel)
            self.open_channel(channel, offset_s=self.resume_point(channel) + seconds)

    async def close_channel(self, channel: Channel) -> None:
        transcriber = self._channels.pop(channel, None)
        if transcriber is not None:
            await transcriber.flush()
            self._next_index[channel] = transcriber.next_index
            self._closed_finals += transcriber.final_count

    async def idle(self) -> None:
        await asyncio.gather(*(ch.idle() for ch in self._channels.values()))

    @property
    def final_count(self) -> int:
        return self._closed_finals + sum(ch.final_count for ch in self._channels.values())

    # -- events out ----------------------------------------------------------------------
    async def emit(self, event: Event) -> None:
        async with self._emit_lock:
            await self._emit(event)

    async def _emit(self, event: Event) -> None:
        """Stamp, then publish the event and what the processors derive from it: after it, so a
        card follows the words that raised it; before it when the call ends, so the last
        cards precede the end (subscribers stop at the end)."""
        event.call_id, event.t = self.call_id, self.clock.now()
        if isinstance(event, TranscriptEvent) and event.final:
            self._final_end[event.channel] = max(self._final_end.get(event.channel, 0.0), event.end)
            if self._on_final is not None:
                self._on_final(max(0.0, event.t - event.end))
        derived = [d for process in self._processors for d in await process(event)]
        closing = isinstance(event, CallEvent) and event.state != "started"
        if not closing:
            await self._sink.publish(event)
        for item in derived:
            await self._emit(item)
        if closing:
            await self._sink.publish(event)

    async def push_turn(self, channel: Channel, text: str, start: float, end: float) -> None:
        """A finished turn recognised elsewhere (a transcript socket): the channel's next final."""
        index = self._next_index.get(channel, 0)
        self._next_index[channel] = index + 1
        self._final_end[channel] = max(self._final_end.get(channel, 0.0), end)
        await self.push_transcript(TranscriptEvent(channel=channel, final=True, utterance=index, start=start,
                                                   end=end, text=text))
        self._closed_finals += 1

    async def push_transcript(self, event: TranscriptEvent) -> None:
        """A transcript from elsewhere (reference turns): straight to the processors and sink."""
        if event.final:
            self._context.add_final(event.text)
        await self.emit(event)

