"""The promise ledger: ``ptp:{case_id}``, a JSON list per case — each promise ``captured`` (with
the hint that caught it), then ``confirmed`` or ``corrected`` by the agent."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from ferryman.events import Event, HintEvent, PromiseEvent


def promises_key(case_id: str) -> str:
    return f"ptp:{case_id}"


class PromiseLedger:
    def __init__(self, client: aioredis.Redis):
        self._redis = client

    def stage(self, pipe, event: Event) -> None:
        """A promise on a call with no known case stays in the call's own stream only."""
        if isinstance(event, HintEvent) and event.code == "promise_to_pay" and event.data.get("case_id"):
            record = {"status": "captured", **event.data["promise"], "call_id": event.call_id, "t": event.t}
            pipe.rpush(promises_key(event.data["case_id"]), json.dumps(record, ensure_ascii=False))
        elif isinstance(event, PromiseEvent) and event.case_id:
            record = {"status": event.status, "amount": event.amount, "due": event.due, "hint_id": event.hint_id,
                      "by": event.by, "call_id": event.call_id, "t": event.t}
            pipe.rpush(promises_key(event.case_id), json.dumps(record, ensure_ascii=False))

    async def of_case(self, case_id: str) -> list[dict]:
        return [json.loads(item) for item in await self._redis.lrange(promises_key(case_id), 0, -1)]
