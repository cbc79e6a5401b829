"""Twilio Media Streams without sockets: the reorder buffer, the signature, the messages."""

import asyncio
import base64
import json
import random
import time

import pytest

from ferryman.gateways.twilio import (
    Gap,
    StreamFeed,
    TrackAligner,
    parse_media,
    parse_message,
    parse_start,
    port_variants,
    signature_matches,
    signed_urls,
    twilio_signature,
)
from ferryman.ingest.protocol import CloseCode, ProtocolError

CHUNK = 160       # 20 ms at 8 kHz, one byte a sample


def chunk(n: int) -> bytes:
    """The n-th 20 ms chunk: a byte pattern that tells chunks apart (never 0xFF, the silence)."""
    return bytes([n % 250]) * CHUNK


AN_HOUR = 3_600_000     # ms: how long the stream has existed, unless a test says otherwise


def push(aligner: TrackAligner, timestamp_ms: int, payload: bytes, now_ms: int = AN_HOUR) -> bytes:
    """The audio a push released (no gap in these is long enough to be a Gap)."""
    pieces = aligner.push(timestamp_ms, payload, now_ms)
    assert all(isinstance(piece, bytes) for piece in pieces), pieces
    return b"".join(pieces)


def flush(aligner: TrackAligner) -> bytes:
    pieces = aligner.flush()
    assert all(isinstance(piece, bytes) for piece in pieces), pieces
    return b"".join(pieces)


def released(aligner: TrackAligner, chunks) -> bytes:
    return b"".join(push(aligner, ts, payload) for ts, payload in chunks)


# -- TrackAligner --------------------------------------------------------------------------
def test_chunks_in_order_are_released_at_once_unchanged():
    aligner = TrackAligner()
    for n in range(10):
        assert push(aligner, n * 20, chunk(n)) == chunk(n)
    assert flush(aligner) == b"" and (aligner.filled, aligner.dropped) == (0, 0)


def test_a_chunk_ahead_of_its_predecessor_waits_for_it():
    aligner = TrackAligner()
    assert push(aligner, 0, chunk(0)) == chunk(0)
    assert push(aligner, 40, chunk(2)) == b""                 # 20 ms missing: held
    assert push(aligner, 20, chunk(1)) == chunk(1) + chunk(2)  # the gap closes: both, in order
    assert aligner.filled == 0


def test_a_lost_chunk_becomes_silence_once_200_ms_of_timeline_wait_past_it():
    aligner = TrackAligner(hold_ms=200)
    out = released(aligner, [(0, chunk(0))] + [(n * 20, chunk(n)) for n in range(2, 10)])
    assert out == chunk(0)                                    # the gap and 160 ms behind it: still held
    out += push(aligner, 200, chunk(10))                      # 200 ms past the last release: given up
    assert out == chunk(0) + b"\xff" * CHUNK + b"".join(chunk(n) for n in range(2, 11))
    assert aligner.filled == CHUNK
    assert push(aligner, 20, chunk(1)) == b"" and aligner.dropped == 1  # too late now


def test_duplicates_and_late_chunks_are_dropped():
    aligner = TrackAligner()
    out = released(aligner, [(0, chunk(0)), (20, chunk(1)), (20, chunk(1)), (0, chunk(0)), (40, chunk(2))])
    assert out == chunk(0) + chunk(1) + chunk(2) and aligner.dropped == 2


def test_an_overlap_is_trimmed_to_the_new_audio():
    aligner = TrackAligner()
    push(aligner, 0, chunk(0))
    assert push(aligner, 10, chunk(1)) == chunk(1)[80:]       # its first 10 ms were already released
    assert aligner.next == 240


def test_a_few_ms_of_timestamp_jitter_is_not_a_gap():
    aligner = TrackAligner(tolerance_ms=2)
    out = released(aligner, [(0, chunk(0)), (21, chunk(1)), (39, chunk(2)), (62, chunk(3))])
    assert out == b"".join(chunk(n) for n in range(4)) and aligner.filled == 0


def test_the_stream_starts_at_timestamp_zero():
    """A track whose first chunk comes later (the other party answers) starts with silence: the
    two tracks stay aligned on the stream's timeline."""
    aligner = TrackAligner()
    assert push(aligner, 100, chunk(5)) == b""
    assert flush(aligner) == b"\xff" * 800 + chunk(5)


def test_a_gap_up_to_the_cap_is_filled_beyond_it_released_as_a_gap():
    """Beyond the fill cap no silence is allocated, but the timeline still moves on: the feed
    skips the channel that far (``CallFeed.skip``), keeping it aligned with the other track."""
    aligner = TrackAligner(max_fill_ms=5000)
    push(aligner, 0, chunk(0))
    assert push(aligner, 20 + 5000, chunk(1)) == b"\xff" * 40000 + chunk(1)       # exactly the cap
    start = 20 + 5000 + 20
    assert aligner.push(start + 7000, chunk(2), AN_HOUR) == [Gap(7.0), chunk(2)]   # 7 s of nothing
    assert aligner.skipped == 7000 * 8 and aligner.filled == 40000
    assert push(aligner, start + 7020, chunk(3)) == chunk(3)                      # goes on from there
    assert aligner.next == (start + 7040) * 8


def test_a_gap_comes_out_in_its_place_between_the_audio():
    aligner = TrackAligner()
    assert push(aligner, 0, chunk(0)) == chunk(0)
    assert push(aligner, 40, chunk(2)) == b""                                     # held: chunk 1 may come
    # 6 s further on: the hold is over, chunk 1 is given up (silence), then the long gap
    assert aligner.push(6060, chunk(3), AN_HOUR) == [b"\xff" * CHUNK + chunk(2), Gap(6.0), chunk(3)]
    assert aligner.flush() == []


def test_a_track_that_starts_late_starts_with_a_gap():
    """The other party is heard first: 8 s in, this track's first chunk."""
    aligner = TrackAligner()
    assert aligner.push(8000, chunk(0), now_ms=8000) == [Gap(8.0), chunk(0)]


def test_a_timestamp_far_beyond_the_streams_age_is_rejected():
    """One bogus timestamp (an hour ahead, 1 s into the stream) must not move the timeline:
    the real chunks after it still come out, none dropped as too late."""
    aligner = TrackAligner(max_ahead_ms=10_000)
    assert push(aligner, 0, chunk(0), now_ms=0) == chunk(0)
    assert push(aligner, 20, chunk(1), now_ms=1000) == chunk(1)
    assert aligner.push(3_600_000, chunk(2), now_ms=1000) == [] and aligner.rejected == 1
    assert push(aligner, 40, chunk(3), now_ms=1020) == chunk(3)
    assert aligner.next == 60 * 8 and aligner.dropped == 0 and aligner.skipped == 0
    # up to max_ahead_ms beyond the stream's age is audio (a clock that runs a little ahead)
    assert aligner.push(11_020, chunk(4), now_ms=1020) == [Gap(10.96), chunk(4)]
    assert aligner.push(11_041, chunk(5), now_ms=1040) == [] and aligner.rejected == 2


def test_flush_releases_what_is_held_with_its_gaps_filled():
    aligner = TrackAligner()
    push(aligner, 0, chunk(0))
    push(aligner, 60, chunk(3))
    push(aligner, 40, chunk(2))
    assert flush(aligner) == b"\xff" * CHUNK + chunk(2) + chunk(3)
    assert flush(aligner) == b""


def test_what_is_held_stays_bounded():
    """Many tiny chunks behind a gap are released once they add up to the hold, not kept."""
    aligner = TrackAligner(hold_ms=200)
    push(aligner, 0, chunk(0))
    out = b"".join(push(aligner, 40, b"\x01") for _ in range(1600))
    assert len(out) >= 160 and len(aligner._pending) < 1600


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_within_the_hold_comes_out_as_sent(seed):
    rng = random.Random(seed)
    # each chunk delayed by the network by up to 120 ms: sent in the order they arrive
    chunks = sorted(((n * 20, chunk(n)) for n in range(300)), key=lambda c: c[0] + rng.uniform(0, 120))
    assert chunks != sorted(chunks)
    aligner = TrackAligner()
    out = released(aligner, chunks) + flush(aligner)
    assert out == b"".join(chunk(n) for n in range(300)) and aligner.filled == aligner.dropped == 0


class RecordingFeed:
    """What a StreamFeed does to the call's feed."""

    def __init__(self):
        self.calls = []

    async def push(self, channel, audio: bytes):
        if self.calls and self.calls[-1][0] == "audio" and self.calls[-1][1] == channel:
            self.calls[-1] = ("audio", channel, self.calls[-1][2] + audio)
        else:
            self.calls.append(("audio", channel, audio))

    async def skip(self, seconds, channels=None):
        self.calls.append(("skip", channels, seconds))


def test_the_stream_feed_skips_a_long_gap_on_its_own_channel_and_rejects_the_future():
    """A 7 s hole in the inbound track: the customer's channel goes on 7 s later (the agent's
    track is untouched); a chunk stamped an hour ahead of a stream started just now is dropped."""
    start, _ = parse_start(start_message())
    feed = RecordingFeed()
    stream = StreamFeed(feed, {"inbound": "customer", "outbound": "agent"}, start, max_frame_bytes=640,
                        started=time.monotonic() - 60)        # a minute into the stream
    asyncio.run(stream.push("inbound", 0, chunk(0)))
    asyncio.run(stream.push("inbound", 7020, chunk(1)))
    asyncio.run(stream.push("outbound", 0, chunk(2)))
    asyncio.run(stream.push("outbound", 3_600_000, chunk(3)))
    asyncio.run(stream.flush())
    assert feed.calls == [("audio", "customer", chunk(0)), ("skip", ("customer",), 7.0),
                          ("audio", "customer", chunk(1)), ("audio", "agent", chunk(2))]
    assert stream.aligners["outbound"].rejected == 1


# -- X-Twilio-Signature ----------------------------------------------------------------------
def test_the_signature_is_twilios_own():
    """twilio-python's test vector (tests/unit/test_request_validator.py)."""
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212",
              "Caller": "+14158675309"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    with_443 = port_variants(url)[-1]
    assert with_443 == "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", with_443, params) == "kvajT1Ptam85bY51eRf/AJRuM3w="


def test_port_variants():
    assert port_variants("wss://h.example/ws") == ["wss://h.example/ws", "wss://h.example:443/ws"]
    assert port_variants("wss://h.example:8443/ws") == ["wss://h.example:8443/ws", "wss://h.example/ws"]
    assert port_variants("wss://[::1]:8443/ws") == ["wss://[::1]:8443/ws", "wss://[::1]/ws"]


def test_signed_urls_come_from_the_public_url_the_host_and_the_forwarded_host():
    path = "/ws/gateways/twilio"
    urls = signed_urls(path, "", "ws://ferry.example:8000", "10.0.0.5:8000", "edge.example, proxy.internal")
    assert urls[:2] == ["wss://ferry.example:8000/ws/gateways/twilio", "wss://ferry.example/ws/gateways/twilio"]
    assert "wss://edge.example/ws/gateways/twilio" in urls and "wss://10.0.0.5:8000/ws/gateways/twilio" in urls
    assert not any("proxy.internal" in u or u.startswith("ws:") for u in urls)
    # a public URL behind a path prefix the proxy strips; a query (not Twilio's) is part of the URL
    assert signed_urls(path, "a=1", "wss://ferry.example/pbx/", None)[0] == \
        "wss://ferry.example/pbx/ws/gateways/twilio?a=1"
    assert signed_urls(path, "", None, None) == []


def test_signature_matches_any_candidate_and_nothing_else():
    urls = signed_urls("/ws/gateways/twilio", "", None, "ferry.example")
    good = twilio_signature("secret", "wss://ferry.example/ws/gateways/twilio")
    assert signature_matches("secret", good, urls)
    assert signature_matches("secret", twilio_signature("secret", "wss://ferry.example:443/ws/gateways/twilio"), urls)
    assert not signature_matches("other", good, urls)
    assert not signature_matches("secret", twilio_signature("secret", "ws://ferry.example/ws/gateways/twilio"), urls)
    assert not signature_matches("secret", None, urls) and not signature_matches("secret", "", urls)


# -- messages -------------------------------------------------------------------------------
def start_message(**start) -> dict:
    body = {"accountSid": "AC" + "0" * 32, "streamSid": "MZ" + "1" * 32, "callSid": "CA" + "2" * 32,
            "tracks": ["inbound", "outbound"], "customParameters": {"case_id": "c-1", "agent_id": "a1"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}} | start
    return {"event": "start", "sequenceNumber": "1", "streamSid": body["streamSid"], "start": body}


def refused(code: CloseCode, fn, *args) -> str:
    with pytest.raises(ProtocolError) as exc:
        fn(*args)
    assert exc.value.code == code, exc.value.reason
    return exc.value.reason


def test_start_gives_the_call_tracks_and_parameters():
    start, params = parse_start(start_message(customParameters={"case_id": "c-1", "agent_id": "a1",
                                                                "token": "t", "inbound": "agent", "x": "y"}))
    assert start.call_sid == "CA" + "2" * 32 and start.tracks == ["inbound", "outbound"]
    assert (params.case_id, params.agent_id, params.token, params.inbound) == ("c-1", "a1", "t", "agent")
    assert "token" not in repr(params)                # never in a log line


def test_a_start_twilio_would_not_send_is_refused():
    assert "mediaFormat" in refused(CloseCode.UNSUPPORTED_AUDIO, parse_start, start_message(
        mediaFormat={"encoding": "audio/l16", "sampleRate": 16000, "channels": 1}))
    assert "tracks" in refused(CloseCode.BAD_MESSAGE, parse_start, start_message(tracks=["both"]))
    assert "tracks" in refused(CloseCode.BAD_MESSAGE, parse_start, start_message(tracks=[]))
    assert "twice" in refused(CloseCode.BAD_MESSAGE, parse_start, start_message(tracks=["inbound", "inbound"]))
    assert "callSid" in refused(CloseCode.BAD_MESSAGE, parse_start, start_message(callSid="CA 1"))
    assert "case_id" in refused(CloseCode.BAD_MESSAGE, parse_start, start_message(customParameters={"case_id": ""}))
    assert "start" in refused(CloseCode.BAD_MESSAGE, parse_start, {"event": "start"})


def test_messages_must_be_json_objects_with_an_event():
    assert parse_message('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')["event"] == "connected"
    # an event added after this was written is the socket's to ignore, not an error
    assert parse_message('{"event": "hello", "streamSid": "MZ1"}')["event"] == "hello"
    assert "JSON" in refused(CloseCode.BAD_MESSAGE, parse_message, "not json")
    assert "JSON" in refused(CloseCode.BAD_MESSAGE, parse_message, "")
    assert "object" in refused(CloseCode.BAD_MESSAGE, parse_message, "[1]")
    assert "event" in refused(CloseCode.BAD_MESSAGE, parse_message, '{"streamSid": "MZ1"}')
    assert "event" in refused(CloseCode.BAD_MESSAGE, parse_message, '{"event": 7}')
    assert "binary" in refused(CloseCode.BAD_MESSAGE, parse_message, None)


SOME_AUDIO = base64.b64encode(b"\x7f" * CHUNK).decode()


def media(track="inbound", timestamp="20", payload=SOME_AUDIO) -> dict:
    return {"event": "media", "sequenceNumber": "3", "streamSid": "MZ1",
            "media": {"track": track, "chunk": "2", "timestamp": timestamp, "payload": payload}}


def test_media_gives_track_timestamp_and_mulaw_bytes():
    assert parse_media(media(), ["inbound", "outbound"]) == ("inbound", 20, b"\x7f" * CHUNK)
    assert parse_media(json.loads(json.dumps(media(timestamp=40))), ["inbound"])[1] == 40


def test_bad_media_is_refused():
    tracks = ["inbound"]
    assert "announce" in refused(CloseCode.BAD_MESSAGE, parse_media, media(track="outbound"), tracks)
    assert "base64" in refused(CloseCode.BAD_MESSAGE, parse_media, media(payload="%%%not base64"), tracks)
    assert "timestamp" in refused(CloseCode.BAD_MESSAGE, parse_media, media(timestamp="-5"), tracks)
    assert "timestamp" in refused(CloseCode.BAD_MESSAGE, parse_media, media(timestamp="soon"), tracks)
    assert "media" in refused(CloseCode.BAD_MESSAGE, parse_media, {"event": "media"}, tracks)
