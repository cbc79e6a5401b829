"""Small Chinese-text helpers shared by the stages: simplified script, numerals."""

from __future__ import annotations

from functools import lru_cache

_DIGITS = "零一二三四五六七八九"
_SMALL_UNITS = ((1000, "千"), (100, "百"), (10, "十"))


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text)


def _below_10000(n: int) -> str:
    out, zero_pending = [], False
    for unit, name in _SMALL_UNITS:
        digit, n = divmod(n, unit)
        if digit:
            if zero_pending:
                out.append("零")
            out.append(_DIGITS[digit] + name)
            zero_pending = False
        elif out:
            zero_pending = True
    if n:
        if zero_pending:
            out.append("零")
        out.append(_DIGITS[n])
    return "".join(out)


def int_to_chinese(n: int) -> str:
    """1200 -> 一千二百, 110000 -> 十一万, 98000 -> 九万八千 (how amounts are spoken)."""
    if n < 0:
        return "负" + int_to_chinese(-n)
    if n == 0:
        return "零"
    parts, big = [], (("亿", 10**8), ("万", 10**4))
    for name, unit in big:
        high, n = divmod(n, unit)
        if high:
            parts.append(int_to_chinese(high) + name)
            if 0 < n < unit // 10:
                parts.append("零")
    if n:
        parts.append(_below_10000(n))
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text
