import asyncio
import threading
import time

from ferryman.asr.scheduler import LATER, URGENT, DecodeScheduler


async def test_finals_jump_the_queue_and_cancelled_jobs_never_run():
    scheduler = DecodeScheduler(workers=1)
    ran: list[str] = []
    gate = threading.Event()

    def job(name):
        if name == "blocker":
            gate.wait(5)
        ran.append(name)
        return name

    blocker = asyncio.create_task(scheduler.run(URGENT, job, "blocker"))
    await asyncio.sleep(0.05)
    partial = asyncio.create_task(scheduler.run(LATER, job, "partial"))
    stale = asyncio.create_task(scheduler.run(LATER, job, "stale"))
    final = asyncio.create_task(scheduler.run(URGENT, job, "final"))
    await asyncio.sleep(0.05)
    stale.cancel()
    gate.set()
    assert await final == "final" and await partial == "partial" and await blocker == "blocker"
    assert ran == ["blocker", "final", "partial"]
    scheduler.shutdown()


async def test_a_caller_that_stops_waiting_keeps_the_slot_until_the_thread_is_done():
    scheduler = DecodeScheduler(workers=1)
    running = []

    def slow(name):
        running.append(name)
        assert len(running) == 1, "two decodes ran at once"
        time.sleep(0.1)
        running.remove(name)

    first = asyncio.create_task(scheduler.run(URGENT, slow, "a"))
    await asyncio.sleep(0.02)
    first.cancel()
    await scheduler.run(URGENT, slow, "b")
    scheduler.shutdown()
