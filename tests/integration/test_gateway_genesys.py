"""Genesys Cloud AudioHook into the real server: the upgrade headers, the numbered JSON messages,
PCMU/L16 frames of the external and internal channels, through the real model, onto the panels'
event socket."""

import asyncio
import uuid

import httpx
import pytest
import websockets

from ferryman.client import follow_call
from pbx import finals, followed, register_call
from pbx_genesys import NULL_UUID, AudioHookClient, audiohook_call, audiohook_headers, duration, media

pytestmark = pytest.mark.integration


def test_a_registered_conversation_streamed_by_audiohook_reaches_the_panels(server, d06, d06_8k):
    """The end-to-end call: d06 as Genesys streams it, PCMU 8 kHz, external (customer) and
    internal (agent) interleaved; finals on the right channels, the call's hints."""
    conversation = str(uuid.uuid4())
    register_call(server, conversation, d06)
    events, sent = asyncio.run(followed(server, conversation, lambda: audiohook_call(
        server.ws, server.token["gateway"], conversation, d06_8k, speed=3)))
    opened, *pongs, closed = sent
    assert opened["parameters"] == {"media": [media()], "startPaused": False} and opened["clientseq"] == 1
    assert pongs and all(p["type"] == "pong" for p in pongs)
    assert closed["type"] == "closed" and closed["clientseq"] == len(pongs) + 2
    assert (events[0].state, events[0].case_id, events[0].agent_id) == ("started", d06, "a1")
    assert "信用卡" in finals(events, "agent") and "投诉" in finals(events, "customer")
    codes = {e.code for e in events if e.type == "hint"}
    assert {"agent_compliance", "complaint_risk"} <= codes, codes
    assert events[-1].type == "call" and events[-1].state == "ended"       # close {reason: end} = hang-up


def test_the_api_key_must_be_a_gateway_token(server):
    async def attempt(api_key, query=""):
        headers = audiohook_headers(api_key, str(uuid.uuid4()))
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{server.ws}/ws/gateways/genesys{query}", additional_headers=headers)
        return refused.value.response.status_code

    assert asyncio.run(attempt(None)) == 401
    assert asyncio.run(attempt("wrong")) == 401
    assert asyncio.run(attempt(server.token["agent"])) == 403
    assert asyncio.run(attempt(None, f"?token={server.token['gateway']}")) == 401    # the header only


async def refused_session(server, steps) -> tuple[dict, dict, int]:
    """Run ``steps(client)``; then the server's disconnect, our close, its closed, the close code."""
    client = await AudioHookClient.connect(server.ws, server.token["gateway"])
    await steps(client)
    disconnect = await client.drain_until("disconnect")
    await client.send("close", {"reason": "disconnect"})
    closed = await client.drain_until("closed")
    return disconnect, closed, await client.closed_code()


def test_malformed_input_gets_a_disconnect_then_closed(server, d06):
    async def bad_json(client):
        await client.ws.send("{not json")

    async def seq_skipped(client):
        await client.open(str(uuid.uuid4()), offers=[])
        client.seq += 1
        await client.send("ping")

    async def audio_first(client):
        await client.ws.send(b"\xff" * 320)

    async def unusable_media(client):
        opus = {"type": "audio", "format": "opus", "channels": ["external"], "rate": 48000}
        await client.send_open(str(uuid.uuid4()), offers=[opus])

    async def torn_frame(client):
        conversation = str(uuid.uuid4())
        register_call(server, conversation, d06)
        await client.open(conversation)
        await client.ws.send(b"\xff\xff\xff")          # 3 bytes: not whole stereo PCMU samples

    async def unknown_case(client):                     # the call fails to open after opened
        await client.open(str(uuid.uuid4()), custom_config={"case_id": "NO-SUCH-CASE", "agent_id": "a1"})

    cases = [(bad_json, 4400, "not JSON"), (seq_skipped, 4412, "seq 3 after 1"),
             (audio_first, 4412, "before the session was opened"), (unusable_media, 4415, "no offered media"),
             (torn_frame, 4400, "malformed audio frame"), (unknown_case, 4404, "NO-SUCH-CASE not found")]
    for steps, code, words in cases:
        disconnect, closed, close_code = asyncio.run(refused_session(server, steps))
        assert disconnect["parameters"]["reason"] == "error" and words in disconnect["parameters"]["info"], \
            (steps.__name__, disconnect)
        assert closed["seq"] == disconnect["seq"] + 1 and close_code == code, (steps.__name__, close_code)


def test_a_connection_probe_is_opened_and_closed_without_a_call(server):
    conversation = str(uuid.uuid4())

    async def probe(conversation_id, participant_id=None):
        client = await AudioHookClient.connect(server.ws, server.token["gateway"])
        opened = await client.open(conversation_id, participant_id=participant_id)
        closed = await client.close()
        return opened, closed, client.ws.close_code

    for args in ((NULL_UUID,), (conversation, NULL_UUID)):
        opened, closed, code = asyncio.run(probe(*args))
        assert opened["parameters"]["media"] == [media()] and closed["type"] == "closed" and code == 1000
    for call_id in (NULL_UUID, conversation):
        assert httpx.get(f"{server.http}/api/calls/{call_id}", headers=server.headers()).status_code == 404


async def said(server, call_id: str, channel: str, timeout: float = 30.0) -> None:
    """Until a final of ``channel`` is on the panels."""
    heard = asyncio.Event()

    def on_event(event):
        if event.type == "transcript" and event.final and event.channel == channel:
            heard.set()

    follower = asyncio.create_task(follow_call(server.ws, call_id, on_event, server.token["supervisor"]))
    try:
        await asyncio.wait_for(heard.wait(), timeout)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


def test_a_drop_then_a_reconnect_handover_continue_the_same_call(server, d06, d06_8k):
    """Session 1 loses its network; session 2 (within the grace) goes on; Genesys then moves the
    stream to session 3 the way it reconnects: 3 is opened, 2 closes with reason reconnect."""
    conversation = str(uuid.uuid4())
    register_call(server, conversation, d06)

    async def scenario():
        first = await AudioHookClient.connect(server.ws, server.token["gateway"])
        offer = (await first.open(conversation))["parameters"]["media"][0]
        await first.stream(d06_8k.part(0, 7), offer)
        first.abort()
        await asyncio.sleep(0.1)
        second = await AudioHookClient.connect(server.ws, server.token["gateway"])
        continued = [{"id": first.id, "serverseq": first.serverseq, "clientseq": first.seq}]
        await second.open(conversation, continued=continued)
        await second.stream(d06_8k.part(7, 12), offer)
        await said(server, conversation, "customer")    # Genesys streams in real time: the server keeps up
        third = await AudioHookClient.connect(server.ws, server.token["gateway"])
        await third.open(conversation, continued=[{"id": second.id, "serverseq": second.serverseq,
                                                   "clientseq": second.seq}])
        await second.close("reconnect")
        await third.stream(d06_8k.part(18, 24), offer)
        await third.close()

    events, _ = asyncio.run(followed(server, conversation, scenario))
    assert [e.state for e in events if e.type == "call"] == ["started", "ended"]
    for channel in ("agent", "customer"):
        numbers = [e.utterance for e in events if e.type == "transcript" and e.final and e.channel == channel]
        assert numbers == sorted(set(numbers)) and numbers, (channel, numbers)
    heard = [(e.channel, e.start, e.text) for e in events if e.type == "transcript" and e.final]
    assert "还" in finals(events, "customer") and "录音" in finals(events, "customer"), heard   # before and after


def test_custom_config_names_the_case_and_a_pause_moves_what_follows_on(server, d06, d06_8k):
    """Nobody registered the conversation: the integration's custom config names case and agent.
    L16 is the only offer. A secure pause over the customer's promise (6.8-10.2 s of d06): Genesys
    sends no audio meanwhile and reports the 3.4 s left out twice (``discarded``, ``resumed``);
    what the agent says next keeps its time on the call (skipped once, not twice)."""
    conversation = str(uuid.uuid4())

    async def scenario():
        client = await AudioHookClient.connect(server.ws, server.token["gateway"])
        offer = media("L16")
        opened = await client.open(conversation, offers=[offer], custom_config={"case_id": d06, "agent_id": "a9"})
        assert opened["parameters"]["media"] == [offer]
        await client.stream(d06_8k.part(0, 6.8), offer)
        await client.send("update", {"language": "zh-CN"})
        await client.drain_until("updated")
        await client.send("paused")
        await asyncio.sleep(0.6)                  # 3.4 s of the call at speed 3, pinged as Genesys does
        await client.send("ping")
        await client.drain_until("pong")
        gap = {"start": duration(client.position), "discarded": duration(3.4)}
        await client.send("discarded", gap)
        await client.send("resumed", gap)
        await client.stream(d06_8k.part(10.2, 14), offer)
        return await client.close()

    events, closed = asyncio.run(followed(server, conversation, scenario))
    assert closed["type"] == "closed"
    assert (events[0].case_id, events[0].agent_id) == (d06, "a9")
    assert "信用卡" in finals(events, "agent") and not finals(events, "customer")   # the promise was paused
    # the agent's next words begin at 10.6 s of d06: 6.8 s of audio before the pause + 3.4 s + 0.4 s
    after = [e.start for e in events if e.type == "transcript" and e.final and e.channel == "agent" and e.start > 6.8]
    assert after and 10.2 - 0.4 <= after[0] <= 10.6 + 1.5, after
    assert events[-1].state == "ended"


def test_pings_are_answered_while_the_call_waits_for_its_registration(server, d06, d06_8k):
    """The dialer registers the conversation only after ``opened`` (within the registration
    wait): pings are answered meanwhile, the audio of that time waits and keeps its time."""
    conversation = str(uuid.uuid4())

    async def scenario():
        client = await AudioHookClient.connect(server.ws, server.token["gateway"])
        offer = (await client.open(conversation))["parameters"]["media"][0]
        sent = asyncio.get_running_loop().time()
        await client.send("ping")
        await client.expect("pong", timeout=1.0)       # the registration wait is 2 s
        pong_s = asyncio.get_running_loop().time() - sent
        streaming = asyncio.create_task(client.stream(d06_8k.part(0, 6.8), offer))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(register_call, server, conversation, d06)
        await streaming
        await client.close()
        return pong_s

    events, pong_s = asyncio.run(followed(server, conversation, scenario))
    assert pong_s < 1.0
    assert (events[0].state, events[0].case_id) == ("started", d06)
    first = next(e for e in events if e.type == "transcript" and e.final and e.channel == "agent")
    assert "信用卡" in first.text and 0.6 <= first.start <= 1.6, first     # said from 1.0 s of d06
    assert events[-1].state == "ended"
