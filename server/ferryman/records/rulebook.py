"""A team lead's edits of the hint rules, versioned in Redis and used by the next calls.

    rulebook:seq       the last version number given
    rulebook:versions  hash: version -> JSON {version, file, text, by, at, note, restores}
    rulebook:current   hash: file -> the version in force (no entry: the package's own file)

Only the ``hints.rules.EDITABLE`` files. A save is validated against the whole rule set before
it lands; a roll-back is a new version with an older text (or the package's), so the log stays
the full story of who changed what, when. Every node reads the versions in force at each call
start (an HGETALL and an HMGET of those versions) and compiles a set of texts once.
"""

from __future__ import annotations

import json
import logging
import time

import redis.asyncio as aioredis

from ferryman.hints.rules import EDITABLE, RULES_DIR, Rules, RulesError, rules_with

log = logging.getLogger(__name__)
SEQ, VERSIONS, CURRENT = "rulebook:seq", "rulebook:versions", "rulebook:current"


class RuleBook:
    def __init__(self, client: aioredis.Redis):
        self._redis = client

    async def in_force(self) -> dict[str, dict]:
        """file -> the version in force (only files a lead has changed)."""
        current = await self._redis.hgetall(CURRENT)
        if not current:
            return {}
        files, versions = zip(*current.items())
        entries = await self._redis.hmget(VERSIONS, list(versions))
        return {file: json.loads(raw) for file, raw in zip(files, entries) if raw}

    async def overrides(self) -> dict[str, str]:
        return {file: entry["text"] for file, entry in (await self.in_force()).items() if entry["text"] is not None}

    async def rules(self) -> Rules:
        """The rules a call starting now runs with. An edit that no longer loads (saved by an older
        release of the node, say) is left out — that file as the package has it — and logged, so
        one stale version never stops calls from starting."""
        overrides = await self.overrides()
        try:
            return rules_with(overrides)
        except RulesError:
            usable = {}
            for file, text in overrides.items():
                try:
                    rules_with({**usable, file: text})
                    usable[file] = text
                except RulesError as exc:
                    log.error("the team lead's %s does not load here, the package's is used: %s", file, exc)
            return rules_with(usable)

    async def text(self, file: str) -> tuple[str, int | None]:
        """The text in force for ``file`` and its version (None: the package's)."""
        _check(file)
        entry = (await self.in_force()).get(file)
        if entry is None or entry["text"] is None:
            return (RULES_DIR / file).read_text(encoding="utf-8"), None
        return entry["text"], entry["version"]

    async def save(self, file: str, text: str, by: str, note: str = "") -> dict:
        """A new version of ``file`` (``RulesError`` if the rules would not load with it)."""
        _check(file)
        rules_with({**await self.overrides(), file: text})
        return await self._record(file, text, by, note)

    async def roll_back(self, file: str, version: int, by: str) -> dict:
        """``file`` as it was at ``version`` (0, or a version that restored it: the package's own
        file), as a new version."""
        _check(file)
        raw = await self._redis.hget(VERSIONS, version) if version else None
        old = json.loads(raw) if raw else None
        if version and (old is None or old["file"] != file):
            raise KeyError(f"{file} has no version {version}")
        if version == 0 or old["text"] is None:
            return await self._record(file, None, by, "恢复为系统默认", restores=0)
        rules_with({**await self.overrides(), file: old["text"]})
        return await self._record(file, old["text"], by, f"回滚到版本 {version}", restores=version)

    async def history(self, file: str | None = None) -> list[dict]:
        """Every version, oldest first (the console's list)."""
        entries = sorted((json.loads(raw) for raw in (await self._redis.hgetall(VERSIONS)).values()),
                         key=lambda e: e["version"])
        return [e for e in entries if file is None or e["file"] == file]

    async def _record(self, file: str, text: str | None, by: str, note: str, restores: int | None = None) -> dict:
        version = await self._redis.incr(SEQ)
        entry = {"version": version, "file": file, "text": text, "by": by, "at": time.time(), "note": note,
                 "restores": restores}
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(VERSIONS, version, json.dumps(entry, ensure_ascii=False))
        pipe.hset(CURRENT, file, version)
        await pipe.execute()
        return entry


def _check(file: str) -> None:
    if file not in EDITABLE:
        raise RulesError(f"not a file a team lead edits: {file} (editable: {', '.join(EDITABLE)})")
