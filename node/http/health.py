"""Liveness (/health: the process answers) and readiness (/ready: the database answers and
the schema is current) for orchestrators; readiness failing keeps traffic away, not restarts."""
from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from node.http.app_keys import POOL
from node.http.responses import json_response
from node.migrate import pending_migrations

READY_SECONDS = 2.0      # /ready answers 503 rather than wait longer for the database


async def health(request: web.Request) -> web.Response:
    """The process answers (the node's and the catalogue service's /health alike)."""
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    try:
        # the acquire's own timeout bounds its release too, which waits for asyncpg's cancel
        # request: to a server that does not answer, the probe waited for good
        async with asyncio.timeout(READY_SECONDS), \
                request.app[POOL].acquire(timeout=READY_SECONDS) as conn:
            pending = await pending_migrations(conn)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        return json_response({"status": "unavailable", "reason": f"database: {exc}"}, 503)
    if pending:
        return json_response({"status": "unavailable", "reason": "pending migrations: "
                              + ", ".join(f"{m.version:04d}" for m in pending)}, 503)
    return json_response({"status": "ready"})
