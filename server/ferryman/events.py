"""The events a call produces, and their one JSON codec.

The same objects are written to the replay JSONL, stored in the call's Redis stream and sent
on the websockets. ``t`` is the second of call time at which the event was emitted (audio
time in an offline replay, wall time since the call started on a live call).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Channel = Literal["agent", "customer"]
CHANNELS: tuple[Channel, Channel] = ("agent", "customer")


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    call_id: str = ""
    t: float = 0.0
    id: str | None = Field(None, description="the Redis stream id, set on delivery")

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


class TranscriptEvent(_Event):
    """A partial (provisional) or final hypothesis for one utterance of one channel."""

    type: Literal["transcript"] = "transcript"
    channel: Channel
    final: bool
    utterance: int = Field(description="per-channel utterance number; partials and the final share it")
    start: float
    end: float
    text: str
    stable: str | None = Field(None, description="partials: the prefix two hypotheses agree on")


class CallEvent(_Event):
    """Lifecycle of a call: started, ended (stop received) or dropped (socket lost)."""

    type: Literal["call"] = "call"
    state: Literal["started", "ended", "dropped"]
    case_id: str | None = None
    agent_id: str | None = None
    detail: str | None = None


class Evidence(BaseModel):
    channel: Channel
    text: str
    utterance: int | None = None


class HintEvent(_Event):
    """A card for the agent: what happened, why it matters, what to say (zh-CN)."""

    type: Literal["hint"] = "hint"
    code: str
    severity: Literal["info", "warning", "critical"]
    priority: int
    title: str
    detail: str
    suggestion: str
    evidence: Evidence
    data: dict = Field(default_factory=dict, description="structured facts behind the card (plan, promise, ...)")
    source: list[dict] = Field(default_factory=list,
                               description="what raised it: {by: rule, rule, match} or {by: model, head, score}")


class ContactRuleEvent(_Event):
    """A contact rule the call breaks, found when it started (``calls.contact``): a critical card
    for the agent and an alert on the wall, kept on the call's record. Not a hint about what was
    said, so it has its own type (and no evidence turn)."""

    type: Literal["contact_rule"] = "contact_rule"
    code: Literal["contact_rule"] = "contact_rule"
    rule: Literal["calling_hours", "daily_contacts", "complaint_hold"]
    severity: Literal["critical"] = "critical"
    priority: int = 0
    title: str
    detail: str
    suggestion: str
    data: dict = Field(default_factory=dict, description="the facts checked: local time, contacts, complaint")


class ChecklistEvent(_Event):
    """The opening checklist (identity, purpose, recording notice), sent when an item ticks."""

    type: Literal["checklist"] = "checklist"
    items: dict[str, bool]
    labels: dict[str, str]


class MoodEvent(_Event):
    """The customer's mood after each customer utterance: 0 calm .. 1 furious."""

    type: Literal["mood"] = "mood"
    score: float
    level: Literal["calm", "tense", "angry"]


class AckEvent(_Event):
    """The agent acknowledged a hint card (``hint_id`` is the card's stream id)."""

    type: Literal["ack"] = "ack"
    hint_id: str
    by: str
    card_code: str | None = None      # the card's code and call second: the wall matches its floor copy by them
    card_t: float | None = None


class CoachEvent(_Event):
    """A supervisor's message to the agent on this call."""

    type: Literal["coach"] = "coach"
    text: str
    by: str


class ListenEvent(_Event):
    """A supervisor started or stopped listening in to the call (kept on the call's record)."""

    type: Literal["listen"] = "listen"
    state: Literal["started", "stopped"]
    by: str


class PromiseEvent(_Event):
    """The agent confirmed a captured promise to pay, corrected its amount or date, or withdrew
    it (a misheard promise struck at wrap-up: no amount, no date)."""

    type: Literal["promise"] = "promise"
    status: Literal["confirmed", "corrected", "withdrawn"]
    amount: float | None = None
    due: str | None = Field(None, description="ISO date the customer promised to pay by")
    hint_id: str | None = None
    case_id: str | None = None          # None: a call nobody registered (kept in the call's stream only)
    by: str


Event = Annotated[Union[TranscriptEvent, CallEvent, HintEvent, ContactRuleEvent, ChecklistEvent, MoodEvent,
                        AckEvent, CoachEvent, ListenEvent, PromiseEvent],
                  Field(discriminator="type")]
_event_adapter: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes | dict) -> Event:
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    return _event_adapter.validate_python(data)
