"""The QA scorecard from a call's events (no Redis): each item passed, failed or not applicable,
the total, the rubric's validation, and corpus calls run through the real hint engine."""

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ferryman.aftercall.scorecard import RUBRIC_FILE, Rubric, load_rubric, score_call
from ferryman.cases.schema import Case, load_case_file
from ferryman.events import (
    AckEvent,
    CallEvent,
    ChecklistEvent,
    ContactRuleEvent,
    Evidence,
    HintEvent,
    MoodEvent,
    PromiseEvent,
    TranscriptEvent,
)
from ferryman.replay import TranscriptReplay

LABELS = {"identity": "身份", "purpose": "来电目的", "recording": "录音告知"}


def final(channel: str, n: int, text: str, end: float, seconds: float = 2.0) -> TranscriptEvent:
    return TranscriptEvent(channel=channel, final=True, utterance=n, start=end - seconds, end=end, text=text, t=end)


def hint(code: str, turn: TranscriptEvent, severity: str = "info", data: dict | None = None, title: str = "",
         sid: str | None = None) -> HintEvent:
    return HintEvent(code=code, severity=severity, priority=5, title=title or code, detail="", suggestion="",
                     t=turn.end, evidence=Evidence(channel=turn.channel, text=turn.text, utterance=turn.utterance),
                     data=data or {}, id=sid)


def ticks(t: float, *keys: str) -> ChecklistEvent:
    return ChecklistEvent(items={k: k in keys for k in LABELS}, labels=LABELS, t=t)


def call(*events, end: float = 200.0) -> list:
    return [CallEvent(state="started", call_id="c1"), *events, CallEvent(state="ended", t=end)]


def item(card, key: str):
    return next(i for i in card.items if i.key == key)


OPENING = final("agent", 0, "您好，我是信用卡中心的专员小李，本次通话会被录音，来电是关于您的信用卡欠款。", 8, seconds=7)


# -- opening ---------------------------------------------------------------------------------

def test_opening_given_in_time_passes_and_points_to_the_turn():
    card = score_call(call(OPENING, ticks(8, "identity", "purpose", "recording")))
    opening = item(card, "opening")
    assert (opening.status, opening.earned, opening.max_points) == ("pass", 20, 20)
    assert card.disclosures_missing == 0
    assert [s.utterance for s in opening.sources] == [0, 0, 0] and opening.sources[0].quote.startswith("您好")


def test_opening_late_earns_part_and_missing_fails():
    hello = final("agent", 0, "您好，请问是马明先生吗？", 3)
    later = final("agent", 1, "我是信用卡中心的，来电是关于您的欠款。", 45)
    card = score_call(call(hello, ticks(3), later, ticks(45, "identity", "purpose"),
                           HintEvent(code="disclosure_missing", severity="warning", priority=3, title="", detail="",
                                     suggestion="", t=33, evidence=Evidence(channel="agent", text=""),
                                     data={"missing": ["身份", "来电目的", "录音告知"]})))
    opening = item(card, "opening")
    # identity and purpose 44 s after the agent's first words (1 s): half each; recording never
    assert opening.status == "fail" and opening.earned == pytest.approx(20 * (0.5 + 0.5) / 3, abs=0.05)
    assert card.disclosures_missing == 1
    assert "录音告知" in opening.finding and "身份" in opening.finding
    assert any("第33秒系统提示" in d.text for d in opening.details)
    assert [s.utterance for s in opening.sources] == [1, 1]


def test_purpose_is_not_owed_to_a_third_party():
    hello = final("agent", 0, "您好，我是信用卡中心的专员，本次通话会被录音。", 5)
    wife = final("customer", 0, "他不在，我是他老婆。", 8)
    card = score_call(call(hello, ticks(5, "identity", "recording"), wife, hint("third_party", wife)))
    assert item(card, "opening").status == "pass" and item(card, "opening").earned == 20
    assert card.disclosures_missing == 0
    without = score_call(call(hello, ticks(5, "identity", "recording"), wife))
    assert item(without, "opening").status == "fail" and without.disclosures_missing == 1


def test_no_agent_speech_leaves_the_opening_out():
    card = score_call(call(final("customer", 0, "喂？", 3)))
    assert item(card, "opening").status == "n/a" and item(card, "opening").max_points == 0


# -- compliance ------------------------------------------------------------------------------

def test_each_violation_is_listed_with_its_turn_and_caps_the_total():
    threat = final("agent", 1, "不还钱就等着坐牢吧。", 20)
    breach = ContactRuleEvent(rule="calling_hours", title="非允许拨打时段", detail="客户当地时间 22:40",
                              suggestion="请礼貌结束通话。", t=0.0, call_id="c1")
    card = score_call(call(OPENING, ticks(8, *LABELS), threat,
                           hint("agent_compliance", threat, "critical", title="合规提醒：威胁恐吓"), breach))
    compliance = item(card, "compliance")
    assert compliance.status == "fail" and compliance.earned == 0          # 30 - 2 x 15
    assert (card.violations, card.contact_rule_breaches) == (2, 1)
    assert compliance.details[0].text == "合规提醒：威胁恐吓" and compliance.details[0].source.utterance == 1
    assert "非允许拨打时段" in compliance.details[1].text and compliance.details[1].source is None
    assert card.total == 40     # (20 + 0) / (20 + 30): nothing else applies
    clean = score_call(call(OPENING, ticks(8, *LABELS)))
    assert item(clean, "compliance").status == "pass" and clean.violations == 0 and clean.total == 100


def test_one_violation_caps_an_otherwise_good_call():
    waive = final("agent", 1, "本金也可以全部免掉。", 20)
    card = score_call(call(OPENING, ticks(8, *LABELS), waive, hint("agent_compliance", waive, "critical")))
    assert item(card, "compliance").earned == 15 and card.total == 60      # 35/50 = 70, capped at 60


# -- escalations -----------------------------------------------------------------------------

def test_an_escalation_answered_with_empathy_and_calmed_scores_full():
    angry = final("customer", 0, "天天打电话烦不烦！", 10)
    calm_reply = final("agent", 1, "非常理解您的心情，给您添麻烦了。", 15)
    card = score_call(call(angry, MoodEvent(score=0.9, level="angry", t=10), hint("escalation", angry, "warning"),
                           calm_reply, final("customer", 1, "行吧。", 18), MoodEvent(score=0.4, level="tense", t=18)))
    esc = item(card, "escalations")
    assert (esc.status, esc.earned) == ("pass", 20) and (card.escalations, card.escalations_answered) == (1, 1)
    assert "理解" in esc.details[0].text and "第18秒平复" in esc.details[0].text
    assert [(s.channel, s.utterance) for s in esc.sources] == [("customer", 0), ("agent", 1)]


def test_an_escalation_met_without_empathy_fails():
    angry = final("customer", 0, "你们有完没完！", 10)
    cold = final("agent", 1, "您已经逾期一百二十天了，今天必须还。", 15)
    card = score_call(call(angry, hint("escalation", angry, "warning"), cold, final("customer", 1, "滚！", 18),
                           MoodEvent(score=1.0, level="angry", t=18)))
    esc = item(card, "escalations")
    assert esc.status == "fail" and esc.earned == 0 and card.escalations_answered == 0
    assert "未见安抚用语" in esc.details[0].text


def test_a_late_reply_is_no_reply_and_a_call_ending_on_anger_scores_only_the_mood():
    angry = final("customer", 0, "你们有完没完！", 10)
    late = final("agent", 1, "理解您。", 60, seconds=2)                  # starts 48 s after: past 20 s
    esc = item(score_call(call(angry, hint("escalation", angry, "warning"), late)), "escalations")
    assert esc.earned == 0 and "未及时回应" in esc.details[0].text
    last = final("customer", 3, "我要投诉你们！", 50)
    esc = item(score_call(call(last, hint("escalation", last, "warning"), MoodEvent(score=1, level="angry", t=50))),
               "escalations")
    assert esc.status == "fail" and esc.earned == 0 and "未再发言" in esc.details[0].text


def test_no_escalation_is_not_applicable():
    card = score_call(call(OPENING, ticks(8, *LABELS)))
    assert item(card, "escalations").status == "n/a" and card.escalations == 0


# -- plans -----------------------------------------------------------------------------------

def test_a_plan_card_is_answered_when_the_agent_brings_a_plan_up():
    ask = final("customer", 0, "能不能少还一点？", 10)
    offer = hint("offer_plan", ask, data={"plan": {"plan_name": "一次性还款利息减半"}})
    named = score_call(call(ask, offer, final("agent", 1, "我们有一次性还款利息减半的活动。", 16)))
    plans = item(named, "plan_offered")
    assert (plans.status, plans.earned) == ("pass", 10) and [s.utterance for s in plans.sources] == [0, 1]
    generic = score_call(call(ask, offer, final("agent", 1, "违约金可以帮您申请减免。", 16)))
    assert item(generic, "plan_offered").status == "pass"
    silent = score_call(call(ask, offer, final("agent", 1, "您尽快还吧。", 16),
                             final("agent", 2, "我们有分期。", 90)))              # past the 60 s window
    assert item(silent, "plan_offered").status == "fail" and item(silent, "plan_offered").earned == 0
    assert "未介绍方案" in item(silent, "plan_offered").details[0].text
    assert item(score_call(call(OPENING)), "plan_offered").status == "n/a"


def test_a_plan_already_on_the_table_counts_and_each_card_is_scored():
    offered = final("agent", 0, "您可以申请停息分期。", 10)
    ask = final("customer", 0, "那最多能分多少期？", 14)
    again = hint("offer_plan", ask, data={"plan": {"plan_name": "停息分期"}})
    assert item(score_call(call(offered, ask, again, final("agent", 1, "最多三十六期。", 18))),
                "plan_offered").status == "pass"
    first = final("customer", 1, "我失业了。", 30)
    card = score_call(call(first, hint("offer_plan", first, data={"plan": {"plan_name": "困难延期"}}),
                           final("agent", 2, "您尽快还吧。", 34), ask.model_copy(update={"t": 100, "end": 100}),
                           hint("offer_plan", ask.model_copy(update={"end": 100}), data={"plan": {"plan_name": "停息分期"}}),
                           final("agent", 3, "可以申请停息分期。", 104)))
    assert item(card, "plan_offered").earned == 5 and item(card, "plan_offered").status == "fail"


def test_the_cases_own_plan_names_count():
    ask = final("customer", 0, "我失业了，能不能晚点还？", 10)
    offer = hint("offer_plan", ask, data={"plan": {"plan_name": "困难延期"}})
    said = call(ask, offer, final("agent", 1, "可以帮您申请违约金免收。", 16))
    assert item(score_call(said), "plan_offered").status == "fail"
    case = Case.model_validate({"case_id": "T-1", "customer": {"name": "马明"}, "card": {"status": "frozen"},
                                "debt": {"total": 9000, "principal": 8000, "min_payment": 900},
                                "plans": [{"id": "x", "name": "违约金免收"}]})
    assert item(score_call(said, case), "plan_offered").status == "pass"


# -- promise ---------------------------------------------------------------------------------

PROMISE = final("customer", 4, "我下周五先还五千。", 40)


def promised(sid: str | None = None) -> HintEvent:
    return hint("promise_to_pay", PROMISE, data={"promise": {"amount": 5000, "amount_text": "五千",
                                                             "date_text": "下周五"}}, sid=sid)


def test_a_promise_confirmed_on_the_panel_and_read_back_passes():
    card = score_call(call(PROMISE, promised("1-1"), final("agent", 5, "好的，我帮您登记下周五还款五千元。", 45),
                           PromiseEvent(status="confirmed", amount=5000, due="2026-12-04", hint_id="1-1", by="王敏")))
    promise = item(card, "promise")
    assert (promise.status, promise.earned) == ("pass", 10) and promise.sources[0].utterance == 4


def test_a_live_promise_nobody_confirmed_fails_and_a_withdrawn_one_is_left_out():
    readback = final("agent", 5, "好的，下周五五千，我记下了。", 45)
    card = score_call(call(PROMISE, promised("1-1"), readback))
    promise = item(card, "promise")
    assert promise.status == "fail" and promise.earned == pytest.approx(4)      # the read-back part only
    assert "未在面板确认" in promise.finding
    withdrawn = score_call(call(PROMISE, promised("1-1"), readback, PromiseEvent(status="withdrawn", by="王敏")))
    assert item(withdrawn, "promise").status == "n/a"


def test_offline_the_promise_is_scored_on_the_read_back_alone():
    said = score_call(call(PROMISE, promised(), final("agent", 5, "好的，感谢您的配合。", 45)))
    assert item(said, "promise").status == "fail" and item(said, "promise").max_points == 10
    ended = score_call(call(PROMISE, promised()))
    assert item(ended, "promise").status == "n/a"                  # nothing left to check
    assert item(score_call(call(OPENING)), "promise").status == "n/a"


# -- acknowledgements ------------------------------------------------------------------------

def test_acknowledged_share_of_warning_and_critical_cards():
    angry = final("customer", 0, "烦死了！", 10)
    cards = [hint("escalation", angry, "warning", sid="1-1"), hint("complaint_risk", angry, "critical", sid="1-2"),
             hint("card_status", angry, "info", sid="1-3")]
    card = score_call(call(angry, *cards, AckEvent(hint_id="1-1", by="王敏")))
    acks = item(card, "hints_acked")
    assert (card.hints_to_ack, card.hints_acked) == (2, 1)               # the info card is not counted
    assert acks.status == "fail" and acks.earned == 5 and "50%" in acks.finding
    assert acks.details[0].text == "未确认：complaint_risk"
    all_acked = score_call(call(angry, *cards, AckEvent(hint_id="1-1", by="王敏"), AckEvent(hint_id="1-2", by="王敏")))
    assert item(all_acked, "hints_acked").status == "pass"


def test_acks_are_not_applicable_offline_or_for_cards_raised_at_hang_up():
    angry = final("customer", 0, "烦死了！", 10)
    assert item(score_call(call(angry, hint("escalation", angry, "warning"))), "hints_acked").status == "n/a"
    at_end = score_call(call(angry, hint("escalation", angry, "warning", sid="1-1"), end=10))
    assert item(at_end, "hints_acked").status == "n/a" and at_end.hints_to_ack == 0


# -- total -----------------------------------------------------------------------------------

def test_the_total_is_earned_over_the_points_of_the_items_that_apply():
    angry = final("customer", 0, "你们有完没完！", 12)
    cold = final("agent", 1, "您必须今天还。", 16)
    card = score_call(call(OPENING, ticks(8, *LABELS), angry, hint("escalation", angry, "warning"), cold,
                           final("customer", 1, "哼。", 20), MoodEvent(score=0.2, level="calm", t=20)))
    # opening 20/20, compliance 30/30, escalations: mood came down (0.3 of 20 = 6), no empathy
    assert [(i.key, i.earned, i.max_points) for i in card.items if i.status != "n/a"] == \
        [("opening", 20, 20), ("compliance", 30, 30), ("escalations", 6, 20)]
    assert card.total == round(100 * 56 / 70) == 80 and card.call_id == "c1"
    assert card.model_validate(card.model_dump()) == card                   # stored and read back as is


# -- the rubric ------------------------------------------------------------------------------

def test_the_shipped_rubric_loads():
    rubric = load_rubric()
    assert rubric.items.compliance.label == "合规" and "理解" in rubric.escalations.empathy_phrases


@pytest.mark.parametrize("change, message", [
    (lambda r: r["items"].update(speed={"label": "语速", "points": 5}), "speed"),
    (lambda r: r["items"]["opening"].update(points=-5), "greater than or equal"),
    (lambda r: r.update(bonus=1), "bonus"),
    (lambda r: r["escalations"].update(reply_share=1.5), "less than or equal"),
    (lambda r: r["findings"].pop("plan_said"), "plan_said"),
    (lambda r: r["opening"].update(exempt_with_third_party=["name"]), "name"),
])
def test_the_rubric_refuses_what_it_does_not_know(change, message):
    raw = yaml.safe_load(RUBRIC_FILE.read_text(encoding="utf-8"))
    change(raw)
    with pytest.raises(ValidationError, match=message):
        Rubric.model_validate(raw)


def test_a_rubric_passed_in_is_the_one_used():
    rubric = load_rubric().model_copy(deep=True)
    rubric.compliance.cap_total = None
    waive = final("agent", 1, "本金也可以全部免掉。", 20)
    card = score_call(call(OPENING, ticks(8, *LABELS), waive, hint("agent_compliance", waive, "critical")), rubric=rubric)
    assert card.total == 70


# -- corpus calls through the real hint engine -----------------------------------------------

class ListSink:
    def __init__(self):
        self.events = []

    async def publish(self, event):
        self.events.append(event)


async def replayed(path: Path) -> tuple[list, object]:
    case = load_case_file(path)
    sink = ListSink()
    replay = TranscriptReplay(path, case, sink)
    await replay.start()
    await replay.play()
    await replay.finish()
    return sink.events, case


def labelled_agent_turns(path: Path, code: str) -> list[int]:
    """The agent utterance numbers of the turns the corpus labels with ``code``."""
    out, n = [], 0
    for turn in json.loads(path.read_text(encoding="utf-8"))["turns"]:
        if turn["spk"] == "A":
            if code in turn.get("hints", []):
                out.append(n)
            n += 1
    return out


async def test_the_model_agents_call_scores_well(corpus):
    events, case = await replayed(corpus / "d01.json")
    card = score_call(events, case)
    assert card.total >= 85 and card.violations == 0 and card.call_id == "d01"
    assert {i.key: i.status for i in card.items} == {"opening": "pass", "compliance": "pass", "escalations": "pass",
                                                     "plan_offered": "pass", "promise": "pass", "hints_acked": "n/a"}
    assert card.escalations >= 3 and card.escalations_answered >= 3
    assert all(line.source and line.source.channel == "customer" for line in item(card, "escalations").details)


async def test_a_threatening_agents_violations_show_with_their_turns(corpus):
    path = corpus / "d06.json"
    events, case = await replayed(path)
    card = score_call(events, case)
    compliance = item(card, "compliance")
    assert compliance.status == "fail" and card.violations == len(labelled_agent_turns(path, "agent_compliance")) >= 1
    assert [line.source.utterance for line in compliance.details] == labelled_agent_turns(path, "agent_compliance")
    assert all(line.source.channel == "agent" and line.source.quote for line in compliance.details)
    assert card.total <= load_rubric().compliance.cap_total and card.disclosures_missing >= 1


async def test_an_agent_who_disclosed_to_a_third_party_is_flagged_but_not_for_the_purpose(corpus):
    path = corpus / "d03.json"
    card = score_call(*await replayed(path))
    assert [line.source.utterance for line in item(card, "compliance").details] == \
        labelled_agent_turns(path, "agent_compliance")
    assert any("来电目的：非本人接听" in d.text for d in item(card, "opening").details)
