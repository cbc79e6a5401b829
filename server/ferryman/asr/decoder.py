"""One utterance of 16 kHz audio -> one hypothesis, with faster-whisper's CTranslate2 model.

Blocking: the scheduler runs it in a worker thread, never on the event loop.

Why not ``WhisperModel.transcribe``: it pads every input to Whisper's 30-second window, and on
2 CPU cores the encoder alone then costs ~0.6 s per call whatever the utterance length. A
live copilot decodes short utterances many times, so we pad each utterance with only
``window_margin_s`` of silence (encoder ~0.08 s for a 10 s window) and call the model's
``generate`` once, at one temperature: the library's temperature fallback can retry a short
buffer six times (the 42 s trap in shared/README.md). ``window_margin_s=None`` restores the
standard 30 s window (more accurate, 0.131 vs 0.141 CER on the dev corpus, see
docs/benchmarks.md), e.g. for large models on a GPU. The feature extractor, the tokenizer and
the prompt layout are faster-whisper's own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ferryman.asr.model import ModelError, check_model_dir
from ferryman.asr.text import clean_text

log = logging.getLogger(__name__)
RATE = 16000


@dataclass(frozen=True)
class Hypothesis:
    text: str              # cleaned, simplified Chinese ("" when nothing usable was heard)
    raw: str               # what the model produced
    avg_logprob: float
    no_speech_prob: float


class WhisperDecoder:
    def __init__(self, settings):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        check_model_dir(settings.model_dir)
        try:
            self.model = WhisperModel(str(settings.model_dir), device=settings.asr_device,
                                      compute_type=settings.asr_compute_type,
                                      cpu_threads=settings.asr_cpu_threads, num_workers=settings.asr_workers)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load the speech model at {settings.model_dir}: {exc}") from exc
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                   task="transcribe", language=settings.asr_language)
        self.window_margin_s = settings.asr_window_margin_s
        self.no_speech_threshold = settings.asr_no_speech_threshold
        self.logprob_threshold = settings.asr_logprob_threshold

    def _features(self, audio: np.ndarray) -> np.ndarray:
        from faster_whisper.audio import pad_or_trim

        extractor = self.model.feature_extractor
        features = extractor(audio)
        full = extractor.nb_max_frames  # 3000 frames = 30 s
        if self.window_margin_s is None:
            return pad_or_trim(features, full)
        frames = features.shape[-1] + int(self.window_margin_s * RATE / extractor.hop_length)
        return pad_or_trim(features, min(full, frames))

    def _prompt_tokens(self, prompt: str, prefix: str) -> list[int]:
        tok = self.tokenizer
        previous = tok.encode(" " + prompt.strip())[-(self.model.max_length // 2 - 1):] if prompt else []
        head = [tok.sot_prev, *previous] if previous else []
        forced = tok.encode(prefix) if prefix else []
        return [*head, *tok.sot_sequence, tok.no_timestamps, *forced]

    def decode(self, audio: np.ndarray, prompt: str = "", beam_size: int = 1, prefix: str = "") -> Hypothesis:
        """``prompt``: previous text (biasing); ``prefix``: text the hypothesis must start with
        (a partial's stable prefix: only the rest is decoded, and what was stable stays put)."""
        import ctranslate2

        features = self._features(audio)
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])))
        tokens = self._prompt_tokens(prompt, prefix)
        # Mandarin runs at ~4-6 characters a second; a budget well above that stops decoder loops.
        max_new = int(12 * len(audio) / RATE) + 16
        result = self.model.model.generate(
            encoded, [tokens], beam_size=beam_size, max_length=min(self.model.max_length, len(tokens) + max_new),
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1])[0]
        ids = result.sequences_ids[0]
        raw = self.tokenizer.decode(ids)
        avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1) if ids else -10.0
        hyp = Hypothesis(clean_text(raw), raw, avg_logprob, result.no_speech_prob)
        if self._is_no_speech(hyp):
            log.debug("dropped as no speech: %r (p=%.2f, lp=%.2f)", raw, hyp.no_speech_prob, avg_logprob)
            return Hypothesis("", raw, avg_logprob, result.no_speech_prob)
        return hyp

    def _is_no_speech(self, hyp: Hypothesis) -> bool:
        return hyp.no_speech_prob > self.no_speech_threshold and hyp.avg_logprob < self.logprob_threshold
