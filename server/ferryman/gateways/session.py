"""What every websocket gateway shares: who may connect, one call's feed, and how the connection
ends — so that each protocol module only speaks its own wire format.

A gateway's call is the PBX's own id (channel UUID, callSid, conversation id). Its case and
agent come from the connection's metadata or from the dialer's registration (``POST
/api/calls``), waited for a few seconds; a call nobody registered is transcribed without a case.
A PBX cannot resend audio: a leg that drops and comes back within the grace goes on from now,
numbering continued, nothing transcribed twice.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from fastapi import WebSocket
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocketDisconnect

from ferryman.calls.feed import CallFeed, resolve_party
from ferryman.calls.live import FeedSpec
from ferryman.events import Channel
from ferryman.ids import loggable
from ferryman.ingest.audio import Encoding
from ferryman.ingest.protocol import CloseCode, ProtocolError, check_call_id
from ferryman.web.auth import AuthError
from ferryman.web.sockets import Dropped, close_socket

log = logging.getLogger(__name__)


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


class GatewayCall:
    """One connection's call: opened once its metadata is known, closed once, whatever happens."""

    def __init__(self, ws: WebSocket):
        self.ws = ws
        self.services = ws.app.state.services
        self.feed: CallFeed | None = None

    @property
    def idle_s(self) -> float:
        return self.services.settings.ingest_idle_s

    async def open(self, call_id: str, channels: tuple[Channel, ...], encoding: Encoding, sample_rate: int,
                   case_id: str | None = None, agent_id: str | None = None) -> CallFeed:
        svc = self.services
        check_call_id(call_id)
        party = await resolve_party(svc.cases, svc.registry, call_id, case_id, agent_id,
                                    svc.settings.registration_wait_s, case_optional=True)
        if party.case is None:
            log.warning("call %s: no registration and no case in its metadata; transcribing without a case",
                        loggable(call_id))
        spec = FeedSpec(channels, party.case_id, party.agent_id, resends=False)
        self.feed = await CallFeed.open(svc.calls, call_id, spec, party.case, encoding, sample_rate,
                                        svc.settings.max_frame_bytes)
        return self.feed

    async def close(self, dropped: bool, detail: str | None = None) -> None:
        if self.feed is not None:
            await self.feed.close(dropped=dropped, detail=detail)


ErrorReply = Callable[[WebSocket, ProtocolError], Awaitable[None]]


async def run_gateway(ws: WebSocket, name: str, converse: Callable[[GatewayCall], Awaitable[None]],
                      error_reply: ErrorReply | None = None) -> None:
    """Run one accepted gateway connection: ``converse`` speaks the protocol until the call ends
    (returns) or fails. A protocol error is answered in the protocol's own way (``error_reply``),
    then the socket closes with its code; a drop leaves the call waiting for the PBX to return."""
    call = GatewayCall(ws)
    try:
        await converse(call)
    except ProtocolError as exc:
        log.info("%s gateway: closing %d: %s", name, exc.code, loggable(exc.reason, 200))
        if error_reply is not None:
            await error_reply(ws, exc)
        await close_socket(ws, exc.code, exc.reason)
        await call.close(dropped=False, detail=exc.reason)
    except (Dropped, WebSocketDisconnect) as exc:
        log.info("%s gateway: %s", name, exc)
        if isinstance(exc, Dropped) and exc.close_code:
            await close_socket(ws, exc.close_code, str(exc))
        await call.close(dropped=True, detail=str(exc) or "socket dropped")
    except Exception:
        log.exception("%s gateway failed", name)
        await close_socket(ws, CloseCode.INTERNAL_ERROR, "internal error")
        await call.close(dropped=False, detail="internal error")
    else:
        await call.close(dropped=False)
        await close_socket(ws, CloseCode.NORMAL, "call ended")
