"""The audit trail in PostgreSQL: per answered request, who asked what (`ASKED` of the
question as read), of which datasets, at which granularity, what was disclosed (as
disclosed) and the budget spent; per request refused for its budget (429), who asked what of
which datasets. Never a token.

Requests do not wait for it: entries are buffered and written in batches, every
`flush_seconds` (Settings.audit_flush_seconds, 1 s by default), as soon as FLUSH_ENTRIES are
waiting, and at shutdown; so a crash can lose the last second's entries (at most
FLUSH_ENTRIES more) but a request never pays a round trip for its audit line. A batch costs
a fixed part of the node's CPU besides its entries' (a connection and its COPY's round
trips: 200 µs or so measured; a batch tried again after a lost acknowledgement, below,
adds a transaction and three statements, that batch only), so under load (thousands of
requests a second) batches of FLUSH_ENTRIES bound what a batch holds and how long it
takes, and under light load a batch a second is cheap.
`gdi-node audit` reads it back.

While the trail cannot be written (its database, the primary, down or not answering, while
replicas answer the queries), entries wait, up to MAX_BUFFER; past that the oldest go, and
each write that fails says how many went (an ERROR), never silently. A write on a server
that does not answer is ended by the application's watchdog (beacon/hung_server.py) and
tried again, so the writer, and the node's shutdown, never wait for it for good.

A write tried again may have been written: the server committed it but its acknowledgement
was lost (the connection dropped, the watchdog ended the write as the server finished it).
So each entry gets an id when recorded (`entry_id`, random, unique with `at`: migration
0028), and a batch that finds one of its entries in the trail (its one COPY fails on the
trail's unique index) is copied into a temporary table and inserted from there skipping the
entries already in the trail: written twice, each is there once. Not keyed on the request
id, which a client may set (X-Request-ID) and so could have kept its own entries out.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson

from beacon.copy_in import copy_in
from beacon.hung_server import Watchdog

log = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0              # the default of Settings.audit_flush_seconds
FLUSH_ENTRIES = 256              # a batch is written once this many wait
MAX_BUFFER = 100_000             # beyond this (database gone) the oldest entries are dropped
WRITE_SECONDS = 30.0             # a batch's COPY, at most: 100,000 entries take about 1 s
CLOSE_WRITE_SECONDS = 5.0        # the last one's, at shutdown
# One COPY per batch: far less of PostgreSQL's time than a statement per entry
# (executemany), at thousands of requests a second, and a third of the node's CPU per entry
# of one INSERT of the columns as arrays (2-3 µs against 4-8.5 µs a hot loop measured).
_COLUMNS = ("at", "request_id", "caller", "endpoint", "datasets", "query", "entry_id")
# A batch whose COPY found one of its entries in the trail goes into this table of the
# session, then into the trail less the entries already there (`_write_skipping_written`);
# emptied at each commit, kept by the session (not made and dropped per batch, which
# churned PostgreSQL's system catalogs at every write). Made in the write's transaction, so
# that it is there whatever session a pooler gives the transaction.
_BATCH_TABLE = """CREATE TEMPORARY TABLE IF NOT EXISTS audit_batch
                  (LIKE audit_trail INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"""
_FROM_BATCH = f"""INSERT INTO audit_trail ({", ".join(_COLUMNS)})
                  SELECT {", ".join(_COLUMNS)} FROM audit_batch ON CONFLICT DO NOTHING"""
# What an entry keeps of a request's receivedRequestSummary: what it asked of the data, each
# part bounded by what the node accepts (32 filters, known parameters). Not its apiVersion or
# requestedSchemas, free text the answer repeats but that changes nothing it tells: kept,
# one request's 600 kB of them was a 600 kB entry, and a caller refused for its budget
# could write as many as it sent.
ASKED = ("requestParameters", "filters", "requestedGranularity", "pagination",
         "includeResultsetResponses")
# What an entry no attempt could write raises: PostgreSQL refusing a value (a NUL in text),
# or asyncpg unable to encode one (a lone surrogate, which no UTF-8 holds)
_UNWRITABLE = (asyncpg.DataError, UnicodeEncodeError)


class AuditTrail:
    """One per application: the buffer and the task writing it."""

    def __init__(self, pool: asyncpg.Pool, watchdog: Watchdog | None = None,
                 flush_seconds: float = FLUSH_SECONDS) -> None:
        self._pool = pool
        self._watchdog = watchdog
        self._flush_seconds = flush_seconds
        self._full = asyncio.Event()     # FLUSH_ENTRIES wait: the writer writes them now
        self._buffer: deque[tuple[Any, ...]] = deque(maxlen=MAX_BUFFER)   # full: oldest go
        self._writer: asyncio.Task[None] | None = None
        self._stopping = False
        self._dropped = 0                # entries lost to a full buffer since the last report

    def record(self, request_id: str, caller: str, endpoint: str,
               datasets: dict[str, dict[str, Any]], query: dict[str, Any]) -> None:
        """`query`: the question as the answer's meta.receivedRequestSummary reads it, of
        which the entry keeps what was asked of the data (`ASKED`)."""
        if len(self._buffer) == self._buffer.maxlen:
            self._dropped += 1
        asked = {}
        for key in ASKED:           # a loop, not a comprehension's frame (0.9k instructions)
            if key in query:
                asked[key] = query[key]
        self._buffer.append((datetime.now(UTC), request_id, caller, endpoint,
                             orjson.dumps(datasets).decode(), orjson.dumps(asked).decode(),
                             random.getrandbits(63)))
        if len(self._buffer) >= FLUSH_ENTRIES:
            self._full.set()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_periodically())

    async def _write_periodically(self) -> None:
        """Until the node stops, whatever a write raises: a writer that ended would leave
        every later entry unwritten. After a failed write it waits `flush_seconds` before
        the next, however many entries wait (a full buffer would otherwise retry at once,
        for as long as the database is down)."""
        while not self._stopping:       # a cancel a write swallowed stops it too
            if len(self._buffer) < FLUSH_ENTRIES:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._flush_seconds)
            try:
                await self.flush()
                continue
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    asyncpg.InternalClientError) as error:   # a session ended mid-COPY
                log.warning("audit trail not written yet (%s); retrying", _described(error))
            except Exception:
                log.exception("audit trail not written yet (unexpected error); retrying")
            await asyncio.sleep(self._flush_seconds)

    async def flush(self, seconds: float | None = None) -> None:
        """Write what is buffered; on failure it stays buffered for the next attempt.

        Except an entry that cannot be written for what it holds (`_UNWRITABLE`), which
        would otherwise hold back every entry recorded after it, for good. The batch is then
        written entry by entry, and each such entry is logged in full and dropped."""
        if not self._buffer:
            return
        seconds = seconds or WRITE_SECONDS
        batch = list(self._buffer)
        self._buffer.clear()
        try:
            try:
                await self._write(batch, seconds)
            except _UNWRITABLE:
                for index, entry in enumerate(batch):
                    try:
                        await self._write([entry], seconds)
                    except _UNWRITABLE as error:
                        log.error("audit trail: entry that cannot be written dropped "
                                  "(%s): %r", error, entry)
                    except BaseException:
                        batch = batch[index:]
                        raise
        except BaseException:
            self._dropped += max(0, len(batch) + len(self._buffer) - MAX_BUFFER)
            self._buffer = deque([*batch, *self._buffer], maxlen=MAX_BUFFER)
            raise
        finally:
            if self._dropped:
                log.error("audit trail: %d entries dropped, the oldest (at most %d wait while "
                          "the trail cannot be written)", self._dropped, MAX_BUFFER)
                self._dropped = 0

    async def _write(self, entries: list[tuple[Any, ...]], seconds: float) -> None:
        async with self._pool.acquire() as conn:
            writing = _write_skipping_written(conn, entries)
            if self._watchdog is None:
                await writing
            else:
                await self._watchdog.run(conn, writing, seconds)

    async def close(self) -> None:
        """Stop the writer, then write what is left, within CLOSE_WRITE_SECONDS when
        watched. A write under way is cancelled; on a server that does not answer, the
        watchdog closes its connection a second later (asyncpg would give it back only once
        the server acknowledged the cancel, and the node's shutdown waited for good)."""
        self._stopping = True
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        try:
            await self.flush(CLOSE_WRITE_SECONDS)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                asyncpg.InternalClientError) as error:
            # what the writer takes for a failed write (a session ended mid-COPY was raised
            # out of the node's shutdown, nothing logged); each entry in full, as one the
            # database refuses is (flush), for the operator to put back: only their number
            # was logged, and who had asked what was lost
            log.error("audit trail: %d entries not written at shutdown (%s); each follows",
                      len(self._buffer), _described(error))
            for entry in self._buffer:
                log.error("audit trail: entry not written: %r", entry)


async def _write_skipping_written(conn: asyncpg.Connection,
                                  entries: list[tuple[Any, ...]]) -> None:
    """`entries` into the trail, but those already there (by `entry_id` and `at`): a batch
    tried again after a write whose acknowledgement was lost.

    First straight into the trail, one COPY, which is all or nothing: an entry already
    there fails it on the trail's unique index (an id is 63 random bits, so nothing else
    does), and only then is the batch written through the session's batch table, skipping
    those. Every batch went through that table, which cost PostgreSQL twice the rows' work
    and the node two statements more (11-12 µs of the server's CPU an entry against 5-6, a
    throwaway measurement, 2026-12-06), for the rare retry."""
    try:
        await copy_in(conn, "audit_trail", entries, _COLUMNS)
        return
    except asyncpg.UniqueViolationError:
        pass
    async with conn.transaction():
        await conn.execute(_BATCH_TABLE)
        await copy_in(conn, "audit_batch", entries, _COLUMNS)
        await conn.execute(_FROM_BATCH)


def _described(error: BaseException) -> str:
    """An error's type and text: a timeout's text is empty ("not written yet ()")."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def entries(conn: asyncpg.Connection, *, since: datetime | None = None,
                  until: datetime | None = None, caller: str | None = None,
                  dataset: str | None = None, limit: int = 100) -> list[asyncpg.Record]:
    """The latest entries, newest first, optionally in [since, until) and of one caller or
    dataset."""
    return await conn.fetch(
        """SELECT at, request_id, caller, endpoint, datasets, query
           FROM audit_trail
           WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::text IS NULL OR caller = $2)
             AND ($3::text IS NULL OR datasets::jsonb ? $3)
             AND ($5::timestamptz IS NULL OR at < $5)
           ORDER BY at DESC, request_id DESC LIMIT $4""", since, caller, dataset, limit, until)


async def summary(conn: asyncpg.Connection, *, since: datetime | None = None,
                  until: datetime | None = None, caller: str | None = None
                  ) -> list[tuple[date, str, str, int, int, int]]:
    """Per day, caller and dataset: requests, requests that found something, budget spent;
    optionally in [since, until) and of one caller."""
    rows = await conn.fetch(
        """SELECT (a.at AT TIME ZONE 'UTC')::date AS day, a.caller, d.key AS dataset,
                  count(*) AS requests,
                  count(*) FILTER (WHERE (d.value ->> 'exists')::boolean) AS hits,
                  coalesce(sum((d.value ->> 'spent')::int), 0) AS spent
           FROM audit_trail a CROSS JOIN LATERAL jsonb_each(a.datasets::jsonb) AS d
           WHERE ($1::timestamptz IS NULL OR a.at >= $1)
             AND ($2::timestamptz IS NULL OR a.at < $2) AND ($3::text IS NULL OR a.caller = $3)
           GROUP BY 1, 2, 3 ORDER BY 1 DESC, 4 DESC, 2, 3""", since, until, caller)
    return [(r["day"], r["caller"], r["dataset"], r["requests"], r["hits"], r["spent"])
            for r in rows]
