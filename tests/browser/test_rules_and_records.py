"""In a real headless Chromium against the real server and Redis: the contact-rule card at call
start, and the calls page that finds a call after the fact."""

import re
import uuid
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from browser_helpers import open_page
from playwright.async_api import expect

from ferryman.cases.schema import load_case_file
from support import TurnCall, lenient_contact_rules

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def api(server, method: str, path: str, role: str = "supervisor", **kwargs) -> httpx.Response:
    response = httpx.request(method, f"{server.http}/api{path}", headers=server.headers(role), **kwargs)
    response.raise_for_status()
    return response


@pytest.fixture
def strict_rules(server):
    api(server, "DELETE", "/contact-rules")                     # the file's: 08:00–22:00, 3 a day
    yield
    api(server, "PUT", "/contact-rules", json=lenient_contact_rules())


def fresh_case(server, corpus) -> str:
    case = load_case_file(corpus / "d01.json").model_copy(update={"case_id": f"b-{uuid.uuid4().hex[:8]}"})
    api(server, "PUT", f"/cases/{case.case_id}", json=case.model_dump(mode="json"))
    return case.case_id


def register(server, case_id: str, placed_at: datetime | None = None) -> str:
    call_id = f"br-{uuid.uuid4().hex[:8]}"
    body = {"call_id": call_id, "case_id": case_id, "agent_id": "a1"}
    if placed_at:
        body["placed_at"] = placed_at.isoformat()
    api(server, "POST", "/calls", role="gateway", json=body)
    return call_id


async def test_a_call_placed_at_half_past_ten_raises_the_contact_rule_card_and_a_wall_alert(
        browser, server, corpus, strict_rules):
    case_id = fresh_case(server, corpus)
    evening = datetime.combine(date.today(), datetime.min.time(), timezone(timedelta(hours=8))).replace(hour=22,
                                                                                                        minute=30)
    call_id = register(server, case_id, evening)
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    await expect(agent.locator("#status")).to_contain_text("等待来电")
    async with TurnCall(server, call_id, agent_id=None) as call:
        card = agent.locator('#primary .card[data-code="contact_rule"]')
        await expect(card).to_contain_text("非允许拨打时段")
        await expect(card).to_contain_text("22:30")
        await expect(agent.locator("#primary")).to_have_class("primary critical")
        alert = wall.locator(f'#feed li[data-call="{call_id}"][data-code="contact_rule"]')
        await expect(alert).to_contain_text("非允许拨打时段")
        await call.say("agent", "您好，这里是信用卡中心。")
    assert agent.page_errors == [] and wall.page_errors == []


async def test_the_fourth_contact_in_a_day_raises_the_contact_rule_card(browser, server, corpus, strict_rules):
    rules = api(server, "GET", "/contact-rules").json()
    api(server, "PUT", "/contact-rules", json={**rules, "calling_hours": {"start": "00:00", "end": "24:00"}})
    case_id = fresh_case(server, corpus)
    for ref in ("d-1", "d-2", "d-3"):                           # three reached today by the dialer
        api(server, "POST", f"/cases/{case_id}/contacts", role="gateway", json={"ref": ref})
    call_id = register(server, case_id)
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await expect(agent.locator("#status")).to_contain_text("等待来电")
    async with TurnCall(server, call_id, agent_id=None):
        card = agent.locator('#primary .card[data-code="contact_rule"]')
        await expect(card).to_contain_text("今日联系次数已达上限")
        await expect(card).to_contain_text("第 4 次")
    assert agent.page_errors == []


async def test_the_calls_page_finds_a_call_by_a_word_said_in_it_and_shows_its_scorecard(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    await call.start()
    await call.replay.play()
    await call.close()                                         # ended: a record now
    page = await open_page(browser, server, "calls.html", server.token["supervisor"])
    await page.locator("#f-q").fill("货款")                     # "我现在在等一笔货款，下个星期才能到账。"
    await page.locator("#f-submit").click()
    row = page.locator(f'tr.record-row[data-call="{call.call_id}"]')
    await expect(row.locator("td.matches")).to_contain_text("货款")
    await expect(row.locator("td.disposition")).to_contain_text("承诺还款")
    await row.locator("button.turn-link").first.click()
    record = page.locator("#record")
    await expect(record).to_be_visible()
    await expect(page.locator("#record-transcript li.match")).to_contain_text("货款")
    await expect(page.locator("#score-total")).to_have_text(re.compile(r"^\d+ 分$"))
    compliance = page.locator('#scorecard li[data-item="compliance"]')
    await expect(compliance).to_have_class(re.compile("pass"))
    await expect(page.locator('#scorecard li[data-item="escalations"]')).to_contain_text("情绪")
    await expect(page.locator('#record-cards li[data-code="promise_to_pay"]')).to_have_count(1)

    # had the case not listed 家人, the customer's flare-up at it is proposed; the lead accepts it
    case = call.case.model_copy(update={"sensitive_topics": []})
    api(server, "PUT", f"/cases/{case.case_id}", json=case.model_dump(mode="json"))
    await row.click()
    proposal = page.locator('#record-wrapup li[data-topic="家人"]')
    await expect(proposal).to_contain_text("建议新增敏感话题「家人」")
    await proposal.locator("button.accept-topic").click()
    await expect(proposal).to_contain_text("已加入案件敏感话题")
    assert api(server, "GET", f"/cases/{case.case_id}").json()["sensitive_topics"] == ["家人"]
    api(server, "PUT", f"/cases/{case.case_id}", json=call.case.model_dump(mode="json"))     # as the corpus has it

    # an agent finds only their own calls: another agent's search for the same word misses it
    other = await open_page(browser, server, "calls.html", server.token["agent2"])
    await other.locator("#f-q").fill("货款")
    await other.locator("#f-submit").click()
    await expect(other.locator("#status")).to_contain_text("共")
    await expect(other.locator(f'tr.record-row[data-call="{call.call_id}"]')).to_have_count(0)
    assert page.page_errors == [] and other.page_errors == []
