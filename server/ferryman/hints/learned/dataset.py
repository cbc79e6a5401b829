"""The labelled utterance set (``hints/data``): items, their files, checks and the splits.

Each item is one turn of a call with its speaker, the turns it depends on, the case facts that
differ from ``data/case.json`` and the hint codes it must / may raise (see ``data/README.md``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ferryman.cases.schema import Case
from ferryman.hints.rules import HINT_CODES

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CUSTOMER_CODES = ("escalation", "complaint_risk", "hardship", "offer_plan", "card_status", "debt_breakdown",
                  "promise_to_pay", "third_party", "avoid_topic")
AGENT_CODES = ("agent_compliance", "avoid_topic", "disclosure_missing")
TAG_VALUES = {"ask": ("split", "delay", "reduce"),
              "hardship": ("job", "illness", "business", "waiting", "cash"),
              "breach": ("threat", "insult", "waiver", "disclosure")}


class DataError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Turn(_Strict):
    spk: Literal["A", "C"]
    text: str = Field(min_length=1)


class CaseFacts(_Strict):
    sensitive_topics: list[str] | None = None
    plans: list | None = None
    complaint_risk: Literal["low", "medium", "high"] | None = None
    notes: list[str] | None = None


class Item(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*-[0-9]+$")
    spk: Literal["A", "C"]
    text: str = Field(min_length=1, max_length=400)
    prev: list[Turn] = Field(default_factory=list, max_length=3)
    case: CaseFacts | None = None
    codes: list[str]
    optional: list[str] = []
    tags: dict[str, str | bool] = {}

    @field_validator("codes", "optional")
    @classmethod
    def _known_codes(cls, codes: list[str]) -> list[str]:
        unknown = [c for c in codes if c not in HINT_CODES]
        if unknown:
            raise ValueError(f"unknown hint codes {unknown}")
        return codes

    @model_validator(mode="after")
    def _consistent(self) -> "Item":
        allowed = CUSTOMER_CODES if self.spk == "C" else AGENT_CODES
        wrong = [c for c in self.codes + self.optional if c not in allowed]
        if wrong:
            raise ValueError(f"{wrong} cannot come from a {'customer' if self.spk == 'C' else 'agent'} turn")
        if set(self.codes) & set(self.optional):
            raise ValueError("a code is both required and optional")
        if "disclosure_missing" in self.codes + self.optional and not self.tags.get("opening"):
            raise ValueError("disclosure_missing only on items tagged opening")
        for key, values in TAG_VALUES.items():
            if key in self.tags and self.tags[key] not in values:
                raise ValueError(f"tag {key} must be one of {values}")
        return self

    @property
    def channel(self) -> str:
        return "customer" if self.spk == "C" else "agent"

    @property
    def batch(self) -> str:
        return self.id.rsplit("-", 1)[0]

    def case_for(self, base: Case) -> Case:
        if self.case is None:
            return base
        changes = self.case.model_dump(exclude_none=True)
        return Case.model_validate({**base.model_dump(), **changes})


def default_case() -> Case:
    return Case.model_validate(json.loads((DATA_DIR / "case.json").read_text(encoding="utf-8")))


def read_items(path: Path) -> list[Item]:
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(Item.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DataError(f"{path}:{number}: {_first_error(exc)}") from exc
    return items


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc']) or '(item)'}: {err['msg']}"
    return str(exc)


def normalised(text: str) -> str:
    """Text without punctuation or spaces: what 'the same sentence' means for duplicates."""
    return "".join(ch for ch in text if ch.isalnum())


def check(paths: list[Path]) -> list[str]:
    """Problems across the given files: bad items, duplicate ids, duplicate texts."""
    problems, ids, texts = [], {}, {}
    for path in paths:
        try:
            items = read_items(path)
        except DataError as exc:
            problems.append(str(exc))
            continue
        for item in items:
            if item.id in ids:
                problems.append(f"{path}: id {item.id} also in {ids[item.id]}")
            ids[item.id] = path
            key = (item.spk, normalised(item.text), tuple(normalised(t.text) for t in item.prev))
            if key in texts:
                problems.append(f"{path}: {item.id} repeats {texts[key]}: {item.text}")
            texts[key] = item.id
    return problems


@dataclass(frozen=True)
class Split:
    train: list[Item]
    validation: list[Item]


def training_files() -> list[Path]:
    return sorted((DATA_DIR / "utterances").glob("*.jsonl"))


def test_files() -> list[Path]:
    return sorted((DATA_DIR / "test").glob("*.jsonl"))


def load(paths: list[Path]) -> list[Item]:
    return [item for path in paths for item in read_items(path)]


def group_of(item: Item) -> str:
    """Variants of one sentence (an ASR-damaged copy) share a group, so they stay in one split."""
    return str(item.tags.get("variant_of", item.id))


def split(items: list[Item], validation_share: float = 0.2) -> Split:
    """Deterministic split by a hash of the item's group: the same item always lands on the
    same side, whatever else is added to the data."""
    train, validation = [], []
    for item in items:
        digest = hashlib.sha256(group_of(item).encode()).digest()
        (validation if digest[0] / 256 < validation_share else train).append(item)
    return Split(train, validation)


def data_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
