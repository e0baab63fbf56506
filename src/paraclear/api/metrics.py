"""Prometheus metrics of the API server, and a hook for the node's own gauges.

Each ``ApiMetrics`` has its own registry (several servers can live in one process, as in the
tests). Method labels are only registered method names (anything else counts as ``other``),
so a client cannot grow the label set.

Requests are counted in plain integers (``RequestCounts``, one call per request answered on
the server's loop) and turned into Prometheus families when scraped: the client library's
counter and histogram took ~1.6 us a request with their locks, these ~0.25.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
PREFIX: Final = "paraclear"
LATENCY_BUCKETS: Final = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)
"""Upper bounds (seconds) of the request latency histogram's buckets (then +Inf)."""


class RequestCounts(Collector):
    """Requests answered, errors and latency by method, exposed as ``paraclear_rpc_requests``
    and ``paraclear_rpc_errors`` (counters) and ``paraclear_rpc_seconds`` (histogram)."""

    def __init__(self) -> None:
        self.answered: dict[str, int] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}
        """Per method, requests per bucket of ``LATENCY_BUCKETS`` (not cumulative), +Inf last."""
        self.seconds: dict[str, float] = {}

    def add(self, method: str, error_code: int | None, seconds: float) -> None:
        buckets = self.buckets.get(method)
        if buckets is None:
            buckets = self.buckets[method] = [0] * (len(LATENCY_BUCKETS) + 1)
            self.answered[method], self.seconds[method] = 0, 0.0
        self.answered[method] += 1
        self.seconds[method] += seconds
        buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        if error_code is not None:
            key = (method, str(error_code))
            self.errors[key] = self.errors.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            f"{PREFIX}_rpc_requests", "JSON-RPC requests answered", labels=["method"]
        )
        for method, count in self.answered.items():
            requests.add_metric([method], count)
        errors = CounterMetricFamily(
            f"{PREFIX}_rpc_errors", "JSON-RPC error responses", labels=["method", "code"]
        )
        for (method, code), count in self.errors.items():
            errors.add_metric([method, code], count)
        latency = HistogramMetricFamily(
            f"{PREFIX}_rpc_seconds",
            "Time from receiving a request to encoding its response",
            labels=["method"],
        )
        bounds = [*map(str, LATENCY_BUCKETS), "+Inf"]
        for method, buckets in self.buckets.items():
            cumulative = [sum(buckets[: at + 1]) for at in range(len(buckets))]
            latency.add_metric(
                [method], list(zip(bounds, cumulative, strict=True)), self.seconds[method]
            )
        yield from (requests, errors, latency)


class ApiMetrics:
    """Requests, errors, connections and subscriptions; implements ``rpc.Observer``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = RequestCounts()
        self.registry.register(self.requests)
        self.connections = Gauge(
            f"{PREFIX}_ws_connections", "Open WebSocket connections", registry=self.registry
        )
        self.disconnects = Counter(
            f"{PREFIX}_ws_disconnects",
            "WebSocket connections closed by the server",
            ["reason"],
            registry=self.registry,
        )
        self.subscriptions = Gauge(
            f"{PREFIX}_subscriptions", "Channel subscriptions", registry=self.registry
        )

    def on_request(self, method: str, error_code: int | None, seconds: float) -> None:
        self.requests.add(method, error_code, seconds)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Expose ``paraclear_{name}``, read when scraped (height, block latency, mempool size).

        ``read`` runs on the server's thread at scrape time; it must be cheap and not block.
        """
        Gauge(f"{PREFIX}_{name}", documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
