#!/usr/bin/env python3
"""Transcript search (``aftercall/search.py``) at scale: build time, query latency, index size.

Generates N calls (deterministic seed) from real sentences — the corpus's reference turns
(``../shared/corpus/calls``), the fresh calls written blind (``benchmarks/data/fresh_calls``) and
the founding story — recombined 20–40 finals a call, agents a1..a40, a case each (some cases
called several times), start times over the last 180 days, some hint codes, and one turn in
six carrying an amount in digits (the rare words). Indexes them through the real ``stage()`` in
one MULTI transaction per call on a redis-server of its own, then times a mix of queries one
at a time (client side: segmentation, the Lua walk, the snippet fetch) and checks a sample of
them against a brute-force scan of the generated turns.

    .venv/bin/python benchmarks/search.py              # 10,000 calls, ~3 min on 2 cores
    .venv/bin/python benchmarks/search.py --calls 500  # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "calls"
FRESH = ROOT / "benchmarks" / "data" / "fresh_calls"
STORY = ROOT.parent / "shared" / "seed" / "founding-story.zh.txt"
DAY_S = 86_400
CODES = ["avoid_topic", "escalation", "complaint_risk", "hardship", "offer_plan", "card_status",
         "debt_breakdown", "promise_to_pay", "agent_compliance", "third_party", "disclosure_missing"]
KINDS = ["1 word, common", "1 word, rare", "2 words", "word + agent", "word + 7 days", "word + code",
         "filters only"]
WORST = "2 common words, rarely together"


@dataclass
class Turn:
    call_id: str
    channel: str
    utterance: int
    text: str
    start: float
    said_at: float


@dataclass
class Call:
    call_id: str
    agent_id: str
    case_id: str
    started_at: float
    turns: list[Turn]
    codes: list[str]


def sentences() -> dict[str, list[str]]:
    """Reference turns by channel; the story's sentences go to either side."""
    pools: dict[str, list[str]] = {"agent": [], "customer": []}
    for path in sorted(CORPUS.glob("*.json")) + sorted(FRESH.glob("*.json")):
        for turn in json.loads(path.read_text(encoding="utf-8"))["turns"]:
            pools["agent" if turn["spk"] == "A" else "customer"].append(turn["text"])
    story = [s.strip() for s in re.split(r"(?<=[。！？；\n])", STORY.read_text(encoding="utf-8"))]
    for i, sentence in enumerate(s for s in story if 6 <= len(s) <= 80):
        pools[("agent", "customer")[i % 2]].append(sentence)
    return pools


def generate(n_calls: int, seed: int, now: float) -> list[Call]:
    rng, pools = random.Random(seed), sentences()
    starts = sorted(now - 180 * DAY_S + rng.random() * (180 * DAY_S - 3600) for _ in range(n_calls))
    calls = []
    for i, started_at in enumerate(starts):
        call_id = f"bench-{i:06d}"
        turns, t, counters = [], 2.0, {"agent": 0, "customer": 0}
        for k in range(rng.randint(20, 40)):
            channel = "agent" if k % 2 == 0 or rng.random() < 0.15 else "customer"
            text = rng.choice(pools[channel])
            if rng.random() < 1 / 6:
                text += f"金额是{rng.randint(1000, 99999)}元。"
            length = 1.0 + len(text) * 0.22
            turns.append(Turn(call_id, channel, counters[channel], text, t, started_at + t + length))
            counters[channel] += 1
            t += length + rng.uniform(0.3, 1.5)
        codes = rng.sample(CODES, rng.choice([0, 1, 1, 2, 3]))
        calls.append(Call(call_id, f"a{rng.randint(1, 40)}", f"K{rng.randint(1, n_calls // 3 + 1):05d}",
                          started_at, turns, codes))
    return calls


def events(call: Call):
    """(when, event) of one call, in order: started, the finals (with a partial before each), hints."""
    from ferryman.events import CallEvent, HintEvent, TranscriptEvent

    yield call.started_at, CallEvent(call_id=call.call_id, state="started", agent_id=call.agent_id,
                                     case_id=call.case_id)
    hints = {round(len(call.turns) * (j + 1) / (len(call.codes) + 1)): code for j, code in enumerate(call.codes)}
    for k, turn in enumerate(call.turns):
        common = dict(call_id=call.call_id, channel=turn.channel, utterance=turn.utterance, start=turn.start,
                      end=turn.said_at - call.started_at, t=turn.said_at - call.started_at + 0.4)
        yield turn.said_at - 0.5, TranscriptEvent(final=False, text=turn.text[: len(turn.text) // 2], **common)
        yield turn.said_at, TranscriptEvent(final=True, text=turn.text, **common)
        if k in hints:
            yield turn.said_at + 0.3, HintEvent(call_id=call.call_id, code=hints[k], severity="info", priority=3,
                                                title="提示", detail="", suggestion="",
                                                evidence={"channel": turn.channel, "text": turn.text})


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def build(client, index, clock: Clock, calls: list[Call]) -> float:
    """Every call's events through ``stage()``, one transaction per call; returns seconds."""
    started = time.perf_counter()
    for call in calls:
        pipe = client.pipeline(transaction=True)
        for when, event in events(call):
            clock.now = when
            index.stage(pipe, event)
        await pipe.execute()
    return time.perf_counter() - started


async def posting_sizes(client, index) -> Counter:
    sizes: Counter = Counter()
    keys = [key async for key in client.scan_iter(match=index.key("t", "*"), count=5000)]
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.zcard(key)
        for key, size in zip(keys, await pipe.execute()):
            sizes[key[len(index.prefix) + 2:]] = size
    return sizes


def single_words(sizes: Counter) -> list[str]:
    """Words a query of that word alone asks for as is (not cut again differently)."""
    from ferryman.aftercall.search import query_terms

    return [w for w in sizes if query_terms(w) == [w]]


def make_queries(calls: list[Call], sizes: Counter, now: float, rng: random.Random, per_kind: int) -> list[tuple]:
    from ferryman.aftercall.search import SearchQuery, index_terms, query_terms

    words = single_words(sizes)
    common = sorted(words, key=lambda w: -sizes[w])[:50]
    rare = [w for w in words if sizes[w] <= 20] or common
    turns = [t for c in calls for t in c.turns]
    together, top = Counter(), set(common[:25])
    for turn in rng.sample(turns, min(5000, len(turns))):
        terms = [t for t in index_terms(turn.text) if t in top]
        together.update(frozenset(p) for p in _pairs(terms))
    sparse = [(a, b) for a in common[:25] for b in common[:25] if a < b and together[frozenset((a, b))] <= 1]
    out = []
    for _ in range(per_kind):
        word, call = rng.choice(common), rng.choice(calls)
        turn = rng.choice([t for t in call.turns if len(query_terms(t.text)) >= 2] or call.turns)
        pair = " ".join(rng.sample(query_terms(turn.text), min(2, len(query_terms(turn.text)))))
        since = now - rng.uniform(7, 180) * DAY_S
        out += [("1 word, common", SearchQuery(text=word)),
                ("1 word, rare", SearchQuery(text=rng.choice(rare))),
                ("2 words", SearchQuery(text=pair)),
                ("word + agent", SearchQuery(text=word, agent_scope=f"a{rng.randint(1, 40)}")),
                ("word + 7 days", SearchQuery(text=word, since=since, until=since + 7 * DAY_S)),
                ("word + code", SearchQuery(text=word, code=rng.choice(CODES))),
                ("filters only", rng.choice([SearchQuery(agent_id=call.agent_id), SearchQuery(case_id=call.case_id),
                                             SearchQuery(code=rng.choice(CODES), since=since),
                                             SearchQuery(agent_id=call.agent_id, code=rng.choice(CODES))]))]
        if sparse:
            out.append((WORST, SearchQuery(text=" ".join(rng.choice(sparse)))))
    rng.shuffle(out)
    return out


def _pairs(items: list[str]):
    return [(a, b) for i, a in enumerate(items) for b in items[i + 1:]]


def brute_force(calls: list[Call], query, now: float, keep_s: float) -> list[tuple]:
    """The newest ``limit`` turns having every word of the query (text queries with an agent filter at most)."""
    from ferryman.aftercall.search import index_terms, query_terms

    words, found = query_terms(query.text), []
    for call in calls:
        if query.agent_scope and call.agent_id != query.agent_scope:
            continue
        for turn in call.turns:
            if turn.said_at >= now - keep_s and all(w in turn.text.lower() for w in words):
                if set(words) <= set(index_terms(turn.text)):
                    found.append((turn.said_at, turn.call_id, turn.channel, turn.utterance))
    found.sort(reverse=True)
    return [f[1:] for f in found[:query.limit]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def run(n_calls: int, per_kind: int, seed: int, checks: int) -> None:
    from ferryman.aftercall.search import SearchIndex, warm_up
    from ferryman.infra.redis import EmbeddedRedis, async_client

    now = time.time()
    warm_up()
    calls = generate(n_calls, seed, now)
    n_turns = sum(len(c.turns) for c in calls)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp)).start()
        client = async_client(server.url)
        try:
            await client.config_set("appendonly", "no")      # no AOF to rewrite while it fills
            clock = Clock()
            index = SearchIndex(client, clock=clock)
            before = (await client.info("memory"))["used_memory"]
            build_s = await build(client, index, clock, calls)
            after = (await client.info("memory"))["used_memory"]
            keys, sizes = await client.dbsize(), await posting_sizes(client, index)
            clock.now = now
            queries = make_queries(calls, sizes, now, random.Random(seed + 1), per_kind)
            for _, query in queries[:30]:                       # warm: scripts loaded, connections open
                await index.search(query)
            timings = await time_queries(index, queries)
            agree = await check(index, calls, queries, now, checks)
        finally:
            await client.aclose()
            server.stop()
    report(n_calls, n_turns, sizes, build_s, before, after, keys, timings, agree)


async def time_queries(index, queries) -> dict[str, list[tuple[float, object]]]:
    timings: dict[str, list[tuple[float, object]]] = {}
    for kind, query in queries:
        started = time.perf_counter()
        results = await index.search(query)
        timings.setdefault(kind, []).append(((time.perf_counter() - started) * 1000, results))
    return timings


async def check(index, calls, queries, now, checks: int) -> tuple[int, int]:
    sample = [q for kind, q in queries if kind in ("1 word, rare", "2 words", "word + agent", WORST)][:checks]
    same = 0
    for query in sample:
        got = [(h.call_id, h.channel, h.utterance) for h in (await index.search(query)).hits]
        same += got == brute_force(calls, query, now, index.keep_s)
    return same, len(sample)


def report(n_calls, n_turns, sizes, build_s, before, after, keys, timings, agree) -> None:
    postings = sum(sizes.values())
    print(f"calls {n_calls:,}   finals {n_turns:,}   distinct words {len(sizes):,}   postings {postings:,} "
          f"({postings / n_turns:.1f} per final; largest list {max(sizes.values()):,})")
    print(f"index build {build_s:.1f} s through stage() in MULTI, one per call: "
          f"{n_turns / build_s:,.0f} finals/s, {build_s / n_turns * 1e6:.0f} µs per final")
    print(f"redis used_memory {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB: index "
          f"{(after - before) / n_calls / 1024:.1f} KiB per call, {(after - before) / n_turns:.0f} B per final, "
          f"{(after - before) / postings:.0f} B per posting (all keys); keys {keys:,}")
    print()
    print(f"{'query':<34}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'hits':>7}{'more':>6}"
          f"{'scan p95':>10}{'cut':>5}")
    for kind in [*KINDS, "all of the above", WORST]:
        rows = [r for k in KINDS for r in timings.get(k, [])] if kind == "all of the above" else timings.get(kind)
        if not rows:
            continue
        ms = [m for m, _ in rows]
        print(f"{kind:<34}{len(rows):>5}{pct(ms, 50):>9.2f}{pct(ms, 95):>9.2f}{pct(ms, 99):>9.2f}{max(ms):>9.2f}"
              f"{statistics.mean(len(r.hits) for _, r in rows):>7.1f}"
              f"{sum(r.more for _, r in rows) / len(rows):>6.0%}{pct([r.scanned for _, r in rows], 95):>10,}"
              f"{sum(r.truncated for _, r in rows):>5}")
    print()
    print("(hits: mean per query, limit 20; more: share with more than 20; scan: postings the walk looked at; "
          "cut: queries that hit the scan budget)")
    print(f"brute-force check: {agree[0]}/{agree[1]} sampled queries return exactly the newest matching turns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--per-kind", type=int, default=100, help="queries of each kind (7 kinds + the worst case)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checks", type=int, default=40, help="queries checked against a brute-force scan")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.per_kind, args.seed, args.checks))


if __name__ == "__main__":
    main()
