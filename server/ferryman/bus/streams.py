"""Per-call event streams in Redis: the transport between the pipelines and every reader.

    call:{call_id}:events   XADD-ed events ({"e": <event json>}), capped at ~maxlen
    floor:events            every call's floor events (call, hint, mood, coach, ack, promise):
                            what the supervisor wall and the agents' call lists follow

An event is appended with what it projects (``records/``: the call index and summaries, the
promise ledger) in one transaction. A subscriber gives the last stream id it saw and receives
everything after it, so a socket that reconnects misses nothing and repeats nothing. Readers
share one blocking read per stream on this node (``bus.fanout``), on their own connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import redis
import redis.asyncio as aioredis

from ferryman.bus.fanout import StreamHub
from ferryman.bus.spill import write_spill
from ferryman.events import Event, parse_event
from ferryman.ids import loggable
from ferryman.privacy import mask_event
from ferryman.records import Projection, build_records
from ferryman.records.retention import DAY_S
from ferryman.records.summaries import CALL_INDEX, LIVE, call_key, events_key

log = logging.getLogger(__name__)
FLOOR = "floor:events"
FLOOR_TYPES = ("call", "hint", "contact_rule", "mood", "coach", "ack", "promise")
TERMINAL_STATES = ("ended", "dropped")


def _next_id(stream_id: str) -> str:
    """The smallest id after ``stream_id`` (XRANGE bounds are inclusive)."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class EventBus:
    def __init__(self, redis_client: aioredis.Redis, maxlen: int = 20000, floor_maxlen: int = 50000,
                 projections: list[Projection] | None = None, reader_redis: aioredis.Redis | None = None,
                 subscriber_queue: int = 1000, on_error: Callable[[], None] | None = None,
                 writer_redis: aioredis.Redis | None = None, write_attempts: int = 3):
        """``reader_redis``: the client (pool) the blocking stream reads use; ``writer_redis``
        the one events are written with (best without retries of its own: see ``append``)."""
        self._redis = redis_client
        self._writer = writer_redis or redis_client
        self._write_attempts = write_attempts
        self.hub_redis = reader_redis or redis_client
        self.hub = StreamHub(self.hub_redis, self._read_key_after, self._decode,
                             queue_size=subscriber_queue, on_error=on_error)
        self._maxlen, self._floor_maxlen = maxlen, floor_maxlen
        self._projections = projections if projections is not None else build_records(redis_client, 180 * DAY_S).all()

    async def append(self, event: Event, also: Callable[[Any], None] | None = None) -> str:
        """Write one event to its streams with what it projects, in one transaction; returns
        the event's id in the call's stream. Identifying numbers are masked first: no clear
        copy reaches Redis (``ferryman.privacy``).

        Exactly once: when the connection fails, the transaction may or may not have run (a
        lost reply); before sending it again, the call's last entries are checked for it."""
        event = mask_event(event)
        payload = event.to_json()
        attempt = 0
        while True:
            try:
                return await self._append_once(event, payload, also)
            except (redis.ConnectionError, redis.TimeoutError):
                attempt += 1
                if attempt >= self._write_attempts:
                    raise
            await asyncio.sleep(0.05 * 2 ** attempt)
            try:
                if landed := await self._landed(event.call_id, payload):
                    return landed
            except (redis.ConnectionError, redis.TimeoutError):
                pass

    async def _append_once(self, event: Event, payload: str, also) -> str:
        pipe = self._writer.pipeline(transaction=True)
        pipe.xadd(events_key(event.call_id), {"e": payload}, maxlen=self._maxlen, approximate=True)
        if event.type in FLOOR_TYPES:
            pipe.xadd(FLOOR, {"e": payload}, maxlen=self._floor_maxlen, approximate=True)
        for projection in self._projections:
            projection.stage(pipe, event)
        if also is not None:                   # more for the same transaction (spill replay's progress)
            also(pipe)
        results = await pipe.execute(raise_on_error=False)
        if isinstance(results[0], Exception):  # the event itself was refused
            raise results[0]
        for failed in (r for r in results[1:] if isinstance(r, Exception)):
            log.error("event %s of call %s written, but a projection failed: %s", results[0],
                      loggable(event.call_id), failed)
        return results[0]

    async def _landed(self, call_id: str, payload: str) -> str | None:
        """The id of ``payload`` if it is among the call's last entries (written, reply lost)."""
        for entry_id, fields in await self._redis.xrevrange(events_key(call_id), count=20):
            if fields.get("e") == payload:
                return entry_id
        return None

    async def trim_floor(self, before_id: str) -> int:
        """Floor entries older than ``before_id`` removed (retention); the call index with them."""
        await self._redis.zremrangebyscore(CALL_INDEX, "-inf", f"({int(before_id.split('-')[0]) / 1000}")
        return await self._redis.xtrim(FLOOR, minid=before_id, approximate=False)

    async def calls_between(self, first_s: float, last_s: float, limit: int) -> list[str]:
        """The calls that started in [first_s, last_s] (epoch seconds), oldest first."""
        return await self._redis.zrangebyscore(CALL_INDEX, first_s, last_s, start=0, num=limit)

    async def close_clients(self, keep: aioredis.Redis) -> None:
        """Close the reader and writer clients the bus was given (not ``keep``, the shared one)."""
        for client in {id(c): c for c in (self.hub_redis, self._writer) if c is not keep}.values():
            await client.aclose()

    async def call_info(self, call_id: str) -> dict:
        return await self._redis.hgetall(call_key(call_id))

    async def adopt(self, call_id: str, node_id: str, audio_offset: float) -> None:
        """This node carries the call now (bookkeeping that is not an event)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(call_key(call_id), mapping={"node": node_id, "audio_offset": audio_offset})
        pipe.hdel(call_key(call_id), "orphan_since")
        await pipe.execute()

    async def disown(self, call_id: str) -> None:
        """No node carries the call any more (its node restarted without it)."""
        await self._redis.hset(call_key(call_id), "node", "")

    async def orphan_since(self, call_id: str) -> float:
        """When a call was first seen without a live node (set once, kept until it ends)."""
        await self._redis.hsetnx(call_key(call_id), "orphan_since", time.time())
        return float(await self._redis.hget(call_key(call_id), "orphan_since"))

    async def not_orphan(self, call_id: str) -> None:
        await self._redis.hdel(call_key(call_id), "orphan_since")

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
        return await self._read_key_after(events_key(call_id), after, count)

    async def _read_key_after(self, key: str, after: str, count: int) -> list[Event]:
        entries = await self._redis.xrange(key, min=_next_id(after), count=count)
        events = []
        for entry_id, fields in entries:
            try:
                events.append(self._decode(entry_id, fields))
            except (ValueError, KeyError, TypeError) as exc:   # a newer node's event type: skipped
                log.error("skipping entry %s of %r: %s", entry_id, key, exc)
        if entries and not events:                              # never an empty page before the end
            return await self._read_key_after(key, entries[-1][0], count)
        return events

    async def event(self, call_id: str, event_id: str) -> Event | None:
        entries = await self._redis.xrange(events_key(call_id), min=event_id, max=event_id)
        return self._decode(*entries[0]) if entries else None

    async def floor_tail(self, count: int) -> tuple[str, list[Event]]:
        """The floor stream's last id and its last ``count`` events, oldest first."""
        entries = await self._redis.xrevrange(FLOOR, count=max(count, 1))
        last = entries[0][0] if entries else "0-0"
        return last, [self._decode(entry_id, fields) for entry_id, fields in reversed(entries[:count])]

    def follow(self, call_id: str, after: str = "0-0") -> AsyncIterator[Event]:
        """Every event of the call after ``after``, then new ones as they come."""
        return self.hub.follow(events_key(call_id), after)

    def follow_floor(self, after: str) -> AsyncIterator[Event]:
        """Every floor event after ``after`` (ids are the floor stream's), then new ones."""
        return self.hub.follow(FLOOR, after)

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
        self._queue.put_nowait(mask_event(event.model_copy()))    # masked before it may be spilled

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
            outcome = await self._write(event)
            self._queue.task_done()
            if outcome == "refused":           # this event only; the call goes on
                await self._spill([event])
            elif outcome == "unreachable":     # Redis stays away at the end of the call
                await self._spill([event, *self._drain()])
                return
        self._queue.task_done()

    async def _write(self, event: Event) -> str:
        """``written``; ``refused`` (Redis answered with an error, three times); ``unreachable``
        (no Redis for ``give_up_after_s`` once the call is closing)."""
        deadline, backoff, refusals = time.monotonic() + self._give_up_after_s, 0.05, 0
        while True:
            try:
                await self._bus.append(event)
                return "written"
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if self._on_error:
                    self._on_error()
                if self._closing and time.monotonic() > deadline:
                    log.error("redis unreachable for %.0f s: %s", self._give_up_after_s, exc)
                    return "unreachable"
                log.warning("publishing to redis failed (%s); retrying", exc)
            except redis.RedisError as exc:    # out of memory, read-only replica, a bad key...
                if self._on_error:
                    self._on_error()
                refusals += 1
                log.error("redis refused an event of call %s (%s)", loggable(event.call_id), exc)
                if refusals >= 3:
                    return "refused"
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

    async def _spill(self, events: list[Event]) -> None:
        path = await asyncio.to_thread(write_spill, self._spill_dir, events)
        log.error("%d events of call %s spilled to %s", len(events), loggable(events[0].call_id), path)
