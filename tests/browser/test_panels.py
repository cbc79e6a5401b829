"""The agent panel and the supervisor wall in a real headless Chromium, on d01 (the case with
a family trigger, an angry customer and a promise), against the real server and Redis."""

import re

import httpx
import pytest
from browser_helpers import open_page
from playwright.async_api import expect

from support import debtors_today

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def final_with(text):
    return lambda e: e.final and text in e.text


def first_partial(e):
    return not e.final


async def test_agent_and_supervisor_follow_a_live_call(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    await expect(agent.locator("#status")).to_contain_text("等待来电")

    # The call opens: the brief is there before the first word.
    await call.start()
    await expect(agent.locator("#brief-customer")).to_contain_text("王建国")
    await expect(agent.locator("#brief-notes mark").first).to_have_text("家人")
    await expect(agent.locator("#brief-topics")).to_contain_text("家人")
    await expect(agent.locator("#brief-debt .total")).to_contain_text("110,000 元")
    await expect(agent.locator("#brief-debt .min_payment")).to_contain_text("12,000 元")
    await expect(agent.locator("#brief-card")).to_contain_text("三个工作日内恢复用卡")
    await expect(agent.locator("#brief-plans li")).to_have_count(2)
    await expect(agent.locator("#transcript li")).to_have_count(0)
    await expect(agent.locator("#elapsed")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    row = wall.locator(f'tr.call-row[data-call="{call.call_id}"]')
    await expect(row).to_contain_text("王敏")
    await expect(row).to_contain_text("王建国")

    # Partials are provisional, finals settle.
    await call.play_until(first_partial)
    await expect(agent.locator("#transcript li.partial")).to_have_count(1)
    await expect(agent.locator("#transcript li.partial .state")).to_have_text("识别中…")
    await call.play_until(final_with("王建国先生"))
    await expect(agent.locator("#transcript li.agent").first).not_to_have_class("partial")
    await expect(agent.locator("#transcript li.agent").first).to_contain_text("请问是王建国先生吗")

    # The customer flares up: the wall shows the escalation, the agent's mood meter moves.
    await call.play_until(final_with("烦不烦"))
    await expect(row).to_contain_text("客户情绪激动")
    await expect(wall.locator('#feed li[data-code="escalation"]').first).to_contain_text("王敏")
    await expect(agent.locator("#mood .mood-label")).to_have_text("激动")
    await call.play_until(final_with("本次通话会被录音"))
    await expect(agent.locator('#checklist li[data-item="recording"]')).to_have_class("done")

    # The family turn: the avoid-topic card takes the primary slot, announced to assistive tech.
    await call.play_until(final_with("家里人能不能"))
    card = agent.locator("#primary .card")
    await expect(card).to_have_attribute("data-code", "avoid_topic")
    await expect(card).to_contain_text("避免话题：家人")
    await expect(card.locator(".card-suggestion")).to_contain_text("不再提及家人")
    await expect(agent.locator("#announce-urgent")).to_contain_text("避免话题：家人")     # critical: assertive
    assert await agent.locator("#announce-urgent").get_attribute("aria-live") == "assertive"
    await expect(agent.locator("#announcer")).to_contain_text("可提供方案")             # info: polite
    assert await agent.locator("#announcer").get_attribute("aria-live") == "polite"
    await expect(wall.locator('#feed li[data-code="avoid_topic"]').first).to_be_visible()
    await expect(row.locator("td").nth(5)).to_contain_text("避免话题：家人")   # the gravest hint
    for page in (agent, wall):      # readable at 1280x800: nothing outside the window, the card in view
        assert await page.evaluate("document.documentElement.scrollHeight <= innerHeight"
                                   " && document.documentElement.scrollWidth <= innerWidth")
    box = await card.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 800 and box["x"] + box["width"] <= 1280

    # Acknowledged, it leaves the primary slot for the older list.
    await card.locator("button.ack").click()
    await expect(agent.locator('#primary .card[data-code="avoid_topic"]')).to_have_count(0)
    await expect(agent.locator('#older li.acked[data-code="avoid_topic"]')).to_have_count(1)

    # Coaching from the drill-in reaches the agent's panel.
    await row.locator("button.open").click()
    await expect(wall.locator("#drill-transcript li").first).to_contain_text("王建国")
    await wall.locator("#coach-text").fill("先共情，别再提家人，引导到违约金减免")
    await wall.locator("#coach-form button").click()
    await expect(agent.locator("#coach-text")).to_have_text("先共情，别再提家人，引导到违约金减免")
    await expect(wall.locator("#feed li.coach").first).to_contain_text("先共情")

    # The promise: pre-filled from the hint, confirmed by the agent, saved in Redis.
    await call.play_until(final_with("一万两千块"))
    await expect(agent.locator("#promise")).to_be_visible()
    await expect(agent.locator("#promise-amount")).to_have_value("12000")
    await expect(agent.locator("#promise-due")).to_have_value(debtors_today().isoformat())   # 今天, where the debtor is
    await agent.locator("#promise-confirm").click()
    await expect(agent.locator("#promise-status")).to_contain_text("已确认并保存")
    stored = httpx.get(f"{server.http}/api/cases/{call.case.case_id}/promises", headers=server.headers()).json()
    assert [p["status"] for p in stored if p["call_id"] == call.call_id] == ["captured", "confirmed"]

    await call.close()
    await expect(agent.locator("#status")).to_have_text("通话已结束")
    await expect(row).to_have_class("call-row ended critical")
    assert agent.page_errors == [] and wall.page_errors == []


async def test_a_dropped_socket_resumes_without_gaps_or_duplicates(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    await call.start()
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await call.play_until(final_with("怎么会有十一万"))
    await expect(agent.locator("#transcript li")).to_have_count(6)

    await agent.evaluate("window.ferrymanCall.socket.drop()")        # the network blips ...
    await call.play_until(final_with("家里人能不能"))                 # ... while the call goes on
    await expect(agent.locator("#status")).to_have_text("通话中")
    await call.play_until(final_with("一万两千块"))

    events = await call.events()
    turns = {(e.channel, e.utterance) for e in events if e.type == "transcript"}
    hints = [e for e in events if e.type == "hint"]
    await expect(agent.locator("#transcript li")).to_have_count(len(turns))
    await expect(agent.locator("#transcript li.partial")).to_have_count(0)    # every played turn settled
    await expect(agent.locator("#primary .card, #older li.hint-item")).to_have_count(len(hints))
    shown = await agent.locator("#primary .card, #older li.hint-item").evaluate_all("els => els.map(e => e.dataset.id)")
    assert sorted(shown) == sorted(h.id for h in hints)                          # each once, none missing
    assert await agent.evaluate("window.ferrymanCall.socket.received") == [e.id for e in events]


async def test_wrong_tokens_and_wrong_roles_go_back_to_sign_in_with_the_reason_in_chinese(browser, server, live_call):
    unknown = await open_page(browser, server, "agent.html", "not-a-token")
    await expect(unknown.locator("#refusal")).to_have_text("令牌无效或已过期，请重新输入。")
    await expect(unknown.locator("#signin")).to_be_visible()
    for page, role, said in (("supervisor.html", "gateway", "这是网关令牌"), ("supervisor.html", "agent", "这是坐席令牌"),
                             ("agent.html", "supervisor", "这是组长令牌"), ("calls.html", "gateway", "需要坐席或组长令牌")):
        refused = await open_page(browser, server, page, server.token[role])
        await expect(refused.locator("#refusal")).to_contain_text(said)
        assert refused.url.endswith("/ui/index.html"), refused.url           # on the sign-in form, no token kept
    call = live_call("d01", agent_id="a1")
    await call.start()
    other_agent = await open_page(browser, server, "agent.html", server.token["agent2"])
    await expect(other_agent.locator("#status")).to_contain_text("等待来电")       # a1's call is not theirs
    await expect(other_agent.locator("#brief-body")).to_be_hidden()


async def test_a_wrong_token_on_the_sign_in_form_stays_there(browser, server):
    page = await browser.new_page()
    await page.goto(f"{server.http}/ui/")
    await page.locator("#token").fill("nobody-has-this")
    await page.get_by_role("button", name="进入坐席助手").click()
    await expect(page.locator("#refusal")).to_have_text("令牌无效或已过期，请重新输入。")
    await page.locator("#token").fill(server.token["agent"])
    await page.get_by_role("button", name="进入班组看板").click()
    await expect(page.locator("#refusal")).to_contain_text("这是坐席令牌，不能打开此页面")
    assert page.url.endswith("/ui/")


async def test_signing_in_on_the_landing_page_keeps_the_token_out_of_the_address_bar(browser, server):
    page = await browser.new_page()
    await page.goto(f"{server.http}/")
    await page.locator("#token").fill(server.token["supervisor"])
    await page.get_by_role("button", name="进入班组看板").click()
    await expect(page.locator("#who")).to_have_text("组长：张组长")
    assert "token" not in page.url
    await page.reload()                                   # kept for the tab, not in the URL
    await expect(page.locator("#who")).to_have_text("组长：张组长")


async def test_a_wall_opened_after_a_call_ended_still_names_its_alerts(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    await call.start()
    await call.play_until(final_with("家里人能不能"))
    await call.close()
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    await expect(wall.locator(f'tr.call-row[data-call="{call.call_id}"]')).to_have_count(0)   # not live any more
    alert = wall.locator(f'#feed li[data-call="{call.call_id}"][data-code="avoid_topic"]').first
    await expect(alert).to_contain_text("王敏 ↔ 王建国")


async def test_a_call_nobody_registered_says_so_on_both_panels(browser, server, live_call):
    """A PBX streamed the call, the dialer never said whose it is: no brief to invent, the
    panels say 案件未知, and the hints that need no case still arrive."""
    call = live_call("d01", agent_id="a1", case_known=False)
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    await call.start()
    await expect(agent.locator("#brief-empty")).to_contain_text("案件未知")
    await expect(agent.locator("#brief-body")).to_be_hidden()
    await expect(agent.locator("#call-title")).to_contain_text("案件未知")
    row = wall.locator(f'tr.call-row[data-call="{call.call_id}"]')
    await expect(row.locator("td.unknown-case")).to_have_text("案件未知")
    await call.play_until(final_with("烦不烦"))
    await expect(row).to_contain_text("客户情绪激动")
    await expect(agent.locator("#transcript li.customer").last).to_contain_text("烦不烦")


async def test_the_wrap_up_is_drafted_at_hang_up_corrected_saved_and_shown_to_the_next_call(browser, server,
                                                                                          live_call):
    """d01 ends: the wrap-up is there pre-filled (the promise, the customer's situation); the agent
    corrects the amount, adds a line and saves; the next call on the case shows it in the brief."""
    call = live_call("d01", agent_id="a1")
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await call.start()
    await expect(agent.locator("#brief-history")).to_contain_text("暂无记录")
    await call.replay.play()                             # every turn
    await call.close()                                   # then the hang-up
    await expect(agent.locator("#wrapup")).to_be_visible()
    await expect(agent.locator("#wrapup-disposition")).to_have_value("promise_to_pay")
    await expect(agent.locator("#wrapup-amount")).to_have_value("12000")
    await expect(agent.locator("#wrapup-situation")).to_contain_text("经营困难")
    summary = agent.locator("#wrapup-summary")
    await expect(summary).to_have_value(re.compile("客户承诺今天还款一万两千"))
    await summary.fill(await summary.input_value() + "\n客户要求下午再联系。")
    await agent.locator("#wrapup-amount").fill("11000")
    await agent.locator("#wrapup-save").click()
    await expect(agent.locator("#wrapup-status")).to_have_text("小结已保存。")

    following = live_call("d01", agent_id="a1")
    await following.start()
    history = agent.locator("#brief-history")
    await expect(history).to_contain_text("客户要求下午再联系。")
    await expect(history).to_contain_text("承诺还款")
    await expect(history).to_contain_text("11,000")
    await expect(agent.locator("#brief-followups")).to_contain_text("还 11,000 元 — 未见入账")   # the ledger too
    await expect(agent.locator("#wrapup")).to_be_hidden()


async def test_a_promise_due_today_appears_on_the_walls_follow_up_list(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    await call.start()
    await call.play_until(final_with("一万两千块"))       # "我今天下午先还一万两千块"
    item = wall.locator(f'#followups li[data-call="{call.call_id}"]')
    await expect(item).to_contain_text("王建国")
    await expect(item).to_contain_text("还 12,000 元 — 未见入账")
    await expect(item).to_have_class(re.compile("open"))
