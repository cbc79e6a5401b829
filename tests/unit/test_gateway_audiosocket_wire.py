"""Asterisk AudioSocket without a call behind it: the framing parser, the source networks, and the
TCP server's start, refusal and shutdown."""

import asyncio
import uuid
from types import SimpleNamespace

import pytest

from ferryman.gateways.audiosocket import (
    AUDIO_RATES,
    AudioSocketServer,
    Frame,
    FrameParser,
    Kind,
    allowed,
    error_frame,
    leg_id,
    parse_networks,
)
from ferryman.ingest.protocol import CloseCode, ProtocolError
from ferryman.settings import Settings
from pbx_audiosocket import SLIN, connect, frame, read_frame, uuid_frame

LEG = "40325ec2-5efd-4bd3-805f-53576e581d13"


def parse(data: bytes, max_frame_bytes: int = 65535) -> list[Frame]:
    return FrameParser(max_frame_bytes).feed(data)


def refused(data: bytes, max_frame_bytes: int = 65535) -> ProtocolError:
    with pytest.raises(ProtocolError) as error:
        parse(data, max_frame_bytes)
    return error.value


def test_every_type_asterisk_sends_is_read():
    pcm = bytes(range(256)) + bytes(64)          # 320 bytes: 20 ms at 8 kHz
    frames = parse(uuid_frame(LEG) + frame(0x10, pcm) + frame(0x03, b"#") + frame(0xFF, b"\x01") + frame(0x00))
    assert frames == [Frame(Kind.UUID, uuid.UUID(LEG).bytes), Frame(Kind.SLIN_8K, pcm), Frame(Kind.DTMF, b"#"),
                      Frame(Kind.ERROR, b"\x01"), Frame(Kind.HANGUP)]
    assert uuid_frame(LEG)[:3] == b"\x01\x00\x10" and leg_id(frames[0]) == LEG


@pytest.mark.parametrize("rate", sorted(SLIN))
def test_each_slin_type_carries_its_rate(rate):
    payload = bytes(rate // 50 * 2)               # 20 ms
    [audio] = parse(frame(SLIN[rate], payload))
    assert audio.rate == rate and audio.payload == payload and AUDIO_RATES[audio.kind] == rate


def test_an_error_frame_may_come_without_its_code():
    assert parse(frame(0xFF)) == [Frame(Kind.ERROR, b"")]


def test_frames_split_anywhere_across_reads_come_out_whole():
    parts = [uuid_frame(LEG), frame(0x12, bytes(640)), frame(0x03, b"7"), frame(0x00)]
    data, ends = b"".join(parts), {sum(map(len, parts[:n])) for n in range(1, len(parts) + 1)}
    parser, frames = FrameParser(), []
    for i in range(len(data)):
        frames += parser.feed(data[i:i + 1])
        assert parser.pending == (i + 1 not in ends)
    assert [f.kind for f in frames] == [Kind.UUID, Kind.SLIN_16K, Kind.DTMF, Kind.HANGUP]
    assert not parser.pending


def test_a_partial_frame_is_pending_until_its_last_byte():
    parser = FrameParser()
    assert parser.feed(frame(0x10, bytes(320))[:100]) == [] and parser.pending
    assert len(parser.feed(bytes(223))) == 1 and not parser.pending


def test_unknown_types_and_garbage_are_refused():
    assert "0x02" in refused(frame(0x02, bytes(6))).reason            # the old fork's DTMF type
    assert "0x47" in refused(b"GET / HTTP/1.1\r\n\r\n").reason
    assert refused(b"\x19\x00\x02ab").code == CloseCode.BAD_MESSAGE


def test_oversize_lengths_are_refused_from_the_header_alone():
    assert refused(b"\x10\xff\xfe").code == CloseCode.FRAME_TOO_LARGE       # 65534 bytes of 8 kHz: 4 s
    assert refused(b"\x10\x3e\x82").code == CloseCode.FRAME_TOO_LARGE       # 16002 bytes: just over a second
    parse(b"\x10\x3e\x80")                                                 # 16000: a second, waited for
    assert refused(b"\x12\x02\x80", max_frame_bytes=320).code == CloseCode.FRAME_TOO_LARGE
    assert "UUID" in refused(b"\x01\x00\x11").reason
    assert "HANGUP" in refused(b"\x00\x00\x01").reason
    assert "DTMF" in refused(b"\x03\x00\x02").reason


def test_audio_must_be_whole_samples_and_not_empty():
    assert "0 bytes" in refused(frame(0x10)).reason
    assert "321 bytes" in refused(frame(0x10, bytes(321))).reason
    assert "UUID" in refused(b"\x01\x00\x0f").reason


def test_a_dtmf_frame_carries_a_digit():
    assert [f.payload for f in parse(b"".join(frame(0x03, d.encode()) for d in "0123456789*#ABCD"))] == \
        [d.encode() for d in "0123456789*#ABCD"]
    assert "DTMF" in refused(frame(0x03, b"x")).reason


def test_the_error_answer_is_a_frame_forwarding_error():
    assert error_frame() == b"\xff\x00\x01\x02"


def test_source_networks():
    networks = parse_networks(["127.0.0.0/8", "10.1.0.0/16", "fd00::/8"])
    assert allowed("127.0.0.1", networks) and allowed("10.1.2.3", networks) and allowed("fd00::5", networks)
    assert allowed("::ffff:10.1.9.9", networks)                # IPv4 on a dual-stack socket
    assert not allowed("10.2.0.1", networks) and not allowed("::1", networks) and not allowed("?", networks)
    assert allowed("fd00::1%eth0", networks)


def services(**settings) -> SimpleNamespace:
    """What the server reads before a UUID arrives: its settings (port 0: any free one)."""
    return SimpleNamespace(settings=Settings(**{"audiosocket_port": 0, "host": "127.0.0.1", **settings}))


async def test_a_connection_from_another_network_gets_an_error_frame_and_is_closed():
    gateway = await AudioSocketServer.start(services(audiosocket_networks=["10.0.0.0/8"]))
    try:
        reader, writer = await connect(gateway.port, LEG)
        assert await read_frame(reader) == (0xFF, b"\x02")
        assert await read_frame(reader) is None
        writer.close()
    finally:
        await gateway.close()


async def test_a_port_in_use_names_the_setting():
    first = await AudioSocketServer.start(services())
    try:
        with pytest.raises(RuntimeError, match="FERRYMAN_AUDIOSOCKET_PORT"):
            await AudioSocketServer.start(services(audiosocket_port=first.port))
    finally:
        await first.close()


async def test_closing_the_server_closes_its_open_connections():
    gateway = await AudioSocketServer.start(services())
    reader, writer = await connect(gateway.port)              # connected, no UUID yet
    await asyncio.sleep(0.1)
    assert len(gateway.connections) == 1
    await asyncio.wait_for(gateway.close(), 5)
    assert await read_frame(reader, 5) is None and not gateway.connections
    writer.close()
