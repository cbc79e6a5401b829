"""Per-call event streams in Redis, and the call index.

    call:{call_id}:events   XADD-ed events ({"e": <event json>}), capped at ~maxlen
    call:{call_id}          hash: case_id, agent_id, state, started_at, ended_at
    calls:live              set of call ids in progress
    ptp:{case_id}           list of captured promises to pay (JSON), written with their hint

A subscriber gives the last stream id it saw and receives everything after it, so a socket
that reconnects misses nothing and repeats nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import AsyncIterator

import redis
import redis.asyncio as aioredis

from ferryman.events import CallEvent, Event, HintEvent, parse_event

log = logging.getLogger(__name__)
LIVE = "calls:live"
TERMINAL_STATES = ("ended", "dropped")


def events_key(call_id: str) -> str:
    return f"call:{call_id}:events"


def call_key(call_id: str) -> str:
    return f"call:{call_id}"


def promises_key(case_id: str) -> str:
    return f"ptp:{case_id}"


def _next_id(stream_id: str) -> str:
    """The smallest id after ``stream_id`` (XRANGE bounds are inclusive)."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class EventBus:
    def __init__(self, redis_client: aioredis.Redis, maxlen: int = 20000):
        self._redis = redis_client
        self._maxlen = maxlen

    async def append(self, event: Event) -> str:
        """Write one event (and, for call events, the call index) atomically."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(events_key(event.call_id), {"e": event.to_json()}, maxlen=self._maxlen, approximate=True)
        if isinstance(event, CallEvent):
            self._index_call(pipe, event)
        if isinstance(event, HintEvent) and event.code == "promise_to_pay":
            record = {**event.data["promise"], "call_id": event.call_id, "t": event.t}
            pipe.rpush(promises_key(event.data["case_id"]), json.dumps(record, ensure_ascii=False))
        results = await pipe.execute()
        return results[0]

    def _index_call(self, pipe, event: CallEvent) -> None:
        fields = {"state": event.state, f"{'started' if event.state == 'started' else 'ended'}_at": time.time()}
        if event.state == "started":
            fields.update(case_id=event.case_id or "", agent_id=event.agent_id or "")
            pipe.sadd(LIVE, event.call_id)
        else:
            pipe.srem(LIVE, event.call_id)
        pipe.hset(call_key(event.call_id), mapping=fields)

    async def call_info(self, call_id: str) -> dict:
        return await self._redis.hgetall(call_key(call_id))

    async def promises(self, case_id: str) -> list[dict]:
        return [json.loads(item) for item in await self._redis.lrange(promises_key(case_id), 0, -1)]

    async def live_calls(self) -> list[str]:
        return sorted(await self._redis.smembers(LIVE))

    async def read_after(self, call_id: str, after: str = "0-0", count: int = 500) -> list[Event]:
        entries = await self._redis.xrange(events_key(call_id), min=_next_id(after), count=count)
        return [self._decode(entry_id, fields) for entry_id, fields in entries]

    async def follow(self, call_id: str, after: str = "0-0", block_ms: int = 1000) -> AsyncIterator[Event]:
        """Every event after ``after``, then new ones as they come; rides out Redis restarts."""
        last, backoff = after, 0.1
        while True:
            try:
                reply = await self._redis.xread({events_key(call_id): last}, block=block_ms, count=500)
                backoff = 0.1
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("reading call %s: %s; retrying in %.1f s", call_id, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    yield self._decode(entry_id, fields)

    @staticmethod
    def _decode(entry_id: str, fields: dict) -> Event:
        event = parse_event(fields["e"])
        event.id = entry_id
        return event


class BusSink:
    """Pipeline sink that never loses an event: Redis errors are retried in order; whatever is
    still unwritten when the call closes and Redis stays away is spilled to a JSONL file."""

    def __init__(self, bus: EventBus, spill_dir: Path, give_up_after_s: float = 30.0):
        self._bus = bus
        self._spill_dir = Path(spill_dir)
        self._give_up_after_s = give_up_after_s
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._closing = False
        self._writer = asyncio.create_task(self._write_all())

    async def publish(self, event: Event) -> None:
        self._queue.put_nowait(event.model_copy())

    async def close(self) -> None:
        self._closing = True
        self._queue.put_nowait(None)
        await self._writer

    async def _write_all(self) -> None:
        while (event := await self._queue.get()) is not None:
            if not await self._write(event):
                self._spill([event, *self._drain()])
                return

    async def _write(self, event: Event) -> bool:
        deadline, backoff = time.monotonic() + self._give_up_after_s, 0.05
        while True:
            try:
                await self._bus.append(event)
                return True
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if self._closing and time.monotonic() > deadline:
                    log.error("redis unreachable for %.0f s: %s", self._give_up_after_s, exc)
                    return False
                log.warning("publishing to redis failed (%s); retrying", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    def _drain(self) -> list[Event]:
        items = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                items.append(item)
        return items

    def _spill(self, events: list[Event]) -> None:
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        path = self._spill_dir / f"{events[0].call_id}.jsonl"
        with path.open("a", encoding="utf-8") as fh:
            for event in events:
                fh.write(event.to_json() + "\n")
        log.error("%d events of call %s spilled to %s", len(events), events[0].call_id, path)
