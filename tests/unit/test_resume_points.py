"""Where a gateway resends audio from after a take-over: never before its own first second."""

from ferryman.calls.live import LiveCall, LiveCalls
from ferryman.ingest.protocol import StartMessage


class StubPipeline:
    """Only what resume points read: per channel, up to where the call was transcribed."""

    def __init__(self, points: dict, now: float):
        self.points, self.opened = points, {}
        self.clock = type("Clock", (), {"now": lambda _self: now})()

    def resume_point(self, channel):
        return self.points.get(channel, 0.0)

    def open_channel(self, channel, offset_s=0.0):
        self.opened[channel] = offset_s


START = StartMessage(type="start", case_id="C1", agent_id="a1", sample_rate=16000)


def resume(points: dict, audio_offset: float):
    pipeline = StubPipeline(points, now=30.0)
    call = LiveCall(pipeline=pipeline, sink=None, audio_offset=audio_offset)
    return LiveCalls._resume_points(None, call, START), pipeline.opened


def test_a_channel_with_nothing_transcribed_resends_from_the_gateways_first_second():
    attachment, opened = resume({"agent": 6.2, "customer": 0.0}, audio_offset=1.5)
    assert attachment.resume_from == 0.0                       # not -1.5 (which read the file's tail)
    assert opened == {"agent": 1.5, "customer": 1.5}
    assert attachment.skip_s == {"agent": 4.7, "customer": 0.0}


def test_both_channels_transcribed_resend_from_the_earlier_and_skip_what_the_other_had():
    attachment, opened = resume({"agent": 12.0, "customer": 9.5}, audio_offset=1.5)
    assert attachment.resume_from == 8.0 and opened == {"agent": 9.5, "customer": 9.5}
    assert attachment.skip_s == {"agent": 2.5, "customer": 0.0}
