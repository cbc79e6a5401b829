"""What calls leave behind for the next one on the same case: the saved wrap-ups.

    casehist:{case_id}   list of JSON wrap-ups, newest first, the last ``KEEP`` kept; expires
                         FERRYMAN_RETENTION_DAYS after the last one saved
    call:{call_id}       its ``wrapup`` field: the saved wrap-up of that call (the calls page)
"""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from ferryman.records.summaries import call_key

KEEP = 20


def history_key(case_id: str) -> str:
    return f"casehist:{case_id}"


class CaseHistory:
    def __init__(self, client: aioredis.Redis, keep_s: int):
        self._redis, self._keep_s = client, keep_s

    async def save(self, record: dict) -> dict:
        """Keep a saved wrap-up (a dict of ``Wrapup`` fields plus who saved it); a second save of
        the same call replaces the first in the case's history."""
        record = {**record, "saved_at": time.time()}
        payload = json.dumps(record, ensure_ascii=False)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(call_key(record["call_id"]), "wrapup", payload)
        if record.get("case_id"):
            key = history_key(record["case_id"])
            for old in await self._redis.lrange(key, 0, KEEP):
                if json.loads(old).get("call_id") == record["call_id"]:
                    pipe.lrem(key, 0, old)
            pipe.lpush(key, payload)
            pipe.ltrim(key, 0, KEEP - 1)
            pipe.expire(key, self._keep_s)
        await pipe.execute()
        return record

    async def of_call(self, call_id: str) -> dict | None:
        raw = await self._redis.hget(call_key(call_id), "wrapup")
        return json.loads(raw) if raw else None

    async def recent(self, case_id: str, count: int = 3, except_call: str | None = None) -> list[dict]:
        """The case's last saved wrap-ups, newest first."""
        records = [json.loads(raw) for raw in await self._redis.lrange(history_key(case_id), 0, KEEP)]
        return [r for r in records if r.get("call_id") != except_call][:count]
