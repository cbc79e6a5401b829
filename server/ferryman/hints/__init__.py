"""Live hints: the case-aware keyword + sentiment engine between transcripts and delivery."""

from __future__ import annotations

from datetime import date


def prepare() -> None:
    """Load and validate the rules and the sentence encoder now (blocking, ~1-2 s), so the
    first call does not pay for it on the event loop. Raises RulesError on a bad rule file."""
    from ferryman.hints.matching import split_clauses
    from ferryman.hints.plans import load_plan_rules
    from ferryman.hints.rules import load_rules
    from ferryman.hints.semantic import shared_semantic

    rules = load_rules()
    load_plan_rules()
    split_clauses("预热拼音", rules.phonetics)
    shared_semantic().classify("我想先了解一下情况。")


def hint_processor(case, policies=None, today: date | None = None):
    """The engine as a pipeline processor (``async (event) -> [events]``), one per call."""
    from ferryman.hints.engine import HintEngine

    engine = HintEngine(case, policies=policies, today=today)

    async def process(event):
        return engine.on_event(event)

    return process
