"""What a load balancer and Prometheus read: ``/healthz``, ``/readyz``, ``/metrics`` (no token).

- ``/healthz``: the process answers (liveness; restart it if this fails).
- ``/readyz``: send calls here — the speech model is loaded, Redis answers, and the node is
  below its capacity; 503 with the reasons otherwise.
- ``/metrics``: Prometheus exposition (live calls, capacity, decode queue, final latency, partials
  shed, calls refused, Redis errors).
"""

from __future__ import annotations

import asyncio

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ferryman.metrics import CONTENT_TYPE
from ferryman.web.services import ServicesDep

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: ServicesDep) -> JSONResponse:
    reasons = []
    if svc.asr is None:
        reasons.append("speech model not loaded")
    try:
        await asyncio.wait_for(svc.redis.ping(), 1.0)
    except (redis.RedisError, asyncio.TimeoutError, OSError) as exc:
        reasons.append(f"redis unreachable: {exc or 'timeout'}")
    live, capacity = len(svc.calls), svc.calls.capacity
    if live >= capacity:
        reasons.append(f"at capacity ({live}/{capacity} live calls)")
    body = {"ready": not reasons, "node": svc.settings.node_name(), "live_calls": live, "capacity": capacity,
            "reasons": reasons}
    return JSONResponse(body, status_code=200 if not reasons else 503)


@router.get("/metrics")
async def metrics(svc: ServicesDep) -> Response:
    return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE)
