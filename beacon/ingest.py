"""Loading one VCF into one dataset: parallel parse + COPY into staging, index, atomic swap.

Per-record Python work is the bottleneck (PostgreSQL idles most of the time during COPY), so
an indexed file is cut into regions that worker processes read with pysam and COPY straight
into the staging table over their own connections. An unindexed file is read by one worker
from start to end. Whatever fails, the staging table is dropped and the previous version of
the dataset stays in place: only `store.swap_in` makes the new rows visible.
"""
from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.util
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pysam

from auth.access import AccessLevel
from auth.dataset_id import check_dataset_id
from beacon import individuals_store, store
from beacon.assemblies import Assembly
from beacon.individuals import individuals_load
from beacon.phenopackets import read_individuals
from beacon.prepare import prepare
from beacon.vcf import (
    ChunkStats,
    HtslibLog,
    NeedGenotypes,
    ReadOptions,
    Region,
    VcfLayout,
    VcfProblem,
    contig_length,
    inspect_vcf,
    open_vcf,
    read_rows,
)

log = logging.getLogger(__name__)
REGION_BP = 30_000_000       # ~100 regions on GRCh38: balances 2-8 workers, fine progress
PR_SET_PDEATHSIG = 1         # linux/prctl.h
ORPHAN_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class IngestRequest:
    path: Path
    dataset_id: str
    assembly: Assembly
    access_level: AccessLevel
    title: str
    description: str = ""
    metadata: dict = field(default_factory=dict)
    skip_invalid: bool = False
    workers: int = 0
    individuals: Path | None = None     # phenopackets (or CSV) of the VCF's samples


@dataclass(frozen=True)
class IngestReport:
    dataset_id: str
    version: int
    records: int
    rows: int
    samples: int
    skipped_records: int
    skipped_alleles: int
    seconds: float
    workers: int
    regions: int
    first_skip: str | None
    phenopackets: int = 0               # individuals loaded with a phenopacket
    # records skipped because their contig is not one of the assembly's chromosomes
    elsewhere: dict[str, int] = field(default_factory=dict)
    note: str | None = None             # how the file was prepared to be read, if it was


ProgressCallback = Callable[[int, float | None], None]   # (records so far, fraction or None)


@dataclass(frozen=True)
class _Job:
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
    htslib_log: HtslibLog
    files: dict[tuple[Path, bool], pysam.VariantFile] = field(default_factory=dict)

    def open(self, path: Path, drop_samples: bool) -> pysam.VariantFile:
        """One open handle per file and mode for all the regions this worker reads."""
        key = (path, drop_samples)
        if key not in self.files:
            self.files[key] = open_vcf(path, drop_samples=drop_samples)
        return self.files[key]


_worker: _WorkerState | None = None      # one per worker process, set by _init_worker


def _die_with(coordinator: int) -> None:
    """A worker must not outlive its coordinator, whatever kills it (kill -9 included): an
    orphan would go on loading, hold a database connection and keep the coordinator's
    stdout open, so a supervisor waiting for EOF would wait forever. Linux kills the worker
    when its parent dies; elsewhere a thread watches for the parent to change."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        def watch() -> None:
            while os.getppid() == coordinator:
                time.sleep(ORPHAN_POLL_SECONDS)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != coordinator:          # it died before the line above took effect
        os._exit(1)


def _init_worker(coordinator: int, db_url: str, progress: multiprocessing.Queue,
                 log_dir: str) -> None:
    global _worker
    _die_with(coordinator)
    log_path = Path(log_dir) / f"htslib-{os.getpid()}.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)                          # htslib writes its reasons to fd 2
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(asyncpg.connect(db_url))
    # The rows are only made durable by the swap's commit; a crash discards staging anyway.
    loop.run_until_complete(conn.execute("SET synchronous_commit = off"))
    _worker = _WorkerState(loop, conn, progress, HtslibLog(log_path))
    multiprocessing.util.Finalize(None, lambda: loop.run_until_complete(conn.close()),
                                  exitpriority=10)


def _reporter(job: _Job, state: _WorkerState) -> Callable[[int, str, int], None]:
    offsets = _contig_offsets(job.layout)

    def report(records: int, contig: str, start: int) -> None:
        done = start - job.region.start if job.region else offsets.get(contig, 0) + start
        state.progress.put_nowait((job.index, records, done))
    return report


def _run_job(job: _Job) -> ChunkStats:
    """Worker entry point: COPY one region, from INFO counts if possible, else from GT."""
    state = _worker
    assert state is not None, "worker not initialised"
    use_genotypes = job.layout.counts_from_genotypes
    try:
        return state.loop.run_until_complete(_copy_job(job, state, use_genotypes))
    except NeedGenotypes:
        return state.loop.run_until_complete(_copy_job(job, state, True))


async def _copy_job(job: _Job, state: _WorkerState, use_genotypes: bool) -> ChunkStats:
    stats = ChunkStats()
    options = ReadOptions(use_genotypes=use_genotypes, samples_available=job.layout.samples > 0,
                          skip_invalid=job.skip_invalid, progress=_reporter(job, state),
                          htslib_log=state.htslib_log)
    handle = state.open(job.layout.path, drop_samples=not use_genotypes)
    await store.copy_rows(state.conn, job.table,
                          read_rows(job.layout, job.region, options, stats, handle))
    return stats


def _locate_problem(layout: VcfLayout, skip_invalid: bool) -> VcfProblem | None:
    """Re-read the file from the top to name the exact line of a problem a region found."""
    state = _worker
    stats = ChunkStats()
    options = ReadOptions(use_genotypes=layout.counts_from_genotypes,
                          samples_available=layout.samples > 0, skip_invalid=skip_invalid,
                          htslib_log=state.htslib_log if state else None)
    try:
        for _ in read_rows(layout, None, options, stats):
            pass
    except VcfProblem as problem:
        return problem
    except NeedGenotypes:
        return None
    return None


def _contig_offsets(layout: VcfLayout) -> dict[str, int]:
    offsets, total = {}, 0
    for contig in layout.contigs:
        offsets[contig] = total
        total += contig_length(layout, contig)
    return offsets


def plan_regions(layout: VcfLayout) -> list[Region | None]:
    if not layout.indexed:
        return [None]
    regions: list[Region | None] = []
    for contig in layout.indexed_contigs:
        length = contig_length(layout, contig)
        pieces = max(1, math.ceil(length / REGION_BP))
        step = math.ceil(length / pieces)
        regions.extend(Region(contig, s, min(s + step, length), s + step >= length)
                       for s in range(0, length, step))
    return regions


def _region_size(layout: VcfLayout, region: Region | None) -> int:
    if region is not None:
        return region.end - region.start
    return sum(contig_length(layout, c) for c in layout.contigs)


class _ProgressTracker:
    """Turns workers' (job, records, bp done) messages into one records/fraction figure."""

    def __init__(self, layout: VcfLayout, regions: list[Region | None],
                 callback: ProgressCallback | None) -> None:
        self.sizes = [_region_size(layout, r) for r in regions]
        self.total_bp = sum(self.sizes)
        self.records = [0] * len(regions)
        self.done_bp = [0] * len(regions)
        self.callback = callback

    def message(self, index: int, records: int, done_bp: int) -> None:
        self.records[index] = records
        self.done_bp[index] = min(done_bp, self.sizes[index])

    def finished(self, index: int, stats: ChunkStats) -> None:
        self.message(index, stats.records, self.sizes[index])

    def emit(self) -> None:
        if self.callback is not None:
            fraction = sum(self.done_bp) / self.total_bp if self.total_bp else None
            self.callback(sum(self.records), fraction)


async def _drain(progress: multiprocessing.Queue, tracker: _ProgressTracker,
                 stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            while True:
                tracker.message(*progress.get_nowait())
        except queue.Empty:
            pass
        tracker.emit()
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except TimeoutError:
            pass


async def _load(db_url: str, coordinator: asyncpg.Connection, layout: VcfLayout, table: str,
                request: IngestRequest, progress: ProgressCallback | None,
                ) -> tuple[ChunkStats, int, int]:
    regions = plan_regions(layout)
    workers = max(1, min(request.workers or os.cpu_count() or 1, len(regions)))
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    tracker = _ProgressTracker(layout, regions, progress)
    stop = asyncio.Event()
    with tempfile.TemporaryDirectory(prefix="gdi-ingest-") as log_dir, \
            ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(os.getpid(), db_url, messages, log_dir)) as pool:
        drainer = asyncio.create_task(_drain(messages, tracker, stop))
        jobs = [_Job(i, layout, region, table, request.skip_invalid)
                for i, region in enumerate(regions)]
        futures = {asyncio.wrap_future(pool.submit(_run_job, job)): job for job in jobs}
        try:
            totals = await _gather(futures, tracker)
        except VcfProblem as problem:
            await _abandon(coordinator, table, futures)
            raise await _precise(problem, layout, pool, request.skip_invalid) from None
        except BaseException:
            await _abandon(coordinator, table, futures)
            raise
        finally:
            stop.set()
            await drainer
    tracker.emit()
    return totals, workers, len(regions)


async def _gather(futures: dict[asyncio.Future, _Job], tracker: _ProgressTracker) -> ChunkStats:
    totals = ChunkStats()
    pending = set(futures)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for future in done:
            stats = future.result()             # re-raises the first failure
            tracker.finished(futures[future].index, stats)
            totals.records += stats.records
            totals.rows += stats.rows
            totals.skipped_records += stats.skipped_records
            totals.skipped_alleles += stats.skipped_alleles
            totals.max_length = max(totals.max_length, stats.max_length)
            totals.first_skip = totals.first_skip or stats.first_skip
            for contig, n in stats.elsewhere.items():
                totals.elsewhere[contig] = totals.elsewhere.get(contig, 0) + n
            totals.sites.extend(stats.sites)
            totals.sites_dropped += stats.sites_dropped
    return totals


async def _abandon(conn: asyncpg.Connection, table: str,
                   futures: dict[asyncio.Future, _Job]) -> None:
    for future in futures:
        future.cancel()
    await store.cancel_writers(conn, table)
    await asyncio.gather(*futures, return_exceptions=True)


async def _precise(problem: VcfProblem, layout: VcfLayout, pool: ProcessPoolExecutor,
                   skip_invalid: bool) -> VcfProblem:
    if problem.line is not None or not layout.indexed:
        return problem
    located: Future = pool.submit(_locate_problem, layout, skip_invalid)
    return await asyncio.wrap_future(located) or problem


async def ingest(db_url: str, request: IngestRequest,
                 progress: ProgressCallback | None = None) -> IngestReport:
    """Load the file as the new version of the dataset, or raise leaving the old one intact.
    The database's schema must be current (the caller applies the migrations). A plain-gzip
    or unindexed file is read through a prepared copy (beacon/prepare.py); its problems are
    named against the file given."""
    check_dataset_id(request.dataset_id)
    with tempfile.TemporaryDirectory(prefix="gdi-prepare-") as work:
        prepared = prepare(request.path, Path(work))
        try:
            report = await _ingest(db_url, request, prepared.path, progress)
        except VcfProblem as problem:
            if prepared.path == request.path:
                raise
            raise VcfProblem(request.path, problem.reason, problem.line,
                             problem.locus) from None
    return dataclasses.replace(report, note=prepared.note)


async def _ingest(db_url: str, request: IngestRequest, path: Path,
                  progress: ProgressCallback | None) -> IngestReport:
    began = time.monotonic()
    layout = dataclasses.replace(inspect_vcf(path, request.assembly),
                                 carriers_wanted=request.individuals is not None)
    # the samples are individuals where their genotypes are read (beacon/vcf.py)
    samples = layout.sample_names if layout.counts_from_genotypes else ()
    people = individuals_load(samples, read_individuals(request.individuals)
                              if request.individuals else None, request.individuals,
                              request.dataset_id)
    conn = await asyncpg.connect(db_url)
    try:
        await store.drop_abandoned_staging(conn)
        async with store.dataset_lock(conn, request.dataset_id):
            table = await store.create_staging(conn, request.dataset_id)
            try:
                totals, workers, regions = await _load(db_url, conn, layout, table, request,
                                                       progress)
                await store.index_staging(conn, table, request.dataset_id)
                async def beside(c: asyncpg.Connection) -> None:
                    """What belongs to the version beside its variants."""
                    await individuals_store.replace(c, request.dataset_id, people)
                    await store.replace_sites(c, request.dataset_id, totals.sites)

                version = await store.swap_in(
                    conn, _new_version(request, layout, totals), table, also=beside)
            except BaseException:
                await asyncio.shield(store.drop_table(conn, table))
                raise
    finally:
        await conn.close()
    return IngestReport(request.dataset_id, version, totals.records, totals.rows, layout.samples,
                        totals.skipped_records, totals.skipped_alleles,
                        round(time.monotonic() - began, 3), workers, regions, totals.first_skip,
                        layout.samples if request.individuals else 0, totals.elsewhere)


def _new_version(request: IngestRequest, layout: VcfLayout,
                 totals: ChunkStats) -> store.DatasetVersion:
    source = {"file": request.path.name, "bytes": request.path.stat().st_size,
              "records": totals.records, "skippedRecords": totals.skipped_records,
              "skippedAlleles": totals.skipped_alleles,
              **({"recordsOffAssembly": totals.elsewhere} if totals.elsewhere else {}),
              **({"calledSites": len(totals.sites)} if totals.sites else {}),
              **({"calledSitesNotKept": totals.sites_dropped} if totals.sites_dropped else {}),
              **({"individuals": request.individuals.name} if request.individuals else {})}
    return store.DatasetVersion(
        id=request.dataset_id, assembly=request.assembly.id,
        access_level=request.access_level.value, title=request.title,
        description=request.description, variant_count=totals.rows,
        record_count=totals.records, sample_count=layout.samples,
        max_variant_length=totals.max_length, source=source, metadata=request.metadata,
        genotyped=layout.counts_from_genotypes)
