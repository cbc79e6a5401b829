"""Where a gateway resends audio from after a take-over: never before its own first second."""

from ferryman.calls.live import FeedSpec, LiveCall, LiveCalls


class StubPipeline:
    """Only what resume points read: per channel, up to where the call was transcribed."""

    def __init__(self, points: dict, now: float):
        self.points, self.opened = points, {}
        self.clock = type("Clock", (), {"now": lambda _self: now})()

    def resume_point(self, channel):
        return self.points.get(channel, 0.0)

    def open_channel(self, channel, offset_s=0.0):
        self.opened[channel] = offset_s


STEREO = FeedSpec(("agent", "customer"), "C1", "a1")


def resume(points: dict, audio_offset: float, spec: FeedSpec = STEREO):
    pipeline = StubPipeline(points, now=30.0)
    call = LiveCall(pipeline=pipeline, sink=None, audio_offset=audio_offset)
    return LiveCalls._resume_points(None, call, spec), pipeline.opened


def test_a_channel_with_nothing_transcribed_resends_from_the_gateways_first_second():
    attachment, opened = resume({"agent": 6.2, "customer": 0.0}, audio_offset=1.5)
    assert attachment.resume_from == 0.0                       # not -1.5 (which read the file's tail)
    assert opened == {"agent": 1.5, "customer": 1.5}
    assert attachment.skip_s == {"agent": 4.7, "customer": 0.0}


def test_both_channels_transcribed_resend_from_the_earlier_and_skip_what_the_other_had():
    attachment, opened = resume({"agent": 12.0, "customer": 9.5}, audio_offset=1.5)
    assert attachment.resume_from == 8.0 and opened == {"agent": 9.5, "customer": 9.5}
    assert attachment.skip_s == {"agent": 2.5, "customer": 0.0}


def test_a_pbx_leg_that_comes_back_goes_on_from_now_and_skips_nothing():
    live = FeedSpec(("customer",), "C1", "a1", resends=False)
    attachment, opened = resume({"customer": 9.5}, audio_offset=1.5, spec=live)
    assert opened == {"customer": 30.0}        # the gap it was away is not squeezed out of the timeline
    assert attachment.resume_from == 0.0 and attachment.skip_s == {}
