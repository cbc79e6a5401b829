"""REST for reviewing calls after the fact (the calls page): search across what was said, the
list of calls a supervisor filters, and one call's full record with its QA scorecard.

An agent sees only their own calls. The scorecard is computed from the call's events (pure,
``aftercall.scorecard``) and kept on ``call:{id}`` (``qa``) with the id of the last event it saw,
so a list re-scores a call only when something was added to it (a promise confirmed at wrap-up).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ferryman.aftercall.export import call_record
from ferryman.aftercall.scorecard import Scorecard, score_call
from ferryman.aftercall.search import SearchHit, SearchQuery, SearchResults
from ferryman.aftercall.wrapup import Wrapup, draft_wrapup, load_wrapup_rules
from ferryman.bus.streams import TERMINAL_STATES
from ferryman.events import Event
from ferryman.ids import CallIdPath
from ferryman.records.summaries import call_key, events_key
from ferryman.web.api import Reader, visible_call
from ferryman.web.auth import Principal
from ferryman.web.services import Services, ServicesDep
from ferryman.web.views import call_summary

router = APIRouter(prefix="/api")
SEARCH_TURNS = 100          # turns a word search brings back before the other filters apply


class Filters(BaseModel):
    q: str = Field("", max_length=200, description="words said on the call (all of them, in one turn)")
    agent_id: str | None = None
    case_id: str | None = None
    code: str | None = Field(None, description="calls that raised this hint code")
    since: date | None = None
    until: date | None = None
    disposition: str | None = None
    min_score: int | None = Field(None, ge=0, le=100)
    max_score: int | None = Field(None, ge=0, le=100)
    violations: bool | None = Field(None, description="true: only calls with compliance violations")
    limit: int = Field(50, ge=1, le=200)


def _day_bounds(since: date | None, until: date | None) -> tuple[float | None, float | None]:
    first = datetime.combine(since, time()).timestamp() if since else None
    last = datetime.combine(until + timedelta(days=1), time()).timestamp() - 0.001 if until else None
    return first, last


def _search_query(filters: Filters, who: Principal, limit: int) -> SearchQuery:
    since, until = _day_bounds(filters.since, filters.until)
    return SearchQuery(text=filters.q, agent_id=filters.agent_id, case_id=filters.case_id, code=filters.code,
                       since=since, until=until, limit=limit,
                       agent_scope=who.agent_id if who.role == "agent" else None)


@router.get("/search", response_model=SearchResults)
async def search(filters: Annotated[Filters, Query()], svc: ServicesDep, who: Reader) -> SearchResults:
    """The turns in which all the words were said, newest first (each links to its call and turn)."""
    return await svc.search.search(_search_query(filters, who, min(filters.limit, 100)))


@router.get("/records")
async def list_calls(filters: Annotated[Filters, Query()], svc: ServicesDep, who: Reader) -> dict:
    """The calls page: calls matching the filters, newest first, each with its disposition,
    score, violations and (with words) the turns that matched."""
    found = await svc.search.search(_search_query(filters, who, SEARCH_TURNS if filters.q else 100))
    matched: dict[str, list[SearchHit]] = {}
    for hit in found.hits:
        matched.setdefault(hit.call_id, []).append(hit)
    rows = []
    for call_id, hits in matched.items():
        summary = await call_summary(svc, call_id)
        if summary is None or not who.may_see_call(summary["agent_id"]):
            continue
        row = {**summary, **await review_facts(svc, summary),
               "turns": [h.model_dump() for h in hits if h.utterance is not None]}
        if _keeps(filters, row):
            rows.append(row)
        if len(rows) == filters.limit:
            break
    return {"calls": rows, "terms": found.terms, "more": found.more or len(rows) == filters.limit,
            "dispositions": load_wrapup_rules().dispositions}


def _keeps(filters: Filters, row: dict) -> bool:
    score = row["score"]
    return not ((filters.disposition and row["disposition"] != filters.disposition)
                or (filters.min_score is not None and (score is None or score < filters.min_score))
                or (filters.max_score is not None and (score is None or score > filters.max_score))
                or (filters.violations is True and not row["violations"])
                or (filters.violations is False and row["violations"]))


async def _scored(svc: Services, summary: dict, events: list[Event]) -> tuple[Scorecard, Wrapup]:
    """The call's scorecard and its wrap-up as drafted from the same events."""
    case = await svc.cases.get(summary["case_id"]) if summary["case_id"] else None
    draft = draft_wrapup(summary["call_id"], events, case, summary["agent_id"], case_id=summary["case_id"])
    return score_call(events, case), draft


async def review_facts(svc: Services, summary: dict) -> dict:
    """Disposition (saved, else drafted), score and violations of a call: from the cache on
    ``call:{id}`` while no event was added since, else computed (and cached once it ended)."""
    call_id = summary["call_id"]
    key = call_key(call_id)
    cached, saved = await svc.redis.hmget(key, "qa", "wrapup")
    last = await svc.redis.xrevrange(events_key(call_id), count=1)
    last_id = last[0][0] if last else ""
    facts = json.loads(cached) if cached else None
    if facts is None or facts.get("at") != last_id:
        scorecard, drafted = await _scored(svc, summary, await svc.bus.history(call_id))
        facts = {"score": scorecard.total, "violations": scorecard.violations, "drafted": drafted.disposition,
                 "at": last_id}
        if summary["state"] in TERMINAL_STATES:
            await svc.redis.hset(key, "qa", json.dumps(facts))
    disposition = json.loads(saved)["disposition"] if saved else facts["drafted"]
    return {"score": facts["score"], "violations": facts["violations"], "disposition": disposition,
            "disposition_label": load_wrapup_rules().dispositions.get(disposition, disposition),
            "wrapup_saved": bool(saved)}


@router.get("/calls/{call_id}/record")
async def full_record(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> dict:
    """Everything kept of one call: transcript, cards, acknowledgements, coaching, promises, the
    wrap-up (saved, else the draft) and the QA scorecard."""
    summary = await visible_call(svc, call_id, who)
    events = await svc.bus.history(call_id)
    scorecard, draft = await _scored(svc, summary, events)
    wrapup = await svc.history.of_call(call_id) or {**draft.model_dump(), "saved": False}
    return {**call_record(summary, wrapup, events), "mood_level": summary.get("mood_level"),
            "scorecard": scorecard.model_dump(), "dispositions": load_wrapup_rules().dispositions}


@router.get("/calls/{call_id}/scorecard", response_model=Scorecard)
async def scorecard(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> Scorecard:
    summary = await visible_call(svc, call_id, who)
    return (await _scored(svc, summary, await svc.bus.history(call_id)))[0]
