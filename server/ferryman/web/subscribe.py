"""Subscriber sockets: a call's events, and the floor (every call's lifecycle, hints, mood).

    /ws/calls/{call_id}?after=<id>   one call's events after the given stream id; closes 1000
                                     after the call's final ``call`` event (ended or dropped)
    /ws/floor[?after=<id>]           without ``after``: first a ``snapshot`` message (the live
                                     calls, the recent alerts and who was on their calls,
                                     the floor stream id they were read at; for the wall,
                                     each call's latest cards, acknowledged cards, promise
                                     and latest call second, and the calls ended recently),
                                     then the floor events after it (an ``ack`` names its
                                     card's ``card_code`` and ``card_t``)

The client's first message is ``{"type": "auth", "token": "..."}``; an unknown token closes the
socket with 4401, a role or call it may not see with 4403, a token that already holds its share
of sockets on this node (``FERRYMAN_MAX_SOCKETS_PER_TOKEN``) with 4429. If the events cannot be
read (Redis gone for good), the socket closes with 1011 and the reason. Each event carries its stream ``id``;
a client that reconnects with the last id it saw gets exactly what it missed. Agents see only
their own calls; supervisors see every call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import AsyncIterator, Awaitable, Callable

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from ferryman.bus.streams import TERMINAL_STATES
from ferryman.events import CallEvent, Event
from ferryman.ids import loggable, valid_stream_id
from ferryman.ingest.protocol import CloseCode, ProtocolError, check_call_id, parse_control
from ferryman.web.auth import FOLLOW_CALL, READ_CALLS, AuthError, Principal
from ferryman.web.views import call_summary, server_time, visible_live_calls, wall_state

log = logging.getLogger(__name__)
SNAPSHOT_ALERTS = 50


async def authenticate_socket(ws: WebSocket, roles: tuple[str, ...]) -> Principal:
    """The principal behind the socket's first message; ``ProtocolError`` when refused."""
    try:
        message = await asyncio.wait_for(ws.receive_text(), ws.app.state.services.settings.start_timeout_s)
    except asyncio.TimeoutError:
        raise ProtocolError(CloseCode.UNAUTHENTICATED, "no auth message") from None
    except KeyError:   # a binary frame
        raise ProtocolError(CloseCode.BAD_MESSAGE, "the first message must be a JSON auth message") from None
    control = parse_control(message)
    if control["type"] != "auth":
        raise ProtocolError(CloseCode.UNAUTHENTICATED, f"expected an auth message first, got '{control['type']}'")
    try:
        return ws.app.state.services.tokens.authenticate(control.get("token"), roles)
    except AuthError as exc:
        raise exc.as_protocol_error() from None


def _after(ws: WebSocket, default: str | None) -> str | None:
    after = ws.query_params.get("after") or default
    if after is not None and not valid_stream_id(after):
        raise ProtocolError(CloseCode.BAD_MESSAGE,
                            f"'after' must be a stream id like 1700000000000-0, not {after[:40]!r}")
    return after



async def _until_disconnect(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass  # subscribers have nothing more to say; ignore anything they send


async def serve_subscriber(ws: WebSocket, who: Principal, forward: Callable[[], Awaitable[None]]) -> None:
    """Run ``forward()`` until it ends or the client goes away, within the token's socket quota,
    while the token stays valid; a failure closes the socket with its code (1011 for anything
    but a protocol error)."""
    try:
        with ws.app.state.services.sockets.hold(who):
            await _forward_until_disconnect(ws, forward(), _while_valid(ws, who))
    except ProtocolError as exc:
        await refuse_socket(ws, exc)
    except Exception as exc:    # a socket's failure is never the server's
        log.error("subscriber socket %s failed: %s", loggable(ws.url.path), exc)
        await refuse_socket(ws, ProtocolError(CloseCode.INTERNAL_ERROR, f"events unavailable: {type(exc).__name__}"))


async def _while_valid(ws: WebSocket, who: Principal, every_s: float = 1.0) -> None:
    """Ends the socket (4401) once its token is removed from the tokens file or expires."""
    tokens = ws.app.state.services.tokens
    while True:
        await asyncio.sleep(every_s)
        if not tokens.still_valid(who):
            raise ProtocolError(CloseCode.UNAUTHENTICATED, "access token revoked or expired")


async def _forward_until_disconnect(ws: WebSocket, forward, watch) -> None:
    tasks = [asyncio.create_task(forward), asyncio.create_task(_until_disconnect(ws)), asyncio.create_task(watch)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = None if task.cancelled() else task.exception()
            if isinstance(exc, Exception) and not isinstance(exc, (WebSocketDisconnect, RuntimeError)):
                raise exc
    finally:
        for task in tasks:
            task.cancel()


async def _send_events(ws: WebSocket, events: AsyncIterator[Event], stop_at_end: bool) -> None:
    async for event in events:
        await ws.send_text(event.to_json())
        if stop_at_end and isinstance(event, CallEvent) and event.state in TERMINAL_STATES:
            await ws.close(CloseCode.NORMAL, f"call {event.state}")
            return


async def refuse_socket(ws: WebSocket, exc: ProtocolError) -> None:
    try:
        await ws.close(exc.code, exc.reason)
    except (RuntimeError, WebSocketDisconnect):
        pass


async def calls_socket(ws: WebSocket, call_id: str) -> None:
    await ws.accept()
    try:
        check_call_id(call_id)
        after = _after(ws, "0-0")
        who = await authenticate_socket(ws, FOLLOW_CALL)
        info = await ws.app.state.services.bus.call_info(call_id)
        # a call not started yet may be waited for, but not by an agent: it is no one's call yet
        visible = who.may_see_call(info.get("agent_id")) if info else who.role != "agent"
        if not visible:
            raise ProtocolError(CloseCode.FORBIDDEN, f"call {call_id} is not one of {who.name}'s calls")
    except ProtocolError as exc:
        await refuse_socket(ws, exc)
        return
    except WebSocketDisconnect:
        return
    await serve_subscriber(ws, who, lambda: _send_events(ws, ws.app.state.services.bus.follow(call_id, after),
                                               stop_at_end=True))


class _CallOwners:
    """Which agent each call belongs to (floor events carry only the call id)."""

    def __init__(self, bus):
        self._bus, self._owner = bus, {}

    async def owner(self, event: Event) -> str | None:
        if isinstance(event, CallEvent) and event.state == "started":
            self._owner[event.call_id] = event.agent_id
        if event.call_id not in self._owner:
            self._owner[event.call_id] = (await self._bus.call_info(event.call_id)).get("agent_id")
        return self._owner[event.call_id]

    async def visible(self, who: Principal, event: Event) -> bool:
        return who.role != "agent" or who.may_see_call(await self.owner(event))


async def _visible(events: AsyncIterator[Event], who: Principal, owners: _CallOwners) -> AsyncIterator[Event]:
    async for event in events:
        if await owners.visible(who, event):
            yield event


async def _snapshot(ws: WebSocket, who: Principal, owners: _CallOwners) -> str:
    """Send the floor as it is now; returns the floor stream id the snapshot was read at."""
    state = ws.app.state.services
    last, recent = await state.bus.floor_tail(SNAPSHOT_ALERTS * 4)
    alerts = [e for e in recent if e.type in ("hint", "contact_rule", "coach") and await owners.visible(who, e)]
    alerts = alerts[-SNAPSHOT_ALERTS:]
    calls = await visible_live_calls(state, who)
    # the wall's extras (cards, acks, promises; the recently ended): not for an agent's panel
    recent = await wall_state(state, who, calls, last) if who.role == "supervisor" else []
    # alerts may come from calls that have ended since: name their people too
    alert_calls = {}
    for call_id in dict.fromkeys(e.call_id for e in alerts):
        summary = await call_summary(state, call_id)
        if summary:
            alert_calls[call_id] = {"agent_name": summary["agent_name"], "customer": summary["customer"]}
    await ws.send_text(json.dumps({
        "type": "snapshot", "id": last, "server_time": server_time(),
        "who": {"role": who.role, "agent_id": who.agent_id, "name": who.name},
        "calls": calls, "alerts": [json.loads(e.to_json()) for e in alerts], "alert_calls": alert_calls,
        "recent": recent,
    }, ensure_ascii=False))
    return last


async def floor_socket(ws: WebSocket) -> None:
    await ws.accept()
    try:
        after = _after(ws, None)
        who = await authenticate_socket(ws, READ_CALLS)
    except ProtocolError as exc:
        await refuse_socket(ws, exc)
        return
    except WebSocketDisconnect:
        return
    await serve_subscriber(ws, who, lambda: _floor(ws, who, after))


async def _floor(ws: WebSocket, who: Principal, after: str | None) -> None:
    owners = _CallOwners(ws.app.state.services.bus)
    if after is None:
        after = await _snapshot(ws, who, owners)
    events = _visible(ws.app.state.services.bus.follow_floor(after), who, owners)
    await _send_events(ws, events, stop_at_end=False)
