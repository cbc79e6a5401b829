"""ASR-damaged copies of labelled utterances, made the way whisper damages telephone Mandarin.

What the live ASR does to a sentence keeps its sound: homophones (欠款→千款), near syllables that
differ in aspiration, retroflexion or a nasal ending (投诉→头诉, 分期→分7, 逾期→于七), dropped
characters, numbers written as digits, punctuation lost or moved. A damaged copy keeps its
item's labels (the situation is the same; only the transcript is worse) and its group, so an
item and its copies always land on the same side of the train/validation split.

Deterministic: the same items and seed give the same copies (``ferryman hints data asr-variants``).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from ferryman.hints.learned.dataset import Item, normalised

# syllable slips the ASR makes on narrow-band audio: initials and finals that sound alike
_INITIAL_SLIPS = {"zh": "z", "z": "zh", "ch": "c", "c": "ch", "sh": "s", "s": "sh", "n": "l", "l": "n",
                  "f": "h", "h": "f", "r": "l", "j": "q", "q": "j", "b": "p", "p": "b", "d": "t", "t": "d"}
_FINAL_SLIPS = {"ing": "in", "in": "ing", "eng": "en", "en": "eng", "ang": "an", "an": "ang", "uo": "o",
                "ie": "ei", "ian": "ie", "uan": "an"}
_DIGITS = {"零": "0", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7",
           "八": "8", "九": "9", "期": "7", "其": "7", "起": "7", "气": "7", "是": "4", "食": "10", "酒": "9",
           "久": "9", "就": "9", "吧": "8", "巴": "8", "把": "8", "要": "1", "医": "1", "以": "1", "易": "1"}
_PARTICLES = set("的了呢吧啊呀嘛哦啦哈吗么就都也还")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_PUNCT = re.compile(r"[，。！？；、,.!?;：:]")


@lru_cache(maxsize=1)
def _homophones() -> dict[str, list[str]]:
    """Toneless syllable -> common characters with it, most frequent first (from jieba's dictionary)."""
    import jieba
    from pypinyin import Style, lazy_pinyin

    counts: dict[str, int] = defaultdict(int)
    dictionary = Path(jieba.__file__).with_name("dict.txt")
    for line in dictionary.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ")
        if len(parts) >= 2 and parts[1].isdigit():
            for ch in parts[0]:
                if _CJK.match(ch):
                    counts[ch] += int(parts[1])
    common = sorted(counts, key=lambda c: (-counts[c], c))[:3500]
    by_sound: dict[str, list[str]] = defaultdict(list)
    for ch in common:
        by_sound[lazy_pinyin(ch, style=Style.NORMAL)[0]].append(ch)
    return dict(by_sound)


def _syllable(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(ch, style=Style.NORMAL)[0]


def _split(syllable: str) -> tuple[str, str]:
    for initial in ("zh", "ch", "sh"):
        if syllable.startswith(initial):
            return initial, syllable[2:]
    initial = syllable[:1] if syllable[:1] in "bpmfdtnlgkhjqxzcsryw" else ""
    return initial, syllable[len(initial):]


def _sound_alike(ch: str, rng: random.Random, near: bool) -> str | None:
    """Another common character with the same toneless syllable, or (near) a slipped one."""
    table = _homophones()
    syllable = _syllable(ch)
    if near:
        initial, final = _split(syllable)
        options = []
        if initial in _INITIAL_SLIPS:
            options.append(_INITIAL_SLIPS[initial] + final)
        for a, b in _FINAL_SLIPS.items():
            if final.endswith(a):
                options.append(initial + final[: -len(a)] + b)
                break
        options = [o for o in options if o in table]
        if not options:
            return None
        syllable = rng.choice(options)
    candidates = [c for c in table.get(syllable, [])[:6] if c != ch]
    return rng.choice(candidates) if candidates else None


def damage(text: str, rng: random.Random) -> str:
    """One ASR-like reading of ``text``: a few sound-keeping substitutions, maybe a dropped
    character, digits for numeral syllables, punctuation lost or kept."""
    chars = list(text)
    positions = [i for i, ch in enumerate(chars) if _CJK.match(ch)]
    if not positions:
        return text
    n_subs = max(1, round(len(positions) * rng.uniform(0.06, 0.16)))
    for i in rng.sample(positions, min(n_subs, len(positions))):
        roll = rng.random()
        if roll < 0.15 and chars[i] in _DIGITS:
            chars[i] = _DIGITS[chars[i]]
        else:
            chars[i] = _sound_alike(chars[i], rng, near=roll > 0.7) or chars[i]
    if rng.random() < 0.35:
        droppable = [i for i in positions if text[i] in _PARTICLES]
        if droppable:
            chars[rng.choice(droppable)] = ""
    out = "".join(chars)
    roll = rng.random()
    if roll < 0.3:
        out = _PUNCT.sub("", out)                 # a final with no punctuation at all
    elif roll < 0.5:
        out = _PUNCT.sub("，", out).rstrip("，") + "。"
    return out


def variants(items: list[Item], share: float, seed: int, prefix: str = "asr") -> list[Item]:
    """ASR-damaged copies of about ``share`` of ``items`` (never of copies of copies)."""
    rng = random.Random(seed)
    out = []
    taken = {(item.spk, normalised(item.text)) for item in items}
    for item in items:
        if item.tags.get("asr") or item.tags.get("variant_of") or rng.random() >= share:
            continue
        text = damage(item.text, rng)
        if (item.spk, normalised(text)) in taken:      # only punctuation changed, or another item's text
            continue
        taken.add((item.spk, normalised(text)))
        tags = {**item.tags, "asr": True, "variant_of": item.id}
        out.append(item.model_copy(update={"id": f"{prefix}-{len(out) + 1}", "text": text, "tags": tags}))
    return out
