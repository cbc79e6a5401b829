"""How long what a call leaves behind is kept: ``FERRYMAN_RETENTION_DAYS`` (default 180), by
expiry on every key family that holds call data, so nothing depends on a clean-up job running.

    call:{id}:events, call:{id}, call:{id}:ending   expire that long after the call ends
    ptp:{case_id}                                    that long after the case's last promise event
    case:{case_id}                                   that long after the case was last uploaded
    casehist:{case_id}                               that long after its last wrap-up was saved
                                                     (aftercall/history.py)
    floor:events                                     entries older than that trimmed (heartbeat)
    spill files                                      older than that deleted (heartbeat)

Staged in the event's own transaction like the other projections.
"""

from __future__ import annotations

from ferryman.events import CallEvent, Event, HintEvent, PromiseEvent
from ferryman.records.promises import promises_key
from ferryman.records.summaries import call_key, events_key

DAY_S = 86_400
TERMINAL = ("ended", "dropped")


class Retention:
    def __init__(self, days: float = 180.0):
        self.seconds = max(1, int(days * DAY_S))

    def stage(self, pipe, event: Event) -> None:
        if isinstance(event, CallEvent) and event.state in TERMINAL:
            for key in (events_key(event.call_id), call_key(event.call_id), f"{call_key(event.call_id)}:ending"):
                pipe.expire(key, self.seconds)
        elif isinstance(event, HintEvent) and event.code == "promise_to_pay" and event.data.get("case_id"):
            pipe.expire(promises_key(event.data["case_id"]), self.seconds)
        elif isinstance(event, PromiseEvent) and event.case_id:
            pipe.expire(promises_key(event.case_id), self.seconds)

    def oldest_floor_id(self, now_s: float) -> str:
        """The floor stream id before which entries are past retention."""
        return f"{int((now_s - self.seconds) * 1000)}-0"
