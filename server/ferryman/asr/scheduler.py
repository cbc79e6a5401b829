"""Runs blocking decodes on worker threads, finals before partials.

A live floor has more speech than cores. Finals (and speculative finals) must never wait
behind provisional partials, and a partial that is still queued when its utterance ends is
worthless, so waiting jobs are ordered by priority and can be cancelled before they start.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")

URGENT = 0    # finals and speculative finals
LATER = 1     # partials


class DecodeScheduler:
    def __init__(self, workers: int = 1):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr")
        self._free = workers
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()

    async def run(self, priority: int, fn: Callable[..., T], *args) -> T:
        await self._acquire(priority)
        job = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        # The slot is free when the thread is, not when the caller stops waiting.
        job.add_done_callback(lambda _: self._release())
        return await asyncio.shield(job)

    async def _acquire(self, priority: int) -> None:
        if self._free and not self._waiting:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._seq), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # we were handed the slot just as we gave up: pass it on
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
