"""Phone systems as the tests and the gateway benchmark see them: a client per protocol that
speaks its exact wire format (as the vendor documents it), fed from a corpus call converted to
the protocol's codec and rate. Not part of the product.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import websockets

from ferryman.client import follow_call
from ferryman.ingest.audio import encode_mulaw, encode_pcm16, interleave
from ferryman.ingest.sources import read_stereo

FRAME_MS = 20        # what telephony sends: one 20 ms packet at a time


@dataclass(frozen=True)
class CallAudio:
    """A corpus call's two channels at 8 or 16 kHz, float32 in [-1, 1]."""

    agent: np.ndarray
    customer: np.ndarray
    rate: int

    @classmethod
    def of(cls, audio_file: Path, rate: int = 8000, seconds: float | None = None) -> "CallAudio":
        agent, customer = read_stereo(audio_file)
        if seconds is not None:
            agent, customer = agent[:int(seconds * 16000)], customer[:int(seconds * 16000)]
        if rate == 8000:          # the corpus is telephone band (below 4 kHz): every other sample
            agent, customer = agent[::2], customer[::2]
        n = max(len(agent), len(customer))
        return cls(np.pad(agent, (0, n - len(agent))), np.pad(customer, (0, n - len(customer))), rate)

    def part(self, start_s: float, end_s: float | None = None) -> "CallAudio":
        a, b = int(start_s * self.rate), None if end_s is None else int(end_s * self.rate)
        return CallAudio(self.agent[a:b], self.customer[a:b], self.rate)

    @property
    def frame(self) -> int:
        return self.rate * FRAME_MS // 1000

    def frames(self):
        """(agent, customer) 20 ms at a time."""
        for i in range(0, len(self.agent), self.frame):
            yield self.agent[i:i + self.frame], self.customer[i:i + self.frame]

    def pcm16(self, channel: np.ndarray) -> bytes:
        return encode_pcm16(channel)

    def mulaw(self, channel: np.ndarray) -> bytes:
        return encode_mulaw(channel)


class Pacer:
    """Sleeps so that frames leave at ``speed`` x real time."""

    def __init__(self, speed: float):
        self.speed, self._start, self._sent = speed, None, 0.0

    async def __call__(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._start = self._start if self._start is not None else loop.time()
        self._sent += seconds
        delay = self._start + self._sent / self.speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


# -- what the dialer and the panels do around a call -------------------------------------------
def register_call(server, call_id: str, case_id: str, legs: dict | None = None, agent_id: str = "a1") -> None:
    """``POST /api/calls`` as the dialer does before the phone rings."""
    body = {"call_id": call_id, "case_id": case_id, "agent_id": agent_id, **({"legs": legs} if legs else {})}
    httpx.post(f"{server.http}/api/calls", json=body, headers=server.headers("gateway")).raise_for_status()


async def followed(server, call_id: str, scenario) -> tuple[list, object]:
    """Every event of the call on a panel's socket while ``scenario()`` plays it; and what the
    scenario returned."""
    events = []
    follower = asyncio.create_task(follow_call(server.ws, call_id, events.append, server.token["supervisor"]))
    result = await scenario()
    await asyncio.wait_for(follower, 60)
    return events, result


def finals(events, channel: str) -> str:
    return "".join(e.text for e in events if e.type == "transcript" and e.final and e.channel == channel)


# -- FreeSWITCH mod_audio_fork ----------------------------------------------------------------
FORK_SUBPROTOCOL = "audio.drachtio.org"


def basic_auth(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def connect_fork(base: str, token: str | None = None, query: str = ""):
    """Connect as mod_audio_fork does: subprotocol ``audio.drachtio.org``, HTTP Basic when its
    MOD_AUDIO_BASIC_AUTH_USERNAME/PASSWORD channel variables are set."""
    headers = basic_auth("freeswitch", token) if token else {}
    return await websockets.connect(f"{base}/ws/gateways/freeswitch{query}", subprotocols=[FORK_SUBPROTOCOL],
                                    additional_headers=headers, max_size=None)


async def fork_stream(ws, audio: CallAudio, mix: str = "stereo", left: str = "customer", speed: float = 3.0,
                      seconds: float | None = None) -> None:
    """Binary L16 frames as the module sends them: stereo interleaves read (left) and write
    (right) side; mono is the tapped leg's own voice (here: ``left``'s); mixed, the two summed."""
    pace = Pacer(speed)
    sent = 0.0
    for agent, customer in audio.frames():
        read, write = (customer, agent) if left == "customer" else (agent, customer)
        if mix == "stereo":
            payload = audio.pcm16(interleave(read, write))
        elif mix == "mono":
            payload = audio.pcm16(read)
        else:
            payload = audio.pcm16(np.clip(read + write, -1, 1))
        await ws.send(payload)
        sent += len(agent) / audio.rate
        await pace(len(agent) / audio.rate)
        if seconds is not None and sent >= seconds:
            return


async def fork_call(base: str, token: str, metadata: dict, audio: CallAudio, speed: float = 3.0,
                    mix: str = "stereo", left: str = "customer") -> None:
    """A whole fork: metadata, the audio, then the close the module makes on hang-up."""
    async with await connect_fork(base, token) as ws:
        await ws.send(json.dumps(metadata))
        await fork_stream(ws, audio, mix, left, speed)
