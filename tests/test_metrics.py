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
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import ClientSession
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from node.app import create_app
from node.federation.network import PeerStatus
from node.federation.peers import Peer
from node.http.metrics import Metrics
from node.http.server import MAX_HEADER_FIELD_BYTES
from node.settings import Settings
from tests.conftest import ROOT, free_port, send_slowly, serve_app

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


# --- what aiohttp refuses before any handler runs ----------------------------------------

def _requests_by_status(text: str) -> dict[tuple[str, str], float]:
    """gdi_node_http_requests_total summed by (route, status)."""
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gdi_node_http_requests_total":
                key = (sample.labels["route"], sample.labels["status"])
                counts[key] = counts.get(key, 0) + sample.value
    return counts


async def test_requests_refused_before_any_handler_are_counted(settings, pool):
    """aiohttp answers a request it cannot parse (a request line or a header past its limit,
    bytes that are no HTTP) and an expectation it does not meet before any middleware: none
    was in /metrics, so neither the dashboard's status panel nor an alert saw a client (or a
    proxy's misconfiguration) refused 400 by the hundred. Each is counted by its status,
    an unparsed one under the route `unparsed`; a body past the size limit (413, refused by
    the node's own reading, node/http/body.py) is counted as it was."""
    async with AsyncExitStack() as stack:
        url = await serve_app(stack, create_app(settings, pool))
        port = urlsplit(url).port
        for sent in (b"GET /api/info?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"GET /api/info HTTP/1.1\r\nHost: x\r\nX-Big: "
                     + b"a" * (MAX_HEADER_FIELD_BYTES + 1) + b"\r\n\r\n",
                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                     (b"POST /api/g_variants HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")):
            answer, _ = await send_slowly(port, sent, [], 0.1, 5)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert b"application/json" in head, answer
            assert b"Traceback" not in body and b"aaaa" not in body, answer
        async with ClientSession(base_url=url) as client:
            async with client.post("/api/g_variants", data=b" " * (2**20 + 1),
                                   headers={"Content-Type": "application/json"}) as response:
                assert response.status == 413
            text = await (await client.get("/metrics")).text()
    counts = _requests_by_status(text)
    assert counts.get(("unparsed", "400")) == 3, counts
    assert counts.get(("/api/g_variants", "417")) == 1, counts
    assert counts.get(("/api/g_variants", "413")) == 1, counts
