"""The endpointing policy, on synthetic VAD probabilities (no model)."""

import numpy as np

from ferryman.asr.segmenter import FRAME_S, EndpointConfig, Segmenter
from ferryman.asr.vad import FRAME

CFG = EndpointConfig(onset=0.5, offset=0.3, endpoint_silence_s=0.45, tail_s=0.2, preroll_s=0.25,
                     min_utterance_s=0.3, long_utterance_s=3.0, max_utterance_s=14.0, partial_interval_s=0.7)


def run(probs, cfg=CFG, flush=False):
    seg = Segmenter(cfg)
    frames = np.arange(len(probs), dtype=np.float32).repeat(FRAME).reshape(len(probs), FRAME)  # frame i = value i
    out = seg.push(frames, np.asarray(probs, dtype=np.float32))
    return out + (seg.flush() if flush else [])


def frames_for(seconds):
    return round(seconds / FRAME_S)


def pattern(*parts):
    """pattern((0.0, 1.0), (0.9, 2.0)) = 1 s silence then 2 s speech."""
    return [p for prob, secs in parts for p in [prob] * frames_for(secs)]


def test_silence_and_noise_blips_produce_nothing():
    assert run(pattern((0.0, 5.0))) == []
    assert run(pattern((0.0, 1.0), (0.9, 0.1), (0.0, 2.0))) == []   # 0.1 s blip < min_utterance


def test_one_utterance_gives_partials_a_closing_and_a_final_with_preroll():
    out = run(pattern((0.0, 1.0), (0.9, 2.0), (0.0, 1.0)))
    kinds = [s.kind for s in out]
    assert kinds[-2:] == ["closing", "final"] and set(kinds[:-2]) == {"partial"} and len(kinds) >= 4
    final = out[-1]
    assert abs(final.start - (1.0 - 0.25)) < 2 * FRAME_S          # pre-roll kept
    assert abs(final.end - (3.0 + 0.2)) < 2 * FRAME_S              # speech + tail, not the whole silence
    closing = out[-2]
    assert closing.key == final.key                                 # the final can reuse the closing decode


def test_a_short_pause_inside_a_short_utterance_does_not_end_it():
    out = run(pattern((0.0, 0.5), (0.9, 1.0), (0.0, 0.3), (0.9, 1.0), (0.0, 1.0)))
    finals = [s for s in out if s.kind == "final"]
    assert len(finals) == 1
    closings = [s for s in out if s.kind == "closing"]
    assert len(closings) == 2 and closings[0].key != finals[0].key  # the first was speculative only


def test_a_long_utterance_is_finalised_at_its_next_short_pause():
    out = run(pattern((0.9, 3.5), (0.0, 0.25), (0.9, 1.0), (0.0, 1.0)))
    finals = [s for s in out if s.kind == "final"]
    assert len(finals) == 2
    assert finals[0].index == 0 and finals[1].index == 1
    assert finals[1].start >= finals[0].end - 0.3


def test_speech_without_pause_is_cut_at_its_quietest_frame():
    probs = pattern((0.9, 12.0), (0.35, 0.1), (0.9, 4.0), (0.0, 1.0))
    out = run(probs)
    finals = [s for s in out if s.kind == "final"]
    assert len(finals) == 2
    assert abs(finals[0].end - 12.1) < 0.15


def test_flush_finalises_open_speech():
    out = run(pattern((0.0, 0.5), (0.9, 1.0)), flush=True)
    assert out[-1].kind == "final"


def test_audio_is_exactly_the_frames_in_order():
    out = run(pattern((0.0, 1.0), (0.9, 1.0), (0.0, 1.0)))
    final = out[-1]
    values = final.audio.reshape(-1, FRAME)[:, 0]
    assert np.all(np.diff(values) == 1)                             # consecutive frames, none lost
    assert values[0] == round(final.start / FRAME_S)
