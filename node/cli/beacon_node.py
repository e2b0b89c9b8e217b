"""`gdi-node serve`, `ingest`, `synth`, `datasets` and `remove`: the node's own commands. They
translate flags into calls on the Beacon core (ingest, store) and the synthetic data, and
errors into messages and exit codes."""
from __future__ import annotations

import json
import logging
import tempfile
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from node.cli.common import (
    PORT,
    configure_logs,
    connection,
    database_url,
    fail,
    listen,
    listen_each,
    migrated_database_url,
    run,
    settings_of,
)
from node.cli.common import serve as serve_app
from node.settings import MAX_WORKERS, Settings

if TYPE_CHECKING:  # the heavy imports (pysam, asyncpg) wait until a command needs them
    from beacon.ingest import IngestReport, IngestRequest
    from node.http.server import Listener
    from node.progress import IngestProgress

log = logging.getLogger(__name__)
GRANT_SOURCE_HELP = ("A source (a DAC's or REMS's URL, as its visas' `source` says it, byte for "
                     "byte) whose ControlledAccessGrants grant the dataset; repeatable. A "
                     "grant from any other source, however trusted, does not.")


@click.command()
@click.option("--host", help="Address to listen on (default: GDI_NODE_HOST, else 127.0.0.1).")
@click.option("--port", type=PORT, help="Port to listen on (default: GDI_NODE_PORT, else 5050).")
@click.option("--workers", type=click.IntRange(0, MAX_WORKERS),
              help="Server processes on the port (default: one per CPU core; also "
                   "GDI_NODE_WORKERS); 1: one process, no supervisor.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the node's HTTP service."""
    from node.app import create_app
    from node.cli.supervisor import cores
    from node.production import node_refusals, refuse
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items()
                 if v is not None}
    settings = settings_of(ctx).model_copy(update=overrides)
    configure_logs(ctx, settings, server=True)
    if refuse(node_refusals(settings) + run(_discovered_refusals(settings))):
        fail("the node does not start: a production rule is broken (logged above)", 2)
    count = settings.workers or cores()
    if count == 1:
        listener = listen(settings.host, settings.port, "serve", "set GDI_NODE_PORT")
        serve_app(create_app(settings), "node", listener, settings.base_url,
                  settings.event_loop)
        return
    listeners = listen_each(settings.host, settings.port, count, "serve", "set GDI_NODE_PORT")
    url, allowed = run(_shared_database(settings))
    if not settings.workers and settings.database_url is None:
        listeners = _fitted(listeners, allowed, settings.db_pool_max)
    _crowded(len(listeners), allowed, settings.db_pool_max)
    _supervise(settings.model_copy(update={"database_url": url}), listeners)


def _fitted(listeners: list[Listener], allowed: int, pool: int) -> list[Listener]:
    """The workers (a listener each) the embedded PostgreSQL's `allowed` connections fit,
    each opening up to `pool` and one listening for dataset changes, when the cores chose
    their number: the README's first command started one per core whatever the server
    allowed, and on a machine of more cores than fit, workers that could not connect
    answered their share of requests 503 for good (found by a review, 2026-12-05). An
    operator's own count, and an external database, whose max_connections is theirs to
    set, are left as given (with `_crowded`'s warning)."""
    fit = max(1, allowed // (pool + 1))
    if fit >= len(listeners):
        return listeners
    log.warning("the embedded PostgreSQL allows %d connections, which %s of db_pool_max %d "
                "(and one listening) fits of the %d the cores would have: starting %d (set "
                "GDI_NODE_WORKERS to choose)", allowed, _counted(fit, "worker"), pool,
                len(listeners), fit)
    kept = listeners[:fit]
    for listener in listeners[fit:]:
        if not any(listener is mine for mine in kept):  # one socket shared (not Linux)
            for sock in listener.sockets:
                sock.close()
    return kept


def _crowded(workers: int, allowed: int, pool: int) -> None:
    """A warning when PostgreSQL would refuse some of the workers' connections."""
    needed = workers * (pool + 1)
    if needed > allowed:
        log.warning("%d workers may open %d connections to PostgreSQL (db_pool_max %d and one "
                    "listening for dataset changes, each) but it allows %d: lower --workers or "
                    "GDI_NODE_DB_POOL_MAX, or raise max_connections", workers, needed, pool,
                    allowed)


def _supervise(settings: Settings, listeners: list[Listener]) -> None:
    """`len(listeners)` workers, each serving a node of its own on its sockets, until SIGTERM
    or SIGINT; workers that keep failing are an error (exit 1). The supervisor has reached the
    database before any worker starts (`_shared_database`), so a worker that cannot reach it
    meets an outage, not a wrong URL: it answers 503 until the database is back, then starts
    (node/http/stand_in.py), rather than exit into a crash loop that takes the node down.
    The workers share their counts for /metrics in a directory the supervisor removes at its
    end (node/http/metrics.py)."""
    from node.app import create_app
    from node.cli.supervisor import CrashLoop, Supervisor
    from node.database import DatabaseUnavailable
    from node.http.server import run_worker
    from node.http.stand_in import stand_in

    def work(index: int, supervisor_fd: int) -> None:
        listener = listeners[index - 1]
        while True:
            try:
                shared = metrics / f"worker-{index}.json" if metrics else None
                run_worker(create_app(settings, shared_metrics=shared), "node", listener,
                           supervisor_fd, settings.base_url, settings.event_loop)
                return
            except DatabaseUnavailable as exc:
                if not stand_in(settings, listener, supervisor_fd, exc, shared):
                    return

    try:
        shared: AbstractContextManager[str | None] = tempfile.TemporaryDirectory(
            prefix="gdi-node-metrics-")
    except OSError as exc:        # no writable temporary directory: serve all the same
        log.warning("the workers cannot share their counts (%s): each /metrics answer "
                    "counts the requests of the worker it reaches", exc)
        shared = nullcontext()
    with shared as directory:
        metrics = Path(directory) if directory else None
        try:
            Supervisor(len(listeners), work).run()
        except (CrashLoop, RuntimeError) as exc:
            fail(str(exc))


async def _shared_database(settings: Settings) -> tuple[str, int]:
    """The workers' database, made ready once before they start: the embedded server, if
    any, started here (it runs as long as this supervisor does), the schema migrated; and
    the connections it allows (docs/deploy.md)."""
    url = await database_url(settings)
    async with connection(settings, schema="migrate", url=url) as conn:
        allowed = await conn.fetchval(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - coalesce(current_setting('reserved_connections', true)::int, 0)")
    return url, allowed


async def _discovered_refusals(settings: Settings) -> list:
    import aiohttp

    from node.production import development_issuers
    async with aiohttp.ClientSession() as session:
        return await development_issuers(settings, session)


def _ingest_one(settings: Settings, request: IngestRequest) -> None:
    from beacon.ingest import InterruptedAfterSwap
    from beacon.phenopackets import PhenopacketProblem
    from beacon.store import AccountingChange, KeyConflict
    from beacon.vcf import VcfProblem
    from node.progress import IngestProgress
    progress = IngestProgress(f"{request.dataset_id} <- {request.path.name}")
    unchanged = (f"nothing was loaded; the previous version of {request.dataset_id} (if any) "
                 "is unchanged")
    try:
        report = run(_ingest_async(settings, request, progress))
    except (VcfProblem, PhenopacketProblem, KeyConflict, AccountingChange) as problem:
        progress.close()
        fail(f"{problem}\n{unchanged}")
    except InterruptedAfterSwap as interrupted:
        progress.close()
        fail(str(interrupted))
    except SystemExit:
        raise
    except Exception as exc:
        progress.close()
        logging.getLogger(__name__).debug("ingest failed", exc_info=True)
        fail(f"ingest of {request.path} failed: {type(exc).__name__}: {exc}\n{unchanged}")
    progress.close()
    if report.note:
        click.echo(f"{request.path}: {report.note}", err=True)
    if request.assembly is None:        # chosen by the file, not the operator: say so
        click.echo(f"{request.path}: loaded on {report.assembly}: {report.assembly_reason}",
                   err=True)
    phenotyped = " with phenopackets" if report.phenopackets else ""
    click.echo(f"{report.dataset_id}: version {report.version}, {report.rows} variants from "
               f"{report.records} records, {report.samples} samples{phenotyped} in "
               f"{report.seconds:.1f} s ({_counted(report.workers, 'worker')}, "
               f"{_counted(report.regions, 'region')})")
    if report.unaged:
        click.echo(f"{request.individuals}: {report.unaged} disease onsets or ages at the last "
                   "encounter not given as an age (an ageRange, gestationalAge, ontologyClass, "
                   "timestamp or interval): held as unknown, age filters do not see them",
                   err=True)
    for other, shared in report.sharing.items():
        draws = ("both draw each set of individuals alike (the same samples in the same "
                 "order), but each gives a caller a smooth-floor draw of each variant of its "
                 "own") if other in report.alike else (
                 "but each dataset gives a caller a smooth-floor draw of its own")
        click.echo(f"{report.dataset_id}: {shared} of its {report.samples} samples have the "
                   f"ids of samples of {other}: taken as the same people, a caller's losses "
                   f"over them add up across both datasets, {draws} (docs/privacy.md, \"the "
                   "same people in several datasets\")", err=True)
    kept = report.accounts
    if kept is not None and kept.carried:
        click.echo(f"{report.dataset_id}: the privacy accounts of "
                   f"{_counted(kept.callers, 'caller')} carried to version {report.version} "
                   f"for the {kept.people} of its {report.samples} samples that version "
                   f"{report.version - 1} held ({_counted(kept.answers, 'answer')} kept, any "
                   "other answered afresh)")
    elif kept is not None:
        click.echo(f"{report.dataset_id}: the privacy accounts of "
                   f"{_counted(kept.callers, 'caller')} of version {report.version - 1} were "
                   "dropped, as none of its samples are in this version: each caller starts "
                   "again from nothing (docs/privacy.md, \"A new version of the dataset\")",
                   err=True)
    _warn_of_few_people_changed(settings, request, report)
    if report.skipped_records:
        click.echo(f"skipped {report.skipped_records} invalid records; first: "
                   f"{report.first_skip}", err=True)
    if report.elsewhere:
        shown = ", ".join(f"{contig} ({n})" for contig, n in sorted(report.elsewhere.items())[:5])
        more = f" and {len(report.elsewhere) - 5} more" if len(report.elsewhere) > 5 else ""
        click.echo(f"skipped {sum(report.elsewhere.values())} records on contigs outside "
                   f"{report.assembly}'s chromosomes: {shown}{more}", err=True)
    if report.failed_filter:
        failed = sorted(report.failed_filter.items(), key=lambda item: (-item[1], item[0]))
        shown = ", ".join(f"{value} {n}" for value, n in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        click.echo(f"skipped {sum(report.failed_filter.values())} records that failed FILTER "
                   f"({shown}{more}): --keep-filtered loads them", err=True)


def _warn_of_few_people_changed(settings: Settings, request: IngestRequest,
                                report: IngestReport) -> None:
    """The operator told when a new version adds or removes fewer people than the highest
    allele floor of any tier: each count of the new version differs from the one before by
    exactly their genotypes, which no rule of the node hides from a caller who read both.
    Told, not refused: a withdrawn consent must be honoured at once, and the operator alone
    knows whether others could join the change first."""
    change = report.people_change
    if change is None or not change.added + change.removed:
        return
    policy = settings.disclosure_policy()
    floor = max(policy.rules(tier, request.metadata).allele_floor for tier in policy.tiers)
    if change.added + change.removed >= floor:
        return
    click.echo(f"{report.dataset_id}: version {report.version} holds {change.added} "
               f"samples version {report.version - 1} did not and lacks {change.removed} it "
               f"held, fewer people than the allele floor ({floor}): its "
               "counts differ from the earlier version's by exactly their genotypes, which a "
               "caller who read both can read off; where it can wait, load such a change "
               f"with others, {floor} people or more at once (docs/privacy.md, \"Two "
               "versions' rows differ by the people between them\")", err=True)


async def _ingest_async(settings: Settings, request: IngestRequest,
                        progress: IngestProgress) -> IngestReport:
    from beacon.ingest import ingest
    return await ingest(await migrated_database_url(settings), request, progress)


@click.command("ingest")
@click.argument("vcf", type=click.Path(path_type=Path))
@click.option("--dataset", "dataset_id", required=True,
              help="Dataset identifier, e.g. GDI-FI-SYN-001.")
@click.option("--assembly", help="GRCh38 or GRCh37, or an alias such as hg19 (default: what "
                                  "the VCF header says, else GRCh38).")
@click.option("--force-assembly", is_flag=True,
              help="Load on --assembly even where the VCF header names another assembly.")
@click.option("--access-level", type=click.Choice(["PUBLIC", "REGISTERED", "CONTROLLED"],
                                                  case_sensitive=False),
              help="Overrides the metadata file; default CONTROLLED.")
@click.option("--metadata", type=click.Path(path_type=Path), help="Dataset metadata JSON file.")
@click.option("--title", help="Dataset title (overrides the metadata file's; default: Dataset ID).")
@click.option("--skip-invalid", is_flag=True,
              help="Skip records that fail validation or repeat an earlier record's variant "
                   "(counted) instead of stopping.")
@click.option("--workers", type=click.IntRange(0, MAX_WORKERS), default=None,
              help="Parsing processes (default: GDI_NODE_INGEST_WORKERS; 0 = CPU cores).")
@click.option("--individuals", type=click.Path(path_type=Path),
              help="The samples' phenopackets (JSON array, JSON Lines) or CSV: see docs/beacon.md.")
@click.option("--keep-filtered", is_flag=True,
              help="Also load records whose FILTER is not PASS or '.' (failed QC; skipped and "
                   "counted by default).")
@click.option("--grant-source", "grant_sources", multiple=True, metavar="URL",
              help=GRANT_SOURCE_HELP + " Default: those the dataset names already (none for "
                   "a new one: a grant from any accepted source).")
@click.pass_context
def ingest_cmd(ctx: click.Context, vcf: Path, dataset_id: str, assembly: str | None,
               access_level: str | None, metadata: Path | None, title: str | None,
               skip_invalid: bool, workers: int | None, individuals: Path | None,
               keep_filtered: bool, force_assembly: bool,
               grant_sources: tuple[str, ...]) -> None:
    """Load VCF as the new version of a dataset (atomic: all or nothing)."""
    from beacon import fork_server
    fork_server.start()                 # first: it starts while this command imports
    from catalogue.metadata import MetadataError, load_metadata
    from node.ingest_request import make_request
    settings = settings_of(ctx)
    try:
        request = make_request(vcf, dataset_id, assembly=assembly, access_level=access_level,
                               metadata=load_metadata(metadata) if metadata else None,
                               title=title, skip_invalid=skip_invalid,
                               workers=workers if workers is not None else settings.ingest_workers,
                               individuals=individuals, keep_filtered=keep_filtered,
                               force_assembly=force_assembly, metadata_file=metadata,
                               policy=settings.disclosure_policy(),
                               grant_sources=grant_sources or None)
    except MetadataError as exc:
        fail(str(exc))
    _ingest_one(settings, request)
    _note_unaccepted(settings, grant_sources)
    if not grant_sources:
        _note_ungoverned(settings, dataset_id)


def _note_unaccepted(settings: Settings, sources: tuple[str, ...]) -> None:
    """The operator told of a source no trusted issuer relays grants from: naming it on a
    dataset accepts nothing by itself, and the dataset is granted to no one by it. Said
    only where the settings name trusted issuers (an ingest may run apart from the node's
    configuration)."""
    from auth.issuers import accepted_grant_sources
    if not settings.trusted_issuers:
        return
    accepted = accepted_grant_sources(settings.trusted_issuers)
    for source in sorted(set(sources) - accepted):
        click.echo(f"--grant-source: {source} is a source no trusted issuer relays grants "
                   "from (accepted_grant_sources, docs/auth.md): none of its grants counts "
                   "until one does", err=True)


def _note_ungoverned(settings: Settings, dataset_id: str) -> None:
    """The operator told, as the ingest ends, that the dataset names no grant source while
    the settings accept several: a grant from any of them grants it. A dataset removed and
    loaded again (or new) names none, and only the node's next start said so (a review,
    2026-12-07)."""
    from auth.issuers import accepted_grant_sources
    accepted = accepted_grant_sources(settings.trusted_issuers)
    if len(accepted) < 2:
        return
    try:
        rows = run(_list_datasets(settings))
    except Exception as exc:    # noqa: BLE001 - the version is in: a note missed, not a failure
        click.echo(f"{dataset_id}: whether it names a grant source could not be read "
                   f"({type(exc).__name__}): `gdi-node datasets grant-sources {dataset_id}` "
                   "shows it", err=True)
        return
    row = next((r for r in rows if r.id == dataset_id), None)
    if row is not None and not row.grant_sources:
        click.echo(f"{dataset_id}: names no grant source, so a grant from any of the "
                   f"{len(accepted)} accepted ({', '.join(sorted(accepted))}) grants it; "
                   f"name its own with `gdi-node datasets grant-sources {dataset_id} "
                   "--grant-source URL` (docs/auth.md)", err=True)


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@click.command()
@click.argument("outdir", type=click.Path(path_type=Path), required=False)
@click.option("--records", type=click.IntRange(1000, 10_000_000), default=10_000, show_default=True,
              help="VCF records per dataset.")
@click.option("--samples", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--country", "countries", multiple=True,
              help="Only these synthetic nodes (FI, SE, ES); repeatable.")
@click.option("--load", is_flag=True, help="Also ingest every generated dataset into this node.")
@click.option("--skip-loaded", is_flag=True,
              help="With --load: leave datasets the node already holds alone (not rewritten, "
                   "not reloaded), so a restarted container does not load them again.")
@click.pass_context
def synth(ctx: click.Context, outdir: Path | None, records: int, samples: int, seed: int,
          countries: tuple[str, ...], load: bool, skip_loaded: bool) -> None:
    """Write deterministic synthetic VCFs and metadata for a three-country federation.

    Into OUTDIR, by default synthetic/ in the node's data directory (GDI_NODE_DATA_DIR)."""
    if load:
        from beacon import fork_server
        fork_server.start()             # while the files are written
    from node.ingest_request import make_request
    from synthetic_data.federation import federation, write_dataset
    settings = settings_of(ctx)
    if skip_loaded and not load:
        fail("--skip-loaded only makes sense with --load")
    outdir = outdir or settings.data_dir / "synthetic"
    try:
        chosen = federation(outdir, records=records, samples=samples, seed=seed,
                            countries=tuple(c.upper() for c in countries) or None)
    except ValueError as exc:
        fail(str(exc))
    if skip_loaded:
        loaded = {row.id for row in run(_list_datasets(settings))}
        for dataset in chosen:
            if dataset.metadata.identifier in loaded:
                click.echo(f"{dataset.metadata.identifier}: already loaded, skipped")
        chosen = [d for d in chosen if d.metadata.identifier not in loaded]
    try:
        written = [(dataset, write_dataset(dataset)) for dataset in chosen]
    except OSError as exc:              # the output directory, or a file in it, unwritable
        fail(f"{exc.filename}: {exc.strerror or exc}")
    for dataset, summary in written:
        click.echo(f"{dataset.metadata.identifier}: {summary.path} ({summary.records} records, "
                   f"{summary.samples} samples, {dataset.metadata.access_level.value})")
    if load:
        for dataset, summary in written:
            _ingest_one(settings, make_request(summary.path, dataset.metadata.identifier,
                                               metadata=dataset.metadata,
                                               workers=settings.ingest_workers,
                                               individuals=dataset.phenopackets_path,
                                               policy=settings.disclosure_policy()))


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def datasets(ctx: click.Context, as_json: bool) -> None:
    """List the datasets this node holds (`datasets grant-sources`: whose grants grant one)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = run(_list_datasets(settings_of(ctx)))
    if as_json:
        click.echo(json.dumps([{
            "id": r.id, "title": r.title, "assembly": r.assembly, "accessLevel": r.access_level,
            "variants": r.variant_count, "records": r.record_count, "samples": r.sample_count,
            "version": r.version, "updated": r.updated_at.isoformat(),
            "grantSources": list(r.grant_sources)} for r in rows], indent=2))
        return
    if not rows:
        click.echo("no datasets loaded (gdi-node ingest FILE --dataset ID)")
        return
    click.echo(f"{'ID':<20} {'ACCESS':<11} {'ASSEMBLY':<8} {'VARIANTS':>10} {'SAMPLES':>8} "
               f"{'VER':>4}  UPDATED")
    for r in rows:
        click.echo(f"{r.id:<20} {r.access_level:<11} {r.assembly:<8} {r.variant_count:>10} "
                   f"{r.sample_count:>8} {r.version:>4}  {r.updated_at:%Y-%m-%d %H:%M:%S}")


async def _list_datasets(settings: Settings) -> list:
    from beacon.store import list_datasets
    async with connection(settings) as conn:
        return await list_datasets(conn)


@datasets.command("grant-sources", short_help="Whose ControlledAccessGrants grant a dataset.")
@click.argument("dataset_id")
@click.option("--grant-source", "sources", multiple=True, metavar="URL", help=GRANT_SOURCE_HELP)
@click.option("--any", "any_source", is_flag=True,
              help="Name none: a grant from any source the node accepts grants the dataset.")
@click.pass_context
def grant_sources_cmd(ctx: click.Context, dataset_id: str, sources: tuple[str, ...],
                      any_source: bool) -> None:
    """Say whose ControlledAccessGrants grant DATASET_ID, without loading it again (no new
    version; running nodes see it at once); without options, show them."""
    from catalogue.metadata import MetadataError
    from node.ingest_request import check_grant_sources
    if sources and any_source:
        fail("--grant-source and --any: name the sources, or none")
    try:
        check_grant_sources(sources, "--grant-source")
    except MetadataError as exc:
        fail(str(exc))
    settings = settings_of(ctx)
    if not sources and not any_source:
        row = next((r for r in run(_list_datasets(settings)) if r.id == dataset_id), None)
        if row is None:
            fail(f"no dataset {dataset_id!r} on this node")
        click.echo("\n".join(row.grant_sources) if row.grant_sources else
                   f"{dataset_id}: none named (a grant from any accepted source)")
        return
    if not run(_set_grant_sources(settings, dataset_id, sources)):
        fail(f"no dataset {dataset_id!r} on this node")
    _note_unaccepted(settings, sources)
    click.echo(f"{dataset_id}: granted by grants from {', '.join(sorted(set(sources)))}"
               if sources else f"{dataset_id}: granted by a grant from any accepted source")


async def _set_grant_sources(settings: Settings, dataset_id: str,
                             sources: tuple[str, ...]) -> bool:
    from beacon.store import set_grant_sources
    async with connection(settings) as conn:
        return await set_grant_sources(conn, dataset_id, sources)


@click.command()
@click.argument("dataset_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def remove(ctx: click.Context, dataset_id: str, yes: bool) -> None:
    """Delete a dataset and its variants (the catalogue then lists it as withdrawn)."""
    if not yes:
        click.confirm(f"Delete dataset {dataset_id} and all its variants?", abort=True)
    if not run(_remove(settings_of(ctx), dataset_id)):
        fail(f"no dataset {dataset_id!r} on this node")
    click.echo(f"removed {dataset_id}")


async def _remove(settings: Settings, dataset_id: str) -> bool:
    """The removal, once no ingest of the dataset is under way: such an ingest swapped its
    version in after the removal had said "removed", and the dataset was back (found by a
    review, 2026-12-05)."""
    from beacon.losses import keep_removed
    from beacon.store import dataset_lock, delete_dataset

    def busy() -> None:
        click.echo(f"{dataset_id}: an ingest of it is under way: waiting for it to end, to "
                   "remove what it loads (Ctrl-C leaves the dataset as it is)", err=True)
    async with connection(settings) as conn, dataset_lock(conn, dataset_id, busy):
        return await delete_dataset(conn, dataset_id, carry=keep_removed)
