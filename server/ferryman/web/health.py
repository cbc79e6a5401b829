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
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ferryman.metrics import CONTENT_TYPE

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    reasons = []
    if getattr(state, "asr", None) is None:
        reasons.append("speech model not loaded")
    try:
        await asyncio.wait_for(state.redis.ping(), 1.0)
    except (redis.RedisError, asyncio.TimeoutError, OSError) as exc:
        reasons.append(f"redis unreachable: {exc or 'timeout'}")
    calls = getattr(state, "calls", None)
    live, capacity = (len(calls), calls.capacity) if calls is not None else (0, 0)
    if calls is None or live >= capacity:
        reasons.append(f"at capacity ({live}/{capacity} live calls)")
    body = {"ready": not reasons, "node": state.settings.node_name(), "live_calls": live, "capacity": capacity,
            "reasons": reasons}
    return JSONResponse(body, status_code=200 if not reasons else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)
