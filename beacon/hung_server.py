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

A server that answers, but slowly (a long transaction holding what the queries read), ends
each statement in time, yet a pool's few connections then serve the requests one after
another: each waited for a connection as long as the queue took, 50 s for the last of 100
requests on a pool of 10 at the default 5 s limit. So a wait for a connection is bounded
too (`connection`): past its bound the waiting task is cancelled, the cancel taken back and
`NoConnection` raised in its place (beacon/workload.py answers it as the query's time limit,
node/http/beacon_api.py any other as a 503 with Retry-After).

A watchdog, not a timer per statement: asyncio.timeout around a request's statements cost 4%
of an individuals count's instructions, asyncpg's `command_timeout` 6%
(bench/individuals.py --instructions); registering a deadline costs a dict entry.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")
GRACE_SECONDS = 1.0
EVERY_SECONDS = 0.5         # how often the watchdog looks: a bound is kept within this


class NoConnection(Exception):
    """Every connection of the pool stayed busy for as long as a wait for one may last."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"every database connection of this node stayed busy for "
                         f"{seconds:g} s; retry later")


class Watchdog:
    """The statements under way and their deadlines, and the waits for a pool's connection;
    one per application. `statement_seconds` is a statement's bound unless said otherwise:
    the server's narrow limit and the grace."""

    def __init__(self, statement_seconds: float) -> None:
        self.statement_seconds = statement_seconds
        self._deadlines: dict[asyncpg.Connection, float] = {}
        self._waits: dict[asyncio.Task[Any], float] = {}     # a task waiting for a connection
        self._overdue: set[asyncio.Task[Any]] = set()        # those it cancelled
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

    async def connection(self, pool: Any, seconds: float = 0.0) -> asyncpg.Connection:
        """A connection of `pool` (asyncpg's, or node/replicas.py's ReadPools), waited for
        at most `seconds`, else NoConnection; never less than a new connection's start-up
        may take (`statement_seconds`, the pools' connect timeout: beacon/workload.py
        `client_limits`) and a look more, so that a start-up the server leaves unanswered
        times out first and is told as the outage it is (node/http/outage.py), and a wait
        ended here is one for a connection the pool had none of. Past its bound the
        watchdog cancels the waiting task, as asyncio.timeout would: the cancel reaches the
        pool's own wait, which gives back whatever it held, and is taken back here. A task
        cancelled for another reason meanwhile (its client gone) stays cancelled."""
        task = asyncio.current_task()
        assert task is not None
        seconds = max(seconds, self.statement_seconds + EVERY_SECONDS)
        self._waits[task] = time.monotonic() + seconds
        try:
            return await pool.acquire()
        except asyncio.CancelledError:
            if task in self._overdue and task.uncancel() == 0:
                raise NoConnection(seconds) from None
            raise
        finally:
            self._waits.pop(task, None)
            self._overdue.discard(task)

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
            for task, deadline in list(self._waits.items()):
                if now > deadline:
                    del self._waits[task]
                    self._overdue.add(task)
                    task.cancel()
