"""Amounts, instalment counts and payment dates in spoken Chinese.

Numbers are read only where they are numbers: a numeral followed by a money unit (元, 块),
or a digit carrying a magnitude (万/千/百: 八千六, 一万二), counts before 期, days before 号/日. A lone
一 or 两 is a word, not a number (一下, 两个人), and magnitudes without a digit are words too
(千万别, 千千 — the ASR's 天天 — 万一) unless a money unit follows (千把块 aside).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
_NUM = r"[0-9０-９.,]+|[零〇一二两三四五六七八九十百千万亿]+"
_NOT_MONEY = "期天个号日月年次岁点分位台张笔家周"
_DIGIT_CHARS = set("0123456789０１２３４５６７８９零〇一二两三四五六七八九")
AMOUNT = re.compile(rf"(?P<num>{_NUM})(?P<mag>[万千])?(?P<more>多)?(?P<unit>块钱|块|元|万元)?(?P<next>.)?")
PERIODS = re.compile(rf"(?P<num>{_NUM})期")


def parse_number(text: str) -> float | None:
    """'一万两千' 12000, '八千六' 8600, '一万二' 12000, '十一万' 110000, '8,600' 8600, '1.5万' n/a here."""
    text = text.translate(str.maketrans("０１２３４５６７８９", "0123456789")).replace(",", "")
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return float(text)
    if not text or any(c not in CN_DIGITS and c not in CN_UNITS for c in text):
        return None
    if all(c in CN_DIGITS for c in text):
        return float("".join(str(CN_DIGITS[c]) for c in text)) if len(text) > 1 else float(CN_DIGITS[text])
    total, section, digit, last_unit = 0, 0, 0, 1
    for c in text:
        if c in CN_DIGITS:
            digit = CN_DIGITS[c]
        elif c in ("万", "亿"):
            total = (total + section + digit) * CN_UNITS[c]
            section, digit, last_unit = 0, 0, CN_UNITS[c]
        else:
            section += (digit or 1) * CN_UNITS[c]
            digit, last_unit = 0, CN_UNITS[c]
    if digit and last_unit >= 100 and not text.endswith("零" + text[-1]):
        digit *= last_unit // 10          # colloquial: 八千六 = 8600, 一万二 = 12000
    return float(total + section + digit)


@dataclass(frozen=True)
class Amount:
    value: float
    text: str
    approximate: bool     # 五万多


def find_amounts(text: str) -> list[Amount]:
    found = []
    for m in AMOUNT.finditer(text):
        num, mag, unit, following = m["num"], m["mag"], m["unit"], m["next"] or ""
        if not unit and following and following in _NOT_MONEY:
            continue
        magnitude = mag or any(c in "万千百亿" for c in num)
        if not unit and not magnitude:
            continue                                  # a bare numeral is not money
        if not unit and not any(c in _DIGIT_CHARS for c in num):
            continue                                  # 千千, 千万别, 万一: words, not amounts
        value = parse_number(num)
        if value is None:
            continue
        if mag:
            value *= CN_UNITS[mag]
        if unit == "万元":
            value *= 10_000
        found.append(Amount(value, m.group(0)[: len(m.group(0)) - len(following)], bool(m["more"])))
    return found


def find_periods(text: str) -> int | None:
    for m in PERIODS.finditer(text):
        value = parse_number(m["num"])
        if value and value > 1:
            return int(value)
    return None


# -- dates -----------------------------------------------------------------------------------
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEK = re.compile(r"(?P<which>下下|下|这|本)?(个)?(周|星期|礼拜)(?P<day>[一二三四五六日天])")
_DAY_OF_MONTH = re.compile(rf"(?P<month>下个月|下月|这个月|本月)?(?P<day>{_NUM})(号|日)")
_MONTH_DAY = re.compile(rf"(?P<month>{_NUM})月(?P<day>{_NUM})(号|日)")
_RELATIVE = {"大后天": 3, "后天": 2, "明天": 1, "明儿": 1, "今天": 0, "今晚": 0, "今儿": 0, "马上": 0, "现在": 0}
_PAYDAY_NOTE = re.compile(rf"(每月|每个月)?(?P<day>{_NUM})(号|日)发(工资|薪)")


@dataclass(frozen=True)
class PayDate:
    text: str              # as said: 下周五, 月底, 发工资后
    on: date | None        # resolved against the call date where possible


def _month_end(day: date, months_ahead: int = 0) -> date:
    year, month = day.year + (day.month - 1 + months_ahead) // 12, (day.month - 1 + months_ahead) % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def _day_in_month(today: date, day: int, months_ahead: int) -> date | None:
    year, month = today.year + (today.month - 1 + months_ahead) // 12, (today.month - 1 + months_ahead) % 12 + 1
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def find_date(text: str, today: date, notes: list[str] = (), default_payday: int | None = None) -> PayDate | None:
    """The first payment-date expression in ``text``. "发了工资" resolves to the payday the case
    notes give, else to ``default_payday`` (said so on the card: the agent confirms it)."""
    if m := _MONTH_DAY.search(text):
        month, day = parse_number(m["month"]), parse_number(m["day"])
        if month and day and 1 <= month <= 12:
            year = today.year + (1 if int(month) < today.month else 0)
            try:
                return PayDate(m.group(0), date(year, int(month), int(day)))
            except ValueError:
                return PayDate(m.group(0), None)
    if m := _DAY_OF_MONTH.search(text):
        day = parse_number(m["day"])
        if day and 1 <= day <= 31:
            ahead = 1 if m["month"] in ("下个月", "下月") else 0
            if not m["month"] and int(day) < today.day:
                ahead = 1                                 # "15号" said on the 20th: next month's
            return PayDate(m.group(0), _day_in_month(today, int(day), ahead))
    if m := _WEEK.search(text):
        weekday = _WEEKDAYS[m["day"]]
        weeks = {"下": 1, "下下": 2}.get(m["which"] or "", 0)
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)
        on = monday + timedelta(days=weekday)
        if weeks == 0 and on < today:
            on += timedelta(weeks=1)
        return PayDate(m.group(0), on)
    for word, months in (("下个月底", 1), ("下月底", 1), ("月底", 0), ("月末", 0), ("这个月", 0), ("本月", 0),
                         ("这月", 0), ("下个月", 1), ("下月", 1)):
        if word in text:
            return PayDate(word, _month_end(today, months))
    if "发工资" in text or "工资发了" in text or "发了工资" in text:
        payday = next((parse_number(m["day"]) for note in notes if (m := _PAYDAY_NOTE.search(note))), None)
        said = "发工资后"
        if not payday and default_payday:
            payday, said = default_payday, f"发工资后（按每月{default_payday}日估计）"
        on = _day_in_month(today, int(payday), 0 if payday >= today.day else 1) if payday else None
        return PayDate(said, on)
    for word, days in _RELATIVE.items():
        if word in text:
            return PayDate(word, today + timedelta(days=days))
    for word, weeks in (("下下周", 2), ("下周", 1), ("下个星期", 1), ("下星期", 1), ("下礼拜", 1), ("下个礼拜", 1),
                        ("这周", 0), ("这个星期", 0), ("这礼拜", 0), ("这个礼拜", 0), ("本周", 0)):
        if word in text:      # "by the end of that week"
            return PayDate(word, today - timedelta(days=today.weekday()) + timedelta(weeks=weeks, days=6))
    if "年底" in text or "年前" in text:
        return PayDate("年底" if "年底" in text else "年前", date(today.year, 12, 31))
    for word in ("过几天", "这几天", "开春", "秋收", "过完年", "年后", "月初"):
        if word in text:
            return PayDate(word, None)
    return None
