"""Twilio Media Streams at ``/ws/gateways/twilio``.

    <Response><Start><Stream url="wss://ferryman.example.com/ws/gateways/twilio" track="both_tracks">
        <Parameter name="case_id" value="..."/> <Parameter name="agent_id" value="..."/>
    </Stream></Start> ... </Response>

Twilio opens a websocket to the ``wss://`` URL (it allows no query string there), signed with
``X-Twilio-Signature``: base64(HMAC-SHA1(account auth token, URL)) — the URL exactly as in the
TwiML, with no POST parameters to append on an upgrade. Every message is a JSON text frame:

    {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    {"event": "start", "sequenceNumber": "1", "streamSid": "MZ…", "start": {"accountSid", "streamSid",
     "callSid", "tracks": ["inbound", "outbound"], "customParameters": {<Parameter>s},
     "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}
    {"event": "media", "sequenceNumber": "N", "streamSid", "media": {"track": "inbound"|"outbound",
     "chunk": "N" (per track), "timestamp": "<ms since the stream started>", "payload": <base64 μ-law>}}
    {"event": "mark", …, "mark": {"name"}}      {"event": "dtmf", …, "dtmf": {"track", "digit"}}
    {"event": "stop", "sequenceNumber", "streamSid", "stop": {"accountSid", "callSid"}}

``sequenceNumber`` counts messages from "1"; a media chunk is usually 160 bytes (20 ms). The
inbound track is what Twilio receives from the call leg the TwiML runs on (that leg's party;
``FERRYMAN_TWILIO_INBOUND``, default the customer), outbound what Twilio sends to it (the other
party). Chunks of a track are put back in ``timestamp`` order and gaps filled with μ-law silence,
or skipped on the call's timeline when longer than 5 s (``TrackAligner``), so that the two tracks
keep their place on it; a chunk stamped far beyond the stream's age is dropped.

The call is the ``callSid`` (what the dialer registers with ``POST /api/calls``), or, when the
callSid is a leg the dialer registered (``legs``), that leg's call, its inbound track that leg's
channel. Credentials: with ``FERRYMAN_TWILIO_AUTH_TOKEN`` set, the signature, checked on the
upgrade (401 without a matching one); without it, a gateway token as the ``token`` Parameter
(checked at ``start``: 4401/4403) or as ``?token=`` (other clients; checked on the upgrade).
Twilio has no message for errors: a bad message closes the socket with its code and reason.
An event we do not know is ignored (Twilio may add some); ``start`` must come within
``FERRYMAN_START_TIMEOUT_S`` of the upgrade, whatever comes before it.
``stop`` ends the call; a socket closed without it is a drop, and a new stream of the same
callSid within the grace continues the call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import heapq
import hmac
import logging
import time
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from fastapi import WebSocket
from pydantic import BaseModel, ConfigDict, Field

from ferryman.calls.feed import CallFeed
from ferryman.events import Channel
from ferryman.gateways.session import Connection, gateway_token_ok, other, refuse_upgrade
from ferryman.ids import AgentIdField, IdField, loggable
from ferryman.ingest.protocol import CloseCode, ProtocolError, parse_json_object, validated
from ferryman.web.sockets import Dropped, receive, run_socket

log = logging.getLogger(__name__)

Track = Literal["inbound", "outbound"]
MEDIA_FORMAT = ("audio/x-mulaw", 8000, 1)
MULAW_SILENCE = b"\xff"           # μ-law of a zero sample


# -- X-Twilio-Signature ----------------------------------------------------------------------
def twilio_signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    """base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value, sorted by name))."""
    data = url + "".join(name + value for name, value in sorted((params or {}).items()))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def port_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the default one: proxies and Twilio's own
    signing differ on the port (Twilio's validators try both)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    variants = [url, urlunsplit(parts._replace(netloc=host))]
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{host}:443")))
    return list(dict.fromkeys(variants))


def signed_urls(path: str, query: str, public_url: str | None, host: str | None,
                forwarded_host: str | None = None) -> list[str]:
    """The ``wss://`` URLs the TwiML may have named for this request (Twilio streams only to
    wss): the configured public URL's host (and path prefix), the Host header, X-Forwarded-Host."""
    tail = path + (f"?{query}" if query else "")
    bases = []
    if public_url:
        parts = urlsplit(public_url if "//" in public_url else f"wss://{public_url}")
        prefix = parts.path.rstrip("/")
        bases.append(parts.netloc + ("" if path.startswith(prefix + "/") else prefix))
    bases += [h.split(",")[0].strip() for h in (forwarded_host, host) if h]
    return [variant for base in dict.fromkeys(b for b in bases if b)
            for variant in port_variants(f"wss://{base}{tail}")]


def signature_matches(auth_token: str, signature: str | None, urls: list[str]) -> bool:
    if not signature:
        return False
    expected = signature.strip().encode()
    # every candidate is compared (no early exit), each in constant time
    return sum(hmac.compare_digest(twilio_signature(auth_token, url).encode(), expected) for url in urls) > 0


def _request_urls(ws: WebSocket, public_url: str | None) -> list[str]:
    return signed_urls(ws.url.path, ws.url.query, public_url, ws.headers.get("host"),
                       ws.headers.get("x-forwarded-host"))


# -- reordering by timestamp ----------------------------------------------------------------
@dataclass(frozen=True)
class Gap:
    """Time on a track's timeline without its audio, too long to fill with silence: the
    channel goes on that much later (``CallFeed.skip``)."""

    seconds: float


Released = list[bytes | Gap]


class TrackAligner:
    """One track's μ-law chunks, put back in ``timestamp`` order on a timeline that starts at the
    stream's start, so that the two tracks stay aligned.

    A chunk that arrives ahead of a gap is held until ``hold_ms`` of audio waits beyond the
    gap (the missing chunk may still come), then the gap is filled with silence — or, longer
    than ``max_fill_ms``, released as a ``Gap`` (no minutes of silence allocated). A chunk
    stamped more than ``max_ahead_ms`` beyond the time the stream has existed (``now_ms``) is
    rejected: one bogus timestamp must not push the timeline ahead and make every real chunk
    after it "too late". Audio older than what was already released (a duplicate, a chunk too
    late) is dropped, an overlap trimmed; a few ms of timestamp jitter (``tolerance_ms``) are
    not a gap.
    """

    def __init__(self, rate: int = 8000, hold_ms: int = 200, max_fill_ms: int = 5000, tolerance_ms: int = 2,
                 max_ahead_ms: int = 10_000):
        per_ms = rate // 1000
        self.rate, self.per_ms, self.max_ahead_ms = rate, per_ms, max_ahead_ms
        self.hold, self.max_fill, self.tolerance = hold_ms * per_ms, max_fill_ms * per_ms, tolerance_ms * per_ms
        self.next = 0                       # the timeline position (in samples) released so far
        self._pending: list[tuple[int, int, bytes]] = []      # (start, arrival, payload) heap
        self._pending_bytes = 0
        self._arrivals = 0
        self.filled = self.skipped = 0      # samples of gaps filled with silence, released as Gaps
        self.dropped = self.rejected = 0    # chunks too late (or duplicates), chunks too far ahead

    def push(self, timestamp_ms: int, payload: bytes, now_ms: int) -> Released:
        """Whatever can be released now, in order: audio (often the chunk itself) and Gaps;
        [] when the chunk is held, dropped or rejected. ``now_ms``: how long the stream has
        existed, on our clock."""
        if timestamp_ms > now_ms + self.max_ahead_ms:
            self.rejected += 1
            return []
        start = timestamp_ms * self.per_ms
        if not payload or start + len(payload) <= self.next:
            self.dropped += 1
            return []
        self._arrivals += 1
        heapq.heappush(self._pending, (start, self._arrivals, payload))
        self._pending_bytes += len(payload)
        return self._release(final=False)

    def flush(self) -> Released:
        """The end of the stream: everything still held, its gaps filled or released."""
        return self._release(final=True)

    def _release(self, final: bool) -> Released:
        pieces: Released = []
        while self._pending:
            start, _, payload = self._pending[0]
            if start - self.next > self.tolerance and not (final or self._overdue()):
                break                       # a gap: its chunk may still arrive
            heapq.heappop(self._pending)
            self._pending_bytes -= len(payload)
            pieces += self._place(start, payload)
        return _merged(pieces)

    def _overdue(self) -> bool:
        furthest = max(start + len(payload) for start, _, payload in self._pending)
        return furthest - self.next >= self.hold or self._pending_bytes >= self.hold

    def _place(self, start: int, payload: bytes) -> Released:
        """The chunk at ``start`` on the timeline: the gap before it, then its new audio."""
        lead = start - self.next
        pieces: Released = []
        if lead > self.tolerance:
            if lead <= self.max_fill:
                pieces.append(MULAW_SILENCE * lead)
                self.filled += lead
            else:
                pieces.append(Gap(lead / self.rate))
                self.skipped += lead
            self.next = start
        elif lead < -self.tolerance:        # overlaps what was released: only the rest is new
            payload = payload[-lead:]
            if not payload:
                self.dropped += 1
                return pieces
        self.next += len(payload)
        return [*pieces, payload]


def _merged(pieces: Released) -> Released:
    """Consecutive audio joined into one piece."""
    out: Released = []
    for is_audio, group in groupby(pieces, key=lambda piece: isinstance(piece, bytes)):
        run = list(group)
        out += [b"".join(run)] if is_audio else run
    return out


# -- messages ---------------------------------------------------------------------------------
class MediaFormat(BaseModel):
    encoding: str
    sample_rate: int = Field(alias="sampleRate")
    channels: int


class StreamStart(BaseModel):
    """``start.start``."""

    model_config = ConfigDict(extra="ignore")

    call_sid: IdField = Field(alias="callSid")
    stream_sid: str | None = Field(None, alias="streamSid")
    tracks: list[Track] = Field(min_length=1, max_length=2)
    custom_parameters: dict[str, Any] = Field(default_factory=dict, alias="customParameters")
    media_format: MediaFormat = Field(alias="mediaFormat")


class StreamParameters(BaseModel):
    """The ``<Parameter>``s Ferryman reads; others are the TwiML author's and ignored."""

    model_config = ConfigDict(extra="ignore")

    case_id: IdField | None = None
    agent_id: AgentIdField | None = None
    token: str | None = Field(None, repr=False)
    inbound: Channel | None = Field(None, description="whose voice the inbound track is, for this stream")


class Media(BaseModel):
    model_config = ConfigDict(extra="ignore")

    track: Track
    timestamp: int = Field(ge=0, description="ms since the stream started")
    payload: str


def parse_message(text: str | None) -> dict:
    """A Twilio message: a JSON object with an ``event`` (one we do not know is the caller's to
    ignore: Twilio may add events, and a live stream must survive them)."""
    if text is None:
        raise ProtocolError(CloseCode.BAD_MESSAGE, "Twilio messages are JSON text frames, not binary")
    message = parse_json_object(text, "message")
    if not isinstance(message.get("event"), str):
        raise ProtocolError(CloseCode.BAD_MESSAGE, "message has no event")
    return message


def parse_start(message: dict) -> tuple[StreamStart, StreamParameters]:
    start = validated(StreamStart, message.get("start"), "start")
    fmt = start.media_format
    if (fmt.encoding, fmt.sample_rate, fmt.channels) != MEDIA_FORMAT:
        raise ProtocolError(CloseCode.UNSUPPORTED_AUDIO, f"mediaFormat {fmt.encoding} {fmt.sample_rate} Hz "
                                                         f"{fmt.channels} ch; Media Streams send audio/x-mulaw 8000 1")
    if len(set(start.tracks)) != len(start.tracks):
        raise ProtocolError(CloseCode.BAD_MESSAGE, "start.tracks names a track twice")
    return start, validated(StreamParameters, start.custom_parameters, "start.customParameters")


def parse_media(message: dict, tracks: list[str]) -> tuple[Track, int, bytes]:
    media = validated(Media, message.get("media"), "media")
    if media.track not in tracks:
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"media of track {media.track}, which start did not announce")
    try:
        payload = base64.b64decode(media.payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"media.payload is not base64: {exc}") from exc
    return media.track, media.timestamp, payload


# -- the socket -------------------------------------------------------------------------------
def _refusal(ws: WebSocket) -> tuple[int, str] | None:
    """Why the upgrade is refused, if it is (status, reason)."""
    settings = ws.app.state.services.settings
    auth_token = settings.twilio_auth_token      # read per connection: it may be rotated in place
    if auth_token is not None:
        signature = ws.headers.get("x-twilio-signature")
        if not signature:
            return 401, "no X-Twilio-Signature (FERRYMAN_TWILIO_AUTH_TOKEN is set)"
        if not signature_matches(auth_token.get_secret_value(), signature, _request_urls(ws, settings.public_url)):
            return 401, "X-Twilio-Signature does not match this URL"
        return None
    if "token" in ws.query_params and (refusal := gateway_token_ok(ws, ws.query_params["token"])) is not None:
        return refusal.status, refusal.reason
    return None


def _check_start_token(ws: WebSocket, params: StreamParameters) -> None:
    """Without signatures, a stream names a gateway token (the upgrade checked a ``?token=``)."""
    if ws.app.state.services.settings.twilio_auth_token is not None or "token" in ws.query_params:
        return
    if (refusal := gateway_token_ok(ws, params.token)) is not None:
        code = CloseCode.UNAUTHENTICATED if refusal.status == 401 else CloseCode.FORBIDDEN
        raise ProtocolError(code, f"{refusal.reason} (<Parameter name=\"token\">)")


async def _await_start(ws: WebSocket, timeout_s: float) -> tuple[StreamStart, StreamParameters]:
    """The ``start`` within ``timeout_s`` of the upgrade, however many other messages come
    first: until then nobody has authenticated (without signatures the token is in ``start``)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _first_start(ws)
    except TimeoutError:
        raise ProtocolError(CloseCode.START_TIMEOUT, f"no start within {timeout_s:g} s") from None


async def _first_start(ws: WebSocket) -> tuple[StreamStart, StreamParameters]:
    while True:
        message = parse_message((await receive(ws)).get("text"))
        event = message["event"]
        if event == "start":
            return parse_start(message)
        if event == "media":
            raise ProtocolError(CloseCode.OUT_OF_ORDER, "media before start")
        if event == "stop":
            raise ProtocolError(CloseCode.OUT_OF_ORDER, "stop before start")
        _ignore(event, message.get("streamSid"))   # connected, and anything else Twilio may send first


def _ignore(event: str, stream_sid: str | None) -> None:
    if event not in ("connected", "mark"):  # mark: our own marks echoed back (we send none)
        log.debug("twilio stream %s: ignoring a %s event", loggable(stream_sid), loggable(event, 40))


async def _open(call: Connection, start: StreamStart, params: StreamParameters
                ) -> tuple[CallFeed, dict[str, Channel]]:
    """The call's feed, and the channel each track carries."""
    settings = call.services.settings
    found = None if params.case_id else await call.services.registry.wait_for_call_or_leg(
        start.call_sid, settings.registration_wait_s)              # the callSid: a call, or a leg of one
    call_id, leg_channel = found or (start.call_sid, None)
    inbound: Channel = params.inbound or leg_channel or settings.twilio_inbound
    channel_of = {"inbound": inbound, "outbound": other(inbound)}
    channels = tuple(channel_of[track] for track in start.tracks)
    feed = await call.open(call_id, channels, "mulaw", 8000, params.case_id, params.agent_id,
                           registration_wait_s=None if params.case_id else 0.0)
    return feed, channel_of


MAX_AHEAD_MS = 10_000     # how far a chunk's timestamp may run ahead of the stream's age on our clock


class StreamFeed:
    """A stream's tracks into the call: each put in order (``TrackAligner``), then onto its
    channel; ``started``: when ``start`` arrived (``time.monotonic()``), the stream's age 0."""

    def __init__(self, feed: CallFeed, channel_of: dict[str, Channel], start: StreamStart, max_frame_bytes: int,
                 started: float):
        self.feed, self.channel_of, self.stream_sid = feed, channel_of, start.stream_sid
        self.max_frame_bytes, self.started = max_frame_bytes, started
        self.aligners = {track: TrackAligner(max_ahead_ms=MAX_AHEAD_MS) for track in start.tracks}

    async def push(self, track: str, timestamp_ms: int, payload: bytes) -> None:
        if len(payload) > self.max_frame_bytes:
            raise ProtocolError(CloseCode.FRAME_TOO_LARGE, f"media chunk of {len(payload)} bytes")
        aligner, now_ms = self.aligners[track], int((time.monotonic() - self.started) * 1000)
        rejected = aligner.rejected
        released = aligner.push(timestamp_ms, payload, now_ms)
        if aligner.rejected > rejected:     # a warning for the first, then quietly (it may be every chunk)
            log.log(logging.WARNING if rejected == 0 else logging.DEBUG,
                    "twilio stream %s %s: dropped a chunk stamped %d ms, %d ms into the stream",
                    loggable(self.stream_sid), track, timestamp_ms, now_ms)
        await self._out(track, released)

    async def flush(self) -> None:
        for track, aligner in self.aligners.items():
            await self._out(track, aligner.flush())
            if aligner.filled or aligner.skipped or aligner.dropped or aligner.rejected:
                log.info("twilio stream %s %s: %d ms filled, %d ms skipped, %d chunks late, %d too far ahead",
                         loggable(self.stream_sid), track, aligner.filled // aligner.per_ms,
                         aligner.skipped // aligner.per_ms, aligner.dropped, aligner.rejected)

    async def _out(self, track: str, released: Released) -> None:
        channel = self.channel_of[track]
        for piece in released:
            if isinstance(piece, Gap):
                await self.feed.skip(piece.seconds, (channel,))
                continue
            for i in range(0, len(piece), self.max_frame_bytes):    # a filled gap may exceed one frame
                await self.feed.push(channel, piece[i:i + self.max_frame_bytes])


async def twilio_socket(ws: WebSocket) -> None:
    if (refusal := _refusal(ws)) is not None:
        await refuse_upgrade(ws, *refusal)
        return
    await ws.accept()
    settings = ws.app.state.services.settings

    async def converse(call: Connection) -> None:
        start, params = await _await_start(ws, settings.start_timeout_s)
        started = time.monotonic()
        _check_start_token(ws, params)
        if ws.app.state.services.settings.twilio_auth_token is None:    # a token, not a signature
            call.token = ws.query_params.get("token") or params.token
        stream = StreamFeed(*await _open(call, start, params), start, settings.max_frame_bytes, started)
        while True:
            try:
                message = parse_message((await receive(ws, call.idle_s)).get("text"))
            except Dropped:
                await stream.flush()          # what was held for reordering is still audio of the call
                raise
            event = message["event"]
            if event == "media":
                await stream.push(*parse_media(message, start.tracks))
            elif event == "stop":
                await stream.flush()
                return
            elif event == "start":
                raise ProtocolError(CloseCode.OUT_OF_ORDER, "a second start on one stream")
            else:                             # dtmf, mark, connected, events added after this was written
                _ignore(event, start.stream_sid)

    await run_socket(ws, "twilio gateway", converse)
