"""The one middleware every node request passes through.

In order: a request id and the clock start (node/http/metrics.py); a CORS preflight from an
allowed origin, answered here; the caller, from the bearer token (node/http/caller.py; not
checked on a test-mode request to an entry endpoint, `_caller`); the
handler; any failure as a Beacon error body (node/http/beacon_api.py): a bad token as 401,
a token whose issuer's keys cannot be read as 503, the database unavailable as 503
(node/http/outage.py); then metrics, the access log line, the
X-Request-ID response header and the headers every response carries (`_header_sets`). One
middleware rather than one per concern, so that this order is written in one place, and
because each aiohttp middleware layer costs a partial call and a coroutine per request (about
1% of a sequence-count request's instructions under valgrind; docs/benchmarks.md). For the
same reason the headers are dicts made once, and a request picks one.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import hdrs, web
from multidict import CIMultiDict, istr

from auth.policy import ANONYMOUS, Caller
from auth.tokens import InvalidToken, IssuerUnavailable
from beacon.individuals import PURPOSE_HEADER
from beacon.request import asks_test_mode
from beacon.responses import error_body
from node.http.app_keys import CALLER, POOL, PURPOSE_READ
from node.http.beacon_api import (
    error_response,
    post_body,
    reads_body,
    route_answers_test_mode,
    unavailable_response,
)
from node.http.caller import URL_TOKEN, caller_of, refusal, unverifiable
from node.http.metrics import (
    REQUEST_ID_HEADER,
    STARTED,
    Handler,
    Metrics,
    finished,
    refused,
    request_id,
)
from node.http.outage import DATABASE_UNAVAILABLE, DatabaseOutage
from node.http.responses import json_response
from node.http.server import SERVER_NAME

CSP = "Content-Security-Policy"
EVERY_RESPONSE = {
    "X-Content-Type-Options": "nosniff",
    # The node serves JSON and RDF: nothing to load, nothing to frame. The researchers' page
    # (node/http/web.py) sets a policy of its own, which is kept (_add).
    CSP: "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Server": SERVER_NAME,           # instead of aiohttp's "Python/3.x aiohttp/3.y" banner
}
# An answer to a request with a token is that caller's, and an anonymous one that holds the
# node's data (a count, records, the datasets known) a disclosure the audit trail and the
# query budget must see: no cache may keep either to answer another request in the node's
# place (docs/privacy.md, "Shared caches").
_PRIVATE = {"Cache-Control": "no-store"}
# Every request header the node documents: a browser sends none the preflight leaves out
# (the purpose of use and a packed body's coding, docs/beacon.md; the caller's own request
# id, README.md).
PREFLIGHT = {"Access-Control-Allow-Methods": "GET, POST",
              "Access-Control-Allow-Headers": f"Authorization, Content-Type, Content-Encoding, "
                                              f"{PURPOSE_HEADER}, X-Request-ID",
              "Access-Control-Max-Age": "600"}
_CORS_PATHS = ("/api", "/network/api")
_EXPOSED = "X-Request-ID, Retry-After, WWW-Authenticate"     # scripts read them on errors


def unparsed_response(beacon_id: str, metrics: Metrics, request: web.Request | None,
                      status: int, message: str) -> web.Response:
    """The node's answer to a request aiohttp refused before this middleware (node/http/
    server.py answer_unparsed: one it could not parse, `request` None; an expectation it does
    not meet), the node's and its stand-in's (node/http/stand_in.py): a Beacon error body,
    with the headers every answer carries, counted in /metrics (this middleware, which adds
    them and counts, never sees such a request)."""
    refused(metrics, request, status)
    return json_response(error_body(beacon_id, status, message), status, headers=EVERY_RESPONSE)


def _origin_sets(cors_origins: list[str]
                 ) -> tuple[tuple[dict[str, str], dict[str, str]],
                            dict[str, tuple[dict[str, str], dict[str, str]]]]:
    """The header sets (_header_sets) of an answer to a request from no allowed origin, and
    by each allowed origin those of an answer to one from it.

    Every answer varies by Authorization: a Beacon answer holds what the caller's grants
    allow, and on any route a token that does not verify is a 401. An anonymous answer of
    a document carries no Cache-Control, and a shared cache that keeps it would, without
    this, hand it to a signed-in caller (RFC 9111 4.1; RFC 9110 12.5.5). With origins
    configured every answer varies by Origin too (an allowed one is named, any other is
    not), so that no cache hands one origin's answer to another. A handler's own Vary (the
    FDP's Accept) stays beside it (_add)."""
    vary = {hdrs.VARY: f"{hdrs.ORIGIN}, {hdrs.AUTHORIZATION}" if cors_origins
            else hdrs.AUTHORIZATION}
    return _header_sets(vary), {
        origin: _header_sets({**vary, "Access-Control-Allow-Origin": origin,
                              "Access-Control-Expose-Headers": _EXPOSED})
        for origin in cors_origins}


def outage_headers(cors_origins: list[str], alias_roots: tuple[str, ...] = ()
                   ) -> Callable[[web.Request], tuple[bool, dict[str, str]]]:
    """For a worker standing in during an outage (node/http/stand_in.py), whose answers are
    all the node's own headers, none kept by a cache: whether a request is a CORS
    preflight from an allowed origin (answered 204 as the node's, so that a page's script
    goes on to read the 503), and the headers of its answer, an allowed origin named. Its
    503s carried no CORS headers, and a researcher's page on another origin read them as a
    network failure, Retry-After unseen."""
    plain, allowed = _origin_sets(cors_origins)
    roots = _CORS_PATHS + alias_roots

    def headers(request: web.Request) -> tuple[bool, dict[str, str]]:
        chosen = allowed.get(request.headers.get(hdrs.ORIGIN), plain) if allowed else plain
        preflight = (chosen is not plain and request.method == hdrs.METH_OPTIONS
                     and request.path.startswith(roots))
        return preflight, chosen[1]
    return headers


def _header_sets(cors_headers: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The headers of an answer a shared cache may keep (an anonymous request's for a
    document), and of any other (_PRIVATE)."""
    anonymous = _folded({**EVERY_RESPONSE, **cors_headers})
    return anonymous, {**anonymous, **_folded(_PRIVATE)}


def _folded(headers: dict[str, str]) -> dict[str, str]:
    """`headers` with their names as istr, which a response's CIMultiDict takes as they are
    (a str name it folds again for every response: 0.3% of a network request's
    instructions, bench/federation.py --overhead)."""
    return {istr(name): value for name, value in headers.items()}


def _preflight(request: web.Request, roots: tuple[str, ...]) -> bool:
    """A CORS preflight to a Beacon API route (below one of `roots`): OPTIONS, which no
    route answers itself."""
    exception = request.match_info.http_exception
    return (request.method == hdrs.METH_OPTIONS and request.path.startswith(roots)
            and exception is not None and exception.status == 405)


async def _caller(request: web.Request) -> Caller:
    """The request's caller (node/http/caller.py). A token that does not verify is a 401,
    except on a test-mode request to an entry endpoint: the framework says a beacon MUST
    answer one "skipping any user authentication", and its answer holds none of the node's
    data (beacon_api.py), so it is answered as to an anonymous caller. Only where the
    handler answers test mode (beacon_api.route_answers_test_mode): on any other route
    (/api/info, /api/configuration, /fdp, the page, ...) `testMode=true` is no part of the
    request, and a bad token with it was answered as anonymous, not 401 (found by a
    review, 2026-12-05)."""
    try:
        return await caller_of(request)
    except InvalidToken:
        if not route_answers_test_mode(request):
            raise
        posted = reads_body(request)
        body = await post_body(request) if posted else b""
        if asks_test_mode(posted, request.query.items(), body):
            return ANONYMOUS
        raise


def node_middleware(metrics: Metrics, outage: DatabaseOutage, cors_origins: list[str],
                    alias_roots: tuple[str, ...] = (),
                    documents: frozenset[Handler] = frozenset()) -> Callable:
    """`cors_origins`: browser origins whose scripts may call the APIs (Settings.cors_origins);
    `alias_roots`: the further roots the Beacon API is served under (api_alias_roots);
    `documents`: the handlers whose anonymous answers a shared cache may keep, the same for
    every caller and holding nothing a disclosure counts (node/app.py). Every other answer
    is `no-store`: a route no one has decided about is kept by no cache."""
    roots = _CORS_PATHS + alias_roots
    plain, allowed = _origin_sets(cors_origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        identifier = request_id(request)
        request[STARTED] = began = time.perf_counter()
        # False until a handler reads the purpose of use (beacon_api.declared_purpose):
        # looked up at the end, where `PURPOSE_READ in request` raised and caught a KeyError
        # inside the Mapping's __contains__ on nearly every request (some 2.3k instructions
        # more than setting it and reading it, bench/federation.py --overhead)
        request[PURPOSE_READ] = False
        chosen = allowed.get(request.headers.get(hdrs.ORIGIN), plain) if allowed else plain
        tokened = hdrs.AUTHORIZATION in request.headers
        # `handler` is the route's own (this is the app's one middleware, aiohttp's
        # current-app one wraps it from outside): a set lookup, where match_info.handler
        # is three property calls (some 2k instructions); anything else wrapped between
        # them would be no document, and its answers no-store
        private = tokened or handler not in documents
        added = chosen[1] if private else chosen[0]
        try:
            if chosen is not plain and _preflight(request, roots):
                response = web.Response(status=204, headers=PREFLIGHT)
            else:
                # without the header (or a token in the URL, refused) the caller is
                # anonymous (caller_of), known without its two coroutines
                asked = tokened or URL_TOKEN in request.query_string
                request[CALLER] = await _caller(request) if asked else ANONYMOUS
                response = await handler(request)
        except IssuerUnavailable as exc:
            response = unverifiable(request, exc)
        except InvalidToken as exc:
            response = refusal(request, exc)
        except (web.HTTPRedirection, web.HTTPSuccessful) as exc:   # aiohttp sends these
            finished(metrics, request, exc.status, time.perf_counter() - began)
            exc.headers[REQUEST_ID_HEADER] = identifier
            _add(exc.headers, added)
            raise
        except asyncio.CancelledError:     # the client went away: nginx's 499
            finished(metrics, request, 499, time.perf_counter() - began)
            raise
        except DATABASE_UNAVAILABLE as exc:
            outage.noticed(request.app[POOL], exc)
            response = unavailable_response(request)
        except Exception as exc:           # noqa: BLE001 - every failure leaves as a Beacon body
            response = error_response(request, exc)
        finished(metrics, request, response.status, time.perf_counter() - began, response)
        response.headers[REQUEST_ID_HEADER] = identifier
        _add(response.headers, added)
        if request[PURPOSE_READ]:
            # an individuals answer: who stated a purpose of use may be answered about a
            # dataset that asks for one, who did not is not (beacon_api._individuals)
            response.headers.add(hdrs.VARY, PURPOSE_HEADER)
        return response
    return middleware


def _add(headers: CIMultiDict[str], added: dict[str, str]) -> None:
    """Extend, not update: no handler sets these names, and a Vary of its own is kept;
    except a handler's own Content-Security-Policy (the page's), which replaces the JSON
    one rather than stand beside it (two policies would both apply). One `extend` in the
    usual case, not a Python loop over the names."""
    if CSP in headers:
        headers.extend({name: value for name, value in added.items() if name != CSP})
    else:
        headers.extend(added)
