"""Live hints: the case-aware keyword + sentiment engine between transcripts and delivery."""

from __future__ import annotations

from datetime import date


def hint_processor(case, policies=None, today: date | None = None):
    """The engine as a pipeline processor (``async (event) -> [events]``), one per call."""
    from ferryman.hints.engine import HintEngine

    engine = HintEngine(case, policies=policies, today=today)

    async def process(event):
        return engine.on_event(event)

    process.engine = engine  # type: ignore[attr-defined]
    return process
