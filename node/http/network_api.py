"""HTTP handlers for the network's Beacon API under /network/api: parse the request as the
node would (same 400 errors), hand it to the peers (node/federation/network.py), and answer
with the merge (node/federation/merge.py).

Federated: info, map, g_variants, g_variants/{id}, datasets, datasets/{id},
datasets/{id}/g_variants, individuals, g_variants/{id}/individuals,
datasets/{id}/individuals (each peer applies its own disclosure rules, purpose of use
included: the body and the X-Purpose-Of-Use header travel as sent) and filtering_terms (each
term once, with the peers that offer it). entry_types and configuration are this node's own
(the network serves the same entry types; its peers may hold data at any access level).
service-info describes the network as a service of its own (merge.network_service_info),
asking no peer.

A request that has come round to this node through its peers, or through too many networks
(node/federation/network.py, onward_path), is refused with 508 Loop Detected before any peer
is asked.

Variant, individuals and dataset requests are audited as the node audits its own (one entry
per request, `_trail`), per peer asked; the peers get this request's id (X-Request-ID), so
their entries, which name the network node (and, where they trust it, the caller's
pseudonym) as the caller of an anonymous question, lead back to this one.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import hdrs, web

from auth.access import AccessLevel
from auth.policy import ANONYMOUS
from beacon import answer, info
from beacon.datasets import datasets_query
from beacon.filters import echo
from beacon.individuals import PURPOSE_HEADER, IndividualsQuery, individuals_query
from beacon.info import returned_schemas
from beacon.request import VariantQuery
from beacon.request_error import RequestError
from node.federation.merge import (
    NETWORK_API,
    found_nowhere,
    info_line,
    map_line,
    merge_collections,
    merge_variants,
    network_beacon_info,
    network_map,
    network_service_info,
    network_terms,
)
from node.federation.network import (
    VIA_HEADER,
    CollectionsAnswer,
    DocumentAnswer,
    NetworkDown,
    NetworkLoop,
    PeerOutcome,
    PeerRequest,
    VariantAnswer,
    network_down,
    onward_path,
    within_datasets,
    without_unwritable,
)
from node.http import beacon_api
from node.http.app_keys import AUDIT, BEACON, CALLER, NETWORK, SETTINGS
from node.http.beacon_api import (
    answers_test_mode,
    declared_purpose,
    post_body,
    reads_body,
    request_body,
    request_query,
    scoped_query,
    within_dataset,
)
from node.http.caller import caller_key, request_token
from node.http.metrics import REQUEST_ID, Handler
from node.http.responses import json_response, written_json_response


class LoopDetected(web.HTTPServerError):
    """508 (RFC 5842): the status a WebDAV server answers when it finds itself in a loop,
    which is what the network found; a Beacon error body (beacon_api.error_response)."""

    status_code = 508


def _onward(request: web.Request) -> str:
    """The networks the request has passed through, this node last (VIA_HEADER)."""
    try:
        return onward_path(request.headers.get(VIA_HEADER), request.app[SETTINGS].beacon_id)
    except NetworkLoop as exc:
        raise LoopDetected(text=str(exc)) from None


async def _forwarded(request: web.Request) -> PeerRequest:
    """The request as peers get it: same method (a HEAD as the GET it stands for: the peers'
    answers are merged, and a peer answers a HEAD without one), path below the API root,
    query string and body. Handlers parse it first, so a request a node would refuse is
    refused here."""
    via = _onward(request)
    path = _below_root(request)
    posted = reads_body(request)
    raw = await post_body(request) if posted else b""
    return PeerRequest(hdrs.METH_POST if posted else hdrs.METH_GET, path, via,
                       request.rel_url.raw_query_string, raw if raw.strip() else None,
                       request.headers.get(PURPOSE_HEADER), request.get(REQUEST_ID))


def _below_root(request: web.Request) -> str:
    """The request's path below the network's root as sent (percent-encoded), which every
    peer is asked below its own API root; a 400 naming the path when the root is not
    written as NETWORK_API. aiohttp routes on the decoded path, so `/network/%61pi/...`
    reached these handlers, and the root was then not stripped from the path as sent: every
    peer was asked `{root}/network/%61pi/...`, off its API (a false 404 "found nowhere" on a
    dataset's path, and the caller's token forwarded to that path; found by a review,
    2026-12-05). Refused rather than rebuilt from the decoded path, which would decode the
    ids `_path_id` relies on going on as sent; nobody's client encodes a plain root."""
    raw = request.rel_url.raw_path
    below = raw.removeprefix(NETWORK_API)
    if below == raw or below[:1] not in ("", "/"):
        raise RequestError("path", f"{raw[:200]} is not below the network's root as "
                                   f"{NETWORK_API} is written: percent-encode nothing of it")
    return below


def _path_id(request: web.Request) -> str:
    """The dataset or variant id in the request's path, which goes on to every peer as it
    came, percent-encoded (`_forwarded`): one holding '/' or '\\' (sent as %2F, %5C), or
    that is '.' or '..', is refused before any peer is asked. It names no entry, and a proxy
    in front of a peer that decodes it would route the request outside the peer's API
    (/api/datasets/..%2F..%2Fadmin to /admin), with the caller's token where it is
    forwarded."""
    given = request.match_info["id"]
    if "/" in given or "\\" in given or given in (".", ".."):
        raise RequestError("id", f"{given[:100]!r} is no dataset or variant id: it holds '/' "
                                 "or '\\', or is '.' or '..', which would lead a peer's "
                                 "request outside its API")
    return given


def _credentials(request: web.Request) -> tuple[str, str | None, str | None]:
    """Who asked: the caller's budget key (caller_key: what the audit trail names, and what
    the peers asked without the token get a pseudonym of), the bearer token and its verified
    issuer; no token and issuer for an anonymous caller (a token that did not verify gets
    here only with a test-mode request, as anonymous; elsewhere node/http/middleware.py
    answered 401). The key once per request, for both."""
    key = caller_key(request)
    caller = request.get(CALLER, ANONYMOUS)
    if caller.issuer is None:
        return key, None, None
    return key, request_token(request), caller.issuer


def _trail(app: web.Application, request: web.Request, key: str, lines: list[dict[str, Any]],
           asked: dict[str, Any], *, test_mode: bool, purpose: str | None = None) -> None:
    """The request's audit trail entry (beacon/audit.py): who asked, and per peer asked, its
    status and what the network passed on of its answer (the peer's line in
    `info.network.peers`). Peers see an anonymous caller of the network as the network node
    itself, or as a pseudonym of `key` (NETWORK_CALLER_HEADER); this entry, under the
    request id the peers were sent (PeerRequest.request_id), names who it was. The path as
    sent (percent-encoded): decoded, an id the peers were asked about could hold a NUL,
    which no audit entry can (fuzzing found it), where a node refuses such an id before it
    answers. None for a test-mode request, which audits nothing (docs/beacon.md), as a
    node's does not: the network wrote one per peer asked (found by a review,
    2026-12-05). `asked`: the question, as the answer's meta.receivedRequestSummary reads
    it. `app`: the request's, which its caller has at hand (`request.app` is two property
    calls). `purpose`: an individuals question's declared purpose of use, recorded with
    each peer asked, as a node records it with each dataset: the network's entry is the one
    naming who asked, and it left the purpose out, so the network's operator could not say
    for what a caller had asked the peers about individuals (found by a review,
    2026-12-06)."""
    if lines and not test_mode:
        app[AUDIT].record(request.get(REQUEST_ID, ""), key, request.rel_url.raw_path,
                          _told(lines, purpose), asked)


def _told(lines: list[dict[str, Any]], purpose: str | None = None
          ) -> dict[str, dict[str, Any]]:
    """Each peer's audit entry, by its id, from its line in `info.network.peers`: no timing;
    with the question's purpose of use, if any. One loop for all, not a call per peer in a
    comprehension's frame (bench/federation.py --overhead --parts instructions)."""
    peers: dict[str, dict[str, Any]] = {}
    for line in lines:
        told: dict[str, Any] = {"peer": line["status"],
                                "tokenForwarded": line["tokenForwarded"]}
        if "returnedGranularity" in line:
            told["granularity"] = line["returnedGranularity"]
            told["exists"] = line["exists"]
        if "numTotalResults" in line:
            told["count"] = line["numTotalResults"]
        if purpose:
            told["purpose"] = purpose
        peers[line["id"]] = told
    return peers


def _refuse_unanswered(outcomes: list[PeerOutcome]) -> None:
    """The network's answer when no peer answered the question: NetworkDown (503 with
    Retry-After) when none could, else 404 (every peer answered, none holds the entry)."""
    if network_down(outcomes):
        raise NetworkDown(outcomes)
    raise web.HTTPNotFound()


def _written(merge: Callable[[list[PeerOutcome]], dict[str, Any]],
             outcomes: list[PeerOutcome]) -> tuple[dict[str, Any], bytes]:
    """The merge of the peers' `outcomes`, and its JSON. A peer's JSON is read up to 1024
    levels deep and written up to 254, and what the merge passes on of it (records,
    datasets) is written as it came: when the merge cannot be written, it is made again
    with the peers whose answers cannot be as `invalid` (network.without_unwritable), where
    a record 300 levels deep made the network's answer a 500."""
    body = merge(outcomes)
    try:
        return body, orjson.dumps(body)
    except orjson.JSONEncodeError:
        body = merge(without_unwritable(outcomes))
        return body, orjson.dumps(body)


async def _variants(request: web.Request, query: VariantQuery, peer_request: PeerRequest,
                    *, scoped: bool = False, individuals: IndividualsQuery | None = None
                    ) -> web.Response:
    """The peers' answers merged; `individuals`: the request was for individuals (their
    answers have the variants' shape, with the individual schema and filters)."""
    key, bearer, issuer = _credentials(request)
    app = request.app
    network = app[NETWORK]
    async with network.slots:        # the peers' answers, held until written
        outcomes, peers = await network.fan_out(
            peer_request, VariantAnswer, caller=key, bearer=bearer, issuer=issuer,
            not_found_is_empty=scoped)
        asked = query.dataset_ids or ((request.match_info["id"],) if scoped else None)
        if asked:                    # else within_datasets gives them as they are
            outcomes = within_datasets(outcomes, asked, "resultSets")
        filters = None if individuals is None else echo(individuals.filters)
        purpose = None if individuals is None else individuals.purpose
        if (scoped and found_nowhere(outcomes)) or network_down(outcomes):
            _trail(app, request, key, [outcome.report() for outcome in outcomes],
                   answer.received(query, filters), test_mode=query.test_mode,
                   purpose=purpose)
            _refuse_unanswered(outcomes)
        extra = {} if individuals is None else {
            "schemas": returned_schemas(beacon_api.INDIVIDUAL), "filters": filters}
        beacon_id = app[SETTINGS].beacon_id
        body, written = _written(
            lambda taken: merge_variants(beacon_id, query, taken, peers, **extra), outcomes)
        _trail(app, request, key, body["info"]["network"]["peers"],
               body["meta"]["receivedRequestSummary"], test_mode=query.test_mode,
               purpose=purpose)
    return written_json_response(written)


@answers_test_mode
async def g_variants(request: web.Request) -> web.Response:
    query = await request_query(request)
    return await _variants(request, query, await _forwarded(request))


@answers_test_mode
async def g_variant(request: web.Request) -> web.Response:
    query = answer.located_query(_path_id(request), await request_body(request))
    return await _variants(request, query, await _forwarded(request))


@answers_test_mode
async def dataset_g_variants(request: web.Request) -> web.Response:
    query = await scoped_query(request, _path_id(request))
    return await _variants(request, query, await _forwarded(request), scoped=True)


@answers_test_mode
async def individuals(request: web.Request) -> web.Response:
    body = await request_body(request)
    query = individuals_query(body, purpose=declared_purpose(request, body.meta))
    return await _variants(request, query.variant, await _forwarded(request), individuals=query)


@answers_test_mode
async def variant_individuals(request: web.Request) -> web.Response:
    variant_id = _path_id(request)
    body = await request_body(request)
    query = individuals_query(body, purpose=declared_purpose(request, body.meta),
                              variant=answer.located_query(variant_id, body,
                                                           with_filters=True))
    return await _variants(request, query.variant, await _forwarded(request), individuals=query)


@answers_test_mode
async def dataset_individuals(request: web.Request) -> web.Response:
    dataset_id = _path_id(request)
    body = await request_body(request)
    query = individuals_query(body, purpose=declared_purpose(request, body.meta))
    within_dataset(query.variant.dataset_ids, dataset_id)
    return await _variants(request, query.variant, await _forwarded(request), scoped=True,
                           individuals=query)


async def _collections(request: web.Request, *, single: bool) -> web.Response:
    """The peers' datasets merged; `single`: one dataset's path (/datasets/{id}), whose
    `datasetIds`, if any, must be that dataset, as on the node's route (within_dataset):
    passed on, each peer refused it and the network answered `exists: false`, the dataset
    "not found" where it is held (found by a review, 2026-12-06)."""
    dataset_id = _path_id(request) if single else None
    query = datasets_query(await request_body(request))   # refused here as a node would
    if dataset_id is not None:
        within_dataset(query.dataset_ids or (), dataset_id)
    peer_request = await _forwarded(request)
    key, bearer, issuer = _credentials(request)
    app = request.app
    network = app[NETWORK]
    async with network.slots:        # the peers' answers, held until written
        outcomes, peers = await network.fan_out(
            peer_request, CollectionsAnswer, caller=key, bearer=bearer, issuer=issuer,
            not_found_is_empty=single)
        outcomes = within_datasets(outcomes, (request.match_info["id"],) if single
                                   else query.dataset_ids, "collections")
        if (single and found_nowhere(outcomes)) or network_down(outcomes):
            _trail(app, request, key, [outcome.report() for outcome in outcomes],
                   query.summary(), test_mode=query.test_mode)
            _refuse_unanswered(outcomes)
        beacon_id = app[SETTINGS].beacon_id
        body, written = _written(lambda taken: merge_collections(
            beacon_id, taken, peers, query), outcomes)
        _trail(app, request, key, body["info"]["network"]["peers"],
               body["meta"]["receivedRequestSummary"], test_mode=query.test_mode)
    return written_json_response(written)


@answers_test_mode
async def datasets(request: web.Request) -> web.Response:
    return await _collections(request, single=False)


@answers_test_mode
async def dataset(request: web.Request) -> web.Response:
    return await _collections(request, single=True)


async def beacon_info(request: web.Request) -> web.Response:
    outcomes, peers = await request.app[NETWORK].document("/info", _onward(request),
                                                          info_line)
    return json_response(network_beacon_info(request.app[BEACON], outcomes, peers))


async def beacon_map(request: web.Request) -> web.Response:
    outcomes, peers = await request.app[NETWORK].document("/map", _onward(request), map_line)
    return json_response(network_map(request.app[BEACON], outcomes, peers, _SERVED))


async def service_info(request: web.Request) -> web.Response:
    return json_response(network_service_info(request.app[BEACON]))


async def configuration(request: web.Request) -> web.Response:
    """The network's own configuration: the node's entry types, and every access level
    (each peer decides what its datasets are)."""
    return json_response(info.configuration(request.app[BEACON], [],
                                            [level.value for level in AccessLevel]))


@answers_test_mode
async def filtering_terms(request: web.Request) -> web.Response:
    """Every peer's filtering terms, asked as the caller (a peer lists the terms that caller
    may know of), merged: each term once, with the peers offering it, and the page the
    request asks of the merged list (merge.network_terms). The request is refused here as a
    node would refuse it; each peer is asked for its whole list (no skip or limit, which
    page a node's list), the most read of one being the network's bound on any peer's
    answer, MAX_PEER_BODY (a peer whose list is larger is listed as invalid)."""
    query = info.terms_query(await request_body(request))
    key, bearer, issuer = _credentials(request)
    whole = dataclasses.replace(await _forwarded(request), method="GET",
                                query_string="testMode=true" if query.test_mode else "",
                                body=None)
    network = request.app[NETWORK]
    async with network.slots:        # the peers' answers, held until merged
        outcomes, peers = await network.fan_out(whole, DocumentAnswer, caller=key,
                                                bearer=bearer, issuer=issuer)
        if network_down(outcomes):
            raise NetworkDown(outcomes)
        return json_response(network_terms(request.app[BEACON], query, outcomes, peers))


def _table() -> list[tuple[str, Handler, tuple[str, ...]]]:
    """(path below NETWORK_API, handler, methods): the routes, and what the map lists."""
    get, both = ("GET",), ("GET", "POST")
    return [
        ("", beacon_info, get), ("/", beacon_info, get), ("/info", beacon_info, get),
        ("/service-info", service_info, get), ("/map", beacon_map, get),
        ("/entry_types", beacon_api.entry_types, get),
        ("/configuration", configuration, get), ("/filtering_terms", filtering_terms, both),
        ("/g_variants", g_variants, both), ("/g_variants/{id}", g_variant, both),
        ("/datasets", datasets, both), ("/datasets/{id}", dataset, both),
        ("/datasets/{id}/g_variants", dataset_g_variants, both),
        ("/individuals", individuals, both), ("/g_variants/{id}/individuals",
                                              variant_individuals, both),
        ("/datasets/{id}/individuals", dataset_individuals, both),
    ]


def routes() -> list[web.RouteDef]:
    return [web.route(method, f"{NETWORK_API}{path}", handler)
            for path, handler, methods in _table() for method in methods]


_SERVED = frozenset(path for path, _, _ in _table())
# The network's descriptions, the same for every caller (the peers' /info and /map are asked
# anonymously) and holding no count: a shared cache may keep their anonymous answers
# (node/http/middleware.py); never a query's.
CALLER_INDEPENDENT = frozenset({beacon_info, beacon_map, service_info, configuration,
                                beacon_api.entry_types})
