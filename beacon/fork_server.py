"""The process an ingest's workers are forked from: a fork server that imported what they
run (beacon/ingest_worker.py) once, where a spawned worker imported it anew, 0.1-0.15 s of
CPU each before its first record.

A module of its own, importing nothing else, so that `gdi-node ingest` can start the server
before the ingest's own imports: the server's interpreter and imports (about 0.1 s) then
take the core the command leaves idle while it imports and reads the file's header, instead
of the time before the first record (docs/benchmarks.md). It serves every later ingest of
the process, and ends with it.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver

WORKERS = multiprocessing.get_context("forkserver")
# the signals first: the server and its workers leave them to the coordinator
WORKERS.set_forkserver_preload(["beacon.fork_server_signals", "beacon.ingest_worker"])


def start() -> None:
    """Start the server, unless it runs already."""
    multiprocessing.forkserver.ensure_running()
