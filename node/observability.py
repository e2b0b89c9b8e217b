"""Request ids, one structured log line per request, and Prometheus metrics.

Each app owns its metrics registry (not prometheus_client's global one) so that several apps
in one process, as in the tests, count separately."""
from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest

access_log = logging.getLogger("gdi_node.access")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = web.RequestKey("request_id", str)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    _children: dict = field(default_factory=dict)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Label lookups cost microseconds per call; the children are kept after first use."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)), self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(registry,
                   Counter("gdi_node_http_requests", "HTTP requests by route and status",
                           ["method", "route", "status"], registry=registry),
                   Histogram("gdi_node_http_request_seconds", "HTTP request latency by route",
                             ["route"], registry=registry,
                             buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5)))


def _route_label(request: web.Request) -> str:
    """The route template, never the raw path: ids in paths would explode label cardinality."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def observe(metrics: Metrics) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if offered and _CLIENT_ID.fullmatch(offered) else os.urandom(16).hex()
        request[REQUEST_ID] = request_id
        began = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-ID"] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers["X-Request-ID"] = request_id
            raise
        finally:
            elapsed = time.perf_counter() - began
            route = _route_label(request)
            metrics.record(request.method, route, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %d", request.method, request.path, status,
                                extra={"request_id": request_id, "status": status,
                                       "duration_ms": round(elapsed * 1000, 2), "route": route})
    return middleware


def metrics_handler(metrics: Metrics) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
    return handler
