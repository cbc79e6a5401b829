"""REST after the call: the wrap-up (小结) drafted at hang-up, saved by the agent, what the
case's earlier calls left for the brief of the next one, and the promises followed up
(payments recorded, what falls due)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from ferryman.aftercall.export import call_record, csv_text, jsonl
from ferryman.aftercall.followup import SETTLED, case_follow_ups
from ferryman.aftercall.wrapup import Line, Wrapup, WrapupPromise, draft_wrapup, load_wrapup_rules
from ferryman.bus.streams import TERMINAL_STATES
from ferryman.calls.contact import days_span, zone
from ferryman.ids import CallIdPath, CaseIdPath, IdField
from ferryman.web.api import Agent, CaseWriter, Reader, Supervisor, promise_status, record_promise, visible_call
from ferryman.web.services import Services, ServicesDep
from ferryman.web.views import call_summary

router = APIRouter(prefix="/api")


async def _draft(svc: Services, summary: dict) -> Wrapup:
    case = await svc.cases.get(summary["case_id"]) if summary["case_id"] else None
    return draft_wrapup(summary["call_id"], await svc.bus.history(summary["call_id"]), case, summary["agent_id"],
                        hint_rules=await svc.rulebook.rules(),
                        case_id=summary["case_id"])


@router.get("/calls/{call_id}/wrapup")
async def get_wrapup(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> dict:
    """The saved wrap-up of the call, else the draft from its events (``saved``: false), with
    the disposition codes the agent may choose from."""
    summary = await visible_call(svc, call_id, who)
    saved = await svc.history.of_call(call_id)
    wrapup = saved if saved else {**(await _draft(svc, summary)).model_dump(), "saved": False}
    return {**wrapup, "dispositions": load_wrapup_rules().dispositions}


class PromiseEdit(BaseModel):
    amount: float = Field(gt=0, le=10_000_000)
    due: date | None = Field(None, description="None: the customer named no calendar day (\"发工资后\"); "
                                                "kept as said, not followed up by date")


class WrapupEdit(BaseModel):
    """What the agent saves: the draft as corrected."""

    disposition: str
    promise: PromiseEdit | None = None
    summary: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=6)
    situation: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=10)


def _kept(lines: list[str], drafted: list[Line]) -> list[dict]:
    """The agent's lines; those left as drafted keep the turn they came from."""
    by_text = {line.text: line for line in drafted}
    return [(by_text.get(text) or Line(text=text)).model_dump() for text in (t.strip() for t in lines) if text]


@router.put("/calls/{call_id}/wrapup")
async def save_wrapup(call_id: CallIdPath, body: WrapupEdit, svc: ServicesDep, who: Agent) -> dict:
    """The agent saves the wrap-up of their call once it has ended; it goes into the case's history."""
    summary = await visible_call(svc, call_id, who)
    if summary["state"] not in TERMINAL_STATES:
        raise HTTPException(409, f"call {call_id} is still live; the wrap-up is saved after hang-up")
    labels = load_wrapup_rules().dispositions
    if body.disposition not in labels:
        raise HTTPException(422, f"disposition must be one of {', '.join(labels)}")
    draft = await _draft(svc, summary)
    promise = await _settle_promise(svc, summary, draft, body, who.name)
    record = {**draft.model_dump(), "disposition": body.disposition, "disposition_label": labels[body.disposition],
              "promise": promise, "summary": _kept(body.summary, draft.summary),
              "situation": _kept(body.situation, draft.situation), "saved": True, "by": who.name}
    return await svc.history.save(record)


async def _settle_promise(svc: Services, summary: dict, draft: Wrapup, body: WrapupEdit, by: str) -> dict | None:
    """The wrap-up's promise, and the agent's word on it into the ledger when it differs from what
    the ledger holds for the call: confirmed, corrected, or withdrawn (struck from the draft)."""
    drafted = draft.promise
    if body.promise is None:
        if drafted is not None and summary["case_id"]:
            await record_promise(svc, summary, None, None, None, by)
        return None
    amount, due = body.promise.amount, body.promise.due.isoformat() if body.promise.due else None
    unchanged = drafted is not None and drafted.status != "captured" and drafted.amount is not None \
        and abs(drafted.amount - amount) <= 0.005 and drafted.due == due
    captured = drafted.model_dump() if drafted is not None and drafted.status == "captured" else None
    status = drafted.status if unchanged else promise_status(captured, amount, due)
    if not unchanged and summary["case_id"]:
        await record_promise(svc, summary, captured, amount, due, by)
    return (drafted or WrapupPromise()).model_copy(update={"amount": amount, "due": due, "status": status}).model_dump()


@router.get("/calls/{call_id}/history")
async def case_history(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> list[dict]:
    """The last saved wrap-ups of the call's case (other calls), newest first: the brief's
    往次通话."""
    summary = await visible_call(svc, call_id, who)
    if not summary["case_id"]:
        return []
    records = await svc.history.recent(summary["case_id"], except_call=call_id)
    case = await svc.cases.get(summary["case_id"])
    records = [still_proposed(r, case) for r in records]
    if who.role == "agent":          # what the next call needs; not how another agent was rated
        records = [{k: v for k, v in r.items() if k in AGENT_SEES} for r in records]
    return records


AGENT_SEES = ("call_id", "case_id", "disposition", "disposition_label", "promise", "summary", "situation",
              "avoid_topics", "proposed_topics", "by", "saved_at")


def still_proposed(wrapup: dict, case) -> dict:
    """A saved wrap-up's proposed topics less those the case lists by now (a lead accepted them)."""
    listed = set(case.sensitive_topics) if case else set()
    return {**wrapup, "proposed_topics": [t for t in wrapup.get("proposed_topics", []) if t not in listed]}


class SensitiveTopic(BaseModel):
    topic: str = Field(min_length=1, max_length=16, pattern=r"^[^\s,，、]+$")


@router.post("/cases/{case_id}/sensitive-topics")
async def accept_sensitive_topic(case_id: CaseIdPath, body: SensitiveTopic, svc: ServicesDep, _: Supervisor) -> dict:
    """A team lead accepts a topic a wrap-up proposed (it surfaced on a call, the case did not list
    it): the next calls on the case raise avoid_topic for it."""
    if await svc.cases.get(case_id) is None:
        raise HTTPException(404, f"case {case_id} not found")
    await svc.cases.accept_topic(case_id, body.topic)
    return {"case_id": case_id, "sensitive_topics": (await svc.cases.get(case_id)).sensitive_topics}


# -- promises followed up ------------------------------------------------------------------------
OVERDUE_WINDOW_DAYS = 30      # how far back the follow-up list looks for promises not kept


class Payment(BaseModel):
    amount: float = Field(gt=0, le=10_000_000)
    paid_on: date
    ref: str = Field(min_length=1, max_length=64, pattern=r"^[^\s]+$",
                     description="the bank's transaction reference: recording it again changes nothing")


class CasePayment(Payment):
    case_id: IdField


async def _record(svc: Services, payments: list[CasePayment], by: str) -> dict:
    """All or nothing: every case must exist."""
    missing = sorted({p.case_id for p in payments if await svc.cases.get(p.case_id) is None})
    if missing:
        raise HTTPException(404, f"cases not found: {', '.join(missing)}")
    new = await svc.promises.record_payments(
        [(p.case_id, {"amount": p.amount, "paid_on": p.paid_on.isoformat(), "ref": p.ref, "by": by}) for p in payments])
    return {"recorded": new, "already_recorded": len(payments) - new}


@router.post("/cases/{case_id}/payments", status_code=201)
async def record_payment(case_id: CaseIdPath, body: Payment, svc: ServicesDep, who: CaseWriter) -> dict:
    """A payment the case received (from the bank's ledger): promises are kept by it."""
    return {"case_id": case_id, **await _record(svc, [CasePayment(case_id=case_id, **body.model_dump())], who.name)}


@router.post("/payments", status_code=201)
async def import_payments(body: list[CasePayment], svc: ServicesDep, who: CaseWriter) -> dict:
    """A day's payments at once (the bank's export), in one transaction."""
    return await _record(svc, body, who.name)


@router.get("/promises")
async def promises_due(svc: ServicesDep, _: Supervisor, until: date | None = None) -> list[dict]:
    """The follow-up list: promises due in the 30 days up to ``until`` (default today) that no
    payment settled — due today first, then the overdue."""
    today = await svc.contacts.local_today()
    until = until or today
    if abs((until - today).days) > 366:
        raise HTTPException(422, "until must be within a year of today")
    first = until - timedelta(days=OVERDUE_WINDOW_DAYS)
    out = []
    for case_id in await svc.promises.due_between(first, until):
        case = await svc.cases.get(case_id)
        for follow_up in await case_follow_ups(svc.promises, case_id, today):
            if first <= follow_up.commitment.due <= until and follow_up.status not in SETTLED:
                out.append({**follow_up.as_data(), "customer": case.customer.name if case else None})
    return sorted(out, key=lambda f: f["due"], reverse=True)


@router.get("/calls/{call_id}/followups")
async def call_follow_ups(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> list[dict]:
    """The case's promises from earlier calls with their status: what the brief says plainly."""
    summary = await visible_call(svc, call_id, who)
    if not summary["case_id"]:
        return []
    case = await svc.cases.get(summary["case_id"])
    return [f.as_data() for f in await case_follow_ups(svc.promises, summary["case_id"],
                                                        await svc.contacts.local_today(case))
            if f.commitment.call_id != call_id]


# -- export ---------------------------------------------------------------------------------------
EXPORT_MAX_CALLS = 10_000


@router.get("/export/calls")
async def export_calls(svc: ServicesDep, who: Reader, since: date, until: date | None = None,
                       fmt: Annotated[Literal["jsonl", "csv"], Query(alias="format")] = "jsonl",
                       agent_id: str | None = None, tz: str | None = None) -> Response:
    """Calls that started between ``since`` and ``until`` (inclusive, days in ``tz``, by default
    the contact rules' zone) as JSONL (everything kept of each) or CSV (a row each); an agent gets
    only their own calls."""
    try:
        zone_of_days = zone(tz or (await svc.contacts.rules()).timezone)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    until = until or datetime.now(zone_of_days).date()
    if not (date(2000, 1, 1) <= since <= until <= date(2100, 1, 1)):
        raise HTTPException(422, "since must come before until, both between 2000 and 2100")
    first, last = days_span(since, until, zone_of_days)
    records = []
    for call_id in await svc.bus.calls_between(first, last, EXPORT_MAX_CALLS):
        summary = await call_summary(svc, call_id)
        if summary is None or not who.may_see_call(summary["agent_id"]):
            continue
        if agent_id and summary["agent_id"] != agent_id:
            continue
        records.append(call_record(summary, await svc.history.of_call(call_id), await svc.bus.history(call_id)))
    body, media = (jsonl(records), "application/x-ndjson") if fmt == "jsonl" else (csv_text(records), "text/csv")
    name = f"ferryman-calls-{since.isoformat()}-{until.isoformat()}.{fmt}"
    return Response(body, media_type=f"{media}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
