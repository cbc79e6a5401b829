"""A dev call's events through the pipeline, for the benchmarks that score what the engine and
the panels make of them (wrap-up, primary card): its reference turns as finals (the hint engine
on perfect text), or its audio through the real model, offline (``t`` = audio time)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ferryman.calls.open import open_call
from ferryman.cases.schema import load_case_file
from ferryman.ingest.sources import reference_finals
from ferryman.pipeline import AudioClock
from ferryman.replay import replay_audio

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "calls"
CALL_DAY = date(2026, 11, 29)       # relative dates in promises resolve against this day (the labels' day)


class Events:
    """A sink that keeps what the pipeline emits."""

    def __init__(self):
        self.events = []

    async def publish(self, event) -> None:
        self.events.append(event)


async def reference_events(name: str, corpus: Path = CORPUS) -> list:
    case, sink = load_case_file(corpus / f"{name}.json"), Events()
    pipeline = open_call(name, case, sink, AudioClock(), today=CALL_DAY)
    await pipeline.start()
    for final in reference_finals(corpus / f"{name}.json"):
        pipeline.clock.advance(max(0.0, final.end - pipeline.clock.position))
        await pipeline.push_transcript(final)
    await pipeline.finish()
    return sink.events


async def asr_events(name: str, asr, corpus: Path = CORPUS) -> list:
    case, sink = load_case_file(corpus / f"{name}.json"), Events()
    await replay_audio(corpus / f"{name}.flac", case, sink, asr, speed=0.0, call_id=name, today=CALL_DAY)
    return sink.events
