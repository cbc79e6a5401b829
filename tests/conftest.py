"""Shared fixtures. Integration tests use real parts: a real redis-server, the real model."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from support import TEST_TOKENS, PublishedReplay, RunningServer, free_port, grants  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "calls"


@pytest.fixture(scope="session")
def corpus() -> Path:
    assert CORPUS.is_dir(), f"the shared corpus is expected at {CORPUS}"
    return CORPUS


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    return free_port()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server for the session (tests that restart Redis make their own)."""
    from ferryman.infra.redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def asr_runtime():
    """The real speech model, loaded once for the session."""
    from ferryman.asr import build_runtime
    from ferryman.settings import Settings

    runtime = build_runtime(Settings())
    yield runtime
    runtime.scheduler.shutdown()


@pytest.fixture(scope="session")
def server(tmp_path_factory, asr_runtime):
    """The real app on a real port; no REDIS_URL, so it runs its own embedded redis-server."""
    from ferryman.settings import Settings
    from ferryman.web.app import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), redis_url=None, port=free_port(),
                        reconnect_grace_s=0.5, start_timeout_s=2.0, ingest_idle_s=3.0, tokens=grants(),
                        registration_wait_s=2.0, audiosocket_port=free_port())
    with RunningServer(create_app(settings, asr=asr_runtime), settings.port) as running:
        yield running.lenient()


class LiveCall(PublishedReplay):
    """A corpus call published turn by turn into the test server's Redis (see PublishedReplay),
    its case uploaded first: tests look at the pages and the API between two turns."""

    def __init__(self, server, corpus: Path, name: str, agent_id: str, spill_dir: Path, case_known: bool = True):
        super().__init__(server.app.state.services.embedded_redis.url, corpus / f"{name}.json",
                         f"live-{name}-{uuid.uuid4().hex[:6]}", agent_id, spill_dir,
                         node_id=server.app.state.services.settings.node_name(), case_known=case_known)
        self.server = server

    async def start(self) -> None:
        httpx.put(f"{self.server.http}/api/cases/{self.case.case_id}", json=self.case.model_dump(mode="json"),
                  headers=self.server.headers("gateway")).raise_for_status()
        await super().start()


@pytest_asyncio.fixture
async def live_call(server, corpus, tmp_path):
    """``live_call(name, agent_id)`` -> a started-on-demand LiveCall; closed after the test."""
    calls = []

    def make(name: str = "d01", agent_id: str = "a1", case_known: bool = True) -> LiveCall:
        calls.append(LiveCall(server, corpus, name, agent_id, tmp_path / "spill", case_known))
        return calls[-1]

    yield make
    for call in calls:
        await call.close()


def run(coro):
    return asyncio.run(coro)
