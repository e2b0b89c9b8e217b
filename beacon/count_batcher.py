"""Count queries that arrive together go to the database together.

Every count query costs the node one pool checkout and one round trip through asyncpg, which
is most of what a count request costs the node's CPU (docs/benchmarks.md). Requests that come
in together reach their count in the same turn of the event loop; the batcher holds them for
the rest of that turn, then sends each group of same-shaped queries as one statement
(`store.count_batch`). Nothing is held for longer: a lone request goes out on the next turn,
alone, so latency without concurrency is unchanged, and under load the batches grow with it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

import asyncpg

from beacon import store
from beacon.request import VariantQuery

MAX_BATCH = 256              # members per statement: bounds its size, not the waiting

_Waiter = tuple[tuple[object, ...], "asyncio.Future[dict[str, int]]"]


class CountBatcher:
    """One per application; holds only the queries of the current turn and its round trips."""

    def __init__(self, pool: asyncpg.Pool,
                 on_round_trip: Callable[[int], None] = lambda queries: None) -> None:
        self._pool = pool
        self._on_round_trip = on_round_trip
        self._pending: dict[store.CountKey, list[_Waiter]] = {}
        self._round_trips: set[asyncio.Task[None]] = set()

    async def count(self, query: VariantQuery, dataset_ids: list[str], chromosome: str | None,
                    span: int) -> dict[str, int]:
        """Per-dataset counts of one query, as `store.count_batch` gives them."""
        key, arguments = store.count_query(query, dataset_ids, chromosome, span)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[dict[str, int]] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._send)
        self._pending.setdefault(key, []).append((arguments, waiter))
        return await waiter

    def _send(self) -> None:
        pending, self._pending = self._pending, {}
        for key, waiters in pending.items():
            for first in range(0, len(waiters), MAX_BATCH):
                batch = waiters[first:first + MAX_BATCH]
                task = asyncio.create_task(self._round_trip(key, batch))
                self._round_trips.add(task)
                task.add_done_callback(partial(self._settled, batch))

    async def _round_trip(self, key: store.CountKey, waiters: list[_Waiter]) -> None:
        self._on_round_trip(len(waiters))
        try:
            counts = await store.count_batch(self._pool, key, [a for a, _ in waiters])
        except Exception as error:  # noqa: BLE001 - each member fails as a lone query would
            for _, waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        for (_, waiter), result in zip(waiters, counts):
            if not waiter.done():            # its request may have been cancelled meanwhile
                waiter.set_result(result)

    def _settled(self, waiters: list[_Waiter], task: asyncio.Task[None]) -> None:
        """A round trip cancelled (even before it began) cancels the requests it carried."""
        self._round_trips.discard(task)
        if task.cancelled():
            for _, waiter in waiters:
                waiter.cancel()

    async def close(self) -> None:
        """Cancel the round trips in flight (their requests are cancelled with them)."""
        for task in list(self._round_trips):
            task.cancel()
        await asyncio.gather(*self._round_trips, return_exceptions=True)
