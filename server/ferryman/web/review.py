"""REST for reviewing calls after the fact (the calls page): search across what was said, the
list of calls a supervisor filters, and one call's full record with its QA scorecard.

An agent sees only their own calls. The scorecard is computed from the call's events (pure,
``aftercall.scorecard``) and kept on ``call:{id}`` (``qa``) with the id of the last event it saw,
so a list re-scores a call only when something was added to it (a promise confirmed at wrap-up).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator

from ferryman.aftercall.export import call_record
from ferryman.aftercall.scorecard import RUBRIC_FILE, Scorecard, score_call
from ferryman.aftercall.search import SearchHit, SearchQuery, SearchResults, query_terms
from ferryman.aftercall.wrapup import RULES_FILE, Wrapup, draft_wrapup, load_wrapup_rules
from ferryman.bus.streams import TERMINAL_STATES
from ferryman.calls.contact import days_span, zone
from ferryman.events import Event
from ferryman.ids import CallIdPath
from ferryman.records.summaries import call_key, events_key
from ferryman.web.aftercall import still_proposed
from ferryman.web.api import Reader, visible_call
from ferryman.web.auth import Principal
from ferryman.web.services import Services, ServicesDep
from ferryman.web.views import call_summary

router = APIRouter(prefix="/api")
SEARCH_ROUNDS = 5           # pages of 100 search results the calls list reads at most
# what a cached score was computed with: a rubric or wrap-up edit makes every cached score stale
RULES_STAMP = hashlib.sha1((RUBRIC_FILE.read_bytes() + RULES_FILE.read_bytes())).hexdigest()[:12]


class Filters(BaseModel):
    q: str = Field("", max_length=200, description="words said on the call (all of them, in one turn)")
    tz: str | None = Field(None, description="the time zone the dates are days of (IANA); default: the "
                                             "contact rules' (Asia/Shanghai)")
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

    @field_validator("since", "until")
    @classmethod
    def _sane_day(cls, day: date | None) -> date | None:
        if day is not None and not date(2000, 1, 1) <= day <= date(2100, 1, 1):
            raise ValueError("a day between 2000 and 2100")
        return day

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value


async def _search_query(svc: Services, filters: Filters, who: Principal, limit: int) -> SearchQuery:
    tz = zone(filters.tz or (await svc.contacts.rules()).timezone)
    since, until = days_span(filters.since, filters.until, tz)
    return SearchQuery(text=filters.q, agent_id=filters.agent_id, case_id=filters.case_id, code=filters.code,
                       since=since, until=until, limit=limit,
                       agent_scope=who.agent_id if who.role == "agent" else None)


@router.get("/search", response_model=SearchResults)
async def search(filters: Annotated[Filters, Query()], svc: ServicesDep, who: Reader) -> SearchResults:
    """The turns in which all the words were said, newest first (each links to its call and turn)."""
    return await svc.search.search(await _search_query(svc, filters, who, min(filters.limit, 100)))


@router.get("/records")
async def list_calls(filters: Annotated[Filters, Query()], svc: ServicesDep, who: Reader) -> dict:
    """The calls page: calls matching the filters, newest first, each with its disposition,
    score, violations and (with words) the turns that matched. The search is walked page by page
    (older each time) until ``limit`` calls pass the filters or ``SEARCH_ROUNDS`` pages were read."""
    query = await _search_query(svc, filters, who, 100)
    rows: dict[str, dict] = {}
    more = truncated = False
    for _ in range(SEARCH_ROUNDS):
        found = await svc.search.search(query)
        truncated |= found.truncated
        for hit in found.hits:
            await _add_hit(svc, who, filters, rows, hit)
        kept = [r for r in rows.values() if r is not None]
        more = found.more
        if len(kept) >= filters.limit or not found.more or not found.hits:
            break
        query = query.model_copy(update={"until": min(h.said_at for h in found.hits) - 0.000_001})
    kept = [r for r in rows.values() if r is not None]
    return {"calls": kept[:filters.limit], "terms": query_terms(filters.q) if filters.q else [],
            "more": more or len(kept) > filters.limit, "truncated": truncated,
            "dispositions": load_wrapup_rules().dispositions}


async def _add_hit(svc: Services, who: Principal, filters: Filters, rows: dict, hit: SearchHit) -> None:
    """The hit's call as a row (once; None when it does not pass), its turn added to the row."""
    if hit.call_id not in rows:
        summary = await call_summary(svc, hit.call_id)
        row = None
        if summary is not None and who.may_see_call(summary["agent_id"]):
            row = {**summary, **await review_facts(svc, summary), "turns": []}
            row = row if _keeps(filters, row) else None
        rows[hit.call_id] = row
    if rows[hit.call_id] is not None and hit.utterance is not None:
        rows[hit.call_id]["turns"].append(hit.model_dump())


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
    draft = draft_wrapup(summary["call_id"], events, case, summary["agent_id"], case_id=summary["case_id"],
                         hint_rules=await svc.rulebook.rules())
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
    if facts is None or facts.get("at") != last_id or facts.get("rules") != RULES_STAMP:
        scorecard, drafted = await _scored(svc, summary, await svc.bus.history(call_id))
        facts = {"score": scorecard.total, "violations": scorecard.violations, "drafted": drafted.disposition,
                 "at": last_id, "rules": RULES_STAMP}
        if summary["state"] in TERMINAL_STATES and await svc.redis.exists(key):   # never revive an expired call
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
    saved = await svc.history.of_call(call_id)
    case = await svc.cases.get(summary["case_id"]) if summary["case_id"] and saved else None
    wrapup = still_proposed(saved, case) if saved else {**draft.model_dump(), "saved": False}
    return {**call_record(summary, wrapup, events), "mood_level": summary.get("mood_level"),
            "scorecard": scorecard.model_dump(), "dispositions": load_wrapup_rules().dispositions}


@router.get("/calls/{call_id}/scorecard", response_model=Scorecard)
async def scorecard(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> Scorecard:
    summary = await visible_call(svc, call_id, who)
    return (await _scored(svc, summary, await svc.bus.history(call_id)))[0]
