"""Admission control, readiness, metrics and the floor's node registry, on two real nodes that
share one real Redis (each node takes one call)."""

import asyncio
import json

import httpx
import numpy as np
import pytest
import websockets

from ferryman.ingest.audio import encode_pcm16
from support import RunningServer, free_port, grants

pytestmark = pytest.mark.integration
START = {"type": "start", "token": "tok-gateway", "agent_id": "t1", "sample_rate": 16000, "encoding": "pcm_s16le",
         "channels": 2}


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory, asr_runtime, redis_server, corpus):
    from ferryman.settings import Settings
    from ferryman.web.app import create_app

    nodes = []
    for name in ("n1", "n2"):
        port = free_port()
        settings = Settings(data_dir=tmp_path_factory.mktemp(name), redis_url=redis_server.url, port=port, audiosocket_port=0,
                            max_calls=1, node_id=name, tokens=grants(), start_timeout_s=2.0)
        nodes.append(RunningServer(create_app(settings, asr=asr_runtime), port).__enter__())
    case = json.loads((corpus / "d04.json").read_text(encoding="utf-8"))["case"]
    httpx.put(f"{nodes[0].http}/api/cases/{case['case_id']}", json=case,
              headers=nodes[0].headers("gateway")).raise_for_status()
    yield nodes, case["case_id"]
    for node in nodes:
        node.__exit__(None, None, None)


async def _open(url: str, case_id: str):
    ws = await websockets.connect(url)
    await ws.send(json.dumps({**START, "case_id": case_id}))
    return ws, json.loads(await ws.recv())


def test_a_full_node_refuses_with_1013_and_names_the_node_with_room(two_nodes):
    (n1, n2), case_id = two_nodes

    async def scenario():
        first, started = await _open(f"{n1.ws}/ws/ingest/cap-a", case_id)
        assert started["type"] == "started"
        assert httpx.get(f"{n1.http}/readyz").status_code == 503          # full: the balancer skips it
        assert httpx.get(f"{n2.http}/readyz").json()["ready"] is True
        refused_ws, refused = await _open(f"{n1.ws}/ws/ingest/cap-b", case_id)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await refused_ws.recv()
        assert refused["type"] == "refused" and refused["nodes"] == [n2.ws]
        assert closed.value.rcvd.code == 1013 and n2.ws in closed.value.rcvd.reason
        second, started = await _open(f"{refused['nodes'][0]}/ws/ingest/cap-b", case_id)   # the other node takes it
        assert started["type"] == "started"
        for ws in (first, second):
            await ws.send(encode_pcm16(np.zeros(3200, np.float32)))
            await ws.send(json.dumps({"type": "stop"}))
            assert json.loads(await ws.recv())["type"] == "stopped"
            await ws.close()

    asyncio.run(scenario())
    assert httpx.get(f"{n1.http}/readyz").json() == {"ready": True, "node": "n1", "live_calls": 0, "capacity": 1,
                                                      "reasons": []}


def test_health_and_metrics_need_no_token(two_nodes):
    (n1, _), _ = two_nodes
    assert httpx.get(f"{n1.http}/healthz").json() == {"status": "ok"}
    text = httpx.get(f"{n1.http}/metrics").text
    for name in ("ferryman_live_calls", "ferryman_call_capacity 1.0", "ferryman_decode_queue_depth",
                 "ferryman_partials_shed_total", "ferryman_final_latency_seconds_bucket",
                 "ferryman_redis_errors_total", "ferryman_calls_refused_total"):
        assert name in text, name


def test_a_call_whose_node_is_gone_and_no_gateway_came_back_is_ended_as_dropped(two_nodes, redis_server):
    import time

    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.hset("call:orphan-1", mapping={"state": "started", "started_at": time.time() - 30, "node": "ghost",
                                          "case_id": "X", "agent_id": "a1"})
    client.sadd("calls:live", "orphan-1")
    deadline = time.monotonic() + 20                 # the grace (5 s) and a heartbeat or two
    while client.hget("call:orphan-1", "state") == "started" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.hget("call:orphan-1", "state") == "dropped"
    assert not client.sismember("calls:live", "orphan-1")
    ended = [json.loads(fields["e"]) for _, fields in client.xrange("call:orphan-1:events")]
    assert [e["state"] for e in ended] == ["dropped"] and "ghost" in ended[0]["detail"]   # once, by one node
