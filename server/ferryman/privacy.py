"""Numbers that identify a person, masked before anything is stored or sent (the last four kept).

A debtor reads out an ID number to verify, a new phone number, the card they will pay from;
the agent needs it on the line, but no copy of it belongs in Redis, the AOF, a spill file, a
panel or a log. Found in what ASR writes and people type:

- digits in ASCII, full width or Chinese numerals (``幺三八…``, ``一三八…``), alone or in
  groups (``138 1234 5678``, ``6222-0212-…``, ``幺三八，一二三四，五六七八``);
- 11-digit mobile numbers (``1[3-9]…``);
- 18-character resident IDs (17 digits + a digit or X) with a valid ISO 7064 check character, or
  a plausible region and birth date (one misheard digit still names a person);
- 16–19-digit card numbers with a valid Luhn digit, or said next to a card word.

Groups joined by commas count only when the whole is one of these with its check passing (or a
card number right after a card word), so a list of amounts (``5000，3000，2000，1000``) stays.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

_CN_NUMERALS = "零〇○一幺二两三四五六七八九"
_DIGITS = {**{c: str(i) for i, c in enumerate("0123456789")},
           **{c: str(i) for i, c in enumerate("０１２３４５６７８９")},
           **{c: str(int(v)) for c, v in zip(_CN_NUMERALS, "00011223456789")}}
_D = "".join(_DIGITS)
_SOFT = r"[ \u00a0\u3000\-–—]"      # spaces and dashes: a grouping, whatever the number
_HARD = r"[,，、]"                   # commas: only for numbers whose check passes
_RUN = re.compile(rf"[{_D}](?:(?:{_SOFT}|{_HARD})?[{_D}])*(?:{_SOFT}?[Xx×](?![A-Za-z]))?")
_CARD_WORDS = re.compile(r"卡|账号|帐号|尾号")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Keys whose values are identifiers or codes, never free text.
_NOT_TEXT = frozenset({"id", "type", "code", "channel", "state", "due", "by", "level", "source", "kind"})


def _normalise(run: str) -> str:
    return "".join(_DIGITS.get(c, "X" if c in "Xx×" else "") for c in run)


def _id_check_ok(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def _plausible_id(number: str) -> bool:
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return number[0] in "12345678" and 1900 <= born.year <= date.today().year


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(number)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def classify(number: str, context: str = "", strict: bool = False) -> str | None:
    """``mobile``, ``id``, ``card`` or None for a normalised digit string. ``strict`` (groups
    joined by commas): an ID only with its check character."""
    digits = number.rstrip("X")
    if "X" in digits:
        return None
    if len(number) == 11 and number == digits and re.fullmatch(r"1[3-9]\d{9}", number):
        return "mobile"
    if len(number) == 18 and len(digits) >= 17:
        if _id_check_ok(number) or (not strict and _plausible_id(number)):
            return "id"
    if 16 <= len(number) <= 19 and number == digits:
        if _luhn_ok(number) or _CARD_WORDS.search(context):
            return "card"
    return None


def _masked(number: str) -> str:
    return "*" * (len(number) - 4) + number[-4:]


def mask_text(text: str, partial: bool = False) -> str:
    """``text`` with every identifying number replaced by ``*``s and its last four digits.

    ``partial``: a hypothesis still growing (a partial transcript) — 10 of a mobile's 11 digits
    are already too many, so any run of 7 or more digits is masked."""
    if not text or not any(c in _DIGITS for c in text):
        return text
    spans = []
    for match in _RUN.finditer(text):
        spans += _identifying_spans(text, match, partial)
    out, last = [], 0
    for start, end in sorted(spans):
        out += [text[last:start], _masked(_normalise(text[start:end]))]
        last = end
    return "".join(out) + text[last:] if out else text


def _identifying_spans(text: str, match: re.Match, partial: bool) -> list[tuple[int, int]]:
    """Where in the run the numbers are: the whole run, else the longest pieces of it that are
    (groups between separators, with a stray numeral trimmed at either end: 一次, 两个, 一共...)."""
    run, base = match.group(), match.start()
    if len(_normalise(run)) < (7 if partial else 11):
        return []
    if partial:
        return [(base, match.end())]
    pieces = [(m.start(), m.end()) for m in re.finditer(rf"[{_D}Xx×]+", run)]
    candidates = []
    for i in range(len(pieces)):
        for j in range(i, min(len(pieces), i + 8)):
            for cut_start in range(3):
                for cut_end in range(3):
                    start, end = pieces[i][0] + cut_start, pieces[j][1] - cut_end
                    if end - start < 11 or not _trimmable(run, pieces[i][0], start, end, pieces[j][1]):
                        continue
                    candidates.append((end - start, start, end))
    chosen: list[tuple[int, int]] = []
    for _, start, end in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if any(start < e and s < end for s, e in chosen):
            continue
        segment = run[start:end]
        context = text[max(0, base + start - 12):base + start]
        if classify(_normalise(segment), context, strict=re.search(_HARD, segment) is not None):
            chosen.append((start, end))
    return [(base + start, base + end) for start, end in chosen]


def _trimmable(run: str, piece_start: int, start: int, end: int, piece_end: int) -> bool:
    """Only Chinese numerals are trimmed off a piece (ASCII digits are part of what was typed)."""
    cut = run[piece_start:start] + run[end:piece_end]
    return all(c in _CN_NUMERALS for c in cut)


def mask_event(event):
    """The event as it may be stored and sent: free text masked (the same object if nothing was)."""
    data = event.model_dump()
    masked = mask_value(data, partial=data.get("type") == "transcript" and not data.get("final"))
    return event if masked == data else type(event).model_validate(masked)


def mask_value(value: Any, key: str = "", partial: bool = False) -> Any:
    """Free text anywhere inside ``value`` (dicts, lists) masked; ids and codes left alone."""
    if isinstance(value, str):
        return value if key in _NOT_TEXT or key.endswith("_id") else mask_text(value, partial)
    if isinstance(value, dict):
        return {k: mask_value(v, k, partial) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, key, partial) for v in value]
    return value
