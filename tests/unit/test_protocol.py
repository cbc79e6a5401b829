import pytest

from ferryman.ingest.protocol import CloseCode, ProtocolError, parse_control, parse_start

GOOD = {"type": "start", "case_id": "C1", "agent_id": "a7", "sample_rate": 8000, "encoding": "mulaw", "channels": 2}


def test_good_stereo_and_mono_starts():
    assert parse_start(GOOD).channel_names == ["agent", "customer"]
    mono = parse_start({**GOOD, "channels": 1, "channel": "customer"})
    assert mono.channel_names == ["customer"]


@pytest.mark.parametrize("change, code, words", [
    ({"sample_rate": 44100}, CloseCode.UNSUPPORTED_AUDIO, "sample_rate 44100"),
    ({"encoding": "opus"}, CloseCode.UNSUPPORTED_AUDIO, "encoding 'opus'"),
    ({"channels": 3}, CloseCode.UNSUPPORTED_AUDIO, "channels 3"),
    ({"channels": 1}, CloseCode.BAD_MESSAGE, "channel"),
    ({"case_id": ""}, CloseCode.BAD_MESSAGE, "case_id"),
    ({"sample_rate": "fast"}, CloseCode.BAD_MESSAGE, "sample_rate"),
    ({"bogus": 1}, CloseCode.BAD_MESSAGE, "bogus"),
    ({"type": "stop"}, CloseCode.OUT_OF_ORDER, "expected 'start'"),
])
def test_bad_starts_name_the_problem(change, code, words):
    with pytest.raises(ProtocolError) as err:
        parse_start({**GOOD, **change})
    assert err.value.code == code and words in err.value.reason


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"no_type": 1}'])
def test_control_messages_must_be_json_objects_with_a_type(text):
    with pytest.raises(ProtocolError) as err:
        parse_control(text)
    assert err.value.code == CloseCode.BAD_MESSAGE


def test_close_reason_fits_a_websocket_close_frame():
    err = ProtocolError(CloseCode.BAD_MESSAGE, "错" * 100)
    assert len(err.reason.encode()) <= 123
