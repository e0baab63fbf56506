"""The API's request metrics, counted in plain integers, expose what the Prometheus client's
own counters and histogram expose for the same requests (the readable reference)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from paraclear.api.metrics import LATENCY_BUCKETS, PREFIX, ApiMetrics

requests = st.lists(
    st.tuples(
        st.sampled_from(("private/buy", "public/ticker", "other")),
        st.none() | st.sampled_from((-32601, -32602, 10009)),
        st.sampled_from(LATENCY_BUCKETS) | st.floats(0.0, 3.0),
    ),
    max_size=40,
)


def _reference(answered: list[tuple[str, int | None, float]]) -> set[str]:
    """The exposition lines of the client library's metrics after ``answered``."""
    registry = CollectorRegistry()
    count = Counter(f"{PREFIX}_rpc_requests", "", ["method"], registry=registry)
    errors = Counter(f"{PREFIX}_rpc_errors", "", ["method", "code"], registry=registry)
    latency = Histogram(
        f"{PREFIX}_rpc_seconds", "", ["method"], registry=registry, buckets=LATENCY_BUCKETS
    )
    for method, code, seconds in answered:
        count.labels(method).inc()
        latency.labels(method).observe(seconds)
        if code is not None:
            errors.labels(method, str(code)).inc()
    return _samples(generate_latest(registry))


def _samples(text: bytes) -> set[str]:
    """Sample lines of the request metrics (no comments, no ``_created`` times)."""
    lines = text.decode().splitlines()
    return {
        line
        for line in lines
        if line.startswith(f"{PREFIX}_rpc_") and "_created" not in line.split(" ")[0]
    }


@given(requests)
def test_request_metrics_expose_what_the_client_librarys_would(
    answered: list[tuple[str, int | None, float]],
) -> None:
    metrics = ApiMetrics()
    for method, code, seconds in answered:
        metrics.on_request(method, code, seconds)
    assert _samples(metrics.render()) == _reference(answered)
