"""Raw telephone audio -> float32 mono channels at 16 kHz (pure numpy, no I/O)."""

from __future__ import annotations

from typing import Literal

import numpy as np

ASR_RATE = 16000
Encoding = Literal["pcm_s16le", "mulaw"]
BYTES_PER_SAMPLE: dict[str, int] = {"pcm_s16le": 2, "mulaw": 1}


def _mulaw_table() -> np.ndarray:
    """ITU-T G.711 mu-law byte -> linear value in [-1, 1]."""
    u = ~np.arange(256, dtype=np.uint8)
    sign = (u & 0x80) != 0
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    linear = np.where(sign, 0x84 - magnitude, magnitude - 0x84)
    return (linear / 32768.0).astype(np.float32)


MULAW_TO_FLOAT = _mulaw_table()


def encode_mulaw(samples: np.ndarray) -> bytes:
    """float in [-1, 1] -> G.711 mu-law bytes (what telephony gateways send)."""
    pcm = np.clip(np.abs(samples) * 32768, 0, 32635).astype(np.int32) + 0x84
    exponent = np.floor(np.log2(pcm)).astype(np.int32) - 7
    mantissa = (pcm >> (exponent + 3)) & 0x0F
    sign = np.where(samples < 0, 0x80, 0)
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def decode_samples(payload: bytes, encoding: Encoding) -> np.ndarray:
    if encoding == "pcm_s16le":
        return np.frombuffer(payload, dtype="<i2").astype(np.float32) / 32768.0
    return MULAW_TO_FLOAT[np.frombuffer(payload, dtype=np.uint8)]


def encode_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class FrameError(ValueError):
    """An audio frame that cannot be decoded as announced."""


def split_frame(payload: bytes, encoding: Encoding, channels: int) -> list[np.ndarray]:
    """One binary frame -> one float32 array per channel (interleaved input)."""
    block = BYTES_PER_SAMPLE[encoding] * channels
    if len(payload) == 0 or len(payload) % block:
        raise FrameError(f"frame of {len(payload)} bytes is not a whole number of "
                         f"{channels}-channel {encoding} samples ({block} bytes each)")
    samples = decode_samples(payload, encoding)
    return [samples[i::channels] for i in range(channels)]


def interleave(*channels: np.ndarray) -> np.ndarray:
    """Equal-length channels -> one interleaved array (L R L R ...)."""
    return np.stack(channels, axis=1).reshape(-1)


def _halfband_kernel(taps: int = 48) -> np.ndarray:
    """Windowed-sinc low-pass at a quarter of the output rate, for 2x interpolation."""
    n = np.arange(-taps, taps + 1)
    kernel = np.sinc(n / 2.0) * np.blackman(len(n))
    return (kernel / kernel.sum() * 2.0).astype(np.float32)


class Upsampler2x:
    """Streaming 8 kHz -> 16 kHz interpolator; keeps the filter tail between chunks."""

    def __init__(self) -> None:
        self.kernel = _halfband_kernel()
        self._history = np.zeros(len(self.kernel) - 1, dtype=np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        stuffed = np.zeros(2 * len(samples), dtype=np.float32)
        stuffed[::2] = samples
        padded = np.concatenate([self._history, stuffed])
        self._history = padded[len(padded) - (len(self.kernel) - 1):]
        return np.convolve(padded, self.kernel, mode="valid").astype(np.float32)

    @property
    def delay_samples(self) -> int:
        """Output delay (at 16 kHz) the filter introduces."""
        return (len(self.kernel) - 1) // 2


class StreamResampler:
    """Any rate -> 16 kHz, streaming (libswresample through PyAV keeps the filter state between
    chunks): for the rates some PBXs send beside 8 and 16 kHz (12, 24, 32, 44.1, 48 kHz...)."""

    def __init__(self, rate: int):
        import av

        self.rate = rate
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=ASR_RATE)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        import av

        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1),
                                           format="flt", layout="mono")
        frame.sample_rate = self.rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, dtype=np.float32)


MAX_RATE = 192_000


class ChannelResampler:
    """Brings one channel to the ASR rate; a no-op at 16 kHz, our own filter at 8 kHz."""

    def __init__(self, rate: int):
        if not 8000 <= rate <= MAX_RATE:
            raise ValueError(f"unsupported sample rate {rate}")
        self._convert = None if rate == ASR_RATE else Upsampler2x() if rate == 8000 else StreamResampler(rate)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return self._convert(samples) if self._convert else samples
