"""Liveness (/health: the process answers) and readiness (/ready: the database answers and
the schema is current) for orchestrators; readiness failing keeps traffic away, not restarts."""
from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from node.http.app_keys import OUTAGE, POOL
from node.http.metrics import unavailable
from node.http.outage import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from node.http.responses import json_response
from node.http.server import stopping
from node.migrate import pending_migrations

READY_SECONDS = 2.0      # /ready answers 503 rather than wait longer for the database


async def health(request: web.Request) -> web.Response:
    """The process answers (the node's and the catalogue service's /health alike)."""
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    if stopping():      # it answered 200 for the 10 s a stop lets the requests under way take
        return not_ready("stopping: finishing the requests under way")
    try:
        # the acquire's own timeout bounds its release too, which waits for asyncpg's cancel
        # request: to a server that does not answer, the probe waited for good
        async with asyncio.timeout(READY_SECONDS), \
                request.app[POOL].acquire(timeout=READY_SECONDS) as conn:
            pending = await pending_migrations(conn)
    except TimeoutError:
        return not_ready(f"database: no answer within {READY_SECONDS:g} s")
    except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError) as exc:
        if isinstance(exc, DATABASE_UNAVAILABLE):
            # the outage's probe, as a query's failure starts it: behind a load balancer
            # that sends no query to a node not ready, none came, and an embedded database
            # that had stopped was never started again (node/http/outage.py)
            request.app[OUTAGE].noticed(request.app[POOL], exc)
        # the error's kind, not its text: an OSError's names the socket's path
        return not_ready(f"database: {type(exc).__name__}")
    if pending:
        return not_ready("pending migrations: "
                            + ", ".join(f"{m.version:04d}" for m in pending))
    return json_response({"status": "ready"})


def not_ready(reason: str) -> web.Response:
    """Not ready, and when to ask again, as every 503 of the node says (node/http/outage.py):
    a hung server's timeout had an empty reason, a stopped one's named a socket's path. Also
    a worker's standing in while its database is away (node/http/stand_in.py)."""
    return unavailable(json_response({"status": "unavailable", "reason": reason}, 503,
                                     headers={"Retry-After": str(RETRY_AFTER_SECONDS)}),
                       "not_ready")
