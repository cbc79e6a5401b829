"""REST after the call: the wrap-up (小结) drafted at hang-up, saved by the agent, what the
case's earlier calls left for the brief of the next one, and the promises followed up
(payments recorded, what falls due)."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from ferryman.aftercall.followup import case_follow_ups
from ferryman.aftercall.wrapup import Line, Wrapup, WrapupPromise, draft_wrapup, load_wrapup_rules
from ferryman.bus.streams import TERMINAL_STATES
from ferryman.events import PromiseEvent
from ferryman.ids import CallIdPath, CaseIdPath, IdField
from ferryman.web.api import Agent, CaseWriter, Reader, Supervisor, visible_call
from ferryman.web.services import Services, ServicesDep

router = APIRouter(prefix="/api")


async def _draft(svc: Services, summary: dict) -> Wrapup:
    case = await svc.cases.get(summary["case_id"]) if summary["case_id"] else None
    return draft_wrapup(summary["call_id"], await svc.bus.history(summary["call_id"]), case, summary["agent_id"])


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
    due: date


class WrapupEdit(BaseModel):
    """What the agent saves: the draft as corrected."""

    disposition: str
    promise: PromiseEdit | None = None
    summary: list[str] = Field(min_length=1, max_length=6)
    situation: list[str] = Field(default_factory=list, max_length=10)


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
    promise = None
    if body.promise is not None:
        drafted = draft.promise or WrapupPromise()
        changed = (drafted.amount is None or abs(drafted.amount - body.promise.amount) > 0.005
                   or drafted.due != body.promise.due.isoformat())
        promise = drafted.model_copy(update={"amount": body.promise.amount, "due": body.promise.due.isoformat(),
                                             "status": "corrected" if changed else drafted.status}).model_dump()
    record = {**draft.model_dump(), "disposition": body.disposition, "disposition_label": labels[body.disposition],
              "promise": promise, "summary": _kept(body.summary, draft.summary),
              "situation": _kept(body.situation, draft.situation), "saved": True, "by": who.name}
    if promise is not None and summary["case_id"]:      # the agent's word goes into the promise ledger too
        await svc.bus.append(PromiseEvent(call_id=call_id, t=_call_length(summary), status=promise["status"]
                                          if promise["status"] != "captured" else "confirmed",
                                          amount=promise["amount"], due=promise["due"], case_id=summary["case_id"],
                                          by=who.name))
    return await svc.history.save(record)


def _call_length(summary: dict) -> float:
    started, ended = summary.get("started_at"), summary.get("ended_at")
    return round(ended - started, 3) if started and ended else 0.0


@router.get("/calls/{call_id}/history")
async def case_history(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> list[dict]:
    """The last saved wrap-ups of the call's case (other calls), newest first: the brief's
    往次通话."""
    summary = await visible_call(svc, call_id, who)
    if not summary["case_id"]:
        return []
    return await svc.history.recent(summary["case_id"], except_call=call_id)


# -- promises followed up ------------------------------------------------------------------------
OVERDUE_WINDOW_DAYS = 30      # how far back the follow-up list looks for promises not kept


class Payment(BaseModel):
    amount: float = Field(gt=0, le=10_000_000)
    paid_on: date
    ref: str = Field("", max_length=64, description="the bank's transaction reference")


class CasePayment(Payment):
    case_id: IdField


async def _record(svc: Services, case_id: str, payment: Payment) -> None:
    if await svc.cases.get(case_id) is None:
        raise HTTPException(404, f"case {case_id} not found")
    record = {"amount": payment.amount, "paid_on": payment.paid_on.isoformat(), "ref": payment.ref}
    await svc.promises.record_payment(case_id, record)


@router.post("/cases/{case_id}/payments", status_code=201)
async def record_payment(case_id: CaseIdPath, body: Payment, svc: ServicesDep, _: CaseWriter) -> dict:
    """A payment the case received (from the bank's ledger): promises are kept by it."""
    await _record(svc, case_id, body)
    return {"case_id": case_id, **body.model_dump(mode="json")}


@router.post("/payments", status_code=201)
async def import_payments(body: list[CasePayment], svc: ServicesDep, _: CaseWriter) -> dict:
    """A day's payments at once (the bank's export): every case must exist, else nothing is recorded."""
    missing = sorted({p.case_id for p in body} - {p.case_id for p in body if await svc.cases.get(p.case_id)})
    if missing:
        raise HTTPException(404, f"cases not found: {', '.join(missing)}")
    for payment in body:
        await _record(svc, payment.case_id, payment)
    return {"recorded": len(body)}


@router.get("/promises")
async def promises_due(svc: ServicesDep, _: Supervisor, until: date | None = None) -> list[dict]:
    """The follow-up list: promises due by ``until`` (default today) in the last 30 days and not
    kept — due today first, then the overdue, oldest last."""
    today = date.today()
    until = until or today
    out = []
    for case_id in await svc.promises.due_between(until - timedelta(days=OVERDUE_WINDOW_DAYS), until):
        case = await svc.cases.get(case_id)
        for follow_up in await case_follow_ups(svc.promises, case_id, today):
            if follow_up.commitment.due <= until and follow_up.status != "kept":
                out.append({**follow_up.as_data(), "customer": case.customer.name if case else None})
    return sorted(out, key=lambda f: f["due"], reverse=True)


@router.get("/calls/{call_id}/followups")
async def call_follow_ups(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> list[dict]:
    """The case's promises from earlier calls with their status: what the brief says plainly."""
    summary = await visible_call(svc, call_id, who)
    if not summary["case_id"]:
        return []
    return [f.as_data() for f in await case_follow_ups(svc.promises, summary["case_id"], date.today())
            if f.commitment.call_id != call_id]
