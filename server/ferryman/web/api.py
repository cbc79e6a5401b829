"""REST: cases and calls."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from ferryman.cases.schema import Case, Policy

router = APIRouter(prefix="/api")


@router.get("/health")
async def health(request: Request) -> dict:
    await request.app.state.redis.ping()
    return {"ok": True}


@router.get("/cases/{case_id}", response_model=Case)
async def get_case(case_id: str, request: Request) -> Case:
    case = await request.app.state.cases.get(case_id)
    if case is None:
        raise HTTPException(404, f"case {case_id} not found")
    return case


def _id_must_match_url(field: str, in_body: str, in_url: str) -> None:
    if in_body != in_url:
        raise HTTPException(422, [{"loc": ["body", field], "type": "value_error",
                                   "msg": f"{field} '{in_body}' does not match the URL ('{in_url}')"}])


@router.put("/cases/{case_id}", response_model=Case)
async def put_case(case_id: str, case: Case, request: Request) -> Case:
    _id_must_match_url("case_id", case.case_id, case_id)
    await request.app.state.cases.put(case)
    return case


@router.get("/cases/{case_id}/promises")
async def case_promises(case_id: str, request: Request) -> list[dict]:
    """Promises to pay captured on this case's calls, oldest first."""
    return await request.app.state.bus.promises(case_id)


@router.get("/policies", response_model=list[Policy])
async def list_policies(request: Request) -> list[Policy]:
    return await request.app.state.policies.all()


@router.put("/policies/{policy_id}", response_model=Policy)
async def put_policy(policy_id: str, policy: Policy, request: Request) -> Policy:
    _id_must_match_url("id", policy.id, policy_id)
    await request.app.state.policies.put(policy)
    return policy


@router.get("/calls")
async def live_calls(request: Request) -> list[dict]:
    bus = request.app.state.bus
    return [{"call_id": call_id, **await bus.call_info(call_id)} for call_id in await bus.live_calls()]


@router.get("/calls/{call_id}")
async def call_info(call_id: str, request: Request) -> dict:
    info = await request.app.state.bus.call_info(call_id)
    if not info:
        raise HTTPException(404, f"call {call_id} not found")
    return {"call_id": call_id, **info}
