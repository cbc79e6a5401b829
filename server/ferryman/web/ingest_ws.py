"""``/ws/ingest/{call_id}``: call audio in. The protocol is in ``ferryman.ingest.protocol``.

Any protocol error closes this socket with a specific code and reason; audio already received
is still finalised and the call ends cleanly (or goes on, fed by its other socket). Nothing
here can take down the server or another call.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import WebSocket

from ferryman.calls.feed import CallFeed, Connection
from ferryman.calls.live import AtCapacity
from ferryman.ids import loggable
from ferryman.ingest.audio import ASR_RATE
from ferryman.ingest.protocol import (
    CloseCode,
    ProtocolError,
    StartMessage,
    check_call_id,
    parse_control,
    parse_start,
    parse_turn,
)
from ferryman.web.auth import AuthError
from ferryman.web.sockets import receive, run_socket, send_quietly

log = logging.getLogger(__name__)


async def _receive_start(ws: WebSocket, timeout_s: float) -> StartMessage:
    try:
        message = await asyncio.wait_for(receive(ws), timeout_s)
    except asyncio.TimeoutError:
        raise ProtocolError(CloseCode.START_TIMEOUT, f"no start message within {timeout_s:g} s") from None
    if message.get("bytes") is not None:
        raise ProtocolError(CloseCode.OUT_OF_ORDER, "audio before the start message")
    start = parse_start(parse_control(message.get("text") or ""))
    try:
        ws.app.state.services.tokens.authenticate(start.token, ("gateway",))
    except AuthError as exc:
        raise exc.as_protocol_error() from None
    return start


async def _stream(ws: WebSocket, start: StartMessage, feed: CallFeed, idle_s: float) -> None:
    """Receive frames until the stop message. An audio socket sends all the time (silence too):
    one quiet for ``idle_s`` is a half-dead connection. A transcript socket may be quiet for
    minutes (a customer on hold), so it is not timed."""
    timeout = idle_s if start.source == "audio" else None
    while True:
        message = await receive(ws, timeout)
        if message.get("bytes") is not None:
            if start.source != "audio":
                raise ProtocolError(CloseCode.BAD_MESSAGE, "audio frame on a socket started with source 'transcript'")
            await feed.push_frame(message["bytes"])
            continue
        control = parse_control(message.get("text") or "")
        if control["type"] == "stop":
            return
        if control["type"] == "ping":           # a keep-alive a gateway may send; nothing to do
            continue
        if control["type"] == "turn":
            turn = parse_turn(control, start)
            await feed.pipeline.push_turn(turn.channel, turn.text, turn.start, turn.end)
            continue
        if control["type"] == "start":
            raise ProtocolError(CloseCode.OUT_OF_ORDER, "a second start message on the same socket")
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"unknown message type '{control['type']}'")


async def ingest_socket(ws: WebSocket, call_id: str) -> None:
    app = ws.app.state.services
    await ws.accept()

    async def converse(connection: Connection) -> None:
        check_call_id(call_id)
        start = await _receive_start(ws, app.settings.start_timeout_s)
        connection.token = start.token
        feed = await connection.open(call_id, tuple(start.channel_names), start.encoding,  # type: ignore[arg-type]
                                     start.sample_rate or ASR_RATE, start.case_id, start.agent_id,
                                     case_optional=False, resends=True, source=start.source,
                                     placed_at=start.placed_at.timestamp() if start.placed_at else None)
        await ws.send_json({"type": "started", "call_id": call_id, "channels": list(feed.channels),
                            "resume_from": feed.resume_from})
        await _stream(ws, start, feed, app.settings.ingest_idle_s)

    async def reply(ws: WebSocket, exc: ProtocolError) -> None:
        if isinstance(exc, AtCapacity):      # the gateway reads where to go before the close
            await send_quietly(ws, {"type": "refused", "code": int(exc.code), "reason": exc.reason,
                                    "nodes": exc.nodes})

    async def stopped(connection: Connection) -> None:
        await send_quietly(ws, {"type": "stopped", "call_id": call_id, "finals": connection.feed.pipeline.final_count})

    await run_socket(ws, f"ingest {loggable(call_id)}", converse, reply, on_ended=stopped)
