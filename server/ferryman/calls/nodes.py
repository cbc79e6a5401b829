"""The floor's nodes, as they announce themselves in the Redis they share.

Every node writes ``node:{id}`` (its public websocket URL, live calls, capacity, readiness) every
couple of seconds with a short expiry, and lists its id in ``nodes``. A node that refuses a call
at capacity names the nodes that have room, so the gateway can go there at once; a node that dies
simply stops announcing and drops off within seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis

log = logging.getLogger(__name__)
NODES = "nodes"


def node_key(node_id: str) -> str:
    return f"node:{node_id}"


class NodeRegistry:
    def __init__(self, client: aioredis.Redis, node_id: str, url: str, capacity: int, live: Callable[[], int],
                 interval_s: float = 2.0, on_beat: Callable[[], Awaitable[None]] | None = None):
        self._redis, self.node_id, self.url, self.capacity = client, node_id, url, capacity
        self._live, self._interval, self._on_beat = live, interval_s, on_beat
        self._task: asyncio.Task | None = None
        self._chores: asyncio.Task | None = None

    async def start(self) -> None:
        await self.announce()
        self._task = asyncio.create_task(self._heartbeat())

    async def stop(self) -> None:
        for task in (self._task, self._chores):
            if task:
                task.cancel()
        try:
            await self._redis.delete(node_key(self.node_id))
            await self._redis.srem(NODES, self.node_id)
        except (redis.ConnectionError, redis.TimeoutError):
            pass

    async def announce(self) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(node_key(self.node_id), mapping={"url": self.url, "live": self._live(),
                                                   "capacity": self.capacity, "seen": time.time()})
        pipe.expire(node_key(self.node_id), max(3, int(self._interval * 3)))
        pipe.sadd(NODES, self.node_id)
        await pipe.execute()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.announce()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("announcing node %s: %s", self.node_id, exc)
                continue
            # the chores (a long spill replay...) run beside the beat, never delaying an announcement
            if self._on_beat is not None and (self._chores is None or self._chores.done()):
                self._chores = asyncio.create_task(self._run_chores())

    async def _run_chores(self) -> None:
        try:
            await self._on_beat()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("node %s chores: %s", self.node_id, exc)
        except Exception:
            log.exception("node %s chores", self.node_id)

    async def nodes(self) -> list[dict]:
        """Every node announced recently (this one included), with its free slots."""
        out = []
        for node_id in sorted(await self._redis.smembers(NODES)):
            info = await self._redis.hgetall(node_key(node_id))
            if not info:
                await self._redis.srem(NODES, node_id)      # expired: it stopped announcing
                continue
            live, capacity = int(info.get("live", 0)), int(info.get("capacity", 0))
            out.append({"id": node_id, "url": info.get("url", ""), "live": live, "capacity": capacity,
                        "free": max(0, capacity - live)})
        return out

    async def alive(self, node_id: str) -> bool:
        """Is that node still there? Its announcement has not expired and its port answers (a
        killed node's announcement outlives it by a few seconds; its port does not)."""
        url = await self._redis.hget(node_key(node_id), "url")
        if not url:
            return False
        host, _, port = urlsplit(url).netloc.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port or 80)), 1.0)
        except (OSError, asyncio.TimeoutError, ValueError):
            return False
        writer.close()
        return True

    async def with_room(self) -> list[str]:
        """Other nodes' URLs that have room now, the emptiest first."""
        try:
            nodes = await self.nodes()
        except (redis.ConnectionError, redis.TimeoutError):
            return []
        others = [n for n in nodes if n["id"] != self.node_id and n["free"] > 0 and n["url"]]
        return [n["url"] for n in sorted(others, key=lambda n: -n["free"])]
