"""The promise card's three answers through the API (issue 13): 确认 without a calendar day (the
customer said "过完年"), 修改, and 不是承诺 — recorded as ``withdrawn`` on the call's stream
and in the case's promise ledger."""

import asyncio
import uuid

import httpx
import pytest

from ferryman.cases.schema import load_case_file
from support import TurnCall

pytestmark = pytest.mark.integration


def api(server, method: str, path: str, role: str = "agent", **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server.http}/api{path}", headers=server.headers(role), **kwargs)


def promised(server, corpus, said: str) -> tuple[str, dict]:
    """A call on a fresh copy of d01's case where the customer says ``said``; its promise card."""
    case = load_case_file(corpus / "d01.json").model_copy(update={"case_id": f"pc-{uuid.uuid4().hex[:8]}"})
    api(server, "PUT", f"/cases/{case.case_id}", role="gateway", json=case.model_dump(mode="json")).raise_for_status()
    call_id = f"pc-{uuid.uuid4().hex[:8]}"

    async def scenario():
        async with TurnCall(server, call_id, case_id=case.case_id, agent_id="a1") as call:
            await call.say("agent", "王先生您好，这里是信用卡中心，本次通话会被录音。")
            await call.say("customer", said)

    asyncio.run(scenario())
    record = api(server, "GET", f"/calls/{call_id}/record", role="supervisor").json()
    cards = [h for h in record["hints"] if h["code"] == "promise_to_pay"]
    assert cards, record["hints"]
    return call_id, cards[-1]


def test_a_promise_without_a_calendar_day_is_confirmed_as_said(server, corpus):
    call_id, card = promised(server, corpus, "过完年我肯定还两千块。")
    captured = api(server, "GET", f"/calls/{call_id}/promises").json()
    assert captured[0]["status"] == "captured" and captured[0]["date_text"] == "过完年" and captured[0]["due"] is None

    reply = api(server, "POST", f"/calls/{call_id}/promise", json={"amount": 2000, "due": None, "hint_id": card["id"]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "confirmed" and reply.json().get("due") is None
    reply = api(server, "POST", f"/calls/{call_id}/promise", json={"amount": 2500, "hint_id": card["id"]})
    assert reply.json()["status"] == "corrected"                     # 修改: another amount, still no day
    ledger = api(server, "GET", f"/calls/{call_id}/promises").json()
    assert [(p["status"], p["amount"], p["due"]) for p in ledger] == [
        ("captured", 2000, None), ("confirmed", 2000, None), ("corrected", 2500, None)]


def test_not_a_promise_is_recorded_as_withdrawn_on_the_call_and_in_the_ledger(server, corpus):
    call_id, card = promised(server, corpus, "我今天下午先还两千块。")
    assert api(server, "POST", f"/calls/{call_id}/promise/withdraw", role="supervisor",
               json={"hint_id": card["id"]}).status_code == 403             # the agent's word, not the supervisor's
    reply = api(server, "POST", f"/calls/{call_id}/promise/withdraw", json={"hint_id": card["id"]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "withdrawn" and reply.json()["hint_id"] == card["id"]
    ledger = api(server, "GET", f"/calls/{call_id}/promises").json()
    assert [p["status"] for p in ledger] == ["captured", "withdrawn"] and ledger[-1]["hint_id"] == card["id"]
    record = api(server, "GET", f"/calls/{call_id}/record", role="supervisor").json()
    assert [p["status"] for p in record["promises"]] == ["withdrawn"]
    assert record["wrapup"]["promise"] is None and record["wrapup"]["disposition"] != "promise_to_pay"

    other = [h for h in record["hints"] if h["code"] != "promise_to_pay"]   # disclosure_missing: no identity given
    assert other and api(server, "POST", f"/calls/{call_id}/promise/withdraw",
                         json={"hint_id": other[0]["id"]}).status_code == 422   # only a promise card is withdrawn
