"""What every websocket gateway shares: who may connect (the call itself runs through
``ferryman.web.sockets.run_socket``, as our own ingest socket's does) — so that each protocol
module only speaks its own wire format.

A gateway's call is the PBX's own id (channel UUID, callSid, conversation id). Its case and
agent come from the connection's metadata or from the dialer's registration (``POST
/api/calls``), waited for a few seconds; a call nobody registered is transcribed without a case.
A PBX cannot resend audio: a leg that drops and comes back within the grace goes on from now,
numbering continued, nothing transcribed twice; a newer connection of a leg takes its channel
over from an older one that may be half-open.
"""

from __future__ import annotations

import logging

from fastapi import WebSocket
from starlette.responses import PlainTextResponse

from ferryman.calls.feed import Connection
from ferryman.events import Channel
from ferryman.ingest.protocol import CloseCode
from ferryman.web.auth import AuthError

log = logging.getLogger(__name__)

__all__ = ["Connection", "gateway_token_ok", "other", "refuse_upgrade"]


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
