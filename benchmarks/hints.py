#!/usr/bin/env python3
"""Hint quality on the dev corpus, text path and audio path in one run (prints numbers).

- text path:  ``ferryman replay --transcript`` semantics: each reference turn as a final at
              its end time, through the hint engine (no ASR);
- audio path: the real streaming ASR then the hint engine, in-process, at ``--speed 0``
              (``t`` = seconds of audio consumed when the hint was emitted).

Both are scored by ``../shared/tools/score_calls.py``. ``--audio-only``/``--text-only`` narrow it.
Then single utterances written after the rules (``benchmarks/data/paraphrases.yaml``) give a
rough idea of how the engine does on wording it was not built from.

    .venv/bin/python benchmarks/hints.py            # ~5 min on 2 cores (the audio path)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "calls"
SCORER = ROOT.parent / "shared" / "tools" / "score_calls.py"


def score(events_dir: Path) -> dict:
    out = subprocess.run([sys.executable, str(SCORER), "score", str(CORPUS), str(events_dir)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


async def text_path(out_dir: Path) -> None:
    from ferryman.cases.schema import load_case_file
    from ferryman.replay import JsonlSink, replay_transcript

    for call in sorted(CORPUS.glob("*.json")):
        sink = JsonlSink(out_dir / f"{call.stem}.jsonl")
        await replay_transcript(call, load_case_file(call), sink)
        sink.close()


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


def paraphrases() -> None:
    """Single utterances written after the rules (benchmarks/data/paraphrases.yaml), per batch."""
    import yaml

    from ferryman.cases.schema import load_case_file

    data = ROOT / "benchmarks" / "data"
    case = load_case_file(data / "paraphrase_case.json")
    batches = yaml.safe_load((data / "paraphrases.yaml").read_text(encoding="utf-8"))["batches"]
    for name, utterances in batches.items():
        tp, fp, fn, wrong = score_utterances(case, utterances)
        precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        print(f"\n== paraphrases, batch {name} ({len(utterances)} utterances, {tp + fn} expected hints)")
        print(f"F1 {f1:.3f}   precision {precision:.3f}   recall {recall:.3f}")
        print("wrong:", "; ".join(wrong) or "none")


def score_utterances(case, utterances) -> tuple[int, int, int, list[str]]:
    from ferryman.events import TranscriptEvent
    from ferryman.hints.engine import HintEngine

    allowed_with = {"hardship": {"offer_plan"}, "complaint_risk": {"escalation"}}
    tp = fp = fn = 0
    wrong = []
    for channel, text, want in utterances:
        engine = HintEngine(case)
        event = TranscriptEvent(channel=channel, final=True, utterance=0, start=1.0, end=3.0, text=text, t=3.0)
        got = {e.code for e in engine.on_event(event) if e.type == "hint"}
        allowed = set(want).union(*(allowed_with.get(code, set()) for code in want))
        hits, extra, missed = got & set(want), got - allowed, set(want) - got
        tp, fp, fn = tp + len(hits), fp + len(extra), fn + len(missed)
        if extra or missed:
            wrong.append(f"{text} (missed {sorted(missed)}, extra {sorted(extra)})")
    return tp, fp, fn, wrong


def report(name: str, result: dict) -> None:
    print(f"\n== {name}")
    print(f"F1 {result['f1']:.3f}   precision {result['precision']:.3f}   recall {result['recall']:.3f}   "
          f"hint latency p50 {result['latency_p50']:.2f} s  p95 {result['latency_p95']:.2f} s"
          + (f"   CER {result['cer']:.3f}" if result.get("cer") is not None else ""))
    print("per code: " + ", ".join(f"{code} {c['tp']}/{c['tp'] + c['fn']} fp{c['fp']}"
                                   for code, c in sorted(result["per_code"].items())))
    print("misses:", ", ".join(result["misses"]) or "none")
    print("false positives:", ", ".join(result["false_positives"]) or "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench-hints"))
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--text-only", action="store_true")
    group.add_argument("--audio-only", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    for path, runner, wanted in (("text", text_path, not args.audio_only), ("audio", audio_path, not args.text_only)):
        if not wanted:
            continue
        target = out / path
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*.jsonl"):
            old.unlink()
        asyncio.run(runner(target))
        report(f"{path} path ({target})", score(target))
    paraphrases()


if __name__ == "__main__":
    main()
