"""A worker of `gdi-node serve --workers N` that starts while its database is unreachable: it
answers on its sockets as the node's running workers do during an outage (node/http/outage.py),
503 with Retry-After and a Beacon error body, `/health` 200 and `/ready` 503, and starts the
node once the database answers.

Such a worker is one the supervisor (node/cli/supervisor.py) started in place of one that died
during an outage. It used to exit at once; so did each of its replacements, six in a fraction of
a second, which the supervisor took for a crash loop: it stopped the healthy workers and exited
1, and the node stayed down until restarted by hand, although an outage is meant to pass
without a restart (docs/deploy.md). Waiting without answering would not do either: the kernel
keeps handing this worker's sockets their share of the port's connections (node/http/server.py),
whose clients would hang instead of being told to retry.

A node whose database is unreachable at its first start still fails at once: the supervisor
connects before it forks any worker (node/cli/beacon_node.py), while an operator is watching.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from functools import partial
from pathlib import Path

import asyncpg
from aiohttp import web

from node.http.app_keys import SETTINGS
from node.http.beacon_api import unavailable_response
from node.http.health import health, not_ready
from node.http.metrics import Handler, Metrics, finished, metrics_handler, request_id
from node.http.middleware import PREFLIGHT, outage_headers, unparsed_response
from node.http.outage import PROBE_SECONDS, RETRY_AFTER_SECONDS
from node.http.server import (
    MAX_HEADER_FIELD_BYTES,
    Listener,
    answer_unparsed,
    hide_request_lines,
    new_loop,
)
from node.settings import Settings

log = logging.getLogger(__name__)
_CLOSE_SECONDS = 1.0    # its answers are immediate: nothing to drain


def stand_in(settings: Settings, listener: Listener, supervisor_fd: int,
             error: Exception, shared_metrics: Path | None = None) -> bool:
    """Answer on `listener` as a node without its database until the database at
    `settings.database_url` answers (True), or until SIGTERM or the supervisor's end (the
    pipe `supervisor_fd` closes, as node/http/server.py's `run_worker` reads it) comes first
    (False). `error` is why the node did not start. `shared_metrics`: the worker's file of
    its counts, as the node's (node/http/metrics.py Metrics), counted on here and by the node
    that follows. On the node's kind of event loop (Settings.event_loop)."""
    loop = new_loop(settings.event_loop)
    try:
        return loop.run_until_complete(_stand_in(settings, listener, supervisor_fd, error,
                                                 Metrics(shared_metrics)))
    finally:
        loop.close()


async def _stand_in(settings: Settings, listener: Listener, supervisor_fd: int,
                    error: Exception, metrics: Metrics) -> bool:
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[None] = loop.create_future()

    def stop(why: str) -> None:
        if not stopped.done():
            log.info("%s; stopping", why)
            stopped.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, stop, "SIGTERM received")
    loop.add_reader(supervisor_fd, stop, f"supervisor (pid {os.getppid()}) is gone")
    runner = web.AppRunner(_app(settings, error, metrics), access_log=None,
                           handle_signals=False, shutdown_timeout=_CLOSE_SECONDS)
    answered = asyncio.ensure_future(_database_answers(settings.database_url or ""))
    sharing = asyncio.ensure_future(metrics.keep_sharing())
    try:
        await runner.setup()
        # Copies of the sockets: closing the stand-in's server closes them, and leaves the
        # node's own listening, connections not yet accepted waiting in their backlog.
        for sock in listener.sockets:
            await web.SockSite(runner, sock.dup()).start()
        log.error("database unavailable at start (%s); answering 503 until it is back", error)
        began = time.monotonic()
        await asyncio.wait({stopped, answered}, return_when=asyncio.FIRST_COMPLETED)
        if stopped.done():
            return False
        log.warning("database available again after %.0f s; starting", time.monotonic() - began)
        return True
    finally:
        answered.cancel()
        sharing.cancel()
        for task in (answered, sharing):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        loop.remove_reader(supervisor_fd)
        loop.remove_signal_handler(signal.SIGTERM)
        await runner.cleanup()
        metrics.save()          # for the node that follows, which counts on from them


async def _database_answers(url: str) -> None:
    """Return once a connection to `url` opens, trying once a PROBE_SECONDS (first after one:
    the node's start has just failed)."""
    while True:
        await asyncio.sleep(PROBE_SECONDS)
        try:
            conn = await asyncpg.connect(url, timeout=RETRY_AFTER_SECONDS)
        except Exception:          # not answering, whatever the reason
            log.debug("the database does not answer yet", exc_info=True)
        else:
            conn.terminate()       # an answer was all it was for
            return


def _app(settings: Settings, error: Exception, metrics: Metrics) -> web.Application:
    """Every request answered at once, with the access log line, the X-Request-ID and the
    headers every answer of the node's own has, CORS's for an allowed origin included
    (node/http/middleware.py outage_headers). /ready as the
    node's says a database away: when to ask again, and the error's kind (the refused
    connection's, not the start's message, which names the database's host and port).
    /metrics as the node's, every worker's counts: it answered 503, so a scrape that
    reached it failed during the outage (`up` 0 from scrape to scrape), and the 503s it
    counted were never shown (found by a review, 2026-12-05)."""
    reason = f"database: {type(error.__cause__ or error).__name__}"
    hide_request_lines()
    headers_of = outage_headers(settings.cors_origins, tuple(settings.api_alias_roots))

    @web.middleware
    async def logged(request: web.Request, handler: Handler) -> web.StreamResponse:
        began = time.perf_counter()
        identifier = request_id(request)
        preflight, headers = headers_of(request)
        response = (web.Response(status=204, headers=PREFLIGHT) if preflight
                    else await handler(request))
        finished(metrics, request, response.status, time.perf_counter() - began, response)
        response.headers["X-Request-ID"] = identifier
        response.headers.extend(headers)
        return response

    async def ready(_: web.Request) -> web.Response:
        return not_ready(reason)

    async def unavailable(request: web.Request) -> web.Response:
        return unavailable_response(request)

    app = web.Application(middlewares=[logged],
                          handler_args={"max_field_size": MAX_HEADER_FIELD_BYTES})
    app[SETTINGS] = settings
    answer_unparsed(app, partial(unparsed_response, settings.beacon_id, metrics))
    app.add_routes([web.get("/health", health), web.get("/ready", ready),
                    web.get("/metrics", metrics_handler(metrics)),
                    web.route("*", "/{path:.*}", unavailable)])
    return app
