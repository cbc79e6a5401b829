"""The agent panel's one card that is right now (issue 13), in a real headless Chromium against
the real server and Redis: stale cards give way without a click, duplicates merge, the promise
card's 确认 / 修改 / 不是承诺, the transcript in speech order, the coaching history, quiet mode —
and the card policy itself (client_web/cards.js) driven directly in the page."""

import asyncio
import re
import uuid

import httpx
import pytest
from browser_helpers import open_page
from playwright.async_api import expect

from ferryman.cases.schema import load_case_file
from ferryman.events import Evidence, HintEvent, TranscriptEvent
from support import TurnCall

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def final_with(text):
    return lambda e: e.final and text in e.text


# -- the policy, unit by unit, on the panel's own module ----------------------------------------------
BOARD_JS = """async ({ events, now, quiet, policy }) => {
  const { CardBoard } = await import("/ui/cards.js");
  const board = new CardBoard(policy ?? {});
  for (const e of events) board.apply(e);
  const view = board.view(now, { quiet: Boolean(quiet) });
  return { primary: view.primary ? view.primary.lead.id : null,
           state: Object.fromEntries(view.groups.map((g) => [g.id, g.state])),
           members: Object.fromEntries(view.groups.map((g) => [g.id, g.members.map((m) => m.id)])) };
}"""


def card(card_id, t, code, severity="info", priority=3, channel="customer", utterance=0, suggestion="", data=None):
    return {"type": "hint", "id": card_id, "t": t, "code": code, "severity": severity, "priority": priority,
            "title": code, "detail": "", "suggestion": suggestion, "data": data or {},
            "evidence": {"channel": channel, "text": "…", "utterance": utterance}}


def final(t, channel, utterance, text):
    return {"type": "transcript", "final": True, "channel": channel, "utterance": utterance, "start": t - 2, "end": t,
            "t": t, "text": text}


async def test_the_card_policy_module_retires_merges_and_ranks_cards(browser, server):
    page = await browser.new_page()
    await page.goto(f"{server.http}/ui/labels.json")          # the panel's origin: its modules import from here

    async def board(events, now, quiet=False, policy=None):
        return await page.evaluate(BOARD_JS, {"events": events, "now": now, "quiet": quiet, "policy": policy})

    family = card("a", 10, "avoid_topic", "critical", 1, utterance=1, data={"topic": "家人", "words": ["家里人"]})
    plan = card("b", 13, "offer_plan", "info", 3, utterance=2)
    # a critical card is shown a few seconds (critical_min_show_s 6), then the newer turn's card takes over
    assert (await board([family, plan], 13))["primary"] == "a"
    later = await board([family, plan], 16.5)
    assert later["primary"] == "b" and later["state"]["a"] == "superseded"
    # ... and the superseded card does not come back when the newer one is acknowledged
    gone = await board([family, plan, {"type": "ack", "hint_id": "b", "t": 17}], 17)
    assert gone["primary"] is None and gone["state"] == {"a": "superseded", "b": "acked"}

    # duplicates: the same code on the same utterance, or again within merge_window_s (8 s), are one card
    twice = [card("e1", 20, "escalation", "warning", 2, utterance=3), card("e2", 21, "escalation", "warning", 2, utterance=4),
             card("e3", 22, "escalation", "warning", 2, utterance=4), card("e4", 40, "escalation", "warning", 2, utterance=5)]
    merged = await board(twice, 40)
    assert merged["members"] == {"e1": ["e1", "e2", "e3"], "e4": ["e4"]} and merged["primary"] == "e4"

    # the agent said the suggested line: retired said_linger_s (5 s) after saying it
    esc = card("s", 50, "escalation", "warning", 2, suggestion="先共情：“我理解您的心情，我们一起看看怎么解决。”")
    said = [esc, final(53, "agent", 9, "我理解您的心情，我们一起看看怎么解决这个问题。")]
    assert (await board(said, 54))["primary"] == "s"
    assert (await board(said, 58.5))["state"]["s"] == "said"
    assert (await board([esc, final(53, "agent", 9, "您的欠款已经逾期九十五天了。")], 58.5))["primary"] == "s"

    # the talk moved on: two customer finals about something else
    status = card("c", 60, "card_status", utterance=6)
    moved = await board([status, final(65, "customer", 7, "我现在手头紧。"), final(70, "customer", 8, "再说吧。")], 70)
    assert moved["state"]["c"] == "moved_on" and moved["primary"] is None
    # the customer calmed down
    calm = await board([card("m", 80, "escalation", "warning", 2), {"type": "mood", "t": 85, "level": "calm", "score": 0.1}], 85)
    assert calm["state"]["m"] == "calmed"
    # too old (info: 25 s)
    assert (await board([card("o", 0, "debt_breakdown")], 26))["state"]["o"] == "expired"
    # one turn, several cards: the gravest leads, the others are not superseded by it
    turn = await board([card("t1", 90, "escalation", "warning", 2, utterance=9),
                        card("t2", 90, "avoid_topic", "critical", 1, utterance=9)], 91)
    assert turn["primary"] == "t2" and turn["state"]["t1"] == "live"

    # a contact-rule breach holds the top (30 s) whatever comes, then gives way
    rule = {"type": "contact_rule", "id": "r", "t": 0.1, "code": "contact_rule", "rule": "calling_hours",
            "severity": "critical", "priority": 0, "title": "非允许拨打时段", "detail": "", "suggestion": "", "data": {}}
    talk = [rule, card("h", 8, "escalation", "warning", 2), card("h2", 20, "third_party", "critical", 1, utterance=2)]
    assert (await board(talk, 21))["primary"] == "r"
    assert (await board(talk, 31))["primary"] == "h2"

    # quiet mode: only critical cards may be primary
    assert (await board([card("w", 5, "escalation", "warning", 2)], 6, quiet=True))["primary"] is None
    assert (await board([card("w", 5, "escalation", "warning", 2)], 6))["primary"] == "w"
    # ... and a card quiet mode hides does not push a critical one off the top
    assert (await board([family, plan], 17, quiet=True))["primary"] == "a"
    # a topic raised again after its card was read comes back as a card of its own
    again = [family, {"type": "ack", "hint_id": "a", "t": 11},
             card("a2", 17, "avoid_topic", "critical", 1, utterance=3, data={"topic": "家人", "words": ["家里人"]})]
    reraised = await board(again, 17)
    assert reraised["primary"] == "a2" and reraised["members"]["a2"] == ["a2"]
    # the policy comes from labels.json: a team lead's numbers win
    assert (await board([family, plan], 16.5, policy={"critical_min_show_s": 30}))["primary"] == "a"


# -- the panel on a live call -----------------------------------------------------------------------
WATCH_PRIMARY = """() => {
  window.primaryLog = [];
  const note = () => {
    const c = document.querySelector("#primary .card");
    const code = c ? c.dataset.code : null;
    if (window.primaryLog.at(-1) !== code) window.primaryLog.push(code);
  };
  new MutationObserver(note).observe(document.getElementById("primary"), { childList: true, subtree: true });
}"""


async def test_a_stale_critical_card_gives_way_to_the_current_one_without_a_click(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await expect(agent.locator("#status")).to_contain_text("等待来电")
    await call.start()
    await expect(agent.locator("#brief-customer")).to_contain_text("王建国")
    await agent.evaluate(WATCH_PRIMARY)
    card = agent.locator("#primary .card")

    await call.play_until(final_with("家里人能不能"))                      # the agent brings up the family
    await expect(card).to_have_attribute("data-code", "avoid_topic")
    await call.play_until(final_with("你别扯我家里人"))                    # the customer's outburst: the same card
    await expect(card).to_have_attribute("data-code", "avoid_topic")
    await expect(card.locator(".card-merged")).to_contain_text("2 次")
    await expect(agent.locator('#older li.hint-item[data-code="avoid_topic"]:not([hidden])')).to_have_count(0)

    await call.play_until(final_with("卡还能恢复吗"))                      # moved on: nobody clicked anything
    await expect(card).to_have_attribute("data-code", "card_status")
    await expect(agent.locator("#primary")).to_have_class("primary info")
    family = agent.locator('#older li.hint-item[data-code="avoid_topic"]:not([hidden])')
    await expect(family).to_have_attribute("data-state", "superseded")
    await expect(family).to_contain_text("已被新提示取代")

    await call.play_until(final_with("一万两千块"))                        # the promise is what is on now
    await expect(card).to_have_attribute("data-code", "promise_to_pay")
    await expect(agent.locator("#promise")).to_be_visible()
    await call.close()
    await expect(agent.locator("#status")).to_have_text("通话已结束")
    await expect(card).to_have_attribute("data-code", "promise_to_pay")    # and still after hang-up

    shown = await agent.evaluate("window.primaryLog")
    after_family = shown[shown.index("avoid_topic"):]
    assert "complaint_risk" not in after_family and shown[-1] == "promise_to_pay", shown
    assert await agent.locator('#older li[data-state="acked"]').count() == 0        # no click was needed
    assert agent.page_errors == []


async def test_duplicate_cards_are_merged_and_acknowledged_together(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await call.start()
    await expect(agent.locator("#brief-customer")).to_contain_text("王建国")
    same = dict(call_id=call.call_id, code="avoid_topic", severity="critical", priority=1, title="避免话题：家人",
                detail="客户提到家人会挂电话", suggestion="不再提及家人：“我们先说说您这边的还款计划。”",
                evidence=Evidence(channel="customer", text="你别扯我家里人！", utterance=7),
                data={"topic": "家人", "words": ["家里人"]})
    for t in (84.5, 85.5):                                                # twice, one second apart
        await call.sink.publish(HintEvent(t=t, **same))
    await call.sink.flush()

    card = agent.locator("#primary .card")
    await expect(card).to_have_attribute("data-code", "avoid_topic")
    await expect(card.locator(".card-merged")).to_contain_text("2 次")
    await expect(agent.locator("#older li.hint-item:not([hidden])")).to_have_count(0)    # shown once
    await expect(agent.locator("#older li.hint-item.merged")).to_have_count(1)            # kept, folded in
    await card.locator("button.ack").click()
    await expect(agent.locator("#primary .card")).to_have_count(0)
    for _ in range(50):                                                   # both are acknowledged on the record
        acks = [e for e in await call.events() if e.type == "ack"]
        if len(acks) == 2:
            break
        await asyncio.sleep(0.1)
    hints = [e.id for e in await call.events() if e.type == "hint"]
    assert sorted(a.hint_id for a in acks) == sorted(hints)
    assert agent.page_errors == []


async def test_a_false_promise_is_dismissed_and_recorded_as_not_a_promise(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await call.start()
    await call.play_until(final_with("一万两千块"))
    await expect(agent.locator("#promise")).to_be_visible()
    for button, label in (("#promise-confirm", "确认"), ("#promise-edit", "修改"), ("#promise-dismiss", "不是承诺")):
        await expect(agent.locator(button)).to_have_text(label)
    await agent.locator("#promise-dismiss").click()
    await expect(agent.locator("#promise-status")).to_contain_text("不是承诺")
    await expect(agent.locator("#promise")).to_have_class(re.compile(r"\bdismissed\b"))
    await expect(agent.locator('#primary .card[data-code="promise_to_pay"]')).to_have_count(0)
    await expect(agent.locator('#older li.hint-item[data-code="promise_to_pay"]')).to_have_attribute("data-state",
                                                                                                     "dismissed")
    promises = httpx.get(f"{server.http}/api/calls/{call.call_id}/promises", headers=server.headers("agent")).json()
    assert [p["status"] for p in promises] == ["captured", "withdrawn"]
    hint = next(e for e in await call.events() if e.type == "hint" and e.code == "promise_to_pay")
    word = [e for e in await call.events() if e.type == "promise"]
    assert [(e.status, e.hint_id, e.amount) for e in word] == [("withdrawn", hint.id, None)]

    await call.close()                                                    # the wrap-up drafts no promise
    await expect(agent.locator("#wrapup")).to_be_visible()
    await expect(agent.locator("#wrapup-amount")).to_have_value("")
    assert agent.page_errors == []


async def test_a_promise_with_no_calendar_day_is_confirmed_as_said_then_corrected(browser, server, corpus):
    case = load_case_file(corpus / "d01.json").model_copy(update={"case_id": f"pa-{uuid.uuid4().hex[:8]}"})
    httpx.put(f"{server.http}/api/cases/{case.case_id}", json=case.model_dump(mode="json"),
              headers=server.headers("gateway")).raise_for_status()
    call_id = f"pa-{uuid.uuid4().hex[:8]}"
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await expect(agent.locator("#status")).to_contain_text("等待来电")
    async with TurnCall(server, call_id, case_id=case.case_id, agent_id="a1") as call:
        await call.say("agent", "王先生您好，我是信用卡中心的专员，本次通话会被录音。")
        await call.say("customer", "过完年我肯定还两千块。")
        await expect(agent.locator("#promise")).to_be_visible()
        await expect(agent.locator("#promise-amount")).to_have_value("2000")
        await expect(agent.locator("#promise-due")).to_have_value("")          # nothing to put on a calendar
        await expect(agent.locator("#promise-date-text")).to_contain_text("过完年")
        await agent.locator("#promise-confirm").click()                         # confirmed as the customer said it
        await expect(agent.locator("#promise-confirm")).to_have_text("已确认")
        await expect(agent.locator("#promise-confirm")).to_be_disabled()
        await expect(agent.locator("#promise-status")).to_contain_text("已确认并保存")
        await expect(agent.locator("#promise-status")).to_contain_text("过完年")
        await expect(agent.locator("#promise")).to_have_class(re.compile(r"\bsaved\b"))

        await agent.locator("#promise-edit").click()                            # 修改: the customer corrects it
        await agent.locator("#promise-amount").fill("2500")
        await agent.locator("#promise-due").fill("2027-02-20")
        await agent.locator("#promise-confirm").click()
        await expect(agent.locator("#promise-status")).to_contain_text("已更正并保存")
        await expect(agent.locator("#promise-status")).to_contain_text("2027-02-20")
        await expect(agent.locator("#promise-confirm")).to_have_text("已确认")
    ledger = httpx.get(f"{server.http}/api/calls/{call_id}/promises", headers=server.headers("agent")).json()
    assert [(p["status"], p["amount"], p["due"]) for p in ledger] == [
        ("captured", 2000, None), ("confirmed", 2000, None), ("corrected", 2500, "2027-02-20")]
    assert agent.page_errors == []


async def test_the_transcript_follows_speech_order_under_out_of_order_partials(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await call.start()
    await expect(agent.locator("#brief-customer")).to_contain_text("王建国")

    def line(channel, utterance, start, end, text, final, t):
        return TranscriptEvent(call_id=call.call_id, channel=channel, utterance=utterance, start=start, end=end,
                               text=text, final=final, t=t)

    # the customer's partial (spoken later) reaches the page first, then the agent's; finals in any order
    for event in (line("customer", 0, 4.35, 6.0, "是我，又是你们", False, 6.2),
                  line("agent", 0, 1.0, 3.9, "您好，请问是", False, 6.4),
                  line("customer", 0, 4.35, 8.9, "是我，又是你们催收的吧？", True, 9.3),
                  line("agent", 1, 9.6, 12.0, "王先生您好", False, 12.1),
                  line("customer", 1, 20.4, 22.0, "你们上一个专员", False, 22.1),
                  line("agent", 0, 1.0, 3.96, "您好，请问是王建国先生吗？", True, 22.3),
                  line("agent", 1, 9.6, 20.0, "王先生您好，我是信用卡中心的专员。", True, 22.4)):
        await call.sink.publish(event)
    await call.sink.flush()

    lines = agent.locator("#transcript li")
    await expect(lines).to_have_count(4)
    await expect(agent.locator("#transcript li.partial")).to_have_count(1)
    assert await lines.evaluate_all("els => els.map(e => e.dataset.channel)") == ["agent", "customer", "agent",
                                                                                  "customer"]
    await expect(lines.nth(0)).to_contain_text("请问是王建国先生吗")
    await expect(lines.nth(1)).to_contain_text("催收的吧")
    await expect(lines.nth(2)).to_contain_text("信用卡中心的专员")
    await expect(lines.nth(3)).to_contain_text("你们上一个专员")
    starts = await lines.evaluate_all("els => els.map(e => Number(e.dataset.start))")
    assert starts == sorted(starts)
    assert agent.page_errors == []


async def test_quiet_mode_shows_only_critical_cards_and_is_remembered(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await call.start()
    card = agent.locator("#primary .card")
    await call.play_until(final_with("烦不烦"))                              # escalation: a warning
    await expect(card).to_have_attribute("data-code", "escalation")
    await agent.locator("#quiet-toggle").check()
    await expect(card).to_have_count(0)
    await expect(agent.locator("#primary")).to_contain_text("安静模式")
    await expect(agent.locator("#older li.hint-item:not([hidden])")).to_have_count(0)

    await call.play_until(final_with("我还投诉"))                           # complaint risk: critical
    await expect(card).to_have_attribute("data-code", "complaint_risk")
    await agent.reload()                                                  # remembered (localStorage)
    await expect(agent.locator("#quiet-toggle")).to_be_checked()
    await expect(card).to_have_attribute("data-code", "complaint_risk")
    visible = agent.locator("#older li.hint-item:not([hidden])")
    assert all("critical" in c for c in await visible.evaluate_all("els => els.map(e => e.className)"))

    await call.play_until(final_with("多出来的钱"))                          # the talk moved on to the debt (info)
    await expect(card).to_have_count(0)
    await agent.locator("#quiet-toggle").uncheck()
    await expect(card).to_have_attribute("data-code", "debt_breakdown")
    assert agent.page_errors == []


async def test_the_coaching_shows_its_history_newest_first_with_times(browser, server, live_call):
    call = live_call("d01", agent_id="a1")
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await call.start()
    await call.play_until(final_with("王建国先生"))
    for text in ("先共情", "别再提家人", "引导到违约金减免"):
        httpx.post(f"{server.http}/api/calls/{call.call_id}/coach", json={"text": text},
                   headers=server.headers("supervisor")).raise_for_status()
    await expect(agent.locator("#coach-text")).to_have_text("引导到违约金减免")
    await expect(agent.locator("#coach-from")).to_contain_text("张组长")
    await expect(agent.locator("#coach-history li")).to_have_count(2)
    assert await agent.locator("#coach-history li .coach-line").all_inner_texts() == ["别再提家人", "先共情"]
    times = [await agent.locator("#coach-time").inner_text(),
             *await agent.locator("#coach-history li .coach-time").all_inner_texts()]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in times), times
    assert times == sorted(times, reverse=True)
    assert agent.page_errors == []
