"""The learned intent layer at run time: an utterance in context -> a score per situation.

The artifact (``hints/model/intents.npz``, written by ``ferryman hints train``) holds plain
arrays, no pickled objects: the n-gram vocabulary with its idf, one logistic-regression column
per head (sparse n-grams + the sentence embedding), the per-head threshold chosen on the
validation split, and the small multinomial "kind" classifiers (which plan an ask is about,
which hardship). Scoring one turn is a few hundred multiply-adds plus one sentence embedding.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ferryman.hints.learned.features import EMBEDDING_DIM, NAMESPACES, namespace, shared_encoder, sparse_terms
from ferryman.hints.rules import RulesError

MODEL_DIR = Path(__file__).resolve().parents[1] / "model"
MODEL_FILE = MODEL_DIR / "intents.npz"
FORMAT = 1

# Which speaker each head listens to. The heads are the case-independent half of a hint code:
# the engine turns "an ask for a plan" into offer_plan only when the case has a plan, etc.
HEADS = {
    "customer": ("escalation", "complaint_risk", "hardship", "offer_plan", "card_status", "debt_breakdown",
                 "promise_to_pay", "third_party"),
    "agent": ("agent_compliance",),
}
KINDS = {"ask": ("split", "delay", "reduce"), "hardship": ("job", "illness", "business", "waiting", "cash")}
KIND_OF = {"offer_plan": "ask", "hardship": "hardship"}
# The rules' findings that speak for a head. When one is there the head has a second threshold,
# chosen in training like the first and never higher: a phrase the rules matched is evidence,
# and how much it is worth per head is learnt from the data, not assumed.
HEAD_RULES = {
    "escalation": ("r:mood_hot", "r:lex_stop_calling", "r:lex_swearing"),
    "complaint_risk": ("r:complaint",),
    "hardship": ("r:hardship_job", "r:hardship_illness", "r:hardship_business", "r:hardship_waiting",
                 "r:hardship_cash"),
    "offer_plan": ("r:ask_split", "r:ask_delay", "r:ask_reduce"),
    "card_status": ("r:ask_card",),
    "debt_breakdown": ("r:dispute_amount",),
    "promise_to_pay": ("r:promise",),
    "third_party": ("r:third_party", "r:debtor_named"),
    "agent_compliance": ("r:threats", "r:insults", "r:waivers"),
}


def supported(head: str, evidence) -> bool:
    return any(term in evidence for term in HEAD_RULES.get(head, ()))


def threshold_for(head: str, thresholds: dict[str, float], evidence) -> float:
    """The head's threshold, or its (lower or equal) one when the rules found the head's phrase."""
    if supported(head, evidence):
        return thresholds.get(head + "+rule", thresholds[head])
    return thresholds[head]
class HintModelError(RulesError):
    """The learned model is missing or unreadable (a configuration error, like a bad rule file)."""


@dataclass
class Vectorizer:
    """Counts of n-gram terms -> one sparse tf-idf row, each namespace l2-normalised and weighted."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    weights: dict[str, float]

    def __post_init__(self) -> None:
        self._space = np.array([NAMESPACES.index(namespace(t)) for t in self.vocabulary], dtype=np.int8)

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    def transform(self, terms: Counter) -> tuple[np.ndarray, np.ndarray]:
        idx = np.array([self.vocabulary[t] for t in terms if t in self.vocabulary], dtype=np.int64)
        if not len(idx):
            return idx, np.zeros(0, dtype=np.float32)
        counts = np.array([terms[t] for t in terms if t in self.vocabulary], dtype=np.float32)
        values = (1.0 + np.log(counts)) * self.idf[idx]
        spaces = self._space[idx]
        for space, name in enumerate(NAMESPACES):
            mask = spaces == space
            if mask.any():
                norm = float(np.linalg.norm(values[mask]))
                values[mask] *= self.weights.get(name, 1.0) / max(norm, 1e-9)
        return idx, values.astype(np.float32)


@dataclass(frozen=True)
class Scores:
    """Probabilities per head (for the turn's speaker), whether each passes its threshold, and
    the most likely kind of an ask / a hardship."""

    probability: dict[str, float]
    fired: frozenset[str]
    kinds: dict[str, str]

    def explain(self, head: str) -> dict:
        return {"by": "model", "head": head, "score": round(self.probability[head], 3)}


class IntentModel:
    def __init__(self, arrays: dict[str, np.ndarray]):
        self.meta = json.loads(str(arrays["meta"]))
        if self.meta.get("format") != FORMAT:
            raise HintModelError(f"hint model has format {self.meta.get('format')}, expected {FORMAT}: "
                                 "run `ferryman hints train`")
        vocabulary = {term: i for i, term in enumerate(arrays["vocab"].tolist())}
        self.vectorizer = Vectorizer(vocabulary, arrays["idf"], self.meta["namespace_weights"])
        self.embedding_weight = float(self.meta["embedding_weight"])
        self.heads: dict[str, tuple[str, ...]] = {s: tuple(h) for s, h in self.meta["heads"].items()}
        self._w = {s: arrays[f"W_{s}"] for s in self.heads}
        self._b = {s: arrays[f"b_{s}"] for s in self.heads}
        self.thresholds: dict[str, float] = self.meta["thresholds"]
        self.kinds: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in self.meta["kinds"].items()}
        self._kind_w = {k: arrays[f"K_{k}"] for k in self.kinds}
        self._kind_b = {k: arrays[f"kb_{k}"] for k in self.kinds}

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> "IntentModel":
        if not Path(path).is_file():
            raise HintModelError(f"hint model {path} is missing: run `ferryman hints train`")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            return cls(arrays)
        except HintModelError as exc:
            raise HintModelError(f"{path}: {exc}") from exc
        except Exception as exc:          # a truncated or foreign file: say which, and how to fix it
            raise HintModelError(f"hint model {path} is unreadable ({exc}): run `ferryman hints train`") from exc

    # -- features ---------------------------------------------------------------------------
    def features(self, text: str, prev: str | None, evidence=frozenset(), embedding: np.ndarray | None = None):
        idx, values = self.vectorizer.transform(sparse_terms(text, prev, evidence))
        if embedding is None:
            embedding = shared_encoder().encode([text])[0]
        return idx, values, embedding * self.embedding_weight

    def _linear(self, w: np.ndarray, b: np.ndarray, feats) -> np.ndarray:
        idx, values, dense = feats
        n = self.vectorizer.size
        return values @ w[idx] + dense @ w[n:n + EMBEDDING_DIM] + b

    # -- scoring ----------------------------------------------------------------------------
    def score(self, text: str, speaker: str, prev: str | None = None, evidence=frozenset(),
              embedding: np.ndarray | None = None) -> Scores:
        """``evidence``: the rules' findings on this turn (``r:`` terms, see features.py)."""
        heads = self.heads.get(speaker, ())
        if not heads or not text.strip():
            return Scores({}, frozenset(), {})
        feats = self.features(text, prev, evidence, embedding)
        z = self._linear(self._w[speaker], self._b[speaker], feats)
        probability = {h: float(p) for h, p in zip(heads, 1.0 / (1.0 + np.exp(-z)))}
        fired = frozenset(h for h, p in probability.items() if p >= threshold_for(h, self.thresholds, evidence))
        # which plan an ask is about, which hardship: only for what was heard
        kinds = {KIND_OF[h]: self.kind(KIND_OF[h], feats) for h in fired & set(KIND_OF) if KIND_OF[h] in self.kinds}
        return Scores(probability, fired, kinds)

    def kind(self, kind: str, feats) -> str:
        logits = self._linear(self._kind_w[kind], self._kind_b[kind], feats)
        return self.kinds[kind][int(np.argmax(logits))]


@lru_cache(maxsize=2)
def shared_model(path: Path = MODEL_FILE) -> IntentModel:
    return IntentModel.load(path)
