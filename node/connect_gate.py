"""A pool's new connections while the database server does not answer.

A server that is hung, stopped, or behind a network that drops its packets accepts TCP but
never answers a connection's start-up, so each new connection waits out its whole timeout
(the positional limit and a second, beacon/workload.py `client_limits`). Under load the
watchdog (beacon/hung_server.py) frees the pool's connections one bound after another, and
each request queued behind them then waited for a start-up of its own: a pool's worth of
requests per timeout, so of 40 requests on a pool of 4 the last got its 503 after ten
bounds instead of two (tests/test_hardening.py).

So once a start-up has gone unanswered, the pool's next ones are refused at once, a
`DatabaseNotAnswering` that the node answers as any unavailable database (a 503 with
Retry-After, node/http/outage.py), except one trial start-up at a time, at most one a
second (the outage probe's, or a request's). The first answer of any kind (a connection, or
an error the server or the network sends) lets every start-up through again. Only new
connections pass here, never a statement: nothing is added to a request on a healthy pool.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

TRIAL_EVERY_SECONDS = 1.0
ASYNCPG_CONNECT_SECONDS = 60.0       # asyncpg's own default when no `timeout` is given


class DatabaseNotAnswering(ConnectionError):
    """A start-up refused without trying: the last one went unanswered moments ago."""


class ConnectGate:
    """One per pool: its `connect` is the pool's (asyncpg `create_pool(connect=...)`), and
    also runs `init` within the start-up's timeout (asyncpg would run the pool's `init`
    unbounded: a server that stops answering right after a start-up held it for good)."""

    def __init__(self, init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None
                 ) -> None:
        self._init = init
        self._unanswered_at: float | None = None      # None: start-ups go through
        self._trial = False

    async def connect(self, *args: Any, **kwargs: Any) -> asyncpg.Connection:
        if self._unanswered_at is None:
            return await self._start(args, kwargs)
        waited = time.monotonic() - self._unanswered_at
        if self._trial or waited < TRIAL_EVERY_SECONDS:
            raise DatabaseNotAnswering(
                f"the database did not answer a new connection {waited:.1f} s ago; "
                f"trying again at most once every {TRIAL_EVERY_SECONDS:g} s")
        self._trial = True
        try:
            return await self._start(args, kwargs)
        finally:
            self._trial = False

    async def _start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncpg.Connection:
        began = time.monotonic()
        try:
            connection = await asyncpg.connect(*args, **kwargs)
        except TimeoutError:
            self._unanswered_at = time.monotonic()
            raise
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._unanswered_at = None          # an answer, if not a welcome one
            raise
        self._unanswered_at = None
        if self._init is not None:
            left = kwargs.get("timeout", ASYNCPG_CONNECT_SECONDS) - (time.monotonic() - began)
            try:
                async with asyncio.timeout(max(left, 0.0)):
                    await self._init(connection)
            except TimeoutError:
                connection.terminate()
                self._unanswered_at = time.monotonic()
                raise
            except BaseException:
                connection.terminate()
                raise
        return connection
