import numpy as np
import pytest

from ferryman.ingest.audio import (
    MULAW_TO_FLOAT,
    ChannelResampler,
    FrameError,
    Upsampler2x,
    decode_samples,
    encode_mulaw,
    encode_pcm16,
    interleave,
    split_frame,
)


def test_mulaw_round_trip_is_within_quantisation_error():
    x = np.linspace(-0.9, 0.9, 1001, dtype=np.float32)
    decoded = decode_samples(encode_mulaw(x), "mulaw")
    assert np.max(np.abs(decoded - x) / (np.abs(x) + 0.01)) < 0.1
    # G.711 reference points: 0xFF/0x7F are the two zeros, 0x80/0x00 the extremes (+-32124)
    assert MULAW_TO_FLOAT[0xFF] == 0.0 and MULAW_TO_FLOAT[0x7F] == 0.0
    assert MULAW_TO_FLOAT[0x80] * 32768 == 32124 and MULAW_TO_FLOAT[0x00] * 32768 == -32124


def test_pcm16_round_trip():
    x = np.array([0.0, 0.5, -0.5, 0.999], dtype=np.float32)
    assert np.allclose(decode_samples(encode_pcm16(x), "pcm_s16le"), x, atol=1e-4)


def test_split_frame_deinterleaves_left_agent_right_customer():
    left, right = np.full(160, 0.25, np.float32), np.full(160, -0.5, np.float32)
    agent, customer = split_frame(encode_pcm16(interleave(left, right)), "pcm_s16le", 2)
    assert np.allclose(agent, 0.25, atol=1e-4) and np.allclose(customer, -0.5, atol=1e-4)


@pytest.mark.parametrize("payload", [b"", b"\x00\x01\x02"])
def test_split_frame_rejects_partial_samples(payload):
    with pytest.raises(FrameError, match="not a whole number"):
        split_frame(payload, "pcm_s16le", 2)


def test_upsampler_keeps_a_telephone_tone_and_its_level():
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    up = Upsampler2x()
    out = np.concatenate([up(chunk) for chunk in np.split(tone, 50)])  # streamed in 20 ms chunks
    assert len(out) == 16000
    steady = out[1000:15000]
    assert abs(np.sqrt(np.mean(steady ** 2)) - 0.5 / np.sqrt(2)) < 0.02
    spectrum = np.abs(np.fft.rfft(steady))
    peak_hz = np.argmax(spectrum) * 16000 / len(steady)
    assert abs(peak_hz - 1000) < 5
    image = spectrum[int(7000 * len(steady) / 16000)]  # the 7 kHz mirror image must be gone
    assert image < spectrum.max() * 0.01


def test_resampler_takes_the_rates_pbxs_send_and_refuses_the_rest():
    with pytest.raises(ValueError):
        ChannelResampler(4000)
    x = np.ones(10, np.float32)
    assert ChannelResampler(16000)(x) is x
    for rate in (12000, 44100, 48000):             # AudioSocket's higher rates: a 440 Hz tone stays 440 Hz
        resample, t = ChannelResampler(rate), np.arange(rate) / rate
        tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
        out = np.concatenate([resample(tone[i:i + rate // 50]) for i in range(0, rate, rate // 50)])
        assert abs(len(out) - 16000) < 64
        spectrum = np.abs(np.fft.rfft(out[1000:15000]))
        assert abs(np.argmax(spectrum) * 16000 / 14000 - 440) < 3
