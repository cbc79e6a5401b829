"""Runs blocking decodes on worker threads, finals before partials, partials shed by load.

A live floor has more speech than cores. Finals (and speculative finals) must never wait
behind provisional partials, so waiting jobs are ordered by priority. Partials are worth
showing only when they are fresh and cost nobody anything, so a partial is *shed* — never
decoded — when enough partials already wait to fill the next free workers, when a final is
waiting at the moment its turn comes, when it waited longer than ``partial_max_wait_s``, or when
its utterance no longer wants it (finalised meanwhile). The counters say how often.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")

URGENT = 0    # finals and speculative finals
LATER = 1     # partials


class Shed(Exception):
    """A partial decode that was not run: the node had better things to do, or it is stale."""


class DecodeScheduler:
    def __init__(self, workers: int = 1, partial_max_wait_s: float = 0.5):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr")
        self._free = workers
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._max_wait = partial_max_wait_s
        self.stats: Counter[str] = Counter()       # decodes_final, decodes_partial, partials_shed

    @property
    def queue_depth(self) -> int:
        return sum(1 for _, _, turn in self._waiting if not turn.done())

    def _urgent_waiting(self) -> bool:
        return any(p == URGENT and not turn.done() for p, _, turn in self._waiting)

    async def run(self, priority: int, fn: Callable[..., T], *args, wanted: Callable[[], bool] | None = None) -> T:
        """Run ``fn(*args)`` on a worker. A partial (``LATER``) may raise ``Shed`` instead."""
        if priority == LATER and sum(1 for p, _, t in self._waiting if p == LATER and not t.done()) >= self.workers:
            self._shed()
        queued_at = time.monotonic()
        await self._acquire(priority)
        if priority == LATER and (self._urgent_waiting() or time.monotonic() - queued_at > self._max_wait
                                  or (wanted is not None and not wanted())):
            self._release()
            self._shed()
        self.stats["decodes_final" if priority == URGENT else "decodes_partial"] += 1
        job = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        # The slot is free when the thread is, not when the caller stops waiting.
        job.add_done_callback(lambda _: self._release())
        return await asyncio.shield(job)

    def _shed(self) -> None:
        self.stats["partials_shed"] += 1
        raise Shed()

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
