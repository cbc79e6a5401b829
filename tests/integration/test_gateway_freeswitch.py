"""FreeSWITCH mod_audio_fork into the real server: the module's handshake, metadata frame and L16
frames, through the real model, onto the panels' event socket."""

import asyncio
import json
import uuid

import httpx
import pytest
import websockets

from ferryman.client import follow_call
from pbx import CallAudio, basic_auth, connect_fork, fork_call, fork_stream

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def d06(server, corpus):
    case = json.loads((corpus / "d06.json").read_text(encoding="utf-8"))["case"]
    httpx.put(f"{server.http}/api/cases/{case['case_id']}", json=case,
              headers=server.headers("gateway")).raise_for_status()
    return case["case_id"]


@pytest.fixture(scope="module")
def d06_8k(corpus):
    return CallAudio.of(corpus / "d06.flac", rate=8000)


def register(server, call_id: str, case_id: str, legs: dict | None = None) -> None:
    body = {"call_id": call_id, "case_id": case_id, "agent_id": "a1", **({"legs": legs} if legs else {})}
    httpx.post(f"{server.http}/api/calls", json=body, headers=server.headers("gateway")).raise_for_status()


async def followed(server, call_id: str, scenario) -> list:
    events = []
    follower = asyncio.create_task(follow_call(server.ws, call_id, events.append, server.token["supervisor"]))
    await scenario()
    await asyncio.wait_for(follower, 60)
    return events


def finals(events, channel: str) -> str:
    return "".join(e.text for e in events if e.type == "transcript" and e.final and e.channel == channel)


def test_a_stereo_8k_fork_of_a_registered_call_reaches_the_panels(server, d06, d06_8k):
    """The end-to-end call: d06 as FreeSWITCH forks the customer's leg (left = its read side,
    the customer), 8 kHz L16 stereo; finals on the right channels, the call's hints."""
    call_id = str(uuid.uuid4())
    register(server, call_id, d06)
    events = asyncio.run(followed(server, call_id, lambda: fork_call(
        server.ws, server.token["gateway"], {"call_id": call_id, "uuid": call_id, "rate": "8k", "mix": "stereo"},
        d06_8k, speed=3, left="customer")))
    assert (events[0].state, events[0].case_id, events[0].agent_id) == ("started", d06, "a1")
    assert "信用卡" in finals(events, "agent") and "投诉" in finals(events, "customer")
    codes = {e.code for e in events if e.type == "hint"}
    assert {"agent_compliance", "complaint_risk"} <= codes, codes
    assert events[-1].type == "call" and events[-1].state == "ended"      # the module's close = hang-up


def test_wrong_credentials_are_refused_on_the_upgrade(server):
    async def attempt(**kwargs):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{server.ws}/ws/gateways/freeswitch", subprotocols=["audio.drachtio.org"],
                                     **kwargs)
        return refused.value.response.status_code

    assert asyncio.run(attempt()) == 401
    assert asyncio.run(attempt(additional_headers=basic_auth("fs", "wrong"))) == 401
    assert asyncio.run(attempt(additional_headers=basic_auth("fs", server.token["agent"]))) == 403


def test_the_token_may_come_in_the_url_and_the_subprotocol_is_answered(server):
    async def scenario():
        async with await connect_fork(server.ws, query=f"?token={server.token['gateway']}") as ws:
            assert ws.subprotocol == "audio.drachtio.org"
            await ws.send("not json")
            error = json.loads(await ws.recv())
            await asyncio.wait_for(ws.wait_closed(), 5)
            return error, ws.close_code

    error, code = asyncio.run(scenario())
    assert error["type"] == "error" and error["data"]["code"] == 4400 and "JSON" in error["data"]["reason"]
    assert code == 4400


def test_malformed_frames_and_metadata_are_answered_with_the_modules_error(server, d06):
    async def send(metadata, frame: bytes):
        async with await connect_fork(server.ws, server.token["gateway"]) as ws:
            await ws.send(json.dumps(metadata))
            await ws.send(frame)
            error = json.loads(await ws.recv())
            await asyncio.wait_for(ws.wait_closed(), 5)
            return error["data"], ws.close_code

    call_id = str(uuid.uuid4())
    register(server, call_id, d06)
    data, code = asyncio.run(send({"call_id": call_id, "mix": "stereo"}, b"\x00\x01\x02"))
    assert code == 4400 and "malformed audio frame" in data["reason"]
    data, code = asyncio.run(send({"call_id": str(uuid.uuid4()), "mix": "stereo", "rate": 44100}, b""))
    assert code == 4400 and "rate" in data["reason"]
    data, code = asyncio.run(send({"uuid": str(uuid.uuid4()), "mix": "mono"}, b""))
    assert code == 4400 and "whose voice" in data["reason"]


def test_a_fork_that_drops_and_comes_back_continues_the_same_call(server, d06, d06_8k):
    call_id = str(uuid.uuid4())
    register(server, call_id, d06)
    metadata = {"call_id": call_id, "mix": "stereo", "rate": 8000}
    first = CallAudio(d06_8k.agent[:8000 * 12], d06_8k.customer[:8000 * 12], 8000)
    rest = CallAudio(d06_8k.agent[8000 * 12:], d06_8k.customer[8000 * 12:], 8000)

    async def scenario():
        ws = await connect_fork(server.ws, server.token["gateway"])
        await ws.send(json.dumps(metadata))
        await fork_stream(ws, first, speed=3)
        ws.transport.abort()                   # the network goes: no close frame
        await asyncio.sleep(0.1)
        await fork_call(server.ws, server.token["gateway"], metadata, rest, speed=3)

    events = asyncio.run(followed(server, call_id, scenario))
    assert [e.state for e in events if e.type == "call"] == ["started", "ended"]
    for channel in ("agent", "customer"):
        numbers = [e.utterance for e in events if e.type == "transcript" and e.final and e.channel == channel]
        assert numbers == sorted(set(numbers)) and numbers, (channel, numbers)
    assert "投诉" in finals(events, "customer")      # said in the second half


def test_a_mono_fork_of_a_registered_leg_finds_its_call_and_channel(server, d06, d06_8k):
    call_id, agent_leg = str(uuid.uuid4()), str(uuid.uuid4())
    register(server, call_id, d06, legs={"agent": agent_leg, "customer": str(uuid.uuid4())})
    short = CallAudio(d06_8k.agent[:8000 * 8], d06_8k.customer[:8000 * 8], 8000)
    events = asyncio.run(followed(server, call_id, lambda: fork_call(
        server.ws, server.token["gateway"], {"uuid": agent_leg, "mix": "mono", "rate": "8k"}, short, left="agent")))
    assert events[0].case_id == d06
    assert finals(events, "agent") and not finals(events, "customer")


def test_a_call_nobody_registered_is_transcribed_without_a_case(server, d06_8k):
    call_id = str(uuid.uuid4())
    short = CallAudio(d06_8k.agent[:8000 * 8], d06_8k.customer[:8000 * 8], 8000)
    events = asyncio.run(followed(server, call_id, lambda: fork_call(
        server.ws, server.token["gateway"], {"uuid": call_id, "mix": "mono", "channel": "agent"}, short,
        left="agent")))
    assert events[0].state == "started" and events[0].case_id is None
    assert finals(events, "agent")
    summary = httpx.get(f"{server.http}/api/calls/{call_id}", headers=server.headers()).json()
    assert summary["case_id"] is None and summary["customer"] is None
    brief = httpx.get(f"{server.http}/api/calls/{call_id}/case", headers=server.headers())
    assert brief.status_code == 404 and "no known case" in brief.json()["detail"]
