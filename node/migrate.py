"""Numbered SQL migrations, applied once each, in order, at start-up and by `gdi-node db migrate`.

Each store keeps its migrations beside its SQL as package data: the node's database is
beacon/migrations (beacon/store.py), the catalogue service's is catalogue/migrations
(catalogue/store.py). Each file is named NNNN_description.sql. Applied versions are recorded in
schema_migrations; an advisory lock serialises nodes and ingests that start at the same time.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6764_695F_6D69  # "gdi_mi": any constant shared by all node processes
NODE_MIGRATIONS = "beacon.migrations"
CATALOGUE_MIGRATIONS = "catalogue.migrations"


class ForeignSchema(Exception):
    """The database's schema_migrations records a migration under another name than this
    package's of that number: the database is another service's (the node's and the
    catalogue's migrations are both numbered from 0001), and migrating it would build on
    tables that are not this service's."""


class MigrationFailed(Exception):
    """The database refused a migration (a table of its name already there, left by another
    application in a shared database; a constraint today's rows break): asyncpg's error
    alone named neither the migration nor that nothing was applied."""


# The database going away mid-migration is an outage (node/http/outage.py), not the
# migration's failure: those errors go on as they are.
_NOT_THE_MIGRATIONS = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
                       asyncpg.exceptions.InsufficientResourcesError)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def available_migrations(package: str = NODE_MIGRATIONS) -> tuple[Migration, ...]:
    """The package's migrations in order, read once per process: the files are package
    data, fixed while it runs, and every /ready probe asks which are pending (it read and
    parsed each file twice a probe)."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {package}: {versions}")
    return tuple(found)


async def applied_versions(conn: asyncpg.Connection,
                           package: str = NODE_MIGRATIONS) -> set[int]:
    """The versions applied; ForeignSchema if one was applied under another name than
    `package`'s. Pointed at the node's database, the catalogue took the node's 0001-0005 for
    its own, applied nothing and served on the node's tables, its requests failing; the node
    on the catalogue's applied its 0006 onwards and failed on a missing table."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    applied = {r["version"]: r["name"]
               for r in await conn.fetch("SELECT version, name FROM schema_migrations")}
    for migration in available_migrations(package):
        name = applied.get(migration.version, migration.name)
        if name != migration.name:
            whose = "the catalogue's" if package == CATALOGUE_MIGRATIONS else "the node's"
            raise ForeignSchema(
                f"the database holds a schema that is not {whose}: its migration "
                f"{migration.version:04d} is {name!r}, {whose} is {migration.name!r}; the "
                "node and the catalogue each need a database of their own")
    return set(applied)


async def apply_migrations(conn: asyncpg.Connection,
                           package: str = NODE_MIGRATIONS) -> list[Migration]:
    """Apply what is missing; returns the migrations applied by this call."""
    applied: list[Migration] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())""")
        done = await applied_versions(conn, package)
        if newer := await newer_migrations(conn, package):
            # a start on it (an upgrade rolled back) said nothing: the code is older than
            # the schema it reads and writes
            log.warning("the database holds migrations this gdi-node does not know, applied "
                        "by a newer one: %s",
                        ", ".join(f"{m.version:04d}_{m.name}" for m in newer))
        for migration in available_migrations(package):
            if migration.version in done:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                if isinstance(exc, _NOT_THE_MIGRATIONS):
                    raise
                raise MigrationFailed(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc} "
                    f"({type(exc).__name__}); the schema is as it was (the migrations are "
                    "applied in one transaction)") from exc
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               migration.version, migration.name)
            applied.append(migration)
    return applied


async def pending_migrations(conn: asyncpg.Connection,
                             package: str = NODE_MIGRATIONS) -> list[Migration]:
    done = await applied_versions(conn, package)
    return [m for m in available_migrations(package) if m.version not in done]


async def newer_migrations(conn: asyncpg.Connection,
                           package: str = NODE_MIGRATIONS) -> list[Migration]:
    """Migrations applied that `package` does not hold, as `version_name` says them: a newer
    gdi-node's, on a database whose upgrade was rolled back (`gdi-node db status` and
    `db migrate` name them rather than call the schema up to date)."""
    if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        return []
    known = {m.version for m in available_migrations(package)}
    return [Migration(r["version"], r["name"], "") for r in await conn.fetch(
                "SELECT version, name FROM schema_migrations ORDER BY version")
            if r["version"] not in known]
