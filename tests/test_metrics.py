"""What the node exports on /metrics (node/http/metrics.py), read as the operator's Prometheus
and the shipped dashboard (monitoring/grafana/dashboards) read it."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, get_args

import asyncpg
import pytest
from aiohttp import ClientSession
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from node.app import create_app
from node.federation.network import PeerStatus
from node.federation.peers import Peer
from node.http.metrics import Metrics
from node.settings import Settings
from tests.conftest import ROOT, free_port, serve_app

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


# --- what monitoring/ asks for, against a running node's /metrics -------------------------

MONITORING = ROOT / "monitoring"
ALERTS = MONITORING / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
# What Prometheus adds to every scraped series: its own, and prometheus.yml's target labels
TARGET_LABELS = {"job", "instance", "beacon_id"}
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\(([^()]*)\)")
TEMPLATE_LABEL = re.compile(r"\$labels\.(\w+)")
# The outages docs/deploy.md names, each with what an alert on it asks for
OUTAGES = {"a node or the network down": "up{",
           "503s (the database away, the network at its limit)": 'status="503"',
           "a peer the network cannot reach": "gdi_node_network_peer_answers_total",
           "answers slower than the GDI portal's 5 s": "gdi_node_http_request_seconds_bucket"}


def _yaml(path: Path) -> Any:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dashboard_queries() -> list[tuple[str, str]]:
    def panels(listed: list[dict]) -> Iterator[dict]:
        for panel in listed:
            yield panel
            yield from panels(panel.get("panels", []))
    return [(f"{path.name}: {panel['title']}", target["expr"]) for path in DASHBOARDS
            for panel in panels(json.loads(path.read_text(encoding="utf-8"))["panels"])
            for target in panel.get("targets", [])]


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _yaml(ALERTS)["groups"] for rule in group["rules"]]


async def _scraped(settings: Settings, pool: asyncpg.Pool
                   ) -> dict[str, list[dict[str, str]]]:
    """A node with one peer that is down, served on 127.0.0.1, after the requests the
    dashboards and alerts look at; its /metrics: each sample name's label sets."""
    gone = Peer(id="org.test.gone", url=f"http://127.0.0.1:{free_port()}/api")
    async with AsyncExitStack() as stack:
        url = await serve_app(stack, create_app(settings.model_copy(update={"peers": [gone]}),
                                                pool))
        async with ClientSession(base_url=url) as client:
            for path in ("/api/info", "/health", "/ready", "/metrics", "/api/nowhere",
                         "/network/api/g_variants?referenceName=1&start=0&end=10"):
                async with client.get(path) as response:
                    await response.read()
            text = await (await client.get("/metrics")).text()
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.labels)
    return samples


def _problems(where: str, expr: str, exported: dict[str, list[dict[str, str]]]) -> list[str]:
    """What in `expr` the node does not export: a metric, a label, a value a matcher needs
    (a bucket's `le`, a route, a peer's outcome), a label it groups by; and parentheses
    that do not pair."""
    problems = []
    if expr.count("(") != expr.count(")"):
        problems.append(f"{where}: unbalanced parentheses")
    labels_of_expr = set(TARGET_LABELS)
    selectors = SELECTOR.findall(expr)
    if not selectors:
        problems.append(f"{where}: no selector")
    for name, matchers in selectors:
        if name == "up":
            continue
        if name not in exported:
            problems.append(f"{where}: {name} is not exported")
            continue
        known = set().union(*exported[name]) | TARGET_LABELS
        labels_of_expr |= known
        for label, op, value in MATCHER.findall(matchers):
            if label not in known:
                problems.append(f"{where}: {name} has no label {label}")
                continue
            if label in TARGET_LABELS or label == "status":
                continue
            values = {labels[label] for labels in exported[name]} | (
                set(get_args(PeerStatus)) | {"refused"} if label == "outcome" else set())
            wanted = value.split("|") if op in ("=~", "!~") else [value]
            for one in wanted:
                if not any(re.fullmatch(one, seen) for seen in values):
                    problems.append(f"{where}: {name}{{{label}{op}\"{value}\"}}: "
                                    f"{one!r} matches none of {sorted(values)}")
    for grouping in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            if label not in labels_of_expr:
                problems.append(f"{where}: groups by {label}, which it has not")
    return problems


async def test_every_alert_and_panel_asks_for_what_a_running_node_exports(settings, pool):
    """monitoring/ shipped a dashboard and no alert rules: an operator learned of a node
    down, its database away (503s), a peer the network could not reach or answers past the
    GDI portal's 5 s from a user, or by watching the dashboard. Each now has an alert in
    monitoring/prometheus/alerts.yml, which prometheus.yml loads and compose mounts; every
    metric, label, bucket and route the alerts and the dashboards ask for is one a running
    node exports, and each alert's text names only labels its expression keeps."""
    exported = await _scraped(settings, pool)
    queries = _dashboard_queries()
    assert queries
    problems = [p for where, expr in queries for p in _problems(where, expr, exported)]

    config = _yaml(PROMETHEUS_CONFIG)
    assert [ALERTS.name] == config.get("rule_files"), config.get("rule_files")
    prometheus = _yaml(ROOT / "docker-compose.yml")["services"]["prometheus"]
    mounted = dict(v.removesuffix(":ro").split(":", 1) for v in prometheus["volumes"]
                   if v.startswith("./"))
    assert mounted[f"./{ALERTS.relative_to(ROOT)}"] == f"/etc/prometheus/{ALERTS.name}"
    rules = _alerts()
    for rule in rules:
        where = f"alert {rule['alert']}"
        problems += _problems(where, rule["expr"], exported)
        assert re.fullmatch(r"[0-9]+[smh]", rule["for"]), where
        assert rule["labels"]["severity"] in ("critical", "warning"), where
        assert rule["annotations"].keys() == {"summary", "description"}, where
        groupings = [{part.strip() for part in grouping.split(",")}
                     for grouping in re.findall(r"\bby\s*\(([^()]*)\)", rule["expr"])]
        kept = set.intersection(*groupings) if groupings else None
        for label in TEMPLATE_LABEL.findall(" ".join(rule["annotations"].values())):
            assert kept is None or label in kept, f"{where}: names {label}, summed away"
    assert problems == []
    for outage, asked in OUTAGES.items():
        assert any(asked in rule["expr"] for rule in rules), outage
