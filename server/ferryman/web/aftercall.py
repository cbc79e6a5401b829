"""REST after the call: the wrap-up (小结) drafted at hang-up, saved by the agent, and what the
case's earlier calls left for the brief of the next one."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from ferryman.aftercall.wrapup import Line, Wrapup, WrapupPromise, draft_wrapup, load_wrapup_rules
from ferryman.bus.streams import TERMINAL_STATES
from ferryman.ids import CallIdPath
from ferryman.web.api import Agent, Reader, visible_call
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
    return await svc.history.save(record)


@router.get("/calls/{call_id}/history")
async def case_history(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> list[dict]:
    """The last saved wrap-ups of the call's case (other calls), newest first: the brief's
    往次通话."""
    summary = await visible_call(svc, call_id, who)
    if not summary["case_id"]:
        return []
    return await svc.history.recent(summary["case_id"], except_call=call_id)
