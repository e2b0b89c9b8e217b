"""The node's OpenAPI document, generated from the route table and the request models, so it
describes exactly what is served and cannot drift from the parser: each route declares the
query parameters it reads (tests/test_openapi.py asks every route every parameter) and the
Beacon response schema its answers are valid against."""
from __future__ import annotations

from typing import Any

from beacon.info import API_VERSION
from beacon.request import (
    GET_ALIASES,
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


def _schema_of(name: str) -> dict[str, Any]:
    if name in _LISTS:
        return {"type": "array", "items": {"type": "string"}}
    if name in Pagination.model_fields:
        return {"type": "integer", "minimum": 0}
    field = Query.model_fields.get(name)
    return {"type": "boolean"} if field is not None and field.annotation is bool else {
        "type": "string"}


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
        parameters.append(_query_parameter(
            name, _schema_of(name), (info.description if info else None) or _ABOUT.get(
                name, f"Beacon `{name}`")))
    for alias, name in GET_ALIASES.items():
        if name not in names:
            continue
        if alias in SPEC_GET_NAMES:
            parameters.append(_query_parameter(alias, _schema_of(name),
                                               f"`{name}` by the spec's GET name"))
        else:
            parameters.append({**_query_parameter(alias, _schema_of(name),
                                                  f"Another spelling of `{name}`"),
                               "deprecated": True})
    return parameters


def _operation(method: str, path: str, summary: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "Beacon response",
                    "content": {"application/json": {"schema": _response_schema(path)}}},
            "400": {"description": "Invalid request; the message names the field",
                    "content": {"application/json": {"schema": {
                        "$ref": f"{_BEACON}/responses/beaconErrorResponse.json"}}}},
            "404": {"description": "Unknown path or entry"}}}
    if method == "post":
        operation["requestBody"] = {"content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/RequestBody"}}}}
        if "{id}" in path:
            operation["parameters"] = _path_parameters(path)
    else:
        operation["parameters"] = _get_parameters(path)
    return operation


def openapi_document(routes: list[tuple[str, str, str]], base_url: str,
                     title: str) -> dict[str, Any]:
    """`routes` are (method, path, summary) for every served API endpoint."""
    body = RequestBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = body.pop("$defs", {})
    schemas["RequestBody"] = body
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary in routes:
        paths.setdefault(path, {})[method.lower()] = _operation(method.lower(), path, summary)
    return {"openapi": "3.1.0",
            "info": {"title": title, "version": API_VERSION,
                     "description": "GA4GH Beacon v2 API of a GDI discovery node. POST bodies "
                                    "accept requestParameters flat, wrapped as "
                                    "{\"g_variant\": {...}} or as []."},
            "servers": [{"url": base_url}], "paths": paths, "components": {"schemas": schemas}}
