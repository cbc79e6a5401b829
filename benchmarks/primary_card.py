#!/usr/bin/env python3
"""Is the agent panel's primary card the one for right now? (prints numbers; never a test)

Over the dev calls (d01…d08), the share of call time in which the primary card matches the
current situation, with the panel's card policy before issue 13 (OLD: the gravest
unacknowledged card of the last ``primary_max_age_s`` = 60 s, newest among equals — agent.js's
``primaryHint`` as it was, copied verbatim below, over common.js's ``graver``) and after it (NEW:
``client_web/cards.js`` with ``labels.json``'s ``card_policy``). Both run in a headless Chromium
on the panel's own modules (page.evaluate importing them), not on a Python twin. Nobody clicks:
no acknowledgements, no promise confirmations (acknowledgement is optional under NEW; OLD
depended on it — so this is the mid-call agent who does not click).

Events: each call through the real model, offline (``replay_audio``, speed 0: ``t`` = audio
time), cached in /tmp/ferryman-primary-card/asr-dNN.json (``--refresh`` re-runs; ~5 min for the 8
calls on 2 cores); and its reference turns as finals (``text``: no ASR) as the second line.

The current situation, from the corpus labels (``../shared/corpus/calls/dNN.json``):

- a *labelled turn* is one with ``hints`` or ``optional`` codes; its codes (both lists) are its
  situation. It holds from the turn's start until the next labelled turn starts, or until
  HORIZON_S (20 s) after the turn's end, whichever is first.
- The primary card *matches* at second s when its code is one of the codes that hold, or one of
  the call-level codes (``call_hints``, ``optional_call_hints``: true of the whole call), or one
  of the previous situation's codes while the next labelled turn is still being said and
  recognised (from its start to GRACE_S = 4 s after its end — the scorer's grace: no card for a
  turn can exist before it is said), and only while that previous situation would still hold
  (its own horizon).
- *No card* matches when no situation holds; or while every situation that may be shown is
  either still being said (the grace window above) or already answered — an agent turn that
  began after the situation's turn ended has ended (the agent has had their say on it; a card
  they no longer need may go). A card for an older situation, or a code nothing holds, never
  matches.
- ``strict`` (second pair of columns): the definition without the grace and the answered
  allowances — the card's code must be one that holds at s (or call-level), and no card matches
  only when nothing holds.

Sampled every 0.5 s of call time from 0 to the call's duration; events apply at their ``t``.
Under NEW the panel's clock is the sample second (cards expire while nobody speaks); OLD's
clock was the newest event's ``t``, as it was on the panel. Overall = time-weighted over calls.

    .venv/bin/python benchmarks/primary_card.py [--text] [--refresh] [--calls d01,d05] [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import json
import threading
from pathlib import Path

from corpus_events import CORPUS, asr_events, reference_events  # benchmarks/

from ferryman.settings import PROJECT_ROOT

FRESH = PROJECT_ROOT / "benchmarks" / "data" / "fresh_calls"     # written blind, never tuned on
CLIENT = PROJECT_ROOT / "client_web"
CACHE = Path("/tmp/ferryman-primary-card")
STEP_S, HORIZON_S, GRACE_S = 0.5, 20.0, 4.0
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]

# Both policies over one call's events, sampled at `times`. OLD is agent.js's primaryHint
# before issue 13, verbatim but for its inputs (hints, acked, lastT, maxAge) and a line break.
POLICIES_JS = """
async ({ events, times, policy, oldMaxAge }) => {
  const { CardBoard } = await import("/cards.js");
  const { graver } = await import("/common.js");
  const board = new CardBoard(policy);
  const call = { hints: new Map(), acked: new Set(), lastT: 0 };
  function primaryHint() {
    const maxAge = oldMaxAge;
    const open = [...call.hints.values()].filter((h) => !call.acked.has(h.id) && call.lastT - h.t <= maxAge);
    return open.reduce((best, h) => (!best || graver(h, best) > 0 || (graver(h, best) === 0 && h.t >= best.t)
      ? h : best), null);
  }
  const out = { old: [], new: [] };
  let i = 0;
  for (const s of times) {
    while (i < events.length && events[i].t <= s) {
      const event = events[i++];
      board.apply(event);
      if (event.t !== undefined) call.lastT = Math.max(call.lastT, event.t);
      if (event.type === "hint" || event.type === "contact_rule") call.hints.set(event.id, event);
      if (event.type === "ack") call.acked.add(event.hint_id);
    }
    const now = board.view(Math.max(board.lastT, s)).primary;
    out.new.push(now ? now.lead.code : null);
    const old = primaryHint();
    out.old.push(old ? old.code : null);
  }
  return out;
}
"""


# -- events ------------------------------------------------------------------------------------
def _as_dicts(name: str, events: list) -> list[dict]:
    """JSON as the panel receives it; stream ids stand in for Redis's (order of emission)."""
    return [{**e.model_dump(mode="json", exclude_none=True), "id": f"{name}-{i}"} for i, e in enumerate(events)]


def cached_events(names: list[str], text: bool, refresh: bool = False, corpus: Path = CORPUS) -> dict[str, list[dict]]:
    kind = ("text" if text else "asr") + ("" if corpus == CORPUS else f"-{corpus.name}")
    CACHE.mkdir(parents=True, exist_ok=True)
    out, asr = {}, None
    for name in names:
        path = CACHE / f"{kind}-{name}.json"
        if path.exists() and not refresh:
            out[name] = json.loads(path.read_text(encoding="utf-8"))
            continue
        if text:
            out[name] = _as_dicts(name, asyncio.run(reference_events(name, corpus)))
        else:
            if asr is None:
                from ferryman.asr import build_runtime
                from ferryman.settings import Settings

                asr = build_runtime(Settings())
            print(f"  {name} through the ASR…", flush=True)
            out[name] = _as_dicts(name, asyncio.run(asr_events(name, asr, corpus)))
        path.write_text(json.dumps(out[name], ensure_ascii=False), encoding="utf-8")
    return out


# -- the current situation ------------------------------------------------------------------------
class Situations:
    """What the labels say holds at each second of one call (see the module docstring)."""

    def __init__(self, call: dict):
        self.duration = float(call["duration"])
        self.call_codes = set(call.get("call_hints") or []) | set(call.get("optional_call_hints") or [])
        self.agent_turns = [(t["start"], t["end"]) for t in call["turns"] if t["spk"] == "A"]
        labelled = [t for t in call["turns"] if t.get("hints") or t.get("optional")]
        self.items = []
        for i, turn in enumerate(labelled):
            nxt = labelled[i + 1] if i + 1 < len(labelled) else None
            horizon = turn["end"] + HORIZON_S
            holds = min(nxt["start"], horizon) if nxt else horizon
            shown = min(nxt["end"] + GRACE_S, horizon) if nxt and nxt["start"] < horizon else holds
            answered = min((end for start, end in self.agent_turns if start >= turn["end"]), default=float("inf"))
            codes = set(turn.get("hints") or []) | set(turn.get("optional") or [])
            self.items.append({"start": turn["start"], "end": turn["end"], "holds": holds, "shown": shown,
                               "answered": answered, "codes": codes})

    def match(self, s: float, code: str | None, strict: bool) -> bool:
        holding = [x for x in self.items if x["start"] <= s < x["holds"]]
        if strict:
            if code is None:
                return not holding
            return code in self.call_codes or any(code in x["codes"] for x in holding)
        shown = [x for x in self.items if x["start"] <= s < max(x["holds"], x["shown"])]
        if code is None:
            return all(s < x["end"] + GRACE_S or s >= x["answered"] for x in shown)
        return code in self.call_codes or any(code in x["codes"] for x in shown)


# -- run ----------------------------------------------------------------------------------------------
def serve_client() -> http.server.ThreadingHTTPServer:
    """client_web over HTTP on a free port (ES modules do not load from file://)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(CLIENT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def primaries(calls: dict[str, list[dict]], grids: dict[str, list[float]]) -> dict[str, dict]:
    from playwright.async_api import async_playwright

    labels = json.loads((CLIENT / "labels.json").read_text(encoding="utf-8"))
    server = serve_client()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{server.server_address[1]}/labels.json")
            out = {}
            for name, events in calls.items():
                ordered = sorted(events, key=lambda e: e.get("t", 0.0))          # stable: emission order within a t
                out[name] = await page.evaluate(POLICIES_JS, {"events": ordered, "times": grids[name],
                                                              "policy": labels.get("card_policy", {}),
                                                              "oldMaxAge": labels["primary_max_age_s"]})
            await browser.close()
    finally:
        server.shutdown()
    return out


def score(names: list[str], events: dict[str, list[dict]], verbose: bool, corpus: Path = CORPUS) -> dict[str, dict]:
    situations = {n: Situations(json.loads((corpus / f"{n}.json").read_text(encoding="utf-8"))) for n in names}
    grids = {n: [round(i * STEP_S, 3) for i in range(int(situations[n].duration / STEP_S) + 1)] for n in names}
    shown = asyncio.run(primaries({n: events[n] for n in names}, grids))
    result = {}
    for n in names:
        row = {"samples": len(grids[n])}
        for policy in ("old", "new"):
            for strict in (False, True):
                hits = [situations[n].match(s, code, strict) for s, code in zip(grids[n], shown[n][policy])]
                row[(policy, strict)] = sum(hits)
            if verbose:
                print(f"\n{n} {policy}: " + " ".join(
                    f"{s:g}:{code or '-'}{'' if situations[n].match(s, code, False) else '✗'}"
                    for s, code in zip(grids[n], shown[n][policy]) if s == int(s)))
        result[n] = row
    return result


def print_table(title: str, names: list[str], result: dict[str, dict]) -> None:
    print(f"\n{title}\n\n| call | seconds | old | new | old (strict) | new (strict) |\n|---|---|---|---|---|---|")
    total = {key: 0 for key in result[names[0]]}
    for n in names:
        row = result[n]
        for key in total:
            total[key] += row[key]
        cells = [f"{row[(p, s)] / row['samples']:.1%}" for s in (False, True) for p in ("old", "new")]
        print(f"| {n} | {row['samples'] * STEP_S:.0f} | " + " | ".join(cells) + " |")
    cells = [f"{total[(p, s)] / total['samples']:.1%}" for s in (False, True) for p in ("old", "new")]
    print(f"| all | {total['samples'] * STEP_S:.0f} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", action="store_true", help="reference transcripts only (no ASR)")
    parser.add_argument("--refresh", action="store_true", help="run the pipeline again instead of the cached events")
    parser.add_argument("--calls", default="")
    parser.add_argument("--fresh", action="store_true",
                        help="the 14 fresh calls written blind (benchmarks/data/fresh_calls; text only, no audio)")
    parser.add_argument("--verbose", action="store_true", help="the primary card at each second, ✗ where it misses")
    args = parser.parse_args()
    corpus = FRESH if args.fresh else CORPUS
    names = args.calls.split(",") if args.calls else sorted(p.stem for p in corpus.glob("*.json"))
    paths = [("reference transcripts (no ASR)", True)] if args.text or args.fresh else \
        [("through the ASR (whisper base, offline)", False), ("reference transcripts (no ASR)", True)]
    print(f"Primary card matches the current situation: share of call time, {len(names)} calls "
          f"({', '.join(names)}), every {STEP_S:g} s; horizon {HORIZON_S:g} s, grace {GRACE_S:g} s; no clicks.")
    for title, text in paths:
        events = cached_events(names, text, args.refresh, corpus)
        print_table(title, names, score(names, events, args.verbose, corpus))


if __name__ == "__main__":
    main()
