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
from pathlib import Path

from ferryman.cases.schema import Case
from ferryman.events import Event
from ferryman.hints import hint_processor
from ferryman.ingest.sources import StereoBlock, read_stereo, reference_finals, stereo_blocks
from ferryman.pipeline import AsrRuntime, AudioClock, CallPipeline, Clock, WallClock

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
                       call_id: str | None = None) -> CallPipeline:
    agent, customer = read_stereo(audio)
    clock = _clock(speed)
    pipeline = CallPipeline(call_id or Path(audio).stem, case, sink, clock, asr, [hint_processor(case)])
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


async def replay_transcript(call_json: Path, case: Case, sink, speed: float = 0.0) -> CallPipeline:
    clock = _clock(speed)
    pipeline = CallPipeline(json.loads(Path(call_json).read_text(encoding="utf-8"))["call_id"],
                            case, sink, clock, None, [hint_processor(case)])
    await pipeline.start()
    started = asyncio.get_running_loop().time()
    for event in reference_finals(call_json):
        if isinstance(clock, AudioClock):
            clock.advance(event.end - clock.position)
        else:
            await _pace(started, event.end, speed)
        await pipeline.push_transcript(event)
    await pipeline.finish()
    return pipeline
