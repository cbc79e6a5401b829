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

from dataclasses import dataclass

import numpy as np

from ferryman.calls.live import Attachment, FeedSpec, LiveCalls
from ferryman.calls.registry import CallRegistry
from ferryman.cases.schema import Case
from ferryman.cases.store import CaseStore
from ferryman.events import Channel
from ferryman.ingest.audio import ASR_RATE, ChannelResampler, Encoding, FrameError, split_frame
from ferryman.ingest.protocol import CloseCode, ProtocolError


@dataclass(frozen=True)
class Party:
    """Whose call it is. ``case`` None: nobody registered it (hints that need no case still run)."""

    case: Case | None
    agent_id: str | None

    @property
    def case_id(self) -> str | None:
        return self.case.case_id if self.case else None


async def resolve_party(cases: CaseStore, registry: CallRegistry, call_id: str, case_id: str | None,
                        agent_id: str | None, wait_s: float, case_optional: bool = False) -> Party:
    """The case and agent of ``call_id``: as the connection names them, completed from the
    dialer's registration (waited for up to ``wait_s``). Without either, a protocol that streams
    whatever the PBX taps (``case_optional``) goes on without a case; ours refuses (4404)."""
    if not (case_id and agent_id):
        registration = await registry.wait_for(call_id, wait_s)
        if registration is not None:
            if case_id and case_id != registration.case_id:
                raise ProtocolError(CloseCode.BAD_MESSAGE, f"the connection names case {case_id}; the call is "
                                                           f"registered for case {registration.case_id}")
            case_id, agent_id = registration.case_id, agent_id or registration.agent_id
        elif not case_id and not case_optional:
            raise ProtocolError(CloseCode.CASE_NOT_FOUND, f"call {call_id} was not registered (POST /api/calls) "
                                                          "and names no case and agent")
    if case_id is None:
        return Party(None, agent_id)
    case = await cases.get(case_id)
    if case is None:
        raise ProtocolError(CloseCode.CASE_NOT_FOUND, f"case {case_id} not found; import it first")
    return Party(case, agent_id)


class CallFeed:
    """A connection's place in a call and the decoding of its audio. Frames interleave
    ``spec.channels`` in that order; what a resumed call already transcribed is skipped."""

    def __init__(self, calls: LiveCalls, call_id: str, spec: FeedSpec, attachment: Attachment,
                 encoding: Encoding = "pcm_s16le", sample_rate: int = ASR_RATE, max_frame_bytes: int = 1 << 20):
        self.calls, self.call_id, self.spec, self.encoding = calls, call_id, spec, encoding
        self.max_frame_bytes = max_frame_bytes
        self.pipeline = attachment.pipeline
        self.resume_from = attachment.resume_from
        self._resamplers = {ch: ChannelResampler(sample_rate) for ch in spec.channels}
        self._skip = {ch: int(round(attachment.skip_s.get(ch, 0.0) * ASR_RATE)) for ch in spec.channels}
        self._open = True

    @classmethod
    async def open(cls, calls: LiveCalls, call_id: str, spec: FeedSpec, case: Case | None,
                   encoding: Encoding = "pcm_s16le", sample_rate: int = ASR_RATE,
                   max_frame_bytes: int = 1 << 20) -> "CallFeed":
        attachment = await calls.attach(call_id, spec, case)
        return cls(calls, call_id, spec, attachment, encoding, sample_rate, max_frame_bytes)

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

    def _decode(self, payload: bytes, channels: int) -> list[np.ndarray]:
        if len(payload) > self.max_frame_bytes:
            raise ProtocolError(CloseCode.FRAME_TOO_LARGE,
                                f"audio frame of {len(payload)} bytes exceeds {self.max_frame_bytes}")
        try:
            return split_frame(payload, self.encoding, channels)
        except FrameError as exc:
            raise ProtocolError(CloseCode.BAD_MESSAGE, f"malformed audio frame: {exc}") from exc

    async def push_samples(self, channel: Channel, samples: np.ndarray) -> None:
        """Samples at the connection's rate, in [-1, 1]."""
        samples = self._resamplers[channel](samples)
        if self._skip[channel]:
            dropped = min(self._skip[channel], len(samples))
            samples, self._skip[channel] = samples[dropped:], self._skip[channel] - dropped
        if len(samples):
            await self.pipeline.push_audio_async(channel, samples)

    async def close(self, dropped: bool, detail: str | None = None) -> None:
        """Finalise this connection's channels (once). ``dropped``: it went away without saying
        goodbye — the call waits the reconnect grace before it ends."""
        if self._open:
            self._open = False
            await self.calls.detach(self.call_id, list(self.channels), dropped=dropped, detail=detail)
