"""``ferryman replay``: run a recorded call through the pipeline and write its events as JSONL.

Three sources, one output format (the scorer's contract):
- AUDIO, in-process: the real ASR; ``speed 0`` = as fast as compute allows, ``t`` = audio time;
  ``speed S`` = paced at S x real time, ``t`` = wall seconds x S.
- AUDIO through ``--server ws://...``: streamed to a running server's ingest socket; the output
  is what the call's subscriber socket receives (the real end-to-end path).
- ``--transcript CALL.json``: the reference turns as finals at their end times (no ASR).
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Callable

from ferryman.asr.runtime import AsrRuntime
from ferryman.calls.open import open_call
from ferryman.cases.schema import Case
from ferryman.events import Event, TranscriptEvent
from ferryman.ingest.sources import StereoBlock, read_stereo, reference_events, stereo_blocks
from ferryman.pipeline import AudioClock, CallPipeline, Clock, WallClock

BLOCK_S = 0.1


class JsonlSink:
    def __init__(self, path: Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._fh = Path(path).open("w", encoding="utf-8")

    async def publish(self, event: Event) -> None:
        self._fh.write(event.to_json() + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _clock(speed: float) -> Clock:
    return AudioClock() if speed <= 0 else WallClock(speed)


async def _pace(started: float, fed_s: float, speed: float) -> None:
    if speed > 0:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, started + fed_s / speed - loop.time()))


async def replay_audio(audio: Path, case: Case, sink, asr: AsrRuntime, speed: float = 0.0,
                       call_id: str | None = None, today: date | None = None) -> CallPipeline:
    """``today``: the date the call is taken to happen on (relative dates in promises)."""
    agent, customer = read_stereo(audio)
    clock = _clock(speed)
    pipeline = open_call(call_id or Path(audio).stem, case, sink, clock, asr, today=today)
    await pipeline.start()
    started, fed = asyncio.get_running_loop().time(), 0.0
    block: StereoBlock
    for block in stereo_blocks(agent, customer, BLOCK_S):
        pipeline.push_audio("agent", block.agent)
        pipeline.push_audio("customer", block.customer)
        fed += block.seconds
        if isinstance(clock, AudioClock):
            clock.advance(block.seconds)
            await pipeline.idle()         # t stays the audio position: wait for the compute
        else:
            await _pace(started, fed, speed)
    await pipeline.finish()
    return pipeline


class TranscriptReplay:
    """A corpus call's reference turns fed through a pipeline (no ASR), all at once or in steps
    (``play(until=...)``), so a test can look at the panels between two turns."""

    def __init__(self, call_json: Path, case: Case | None, sink, speed: float = 0.0, call_id: str | None = None,
                 agent_id: str | None = None, partials: bool = False, today: date | None = None):
        self.clock = _clock(speed)
        self.speed = speed
        call_id = call_id or json.loads(Path(call_json).read_text(encoding="utf-8"))["call_id"]
        self.pipeline = open_call(call_id, case, sink, self.clock, agent_id=agent_id, today=today)
        self._pending = reference_events(call_json, partials)
        self._started = 0.0

    @property
    def remaining(self) -> list[TranscriptEvent]:
        """The turns (and partials) not played yet, in order."""
        return list(self._pending)

    async def start(self) -> None:
        await self.pipeline.start()
        self._started = asyncio.get_running_loop().time()

    async def play(self, until: Callable[[TranscriptEvent], bool] | None = None) -> TranscriptEvent | None:
        """Feed turns up to and including the first that matches ``until`` (all when None)."""
        while self._pending:
            event = self._pending.pop(0)
            if isinstance(self.clock, AudioClock):
                self.clock.advance(max(0.0, event.end - self.clock.position))
            else:
                await _pace(self._started, event.end, self.speed)
            await self.pipeline.push_transcript(event)
            if until is not None and until(event):
                return event
        return None

    async def finish(self) -> None:
        await self.pipeline.finish()


async def replay_transcript(call_json: Path, case: Case, sink, speed: float = 0.0) -> CallPipeline:
    replay = TranscriptReplay(call_json, case, sink, speed)
    await replay.start()
    await replay.play()
    await replay.finish()
    return replay.pipeline
