"""``ferryman hints train``: the learned intent layer from the labelled utterance set.

1. The training batches (``data/utterances``) are split by a hash of each item's group into
   train and validation (the frozen test split in ``data/test`` is never read here).
2. Features (``features.py``) for every item; the n-gram vocabulary and idf from train only.
3. One logistic regression per head (``model.HEADS``), its regularisation chosen on validation
   log-loss; each head's threshold chosen on validation *together with the rules*: the engine
   raises a code when its rule fires or the head passes the threshold, so the threshold is the
   one that gives the best F1 of that union at the target precision.
4. The "kind" classifiers (which plan an ask is about, which hardship) on the tagged items.
5. Refit on train + validation with the chosen settings; write ``model/intents.npz``: plain
   arrays, written byte-for-byte the same for the same data (fixed zip timestamps, one thread).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict

from ferryman.hints.learned.dataset import (
    DATA_DIR,
    Item,
    data_digest,
    default_case,
    group_of,
    load,
    split,
    training_files,
)
from ferryman.hints.learned.evaluate import Report, evaluate, played
from ferryman.hints.learned.features import EMBEDDING_DIM, shared_encoder, sparse_terms
from ferryman.hints.learned.model import FORMAT, HEADS, KINDS, MODEL_FILE, IntentModel, Vectorizer, supported

SPEAKER_OF = {"customer": "C", "agent": "A"}


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validation_share: float
    folds: int
    min_df: int
    namespace_weights: dict[str, float]
    embedding_weight: float
    C: list[float]
    target_precision: float
    threshold_range: tuple[float, float]


def load_config(path: Path = DATA_DIR / "training.yaml") -> TrainingConfig:
    return TrainingConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# -- labels ------------------------------------------------------------------------------------
def head_label(item: Item, head: str) -> int | None:
    """1 / 0 for this head, or None when the item says nothing certain about it.

    The heads are the case-independent half of a code: an ask for instalments is an ask whether
    or not this case has a plan, so ``tags.ask`` counts; a disclosure is a breach only given who
    is on the line, so those items teach the agent head nothing (the rules judge them). Promising
    a discount does teach it: the engine vetoes the head where the case's plans give that waiver."""
    if head == "offer_plan" and item.tags.get("ask"):
        return 1
    if head == "agent_compliance" and item.tags.get("breach") == "disclosure":
        return None
    if head in item.codes:
        return 1
    if head in item.optional:
        return None
    return 0


def code_wanted(item: Item, code: str) -> int | None:
    if code in item.codes:
        return 1
    return None if code in item.optional else 0


# -- features ----------------------------------------------------------------------------------
def previous_turn(item: Item) -> str | None:
    other = [t.text for t in item.prev if t.spk != item.spk]
    return other[-1] if other else None


@dataclass
class Featurised:
    items: list[Item]
    terms: list[Counter]
    embeddings: np.ndarray
    rules_only: list[set[str]]       # the codes the engine raises without the model
    evidence: list[frozenset[str]]   # the rules' findings (r: terms)


def featurise(items: list[Item]) -> Featurised:
    """Features of every item, with the rules' findings on it as the engine would compute them."""
    played_items = [played(item, None) for item in items]
    terms = [sparse_terms(item.text, previous_turn(item), evidence)
             for item, (_, evidence) in zip(items, played_items)]
    embeddings = shared_encoder().encode([item.text for item in items])
    return Featurised(items, terms, embeddings, [codes for codes, _ in played_items],
                      [evidence for _, evidence in played_items])


# rule findings that raise their code whatever the model says (engine.py): swearing and "stop
# calling" phrases, and the agent's threat / insult / waiver / disclosure lines
HARD_RULES = {"escalation": {"r:mood_strong"},
              "agent_compliance": {"r:threats", "r:insults", "r:waivers", "r:disclosure"}}


def build_vectorizer(terms: list[Counter], config: TrainingConfig) -> Vectorizer:
    df = Counter(t for counts in terms for t in counts)
    vocab = sorted(t for t, n in df.items() if n >= config.min_df)
    n = len(terms)
    idf = np.array([np.log((1 + n) / (1 + df[t])) + 1.0 for t in vocab], dtype=np.float32)
    return Vectorizer({t: i for i, t in enumerate(vocab)}, idf, config.namespace_weights)


def design_matrix(vectorizer: Vectorizer, data: Featurised, rows: list[int], embedding_weight: float):
    from scipy.sparse import csr_matrix, hstack

    indptr, indices, values = [0], [], []
    for r in rows:
        idx, vals = vectorizer.transform(data.terms[r])
        indices.extend(idx.tolist())
        values.extend(vals.tolist())
        indptr.append(len(indices))
    sparse = csr_matrix((np.array(values, dtype=np.float64), np.array(indices, dtype=np.int64), indptr),
                        shape=(len(rows), vectorizer.size))
    dense = csr_matrix(data.embeddings[rows].astype(np.float64) * embedding_weight)
    return hstack([sparse, dense], format="csr")


# -- fitting -----------------------------------------------------------------------------------
def _fit(X, y, C: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, solver="liblinear", random_state=0, max_iter=2000).fit(X, y)


def choose_threshold(probability: np.ndarray, supported: np.ndarray, by_rules: np.ndarray, wanted: np.ndarray,
                     config: TrainingConfig) -> tuple[tuple[float, float], dict]:
    """Two thresholds per head — one for turns where the rules found the head's phrase too
    (``supported``), never higher than the other — whose union with the hard rules gives the
    best F1, each point of precision below the target costing two points of F1 (precision
    matters more to an agent than recall: a wrong card teaches them to ignore the panel)."""
    low, high = config.threshold_range
    grid = np.round(np.arange(low, high + 1e-9, 0.02), 2)
    best, best_key, best_info = (high, high), None, {}
    for t in grid:
        for ts in (np.round(np.arange(0.04, t + 1e-9, 0.02), 2) if supported.any() else [t]):
            fired = by_rules | (probability >= np.where(supported, ts, t))
            tp = int(np.sum(fired & (wanted == 1)))
            fp = int(np.sum(fired & (wanted == 0)))
            fn = int(np.sum(~fired & (wanted == 1)))
            precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
            f1 = 2 * precision * recall / max(1e-9, precision + recall)
            key = (round(f1 - 2 * max(0.0, config.target_precision - precision), 4), t, ts)
            if best_key is None or key > best_key:
                best, best_key = (float(t), float(ts)), key
                best_info = {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4),
                             "meets_precision": precision >= config.target_precision}
    return best, best_info


@dataclass
class TrainingResult:
    path: Path
    validation: Report
    validation_rules_only: Report
    heads: dict[str, dict]
    size_bytes: int
    items: int
    kind_accuracy: dict[str, tuple[int, int]]      # kind -> (right, of) on validation
    calibration: dict[str, tuple[float, float]]     # head -> (Brier score, expected calibration error)


def train(out: Path = MODEL_FILE, paths: list[Path] | None = None, log=print) -> TrainingResult:
    from threadpoolctl import threadpool_limits

    config = load_config()
    paths = paths or training_files()
    items = load(paths)
    parts = split(items, config.validation_share)
    log(f"{len(items)} utterances from {len(paths)} files: {len(parts.train)} train, "
        f"{len(parts.validation)} validation")
    with threadpool_limits(limits=1):
        data = featurise(parts.train + parts.validation)
        n_train = len(parts.train)
        train_rows, val_rows = list(range(n_train)), list(range(n_train, len(data.items)))
        train_vectorizer = build_vectorizer([data.terms[r] for r in train_rows], config)
        heads_info: dict[str, dict] = {}
        chosen: dict[str, tuple[float, float]] = {}
        for speaker, heads in HEADS.items():
            for head in heads:
                C, threshold, info = _select(head, speaker, data, train_rows, train_vectorizer, config)
                chosen[head] = (C, threshold)
                heads_info[head] = info
                log(f"  {head:<18} C {C:<4g} threshold {threshold[0]:.2f} (with a rule's support "
                    f"{threshold[1]:.2f})  cross-validated F1 {info['f1']:.3f}"
                    f"{'' if info['meets_precision'] else ' (below the target precision)'}")
        meta = {"format": FORMAT, "heads": {s: list(h) for s, h in HEADS.items()},
                "kinds": {k: list(v) for k, v in KINDS.items()}, "namespace_weights": config.namespace_weights,
                "embedding_weight": config.embedding_weight, "data_digest": data_digest(paths),
                "items": len(items), "heads_selection": heads_info}
        # the validation split measures a model that never saw it (train only, same settings) ...
        val_model = IntentModel(_artifact(data, train_rows, train_vectorizer, chosen, config, meta))
        validation = evaluate(parts.validation, val_model)
        kind_accuracy = _kind_accuracy(val_model, data, val_rows)
        calibration = _calibration(val_model, data, val_rows)
        validation_rules = Report()
        for item, got in zip(parts.validation, data.rules_only[n_train:]):
            validation_rules.add(item, got)
        # ... and the model shipped is refit on train + validation
        write_npz(out, _artifact(data, train_rows + val_rows, build_vectorizer(data.terms, config), chosen,
                                 config, meta))
    return TrainingResult(out, validation, validation_rules, heads_info, out.stat().st_size, len(items),
                          kind_accuracy, calibration)


def _calibration(model: IntentModel, data: Featurised, rows: list[int], bins: int = 10) -> dict:
    """How far each head's probabilities are from the observed frequencies on validation:
    the Brier score and the expected calibration error over ten equal-width bins."""
    out = {}
    for speaker, heads in HEADS.items():
        for head in heads:
            keep, y = _rows_for(head, speaker, data, rows)
            if not keep:
                continue
            p = np.array([model.score(data.items[r].text, speaker, previous_turn(data.items[r]),
                                      data.evidence[r], data.embeddings[r]).probability[head] for r in keep])
            which = np.minimum((p * bins).astype(int), bins - 1)
            ece = sum(abs(p[which == b].mean() - y[which == b].mean()) * np.mean(which == b)
                      for b in range(bins) if np.any(which == b))
            out[head] = (float(np.mean((p - y) ** 2)), float(ece))
    return out


def _kind_accuracy(model: IntentModel, data: Featurised, rows: list[int]) -> dict[str, tuple[int, int]]:
    out = {}
    for kind, labels in KINDS.items():
        tagged = [r for r in rows if data.items[r].spk == "C" and data.items[r].tags.get(kind) in labels]
        right = sum(model.kind(kind, model.features(data.items[r].text, previous_turn(data.items[r]),
                                                    data.evidence[r], data.embeddings[r]))
                    == data.items[r].tags[kind] for r in tagged)
        out[kind] = (right, len(tagged))
    return out


def _artifact(data, rows, vectorizer, chosen, config, meta) -> dict[str, np.ndarray]:
    arrays, thresholds = _fit_all(data, rows, vectorizer, chosen, config)
    arrays["meta"] = np.array(json.dumps({**meta, "thresholds": thresholds}, ensure_ascii=False, sort_keys=True))
    arrays["vocab"] = np.array(sorted(vectorizer.vocabulary, key=vectorizer.vocabulary.get))
    arrays["idf"] = vectorizer.idf
    return arrays


def _rows_for(head: str, speaker: str, data: Featurised, rows: list[int]) -> tuple[list[int], np.ndarray]:
    keep, y = [], []
    for r in rows:
        item = data.items[r]
        if item.spk != SPEAKER_OF[speaker]:
            continue
        label = head_label(item, head)
        if label is not None:
            keep.append(r)
            y.append(label)
    return keep, np.array(y)


def _fold(item: Item, folds: int) -> int:
    import hashlib

    return hashlib.sha256(("fold:" + group_of(item)).encode()).digest()[0] % folds


def _out_of_fold(head, speaker, data, rows, vectorizer, config, C) -> dict[int, float]:
    """Each training row's probability from a model fitted on the other folds."""
    keep, y = _rows_for(head, speaker, data, rows)
    fold = np.array([_fold(data.items[r], config.folds) for r in keep])
    X = design_matrix(vectorizer, data, keep, config.embedding_weight)
    out = np.zeros(len(keep))
    for k in range(config.folds):
        test = fold == k
        if test.any() and len(set(y[~test])) == 2:
            out[test] = _fit(X[~test], y[~test], C).predict_proba(X[test])[:, 1]
    probability = dict(zip(keep, out))
    # items without a head label (optional) still need a score for the code-level threshold
    rest = [r for r in rows if r not in probability and data.items[r].spk == SPEAKER_OF[speaker]]
    if rest:
        full = _fit(X, y, C).predict_proba(design_matrix(vectorizer, data, rest, config.embedding_weight))[:, 1]
        probability.update(zip(rest, full))
    return probability


def _select(head, speaker, data, rows, vectorizer, config):
    """C by cross-validated log-loss; the threshold by the cross-validated F1 of the code as the
    engine raises it (hard rules or the head), at the target precision."""
    keep, y = _rows_for(head, speaker, data, rows)
    losses, oof = {}, {}
    for C in config.C:
        oof[C] = _out_of_fold(head, speaker, data, rows, vectorizer, config, C)
        p = np.clip(np.array([oof[C][r] for r in keep]), 1e-6, 1 - 1e-6)
        losses[C] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    C = min(losses, key=lambda c: (round(losses[c], 4), c))
    judged = [r for r in rows
              if data.items[r].spk == SPEAKER_OF[speaker] and code_wanted(data.items[r], head) is not None]
    probability = np.array([oof[C][r] for r in judged])
    by_rules = np.array([bool(HARD_RULES.get(head, set()) & data.evidence[r]) for r in judged])
    with_rule = np.array([supported(head, data.evidence[r]) for r in judged])
    wanted = np.array([code_wanted(data.items[r], head) for r in judged])
    if head == "offer_plan":       # no plan in the case: the engine offers nothing, whatever the ask
        base = default_case()
        probability = probability * np.array([bool(data.items[r].case_for(base).plans) for r in judged])
    threshold, info = choose_threshold(probability, with_rule, by_rules, wanted, config)
    info.update({"C": C, "threshold": threshold, "train_items": len(keep), "positives": int(y.sum()),
                 "log_loss": round(losses[C], 4)})
    return C, threshold, info


def _fit_all(data, rows, vectorizer, chosen, config):
    from sklearn.linear_model import LogisticRegression

    arrays, thresholds = {}, {}
    width = vectorizer.size + EMBEDDING_DIM
    for speaker, heads in HEADS.items():
        W = np.zeros((width, len(heads)), dtype=np.float32)
        b = np.zeros(len(heads), dtype=np.float32)
        for j, head in enumerate(heads):
            keep, y = _rows_for(head, speaker, data, rows)
            C, (threshold, with_rule) = chosen[head]
            model = _fit(design_matrix(vectorizer, data, keep, config.embedding_weight), y, C)
            W[:, j], b[j] = model.coef_[0], model.intercept_[0]
            thresholds[head], thresholds[head + "+rule"] = threshold, with_rule
        arrays[f"W_{speaker}"], arrays[f"b_{speaker}"] = W, b
    for kind, labels in KINDS.items():
        keep = [r for r in rows if data.items[r].spk == "C" and data.items[r].tags.get(kind) in labels]
        y = np.array([labels.index(data.items[r].tags[kind]) for r in keep])
        missing = sorted(set(labels) - {data.items[r].tags[kind] for r in keep})
        if missing:
            raise ValueError(f"the training data has no item tagged {kind} = {missing}")
        model = LogisticRegression(C=4.0, max_iter=2000).fit(
            design_matrix(vectorizer, data, keep, config.embedding_weight), y)
        order = np.argsort(model.classes_)          # one column per label, in the order of KINDS
        arrays[f"K_{kind}"] = model.coef_[order].T.astype(np.float32)
        arrays[f"kb_{kind}"] = model.intercept_[order].astype(np.float32)
    return arrays, thresholds


# -- the artifact ------------------------------------------------------------------------------
def _write_zip(target, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, buffer.getvalue())


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but byte-for-byte reproducible (no wall-clock timestamps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        _write_zip(fh, arrays)
    tmp.replace(path)
