"""The team-lead console in a real headless Chromium: a lead edits a card's suggested line and the
next call's card on the agent panel uses it, without a restart; a token revoked on the console
is refused within a second."""

import re
import time
import uuid

import httpx
import pytest
from browser_helpers import open_page
from playwright.async_api import expect

from ferryman.cases.schema import load_case_file
from support import TurnCall

pytestmark = [pytest.mark.browser, pytest.mark.integration]
OLD_LINE = "我理解您的心情，我们一起看看怎么解决。"
NEW_LINE = "您先别着急，我们慢慢把事情说清楚。"


@pytest.fixture
def package_rules(server):
    yield
    httpx.post(f"{server.http}/api/rulebook/cards.yaml/rollback", json={"version": 0},
               headers=server.headers()).raise_for_status()


async def test_a_lead_edits_a_suggested_line_and_the_next_calls_card_uses_it(browser, server, corpus, package_rules):
    console = await open_page(browser, server, "console.html", server.token["supervisor"])
    editor = console.locator("#rule-text")
    await expect(editor).to_have_value(re.compile(re.escape(OLD_LINE)))
    await editor.fill((await editor.input_value()).replace(OLD_LINE, NEW_LINE))
    await console.locator("#try-text").fill("天天打电话烦不烦！")
    await console.get_by_role("button", name="用编辑中的规则试").click()
    await expect(console.locator('#try-result li[data-code="escalation"]')).to_contain_text(NEW_LINE)
    await console.locator("#rule-note").fill("更温和的安抚话术")
    await console.locator("#rule-save").click()
    await expect(console.locator("#rule-status")).to_contain_text("下一通电话生效")
    await expect(console.locator("#rule-history li").first).to_contain_text("更温和的安抚话术")

    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await expect(agent.locator("#status")).to_contain_text("等待来电")
    case = load_case_file(corpus / "d01.json")
    httpx.put(f"{server.http}/api/cases/{case.case_id}", json=case.model_dump(mode="json"),
              headers=server.headers("gateway")).raise_for_status()
    async with TurnCall(server, f"cb-{uuid.uuid4().hex[:8]}", case_id=case.case_id, agent_id="a1") as call:
        await call.say("agent", "您好，请问是王建国先生吗？")
        await call.say("customer", "又是你们催收的吧？天天打电话烦不烦！")
        card = agent.locator('.card[data-code="escalation"], #older [data-code="escalation"]').first
        await expect(card).to_contain_text(NEW_LINE)
    assert console.page_errors == [] and agent.page_errors == []


async def test_a_lead_changes_one_cards_line_in_the_form(browser, server, corpus, package_rules):
    console = await open_page(browser, server, "console.html", server.token["supervisor"])
    card = console.locator('#card-list li[data-code="escalation"]')
    await expect(card.locator(".card-suggestion-input")).to_have_value(re.compile(re.escape(OLD_LINE)))
    await card.locator(".card-suggestion-input").fill(f"先共情：“{NEW_LINE}”")
    await card.locator("button.save-card").click()
    await expect(console.locator("#rule-status")).to_contain_text("卡片 escalation")
    await expect(console.locator("#rule-text")).to_have_value(re.compile("# The hint cards"))   # comments kept
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await expect(agent.locator("#status")).to_contain_text("等待来电")
    case = load_case_file(corpus / "d01.json")
    async with TurnCall(server, f"cf-{uuid.uuid4().hex[:8]}", case_id=case.case_id, agent_id="a1") as call:
        await call.say("customer", "又是你们催收的吧？天天打电话烦不烦！")
        await expect(agent.locator('.card[data-code="escalation"], #older [data-code="escalation"]').first
                     ).to_contain_text(NEW_LINE)
    assert console.page_errors == [] and agent.page_errors == []


async def test_a_token_revoked_on_the_console_is_refused_within_a_second(browser, server):
    console = await open_page(browser, server, "console.html", server.token["supervisor"])
    await console.locator("#token-role").select_option("agent")
    await console.locator("#token-agent").fill("a8")
    await console.locator("#token-name").fill("钱多多")
    await console.get_by_role("button", name="新建令牌").click()
    token = await console.locator("#token-value").text_content()
    me = httpx.get(f"{server.http}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "钱多多"
    row = console.locator("#tokens-body tr", has_text="钱多多")
    await row.locator("button.revoke").click()
    revoked_at = time.monotonic()
    await expect(row).to_contain_text("已撤销")
    while httpx.get(f"{server.http}/api/me", headers={"Authorization": f"Bearer {token}"}).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "the revoked token was still accepted after a second"
        time.sleep(0.05)
    assert console.page_errors == []


async def test_a_lead_edits_a_relief_policy_on_the_console_and_the_change_is_logged(browser, server):
    before = next(p for p in httpx.get(f"{server.http}/api/policies", headers=server.headers()).json()
                  if p["id"] == "stop_interest_installment")
    console = await open_page(browser, server, "console.html", server.token["supervisor"])
    row = console.locator('#policies-body tr[data-policy="stop_interest_installment"]')
    await row.locator(".policy-benefit").fill("停止计息，本金最长分36期")
    await row.locator("button.save-policy").click()
    await expect(console.locator("#policy-status")).to_contain_text("已保存「停息分期」")
    await expect(console.locator("#policy-history li").first).to_contain_text("本金最长分36期")
    after = next(p for p in httpx.get(f"{server.http}/api/policies", headers=server.headers()).json()
                 if p["id"] == "stop_interest_installment")
    assert after["benefit"] == "停止计息，本金最长分36期" and set(after["applies_to"]) == set(before["applies_to"])
    httpx.put(f"{server.http}/api/policies/stop_interest_installment", json=before,
              headers=server.headers()).raise_for_status()                    # as it was, for the other tests
    assert console.page_errors == []
