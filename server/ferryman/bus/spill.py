"""Events Redis could not take, kept on disk, and put back when it returns.

    <data_dir>/spill/<call_id>.<ns>.jsonl     one file per spill, complete once it has its name
                                              (written under a temporary name, then renamed)

Each node replays its own spill directory whenever Redis answers (at start and on every
heartbeat): files oldest first, lines in order, each event appended together with the count of
lines done (``spill:replayed``, one field per file) in one transaction, so a replay cut short
by a crash or another outage resumes where it stopped: every event lands exactly once. A
replayed file is deleted; one Redis refuses (not an outage: an error) is renamed ``.rejected``
and left for a person.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from ferryman.events import Event, parse_event
from ferryman.ids import loggable

if TYPE_CHECKING:
    from ferryman.bus.streams import EventBus

log = logging.getLogger(__name__)
PROGRESS = "spill:replayed"


def write_spill(spill_dir: Path, events: list[Event]) -> Path:
    """A new owner-only spill file holding ``events`` (all of one call), in order."""
    spill_dir = Path(spill_dir)
    spill_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = spill_dir / f"{events[0].call_id}.{time.time_ns()}.jsonl"
    partial = path.with_suffix(".part")
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as fh:
        for event in events:
            fh.write(event.to_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    partial.rename(path)
    return path


def spill_files(spill_dir: Path) -> list[Path]:
    """Complete spill files, oldest first."""
    if not Path(spill_dir).is_dir():
        return []
    return sorted(Path(spill_dir).glob("*.jsonl"), key=lambda p: (_written_ns(p), p.name))


def _written_ns(path: Path) -> int:
    tail = path.stem.rpartition(".")[2]
    return int(tail) if tail.isdigit() else 0     # files of older versions: <call_id>.jsonl


class SpillReplayer:
    def __init__(self, bus: "EventBus", redis_client, spill_dir: Path):
        self._bus, self._redis, self._dir = bus, redis_client, Path(spill_dir)

    async def replay(self) -> int:
        """Put every spilled event back (exactly once); returns how many were appended now."""
        appended = 0
        for path in spill_files(self._dir):
            try:
                appended += await self._replay_file(path)
            except (redis.ConnectionError, redis.TimeoutError):
                break                       # Redis went away again: next time, from where we are
            except redis.RedisError as exc:  # refused again: set aside for a person, not retried forever
                rejected = path.with_suffix(".rejected")
                path.rename(rejected)
                log.error("replaying %s: %s; set aside as %s", path.name, exc, rejected.name)
        return appended

    def forget_older_than(self, seconds: float) -> int:
        """Spill files (replayed or set aside) past retention: deleted."""
        if not self._dir.is_dir():
            return 0
        cutoff, removed = time.time() - seconds, 0
        for path in [*self._dir.glob("*.jsonl"), *self._dir.glob("*.rejected")]:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    async def _replay_file(self, path: Path) -> int:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        lines = [line for line in text.splitlines() if line.strip()]
        done = int(await self._redis.hget(PROGRESS, path.name) or 0)
        for number, line in enumerate(lines[done:], start=done + 1):
            try:
                event = parse_event(json.loads(line))
            except ValueError as exc:
                log.error("spill %s line %d is not an event (%s); skipped", path.name, number, exc)
                continue
            await self._bus.append(event, also=lambda pipe, n=number: pipe.hset(PROGRESS, path.name, n))
        path.unlink()
        await self._redis.hdel(PROGRESS, path.name)
        if lines[done:]:
            log.warning("replayed %d spilled events of call %s", len(lines) - done,
                        loggable(path.stem.rpartition(".")[0] or path.stem))
        return len(lines) - done
