"""The FastAPI application: REST, websockets, the static panels; Redis and the model in lifespan."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from ferryman.bus.streams import EventBus
from ferryman.calls.live import Admission, LiveCalls
from ferryman.calls.nodes import NodeRegistry
from ferryman.cases.store import CaseStore, PolicyStore
from ferryman.hints import prepare as prepare_hints
from ferryman.hints.rules import load_rules
from ferryman.infra.redis import EmbeddedRedis, async_client
from ferryman.metrics import Metrics
from ferryman.settings import PROJECT_ROOT, Settings, get_settings
from ferryman.web.api import router as api_router
from ferryman.web.auth import TokenBook
from ferryman.web.health import router as health_router
from ferryman.web.ingest_ws import ingest_socket
from ferryman.web.subscribe import calls_socket, floor_socket

log = logging.getLogger(__name__)
CLIENT_DIR = PROJECT_ROOT / "client_web"


def create_app(settings: Settings | None = None, asr=None) -> FastAPI:
    """``asr``: an already loaded AsrRuntime to share (tests); else the model loads at start."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.tokens = TokenBook.from_settings(settings)
        if not len(state.tokens):
            log.warning("no access tokens configured (FERRYMAN_TOKENS / FERRYMAN_TOKENS_FILE): "
                        "every API call and socket will be refused; see `ferryman tokens add`")
        embedded = None
        url = settings.redis_url
        if not url:
            embedded = EmbeddedRedis(settings.data_dir, settings.redis_server_bin)
            await asyncio.to_thread(embedded.start)
            url = embedded.url
        state.embedded_redis = embedded
        state.redis = async_client(url)
        state.cases = CaseStore(state.redis)
        state.policies = PolicyStore(state.redis)
        await asyncio.to_thread(prepare_hints)
        await state.policies.seed(load_rules().default_policies)
        state.bus = EventBus(state.redis, settings.events_maxlen)
        if asr is None:
            from ferryman.asr import build_runtime

            state.asr = await asyncio.to_thread(build_runtime, settings)
        else:
            state.asr = asr
        state.calls, state.nodes = _live_calls(state, settings)
        await state.nodes.start()
        log.info("ferryman node %s ready on http://%s:%d (redis %s, at most %d calls)", settings.node_name(),
                 settings.host, settings.port, url, state.calls.capacity)
        try:
            yield
        finally:
            await state.nodes.stop()
            await state.calls.close_all()
            await state.redis.aclose()
            if embedded:
                await asyncio.to_thread(embedded.stop)

    app = FastAPI(title="Ferryman", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.include_router(api_router)
    app.include_router(health_router)
    app.add_api_websocket_route("/ws/ingest/{call_id}", ingest_socket)
    app.add_api_websocket_route("/ws/calls/{call_id}", calls_socket)
    app.add_api_websocket_route("/ws/floor", floor_socket)
    app.mount("/ui", StaticFiles(directory=CLIENT_DIR, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/ui/")

    return app


def _live_calls(state, settings: Settings) -> tuple[LiveCalls, NodeRegistry]:
    """This node's calls, with its capacity, its place on the floor, and its metrics."""
    metrics: Metrics = state.metrics
    capacity = settings.call_capacity()
    calls: LiveCalls
    nodes = NodeRegistry(state.redis, settings.node_name(), settings.advertised_url(), capacity,
                         live=lambda: len(calls))
    admission = Admission(capacity, nodes_with_room=nodes.with_room, on_refused=metrics.calls_refused.inc,
                          on_started=metrics.calls_started.inc)
    calls = LiveCalls(state.bus, state.policies, state.asr, settings.data_dir / "spill", settings.reconnect_grace_s,
                      admission, on_final=metrics.final_observer(), on_redis_error=metrics.redis_errors.inc,
                      node_id=settings.node_name(), owner_alive=nodes.alive)
    metrics.watch_calls(lambda: len(calls), capacity)
    metrics.watch_scheduler(state.asr.scheduler)
    return calls, nodes
