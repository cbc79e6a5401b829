"""AudioHook's protocol state without sockets: a client message in, the replies and the call out."""

import asyncio
import json
import uuid

import pytest

from ferryman.gateways.genesys import NULL_UUID, AudioHookSession, Backlog, CallOutlet, CallStart, choose_media, seconds
from ferryman.ingest.protocol import CloseCode, ProtocolError

SESSION, ORG, CONVERSATION = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
STEREO = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}


def offer(fmt="PCMU", channels=("external", "internal"), rate=8000) -> dict:
    return {"type": "audio", "format": fmt, "channels": list(channels), "rate": rate}


class Client:
    """Numbers its messages as a Genesys client does."""

    def __init__(self, session: AudioHookSession):
        self.session, self.seq = session, 0

    def text(self, kind: str, params: dict | None = None, **override) -> str:
        self.seq += 1
        message = {"version": "2", "id": SESSION, "type": kind, "seq": self.seq,
                   "serverseq": self.session.seq, "position": "PT0.0S", "parameters": params or {}}
        return json.dumps({**message, **override})

    def send(self, kind: str, params: dict | None = None, **override):
        return self.session.on_text(self.text(kind, params, **override))


def open_parameters(**change) -> dict:
    return {"organizationId": ORG, "conversationId": CONVERSATION,
            "participant": {"id": str(uuid.uuid4()), "ani": "tel:+8613800000000", "aniName": "", "dnis": "tel:+86100"},
            "media": [STEREO, offer(channels=["external"]), offer(channels=["internal"])], "language": "zh-CN",
            **change}


def opened_client(**change) -> Client:
    client = Client(AudioHookSession(SESSION, ORG))
    client.send("open", open_parameters(**change))
    return client


def test_open_takes_pcmu_stereo_and_asks_for_the_conversation():
    client = Client(AudioHookSession(SESSION, ORG))
    step = client.send("open", open_parameters())
    assert step.replies == [{"version": "2", "id": SESSION, "type": "opened", "seq": 1, "clientseq": 1,
                             "parameters": {"media": [STEREO], "startPaused": False}}]
    assert step.start == CallStart(CONVERSATION, ("customer", "agent"), "mulaw")
    assert step.end is None and client.session.state == "open"


def test_the_channels_follow_the_offered_order():
    step = Client(AudioHookSession(SESSION)).send("open", open_parameters(media=[offer(channels=["internal", "external"])]))
    assert step.start.channels == ("agent", "customer")


@pytest.mark.parametrize("offers, chosen", [
    ([offer("L16"), offer(channels=["external"]), offer()], 2),                 # PCMU stereo wherever it is
    ([offer("L16"), offer(channels=["external"])], 1),                         # PCMU, one party
    ([offer("L16", ["internal"]), offer("L16")], 1),                           # L16 stereo before L16 mono
    ([offer("L16", ["internal"])], 0),
    ([offer(rate=16000), offer("opus"), offer(channels=["external", "external"]), offer(channels=["other"]),
      {"type": "video", "format": "PCMU", "channels": ["external"], "rate": 8000}, "PCMU"], None),
    ([], None),
])
def test_media_preference(offers, chosen):
    assert choose_media(offers) == chosen


def test_l16_is_little_endian_pcm_of_the_one_party_offered():
    step = Client(AudioHookSession(SESSION)).send("open", open_parameters(media=[offer("L16", ["internal"])]))
    assert step.start.encoding == "pcm_s16le" and step.start.channels == ("agent",)


def test_nothing_usable_is_an_unsupported_audio_error():
    with pytest.raises(ProtocolError) as err:
        Client(AudioHookSession(SESSION)).send("open", open_parameters(media=[offer("opus")]))
    assert err.value.code == CloseCode.UNSUPPORTED_AUDIO and "no offered media" in err.value.reason


def test_an_empty_offer_is_opened_without_a_call_and_audio_then_is_an_error():
    client = Client(AudioHookSession(SESSION))
    step = client.send("open", open_parameters(media=[]))
    assert step.replies[0]["parameters"]["media"] == [] and step.start is None
    with pytest.raises(ProtocolError) as err:
        client.session.on_audio(b"\xff\xff")
    assert err.value.code == CloseCode.OUT_OF_ORDER


@pytest.mark.parametrize("null", ["conversationId", "participant"])
def test_a_connection_probe_is_opened_and_closed_without_a_call(null):
    change = {"conversationId": NULL_UUID} if null == "conversationId" else \
        {"participant": {"id": NULL_UUID, "ani": "", "aniName": "", "dnis": ""}}
    client = Client(AudioHookSession(SESSION))
    step = client.send("open", open_parameters(**change))
    assert step.replies[0]["type"] == "opened" and step.start is None
    assert client.session.on_audio(b"\xff\xff") is False        # a probe's audio makes no call
    closed = client.send("close", {"reason": "end"})
    assert [r["type"] for r in closed.replies] == ["closed"] and closed.end == "ended"


def test_case_and_agent_from_custom_config_or_input_variables():
    step = Client(AudioHookSession(SESSION)).send("open", open_parameters(
        customConfig={"case_id": "CC-1", "other": 1}, inputVariables={"agent_id": "张三", "case_id": "CC-2"}))
    assert (step.start.case_id, step.start.agent_id) == ("CC-1", "张三")
    with pytest.raises(ProtocolError) as err:
        Client(AudioHookSession(SESSION)).send("open", open_parameters(customConfig={"case_id": "a:b"}))
    assert err.value.code == CloseCode.BAD_MESSAGE and "case_id" in err.value.reason


def test_ping_is_answered_with_pong_naming_the_pings_seq():
    client = opened_client()
    step = client.send("ping", {"rtt": "PT0.05S"})
    assert step.replies == [{"version": "2", "id": SESSION, "type": "pong", "seq": 2, "clientseq": 2, "parameters": {}}]
    step = client.send("ping")
    assert (step.replies[0]["seq"], step.replies[0]["clientseq"]) == (3, 3)


def test_update_is_answered_and_pause_leaves_audio_out_until_resumed():
    client = opened_client()
    assert client.session.on_audio(b"\xff\xff") is True
    assert [r["type"] for r in client.send("update", {"language": "en-US"}).replies] == ["updated"]
    assert client.send("paused").replies == [] and client.session.state == "paused"
    assert client.session.on_audio(b"\xff\xff") is False
    resumed = client.send("resumed", {"start": "PT3.0S", "discarded": "PT2.5S"})
    assert resumed.replies == [] and resumed.skip == 2.5
    discarded = client.send("discarded", {"start": "PT9.0S", "discarded": "PT0.2S"})
    assert discarded.replies == [] and discarded.skip == pytest.approx(0.2)
    assert client.session.on_audio(b"\xff\xff") is True
    assert client.send("error", {"code": 500, "message": "internal client error"}).replies == []


def test_close_ends_the_call_and_a_close_to_reconnect_leaves_it_waiting():
    client = opened_client()
    step = client.send("close", {"reason": "end"})
    assert step.replies == [{"version": "2", "id": SESSION, "type": "closed", "seq": 2, "clientseq": 2,
                             "parameters": {}}]
    assert step.end == "ended"
    with pytest.raises(ProtocolError):
        client.session.on_audio(b"\xff\xff")
    assert opened_client().send("close", {"reason": "reconnect"}).end == "dropped"


def test_audio_before_open_is_out_of_order():
    with pytest.raises(ProtocolError) as err:
        AudioHookSession(SESSION).on_audio(b"\xff\xff")
    assert err.value.code == CloseCode.OUT_OF_ORDER and "before" in err.value.reason


@pytest.mark.parametrize("text, code, words", [
    ("{not json", CloseCode.BAD_MESSAGE, "not JSON"),
    ("[1]", CloseCode.BAD_MESSAGE, "must be a JSON object"),
    ("x" * 70000, CloseCode.FRAME_TOO_LARGE, "64 KB"),
])
def test_unreadable_messages(text, code, words):
    with pytest.raises(ProtocolError) as err:
        AudioHookSession(SESSION).on_text(text)
    assert err.value.code == code and words in err.value.reason


@pytest.mark.parametrize("override, code, words", [
    ({"version": "1"}, CloseCode.BAD_MESSAGE, "version:"),
    ({"id": None}, CloseCode.BAD_MESSAGE, "id:"),
    ({"id": "not-a-uuid"}, CloseCode.BAD_MESSAGE, "id:"),
    ({"seq": "1"}, CloseCode.BAD_MESSAGE, "seq:"),
    ({"seq": True}, CloseCode.BAD_MESSAGE, "seq:"),
    ({"serverseq": -1}, CloseCode.BAD_MESSAGE, "serverseq:"),
    ({"position": "1.5"}, CloseCode.BAD_MESSAGE, "position:"),
    ({"parameters": []}, CloseCode.BAD_MESSAGE, "parameters:"),
    ({"seq": 3}, CloseCode.OUT_OF_ORDER, "seq 3 after 1"),
    ({"seq": 1}, CloseCode.OUT_OF_ORDER, "seq 1 after 1"),
    ({"serverseq": 5}, CloseCode.BAD_MESSAGE, "serverseq 5"),
    ({"id": str(uuid.uuid4())}, CloseCode.BAD_MESSAGE, "not this session's"),
    ({"type": "dance"}, CloseCode.BAD_MESSAGE, "'dance' is not a client message"),
    ({"type": "open"}, CloseCode.OUT_OF_ORDER, "a second open"),
])
def test_malformed_messages_after_open(override, code, words):
    client = opened_client()
    client.seq = 1 if override.get("seq") is None else 0      # seq overrides are absolute
    text = client.text("ping", **override)
    with pytest.raises(ProtocolError) as err:
        client.session.on_text(text)
    assert err.value.code == code and words in err.value.reason, err.value.reason


@pytest.mark.parametrize("kind, parameters, code", [
    ("paused", {}, CloseCode.OUT_OF_ORDER),
    ("update", {"language": "en-US"}, CloseCode.OUT_OF_ORDER),
    ("open", {"conversationId": CONVERSATION, "media": []}, CloseCode.BAD_MESSAGE),       # no organizationId
    ("open", open_parameters(organizationId=str(uuid.uuid4())), CloseCode.FORBIDDEN),
])
def test_bad_first_messages(kind, parameters, code):
    with pytest.raises(ProtocolError) as err:
        Client(AudioHookSession(SESSION, ORG)).send(kind, parameters)
    assert err.value.code == code, err.value.reason


def test_the_session_id_is_taken_from_the_first_message_without_the_header():
    client = Client(AudioHookSession(None))
    assert client.send("open", open_parameters()).replies[0]["id"] == SESSION


def test_disconnect_then_the_clients_close_is_answered_with_closed():
    client = opened_client()
    message = client.session.disconnect(ProtocolError(CloseCode.BAD_MESSAGE, "malformed audio frame"))
    assert message == {"version": "2", "id": SESSION, "type": "disconnect", "seq": 2, "clientseq": 1,
                       "parameters": {"reason": "error", "info": "malformed audio frame"}}
    assert client.session.on_audio(b"\xff") is False                # audio in flight: ignored
    assert client.session.on_text("garbage").replies == []
    assert client.send("ping").replies == []
    step = client.send("close", {"reason": "disconnect"})
    assert step.replies[0]["type"] == "closed" and step.replies[0]["clientseq"] == 3 and step.end == "ended"


def test_credentials_disconnect_as_unauthorized():
    message = AudioHookSession(SESSION).disconnect(ProtocolError(CloseCode.FORBIDDEN, "wrong organization"))
    assert message["parameters"]["reason"] == "unauthorized" and message["seq"] == 1


def test_durations():
    assert seconds("PT1.23S") == 1.23 and seconds("PT0S") == 0.0 and seconds("PT.5S") == 0.5


# -- the call's timeline: what the client left out ------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_gap_reported_by_discarded_and_resumed_is_skipped_once_in_either_order():
    client = opened_client()
    client.send("paused")
    assert client.send("discarded", {"start": "PT6.8S", "discarded": "PT3.4S"}).skip == pytest.approx(3.4)
    assert client.send("resumed", {"start": "PT6.800S", "discarded": "PT3.4S"}).skip == 0.0
    client.send("paused")
    assert client.send("resumed", {"start": "PT20S", "discarded": "PT2S"}).skip == 2.0
    assert client.send("discarded", {"start": "PT20.0S", "discarded": "PT2.5S"}).skip == pytest.approx(0.5)
    assert client.send("discarded", {"start": "PT20.0S", "discarded": "PT1S"}).skip == 0.0


def test_a_pause_without_a_report_skips_the_time_it_lasted_here():
    clock = Clock()
    client = Client(AudioHookSession(SESSION, ORG, clock=clock))
    client.send("open", open_parameters())
    client.send("paused")
    clock.now += 7.25
    client.send("ping")
    assert client.send("resumed", {"start": "PT1S"}).skip == pytest.approx(7.25)
    assert client.send("resumed").skip == 0.0                       # not paused: nothing to measure
    client.send("paused")
    clock.now += 9
    assert client.send("resumed", {"start": "PT1S", "discarded": "PT4S"}).skip == 4.0    # its report wins
    client.send("paused")
    clock.now += 9
    assert client.send("discarded", {"start": "PT2S", "discarded": "PT3S"}).skip == 3.0
    assert client.send("resumed", {"start": "PT2S"}).skip == 0.0     # reported during the pause: done


@pytest.mark.parametrize("kind, parameters", [
    ("discarded", {"start": "PT1S"}), ("discarded", {"start": "PT1S", "discarded": "3"}),
    ("resumed", {"discarded": 3.0}),
])
def test_a_malformed_gap_is_a_bad_message(kind, parameters):
    with pytest.raises(ProtocolError) as err:
        opened_client().send(kind, parameters)
    assert err.value.code == CloseCode.BAD_MESSAGE and "discarded" in err.value.reason, err.value.reason


# -- while the call opens -------------------------------------------------------------------
def test_the_backlog_keeps_order_and_turns_the_oldest_audio_beyond_its_limit_into_a_gap():
    backlog = Backlog(bytes_per_s=100, limit_s=0.5)          # 50 bytes of audio at most
    backlog.gap(0.1)
    backlog.audio(b"a" * 20)
    backlog.gap(0.2)
    backlog.gap(0.05)
    backlog.audio(b"b" * 20)
    assert backlog.items == pytest.approx([0.1, b"a" * 20, 0.25, b"b" * 20])
    backlog.audio(b"c" * 20)                                 # 60 bytes: "a" goes, its time stays
    assert backlog.items == pytest.approx([0.55, b"b" * 20, b"c" * 20]) and backlog.dropped_s == 0.2
    assert backlog.take() == pytest.approx([0.55, b"b" * 20, b"c" * 20]) and backlog.size == 0


class FakeFeed:
    call_id = "c1"

    def __init__(self):
        self.got = []

    async def push_frame(self, frame):
        self.got.append(frame)

    async def skip(self, seconds):
        self.got.append(seconds)


class FakeCall:
    """``Connection.open`` that waits for ``release`` (the registration wait), then opens or fails."""

    def __init__(self, error: ProtocolError | None = None):
        self.release, self.error, self.feed, self.cancelled = asyncio.Event(), error, FakeFeed(), False

    async def open(self, *args):
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error:
            raise self.error
        return self.feed


START = CallStart(CONVERSATION, ("customer", "agent"), "mulaw")


async def test_messages_are_answered_while_the_call_opens_and_its_audio_waits_in_order():
    call, outlet, inbox = FakeCall(), CallOutlet(), asyncio.Queue()
    outlet.open(call, START)
    await inbox.put({"text": "ping"})
    assert await outlet.receive(inbox.get) == {"text": "ping"}     # not held up by the open
    await outlet.audio(b"\x01\x01")
    await outlet.skip(2.0)
    await outlet.audio(b"\x02\x02")
    assert call.feed.got == [] and outlet.opening
    waiting = asyncio.create_task(outlet.receive(inbox.get))
    call.release.set()
    await asyncio.sleep(0.01)
    assert call.feed.got == [b"\x01\x01", 2.0, b"\x02\x02"] and not waiting.done()   # pushed at once
    await inbox.put({"bytes": b"\x03\x03"})
    assert await waiting == {"bytes": b"\x03\x03"}
    await outlet.audio(b"\x03\x03")
    assert call.feed.got[-1] == b"\x03\x03"
    await outlet.stop()


async def test_a_failed_open_is_raised_while_waiting_for_a_message():
    call, outlet, inbox = FakeCall(ProtocolError(CloseCode.CASE_NOT_FOUND, "case X not found")), CallOutlet(), \
        asyncio.Queue()
    outlet.open(call, START)
    waiting = asyncio.create_task(outlet.receive(inbox.get))
    call.release.set()
    with pytest.raises(ProtocolError) as err:
        await asyncio.wait_for(waiting, 1)
    assert err.value.code == CloseCode.CASE_NOT_FOUND
    await outlet.stop()


async def test_an_open_still_waiting_when_the_session_goes_is_cancelled():
    call, outlet = FakeCall(), CallOutlet()
    outlet.open(call, START)
    await asyncio.sleep(0)
    await outlet.stop()
    assert call.cancelled and outlet.feed is None


async def test_an_orderly_end_waits_for_the_open_and_pushes_what_waited():
    call, outlet = FakeCall(), CallOutlet()
    outlet.open(call, START)
    await outlet.audio(b"\x01\x01")
    asyncio.get_running_loop().call_later(0.05, call.release.set)
    await outlet.finish()
    assert call.feed.got == [b"\x01\x01"] and outlet.feed is call.feed
