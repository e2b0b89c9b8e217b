"""Imported by the ingest's fork server alone, first of what it preloads (beacon/fork_server.py):
the server and every worker forked from it ignore SIGINT, SIGTERM and SIGHUP.

Ctrl-C at a terminal signals the command's whole process group, as its hang-up (a closed
terminal or ssh session) does, and so may a stop
(`kill -TERM -- -PGID`, a service manager that signals every process of the service). The
coordinator (beacon/ingest.py) owns an ingest's cancelling: it cancels the workers' COPYs in
the database, waits for their jobs and drops the staging table. A worker that took the SIGINT
itself broke off its COPY mid-stream and then hung closing its connection, which the
coordinator waited for, the dataset's lock held; a fork server ended by SIGTERM made every
worker look dead to the pool (their exit is read from the server), which then failed their
jobs while the coordinator was cancelling them. Neither outlives the coordinator: the server
ends when it does, each worker watches it (ingest_worker `_die_with`).

The server gives each process it forks the SIGINT disposition it had once its preloads were
imported, this one's SIG_IGN, and its SIGTERM one as it is: ignored from the worker's first
instruction, with no window before its initializer runs. Never imported by the coordinator,
whose own Ctrl-C this would disable (tests/test_architecture.py).
"""
import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
