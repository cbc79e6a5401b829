"""What a principal may see of the calls: one summary per call, the same for the REST list,
the supervisor wall's snapshot and the agent panel's call list; and what the wall's snapshot
adds to them from the floor stream (``wall_state``)."""

from __future__ import annotations

import json
import time

from ferryman.bus.streams import FLOOR, TERMINAL_STATES
from ferryman.records.summaries import events_key
from ferryman.web.auth import Principal

FLOOR_SCAN = 20_000     # the wall's per-call state is rebuilt from at most this many floor entries ...
FLOOR_SCAN_S = 3600     # ... of at most the last hour
RECENT_ENDED = 20       # ended calls on the wall's "recent" list (最近结束)
CALL_CARDS = 30         # a call's latest cards sent with it
CARD_FIELDS = ("type", "code", "severity", "priority", "title", "t")


async def call_summary(state, call_id: str, info: dict | None = None) -> dict | None:
    """The floor view of one call (``None`` if unknown): who, since when, mood, hints."""
    info = info if info is not None else await state.bus.call_info(call_id)
    if not info:
        return None
    case = await state.cases.get(info.get("case_id", "")) if info.get("case_id") else None
    summary = {
        "call_id": call_id,
        "case_id": info.get("case_id") or None,      # None: nobody registered the call's case
        "agent_id": info.get("agent_id") or None,
        "agent_name": state.tokens.agent_name(info.get("agent_id")),
        "customer": case.customer.name if case else None,
        "state": info.get("state"),
        "started_at": float(info["started_at"]) if info.get("started_at") else None,
        "ended_at": float(info["ended_at"]) if info.get("ended_at") else None,
        "mood_score": float(info["mood_score"]) if info.get("mood_score") else None,
        "mood_level": info.get("mood_level"),
    }
    for key in ("last_hint", "gravest_hint"):
        summary[key] = json.loads(info[key]) if info.get(key) else None
    return summary


async def visible_live_calls(state, who: Principal) -> list[dict]:
    calls = []
    for call_id in await state.bus.live_calls():
        summary = await call_summary(state, call_id)
        if summary and who.may_see_call(summary["agent_id"]):
            calls.append(summary)
    return sorted(calls, key=lambda c: c["started_at"] or 0)


def server_time() -> float:
    return time.time()


async def wall_state(state, who: Principal, calls: list[dict], last_id: str) -> list[dict]:
    """What the wall shows beyond the summaries, read back from the floor stream up to ``last_id``
    (the last hour, at most ``FLOOR_SCAN`` entries). Each live call in ``calls`` gets, in place:

        cards    its latest cards (hints and contact-rule cards), compact: id (the floor's),
                 call_id, type, code, severity, priority, title, t
        acked    the cards its agent acknowledged, as [code, t] (an ack carries its card's code
                 and t; an older one only the card's id in the call's own stream, looked up)
        promise  its last promise event (status confirmed/corrected/withdrawn, amount, due, t, id)
        last_t   the latest second of call time any of its floor events carried

    Returns the calls that ended recently (newest first, at most ``RECENT_ENDED``, those ``who``
    may see), each a summary with the same additions."""
    per: dict[str, dict] = {}
    ended: list[str] = []
    if last_id and last_id != "0-0":
        since = f"{int((time.time() - FLOOR_SCAN_S) * 1000)}-0"
        for entry_id, fields in reversed(await state.redis.xrevrange(FLOOR, max=last_id, min=since,
                                                                       count=FLOOR_SCAN)):
            try:
                event = json.loads(fields["e"])
                call_id = event["call_id"]
            except (KeyError, TypeError, ValueError):
                continue
            _note(per.setdefault(call_id, _blank()), entry_id, event)
            if event.get("type") == "call" and event.get("state") in TERMINAL_STATES:
                ended.append(call_id)
    live = {c["call_id"] for c in calls}
    recent = []
    for call_id in dict.fromkeys(reversed(ended)):      # newest first, once each
        if len(recent) >= RECENT_ENDED:
            break
        if call_id in live:
            continue
        summary = await call_summary(state, call_id)
        if summary and summary.get("ended_at") and who.may_see_call(summary["agent_id"]):
            recent.append(summary)
    shown = calls + recent
    acked = await _acked_cards(state, [(c["call_id"], hint_id) for c in shown
                                       for hint_id in per.get(c["call_id"], _blank())["acks"]])
    for summary in shown:
        found = per.get(summary["call_id"], _blank())
        summary.update(cards=found["cards"][-CALL_CARDS:], acked=found["acked"] + acked.get(summary["call_id"], []),
                       promise=found["promise"], last_t=found["last_t"])
    return recent


def _blank() -> dict:
    return {"cards": [], "acks": [], "acked": [], "promise": None, "last_t": None}


def _note(found: dict, entry_id: str, event: dict) -> None:
    t = event.get("t")
    if isinstance(t, (int, float)):
        found["last_t"] = t if found["last_t"] is None else max(found["last_t"], t)
    kind = event.get("type")
    if kind in ("hint", "contact_rule"):
        found["cards"].append({"id": entry_id, "call_id": event["call_id"], **{k: event.get(k) for k in CARD_FIELDS}})
    elif kind == "ack" and event.get("card_code"):        # the ack names its card (since issue 13)
        found["acked"].append([event["card_code"], event.get("card_t")])
    elif kind == "ack" and isinstance(event.get("hint_id"), str):   # an older ack: its card looked up
        found["acks"].append(event["hint_id"])
    elif kind == "promise":
        found["promise"] = {"id": entry_id, **{k: event.get(k) for k in ("status", "amount", "due", "t")}}


async def _acked_cards(state, wanted: list[tuple[str, str]]) -> dict[str, list]:
    """call id -> [code, t] of each acknowledged card, looked up in the calls' own streams."""
    if not wanted:
        return {}
    pipe = state.redis.pipeline(transaction=False)
    for call_id, hint_id in wanted:
        pipe.xrange(events_key(call_id), min=hint_id, max=hint_id)
    acked: dict[str, list] = {}
    for (call_id, _), entries in zip(wanted, await pipe.execute(raise_on_error=False)):
        if isinstance(entries, Exception) or not entries:
            continue                        # a malformed id or a trimmed stream: nothing to mark
        try:
            card = json.loads(entries[0][1]["e"])
        except (KeyError, TypeError, ValueError):
            continue
        acked.setdefault(call_id, []).append([card.get("code"), card.get("t")])
    return acked
