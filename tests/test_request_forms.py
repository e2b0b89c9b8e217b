"""Every request form the Beacon v2 spec allows (issue 16 §3), over real HTTP against datasets
whose every row the test knows, each answer validated against the shared schemas: the spec's
own example bodies (`$schema`, top-level `requestedGranularity` and `pagination`), pages as
the spec counts them, dataset filters, EFO and SO copy-number terms, trimmed alleles, patch
levels of assemblies, one assembly per positional query, test mode, the network's
/configuration and /filtering_terms, and the API under an alias root."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from auth.access import AccessLevel
from beacon.alleles import PADDING
from beacon.answer import envelope, select_datasets
from beacon.assemblies import GRCH37, GRCH38, find_assembly
from beacon.datasets import Seen, dataset_filters
from beacon.disclosure import DEFAULT_TIERS, ReportedCount, precision_fields
from beacon.ingest import IngestRequest, ingest
from beacon.request import (
    Page,
    VariantQuery,
    parse_body,
    parse_get,
    query_from_get,
    query_from_post,
    to_query,
)
from beacon.request_error import MAX_ERROR_MESSAGE, RequestError
from beacon.responses import request_summary, response_meta
from beacon.store import DatasetRow
from node.app import create_app
from node.database import create_pool
from node.federation.merge import merge_terms, merge_variants
from node.federation.network import DocumentAnswer, PeerList, PeerOutcome, VariantAnswer
from node.federation.peers import Peer
from node.settings import Settings
from tests.beacon_schemas import (
    ERROR_SCHEMA,
    RESPONSE_SCHEMAS,
    answer_errors,
)
from tests.conftest import (
    OPEN_DISCLOSURE,
    ROOT,
    free_port,
    node_database,
    serve_app,
    write_vcf_text,
)
from tests.test_get_fast_path import PAIRS as GET_PAIRS
from tests.test_post_fast_path import BODIES as POST_BODIES

CONFIGURATION_SCHEMA = "framework/json/responses/beaconConfigurationResponse.json"
FILTERING_TERMS_SCHEMA = "framework/json/responses/beaconFilteringTermsResponse.json"
HEADER = """##fileformat=VCFv4.2
{contigs}##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
"""
# (contig, POS, REF, ALT, INFO); every sample 0|1, or 1|2 where there are two ALTs
GRCH38_RECORDS = [
    ("1", 100, "A", "G", "."),                       # SNP  [99, 100)
    ("1", 200, "ACGT", "A", "."),                    # DEL  [199, 203): CGT deleted at 200
    ("1", 300, "C", "CTT", "."),                     # INS  [299, 300): TT inserted at 300
    ("1", 400, "GA", "TC", "."),                     # MNP
    ("1", 500, "T", "<DEL>", "END=2000;SVTYPE=DEL"),  # SV DEL [499, 2000)
    ("1", 600, "T", "<DUP>", "END=900;SVTYPE=DUP"),   # SV DUP [599, 900)
    ("1", 800, "TC", "T,G", "."),                    # DEL of C at 800; TC>G is no deletion
    ("1", 1200, "A", "AT,GT", "."),                  # INS of T at 1200; A>GT is no insertion
    ("1", 6000, "TAC", "T,AC", "."),                 # DEL of AC at 6000; TA>A (T at 5999)
    ("1", 7000, "A", "AT,TA", "."),                  # INS of T at 7000; A>TA (T before A)
    ("17", 6000001, "T", "<DEL>", "END=8000000;SVTYPE=DEL"),   # the spec's bracket example
    ("17", 7577121, "G", "A", "."),                  # the spec's sequence example (0-based)
    *(("2", 1001 + 10 * i, "A", "G", ".") for i in range(30)),  # 30 SNPs to page through
]
GRCH37_RECORDS = [("1", 100, "A", "G", "."), ("17", 7577121, "G", "A", ".")]
THEME = "http://publications.europa.eu/resource/authority/data-theme/HEAL"
CATEGORY = "http://data.gdi.eu/core/p2/HealthCategory"
DATASETS = {  # id: (records, assembly, access level, metadata)
    "GDI-FI-SYN-001": (GRCH38_RECORDS, GRCH38, AccessLevel.PUBLIC, {
        "country": "FI", "keywords": ["cancer", "Exome"], "themes": [THEME],
        "healthCategories": [CATEGORY + "HumanGenomic"],
        "dataUseConditions": {"duoDataUse": [{"id": "DUO:0000042", "label": "general "
                                              "research use", "version": "17-07-2016"}]}}),
    "GDI-SE-SYN-002": (GRCH37_RECORDS, GRCH37, AccessLevel.PUBLIC, {
        "country": "SE", "keywords": ["population"], "themes": [THEME],
        "healthCategories": [CATEGORY + "HumanGenetic"],
        # as bioregistry writes DUO's prefix: a DUO term all the same (beacon/ontology.py)
        "dataUseConditions": {"duoDataUse": [{"id": "duo:0000006"}]}}),
    "GDI-FI-SYN-003": (GRCH38_RECORDS[:1], GRCH38, AccessLevel.CONTROLLED, {}),
}
A38, B37, CONTROLLED = DATASETS
ALIAS = "/beacon/v2.0.0"


def _vcf_text(records: list[tuple], assembly) -> str:
    contigs = "".join(f"##contig=<ID={c},length={assembly.length(c)}>\n" for c in ("1", "2", "17"))
    lines = "".join("\t".join([c, str(p), ".", r, a, ".", "PASS", i, "GT",
                               *(["1|2" if "," in a else "0|1"] * 2)]) + "\n"
                    for c, p, r, a, i in records)
    return HEADER.format(contigs=contigs) + lines


@pytest.fixture(scope="module")
async def beacon(pg_server_url: str, tmp_path_factory) -> AsyncIterator[ClientSession]:
    """One node with the datasets above, its API also under ALIAS, whose network lists the
    node itself twice (peer-a at /api, peer-b at ALIAS: two peers at one URL are refused)
    and a peer nobody answers at."""
    directory = tmp_path_factory.mktemp("request_forms")
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(node_database(pg_server_url))
        for dataset_id, (records, assembly, level, metadata) in DATASETS.items():
            path = write_vcf_text(directory / f"{dataset_id}.vcf", _vcf_text(records, assembly))
            await ingest(url, IngestRequest(path, dataset_id, assembly, level, dataset_id,
                                            metadata=metadata, workers=1))
        port = free_port()
        api = f"http://127.0.0.1:{port}/api"
        settings = Settings(
            disclosure=OPEN_DISCLOSURE, database_url=url, data_dir=directory,
            beacon_id="org.test.forms", api_alias_roots=[ALIAS], peer_timeout_seconds=2,
            peers=[Peer(id="peer-a", url=api),
                   Peer(id="peer-b", url=f"http://127.0.0.1:{port}{ALIAS}"),
                   Peer(id="gone", url=f"http://127.0.0.1:{free_port()}/api")])
        pool = await create_pool(url, settings)
        stack.push_async_callback(pool.close)
        base = await serve_app(stack, create_app(settings, pool), port)
        yield await stack.enter_async_context(ClientSession(base_url=base))


@pytest.fixture
def ask(beacon, beacon_schema):
    """GET (query string) or POST (body) a request; asserts the status and that the answer is
    valid (collections for dataset paths, else by its granularity; errors as errors)."""
    async def run(params: dict | None = None, body: Any = None, path: str = "/api/g_variants",
                  status: int = 200, headers: dict | None = None) -> dict:
        if body is None:
            response = await beacon.get(path, headers=headers, params={
                k: str(v) for k, v in (params or {}).items()})
        else:
            response = await beacon.post(path, data=json.dumps(body), headers={
                "Content-Type": "application/json", **(headers or {})})
        document = await response.json()
        assert response.status == status, document
        if status != 200:
            assert beacon_schema(ERROR_SCHEMA, document) == []
            return document
        collections = "/datasets" in path and not path.endswith(("/g_variants", "individuals"))
        assert answer_errors(beacon_schema, collections, document) == []
        return document
    return run


def _found(document: dict, dataset_id: str = A38) -> list[tuple]:
    """(start, end, ref, alt) of the records one dataset returned, in the order returned."""
    for result_set in document["response"]["resultSets"]:
        if result_set["id"] == dataset_id:
            return [(r["variation"]["location"]["interval"]["start"]["value"],
                     r["variation"]["location"]["interval"]["end"]["value"],
                     r["variation"]["referenceBases"], r["variation"]["alternateBases"])
                    for r in result_set["results"]]
    return []


def _sets(document: dict) -> dict[str, int]:
    return {s["id"]: s["resultsCount"] for s in document["response"]["resultSets"]}


def _spec_example(name: str) -> dict:
    shared = Path(os.environ.get("BEACON_SCHEMAS") or ROOT.parent / "shared" / "beacon-v2")
    path = shared / "framework/json/requests/examples-fullDocuments" / name
    return json.loads(path.read_text())


def _record(**params: Any) -> dict:
    return {"requestedGranularity": "record", "datasetIds": A38, "limit": 100, **params}


# --- the spec's own example bodies --------------------------------------------------------

_META = {"apiVersion": "2.0", "requestedSchemas": [{
    "entityType": "genomicVariation",
    "schema:": "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/models/json/"
               "beacon-v2-default-model/genomicVariations/defaultSchema.json"}]}
# docs/variant-queries.md of ga4gh-beacon/beacon-v2, as printed there: `$schema`,
# `requestedGranularity` and `pagination` beside `query`.
SEQUENCE_EXAMPLE = {
    "$schema": "beaconRequestBody.json", "meta": _META,
    "query": {"requestParameters": {"g_variant": {
        "referenceName": "NC_000017.11", "start": [7577120], "referenceBases": "G",
        "alternateBases": "A"}}},
    "requestedGranularity": "record", "pagination": {"skip": 0, "limit": 5}}
BRACKET_EXAMPLE = {
    "$schema": "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/framework/json/"
               "requests/beaconRequestBody.json", "meta": _META,
    "query": {"requestParameters": {"g_variant": {
        "referenceName": "NC_000017.11", "start": [5000000, 7676592],
        "end": [7669607, 10000000], "variantType": "DEL"}}},
    "requestedGranularity": "record", "pagination": {"skip": 0, "limit": 5}}


async def test_the_specs_minimal_example_body_is_answered(ask):
    document = await ask(body=_spec_example("beaconRequestBody-MIN-example.json"))
    assert document["meta"]["returnedGranularity"] == "boolean"


async def test_the_specs_sequence_and_bracket_examples_find_their_variants(ask):
    sequence = await ask(body=SEQUENCE_EXAMPLE)
    assert sequence["meta"]["returnedGranularity"] == "record"
    assert _sets(sequence) == {A38: 1}          # NC_000017.11 is GRCh38's: never GRCh37's
    assert _found(sequence) == [(7577120, 7577121, "G", "A")]
    summary = sequence["meta"]["receivedRequestSummary"]
    assert summary["requestParameters"]["g_variant"]["assemblyId"] == "GRCh38"   # implied
    assert summary["requestedGranularity"] == "record"
    bracket = await ask(body=BRACKET_EXAMPLE)
    assert _found(bracket) == [(6000000, 8000000, "T", "N")]


async def test_the_specs_maximal_example_body_is_understood(ask):
    example = _spec_example("beaconRequestBody-MAX-example.json")
    refused = await ask(body=example, path="/api/datasets", status=400)
    assert "filters[0].scope" in refused["error"]["errorMessage"]     # scope "biosamples"
    example["query"]["filters"] = []
    unknown = await ask(body=example, path="/api/datasets", status=400)
    assert "DatasetXYZ" in unknown["error"]["errorMessage"]           # its datasetIds were read
    example["query"]["requestParameters"]["datasets"]["datasetIds"] = [B37, A38]
    listed = await ask(body=example, path="/api/datasets")
    assert [c["id"] for c in listed["response"]["collections"]] == [B37, A38]


async def test_top_level_granularity_and_pagination_mean_what_they_mean_inside(ask):
    query = {"requestParameters": {"referenceName": "2", "start": [0], "end": [5000]},
             "datasetIds": [A38]}
    beside = await ask(body={"meta": {}, "query": query, "requestedGranularity": "record",
                             "pagination": {"skip": 1, "limit": 4}})
    assert [v[0] for v in _found(beside)] == [1040, 1050, 1060, 1070]
    inside_wins = await ask(body={"meta": {}, "requestedGranularity": "record",
                                  "pagination": {"skip": 1, "limit": 4},
                                  "query": {**query, "requestedGranularity": "count",
                                            "pagination": {"skip": 0, "limit": 2}}})
    assert inside_wins["meta"]["returnedGranularity"] == "count"
    bad = await ask(body={"meta": {}, "pagination": {"limit": -1}}, status=400)
    assert "pagination.limit" in bad["error"]["errorMessage"]
    not_text = await ask(body={"$schema": 5, "meta": {}}, status=400)
    assert "$schema" in not_text["error"]["errorMessage"]


# --- pagination ------------------------------------------------------------------------------

async def test_skip_counts_pages(ask):
    page = await ask(_record(referenceName="2", start=0, end=5000, skip=2, limit=8))
    everything = await ask(_record(referenceName="2", start=0, end=5000))
    assert _found(page) == _found(everything)[16:24]                 # records 17 to 24
    post = await ask(body={"meta": {}, "query": {
        "requestParameters": {"referenceName": "2", "start": [0], "end": [5000]},
        "datasetIds": [A38], "requestedGranularity": "record",
        "pagination": {"skip": 2, "limit": 8}}})
    assert _found(post) == _found(page)


@pytest.mark.parametrize("limit", [0, 5000])
async def test_limit_zero_or_above_the_maximum_is_the_maximum(ask, limit):
    document = await ask(_record(referenceName="2", start=0, end=5000, limit=limit))
    assert len(_found(document)) == 30                # all of them (the node's page is 1000)
    assert document["responseSummary"]["numTotalResults"] == 30


async def test_a_limit_past_64_bits_is_a_400_naming_it(ask):
    """The answer echoes the limit asked, and JSON writers stop at 64 bits: such a limit was
    a 500 (found by fuzzing). Any limit up to 2**63 - 1 is taken and capped as before."""
    widest = 2**63 - 1
    for path in ("/api/g_variants", "/api/datasets"):
        for limit in (2**63, 10**23):
            refused = await ask({"limit": str(limit)}, path=path, status=400)
            assert "pagination.limit" in refused["error"]["errorMessage"], refused
        taken = await ask({"limit": str(widest)}, path=path)
        assert taken["meta"]["receivedRequestSummary"]["pagination"]["limit"] == widest
    refused = await ask(body={"meta": {}, "query": {"pagination": {"limit": 2**64 - 1}}},
                        status=400)
    assert "pagination.limit" in refused["error"]["errorMessage"], refused
    capped = await ask(_record(referenceName="2", start=0, end=5000, limit=widest))
    assert len(_found(capped)) == 30


def test_the_get_fast_path_pages_as_the_full_parser():
    for query in ("referenceName=2&start=0&end=5000&skip=2&limit=8",
                  "referenceName=2&start=0&end=5000&limit=0",
                  "referenceName=2&start=0&end=5000&skip=3&limit=4000"):
        pairs = [tuple(p.split("=", 1)) for p in query.split("&")]
        fast = query_from_get(pairs)
        assert fast is not None and fast == to_query(parse_get(pairs))
    fast = query_from_get([("skip", "2"), ("limit", "8")])
    assert (fast.skip, fast.limit, fast.page.summary()) == (16, 8, {"skip": 2, "limit": 8})
    capped = query_from_get([("limit", "0")])
    assert (capped.skip, capped.limit, capped.page.note()["limit"]) == (0, 1000, 1000)


async def test_dataset_pages_echo_the_request_and_say_what_was_done(ask):
    second = await ask({"skip": 1, "limit": 1}, path="/api/datasets")     # listed by id
    assert [c["id"] for c in second["response"]["collections"]] == [CONTROLLED]
    assert second["meta"]["receivedRequestSummary"]["pagination"] == {"skip": 1, "limit": 1}
    assert "info" not in second
    for limit in (0, 2000):
        every = await ask({"limit": limit}, path="/api/datasets")
        assert len(every["response"]["collections"]) == 3
        assert every["meta"]["receivedRequestSummary"]["pagination"]["limit"] == limit
        assert every["info"]["pagination"]["limit"] == 1000
        assert "1000" in every["info"]["pagination"]["reason"]


# --- filters on datasets -----------------------------------------------------------------

@pytest.mark.parametrize("filters,expected", [
    ([{"id": "country", "operator": "=", "value": "FI"}], [A38]),
    ([{"id": "country", "operator": "!", "value": "fi"}], [CONTROLLED, B37]),
    ([{"id": "DUO:0000042"}], [A38]),
    ([{"id": "DUO:0000006", "scope": "dataset", "includeDescendantTerms": False}], [B37]),
    # every field of the filter written, the unspecified null: each its default (a null
    # includeDescendantTerms was a 400)
    ([{"id": "DUO:0000042", "scope": None, "includeDescendantTerms": None, "similarity": None,
       "operator": None, "value": None}], [A38]),
    ([{"id": "keywords", "operator": "=", "value": "exome"}], [A38]),
    ([{"id": "themes", "operator": "=", "value": "HEAL"}], [A38, B37]),
    ([{"id": "themes", "operator": "=", "value": THEME}], [A38, B37]),
    ([{"id": "healthCategories", "operator": "=", "value": "HealthCategoryHumanGenetic"}],
     [B37]),
    ([{"id": "accessLevel", "operator": "=", "value": "controlled"}], [CONTROLLED]),
    ([{"id": "assemblyId", "operator": "=", "value": "hg19"}], [B37]),
    ([{"id": "themes", "operator": "=", "value": "HEAL"},
      {"id": "country", "operator": "=", "value": "SE"}], [B37]),
    ([{"id": "country", "operator": "=", "value": "DE"}], []),
    # the spec's AlphanumericFilter: a value "can contain wildcard characters (%) to denote
    # any number of unknown characters"; they were compared as written, matching nothing
    ([{"id": "keywords", "operator": "=", "value": "canc%"}], [A38]),
    ([{"id": "keywords", "operator": "=", "value": "%XOM%"}], [A38]),
    ([{"id": "keywords", "operator": "!", "value": "canc%"}], [CONTROLLED, B37]),
    ([{"id": "keywords", "operator": "=", "value": "%"}], [A38, B37]),
    ([{"id": "keywords", "operator": "=", "value": "c%r"}], [A38]),
    ([{"id": "keywords", "operator": "=", "value": "c%x"}], []),
    ([{"id": "themes", "operator": "=", "value": "HE%"}], [A38, B37]),
    ([{"id": "healthCategories", "operator": "=", "value": "HealthCategoryHuman%"}],
     [A38, B37]),
])
async def test_dataset_filters_select_by_what_each_record_states(ask, filters, expected):
    document = await ask(body={"meta": {}, "query": {"filters": filters}},
                         path="/api/datasets")
    assert [c["id"] for c in document["response"]["collections"]] == expected
    assert document["responseSummary"] == {"exists": bool(expected),
                                           "numTotalResults": len(expected)}
    echoed = document["meta"]["receivedRequestSummary"]["filters"]
    assert len(echoed) == len(filters) and all(isinstance(f, str) for f in echoed)


async def test_a_data_use_term_is_found_whatever_the_metadata_writes_its_prefix_in(ask):
    """DUO is an ontology the node reads in any letter case as DUO writes it, at ingest and
    in filters (beacon/ontology.py primary); a dataset's data use terms were compared as its
    metadata file writes them, so a dataset declaring `duo:0000006` (bioregistry's
    spelling) was found by no filter on DUO:0000006 in any spelling, a false "none"."""
    for written in ("DUO:0000006", "duo:0000006", "Duo:0000006"):
        document = await ask(body={"meta": {}, "query": {"filters": [{"id": written}]}},
                             path="/api/datasets")
        assert [c["id"] for c in document["response"]["collections"]] == [B37], written


async def test_dataset_filters_by_get_and_on_one_dataset(ask):
    by_get = await ask({"filters": "DUO:0000042"}, path="/api/datasets")
    assert [c["id"] for c in by_get["response"]["collections"]] == [A38]
    assert by_get["meta"]["receivedRequestSummary"]["filters"] == ["DUO:0000042"]
    # a field's value as the spec's GET form writes it, `id:` an operator and a value
    for written, expected in (("country:=FI", [A38]), ("country:!FI", [CONTROLLED, B37]),
                              ("themes:=HEAL,country:=SE", [B37])):
        document = await ask({"filters": written}, path="/api/datasets")
        assert [c["id"] for c in document["response"]["collections"]] == expected, written
    refused = await ask({"filters": "country:>FI"}, path="/api/datasets", status=400)
    assert refused["error"]["errorMessage"].startswith("filters[0].operator:")
    country = {"id": "country", "operator": "=", "value": "SE"}
    one = await ask(body={"meta": {}, "query": {"filters": [country]}},
                    path=f"/api/datasets/{B37}")
    assert [c["id"] for c in one["response"]["collections"]] == [B37]
    other = await ask(body={"meta": {}, "query": {"filters": [country]}},
                      path=f"/api/datasets/{A38}")
    assert other["responseSummary"] == {"exists": False, "numTotalResults": 0}


@pytest.mark.parametrize("query,field", [
    ({"filters": [{"id": "NCIT:C3117"}]}, "filters[0].id"),
    ({"filters": [{"id": "country"}]}, "filters[0].operator"),
    ({"filters": [{"id": "country", "operator": ">", "value": "FI"}]}, "filters[0].operator"),
    ({"filters": [{"id": "country", "operator": "=", "value": "Finland"}]}, "filters[0].value"),
    ({"filters": [{"id": "country", "operator": "="}]}, "filters[0].value"),
    ({"filters": [{"id": "DUO:0000042"}, {"id": "sex", "operator": "=", "value": "F"}]},
     "filters[1].id"),
    ({"filters": [{"id": "DUO:0000042", "scope": "individual"}]}, "filters[0].scope"),
    ({"filters": [{"id": "DUO:0000042", "similarity": "high"}]}, "filters[0].similarity"),
    ({"filters": [{"id": "DUO:0000042", "bogus": 1}]}, "filters[0].bogus"),
    ({"filters": ["custom-term"]}, "filters[0].id"),
    ({"requestParameters": {"referenceName": "1"}}, "requestParameters.referenceName"),
    ({"datasetIds": ["GDI-XX-NONE-1"]}, "datasetIds"),
])
async def test_a_dataset_filter_the_node_cannot_evaluate_is_refused_by_name(ask, query, field):
    document = await ask(body={"meta": {}, "query": query}, path="/api/datasets", status=400)
    assert field in document["error"]["errorMessage"]


async def test_a_dataset_field_without_an_operator_is_refused_saying_one_is_required(ask):
    """It said `None is not = or !`, Python's word for the operator the client left out
    (found by a review, 2026-12-05)."""
    for item in ({"id": "country", "value": "FI"},
                 {"id": "country", "operator": None, "value": "FI"}):
        document = await ask(body={"meta": {}, "query": {"filters": [item]}},
                             path="/api/datasets", status=400)
        assert document["error"]["errorMessage"] == (
            "filters[0].operator: required with a value: = or ! (a dataset states a value or "
            "not)")


# --- variantType: the spec's copy-number terms ----------------------------------------------

DELETIONS = [(199, 203, "ACGT", "A"), (499, 2000, "T", "N"), (799, 801, "TC", "T")]
DUPLICATIONS = [(599, 900, "T", "N")]


@pytest.mark.parametrize("term,expected", [
    ("EFO:0030067", DELETIONS), ("EFO:0030068", DELETIONS), ("EFO:0020073", DELETIONS),
    ("EFO:0030069", DELETIONS), ("SO:0001743", DELETIONS), ("DEL", DELETIONS),
    ("EFO:0030070", DUPLICATIONS), ("EFO:0030071", DUPLICATIONS), ("EFO:0030072", DUPLICATIONS),
    ("EFO:0030073", DUPLICATIONS), ("SO:0001742", DUPLICATIONS), ("efo:0030070", DUPLICATIONS),
    ("SO:0001019", sorted(DELETIONS + DUPLICATIONS)),
    ("EFO:0030066", sorted(DELETIONS + DUPLICATIONS)),
])
async def test_copy_number_terms_select_the_variant_types_they_stand_for(ask, term, expected):
    document = await ask(_record(referenceName="1", start=0, end=5000, variantType=term))
    assert _found(document) == expected


async def test_a_term_that_names_no_variant_type_is_refused(ask):
    document = await ask({"referenceName": "1", "start": 0, "end": 10,
                          "variantType": "EFO:0030065"}, status=400)
    assert "variantType" in document["error"]["errorMessage"]


# --- trimmed alleles ---------------------------------------------------------------------------

@pytest.mark.parametrize("trimmed,padded,expected", [
    ({"start": 200, "referenceBases": "CGT", "alternateBases": ""},
     {"start": 199, "referenceBases": "ACGT", "alternateBases": "A"}, [(199, 203, "ACGT", "A")]),
    ({"start": 200, "referenceBases": "CNT", "alternateBases": ""},
     {"start": 199, "referenceBases": "ACGT", "alternateBases": "A"}, [(199, 203, "ACGT", "A")]),
    ({"start": 300, "referenceBases": "", "alternateBases": "TT"},
     {"start": 299, "referenceBases": "C", "alternateBases": "CTT"}, [(299, 300, "C", "CTT")]),
    ({"start": 800, "referenceBases": "C", "alternateBases": ""},            # not TC>G
     {"start": 799, "referenceBases": "TC", "alternateBases": "T"}, [(799, 801, "TC", "T")]),
    ({"start": 1200, "referenceBases": "", "alternateBases": "T"},           # not A>GT
     {"start": 1199, "referenceBases": "A", "alternateBases": "AT"}, [(1199, 1200, "A", "AT")]),
    ({"start": 800, "alternateBases": ""},                                  # any deletion there
     {"start": 799, "referenceBases": "TC", "alternateBases": "T"}, [(799, 801, "TC", "T")]),
    ({"start": "200,201", "end": "203,204", "referenceBases": "CGT", "alternateBases": ""},
     {"start": "199,200", "end": "203,204", "referenceBases": "ACGT", "alternateBases": "A"},
     [(199, 203, "ACGT", "A")]),
])
async def test_trimmed_alleles_find_what_the_padded_ones_find(ask, trimmed, padded, expected):
    for params in (trimmed, padded):
        assert _found(await ask(_record(referenceName="1", **params))) == expected
    post = await ask(body={"meta": {}, "query": {
        "requestParameters": {"referenceName": "1", **{
            k: [int(x) for x in str(v).split(",")] if k in ("start", "end") else v
            for k, v in trimmed.items()}},
        "datasetIds": [A38], "requestedGranularity": "record"}})
    assert _found(post) == expected


@pytest.mark.parametrize("trimmed,expected", [
    ({"start": 6000, "referenceBases": "A", "alternateBases": ""}, []),
    ({"start": 6000, "alternateBases": ""}, [(5999, 6002, "TAC", "T")]),
    ({"start": 6000, "referenceBases": "AC", "alternateBases": ""}, [(5999, 6002, "TAC", "T")]),
    ({"start": 7000, "referenceBases": "", "alternateBases": "A"}, []),
    ({"start": 7000, "referenceBases": "", "alternateBases": "T"}, [(6999, 7000, "A", "AT")]),
])
async def test_a_trimmed_allele_is_none_whose_shared_base_is_on_the_right(ask, trimmed,
                                                                          expected):
    """An ALT of a multi-allelic record that drops REF's first base trims to an allele whose
    shared base is on the right: `TAC T,AC` at 6000 holds `TA>A`, T at 5999 deleted, and
    `A AT,TA` at 7000 `A>TA`, T put before the A. The trimmed forms, whose padding base is
    the same on both sides, found them as what they are not: the deletion of the A at 6000,
    a deletion starting at 6000, the insertion of an A after the A at 6999."""
    assert _found(await ask(_record(referenceName="1", **trimmed))) == expected


@pytest.mark.parametrize("hgvs,expected", [
    ("1:g.6001del", []), ("1:g.6001_6002del", [(5999, 6002, "TAC", "T")]),
    ("1:g.7000_7001insA", []), ("1:g.7000_7001insT", [(6999, 7000, "A", "AT")]),
])
async def test_a_genomic_hgvs_indel_is_none_whose_shared_base_is_on_the_right(ask, hgvs,
                                                                              expected):
    """A genomic HGVS deletion or insertion is the trimmed allele it names, its padding base
    the same on both sides: `g.6001del` found `TA>A` (the T at 6000 deleted), and
    `g.7000_7001insA` found `A>TA` (a T before the A), as the trimmed forms did."""
    assert _found(await ask(_record(genomicAlleleShortForm=hgvs))) == expected


async def test_an_empty_alternate_base_in_a_range_asks_for_deletions(ask):
    document = await ask(_record(referenceName="1", start=0, end=5000, alternateBases=""))
    assert _found(document) == [(199, 203, "ACGT", "A"), (799, 801, "TC", "T")]
    # wherever their shared base is: a range asks for no deletion's start
    document = await ask(_record(referenceName="1", start=5000, end=8000, alternateBases=""))
    assert _found(document) == [(5999, 6001, "TA", "A"), (5999, 6002, "TAC", "T")]


def test_trimmed_forms_take_the_fast_path_as_the_full_parser():
    pairs = [("referenceName", "1"), ("start", "200"), ("referenceBases", "CGT"),
             ("alternateBases", "")]
    fast = query_from_get(pairs)
    assert fast == to_query(parse_get(pairs))
    assert (fast.start, fast.reference_bases, fast.alternate_bases, fast.variant_types) == (
        (199,), "NCGT", PADDING, frozenset({"DEL"}))
    assert fast.echo["g_variant"]["alternateBases"] == ""           # echoed as received


@pytest.mark.parametrize("params,field", [
    ({"start": 200, "referenceBases": "", "alternateBases": ""}, "alternateBases"),
    ({"start": 200, "end": 300, "referenceBases": ""}, "alternateBases"),
    ({"start": 0, "referenceBases": "A", "alternateBases": ""}, "start"),
    ({"start": 200, "referenceBases": "CGT", "alternateBases": "", "variantType": "SNP"},
     "variantType"),
    ({"start": 300, "referenceBases": "", "alternateBases": "<INS>"}, "alternateBases"),
    ({"start": 200, "referenceBases": "XYZ", "alternateBases": ""}, "referenceBases"),
])
async def test_trimmed_forms_that_say_nothing_sensible_are_refused(ask, params, field):
    document = await ask({"referenceName": "1", **params}, status=400)
    assert field in document["error"]["errorMessage"]


# --- assemblies ------------------------------------------------------------------------------

def test_every_patch_level_names_its_assembly():
    for patch in range(1, 15):
        assert find_assembly(f"GRCh38.p{patch}") is GRCH38
        assert find_assembly(f"GCA_000001405.{15 + patch}") is GRCH38
        assert find_assembly(f"GCF_000001405.{26 + patch}") is GRCH38
    for patch in range(1, 14):
        assert find_assembly(f"grch37.P{patch}") is GRCH37
        assert find_assembly(f"GCA_000001405.{1 + patch}") is GRCH37
    for version in range(13, 26):
        assert find_assembly(f"GCF_000001405.{version}") is GRCH37
    for name, assembly in (("hg38", GRCH38), ("HG19", GRCH37), ("GRCh38", GRCH38),
                           ("GCA_000001405.15", GRCH38), ("GCA_000001405.1", GRCH37)):
        assert find_assembly(name) is assembly
    for unknown in ("GRCh38.p15", "GRCh37.p14", "GRCh38.p0", "GCF_000001405.41",
                    "GCF_000001405.12", "GCA_000001405.30", "GRCh36", "hg18", "GRCh38p13"):
        assert find_assembly(unknown) is None, unknown


@pytest.mark.parametrize("name", ["GRCh38.p13", "GCF_000001405.39", "hg38", "GRCh38.p14"])
async def test_the_specs_assembly_names_are_accepted(ask, name):
    document = await ask({"assemblyId": name, "referenceName": "17", "start": 7577120,
                          "alternateBases": "A", "requestedGranularity": "count"})
    assert _sets(document) == {A38: 1}


async def test_grch37_patches_are_accepted(ask):
    for name in ("GRCh37.p13", "GCF_000001405.25"):
        document = await ask({"assemblyId": name, "referenceName": "17", "start": 7577120,
                              "alternateBases": "A", "requestedGranularity": "count"})
        assert _sets(document) == {B37: 1}


async def test_a_position_without_an_assembly_is_answered_on_one_assembly(ask):
    query = {"start": 7577120, "alternateBases": "A", "requestedGranularity": "count",
             "includeResultsetResponses": "ALL"}
    shared_name = await ask({**query, "referenceName": "17"})     # the node's default: GRCh38
    assert set(_sets(shared_name)) == {A38, CONTROLLED}
    assert shared_name["responseSummary"]["numTotalResults"] == 1     # never 1 + GRCh37's 1
    grch37_name = await ask({**query, "referenceName": "NC_000017.10"})
    assert _sets(grch37_name) == {B37: 1}
    assert (grch37_name["meta"]["receivedRequestSummary"]["requestParameters"]["g_variant"]
            ["assemblyId"]) == "GRCh37"
    assert shared_name["info"]["onOtherAssemblies"] == {"GRCh37": [B37]}
    assert grch37_name["info"]["onOtherAssemblies"] == {"GRCh38": sorted([A38, CONTROLLED])}
    named = await ask({**query, "referenceName": "17", "datasetIds": B37})
    assert _sets(named) == {B37: 1}                   # the named dataset's assembly
    assert "onOtherAssemblies" not in named.get("info", {})
    # a dataset named on another assembly than the stated one: it was left out, and the
    # answer said it did not hold the variant
    for stated in ({"assemblyId": "GRCh38", "referenceName": "17"},
                   {"referenceName": "NC_000017.11"}):
        elsewhere = await ask({**query, **stated, "datasetIds": B37}, status=400)
        assert elsewhere["error"]["errorMessage"].startswith("datasetIds: ")
        assert f"{B37} is on GRCh37" in elsewhere["error"]["errorMessage"]
    one_elsewhere = await ask({**query, "assemblyId": "GRCh37", "referenceName": "17",
                               "datasetIds": f"{A38},{B37}"}, status=400)
    assert f"{A38} is on GRCh38" in one_elsewhere["error"]["errorMessage"]
    both = await ask({**query, "referenceName": "17", "datasetIds": f"{A38},{B37}"},
                     status=400)
    assert "assemblyId" in both["error"]["errorMessage"]
    no_position = await ask({"requestedGranularity": "count", "variantType": "SNP",
                             "includeResultsetResponses": "ALL"})
    assert set(_sets(no_position)) == {A38, B37, CONTROLLED}          # nothing to misplace
    assert "onOtherAssemblies" not in no_position.get("info", {})


def _seen(dataset_id: str, assembly: str) -> Seen:
    row = DatasetRow(id=dataset_id, assembly=assembly, access_level="PUBLIC", title=dataset_id,
                     description="", variant_count=0, record_count=0, sample_count=0,
                     max_variant_length=1, source={}, metadata={}, genotyped=False, version=1,
                     created_at=None, updated_at=None)  # type: ignore[arg-type]
    return Seen(row, "record", "anonymous", DEFAULT_TIERS["anonymous"])


def test_a_wildcard_dataset_filter_is_matched_in_linear_time():
    """A `%` value's parts are found one after another: a regular expression's `.*` for each
    `%` backtracked, seconds of the event loop for `%p%p...%x` against a long keyword."""
    row = dataclasses.replace(_seen(A38, "GRCh38").row, metadata={"keywords": ["p" * 200]})
    began = time.perf_counter()
    [many] = dataset_filters([{"id": "keywords", "operator": "=", "value": "%p" * 40 + "%x"}])
    assert not many.matches(row)
    assert time.perf_counter() - began < 0.5
    for value, found in (("p%p", True), ("%p" * 200 + "%", True), ("%p" * 201 + "%", False),
                         ("pp%pp", True), ("p" * 199 + "%pp", False), ("p%q%", False),
                         ("%", True), ("ppp", False)):
        [one] = dataset_filters([{"id": "keywords", "operator": "=", "value": value}])
        assert one.matches(row) is found, value


def test_the_default_assembly_is_the_nodes_setting():
    visible = {A38: _seen(A38, "GRCh38"), B37: _seen(B37, "GRCh37")}
    query = to_query(parse_body({"query": {"requestParameters": {
        "referenceName": "17", "start": [7577120], "alternateBases": "A"}}}))
    assert [s.row.id for s in select_datasets(query, visible)] == [A38]
    assert [s.row.id for s in select_datasets(query, visible, "GRCh37")] == [B37]
    assert Settings(default_assembly="hg19").default_assembly == "GRCh37"
    with pytest.raises(ValueError, match="default_assembly"):
        Settings(default_assembly="mm10")


def test_a_request_parameters_schema_and_entry_wrapper_are_read():
    body = parse_body({"meta": {}, "query": {"requestParameters": {
        "$schema": "x", "g_variant": {"referenceName": "1", "start": [99],
                                      "alternateBases": "G"},
        "datasets": {"datasetIds": [A38]}}}})
    query = to_query(body)
    assert (query.start, query.dataset_ids) == ((99,), (A38,))
    with pytest.raises(RequestError, match="requestParameters"):
        parse_body({"query": {"requestParameters": {"g_variant": [1]}}})


@pytest.mark.parametrize(("parameters", "named"), [
    ({"g_variant": {"referenceName": "1"}, "x": 1}, "query.requestParameters.x: unknown"),
    ({"x": 1, "datasets": {"datasetIds": [A38]}}, "query.requestParameters.x: unknown"),
    ({"g_variant": {"referenceName": "1", "y": 1}}, "query.requestParameters.y: unknown"),
    ({"g_variant": {"referenceName": "1"}, "referenceName": "2"},
     "referenceName given both in g_variant and beside it")])
async def test_a_parameter_beside_the_entry_wrapper_is_refused_by_its_own_name(ask, parameters,
                                                                               named):
    """It was refused as the wrapper's: `query.requestParameters.g_variant: unknown
    parameter`, naming the one parameter the node does know."""
    refused = await ask(body={"query": {"requestParameters": parameters}}, status=400)
    assert named in refused["error"]["errorMessage"]
    assert "g_variant: unknown" not in refused["error"]["errorMessage"]


async def test_a_flat_parameter_beside_the_entry_wrapper_is_read(ask):
    wrapped = await ask(body={"query": {"requestParameters": {
        "g_variant": {"referenceName": "1", "start": [99], "alternateBases": "G"},
        "datasets": {"datasetIds": [A38]}}, "requestedGranularity": "count"}})
    beside = await ask(body={"query": {"requestParameters": {
        "referenceName": "1", "start": [99], "alternateBases": "G",
        "datasets": {"datasetIds": [A38]}}, "requestedGranularity": "count"}})
    assert _sets(beside) == _sets(wrapped) == {A38: 1}


NULLS = {"geneId": None, "referenceName": None, "start": None, "variantType": None,
         "aminoacidChange": None, "datasetIds": None}


@pytest.mark.parametrize("path", ["/api/g_variants/GRCh38:1:99:A:G",
                                  "/api/g_variants/GRCh38:1:99:A:G/individuals",
                                  "/api/datasets", f"/api/datasets/{A38}",
                                  "/api/filtering_terms"])
async def test_a_parameter_given_as_null_is_not_given(beacon, beacon_schema, path):
    """The OpenAPI document declares every request parameter nullable, and a null one is
    absent: on a route whose path or kind takes no variant parameters it was refused as
    given ("the path already names the variant")."""
    for parameters, status in ((NULLS, 200), ({"g_variant": NULLS}, 200),
                               ({**NULLS, "variantType": "SNP"}, 400)):
        async with beacon.post(path, json={"query": {"requestParameters": parameters}}
                               ) as response:
            document = await response.json()
        assert response.status == status, document
        if status == 400:
            assert beacon_schema(ERROR_SCHEMA, document) == []
            assert "variantType" in document["error"]["errorMessage"], document


async def test_a_variant_by_id_with_null_parameters_is_the_variant(ask):
    found = await ask(body={"query": {"requestParameters": NULLS}},
                      path="/api/g_variants/GRCh38:1:99:A:G")
    assert _found(found) == [(99, 100, "A", "G")]

@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets",
                                  f"/api/datasets/{A38}/g_variants",
                                  "/api/g_variants/GRCh38:1:99:A:G"])
async def test_a_null_include_resultset_responses_is_hit(ask, path):
    """The framework's IncludeResultsetResponses: "If null (not specified), the default
    value of 'HIT' is assumed". A null one was a 400 naming it."""
    query = {"requestedGranularity": "count", "includeResultsetResponses": None}
    if path == "/api/g_variants":
        query["requestParameters"] = {"referenceName": "1", "start": [0], "end": [1000]}
    document = await ask(body={"meta": {}, "query": query}, path=path)
    assert document["meta"]["receivedRequestSummary"]["includeResultsetResponses"] == "HIT"
    unstated = await ask(body={"meta": {}, "query": {
        k: v for k, v in query.items() if k != "includeResultsetResponses"}}, path=path)
    assert document == unstated


# --- test mode -------------------------------------------------------------------------------

BAD_TOKEN = {"Authorization": "Bearer not.a.token"}


async def test_test_mode_answers_without_authentication_and_without_data(ask):
    query = {"referenceName": "1", "start": 99, "alternateBases": "G",
             "requestedGranularity": "record"}
    refused = await ask(query, headers=BAD_TOKEN, status=401)          # security fails closed
    assert refused["error"]["errorCode"] == 401
    for document in (await ask({**query, "testMode": "true"}, headers=BAD_TOKEN),
                     await ask(body={"meta": {}, "query": {
                         "requestParameters": {"referenceName": "1", "start": [99],
                                               "alternateBases": "G"},
                         "requestedGranularity": "record", "testMode": True}},
                         headers=BAD_TOKEN)):
        assert document["meta"]["receivedRequestSummary"]["testMode"] is True
        assert document["meta"]["testMode"] is True
        assert document["responseSummary"] == {"exists": False, "numTotalResults": 0,
                                               "countPrecision": "exact"}
        assert document["response"]["resultSets"] == []                # none of the data
        assert "test mode" in document["info"]["testMode"]
    false_mode = await ask(body={"meta": {}, "query": {"testMode": False}},
                           headers=BAD_TOKEN, status=401)
    assert false_mode["error"]["errorCode"] == 401
    bad_request = await ask({"testMode": "true", "start": "x"}, headers=BAD_TOKEN, status=400)
    assert "start" in bad_request["error"]["errorMessage"]             # still understood


@pytest.mark.parametrize("value", ["true", "false", 1, 0, None, {}])
@pytest.mark.parametrize("path", ["/api/g_variants", "/api/datasets", "/api/filtering_terms",
                                  "/network/api/g_variants"])
async def test_a_body_test_mode_that_is_no_boolean_is_refused_by_name(ask, path, value):
    """The middleware takes test mode only from a JSON `true` (beacon/request.py
    asks_test_mode), and the parser read `"true"` or 1 as true too: without a token such a
    body had a test-mode answer, with a bad one a 401. Now the parser is as strict as the
    middleware: what neither takes is a 400 naming the field, and with a token that does
    not verify, not test mode, so a 401."""
    refused = await ask(body={"query": {"testMode": value}}, path=path, status=400)
    assert refused["error"]["errorMessage"].startswith("query.testMode:")
    await ask(body={"query": {"testMode": value}}, path=path, headers=BAD_TOKEN, status=401)


@pytest.mark.parametrize("path", ["/api/individuals", f"/api/datasets/{A38}/g_variants",
                                  "/api/g_variants/GRCh38:1:99:A:G", "/api/datasets",
                                  f"/api/datasets/{A38}/individuals",
                                  "/api/g_variants/GRCh38:1:99:A:G/individuals",
                                  "/api/individuals/S1"])
async def test_every_entry_endpoint_answers_test_mode_empty(ask, path):
    """Each says so where the spec's beaconResponseMeta does, `meta.testMode` (before, only
    `info.testMode` and the request summary did), and an answer not in test mode does not."""
    document = await ask(body={"meta": {}, "query": {"testMode": True}}, path=path,
                         headers=BAD_TOKEN)
    assert document["meta"]["receivedRequestSummary"]["testMode"] is True
    assert document["meta"]["testMode"] is True
    assert document["responseSummary"]["exists"] is False
    assert not document.get("response", {}).get("collections")
    assert not document.get("response", {}).get("resultSets")
    assert "testMode" in document["info"]
    by_get = await ask({"testMode": "true"}, path=path, headers=BAD_TOKEN)
    assert by_get["meta"]["testMode"] is True
    answered = await ask(body={"meta": {}, "query": {}}, path=path)
    assert "testMode" not in answered["meta"]
    assert answered["meta"]["receivedRequestSummary"]["testMode"] is False


async def test_test_mode_filtering_terms_say_so_in_meta(beacon, beacon_schema):
    for path in ("/api/filtering_terms", "/network/api/filtering_terms"):
        document = await (await beacon.get(path, params={"testMode": "true"})).json()
        assert beacon_schema(FILTERING_TERMS_SCHEMA, document) == []
        assert document["meta"]["testMode"] is True and "testMode" in document["info"]
        document = await (await beacon.get(path)).json()
        assert "testMode" not in document["meta"]


# --- HEAD: a GET without its body --------------------------------------------------------------

# Headers that differ between any two answers, whatever was asked
_PER_ANSWER = {"Date", "X-Request-ID"}


def _answer_headers(response) -> dict[str, str]:
    """What the same answer says in its headers each time: a network's body holds its
    peers' timings, so its length varies."""
    varying = _PER_ANSWER | ({"Content-Length"} if response.url.path.startswith("/network")
                             else set())
    return {k: v for k, v in response.headers.items() if k not in varying}


@pytest.mark.parametrize("path", ["/api/g_variants", f"/api/datasets/{A38}/g_variants",
                                  "/api/individuals", "/api/datasets", "/api/filtering_terms",
                                  "/network/api/g_variants", "/network/api/datasets",
                                  f"{ALIAS}/g_variants"])
@pytest.mark.parametrize("query", [
    "referenceName=1&start=99&alternateBases=G&requestedGranularity=count",
    "referenceName=1&start=abc&alternateBases=G",               # a 400 naming start (variants)
    "requestedGranularity=sometimes",                           # a 400 everywhere
    "testMode=true"])
async def test_a_head_is_answered_as_its_get(beacon, path, query):
    """RFC 9110: the same status and headers as the GET, no body. aiohttp routes a HEAD to
    the GET's handler, which read it as a POST: its empty body was the empty query,
    answered 200 (and charged and audited as that) where the GET was a 400; the network
    passed the HEAD on to its peers, whose answers then had no body to merge."""
    got = await beacon.get(f"{path}?{query}")
    await got.read()
    head = await beacon.head(f"{path}?{query}")
    assert head.status == got.status, (await got.text())[:300]
    assert _answer_headers(head) == _answer_headers(got)
    assert await head.read() == b""


async def test_a_head_in_test_mode_is_answered_whatever_its_token(beacon):
    """As the GET is: a token that does not verify is not checked in test mode, and is a
    401 otherwise (node/http/middleware.py read a HEAD's test mode from its empty body)."""
    for query, status in (("testMode=true", 200), ("testMode=false", 401)):
        got = await beacon.get(f"/api/g_variants?{query}", headers=BAD_TOKEN)
        head = await beacon.head(f"/api/g_variants?{query}", headers=BAD_TOKEN)
        assert (head.status, got.status) == (status, status)
        assert _answer_headers(head) == _answer_headers(got)


# --- the request summary: what was asked, as received ------------------------------------------

VARIANT = "GRCh38:1:99:A:G"
ENTRY_PATHS = ["/api/g_variants", f"/api/g_variants/{VARIANT}",
               f"/api/g_variants/{VARIANT}/individuals", "/api/individuals",
               "/api/individuals/S1", "/api/datasets", f"/api/datasets/{A38}",
               f"/api/datasets/{A38}/g_variants", f"/api/datasets/{A38}/individuals",
               "/network/api/g_variants", "/network/api/datasets", "/network/api/individuals"]


@pytest.mark.parametrize("path", ENTRY_PATHS)
@pytest.mark.parametrize("schema", ["ga4gh-beacon-variant-v2.0.0",
                                    "https://example.org/schemas/none-served-here.json"])
async def test_a_get_requested_schema_is_taken_as_a_bodys(ask, path, schema):
    """The spec's GET `requestedSchema` (its OpenAPI parameter of every entry endpoint) is a
    body's meta.requestedSchemas: repeated in the request summary, the answer in the node's
    one schema of the entry type either way, whether it serves the one asked or not (as a
    body's was always answered). Before, a GET naming it was a 400, unknown parameter."""
    asked = await ask({"requestedSchema": schema, "requestedGranularity": "count"}, path=path)
    assert asked["meta"]["receivedRequestSummary"]["requestedSchemas"] == [{"schema": schema}]
    plain = await ask({"requestedGranularity": "count"}, path=path)
    assert plain["meta"]["receivedRequestSummary"]["requestedSchemas"] == []
    assert asked["meta"]["returnedSchemas"] == plain["meta"]["returnedSchemas"] != []
    body = await ask(body={"meta": {"requestedSchemas": [{"schema": schema}]},
                           "query": {"requestedGranularity": "count"}}, path=path)
    assert body["meta"]["receivedRequestSummary"]["requestedSchemas"] == [{"schema": schema}]


async def test_an_empty_or_repeated_requested_schema_is_refused_by_name(beacon, beacon_schema):
    for query in ("requestedSchema=", "requestedSchema=a&requestedSchema=b"):
        response = await beacon.get(f"/api/g_variants?{query}")
        document = await response.json()
        assert response.status == 400 and beacon_schema(ERROR_SCHEMA, document) == []
        assert document["error"]["errorMessage"].startswith("requestedSchema:")


@pytest.mark.parametrize(("alias", "name", "value"), [
    ("allele", "genomicAlleleShortForm", "NC_000001.11:g.100A>G"),
    ("geneid", "geneId", "TP53")])
async def test_the_specs_openapi_get_names_of_gene_and_allele(ask, beacon, alias, name, value):
    """The spec's OpenAPI names the GET parameters of geneId and genomicAlleleShortForm
    `geneid` and `allele`: each answers as the body's name does (before, a 400)."""
    by_alias = await ask({alias: value, "requestedGranularity": "count"})
    by_name = await ask({name: value, "requestedGranularity": "count"})
    for key in ("responseSummary", "response"):
        assert by_alias[key] == by_name[key]
    assert (by_alias["meta"]["receivedRequestSummary"]
            == by_name["meta"]["receivedRequestSummary"])
    assert name in by_alias["meta"]["receivedRequestSummary"]["requestParameters"]["g_variant"]
    if alias == "allele":
        assert _sets(by_alias)[A38] == 1
    response = await beacon.get("/api/g_variants", params=[(alias, value), (name, value)])
    assert response.status == 400
    assert (await response.json())["error"]["errorMessage"].startswith(f"{name}:")


_META_ASKED = {"apiVersion": "v2.0", "requestedSchemas": [
    {"entityType": "genomicVariation", "schema": "ga4gh-beacon-variant-v2.1.0"},
    "ejprd-resources-v1.0.0"]}
_META_ECHOED = [{"entityType": "genomicVariation", "schema": "ga4gh-beacon-variant-v2.1.0"},
                {"schema": "ejprd-resources-v1.0.0"}]


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals",
                                  f"/api/datasets/{A38}/g_variants",
                                  f"/api/g_variants/{VARIANT}", "/network/api/g_variants"])
@pytest.mark.parametrize("plain", [True, False])
async def test_the_summary_repeats_the_api_version_and_schemas_asked(ask, path, plain):
    """meta.receivedRequestSummary is what was requested (the spec); it said the node's own
    API version and schemas. A schema named by its id alone (as EJP-RD's clients send
    it) is the object's `schema`. The node answers in its own version and schema."""
    query = {"requestedGranularity": "count"}
    if "g_variants/" not in path:
        query["requestParameters"] = {"referenceName": "1", "start": [0], "end": [1000]}
    # a plain body takes the fast path (beacon/request.py query_from_post), `$schema` not
    body = {"meta": _META_ASKED, "query": query} if plain else {
        "$schema": "beaconRequestBody.json", "meta": _META_ASKED, "query": query}
    document = await ask(body=body, path=path)
    summary = document["meta"]["receivedRequestSummary"]
    assert (summary["apiVersion"], summary["requestedSchemas"]) == ("v2.0", _META_ECHOED)
    assert document["meta"]["apiVersion"] == "v2.0.1"
    assert [s["entityType"] for s in document["meta"]["returnedSchemas"]] in (
        ["genomicVariant"], ["individual"])
    unstated = await ask(body={"query": query}, path=path)
    assert unstated["meta"]["receivedRequestSummary"]["apiVersion"] == "v2.0.1"


@pytest.mark.parametrize("path", ["/api/datasets", f"/api/datasets/{A38}",
                                  "/network/api/datasets"])
async def test_the_dataset_summary_repeats_what_was_asked(ask, path):
    """Datasets are listed as records whatever is asked, and the summary said the node's
    `record`, without the resultSets asked for; now what was asked (record when nothing
    is, as the listing reads it), with the API version and schemas of the body."""
    asked = await ask({"requestedGranularity": "boolean", "includeResultsetResponses": "NONE",
                       "skip": 0, "limit": 5}, path=path)
    summary = asked["meta"]["receivedRequestSummary"]
    assert {k: summary[k] for k in ("requestedGranularity", "includeResultsetResponses",
                                    "pagination", "testMode")} == {
        "requestedGranularity": "boolean", "includeResultsetResponses": "NONE",
        "pagination": {"skip": 0, "limit": 5}, "testMode": False}
    assert asked["meta"]["returnedGranularity"] == "record"
    assert asked["response"]["collections"]
    unasked = (await ask(path=path))["meta"]["receivedRequestSummary"]
    assert (unasked["requestedGranularity"], unasked["includeResultsetResponses"]) == (
        "record", "HIT")
    beside = await ask(body={"meta": _META_ASKED, "requestedGranularity": "count"}, path=path)
    summary = beside["meta"]["receivedRequestSummary"]
    assert (summary["requestedGranularity"], summary["apiVersion"],
            summary["requestedSchemas"]) == ("count", "v2.0", _META_ECHOED)


@pytest.mark.parametrize(("path", "asked"), [
    ("/api/datasets", {"params": {"datasetIds": f"{A38},{CONTROLLED}"}}),
    ("/network/api/datasets", {"params": {"datasetIds": f"{A38},{CONTROLLED}"}}),
    ("/api/datasets", {"body": {"query": {"datasetIds": [A38, CONTROLLED]}}}),
    ("/api/datasets", {"body": {"query": {"requestParameters": {"datasetIds": [A38, CONTROLLED]}}}}),
    ("/api/datasets", {"body": {"query": {"requestParameters": {
        "datasets": {"datasetIds": [A38, CONTROLLED]}}}}}),
    ("/api/g_variants", {"body": {"query": {
        "datasetIds": [A38, CONTROLLED], "requestedGranularity": "count",
        "requestParameters": {"referenceName": "1", "start": [0], "end": [1000]}}}}),
    ("/api/individuals", {"body": {"query": {"datasetIds": [A38, CONTROLLED],
                                             "requestedGranularity": "count"}}}),
])
async def test_the_summary_repeats_the_datasets_asked(ask, path, asked):
    """The datasets a request selects are part of the request as received and interpreted
    (meta.receivedRequestSummary): a dataset listing's summary left them out however they
    were asked, and an entry query's those asked beside its requestParameters, which it
    answered."""
    document = await ask(path=path, **asked)
    parameters = document["meta"]["receivedRequestSummary"]["requestParameters"]
    wrapper = "datasets" if "/datasets" in path else "g_variant"
    assert parameters[wrapper]["datasetIds"] == [A38, CONTROLLED], parameters
    answered = document["response"].get("collections", document["response"].get("resultSets"))
    assert {s["id"] for s in answered} == {A38, CONTROLLED}


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets",
                                  f"/api/datasets/{A38}/individuals",
                                  "/api/g_variants/GRCh38:1:99:A:G", "/network/api/individuals",
                                  f"{ALIAS}/individuals"])
@pytest.mark.parametrize("body", [{}, {"meta": {}, "query": {"requestedGranularity": "count"}}])
async def test_a_post_with_a_query_string_is_refused_naming_it(ask, path, body):
    """A POST's request is its body, and its query string was ignored: `POST
    /api/individuals?filters=NCIT:C16576` answered every individual, and `?datasetIds=`
    every dataset. Now a 400 naming the query string's first parameter."""
    for query, name in (("filters=NCIT:C16576&skip=1", "filters"), ("datasetIds=X", "datasetIds"),
                        ("&", "query string")):
        refused = await ask(body=body, path=f"{path}?{query}", status=400)
        assert refused["error"]["errorMessage"].startswith(f"{name}:"), refused
    await ask(body=body, path=path)


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets",
                                  f"/api/datasets/{A38}/g_variants", "/api/filtering_terms",
                                  "/api/g_variants/GRCh38:1:99:A:G", "/network/api/g_variants",
                                  f"{ALIAS}/individuals"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_get_with_a_body_is_refused_naming_it(beacon, beacon_schema, path, method):
    """A GET's request is its query string, and a body sent with it was ignored: `GET
    /api/g_variants` with the JSON body of a query for an allele nobody holds answered the
    empty query, `exists: true` (requests.get(url, json=...) sends that). Now a 400 naming
    `body`, as a POST's query string is refused naming it. A GET with an empty body, or a
    Content-Length of 0, is answered."""
    body = json.dumps({"query": {"requestParameters": {
        "referenceName": "1", "start": [99], "alternateBases": "C"}}})
    async with beacon.request(method, f"{path}?requestedGranularity=count", data=body,
                              headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400, await response.text()
        if method == "GET":
            document = await response.json()
            assert beacon_schema(ERROR_SCHEMA, document) == []
            assert document["error"]["errorMessage"].startswith("body: a GET's request is"), (
                document)
    async with beacon.request(method, f"{path}?requestedGranularity=count", data=b"",
                              headers={"Content-Length": "0"}) as response:
        assert response.status == 200, await response.text()


async def test_a_filtering_terms_post_with_a_query_string_is_refused_naming_it(beacon):
    async with beacon.post("/api/filtering_terms?skip=1", json={}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["errorMessage"].startswith("skip:")
    async with beacon.post("/api/filtering_terms", json={}) as response:
        assert response.status == 200


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets",
                                  "/api/g_variants/GRCh38:1:99:A:G", "/network/api/datasets"])
async def test_datasets_asked_twice_differently_are_refused_by_name(ask, path):
    """`datasetIds` beside the query's requestParameters and within them, naming other
    datasets: the query's were answered and the others dropped without a word, as a
    parameter given both in its entry wrapper and beside it is not (a 400 naming it)."""
    def body(inside: list[str]) -> dict:
        return {"meta": {}, "query": {"datasetIds": [A38], "requestedGranularity": "count",
                                      "requestParameters": {"datasetIds": inside}}}
    refused = await ask(body=body([CONTROLLED]), path=path, status=400)
    assert refused["error"]["errorMessage"].startswith("datasetIds:"), refused
    same = await ask(body=body([A38]), path=path)
    listed = same["response"].get("collections", same["response"].get("resultSets"))
    assert {s["id"] for s in listed} == {A38}       # the network's peers are this node twice


@pytest.mark.parametrize("root", ["/api", "/network/api"])
@pytest.mark.parametrize("below", ["", "/g_variants", "/individuals"])
async def test_a_dataset_path_with_other_datasets_asked_is_refused_by_name(ask, root, below):
    """A dataset's path (/datasets/{id}, and the routes below it) with `datasetIds` naming
    another dataset is a 400 naming datasetIds, on the node and on the network alike (the
    network refuses what a node would before any peer is asked: beacon_api.within_dataset).
    The network's /datasets/{id} passed it on: each peer refused it, and the network
    answered 200 `exists: false`, the dataset "not found" where it is held."""
    path = f"{root}/datasets/{A38}{below}"
    for params, body in (({"datasetIds": CONTROLLED}, None),
                         (None, {"query": {"requestParameters": {"datasetIds": [CONTROLLED]}}})):
        refused = await ask(params, body=body, path=path, status=400)
        assert refused["error"]["errorMessage"].startswith("datasetIds: conflicts"), refused
    same = await ask({"datasetIds": A38, "requestedGranularity": "count"}, path=path)
    assert same["responseSummary"]["exists"] is True, same

@pytest.mark.parametrize(("meta", "field"), [
    ({"apiVersion": 2}, "meta.apiVersion"),
    ({"apiVersion": " "}, "meta.apiVersion"),
    ({"requestedSchemas": "ga4gh-beacon-variant-v2.0.0"}, "meta.requestedSchemas"),
    ({"requestedSchemas": [{"schema": ["x"]}]}, "meta.requestedSchemas[0].schema"),
    ({"requestedSchemas": [{"entityType": "individual"}, 7]}, "meta.requestedSchemas[1]"),
])
@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets"])
async def test_a_meta_the_summary_could_not_repeat_is_refused_by_name(ask, meta, field, path):
    document = await ask(body={"meta": meta, "query": {}}, path=path, status=400)
    assert document["error"]["errorMessage"].startswith(f"{field}:")


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets",
                                  "/network/api/g_variants"])
async def test_more_schemas_asked_than_any_client_asks_are_refused_by_name(ask, path):
    """Each schema asked is repeated in the answer's request summary: a body of 260,000
    empty ones (1 MB) was answered with 3.6 MB and 0.3 s of the node's time, on every peer
    of the network it was passed on to. One schema an entry type, a few entry types, is
    what a client asks; more than 32 is a 400 naming them."""
    asked = await ask(body={"meta": {"requestedSchemas": ["x"] * 32}, "query": {}}, path=path)
    assert len(asked["meta"]["receivedRequestSummary"]["requestedSchemas"]) == 32
    refused = await ask(body={"meta": {"requestedSchemas": [""] * 260_000}}, path=path,
                        status=400)
    assert refused["error"]["errorMessage"] == (
        "meta.requestedSchemas: at most 32 schemas in one request, not 260000"), refused


# --- the network's /configuration and /filtering_terms ----------------------------------------

async def test_the_network_serves_its_configuration(beacon, beacon_schema):
    document = await (await beacon.get("/network/api/configuration")).json()
    assert beacon_schema(CONFIGURATION_SCHEMA, document) == []
    security = document["response"]["securityAttributes"]
    assert security["securityLevels"] == ["PUBLIC", "REGISTERED", "CONTROLLED"]


@pytest.mark.parametrize("root", ["/api", "/network/api"])
async def test_every_url_a_map_lists_is_served(beacon, beacon_schema, root):
    """Each URL of a map (the node's, and the network's "with every URL below
    /network/api") answers GET and POST, an entry's id in its template. The network's map
    listed /network/api/individuals/{id}, which it does not serve: a 404."""
    document = await (await beacon.get(f"{root}/map")).json()
    assert beacon_schema("framework/json/responses/beaconMapResponse.json", document) == []
    ids = {"dataset": A38, "genomicVariant": "GRCh38:1:99:A:G", "individual": "S1"}
    urls = []
    for kind, endpoint in document["response"]["endpointSets"].items():
        urls += [endpoint["rootUrl"], *filter(None, [endpoint.get("singleEntryUrl"),
                                                     endpoint.get("filteringTermsUrl")]),
                 *(e["url"] for e in endpoint.get("endpoints", {}).values())]
        urls = [url.replace("{id}", ids[kind]) for url in urls]
    assert urls
    for url in urls:
        path = url.split("/api", 1)[1]
        for method, body in (("GET", None), ("POST", {})):
            async with beacon.request(method, f"{root}{path}", json=body) as response:
                assert response.status == 200, (method, url, await response.text())

async def test_the_network_merges_its_peers_filtering_terms(beacon, beacon_schema):
    node = await (await beacon.get("/api/filtering_terms")).json()
    for method in ("GET", "POST"):
        response = await beacon.request(method, "/network/api/filtering_terms",
                                        json={} if method == "POST" else None)
        document = await response.json()
        assert response.status == 200 and beacon_schema(FILTERING_TERMS_SCHEMA, document) == []
        terms = document["response"]["filteringTerms"]
        assert [t["id"] for t in terms] == [t["id"] for t in node["response"]["filteringTerms"]]
        assert all(t["beaconIds"] == ["peer-a", "peer-b"] for t in terms)   # each term once
        lines = {line["id"]: line["status"] for line in document["info"]["network"]["peers"]}
        assert lines == {"peer-a": "ok", "peer-b": "ok", "gone": "error"}


# --- the API under an alias root ---------------------------------------------------------------

def test_every_api_route_is_mounted_under_the_alias_root(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, api_alias_roots=[ALIAS, "/v2"]))
    routes = {(r.method, r.resource.canonical) for r in app.router.routes()}
    api = {(method, path) for method, path in routes if path == "/api" or
           path.startswith("/api/")}
    assert len(api) > 30
    for root in (ALIAS, "/v2"):
        assert {(m, root + p.removeprefix("/api")) for m, p in api} <= routes


async def test_the_alias_answers_as_the_api(beacon):
    for method, api_path in [("GET", "/api"), ("GET", "/api/"), ("GET", "/api/info"),
                             ("GET", "/api/configuration"), ("POST", "/api/filtering_terms"),
                             ("GET", "/api/datasets"), ("POST", f"/api/datasets/{A38}"),
                             ("GET", "/api/g_variants/GRCh38:1:99:A:G"),
                             ("GET", "/api/nothing-here")]:
        body = {} if method == "POST" else None
        direct = await beacon.request(method, api_path, json=body)
        aliased = await beacon.request(method, ALIAS + api_path.removeprefix("/api"), json=body)
        assert aliased.status == direct.status, api_path
        if direct.status == 200:
            assert await aliased.json() == await direct.json(), api_path


async def test_the_portals_paths_reach_the_node_under_the_alias(ask):
    query = {"referenceName": "1", "start": 99, "alternateBases": "G",
             "requestedGranularity": "count"}
    assert await ask(query, path=f"{ALIAS}/g_variants") == await ask(query)
    portal = {"meta": {"apiVersion": "2.0"}, "query": {
        "requestParameters": {"referenceName": "1", "start": [99], "alternateBases": "G"},
        "filters": [], "includeResultsetResponses": "HIT", "requestedGranularity": "record",
        "pagination": {"skip": 0, "limit": 10}}}
    aliased = await ask(body=portal, path=f"{ALIAS}/individuals")
    assert _sets(aliased) == _sets(await ask(body=portal, path="/api/individuals"))
    assert _sets(aliased)[A38] == 2          # both samples carry it


def test_a_peers_malformed_filtering_terms_never_reach_the_network_answer(beacon_schema):
    """Only the schema's properties of the schema's types are passed on from a peer's terms
    and resources (found by tests/test_fuzz_network.py: a scope that was a list made the
    network's answer invalid)."""
    sent = {"meta": {}, "response": {
        "filteringTerms": [
            {"id": "NCIT:C3117", "type": "ontology", "scopes": ["individual", ["individual"]],
             "label": 7, "values": [None], "extra": {"x": 1}},
            {"id": "HP:0001250", "type": ["ontology"]}, {"id": 5, "type": "ontology"}, "x"],
        "resources": [{"id": "ncit", "name": {"x": 1}, "url": "https://ncit"}, {"id": None}]}}
    outcome = PeerOutcome(Peer(id="peer", url="http://127.0.0.1:1/api"), "ok", 1.0,
                          answer=DocumentAnswer.checked(sent), raw=sent)
    terms, resources = merge_terms([outcome])
    assert terms == [{"id": "NCIT:C3117", "type": "ontology", "scopes": ["individual"],
                      "beaconIds": ["peer"]}]
    assert resources == [{"id": "ncit", "url": "https://ncit"}]
    document = {"meta": {"beaconId": "org.test", "apiVersion": "v2.0.1", "returnedSchemas": []},
                "response": {"filteringTerms": terms, "resources": resources}}
    assert beacon_schema(FILTERING_TERMS_SCHEMA, document) == []


def test_a_peers_result_set_the_model_converted_is_passed_on_as_converted(beacon_schema):
    """A peer's resultSet whose count is spelt "0" passes the model (which converts it) but
    not the exact check; the network passed on the peer's string, and its answer was invalid
    (found by tests/test_fuzz_network.py). The checked fields go on as the model holds them;
    at count, a set's `info` is its returnedGranularity only (node/federation/merge.py
    `_as_counted`), whatever else the peer put there."""
    sent = {"meta": {"beaconId": "peer", "returnedGranularity": "count"},
            "responseSummary": {"exists": True, "numTotalResults": 3},
            "response": {"resultSets": [
                {"id": "GDI-XX-SYN-001", "setType": "dataset", "exists": True,
                 "resultsCount": "3", "results": [], "info": {"kept": True}}]}}
    outcome = PeerOutcome(Peer(id="peer", url="http://127.0.0.1:1/api"), "ok", 1.0,
                          answer=VariantAnswer.checked(sent), raw=sent)
    document = merge_variants("org.test", VariantQuery(kind="sequence", reference_name="1",
                                                       start=(99,), reference_bases="A",
                                                       alternate_bases="G",
                                                       granularity="count"),
                              [outcome], PeerList([outcome.peer]))
    assert document["response"]["resultSets"] == [
        {"id": "GDI-XX-SYN-001", "setType": "dataset", "exists": True, "resultsCount": 3,
         "results": [], "info": {"returnedGranularity": "count"}, "beaconId": "peer"}]
    assert beacon_schema(RESPONSE_SCHEMAS["count"], document) == []


def test_a_peers_miss_says_how_many_alleles_it_looked_at_through_a_count(beacon_schema):
    """At count the network passes on of a set's `info` its returnedGranularity and a miss's
    `alleleNumber` ("not seen in N alleles", docs/beacon.md), whether the set is passed as it
    came or built anew; an alleleNumber that is no count, and any other key, are dropped."""
    def merged(info: dict[str, Any]) -> dict[str, Any]:
        sent = {"meta": {"beaconId": "peer", "returnedGranularity": "count"},
                "responseSummary": {"exists": False, "numTotalResults": 0},
                "response": {"resultSets": [
                    {"id": "GDI-XX-SYN-001", "setType": "dataset", "exists": False,
                     "resultsCount": 0, "results": [], "info": info}]}}
        outcome = PeerOutcome(Peer(id="peer", url="http://127.0.0.1:1/api"), "ok", 1.0,
                              answer=VariantAnswer.checked(sent), raw=sent)
        document = merge_variants("org.test", VariantQuery(
            kind="sequence", reference_name="1", start=(99,), reference_bases="A",
            alternate_bases="G", granularity="count", include="ALL"),
            [outcome], PeerList([outcome.peer]))
        assert beacon_schema(RESPONSE_SCHEMAS["count"], document) == []
        return document["response"]["resultSets"][0]["info"]
    assert merged({"returnedGranularity": "count", "alleleNumber": 2000}) == {
        "returnedGranularity": "count", "alleleNumber": 2000}
    assert merged({"returnedGranularity": "record", "alleleNumber": 2000, "leak": 1}) == {
        "returnedGranularity": "count", "alleleNumber": 2000}
    for number in ("2000", True, -1, 2 ** 60):
        assert merged({"returnedGranularity": "count", "alleleNumber": number}) == {
            "returnedGranularity": "count"}


@pytest.mark.parametrize(("parameters", "start", "end"), [
    ({"geneId": "B" * 500_000}, "geneId: 'BBB",
     "is not an HGNC symbol (e.g. TP53) or id (HGNC:11998)"),
    ({"datasetIds": [f"D{n}" for n in range(20_000)]}, "datasetIds: unknown dataset(s): D0, D1",
     "D19998, D19999"),
    ({"Z" * 500_000: 1}, "query.requestParameters.ZZZ", "unknown parameter"),
])
async def test_an_error_quoting_a_long_value_keeps_its_start_and_its_reason(ask, parameters,
                                                                          start, end):
    """beacon/request_error.py MAX_ERROR_MESSAGE: the body echoed the whole value (500 kB)."""
    document = await ask(body={"query": {"requestParameters": parameters}}, status=400)
    message = document["error"]["errorMessage"]
    assert message.startswith(start) and message.endswith(end)
    assert " characters not shown] …" in message
    assert len(message) <= MAX_ERROR_MESSAGE + 40


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets"])
@pytest.mark.parametrize("asked", [[""], "", [A38, " "]])
async def test_an_empty_dataset_id_is_refused_saying_so(beacon, beacon_schema, path, asked):
    """A body's `datasetIds` holding an empty id (`[""]` or `""`, a client's empty choice
    of dataset) was refused as "datasetIds: unknown dataset(s): ", naming no dataset: the
    client was left to guess which of its ids the node did not know. The 400 says the id
    is empty (a GET's empty items are left out, docs/beacon.md)."""
    response = await beacon.post(path, json={"query": {"requestParameters": {
        "datasetIds": asked}}})
    body = await response.json()
    assert response.status == 400 and beacon_schema(ERROR_SCHEMA, body) == []
    assert body["error"]["errorMessage"].startswith("datasetIds: an empty dataset id"), body


def test_each_path_fills_every_field_of_the_query_by_name():
    """`_variant_query` makes a VariantQuery by position (cheaper than by keyword): each
    field, read by its name, holds what the request said, on the GET and POST fast paths
    and the full parser alike, so that two fields swapped in the call cannot pass as one
    path agreeing with another."""
    parameters = {"assemblyId": "GRCh38", "referenceName": "1", "start": [1000],
                  "end": [5000], "variantType": "DEL", "variantMinLength": 3,
                  "variantMaxLength": 40}
    body = {"meta": {"apiVersion": "v2.0"},
            "query": {"requestParameters": parameters, "requestedGranularity": "count",
                      "includeResultsetResponses": "ALL", "pagination": {"skip": 2, "limit": 7}}}
    get = query_from_get([*((k, ",".join(map(str, v)) if isinstance(v, list) else str(v))
                            for k, v in parameters.items()),
                          ("requestedGranularity", "count"),
                          ("includeResultsetResponses", "ALL"), ("skip", "2"), ("limit", "7")])
    post = query_from_post(body)
    assert get is not None and post is not None
    for query, api_version in ((get, None), (post.query, "v2.0"),
                               (to_query(parse_body(body)), "v2.0")):
        assert (query.assembly.id, query.reference_name, query.kind) == ("GRCh38", "1", "range")
        assert (query.start, query.end) == ((1000,), (5000,))
        assert (query.reference_bases, query.alternate_bases) == (None, None)
        assert query.variant_types == frozenset({"DEL"})
        assert (query.min_length, query.max_length) == (3, 40)
        assert (query.dataset_ids, query.granularity, query.include) == (None, "count", "ALL")
        assert (query.skip, query.limit, query.page) == (14, 7, Page(2, 7))
        assert (query.test_mode, query.gene, query.protein_change) == (False, None, None)
        assert query.echo == {"g_variant": parameters}
        assert (query.api_version, query.requested_schemas) == (api_version, ())
    sequence = {"meta": {"requestedSchemas": [{"entityType": "genomicVariant",
                                               "schema": "beacon-g_variant-v2.0.0"}]},
                "query": {"requestParameters": {"referenceName": "7", "start": [140753335],
                                                "referenceBases": "A",
                                                "alternateBases": "T"}}}
    for query in (query_from_post(sequence).query, to_query(parse_body(sequence))):
        assert (query.kind, query.start, query.end) == ("sequence", (140753335,), ())
        assert (query.reference_bases, query.alternate_bases) == ("A", "T")
        assert (query.granularity, query.include, query.skip, query.limit) == (
            "boolean", "HIT", 0, 10)
        assert query.requested_schemas == ({"entityType": "genomicVariant",
                                            "schema": "beacon-g_variant-v2.0.0"},)


@pytest.mark.parametrize("query", [
    {},
    {"requestedGranularity": "count", "includeResultsetResponses": "ALL", "testMode": True,
     "pagination": {"skip": 3, "limit": 0},
     "requestParameters": {"referenceName": "1", "start": [10], "alternateBases": "A"}},
    {"requestedGranularity": "record", "pagination": {"limit": 5},
     "requestParameters": {"referenceName": "1", "start": [10], "end": [20],
                           "datasetIds": ["A"]}},
])
@pytest.mark.parametrize("meta", [{}, {"apiVersion": "v2.0", "requestedSchemas": [
    {"entityType": "genomicVariant", "schema": "ga4gh-beacon-variant-v2.0.0"}]}])
def test_the_envelopes_meta_is_the_shared_one(query, meta):
    """answer.envelope writes its meta out (a count response's instructions): it is
    beacon/responses.py's, as every other endpoint's is."""
    asked = to_query(parse_body({"meta": meta, "query": query}))
    schemas = [{"entityType": "individual", "schema": "ga4gh-beacon-individual-v2.0.0"}]
    for returned in ("boolean", "count"):
        summary = request_summary(asked.granularity, skip=asked.page.skip,
                                  limit=asked.page.limit, schemas=list(asked.requested_schemas),
                                  parameters=asked.echo, api_version=asked.api_version)
        summary.update(includeResultsetResponses=asked.include, testMode=asked.test_mode,
                       filters=["NCIT:C1"])
        expected = response_meta("b", returned, summary, schemas, test_mode=asked.test_mode)
        body = envelope("b", asked, returned, True, 3, [], schemas=schemas,
                        filters=["NCIT:C1"])
        assert json.dumps(body["meta"]) == json.dumps(expected)


def test_one_counts_precision_fields_are_its_own():
    """precision_fields of one count is made once for each way of reporting it; a count of
    0 under a floor and one above it are told apart."""
    for count in (ReportedCount(0), ReportedCount(20, 10), ReportedCount(0, 1, 3),
                  ReportedCount(7, 1, 3, 2, 8), ReportedCount(7, 1, 3), ReportedCount(0, 1, 3)):
        expected = {"countPrecision": count.precision}
        if count.adjusted_to:
            expected["countAdjustedTo"] = count.adjusted_to
        assert precision_fields([count]) == expected


# --- the fast paths answer as the full path, byte for byte -----------------------------------

_FAST_GET_PATHS = ["/api/g_variants", f"/api/datasets/{A38}/g_variants"]
_FAST_POST_PATHS = [*_FAST_GET_PATHS, "/api/individuals", f"/api/datasets/{A38}/individuals"]


async def _both_ways(beacon: ClientSession, method: str, path: str, **sent: Any
                     ) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    """The answer (status, body) to one request as the node gives it, then with its fast
    paths stepping aside (beacon/request.py query_from_get and post_query returning None,
    as they do for any request that is not plain), so that the full parser reads it."""
    answers = []
    for fast in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            if not fast:
                patch.setattr("node.http.beacon_api.query_from_get", lambda pairs: None)
                patch.setattr("node.http.beacon_api.post_query", lambda *a, **k: None)
            async with beacon.request(method, path, **sent) as response:
                answers.append((response.status, await response.read()))
    return answers[0], answers[1]


@hypothesis_settings(max_examples=300, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=GET_PAIRS, path=st.sampled_from(_FAST_GET_PATHS))
async def test_a_get_is_answered_byte_for_byte_as_the_full_path_answers_it(beacon, pairs, path):
    """tests/test_get_fast_path.py holds the fast path's query to the full parser's; this
    holds the node's whole answer over HTTP, status and bytes, to the one it gives when the
    fast path steps aside, for any query string of the forms clients send."""
    fast, full = await _both_ways(beacon, "GET", path, params=pairs)
    assert fast == full


@hypothesis_settings(max_examples=300, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=POST_BODIES, path=st.sampled_from(_FAST_POST_PATHS))
async def test_a_post_is_answered_byte_for_byte_as_the_full_path_answers_it(beacon, raw, path):
    """As the GET above, for any body of the forms clients send (the individuals routes
    read their filters on the fast path too)."""
    fast, full = await _both_ways(beacon, "POST", path, data=json.dumps(raw),
                                  headers={"Content-Type": "application/json"})
    assert fast == full


# A body naming a key twice, and the body of its last value alone: what every reader of the
# body takes it to be (orjson, msgspec, JavaScript's JSON.parse and Python's json alike)
_TWICE = [
    ((b'{"query": {"requestedGranularity": "record", "requestedGranularity": "count", '
      b'"requestParameters": {"referenceName": "1", "start": [99], "alternateBases": "G"}}}'),
     {"query": {"requestedGranularity": "count", "requestParameters": {
         "referenceName": "1", "start": [99], "alternateBases": "G"}}}),
    ((b'{"query": {"requestParameters": {"referenceName": "1", "start": [99], '
      b'"alternateBases": "C", "alternateBases": "G"}, "requestedGranularity": "count"}}'),
     {"query": {"requestParameters": {"referenceName": "1", "start": [99],
                                      "alternateBases": "G"}, "requestedGranularity": "count"}}),
    (b'{"query": {"testMode": true}, "query": {"requestedGranularity": "count"}}',
     {"query": {"requestedGranularity": "count"}}),
    (b'{"query": {"testMode": false, "testMode": true, "requestedGranularity": "count"}}',
     {"query": {"testMode": True, "requestedGranularity": "count"}}),
    (b'{"query": {"testMode": true, "testMode": false, "requestedGranularity": "count"}}',
     {"query": {"testMode": False, "requestedGranularity": "count"}}),
]


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals"])
@pytest.mark.parametrize("twice,last", _TWICE)
@pytest.mark.parametrize("headers", [{}, BAD_TOKEN])
async def test_a_key_given_twice_is_its_last_value_for_every_reader(beacon, path, twice, last,
                                                                     headers):
    """JSON leaves a name given twice to the reader (RFC 8259 4: "many implementations
    report the last name/value pair only"); this node takes the last, as the JavaScript and
    Python a client is written in read what it sent, and never refuses it (a full second
    reading of every body to find one would cost each request more than its parse). What
    must hold is that every reader of one request reads it alike: the fast path (msgspec),
    the full path (orjson) and the middleware that lets a test-mode request through a token
    that does not verify. Were one to take the first, `testMode: true, testMode: false`
    with a bad token would be let through as test mode and answered from the data."""
    answers = []
    for data in (twice, json.dumps(last).encode()):
        async with beacon.post(path, data=data, headers={
                "Content-Type": "application/json", **headers}) as response:
            answers.append((response.status, await response.read()))
    assert answers[0] == answers[1]
    in_test_mode = last["query"].get("testMode") is True
    assert answers[0][0] == (401 if headers and not in_test_mode else 200), answers[0]


@pytest.mark.parametrize("body,message", [
    ([1], "body: must be a JSON object"),
    ({"query": []}, "query: must be a JSON object"),
    ({"query": {"requestParameters": "x"}}, "query.requestParameters: must be a JSON object"),
    ({"query": {"pagination": "x"}}, "query.pagination: must be a JSON object"),
    ({"query": {"requestParameters": {"g_variant": "x"}}},
     "query.requestParameters: g_variant must be an object"),
    ({"query": {"requestParameters": {"start": ["+1"]}}},
     "query.requestParameters.start: '+1' is not a number of digits 0-9")])
@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets"])
async def test_a_refusal_of_a_bodys_shape_is_in_the_nodes_words(ask, body, message, path):
    """The field and what it must be: pydantic's words named its models ("Input should be a
    valid dictionary or instance of RequestBody") and prefixed a check's own words with
    "Value error, "."""
    if path == "/api/datasets" and "start" in json.dumps(body):
        return                  # the datasets refuse variant parameters by name first
    refused = await ask(body=body, path=path, status=400)
    assert refused["error"]["errorMessage"] == message


_SNV_BODY = {"query": {"requestParameters": {"referenceName": "1", "start": [99],
                                             "alternateBases": "G"},
                       "requestedGranularity": "count"}}


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "text/plain", None,
    "application/x-www-form-urlencoded",          # what `curl -d` sends unless told
    "application/json; charset=latin-1"])
async def test_a_post_body_is_read_as_json_whatever_its_content_type(beacon, content_type):
    """A Beacon request body is JSON; the node reads it as JSON whatever Content-Type it
    came with (RFC 8259 11: a charset parameter "has no effect on compliant recipients"), as
    `curl -d` without -H sends it form-encoded. No browser sends a cross-origin body the
    node reads without a preflight that matters: a token needs one, and an anonymous
    question is no more than a GET any page may make."""
    headers = {"Content-Type": content_type} if content_type else {}
    async with beacon.post("/api/g_variants", data=json.dumps(_SNV_BODY).encode(),
                           headers=headers, skip_auto_headers=["Content-Type"]) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["responseSummary"]["numTotalResults"] == 1


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1", "utf-32"])
async def test_a_body_that_is_not_utf8_is_refused_saying_so(beacon, beacon_schema, encoding):
    """JSON is UTF-8 (RFC 8259 8.1), whatever charset a Content-Type names: another is a
    400 naming `body` and saying so, where the refusal was orjson's 'str is not valid UTF-8:
    surrogates not allowed: line 1 column 1 (char 0)'."""
    text = json.dumps({"meta": {"purposeOfUse": "épidémiologie"}, **_SNV_BODY},
                      ensure_ascii=False)
    async with beacon.post("/api/individuals", data=text.encode(encoding), headers={
            "Content-Type": f"application/json; charset={encoding}"}) as response:
        document = await response.json()
    assert response.status == 400, document
    assert beacon_schema(ERROR_SCHEMA, document) == []
    assert document["error"]["errorMessage"] == (
        "body: not UTF-8, which a JSON body is (RFC 8259), whatever charset its "
        "Content-Type names"), document


@pytest.mark.parametrize("changes", [
    {}, {"echo": {}}, {"api_version": "v2.0.0"}, {"test_mode": True},
    {"requested_schemas": ({"entityType": "genomicVariant", "schema": "x"},)},
    {"granularity": "record", "include": "ALL", "page": Page(2, 5),
     "population_filters": ("FI",)},
])
@pytest.mark.parametrize("schemas", [None, [{"entityType": "individual", "schema": "y"}]])
def test_an_answers_meta_is_response_meta_of_request_summary(changes, schemas):
    """An answer's meta and request summary (beacon/answer.py envelope, received) are
    response_meta's and request_summary's (beacon/responses.py), which the other answers
    are made with, and the summary's own keys after theirs: the same dicts, key order
    included."""
    from beacon.answer import _SCHEMAS, received
    query = dataclasses.replace(query_from_get(
        [("referenceName", "1"), ("start", "100"), ("alternateBases", "A")]), **changes)
    page = query.page
    summary = request_summary(query.granularity, skip=page.skip, limit=page.limit,
                              schemas=list(query.requested_schemas), parameters=query.echo,
                              api_version=query.api_version)
    summary.update(includeResultsetResponses=query.include, testMode=query.test_mode,
                   filters=["HP:1"])
    assert list(received(query, ["HP:1"]).items()) == list(summary.items())
    summary["filters"] = list(query.population_filters)
    meta = envelope("org.test", query, "count", True, 3, [], schemas=schemas)["meta"]
    expected = response_meta("org.test", "count", summary, schemas or _SCHEMAS,
                             test_mode=query.test_mode)
    assert list(meta.items()) == list(expected.items())
    assert list(meta["receivedRequestSummary"].items()) == list(summary.items())
