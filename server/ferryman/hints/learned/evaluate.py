"""The whole engine (rules + learned layer) measured on labelled utterances.

Each item is played as a tiny call: its ``prev`` turns, then the item's own turn, on a fresh
engine with the item's case; the codes raised on the item's turn are compared with its labels
(``codes`` must come, ``optional`` may, anything else is a false positive). Opening items also
end the call, so a missing disclosure is raised as it would be at the end of a call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from ferryman.cases.schema import Case
from ferryman.events import CallEvent, TranscriptEvent
from ferryman.hints.engine import HintEngine
from ferryman.hints.learned.dataset import Item, default_case
from ferryman.hints.learned.model import IntentModel

CALL_DAY = date(2026, 11, 30)      # a Monday: promise dates resolve the same way in every run


def play(item: Item, model: IntentModel | None, base: Case | None = None) -> set[str]:
    """The codes the engine raises on the item's own turn."""
    return played(item, model, base)[0]


def played(item: Item, model: IntentModel | None, base: Case | None = None) -> tuple[set[str], frozenset[str]]:
    """The codes the engine raises on the item's own turn, and the rules' findings on it."""
    engine = HintEngine(item.case_for(base or default_case()), today=CALL_DAY, model=model)
    t, utterance = 0.0, Counter()
    for turn in item.prev:
        t = _say(engine, turn.spk, turn.text, t, utterance)[0]
    t, events = _say(engine, item.spk, item.text, t, utterance)
    codes = {e.code for e in events if e.type == "hint"}
    evidence = engine.evidence
    if item.tags.get("opening"):
        codes |= {e.code for e in engine.on_event(CallEvent(state="ended", t=t + 1.0)) if e.type == "hint"}
    else:
        codes.discard("disclosure_missing")      # a call-level card: judged on opening items only
    return codes, evidence


def _say(engine: HintEngine, spk: str, text: str, t: float, utterance: Counter):
    channel = "customer" if spk == "C" else "agent"
    start, end = t + 2.0, t + 2.0 + max(1.0, len(text) / 5)
    event = TranscriptEvent(channel=channel, final=True, utterance=utterance[channel], start=start, end=end,
                            text=text, t=end)
    utterance[channel] += 1
    return end, engine.on_event(event)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / max(1e-9, p + r)


@dataclass
class Report:
    total: Tally = field(default_factory=Tally)
    per_code: dict[str, Tally] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    items: int = 0

    def add(self, item: Item, got: set[str]) -> None:
        self.items += 1
        want, may = set(item.codes), set(item.optional)
        missed, extra = want - got, got - want - may
        for code, kind in [(c, "tp") for c in want & got] + [(c, "fn") for c in missed] + [(c, "fp") for c in extra]:
            for tally in (self.total, self.per_code.setdefault(code, Tally())):
                setattr(tally, kind, getattr(tally, kind) + 1)
        if missed or extra:
            self.wrong.append(f"{item.id} [{item.spk}] {item.text} (missed {sorted(missed)}, extra {sorted(extra)})")

    def lines(self, title: str) -> list[str]:
        t = self.total
        out = [f"== {title}: {self.items} utterances, {t.tp + t.fn} expected hints",
               f"F1 {t.f1:.3f}   precision {t.precision:.3f}   recall {t.recall:.3f}"]
        out += [f"  {code:<18} P {c.precision:.2f}  R {c.recall:.2f}  F1 {c.f1:.2f}  "
                f"(tp {c.tp}, fp {c.fp}, fn {c.fn})" for code, c in sorted(self.per_code.items())]
        return out

    def as_dict(self) -> dict:
        return {"items": self.items, "f1": round(self.total.f1, 4), "precision": round(self.total.precision, 4),
                "recall": round(self.total.recall, 4),
                "per_code": {c: {"tp": t.tp, "fp": t.fp, "fn": t.fn} for c, t in sorted(self.per_code.items())}}


def evaluate(items: list[Item], model: IntentModel | None) -> Report:
    report = Report()
    for item in items:
        report.add(item, play(item, model))
    return report
