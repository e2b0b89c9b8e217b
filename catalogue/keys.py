"""Typed keys for what the catalogue application object carries (aiohttp AppKey)."""
from __future__ import annotations

import asyncpg
from aiohttp import web

from catalogue.settings import CatalogueSettings
from catalogue.site import SiteCache

SETTINGS = web.AppKey("catalogue_settings", CatalogueSettings)
POOL = web.AppKey("catalogue_pool", asyncpg.Pool)
SITE = web.AppKey("catalogue_site", SiteCache)
