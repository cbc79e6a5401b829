"""Contact rules at call start (pure: the facts in, the breaches out).

Three rules, their figures and their cards' wording are data (``contact_rules.yaml``; a team
lead's live edit is kept in Redis by ``records.contacts``):

    calling_hours    the call is placed outside the allowed hours of the debtor's local time
    daily_contacts   the debtor was already reached ``max_contacts_per_day`` times that local day
    complaint_hold   the case has a registered complaint no supervisor has released

A breach does not stop the call (the dialer decides that; it is told at registration): it
becomes a critical card on the agent's panel and an alert on the wall, and stays on the record.
"""

from __future__ import annotations

import re
import string
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RULES_FILE = Path(__file__).with_name("contact_rules.yaml")
Rule = Literal["calling_hours", "daily_contacts", "complaint_hold"]
RULES: tuple[Rule, ...] = ("calling_hours", "daily_contacts", "complaint_hold")
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or ValueError naming the bad one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from exc


class Hours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(description="HH:MM, local time")
    end: str = Field(description="HH:MM, local time; 24:00 = midnight")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        match = _CLOCK.match(value)
        if not match or (match.group(1) == "24" and match.group(2) != "00"):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00–24:00)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "Hours":
        if _minutes(self.start) >= _minutes(self.end):
            raise ValueError(f"calling hours must start before they end ({self.start}–{self.end})")
        return self

    def allow(self, moment: time) -> bool:
        return _minutes(self.start) <= moment.hour * 60 + moment.minute < _minutes(self.end)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


# The {fields} a card's wording may use, per rule (facts of every check, then the rule's own).
FACTS = ("placed_at", "local_time", "local_date", "timezone")
FIGURES = {"calling_hours": ("start", "end"), "daily_contacts": ("contacts", "limit", "nth"),
           "complaint_hold": ("registered_on", "note")}


class CardText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    detail: str = Field(min_length=1)
    suggestion: str = Field(min_length=1)

    def check_fields(self, rule: str) -> None:
        """Every {field} must be one the check fills (a typo would fail at a call's start)."""
        allowed = {*FACTS, *FIGURES[rule]}
        for text in (self.title, self.detail, self.suggestion):
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            except ValueError as exc:
                raise ValueError(f"{rule}: {exc} in {text!r}") from None
            unknown = sorted(n for n in names if n not in allowed)
            if unknown:
                raise ValueError(f"{rule}: unknown field {{{unknown[0]}}} (may use {', '.join(sorted(allowed))})")


class ContactRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str
    calling_hours: Hours
    max_contacts_per_day: int = Field(ge=1)
    complaint_hold: bool = True
    cards: dict[Rule, CardText]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("cards")
    @classmethod
    def _every_rule_worded(cls, cards: dict) -> dict:
        missing = [rule for rule in RULES if rule not in cards]
        if missing:
            raise ValueError(f"cards missing for {', '.join(missing)}")
        for rule, words in cards.items():
            words.check_fields(rule)
        return cards


@lru_cache(maxsize=2)
def load_contact_rules(path: Path = RULES_FILE) -> ContactRules:
    return ContactRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


class Complaint(BaseModel):
    """A complaint registered on a case; ``released_at`` set once a supervisor released it."""

    registered_at: float
    registered_by: str
    note: str = ""
    released_at: float | None = None
    released_by: str | None = None
    release_note: str = ""

    @property
    def holds(self) -> bool:
        return self.released_at is None


class Breach(BaseModel):
    rule: Rule
    title: str
    detail: str
    suggestion: str
    facts: dict = Field(default_factory=dict)


PLACEMENT_WINDOW = timedelta(days=2)


def plausible_placement(placed_at: datetime | None) -> datetime | None:
    """A ``placed_at`` a dialer may give: within two days of now (a validator for the models
    that carry one; a year-0001 placement is a mistake, not a call)."""
    if placed_at is not None and abs(placed_at - datetime.now(timezone.utc)) > PLACEMENT_WINDOW:
        raise ValueError("placed_at must be within two days of now")
    return placed_at


def debtor_zone(rules: ContactRules, case_timezone: str | None) -> ZoneInfo:
    return zone(case_timezone or rules.timezone)


def debtor_today(rules: ContactRules, case_timezone: str | None) -> date:
    """Today where the debtor is: what "明天" and "due today" mean for the case."""
    return datetime.now(debtor_zone(rules, case_timezone)).date()


def days_span(first: date | None, last: date | None, tz: ZoneInfo) -> tuple[float | None, float | None]:
    """The first and last epoch second of the days ``first``..``last`` (inclusive) in ``tz``."""
    start = datetime.combine(first, time(), tz).timestamp() if first else None
    end = datetime.combine(last + timedelta(days=1), time(), tz).timestamp() - 0.001 if last else None
    return start, end


def local_day(placed_at: datetime, tz: ZoneInfo) -> tuple[date, float, float]:
    """The debtor's local date of ``placed_at`` and its first and last epoch second."""
    day = placed_at.astimezone(tz).date()
    first = datetime.combine(day, time(), tz)
    return day, first.timestamp(), (first + timedelta(days=1)).timestamp()


def check_contact(rules: ContactRules, placed_at: datetime, tz: ZoneInfo, contacts_before: int | None = None,
                  complaint: Complaint | None = None) -> list[Breach]:
    """The rules a call placed at ``placed_at`` breaks. ``contacts_before``: effective contacts
    with the debtor earlier that local day (None: not known, e.g. no case)."""
    local = placed_at.astimezone(tz)
    facts = {"placed_at": placed_at.astimezone(timezone.utc).isoformat(), "local_time": local.strftime("%H:%M"),
             "local_date": local.date().isoformat(), "timezone": tz.key}
    breaches = []
    hours = rules.calling_hours
    if not hours.allow(local.time()):
        breaches.append(_breach(rules, "calling_hours", facts, start=hours.start, end=hours.end))
    if contacts_before is not None and contacts_before >= rules.max_contacts_per_day:
        breaches.append(_breach(rules, "daily_contacts", facts, contacts=contacts_before,
                                limit=rules.max_contacts_per_day, nth=contacts_before + 1))
    if rules.complaint_hold and complaint is not None and complaint.holds:
        registered = datetime.fromtimestamp(complaint.registered_at, tz)
        breaches.append(_breach(rules, "complaint_hold", facts, registered_on=registered.strftime("%Y-%m-%d"),
                                note=complaint.note or "未注明原因"))
    return breaches


def _breach(rules: ContactRules, rule: Rule, facts: dict, **figures) -> Breach:
    words = rules.cards[rule]
    values = {**facts, **figures}
    return Breach(rule=rule, title=words.title.format(**values), detail=words.detail.format(**values),
                  suggestion=words.suggestion.format(**values), facts=values)
