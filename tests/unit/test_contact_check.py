"""The contact rules as a pure check: the facts in, the breaches out."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from ferryman.calls.contact import Complaint, ContactRules, check_contact, debtor_zone, load_contact_rules, local_day

SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def rules() -> ContactRules:
    return load_contact_rules()


def at(hour: int, minute: int = 0, tz=SHANGHAI) -> datetime:
    return datetime(2026, 11, 29, hour, minute, tzinfo=tz)


def broken(rules, placed_at, **facts) -> list[str]:
    return [b.rule for b in check_contact(rules, placed_at, debtor_zone(rules, facts.pop("tz", None)), **facts)]


@pytest.mark.parametrize("hour, minute, allowed", [(7, 59, False), (8, 0, True), (12, 0, True), (21, 59, True),
                                                    (22, 0, False), (22, 30, False), (3, 0, False)])
def test_calling_hours_in_the_debtors_local_time(rules, hour, minute, allowed):
    assert (broken(rules, at(hour, minute)) == []) is allowed


def test_the_same_moment_is_judged_in_the_debtors_own_zone(rules):
    moment = at(22, 30)                                       # 09:30 in New York
    assert broken(rules, moment) == ["calling_hours"]
    assert broken(rules, moment, tz="America/New_York") == []
    assert broken(rules, moment.astimezone(timezone.utc)) == ["calling_hours"]   # the zone it is given in is irrelevant


def test_the_fourth_contact_of_the_day_breaks_the_cap_and_says_which(rules):
    assert broken(rules, at(10), contacts_before=2) == []
    breaches = check_contact(rules, at(10), debtor_zone(rules, None), contacts_before=3)
    assert [b.rule for b in breaches] == ["daily_contacts"]
    assert "第 4 次" in breaches[0].detail and "每日 3 次" in breaches[0].detail
    assert broken(rules, at(10), contacts_before=None) == []           # unknown (no case): not judged


def test_a_complaint_holds_until_released_and_only_when_the_rule_is_on(rules):
    complaint = Complaint(registered_at=at(9).timestamp(), registered_by="张组长", note="向监管投诉")
    assert broken(rules, at(10), complaint=complaint) == ["complaint_hold"]
    released = complaint.model_copy(update={"released_at": at(9, 30).timestamp(), "released_by": "张组长"})
    assert broken(rules, at(10), complaint=released) == []
    off = rules.model_copy(update={"complaint_hold": False})
    assert broken(off, at(10), complaint=complaint) == []


def test_every_breach_is_worded_from_the_data_with_its_facts(rules):
    complaint = Complaint(registered_at=at(9).timestamp(), registered_by="x")
    breaches = check_contact(rules, at(23, 5), debtor_zone(rules, None), 5, complaint)
    assert [b.rule for b in breaches] == ["calling_hours", "daily_contacts", "complaint_hold"]
    assert "23:05" in breaches[0].detail and "08:00–22:00" in breaches[0].detail
    assert "未注明原因" in breaches[2].detail and "2026-11-29" in breaches[2].detail
    assert all("{" not in b.title + b.detail + b.suggestion for b in breaches)


def test_the_local_day_runs_midnight_to_midnight_in_the_debtors_zone(rules):
    day, first, last = local_day(at(0, 30), debtor_zone(rules, None))
    assert day.isoformat() == "2026-11-29" and last - first == 86_400
    assert first == at(0).timestamp()


@pytest.mark.parametrize("change", [
    {"timezone": "Mars/Base"}, {"calling_hours": {"start": "22:00", "end": "08:00"}},
    {"calling_hours": {"start": "08:00", "end": "24:30"}}, {"max_contacts_per_day": 0}, {"cards": {}},
    {"surprise": 1}])
def test_bad_rules_are_refused(rules, change):
    with pytest.raises(ValidationError):
        ContactRules.model_validate({**rules.model_dump(), **change})


def test_all_day_is_expressible(rules):
    lenient = ContactRules.model_validate({**rules.model_dump(), "calling_hours": {"start": "00:00", "end": "24:00"}})
    assert broken(lenient, at(23, 59)) == [] and broken(lenient, at(0, 0)) == []
