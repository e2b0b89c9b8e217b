"""Serving an application until SIGINT/SIGTERM, for every role the program runs (node,
catalogue, development AAI): in-flight requests get a few seconds to finish."""
from __future__ import annotations

import logging

from aiohttp import web

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 10


def run(app: web.Application, role: str, host: str, port: int,
        public_base_url: str | None = None) -> None:
    log.info("%s serving on http://%s:%d%s", role, host, port,
             f" (public base URL {public_base_url})" if public_base_url else "")
    web.run_app(app, host=host, port=port, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS,
                print=None)
