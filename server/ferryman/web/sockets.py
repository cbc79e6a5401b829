"""Small pieces every socket that carries call audio uses (our ingest socket, each gateway)."""

from __future__ import annotations

import asyncio

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ferryman.ingest.protocol import CloseCode, Dropped, ProtocolError

__all__ = ["Dropped", "close_socket", "receive", "send_quietly"]


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
