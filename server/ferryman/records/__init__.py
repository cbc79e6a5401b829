"""What events become besides the streams: the call index and floor summaries, the promise ledger.

Each projection stages its writes into the same Redis transaction as the event itself (so a
reader never sees a summary ahead of, or behind, the stream), and never reads before writing.
The bus (``bus/streams.py``) stays transport: it appends to the streams and runs the projections.
"""

from __future__ import annotations

from typing import Protocol

from ferryman.events import Event


class Projection(Protocol):
    def stage(self, pipe, event: Event) -> None:
        """Add this projection's writes for ``event`` to the transaction ``pipe``."""
