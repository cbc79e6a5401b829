"""Small pieces every socket that carries call audio uses (our ingest socket, each gateway), and
the one way such a socket runs its call (``run_socket``)."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ferryman.calls.feed import Connection, run_connection
from ferryman.ingest.protocol import CloseCode, Dropped, ProtocolError

__all__ = ["Dropped", "close_socket", "receive", "run_socket", "send_quietly"]


async def receive(ws: WebSocket, idle_s: float | None = None) -> dict:
    """The next message; ``Dropped`` when the sender closed, or sent nothing for ``idle_s``."""
    try:
        message = await asyncio.wait_for(ws.receive(), idle_s)
    except asyncio.TimeoutError:
        raise Dropped(f"nothing received for {idle_s:g} s", CloseCode.START_TIMEOUT) from None
    if message["type"] == "websocket.disconnect":
        code = message.get("code", 1005)
        if code == CloseCode.FRAME_TOO_LARGE:   # cut by the websocket layer: a client error, not a drop
            raise ProtocolError(CloseCode.FRAME_TOO_LARGE, "message larger than the server accepts")
        raise Dropped(f"socket closed by the sender ({code})", peer_code=code)
    return message


async def send_quietly(ws: WebSocket, message: dict) -> None:
    """Send unless the socket is already gone (an error reply on a dying socket)."""
    try:
        await ws.send_json(message)
    except (RuntimeError, WebSocketDisconnect):
        pass


async def close_socket(ws: WebSocket, code: int, reason: str = "") -> None:
    if ws.application_state != WebSocketState.DISCONNECTED and ws.client_state != WebSocketState.DISCONNECTED:
        try:
            await ws.close(code=code, reason=reason)
        except (RuntimeError, WebSocketDisconnect):
            pass


async def run_socket(ws: WebSocket, name: str, converse: Callable[[Connection], Awaitable[None]],
                     error_reply: Callable[[WebSocket, ProtocolError], Awaitable[None]] | None = None,
                     on_ended: Callable[[Connection], Awaitable[None]] | None = None) -> None:
    """Run one accepted websocket's call (``ferryman.calls.feed.run_connection``): ``converse``
    speaks the protocol until the call ends or fails; a protocol error is answered the protocol's
    own way (``error_reply``) before the close; ``on_ended`` says goodbye after a normal end."""

    async def reply(exc: ProtocolError) -> None:
        if error_reply is not None:
            await error_reply(ws, exc)

    async def close(code: int, reason: str) -> None:
        await close_socket(ws, code, reason)

    await run_connection(name, Connection(ws.app.state.services), converse, reply, close,
                         drops=(WebSocketDisconnect,), on_ended=on_ended)
