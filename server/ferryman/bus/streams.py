"""Per-call event streams in Redis, and the call index.

    call:{call_id}:events   XADD-ed events ({"e": <event json>}), capped at ~maxlen
    call:{call_id}          hash: case_id, agent_id, state, started_at, ended_at, and the floor
                            summary: mood_score, mood_level, last_hint, gravest_hint (JSON)
    calls:live              set of call ids in progress
    floor:events            every call's floor events (call, hint, mood, coach, ack, promise):
                            what the supervisor wall and the agents' call lists follow
    ptp:{case_id}           list of promises to pay (JSON): captured with their hint, then
                            confirmed or corrected by the agent

A subscriber gives the last stream id it saw and receives everything after it, so a socket
that reconnects misses nothing and repeats nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import AsyncIterator, Callable

import redis
import redis.asyncio as aioredis

from ferryman.events import CallEvent, Event, HintEvent, MoodEvent, PromiseEvent, parse_event

log = logging.getLogger(__name__)
LIVE = "calls:live"
FLOOR = "floor:events"
FLOOR_TYPES = ("call", "hint", "mood", "coach", "ack", "promise")
TERMINAL_STATES = ("ended", "dropped")
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def gravity(hint: dict) -> tuple[int, int]:
    """Graver first: severity, then priority (1 is the most urgent)."""
    return SEVERITY_RANK.get(hint.get("severity", "info"), 0), -int(hint.get("priority", 9))


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
    def __init__(self, redis_client: aioredis.Redis, maxlen: int = 20000, floor_maxlen: int = 50000):
        self._redis = redis_client
        self._maxlen, self._floor_maxlen = maxlen, floor_maxlen

    async def append(self, event: Event) -> str:
        """Write one event with everything derived from it (call index, floor, summary,
        promises) in one transaction; returns the event's id in the call's stream."""
        gravest = await self._redis.hget(call_key(event.call_id), "gravest_hint") \
            if isinstance(event, HintEvent) else None
        pipe = self._redis.pipeline(transaction=True)
        payload = event.to_json()
        pipe.xadd(events_key(event.call_id), {"e": payload}, maxlen=self._maxlen, approximate=True)
        if event.type in FLOOR_TYPES:
            pipe.xadd(FLOOR, {"e": payload}, maxlen=self._floor_maxlen, approximate=True)
        if isinstance(event, CallEvent):
            self._index_call(pipe, event)
        elif isinstance(event, MoodEvent):
            pipe.hset(call_key(event.call_id), mapping={"mood_score": event.score, "mood_level": event.level})
        elif isinstance(event, HintEvent):
            self._summarise_hint(pipe, event, payload, gravest)
        elif isinstance(event, PromiseEvent):
            record = {"status": event.status, "amount": event.amount, "due": event.due, "hint_id": event.hint_id,
                      "by": event.by, "call_id": event.call_id, "t": event.t}
            pipe.rpush(promises_key(event.case_id), json.dumps(record, ensure_ascii=False))
        results = await pipe.execute()
        return results[0]

    def _summarise_hint(self, pipe, event: HintEvent, payload: str, gravest: str | None) -> None:
        summary = {"last_hint": payload}
        if gravest is None or gravity(event.model_dump()) > gravity(json.loads(gravest)):
            summary["gravest_hint"] = payload
        pipe.hset(call_key(event.call_id), mapping=summary)
        if event.code == "promise_to_pay":
            record = {"status": "captured", **event.data["promise"], "call_id": event.call_id, "t": event.t}
            pipe.rpush(promises_key(event.data["case_id"]), json.dumps(record, ensure_ascii=False))

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

    async def set_call_fields(self, call_id: str, fields: dict) -> None:
        """Bookkeeping of a live call that is not an event (which node carries it, its audio offset)."""
        await self._redis.hset(call_key(call_id), mapping=fields)

    async def history(self, call_id: str) -> list[Event]:
        """Every event of the call so far, oldest first."""
        events, after = [], "0-0"
        while batch := await self.read_after(call_id, after, count=2000):
            events += batch
            after = batch[-1].id
        return events

    async def promises(self, case_id: str) -> list[dict]:
        return [json.loads(item) for item in await self._redis.lrange(promises_key(case_id), 0, -1)]

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
