"""Decoder output -> clean simplified-Chinese text; known Whisper phantoms removed.

The phantom phrases (subtitle credits, "like and subscribe", ...) live in ``phantoms.yaml`` so a
team lead can add the ones their deployment hears.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from ferryman.zhtext import to_simplified

PHANTOMS_FILE = Path(__file__).with_name("phantoms.yaml")
_CJK = r"\u3400-\u9fff"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}，。！？、])\s+|\s+(?=[{_CJK}，。！？、])")
# Decoder loops, not speech: a run of 1-8 characters said 4+ times in a row ("好的好的" is
# speech, eight of them is not), or a clause of 4+ characters twice in a row.
_LOOP = re.compile(r"(.{1,8}?)\1{3,}")
# Whisper often writes ASCII punctuation inside Chinese; the panels show zh-CN, so after a
# Chinese character it becomes the full-width mark.
_FULL_WIDTH = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；", ".": "。"}
_HALF_WIDTH_AFTER_CJK = re.compile(rf"(?<=[{_CJK}])[,?!:;.]")
_REPEATED_CLAUSE = re.compile(r"([^，。！？,.!?]{4,}[，。！？,.!?]?)\1+")


@lru_cache(maxsize=4)
def phantom_patterns(path: Path = PHANTOMS_FILE) -> tuple[re.Pattern, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    patterns = data.get("patterns")
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"{path}: 'patterns' must be a list of regular expressions")
    compiled = []
    for p in patterns:
        try:
            compiled.append(re.compile(p))
        except re.error as exc:
            raise ValueError(f"{path}: bad pattern {p!r}: {exc}") from exc
    return tuple(compiled)


def strip_phantoms(text: str) -> str:
    for pattern in phantom_patterns():
        text = pattern.sub("", text)
    return text


def clean_text(raw: str) -> str:
    """Simplified script, no spaces inside Chinese, no decoder loops, no phantom phrases."""
    text = to_simplified(raw).strip()
    text = _SPACE_BETWEEN_CJK.sub("", text)
    text = _LOOP.sub(lambda m: m.group(1), text)
    text = _REPEATED_CLAUSE.sub(lambda m: m.group(1), text)
    text = strip_phantoms(text).strip()
    text = _HALF_WIDTH_AFTER_CJK.sub(lambda m: _FULL_WIDTH[m.group()], text)
    # nothing left but punctuation is nothing
    return "" if not re.search(rf"[{_CJK}A-Za-z0-9]", text) else text


def common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]
