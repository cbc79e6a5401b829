"""promise_to_pay (amounts, dates, the case), agent_compliance, disclosure_missing, hygiene."""

from hint_helpers import Call, make_case


def test_promise_with_colloquial_amount_and_weekday(call):
    card = call.hints("customer", "行，我下周五先还五千")["promise_to_pay"]
    promise = card.data["promise"]
    assert promise["amount"] == 5000 and promise["due"] == "2026-12-04"     # the call is on Sun 2026-11-29
    assert "最低还款" in promise["relation"] and "违约金减免" in promise["relation"]
    assert "剩余45,000元" in promise["relation"]


def test_promise_of_the_minimum_by_month_end(call):
    promise = call.hints("customer", "月底之前我把最低还款还上")["promise_to_pay"].data["promise"]
    assert promise["amount"] == 5000 and promise["due"] == "2026-11-30"


def test_promise_in_arabic_digits_and_colloquial_numbers():
    assert Call().hints("customer", "我明天还8600元")["promise_to_pay"].data["promise"]["amount"] == 8600
    assert Call().hints("customer", "我明天就转一万二过去")["promise_to_pay"].data["promise"]["amount"] == 12000


def test_not_promises(call):
    assert "promise_to_pay" not in call.codes("customer", "我现在真的还不起")
    assert "promise_to_pay" not in call.codes("customer", "那我要还多少钱？")
    assert "promise_to_pay" not in call.codes("customer", "卡还能用吗？")
    assert "promise_to_pay" not in call.codes("agent", "您今天能先还五千吗")


def test_agent_threats_insults_and_impossible_waivers(call):
    assert "威胁" in call.hints("agent", "再不还钱我们就派人上门找你")["agent_compliance"].title
    assert "辱骂" in Call().hints("agent", "你这种老赖我见多了")["agent_compliance"].title
    card = Call().hints("agent", "本金也可以给您免了")["agent_compliance"]
    assert "减免" in card.title and "停息分期" in card.suggestion          # says what the plans do allow


def test_waivers_a_plan_covers_are_fine(call):
    assert "agent_compliance" not in call.codes("agent", "违约金可以帮您申请全部减免")
    uncovered = Call(make_case(plans=[]))
    assert "agent_compliance" in uncovered.codes("agent", "违约金可以帮您全部减免")


def test_negated_threat_or_customer_words_are_not_breaches(call):
    assert "agent_compliance" not in call.codes("agent", "我们不会上门的，您放心")
    assert "agent_compliance" not in call.codes("customer", "你们是不是要上门找我")


def test_disclosure_missing_after_the_deadline_with_the_checklist_ticking():
    call = Call()
    events = call.say("agent", "喂，马明是吧，你的欠款什么时候还", seconds=4)
    ticks = [e for e in events if e.type == "checklist"]
    assert ticks and ticks[-1].items == {"identity": False, "purpose": True, "recording": False}
    codes = []
    for _ in range(6):
        codes += call.codes("customer", "我知道了", seconds=3)
        codes += call.codes("agent", "你尽快处理", seconds=3)
    assert codes.count("disclosure_missing") == 1


def test_a_complete_opening_never_raises_disclosure_missing():
    call = Call()
    events = call.say("agent", "马先生您好，我是信用卡中心的专员小周，工号五五二，本次通话会被录音，来电是关于您的还款。")
    assert [e for e in events if e.type == "checklist"][-1].items == {"identity": True, "purpose": True,
                                                                      "recording": True}
    for _ in range(10):
        call.say("customer", "嗯")
    assert all(e.code != "disclosure_missing" for e in call.end() if e.type == "hint")


def test_short_call_with_a_missing_notice_is_flagged_at_the_end():
    call = Call()
    call.say("agent", "我是信用卡中心的，您欠款五万")
    assert [e.data["missing"] for e in call.end() if e.type == "hint"] == [["录音告知"]]


def test_one_card_per_code_per_turn_even_when_the_turn_arrives_in_pieces(call):
    first = call.codes("customer", "你们这样我要投诉", seconds=3)
    second = call.codes("customer", "我还要去举报你们", seconds=3, pause=0.3)   # same turn, next piece
    assert first.count("complaint_risk") == 1 and "complaint_risk" not in second


def test_a_phrase_split_across_pieces_of_a_turn_still_matches():
    rules = Call(model=False)       # the rules read the whole turn; neither piece matches alone
    assert "card_status" not in rules.codes("customer", "那我这张卡", seconds=1)
    assert "card_status" in rules.codes("customer", "以后还能不能用", seconds=2, pause=0.3)


def test_cooldown_between_turns(call):
    assert "complaint_risk" in call.codes("customer", "我要投诉", seconds=1)
    assert "complaint_risk" not in call.codes("customer", "投诉你们", seconds=1, pause=1.6)   # 2.6 s later
    assert "complaint_risk" in call.codes("customer", "我真的会投诉", seconds=1, pause=6)


def test_whisper_phantom_credits_never_trigger(call):
    assert call.codes("customer", "字幕由律师事务所提供") == []
