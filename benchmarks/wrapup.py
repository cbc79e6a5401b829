#!/usr/bin/env python3
"""Wrap-up (小结) quality on the dev corpus (prints numbers; never a test).

Each dev call is played through the pipeline — its reference turns (the hint engine on perfect
text), and with ``--asr`` its audio through the real model (offline, as fast as the CPU goes) —
and the wrap-up drafted from its events is compared with blind labels
(``benchmarks/data/wrapup_labels.yaml``, written from the transcripts by someone who had not
seen the drafter):

- disposition accuracy;
- promise amount and due date, exact match (over the calls labelled with a promise);
- every drafted line (summary, situation, topics, complaints, compliance) supported by the
  transcript: its quoted turn is one the call's reference transcript has (exactly, on reference
  turns; through the ASR, a reference turn of the same speaker overlapping it in time that shares
  at least half of its characters);
- the QA scorecard of each call (``aftercall/scorecard.yaml``): total, items, and the compliance
  violations it counts beside the turns the corpus labels ``agent_compliance``.

    .venv/bin/python benchmarks/wrapup.py [--asr] [--calls d01,d05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "data" / "wrapup_labels.yaml"

from corpus_events import CORPUS, asr_events, reference_events  # noqa: E402  (benchmarks/)

from ferryman.aftercall.scorecard import score_call  # noqa: E402
from ferryman.aftercall.wrapup import Wrapup, draft_wrapup  # noqa: E402
from ferryman.cases.schema import load_case_file  # noqa: E402


def supported(line: dict, turns: list[dict], exact: bool) -> bool:
    source = line.get("source")
    if source is None:
        return True                  # a fixed sentence ("客户未承诺还款。"), not a claim about a turn
    quote = source["quote"].rstrip("…")
    speaker = "A" if source["channel"] == "agent" else "C"
    if exact:
        return any(quote in turn["text"] for turn in turns if turn["spk"] == speaker)
    near = [turn["text"] for turn in turns
            if turn["spk"] == speaker and turn["start"] - 2 <= source["t"] <= turn["end"] + 8]
    return any(len(set(quote) & set(text)) >= len(set(quote)) / 2 for text in near)


def lines_of(wrapup: Wrapup) -> list[dict]:
    data = wrapup.model_dump()
    return [line for key in ("summary", "situation", "avoid_topics", "complaints", "compliance") for line in data[key]]


def score(names: list[str], drafts: dict[str, Wrapup], labels: dict, exact: bool) -> dict:
    right, promised, amount_ok, date_ok, lines, backed, wrong = 0, 0, 0, 0, 0, 0, []
    for name in names:
        label, wrapup = labels[name], drafts[name]
        turns = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))["turns"]
        if wrapup.disposition == label["disposition"]:
            right += 1
        else:
            wrong.append(f"{name}: {wrapup.disposition} (label {label['disposition']})")
        if label.get("promise"):
            promised += 1
            got = wrapup.promise
            amount_ok += bool(got and got.amount == label["promise"]["amount"])
            date_ok += bool(got and got.due == str(label["promise"]["due"]))
            if not (got and got.amount == label["promise"]["amount"] and got.due == str(label["promise"]["due"])):
                wrong.append(f"{name}: promise {got and (got.amount, got.due)} (label "
                             f"{label['promise']['amount']}, {label['promise']['due']})")
        for line in lines_of(wrapup):
            lines += 1
            ok = supported(line, turns, exact)
            backed += ok
            if not ok:
                wrong.append(f"{name}: unsupported line {line['text']!r}")
    return {"disposition": right / len(names), "amount": amount_ok / max(1, promised),
            "date": date_ok / max(1, promised), "promised": promised, "lines": lines,
            "supported": backed / max(1, lines), "wrong": wrong}


SCORE_ITEMS = ("opening", "compliance", "escalations", "plan_offered", "promise", "hints_acked")


def labelled_violations(name: str) -> int:
    turns = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))["turns"]
    return sum("agent_compliance" in turn.get("hints", []) for turn in turns)


def print_scorecards(names: list[str], events: dict[str, list]) -> None:
    print("\n| call | total | violations (labelled) | escalations answered | "
          + " | ".join(SCORE_ITEMS) + " |\n|" + "---|" * (4 + len(SCORE_ITEMS)))
    for name in names:
        card = score_call(events[name], load_case_file(CORPUS / f"{name}.json"))
        items = {item.key: item for item in card.items}
        cells = [f"{items[k].earned:g}/{items[k].max_points:g} {items[k].status}" if items[k].status != "n/a"
                 else "n/a" for k in SCORE_ITEMS]
        print(f"| {name} | {card.total} | {card.violations} ({labelled_violations(name)}) | "
              f"{card.escalations_answered}/{card.escalations} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="")
    parser.add_argument("--asr", action="store_true", help="also through the real model (~7 min on 2 cores)")
    args = parser.parse_args()
    labels = yaml.safe_load(LABELS.read_text(encoding="utf-8"))["calls"]
    names = args.calls.split(",") if args.calls else sorted(labels)
    paths = {"reference turns": lambda name: reference_events(name)}
    if args.asr:
        from ferryman.asr import build_runtime
        from ferryman.settings import Settings

        asr = build_runtime(Settings())
        paths["through the ASR"] = lambda name: asr_events(name, asr)
    print(f"{len(names)} calls ({', '.join(names)}); labels {LABELS.relative_to(ROOT)}\n")
    print("| path | disposition | promise amount | promise date | lines supported |\n|---|---|---|---|---|")
    scorecards = {}
    for path, events_of in paths.items():
        drafts, events = {}, {}
        for name in names:
            case = load_case_file(CORPUS / f"{name}.json")
            events[name] = asyncio.run(events_of(name))
            drafts[name] = draft_wrapup(name, events[name], case)
        s = score(names, drafts, labels, exact=path == "reference turns")
        print(f"| {path} | {s['disposition']:.2f} ({round(s['disposition'] * len(names))}/{len(names)}) | "
              f"{s['amount']:.2f} of {s['promised']} | {s['date']:.2f} of {s['promised']} | "
              f"{s['supported']:.2f} of {s['lines']} |", flush=True)
        for problem in s["wrong"]:
            print(f"    {problem}")
        scorecards[path] = events
    for path, events in scorecards.items():
        print(f"\nQA scorecards, {path}:")
        print_scorecards(names, events)
    sys.exit(0)


if __name__ == "__main__":
    main()
