"""Read-only queries across PostgreSQL streaming replicas (`database_replica_urls`).

A node outgrowing one database server adds streaming replicas (PostgreSQL's own physical
replication, `pg_basebackup -R`); this module sends the variant and individuals statements
(beacon/workload.py's `Queries` and the count lanes) to them, round robin, while everything
that writes (ingest, budgets, audit, migrations) and the datasets list itself stay on the
primary. `ReadPools` stands where those take a pool: `acquire` (awaited or `async with`),
`release` and `fetch`, as asyncpg's pool has them.

Versions. A replica applies the primary's WAL some milliseconds to seconds late, so right
after an ingest's swap it may still hold the dataset's previous version while the node's
datasets cache (beacon/dataset_cache.py, told by NOTIFY) already describes the new one. So
the router keeps `required`, the primary's WAL position (LSN) read just after the cache last
learnt of a change, and a replica is in rotation only while its replay position
(`pg_last_wal_replay_lsn()`, read every `replica_poll_seconds`) is at or past it. From the
moment a change is notified until the primary's position is known, and whenever no replica
has caught up, reads go to the primary; a count lane holding a replica's connection across
its queue gives it back before its next statement once that replica is out of rotation
(`usable`). An answer is therefore never older than the datasets the node describes. (Two statements of one answer, a count and its records page, run
as separate snapshots, on the primary alone as here; an ingest committing between them is the
same window either way.)

Identity. Being in recovery does not make a server the primary's replica: a standby of
another cluster is in recovery too (its replay position may even pass the primary's), and a
URL naming another database of the right replica (`/postgres` for `/gdi`) reaches the right
server. Either would answer from other data, or fail every statement for want of the
node's tables. So a replica is in rotation only while it shares the primary's
`system_identifier` (pg_control_system(); pg_basebackup copies it, any other cluster has its
own), holds the node's schema at the primary's migration level or later (schema_migrations,
node/migrate.py) and is the primary's database (its oid, which a physical replica shares),
and while the URL's role may read the node's tables that reads use (a role of its own,
granted table by table or before a migration added one, failed every read there with
"permission denied", a 500).
The reads must reach the server the polls check: a URL naming several (a load balancer or
a read-only service in front of the cluster's standbys) had its poll check one and the reads
go to another, lagging. Each connection of a replica's pool is checked at its start to have
reached the poll's server (when it started, where it listens), and never used otherwise.
The replica's timeline (its last restartpoint's) must be the primary's as of the last
dataset change: after a failover, a standby of the old primary that had replayed what the
new one never received (a dataset's newer version) is past the new primary's position, its
identity the same, and answered from the lost version while the node listed the new
primary's. A standby that follows the new primary is out until its first restartpoint on
the new timeline.
The primary's side is read once (by the first poll that can), its position and timeline at
each dataset change, the replica's at every poll.
None of it needs a privilege beyond the node's: PostgreSQL grants pg_control_system() and
pg_control_checkpoint() to PUBLIC, pg_database is readable by all and schema_migrations is
the node's. Until the
primary's side is known (an administrator revoked that grant, the primary was down at
start), every replica is out of rotation, saying why.

Failures. A replica that cannot be reached, answers that it is not a replica, or whose
connection a statement left closed (a replica stopped mid-load), is out of rotation at once
and back when a poll succeeds again. The poll has a connection of its own, so a replica
busy with the node's statements is never taken for a failed one. A statement that was
running on it when it went away, like one the replica's replay cancelled (a recovery
conflict), runs again on the primary (beacon/replica_conflict.py, told by `on_replica`); it
was a 503, a read the primary could answer refused. The outage probe watches the primary
only.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg

from node.database import close_pool, redacted
from node.http.outage import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)
# Which server a connection reached (`Replica.server`): two standbys of one cluster share
# everything _STATE checks but when their server started and, over TCP, where it listens
_SERVER_OF = ("ARRAY[pg_postmaster_start_time()::text, host(inet_server_addr()), "
              "inet_server_port()::text]")
_SERVER = f"SELECT {_SERVER_OF}"
_STATE = f"""SELECT pg_is_in_recovery() AS in_recovery,
                   (pg_last_wal_replay_lsn() - '0/0')::bigint AS replayed,
                   (SELECT system_identifier FROM pg_control_system()) AS system,
                   (SELECT oid FROM pg_database WHERE datname = current_database()) AS database,
                   current_database() AS name, current_user AS role,
                   (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
                   to_regclass('schema_migrations') IS NOT NULL AS migrated,
                   {_SERVER_OF} AS server"""
# The primary's WAL position and timeline (the first 8 hex digits of its WAL file's name)
_POSITION = """SELECT (pg_current_wal_lsn() - '0/0')::bigint AS position,
                      ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
                      AS timeline"""
_MIGRATION = "SELECT coalesce(max(version), 0) FROM schema_migrations"
# The node's tables (those of the schema holding schema_migrations) that the URL's role may
# not read, but for the partitions (read through their table), an ingest's staging tables
# (variants_*, partitions once attached) and the tables the replicas are never asked
# (PRIMARY_ONLY): a table a later migration adds is asked for too.
_UNREADABLE = r"""SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
                  FROM pg_class c
                  WHERE c.relnamespace = (SELECT relnamespace FROM pg_class
                                          WHERE oid = 'schema_migrations'::regclass)
                    AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                    AND c.relname NOT LIKE 'variants\_%' AND c.relname <> ALL($1::text[])
                    AND NOT has_table_privilege(c.oid, 'SELECT')"""
PRIMARY_ONLY = ("schema_migrations", "audit_trail", "budget_spent", "network_caller_secret",
                "disclosure_losses", "disclosure_accounts", "dataset_removals",
                "fdp_documents", "fdp_publication")
RETIRE_SECONDS = 10.0      # a replaced pool waits this long for its connections to come back


@dataclass(frozen=True)
class Identity:
    """Whose data a server's database is: its cluster, the database and its schema's level."""
    system: int            # pg_control_system()'s system_identifier
    database: int          # the database's oid
    name: str
    migration: int         # the last migration applied; 0 = no node schema
    role: str = ""         # the URL's
    unreadable: tuple[str, ...] = ()    # the node's tables the role may not read (_UNREADABLE)
    timeline: int = 0      # its last checkpoint's (a replica's: its last restartpoint's)
    server: tuple[str | None, ...] = ()     # which server answered (_SERVER)


async def _state(connection: asyncpg.Connection) -> tuple[bool, int | None, Identity]:
    """Whether the server is in recovery, its replay position, and its database's identity."""
    row = await connection.fetchrow(_STATE, timeout=5)
    migration, unreadable = 0, []
    if row["migrated"]:
        migration = await connection.fetchval(_MIGRATION, timeout=5)
        unreadable = await connection.fetchval(_UNREADABLE, PRIMARY_ONLY, timeout=5)
    return row["in_recovery"], row["replayed"], Identity(
        int(row["system"]), int(row["database"]), row["name"], int(migration), row["role"],
        tuple(unreadable), int(row["timeline"]), tuple(row["server"]))


@dataclass
class Replica:
    url: str
    pool: asyncpg.Pool | None = None
    # the poll's own connection: taken from `pool`, a poll waited for the node's own
    # statements to give one back, and a replica busy with them for 5 s was declared
    # failed, its pool retired and its statements ended (a review, 2026-12-05)
    probe: asyncpg.Connection | None = None
    replayed: int = -1                 # WAL position replayed, as of the last poll
    timeline: int = 0                  # its timeline, as of the last poll (Identity's)
    # the server the poll's connection reached (Identity's), which each of `pool`'s
    # connections must have reached too (ReadPools._same_server)
    server: tuple[str | None, ...] | None = None
    healthy: bool = False              # the last poll (or use) succeeded
    problem: str = field(default="not polled yet")

    @property
    def name(self) -> str:
        return redacted(self.url)


class ReadPools:
    """One per application: the replicas' pools, their replay positions, the rotation."""

    def __init__(self, primary: asyncpg.Pool, urls: list[str],
                 connect: Callable[..., Awaitable[asyncpg.Pool]], poll_seconds: float) -> None:
        """`connect(url, init=...)`: a replica's pool whose every new connection `init` is
        run on (node.database.create_read_pool, or asyncpg.create_pool)."""
        self.primary = primary
        self.replicas = [Replica(url) for url in urls]
        self._connect = connect           # a replica's pool (node.database.create_read_pool)
        self._poll_seconds = poll_seconds
        self._required = 0            # the primary's WAL position when datasets last changed
        self._timeline: int | None = None     # and its timeline then
        self._stale = True            # a change was notified; its position not read yet
        self._changes = 0             # changes notified so far
        self._turn = itertools.count()
        self._origin: Identity | None = None   # the primary's, read by the first poll
        self._owners: dict[int, asyncpg.Pool] = {}
        self._pollers: list[asyncio.Task[None]] = []      # one per replica
        self._retiring: set[asyncio.Task[None]] = set()
        self._refresh: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """The primary's position (being read, reads stay on the primary: a failure to read
        it does not hold up the node's start), then every replica's. A change committed
        after this read and before the datasets cache listens is notified to no one: the
        cache calls `datasets_changed` once it listens (node/app.py), which reads the
        position again."""
        self.datasets_changed()
        await self._poll_all()
        loop = asyncio.get_running_loop()
        self._pollers = [loop.create_task(self._poll_forever(r)) for r in self.replicas]

    async def close(self) -> None:
        for task in (*self._pollers, self._refresh, *self._retiring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task            # a poll cut short may end in the driver's error
        for replica in self.replicas:
            _end_probe(replica)
            if replica.pool is not None:
                await close_pool(replica.pool)

    # --- versions ----------------------------------------------------------------------------

    def datasets_changed(self) -> None:
        """The datasets cache was told of a change: the primary only, until its WAL position
        is read (a replica may not have replayed the change yet)."""
        self._stale = True
        self._changes += 1
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(self._read_required())

    async def _read_required(self) -> None:
        """Until it is read, reads stay on the primary: an outage (which the outage probe
        reports) or any other failure is tried again a poll later. Another failure ended
        this for good, every read on the primary until the next change (found by a review,
        2026-12-05); it is said once, as long as it stays the same."""
        said = ""
        while True:
            seen = self._changes
            try:
                position, timeline = await self.primary.fetchrow(_POSITION)
            except Exception as error:  # noqa: BLE001 - the primary answers reads meanwhile
                problem = f"{type(error).__name__}: {error}"
                if not isinstance(error, DATABASE_UNAVAILABLE) and problem != said:
                    log.warning("the primary's WAL position could not be read (%s): reads "
                                "stay on the primary until it is", problem)
                    said = problem
                await asyncio.sleep(self._poll_seconds)
                continue
            if timeline != self._timeline:    # another primary (a failover): its positions
                self._required, self._timeline = 0, timeline
            self._required = max(self._required, int(position))
            if self._changes == seen:      # else read again: that position may predate it
                self._stale = False
                return

    # --- polling -----------------------------------------------------------------------------

    async def _poll_forever(self, replica: Replica) -> None:
        """One replica's polls, in a loop of its own: in one round for all, a replica that
        does not answer (its poll waits up to 5 s, 6 s to connect) held up every other's,
        which stayed out of rotation that long after each dataset change."""
        while True:
            await asyncio.sleep(self._poll_seconds)
            if await self._origin_known():
                await self._poll(replica)

    async def _poll_all(self) -> None:
        if await self._origin_known():
            await asyncio.gather(*(self._poll(replica) for replica in self.replicas))

    async def _origin_known(self) -> bool:
        """Whether the primary's identity is known, read now if it is not yet (every
        replica out of rotation, saying why, while it cannot be)."""
        if self._origin is None:
            try:
                async with self.primary.acquire() as connection:
                    _, _, self._origin = await _state(connection)
            except Exception as error:  # noqa: BLE001 - the primary answers meanwhile
                for replica in self.replicas:
                    self._out(replica, "the primary's identity could not be read "
                                       f"({type(error).__name__}: {error})")
                return False
        return True

    async def _poll(self, replica: Replica) -> None:
        """The probe's server first, then the pool, each of whose connections must reach
        the same server (`_same_server`): a URL naming a load balancer or a read-only
        service in front of several standbys (a Kubernetes Service, DNS round robin) had
        the poll check one of them and the reads go to another, lagging or lost, whose
        answers were of a version the node no longer listed (found by a review,
        2026-12-07)."""
        try:
            if replica.probe is None or _closed(replica.probe):
                replica.probe = await asyncpg.connect(replica.url, timeout=5)
            in_recovery, replayed, identity = await _state(replica.probe)
            if replica.pool is not None and replica.server != identity.server:
                self._retire_pool(replica)     # its connections were checked against another
            replica.server = identity.server
            if replica.pool is None:
                replica.pool = await self._connect(replica.url,
                                                   init=partial(_same_server, replica))
        except Exception as error:  # noqa: BLE001 - whatever it is, the replica is not usable
            _end_probe(replica)
            self._out(replica, f"{type(error).__name__}: {error}")
            if replica.pool is not None:
                # a fresh pool at the next poll: asyncpg's own reconnection backs off for up
                # to a minute, which would keep a replica that is back out of rotation. The
                # old one closes once the requests holding its connections give them back.
                self._retire_pool(replica)
            return
        if not in_recovery or replayed is None:
            self._out(replica, "not a streaming replica (not in recovery)")
            return
        problem = self._stranger(identity)
        replica.timeline = identity.timeline
        if problem is None and self._timeline not in (None, identity.timeline):
            problem = (f"on timeline {identity.timeline}, the primary on {self._timeline} (a "
                       "replica of the primary before a failover, or one following the new "
                       "primary that has not reached a restartpoint on its timeline yet)")
        if problem is not None:
            self._out(replica, problem)
            return
        if not replica.healthy:
            log.warning("replica %s in rotation", replica.name)
        replica.healthy, replica.replayed, replica.problem = True, int(replayed), ""

    def _stranger(self, found: Identity) -> str | None:
        """Why a server in recovery does not hold the primary's database, if it does not."""
        origin = self._origin
        assert origin is not None           # read before any replica is polled
        if found.system != origin.system:
            return (f"a replica of another cluster (system identifier {found.system}, the "
                    f"primary's {origin.system})")
        if found.migration == 0:
            return f"database {found.name} holds no gdi-node schema (no schema_migrations)"
        if found.migration < origin.migration:
            return (f"database {found.name}'s schema is at migration {found.migration}, the "
                    f"primary's at {origin.migration} (its replay is behind or stopped)")
        if found.database != origin.database:
            return (f"database {found.name} is not the primary's ({origin.name}) but another "
                    "of its cluster")
        if found.unreadable:
            return (f"role {found.role} may not read {', '.join(found.unreadable)} of "
                    f"database {found.name} (GRANT SELECT on them)")
        return None

    def _retire_pool(self, replica: Replica) -> None:
        """Replica's pool closed once the requests holding its connections give them back."""
        old, replica.pool = replica.pool, None
        assert old is not None
        task = asyncio.get_running_loop().create_task(self._retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, pool: asyncpg.Pool) -> None:
        await close_pool(pool, RETIRE_SECONDS)

    def _out(self, replica: Replica, problem: str) -> None:
        if replica.healthy or replica.problem != problem:
            log.warning("replica %s out of rotation: %s", replica.name, problem)
        replica.healthy, replica.problem = False, problem

    # --- the pool's interface ----------------------------------------------------------------

    def in_rotation(self) -> list[Replica]:
        """The replicas a read may go to now."""
        if self._stale:
            return []
        return [r for r in self.replicas if r.healthy and r.pool is not None
                and r.replayed >= self._required and r.timeline == self._timeline]

    def usable(self, connection: asyncpg.Connection) -> bool:
        """Whether a connection taken here may still answer: the primary's always, a
        replica's while that replica is in rotation. A count lane holds its connection
        while its queue lasts (beacon/count_batcher.py): on a replica gone out of rotation
        (a new version it has not replayed, or lost) it answered from the version before
        after the node had learnt of the new one (a review, 2026-12-05)."""
        pool = self._owners.get(id(connection), self.primary)
        return pool is self.primary or any(r.pool is pool for r in self.in_rotation())

    def on_replica(self, connection: asyncpg.Connection) -> bool:
        """Whether a connection taken here (and not yet given back) is a replica's: a read
        whose connection to it is lost is answered on the primary
        (beacon/replica_conflict.py), one whose connection to the primary is lost is not."""
        return self._owners.get(id(connection), self.primary) is not self.primary

    def _choose(self) -> asyncpg.Pool:
        ready = self.in_rotation()
        if not ready:
            return self.primary
        pool = ready[next(self._turn) % len(ready)].pool
        assert pool is not None
        return pool

    async def _take(self) -> asyncpg.Connection:
        """A connection of the pool chosen, the primary's when a replica's cannot be had.
        Whatever a replica's pool fails with: not only an outage's errors but its refusal
        of a new connection (a role that may no longer log in, its password changed on the
        primary and replayed, the replica's own pg_hba.conf) while the poll's connection,
        opened before, kept it in rotation; each read that needed a new connection was a
        500, though the primary could answer it (found by a review, 2026-12-07)."""
        pool = self._choose()
        try:
            connection = await pool.acquire()
        except Exception as error:      # any replica's failure: the primary reads
            if pool is self.primary:
                raise
            self._lost(pool, error)
            for replica in self.replicas:
                if replica.pool is pool:   # a new pool at the next poll, whose first
                    self._retire_pool(replica)     # connection says whether it is back
            pool = self.primary
            connection = await pool.acquire()
        self._owners[id(connection)] = pool
        return connection

    def acquire(self) -> _Acquire:
        return _Acquire(self)

    async def release(self, connection: asyncpg.Connection) -> None:
        pool = self._owners.pop(id(connection), self.primary)
        if pool is not self.primary and _closed(connection):
            self._lost(pool, ConnectionError("its connection was closed"))
        await pool.release(connection)

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        async with self.acquire() as connection:
            return await connection.fetch(query, *args)

    def _lost(self, pool: asyncpg.Pool, error: BaseException) -> None:
        replica = next((r for r in self.replicas if r.pool is pool), None)
        if replica is not None:            # else its pool was already retired by a poll
            self._out(replica, f"{type(error).__name__}: {error}")


class AnotherServer(ConnectionError):
    """A connection of a replica's pool reached another server than its polls did: never
    used (a ConnectionError, so that a read taking it goes to the primary, and the replica
    is out of rotation until a poll finds its URL's servers one again)."""


async def _same_server(replica: Replica, connection: asyncpg.Connection) -> None:
    """Each new connection of `replica`'s pool (its `init`): AnotherServer unless it reached
    the server the replica's polls check."""
    server = tuple(await connection.fetchval(_SERVER, timeout=5))
    if server != replica.server:
        raise AnotherServer(
            f"its URL reaches several servers (a load balancer, a service name): a "
            f"connection reached {server}, its polls {replica.server}; give each replica a "
            "URL of its own")


def _end_probe(replica: Replica) -> None:
    """Drop the poll's connection without waiting on its server, which may not answer."""
    if replica.probe is not None:
        replica.probe.terminate()
        replica.probe = None


def _closed(connection: asyncpg.Connection) -> bool:
    """Whether the server ended `connection`. asyncpg gives a pooled connection the server
    ended back to its pool at once, after which the proxy in hand refuses every call (an
    InterfaceError that took the place of the request's own error)."""
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        return True


class _Acquire:
    """What `ReadPools.acquire()` returns: awaited, a connection (give it back with
    `release`); in `async with`, a connection given back on exit."""

    def __init__(self, pools: ReadPools) -> None:
        self._pools = pools
        self._connection: asyncpg.Connection | None = None

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self._pools._take().__await__()

    async def __aenter__(self) -> asyncpg.Connection:
        self._connection = await self._pools._take()
        return self._connection

    async def __aexit__(self, *_: object) -> None:
        if self._connection is not None:
            await self._pools.release(self._connection)
