"""What every command shares: the settings the main group read, running a coroutine with a
database (or a service) that cannot be reached turned into one line, errors as messages with
exit codes, how much to log, a server's start (its address taken first), one database
connection for short commands, and URL and port options checked as the settings check them."""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

import click

from auth.documents import parsed_json
from node.settings import ServiceSettings, Settings, node_database_setting
from node.urls import http_base_url

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from node.database import DatabaseUnavailable
    from node.http.server import Listener

T = TypeVar("T")


# How long a command waits for a service it calls (a catalogue, an AAI) to answer: one that
# takes the connection and never answers held the operator's shell for good.
SERVICE_SECONDS = 15
HELP_ASKED = "gdi_node.help_asked"    # ctx.meta: a command's --help is among the arguments


def settings_of(ctx: click.Context) -> Settings:
    """The node's settings, read once by the main group; where they could not be read and
    the main group let the command run for its help, that refusal (node/cli/__init__.py)."""
    settings = ctx.obj["settings"]
    if settings is None:
        fail(ctx.obj["refusal"], 2)
    return settings


def configure_logs(ctx: click.Context, settings: ServiceSettings, server: bool) -> None:
    """Log as node/logs.py says for this command: `-v` counted by the main group, the level
    the operator configured only if they did (a default is not a choice)."""
    from node.logs import configure_logging, log_level
    configured = settings.log_level if "log_level" in settings.model_fields_set else None
    try:
        level = log_level(configured, ctx.obj["verbosity"], server)
    except ValueError as exc:
        fail(f"invalid configuration: {exc}", 2)
    configure_logging(settings.log_format, level)


def run(coro: Awaitable[T], database: str | None = None) -> T:
    """Run a command's coroutine; a database that cannot be reached, or that holds another
    service's schema, is one line naming the setting (`database`; the node's, as given,
    when None) that says where it is, not a traceback; a file that cannot be
    read or written, one line naming the file."""
    import asyncpg

    from node.database import DatabaseUnavailable
    from node.migrate import ForeignSchema, MigrationFailed
    database = database or node_database_setting()
    try:
        return asyncio.run(_ended_by_sigterm(coro))
    except DatabaseUnavailable as exc:
        fail(unavailable(exc, database))
    except (ForeignSchema, MigrationFailed) as exc:
        fail(f"{exc}; check {database}")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        if isinstance(exc, OSError) and exc.filename is not None:    # a file's, not the
            fail(f"{exc.filename}: {exc.strerror or exc}")          # database's
        fail(f"database: {type(exc).__name__}: {exc}")


async def _ended_by_sigterm(coro: Awaitable[T]) -> T:
    """`coro`, which SIGTERM (what a supervisor, `docker compose down` or `kill` sends) and
    SIGHUP (a closed terminal or ssh session) end as Ctrl-C does: cancelled, so that its
    cleanup runs (an ingest drops its staging table and stops its workers), then
    KeyboardInterrupt, which click words "Aborted!", exit 1. Python's default ended the
    process on the spot, leaving what the cleanup would have removed (an ingest's staging
    table and temporary files, until the next ingest or `db clean`: an ssh session dropped
    during an hours-long load did so; found by a review, 2026-12-05). Only in the main
    thread, the one signals are handled in, and each signal only where it has Python's
    default (a process started with it ignored, as `nohup` does SIGHUP, keeps ignoring
    it)."""
    if threading.current_thread() is not threading.main_thread():
        return await coro
    stops = [sig for sig in (signal.SIGTERM, signal.SIGHUP)
             if signal.getsignal(sig) is signal.SIG_DFL]
    if not stops:
        return await coro
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    terminated = False

    def stop() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    for sig in stops:
        loop.add_signal_handler(sig, stop)
    try:
        return await coro
    except asyncio.CancelledError:
        if terminated:
            raise KeyboardInterrupt from None
        raise
    finally:
        for sig in stops:
            loop.remove_signal_handler(sig)


def run_against(url: str, coro: Awaitable[T]) -> T:
    """Run a command's coroutine that calls the service at `url` (a catalogue, an AAI): one
    that cannot be reached or does not answer within SERVICE_SECONDS (the timeout the
    coroutine's requests carry) is one line naming it, not a traceback (nor a database's
    words, as `run` would say)."""
    import aiohttp
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except aiohttp.ClientConnectorError as exc:
        reason = (os.strerror(exc.os_error.errno) if exc.os_error.errno
                  else exc.os_error.strerror or str(exc.os_error))
        fail(f"{url} is unreachable ({reason.lower()})")
    except TimeoutError:          # before ClientError: aiohttp's own timeouts are both
        fail(f"{url} did not answer within {SERVICE_SECONDS} s")
    except aiohttp.ClientError as exc:
        fail(f"{url}: {exc or type(exc).__name__}")


async def json_answer(response: aiohttp.ClientResponse, *keys: str) -> dict[str, Any]:
    """The JSON object a service answered, holding `keys` when it answered 200; anything
    else (a page that is not JSON, another service at the URL) is one line saying so."""
    try:
        answer = parsed_json(await response.read())
    except ValueError:                         # not JSON, or nested beyond the parser
        answer = None
    if not isinstance(answer, dict) or (response.status == 200
                                        and not all(key in answer for key in keys)):
        fail(f"{response.url} answered HTTP {response.status} without the JSON expected: is "
             "it the service meant?")
    return answer


class HttpUrl(click.ParamType):
    """An option naming a service: an absolute http(s) URL, as the settings' URLs are."""

    name = "URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> str:
        try:
            return http_base_url(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


HTTP_URL = HttpUrl()
PORT = click.IntRange(1, 65535)


def unavailable(error: DatabaseUnavailable, database: str) -> str:
    """The one line for a database out of reach, naming the setting to check when a
    configured URL points there; the driver's traceback is a DEBUG line (-vv)."""
    logging.getLogger(__name__).debug("database unavailable", exc_info=error)
    return f"{error}; check {database}" if error.configured else str(error)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def listen(host: str, port: int, command: str, port_setting: str) -> Listener:
    """The server's address, taken before anything starts; taken already is one line saying
    what to do: stop the other server, or move this one (`port_setting`)."""
    return listen_each(host, port, 1, command, port_setting)[0]


def listen_each(host: str, port: int, workers: int, command: str,
                port_setting: str) -> list[Listener]:
    """`listen`, for each of `workers` processes serving the one port."""
    from node.http.server import CannotListen, listen_for_workers
    try:
        return listen_for_workers(host, port, workers)
    except CannotListen as exc:
        if exc.error.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use (another gdi-node {command}? "
                 f"stop it or {port_setting})")
        fail(str(exc))


def serve(app: web.Application, role: str, listener: Listener, public_base_url: str,
          event_loop: str, database: str | None = None) -> None:
    """Serve `app` until a signal, on an event loop of `event_loop`'s kind
    (ServiceSettings.event_loop); a database that cannot be reached at start, or that holds
    another service's schema, is one line naming `database` (the node's, as given, when
    None; nothing was served: "serving on" is logged only once requests are answered)."""
    from node.database import DatabaseUnavailable
    from node.http import server
    from node.migrate import ForeignSchema, MigrationFailed
    database = database or node_database_setting()
    try:
        server.run(app, role, listener, public_base_url, event_loop=event_loop)
    except DatabaseUnavailable as exc:
        fail(unavailable(exc, database))
    except (ForeignSchema, MigrationFailed) as exc:
        fail(f"{exc}; check {database}")


async def database_url(settings: Settings) -> str:
    from node.database import resolve_database
    return (await resolve_database(settings)).url


async def migrated_database_url(settings: Settings) -> str:
    """The node's database, its schema brought up to date (what ingest expects)."""
    url = await database_url(settings)
    async with connection(settings, schema="migrate", url=url):
        return url


@asynccontextmanager
async def connection(settings: Settings, *,
                     schema: Literal["migrate", "current", "any"] = "current",
                     url: str | None = None) -> AsyncIterator[Any]:
    """One connection to the node's database for a short command. `schema`: "migrate"
    brings the schema up to date first (`serve`, `ingest`); "current" (the commands that
    read or tidy: `datasets`, `remove`, `db clean`, `audit`, `catalogue publish`) migrates
    a database with no schema yet, where no node runs, and refuses one whose schema is
    behind this gdi-node's, naming what is pending: applied behind the back of nodes still
    running the older code, a migration changes what they read and write, and a newer CLI
    used to look at the datasets did that (found by a review, 2026-12-05); "any" takes it
    as it is (`db migrate`, `db status`)."""
    from node.database import connect
    from node.migrate import applied_versions, apply_migrations, available_migrations
    conn = await connect(url or await database_url(settings))
    try:
        if schema == "migrate":
            await apply_migrations(conn)
        elif schema == "current":
            done = await applied_versions(conn)       # one read of them: no schema, or which
            if not done:
                await apply_migrations(conn)
            elif pending := [m for m in available_migrations() if m.version not in done]:
                fail("the database's schema is behind this gdi-node's (pending: "
                     + ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
                     + "): run `gdi-node db migrate` once the nodes using it run this "
                       "version (`serve` and `ingest` migrate it too)")
        yield conn
    finally:
        await conn.close()
