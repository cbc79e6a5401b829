"""A call nobody registered (a PBX streamed it, the dialer never said whose): the hints that need
no case still come; those that would show the case's figures say it is unknown or stay quiet."""

from datetime import date

from hint_helpers import Call

from ferryman.hints.engine import HintEngine


def unknown_call() -> Call:
    call = Call()
    call.engine = HintEngine(None, today=date(2026, 11, 29))
    return call


def test_a_promise_is_caught_with_its_amount_and_no_case_to_file_it_under():
    card = unknown_call().hints("customer", "行，我下周五先还五千")["promise_to_pay"]
    promise = card.data["promise"]
    assert promise["amount"] == 5000 and promise["due"] == "2026-12-04"
    assert card.data["case_id"] is None                     # the ledger keeps promises of known cases only


def test_the_card_question_is_answered_with_where_to_look():
    card = unknown_call().hints("customer", "我那张卡现在还能不能用啊？")["card_status"]
    assert "案件未知" in card.title and "查一下" in card.suggestion and "{" not in card.detail


def test_no_debt_figures_are_invented():
    codes = unknown_call().codes("customer", "你们这个金额不对吧，我根本没欠这么多")
    assert "debt_breakdown" not in codes


def test_what_needs_no_case_still_fires():
    call = unknown_call()
    assert "escalation" in call.codes("customer", "你们天天打电话烦不烦，再打我就投诉你们！")
    assert "agent_compliance" in call.codes("agent", "你再不还钱我们就上门找你单位领导")
    assert "hardship" in call.codes("customer", "我上个月刚被公司裁员了，现在一分钱收入都没有")


def test_cards_that_would_name_what_is_unknown_say_so_instead():
    call = unknown_call()
    third = call.hints("customer", "他不在家，我是他老婆，你找他什么事？")["third_party"]
    assert "机主本人" in third.suggestion and "?" not in third.suggestion
    complaint = call.hints("customer", "你们再这样我就去银保监会投诉你们！")["complaint_risk"]
    assert "案件未知" in complaint.title and "低" not in complaint.title
    waiver = unknown_call().hints("agent", "您今天还了本金，利息和违约金我都给您免了")["agent_compliance"]
    assert "核实" in waiver.suggestion and "没有可用" not in waiver.suggestion
