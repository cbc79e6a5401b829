"""The hint engine: transcript events in, hint / mood / checklist events out (pure, per call).

    TranscriptEvent (final) ──► turn text ──► intents ──► codes, checked against the case
                                  │                        and the call's state ──► hygiene ──► HintEvent
                                  ├─► customer mood ───────► MoodEvent (+ escalation)
                                  └─► agent checklist ─────► ChecklistEvent (+ disclosure_missing)

A *turn* is a speaker's run of finals (a long turn arrives in pieces); the engine re-reads the
whole turn as pieces arrive so a phrase split across pieces still matches, and raises each
code at most once per turn. Cooldowns and once-per-call limits come from ``cards.yaml``.
Nothing here does I/O; ``HintProcessor`` adds the Redis side effects (promises).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ferryman.asr.text import strip_phantoms
from ferryman.cases.schema import Case, Policy
from ferryman.events import CallEvent, ChecklistEvent, Event, Evidence, HintEvent, MoodEvent, TranscriptEvent
from ferryman.hints.compliance import AgentCompliance, Breach, Checklist
from ferryman.hints.matching import Clause, Match, split_clauses
from ferryman.hints.plans import best_plan, load_plan_rules, yuan
from ferryman.hints.promises import extract_promise
from ferryman.hints.rules import Rules, load_rules
from ferryman.hints.semantic import SemanticIntents, shared_semantic
from ferryman.hints.sentiment import MoodTracker

CARD_STATUS_ZH = {"active": "正常", "suspended": "已停用（止付）", "frozen": "已冻结", "closed": "已销卡",
                  "blocked": "已锁定"}
HARDSHIP = {"hardship_job": ("job", "失业"), "hardship_illness": ("illness", "疾病"),
            "hardship_business": ("business", "经营困难"), "hardship_waiting": ("waiting", "等待回款"),
            "hardship_cash": ("cash", "资金紧张")}
ASKS = ("ask_split", "ask_delay", "ask_reduce")
TURN_GAP_S = 1.5   # a pause longer than this between one speaker's finals starts a new turn


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass
class Turn:
    channel: str
    number: int
    texts: list[str] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    raised: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        return "".join(self.texts)          # pieces of one turn: a phrase may straddle them


@dataclass
class Candidate:
    code: str
    fields: dict
    data: dict = field(default_factory=dict)
    severity: str | None = None


class HintEngine:
    def __init__(self, case: Case, rules: Rules | None = None, policies: list[Policy] | None = None,
                 today: date | None = None, semantic: SemanticIntents | None | bool = True):
        self.case = case
        self.rules = rules or load_rules()
        self._semantic = shared_semantic() if semantic is True else (semantic or None)
        self.policies = policies if policies is not None else self.rules.default_policies
        self.today = today or date.today()
        self._plans = load_plan_rules()
        self._compliance = AgentCompliance(self.rules, case)
        self._checklist = Checklist(self.rules)
        self._mood = MoodTracker(self.rules)
        self._window = 0.0
        self._turn: Turn | None = None
        self._turns = 0
        self._last_raised: dict[str, float] = {}
        self._hardship_seen: set[str] = set()
        self._third_party = False
        self._debtor_confirmed = False
        self._topic_words = {topic: self.rules.phrases(self.rules.topics[topic].words if topic in self.rules.topics
                                                       else [topic])
                             for topic in case.sensitive_topics}

    # -- entry -----------------------------------------------------------------------------
    def on_event(self, event: Event) -> list[Event]:
        if isinstance(event, TranscriptEvent) and event.final and strip_phantoms(event.text).strip():
            return self._on_final(event)
        if isinstance(event, CallEvent) and event.state != "started":
            return self._disclosure_due(event.t, call_over=True)
        return []

    def _on_final(self, event: TranscriptEvent) -> list[Event]:
        turn = self._turn_for(event)
        clauses = split_clauses(turn.text, self.rules.phonetics)       # the whole turn so far
        said = turn.texts[-1]                                           # this final, phantoms removed
        own = split_clauses(said, self.rules.phonetics)
        out: list[Event] = []
        candidates: list[Candidate] = []
        if event.channel == "customer":
            candidates += self._customer(clauses, said, own, out)
        else:
            candidates += self._agent(clauses, own, event, out)
        candidates += self._topics(clauses)
        for candidate in candidates:
            hint = self._admit(candidate, turn, event)
            if hint:
                out.append(hint)
        out += self._disclosure_due(event.t)
        return out

    def _turn_for(self, event: TranscriptEvent) -> Turn:
        turn = self._turn
        if turn is None or turn.channel != event.channel or event.start - turn.end > TURN_GAP_S:
            self._turns += 1
            turn = self._turn = Turn(event.channel, self._turns, start=event.start)
        turn.texts.append(strip_phantoms(event.text))   # Whisper's invented credits never trigger
        turn.end = event.end
        return turn

    # -- customer ----------------------------------------------------------------------------
    def _intents(self, clauses: list[Clause], channel: str) -> tuple[dict[str, list], set[str]]:
        """intent -> matches after speaker, exclusions and negation; and the intents whose
        phrases were present but ruled out (the semantic backup must not bring those back)."""
        found: dict[str, list] = {}
        ruled_out: set[str] = set()
        for name, (intent, phrases, exclude) in self.rules.intents.items():
            if intent.speaker not in ("any", channel):
                continue
            for clause in clauses:
                matches = phrases.find(clause)
                if matches and exclude.phrases and exclude.any_in(clause):
                    ruled_out.add(name)
                    continue
                for match in matches:
                    if intent.negatable and self.rules.negation.cancels(match):
                        ruled_out.add(name)
                        continue
                    found.setdefault(name, []).append(match)
        return found, ruled_out - set(found)

    def _customer(self, clauses: list[Clause], said: str, own: list[Clause], out: list[Event]) -> list[Candidate]:
        intents, ruled_out = self._intents(clauses, "customer")
        self._add_semantic(intents, ruled_out, said)
        found: list[Candidate] = []
        if "third_party" in intents and not self._debtor_confirmed:
            self._third_party = True
            found.append(Candidate("third_party", {"phrase": intents["third_party"][0].text,
                                                   "customer": self.case.customer.name[:1]}))
        elif "identity_confirmed" in intents:
            self._debtor_confirmed, self._third_party = True, False
        if "complaint" in intents:
            found.append(self._complaint(intents["complaint"][0].text))
        new_hardship = self._hardship(intents)
        found += new_hardship
        # hardship told for the first time calls for a plan, unless the customer is already
        # promising to pay; an explicit ask (split, delay, reduce) always does
        found += self._offer(intents, with_hardship=bool(new_hardship) and "promise" not in intents)
        if "ask_card" in intents:
            card = self.case.card
            found.append(Candidate("card_status", {"status": CARD_STATUS_ZH.get(card.status, card.status),
                                                   "restore_condition": card.restore_condition or "请核实恢复条件"}))
        if "dispute_amount" in intents:
            debt = self.case.debt
            found.append(Candidate("debt_breakdown", {k: yuan(v) if isinstance(v, float) else v
                                                      for k, v in debt.model_dump().items()}))
        if "promise" in intents:
            found += self._promise(intents["promise"])
        found += self._escalation(own, said, out)
        return found

    def _add_semantic(self, intents: dict[str, list], ruled_out: set[str], said: str) -> None:
        """Intents the phrase rules missed in this final, by meaning (see semantic.py)."""
        if self._semantic is None:
            return
        for found in self._semantic.classify(said):
            if found.intent not in intents and found.intent not in ruled_out:
                clause = Clause(found.sentence, (), ())
                intents[found.intent] = [Match("≈" + found.example, clause, 0, len(found.sentence), exact=False)]

    def _complaint(self, phrase: str) -> Candidate:
        history = [n for n in self.case.notes if "诉" in n]
        graver = bool(history) or self.case.complaint_risk == "high"
        card = self.rules.cards["complaint_risk"]
        level = {"high": "高", "medium": "中", "low": "低"}[self.case.complaint_risk]
        return Candidate("complaint_risk",
                         {"phrase": phrase, "level": "高" if graver else level,
                          "history": ("投诉记录：" + "；".join(history) + "。") if history else ""},
                         {"complaint_history": history},
                         card.severity_when_history if graver and card.severity_when_history else None)

    def _hardship(self, intents: dict) -> list[Candidate]:
        categories = [HARDSHIP[name] for name in HARDSHIP if name in intents]
        new = [(key, label) for key, label in categories if key not in self._hardship_seen]
        if not new:
            return []
        self._hardship_seen.update(key for key, _ in new)
        keys = {key for key, _ in categories}
        policies = [p for p in self.policies if keys & set(p.applies_to)]
        lines = [f"{p.name}（{p.condition}）：{p.benefit}" for p in policies]
        return [Candidate("hardship", {"category": "、".join(label for _, label in new),
                                       "policies": ("适用政策：" + "；".join(lines) + "。") if lines
                                       else "暂无适用的困难政策，请记录情况。"},
                          {"categories": sorted(keys), "policies": [p.id for p in policies]})]

    def _offer(self, intents: dict, with_hardship: bool) -> list[Candidate]:
        """The case's plan that fits what the customer asked for (or the hardship they told)."""
        said = [name for name in (*ASKS, *(HARDSHIP if with_hardship else ())) if name in intents]
        offer = best_plan(self.case, said, self._plans) if said else None
        if offer is None:
            return []
        plan = offer.plan
        return [Candidate("offer_plan", {"plan_name": plan.name, "condition": plan.condition, "benefit": plan.benefit,
                                         "math": offer.math, "pitch": offer.pitch(self._plans)},
                          {"plan": offer.as_data(), "because": said})]

    def _promise(self, matches: list) -> list[Candidate]:
        for match in matches:
            promise = extract_promise(match.clause.text, self.case, self.today)
            if promise:
                return [Candidate("promise_to_pay", {"amount_text": promise.amount_text or "金额待确认",
                                                     "date_text": promise.date_text or "日期待确认",
                                                     "relation": promise.relation},
                                  {"promise": promise.as_data(), "case_id": self.case.case_id})]
        return []

    def _escalation(self, own: list[Clause], said: str, out: list[Event]) -> list[Candidate]:
        lex = self.rules.sentiment
        mood = self._mood.score(own, said)
        before, self._window = self._window, self._mood.add(mood)
        score, level = self._mood.level(self._window)
        out.append(MoodEvent(score=score, level=level))
        crossed = self._window >= lex.escalate_window > before
        if not (mood.strong or mood.score >= lex.escalate_utterance or crossed):
            return []
        reason = "、".join(([mood.strong] if mood.strong else []) + list(mood.reasons))[:40]
        return [Candidate("escalation", {"score": f"{mood.score:.1f}", "reason": reason or "情绪持续升高"},
                          {"utterance_score": mood.score, "window": self._window})]

    # -- agent -------------------------------------------------------------------------------
    def _agent(self, clauses: list[Clause], own: list[Clause], event: TranscriptEvent,
               out: list[Event]) -> list[Candidate]:
        if self._checklist.hear_agent(own, event.start, event.end):
            out.append(ChecklistEvent(items=dict(self._checklist.ticked), labels=self._checklist.labels))
        breaches = self._compliance.check(clauses, self._third_party and not self._debtor_confirmed)
        if not breaches:
            return []
        return [self._breach_card(breaches)]

    def _breach_card(self, breaches: list[Breach]) -> Candidate:
        problems = list(dict.fromkeys(b.rule.problem for b in breaches))
        phrases = "、".join(dict.fromkeys(b.phrase for b in breaches))
        why = " ".join(dict.fromkeys(b.rule.why for b in breaches))
        return Candidate("agent_compliance", {"problem": "、".join(problems), "phrase": phrases, "why": why,
                                              "instead": breaches[0].instead}, {"problems": problems})

    def _disclosure_due(self, now: float, call_over: bool = False) -> list[Event]:
        if not self._checklist.overdue(now, call_over):
            return []
        self._checklist.raised = True
        missing = self._checklist.missing
        card = self.rules.cards["disclosure_missing"]
        fields = _Blank(missing="、".join(missing))
        return [HintEvent(code="disclosure_missing", severity=card.severity, priority=card.priority,
                          title=card.title.format_map(fields), detail=card.detail.format_map(fields),
                          suggestion=card.suggestion.format_map(fields),
                          evidence=Evidence(channel="agent", text=""), data={"missing": missing})]

    # -- both ----------------------------------------------------------------------------
    def _topics(self, clauses: list[Clause]) -> list[Candidate]:
        out = []
        for topic, words in self._topic_words.items():
            hits = [m for c in clauses for m in words.find(c)]
            if hits:
                notes = [n for n in self.case.notes if any(p.text in n for p in words.phrases)]
                note_text = "备注：" + "；".join(notes) if notes else ""
                out.append(Candidate("avoid_topic", {"topic": topic, "notes": note_text},
                                     {"topic": topic, "words": sorted({h.text for h in hits})}))
        return out

    # -- hygiene -------------------------------------------------------------------------
    def _admit(self, candidate: Candidate, turn: Turn, event: TranscriptEvent) -> HintEvent | None:
        """One card per code per turn; cooldowns and once-per-call from cards.yaml."""
        card = self.rules.cards[candidate.code]
        if candidate.code in turn.raised:
            return None
        last = self._last_raised.get(candidate.code)
        if last is not None and (card.once_per_call or event.t - last < card.cooldown_s):
            return None
        turn.raised.add(candidate.code)
        self._last_raised[candidate.code] = event.t
        fields = _Blank(candidate.fields)
        return HintEvent(code=candidate.code, severity=candidate.severity or card.severity, priority=card.priority,
                         title=card.title.format_map(fields), detail=card.detail.format_map(fields),
                         suggestion=card.suggestion.format_map(fields),
                         evidence=Evidence(channel=event.channel, text=turn.text, utterance=event.utterance),
                         data=candidate.data)
