"""REST: cases, policies, calls, and what agents and supervisors do on a call.

Every route but ``/api/health`` needs ``Authorization: Bearer <token>`` (see ``web.auth``);
an agent reaches only its own calls and their cases.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from ferryman.bus.streams import TERMINAL_STATES
from ferryman.calls.registry import Registration, RegistrationRefused
from ferryman.cases.schema import Case, Policy
from ferryman.events import AckEvent, CoachEvent, ContactRuleEvent, HintEvent, PromiseEvent
from ferryman.ids import CallIdPath, CaseIdPath, StreamId
from ferryman.web.auth import READ_CALLS, Principal, require
from ferryman.web.services import Services, ServicesDep
from ferryman.web.views import call_summary, server_time, visible_live_calls

router = APIRouter(prefix="/api")
# Who may call a route is part of its signature.
Anyone = Annotated[Principal, Depends(require("agent", "supervisor", "gateway"))]
Reader = Annotated[Principal, Depends(require(*READ_CALLS))]
Agent = Annotated[Principal, Depends(require("agent"))]
Supervisor = Annotated[Principal, Depends(require("supervisor"))]
CaseWriter = Annotated[Principal, Depends(require("supervisor", "gateway"))]


@router.get("/health")
async def health(svc: ServicesDep) -> dict:
    await svc.redis.ping()
    return {"ok": True}


@router.get("/me")
async def me(who: Anyone) -> dict:
    return {"role": who.role, "agent_id": who.agent_id, "name": who.name}


# -- cases and policies ------------------------------------------------------------------------
async def case_or_404(svc: Services, case_id: str) -> Case:
    case = await svc.cases.get(case_id)
    if case is None:
        raise HTTPException(404, f"case {case_id} not found")
    return case


@router.get("/cases/{case_id}", response_model=Case)
async def get_case(case_id: CaseIdPath, svc: ServicesDep, _: CaseWriter) -> Case:
    return await case_or_404(svc, case_id)


def _id_must_match_url(field: str, in_body: str, in_url: str) -> None:
    if in_body != in_url:
        raise HTTPException(422, [{"loc": ["body", field], "type": "value_error",
                                   "msg": f"{field} '{in_body}' does not match the URL ('{in_url}')"}])


@router.put("/cases/{case_id}", response_model=Case)
async def put_case(case_id: CaseIdPath, case: Case, svc: ServicesDep, _: CaseWriter) -> Case:
    _id_must_match_url("case_id", case.case_id, case_id)
    await svc.cases.put(case)
    return case


@router.get("/cases/{case_id}/promises")
async def case_promises(case_id: CaseIdPath, svc: ServicesDep, _: Supervisor) -> list[dict]:
    """Promises to pay on this case's calls, oldest first: captured, then confirmed/corrected."""
    return await svc.promises.of_case(case_id)


@router.get("/policies", response_model=list[Policy])
async def list_policies(svc: ServicesDep, _: Reader) -> list[Policy]:
    return await svc.policies.all()


@router.put("/policies/{policy_id}", response_model=Policy)
async def put_policy(policy_id: str, policy: Policy, svc: ServicesDep, who: Supervisor) -> Policy:
    """Add or change a relief policy (the next calls offer it); the change is logged."""
    _id_must_match_url("id", policy.id, policy_id)
    await svc.policies.put(policy, by=who.name)
    return policy


@router.get("/policies/history")
async def policy_history(svc: ServicesDep, _: Supervisor) -> list[dict]:
    """Every change made to the policies through the API, newest first: who, when, what it became."""
    return await svc.policies.history()


# -- calls -------------------------------------------------------------------------------------
async def visible_call(svc: Services, call_id: str, who: Principal) -> dict:
    """The call's summary, or 404 / 403 (an agent asking for another agent's call)."""
    summary = await call_summary(svc, call_id)
    if summary is None:
        raise HTTPException(404, f"call {call_id} not found")
    if not who.may_see_call(summary["agent_id"]):
        raise HTTPException(403, f"call {call_id} is not one of {who.name}'s calls")
    return summary


def _live(summary: dict) -> None:
    if summary["state"] in TERMINAL_STATES:
        raise HTTPException(409, f"call {summary['call_id']} has {summary['state']}")


Gateway = Annotated[Principal, Depends(require("gateway"))]


@router.post("/calls", status_code=201)
async def register_call(body: Registration, svc: ServicesDep, _: Gateway) -> dict:
    """The dialer registers a call before the phone rings: its id (the PBX's own: channel UUID,
    callSid...), case, agent and the PBX's leg ids. Audio that starts it may then name no case."""
    case = await case_or_404(svc, body.case_id)
    try:
        await svc.registry.register(body)
    except RegistrationRefused as exc:
        raise HTTPException(exc.status, exc.reason) from None
    # the dialer hears which contact rules the call would break (it may decide not to dial);
    # if it dials anyway, the same check at the call's start raises the agent's card
    placed_at = body.placed_at.timestamp() if body.placed_at else None
    breaches = await svc.contacts.check(case, placed_at, body.call_id)
    return {**body.model_dump(mode="json"), "contact_rules": [b.model_dump(mode="json") for b in breaches]}


@router.get("/calls")
async def live_calls(svc: ServicesDep, who: Reader) -> list[dict]:
    """The live calls this principal may see, oldest first, with their floor summary."""
    return await visible_live_calls(svc, who)


@router.get("/calls/{call_id}")
async def call_info(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> dict:
    return await visible_call(svc, call_id, who)


@router.get("/calls/{call_id}/case", response_model=Case)
async def call_case(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> Case:
    """The brief of the call's case: what the agent reads before the first word."""
    summary = await visible_call(svc, call_id, who)
    if not summary["case_id"]:
        raise HTTPException(404, f"call {call_id} has no known case (nobody registered it)")
    return await case_or_404(svc, summary["case_id"])


@router.get("/calls/{call_id}/promises")
async def call_promises(call_id: CallIdPath, svc: ServicesDep, who: Reader) -> list[dict]:
    summary = await visible_call(svc, call_id, who)
    if not summary["case_id"]:          # no case to file them under: they are in the call's own stream
        return []
    return [p for p in await svc.promises.of_case(summary["case_id"]) if p.get("call_id") == call_id]


async def _append(svc: Services, event) -> dict:
    event_id = await svc.bus.append(event)
    return {**event.model_dump(exclude_none=True), "id": event_id}


class Ack(BaseModel):
    hint_id: StreamId = Field(description="the stream id of the hint card")


@router.post("/calls/{call_id}/ack")
async def acknowledge(call_id: CallIdPath, body: Ack, svc: ServicesDep, who: Agent) -> dict:
    """The agent has seen a card; it leaves the primary slot (and the supervisor sees it was read)."""
    summary = await visible_call(svc, call_id, who)
    _live(summary)
    card = await _card(svc, call_id, body.hint_id)
    return await _append(svc, AckEvent(call_id=call_id, t=_call_time(summary), hint_id=body.hint_id, by=who.name,
                                       card_code=card.code, card_t=card.t))


class Coaching(BaseModel):
    text: str = Field(min_length=1, max_length=200)


@router.post("/calls/{call_id}/coach")
async def coach(call_id: CallIdPath, body: Coaching, svc: ServicesDep, who: Supervisor) -> dict:
    """A supervisor's message, delivered on the call's own stream to the agent's panel."""
    summary = await visible_call(svc, call_id, who)
    _live(summary)
    return await _append(svc, CoachEvent(call_id=call_id, t=_call_time(summary), text=body.text.strip(),
                                             by=who.name))


class PromiseConfirmation(BaseModel):
    amount: float = Field(gt=0, le=10_000_000)
    due: date | None = Field(None, description="None: the customer named no calendar day (\"发工资后\"); the "
                                                "card's date_text stays on the captured record")
    hint_id: StreamId | None = None


@router.post("/calls/{call_id}/promise")
async def confirm_promise(call_id: CallIdPath, body: PromiseConfirmation, svc: ServicesDep,
                          who: Agent) -> dict:
    """The agent confirms the captured promise (or corrects amount/date); stored with the case.

    Allowed after the call too: agents often confirm in the wrap-up seconds after hanging up."""
    summary = await visible_call(svc, call_id, who)
    captured = await _captured(svc, summary, body.hint_id)
    due = body.due.isoformat() if body.due else None
    return await record_promise(svc, summary, captured, body.amount, due, who.name, body.hint_id)


class PromiseDismissal(BaseModel):
    hint_id: StreamId | None = Field(None, description="the promise card the agent marks 不是承诺")


@router.post("/calls/{call_id}/promise/withdraw")
async def withdraw_promise(call_id: CallIdPath, body: PromiseDismissal, svc: ServicesDep, who: Agent) -> dict:
    """The agent marks the captured promise as not one (a misheard or misread turn, 不是承诺):
    recorded as ``withdrawn`` on the call's stream and in the ledger, like one struck at wrap-up."""
    summary = await visible_call(svc, call_id, who)
    await _captured(svc, summary, body.hint_id)          # a promise card of this call, when one is named
    return await record_promise(svc, summary, None, None, None, who.name, body.hint_id)


def promise_status(captured: dict | None, amount: float, due: str | None) -> str:
    """``confirmed`` when the agent kept what the card read, else ``corrected``."""
    same = captured is not None and captured.get("amount") is not None \
        and abs(captured["amount"] - amount) <= 0.005 and captured.get("due") == due
    return "confirmed" if same else "corrected"


async def record_promise(svc: Services, summary: dict, captured: dict | None, amount: float | None,
                         due: str | None, by: str, hint_id: str | None = None) -> dict:
    """The agent's word on the call's promise into its stream and the ledger (``amount`` None:
    withdrawn)."""
    status = "withdrawn" if amount is None else promise_status(captured, amount, due)
    event = PromiseEvent(call_id=summary["call_id"], t=_call_time(summary), status=status, amount=amount, due=due,
                         hint_id=hint_id, case_id=summary["case_id"], by=by)
    return await _append(svc, event)


async def _card(svc: Services, call_id: str, card_id: str) -> HintEvent | ContactRuleEvent:
    """A card of the call the agent can acknowledge: a hint or a contact-rule card."""
    event = await svc.bus.event(call_id, card_id)
    if not isinstance(event, (HintEvent, ContactRuleEvent)):
        raise HTTPException(422, f"{card_id} is not a card of call {call_id}")
    return event


async def _hint(svc: Services, call_id: str, hint_id: str, code: str | None = None) -> HintEvent:
    event = await svc.bus.event(call_id, hint_id)
    if not isinstance(event, HintEvent) or (code and event.code != code):
        raise HTTPException(422, f"{hint_id} is not a {code or 'hint'} card of call {call_id}")
    return event


async def _captured(svc: Services, summary: dict, hint_id: str | None) -> dict | None:
    """The promise the hint with this id captured (None when no hint is named)."""
    if hint_id is None:
        return None
    return (await _hint(svc, summary["call_id"], hint_id, "promise_to_pay")).data["promise"]


def _call_time(summary: dict) -> float:
    """Seconds into the call now (or its length, once it has ended)."""
    started = summary.get("started_at")
    if not started:
        return 0.0
    return round((summary.get("ended_at") or server_time()) - started, 3)
