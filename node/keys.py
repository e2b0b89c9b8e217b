"""Typed keys for what the application object carries (aiohttp AppKey)."""
from __future__ import annotations

import asyncpg
from aiohttp import web

from auth.authenticate import Authenticator
from auth.policy import Caller
from beacon.count_batcher import CountBatcher
from beacon.dataset_cache import DatasetCache
from node.federation import Network
from node.observability import Metrics
from node.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
COUNTS = web.AppKey("counts", CountBatcher)
METRICS = web.AppKey("metrics", Metrics)
DATASETS = web.AppKey("datasets", DatasetCache)
CALLER = web.RequestKey("caller", Caller)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
NETWORK = web.AppKey("network", Network)
