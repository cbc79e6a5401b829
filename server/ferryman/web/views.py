"""What a principal may see of the calls: one summary per call, the same for the REST list,
the supervisor wall's snapshot and the agent panel's call list."""

from __future__ import annotations

import json
import time

from ferryman.web.auth import Principal


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
