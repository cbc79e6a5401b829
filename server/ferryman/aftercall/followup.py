"""Promises to pay, followed up (pure: ledger records and payments in, status out).

A call's commitment is its last promise record with an amount and a due date: what the agent
confirmed or corrected, else what the card captured; ``withdrawn`` (the agent struck a misheard
promise at wrap-up) removes it. A commitment made while an earlier one of the case was still
running replaces it (the customer renegotiated). Each payment counts once: towards the running
commitment due first whose days (from its call to its due date) it falls in; what is paid after
a due date is counted as late. A commitment's status:

    kept     paid in full by the due date            late     paid in full, some of it after
    open     the due date has not passed             partly   some paid, not all, due date passed
    broken   nothing paid and the due date passed
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ferryman.hints.plans import yuan

STATUS_ZH = {"kept": "已兑现", "late": "逾期后兑现", "partly": "部分兑现", "broken": "未兑现", "open": "未到期"}
SETTLED = ("kept", "late")        # money arrived: nothing to follow up
CONFIRMED = ("confirmed", "corrected")


@dataclass(frozen=True)
class Commitment:
    case_id: str
    call_id: str
    amount: float
    due: date
    made_on: date          # the day of the call
    by: str | None = None  # who confirmed it (None: as captured, unconfirmed)


@dataclass(frozen=True)
class FollowUp:
    commitment: Commitment
    status: str
    paid: float            # by the due date
    late: float = 0.0      # after it

    def as_data(self) -> dict:
        c = self.commitment
        return {"case_id": c.case_id, "call_id": c.call_id, "amount": c.amount, "due": c.due.isoformat(),
                "made_on": c.made_on.isoformat(), "confirmed_by": c.by, "status": self.status,
                "status_zh": STATUS_ZH[self.status], "paid": self.paid, "paid_late": self.late, "line": self.line()}

    def line(self) -> str:
        """What the next call's brief says: "承诺 12月3日 还 12,000 元 — 未见入账"."""
        c = self.commitment
        head = f"承诺 {c.due.month}月{c.due.day}日 还 {yuan(c.amount)} 元"
        if self.status == "kept":
            return f"{head} — 已兑现"
        said = [f"已入账 {yuan(self.paid)} 元"] if self.paid else []
        said += [f"逾期后入账 {yuan(self.late)} 元"] if self.late else []
        if not said:
            return f"{head} — 未见入账" + ("（已逾期）" if self.status == "broken" else "")
        short = c.amount - self.paid - self.late
        return f"{head} — {'，'.join(said)}" + (f"，差 {yuan(short)} 元" if short > 0.005 else "")


def commitments(case_id: str, records: list[dict]) -> list[Commitment]:
    """One commitment per call, from the case's promise ledger (records oldest first)."""
    last: dict[str, dict] = {}
    began: dict[str, float] = {}
    for record in records:
        call_id = record["call_id"]
        if record.get("at") is not None:       # the call began at ``at - t`` (t: seconds into the call)
            began[call_id] = min(began.get(call_id, float("inf")), record["at"] - record.get("t", 0.0))
        if record["status"] == "withdrawn":
            last.pop(call_id, None)
        elif record.get("amount") and record.get("due") and (
                record["status"] in CONFIRMED or last.get(call_id, {}).get("status") not in CONFIRMED):
            last[call_id] = record
    return [Commitment(case_id, call_id, float(r["amount"]), date.fromisoformat(r["due"]),
                       _day(began.get(call_id)), r.get("by")) for call_id, r in last.items()]


def _day(timestamp: float | None) -> date:
    return datetime.fromtimestamp(timestamp).date() if timestamp is not None else date.min


def running(found: list[Commitment]) -> list[Commitment]:
    """Without those a later commitment replaced (``found`` in the order the calls were made: a
    commitment made before an earlier one fell due replaces it)."""
    return [c for i, c in enumerate(found) if not any(later.made_on <= c.due for later in found[i + 1:])]


def follow_ups(found: list[Commitment], payments: list[dict], today: date) -> list[FollowUp]:
    """Every running commitment with its status on ``today``, each payment counted once."""
    active = sorted(running(found), key=lambda c: c.due)
    paid = {c.call_id: 0.0 for c in active}
    late = {c.call_id: 0.0 for c in active}
    for payment in sorted(payments, key=lambda p: p["paid_on"]):
        day, left = date.fromisoformat(payment["paid_on"]), float(payment["amount"])
        for c in active:                        # in time: the running commitment due first
            if left > 0 and c.made_on <= day <= c.due:
                take = min(left, c.amount - paid[c.call_id] - late[c.call_id])
                paid[c.call_id], left = paid[c.call_id] + max(take, 0.0), left - max(take, 0.0)
        for c in active:                        # late: the oldest one still short
            if left > 0 and day > c.due:
                take = min(left, c.amount - paid[c.call_id] - late[c.call_id])
                late[c.call_id], left = late[c.call_id] + max(take, 0.0), left - max(take, 0.0)
    return [FollowUp(c, _status(c, paid[c.call_id], late[c.call_id], today), round(paid[c.call_id], 2),
                     round(late[c.call_id], 2)) for c in active]


def _status(c: Commitment, paid: float, late: float, today: date) -> str:
    if paid >= c.amount - 0.005:
        return "kept"
    if paid + late >= c.amount - 0.005:
        return "late"
    if today <= c.due:
        return "open"
    return "partly" if paid or late else "broken"


async def case_follow_ups(ledger, case_id: str, today: date) -> list[FollowUp]:
    """Every running commitment of the case with its status today, the earliest due first."""
    return follow_ups(commitments(case_id, await ledger.of_case(case_id)), await ledger.payments(case_id), today)
