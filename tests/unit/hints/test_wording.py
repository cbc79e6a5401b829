"""Wordings beyond the phrase lists: the semantic backup and the phrase families together.
(The corpus is a floor: these sentences are not in it.)"""

import pytest
from hint_helpers import Call


@pytest.mark.parametrize("code, text", [
    ("offer_plan", "一次性拿不出那么多，能不能按月给"),
    ("offer_plan", "能不能再给我几天时间"),
    ("offer_plan", "有没有什么办法能让我少出点钱"),
    ("card_status", "我那张卡现在是不是用不了了"),
    ("card_status", "还完之后卡能不能继续刷"),
    ("debt_breakdown", "我就借了三万，怎么变成五万了"),
    ("debt_breakdown", "这里面手续费收了多少"),
    ("debt_breakdown", "你们这账是不是算错了"),
    ("promise_to_pay", "这周六之前我把钱打到卡里"),
    ("promise_to_pay", "等我下个月十号发了工资就给你们还上"),
    ("promise_to_pay", "放心吧，后天我一定把最低的那部分还了"),
    ("hardship", "我现在一分钱收入都没有"),
    ("hardship", "我妈得了重病，钱都花在医院了"),
    ("hardship", "公司把我开了，现在在家待着"),
    ("complaint_risk", "我要给你们领导打电话反映这个事"),
    ("complaint_risk", "我要去法院告你们"),
    ("escalation", "你们是不是有病啊，一天打八遍！"),
    ("escalation", "别再给我打电话了，烦死了"),
    ("third_party", "这是我儿子的电话，他不在家"),
])
def test_unseen_wordings_raise_their_code(code, text):
    assert code in Call().codes("customer", text)


@pytest.mark.parametrize("text", ["好的，我知道了，你说吧", "嗯，我在听", "你们到底是哪家银行的？", "我已经还过了，上周就还了"])
def test_small_talk_and_reports_raise_nothing(text):
    assert Call().codes("customer", text) == []


def test_swear_words_are_not_matched_by_sound():
    # 我妈得了 sounds like 妈的; only the family topic (sensitive in this case) may fire
    assert "escalation" not in Call().codes("customer", "我妈得了重病")
