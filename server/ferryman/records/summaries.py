"""The call index and each call's floor summary, as the supervisor wall and the call lists read them.

    call:{call_id}   hash: case_id, agent_id, state, started_at, ended_at; mood_score, mood_level,
                     last_hint, gravest_hint (+ gravest_rank) — the hint events as JSON (a
                     contact-rule card counts as one); contact_breaches — how many
    calls:live       set of the calls in progress
    calls:index      sorted set of every call by the time it started (exports; trimmed by retention)
"""

from __future__ import annotations

import time

from ferryman.events import CallEvent, ContactRuleEvent, Event, HintEvent, MoodEvent

LIVE = "calls:live"
CALL_INDEX = "calls:index"
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
# Keep the gravest hint without reading before the transaction: compare ranks inside Redis.
_GRAVER = """
local current = tonumber(redis.call('HGET', KEYS[1], 'gravest_rank') or '-1')
if tonumber(ARGV[2]) > current then
  redis.call('HSET', KEYS[1], 'gravest_hint', ARGV[1], 'gravest_rank', ARGV[2])
end
return 0
"""


def call_key(call_id: str) -> str:
    return f"call:{call_id}"


def events_key(call_id: str) -> str:
    """The call's event stream (written by the bus; named here with the call's other keys)."""
    return f"call:{call_id}:events"


def gravity(hint: dict) -> tuple[int, int]:
    """Graver first: severity, then priority (1 is the most urgent)."""
    return SEVERITY_RANK.get(hint.get("severity", "info"), 0), -int(hint.get("priority", 9))


def rank(hint: dict) -> int:
    severity, priority = gravity(hint)
    return severity * 100 + 100 + priority


class CallSummaries:
    def stage(self, pipe, event: Event) -> None:
        key = call_key(event.call_id)
        if isinstance(event, CallEvent):
            fields = {"state": event.state, f"{'started' if event.state == 'started' else 'ended'}_at": time.time()}
            if event.state == "started":
                fields.update(case_id=event.case_id or "", agent_id=event.agent_id or "")
                pipe.sadd(LIVE, event.call_id)
                pipe.zadd(CALL_INDEX, {event.call_id: fields["started_at"]}, nx=True)
            else:
                pipe.srem(LIVE, event.call_id)
            pipe.hset(key, mapping=fields)
        elif isinstance(event, MoodEvent):
            pipe.hset(key, mapping={"mood_score": event.score, "mood_level": event.level})
        elif isinstance(event, (HintEvent, ContactRuleEvent)):
            if isinstance(event, ContactRuleEvent):
                pipe.hincrby(key, "contact_breaches", 1)
            payload = event.to_json()
            pipe.hset(key, "last_hint", payload)
            pipe.eval(_GRAVER, 1, key, payload, rank(event.model_dump()))
