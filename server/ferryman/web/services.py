"""What the routes and sockets use, as one typed object built in the app's lifespan.

Routes take it as a dependency (``svc: ServicesDep``), sockets read it off their app; nothing in
``web/`` keeps call logic of its own — it calls these services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends
from starlette.requests import HTTPConnection

from ferryman.aftercall.history import CaseHistory
from ferryman.aftercall.search import SearchIndex
from ferryman.asr.runtime import AsrRuntime
from ferryman.bus.streams import EventBus
from ferryman.calls.live import LiveCalls
from ferryman.calls.nodes import NodeRegistry
from ferryman.calls.registry import CallRegistry
from ferryman.cases.store import CaseStore, PolicyStore
from ferryman.infra.redis import EmbeddedRedis
from ferryman.metrics import Metrics
from ferryman.records.contacts import ContactLog
from ferryman.records.promises import PromiseLedger
from ferryman.records.rulebook import RuleBook
from ferryman.records.tokens import TokenDesk
from ferryman.settings import Settings
from ferryman.web.auth import SocketQuota, TokenBook


@dataclass
class Services:
    settings: Settings
    tokens: TokenBook
    metrics: Metrics
    redis: aioredis.Redis
    embedded_redis: EmbeddedRedis | None
    cases: CaseStore
    policies: PolicyStore
    bus: EventBus
    promises: PromiseLedger
    asr: AsrRuntime
    calls: LiveCalls
    nodes: NodeRegistry
    sockets: SocketQuota
    registry: CallRegistry
    history: CaseHistory
    contacts: ContactLog
    search: SearchIndex
    audio_redis: aioredis.Redis       # replies as bytes: the listeners' pub/sub connections
    tap_redis: aioredis.Redis         # the calls' audio taps publish through this one
    rulebook: RuleBook
    token_desk: TokenDesk


def services(connection: HTTPConnection) -> Services:
    return connection.app.state.services


ServicesDep = Annotated[Services, Depends(services)]
