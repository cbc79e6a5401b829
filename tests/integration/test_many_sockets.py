"""Hundreds of subscriber sockets on one node during a live call: every socket gets every event
once, health stays green, Redis sees a handful of connections, not one per socket."""

import asyncio
import json

import httpx
import pytest
import redis
import websockets

from ferryman.client import subscribe
from support import PublishedReplay, RunningServer, free_port

pytestmark = pytest.mark.integration
SUPERVISORS = [f"tok-sup-{i}" for i in range(10)]


@pytest.fixture(scope="module")
def crowded(tmp_path_factory, asr_runtime):
    from ferryman.settings import Settings
    from ferryman.web.app import create_app

    grants = {t: {"role": "supervisor", "name": f"组长{i}"} for i, t in enumerate(SUPERVISORS)}
    settings = Settings(data_dir=tmp_path_factory.mktemp("crowd"), redis_url=None, port=free_port(), audiosocket_port=0, tokens=grants,
                        redis_connections=16)
    with RunningServer(create_app(settings, asr=asr_runtime), settings.port) as running:
        yield running


async def listen(url: str, token: str, got: list, stop: asyncio.Event) -> None:
    ws = await subscribe(url, token)
    try:
        while not stop.is_set():
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except asyncio.TimeoutError:
                continue
            got.append(message["id"] if message["type"] != "snapshot" else f"snapshot:{message['id']}")
    except websockets.ConnectionClosedOK:
        return                     # a call socket closes 1000 after the call's end
    except Exception as exc:       # noqa: BLE001 - a socket that fails is what the test counts
        got.append(f"failed: {exc}")
    finally:
        await ws.close()


def test_two_hundred_sockets_each_get_every_event_once(crowded, corpus, tmp_path):
    svc = crowded.app.state.services

    async def scenario():
        call = PublishedReplay(svc.embedded_redis.url, corpus / "d01.json", "crowd-1", "a1", tmp_path / "spill",
                               node_id=svc.settings.node_name())
        await call.start()
        stop, walls, followers, health = asyncio.Event(), [[] for _ in range(100)], [[] for _ in range(100)], []
        tasks = [asyncio.create_task(listen(f"{crowded.ws}/ws/floor", SUPERVISORS[i % 10], walls[i], stop))
                 for i in range(100)]
        tasks += [asyncio.create_task(listen(f"{crowded.ws}/ws/calls/crowd-1?after=0-0", SUPERVISORS[i % 10],
                                             followers[i], stop)) for i in range(100)]
        await asyncio.sleep(2)
        async with httpx.AsyncClient() as http:
            while call.replay.remaining:
                await call.play_until(lambda e: e.final)
                health.append((await http.get(f"{crowded.http}/api/health")).status_code)
        await call.close()
        await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*tasks)
        stream = [e.id for e in await call_events(svc.embedded_redis.url)]
        return walls, followers, health, stream

    walls, followers, health, stream = asyncio.run(scenario())
    assert set(health) == {200}
    wrong = [(len(got), got[:3], got[-3:]) for got in followers if got != stream]
    assert not wrong, (len(stream), stream[:3], stream[-3:], wrong[:3])
    client = redis.Redis.from_url(svc.embedded_redis.url, decode_responses=True)
    for got in walls:
        assert got[0].startswith("snapshot:"), got[:2]
        floor = [entry_id for entry_id, _ in client.xrange("floor:events", min=f"({got[0].split(':', 1)[1]}")]
        assert got[1:] == floor and len(floor) > 10
    # bounded by the pools (16 for reads, 16 for writes, a reader per stream, the test's own), not by sockets
    assert client.info("clients")["connected_clients"] <= 16 + 16 + 2 + 4


async def call_events(url: str):
    from ferryman.bus.streams import EventBus
    from ferryman.infra.redis import async_client

    client = async_client(url)
    try:
        return await EventBus(client).read_after("crowd-1", count=100_000)
    finally:
        await client.aclose()
