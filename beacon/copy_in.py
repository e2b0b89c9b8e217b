"""COPY of records into a table, failing when the server ends the session.

asyncpg 0.32's `copy_records_to_table` waits for the socket to take more rows whenever it is
full, and is never told when the connection is lost meanwhile (a failover, a restart, an
administrator's `pg_terminate_backend`, a backend that crashed): the COPY, and whatever
awaits it, waited for good. Every COPY of the node goes through `copy_in`, whose connection's
termination listener ends that wait, so that it fails as any statement on a lost connection
does (tests/test_ingest_faults.py stops a COPY's server process so that its socket fills).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import asyncpg


async def copy_in(conn: asyncpg.Connection, table: str, records: Iterable[tuple],
                  columns: tuple[str, ...]) -> None:
    copy = asyncio.ensure_future(conn.copy_records_to_table(table, records=records,
                                                            columns=columns))
    lost: list[bool] = []

    def ended(_: object) -> None:
        lost.append(True)
        copy.cancel()
    conn.add_termination_listener(ended)
    try:
        await copy
    except asyncio.CancelledError:
        if lost:
            raise asyncpg.ConnectionDoesNotExistError(
                "the server ended the session during the COPY") from None
        raise
    except asyncpg.InterfaceError:
        # the COPY saw the connection closed before the listener ran (it is called soon
        # after, not at once): the same loss, said the same way, not "connection is closed"
        if conn.is_closed():
            raise asyncpg.ConnectionDoesNotExistError(
                "the server ended the session during the COPY") from None
        raise
    finally:
        # a pool's connection terminated meanwhile (the watchdog's doing) went back to its
        # pool with its listeners: its proxy refuses every call, and this one's error hid
        # the COPY's own ("connection has been released back to the pool")
        with contextlib.suppress(asyncpg.InterfaceError):
            conn.remove_termination_listener(ended)
