"""Access tokens issued and revoked on the console, for the whole floor, in Redis.

    tokens:issued    hash: token digest (sha256) -> JSON {grant, issued_by, issued_at}
    tokens:revoked   hash: token digest -> JSON {by, at} (console or configured tokens)
    tokens:version   bumped on every change; each node polls it (``SYNC_S``) and reloads

Only digests are stored: a token is shown once, when it is issued. A revoked or expired token
is refused on every node within ``SYNC_S`` (REST) — open sockets re-check theirs regularly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time

import redis.asyncio as aioredis

from ferryman.settings import AccessGrant
from ferryman.web.auth import TokenBook, digest

log = logging.getLogger(__name__)
ISSUED, REVOKED, VERSION = "tokens:issued", "tokens:revoked", "tokens:version"
SYNC_S = 0.5


class TokenDesk:
    def __init__(self, client: aioredis.Redis, book: TokenBook):
        self._redis, self._book = client, book
        self._seen: str | None = None
        self._syncing = asyncio.Lock()

    async def issue(self, grant: AccessGrant, by: str) -> str:
        token = secrets.token_urlsafe(24)
        record = {"grant": json.loads(grant.model_dump_json()), "issued_by": by, "issued_at": time.time()}
        await self._change(lambda pipe: pipe.hset(ISSUED, digest(token), json.dumps(record, ensure_ascii=False)))
        return token

    async def revoke(self, digest: str, by: str) -> None:
        record = {"by": by, "at": time.time()}
        await self._change(lambda pipe: pipe.hset(REVOKED, digest, json.dumps(record, ensure_ascii=False)))

    async def set_expiry(self, digest: str, grant: AccessGrant) -> None:
        raw = await self._redis.hget(ISSUED, digest)
        record = {**json.loads(raw), "grant": json.loads(grant.model_dump_json())}
        await self._change(lambda pipe: pipe.hset(ISSUED, digest, json.dumps(record, ensure_ascii=False)))

    async def _change(self, stage) -> None:
        pipe = self._redis.pipeline(transaction=True)
        stage(pipe)
        pipe.incr(VERSION)
        await pipe.execute()
        await self.sync()                     # this node at once; the others within SYNC_S

    async def sync(self) -> None:
        """This node's book as Redis has it: one sync at a time (an older snapshot never lands
        after a newer one), the version and the tokens read in one transaction."""
        async with self._syncing:
            if await self._redis.get(VERSION) == self._seen:
                return
            pipe = self._redis.pipeline(transaction=True)
            pipe.get(VERSION)
            pipe.hgetall(ISSUED)
            pipe.hgetall(REVOKED)
            version, issued, revoked = await pipe.execute()
            self._book.apply_console({d: AccessGrant.model_validate(json.loads(r)["grant"]) for d, r in issued.items()},
                                     set(revoked))
            self._seen = version

    async def run(self) -> None:
        """Keep this node's book in step with the floor's (a background task)."""
        while True:
            try:
                await self.sync()
            except Exception as exc:           # Redis away: keep the last tokens, try again
                log.debug("token sync: %s", exc)
            await asyncio.sleep(SYNC_S)
