"""Beacon v2 variant queries over real HTTP against datasets whose every row the test knows:
each query type, boundaries, contig names and assemblies, GET = POST, pagination,
includeResultsetResponses, per-dataset granularity, the count floor, errors, and every
response validated against the shared Beacon v2 schemas."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from auth.access import AccessLevel
from beacon.assemblies import GRCH37, GRCH38
from beacon.ingest import IngestRequest, ingest
from node.app import create_app
from node.database import create_pool
from node.settings import Settings
from tests.beacon_schemas import (
    ERROR_SCHEMA,
    answer_errors,
)
from tests.conftest import OPEN_DISCLOSURE, node_database, write_vcf_text

FILTERING_TERMS_SCHEMA = "framework/json/responses/beaconFilteringTermsResponse.json"
HEADER = """##fileformat=VCFv4.2
{contigs}##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
"""
CONTIGS_38 = ("##contig=<ID=chr1,length=248956422>\n##contig=<ID=chr17,length=83257441>\n"
              "##contig=<ID=chrX,length=156040895>\n")
PUBLIC_38 = [  # (contig, POS, REF, ALT, INFO, GT...)
    ("chr1", 100, "A", "G", ".", "0|1", "1|1"),           # SNP   [99, 100)
    ("chr1", 200, "ACGT", "A", ".", "0|1", "0|0"),        # DEL   [199, 203)
    ("chr1", 300, "C", "CTT", ".", "0|1", "0|0"),         # INS   [299, 300)
    ("chr1", 400, "GA", "TC", ".", "1|1", "0|0"),         # MNP   [399, 401)
    ("chr1", 500, "T", "<DEL>", "END=2000;SVTYPE=DEL", "0|1", "0|0"),   # SV [499, 2000)
    ("chr1", 1000, "A", "C,T", ".", "0|1", "2|0"),        # two SNPs at 999
    ("chr1", 1500, "G", "GA,*", ".", "0|1", "2|0"),       # INS at 1499; * skipped
    ("chr17", 7674945, "G", "A", ".", "0|1", "0|0"),      # the spec's example locus
    ("chrX", 1000, "A", "T", ".", "0|1", "0|0"),
    ("chrX", 2000, "G", "G]17:198982]", "SVTYPE=BND", "0|1", "0|0"),   # breakend [1999, 2000)
    ("chrX", 3000, "C", "T", ".", "0|0", "0|0"),          # an allele nobody here carries
]
PUBLIC_37 = [("1", 100, "A", "G", ".", "0|1", "0|0"), ("17", 7674945, "G", "A", ".", "1|1", "0|0")]
SMALL = [("chr1", 100, "A", "G", ".", "0|1", "0|0"), ("chr1", 1000, "A", "C", ".", "0|1", "0|0")]
DATASETS = {  # id: (records, assembly, access level, metadata)
    "GDI-FI-SYN-001": (PUBLIC_38, GRCH38, AccessLevel.PUBLIC, {}),
    "GDI-SE-SYN-002": (PUBLIC_37, GRCH37, AccessLevel.PUBLIC, {}),
    "GDI-FI-SYN-003": (SMALL, GRCH38, AccessLevel.CONTROLLED, {}),
    # every variant has one carrier: below this dataset's own allele floor for every tier
    "GDI-FI-SYN-004": (SMALL, GRCH38, AccessLevel.PUBLIC,
                       {"disclosure": {"anonymous": {"allele_floor": 3}}}),
}
A38, B37, CONTROLLED, FLOORED = DATASETS


def _vcf_text(records: list[tuple], assembly) -> str:
    contigs = CONTIGS_38 if assembly is GRCH38 else "".join(
        f"##contig=<ID={c},length={GRCH37.length(c)}>\n" for c in ("1", "17"))
    lines = "".join("\t".join([c, str(p), ".", r, a, ".", "PASS", i, "GT", *gt]) + "\n"
                    for c, p, r, a, i, *gt in records)
    return HEADER.format(contigs=contigs) + lines


@pytest.fixture(scope="module")
async def beacon(pg_server_url: str, tmp_path_factory) -> AsyncIterator[ClientSession]:
    """One node with the four datasets above, shared by the read-only tests of this module."""
    async with node_database(pg_server_url) as url:
        async for client in _served(url, tmp_path_factory.mktemp("queries")):
            yield client


async def _served(url: str, directory: Path) -> AsyncIterator[ClientSession]:
    for dataset_id, (records, assembly, level, metadata) in DATASETS.items():
        path = write_vcf_text(directory / f"{dataset_id}.vcf", _vcf_text(records, assembly))
        await ingest(url, IngestRequest(path, dataset_id, assembly, level, f"Title {dataset_id}",
                                        metadata=metadata, workers=1))
    settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=url, data_dir=directory, beacon_id="org.test.queries")
    pool = await create_pool(url, settings)
    server = TestServer(create_app(settings, pool), host="127.0.0.1")
    await server.start_server()
    async with ClientSession(base_url=str(server.make_url(""))) as client:
        yield client
    await server.close()
    await pool.close()


@pytest.fixture
def ask(beacon, beacon_schema):
    """GET (query string) or POST (body) a query; asserts schema validity of the answer."""
    async def run(params: dict | None = None, body: dict | None = None,
                  path: str = "/api/g_variants", status: int = 200) -> dict:
        if body is None:
            response = await beacon.get(path, params={k: str(v) for k, v in (params or {}).items()})
        else:
            response = await beacon.post(path, data=json.dumps(body),
                                         headers={"Content-Type": "application/json"})
        document = await response.json()
        assert response.status == status, document
        if status != 200:
            assert beacon_schema(ERROR_SCHEMA, document) == []
            return document
        if path.endswith("/filtering_terms"):
            assert beacon_schema(FILTERING_TERMS_SCHEMA, document) == []
            return document
        collections = path.rstrip("/").endswith(("/api/datasets", "}")) or (
            path.startswith("/api/datasets/") and not path.endswith("/g_variants"))
        assert answer_errors(beacon_schema, collections, document) == []
        return document
    return run


def _found(document: dict, dataset_id: str = A38) -> list[tuple]:
    """(start, end, ref, alt) of the records returned for one dataset."""
    for result_set in document["response"]["resultSets"]:
        if result_set["id"] == dataset_id:
            return sorted((r["variation"]["location"]["interval"]["start"]["value"],
                           r["variation"]["location"]["interval"]["end"]["value"],
                           r["variation"]["referenceBases"], r["variation"]["alternateBases"])
                          for r in result_set["results"])
    return []


def _records(params: dict) -> dict:
    return {"requestedGranularity": "record", "datasetIds": A38, **params}


@pytest.mark.parametrize("params,expected", [
    # sequence: exact start and allele; N is one base, never a substring
    ({"referenceName": "1", "start": 99, "alternateBases": "G"}, [(99, 100, "A", "G")]),
    ({"referenceName": "1", "start": 99, "referenceBases": "A", "alternateBases": "G"},
     [(99, 100, "A", "G")]),
    ({"referenceName": "1", "start": 99, "referenceBases": "C", "alternateBases": "G"}, []),
    ({"referenceName": "1", "start": 100, "alternateBases": "G"}, []),
    ({"referenceName": "1", "start": 999, "alternateBases": "N"},
     [(999, 1000, "A", "C"), (999, 1000, "A", "T")]),
    ({"referenceName": "1", "start": 999, "alternateBases": "NN"}, []),
    ({"referenceName": "1", "start": 399, "alternateBases": "TN"}, [(399, 401, "GA", "TC")]),
    ({"referenceName": "1", "start": 1499, "alternateBases": "GA"}, [(1499, 1500, "G", "GA")]),
    ({"referenceName": "1", "start": 499, "alternateBases": "<DEL>"},
     [(499, 2000, "T", "N")]),
    # an N is a base: as many Ns as a symbolic allele has characters are not that allele
    ({"referenceName": "1", "start": 499, "alternateBases": "NNNNN"}, []),
    ({"referenceName": "1", "start": 0, "end": 5000, "alternateBases": "NNNNN"}, []),
    # range: any overlap; half-open edges
    ({"referenceName": "1", "start": 100, "end": 300}, [(199, 203, "ACGT", "A"),
                                                        (299, 300, "C", "CTT")]),
    ({"referenceName": "1", "start": 99, "end": 100}, [(99, 100, "A", "G")]),
    ({"referenceName": "1", "start": 100, "end": 199}, []),
    ({"referenceName": "1", "start": 202, "end": 203}, [(199, 203, "ACGT", "A")]),
    ({"referenceName": "1", "start": 203, "end": 299}, []),
    ({"referenceName": "1", "start": 1000, "end": 1001}, [(499, 2000, "T", "N")]),
    ({"referenceName": "1", "start": 999, "end": 1000}, [(499, 2000, "T", "N"),
                                                         (999, 1000, "A", "C"),
                                                         (999, 1000, "A", "T")]),
    ({"referenceName": "1", "start": 0, "end": 5000, "variantType": "DEL"},
     [(199, 203, "ACGT", "A"), (499, 2000, "T", "N")]),
    ({"referenceName": "1", "start": 0, "end": 5000, "variantType": "DEL",
      "variantMinLength": 100}, [(499, 2000, "T", "N")]),
    ({"referenceName": "1", "start": 0, "end": 5000, "variantMaxLength": 1,
      "variantType": "SNP"}, [(99, 100, "A", "G"), (999, 1000, "A", "C"),
                              (999, 1000, "A", "T")]),
    ({"referenceName": "1", "start": 0, "end": 5000, "alternateBases": "T"},
     [(999, 1000, "A", "T")]),
    # a breakend's ALT is no bases the schema admits: N, as a symbolic allele's
    ({"referenceName": "X", "start": 0, "end": 5000, "variantType": "BND"},
     [(1999, 2000, "G", "N")]),
    # an ALT no sample carries (a cohort's file subset to fewer people) is not a variant here
    ({"referenceName": "X", "start": 2999, "alternateBases": "T"}, []),
    ({"referenceName": "X", "start": 0, "end": 5000, "variantType": "SNP"},
     [(999, 1000, "A", "T")]),
    # bracket: start in [a, b), end in [c, d)
    ({"referenceName": "1", "start": "199,200", "end": "203,204"}, [(199, 203, "ACGT", "A")]),
    ({"referenceName": "1", "start": "199,199", "end": "203,204"}, []),
    ({"referenceName": "1", "start": "0,1000", "end": "1000,2001"},
     [(499, 2000, "T", "N"), (999, 1000, "A", "C"), (999, 1000, "A", "T")]),
])
async def test_each_query_type_returns_exactly_the_expected_variants(ask, params, expected):
    document = await ask(_records({**params, "limit": 100}))
    assert _found(document) == expected
    count = await ask({**_records(params), "requestedGranularity": "count"})
    assert count["responseSummary"]["numTotalResults"] == len(expected)
    assert count["responseSummary"]["exists"] is bool(expected)


async def test_an_allele_nobody_carries_is_a_miss_that_says_what_was_called(ask):
    """A record whose ALT no sample carries (0|0 0|0, as `bcftools view -s` leaves a cohort's
    rows) answered exists, counted and listed as a variant of the dataset: it is a site
    called reference, whose miss says how many alleles were looked at."""
    document = await ask({"referenceName": "X", "start": 2999, "alternateBases": "T",
                          "datasetIds": A38, "requestedGranularity": "count",
                          "includeResultsetResponses": "MISS"})
    [result_set] = document["response"]["resultSets"]
    assert (result_set["exists"], result_set["info"]["alleleNumber"]) == (False, 4)


async def test_a_long_pattern_of_ns_is_answered_at_once(ask):
    """An allele of Ns is a pattern of single bases, matched as LIKE matches `_`: 100,000
    of them (a body takes that many) made into a regular expression took the database 6 s
    to refuse, a 503."""
    for extra in ({}, {"end": [100000]}):
        document = await ask(body={"query": {"requestParameters": {
            "referenceName": "1", "start": [99], "referenceBases": "N" * 100_000,
            "alternateBases": "G", **extra}, "requestedGranularity": "count"}})
        assert document["responseSummary"]["numTotalResults"] == 0


@pytest.mark.parametrize("name", ["17", "chr17", "NC_000017.11", "refseq:NC_000017.11",
                                  "CM000679.2"])
async def test_reference_name_spellings_find_the_same_grch38_variant(ask, name):
    document = await ask(_records({"referenceName": name, "start": 7674944,
                                   "alternateBases": "A", "assemblyId": "GRCh38"}))
    assert _found(document) == [(7674944, 7674945, "G", "A")]


async def test_assemblies_are_kept_apart(ask):
    grch37_name = await ask({"referenceName": "NC_000017.10", "start": 7674944,
                             "alternateBases": "A", "requestedGranularity": "count"})
    assert [s["id"] for s in grch37_name["response"]["resultSets"]] == [B37]
    by_assembly = await ask({"referenceName": "17", "start": 7674944, "alternateBases": "A",
                             "assemblyId": "hg19", "requestedGranularity": "count",
                             "includeResultsetResponses": "ALL"})
    assert [s["id"] for s in by_assembly["response"]["resultSets"]] == [B37]
    # no assemblyId and a name both assemblies share: the default (GRCh38), never both summed
    unstated = await ask({"referenceName": "chr17", "start": 7674944, "alternateBases": "A",
                          "requestedGranularity": "count"})
    assert [s["id"] for s in unstated["response"]["resultSets"]] == [A38]
    assert unstated["responseSummary"]["numTotalResults"] == 1


async def test_get_and_post_agree_in_every_body_shape(ask):
    params = {"referenceName": "1", "start": 100, "end": 300, "requestedGranularity": "record"}
    flat = {"meta": {"apiVersion": "v2.0"}, "query": {
        "requestParameters": {"referenceName": "1", "start": [100], "end": [300]},
        "requestedGranularity": "record"}}
    wrapped = {"meta": {"apiVersion": "v2.0"}, "query": {
        "requestParameters": {"g_variant": {"referenceName": "1", "start": [100], "end": [300]}},
        "requestedGranularity": "record"}}
    answers = [await ask(params), await ask(body=flat), await ask(body=wrapped)]
    assert answers[0]["response"] == answers[1]["response"] == answers[2]["response"]
    assert (answers[1]["meta"]["receivedRequestSummary"]["requestParameters"]
            == {"g_variant": {"referenceName": "1", "start": [100], "end": [300]}})
    repeated = await ask(body=None, params=None, path="/api/g_variants?referenceName=1"
                         "&start=199&start=200&end=203&end=204&requestedGranularity=count")
    assert repeated["responseSummary"]["numTotalResults"] == 1


async def test_gdi_portal_request_shape_is_accepted(ask):
    portal = {"meta": {"apiVersion": "2.0"}, "query": {
        "requestParameters": [], "filters": [], "includeResultsetResponses": "HIT",
        "pagination": {"skip": 0, "limit": 10}, "testMode": False,
        "requestedGranularity": "record"}}
    document = await ask(body=portal)
    counts = {s["id"]: s["resultsCount"] for s in document["response"]["resultSets"]}
    assert counts[A38] == 11 and counts[B37] == 2   # no position: every assembly is asked
    datasets = await ask(body=portal, path="/api/datasets")
    assert datasets["responseSummary"]["numTotalResults"] == 4


async def test_pagination_pages_through_results_in_order(ask):
    base = _records({"referenceName": "1", "start": 0, "end": 5000})
    pages = [_found(await ask({**base, "skip": skip, "limit": 3})) for skip in (0, 1, 2)]
    everything = _found(await ask({**base, "limit": 100}))
    assert [v for page in pages for v in page] == everything
    assert [len(p) for p in pages] == [3, 3, 2]
    assert _found(await ask({**base, "limit": 0})) == everything     # 0: all (up to 1000)


@pytest.mark.parametrize("include,expected", [
    ("HIT", {A38, CONTROLLED}), ("MISS", {B37, FLOORED}),
    ("ALL", {A38, B37, CONTROLLED, FLOORED}), ("NONE", set())])
async def test_include_resultset_responses(ask, include, expected):
    document = await ask({"referenceName": "1", "start": 999, "alternateBases": "C",
                          "assemblyId": "GRCh38", "requestedGranularity": "count",
                          "includeResultsetResponses": include})
    ids = {s["id"] for s in document["response"]["resultSets"]}
    expected = expected - {B37}  # GRCh37 is not asked when GRCh38 is named
    assert ids == expected


async def test_granularity_is_decided_per_dataset(ask):
    document = await ask({"referenceName": "1", "start": 999, "alternateBases": "C",
                          "requestedGranularity": "record"})
    sets = {s["id"]: s for s in document["response"]["resultSets"]}
    assert document["meta"]["returnedGranularity"] == "record"
    assert sets[A38]["info"]["returnedGranularity"] == "record" and sets[A38]["results"]
    controlled = sets[CONTROLLED]
    assert (controlled["exists"], controlled["resultsCount"], controlled["results"]) == (
        True, 0, [])
    assert controlled["info"]["returnedGranularity"] == "boolean"
    assert document["responseSummary"]["numTotalResults"] == 1      # only what may be seen
    only_controlled = await ask({"referenceName": "1", "start": 999, "alternateBases": "C",
                                 "datasetIds": CONTROLLED, "requestedGranularity": "record"})
    assert only_controlled["meta"]["returnedGranularity"] == "boolean"
    assert only_controlled["responseSummary"] == {"exists": True}
    assert "response" not in only_controlled


async def test_a_datasets_allele_floor_hides_its_rare_variants_everywhere(beacon, ask):
    params = {"referenceName": "1", "start": 0, "end": 2000, "datasetIds": FLOORED,
              "requestedGranularity": "record", "includeResultsetResponses": "ALL"}
    document = await ask(params)
    [result_set] = document["response"]["resultSets"]
    assert (result_set["exists"], result_set["resultsCount"], result_set["results"]) == (
        False, 0, [])
    assert document["responseSummary"] == {"exists": False, "numTotalResults": 0,
                                            "countPrecision": "exact"}
    raw = await (await beacon.get("/api/g_variants", params={
        k: str(v) for k, v in params.items()})).text()
    assert '"resultsCount":2' not in raw and '"numTotalResults":2' not in raw
    mixed = await ask({"referenceName": "1", "start": 0, "end": 2000, "assemblyId": "GRCh38",
                       "requestedGranularity": "count"})
    sets = {s["id"]: s["resultsCount"] for s in mixed["response"]["resultSets"]}
    assert FLOORED not in sets
    assert mixed["responseSummary"]["numTotalResults"] == sets[A38]


async def test_variant_by_id_and_dataset_scoped_queries(ask):
    document = await ask(path="/api/g_variants/GRCh38:1:999:A:C")
    assert document["meta"]["returnedGranularity"] == "record"
    [record] = next(s for s in document["response"]["resultSets"] if s["id"] == A38)["results"]
    assert record["variantInternalId"] == "GRCh38:1:999:A:C"
    frequency = record["frequencyInPopulations"][0]["frequencies"][0]
    assert (frequency["alleleCount"], frequency["alleleNumber"]) == (1, 4)
    sv = await ask(path="/api/g_variants/GRCh38:1:499:T:<DEL>:2000")
    assert _found(sv) == [(499, 2000, "T", "N")]
    scoped = await ask({"referenceName": "1", "start": 99, "alternateBases": "G",
                        "requestedGranularity": "count"},
                       path=f"/api/datasets/{A38}/g_variants")
    assert [s["id"] for s in scoped["response"]["resultSets"]] == [A38]
    await ask(path="/api/datasets/GDI-XX-NONE-9/g_variants", params={}, status=404)


# Every form VCF 4.3 (section 5.4) gives a breakend, with mates named as files name them: in
# lower case, by an accession holding `N`, and a single breakend; one whose REF is N.
BREAKENDS = [("chr1", 3000, "G", "G]17:198982]"), ("chr1", 3001, "T", "]chr17:198983]T"),
             ("chr1", 3002, "A", "A[NC_000017.11:198984["), ("chr1", 3003, "C", "[17:5[C"),
             ("chr1", 3004, "G", ".G"), ("chr1", 3005, "N", "N]17:7]")]


async def test_every_variant_id_the_node_gives_finds_that_variant(db_url, node, tmp_path,
                                                                  beacon_schema):
    """/g_variants/{variantInternalId} of each id a record carries answers that record,
    and it alone: a breakend's id (`GRCh38:1:2999:G:G]17:198982]`) was a 400, "only a
    symbolic allele has an end", for an id the node itself had given."""
    records = [*PUBLIC_38, *((c, p, r, a, "SVTYPE=BND", "0|1", "0|0")
                            for c, p, r, a in BREAKENDS)]
    path = write_vcf_text(tmp_path / "ids.vcf", _vcf_text(sorted(records, key=lambda r: (
        r[0], r[1])), GRCH38))
    await ingest(db_url, IngestRequest(path, A38, GRCH38, AccessLevel.PUBLIC, "Ids",
                                       workers=1))
    ids = []
    for chromosome in ("1", "17", "X"):
        response = await node.get("/api/g_variants", params={
            "referenceName": chromosome, "start": "0", "end": "100000000",
            "requestedGranularity": "record", "limit": "0"})
        ids += [r["variantInternalId"] for s in (await response.json())["response"]
                ["resultSets"] for r in s["results"]]
    assert len(ids) == len(records)      # C,T at 1000 two rows; chrX's AC 0 record none
    assert {i for i in ids if "[" in i or "]" in i or ":." in i} == {
        "GRCh38:X:1999:G:G]17:198982]", *(f"GRCh38:1:{p - 1}:{r}:{a}"
                                          for _, p, r, a in BREAKENDS)}
    for variant_id in ids:
        response = await node.get(f"/api/g_variants/{quote(variant_id, safe=':')}")
        document = await response.json()
        assert response.status == 200, (variant_id, document)
        assert answer_errors(beacon_schema, False, document) == []
        assert [r["variantInternalId"] for s in document["response"]["resultSets"]
                for r in s["results"]] == [variant_id]


@pytest.mark.parametrize("params,field", [
    ({"referenceName": "1", "start": 100}, "alternateBases"),
    ({"referenceName": "1", "start": 300, "end": 100}, "end"),
    ({"referenceName": "1", "start": "5,1", "end": "10,20"}, "start"),
    ({"referenceName": "1", "start": "1,2", "end": 10}, "end"),
    ({"start": 100, "end": 200}, "referenceName"),
    ({"referenceName": "chr99", "start": 1, "end": 2}, "referenceName"),
    ({"referenceName": "1", "start": -1, "end": 2}, "start"),
    ({"referenceName": "1", "start": "x", "end": 2}, "start"),
    ({"referenceName": "1", "start": 2999999999, "end": 3000000000}, "start"),
    ({"referenceName": "1", "start": 1, "end": 2, "variantMinLength": 2**40}, "variantMinLength"),
    ({"referenceName": "1", "start": 1, "end": 2, "skip": 2**40}, "skip"),
    ({"referenceName": "1", "start": 1, "alternateBases": "XYZ"}, "alternateBases"),
    ({"referenceName": "1", "start": 1, "end": 2, "variantType": "SPLICE"}, "variantType"),
    ({"referenceName": "1", "start": 1, "end": 2, "assemblyId": "GRCh99"}, "assemblyId"),
    ({"geneId": "BRCA2 1"}, "geneId"),
    ({"geneId": "HGNC:\uff11\uff11\uff19\uff19\uff18"}, "geneId"),   # fullwidth digits
    ({"mateName": "chr2"}, "mateName"),
    ({"genomicAlleleShortForm": "NC_000001.11:g.100_99999999999del"},
     "genomicAlleleShortForm"),                              # was a 500 (MemoryError)
    ({"genomicAlleleShortForm": "NC_000001.11:g.100A>G", "referenceName": "2"},
     "genomicAlleleShortForm"),                      # was answered on 1, echoing 2
    ({"filters": "HP:0000118"}, "filters"),
    ({"requestedGranularity": "everything"}, "requestedGranularity"),
    ({"includeResultsetResponses": "SOME"}, "includeResultsetResponses"),
    ({"limit": -1}, "limit"),
    ({"bogus": 1}, "bogus"),
    ({"datasetIds": "GDI-XX-NONE-9"}, "datasetIds"),
    ({"variantMinLength": 10, "variantMaxLength": 5}, "variantMinLength"),
    ({"testMode": "maybe"}, "testMode"),                     # was silently false
])
async def test_bad_parameters_are_400_naming_the_field(ask, params, field):
    document = await ask(params, status=400)
    assert field in document["error"]["errorMessage"]


@pytest.mark.parametrize("params,field", [
    ({"referenceName": "1", "start": "1_000", "end": 5000}, "start"),
    ({"referenceName": "1", "start": "+1", "end": 5}, "start"),
    ({"referenceName": "1", "start": "\u0669", "alternateBases": "G"}, "start"),
    ({"referenceName": "1", "start": 1, "end": "+5"}, "end"),
    ({"referenceName": "1", "start": 1, "end": 5, "variantMinLength": "1_0"}, "variantMinLength"),
    ({"limit": "+5"}, "limit"),
    ({"skip": "1_0"}, "skip"),
])
async def test_numbers_are_plain_digits_as_in_a_variant_id(ask, params, field):
    """int() reads `+1`, `1_000` and other scripts' digits; a variantInternalId's start
    refuses them (tests/test_hardening.py), and so does every number of a query now, by GET
    and POST alike."""
    for document in (await ask(params, status=400), await ask(body=_body(params), status=400)):
        message = document["error"]["errorMessage"]
        assert field in message.split(":")[0] and "digits 0-9" in message, message


@pytest.mark.parametrize("query", [
    {"requestParameters": {"referenceName": "1", "start": [True], "alternateBases": "G"}},
    {"requestParameters": {"referenceName": "1", "start": [0], "end": True}},
    {"requestParameters": {"referenceName": "1", "start": [0], "end": [9],
                           "variantMaxLength": False}},
    {"pagination": {"skip": True}}, {"pagination": {"limit": True}},
])
async def test_a_boolean_is_not_a_number(ask, query):
    """`start: [true]` was read as position 1 (pydantic takes a boolean for an integer)."""
    document = await ask(body={"query": query}, status=400)
    assert "a boolean is not a number" in document["error"]["errorMessage"], document


@pytest.mark.parametrize("params,status", [
    ({"referenceName": "1", "start": 248956422, "alternateBases": "G"}, 400),  # one past
    ({"referenceName": "1", "start": 300000000, "alternateBases": "G"}, 400),
    ({"assemblyId": "GRCh38", "referenceName": "chr1", "start": 300000000, "end": 300000001},
     400),
    ({"referenceName": "1", "start": "300000000,300000010", "end": "300000020,300000030"},
     400),
    ({"referenceName": "1", "start": 300000000, "alternateBases": "G", "datasetIds": A38},
     400),
    ({"referenceName": "1", "start": 248956421, "alternateBases": "G"}, 200),  # the last base
    ({"referenceName": "1", "start": 0, "end": 300000000}, 200),   # an end is a bound
    ({"assemblyId": "GRCh37", "referenceName": "1", "start": 249000000,    # GRCh37's 1 is
      "alternateBases": "G"}, 200),                                        # longer
    ({"referenceName": "1", "start": 249000000, "alternateBases": "G", "datasetIds": B37},
     200),
])
async def test_a_start_past_the_chromosome_is_refused_as_in_a_variant_id(ask, params, status):
    """`1:300000000` answered exists false while the same position in a variantInternalId
    is a 400: positions are on the chromosome of the assembly the query is answered on
    (docs/beacon.md, "Records"), stated, implied by datasetIds or the node's default."""
    for document in (await ask(params, status=status),
                     await ask(body=_body(params), status=status)):
        if status == 400:
            message = document["error"]["errorMessage"]
            assert message.startswith("start: ") and "not a position on chromosome 1" in message


async def test_a_start_trimming_moved_past_the_chromosome_is_refused_as_given(ask):
    """A start whose alleles reach past the chromosome's end is refused naming the start as
    sent, and where the alleles' first difference lies: it was refused as "start:
    248956422", the start after trimming their shared bases, a position never sent."""
    params = {"referenceName": "1", "start": 248956421, "referenceBases": "AC",
              "alternateBases": "AG"}
    for document in (await ask(params, status=400), await ask(body=_body(params), status=400)):
        assert document["error"]["errorMessage"] == (
            "start: 248956421 with its alleles reaches past the end of chromosome 1 of "
            "GRCh38 (0 to 248956421): they differ first at 248956422")


def _body(params: dict) -> dict:
    """The POST body asking what a GET's `params` ask (positions as lists)."""
    page = {k: params[k] for k in ("skip", "limit") if k in params}
    parameters = {k: (str(v).split(",") if "," in str(v) else [v]) if k in ("start", "end")
                  else v for k, v in params.items()
                  if k not in ("requestedGranularity", *page)}
    return {"query": {"requestParameters": parameters, "pagination": page,
                      "requestedGranularity": params.get("requestedGranularity", "boolean")}}


@pytest.mark.parametrize("params", [
    {"referenceName": "", "start": 0, "end": 250000000, "requestedGranularity": "count"},
    {"referenceName": "", "start": 99, "referenceBases": "A", "alternateBases": "G"},
    {"referenceName": "", "requestedGranularity": "count"},
])
async def test_an_empty_reference_name_is_refused_not_every_chromosome(ask, params):
    """An empty referenceName passed the check for one (`is None`), and a query normalised
    onto no chromosome asked every one: the whole dataset counted, any chromosome's A>G at
    99 found."""
    for document in (await ask(params, status=400), await ask(body=_body(params), status=400)):
        assert document["error"]["errorMessage"].startswith("referenceName: "), document


@pytest.mark.parametrize("params,field", [
    ({"start": ",1000", "end": ",1100"}, "start"),      # was the range [1000, 1100)
    ({"start": "990,", "end": "1000,"}, "start"),       # was the range [990, 1000)
    ({"start": "1,,2", "end": "5,6"}, "start"),         # was the bracket [1, 2), [5, 6)
    ({"start": "990,1000", "end": "999,"}, "end"),      # was "give one start ... or two of each"
])
async def test_an_empty_bound_in_a_query_string_is_refused_not_dropped(ask, params, field):
    """A bracket with an open end written as an empty bound (`start=,1000&end=,1100`) lost
    the empty ones: answered as the range [1000, 1100), a question it did not ask (the
    variants at 999 found), where the same bracket in a body, a null bound, is a 400. Each
    bound is given (0, or past the chromosome's end, for an open one)."""
    document = await ask({"referenceName": "1", **params}, status=400)
    assert document["error"]["errorMessage"].startswith(f"{field}: an empty bound"), document


@pytest.mark.parametrize("name", ["assemblyId", "referenceName", "variantType", "geneId",
                                  "aminoacidChange", "genomicAlleleShortForm", "mateName"])
async def test_no_empty_parameter_widens_a_query(ask, name):
    """Empty, any parameter that selects variants is a 400 naming it, never left out (empty
    alleles are the spec's trimmed form: docs/beacon.md, "Trimmed alleles")."""
    params = {"requestedGranularity": "count", name: ""}
    for document in (await ask(params, status=400), await ask(body=_body(params), status=400)):
        assert document["error"]["errorMessage"].startswith(f"{name}: "), document


VARIANT = "/api/g_variants/GRCh38:1:999:A:C"


@pytest.mark.parametrize("params", [
    {"geneId": "BRAF"}, {"variantType": "DEL"}, {"variantMinLength": 5},
    {"aminoacidChange": "V600E"}, {"start": 5, "end": 10}, {"referenceName": "7"},
    {"assemblyId": "GRCh38"}, {"alternateBases": "T"}, {"genomicAlleleShortForm": "7:g.1A>G"},
])
@pytest.mark.parametrize("path", [VARIANT, VARIANT + "/individuals"])
async def test_a_variant_id_path_refuses_parameters_that_select_another(ask, path, params):
    """The id names the variant: a geneId replaced it with the gene's span (BRAF's records on
    chromosome 7 answered for an id on 1, echoing the id), a variantType or length narrowed
    it to nothing, and a start and end were refused as lacking a referenceName."""
    field = next(iter(params))
    for document in (await ask(params, path=path, status=400),
                     await ask(body=_body(params), path=path, status=400)):
        message = document["error"]["errorMessage"]
        assert message.startswith(f"{field}: the path already names the variant"), message


@pytest.mark.parametrize("path", [VARIANT, VARIANT + "/individuals"])
async def test_a_variant_id_path_takes_what_the_id_leaves_open_and_echoes_it(ask, path):
    params = {"datasetIds": A38, "requestedGranularity": "count"}
    for document in (await ask(params, path=path),
                     await ask(body={"query": {"requestParameters": {"datasetIds": [A38]},
                                               "requestedGranularity": "count"}}, path=path)):
        assert {s["id"]: s["resultsCount"] for s in document["response"]["resultSets"]} == {
            A38: 1}
        summary = document["meta"]["receivedRequestSummary"]
        assert summary["requestParameters"] == {"g_variant": {
            "assemblyId": "GRCh38", "referenceName": "1", "start": [999],
            "referenceBases": "A", "alternateBases": "C", "datasetIds": [A38]}}
        assert summary["requestedGranularity"] == "count"
    sv = await ask({"requestedGranularity": "count"},
                   path="/api/g_variants/GRCh38:1:499:T:<DEL>:2000")
    assert sv["meta"]["receivedRequestSummary"]["requestParameters"]["g_variant"] == {
        "assemblyId": "GRCh38", "referenceName": "1", "start": [499, 500], "end": [2000, 2001],
        "referenceBases": "T", "alternateBases": "<DEL>"}          # the bracket asked


async def test_the_openapi_document_offers_a_variant_id_path_only_datasetids(beacon):
    spec = await (await beacon.get("/api/openapi.json")).json()
    named = {p["name"] for p in spec["paths"]["/api/g_variants/{id}"]["get"]["parameters"]}
    assert "datasetIds" in named and not named & {"geneId", "start", "variantType"}
    listed = {p["name"] for p in spec["paths"]["/api/g_variants"]["get"]["parameters"]}
    assert {"datasetIds", "geneId", "start", "variantType"} <= listed


@pytest.mark.parametrize("raw", ["{not json", ('{"query": {"requestParameters": {"start": '
                                  '[1, 2, 3]}}}'), '{"query": {"unknown": 1}}', '[1, 2]'])
async def test_bad_post_bodies_are_400(beacon, beacon_schema, raw):
    response = await beacon.post("/api/g_variants", data=raw,
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert beacon_schema(ERROR_SCHEMA, await response.json()) == []


async def test_filtering_terms_and_openapi_describe_the_node(beacon, beacon_schema):
    terms = await (await beacon.get("/api/filtering_terms")).json()
    # samples without phenopackets are individuals of unknown sex, and nothing more
    assert terms["response"]["filteringTerms"] == [
        {"type": "ontology", "id": "NCIT:C17998", "scopes": ["individual"], "label": "unknown"}]
    spec = await (await beacon.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    served = {"/api/g_variants", "/api/g_variants/{id}", "/api/datasets", "/api/datasets/{id}",
              "/api/datasets/{id}/g_variants", "/api/filtering_terms", "/api/individuals",
              "/api/individuals/{id}", "/api/datasets/{id}/individuals",
              "/api/g_variants/{id}/individuals", "/api/individuals/filtering_terms"}
    assert served <= set(spec["paths"])
    for path in served:
        assert {"get", "post"} <= set(spec["paths"][path])
    assert "requestParameters" in json.dumps(spec["components"])


FILTERING_TERMS = ["/api/filtering_terms", "/api/individuals/filtering_terms"]


@pytest.mark.parametrize("path", FILTERING_TERMS)
async def test_filtering_terms_take_skip_and_limit_as_the_spec_gives_them(ask, path):
    whole = await ask(path=path)
    [term] = whole["response"]["filteringTerms"]
    assert "info" not in whole
    assert (await ask({"limit": 1}, path=path))["response"]["filteringTerms"] == [term]
    for page in (await ask({"skip": 1, "limit": 1}, path=path),      # skip counts pages
                 await ask(body={"query": {"pagination": {"skip": 1}}}, path=path)):
        assert page["response"] == {"filteringTerms": [], "resources": []}
    everything = await ask({"limit": 0}, path=path)
    assert everything["response"] == whole["response"]
    assert everything["info"]["pagination"]["limit"] == 1000


@pytest.mark.parametrize("params,field", [
    ({"limit": -5}, "limit"), ({"skip": "x"}, "skip"), ({"foo": "bar"}, "foo"),
    ({"referenceName": "1"}, "referenceName"), ({"filters": "NCIT:C17998"}, "filters"),
    ({"datasetIds": A38}, "datasetIds"), ({"testMode": "maybe"}, "testMode"),
])
@pytest.mark.parametrize("path", FILTERING_TERMS)
async def test_filtering_terms_refuse_what_they_do_not_take(ask, path, params, field):
    """They answered anything 200, with every term: unknown parameters, negative limits."""
    document = await ask(params, path=path, status=400)
    assert field in document["error"]["errorMessage"].split(":")[0], document


@pytest.mark.parametrize("raw", ["{", "[1, 2]", '"x"', '{"query": {"unknown": 1}}',
                                 '{"query": {"requestParameters": {"geneId": "BRAF"}}}'])
@pytest.mark.parametrize("path", FILTERING_TERMS)
async def test_filtering_terms_refuse_bodies_they_cannot_read(beacon, beacon_schema, path, raw):
    response = await beacon.post(path, data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert beacon_schema(ERROR_SCHEMA, await response.json()) == []


@pytest.mark.parametrize("path", FILTERING_TERMS)
async def test_filtering_terms_in_test_mode_hold_none_of_the_nodes_data(ask, path):
    for document in (await ask({"testMode": "true"}, path=path),
                     await ask(body={"query": {"testMode": True}}, path=path)):
        assert document["response"] == {"filteringTerms": [], "resources": []}
        assert "test mode" in document["info"]["testMode"]


async def test_openapi_document_is_valid_openapi(beacon):
    """External $refs point at the Beacon schemas online; they are stubbed so the structure
    can be checked offline."""
    from openapi_spec_validator import validate
    spec = await (await beacon.get("/api/openapi.json")).json()
    offline = json.loads(json.dumps(spec).replace('"$ref": "https://', '"description": "https://'))
    validate(offline)


_KEYS = ["referenceName", "start", "end", "referenceBases", "alternateBases", "variantType",
         "assemblyId", "datasetIds", "variantMinLength", "variantMaxLength", "skip", "limit",
         "requestedGranularity", "includeResultsetResponses", "testMode", "filters", "geneId",
         "granularity", "assemblyID", "junk"]
_VALUES = st.one_of(st.integers(-5, 3_000_000_000).map(str), st.text(max_size=12),
                    st.sampled_from(["1", "chr1", "X", "N", "<DEL>", "0,10", "10,0",
                                     "1,2,3", "GRCh38", "record", "ALL", ""]))
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(_KEYS + ["query", "g_variant",
                                                                "requestParameters",
                                                                "pagination"]), inner,
                                       max_size=4), max_leaves=12)


@hypothesis_settings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=6))
async def test_no_query_string_makes_the_node_fail(beacon, params):
    response = await beacon.get("/api/g_variants", params=params)
    assert response.status in (200, 400), await response.text()


@hypothesis_settings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(_JSON, st.fixed_dictionaries({"query": _JSON}),
                      st.fixed_dictionaries({"query": st.fixed_dictionaries(
                          {"requestParameters": _JSON})})))
async def test_no_post_body_makes_the_node_fail(beacon, body):
    response = await beacon.post("/api/g_variants", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert response.status in (200, 400), await response.text()
