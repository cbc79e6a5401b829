"""Customer mood from a call-centre lexicon: per-utterance score and a trailing window."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ferryman.hints.matching import Clause
from ferryman.hints.rules import Rules


@dataclass(frozen=True)
class UtteranceMood:
    score: float
    reasons: tuple[str, ...]      # the words that scored, for the card
    strong: str | None            # a phrase that escalates on its own
    lexicon_score: float = 0.0    # the score from the lexicon alone (before the learned layer's say)
    categories: tuple[str, ...] = ()

    def at_least(self, score: float) -> "UtteranceMood":
        return replace(self, score=max(self.score, score))


@dataclass
class MoodTracker:
    rules: Rules
    _recent: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        lex = self.rules.sentiment
        self._categories = {name: (cat.weight, self.rules.phrases(cat.words, cat.phonetic))
                            for name, cat in lex.categories.items()}
        self._intensifiers = lex.intensifiers
        self._strong = self.rules.phrases(lex.strong)
        self._strong_except = self.rules.phrases(lex.strong_except, phonetic=False)

    def score(self, clauses: list[Clause], raw_text: str) -> UtteranceMood:
        total, reasons, strong, categories = 0.0, [], None, []
        for clause in clauses:
            for category, weight, match in self._words(clause):
                before = clause.text[max(0, match.start - 3):match.start]
                boost = self._intensifiers.factor if any(w in before for w in self._intensifiers.words) else 1.0
                total += weight * boost
                reasons.append(match.phrase)
                categories.append(category)
            if strong is None:
                strong = next((m.phrase for m in self._strong.find(clause)
                               if m.exact and not self.rules.negation.cancels(m) and not self._excepted(m)), None)
        total += self.rules.sentiment.exclamation * min(3, raw_text.count("！") + raw_text.count("!"))
        return UtteranceMood(round(total, 2), tuple(dict.fromkeys(reasons)), strong, round(total, 2),
                             tuple(dict.fromkeys(categories)))

    def evidence(self, mood: UtteranceMood) -> set[str]:
        """The lexicon's reading as features for the learned layer."""
        lex = self.rules.sentiment
        level = ("hot" if mood.lexicon_score >= lex.escalate_utterance else "warm" if mood.lexicon_score > 0
                 else "calm")
        return ({f"r:mood_{level}"} | {f"r:lex_{c}" for c in mood.categories}
                | ({"r:mood_strong"} if mood.strong else set()))

    def _excepted(self, match) -> bool:
        return any(e.start <= match.start and match.end <= e.end for e in self._strong_except.find(match.clause))

    def _words(self, clause: Clause) -> list[tuple[str, float, object]]:
        """Lexicon hits in a clause, longest first, none counted twice (逼我 inside 别逼我)."""
        hits = [(name, weight, m) for name, (weight, phrases) in self._categories.items()
                for m in phrases.find(clause) if not self.rules.negation.cancels(m)]
        kept, taken = [], set()
        for name, weight, match in sorted(hits, key=lambda h: h[2].start - h[2].end):
            span = set(range(match.start, match.end))
            if not span & taken:
                kept.append((name, weight, match))
                taken |= span
        return kept

    def add(self, mood: UtteranceMood) -> float:
        """Record a customer utterance; return the trailing mood (decayed sum of recent scores)."""
        lex = self.rules.sentiment
        self._recent = (self._recent + [mood.score])[-lex.window_utterances:]
        return round(sum(s * lex.decay ** (len(self._recent) - 1 - i) for i, s in enumerate(self._recent)), 2)

    def level(self, window: float) -> tuple[float, str]:
        """Window score -> 0..1 and calm / tense / angry for the panel's meter."""
        threshold = self.rules.sentiment.escalate_window
        normalised = min(1.0, window / (2 * threshold))
        return round(normalised, 2), "angry" if window >= threshold else "tense" if window >= threshold / 2 else "calm"
