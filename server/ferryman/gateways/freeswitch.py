"""FreeSWITCH ``mod_audio_fork`` (drachtio; the same framing as ``mod_audio_stream`` and jambonz
``listen``) at ``/ws/gateways/freeswitch``.

    uuid_audio_fork <uuid> start ws://ferryman:8000/ws/gateways/freeswitch stereo 8k {"call_id": ...}

The module opens a websocket with the subprotocol ``audio.drachtio.org`` (HTTP Basic on the
upgrade when the channel variables ``MOD_AUDIO_BASIC_AUTH_USERNAME/PASSWORD`` are set), sends its
metadata argument as one text frame, then binary frames of 16-bit little-endian PCM (any
multiple of 20 ms) at 8 or 16 kHz (or another multiple of 8 kHz): ``mono`` (the tapped leg's
read side: its own voice), ``mixed`` (both parties in one channel) or ``stereo`` (left = read
side, the leg's own voice; right = write side, what it hears: the other party). It closes with
1000 on ``stop`` and on hang-up, and never reconnects by itself; ``graceful-shutdown`` sends
one empty binary frame first.

Nothing on the wire says which: the metadata (or the URL's query, when the fork has no
metadata) does; ``mix`` and ``rate`` are required, as in the command —

    {"call_id": "<the call, else the uuid>", "uuid": "${uuid}", "case_id"?, "agent_id"?,
     "mix": "mono"|"mixed"|"stereo", "rate": 8000|16000, "channel": "agent"|"customer" (mono,
     mixed), "left": "agent"|"customer" (stereo; default FERRYMAN_FREESWITCH_LEFT)}

A mono fork of a leg the dialer registered (``legs``) finds its call and channel by ``uuid``.
Credentials: a gateway token as the Basic password (any user name), or as ``?token=``. Later
text frames (``uuid_audio_fork … send_text``) are read and ignored; a protocol error is sent
as the module's ``{"type": "error", "data": …}`` message before the close.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from fastapi import WebSocket
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ferryman.events import Channel
from ferryman.gateways.session import Connection, gateway_token_ok, other, refuse_upgrade
from ferryman.ids import AgentIdField, IdField
from ferryman.ingest.protocol import CloseCode, ProtocolError, parse_json_object, validated
from ferryman.web.sockets import Dropped, receive, run_socket, send_quietly

SUBPROTOCOL = "audio.drachtio.org"


class ForkMetadata(BaseModel):
    """The metadata text frame (merged over the URL's query)."""

    model_config = ConfigDict(extra="ignore")

    call_id: IdField | None = None
    uuid: IdField | None = Field(None, description="the tapped channel's UUID")
    case_id: IdField | None = None
    agent_id: AgentIdField | None = None
    mix: Literal["mono", "mixed", "stereo"] = Field(description="as in the uuid_audio_fork command")
    rate: int = Field(description="as in the command: 8000, 16000 or another multiple of 8000 up to 64000")
    channel: Channel | None = Field(None, description="mono/mixed: whose voice it is")
    left: Channel | None = Field(None, description="stereo: whose voice the left channel is")

    @field_validator("rate")
    @classmethod
    def _module_rate(cls, rate: int) -> int:
        if rate % 8000 or not 8000 <= rate <= 64000:
            raise ValueError(f"rate {rate} is not one the module sends (8k, 16k, ... 64k)")
        return rate


def basic_password(header: str | None) -> str | None:
    """The password of an ``Authorization: Basic`` header (None if there is none)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


def parse_metadata(text: str | None, query: dict) -> ForkMetadata:
    """The metadata text frame merged over the URL's query (``text`` None: the fork was started
    without metadata, the query says it all)."""
    data = parse_json_object(text, "metadata") if text and text.strip() else {}
    merged = {k: v for k, v in query.items() if k != "token"} | data
    if "rate" in merged:
        merged["rate"] = _rate(merged["rate"])
    missing = [key for key in ("mix", "rate") if key not in merged]
    if missing:
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"metadata (or the URL's query) must give {' and '.join(missing)} "
                                                   "as in the uuid_audio_fork command (e.g. stereo, 8k)")
    return validated(ForkMetadata, merged, "metadata")


def _rate(value: object) -> object:
    """``8k`` / ``16k`` as the API spells them, or a number (as text in a query)."""
    text = str(value).strip().lower()
    return int(text[:-1]) * 1000 if text.endswith("k") and text[:-1].isdigit() else \
        int(text) if text.isdigit() else value


async def _call_and_channels(call: Connection, meta: ForkMetadata, default_left: Channel
                             ) -> tuple[str, tuple[Channel, ...]]:
    """The call id and the channels the frames carry, in frame order."""
    if meta.mix == "stereo":
        left = meta.left or default_left
        call_id = meta.call_id or meta.uuid
        channels: tuple[Channel, ...] = (left, other(left))
    else:
        needs_leg = meta.uuid and not meta.call_id and not meta.channel    # only the leg says whose voice
        leg = await call.services.registry.wait_for_leg(
            meta.uuid, call.services.settings.registration_wait_s) if needs_leg else None
        call_id = meta.call_id or (leg[0] if leg else meta.uuid)
        channel = meta.channel or (leg[1] if leg else None)
        if channel is None:
            raise ProtocolError(CloseCode.BAD_MESSAGE, f"a {meta.mix} fork must say whose voice it carries "
                                                       "(metadata 'channel'), or be a registered leg")
        channels = (channel,)
    if not call_id:
        raise ProtocolError(CloseCode.BAD_MESSAGE, "metadata names no call_id and no uuid")
    return call_id, channels


async def _error_reply(ws: WebSocket, exc: ProtocolError) -> None:
    await send_quietly(ws, {"type": "error", "data": {"code": int(exc.code), "reason": exc.reason}})


async def freeswitch_socket(ws: WebSocket) -> None:
    settings = ws.app.state.services.settings
    token = basic_password(ws.headers.get("authorization")) or ws.query_params.get("token")
    if (refusal := gateway_token_ok(ws, token)) is not None:
        await refuse_upgrade(ws, refusal.status, refusal.reason)
        return
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)

    async def converse(call: Connection) -> None:
        call.token = token
        first = await receive(ws, settings.start_timeout_s)
        meta = parse_metadata(first.get("text"), dict(ws.query_params))   # no metadata: audio comes first
        call_id, channels = await _call_and_channels(call, meta, settings.freeswitch_left)
        feed = await call.open(call_id, channels, "pcm_s16le", meta.rate, meta.case_id, meta.agent_id)
        if first.get("bytes"):
            await feed.push_frame(first["bytes"])
        while True:
            try:
                message = await receive(ws, call.idle_s)
            except Dropped as exc:
                if exc.said_goodbye:      # `uuid_audio_fork … stop` or the hang-up: the module closes
                    return
                raise
            if message.get("bytes"):              # b"": graceful-shutdown, the end of the audio
                await feed.push_frame(message["bytes"])
            # text after the metadata: `send_text` (or stop's text) from the dialplan; nothing to do

    await run_socket(ws, "freeswitch gateway", converse, _error_reply)
