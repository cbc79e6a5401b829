"""Test scaffolding shared by the tests and the benchmarks (not part of the product):
the app on a background thread on a real port, and a corpus call published into a server's
Redis turn by turn as a live call (no ASR, no audio)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

import uvicorn
import websockets

from ferryman.events import Event, TranscriptEvent
from ferryman.replay import TranscriptReplay


class BackgroundServer:
    def __init__(self, app, port: int, start_timeout_s: float = 60.0):
        self.app, self.port, self._timeout = app, port, start_timeout_s
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    ws_max_size=1 << 20))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + self._timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the background server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


class ServeProcess:
    """``ferryman serve`` as its own process on a free port (``env``: FERRYMAN_* overrides), as
    an operator runs it: the floor test, the capacity and fault benchmarks."""

    ROOT = Path(__file__).resolve().parents[1]

    def __init__(self, env: dict[str, str], port: int | None = None, log: Path | None = None):
        self.port = port or free_port()
        self.http, self.ws = f"http://127.0.0.1:{self.port}", f"ws://127.0.0.1:{self.port}"
        # AudioSocket off unless asked for: nodes on one machine would all want its port
        self.env = {**os.environ, "FERRYMAN_PORT": str(self.port), "FERRYMAN_AUDIOSOCKET_PORT": "0", **env}
        if log:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen([str(self.ROOT / ".venv" / "bin" / "ferryman"), "serve"], env=self.env,
                                     stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)

    def wait_ready(self, path: str = "/api/health", seconds: float = 120) -> "ServeProcess":
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ferryman serve exited ({self.proc.returncode})")
            try:
                if urllib.request.urlopen(f"{self.http}{path}", timeout=2).status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.http}{path} never answered 200")

    def rss_mb(self) -> float:
        return int(Path(f"/proc/{self.proc.pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


class PublishedReplay:
    """A corpus call's reference turns (with partials) published into a server's Redis as a
    live call of ``agent_id``, step by step: the panels show it as they would a real call.
    Used by the browser tests and the panel benchmark (no ASR, no audio)."""

    def __init__(self, redis_url: str, call_json: Path, call_id: str, agent_id: str, spill_dir: Path,
                 node_id: str = "", case_known: bool = True):
        from ferryman.bus.streams import BusSink, EventBus
        from ferryman.calls.contact import debtor_today, load_contact_rules
        from ferryman.cases.schema import load_case_file
        from ferryman.infra.redis import async_client

        self.case = load_case_file(call_json)
        self.call_id = call_id
        self.redis = async_client(redis_url)
        self.bus = EventBus(self.redis)
        self.sink = BusSink(self.bus, spill_dir)
        self.case_known = case_known      # False: as a call the PBX streamed and nobody registered
        # dated like the server dates a live call: today where the debtor is
        today = debtor_today(load_contact_rules(), self.case.timezone)
        self.replay = TranscriptReplay(call_json, self.case if case_known else None, self.sink, call_id=call_id,
                                       agent_id=agent_id, partials=True, today=today)
        self.node_id = node_id      # the node it pretends to be carried by (else the floor ends it as orphaned)

    async def start(self) -> None:
        await self.replay.start()
        await self.sink.flush()
        if self.node_id:
            await self.bus.adopt(self.call_id, self.node_id, 0.0)

    async def play_until(self, predicate: Callable[[TranscriptEvent], bool]) -> TranscriptEvent:
        """Publish turns up to the first matching one; returns once Redis has them all."""
        event = await self.replay.play(until=predicate)
        if event is None:
            raise ValueError(f"call {self.call_id} has no such turn")
        await self.sink.flush()
        return event

    async def events(self) -> list[Event]:
        return await self.bus.read_after(self.call_id, count=100_000)

    async def close(self) -> None:
        if not self.sink.closed:
            await self.replay.finish()
            await self.sink.close()
            await self.redis.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The test server's access tokens: role -> token (agents: agent ids a1 and a2).
TEST_TOKENS = {"gateway": "tok-gateway", "supervisor": "tok-supervisor", "agent": "tok-agent-a1",
               "agent2": "tok-agent-a2"}


def grants() -> dict:
    return {TEST_TOKENS["gateway"]: {"role": "gateway", "name": "测试网关"},
            TEST_TOKENS["supervisor"]: {"role": "supervisor", "name": "张组长"},
            TEST_TOKENS["agent"]: {"role": "agent", "agent_id": "a1", "name": "王敏"},
            TEST_TOKENS["agent2"]: {"role": "agent", "agent_id": "a2", "name": "李强"}}


def debtors_today():
    """Today where the corpus debtors are (the contact rules' zone): what the server resolves
    今天 against."""
    from ferryman.calls.contact import debtor_today, load_contact_rules

    return debtor_today(load_contact_rules(), None)


def lenient_contact_rules() -> dict:
    """The contact rules with every hour allowed and no daily cap: the suite places dozens of
    calls on the corpus cases at any hour of CI; the contact-rule tests set the real ones."""
    from ferryman.calls.contact import load_contact_rules

    rules = load_contact_rules().model_dump()
    return {**rules, "calling_hours": {"start": "00:00", "end": "24:00"}, "max_contacts_per_day": 100_000}


class RunningServer(BackgroundServer):
    token = TEST_TOKENS

    def headers(self, role: str = "supervisor") -> dict:
        return {"Authorization": f"Bearer {self.token[role]}"}

    def lenient(self) -> "RunningServer":
        """Lenient contact rules on this server (see ``lenient_contact_rules``)."""
        import httpx

        httpx.put(f"{self.http}/api/contact-rules", json=lenient_contact_rules(),
                  headers=self.headers("supervisor")).raise_for_status()
        return self


class TurnCall:
    """A call through the server's transcript socket, turn by turn (no audio): the server opens
    it as any live call (registration, contact rules, hint engine, records).

        async with TurnCall(server, call_id, case_id=..., agent_id=...) as call:
            await call.say("customer", "我下周还。")
    """

    def __init__(self, server, call_id: str, case_id: str | None = None, agent_id: str | None = "a1",
                 placed_at: str | None = None):
        start = {"type": "start", "token": server.token["gateway"], "source": "transcript"}
        start.update({k: v for k, v in (("case_id", case_id), ("agent_id", agent_id), ("placed_at", placed_at)) if v})
        self.url, self.start, self.call_id = f"{server.ws}/ws/ingest/{call_id}", start, call_id
        self.clock = 0.0

    async def __aenter__(self) -> "TurnCall":
        self.ws = await websockets.connect(self.url)
        await self.ws.send(json.dumps(self.start))
        answer = json.loads(await self.ws.recv())
        assert answer["type"] == "started", answer
        return self

    async def say(self, channel: str, text: str, seconds: float = 2.0) -> None:
        await self.ws.send(json.dumps({"type": "turn", "channel": channel, "text": text, "start": self.clock,
                                       "end": self.clock + seconds}, ensure_ascii=False))
        self.clock += seconds

    async def __aexit__(self, *exc) -> None:
        await self.ws.send(json.dumps({"type": "stop"}))
        await self.ws.recv()
        await self.ws.close()
