"""The QA scorecard (质检评分) of a call for supervisors (pure: events in, scorecard out).

Each item of the rubric (``scorecard.yaml``: items, points, thresholds, phrases, the zh-CN
wording a team lead edits) is scored from the call's own events — the opening checklist, the
hint cards, the mood meter, the agent's acknowledgements and promise confirmations — and every
finding points to its turn (``wrapup.Source``). An item the call gave no occasion for is n/a
and counts neither way in the total (0–100).

What a replay cannot show is not held against the agent: acknowledgements and panel
confirmations need the live stream (its events carry stream ids), so on events without ids
those parts are n/a; an escalation or a promise the call ended on has no reply to score.
Contact-rule breaches (``ContactRuleEvent``) count as compliance violations.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ferryman.aftercall.wrapup import CallEvents, Line, Source, final_source, hint_source
from ferryman.cases.schema import Case
from ferryman.events import (
    AckEvent,
    ChecklistEvent,
    ContactRuleEvent,
    Event,
    MoodEvent,
    TranscriptEvent,
)

RUBRIC_FILE = Path(__file__).with_name("scorecard.yaml")
Status = Literal["pass", "fail", "n/a"]
Share = Annotated[float, Field(ge=0, le=1)]
FINDINGS = tuple("""
    not_applicable
    opening_ok opening_no_agent opening_missing opening_late opening_item opening_item_given opening_item_late
    opening_item_missing opening_item_exempt opening_card
    compliance_ok compliance_bad compliance_contact
    escalations_none escalations_summary escalation_line escalation_reply escalation_no_empathy escalation_no_reply
    escalation_call_ended escalation_recovered escalation_not_recovered
    plans_none plans_summary plan_line plan_said plan_not_said
    promise_none promise_no_check promise_withdrawn promise_summary promise_confirmed promise_corrected
    promise_not_recorded promise_record_na promise_readback promise_no_readback promise_readback_na
    acks_none acks_offline acks_summary ack_missed
""".split())    # the findings wording the scorer fills in


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemRubric(_Strict):
    label: str = Field(min_length=1)
    points: float = Field(ge=0)


class Items(_Strict):
    opening: ItemRubric
    compliance: ItemRubric
    escalations: ItemRubric
    plan_offered: ItemRubric
    promise: ItemRubric
    hints_acked: ItemRubric


class OpeningRubric(_Strict):
    deadline_s: float = Field(gt=0)
    late_share: Share
    required: dict[str, str] = Field(min_length=1)      # checklist key -> label
    exempt_with_third_party: list[str] = []

    @model_validator(mode="after")
    def _exempt_known(self) -> "OpeningRubric":
        if unknown := set(self.exempt_with_third_party) - set(self.required):
            raise ValueError(f"exempt items not in required: {sorted(unknown)}")
        return self


class ComplianceRubric(_Strict):
    per_violation: float = Field(ge=0)
    cap_total: int | None = Field(None, ge=0, le=100)


class EscalationRubric(_Strict):
    reply_window_s: float = Field(gt=0)
    reply_share: Share
    recovery_window_s: float = Field(gt=0)
    recovered_score: Share
    pass_share: Share
    empathy_phrases: list[str] = Field(min_length=1)


class PlanRubric(_Strict):
    window_s: float = Field(gt=0)
    words: list[str]


class PromiseRubric(_Strict):
    record_share: Share
    readback_words: list[str]


class AckRubric(_Strict):
    severities: list[Literal["info", "warning", "critical"]] = Field(min_length=1)
    pass_share: Share


class Rubric(_Strict):
    items: Items
    opening: OpeningRubric
    compliance: ComplianceRubric
    escalations: EscalationRubric
    plans: PlanRubric
    promise: PromiseRubric
    acks: AckRubric
    findings: dict[str, str]

    @model_validator(mode="after")
    def _all_findings(self) -> "Rubric":
        if missing := [key for key in FINDINGS if key not in self.findings]:
            raise ValueError(f"findings missing: {missing}")
        if unknown := sorted(set(self.findings) - set(FINDINGS)):
            raise ValueError(f"unknown findings: {unknown}")
        return self

    def say(self, key: str, **fields) -> str:
        return self.findings[key].format(**fields)


@lru_cache(maxsize=2)
def load_rubric(path: Path = RUBRIC_FILE) -> Rubric:
    return Rubric.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


class ScoreItem(BaseModel):
    key: str
    label: str
    earned: float
    max_points: float                 # 0 when n/a: the item is left out of the total
    status: Status
    finding: str                      # one line, zh-CN
    details: list[Line] = []          # one line per thing scored (a disclosure, a violation, an escalation…)
    sources: list[Source] = []        # every turn the item looked at


class Scorecard(BaseModel):
    call_id: str = ""
    total: int | None = Field(None, description="0-100 over the applicable items; None when none applies")
    items: list[ScoreItem]
    violations: int = 0               # agent_compliance cards + contact-rule breaches
    contact_rule_breaches: int = 0
    escalations: int = 0
    escalations_answered: int = 0     # the agent's reply carried an empathy phrase
    disclosures_missing: int = 0      # required opening items never given
    hints_to_ack: int = 0
    hints_acked: int = 0


class _Call(CallEvents):
    """The call's events, looked up the ways the scorecard needs."""

    def __init__(self, events: list[Event]):
        super().__init__(events)
        self.checklists = [e for e in events if isinstance(e, ChecklistEvent)]
        self.moods = [e for e in events if isinstance(e, MoodEvent)]
        self.acked = {e.hint_id for e in events if isinstance(e, AckEvent)}
        self.contact = [e for e in events if isinstance(e, ContactRuleEvent)]
        ends = [e.t for e in events if getattr(e, "type", None) == "call" and e.state != "started"]
        self.end_t = ends[0] if ends else None

    def agent_turn_after(self, t: float) -> list[TranscriptEvent]:
        """The agent's next turn after call second ``t``: its finals up to the customer's next one."""
        turn: list[TranscriptEvent] = []
        for final in self.finals:
            if final.t <= t:
                continue
            if final.channel == "agent":
                turn.append(final)
            elif turn:
                break
        return turn

    def agent_said(self, words: list[str], after: float, until: float) -> tuple[TranscriptEvent, str] | None:
        """The agent's first final in (after, until] with one of ``words``, and the word."""
        for final in self.finals:
            if final.channel == "agent" and after < final.t <= until and (word := _first(words, final.text)):
                return final, word
        return None

    def said_before(self, channel: str, t: float) -> TranscriptEvent | None:
        return next((f for f in reversed(self.finals) if f.channel == channel and f.t <= t), None)


def _first(words, text: str) -> str | None:
    return next((w for w in words if w and w in text), None)


def _sec(t: float) -> str:
    return f"{t:.0f}"


def _scored(key: str, rubric: Rubric, share: float | None, passed: bool, finding: str,
            details: list[Line] = (), sources: list[Source] = ()) -> ScoreItem:
    """``share`` of the item's points earned; None: the item does not apply."""
    spec = getattr(rubric.items, key)
    details, sources = list(details), list(sources)
    if share is None:
        return ScoreItem(key=key, label=spec.label, earned=0, max_points=0, status="n/a",
                         finding=rubric.say("not_applicable", why=finding), details=details, sources=sources)
    return ScoreItem(key=key, label=spec.label, earned=round(spec.points * share, 1), max_points=spec.points,
                     status="pass" if passed else "fail", finding=finding, details=details, sources=sources)


def _opening(call: _Call, rubric: Rubric) -> tuple[ScoreItem, int]:
    r = rubric.opening
    first = next((f for f in call.finals if f.channel == "agent"), None)
    if first is None:
        return _scored("opening", rubric, None, False, rubric.say("opening_no_agent")), 0
    deadline = first.start + r.deadline_s
    exempt = set(r.exempt_with_third_party) if call.hints.get("third_party") else set()
    ticked: dict[str, ChecklistEvent] = {}
    for event in call.checklists:
        for key, done in event.items.items():
            if done:
                ticked.setdefault(key, event)
    units, missing, late, details, sources = 0.0, [], [], [], []
    for key, label in r.required.items():
        tick = ticked.get(key)
        said = call.said_before("agent", tick.t) if tick and key not in exempt else None
        source = final_source(said).model_copy(update={"t": tick.t}) if said else None
        if key in exempt:
            when = rubric.say("opening_item_exempt")
        elif tick is None:
            when = rubric.say("opening_item_missing")
            missing.append(label)
        elif tick.t <= deadline:
            when, units = rubric.say("opening_item_given", t=_sec(tick.t)), units + 1
        else:
            when, units = rubric.say("opening_item_late", t=_sec(tick.t), deadline=_sec(r.deadline_s)), \
                units + r.late_share
            late.append(label)
        details.append(Line(text=rubric.say("opening_item", label=label, when=when), source=source))
        sources += [source] if source else []
    for hint in call.hints.get("disclosure_missing", []):     # the card has no turn: the moment it was raised
        details.append(Line(text=rubric.say("opening_card", t=_sec(hint.t),
                                            missing="、".join(hint.data.get("missing", [])))))
    owed = len(r.required) - len(exempt)
    problems = ([rubric.say("opening_missing", labels="、".join(missing))] if missing else []) + \
               ([rubric.say("opening_late", labels="、".join(late), deadline=_sec(r.deadline_s))] if late else [])
    finding = ("；".join(problems) + "。" if problems else rubric.say("opening_ok", deadline=_sec(r.deadline_s))
               if owed else rubric.say("opening_item_exempt"))
    return _scored("opening", rubric, units / owed if owed else None, not problems, finding, details, sources), \
        len(missing)


def _compliance(call: _Call, rubric: Rubric) -> ScoreItem:
    said = call.hints.get("agent_compliance", [])
    count = len(said) + len(call.contact)
    points = rubric.items.compliance.points
    share = 1.0 if not count else max(0.0, 1 - count * rubric.compliance.per_violation / points) if points else 0.0
    details = [Line(text=h.title, source=hint_source(h)) for h in said] + \
              [Line(text=rubric.say("compliance_contact", title=e.title, detail=f"（{e.detail}）"))
               for e in call.contact]
    finding = rubric.say("compliance_bad", count=count, said=len(said), contact=len(call.contact)) if count \
        else rubric.say("compliance_ok")
    return _scored("compliance", rubric, share, not count, finding, details, [hint_source(h) for h in said])


def _escalations(call: _Call, rubric: Rubric) -> tuple[ScoreItem, int, int]:
    r = rubric.escalations
    hints = call.hints.get("escalation", [])
    if not hints:
        return _scored("escalations", rubric, None, False, rubric.say("escalations_none")), 0, 0
    earned = possible = 0.0
    answered = recovered = 0
    details, sources = [], []
    for hint in hints:
        turn = call.agent_turn_after(hint.t)
        timely = bool(turn) and turn[0].start <= hint.t + r.reply_window_s
        phrase = _first(r.empathy_phrases, "".join(f.text for f in turn)) if timely else None
        calm = next((m for m in call.moods if hint.t < m.t <= hint.t + r.recovery_window_s
                     and (m.level == "calm" or m.score <= r.recovered_score)), None)
        possible += (r.reply_share if turn else 0) + (1 - r.reply_share)
        earned += (r.reply_share if phrase else 0) + (0 if calm is None else 1 - r.reply_share)
        answered, recovered = answered + bool(phrase), recovered + (calm is not None)
        reply = (rubric.say("escalation_reply", phrase=phrase) if phrase
                 else rubric.say("escalation_no_empathy") if timely
                 else rubric.say("escalation_no_reply") if turn else rubric.say("escalation_call_ended"))
        mood = rubric.say("escalation_recovered", t=_sec(calm.t)) if calm else rubric.say("escalation_not_recovered")
        details.append(Line(text=rubric.say("escalation_line", t=_sec(hint.t), reply=reply, mood=mood),
                            source=hint_source(hint)))
        sources += [hint_source(hint)] + [final_source(f) for f in turn if timely]
    share = earned / possible if possible else None       # reply_share 1 and no reply: nothing to score
    finding = rubric.say("escalations_summary", count=len(hints), answered=answered, recovered=recovered)
    return _scored("escalations", rubric, share, share is not None and share >= r.pass_share, finding, details,
                   sources), len(hints), answered


def _plans(call: _Call, case: Case | None, rubric: Rubric) -> ScoreItem:
    hints = call.hints.get("offer_plan", [])
    if not hints:
        return _scored("plan_offered", rubric, None, False, rubric.say("plans_none"))
    case_plans = [p.name for p in case.plans] if case else []
    answered, details, sources = 0, [], []
    for hint in hints:
        plan = hint.data.get("plan", {}).get("plan_name", "")
        words = [plan, *case_plans, *rubric.plans.words]
        said = call.agent_said(words, hint.t, hint.t + rubric.plans.window_s) or \
            (call.agent_said([plan], -1.0, hint.t) if plan else None)     # already on the table
        answered += said is not None
        details.append(Line(text=rubric.say("plan_line", t=_sec(hint.t), plan=plan,
                                            said=rubric.say("plan_said", word=said[1]) if said
                                            else rubric.say("plan_not_said")), source=hint_source(hint)))
        sources += [hint_source(hint)] + ([final_source(said[0])] if said else [])
    finding = rubric.say("plans_summary", count=len(hints), answered=answered)
    return _scored("plan_offered", rubric, answered / len(hints), answered == len(hints), finding, details, sources)


def _promise(call: _Call, rubric: Rubric) -> ScoreItem:
    r = rubric.promise
    hint = (call.hints.get("promise_to_pay") or [None])[-1]
    if call.promises and call.promises[-1].status == "withdrawn":
        return _scored("promise", rubric, None, False, rubric.say("promise_withdrawn"))
    if hint is None and not call.promises:
        return _scored("promise", rubric, None, False, rubric.say("promise_none"))
    earned = possible = 0.0
    if call.promises:                              # confirmed or corrected on the panel
        earned, possible = r.record_share, r.record_share
        record = rubric.say(f"promise_{call.promises[-1].status}")
    elif hint.id:                                  # a live card nobody confirmed
        possible, record = r.record_share, rubric.say("promise_not_recorded")
    else:
        record = rubric.say("promise_record_na")
    turn = call.agent_turn_after(hint.t) if hint else []
    said = hint.data.get("promise", {}) if hint else {}
    if turn:
        words = [*r.readback_words, *(w for w in (said.get("amount_text"), said.get("date_text")) if w and len(w) > 1)]
        read = _first(words, "".join(f.text for f in turn)) is not None
        possible += 1 - r.record_share
        earned += (1 - r.record_share) if read else 0
        readback = rubric.say("promise_readback" if read else "promise_no_readback")
    else:
        readback = rubric.say("promise_readback_na")
    if not possible:
        return _scored("promise", rubric, None, False, rubric.say("promise_no_check"))
    sources = ([hint_source(hint)] if hint else []) + [final_source(f) for f in turn]
    details = [Line(text=hint.title, source=hint_source(hint))] if hint else []
    return _scored("promise", rubric, earned / possible, earned == possible,
                   rubric.say("promise_summary", record=record, readback=readback), details, sources)


def _acks(call: _Call, rubric: Rubric) -> tuple[ScoreItem, int, int]:
    due = sorted((h for hints in call.hints.values() for h in hints if h.severity in rubric.acks.severities
                  and (call.end_t is None or h.t < call.end_t)), key=lambda h: h.t)
    if not due:
        return _scored("hints_acked", rubric, None, False, rubric.say("acks_none")), 0, 0
    live = [h for h in due if h.id]
    if not live:
        return _scored("hints_acked", rubric, None, False, rubric.say("acks_offline")), 0, 0
    acked = [h for h in live if h.id in call.acked]
    share = len(acked) / len(live)
    missed = [h for h in live if h.id not in call.acked]
    finding = rubric.say("acks_summary", total=len(live), acked=len(acked), share=f"{100 * share:.0f}")
    return _scored("hints_acked", rubric, share, share >= rubric.acks.pass_share, finding,
                   [Line(text=rubric.say("ack_missed", title=h.title), source=hint_source(h)) for h in missed],
                   [hint_source(h) for h in missed]), len(live), len(acked)


def score_call(events: list[Event], case: Case | None = None, rubric: Rubric | None = None) -> Scorecard:
    """The scorecard of a call from its events (in stream order)."""
    rubric = rubric or load_rubric()
    call = _Call(events)
    opening, missing = _opening(call, rubric)
    escalations, n_escalations, answered = _escalations(call, rubric)
    acks, to_ack, acked = _acks(call, rubric)
    items = [opening, _compliance(call, rubric), escalations, _plans(call, case, rubric), _promise(call, rubric), acks]
    violations = len(call.hints.get("agent_compliance", [])) + len(call.contact)
    applicable = [i for i in items if i.status != "n/a"]
    most = sum(i.max_points for i in applicable)
    total = round(100 * sum(i.earned for i in applicable) / most) if most else None
    if total is not None and violations and rubric.compliance.cap_total is not None:
        total = min(total, rubric.compliance.cap_total)
    call_id = next((e.call_id for e in events if getattr(e, "call_id", "")), "")
    return Scorecard(call_id=call_id, total=total, items=items, violations=violations,
                     contact_rule_breaches=len(call.contact), escalations=n_escalations, escalations_answered=answered,
                     disclosures_missing=missing, hints_to_ack=to_ack, hints_acked=acked)
