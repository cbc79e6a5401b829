"""Promises to pay: amount and date out of what the customer said, related to the case.

Whether a turn *means* to commit is decided upstream (a promise phrase, or the learned layer);
this module keeps what rules are good at: reading the amount and the date, relating them to the
case, and vetoing what is not a commitment whatever its words — a hypothetical ("要是有一万我还至于…"),
a question ("还了多久能解冻？"), a payment already made. The words are in ``rules/promises.yaml``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from ferryman.cases.schema import Case
from ferryman.hints.matching import clause_texts
from ferryman.hints.numbers import PayDate, find_amounts, find_date
from ferryman.hints.plans import read_plan, yuan
from ferryman.hints.rules import PromiseWords


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


def _has(text: str, words: list[str]) -> bool:
    return any(word in text for word in words)


def is_counterfactual(text: str, words: PromiseWords) -> bool:
    """A condition word followed, later in the turn, by a consequence word ("要是有…早就还了")."""
    cf = words.counterfactual
    for condition in cf.conditions:
        at = text.find(condition)
        if at >= 0 and _has(text[at + len(condition):], cf.consequences):
            return True
    return False


def is_question(clause: str, words: PromiseWords) -> bool:
    clause = clause.strip()
    return any(clause.endswith(e) for e in words.question.endings) or _has(clause, words.question.words)


def _amount(text: str, case: Case, words: PromiseWords) -> tuple[float | None, str]:
    owed = case.debt.total or None          # 0: nothing known of the debt (a call nobody registered)
    amounts = [a for a in find_amounts(text) if owed is None or a.value <= owed * 1.5]
    if amounts:
        return amounts[0].value, amounts[0].text
    if _has(text, words.all):
        return owed, "全部欠款"
    if _has(text, words.minimum):
        return case.debt.min_payment or None, "最低还款"
    return None, ("第一期" if _has(text, words.first_instalment) else "")


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


def _anchor(text: str, case: Case, today: date, words: PromiseWords) -> tuple[PayDate | None, float | None, str]:
    when = find_date(text, today, case.notes, words.default_payday)
    amount, amount_text = _amount(text, case, words)
    return when, amount, amount_text


def extract_promise(text: str, case: Case, today: date, words: PromiseWords, turn: str | None = None,
                    proposal: str | None = None) -> Promise | None:
    """The promise in ``text`` (a clause that carries the intent to pay), or None.

    A promise needs an anchor: an amount, a date or a firm word ("肯定", "马上"). ``turn``: the whole
    turn, for a date or amount said in another clause ("下个月十五号，我开始还"); ``proposal``: the
    agent's turn before, whose amount and date a bare "行，就这么办" accepts.
    """
    turn = turn or text
    if _has(text, words.past) or is_counterfactual(turn, words) or is_question(text, words) \
            or _asks_back(text, turn, words):
        return None
    when, amount, amount_text = _anchor(text, case, today, words)
    statements = "，".join(c for c in clause_texts(turn) if not is_question(c, words))
    for source in (statements, proposal or ""):      # what the clause leaves open, the turn or the offer may say
        if when is None or amount is None:
            other_when, other_amount, other_text = _anchor(source, case, today, words)
            when = when or other_when
            if amount is None and other_amount is not None:
                amount, amount_text = other_amount, other_text
    if not (when or amount is not None or _has(text, words.commit)):
        return None
    return Promise(amount=amount, amount_text=amount_text or (f"{yuan(amount)}元" if amount else ""),
                   date_text=when.text if when else "", due=when.on.isoformat() if when and when.on else None,
                   relation=_relation(amount, case), text=text)


def _asks_back(clause: str, turn: str, words: PromiseWords) -> bool:
    """"我今天要是把三千六还了，周末能刷卡不": a condition followed by a question asks, it does not promise."""
    if not _has(clause, words.counterfactual.conditions):
        return False
    after = turn[turn.find(clause) + len(clause):] if clause in turn else ""
    return any(is_question(c, words) for c in clause_texts(after))
