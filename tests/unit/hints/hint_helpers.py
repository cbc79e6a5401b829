"""A hint engine fed utterance by utterance, on cases written for these tests (not the corpus)."""

from datetime import date

from ferryman.cases.schema import Case
from ferryman.events import CallEvent, TranscriptEvent
from ferryman.hints.engine import HintEngine

CASE = {
    "case_id": "T-1", "customer": {"name": "马明", "gender": "M"},
    "debt": {"total": 50000, "principal": 48000, "interest": 1200, "late_fee": 800, "overlimit_fee": 0,
             "min_payment": 5000, "overdue_days": 60},
    "card": {"status": "frozen", "restore_condition": "还清最低还款后两个工作日内解冻"},
    "notes": ["离异，独自带孩子，提到孩子会情绪失控"],
    "sensitive_topics": ["家人"],
    "complaint_risk": "low",
    "plans": [
        {"id": "inst", "name": "停息分期", "condition": "本人申请并审核通过", "benefit": "停止计息，最长分二十四期，本金不可减免"},
        {"id": "latefee", "name": "违约金减免", "condition": "五日内还清最低还款五千元", "benefit": "违约金八百元全部减免"},
    ],
}


def make_case(**changes) -> Case:
    return Case.model_validate({**CASE, **changes})


class Call:
    """Feeds finals in order; returns the events the engine emits for each. ``model=False``
    gives the rules alone (for tests of what the rules themselves do)."""

    def __init__(self, case: Case | None = None, model: bool = True):
        self.engine = HintEngine(case or make_case(), today=date(2026, 11, 29), model=model)
        self.t = 0.0
        self.utt = {"agent": 0, "customer": 0}

    def say(self, channel: str, text: str, seconds: float = 3.0, pause: float = 2.0):
        start = self.t + pause
        self.t = start + seconds
        event = TranscriptEvent(channel=channel, final=True, utterance=self.utt[channel], start=start,
                                end=self.t, text=text, t=self.t)
        self.utt[channel] += 1
        return self.engine.on_event(event)

    def codes(self, channel: str, text: str, **kw) -> list[str]:
        return [e.code for e in self.say(channel, text, **kw) if e.type == "hint"]

    def hints(self, channel: str, text: str, **kw) -> dict:
        return {e.code: e for e in self.say(channel, text, **kw) if e.type == "hint"}

    def end(self):
        return self.engine.on_event(CallEvent(state="ended", t=self.t + 1))
