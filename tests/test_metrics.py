"""What the node exports on /metrics (node/http/metrics.py), read as the operator's Prometheus
and the shipped dashboard (monitoring/grafana/dashboards) read it."""
from __future__ import annotations

import math

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from node.http.metrics import Metrics
from node.settings import Settings

ROUTE = "/api/g_variants"


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over one series' cumulative `buckets` (upper bound,
    count; the last +Inf), as the dashboard's latency panels compute it: linear within the
    bucket the rank falls in, and, where it falls in the +Inf bucket, the highest finite
    bound (promql/quantile.go)."""
    total = buckets[-1][1]
    rank = q * total
    below, start = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return buckets[-2][0]
            return start + (bound - start) * (rank - below) / (count - below)
        below, start = count, bound
    raise AssertionError("no +Inf bucket")


def _latency_buckets(metrics: Metrics, route: str) -> list[tuple[float, float]]:
    text = generate_latest(metrics.registry).decode()
    return sorted((float(sample.labels["le"]), sample.value)
                  for family in text_string_to_metric_families(text)
                  for sample in family.samples
                  if sample.name == "gdi_node_http_request_seconds_bucket"
                  and sample.labels["route"] == route)


@pytest.mark.parametrize("limit", ["query_timeout_seconds", "wide_query_timeout_seconds",
                                   "network_deadline_seconds"])
def test_the_latency_p95_shows_requests_as_long_as_the_node_lets_them_run(limit):
    """The latency histogram's highest bucket was 5 s, and histogram_quantile answers the
    highest finite bound for a rank in +Inf: the dashboard's p95 panels read 5 s whether
    requests took 5 s or the 30 s a wide query may (wide_query_timeout_seconds), flat
    exactly when a node slows down. Requests as long as each of the node's own time limits
    allows now show within a factor of two of their length."""
    seconds = Settings.model_fields[limit].default
    metrics = Metrics()
    for _ in range(20):
        metrics.record("GET", ROUTE, 200, seconds)
    p95 = histogram_quantile(0.95, _latency_buckets(metrics, ROUTE))
    assert seconds / 2 <= p95 <= seconds * 2, (limit, seconds, p95)
