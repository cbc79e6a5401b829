"""The listen-in socket: ``/ws/calls/{call_id}/listen`` (supervisors only).

After the auth message, binary frames carry the live call's audio as ``calls.listen`` encodes it
(channel, call time, 8 kHz PCM), from whichever node of the floor carries the call (Redis
pub/sub). Every listen is recorded on the call: a ``listen`` event when it starts and when it
stops. The socket closes with 1000 when the call ends, 4409 if the call is not live.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from ferryman.bus.streams import TERMINAL_STATES
from ferryman.calls.listen import LISTENER_TTL_S, audio_channel, listening_key
from ferryman.events import ListenEvent
from ferryman.ingest.protocol import CloseCode, ProtocolError, check_call_id
from ferryman.web.auth import Principal
from ferryman.web.subscribe import authenticate_socket, refuse_socket, serve_subscriber

REFRESH_S = 2.0


async def listen_socket(ws: WebSocket, call_id: str) -> None:
    await ws.accept()
    svc = ws.app.state.services
    try:
        check_call_id(call_id)
        who = await authenticate_socket(ws, ("supervisor",))
        info = await svc.bus.call_info(call_id)
        if info.get("state") != "started":
            raise ProtocolError(CloseCode.CHANNEL_BUSY, f"call {call_id} is not live")
    except ProtocolError as exc:
        await refuse_socket(ws, exc)
        return
    except WebSocketDisconnect:
        return
    await serve_subscriber(ws, who, lambda: _listen(ws, who, call_id, float(info["started_at"])))


async def _listen(ws: WebSocket, who: Principal, call_id: str, started_at: float) -> None:
    svc = ws.app.state.services
    pubsub = svc.audio_redis.pubsub()
    recorded = False
    try:                           # whatever fails from here on, the pub/sub connection goes back
        await pubsub.subscribe(audio_channel(call_id))
        await svc.redis.set(listening_key(call_id), who.name, ex=LISTENER_TTL_S)
        await _record(ws, call_id, started_at, "started", who)
        recorded = True
        await _forward(ws, pubsub, call_id)
    finally:
        await pubsub.aclose()
        if recorded and (await svc.bus.call_info(call_id)).get("state") not in TERMINAL_STATES:
            await _record(ws, call_id, started_at, "stopped", who)


async def _forward(ws: WebSocket, pubsub, call_id: str) -> None:
    """Audio chunks to the browser until the call ends; the listener key kept alive meanwhile."""
    svc = ws.app.state.services
    loop = asyncio.get_running_loop()
    refreshed = loop.time()
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            await ws.send_bytes(message["data"])
        if loop.time() - refreshed >= REFRESH_S:
            refreshed = loop.time()
            # SET, not EXPIRE: a key that lapsed while a send was stuck comes back
            await svc.redis.set(listening_key(call_id), "1", ex=LISTENER_TTL_S)
            if (await svc.bus.call_info(call_id)).get("state") in TERMINAL_STATES:
                await ws.close(CloseCode.NORMAL, "call ended")
                return


async def _record(ws: WebSocket, call_id: str, started_at: float, state: str, who: Principal) -> None:
    event = ListenEvent(call_id=call_id, t=round(max(0.0, time.time() - started_at), 3), state=state, by=who.name)
    await ws.app.state.services.bus.append(event)
