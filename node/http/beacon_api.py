"""HTTP handlers for the node's Beacon API under /api: translate requests into calls on the
beacon core and its results into JSON. No query or response logic lives here."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import asyncpg
import orjson
from aiohttp import hdrs, web
from multidict import istr

from auth.policy import ANONYMOUS
from beacon import answer, individuals_store, info
from beacon.accounts import AccountSpent, refusal
from beacon.budget import BudgetExceeded, Left, charge, refund, settle
from beacon.datasets import (
    DatasetsQuery,
    Seen,
    collections_response,
    datasets_query,
    visible,
)
from beacon.disclosure import term_listed
from beacon.hung_server import NoConnection
from beacon.individuals import (
    PURPOSE_HEADER,
    IndividualsQuery,
    answer_individuals,
    echoed,
    individuals_query,
    plain_individuals_query,
    purpose_of_use,
    undeclared,
)
from beacon.individuals import ceiling as individuals_ceiling
from beacon.info import ENTRY_TYPES, returned_schemas
from beacon.openapi import openapi_document
from beacon.request import (
    TEST_MODE_NOTE,
    PlainBody,
    RequestBody,
    VariantQuery,
    parse_body,
    parse_get,
    post_query,
    query_from_get,
    to_query,
)
from beacon.request_error import RequestError
from beacon.responses import error_body
from beacon.store import DatasetRow
from beacon.workload import QueryTimeout
from node.federation.network import NetworkDown
from node.federation.slots import NetworkBusy
from node.http.app_keys import (
    AUDIT,
    BEACON,
    BUDGETS,
    CALLER,
    DATASETS,
    OPENAPI,
    POLICY,
    PURPOSE_READ,
    QUERIES,
    SETTINGS,
)
from node.http.body import BodyRefused, read_body
from node.http.caller import audit, caller_key
from node.http.metrics import (
    REQUEST_ID,
    STARTED,
    Handler,
    UnavailableCause,
    unavailable,
)
from node.http.outage import RETRY_AFTER_SECONDS
from node.http.responses import json_response
from node.logs import shown
from node.settings import Settings

log = logging.getLogger(__name__)
_RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}
INDIVIDUAL = next(e for e in ENTRY_TYPES if e.id == "individual")
_INDIVIDUAL_SCHEMAS = returned_schemas(INDIVIDUAL)     # as answer.py's variants' are, made once
# folded once (an istr), not at every request's lookup: node/http/metrics.py's _REQUEST_ID
_PURPOSE_HEADER = istr(PURPOSE_HEADER)


_H = TypeVar("_H", bound=Handler)
# The handlers that answer a test-mode request (beacon/request.py asks_test_mode) with none of
# any node's data: the entry endpoints, this node's and the network's (which asks its peers
# in test mode, as anonymous). On their routes alone is a test-mode request with a token that
# does not verify answered as anonymous (node/http/middleware.py). It was on every route: a
# garbage token and `?testMode=true` had /api/configuration, /api/info, /fdp, ... answer as
# to an anonymous caller where the token was otherwise a 401 (found by a review, 2026-12-05).
_TEST_MODE_HANDLERS: set[Handler] = set()


def answers_test_mode(handler: _H) -> _H:
    """Marks `handler` as one that answers test mode (`_TEST_MODE_HANDLERS`)."""
    _TEST_MODE_HANDLERS.add(handler)
    return handler


def route_answers_test_mode(request: web.Request) -> bool:
    """Whether the request's route is one whose handler answers test mode (under any of the
    API's roots: an alias root's routes have the same handlers)."""
    return request.match_info.handler in _TEST_MODE_HANDLERS


def error_response(request: web.Request, exc: Exception) -> web.Response:
    """Every error leaves as a Beacon error body; nothing internal leaks to the client.
    (Redirects are not errors: node/http/middleware.py lets aiohttp send them.)"""
    beacon_id = request.app[SETTINGS].beacon_id
    if isinstance(exc, RequestError):
        return json_response(error_body(beacon_id, 400, str(exc)), 400)
    # the load (a query past its limit, the pool's connections all busy past theirs) or the
    # peers, not the caller
    if isinstance(exc, (QueryTimeout, NoConnection, NetworkDown)):
        cause: UnavailableCause = (
            "query_timeout" if isinstance(exc, QueryTimeout)
            else "pool" if isinstance(exc, NoConnection) else "network_down")
        return _unavailable(beacon_id, str(exc), cause)
    if isinstance(exc, asyncpg.QueryCanceledError):
        # a statement of the request's other than its variant query (a budget's lease, the
        # datasets' list, ...) past the pool's statement_timeout: the load too, not a fault
        # (it was a 500 with a traceback, a probe holding a lock on budget_spent)
        log.warning("statement past its time limit: %s", exc,
                    extra={"request_id": request.get(REQUEST_ID)})
        limit = request.app[SETTINGS].query_timeout_seconds
        return _unavailable(beacon_id, f"the database did not answer within this node's "
                                       f"limit of {limit:g} s; retry later", "query_timeout")
    if isinstance(exc, NetworkBusy):        # the network's requests at their limit
        return _unavailable(beacon_id, str(exc), "network_busy",
                            {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, BudgetExceeded):
        return json_response(error_body(beacon_id, 429, str(exc)), 429,
                             headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, AccountSpent):       # for good: no Retry-After
        return json_response(error_body(beacon_id, 403, str(exc)), 403)
    if isinstance(exc, web.HTTPException):
        # the path decoded, each character that does not print as itself escaped: a
        # U+202E in it went back to the caller as sent (a review, 2026-12-06)
        message = {404: f"no such endpoint or entry: {shown(request.path)}",
                   405: f"method {request.method} not allowed on {shown(request.path)}"}.get(
                       exc.status, exc.text or exc.reason)
        return json_response(error_body(beacon_id, exc.status, message), exc.status,
                             headers={k: v for k, v in exc.headers.items()
                                      if k.lower() in ("allow", "www-authenticate")})
    if isinstance(exc, BodyRefused):        # the rest of the body unread: the connection ends
        response = json_response(error_body(beacon_id, exc.status, exc.message), exc.status)
        response.force_close()
        return response
    log.exception("unhandled error", extra={"request_id": request.get(REQUEST_ID)},
                  exc_info=exc)
    return json_response(error_body(beacon_id, 500, "internal error; the request id in "
                                    "X-Request-ID identifies it in the node's logs"), 500)


def unavailable_response(request: web.Request) -> web.Response:
    """503 with Retry-After while the database is unavailable (the outage is logged once, by
    node/http/outage.py, not per request)."""
    return _unavailable(request.app[SETTINGS].beacon_id,
                        "the node's database is unavailable; retry later", "database")


def _unavailable(beacon_id: str, message: str, cause: UnavailableCause,
                 headers: dict[str, str] = _RETRY_AFTER) -> web.Response:
    """A 503's Beacon error body, when to ask again, and its cause for /metrics."""
    return unavailable(json_response(error_body(beacon_id, 503, message), 503,
                                     headers=headers), cause)


def post_body(request: web.Request) -> Awaitable[bytes]:
    """A POST's body as sent, decoded as its Content-Encoding says: the one place the node's
    handlers read one (request_body, plain_post, the network's forwarding,
    node/http/middleware.py for a test-mode request), through node/http/body.py. A body that
    does not decode was a 500 logged with two tracebacks, a gzip body cut short was read as
    what of it arrived (an empty query, answered); both are now a 400 naming `body`, one not
    all arrived within body_timeout_seconds a 408 (error_response). Awaited by its caller:
    a coroutine of its own cost every request one more frame."""
    return read_body(request, request.app[SETTINGS].body_timeout_seconds)


def reads_body(request: web.Request) -> bool:
    """Whether the request's query is in its body (a POST) rather than its query string (a
    GET, and a HEAD: aiohttp routes a HEAD to every GET handler, and RFC 9110 answers it as
    the GET, with the same status and headers and no body). The one test every handler
    makes: branching on GET read a HEAD as a POST, whose empty body was answered, charged
    to the caller's budget and audited as the empty query, whatever its query string said."""
    return request.method == hdrs.METH_POST


def body_only(request: web.Request) -> None:
    """A POST's request is its body: RequestError naming the first parameter of a query
    string beside it, which was ignored (`POST /api/individuals?filters=...` answered every
    individual, as if no filter had been asked)."""
    if request.rel_url.raw_query_string:
        name = next(iter(request.query), "") or "query string"
        raise RequestError(name, "a POST's request is its JSON body: give the parameters "
                                 "there (or send a GET), not in the query string")


def query_string_only(request: web.Request) -> None:
    """A GET's (and a HEAD's) request is its query string: RequestError naming `body` where
    one came with it, which was ignored (`GET /api/g_variants` with the JSON body of a query
    answered the empty query, `exists: true`, as requests.get(url, json=...) sends it),
    as a POST's query string is refused (body_only). An empty body is none."""
    if request.body_exists:
        raise RequestError("body", "a GET's request is its query string: send the JSON body "
                                   "with POST, or the parameters in the query string")


async def request_body(request: web.Request) -> RequestBody:
    """The request as a Beacon body, from the query string (GET, HEAD: query_string_only)
    or the JSON body (POST, body_only)."""
    if not reads_body(request):
        query_string_only(request)
        return parse_get(list(request.query.items()))
    body_only(request)
    return await _json_body(request)


async def _json_body(request: web.Request) -> RequestBody:
    """A POST's JSON body, read in full, once body_only has passed it."""
    raw = await post_body(request)
    if not raw.strip():
        return parse_body({})
    try:
        return parse_body(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        if not _utf8(raw):      # orjson's words: "str is not valid UTF-8: ... (char 0)"
            raise RequestError("body", "not UTF-8, which a JSON body is (RFC 8259), whatever "
                                       "charset its Content-Type names") from None
        raise RequestError("body", f"not valid JSON ({exc})") from None


def _utf8(raw: bytes) -> bool:
    """Whether a body orjson refused is UTF-8 at all: only then are its words (a position
    in the text) about the JSON; a UTF-16 or Latin-1 body is refused for its encoding."""
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


async def plain_post(request: web.Request, *, with_filters: bool = False) -> PlainBody | None:
    """A POST's body as the fast path reads it (beacon/request.py post_query); None
    when the request is not a POST, its body not JSON or not plain: request_body then reads
    it in full and words any refusal."""
    if not reads_body(request):
        return None
    body_only(request)
    return post_query(await post_body(request), with_filters=with_filters)


async def request_query(request: web.Request) -> VariantQuery:
    """The variant query of a request: a plain GET or POST by the fast path, anything else
    parsed in full (which also words every refusal)."""
    if not reads_body(request):
        query_string_only(request)
        query = query_from_get(_query_pairs(request))
        return query if query is not None else to_query(parse_get(list(request.query.items())))
    if (plain := await plain_post(request)) is not None:
        return plain.query
    return to_query(await _json_body(request))


def _query_pairs(request: web.Request) -> Iterable[tuple[str, str]]:
    """The (name, value) pairs of the request's query string, as `request.query` reads them
    (yarl's query_to_pairs). Where the string as sent holds no percent-encoding, that is
    `+` as a space, fields split at `&`, empty ones skipped, and each at its first `=`,
    done here: `request.query` took some 18k instructions more of a network request of
    1.84M (yarl's two cached properties, a MultiDict and its proxy; bench/federation.py
    --overhead --parts instructions). With one, it is left to `request.query`'s decoding."""
    raw = request.rel_url.raw_query_string
    if "%" in raw:
        return request.query.items()
    pairs = []
    for field in raw.replace("+", " ").split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((name, value))
    return pairs


async def _visible(request: web.Request, app: web.Application) -> dict[str, Seen]:
    """The datasets this request's caller may know of, with what they may see of each.
    `app`: the request's, which its caller has at hand (each `request.app` is two property
    calls, eight of them about 1% of an individuals count's instructions)."""
    caller = request.get(CALLER, ANONYMOUS)
    datasets = app[DATASETS]
    key = ("visible", caller)
    seen: dict[str, Seen] | None = datasets.remembered(key)
    if seen is not None:
        return seen
    policy = app[POLICY]
    return await datasets.derived(key, lambda rows: visible(rows, caller, policy))


def _trail(request: web.Request, app: web.Application, caller: str,
           datasets: dict[str, dict[str, object]], asked: dict[str, object]) -> None:
    """The request's audit trail entry (beacon/audit.py), when it disclosed anything;
    `asked`: the question, as the answer's meta.receivedRequestSummary reads it."""
    if datasets:
        app[AUDIT].record(request.get(REQUEST_ID, ""), caller, request.path, datasets, asked)


def _listed(seen: list[Seen]) -> dict[str, dict[str, object]]:
    """Dataset records disclose the datasets' (rounded) variant and sample counts."""
    return {d.row.id: {"tier": d.tier, "granularity": "record", "exists": True, "spent": 0}
            for d in seen}


Finder = Callable[[list[Seen], str], Awaitable[list[answer.DatasetAnswer]]]


async def _answer(request: web.Request, query: VariantQuery, chosen: list[Seen] | None = None,
                  find: Finder | None = None, *, purpose: str | None = None,
                  schemas: list[dict[str, str]] | None = None,
                  filters: list[str] | None = None,
                  ceiling: Callable[[Seen], str] = lambda seen: seen.ceiling,
                  notes: dict[str, object] | None = None,
                  visible: dict[str, Seen] | None = None) -> web.Response:
    """Charge the caller's budget for the datasets asked, answer them (`find`: the
    individuals' answer, given the datasets and the caller's budget key; else the
    variants'), give back what a rare hit would have cost more where none was found,
    record the trail, respond. Where none is asked, the answer is at the granularity the
    caller would be given of the datasets it knows (`ceiling`: the entry type's cap).
    `notes`: more of the answer's `info`. `visible`: the datasets `chosen` was chosen
    from (`_visible`, select_datasets), given with it: one lookup less, and the answer's
    notes (onOtherAssemblies, the granularity of none asked) are of the same list."""
    app = request.app
    settings = app[SETTINGS]
    key = caller_key(request)
    if chosen is None:
        visible = await _visible(request, app)
        chosen = answer.select_datasets(query, visible, settings.default_assembly)
    # only the datasets with a budget are charged (`charge` skips the others, and `refund`
    # and `settle` touch only what it took): none, as under a policy without budgets, and
    # neither is called, nor the set of rare hits made (bench/individuals.py --instructions)
    asked = [(d.row.id, d.rules) for d in chosen if d.rules.budgeted]
    left: dict[str, Left] = {}
    if asked:
        try:
            left = await charge(app[BUDGETS], key, asked)
        except BudgetExceeded as refused:
            _trail(request, app, key, {d.row.id: _refused(d, purpose, refused)
                                       for d in chosen}, answer.received(query, filters))
            raise
    try:
        answers = await (find(chosen, key) if find is not None else answer.answer_datasets(
            app[QUERIES], query, chosen, base_url=settings.base_url, caller=key))
    except BaseException:                       # answered nothing: a 503, or cancelled
        if left:
            refund(app[BUDGETS], key, asked, left)
        raise
    spent = (settle(app[BUDGETS], key, asked, {a.dataset.id for a in answers if a.rare}, left)
             if left else {})
    refused: dict[str, str] = {}
    for a in answers:       # a loop, not a comprehension's function: most refuse nothing
        if a.refused:
            refused[a.seen.row.id] = refusal(a.seen.rules)
    # every dataset the question named refused it: a 403, where an answer without them
    # would read as "not found" (one naming none is answered, `info.refused` saying which)
    if refused and len(refused) == len(answers) and query.dataset_ids:
        _trail(request, app, key, {a.seen.row.id: _entry(a, purpose, spent) for a in answers},
               answer.received(query, filters))
        # decided after the shared count, whose time tells what the question matched: sent
        # at once, a refused caller read that off the 403's time, at no charge
        await _no_sooner(request, settings.disclosure.answer_time_floor_ms / 1000)
        raise AccountSpent(refused)
    audit(request, ((a.dataset.id, a.granularity) for a in answers if not a.refused))
    info: dict[str, object] = {"budget": {
        dataset_id: {"windowLeft": remaining.window, "dayLeft": remaining.day,
                     "windowSeconds": app[POLICY].window_seconds}
        for dataset_id, remaining in left.items()}} if left else {}
    if query.assembly is None and query.reference_name and not query.dataset_ids:
        info["assemblyId"] = settings.default_assembly    # the one assembly answered
    if visible is None:
        visible = await _visible(request, app)
    # `chosen` is select_datasets' choice of `visible`: all of them asked, none is on
    # another assembly (and its position was checked there), so on_other_assemblies, which
    # works the assembly out and checks the position again, has nothing to add
    if len(chosen) < len(visible) and (others := answer.on_other_assemblies(
            query, visible, settings.default_assembly)):
        info["onOtherAssemblies"] = others
    if unplaced := answer.genes_not_placed(query, chosen):
        info["geneId"] = unplaced
    if notes:
        info.update(notes)
    if refused:             # why, in docs/privacy.md and the 403 when none is left
        info["refused"] = list(refused)
    unasked = "count" if chosen else answer.unasked_granularity(visible.values(), ceiling)
    body = answer.response(settings.beacon_id, query, answers, info, schemas=schemas,
                           filters=filters, unasked=unasked)
    entries: dict[str, dict[str, object]] = {}
    for a in answers:       # a loop, not a comprehension's function
        entries[a.seen.row.id] = _entry(a, purpose, spent)
    _trail(request, app, key, entries, body["meta"]["receivedRequestSummary"])
    response = json_response(body)
    for d in chosen:
        # keeps_losses or keeps_account (its tier's rules keep losses, its genotypes say
        # whether charged per person or to one account), without their two property calls
        # and a generator's function each answer
        if d.rules.accounts_losses:
            await _no_sooner(request, settings.disclosure.answer_time_floor_ms / 1000)
            break
    return response


def _entry(answered: answer.DatasetAnswer, purpose: str | None, spent: dict[str, int]
           ) -> dict[str, object]:
    """One dataset's part of the audit trail entry: what it disclosed, as disclosed; or that
    it answered nothing, its caller's account for it spent (beacon/accounts.py)."""
    entry: dict[str, object]
    if answered.refused:
        entry = {"tier": answered.seen.tier, "refused": "account"}
        if purpose:
            entry["purpose"] = purpose
        entry["spent"] = spent.get(answered.seen.row.id, 0)
        return entry
    entry = {"tier": answered.seen.tier, "granularity": answered.granularity,
             "exists": answered.count.exists}
    if answered.granularity != "boolean":
        entry["count"] = answered.count.value
    if purpose:
        entry["purpose"] = purpose
    entry["spent"] = spent.get(answered.seen.row.id, 0)
    return entry


def _refused(seen: Seen, purpose: str | None, refused: BudgetExceeded) -> dict[str, object]:
    """One dataset's part of the audit trail entry of a question refused for its budget
    (429): it disclosed nothing and spent nothing, and is recorded so that a caller asking
    on past its budget, as a membership attack does, shows in the trail; the access log
    names no caller. `retryAfter` on the dataset whose budget refused it."""
    entry: dict[str, object] = {"tier": seen.tier, "refused": "budget"}
    if seen.row.id == refused.dataset_id:
        entry["retryAfter"] = refused.retry_after
    if purpose:
        entry["purpose"] = purpose
    entry["spent"] = 0
    return entry


async def _no_sooner(request: web.Request, floor: float) -> None:
    """Wait until `floor` seconds after the request arrived, or, for an answer that took
    longer, until the next whole multiple of `floor`. For answers that asked a dataset whose
    caller's tier keeps losses, whatever they found: the first answer about a variant near
    the floor takes the caller's lock and writes its charges, 5 ms more than one about a
    variant below it on an idle machine, and the time would otherwise tell what the smooth
    floor's draw hides (docs/privacy.md, "Timing"). The multiples are for a loaded node,
    where that work can outlast the floor: its extra milliseconds then show only where they
    carry an answer past the next multiple, not in every answer."""
    if floor > 0:
        began = request.get(STARTED)
        now = time.perf_counter()
        deadline = now + release_wait(now - began if began is not None else 0.0, floor)
        # uvloop's timers count whole milliseconds from a time cached at the loop's turn, so
        # a sleep may end a little early: an answer left 0.1 ms before its floor (found by
        # the suite, stop 68). Slept again for what is left, it never leaves before.
        while (left := deadline - time.perf_counter()) > 0:
            await asyncio.sleep(left)


def release_wait(elapsed: float, floor: float) -> float:
    """How long an answer `elapsed` seconds into its request waits before it is sent: to
    `floor`, or to the first multiple of `floor` not before `elapsed` (`floor` > 0)."""
    return max(1, math.ceil(elapsed / floor)) * floor - elapsed


def _test_mode(request: web.Request, query: VariantQuery,
               schemas: list[dict[str, str]] | None = None,
               filters: list[str] | None = None) -> web.Response:
    """A test-mode request's answer (beacon/request.py asks_test_mode): the shape asked, empty,
    from none of the node's data, so answering it without authentication discloses nothing."""
    body = answer.envelope(request.app[SETTINGS].beacon_id, query, query.granularity, False, 0,
                           [], schemas=schemas, filters=filters)
    body.setdefault("info", {})["testMode"] = TEST_MODE_NOTE
    return json_response(body)


@answers_test_mode
async def g_variants(request: web.Request) -> web.Response:
    query = await request_query(request)
    if query.test_mode:
        return _test_mode(request, query)
    return await _answer(request, query)


@answers_test_mode
async def g_variant(request: web.Request) -> web.Response:
    """One variant by id, in every dataset that holds it."""
    query = answer.located_query(request.match_info["id"], await request_body(request))
    if query.test_mode:
        return _test_mode(request, query)
    return await _answer(request, query)


async def scoped_query(request: web.Request, dataset_id: str) -> VariantQuery:
    """The variant query of /datasets/{id}/g_variants: its datasetIds, if any, must be that
    dataset (here and on the network's route alike)."""
    query = await request_query(request)
    within_dataset(query.dataset_ids, dataset_id)
    return query


def within_dataset(dataset_ids: tuple[str, ...], dataset_id: str) -> None:
    """A dataset-scoped request's `datasetIds`, if any, must be the dataset of its path
    (/datasets/{id} and the routes below it): here and on the network's routes alike, which
    pass the body on as sent, so a conflict would reach the peers."""
    if dataset_ids and set(dataset_ids) != {dataset_id}:
        raise RequestError("datasetIds", f"conflicts with the dataset in the path ({dataset_id})")


@answers_test_mode
async def dataset_g_variants(request: web.Request) -> web.Response:
    dataset_id = request.match_info["id"]
    if dataset_id not in await _visible(request, request.app):
        raise web.HTTPNotFound()
    query = await scoped_query(request, dataset_id)
    if query.test_mode:
        return _test_mode(request, query)
    return await _answer(request, dataclasses.replace(query, dataset_ids=(dataset_id,)))


def declared_purpose(request: web.Request, meta: dict[str, object]) -> str | None:
    """The declared purpose of use (beacon/individuals.py purpose_of_use): `meta.purposeOfUse`
    of a POST body, or the header (a GET has no body), recorded in the audit trail (and
    passed on to a network's peers), not in the answer; each line of the header, where it
    is sent more than once. The answer then depends on the header, whether given or not
    (`PURPOSE_READ`)."""
    request[PURPOSE_READ] = True
    return purpose_of_use(meta.get("purposeOfUse"), request.headers.getall(_PURPOSE_HEADER, ()))


async def _individuals(request: web.Request, query: IndividualsQuery) -> web.Response:
    app = request.app
    visible = await _visible(request, app)
    chosen = answer.select_datasets(query.variant, visible, app[SETTINGS].default_assembly)
    if query.individual_id is not None:       # a person's id: only where records are granted
        chosen = [d for d in chosen if d.tier == "granted"]
    policy = app[POLICY]
    needing = [d.row.id for d in chosen if policy.needs_purpose(d.row.metadata)]
    notes: dict[str, object] = {}
    if needing and query.purpose is None:
        # Refused where the query names such a dataset, or they are all it would ask; else
        # the others are asked and the answer names those left out: refused whole, a portal
        # that states no purpose got nothing of the node for one dataset's policy
        if query.variant.dataset_ids or len(needing) == len(chosen):
            raise RequestError("meta.purposeOfUse", f"required for individual-level queries "
                                                    f"on {', '.join(needing)}: state it in the "
                                                    f"body's meta or the {PURPOSE_HEADER} "
                                                    "header (a DUO term such as DUO:0000006, "
                                                    "or text)")
        chosen = [d for d in chosen if d.row.id not in needing]
        notes["purposeRequired"] = needing
    queries = app[QUERIES]
    await undeclared(queries, query, chosen)
    return await _answer(request, query.variant, chosen,
                         lambda seen, caller: answer_individuals(queries, query, seen, caller),
                         purpose=query.purpose, schemas=_INDIVIDUAL_SCHEMAS,
                         filters=echoed(query.filters), ceiling=individuals_ceiling,
                         notes=notes, visible=visible)


def _test_individuals(request: web.Request, query: IndividualsQuery) -> web.Response:
    return _test_mode(request, query.variant, _INDIVIDUAL_SCHEMAS, echoed(query.filters))


async def individuals_request(request: web.Request) -> IndividualsQuery:
    """The individuals query of a request: a plain POST by the fast path, anything else
    parsed in full (which also words every refusal). A plain body the fast path refuses is
    parsed in full too: the full path checks the purpose before the variant parameters, so
    a body with both wrong is refused for the same one either way."""
    try:
        plain = await plain_post(request, with_filters=True)
    except RequestError:
        plain = None
    if plain is not None:
        return plain_individuals_query(plain, purpose=declared_purpose(request, plain.meta))
    body = await request_body(request)
    return individuals_query(body, purpose=declared_purpose(request, body.meta))


@answers_test_mode
async def individuals(request: web.Request) -> web.Response:
    query = await individuals_request(request)
    if query.variant.test_mode:
        return _test_individuals(request, query)
    return await _individuals(request, query)


@answers_test_mode
async def individual(request: web.Request) -> web.Response:
    """One individual by id, in each dataset granted to the caller that holds it."""
    body = await request_body(request)
    if "requestedGranularity" not in body.query.model_fields_set:
        body.query.requestedGranularity = "record"
    query = individuals_query(body, purpose=declared_purpose(request, body.meta),
                              individual_id=request.match_info["id"])
    if query.variant.test_mode:
        return _test_individuals(request, query)
    return await _individuals(request, query)


@answers_test_mode
async def dataset_individuals(request: web.Request) -> web.Response:
    """The individuals of one dataset, chosen as /individuals chooses (select_datasets): handed the
    dataset as it was, a position on another assembly counted its carriers at the same
    coordinates of this one, and a start past the chromosome's end answered none, not 400."""
    dataset_id = request.match_info["id"]
    if dataset_id not in await _visible(request, request.app):
        raise web.HTTPNotFound()
    query = await individuals_request(request)
    within_dataset(query.variant.dataset_ids, dataset_id)
    if query.variant.test_mode:
        return _test_individuals(request, query)
    return await _individuals(request, dataclasses.replace(
        query, variant=dataclasses.replace(query.variant, dataset_ids=(dataset_id,))))


@answers_test_mode
async def variant_individuals(request: web.Request) -> web.Response:
    """The individuals carrying one variant (by its id), per dataset."""
    body = await request_body(request)
    variant = answer.located_query(request.match_info["id"], body, with_filters=True)
    query = individuals_query(body, purpose=declared_purpose(request, body.meta), variant=variant)
    if variant.test_mode:
        return _test_individuals(request, query)
    return await _individuals(request, query)


async def _known(request: web.Request) -> list[DatasetRow]:
    """The datasets the caller may know exist: what /info and /service-info count."""
    return [d.row for d in (await _visible(request, request.app)).values()]


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


@answers_test_mode
async def filtering_terms(request: web.Request) -> web.Response:
    """The terms the individuals of the datasets the caller may know hold, each listed as
    the disclosure engine decides for the caller's tier there (beacon/disclosure.py
    term_listed). A page of them where the request asks one;
    a test-mode request reads none (beacon/info.py terms_query)."""
    query = info.terms_query(await request_body(request))
    if query.test_mode:
        return json_response(info.filtering_terms(request.app[BEACON], [], query))
    seen = await _visible(request, request.app)
    rows = await request.app[QUERIES].run(False, lambda connection: individuals_store.terms(
        connection, list(seen)))
    listed = info.merged_terms((row.id, row.label, row.kind) for row in rows
                               if term_listed(row.individuals, seen[row.dataset_id].rules))
    return json_response(info.filtering_terms(request.app[BEACON], listed, query))


async def _collections(request: web.Request, query: DatasetsQuery,
                       candidates: list[Seen]) -> web.Response:
    """The datasets among `candidates` the request selects (beacon/datasets.py), a page of
    them; a test-mode request gets none (and none of the node's data is read for it)."""
    beacon_id = request.app[SETTINGS].beacon_id
    if query.test_mode:
        return json_response(collections_response(beacon_id, [], query))
    selected = query.select(candidates)
    audit(request, ((d.row.id, "record") for d in selected))
    body = collections_response(beacon_id, selected, query)
    _trail(request, request.app, caller_key(request), _listed(selected),
           body["meta"]["receivedRequestSummary"])
    return json_response(body)


@answers_test_mode
async def datasets(request: web.Request) -> web.Response:
    query = datasets_query(await request_body(request))
    return await _collections(request, query, list((await _visible(request, request.app)).values()))


@answers_test_mode
async def dataset(request: web.Request) -> web.Response:
    dataset_id = request.match_info["id"]
    found = (await _visible(request, request.app)).get(dataset_id)
    if found is None:
        raise web.HTTPNotFound()
    query = datasets_query(await request_body(request))
    within_dataset(query.dataset_ids or (), dataset_id)
    return await _collections(request, query, [found])


def openapi_json(settings: Settings) -> bytes:
    """The OpenAPI document as served: it depends on the settings and the route table alone,
    so node/app.py builds it once per app (built per request, it cost ~3 ms each)."""
    described = [(method, path, summary) for path, _, methods, summary in _endpoints()
                 for method in methods if path != "/api/"]
    return orjson.dumps(openapi_document(described, settings.base_url, settings.beacon_name))


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


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
        (f"/api{info.OPENAPI_PATH}", openapi, get, "This OpenAPI document"),
        ("/api/g_variants", g_variants, both, "Genomic variants matching a query, per dataset"),
        ("/api/g_variants/{id}", g_variant, both, "One variant by variantInternalId"),
        ("/api/datasets", datasets, both, "Datasets held by this node"),
        ("/api/datasets/{id}", dataset, both, "One dataset"),
        ("/api/datasets/{id}/g_variants", dataset_g_variants, both,
         "Genomic variants matching a query in one dataset"),
        ("/api/g_variants/{id}/individuals", variant_individuals, both,
         "Individuals carrying one variant, per dataset"),
        ("/api/individuals", individuals, both,
         "Individuals matching variant conditions and filters, per dataset"),
        ("/api/individuals/filtering_terms", filtering_terms, both,
         "Filtering terms of individuals"),
        ("/api/individuals/{id}", individual, both, "One individual by id (with a grant)"),
        ("/api/datasets/{id}/individuals", dataset_individuals, both,
         "Individuals matching a query in one dataset"),
        ("/api/filtering_terms", filtering_terms, both, "Filtering terms the data holds"),
    ]


def routes() -> list[web.RouteDef]:
    return [web.route(method, path, handler) for path, handler, methods, _ in _endpoints()
            for method in methods]


# The documents the same for every caller, holding nothing a disclosure counts: a shared
# cache may keep their anonymous answers (node/http/middleware.py). Not /info, /service-info
# nor /configuration, each of the datasets the caller may know (their number, dates, access
# levels), nor any entry endpoint.
CALLER_INDEPENDENT = frozenset({beacon_map, entry_types, openapi})
