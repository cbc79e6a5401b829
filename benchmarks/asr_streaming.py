#!/usr/bin/env python3
"""Streaming ASR benchmark on the dev corpus (prints numbers; never a test).

One run replays every call through the in-process pipeline (the code behind ``ferryman
replay``), one call at a time, and prints side by side:

- streaming CER, scored by ``../shared/tools/score_calls.py``, against the offline oracle-cut
  baseline (each reference turn cut out and decoded alone, beam 5, the README's prompt);
- final latency: per reference turn, ``t`` of its last final minus the turn's end;
- CPU seconds (all threads of this process) per second of call audio.

    .venv/bin/python benchmarks/asr_streaming.py [--speed 1] [--calls d01,d05] [--baseline]

Settings come from FERRYMAN_* variables like everywhere else (e.g. FERRYMAN_ASR_FINAL_BEAM=1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "calls"
SCORER = SHARED / "tools" / "score_calls.py"
PUBLISHED_BASELINE_CER = 0.174  # shared/README.md, whisper base int8, oracle cuts, beam 5


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def score(events_dir: Path, calls: list[str]) -> dict:
    """The shared scorer, over the calls of this run only (a subset scores as itself)."""
    with tempfile.TemporaryDirectory() as corpus:
        for call_id in calls:
            (Path(corpus) / f"{call_id}.json").symlink_to(CORPUS / f"{call_id}.json")
        out = subprocess.run([sys.executable, str(SCORER), "score", corpus, str(events_dir)],
                             check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def final_latencies(call: dict, events: list[dict]) -> tuple[list[float], int]:
    """Scorer's rule for which finals belong to a turn; latency = last such final's t - turn end."""
    finals = [e for e in events if e.get("type") == "transcript" and e.get("final")]
    latencies, missing = [], 0
    for turn in call["turns"]:
        channel = "agent" if turn["spk"] == "A" else "customer"
        ts = [e["t"] for e in finals if e["channel"] == channel
              and turn["start"] - 0.6 <= (e["start"] + e["end"]) / 2 <= turn["end"] + 0.6]
        if ts:
            latencies.append(max(ts) - turn["end"])
        else:
            missing += 1
    return latencies, missing


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


async def run_stream(calls: list[str], speed: float, out_dir: Path, settings) -> dict:
    from ferryman.asr import build_runtime
    from ferryman.cases.schema import load_case_file
    from ferryman.hints import prepare as prepare_hints
    from ferryman.replay import JsonlSink, replay_audio

    asr = build_runtime(settings)
    prepare_hints()               # as the server does at start: not on the first call's clock
    latencies, missing, cpu, audio_s, wall = [], 0, 0.0, 0.0, 0.0
    for call_id in calls:
        call = json.loads((CORPUS / f"{call_id}.json").read_text(encoding="utf-8"))
        sink = JsonlSink(out_dir / f"{call_id}.jsonl")
        c0, w0 = cpu_seconds(), time.monotonic()
        await replay_audio(CORPUS / f"{call_id}.flac", load_case_file(CORPUS / f"{call_id}.json"), sink, asr, speed)
        sink.close()
        cpu += cpu_seconds() - c0
        wall += time.monotonic() - w0
        audio_s += call["duration"]
        events = [json.loads(line) for line in (out_dir / f"{call_id}.jsonl").read_text().splitlines()]
        lat, miss = final_latencies(call, events)
        latencies += lat
        missing += miss
        print(f"  {call_id}: {call['duration']:.0f} s audio, p50 latency {pct(lat, .5):.2f} s, "
              f"wall {time.monotonic() - w0:.0f} s", flush=True)
    asr.scheduler.shutdown()
    return {"latencies": latencies, "missing": missing, "cpu": cpu, "audio_s": audio_s, "wall": wall}


def oracle_baseline(calls: list[str], settings) -> float:
    """The README's baseline: each reference turn decoded alone, 30 s window, beam 5."""
    from faster_whisper import WhisperModel

    sys.path.insert(0, str(SCORER.parent))
    import score_calls  # the scorer's own normalisation and edit distance

    from ferryman.ingest.sources import read_stereo
    from ferryman.zhtext import to_simplified

    model = WhisperModel(str(settings.model_dir), device=settings.asr_device,
                         compute_type=settings.asr_compute_type, cpu_threads=settings.asr_cpu_threads)
    errors = chars = 0
    for call_id in calls:
        call = json.loads((CORPUS / f"{call_id}.json").read_text(encoding="utf-8"))
        agent, customer = read_stereo(CORPUS / f"{call_id}.flac")
        for turn in call["turns"]:
            audio = (agent if turn["spk"] == "A" else customer)[int(turn["start"] * 16000):int(turn["end"] * 16000)]
            segments, _ = model.transcribe(audio, language="zh", beam_size=5, initial_prompt="以下是普通话的句子。",
                                           condition_on_previous_text=False, temperature=0.0)
            hyp = score_calls.normalize(to_simplified("".join(s.text for s in segments)))
            ref = score_calls.normalize(turn["text"])
            errors += score_calls.edit_distance(ref, hyp)
            chars += len(ref)
    return errors / chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=1.0, help="1 = real time (latency is only real at > 0)")
    parser.add_argument("--calls", default=",".join(sorted(p.stem for p in CORPUS.glob("*.json"))))
    parser.add_argument("--out", default=str(ROOT / "out" / "bench-asr"))
    parser.add_argument("--baseline", action="store_true", help="recompute the oracle-cut baseline (~2 min)")
    args = parser.parse_args()

    from ferryman.settings import Settings

    settings = Settings()
    calls = args.calls.split(",")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.jsonl"):
        old.unlink()
    print(f"streaming {len(calls)} calls at speed {args.speed:g} (final beam {settings.asr_final_beam}, "
          f"window margin {settings.asr_window_margin_s} s, endpoint {settings.endpoint_silence_s} s)", flush=True)
    run = asyncio.run(run_stream(calls, args.speed, out_dir, settings))
    scored = score(out_dir, calls)
    baseline = oracle_baseline(calls, settings) if args.baseline else PUBLISHED_BASELINE_CER
    lat = run["latencies"]
    print()
    print(f"{'metric':<34}{'streaming':>12}{'offline oracle-cut':>22}")
    print(f"{'CER (score_calls.py)':<34}{scored['cer']:>12.3f}{baseline:>22.3f}"
          f"{'' if args.baseline else '  (published)'}")
    print(f"{'final latency p50 (s)':<34}{pct(lat, .5):>12.2f}")
    print(f"{'final latency p95 (s)':<34}{pct(lat, .95):>12.2f}")
    print(f"{'final latency max (s)':<34}{max(lat):>12.2f}")
    print(f"{'turns without a final':<34}{run['missing']:>12d}")
    print(f"{'CPU s per audio s':<34}{run['cpu'] / run['audio_s']:>12.3f}")
    print(f"{'wall s per audio s':<34}{run['wall'] / run['audio_s']:>12.3f}")
    print(f"\nspeed {args.speed:g}, {len(calls)} calls, {run['audio_s']:.0f} s of audio; events in {out_dir}")


if __name__ == "__main__":
    main()
