"""Calls registered by the dialer before the phone rings: the PBX knows a channel, not a case.

    callreg:{call_id}   JSON {call_id, case_id, agent_id, legs: {agent: id, customer: id}}
    callleg:{leg_id}    "{call_id} {channel}" — how an adapter finds the call of a PBX leg

Registered with ``POST /api/calls`` (gateway token); kept ``ttl_s`` (an hour by default: a
registration nobody dials is forgotten). A socket that starts a registered call may leave out
the case and agent: they come from here. Duplicate and late registrations are refused.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ferryman.events import Channel
from ferryman.ids import AgentIdField, IdField
from ferryman.records.summaries import call_key


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: IdField
    case_id: IdField
    agent_id: AgentIdField
    legs: dict[Channel, IdField] = Field(default_factory=dict, description="PBX leg ids (channel UUIDs)")

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
        for channel, leg in registration.legs.items():
            if not await self._redis.set(leg_key(leg), f"{registration.call_id} {channel}", nx=True, ex=self._ttl_s):
                await self._redis.delete(registration_key(registration.call_id))
                raise RegistrationRefused(409, f"leg {leg} already belongs to another registered call")

    async def get(self, call_id: str) -> Registration | None:
        raw = await self._redis.get(registration_key(call_id))
        return Registration.model_validate_json(raw) if raw else None

    async def wait_for(self, call_id: str, wait_s: float) -> Registration | None:
        """The registration, waiting up to ``wait_s`` for a dialer that is a little late."""
        deadline = time.monotonic() + wait_s
        while (registration := await self.get(call_id)) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return registration

    async def leg(self, leg_id: str) -> tuple[str, Channel] | None:
        """The registered call and channel of a PBX leg."""
        raw = await self._redis.get(leg_key(leg_id))
        if not raw:
            return None
        call_id, channel = raw.split(" ", 1)
        return call_id, channel  # type: ignore[return-value]
