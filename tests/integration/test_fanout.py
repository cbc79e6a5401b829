"""One Redis reader per stream, fanned out: many subscribers, few connections, nothing lost,
repeated or held up by a slow subscriber; a Redis restart is ridden out."""

import asyncio

import pytest

from ferryman.bus.streams import EventBus, events_key
from ferryman.events import CallEvent, TranscriptEvent
from ferryman.infra.redis import EmbeddedRedis, async_client

pytestmark = pytest.mark.integration


def final(call_id: str, i: int) -> TranscriptEvent:
    return TranscriptEvent(call_id=call_id, channel="customer", final=True, utterance=i, start=float(i),
                           end=i + 0.5, text=f"第{i}句", t=i + 0.6)


async def collect(bus: EventBus, call_id: str, after: str, n: int, delay: float = 0.0) -> list[int]:
    got = []
    async for event in bus.follow(call_id, after):
        got.append(event.utterance)
        if delay:
            await asyncio.sleep(delay)
        if len(got) == n:
            return got
    return got


async def clients_connected(client) -> int:
    return int((await client.info("clients"))["connected_clients"])


def test_two_hundred_subscribers_share_one_reader_and_each_get_every_event_once(redis_server):
    async def scenario():
        writer, readers = async_client(redis_server.url, 8), async_client(redis_server.url, 4)
        bus = EventBus(writer, reader_redis=readers)
        call_id = "fan-200"
        for i in range(20):                                   # history before anyone follows
            await bus.append(final(call_id, i))
        before = await clients_connected(writer)
        tasks = [asyncio.create_task(collect(bus, call_id, "0-0", 120)) for _ in range(200)]
        await asyncio.sleep(0.5)
        assert bus.hub.readers == 1 and bus.hub.subscribers == 200
        during = await clients_connected(writer)
        for i in range(20, 120):
            await bus.append(final(call_id, i))
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await writer.aclose(), await readers.aclose()
        return results, during - before

    results, extra_connections = asyncio.run(scenario())
    assert all(r == list(range(120)) for r in results)
    assert extra_connections <= 8 + 4    # at most the two pools (catch-up reads, the reader), never 200


def test_a_slow_subscriber_catches_up_from_redis_and_never_holds_up_the_others(redis_server):
    async def scenario():
        writer = async_client(redis_server.url)
        bus = EventBus(writer, subscriber_queue=10)
        call_id = "fan-slow"
        slow = asyncio.create_task(collect(bus, call_id, "0-0", 300, delay=0.005))
        fast = asyncio.create_task(collect(bus, call_id, "0-0", 300))
        await asyncio.sleep(0.3)
        for i in range(300):
            await bus.append(final(call_id, i))
        fast_done = await asyncio.wait_for(fast, 10)
        slow_pending = not slow.done()
        slow_done = await asyncio.wait_for(slow, 30)
        await writer.aclose()
        return fast_done, slow_done, slow_pending

    fast, slow, slow_was_behind = asyncio.run(scenario())
    assert fast == list(range(300)) and slow == list(range(300))
    assert slow_was_behind      # the fast one finished while the slow one was still reading


def test_a_subscriber_that_starts_late_resumes_after_its_id_and_readers_stop_when_no_one_follows(redis_server):
    async def scenario():
        writer = async_client(redis_server.url)
        bus = EventBus(writer)
        call_id = "fan-resume"
        ids = [await bus.append(final(call_id, i)) for i in range(10)]
        got = await asyncio.wait_for(collect(bus, call_id, ids[4], 5), 5)
        await asyncio.sleep(1.5)           # one block period: the reader sees no one left
        readers_left = bus.hub.readers
        await writer.aclose()
        return got, readers_left

    got, readers_left = asyncio.run(scenario())
    assert got == [5, 6, 7, 8, 9] and readers_left == 0


def test_subscribers_ride_out_a_redis_restart(tmp_path):
    redis_server = EmbeddedRedis(tmp_path).start()

    async def scenario():
        writer = async_client(redis_server.url)
        bus = EventBus(writer)
        call_id = "fan-restart"
        follower = asyncio.create_task(collect(bus, call_id, "0-0", 10))
        await asyncio.sleep(0.3)
        for i in range(5):
            await bus.append(final(call_id, i))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(redis_server.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis_server.start)
        for i in range(5, 10):
            await bus.append(final(call_id, i))
        got = await asyncio.wait_for(follower, 20)
        await writer.aclose()
        return got

    try:
        assert asyncio.run(scenario()) == list(range(10))
    finally:
        redis_server.stop()


def test_an_unreadable_stream_ends_its_subscribers_with_an_error(redis_server):
    async def scenario():
        writer = async_client(redis_server.url)
        bus = EventBus(writer)
        await writer.set(events_key("fan-wrongtype"), "not a stream")
        with pytest.raises(Exception, match="WRONGTYPE|unreadable"):
            await asyncio.wait_for(collect(bus, "fan-wrongtype", "0-0", 1), 5)
        await bus.append(CallEvent(call_id="fan-ok", state="started", case_id="C1", agent_id="a"))
        ok = await asyncio.wait_for(collect_types(bus, "fan-ok"), 5)
        await writer.aclose()
        return ok

    assert asyncio.run(scenario()) == ["call"]


async def collect_types(bus: EventBus, call_id: str) -> list[str]:
    async for event in bus.follow(call_id, "0-0"):
        return [event.type]
