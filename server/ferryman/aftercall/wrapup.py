"""The wrap-up (小结) drafted at hang-up, from the call's own events (pure: events in, draft out).

Extraction, not invention: every line of the draft points to the turn it came from — the hint
card that found it carries the turn (``evidence``) and the call second (``t``); a promise the
agent confirmed points to the captured one. The wording and the disposition rules are data
(``wrapup.yaml``). The agent corrects the draft and saves it; ``history`` keeps it for the next
call on the case.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ferryman.cases.schema import Case
from ferryman.events import Channel, Event, HintEvent, PromiseEvent, TranscriptEvent
from ferryman.hints.plans import yuan

RULES_FILE = Path(__file__).with_name("wrapup.yaml")
QUOTE_CHARS = 40


class WrapupRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dispositions: dict[str, str] = Field(min_length=1)
    wrong_number_phrases: list[str]
    never_propose: list[str] = []
    min_customer_chars: int = Field(ge=0)
    summary: dict[str, str]
    max_summary_lines: int = Field(ge=1)


@lru_cache(maxsize=2)
def load_wrapup_rules(path: Path = RULES_FILE) -> WrapupRules:
    return WrapupRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


class Source(BaseModel):
    """The turn a line comes from."""

    channel: Channel
    utterance: int | None = None
    t: float = Field(description="call second the finding was made")
    quote: str


class Line(BaseModel):
    text: str
    source: Source | None = None      # None: written by the agent


class WrapupPromise(BaseModel):
    amount: float | None = None
    due: str | None = None            # ISO date
    amount_text: str = ""
    date_text: str = ""
    plan: str | None = None
    status: str = "captured"          # captured by the hint; confirmed / corrected by the agent
    source: Source | None = None


class Wrapup(BaseModel):
    call_id: str
    case_id: str | None = None
    agent_id: str | None = None
    disposition: str
    disposition_label: str = ""
    promise: WrapupPromise | None = None
    situation: list[Line] = []
    avoid_topics: list[Line] = []     # text: the topic; topics the case did not list yet are proposed
    proposed_topics: list[str] = []
    complaints: list[Line] = []
    compliance: list[Line] = []
    summary: list[Line] = []


def _quote(text: str) -> str:
    text = text.strip()
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS - 1] + "…"


def hint_source(hint: HintEvent) -> Source:
    return Source(channel=hint.evidence.channel, utterance=hint.evidence.utterance, t=hint.t,
                  quote=_quote(hint.evidence.text))


def final_source(final: TranscriptEvent) -> Source:
    return Source(channel=final.channel, utterance=final.utterance, t=final.end, quote=_quote(final.text))


class CallEvents:
    """A call's events, looked up the ways the wrap-up and the scorecard need: its finals, its
    hint cards by code, the agent's promise confirmations."""

    def __init__(self, events: list[Event]):
        self.finals = [e for e in events if isinstance(e, TranscriptEvent) and e.final]
        self.hints: dict[str, list[HintEvent]] = {}
        for event in events:
            if isinstance(event, HintEvent):
                self.hints.setdefault(event.code, []).append(event)
        self.promises = [e for e in events if isinstance(e, PromiseEvent)]

    def customer_said(self) -> str:
        return "".join(f.text for f in self.finals if f.channel == "customer")

    def first(self, code: str) -> HintEvent | None:
        return (self.hints.get(code) or [None])[0]

    def last(self, code: str) -> HintEvent | None:
        return (self.hints.get(code) or [None])[-1]


def _promise(call: CallEvents) -> WrapupPromise | None:
    captured = call.last("promise_to_pay")
    plan = call.last("offer_plan")
    plan_name = plan.data.get("plan", {}).get("plan_name") if plan else None
    if captured is None and not call.promises:
        return None
    said = captured.data.get("promise", {}) if captured else {}
    promise = WrapupPromise(amount=said.get("amount"), due=said.get("due"), amount_text=said.get("amount_text", ""),
                            date_text=said.get("date_text", ""), plan=plan_name,
                            source=hint_source(captured) if captured else None)
    if call.promises:                      # the agent's word over the card's reading
        last = call.promises[-1]
        if last.status == "withdrawn":
            return None
        promise = promise.model_copy(update={"amount": last.amount, "due": last.due, "status": last.status})
    return promise


def _wrong_number(call: CallEvents, rules: WrapupRules) -> Source | None:
    for final in call.finals:
        if final.channel == "customer" and any(p in final.text for p in rules.wrong_number_phrases):
            return final_source(final)
    return None


def _disposition(call: CallEvents, promise: WrapupPromise | None, rules: WrapupRules) -> str:
    applies = {
        "third_party": call.first("third_party") is not None and promise is None,
        "wrong_number": _wrong_number(call, rules) is not None and promise is None,
        "promise_to_pay": promise is not None,
        "hardship": bool(call.hints.get("hardship") or call.hints.get("offer_plan")),
        "no_answer": len(call.customer_said()) < rules.min_customer_chars,
        "refused": True,
    }
    return next(code for code in rules.dispositions if applies.get(code))


def _summary(call: CallEvents, disposition: str, promise: WrapupPromise | None, rules: WrapupRules) -> list[Line]:
    t = rules.summary
    lines: list[Line] = []
    if disposition == "third_party" and (hint := call.first("third_party")):
        lines.append(Line(text=t["third_party"].format(quote=_quote(hint.evidence.text)), source=hint_source(hint)))
    if disposition == "wrong_number" and (said := _wrong_number(call, rules)):
        lines.append(Line(text=t["wrong_number"].format(quote=said.quote), source=said))
    if promise is not None:
        amount_text, date_text = _promise_words(promise)
        lines.append(Line(text=t["promise"].format(date_text=date_text, amount_text=amount_text),
                          source=promise.source))
    for hint in call.hints.get("hardship", [])[:1]:
        lines.append(Line(text=t["hardship"].format(category=_category(hint), quote=_quote(hint.evidence.text)),
                          source=hint_source(hint)))
    if (plan := call.last("offer_plan")) and promise is None:
        lines.append(Line(text=t["plan"].format(plan_name=plan.data.get("plan", {}).get("plan_name", "")),
                          source=hint_source(plan)))
    for hint in call.hints.get("complaint_risk", [])[:1]:
        lines.append(Line(text=t["complaint"].format(quote=_quote(hint.evidence.text)), source=hint_source(hint)))
    if disposition in ("refused", "no_answer"):
        lines.append(Line(text=t[disposition]))
    return lines[:rules.max_summary_lines]


def _promise_words(promise: WrapupPromise) -> tuple[str, str]:
    """The amount and date as the customer said them; as the agent set them once corrected."""
    if promise.status == "captured":
        return (promise.amount_text or (f"{yuan(promise.amount)}元" if promise.amount else "（金额待确认）"),
                promise.date_text or promise.due or "（日期待确认）")
    due = date.fromisoformat(promise.due) if promise.due else None
    return (f"{yuan(promise.amount)}元" if promise.amount else "（金额待确认）",
            f"{due.month}月{due.day}日" if due else "（日期待确认）")


def _category(hint: HintEvent) -> str:
    """The hardship a card names ("客户困难：疾病" -> "疾病")."""
    return hint.title.split("：", 1)[-1] if "：" in hint.title else "有困难"


def _flashpoints(call: CallEvents, case: Case | None, rules: WrapupRules, hint_rules=None) -> list[Line]:
    """Topics the customer flared up at that the case does not list: for each escalation card,
    the first topic concept named in the customer's turn, else in the agent's turn before it
    (a word the case's own topics already cover proposes nothing)."""
    from ferryman.hints.rules import load_rules
    from ferryman.hints.topics import concept_for

    hint_rules = hint_rules or load_rules()
    covered = set()
    for topic in case.sensitive_topics if case else []:
        concept = concept_for(hint_rules, topic)
        covered |= {topic, *(concept.words if concept else [])}
    lines: dict[str, Line] = {}
    for hint in call.hints.get("escalation", []):
        customer = next((f for f in call.finals if f.channel == "customer" and f.utterance == hint.evidence.utterance),
                        None)
        before = [f for f in call.finals if f.channel == "agent" and customer and f.end <= customer.start]
        for turn in [t for t in (customer, before[-1] if before else None) if t is not None]:
            named = _topic_named(turn.text, hint_rules, rules.never_propose)
            if named:
                topic, word = named
                if word not in covered:
                    lines.setdefault(topic, Line(text=topic, source=final_source(turn)))
                break
    return list(lines.values())


def _topic_named(text: str, hint_rules, never: list[str]) -> tuple[str, str] | None:
    """The first topic concept (file order) a word of which is in ``text``, and that word;
    phrases that are not about the topic (他妈的) are taken out first."""
    for name, concept in hint_rules.topics.items():
        if name in never:
            continue
        plain = text
        for phrase in concept.not_about:
            plain = plain.replace(phrase, " ")
        word = next((w for w in [name, *concept.words] if w in plain), None)
        if word:
            return name, word
    return None


def draft_wrapup(call_id: str, events: list[Event], case: Case | None, agent_id: str | None = None,
                 rules: WrapupRules | None = None, case_id: str | None = None, hint_rules=None) -> Wrapup:
    """The wrap-up of a call from its events (in stream order). ``case_id``: the call's case when
    the case itself is gone (expired) — the wrap-up still belongs to it; ``hint_rules``: the hint
    rules in force (a team lead's topic concepts), else the package's."""
    rules = rules or load_wrapup_rules()
    call = CallEvents(events)
    promise = _promise(call)
    disposition = _disposition(call, promise, rules)
    topics = list(dict.fromkeys(h.data.get("topic") for h in call.hints.get("avoid_topic", []) if h.data.get("topic")))
    known = set(case.sensitive_topics) if case else set()
    flashpoints = [line for line in _flashpoints(call, case, rules, hint_rules) if line.text not in topics]
    return Wrapup(
        call_id=call_id, case_id=case.case_id if case else case_id, agent_id=agent_id,
        disposition=disposition, disposition_label=rules.dispositions[disposition], promise=promise,
        situation=[Line(text=_category(h), source=hint_source(h)) for h in call.hints.get("hardship", [])],
        avoid_topics=[Line(text=topic, source=hint_source(next(h for h in call.hints["avoid_topic"]
                                                           if h.data.get("topic") == topic)))
                      for topic in topics] + flashpoints,
        proposed_topics=[topic for topic in topics if topic not in known] + [line.text for line in flashpoints],
        complaints=[Line(text=h.title, source=hint_source(h)) for h in call.hints.get("complaint_risk", [])],
        compliance=[Line(text=h.title, source=hint_source(h)) for h in call.hints.get("agent_compliance", [])],
        summary=_summary(call, disposition, promise, rules),
    )
