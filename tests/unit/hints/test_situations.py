"""Situations, not sentences: hand-written phrasings (written without looking at the rules, the
labelled data or the model) that the hint engine must recognise — or must stay silent on.

The helper's case (hint_helpers.CASE): customer 马明, debt 50,000 (principal 48,000, interest 1,200,
late fee 800), minimum 5,000, card frozen, sensitive topic 家人 unless a test changes it.
The helper's Call runs with today = 2026-11-29.
"""

from datetime import date

import pytest
from hint_helpers import Call, make_case

TODAY = date(2026, 11, 29)
END_OF_MONTH = "2026-11-30"


# --- hardship told as a story, without the obvious keyword -------------------------------------

@pytest.mark.parametrize("text", [
    # an accident and weeks off work
    "上个月骑电动车让人给撞了，腿上打着钢板，在家躺了快六个礼拜，一分钱没进账",
    "那天下雨从脚手架上滑下来，胳膊到现在还吊着，老板说好了再来上工，这都一个多月了",
    # a shop losing trade to a chain store
    "街口新开了家连锁超市，俺这小卖部一天卖不了几百块，铺子租金都快交不上了",
    # a pension barely covering a sick spouse's medicine
    "我跟老伴就靠我那点退休金过日子，她那药一个月就得两千多，发下来转手就买药了",
    # a ride-hailing platform taking a third of fares
    "跑网约车的嘛，平台一单抽走三成，油钱一刨，一天到晚白忙活咯",
    # rent borrowed from fellow villagers
    "这个月的房租都是找同村老乡凑的，你说我拿啥给你们",
    # waiting for money owed
    "工地老板到现在还欠着我们半年的工钱没结，我天天去堵他都堵不着人",
])
def test_hardship_told_as_a_story_without_keyword(text):
    assert "hardship" in Call().codes("customer", text)


# --- a sensitive topic named by what belongs to it ---------------------------------------------

@pytest.mark.parametrize("channel, text", [
    ("customer", "我上礼拜才从医院出来，刀口还没长好呢"),
    ("customer", "大夫说下个月还得再做一次手术"),
    ("customer", "化疗一次就好几千，头发都掉光了"),
    ("customer", "现在一天三顿药，打针吃药的就没停过"),
    ("agent", "您住院这段时间的情况我们也了解一些"),
])
def test_avoid_topic_illness_named_by_hospital_surgery_chemo(channel, text):
    call = Call(make_case(sensitive_topics=["病情"]))
    assert "avoid_topic" in call.codes(channel, text)


@pytest.mark.parametrize("channel, text", [
    ("customer", "我们单位最近正在裁人，我可不敢请假"),
    ("customer", "你们可千万别给我领导打电话"),
    ("customer", "人事那边已经找我谈过话了"),
    ("customer", "要是让同事知道了，我在那儿还咋待下去"),
    ("agent", "我们这边也可以跟您单位的领导沟通一下"),
])
def test_avoid_topic_workplace_named_by_unit_boss_hr_colleagues(channel, text):
    call = Call(make_case(sensitive_topics=["工作单位"]))
    assert "avoid_topic" in call.codes(channel, text)


@pytest.mark.parametrize("text", [
    "离婚那会儿房子判给她了，我啥也没落着",
    "法院判我每个月给孩子两千抚养费",
    "去年那场离婚官司打了大半年",
    "判决书上写得清清楚楚，那笔债归她",
])
def test_avoid_topic_ex_wife_named_by_divorce_or_ruling(text):
    call = Call(make_case(sensitive_topics=["前妻"]))
    assert "avoid_topic" in call.codes("customer", text)


@pytest.mark.parametrize("first, then", [
    ("这张卡当初是我前妻拿去刷的", "她到现在一分钱都没认"),
    ("我前妻那边你们找过没有", "她手里还有我的副卡呢"),
    ("钱都是前妻花的", "你们去问她吧"),
])
def test_avoid_topic_she_right_after_ex_wife_was_named(first, then):
    call = Call(make_case(sensitive_topics=["前妻"]))
    call.say("customer", first)
    assert "avoid_topic" in call.codes("customer", then)


# --- agent misconduct in new words ------------------------------------------------------------

@pytest.mark.parametrize("text", [
    # field colleagues to the shop, in front of customers
    "再拖下去，我就让我们外访的同事去您店里，当着您顾客的面好好聊聊",
    "明天我们当地的同事会直接上您铺子里去，让来买东西的人都听听怎么回事",
    # employer's leadership and HR
    "您不配合的话，我们只能联系您公司领导和人事部门，让他们督促您了",
    "您单位老总的电话我这儿有，要不我打过去跟他说说？",
    # a mother told her child will fail the civil-service background check
    "阿姨，您儿子不是在考公务员吗？家里有这种逾期，政审肯定过不了",
    "您孩子以后考公政审一查，妈妈欠钱不还，这辈子就别想进体制了",
    # mocking a gambler
    "输光了就来哭穷？上桌的时候咋不想想还钱呢",
    "手气不是挺好嘛，押大押小的时候那么大方，现在装什么可怜",
])
def test_agent_compliance_misconduct_in_new_words(text):
    assert "agent_compliance" in Call().codes("agent", text)


@pytest.mark.parametrize("text", [
    "您放心，我们不会上门，也不会给您的联系人打电话",
    "我们这边不会去您单位，也不会联系您的亲戚朋友",
    "我们不会上门拜访，更不会打扰您的紧急联系人，这点您放心",
])
def test_agent_compliance_silent_when_negated(text):
    assert "agent_compliance" not in Call().codes("agent", text)


@pytest.mark.parametrize("text", [
    "逾期记录会按规定报送人民银行征信系统",
    "跟您说明一下，逾期超过一定天数，会如实上报征信",
    "您这笔逾期的情况按规定是要报送征信中心的",
])
def test_agent_compliance_silent_on_credit_report_as_process_fact(text):
    assert "agent_compliance" not in Call().codes("agent", text)


# --- escalation without swear words, and swearing inside a challenge --------------------------

@pytest.mark.parametrize("text", [
    "你这是在吓唬谁啊？",
    "你想吓唬谁啊，我又不是被吓大的",
    "够了够了够了，你别再说了",
    "行了行了，别说了别说了",
    "哟，五万块，你们可真会算啊，咋不去抢呢",
    "呵呵，才五万，那我可得好好谢谢你们了",
])
def test_escalation_without_swear_words(text):
    assert "escalation" in Call().codes("customer", text)


@pytest.mark.parametrize("text", [
    "你他妈有本事就来抓我啊",
    "有种你tm上门来试试，看我怕不怕",
    "你算个什么东西，他妈的还敢来管我",
])
def test_escalation_swearing_inside_a_challenge(text):
    assert "escalation" in Call().codes("customer", text)


# --- disputes phrased as surprise --------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "怎么突然就变成五万了？我记得才刷了四万多啊",
    "咋一下子成五万了呢，这是咋算的",
    "利息把额度撑爆了，现在还来个超限费？",
    "我明明就欠四万八，这一千二的利息、八百的违约金是打哪儿冒出来的？",
    "咋还多出来个违约金啊，之前也没人跟我说过",
])
def test_debt_breakdown_dispute_phrased_as_surprise(text):
    assert "debt_breakdown" in Call().codes("customer", text)


# --- third parties in colloquial words, right after the agent asks for the debtor ---------------

@pytest.mark.parametrize("text", [
    "我是他媳妇儿，他上班去了不在家",
    "俺爹下地干活去了，手机落家里了",
    "我是他对象，有啥事跟我说吧",
    "我是他室友，他早就搬走了",
    "我是房东，这个租客上个月就退房了",
    "打错了吧，我们这儿没有叫马明的",
])
def test_third_party_answers_after_agent_asks_for_debtor(text):
    call = Call()
    call.say("agent", "您好，请问是马明先生吗？")
    assert "third_party" in call.codes("customer", text)


# --- must stay silent ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "要是有一万块，我还用得着在这儿跟你磨嘴皮子？",
    "我要是手上有五千，还能拖到今天？",
    "我要是有钱早就还了，还等你们打电话",
    "要是我中了彩票，一次性全给你们还上",
])
def test_promise_to_pay_silent_on_conditional_or_counterfactual(text):
    assert "promise_to_pay" not in Call().codes("customer", text)


@pytest.mark.parametrize("text", [
    "卡什么时候能解冻啊？",
    "还了钱以后这卡还能解冻不？",
    "冻结了的卡要怎么才能解开？",
    "能不能先把卡给我解冻了，我还等着用呢",
])
def test_unfreeze_question_is_card_status_not_promise(text):
    codes = Call().codes("customer", text)
    assert "card_status" in codes
    assert "promise_to_pay" not in codes


@pytest.mark.parametrize("text", [
    "法院把孩子判给我前妻了",
    "离婚的时候法院判的，房贷归我",
    "去年法院判了离婚，财产一人一半",
    "我们那离婚官司法院早就判了",
])
def test_complaint_risk_silent_on_divorce_court_ruling(text):
    assert "complaint_risk" not in Call().codes("customer", text)


@pytest.mark.parametrize("text", [
    "你们千千打电话",
    "你们千千打电话烦不烦啊",
    "一天到晚千千打来千千打来的",
    "别再千千打了行不行",
])
def test_promise_to_pay_silent_on_asr_garbled_reduplication(text):
    assert "promise_to_pay" not in Call().codes("customer", text)


# --- promises with relative dates ---------------------------------------------------------------

def _promise(text: str) -> dict:
    hints = Call().hints("customer", text)
    assert "promise_to_pay" in hints
    promise = hints["promise_to_pay"].data["promise"]
    assert promise["date_text"]
    date.fromisoformat(promise["due"])  # an ISO date string
    return promise


@pytest.mark.parametrize("text", [
    "这个月我一定把最低的五千还上",
    "这个月之内吧，我先还五千",
    "月底前我肯定还五千",
    "月底吧，月底我把钱打过去",
    "行，到月底我还",
])
def test_promise_this_month_or_end_of_month_is_due_2026_11_30(text):
    assert _promise(text)["due"] == END_OF_MONTH


@pytest.mark.parametrize("text", [
    "等发了工资我就把五千还上",
    "发了工资我第一时间还你们",
    "我发了工资就还，最低的那个数",
])
def test_promise_on_payday_has_iso_due_date(text):
    promise = _promise(text)
    assert date.fromisoformat(promise["due"]) >= TODAY
