"""Loading one VCF into one dataset: parallel parse + COPY into staging, index, atomic swap.

Per-record Python work is the bottleneck (PostgreSQL idles most of the time during COPY), so
an indexed file is cut into regions that worker processes read with pysam and COPY straight
into the staging table over their own connections. An unindexed file is read by one worker
from start to end. Whatever fails, the staging table is dropped and the previous version of
the dataset stays in place: only `store.swap_in` makes the new rows visible.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.synchronize
import os
import queue
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from auth.access import AccessLevel
from auth.dataset_id import check_dataset_id
from beacon import fork_server, individuals_store, store
from beacon.assemblies import Assembly
from beacon.individuals_rows import individuals_load
from beacon.ingest_worker import (
    SESSION,
    Job,
    init_worker,
    locate_problem,
    ready,
    run_job,
)
from beacon.phenopackets import read_individuals
from beacon.prepare import prepare
from beacon.vcf import (
    ChunkStats,
    Region,
    VcfLayout,
    VcfProblem,
    check_file,
    check_info_counts,
    contig_length,
    inspect_vcf,
    locate_duplicate,
    plan_regions,
    sex_masks,
    skip_duplicates,
)
from beacon.visibility import KeptAccounts, keep_accounts, keep_set_answers
from beacon.workdirs import held, remove_abandoned

log = logging.getLogger(__name__)
# How long an abandoned ingest waits for its database to clean up (cancel the workers' COPYs,
# drop the staging table, close): a server that stopped answering (hung, stopped, behind a
# network that drops its packets) never does, and Ctrl-C or SIGTERM waited for it for good.
CLEANUP_SECONDS = 5.0


@dataclass(frozen=True)
class IngestRequest:
    path: Path
    dataset_id: str
    assembly: Assembly | None           # None: the header's, else the default (vcf.py)
    access_level: AccessLevel
    title: str
    description: str = ""
    metadata: dict = field(default_factory=dict)
    skip_invalid: bool = False
    workers: int = 0
    individuals: Path | None = None     # phenopackets (or CSV) of the VCF's samples
    keep_filtered: bool = False         # load records failing FILTER too (vcf._failed_filter)
    assembly_given_by: str = "--assembly"   # who named `assembly`, for a refusal to say
    force_assembly: bool = False        # load on `assembly` whatever the header names
    # whose ControlledAccessGrants grant the dataset (auth/policy.py governed_keys); None:
    # those it names already (none for a new one). A new version naming none does not open
    # the dataset to every accepted source by omission.
    grant_sources: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PeopleChange:
    """Who a new version adds to the dataset and who it no longer holds (by sample id), for
    the operator: two versions' counts differ by exactly those people's genotypes, which a
    caller who read both can read off, so a change of fewer people than the floor publishes
    theirs (docs/privacy.md, "Two versions' rows differ by the people between them")."""

    added: int
    removed: int

    @classmethod
    def between(cls, earlier: list[str], samples: list[str]) -> PeopleChange:
        held = set(earlier).intersection(samples)
        return cls(len(set(samples)) - len(held), len(set(earlier)) - len(held))


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
    # records skipped because their FILTER is neither PASS nor '.', per FILTER value
    failed_filter: dict[str, int] = field(default_factory=dict)
    note: str | None = None             # how the file was prepared to be read, if it was
    assembly: str = ""                  # what the file was loaded on
    assembly_reason: str = ""           # and why: the operator, the header, the default
    # other datasets holding samples of the same ids, how many (individuals_store.sharing)
    sharing: dict[str, int] = field(default_factory=dict)
    # those of them holding the same samples in the same order (individuals_store.alike)
    alike: list[str] = field(default_factory=list)
    # the callers' accounts of the version replaced, carried or dropped (None: there were none)
    accounts: KeptAccounts | None = None
    # how the people differ from the version replaced's (None: there was none)
    people_change: PeopleChange | None = None
    # the phenopackets' disease onsets and ages at the last encounter given in another form
    # than an age (ageRange, ontologyClass, ...): held as unknown, which age filters do not see
    unaged: int = 0


ProgressCallback = Callable[[int, float | None], None]   # (records so far, fraction or None)


def _region_size(layout: VcfLayout, region: Region | None) -> int:
    if region is not None:
        return region.end - region.start
    return sum(contig_length(layout, c) for c in layout.contigs)


class InterruptedAfterSwap(Exception):
    """An ingest interrupted (Ctrl-C, SIGTERM) once its version was put in place: the load
    is complete and answers queries, only the report after the swap was not made. Said as
    "Aborted!", exit 1, it read as the all-or-nothing ingest's "nothing changed", while the
    dataset had moved to the new version (found by a review, 2026-12-06)."""

    def __init__(self, dataset_id: str, version: int) -> None:
        self.dataset_id, self.version = dataset_id, version
        super().__init__(f"{dataset_id}: interrupted after version {version} was put in "
                         "place: the load is complete and answers queries; the rest of its "
                         "report (which datasets share its people) was not made")


@dataclass
class _Swapped:
    """The version an ingest put in place, once its swap has committed."""

    version: int | None = None


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


@dataclass
class _Workers:
    pool: ProcessPoolExecutor
    messages: multiprocessing.Queue     # their progress
    stop: multiprocessing.synchronize.Event  # set: every job stops at its next report
    count: int                          # at most, as the operator asked


@contextmanager
def _workers(db_url: str, path: Path, count: int, work: Path) -> Iterator[_Workers]:
    """Up to `count` worker processes, one per core started at once: each connects to the
    database and opens the file (its index: 40 ms at 1M records) while the coordinator reads
    the header and creates the staging table, so that the first record is read as soon as
    that exists (with the fork server started first, 44 ms sooner at 1M records and a
    10,000-record ingest 10% shorter, docs/benchmarks.md). The pool starts a process for each
    job it is given while none is idle: the rest, if more were asked for, as the regions
    come. A file with fewer regions than started workers leaves one idle; a file or database
    the coordinator cannot use ends them unused; an ingest that waits for another of the
    same dataset (its lock) keeps them waiting too, idle, each with its connection. Their
    htslib logs are written in the ingest's directory `work`."""
    messages, stop = fork_server.WORKERS.Queue(), fork_server.WORKERS.Event()
    log_dir = work / "logs"
    log_dir.mkdir()
    with ProcessPoolExecutor(count, mp_context=fork_server.WORKERS, initializer=init_worker,
                             initargs=(os.getpid(), db_url, messages, stop, str(log_dir), path)
                             ) as pool:
        for _ in range(min(count, os.cpu_count() or 1)):
            pool.submit(ready)
        yield _Workers(pool, messages, stop, count)


async def _load(workers: _Workers, coordinator: asyncpg.Connection, layout: VcfLayout,
                table: str, request: IngestRequest, progress: ProgressCallback | None,
                ) -> tuple[ChunkStats, int, int]:
    """Every region read and COPYed by the workers; they end with it."""
    regions = plan_regions(layout)
    pool, messages = workers.pool, workers.messages
    tracker = _ProgressTracker(layout, regions, progress)
    stop = asyncio.Event()
    try:
        drainer = asyncio.create_task(_drain(messages, tracker, stop))
        jobs = [Job(i, layout, region, table, request.skip_invalid)
                for i, region in enumerate(regions)]
        submitted = [pool.submit(run_job, job) for job in jobs]
        futures = {asyncio.wrap_future(f): job for f, job in zip(submitted, jobs)}
        for future in futures:
            future.add_done_callback(_heard)
        try:
            totals = await _gather(futures, tracker)
        except VcfProblem as problem:
            if await _abandon(coordinator, table, submitted, workers):
                raise                               # no worker is left to locate it
            raise await _precise(problem, layout, pool, request.skip_invalid) from None
        except BrokenProcessPool:               # a worker died: killed, out of memory
            await _abandon(coordinator, table, submitted, workers, broken=True)
            raise
        except BaseException:
            await _abandon(coordinator, table, submitted, workers)
            raise
        finally:
            stop.set()
            await drainer
    finally:
        await _end(pool)
    tracker.emit()
    return totals, min(workers.count, len(regions)), len(regions)


def _heard(job: asyncio.Future) -> None:
    """A job's failure taken as heard: `_gather` re-raises the first, and those of the jobs
    an abandoned ingest stops (their COPYs cancelled) are its consequence. Unread, asyncio
    logged each with its worker's traceback ("Future exception was never retrieved") under
    the ingest's one-line refusal or "Aborted!"."""
    if not job.cancelled():
        job.exception()


async def _end(pool: ProcessPoolExecutor) -> None:
    """The workers ended, each closing its connection (ingest_worker `_close`, bounded), off
    the event loop: waited for on it, the ingest's SIGTERM handler could not run meanwhile.
    Workers not ended within CLEANUP_SECONDS are killed."""
    processes = list(pool._processes.values()) if pool._processes else []  # (see `_abandon`)
    ending = asyncio.ensure_future(asyncio.to_thread(pool.shutdown))
    try:
        await asyncio.wait_for(asyncio.shield(ending), CLEANUP_SECONDS)
    except TimeoutError:
        log.warning("the workers did not end within %.0f s: killing them", CLEANUP_SECONDS)
        for process in processes:
            process.kill()
        await ending


async def _gather(futures: dict[asyncio.Future, Job], tracker: _ProgressTracker) -> ChunkStats:
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
            for value, n in stats.failed_filter.items():
                totals.failed_filter[value] = totals.failed_filter.get(value, 0) + n
            totals.sites.extend(stats.sites)
            totals.sites_dropped += stats.sites_dropped
    return totals


async def _abandon(conn: asyncpg.Connection, table: str, jobs: list[Future],
                   workers: _Workers, broken: bool = False) -> bool:
    """Stop the jobs not yet started, the running ones at their next progress report, and
    the COPYs under way, and wait for every job to end (the jobs themselves: a cancelled
    job's asyncio wrapper is done at once, running or not).
    A `broken` pool fails each of its jobs itself and ends its workers. Cancelling a job while
    it does so would end the pool's manager thread instead (Python 3.11's `terminate_broken`
    sets the exception of a cancelled future: InvalidStateError), before it ends the other
    workers or fails the other jobs, and the ingest would wait for them for good.

    A database that does not answer within CLEANUP_SECONDS cancels no COPY, and its
    connection is closed (nor would it drop the staging table: the next ingest, the node's
    start or `gdi-node db clean` will). Jobs still running CLEANUP_SECONDS later are waiting
    for it: their workers are killed, and True returned."""
    pool = workers.pool
    workers.stop.set()              # the running jobs stop reading (ingest_worker `_reporter`)
    if not broken:
        for job in jobs:
            job.cancel()
    # the coordinator's session may be gone too (the server ended them all, or restarted):
    # the workers' COPYs fail on their own, and their jobs are still waited for
    await _cleanup(conn, store.cancel_writers(conn, table),
                   f"could not cancel the COPYs into {table}")
    _, running = await asyncio.to_thread(concurrent.futures.wait, jobs, CLEANUP_SECONDS)
    if not running:
        return False
    log.warning("%d jobs did not stop within %.0f s: killing the workers", len(running),
                CLEANUP_SECONDS)
    # The executor's own table of its processes: Python 3.11 has no public way to end
    # workers busy with a job. Killed, they break the pool, which fails their jobs and ends
    # its manager thread, once it has dropped the jobs cancelled above (the shutdown's
    # `cancel_futures`: see `broken` above).
    processes = list(pool._processes.values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    return True


async def _precise(problem: VcfProblem, layout: VcfLayout, pool: ProcessPoolExecutor,
                   skip_invalid: bool) -> VcfProblem:
    if problem.line is not None or not layout.indexed:
        return problem
    located: Future = pool.submit(locate_problem, layout, skip_invalid)
    return await asyncio.wrap_future(located) or problem


async def ingest(db_url: str, request: IngestRequest,
                 progress: ProgressCallback | None = None) -> IngestReport:
    """Load the file as the new version of the dataset, or raise leaving the old one intact.
    The database's schema must be current (the caller applies the migrations). A plain-gzip
    or unindexed file is read through a prepared copy (beacon/prepare.py); its problems are
    named against the file given. Its temporary files are in a directory of its own, and
    those of ingests that were killed are removed first (beacon/workdirs.py)."""
    check_dataset_id(request.dataset_id)
    check_file(request.path)            # before the workers open it: a pipe they wait on
    fork_server.start()
    remove_abandoned()
    swapped = _Swapped()
    with held() as work:
        (work / "prepared").mkdir()
        prepared = prepare(request.path, work / "prepared")
        try:
            report = await _ingest(db_url, request, prepared.path, progress, work, swapped)
        except VcfProblem as problem:
            if prepared.path == request.path:
                raise
            raise VcfProblem(request.path, problem.reason, problem.line,
                             problem.locus, problem.binary) from None
        except (asyncio.CancelledError, KeyboardInterrupt):
            if swapped.version is None:
                raise
            raise InterruptedAfterSwap(request.dataset_id, swapped.version) from None
    return dataclasses.replace(report, note=prepared.note, first_skip=_as_given(
        report.first_skip, prepared.path, request.path))


def _as_given(skipped: str | None, read: Path, given: Path) -> str | None:
    """The first skipped record's `file:line: reason` naming the file the operator gave
    where the file read was a prepared copy of it (the lines are the same), as a refusal
    does: a temporary file, gone once the ingest ended, was named."""
    if skipped is None or read == given or not skipped.startswith(f"{read}:"):
        return skipped
    return f"{given}{skipped.removeprefix(str(read))}"


async def _ingest(db_url: str, request: IngestRequest, path: Path,
                  progress: ProgressCallback | None, work: Path, swapped: _Swapped
                  ) -> IngestReport:
    began = time.monotonic()
    with _workers(db_url, path, request.workers or os.cpu_count() or 1, work) as workers:
        layout = dataclasses.replace(inspect_vcf(path, request.assembly,
                                                 request.assembly_given_by,
                                                 request.force_assembly),
                                     carriers_wanted=request.individuals is not None,
                                     keep_filtered=request.keep_filtered)
        if layout.samples and layout.info_counts and not layout.counts_from_genotypes:
            # loaded from INFO, its genotypes unread: counts they contradict are refused
            problem = check_info_counts(layout)
            if problem is not None:
                raise problem
        # the samples are individuals where their genotypes are read (beacon/vcf.py)
        samples = layout.sample_names if layout.counts_from_genotypes else ()
        people, unaged = _people(request, samples)
        # a called site's alleles on chrX, chrY and chrMT are counted by sex (beacon/vcf.py
        # `_called_alleles`), as the variants' rows count them
        layout = dataclasses.replace(layout, sexes=sex_masks([row[2] for row in
                                                              people.individuals]))
        conn = await asyncpg.connect(db_url, server_settings=SESSION)
        try:
            report = await _locked(conn, db_url, request, workers, layout, people, began,
                                   progress, swapped)
            return dataclasses.replace(report, unaged=unaged)
        finally:
            await _close(conn)


def _people(request: IngestRequest,
            samples: Sequence[str]) -> tuple[individuals_store.IndividualsLoad, int]:
    """The rows of the samples' individuals, and how many of the phenopackets' onsets and
    ages were given in a form other than an age (beacon/phenopackets.py `_unaged`), for the
    report to say: the phenopackets themselves are not kept through the load."""
    individuals = read_individuals(request.individuals) if request.individuals else None
    return (individuals_load(samples, individuals, request.individuals, request.dataset_id),
            sum(individual.unaged for individual in individuals or ()))


async def _close(conn: asyncpg.Connection) -> None:
    """Closed gracefully, or within CLEANUP_SECONDS aborted (asyncpg's close does so at its
    timeout, unlike the steps `_cleanup` bounds): a server that does not answer never
    acknowledges a close."""
    with contextlib.suppress(TimeoutError):
        await conn.close(timeout=CLEANUP_SECONDS)


async def _cleanup(conn: asyncpg.Connection, step: Awaitable[object], failed: str) -> None:
    """A step of cleaning up after an abandoned ingest, on `conn`, given CLEANUP_SECONDS:
    at that, its connection is aborted. Its failure is logged (`failed`: what was not done)
    and not raised: the failure that ended the ingest is what to say."""
    try:
        async with asyncio.timeout(CLEANUP_SECONDS):
            await step
    except TimeoutError:
        conn.terminate()
        log.warning("%s: the database did not answer within %.0f s", failed, CLEANUP_SECONDS)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        log.warning("%s: %s", failed, exc)


async def _locked(conn: asyncpg.Connection, db_url: str, request: IngestRequest,
                  workers: _Workers, layout: VcfLayout,
                  people: individuals_store.IndividualsLoad, began: float,
                  progress: ProgressCallback | None, swapped: _Swapped) -> IngestReport:
    """The load, the indexes and the swap, under the dataset's lock; the version put in
    place noted in `swapped` as soon as the swap has committed."""
    await store.drop_abandoned_staging(conn)
    async with store.dataset_lock(conn, request.dataset_id):
        # refused before the load as well as in the swap (which decides): at once
        await store.check_keys(conn, request.dataset_id, request.metadata)
        # decided here: the version in place changes only under the dataset's lock
        await store.check_accounting(conn, request.dataset_id, layout.counts_from_genotypes)
        table = await store.create_staging(conn, request.dataset_id,
                                           annotated=layout.annotation is not None)
        try:
            totals, used, regions = await _load(workers, conn, layout, table, request,
                                                progress)
            _refuse_unplaced(layout, totals)
            _refuse_all_skipped(layout, totals)
            second = await asyncpg.connect(db_url, server_settings=SESSION)
            try:
                await store.index_staging(conn, second, table, request.dataset_id,
                                          every_duplicate=request.skip_invalid)
            except store.DuplicateVariants as found:
                if not request.skip_invalid:
                    raise await asyncio.to_thread(locate_duplicate, layout, found.keys) or \
                        VcfProblem(layout.path,
                                   f"a variant is stored twice ({found.keys[0]})") from None
                await _skip_duplicates(conn, layout, table, request.dataset_id, found.keys,
                                       totals)
            finally:
                await _close(second)

            async def beside(c: asyncpg.Connection) -> None:
                """What belongs to the version beside its variants."""
                await individuals_store.replace(c, request.dataset_id, people)
                await keep_set_answers(c, request.dataset_id)
                await store.replace_sites(c, request.dataset_id, totals.sites)
                if request.grant_sources is not None:
                    await store.set_grant_sources(c, request.dataset_id,
                                                  request.grant_sources)

            kept: list[KeptAccounts] = []
            changed: list[PeopleChange] = []

            async def carry(c: asyncpg.Connection, earlier: str, version: int) -> None:
                """What callers were told of the version in place: to the new one, or not."""
                samples = [row[1] for row in people.individuals]     # ids, in sample order
                held = await individuals_store.sample_ids(c, request.dataset_id)
                # the swap's last try's: an earlier one was rolled back (store.swap_in)
                kept[:] = [await keep_accounts(c, request.dataset_id, earlier, table,
                                               version, samples, held)]
                changed[:] = [PeopleChange.between(held, samples)]

            version = swapped.version = await store.swap_in(
                conn, _new_version(request, layout, totals), table, also=beside, carry=carry)
            sharing = await individuals_store.sharing(conn, request.dataset_id)
            alike = await individuals_store.alike(conn, request.dataset_id)
        except BaseException:
            await _cleanup(conn, store.drop_staging(conn, table),
                           f"could not drop {table} (the next ingest, the node's start or "
                           "`gdi-node db clean` will)")
            raise
    return IngestReport(request.dataset_id, version, totals.records, totals.rows, layout.samples,
                        totals.skipped_records, totals.skipped_alleles,
                        round(time.monotonic() - began, 3), used, regions, totals.first_skip,
                        layout.samples if request.individuals else 0, totals.elsewhere,
                        totals.failed_filter, assembly=layout.assembly.id,
                        assembly_reason=layout.assembly_reason, sharing=sharing, alike=alike,
                        accounts=kept[0] if kept and kept[0].callers else None,
                        people_change=changed[0] if changed else None)


def _refuse_unplaced(layout: VcfLayout, totals: ChunkStats) -> None:
    """VcfProblem for a file none of whose records lies on the assembly's chromosomes: its
    contigs are named as no assembly names them (`chr01`), or it is another genome's. Each
    such record is skipped and counted as a decoy's is, and a file of nothing else loaded as
    an empty version that replaced the dataset's, exit 0 (found by a review, 2026-12-05)."""
    if not totals.records or sum(totals.elsewhere.values()) < totals.records:
        return
    counted = sorted(totals.elsewhere.items())
    shown = ", ".join(f"{contig} {n}" for contig, n in counted[:5])
    more = f" and {len(counted) - 5} more" if len(counted) > 5 else ""
    raise VcfProblem(layout.path, f"none of its {totals.records} records lies on "
                                  f"{layout.assembly.id}'s chromosomes (contigs {shown}{more}): "
                                  "is the file on another genome, or are its contigs named as "
                                  "no assembly names them (1, chr1, NC_000001.11 are "
                                  "chromosome 1)?")


def _refuse_all_skipped(layout: VcfLayout, totals: ChunkStats) -> None:
    """VcfProblem for a file every record of which was left out, each failing its FILTER
    or invalid and skipped on request (--skip-invalid): it loaded an empty version that
    replaced the dataset's, exit 0, its counts reported as a load's (found by a review,
    2026-12-05). A file of reference-only sites, or of no records, is not this."""
    failing = sum(totals.failed_filter.values())
    if not totals.records or totals.rows or totals.skipped_records + failing < totals.records:
        return
    why = []
    if totals.skipped_records:
        first = f"; the first: {totals.first_skip}" if totals.first_skip else ""
        why.append(f"{totals.skipped_records} invalid, skipped as --skip-invalid asked{first}")
    if failing:
        counted = ", ".join(f"{value} {n}" for value, n in sorted(totals.failed_filter.items()))
        why.append(f"{failing} failing FILTER: {counted}; --keep-filtered loads them")
    raise VcfProblem(layout.path, f"none of its {totals.records} records would be loaded "
                                  f"({'; '.join(why)}): the version the dataset has stays")


async def _skip_duplicates(conn: asyncpg.Connection, layout: VcfLayout, table: str,
                           dataset_id: str, keys: list[store.VariantKey],
                           totals: ChunkStats) -> None:
    """--skip-invalid: each record repeating a variant an earlier record holds is skipped,
    and counted and reported as an invalid record is, at its line; the first keeps it. The
    repeats are found in the staging table after the load (store.index_staging), so they
    are taken out of it there (vcf.skip_duplicates, store.replace_duplicates)."""
    found = await asyncio.to_thread(skip_duplicates, layout, keys)
    await store.replace_duplicates(conn, table, dataset_id, found.keys, found.kept,
                                   found.columns)
    totals.skipped_records += found.skipped
    totals.rows -= found.rows
    totals.first_skip = totals.first_skip or found.first


def _new_version(request: IngestRequest, layout: VcfLayout,
                 totals: ChunkStats) -> store.DatasetVersion:
    source = {"file": request.path.name, "bytes": request.path.stat().st_size,
              "records": totals.records, "skippedRecords": totals.skipped_records,
              "skippedAlleles": totals.skipped_alleles,
              **({"recordsOffAssembly": totals.elsewhere} if totals.elsewhere else {}),
              **({"recordsFailingFilter": totals.failed_filter} if totals.failed_filter
                 else {}),
              **({"calledSites": len(totals.sites)} if totals.sites else {}),
              **({"calledSitesNotKept": totals.sites_dropped} if totals.sites_dropped else {}),
              **({"individuals": request.individuals.name} if request.individuals else {})}
    return store.DatasetVersion(
        id=request.dataset_id, assembly=layout.assembly.id,
        access_level=request.access_level.value, title=request.title,
        description=request.description, variant_count=totals.rows,
        record_count=totals.records, sample_count=layout.samples,
        max_variant_length=totals.max_length, source=source, metadata=request.metadata,
        genotyped=layout.counts_from_genotypes)
