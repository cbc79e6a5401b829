"""The learned intent layer: its data, its artifact, and how the engine uses it."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from hint_helpers import Call

from ferryman.cli import main
from ferryman.hints.learned.dataset import DataError, check, data_digest, load, normalised, read_items, training_files
from ferryman.hints.learned.dataset import test_files as frozen_files
from ferryman.hints.learned.features import sparse_terms
from ferryman.hints.learned.model import MODEL_FILE, HintModelError, IntentModel, shared_model
from ferryman.hints.learned.noise import damage, variants

HERE = Path(__file__).parent


def test_every_data_file_is_valid_and_the_set_is_big_enough():
    assert check(training_files()) == [] and check(frozen_files()) == []
    items = load(training_files() + frozen_files())
    assert len(items) >= 2000
    generated = sum(1 for i in items if i.tags.get("variant_of"))
    assert generated <= len(items) / 3              # at most a third from generators
    codes = {c for i in items for c in i.codes}
    assert len(codes) == 11 and sum(1 for i in items if not i.codes) >= 500


def test_a_bad_item_is_named_by_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x-1", "spk": "C", "text": "你好", "codes": ["agent_compliance"]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: .*customer turn"):
        read_items(bad)


def test_the_shipped_model_was_trained_on_the_data_in_the_repo():
    model = shared_model()
    assert model.meta["data_digest"] == data_digest(training_files()), "data changed: run `ferryman hints train`"
    assert MODEL_FILE.stat().st_size <= 20 * 1024 * 1024


# Short turns written blind by different people sometimes coincide word for word; these three
# did (docs/benchmarks.md gives the frozen score with and without them). Nothing else may.
KNOWN_COINCIDENCES = {"fa-9", "fa-176", "fb-91"}


def _key(item):
    return item.spk, normalised(item.text), tuple(normalised(t.text) for t in item.prev)


def test_the_frozen_test_split_is_never_trained_on():
    train = {_key(i) for i in load(training_files())}
    assert {i.id for i in load(frozen_files()) if _key(i) in train} <= KNOWN_COINCIDENCES


def _literals(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(normalised(node.value)) >= 4
            and any("\u4e00" <= ch <= "\u9fff" for ch in node.value)}


@pytest.mark.parametrize("test_file", ["test_situations.py", "test_wording.py"])
def test_unit_test_phrasings_are_not_in_the_training_data(test_file):
    """The tests of situations (written blind, per kind of situation) use no sentence the model
    was trained on: they test the kind, not a memorised sentence."""
    train = {normalised(i.text) for i in load(training_files())}
    assert sorted(s for s in _literals(HERE / test_file) if normalised(s) in train) == []


def test_features_see_digits_as_syllables_and_the_other_speakers_question():
    terms = sparse_terms("能分7吗", prev="您哪天能还？")
    assert "p:fen_qi" in terms                     # 分7 reads as 分期
    assert "x:?" in terms and any(t.startswith("w:") for t in terms)


def test_hints_say_what_raised_them():
    hints = Call().hints("customer", "我投诉过你们，这次再这样我还要投诉")
    rule = [s for s in hints["complaint_risk"].source if s["by"] == "rule"]
    assert rule and rule[0]["rule"] == "intents.complaint" and "投诉" in rule[0]["match"]
    story = Call().hints("customer", "厂里接不到单子，三个月就发了一个月的钱")
    assert any(s["by"] == "model" and s["head"] == "hardship" and 0 < s["score"] <= 1
               for s in story["hardship"].source)


def test_the_model_cannot_bring_back_a_threat_the_rules_heard_negated():
    assert "agent_compliance" not in Call().codes("agent", "您放心，我们绝对不会去您单位，也不会联系您的同事和家人")
    assert "agent_compliance" in Call().codes("agent", "您要是还不还，我们就去您单位找您领导聊聊")


def test_rules_alone_still_work_without_the_model():
    assert "complaint_risk" in Call(model=False).codes("customer", "我要去投诉你们")


def test_a_missing_or_broken_model_says_how_to_fix_it(tmp_path):
    with pytest.raises(HintModelError, match="ferryman hints train"):
        IntentModel.load(tmp_path / "absent.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(HintModelError, match="unreadable"):
        IntentModel.load(broken)


def test_asr_damage_keeps_labels_and_groups_and_is_deterministic():
    import random

    items = load(training_files()[:1])[:40]
    first, second = variants(items, 0.5, seed=3), variants(items, 0.5, seed=3)
    assert [v.text for v in first] == [v.text for v in second] and first
    original = {i.id: i for i in items}
    for copy in first:
        source = original[copy.tags["variant_of"]]
        assert copy.codes == source.codes and copy.tags["asr"] is True and copy.text != source.text
    assert damage("我下个月发了工资就还", random.Random(1)) != ""


def test_hints_try_prints_the_codes_and_their_reasons(capsys):
    assert main(["hints", "try", "礼拜五吧", "--prev", "您哪天能把最低还款还上？"]) == 0
    out = capsys.readouterr().out
    assert "promise_to_pay" in out and "learned layer" in out and "礼拜五" in out


def test_hints_data_check_reports_problems(tmp_path, capsys):
    dup = tmp_path / "dup.jsonl"
    line = json.dumps({"id": "d-1", "spk": "C", "text": "卡还能用吗", "codes": ["card_status"]}, ensure_ascii=False)
    dup.write_text(line + "\n" + line.replace("d-1", "d-2") + "\n", encoding="utf-8")
    assert main(["hints", "data", "check", str(dup)]) == 2
    assert "repeats" in capsys.readouterr().out


def test_scores_are_probabilities_and_speaker_specific():
    model = shared_model()
    scores = model.score("你再不还钱我们就去你家找你", "agent")
    assert set(scores.probability) == {"agent_compliance"}
    assert all(0.0 <= p <= 1.0 for p in model.score("我下周一还三千", "customer").probability.values())
    assert np.isclose(sum(1 for _ in model.heads["customer"]), 8)
