"""What events become besides the streams: the call index and floor summaries, the promise ledger,
the contact log, the search index.

Each projection stages its writes into the same Redis transaction as the event itself (so a
reader never sees a summary ahead of, or behind, the stream), and never reads before writing.
The bus (``bus/streams.py``) stays transport: it appends to the streams and runs the projections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ferryman.events import Event


class Projection(Protocol):
    def stage(self, pipe, event: Event) -> None:
        """Add this projection's writes for ``event`` to the transaction ``pipe``."""



@dataclass
class Records:
    """Every projection; ``all()`` in the order they stage (the summary first: the contact log
    reads the call's case from it inside Redis). The server and the tests' scaffolding build
    the same set."""

    summaries: Any
    promises: Any
    retention: Any
    contacts: Any
    search: Any

    def all(self) -> list[Projection]:
        return [self.summaries, self.promises, self.retention, self.contacts, self.search]


def build_records(client, keep_s: int) -> Records:
    from ferryman.aftercall.search import SearchIndex
    from ferryman.records.contacts import ContactLog
    from ferryman.records.promises import PromiseLedger
    from ferryman.records.retention import DAY_S, Retention
    from ferryman.records.summaries import CallSummaries

    return Records(CallSummaries(), PromiseLedger(client, keep_s), Retention(keep_s / DAY_S),
                   ContactLog(client, keep_s), SearchIndex(client, keep_s))
