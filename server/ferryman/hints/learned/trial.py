"""``ferryman hints try``: one sentence through the engine, with every reason shown.

For a team lead tuning rules: which codes fire, what raised each one (a rule and the words it
matched, or the learned layer and its score), what the rules found on the way (negations,
exclusions, the mood lexicon), and each learned head's score against its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ferryman.cases.schema import Case
from ferryman.events import HintEvent, TranscriptEvent
from ferryman.hints.engine import HintEngine
from ferryman.hints.learned.model import Scores, shared_model
from ferryman.hints.rules import Rules


@dataclass
class Trial:
    text: str
    speaker: str
    hints: list[HintEvent]
    evidence: frozenset[str]
    scores: Scores | None
    thresholds: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        who = "客户" if self.speaker == "customer" else "坐席"
        out = [f"{who}：{self.text}", ""]
        if not self.hints:
            out.append("no hint")
        for hint in self.hints:
            out.append(f"{hint.code}  [{hint.severity}]  {hint.title}")
            out.append(f"    {hint.detail}")
            for source in hint.source:
                if source["by"] == "model":
                    out.append(f"    raised by the learned layer: {source['head']} {source['score']:.3f}")
                else:
                    out.append(f"    raised by rule {source['rule']}: 「{source.get('match', '')}」")
        out += ["", "rules found: " + (", ".join(sorted(self.evidence)) or "nothing")]
        if self.scores is not None:
            out.append("learned layer (score / threshold):")
            for head, p in sorted(self.scores.probability.items(), key=lambda kv: -kv[1]):
                mark = "  <- fires" if head in self.scores.fired else ""
                out.append(f"    {head:<18} {p:.3f} / {self.thresholds[head]:.2f}{mark}")
            if self.scores.kinds:
                out.append("    kinds: " + ", ".join(f"{k} = {v}" for k, v in self.scores.kinds.items()))
        return out


def try_sentence(text: str, speaker: str, case: Case, prev: str | None = None, prev_speaker: str | None = None,
                 rules_only: bool = False, today: date | None = None, rules: Rules | None = None) -> Trial:
    """``rules``: rules being edited (the console's "try a sentence"); None = those in force."""
    model = None if rules_only else shared_model()
    engine = HintEngine(case, rules=rules, today=today, model=model)
    t = 0.0
    if prev:
        channel = prev_speaker or ("agent" if speaker == "customer" else "customer")
        engine.on_event(TranscriptEvent(channel=channel, final=True, utterance=0, start=0.0, end=2.0, text=prev, t=2.0))
        t = 2.0
    event = TranscriptEvent(channel=speaker, final=True, utterance=1, start=t + 2.0, end=t + 4.0, text=text, t=t + 4.0)
    hints = [e for e in engine.on_event(event) if isinstance(e, HintEvent)]
    return Trial(text, speaker, hints, engine.evidence, engine.scores, model.thresholds if model else {})
