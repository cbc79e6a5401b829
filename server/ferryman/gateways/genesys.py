"""Genesys Cloud AudioHook (protocol version 2) at ``/ws/gateways/genesys``.

The AudioHook Monitor integration opens one websocket per streamed conversation to its
Connection URI, with these upgrade headers:

    X-API-KEY                  the integration's API key: here a Ferryman gateway token
    Audiohook-Organization-Id  the Genesys organization (UUID)
    Audiohook-Session-Id       this session (UUID; every message's ``id``)
    Audiohook-Correlation-Id   for Genesys' logs (UUID)
    Signature, Signature-Input RFC 9421, HMAC-SHA256 with the client secret: not verified here

Text frames are JSON messages of at most 64 KB; each side numbers its own from 1, one up each:

    client -> server  {"version": "2", "id", "type", "seq", "serverseq", "position": "PT1.23S", "parameters"}
    server -> client  {"version": "2", "id", "type", "seq", "clientseq", "parameters"}

    open      {organizationId, conversationId, participant {id, ani, aniName, dnis},
               media [{type: "audio", format: "PCMU"|"L16", channels: ["external", "internal"], rate: 8000}],
               language?, customConfig?, continuedSessions?}
              -> opened {media: [the offer taken], startPaused: false}   ([] offered: no audio comes)
    ping      {rtt?} -> pong {}
    paused {}, resumed {start?, discarded?}, discarded {start, discarded}: audio the client did not
              send (no audio comes while paused); start: the stream position of the gap, discarded:
              how long it was (PT3.5S)
    update    {language} -> updated {}
    error     {code, message}: the client's complaint (logged)
    close     {reason: end|disconnect|error|reconnect} -> closed {}, then the client closes the socket

After ``opened``, binary frames carry the audio: samples interleaved in the order of the chosen
offer's channels, ``external`` the customer, ``internal`` the agent; PCMU one byte a sample, L16
two (little-endian). The server ends a session with ``disconnect {reason: error|unauthorized|
completed, info}`` and answers the client's ``close`` with ``closed``. A connection probe (the
conversation or the participant all zeros) is opened and closed and makes no call.

The call id is the conversationId; case and agent come from the dialer's registration, or from
``customConfig`` / ``inputVariables`` keys ``case_id`` and ``agent_id``. The call opens in the
background once ``opened`` is out (the registration may take seconds, pings are answered
meanwhile); audio of that time waits in a ``Backlog``. Time the client left out (a pause, a
discard) moves the call's channels on by as much, so what is said next keeps its time on the
call. Everything about the protocol's state is in ``AudioHookSession`` (no I/O);
``genesys_socket`` moves its messages.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any, Awaitable, Callable, Literal

from fastapi import WebSocket
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from ferryman.calls.feed import CallFeed
from ferryman.events import Channel
from ferryman.gateways.session import Connection, gateway_token_ok, refuse_upgrade
from ferryman.ids import AgentIdField, IdField, loggable
from ferryman.ingest.audio import Encoding
from ferryman.ingest.protocol import CloseCode, ProtocolError, parse_json_object, validated
from ferryman.web.sockets import Dropped, receive, run_socket, send_quietly

log = logging.getLogger(__name__)

VERSION = "2"
NULL_UUID = "00000000-0000-0000-0000-000000000000"
MAX_TEXT = 65535                 # the reference implementation's limit on a text message
CLOSE_WAIT_S = 2.0               # after our disconnect: how long the client has to send its close
BACKLOG_S = 5.0                  # audio kept while the call opens (the registration wait's default)
CHANNELS: dict[str, Channel] = {"external": "customer", "internal": "agent"}
ENCODINGS: dict[str, Encoding] = {"PCMU": "mulaw", "L16": "pcm_s16le"}
PREFERENCE = (("PCMU", 2), ("PCMU", 1), ("L16", 2), ("L16", 1))    # both parties first, then the smaller codec
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID = re.compile(UUID_PATTERN)
_DURATION = re.compile(r"^PT(\d*\.)?\d+S$")


def choose_media(offers: list[Any]) -> int | None:
    """The index of the offer to take (None: nothing usable): PCMU at 8 kHz with both parties,
    else one party, else L16 likewise."""
    usable: dict[tuple[str, int], int] = {}
    for index, offer in enumerate(offers):
        if (kind := _usable(offer)) is not None:
            usable.setdefault(kind, index)
    return next((usable[kind] for kind in PREFERENCE if kind in usable), None)


def _usable(offer: Any) -> tuple[str, int] | None:
    if not isinstance(offer, dict) or offer.get("type") != "audio" or offer.get("rate") != 8000:
        return None
    channels = offer.get("channels")
    if offer.get("format") not in ENCODINGS or not isinstance(channels, list) or not 1 <= len(channels) <= 2:
        return None
    if len(set(map(str, channels))) != len(channels) or not all(ch in CHANNELS for ch in channels):
        return None
    return offer["format"], len(channels)


def seconds(duration: str) -> float:
    """``PT1.23S`` -> 1.23 (AudioHook's only duration form)."""
    return float(duration[2:-1])


def _duration(value: Any) -> float:
    if not isinstance(value, str) or not _DURATION.match(value):
        raise ValueError("must be a duration like PT1.5S")
    return seconds(value)


Seconds = Annotated[float, BeforeValidator(_duration)]
SequenceNumber = Annotated[StrictInt, Field(ge=0)]


class Envelope(BaseModel):
    """What every client message carries."""

    model_config = ConfigDict(extra="ignore", strict=True)

    version: Literal["2"]
    id: Annotated[str, Field(pattern=UUID_PATTERN)]
    type: StrictStr
    seq: SequenceNumber
    serverseq: SequenceNumber
    position: Seconds
    parameters: dict[str, Any]


class Participant(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None


class OpenParameters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    organizationId: str
    conversationId: str
    participant: Participant = Participant()
    media: list[Any]
    language: str | None = None
    customConfig: dict[str, Any] | None = None
    inputVariables: dict[str, Any] | None = None


class PartyConfig(BaseModel):
    """``case_id`` / ``agent_id`` as the integration's custom config or the flow's input variables name them."""

    model_config = ConfigDict(extra="ignore")

    case_id: IdField | None = None
    agent_id: AgentIdField | None = None


class Resumed(BaseModel):
    """``resumed``: where the pause began and how much audio it left out, when the client says."""

    model_config = ConfigDict(extra="ignore", strict=True)

    start: Seconds | None = None
    discarded: Seconds | None = None


class Discarded(Resumed):
    """``discarded``: audio the client dropped (a pause it reports, a backlog it could not send)."""

    start: Seconds
    discarded: Seconds


@dataclass(frozen=True)
class CallStart:
    """The call an ``open`` asks for."""

    call_id: str
    channels: tuple[Channel, ...]
    encoding: Encoding
    case_id: str | None = None
    agent_id: str | None = None
    rate: int = 8000

    @property
    def bytes_per_s(self) -> int:
        sample_bytes = 1 if self.encoding == "mulaw" else 2
        return self.rate * len(self.channels) * sample_bytes


@dataclass
class Step:
    """What one client message asks of the connection: replies to send (in order), a call to
    open (after the replies), seconds of the call that passed without its audio (``skip``), or
    the session's end (``closed`` sent): the call "ended", or "dropped" when the client closes
    to reconnect or after its own error."""

    replies: list[dict] = field(default_factory=list)
    start: CallStart | None = None
    skip: float = 0.0
    end: Literal["ended", "dropped"] | None = None


State = Literal["new", "open", "paused", "closed", "disconnecting"]


class AudioHookSession:
    """One AudioHook session's protocol state: sequence numbers, open/paused/closed, the media
    taken, the gaps in its audio. Input: a client message; output: the replies and what the
    connection must do. ``clock``: monotonic seconds (how long a pause lasted)."""

    def __init__(self, session_id: str | None = None, organization_id: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.id = session_id if session_id and _UUID.match(session_id) else None
        self.organization_id = organization_id
        self.clock = clock
        self.seq = 0              # the last message we sent
        self.clientseq = 0        # the last message the client sent
        self.position = 0.0       # the client's position in its audio stream, as its last message says
        self.state: State = "new"
        self.media: dict | None = None    # the offer taken (None: no audio will come)
        self.probe = False                # Genesys checking the endpoint: no call
        self._paused_at: float | None = None     # clock() when the pause began
        self._pause_reported = False              # a discard was reported during the pause
        self._gaps: dict[float, float] = {}       # stream position of a gap -> seconds already skipped
        self._handlers = {"open": self._open, "ping": self._ping, "close": self._close, "update": self._update,
                          "paused": self._paused, "resumed": self._resumed, "discarded": self._discarded,
                          "error": self._error}

    # -- messages in ------------------------------------------------------------------------
    def on_text(self, text: str) -> Step:
        if self.state == "disconnecting":
            return self._awaiting_close(text)
        message = self._envelope(text)
        handler = self._handlers.get(message.type)
        if handler is None:
            raise ProtocolError(CloseCode.BAD_MESSAGE, f"'{loggable(message.type, 40)}' is not a client message")
        return handler(message.parameters)

    def on_audio(self, payload: bytes) -> bool:
        """Whether a binary frame goes into the call (False: left out)."""
        if self.state == "new":
            raise ProtocolError(CloseCode.OUT_OF_ORDER, "audio before the session was opened")
        if self.state == "closed":
            raise ProtocolError(CloseCode.OUT_OF_ORDER, "audio after close")
        if self.state == "open" and self.media is None:
            raise ProtocolError(CloseCode.OUT_OF_ORDER, "audio on a session opened with no media")
        # paused: Genesys sends nothing; anything that comes anyway stays out (a secure pause keeps
        # card numbers out), and the pause's time is skipped when it ends
        return self.state == "open" and not self.probe

    def disconnect(self, error: ProtocolError) -> dict:
        """Our ``disconnect`` for a failure; the session then only waits for the client's close."""
        self.state = "disconnecting"
        reason = "unauthorized" if error.code in (CloseCode.UNAUTHENTICATED, CloseCode.FORBIDDEN) else "error"
        return self._reply("disconnect", {"reason": reason, "info": error.reason})

    # -- the envelope -----------------------------------------------------------------------
    def _envelope(self, text: str) -> Envelope:
        if len(text) > MAX_TEXT:
            raise ProtocolError(CloseCode.FRAME_TOO_LARGE, f"text message of {len(text)} characters (at most 64 KB)")
        message = validated(Envelope, parse_json_object(text, "message"), "AudioHook client message")
        if message.seq != self.clientseq + 1:
            raise ProtocolError(CloseCode.OUT_OF_ORDER, f"seq {message.seq} after {self.clientseq} "
                                                        "(must go up by one)")
        self.clientseq = message.seq
        if message.serverseq > self.seq:
            raise ProtocolError(CloseCode.BAD_MESSAGE, f"serverseq {message.serverseq} is ahead of ours ({self.seq})")
        if self.id is None:
            self.id = message.id
        elif message.id.lower() != self.id.lower():
            raise ProtocolError(CloseCode.BAD_MESSAGE, f"id {message.id} is not this session's ({self.id})")
        self.position = message.position
        return message

    def _reply(self, kind: str, parameters: dict | None = None) -> dict:
        self.seq += 1
        return {"version": VERSION, "id": self.id or NULL_UUID, "type": kind, "seq": self.seq,
                "clientseq": self.clientseq, "parameters": parameters or {}}

    # -- each message -----------------------------------------------------------------------
    def _open(self, parameters: dict) -> Step:
        if self.state != "new":
            raise ProtocolError(CloseCode.OUT_OF_ORDER, "a second open")
        params = validated(OpenParameters, parameters, "open parameters")
        if self.organization_id and params.organizationId.lower() != self.organization_id.lower():
            raise ProtocolError(CloseCode.FORBIDDEN, "organizationId differs from the Audiohook-Organization-Id header")
        index = choose_media(params.media)
        if index is None and params.media:
            raise ProtocolError(CloseCode.UNSUPPORTED_AUDIO, "no offered media is usable (PCMU or L16, 8000 Hz, "
                                                             "channels external/internal)")
        self.probe = NULL_UUID in (params.conversationId, params.participant.id)
        self.media = parameters["media"][index] if index is not None else None
        start = _call_start(params, self.media) if self.media is not None and not self.probe else None
        self.state = "open"
        opened = self._reply("opened", {"media": [self.media] if self.media else [], "startPaused": False})
        return Step([opened], start)

    def _ping(self, parameters: dict) -> Step:
        return Step([self._reply("pong")])

    def _close(self, parameters: dict) -> Step:
        reason = parameters.get("reason")
        self.state = "closed"
        log.info("audiohook session %s: the client closes (%s)", self.id, loggable(reason, 20))
        return Step([self._reply("closed")], end="dropped" if reason in ("reconnect", "error") else "ended")

    def _update(self, parameters: dict) -> Step:
        self._require_open("update")
        if not isinstance(parameters.get("language"), str):
            raise ProtocolError(CloseCode.BAD_MESSAGE, "update needs a 'language'")
        return Step([self._reply("updated")])

    def _paused(self, parameters: dict) -> Step:
        self._require_open("paused")
        if self.state != "paused":
            self.state, self._paused_at, self._pause_reported = "paused", self.clock(), False
        return Step()

    def _resumed(self, parameters: dict) -> Step:
        """The pause's gap as the client reports it (``discarded``); without a report, during the
        pause or now, as long as the pause lasted here."""
        self._require_open("resumed")
        gap = validated(Resumed, parameters, "resumed parameters")
        if gap.discarded is not None:
            skip = self._new_gap(gap.start, gap.discarded)
        elif self._paused_at is not None and not self._pause_reported:
            skip = max(0.0, self.clock() - self._paused_at)
        else:
            skip = 0.0
        self.state, self._paused_at = "open", None
        log.info("audiohook session %s resumed; the call goes on %.1f s later", self.id, skip)
        return Step(skip=skip)

    def _discarded(self, parameters: dict) -> Step:
        self._require_open("discarded")
        gap = validated(Discarded, parameters, "discarded parameters")
        self._pause_reported = self._pause_reported or self.state == "paused"
        skip = self._new_gap(gap.start, gap.discarded)
        log.info("audiohook session %s: the client discarded %.1f s of audio", self.id, gap.discarded)
        return Step(skip=skip)

    def _new_gap(self, start: float | None, discarded: float) -> float:
        """What of a reported gap is not skipped yet: Genesys may report the same gap (the same
        start) twice, in ``discarded`` and in ``resumed``."""
        key = round(self.position if start is None else start, 3)
        done = self._gaps.get(key, 0.0)
        self._gaps[key] = max(done, discarded)
        return max(0.0, discarded - done)

    def _error(self, parameters: dict) -> Step:
        log.warning("audiohook session %s: the client reports error %s: %s", self.id,
                    loggable(parameters.get("code"), 10), loggable(parameters.get("message"), 200))
        return Step()

    def _require_open(self, kind: str) -> None:
        if self.state not in ("open", "paused"):
            raise ProtocolError(CloseCode.OUT_OF_ORDER, f"'{kind}' in a session that is not open")

    def _awaiting_close(self, text: str) -> Step:
        """After our disconnect: only the client's close matters (answered), nothing else is checked."""
        try:
            message = parse_json_object(text, "message")
        except ProtocolError:
            return Step()
        if message.get("type") != "close":
            return Step()
        if isinstance(message.get("seq"), int):
            self.clientseq = message["seq"]
        self.state = "closed"
        return Step([self._reply("closed")], end="ended")


def _call_start(params: OpenParameters, offer: dict) -> CallStart:
    party = validated(PartyConfig, {**(params.inputVariables or {}), **(params.customConfig or {})}, "customConfig")
    channels = tuple(CHANNELS[name] for name in offer["channels"])
    return CallStart(params.conversationId, channels, ENCODINGS[offer["format"]], party.case_id, party.agent_id)


class Backlog:
    """What arrives for the call while it opens, in order: audio frames and gaps (seconds of the
    call without audio). At most ``limit_s`` of audio: the oldest frames beyond it are dropped
    and become a gap, so what is kept stays in its place on the call's timeline."""

    def __init__(self, bytes_per_s: int, limit_s: float = BACKLOG_S):
        self.bytes_per_s, self.limit = bytes_per_s, int(bytes_per_s * limit_s)
        self.items: deque[bytes | float] = deque()
        self.size = 0              # bytes of audio held
        self.dropped_s = 0.0       # audio dropped to stay within the limit

    def audio(self, frame: bytes) -> None:
        self.items.append(frame)
        self.size += len(frame)
        while self.size > self.limit:
            self._drop_oldest()

    def gap(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.items and isinstance(self.items[-1], float):
            self.items[-1] += seconds
        else:
            self.items.append(float(seconds))

    def take(self) -> list[bytes | float]:
        items, self.items, self.size = list(self.items), deque(), 0
        return items

    def _drop_oldest(self) -> None:
        """The first frame out; it and the gaps around it become one gap at the front."""
        lead = 0.0
        while isinstance(item := self.items.popleft(), float):
            lead += item
        self.size -= len(item)
        self.dropped_s += len(item) / self.bytes_per_s
        lead += len(item) / self.bytes_per_s
        while self.items and isinstance(self.items[0], float):
            lead += self.items.popleft()
        self.items.appendleft(lead)


# -- the connection ---------------------------------------------------------------------------
class CallOutlet:
    """Where a session's audio goes: the call, opened in the background once ``opened`` is out
    (the registration may take seconds and the client's pings want answers meanwhile); until its
    feed is ready, a ``Backlog``."""

    def __init__(self) -> None:
        self.feed: CallFeed | None = None
        self._opening: asyncio.Task[CallFeed] | None = None
        self._backlog: Backlog | None = None

    def open(self, call: Connection, start: CallStart) -> None:
        self._backlog = Backlog(start.bytes_per_s)
        self._opening = asyncio.create_task(call.open(start.call_id, start.channels, start.encoding, start.rate,
                                                      start.case_id, start.agent_id))

    @property
    def opening(self) -> bool:
        return self._opening is not None and self.feed is None

    async def receive(self, next_message: Callable[[], Awaitable[dict]]) -> dict:
        """The next message; meanwhile the call may finish opening (its backlog pushed) or fail
        (its error raised here)."""
        if not self.opening:
            return await next_message()
        receiving = asyncio.ensure_future(next_message())
        try:
            await asyncio.wait((receiving, self._opening), return_when=asyncio.FIRST_COMPLETED)
            if self._opening.done():
                await self._opened()
        except BaseException:
            await _settle(receiving)
            raise
        return await receiving

    async def audio(self, frame: bytes) -> None:
        if self.feed is not None:
            await self.feed.push_frame(frame)
        elif self._backlog is not None:
            self._backlog.audio(frame)

    async def skip(self, seconds: float) -> None:
        """Time of the call that passed without its audio (both channels)."""
        if seconds <= 0:
            return
        if self.feed is not None:
            await self.feed.skip(seconds)
        elif self._backlog is not None:
            self._backlog.gap(seconds)

    async def finish(self) -> None:
        """The session ends in order: the call's open waited for, what waited for it pushed."""
        if self.opening:
            await asyncio.wait((self._opening,))
            await self._opened()

    async def stop(self) -> None:
        """However the session ended: no open left running (its call, if it got one, is closed
        with the connection)."""
        if self._opening is not None:
            await _settle(self._opening)

    async def _opened(self) -> None:
        assert self._opening is not None and self._backlog is not None
        self.feed = self._opening.result()          # the open's error, if it failed
        backlog, self._backlog = self._backlog, None
        if backlog.dropped_s:
            log.warning("call %s: %.1f s of its first audio dropped while it opened (at most %g s are kept)",
                        loggable(self.feed.call_id), backlog.dropped_s, BACKLOG_S)
        for item in backlog.take():
            if isinstance(item, float):
                await self.feed.skip(item)
            else:
                await self.feed.push_frame(item)


async def _settle(task: asyncio.Future) -> None:
    """``task`` cancelled unless done, and waited for; its outcome is not wanted."""
    task.cancel()
    await asyncio.wait((task,))
    if not task.cancelled():
        task.exception()      # retrieved: not reported as never retrieved


async def _send(ws: WebSocket, replies: list[dict]) -> None:
    for reply in replies:
        await ws.send_text(json.dumps(reply, ensure_ascii=False))


async def _disconnect(ws: WebSocket, session: AudioHookSession, error: ProtocolError) -> None:
    """Our error as the protocol says: ``disconnect``, then the client's ``close`` answered with
    ``closed`` (waited for a little; the socket is closed after it either way)."""
    await send_quietly(ws, session.disconnect(error))
    deadline = asyncio.get_running_loop().time() + CLOSE_WAIT_S
    while session.state == "disconnecting":
        left = deadline - asyncio.get_running_loop().time()
        try:
            message = await receive(ws, left) if left > 0 else None
        except (Dropped, ProtocolError):
            return
        if message is None:
            return
        if message.get("text") is not None:
            for reply in session.on_text(message["text"]).replies:
                await send_quietly(ws, reply)


async def genesys_socket(ws: WebSocket) -> None:
    settings = ws.app.state.services.settings
    # AudioHook's own credential is the API key header (no token in the URL)
    if (refusal := gateway_token_ok(ws, ws.headers.get("x-api-key"))) is not None:
        await refuse_upgrade(ws, refusal.status, refusal.reason)
        return
    await ws.accept()
    session = AudioHookSession(ws.headers.get("audiohook-session-id"), ws.headers.get("audiohook-organization-id"))

    async def converse(call: Connection) -> None:
        call.token = ws.headers.get("x-api-key")
        outlet = CallOutlet()
        try:
            await _converse(call, outlet)
        finally:
            await outlet.stop()

    async def _converse(call: Connection, outlet: CallOutlet) -> None:
        while True:
            idle_s = settings.start_timeout_s if session.state == "new" else call.idle_s
            message = await outlet.receive(functools.partial(receive, ws, idle_s))
            if message.get("bytes") is not None:
                if message["bytes"] and session.on_audio(message["bytes"]):
                    await outlet.audio(message["bytes"])
                continue
            step = session.on_text(message.get("text") or "")
            # opened goes out before the call opens (in the background): the registration may
            # take a few seconds, and Genesys gives an open transaction about five
            await _send(ws, step.replies)
            if step.start is not None:
                outlet.open(call, step.start)
            await outlet.skip(step.skip)
            if step.end is not None:
                await outlet.finish()
            if step.end == "dropped":
                raise Dropped("the client closed the session to come back (close reason reconnect/error)",
                              close_code=CloseCode.NORMAL)
            if step.end == "ended":
                return

    async def error_reply(ws: WebSocket, error: ProtocolError) -> None:
        await _disconnect(ws, session, error)

    await run_socket(ws, "genesys gateway", converse, error_reply)
