"""The one middleware every node request passes through.

In order: a request id and the clock start (node/http/metrics.py); the caller, from the
bearer token (node/http/caller.py); the handler; any failure as a Beacon error body
(node/http/beacon_api.py), a bad token as 401; then metrics, the access log line and the
X-Request-ID response header. One middleware rather than one per concern, so that this
order is written in one place, and because each aiohttp middleware layer costs a partial call
and a coroutine per request (about 1% of a sequence-count request's instructions under
valgrind; docs/benchmarks.md).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from auth.tokens import InvalidToken
from node.http.app_keys import CALLER
from node.http.beacon_api import error_response
from node.http.caller import caller_of, refusal
from node.http.metrics import Handler, Metrics, finished, request_id


def node_middleware(metrics: Metrics) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        identifier = request_id(request)
        began = time.perf_counter()
        try:
            request[CALLER] = await caller_of(request)
            response = await handler(request)
        except InvalidToken as exc:
            response = refusal(request, exc)
        except (web.HTTPRedirection, web.HTTPSuccessful) as exc:   # aiohttp sends these
            finished(metrics, request, exc.status, time.perf_counter() - began)
            exc.headers["X-Request-ID"] = identifier
            raise
        except asyncio.CancelledError:     # the client went away: nginx's 499
            finished(metrics, request, 499, time.perf_counter() - began)
            raise
        except Exception as exc:           # noqa: BLE001 - every failure leaves as a Beacon body
            response = error_response(request, exc)
        finished(metrics, request, response.status, time.perf_counter() - began)
        response.headers["X-Request-ID"] = identifier
        return response
    return middleware
