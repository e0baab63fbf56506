"""Prometheus metrics of the API server, and a hook for the node's own gauges.

Each ``ApiMetrics`` has its own registry (several servers can live in one process, as in the
tests). Method labels are only registered method names (anything else counts as ``other``),
so a client cannot grow the label set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
PREFIX: Final = "paraclear"


class ApiMetrics:
    """Requests, errors, connections and subscriptions; implements ``rpc.Observer``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            f"{PREFIX}_rpc_requests",
            "JSON-RPC requests answered",
            ["method"],
            registry=self.registry,
        )
        self.errors = Counter(
            f"{PREFIX}_rpc_errors",
            "JSON-RPC error responses",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_rpc_seconds",
            "Time from receiving a request to encoding its response",
            ["method"],
            registry=self.registry,
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
        )
        self.connections = Gauge(
            f"{PREFIX}_ws_connections", "Open WebSocket connections", registry=self.registry
        )
        self.disconnects = Counter(
            f"{PREFIX}_ws_disconnects",
            "WebSocket connections closed by the server",
            ["reason"],
            registry=self.registry,
        )
        self._children: dict[str, tuple[Counter, Histogram]] = {}
        self.subscriptions = Gauge(
            f"{PREFIX}_subscriptions", "Channel subscriptions", registry=self.registry
        )

    def on_request(self, method: str, error_code: int | None, seconds: float) -> None:
        children = self._children.get(method)
        if children is None:  # labels() is slow; method labels are few (registered names)
            children = self._children[method] = (
                self.requests.labels(method),
                self.latency.labels(method),
            )
        children[0].inc()
        children[1].observe(seconds)
        if error_code is not None:
            self.errors.labels(method, str(error_code)).inc()

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Expose ``paraclear_{name}``, read when scraped (height, block latency, mempool size).

        ``read`` runs on the server's thread at scrape time; it must be cheap and not block.
        """
        Gauge(f"{PREFIX}_{name}", documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
