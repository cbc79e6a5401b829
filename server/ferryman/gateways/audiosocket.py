"""Asterisk AudioSocket (``res_audiosocket``): a TCP server on ``FERRYMAN_AUDIOSOCKET_PORT``
(default 9092, off when 0), one connection per call leg.

    exten => _X.,n,AudioSocket(${LEG_UUID},ferryman:9092)           ; 8 kHz slin
    Dial(AudioSocket/ferryman:9092/${LEG_UUID}/c(slin16))            ; the slin format named
    ARI POST /channels/externalMedia?encapsulation=audiosocket&transport=tcp&format=slin16&data=<uuid>

(on a bridged call, each leg's voice through a spy: ARI snoop or ChanSpy; docs/gateways/asterisk.md).

Asterisk connects and speaks a TLV framing: a 1-byte type, a 2-byte big-endian payload length
(at most 65535), the payload —

    0x00  hang-up, no payload (Asterisk itself just closes the socket when the caller hangs up)
    0x01  the stream's UUID, 16 bytes binary: always Asterisk's first frame (``01 00 10 <uuid>``)
    0x03  a DTMF digit, 1 ASCII byte (0-9 * # A-D)
    0x10  signed linear 16-bit little-endian mono PCM at 8 kHz (20 ms = 320 bytes); since
          Asterisk 20.17/21.12/22.7/23.1 also 0x11 12 kHz, 0x12 16 kHz, 0x13 24 kHz, 0x14 32 kHz,
          0x15 44.1 kHz, 0x16 48 kHz, 0x17 96 kHz, 0x18 192 kHz
    0xff  an error; payload an optional code, bit flags: 0x01 hang-up, 0x02 frame forwarding
          error, 0x04 memory error

Sending audio back is optional and Ferryman never does. The UUID is a leg the dialer registered
(``POST /api/calls`` with ``legs``), waited for ``FERRYMAN_REGISTRATION_WAIT_S``: the two legs of
a call, on two sockets, are its agent and customer channels. Connections come only from
``FERRYMAN_AUDIOSOCKET_NETWORKS``. Anything else — another network, a leg nobody registered,
garbage, an unknown type, an oversize length, audio before the UUID, a rate change, no UUID
within ``FERRYMAN_START_TIMEOUT_S`` — is answered with an error frame (``ff 00 01 02``: frame
forwarding error) and that socket closed; the leg's channel is finalised.

A closed socket at a frame boundary, a hang-up frame or an error frame from Asterisk end the leg
(Asterisk closes when the caller hangs up and cannot tell a drop apart). A reset, a socket cut in
the middle of a frame, or nothing for ``FERRYMAN_INGEST_IDLE_S`` after the UUID (error frame,
then closed) is a drop: a new socket with the same UUID within the reconnect grace goes on with
the same call. A new socket with the UUID of a leg still streaming takes the leg over (the old
one may be half-open): the old socket gets the error frame and is closed when it next sends.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
import uuid
from collections import deque
from dataclasses import dataclass
from enum import IntEnum

from ferryman.calls.feed import Connection, run_connection
from ferryman.events import Channel
from ferryman.ingest.protocol import CloseCode, Dropped, ProtocolError
from ferryman.web.services import Services

log = logging.getLogger(__name__)

HEADER = struct.Struct(">BH")
READ_CHUNK = 64 * 1024
DTMF_DIGITS = frozenset(b"0123456789*#ABCD")
FRAME_FORWARDING_ERROR = 0x02     # the error code Ferryman answers with, whatever went wrong


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    SLIN_8K = 0x10
    SLIN_12K = 0x11
    SLIN_16K = 0x12
    SLIN_24K = 0x13
    SLIN_32K = 0x14
    SLIN_44K = 0x15
    SLIN_48K = 0x16
    SLIN_96K = 0x17
    SLIN_192K = 0x18
    ERROR = 0xFF


AUDIO_RATES = {Kind.SLIN_8K: 8000, Kind.SLIN_12K: 12000, Kind.SLIN_16K: 16000, Kind.SLIN_24K: 24000,
               Kind.SLIN_32K: 32000, Kind.SLIN_44K: 44100, Kind.SLIN_48K: 48000, Kind.SLIN_96K: 96000,
               Kind.SLIN_192K: 192000}
# the payload lengths a frame may announce (audio: see payload_limit)
FIXED_LENGTHS = {Kind.HANGUP: range(0, 1), Kind.UUID: range(16, 17), Kind.DTMF: range(1, 2),
                 Kind.ERROR: range(0, 65)}


@dataclass(frozen=True)
class Frame:
    kind: Kind
    payload: bytes = b""

    @property
    def rate(self) -> int | None:
        return AUDIO_RATES.get(self.kind)


def error_frame(code: int = FRAME_FORWARDING_ERROR) -> bytes:
    return HEADER.pack(Kind.ERROR, 1) + bytes([code])


def payload_limit(kind: Kind, max_frame_bytes: int) -> int:
    """The longest payload of ``kind``: audio up to a second (Asterisk sends 20 ms) and
    FERRYMAN_MAX_FRAME_BYTES; the others as the protocol defines them."""
    rate = AUDIO_RATES.get(kind)
    return min(max_frame_bytes, rate * 2) if rate else FIXED_LENGTHS[kind].stop - 1


def _header(code: int, length: int, max_frame_bytes: int) -> Kind:
    """The frame's kind, once its header says nothing impossible (refused before its payload
    arrives: an oversize length is not waited for)."""
    try:
        kind = Kind(code)
    except ValueError:
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"unknown frame type 0x{code:02x}") from None
    if kind in AUDIO_RATES:
        if length == 0 or length % 2:
            raise ProtocolError(CloseCode.BAD_MESSAGE, f"audio frame of {length} bytes is not whole 16-bit samples")
        if length > payload_limit(kind, max_frame_bytes):
            raise ProtocolError(CloseCode.FRAME_TOO_LARGE, f"audio frame of {length} bytes is larger than "
                                                           f"{payload_limit(kind, max_frame_bytes)}")
    elif length not in FIXED_LENGTHS[kind]:
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"{kind.name} frame with a payload of {length} bytes")
    return kind


class FrameParser:
    """AudioSocket frames out of a TCP byte stream, however it is split (no I/O)."""

    def __init__(self, max_frame_bytes: int = 65535):
        self._buffer = bytearray()
        self._max = max_frame_bytes

    @property
    def pending(self) -> bool:
        """Part of a frame is waiting for the rest (a socket closed now was cut mid-frame)."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes; ``ProtocolError`` at the first impossible one."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER.size:
            code, length = HEADER.unpack_from(self._buffer)
            kind = _header(code, length, self._max)
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append(Frame(kind, bytes(self._buffer[HEADER.size:end])))
            del self._buffer[:end]
            if kind == Kind.DTMF and frames[-1].payload[0] not in DTMF_DIGITS:
                raise ProtocolError(CloseCode.BAD_MESSAGE, f"DTMF digit {frames[-1].payload!r} is not 0-9*#A-D")
        return frames


def leg_id(frame: Frame) -> str:
    """The UUID frame's leg as the dialer registers it: canonical lower-case text."""
    return str(uuid.UUID(bytes=frame.payload))


Networks = list[ipaddress.IPv4Network | ipaddress.IPv6Network]


def parse_networks(cidrs: list[str]) -> Networks:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


def allowed(address: str, networks: Networks) -> bool:
    """Whether a peer address is inside one of ``networks`` (IPv4-mapped IPv6 as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


class LegConnection:
    """One Asterisk socket: its UUID, the registered leg it is, that leg's audio into the call."""

    def __init__(self, services: Services, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.services, self.settings = services, services.settings
        self.reader, self.writer = reader, writer
        self.peer = str((writer.get_extra_info("peername") or ("?",))[0])
        self.parser = FrameParser(self.settings.max_frame_bytes)
        self.frames: deque[Frame] = deque()
        self.kind: Kind | None = None            # the audio type of the first audio frame: the leg's rate
        self.answered = False                    # the error frame went out

    async def run(self, networks: Networks) -> None:
        async def converse(call: Connection) -> None:
            if not allowed(self.peer, networks):
                raise ProtocolError(CloseCode.FORBIDDEN, "not from FERRYMAN_AUDIOSOCKET_NETWORKS")
            await self._converse(call)

        try:
            await run_connection(f"audiosocket {self.peer}", Connection(self.services), converse,
                                 self._reply_error, self._close, drops=(ConnectionError,))
        finally:                 # also on a reset and on cancel (shutdown: LiveCalls.close_all ends the calls)
            self.writer.close()

    async def _converse(self, call: Connection) -> None:
        first = await self._next_frame(self.settings.start_timeout_s, started=False)
        if first is None:
            return
        if first.kind != Kind.UUID:
            raise ProtocolError(CloseCode.OUT_OF_ORDER, f"{first.kind.name} frame before the UUID")
        leg = leg_id(first)
        found = await self.services.registry.wait_for_leg(leg, self.settings.registration_wait_s)
        if found is None:
            raise ProtocolError(CloseCode.CASE_NOT_FOUND, f"{leg} is not a leg of a registered call "
                                                          "(POST /api/calls with legs)")
        call_id, channel = found
        log.info("audiosocket %s: leg %s is the %s of call %s", self.peer, leg, channel, call_id)
        while (frame := await self._next_frame(call.idle_s, started=True)) is not None:
            if frame.kind == Kind.HANGUP:
                return
            if frame.kind == Kind.ERROR:
                log.info("audiosocket %s: Asterisk reported error %s", self.peer, frame.payload.hex() or "-")
                return
            if frame.kind == Kind.UUID:
                raise ProtocolError(CloseCode.OUT_OF_ORDER, "a second UUID frame")
            if frame.rate:                           # DTMF: nothing to do with it
                await self._audio(call, call_id, channel, frame)

    async def _audio(self, call: Connection, call_id: str, channel: Channel, frame: Frame) -> None:
        if call.feed is None:                        # the rate is known with the first audio frame
            self.kind = frame.kind
            await call.open(call_id, (channel,), "pcm_s16le", AUDIO_RATES[frame.kind], case_optional=False)
        elif frame.kind != self.kind:
            raise ProtocolError(CloseCode.UNSUPPORTED_AUDIO, f"audio changed from {self.kind.name} to "
                                                             f"{frame.kind.name} mid-stream")
        await call.feed.push(channel, frame.payload)   # Dropped (4409) once a newer socket took the leg

    async def _next_frame(self, timeout_s: float, started: bool) -> Frame | None:
        """The next frame; None when Asterisk closed the socket between two frames (hung up)."""
        try:
            async with asyncio.timeout(timeout_s):
                while not self.frames:
                    data = await self.reader.read(READ_CHUNK)
                    if not data:
                        if self.parser.pending:
                            raise Dropped("socket closed in the middle of a frame")
                        return None
                    self.frames.extend(self.parser.feed(data))
        except TimeoutError:
            reason = f"nothing received for {timeout_s:g} s"
            if started:          # a leg gone quiet, as on every socket: a drop it may come back from
                raise Dropped(reason, CloseCode.START_TIMEOUT) from None
            raise ProtocolError(CloseCode.START_TIMEOUT, reason) from None
        return self.frames.popleft()

    async def _reply_error(self, exc: ProtocolError) -> None:
        await self._send_error()

    async def _close(self, code: int, reason: str) -> None:
        """AudioSocket has no close code: any close but the call's end (a quiet or superseded
        leg, an internal error) is announced with the error frame too."""
        if code != CloseCode.NORMAL:
            await self._send_error()
        self.writer.close()

    async def _send_error(self) -> None:
        if self.answered:
            return
        self.answered = True
        try:
            self.writer.write(error_frame())
            await asyncio.wait_for(self.writer.drain(), 1.0)
        except (ConnectionError, TimeoutError):
            pass


class AudioSocketServer:
    """The TCP server and its open connections, started and closed with the app."""

    def __init__(self, services: Services, server: asyncio.Server | None = None):
        self.services = services
        self.networks = parse_networks(services.settings.audiosocket_networks)
        self.server = server
        self.connections: set[asyncio.Task] = set()

    @classmethod
    async def start(cls, services: Services) -> "AudioSocketServer":
        settings = services.settings
        gateway = cls(services)
        try:
            gateway.server = await asyncio.start_server(gateway._serve, settings.host, settings.audiosocket_port)
        except OSError as exc:
            raise RuntimeError(f"the AudioSocket server cannot listen on {settings.host}:{settings.audiosocket_port} "
                               f"({exc.strerror or exc}): set FERRYMAN_AUDIOSOCKET_PORT to a free port, "
                               "or to 0 to turn it off") from exc
        log.info("AudioSocket server on %s:%d", settings.host, gateway.port)
        return gateway

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1] if self.server and self.server.sockets else 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self.connections.add(task)
        try:
            await LegConnection(self.services, reader, writer).run(self.networks)
        finally:
            self.connections.discard(task)

    async def close(self) -> None:
        if self.server is None:
            return
        self.server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)
        await self.server.wait_closed()
