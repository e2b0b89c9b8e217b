"""What an ingest's worker processes run: read regions of the VCF and COPY their rows into
the staging table, each over its own connection.

Kept apart from beacon/ingest.py so that the fork server the workers are forked from
(beacon/ingest.py) imports only the reader and the COPY, not the query, disclosure and
individuals code the coordinator needs: about half a second of CPU when each worker, then a
fresh interpreter, imported it.
"""
from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.synchronize
import multiprocessing.util
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pysam

from beacon import store
from beacon.vcf import (
    ChunkStats,
    HtslibLog,
    NeedGenotypes,
    ReadOptions,
    Region,
    VcfLayout,
    VcfProblem,
    contig_length,
    open_vcf,
    read_rows,
    row_columns,
)

# An ingest's sessions are never ended for idling: the coordinator holds the dataset's lock
# on one that waits through the whole load while the workers copy, and a server (or a proxy)
# ending idle sessions ended it, the lock gone mid-load and the ingest failing only at its
# index build, after the load (found by a review, 2026-12-05). PostgreSQL 14 and later.
SESSION = {"idle_session_timeout": "0"}

ORPHAN_POLL_SECONDS = 1.0
# How long a worker ending gives its connection to close gracefully before it aborts it: a
# server that stopped answering, or a session left mid-COPY, never acknowledges the close.
CLOSE_SECONDS = 2.0


@dataclass(frozen=True)
class Job:
    index: int
    layout: VcfLayout
    region: Region | None
    table: str
    skip_invalid: bool


@dataclass
class _WorkerState:
    """What a worker process keeps between jobs: its event loop and database connection."""

    loop: asyncio.AbstractEventLoop
    conn: asyncpg.Connection
    progress: multiprocessing.Queue
    stop: multiprocessing.synchronize.Event     # set by an abandoned ingest (beacon/ingest.py)
    htslib_log: HtslibLog
    files: dict[tuple[Path, bool], pysam.VariantFile] = field(default_factory=dict)

    def open(self, path: Path, drop_samples: bool) -> pysam.VariantFile:
        """One open handle per file and mode for all the regions this worker reads."""
        key = (path, drop_samples)
        if key not in self.files:
            self.files[key] = open_vcf(path, drop_samples=drop_samples)
        return self.files[key]


_worker: _WorkerState | None = None      # one per worker process, set by init_worker


def _die_with(coordinator: int) -> None:
    """A worker must not outlive its coordinator, whatever kills it (kill -9 included): an
    orphan would go on loading, hold a database connection and keep the coordinator's
    stdout open, so a supervisor waiting for EOF would wait forever. Its parent, the fork
    server (beacon/ingest.py), lives as long as any of its children does, so the worker
    watches the coordinator itself: a thread waits on a descriptor of that process (Linux's
    pidfd) and ends the worker when it exits; where there is none, the thread asks every
    ORPHAN_POLL_SECONDS."""
    try:
        handle = os.pidfd_open(coordinator)
    except ProcessLookupError:
        os._exit(1)                              # gone already
    except (AttributeError, OSError):            # not Linux, or a kernel before 5.3
        def watch() -> None:
            while _running(coordinator):
                time.sleep(ORPHAN_POLL_SECONDS)
            os._exit(1)
    else:
        def watch() -> None:
            select.select([handle], [], [])      # readable once the process has exited
            os._exit(1)
    threading.Thread(target=watch, name="coordinator-watch", daemon=True).start()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def init_worker(coordinator: int, db_url: str, progress: multiprocessing.Queue,
                stop: multiprocessing.synchronize.Event, log_dir: str, path: Path) -> None:
    """Connect, and open `path` as a file without its samples, what the regions of most
    files are read from (beacon/ingest.py `_workers`). One the worker cannot open is left
    to its first job, which says why."""
    global _worker
    _die_with(coordinator)
    log_path = Path(log_dir) / f"htslib-{os.getpid()}.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)                          # htslib writes its reasons to fd 2
    loop = asyncio.new_event_loop()
    try:
        conn = loop.run_until_complete(asyncpg.connect(db_url, server_settings=SESSION))
        # The rows are only made durable by the swap's commit; a crash discards staging
        # anyway.
        loop.run_until_complete(conn.execute("SET synchronous_commit = off"))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        global _unconnected
        _unconnected = WorkerCannotConnect(
            f"a worker could not connect to the database ({type(exc).__name__}: {exc}); "
            "each worker holds a connection of its own: ask for fewer with --workers, or "
            "let the server take more (max_connections)")
        return
    _worker = _WorkerState(loop, conn, progress, stop, HtslibLog(log_path))
    try:
        _worker.open(path, drop_samples=True)
    except VcfProblem:
        pass
    multiprocessing.util.Finalize(None, _close, (loop, conn), exitpriority=10)


def _close(loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection) -> None:
    """The worker's connection closed as it ends, within CLOSE_SECONDS, else aborted (asyncpg
    aborts it at the timeout, then raises): the coordinator waits for its workers to end, and
    an unbounded close held it, the dataset's lock with it, for good."""
    with contextlib.suppress(TimeoutError):
        loop.run_until_complete(conn.close(timeout=CLOSE_SECONDS))


def ready() -> None:
    """A job that only starts a worker (beacon/ingest.py `_workers`)."""


class Abandoned(Exception):
    """The ingest this job is part of was abandoned (Ctrl-C, SIGTERM, another job's
    failure): the job stops reading at its next progress report."""


def _reporter(job: Job, state: _WorkerState) -> Callable[[int, str, int], None]:
    """The job's progress report, every few tens of thousands of records (beacon/vcf.py
    `_PROGRESS_EVERY`), which is also where it sees that its ingest was abandoned: a COPY
    the coordinator cancelled in the database went on taking rows until its region was
    read (asyncpg sends a whole iterable before it reads the server's error), up to 30 Mbp
    of records, and every Ctrl-C waited CLEANUP_SECONDS for it and then killed the workers."""
    offsets = _contig_offsets(job.layout)

    def report(records: int, contig: str, start: int) -> None:
        if state.stop.is_set():
            raise Abandoned()
        done = start - job.region.start if job.region else offsets.get(contig, 0) + start
        state.progress.put_nowait((job.index, records, done))
    return report


class WorkerCannotConnect(Exception):
    """A worker's connection refused (too many clients, the server gone): its jobs fail
    with this, which the ingest reports. Raised in the pool's initializer, it broke the
    pool, and the operator read "A child process terminated abruptly", as for a worker the
    OOM killer ended, the reason left in a log the ingest then removed (found by a review,
    2026-12-05)."""


_unconnected: WorkerCannotConnect | None = None


def run_job(job: Job) -> ChunkStats:
    """Worker entry point: COPY one region, from INFO counts if possible, else from GT. A
    file read without its samples whose region holds a record without INFO counts
    (NeedGenotypes) has that region read again with them: that record is counted from its
    GT, the others still from INFO, and no row says which samples carry it unless they are
    the dataset's individuals (beacon/vcf.py `_carrier_bits`). What is stored of a record
    does not depend on the records it shares a region with."""
    state = _worker
    if state is None and _unconnected is not None:
        raise _unconnected
    assert state is not None, "worker not initialised"
    use_genotypes = job.layout.counts_from_genotypes
    try:
        return state.loop.run_until_complete(_copy_job(job, state, use_genotypes))
    except NeedGenotypes:
        return state.loop.run_until_complete(_copy_job(job, state, True))


async def _copy_job(job: Job, state: _WorkerState, use_genotypes: bool) -> ChunkStats:
    stats = ChunkStats()
    options = ReadOptions(use_genotypes=use_genotypes, samples_available=job.layout.samples > 0,
                          skip_invalid=job.skip_invalid, progress=_reporter(job, state),
                          htslib_log=state.htslib_log)
    handle = state.open(job.layout.path, drop_samples=not use_genotypes)
    await store.copy_rows(state.conn, job.table,
                          read_rows(job.layout, job.region, options, stats, handle),
                          row_columns(job.layout, options))
    return stats


def locate_problem(layout: VcfLayout, skip_invalid: bool) -> VcfProblem | None:
    """Re-read the file from the top to name the exact line of a problem a region found."""
    state = _worker
    stats = ChunkStats()
    options = ReadOptions.from_the_top(layout, skip_invalid,
                                       state.htslib_log if state else None)
    try:
        for _ in read_rows(layout, None, options, stats):
            pass
    except VcfProblem as problem:
        return problem
    return None


def _contig_offsets(layout: VcfLayout) -> dict[str, int]:
    offsets, total = {}, 0
    for contig in layout.contigs:
        offsets[contig] = total
        total += contig_length(layout, contig)
    return offsets
