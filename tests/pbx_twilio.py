"""Twilio Media Streams as Twilio speaks it (https://www.twilio.com/docs/voice/media-streams/
websocket-messages): the upgrade signed with X-Twilio-Signature, then JSON text frames —
connected, start, media (base64 8 kHz μ-law, 20 ms chunks, both tracks interleaved), mark, dtmf,
stop — numbered by ``sequenceNumber``. Not part of the product.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import uuid

import websockets

from pbx import CallAudio, Pacer

PATH = "/ws/gateways/twilio"


def sid(prefix: str) -> str:
    """A Twilio SID: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


def sign(auth_token: str, url: str) -> str:
    """X-Twilio-Signature of a websocket upgrade: HMAC-SHA1 of the URL alone (no POST body)."""
    return base64.b64encode(hmac.new(auth_token.encode(), url.encode(), hashlib.sha1).digest()).decode()


async def connect(base: str, query: str = "", headers: dict | None = None):
    """Open the stream's websocket as Twilio does (no subprotocol)."""
    return await websockets.connect(f"{base}{PATH}{query}", additional_headers=headers or {}, max_size=None,
                                    user_agent_header="Twilio.TmeWs/1.0")


class TwilioStream:
    """One <Stream>'s messages, numbered and stamped as Twilio numbers and stamps them."""

    def __init__(self, ws, call_sid: str, tracks: tuple[str, ...] = ("inbound", "outbound"),
                 parameters: dict | None = None, media_format: dict | None = None):
        self.ws, self.call_sid, self.tracks = ws, call_sid, tracks
        self.account_sid, self.stream_sid = sid("AC"), sid("MZ")
        self.parameters = parameters or {}
        self.media_format = media_format or {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        self.sequence = 0
        self.chunks = {track: 0 for track in ("inbound", "outbound")}

    def _next(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def connected(self) -> None:
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    async def start(self) -> None:
        await self.send({"event": "start", "sequenceNumber": self._next(), "streamSid": self.stream_sid, "start": {
            "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
            "tracks": list(self.tracks), "customParameters": self.parameters, "mediaFormat": self.media_format}})

    def media_message(self, track: str, payload: bytes, timestamp_ms: int) -> dict:
        self.chunks[track] += 1
        return {"event": "media", "sequenceNumber": self._next(), "streamSid": self.stream_sid, "media": {
            "track": track, "chunk": str(self.chunks[track]), "timestamp": str(timestamp_ms),
            "payload": base64.b64encode(payload).decode()}}

    async def media(self, track: str, payload: bytes, timestamp_ms: int) -> None:
        await self.send(self.media_message(track, payload, timestamp_ms))

    async def mark(self, name: str) -> None:
        await self.send({"event": "mark", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                         "mark": {"name": name}})

    async def dtmf(self, digit: str) -> None:
        await self.send({"event": "dtmf", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                         "dtmf": {"track": "inbound_track", "digit": digit}})

    def stop_message(self) -> dict:
        return {"event": "stop", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}}

    async def stop(self) -> None:
        await self.send(self.stop_message())

    async def play(self, audio: CallAudio, inbound: str = "customer", speed: float = 3.0, jitter: float = 0.0,
                   seed: int = 11) -> None:
        """The call's audio, 20 ms of each announced track at a time: inbound carries ``inbound``'s
        voice, outbound the other's. ``jitter``: the share of 20 ms steps in which one chunk is
        late (sent after the next step's) or, one time in three, lost."""
        rng, pace, delayed = random.Random(seed), Pacer(speed), []
        for n, (agent, customer) in enumerate(audio.frames()):
            voices = {"inbound": customer, "outbound": agent} if inbound == "customer" else \
                     {"inbound": agent, "outbound": customer}
            outgoing = [self.media_message(t, audio.mulaw(voices[t]), n * 20) for t in self.tracks]
            held = []
            if jitter and rng.random() < jitter:
                late = outgoing.pop(rng.randrange(len(outgoing)))
                held = [late] if rng.random() < 2 / 3 else []
            for message in outgoing + delayed:
                await self.send(message)
            delayed = held
            await pace(len(agent) / audio.rate)
        for message in delayed:
            await self.send(message)


async def twilio_call(base: str, call_sid: str, audio: CallAudio, parameters: dict, inbound: str = "customer",
                      tracks: tuple[str, ...] = ("inbound", "outbound"), speed: float = 3.0, jitter: float = 0.0,
                      headers: dict | None = None) -> int | None:
    """A whole stream: connected, start, the audio (a mark and a DTMF digit along the way), stop
    (the call hangs up), then the close; the server's close code."""
    async with await connect(base, headers=headers) as ws:
        stream = TwilioStream(ws, call_sid, tracks, parameters)
        await stream.connected()
        await stream.start()
        await stream.mark("greeting")
        await stream.dtmf("1")
        await stream.play(audio, inbound, speed, jitter)
        await stream.stop()
        await asyncio.wait_for(ws.wait_closed(), 30)
        return ws.close_code
