"""The event stream survives a Redis restart: nothing is lost, nothing reordered."""

import asyncio

import pytest
import redis

from ferryman.bus.spill import spill_files
from ferryman.bus.streams import BusSink, EventBus
from ferryman.events import CallEvent, TranscriptEvent
from ferryman.infra.redis import EmbeddedRedis, async_client

pytestmark = pytest.mark.integration


def final(i: int) -> TranscriptEvent:
    return TranscriptEvent(call_id="restart-1", channel="customer", final=True, utterance=i,
                           start=float(i), end=i + 0.5, text=f"第{i}句", t=i + 0.6)


def test_events_published_while_redis_restarts_all_arrive_in_order(tmp_path):
    redis_server = EmbeddedRedis(tmp_path).start()

    async def scenario():
        client = async_client(redis_server.url)
        bus = EventBus(client)
        sink = BusSink(bus, tmp_path / "spill")
        await sink.publish(CallEvent(call_id="restart-1", state="started", case_id="C1", agent_id="a"))
        for i in range(5):
            await sink.publish(final(i))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(redis_server.stop)       # Redis goes away mid-call ...
        for i in range(5, 10):
            await sink.publish(final(i))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(redis_server.start)      # ... and comes back (same port, AOF data)
        await sink.publish(CallEvent(call_id="restart-1", state="ended"))
        await sink.close()
        events = await bus.read_after("restart-1")
        info = await bus.call_info("restart-1")
        await client.aclose()
        return events, info

    events, info = asyncio.run(scenario())
    redis_server.stop()
    texts = [e.text for e in events if e.type == "transcript"]
    assert texts == [f"第{i}句" for i in range(10)]
    assert info["state"] == "ended"
    assert not (tmp_path / "spill").exists()


def test_when_redis_never_returns_the_events_are_spilled_to_disk(tmp_path):
    redis_server = EmbeddedRedis(tmp_path).start()

    async def scenario():
        client = async_client(redis_server.url)
        sink = BusSink(EventBus(client), tmp_path / "spill", give_up_after_s=0.5)
        await sink.publish(final(0))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(redis_server.stop)
        for i in range(1, 4):
            await sink.publish(final(i))
        await sink.close()
        await client.aclose()

    asyncio.run(scenario())
    [spill_file] = spill_files(tmp_path / "spill")
    assert spill_file.name.startswith("restart-1.") and spill_file.stat().st_mode & 0o077 == 0
    spilled = spill_file.read_text(encoding="utf-8").splitlines()
    assert ["第1句" in spilled[0], len(spilled)] == [True, 3]


class ReplyLost:
    """The real client, but the first transaction's reply is lost after Redis ran it (the
    connection dies between EXEC and its answer)."""

    def __init__(self, client):
        self._client, self.lost = client, 0

    def pipeline(self, transaction=True):
        pipe = self._client.pipeline(transaction=transaction)
        real_execute = pipe.execute

        async def execute(raise_on_error=True):
            result = await real_execute(raise_on_error=raise_on_error)
            if not self.lost:
                self.lost += 1
                raise redis.ConnectionError("connection lost before the reply")
            return result

        pipe.execute = execute
        return pipe


def test_an_event_whose_reply_was_lost_is_not_written_twice(redis_server):
    async def scenario():
        client = async_client(redis_server.url)
        writer = ReplyLost(client)
        bus = EventBus(client, writer_redis=writer)
        first_id = await bus.append(final(0).model_copy(update={"call_id": "lost-reply-1"}))
        await bus.append(final(1).model_copy(update={"call_id": "lost-reply-1"}))
        events = await bus.read_after("lost-reply-1")
        await client.aclose()
        return writer.lost, first_id, events

    lost, first_id, events = asyncio.run(scenario())
    assert lost == 1
    assert [e.utterance for e in events] == [0, 1] and events[0].id == first_id
