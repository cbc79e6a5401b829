"""Sensitive topics as concepts, followed across turns.

A case names its sensitive topics in its own words (病情, 前妻, 工作单位); ``topics.yaml`` maps each
name to a concept — the words that belong to it and the pronouns that stand for it once it has
come up. The tracker is per call: a topic named in one turn keeps its pronouns live for the next
``carry_turns`` turns (of either speaker), so "她" right after "前妻" still counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ferryman.hints.matching import Clause, Match, PhraseSet
from ferryman.hints.rules import Rules, Topic


@dataclass(frozen=True)
class TopicHit:
    topic: str                  # as the case names it
    words: tuple[str, ...]      # what was said
    by_pronoun: bool


@dataclass
class _Concept:
    topic: str
    words: PhraseSet
    pronouns: PhraseSet
    not_about: PhraseSet
    named: set[str] = field(default_factory=set)     # words of the concept, for the case notes


def concept_for(rules: Rules, topic: str) -> Topic | None:
    """The concept a case's topic name refers to: by name, then by alias."""
    if topic in rules.topics:
        return rules.topics[topic]
    return next((concept for concept in rules.topics.values() if topic in concept.aliases), None)


class TopicTracker:
    def __init__(self, rules: Rules, sensitive_topics: list[str]):
        self.carry_turns = rules.topics_file.carry_turns
        self._concepts = []
        for topic in sensitive_topics:
            concept = concept_for(rules, topic)
            words = [topic] + (concept.words if concept else [])
            self._concepts.append(_Concept(topic, rules.phrases(list(dict.fromkeys(words))),
                                           rules.phrases(concept.pronouns if concept else [], phonetic=False),
                                           rules.phrases(concept.not_about if concept else [], phonetic=False),
                                           set(words)))
        self._last_named: dict[str, int] = {}

    def words_of(self, topic: str) -> set[str]:
        return next((c.named for c in self._concepts if c.topic == topic), {topic})

    def hear(self, clauses: list[Clause], turn: int) -> list[TopicHit]:
        """The case's sensitive topics this turn touches, by their words or a live pronoun."""
        hits = []
        for concept in self._concepts:
            words = [m for c in clauses for m in concept.words.find(c) if not self._excluded(concept, m)]
            if words:
                self._last_named[concept.topic] = turn
                hits.append(TopicHit(concept.topic, tuple(dict.fromkeys(m.text for m in words)), False))
                continue
            named = self._last_named.get(concept.topic)
            if named is not None and 0 < turn - named <= self.carry_turns:
                pronouns = [m for c in clauses for m in concept.pronouns.find(c) if not self._excluded(concept, m)]
                if pronouns:
                    hits.append(TopicHit(concept.topic, tuple(dict.fromkeys(m.text for m in pronouns)), True))
        return hits

    @staticmethod
    def _excluded(concept: _Concept, match: Match) -> bool:
        """The word sits inside a phrase that is not about the topic (他妈的, 在家里)."""
        return any(m.start <= match.start and match.end <= m.end for m in concept.not_about.find(match.clause))
