"""The service shell over real HTTP: informational endpoints valid against the Beacon v2
schemas, health/readiness, request ids, metrics, and errors as Beacon error bodies."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from auth.access import AccessLevel
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from tests.beacon_schemas import (
    BEACON_V2,
    COLLECTIONS_SCHEMA,
    ENTRY_TYPES_SCHEMA,
    ERROR_SCHEMA,
    INFO_SCHEMA,
    MAP_SCHEMA,
    RESPONSE_SCHEMAS,
)
from tests.conftest import write_vcf_text

INFO_SCHEMAS = {
    "/api": INFO_SCHEMA,
    "/api/info": INFO_SCHEMA,
    "/api/service-info": "framework/json/responses/ga4gh-service-info-1-0-0-schema.json",
    "/api/configuration": "framework/json/responses/beaconConfigurationResponse.json",
    "/api/map": MAP_SCHEMA,
    "/api/entry_types": ENTRY_TYPES_SCHEMA,
    "/api/datasets": COLLECTIONS_SCHEMA,
    "/api/filtering_terms": "framework/json/responses/beaconFilteringTermsResponse.json",
}
SMALL_VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1
chr1\t200\t.\tC\tT,CA\t.\tPASS\t.\tGT\t0|2\t1|0
"""

SITES_VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
chr1\t100\t.\tA\tG\t.\tPASS\tAC=30;AN=2000
"""


@pytest.fixture
async def loaded(db_url: str, pool: object, tmp_path: Path) -> list[str]:
    """Two datasets, ingested after the node's pool has brought the schema up to date."""
    path = write_vcf_text(tmp_path / "small.vcf", SMALL_VCF)
    ids = ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
    for dataset_id, level in zip(ids, (AccessLevel.PUBLIC, AccessLevel.CONTROLLED)):
        await ingest(db_url, IngestRequest(path, dataset_id, GRCH38, level, f"Title {dataset_id}",
                                           metadata={"country": "FI"}, workers=1))
    return ids


@pytest.mark.parametrize("path", sorted(INFO_SCHEMAS))
async def test_informational_endpoints_validate_when_empty(node, beacon_schema, path):
    response = await node.get(path)
    assert response.status == 200
    body = await response.json()
    assert beacon_schema(INFO_SCHEMAS[path], body) == []


@pytest.mark.parametrize("path", sorted(INFO_SCHEMAS))
async def test_informational_endpoints_validate_with_datasets(node, beacon_schema, loaded, path):
    body = await (await node.get(path)).json()
    assert beacon_schema(INFO_SCHEMAS[path], body) == []


async def test_info_reflects_datasets_in_database(node, loaded):
    info = (await (await node.get("/api/info")).json())["response"]
    assert info["id"] == "org.test.node"
    assert info["info"]["datasets"] == 2
    assert info["info"]["accessLevels"] == ["CONTROLLED", "PUBLIC"]
    configuration = (await (await node.get("/api/configuration")).json())["response"]
    assert configuration["securityAttributes"]["securityLevels"] == ["CONTROLLED", "PUBLIC"]


async def test_map_and_entry_types_list_exactly_the_served_entry_endpoints(node, loaded):
    endpoint_sets = (await (await node.get("/api/map")).json())["response"]["endpointSets"]
    entry_types = (await (await node.get("/api/entry_types")).json())["response"]["entryTypes"]
    assert set(endpoint_sets) == set(entry_types)
    example_ids = {"dataset": loaded[0], "genomicVariant": "GRCh38:1:99:A:G",
                   "individual": "S1"}
    urls = []
    for kind, endpoint in endpoint_sets.items():
        urls += [endpoint["rootUrl"], endpoint["singleEntryUrl"].replace("{id}", example_ids[kind])]
        urls += [e["url"].replace("{id}", example_ids[kind])
                 for e in endpoint.get("endpoints", {}).values()]
    assert len(urls) == 9
    for url in urls:
        path = url.split("/api", 1)[1]
        assert (await node.get(f"/api{path}")).status == 200, url
        assert (await node.post(f"/api{path}", json={})).status == 200, url


async def test_entry_types_have_the_ids_of_the_specs_default_model(node, loaded, beacon_schema):
    """/map, /entry_types, /configuration and an answer's returnedSchemas name each entry
    type as the spec's default model does (beaconConfiguration.json, beaconMap.json of the
    shared schemas). Before, variants were `genomicVariation`, an id no spec client knows."""
    model = BEACON_V2.folder() / "models/json/beacon-v2-default-model"
    configured = json.loads((model / "beaconConfiguration.json").read_text())["entryTypes"]
    mapped = {endpoint["entryType"] for endpoint in json.loads(
        (model / "beaconMap.json").read_text())["endpointSets"].values()}
    spec = {kind: entry["id"] for kind, entry in configured.items()}
    assert set(spec.values()) == mapped and "genomicVariant" in mapped
    entry_types = (await (await node.get("/api/entry_types")).json())["response"]["entryTypes"]
    configuration = (await (await node.get("/api/configuration")).json())["response"]
    endpoint_sets = (await (await node.get("/api/map")).json())["response"]["endpointSets"]
    assert set(entry_types) == set(configuration["entryTypes"]) == set(endpoint_sets) <= mapped
    assert all(entry["id"] == kind for kind, entry in entry_types.items())
    assert {e["entryType"] for e in endpoint_sets.values()} == set(endpoint_sets)
    related = {e["returnedEntryType"] for s in endpoint_sets.values()
               for e in s.get("endpoints", {}).values()}
    assert related <= mapped
    answer = await (await node.get("/api/g_variants", params={
        "referenceName": "1", "start": "99", "alternateBases": "G"})).json()
    assert beacon_schema(RESPONSE_SCHEMAS["boolean"], answer) == []
    assert [s["entityType"] for s in answer["meta"]["returnedSchemas"]] == ["genomicVariant"]


async def test_the_map_names_its_openapi_document_and_the_individuals_terms(node, loaded,
                                                                            beacon_schema):
    """An endpoint set's `openAPIEndpointsDefinition` is the OpenAPI document of its
    endpoints, which "MUST BE a valid OpenAPI definition file, as it is expected that the
    Beacon clients (e.g. a Beacon Network) should be able to parse it to discover additional
    details on the supported verbs, parameters, etc." (framework/json/configuration/
    beaconMapSchema.json, Endpoint); the default model's beaconMap.json gives every endpoint
    set one, and the individuals' a `filteringTermsUrl`. The node's map named neither, though
    it serves both (/api/openapi.json, /api/individuals/filtering_terms): a client reading the
    map found no parameters to ask with and no terms to filter by. The network's map names
    only what the network serves (it has no OpenAPI document, nor individuals' terms)."""
    endpoint_sets = (await (await node.get("/api/map")).json())["response"]["endpointSets"]
    for kind, endpoint in endpoint_sets.items():
        document = await node.get(urlsplit(endpoint["openAPIEndpointsDefinition"]).path)
        assert document.status == 200, kind
        paths = set((await document.json())["paths"])
        for url in (endpoint["rootUrl"], endpoint["singleEntryUrl"]):
            assert urlsplit(url).path in paths, (kind, url)
    terms = endpoint_sets["individual"]["filteringTermsUrl"]
    assert terms.endswith("/api/individuals/filtering_terms")
    body = await (await node.get(urlsplit(terms).path)).json()
    assert beacon_schema("framework/json/responses/beaconFilteringTermsResponse.json",
                         body) == []
    assert {k for k, e in endpoint_sets.items() if "filteringTermsUrl" in e} == {"individual"}
    network = (await (await node.get("/network/api/map")).json())["response"]["endpointSets"]
    assert not any("openAPIEndpointsDefinition" in e or "filteringTermsUrl" in e
                   for e in network.values())


async def test_the_result_sets_type_is_a_collection_the_configuration_declares(node, loaded):
    """Every resultSet is of `setType` `dataset`, which "SHOULD MATCH an entry type declared as
    collection in the Beacon configuration" (framework/json/responses/sections/
    beaconResultsets.json, ResultsetInstance.setType); an entry type is declared a collection
    by its `aCollectionOf`, the entry types its instances hold (framework/json/configuration/
    entryTypeDefinition.json), as the default model's beaconConfiguration.json declares the
    dataset. None was declared: a client checking a resultSet's type against /configuration
    found no collection at all, and none could tell which entry types a dataset holds."""
    answer = await (await node.get("/api/g_variants", params={
        "referenceName": "1", "start": "99", "alternateBases": "G",
        "requestedGranularity": "count", "includeResultsetResponses": "ALL"})).json()
    set_types = {s["setType"] for s in answer["response"]["resultSets"]}
    assert set_types == {"dataset"}
    held = {"genomicVariant", "individual"}     # /datasets/{id}/g_variants and /individuals
    for path in ("/api/configuration", "/api/entry_types", "/network/api/configuration"):
        entry_types = (await (await node.get(path)).json())["response"]["entryTypes"]
        collections = {kind: {m["id"] for m in entry["aCollectionOf"]}
                       for kind, entry in entry_types.items() if "aCollectionOf" in entry}
        assert collections == {"dataset": held}, path
        assert all(m["name"] == entry_types[m["id"]]["name"]
                   for m in entry_types["dataset"]["aCollectionOf"]), path


async def test_datasets_collection_lists_records_and_paginates(node, loaded, beacon_schema):
    body = await (await node.get("/api/datasets?limit=1&skip=1")).json()
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 2}
    [record] = body["response"]["collections"]
    assert record["id"] == loaded[1]
    assert record["info"]["accessLevel"] == "CONTROLLED"
    assert record["info"]["variantCount"] == 3
    one = await (await node.get(f"/api/datasets/{loaded[0]}")).json()
    assert [c["id"] for c in one["response"]["collections"]] == [loaded[0]]
    assert beacon_schema(INFO_SCHEMAS["/api/datasets"], one) == []


async def test_a_sites_only_dataset_lists_no_sample_count(node, db_url, pool, tmp_path,
                                                          beacon_schema):
    """A sites-only VCF's allele counts come from people it does not name (AN=2000 here):
    its record said `sampleCount: 0`, that the dataset held nobody, which the FAIR Data
    Point no longer publishes (tests/test_fdp.py). It is left out here too."""
    vcf = write_vcf_text(tmp_path / "sites.vcf", SITES_VCF)
    await ingest(db_url, IngestRequest(vcf, "GDI-FI-SITES-001", GRCH38, AccessLevel.PUBLIC,
                                       "Sites", workers=1))
    body = await (await node.get("/api/datasets/GDI-FI-SITES-001")).json()
    [record] = body["response"]["collections"]
    assert not {"sampleCount", "sampleCountPrecision",
                "sampleCountAdjustedTo"} & set(record["info"])
    assert record["info"]["variantCount"] == 1
    assert beacon_schema(INFO_SCHEMAS["/api/datasets"], body) == []


@pytest.mark.parametrize("path,status,field", [
    ("/api/nope", 404, "/api/nope"),
    ("/api/datasets/GDI-XX-NONE-1", 404, "GDI-XX-NONE-1"),
    ("/api/datasets?limit=many", 400, "limit"),
    ("/api/datasets?skip=-1", 400, "skip"),
])
async def test_errors_are_beacon_error_bodies(node, beacon_schema, path, status, field):
    response = await node.get(path)
    assert response.status == status
    body = await response.json()
    assert body["error"]["errorCode"] == status
    assert field in body["error"]["errorMessage"]
    assert beacon_schema(ERROR_SCHEMA, body) == []


async def test_wrong_method_is_405_with_beacon_error(node, beacon_schema):
    response = await node.delete("/api/info")
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert beacon_schema(ERROR_SCHEMA, await response.json()) == []


async def test_health_and_readiness(node):
    assert (await (await node.get("/health")).json()) == {"status": "ok"}
    assert (await (await node.get("/ready")).json()) == {"status": "ready"}


async def test_readiness_fails_when_database_is_gone(node, pool):
    await pool.close()
    response = await node.get("/ready")
    assert response.status == 503
    assert "database" in (await response.json())["reason"]


async def test_request_id_is_echoed_or_minted(node):
    echoed = await node.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    minted = await node.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert minted.headers["X-Request-ID"] != "bad id with spaces"
    assert len(minted.headers["X-Request-ID"]) == 32


async def test_metrics_count_requests_by_route_template(node, loaded):
    await node.get(f"/api/datasets/{loaded[0]}")
    await node.get("/api/nope")
    text = await (await node.get("/metrics")).text()
    assert 'route="/api/datasets/{id}",status="200"' in text
    assert 'route="unmatched",status="404"' in text
    assert loaded[0] not in text
    # the latency histogram: cumulative buckets, +Inf equal to the count
    route = 'route="/api/datasets/{id}"'
    count = float(re.search(rf'gdi_node_http_request_seconds_count\{{{re.escape(route)}\}} (\S+)',
                            text).group(1))
    buckets = [float(v) for v in re.findall(
        rf'gdi_node_http_request_seconds_bucket\{{le="[^"]+",{re.escape(route)}\}} (\S+)', text)]
    assert count == 1 and buckets == sorted(buckets) and buckets[-1] == count
