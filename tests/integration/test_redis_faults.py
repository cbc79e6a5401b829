"""Redis faults beyond a quick restart: the embedded server guarded and kept alive, spilled
events put back exactly once, calls of a dead process never left "started"."""

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time

import httpx
import pytest
import redis

from ferryman.bus.spill import PROGRESS, SpillReplayer, spill_files
from ferryman.bus.streams import BusSink, EventBus
from ferryman.events import CallEvent, TranscriptEvent
from ferryman.infra.redis import EmbeddedRedis, RedisUnavailable, async_client
from support import PublishedReplay, RunningServer, free_port, grants

pytestmark = pytest.mark.integration


def final(call_id: str, i: int) -> TranscriptEvent:
    return TranscriptEvent(call_id=call_id, channel="customer", final=True, utterance=i, start=float(i),
                           end=i + 0.5, text=f"第{i}句", t=i + 0.6)


def test_the_embedded_redis_is_locked_password_protected_and_owner_only(tmp_path):
    first = EmbeddedRedis(tmp_path).start()
    try:
        with pytest.raises(RedisUnavailable, match="in use by another ferryman server"):
            EmbeddedRedis(tmp_path).start()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=first.port).ping()
        assert redis.Redis.from_url(first.url).ping()
        for path in [first.data_dir, *first.data_dir.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        assert first.url.split("@")[0] not in " ".join(open(f"/proc/{first._proc.pid}/cmdline").read().split("\0"))
    finally:
        first.stop()
    EmbeddedRedis(tmp_path).start().stop()          # free again once the owner stopped


def test_the_embedded_redis_dies_with_the_process_that_started_it(tmp_path):
    script = ("import sys, time; sys.path.insert(0, 'server'); from ferryman.infra.redis import EmbeddedRedis; "
              f"r = EmbeddedRedis({str(tmp_path)!r}).start(); print(r.port, r._proc.pid, flush=True); time.sleep(60)")
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    port, redis_pid = map(int, owner.stdout.readline().split())
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{redis_pid}") and \
            "Z" not in open(f"/proc/{redis_pid}/stat").read().split()[2]:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{redis_pid}") or "Z" in open(f"/proc/{redis_pid}/stat").read().split()[2]
    restarted = EmbeddedRedis(tmp_path).start()       # the directory is free, the data is there
    restarted.stop()


def test_spilled_events_are_put_back_in_order_exactly_once(tmp_path):
    redis_server = EmbeddedRedis(tmp_path).start()
    spill = tmp_path / "spill"

    async def scenario():
        client = async_client(redis_server.url)
        bus = EventBus(client)
        sink = BusSink(bus, spill, give_up_after_s=0.3)
        await sink.publish(CallEvent(call_id="spill-1", state="started", case_id="C1", agent_id="a"))
        await sink.flush()
        await asyncio.to_thread(redis_server.stop)          # Redis gone for the rest of the call
        for i in range(6):
            await sink.publish(final("spill-1", i))
        await sink.publish(CallEvent(call_id="spill-1", state="ended"))
        await sink.close()
        files = spill_files(spill)
        await asyncio.to_thread(redis_server.start)
        replayer = SpillReplayer(bus, client, spill)
        # a replay cut short after two events (a crash, another outage): progress is in Redis
        lines = files[0].read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines[:2], start=1):
            await bus.append(TranscriptEvent.model_validate(json.loads(line)),
                             also=lambda pipe, n=n: pipe.hset(PROGRESS, files[0].name, n))
        appended = await replayer.replay()
        again = await replayer.replay()
        events = await bus.read_after("spill-1")
        info = await bus.call_info("spill-1")
        await client.aclose()
        return len(files), appended, again, events, info

    try:
        n_files, appended, again, events, info = asyncio.run(scenario())
    finally:
        redis_server.stop()
    assert n_files == 1 and appended == 5 and again == 0
    assert [e.utterance for e in events if e.type == "transcript"] == list(range(6))
    assert [e.state for e in events if e.type == "call"] == ["started", "ended"] and info["state"] == "ended"
    assert spill_files(spill) == []


def test_an_event_redis_refuses_is_spilled_and_the_call_goes_on(tmp_path, redis_server):
    async def scenario():
        client = async_client(redis_server.url)
        bus = EventBus(client)
        await client.set("call:refuse-1:events", "a string, not a stream")    # every XADD here fails
        sink = BusSink(bus, tmp_path / "spill")
        await sink.publish(final("refuse-1", 0))
        await sink.publish(final("ok-1", 0))
        await sink.close()
        ok = await bus.read_after("ok-1")
        await client.aclose()
        return ok

    ok = asyncio.run(scenario())
    assert len(ok) == 1
    assert len(spill_files(tmp_path / "spill")) == 1


def node_server(data_dir, port, asr):
    from ferryman.settings import Settings
    from ferryman.web.app import create_app

    settings = Settings(data_dir=data_dir, redis_url=None, port=port, audiosocket_port=0, reconnect_grace_s=0.5,
                        tokens=grants())
    return RunningServer(create_app(settings, asr=asr), port)


def test_a_restarted_node_ends_the_calls_its_previous_run_left_started(tmp_path, asr_runtime, corpus):
    port = free_port()
    with node_server(tmp_path, port, asr_runtime) as first:
        svc = first.app.state.services

        async def leave_started():
            call = PublishedReplay(svc.embedded_redis.url, corpus / "d06.json", "left-behind", "a1",
                                   tmp_path / "spill-test", node_id=svc.settings.node_name())
            await call.start()
            await call.redis.aclose()
        asyncio.run(leave_started())
    # the first run is gone without ending the call (as after a SIGKILL); the same node comes back
    with node_server(tmp_path, port, asr_runtime) as second:
        deadline, state = time.monotonic() + 15, None
        while time.monotonic() < deadline:
            state = httpx.get(f"{second.http}/api/calls/left-behind", headers=second.headers()).json()["state"]
            if state != "started":
                break
            time.sleep(0.2)
        coach = httpx.post(f"{second.http}/api/calls/left-behind/coach", json={"text": "注意语气"},
                           headers=second.headers())
    assert state == "dropped"
    assert coach.status_code == 409                 # no actions on an ended call


def test_a_killed_embedded_redis_is_restarted_and_the_server_goes_on(tmp_path, asr_runtime):
    with node_server(tmp_path, free_port(), asr_runtime) as node:
        embedded = node.app.state.services.embedded_redis
        os.kill(embedded._proc.pid, signal.SIGKILL)
        deadline, healthy = time.monotonic() + 15, False
        time.sleep(0.5)
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = httpx.get(f"{node.http}/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert healthy and embedded.running
