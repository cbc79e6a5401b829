"""One reader per followed stream on this node, fanned out in-process to every subscriber.

A floor of agents and supervisors opens hundreds of sockets; if each held a Redis connection in a
blocking ``XREAD`` the connection pool would run dry long before the CPU does. Here a stream that
any local socket follows has exactly one reader (on its own bounded pool of blocking
connections); it puts what it reads into each subscriber's own bounded queue and never waits for
a subscriber.

A subscriber first reads what it missed (``XRANGE`` after the id it gives), then takes the
reader's events, skipping any it already has: ids only grow, so nothing is lost or repeated.
A subscriber too slow for its queue is not waited for: it is marked, and catches up from Redis
itself (from the last id it delivered) before taking the queue again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

import redis
import redis.asyncio as aioredis

from ferryman.events import Event

log = logging.getLogger(__name__)

ReadAfter = Callable[[str, str, int], Awaitable[list[Event]]]   # (key, after, count) -> events
Decode = Callable[[str, dict], Event]


class StreamFailed(Exception):
    """The stream cannot be read (a Redis error that waiting does not cure)."""


def id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue
    overflowed: bool = False
    failure: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.wake.set()

    def fail(self, reason: str) -> None:
        self.failure = reason
        self.wake.set()


@dataclass(eq=False)
class _Reader:
    key: str
    subscribers: set[_Subscriber] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None


class StreamHub:
    """``follow(key, after)``: every event of stream ``key`` after ``after``, then new ones."""

    def __init__(self, reader_redis: aioredis.Redis, read_after: ReadAfter, decode: Decode,
                 block_ms: int = 1000, queue_size: int = 1000, on_error: Callable[[], None] | None = None):
        self._redis = reader_redis
        self._read_after, self._decode = read_after, decode
        self._block_ms, self._queue_size = block_ms, queue_size
        self._on_error = on_error
        self._readers: dict[str, _Reader] = {}

    @property
    def readers(self) -> int:
        return len(self._readers)

    @property
    def subscribers(self) -> int:
        return sum(len(r.subscribers) for r in self._readers.values())

    async def follow(self, key: str, after: str) -> AsyncIterator[Event]:
        subscriber = _Subscriber(asyncio.Queue(self._queue_size))
        reader = self._readers.get(key) or self._start_reader(key)
        reader.subscribers.add(subscriber)
        try:
            await reader.ready.wait()
            last = after
            # the reader delivers everything after its start; this reads up to (at least) there
            async for event in self._catch_up(key, last, subscriber):
                last = event.id
                yield event
            while True:
                if subscriber.failure:
                    raise StreamFailed(subscriber.failure)
                if subscriber.overflowed:
                    subscriber.overflowed = False
                    _empty(subscriber.queue)
                    async for event in self._catch_up(key, last, subscriber):
                        last = event.id
                        yield event
                    continue
                event = await self._next(subscriber)
                if event is not None and id_key(event.id) > id_key(last):
                    last = event.id
                    yield event
        finally:
            reader.subscribers.discard(subscriber)

    async def close(self) -> None:
        tasks = [r.task for r in self._readers.values() if r.task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._readers.clear()

    async def _catch_up(self, key: str, after: str, subscriber: _Subscriber) -> AsyncIterator[Event]:
        if subscriber.failure:
            raise StreamFailed(subscriber.failure)
        while batch := await self._read_after(key, after, 500):
            for event in batch:
                yield event
            after = batch[-1].id
            if subscriber.failure:
                return

    @staticmethod
    async def _next(subscriber: _Subscriber) -> Event | None:
        """The next queued event, or None when woken for an overflow or a failure."""
        if not subscriber.queue.empty():
            return subscriber.queue.get_nowait()
        subscriber.wake.clear()
        getter = asyncio.ensure_future(subscriber.queue.get())
        woken = asyncio.ensure_future(subscriber.wake.wait())
        try:
            done, _ = await asyncio.wait({getter, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None

    def _start_reader(self, key: str) -> _Reader:
        reader = self._readers[key] = _Reader(key)
        reader.task = asyncio.create_task(self._read(reader), name=f"stream-reader:{key}")
        return reader

    async def _read(self, reader: _Reader) -> None:
        try:
            last = await self._retrying(self._tail, reader.key)
            reader.ready.set()
            while reader.subscribers:
                reply = await self._retrying(self._xread, reader.key, last)
                for _, entries in reply or []:
                    for entry_id, fields in entries:
                        last = entry_id
                        event = self._decoded(reader.key, entry_id, fields)
                        for subscriber in tuple(reader.subscribers) if event is not None else ():
                            subscriber.offer(event)
        except BaseException as exc:       # whatever ends the reader ends its subscribers, said so
            if not isinstance(exc, asyncio.CancelledError):
                log.error("reading %r failed: %s", reader.key, exc)
            for subscriber in tuple(reader.subscribers):
                subscriber.fail(f"event stream unreadable: {type(exc).__name__}")
            reader.ready.set()
            if not isinstance(exc, Exception):
                raise
        finally:
            # no await between the last check of subscribers and this: a newcomer either saw
            # this reader still registered (and was served) or starts a new one
            if self._readers.get(reader.key) is reader:
                del self._readers[reader.key]

    def _decoded(self, key: str, entry_id: str, fields: dict) -> Event | None:
        """The entry as an event; one this node cannot read (a newer node's type) is skipped."""
        try:
            return self._decode(entry_id, fields)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("skipping entry %s of %r: %s", entry_id, key, exc)
            return None

    async def _tail(self, key: str) -> str:
        entries = await self._redis.xrevrange(key, count=1)
        return entries[0][0] if entries else "0-0"

    async def _xread(self, key: str, last: str):
        return await self._redis.xread({key: last}, block=self._block_ms, count=500)

    async def _retrying(self, command, *args):
        """Rides out a Redis restart or a busy pool; other Redis errors are the stream's end."""
        backoff = 0.1
        while True:
            try:
                return await command(*args)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if self._on_error:
                    self._on_error()
                log.warning("reading %r: %s; retrying in %.1f s", args[0], exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)


def _empty(queue: asyncio.Queue) -> None:
    while not queue.empty():
        queue.get_nowait()
