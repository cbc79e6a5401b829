"""Promises followed up: one commitment per call, each payment counted once, late money named."""

from datetime import date, datetime

from ferryman.aftercall.followup import commitments, follow_ups

CALL = datetime(2026, 11, 29, 15, 0).timestamp()


def record(call_id: str, amount, due: str, status: str = "confirmed", at: float = CALL, t: float = 60.0, **kw):
    return {"status": status, "amount": amount, "due": due, "call_id": call_id, "at": at, "t": t, **kw}


def one(records, payments, today):
    [found] = follow_ups(commitments("K1", records), payments, today)
    return found


def test_the_agents_confirmation_is_the_commitment_and_the_call_day_its_start():
    saved_days_later = CALL + 3 * 86_400
    records = [record("c1", 5000, "2026-12-04", "captured"),
               record("c1", 5500, "2026-12-05", "corrected", at=saved_days_later, t=300.0, by="王敏"),
               record("c1", 3000, "2026-12-01", "captured"),
               record("c2", None, "2026-12-20", "captured")]
    [only] = commitments("K1", records)
    assert (only.amount, only.due, only.by) == (5500, date(2026, 12, 5), "王敏")
    assert only.made_on == date(2026, 11, 29)          # the call's day, not the day the wrap-up was saved


def test_status_by_payments_and_the_day():
    records = [record("c1", 12000, "2026-12-03")]
    assert one(records, [{"amount": 12000, "paid_on": "2026-11-01"}], date(2026, 12, 1)).status == "open"
    assert one(records, [], date(2026, 12, 4)).line() == "承诺 12月3日 还 12,000 元 — 未见入账（已逾期）"
    part = one(records, [{"amount": 5000, "paid_on": "2026-12-02"}], date(2026, 12, 4))
    assert part.status == "partly" and part.line() == "承诺 12月3日 还 12,000 元 — 已入账 5,000 元，差 7,000 元"
    kept = one(records, [{"amount": 5000, "paid_on": "2026-11-30"}, {"amount": 7000, "paid_on": "2026-12-03"}],
               date(2026, 12, 1))
    assert kept.status == "kept" and kept.line().endswith("已兑现")
    late = one(records, [{"amount": 12000, "paid_on": "2026-12-05"}], date(2026, 12, 6))
    assert late.status == "late" and late.line() == "承诺 12月3日 还 12,000 元 — 逾期后入账 12,000 元"


def test_a_payment_counts_once_and_a_renegotiated_promise_replaces_the_old_one():
    first = record("c1", 12000, "2026-12-10")
    again = record("c2", 12000, "2026-12-10", at=CALL + 2 * 86_400)      # promised again two days later
    [running] = follow_ups(commitments("K1", [first, again]), [], date(2026, 12, 1))
    assert running.commitment.call_id == "c2"
    split = [record("c1", 3000, "2026-12-05"), record("c2", 3000, "2026-12-20", at=CALL + 10 * 86_400)]
    states = follow_ups(commitments("K1", split), [{"amount": 3000, "paid_on": "2026-12-05"}], date(2026, 12, 21))
    assert [(f.commitment.call_id, f.status) for f in states] == [("c1", "kept"), ("c2", "broken")]


def test_a_withdrawn_promise_is_not_followed_up():
    records = [record("c1", 8000, "2026-12-03", "captured"), {"status": "withdrawn", "call_id": "c1", "at": CALL}]
    assert commitments("K1", records) == []
