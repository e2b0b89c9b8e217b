"""Request ids, one structured log line per request, and Prometheus metrics.

Each app owns its metrics registry (not prometheus_client's global one) so that several apps
in one process, as in the tests, count separately."""
from __future__ import annotations

import logging
import re
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from itertools import accumulate
from random import getrandbits

from aiohttp import web
from multidict import istr
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

access_log = logging.getLogger("gdi_node.access")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = web.RequestKey("request_id", str)
# when the middleware took the request (time.perf_counter): an answer may wait for a floor
STARTED = web.RequestKey("started", float)
# The header's name as an istr, folded once: a str name is folded again at every lookup
# (2k instructions of a request's, a hot loop under callgrind)
REQUEST_ID_HEADER = istr("X-Request-ID")


LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5)


class Metrics:
    """Request counts and latency histograms, kept as plain dicts and lists.

    The event loop is one thread, so a request needs no lock: it costs a dict lookup and two
    increments, where prometheus_client's own Counter and Histogram take a lock per update
    and walk the buckets in Python (measurable per request in bench/query.py). They are
    turned into Prometheus metric families only when /metrics is scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[str, list[float]] = {}      # bucket counts, then the sum
        self._count_round_trips = 0
        self._count_queries = 0
        self.registry.register(self)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._latency.get(route)
        if histogram is None:
            histogram = self._latency[route] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
        histogram[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram[-1] += seconds

    def count_round_trip(self, queries: int) -> None:
        """One database round trip answering `queries` count queries (beacon/count_batcher.py)."""
        self._count_round_trips += 1
        self._count_queries += queries

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("gdi_node_http_requests", "HTTP requests by route and "
                                       "status", labels=["method", "route", "status"])
        for (method, route, status), count in self._requests.items():
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily("gdi_node_http_request_seconds",
                                        "HTTP request latency by route", labels=["route"])
        bounds = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]
        for route, histogram in self._latency.items():
            cumulative = list(accumulate(histogram[:-1]))
            latency.add_metric([route], list(zip(bounds, cumulative)), histogram[-1])
        yield latency
        yield CounterMetricFamily("gdi_node_count_round_trips", "Database round trips answering "
                                  "variant count queries", value=self._count_round_trips)
        yield CounterMetricFamily("gdi_node_count_queries", "Variant count queries, answered "
                                  "together in those round trips", value=self._count_queries)


def _route_label(request: web.Request) -> str:
    """The route template, never the raw path: ids in paths would explode label cardinality."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def request_id(request: web.Request) -> str:
    """The client's X-Request-ID if it is a sane token, else a fresh one (an id, not a secret:
    no syscall for randomness)."""
    offered = request.headers.get(REQUEST_ID_HEADER)
    request[REQUEST_ID] = identifier = (
        offered if offered and _CLIENT_ID.fullmatch(offered) else f"{getrandbits(128):032x}")
    return identifier


def finished(metrics: Metrics, request: web.Request, status: int, elapsed: float) -> None:
    """Count the request and write its access log line (when INFO is on)."""
    route = _route_label(request)
    metrics.record(request.method, route, status, elapsed)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("%s %s %d", request.method, request.path, status,
                        extra={"request_id": request[REQUEST_ID], "status": status,
                               "duration_ms": round(elapsed * 1000, 2), "route": route})


def metrics_handler(metrics: Metrics) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
    return handler
