"""The wrap-up draft from a call's events (no Redis): dispositions, the promise, provenance."""

from ferryman.aftercall.wrapup import draft_wrapup
from ferryman.events import CallEvent, Evidence, HintEvent, PromiseEvent, TranscriptEvent


def final(channel: str, n: int, text: str, end: float) -> TranscriptEvent:
    return TranscriptEvent(channel=channel, final=True, utterance=n, start=end - 2, end=end, text=text, t=end)


def hint(code: str, turn: TranscriptEvent, title: str = "", data: dict | None = None) -> HintEvent:
    return HintEvent(code=code, severity="info", priority=5, title=title or code, detail="", suggestion="", t=turn.end,
                     evidence=Evidence(channel=turn.channel, text=turn.text, utterance=turn.utterance),
                     data=data or {})


def draft(*events):
    return draft_wrapup("c1", [CallEvent(state="started"), *events, CallEvent(state="ended")], None)


def test_a_promise_confirmed_by_the_agent_wins_over_the_cards_reading():
    said = final("customer", 0, "行，我下周五先还五千", 10)
    captured = hint("promise_to_pay", said, data={"promise": {"amount": 5000, "due": "2026-12-04",
                                                              "amount_text": "五千", "date_text": "下周五"}})
    w = draft(said, captured, PromiseEvent(status="corrected", amount=5500, due="2026-12-04", by="王敏"))
    assert w.disposition == "promise_to_pay" and w.promise.amount == 5500 and w.promise.status == "corrected"
    assert w.summary[0].text == "客户承诺12月4日还款5,500元。"          # the corrected figures, not the card's
    assert w.summary[0].source.quote == "行，我下周五先还五千" and w.summary[0].source.utterance == 0


def test_who_answered_decides_before_anything_else():
    wife = final("customer", 0, "他不在，我是他老婆", 5)
    assert draft(wife, hint("third_party", wife)).disposition == "third_party"
    wrong = final("customer", 0, "你打错了吧，没有这个人", 5)
    w = draft(wrong)
    assert w.disposition == "wrong_number" and "打错了" in w.summary[0].text


def test_silence_is_no_answer_and_talk_without_a_promise_is_refused():
    assert draft(final("agent", 0, "您好，请问是马明先生吗？", 3), final("customer", 0, "喂？", 5)).disposition \
        == "no_answer"
    w = draft(final("customer", 0, "我现在没钱，你们爱怎么样怎么样吧", 5))
    assert w.disposition == "refused" and w.summary[-1].text == "客户未承诺还款。" and w.summary[-1].source is None


def test_hardship_and_topics_are_kept_with_their_turns_and_new_topics_proposed():
    ill = final("customer", 0, "我住院两个月了，刚做完手术", 8)
    family = final("agent", 1, "那您家里人能不能帮您周转一下", 12)
    w = draft(ill, hint("hardship", ill, title="客户困难：疾病"), family,
              hint("avoid_topic", family, data={"topic": "家人"}))
    assert w.disposition == "hardship"
    assert [line.text for line in w.situation] == ["疾病"] and w.situation[0].source.quote.startswith("我住院")
    assert [line.text for line in w.avoid_topics] == ["家人"] and w.proposed_topics == ["家人"]
    assert "疾病" in w.summary[0].text


def test_a_withdrawn_promise_leaves_the_draft():
    said = final("customer", 0, "我下周五还五千吧", 10)
    captured = hint("promise_to_pay", said, data={"promise": {"amount": 5000, "due": "2026-12-04"}})
    assert draft(said, captured, PromiseEvent(status="withdrawn", by="王敏")).promise is None


def test_a_topic_the_customer_flared_up_at_is_proposed_with_the_turn_it_came_from():
    from ferryman.cases.schema import Card, Case, Customer, Debt

    asked = final("agent", 3, "那您家里人能不能先帮您周转一下？", 40)
    flared = final("customer", 4, "你别扯我家里人！跟我老婆孩子有什么关系？", 44)
    events = [CallEvent(state="started"), asked, flared, hint("escalation", flared), CallEvent(state="ended")]
    case = Case(case_id="k1", customer=Customer(name="王建国"), debt=Debt(total=1, principal=1, min_payment=1),
                card=Card(status="active"))
    w = draft_wrapup("c1", events, case)
    assert w.proposed_topics == ["家人"]
    line = next(line for line in w.avoid_topics if line.text == "家人")
    assert line.source.channel == "customer" and line.source.utterance == 4
    listed = case.model_copy(update={"sensitive_topics": ["家庭"]})           # an alias of 家人: already covered
    assert draft_wrapup("c1", events, listed).proposed_topics == []


def test_a_flare_up_at_what_the_agent_said_proposes_that_topic_and_abuse_words_are_no_topic():
    threat = final("agent", 1, "今天不还的话，我们就去你单位找你。", 20)
    angry = final("customer", 1, "你这是威胁我吗？", 24)
    w = draft(threat, angry, hint("escalation", angry))
    assert w.proposed_topics == ["工作单位"] and w.avoid_topics[0].source.channel == "agent"
    swore = final("customer", 2, "他妈的再逼我就不接了！", 30)
    assert draft(swore, hint("escalation", swore)).proposed_topics == []          # 他妈的 is not about a mother
    debt = final("customer", 3, "我网贷都还不上了，你们天天催！", 36)
    assert draft(debt, hint("escalation", debt)).proposed_topics == []           # the call's subject, never proposed
