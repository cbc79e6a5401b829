"""The rule files load, and a team lead's mistake is reported with the file and the field."""

import shutil

import pytest

from ferryman.hints.rules import HINT_CODES, RULES_DIR, Rules, RulesError


def test_shipped_rules_load_and_cover_every_code():
    rules = Rules()
    assert set(rules.cards) == set(HINT_CODES)
    assert all(card.title and card.suggestion for card in rules.cards.values())


@pytest.fixture
def rules_copy(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def _break(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("file, old, new, named", [
    ("cards.yaml", "severity: critical", "severity: urgent", r"cards\.yaml: codes\.avoid_topic\.severity"),
    ("cards.yaml", "  escalation:", "  escalashun:", r"cards\.yaml: .*escalation"),
    ("intents.yaml", "  complaint:\n    speaker: customer", "  complaint:\n    speeker: customer",
     r"intents\.yaml: intents\.complaint\.speeker"),
    ("sentiment.yaml", "categories:", "categories: [", r"sentiment\.yaml"),
    ("intents.yaml", "  ask_card:", "  ask_kard:", r"intents\.yaml: .*ask_card"),
])
def test_a_mistake_names_its_file_and_field(rules_copy, file, old, new, named):
    _break(rules_copy / file, old, new)
    with pytest.raises(RulesError, match=named):
        Rules(rules_copy)
