"""A database server that does not answer: hung, stopped, or behind a network that drops its
packets. It ends no statement (its `statement_timeout` never fires) and refuses no
connection, and the node waited for it for good: every count, every readiness probe.

So the node bounds its statements too, GRACE_SECONDS later than the server would have ended
them, so that the server's own answer (a result, or its timeout's error) comes first whenever
there is one. One watchdog per application closes a connection whose statement outlives its
bound; what waited on it fails as on any lost connection, which the node answers as the
database being unavailable (node/http/outage.py: a 503 with Retry-After). Closing it also
spares giving it back, which waits for the server to acknowledge asyncpg's cancel request.

A statement cancelled on the node's side (its client gone: the GDI portal's network leaves
a node after 5 s, before the watchdog's bound; a shutdown) stays watched for GRACE_SECONDS
more (`done`, called from a task being cancelled): asyncpg gives its connection back only
once the server acknowledges a cancel request, which a server that does not answer never
does, and each such client kept a pool connection for good, until none was left. Entries
are per pool proxy, made anew at each acquire, so one that has been given back meanwhile
refuses the close, harmlessly.

A watchdog, not a timer per statement: asyncio.timeout around a request's statements cost 4%
of an individuals count's instructions, asyncpg's `command_timeout` 6%
(bench/individuals.py --instructions); registering a deadline costs a dict entry.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import TypeVar

import asyncpg

T = TypeVar("T")
GRACE_SECONDS = 1.0
EVERY_SECONDS = 0.5         # how often the watchdog looks: a bound is kept within this


class Watchdog:
    """The statements under way and their deadlines; one per application. `statement_seconds`
    is a statement's bound unless said otherwise: the server's narrow limit and the grace."""

    def __init__(self, statement_seconds: float) -> None:
        self.statement_seconds = statement_seconds
        self._deadlines: dict[asyncpg.Connection, float] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def watch(self, connection: asyncpg.Connection, seconds: float | None = None) -> None:
        """`connection` starts what the server should end within `seconds` (one statement's
        bound, by default); `done` when it has."""
        self._deadlines[connection] = time.monotonic() + (seconds or self.statement_seconds)

    def done(self, connection: asyncpg.Connection) -> None:
        """What `connection` started has ended; if it was cancelled (this task is being
        cancelled), the connection is closed unless it is given back within the grace."""
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            self._deadlines[connection] = time.monotonic() + GRACE_SECONDS
        else:
            self._deadlines.pop(connection, None)

    async def run(self, connection: asyncpg.Connection, work: Awaitable[T],
                  seconds: float | None = None) -> T:
        """`work` on `connection`, watched (the hottest paths say `watch` and `done`
        themselves, without this coroutine's frame)."""
        self.watch(connection, seconds)
        try:
            return await work
        finally:
            self.done(connection)

    async def _watch(self) -> None:
        deadlines = self._deadlines
        while True:
            await asyncio.sleep(EVERY_SECONDS)
            now = time.monotonic()
            for connection, deadline in list(deadlines.items()):
                if now > deadline:
                    del deadlines[connection]
                    with contextlib.suppress(asyncpg.InterfaceError):   # given back since
                        connection.terminate()
