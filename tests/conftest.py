"""Shared fixtures. Integration tests use real parts: a real redis-server, the real model."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "calls"


@pytest.fixture(scope="session")
def corpus() -> Path:
    assert CORPUS.is_dir(), f"the shared corpus is expected at {CORPUS}"
    return CORPUS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


# The test server's access tokens: role -> token (agents: agent ids a1 and a2).
TEST_TOKENS = {"gateway": "tok-gateway", "supervisor": "tok-supervisor", "agent": "tok-agent-a1",
               "agent2": "tok-agent-a2"}


def test_grants() -> dict:
    return {TEST_TOKENS["gateway"]: {"role": "gateway", "name": "测试网关"},
            TEST_TOKENS["supervisor"]: {"role": "supervisor", "name": "张组长"},
            TEST_TOKENS["agent"]: {"role": "agent", "agent_id": "a1", "name": "王敏"},
            TEST_TOKENS["agent2"]: {"role": "agent", "agent_id": "a2", "name": "李强"}}


class RunningServer:
    token = TEST_TOKENS

    def __init__(self, app, port: int):
        import uvicorn

        self.app, self.port = app, port
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    ws_max_size=1 << 20))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self, role: str = "supervisor") -> dict:
        return {"Authorization": f"Bearer {self.token[role]}"}

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="session")
def server(tmp_path_factory, asr_runtime):
    """The real app on a real port; no REDIS_URL, so it runs its own embedded redis-server."""
    from ferryman.settings import Settings
    from ferryman.web.app import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), redis_url=None, port=free_port(),
                        reconnect_grace_s=0.5, start_timeout_s=2.0, tokens=test_grants())
    with RunningServer(create_app(settings, asr=asr_runtime), settings.port) as running:
        yield running


def run(coro):
    return asyncio.run(coro)
