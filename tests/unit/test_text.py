import pytest

from ferryman.asr.text import clean_text, common_prefix
from ferryman.zhtext import int_to_chinese


@pytest.mark.parametrize("raw, clean", [
    ("您好，請問是王先生嗎？", "您好，请问是王先生吗？"),               # traditional -> simplified
    ("我 是 信用卡 中心", "我是信用卡中心"),
    ("字幕由Amara.org社区提供", ""),
    ("中文字幕志愿者 杨茜茜", ""),
    ("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", ""),
    ("谢谢观看", ""),
    ("好的谢谢您。字幕由某某提供", "好的谢谢您。"),
    ("。。", ""),
    ("好的好的好的好的好的好的", "好的"),                               # decoder loop collapsed
    ("好的好的，我明白", "好的好的，我明白"),                           # ... but people do repeat
    ("其实我们有方案。其实我们有方案。", "其实我们有方案。"),
    ("好的,抱歉,我不提了。卡还能恢复吗?", "好的，抱歉，我不提了。卡还能恢复吗？"),   # zh-CN punctuation
    ("利率是3.5,OK", "利率是3.5,OK"),                                      # ... not inside numbers or Latin
])
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def test_ordinary_thanks_survive():
    assert clean_text("谢谢您的配合") == "谢谢您的配合"


def test_common_prefix():
    assert common_prefix("我今天下午", "我今天晚上") == "我今天"
    assert common_prefix("", "abc") == ""


@pytest.mark.parametrize("n, text", [(110000, "十一万"), (98000, "九万八千"), (12000, "一万二千"),
                                     (2400, "二千四百"), (8600, "八千六百"), (100, "一百"), (10, "十"),
                                     (15, "十五"), (1005, "一千零五"), (100005, "十万零五"), (36, "三十六")])
def test_int_to_chinese(n, text):
    assert int_to_chinese(n) == text
