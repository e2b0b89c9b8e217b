"""The node's datasets, kept in memory so a Beacon query costs one database round trip.

Ingest runs in another process; its swap NOTIFYs `store.DATASETS_CHANNEL` on commit, and the
listener here drops the cached list at once. When the listening connection is lost (a
PostgreSQL restart, a network cut), it is made again, with backoff, for as long as the cache
runs; notifications sent meanwhile are lost, so a reconnection counts as a change (the list is
reloaded and subscribers, such as the catalogue publisher, are told). A short TTL covers the
time it takes. A connection cut silently (a route gone, a NAT or a load balancer dropping an
idle flow: no FIN, no RST) is never seen to end by the driver, so the listener is asked a
`SELECT 1` every HEARTBEAT_SECONDS and made again when it does not answer within
HEARTBEAT_TIMEOUT_SECONDS: until 2026-12-05 such a cut listener was never made again, and no
later change reached the subscribers (the catalogue publisher, the replica router, whose
"never an older version" depends on it; found by a review). Until the heartbeat finds it
cut, a reload at the TTL's end that finds the datasets changed tells the subscribers as a
notification would (`_missed`).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from beacon import store
from beacon.hung_server import Watchdog

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_DERIVED = 1024
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 5.0
CLOSE_SECONDS = 2.0
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_TIMEOUT_SECONDS = 5.0


class DatasetCache:
    def __init__(self, pool: asyncpg.Pool, ttl: float = 30.0,
                 watchdog: Watchdog | None = None) -> None:
        """`watchdog` ends a reload on a server that does not answer (beacon/hung_server.py):
        every request waits for the reload once the list is older than `ttl`."""
        self.pool = pool
        self.ttl = ttl
        self._watchdog = watchdog
        self._rows: list[store.DatasetRow] | None = None
        # when a dataset was last removed (store.last_removal), read with the list: what a
        # FAIR Data Point's catalog is dated by when it is later than every dataset shown
        self.removed: datetime | None = None
        self._derived: dict[Hashable, Any] = {}
        self._loaded = 0.0
        self._url = ""
        self._listener: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._subscribers: list[Callable[[], None]] = []
        self._generation = 0                   # changes notified so far
        # the versions of the list last kept, and the generation it was read in: a reload
        # in the same generation that finds others found a change the listener missed
        self._kept: tuple[tuple[str, int, datetime], ...] | None = None
        self._kept_generation = 0
        self._loading: asyncio.Task[list[store.DatasetRow]] | None = None

    async def start(self, url: str) -> None:
        """Listen for dataset changes on a connection of its own (not taken from the pool)."""
        self._url = url
        await self._listen()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        """Ask the listener to answer, now and then; one that does not is given up for lost
        (`_lost`, which makes it again), however the driver sees it."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            conn = self._listener
            if conn is None:
                continue                            # being made again
            try:
                await conn.fetchval("SELECT 1", timeout=HEARTBEAT_TIMEOUT_SECONDS)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._lost(conn)
                conn.terminate()

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._url)
        await conn.add_listener(store.DATASETS_CHANNEL, self._changed)
        conn.add_termination_listener(self._lost)
        self._listener = conn

    def _lost(self, conn: asyncpg.Connection) -> None:
        if conn is not self._listener:
            return                                  # closed by stop()
        log.warning("lost the connection listening for dataset changes; reconnecting")
        self._listener = None
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while True:
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.debug("listener reconnection failed: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            log.warning("listening for dataset changes again")
            self._changed()                          # what was missed meanwhile
            return

    async def stop(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
        for task in (self._heartbeat, self._reconnecting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        listener, self._listener = self._listener, None
        if listener is not None:
            # aborted past the timeout: a server that does not answer never acknowledges a
            # close, and the node's shutdown waited for it for good
            with contextlib.suppress(OSError, asyncpg.InterfaceError):
                await listener.close(timeout=CLOSE_SECONDS)

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Also call `callback` whenever the datasets change (e.g. to republish them)."""
        self._subscribers.append(callback)

    def _changed(self, *_: object) -> None:
        self._generation += 1
        self._rows = None
        self._derived = {}
        self._loading = None            # it may have read the list before the change
        for callback in self._subscribers:
            callback()

    async def all(self) -> list[store.DatasetRow]:
        """The list, read once for all the requests that find it missing or old at once (each
        reading its own held a pool connection apiece, the pool's every one under load), and
        kept only if no change was notified while it was read: a read under way when a
        change commits may have seen the list before it, which kept a dataset removed or made
        controlled in view for a whole TTL."""
        rows = self._rows
        if rows is not None and time.monotonic() - self._loaded <= self.ttl:
            return rows
        loading = self._loading
        if loading is None:
            loading = self._loading = asyncio.get_running_loop().create_task(
                self._reload(self._generation))
            loading.add_done_callback(_retrieved)
        return await asyncio.shield(loading)        # a request gone away stops no one's read

    async def _reload(self, generation: int) -> list[store.DatasetRow]:
        try:
            rows, removed = await self._load()
        finally:
            if generation == self._generation:
                self._loading = None
        if generation == self._generation:
            self._rows, self._derived, self._loaded = rows, {}, time.monotonic()
            self.removed = removed
            kept = tuple((row.id, row.version, row.created_at) for row in rows)
            missed = (self._kept is not None and self._kept_generation == generation
                      and kept != self._kept)
            self._kept, self._kept_generation = kept, generation
            if missed:
                self._missed()
        return rows

    def _missed(self) -> None:
        """A reload found a change no notification told of yet (the listener cut silently,
        its heartbeat not due; or the notification still on its way): the subscribers hear
        of it as of any change. Until then the replica router kept a replica that had not
        replayed it in rotation, the node listing the new version and answering from the
        one before. (A notification arriving after this tells them once more: harmless.)"""
        log.info("the datasets changed before a notification of it reached this node")
        for callback in self._subscribers:
            callback()

    async def _load(self) -> tuple[list[store.DatasetRow], datetime | None]:
        async def read(connection: asyncpg.Connection
                       ) -> tuple[list[store.DatasetRow], datetime | None]:
            return await store.list_datasets(connection), await store.last_removal(connection)
        if self._watchdog is None:
            async with self.pool.acquire() as connection:
                return await read(connection)
        # every request waits for this read once the list is old: on a pool busy past a
        # start-up's bound, a 503 rather than the queue's wait (beacon/hung_server.py)
        connection = await self._watchdog.connection(self.pool)
        try:
            return await self._watchdog.run(connection, read(connection))
        finally:
            await self.pool.release(connection)

    def remembered(self, key: Hashable) -> Any:
        """What `derived` remembers for `key` while the list is fresh, else None (so for a
        `compute` that never gives None): `derived`'s answer without its two coroutines, for
        the per-request callers (node/http/beacon_api.py _visible)."""
        if self._rows is None or time.monotonic() - self._loaded > self.ttl:
            return None
        return self._derived.get(key)

    async def derived(self, key: Hashable, compute: Callable[[list[store.DatasetRow]], T]) -> T:
        """`compute(rows)` remembered per key until the datasets change (e.g. what one kind of
        caller may see), so per-request work does not grow with the number of datasets."""
        rows = await self.all()
        if rows is not self._rows:           # read before a change: for this request alone
            return compute(rows)
        if key not in self._derived:
            if len(self._derived) >= MAX_DERIVED:
                self._derived.clear()
            self._derived[key] = compute(rows)
        return self._derived[key]


def _retrieved(task: asyncio.Task[Any]) -> None:
    """The reload's error is its waiters' to raise; when all of them have gone, asyncio
    would log it as never retrieved."""
    if not task.cancelled():
        task.exception()
