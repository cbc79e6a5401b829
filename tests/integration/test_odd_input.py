"""The odd-input table of the reliability probe, row by row: each answered with a 4xx or a close
code, never a 500, a dropped socket without a close frame, or a key outside the call's own."""

import asyncio
import json

import httpx
import pytest
import websockets

from ferryman.ingest.protocol import CloseCode

pytestmark = pytest.mark.integration

START = {"type": "start", "token": "tok-gateway", "case_id": "CC-2023-020006", "agent_id": "t1",
         "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 2}


@pytest.fixture(scope="module", autouse=True)
def d06_case(server, corpus):
    case = json.loads((corpus / "d06.json").read_text(encoding="utf-8"))["case"]
    httpx.put(f"{server.http}/api/cases/{case['case_id']}", json=case,
              headers=server.headers("gateway")).raise_for_status()


async def answer(url: str, *messages, wait_s: float = 10) -> tuple[int, str]:
    """The close code and reason the server ends the socket with (a close frame is required)."""
    async with websockets.connect(url, max_size=None) as ws:
        try:
            for message in messages:
                await ws.send(message)
            while True:
                await asyncio.wait_for(ws.recv(), wait_s)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, closed.rcvd.reason


def auth(token="tok-supervisor") -> str:
    return json.dumps({"type": "auth", "token": token})


BAD_IDS = ["X:events", "a*b", "a%3Fb", "a[0]", "a%00b", "a%0D%0AINFO%20forged", "a%20b", "x" * 200]


@pytest.mark.parametrize("call_id", BAD_IDS)
def test_bad_call_ids_are_refused_at_every_door(server, call_id):
    ingest = asyncio.run(answer(f"{server.ws}/ws/ingest/{call_id}", json.dumps(START)))
    follow = asyncio.run(answer(f"{server.ws}/ws/calls/{call_id}", auth()))
    assert ingest[0] == CloseCode.BAD_MESSAGE and "call id" in ingest[1]
    assert follow[0] == CloseCode.BAD_MESSAGE
    for method, path, role in [("GET", "", "supervisor"), ("GET", "/case", "agent"), ("POST", "/coach", "supervisor"),
                               ("POST", "/ack", "agent")]:
        response = httpx.request(method, f"{server.http}/api/calls/{call_id}{path}",
                                 json={"text": "x", "hint_id": "1-0"}, headers=server.headers(role))
        assert response.status_code in (404, 422), (method, path, response.status_code)
    assert httpx.get(f"{server.http}/api/health").status_code == 200


def test_no_key_is_made_from_a_bad_id(server):
    import redis

    for call_id in BAD_IDS[:4]:
        asyncio.run(answer(f"{server.ws}/ws/ingest/{call_id}", json.dumps(START)))
    client = redis.Redis.from_url(server.app.state.services.embedded_redis.url, decode_responses=True)
    made = [k for k in client.scan_iter(count=1000) if "X:events" in k or any(c in k for c in "*?[ \x00\r\n")]
    assert made == []


@pytest.mark.parametrize("after", ["1" * 23 + "-0", "18446744073709551616-0", "1-99999999999999999999",
                                   "abc", "1-2-3"])
def test_stream_ids_out_of_range_close_with_4400(server, after):
    code, reason = asyncio.run(answer(f"{server.ws}/ws/calls/any-call?after={after}", auth()))
    assert code == CloseCode.BAD_MESSAGE and "stream id" in reason
    code, _ = asyncio.run(answer(f"{server.ws}/ws/floor?after={after}", auth()))
    assert code == CloseCode.BAD_MESSAGE


def test_hint_ids_out_of_range_are_422(server):
    for hint_id in ["1" * 23 + "-0", "18446744073709551616-0"]:
        response = httpx.post(f"{server.http}/api/calls/any-call/ack", json={"hint_id": hint_id},
                              headers=server.headers("agent"))
        assert response.status_code == 422


@pytest.mark.parametrize("token", [12345, ["tok-supervisor"], {"t": 1}, None, True])
def test_a_token_that_is_not_a_string_closes_with_4401(server, token):
    for path in ("/ws/floor", "/ws/calls/any-call"):
        code, _ = asyncio.run(answer(f"{server.ws}{path}", json.dumps({"type": "auth", "token": token})))
        assert code == CloseCode.UNAUTHENTICATED
    code, _ = asyncio.run(answer(f"{server.ws}/ws/ingest/odd-token", json.dumps({**START, "token": token})))
    assert code in (CloseCode.UNAUTHENTICATED, CloseCode.BAD_MESSAGE)


def test_a_body_over_the_cap_is_413_and_not_stored(server, corpus):
    case = json.loads((corpus / "d06.json").read_text(encoding="utf-8"))["case"]
    big = {**case, "case_id": "HUGE-1", "notes": ["很长的备注" * 1000] * 1000}       # ~15 MB
    response = httpx.put(f"{server.http}/api/cases/HUGE-1", json=big, headers=server.headers("gateway"))
    assert response.status_code == 413
    assert httpx.get(f"{server.http}/api/cases/HUGE-1", headers=server.headers()).status_code == 404


def test_a_started_ingest_socket_that_goes_silent_is_closed_and_the_call_ends(server):
    code, reason = asyncio.run(answer(f"{server.ws}/ws/ingest/odd-silent", json.dumps(START), wait_s=30))
    assert code == CloseCode.START_TIMEOUT and "nothing received" in reason
    deadline = asyncio.run(wait_for_state(server, "odd-silent"))
    assert deadline == "dropped"


async def wait_for_state(server, call_id: str) -> str:
    for _ in range(100):
        info = httpx.get(f"{server.http}/api/calls/{call_id}", headers=server.headers()).json()
        if info["state"] in ("ended", "dropped"):
            return info["state"]
        await asyncio.sleep(0.1)
    return info["state"]


def test_a_frame_over_the_limit_gets_1009_and_the_call_ends_cleanly(server):
    code, reason = asyncio.run(answer(f"{server.ws}/ws/ingest/odd-big-frame", json.dumps(START), b"\x00" * (200 * 1024)))
    assert code == CloseCode.FRAME_TOO_LARGE
    assert asyncio.run(wait_for_state(server, "odd-big-frame")) == "ended"


def test_pages_carry_security_headers_and_the_api_docs_are_off(server):
    page = httpx.get(f"{server.http}/ui/agent.html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{server.http}{path}").status_code == 404


def test_a_token_holds_a_bounded_number_of_sockets(server):
    async def scenario():
        limit = server.app.state.services.settings.max_sockets_per_token
        held = []
        for _ in range(limit):
            ws = await websockets.connect(f"{server.ws}/ws/floor")
            await ws.send(auth("tok-agent-a2"))
            await asyncio.wait_for(ws.recv(), 5)          # its snapshot: it is in
            held.append(ws)
        refused = await answer(f"{server.ws}/ws/floor", auth("tok-agent-a2"))
        other = await websockets.connect(f"{server.ws}/ws/floor")
        await other.send(auth("tok-agent-a1"))
        other_ok = json.loads(await asyncio.wait_for(other.recv(), 5))["type"]
        await held.pop().close()
        await asyncio.sleep(0.2)
        again = await websockets.connect(f"{server.ws}/ws/floor")
        await again.send(auth("tok-agent-a2"))
        again_ok = json.loads(await asyncio.wait_for(again.recv(), 5))["type"]
        for ws in [*held, other, again]:
            await ws.close()
        return refused, other_ok, again_ok

    refused, other_ok, again_ok = asyncio.run(scenario())
    assert refused[0] == CloseCode.TOO_MANY_SOCKETS
    assert other_ok == again_ok == "snapshot"


TRANSCRIPT_START = {k: v for k, v in START.items() if k not in ("sample_rate", "encoding")} | {"source": "transcript"}
TURN = {"type": "turn", "channel": "customer", "text": "我下个月发工资再还", "start": 1.0, "end": 2.5}


@pytest.mark.parametrize("name, messages, words", [
    ("turn-on-audio", [json.dumps(START), json.dumps(TURN)], "source 'transcript'"),
    ("audio-on-turns", [json.dumps(TRANSCRIPT_START), b"\x00\x00" * 320], "audio frame"),
    ("turn-backwards", [json.dumps(TRANSCRIPT_START), json.dumps({**TURN, "start": 3.0})], "end"),
    ("turn-empty", [json.dumps(TRANSCRIPT_START), json.dumps({**TURN, "text": ""})], "text"),
    ("turn-extra", [json.dumps(TRANSCRIPT_START), json.dumps({**TURN, "speaker": "x"})], "speaker"),
    ("turn-channel", [json.dumps({**TRANSCRIPT_START, "channels": 1, "channel": "agent"}), json.dumps(TURN)],
     "channel"),
])
def test_transcript_socket_errors_close_with_4400(server, name, messages, words):
    code, reason = asyncio.run(answer(f"{server.ws}/ws/ingest/odd-{name}", *messages))
    assert code == CloseCode.BAD_MESSAGE and words in reason, reason
