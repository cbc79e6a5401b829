"""Phrase matching against ASR errors, and where it must refuse."""

import pytest

from ferryman.hints.matching import Phonetics, PhraseSet, split_clauses
from ferryman.hints.rules import load_rules

RULES = load_rules()


def matches(phrases, text):
    ps = PhraseSet(phrases, RULES.phonetics)
    return [m.text for c in split_clauses(text, RULES.phonetics) for m in ps.find(c)]


@pytest.mark.parametrize("phrase, heard", [
    ("欠款", "您的千款"),            # qian kuan, tone differs
    ("逾期", "已经于七天"),
    ("违约金", "唯一金两千"),        # yue ~ yi (phonetic.yaml)
    ("分期", "能不能分7还"),         # digits are read as their syllables
    ("一二三七八", "打12378"),
    ("录音举报", "我要录音起报"),    # four+ characters tolerate one slip
    ("暴力催收", "你们这是暴力催生"),
])
def test_misheard_words_match(phrase, heard):
    assert matches([phrase], heard)


@pytest.mark.parametrize("phrase, text", [
    ("找不到工作", "我找得到工作"),   # a slip may not flip a negation
    ("投诉", "偷"),                  # too short to match by sound
    ("卡…恢复", "卡。恢复"),          # a gap never crosses a clause
    ("律师", "历史"),
])
def test_what_must_not_match(phrase, text):
    assert not matches([phrase], text)


def test_gaps():
    assert matches(["卡…恢复"], "卡还能不能恢复") == ["卡还能不能恢复"]
    assert not matches(["卡…恢复"], "卡片这个东西以后再说能不能恢复")      # more than 6 apart


def test_negation_and_its_exceptions():
    complaint = PhraseSet(["投诉"], RULES.phonetics)
    idiom = PhraseSet(["有完没完"], RULES.phonetics)

    def negated(ps, text):
        return [RULES.negation.cancels(m) for c in split_clauses(text, RULES.phonetics) for m in ps.find(c)]

    assert negated(complaint, "我不是要投诉") == [True]
    assert negated(complaint, "不然我就投诉") == [False]
    assert negated(idiom, "你们没有完没完") == [False]           # the idiom carries its own negation


def test_fuzzy_groups_fold_both_ways():
    ph = Phonetics(initials=(("zh", "z"),), finals=(("ang", "an"),))
    assert ph.fuzzy("zhang") == ph.fuzzy("zan") == "zan"
