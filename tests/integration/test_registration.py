"""The dialer registers a call before the phone rings; the audio then needs only the call id."""

import asyncio
import json
import time

import httpx
import pytest
import websockets

from ferryman.client import follow_call
from ferryman.ingest.protocol import CloseCode

pytestmark = pytest.mark.integration


def register(server, body: dict, role: str = "gateway") -> httpx.Response:
    return httpx.post(f"{server.http}/api/calls", json=body, headers=server.headers(role))


async def turns_without_a_case(server, call_id: str) -> tuple[dict, list]:
    """A transcript socket whose start names neither case nor agent, two turns, stop."""
    events = []
    follower = None
    async with websockets.connect(f"{server.ws}/ws/ingest/{call_id}") as ws:
        await ws.send(json.dumps({"type": "start", "token": server.token["gateway"], "source": "transcript"}))
        started = json.loads(await ws.recv())
        follower = asyncio.create_task(follow_call(server.ws, call_id, events.append, server.token["supervisor"]))
        for turn in ({"channel": "agent", "text": "您好，这里是银行信用卡中心。", "start": 0.0, "end": 2.0},
                     {"channel": "customer", "text": "我下个星期五发工资就还。", "start": 2.5, "end": 4.0}):
            await ws.send(json.dumps({"type": "turn", **turn}, ensure_ascii=False))
        await ws.send(json.dumps({"type": "stop"}))
        await ws.recv()
    await asyncio.wait_for(follower, 10)
    return started, events


def test_a_registered_call_takes_its_case_and_agent_from_the_registration(server, d06):
    call_id = f"uuid-{int(time.time() * 1000)}"
    made = register(server, {"call_id": call_id, "case_id": d06, "agent_id": "a1",
                             "legs": {"agent": f"{call_id}-a", "customer": f"{call_id}-c"}})
    assert made.status_code == 201, made.text
    started, events = asyncio.run(turns_without_a_case(server, call_id))
    assert started["type"] == "started"
    first = events[0]
    assert (first.type, first.state, first.case_id, first.agent_id) == ("call", "started", d06, "a1")
    assert [e.text for e in events if e.type == "transcript"] == ["您好，这里是银行信用卡中心。", "我下个星期五发工资就还。"]
    listed = httpx.get(f"{server.http}/api/calls/{call_id}", headers=server.headers("agent"))
    assert listed.status_code == 200                          # agent a1's call: the registration named it


def test_registrations_refused_with_reasons(server, d06):
    call_id = f"dup-{int(time.time() * 1000)}"
    body = {"call_id": call_id, "case_id": d06, "agent_id": "a1"}
    assert register(server, body).status_code == 201
    again = register(server, body)
    assert again.status_code == 409 and "already registered" in again.json()["detail"]
    unknown = register(server, {**body, "call_id": call_id + "-2", "case_id": "NO-SUCH-CASE"})
    assert unknown.status_code == 404
    assert register(server, {**body, "call_id": call_id + "-3"}, role="agent").status_code == 403
    bad = register(server, {**body, "call_id": "X:events"})
    assert bad.status_code == 422
    same_legs = register(server, {**body, "call_id": call_id + "-4", "legs": {"agent": "L1", "customer": "L1"}})
    assert same_legs.status_code == 422


def test_a_late_registration_is_refused_and_audio_without_one_says_so(server, d06):
    call_id = f"late-{int(time.time() * 1000)}"
    started, _ = asyncio.run(turns_with_case(server, call_id, d06))
    late = register(server, {"call_id": call_id, "case_id": d06, "agent_id": "a1"})
    assert late.status_code == 409 and "already started" in late.json()["detail"]

    async def unregistered():
        async with websockets.connect(f"{server.ws}/ws/ingest/never-registered-{call_id}") as ws:
            await ws.send(json.dumps({"type": "start", "token": server.token["gateway"], "source": "transcript"}))
            try:
                await asyncio.wait_for(ws.recv(), 15)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code, closed.rcvd.reason

    code, reason = asyncio.run(unregistered())
    assert code == CloseCode.CASE_NOT_FOUND and "not registered" in reason


async def turns_with_case(server, call_id: str, case_id: str):
    async with websockets.connect(f"{server.ws}/ws/ingest/{call_id}") as ws:
        await ws.send(json.dumps({"type": "start", "token": server.token["gateway"], "source": "transcript",
                                  "case_id": case_id, "agent_id": "a1"}))
        started = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "stop"}))
        await ws.recv()
    return started, None


def test_a_refused_registration_leaves_none_of_its_legs_behind(server, d06):
    stamp = int(time.time() * 1000)
    taken = f"taken-leg-{stamp}"
    assert register(server, {"call_id": f"first-{stamp}", "case_id": d06, "agent_id": "a1",
                             "legs": {"customer": taken}}).status_code == 201
    free = "8F14E45F-CEEA-467A-9575-6FE2A8C4AB1C"          # a UUID in capitals: kept as PBXs print it, lower
    clash = register(server, {"call_id": f"second-{stamp}", "case_id": d06, "agent_id": "a1",
                              "legs": {"agent": free, "customer": taken}})
    assert clash.status_code == 409 and taken in clash.json()["detail"]
    again = register(server, {"call_id": f"third-{stamp}", "case_id": d06, "agent_id": "a1",
                              "legs": {"agent": free.lower()}})
    assert again.status_code == 201, again.text          # the refused call did not keep the free leg
    assert again.json()["legs"] == {"agent": free.lower()}
