"""The one place that wires the node: settings, database, middleware and every route.

Follow the names from here: the handlers live in node/http/ (the Beacon API in beacon_api.py,
the network's in network_api.py, the FAIR Data Point in fdp.py, health and metrics), the
aggregator in node/federation/, the database pool in node/database.py, the publication to the
catalogue in node/publication/.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

from auth.authenticate import Authenticator
from auth.issuers import IssuerRegistry, accepted_grant_sources
from auth.jwks import JwksCache
from beacon import store
from beacon.audit import AuditTrail
from beacon.budget import Budgets, network_caller_secret
from beacon.count_batcher import CountBatcher
from beacon.dataset_cache import DatasetCache
from beacon.workload import Queries
from catalogue.document_dates import DocumentDates
from catalogue.fdp import FDP_PATH
from catalogue.rdf import FdpSite
from catalogue.record import CatalogueRecord
from node.database import (
    close_pool,
    create_pool,
    create_read_pool,
    resolve_database,
    start_embedded_again,
)
from node.federation.network import Network, PeerSessions
from node.http import beacon_api, health, network_api
from node.http import web as web_page
from node.http.app_keys import (
    AUDIT,
    AUTHENTICATOR,
    BEACON,
    BUDGETS,
    COUNTS,
    DATASETS,
    FDP_DATES,
    METRICS,
    NETWORK,
    OPENAPI,
    OUTAGE,
    POLICY,
    POOL,
    QUERIES,
    READS,
    SETTINGS,
    WATCHDOG,
)
from node.http.body import UNDECODED
from node.http.fdp import fdp_routes
from node.http.metrics import Metrics, metrics_handler
from node.http.middleware import node_middleware, unparsed_response
from node.http.outage import DatabaseOutage, shorten_pool_retries
from node.http.server import MAX_HEADER_FIELD_BYTES, answer_unparsed, hide_request_lines
from node.migrate import NODE_MIGRATIONS
from node.production import PRODUCTION
from node.publication.push import publishing
from node.publication.records import node_site
from node.replicas import ReadPools
from node.settings import Settings

log = logging.getLogger(__name__)
FORGET_SPENT_SECONDS = 3600.0     # how often spending past any budget's window is deleted


def create_app(settings: Settings, pool: asyncpg.Pool | None = None,
               shared_metrics: Path | None = None) -> web.Application:
    """The node's application; with `pool` given the caller owns the database (tests);
    `shared_metrics`: a worker's file of its counts (node/http/metrics.py Metrics)."""
    metrics = Metrics(shared_metrics)
    # the embedded database, if that is the one, started again when it has stopped; the
    # settings are the app's, whose database_url is the one `_database` connected to
    outage = DatabaseOutage(revive=lambda: start_embedded_again(app[SETTINGS]))
    hide_request_lines()
    shorten_pool_retries()
    docs = web_page.docs_routes()
    pages = [*fdp_routes(_fdp_site, FDP_PATH), *web_page.routes()]
    # what a shared cache may keep of an anonymous answer (node/http/middleware.py): the
    # API's documents and the pages, the FAIR Data Point's included
    documents = frozenset({*beacon_api.CALLER_INDEPENDENT, *network_api.CALLER_INDEPENDENT,
                           *(route.handler for route in [*docs, *pages])})
    app = web.Application(middlewares=[node_middleware(metrics, outage, settings.cors_origins,
                                                       tuple(settings.api_alias_roots),
                                                       documents)],
                          handler_args={"max_field_size": MAX_HEADER_FIELD_BYTES,
                                        **UNDECODED})    # post_body decodes (node/http/body.py)
    answer_unparsed(app, partial(unparsed_response, settings.beacon_id, metrics))
    app[SETTINGS] = settings
    app[BEACON] = settings.beacon_identity()
    app[POLICY] = settings.disclosure_policy()
    app[METRICS] = metrics
    app[OUTAGE] = outage
    app[OPENAPI] = beacon_api.openapi_json(settings)
    if pool is not None:
        app[POOL] = pool
    else:
        app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_queries)
    app.cleanup_ctx.append(_audit_trail)
    app.cleanup_ctx.append(_budget_housekeeping)
    app.cleanup_ctx.append(_dataset_cache)
    app.cleanup_ctx.append(_http_client)
    app.cleanup_ctx.append(_catalogue_publisher)
    app.cleanup_ctx.append(partial(_outage_probe, outage))     # closed first, pool last
    if shared_metrics is not None:
        app.cleanup_ctx.append(_sharing_metrics)
    app.on_startup.append(_drop_abandoned_staging)
    app.on_startup.append(_freeze_startup_objects)
    app.add_routes([web.get("/health", health.health), web.get("/ready", health.ready),
                    web.get("/metrics", metrics_handler(metrics))])
    app.add_routes(beacon_api.routes())
    app.add_routes(docs)                      # the interactive API page, /api/docs
    for root in settings.api_alias_roots:
        app.add_routes(_beneath(root, [*beacon_api.routes(), *docs]))
    app.add_routes(network_api.routes())      # always; no peers = an empty network
    app.add_routes(pages)    # the FAIR Data Point, the researchers' page at / (docs/web.md)
    return app


def _beneath(root: str, routes: list[web.RouteDef]) -> list[web.RouteDef]:
    """The Beacon API's routes (/api/...) again under an alias root (Settings.api_alias_roots),
    the same handlers for every endpoint and method: a client whose paths differ (the GDI
    portal calls {base URL}/v2.0.0/g_variants) reaches the node without a rewriting proxy."""
    return [web.route(r.method, root + r.path.removeprefix("/api"), r.handler)
            for r in routes]


async def _fdp_site(request: web.Request) -> FdpSite:
    return await _node_site(request.app)


async def _node_site(app: web.Application) -> FdpSite:
    """The node's FAIR Data Point as of now, built once per version of the datasets (read
    with the last removal, which dates the catalog when it is later than every dataset
    shown), dated by its documents' last changes of content too (FDP_DATES): a change of
    the settings they show moved no date. The records pushed to the catalogue are its."""
    settings, datasets = app[SETTINGS], app[DATASETS]
    # a removal notifies the change that reloads the list and, with it, `removed`
    site = await datasets.derived("fdp-site",
                                  lambda rows: node_site(settings, rows, datasets.removed))
    return await app[FDP_DATES].dated(site)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    target = await resolve_database(settings)
    app[SETTINGS] = settings.model_copy(update={"database_url": target.url})
    limits = settings.query_limits()
    app[POOL] = await create_pool(target.url, settings, NODE_MIGRATIONS,
                                 limits.pool_settings(), limits.client_limits())
    log.info("database ready (%s)", "embedded" if target.embedded else "external")
    yield
    await close_pool(app[POOL])


async def _queries(app: web.Application) -> AsyncIterator[None]:
    """Variant and individuals statements read from the replicas when there are some
    (node/replicas.py); budgets write to the primary."""
    settings = app[SETTINGS]
    limits = settings.query_limits()
    reads: asyncpg.Pool | ReadPools = app[POOL]
    if settings.database_replica_urls:
        reads = app[READS] = ReadPools(
            app[POOL], settings.database_replica_urls,
            lambda url, init: create_read_pool(url, settings, limits.pool_settings(),
                                               limits.client_limits(), init=init),
            settings.replica_poll_seconds)
        await reads.start()
    watchdog = app[WATCHDOG] = limits.watchdog()
    watchdog.start()
    routed = isinstance(reads, ReadPools)
    app[COUNTS] = CountBatcher(reads, settings.count_lanes, app[METRICS].count_round_trip,
                               watchdog, usable=reads.usable if routed else None,
                               replica=reads.on_replica if routed else None)
    app[QUERIES] = Queries(reads, app[COUNTS], limits, primary=app[POOL], watchdog=watchdog,
                           replica=reads.on_replica if routed else None)
    app[BUDGETS] = Budgets(app[POOL], app[POLICY], watchdog)
    yield
    await app[COUNTS].close()
    await watchdog.close()
    if READS in app:
        await app[READS].close()


async def _budget_housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Every FORGET_SPENT_SECONDS, the minutes of budget spending no take reads again are
    deleted (Budgets.forget_spent); each worker does so, the later ones finding none. A
    failure (the database away) is logged and tried again at the next turn."""
    async def forget() -> None:
        while True:
            try:
                forgotten = await app[BUDGETS].forget_spent()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("budget housekeeping: %s", type(exc).__name__)
            else:
                if forgotten:
                    log.info("budget housekeeping: %d minutes of spending past any window "
                             "deleted", forgotten)
            await asyncio.sleep(FORGET_SPENT_SECONDS)
    task = asyncio.create_task(forget())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _audit_trail(app: web.Application) -> AsyncIterator[None]:
    app[AUDIT] = AuditTrail(app[POOL], app[WATCHDOG], app[SETTINGS].audit_flush_seconds)
    app[AUDIT].start()
    yield
    await app[AUDIT].close()


async def _dataset_cache(app: web.Application) -> AsyncIterator[None]:
    """The datasets, reloaded on every change an ingest notifies. With replicas, each change
    also makes the router read the primary's WAL position again (node/replicas.py), and it
    reads it once more here, after LISTEN is active: ReadPools.start() (in _queries, before)
    read it before anyone listened, so a swap committed in between was notified to no one
    while the cache's first load reads its version from the primary, and a replica that had
    not replayed it stayed in rotation, answering the old version. A start that hides the
    CONTROLLED datasets where the last did not (or the other way) is noted first, as a
    removal, which dates the FAIR Data Point (store.note_hiding)."""
    async with app[POOL].acquire() as conn:     # before the first load reads the date
        await store.note_hiding(conn, app[SETTINGS].hide_controlled_datasets)
        await _warn_of_ungoverned(conn, app[SETTINGS])
    cache = DatasetCache(app[POOL], watchdog=app[WATCHDOG])
    await cache.start(app[SETTINGS].database_url or "")
    app[FDP_DATES] = DocumentDates(app[POOL], forward_only=True)    # versions, removals
    if READS in app:
        cache.subscribe(app[READS].datasets_changed)
        app[READS].datasets_changed()
    app[DATASETS] = cache
    yield
    await cache.stop()


async def _warn_of_ungoverned(conn: asyncpg.Connection, settings: Settings) -> None:
    """The operator warned when grants from several sources are accepted and a dataset
    names none of its own (`gdi-node datasets grant-sources`): any of them grants it, one
    DAC's grant a dataset another governs (docs/auth.md). Of any access level: a grant is
    the granted tier's rules there too (a REGISTERED dataset's rare variants, a PUBLIC one's
    individual records; store.ungoverned). Asked only then."""
    sources = accepted_grant_sources(settings.trusted_issuers)
    if len(sources) < 2:
        return
    found = await store.ungoverned(conn)
    if found:
        shown = ", ".join(f"{dataset_id} ({level})" for dataset_id, level in found[:10]) + (
            f" and {len(found) - 10} more" if len(found) > 10 else "")
        log.warning("grants from %d sources are accepted (%s), and the datasets %s name none "
                    "of their own: a grant from any of them grants each, its holder answered "
                    "in the granted tier there (gdi-node datasets grant-sources ID "
                    "--grant-source URL names whose do)",
                    len(sources), ", ".join(sorted(sources)), shown)


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """The outgoing HTTP sessions: one for the issuers (discovery, JWKS, userinfo), one for
    each of the network's peers and its registry (network.PeerSessions). Apart, so that no
    peer, however many of its connections hang, holds a connection a token's verification
    or another peer waits for: with one session of aiohttp's default 100 connections, a
    frozen peer held them all under load, and the healthy peers' answers and the JWKS
    queued behind it."""
    settings = app[SETTINGS]
    # No cookie jar: the session serves every caller, so a cookie one issuer sets must never
    # ride along on another caller's request (it also saves a jar lookup per request).
    # No session-wide timeout: every use sets its own.
    async with (aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                      timeout=aiohttp.ClientTimeout(total=None)) as session,
                PeerSessions() as peers):
        jwks = JwksCache(session, cooldown=settings.jwks_cooldown_seconds,
                         max_age=settings.jwks_max_age_seconds,
                         keep=settings.jwks_keep_seconds)
        registry = IssuerRegistry(settings.trusted_issuers,
                                  production=settings.environment == PRODUCTION)
        await registry.discover(session)
        app[AUTHENTICATOR] = Authenticator(registry, session, jwks)
        app[NETWORK] = Network(app[SETTINGS], peers, await network_caller_secret(app[POOL]),
                               app[METRICS].peers_answered)
        yield
        await app[NETWORK].close()


async def _catalogue_publisher(app: web.Application) -> AsyncIterator[None]:
    """Publish to the catalogue service at start and after every dataset change."""
    async def records() -> list[CatalogueRecord]:
        return (await _node_site(app)).records()

    async with publishing(app[SETTINGS], app[DATASETS], records):
        yield


async def _sharing_metrics(app: web.Application) -> AsyncIterator[None]:
    """A worker's counts written for the others while it serves, and once more at its end."""
    task = asyncio.create_task(app[METRICS].keep_sharing())
    yield
    task.cancel()
    app[METRICS].save()


async def _outage_probe(outage: DatabaseOutage, app: web.Application) -> AsyncIterator[None]:
    """Stopped after the requests drained (on_shutdown runs before they do, and one failing
    then would start a probe nobody stops) and before the pool closes."""
    yield
    await outage.close()


async def _drop_abandoned_staging(app: web.Application) -> None:
    """What interrupted ingests left goes at the node's start, not at the next ingest of the
    same dataset (which may never come)."""
    async with app[POOL].acquire() as conn:
        await store.drop_abandoned_staging(conn)


async def _freeze_startup_objects(app: web.Application) -> None:
    """Move everything alive after start-up (modules, pools, caches) out of the garbage
    collector's sight. Each collection otherwise rescans them while requests churn through
    short-lived objects: measured +15-19% requests/s on sequence queries (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()

