"""Phrase matching that survives ASR errors: exact text, or tone-insensitive pinyin.

A phrase is compiled once into units (one per character; "…" is a gap of up to 6
characters). An utterance is split into clauses (at punctuation) and each clause into the
same units, so one matcher serves both ways of matching:

- exact: the characters are equal;
- phonetic: the canonical toneless syllables are equal (投诉 = 头诉, 分期 = 分7), for phrases
  of two or more Chinese characters (not for a reduplicated pair: 个哥 is not 哥哥); with the
  fuzzy groups of ``phonetic.yaml`` (违约金 = 唯一金) for phrases of three or more, where a
  coincidence is unlikely; and for phrases of four or more, one syllable may differ if it
  sounds close — same initial group or same final (录音举报 = 录音起报: ju/qi) — and is
  not a negator's (找不到工作 ≠ 找得到工作).

Negation is judged inside the clause: a negator ending right before the match cancels it
(我不是要投诉), unless the word is one of the ``not_negators`` (不然我就投诉) or the phrase
carries its own negation (有完没完: "你没有完没完" is not a calm customer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from ferryman.zhtext import to_simplified

GAP = "…"
MAX_GAP = 6
_CLAUSE_SPLIT = re.compile(r"[，。！？；、,.!?;:：\s]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
# ASR writes numbers as digits: 分期 comes out as 分7, 一二三七八 as 12378
_DIGIT_SYLLABLES = dict(zip("0123456789", ["ling", "yi", "er", "san", "si", "wu", "liu", "qi", "ba", "jiu"]))
NEGATOR_CHARS = set("不没别无未非")
# initials that differ only in aspiration, place or retroflexion: close enough for one slip
_INITIAL_GROUPS = ("bp", "dt", "gkh", "jqx", "zcs", "mnl", "f", "r", "w", "y")


def _split_syllable(syllable: str) -> tuple[str, str]:
    for initial in ("zh", "ch", "sh"):
        if syllable.startswith(initial):
            return initial[0], syllable[2:]
    initial = syllable[:1] if syllable[:1] in "bpmfdtnlgkhjqxzcsryw" else ""
    final = syllable[len(initial):]
    if initial in ("j", "q", "x", "y") and final.startswith("u"):
        final = "v" + final[1:]          # ju is jü: a front vowel, like i
    return initial, final


def sounds_close(a: str, b: str) -> bool:
    """Same initial, or same final, or initials of one group with alike vowels (ju ~ qi)."""
    (ia, fa), (ib, fb) = _split_syllable(a), _split_syllable(b)
    if ia == ib or fa == fb:
        return True
    same_group = any(ia in group and ib in group for group in _INITIAL_GROUPS)
    return same_group and (fa[:1] == fb[:1] or {fa[:1], fb[:1]} <= {"i", "v"})


@dataclass(frozen=True)
class Phonetics:
    """Canonical syllables: fuzzy initials/finals folded, confusable syllables merged."""

    initials: tuple[tuple[str, str], ...] = ()
    finals: tuple[tuple[str, str], ...] = ()
    syllables: tuple[tuple[str, str], ...] = ()

    def strict(self, char: str) -> str:
        return syllable(char)

    def fuzzy(self, syllable: str) -> str:
        for group in self.syllables:
            if syllable in group:
                syllable = group[-1]
        for a, b in self.initials:
            if syllable.startswith(a):
                syllable = b + syllable[len(a):]
                break
        for a, b in self.finals:
            if syllable.endswith(a):
                syllable = syllable[: -len(a)] + b
                break
        return syllable


@lru_cache(maxsize=8192)
def syllable(char: str) -> str:
    """Toneless pinyin of one character, read alone (so text and phrase read it the same way)."""
    if char in _DIGIT_SYLLABLES:
        return _DIGIT_SYLLABLES[char]
    if not _CJK.match(char):
        return char.lower()
    return lazy_pinyin(char, style=Style.NORMAL)[0]


@dataclass(frozen=True)
class Clause:
    text: str
    strict: tuple[str, ...]
    fuzzy: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    phrase: str
    clause: Clause
    start: int          # character offsets in clause.text
    end: int
    exact: bool

    @property
    def text(self) -> str:
        return self.clause.text[self.start:self.end]


def clause_texts(text: str) -> list[str]:
    """A turn cut at its punctuation (and spaces), in simplified script."""
    return [part for part in _CLAUSE_SPLIT.split(to_simplified(text)) if part]


def split_clauses(text: str, phonetics: Phonetics) -> list[Clause]:
    clauses = []
    for part in clause_texts(text):
        strict = tuple(phonetics.strict(c) for c in part)
        clauses.append(Clause(part, strict, tuple(phonetics.fuzzy(s) for s in strict)))
    return clauses


@dataclass(frozen=True)
class Phrase:
    text: str
    units: tuple[str | None, ...]       # characters; None = gap
    cjk_chars: int

    @classmethod
    def compile(cls, text: str) -> "Phrase":
        units: list[str | None] = []
        for char in to_simplified(text):
            if char == GAP:
                units.append(None)
            elif not char.isspace():
                units.append(char)
        return cls(text, tuple(units), sum(1 for u in units if u and _CJK.match(u)))


def _match_from(units, keys, i, pos) -> int | None:
    """End offset if units[i:] match keys[pos:] (gaps lazy), else None."""
    if i == len(units):
        return pos
    if units[i] is None:
        for skip in range(MAX_GAP + 1):
            if pos + skip > len(keys):
                return None
            end = _match_from(units, keys, i + 1, pos + skip)
            if end is not None:
                return end
        return None
    if pos < len(keys) and keys[pos] == units[i]:
        return _match_from(units, keys, i + 1, pos + 1)
    return None


class PhraseSet:
    """A list of phrases matched against clauses, exactly or by sound."""

    def __init__(self, phrases: list[str], phonetics: Phonetics, phonetic: bool = True, min_sound_chars: int = 2):
        self.phrases = [Phrase.compile(p) for p in phrases]
        self.phonetics = phonetics
        self.phonetic = phonetic
        self.min_sound_chars = max(2, min_sound_chars)
        self._strict = [self._keys(p, fuzzy=False) for p in self.phrases]
        self._fuzzy = [self._keys(p, fuzzy=True) for p in self.phrases]

    def _keys(self, phrase: Phrase, fuzzy: bool) -> tuple[str | None, ...]:
        out = []
        for unit in phrase.units:
            if unit is None:
                out.append(None)
                continue
            syllable = self.phonetics.strict(unit)
            out.append(self.phonetics.fuzzy(syllable) if fuzzy else syllable)
        return tuple(out)

    def find(self, clause: Clause) -> list[Match]:
        found = []
        for n, phrase in enumerate(self.phrases):
            ways = [(phrase.units, tuple(clause.text), True)]
            if self.phonetic and phrase.cjk_chars >= self.min_sound_chars and not self._reduplicated(n):
                ways.append((self._strict[n], clause.strict, False))
            if self.phonetic and phrase.cjk_chars >= max(3, self.min_sound_chars):
                ways.append((self._fuzzy[n], clause.fuzzy, False))
            for units, keys, exact in ways:
                match = self._first(units, keys)
                if match:
                    found.append(Match(phrase.text, clause, match[0], match[1], exact))
                    break
            else:
                if self.phonetic and phrase.cjk_chars >= 4 and None not in phrase.units:
                    match = self._first_with_one_slip(phrase, self._fuzzy[n], clause.fuzzy)
                    if match:
                        found.append(Match(phrase.text, clause, match[0], match[1], False))
        return found

    def _reduplicated(self, n: int) -> bool:
        """哥哥, 妈妈, 天天: two equal syllables collide with too much by sound (个哥, 千千), so only as written."""
        keys = self._strict[n]
        return len(keys) == 2 and keys[0] == keys[1]

    @staticmethod
    def _first_with_one_slip(phrase: Phrase, units, keys) -> tuple[int, int] | None:
        n = len(units)
        for start in range(len(keys) - n + 1):
            slips = [i for i in range(n) if keys[start + i] != units[i]]
            if len(slips) == 1 and phrase.units[slips[0]] not in NEGATOR_CHARS \
                    and sounds_close(keys[start + slips[0]], units[slips[0]]):
                return start, start + n
        return None

    @staticmethod
    def _first(units, keys) -> tuple[int, int] | None:
        for start in range(len(keys)):
            end = _match_from(units, keys, 0, start)
            if end is not None:
                return start, end
        return None

    def any_in(self, clause: Clause) -> bool:
        return bool(self.find(clause))


class Negation:
    """A negator right before a phrase cancels it (我不是要投诉); a modal negator ("不会", "绝不")
    also governs the verb phrase after it (我们不会联系您的家人和同事), unless a consequence word
    comes between (你不还我们就上门: 就 ends the scope of 不)."""

    def __init__(self, negators: list[str], not_negators: list[str], scope_negators: list[str] = (),
                 scope_chars: int = 0, scope_breakers: list[str] = ()):
        self._negators = sorted(negators, key=len, reverse=True)
        self._not = not_negators
        self._scope = sorted(scope_negators, key=len, reverse=True)
        self._scope_chars = scope_chars
        self._breakers = scope_breakers

    def cancels(self, match: Match, window: int = 4) -> bool:
        if NEGATOR_CHARS & set(match.phrase):
            return False
        return (self._negated_within(match, self._negators, window)
                or self._negated_within(match, self._scope, self._scope_chars, self._breakers))

    def _negated_within(self, match: Match, negators, window: int, breakers=()) -> bool:
        text, begin = match.clause.text, max(0, match.start - window)
        for negator in negators:
            at = text.rfind(negator, begin, match.start)
            if at < 0:
                continue
            if any(text.startswith(word, at) for word in self._not):
                continue
            if 0 < at < len(text) - 1 and text[at + 1] == text[at - 1]:
                continue            # 是不是 / 能不能 / 有没有: a question, not a negation
            if any(b in text[at + len(negator):match.start] for b in breakers):
                continue
            return True
        return False
