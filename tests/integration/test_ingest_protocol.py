"""Every protocol error closes its socket with its code; the server keeps serving."""

import asyncio
import json

import httpx
import numpy as np
import pytest
import websockets

from ferryman.ingest.audio import encode_pcm16
from ferryman.ingest.protocol import CloseCode

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def d06_case(server, corpus):
    case = json.loads((corpus / "d06.json").read_text(encoding="utf-8"))["case"]
    httpx.put(f"{server.http}/api/cases/{case['case_id']}", json=case, headers=server.headers("gateway")).raise_for_status()
    return case


START = {"type": "start", "token": "tok-gateway", "case_id": "CC-2023-020006", "agent_id": "t1", "sample_rate": 16000,
         "encoding": "pcm_s16le", "channels": 2}
SILENCE = encode_pcm16(np.zeros(3200, np.float32))   # 100 ms stereo


async def close_code(url, *messages):
    """Send messages, return (close code, reason) the server answers with."""
    async with websockets.connect(url) as ws:
        for message in messages:
            await ws.send(message)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code, closed.rcvd.reason


@pytest.mark.parametrize("name, messages, code, words", [
    ("bad-json", ["{start"], CloseCode.BAD_MESSAGE, "not JSON"),
    ("bad-field", [json.dumps({**START, "sample_rate": "x"})], CloseCode.BAD_MESSAGE, "sample_rate"),
    ("rate", [json.dumps({**START, "sample_rate": 44100})], CloseCode.UNSUPPORTED_AUDIO, "44100"),
    ("encoding", [json.dumps({**START, "encoding": "flac"})], CloseCode.UNSUPPORTED_AUDIO, "flac"),
    ("audio-first", [SILENCE], CloseCode.OUT_OF_ORDER, "before the start"),
    ("no-case", [json.dumps({**START, "case_id": "NOT-THERE"})], CloseCode.CASE_NOT_FOUND, "NOT-THERE"),
    ("oversized", [json.dumps(START), b"\x00" * (70 * 1024)], CloseCode.FRAME_TOO_LARGE, "exceeds"),
    ("odd-bytes", [json.dumps(START), b"\x00\x01\x02"], CloseCode.BAD_MESSAGE, "malformed"),
    ("second-start", [json.dumps(START), json.dumps(START)], CloseCode.OUT_OF_ORDER, "second start"),
    ("unknown-type", [json.dumps(START), json.dumps({"type": "pause"})], CloseCode.BAD_MESSAGE, "pause"),
    ("no-token", [json.dumps({**START, "token": None})], CloseCode.UNAUTHENTICATED, "no access token"),
    ("bad-token", [json.dumps({**START, "token": "guess"})], CloseCode.UNAUTHENTICATED, "unknown"),
    ("agent-token", [json.dumps({**START, "token": "tok-agent-a1"})], CloseCode.FORBIDDEN, "gateway"),
])
def test_protocol_errors_close_with_their_code(server, name, messages, code, words):
    got_code, reason = asyncio.run(close_code(f"{server.ws}/ws/ingest/proto-{name}", *messages))
    assert got_code == code, reason
    assert words in reason
    assert httpx.get(f"{server.http}/api/health").json() == {"ok": True}


def test_start_timeout(server):
    got_code, reason = asyncio.run(close_code(f"{server.ws}/ws/ingest/proto-timeout"))
    assert got_code == CloseCode.START_TIMEOUT


def test_a_call_ended_by_a_protocol_error_still_ends_cleanly(server):
    asyncio.run(close_code(f"{server.ws}/ws/ingest/proto-ends", json.dumps(START), SILENCE, b"\x01"))
    info = httpx.get(f"{server.http}/api/calls/proto-ends", headers=server.headers()).json()
    assert info["state"] == "ended"


def test_channel_already_streamed_is_refused_and_the_first_socket_goes_on(server):
    async def scenario():
        url = f"{server.ws}/ws/ingest/proto-busy"
        async with websockets.connect(url) as first:
            await first.send(json.dumps(START))
            assert json.loads(await first.recv())["type"] == "started"
            code, reason = await close_code(url, json.dumps({**START, "channels": 1, "channel": "agent"}))
            assert code == CloseCode.CHANNEL_BUSY and "agent" in reason
            await first.send(SILENCE)
            await first.send(json.dumps({"type": "stop"}))
            assert json.loads(await first.recv())["type"] == "stopped"
        code, reason = await close_code(url, json.dumps(START))    # ended calls are not reopened
        assert code == CloseCode.CHANNEL_BUSY and "ended" in reason

    asyncio.run(scenario())


def test_abrupt_disconnect_ends_the_call_as_dropped_and_others_go_on(server):
    async def scenario():
        other = await websockets.connect(f"{server.ws}/ws/ingest/proto-other")
        await other.send(json.dumps(START))
        await other.recv()
        dropped = await websockets.connect(f"{server.ws}/ws/ingest/proto-drop")
        await dropped.send(json.dumps(START))
        await dropped.recv()
        await dropped.send(SILENCE)
        dropped.transport.abort()                      # no close frame, no stop: a dead line
        await asyncio.sleep(1.5)                       # past the test server's reconnect grace
        info = httpx.get(f"{server.http}/api/calls/proto-drop", headers=server.headers()).json()
        assert info["state"] == "dropped"
        await other.send(SILENCE)                      # the other call is unaffected
        await other.send(json.dumps({"type": "stop"}))
        assert json.loads(await other.recv())["type"] == "stopped"
        await other.close()

    asyncio.run(scenario())
