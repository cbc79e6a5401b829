"""What a node exposes at ``/metrics`` for Prometheus (prometheus-client, one registry per app).

The stages do not import Prometheus: they keep plain counters (the decode scheduler's stats) or
take a callback (the pipeline's final observer, the bus sink's error hook); this module turns
them into metrics.
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0, 8.0)


class _SchedulerCollector:
    """The decode scheduler's queue and counters, read when Prometheus scrapes."""

    def __init__(self, scheduler):
        self._scheduler = scheduler

    def collect(self):
        queue = GaugeMetricFamily("ferryman_decode_queue_depth", "decodes waiting for a worker")
        queue.add_metric([], self._scheduler.queue_depth)
        yield queue
        decodes = CounterMetricFamily("ferryman_decodes", "decodes run", labels=["kind"])
        decodes.add_metric(["final"], self._scheduler.stats["decodes_final"])
        decodes.add_metric(["partial"], self._scheduler.stats["decodes_partial"])
        yield decodes
        shed = CounterMetricFamily("ferryman_partials_shed", "partial decodes skipped: node busy or stale")
        shed.add_metric([], self._scheduler.stats["partials_shed"])
        yield shed


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.live_calls = Gauge("ferryman_live_calls", "calls this node is transcribing", registry=r)
        self.capacity = Gauge("ferryman_call_capacity", "most live calls this node accepts", registry=r)
        self.calls_refused = Counter("ferryman_calls_refused", "calls refused at capacity (1013)", registry=r)
        self.calls_started = Counter("ferryman_calls_started", "calls opened on this node", registry=r)
        self.final_latency = Histogram("ferryman_final_latency_seconds",
                                       "end of an utterance's audio to its final transcript",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.redis_errors = Counter("ferryman_redis_errors", "Redis writes that failed and were retried",
                                    registry=r)

    def watch_scheduler(self, scheduler) -> None:
        self.registry.register(_SchedulerCollector(scheduler))

    def watch_calls(self, live: Callable[[], int], capacity: int) -> None:
        self.live_calls.set_function(live)
        self.capacity.set(capacity)

    def final_observer(self) -> Callable[[float], None]:
        return self.final_latency.observe

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
