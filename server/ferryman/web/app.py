"""The FastAPI application: REST, websockets, the static panels; Redis and the model in lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from datetime import date, timedelta

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from ferryman.aftercall.history import CaseHistory
from ferryman.aftercall.search import warm_up as search_warm_up
from ferryman.bus.spill import SpillReplayer
from ferryman.bus.streams import EventBus
from ferryman.calls.listen import AudioTap
from ferryman.calls.live import Admission, LiveCalls
from ferryman.calls.nodes import NodeRegistry
from ferryman.calls.registry import CallRegistry
from ferryman.cases.store import CaseStore, PolicyStore
from ferryman.gateways.audiosocket import AudioSocketServer
from ferryman.gateways.freeswitch import freeswitch_socket
from ferryman.gateways.genesys import genesys_socket
from ferryman.gateways.twilio import twilio_socket
from ferryman.hints import prepare as prepare_hints
from ferryman.hints.rules import load_rules
from ferryman.infra.redis import EmbeddedRedis, async_client, keep_alive
from ferryman.metrics import Metrics
from ferryman.records import build_records
from ferryman.records.promises import PromiseLedger
from ferryman.records.retention import Retention
from ferryman.records.rulebook import RuleBook
from ferryman.records.tokens import TokenDesk
from ferryman.settings import PROJECT_ROOT, Settings, get_settings
from ferryman.web.aftercall import router as aftercall_router
from ferryman.web.api import router as api_router
from ferryman.web.auth import SocketQuota, TokenBook
from ferryman.web.console import router as console_router
from ferryman.web.contact import router as contact_router
from ferryman.web.guards import BodyLimit, SecurityHeaders
from ferryman.web.health import router as health_router
from ferryman.web.ingest_ws import ingest_socket
from ferryman.web.listen import listen_socket
from ferryman.web.review import review_facts
from ferryman.web.review import router as review_router
from ferryman.web.services import Services
from ferryman.web.subscribe import calls_socket, floor_socket
from ferryman.web.views import call_summary

log = logging.getLogger(__name__)
CLIENT_DIR = PROJECT_ROOT / "client_web"


def create_app(settings: Settings | None = None, asr=None) -> FastAPI:
    """``asr``: an already loaded AsrRuntime to share (tests); else the model loads at start."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = svc = await _start_services(settings, Metrics(), asr)
        watchdog = asyncio.create_task(keep_alive(svc.embedded_redis)) if svc.embedded_redis else None
        token_sync = asyncio.create_task(svc.token_desk.run())     # the console's tokens, floor-wide
        log.info("ferryman node %s ready on http://%s:%d (at most %d calls)", settings.node_name(),
                 settings.host, settings.port, svc.calls.capacity)
        app.state.audiosocket = None
        try:                      # inside: a port in use still stops what started before it
            if settings.audiosocket_port:
                app.state.audiosocket = await AudioSocketServer.start(svc)
            yield
        finally:
            if app.state.audiosocket:
                await app.state.audiosocket.close()
            if watchdog:
                watchdog.cancel()
            token_sync.cancel()
            await svc.nodes.stop()
            await svc.calls.close_all()
            await svc.bus.hub.close()
            await svc.bus.close_clients(keep=svc.redis)
            await svc.redis.aclose()
            await svc.audio_redis.aclose()
            await svc.tap_redis.aclose()
            if svc.embedded_redis:
                await asyncio.to_thread(svc.embedded_redis.stop)

    docs = settings.api_docs      # the API's own pages stay off unless asked for
    app = FastAPI(title="Ferryman", version="0.1.0", lifespan=lifespan, docs_url="/docs" if docs else None,
                  redoc_url=None, openapi_url="/openapi.json" if docs else None)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.include_router(api_router)
    app.include_router(aftercall_router)
    app.include_router(contact_router)
    app.include_router(review_router)
    app.include_router(console_router)
    app.include_router(health_router)
    app.add_api_websocket_route("/ws/ingest/{call_id}", ingest_socket)
    app.add_api_websocket_route("/ws/calls/{call_id}", calls_socket)
    app.add_api_websocket_route("/ws/calls/{call_id}/listen", listen_socket)
    app.add_api_websocket_route("/ws/floor", floor_socket)
    app.add_api_websocket_route("/ws/gateways/freeswitch", freeswitch_socket)
    app.add_api_websocket_route("/ws/gateways/genesys", genesys_socket)
    app.add_api_websocket_route("/ws/gateways/twilio", twilio_socket)
    app.mount("/ui", StaticFiles(directory=CLIENT_DIR, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/ui/")

    return app


async def _start_services(settings: Settings, metrics: Metrics, asr=None) -> Services:
    """Redis (embedded unless FERRYMAN_REDIS_URL), stores, the hint engine and the speech model
    loaded before the first call, this node's calls with their capacity and place on the floor."""
    tokens = TokenBook.from_settings(settings)
    if not len(tokens):
        log.warning("no access tokens configured (FERRYMAN_TOKENS / FERRYMAN_TOKENS_FILE): "
                    "every API call and socket will be refused; see `ferryman tokens add`")
    embedded, url = None, settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir, settings.redis_server_bin)
        embedded.spawn()                          # from this thread: the child dies with the server
        await asyncio.to_thread(embedded.wait_ready)
        url = embedded.url
    client = async_client(url, settings.redis_connections)
    readers = async_client(url, settings.redis_stream_readers)
    writer = async_client(url, settings.redis_connections, retries=0)
    # listen-in (bytes, not text): the calls' taps publish through one pool, the listeners'
    # pub/sub connections come from another, so listeners never starve the publishing
    taps = async_client(url, settings.redis_connections, decode=False)
    audio = async_client(url, settings.redis_connections, decode=False)
    policies = PolicyStore(client)
    rulebook = RuleBook(client)
    token_desk = TokenDesk(client, tokens)
    await token_desk.sync()
    await asyncio.to_thread(prepare_hints)
    await asyncio.to_thread(search_warm_up)      # the search's stop words (jieba is the hints' own)
    await policies.seed(load_rules().default_policies)
    records = build_records(client, Retention(settings.retention_days).seconds)
    retention, promises, contacts, search = records.retention, records.promises, records.contacts, records.search
    bus = EventBus(client, settings.events_maxlen, projections=records.all(),
                   reader_redis=readers,
                   subscriber_queue=settings.subscriber_queue, on_error=metrics.redis_errors.inc,
                   writer_redis=writer)
    if asr is None:
        from ferryman.asr import build_runtime

        asr = await asyncio.to_thread(build_runtime, settings)
    capacity = settings.call_capacity()
    calls: LiveCalls
    nodes = NodeRegistry(client, settings.node_name(), settings.advertised_url(), capacity, live=lambda: len(calls),
                         on_beat=lambda: _floor_chores(replayer, calls, bus, retention, promises))
    replayer = SpillReplayer(bus, client, settings.data_dir / "spill")
    admission = Admission(capacity, nodes_with_room=nodes.with_room, on_refused=metrics.calls_refused.inc,
                          on_started=metrics.calls_started.inc)
    calls = LiveCalls(bus, policies, asr, settings.data_dir / "spill", settings.reconnect_grace_s, admission,
                      on_final=metrics.final_observer(), on_redis_error=metrics.redis_errors.inc,
                      node_id=settings.node_name(), owner_alive=nodes.alive, contact_check=contacts.check,
                      audio_tap=lambda call_id: AudioTap(taps, call_id), rules=rulebook.rules,
                      local_today=contacts.local_today)
    metrics.watch_calls(lambda: len(calls), capacity)
    metrics.watch_scheduler(asr.scheduler)
    await calls.disown_previous_life()
    await nodes.start()
    services = Services(settings, tokens, metrics, client, embedded, CaseStore(client, retention.seconds), policies,
                        bus, promises, asr, calls, nodes, SocketQuota(settings.max_sockets_per_token),
                        CallRegistry(client, settings.registration_ttl_s), CaseHistory(client, retention.seconds),
                        contacts, search, audio, taps, rulebook, token_desk)
    calls.on_ended = _after_call(services)
    return services


def _after_call(svc: Services):
    """A call this node ended is scored now (its scorecard, disposition), so the calls page
    finds it ready instead of scoring it on the first listing."""
    tasks: set[asyncio.Task] = set()

    async def score(call_id: str) -> None:
        try:
            summary = await call_summary(svc, call_id)
            if summary is not None:
                await review_facts(svc, summary)
        except Exception as exc:             # the calls page scores it later
            log.warning("call %s not scored after it ended: %s", call_id, exc)

    def spawn(call_id: str) -> None:
        task = asyncio.create_task(score(call_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return spawn


async def _floor_chores(replayer: SpillReplayer, calls: LiveCalls, bus: EventBus, retention: Retention,
                        promises: PromiseLedger) -> None:
    """On every heartbeat Redis answered: spilled events back first (a call's own end may be among
    them), then calls whose node is gone ended as dropped, then what is past retention."""
    await replayer.replay()
    await calls.end_orphans()
    await bus.trim_floor(retention.oldest_floor_id(time.time()))
    await asyncio.to_thread(replayer.forget_older_than, retention.seconds)
    await promises.forget_due_before(date.today() - timedelta(seconds=retention.seconds))
