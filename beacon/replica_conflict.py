"""A read on a streaming replica cancelled by the replica's own replay of the primary's WAL.

A hot standby cancels a query that holds its replay back for longer than
`max_standby_streaming_delay`: a lock the primary took (ACCESS EXCLUSIVE, as a swap dropping
an old partition takes), row versions the primary's vacuum removed. PostgreSQL calls it a
recovery conflict, SQLSTATE 40001: "canceling statement due to conflict with recovery", or,
for a session idle inside a transaction (a wide lane's, between its statement and COMMIT),
"terminating connection", which asyncpg may raise as the lost connection it causes.
Neither the query nor the database is at fault and the primary would answer it, so where a
read runs the driver's error becomes `ReplicaConflict`, and beacon/workload.py's `Queries`
runs the statement once more on the primary. Not an outage: node/http/outage.py would probe
the primary, which is fine. Only a conflict on a replica qualifies: a serialization failure
on the primary is not expected of these read-only statements and stays what it is (a 500,
logged).
"""
from __future__ import annotations

import asyncpg

CANDIDATES = (asyncpg.SerializationError, asyncpg.ConnectionDoesNotExistError)


class ReplicaConflict(Exception):
    """A read on a replica was cancelled by its replay; the primary can answer it."""


def as_conflict(error: BaseException, connection: asyncpg.Connection) -> BaseException:
    """`error`, raised by a statement on `connection`, as ReplicaConflict if it is a recovery
    conflict, else unchanged. A 40001 that ended the session (FATAL) is one wherever it came
    from: PostgreSQL ends a session with that code for nothing else. One that cancelled a
    statement is one on a server in hot standby (`in_hot_standby`, reported by PostgreSQL to
    the client at connect and whenever it changes; the connection is still open to ask).
    Called only once a statement has failed, so an answer that succeeds pays nothing."""
    cause = (error.__cause__ if isinstance(error, asyncpg.ConnectionDoesNotExistError)
             else error)
    if isinstance(cause, asyncpg.SerializationError) and (
            cause.severity_en == "FATAL"
            or getattr(connection.get_settings(), "in_hot_standby", "off") == "on"):
        conflict = ReplicaConflict(str(cause))
        conflict.__cause__ = error
        return conflict
    return error
