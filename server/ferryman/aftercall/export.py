"""Calls as records for export (pure: a call's summary, saved wrap-up and events in, rows out):
one JSON object per call (JSONL), or one flat CSV row per call."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from ferryman.events import (
    AckEvent,
    CoachEvent,
    ContactRuleEvent,
    Event,
    HintEvent,
    ListenEvent,
    PromiseEvent,
    TranscriptEvent,
)

CSV_COLUMNS = ["call_id", "case_id", "agent_id", "agent_name", "customer", "state", "started_at", "ended_at",
               "duration_s", "disposition", "promise_amount", "promise_due", "hints", "contact_rules", "summary"]


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds") if epoch else None


def call_record(summary: dict, wrapup: dict | None, events: list[Event]) -> dict:
    """Everything kept of one call: who and when, the wrap-up, the cards (hints and contact-rule
    breaches) and who acknowledged them, the coaching, who listened in, the promise, the transcript."""
    return {
        **{k: summary.get(k) for k in ("call_id", "case_id", "agent_id", "agent_name", "customer", "state")},
        "started_at": _iso(summary.get("started_at")), "ended_at": _iso(summary.get("ended_at")),
        "duration_s": round(summary["ended_at"] - summary["started_at"], 1)
        if summary.get("ended_at") and summary.get("started_at") else None,
        "wrapup": wrapup,
        "hints": [_card(e) for e in events if isinstance(e, HintEvent)],
        "contact_rules": [_card(e) for e in events if isinstance(e, ContactRuleEvent)],
        "acks": [{"t": e.t, "hint_id": e.hint_id, "by": e.by} for e in events if isinstance(e, AckEvent)],
        "coaching": [{"t": e.t, "text": e.text, "by": e.by} for e in events if isinstance(e, CoachEvent)],
        "listens": [{"t": e.t, "state": e.state, "by": e.by} for e in events if isinstance(e, ListenEvent)],
        "promises": [{"t": e.t, "status": e.status, "amount": e.amount, "due": e.due, "by": e.by}
                     for e in events if isinstance(e, PromiseEvent)],
        "transcript": [{"channel": e.channel, "utterance": e.utterance, "start": e.start, "end": e.end, "text": e.text}
                       for e in events if isinstance(e, TranscriptEvent) and e.final],
    }


def _card(event: HintEvent | ContactRuleEvent) -> dict:
    card = {"id": event.id, "t": event.t, "code": event.code, "severity": event.severity, "title": event.title,
            "detail": event.detail, "suggestion": event.suggestion}
    if isinstance(event, HintEvent):
        card["evidence"] = event.evidence.model_dump(exclude_none=True)
    return card


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def csv_text(records: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for r in records:
        wrapup = r.get("wrapup") or {}
        promise = wrapup.get("promise") or {}
        writer.writerow({**r, "disposition": wrapup.get("disposition", ""), "promise_amount": promise.get("amount"),
                         "promise_due": promise.get("due"), "hints": ";".join(h["code"] for h in r["hints"]),
                         "contact_rules": ";".join(c["title"] for c in r["contact_rules"]),
                         "summary": " / ".join(line["text"] for line in wrapup.get("summary", []))})
    return out.getvalue()
