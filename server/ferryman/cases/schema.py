"""The case an agent works: what Ferryman knows before the call (validated, stored in Redis).

Modelled on the ``case`` objects of the corpus. Unknown extra fields are kept (a team's CRM
export may carry more), but every field Ferryman uses is typed and checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ferryman.ids import IdField


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


class Customer(_Model):
    name: str = Field(min_length=1, max_length=64)
    gender: Literal["M", "F"] | None = None
    age: int | None = Field(None, ge=16, le=120)


class Debt(_Model):
    """Amounts in yuan."""

    total: float = Field(ge=0)
    principal: float = Field(ge=0)
    interest: float = Field(0, ge=0)
    late_fee: float = Field(0, ge=0)
    overlimit_fee: float = Field(0, ge=0)
    min_payment: float = Field(ge=0)
    overdue_days: int = Field(0, ge=0)
    statement_day: int | None = Field(None, ge=1, le=31)
    due_day: int | None = Field(None, ge=1, le=31)

    @field_validator("principal", "min_payment")
    @classmethod
    def _not_above_total(cls, value: float, info) -> float:
        total = info.data.get("total")
        if total is not None and value > total:
            raise ValueError(f"{info.field_name} ({value:g}) exceeds total ({total:g})")
        return value


class Card(_Model):
    status: str = Field(min_length=1, description="e.g. active, suspended, frozen, closed")
    restore_condition: str | None = None


class Plan(_Model):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = Field(min_length=1)
    condition: str = ""
    benefit: str = ""


class Case(_Model):
    case_id: IdField
    customer: Customer
    debt: Debt
    card: Card
    notes: list[str] = []
    sensitive_topics: list[str] = []
    complaint_risk: Literal["low", "medium", "high"] = "low"
    plans: list[Plan] = []
    timezone: str | None = Field(None, description="the debtor's IANA time zone for the contact rules "
                                                   "(unset: the rules' default)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            from ferryman.calls.contact import zone

            zone(value)
        return value

    @field_validator("plans")
    @classmethod
    def _unique_plan_ids(cls, plans: list[Plan]) -> list[Plan]:
        ids = [p.id for p in plans]
        if len(ids) != len(set(ids)):
            raise ValueError("plan ids must be unique")
        return plans


UNREGISTERED = "unregistered"


def unregistered_case() -> Case:
    """What the hint engine works with on a call nobody registered (a PBX streamed it, the dialer
    never said whose it is): no name, debt, card, notes or plans. Hints that need them stay quiet
    or say the case is unknown; the rest (escalation, compliance, hardship, promises) still run."""
    return Case(case_id=UNREGISTERED, customer=Customer(name="?"), debt=Debt(total=0, principal=0, min_payment=0),
                card=Card(status="unknown"))


class Policy(BaseModel):
    """A team-wide relief policy (not tied to one case), stored in the Redis hash ``policies``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = Field(min_length=1)
    applies_to: list[Literal["job", "illness", "business", "waiting", "cash"]] = Field(
        min_length=1, description="hardship categories the policy helps with")
    condition: str = ""
    benefit: str = ""


def case_from_json(data: dict) -> Case:
    """A case object, or any object with a top-level ``case`` (the corpus call files)."""
    return Case.model_validate(data["case"] if isinstance(data.get("case"), dict) else data)


def load_case_file(path: Path) -> Case:
    return case_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
