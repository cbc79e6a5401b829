"""Cases and team-wide policies in Redis: ``case:{case_id}``, ``policy:{id}`` (validated JSON)."""

from __future__ import annotations

import redis.asyncio as aioredis

from ferryman.cases.schema import Case, Policy


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



def policy_key(policy_id: str) -> str:
    return f"policy:{policy_id}"


class PolicyStore:
    """Team-wide relief policies (``policy:{id}``), seeded from hints/rules/policies.yaml."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis

    async def seed(self, defaults: list[Policy]) -> None:
        for policy in defaults:  # never overwrite what a team lead has edited
            await self._redis.set(policy_key(policy.id), policy.model_dump_json(), nx=True)

    async def all(self) -> list[Policy]:
        keys = sorted([key async for key in self._redis.scan_iter(match="policy:*")])
        values = await self._redis.mget(keys) if keys else []
        return [Policy.model_validate_json(v) for v in values if v]

    async def put(self, policy: Policy) -> None:
        await self._redis.set(policy_key(policy.id), policy.model_dump_json())
