"""Twilio Media Streams into the real server: Twilio's signed upgrade, its JSON events and
base64 8 kHz μ-law media (reordered and lost on the way), through the real model, onto the
panels' event socket."""

import asyncio
import json
import time
import uuid

import pytest
import websockets
from pydantic import SecretStr

from ferryman.gateways import twilio
from pbx import finals, followed, register_call
from pbx_twilio import PATH, TwilioStream, connect, sid, sign, twilio_call

pytestmark = pytest.mark.integration

AUTH_TOKEN = "twilio-auth-token-for-tests"


@pytest.fixture
def signed(server):
    """The server with FERRYMAN_TWILIO_AUTH_TOKEN set (read on each upgrade), for one test."""
    settings = server.app.state.services.settings
    settings.twilio_auth_token = SecretStr(AUTH_TOKEN)
    try:
        yield f"wss://127.0.0.1:{server.port}{PATH}"        # the URL a TwiML would name, as Host gives it
    finally:
        settings.twilio_auth_token = None


@pytest.fixture
def faster_than_life(monkeypatch):
    """The emulator plays at 3x real time, which Twilio never does: let its timestamps run that
    far ahead of the stream's age (the server runs in this process)."""
    monkeypatch.setattr(twilio, "MAX_AHEAD_MS", 3_600_000)


async def closed_with(ws) -> tuple[int, str]:
    await asyncio.wait_for(ws.wait_closed(), 10)
    return ws.close_code, ws.close_reason


def test_a_registered_call_with_both_tracks_reaches_the_panels(server, d06, d06_8k, faster_than_life):
    """The end-to-end call: d06 as <Start><Stream track="both_tracks"> on the customer's leg
    sends it (inbound = the customer, outbound = the agent), 3 % of chunks late or lost."""
    call_sid = sid("CA")
    register_call(server, call_sid, d06)
    closes = []

    async def scenario():
        closes.append(await twilio_call(server.ws, call_sid, d06_8k, {"token": server.token["gateway"]},
                                        speed=3, jitter=0.03))

    events, _ = asyncio.run(followed(server, call_sid, scenario))
    assert (events[0].state, events[0].case_id, events[0].agent_id) == ("started", d06, "a1")
    assert "信用卡" in finals(events, "agent") and "投诉" in finals(events, "customer")
    codes = {e.code for e in events if e.type == "hint"}
    assert {"agent_compliance", "complaint_risk"} <= codes, codes
    assert events[-1].type == "call" and events[-1].state == "ended"      # stop = the hang-up
    assert closes == [1000]


def test_a_stream_on_a_registered_leg_lands_on_that_legs_channel(server, d06, d06_8k):
    """A <Stream track="inbound_track"> on the agent's own leg (a child call the dialer
    registered as the agent's leg): its callSid finds the call, its inbound is the agent."""
    call_id, agent_leg = str(uuid.uuid4()), sid("CA")
    register_call(server, call_id, d06, legs={"agent": agent_leg, "customer": sid("CA")})
    events, _ = asyncio.run(followed(server, call_id, lambda: twilio_call(
        server.ws, agent_leg, d06_8k.part(0, 8), {"token": server.token["gateway"]}, inbound="agent",
        tracks=("inbound",))))
    assert events[0].case_id == d06
    assert finals(events, "agent") and not finals(events, "customer")
    assert events[-1].state == "ended"


def test_without_the_gateway_token_the_stream_is_closed(server, d06):
    async def attempt(parameters: dict, query: str = "", hang_up: bool = False):
        async with await connect(server.ws, query) as ws:
            stream = TwilioStream(ws, sid("CA"), parameters={"case_id": d06, "agent_id": "a1", **parameters})
            await stream.connected()
            await stream.start()
            if hang_up:
                await stream.stop()
            return await closed_with(ws)

    assert asyncio.run(attempt({}))[0] == 4401
    code, reason = asyncio.run(attempt({"token": "wrong"}))
    assert code == 4401 and "Parameter" in reason
    assert asyncio.run(attempt({"token": server.token["agent"]}))[0] == 4403
    assert asyncio.run(attempt({}, f"?token={server.token['gateway']}", hang_up=True))[0] == 1000   # other clients

    async def upgrade(query: str):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(server.ws, query)
        return refused.value.response.status_code

    assert asyncio.run(upgrade("?token=wrong")) == 401
    assert asyncio.run(upgrade(f"?token={server.token['agent']}")) == 403


def test_with_an_auth_token_the_upgrade_must_carry_twilios_signature(server, d06, signed):
    async def upgrade(headers: dict, query: str = ""):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(server.ws, query, headers=headers)
        return refused.value.response.status_code, refused.value.response.body.decode()

    status, body = asyncio.run(upgrade({}))
    assert status == 401 and "X-Twilio-Signature" in body
    assert asyncio.run(upgrade({"X-Twilio-Signature": sign("another account", signed)}))[0] == 401
    assert asyncio.run(upgrade({"X-Twilio-Signature": sign(AUTH_TOKEN, signed + "x")}))[0] == 401
    # a gateway token is no way around the signature
    assert asyncio.run(upgrade({}, f"?token={server.token['gateway']}"))[0] == 401

    async def signed_call(url: str, headers: dict):
        async with await connect(server.ws, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url), **headers}) as ws:
            stream = TwilioStream(ws, sid("CA"), parameters={"case_id": d06, "agent_id": "a1"})   # no token
            await stream.connected()
            await stream.start()
            await stream.stop()
            return await closed_with(ws)

    assert asyncio.run(signed_call(signed, {}))[0] == 1000
    behind_a_proxy = f"wss://ferryman.example.com{PATH}"
    assert asyncio.run(signed_call(behind_a_proxy, {"X-Forwarded-Host": "ferryman.example.com"}))[0] == 1000


def test_malformed_messages_close_the_stream_with_a_reason(server, d06):
    token = server.token["gateway"]

    async def send(*messages, tracks=("inbound", "outbound"), media_format=None, start=True):
        async with await connect(server.ws, f"?token={token}") as ws:
            stream = TwilioStream(ws, sid("CA"), tracks, {"case_id": d06, "agent_id": "a1"}, media_format)
            await stream.connected()
            if start:
                await stream.start()
            for message in messages:
                await ws.send(message(stream) if callable(message) else message)
            return await closed_with(ws)

    def media(track, payload=b"\xff" * 160):
        return lambda stream: json.dumps(stream.media_message(track, payload, 0))

    def stop(stream):
        return json.dumps(stream.stop_message())

    assert asyncio.run(send("not json"))[0] == 4400
    assert asyncio.run(send(b"\x00\x01", start=False))[0] == 4400
    code, reason = asyncio.run(send(json.dumps({"streamSid": "MZ1"})))
    assert code == 4400 and "event" in reason
    # an event Twilio adds one day is ignored, before start and after: the stream goes on
    unknown = json.dumps({"event": "clear", "streamSid": "MZ1"})
    assert asyncio.run(send(unknown, start=False))[0] == 4408          # still waiting for start
    assert asyncio.run(send(unknown, media("inbound"), unknown, stop))[0] == 1000
    code, reason = asyncio.run(send(media("inbound"), start=False))
    assert code == 4412 and "before start" in reason
    code, reason = asyncio.run(send(media_format={"encoding": "audio/x-l16", "sampleRate": 16000, "channels": 1}))
    assert code == 4415 and "mediaFormat" in reason
    code, reason = asyncio.run(send(media("outbound"), tracks=("inbound",)))
    assert code == 4400 and "announce" in reason

    def bad_base64(stream):
        message = stream.media_message("inbound", b"\xff" * 160, 0)
        message["media"]["payload"] = "@@not base64@@"
        return json.dumps(message)

    code, reason = asyncio.run(send(bad_base64))
    assert code == 4400 and "base64" in reason
    code, reason = asyncio.run(send(lambda stream: json.dumps({"event": "start", "start": {}})))
    assert code == 4412 and "second start" in reason


def test_messages_before_start_do_not_keep_a_socket_open(server):
    """Nobody is authenticated before start (the token comes in it): connected, then a mark
    every 0.5 s, and the socket is still closed FERRYMAN_START_TIMEOUT_S (2 s) after the upgrade."""
    async def stall():
        async with await connect(server.ws) as ws:
            opened = time.monotonic()
            stream = TwilioStream(ws, sid("CA"))
            await stream.connected()
            try:
                while True:
                    await asyncio.sleep(0.5)
                    await stream.mark("still here")
            except websockets.ConnectionClosed:
                pass
            code, reason = await closed_with(ws)
            return code, reason, time.monotonic() - opened

    code, reason, seconds = asyncio.run(asyncio.wait_for(stall(), 10))
    assert code == 4408 and "start" in reason
    assert 1.5 < seconds < 3.0, seconds


def test_a_stream_that_drops_and_comes_back_continues_the_same_call(server, d06, d06_8k):
    """The socket goes without stop; Twilio's new stream (a new streamSid) of the same callSid
    within the grace carries on, numbering continued; its stop ends the call."""
    call_sid = sid("CA")
    register_call(server, call_sid, d06)
    parameters = {"token": server.token["gateway"]}

    async def scenario():
        ws = await connect(server.ws)
        stream = TwilioStream(ws, call_sid, parameters=parameters)
        await stream.connected()
        await stream.start()
        await stream.play(d06_8k.part(0, 6), speed=3)
        ws.transport.abort()                   # the network goes: no stop, no close frame
        await asyncio.sleep(0.1)
        assert await twilio_call(server.ws, call_sid, d06_8k.part(6, 12), parameters, speed=3) == 1000

    events, _ = asyncio.run(followed(server, call_sid, scenario))
    assert [e.state for e in events if e.type == "call"] == ["started", "ended"]
    for channel in ("agent", "customer"):
        numbers = [e.utterance for e in events if e.type == "transcript" and e.final and e.channel == channel]
        assert numbers == sorted(set(numbers)), (channel, numbers)
    ends = [e.end for e in events if e.type == "transcript" and e.final]
    assert ends and max(ends) > 6.0              # the second stream's audio, after the first's on the timeline
