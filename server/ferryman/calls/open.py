"""The one place a call's pipeline is wired: audio (or reference turns) -> ASR -> hint engine -> sink.

The server, ``ferryman replay`` and the tests all open calls here, so they run the same stages
with the same policies; only the source of audio, the clock and the sink differ.
"""

from __future__ import annotations

from datetime import date
from typing import Callable

from ferryman.asr.runtime import AsrRuntime
from ferryman.cases.schema import Case, Policy
from ferryman.hints import hint_processor
from ferryman.hints.rules import Rules
from ferryman.pipeline import CallPipeline, Clock, EventSink


def open_call(call_id: str, case: Case | None, sink: EventSink, clock: Clock, asr: AsrRuntime | None = None,
              policies: list[Policy] | None = None, agent_id: str | None = None, today: date | None = None,
              on_final: Callable[[float], None] | None = None, rules: Rules | None = None) -> CallPipeline:
    """A call's pipeline. ``policies``: the team's relief policies (the server reads them from
    Redis; None = the defaults of ``rules/policies.yaml``); ``on_final``: told each final's
    latency (seconds from the end of its audio to the transcript), for the node's metrics.
    ``case`` None: a call nobody registered (hints that need no case); ``rules``: the hint rules
    as a team lead last edited them (None: the package's)."""
    hints = hint_processor(case, policies, today, rules)
    return CallPipeline(call_id, case, sink, clock, asr, [hints], agent_id=agent_id, on_final=on_final)
