"""Promises to pay: amount and date out of what the customer said, related to the case."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from ferryman.cases.schema import Case
from ferryman.hints.numbers import PayDate, find_amounts, find_date
from ferryman.hints.plans import read_plan, yuan

_COMMIT = ("肯定", "一定", "保证", "马上", "就", "先", "会", "开始", "争取", "尽快", "立刻")
_ALL = ("全部", "全额", "一次性还清", "都还上", "还清")
_MINIMUM = ("最低还款", "最低")
_FIRST_INSTALMENT = ("第一期", "首期")
_PAST = ("已经", "上周", "上个星期", "上礼拜", "上个月", "昨天", "前天", "早就", "还过")


@dataclass(frozen=True)
class Promise:
    amount: float | None
    amount_text: str
    date_text: str
    due: str | None              # ISO date when it could be resolved
    relation: str                # what it means against the case (zh)
    text: str

    def as_data(self) -> dict:
        return asdict(self)


def is_commitment(text: str, when: PayDate | None, amount: float | None) -> bool:
    """A payment intent counts as a promise when it is anchored (a date, an amount or a firm
    word) and about the future ("上周就还了" reports a payment, it promises none)."""
    if any(word in text for word in _PAST):
        return False
    return when is not None or amount is not None or any(word in text for word in _COMMIT)


def _amount(text: str, case: Case) -> tuple[float | None, str]:
    amounts = [a for a in find_amounts(text) if a.value <= case.debt.total * 1.5]
    if amounts:
        return amounts[0].value, amounts[0].text
    if any(word in text for word in _ALL):
        return case.debt.total, "全部欠款"
    if any(word in text for word in _MINIMUM):
        return case.debt.min_payment, "最低还款"
    return None, ("第一期" if any(word in text for word in _FIRST_INSTALMENT) else "")


def _relation(amount: float | None, case: Case) -> str:
    if amount is None:
        return "未说金额，请确认具体金额。"
    debt, notes = case.debt, []
    if abs(amount - debt.total) < 1:
        notes.append("等于全部欠款，可结清。")
    elif abs(amount - debt.min_payment) < 1:
        notes.append(f"等于最低还款（{yuan(debt.min_payment)}元）。")
    elif amount < debt.min_payment:
        notes.append(f"低于最低还款（{yuan(debt.min_payment)}元），差{yuan(debt.min_payment - amount)}元。")
    for plan in case.plans:
        offer = read_plan(plan, case)
        if offer.pay and amount >= offer.pay - 1:          # pays at least what the plan asks
            notes.append(f"符合「{plan.name}」条件（{plan.condition}）：{plan.benefit}。")
    if amount < debt.total - 1:
        notes.append(f"还款后剩余{yuan(debt.total - amount)}元。")
    return "".join(notes)


def extract_promise(text: str, case: Case, today: date) -> Promise | None:
    when = find_date(text, today, case.notes)
    amount, amount_text = _amount(text, case)
    if not is_commitment(text, when, amount):
        return None
    return Promise(amount=amount, amount_text=amount_text or (f"{yuan(amount)}元" if amount else ""),
                   date_text=when.text if when else "", due=when.on.isoformat() if when and when.on else None,
                   relation=_relation(amount, case), text=text)
