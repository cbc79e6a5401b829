"""The ingest websocket protocol: messages, validation and close codes (no I/O here).

    client -> server   text   {"type": "start", "token", "case_id", "agent_id", "sample_rate",
                               "encoding", "channels", ["channel"]}   (token: a gateway token)
    server -> client   text   {"type": "started", "call_id", "channels": [...]}
    client -> server   binary audio frames (interleaved L=agent / R=customer when channels=2)
    client -> server   text   {"type": "ping"}   (any time; keeps a quiet socket open)
    client -> server   text   {"type": "stop"}
    server -> client   text   {"type": "stopped", "call_id", "finals": n}, then close 1000

A socket started with ``"source": "transcript"`` carries finished turns of a recogniser
elsewhere (or a recorded call's reference turns) instead of audio, as text messages
    client -> server   text   {"type": "turn", "channel": "agent"|"customer", "text", "start", "end"}
and they go through the same pipeline (hints, records, panels) as transcribed audio.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import IntEnum
from typing import Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ferryman.calls.contact import plausible_placement
from ferryman.events import Channel
from ferryman.ids import AgentIdField, IdField, describe_id_rule, valid_id


class CloseCode(IntEnum):
    NORMAL = 1000
    INTERNAL_ERROR = 1011
    FRAME_TOO_LARGE = 1009
    TRY_AGAIN_LATER = 1013    # this node is at capacity: try again later, or another node
    BAD_MESSAGE = 4400        # unparsable or invalid control message, malformed audio frame
    CASE_NOT_FOUND = 4404
    CHANNEL_BUSY = 4409       # the channel of this call is already being streamed
    OUT_OF_ORDER = 4412       # audio before start, a second start, ...
    UNSUPPORTED_AUDIO = 4415  # sample rate / encoding / channel layout not supported
    START_TIMEOUT = 4408
    UNAUTHENTICATED = 4401    # no or unknown access token
    FORBIDDEN = 4403          # the token's role may not use this socket, or not for this call
    TOO_MANY_SOCKETS = 4429   # this token already holds its share of open sockets on this node


class ProtocolError(Exception):
    def __init__(self, code: CloseCode, reason: str):
        super().__init__(reason)
        self.code = code
        # websocket close reasons are limited to 123 bytes of UTF-8
        self.reason = reason.encode()[:123].decode(errors="ignore")


SUPPORTED_RATES = (8000, 16000)
SUPPORTED_ENCODINGS = ("pcm_s16le", "mulaw")


class StartMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["start"]
    token: str | None = Field(None, repr=False)
    case_id: IdField | None = Field(None, description="may be left out for a call registered beforehand")
    agent_id: AgentIdField | None = Field(None, description="may be left out for a call registered beforehand")
    source: Literal["audio", "transcript"] = "audio"
    sample_rate: int | None = Field(None, description="required for audio")
    encoding: str = "pcm_s16le"
    channels: int = 2
    channel: Channel | None = Field(None, description="required when channels == 1")
    placed_at: AwareDatetime | None = Field(None, description="when the dialer placed the call (ISO 8601 "
                                                              "with a zone), for the contact rules")

    @field_validator("placed_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        return plausible_placement(value)

    @model_validator(mode="after")
    def _mono_names_its_channel(self) -> "StartMessage":
        if self.source == "audio" and self.sample_rate is None:
            raise ValueError("sample_rate is required for audio")
        if self.channels == 1 and self.channel is None:
            raise ValueError("channel ('agent' or 'customer') is required when channels is 1")
        if self.channels == 2 and self.channel is not None:
            raise ValueError("channel must be omitted when channels is 2 (L=agent, R=customer)")
        return self

    @property
    def channel_names(self) -> list[Channel]:
        return ["agent", "customer"] if self.channels == 2 else [self.channel]  # type: ignore[list-item]


def check_call_id(call_id: str) -> None:
    """The call id in a socket's URL (every socket that names a call)."""
    if not valid_id(call_id):
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"call id must be {describe_id_rule()} characters")


class Dropped(Exception):
    """The sender went away without ending the call, or went quiet (then ``close_code`` is what
    we close with): the call waits the reconnect grace for it."""

    def __init__(self, reason: str, close_code: int | None = None, peer_code: int | None = None):
        super().__init__(reason)
        self.close_code, self.peer_code = close_code, peer_code

    @property
    def said_goodbye(self) -> bool:
        """The sender closed normally (1000/1001): for a PBX that ends a stream by closing, the
        end of the leg, not a drop."""
        return self.peer_code in (1000, 1001)


def first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "message"
    return f"{field}: {err['msg']}"


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: object, what: str, code: CloseCode = CloseCode.BAD_MESSAGE) -> M:
    """``data`` as ``model``, or the protocol error that names the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(code, f"bad {what}: {first_error(exc)}") from exc


def parse_json_object(text: str | None, what: str = "control message") -> dict:
    """A text frame that must hold one JSON object."""
    try:
        data = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"{what} is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"{what} must be a JSON object")
    return data


def parse_control(text: str) -> dict:
    data = parse_json_object(text)
    if not isinstance(data.get("type"), str):
        raise ProtocolError(CloseCode.BAD_MESSAGE, "control message must be a JSON object with a 'type'")
    return data


def parse_start(data: dict) -> StartMessage:
    if data["type"] != "start":
        raise ProtocolError(CloseCode.OUT_OF_ORDER, f"expected 'start' first, got '{data['type']}'")
    start = validated(StartMessage, data, "start message")
    if start.source == "transcript":
        return start
    if start.sample_rate not in SUPPORTED_RATES:
        raise ProtocolError(CloseCode.UNSUPPORTED_AUDIO,
                            f"sample_rate {start.sample_rate} not supported (use 8000 or 16000)")
    if start.encoding not in SUPPORTED_ENCODINGS:
        raise ProtocolError(CloseCode.UNSUPPORTED_AUDIO,
                            f"encoding '{start.encoding}' not supported (use pcm_s16le or mulaw)")
    if start.channels not in (1, 2):
        raise ProtocolError(CloseCode.UNSUPPORTED_AUDIO, f"channels {start.channels} not supported (1 or 2)")
    return start


class TurnMessage(BaseModel):
    """One finished turn on a transcript socket."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["turn"]
    channel: Channel
    text: str = Field(min_length=1, max_length=2000)
    start: float = Field(ge=0, le=86_400)
    end: float = Field(ge=0, le=86_400)

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> "TurnMessage":
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


def parse_turn(data: dict, start: StartMessage) -> TurnMessage:
    if start.source != "transcript":
        raise ProtocolError(CloseCode.BAD_MESSAGE, "turn messages need a socket started with source 'transcript'")
    turn = validated(TurnMessage, data, "turn message")
    if turn.channel not in start.channel_names:
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"channel {turn.channel} is not one of this socket's")
    return turn
