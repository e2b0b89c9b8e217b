"""Property-based checks of the g_variants query semantics against a brute-force scan.

One hand-written VCF (generated from a fixed seed, so every row is known here) is ingested,
then Hypothesis draws queries that land on, next to and between variant edges, and every
answer the node gives over HTTP must equal a plain Python filter over the expected rows:

- range   `start=S&end=E`          : same chromosome and `start < E and end > S` (any overlap,
                                     including deletions/SVs reaching in from the left);
- bracket `start=A,B&end=C,D`      : `A <= start < B and C <= end < D` (half-open);
- sequence `start=S&alternateBases=X[&referenceBases=R]`: `start == S`, alleles equal, `N`
                                     in the query matching exactly one base of any kind.

The expected rows are read back from the VCF *text* (str.split, no pysam), and the alleles
are written already minimal, so no trimming logic is shared with beacon/vcf.py.

A second VCF holds long variants (lengths around beacon/store.py's LONG_VARIANT and far
above it, up to 2.5 Mb), where a range takes two index paths: its counts, booleans, record
pages (skip and limit), brackets, batched counts and individuals' hits are checked the same
way, and the threshold's boundary base by base.

Pattern: pytest-asyncio runs `@given` on `async def` tests itself (it swaps Hypothesis'
inner test for a sync wrapper on the session loop). Fixtures are function-scoped and so are
built once per test function, not per example: each test ingests once and then answers all
its examples, hence the suppressed `function_scoped_fixture` health check, which is exactly
the sharing wanted here (the examples only read).
"""
from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientSession
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from auth.access import AccessLevel
from beacon import individuals_store, losses, store
from beacon.assemblies import GRCH38
from beacon.individuals_store import Selection
from beacon.ingest import IngestRequest, ingest
from beacon.request import VariantQuery
from beacon.store import LONG_VARIANT
from beacon.visibility import Floor
from tests.conftest import write_vcf_text
from tests.vcf_oracle import _trim

DATASET = "GDI-FI-SYN-001"
SEED = 20240611
WINDOW = (1_000, 20_000)                  # 1-based VCF POS range of the generated records
GENOME_LENGTH = 26_000                    # enough reference sequence for every REF
CHROMOSOMES = ("1", "2")                  # "2" holds a few decoys at the same positions
RECORDS = {"1": 320, "2": 40}
BASES = "ACGT"
HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=1,length=248956422>\n"
    "##contig=<ID=2,length=242193529>\n"
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n'
    '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="L">\n'
    '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="T">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
)
EXAMPLES = hypothesis_settings(
    max_examples=300, deadline=None, database=None,   # database=None: write nothing to the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass(frozen=True, order=True)
class Row:
    """One stored variant as the node should hold it: 0-based half-open [start, end)."""

    chromosome: str
    start: int
    end: int
    ref: str
    alt: str


# --- the data: a VCF written from a seed, and its rows read back from the text ---------------

def _other_base(rng: random.Random, base: str) -> str:
    return rng.choice([b for b in BASES if b != base])


def _record(rng: random.Random, genome: str, pos: int) -> tuple[str, str, str]:
    """(REF, ALT column, INFO) of one record at 1-based `pos`, alleles already minimal."""
    at = pos - 1
    kind = rng.choices(("snv", "mnp", "ins", "del", "sv_del", "sv_dup", "multi"),
                       weights=(33, 10, 15, 20, 10, 6, 6))[0]
    ref1 = genome[at]
    if kind == "snv":
        return ref1, _other_base(rng, ref1), "."
    if kind == "mnp":                     # first and last bases differ: nothing to trim
        ref = genome[at:at + rng.randint(2, 5)]
        alt = (_other_base(rng, ref[0]) + "".join(rng.choice(BASES) for _ in ref[1:-1])
               + _other_base(rng, ref[-1]))
        return ref, alt, "."
    if kind == "ins":
        return ref1, ref1 + "".join(rng.choice(BASES) for _ in range(rng.randint(1, 20))), "."
    if kind == "del":
        size = rng.randint(1, 40) if rng.random() < 0.8 else rng.randint(41, 400)
        return genome[at:at + 1 + size], ref1, "."
    if kind in ("sv_del", "sv_dup"):
        end = pos + rng.randint(50, 4_000)          # INFO END: 1-based inclusive
        svtype = "DEL" if kind == "sv_del" else "DUP"
        svlen = -(end - pos) if svtype == "DEL" else end - pos
        info = f"END={end};SVTYPE={svtype}" + (f";SVLEN={svlen}" if rng.random() < 0.5 else "")
        return ref1, f"<{svtype}>", info
    snv = _other_base(rng, ref1)                    # multi-allelic, one-base REF: SNV + INS
    return ref1, f"{snv},{ref1}{''.join(rng.choice(BASES) for _ in range(rng.randint(1, 6)))}", "."


def make_vcf(seed: int) -> str:
    """A sorted VCF over a random reference, mixing SNVs, MNPs, indels and <DEL>/<DUP>."""
    rng = random.Random(seed)
    genome = "".join(rng.choice(BASES) for _ in range(GENOME_LENGTH))
    lines = [HEADER]
    for chromosome in CHROMOSOMES:
        seen: set[tuple[int, str, str, str]] = set()   # a variant is one record (ingest)
        records: list[tuple[int, str, str, str]] = []
        while len(records) < RECORDS[chromosome]:
            pos = rng.randint(*WINDOW)
            ref, alts, info = _record(rng, genome, pos)
            end = info.split(";")[0]           # END=..., or "." for alleles in bases
            variants = {(pos, ref, alt, end) for alt in alts.split(",")}
            if variants & seen:
                continue
            seen |= variants
            records.append((pos, ref, alts, info))
        for pos, ref, alts, info in sorted(records, key=lambda r: r[0]):
            gts = ("0/1", "1/1") if "," not in alts else ("0/1", "1/2")
            lines.append(f"{chromosome}\t{pos}\t.\t{ref}\t{alts}\t.\tPASS\t{info}\tGT\t"
                         f"{gts[0]}\t{gts[1]}\n")
    return "".join(lines)


def rows_of(vcf_text: str) -> list[Row]:
    """Rows read back from the text: start = POS - 1; end = start + len(REF), or INFO END for
    a symbolic ALT (1-based inclusive = 0-based exclusive). One row per ALT."""
    rows = []
    for line in vcf_text.splitlines():
        if line.startswith("#"):
            continue
        chrom, pos, _id, ref, alts, _qual, _filter, info = line.split("\t")[:8]
        fields = dict(item.split("=", 1) for item in info.split(";") if "=" in item)
        start = int(pos) - 1
        for alt in alts.split(","):
            end = int(fields["END"]) if alt.startswith("<") else start + len(ref)
            rows.append(Row(chrom, start, end, ref, alt))
    return rows


VCF_TEXT = make_vcf(SEED)
ROWS = rows_of(VCF_TEXT)
EDGES = sorted({r.start for r in ROWS} | {r.end for r in ROWS})
SEQUENCE_ROWS = [r for r in ROWS if r.chromosome == "1"]


# --- brute force -----------------------------------------------------------------------------

def overlapping(chromosome: str, start: int, end: int) -> list[Row]:
    return [r for r in ROWS if r.chromosome == chromosome and r.start < end and r.end > start]


def in_brackets(chromosome: str, a: int, b: int, c: int, d: int) -> list[Row]:
    return [r for r in ROWS
            if r.chromosome == chromosome and a <= r.start < b and c <= r.end < d]


def bases_match(pattern: str | None, stored: str) -> bool:
    """`N` in a query stands for exactly one base; symbolic alleles compare as text."""
    if pattern is None:
        return True
    if pattern.startswith("<"):
        return pattern == stored
    return len(pattern) == len(stored) and all(p in ("N", s) for p, s in zip(pattern, stored))


def at_position(chromosome: str, start: int, alt: str, ref: str | None) -> list[Row]:
    return [r for r in ROWS if r.chromosome == chromosome and r.start == start
            and bases_match(alt, r.alt) and bases_match(ref, r.ref)]


# --- strategies: coordinates on, beside and between edges ------------------------------------

def coordinates() -> st.SearchStrategy[int]:
    """Mostly an edge of some variant (start or end) shifted by -2..2, sometimes anywhere."""
    near_edge = st.builds(lambda edge, shift: max(edge + shift, 0),
                          st.sampled_from(EDGES), st.integers(-2, 2))
    anywhere = st.integers(0, GENOME_LENGTH)
    return st.one_of(near_edge, near_edge, anywhere)


@st.composite
def after(draw: st.DrawFn, low: int, *, allow_equal: bool) -> int:
    """A coordinate greater than `low` (or equal, for brackets): low + 1, a short or long
    stretch, or another edge when that one lies beyond `low`."""
    minimum = low if allow_equal else low + 1
    choice = draw(st.one_of(st.just(minimum), st.just(low + 1),
                            st.integers(low, low + 60), st.integers(low, low + 6_000),
                            coordinates()))
    return max(choice, minimum)


@st.composite
def ranges(draw: st.DrawFn) -> tuple[str, int, int]:
    """(chromosome, S, E) with S < E: E = S + 1, short and long windows, edge to edge."""
    chromosome = draw(st.sampled_from(CHROMOSOMES))
    start = draw(coordinates())
    return chromosome, start, draw(after(start, allow_equal=False))


SHIFTS = st.one_of(st.integers(-2, 2), st.integers(-60, 60))


@st.composite
def brackets(draw: st.DrawFn) -> tuple[str, int, int, int, int]:
    """Half the time every bound sits within a few bases of one variant's start (A, B) or
    end (C, D), so each of the four comparisons decides whether that variant is in; else
    bounds anywhere, A == B and B == A + 1 included."""
    if draw(st.booleans()):
        variant = draw(st.sampled_from(ROWS))
        a = max(variant.start + draw(SHIFTS), 0)
        b = max(variant.start + draw(SHIFTS), a)
        c = max(variant.end + draw(SHIFTS), 0)
        d = max(variant.end + draw(SHIFTS), c)
        chromosome = draw(st.sampled_from((variant.chromosome, *CHROMOSOMES)))
        return chromosome, a, b, c, d
    chromosome = draw(st.sampled_from(CHROMOSOMES))
    a = draw(coordinates())
    b = draw(after(a, allow_equal=True))
    c = draw(st.one_of(coordinates(), after(a, allow_equal=True)))
    d = draw(after(c, allow_equal=True))
    return chromosome, a, b, c, d


@st.composite
def with_wildcard(draw: st.DrawFn, bases: str) -> str:
    """`bases` with one position replaced by N (symbolic alleles stay as they are)."""
    if bases.startswith("<"):
        return bases
    index = draw(st.integers(0, len(bases) - 1))
    return bases[:index] + "N" + bases[index + 1:]


# --- fixtures and HTTP -----------------------------------------------------------------------

@pytest.fixture
async def loaded(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[str]:
    """The generated VCF as one PUBLIC dataset (record granularity for anyone)."""
    path = write_vcf_text(tmp_path / "properties.vcf", VCF_TEXT)
    report = await ingest(db_url, IngestRequest(path, DATASET, GRCH38, AccessLevel.PUBLIC,
                                                "Query properties", workers=1))
    assert report.rows == len(ROWS)
    yield DATASET


async def g_variants(node: ClientSession, params: dict[str, str]) -> dict[str, Any]:
    response = await node.get("/api/g_variants", params=params)
    body = await response.json()
    assert response.status == 200, (params, body)
    return body


async def count(node: ClientSession, params: dict[str, str]) -> int:
    body = await g_variants(node, {**params, "requestedGranularity": "count"})
    return body["responseSummary"]["numTotalResults"]


async def records(node: ClientSession, params: dict[str, str]) -> list[Row]:
    """Every returned record as a Row (chromosome from the query: records carry a refseq id).

    A symbolic ALT is not bases, so the record's alternateBases cannot spell it; its VCF
    spelling is taken from variantInternalId (`assembly:chromosome:start:ref:alt[:end]`)."""
    body = await g_variants(node, {**params, "requestedGranularity": "record", "limit": "1000"})
    found = []
    for result_set in body.get("response", {}).get("resultSets", []):
        for result in result_set["results"]:
            variation = result["variation"]
            interval = variation["location"]["interval"]
            alt = variation["alternateBases"]
            spelt = result["variantInternalId"].split(":")[4]
            if spelt.startswith("<"):
                alt = spelt
            found.append(Row(params["referenceName"], interval["start"]["value"],
                             interval["end"]["value"], variation["referenceBases"], alt))
    return found


def multiset(rows: list[Row]) -> Counter[Row]:
    return Counter(rows)


# --- properties ------------------------------------------------------------------------------

def test_generated_data_exercises_the_edges() -> None:
    """The properties below only mean something if the data has long variants reaching
    across many coordinates from the left, and several kinds of allele."""
    chrom1 = [r for r in ROWS if r.chromosome == "1"]
    assert 300 <= len(chrom1) <= 400
    assert sum(r.alt.startswith("<") for r in chrom1) >= 30
    assert sum(len(r.ref) > 1 and len(r.alt) == 1 for r in chrom1) >= 30
    assert max(r.end - r.start for r in chrom1) > 3_000
    middle = (WINDOW[0] + WINDOW[1]) // 2
    assert sum(r.start < middle < r.end for r in chrom1) >= 3


@EXAMPLES
@given(query=ranges())
async def test_range_count_is_every_overlap(loaded: str, node: ClientSession,
                                            query: tuple[str, int, int]) -> None:
    """numTotalResults of `start=S&end=E` equals the rows with start < E and end > S."""
    chromosome, start, end = query
    params = {"referenceName": chromosome, "start": str(start), "end": str(end)}
    assert await count(node, params) == len(overlapping(chromosome, start, end)), params


@EXAMPLES
@given(query=ranges())
async def test_range_records_are_exactly_the_overlaps(loaded: str, node: ClientSession,
                                                      query: tuple[str, int, int]) -> None:
    """Not just the number: the very rows (coordinates and alleles) of every overlap."""
    chromosome, start, end = query
    params = {"referenceName": chromosome, "start": str(start), "end": str(end)}
    expected = overlapping(chromosome, start, end)
    assert len(expected) <= 1000
    assert multiset(await records(node, params)) == multiset(expected), params


@EXAMPLES
@given(query=brackets())
async def test_bracket_count_is_half_open_on_both_ends(
        loaded: str, node: ClientSession, query: tuple[str, int, int, int, int]) -> None:
    """`start=A,B&end=C,D` counts rows with A <= start < B and C <= end < D: A == B is empty,
    B == A + 1 pins the start exactly."""
    chromosome, a, b, c, d = query
    params = {"referenceName": chromosome, "start": f"{a},{b}", "end": f"{c},{d}"}
    assert await count(node, params) == len(in_brackets(chromosome, a, b, c, d)), params


@EXAMPLES
@given(query=st.sampled_from(EDGES).flatmap(
    lambda start: st.tuples(st.just(start), st.sampled_from(
        [r.end for r in ROWS if r.chromosome == "1" and r.start == start] or [start + 1]))))
async def test_bracket_pinned_to_a_variant_finds_it(loaded: str, node: ClientSession,
                                                    query: tuple[int, int]) -> None:
    """The spec's precise match (`start=[s, s+1]`, `end=[e, e+1]`) returns exactly the rows
    spanning [s, e): what `/g_variants/{id}` relies on for structural variants."""
    start, end = query
    params = {"referenceName": "1", "start": f"{start},{start + 1}", "end": f"{end},{end + 1}"}
    expected = in_brackets("1", start, start + 1, end, end + 1)
    assert multiset(await records(node, params)) == multiset(expected), params


@EXAMPLES
@given(data=st.data(), variant=st.sampled_from(SEQUENCE_ROWS))
async def test_sequence_query_finds_the_variant_and_only_at_its_start(
        loaded: str, node: ClientSession, data: st.DataObject, variant: Row) -> None:
    """`start=S&alternateBases=X` finds a variant at S with ALT X, also with one base of X
    (and of the optional referenceBases) given as N; at S - 1 and S + 1 it is not found, and
    whatever is found there is exactly what the brute force finds."""
    alt = data.draw(st.one_of(st.just(variant.alt), with_wildcard(variant.alt)), label="alt")
    ref = data.draw(st.one_of(st.none(), st.just(variant.ref), with_wildcard(variant.ref)),
                    label="ref")
    for start in (variant.start, variant.start - 1, variant.start + 1):
        if start < 0:
            continue
        params = {"referenceName": "1", "start": str(start), "alternateBases": alt}
        if ref is not None:
            params["referenceBases"] = ref
        found = await records(node, params)
        expected = at_position("1", start, alt, ref)
        assert multiset(found) == multiset(expected), params
        assert (variant in found) == (start == variant.start), params
        assert await count(node, params) == len(expected), params


# --- long variants: the locus btree's reach and the GiST of long spans -----------------------
# A range finds variants no longer than LONG_VARIANT bases on the locus btree, from that far
# left of it, and longer ones on a GiST index of their spans (beacon/store.py). This second
# dataset has lengths around the threshold and far above it (up to 2.5 Mb, so the dataset's
# longest variant is far beyond the threshold and every range takes both paths), symbolic
# SVs sharing a start and alleles with different ENDs (told apart only by the page order's
# end_pos), and genotypes, so the individuals' hits (carrier bits of the matched variants)
# are checked too.

LONG_SEED = 20260611
LONG_SAMPLES = 6
LONG_WINDOW = (1_000, 3_000_000)
LONG_LENGTHS = (LONG_VARIANT - 2, LONG_VARIANT - 1, LONG_VARIANT, LONG_VARIANT + 1,
                LONG_VARIANT + 2, 2 * LONG_VARIANT, 5_000, 30_000, 250_000, 1_000_000,
                2_500_000)
BOUNDARY = range(LONG_VARIANT - 1, LONG_VARIANT + 3)


def _genotypes(rng: random.Random) -> list[str]:
    """Random calls, someone carrying the ALT: one nobody carries is no variant (ingest)."""
    calls = [rng.choice(("0/0", "0/0", "0/1", "1/1")) for _ in range(LONG_SAMPLES)]
    return calls if set(calls) != {"0/0"} else ["0/1", *calls[1:]]


def make_long_vcf(seed: int) -> str:
    """SNVs and short deletions across 3 Mb, deletions spelt out with lengths (end - start)
    around the threshold, and <DEL>/<DUP> of every length in LONG_LENGTHS, several each."""
    rng = random.Random(seed)
    records: list[tuple[int, str, str, str]] = []

    def bases(n: int) -> str:
        return "".join(rng.choice(BASES) for _ in range(n))

    for _ in range(150):
        ref = bases(1)
        records.append((rng.randint(*LONG_WINDOW), ref, _other_base(rng, ref), "."))
    for size in [*(rng.randint(1, 40) for _ in range(50)), *[n - 1 for n in BOUNDARY] * 3]:
        ref = bases(size + 1)                 # ALT its first base: minimal, end - start = size + 1
        records.append((rng.randint(*LONG_WINDOW), ref, ref[0], "."))
    for length in LONG_LENGTHS * 4:
        pos = rng.randint(LONG_WINDOW[0], LONG_WINDOW[1] - min(length, 1_000_000))
        svtype = rng.choice(("DEL", "DUP"))
        end = pos - 1 + length                # INFO END, 1-based inclusive: end - start = length
        records.append((pos, bases(1), f"<{svtype}>", f"END={end};SVTYPE={svtype}"))
        if length in (5_000, 1_000_000):      # same start and alleles, another end
            records.append((pos, records[-1][1], f"<{svtype}>",
                            f"END={end + 7};SVTYPE={svtype}"))
    lines = [HEADER.replace("\tS1\tS2\n", "".join(f"\tS{i}" for i in range(LONG_SAMPLES))
                            + "\n")]
    for pos, ref, alt, info in sorted(records, key=lambda r: r[0]):
        lines.append(f"1\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t{info}\tGT\t"
                     + "\t".join(_genotypes(rng)) + "\n")
    return "".join(lines)


def carriers_of(vcf_text: str) -> list[frozenset[int]]:
    """Per row (rows_of's order: one ALT a record here), the samples carrying its ALT."""
    found = []
    for line in vcf_text.splitlines():
        if not line.startswith("#"):
            calls = line.split("\t")[9:]
            found.append(frozenset(i for i, gt in enumerate(calls) if "1" in gt.split("/")))
    return found


LONG_TEXT = make_long_vcf(LONG_SEED)
LONG_ROWS = rows_of(LONG_TEXT)
LONG_CARRIERS = carriers_of(LONG_TEXT)
LONG_SPANS = [r for r in LONG_ROWS if r.end - r.start > LONG_VARIANT]
LONG_EDGES = sorted({r.start for r in LONG_ROWS} | {r.end for r in LONG_ROWS})
LONG_DATASET = "GDI-FI-SYN-002"


def long_overlapping(start: int, end: int) -> list[Row]:
    return [r for r in LONG_ROWS if r.start < end and r.end > start]


def long_coordinates() -> st.SearchStrategy[int]:
    """An edge of some variant shifted by -2..2, a base inside a long variant, the btree's
    reach from a long variant's start (LONG_VARIANT bases right of it, -2..2: where a page
    hands the variant from one scan to the other), or anywhere."""
    near_edge = st.builds(lambda edge, shift: max(edge + shift, 0),
                          st.sampled_from(LONG_EDGES), st.integers(-2, 2))
    inside = st.sampled_from(LONG_SPANS).flatmap(lambda r: st.integers(r.start, r.end - 1))
    reach = st.builds(lambda r, shift: r.start + LONG_VARIANT + shift,
                      st.sampled_from(LONG_SPANS), st.integers(-2, 2))
    return st.one_of(near_edge, inside, reach, st.integers(0, LONG_WINDOW[1] + 1_000_000))


@st.composite
def long_ranges(draw: st.DrawFn) -> tuple[int, int]:
    """(S, E), S < E: one base, widths either side of the threshold, 1 kb to 1 Mb, or up to
    another coordinate (which may lie inside another long variant)."""
    start = draw(long_coordinates())
    width = draw(st.one_of(
        st.sampled_from((1, 2, LONG_VARIANT - 1, LONG_VARIANT, LONG_VARIANT + 1, 100_000,
                         1_000_000)),
        st.integers(1, 5_000), long_coordinates().map(lambda c: c - start)))
    return start, start + max(width, 1)


@st.composite
def long_brackets(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """Bounds within a few bases of a long variant's start (A, B) and end (C, D)."""
    variant = draw(st.sampled_from(LONG_SPANS))
    a = max(variant.start + draw(SHIFTS), 0)
    b = max(variant.start + draw(SHIFTS), a)
    c = max(variant.end + draw(SHIFTS), 0)
    return a, b, c, max(variant.end + draw(SHIFTS), c)


def page_order(row: Row) -> tuple[int, str, str, int]:
    """The store's page order (beacon/store.py _PAGE_ORDER), bytewise as COLLATE "C"."""
    return row.start, row.ref, row.alt, row.end


@pytest.fixture
async def long_loaded(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[int]:
    """The long-variant VCF as one PUBLIC dataset; yields its longest variant's length."""
    path = write_vcf_text(tmp_path / "long.vcf", LONG_TEXT)
    report = await ingest(db_url, IngestRequest(path, LONG_DATASET, GRCH38, AccessLevel.PUBLIC,
                                                "Long variants", workers=1))
    assert report.rows == len(LONG_ROWS)
    span = await pool.fetchval("SELECT max_variant_length FROM datasets WHERE id = $1",
                               LONG_DATASET)
    assert span == max(r.end - r.start for r in LONG_ROWS) > LONG_VARIANT
    yield span


def range_query(start: int, end: int) -> VariantQuery:
    return VariantQuery(reference_name="1", kind="range", start=(start,), end=(end,))


async def page(node: ClientSession, params: dict[str, str], skip: int, limit: int
               ) -> list[Row]:
    body = await g_variants(node, {**params, "requestedGranularity": "record",
                                   "skip": str(skip), "limit": str(limit)})
    found = []
    results = [r for s in body.get("response", {}).get("resultSets", []) for r in s["results"]]
    for result in results:
        interval = result["variation"]["location"]["interval"]
        alt = result["variantInternalId"].split(":")[4]
        found.append(Row("1", interval["start"]["value"], interval["end"]["value"],
                         result["variation"]["referenceBases"],
                         alt if alt.startswith("<") else result["variation"]["alternateBases"]))
    return found


def test_long_data_spans_the_threshold() -> None:
    """Lengths on both sides of the threshold, exactly on it, and far above it; SVs that share
    a start and alleles; and points covered by several long variants at once."""
    lengths = Counter(r.end - r.start for r in LONG_ROWS)
    assert all(lengths[n] >= 3 for n in (*BOUNDARY, *LONG_LENGTHS))
    assert len(LONG_SPANS) >= 30
    assert max(Counter((r.start, r.ref, r.alt) for r in LONG_ROWS).values()) >= 2
    assert max(sum(r.start <= x < r.end for r in LONG_SPANS)
               for x in range(0, LONG_WINDOW[1], 10_000)) >= 3


@EXAMPLES
@given(query=long_ranges())
async def test_long_range_count_and_boolean(long_loaded: int, node: ClientSession,
                                            query: tuple[int, int]) -> None:
    """Count and boolean answers of ranges starting or ending inside long variants, short
    and wide, equal the brute force's overlaps."""
    start, end = query
    params = {"referenceName": "1", "start": str(start), "end": str(end)}
    expected = long_overlapping(start, end)
    assert await count(node, params) == len(expected), params
    body = await g_variants(node, {**params, "requestedGranularity": "boolean"})
    assert body["responseSummary"]["exists"] == bool(expected), params


@EXAMPLES
@given(query=long_ranges(), skip=st.integers(0, 6), limit=st.sampled_from((1, 2, 3, 10, 50)))
async def test_long_range_pages_are_the_sorted_overlaps(
        long_loaded: int, node: ClientSession, query: tuple[int, int], skip: int,
        limit: int) -> None:
    """A record page (skip counts pages of `limit`) is that slice of the overlaps in the
    store's order: short and long variants merged, SVs with one start ordered by end."""
    start, end = query
    params = {"referenceName": "1", "start": str(start), "end": str(end)}
    expected = sorted(long_overlapping(start, end), key=page_order)
    assert await page(node, params, skip, limit) == expected[skip * limit:(skip + 1) * limit], \
        (params, skip, limit)


@EXAMPLES
@given(query=long_brackets())
async def test_long_bracket_count(long_loaded: int, node: ClientSession,
                                  query: tuple[int, int, int, int]) -> None:
    """Brackets pinned around long variants' ends count what the brute force counts."""
    a, b, c, d = query
    params = {"referenceName": "1", "start": f"{a},{b}", "end": f"{c},{d}"}
    expected = [r for r in LONG_ROWS if a <= r.start < b and c <= r.end < d]
    assert await count(node, params) == len(expected), params


@EXAMPLES
@given(queries=st.lists(long_ranges(), min_size=2, max_size=6))
async def test_long_ranges_counted_in_one_batch(long_loaded: int, pool: asyncpg.Pool,
                                                queries: list[tuple[int, int]]) -> None:
    """The batched statement (one unnest row per member, each counted under LATERAL) gives
    each member the brute force's count, as the lone member's plain statement does. Ranges
    share a batch by shape: those read plainly, and the wide ones that add up bins."""
    batches: dict[store.CountKey, list[tuple[tuple[int, int], list[object]]]] = {}
    for s, e in queries:
        key, args = store.count_query(range_query(s, e), [LONG_DATASET], "1", long_loaded, 1)
        batches.setdefault(key, []).append(((s, e), args))
    assert len(batches) <= 2
    for key, members in batches.items():
        found = await store.count_batch(pool, key, [args for _, args in members])
        expected = [len(long_overlapping(s, e)) for (s, e), _ in members]
        assert [f[LONG_DATASET].count if f else 0 for f in found] == expected, queries
        alone = await store.count_batch(pool, key, [members[0][1]])
        assert (alone[0][LONG_DATASET].count if alone[0] else 0) == expected[0]


# A tally reading a column the long variants' index does not carry (alt), through a join
# with an argument of its own: the count's two halves then hand on whole rows.
SYMBOLIC_TALLY = store.Tally("LEFT JOIN LATERAL (SELECT {}::int AS k) AS t ON TRUE",
                             ("count(*) FILTER (WHERE alt LIKE '<%')", "sum(t.k)"), (2,))


@EXAMPLES
@given(queries=st.lists(long_ranges(), min_size=1, max_size=4))
async def test_long_ranges_tallied_alone_and_in_one_batch(
        long_loaded: int, pool: asyncpg.Pool, queries: list[tuple[int, int]]) -> None:
    """A count with a tally (beacon/losses.py asks one) over ranges reaching long variants:
    its aggregates see each overlapping variant once, with every column, whether the
    statement is a lone member's or a batch's."""
    members = [store.count_query(range_query(s, e), [LONG_DATASET], "1", long_loaded, 1,
                                 tally=SYMBOLIC_TALLY) for s, e in queries]
    key = members[0][0]
    assert all(k == key for k, _ in members)
    expected = [(len(rows), sum(r.alt.startswith("<") for r in rows), 2 * len(rows))
                for rows in (long_overlapping(s, e) for s, e in queries)]

    def tallied(found: dict[str, store.Matches]) -> tuple[int | None, ...]:
        matches = found.get(LONG_DATASET)
        return (matches.count, *matches.tally) if matches else (0, 0, 0)

    batched = await store.count_batch(pool, key, [args for _, args in members])
    assert [tallied(f) for f in batched] == expected, queries
    for (_, args), wanted in zip(members, expected):
        alone = await store.count_batch(pool, key, [args])
        assert tallied(alone[0]) == wanted, queries


@EXAMPLES
@given(queries=st.lists(long_ranges(), min_size=1, max_size=4))
async def test_long_ranges_counted_with_a_callers_loss_tally(
        long_loaded: int, pool: asyncpg.Pool, queries: list[tuple[int, int]]) -> None:
    """The tally the loss accounting asks (beacon/losses.py: a join on the caller's earlier
    answers by each variant's key) reads the two halves' rows as it read the table's: above
    a floor of 2, each member counts the brute force's overlaps with two carriers or more."""
    floor = Floor(2)
    members = [store.count_query(range_query(s, e), [LONG_DATASET], "1", long_loaded, floor,
                                 tally=losses.tally("caller-1", floor)) for s, e in queries]
    expected = [sum(1 for r, c in zip(LONG_ROWS, LONG_CARRIERS)
                    if r.start < e and r.end > s and len(c) >= 2) for s, e in queries]
    batched = await store.count_batch(pool, members[0][0], [args for _, args in members])
    alone = [(await store.count_batch(pool, key, [args]))[0] for key, args in members]
    for found in (batched, alone):
        assert [f[LONG_DATASET].count if f else 0 for f in found] == expected, queries


async def test_long_variants_are_stored_together_after_the_short_ones(long_loaded: int,
                                                                     pool: asyncpg.Pool) -> None:
    """The ingest writes the long variants after the short ones (beacon/vcf.py `_read`), so that
    those a range meets share a page or two instead of each lying among the short rows."""
    partition = await pool.fetchval("SELECT partition_table FROM datasets WHERE id = $1",
                                    LONG_DATASET)
    stored = await pool.fetch(f'SELECT (ctid::text::point)[0]::int AS page, start_pos, '
                              f'end_pos - start_pos > $1 AS long FROM "{partition}" '
                              f'ORDER BY ctid', LONG_VARIANT)
    assert [r["long"] for r in stored] == sorted(r["long"] for r in stored)
    held = [r for r in stored if r["long"]]
    assert len(held) == len(LONG_SPANS)
    assert [r["start_pos"] for r in held] == sorted(r["start_pos"] for r in held)
    assert len({r["page"] for r in held}) <= 2 < len({r["page"] for r in stored})


async def test_long_variants_are_counted_from_their_index_alone(long_loaded: int,
                                                                pool: asyncpg.Pool) -> None:
    """A range count reads the long variants covering its start from their GiST alone, no
    row fetched: the index carries every column the count asks of them (migration 0015).
    Once VACUUM has marked the pages all-visible, as autovacuum does after an ingest."""
    partition = await pool.fetchval("SELECT partition_table FROM datasets WHERE id = $1",
                                    LONG_DATASET)
    await pool.execute(f'VACUUM "{partition}"')
    point = next(x for x in range(0, LONG_WINDOW[1], 10_000)
                 if sum(r.start < x - LONG_VARIANT and r.end > x for r in LONG_SPANS) >= 2)
    key, args = store.count_query(range_query(point, point + 1), [LONG_DATASET], "1",
                                  long_loaded, 1)
    async with pool.acquire() as conn, conn.transaction():
        # the planner would read a table this small whole; what is asked is whether it can
        await conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN (ANALYZE, COSTS OFF) " + store._lone_sql(key.conditions, key.join,
                                                               key.aggregates, key.bins),
            *args))
    assert f"Index Only Scan using {partition}_long" in plan, plan
    assert "Heap Fetches: 0" in plan, plan
    found = await store.count_batch(pool, key, [args])
    assert found[0][LONG_DATASET].count == len(long_overlapping(point, point + 1))


@EXAMPLES
@given(query=long_ranges())
async def test_long_range_individuals_hits(long_loaded: int, pool: asyncpg.Pool,
                                           query: tuple[int, int]) -> None:
    """The individuals' hits (bit_or of the matched variants' carrier bits, no filter)
    are the samples carrying any overlapping variant."""
    start, end = query
    conditions, args = store.variant_conditions(range_query(start, end), [LONG_DATASET], "1",
                                                long_loaded, 1)
    found = await individuals_store.count(pool, Selection(conditions, (), args, "q", ()))
    carriers = set().union(*(c for r, c in zip(LONG_ROWS, LONG_CARRIERS)
                             if r.start < end and r.end > start))
    assert found.get(LONG_DATASET, (0,))[0] == len(carriers), query


async def test_threshold_boundary(long_loaded: int, node: ClientSession,
                                  pool: asyncpg.Pool) -> None:
    """Variants of length LONG_VARIANT - 1 .. + 2 are found from every base they cover to
    their last, and not from the base after it: the btree's reach (LONG_VARIANT bases left)
    and the GiST's predicate (longer than LONG_VARIANT) meet without a gap. The parent's
    index (migration 0008) has the store's threshold, and the ingest's own index on its
    staging table is the one the partition has: ATTACH adopted it, built no second one."""
    definition = await pool.fetchval(
        "SELECT pg_get_indexdef('variants_long'::regclass)")
    assert definition.endswith(f"WHERE ((end_pos - start_pos) > {LONG_VARIANT})"), definition
    adopted = await pool.fetch(
        "SELECT i.inhparent::regclass::text FROM pg_index x JOIN pg_class c ON c.oid = "
        "x.indexrelid JOIN pg_am a ON a.oid = c.relam LEFT JOIN pg_inherits i ON i.inhrelid = "
        "x.indexrelid WHERE x.indrelid = (SELECT partition_table::regclass FROM datasets "
        "WHERE id = $1) AND a.amname = 'gist'", LONG_DATASET)
    assert [r[0] for r in adopted] == ["variants_long"]
    boundary = [r for r in LONG_ROWS if r.end - r.start in BOUNDARY]
    assert {r.end - r.start for r in boundary} == set(BOUNDARY)
    for row in boundary:
        for start in (row.start, row.end - LONG_VARIANT, row.end - 2, row.end - 1, row.end):
            for width in (1, 3):
                if start < row.start:
                    continue
                params = {"referenceName": "1", "start": str(start), "end": str(start + width)}
                expected = long_overlapping(start, start + width)
                assert (row in expected) == (start < row.end)
                assert await count(node, params) == len(expected), (row, params)


# --- wide ranges: bins added up, edges and long variants read ----------------------------------
# A range count without an allele floor that covers BINNED_FROM whole bins or more adds up
# `variant_bins` for them and reads the variants at its edges and the long ones alone
# (beacon/store.py `_binned`). Two datasets, dense across 13 bins: one with variants of every
# length (around the long threshold, and SVs of 5 kb and 40 kb), starting on and around the
# bins' edges; one with short variants only (its longest 41 bases, so ranges take the short
# rule for how far left to read). Every answer is checked against the brute force of the
# text and against plain SQL for the rarest.

BIN = 1 << store.BIN_BITS
BINNED_SEED = 20261201
BINNED_BINS = 13
BINNED, BINNED_SHORT = "GDI-FI-BINS-001", "GDI-FI-BINS-002"


def make_binned_vcf(seed: int, *, short_only: bool) -> str:
    rng = random.Random(seed)
    records: list[tuple[int, str, str, str]] = []

    def bases(n: int) -> str:
        return "".join(rng.choice(BASES) for _ in range(n))

    for _ in range(1_200):
        if rng.random() < 0.4:            # on a bin's edge, give or take a few bases (1-based)
            pos = max(rng.randint(1, BINNED_BINS) * BIN + rng.randint(-3, 3), 1)
        else:
            pos = rng.randint(1, BINNED_BINS * BIN)
        kind = rng.random()
        if kind < 0.6:
            ref = bases(1)
            records.append((pos, ref, _other_base(rng, ref), "."))
        elif kind < 0.85 or short_only:
            ref = bases(rng.randint(1, 40) + 1)
            records.append((pos, ref, ref[0], "."))
        elif kind < 0.95:
            ref = bases(rng.choice(BOUNDARY))
            records.append((pos, ref, ref[0], "."))
        else:
            end = pos - 1 + rng.choice((5_000, 40_000))
            records.append((pos, bases(1), "<DEL>", f"END={end};SVTYPE=DEL"))
    lines = [HEADER.replace("\tS1\tS2\n", "".join(f"\tS{i}" for i in range(LONG_SAMPLES))
                            + "\n")]
    # a variant drawn twice is one record (ingest refuses two)
    for pos, ref, alt, info in sorted(dict.fromkeys(records), key=lambda r: r[0]):
        # rare ones rare (one carrier in 300 variants, two in 100), so that the rarest of a
        # range differs from range to range
        carried = rng.choices((1, 2, 3, 4, 5, 6), weights=(1, 3, 74, 74, 74, 74))[0]
        calls = ["0/0"] * LONG_SAMPLES
        for sample in rng.sample(range(LONG_SAMPLES), carried):
            calls[sample] = rng.choice(("0/1", "1/1"))
        lines.append(f"1\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t{info}\tGT\t" + "\t".join(calls) + "\n")
    return "".join(lines)


BINNED_TEXT = {BINNED: make_binned_vcf(BINNED_SEED, short_only=False),
               BINNED_SHORT: make_binned_vcf(BINNED_SEED + 1, short_only=True)}
BINNED_ROWS = {dataset: rows_of(text) for dataset, text in BINNED_TEXT.items()}
BINNED_CARRIERS = [len(c) for c in carriers_of(BINNED_TEXT[BINNED])]


@pytest.fixture
async def binned_loaded(db_url: str, pool: asyncpg.Pool, tmp_path: Path
                        ) -> AsyncIterator[dict[str, int]]:
    """Both datasets, PUBLIC; yields each one's longest variant."""
    for dataset, text in BINNED_TEXT.items():
        path = write_vcf_text(tmp_path / f"{dataset}.vcf", text)
        await ingest(db_url, IngestRequest(path, dataset, GRCH38, AccessLevel.PUBLIC, dataset,
                                           workers=1))
    yield dict(await pool.fetch("SELECT id, max_variant_length FROM datasets WHERE id = ANY($1)",
                                list(BINNED_TEXT)))


@st.composite
def binned_ranges(draw: st.DrawFn) -> tuple[int, int]:
    """(S, E): each end on a bin's edge give or take a few bases, or anywhere in the data;
    from one base to every bin."""
    on_edge = st.builds(lambda k, shift: max(k * BIN + shift, 0),
                        st.integers(0, BINNED_BINS + 1), st.integers(-3, 3))
    anywhere = st.integers(0, (BINNED_BINS + 1) * BIN)
    start = draw(st.one_of(on_edge, anywhere))
    end = draw(st.one_of(on_edge, anywhere, st.integers(start + 1, start + 5 * BIN)))
    return start, max(end, start + 1)


async def _plainly(pool: asyncpg.Pool, dataset: str, start: int, end: int) -> store.Matches | None:
    """The count and the rarest of every overlap, by plain SQL: no bins, no index rules."""
    n, rarest = await pool.fetchrow(
        "SELECT count(*), min(coalesce(carriers, ceil(ac / 2.0)::int, 0)) FROM variants "
        "WHERE dataset_id = $1 AND chromosome = '1' AND start_pos < $2 AND end_pos > $3",
        dataset, end, start)
    return store.Matches(n, rarest) if n else None


def test_binned_data_spans_the_bins_and_the_threshold() -> None:
    everything, short = BINNED_ROWS[BINNED], BINNED_ROWS[BINNED_SHORT]
    assert {r.start >> store.BIN_BITS for r in everything} >= set(range(1, BINNED_BINS))
    assert sum(r.start % BIN in (0, 1, BIN - 1) for r in everything) >= 20
    assert {r.end - r.start for r in everything} >= {LONG_VARIANT, LONG_VARIANT + 1, 40_000}
    assert max(r.end - r.start for r in short) <= 41 < LONG_VARIANT
    rarest = {min((c for c, r in zip(BINNED_CARRIERS, everything)
                   if r.start >> store.BIN_BITS == k), default=None)
              for k in range(BINNED_BINS)}
    assert {1, 2, 3} <= rarest


@EXAMPLES
@given(query=binned_ranges())
async def test_wide_range_counts_add_up_bins_and_edges(binned_loaded: dict[str, int],
                                                       pool: asyncpg.Pool,
                                                       query: tuple[int, int]) -> None:
    """Count and rarest, per dataset, asked of each alone and of both at once, equal the
    brute force's and plain SQL's; the bins are used exactly when the range covers
    BINNED_FROM of them whole."""
    start, end = query
    whole = (end >> store.BIN_BITS) - -(-start >> store.BIN_BITS)
    for datasets in ([BINNED], [BINNED_SHORT], [BINNED, BINNED_SHORT]):
        span = max(binned_loaded[d] for d in datasets)
        key, args = store.count_query(range_query(start, end), datasets, "1", span, 1)
        assert bool(key.bins) == (whole >= store.BINNED_FROM), (query, key)
        found = (await store.count_batch(pool, key, [args]))[0]
        for dataset in datasets:
            expected = [r for r in BINNED_ROWS[dataset] if r.start < end and r.end > start]
            assert (found[dataset].count if dataset in found else 0) == len(expected), \
                (query, dataset)
            assert found.get(dataset) == await _plainly(pool, dataset, start, end), \
                (query, dataset)


@EXAMPLES
@given(queries=st.lists(binned_ranges(), min_size=2, max_size=6))
async def test_wide_ranges_counted_in_one_batch(binned_loaded: dict[str, int],
                                                pool: asyncpg.Pool,
                                                queries: list[tuple[int, int]]) -> None:
    """Binned members of one batch (the statement's arrays) get what each gets alone."""
    span = binned_loaded[BINNED]
    members = [store.count_query(range_query(s, e), [BINNED], "1", span, 1) for s, e in queries]
    binned = [(q, args) for q, (key, args) in zip(queries, members) if key.bins]
    if len(binned) < 2:
        return
    key = next(k for k, _ in members if k.bins)
    found = await store.count_batch(pool, key, [args for _, args in binned])
    for ((s, e), _), got in zip(binned, found):
        assert got.get(BINNED) == await _plainly(pool, BINNED, s, e), (s, e)


async def test_bins_only_without_a_floor_and_with_each_version(binned_loaded: dict[str, int],
                                                                pool: asyncpg.Pool, db_url: str,
                                                                tmp_path: Path) -> None:
    """An allele floor, a caller's tally or any other condition counts every match plainly;
    a new version's bins replace the old ones (the same dataset loaded from the other text
    answers as that text says), and the migration that made the table for datasets already
    loaded counts them by the store's own rule."""
    wide = range_query(0, BINNED_BINS * BIN)
    span = binned_loaded[BINNED]
    assert store.count_query(wide, [BINNED], "1", span, 1)[0].bins
    assert not store.count_query(wide, [BINNED], "1", span, Floor(5))[0].bins
    assert not store.count_query(wide, [BINNED], "1", span, Floor(1),
                                 tally=losses.tally("ivan", Floor(5, 5, 1.5)))[0].bins
    for other in ({"alternate_bases": "G"}, {"variant_types": frozenset({"DEL"})},
                  {"min_length": 2}):
        assert not store.count_query(dataclasses.replace(wide, **other), [BINNED], "1", span,
                                     1)[0].bins
    path = write_vcf_text(tmp_path / "again.vcf", BINNED_TEXT[BINNED])
    await ingest(db_url, IngestRequest(path, BINNED_SHORT, GRCH38, AccessLevel.PUBLIC,
                                       BINNED_SHORT, workers=1))
    key, args = store.count_query(wide, [BINNED_SHORT], "1", span, 1)
    found = (await store.count_batch(pool, key, [args]))[0][BINNED_SHORT]
    assert found.count == len([r for r in BINNED_ROWS[BINNED] if r.start < BINNED_BINS * BIN])
    migration = (Path(store.__file__).parent / "migrations" / "0014_variant_bins.sql").read_text()
    assert f"start_pos >> {store.BIN_BITS}" in migration
    assert f"end_pos - start_pos <= {LONG_VARIANT}" in migration


# --- alleles asked as a VCF spells them: trimmed as ingest trims them ---------------------------
#
# A VCF, gnomAD or ClinVar writes alleles padded (`1 1000 ACGT ACG`), and ingest stores them
# trimmed (the deletion GT>G at 1001). A sequence query copying the file's spelling names that
# variant and must find it, GET and POST, and a variantInternalId so spelt too; an `N`, an
# ALT alone and a range keep matching the stored alleles as written. The expected rows are
# trimmed by tests/vcf_oracle.py's own code, not beacon/vcf.py's.

PADDED_SEED = 20260115
PADDED = "GDI-FI-PAD-001"


def _edited(rng: random.Random, ref: str) -> str:
    """REF with one substitution, deletion or insertion inside it: the ALT of a padded
    spelling, whose shared prefix and suffix ingest trims."""
    at = rng.randrange(len(ref))
    kind = rng.choice(("sub", "del", "ins")) if len(ref) > 1 else rng.choice(("sub", "ins"))
    if kind == "sub":
        return ref[:at] + _other_base(rng, ref[at]) + ref[at + 1:]
    if kind == "del":
        at = max(at, 1)
        return ref[:at] + ref[at + rng.randint(1, len(ref) - at):]
    return ref[:at + 1] + "".join(rng.choice(BASES) for _ in range(rng.randint(1, 4))) + ref[at + 1:]


def make_padded_vcf(seed: int) -> tuple[str, list[tuple[int, str, list[str]]]]:
    """A VCF of records written with context both sides (1-4 ALTs each, each trimming to a
    variant of its own), and its records as (POS, REF, ALTs)."""
    rng = random.Random(seed)
    genome = "".join(rng.choice(BASES) for _ in range(GENOME_LENGTH))
    records: list[tuple[int, str, list[str]]] = []
    keys: set[tuple[int, str, str]] = set()
    for pos in sorted(rng.sample(range(*WINDOW), 120)):
        ref = genome[pos - 1:pos - 1 + rng.randint(1, 8)]
        alts: list[str] = []
        for _ in range(rng.randint(1, 4)):
            alt = _edited(rng, ref)
            key = _trim(pos, ref, alt)
            if alt != ref and alt not in alts and key not in keys:
                alts.append(alt)
                keys.add(key)
        if alts:
            records.append((pos, ref, alts))
    # sample i carries ALT i + 1: each ALT is carried (one nobody carries is no variant)
    lines = [HEADER.replace("\tS1\tS2", "\tS1\tS2\tS3\tS4")]
    lines += [f"1\t{pos}\t.\t{ref}\t{','.join(alts)}\t.\tPASS\t.\tGT\t"
              + "\t".join(f"0/{i + 1}" if i < len(alts) else "0/0" for i in range(4)) + "\n"
              for pos, ref, alts in records]
    return "".join(lines), records


PADDED_TEXT, PADDED_RECORDS = make_padded_vcf(PADDED_SEED)
PADDED_ROWS = [Row("1", p - 1, p - 1 + len(r), r, a) for p, r, a in
               (_trim(pos, ref, alt) for pos, ref, alts in PADDED_RECORDS for alt in alts)]


@pytest.fixture
async def padded_loaded(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> str:
    path = write_vcf_text(tmp_path / "padded.vcf", PADDED_TEXT)
    report = await ingest(db_url, IngestRequest(path, PADDED, GRCH38, AccessLevel.PUBLIC,
                                                "Padded alleles", workers=1))
    assert report.rows == len(PADDED_ROWS)
    return PADDED


def test_padded_data_needs_trimming() -> None:
    """Most spellings differ from what is stored, some of them at another start."""
    written = {(pos - 1, ref, alt) for pos, ref, alts in PADDED_RECORDS for alt in alts}
    stored = {(r.start, r.ref, r.alt) for r in PADDED_ROWS}
    assert len(PADDED_ROWS) >= 150
    assert len(written - stored) >= len(written) * 0.6
    assert sum(len(set(r.ref) | set(r.alt)) > 1 and len(r.ref) != len(r.alt)
               for r in PADDED_ROWS) >= 30
    assert {r.start for r in PADDED_ROWS} - {pos - 1 for pos, _, _ in PADDED_RECORDS}


async def _posted(node: ClientSession, parameters: dict[str, Any]) -> list[Row]:
    response = await node.post("/api/g_variants", json={
        "meta": {"apiVersion": "v2.0"},
        "query": {"requestParameters": parameters, "requestedGranularity": "record",
                  "pagination": {"skip": 0, "limit": 1000}}})
    body = await response.json()
    assert response.status == 200, (parameters, body)
    assert body["meta"]["receivedRequestSummary"]["requestParameters"] == {
        "g_variant": parameters}
    return sorted(Row("1", r["variation"]["location"]["interval"]["start"]["value"],
                      r["variation"]["location"]["interval"]["end"]["value"],
                      r["variation"]["referenceBases"], r["variation"]["alternateBases"])
                  for s in body["response"]["resultSets"] for r in s["results"])


async def test_a_sequence_query_in_the_files_spelling_finds_the_stored_variant(
        padded_loaded: str, node: ClientSession) -> None:
    """Every ALT of every record, asked as the record spells it (start POS - 1, REF, ALT),
    GET and POST, finds exactly the variant its trimming names, as does its variantInternalId
    so spelt, and the request summary repeats what was asked; asked in lower case and in the
    stored spelling it finds the same."""
    for pos, ref, alts in PADDED_RECORDS:
        for alt in alts:
            p, r, a = _trim(pos, ref, alt)
            expected = [Row("1", p - 1, p - 1 + len(r), r, a)]
            asked = {"referenceName": "1", "start": pos - 1, "referenceBases": ref,
                     "alternateBases": alt}
            assert await _posted(node, {**asked, "start": [pos - 1]}) == expected, asked
            for spelt in (asked, {**asked, "referenceBases": ref.lower(),
                                  "alternateBases": alt.lower()},
                          {**asked, "start": p - 1, "referenceBases": r, "alternateBases": a}):
                params = {k: str(v) for k, v in spelt.items()}
                assert sorted(await records(node, params)) == expected, spelt
            body = await g_variants(node, {k: str(v) for k, v in asked.items()})
            assert body["meta"]["receivedRequestSummary"]["requestParameters"]["g_variant"][
                "referenceBases"] == ref
            response = await node.get(f"/api/g_variants/GRCh38:1:{pos - 1}:{ref}:{alt}")
            document = await response.json()
            assert response.status == 200, document
            assert [x["variantInternalId"] for s in document["response"]["resultSets"]
                    for x in s["results"]] == [f"GRCh38:1:{p - 1}:{r}:{a}"]


async def test_patterns_alternate_bases_alone_and_ranges_match_the_stored_alleles(
        padded_loaded: str, node: ClientSession) -> None:
    """What cannot name one variant's spelling is matched against the stored, trimmed
    alleles as before: an ALT without its REF (nothing to trim it with), alleles holding `N`
    (a pattern: `AN>GN` is a two-base MNP, not the SNV A>G) and a range's alleles (its start
    is not the variant's, so it cannot move)."""
    def stored_like(start: int, ref: str | None, alt: str) -> list[Row]:
        return sorted(row for row in PADDED_ROWS if row.start == start
                      and bases_match(alt, row.alt) and bases_match(ref, row.ref))
    rng = random.Random(PADDED_SEED)
    for pos, ref, alts in PADDED_RECORDS:
        for alt in alts:
            base = {"referenceName": "1", "start": str(pos - 1)}
            assert sorted(await records(node, {**base, "alternateBases": alt})) == \
                stored_like(pos - 1, None, alt), (pos, alt)
            at = rng.randrange(len(ref))
            pattern = ref[:at] + "N" + ref[at + 1:]
            assert sorted(await records(node, {**base, "referenceBases": pattern,
                                               "alternateBases": alt})) == \
                stored_like(pos - 1, pattern, alt), (pos, pattern, alt)
            window = {**base, "end": str(pos + len(ref)), "referenceBases": ref,
                      "alternateBases": alt}
            assert sorted(await records(node, window)) == sorted(
                row for row in PADDED_ROWS if row.start < pos + len(ref)
                and row.end > pos - 1 and row.ref == ref and row.alt == alt), window
