"""HTTP handlers for the node's Beacon API under /api: translate requests into calls on the
beacon core and its results into JSON. No query or response logic lives here."""
from __future__ import annotations

import dataclasses
import logging

import orjson
from aiohttp import web

from auth.policy import ANONYMOUS
from beacon import answer, info
from beacon.budget import BudgetExceeded, charge, charge_rare
from beacon.datasets import Seen, collections_response, visible
from beacon.openapi import openapi_document
from beacon.request import (
    RequestBody,
    RequestError,
    VariantQuery,
    parse_body,
    parse_get,
    query_from_get,
    to_query,
)
from beacon.responses import error_body
from beacon.store import DatasetRow
from beacon.workload import QueryTimeout
from node.http.app_keys import (
    AUDIT,
    BEACON,
    BUDGETS,
    CALLER,
    DATASETS,
    POLICY,
    QUERIES,
    SETTINGS,
)
from node.http.caller import audit, caller_key
from node.http.metrics import REQUEST_ID, Handler
from node.http.outage import RETRY_AFTER_SECONDS
from node.http.responses import json_response

log = logging.getLogger(__name__)
_RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def error_response(request: web.Request, exc: Exception) -> web.Response:
    """Every error leaves as a Beacon error body; nothing internal leaks to the client.
    (Redirects are not errors: node/http/middleware.py lets aiohttp send them.)"""
    beacon_id = request.app[SETTINGS].beacon_id
    if isinstance(exc, RequestError):
        return json_response(error_body(beacon_id, 400, str(exc)), 400)
    if isinstance(exc, QueryTimeout):      # the load, not the caller: retry, or ask narrower
        return json_response(error_body(beacon_id, 503, str(exc)), 503, headers=_RETRY_AFTER)
    if isinstance(exc, BudgetExceeded):
        return json_response(error_body(beacon_id, 429, str(exc)), 429,
                             headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, web.HTTPException):
        message = {404: f"no such endpoint or entry: {request.path}",
                   405: f"method {request.method} not allowed on {request.path}"}.get(
                       exc.status, exc.text or exc.reason)
        return json_response(error_body(beacon_id, exc.status, message), exc.status,
                             headers={k: v for k, v in exc.headers.items()
                                      if k.lower() in ("allow", "www-authenticate")})
    log.exception("unhandled error", extra={"request_id": request.get(REQUEST_ID)},
                  exc_info=exc)
    return json_response(error_body(beacon_id, 500, "internal error; the request id in "
                                    "X-Request-ID identifies it in the node's logs"), 500)


def unavailable_response(request: web.Request) -> web.Response:
    """503 with Retry-After while the database is unavailable (the outage is logged once, by
    node/http/outage.py, not per request)."""
    return json_response(error_body(request.app[SETTINGS].beacon_id, 503, "the node's database "
                                    "is unavailable; retry later"), 503, headers=_RETRY_AFTER)


async def request_body(request: web.Request) -> RequestBody:
    """The request as a Beacon body, from the query string (GET) or the JSON body (POST)."""
    if request.method == "GET":
        return parse_get(list(request.query.items()))
    raw = await request.read()
    if not raw.strip():
        return parse_body({})
    try:
        return parse_body(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise RequestError("body", f"not valid JSON ({exc})") from None


async def request_query(request: web.Request) -> VariantQuery:
    """The variant query of a request: a plain GET by the fast path, anything else parsed
    in full (which also words every refusal)."""
    if request.method == "GET":
        query = query_from_get(request.query.items())
        if query is not None:
            return query
    return to_query(await request_body(request))


async def _visible(request: web.Request) -> dict[str, Seen]:
    """The datasets this request's caller may know of, with what they may see of each."""
    caller = request.get(CALLER, ANONYMOUS)
    policy = request.app[POLICY]
    return await request.app[DATASETS].derived(
        ("visible", caller), lambda rows: visible(rows, caller, policy))


def _trail(request: web.Request, caller: str, datasets: dict[str, dict[str, object]]) -> None:
    """The request's audit trail entry (beacon/audit.py), when it disclosed anything."""
    if datasets:
        request.app[AUDIT].record(request.get(REQUEST_ID, ""), caller, request.path, datasets)


def _listed(seen: list[Seen]) -> dict[str, dict[str, object]]:
    """Dataset records disclose the datasets' (rounded) variant and sample counts."""
    return {d.row.id: {"tier": d.tier, "granularity": "record", "exists": True, "spent": 0}
            for d in seen}


async def _answer(request: web.Request, query: VariantQuery) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    key = caller_key(request)
    chosen = answer.select_datasets(query, await _visible(request))
    left = await charge(app[BUDGETS], key, [(d.row.id, d.rules) for d in chosen])
    answers = await answer.answer_datasets(app[QUERIES], query, chosen,
                                          base_url=settings.base_url)
    spent = await charge_rare(app[BUDGETS], key, [(a.dataset.id, a.seen.rules)
                                                  for a in answers if a.rare], left)
    audit(request, {a.dataset.id: a.granularity for a in answers})
    _trail(request, key, {
        a.dataset.id: {"tier": a.seen.tier, "granularity": a.granularity, "exists": a.exists,
                       **({"count": a.count.value} if a.granularity != "boolean" else {}),
                       "spent": spent.get(a.dataset.id, 0)} for a in answers})
    info = {"budget": {dataset_id: {"windowLeft": remaining.window, "dayLeft": remaining.day,
                                    "windowSeconds": app[POLICY].window_seconds}
                       for dataset_id, remaining in left.items()}} if left else None
    return json_response(answer.response(settings.beacon_id, query, answers, info))


async def g_variants(request: web.Request) -> web.Response:
    return await _answer(request, await request_query(request))


async def g_variant(request: web.Request) -> web.Response:
    """One variant by id, in every dataset that holds it."""
    return await _answer(request, answer.located_query(request.match_info["id"],
                                                       await request_body(request)))


async def scoped_query(request: web.Request, dataset_id: str) -> VariantQuery:
    """The variant query of /datasets/{id}/g_variants: its datasetIds, if any, must be that
    dataset (here and on the network's route alike)."""
    query = await request_query(request)
    if query.dataset_ids and set(query.dataset_ids) != {dataset_id}:
        raise RequestError("datasetIds", f"conflicts with the dataset in the path ({dataset_id})")
    return query


async def dataset_g_variants(request: web.Request) -> web.Response:
    dataset_id = request.match_info["id"]
    if dataset_id not in await _visible(request):
        raise web.HTTPNotFound()
    query = await scoped_query(request, dataset_id)
    return await _answer(request, dataclasses.replace(query, dataset_ids=(dataset_id,)))


async def _known(request: web.Request) -> list[DatasetRow]:
    """The datasets the caller may know exist: what /info and /service-info count."""
    return [d.row for d in (await _visible(request)).values()]


async def root(request: web.Request) -> web.Response:
    return json_response(info.beacon_info(request.app[BEACON], await _known(request)))


async def service_info(request: web.Request) -> web.Response:
    return json_response(info.service_info(request.app[BEACON], await _known(request)))


async def configuration(request: web.Request) -> web.Response:
    return json_response(info.configuration(request.app[BEACON], await _known(request)))


async def beacon_map(request: web.Request) -> web.Response:
    return json_response(info.beacon_map(request.app[BEACON]))


async def entry_types(request: web.Request) -> web.Response:
    return json_response(info.entry_types(request.app[BEACON]))


async def filtering_terms(request: web.Request) -> web.Response:
    return json_response(info.filtering_terms(request.app[BEACON]))


async def datasets(request: web.Request) -> web.Response:
    body = await request_body(request)
    pagination = body.query.pagination
    seen = list((await _visible(request)).values())
    audit(request, {d.row.id: "record" for d in seen})
    _trail(request, caller_key(request), _listed(seen))
    return json_response(collections_response(
        request.app[SETTINGS].beacon_id, seen, skip=pagination.skip, limit=pagination.limit))


async def dataset(request: web.Request) -> web.Response:
    found = (await _visible(request)).get(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound()
    audit(request, {found.row.id: "record"})
    _trail(request, caller_key(request), _listed([found]))
    return json_response(collections_response(request.app[SETTINGS].beacon_id, [found]))


async def openapi(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    described = [(method, path, summary) for path, _, methods, summary in _endpoints()
                 for method in methods if path != "/api/"]
    return json_response(openapi_document(described, settings.base_url, settings.beacon_name))


def _endpoints() -> list[tuple[str, Handler, tuple[str, ...], str]]:
    """(path, handler, methods, summary): informational endpoints answer GET, entry endpoints
    GET and POST. The OpenAPI document is generated from this table."""
    get, both = ("GET",), ("GET", "POST")
    return [
        ("/api", root, get, "Beacon information"), ("/api/", root, get, "Beacon information"),
        ("/api/info", root, get, "Beacon information"),
        ("/api/service-info", service_info, get, "GA4GH service-info"),
        ("/api/configuration", configuration, get, "Beacon configuration"),
        ("/api/map", beacon_map, get, "Map of the served endpoints"),
        ("/api/entry_types", entry_types, get, "Entry types served"),
        ("/api/openapi.json", openapi, get, "This OpenAPI document"),
        ("/api/g_variants", g_variants, both, "Genomic variants matching a query, per dataset"),
        ("/api/g_variants/{id}", g_variant, both, "One variant by variantInternalId"),
        ("/api/datasets", datasets, both, "Datasets held by this node"),
        ("/api/datasets/{id}", dataset, both, "One dataset"),
        ("/api/datasets/{id}/g_variants", dataset_g_variants, both,
         "Genomic variants matching a query in one dataset"),
        ("/api/filtering_terms", filtering_terms, both, "Filtering terms (none offered)"),
    ]


def routes() -> list[web.RouteDef]:
    return [web.route(method, path, handler) for path, handler, methods, _ in _endpoints()
            for method in methods]
