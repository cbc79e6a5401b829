"""Cases and team-wide policies in Redis: ``case:{case_id}`` and the ``policies`` hash (id -> JSON),
validated on the way in and out."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from ferryman.cases.schema import Case, Policy


def case_key(case_id: str) -> str:
    return f"case:{case_id}"


def accepted_topics_key(case_id: str) -> str:
    """Sensitive topics a team lead accepted from a wrap-up: kept apart from the case the CRM
    uploads (an upload replaces the case, not what the lead added)."""
    return f"casetopics:{case_id}"


class CaseStore:
    """``keep_s``: a case not uploaded again for this long expires (retention; None = kept)."""

    def __init__(self, redis: aioredis.Redis, keep_s: int | None = None):
        self._redis, self._keep_s = redis, keep_s

    async def get(self, case_id: str) -> Case | None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(case_key(case_id))
        pipe.smembers(accepted_topics_key(case_id))
        raw, accepted = await pipe.execute()
        if not raw:
            return None
        case = Case.model_validate_json(raw)
        added = sorted(set(accepted) - set(case.sensitive_topics))
        return case.model_copy(update={"sensitive_topics": [*case.sensitive_topics, *added]}) if added else case

    async def accept_topic(self, case_id: str, topic: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(accepted_topics_key(case_id), topic)
        if self._keep_s:
            pipe.expire(accepted_topics_key(case_id), self._keep_s)
        await pipe.execute()

    async def put(self, case: Case) -> None:
        await self._redis.set(case_key(case.case_id), case.model_dump_json(), ex=self._keep_s)



POLICIES = "policies"
POLICY_LOG = "policies:log"          # JSON list: {policy, by, at} for every change made through the API
LEGACY_POLICY_KEYS = "policy:*"      # one key per policy, before they moved into one hash


class PolicyStore:
    """Team-wide relief policies in one hash, seeded from hints/rules/policies.yaml: every call
    start reads them all with one HGETALL (no keyspace scan)."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis

    async def seed(self, defaults: list[Policy]) -> None:
        """Once at start: move policies kept the old way into the hash, then add the defaults a
        team lead has not edited (never overwriting an edit)."""
        async for key in self._redis.scan_iter(match=LEGACY_POLICY_KEYS):
            value = await self._redis.get(key)
            if value:
                await self._redis.hsetnx(POLICIES, key.split(":", 1)[1], value)
            await self._redis.delete(key)
        for policy in defaults:
            await self._redis.hsetnx(POLICIES, policy.id, policy.model_dump_json())

    async def all(self) -> list[Policy]:
        stored = await self._redis.hgetall(POLICIES)
        return [Policy.model_validate_json(stored[key]) for key in sorted(stored)]

    async def put(self, policy: Policy, by: str | None = None) -> None:
        """Store the policy; with ``by``, the change is also logged (who, when, what it became)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(POLICIES, policy.id, policy.model_dump_json())
        if by is not None:
            entry = {"policy": policy.model_dump(), "by": by, "at": time.time()}
            pipe.rpush(POLICY_LOG, json.dumps(entry, ensure_ascii=False))
        await pipe.execute()

    async def history(self) -> list[dict]:
        """Every logged change, newest first."""
        return [json.loads(raw) for raw in reversed(await self._redis.lrange(POLICY_LOG, 0, -1))]
