"""Identifying numbers are masked, in every form ASR and people write them; nothing else is."""

import pytest

from ferryman.events import HintEvent, TranscriptEvent
from ferryman.privacy import classify, mask_event, mask_text

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def luhn(body: str) -> str:
    for check in "0123456789":
        digits = [int(d) for d in reversed(body + check)]
        if sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)) % 10 == 0:
            return body + check
    raise AssertionError


PHONE = "13912345678"
ID = resident_id("44030419850612345")
CARD = luhn("622202123456789012")          # 19 digits
CN = dict(zip("0123456789", "零一二三四五六七八九"))


def chinese(digits: str, one: str = "一") -> str:
    return "".join(CN[d] if d != "1" else one for d in digits)


def clear_copies(text: str) -> list[str]:
    return [n for n in (PHONE, ID, CARD) if n in text.replace(" ", "").replace("-", "")]


@pytest.mark.parametrize("said", [
    f"我手机号{PHONE}",
    f"号码是 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]} 对",
    f"{PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}",
    f"{PHONE[:3]}，{PHONE[3:7]}，{PHONE[7:]}",
    f"手机{chinese(PHONE, '幺')}",
    f"手机是{chinese(PHONE)}",
    f"身份证号{ID}",
    f"身份证 {ID[:6]} {ID[6:14]} {ID[14:]}",
    f"证件号{chinese(ID)}",
    f"卡号{CARD}",
    f"卡号 {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:16]} {CARD[16:]}",
    f"{PHONE}，{ID}，{CARD}",
    "１３９１２３４５６７８",
])
def test_every_form_of_a_number_is_masked_keeping_the_last_four(said):
    masked = mask_text(said)
    assert masked != said and not clear_copies(masked)
    assert "*" in masked


def test_the_last_four_digits_are_kept_in_ascii():
    assert mask_text(f"卡号{CARD}") == "卡号" + "*" * 15 + CARD[-4:]
    assert mask_text(f"手机{chinese(PHONE)}") == "手机*******" + PHONE[-4:]


def test_an_id_with_x_as_its_check_character():
    body = next(f"1101051990030{n:03d}1" for n in range(1000) if resident_id(f"1101051990030{n:03d}1").endswith("X"))
    number = resident_id(body)
    assert classify(number) == "id" and mask_text(f"身份证{number}对吧") == f"身份证{'*' * 14}{number[-4:]}对吧"


def test_a_misheard_id_digit_still_masked_by_its_region_and_birth_date():
    wrong = ID[:17] + ("0" if ID[17] != "0" else "1")
    assert classify(wrong) == "id"
    assert classify(wrong, strict=True) is None


def test_a_card_number_failing_luhn_is_masked_only_beside_a_card_word():
    bad = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
    assert mask_text(f"银行卡{bad}") != f"银行卡{bad}"
    assert mask_text(f"编号{bad}") == f"编号{bad}"


@pytest.mark.parametrize("text", [
    "欠款一万两千三百块，今天先还五千",
    "还款5000，3000，2000，1000元，共四期",
    "案件号CC-2023-110001",
    "2024年5月3日下午3点",
    "12000元",
    "10000，20000，30000，40000",
    "",
])
def test_amounts_dates_and_case_numbers_stay_as_they_are(text):
    assert mask_text(text) == text


def test_masking_is_idempotent():
    once = mask_text(f"{PHONE} {ID}")
    assert mask_text(once) == once


def test_events_are_masked_in_their_text_never_in_their_ids():
    event = TranscriptEvent(call_id="c-13912345678", channel="customer", utterance=3, start=0, end=1,
                            final=True, text=f"我手机{PHONE}")
    event.id = "1700000000000-123"
    masked = mask_event(event)
    assert masked.text == "我手机*******5678" and masked.call_id == event.call_id and masked.id == event.id
    hint = HintEvent(call_id="c1", t=1.0, code="card_status", severity="info", priority=1, title="卡片",
                     detail=f"客户报了卡号{CARD}", suggestion="", evidence={"channel": "customer", "text": f"卡号{CARD}"},
                     data={"quote": f"卡号{CARD}", "hint_id": "1700000000000-1234"})
    masked = mask_event(hint)
    assert not clear_copies(masked.to_json()) and masked.data["hint_id"] == "1700000000000-1234"
    plain = TranscriptEvent(call_id="c1", channel="agent", utterance=0, start=0, end=1, final=True, text="您好")
    assert mask_event(plain) is plain


@pytest.mark.parametrize("said, kept", [
    (f"{PHONE}一次", "一次"),
    (f"卡号{CARD}一共", "一共"),
    (f"打5000 {PHONE}", "打5000 "),
    (f"{PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}两次", "两次"),
    (f"{chinese(PHONE, '幺')}一下", "一下"),
])
def test_a_number_touching_other_digits_or_numerals_is_still_found(said, kept):
    masked = mask_text(said)
    assert not clear_copies(masked) and kept in masked and PHONE[-4:] + CARD[-4:] != masked


def test_a_partial_hypothesis_masks_any_long_run_before_the_number_is_complete():
    assert mask_text(f"我的号码是{chinese(PHONE[:9])}", partial=True) == "我的号码是*****" + PHONE[5:9]
    assert mask_text("欠款12000元", partial=True) == "欠款12000元"
    partial = TranscriptEvent(call_id="c1", channel="customer", utterance=1, start=0, end=1, final=False,
                              text=f"卡号{CARD[:10]}", stable=f"卡号{CARD[:8]}")
    masked = mask_event(partial)
    assert CARD[:6] not in masked.text and CARD[:6] not in masked.stable
