"""Full-text search over what was said on calls: an inverted index of words in Redis.

Every final is cut into words with jieba's search mode (``cut_for_search``: 信用卡中心 gives
信用, 中心, 信用卡 and 信用卡中心) and the hints' domain dictionary, so a word is found whether it
was said alone or inside a longer one. A query is cut in the accurate mode; every one of its
words must be among one turn's words (AND, per turn). Both in simplified script, full-width
letters and digits as ASCII, latin in lower case; punctuation and the stop words of
``search.yaml`` left out. Words match whole: 款 does not find 还款, 一万二 does not find 12000.

    {p}t:{word}          sorted set: turn "{call_id} {channel} {utterance}" -> when it was said
    {p}turns:{call_id}   hash: "{channel} {utterance}" -> {"text", "start", "t"} (the snippet)
    {p}call:{call_id}    hash: agent_id, case_id, started_at; first (the call's first final, JSON)
    {p}calls             sorted set: call_id -> when it started
    {p}agent:{agent_id}  sorted set: call_id -> when it started
    {p}case:{case_id}    sorted set: call_id -> when it started
    {p}code:{code}       sorted set: call_id -> when that hint was last raised on the call

``p`` is the key prefix (``srch:``). Written as a projection, in the event's own transaction
and without reading first; every key expires ``keep_s`` after its last write and the sorted
sets drop entries older than that on each write, so nothing depends on a clean-up job, and a
search never looks further back than ``keep_s``.

A search starts from the query's rarest word (its postings in the date window), walks it newest
first and keeps the turns that have the other words and belong to a call the filters allow: one
Lua script, which stops at ``limit`` results or after ``scan_budget`` postings.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import redis.asyncio as aioredis
import yaml
from pydantic import BaseModel, Field, field_validator

from ferryman.events import CallEvent, ContactRuleEvent, Event, HintEvent, TranscriptEvent
from ferryman.zhtext import to_simplified

DAY_S = 86_400
RULES_FILE = Path(__file__).with_name("search.yaml")
_WORDY = re.compile(r"[0-9a-z\u3400-\u9fff]")

# Add ARGV[1] to every key (score ARGV[2]; NX when ARGV[5] is 'NX'), drop entries scored
# below ARGV[3] (past retention) and make the key live ARGV[4] seconds from now.
_POST = """
for _, key in ipairs(KEYS) do
  if ARGV[5] == 'NX' then
    redis.call('ZADD', key, 'NX', ARGV[2], ARGV[1])
  else
    redis.call('ZADD', key, ARGV[2], ARGV[1])
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[3])
  redis.call('EXPIRE', key, ARGV[4])
end
return #KEYS
"""

# KEYS: the n = ARGV[1] sorted sets a result must be in (the driver is the one with the fewest
# entries in [ARGV[2], ARGV[3]]), then the call sets its call must be in. Walks the driver newest
# first; returns {member, score, ...} (at most ARGV[4] results), postings scanned, 1 if the scan
# budget ARGV[5] ran out before the window did.
_WALK = """
local n, lo, hi = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local want, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local driver, size = 1, -1
for i = 1, n do
  local count = redis.call('ZCOUNT', KEYS[i], lo, hi)
  if count == 0 then return {{}, 0, 0} end
  if size < 0 or count < size then driver, size = i, count end
end
local pos = redis.call('ZCOUNT', KEYS[driver], '(' .. hi, '+inf')
local last = pos + size - 1
local found, calls, scanned, page = {}, {}, 0, want
local function allowed(member)
  for i = 1, n do
    if i ~= driver and not redis.call('ZSCORE', KEYS[i], member) then return false end
  end
  local call = string.match(member, '^[^ ]+')
  if calls[call] == nil then
    calls[call] = true
    for i = n + 1, #KEYS do
      if not redis.call('ZSCORE', KEYS[i], call) then calls[call] = false; break end
    end
  end
  return calls[call]
end
while pos <= last and #found < 2 * want and scanned < budget do
  local batch = redis.call('ZREVRANGE', KEYS[driver], pos, math.min(pos + page, last + 1) - 1, 'WITHSCORES')
  for j = 1, #batch, 2 do
    scanned = scanned + 1
    if allowed(batch[j]) then
      found[#found + 1] = batch[j]; found[#found + 1] = batch[j + 1]
      if #found >= 2 * want then break end
    end
  end
  pos = pos + #batch / 2
  page = math.min(page * 2, 1000)
end
return {found, scanned, (#found < 2 * want and pos <= last) and 1 or 0}
"""


class SearchRules(BaseModel):
    stop_words: frozenset[str]
    max_query_terms: int = Field(8, ge=1)


@lru_cache(maxsize=1)
def rules(path: Path = RULES_FILE) -> SearchRules:
    return SearchRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _jieba():
    """The hints' jieba tokenizer: the same domain dictionary, and one copy of the ~65 MB
    dictionary per process (``hints.learned.features`` keeps it)."""
    from ferryman.hints.learned.features import shared_jieba

    return shared_jieba()


def warm_up() -> None:
    """Load jieba and the stop words now (~1 s), not on the first final or query."""
    rules()
    _jieba()


def _words(pieces: Iterable[str]) -> list[str]:
    """Distinct searchable words, in order: lower case, no punctuation or spaces, no stop words."""
    stop, seen = rules().stop_words, {}
    for piece in pieces:
        word = piece.strip().lower()
        if word and word not in stop and _WORDY.search(word):
            seen.setdefault(word, None)
    return list(seen)


def _normalise(text: str) -> str:
    """Simplified script, full-width letters and digits as ASCII."""
    return unicodedata.normalize("NFKC", to_simplified(text))


def index_terms(text: str) -> list[str]:
    """The words a turn is found by (search mode: a long word and the words inside it)."""
    return _words(_jieba().cut_for_search(_normalise(text)))


def query_terms(text: str) -> list[str]:
    """The words a query asks for (accurate mode: each must be among a turn's words)."""
    return _words(_jieba().cut(_normalise(text)))[:rules().max_query_terms]


def _epoch(value: float | datetime | None) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else value


class SearchQuery(BaseModel):
    text: str = Field("", max_length=200, description="words; empty: the calls the filters allow")
    agent_id: str | None = None
    case_id: str | None = None
    code: str | None = Field(None, description="calls that raised this hint code")
    since: float | datetime | None = Field(None, description="epoch seconds or a datetime: said at or after "
                                           "(without words: the call started, or raised the code, at or after)")
    until: float | datetime | None = Field(None, description="said (started, raised the code) at or before")
    limit: int = Field(20, ge=1, le=100)
    agent_scope: str | None = Field(None, description="set for an agent: only that agent's calls")

    _as_epoch = field_validator("since", "until")(_epoch)


class SearchHit(BaseModel):
    call_id: str
    channel: str | None = None
    utterance: int | None = None
    text: str | None = None
    start: float | None = Field(None, description="second of the call the turn started at")
    said_at: float = Field(description="epoch seconds: when the turn was said (without words: when the call "
                                       "started, or last raised the code filtered on)")
    agent_id: str | None = None
    case_id: str | None = None


class SearchResults(BaseModel):
    hits: list[SearchHit] = Field(default_factory=list)
    more: bool = Field(False, description="more results than the limit")
    terms: list[str] = Field(default_factory=list, description="the words searched for (to highlight)")
    scanned: int = 0
    truncated: bool = Field(False, description="the scan budget ran out: older matches may exist")


class SearchIndex:
    def __init__(self, redis_client: aioredis.Redis | None = None, keep_s: int = 180 * DAY_S,
                 prefix: str = "srch:", scan_budget: int = 20_000, clock: Callable[[], float] = time.time):
        self._redis, self.keep_s, self.prefix = redis_client, int(keep_s), prefix
        self._scan_budget, self._clock = scan_budget, clock
        self._walk = redis_client.register_script(_WALK) if redis_client is not None else None

    def key(self, kind: str, name: str = "") -> str:
        return f"{self.prefix}{kind}:{name}" if name else f"{self.prefix}{kind}"

    # -- indexing (a projection: stages writes into the event's transaction) --

    def stage(self, pipe, event: Event) -> None:
        if isinstance(event, TranscriptEvent) and event.final and event.text.strip():
            self._stage_turn(pipe, event)
        elif isinstance(event, CallEvent) and event.state == "started":
            self._stage_call(pipe, event)
        elif isinstance(event, (HintEvent, ContactRuleEvent)):
            self._post(pipe, [self.key("code", event.code)], event.call_id, self._clock())

    def _post(self, pipe, keys: list[str], member: str, score: float, nx: bool = False) -> None:
        pipe.eval(_POST, len(keys), *keys, member, repr(score), repr(score - self.keep_s), self.keep_s,
                  "NX" if nx else "")

    def _stage_call(self, pipe, event: CallEvent) -> None:
        now = self._clock()
        keys = [self.key("calls")]
        keys += [self.key("agent", event.agent_id)] if event.agent_id else []
        keys += [self.key("case", event.case_id)] if event.case_id else []
        self._post(pipe, keys, event.call_id, now, nx=True)
        call = self.key("call", event.call_id)
        pipe.hset(call, mapping={"agent_id": event.agent_id or "", "case_id": event.case_id or "",
                                 "started_at": repr(now)})
        pipe.expire(call, self.keep_s)

    def _stage_turn(self, pipe, event: TranscriptEvent) -> None:
        now, turn = self._clock(), f"{event.channel} {event.utterance}"
        if terms := index_terms(event.text):
            self._post(pipe, [self.key("t", term) for term in terms], f"{event.call_id} {turn}", now)
        said = {"text": event.text, "start": event.start, "t": event.t}
        turns, call = self.key("turns", event.call_id), self.key("call", event.call_id)
        pipe.hset(turns, turn, json.dumps(said, ensure_ascii=False))
        pipe.expire(turns, self.keep_s)
        first = {"channel": event.channel, "utterance": event.utterance, "said_at": now, **said}
        pipe.hsetnx(call, "first", json.dumps(first, ensure_ascii=False))
        pipe.expire(call, self.keep_s)

    # -- searching --

    async def search(self, query: SearchQuery) -> SearchResults:
        terms = query_terms(query.text) if query.text.strip() else []
        calls = self._call_sets(query)
        if (query.text.strip() and not terms) or calls is None:
            return SearchResults(terms=terms)
        lo, hi = self._window(query)
        # with words: walk the turns of the rarest word; without: the calls of the smallest call set
        sets = [self.key("t", term) for term in terms] if terms else calls or [self.key("calls")]
        checks = calls if terms else []
        found, scanned, truncated = await self._walk(
            keys=[*sets, *checks], args=[len(sets), repr(lo), repr(hi), query.limit + 1, self._scan_budget])
        pairs = [(found[i], float(found[i + 1])) for i in range(0, len(found), 2)]
        hits = await (self._turn_hits(pairs[:query.limit]) if terms else self._call_hits(pairs[:query.limit]))
        return SearchResults(hits=hits, more=len(pairs) > query.limit, terms=terms, scanned=scanned,
                             truncated=bool(truncated))

    def _call_sets(self, query: SearchQuery) -> list[str] | None:
        """The call sets a result's call must be in; None when the filters contradict each other."""
        agents = {a for a in (query.agent_scope, query.agent_id) if a}
        if len(agents) > 1:
            return None
        sets = [self.key("agent", a) for a in agents]
        sets += [self.key("case", query.case_id)] if query.case_id else []
        return sets + ([self.key("code", query.code)] if query.code else [])

    def _window(self, query: SearchQuery) -> tuple[float, float]:
        oldest = self._clock() - self.keep_s
        lo = max(oldest, query.since) if query.since is not None else oldest
        return lo, query.until if query.until is not None else float("inf")

    async def _turn_hits(self, pairs: list[tuple[str, float]]) -> list[SearchHit]:
        parsed = [member.split(" ") for member, _ in pairs]
        async with self._redis.pipeline(transaction=False) as pipe:
            for call_id, channel, utterance in parsed:
                pipe.hget(self.key("turns", call_id), f"{channel} {utterance}")
                pipe.hmget(self.key("call", call_id), "agent_id", "case_id")
            replies = await pipe.execute()
        hits = []
        for (call_id, channel, utterance), (_, said_at), said, (agent_id, case_id) in zip(
                parsed, pairs, replies[::2], replies[1::2]):
            said = json.loads(said) if said else {}
            hits.append(SearchHit(call_id=call_id, channel=channel, utterance=int(utterance), text=said.get("text"),
                                  start=said.get("start"), said_at=said_at, agent_id=agent_id or None,
                                  case_id=case_id or None))
        return hits

    async def _call_hits(self, pairs: list[tuple[str, float]]) -> list[SearchHit]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for call_id, _ in pairs:
                pipe.hmget(self.key("call", call_id), "agent_id", "case_id", "first")
            replies = await pipe.execute()
        hits = []
        for (call_id, said_at), (agent_id, case_id, first) in zip(pairs, replies):
            first = json.loads(first) if first else {}
            hits.append(SearchHit(call_id=call_id, channel=first.get("channel"), utterance=first.get("utterance"),
                                  text=first.get("text"), start=first.get("start"), said_at=said_at,
                                  agent_id=agent_id or None, case_id=case_id or None))
        return hits
