"""What the agent says: threats, insults, waivers no plan allows, disclosure to a third party,
and the opening checklist (identity, purpose, recording notice)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ferryman.cases.schema import Case
from ferryman.hints.matching import Clause
from ferryman.hints.numbers import find_amounts
from ferryman.hints.rules import Rules, Violation

_STOP_INTEREST = ("停息", "停止计息")


@dataclass(frozen=True)
class Breach:
    rule: Violation
    phrase: str
    plans_text: str = ""
    source: tuple[dict, ...] = ()

    @property
    def instead(self) -> str:
        return self.rule.instead.format(plans=self.plans_text)

    def also(self, source: dict) -> "Breach":
        return replace(self, source=self.source + (source,))


@dataclass(frozen=True)
class ComplianceCheck:
    breaches: list[Breach]
    negated: bool          # a threat or insult phrase was there, negated ("我们不会上门")
    allowed_waiver: bool   # a waiver the case's plans do give ("违约金可以减免")

    def evidence(self) -> set[str]:
        """The rules' findings as features for the learned layer."""
        fired = {"r:" + s["rule"].split(".", 1)[1] for b in self.breaches for s in b.source if s["by"] == "rule"}
        return (fired | ({"r:-threats"} if self.negated else set())
                | ({"r:waiver_allowed"} if self.allowed_waiver else set()))

    @property
    def clean(self) -> bool:
        """Nothing to raise, and the rules saw why not: a negated threat or a plan's own waiver."""
        return not self.breaches and (self.negated or self.allowed_waiver)


def covered_fees(case: Case, rules: Rules) -> set[str]:
    """Fees some plan of the case waives or stops (principal never, unless a plan says so)."""
    covered = set()
    for plan in case.plans:
        text = plan.name + plan.benefit
        for fee, words in rules.compliance.waivers.objects.items():
            if fee != "principal" and any(w in text for w in words):
                covered.add(fee)
        if any(w in text for w in _STOP_INTEREST):
            covered.add("interest")
    return covered


class AgentCompliance:
    def __init__(self, rules: Rules, case: Case, case_known: bool = True):
        self.rules = rules
        c = rules.compliance
        self._threats = rules.phrases(c.threats.phrases)
        self._insults = rules.phrases(c.insults.phrases)
        self._disclosure = rules.phrases(c.disclosure.phrases, phonetic=False)
        self._waive = rules.phrases(c.waivers.waive_words)
        self._covered = covered_fees(case, rules)
        # a call nobody registered: what its plans are is not known, so nothing may be promised yet
        self._plans_text = ("；".join(f"{p.name}：{p.benefit}" for p in case.plans) or "目前没有可用的减免方案"
                            if case_known else "减免要以系统里登记的方案为准，我核实后再答复您")

    def check(self, clauses: list[Clause], third_party_on_line: bool) -> ComplianceCheck:
        c, found, negated, allowed = self.rules.compliance, [], False, False
        for clause in clauses:
            for name, rule, phrases in (("threats", c.threats, self._threats), ("insults", c.insults, self._insults)):
                for m in phrases.find(clause):
                    if self.rules.negation.cancels(m):
                        negated = True
                    else:
                        found.append(Breach(rule, m.phrase, source=({"by": "rule", "rule": f"compliance.{name}",
                                                                      "match": m.text},)))
            waived, covered = self._waivers(clause)
            found += waived
            allowed = allowed or covered
            if third_party_on_line:
                found += self._disclosed(clause)
        return ComplianceCheck(found, negated and not found, allowed and not found)

    def _disclosed(self, clause: Clause) -> list[Breach]:
        """Debt words or any sum of money, said while a third party is on the line."""
        rule = self.rules.compliance.disclosure
        said = [m.text for m in self._disclosure.find(clause)] + [a.text for a in find_amounts(clause.text)]
        return [Breach(rule, text, source=({"by": "rule", "rule": "compliance.disclosure", "match": text},))
                for text in said]

    def learned_breach(self, source: dict, said: str) -> Breach:
        return Breach(self.rules.compliance.learned, said, source=(source,))

    def _waivers(self, clause: Clause) -> tuple[list[Breach], bool]:
        """Waivers of fees no plan of the case covers; and whether a covered one was offered."""
        out, covered = [], False
        for match in self._waive.find(clause):
            if self.rules.negation.cancels(match):
                continue
            fees = self._objects(clause, match.start)
            if fees - self._covered:
                out.append(Breach(self.rules.compliance.waivers, clause.text, self._plans_text,
                                  ({"by": "rule", "rule": "compliance.waivers", "match": clause.text},)))
            elif fees:
                covered = True
        return out, covered

    def _objects(self, clause: Clause, at: int) -> set[str]:
        """Which fees a waiver word in this clause is about: named fees first, else 'all' words."""
        objects = self.rules.compliance.waivers.objects
        named = {fee for fee, words in objects.items() if fee != "principal" and any(w in clause.text for w in words)}
        principal_named = any(w in clause.text for w in ("本金", "欠款"))
        if principal_named:
            named.add("principal")
        if named:
            return named
        before = clause.text[:at]
        return {"principal"} if any(w in before for w in objects["principal"]) else set()


@dataclass
class Checklist:
    """The opening every agent owes: who is calling, why, and that it is recorded."""

    rules: Rules
    ticked: dict[str, bool] = field(default_factory=dict)
    agent_speech_s: float = 0.0
    agent_first_t: float | None = None
    raised: bool = False

    def __post_init__(self) -> None:
        items = self.rules.compliance.checklist.items
        self._phrases = {name: self.rules.phrases(item.phrases) for name, item in items.items()}
        self.ticked = {name: False for name in items}

    @property
    def labels(self) -> dict[str, str]:
        return {name: item.label for name, item in self.rules.compliance.checklist.items.items()}

    @property
    def missing(self) -> list[str]:
        return [self.labels[name] for name, done in self.ticked.items() if not done]

    def hear_agent(self, clauses: list[Clause], start: float, end: float) -> bool:
        """Tick items said in this agent utterance; True if anything new was ticked."""
        if self.agent_first_t is None:
            self.agent_first_t = start
        self.agent_speech_s += max(0.0, end - start)
        new = False
        for name, phrases in self._phrases.items():
            if not self.ticked[name] and any(phrases.any_in(c) for c in clauses):
                self.ticked[name] = new = True
        return new

    def overdue(self, now: float, call_over: bool = False) -> bool:
        """Items still missing past the deadline (or at the end of a call the agent spoke in)."""
        if self.raised or not self.missing or self.agent_first_t is None:
            return False
        deadline = self.rules.compliance.checklist
        return (call_over or self.agent_speech_s >= deadline.deadline_agent_s
                or now - self.agent_first_t >= deadline.deadline_call_s)
