"""Liveness (/health: the process answers) and readiness (/ready: the database answers and
the schema is current) for orchestrators; readiness failing keeps traffic away, not restarts."""
from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from node.http.app_keys import POOL
from node.http.responses import json_response
from node.migrate import pending_migrations


async def health(request: web.Request) -> web.Response:
    """The process answers (the node's and the catalogue service's /health alike)."""
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(2):
            async with request.app[POOL].acquire() as conn:
                pending = await pending_migrations(conn)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        return json_response({"status": "unavailable", "reason": f"database: {exc}"}, 503)
    if pending:
        return json_response({"status": "unavailable", "reason": "pending migrations: "
                              + ", ".join(f"{m.version:04d}" for m in pending)}, 503)
    return json_response({"status": "ready"})
