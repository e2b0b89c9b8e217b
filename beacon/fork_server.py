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
import signal
import threading

WORKERS = multiprocessing.get_context("forkserver")
# the signals first: the server and its workers leave them to the coordinator
WORKERS.set_forkserver_preload(["beacon.fork_server_signals", "beacon.ingest_worker"])


def start() -> None:
    """Start the server, unless it runs already. It and multiprocessing's resource tracker,
    both started here, begin ignoring SIGHUP, which an ignored signal stays across their
    exec: a closed terminal or ssh session signals the command's whole process group, whose
    coordinator ends the ingest as at Ctrl-C (node/cli/common.py), and the tracker it
    killed was relaunched with a traceback for every semaphore it no longer knew."""
    if threading.current_thread() is not threading.main_thread():
        multiprocessing.forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGHUP, previous)
