"""Contact rules at call start, through the real server and Redis: calling hours in the debtor's
time zone, effective contacts per day, a registered complaint and a supervisor's release."""

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest

from ferryman.cases.schema import load_case_file
from support import TurnCall, lenient_contact_rules

pytestmark = pytest.mark.integration
SHANGHAI = timezone(timedelta(hours=8))


def api(server, method: str, path: str, role: str = "supervisor", **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server.http}/api{path}", headers=server.headers(role), **kwargs)


@pytest.fixture
def rules(server):
    """The file's rules (08:00–22:00 Asia/Shanghai, 3 a day) for this test, lenient ones after."""
    assert api(server, "DELETE", "/contact-rules").status_code == 200
    yield lambda **change: api(server, "PUT", "/contact-rules",
                               json={**api(server, "GET", "/contact-rules").json(), **change}).raise_for_status()
    api(server, "PUT", "/contact-rules", json=lenient_contact_rules()).raise_for_status()


@pytest.fixture
def case_id(server, corpus) -> str:
    """A case of its own (no contacts yet): d01's, under a fresh id."""
    case = load_case_file(corpus / "d01.json").model_copy(update={"case_id": f"c-{uuid.uuid4().hex[:8]}"})
    api(server, "PUT", f"/cases/{case.case_id}", json=case.model_dump(mode="json")).raise_for_status()
    return case.case_id


def register(server, case_id: str, placed_at: datetime | None = None) -> tuple[str, dict]:
    call_id = f"cr-{uuid.uuid4().hex[:8]}"
    body = {"call_id": call_id, "case_id": case_id, "agent_id": "a1"}
    if placed_at is not None:
        body["placed_at"] = placed_at.isoformat()
    answer = api(server, "POST", "/calls", role="gateway", json=body)
    assert answer.status_code == 201, answer.text
    return call_id, answer.json()


def place(server, call_id: str, *turns: tuple[str, str]) -> list[dict]:
    """The registered call through the transcript socket; its events as stored."""
    async def scenario():
        async with TurnCall(server, call_id, agent_id=None) as call:
            for channel, text in turns:
                await call.say(channel, text)

    asyncio.run(scenario())
    return events(server, call_id)


def events(server, call_id: str) -> list[dict]:
    from ferryman.infra.redis import async_client

    async def read():
        client = async_client(server.app.state.services.embedded_redis.url)
        try:
            return [json.loads(fields["e"]) for _, fields in await client.xrange(f"call:{call_id}:events")]
        finally:
            await client.aclose()

    return asyncio.run(read())


def contact_cards(stored: list[dict]) -> list[dict]:
    return [e for e in stored if e["type"] == "contact_rule"]


def tonight(hour: int, minute: int) -> datetime:
    return datetime.combine(date.today(), datetime.min.time(), SHANGHAI).replace(hour=hour, minute=minute)


def test_a_call_placed_at_half_past_ten_in_the_evening_breaks_the_calling_hours(server, rules, case_id):
    call_id, registered = register(server, case_id, tonight(22, 30))
    assert [b["rule"] for b in registered["contact_rules"]] == ["calling_hours"]   # the dialer is told
    assert "22:30" in registered["contact_rules"][0]["detail"]

    stored = place(server, call_id, ("agent", "您好，这里是信用卡中心。"))
    assert stored[0]["type"] == "call" and stored[0]["state"] == "started"
    card = stored[1]                                   # right after the start, before any word
    assert card["type"] == "contact_rule" and card["rule"] == "calling_hours" and card["severity"] == "critical"
    assert card["title"] == "非允许拨打时段" and card["data"]["local_time"] == "22:30"
    summary = api(server, "GET", f"/calls/{call_id}").json()
    assert summary["gravest_hint"]["code"] == "contact_rule"                       # the wall's row


def test_the_same_hour_is_allowed_in_the_debtors_own_time_zone(server, rules, corpus):
    case = load_case_file(corpus / "d01.json").model_copy(
        update={"case_id": f"ny-{uuid.uuid4().hex[:6]}", "timezone": "America/New_York"})
    api(server, "PUT", f"/cases/{case.case_id}", json=case.model_dump(mode="json")).raise_for_status()
    # 22:30 in Shanghai is 09:30 in New York (winter): allowed for this debtor
    _, registered = register(server, case.case_id, tonight(22, 30))
    assert registered["contact_rules"] == []
    _, registered = register(server, case.case_id, tonight(12, 0))                 # 23:00 in New York
    assert [b["rule"] for b in registered["contact_rules"]] == ["calling_hours"]
    bad = api(server, "PUT", f"/cases/{case.case_id}", json={**case.model_dump(mode="json"), "timezone": "Mars/Base"})
    assert bad.status_code == 422


def test_the_fourth_effective_contact_of_the_day_raises_the_card(server, rules, case_id):
    rules(calling_hours={"start": "00:00", "end": "24:00"})        # only the daily cap, at any hour of CI
    reached = register(server, case_id)[0]
    place(server, reached, ("agent", "您好，请问是王建国先生吗？"), ("customer", "是我，你们又有什么事？"))   # 1
    unanswered = register(server, case_id)[0]
    place(server, unanswered, ("agent", "您好，请问有人吗？"), ("customer", "喂？"))    # a "喂？" is nobody: not one
    someone_else = register(server, case_id)[0]
    place(server, someone_else, ("agent", "您好，请问是王建国先生吗？"),
          ("customer", "他不在家，我是他老婆，你们找他什么事？"))                     # not the debtor: not one
    for ref in ("dialer-1", "dialer-2", "dialer-2"):                               # the dialer's own: 2 (once each)
        assert api(server, "POST", f"/cases/{case_id}/contacts", role="gateway", json={"ref": ref}).status_code == 201
    status = api(server, "GET", f"/cases/{case_id}/contact-status").json()
    assert status["contacts_today"] == 3 and status["limit"] == 3
    assert [b["rule"] for b in status["breaches_now"]] == ["daily_contacts"]

    fourth, registered = register(server, case_id)
    assert [b["rule"] for b in registered["contact_rules"]] == ["daily_contacts"]
    cards = contact_cards(place(server, fourth, ("agent", "您好。")))
    assert [c["rule"] for c in cards] == ["daily_contacts"]
    assert "第 4 次" in cards[0]["detail"] and cards[0]["data"]["contacts"] == 3


def test_a_registered_complaint_holds_contact_until_a_supervisor_releases_it(server, rules, case_id):
    rules(calling_hours={"start": "00:00", "end": "24:00"})
    assert api(server, "POST", f"/cases/{case_id}/complaint/release").status_code == 404    # nothing to release
    assert api(server, "PUT", f"/cases/{case_id}/complaint", role="gateway",
               json={"note": "客户向银保监会投诉"}).status_code == 201
    again = api(server, "PUT", f"/cases/{case_id}/complaint", json={"note": "另一条"})
    assert again.json()["note"] == "客户向银保监会投诉"                 # one still holding is kept as registered
    held, registered = register(server, case_id)
    assert [b["rule"] for b in registered["contact_rules"]] == ["complaint_hold"]
    assert "银保监会" in registered["contact_rules"][0]["detail"]
    assert [c["rule"] for c in contact_cards(place(server, held, ("agent", "您好。")))] == ["complaint_hold"]

    assert api(server, "POST", f"/cases/{case_id}/complaint/release", role="gateway").status_code == 403
    released = api(server, "POST", f"/cases/{case_id}/complaint/release", json={"note": "已处理"}).json()
    assert released["released_by"] == "张组长" and released["note"] == "客户向银保监会投诉"   # kept on record
    again, registered = register(server, case_id)
    assert registered["contact_rules"] == []
    assert contact_cards(place(server, again, ("agent", "您好。"))) == []
    assert api(server, "POST", f"/cases/{case_id}/complaint/release").json()["released_by"] == "张组长"   # once
    renewed = api(server, "PUT", f"/cases/{case_id}/complaint", json={"note": "再次投诉"}).json()
    assert renewed["note"] == "再次投诉" and renewed["released_at"] is None          # a new complaint holds again


def test_the_rules_are_validated_and_only_a_supervisor_changes_them(server, rules):
    current = api(server, "GET", "/contact-rules", role="agent").json()
    assert current["calling_hours"] == {"start": "08:00", "end": "22:00"} and current["max_contacts_per_day"] == 3
    typo = {**current["cards"], "calling_hours": {**current["cards"]["calling_hours"], "detail": "当地 {local_tme}"}}
    probe = {**current["cards"], "calling_hours": {**current["cards"]["calling_hours"], "title": "{placed_at.year}"}}
    for change in ({"timezone": "Mars/Base"}, {"calling_hours": {"start": "22:00", "end": "08:00"}},
                   {"max_contacts_per_day": 0}, {"calling_hours": {"start": "8am", "end": "22:00"}},
                   {"cards": typo}, {"cards": probe}):
        assert api(server, "PUT", "/contact-rules", json={**current, **change}).status_code == 422, change
    assert api(server, "PUT", "/contact-rules", role="agent", json=current).status_code == 403
    assert api(server, "PUT", "/contact-rules", json={**current, "max_contacts_per_day": 5}).status_code == 200
    assert api(server, "GET", "/contact-rules").json()["max_contacts_per_day"] == 5


def test_a_placement_far_from_now_is_refused(server, case_id):
    for placed_at in ("0001-01-01T00:00:00+05:00", "2099-12-31T23:00:00+08:00", "2026-11-29T22:30:00"):
        answer = api(server, "POST", "/calls", role="gateway",
                     json={"call_id": f"far-{uuid.uuid4().hex[:6]}", "case_id": case_id, "agent_id": "a1",
                           "placed_at": placed_at})
        assert answer.status_code == 422, (placed_at, answer.text)         # no zone, or not within two days
