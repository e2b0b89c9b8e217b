"""The catalogue's own database: the node's embedded-or-external handling, its own schema."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from catalogue.settings import CatalogueSettings
from node.database import create_pool, resolve_database

MIGRATIONS = "catalogue.migrations"


@asynccontextmanager
async def open_pool(settings: CatalogueSettings) -> AsyncIterator[asyncpg.Pool]:
    target = await resolve_database(settings)
    pool = await create_pool(target.url, settings, MIGRATIONS)
    try:
        yield pool
    finally:
        await pool.close()
