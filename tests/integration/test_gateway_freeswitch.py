"""FreeSWITCH mod_audio_fork into the real server: the module's handshake, metadata frame and L16
frames, through the real model, onto the panels' event socket."""

import asyncio
import json
import uuid

import httpx
import pytest
import websockets

from pbx import basic_auth, connect_fork, finals, followed, fork_call, fork_stream, register_call

pytestmark = pytest.mark.integration


def test_a_stereo_8k_fork_of_a_registered_call_reaches_the_panels(server, d06, d06_8k):
    """The end-to-end call: d06 as FreeSWITCH forks the customer's leg (left = its read side,
    the customer), 8 kHz L16 stereo; finals on the right channels, the call's hints."""
    call_id = str(uuid.uuid4())
    register_call(server, call_id, d06)
    events, _ = asyncio.run(followed(server, call_id, lambda: fork_call(
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
    register_call(server, call_id, d06)
    data, code = asyncio.run(send({"call_id": call_id, "mix": "stereo", "rate": "8k"}, b"\x00\x01\x02"))
    assert code == 4400 and "malformed audio frame" in data["reason"]
    data, code = asyncio.run(send({"call_id": str(uuid.uuid4()), "mix": "stereo", "rate": 44100}, b""))
    assert code == 4400 and "rate" in data["reason"]
    data, code = asyncio.run(send({"uuid": str(uuid.uuid4()), "mix": "mono", "rate": 8000}, b""))
    assert code == 4400 and "whose voice" in data["reason"]
    data, code = asyncio.run(send({"call_id": call_id}, b""))      # a 16 kHz mono fork read as 8k stereo? no
    assert code == 4400 and "mix and rate" in data["reason"]


def test_a_fork_that_drops_and_comes_back_continues_the_same_call(server, d06, d06_8k):
    call_id = str(uuid.uuid4())
    register_call(server, call_id, d06)
    metadata = {"call_id": call_id, "mix": "stereo", "rate": 8000}
    first, rest = d06_8k.part(0, 12), d06_8k.part(12)

    async def scenario():
        ws = await connect_fork(server.ws, server.token["gateway"])
        await ws.send(json.dumps(metadata))
        await fork_stream(ws, first, speed=3)
        ws.transport.abort()                   # the network goes: no close frame
        await asyncio.sleep(0.1)
        await fork_call(server.ws, server.token["gateway"], metadata, rest, speed=3)

    events, _ = asyncio.run(followed(server, call_id, scenario))
    assert [e.state for e in events if e.type == "call"] == ["started", "ended"]
    for channel in ("agent", "customer"):
        numbers = [e.utterance for e in events if e.type == "transcript" and e.final and e.channel == channel]
        assert numbers == sorted(set(numbers)) and numbers, (channel, numbers)
    assert "投诉" in finals(events, "customer")      # said in the second half


def test_a_newer_fork_takes_the_leg_over_from_a_half_open_one(server, d06, d06_8k):
    """The network broke without a close the server saw (half-open): FreeSWITCH's new fork
    must not wait for the old one to time out — it takes the channels, the call goes on."""
    call_id = str(uuid.uuid4())
    register_call(server, call_id, d06)
    metadata = {"call_id": call_id, "mix": "stereo", "rate": 8000}

    async def scenario():
        stale = await connect_fork(server.ws, server.token["gateway"])
        await stale.send(json.dumps(metadata))
        await fork_stream(stale, d06_8k.part(0, 12), speed=3)          # then silence: no close, no FIN
        fresh = asyncio.create_task(fork_call(server.ws, server.token["gateway"], metadata, d06_8k.part(12),
                                              speed=3))
        await asyncio.sleep(1.0)
        await stale.send(b"\x00\x00" * 320)                             # the old path wakes up: refused
        await asyncio.wait_for(stale.wait_closed(), 5)
        await fresh
        return stale.close_code

    events, stale_code = asyncio.run(followed(server, call_id, scenario))
    assert stale_code == 4409
    assert [e.state for e in events if e.type == "call"] == ["started", "ended"]
    assert "投诉" in finals(events, "customer")                          # said after the takeover


def test_a_fork_without_metadata_is_described_by_its_url(server, d06, d06_8k):
    """``uuid_audio_fork <uuid> start ws://…?call_id=…&mix=mono&rate=8k&channel=agent mono 8k``
    with no metadata argument: the module sends audio first."""
    call_id = str(uuid.uuid4())
    register_call(server, call_id, d06)

    async def scenario():
        query = f"?call_id={call_id}&mix=mono&rate=8k&channel=agent"
        async with await connect_fork(server.ws, server.token["gateway"], query=query) as ws:
            await fork_stream(ws, d06_8k.part(0, 8), mix="mono", left="agent")

    events, _ = asyncio.run(followed(server, call_id, scenario))
    assert events[0].case_id == d06 and finals(events, "agent") and not finals(events, "customer")


def test_a_mono_fork_of_a_registered_leg_finds_its_call_and_channel(server, d06, d06_8k):
    call_id, agent_leg = str(uuid.uuid4()), str(uuid.uuid4())
    register_call(server, call_id, d06, legs={"agent": agent_leg, "customer": str(uuid.uuid4())})
    short = d06_8k.part(0, 8)
    events, _ = asyncio.run(followed(server, call_id, lambda: fork_call(
        server.ws, server.token["gateway"], {"uuid": agent_leg, "mix": "mono", "rate": "8k"}, short, left="agent")))
    assert events[0].case_id == d06
    assert finals(events, "agent") and not finals(events, "customer")


def test_a_call_nobody_registered_is_transcribed_without_a_case(server, d06_8k):
    call_id = str(uuid.uuid4())
    short = d06_8k.part(0, 8)
    events, _ = asyncio.run(followed(server, call_id, lambda: fork_call(
        server.ws, server.token["gateway"], {"uuid": call_id, "mix": "mono", "rate": 8000, "channel": "agent"}, short,
        left="agent")))
    assert events[0].state == "started" and events[0].case_id is None
    assert finals(events, "agent")
    summary = httpx.get(f"{server.http}/api/calls/{call_id}", headers=server.headers()).json()
    assert summary["case_id"] is None and summary["customer"] is None
    brief = httpx.get(f"{server.http}/api/calls/{call_id}/case", headers=server.headers())
    assert brief.status_code == 404 and "no known case" in brief.json()["detail"]
