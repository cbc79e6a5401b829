"""Asterisk's AudioSocket side as the tests see it: a TCP client speaking the framing of
``res_audiosocket`` (type u8, length u16 big-endian, payload), one socket per call leg, written
from Asterisk's documentation (not from the server's code). Not part of the product.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid

import numpy as np

from pbx import FRAME_MS, Pacer

HANGUP, UUID, DTMF, ERROR = 0x00, 0x01, 0x03, 0xFF
SLIN = {8000: 0x10, 12000: 0x11, 16000: 0x12, 24000: 0x13, 32000: 0x14, 44100: 0x15, 48000: 0x16,
        96000: 0x17, 192000: 0x18}


def frame(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload


def uuid_frame(leg: str) -> bytes:
    """Asterisk's first frame: ``01 00 10`` and the 16 bytes of the stream's UUID."""
    return frame(UUID, uuid.UUID(leg).bytes)


def slin(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def audio_frames(samples: np.ndarray, rate: int = 8000):
    """20 ms slin frames of the type for ``rate`` (320 bytes at 8 kHz)."""
    step = rate * FRAME_MS // 1000
    for i in range(0, len(samples), step):
        yield frame(SLIN[rate], slin(samples[i:i + step]))


async def connect(port: int, leg: str | None = None, host: str = "127.0.0.1"):
    """Connect as Asterisk does: the UUID frame goes out at once (None: the test sends it)."""
    reader, writer = await asyncio.open_connection(host, port)
    if leg is not None:
        writer.write(uuid_frame(leg))
    return reader, writer


async def stream(writer: asyncio.StreamWriter, samples: np.ndarray, rate: int = 8000, speed: float = 3.0,
                 dtmf_every: int = 0) -> None:
    """The leg's audio, paced at ``speed`` x real time; a DTMF digit every ``dtmf_every`` frames."""
    pace = Pacer(speed)
    for i, data in enumerate(audio_frames(samples, rate), 1):
        writer.write(data)
        if dtmf_every and i % dtmf_every == 0:
            writer.write(frame(DTMF, b"5"))
        await writer.drain()
        await pace(FRAME_MS / 1000)


async def hang_up(writer: asyncio.StreamWriter, with_frame: bool = False) -> None:
    """The caller hangs up: Asterisk closes the socket (a hang-up frame first, if asked)."""
    if with_frame:
        writer.write(frame(HANGUP))
    writer.close()
    await writer.wait_closed()


def reset(writer: asyncio.StreamWriter) -> None:
    """The network goes: a TCP reset, no orderly close."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def leg_call(port: int, leg: str, samples: np.ndarray, rate: int = 8000, speed: float = 3.0) -> None:
    """One leg from start to hang-up, as ``AudioSocket(uuid,host:port)`` streams it."""
    _, writer = await connect(port, leg)
    await stream(writer, samples, rate, speed)
    await hang_up(writer)


async def read_frame(reader: asyncio.StreamReader, timeout_s: float = 10.0) -> tuple[int, bytes] | None:
    """The server's next frame; None when it closed the socket."""
    try:
        kind, length = struct.unpack(">BH", await asyncio.wait_for(reader.readexactly(3), timeout_s))
        return kind, await asyncio.wait_for(reader.readexactly(length), timeout_s)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


async def still_open(reader: asyncio.StreamReader, wait_s: float = 0.1) -> bool:
    """The server neither answered nor closed (it never sends anything to a leg it accepted)."""
    try:
        await asyncio.wait_for(reader.read(1), wait_s)
    except asyncio.TimeoutError:
        return True
    return False
