"""What the decoder is told before each utterance: domain words, the case, recent speech.

Whisper takes "previous text" as a prompt. We fill it with a domain lead-in and vocabulary
(``vocabulary.yaml``), the case's own words (customer name, amounts as they are spoken, plan
names) and the last few finals of the call, which is how earlier speech helps later speech.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from pathlib import Path

import yaml

from ferryman.cases.schema import Case
from ferryman.zhtext import int_to_chinese

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.yaml")


@lru_cache(maxsize=4)
def load_vocabulary(path: Path = VOCABULARY_FILE) -> tuple[str, tuple[str, ...]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    lead, terms = data.get("lead", ""), data.get("terms", [])
    if not isinstance(lead, str) or not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise ValueError(f"{path}: expected 'lead' (text) and 'terms' (list of words)")
    return lead, tuple(terms)


def case_terms(case: Case) -> list[str]:
    debt = case.debt
    amounts = [debt.total, debt.principal, debt.interest, debt.late_fee, debt.overlimit_fee, debt.min_payment]
    spoken = [int_to_chinese(int(a)) + "元" for a in amounts if a and float(a).is_integer()]
    return [case.customer.name, *spoken, *(p.name for p in case.plans)]


def bias_prompt(case: Case | None, vocabulary_file: Path = VOCABULARY_FILE) -> str:
    lead, terms = load_vocabulary(vocabulary_file)
    words = list(terms) + (case_terms(case) if case else [])
    return lead + "、".join(dict.fromkeys(words)) + "。"


class PromptContext:
    """The prompt for one call: a fixed bias plus a rolling window of the call's finals."""

    def __init__(self, bias: str, context_chars: int = 60):
        self.bias = bias
        self.context_chars = context_chars
        self._recent: deque[str] = deque(maxlen=8)

    def add_final(self, text: str) -> None:
        if text:
            self._recent.append(text)

    def prompt(self) -> str:
        recent = "".join(self._recent)[-self.context_chars:] if self.context_chars else ""
        return self.bias + recent
