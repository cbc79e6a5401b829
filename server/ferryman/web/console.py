"""REST of the team-lead console (supervisors): the hint rules a lead owns — edited, validated,
tried on a sentence, versioned and rolled back, used by the next calls without a restart — and
the access tokens: listed, issued, revoked, given an expiry, for the whole floor at once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from ferryman.hints.learned.dataset import default_case
from ferryman.hints.learned.trial import try_sentence
from ferryman.hints.rules import CARD_TEXT_FIELDS, EDITABLE, RulesError, rules_with, with_card_wording
from ferryman.ids import AgentIdField
from ferryman.settings import AccessGrant
from ferryman.web.api import Supervisor
from ferryman.web.auth import digest
from ferryman.web.services import ServicesDep

router = APIRouter(prefix="/api")
RULE_LABELS = {"cards.yaml": "提示卡片与建议话术", "topics.yaml": "敏感话题词表", "sentiment.yaml": "情绪词表与阈值"}


def _editable(file: str) -> str:
    if file not in EDITABLE:
        raise HTTPException(404, f"{file} is not a rule file a team lead edits ({', '.join(EDITABLE)})")
    return file


# -- rules ---------------------------------------------------------------------------------------
@router.get("/rulebook")
async def rule_files(svc: ServicesDep, _: Supervisor) -> list[dict]:
    """Each editable file: its label, the text in force and its version (null: the package's)."""
    out = []
    for file in EDITABLE:
        text, version = await svc.rulebook.text(file)
        out.append({"file": file, "label": RULE_LABELS[file], "text": text, "version": version})
    return out


class RuleEdit(BaseModel):
    text: str = Field(min_length=1, max_length=200_000)
    note: str = Field("", max_length=200)


@router.put("/rulebook/{file}")
async def save_rules(file: str, body: RuleEdit, svc: ServicesDep, who: Supervisor) -> dict:
    """A new version of the file, for every call that starts from now on (422: it would not load)."""
    try:
        return await svc.rulebook.save(_editable(file), body.text, who.name, body.note)
    except RulesError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/rulebook/history")
async def rule_history(svc: ServicesDep, _: Supervisor, file: str | None = None) -> list[dict]:
    """Every version, newest first: who changed what, when (``text`` null: back to the package's)."""
    return list(reversed(await svc.rulebook.history(_editable(file) if file else None)))


class RollBack(BaseModel):
    version: int = Field(ge=0, description="0: the package's own file")


@router.post("/rulebook/{file}/rollback")
async def roll_back(file: str, body: RollBack, svc: ServicesDep, who: Supervisor) -> dict:
    try:
        return await svc.rulebook.roll_back(_editable(file), body.version, who.name)
    except KeyError as exc:
        raise HTTPException(404, str(exc)) from None
    except RulesError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/rulebook/cards")
async def card_wordings(svc: ServicesDep, _: Supervisor) -> list[dict]:
    """Each card's wording in force (title, detail, suggested line), for the console's form."""
    cards = (await svc.rulebook.rules()).cards
    return [{"code": code, "severity": card.severity, **{f: getattr(card, f) for f in CARD_TEXT_FIELDS}}
            for code, card in cards.items()]


class CardWordingEdit(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=60)
    detail: str | None = Field(None, min_length=1, max_length=300)
    suggestion: str | None = Field(None, min_length=1, max_length=300)
    note: str = Field("", max_length=200)


@router.put("/rulebook/cards/{code}")
async def save_card_wording(code: str, body: CardWordingEdit, svc: ServicesDep, who: Supervisor) -> dict:
    """One card's wording changed in ``cards.yaml`` (every other line, comments included, kept),
    as a new version of the file: validated, used by the next calls."""
    wording = {f: v for f, v in body.model_dump(include=set(CARD_TEXT_FIELDS)).items() if v is not None}
    text, _ = await svc.rulebook.text("cards.yaml")
    try:
        edited = with_card_wording(text, code, wording)
        return await svc.rulebook.save("cards.yaml", edited, who.name, body.note or f"修改卡片 {code} 的话术")
    except RulesError as exc:
        raise HTTPException(422, str(exc)) from None


class Trial(BaseModel):
    text: str = Field(min_length=1, max_length=300)
    speaker: Literal["customer", "agent"] = "customer"
    prev: str | None = Field(None, max_length=300, description="what the other side said just before")
    drafts: dict[str, str] = Field(default_factory=dict, description="files being edited, not saved yet")


@router.post("/rulebook/try")
async def try_rules(body: Trial, svc: ServicesDep, _: Supervisor) -> dict:
    """The sentence through the engine with the rules in force, or with the drafts being edited."""
    try:
        rules = rules_with({**await svc.rulebook.overrides(), **{_editable(f): t for f, t in body.drafts.items()}})
    except RulesError as exc:
        raise HTTPException(422, str(exc)) from None
    trial = try_sentence(body.text, body.speaker, default_case(), prev=body.prev, rules=rules)
    return {"hints": [{"code": h.code, "severity": h.severity, "title": h.title, "detail": h.detail,
                       "suggestion": h.suggestion, "source": h.source} for h in trial.hints],
            "found": sorted(trial.evidence)}


# -- tokens --------------------------------------------------------------------------------------
def _token_row(digest: str, grant: AccessGrant, source: str, revoked: bool) -> dict:
    return {"id": digest[:12], "role": grant.role, "agent_id": grant.agent_id, "name": grant.name,
            "expires": grant.expires.isoformat() if grant.expires else None, "source": source, "revoked": revoked}


@router.get("/tokens")
async def list_tokens(svc: ServicesDep, _: Supervisor) -> list[dict]:
    """Every token this floor knows (never the token itself: its id is the start of its digest)."""
    return [_token_row(*entry) for entry in svc.tokens.entries()]


class NewToken(BaseModel):
    role: Literal["agent", "supervisor", "gateway"]
    agent_id: AgentIdField | None = None
    name: str = Field(min_length=1, max_length=64)
    days: float | None = Field(None, gt=0, le=3650, description="expires after this many days; none = no expiry")


@router.post("/tokens", status_code=201)
async def issue_token(body: NewToken, svc: ServicesDep, who: Supervisor) -> dict:
    """A new token, shown this once (only its digest is kept)."""
    expires = datetime.now(timezone.utc) + timedelta(days=body.days) if body.days else None
    try:
        grant = AccessGrant(role=body.role, agent_id=body.agent_id, name=body.name, expires=expires)
    except ValueError as exc:
        raise HTTPException(422, str(exc).splitlines()[-1]) from None
    token = await svc.token_desk.issue(grant, who.name)
    return {"token": token, **_token_row(digest(token), grant, "console", False)}


def _entry(svc, token_id: str) -> tuple[str, AccessGrant, str, bool]:
    found = [e for e in svc.tokens.entries() if e[0].startswith(token_id)] if len(token_id) >= 8 else []
    if len(found) != 1:
        raise HTTPException(404, f"no token {token_id}")
    return found[0]


@router.delete("/tokens/{token_id}")
async def revoke_token(token_id: str, svc: ServicesDep, who: Supervisor) -> dict:
    """Refused on every node within a second (open sockets within a few)."""
    token_digest, grant, source, _ = _entry(svc, token_id)
    if who.token_id == token_digest:
        raise HTTPException(409, "a supervisor cannot revoke the token they are signed in with")
    await svc.token_desk.revoke(token_digest, who.name)
    return _token_row(token_digest, grant, source, True)


class Expiry(BaseModel):
    expires: datetime | None


@router.patch("/tokens/{token_id}")
async def set_expiry(token_id: str, body: Expiry, svc: ServicesDep, _: Supervisor) -> dict:
    token_digest, grant, source, revoked = _entry(svc, token_id)
    if source != "console":
        raise HTTPException(409, "this token comes from the tokens file or settings: change it there")
    grant = AccessGrant(**{**grant.model_dump(), "expires": body.expires})
    await svc.token_desk.set_expiry(token_digest, grant)
    return _token_row(token_digest, grant, source, revoked)
