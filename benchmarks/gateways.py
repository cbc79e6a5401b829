#!/usr/bin/env python3
"""What the telephone codecs cost: the dev corpus through each PBX gateway, beside our native
16 kHz socket (prints numbers; never a test).

One ``ferryman serve`` process (real model, embedded Redis). For each corpus call, every path
streams its own copy of the call at the same time, at real time, each converted to what that
system sends, and a panel socket per copy records the events:

    native       our ingest socket, L16 16 kHz stereo
    freeswitch   mod_audio_fork, L16 8 kHz stereo (left = the customer's leg read side)
    asterisk     AudioSocket, slin 8 kHz (0x10), one TCP connection per leg
    twilio       Media Streams, mu-law 8 kHz, inbound + outbound tracks
    genesys      AudioHook, PCMU 8 kHz, 2 channels interleaved (external, internal)

Each path's events are scored by ``../shared/tools/score_calls.py`` (CER, hint precision /
recall / F1 against the labels). All paths run side by side on the same node, so they share
its load equally (five calls at once on 2 cores: the latencies are those of a busy node).

    .venv/bin/python benchmarks/gateways.py [--calls d01,d06] [--paths native,twilio] [--speed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]
from asr_streaming import score  # noqa: E402  (the shared scorer over this run's calls; same folder)

from ferryman.cases.schema import load_case_file  # noqa: E402
from ferryman.client import follow_call, put_case, stream_audio  # noqa: E402
from pbx import CallAudio, fork_call  # noqa: E402
from support import ServeProcess, free_port  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "calls"
NAMES = [f"d0{i}" for i in range(1, 9)]
GATEWAY, SUPERVISOR = "g-gateway", "g-supervisor"
CODEC = {"native": "L16 16 kHz", "freeswitch": "L16 8 kHz", "asterisk": "slin 8 kHz", "twilio": "mu-law 8 kHz",
         "genesys": "PCMU 8 kHz"}


class Node:
    def __init__(self, data: Path):
        self.audiosocket_port = free_port()
        env = {"FERRYMAN_DATA_DIR": str(data), "FERRYMAN_MAX_CALLS": "20",
               "FERRYMAN_AUDIOSOCKET_PORT": str(self.audiosocket_port),
               "FERRYMAN_TOKENS": json.dumps({GATEWAY: {"role": "gateway"}, SUPERVISOR: {"role": "supervisor"}})}
        self.server = ServeProcess(env, log=data / "server.log").wait_ready()
        self.ws, self.http = self.server.ws, self.server.http

    def register(self, call_id: str, case_id: str, legs: dict | None = None) -> None:
        body = {"call_id": call_id, "case_id": case_id, "agent_id": "bench", **({"legs": legs} if legs else {})}
        httpx.post(f"{self.http}/api/calls", json=body, headers={"Authorization": f"Bearer {GATEWAY}"},
                   timeout=10).raise_for_status()


# -- one sender per path: (node, call id, corpus name, speed) -> the call streamed to its end --
async def native(node: Node, call_id: str, name: str, speed: float) -> None:
    case = load_case_file(CORPUS / f"{name}.json")
    await stream_audio(node.ws, call_id, case.case_id, CORPUS / f"{name}.flac", GATEWAY, speed=speed,
                       agent_id="bench")


async def freeswitch(node: Node, call_id: str, name: str, speed: float) -> None:
    node.register(call_id, load_case_file(CORPUS / f"{name}.json").case_id)
    await fork_call(node.ws, GATEWAY, {"call_id": call_id, "uuid": call_id, "mix": "stereo", "rate": "8k"},
                    CallAudio.of(CORPUS / f"{name}.flac", 8000), speed=speed, left="customer")


async def asterisk(node: Node, call_id: str, name: str, speed: float) -> None:
    from pbx_audiosocket import leg_call

    legs = {"agent": str(uuid.uuid4()), "customer": str(uuid.uuid4())}
    node.register(call_id, load_case_file(CORPUS / f"{name}.json").case_id, legs)
    audio = CallAudio.of(CORPUS / f"{name}.flac", 8000)
    await asyncio.gather(leg_call(node.audiosocket_port, legs["agent"], audio.agent, 8000, speed),
                         leg_call(node.audiosocket_port, legs["customer"], audio.customer, 8000, speed))


async def twilio(node: Node, call_id: str, name: str, speed: float) -> None:
    from pbx_twilio import twilio_call

    case_id = load_case_file(CORPUS / f"{name}.json").case_id
    await twilio_call(node.ws, call_id, CallAudio.of(CORPUS / f"{name}.flac", 8000),
                      {"case_id": case_id, "agent_id": "bench", "token": GATEWAY}, speed=speed)


async def genesys(node: Node, call_id: str, name: str, speed: float) -> None:
    from pbx_genesys import audiohook_call

    node.register(call_id, load_case_file(CORPUS / f"{name}.json").case_id)
    await audiohook_call(node.ws, GATEWAY, call_id, CallAudio.of(CORPUS / f"{name}.flac", 8000), speed=speed)


PATHS = {"native": native, "freeswitch": freeswitch, "asterisk": asterisk, "twilio": twilio, "genesys": genesys}


def call_id_for(path: str, name: str) -> str:
    """Each system's own kind of id (Twilio's callSid shape; UUIDs elsewhere)."""
    if path == "twilio":
        return "CA" + uuid.uuid4().hex
    return str(uuid.uuid4()) if path != "native" else f"bench-{name}-{uuid.uuid4().hex[:6]}"


async def one_path(node: Node, path: str, name: str, speed: float, out: Path) -> None:
    call_id, events = call_id_for(path, name), []
    follower = asyncio.create_task(follow_call(node.ws, call_id, events.append, SUPERVISOR))
    await PATHS[path](node, call_id, name, speed)
    await asyncio.wait_for(follower, 120)
    lines = [json.dumps(e.model_dump(mode="json", exclude_none=True), ensure_ascii=False) for e in events]
    (out / path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


async def run(node: Node, names: list[str], paths: list[str], speed: float, out: Path) -> None:
    for name in names:
        await put_case(node.ws, load_case_file(CORPUS / f"{name}.json"), GATEWAY)
    for name in names:
        print(f"  {name}: {', '.join(paths)} side by side", flush=True)
        await asyncio.gather(*(one_path(node, path, name, speed, out) for path in paths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default=",".join(NAMES))
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--speed", type=float, default=1.0,
                        help="1 = real time (hint timing is wall time; the Twilio gateway drops media stamped "
                             "more than 10 s ahead of the stream's wall clock, so keep it at 1 with twilio)")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench-gateways")
    args = parser.parse_args()
    names, paths = args.calls.split(","), args.paths.split(",")
    for path in paths:
        (args.out / path).mkdir(parents=True, exist_ok=True)
        for old in (args.out / path).glob("*.jsonl"):
            old.unlink()
    with tempfile.TemporaryDirectory() as data:
        node = Node(Path(data))
        try:
            asyncio.run(run(node, names, paths, args.speed, args.out))
        finally:
            node.server.stop()
    print(f"\n{len(names)} calls, speed {args.speed:g}, paths side by side on one node; events in {args.out}\n")
    print("| path | codec | CER | hint precision | hint recall | hint F1 | hint latency p50 / p95 |\n"
          "|---|---|---|---|---|---|---|")
    for path in paths:
        s = score(args.out / path, names)
        print(f"| {path} | {CODEC[path]} | {s['cer']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} | "
              f"{s['f1']:.3f} | {s['latency_p50']:.2f} / {s['latency_p95']:.2f} s |", flush=True)
        if s["misses"] or s["false_positives"]:
            print(f"    missed {s['misses']}; false {s['false_positives']}")


if __name__ == "__main__":
    main()
