"""Promises followed up: one commitment per call, its status from the case's payments."""

from datetime import date, datetime

from ferryman.aftercall.followup import commitments, follow_up

DAY = datetime(2026, 11, 29, 15, 0).timestamp()


def test_the_agents_confirmation_is_the_commitment_not_the_cards_reading():
    records = [{"status": "captured", "amount": 5000, "due": "2026-12-04", "call_id": "c1", "at": DAY},
               {"status": "corrected", "amount": 5500, "due": "2026-12-05", "call_id": "c1", "at": DAY, "by": "王敏"},
               {"status": "captured", "amount": 3000, "due": "2026-12-01", "call_id": "c1", "at": DAY},
               {"status": "captured", "amount": None, "due": "2026-12-20", "call_id": "c2", "at": DAY}]
    [only] = commitments("K1", records)
    assert (only.amount, only.due, only.by, only.made_on) == (5500, date(2026, 12, 5), "王敏", date(2026, 11, 29))


def test_status_by_payments_and_the_day():
    [c] = commitments("K1", [{"status": "confirmed", "amount": 12000, "due": "2026-12-03", "call_id": "c1",
                              "at": DAY}])
    before_the_call = {"amount": 12000, "paid_on": "2026-11-01"}
    assert follow_up(c, [before_the_call], date(2026, 12, 1)).status == "open"
    assert follow_up(c, [], date(2026, 12, 4)).line() == "承诺 12月3日 还 12,000 元 — 未见入账（已逾期）"
    part = follow_up(c, [{"amount": 5000, "paid_on": "2026-12-02"}], date(2026, 12, 4))
    assert part.status == "partly" and part.line() == "承诺 12月3日 还 12,000 元 — 已入账 5,000 元，差 7,000 元"
    kept = follow_up(c, [{"amount": 5000, "paid_on": "2026-11-30"}, {"amount": 7000, "paid_on": "2026-12-03"}],
                     date(2026, 12, 1))
    assert kept.status == "kept" and kept.line().endswith("已兑现")
    late = follow_up(c, [{"amount": 12000, "paid_on": "2026-12-05"}], date(2026, 12, 6))
    assert late.status == "broken"                 # paid, but after the promised day
