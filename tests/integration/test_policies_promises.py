"""Team-wide policies and captured promises live in Redis beside the cases."""

import asyncio
import time

import httpx
import pytest

from ferryman.bus.streams import EventBus
from ferryman.events import Evidence, HintEvent
from ferryman.infra.redis import async_client
from ferryman.records.promises import PromiseLedger

pytestmark = pytest.mark.integration


def test_default_policies_are_seeded_and_editable(server):
    policies = {p["id"]: p for p in httpx.get(f"{server.http}/api/policies", headers=server.headers()).json()}
    assert "hardship_deferral" in policies and "illness" in policies["hardship_deferral"]["applies_to"]
    edited = {**policies["hardship_deferral"], "benefit": "还款日最长延后六十天"}
    assert httpx.put(f"{server.http}/api/policies/hardship_deferral", json=edited, headers=server.headers()).status_code == 200
    again = {p["id"]: p for p in httpx.get(f"{server.http}/api/policies", headers=server.headers()).json()}
    assert again["hardship_deferral"]["benefit"] == "还款日最长延后六十天"


def test_bad_policy_is_422_naming_the_field(server):
    bad = {"id": "p1", "name": "x", "applies_to": ["lottery"]}
    reply = httpx.put(f"{server.http}/api/policies/p1", json=bad, headers=server.headers())
    assert reply.status_code == 422 and reply.json()["detail"][0]["loc"][:2] == ["body", "applies_to"]


def test_a_promise_hint_is_stored_with_its_event_and_served(server):
    promise = {"amount": 12000.0, "amount_text": "一万两千", "date_text": "今天", "due": "2026-11-29",
               "relation": "等于最低还款", "text": "我今天下午先还一万两千块"}
    hint = HintEvent(call_id="ptp-call", code="promise_to_pay", severity="info", priority=3, title="还款承诺",
                     detail="", suggestion="", evidence=Evidence(channel="customer", text=promise["text"]),
                     data={"promise": promise, "case_id": "CASE-PTP"}, t=118.9)

    async def scenario():
        client = async_client(server.app.state.services.embedded_redis.url)
        bus = EventBus(client)
        await bus.append(hint)
        stored = await PromiseLedger(client).of_case("CASE-PTP")
        await client.aclose()
        return stored

    stored = asyncio.run(scenario())
    assert abs(stored[0].pop("at") - time.time()) < 60                 # when it was recorded (the follow-up's day)
    assert stored == [{"status": "captured", **promise, "call_id": "ptp-call", "t": 118.9}]
    served = httpx.get(f"{server.http}/api/cases/CASE-PTP/promises", headers=server.headers()).json()
    assert [{k: v for k, v in p.items() if k != "at"} for p in served] == stored
