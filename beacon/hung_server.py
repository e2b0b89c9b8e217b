"""A database server that does not answer: hung, stopped, or behind a network that drops its
packets. It ends no statement (its `statement_timeout` never fires) and refuses no
connection, and the node waited for it for good: every count, every readiness probe.

So the client bounds its waits too, GRACE_SECONDS later than the server would have ended
them, so that the server's own answer (a result, or its timeout's error) comes first whenever
there is one. What runs out on the client is a TimeoutError, which the node answers as the
database being unavailable (node/http/outage.py: a 503 with Retry-After).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import asyncpg

T = TypeVar("T")
GRACE_SECONDS = 1.0


async def bounded(connection: asyncpg.Connection, seconds: float, work: Awaitable[T]) -> T:
    """`work` on `connection`, or TimeoutError after `seconds`. The connection is then
    closed: giving it back would wait for the server to acknowledge asyncpg's cancel
    request, as long as the pool's `command_timeout`."""
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        connection.terminate()
        raise
