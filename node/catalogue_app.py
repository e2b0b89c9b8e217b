"""The one place that wires the catalogue service: settings, its database, the node and
dataset API (node/http/catalogue_api.py) with CORS on its read-only endpoints for the
configured origins, its own FAIR Data Point and the scheduled harvester."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from functools import partial

import asyncpg
from aiohttp import web

from catalogue.fdp import FDP_PATH
from catalogue.harvest import harvest_forever, harvest_session
from catalogue.holdings import expel_unadmitted
from catalogue.rdf import FdpSite
from catalogue.site import SiteCache
from node.database import open_pool, start_embedded_again
from node.http import catalogue_api
from node.http.app_keys import (
    CATALOGUE_OUTAGE,
    CATALOGUE_POOL,
    CATALOGUE_SETTINGS,
    CATALOGUE_SITE,
)
from node.http.body import UNDECODED
from node.http.fdp import fdp_routes
from node.http.outage import DatabaseOutage, shorten_pool_retries
from node.http.server import answer_unparsed, hide_request_lines
from node.migrate import CATALOGUE_MIGRATIONS
from node.settings import CatalogueSettings

MAX_BODY_BYTES = 32 * 1024 * 1024   # a snapshot of a few thousand records


def create_app(settings: CatalogueSettings, pool: asyncpg.Pool | None = None) -> web.Application:
    """The catalogue application; with `pool` given the caller owns the database (tests)."""
    hide_request_lines()        # as the node's app does, whoever serves it
    shorten_pool_retries()
    app = web.Application(middlewares=[catalogue_api.cors(settings.cors_origins),
                                       catalogue_api.failures],
                          client_max_size=MAX_BODY_BYTES,
                          handler_args=UNDECODED)    # its API decodes (node/http/body.py)
    # its error form, as the node's; its search is a GET, with no POST to send it as
    answer_unparsed(app, catalogue_api.unparsed_response, service="the catalogue",
                    long_line="ask with fewer or shorter parameters")
    app[CATALOGUE_SETTINGS] = settings
    app[CATALOGUE_SITE] = SiteCache()
    if pool is not None:
        app[CATALOGUE_POOL] = pool
    else:
        app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_registry)              # before the first harvest
    if settings.harvest_interval_seconds > 0:
        app.cleanup_ctx.append(_harvester)
    app[CATALOGUE_OUTAGE] = DatabaseOutage(revive=partial(start_embedded_again, settings))
    app.cleanup_ctx.append(_outage_probe)          # closed first, the pool last
    app.add_routes(catalogue_api.routes())
    app.add_routes(fdp_routes(_site_for, prefix=FDP_PATH))
    return app


async def _site_for(request: web.Request) -> FdpSite:
    app = request.app
    return await app[CATALOGUE_SITE].site(app[CATALOGUE_POOL],
                                          app[CATALOGUE_SETTINGS].catalogue_identity())


# A statement's bound. The catalogue's are small (a search, a node's snapshot of its
# datasets), and a database server that stops answering (hung, stopped, behind a network
# that drops its packets) ends none of them: without a bound, every request waited for
# good. The server ends one at this limit (a 503 that says so); asyncpg a second later,
# when the server does not answer at all (a 503 as the database unavailable), and a new
# connection's start-up after STARTUP_SECONDS.
STATEMENT_SECONDS = 15.0
STARTUP_SECONDS = 5.0


def catalogue_pool(settings: CatalogueSettings) -> AbstractAsyncContextManager[asyncpg.Pool]:
    """The catalogue's pool with those bounds (the service's, and `gdi-node catalogue
    harvest`'s)."""
    return open_pool(settings, CATALOGUE_MIGRATIONS,
                     {"statement_timeout": f"{round(STATEMENT_SECONDS * 1000)}ms"},
                     {"command_timeout": STATEMENT_SECONDS + 1, "timeout": STARTUP_SECONDS})


async def _database(app: web.Application) -> AsyncIterator[None]:
    async with catalogue_pool(app[CATALOGUE_SETTINGS]) as pool:
        app[CATALOGUE_POOL] = pool
        yield


async def _registry(app: web.Application) -> AsyncIterator[None]:
    """The registry checked against this start's configuration (catalogue.holdings)."""
    await expel_unadmitted(app[CATALOGUE_POOL], app[CATALOGUE_SETTINGS].nodes)
    yield


async def _harvester(app: web.Application) -> AsyncIterator[None]:
    async with harvest_session() as session:
        task = asyncio.create_task(harvest_forever(
            app[CATALOGUE_POOL], session, app[CATALOGUE_SETTINGS].harvest_config()))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _outage_probe(app: web.Application) -> AsyncIterator[None]:
    """The outage's probe stopped before the pool closes (node/http/outage.py)."""
    yield
    await app[CATALOGUE_OUTAGE].close()
