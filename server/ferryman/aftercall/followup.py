"""Promises to pay, followed up (pure: ledger records and payments in, status out).

A call's commitment is its last promise record with an amount and a due date: what the agent
confirmed or corrected, else what the card captured. Its status on a given day, from the
payments the case received from the day of the call on:

    kept     paid at least the amount by the due date
    partly   paid something, less than the amount, and the due date has passed
    broken   nothing paid and the due date has passed
    open     not yet fully paid and the due date has not passed
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ferryman.hints.plans import yuan

STATUS_ZH = {"kept": "已兑现", "partly": "部分兑现", "broken": "未兑现", "open": "未到期"}


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
    paid: float

    def as_data(self) -> dict:
        c = self.commitment
        return {"case_id": c.case_id, "call_id": c.call_id, "amount": c.amount, "due": c.due.isoformat(),
                "made_on": c.made_on.isoformat(), "confirmed_by": c.by, "status": self.status,
                "status_zh": STATUS_ZH[self.status], "paid": self.paid, "line": self.line()}

    def line(self) -> str:
        """What the next call's brief says: "承诺 12月3日 还 12,000 元 — 未见入账"."""
        c = self.commitment
        head = f"承诺 {c.due.month}月{c.due.day}日 还 {yuan(c.amount)} 元"
        if self.status == "kept":
            return f"{head} — 已兑现"
        if self.paid:
            return f"{head} — 已入账 {yuan(self.paid)} 元，差 {yuan(c.amount - self.paid)} 元"
        return f"{head} — 未见入账" + ("（已逾期）" if self.status == "broken" else "")


def commitments(case_id: str, records: list[dict]) -> list[Commitment]:
    """One commitment per call, from the case's promise ledger (records oldest first)."""
    last: dict[str, dict] = {}
    for record in records:
        if record.get("amount") and record.get("due"):
            confirmed = record["status"] in ("confirmed", "corrected")
            if confirmed or last.get(record["call_id"], {}).get("status") not in ("confirmed", "corrected"):
                last[record["call_id"]] = record
    return [Commitment(case_id, call_id, float(r["amount"]), date.fromisoformat(r["due"]),
                       _day(r.get("at")), r.get("by")) for call_id, r in last.items()]


async def case_follow_ups(ledger, case_id: str, today: date) -> list[FollowUp]:
    """Every commitment of the case with its status today, the earliest due first."""
    payments = await ledger.payments(case_id)
    found = [follow_up(c, payments, today) for c in commitments(case_id, await ledger.of_case(case_id))]
    return sorted(found, key=lambda f: f.commitment.due)


def _day(timestamp: float | None) -> date:
    return datetime.fromtimestamp(timestamp).date() if timestamp else date.today()


def follow_up(commitment: Commitment, payments: list[dict], today: date) -> FollowUp:
    """The commitment's status on ``today`` from the case's payments (``{amount, paid_on}``)."""
    paid = round(sum(float(p["amount"]) for p in payments
                     if commitment.made_on <= date.fromisoformat(p["paid_on"]) <= commitment.due), 2)
    if paid >= commitment.amount - 0.005:
        status = "kept"
    elif today <= commitment.due:
        status = "open"
    else:
        status = "partly" if paid else "broken"
    return FollowUp(commitment, status, paid)
