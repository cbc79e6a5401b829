"""Per-call event streams in Redis: the transport between the pipelines and every reader.

    call:{call_id}:events   XADD-ed events ({"e": <event json>}), capped at ~maxlen
    floor:events            every call's floor events (call, hint, mood, coach, ack, promise):
                            what the supervisor wall and the agents' call lists follow

An event is appended with what it projects (``records/``: the call index and summaries, the
promise ledger) in one transaction. A subscriber gives the last stream id it saw and receives
everything after it, so a socket that reconnects misses nothing and repeats nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import AsyncIterator, Callable

import redis
import redis.asyncio as aioredis

from ferryman.events import Event, parse_event
from ferryman.records import Projection
from ferryman.records.promises import PromiseLedger
from ferryman.records.summaries import LIVE, CallSummaries, call_key

log = logging.getLogger(__name__)
FLOOR = "floor:events"
FLOOR_TYPES = ("call", "hint", "mood", "coach", "ack", "promise")
TERMINAL_STATES = ("ended", "dropped")


def events_key(call_id: str) -> str:
    return f"call:{call_id}:events"


def _next_id(stream_id: str) -> str:
    """The smallest id after ``stream_id`` (XRANGE bounds are inclusive)."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class EventBus:
    def __init__(self, redis_client: aioredis.Redis, maxlen: int = 20000, floor_maxlen: int = 50000,
                 projections: list[Projection] | None = None):
        self._redis = redis_client
        self._maxlen, self._floor_maxlen = maxlen, floor_maxlen
        self._projections = projections if projections is not None else [CallSummaries(),
                                                                         PromiseLedger(redis_client)]

    async def append(self, event: Event) -> str:
        """Write one event to its streams with what it projects, in one transaction; returns
        the event's id in the call's stream."""
        pipe = self._redis.pipeline(transaction=True)
        payload = event.to_json()
        pipe.xadd(events_key(event.call_id), {"e": payload}, maxlen=self._maxlen, approximate=True)
        if event.type in FLOOR_TYPES:
            pipe.xadd(FLOOR, {"e": payload}, maxlen=self._floor_maxlen, approximate=True)
        for projection in self._projections:
            projection.stage(pipe, event)
        results = await pipe.execute()
        return results[0]

    async def call_info(self, call_id: str) -> dict:
        return await self._redis.hgetall(call_key(call_id))

    async def adopt(self, call_id: str, node_id: str, audio_offset: float) -> None:
        """This node carries the call now (bookkeeping that is not an event)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(call_key(call_id), mapping={"node": node_id, "audio_offset": audio_offset})
        pipe.hdel(call_key(call_id), "orphan_since")
        await pipe.execute()

    async def orphan_since(self, call_id: str) -> float:
        """When a call was first seen without a live node (set once, kept until it ends)."""
        await self._redis.hsetnx(call_key(call_id), "orphan_since", time.time())
        return float(await self._redis.hget(call_key(call_id), "orphan_since"))

    async def claim_orphan(self, call_id: str, hold_s: int = 60) -> bool:
        """One node ends an orphaned call: the first to claim it."""
        return bool(await self._redis.set(f"{call_key(call_id)}:ending", "1", nx=True, ex=hold_s))

    async def history(self, call_id: str) -> list[Event]:
        """Every event of the call so far, oldest first."""
        events, after = [], "0-0"
        while batch := await self.read_after(call_id, after, count=2000):
            events += batch
            after = batch[-1].id
        return events

    async def live_calls(self) -> list[str]:
        return sorted(await self._redis.smembers(LIVE))

    async def read_after(self, call_id: str, after: str = "0-0", count: int = 500) -> list[Event]:
        entries = await self._redis.xrange(events_key(call_id), min=_next_id(after), count=count)
        return [self._decode(entry_id, fields) for entry_id, fields in entries]

    async def event(self, call_id: str, event_id: str) -> Event | None:
        entries = await self._redis.xrange(events_key(call_id), min=event_id, max=event_id)
        return self._decode(*entries[0]) if entries else None

    async def floor_tail(self, count: int) -> tuple[str, list[Event]]:
        """The floor stream's last id and its last ``count`` events, oldest first."""
        entries = await self._redis.xrevrange(FLOOR, count=max(count, 1))
        last = entries[0][0] if entries else "0-0"
        return last, [self._decode(entry_id, fields) for entry_id, fields in reversed(entries[:count])]

    def follow(self, call_id: str, after: str = "0-0", block_ms: int = 1000) -> AsyncIterator[Event]:
        """Every event of the call after ``after``, then new ones as they come."""
        return self._follow_key(events_key(call_id), after, block_ms)

    def follow_floor(self, after: str, block_ms: int = 1000) -> AsyncIterator[Event]:
        """Every floor event after ``after`` (ids are the floor stream's), then new ones."""
        return self._follow_key(FLOOR, after, block_ms)

    async def _follow_key(self, key: str, after: str, block_ms: int) -> AsyncIterator[Event]:
        """Rides out Redis restarts: it resumes from the last id it delivered."""
        last, backoff = after, 0.1
        while True:
            try:
                reply = await self._redis.xread({key: last}, block=block_ms, count=500)
                backoff = 0.1
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("reading %s: %s; retrying in %.1f s", key, exc, backoff)
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

    def __init__(self, bus: EventBus, spill_dir: Path, give_up_after_s: float = 30.0,
                 on_error: Callable[[], None] | None = None):
        self._bus = bus
        self._on_error = on_error
        self._spill_dir = Path(spill_dir)
        self._give_up_after_s = give_up_after_s
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._closing = False
        self._writer = asyncio.create_task(self._write_all())

    async def publish(self, event: Event) -> None:
        self._queue.put_nowait(event.model_copy())

    async def flush(self) -> None:
        """Wait until every event published so far is written (or spilled)."""
        await self._queue.join()

    @property
    def closed(self) -> bool:
        return self._closing

    async def close(self) -> None:
        self._closing = True
        self._queue.put_nowait(None)
        await self._writer

    async def _write_all(self) -> None:
        while (event := await self._queue.get()) is not None:
            written = await self._write(event)
            self._queue.task_done()
            if not written:
                self._spill([event, *self._drain()])
                return
        self._queue.task_done()

    async def _write(self, event: Event) -> bool:
        deadline, backoff = time.monotonic() + self._give_up_after_s, 0.05
        while True:
            try:
                await self._bus.append(event)
                return True
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if self._on_error:
                    self._on_error()
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
            self._queue.task_done()
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
