"""A case's plans, read for what they are worth: kind, fee waived, periods, the arithmetic.

Agents get the numbers wrong under pressure (the founding story's "算不好超限金额"), so the
offer card does the sums: the monthly amount of an instalment plan, the yuan a waiver saves,
what the customer then pays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from ferryman.cases.schema import Case, Plan
from ferryman.hints.numbers import find_amounts, find_periods
from ferryman.hints.rules import RULES_DIR, RulesError

Kind = str  # installment | deferral | discount | waiver | other


class PlansFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kinds: dict[str, list[str]]
    prefer: dict[str, list[str]]
    fractions: dict[float, list[str]]
    fees: dict[str, list[str]]
    pay_words: dict[str, list[str]]
    pitches: dict[str, str]


@lru_cache(maxsize=4)
def load_plan_rules(path: Path = RULES_DIR / "plans.yaml") -> PlansFile:
    try:
        rules = PlansFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except Exception as exc:
        raise RulesError(f"{path}: {exc}") from exc
    unknown = {k for kinds in rules.prefer.values() for k in kinds} - set(rules.kinds) - {"other"}
    if unknown or "other" not in rules.pitches or set(rules.kinds) - set(rules.pitches):
        raise RulesError(f"{path}: prefer/pitches must use the kinds {sorted(rules.kinds)} (+ other); "
                         f"unknown {sorted(unknown)}")
    return rules


def yuan(value: float) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True)
class PlanOffer:
    plan: Plan
    kind: Kind
    fee: str | None = None           # which fee a waiver/discount touches
    saves: float | None = None
    pay: float | None = None
    periods: int | None = None
    monthly: float | None = None

    @property
    def math(self) -> str:
        parts = []
        if self.periods and self.monthly:
            parts.append(f"按{self.periods}期算每期约{yuan(self.monthly)}元")
        if self.saves:
            parts.append(f"可省{yuan(self.saves)}元")
        if self.pay:
            parts.append(f"需还{yuan(self.pay)}元")
        return "，".join(parts) + ("。" if parts else "")

    def pitch(self, rules: PlansFile) -> str:
        fields = {"name": self.plan.name, "condition": self.plan.condition, "benefit": self.plan.benefit,
                  "periods": self.periods or "", "monthly": yuan(self.monthly) if self.monthly else "",
                  "saves": yuan(self.saves) if self.saves else "", "pay": yuan(self.pay) if self.pay else ""}
        template = rules.pitches.get(self.kind, rules.pitches["other"])
        if ("{monthly}" in template and not self.monthly) or ("{saves}" in template and not self.saves):
            template = rules.pitches["other"]
        return template.format(**fields)

    def as_data(self) -> dict:
        return {"plan_id": self.plan.id, "plan_name": self.plan.name, "kind": self.kind, "fee": self.fee,
                "saves": self.saves, "pay": self.pay, "periods": self.periods, "monthly": self.monthly}


def _first_key(text: str, table: dict) -> object | None:
    return next((key for key, words in table.items() if any(w in text for w in words)), None)


def read_plan(plan: Plan, case: Case, rules: PlansFile | None = None) -> PlanOffer:
    rules = rules or load_plan_rules()
    kind = _first_key(plan.name, rules.kinds) or _first_key(plan.benefit, rules.kinds) or "other"
    debt = case.debt
    if kind == "installment":
        periods = find_periods(plan.benefit) or find_periods(plan.condition)
        # stop-interest instalments repay the principal; others the whole balance
        base = debt.principal if "停" in plan.name + plan.benefit else debt.total
        return PlanOffer(plan, kind, periods=periods, monthly=base / periods if periods else None)
    if kind in ("waiver", "discount"):
        fee = _first_key(plan.benefit, rules.fees)
        fee_amount = getattr(debt, fee) if fee else None
        fraction = _first_key(plan.benefit, rules.fractions)
        stated = [a.value for a in find_amounts(plan.benefit)]
        if fee_amount and fraction:
            saves = fee_amount * float(fraction)
        else:
            saves = fee_amount or (stated[0] if stated else None)
        return PlanOffer(plan, kind, fee=fee, saves=saves, pay=_pay(plan, case, saves, rules))
    return PlanOffer(plan, kind)


def _pay(plan: Plan, case: Case, saves: float | None, rules: PlansFile) -> float | None:
    target = _first_key(plan.condition, rules.pay_words)
    if target == "min_payment":
        return case.debt.min_payment
    if target == "total":
        return case.debt.total - (saves or 0)
    stated = find_amounts(plan.condition)
    return stated[0].value if stated else None


def best_plan(case: Case, intents: list[str], rules: PlansFile | None = None) -> PlanOffer | None:
    """The case's plan that best fits what was said, by the intents' kind preferences."""
    rules = rules or load_plan_rules()
    offers = [read_plan(p, case, rules) for p in case.plans]
    if not offers:
        return None
    for intent in intents:
        for kind in rules.prefer.get(intent, []):
            for offer in offers:
                if offer.kind == kind:
                    return offer
    return offers[0] if intents else None
