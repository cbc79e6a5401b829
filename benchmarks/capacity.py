#!/usr/bin/env python3
"""How many live calls one node carries (prints numbers; minutes; never a test).

Starts a real server process (``ferryman serve``, embedded Redis, the real model) and, for each
N, streams N dev calls at the same time at real time through its ingest socket while following
each call's event stream, as a gateway and a panel would.

N = 1 is every dev call alone, one after another (the "one call alone" reference); N = 2..8 take
the first N dev calls, beyond 8 the calls repeat. Per N it prints:

- final latency (per reference turn: ``t`` of its last final minus the turn's end) p50/p95/max;
- hint latency p95 and CER, scored by ``../shared/tools/score_calls.py``;
- partial decodes run and shed (from the node's ``/metrics``);
- CPU: cores' worth of CPU the node (server + its Redis) used while the calls ran.

    .venv/bin/python benchmarks/capacity.py                   # N = 1, 2, 4, 6, 8, then on while p95 <= 2 s
    .venv/bin/python benchmarks/capacity.py --n 1,4 --no-more
    .venv/bin/python benchmarks/capacity.py --compare 971a55c # and the same table for that commit's code

With ``--compare REV`` the same levels run first against a node built from REV (a git worktree,
the same virtualenv), so both tables come from one run on one box.

Settings come from FERRYMAN_* variables as everywhere (e.g. FERRYMAN_ASR_WORKERS=2); the node's
own call limit is lifted for the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]
from asr_streaming import CORPUS, final_latencies, pct  # noqa: E402  (same definitions as the ASR benchmark)

from support import ServeProcess  # noqa: E402

GATEWAY, SUPERVISOR = "bench-gateway", "bench-supervisor"
# The figures the issue was filed with (one server on 2 cores, before this change).
BEFORE = {1: (1.16, 2.15, None, 0.124), 2: (1.08, 1.62, None, None), 3: (1.19, 2.11, None, None),
          4: (1.22, 2.21, 2.82, 0.152)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children that are still alive (the embedded Redis)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(proc.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def scrape(http: str) -> dict[str, float]:
    try:
        text = urllib.request.urlopen(f"{http}/metrics", timeout=5).read().decode()
    except OSError:
        return {}          # a revision without /metrics
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(ferryman_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


class Node(ServeProcess):
    def __init__(self, data_dir: Path, source: Path | None = None):
        env = {"FERRYMAN_DATA_DIR": str(data_dir), "FERRYMAN_MAX_CALLS": "1000",
               "FERRYMAN_TOKENS": json.dumps({GATEWAY: {"role": "gateway"}, SUPERVISOR: {"role": "supervisor"}})}
        if source is not None:                      # another revision's code, this virtualenv
            env["PYTHONPATH"] = str(source / "server")
            env["FERRYMAN_MODEL_DIR"] = str(ROOT / "models" / "whisper-base")
        super().__init__(env)
        self.wait_ready()   # /api/health answers once the app has started (the model loads before)


async def one_call(node: Node, call_id: str, name: str, out: Path) -> None:
    from ferryman.cases.schema import load_case_file
    from ferryman.client import follow_call, stream_audio

    case = load_case_file(CORPUS / f"{name}.json")
    events: list[dict] = []
    follower = asyncio.create_task(follow_call(node.ws, call_id, lambda e: events.append(json.loads(e.to_json())),
                                               SUPERVISOR))
    await stream_audio(node.ws, call_id, case.case_id, CORPUS / f"{name}.flac", GATEWAY, speed=1.0)
    await asyncio.wait_for(follower, 120)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.jsonl").write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))


def score(events_dir: Path, names: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as corpus:
        for name in names:
            (Path(corpus) / f"{name}.json").symlink_to(CORPUS / f"{name}.json")
        out = subprocess.run([sys.executable, str(ROOT.parent / "shared" / "tools" / "score_calls.py"), "score",
                              corpus, str(events_dir)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


async def run_level(node: Node, n: int, names: list[str], out: Path) -> dict:
    """N calls at once (N = 1: every dev call alone, one after another — "one call alone")."""
    chosen = [names[i % len(names)] for i in range(n)]
    before_cpu, before = cpu_seconds(node.proc.pid), scrape(node.http)
    started = time.monotonic()
    stamp = int(time.time())
    if n == 1:
        for name in names:
            await one_call(node, f"cap1-{name}-{stamp}", name, out / "copy0")
    else:
        await asyncio.gather(*(one_call(node, f"cap{n}-{i}-{name}-{stamp}", name, out / f"copy{i // len(names)}")
                               for i, name in enumerate(chosen)))
    wall = time.monotonic() - started
    cpu = cpu_seconds(node.proc.pid) - before_cpu
    after = scrape(node.http)
    latencies, hint_p95, cers = [], [], []
    for copy_dir in sorted(out.iterdir()):
        present = sorted(p.stem for p in copy_dir.glob("*.jsonl"))
        scored = score(copy_dir, present)
        hint_p95.append(scored["latency_p95"])
        cers.append(scored["cer"])
        for name in present:
            call = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
            events = [json.loads(line) for line in (copy_dir / f"{name}.jsonl").read_text().splitlines()]
            latencies += final_latencies(call, events)[0]

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    return {"n": n, "p50": pct(latencies, .5), "p95": pct(latencies, .95), "max": max(latencies),
            "hint_p95": max(hint_p95), "cer": sum(cers) / len(cers),
            "partials": delta('ferryman_decodes_total{kind="partial"}'), "shed": delta("ferryman_partials_shed_total"),
            "finals": delta('ferryman_decodes_total{kind="final"}'), "cores": cpu / wall}


def measure(title: str, source: Path | None, levels: list[int], more: bool, names: list[str], out: Path) -> None:
    print(f"\n== {title}", flush=True)
    with tempfile.TemporaryDirectory() as data:
        node = Node(Path(data), source)
        try:
            asyncio.run(_upload_cases(node, names))
            print(f"{'N':>3} {'final p50':>10} {'p95':>6} {'max':>6} {'hint p95':>9} {'CER':>6} "
                  f"{'partials run/shed':>18} {'finals':>7} {'CPU cores':>9}   issue's figures: p50 / p95 / max / CER",
                  flush=True)
            results, i = [], 0
            while i < len(levels) or (more and results and results[-1]["p95"] <= 2.0):
                n = levels[i] if i < len(levels) else results[-1]["n"] + 2
                level_out = out / f"n{n}"
                subprocess.run(["rm", "-rf", str(level_out)], check=True)
                r = asyncio.run(run_level(node, n, names, level_out))
                results.append(r)
                before = BEFORE.get(n)
                shown = " / ".join("–" if v is None else f"{v:.2f}" if j < 3 else f"{v:.3f}"
                                   for j, v in enumerate(before)) if before else "–"
                print(f"{n:>3} {r['p50']:>10.2f} {r['p95']:>6.2f} {r['max']:>6.2f} {r['hint_p95']:>9.2f} "
                      f"{r['cer']:>6.3f} {int(r['partials']):>9}/{int(r['shed']):<8} {int(r['finals']):>7} "
                      f"{r['cores']:>9.2f}   {shown}", flush=True)
                i += 1
        finally:
            node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="1,2,4,6,8", help="numbers of concurrent calls to measure")
    parser.add_argument("--no-more", action="store_true", help="stop after --n (default: go on while p95 <= 2 s)")
    parser.add_argument("--compare", metavar="REV", help="first measure the same levels on this revision's code")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench-capacity"))
    args = parser.parse_args()
    names = sorted(p.stem for p in CORPUS.glob("*.json"))
    levels = [int(x) for x in args.n.split(",")]
    if args.compare:
        with tempfile.TemporaryDirectory() as tree:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", tree, args.compare], check=True,
                           capture_output=True)
            try:
                measure(f"before: {args.compare}", Path(tree), levels, False, names, Path(args.out) / "before")
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tree], check=False)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    measure(f"this tree (HEAD {head} + working changes)", None, levels, not args.no_more, names, Path(args.out) / "now")


async def _upload_cases(node: Node, names: list[str]) -> None:
    from ferryman.cases.schema import load_case_file
    from ferryman.client import put_case

    for name in names:
        await put_case(node.ws, load_case_file(CORPUS / f"{name}.json"), GATEWAY)


if __name__ == "__main__":
    main()
