"""Live hints: the case-aware rules + learned intent layer between transcripts and delivery."""

from __future__ import annotations

import asyncio
from datetime import date


def prepare() -> None:
    """Load and validate the rules, the learned intent model, jieba and the sentence encoder now
    (blocking, ~2 s), so the first call does not pay for it on the event loop. Raises RulesError
    on a bad rule file, HintModelError (one of them) on a missing or unreadable model."""
    from ferryman.events import TranscriptEvent
    from ferryman.hints.engine import HintEngine
    from ferryman.hints.learned.dataset import default_case

    engine = HintEngine(default_case())
    engine.on_event(TranscriptEvent(channel="customer", final=True, utterance=0, start=0.0, end=1.0,
                                    text="我想先了解一下情况。", t=1.0))


class HintProcessor:
    """The engine as a pipeline processor (``await processor(event) -> [events]``), one per call.
    ``absorb`` feeds it what was said before this node took the call over, saying nothing."""

    def __init__(self, case, policies=None, today: date | None = None, rules=None):
        from ferryman.hints.engine import HintEngine

        self.engine = HintEngine(case, rules=rules, policies=policies, today=today)

    async def __call__(self, event):
        if getattr(event, "type", "") == "transcript" and event.final:
            # 5-15 ms of matching and scoring: on a worker thread, so the event loop keeps
            # moving audio and events of the other calls meanwhile (one final per call at a time)
            return await asyncio.to_thread(self.engine.on_event, event)
        return self.engine.on_event(event)

    def absorb(self, event) -> None:
        self.engine.on_event(event)


def hint_processor(case, policies=None, today: date | None = None, rules=None) -> HintProcessor:
    """``rules``: a team lead's edited rules (``records.rulebook``); None = the package's."""
    return HintProcessor(case, policies, today, rules)
