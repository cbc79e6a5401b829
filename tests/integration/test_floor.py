"""A floor of two real node processes on one real Redis behind the real HAProxy, configured with
the file shipped in docker/haproxy.cfg. Calls go in through the balancer; panels watch on either
node; a node is SIGKILLed mid-call and the call finishes on the other."""

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis

from ferryman.client import follow_call, stream_audio
from support import TEST_TOKENS, ServeProcess, free_port, grants

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def _wait(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered 200")


class Node(ServeProcess):
    def __init__(self, name: str, redis_url: str, data: Path):
        self.name = name
        port = free_port()
        super().__init__({"FERRYMAN_REDIS_URL": redis_url, "FERRYMAN_DATA_DIR": str(data / name),
                          "FERRYMAN_NODE_ID": name, "FERRYMAN_PUBLIC_URL": f"ws://127.0.0.1:{port}",
                          "FERRYMAN_MAX_CALLS": "1", "FERRYMAN_RECONNECT_GRACE_S": "15",
                          "FERRYMAN_TOKENS": json.dumps(grants())}, port)


@pytest.fixture(scope="module")
def floor(tmp_path_factory, redis_server, corpus):
    if not os.path.exists(HAPROXY):
        pytest.fail("haproxy is not installed (./run.sh test installs Debian's haproxy)")
    data = tmp_path_factory.mktemp("floor")
    nodes = [Node(name, redis_server.url, data) for name in ("fl1", "fl2")]
    lb_port = free_port()
    env = {**os.environ, "FERRYMAN_LB_BIND": f"127.0.0.1:{lb_port}",
           "FERRYMAN_NODE1": f"127.0.0.1:{nodes[0].port}", "FERRYMAN_NODE2": f"127.0.0.1:{nodes[1].port}"}
    lb = subprocess.Popen([HAPROXY, "-db", "-f", str(ROOT / "docker" / "haproxy.cfg")], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for node in nodes:
            _wait(f"{node.http}/readyz")
        balancer = f"ws://127.0.0.1:{lb_port}"
        _wait(f"http://127.0.0.1:{lb_port}/healthz")
        time.sleep(2.5)                                    # the balancer's checks see both nodes up
        cases = {}
        for name in ("d04", "d06"):
            case = json.loads((corpus / f"{name}.json").read_text(encoding="utf-8"))["case"]
            httpx.put(f"http://127.0.0.1:{lb_port}/api/cases/{case['case_id']}", json=case,
                      headers={"Authorization": f"Bearer {TEST_TOKENS['gateway']}"}).raise_for_status()
            cases[name] = case["case_id"]
        yield nodes, balancer, cases, redis.Redis.from_url(redis_server.url, decode_responses=True)
    finally:
        lb.terminate()
        for node in nodes:
            if node.proc.poll() is None:
                node.proc.terminate()
                node.proc.wait(30)


def test_full_node_refuses_and_the_balancer_sends_calls_where_there_is_room(floor, corpus):
    nodes, balancer, cases, _ = floor

    async def scenario():
        first = asyncio.create_task(stream_audio(balancer, "floor-cap-1", cases["d06"], corpus / "d06.flac",
                                                 TEST_TOKENS["gateway"], speed=4.0))
        await asyncio.sleep(3.0)                          # in: one node is full and out of the rotation
        busy = [n for n in nodes if httpx.get(f"{n.http}/readyz").status_code == 503]
        assert len(busy) == 1
        free = next(n for n in nodes if n is not busy[0])
        import websockets

        async with websockets.connect(f"{busy[0].ws}/ws/ingest/floor-cap-x") as ws:   # straight to the full node
            await ws.send(json.dumps({"type": "start", "token": TEST_TOKENS["gateway"], "case_id": cases["d06"],
                                      "agent_id": "t", "sample_rate": 16000, "channels": 2}))
            refused = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd.code == 1013 and refused["nodes"] == [free.ws]
        second = await stream_audio(balancer, "floor-cap-2", cases["d06"], corpus / "d06.flac",
                                    TEST_TOKENS["gateway"], speed=4.0)      # the balancer picks the free one
        assert second["type"] == "stopped"
        assert (await first)["type"] == "stopped"

    asyncio.run(scenario())


def test_a_node_killed_mid_call_the_call_finishes_on_the_other_exactly_once(floor, corpus):
    nodes, balancer, cases, client = floor
    call_id = "floor-kill-d04"
    seen = []

    async def scenario():
        streaming = asyncio.create_task(stream_audio(balancer, call_id, cases["d04"], corpus / "d04.flac",
                                                     TEST_TOKENS["gateway"], speed=2.0, agent_id="a1",
                                                     reconnect_s=20))
        while not client.hget(f"call:{call_id}", "node"):
            await asyncio.sleep(0.1)
        carrier = next(n for n in nodes if n.name == client.hget(f"call:{call_id}", "node"))
        other = next(n for n in nodes if n is not carrier)
        panel = asyncio.create_task(follow_call(other.ws, call_id, seen.append, TEST_TOKENS["agent"]))
        while sum(1 for e in seen if e.type == "transcript" and e.final) < 3:      # mid-call
            await asyncio.sleep(0.1)
        carrier.kill()
        stopped = await asyncio.wait_for(streaming, 120)
        await asyncio.wait_for(panel, 60)
        return stopped, other

    stopped, survivor = asyncio.run(scenario())
    assert stopped["type"] == "stopped"
    assert client.hget(f"call:{call_id}", "node") == survivor.name
    stored = [entry_id for entry_id, _ in client.xrange(f"call:{call_id}:events")]
    assert [e.id for e in seen] == stored                          # every event, once, in order
    calls = [e.state for e in seen if e.type == "call"]
    assert calls == ["started", "ended"]
    for channel in ("agent", "customer"):
        numbers = [e.utterance for e in seen if e.type == "transcript" and e.final and e.channel == channel]
        assert numbers == sorted(set(numbers)), numbers            # numbering goes on, nothing twice
    assert sum(1 for e in seen if e.type == "transcript" and e.final) >= 7          # d04 has 9 turns
    assert any(e.type == "hint" and e.code == "promise_to_pay" for e in seen)      # said after the kill
