"""The ingest fuzzed, within bounds: a VCF and its phenopackets that load, mutated (a field, a
line, a header line, a byte; records out of order, the file cut short), written as plain
text, plain gzip, bgzip or bgzip with its index (or as BCF, with or without its index, its
bytes mutated), a quarter of them with a metadata file, mutated too (its aliases sometimes
another dataset's keys), then loaded through the real ingest into a
real PostgreSQL as the next version of one dataset. A throwaway fuzzer of this kind found
six defects in the ingest (tracebacks from the COPY, `list index out of range` as a reason,
allele counts above the allele number stored as frequencies above 1); this keeps the search
in the suite, and its first runs found four more (a bare ValueError or UnicodeDecodeError
from a worker, `[Errno 8] ... Exec format error` as a reason, an assay that is also a term
breaking the load with a duplicate key).

The oracle, for every round:
- the ingest loads, or it is refused with VcfProblem / PhenopacketProblem reading
  `file[:line]: reason` for the file given, in the node's words; never another exception;
- a refused ingest leaves the dataset's last version as it was (all or nothing);
- a loaded one holds only possible counts: 0 <= AC <= AN, per population too, with no
  more homozygous and hemizygous carriers than AC, and no variant ending before it starts;
  and no two datasets of the node share a grant key (an id or an alias);
- and the node answers it: the dataset, a count, a page of records and a count of
  individuals asked of a node with the default tiers, never a 5xx (a metadata file's
  `disclosure` override past PostgreSQL's integer once loaded, and made every variant query
  of its dataset a 500);
- and publishes it: its FAIR Data Point's catalog, dataset and distribution documents, in
  Turtle and JSON-LD, are there and parse as RDF. Half the rounds with a metadata file hold
  only a value RDF must escape or cannot write (a theme IRI with a space or a `>`, a contact
  email with a `"`): such a theme once loaded, and made those documents 500s.

A second test fuzzes a dataset's own `disclosure` rules alone, each loaded and asked the
same, or refused naming the rule: its first runs found a smooth floor's exp overflowing
PostgreSQL's float, and k + width its integer (500s).

Seeded like tests/test_fuzz_http.py (GDI_FUZZ_SEED, GDI_FUZZ_ROUNDS for a longer search);
every failing round is reported with the mutations that made it.
"""
from __future__ import annotations

import copy
import gzip
import json
import os
import random
import re
import traceback
from contextlib import AsyncExitStack
from itertools import count
from pathlib import Path
from typing import Any

import asyncpg
import pysam
import pysam.bcftools
import pytest
from aiohttp import ClientSession
from rdflib import Graph

from beacon.disclosure import RULE_MAX, Rules
from beacon.ingest import ingest
from beacon.phenopackets import PhenopacketProblem
from beacon.store import AccountingChange, KeyConflict, delete_dataset
from beacon.vcf import VcfProblem
from catalogue.metadata import DatasetMetadata, MetadataError, load_metadata
from node.app import create_app
from node.ingest_request import make_request
from node.settings import DisclosureSettings, Settings, TierSettings
from synthetic_data.phenopackets import write_phenopackets
from tests.conftest import node_database, serve_app
from tests.test_fuzz_http import PYTHON_WORDS, _paths, fuzz_rounds

DATASET = "GDI-FI-FUZZ-001"
ROUNDS = int(os.environ.get("GDI_FUZZ_ROUNDS", "120"))
SECONDS = 150                       # the test's bound in time, whatever ROUNDS says
SAMPLES = ["S1", "S2", "S3"]
HEADER = [
    "##fileformat=VCFv4.2",
    "##contig=<ID=chr1,length=248956422>",
    "##contig=<ID=chr2,length=242193529>",
    '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">',
    '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">',
    '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="Homozygous">',
    '##INFO=<ID=AC_FIN,Number=A,Type=Integer,Description="Allele count, FIN">',
    '##INFO=<ID=AN_FIN,Number=1,Type=Integer,Description="Allele number, FIN">',
    '##INFO=<ID=nhomalt_FIN,Number=A,Type=Integer,Description="Homozygous, FIN">',
    '##INFO=<ID=nhemi_FIN,Number=A,Type=Integer,Description="Hemizygous, FIN">',
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
    '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="Length">',
    '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
               *SAMPLES]),
]
RECORDS = [
    ("chr1\t100\t.\tA\tG\t.\tPASS\tAC=2;AN=6;nhomalt=0;AC_FIN=1;AN_FIN=4;nhomalt_FIN=0;"
     "nhemi_FIN=1\tGT\t0|1\t0/1\t0/0"),
    "chr1\t200\trs1\tAC\tA\t50\tPASS\tAC=1;AN=4\tGT\t0|0\t0|1\t./.",
    "chr1\t300\t.\tT\tTAA,C\t.\tPASS\tAC=2,1;AN=6\tGT\t1|2\t1|0\t0|0",
    "chr1\t400\t.\tG\t<DEL>\t.\tPASS\tEND=1400;SVLEN=-1000;SVTYPE=DEL;AC=1;AN=6\tGT\t0/1\t0/0\t0/0",
    "chr1\t2000\t.\tGATTACA\tG\t.\tq10\tAC=1;AN=5\tGT\t0/1\t0\t0/0",
    "chr2\t500\t.\tC\tT\t.\tPASS\tAC=6;AN=6;nhomalt=3;AC_FIN=4;AN_FIN=4\tGT\t1/1\t1|1\t1/1",
    "chr2\t900\t.\tA\t<DUP>\t.\tPASS\tEND=5000;SVTYPE=DUP;AC=1;AN=6\tGT\t0/0\t0/1\t0/0",
]
# What a field may become: numbers at their edges, alleles and genotypes that cannot be, INFO
# that contradicts itself, bytes that are not text.
FIELD_VALUES = [
    "", ".", "-1", "0", "1", "2147483647", "2147483648", "99999999999", "1.5", "A", "N",
    "ACGTN" * 60, "<DEL>", "<INS>", "<CNV>", "*", "<*>", "A,", ",A", "A,A", "chr99", "chrM",
    "X", "2", "2/2", "1/.", "0|1|1", "./1", "1", "0:0", ".|.", "GT:DP", "AC=9;AN=2", "AC=-1",
    "AN=.", "AN=0", "AC=1,1,1", "END=1", "END=-5", "END=99999999999", "SVLEN=abc",
    "SVLEN=0", "nhomalt=9", "AC_FIN=5;AN_FIN=4", "AN_FIN=-2", "nhemi_FIN=2", "nhemi_FIN=-1",
    "AC=1;AC=2", "é", "\x00", ";", "=", "AC", "PASS;q10", "S1",
]
OTHER = "GDI-FI-FUZZ-002"            # a second dataset, whose keys a mutation may take
THEME = "http://publications.europa.eu/resource/authority/data-theme/"
METADATA = {"identifier": DATASET, "title": "Fuzzed", "description": "A fuzzed dataset.",
            "accessLevel": "CONTROLLED", "assembly": "GRCh38", "country": "FI",
            "keywords": ["fuzz"], "aliases": ["FUZZ-1"], "publisher": "Fuzz Finland",
            "contactEmail": "fuzz@example.org",
            "themes": ["http://publications.europa.eu/resource/authority/data-theme/HEAL"]}
METADATA_VALUES = [OTHER, "FUZZ-2", [OTHER], ["FUZZ-2", "FUZZ-1"], [DATASET], "", " ", None,
                   "T\x00", ["a\x00"], {"x\x00": 1}, 0, -1, 2**63, [], {}, [None], True,
                   "GRCh37", "hg19", "chimp", "PUBLIC", "SECRET", "fi", "XX", "not an email",
                   "x" * 5000, ["http://example.org/theme"], "GDI-FI-FUZZ-1"]
# What RDF must escape in a literal, or cannot write in an IRI, where the metadata's FAIR Data
# Point documents write it (such a theme loaded, then every document showing it was a 500)
RDF_VALUES = {
    "themes": [[THEME + "HEAL", THEME + "HE AL"], [THEME + "HEAL", THEME + "HEAL>"],
               [THEME + "HEAL", THEME + "EDUC"], [THEME + "HEAL", THEME + 'HEAL"']],
    "contactEmail": ["fuzz>@example.org", 'fuzz@exa"mple.org', "fu zz@example.org",
                     "fuzz@example.org{x}"],
    "applicableLegislation": [["http://data.europa.eu/eli/reg/2025/327/oj x"]],
    "keywords": [['a "quoted"\n\\ line\u2028', '"""', "@en", "<x>"]],
    "title": ['"""', "a\\", "line\nbreak\r", "\u2028"],
    "contactName": ["<b>", '"x"'], "publisher": ["x\\", '"""']}
PHENOPACKET_VALUES = [None, "", "S1", "S9", 0, -1, 2**63, "P-1Y", "P30Y", "X:1", "NCIT:C16576",
                      "HP:\x00", "FEMALE", "UNKNOWN_SEX", "not a duration", [], {}, [None],
                      {"id": None}, {"id": "HP:0001250"}, True, 1.5]


def _write_vcf(text: str, folder: Path, form: str) -> Path:
    """`text` as a file of the given form (plain, gzip, bgzip, bgzip + index)."""
    if form == "plain":
        path = folder / "in.vcf"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        return path
    raw = text.encode("utf-8", "surrogateescape")
    if form == "gzip":
        path = folder / "in.vcf.gz"
        path.write_bytes(gzip.compress(raw))
        return path
    plain = folder / "in.vcf"
    plain.write_bytes(raw)
    path = folder / "in.vcf.gz"
    pysam.tabix_compress(str(plain), str(path), force=True)
    plain.unlink()
    if form == "indexed":
        try:
            pysam.tabix_index(str(path), preset="vcf", force=True)
        except (OSError, ValueError):       # unsorted, or not a VCF: then bgzip alone
            Path(f"{path}.tbi").unlink(missing_ok=True)
    return path


def _write_bcf(text: str, folder: Path, rng: random.Random, indexed: bool
               ) -> tuple[Path, str]:
    """`text` (a VCF that loads) written as BCF by htslib, then its records' bytes mutated
    (a byte changed, bytes dropped or put in) and compressed again, with a CSI index if
    `indexed` and htslib can still make one; what was mutated, for the report."""
    # BCF names a filter by its place in the header, so each must be declared there
    lines = text.splitlines()
    used = {name for line in lines if not line.startswith("#")
            for name in line.split("\t")[6].split(";")} - {"PASS", "."}
    declared = {line[len("##FILTER=<ID="):].split(",")[0] for line in lines
                if line.startswith("##FILTER=<ID=")}
    columns = next(n for n, line in enumerate(lines) if line.startswith("#CHROM"))
    lines[columns:columns] = [f'##FILTER=<ID={name},Description="{name}">'
                              for name in sorted(used - declared)]
    plain = folder / "base.vcf"
    plain.write_text("\n".join(lines) + "\n")
    raw_path = folder / "raw.bcf"
    with pysam.VariantFile(str(plain)) as source, pysam.VariantFile(
            str(raw_path), "wb0", header=source.header) as target:
        for record in source:
            target.write(record)
    data = bytearray(gzip.decompress(raw_path.read_bytes()))   # BGZF blocks, not compressed
    done = []
    for _ in range(rng.choice([1, 1, 2, 5])):
        at = rng.randrange(len(data))
        how = rng.random()
        if how < 0.6:
            data[at] = rng.randrange(256)
            done.append(f"byte {at} = {data[at]:#04x}")
        elif how < 0.8:
            width = rng.randrange(1, 40)
            del data[at:at + width]
            done.append(f"{width} bytes dropped at {at}")
        else:
            data[at:at] = rng.randbytes(rng.randrange(1, 16))
            done.append(f"bytes put in at {at}")
    mutated = folder / "mutated.bcf"
    mutated.write_bytes(data)
    path = folder / "in.bcf"
    pysam.tabix_compress(str(mutated), str(path), force=True)
    if indexed:
        try:
            pysam.bcftools.index("-f", str(path))
        except pysam.utils.SamtoolsError:       # htslib could not read it through: unindexed
            Path(f"{path}.csi").unlink(missing_ok=True)
    return path, ", ".join(done)


def _mutate_vcf(lines: list[str], rng: random.Random) -> tuple[list[str], str]:
    """`lines` with one mutation, mostly of a record (a header broken is refused before any
    record is read); what it was, for the report."""
    records = [n for n, line in enumerate(lines) if not line.startswith("#")]
    at = rng.choice(records) if records and rng.random() < 0.8 else rng.randrange(len(lines))
    how = rng.choice(["field", "field", "field", "field", "drop_field", "add_field",
                      "drop_line", "repeat_line", "swap", "header", "sample"])
    fields = lines[at].split("\t")
    if how == "field":
        index = rng.randrange(len(fields))
        fields[index] = rng.choice(FIELD_VALUES)
        lines[at] = "\t".join(fields)
        return lines, f"line {at + 1} field {index + 1} = {fields[index]!r:.40}"
    if how == "drop_field":
        del fields[rng.randrange(len(fields))]
        lines[at] = "\t".join(fields)
    elif how == "add_field":
        fields.insert(rng.randrange(len(fields) + 1), rng.choice(FIELD_VALUES))
        lines[at] = "\t".join(fields)
    elif how == "drop_line":
        del lines[at]
    elif how == "repeat_line":
        lines.insert(at, lines[at])
    elif how == "swap" and at + 1 < len(lines):
        lines[at], lines[at + 1] = lines[at + 1], lines[at]
    elif how == "header" and any(line.startswith("##") for line in lines):
        at = rng.choice([n for n, line in enumerate(lines) if line.startswith("##")])
        lines[at] = (rng.choice(["", "##", "##INFO=<ID=AC>", "##contig=<ID=chr1>",
                                 "##INFO=<ID=AC,Number=A,Type=String,Description=\"x\">",
                                 "##INFO=<ID=END,Number=1,Type=Float,Description=\"x\">"])
                     if rng.random() < 0.7 else lines[at][: rng.randrange(len(lines[at]))])
    elif how == "sample" and any(line.startswith("#CHROM") for line in lines):
        header = next(n for n, line in enumerate(lines) if line.startswith("#CHROM"))
        columns = lines[header].split("\t")
        columns[rng.randrange(min(9, len(columns) - 1), len(columns))] = rng.choice(
            ["S1", "S4", "", "S 1"])
        lines[header] = "\t".join(columns)
        at = header
    return lines, f"{how} at line {at + 1}"


def _mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    """The file's text with a byte inserted, or cut short."""
    at = rng.randrange(len(text))
    if rng.random() < 0.5:
        inserted = rng.choice(["\x00", "\udcff", "\t", "\n", "\r", "#", " "])
        return text[:at] + inserted + text[at:], f"inserted {inserted!r} at {at}"
    return text[:at], f"cut at {at}"


CSV_BASE = [["id", "sex", "age", "country_of_birth", "diseases", "features"],
            ["S1", "female", "P61Y", "FI", "NCIT:C3117@P50Y;MONDO:0100096", "HP:0001250"],
            ["S2", "MALE", "P30Y", "SE", "", ""], ["S3", "", "", "", "ICD10:C18.2", ""]]


def _csv(rng: random.Random) -> tuple[str, str]:
    """The phenopackets as the CSV form (docs/beacon.md), one cell, row or column mutated."""
    rows = [list(row) for row in CSV_BASE]
    at, column = rng.randrange(len(rows)), rng.randrange(len(rows[0]))
    how = rng.choice(["cell", "cell", "cell", "drop_row", "repeat_row", "drop_column", "quote"])
    if how == "cell":
        rows[at][column] = str(rng.choice(PHENOPACKET_VALUES + CSV_VALUES))
    elif how == "drop_row":
        del rows[at]
    elif how == "repeat_row":
        rows.insert(at, rows[at])
    elif how == "drop_column":
        rows = [row[:column] + row[column + 1:] for row in rows]
    else:
        rows[at][column] = '"' + rows[at][column]
    return "".join(",".join(row) + "\n" for row in rows), f"csv {how} at {at},{column}"


CSV_VALUES = ["S1", "S4", "NCIT:C3117@", "NCIT:C3117@P-1Y", "@P30Y", ";;", "HP:0001250;x",
              "a,b", "other_sex", "XX", "fi", "P30Y@", "\x00", "é", " S1 ", "id"]


def _mutate_json(document: Any, rng: random.Random, values: list[Any] = PHENOPACKET_VALUES
                 ) -> tuple[Any, str]:
    """One place of a JSON document (not the root) replaced by one of `values`, or
    removed."""
    place = rng.choice(_paths(document)[1:])
    parent = document
    for step in place[:-1]:
        parent = parent[step]
    if rng.random() < 0.25:
        del parent[place[-1]]
        return document, f"removed {'/'.join(map(str, place))}"
    parent[place[-1]] = copy.deepcopy(rng.choice(values))
    return document, f"{'/'.join(map(str, place))} = {parent[place[-1]]!r:.40}"


RULE_NUMBERS = [RULE_MAX, RULE_MAX + 1, 2**63 - 1, 1e308, 0, -1, 1, 2, 6, 0.5, 1.5]
RULE_NONSENSE = [True, None, "5", [5], {}]
# The default tiers without their budgets, so that every round's questions reach the
# statements (a 429 would answer them first), unless the dataset's metadata sets one
UNBUDGETED = DisclosureSettings(**{tier: TierSettings(budget_per_window=0, budget_per_day=0)
                                   for tier in ("anonymous", "bona_fide")})
# What the node is asked of a dataset that loaded (the records' page and counts go through
# the dataset's rules for the anonymous tier: its floor, steps, noise, budget)
_RANGE = f"/api/g_variants?referenceName=1&start=0&end=100000&datasetIds={DATASET}"
QUESTIONS = [f"/api/datasets/{DATASET}", f"{_RANGE}&requestedGranularity=count",
             f"{_RANGE}&requestedGranularity=record",
             f"/api/individuals?requestedGranularity=count&datasetIds={DATASET}"]


def _rules(rng: random.Random) -> dict[str, Any]:
    """A metadata file's `disclosure` object: mostly the anonymous tier's (the tier the
    node is asked as), a rule or two at an edge (now and then of the wrong type, or not a
    rule), and now and then another tier, one that is not, or purposeRequired."""
    rules = [*Rules.__dataclass_fields__, "floor"]
    tiers = ["anonymous"] * 3 + ["bona_fide", "granted", "everyone", "purposeRequired"]
    chosen = {rng.choice(tiers) for _ in range(rng.choice([1, 1, 2]))}
    return {tier: (rng.choice([True, False, "yes"]) if tier == "purposeRequired" else
                   {rng.choice(rules): copy.deepcopy(rng.choice(
                       RULE_NUMBERS if rng.random() < 0.85 else RULE_NONSENSE))
                    for _ in range(rng.choice([1, 2]))})
            for tier in chosen}


async def _unanswered(node: ClientSession) -> list[str]:
    """The questions the node answered with a 5xx, after the dataset loaded."""
    problems = []
    for question in QUESTIONS:
        async with node.get(question) as response:
            if response.status >= 500:
                problems.append(f"GET {question} -> {response.status} "
                                f"{(await response.read())[:200]!r}")
    return problems


async def _unpublished(node: ClientSession) -> list[str]:
    """What of the loaded dataset its node's FAIR Data Point fails to publish: each document
    that shows it, in Turtle and in JSON-LD, must be there and be RDF that parses."""
    problems = []
    for path in ("/fdp/catalog/org.test.fuzz", f"/fdp/dataset/{DATASET}",
                 f"/fdp/distribution/{DATASET}"):
        for media, rdf_format in (("text/turtle", "turtle"), ("application/ld+json", "json-ld")):
            async with node.get(path, headers={"Accept": media}) as response:
                body = await response.read()
            if response.status != 200:
                problems.append(f"GET {path} ({media}) -> {response.status} {body[:200]!r}")
                continue
            try:
                Graph().parse(data=body, format=rdf_format)
            except Exception as exc:        # noqa: BLE001 -- what the oracle is for
                problems.append(f"GET {path} ({media}): not RDF that parses ({exc!s:.200})")
    return problems


async def _state(conn: asyncpg.Connection) -> tuple | None:
    """The dataset's version and everything stored of it that a refused ingest must keep."""
    row = await conn.fetchrow("SELECT version, variant_count, sample_count FROM datasets "
                              "WHERE id = $1", DATASET)
    if row is None:
        return None
    digest = await conn.fetchval(
        "SELECT md5(string_agg(concat_ws(',', chromosome, start_pos, end_pos, ref, alt, ac, "
        "an, carriers, info_populations), ';' ORDER BY chromosome, start_pos, ref, alt)) "
        "FROM variants WHERE dataset_id = $1", DATASET)
    people = await conn.fetchval("SELECT count(*) FROM individuals WHERE dataset_id = $1",
                                 DATASET)
    return (*row, digest, people)


async def _impossible(conn: asyncpg.Connection) -> list[str]:
    """Stored counts that cannot be, for the report."""
    rows = await conn.fetch(
        "SELECT chromosome, start_pos, end_pos, ref, alt, ac, an, info_populations "
        "FROM variants WHERE dataset_id = $1", DATASET)
    found = []
    for r in rows:
        counts = [(r["ac"], r["an"], 0, 0)] + [   # a count the file does not give is null
            (ac, an, hom or 0, hemi or 0)
            for ac, an, hom, hemi in json.loads(r["info_populations"] or "{}").values()]
        if r["end_pos"] < r["start_pos"] or any(
                ac is not None and (ac < 0 or an is None or ac > an or min(hom, hemi) < 0
                                    or hom + hemi > ac) for ac, an, hom, hemi in counts):
            found.append(str(dict(r)))
    keys: dict[str, str] = {}
    for row in await conn.fetch("SELECT id, metadata->'aliases' AS aliases FROM datasets"):
        aliases = json.loads(row["aliases"] or "[]")
        for key in {row["id"], *(a for a in aliases if isinstance(a, str))} if isinstance(
                aliases, list) else {row["id"]}:
            if keys.setdefault(key, row["id"]) != row["id"]:
                found.append(f"the key {key!r} of both {keys[key]} and {row['id']}")
    return found


def _refusal_problem(exc: Exception, vcf: Path, phenopackets: Path) -> str | None:
    """What is wrong with a refusal, if anything: it names the file given (and its line or
    record), then gives a reason in the node's words."""
    text = str(exc)
    named = re.match(rf"({re.escape(str(vcf))}|{re.escape(str(phenopackets))})(:\d+)?: \S",
                     text)
    if named is None:
        return f"does not start with the file given: {text!r:.300}"
    if PYTHON_WORDS.search(text):
        return f"in Python's words: {text!r:.300}"
    return None


@pytest.fixture
async def db_url(pg_server_url: str):
    async with node_database(pg_server_url) as url:
        yield url


async def test_mutated_vcfs_and_phenopackets_load_or_are_refused_cleanly(db_url, tmp_path):
    people = tmp_path / "base.json"
    write_phenopackets(people, SAMPLES, "FI", seed=7)
    base_people = json.loads(people.read_text())
    folder = tmp_path / "base"
    folder.mkdir()
    base = "\n".join(HEADER + RECORDS) + "\n"
    report = await ingest(db_url, make_request(_write_vcf(base, folder, "indexed"),
                                               DATASET, title="Fuzzed", workers=1,
                                               individuals=people))
    # the base loads, so mutations matter (its q10 record skipped: it fails FILTER)
    assert report.rows == 7 and report.phenopackets
    await ingest(db_url, make_request(_write_vcf(base, folder, "indexed"), OTHER, workers=1,
                                      metadata=DatasetMetadata.model_validate(
                                          {**METADATA, "identifier": OTHER,
                                           "aliases": ["FUZZ-2"]})))
    outcomes = {"loaded": 0, "refused": 0}
    rounds = count()
    conn = await asyncpg.connect(db_url)

    async def one(rng: random.Random) -> str | None:
        round_ = next(rounds)
        folder = tmp_path / f"r{round_}"
        folder.mkdir()
        # a third of the rounds on the sites-only form (INFO counts, populations' too)
        sites_only = rng.random() < 0.3
        lines = [line if line.startswith("##") else "\t".join(line.split("\t")[:8])
                 for line in HEADER + RECORDS] if sites_only else HEADER + RECORDS
        unmutated = lines
        lines, what = list(lines), ["sites only"] if sites_only else []
        # a quarter of the rounds with a metadata file, mutated; half of those with the VCF
        # as it loads, so that what the metadata alone does is stored or refused
        with_metadata = rng.random() < 0.25
        # half of those with only what RDF must escape or cannot write in the file, and
        # the VCF as it loads: the FAIR Data Point's documents are then what is fuzzed
        rdf = with_metadata and rng.random() < 0.5
        for _ in range(0 if rdf or (with_metadata and rng.random() < 0.5)
                       else rng.choice([1, 1, 1, 2, 3])):
            lines, done = _mutate_vcf(lines, rng)
            what.append(done)
        text = "\n".join(lines) + "\n"
        if rng.random() < 0.15:
            text, done = _mutate_text(text, rng)
            what.append(done)
        form = rng.choice(["plain", "gzip", "bgzip", "indexed", "BCF", "BCF indexed"])
        if form.startswith("BCF"):          # the bytes of a BCF of the lines that load
            what = ["sites only"] if sites_only else []
            vcf, done = _write_bcf("\n".join(unmutated) + "\n", folder, rng,
                                   indexed=form != "BCF")
            what.append(done)
        else:
            vcf = _write_vcf(text, folder, form)
        if rng.random() < 0.2:              # the CSV form instead of phenopackets
            phenopackets = folder / "people.csv"
            content, done = _csv(rng)
            what.append(done)
        else:
            phenopackets = folder / "people.json"
            document = copy.deepcopy(base_people)
            if rng.random() < 0.3:
                document, done = _mutate_json(document, rng)
                what.append(f"phenopackets {done}")
            content = json.dumps(document)
        if rng.random() < 0.05:
            content, done = _mutate_text(content, rng)
            what.append(f"individuals {done}")
        phenopackets.write_bytes(content.encode("utf-8", "surrogateescape"))
        metadata = None
        if rdf:
            document = copy.deepcopy(METADATA)
            key = rng.choice(sorted(RDF_VALUES))
            document[key] = rng.choice(RDF_VALUES[key])
            what.append(f"metadata {key} = {document[key]!r}")
            metadata = folder / "meta.json"
            metadata.write_text(json.dumps(document))
        elif with_metadata:
            document = copy.deepcopy(METADATA)
            if rng.random() < 0.3:          # the other dataset's keys, or its id
                document["aliases"] = rng.choice([[OTHER], ["FUZZ-2"], ["FUZZ-1", "FUZZ-2"]])
                what.append(f"metadata aliases = {document['aliases']}")
            if rng.random() < 0.5:          # the dataset's own rules, mostly a PUBLIC one's
                document["disclosure"] = _rules(rng)     # (whose questions they all answer)
                document["accessLevel"] = rng.choice(["PUBLIC"] * 3 + ["REGISTERED"])
                what.append(f"metadata {document['accessLevel']}, disclosure = "
                            f"{document['disclosure']}")
            for _ in range(rng.choice([0, 1, 1, 2])):
                document, done = _mutate_json(document, rng, METADATA_VALUES)
                what.append(f"metadata {done}")
            metadata = folder / "meta.json"
            metadata.write_text(json.dumps(document))
        before = await _state(conn)
        where = f"round {round_} ({form}; {'; '.join(what)})"
        problems: list[str] = []
        try:
            request = make_request(vcf, DATASET, title=None if metadata else "Fuzzed",
                                   workers=1,
                                   metadata=load_metadata(metadata) if metadata else None,
                                   individuals=None if sites_only else phenopackets)
            try:
                await ingest(db_url, request)
            except AccountingChange as exc:
                # read otherwise than the version in place (a sites-only round after one
                # with genotypes, or the other way): refused before the load, the dataset as
                # it was; removed, as the refusal says, the file is what is tried
                if PYTHON_WORDS.search(str(exc)) or f"gdi-node remove {DATASET}" not in str(exc):
                    problems.append(f"{where}: refusal in Python's words: {exc!s:.300}")
                if await _state(conn) != before:
                    problems.append(f"{where}: refused ({exc}), but the dataset changed")
                assert await delete_dataset(conn, DATASET)
                before = await _state(conn)
                await ingest(db_url, request)
        except (MetadataError, KeyConflict) as exc:     # the metadata file's
            outcomes["refused"] += 1
            if not str(exc).strip() or PYTHON_WORDS.search(str(exc)):
                problems.append(f"{where}: refusal in Python's words: {exc!s:.300}")
            if await _state(conn) != before:
                problems.append(f"{where}: refused ({exc}), but the dataset changed")
        except (VcfProblem, PhenopacketProblem) as exc:
            outcomes["refused"] += 1
            problem = _refusal_problem(exc, vcf, phenopackets)
            if problem:
                problems.append(f"{where}: refusal {problem}")
            if await _state(conn) != before:
                problems.append(f"{where}: refused ({exc}), but the dataset changed")
        except Exception as exc:        # noqa: BLE001 -- what the oracle is for
            raised = " < ".join(f"{Path(f.filename).name}:{f.lineno}"
                                for f in traceback.extract_tb(exc.__traceback__)[::-1][:4])
            problems.append(f"{where}: {type(exc).__name__}: {exc!s:.300} (raised at "
                            f"{raised})")
        else:
            outcomes["loaded"] += 1
            problems += [f"{where}: stored {row}" for row in await _impossible(conn)]
            problems += [f"{where}: {problem}" for problem in await _unanswered(node)]
            problems += [f"{where}: {problem}" for problem in await _unpublished(node)]
        return "\n".join(problems) or None

    async with AsyncExitStack() as stack:
        settings = Settings(database_url=db_url, data_dir=tmp_path / "node",
                            beacon_id="org.test.fuzz", disclosure=UNBUDGETED)
        node = await stack.enter_async_context(ClientSession(
            base_url=await serve_app(stack, create_app(settings))))
        try:
            await fuzz_rounds("ingest", ROUNDS, one, SECONDS)
        finally:
            await conn.close()
    assert outcomes["loaded"] and outcomes["refused"], outcomes    # both paths were fuzzed


async def test_a_datasets_own_rules_load_and_answer_or_are_refused(db_url, tmp_path):
    """A metadata file's `disclosure` object fuzzed alone (the VCF and the rest of the file
    as they load): refused at ingest naming `disclosure.`, or loaded and answered, every
    question of QUESTIONS below a 5xx. Its rules at PostgreSQL's integer and past it once
    loaded and made every variant query of the dataset a 500."""
    folder = tmp_path / "base"
    folder.mkdir()
    vcf = _write_vcf("\n".join(HEADER + RECORDS) + "\n", folder, "indexed")
    outcomes = {"loaded": 0, "refused": 0}
    rounds = count()

    async def one(rng: random.Random) -> str | None:
        document = {**METADATA, "accessLevel": rng.choice(["PUBLIC"] * 3 + ["REGISTERED"]),
                    "disclosure": _rules(rng)}
        path = tmp_path / f"meta-{next(rounds)}.json"
        path.write_text(json.dumps(document))
        where = f"disclosure {document['disclosure']} ({document['accessLevel']})"
        try:
            request = make_request(vcf, DATASET, workers=1, metadata=load_metadata(path))
        except MetadataError as exc:
            outcomes["refused"] += 1
            return (None if "disclosure." in str(exc) and not PYTHON_WORDS.search(str(exc))
                    else f"{where}: refused in other words: {exc}")
        await ingest(db_url, request)
        outcomes["loaded"] += 1
        return "\n".join(f"{where}: {problem}" for problem in await _unanswered(node)) or None

    async with AsyncExitStack() as stack:
        settings = Settings(database_url=db_url, data_dir=tmp_path / "node",
                            beacon_id="org.test.fuzz", disclosure=UNBUDGETED)
        node = await stack.enter_async_context(ClientSession(
            base_url=await serve_app(stack, create_app(settings))))
        await fuzz_rounds("ingest:rules", ROUNDS, one, SECONDS)
    assert outcomes["loaded"] and outcomes["refused"], outcomes    # both paths were fuzzed
