"""Two classes of variant query, so that expensive ones cannot starve cheap ones.

A query that pins a position (a sequence query, a range or bracket no wider than
`QueryLimits.narrow_window` bases) is *narrow*: an index lookup of a few rows, answered in
batches by the count lanes (beacon/count_batcher.py) within the pool's statement timeout. Any
other query (a whole chromosome, a whole dataset, a wide window) is *wide*: it may read
millions of index entries. Wide queries get lanes of their own (`WideLanes`), few of them,
each running one statement at a time without parallel workers, so however many arrive they
hold at most `wide_lanes` pool connections and as many PostgreSQL CPU cores; a narrow query
never waits behind one. Each class has its own time limit: waiting for a wide lane counts
against it, and the server ends a statement that outlives it (`statement_timeout`), so a
flood of wide queries is answered with `QueryTimeout` (a 503 with Retry-After) rather than
queued for ever.

A read on a replica that the replica's replay cancels, or that is lost with the replica
(beacon/replica_conflict.py), runs once more on the primary, through the primary's own lanes
when it is wide, its time limit afresh.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from beacon import store
from beacon.count_batcher import CountBatcher
from beacon.hung_server import GRACE_SECONDS, NoConnection, Watchdog
from beacon.replica_conflict import CANDIDATES, OnReplica, ReplicaConflict, as_conflict
from beacon.request import VariantQuery
from beacon.visibility import Floor

T = TypeVar("T")


class _Turns:
    """One queue per key in this process (Queries.writing's `turn`): a lock held while it
    has a holder or a waiter, forgotten after, so that callers gone quiet cost nothing."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def take(self, key: str, seconds: float, late: Callable[[], Exception]) -> None:
        """The key's turn (`give_back` ends it), waited for at most `seconds` (else `late()`
        is raised), as a statement waits for a lane or the server (QueryLimits): a caller's
        questions queued behind a slow one are answered 503 in time, as they were when they
        waited in PostgreSQL. A key nobody holds or waits for is taken at once, its new
        lock without a timer, which could not fire: every answer of an accounted caller
        takes a turn, and arming and cancelling the timer, in a context manager's
        generator, was 4% of what a sites-only dataset's answer cost (58k instructions,
        bench/instructions.py)."""
        queued = self._locks.get(key)
        if queued is None:
            lock = asyncio.Lock()
            self._locks[key] = (lock, 1)
            await lock.acquire()                    # a new lock: taken without waiting
            return
        lock, users = queued
        self._locks[key] = (lock, users + 1)
        try:
            async with asyncio.timeout(seconds):
                await lock.acquire()
        except TimeoutError:
            self._forget(key)
            raise late() from None
        except BaseException:
            self._forget(key)
            raise

    def give_back(self, key: str) -> None:
        """End the key's turn (`take`): the next waiting for it has it."""
        self._locks[key][0].release()
        self._forget(key)

    def _forget(self, key: str) -> None:
        lock, users = self._locks[key]
        if users == 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


@dataclass(frozen=True)
class QueryLimits:
    narrow_seconds: float = 5.0          # every statement on the pool (its statement_timeout)
    wide_seconds: float = 30.0           # a wide query, from its arrival to its answer
    wide_lanes: int = 1                  # wide statements running at once
    narrow_window: int = 1_000_000       # bases: the widest range or bracket still narrow

    def pool_settings(self) -> dict[str, str]:
        """PostgreSQL settings of every pooled connection (given at connect, so they cost
        nothing per statement and a pool reset cannot undo them). No parallel workers: the
        statements on the pool are index lookups, for which the planner still picked them
        on a 100M-variant dataset, at 3.4 ms for a 1 kb count that takes 0.11 ms without
        (bench/scale.py, docs/benchmarks.md); the wide lanes turn them off too. Generic
        plans: a narrow statement is an index lookup whatever its values, and planning a
        batched count afresh for every batch (PostgreSQL keeps choosing custom plans for
        them) cost more than running it (docs/benchmarks.md, "What disclosure control
        costs"); the wide lanes plan for their values."""
        return {"statement_timeout": str(_milliseconds(self.narrow_seconds)),
                "max_parallel_workers_per_gather": "0", "plan_cache_mode": "force_generic_plan"}

    def client_limits(self) -> dict[str, float]:
        """asyncpg's own bound for the pool (beacon/hung_server.py): a connection's start-up
        within the narrow limit. Not its `command_timeout`, a timer for every statement
        (6% of an individuals count's instructions); a watchdog bounds them instead."""
        return {"timeout": self.narrow_seconds + GRACE_SECONDS}

    def watchdog(self) -> Watchdog:
        """The application's watchdog (beacon/hung_server.py): a narrow statement is ended
        by the server within the narrow limit."""
        return Watchdog(self.narrow_seconds + GRACE_SECONDS)


def _connection(pool: asyncpg.Pool, watchdog: Watchdog | None, seconds: float = 0.0
                ) -> Awaitable[asyncpg.Connection]:
    """A connection of `pool`, waited for at most `seconds` (and never less than a new
    connection's start-up) when watched, else NoConnection: the limits bounded only the
    statements, and under load each request waited for a connection as long as the
    queue took (beacon/hung_server.py)."""
    if watchdog is None:
        return pool.acquire()
    return watchdog.connection(pool, seconds)


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def is_wide(query: VariantQuery, limits: QueryLimits) -> bool:
    """Wide unless the query pins a chromosome and a window of at most `narrow_window`
    bases (a bracket's window runs from its first start to its last end)."""
    if query.kind == "sequence":
        return False
    if query.kind in ("range", "bracket"):
        return query.end[-1] - query.start[0] > limits.narrow_window
    return True


class QueryTimeout(Exception):
    """A query outlived its class's time limit, waiting for a lane or in the database.
    Not the caller's mistake and not an outage: the node says so and suggests what helps."""

    def __init__(self, wide: bool, limits: QueryLimits) -> None:
        self.wide = wide
        seconds = limits.wide_seconds if wide else limits.narrow_seconds
        advice = (f"narrow the window (up to {limits.narrow_window:,} bases is answered "
                  "ahead of wide queries) or retry later" if wide else "retry later")
        super().__init__(f"the query took longer than this node's limit of {seconds:g} s for "
                         f"{'wide' if wide else 'positional'} queries; {advice}")


class WideLanes:
    """One per application: the few connections wide statements run on, one at a time."""

    def __init__(self, pool: asyncpg.Pool, limits: QueryLimits,
                 watchdog: Watchdog | None = None, replica: OnReplica = None) -> None:
        """`replica`: whether a connection of `pool` is a replica's (beacon/replica_conflict.py)."""
        self._pool = pool
        self._limits = limits
        self._watchdog = watchdog
        self._replica = replica
        self._lanes = asyncio.Semaphore(limits.wide_lanes)

    async def run(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`statement` on a lane's connection, in a transaction whose statement timeout is
        what is left of the query's time; QueryTimeout when none is left. Transaction-local
        settings end with it, whatever happens, so no pooled connection keeps them."""
        limits = self._limits
        deadline = time.monotonic() + limits.wide_seconds
        try:
            async with asyncio.timeout(limits.wide_seconds):
                await self._lanes.acquire()
        except TimeoutError:
            raise QueryTimeout(True, limits) from None
        try:
            # the pool's connections are the narrow queries' too: its wait counts as well
            connection = await _connection(self._pool, self._watchdog,
                                           deadline - time.monotonic())
        except NoConnection:
            self._lanes.release()
            raise QueryTimeout(True, limits) from None
        except BaseException:
            self._lanes.release()
            raise
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QueryTimeout(True, limits)
            work = _in_transaction(connection, left, statement)
            try:
                if self._watchdog is None:
                    return await work
                return await self._watchdog.run(connection, work, left + GRACE_SECONDS)
            except CANDIDATES as error:
                raise as_conflict(error, connection, self._replica)
        except asyncpg.QueryCanceledError:
            raise QueryTimeout(True, limits) from None
        finally:
            try:
                await self._pool.release(connection)
            finally:                  # a release cancelled (its client gone) frees the lane
                self._lanes.release()


async def _in_transaction(connection: asyncpg.Connection, seconds: float,
                          statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`statement` in a transaction whose settings are a wide lane's, its statement timeout
    `seconds`."""
    async with connection.transaction():
        await connection.execute(
            "SELECT set_config('statement_timeout', $1, true), "
            "set_config('max_parallel_workers_per_gather', '0', true), "
            "set_config('plan_cache_mode', 'force_custom_plan', true)",
            str(_milliseconds(seconds)))
        return await statement(connection)


class Queries:
    """Where each variant statement of a request runs: narrow counts through the count
    batcher, narrow record pages straight on the pool, anything wide on the wide lanes."""

    def __init__(self, pool: asyncpg.Pool, counts: CountBatcher, limits: QueryLimits,
                 primary: asyncpg.Pool | None = None, watchdog: Watchdog | None = None,
                 replica: OnReplica = None) -> None:
        """`replica`: whether a connection of `pool` is a replica's, whose loss the primary
        answers for (beacon/replica_conflict.py)."""
        self._pool = pool
        self._primary = primary or pool       # where statements that write go (replicas)
        self._counts = counts
        self.limits = limits
        self._watchdog = watchdog
        self._replica = replica
        self._wide = WideLanes(pool, limits, watchdog, replica)
        # wide statements that write, and wide reads a replica cancelled, run on lanes of the
        # primary: the same when it is the pool
        self._wide_primary = self._wide if primary in (None, pool) else WideLanes(
            primary, limits, watchdog)
        self._turns = _Turns()

    async def run(self, wide: bool, statement: Callable[[asyncpg.Connection], Awaitable[T]]
                  ) -> T:
        """Any other statement of a request (individuals' counts and pages, record pages):
        on the wide lanes if its variant condition is wide, else straight on the pool; once
        more on the primary's if a replica's replay cancelled it."""
        try:
            return await self._on(self._pool, self._wide, wide, statement)
        except ReplicaConflict:
            return await self._on(self._primary, self._wide_primary, wide, statement)

    async def writing(self, wide: bool,
                      statement: Callable[[asyncpg.Connection], Awaitable[T]],
                      turn: str | None = None) -> T:
        """A statement that writes as it reads (a caller's losses, beacon/losses.py): on the
        primary, on its wide lanes if its variant condition is wide.

        `turn`: the caller's turn it waits for (its lock's key, beacon/losses.py `turn`),
        waited for here first, in this process, before it takes a connection. Every answer
        of a caller under the loss accounting waits for that lock, whatever it matched; in
        the database alone, each waiting answer held a connection, and one caller asking
        many questions behind a slow one held the whole pool, every other caller's answers
        waiting for it. Now a caller holds at most one connection a process (the lock
        still orders the processes). The wait is the same for every answer, so it
        tells nothing the database's wait did not."""
        if turn is None:
            return await self._on(self._primary, self._wide_primary, wide, statement)
        turns = self._turns
        await turns.take(turn, self.limits.wide_seconds if wide else self.limits.narrow_seconds,
                         lambda: QueryTimeout(wide, self.limits))
        try:
            return await self._on(self._primary, self._wide_primary, wide, statement)
        finally:
            turns.give_back(turn)

    async def _on(self, pool: asyncpg.Pool, lanes: WideLanes, wide: bool,
                  statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if wide:
            return await lanes.run(statement)
        watchdog = self._watchdog
        try:
            connection = await _connection(pool, watchdog)
        except NoConnection:
            raise QueryTimeout(False, self.limits) from None
        try:
            try:
                if watchdog is None:
                    return await statement(connection)
                # twice: `statement` may be a few, each of which the server ends in time
                watchdog.watch(connection, 2 * watchdog.statement_seconds)
                try:
                    return await statement(connection)
                finally:
                    watchdog.done(connection)
            except CANDIDATES as error:
                raise as_conflict(error, connection,
                                  self._replica if pool is self._pool else None)
        except asyncpg.QueryCanceledError:
            raise QueryTimeout(False, self.limits) from None
        finally:
            await pool.release(connection)

    async def count(self, query: VariantQuery, dataset_ids: list[str], chromosome: str | None,
                    span: int, floor: int | Floor, tally: store.Tally | None = None
                    ) -> dict[str, store.Matches]:
        """Per-dataset matches of `query` (`store.count_batch`): through the count lanes
        when it is narrow, and alone on the primary if a replica's replay cancelled its
        batch."""
        wide = is_wide(query, self.limits)
        if not wide:
            try:
                return await self._counts.count(query, dataset_ids, chromosome, span, floor,
                                                tally)
            except (asyncpg.QueryCanceledError, NoConnection):   # a lane's, or its wait's
                raise QueryTimeout(False, self.limits) from None
            except ReplicaConflict:
                pass                                     # alone, on the primary (below)
        key, arguments = store.count_query(query, dataset_ids, chromosome, span, floor,
                                           tally=tally)

        def alone(connection: asyncpg.Connection) -> Awaitable[list[dict[str, store.Matches]]]:
            return store.count_batch(connection, key, [arguments])
        return (await (self.run(True, alone) if wide else
                       self._on(self._primary, self._wide_primary, False, alone)))[0]

    async def fetch(self, query: VariantQuery, dataset_id: str, chromosome: str | None,
                    span: int, floor: int | Floor, skip: int, limit: int) -> list[store.VariantRow]:
        """A page of the records `query` matches in one dataset (`store.fetch_variants`)."""
        return await self.run(is_wide(query, self.limits), lambda connection: (
            store.fetch_variants(connection, query, dataset_id, chromosome, span, floor, skip,
                                 limit)))
