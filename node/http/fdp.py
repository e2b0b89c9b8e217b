"""FAIR Data Point HTTP handlers, shared by the node and the catalogue service: each mounts
them under its own prefix with its own way of building the site (`site_for`); the documents
themselves come from catalogue/fdp.py.

Errors leave as short text/plain bodies, never as an empty 200: a harvester that gets an empty
root deletes every dataset it had (DOMAIN.md §4). A failure to build the site (database down)
answers 503 with Retry-After; a failure to render answers 500.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

from aiohttp import web

from catalogue.fdp import FDP_PATH, KINDS, Document, render
from catalogue.negotiation import NegotiationError, choose
from catalogue.rdf import FdpSite
from node.http.metrics import unavailable
from node.http.outage import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)
SiteFor = Callable[[web.Request], Awaitable[FdpSite]]
RETRY_AFTER_SECONDS = "30"


def fdp_routes(site_for: SiteFor, prefix: str = FDP_PATH) -> list[web.RouteDef]:
    """GET (and HEAD) for the root at `prefix` and each resource below it; `prefix` is
    non-empty and has no trailing slash, and `prefix + "/"` redirects to the root."""
    async def resource(request: web.Request) -> web.StreamResponse:
        return await _answer(request, site_for, request.rel_url.raw_path[len(prefix) + 1:])

    async def root(request: web.Request) -> web.StreamResponse:
        return await _answer(request, site_for, "")

    # Relative to `prefix + "/"`, so that a proxy serving the node under a path keeps the
    # client under it: `/fdp` took it to the proxy's own /fdp, outside the node
    back_to_root = "../" + prefix.rpartition("/")[2]

    async def to_root(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.raw_query_string
        raise web.HTTPPermanentRedirect(back_to_root + (f"?{query}" if query else ""))

    return [web.get(prefix, root), web.get(prefix + "/", to_root),
            web.get(prefix + "/{kind:(" + "|".join(KINDS) + ")}/{key}", resource)]


def _plain(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain",
                        headers={"Vary": "Accept", **headers})


async def _answer(request: web.Request, site_for: SiteFor, path: str) -> web.StreamResponse:
    try:
        rdf_format = choose(request.query.get("format"), request.headers.get("Accept"))
    except NegotiationError as exc:
        return _plain(exc.status, str(exc))
    try:
        site = await site_for(request)
    except DATABASE_UNAVAILABLE as exc:
        # the outage's, said in one line (node/http/outage.py logs its start and end)
        log.warning("FAIR Data Point unavailable: the database is (%s)", type(exc).__name__)
        return unavailable(_plain(503, "catalogue metadata temporarily unavailable; try "
                                  "again later", **{"Retry-After": RETRY_AFTER_SECONDS}),
                           "database")
    except Exception:
        log.exception("FAIR Data Point unavailable: cannot build the site")
        return _plain(503, "catalogue metadata temporarily unavailable; try again later",
                      **{"Retry-After": RETRY_AFTER_SECONDS})
    try:
        document = render(site, path, rdf_format)
    except Exception:
        log.exception("FAIR Data Point could not render %s", request.path)
        return _plain(500, "internal error while rendering catalogue metadata")
    if document is None:
        return _plain(404, f"no such resource: {request.path}")
    headers = {"Vary": "Accept", "ETag": document.etag}
    if document.last_modified is not None:
        headers["Last-Modified"] = document.last_modified
    if _not_modified(request, document):
        response = web.Response(status=304, headers=headers)
    else:
        response = web.Response(body=document.body, headers=headers,
                                content_type=rdf_format.media_type, charset="utf-8")
    return response


def _not_modified(request: web.Request, document: Document) -> bool:
    """If-None-Match, or when there is none If-Modified-Since (RFC 9110 §13.2.2): a harvester
    asking whether the document changed since the Last-Modified it read. It was never
    evaluated, each such GET a 200 with the whole document. A document's date moves with
    every change of it (catalogue/document_dates.py), so not after the date asked: none."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return _matches(if_none_match, document.etag)
    since = _if_modified_since(request)
    return (since is not None and document.last_modified is not None
            and parsedate_to_datetime(document.last_modified) <= since)


def _if_modified_since(request: web.Request) -> datetime | None:
    """The If-Modified-Since date; None for none, or for no valid HTTP-date, which is
    ignored (RFC 9110 §13.1.3). aiohttp raised OverflowError for a year past what a date
    holds (a fuzzer's `07 Dec 99999999999999999999`), and the document was a 500."""
    try:
        return request.if_modified_since
    except (OverflowError, ValueError):
        return None


def _matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses weak comparison (RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags
