"""Retention by expiry: every key family holding call data gets a lifetime; old floor entries
and spill files go."""

import asyncio
import os
import time

import pytest

from ferryman.bus.spill import SpillReplayer, write_spill
from ferryman.bus.streams import FLOOR, EventBus
from ferryman.cases.schema import load_case_file
from ferryman.cases.store import CaseStore, case_key
from ferryman.events import CallEvent, HintEvent, TranscriptEvent
from ferryman.infra.redis import EmbeddedRedis, async_client
from ferryman.records.promises import PromiseLedger
from ferryman.records.retention import Retention
from ferryman.records.summaries import CallSummaries

pytestmark = pytest.mark.integration


def test_every_key_of_an_ended_call_and_its_case_expires(corpus, tmp_path):
    retention = Retention(days=2)
    redis_server = EmbeddedRedis(tmp_path / "own").start()        # its floor stream starts empty

    async def scenario():
        client = async_client(redis_server.url)
        bus = EventBus(client, projections=[CallSummaries(), PromiseLedger(client), retention])
        old_ms = int((time.time() - 3 * 86_400) * 1000)
        await client.xadd(FLOOR, {"e": "{}"}, id=f"{old_ms}-0")     # a floor entry from three days ago
        case = load_case_file(corpus / "d01.json")
        await CaseStore(client, retention.seconds).put(case)
        call_id = "kept-2-days"
        await bus.append(CallEvent(call_id=call_id, state="started", case_id=case.case_id, agent_id="a1"))
        await bus.append(TranscriptEvent(call_id=call_id, channel="customer", final=True, utterance=0, start=0,
                                         end=1, text="我今天先还一万二"))
        await bus.append(HintEvent(call_id=call_id, code="promise_to_pay", severity="info", priority=3, title="承诺",
                                   detail="", suggestion="", evidence={"channel": "customer", "text": "x"},
                                   data={"case_id": case.case_id, "promise": {"amount": 12000, "due": "2026-11-29"}}))
        live_ttl = await client.ttl(f"call:{call_id}:events")
        await bus.append(CallEvent(call_id=call_id, state="ended"))
        ttls = {key: await client.ttl(key) for key in (f"call:{call_id}:events", f"call:{call_id}",
                                                        f"ptp:{case.case_id}", case_key(case.case_id))}
        await bus.trim_floor(retention.oldest_floor_id(time.time()))
        oldest = await client.xrange(FLOOR, count=1)
        await client.aclose()
        return live_ttl, ttls, oldest, old_ms

    try:
        live_ttl, ttls, oldest, old_ms = asyncio.run(scenario())
    finally:
        redis_server.stop()
    assert live_ttl == -1                                      # a live call is never cut short
    assert all(2 * 86_400 - 60 < ttl <= 2 * 86_400 for ttl in ttls.values()), ttls
    assert oldest and int(oldest[0][0].split("-")[0]) > old_ms      # the old one gone, today's kept

    spill = tmp_path / "spill"
    old = write_spill(spill, [CallEvent(call_id="x", state="ended")])
    fresh = write_spill(spill, [CallEvent(call_id="y", state="ended")])
    os.utime(old, (time.time() - 3 * 86_400,) * 2)
    assert SpillReplayer(None, None, spill).forget_older_than(retention.seconds) == 1
    assert not old.exists() and fresh.exists()
