"""``/ws/ingest/{call_id}``: call audio in. The protocol is in ``ferryman.ingest.protocol``.

Any protocol error closes this socket with a specific code and reason; audio already received
is still finalised and the call ends cleanly (or goes on, fed by its other socket). Nothing
here can take down the server or another call.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ferryman.calls.live import AtCapacity
from ferryman.events import Channel
from ferryman.ids import loggable
from ferryman.ingest.audio import ASR_RATE, ChannelResampler, FrameError, split_frame
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

log = logging.getLogger(__name__)


class _Dropped(Exception):
    """The client went away without a stop message (or went silent: then we close on it)."""

    def __init__(self, reason: str, close_code: int | None = None):
        super().__init__(reason)
        self.close_code = close_code


async def _receive(ws: WebSocket) -> dict:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        code = message.get("code", 1005)
        if code == CloseCode.FRAME_TOO_LARGE:   # cut by the websocket layer: a client error, not a drop
            raise ProtocolError(CloseCode.FRAME_TOO_LARGE, "message larger than the server accepts")
        raise _Dropped(f"socket closed by client ({code})")
    return message


async def _receive_start(ws: WebSocket, timeout_s: float) -> StartMessage:
    try:
        message = await asyncio.wait_for(_receive(ws), timeout_s)
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


async def _with_registration(app, call_id: str, start: StartMessage) -> StartMessage:
    """The start message with the case and agent of the call's registration filled in (a PBX
    streams a channel; the dialer registered which case and agent it belongs to)."""
    if start.case_id and start.agent_id:
        return start
    registration = await app.registry.wait_for(call_id, app.settings.registration_wait_s)
    if registration is None:
        raise ProtocolError(CloseCode.CASE_NOT_FOUND, f"call {call_id} was not registered (POST /api/calls) and "
                                                      "its start message names no case and agent")
    if start.case_id and start.case_id != registration.case_id:
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"the start names case {start.case_id}; the call is "
                                                   f"registered for case {registration.case_id}")
    return start.model_copy(update={"case_id": registration.case_id,
                                    "agent_id": start.agent_id or registration.agent_id})


class _AudioIn:
    """Binary frames of one socket -> per-channel 16 kHz samples into the pipeline (after
    skipping, per channel, the audio a resumed call already transcribed)."""

    def __init__(self, start: StartMessage, pipeline, max_frame_bytes: int, skip_s: dict | None = None):
        self.start, self.pipeline, self.max_frame_bytes = start, pipeline, max_frame_bytes
        self.resamplers = {ch: ChannelResampler(start.sample_rate or ASR_RATE) for ch in start.channel_names}
        self.skip = {ch: int(round((skip_s or {}).get(ch, 0.0) * ASR_RATE)) for ch in start.channel_names}

    async def feed(self, payload: bytes) -> None:
        if self.start.source != "audio":
            raise ProtocolError(CloseCode.BAD_MESSAGE, "audio frame on a socket started with source 'transcript'")
        if len(payload) > self.max_frame_bytes:
            raise ProtocolError(CloseCode.FRAME_TOO_LARGE,
                                f"audio frame of {len(payload)} bytes exceeds {self.max_frame_bytes}")
        try:
            channels = split_frame(payload, self.start.encoding, self.start.channels)  # type: ignore[arg-type]
        except FrameError as exc:
            raise ProtocolError(CloseCode.BAD_MESSAGE, f"malformed audio frame: {exc}") from exc
        for name, samples in zip(self.start.channel_names, channels):
            samples = self.resamplers[name](samples)
            if self.skip[name]:
                dropped = min(self.skip[name], len(samples))
                samples, self.skip[name] = samples[dropped:], self.skip[name] - dropped
            if len(samples):
                await self.pipeline.push_audio_async(name, samples)


async def _stream(ws: WebSocket, audio: _AudioIn, idle_s: float) -> None:
    """Receive frames until the stop message. An audio socket sends all the time (silence too):
    one quiet for ``idle_s`` is a half-dead connection. A transcript socket may be quiet for
    minutes (a customer on hold), so it is not timed."""
    timeout = idle_s if audio.start.source == "audio" else None
    while True:
        try:
            message = await asyncio.wait_for(_receive(ws), timeout)
        except asyncio.TimeoutError:
            raise _Dropped(f"nothing received for {idle_s:g} s", CloseCode.START_TIMEOUT) from None
        if message.get("bytes") is not None:
            await audio.feed(message["bytes"])
            continue
        control = parse_control(message.get("text") or "")
        if control["type"] == "stop":
            return
        if control["type"] == "ping":           # a keep-alive a gateway may send; nothing to do
            continue
        if control["type"] == "turn":
            turn = parse_turn(control, audio.start)
            await audio.pipeline.push_turn(turn.channel, turn.text, turn.start, turn.end)
            continue
        if control["type"] == "start":
            raise ProtocolError(CloseCode.OUT_OF_ORDER, "a second start message on the same socket")
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"unknown message type '{control['type']}'")


async def _send(ws: WebSocket, message: dict) -> None:
    try:
        await ws.send_json(message)
    except (RuntimeError, WebSocketDisconnect):
        pass


async def _close(ws: WebSocket, code: int, reason: str = "") -> None:
    if ws.application_state != WebSocketState.DISCONNECTED and ws.client_state != WebSocketState.DISCONNECTED:
        try:
            await ws.close(code=code, reason=reason)
        except (RuntimeError, WebSocketDisconnect):
            pass


async def ingest_socket(ws: WebSocket, call_id: str) -> None:
    app = ws.app.state.services
    await ws.accept()
    channels: list[Channel] = []
    try:
        check_call_id(call_id)
        start = await _with_registration(app, call_id, await _receive_start(ws, app.settings.start_timeout_s))
        case = await app.cases.get(start.case_id)
        if case is None:
            raise ProtocolError(CloseCode.CASE_NOT_FOUND, f"case {start.case_id} not found; import it first")
        attached = await app.calls.attach(call_id, start, case)
        pipeline, channels = attached.pipeline, start.channel_names
        await ws.send_json({"type": "started", "call_id": call_id, "channels": channels,
                            "resume_from": attached.resume_from})
        await _stream(ws, _AudioIn(start, pipeline, app.settings.max_frame_bytes, attached.skip_s),
                      app.settings.ingest_idle_s)
    except ProtocolError as exc:
        log.info("ingest %s: closing %d: %s", loggable(call_id), exc.code, loggable(exc.reason, 200))
        if isinstance(exc, AtCapacity):      # the gateway reads where to go before the close
            await _send(ws, {"type": "refused", "code": int(exc.code), "reason": exc.reason, "nodes": exc.nodes})
        await _close(ws, exc.code, exc.reason)
        await app.calls.detach(call_id, channels, dropped=False, detail=exc.reason)
    except (_Dropped, WebSocketDisconnect) as exc:
        log.info("ingest %s: %s", loggable(call_id), exc)
        if isinstance(exc, _Dropped) and exc.close_code:
            await _close(ws, exc.close_code, str(exc))
        await app.calls.detach(call_id, channels, dropped=True, detail=str(exc) or "socket dropped")
    except Exception:
        log.exception("ingest %s failed", loggable(call_id))
        await _close(ws, CloseCode.INTERNAL_ERROR, "internal error")
        await app.calls.detach(call_id, channels, dropped=False, detail="internal error")
    else:
        await app.calls.detach(call_id, channels, dropped=False)
        await ws.send_json({"type": "stopped", "call_id": call_id, "finals": pipeline.final_count})
        await _close(ws, CloseCode.NORMAL, "stopped")
