"""Genesys Cloud AudioHook as the tests see it: a client speaking protocol version 2 the way
Genesys' reference implementation (purecloudlabs/audiohook-reference-implementation) does —
the upgrade headers, JSON messages numbered from 1 on each side, ``open`` with the media offered,
binary PCMU (or L16) frames interleaving the offered channels, pings, ``close`` -> ``closed``.
Not part of the product.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import numpy as np
import websockets

from ferryman.ingest.audio import encode_mulaw, encode_pcm16, interleave
from pbx import CallAudio, Pacer

ORGANIZATION = "4b2a9a4e-6a36-4c5b-9d3c-0d1f9c3b2a11"
NULL_UUID = "00000000-0000-0000-0000-000000000000"     # what a connection probe names
BOTH = ("external", "internal")          # external: the customer, internal: the agent


def media(fmt: str = "PCMU", channels: tuple[str, ...] = BOTH) -> dict:
    return {"type": "audio", "format": fmt, "channels": list(channels), "rate": 8000}


def audiohook_headers(api_key: str | None, session_id: str, organization: str = ORGANIZATION) -> dict:
    headers = {"Audiohook-Organization-Id": organization, "Audiohook-Correlation-Id": str(uuid.uuid4()),
               "Audiohook-Session-Id": session_id}
    return headers | ({"X-API-KEY": api_key} if api_key is not None else {})


def duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


class AudioHookClient:
    """One AudioHook session. Server messages are read as they come (``inbox``), their ``seq``
    checked to go up by one, as the reference client does."""

    def __init__(self, ws, session_id: str):
        self.ws, self.id = ws, session_id
        self.seq = self.serverseq = 0
        self.position = 0.0              # seconds of audio sent
        self.received: list[dict] = []
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, base: str, api_key: str | None, session_id: str | None = None,
                      organization: str = ORGANIZATION) -> "AudioHookClient":
        session_id = session_id or str(uuid.uuid4())
        ws = await websockets.connect(f"{base}/ws/gateways/genesys", max_size=None,
                                      additional_headers=audiohook_headers(api_key, session_id, organization))
        return cls(ws, session_id)

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                message = json.loads(text)
                assert message["seq"] == self.serverseq + 1, (message, self.serverseq)
                self.serverseq = message["seq"]
                self.received.append(message)
                await self.inbox.put(message)
        except websockets.ConnectionClosed:
            pass

    def message(self, kind: str, parameters: dict | None = None) -> dict:
        self.seq += 1
        return {"version": "2", "id": self.id, "type": kind, "seq": self.seq, "serverseq": self.serverseq,
                "position": duration(self.position), "parameters": parameters or {}}

    async def send(self, kind: str, parameters: dict | None = None) -> int:
        message = self.message(kind, parameters)
        await self.ws.send(json.dumps(message))
        return message["seq"]

    async def expect(self, kind: str, timeout: float = 10.0) -> dict:
        """The next server message, which must be ``kind``."""
        message = await asyncio.wait_for(self.inbox.get(), timeout)
        assert message["type"] == kind, message
        return message

    async def open(self, conversation_id: str, **kwargs) -> dict:
        """The open transaction; the ``opened`` message."""
        await self.send_open(conversation_id, **kwargs)
        return await self.expect("opened")

    async def send_open(self, conversation_id: str, offers: list[dict] | None = None,
                        participant_id: str | None = None, custom_config: dict | None = None,
                        continued: list[dict] | None = None) -> None:
        parameters = {"organizationId": ORGANIZATION, "conversationId": conversation_id,
                      "participant": {"id": participant_id or str(uuid.uuid4()), "ani": "tel:+8613800138000",
                                      "aniName": "孙丽", "dnis": "tel:+864008001234"},
                      "media": [media(), media(channels=("external",))] if offers is None else offers,
                      "language": "zh-CN"}
        if custom_config is not None:
            parameters["customConfig"] = custom_config
        if continued is not None:
            parameters["continuedSessions"] = continued
        await self.send("open", parameters)

    async def stream(self, audio: CallAudio, offer: dict, speed: float = 3.0, ping_every_s: float = 5.0) -> None:
        """The call's audio as the offer taken says (20 ms frames), a ping every few seconds."""
        pace, next_ping = Pacer(speed), ping_every_s
        for agent, customer in audio.frames():
            await self.ws.send(frame(offer, customer=customer, agent=agent))
            self.position += len(agent) / audio.rate
            await pace(len(agent) / audio.rate)
            if self.position >= next_ping:
                await self.send("ping")
                next_ping += ping_every_s

    async def close(self, reason: str = "end") -> dict:
        """The close transaction, then the socket closed (the client's part); the ``closed``."""
        await self.send("close", {"reason": reason})
        closed = await self.drain_until("closed")
        await self.ws.close()
        await self._reader
        return closed

    async def drain_until(self, kind: str, timeout: float = 30.0) -> dict:
        """Skip what came before (pongs) up to the message ``kind``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            message = await asyncio.wait_for(self.inbox.get(), deadline - asyncio.get_running_loop().time())
            if message["type"] == kind:
                return message

    def abort(self) -> None:
        """The network goes: no close message, no close frame."""
        self.ws.transport.abort()
        self._reader.cancel()

    async def closed_code(self, timeout: float = 5.0) -> int | None:
        await asyncio.wait_for(self.ws.wait_closed(), timeout)
        return self.ws.close_code


def frame(offer: dict, customer: np.ndarray, agent: np.ndarray) -> bytes:
    """One binary frame: the offer's channels interleaved in its order."""
    parts = [customer if name == "external" else agent for name in offer["channels"]]
    samples = interleave(*parts) if len(parts) == 2 else parts[0]
    return encode_mulaw(samples) if offer["format"] == "PCMU" else encode_pcm16(samples)


async def audiohook_call(base: str, api_key: str, conversation_id: str, audio: CallAudio, speed: float = 3.0,
                         custom_config: dict | None = None) -> list[dict]:
    """A whole AudioHook session: open, the audio with pings, close (reason end). What the
    server sent, in order."""
    client = await AudioHookClient.connect(base, api_key)
    opened = await client.open(conversation_id, custom_config=custom_config)
    await client.stream(audio, opened["parameters"]["media"][0], speed)
    await client.close()
    return client.received
