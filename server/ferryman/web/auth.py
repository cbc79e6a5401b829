"""Who may see and do what: access tokens -> grants, checked on every API call and socket.

Tokens are configured (``FERRYMAN_TOKENS`` and/or ``FERRYMAN_TOKENS_FILE``), never built in.
REST calls carry ``Authorization: Bearer <token>``; subscriber sockets send
``{"type": "auth", "token": ...}`` as their first message and the ingest socket puts ``token``
in its start message, so tokens stay out of URLs and access logs.

    agent       its own calls (agent_id matches), their cases; acknowledges hints, confirms promises
    supervisor  every call, cases, policies; coaches agents
    gateway     the telephony side: streams audio (ingest), uploads cases, may follow a call's
                events (to mirror hints into a softphone); not the floor
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import yaml
from fastapi import HTTPException, Request
from pydantic import TypeAdapter, ValidationError

from ferryman.ingest.protocol import CloseCode, ProtocolError
from ferryman.settings import AccessGrant, Settings

log = logging.getLogger(__name__)
Role = str
READ_CALLS: tuple[Role, ...] = ("agent", "supervisor")
FOLLOW_CALL: tuple[Role, ...] = ("agent", "supervisor", "gateway")


class AccessConfigError(Exception):
    """The tokens file is missing or invalid (a start-up error, named precisely)."""


class AuthError(Exception):
    """``status`` is the HTTP status (401 unknown/missing token, 403 not allowed)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason

    def as_protocol_error(self) -> ProtocolError:
        """The same refusal on a websocket: 4401 / 4403."""
        return ProtocolError(CloseCode.UNAUTHENTICATED if self.status == 401 else CloseCode.FORBIDDEN, self.reason)


@dataclass(frozen=True)
class Principal:
    role: Role
    agent_id: str | None
    name: str
    token_id: str = ""     # the token's digest: what it holds is counted and re-checked by it

    def may_see_call(self, call_agent_id: str | None) -> bool:
        """Agents see their own calls; supervisors and the gateway (which streams them) see all."""
        return self.role != "agent" or self.agent_id == call_agent_id


def _stamp(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def digest(token: str) -> str:
    # Looking tokens up by their hash keeps the comparison independent of how much of a guess matches.
    return hashlib.sha256(token.encode()).hexdigest()


_grants = TypeAdapter(dict[str, AccessGrant])


def load_tokens_file(path: Path) -> dict[str, AccessGrant]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return _grants.validate_python(data.get("tokens", data) if isinstance(data, dict) else data)
    except OSError as exc:
        raise AccessConfigError(f"tokens file {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise AccessConfigError(f"tokens file {path}: {exc}") from exc


class TokenBook:
    """Tokens from the settings and the tokens file, plus those issued and revoked on the console
    (kept in Redis for the whole floor, ``records.tokens``). The file is read again when it
    changes (checked at most once a second, on use): adding or removing a person needs no
    restart; a file broken by an edit keeps the last good tokens and says why in the log."""

    def __init__(self, grants: dict[str, AccessGrant], file: Path | None = None,
                 fixed: dict[str, AccessGrant] | None = None):
        self._file, self._fixed = file, dict(fixed or {})
        self._file_stamp: int | None = None
        self._checked = 0.0
        self._issued: dict[str, AccessGrant] = {}
        self._revoked: set[str] = set()
        self._set(grants)
        if file is not None:
            self._file_stamp = _stamp(file)

    def _set(self, grants: dict[str, AccessGrant]) -> None:
        self._configured = {digest(token): grant for token, grant in grants.items()}
        self._rebuild()

    def _rebuild(self) -> None:
        book = {**self._configured, **self._issued}
        self._by_digest = {key: grant for key, grant in book.items() if key not in self._revoked}
        self._agent_names = {g.agent_id: g.name for g in book.values() if g.role == "agent" and g.name}

    def apply_console(self, issued: dict[str, AccessGrant], revoked: set[str]) -> None:
        """The tokens issued on the console (by digest) and every revoked digest, as Redis has them."""
        self._issued, self._revoked = dict(issued), set(revoked)
        self._rebuild()

    def entries(self) -> list[tuple[str, AccessGrant, str, bool]]:
        """Every token known: (digest, grant, source "config" | "console", revoked)."""
        rows = [(d, g, "config", d in self._revoked) for d, g in self._configured.items()]
        return rows + [(d, g, "console", d in self._revoked) for d, g in self._issued.items()]

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenBook":
        grants = dict(settings.tokens)
        if settings.tokens_file:
            grants.update(load_tokens_file(settings.tokens_file))
        return cls(grants, settings.tokens_file, settings.tokens)

    def refresh(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._file is None or now - self._checked < 1.0:
            return
        self._checked = now
        stamp = _stamp(self._file)
        if stamp == self._file_stamp:
            return
        try:
            grants = {**self._fixed, **load_tokens_file(self._file)}
        except AccessConfigError as exc:
            log.error("keeping the last good tokens: %s", exc)
            return
        self._file_stamp = stamp
        self._set(grants)
        log.info("tokens file %s read again: %d tokens", self._file, len(grants))

    def __len__(self) -> int:
        return len(self._by_digest)

    def agent_name(self, agent_id: str | None) -> str | None:
        return self._agent_names.get(agent_id, agent_id) if agent_id else None

    def authenticate(self, token: str | None, allowed: Iterable[Role]) -> Principal:
        if not token:
            raise AuthError(401, "no access token given")
        if not isinstance(token, str) or len(token) > 512:
            raise AuthError(401, "an access token is a string of at most 512 characters")
        self.refresh()
        token_id = digest(token)
        grant = self._by_digest.get(token_id)
        if grant is None:
            raise AuthError(401, "unknown access token")
        if grant.expires is not None and datetime.now(timezone.utc) >= grant.expires:
            raise AuthError(401, "access token expired")
        allowed = tuple(allowed)
        if grant.role not in allowed:
            raise AuthError(403, f"role '{grant.role}' may not do this (needs {' or '.join(allowed)})")
        return Principal(grant.role, grant.agent_id, grant.name or grant.agent_id or grant.role, token_id)

    def allows(self, token: str, roles: Iterable[Role]) -> bool:
        """Is ``token`` (still) good for one of ``roles``: known, not revoked, not expired?"""
        try:
            self.authenticate(token, roles)
        except AuthError:
            return False
        return True

    def still_valid(self, who: Principal) -> bool:
        """Is the token behind an open socket still in the book, unexpired, with the same grant?"""
        self.refresh()
        grant = self._by_digest.get(who.token_id)
        return (grant is not None and grant.role == who.role and grant.agent_id == who.agent_id
                and (grant.expires is None or datetime.now(timezone.utc) < grant.expires))


class SocketQuota:
    """Open subscriber sockets per token on this node: one panel left open in every tab must not
    take the floor's sockets."""

    def __init__(self, per_token: int):
        self.per_token = per_token
        self._open: Counter[str] = Counter()

    @contextlib.contextmanager
    def hold(self, who: Principal) -> Iterator[None]:
        """Gateways are exempt: one gateway follows every call it streams."""
        if who.role != "gateway" and self._open[who.token_id] >= self.per_token:
            raise ProtocolError(CloseCode.TOO_MANY_SOCKETS,
                                f"this token already holds {self.per_token} open sockets on this node")
        self._open[who.token_id] += 1
        try:
            yield
        finally:
            self._open[who.token_id] -= 1
            if not self._open[who.token_id]:
                del self._open[who.token_id]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def require(*roles: Role):
    """A FastAPI dependency: the caller's principal, or 401/403 with the reason."""

    def dependency(request: Request) -> Principal:
        try:
            return request.app.state.services.tokens.authenticate(bearer_token(request), roles)
        except AuthError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            raise HTTPException(exc.status, exc.reason, headers=headers) from None

    return dependency
