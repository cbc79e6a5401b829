"""The promise ledger.

    ptp:{case_id}        JSON list per case — each promise ``captured`` (with the hint that caught
                         it), then ``confirmed`` or ``corrected`` by the agent; ``at``: when
    promises:due         sorted set "{case_id} {call_id} {due}" by due day (date ordinal): what falls due
    payments:{case_id}   hash: the bank's reference -> a payment received {amount, paid_on, ref, by}
                         (a reference recorded twice counts once)
"""

from __future__ import annotations

import json
import time
from datetime import date

import redis.asyncio as aioredis

from ferryman.events import Event, HintEvent, PromiseEvent

DUE_INDEX = "promises:due"


def promises_key(case_id: str) -> str:
    return f"ptp:{case_id}"


def payments_key(case_id: str) -> str:
    return f"payments:{case_id}"


class PromiseLedger:
    def __init__(self, client: aioredis.Redis, keep_s: int = 180 * 86_400):
        self._redis, self._keep_s = client, keep_s

    def stage(self, pipe, event: Event) -> None:
        """A promise on a call with no known case stays in the call's own stream only."""
        if isinstance(event, HintEvent) and event.code == "promise_to_pay" and event.data.get("case_id"):
            record = {"status": "captured", **event.data["promise"], "call_id": event.call_id, "t": event.t}
            self._record(pipe, event.data["case_id"], record)
        elif isinstance(event, PromiseEvent) and event.case_id:
            record = {"status": event.status, "amount": event.amount, "due": event.due, "hint_id": event.hint_id,
                      "by": event.by, "call_id": event.call_id, "t": event.t}
            self._record(pipe, event.case_id, record)

    @staticmethod
    def _record(pipe, case_id: str, record: dict) -> None:
        pipe.rpush(promises_key(case_id), json.dumps({**record, "at": time.time()}, ensure_ascii=False))
        if record.get("amount") and record.get("due"):
            day = date.fromisoformat(record["due"])
            pipe.zadd(DUE_INDEX, {f"{case_id} {record['call_id']} {day.isoformat()}": day.toordinal()})

    async def of_case(self, case_id: str) -> list[dict]:
        return [json.loads(item) for item in await self._redis.lrange(promises_key(case_id), 0, -1)]

    async def due_between(self, first: date, last: date) -> list[str]:
        """The cases with a promise due in [first, last]."""
        members = await self._redis.zrangebyscore(DUE_INDEX, first.toordinal(), last.toordinal())
        return list(dict.fromkeys(member.split(" ", 1)[0] for member in members))

    async def record_payments(self, payments: list[tuple[str, dict]]) -> int:
        """Payments ``(case_id, {amount, paid_on, ref, by})`` in one transaction; a reference a
        case already has is not counted again. How many were new."""
        pipe = self._redis.pipeline(transaction=True)
        for case_id, payment in payments:
            pipe.hsetnx(payments_key(case_id), payment["ref"], json.dumps(payment, ensure_ascii=False))
            pipe.expire(payments_key(case_id), self._keep_s)
        replies = await pipe.execute()
        return sum(bool(reply) for reply in replies[::2])

    async def payments(self, case_id: str) -> list[dict]:
        return [json.loads(item) for item in (await self._redis.hgetall(payments_key(case_id))).values()]

    async def forget_due_before(self, day: date) -> None:
        """Index entries past retention (the promises themselves expire with their case's ledger)."""
        await self._redis.zremrangebyscore(DUE_INDEX, "-inf", f"({day.toordinal()}")
