"""avoid_topic, third_party: case-aware, either speaker, misheard words."""

from hint_helpers import Call, make_case


def test_sensitive_family_mention_by_customer_or_agent(call):
    card = call.hints("customer", "我媳妇最近身体也不好，我哪有心思管这个")["avoid_topic"]
    assert card.title == "避免话题：家人" and "孩子" in card.detail        # the case note explains why
    assert "avoid_topic" in call.codes("agent", "要不让您父母先帮您垫上")


def test_family_mention_is_not_flagged_when_the_case_has_no_such_topic():
    call = Call(make_case(sensitive_topics=[]))
    assert "avoid_topic" not in call.codes("customer", "我儿子在外地上大学，开销很大")


def test_other_topic_from_the_topic_file():
    call = Call(make_case(sensitive_topics=["工作"]))
    card = call.hints("customer", "我们单位这个月又拖工资")["avoid_topic"]
    assert card.data["topic"] == "工作"


def test_misheard_family_word_still_matches(call):
    assert "avoid_topic" in call.codes("agent", "您的爱仁能不能帮您周转一下")      # 爱仁 = ai ren = 爱人


def test_third_party_is_flagged_once_and_the_debtor_confirming_is_not(call):
    assert "third_party" in call.codes("customer", "你打错了吧，这是我老公的手机，他出差了")
    assert "third_party" not in call.codes("customer", "我是他邻居，他不在家")          # once per call
    fresh = Call()
    assert "third_party" not in fresh.codes("customer", "对，我就是，你说吧")


def test_disclosing_the_debt_after_a_third_party_answered(call):
    call.say("customer", "我是他同事，他出去开会了")
    card = call.hints("agent", "那麻烦转告他，他信用卡欠了我们三万多")["agent_compliance"]
    assert "第三方" in card.title
    fresh = Call()
    assert "agent_compliance" not in fresh.codes("agent", "您的信用卡欠款三万多，已经逾期两个月")
