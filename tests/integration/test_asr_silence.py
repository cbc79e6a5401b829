"""No phantom text: silence, line noise and hold tones never become transcripts (real model)."""

import asyncio

import numpy as np
import pytest

from ferryman.cases.schema import load_case_file
from ferryman.pipeline import AudioClock, CallPipeline

pytestmark = pytest.mark.integration


class Collect:
    def __init__(self):
        self.events = []

    async def publish(self, event):
        self.events.append(event)


def test_silence_noise_and_tones_produce_no_transcripts(asr_runtime, corpus):
    rng = np.random.default_rng(7)
    t = np.arange(16000 * 6) / 16000
    audio = np.concatenate([
        np.zeros(16000 * 4, np.float32),                                      # dead air
        (0.01 * rng.standard_normal(16000 * 6)).astype(np.float32),            # line hiss
        (0.2 * np.sin(2 * np.pi * 425 * t) * (t % 1 < 0.5)).astype(np.float32),  # ringback-style tone
        (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32),               # test tone
    ])
    sink = Collect()

    async def run():
        clock = AudioClock()
        pipeline = CallPipeline("silence", load_case_file(corpus / "d01.json"), sink, clock, asr_runtime)
        await pipeline.start()
        for i in range(0, len(audio), 1600):
            pipeline.push_audio("agent", audio[i:i + 1600])
            pipeline.push_audio("customer", audio[i:i + 1600])
            clock.advance(0.1)
            await pipeline.idle()
        await pipeline.finish()

    asyncio.run(run())
    assert [e for e in sink.events if e.type == "transcript"] == []
