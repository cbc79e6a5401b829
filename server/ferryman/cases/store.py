"""Cases in Redis: ``case:{case_id}`` holds the validated case as JSON."""

from __future__ import annotations

import redis.asyncio as aioredis

from ferryman.cases.schema import Case


def case_key(case_id: str) -> str:
    return f"case:{case_id}"


class CaseStore:
    def __init__(self, redis: aioredis.Redis):
        self._redis = redis

    async def get(self, case_id: str) -> Case | None:
        raw = await self._redis.get(case_key(case_id))
        return Case.model_validate_json(raw) if raw else None

    async def put(self, case: Case) -> None:
        await self._redis.set(case_key(case.case_id), case.model_dump_json())

