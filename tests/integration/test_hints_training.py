"""`ferryman hints train` on real data: deterministic, loadable, and what it reports is real."""

import hashlib

from ferryman.hints.learned.dataset import DATA_DIR
from ferryman.hints.learned.model import IntentModel
from ferryman.hints.learned.train import train

SUBSET = [DATA_DIR / "utterances" / name for name in ("ag.jsonl", "nc.jsonl", "pc.jsonl")]


def test_training_is_deterministic_and_the_artifact_loads(tmp_path):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    result = train(first, SUBSET, log=lambda *_: None)
    train(second, SUBSET, log=lambda *_: None)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()   # noqa: E731
    assert digest(first) == digest(second)
    model = IntentModel.load(first)
    heads = {h for heads in model.heads.values() for h in heads}
    assert set(model.thresholds) == heads | {h + "+rule" for h in heads}
    assert all(0.2 <= model.thresholds[h] <= 0.9 for h in heads)
    assert all(model.thresholds[h + "+rule"] <= model.thresholds[h] for h in heads)   # a rule never hurts
    # a held-out report, not a copy of the training fit: some errors, most right
    assert result.validation.items > 50 and 0.5 < result.validation.total.f1 < 1.0
    assert model.score("你再不还，我们明天就去你单位找你领导", "agent").probability["agent_compliance"] > 0.5
