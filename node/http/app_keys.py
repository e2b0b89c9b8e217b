"""Typed keys for what the applications and their requests carry (aiohttp AppKey and
RequestKey): the node's, then the catalogue service's."""
from __future__ import annotations

import asyncpg
from aiohttp import web

from auth.authenticate import Authenticator
from auth.policy import Caller
from beacon.audit import AuditTrail
from beacon.budget import Budgets
from beacon.count_batcher import CountBatcher
from beacon.dataset_cache import DatasetCache
from beacon.disclosure import DisclosurePolicy
from beacon.hung_server import Watchdog
from beacon.info import BeaconIdentity
from beacon.workload import Queries
from catalogue.document_dates import DocumentDates
from catalogue.site import SiteCache
from node.federation.network import Network
from node.http.metrics import Metrics
from node.http.outage import DatabaseOutage
from node.replicas import ReadPools
from node.settings import CatalogueSettings, Settings

# the node
SETTINGS = web.AppKey("settings", Settings)
BEACON = web.AppKey("beacon", BeaconIdentity)
POOL = web.AppKey("pool", asyncpg.Pool)
COUNTS = web.AppKey("counts", CountBatcher)
QUERIES = web.AppKey("queries", Queries)
WATCHDOG = web.AppKey("watchdog", Watchdog)
POLICY = web.AppKey("policy", DisclosurePolicy)
READS = web.AppKey("reads", ReadPools)           # only with database_replica_urls
BUDGETS = web.AppKey("budgets", Budgets)
AUDIT = web.AppKey("audit", AuditTrail)
METRICS = web.AppKey("metrics", Metrics)
OUTAGE = web.AppKey("outage", DatabaseOutage)
DATASETS = web.AppKey("datasets", DatasetCache)
# when each document of the FAIR Data Point last changed (catalogue/document_dates.py)
FDP_DATES = web.AppKey("fdp_dates", DocumentDates)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
NETWORK = web.AppKey("network", Network)
OPENAPI = web.AppKey("openapi", bytes)         # the document, serialised (beacon_api.openapi_json)
CALLER = web.RequestKey("caller", Caller)
# set where a handler read the purpose of use (beacon_api.declared_purpose): its answer
# varies by that header (node/http/middleware.py)
PURPOSE_READ = web.RequestKey("purpose_read", bool)

# the catalogue service
CATALOGUE_SETTINGS = web.AppKey("catalogue_settings", CatalogueSettings)
CATALOGUE_POOL = web.AppKey("catalogue_pool", asyncpg.Pool)
CATALOGUE_SITE = web.AppKey("catalogue_site", SiteCache)
CATALOGUE_OUTAGE = web.AppKey("catalogue_outage", DatabaseOutage)
