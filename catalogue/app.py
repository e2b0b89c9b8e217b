"""The one place that wires the catalogue service: settings, its database, the node and
dataset API, its own FAIR Data Point and the scheduled harvester."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from catalogue import api
from catalogue.database import open_pool
from catalogue.fdp import FDP_PATH, fdp_routes
from catalogue.harvest import harvest_forever
from catalogue.keys import POOL, SETTINGS, SITE
from catalogue.rdf import FdpSite
from catalogue.settings import CatalogueSettings
from catalogue.site import SiteCache

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 32 * 1024 * 1024   # a snapshot of a few thousand records


def create_app(settings: CatalogueSettings, pool: asyncpg.Pool | None = None) -> web.Application:
    """The catalogue application; with `pool` given the caller owns the database (tests)."""
    app = web.Application(middlewares=[api.failures], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[SITE] = SiteCache()
    if pool is not None:
        app[POOL] = pool
    else:
        app.cleanup_ctx.append(_database)
    if settings.harvest_interval_seconds > 0:
        app.cleanup_ctx.append(_harvester)
    app.add_routes(api.routes())
    app.add_routes(fdp_routes(_site_for, prefix=FDP_PATH))
    return app


async def _site_for(request: web.Request) -> FdpSite:
    return await request.app[SITE].site(request.app[POOL], request.app[SETTINGS])


async def _database(app: web.Application) -> AsyncIterator[None]:
    async with open_pool(app[SETTINGS]) as pool:
        app[POOL] = pool
        yield


async def _harvester(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(harvest_forever(app[POOL], app[SETTINGS]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run(settings: CatalogueSettings) -> None:
    log.info("catalogue serving on http://%s:%d (public base URL %s)", settings.host,
             settings.port, settings.base_url)
    web.run_app(create_app(settings), host=settings.host, port=settings.port,
                access_log=None, shutdown_timeout=10, print=None)
