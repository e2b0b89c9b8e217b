"""Count queries go to the database in groups, over a few connections held while busy.

A count query answered on its own costs the node a pool checkout, a round trip through
asyncpg and a check-in (which asyncpg shields in a task of its own): together much of what
a count request costs the node's CPU (docs/benchmarks.md). Here requests queue their count
and a few "lanes" answer the queue. A lane takes a connection from the pool once, then sends
every group of same-shaped queries waiting at that moment as one statement
(`store.count_batch`), again and again, and gives the connection back when the queue is
empty. What arrives while a statement is out goes with the next one, so groups grow with
the load; nothing is held back on purpose. A lone query goes alone, one event-loop turn
after it arrives.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from beacon import store
from beacon.hung_server import Watchdog
from beacon.replica_conflict import OnReplica, as_conflict
from beacon.request import VariantQuery
from beacon.visibility import Floor

MAX_BATCH = 256              # members per statement: bounds its size, not the waiting

_Member = tuple[list[object], "asyncio.Future[dict[str, store.Matches]]"]


class CountBatcher:
    """One per application: the queue of groups, and the lanes answering it."""

    def __init__(self, pool: asyncpg.Pool, lanes: int,
                 on_round_trip: Callable[[int], None] = lambda queries: None,
                 watchdog: Watchdog | None = None,
                 usable: Callable[[asyncpg.Connection], bool] | None = None,
                 replica: OnReplica = None) -> None:
        """`watchdog` ends a lane's statement on a server that does not answer
        (beacon/hung_server.py); without one, the lane waits for it for good. `usable`
        says whether a lane's connection may still answer before each statement (a
        replica's, while it is in rotation: node/replicas.py; None: always); when not, the
        lane gives it back and another takes the queue on a connection the pool chooses
        anew. `replica` says whether a connection is a replica's, whose loss the primary
        answers for (beacon/replica_conflict.py)."""
        self._pool = pool
        self._watchdog = watchdog
        self._usable = usable
        self._replica = replica
        self._max_lanes = lanes
        self._on_round_trip = on_round_trip
        self._queue: dict[store.CountKey, list[_Member]] = {}
        self._working = 0                    # lanes still taking groups from the queue
        self._lanes: set[asyncio.Task[None]] = set()

    async def count(self, query: VariantQuery, dataset_ids: list[str], chromosome: str | None,
                    span: int, floor: int | Floor, tally: store.Tally | None = None
                    ) -> dict[str, store.Matches]:
        """Per-dataset matches of one query, as `store.count_batch` gives them."""
        key, arguments = store.count_query(query, dataset_ids, chromosome, span, floor,
                                           tally=tally)
        waiter: asyncio.Future[dict[str, store.Matches]] = (
            asyncio.get_running_loop().create_future())
        group = self._queue.get(key)
        if group is None:
            group = self._queue[key] = []
            if self._working < self._max_lanes:
                self._start_lane()
        group.append((arguments, waiter))
        return await waiter

    def _start_lane(self) -> None:
        self._working += 1
        lane = asyncio.create_task(self._lane())
        self._lanes.add(lane)
        lane.add_done_callback(self._lanes.discard)

    async def _lane(self) -> None:
        group: list[_Member] = []
        watchdog = self._watchdog
        try:
            # a pool busy with other statements: waited for as long as a new connection's
            # start-up may take, at most (beacon/hung_server.py NoConnection, the waiters')
            connection = await (self._pool.acquire() if watchdog is None else
                                watchdog.connection(self._pool))
        except BaseException as error:       # no connection: as a lone query would fail
            self._working -= 1
            self._abandon(error)
            if isinstance(error, Exception):
                return                       # its waiters have it; nobody awaits the lane
            raise
        try:
            healthy = True
            usable = self._usable
            while self._queue and healthy and (usable is None or usable(connection)):
                key = next(iter(self._queue))
                group = self._queue.pop(key)
                if len(group) > MAX_BATCH:   # the rest waits its turn, as a group of its own
                    self._queue[key], group = group[MAX_BATCH:], group[:MAX_BATCH]
                healthy = await self._round_trip(connection, key, group)
        except BaseException as error:       # cancelled at shutdown (statements' own errors
            self._working -= 1               # are the waiters', in _round_trip)
            self._abandon(error, group)
            if isinstance(error, Exception):
                return
            raise
        else:
            self._working -= 1               # before the release: who queues now starts a lane
            if self._queue:                  # the statement failed, or the connection may
                self._start_lane()           # no longer answer: over to a new lane
        finally:
            await self._pool.release(connection)

    async def _round_trip(self, connection: asyncpg.Connection, key: store.CountKey,
                          group: list[_Member]) -> bool:
        """False when the statement failed: the connection may be dead (the server
        restarted, the session was ended), so the lane gives it back to the pool, which
        checks it, rather than fail every group after on it."""
        self._on_round_trip(len(group))
        watchdog = self._watchdog
        if watchdog is not None:
            watchdog.watch(connection)
        try:
            counts = await store.count_batch(connection, key, [a for a, _ in group])
        except Exception as error:  # noqa: BLE001 - each member fails as a lone query would
            # a replica's conflict or loss: answered on the primary (Queries)
            failure = as_conflict(error, connection, self._replica)
            for _, waiter in group:
                if not waiter.done():
                    waiter.set_exception(failure)
            return False
        finally:
            if watchdog is not None:
                watchdog.done(connection)
        for (_, waiter), result in zip(group, counts):
            if not waiter.done():            # its request may have been cancelled meanwhile
                waiter.set_result(result)
        return True

    def _abandon(self, error: BaseException, group: list[_Member] | None = None) -> None:
        """A lane that failed (no connection) or was cancelled takes its group with it, and
        the queue when no lane is left to answer it."""
        members = list(group or [])
        if not self._working:
            for queued in self._queue.values():
                members += queued
            self._queue.clear()
        for _, waiter in members:
            if waiter.done():
                continue
            if isinstance(error, asyncio.CancelledError):
                waiter.cancel()
            else:
                waiter.set_exception(error)

    async def close(self) -> None:
        """Cancel the lanes and every request still waiting for one (a lane cancelled
        before its first step never runs, so its own clean-up cannot be relied on)."""
        while self._lanes:                  # requests still finishing may start new ones
            for lane in list(self._lanes):
                lane.cancel()
            await asyncio.gather(*self._lanes, return_exceptions=True)
        self._working = 0
        self._abandon(asyncio.CancelledError())
