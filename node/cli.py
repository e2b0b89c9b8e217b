"""`gdi-node`: the one command operators and scripts use. Subcommands translate flags into
calls on the core (ingest, store, synthetic data) and errors into messages and exit codes."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from catalogue.cli import catalogue
from node.settings import CONFIG_ENV, Settings

if TYPE_CHECKING:  # the heavy imports (pysam, asyncpg) wait until a command needs them
    from beacon.ingest import IngestReport, IngestRequest
    from node.progress import IngestProgress

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _run(coro: Awaitable[T]) -> T:
    """Run a command's coroutine; an unreachable database is a message, not a traceback."""
    import asyncpg
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _fail(f"database: {type(exc).__name__}: {exc}")


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
@click.option("--config", type=click.Path(dir_okay=False), envvar=CONFIG_ENV,
              help=f"TOML configuration file (also ${CONFIG_ENV}).")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """GDI federated discovery node: GA4GH Beacon v2 over VCFs in PostgreSQL."""
    from pydantic import ValidationError

    from node.logs import configure_logging
    if config:
        os.environ[CONFIG_ENV] = config
    try:
        settings = Settings()
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        _fail(f"invalid configuration: {exc}", 2)
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = {"settings": settings}


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 5050).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the node's HTTP service."""
    from node.app import run
    settings = _settings(ctx)
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run(settings.model_copy(update=overrides))


async def _database_url(settings: Settings) -> str:
    from node.database import resolve_database
    return (await resolve_database(settings)).url


@asynccontextmanager
async def _connection(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Any]:
    """One connection for a short command, with the schema brought up to date first."""
    from node.database import connect
    from node.migrate import apply_migrations
    conn = await connect(await _database_url(settings))
    try:
        if migrate:
            await apply_migrations(conn)
        yield conn
    finally:
        await conn.close()


def _ingest_one(settings: Settings, request: IngestRequest) -> None:
    from beacon.vcf import VcfProblem
    from node.progress import IngestProgress
    progress = IngestProgress(f"{request.dataset_id} <- {request.path.name}")
    unchanged = (f"nothing was loaded; the previous version of {request.dataset_id} (if any) "
                 "is unchanged")
    try:
        report = _run(_ingest_async(settings, request, progress))
    except VcfProblem as problem:
        progress.close()
        _fail(f"{problem}\n{unchanged}")
    except SystemExit:
        raise
    except Exception as exc:
        progress.close()
        logging.getLogger(__name__).debug("ingest failed", exc_info=True)
        _fail(f"ingest of {request.path} failed: {type(exc).__name__}: {exc}\n{unchanged}")
    progress.close()
    click.echo(f"{report.dataset_id}: version {report.version}, {report.rows} variants from "
               f"{report.records} records, {report.samples} samples in {report.seconds:.1f} s "
               f"({report.workers} workers, {report.regions} regions)")
    if report.skipped_records:
        click.echo(f"skipped {report.skipped_records} invalid records; first: "
                   f"{report.first_skip}", err=True)


async def _ingest_async(settings: Settings, request: IngestRequest,
                        progress: IngestProgress) -> IngestReport:
    from beacon.ingest import ingest
    return await ingest(await _database_url(settings), request, progress)


@main.command("ingest")
@click.argument("vcf", type=click.Path(path_type=Path))
@click.option("--dataset", "dataset_id", required=True, help="Dataset identifier, e.g. GDI-FI-SYN-001.")
@click.option("--assembly", help="GRCh38 (default) or GRCh37, or an alias such as hg19.")
@click.option("--access-level", type=click.Choice(["PUBLIC", "REGISTERED", "CONTROLLED"],
                                                  case_sensitive=False),
              help="Overrides the metadata file; default CONTROLLED.")
@click.option("--metadata", type=click.Path(path_type=Path), help="Dataset metadata JSON file.")
@click.option("--title", help="Dataset title when there is no metadata file.")
@click.option("--skip-invalid", is_flag=True,
              help="Skip records that fail validation (counted) instead of stopping.")
@click.option("--workers", type=int, default=None, help="Parsing processes (default: CPU cores).")
@click.pass_context
def ingest_cmd(ctx: click.Context, vcf: Path, dataset_id: str, assembly: str | None,
               access_level: str | None, metadata: Path | None, title: str | None,
               skip_invalid: bool, workers: int | None) -> None:
    """Load VCF as the new version of a dataset (atomic: all or nothing)."""
    from beacon.ingest import make_request
    from catalogue.metadata import MetadataError, load_metadata
    settings = _settings(ctx)
    try:
        request = make_request(vcf, dataset_id, assembly=assembly, access_level=access_level,
                               metadata=load_metadata(metadata) if metadata else None,
                               title=title, skip_invalid=skip_invalid,
                               workers=workers if workers is not None else settings.ingest_workers)
    except MetadataError as exc:
        _fail(str(exc))
    _ingest_one(settings, request)


@main.command()
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
    """Write deterministic synthetic VCFs and metadata for a three-country federation."""
    from beacon.ingest import make_request
    from synthetic_data.federation import federation, write_dataset
    settings = _settings(ctx)
    if skip_loaded and not load:
        _fail("--skip-loaded only makes sense with --load")
    outdir = outdir or settings.data_dir / "synthetic"
    try:
        chosen = federation(outdir, records=records, samples=samples, seed=seed,
                            countries=tuple(c.upper() for c in countries) or None)
    except ValueError as exc:
        _fail(str(exc))
    if skip_loaded:
        loaded = {row.id for row in _run(_list_datasets(settings))}
        for dataset in chosen:
            if dataset.metadata.identifier in loaded:
                click.echo(f"{dataset.metadata.identifier}: already loaded, skipped")
        chosen = [d for d in chosen if d.metadata.identifier not in loaded]
    written = [(dataset, write_dataset(dataset)) for dataset in chosen]
    for dataset, summary in written:
        click.echo(f"{dataset.metadata.identifier}: {summary.path} ({summary.records} records, "
                   f"{summary.samples} samples, {dataset.metadata.access_level.value})")
    if load:
        for dataset, summary in written:
            _ingest_one(settings, make_request(summary.path, dataset.metadata.identifier,
                                               metadata=dataset.metadata,
                                               workers=settings.ingest_workers))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def datasets(ctx: click.Context, as_json: bool) -> None:
    """List the datasets this node holds."""
    rows = _run(_list_datasets(_settings(ctx)))
    if as_json:
        click.echo(json.dumps([{
            "id": r.id, "title": r.title, "assembly": r.assembly, "accessLevel": r.access_level,
            "variants": r.variant_count, "records": r.record_count, "samples": r.sample_count,
            "version": r.version, "updated": r.updated_at.isoformat()} for r in rows], indent=2))
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
    async with _connection(settings) as conn:
        return await list_datasets(conn)


@main.command()
@click.argument("dataset_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def remove(ctx: click.Context, dataset_id: str, yes: bool) -> None:
    """Delete a dataset and its variants (the catalogue then lists it as withdrawn)."""
    if not yes:
        click.confirm(f"Delete dataset {dataset_id} and all its variants?", abort=True)
    if not _run(_remove(_settings(ctx), dataset_id)):
        _fail(f"no dataset {dataset_id} on this node")
    click.echo(f"removed {dataset_id}")


async def _remove(settings: Settings, dataset_id: str) -> bool:
    from beacon.store import delete_dataset
    async with _connection(settings) as conn:
        return await delete_dataset(conn, dataset_id)


@main.group()
def aai() -> None:
    """Development AAI (OIDC + GA4GH Passports) for tests, demos and compose. Not for production."""


@aai.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5080, show_default=True)
@click.option("--issuer", help="Public URL of the AAI (default http://HOST:PORT).")
@click.option("--users", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON config with users, passwords and visas (default: alice, bob, carol).")
@click.option("--key-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep signing keys here across restarts (default: new keys each start).")
def aai_serve(host: str, port: int, issuer: str | None, users: Path | None,
              key_dir: Path | None) -> None:
    """Run the development AAI."""
    from aiohttp import web

    from auth.dev_issuer import (
        DevIssuer,
        create_aai_app,
        load_config,
        trusted_issuer_entry,
    )
    config = load_config(users, issuer or f"http://{host}:{port}")
    dev = DevIssuer(config, key_dir)
    click.echo("trust it from a node with GDI_NODE_TRUSTED_ISSUERS='"
               + json.dumps([trusted_issuer_entry(config.issuer, config.audience)]) + "'",
               err=True)
    web.run_app(create_aai_app(dev), host=host, port=port, print=None, access_log=None)


@aai.command("token")
@click.option("--user", required=True, help="A user of the development AAI.")
@click.option("--password", help="Default: the user name (the built-in demo users).")
@click.option("--url", default="http://127.0.0.1:5080", show_default=True,
              help="The development AAI.")
def aai_token(user: str, password: str | None, url: str) -> None:
    """Print an access token for USER (for scripts: TOKEN=$(gdi-node aai token --user carol))."""
    click.echo(_run(_fetch_token(url.rstrip("/"), user, password or user)))


async def _fetch_token(url: str, user: str, password: str) -> str:
    import aiohttp
    form = {"grant_type": "password", "username": user, "password": password}
    async with (aiohttp.ClientSession() as session,
                session.post(f"{url}/token", data=form) as response):
        body = await response.json(content_type=None)
        if response.status != 200:
            _fail(f"{url}/token refused: {body.get('error_description', response.status)}")
        return str(body["access_token"])


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Apply pending schema migrations (the service also does this at start)."""
    applied = _run(_migrate(_settings(ctx)))
    click.echo("\n".join(f"applied {m.version:04d}_{m.name}" for m in applied)
               or "schema up to date")


async def _migrate(settings: Settings) -> list:
    from node.migrate import apply_migrations
    async with _connection(settings, migrate=False) as conn:
        return await apply_migrations(conn)


@db.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the database in use and pending migrations."""
    settings = _settings(ctx)
    url, pending = _run(_status(settings))
    where = _redact(url) if url else f"embedded in {settings.data_dir / 'postgres'}"
    click.echo(f"database: {where}")
    click.echo("pending migrations: " + (", ".join(f"{m.version:04d}_{m.name}" for m in pending)
                                         or "none"))


async def _status(settings: Settings) -> tuple[str, list]:
    from node.migrate import pending_migrations
    async with _connection(settings, migrate=False) as conn:
        return settings.database_url or "", await pending_migrations(conn)


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


main.add_command(catalogue)

if __name__ == "__main__":
    main()
