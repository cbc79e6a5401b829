"""Real model, real Redis, real sockets: a corpus call in through the ingest socket, sensible
finals out of the subscriber socket; resuming subscribers miss and repeat nothing."""

import asyncio
import json

import httpx
import pytest
import redis
import websockets

from ferryman.cases.schema import load_case_file
from ferryman.client import follow_call, put_case, stream_audio, subscribe
from ferryman.ingest.audio import encode_mulaw
from ferryman.ingest.sources import read_stereo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def d06_events(server, corpus):
    """d06 (33 s: an agent who threatens, a customer who threatens to complain), streamed at
    3x real time (fast, yet slow enough for partials to be worth decoding), and every event
    the subscriber socket received."""
    case = load_case_file(corpus / "d06.json")
    events = []

    async def scenario():
        await put_case(server.ws, case, server.token["gateway"])
        follower = asyncio.create_task(follow_call(server.ws, "e2e-d06", events.append, server.token["supervisor"]))
        stopped = await stream_audio(server.ws, "e2e-d06", case.case_id, corpus / "d06.flac", server.token["gateway"],
                                     speed=3)
        await asyncio.wait_for(follower, 120)
        return stopped

    stopped = asyncio.run(scenario())
    return stopped, events


def _heard(words: list[str], text: str) -> list[str]:
    """The words found in ``text`` as written or as they sound (坐牢 heard as 做劳: the sounds are
    right, the characters are the ASR's guess; exact characters vary with the decoder's version)."""
    from ferryman.hints.matching import PhraseSet, split_clauses
    from ferryman.hints.rules import load_rules

    phonetics = load_rules().phonetics
    clauses = split_clauses(text, phonetics)
    return [w for w in words if any(PhraseSet([w], phonetics).find(c) for c in clauses)]


def test_finals_carry_the_calls_key_words(d06_events):
    stopped, events = d06_events
    finals = [e for e in events if e.type == "transcript" and e.final]
    assert stopped["finals"] == len(finals) >= 5
    agent = "".join(e.text for e in finals if e.channel == "agent")
    customer = "".join(e.text for e in finals if e.channel == "customer")
    assert _heard(["信用卡", "打电话", "坐牢"], agent) == ["信用卡", "打电话", "坐牢"], agent
    assert _heard(["投诉", "录音"], customer) == ["投诉", "录音"], customer
    assert "信用卡" in agent         # and the common words are written right


def test_events_are_well_formed_and_ordered(d06_events):
    _, events = d06_events
    assert events[0].type == "call" and events[0].state == "started"
    assert events[-1].type == "call" and events[-1].state == "ended"
    ids = [tuple(map(int, e.id.split("-"))) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert any(e.type == "transcript" and not e.final for e in events), "no partials"
    for channel in ("agent", "customer"):
        finals = [e for e in events if e.type == "transcript" and e.final and e.channel == channel]
        assert [f.utterance for f in finals] == sorted({f.utterance for f in finals})
        assert all(0 <= f.start < f.end <= 34 for f in finals)
    assert all("字幕" not in e.text for e in events if e.type == "transcript")


def test_a_subscriber_resuming_from_any_id_gets_exactly_the_rest(server, d06_events):
    _, events = d06_events
    cut = len(events) // 2

    async def resume():
        got = []
        async with await subscribe(f"{server.ws}/ws/calls/e2e-d06?after={events[cut].id}", server.token["supervisor"]) as ws:
            async for message in ws:
                got.append(json.loads(message)["id"])
        return got

    assert asyncio.run(resume()) == [e.id for e in events[cut + 1:]]


def test_call_index_records_the_call(server, d06_events):
    info = httpx.get(f"{server.http}/api/calls/e2e-d06", headers=server.headers()).json()
    assert info["state"] == "ended" and info["case_id"] == "CC-2023-020006"
    assert "e2e-d06" not in [c["call_id"] for c in httpx.get(f"{server.http}/api/calls", headers=server.headers()).json()]


def test_two_mono_sockets_of_8khz_mulaw_make_one_call(server, corpus):
    """Telephony style: one socket per channel, 8 kHz mu-law; the resampler and codec path."""
    case = load_case_file(corpus / "d01.json")
    agent, customer = read_stereo(corpus / "d01.flac")

    async def channel_socket(name, audio):
        async with websockets.connect(f"{server.ws}/ws/ingest/e2e-mono") as ws:
            await ws.send(json.dumps({"type": "start", "token": server.token["gateway"], "case_id": case.case_id, "agent_id": "t2",
                                      "sample_rate": 8000, "encoding": "mulaw", "channels": 1, "channel": name}))
            assert json.loads(await ws.recv())["type"] == "started"
            payload = encode_mulaw(audio[::2])   # the corpus is telephone-band: decimate
            for i in range(0, len(payload), 1600):
                await ws.send(payload[i:i + 1600])
                await asyncio.sleep(0)
            await ws.send(json.dumps({"type": "stop"}))
            return json.loads(await ws.recv())

    async def scenario():
        events = []
        await put_case(server.ws, case, server.token["gateway"])
        follower = asyncio.create_task(follow_call(server.ws, "e2e-mono", events.append, server.token["supervisor"]))
        a, c = slice(int(9.5 * 16000), int(20.5 * 16000)), slice(int(40 * 16000), int(46.5 * 16000))
        await asyncio.gather(channel_socket("agent", agent[a]), channel_socket("customer", customer[c]))
        await asyncio.wait_for(follower, 60)
        return events

    events = asyncio.run(scenario())
    finals = {ch: "".join(e.text for e in events if e.type == "transcript" and e.final and e.channel == ch)
              for ch in ("agent", "customer")}
    assert "录音" in finals["agent"] and "资产" in finals["agent"]
    assert "万" in finals["customer"]
    assert [e.state for e in events if e.type == "call"] == ["started", "ended"]


def test_hints_arrive_on_the_same_socket_as_the_transcript(d06_events, server):
    _, events = d06_events
    hints = [e for e in events if e.type == "hint"]
    codes = {h.code for h in hints}
    assert {"agent_compliance", "complaint_risk", "disclosure_missing"} <= codes
    threat = next(h for h in hints if h.code == "agent_compliance")
    assert threat.evidence.channel == "agent" and threat.suggestion
    assert any(e.type == "mood" for e in events) and any(e.type == "checklist" for e in events)
    # the socket stops at the end event, so a card written after it would never reach a panel:
    # the stream itself must end with the call's end, after every card
    stored = [json.loads(fields["e"]) for _, fields in
              redis.Redis.from_url(server.app.state.services.embedded_redis.url, decode_responses=True)
              .xrange("call:e2e-d06:events")]
    assert stored[-1]["type"] == "call" and stored[-1]["state"] == "ended"
    assert [e["type"] for e in stored].count("hint") == len(hints)
