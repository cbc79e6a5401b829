"""A client of a running Ferryman server: upload a case, stream a call, follow its events.

Used by ``ferryman replay --server`` and ``ferryman demo``; it speaks exactly the protocol a
telephony gateway would (see ``ferryman.ingest.protocol``).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Awaitable, Callable

import websockets

from ferryman.bus.streams import TERMINAL_STATES
from ferryman.cases.schema import Case
from ferryman.events import CallEvent, Event, parse_event
from ferryman.ingest.audio import ASR_RATE, encode_pcm16, interleave
from ferryman.ingest.sources import read_stereo, reference_finals, stereo_blocks

FRAME_S = 0.1


def http_base(ws_url: str) -> str:
    return ws_url.rstrip("/").replace("ws://", "http://", 1).replace("wss://", "https://", 1)


def _put_case_blocking(base: str, case: Case, token: str) -> None:
    request = urllib.request.Request(f"{http_base(base)}/api/cases/{case.case_id}", method="PUT",
                                     data=case.model_dump_json().encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        urllib.request.urlopen(request, timeout=10).read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the server refused case {case.case_id}: {exc.code} {exc.read().decode()}") from exc


async def put_case(base: str, case: Case, token: str) -> None:
    """Upload a case (a gateway or supervisor token)."""
    await asyncio.to_thread(_put_case_blocking, base, case, token)


async def subscribe(url: str, token: str):
    """Open a subscriber socket and authenticate on it (its first message)."""
    ws = await websockets.connect(url, max_size=None)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    return ws


async def follow_call(base: str, call_id: str, on_event: Callable[[Event], Awaitable[None] | None],
                      token: str, retries: int = 20) -> None:
    """Every event of the call until it ends; reconnects with the last id after a drop."""
    last, failures = "0-0", 0
    while True:
        try:
            async with await subscribe(f"{base}/ws/calls/{call_id}?after={last}", token) as ws:
                failures = 0
                async for message in ws:
                    event = parse_event(message)
                    last = event.id or last
                    result = on_event(event)
                    if asyncio.iscoroutine(result):
                        await result
                    if isinstance(event, CallEvent) and event.state in TERMINAL_STATES:
                        return
        except (OSError, websockets.ConnectionClosedError) as exc:
            refused = getattr(exc, "rcvd", None)
            if refused is not None and refused.code in (4400, 4401, 4403, 4429):
                raise RuntimeError(f"the server refused the event stream of call {call_id}: "
                                   f"{refused.code} {refused.reason}") from exc
            failures += 1
            if failures > retries:
                raise RuntimeError(f"lost the event stream of call {call_id}: {exc}") from exc
            await asyncio.sleep(min(0.2 * failures, 2.0))


async def stream_audio(base: str, call_id: str, case_id: str, audio: Path, token: str, speed: float = 1.0,
                       agent_id: str = "replay", lead_in_s: float = 0.0, reconnect_s: float = 0.0) -> dict:
    """Send a stereo file through the ingest socket (pcm_s16le, 16 kHz, 2 channels) with a
    gateway token. ``lead_in_s``: the call is open (the agent reads the brief) before the audio.

    ``reconnect_s`` > 0 makes it behave like a gateway on a floor of nodes: when the socket is
    lost mid-call (its node died), it reconnects — to the same URL, which a load balancer sends to
    a live node, or to a node a full node names — for up to that many seconds, and sends the
    audio again from the second the server asks for (``resume_from``), the backlog at once."""
    agent, customer = read_stereo(audio)
    start = {"type": "start", "token": token, "case_id": case_id, "agent_id": agent_id, "sample_rate": ASR_RATE,
             "encoding": "pcm_s16le", "channels": 2}
    loop = asyncio.get_running_loop()
    schedule: float | None = None           # wall time at which audio second 0 was (to be) sent
    url, deadline = base, None
    while True:
        try:
            async with websockets.connect(f"{url}/ws/ingest/{call_id}", max_size=None) as ws:
                await ws.send(json.dumps(start))
                started = await _started(ws)
                if schedule is None:
                    await asyncio.sleep(lead_in_s)
                    schedule = loop.time()
                position = max(0, int(round(float(started.get("resume_from", 0.0)) * ASR_RATE)))
                for block in stereo_blocks(agent[position:], customer[position:], FRAME_S):
                    await ws.send(encode_pcm16(interleave(block.agent, block.customer)))
                    position += len(block.agent)
                    if speed > 0:
                        await asyncio.sleep(max(0.0, schedule + position / ASR_RATE / speed - loop.time()))
                await ws.send(json.dumps({"type": "stop"}))
                return json.loads(await ws.recv())
        except _Refused as refused:
            if not reconnect_s:
                raise RuntimeError(f"server did not start the call: {refused}") from None
            deadline = deadline or loop.time() + reconnect_s
            if loop.time() > deadline:
                raise RuntimeError(f"call {call_id}: no node took the call within {reconnect_s:g} s") from None
            url = refused.nodes[0] if refused.nodes else base
            await asyncio.sleep(0 if refused.nodes else 0.2)
        except (OSError, websockets.ConnectionClosedError) as exc:
            closed = getattr(exc, "rcvd", None)
            if not reconnect_s or (closed is not None and closed.code not in _NODE_GONE):
                raise
            deadline = deadline or loop.time() + reconnect_s
            if loop.time() > deadline:
                raise RuntimeError(f"call {call_id}: no node took the call back within {reconnect_s:g} s") from exc
            url = base
            await asyncio.sleep(0.2)


async def stream_transcript(base: str, call_id: str, case_id: str, call_json: Path, token: str,
                            speed: float = 0.0, agent_id: str = "replay") -> dict:
    """Send a corpus call's reference turns through a transcript socket (no audio), each at its
    end time divided by ``speed`` (0 = all at once): the server's hint engine, records and
    panels see them as they would transcribed audio."""
    start = {"type": "start", "token": token, "case_id": case_id, "agent_id": agent_id, "source": "transcript"}
    loop = asyncio.get_running_loop()
    async with websockets.connect(f"{base}/ws/ingest/{call_id}", max_size=None) as ws:
        await ws.send(json.dumps(start))
        await _started(ws)
        began = loop.time()
        for turn in reference_finals(call_json):
            if speed > 0:
                await asyncio.sleep(max(0.0, began + turn.end / speed - loop.time()))
            await ws.send(json.dumps({"type": "turn", "channel": turn.channel, "text": turn.text,
                                      "start": turn.start, "end": turn.end}, ensure_ascii=False))
        await ws.send(json.dumps({"type": "stop"}))
        return json.loads(await ws.recv())


# the node went away (no close frame, going away, restarting, overloaded): the call goes on elsewhere
_NODE_GONE = (1001, 1006, 1012, 1013)


class _Refused(RuntimeError):
    def __init__(self, message: str, nodes: list[str]):
        super().__init__(message)
        self.nodes = nodes


async def _started(ws) -> dict:
    """The server's answer to the start message: started, or refused (a full node names others)."""
    try:
        answer = json.loads(await ws.recv())
        if answer.get("type") == "refused":
            raise _Refused(answer.get("reason", ""), answer.get("nodes", []))
    except websockets.ConnectionClosed as exc:
        if exc.rcvd is not None and exc.rcvd.code not in _NODE_GONE:
            raise RuntimeError(f"server did not start the call: {exc.rcvd.code} {exc.rcvd.reason}") from exc
        raise _Refused(f"{exc.rcvd.code if exc.rcvd else ''} {exc.rcvd.reason if exc.rcvd else exc}", []) from exc
    if answer.get("type") != "started":
        raise _Refused(str(answer), [])
    return answer
