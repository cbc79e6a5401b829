"""REST for the contact rules: the rules a team lead sets, the contacts made outside Ferryman,
complaints registered on a case and a supervisor's release (``calls.contact``, ``records.contacts``)."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from ferryman.calls.contact import ContactRules, debtor_zone, local_day
from ferryman.ids import CaseIdPath, IdField
from ferryman.web.api import CaseWriter, Reader, Supervisor, case_or_404
from ferryman.web.services import ServicesDep

router = APIRouter(prefix="/api")


@router.get("/contact-rules", response_model=ContactRules)
async def get_rules(svc: ServicesDep, _: Reader) -> ContactRules:
    return await svc.contacts.rules()


@router.put("/contact-rules", response_model=ContactRules)
async def put_rules(rules: ContactRules, svc: ServicesDep, _: Supervisor) -> ContactRules:
    """The next calls are checked against these (no restart)."""
    await svc.contacts.set_rules(rules)
    return rules


@router.delete("/contact-rules", response_model=ContactRules)
async def reset_rules(svc: ServicesDep, _: Supervisor) -> ContactRules:
    """Back to the defaults of ``contact_rules.yaml``."""
    await svc.contacts.set_rules(None)
    return await svc.contacts.rules()


class Contact(BaseModel):
    ref: IdField = Field(description="the dialer's id of the contact (counted once)")
    at: AwareDatetime | None = Field(None, description="when the debtor was reached; unset = now")


@router.post("/cases/{case_id}/contacts", status_code=201)
async def report_contact(case_id: CaseIdPath, body: Contact, svc: ServicesDep, _: CaseWriter) -> dict:
    """An effective contact with the debtor made outside Ferryman (another line, another system)."""
    await case_or_404(svc, case_id)
    at = body.at.timestamp() if body.at else time.time()
    added = await svc.contacts.report_contact(case_id, body.ref, at)
    return {"case_id": case_id, "ref": body.ref, "counted": added}


@router.get("/cases/{case_id}/contact-status")
async def contact_status(case_id: CaseIdPath, svc: ServicesDep, _: CaseWriter) -> dict:
    """Today's effective contacts (debtor's local day), the complaint on record, and the rules a
    call placed now would break."""
    case = await case_or_404(svc, case_id)
    rules = await svc.contacts.rules()
    day, first, last = local_day_now(rules, case.timezone)
    complaint = await svc.contacts.complaint(case_id)
    return {"case_id": case_id, "local_date": day.isoformat(), "limit": rules.max_contacts_per_day,
            "contacts_today": await svc.contacts.contacts_between(case_id, first, last),
            "complaint": complaint.model_dump() if complaint else None,
            "breaches_now": [b.model_dump(mode="json") for b in await svc.contacts.check(case)]}


def local_day_now(rules: ContactRules, case_timezone: str | None) -> tuple[date, float, float]:
    return local_day(datetime.now(timezone.utc), debtor_zone(rules, case_timezone))


class ComplaintNote(BaseModel):
    note: str = Field("", max_length=200)


@router.put("/cases/{case_id}/complaint", status_code=201)
async def register_complaint(case_id: CaseIdPath, svc: ServicesDep, who: CaseWriter,
                             body: ComplaintNote | None = None) -> dict:
    """A complaint registered on the case: no contact until a supervisor releases it."""
    await case_or_404(svc, case_id)
    return (await svc.contacts.register_complaint(case_id, who.name, (body or ComplaintNote()).note)).model_dump()


@router.post("/cases/{case_id}/complaint/release")
async def release_complaint(case_id: CaseIdPath, svc: ServicesDep, who: Supervisor,
                            body: ComplaintNote | None = None) -> dict:
    """The case may be contacted again; the complaint stays on record with who released it."""
    released = await svc.contacts.release_complaint(case_id, who.name, (body or ComplaintNote()).note)
    if released is None:
        raise HTTPException(404, f"case {case_id} has no registered complaint")
    return released.model_dump()
