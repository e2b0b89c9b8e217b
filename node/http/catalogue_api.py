"""HTTP handlers of the catalogue service: they authenticate the node, validate the JSON into
the boundary models and translate the catalogue core's answers and refusals into status
codes."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from html import escape
from typing import Any, TypeVar

import asyncpg
from aiohttp import hdrs, web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from auth.tokens import InvalidToken, bearer_token
from catalogue import holdings, store
from catalogue.credentials import MAX_NODE_NAME
from catalogue.record import (
    COUNTRY_CODE,
    EU_ACCESS_RIGHT,
    EU_DATA_THEME,
    IRI,
    MAX_IRI,
    AccessRights,
    CatalogueRecord,
    refuse_unstorable,
)
from catalogue.vocabulary import ASSEMBLIES, assigned_country
from node.http import health
from node.http.app_keys import CATALOGUE_OUTAGE, CATALOGUE_POOL, CATALOGUE_SETTINGS
from node.http.body import BodyRefused, read_body
from node.http.outage import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from node.http.responses import json_response

log = logging.getLogger(__name__)
REALM = 'Bearer realm="gdi-catalogue"'
MAX_SKIP = 100_000
MAX_LIMIT = 100
M = TypeVar("M", bound=BaseModel)
_REFUSAL_STATUS = {"unregistered": 409, "duplicate": 400, "outside": 403, "conflict": 409}


class NodeRegistrationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NODE_NAME)
    country: str | None = Field(default=None, pattern=COUNTRY_CODE)
    # IRIs RDF can write, bounded as a record's: the node's datasets are published under them
    beacon_url: str = Field(alias="beaconUrl", pattern=IRI.pattern, max_length=MAX_IRI)
    fdp_url: str = Field(alias="fdpUrl", pattern=IRI.pattern, max_length=MAX_IRI)

    _iso_country = field_validator("country")(assigned_country)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return refuse_unstorable(data)


class SnapshotBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[CatalogueRecord]


class SearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: str | None = Field(default=None, max_length=500)
    # empty, the filter was dropped and every node's datasets listed
    node: str | None = Field(default=None, min_length=1)
    country: str | None = Field(default=None, pattern=COUNTRY_CODE)
    access_rights: str | None = Field(default=None, alias="accessRights")
    theme: str | None = None
    assembly: str | None = None
    status: str = Field(default="active", pattern="^(active|withdrawn|any)$")
    skip: int = Field(default=0, ge=0, le=MAX_SKIP)
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    sort: str = Field(default="relevance", pattern=f"^(relevance|{'|'.join(store.SORTS)})$")

    @field_validator("q")
    @classmethod
    def _few_words(cls, value: str | None) -> str | None:
        """At most MAX_QUERY_WORDS words: each costs the search on every row it shows
        (catalogue/store.py), and 250 one-letter words within 500 characters held a database
        connection past the statement timeout."""
        if value is not None and (words := store.query_words(value)) > store.MAX_QUERY_WORDS:
            raise ValueError(f"has {words} words; at most {store.MAX_QUERY_WORDS} are allowed")
        return value

    _iso_country = field_validator("country")(assigned_country)

    @field_validator("assembly")
    @classmethod
    def _named_assembly(cls, value: str | None) -> str | None:
        """One a record can name: another (`hg38`) was answered with no datasets, as if
        the federation held none on that assembly."""
        if value is not None and value not in ASSEMBLIES:
            raise ValueError(f"expected one of {', '.join(ASSEMBLIES)}")
        return value

    @field_validator("node", "theme")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        """No NUL: PostgreSQL's text cannot hold one, so no record has one."""
        if value is not None and "\x00" in value:
            raise ValueError("holds a NUL character")
        return value

    @field_validator("access_rights")
    @classmethod
    def _access_right_term(cls, value: str | None) -> str | None:
        """PUBLIC or the authority IRI ending in it."""
        if value is None:
            return None
        term = value.removeprefix(EU_ACCESS_RIGHT)
        if term not in AccessRights.__members__:
            raise ValueError("expected PUBLIC, RESTRICTED or NON_PUBLIC (or its IRI)")
        return term

    @field_validator("theme")
    @classmethod
    def _theme_iri(cls, value: str | None) -> str | None:
        """HEAL is short for the EU data-theme IRI. Anything else a record's theme cannot be
        (`heal`: the codes are upper case; empty) was answered with no datasets."""
        if value is None or IRI.fullmatch(value):
            return value
        if not re.fullmatch(r"[A-Z][A-Z_]*", value):
            raise ValueError("expected an EU data-theme code such as HEAL, or an http(s) IRI")
        return EU_DATA_THEME + value

    def query(self) -> store.DatasetQuery:
        return store.DatasetQuery(
            text=self.q or None, node=self.node, country=self.country,
            access_rights=self.access_rights, theme=self.theme, assembly=self.assembly,
            status=None if self.status == "any" else self.status, skip=self.skip,
            limit=self.limit, sort=self.sort)


def _writable(text: str) -> str:
    """The text with each lone surrogate spelt out (`\\ud800`): JSON cannot encode one, and a
    refusal quoting what a body named (a key, a refused record's identifier) was a 500, not
    its 400 (found by a review, 2026-12-05)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
           **extra: Any) -> web.Response:
    extra = {k: _writable(v) if isinstance(v, str) else v for k, v in extra.items()}
    body = {"error": {"code": code, "message": _writable(message), **extra}}
    return json_response(body, status, headers)


_UNPARSED_CODES = {400: "invalid_request", 413: "too_large", 417: "expectation_failed"}


def unparsed_response(request: web.Request | None, status: int, message: str
                      ) -> web.Response:
    """The catalogue's answer to a request aiohttp refused before any middleware (node/http/
    server.py answer_unparsed: one it could not parse, an Expect it does not meet, a body
    past the limit that waits to be asked for), in the API's error form: it was aiohttp's
    plain text, quoting the request line or the header."""
    return _error(status, _UNPARSED_CODES.get(status, "refused"), message)


class _Fail(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _authorise(request: web.Request, node_id: str) -> None:
    """401 for a missing or unknown token, 403 for another node's valid token; 400 for two
    Authorization headers, as the node refuses them (node/http/caller.py): a proxy and the
    catalogue could each read another, and the first was taken."""
    if len(request.headers.getall("Authorization", ())) > 1:
        raise _Fail(_error(400, "invalid_request", "Authorization: given more than once"))
    try:
        token = bearer_token(request.headers.get("Authorization"))
    except InvalidToken:
        token = None
    if token is None:
        raise _Fail(_error(401, "unauthenticated", "expected 'Authorization: Bearer <token>'",
                           {"WWW-Authenticate": REALM}))
    matched = [c.id for c in request.app[CATALOGUE_SETTINGS].nodes if c.accepts(token)]
    if not matched:
        raise _Fail(_error(401, "invalid_token", "token not recognised",
                           {"WWW-Authenticate": REALM + ', error="invalid_token"'}))
    if node_id not in matched:
        raise _Fail(_error(403, "forbidden", f"this token belongs to node {matched[0]}, "
                           f"not {node_id}"))


def _validation_message(exc: ValidationError, raw: object) -> str:
    """Each problem as `field.path: reason`, with the dataset named when one can be."""
    parts = []
    for error in exc.errors()[:5]:
        loc = error["loc"]
        where = ".".join(map(str, loc)) or "<body>"
        dataset = ""
        if len(loc) >= 2 and loc[0] == "records" and isinstance(raw, dict):
            try:
                identifier = raw["records"][loc[1]].get("identifier")
            except (KeyError, IndexError, TypeError, AttributeError):
                identifier = None
            if identifier:
                dataset = f" (dataset {identifier})"
        parts.append(f"{where}{dataset}: {error['msg']}")
    return "; ".join(parts)


async def _body(request: web.Request, model: type[M]) -> M:
    """The body as `model`: it must arrive within body_timeout_seconds and decode as its
    Content-Encoding says (node/http/body.py, a BodyRefused else); a body that did not
    decode was a 500, one dripped slowly held its connection for good."""
    sent = await read_body(request, request.app[CATALOGUE_SETTINGS].body_timeout_seconds)
    try:
        raw = json.loads(sent.decode(request.charset or "utf-8"))
    except (ValueError, LookupError) as exc:        # LookupError: a charset Python lacks
        raise _Fail(_error(400, "invalid_json", f"request body is not JSON: {exc}")) from None
    except RecursionError:          # nested beyond Python's parser: it was a 500
        raise _Fail(_error(400, "invalid_json", "request body is JSON nested too deeply "
                                                "to read")) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _Fail(_error(400, "invalid_body", _validation_message(exc, raw))) from None


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
_BODY_CODES = {400: "undecodable_body", 408: "body_timeout", 413: "too_large",
               415: "unsupported_encoding"}


@web.middleware
async def failures(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every refusal of the JSON API as its error body, aiohttp's own (no such path, a
    method not allowed, a body too large) and a body's (node/http/body.py) included; the
    database unavailable as a 503 with Retry-After; an unexpected failure as a 500 logged
    with its request; never aiohttp's plain text."""
    try:
        return await handler(request)
    except _Fail as fail:
        return fail.response
    except BodyRefused as exc:      # the rest of the body unread: the connection ends
        response = _error(exc.status, _BODY_CODES[exc.status], exc.message)
        response.force_close()
        return response
    except holdings.Refused as exc:
        refusal = exc.refusal
        return _error(_REFUSAL_STATUS[refusal.reason], refusal.reason, refusal.message,
                      dataset=refusal.dataset)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        return _error(exc.status, _HTTP_CODES.get(exc.status, "refused"),
                      f"{exc.reason}: {request.method} {request.path}",
                      {k: v for k, v in exc.headers.items() if k.lower() == "allow"})
    except asyncpg.QueryCanceledError:           # its statement_timeout (catalogue_app.py)
        return _error(503, "timeout", "the catalogue's query took longer than its limit; "
                      "retry later", {"Retry-After": str(RETRY_AFTER_SECONDS)})
    except DATABASE_UNAVAILABLE as exc:          # an outage, not the request: retry
        # logged once when it starts and once when it ends, as the node's (not per request)
        request.app[CATALOGUE_OUTAGE].noticed(request.app[CATALOGUE_POOL], exc)
        return _error(503, "unavailable", "the catalogue's database is unavailable; retry "
                      "later", {"Retry-After": str(RETRY_AFTER_SECONDS)})
    except Exception:
        log.exception("unhandled error: %s %s", request.method, request.path)
        return _error(500, "internal_error", "internal error; the catalogue's log has it")


# The read-only endpoints a browser page may read from another origin (cors_origins)
_READABLE = ("/api/datasets", "/api/nodes")


def cors(origins: Iterable[str]) -> Any:
    """CORS for the configured origins on the read-only search and list endpoints: a GET's
    answer names the origin that asked when it is configured, a preflight (OPTIONS) for a
    GET is answered; never credentials, never another method, never another path. With
    origins configured every readable answer varies by Origin."""
    allowed = frozenset(origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        readable = bool(allowed) and (request.path in _READABLE
                                      or request.path.startswith("/api/datasets/"))
        origin = request.headers.get(hdrs.ORIGIN)
        granted = readable and origin in allowed
        if (granted and request.method == hdrs.METH_OPTIONS
                and request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD) == hdrs.METH_GET):
            return web.Response(status=204, headers={
                hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin or "",
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: "GET",
                hdrs.ACCESS_CONTROL_MAX_AGE: "600", hdrs.VARY: hdrs.ORIGIN})
        response = await handler(request)
        if readable:
            response.headers.add(hdrs.VARY, hdrs.ORIGIN)
            if granted and request.method in (hdrs.METH_GET, hdrs.METH_HEAD):
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin or ""
        return response
    return middleware


def node_json(node: store.NodeRow) -> dict[str, Any]:
    return {"id": node.id, "name": node.name, "country": node.country,
            "beaconUrl": node.beacon_url, "fdpUrl": node.fdp_url,
            "lastSeen": node.last_seen.isoformat() if node.last_seen else None,
            "healthy": node.healthy}


def dataset_json(entry: store.DatasetEntry) -> dict[str, Any]:
    found = {**entry.record, "nodeId": entry.node_id, "status": entry.status,
             "withdrawnAt": entry.withdrawn_at.isoformat() if entry.withdrawn_at else None}
    if isinstance(entry, store.Found) and entry.highlight is not None:
        marks = entry.highlight
        found["highlight"] = {"title": marked_html(marks.title),
                              "description": marked_html(marks.description),
                              "keywords": [marked_html(k) for k in marks.keywords]}
    return found


def marked_html(runs: store.Marked) -> str:
    """A highlighted field as HTML safe to insert into a page: the record's text escaped,
    the words the search matched in <mark>."""
    return "".join(f"<mark>{escape(text)}</mark>" if matched else escape(text)
                   for text, matched in runs)


async def put_node(request: web.Request) -> web.Response:
    node_id = request.match_info["nodeId"]
    _authorise(request, node_id)
    body = await _body(request, NodeRegistrationBody)
    credential = next(c for c in request.app[CATALOGUE_SETTINGS].nodes if c.id == node_id)
    outside = credential.outside(body.beacon_url, body.fdp_url)
    if outside:
        return _error(403, "outside", f"{' and '.join(outside)} not under the origins this "
                      f"catalogue allows node {node_id}: "
                      f"{', '.join(credential.origins) or 'none configured'}")
    node = await store.upsert_node(request.app[CATALOGUE_POOL], store.NodeRegistration(
        node_id, body.name, body.country, body.beacon_url, body.fdp_url))
    return json_response(node_json(node))


async def put_datasets(request: web.Request) -> web.Response:
    node_id = request.match_info["nodeId"]
    _authorise(request, node_id)
    body = await _body(request, SnapshotBody)
    result = await holdings.apply_snapshot(request.app[CATALOGUE_POOL], node_id, body.records)
    return json_response({"nodeId": node_id, "upserted": result.upserted,
                          "withdrawn": result.withdrawn})


async def list_nodes(request: web.Request) -> web.Response:
    nodes = await store.list_nodes(request.app[CATALOGUE_POOL])
    return json_response({"nodes": [node_json(n) for n in nodes]})


async def list_datasets(request: web.Request) -> web.Response:
    params = dict(request.query)
    # A parameter given twice was read as its first value, the other dropped without a
    # word (`country=FI&country=SE` listed Finland's datasets only)
    repeated = sorted(name for name in params if len(request.query.getall(name)) > 1)
    if repeated:
        return _error(400, "invalid_parameter", "; ".join(
            f"{name}: given more than once; give one value" for name in repeated))
    try:
        search = SearchParams.model_validate(params)
    except ValidationError as exc:
        return _error(400, "invalid_parameter", _validation_message(exc, params))
    total, entries = await store.search(request.app[CATALOGUE_POOL], search.query())
    return json_response({"total": total, "skip": search.skip, "limit": search.limit,
                          "datasets": [dataset_json(e) for e in entries]})


async def get_dataset(request: web.Request) -> web.Response:
    identifier = request.match_info["datasetId"]
    entry = await store.get_dataset(request.app[CATALOGUE_POOL], identifier)
    if entry is None:
        return _error(404, "not_found", f"no dataset {identifier}")
    return json_response(dataset_json(entry))


def routes() -> list[web.RouteDef]:
    return [web.put("/api/nodes/{nodeId}", put_node),
            web.put("/api/nodes/{nodeId}/datasets", put_datasets),
            web.get("/api/nodes", list_nodes),
            web.get("/api/datasets", list_datasets),
            web.get("/api/datasets/{datasetId}", get_dataset),
            web.get("/health", health.health)]
