"""HTTP handlers for the Beacon API under /api: translate requests into calls on the beacon
core and its results into JSON. No query or response logic lives here."""
from __future__ import annotations

import logging

from aiohttp import web

from beacon import info, store
from beacon.datasets import collections_response, dataset_record
from beacon.responses import error_body
from node.jsonresponse import json_response
from node.keys import POOL, SETTINGS
from node.observability import REQUEST_ID, Handler

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """Client input the Beacon API refuses; the message names the offending field."""


@web.middleware
async def beacon_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as a Beacon error body; nothing internal leaks to the client."""
    beacon_id = request.app[SETTINGS].beacon_id
    try:
        return await handler(request)
    except BadRequest as exc:
        return json_response(error_body(beacon_id, 400, str(exc)), 400)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {404: f"no such endpoint or entry: {request.path}",
                   405: f"method {request.method} not allowed on {request.path}"}.get(
                       exc.status, exc.reason)
        return json_response(error_body(beacon_id, exc.status, message), exc.status,
                             headers={k: v for k, v in exc.headers.items()
                                      if k.lower() in ("allow", "www-authenticate")})
    except Exception:
        log.exception("unhandled error", extra={"request_id": request.get(REQUEST_ID)})
        return json_response(error_body(beacon_id, 500, "internal error; the request id in "
                                        "X-Request-ID identifies it in the node's logs"), 500)


def _int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: expected a whole number, got {raw!r}") from None
    if not 0 <= value <= maximum:
        raise BadRequest(f"{name}: must be between 0 and {maximum}")
    return value


async def _datasets(request: web.Request) -> list[store.DatasetRow]:
    return await store.list_datasets(request.app[POOL])


async def root(request: web.Request) -> web.Response:
    return json_response(info.beacon_info(request.app[SETTINGS], await _datasets(request)))


async def service_info(request: web.Request) -> web.Response:
    return json_response(info.service_info(request.app[SETTINGS], await _datasets(request)))


async def configuration(request: web.Request) -> web.Response:
    return json_response(info.configuration(request.app[SETTINGS], await _datasets(request)))


async def beacon_map(request: web.Request) -> web.Response:
    return json_response(info.beacon_map(request.app[SETTINGS]))


async def entry_types(request: web.Request) -> web.Response:
    return json_response(info.entry_types(request.app[SETTINGS]))


async def datasets(request: web.Request) -> web.Response:
    skip = _int_param(request, "skip", 0, 1_000_000)
    limit = _int_param(request, "limit", 10, 1000)
    return json_response(collections_response(request.app[SETTINGS].beacon_id,
                                              await _datasets(request), skip=skip, limit=limit))


async def dataset(request: web.Request) -> web.Response:
    row = await store.get_dataset(request.app[POOL], request.match_info["id"])
    if row is None:
        raise web.HTTPNotFound()
    response = collections_response(request.app[SETTINGS].beacon_id, [row])
    response["response"]["collections"] = [dataset_record(row)]
    return json_response(response)


def routes() -> list[web.RouteDef]:
    return [web.get("/api", root), web.get("/api/", root), web.get("/api/info", root),
            web.get("/api/service-info", service_info),
            web.get("/api/configuration", configuration), web.get("/api/map", beacon_map),
            web.get("/api/entry_types", entry_types), web.get("/api/datasets", datasets),
            web.get("/api/datasets/{id}", dataset)]
