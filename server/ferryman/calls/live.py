"""The calls this node is transcribing now, which ingest socket feeds which channel, and how
many more it may take.

A call is fed by one stereo socket or by two mono sockets (agent, customer). It ends when its
last socket is gone; after a drop it waits ``reconnect_grace_s`` for the socket to come back —
to this node, or to any other node of the floor if this one died: the call's events are in the
shared Redis, so the node the gateway reaches takes the call over (same call, utterance numbers
continuing, the hint engine caught up on what was said) and tells the gateway from which second
of its audio to send again (``resume_from``). A node takes at most ``capacity`` calls: the next
one is refused at its start message with 1013 ("try again later") and the nodes that have room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Awaitable, Callable

from ferryman.asr.runtime import AsrRuntime
from ferryman.bus.streams import TERMINAL_STATES, BusSink, EventBus
from ferryman.calls.contact import Breach
from ferryman.calls.open import open_call
from ferryman.cases.schema import Case
from ferryman.cases.store import PolicyStore
from ferryman.events import CallEvent, Channel, ContactRuleEvent
from ferryman.hints.rules import Rules
from ferryman.infra.memory import release_free_memory
from ferryman.ingest.protocol import CloseCode, ProtocolError
from ferryman.pipeline import CallPipeline, WallClock

log = logging.getLogger(__name__)
RELEASE_WAIT_S = 5.0    # the most a PBX's new connection waits for its old one to finish letting go


class AtCapacity(ProtocolError):
    """This node is full; ``nodes`` are the URLs of nodes with room (may be empty)."""

    def __init__(self, live: int, capacity: int, nodes: list[str]):
        where = f"; try {nodes[0]}" if nodes else "; try again later"
        super().__init__(CloseCode.TRY_AGAIN_LATER, f"node at capacity ({live}/{capacity} live calls){where}")
        self.nodes = nodes


@dataclass(frozen=True)
class FeedSpec:
    """What one connection feeds into a call, whatever its protocol: its channels (in the order
    its frames interleave them), the call's case and agent when known, and whether the sender can
    send its audio again from a point we name after a reconnect (our own ingest protocol can; a
    PBX streams live and cannot, so its channels just go on from now)."""

    channels: tuple[Channel, ...]
    case_id: str | None = None
    agent_id: str | None = None
    source: str = "audio"              # "audio" or "transcript"
    resends: bool = True
    placed_at: float | None = None     # epoch second the dialer placed the call (None: now)


@dataclass(frozen=True)
class Attachment:
    """A socket's place in its call: the pipeline, the second of the socket's audio to (re)send
    from, and per channel how much of that audio was already heard (skipped, not re-transcribed)."""

    pipeline: CallPipeline
    resume_from: float = 0.0
    skip_s: dict = field(default_factory=dict)


@dataclass
class LiveCall:
    pipeline: CallPipeline
    sink: BusSink
    audio_offset: float = 0.0          # call time of the first second of the gateway's audio
    channels: set[Channel] = field(default_factory=set)
    holders: dict = field(default_factory=dict)    # channel -> how to make its connection let go
    dropped: set[Channel] = field(default_factory=set)    # channels whose connection dropped, not back yet
    ending: asyncio.Task | None = None


@dataclass
class Admission:
    """How many calls this node takes, and where to send the rest."""

    capacity: int
    nodes_with_room: Callable[[], Awaitable[list[str]]] | None = None
    on_refused: Callable[[], None] | None = None
    on_started: Callable[[], None] | None = None


# the contact rules a new call breaks: (case, placed_at, call_id) -> breaches (records.contacts)
ContactCheck = Callable[[Case | None, float | None, str], Awaitable[list[Breach]]]


class LiveCalls:
    def __init__(self, bus: EventBus, policies: PolicyStore, asr: AsrRuntime, spill_dir,
                 reconnect_grace_s: float = 5.0, admission: Admission | None = None,
                 on_final: Callable[[float], None] | None = None, on_redis_error: Callable[[], None] | None = None,
                 node_id: str = "", owner_alive: Callable[[str], Awaitable[bool]] | None = None,
                 contact_check: ContactCheck | None = None,
                 audio_tap: Callable[[str], Callable] | None = None,
                 rules: Callable[[], Awaitable[Rules]] | None = None,
                 local_today: Callable[[Case | None], Awaitable[date]] | None = None):
        """``audio_tap(call_id)``: what sees a new call's audio besides the ASR (listen-in);
        ``rules()``: the hint rules a call starting now runs with (a team lead's edits);
        ``local_today(case)``: today where the debtor is (dates the customer says resolve against it)."""
        self._rules, self._local_today = rules, local_today
        self._bus, self._policies, self._asr, self._spill_dir = bus, policies, asr, spill_dir
        self._contact_check, self._audio_tap = contact_check, audio_tap
        self._grace = reconnect_grace_s
        self._admission = admission or Admission(capacity=1_000_000)
        self._on_final, self._on_redis_error = on_final, on_redis_error
        self._node_id, self._owner_alive = node_id, owner_alive
        self._calls: dict[str, LiveCall] = {}
        self.on_ended: Callable[[str], None] | None = None    # told each call this node ended (after-call work)
        self._finishing: set[str] = set()      # ended here, last events still on their way to Redis
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._calls)

    @property
    def capacity(self) -> int:
        return self._admission.capacity

    def get(self, call_id: str) -> LiveCall | None:
        return self._calls.get(call_id)

    async def attach(self, call_id: str, spec: FeedSpec, case: Case | None,
                     holder: Callable[[], Awaitable[None]] | None = None) -> Attachment:
        """Claim the connection's channels of ``call_id``: a new call, one live here (a socket
        that came back), or one whose node died (taken over). ``case`` None: a call nobody
        registered — transcribed, with the hints that need no case. ``holder``: called to make
        this connection let go of its channels when a newer one of a PBX claims them."""
        if not spec.resends:
            await self._take_over(call_id, spec.channels)    # outside the lock: it may take a while
        async with self._lock:
            call = self._calls.get(call_id) or await self._create(call_id, spec, case)
            running = call.pipeline.case.case_id if call.pipeline.case else None
            if spec.case_id and running and running != spec.case_id:
                raise ProtocolError(CloseCode.CHANNEL_BUSY, f"call {call_id} is already running for case {running}")
            busy = call.channels.intersection(spec.channels)
            if busy:
                raise ProtocolError(CloseCode.CHANNEL_BUSY, f"channel {', '.join(sorted(busy))} of call "
                                                            f"{call_id} is already being streamed")
            if call.ending:
                call.ending.cancel()   # the dropped socket came back in time (still in its grace sleep)
                call.ending = None
            attachment = self._resume_points(call, spec)
            call.channels.update(spec.channels)
            call.dropped.difference_update(spec.channels)
            call.holders.update({channel: holder for channel in spec.channels if holder})
            return attachment

    async def _take_over(self, call_id: str, channels: tuple[Channel, ...]) -> None:
        """A PBX cannot resend and may be quicker than we are to notice its old connection died
        (half-open, its last frames still being read): the newer connection wins. The older one
        lets go (its channels finalised, as a drop); one already closing is given a moment.
        Our own protocol's gateway resends and retries, so it is told 4409 instead."""
        call = self._calls.get(call_id)
        if call is None or not call.channels.intersection(channels):
            return
        for holder in {call.holders[ch] for ch in channels if ch in call.holders}:
            await holder()
        deadline = time.monotonic() + RELEASE_WAIT_S
        while call.channels.intersection(channels) and self._calls.get(call_id) is call \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def _resume_points(self, call: LiveCall, spec: FeedSpec) -> Attachment:
        """A new socket's audio starts at the call's audio offset (new call) or again from the
        earliest second its channels have not had transcribed; what one channel already had is
        skipped, so nothing is transcribed twice. A sender that cannot resend goes on from now."""
        pipeline = call.pipeline
        if spec.source == "transcript":                   # turns carry their own times
            return Attachment(pipeline)
        points = {ch: pipeline.resume_point(ch) for ch in spec.channels}
        if not any(points.values()) or not spec.resends:  # fresh channels, or live audio: from now on
            for channel in spec.channels:
                pipeline.open_channel(channel, offset_s=max(pipeline.clock.now(), points[channel]))
            return Attachment(pipeline)
        # never before the gateway's first second: a channel with nothing transcribed yet (no
        # final, a call taken over) starts from the beginning of the gateway's audio
        since = max(min(points.values()), call.audio_offset)
        for channel in spec.channels:
            pipeline.open_channel(channel, offset_s=since)
        return Attachment(pipeline, round(since - call.audio_offset, 3),
                          {ch: round(max(0.0, point - since), 3) for ch, point in points.items()})

    async def _admit(self) -> None:
        admission = self._admission
        if len(self._calls) < admission.capacity:
            return
        if admission.on_refused:
            admission.on_refused()
        nodes = await admission.nodes_with_room() if admission.nodes_with_room else []
        raise AtCapacity(len(self._calls), admission.capacity, nodes)

    async def _create(self, call_id: str, spec: FeedSpec, case: Case | None) -> LiveCall:
        if call_id in self._finishing:
            raise ProtocolError(CloseCode.CHANNEL_BUSY, f"call {call_id} has just ended; use a new call id")
        await self._admit()
        info = await self._bus.call_info(call_id)
        if info.get("state") in TERMINAL_STATES:
            raise ProtocolError(CloseCode.CHANNEL_BUSY, f"call {call_id} has already ended; use a new call id")
        taking_over = info.get("state") == "started"
        owner = info.get("node", "")
        if taking_over and owner and owner != self._node_id and self._owner_alive and await self._owner_alive(owner):
            raise ProtocolError(CloseCode.CHANNEL_BUSY, f"call {call_id} is live on node {owner}")
        sink = BusSink(self._bus, self._spill_dir, on_error=self._on_redis_error)
        clock = WallClock(started_at=float(info["started_at"])) if taking_over else WallClock()
        pipeline = open_call(call_id, case, sink, clock, self._asr, await self._policies.all(),
                             agent_id=spec.agent_id or info.get("agent_id"), on_final=self._on_final,
                             rules=await self._rules() if self._rules else None,
                             today=await self._local_today(case) if self._local_today else None)
        if self._audio_tap is not None:
            pipeline.add_audio_tap(self._audio_tap(call_id))
        call = self._calls[call_id] = LiveCall(pipeline, sink, audio_offset=float(info.get("audio_offset", 0.0)))
        try:
            if taking_over:
                pipeline.resume(await self._bus.history(call_id))
                log.info("call %s taken over from node %s", call_id, owner or "?")
            else:
                call.audio_offset = clock.now()
                await pipeline.start()
                await self._check_contact_rules(pipeline, case, spec)
            await self._bus.adopt(call_id, self._node_id, call.audio_offset)
        except BaseException:            # Redis gone, or the connection cancelled: no half-made call
            self._calls.pop(call_id, None)
            await sink.close()
            raise
        if self._admission.on_started:
            self._admission.on_started()
        return call

    async def _check_contact_rules(self, pipeline: CallPipeline, case: Case | None, spec: FeedSpec) -> None:
        """Each contact rule the new call breaks: a critical card right after its start."""
        if self._contact_check is None:
            return
        try:
            breaches = await self._contact_check(case, spec.placed_at, pipeline.call_id)
        except Exception:           # the rules could not be checked: the call goes on, the log says why
            log.exception("call %s: contact rules not checked", pipeline.call_id)
            return
        for breach in breaches:
            await pipeline.emit(ContactRuleEvent(rule=breach.rule, title=breach.title, detail=breach.detail,
                                                 suggestion=breach.suggestion, data=breach.facts))

    async def detach(self, call_id: str, channels: list[Channel], dropped: bool, detail: str | None = None) -> None:
        """A socket is done: finalise its channels; end the call when no socket is left."""
        call = self._calls.get(call_id)
        if call is None or not channels:
            return
        await asyncio.gather(*(call.pipeline.close_channel(ch) for ch in channels))
        call.channels.difference_update(channels)
        for channel in channels:
            call.holders.pop(channel, None)
        if dropped:
            call.dropped.update(channels)
        if call.channels:
            return
        if dropped:
            call.ending = asyncio.create_task(self._end_after_grace(call_id, detail))
        else:
            await self._end(call_id, "dropped" if call.dropped else "ended", detail)

    async def _end_after_grace(self, call_id: str, detail: str | None) -> None:
        await asyncio.sleep(self._grace)
        call = self._calls.get(call_id)
        if call is not None:
            call.ending = None           # past the grace: a connection arriving now no longer cancels the end
        await self._end(call_id, "dropped", detail)

    async def _end(self, call_id: str, state: str, detail: str | None) -> None:
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        self._finishing.add(call_id)
        try:
            await call.pipeline.finish(state, detail)
            await call.sink.close()
        finally:
            self._finishing.discard(call_id)
        log.info("call %s %s (%d finals)", call_id, state, call.pipeline.final_count)
        if self.on_ended is not None:
            self.on_ended(call_id)
        await asyncio.to_thread(release_free_memory)   # the call's decode buffers go back to the system

    async def end_orphans(self) -> list[str]:
        """Calls whose node died and whose gateway did not come back within the grace: end them
        as dropped (so no call stays "started" forever). Any node may do it, once per call."""
        ended = []
        for call_id in await self._bus.live_calls():
            if call_id in self._calls or call_id in self._finishing:
                continue
            info = await self._bus.call_info(call_id)
            owner = info.get("node", "")
            if info.get("state") != "started":
                continue
            if await self._carried_elsewhere(owner):
                if "orphan_since" in info:         # seen gone once, alive again: the clock restarts
                    await self._bus.not_orphan(call_id)
                continue
            first_seen = await self._bus.orphan_since(call_id)
            if time.time() - first_seen < self._grace or not await self._bus.claim_orphan(call_id):
                continue
            started_at = float(info.get("started_at") or time.time())
            event = CallEvent(call_id=call_id, state="dropped", t=round(time.time() - started_at, 3),
                              detail=f"node {owner or '?'} stopped and no gateway came back")
            await self._bus.append(event)
            log.warning("call %s dropped: its node %s is gone", call_id, owner or "?")
            ended.append(call_id)
        return ended

    async def _carried_elsewhere(self, owner: str) -> bool:
        return bool(owner and self._owner_alive and await self._owner_alive(owner))

    async def disown_previous_life(self) -> list[str]:
        """At start-up: calls Redis says this node carries were carried by a previous process
        under the same name (killed, crashed). They become orphans like those of a dead node: a
        gateway that comes back within the grace resumes them, else they end as dropped."""
        disowned = []
        if self._owner_alive and await self._owner_alive(self._node_id):
            log.error("another process answers as node %s: its calls are left alone (set FERRYMAN_NODE_ID "
                      "per node)", self._node_id)
            return disowned
        for call_id in await self._bus.live_calls():
            info = await self._bus.call_info(call_id)
            if info.get("state") == "started" and info.get("node") == self._node_id and call_id not in self._calls:
                await self._bus.disown(call_id)
                disowned.append(call_id)
        if disowned:
            log.warning("%d calls of this node's previous run are orphans now", len(disowned))
        return disowned

    async def close_all(self) -> None:
        for call_id in list(self._calls):
            await self._end(call_id, "dropped", "server shutting down")
