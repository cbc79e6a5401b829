"""Calls registered by the dialer before the phone rings: the PBX knows a channel, not a case.

    callreg:{call_id}   JSON {call_id, case_id, agent_id, legs: {agent: id, customer: id}}
    callleg:{leg_id}    "{call_id} {channel}" — how an adapter finds the call of a PBX leg

Registered with ``POST /api/calls`` (gateway token); kept ``ttl_s`` (an hour by default: a
registration nobody dials is forgotten). A socket that starts a registered call may leave out
the case and agent: they come from here. Duplicate and late registrations are refused.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Awaitable, Callable, TypeVar

import redis.asyncio as aioredis
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from ferryman.calls.contact import plausible_placement
from ferryman.events import Channel
from ferryman.ids import AgentIdField, IdField
from ferryman.records.summaries import call_key

_UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def canonical_leg(leg_id: str) -> str:
    """A UUID in the one way PBXs print them (lower case: Asterisk's AudioSocket sends it as 16
    bytes, so its text form is ours to choose); other ids (a callSid) as they are."""
    return leg_id.lower() if _UUID.match(leg_id) else leg_id


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: IdField
    case_id: IdField
    agent_id: AgentIdField
    legs: dict[Channel, IdField] = Field(default_factory=dict, description="PBX leg ids (channel UUIDs)")
    placed_at: AwareDatetime | None = Field(None, description="when the call is placed (ISO 8601 with a zone); "
                                                              "unset: when its audio starts")

    @field_validator("placed_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        return plausible_placement(value)

    @field_validator("legs")
    @classmethod
    def _canonical(cls, legs: dict[Channel, str]) -> dict[Channel, str]:
        return {channel: canonical_leg(leg) for channel, leg in legs.items()}

    @model_validator(mode="after")
    def _two_different_legs(self) -> "Registration":
        if len(set(self.legs.values())) != len(self.legs):
            raise ValueError("the agent and customer legs must be different ids")
        return self


class RegistrationRefused(Exception):
    """``status``: 409 (already registered, or the call has started)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


T = TypeVar("T")


def registration_key(call_id: str) -> str:
    return f"callreg:{call_id}"


def leg_key(leg_id: str) -> str:
    return f"callleg:{leg_id}"


class CallRegistry:
    def __init__(self, client: aioredis.Redis, ttl_s: int = 3600):
        self._redis, self._ttl_s = client, ttl_s

    async def register(self, registration: Registration) -> None:
        if await self._redis.hget(call_key(registration.call_id), "state"):
            raise RegistrationRefused(409, f"call {registration.call_id} has already started; register before "
                                           "the audio")
        if not await self._redis.set(registration_key(registration.call_id), registration.model_dump_json(),
                                     nx=True, ex=self._ttl_s):
            raise RegistrationRefused(409, f"call {registration.call_id} is already registered")
        taken = []
        for channel, leg in registration.legs.items():
            if not await self._redis.set(leg_key(leg), f"{registration.call_id} {channel}", nx=True, ex=self._ttl_s):
                await self._redis.delete(registration_key(registration.call_id), *map(leg_key, taken))
                raise RegistrationRefused(409, f"leg {leg} already belongs to another registered call")
            taken.append(leg)

    async def get(self, call_id: str) -> Registration | None:
        raw = await self._redis.get(registration_key(call_id))
        return Registration.model_validate_json(raw) if raw else None

    async def wait_for(self, call_id: str, wait_s: float) -> Registration | None:
        """The registration, waiting up to ``wait_s`` for a dialer that is a little late."""
        return await _waited(lambda: self.get(call_id), wait_s)

    async def leg(self, leg_id: str) -> tuple[str, Channel] | None:
        """The registered call and channel of a PBX leg."""
        raw = await self._redis.get(leg_key(canonical_leg(leg_id)))
        if not raw:
            return None
        call_id, channel = raw.split(" ", 1)
        return call_id, channel  # type: ignore[return-value]

    async def wait_for_call_or_leg(self, pbx_id: str, wait_s: float) -> tuple[str, Channel | None] | None:
        """What a PBX id was registered as: a call (``(pbx_id, None)``) or one of a call's legs
        (``(call_id, channel)``), waiting up to ``wait_s`` for either."""
        async def look() -> tuple[str, Channel | None] | None:
            if await self._redis.exists(registration_key(pbx_id)):
                return pbx_id, None
            return await self.leg(pbx_id)

        return await _waited(look, wait_s)

    async def wait_for_leg(self, leg_id: str, wait_s: float) -> tuple[str, Channel] | None:
        """The leg's call and channel, waiting up to ``wait_s`` for the dialer to register it."""
        return await _waited(lambda: self.leg(leg_id), wait_s)


async def _waited(look: Callable[[], Awaitable[T | None]], wait_s: float) -> T | None:
    deadline = time.monotonic() + wait_s
    while (found := await look()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return found
