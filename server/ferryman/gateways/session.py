"""What every websocket gateway shares: who may connect, and running the connection's call
(``ferryman.calls.feed``: ``Connection``, ``run_connection``) over a websocket — so that each
protocol module only speaks its own wire format.

A gateway's call is the PBX's own id (channel UUID, callSid, conversation id). Its case and
agent come from the connection's metadata or from the dialer's registration (``POST
/api/calls``), waited for a few seconds; a call nobody registered is transcribed without a case.
A PBX cannot resend audio: a leg that drops and comes back within the grace goes on from now,
numbering continued, nothing transcribed twice; a newer connection of a leg takes its channel
over from an older one that may be half-open.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from fastapi import WebSocket
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocketDisconnect

from ferryman.calls.feed import Connection, run_connection
from ferryman.events import Channel
from ferryman.ingest.protocol import CloseCode, ProtocolError
from ferryman.web.auth import AuthError
from ferryman.web.sockets import close_socket

log = logging.getLogger(__name__)

__all__ = ["Connection", "gateway_token_ok", "other", "refuse_upgrade", "run_gateway"]


def other(channel: Channel) -> Channel:
    return "agent" if channel == "customer" else "customer"


async def refuse_upgrade(ws: WebSocket, status: int, reason: str) -> None:
    """An HTTP error instead of the websocket (how a PBX reports bad credentials); a close
    before accept where the server cannot send one."""
    log.info("gateway %s refused (%d): %s", ws.url.path, status, reason)
    try:
        await ws.send_denial_response(PlainTextResponse(reason, status_code=status))
    except RuntimeError:
        await ws.close(code=CloseCode.UNAUTHENTICATED if status == 401 else CloseCode.FORBIDDEN, reason=reason)


def gateway_token_ok(ws: WebSocket, token: str | None) -> AuthError | None:
    """None when ``token`` is a valid gateway token, else why not."""
    try:
        ws.app.state.services.tokens.authenticate(token, ("gateway",))
    except AuthError as exc:
        return exc
    return None


ErrorReply = Callable[[WebSocket, ProtocolError], Awaitable[None]]


async def run_gateway(ws: WebSocket, name: str, converse: Callable[[Connection], Awaitable[None]],
                      error_reply: ErrorReply | None = None) -> None:
    """Run one accepted gateway websocket: ``converse`` speaks the protocol until the call ends
    (returns) or fails; a protocol error is answered in the protocol's own way (``error_reply``)
    before the close."""

    async def reply(exc: ProtocolError) -> None:
        if error_reply is not None:
            await error_reply(ws, exc)

    async def close(code: int, reason: str) -> None:
        await close_socket(ws, code, reason)

    await run_connection(f"{name} gateway", Connection(ws.app.state.services), converse, reply, close,
                         drops=(WebSocketDisconnect,))
