"""Individuals counts take one of two paths (beacon/individuals_store.py): the bits path
(every filter an ontology term: `bit_count(hits & term bits ...)` over `term_members`) and
the rows path (anything else). Both must count the same individuals, and the noise's set
digest must be one function of the matched set whichever path found it: otherwise rewording a
question so that it takes the other path draws a second, independent set noise.

Two datasets are ingested for real (VCF + phenopackets, one seeded draw): A holds every
person, B a subset in another sample order and with nobody holding asthma, so a term one
dataset lacks and bit strings of two lengths are both in play. Counts are checked against a
brute force over the people; the set digest against md5(secret || people || ':' || bits)
computed here from the brute-force set and the dataset's samples in order (`people`, the
key of those: the same for datasets holding the same samples in the same order).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from auth.access import AccessLevel
from beacon import individuals_store
from beacon.assemblies import GRCH38
from beacon.individuals import _selection, individuals_query
from beacon.individuals_store import Selection
from beacon.ingest import IngestRequest, ingest
from beacon.request import parse_body
from tests.conftest import node_database, write_vcf_text

A, B = "GDI-FI-PATHS-1", "GDI-FI-PATHS-2"
CHROM, FIRST, SITES = "17", 7_670_000, 12          # SNVs at FIRST + 1000 * k (1-based POS)
FEMALE, MALE = "NCIT:C16576", "NCIT:C20197"
HYPERTENSION, ASTHMA = "NCIT:C3117", "NCIT:C28397"
DISEASES = [(HYPERTENSION, "Hypertension"), (ASTHMA, "Asthma"),
            ("ICD10:C18.2", "Malignant neoplasm: Ascending colon"),
            ("ICD10:C18.7", "Malignant neoplasm: Sigmoid colon")]
PREVALENCE = {HYPERTENSION: 0.35, ASTHMA: 0.25, "ICD10:C18.2": 0.15, "ICD10:C18.7": 0.1}
FEATURES = [("HP:0001250", "Seizure"), ("HP:0002315", "Headache"), ("HP:0012378", "Fatigue")]
# Facts of the ontologies, spelt out so the oracle does not use the node's hierarchy code.
ABOVE = {"HP:0000707": {"HP:0001250", "HP:0002315"},        # nervous system: seizure, headache
         "ICD10:C18": {"ICD10:C18.2", "ICD10:C18.7"}}       # colon cancer: its subsites
AGE = "timeAtLastEncounter.age.iso8601duration"
VACUOUS = {"id": AGE, "operator": ">=", "value": "P0D"}     # everyone has an age: no one fails


@dataclass
class Person:
    id: str
    sex: str
    age: int
    diseases: set[str]
    features: set[str]
    genotypes: list[str] = field(default_factory=list)

    def terms(self) -> set[str]:
        return {self.sex, *self.diseases, *self.features}

    def holds(self, term: str, descendants: bool) -> bool:
        return term in self.terms() or (descendants and bool(ABOVE.get(term, set())
                                                             & self.terms()))


def _people() -> list[Person]:
    rng = random.Random(23)
    people = []
    for n in range(45):
        person = Person(f"Q{n + 1:02d}", rng.choice([FEMALE, MALE]), rng.randint(20, 85),
                        {t for t, _ in DISEASES if rng.random() < PREVALENCE[t]},
                        {t for t, _ in FEATURES if rng.random() < 0.3})
        person.genotypes = [f"{int(rng.random() < af)}/{int(rng.random() < af)}"
                            for af in (0.05 + 0.4 * (k % 4) / 4 for k in range(SITES))]
        people.append(person)
    return people


PEOPLE = _people()
# B: every other person, those holding asthma left out, in reverse order (other bits,
# another length)
IN_B = [p for p in reversed(PEOPLE[::2]) if ASTHMA not in p.diseases]
SAMPLES = {A: PEOPLE, B: IN_B}


def _vcf(people: list[Person]) -> str:
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr17,length=83257441>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        *(p.id for p in people)])]
    for k in range(SITES):
        lines.append("\t".join(["chr17", str(FIRST + 1000 * k), ".", "C", "T", ".", "PASS", ".",
                                "GT", *(p.genotypes[k] for p in people)]))
    return "\n".join(lines) + "\n"


def _phenopacket(person: Person) -> dict[str, Any]:
    labels = dict(DISEASES + FEATURES)
    return {"id": f"{person.id}-pp",
            "subject": {"id": person.id, "sex": "FEMALE" if person.sex == FEMALE else "MALE",
                        "timeAtLastEncounter": {"age": {"iso8601duration": f"P{person.age}Y"}}},
            "diseases": [{"term": {"id": t, "label": labels[t]}} for t in sorted(person.diseases)],
            "phenotypicFeatures": [{"type": {"id": t, "label": labels[t]}}
                                   for t in sorted(person.features)],
            "metaData": {"created": "2026-11-30T00:00:00Z", "createdBy": "tests",
                         "phenopacketSchemaVersion": "2.0"}}


@pytest.fixture(scope="module")
async def db(pg_server_url: str, tmp_path_factory) -> AsyncIterator[str]:
    directory = tmp_path_factory.mktemp("paths")
    async with node_database(pg_server_url) as url:
        for dataset_id, people in SAMPLES.items():
            vcf = write_vcf_text(directory / f"{dataset_id}.vcf", _vcf(people))
            phenopackets = directory / f"{dataset_id}.json"
            phenopackets.write_text(json.dumps([_phenopacket(p) for p in people]))
            await ingest(url, IngestRequest(vcf, dataset_id, GRCH38, AccessLevel.PUBLIC,
                                            dataset_id, workers=1, individuals=phenopackets))
        yield url


@pytest.fixture
async def conn(db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(db)
    try:
        yield connection
    finally:
        await connection.close()


def _body(filters: list[Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"meta": {}, "query": {"filters": filters, "requestParameters": parameters or {},
                                  "requestedGranularity": "count"}}


def _select(filters: list[Any], parameters: dict[str, Any] | None = None,
            individual_id: str | None = None) -> Selection:
    query = individuals_query(parse_body(_body(filters, parameters)),
                              individual_id=individual_id)
    selection = _selection(query, [A, B], "GRCh38", 1, 1)
    assert selection is not None
    return selection


def _rows(selection: Selection) -> Selection:
    """The same question forced onto the rows path."""
    return dataclasses.replace(selection, terms=None)


async def _secret(conn: asyncpg.Connection) -> str:
    return await conn.fetchval("SELECT secret FROM disclosure_secret")


def _digest(secret: str, dataset_id: str, keep: Callable[[Person], bool]) -> str:
    """The set digest, keyed by the dataset's people: loaded since migration 0026, the
    digest of its sample ids in sample order (individuals_store `_name_people`)."""
    bits = "".join("1" if keep(p) else "0" for p in SAMPLES[dataset_id])
    samples = hashlib.md5("\t".join(p.id for p in SAMPLES[dataset_id]).encode()).hexdigest()
    return hashlib.md5(f"{secret}samples {samples}:{bits}".encode()).hexdigest()


def _expected(keep: Callable[[Person], bool]) -> dict[str, int]:
    found = {d: sum(1 for p in people if keep(p)) for d, people in SAMPLES.items()}
    return {d: n for d, n in found.items() if n}


def _site(k: int) -> dict[str, Any]:
    return {"referenceName": CHROM, "start": [FIRST + 1000 * k - 1], "referenceBases": "C",
            "alternateBases": "T"}


def _carries(person: Person, site: int) -> bool:
    return "1" in person.genotypes[site]


# --- what ingest stores -------------------------------------------------------------------------

async def test_term_members_hold_every_ancestry_term_as_bits_in_sample_order(conn):
    rows = await conn.fetch("SELECT dataset_id, term, exact::text, descendants::text "
                            "FROM term_members")
    stored = {(r[0], r[1]): (r[2], r[3]) for r in rows}
    for dataset_id, people in SAMPLES.items():
        ancestry = await conn.fetch("SELECT DISTINCT unnest(ancestry) FROM individuals "
                                    "WHERE dataset_id = $1", dataset_id)
        assert {t for d, t in stored if d == dataset_id} == {r[0] for r in ancestry}
        for term in (FEMALE, MALE, HYPERTENSION, *ABOVE, *ABOVE["HP:0000707"]):
            exact, below = stored[dataset_id, term]
            assert exact == "".join("1" if p.holds(term, False) else "0" for p in people)
            assert below == "".join("1" if p.holds(term, True) else "0" for p in people)
    assert (B, ASTHMA) not in stored and (A, ASTHMA) in stored


class _RolledBack(Exception):
    pass


async def test_the_migration_backfills_what_ingest_writes(conn):
    """Datasets ingested before 0005 get the same bits from their individuals' rows."""
    sql = (Path(__file__).resolve().parent.parent / "beacon" / "migrations"
           / "0005_term_members.sql").read_text()
    backfill = sql[sql.index("INSERT INTO term_members"):]
    query = "SELECT dataset_id, term, exact::text, descendants::text FROM term_members"
    written = sorted(tuple(r) for r in await conn.fetch(query))
    with pytest.raises(_RolledBack):    # the module's database stays as ingest wrote it
        async with conn.transaction():
            await conn.execute("DELETE FROM term_members")
            await conn.execute(backfill)
            assert sorted(tuple(r) for r in await conn.fetch(query)) == written
            raise _RolledBack
    assert sorted(tuple(r) for r in await conn.fetch(query)) == written


# --- both paths, one answer ---------------------------------------------------------------------

async def test_rewording_a_question_onto_the_rows_path_keeps_its_set_digest(conn):
    """[female, hypertension] takes the bits path; with a vacuous age filter it takes the
    rows path. Same set, so the same set digest; the question digest differs (another
    question), and that is the one layer the rewording may change."""
    keep = lambda p: p.sex == FEMALE and HYPERTENSION in p.diseases
    plain = _select([{"id": FEMALE}, {"id": HYPERTENSION}])
    reworded = _select([{"id": FEMALE}, {"id": HYPERTENSION}, VACUOUS])
    assert plain.terms == ("descendants", "descendants") and reworded.terms is None
    bits = await individuals_store.count(conn, plain)
    rows = await individuals_store.count(conn, reworded)
    secret = await _secret(conn)
    assert {d: n for d, (n, _, _) in bits.items()} == _expected(keep)
    assert {d: n for d, (n, _, _) in rows.items()} == _expected(keep)
    for dataset_id in bits:
        assert bits[dataset_id][1] == rows[dataset_id][1] == _digest(secret, dataset_id, keep)
        assert bits[dataset_id][2] != rows[dataset_id][2]


def _questions() -> list[tuple[list[Any], dict[str, Any] | None, Callable[[Person], bool]]]:
    """Filter sets (terms with and without descendants, terms one dataset lacks, none) with
    and without variant conditions, and who they select."""
    rng = random.Random(5)
    terms = [FEMALE, MALE, HYPERTENSION, ASTHMA, "HP:0012378", *ABOVE, *ABOVE["HP:0000707"],
             "ICD10:C18.2", "MONDO:0005148"]      # the last: held by nobody
    asked = []
    for n in range(40):
        chosen = [(t, rng.random() < 0.7) for t in rng.sample(terms, rng.randint(0, 3))]
        filters = [{"id": t, "includeDescendantTerms": d} for t, d in chosen]
        site = rng.randrange(SITES)
        where = n % 3                              # no variant, one site, a range of four
        parameters = {"referenceName": CHROM, "start": [FIRST + 1000 * site - 1],
                      "end": [FIRST + 1000 * (site + 4) - 1]}
        if where == 1:
            parameters = _site(site)
        if where == 0:
            parameters = None
            if not chosen:                         # nothing asked: the rows path's case
                chosen, filters = [(FEMALE, True)], [{"id": FEMALE}]

        def keep(p: Person, chosen=chosen, where=where, site=site) -> bool:
            hit = (True if where == 0 else _carries(p, site) if where == 1
                   else any(_carries(p, k) for k in range(site, min(site + 4, SITES))))
            return hit and all(p.holds(t, d) for t, d in chosen)

        asked.append((filters, parameters, keep))
    return asked


@pytest.mark.parametrize(("filters", "parameters", "keep"), _questions())
async def test_both_paths_count_the_brute_force_set_with_one_digest(conn, filters, parameters,
                                                                     keep):
    selection = _select(filters, parameters)
    assert selection.terms is not None                 # these all take the bits path
    bits = await individuals_store.count(conn, selection)
    rows = await individuals_store.count(conn, _rows(selection))
    assert bits == rows                                 # counts and both digests
    assert {d: n for d, (n, _, _) in bits.items()} == _expected(keep)
    secret = await _secret(conn)
    for dataset_id, (_, digest, _) in bits.items():
        assert digest == _digest(secret, dataset_id, keep)


@pytest.mark.parametrize(("filters", "parameters", "keep"), _questions()[::3])
async def test_an_unseeded_count_is_the_same_count_without_digests(conn, filters, parameters,
                                                                    keep):
    """Where no answer reads the seeds (a grant's exact counts), the selection has no key and
    its statement hashes nothing, on either path: the same counts, '' for both seeds."""
    query = individuals_query(parse_body(_body(filters, parameters)))
    selection = _selection(query, [A, B], "GRCh38", 1, 1, seeded=False)
    assert selection is not None and selection.key is None
    seeded = await individuals_store.count(conn, _select(filters, parameters))
    for path in (selection, _rows(selection)):
        found = await individuals_store.count(conn, path)
        assert found == {d: (n, "", "") for d, (n, _, _) in seeded.items()}
        assert {d: n for d, (n, _, _) in found.items()} == _expected(keep)


async def test_a_term_one_dataset_lacks_leaves_only_that_dataset_out(conn):
    for parameters in (None, _site(1)):
        found = await individuals_store.count(conn, _select([{"id": ASTHMA}], parameters))
        assert B not in found and found
        assert found[A][0] == sum(1 for p in PEOPLE if ASTHMA in p.diseases and (
            parameters is None or _carries(p, 1)))


async def test_an_individual_id_takes_the_rows_path_with_the_same_digest(conn):
    """/individuals/{id} selects one person by row; the set digest is that of the bit
    string with that one bit, as the bits path would spell it."""
    person = next(p for p in PEOPLE if p.sex == FEMALE and p in IN_B)
    selection = _select([{"id": FEMALE}], individual_id=person.id)
    assert selection.terms is None
    found = await individuals_store.count(conn, selection)
    secret = await _secret(conn)
    assert {d: n for d, (n, _, _) in found.items()} == {A: 1, B: 1}
    for dataset_id in (A, B):
        assert found[dataset_id][1] == _digest(secret, dataset_id, lambda p: p is person)
    male = next(p for p in PEOPLE if p.sex == MALE)
    assert await individuals_store.count(conn, _select([{"id": FEMALE}],
                                                       individual_id=male.id)) == {}


async def test_no_condition_at_all_counts_everyone_by_rows(conn):
    selection = _select([])
    assert selection.terms is None
    found = await individuals_store.count(conn, selection)
    secret = await _secret(conn)
    assert {d: n for d, (n, _, _) in found.items()} == {A: len(PEOPLE), B: len(IN_B)}
    assert found[A][1] == _digest(secret, A, lambda p: True)


async def test_record_pages_still_follow_the_filters(conn):
    selection = _select([{"id": FEMALE}, {"id": HYPERTENSION}], _site(2))
    one = dataclasses.replace(selection, args=[[A], *selection.args[1:]])
    records = await individuals_store.fetch(conn, one, 0, 100)
    expected = [p.id for p in PEOPLE if p.sex == FEMALE and HYPERTENSION in p.diseases
                and _carries(p, 2)]
    assert [json.loads(r)["id"] for r in records] == expected
