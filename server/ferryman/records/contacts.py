"""What the contact rules are checked against, in Redis.

    contacts:{case_id}     sorted set of the debtor's effective contacts by epoch second: a call
                           (member = call id) once the customer spoke on it, or a contact the
                           dialer reported from elsewhere (member = "ext:{ref}")
    complaint:{case_id}    JSON of the case's registered complaint (``calls.contact.Complaint``)
    contactrules           JSON of the team lead's contact rules (else ``contact_rules.yaml``)

A call counts as a contact once the customer has said a few words on it (the wrap-up's "somebody
answered" threshold) and unless someone other than the debtor answered (a third-party card takes
it back out): staged in those events' transactions, with the call's case and start time read
inside Redis (a script), so nothing reads before the write. Entries past retention drop out.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

import redis.asyncio as aioredis

from ferryman.calls.contact import (
    Breach,
    Complaint,
    ContactRules,
    check_contact,
    debtor_today,
    debtor_zone,
    load_contact_rules,
    local_day,
)
from ferryman.cases.schema import Case
from ferryman.events import Event, HintEvent, TranscriptEvent
from ferryman.records.summaries import call_key

RULES_KEY = "contactrules"
EXTERNAL = "ext:"
# A customer final: count its characters on the call; once the customer has said enough (and
# nobody else answered), the call is one contact with the debtor. Old entries leave the set.
_COUNT_CONTACT = """
local case_id = redis.call('HGET', KEYS[1], 'case_id')
if not case_id or case_id == '' then return 0 end
local said = redis.call('HINCRBY', KEYS[1], 'customer_chars', ARGV[4])
if said < tonumber(ARGV[5]) or redis.call('HEXISTS', KEYS[1], 'third_party') == 1 then return 0 end
local started = redis.call('HGET', KEYS[1], 'started_at') or ARGV[2]
local key = 'contacts:' .. case_id
redis.call('ZADD', key, 'NX', started, ARGV[1])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[3])))
redis.call('EXPIRE', key, ARGV[3])
return 1
"""
# Someone other than the debtor answered: the call is not a contact with the debtor.
_NOT_THE_DEBTOR = """
redis.call('HSET', KEYS[1], 'third_party', 1)
local case_id = redis.call('HGET', KEYS[1], 'case_id')
if case_id and case_id ~= '' then redis.call('ZREM', 'contacts:' .. case_id, ARGV[1]) end
return 0
"""


# Complaints change in one step each, so a registration and a release at the same moment cannot
# overwrite each other.
_REGISTER = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['released_at'] == cjson.null then return current end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"""
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if not current then return false end
local complaint = cjson.decode(current)
if complaint['released_at'] ~= cjson.null then return current end
complaint['released_at'] = tonumber(ARGV[1])
complaint['released_by'] = ARGV[2]
complaint['release_note'] = ARGV[3]
local updated = cjson.encode(complaint)
redis.call('SET', KEYS[1], updated, 'EX', ARGV[4])
return updated
"""


def contacts_key(case_id: str) -> str:
    return f"contacts:{case_id}"


def complaint_key(case_id: str) -> str:
    return f"complaint:{case_id}"


class ContactLog:
    """The projection (``stage``) and the reads and writes of the contact rules' facts."""

    def __init__(self, client: aioredis.Redis, keep_s: int = 180 * 86_400, min_customer_chars: int | None = None):
        """``min_customer_chars``: what the customer must have said for the call to count (by
        default the wrap-up's threshold for "nobody really answered")."""
        from ferryman.aftercall.wrapup import load_wrapup_rules

        self._redis, self._keep_s = client, keep_s
        self._min_chars = load_wrapup_rules().min_customer_chars if min_customer_chars is None else min_customer_chars

    def stage(self, pipe, event: Event) -> None:
        key = call_key(event.call_id)
        if isinstance(event, TranscriptEvent) and event.final and event.channel == "customer" and event.text.strip():
            said = len("".join(event.text.split()))
            pipe.eval(_COUNT_CONTACT, 1, key, event.call_id, time.time(), self._keep_s, said, self._min_chars)
        elif isinstance(event, HintEvent) and event.code == "third_party":
            pipe.eval(_NOT_THE_DEBTOR, 1, key, event.call_id)

    # -- the rules ---------------------------------------------------------------------------
    async def rules(self) -> ContactRules:
        raw = await self._redis.get(RULES_KEY)
        return ContactRules.model_validate_json(raw) if raw else load_contact_rules()

    async def set_rules(self, rules: ContactRules | None) -> None:
        """A team lead's rules for the next calls; None = back to the file's defaults."""
        if rules is None:
            await self._redis.delete(RULES_KEY)
        else:
            await self._redis.set(RULES_KEY, rules.model_dump_json())

    # -- contacts ----------------------------------------------------------------------------
    async def contacts_between(self, case_id: str, first_s: float, last_s: float, besides: str | None = None) -> int:
        """Effective contacts in [first_s, last_s), not counting the call ``besides``."""
        members = await self._redis.zrangebyscore(contacts_key(case_id), first_s, f"({last_s}")
        return sum(member != besides for member in members)

    async def report_contact(self, case_id: str, ref: str, at: float) -> bool:
        """A contact made outside Ferryman (the dialer's, another system's); once per ``ref``."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(contacts_key(case_id), {EXTERNAL + ref: at}, nx=True)
        pipe.zremrangebyscore(contacts_key(case_id), "-inf", f"({time.time() - self._keep_s}")
        pipe.expire(contacts_key(case_id), self._keep_s)
        added, *_ = await pipe.execute()
        return bool(added)

    # -- complaints --------------------------------------------------------------------------
    async def complaint(self, case_id: str) -> Complaint | None:
        raw = await self._redis.get(complaint_key(case_id))
        return Complaint.model_validate_json(raw) if raw else None

    async def register_complaint(self, case_id: str, by: str, note: str = "") -> Complaint:
        """A complaint on the case; one still holding is kept as it was (its date and note)."""
        complaint = Complaint(registered_at=time.time(), registered_by=by, note=note)
        kept = await self._redis.eval(_REGISTER, 1, complaint_key(case_id), complaint.model_dump_json(), self._keep_s)
        return Complaint.model_validate_json(kept)

    async def release_complaint(self, case_id: str, by: str, note: str = "") -> Complaint | None:
        """A supervisor lets the case be contacted again (the complaint stays on record); None
        when the case has no complaint. Read and written in one step (a script)."""
        released = await self._redis.eval(_RELEASE, 1, complaint_key(case_id), time.time(), by, note, self._keep_s)
        return Complaint.model_validate_json(released) if released else None

    async def local_today(self, case: Case | None = None) -> date:
        """Today in the debtor's time zone (the case's, else the rules'): what "明天" and "due
        today" mean for this case, whatever zone the server runs in."""
        return debtor_today(await self.rules(), case.timezone if case else None)

    # -- the check ---------------------------------------------------------------------------
    async def check(self, case: Case | None, placed_at: float | None = None, call_id: str | None = None
                    ) -> list[Breach]:
        """The rules a call on ``case`` placed at ``placed_at`` (epoch s; None = now) breaks.
        Without a case only the calling hours can be checked (in the default time zone)."""
        rules = await self.rules()
        when = datetime.fromtimestamp(placed_at if placed_at is not None else time.time(), timezone.utc)
        tz = debtor_zone(rules, getattr(case, "timezone", None) if case else None)
        if case is None:
            return check_contact(rules, when, tz)
        _, first, last = local_day(when, tz)
        before = await self.contacts_between(case.case_id, first, min(last, when.timestamp() + 1), besides=call_id)
        return check_contact(rules, when, tz, before, await self.complaint(case.case_id))
