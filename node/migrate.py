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
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6764_695F_6D69  # "gdi_mi": any constant shared by all node processes
NODE_MIGRATIONS = "beacon.migrations"
CATALOGUE_MIGRATIONS = "catalogue.migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations(package: str = NODE_MIGRATIONS) -> list[Migration]:
    found = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {package}: {versions}")
    return found


async def applied_versions(conn: asyncpg.Connection) -> set[int]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    return {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}


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
        done = await applied_versions(conn)
        for migration in available_migrations(package):
            if migration.version in done:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            await conn.execute(migration.sql)
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               migration.version, migration.name)
            applied.append(migration)
    return applied


async def pending_migrations(conn: asyncpg.Connection,
                             package: str = NODE_MIGRATIONS) -> list[Migration]:
    done = await applied_versions(conn)
    return [m for m in available_migrations(package) if m.version not in done]
