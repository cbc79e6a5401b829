#!/usr/bin/env python3
"""A bad day on the floor, measured (prints numbers; minutes; the pass/fail parts are also tests).

Real ``ferryman serve`` processes, a real redis-server, real sockets. Calls go in through the
transcript socket (the reference turns of the dev calls: the hint engine, records and panels
work as on a live call; no decode load) unless a part says otherwise.

    load      500 subscriber sockets on one node during 10 live calls (400 agents' call sockets,
              100 walls): events delivered to each, missing and repeated; health probes failed;
              Redis connections; the node's RSS
    redis     Redis SIGKILLed mid-call and back after 5 s, then after 60 s: per call, turns
              stored once each, one start and one end; each follower socket's events against
              the stream; spill files left
    server    the node SIGKILLed mid-call (embedded Redis) and started again: is an orphan
              redis-server left; the call a gateway resumes, the call nobody resumes
    fuzz      1,000 fuzzed sessions on each of ingest, call and floor sockets: answered with a
              close code, 1011s, no close frame; RSS before and after

    .venv/bin/python benchmarks/faults.py                  # every part
    .venv/bin/python benchmarks/faults.py --parts load,fuzz --fuzz 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import redis as sync_redis
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]
from ferryman.cases.schema import load_case_file  # noqa: E402
from ferryman.client import follow_call, put_case, stream_audio, stream_transcript, subscribe  # noqa: E402
from ferryman.infra.redis import EmbeddedRedis  # noqa: E402
from support import ServeProcess  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "calls"
NAMES = [f"d0{i}" for i in range(1, 9)]
GATEWAY, SUPERVISORS = "f-gateway", [f"f-sup-{i}" for i in range(10)]


def tokens(calls: int) -> dict:
    grants = {GATEWAY: {"role": "gateway"}}
    grants.update({t: {"role": "supervisor", "name": f"组长{i}"} for i, t in enumerate(SUPERVISORS)})
    for c in range(calls):          # two tokens per agent: 40 sockets each under the per-token cap of 20
        grants.update({f"f-agent-{c}-{k}": {"role": "agent", "agent_id": f"fa{c}"} for k in range(2)})
    return grants


def node(redis_url: str | None, data: Path, calls: int = 10, **env) -> ServeProcess:
    settings = {"FERRYMAN_DATA_DIR": str(data), "FERRYMAN_TOKENS": json.dumps(tokens(calls)),
                "FERRYMAN_MAX_CALLS": "100", **{f"FERRYMAN_{k.upper()}": str(v) for k, v in env.items()}}
    if redis_url:
        settings["FERRYMAN_REDIS_URL"] = redis_url
    return ServeProcess(settings, log=data / "server.log").wait_ready()


async def upload_cases(server: ServeProcess) -> None:
    for name in NAMES:
        await put_case(server.ws, load_case_file(CORPUS / f"{name}.json"), GATEWAY)


def health_ok(server: ServeProcess) -> bool:
    try:
        return all(urllib.request.urlopen(f"{server.http}{p}", timeout=2).status == 200
                   for p in ("/api/health", "/healthz"))
    except OSError:
        return False


async def probe_health(server: ServeProcess, stop: asyncio.Event, failures: list[float]) -> None:
    while not stop.is_set():
        if not await asyncio.to_thread(health_ok, server):
            failures.append(time.time())
        await asyncio.sleep(0.5)


async def collect(url: str, token: str, ids: list[str], until_closed: bool = True,
                  stop: asyncio.Event | None = None) -> None:
    """Every event id a subscriber socket receives (the snapshot's id first for a wall)."""
    ws = await subscribe(url, token)
    try:
        while True:
            receive = asyncio.ensure_future(ws.recv())
            waits = {receive} | ({asyncio.ensure_future(stop.wait())} if stop else set())
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if receive not in done:
                return
            message = json.loads(receive.result())
            ids.append(message["id"] if message.get("type") != "snapshot" else f"snapshot:{message['id']}")
    except websockets.ConnectionClosed:
        return
    finally:
        await ws.close()


def stream_ids(client: sync_redis.Redis, key: str, after: str = "0-0") -> list[str]:
    out, start = [], "-" if after == "0-0" else f"({after}"
    while batch := client.xrange(key, min=start, count=5000):
        out += [entry_id for entry_id, _ in batch]
        start = f"({batch[-1][0]}"
    return out


def compare(got: list[str], expected: list[str]) -> tuple[int, int]:
    counts = Counter(got)
    return len(set(expected) - set(got)), sum(n - 1 for n in counts.values() if n > 1)


# -- load ------------------------------------------------------------------------------------
async def part_load(work: Path, n_calls: int = 10, per_call: int = 40, walls: int = 100, speed: float = 2.0) -> None:
    redis_server = EmbeddedRedis(work / "load-redis").start()
    server = node(redis_server.url, work / "load", n_calls)
    client = sync_redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await upload_cases(server)
        stop, failures, peak_clients = asyncio.Event(), [], 0
        prober = asyncio.create_task(probe_health(server, stop, failures))
        call_ids = [f"load-{i}-{int(time.time())}" for i in range(n_calls)]
        received: dict[str, list[list[str]]] = {c: [[] for _ in range(per_call)] for c in call_ids}
        wall_ids = [[] for _ in range(walls)]
        wall_stop = asyncio.Event()
        subscribers = [asyncio.create_task(collect(f"{server.ws}/ws/floor", SUPERVISORS[w % 10], wall_ids[w],
                                                   stop=wall_stop)) for w in range(walls)]
        await asyncio.sleep(3)
        calls = [asyncio.create_task(stream_transcript(server.ws, call_id, load_case_file(
            CORPUS / f"{NAMES[i % 8]}.json").case_id, CORPUS / f"{NAMES[i % 8]}.json", GATEWAY, speed,
            agent_id=f"fa{i}")) for i, call_id in enumerate(call_ids)]
        await asyncio.sleep(1.5)            # an agent may follow its call once it has started
        for c, call_id in enumerate(call_ids):
            subscribers += [asyncio.create_task(collect(f"{server.ws}/ws/calls/{call_id}?after=0-0",
                                                        f"f-agent-{c}-{k % 2}", received[call_id][k]))
                            for k in range(per_call)]
        while not all(t.done() for t in calls):
            peak_clients = max(peak_clients, int(client.info("clients")["connected_clients"]))
            await asyncio.sleep(1)
        await asyncio.gather(*calls)
        await asyncio.sleep(3)
        wall_stop.set()
        await asyncio.wait_for(asyncio.gather(*subscribers), 60)
        stop.set()
        await prober
        missing = repeated = delivered = 0
        for call_id in call_ids:
            expected = stream_ids(client, f"call:{call_id}:events")
            for got in received[call_id]:
                m, r = compare(got, expected)
                missing, repeated, delivered = missing + m, repeated + r, delivered + len(got)
        for got in wall_ids:
            snapshot = got[0].split(":", 1)[1] if got and got[0].startswith("snapshot:") else "0-0"
            m, r = compare(got[1:], stream_ids(client, "floor:events", snapshot))
            missing, repeated, delivered = missing + m, repeated + r, delivered + len(got) - 1
        print(f"load: {walls + n_calls * per_call} subscriber sockets ({n_calls} calls x {per_call} call sockets "
              f"+ {walls} walls), {delivered} events delivered, missing {missing}, repeated {repeated}; "
              f"health probes failed {len(failures)}; Redis clients peak {peak_clients}; "
              f"node RSS {server.rss_mb():.0f} MB", flush=True)
    finally:
        server.stop()
        redis_server.stop()


# -- redis faults ----------------------------------------------------------------------------
async def part_redis(work: Path, outage_s: float, name: str = "d01", n_calls: int = 3) -> None:
    redis_dir = work / f"redis-{outage_s:g}"
    redis_server = EmbeddedRedis(redis_dir).start()
    server = node(redis_server.url, work / f"redis-node-{outage_s:g}", n_calls, reconnect_grace_s=5)
    try:
        await upload_cases(server)
        call_ids = [f"outage{outage_s:g}-{i}-{int(time.time())}" for i in range(n_calls)]
        followed = {c: [] for c in call_ids}
        followers = [asyncio.create_task(follow_call(server.ws, c, lambda e, c=c: followed[c].append(e.id),
                                                     SUPERVISORS[0], retries=1000)) for c in call_ids]
        path = CORPUS / f"{name}.json"
        # a short outage passes mid-call; a long one outlasts the calls: they end while Redis is away,
        # their writers give up and spill, and the node replays the spills once Redis is back
        speed = 127 / (outage_s * 0.5 + 25)
        calls = [asyncio.create_task(stream_transcript(server.ws, c, load_case_file(path).case_id, path, GATEWAY,
                                                       speed, agent_id=f"fa{i}")) for i, c in enumerate(call_ids)]
        await asyncio.sleep(8)
        os.kill(redis_server._proc.pid, signal.SIGKILL)
        killed = time.time()
        await asyncio.sleep(outage_s)
        redis_server.stop()
        await asyncio.to_thread(redis_server.start)
        back = time.time() - killed
        await asyncio.gather(*calls)
        await asyncio.wait_for(asyncio.gather(*followers), 180)
        await asyncio.sleep(3)          # a heartbeat: spills replayed
        client = sync_redis.Redis.from_url(redis_server.url, decode_responses=True)
        turns = len(json.loads(path.read_text(encoding="utf-8"))["turns"])
        lines = []
        for c in call_ids:
            entries = client.xrange(f"call:{c}:events")
            events = [json.loads(fields["e"]) for _, fields in entries]
            finals = Counter((e["channel"], e["utterance"]) for e in events if e["type"] == "transcript")
            states = [e["state"] for e in events if e["type"] == "call"]
            missing, repeated = compare(followed[c], [entry_id for entry_id, _ in entries])
            lines.append(f"{c}: turns {sum(finals.values())}/{turns} (repeated {sum(n - 1 for n in finals.values())}), "
                         f"states {states}, follower missing {missing} repeated {repeated}")
        node_dir = work / f"redis-node-{outage_s:g}"
        spills = list((node_dir / "spill").glob("*.jsonl"))
        log = (node_dir / "server.log").read_text(errors="replace")
        spilled = sum(int(n) for n in re.findall(r"(\d+) events of call .* spilled", log))
        replayed = sum(int(n) for n in re.findall(r"replayed (\d+) spilled events", log))
        print(f"redis: SIGKILL, back after {back:.1f} s; events spilled while it was away {spilled}, replayed "
              f"{replayed}, spill files left {len(spills)}", flush=True)
        for line in lines:
            print(f"  {line}", flush=True)
    finally:
        server.stop()
        redis_server.stop()


# -- server killed ---------------------------------------------------------------------------
def redis_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "redis-server" and \
                    " Z " not in (proc / "stat").read_text():
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


async def part_server(work: Path) -> None:
    data = work / "killed"
    before = set(redis_pids())
    server = node(None, data, 2, reconnect_grace_s=15)
    port = server.port
    await upload_cases(server)
    stamp = int(time.time())
    resumed, abandoned = f"resumed-{stamp}", f"abandoned-{stamp}"
    d06 = CORPUS / "d06.json"
    gateway = asyncio.create_task(stream_audio(server.ws, resumed, load_case_file(d06).case_id,
                                               CORPUS / "d06.flac", GATEWAY, speed=1.0, reconnect_s=60))
    lost = asyncio.create_task(stream_transcript(server.ws, abandoned, load_case_file(d06).case_id, d06, GATEWAY,
                                                 speed=0.5))
    await asyncio.sleep(10)
    server.kill()
    await asyncio.sleep(1.0)
    orphans = set(redis_pids()) - before
    try:
        await lost                                  # its gateway does not come back
    except (OSError, websockets.ConnectionClosed, RuntimeError):
        pass
    settings = {k: v for k, v in server.env.items() if k.startswith("FERRYMAN_") and k != "FERRYMAN_PORT"}
    restarted = ServeProcess(settings, port, log=data / "server.log").wait_ready()
    try:
        await asyncio.wait_for(gateway, 120)
        await asyncio.sleep(20)                     # past the grace: the abandoned call is swept
        states, finals = {}, {}
        for call_id in (resumed, abandoned):
            events = []
            await asyncio.wait_for(follow_call(restarted.ws, call_id, events.append, SUPERVISORS[0]), 30)
            states[call_id] = [e.state for e in events if e.type == "call"]
            finals[call_id] = Counter((e.channel, e.utterance) for e in events if e.type == "transcript" and e.final)
        turns = len(json.loads(d06.read_text(encoding="utf-8"))["turns"])
        print(f"server: SIGKILL mid-call; orphan redis-server left {len(orphans)}; restarted on the same port and "
              f"data dir. The call whose gateway reconnected: states {states[resumed]}, "
              f"{sum(finals[resumed].values())} finals for {turns} reference turns, "
              f"{sum(n - 1 for n in finals[resumed].values())} repeated; the call nobody resumed: states "
              f"{states[abandoned]}", flush=True)
    finally:
        restarted.stop()


# -- fuzz ------------------------------------------------------------------------------------
def fuzz_value(rng: random.Random):
    return rng.choice([None, True, 0, -1, 2**70, 1.5e308, "", "x" * rng.randint(1, 5000), "\x00\r\n", "通话",
                       [], {}, [1, "a"], {"a": {"b": None}}, "tok-" + "a" * 40, "1-0", "*", "../../etc/passwd"])


def fuzz_messages(rng: random.Random, kind: str) -> list:
    base_start = {"type": "start", "token": GATEWAY, "case_id": load_case_file(CORPUS / "d06.json").case_id,
                  "agent_id": "fz", "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 2}
    out = []
    for _ in range(rng.randint(1, 6)):
        roll = rng.random()
        if roll < 0.2:
            out.append(bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 3, 320, 3201, 70000]))))
        elif roll < 0.35:
            out.append("".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 50))))
        elif roll < 0.6:
            out.append(json.dumps({rng.choice(["type", "token", "x", "after"]): fuzz_value(rng)
                                   for _ in range(rng.randint(0, 4))}))
        elif kind == "ingest":
            message = dict(base_start)
            for key in rng.sample(list(message), rng.randint(0, 3)):
                message[key] = fuzz_value(rng)
            out.append(json.dumps(message))
        else:
            token = rng.choice([SUPERVISORS[0], "f-agent-0-0", GATEWAY, fuzz_value(rng)])
            out.append(json.dumps({"type": rng.choice(["auth", "AUTH", "start"]), "token": token}))
    return out


def fuzz_path(rng: random.Random, kind: str) -> str:
    call_id = rng.choice(["fz-ok", "X:events", "a%2A", "a%00", "%0D%0Ax", "x" * 300, "fz-" + str(rng.random())])
    after = rng.choice(["", "?after=0-0", "?after=" + "9" * 23, "?after=abc", "?after=1-1"])
    paths = {"ingest": f"/ws/ingest/{call_id}", "call": f"/ws/calls/{call_id}{after}", "floor": f"/ws/floor{after}"}
    return paths[kind]


async def fuzz_session(server: ServeProcess, rng: random.Random, kind: str) -> str:
    """'code NNNN' the server closed with, or 'no close frame'."""
    try:
        async with websockets.connect(f"{server.ws}{fuzz_path(rng, kind)}", max_size=None, open_timeout=10) as ws:
            try:
                for message in fuzz_messages(rng, kind):
                    await ws.send(message)
                while True:
                    await asyncio.wait_for(ws.recv(), 3.0)
            except asyncio.TimeoutError:
                await ws.close()           # it is still talking to us: we leave, it must answer the close
            except websockets.ConnectionClosed:
                pass
            received = ws.protocol.close_rcvd
            return f"code {received.code}" if received else "no close frame"
    except websockets.InvalidStatus as exc:
        return f"http {exc.response.status_code}"
    except (OSError, asyncio.TimeoutError, websockets.InvalidURI, websockets.InvalidHandshake) as exc:
        return f"not connected: {type(exc).__name__}"


async def fuzz_round(server: ServeProcess, rng: random.Random, sessions: int, report: bool) -> None:
    for kind in ("ingest", "call", "floor"):
        results: Counter[str] = Counter()
        for batch in range(0, sessions, 50):
            outcomes = await asyncio.gather(*(fuzz_session(server, random.Random(rng.random()), kind)
                                              for _ in range(min(50, sessions - batch))))
            results.update(outcomes)
        answered = sum(n for r, n in results.items() if r.startswith(("code", "http")))
        if report:
            print(f"fuzz {kind}: {sessions} sessions, answered {answered}, 1011 {results.get('code 1011', 0)}, "
                  f"no close frame {results.get('no close frame', 0)}; {dict(results.most_common(8))}", flush=True)


async def part_fuzz(work: Path, sessions: int) -> None:
    """RSS is compared after a warm-up round (the first calls grow the decoders' and allocator's
    working set once, as in benchmarks/memory.py) and after a second, equal round: growth per
    session is what a leak would show."""
    redis_server = EmbeddedRedis(work / "fuzz-redis").start()
    server = node(redis_server.url, work / "fuzz", 1, start_timeout_s=2, ingest_idle_s=3)
    try:
        await upload_cases(server)
        await asyncio.sleep(2)
        cold = server.rss_mb()
        rng = random.Random(20261129)
        await fuzz_round(server, rng, sessions, report=True)
        await asyncio.sleep(10)            # grace periods run out, calls end, memory is returned
        warm = server.rss_mb()
        await fuzz_round(server, rng, sessions, report=False)
        await asyncio.sleep(10)
        after = server.rss_mb()
        print(f"fuzz: node RSS {cold:.0f} MB at start, {warm:.0f} MB after the first {3 * sessions} sessions, "
              f"{after:.0f} MB after {3 * sessions} more ({(after - warm) * 1024 / (3 * sessions):+.1f} kB per "
              f"session); health {'ok' if health_ok(server) else 'FAILED'}", flush=True)
    finally:
        server.stop()
        redis_server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="load,redis,server,fuzz")
    parser.add_argument("--fuzz", type=int, default=1000, help="sessions per socket kind")
    parser.add_argument("--outages", default="5,60", help="seconds Redis stays away")
    args = parser.parse_args()
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "load" in parts:
            asyncio.run(part_load(work))
        if "redis" in parts:
            for outage in args.outages.split(","):
                asyncio.run(part_redis(work, float(outage)))
        if "server" in parts:
            asyncio.run(part_server(work))
        if "fuzz" in parts:
            asyncio.run(part_fuzz(work, args.fuzz))


if __name__ == "__main__":
    main()
