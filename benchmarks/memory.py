#!/usr/bin/env python3
"""Does a node give back what a call took? (prints numbers; a few minutes; never a test)

Starts a real server process (as ``benchmarks/capacity.py`` does) and streams 50 calls in a
row through its ingest socket — the first 20 s of each dev call in turn, at 4x real time, each
followed to its end event — printing the node's resident memory (server process; its Redis
apart, since Redis keeps the calls' event streams by design) after calls 1, 5, 10, 20, … 50, and
the growth per call fitted over calls 10–50 (after the allocator and caches have warmed up).

    .venv/bin/python benchmarks/memory.py [--calls 50] [--seconds 20] [--speed 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from capacity import CORPUS, GATEWAY, SUPERVISOR, Node, _upload_cases  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cut(name: str, seconds: float, target: Path) -> Path:
    """The first ``seconds`` of a dev call as a 16-bit stereo WAV."""
    from ferryman.ingest.sources import read_stereo

    agent, customer = read_stereo(CORPUS / f"{name}.flac")
    n = int(seconds * 16000)
    stereo = np.stack([agent[:n], customer[:n]], axis=1)
    path = target / f"{name}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(stereo, -1, 1) * 32767).astype("<i2").tobytes())
    return path


async def call(node: Node, call_id: str, case_id: str, audio: Path, speed: float) -> int:
    from ferryman.client import follow_call, stream_audio

    finals = []
    follower = asyncio.create_task(follow_call(node.ws, call_id, lambda e: finals.append(e) if e.type == "transcript"
                                               and e.final else None, SUPERVISOR))
    await stream_audio(node.ws, call_id, case_id, audio, GATEWAY, speed=speed)
    await asyncio.wait_for(follower, 60)
    return len(finals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per call, from each dev call's start")
    parser.add_argument("--speed", type=float, default=4.0)
    args = parser.parse_args()
    names = sorted(p.stem for p in CORPUS.glob("*.json"))
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as clips:
        audio = {name: cut(name, args.seconds, Path(clips)) for name in names}
        cases = {name: json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))["case"]["case_id"]
                 for name in names}
        node = Node(Path(data))
        try:
            asyncio.run(_upload_cases(node, names))
            start = rss_mb(node.proc.pid)
            print(f"node ready: {start:.0f} MB resident (model, rules, learned layer loaded)", flush=True)
            points = []
            for i in range(1, args.calls + 1):
                name = names[(i - 1) % len(names)]
                finals = asyncio.run(call(node, f"mem-{i}-{name}", cases[name], audio[name], args.speed))
                points.append((i, rss_mb(node.proc.pid)))
                if i in (1, 5) or i % 10 == 0:
                    print(f"after call {i:>3} ({name}, {finals} finals): {points[-1][1]:.0f} MB", flush=True)
            tail = [(i, mb) for i, mb in points if i >= 10]
            slope = np.polyfit([i for i, _ in tail], [mb for _, mb in tail], 1)[0] if len(tail) > 2 else float("nan")
            print(f"\nready {start:.0f} MB, after call 10 {points[min(9, len(points) - 1)][1]:.0f} MB, "
                  f"after call {args.calls} {points[-1][1]:.0f} MB; "
                  f"growth over calls 10-{args.calls}: {slope * 1024:.0f} kB per call")
        finally:
            node.stop()


if __name__ == "__main__":
    main()
