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


def test_bad_severity_is_named(rules_copy):
    _break(rules_copy / "cards.yaml", "severity: critical", "severity: urgent")
    with pytest.raises(RulesError, match=r"cards\.yaml: codes\.avoid_topic\.severity"):
        Rules(rules_copy)


def test_misspelt_code_is_named(rules_copy):
    _break(rules_copy / "cards.yaml", "  escalation:", "  escalashun:")
    with pytest.raises(RulesError, match="escalation"):
        Rules(rules_copy)


def test_unknown_field_in_an_intent_is_named(rules_copy):
    _break(rules_copy / "intents.yaml", "  complaint:\n    speaker: customer", "  complaint:\n    speeker: customer")
    with pytest.raises(RulesError, match=r"intents\.yaml: intents\.complaint\.speeker"):
        Rules(rules_copy)


def test_broken_yaml_is_reported(rules_copy):
    _break(rules_copy / "sentiment.yaml", "categories:", "categories: [")
    with pytest.raises(RulesError, match=r"sentiment\.yaml"):
        Rules(rules_copy)
