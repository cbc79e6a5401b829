"""ChannelTranscriber's ordering guarantees, with the real VAD and a scripted decoder."""

import asyncio
import threading
from pathlib import Path

import numpy as np

from ferryman.asr.bias import PromptContext
from ferryman.asr.decoder import Hypothesis
from ferryman.asr.scheduler import DecodeScheduler
from ferryman.asr.streaming import ChannelTranscriber, StreamingConfig
from ferryman.ingest.sources import read_stereo

CALL = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "calls" / "d04.flac"


class ScriptedDecoder:
    """Says how many seconds it heard, so the text grows as an utterance does."""

    def __init__(self):
        self.prompts: list[str] = []
        self.prefixes: list[str] = []
        self.lock = threading.Lock()

    def decode(self, audio, prompt="", beam_size=1, prefix=""):
        with self.lock:
            self.prompts.append(prompt)
            self.prefixes.append(prefix)
        words = "说" * max(1, int(len(audio) / 16000 * 4))
        assert words.startswith(prefix)
        return Hypothesis(words, words, -0.2, 0.01)


async def transcribe(audio: np.ndarray, realtime: bool):
    events, decoder, context = [], ScriptedDecoder(), PromptContext("前文。", 40)

    async def emit(event):
        events.append(event)

    ch = ChannelTranscriber("customer", decoder, DecodeScheduler(1), context, emit, StreamingConfig())
    for i in range(0, len(audio), 1600):
        ch.feed(audio[i:i + 1600])
        if realtime:
            await asyncio.sleep(0)
        else:
            await ch.idle()
    await ch.flush()
    return events, decoder


async def test_partials_then_one_final_per_utterance_in_order():
    _, customer = read_stereo(CALL)
    events, decoder = await transcribe(customer[: 16000 * 30], realtime=False)
    finals = [e for e in events if e.final]
    assert len(finals) >= 2
    seen_final = set()
    for e in events:
        assert e.utterance not in seen_final, "a partial arrived after its final"
        if e.final:
            seen_final.add(e.utterance)
        else:
            assert e.text.startswith(e.stable)
    assert [f.utterance for f in finals] == sorted(f.utterance for f in finals)
    assert all(f.end > f.start for f in finals)
    assert any(p.startswith("前文。说") for p in decoder.prompts), "earlier finals feed the prompt"
    assert any(decoder.prefixes), "partials after the first are constrained by their stable prefix"


async def test_silence_produces_no_events():
    events, decoder = await transcribe(np.zeros(16000 * 5, np.float32), realtime=False)
    assert events == [] and decoder.prompts == []


async def test_fast_feeding_still_delivers_every_final():
    _, customer = read_stereo(CALL)
    slow, _ = await transcribe(customer[: 16000 * 30], realtime=False)
    fast, _ = await transcribe(customer[: 16000 * 30], realtime=True)
    assert [e.utterance for e in fast if e.final] == [e.utterance for e in slow if e.final]
