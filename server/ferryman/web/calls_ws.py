"""``/ws/calls/{call_id}?after=<stream id>``: a call's events, from after the given id, live.

Each message is one event as JSON with its stream ``id``; a client that reconnects with the
last id it saw gets exactly the events it missed. The socket closes (1000) after the call's
final ``call`` event (ended or dropped).
"""

from __future__ import annotations

import asyncio
import re

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from ferryman.bus.streams import TERMINAL_STATES
from ferryman.events import CallEvent
from ferryman.ingest.protocol import CloseCode

STREAM_ID = re.compile(r"^\d+(-\d+)?$")


async def _forward(ws: WebSocket, call_id: str, after: str) -> None:
    async for event in ws.app.state.bus.follow(call_id, after):
        await ws.send_text(event.to_json())
        if isinstance(event, CallEvent) and event.state in TERMINAL_STATES:
            await ws.close(CloseCode.NORMAL, f"call {event.state}")
            return


async def _until_disconnect(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass  # subscribers have nothing to say; ignore anything they send


async def calls_socket(ws: WebSocket, call_id: str) -> None:
    await ws.accept()
    after = ws.query_params.get("after") or "0-0"
    if not STREAM_ID.match(after):
        await ws.close(CloseCode.BAD_MESSAGE, f"'after' must be a stream id like 1700000000000-0, not {after!r}")
        return
    tasks = [asyncio.create_task(_forward(ws, call_id, after)), asyncio.create_task(_until_disconnect(ws))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and isinstance(task.exception(), Exception) \
                    and not isinstance(task.exception(), (WebSocketDisconnect, RuntimeError)):
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
