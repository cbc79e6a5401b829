"""One connection's audio into a live call: the part every way in shares — our own ingest
socket and each PBX gateway (FreeSWITCH, Asterisk, Twilio, Genesys).

    resolve_party()  which case and agent: named by the connection, else the dialer's registration
                     (waited for a few seconds), else none ("case unknown", if the protocol allows)
    CallFeed.open()  the connection's channels attached to the call (new, resumed or taken over)
    feed.push_*()    frames decoded, resampled to 16 kHz, into the call's pipeline
    feed.close()     its channels finalised; the call ends when its last connection is gone

Errors are ``ProtocolError`` with a close code; each protocol turns them into its own error
message (a close code, an AudioSocket error frame, an AudioHook disconnect).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

import numpy as np

from ferryman.calls.live import FeedSpec, LiveCalls
from ferryman.calls.registry import CallRegistry
from ferryman.cases.schema import Case
from ferryman.cases.store import CaseStore
from ferryman.events import Channel
from ferryman.ids import loggable
from ferryman.ingest.audio import ASR_RATE, ChannelResampler, Encoding, FrameError, split_frame
from ferryman.ingest.protocol import CloseCode, Dropped, ProtocolError, check_call_id

if TYPE_CHECKING:
    from ferryman.web.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Party:
    """Whose call it is. ``case`` None: nobody registered it (hints that need no case still run)."""

    case: Case | None
    agent_id: str | None
    placed_at: float | None = None     # when the dialer placed the call (its registration says)

    @property
    def case_id(self) -> str | None:
        return self.case.case_id if self.case else None


async def resolve_party(cases: CaseStore, registry: CallRegistry, call_id: str, case_id: str | None,
                        agent_id: str | None, wait_s: float, case_optional: bool = False) -> Party:
    """The case and agent of ``call_id``: as the connection names them, completed from the
    dialer's registration (waited for up to ``wait_s``). Without either, a protocol that streams
    whatever the PBX taps (``case_optional``) goes on without a case; ours refuses (4404)."""
    # a connection that names its case and agent does not wait for the dialer, but a registration
    # already there still says when the call was placed (the contact rules)
    registration = await (registry.get(call_id) if case_id and agent_id else registry.wait_for(call_id, wait_s))
    placed_at = registration.placed_at.timestamp() if registration and registration.placed_at else None
    if not (case_id and agent_id):
        if registration is not None:
            if case_id and case_id != registration.case_id:
                raise ProtocolError(CloseCode.BAD_MESSAGE, f"the connection names case {case_id}; the call is "
                                                           f"registered for case {registration.case_id}")
            case_id, agent_id = registration.case_id, agent_id or registration.agent_id
        elif not case_id and not case_optional:
            raise ProtocolError(CloseCode.CASE_NOT_FOUND, f"call {call_id} was not registered (POST /api/calls) "
                                                          "and names no case and agent")
    if case_id is None:
        return Party(None, agent_id, placed_at)
    case = await cases.get(case_id)
    if case is None:
        raise ProtocolError(CloseCode.CASE_NOT_FOUND, f"case {case_id} not found; import it first")
    return Party(case, agent_id, placed_at)


class CallFeed:
    """A connection's place in a call and the decoding of its audio. Frames interleave
    ``spec.channels`` in that order; what a resumed call already transcribed is skipped."""

    def __init__(self, calls: LiveCalls, call_id: str, spec: FeedSpec, encoding: Encoding = "pcm_s16le",
                 sample_rate: int = ASR_RATE, max_frame_bytes: int = 1 << 20):
        self.calls, self.call_id, self.spec, self.encoding = calls, call_id, spec, encoding
        self.max_frame_bytes = max_frame_bytes
        self._resamplers = {ch: ChannelResampler(sample_rate) for ch in spec.channels}
        self._skip = dict.fromkeys(spec.channels, 0)
        self._open = False
        self.superseded = False
        # one push (or skip) at a time, and a takeover waits for the one under way: a channel is
        # never finalised while audio is still going into it
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, calls: LiveCalls, call_id: str, spec: FeedSpec, case: Case | None,
                   encoding: Encoding = "pcm_s16le", sample_rate: int = ASR_RATE,
                   max_frame_bytes: int = 1 << 20) -> "CallFeed":
        feed = cls(calls, call_id, spec, encoding, sample_rate, max_frame_bytes)
        attaching = asyncio.ensure_future(calls.attach(call_id, spec, case, holder=feed.supersede))
        try:
            attachment = await asyncio.shield(attaching)
        except asyncio.CancelledError:      # the connection went away while its call was opening
            attaching.add_done_callback(feed._abandon)
            raise
        feed.pipeline, feed.resume_from = attachment.pipeline, attachment.resume_from
        feed._skip = {ch: int(round(attachment.skip_s.get(ch, 0.0) * ASR_RATE)) for ch in spec.channels}
        feed._open = True
        return feed

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self.spec.channels

    async def push_frame(self, payload: bytes) -> None:
        """One binary frame interleaving all of this connection's channels."""
        for channel, samples in zip(self.channels, self._decode(payload, len(self.channels))):
            await self.push_samples(channel, samples)

    async def push(self, channel: Channel, payload: bytes) -> None:
        """Audio of one channel alone (a Twilio track, an AudioSocket leg)."""
        await self.push_samples(channel, self._decode(payload, 1)[0])

    async def push_samples(self, channel: Channel, samples: np.ndarray) -> None:
        """Samples at the connection's rate, in [-1, 1]."""
        async with self._lock:
            self._still_mine()
            samples = self._resamplers[channel](samples)
            if self._skip[channel]:
                dropped = min(self._skip[channel], len(samples))
                samples, self._skip[channel] = samples[dropped:], self._skip[channel] - dropped
            if len(samples):
                await self.pipeline.push_audio_async(channel, samples)

    async def skip(self, seconds: float, channels: tuple[Channel, ...] | None = None) -> None:
        """Time that passed on the call without its audio reaching us (a secure pause, audio the
        PBX discarded, a long gap in a track): the channels go on that much later, so what is
        said next keeps its place on the call's timeline."""
        async with self._lock:
            self._still_mine()
            if seconds > 0:
                for channel in channels or self.channels:
                    await self.pipeline.skip_ahead(channel, seconds)

    def _still_mine(self) -> None:
        if self.superseded:
            raise Dropped("a newer connection took over this call's channels", CloseCode.CHANNEL_BUSY)

    def _decode(self, payload: bytes, channels: int) -> list[np.ndarray]:
        if len(payload) > self.max_frame_bytes:
            raise ProtocolError(CloseCode.FRAME_TOO_LARGE,
                                f"audio frame of {len(payload)} bytes exceeds {self.max_frame_bytes}")
        try:
            return split_frame(payload, self.encoding, channels)
        except FrameError as exc:
            raise ProtocolError(CloseCode.BAD_MESSAGE, f"malformed audio frame: {exc}") from exc

    async def supersede(self) -> None:
        """A newer connection of the same PBX leg claims our channels (we may be half-open and not
        know it yet): let go now, as a drop, so the call goes on with the newcomer."""
        async with self._lock:
            if not self._open:
                return
            self._open, self.superseded = False, True
        await asyncio.shield(self.calls.detach(self.call_id, list(self.channels), dropped=True,
                                               detail="superseded by a newer connection"))

    def _abandon(self, attaching: asyncio.Future) -> None:
        """The attach of a connection that is gone finished anyway: let its channels go again."""
        if not attaching.cancelled() and attaching.exception() is None:
            asyncio.ensure_future(self.calls.detach(self.call_id, list(self.channels), dropped=True,
                                                    detail="connection gone while its call opened"))

    async def close(self, dropped: bool, detail: str | None = None) -> None:
        """Finalise this connection's channels (once). ``dropped``: it went away without saying
        goodbye — the call waits the reconnect grace before it ends."""
        if self._open:
            self._open = False
            await asyncio.shield(self.calls.detach(self.call_id, list(self.channels), dropped=dropped,
                                                   detail=detail))


class Connection:
    """One connection's call (any protocol): opened once its metadata is known, closed once,
    whatever happens to the connection."""

    def __init__(self, services: "Services"):
        self.services = services
        self.feed: CallFeed | None = None
        # the gateway token it authenticated with (None: a PBX that signs instead, or AudioSocket's
        # network ACL): re-checked while it streams, so a revoked token ends its open call too
        self.token: str | None = None

    @property
    def idle_s(self) -> float:
        return self.services.settings.ingest_idle_s

    async def open(self, call_id: str, channels: tuple[Channel, ...], encoding: Encoding, sample_rate: int,
                   case_id: str | None = None, agent_id: str | None = None, *, case_optional: bool = True,
                   resends: bool = False, source: str = "audio", registration_wait_s: float | None = None,
                   placed_at: float | None = None) -> CallFeed:
        """A PBX's leg by default: its case may be unknown (the call is transcribed anyway) and it
        cannot resend audio after a reconnect; our own ingest socket asks for the opposite.
        ``registration_wait_s``: how long to wait for the dialer (default: the setting; 0 when
        the caller has already waited for it); ``placed_at``: when the call was placed, if the
        connection says (else the registration's, else now) — for the contact rules."""
        svc = self.services
        check_call_id(call_id)
        wait_s = svc.settings.registration_wait_s if registration_wait_s is None else registration_wait_s
        party = await resolve_party(svc.cases, svc.registry, call_id, case_id, agent_id, wait_s,
                                    case_optional=case_optional)
        if party.case is None:
            log.warning("call %s: no registration and no case in its metadata; transcribing without a case",
                        loggable(call_id))
        spec = FeedSpec(channels, party.case_id, party.agent_id, source, resends=resends,
                        placed_at=placed_at if placed_at is not None else party.placed_at)
        self.feed = await CallFeed.open(svc.calls, call_id, spec, party.case, encoding, sample_rate,
                                        svc.settings.max_frame_bytes)
        return self.feed

    async def close(self, dropped: bool, detail: str | None = None) -> None:
        if self.feed is not None:
            await self.feed.close(dropped=dropped, detail=detail)


TOKEN_CHECK_S = 1.0


async def _while_token_valid(connection: Connection, converse: Callable[[Connection], Awaitable[None]]) -> None:
    """``converse(connection)``, ended with 4401 once the token it authenticated with is revoked
    or expires (checked every ``TOKEN_CHECK_S``)."""
    talk = asyncio.ensure_future(converse(connection))
    try:
        while not (await asyncio.wait({talk}, timeout=TOKEN_CHECK_S))[0]:
            token = connection.token
            if token is not None and not connection.services.tokens.allows(token, ("gateway",)):
                raise ProtocolError(CloseCode.UNAUTHENTICATED, "access token revoked or expired")
        talk.result()
    finally:
        if not talk.done():
            talk.cancel()
            await asyncio.gather(talk, return_exceptions=True)


async def run_connection(name: str, connection: Connection, converse: Callable[[Connection], Awaitable[None]],
                         reply_error: Callable[[ProtocolError], Awaitable[None]],
                         close: Callable[[int, str], Awaitable[None]],
                         drops: tuple[type[BaseException], ...] = (),
                         on_ended: Callable[[Connection], Awaitable[None]] | None = None) -> None:
    """Run one connection: ``converse`` speaks its protocol until the call ends (returns) or
    fails. A protocol error is answered the protocol's way (``reply_error``), then the
    connection closes with its code and the channels are finalised; a drop (``Dropped``, or one
    of the transport's own ``drops``) leaves the call waiting for the sender to come back;
    ``on_ended`` says goodbye after a normal end, before the close."""
    dropped, detail = False, None
    try:
        await _while_token_valid(connection, converse)
    except ProtocolError as exc:
        log.info("%s: closing %d: %s", name, exc.code, loggable(exc.reason, 200))
        detail = exc.reason
        await reply_error(exc)
        await close(exc.code, exc.reason)
    except (Dropped, *drops) as exc:
        log.info("%s: %s", name, exc)
        dropped, detail = True, str(exc) or "connection dropped"
        if isinstance(exc, Dropped) and exc.close_code:
            await close(exc.close_code, str(exc))
    except Exception:
        log.exception("%s failed", name)
        detail = "internal error"
        await close(CloseCode.INTERNAL_ERROR, "internal error")
    else:
        await connection.close(dropped=False)
        if on_ended is not None:
            await on_ended(connection)
        await close(CloseCode.NORMAL, "call ended")
    finally:                             # whatever failed above (a reply on a dying socket, a cancel)
        await connection.close(dropped=dropped, detail=detail)
