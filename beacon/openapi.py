"""The node's OpenAPI document, generated from the route table and the request models, so it
describes exactly what is served and cannot drift from the parser: each route declares the
query parameters it reads (tests/test_openapi.py asks every route every parameter) and the
Beacon response schema its answers are valid against."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from beacon.filters import POPULATION_SCOPE
from beacon.individuals import PURPOSE_HEADER
from beacon.info import API_VERSION
from beacon.request import (
    GET_ALIASES,
    MAX_REQUESTED_SCHEMAS,
    REQUESTED_SCHEMA,
    SPEC_GET_NAMES,
    UNSUPPORTED,
    Pagination,
    Query,
    RequestBody,
    VariantParameters,
)

_BEACON = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/framework/json"
_INFORMATIONAL = {
    "/api": "beaconInfoResponse.json", "/api/info": "beaconInfoResponse.json",
    "/api/map": "beaconMapResponse.json", "/api/entry_types": "beaconEntryTypesResponse.json",
    "/api/configuration": "beaconConfigurationResponse.json",
    "/api/service-info": "ga4gh-service-info-1-0-0-schema.json",
}
_GRANULARITIES = ("beaconBooleanResponse.json", "beaconCountResponse.json",
                  "beaconResultsetsResponse.json")
_QUERY_KEYS = ("requestedGranularity", "includeResultsetResponses", "testMode")
_LISTS = ("start", "end", "datasetIds", "filters")
_NUMBERS = ("start", "end", "variantMinLength", "variantMaxLength")
_ABOUT = {REQUESTED_SCHEMA: "The schema asked for the results, repeated in "
                            "`receivedRequestSummary.requestedSchemas`; the answer is in the "
                            "node's one schema of the entry type, named in `returnedSchemas`"}


def _reads(path: str) -> str | None:
    """What a route's request reads, which decides the parameters it takes and the answers
    it gives: `variants`, `individuals` or `datasets` it selects, `terms` (the filtering
    terms, which read their paging only); None for an informational route."""
    if path.endswith("filtering_terms"):
        return "terms"
    if not path.startswith(("/api/g_variants", "/api/individuals", "/api/datasets")):
        return None
    if path.endswith("/individuals") or path.startswith("/api/individuals"):
        return "individuals"
    return "variants" if path.endswith(("g_variants", "g_variants/{id}")) else "datasets"


def _response_schema(path: str) -> dict[str, Any]:
    """The 200 answer's schema. A variant or individuals answer is boolean, count or
    resultsets as the granularity returned; the three overlap (a count answer is a valid
    boolean one too), so they are declared anyOf: oneOf, which the spec's endpoints.json
    writes, would refuse every count and record answer."""
    kind = _reads(path)
    if kind in ("variants", "individuals"):
        return {"anyOf": [{"$ref": f"{_BEACON}/responses/{schema}"}
                          for schema in _GRANULARITIES]}
    if kind == "datasets":
        return {"$ref": f"{_BEACON}/responses/beaconCollectionsResponse.json"}
    if kind == "terms":
        return {"$ref": f"{_BEACON}/responses/beaconFilteringTermsResponse.json"}
    if path in _INFORMATIONAL:
        return {"$ref": f"{_BEACON}/responses/{_INFORMATIONAL[path]}"}
    return {"type": "object", "description": "This OpenAPI document"}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ] if "{id}" in path else []


def _query_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "schema": schema,
                                 "description": description}
    if schema.get("type") == "array":
        parameter.update(style="form", explode=False)
    return parameter


# What a GET parameter's schema keeps of its body field's: its type, the values it takes,
# its bounds and its default (the title is the body's)
_GET_KEYWORDS = ("type", "enum", "minimum", "maximum", "default")


@lru_cache(maxsize=1)
def _body_fields() -> dict[str, dict[str, Any]]:
    """The JSON schemas of the body fields a GET names directly (granularity,
    includeResultsetResponses, testMode, skip, limit), as the request models declare them:
    a GET is parsed into those models (beacon/request.py parse_get), so its parameters take
    the same values and bounds, and declaring them from the models keeps them so. Before,
    the granularity and includeResultsetResponses were any string, and skip had no maximum
    though a larger one is a 400. So are the numbers among the variant parameters (`start`
    and `end`, one or two positions, and the lengths), each the model's non-null form: they
    were any string until 2026-12-05."""
    fields = {**Query.model_json_schema()["properties"],
              **Pagination.model_json_schema()["properties"]}
    schemas = {name: {k: v for k, v in fields[name].items() if k in _GET_KEYWORDS}
               for name in (*_QUERY_KEYS, *Pagination.model_fields)}
    variant = VariantParameters.model_json_schema()["properties"]
    for name in _NUMBERS:
        schemas[name] = next(s for s in variant[name]["anyOf"] if s != {"type": "null"})
    return schemas


def _granularity_by_default(kind: str | None, path: str) -> str:
    """The granularity a route answers at when none is asked: records for a variant or an
    individual by its id, the individuals carrying a variant (beacon/answer.py
    located_query, node/http/beacon_api.py individual) and the datasets (beacon/datasets.py
    datasets_query); the request models' default elsewhere."""
    if kind == "datasets" or "/g_variants/{id}" in path or "/individuals/{id}" in path:
        return "record"
    return Query.model_fields["requestedGranularity"].default


def _schema_of(name: str, kind: str, path: str) -> dict[str, Any]:
    """A GET parameter's schema, with the default the route takes without it: none for the
    filtering terms, which list every term unless paged (beacon/info.py terms_query)."""
    if name in _LISTS and name not in _NUMBERS:
        return {"type": "array", "items": {"type": "string"}}
    schema = _body_fields().get(name, {"type": "string"})
    if kind == "terms":
        return {k: v for k, v in schema.items() if k != "default"}
    if name == "requestedGranularity":
        return {**schema, "default": _granularity_by_default(kind, path)}
    return schema


def _read_names(kind: str, path: str) -> list[str]:
    """The GET parameters a route of this kind reads, by their spec names: datasets are
    selected by datasetIds and filters alone (beacon/datasets.py refuses variant
    parameters); variants and individuals by every variant parameter but the refused ones,
    individuals by filters too (beacon/request.py refuses them for variants)."""
    if kind == "datasets":
        selecting = ["datasetIds", "filters"]
    elif kind == "terms":          # paged, selecting nothing
        selecting = []
    elif "g_variants/{id}" in path:
        # a variant's id names it: of the variant parameters, its path takes only datasetIds
        # (beacon/answer.py located_query)
        selecting = ["datasetIds", *(["filters"] if kind == "individuals" else [])]
    else:
        selecting = [name for name in VariantParameters.model_fields if name not in UNSUPPORTED]
        if kind == "individuals":
            selecting.append("filters")
    return [*selecting, *_QUERY_KEYS, *Pagination.model_fields, REQUESTED_SCHEMA]


def _get_parameters(path: str) -> list[dict[str, Any]]:
    parameters = _path_parameters(path)
    kind = _reads(path)
    if kind is None:
        return parameters
    names = _read_names(kind, path)
    for name in names:
        info = VariantParameters.model_fields.get(name)
        description = (info.description if info else None) or _ABOUT.get(
            name, f"Beacon `{name}`")
        parameters.append(_query_parameter(name, _schema_of(name, kind, path), description))
    for alias, name in GET_ALIASES.items():
        if name not in names:
            continue
        if alias in SPEC_GET_NAMES:
            parameters.append(_query_parameter(alias, _schema_of(name, kind, path),
                                               f"`{name}` by the spec's GET name"))
        else:
            parameters.append({**_query_parameter(alias, _schema_of(name, kind, path),
                                                  f"Another spelling of `{name}`"),
                               "deprecated": True})
    return parameters


# The errors every route may answer (a token that does not verify is refused before any
# handler; the database may be unavailable), those of a request read from a body (POST), and
# those of a route that answers from the datasets' variants (a query budget, a query's time
# limit), and of a variant route, whose question may name only datasets that answer the caller
# nothing more (beacon/accounts.py: its account for them spent; a question about individuals
# is answered by none of them, so never refused so). All are Beacon error bodies
# (node/http/beacon_api.py error_response); undeclared, the 403 met a client made from this
# document unannounced. The 508 of a request that has come round is the network's
# (/network/api), which this document does not describe.
_ERRORS = {"400": "Invalid request; the message names the field",
           "401": "The bearer token does not verify (WWW-Authenticate says why)",
           "404": "Unknown path or entry",
           "503": "The node's database, or the bearer token's issuer, is unavailable "
                  "(Retry-After)"}
_BODY_ERRORS = {"408": "The body did not arrive in full within the node's time limit",
                "413": "The body is larger than the node takes",
                "415": "The body's Content-Encoding is not one the node decodes"}
_QUERY_ERRORS = {"429": "The caller's query budget for a dataset is spent (Retry-After)",
                 "503": "The node's database, or the bearer token's issuer, is unavailable, "
                        "or the query outran its time limit (Retry-After): ask again later, "
                        "or narrower"}
_REFUSED = {"403": "Every dataset the question names answers the caller nothing more: its "
                   "disclosure account for the dataset's variants near the allele floor, "
                   "whose carriers the dataset does not name, is spent (for good: no "
                   "Retry-After; the message names the datasets). A question naming none is "
                   "answered without them, `info.refused` naming them"}


def _responses(method: str, path: str) -> dict[str, Any]:
    """The answers an operation may give: its 200 and each error it may answer."""
    errors = {**_ERRORS, **(_BODY_ERRORS if method == "post" else {}),
              **(_QUERY_ERRORS if _reads(path) in ("variants", "individuals") else {}),
              **(_REFUSED if _reads(path) == "variants" else {})}
    error_body = {"application/json": {"schema": {
        "$ref": f"{_BEACON}/responses/beaconErrorResponse.json"}}}
    return {"200": {"description": "Beacon response",
                    "content": {"application/json": {"schema": _response_schema(path)}}},
            **{status: {"description": errors[status], "content": error_body}
               for status in sorted(errors)}}


# A variant query's `filters` (beacon/filters.py population_filter): the body's schema is
# every route's, so only the description can say that these routes take the GDI portal's
# population filters alone, and at record granularity only
_POPULATION_FILTERS = (
    "; `filters` takes only the GDI portal's population filters, "
    '`{"id": "sexFilter", "operator": "=", "value": "male" or "female", '
    f'"scope": "{POPULATION_SCOPE}"}}` and `{{"id": "countryFilter", "operator": "=", '
    f'"value": <ISO 3166-1 alpha-2 code>, "scope": "{POPULATION_SCOPE}"}}`, at record '
    "granularity only: they narrow each record's frequencyInPopulations to that "
    "population (`FI_M`), and change no count, existence or page")


# Individual-level queries state a purpose of use (node/http/beacon_api.py declared_purpose),
# which a GET can give only in this header: undeclared, a client built from the document
# could not ask a dataset that requires one
_PURPOSE = {"name": PURPOSE_HEADER, "in": "header", "schema": {"type": "string"},
            "description": "The purpose of use of an individual-level query (a DUO term such "
                           "as DUO:0000006, seven digits, or text); a POST body's "
                           "meta.purposeOfUse stating another is refused. Required by a "
                           "dataset or node that asks for one"}


def _operation(method: str, path: str, summary: str) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": _responses(method, path)}
    if method == "post":
        operation["requestBody"] = {"content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/RequestBody"}}}}
        if (kind := _reads(path)) not in (None, "terms"):
            # the body's schema is every route's, so the default is each route's to say
            operation["requestBody"]["description"] = (
                f"Without requestedGranularity, the request is answered at "
                f"{_granularity_by_default(kind, path)} granularity"
                + (_POPULATION_FILTERS if kind == "variants" else ""))
        parameters = _path_parameters(path)
    else:
        parameters = _get_parameters(path)
    if _reads(path) == "individuals":
        parameters.append(_PURPOSE)
    if parameters or method == "get":
        operation["parameters"] = parameters
    return operation


def _as_read(schemas: dict[str, Any]) -> None:
    """The request body's schemas (`schemas`, the models') widened to what the models' own
    validators take before pydantic validates (beacon/request.py Query), which pydantic's
    schemas do not show: requestParameters flat, wrapped by entry type as the spec's schema
    has them (`g_variant`, and `datasets` holding datasetIds, with the flat parameters
    beside), with a `$schema` at either level, `[]`, a list of one such object (the GDI
    portal's individuals request) or null; and a null
    includeResultsetResponses, the spec's HIT. Without it the document refused the spec's
    own example body, the GDI portal's `[]` and the framework's null, which are answered.
    And each number also as its digits in a string (the GDI portal's positions), start and
    end and datasetIds also as one bare value (`_plain_integer`, `_one_or_many`): refused
    by the document, answered by the node."""
    _numbers_as_digits(schemas)
    schemas["RequestBody"]["properties"]["meta"] = _META
    flat = schemas["VariantParameters"]
    flat["properties"] = {"$schema": {"type": "string"}, **flat["properties"]}
    schemas["RequestParameters"] = {
        **flat, "title": "RequestParameters",
        "description": "The parameters flat, or wrapped by entry type (g_variant, datasets)",
        "properties": {
            **flat["properties"],
            "g_variant": {"anyOf": [{"$ref": "#/components/schemas/VariantParameters"},
                                    {"type": "null"}]},
            "datasets": {"anyOf": [{"type": "object", "additionalProperties": False,
                                    "properties": {"datasetIds":
                                                   flat["properties"]["datasetIds"]}},
                                   {"type": "null"}]}}}
    query = schemas["Query"]["properties"]
    del query["requestedGranularity"]["default"]     # the route's: its requestBody says it
    query["requestParameters"] = {"anyOf": [
        {"$ref": "#/components/schemas/RequestParameters"},
        {"type": "array", "maxItems": 1,
         "items": {"$ref": "#/components/schemas/RequestParameters"}}, {"type": "null"}]}
    include = query["includeResultsetResponses"]
    query["includeResultsetResponses"] = {
        "anyOf": [{k: include[k] for k in ("type", "enum")}, {"type": "null"}],
        **{k: v for k, v in include.items() if k not in ("type", "enum")}}


# A number the request models take as a string of ASCII digits (beacon/request.py
# _plain_integer): no sign, space or other script's digits
_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
# The body's meta as beacon/request.py requested_meta reads it (the model's is any object):
# an API version and the schemas asked, each an object of strings or a schema's id, which
# the request summary repeats; any other key is the route's (purposeOfUse, on individuals)
_META = {"type": "object", "title": "Meta", "additionalProperties": True, "properties": {
    "apiVersion": {"anyOf": [{"type": "string", "pattern": r"\S"}, {"type": "null"}]},
    "requestedSchemas": {"anyOf": [{"type": "array", "maxItems": MAX_REQUESTED_SCHEMAS,
                                    "items": {"anyOf": [
        {"type": "string"},
        {"type": "object", "properties": {"entityType": {"type": "string"},
                                          "schema": {"type": "string"}}}]}},
        {"type": "null"}]}}}


def _numbers_as_digits(schemas: dict[str, Any]) -> None:
    """Each position, length and page number of the body's schemas also as its digits, and
    the lists of one value also as that value alone."""
    def number(schema: dict[str, Any]) -> dict[str, Any]:
        return {"anyOf": [schema, _DIGITS]}

    fields = schemas["VariantParameters"]["properties"]
    for name in ("variantMinLength", "variantMaxLength"):
        fields[name]["anyOf"][0] = number(fields[name]["anyOf"][0])
    for name in ("start", "end"):
        listed = fields[name]["anyOf"][0]
        listed["items"] = number(listed["items"])
        fields[name]["anyOf"].insert(1, listed["items"])
    fields["datasetIds"]["anyOf"].insert(1, {"type": "string"})
    pages = schemas["Pagination"]["properties"]
    for name in ("skip", "limit"):
        bounds = {k: pages[name].pop(k) for k in ("type", "minimum", "maximum")}
        pages[name]["anyOf"] = [bounds, _DIGITS]


# How a caller is known (node/http/caller.py): a bearer token of a trusted issuer in the
# Authorization header, on any route, or none at all (anonymous; hence the empty requirement
# beside it). Undeclared, a client built from the document sent no token, and so was
# answered as anonymous on every REGISTERED and CONTROLLED dataset; the document's own
# interactive page (/api/docs) offered no way to give one, though every route declares the
# 401 of a token that does not verify.
BEARER = "bearerToken"
_SECURITY_SCHEMES = {BEARER: {
    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    "description": "An access token of one of the node's trusted issuers (docs/auth.md), "
                   "whose visas decide what the caller may see; without one the caller is "
                   "anonymous. One that does not verify is a 401, never answered as "
                   "anonymous"}}


def openapi_document(routes: list[tuple[str, str, str]], base_url: str,
                     title: str) -> dict[str, Any]:
    """`routes` are (method, path, summary) for every served API endpoint; each may be
    asked with a bearer token or without (`_SECURITY_SCHEMES`)."""
    body = RequestBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = body.pop("$defs", {})
    schemas["RequestBody"] = body
    _as_read(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary in routes:
        paths.setdefault(path, {})[method.lower()] = _operation(method.lower(), path, summary)
    return {"openapi": "3.1.0",
            "info": {"title": title, "version": API_VERSION,
                     "description": "GA4GH Beacon v2 API of a GDI discovery node. POST bodies "
                                    "accept requestParameters flat, wrapped as "
                                    "{\"g_variant\": {...}}, as [] or as a list of "
                                    "one such object."},
            "servers": [{"url": base_url}], "security": [{}, {BEARER: []}], "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": _SECURITY_SCHEMES}}
