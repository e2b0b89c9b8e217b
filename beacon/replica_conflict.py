"""A read on a streaming replica that the primary can answer: cancelled by the replica's own
replay of the primary's WAL, or cut off with the replica (stopped, crashed, restarted).

A hot standby cancels a query that holds its replay back for longer than
`max_standby_streaming_delay`: a lock the primary took (ACCESS EXCLUSIVE, as a swap dropping
an old partition takes), row versions the primary's vacuum removed. PostgreSQL calls it a
recovery conflict, SQLSTATE 40001 (40P01 for a buffer pin: RECOVERY): "canceling statement
due to conflict with recovery", or,
for a session idle inside a transaction (a wide lane's, between its statement and COMMIT),
"terminating connection", which asyncpg may raise as the lost connection it causes.
A replica that goes away ends its sessions (57P01 at a shutdown) or just their connections;
the statements under way on it fail as on any lost connection, and the node's router
(node/replicas.py) takes it out of rotation as the connection comes back to it.
Neither the query nor the primary is at fault and the primary would answer it, so where a
read runs the driver's error becomes `ReplicaConflict`, and beacon/workload.py's `Queries`
runs the statement once more on the primary: a read under way on a replica that stopped
was a 503, though the primary could answer it. Not an outage: node/http/outage.py would
probe the primary, which is fine. Only a statement on a replica qualifies (`replica`, which
the router says: node/replicas.py `on_replica`): a serialization failure on the primary is
not expected of these read-only statements and stays what it is (a 500, logged), and a
connection to the primary lost is the outage it is (a 503 with Retry-After).
"""
from __future__ import annotations

from collections.abc import Callable

import asyncpg
from asyncpg import exceptions as pg

# A connection lost under a statement: the server's end of the session (57P01, 57P02, 57P03,
# class 08), or the connection closed or broken under the driver (the error a transaction's
# exit on it raises in place of the statement's)
LOST = (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError,
        pg.PostgresConnectionError, pg.AdminShutdownError, pg.CrashShutdownError,
        pg.CannotConnectNowError)
# What a hot standby cancels a statement with for its replay: 40001, or 40P01 where the
# statement held a buffer pin the replay waited for ("User transaction caused buffer deadlock
# with recovery": PostgreSQL's standby.c), which these read-only statements raise for nothing
# else on a standby
RECOVERY = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
CANDIDATES = (*RECOVERY, *LOST)

# Whether a connection taken from a read pool is a replica's (None: there are no replicas)
OnReplica = Callable[[asyncpg.Connection], bool] | None


class ReplicaConflict(Exception):
    """A read on a replica was cancelled by its replay, or lost with the replica; the
    primary can answer it."""


def as_conflict(error: BaseException, connection: asyncpg.Connection,
                replica: OnReplica = None) -> BaseException:
    """`error`, raised by a statement on `connection`, as ReplicaConflict if it is a recovery
    conflict or the connection was a replica's (`replica` says) and is lost, else unchanged.
    A 40001 that ended the session (FATAL) is one wherever it came from: PostgreSQL ends a
    session with that code for nothing else. One that cancelled a statement is one on a
    server in hot standby (`in_hot_standby`, reported by PostgreSQL to the client at connect
    and whenever it changes; the connection is still open to ask). Called only once a
    statement has failed, so an answer that succeeds pays nothing."""
    cause = (error.__cause__ if isinstance(error, asyncpg.ConnectionDoesNotExistError)
             else error)
    if isinstance(cause, RECOVERY) and (
            cause.severity_en == "FATAL"
            or getattr(connection.get_settings(), "in_hot_standby", "off") == "on"):
        conflict = ReplicaConflict(str(cause))
    elif isinstance(error, LOST) and replica is not None and replica(connection):
        conflict = ReplicaConflict(f"the replica's connection was lost "
                                   f"({type(error).__name__}: {error})")
    else:
        return error
    conflict.__cause__ = error
    return conflict
