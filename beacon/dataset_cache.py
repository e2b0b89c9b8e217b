"""The node's datasets, kept in memory so a Beacon query costs one database round trip.

Ingest runs in another process; its swap NOTIFYs `store.DATASETS_CHANNEL` on commit, and the
listener here drops the cached list at once. A short TTL covers a lost listener connection.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import asyncpg

from beacon import store

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_DERIVED = 1024


class DatasetCache:
    def __init__(self, pool: asyncpg.Pool, ttl: float = 30.0) -> None:
        self.pool = pool
        self.ttl = ttl
        self._rows: list[store.DatasetRow] | None = None
        self._derived: dict[Hashable, Any] = {}
        self._loaded = 0.0
        self._listener: asyncpg.Connection | None = None
        self._subscribers: list[Callable[[], None]] = []

    async def start(self, url: str) -> None:
        """Listen for dataset changes on a connection of its own (not taken from the pool)."""
        self._listener = await asyncpg.connect(url)
        await self._listener.add_listener(store.DATASETS_CHANNEL, self._changed)

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Also call `callback` whenever the datasets change (e.g. to republish them)."""
        self._subscribers.append(callback)

    def _changed(self, *_: object) -> None:
        self._rows = None
        self._derived = {}
        for callback in self._subscribers:
            callback()

    async def all(self) -> list[store.DatasetRow]:
        if self._rows is None or time.monotonic() - self._loaded > self.ttl:
            self._rows = await store.list_datasets(self.pool)
            self._derived = {}
            self._loaded = time.monotonic()
        return self._rows

    async def derived(self, key: Hashable, compute: Callable[[list[store.DatasetRow]], T]) -> T:
        """`compute(rows)` remembered per key until the datasets change (e.g. what one kind of
        caller may see), so per-request work does not grow with the number of datasets."""
        rows = await self.all()
        if key not in self._derived:
            if len(self._derived) >= MAX_DERIVED:
                self._derived.clear()
            self._derived[key] = compute(rows)
        return self._derived[key]
