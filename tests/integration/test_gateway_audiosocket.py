"""Asterisk AudioSocket into the real server: one TCP socket per leg, the UUID frame first, slin
frames, hang-up by closing; through the real model onto the panels' event socket."""

import asyncio
import uuid

import httpx
import numpy as np
import pytest

from pbx import CallAudio, finals, followed, register_call
from pbx_audiosocket import SLIN, connect, frame, hang_up, leg_call, read_frame, reset, still_open, stream, uuid_frame

pytestmark = pytest.mark.integration
REFUSED = (0xFF, b"\x02")          # the error frame Ferryman answers with: frame forwarding error


@pytest.fixture(scope="module")
def port(server):
    return server.app.state.audiosocket.port


def register(server, case_id: str) -> tuple[str, str, str]:
    """A call the dialer registers with its two leg UUIDs: (call id, agent leg, customer leg)."""
    call_id, agent, customer = (str(uuid.uuid4()) for _ in range(3))
    register_call(server, call_id, case_id, legs={"agent": agent, "customer": customer})
    return call_id, agent, customer


def states(events) -> list[str]:
    return [e.state for e in events if e.type == "call"]


async def refused(reader, writer) -> bool:
    """The server answered with its error frame, then closed the socket."""
    answer, closed = await read_frame(reader), await read_frame(reader)
    writer.close()
    return answer == REFUSED and closed is None


def test_the_two_legs_of_a_registered_call_reach_the_panels(server, d06, d06_8k, port):
    """The end-to-end call: d06 as ``AudioSocket(uuid,ferryman:port)`` on each leg streams it,
    8 kHz slin; each leg's finals on its channel, the call's hints, ended when both hang up."""
    call_id, agent, customer = register(server, d06)
    events, _ = asyncio.run(followed(server, call_id, lambda: asyncio.gather(
        leg_call(port, agent, d06_8k.agent, 8000, speed=3), leg_call(port, customer, d06_8k.customer, 8000, speed=3))))
    assert (events[0].state, events[0].case_id, events[0].agent_id) == ("started", d06, "a1")
    assert "信用卡" in finals(events, "agent") and "投诉" in finals(events, "customer")
    codes = {e.code for e in events if e.type == "hint"}
    assert {"agent_compliance", "complaint_risk"} <= codes, codes
    assert events[-1].type == "call" and events[-1].state == "ended"


async def until_answered(reader, writer, rate: int) -> tuple[int, bytes] | None:
    """A half-open socket's side: silence every 20 ms until the server answers (or closes)."""
    answer = asyncio.create_task(read_frame(reader))
    while not answer.done():
        writer.write(frame(SLIN[rate], bytes(rate // 50 * 2)))
        await asyncio.sleep(0.02)
    writer.close()
    return answer.result()


def test_a_16k_leg_registered_late_is_taken_over_by_a_newer_socket(server, d06, corpus, port):
    """Asterisk 20.17+ ``c(slin16)``: type 0x12; DTMF between the audio is ignored; the dialer
    registers after the socket opened. A second socket with the leg's UUID takes it over (the
    first may be half-open, still sending): the first gets the error frame and is closed, the
    second streams on and ends the call with a hang-up frame."""
    audio = CallAudio.of(corpus / "d06.flac", rate=16000)
    first, second = audio.part(0.5, 7.0).agent, audio.part(10.1, 18.3).agent    # the agent's first two turns
    call_id, agent, customer = (str(uuid.uuid4()) for _ in range(3))

    async def scenario():
        old_reader, old_writer = await connect(port, agent)
        await asyncio.sleep(0.5)
        body = {"call_id": call_id, "case_id": d06, "agent_id": "a1", "legs": {"agent": agent, "customer": customer}}
        async with httpx.AsyncClient() as http:
            (await http.post(f"{server.http}/api/calls", json=body, headers=server.headers("gateway"))).raise_for_status()
        await stream(old_writer, first, 16000, speed=3, dtmf_every=50)
        old = asyncio.create_task(until_answered(old_reader, old_writer, 16000))
        reader, writer = await connect(port, agent)
        await stream(writer, second, 16000, speed=3, dtmf_every=50)
        assert await old == REFUSED                                  # superseded
        writer.write(frame(0x00))                                   # hang-up frame: the server closes
        assert await read_frame(reader) is None
        writer.close()

    events, _ = asyncio.run(followed(server, call_id, scenario))
    assert events[0].case_id == d06
    assert states(events) == ["started", "ended"]
    said = [e for e in events if e.type == "transcript" and e.final]
    assert said and {e.channel for e in said} == {"agent"}
    newer = "".join(e.text for e in said if e.start >= len(first) / 16000)
    assert any(word in newer for word in ("单位", "通讯录", "打电话")), [(e.start, e.text) for e in said]


def test_a_48k_leg_is_resampled(server, d06, corpus, port):
    """0x16 (ARI ``format=slin48``): the same speech, three times the samples."""
    voice = CallAudio.of(corpus / "d06.flac", rate=16000, seconds=6).agent
    at_48k = np.interp(np.arange(len(voice) * 3) / 3, np.arange(len(voice)), voice).astype(np.float32)
    call_id, agent, _ = register(server, d06)
    events, _ = asyncio.run(followed(server, call_id, lambda: leg_call(port, agent, at_48k, 48000, speed=3)))
    assert finals(events, "agent") and states(events) == ["started", "ended"]


def test_a_leg_nobody_registered_and_a_connection_without_its_uuid_are_refused(server, port):
    async def scenario():
        unknown = await connect(port, str(uuid.uuid4()))     # refused after FERRYMAN_REGISTRATION_WAIT_S
        silent = await connect(port)                         # no UUID within FERRYMAN_START_TIMEOUT_S
        return await asyncio.gather(refused(*unknown), refused(*silent))

    assert asyncio.run(scenario()) == [True, True]


def test_malformed_input_is_answered_with_an_error_frame(server, d06, port):
    legs = [register(server, d06) for _ in range(5)]
    pcm = bytes(320)

    async def send(data: bytes, leg: str | None = None) -> bool:
        reader, writer = await connect(port, leg)
        writer.write(data)
        return await refused(reader, writer)

    async def scenario():
        return await asyncio.gather(
            send(b"GET / HTTP/1.1\r\nHost: ferryman\r\n\r\n"),             # not AudioSocket at all
            send(frame(0x10, pcm) + uuid_frame(legs[0][1])),              # audio before the UUID
            send(frame(0x42, b"?"), legs[1][1]),                          # an unknown type
            send(b"\x10\xff\xff", legs[2][1]),                            # 65535 bytes announced: 4 s at 8 kHz
            send(frame(0x10, pcm) + frame(0x10), legs[3][1]),             # a zero-length audio frame
            send(frame(0x10, pcm) * 5 + frame(0x12, pcm), legs[4][2]))    # 8 kHz, then 16 kHz

    assert asyncio.run(scenario()) == [True] * 6
    summary = httpx.get(f"{server.http}/api/calls/{legs[4][0]}", headers=server.headers()).json()
    assert summary["state"] == "ended"            # the leg's channel finalised, the call's only one


def test_a_silent_leg_is_a_drop_it_may_come_back_from(server, d06, d06_8k, port):
    """Nothing for FERRYMAN_INGEST_IDLE_S after the UUID: the error frame, the socket closed, and
    the call waits the reconnect grace — a new socket with the UUID within it goes on with the
    call; nobody coming back, the call ends as dropped."""
    gone, back = register(server, d06), register(server, d06)
    voice = d06_8k.agent[:8000]

    async def quiet(leg: str) -> None:
        reader, writer = await connect(port, leg)
        await stream(writer, voice, 8000, speed=3)
        assert await refused(reader, writer)          # FERRYMAN_INGEST_IDLE_S later

    async def quiet_then_back() -> None:
        await quiet(back[1])
        await leg_call(port, back[1], voice, 8000, speed=3)

    async def scenario():
        return await asyncio.gather(followed(server, gone[0], lambda: quiet(gone[1])),
                                    followed(server, back[0], quiet_then_back))

    (dropped, _), (continued, _) = asyncio.run(scenario())
    assert states(dropped) == ["started", "dropped"] and "nothing received" in (dropped[-1].detail or "")
    assert states(continued) == ["started", "ended"]


def test_a_leg_that_drops_and_comes_back_continues_the_same_call(server, d06, d06_8k, port):
    """Cut mid-frame, then reset: each time a new socket with the same UUID within the grace goes
    on with the same call, nothing numbered twice; the last one hangs up. Each part holds one
    agent turn of d06, and each turn is transcribed inside its part's stretch of the call."""
    call_id, agent, _ = register(server, d06)
    cuts = [(0.5, 7.0), (10.1, 18.3), (23.3, 28.3)]        # the agent's three turns, and some silence
    parts = [d06_8k.part(a, b).agent for a, b in cuts]
    words = [("信用卡", "欠款", "两万"), ("单位", "通讯录", "打电话"), ("坐牢", "孩子", "上学")]

    async def scenario():
        reader, writer = await connect(port, agent)
        await stream(writer, parts[0], 8000, speed=3)
        writer.write(frame(0x10, bytes(320))[:100])    # the network goes in the middle of a frame
        await hang_up(writer)
        await asyncio.sleep(0.1)
        reader, writer = await connect(port, agent)
        await stream(writer, parts[1], 8000, speed=3)
        reset(writer)
        await asyncio.sleep(0.1)
        reader, writer = await connect(port, agent)
        await stream(writer, parts[2], 8000, speed=3)
        assert await still_open(reader)
        await hang_up(writer)

    events, _ = asyncio.run(followed(server, call_id, scenario))
    assert states(events) == ["started", "ended"]
    said = [e for e in events if e.type == "transcript" and e.final and e.channel == "agent"]
    numbers = [e.utterance for e in said]
    assert numbers and numbers == sorted(set(numbers)), numbers
    # a reconnect goes on from where the leg's audio stopped: part k fills its own stretch
    start = 0.0
    for (a, b), expected in zip(cuts, words):
        inside = "".join(e.text for e in said if start <= e.start < start + b - a)
        assert any(word in inside for word in expected), (start, inside, [(e.start, e.text) for e in said])
        start += b - a


def test_a_leg_that_drops_for_good_ends_the_call_as_dropped(server, d06, d06_8k, port):
    call_id, agent, _ = register(server, d06)

    async def scenario():
        _, writer = await connect(port, agent)
        await stream(writer, d06_8k.agent[:4000], 8000, speed=3)
        reset(writer)

    events, _ = asyncio.run(followed(server, call_id, scenario))
    assert states(events) == ["started", "dropped"]
