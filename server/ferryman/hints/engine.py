"""The hint engine: transcript events in, hint / mood / checklist events out (pure, per call).

    TranscriptEvent (final) ──► turn text ──► situations ──► codes, checked against the case
                                  │     (rules ∪ learned)      and the call's state ──► hygiene ──► HintEvent
                                  ├─► customer mood ───────► MoodEvent (+ escalation)
                                  ├─► sensitive topics (concepts, carried over turns)
                                  └─► agent checklist ─────► ChecklistEvent (+ disclosure_missing)

A *turn* is a speaker's run of finals (a long turn arrives in pieces); the engine re-reads the
whole turn as pieces arrive so a phrase split across pieces still matches, and raises each
code at most once per turn. What a turn says is found two ways and joined: phrase rules
(``rules/intents.yaml``: exact or by sound, with negation and speaker) and the learned intent
layer (``learned/``: the turn with the other speaker's turn before it). Rules keep the last word
on what they are good at: a phrase the rules saw negated ("我不是要投诉", "我们不会上门") cannot be
brought back by the model, and promises pass the hypothetical / question / past-payment checks.
Every hint says what raised it (``source``). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ferryman.asr.text import strip_phantoms
from ferryman.cases.schema import Case, Policy, unregistered_case
from ferryman.events import CallEvent, ChecklistEvent, Event, Evidence, HintEvent, MoodEvent, TranscriptEvent
from ferryman.hints.compliance import AgentCompliance, Breach, Checklist
from ferryman.hints.learned.model import IntentModel, Scores, shared_model
from ferryman.hints.matching import Clause, Match, split_clauses
from ferryman.hints.parties import Parties
from ferryman.hints.plans import best_plan, load_plan_rules, yuan
from ferryman.hints.promises import extract_promise
from ferryman.hints.rules import Rules, load_rules
from ferryman.hints.sentiment import MoodTracker, UtteranceMood
from ferryman.hints.topics import TopicTracker

CARD_STATUS_ZH = {"active": "正常", "suspended": "已停用（止付）", "frozen": "已冻结", "closed": "已销卡",
                  "blocked": "已锁定"}
HARDSHIP = {"hardship_job": ("job", "失业"), "hardship_illness": ("illness", "疾病"),
            "hardship_business": ("business", "经营困难"), "hardship_waiting": ("waiting", "等待回款"),
            "hardship_cash": ("cash", "资金紧张")}
ASKS = ("ask_split", "ask_delay", "ask_reduce")
TURN_GAP_S = 1.5   # a pause longer than this between one speaker's finals starts a new turn
OPENING_TURNS = 8  # who answered is settled in the first turns; later, the debtor's name is just a name
# learned head -> the rule intent it stands for (hardship and asks get their kind from the model)
HEAD_INTENT = {"complaint_risk": "complaint", "card_status": "ask_card", "debt_breakdown": "dispute_amount",
               "promise_to_pay": "promise", "third_party": "third_party"}


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
    prev: str | None = None          # the other speaker's turn just before this one

    @property
    def text(self) -> str:
        return "".join(self.texts)          # pieces of one turn: a phrase may straddle them


@dataclass
class Candidate:
    code: str
    fields: dict
    data: dict = field(default_factory=dict)
    severity: str | None = None
    source: list[dict] = field(default_factory=list)


def rule_source(rule: str, match: Match) -> dict:
    return {"by": "rule", "rule": rule, "match": match.text}


@dataclass
class Found:
    """Intents found in a turn: intent -> the rule matches (may be empty when only the model
    found it), where each came from, and the intents whose phrases were there but negated
    ("我不是要投诉") or excluded by a nearby phrase ("哪有钱还")."""

    matches: dict[str, list[Match]] = field(default_factory=dict)
    sources: dict[str, list[dict]] = field(default_factory=dict)
    negated: set[str] = field(default_factory=set)
    excluded: set[str] = field(default_factory=set)

    def evidence(self) -> set[str]:
        """The rules' findings as features for the learned layer."""
        return ({f"r:{name}" for name in self.matches} | {f"r:-{name}" for name in self.negated}
                | {f"r:x{name}" for name in self.excluded})

    def add(self, intent: str, source: dict, match: Match | None = None) -> None:
        self.matches.setdefault(intent, [])
        if match is not None:
            self.matches[intent].append(match)
        self.sources.setdefault(intent, []).append(source)

    def __contains__(self, intent: str) -> bool:
        return intent in self.matches

    def source(self, *intents: str) -> list[dict]:
        """Where the intents came from: one entry per rule or head (the first match of each)."""
        out = {}
        for s in (s for i in intents for s in self.sources.get(i, [])):
            out.setdefault((s["by"], s.get("rule") or s.get("head")), s)
        return list(out.values())


class HintEngine:
    def __init__(self, case: Case | None, rules: Rules | None = None, policies: list[Policy] | None = None,
                 today: date | None = None, model: IntentModel | None | bool = True):
        self.case_known = case is not None          # None: a call nobody registered
        self.case = case or unregistered_case()
        self.rules = rules or load_rules()
        self.model = shared_model() if model is True else (model or None)
        self.policies = policies if policies is not None else self.rules.default_policies
        self.today = today or date.today()
        self._plans = load_plan_rules()
        self._compliance = AgentCompliance(self.rules, self.case, self.case_known)
        self._checklist = Checklist(self.rules)
        self._mood = MoodTracker(self.rules)
        self._topics = TopicTracker(self.rules, self.case.sensitive_topics)
        self._parties = Parties(self.case.customer, self.rules.parties.absent_cues)
        self._window = 0.0
        self._turn: Turn | None = None
        self._last_turn: dict[str, Turn] = {}
        self._turns = 0
        self._last_raised: dict[str, float] = {}
        self._hardship_seen: set[str] = set()
        self._third_party = False
        self._third_party_seen = False
        self._debtor_confirmed = False
        self.evidence: frozenset[str] = frozenset()    # the rules' findings on the last final's turn
        self.scores: Scores | None = None               # the learned layer's reading of it

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
            candidates += self._customer(clauses, own, turn, out)
        else:
            candidates += self._agent(clauses, own, event, turn, out)
        candidates += self._topic_cards(clauses, turn)
        for candidate in candidates:
            hint = self._admit(candidate, turn, event)
            if hint:
                out.append(hint)
        out += self._disclosure_due(event.t)
        return out

    def _turn_for(self, event: TranscriptEvent) -> Turn:
        turn = self._turn
        if turn is None or turn.channel != event.channel or event.start - turn.end > TURN_GAP_S:
            if turn is not None:
                self._last_turn[turn.channel] = turn
            self._turns += 1
            other = self._last_turn.get("agent" if event.channel == "customer" else "customer")
            turn = self._turn = Turn(event.channel, self._turns, start=event.start,
                                     prev=other.text if other else None)
        turn.texts.append(strip_phantoms(event.text))   # Whisper's invented credits never trigger
        turn.end = event.end
        return turn

    # -- what was said -----------------------------------------------------------------------
    def _rule_intents(self, clauses: list[Clause], channel: str) -> Found:
        """Intents by phrase, after speaker, exclusions and negation."""
        found = Found()
        for name, (intent, phrases, exclude) in self.rules.intents.items():
            if intent.speaker not in ("any", channel):
                continue
            for clause in clauses:
                matches = phrases.find(clause)
                if matches and exclude.phrases and exclude.any_in(clause):
                    found.excluded.add(name)
                    continue
                for match in matches:
                    if intent.negatable and self.rules.negation.cancels(match):
                        found.negated.add(name)
                        continue
                    found.add(name, rule_source(f"intents.{name}", match), match)
        found.negated -= set(found.matches)
        found.excluded -= set(found.matches)
        return found

    def _decide(self, rules: Found, scores: Scores | None) -> Found:
        """The customer intents of this turn. With the learned layer, it decides — the rules'
        findings are among its features, so it has learnt where a phrase misleads ("投诉物业",
        "律师说离婚协议…") — except that a phrase the rules saw negated stays negated. Without it,
        the rules decide alone."""
        if scores is None:
            return rules
        decided = Found(negated=set(rules.negated), excluded=set(rules.excluded))
        for head in scores.fired:
            if head == "hardship":
                family, intent = tuple(HARDSHIP), f"hardship_{scores.kinds.get('hardship', 'cash')}"
            elif head == "offer_plan":
                family, intent = ASKS, f"ask_{scores.kinds.get('ask', 'split')}"
            elif head in HEAD_INTENT:
                family = (intent := HEAD_INTENT[head],)
            else:
                continue
            by_rules = [name for name in family if name in rules]
            if by_rules:                       # the rules' own reading names the kind and the words
                for name in by_rules:
                    decided.matches[name] = rules.matches[name]
                    decided.sources[name] = rules.sources[name] + [scores.explain(head)]
            elif not any(name in rules.negated for name in family):
                decided.add(intent, scores.explain(head))
        for name in ("identity_confirmed", "handover"):   # bookkeeping intents stay with the rules
            if name in rules:
                decided.matches[name], decided.sources[name] = rules.matches[name], rules.sources[name]
        return decided

    # -- customer ----------------------------------------------------------------------------
    def _customer(self, clauses: list[Clause], own: list[Clause], turn: Turn, out: list[Event]) -> list[Candidate]:
        rules = self._rule_intents(clauses, "customer")
        named = self._named(turn, rules)
        # the features describe the whole turn, as the model reads it; the mood meter moves per final
        self.evidence = frozenset(rules.evidence() | self._mood.evidence(self._mood.score(clauses, turn.text))
                                  | ({"r:debtor_named"} if named else set()))
        scores = self._score(turn)
        intents = self._decide(rules, scores)
        found = self._who_is_on_the_line(intents, turn, named)
        if "complaint" in intents:
            found.append(self._complaint(_phrase(intents, "complaint", turn), intents.source("complaint")))
        new_hardship = self._hardship(intents)
        found += new_hardship
        # hardship told for the first time calls for a plan, unless the customer is already
        # promising to pay; an explicit ask (split, delay, reduce) always does
        found += self._offer(intents, with_hardship=bool(new_hardship) and "promise" not in intents)
        if "ask_card" in intents:
            found.append(Candidate("card_status", self._card_status(), source=intents.source("ask_card")))
        if "dispute_amount" in intents and self.case_known:     # no figures to show without the case
            debt = self.case.debt
            found.append(Candidate("debt_breakdown", {k: yuan(v) if isinstance(v, float) else v
                                                      for k, v in debt.model_dump().items()},
                                   source=intents.source("dispute_amount")))
        if "promise" in intents:
            found += self._promise(intents, turn, clauses)
        found += self._escalation(self._mood.score(own, turn.texts[-1]), scores, out)
        return found

    def _card_status(self) -> dict:
        card = self.case.card
        return {"status": CARD_STATUS_ZH.get(card.status, card.status),
                "restore_condition": card.restore_condition or "请核实恢复条件"}

    def _who_is_on_the_line(self, intents: Found, turn: Turn, named: str | None) -> list[Candidate]:
        """third_party when someone else answered; the debtor confirmed by their own words, their
        name, or by talking of their own debt; a hand-over ends the third party's turn."""
        found = []
        if ("third_party" in intents or named) and not self._debtor_confirmed:
            self._third_party = self._third_party_seen = True
            source = intents.source("third_party") + ([{"by": "rule", "rule": "parties.debtor_named",
                                                        "match": named}] if named else [])
            found.append(Candidate("third_party", {"phrase": named or _phrase(intents, "third_party", turn),
                                                   "customer": self.case.customer.name[:1]}, source=source))
        elif ("identity_confirmed" in intents or self._parties.introduces_self(turn.text)
              or (self._third_party and _speaks_of_own_debt(intents, turn.text))):
            self._debtor_confirmed, self._third_party = True, False
        if "handover" in intents:           # the debtor is being fetched: whoever speaks next is them
            self._third_party = False
        return found

    def _named(self, turn: Turn, rules: Found) -> str | None:
        """The debtor's name said by whoever answered, early in the call ("小军不在") — unless the
        same turn confirms it is the debtor ("刘小军？对，是我")."""
        if turn.number > OPENING_TURNS or "identity_confirmed" in rules:
            return None
        return self._parties.debtor_named(turn.text)

    def _score(self, turn: Turn) -> Scores | None:
        self.scores = None if self.model is None else self.model.score(turn.text, turn.channel, turn.prev,
                                                                       self.evidence)
        return self.scores

    def _complaint(self, phrase: str, source: list[dict]) -> Candidate:
        history = [n for n in self.case.notes if "诉" in n]
        graver = bool(history) or self.case.complaint_risk == "high"
        card = self.rules.cards["complaint_risk"]
        level = {"high": "高", "medium": "中", "low": "低"}[self.case.complaint_risk]
        return Candidate("complaint_risk",
                         {"phrase": phrase, "level": "高" if graver else level,
                          "history": ("投诉记录：" + "；".join(history) + "。") if history else ""},
                         {"complaint_history": history},
                         card.severity_when_history if graver and card.severity_when_history else None,
                         source)

    def _hardship(self, intents: Found) -> list[Candidate]:
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
                          {"categories": sorted(keys), "policies": [p.id for p in policies]},
                          source=intents.source(*HARDSHIP))]

    def _offer(self, intents: Found, with_hardship: bool) -> list[Candidate]:
        """The case's plan that fits what the customer asked for (or the hardship they told)."""
        said = [name for name in (*ASKS, *(HARDSHIP if with_hardship else ())) if name in intents]
        offer = best_plan(self.case, said, self._plans) if said else None
        if offer is None:
            return []
        plan = offer.plan
        return [Candidate("offer_plan", {"plan_name": plan.name, "condition": plan.condition, "benefit": plan.benefit,
                                         "math": offer.math, "pitch": offer.pitch(self._plans)},
                          {"plan": offer.as_data(), "because": said}, source=intents.source(*said))]

    def _promise(self, intents: Found, turn: Turn, turn_clauses: list[Clause]) -> list[Candidate]:
        """The promise's amount and date, from the clause that carries it (the rule's match, or
        each clause of the turn in order when only the learned layer heard the commitment)."""
        learned = any(s["by"] == "model" for s in intents.source("promise"))
        clauses = [m.clause.text for m in intents.matches["promise"]] or [c.text for c in turn_clauses]
        proposal = turn.prev if learned else None
        for clause in clauses:
            promise = extract_promise(clause, self.case, self.today, self.rules.promises, turn=turn.text,
                                      proposal=proposal)
            if promise:
                return [Candidate("promise_to_pay", {"amount_text": promise.amount_text or "金额待确认",
                                                     "date_text": promise.date_text or "日期待确认",
                                                     "relation": promise.relation},
                                  {"promise": promise.as_data(),
                                   "case_id": self.case.case_id if self.case_known else None},
                                  source=intents.source("promise"))]
        return []

    def _escalation(self, mood: UtteranceMood, scores: Scores | None, out: list[Event]) -> list[Candidate]:
        """A strong phrase (swearing, "别再打了") or the mood window crossing its threshold always
        escalates; a hot utterance by the lexicon does when the learned layer agrees (or is absent)."""
        lex = self.rules.sentiment
        learned = scores is not None and "escalation" in scores.fired
        if learned:            # the model heard hostility the lexicon has no word for: the meter shows it too
            mood = mood.at_least(lex.escalate_utterance)
        before, self._window = self._window, self._mood.add(mood)
        score, level = self._mood.level(self._window)
        out.append(MoodEvent(score=score, level=level))
        crossed = self._window >= lex.escalate_window > before
        hot = mood.lexicon_score >= lex.escalate_utterance and scores is None
        by_rules = bool(mood.strong) or hot or crossed
        if not (by_rules or learned):
            return []
        reason = "、".join(([mood.strong] if mood.strong else []) + list(mood.reasons))[:40]
        source = []
        if mood.strong or hot or (crossed and not learned):
            source.append({"by": "rule", "rule": "sentiment.strong" if mood.strong else "sentiment.score",
                           "match": reason, "score": mood.lexicon_score})
        if learned:
            source.append(scores.explain("escalation"))
        return [Candidate("escalation", {"score": f"{mood.score:.1f}", "reason": reason or "语气敌对"},
                          {"utterance_score": mood.score, "window": self._window}, source=source)]

    # -- agent -------------------------------------------------------------------------------
    def _agent(self, clauses: list[Clause], own: list[Clause], event: TranscriptEvent, turn: Turn,
               out: list[Event]) -> list[Candidate]:
        """Threats, insults, waivers and disclosure by rule always raise; the learned layer adds
        pressure in words no list has, unless the rules heard the threat negated."""
        if self._checklist.hear_agent(own, event.start, event.end):
            out.append(ChecklistEvent(items=dict(self._checklist.ticked), labels=self._checklist.labels))
        check = self._compliance.check(clauses, self._third_party and not self._debtor_confirmed)
        self.evidence = frozenset(check.evidence())
        scores = self._score(turn)
        breaches = list(check.breaches)
        learned = scores is not None and "agent_compliance" in scores.fired
        if learned and not breaches and not check.clean:
            breaches.append(self._compliance.learned_breach(scores.explain("agent_compliance"), turn.texts[-1][:40]))
        elif learned and breaches:
            breaches[0] = breaches[0].also(scores.explain("agent_compliance"))
        if not breaches:
            return []
        return [self._breach_card(breaches)]

    def _breach_card(self, breaches: list[Breach]) -> Candidate:
        problems = list(dict.fromkeys(b.rule.problem for b in breaches))
        phrases = "、".join(dict.fromkeys(b.phrase for b in breaches))
        why = " ".join(dict.fromkeys(b.rule.why for b in breaches))
        return Candidate("agent_compliance", {"problem": "、".join(problems), "phrase": phrases, "why": why,
                                              "instead": breaches[0].instead}, {"problems": problems},
                         source=[s for b in breaches for s in b.source])

    def _disclosure_due(self, now: float, call_over: bool = False) -> list[Event]:
        if not self._checklist.overdue(now, call_over):
            return []
        if self._third_party_seen and self._checklist.missing == [self._checklist.labels["purpose"]]:
            return []       # the agent rightly kept the purpose from someone who is not the debtor
        self._checklist.raised = True
        missing = self._checklist.missing
        card = self.rules.cards["disclosure_missing"]
        fields = _Blank(missing="、".join(missing))
        return [HintEvent(code="disclosure_missing", severity=card.severity, priority=card.priority,
                          title=card.title.format_map(fields), detail=card.detail.format_map(fields),
                          suggestion=card.suggestion.format_map(fields),
                          evidence=Evidence(channel="agent", text=""), data={"missing": missing},
                          source=[{"by": "rule", "rule": "compliance.checklist", "missing": missing}])]

    # -- both ----------------------------------------------------------------------------
    def _topic_cards(self, clauses: list[Clause], turn: Turn) -> list[Candidate]:
        out = []
        for hit in self._topics.hear(clauses, turn.number):
            words = self._topics.words_of(hit.topic)
            notes = [n for n in self.case.notes if hit.topic in n or any(w in n for w in words)]
            note_text = "备注：" + "；".join(notes) if notes else ""
            source = {"by": "rule", "rule": "topics." + hit.topic + (".pronoun" if hit.by_pronoun else ""),
                      "match": "、".join(hit.words)}
            out.append(Candidate("avoid_topic", {"topic": hit.topic, "notes": note_text},
                                 {"topic": hit.topic, "words": sorted(hit.words), "by_pronoun": hit.by_pronoun},
                                 source=[source]))
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
        fields, wording = _Blank(candidate.fields), card.wording(self.case_known)
        return HintEvent(code=candidate.code, severity=candidate.severity or card.severity, priority=card.priority,
                         title=wording.title.format_map(fields), detail=wording.detail.format_map(fields),
                         suggestion=wording.suggestion.format_map(fields),
                         evidence=Evidence(channel=event.channel, text=turn.text, utterance=event.utterance),
                         data=candidate.data, source=candidate.source)


def _speaks_of_own_debt(intents: Found, text: str) -> bool:
    """Hardship, an ask or a promise in the first person, no 他/她: the debtor has the phone now
    (whoever answered handed it over, or was wrongly taken for someone else)."""
    own = any(name in intents for name in (*HARDSHIP, *ASKS, "promise"))
    return own and "我" in text and not any(p in text for p in ("他", "她"))


def _phrase(intents: Found, intent: str, turn: Turn) -> str:
    """The words that raised an intent, for the card: the rule's match, else the turn itself."""
    matches = intents.matches.get(intent)
    if matches:
        return matches[0].text
    return turn.texts[-1][:24]
