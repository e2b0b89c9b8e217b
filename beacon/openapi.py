"""The node's OpenAPI document, generated from the route table and the request models, so it
describes exactly what is served and cannot drift from the parser."""
from __future__ import annotations

from typing import Any

from beacon.info import API_VERSION
from beacon.request import Pagination, Query, RequestBody, VariantParameters

_BEACON = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/framework/json"
_RESPONSES = {
    "/api/g_variants": "beaconResultsetsResponse.json",
    "/api/datasets": "beaconCollectionsResponse.json",
    "/api/filtering_terms": "beaconFilteringTermsResponse.json",
    "/api/map": "beaconMapResponse.json", "/api/entry_types": "beaconEntryTypesResponse.json",
    "/api/configuration": "beaconConfigurationResponse.json",
    "/api/service-info": "ga4gh-service-info-1-0-0-schema.json",
}
_GET_ONLY_PARAMETERS = ("requestedGranularity", "includeResultsetResponses", "testMode")


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ] if "{id}" in path else []


def _get_parameters(path: str) -> list[dict[str, Any]]:
    parameters = _path_parameters(path)
    if path.endswith(("g_variants", "g_variants/{id}")):
        # a variant's id names it: of the variant parameters, its path takes only datasetIds
        # (beacon/answer.py located_query)
        fields = VariantParameters.model_fields
        for name in fields if path.endswith("g_variants") else ("datasetIds",):
            info = fields[name]
            kind = {"start": "array", "end": "array", "datasetIds": "array"}.get(name)
            schema: dict[str, Any] = ({"type": "array", "items": {"type": "string"}}
                                      if kind else {"type": "string"})
            parameters.append({"name": name, "in": "query", "schema": schema,
                               "style": "form", "explode": False,
                               "description": info.description or f"Beacon `{name}`"})
    query_fields = Query.model_fields
    for name in _GET_ONLY_PARAMETERS:
        annotation = query_fields[name].annotation
        parameters.append({"name": name, "in": "query",
                           "schema": {"type": "boolean"} if annotation is bool
                           else {"type": "string"}})
    parameters += [{"name": name, "in": "query", "schema": {"type": "integer", "minimum": 0}}
                   for name in Pagination.model_fields]
    return parameters


def _operation(method: str, path: str, summary: str) -> dict[str, Any]:
    base = path.replace("/{id}", "") if not path.endswith("g_variants") else "/api/g_variants"
    schema = _RESPONSES.get(base, "beaconInfoResponse.json")
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "Beacon response",
                    "content": {"application/json": {"schema": {
                        "$ref": f"{_BEACON}/responses/{schema}"}}}},
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
