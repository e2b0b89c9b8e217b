"""/api/openapi.json against what the node serves (docs/beacon.md: it "describes exactly what
is served"): every route's real answers, at each granularity, valid against the 200 schema the
document declares for it (its $refs resolved in the Beacon v2 schemas' checkout, as
tests/beacon_schemas.py resolves them), and every query parameter each route accepts
declared there, and nothing it refuses."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiohttp import ClientSession
from jsonschema import Draft202012Validator

from auth.access import AccessLevel
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from beacon.openapi import openapi_document
from beacon.request import (
    GET_ALIASES,
    REQUESTED_SCHEMA,
    SPEC_GET_NAMES,
    Pagination,
    Query,
    VariantParameters,
)
from node.http import beacon_api
from node.settings import Settings
from tests.beacon_schemas import BEACON_V2, RESPONSE_SCHEMAS, validator_of
from tests.conftest import OPEN_DISCLOSURE, node_database, serve_node, write_vcf_text

DATASET, VARIANT, PERSON = "GDI-FI-API-001", "GRCh38:1:99:A:G", "S1"
VCF = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
       '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
       "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
       "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\n")
PEOPLE = [{"id": f"{sample}-pp", "subject": {"id": sample, "sex": "FEMALE"},
           "metaData": {"created": "2026-01-01T00:00:00Z", "createdBy": "tests",
                        "phenopacketSchemaVersion": "2.0"}} for sample in ("S1", "S2")]
IDS = {"/api/datasets/{id}": DATASET, "/api/datasets/{id}/g_variants": DATASET,
       "/api/datasets/{id}/individuals": DATASET, "/api/g_variants/{id}": VARIANT,
       "/api/g_variants/{id}/individuals": VARIANT, "/api/individuals/{id}": PERSON}
# A value of each parameter a GET may name (the request models' fields and their GET
# spellings), each one the node takes where it takes the parameter at all
VALUES = {"assemblyId": "GRCh38", "referenceName": "1", "start": "99", "end": "100",
          "referenceBases": "A", "alternateBases": "G", "variantType": "SNP",
          "variantMinLength": "1", "variantMaxLength": "5", "datasetIds": DATASET,
          "geneId": "TP53", "aminoacidChange": "R175H",
          "genomicAlleleShortForm": "NC_000001.11:g.100A>G", "mateName": "2",
          "requestedGranularity": "count", "includeResultsetResponses": "ALL",
          "testMode": "false", "filters": "NCIT:C16576", "skip": "0", "limit": "5",
          "assemblyID": "GRCh38", "granularity": "count", "includeResultSetResponses": "ALL",
          "datasets": DATASET, "datasetId": DATASET, "geneid": "TP53",
          "allele": "NC_000001.11:g.100A>G", REQUESTED_SCHEMA: "ga4gh-beacon-variant-v2.0.0"}
# How the node words a refusal of the parameter itself, rather than of its value or of what
# it is combined with (start without referenceName, a filter term no dataset field knows)
REFUSED = ("unknown parameter", "not a parameter of", "not supported by this node",
           "are not filtered", "the path already names the variant")
CONTROL = "noSuchParameter"


@pytest.fixture(scope="module")
async def node(pg_server_url: str, tmp_path_factory) -> AsyncIterator[ClientSession]:
    directory = tmp_path_factory.mktemp("openapi")
    people = directory / "people.json"
    people.write_text(json.dumps(PEOPLE))
    async with node_database(pg_server_url) as db, AsyncExitStack() as stack:
        await ingest(db, IngestRequest(write_vcf_text(directory / "one.vcf", VCF), DATASET,
                                       GRCH38, AccessLevel.PUBLIC, "One", workers=1,
                                       individuals=people))
        client, _ = await serve_node(stack, Settings(database_url=db, data_dir=directory,
                                                     disclosure=OPEN_DISCLOSURE))
        yield client


@pytest.fixture(scope="module")
async def described(node: ClientSession) -> dict[str, Any]:
    async with node.get("/api/openapi.json") as response:
        return await response.json()


def _url(path: str) -> str:
    return path.replace("{id}", IDS.get(path, ""))


def _declared(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


async def test_every_answer_is_valid_against_the_schema_declared_for_it(node, described):
    """Each route, GET and POST, at each granularity it reads: the answer is valid against
    the 200 schema the document declares; where that is one per granularity (anyOf), the
    one of the granularity returned is among them and valid too. Before, the individuals
    routes declared beaconInfoResponse and the g_variants ones the resultsets response only,
    which no boolean or count answer is."""
    root = BEACON_V2.folder()
    checked = 0
    for path, methods in described["paths"].items():
        for method, operation in methods.items():
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            validator = validator_of(root, schema)
            reads = "requestedGranularity" in _declared(methods["get"])
            for granularity in ("boolean", "count", "record") if reads else (None,):
                if method == "get":
                    params = {"requestedGranularity": granularity} if granularity else {}
                    answer = await node.get(_url(path), params=params)
                else:
                    body = {"query": {"requestedGranularity": granularity}} if granularity else {}
                    answer = await node.post(_url(path), json=body)
                document = await answer.json()
                assert answer.status == 200, (method, path, document)
                errors = [e.message for e in validator.iter_errors(document)]
                assert errors == [], (method, path, granularity, errors)
                if "anyOf" in schema:
                    returned = RESPONSE_SCHEMAS[document["meta"]["returnedGranularity"]]
                    ref = next(r["$ref"] for r in schema["anyOf"]
                               if r["$ref"].endswith(returned.rsplit("/", 1)[1]))
                    assert list(validator_of(root, {"$ref": ref}).iter_errors(document)) == []
                checked += 1
    assert checked > 60


async def test_every_parameter_a_route_accepts_is_declared(node, described):
    """Every route is asked each parameter a GET may name (every field of the request
    models, and their other spellings), one at a time: what it takes (an answer, or a
    refusal of the value or of its company) is declared, what it refuses as no parameter of
    it is not. A route that takes even a name no model knows reads no query string (the
    informational ones): it declares none; the filtering terms refuse what selects and
    declare what pages them. Before, GET /api/individuals
    declared no filters and no variant parameters, /api/datasets no datasetIds or filters,
    and every route declared granularity and pagination, read or not."""
    names = [*VariantParameters.model_fields, *Query.model_fields, *Pagination.model_fields,
             *GET_ALIASES, REQUESTED_SCHEMA]
    names = [n for n in dict.fromkeys(names) if n not in ("requestParameters", "pagination")]
    assert set(names) <= set(VALUES), "a new parameter needs a value here"
    for path, methods in described["paths"].items():
        declared = _declared(methods["get"])
        async with node.get(_url(path), params={CONTROL: "1"}) as answer:
            reads_query = answer.status == 400
        if not reads_query:
            assert declared == set(), path
            continue
        accepted = set()
        for name in names:
            async with node.get(_url(path), params={name: VALUES[name]}) as answer:
                document = await answer.json()
            message = document.get("error", {}).get("errorMessage", "")
            assert answer.status in (200, 400), (path, name, document)
            if answer.status == 200 or not any(words in message for words in REFUSED):
                accepted.add(name)
        assert declared == accepted, (path, declared ^ accepted)
        # the spec's own GET names are not deprecated spellings; the others are
        deprecated = {p["name"] for p in methods["get"]["parameters"] if p.get("deprecated")}
        assert deprecated == (set(GET_ALIASES) - SPEC_GET_NAMES) & accepted, path


def _keys(node: Any) -> set[str]:
    """Every key of every object within `node`."""
    if isinstance(node, dict):
        return set(node).union(*map(_keys, node.values()))
    if isinstance(node, list):
        return set().union(*map(_keys, node))
    return set()


@pytest.mark.parametrize(("body", "valid"), [
    ({"query": {"pagination": {"skip": 2}, "requestParameters": {
        "referenceName": "1", "start": [1], "alternateBases": "G"}}}, True),
    ({"query": {"pagination": {"skip": -5}}}, False),
    ({"query": {"pagination": {"skip": 2**31}}}, False),
    ({"query": {"requestParameters": {"start": [-1]}}}, False),
    ({"query": {"requestParameters": {"end": [0, 2**31]}}}, False),
    ({"query": {"requestParameters": {"variantMinLength": -1}}}, False),
    ({"query": {"requestParameters": {"variantMaxLength": -1}}}, False)])
async def test_the_request_body_schema_states_the_bounds_the_node_holds(node, described, body,
                                                                        valid):
    """As minimum and maximum, which a JSON Schema validator applies: the positions and
    `skip` were declared with pydantic's `ge`/`le`, which none knows, so the document let
    through what the node refuses with a 400."""
    assert not {"ge", "le", "gt", "lt"} & _keys(described["components"])
    schema = {"$ref": "#/components/schemas/RequestBody", "components": described["components"]}
    errors = list(Draft202012Validator(schema).iter_errors(body))
    assert (errors == []) is valid, [e.message for e in errors]
    async with node.post("/api/g_variants", json=body) as answer:
        assert (answer.status == 200) is valid, await answer.text()


_SNV = {"referenceName": "1", "start": [99], "alternateBases": "G"}


@pytest.mark.parametrize(("body", "valid"), [
    ({"query": {"requestParameters": {"g_variant": _SNV}}}, True),       # the schema's form
    ({"query": {"requestParameters": {"$schema": "x", "g_variant": {**_SNV, "$schema": "x"},
                                      "datasets": {"datasetIds": [DATASET]}}}}, True),
    ({"query": {"requestParameters": {"g_variant": None, **_SNV}}}, True),
    ({"query": {"requestParameters": []}}, True),                         # the GDI portal's
    ({"query": {"requestParameters": None}}, True),
    ({"query": {"includeResultsetResponses": None}}, True),               # the spec's HIT
    # numbers as digits in strings (the GDI portal's positions), one position bare
    ({"query": {"requestParameters": {**_SNV, "start": ["99"]}}}, True),
    ({"query": {"requestParameters": {**_SNV, "start": "99", "variantMinLength": "1"}}}, True),
    ({"query": {"requestParameters": {**_SNV, "start": 99, "datasetIds": DATASET}}}, True),
    ({"query": {"pagination": {"skip": "0", "limit": "5"}}}, True),
    ({"query": {"requestParameters": {**_SNV, "start": ["+99"]}}}, False),
    ({"query": {"requestParameters": {**_SNV, "start": "99.0"}}}, False),
    ({"query": {"pagination": {"limit": "5 "}}}, False),
    ({"query": {"requestParameters": {"g_variant": {**_SNV, "nope": 1}}}}, False),
    ({"query": {"requestParameters": {"g_variant": "1:99:A:G"}}}, False),
    ({"query": {"requestParameters": {"datasets": {"datasetIds": [DATASET], "x": 1}}}}, False),
    ({"query": {"requestParameters": [_SNV]}}, True),            # the GDI portal's facet
    ({"query": {"requestParameters": [{"g_variant": _SNV}]}}, True),
    ({"query": {"requestParameters": [_SNV, _SNV]}}, False),
    ({"query": {"requestParameters": [[_SNV]]}}, False),
    ({"query": {"requestParameters": ["1:99:A:G"]}}, False),
    ({"query": {"includeResultsetResponses": "SOME"}}, False),
    # the meta the request summary repeats (beacon/request.py requested_meta); until
    # 2026-12-05 the document's meta was any object
    ({"meta": {"apiVersion": "v2.0", "requestedSchemas": [
        "ejprd-resources-v1.0.0", {"entityType": "genomicVariant", "schema": "x", "other": 1},
        {}]}, "query": {}}, True),
    ({"meta": {"apiVersion": None, "requestedSchemas": None, "purposeOfUse": 5}}, True),
    ({"meta": {"apiVersion": 2}}, False),
    ({"meta": {"apiVersion": " "}}, False),
    ({"meta": {"requestedSchemas": "ga4gh-beacon-variant-v2.0.0"}}, False),
    ({"meta": {"requestedSchemas": [1]}}, False),
    ({"meta": {"requestedSchemas": [{"schema": 1}]}}, False),
    ({"meta": {"requestedSchemas": [{"entityType": None}]}}, False),
    ({"meta": {"requestedSchemas": ["x"] * 32}}, True),
    ({"meta": {"requestedSchemas": ["x"] * 33}}, False)])
async def test_the_request_body_schema_takes_the_forms_the_node_answers(node, described, body,
                                                                       valid):
    """The forms docs/beacon.md says a POST takes, the spec's own among them (its example
    g_variants-request-POST.json wraps the parameters as `{"g_variant": {...}}`), are valid
    against the document's request body, and what the node refuses is not. The document's
    schema was the flat parameters' alone: it refused the spec's form, the GDI portal's
    `"requestParameters": []` and a null includeResultsetResponses, all answered; and until
    2026-12-05 numbers written as digits in strings, and a single position not in a list,
    also answered."""
    schema = {"$ref": "#/components/schemas/RequestBody", "components": described["components"]}
    errors = list(Draft202012Validator(schema).iter_errors(body))
    assert (errors == []) is valid, [e.message for e in errors]
    async with node.post("/api/g_variants", json=body) as answer:
        assert (answer.status == 200) is valid, await answer.text()


async def test_the_specs_example_request_is_valid_against_the_document(node, described):
    example = json.loads((BEACON_V2.folder() / "examples/g_variants-request-POST.json"
                          ).read_text())
    schema = {"$ref": "#/components/schemas/RequestBody", "components": described["components"]}
    assert [e.message for e in Draft202012Validator(schema).iter_errors(example)] == []


def _query_parameters(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}


async def test_a_get_parameters_values_and_bounds_are_declared(node, described):
    """Each enumerated or bounded GET parameter, given a value its declaration refuses, is a
    400, and one it takes is answered. Before, the granularity and includeResultsetResponses
    (and their other spellings) were declared as any string, and skip without its maximum."""
    parameters = _query_parameters(described["paths"]["/api/g_variants"]["get"])
    for name in ("requestedGranularity", "granularity"):
        assert parameters[name] == {"type": "string", "enum": ["boolean", "count", "record"],
                                    "default": "boolean"}
    for name in ("includeResultsetResponses", "includeResultSetResponses"):
        assert parameters[name] == {"type": "string", "enum": ["HIT", "MISS", "ALL", "NONE"],
                                    "default": "HIT"}
    assert parameters["skip"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                                  "default": 0}
    assert parameters["limit"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                                   "default": 10}
    # positions and lengths as the numbers the node takes (digits 0-9, up to 2^31 - 1), one
    # or two of a position: they were any string, as `start=-5` or `start=x` is to a client
    position = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    for name in ("start", "end"):
        assert parameters[name] == {"type": "array", "items": position, "minItems": 1,
                                    "maxItems": 2}, name
    for name in ("variantMinLength", "variantMaxLength"):
        assert parameters[name] == position, name
    for start, status in (("99", 200), ("99,200", 200), ("2147483648", 400), ("-1", 400),
                          ("x", 400), ("1,2,3", 400)):
        items = start.split(",")
        declared = parameters["start"]
        valid = (len(items) <= declared["maxItems"] and all(
            item.lstrip("-").isdigit() and not list(Draft202012Validator(
                declared["items"]).iter_errors(int(item))) for item in items))
        assert valid is (status == 200), start
        params = {"referenceName": "1", "start": start, "alternateBases": "G"}
        if "," in start:
            params = {"referenceName": "1", "start": start, "end": start}
        async with node.get("/api/g_variants", params=params) as answer:
            assert answer.status == status, (start, await answer.text())
    for name, schema in parameters.items():
        if "enum" in schema:
            taken, refused = schema["enum"][-1], "sometimes"
        elif "maximum" in schema:
            taken, refused = schema["maximum"], schema["maximum"] + 1
        else:
            continue
        for value, status in ((taken, 200), (refused, 400)):
            assert (list(Draft202012Validator(schema).iter_errors(value)) == []) is (
                status == 200), (name, value)
            async with node.get("/api/g_variants", params={name: str(value)}) as answer:
                assert answer.status == status, (name, value, await answer.text())


BAD_TOKEN = {"Authorization": "Bearer not.a.token"}


async def test_every_error_a_route_answers_is_declared_as_a_beacon_error(node, described):
    """Every route declares the errors it may answer, each a Beacon error body: a token
    that does not verify (401) and the database unavailable (503) on every route, a body
    too large, too slow or in a coding the node does not decode (413, 408, 415) on every
    POST, a spent query budget (429) and a query over its time limit (503) where the
    variants are asked, and a caller's spent disclosure account for the datasets a variant
    question names (403, beacon/accounts.py; tests/test_accounts.py causes it). Those a test
    can cause here are caused, and the answer is the declared schema. Before, only 200, 400
    and 404 were declared (the 404 with no schema); the 403 was answered undeclared."""
    root = BEACON_V2.folder()
    checked = 0
    for path, methods in described["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            expected = {"200", "400", "401", "404", "503"}
            if method == "post":
                expected |= {"408", "413", "415"}
            if ("g_variants" in path or "individuals" in path) and not path.endswith(
                    "filtering_terms"):
                expected.add("429")
            if path.endswith(("g_variants", "g_variants/{id}")):
                expected.add("403")
            assert set(responses) == expected, (method, path)
            for status, declared in responses.items():
                schema = declared["content"]["application/json"]["schema"]
                assert status == "200" or schema["$ref"].endswith(
                    "/responses/beaconErrorResponse.json"), (method, path, status)
            caused = [(401, {"headers": BAD_TOKEN})]
            if method == "post":
                caused += [(413, {"data": b" " * (1 << 21)}),
                           (415, {"data": b"{}", "headers": {"Content-Encoding": "br"}})]
            for status, sent in caused:
                async with node.request(method, _url(path), **sent) as answer:
                    document = await answer.json()
                assert answer.status == status, (method, path, document)
                schema = responses[str(status)]["content"]["application/json"]["schema"]
                assert list(validator_of(root, schema).iter_errors(document)) == [], (
                    method, path, status)
                checked += 1
    assert checked > 40


async def test_the_document_is_built_once_per_app_and_served_as_built(pg_server_url, tmp_path,
                                                                      monkeypatch):
    """The document depends on the settings and the route table alone: built with the app,
    each request, under an alias root too, is served those bytes. Before, every request
    built it anew (~3 ms of schema generation) for the same document."""
    built: list[tuple[Any, ...]] = []

    def counted(*args: Any) -> dict[str, Any]:
        built.append(args)
        return openapi_document(*args)

    monkeypatch.setattr(beacon_api, "openapi_document", counted)
    async with node_database(pg_server_url) as db, AsyncExitStack() as stack:
        settings = Settings(database_url=db, data_dir=tmp_path, api_alias_roots=["/beacon/v2.0.0"])
        client, _ = await serve_node(stack, settings)
        served = []
        for path in ("/api/openapi.json", "/api/openapi.json", "/beacon/v2.0.0/openapi.json"):
            async with client.get(path) as response:
                assert response.status == 200
                assert response.content_type == "application/json"
                served.append(await response.read())
    assert len(built) == 1
    assert served[0] == served[1] == served[2]
    assert json.loads(served[0])["servers"] == [{"url": settings.base_url}]


async def test_the_purpose_of_use_header_is_declared_where_it_is_read(node, described):
    """A route reads the `X-Purpose-Of-Use` header (docs/beacon.md, "Purpose of use") when a
    blank one is refused naming `meta.purposeOfUse`: each such operation, GET and POST,
    declares it as a header parameter, and no other operation does. Before, no operation
    declared it, and a client built from the document could not state the purpose of a GET
    on a dataset that requires one."""
    reading, declaring = set(), set()
    for path, methods in described["paths"].items():
        for method, operation in methods.items():
            async with node.request(method, _url(path), json={} if method == "post" else None,
                                    headers={"X-Purpose-Of-Use": " "}) as answer:
                message = (await answer.json()).get("error", {}).get("errorMessage", "")
            if answer.status == 400 and message.startswith("meta.purposeOfUse"):
                reading.add((method, path))
            if any(p["in"] == "header" and p["name"] == "X-Purpose-Of-Use"
                   for p in operation.get("parameters", [])):
                declaring.add((method, path))
    assert len(reading) >= 8, reading
    assert declaring == reading, declaring ^ reading


async def test_the_bearer_token_every_route_reads_is_declared(node, described):
    """Every route reads a bearer token (docs/auth.md) and answers without one, as anonymous:
    the document declares the scheme, optional ({} beside it), for every operation, the one
    a 401's WWW-Authenticate names. Before, it declared none, so a client built from it, and
    the interactive page, sent no token and were answered as anonymous on every REGISTERED
    and CONTROLLED dataset, where each operation declared the 401 of a token."""
    schemes = described.get("components", {}).get("securitySchemes", {})
    assert len(schemes) == 1, schemes
    (name, scheme), = schemes.items()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert described.get("security") == [{}, {name: []}]
    for path, methods in described["paths"].items():
        for method, operation in methods.items():
            assert "security" not in operation, (method, path)
            body = {} if method == "post" else None
            async with node.request(method, _url(path), json=body) as anonymous:
                assert anonymous.status == 200, (method, path)
            async with node.request(method, _url(path), json=body,
                                    headers={"Authorization": "Bearer junk"}) as refused:
                assert refused.status == 401, (method, path)
                challenge = refused.headers["WWW-Authenticate"]
                assert challenge.lower().startswith(scheme["scheme"] + " "), challenge


# One of the GDI portal's population filters (docs/beacon.md, "Population filters")
POPULATION_FILTER = {"id": "sexFilter", "operator": "=", "value": "male", "scope": "population"}


async def test_a_route_taking_the_population_filters_describes_them(node, described):
    """Each POST route that answers the GDI portal's population filters (scope
    `population`, at record granularity) says so in its request body's description, and no
    other route does: the body's `filters` is one schema for every route, so only the
    description can tell a client that a variant query takes these filters alone, and only
    at record granularity. Before, no operation named them, and the document described
    every variant route's `filters` as an array of anything."""
    taking, describing = set(), set()
    for path, methods in described["paths"].items():
        if "post" not in methods:
            continue
        body = {"query": {"requestedGranularity": "record", "filters": [POPULATION_FILTER]}}
        async with node.post(_url(path), json=body) as answer:
            if answer.status == 200:
                taking.add(path)
        description = methods["post"].get("requestBody", {}).get("description", "")
        if all(word in description for word in ("sexFilter", "countryFilter",
                                                 '"scope": "population"', "record")):
            describing.add(path)
    assert len(taking) >= 3, taking
    assert describing == taking, describing ^ taking


# Where a request summary repeats each GET parameter that has a default
_SUMMARY = {"requestedGranularity": ("requestedGranularity",),
            "includeResultsetResponses": ("includeResultsetResponses",),
            "testMode": ("testMode",), "skip": ("pagination", "skip"),
            "limit": ("pagination", "limit")}


async def test_a_get_parameters_default_is_what_the_route_takes_without_it(node, described):
    """Each route's granularity, includeResultsetResponses, test mode and page, left out of
    a GET, are what its request summary then repeats (the spec: "the request received as it
    has been interpreted"), and the document declares that as the parameter's default. None
    was declared, and the body's schema said `boolean` for every route, where a variant by
    its id, an individual by its id, the individuals carrying a variant and the datasets
    answer records unless asked otherwise (docs/beacon.md). The filtering terms, which list
    every term when not paged and repeat no summary, declare none."""
    checked = 0
    for path, methods in described["paths"].items():
        parameters = {p["name"]: p["schema"] for p in methods["get"].get("parameters", [])
                      if p["in"] == "query" and p["name"] in _SUMMARY}
        if not parameters:
            continue
        async with node.get(_url(path)) as answer:
            summary = (await answer.json())["meta"].get("receivedRequestSummary")
        for name, schema in parameters.items():
            if summary is None:
                assert "default" not in schema, (path, name, schema)
                continue
            taken = summary
            for key in _SUMMARY[name]:
                taken = taken[key]
            assert schema.get("default", "none declared") == taken, (path, name)
            checked += 1
        if summary is not None and "post" in methods:
            async with node.post(_url(path), json={}) as answer:
                summary = (await answer.json())["meta"]["receivedRequestSummary"]
            said = methods["post"]["requestBody"]["description"]
            assert f"answered at {summary['requestedGranularity']} granularity" in said, path
    query = described["components"]["schemas"]["Query"]["properties"]
    assert "default" not in query["requestedGranularity"]     # each route's, said above
    assert checked >= 40
