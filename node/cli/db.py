"""`gdi-node db …`: the node's database — pending migrations and where it is."""
from __future__ import annotations

import click

from node.cli.common import connection, run, settings_of
from node.settings import Settings


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Apply pending schema migrations (the service also does this at start)."""
    applied, newer = run(_migrate(settings_of(ctx)))
    click.echo("\n".join(f"applied {m.version:04d}_{m.name}" for m in applied)
               or (f"schema ahead of this gdi-node: {_newer(newer)}" if newer
                   else "schema up to date"))


async def _migrate(settings: Settings) -> tuple[list, list]:
    from node.migrate import apply_migrations, newer_migrations
    async with connection(settings, schema="any") as conn:
        return await apply_migrations(conn), await newer_migrations(conn)


def _newer(migrations: list) -> str:
    return "applied by a newer gdi-node, unknown to this one: " + ", ".join(
        f"{m.version:04d}_{m.name}" for m in migrations)


@db.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the database in use and pending migrations."""
    from node.database import redacted
    settings = settings_of(ctx)
    url, pending, newer = run(_status(settings))
    where = redacted(url) if url else f"embedded in {settings.data_dir / 'postgres'}"
    click.echo(f"database: {where}")
    click.echo("pending migrations: " + (", ".join(f"{m.version:04d}_{m.name}" for m in pending)
                                         or "none"))
    if newer:
        click.echo(_newer(newer))


async def _status(settings: Settings) -> tuple[str, list, list]:
    from node.migrate import newer_migrations, pending_migrations
    async with connection(settings, schema="any") as conn:
        return (settings.database_url or "", await pending_migrations(conn),
                await newer_migrations(conn))


@db.command("clean")
@click.pass_context
def db_clean(ctx: click.Context) -> None:
    """Drop the staging tables interrupted ingests left (ingests and the node do it too), and
    remove the temporary files of ingests that were killed on this machine (ingests do it
    too)."""
    from beacon.workdirs import remove_abandoned
    dropped = run(_clean(settings_of(ctx)))
    removed = remove_abandoned()
    click.echo("\n".join([*(f"dropped {name}" for name in dropped),
                          *(f"removed {path}" for path in removed)]) or "nothing to clean")


async def _clean(settings: Settings) -> list[str]:
    from beacon.store import drop_abandoned_staging
    async with connection(settings) as conn:
        return await drop_abandoned_staging(conn)

