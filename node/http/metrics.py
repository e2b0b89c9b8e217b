"""Request ids, one structured log line per request, and Prometheus metrics.

Each app owns its metrics registry (not prometheus_client's global one) so that several apps
in one process, as in the tests, count separately. The workers of `gdi-node serve --workers
N` share their counts through files (`Metrics.shared`), as a scrape reaches one of them."""
from __future__ import annotations

import asyncio
import logging
import os
import re
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from itertools import accumulate
from pathlib import Path
from random import getrandbits
from typing import Literal, get_args

import orjson
from aiohttp import hdrs, web
from multidict import istr
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

log = logging.getLogger(__name__)
access_log = logging.getLogger("gdi_node.access")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = web.RequestKey("request_id", str)
# when the middleware took the request (time.perf_counter): an answer may wait for a floor
STARTED = web.RequestKey("started", float)
# The header's name as an istr, folded once: a str name is folded again at every lookup
# (2k instructions of a request's, a hot loop under callgrind)
REQUEST_ID_HEADER = istr("X-Request-ID")


# Up to 60 s: past the longest a request may run by the node's time limits (a wide query's
# 30 s, wide_query_timeout_seconds). They ended at 5 s, and histogram_quantile answers the
# highest finite bound for a rank past it, so the dashboard's p95 read 5 s whether requests
# took 5 s or 30 (found by a review, 2026-12-05).
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60)
SHARE_SECONDS = 1.0          # how often a worker writes its counts for the others
UNPARSED = "unparsed"        # the route of a request aiohttp could not parse (`refused`)
# Why a 503 was answered: its `cause` label in /metrics (docs/deploy.md, "Monitoring"), set
# on the response by what made it (UNAVAILABLE); a fixed set, so that the series stay few.
# `database`: unavailable (node/http/outage.py); `pool`: every connection busy past the
# wait for one; `query_timeout`: a statement past its time limit; `network_busy`: the
# network's requests at network_requests_in_flight (node/federation/slots.py);
# `network_down`: no peer answered; `issuer`: a token's issuer's keys unreadable;
# `not_ready`: /ready; `other`: any other 503.
UnavailableCause = Literal["database", "pool", "query_timeout", "network_busy", "network_down",
                           "issuer", "not_ready", "other"]
UNAVAILABLE_CAUSES: tuple[UnavailableCause, ...] = get_args(UnavailableCause)
UNAVAILABLE = web.ResponseKey("unavailable", str)


class Metrics:
    """Request counts and latency histograms, kept as plain dicts and lists.

    The event loop is one thread, so a request needs no lock: it costs a dict lookup and two
    increments, where prometheus_client's own Counter and Histogram take a lock per update
    and walk the buckets in Python (measurable per request in bench/query.py). They are
    turned into Prometheus metric families only when /metrics is scraped.

    `shared`: this worker's file in the directory the workers of one supervisor share. A
    scrape reaches one worker, and each answered with its own counts: the node's counters
    went up and down from scrape to scrape (resets to Prometheus, whose rate() jumped) and
    never showed its total. A worker writes its counts there every SHARE_SECONDS and before
    each /metrics answer, which adds the other workers' files to its own counts; a
    replacement worker counts on from the file of the worker it replaces. So no scrape shows
    less than an earlier one, a killed worker's counts included."""

    def __init__(self, shared: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # (method, route, status, a 503's cause or ""): answers
        self._requests: dict[tuple[str, str, int, str], int] = {}
        self._latency: dict[str, list[float]] = {}      # bucket counts, then the sum
        self._count_round_trips = 0
        self._count_queries = 0
        self._peers: dict[tuple[str, str], int] = {}      # (peer id, outcome): answers
        self.shared = shared
        if shared is not None and shared.exists():
            self._count_round_trips, self._count_queries = self._add(
                self._requests, self._latency, self._peers, orjson.loads(shared.read_bytes()))
        self.registry.register(self)

    def _snapshot(self) -> dict:
        return {"requests": [[*key, count] for key, count in self._requests.items()],
                "latency": self._latency, "round_trips": self._count_round_trips,
                "queries": self._count_queries,
                "peers": [[*key, count] for key, count in self._peers.items()]}

    def _add(self, requests: dict[tuple[str, str, int, str], int],
             latency: dict[str, list[float]], peers: dict[tuple[str, str], int],
             snapshot: dict) -> tuple[int, int]:
        """Add a worker's `snapshot` into `requests`, `latency` and `peers`; its count round
        trips and count queries."""
        for method, route, status, cause, count in snapshot["requests"]:
            key = (method, route, status, cause)
            requests[key] = requests.get(key, 0) + count
        for route, histogram in snapshot["latency"].items():
            mine = latency.setdefault(route, [0] * (len(LATENCY_BUCKETS) + 1) + [0.0])
            latency[route] = [a + b for a, b in zip(mine, histogram, strict=True)]
        for peer, outcome, count in snapshot["peers"]:
            peers[peer, outcome] = peers.get((peer, outcome), 0) + count
        return snapshot["round_trips"], snapshot["queries"]

    def save(self) -> None:
        """Write this worker's counts to its file (replaced whole: a reader never sees half)."""
        if self.shared is None:
            return
        written = self.shared.with_suffix(".tmp")
        try:
            written.write_bytes(orjson.dumps(self._snapshot()))
            os.replace(written, self.shared)
        except OSError as exc:
            log.warning("metrics not shared with the other workers: %s", exc)

    def record(self, method: str, route: str, status: int, seconds: float,
               cause: str = "") -> None:
        """`cause`: a 503's (UNAVAILABLE_CAUSES), "" for any other status."""
        key = (method, route, status, cause)
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._latency.get(route)
        if histogram is None:
            histogram = self._latency[route] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
        histogram[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram[-1] += seconds

    def count(self, method: str, route: str, status: int) -> None:
        """A request answered without being timed (`refused`): counted, in no histogram."""
        key = (method, route, status, "")
        self._requests[key] = self._requests.get(key, 0) + 1

    def count_round_trip(self, queries: int) -> None:
        """One database round trip answering `queries` count queries (beacon/count_batcher.py)."""
        self._count_round_trips += 1
        self._count_queries += queries

    def peers_answered(self, answers: list[tuple[str, str]]) -> None:
        """Each peer's outcome of one network request (node/federation/network.py ask_all),
        as (peer id, outcome): `ok`, `refused` (up, and said no to the question), `timeout`,
        `error` or `invalid`. One call a request, not one a peer: a call each cost a
        network request of three peers some thousands of instructions (bench/federation.py
        --overhead --parts instructions)."""
        peers = self._peers
        for key in answers:
            peers[key] = peers.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        all_requests, all_latency = dict(self._requests), dict(self._latency)
        all_peers = dict(self._peers)
        round_trips, queries = self._count_round_trips, self._count_queries
        if self.shared is not None:
            for other in self.shared.parent.glob("worker-*.json"):
                if other == self.shared:
                    continue
                try:
                    trips, counts = self._add(all_requests, all_latency, all_peers,
                                              orjson.loads(other.read_bytes()))
                except FileNotFoundError:          # the supervisor is removing them
                    continue
                round_trips, queries = round_trips + trips, queries + counts
        requests = CounterMetricFamily("gdi_node_http_requests", "HTTP requests by route and "
                                       "status, a 503's by its cause",
                                       labels=["method", "route", "status", "cause"])
        for (method, route, status, cause), count in all_requests.items():
            requests.add_metric([method, route, str(status), cause], count)
        yield requests
        latency = HistogramMetricFamily("gdi_node_http_request_seconds",
                                        "HTTP request latency by route", labels=["route"])
        bounds = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]
        for route, histogram in all_latency.items():
            cumulative = list(accumulate(histogram[:-1]))
            latency.add_metric([route], list(zip(bounds, cumulative)), histogram[-1])
        yield latency
        yield CounterMetricFamily("gdi_node_count_round_trips", "Database round trips answering "
                                  "variant count queries", value=round_trips)
        yield CounterMetricFamily("gdi_node_count_queries", "Variant count queries, answered "
                                  "together in those round trips", value=queries)
        peers = CounterMetricFamily("gdi_node_network_peer_answers", "The network's peers' "
                                    "outcomes by peer id", labels=["peer", "outcome"])
        for (peer, outcome), count in all_peers.items():
            peers.add_metric([peer, outcome], count)
        yield peers

    async def keep_sharing(self) -> None:
        """Write this worker's counts every SHARE_SECONDS, for the other workers' answers."""
        while True:
            await asyncio.sleep(SHARE_SECONDS)
            self.save()


def _route_label(request: web.Request) -> str:
    """The route template, never the raw path: ids in paths would explode label cardinality.
    Remembered per route (the app's few routes, kept as long as it runs): its resource's
    and canonical's property calls were some 1k instructions of every request's."""
    route = request.match_info.route
    label = _ROUTE_LABELS.get(route)
    if label is not None:
        return label
    resource = route.resource if route is not None else None
    if resource is None:
        return "unmatched"      # a request matching no route: its route is its own
    if len(_ROUTE_LABELS) >= _ROUTE_LABELS_MOST:
        _ROUTE_LABELS.clear()   # routes of apps gone (tests make many)
    label = _ROUTE_LABELS[route] = resource.canonical
    return label


# _route_label's memory: the label of each route of an app's router, by the route (aiohttp's
# routes are compared by identity); not a route made for a request that matched none (a
# 404's, a 405's), which is every such request's own
_ROUTE_LABELS: dict[object, str] = {}
_ROUTE_LABELS_MOST = 1024


def _method_label(method: str) -> str:
    """HTTP's methods as they are, any other as `other`: aiohttp's own parser (no C
    extension) takes any token as a method, and each one a client made up was a series."""
    return method if method in hdrs.METH_ALL else "other"


def request_id(request: web.Request) -> str:
    """The client's X-Request-ID if it is a sane token, else a fresh one (an id, not a secret:
    no syscall for randomness)."""
    offered = request.headers.get(REQUEST_ID_HEADER)
    request[REQUEST_ID] = identifier = (
        offered if offered and _CLIENT_ID.fullmatch(offered) else f"{getrandbits(128):032x}")
    return identifier


def unavailable(response: web.Response, cause: UnavailableCause) -> web.Response:
    """`response`, a 503, marked with its cause for /metrics (`finished`)."""
    response[UNAVAILABLE] = cause
    return response


def finished(metrics: Metrics, request: web.Request, status: int, elapsed: float,
             response: web.StreamResponse | None = None) -> None:
    """Count the request and write its access log line (when INFO is on). `response`: the
    answer, whose cause a 503's count is labelled with (`unavailable`; `other` if none)."""
    route = _route_label(request)
    cause = "" if status != 503 else (
        "other" if response is None else response.get(UNAVAILABLE, "other"))
    metrics.record(_method_label(request.method), route, status, elapsed, cause)
    if access_log.isEnabledFor(logging.INFO):
        # the path as sent, percent-encoded: decoded, `%20` gave the caller spaces, and
        # `/x%20200%20status=200` wrote fields of its own into the line before the real ones
        # (found by a review, 2026-12-06)
        access_log.info("%s %s %d", request.method, request.rel_url.raw_path, status,
                        extra={"request_id": request[REQUEST_ID], "status": status,
                               "duration_ms": round(elapsed * 1000, 2), "route": route})


def refused(metrics: Metrics, request: web.Request | None, status: int) -> None:
    """Count a request aiohttp refused before any middleware (node/http/server.py
    answer_unparsed): one it could not parse (`request` None), under the route UNPARSED, its
    method unknown (`other`); an expectation it does not meet, under its own method and
    route. Not timed: no latency is known, and none shown."""
    if request is None:
        metrics.count("other", UNPARSED, status)
    else:
        metrics.count(_method_label(request.method), _route_label(request), status)


def metrics_handler(metrics: Metrics) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        metrics.save()       # what this answer shows, the others' answers show from now on
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
    return handler
