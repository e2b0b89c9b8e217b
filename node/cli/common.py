"""What every `gdi-node` command group shares: the settings the main group read, running a
command's coroutine, failing with a message and an exit code, and a database connection for
short commands."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import click

from node.settings import Settings

T = TypeVar("T")


def settings_of(ctx: click.Context) -> Settings:
    """The node's settings, read once by the main group."""
    return ctx.obj["settings"]


def run(coro: Awaitable[T]) -> T:
    """Run a command's coroutine; an unreachable database is a message, not a traceback."""
    import asyncpg
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        fail(f"database: {type(exc).__name__}: {exc}")


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


async def database_url(settings: Settings) -> str:
    from node.database import resolve_database
    return (await resolve_database(settings)).url


async def migrated_database_url(settings: Settings) -> str:
    """The node's database, its schema brought up to date (what ingest expects)."""
    url = await database_url(settings)
    async with connection(settings, url=url):
        return url


@asynccontextmanager
async def connection(settings: Settings, *, migrate: bool = True,
                     url: str | None = None) -> AsyncIterator[Any]:
    """One connection to the node's database for a short command, with the schema brought up
    to date first."""
    from node.database import connect
    from node.migrate import apply_migrations
    conn = await connect(url or await database_url(settings))
    try:
        if migrate:
            await apply_migrations(conn)
        yield conn
    finally:
        await conn.close()
