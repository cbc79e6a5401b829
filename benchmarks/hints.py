#!/usr/bin/env python3
"""Hint quality and cost, in one run (prints numbers; nothing here is a test).

1. Dev corpus (``../shared/corpus/calls``), scored by ``../shared/tools/score_calls.py``:
   - text path:  each reference turn as a final at its end time (``replay --transcript``);
   - audio path: the real streaming ASR then the hint engine, in-process, ``--speed 0``.
2. Fresh calls (``benchmarks/data/fresh_calls``: 14 calls written blind, after the model was
   built), text path; and the same turns with simulated ASR damage (``learned/noise.py``: sound-
   keeping substitutions, dropped characters, lost punctuation; there is no audio for them).
3. The labelled utterance set's frozen test split (``hints/data/test``), rules + learned layer
   and rules alone. Its *first* score is the one that counts (docs/benchmarks.md).
4. Cost: the engine's time per final (every final of 1–3, on this machine, one thread), and the
   time to load the hint engine in a fresh process (rules, model, jieba, sentence encoder).

    .venv/bin/python benchmarks/hints.py              # ~6 min on 2 cores (the audio path)
    .venv/bin/python benchmarks/hints.py --no-audio   # ~1 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "calls"
FRESH = ROOT / "benchmarks" / "data" / "fresh_calls"
SCORER = ROOT.parent / "shared" / "tools" / "score_calls.py"


def score(calls_dir: Path, events_dir: Path) -> dict:
    out = subprocess.run([sys.executable, str(SCORER), "score", str(calls_dir), str(events_dir)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


class TimedEngines:
    """Wraps HintEngine.on_event to record the cost of every final (the engine is pure and
    synchronous, so wall time around the call is its cost)."""

    def __init__(self):
        from ferryman.hints.engine import HintEngine

        self.costs: list[float] = []
        original = HintEngine.on_event

        def timed(engine, event):
            started = time.perf_counter()
            out = original(engine, event)
            if getattr(event, "type", "") == "transcript" and event.final:
                self.costs.append(time.perf_counter() - started)
            return out

        HintEngine.on_event = timed


async def text_path(calls_dir: Path, out_dir: Path, damage_seed: int | None = None) -> None:
    from ferryman.cases.schema import load_case_file
    from ferryman.replay import JsonlSink, replay_transcript

    for call in sorted(calls_dir.glob("*.json")):
        source = call
        if damage_seed is not None:
            source = out_dir / f"{call.stem}.damaged.json"
            source.write_text(json.dumps(_damaged(call, damage_seed), ensure_ascii=False), encoding="utf-8")
        sink = JsonlSink(out_dir / f"{call.stem}.jsonl")
        await replay_transcript(source, load_case_file(call), sink)
        sink.close()


def _damaged(call: Path, seed: int) -> dict:
    from ferryman.hints.learned.noise import damage

    data = json.loads(call.read_text(encoding="utf-8"))
    rng = random.Random(f"{seed}:{call.stem}")
    for turn in data["turns"]:
        turn["text"] = damage(turn["text"], rng)
    return data


async def audio_path(out_dir: Path) -> None:
    from ferryman.asr import build_runtime
    from ferryman.cases.schema import load_case_file
    from ferryman.hints import prepare as prepare_hints
    from ferryman.replay import JsonlSink, replay_audio
    from ferryman.settings import Settings

    asr = build_runtime(Settings())
    prepare_hints()
    for call in sorted(CORPUS.glob("*.json")):
        sink = JsonlSink(out_dir / f"{call.stem}.jsonl")
        await replay_audio(call.with_suffix(".flac"), load_case_file(call), sink, asr, speed=0)
        sink.close()
        print(f"  audio path: {call.stem} done", flush=True)
    asr.scheduler.shutdown()


def report(name: str, result: dict) -> None:
    print(f"\n== {name}")
    print(f"F1 {result['f1']:.3f}   precision {result['precision']:.3f}   recall {result['recall']:.3f}   "
          f"hint latency p50 {result['latency_p50']:.2f} s  p95 {result['latency_p95']:.2f} s"
          + (f"   CER {result['cer']:.3f}" if result.get("cer") is not None else ""))
    print("per code: " + ", ".join(f"{code} {c['tp']}/{c['tp'] + c['fn']} fp{c['fp']}"
                                   for code, c in sorted(result["per_code"].items())))
    print("misses:", ", ".join(result["misses"]) or "none")
    print("false positives:", ", ".join(result["false_positives"]) or "none")


def frozen_split() -> None:
    from ferryman.hints.learned.dataset import load, test_files
    from ferryman.hints.learned.evaluate import evaluate
    from ferryman.hints.learned.model import shared_model

    items = load(test_files())
    for title, model in (("rules + learned layer", shared_model()), ("rules alone", None)):
        print()
        print("\n".join(evaluate(items, model).lines(f"frozen test split, {title} (now; the first score is in "
                                                      "docs/benchmarks.md)")))


def load_time() -> float:
    """Seconds to import and prepare the hint engine in a fresh interpreter."""
    code = ("import time; t = time.perf_counter(); from ferryman.hints import prepare; prepare(); "
            "print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench-hints"))
    parser.add_argument("--no-audio", action="store_true", help="skip the dev corpus through the ASR (~5 min)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    out = Path(args.out)
    loads = [load_time() for _ in range(3)]
    from ferryman.hints import prepare

    prepare()
    timer = TimedEngines()
    runs = [("dev corpus, text path", CORPUS, "text", lambda d: text_path(CORPUS, d)),
            ("fresh calls, text path", FRESH, "fresh", lambda d: text_path(FRESH, d)),
            ("fresh calls, text with simulated ASR damage", FRESH, "fresh-damaged",
             lambda d: text_path(FRESH, d, damage_seed=11))]
    if not args.no_audio:
        runs.append(("dev corpus, audio path (streaming ASR, speed 0)", CORPUS, "audio", audio_path))
    for title, calls_dir, name, runner in runs:
        target = out / name
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*.json*"):
            old.unlink()
        if name == "audio":
            asyncio.run(runner(target))
        else:
            with threadpool_limits(limits=1):
                asyncio.run(runner(target))
        report(f"{title} ({target})", score(calls_dir, target))
    costs = np.array(timer.costs) * 1000
    print(f"\n== engine cost per final ({len(costs)} finals of the runs above, rules + learned layer)")
    print(f"p50 {np.percentile(costs, 50):.1f} ms   p95 {np.percentile(costs, 95):.1f} ms   "
          f"max {costs.max():.1f} ms")
    print(f"== hint engine load in a fresh process (rules, model, jieba, sentence encoder): "
          f"{', '.join(f'{s:.2f}' for s in loads)} s")
    with threadpool_limits(limits=1):
        frozen_split()


if __name__ == "__main__":
    main()
