"""escalation, complaint_risk, hardship, offer_plan, card_status, debt_breakdown."""

from hint_helpers import Call, make_case


def test_escalation_on_anger_and_on_a_strong_word(call):
    assert "escalation" in call.codes("customer", "你们烦死了，一天到晚打，别再打过来了！")
    assert "escalation" in Call().codes("customer", "滚！")


def test_calm_or_negated_words_do_not_escalate(call):
    assert "escalation" not in call.codes("customer", "我不烦，你慢慢说")
    assert "escalation" not in call.codes("customer", "好的，谢谢你啊，我知道了")


def test_escalation_is_the_customers_not_the_agents(call):
    assert "escalation" not in call.codes("agent", "您别生气，我不是逼您，有完没完的事我们不说了")


def test_mood_events_follow_the_customer(call):
    moods = [e for e in call.say("customer", "你们这帮人真是烦死了！！") if e.type == "mood"]
    assert moods and moods[0].level in ("tense", "angry") and 0 < moods[0].score <= 1
    assert [e for e in call.say("agent", "我理解") if e.type == "mood"] == []


def test_complaint_threat_in_new_words_and_by_sound(call):
    assert "complaint_risk" in call.codes("customer", "我要去银保监会反映你们")
    assert "complaint_risk" in Call().codes("customer", "再打我就头诉你们")           # 头诉 = tou su


def test_complaint_negated_or_said_by_the_agent_is_not_a_risk(call):
    assert "complaint_risk" not in call.codes("customer", "我不是要投诉，就是想问清楚")
    assert "complaint_risk" not in call.codes("agent", "如果您对服务不满意，可以拨打客服热线投诉")


def test_complaint_is_graver_with_a_complaint_history():
    plain = Call().hints("customer", "我要找律师")["complaint_risk"]
    history = Call(make_case(notes=["曾投诉催收频率"])).hints("customer", "我要找律师")["complaint_risk"]
    assert plain.severity == "warning" and history.severity == "critical"
    assert "曾投诉催收频率" in history.detail


def test_hardship_lists_the_policies_that_apply(call):
    card = call.hints("customer", "我下岗半年了，一直在家待着")["hardship"]
    assert "失业" in card.title and "困难客户延期还款" in card.detail


def test_hardship_said_by_the_agent_or_a_payday_is_not_hardship(call):
    assert "hardship" not in call.codes("agent", "如果您有困难，可以跟我说")
    assert "hardship" not in call.codes("customer", "我十号发工资，发了就还")


def test_offer_plan_names_the_fitting_plan_and_does_the_sums(call):
    card = call.hints("customer", "能不能分成十二个月慢慢还？")["offer_plan"]
    assert card.data["plan"]["plan_id"] == "inst"
    assert card.data["plan"]["monthly"] == 2000            # 48,000 principal over 24 periods
    assert "2,000" in card.detail
    waiver = Call().hints("customer", "有没有什么优惠，能不能少还点")["offer_plan"]
    assert waiver.data["plan"]["plan_id"] == "latefee" and waiver.data["plan"]["saves"] == 800


def test_no_plan_no_offer():
    assert "offer_plan" not in Call(make_case(plans=[])).codes("customer", "能不能分期还")


def test_card_status_question(call):
    card = call.hints("customer", "那我这张卡以后还能不能刷？")["card_status"]
    assert "冻结" in card.title and "解冻" in card.detail
    assert "card_status" not in call.codes("agent", "您的卡目前是冻结状态")


def test_debt_breakdown_on_a_disputed_amount(call):
    card = call.hints("customer", "这利息是怎么算出来的？为什么多了这么多")["debt_breakdown"]
    assert "50,000" in card.title and "48,000" in card.detail and "1,200" in card.detail


def test_counting_instalments_is_not_disputing_the_amount(call):
    assert "debt_breakdown" not in call.codes("customer", "那分期最长能分多少期？")
