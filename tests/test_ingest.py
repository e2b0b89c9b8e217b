"""Ingest against a real PostgreSQL with generator-made and hand-made VCFs: what is stored
equals an independent reading of the file, re-ingest swaps atomically, and every kind of bad
input stops with file, line and reason while the previous version stays queryable."""
from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pysam
import pytest

from auth.access import AccessLevel
from beacon import store, vcf
from beacon.assemblies import GRCH37, GRCH38
from beacon.ingest import IngestReport, IngestRequest, ingest
from beacon.limits import ALLELE_BASES
from beacon.phenopackets import PhenopacketProblem
from beacon.store import LONG_VARIANT, AccountingChange, KeyConflict
from beacon.vcf import (
    ChunkStats,
    ReadOptions,
    Region,
    VcfProblem,
    inspect_vcf,
    read_rows,
    row_columns,
)
from catalogue.metadata import DatasetMetadata, MetadataError
from node.ingest_request import make_request
from synthetic_data.vcf import PlantedVariant, VcfSpec, write_vcf
from tests.conftest import node_database, write_vcf_text
from tests.vcf_oracle import expected_rows

DATASET = "GDI-FI-SYN-001"
PLANTED = (
    PlantedVariant("1", 1_000_000, "ACGT", ("A", "TCGT", "*"), ("0|1", "2|3", "1|1", "0|0")),
    PlantedVariant("2", 5_000_000, "C", ("<DEL>",), ("0|1", "0|0", "0|0", "1|1"),
                   {"END": 5_004_000, "SVLEN": -4000, "SVTYPE": "DEL"}),
    PlantedVariant("2", 6_000_000, "G", ("<DUP>",), ("0|1", "0|0", "0|0", "0|0"),
                   {"END": 6_250_000, "SVLEN": 250_000, "SVTYPE": "DUP"}),
    PlantedVariant("X", 3_000_000, "T", ("TAAC",), ("0|1", "./.", "0|0", "1|1")),
    PlantedVariant("MT", 100, "G", ("A",), ("1", "0", ".", "1")),
)
STORED = """SELECT chromosome, start_pos, end_pos, ref, alt, variant_type, ac, an, carriers
            FROM variants WHERE dataset_id = $1"""
HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
"""
GOOD_LINES = "".join(f"chr1\t{p}\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\n" for p in (100, 200, 300))


def _header_after_chrom(path: Path, form: str) -> Path:
    """HEADER with its FORMAT line moved below the #CHROM line (to line 5): plain text,
    gzip (which ingest recompresses and indexes) or bgzipped and indexed."""
    format_line = '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    text = HEADER.replace(format_line, "") + format_line + GOOD_LINES
    if form == "plain":
        return _write(path, text)
    if form == "gzip":
        zipped = path.with_name(path.name + ".gz")
        zipped.write_bytes(gzip.compress(text.encode()))
        return zipped
    return write_vcf_text(path, text)


@pytest.fixture
async def db_url(pg_server_url: str):
    """Every test here ingests: a database with the node's schema."""
    async with node_database(pg_server_url) as url:
        yield url


def _request(path: Path, dataset_id: str = DATASET, **changes: object) -> IngestRequest:
    base = {"path": path, "dataset_id": dataset_id, "assembly": GRCH38,
            "access_level": AccessLevel.PUBLIC, "title": "Test dataset", "workers": 2}
    base.update(changes)
    return IngestRequest(**base)  # type: ignore[arg-type]


async def _stored(db_url: str, dataset_id: str = DATASET) -> list[tuple]:
    conn = await asyncpg.connect(db_url)
    try:
        return sorted((tuple(r) for r in await conn.fetch(STORED, dataset_id)), key=repr)
    finally:
        await conn.close()


async def _state(db_url: str) -> tuple[list[tuple], list[str]]:
    """Dataset rows and every variants_* table (with the variant_bins partitions), to prove
    nothing changed or leaked."""
    conn = await asyncpg.connect(db_url)
    try:
        datasets = [tuple(r) for r in await conn.fetch(
            "SELECT id, version, variant_count, partition_table FROM datasets ORDER BY id")]
        tables = [r[0] for r in await conn.fetch(
            "SELECT relname FROM pg_class WHERE relname LIKE 'variants%' AND relkind = 'r' "
            "ORDER BY 1")]
        return datasets, tables
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def info_vcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = VcfSpec(tmp_path_factory.mktemp("vcf") / "info.vcf.gz", records=4000, samples=4,
                   seed=11, planted=PLANTED)
    return write_vcf(spec).path


@pytest.fixture(scope="module")
def gt_only_vcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = VcfSpec(tmp_path_factory.mktemp("vcf") / "gt.vcf.gz", records=3000, samples=4,
                   seed=12, chr_prefix=False, info_counts=False, planted=PLANTED)
    return write_vcf(spec).path


async def test_info_file_round_trips_every_variant_class(db_url, info_vcf):
    report = await ingest(db_url, _request(info_vcf))
    stored = await _stored(db_url)
    assert stored == expected_rows(info_vcf)
    assert report.records == 4000 and report.rows == len(stored)
    assert {row[5] for row in stored} >= {"SNP", "MNP", "INS", "DEL", "DUP"}
    assert report.skipped_alleles > 0                     # '*' alleles are not variants


SITES_HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">
##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="Homozygous carriers">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
"""


def test_sites_file_reads_biallelic_sequence_alleles_as_the_general_path_does(tmp_path):
    """A sites-only file with INFO counts takes the reader's fast path for a biallelic
    allele in upper-case bases: trimmed, typed and counted as `_rows_of` would. Lower-case
    bases and an allele ending past the chromosome go the general way: the same row, and
    the same error."""
    lines = ["chr1\t100\t.\tACGT\tA\t.\t.\tAC=3;AN=10;nhomalt=1",
             "chr1\t200\t.\tCTG\tCAG\t.\t.\tAC=2;AN=10;nhomalt=0",
             "chr1\t300\t.\tTC\tGA\t.\t.\tAC=1;AN=10",
             "chr1\t400\t.\tacg\ta\t.\t.\tAC=4;AN=10;nhomalt=2",
             "chr1\t500\t.\tG\tGTTA\t.\t.\tAC=5;AN=10;nhomalt=0"]
    path = write_vcf_text(tmp_path / "sites.vcf", SITES_HEADER + "\n".join(lines) + "\n")
    layout = inspect_vcf(path, GRCH38)
    options = ReadOptions(use_genotypes=False, samples_available=False)
    stats = ChunkStats()
    rows = [row[:10] for row in read_rows(layout, None, options, stats)]
    assert rows == [("1", 99, 103, "ACGT", "A", "DEL", 3, 3, 10, 2),
                    ("1", 200, 201, "T", "A", "SNP", 1, 2, 10, 2),
                    ("1", 299, 301, "TC", "GA", "MNP", 2, 1, 10, None),
                    ("1", 399, 402, "ACG", "A", "DEL", 2, 4, 10, 2),
                    ("1", 499, 500, "G", "GTTA", "INS", 3, 5, 10, 5)]
    assert stats.max_length == 4 and stats.rows == 5
    beyond = write_vcf_text(tmp_path / "beyond.vcf", SITES_HEADER
                            + "chr1\t248956421\t.\tACG\tA\t.\t.\tAC=1;AN=10;nhomalt=0\n")
    with pytest.raises(VcfProblem, match=r"beyond\.vcf\.gz:7: variant end 248956423 is "
                                         r"beyond the end of 1"):
        list(read_rows(inspect_vcf(beyond, GRCH38), None, options, ChunkStats()))


def test_sites_file_reads_multiallelic_sequence_alleles_as_the_general_path_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-allelic record of ALTs in upper-case bases with INFO counts takes the
    reader's inlined path (`vcf._counted_rows`): the same rows, counts and stats as the
    general path gives the same file in lower case, and the same problems; a record that
    path cannot read whole (a `*`, a symbolic ALT, a count missing or that cannot be, a
    long variant, two ALTs trimmed alike) goes the general way."""
    header = SITES_HEADER.replace(
        "#CHROM", '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n#CHROM')
    long = "A" + "C" * (LONG_VARIANT + 1)
    lines = ["chr1\t100\t.\tA\tG,T\t.\tPASS\tAC=1,2;AN=10;nhomalt=0,1",
             "chr1\t200\t.\tACGT\tA,ACGTT,TCGT\t.\tPASS\tAC=1,1,1;AN=10;nhomalt=0,0,0",
             "chr1\t300\t.\tC\tA,G\t.\tPASS\tAC=2,3;AN=10",
             "chr1\t400\t.\tC\tA,G\t.\tPASS\tAC=2,3;AN=10;nhomalt=1,.",
             "chr1\t500\t.\tC\tA,*\t.\tPASS\tAC=2,3;AN=10;nhomalt=0,0",
             "chr1\t600\t.\tC\tA,<DEL>\t.\tPASS\tAC=2,3;AN=10;nhomalt=0,0;END=700",
             "chr1\t700\t.\tC\tA,G\t.\tPASS\tAC=.,3;AN=10;nhomalt=0,0",
             f"chr1\t800\t.\t{long}\tA,{long}T\t.\tPASS\tAC=1,1;AN=10;nhomalt=0,0",
             "chr1\t900\t.\tACCT\tACT,ACT\t.\tPASS\tAC=1,1;AN=10;nhomalt=0,0",
             "chr1\t1000\t.\tC\tA,G\t.\tPASS\tAC=6,5;AN=10;nhomalt=0,0",
             "chr1\t1100\t.\tC\tA,G\t.\tPASS\tAC=1,2;AN=10;nhomalt=2,0",
             "chr1\t1200\t.\tC\tA,G,T\t.\tPASS\tAC=1,2;AN=10;nhomalt=0,0,0",
             "chr1\t1300\t.\tGA\tGAA,G,TA\t.\tPASS\tAC=1,2,3;AN=10;nhomalt=0,1,1",
             "chr1\t1400\t.\tC\tA,G\t.\tPASS\tAC=1,2;AN=10,3;nhomalt=0,0"]
    general: list[int] = []
    rows_of = vcf._rows_of

    def counted(rec: pysam.VariantRecord, *args: object) -> list[tuple]:
        general.append(rec.pos)
        return rows_of(rec, *args)
    monkeypatch.setattr(vcf, "_rows_of", counted)
    read = {}
    for spelling in (str.upper, str.lower):
        written = ["\t".join([*f[:3], spelling(f[3]), ",".join(
            spelling(alt) if alt.isalpha() else alt for alt in f[4].split(",")), *f[5:]])
                   for f in (line.split("\t") for line in lines)]
        folder = tmp_path / spelling.__name__
        folder.mkdir()
        path = write_vcf_text(folder / "multi.vcf", header + "\n".join(written) + "\n")
        layout = inspect_vcf(path, GRCH38)
        stats = ChunkStats()
        general.clear()
        rows = list(read_rows(layout, None, ReadOptions(False, False, skip_invalid=True),
                              stats))
        stats.first_skip = (stats.first_skip or "").replace(str(folder), "")
        taken = list(general)
        with pytest.raises(VcfProblem) as refused:
            list(read_rows(layout, None, ReadOptions(False, False), ChunkStats()))
        read[spelling.__name__] = (rows, stats, taken,
                                   str(refused.value).replace(str(folder), ""))
    (upper, upper_stats, upper_general, problem), (lower, lower_stats, _, same) = read.values()
    assert upper == lower and upper_stats == lower_stats
    assert problem == same == ("/multi.vcf.gz:16: ALT 2 is the same variant as ALT 1 "
                               "(GRCh38:1:899:AC:A, trimmed as stored): a variant is one "
                               "record, or its carriers and counts are split between two; "
                               "normalise and deduplicate first, e.g. `bcftools norm -f REF.fa "
                               "-m -any FILE | bcftools norm -d exact`")
    # a count not known for one ALT ('.') is a row without it, not a refused record: nhomalt
    # (carriers unknown for both, as without nhomalt), and AC (no counts: none to read them
    # from in a file without samples)
    assert [r for r in upper if r[1] in (399, 699)] == [
        ("1", 399, 400, "C", "A", "SNP", 1, 2, 10, None),
        ("1", 399, 400, "C", "G", "SNP", 1, 3, 10, None),
        ("1", 699, 700, "C", "A", "SNP", 1, None, None, None),
        ("1", 699, 700, "C", "G", "SNP", 1, None, None, None)]
    assert upper[:6] == [("1", 99, 100, "A", "G", "SNP", 1, 1, 10, 1),
                         ("1", 99, 100, "A", "T", "SNP", 1, 2, 10, 1),
                         ("1", 199, 203, "ACGT", "A", "DEL", 3, 1, 10, 1),
                         ("1", 201, 202, "G", "GT", "INS", 1, 1, 10, 1),
                         ("1", 199, 200, "A", "T", "SNP", 1, 1, 10, 1),
                         ("1", 299, 300, "C", "A", "SNP", 1, 2, 10, None)]
    assert (upper_stats.rows, upper_stats.skipped_records, upper_stats.skipped_alleles,
            upper_stats.max_length) == (19, 5, 1, LONG_VARIANT + 2)
    assert upper_general == [400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1400]


def test_long_variants_are_read_after_the_short_ones_a_group_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader gives each variant longer than store.LONG_VARIANT after the short ones, in
    the order read, or once LONG_GROUP are held, so that what is held stays bounded: a
    symbolic one, and a deletion written as bases. A deletion of exactly LONG_VARIANT bases is
    short. A file with nothing for the genotype, population and annotation columns gives only
    the columns before them (`row_columns`), whichever path read the record."""
    monkeypatch.setattr(vcf, "LONG_GROUP", 2)
    header = SITES_HEADER.replace(
        "#CHROM", '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n#CHROM')
    counts = "AC=1;AN=10;nhomalt=0"
    lines = [f"chr1\t10\t.\tA\tG\t.\t.\t{counts}",
             f"chr1\t20\t.\tC\t<DEL>\t.\t.\tEND={20 + LONG_VARIANT + 1};{counts}",
             f"chr1\t30\t.\tA{'C' * (LONG_VARIANT - 1)}\tA\t.\t.\t{counts}",
             f"chr1\t40\t.\tA{'G' * (LONG_VARIANT + 1)}\tA\t.\t.\t{counts}",
             "chr1\t50\t.\tA\tG,T\t.\t.\tAC=1,1;AN=10;nhomalt=0,0",
             f"chr1\t60\t.\tT\t<DUP>\t.\t.\tEND=90060;{counts}",
             f"chr1\t70\t.\tA\tG\t.\t.\t{counts}"]
    path = write_vcf_text(tmp_path / "long.vcf", header + "\n".join(lines) + "\n")
    layout = inspect_vcf(path, GRCH38)
    options = ReadOptions(use_genotypes=False, samples_available=False)
    rows = list(read_rows(layout, None, options, ChunkStats()))
    assert [(row[1], row[2] - row[1] > LONG_VARIANT) for row in rows] == [
        (9, False), (29, False), (19, True), (39, True), (49, False), (49, False),
        (69, False), (59, True)]
    assert row_columns(layout, options) == store.COPY_COLUMNS[:10]
    assert {len(row) for row in rows} == {10}
    wide = ReadOptions(use_genotypes=False, samples_available=False)
    with_populations = dataclasses.replace(layout, population_keys={"FI": {"AC": "AC"}})
    assert row_columns(with_populations, wide) == store.COPY_COLUMNS


POPULATION_FI = ('##INFO=<ID=AC_FI,Number=A,Type=Integer,Description="x">\n'
                 '##INFO=<ID=AN_FI,Number=1,Type=Integer,Description="x">\n#CHROM')


def test_info_the_header_does_not_declare_is_read_as_if_declared(tmp_path):
    """htslib reads an INFO key the header does not declare as text, and leaves an END it
    does not declare out of both `stop` and the INFO keys. A file whose ##INFO lines are
    missing (or declare String) gives the rows it gives with them: counts from AC/AN/nhomalt
    per ALT, ends from END, lengths from SVLEN (found by fuzzing: a TypeError from the COPY,
    or "without INFO END or SVLEN"). A value that is no integer is refused at its line."""
    declared = SITES_HEADER.replace(
        "#CHROM", '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n'
                  '##INFO=<ID=SVLEN,Number=A,Type=Integer,Description="Length">\n#CHROM')
    bare = "\n".join(line for line in declared.splitlines()
                     if not line.startswith("##INFO")) + "\n"
    as_text = declared.replace("Type=Integer", "Type=String")
    lines = ["chr1\t100\t.\tA\tG\t.\t.\tAC=3;AN=10;nhomalt=1",
             "chr1\t200\t.\tA\tG,T\t.\t.\tAC=1,2;AN=10;nhomalt=0,1",
             "chr1\t300\t.\tA\t<DEL>\t.\t.\tEND=450;AC=2;AN=10;nhomalt=0",
             "chr1\t500\t.\tC\t<DUP>\t.\t.\tSVLEN=80;AC=1;AN=10;nhomalt=0",
             "chr1\t600\t.\tG\tGT\t.\t.\tAC=4;AN=10"]
    options = ReadOptions(use_genotypes=False, samples_available=False)

    def rows(header: str, name: str, body: list[str] = lines) -> list[tuple]:
        path = write_vcf_text(tmp_path / name, header + "\n".join(body) + "\n")
        return [row[:10] for row in read_rows(inspect_vcf(path, GRCH38), None, options,
                                              ChunkStats())]

    expected = rows(declared, "declared.vcf")
    assert expected == [("1", 99, 100, "A", "G", "SNP", 1, 3, 10, 2),
                        ("1", 199, 200, "A", "G", "SNP", 1, 1, 10, 1),
                        ("1", 199, 200, "A", "T", "SNP", 1, 2, 10, 1),
                        ("1", 299, 450, "A", "<DEL>", "DEL", 150, 2, 10, 2),
                        ("1", 499, 580, "C", "<DUP>", "DUP", 80, 1, 10, 1),
                        ("1", 599, 600, "G", "GT", "INS", 1, 4, 10, None)]
    assert rows(bare, "bare.vcf") == expected
    assert rows(as_text, "text.vcf") == expected
    for bad, reason in [("AC=1,two", r"INFO AC='1,two' is not an integer per ALT"),
                        ("END=abc", r"INFO END='abc' is not an integer")]:
        body = [lines[1].replace("AC=1,2", bad) if bad.startswith("AC")
                else lines[2].replace("END=450", bad)]
        with pytest.raises(VcfProblem, match=r"bad\.vcf\.gz:\d+: " + reason):
            rows(bare, "bad.vcf", body)

    # a population's counts (AC_<label>, AN_<label>) declared String: the same frequencies
    populations = SITES_HEADER.replace("#CHROM", POPULATION_FI)
    site = ["chr1\t200\t.\tA\tG,T\t.\t.\tAC=1,2;AN=10;nhomalt=0,1;AC_FI=1,1;AN_FI=6"]

    def frequencies(header: str, name: str) -> list[str]:
        path = write_vcf_text(tmp_path / name, header + site[0] + "\n")
        column = store.COPY_COLUMNS.index("info_populations")
        return [row[column] for row in read_rows(inspect_vcf(path, GRCH38), None, options,
                                                 ChunkStats())]

    as_integers = frequencies(populations, "pop.vcf")
    assert as_integers == ['{"FI":[1,6,null,null]}', '{"FI":[1,6,null,null]}']
    assert frequencies(populations.replace("Type=Integer", "Type=String"),
                       "pop-text.vcf") == as_integers


SV_HEADER = SITES_HEADER.replace(
    "#CHROM", '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n'
              '##INFO=<ID=SVLEN,Number=A,Type=Integer,Description="Length">\n#CHROM')


def _sv_rows(path: Path) -> list[tuple]:
    """(start, end, alt, type, length) of each row, in order of start and end."""
    options = ReadOptions(use_genotypes=False, samples_available=False)
    return sorted(row[1:3] + row[4:7] for row in read_rows(inspect_vcf(path, GRCH38), None,
                                                           options, ChunkStats()))


def test_each_alt_of_a_multiallelic_sv_spans_its_own_svlen(tmp_path):
    """VCF 4.4: SVLEN is each ALT's own length, END the record's end (its longest ALT's). A
    record without END has as pysam's `stop` the longest SVLEN's end (htslib 1.24), which
    every ALT took: both <DEL>s at 1000 stored as [999, 6000), under one id, while the same
    data as a BCF an older htslib wrote (`stop` from REF) loaded right (found by a probe).
    With or without END, as VCF or as BCF with either `stop`, each ALT ends |SVLEN| after
    POS, an <INS> at its REF, and an SVLEN of 0 leaves the span to END."""
    counts = "AC=1,1;AN=10;nhomalt=0,0"
    lines = [f"chr1\t1000\t.\tA\t<DEL>,<DEL>\t.\t.\tSVLEN=-100,-5000;{counts}",
             f"chr1\t20000\t.\tA\t<DUP>,<DEL>\t.\t.\tSVLEN=3000,-100;{counts}",
             f"chr1\t30000\t.\tA\t<DEL>,<INS>\t.\t.\tEND=30500;SVLEN=-500,80;{counts}",
             "chr1\t40000\t.\tA\t<INV>\t.\t.\tEND=40300;SVLEN=0;AC=1;AN=10;nhomalt=0"]
    expected = [(999, 1100, "<DEL>", "DEL", 100), (999, 6000, "<DEL>", "DEL", 5000),
                (19999, 20100, "<DEL>", "DEL", 100), (19999, 23000, "<DUP>", "DUP", 3000),
                (29999, 30000, "<INS>", "INS", 80), (29999, 30500, "<DEL>", "DEL", 500),
                (39999, 40300, "<INV>", "INV", 300)]
    text = write_vcf_text(tmp_path / "sv.vcf", SV_HEADER + "\n".join(lines) + "\n")
    assert _sv_rows(text) == expected
    for name, rlen_from_ref in (("new.bcf", False), ("old.bcf", True)):
        with pysam.VariantFile(str(text)) as source, pysam.VariantFile(
                str(tmp_path / name), "wb", header=source.header) as target:
            for record in source:
                if rlen_from_ref and record.pos < 30000:      # those without END
                    record.stop = record.start + len(record.ref)
                target.write(record)
        assert _sv_rows(tmp_path / name) == expected, name


def test_an_insertion_may_end_at_pos_and_no_other_sv_may(tmp_path):
    """An <INS> with END=POS and no SVLEN (the VCF 4.2 spec's own example, Manta's insertions
    it could not assemble) spans its padding base, its length unknown and stored as 1. It was
    refused as having "no INFO END or SVLEN", as was a <DEL> ending at or before POS: htslib
    drops such an END (with a warning), so the reason meant for it was never reached (found
    by a probe). END is read from the record's text, here the last of a sites-only INFO."""
    lines = ["chr1\t5000\t.\tA\t<INS:ME:ALU>\t.\t.\tSVTYPE=ALU;END=5000",
             "chr1\t6000\t.\tA\t<INS>\t.\t.\tSVTYPE=INS;END=6000"]
    path = write_vcf_text(tmp_path / "ins.vcf", SV_HEADER + "\n".join(lines) + "\n")
    assert _sv_rows(path) == [(4999, 5000, "<INS:ME:ALU>", "INS", 1),
                              (5999, 6000, "<INS>", "INS", 1)]
    for alt, end, reason in [("<DEL>", 900, "INFO END 900 is before POS 1000"),
                             ("<INS>", 999, "INFO END 999 is before POS 1000"),
                             ("<DUP>", 1000, "INFO END 1000 is POS: a <DUP> spans bases")]:
        bad = write_vcf_text(tmp_path / "end.vcf",
                             SV_HEADER + f"chr1\t1000\t.\tA\t{alt}\t.\t.\tEND={end}\n")
        with pytest.raises(VcfProblem, match=rf"end\.vcf\.gz:9: {reason}"):
            _sv_rows(bad)


def test_a_symbolic_allele_without_svlen_ends_at_its_info_end(tmp_path):
    """An allele without SVLEN ends at INFO END, which a VCF's `stop` holds where htslib
    folded END into it (`vcf._end`), and only there: an END within a longer REF leaves
    `stop` at REF's end, and a BCF's `stop` is the length it stores, here made to disagree
    with its END as a writer getting it wrong would. Each ends at its END, as when END was
    read from the record's text alone."""
    lines = ["chr1\t1000\t.\tA\t<DEL>\t.\t.\tEND=1500",
             "chr1\t2000\t.\tACGT\t<DEL>\t.\t.\tEND=2002",
             "chr1\t3000\t.\tA\t<DUP>\t.\t.\tEND=3300"]
    expected = [(999, 1500, "<DEL>", "DEL", 500), (1999, 2002, "<DEL>", "DEL", 2),
                (2999, 3300, "<DUP>", "DUP", 300)]
    text = write_vcf_text(tmp_path / "sv.vcf", SV_HEADER + "\n".join(lines) + "\n")
    assert _sv_rows(text) == expected
    written = tmp_path / "written.bcf"
    with pysam.VariantFile(str(text)) as source, pysam.VariantFile(
            str(written), "wb0", header=source.header) as target:
        for record in source:
            target.write(record)
    data = bytearray(gzip.decompress(written.read_bytes()))
    at = data.index(b"BCF\x02\x02") + 5
    at += 4 + int.from_bytes(data[at:at + 4], "little")      # past the header's text
    data[at + 16:at + 20] = (700).to_bytes(4, "little")       # the first record's length
    raw = tmp_path / "patched.raw"
    raw.write_bytes(data)
    bcf = tmp_path / "sv.bcf"
    pysam.tabix_compress(str(raw), str(bcf), force=True)
    with vcf.open_vcf(bcf) as patched:
        assert next(iter(patched)).stop == 999 + 700
    assert _sv_rows(bcf)[0] == expected[0]


async def test_a_breakends_bases_are_of_either_case_its_mate_as_written(db_url, tmp_path):
    """VCF's bases are of either case. A breakend was stored as written, so `t[chr1:500[` and
    `T[chr1:500[` at one POS were two variants, one's carriers and counts split between
    them; its bases are stored in upper case, as every other allele's, its mate named as the
    file names it."""
    lines = ("chr1\t10\t.\ta\tt]chr17:5]\t.\tPASS\t.\tGT\t0|1\t0|0\n"
             "chr1\t20\t.\tg\t.g\t.\tPASS\t.\tGT\t0|1\t0|0\n")
    await ingest(db_url, _request(write_vcf_text(tmp_path / "one.vcf", HEADER + lines)))
    assert [row[3:6] for row in await _stored(db_url)] == [("G", ".G", "BND"),
                                                            ("A", "T]chr17:5]", "BND")]
    twice = write_vcf_text(tmp_path / "twice.vcf", HEADER + "".join(
        f"chr1\t30\t.\tA\t{alt}\t.\tPASS\t.\tGT\t0|1\t0|0\n"
        for alt in ("t[chr1:500[", "T[chr1:500[")))
    with pytest.raises(VcfProblem, match=re.escape(
            f"{twice}:7: the same variant as line 6 (GRCh38:1:29:A:T[chr1:500[")):
        await ingest(db_url, _request(twice, "GDI-FI-SYN-002"))


@pytest.mark.parametrize("counts, reason", [
    ("AC=5;AN=2;nhomalt=0", "INFO AC=5 adds up to more than AN=2"),            # fast path
    ("AC=-1;AN=2;nhomalt=0", "INFO AC=-1 AN=2: a count below 0"),
    ("AC=1;AN=10;nhomalt=3", r"INFO nhomalt=3 is below 0 or above AC=1"),
    ("AC=4,7;AN=10;nhomalt=0,0", "INFO AC=4,7 adds up to more than AN=10"),   # two ALTs
    ("AC=1;AN=10;nhomalt=0;AC_FI=3;AN_FI=2", "INFO AC_FI=3 adds up to more than AN_FI=2"),
    ("AC=1;AN=10;nhomalt=0;AC_FI=1,2;AN_FI=6",                 # the first value was taken
     r"INFO AC_FI=1,2 has 2 values for 1 ALT: AC_FI is one per ALT \(Number=A\)"),
    ("AC=3;AN=10;nhomalt=0;AC_FI=3;AN_FI=6;nhomalt_FI=1;nhemi_FI=-1",
     r"INFO nhemi_FI=-1 is below 0, or with nhomalt_FI=1 above AC_FI=3"),
    ("AC=3;AN=10;nhomalt=0;AC_FI=3;AN_FI=6;nhomalt_FI=1;nhemi_FI=3",
     r"INFO nhemi_FI=3 is below 0, or with nhomalt_FI=1 above AC_FI=3"),
])
def test_counts_that_cannot_be_are_refused_at_their_line(tmp_path, counts, reason):
    """A sites-only file's INFO counts become frequencies and carrier counts that the
    disclosure rules read: an allele count above the alleles called, below 0, or fewer
    carriers than homozygous ones is refused at its line, on the fast path (biallelic SNVs)
    and off it, for a population's counts too (found by fuzzing: stored as they were)."""
    carriers = "".join(f'##INFO=<ID={key}_FI,Number=A,Type=Integer,Description="x">\n'
                       for key in ("nhomalt", "nhemi") if "nhemi" in counts)
    header = SITES_HEADER.replace("#CHROM", POPULATION_FI.replace("#CHROM", carriers + "#CHROM"))
    alts = "G,T" if counts.startswith("AC=4,7") else "G"
    path = write_vcf_text(tmp_path / "counts.vcf", header + "chr1\t100\t.\tA\tG\t.\t.\t"
                          "AC=1;AN=10;nhomalt=0\n" + f"chr1\t200\t.\tA\t{alts}\t.\t.\t{counts}\n")
    options = ReadOptions(use_genotypes=False, samples_available=False)
    line = 10 + carriers.count("\n")
    with pytest.raises(VcfProblem, match=rf"counts\.vcf\.gz:{line}: " + reason):
        list(read_rows(inspect_vcf(path, GRCH38), None, options, ChunkStats()))


BOUNDARY_HEADER = SITES_HEADER.replace(
    "#CHROM", "##contig=<ID=chr2,length=242193529>\n"
    "##INFO=<ID=END,Number=1,Type=Integer,Description=\"End\">\n"
    "##INFO=<ID=SVTYPE,Number=1,Type=String,Description=\"Type\">\n#CHROM")
BOUNDARY_REGIONS = [Region("chr1", 0, 1000), Region("chr1", 1000, 2000),
                    Region("chr1", 2000, 3000), Region("chr1", 3000, 248956422, True),
                    Region("chr2", 0, 500), Region("chr2", 500, 242193529, True)]


def test_regions_read_each_record_once_where_it_starts(tmp_path):
    """A region reads the records that start in it, found by the index and read on from the
    first: records on a region's first and last base, two at one position, a deletion that
    reaches across two later regions (one of them otherwise empty), a region holding only
    that deletion's overlap, and each contig's last region. Together the regions give the
    whole file's rows, each once, with its counts."""
    info = "AC=1;AN=10;nhomalt=0"
    lines = [f"chr1\t1\t.\tA\tG\t.\t.\t{info}",
             f"chr1\t950\t.\tA\t<DEL>\t.\t.\t{info};END=2600;SVTYPE=DEL",
             f"chr1\t1000\t.\tC\tT\t.\t.\t{info}",
             f"chr1\t1001\t.\tG\tA\t.\t.\t{info}",
             f"chr1\t1001\t.\tG\tC\t.\t.\t{info}",
             f"chr1\t2000\t.\tT\tA\t.\t.\t{info}",
             "chr1\t3001\t.\tACG\tA,AC\t.\t.\tAC=1,2;AN=10;nhomalt=0,1",
             f"chr1\t248956422\t.\tA\tT\t.\t.\t{info}",
             f"chr2\t500\t.\tG\tT\t.\t.\t{info}",
             f"chr2\t501\t.\tG\tT\t.\t.\t{info}"]
    path = write_vcf_text(tmp_path / "edges.vcf", BOUNDARY_HEADER + "\n".join(lines) + "\n")
    layout = inspect_vcf(path, GRCH38)
    options = ReadOptions(use_genotypes=False, samples_available=False)
    whole = ChunkStats()
    expected = list(read_rows(layout, None, options, whole))
    by_region, regions = [], ChunkStats()
    for region in BOUNDARY_REGIONS:
        stats = ChunkStats()
        rows = list(read_rows(layout, region, options, stats))
        assert all(region.start <= row[1] for row in rows), region
        assert region.last or all(row[1] < region.end for row in rows), region
        by_region.append(rows)
        regions.records += stats.records
    assert [len(rows) for rows in by_region] == [3, 3, 0, 3, 1, 1]
    # each region gives its long variants after its short ones, the whole file after all
    assert sorted(row for rows in by_region for row in rows) == sorted(expected)
    assert regions.records == whole.records == len(lines)


async def test_gt_only_file_counts_alleles_from_genotypes(db_url, gt_only_vcf):
    await ingest(db_url, _request(gt_only_vcf))
    assert await _stored(db_url) == expected_rows(gt_only_vcf)


async def test_rows_do_not_store_their_dataset(db_url, info_vcf):
    """The partition's rows leave dataset_id to the catalogue's one missing value (and hold
    no af): every row reads back with its dataset through the parent, yet the partition is
    at least 8 bytes a row smaller than the same rows written with the identifier in each."""
    await ingest(db_url, _request(info_vcf))
    conn = await asyncpg.connect(db_url)
    try:
        partition = await conn.fetchval(
            "SELECT partition_table FROM datasets WHERE id = $1", DATASET)
        columns = {r["attname"]: r["atthasmissing"] for r in await conn.fetch(
            "SELECT attname, atthasmissing FROM pg_attribute WHERE attrelid = $1::regclass "
            "AND attnum > 0 AND NOT attisdropped", partition)}
        assert columns["dataset_id"] is True and "af" not in columns
        rows = await conn.fetchval(
            "SELECT count(*) FROM variants WHERE dataset_id = $1 AND dataset_id IS NOT NULL",
            DATASET)
        assert rows == len(await _stored(db_url)) > 1000
        # the same rows written as plain tuples store the identifier in each of them
        await conn.execute(f"CREATE TEMP TABLE spelt AS SELECT * FROM {partition}")
        compact, spelt = await conn.fetchrow(
            f"SELECT pg_relation_size('{partition}'), pg_relation_size('spelt')")
        assert spelt - compact >= rows * 8
    finally:
        await conn.close()


@pytest.mark.parametrize("annotation", [None, "ANN"])
async def test_partition_has_the_parents_indexes_and_no_other(db_url, tmp_path, annotation):
    """With annotations or without (the genes' and protein changes' indexes then hold
    nothing, made before the load), ATTACH adopts every index of the staging table as the
    partition of one of the parent's: none is missing (a query would scan) and none is built
    twice."""
    path = write_vcf(VcfSpec(tmp_path / "a.vcf.gz", records=600, samples=4, seed=5,
                             annotation=annotation)).path
    await ingest(db_url, _request(path))
    conn = await asyncpg.connect(db_url)
    try:
        partition = await conn.fetchval(
            "SELECT partition_table FROM datasets WHERE id = $1", DATASET)
        adopted = await conn.fetch(
            """SELECT i.indexrelid::regclass::text AS own, h.inhparent::regclass::text AS parent
               FROM pg_index i LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid
               WHERE i.indrelid = $1::regclass""", partition)
        parents = {r[0] for r in await conn.fetch(
            "SELECT indexrelid::regclass::text FROM pg_index "
            "WHERE indrelid = 'variants'::regclass")}
        assert all(r["parent"] is not None for r in adopted), adopted
        assert sorted(r["parent"] for r in adopted) == sorted(parents)
        assert {p for p in parents if "gene" in p or "change" in p}, parents
        genes = await conn.fetchval(
            "SELECT count(*) FROM variants WHERE dataset_id = $1 AND genes IS NOT NULL", DATASET)
        assert (genes > 0) is (annotation is not None)
        # the CHECK that spares ATTACH its scan, added NOT VALID and validated before the swap
        checks = await conn.fetch(
            "SELECT convalidated FROM pg_constraint WHERE conrelid = $1::regclass "
            "AND contype = 'c'", partition)
        assert [r["convalidated"] for r in checks] == [True]
    finally:
        await conn.close()


async def test_planted_records_land_where_beacon_coordinates_say(db_url, gt_only_vcf):
    await ingest(db_url, _request(gt_only_vcf))
    rows = {(r[0], r[1], r[3], r[4]): r for r in await _stored(db_url)}
    # ACGT>A,TCGT: the deletion keeps its padding base; TCGT trims to the SNV A>T.
    assert rows[("1", 999_999, "ACGT", "A")][2:] == (1_000_003, "ACGT", "A", "DEL", 3, 8, 2)
    assert rows[("1", 999_999, "A", "T")][5:] == ("SNP", 1, 8, 1)
    assert ("1", 999_999, "ACGT", "*") not in rows
    assert rows[("2", 4_999_999, "C", "<DEL>")][2] == 5_004_000       # END, 1-based inclusive
    assert rows[("2", 5_999_999, "G", "<DUP>")][5] == "DUP"
    assert rows[("X", 2_999_999, "T", "TAAC")][5:] == ("INS", 3, 6, 2)
    assert rows[("MT", 99, "G", "A")][6:] == (2, 3, 2)                 # haploid calls


async def test_bare_and_chr_contigs_share_canonical_names(db_url, info_vcf, gt_only_vcf):
    await ingest(db_url, _request(info_vcf))
    await ingest(db_url, _request(gt_only_vcf, "GDI-FI-SYN-002"))
    conn = await asyncpg.connect(db_url)
    try:
        names = {r[0] for r in await conn.fetch(
            "SELECT DISTINCT dataset_id || ':' || chromosome FROM variants")}
    finally:
        await conn.close()
    assert {"GDI-FI-SYN-001:MT", "GDI-FI-SYN-002:MT", "GDI-FI-SYN-001:X"} <= names
    assert not any(":chr" in name for name in names)


async def test_unindexed_file_is_indexed_in_a_copy_with_same_result(db_url, info_vcf, tmp_path):
    plain = tmp_path / "noindex.vcf.gz"
    plain.write_bytes(info_vcf.read_bytes())                     # no .tbi beside it
    report = await ingest(db_url, _request(plain))
    assert report.regions > 1 and report.note and "indexed" in report.note
    assert await _stored(db_url) == expected_rows(info_vcf)


async def test_reingest_swaps_atomically_under_concurrent_reads(db_url, tmp_path, info_vcf):
    first = await ingest(db_url, _request(info_vcf))
    second_file = write_vcf(VcfSpec(tmp_path / "v2.vcf.gz", records=6000, samples=4,
                                    seed=99)).path
    expected_second = len(expected_rows(second_file))
    seen: set[int] = set()
    stop = asyncio.Event()

    async def reader() -> None:
        conn = await asyncpg.connect(db_url)
        try:
            for _ in range(20_000):                    # bounded; stops when ingest ends
                seen.add(await conn.fetchval(
                    "SELECT count(*) FROM variants WHERE dataset_id = $1", DATASET))
                if stop.is_set():
                    return
        finally:
            await conn.close()

    task = asyncio.create_task(reader())
    second = await ingest(db_url, _request(second_file))
    stop.set()
    await task
    assert second.version == first.version + 1
    assert seen <= {first.rows, expected_second}        # never a half-loaded dataset
    assert first.rows in seen
    datasets, tables = await _state(db_url)
    assert datasets[0][1:3] == (2, expected_second)
    # the old partitions (of variants and of variant_bins) gone, no staging left
    assert tables == [datasets[0][3], f"{datasets[0][3]}_bins"]



async def _swap_waiting(db_url: str) -> None:
    """Until a swap or a removal is seen waiting for `variants` (bounded: 60 s)."""
    conn = await asyncpg.connect(db_url)
    try:
        for _ in range(6000):
            if await conn.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'variants'::regclass "
                    "AND mode = 'AccessExclusiveLock' AND NOT granted"):
                return
            await asyncio.sleep(0.01)
        raise AssertionError("no swap waited for variants")
    finally:
        await conn.close()


@pytest.mark.parametrize("change", ["reingest", "remove"])
async def test_a_swap_behind_a_long_read_lets_narrow_reads_through(db_url, tmp_path, info_vcf,
                                                                   change, caplog):
    """A swap or a removal takes `variants` whole (its old partition's drop), and a read
    queued behind that lock waits with it. Behind one long read (a report, a dump) every
    narrow query waited into its statement timeout: a node of 503s for as long as the long
    read ran (found by a review, 2026-12-05). The swap now waits a moment at a time, the
    reads queued behind it going through in between, and is done once the long read is."""
    first = await ingest(db_url, _request(info_vcf))
    second_file = write_vcf(VcfSpec(tmp_path / "v2.vcf.gz", records=500, samples=4,
                                    seed=98)).path
    long_read = await asyncpg.connect(db_url)
    narrow = await asyncpg.connect(db_url, server_settings={"statement_timeout": "3000"})
    task: asyncio.Task | None = None
    try:
        tx = long_read.transaction()
        await tx.start()
        await long_read.fetchval("SELECT count(*) FROM variants WHERE dataset_id = $1", DATASET)
        if change == "reingest":
            task = asyncio.create_task(ingest(db_url, _request(second_file)))
        else:
            async def remove() -> bool:
                conn = await asyncpg.connect(db_url)
                try:
                    return await store.delete_dataset(conn, DATASET)
                finally:
                    await conn.close()
            task = asyncio.create_task(remove())
        await _swap_waiting(db_url)
        began = time.monotonic()
        for _ in range(3):            # each read may meet a swap waiting its moment, no more
            await narrow.fetchval(
                "SELECT count(*) FROM variants WHERE dataset_id = $1 AND chromosome = '1' "
                "AND start_pos < 2000000", DATASET)
        assert time.monotonic() - began < 2.5
        assert not task.done()                    # the long read still holds it off
        # the operator is told who, once the swap's first moment has passed (250 ms, which
        # three quick reads may not outlast): looked for until it is there (bounded: 10 s)
        told = rf"reading the variants \(.*\b{long_read.get_server_pid()}\b"
        for _ in range(1000):
            if any(re.search(told, r.getMessage()) for r in caplog.records):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no log line named the long read's session")
        assert not task.done()
        await tx.commit()
        result = await asyncio.wait_for(task, 60)
    finally:
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        await long_read.close()
        await narrow.close()
    if change == "reingest":
        assert result.version == first.version + 1
        assert await _stored(db_url) == expected_rows(second_file)
    else:
        assert result is True
        assert (await _state(db_url))[0] == []

COUNTED_HEADER = HEADER.replace("##FORMAT", "".join(
    f'##INFO=<ID={key},Number={number},Type=Integer,Description="{key}">\n'
    for key, number in (("AC", "A"), ("AN", "1"), ("nhomalt", "A"))) + "##FORMAT")


def _counted(path: Path, last: str) -> Path:
    """A file with samples and INFO counts (loaded from them, its genotypes unread, without
    individuals), two records whose counts are their genotypes', then `last` (line 11)."""
    return write_vcf_text(path, COUNTED_HEADER + "".join(
        f"chr1\t{p}\t.\tA\tG\t.\tPASS\tAC=1;AN=4;nhomalt=0\tGT\t0|1\t0|0\n"
        for p in (100, 200)) + last)


BAD_INPUTS = {
    "not_a_vcf": (lambda d: _write(d / "x.vcf", "hello, I am not a VCF\n"),
                  ["x.vcf", "not a readable VCF"]),
    # what a Windows editor may write: "bom.vcf: not a readable VCF/BCF file", no line or
    # reason (found by a probe), plain or bgzipped
    "byte_order_mark": (lambda d: _write(d / "bom.vcf", "\ufeff" + HEADER + GOOD_LINES),
                        ["bom.vcf:1: starts with a UTF-8 byte-order mark; remove it"]),
    "byte_order_mark_bgzip": (lambda d: write_vcf_text(d / "bom.vcf", "\ufeff" + HEADER
                                                       + GOOD_LINES, index=False),
                              ["bom.vcf.gz:1: starts with a UTF-8 byte-order mark; remove it"]),
    "header_without_columns": (lambda d: _write(d / "h.vcf", "##fileformat=VCFv4.2\n#CHROM\tPOS\n"),
                               ["h.vcf:2: the #CHROM line does not give the eight columns"]),
    "truncated_bgzip": (lambda d: _truncated(d), ["truncated", "BGZF"]),
    # INFO counts left stale after genotypes were masked: the floor counted 2 carriers
    # where the genotypes name 1 (found by a review, 2026-12-06)
    "info_counts_the_genotypes_contradict": (lambda d: _counted(
        d / "c.vcf", "chr1\t300\t.\tA\tG\t.\tPASS\tAC=3;AN=4;nhomalt=1\tGT\t0|1\t.|.\n"),
        [("c.vcf.gz:11: INFO AC=3, AN=4 (2 carrier(s) by nhomalt), where the record's "
          "genotypes count AC=1, AN=2 (1 carrier(s)) in its 2 samples"),
         "bcftools +fill-tags -- -t AC,AN,nhomalt", "--individuals"]),
    "bad_pos_unindexed": (lambda d: write_vcf_text(d / "p.vcf", HEADER + GOOD_LINES
                                                   + "chr1\tabc\t.\tA\tG\t.\t.\t.\tGT\t0|1\t0|0\n",
                                                   index=False),
                          ["p.vcf.gz:9:", "malformed record", "position"]),
    "bad_ref_indexed": (lambda d: write_vcf_text(d / "r.vcf", HEADER + GOOD_LINES
                                                 + "chr1\t400\t.\tAXG\tG\t.\t.\t.\tGT\t0|1\t0|0\n"),
                        ["r.vcf.gz:9:", "REF 'AXG'"]),
    "wrong_assembly": (lambda d: write_vcf_text(d / "a.vcf", HEADER.replace(
        "248956422", "249250621") + GOOD_LINES), ["length=249250621", "not on GRCh38"]),
    "beyond_contig_end": (lambda d: write_vcf_text(d / "e.vcf", HEADER + GOOD_LINES
                                                   + "chr1\t248956423\t.\tA\tG\t.\t.\t.\tGT\t0|1\t0|0\n",
                                                   index=False),
                          [":9:", "beyond the end of 1"]),
    # POS 0, which VCF gives a telomere: no base to place a variant on, so it was read as
    # position -1 from the top, and skipped unsaid through the index (its start is before
    # the first region's)
    **{f"pos_zero_{form}": (
        lambda d, form=form: write_vcf_text(
            d / f"{form}.vcf", HEADER + "chr1\t0\t.\tN\tA\t.\t.\t.\tGT\t0|1\t0|0\n"
            + GOOD_LINES, index=form == "indexed"),
        [f"{form}.vcf.gz:6: POS 0 is a telomere, not a base a variant can be placed on"])
       for form in ("indexed", "bgzipped")},
    "symbolic_without_end": (lambda d: write_vcf_text(d / "s.vcf", HEADER + GOOD_LINES
                                                      + "chr1\t500\t.\tA\t<DEL>\t.\t.\t.\tGT\t0|1\t0|0\n"),
                             [":9:", "without INFO END or SVLEN"]),
    # an integer the COPY's int4 cannot hold, in a key htslib reads as text (found by a probe:
    # "ingest of o.vcf failed: OverflowError: value out of int32 range", no line)
    "svlen_beyond_int4": (lambda d: write_vcf_text(d / "o.vcf", HEADER + GOOD_LINES
                                                   + "chr1\t500\t.\tA\t<INS>\t.\t.\tSVLEN=3000000000"
                                                   "\tGT\t0|1\t0|0\n"),
                          ["o.vcf.gz:9: INFO SVLEN='3000000000' is out of range"]),
    "svlen_int4_min": (lambda d: write_vcf_text(d / "m.vcf", HEADER + GOOD_LINES
                                                + "chr1\t500\t.\tA\t<INS>\t.\t.\tSVLEN=-2147483648"
                                                "\tGT\t0|1\t0|0\n"),
                       ["m.vcf.gz:9: INFO SVLEN='-2147483648' is out of range"]),
    # htslib refuses a sample named twice with only "does not have valid header" (found by a
    # probe)
    "sample_named_twice": (lambda d: write_vcf_text(d / "d.vcf", HEADER.replace(
        "\tS2\n", "\tS2\tS1\n") + GOOD_LINES.replace("\n", "\t0|0\n")),
        ["d.vcf.gz:5: sample 'S1' is named twice in the #CHROM line"]),
    # a tab at the #CHROM line's end: an empty sample name, which htslib refuses with only
    # "does not have valid header" (found by a review, 2026-12-05)
    "sample_name_empty": (lambda d: write_vcf_text(d / "e.vcf", HEADER.replace(
        "\tS2\n", "\tS2\t\n") + GOOD_LINES, index=False),
        ["e.vcf.gz:5: a sample without a name in the #CHROM line"]),
    # a sample name the individuals' btree cannot key: the swap failed with the database's
    # "index row size ... exceeds" and no line (found by a review, 2026-12-05)
    "sample_name_too_long": (lambda d: write_vcf_text(d / "l.vcf", HEADER.replace(
        "\tS2\n", "\t" + "".join(f"{i:03d}" for i in range(100)) + "\n") + GOOD_LINES),
        ["l.vcf.gz:5: sample name '000001002",
         "is 300 characters, more than the node stores (256)"]),
    # a header line below #CHROM: loaded when read through an index (htslib skips it as a
    # comment), refused at the next line when read from the top (found by fuzzing, with a
    # duplicate variant whose search then failed with a bare OSError), so in every form
    # refused at its own line
    **{f"header_line_after_chrom_{form}": (
        lambda d, form=form: _header_after_chrom(d / f"{form}.vcf", form),
        [f"{form}.vcf{suffix}:5: a header line after the #CHROM line",
         "which ends the header: move it above that line"])
       for form, suffix in (("plain", ""), ("gzip", ".gz"), ("indexed", ".gz"))},
    # a sample column without the GT its FORMAT names, which htslib writes as '-65' (found by
    # a probe: "GT '-65' names allele '-65'")
    "sample_without_gt": (lambda d: write_vcf_text(d / "t.vcf", HEADER.replace(
        "#CHROM", '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n#CHROM')
        + GOOD_LINES + "chr1\t400\t.\tA\tG\t.\t.\t.\tDP:GT\t6:0|1\t5\n"),
        [":10: sample S2 has no GT, which FORMAT DP:GT names"]),
    # a #CHROM line whose columns are separated by spaces (an editor's doing): htslib said
    # only "does not have valid header", naming no line (found by a review, 2026-12-05)
    "chrom_line_spaced": (lambda d: _write(d / "w.vcf", HEADER.replace(
        "#CHROM\tPOS\tID", "#CHROM POS ID") + GOOD_LINES),
        [("w.vcf:5: the #CHROM line does not give the eight columns #CHROM POS ID REF ALT "
         "QUAL FILTER INFO, separated by tabs (not spaces)")]),
    # records of a sample more than the #CHROM line names (its name lost from the header):
    # htslib reads the named ones and drops the column, that sample's calls, without a word
    # (found by a review, 2026-12-05); a tab at a record's end is no column
    "more_columns_than_named": (lambda d: write_vcf_text(d / "x.vcf", HEADER + "".join(
        line.replace("\n", "\t1|1\n") for line in GOOD_LINES)),
        [("x.vcf.gz:6: 12 columns, where the #CHROM line names 11: the header lacks a "
         "column's name")]),
    "missing_file": (lambda d: d / "nothing-here.vcf.gz", ["nothing-here.vcf.gz", "no such file"]),
    "a_directory": (lambda d: d, ["a directory, not a file"]),      # was "no such file"
    # a first line that is not ##fileformat and a NUL further on: htslib recognises no format
    # (found by fuzzing: "[Errno 8] Could not open variant file: Exec format error: '...'")
    "no_format_found": (lambda d: _write(d / "n.vcf", HEADER.replace(
        "##fileformat=VCFv4.2", "A,A") + GOOD_LINES.replace("chr1", "\x00", 1)),
        ["n.vcf: not a readable VCF/BCF file (no format htslib knows: a VCF's first line is ",
         "##fileformat=VCFv4.x)"]),
    # a byte that is not UTF-8 (found by fuzzing: a bare UnicodeDecodeError from a worker,
    # or "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte")
    "not_utf8_text": (lambda d: _not_utf8(d / "u.vcf", index=False),
                      ["u.vcf:9: not UTF-8 text (byte 0xff)"]),
    "not_utf8_indexed": (lambda d: _not_utf8(d / "i.vcf", index=True),
                         ["i.vcf.gz:9: not UTF-8 text (byte 0xff)"]),
    "not_utf8_header": (lambda d: _not_utf8_header(d / "s.vcf"),
                        ["s.vcf: not UTF-8 text in its header (byte 0xff)"]),
    # a region's first record broken where the index's fetch parses it (found by fuzzing: a
    # bare ValueError from the worker)
    "first_record_short_indexed": (lambda d: write_vcf_text(
        d / "c.vcf", HEADER + "chr1\t50\t.\tA\tG\t.\t.\t.\tGT\t0|1\n" + GOOD_LINES),
        ["c.vcf.gz:6:", "malformed record", "does not match the number of samples"]),
    # a BCF has records, not lines: its problems are placed by record number
    "bcf_record_cut": (lambda d: _bcf(d / "b.bcf", lambda raw: raw[:-7]),
                       ["b.bcf: record ", ": malformed record"]),
    # a contig's index in the header that leaves a hole (found by fuzzing: a bare
    # AssertionError from pysam reading the contigs)
    "bcf_contig_index_hole": (lambda d: _bcf(d / "h.bcf", lambda raw: raw.replace(
        b"length=248956422,IDX=0>", b"length=248956422,IDX=3>")),
        ["h.bcf: its header is damaged: its contigs cannot be read"]),
    # an allele index the record does not have (found by fuzzing: it was "list index out of
    # range"); counted from the genotypes, as there is no INFO AC/AN
    "genotype_beyond_alts": (lambda d: write_vcf_text(d / "g.vcf", HEADER + GOOD_LINES
                                                      + "chr1\t400\t.\tA\tG\t.\t.\t.\tGT\t0|1\t2|2\n"),
                             [":9:", "GT '2|2' names allele '2'", "alleles 0 (REF) to 1"]),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _not_utf8_header(path: Path) -> Path:
    path.write_bytes(HEADER.replace("\tS2", "\tS\xff").encode("latin-1") + GOOD_LINES.encode())
    return path


def _not_utf8(path: Path, index: bool) -> Path:
    """A VCF whose last record's ALT is a Latin-1 byte, as text or bgzipped and indexed."""
    path.write_bytes((HEADER + GOOD_LINES).encode()
                     + b"chr1\t400\t.\tA\t\xff\t.\t.\t.\tGT\t0|1\t0|0\n")
    if not index:
        return path
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return Path(f"{path}.gz")


def _bcf(path: Path, damage: Callable[[bytes], bytes]) -> Path:
    """HEADER and GOOD_LINES as BCF (unindexed), its uncompressed bytes damaged."""
    text = path.with_suffix(".vcf")
    text.write_text(HEADER + GOOD_LINES)
    raw = path.with_suffix(".raw")
    with pysam.VariantFile(str(text)) as source, pysam.VariantFile(
            str(raw), "wb0", header=source.header) as target:
        for record in source:
            target.write(record)
    raw.write_bytes(damage(gzip.decompress(raw.read_bytes())))
    pysam.tabix_compress(str(raw), str(path), force=True)
    return path


def _truncated(directory: Path) -> Path:
    good = write_vcf(VcfSpec(directory / "full.vcf.gz", records=2000, samples=2, seed=5)).path
    cut = directory / "cut.vcf.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return cut


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_bad_input_fails_cleanly_and_keeps_previous_version(db_url, tmp_path, info_vcf,
                                                                  gt_only_vcf, case):
    make_file, expected = BAD_INPUTS[case]
    bad = make_file(tmp_path)
    # the version in place read as the bad file would be (from INFO, or from genotypes):
    # read otherwise, it is refused for that before its lines are read
    await ingest(db_url, _request(gt_only_vcf if _from_genotypes(bad) else info_vcf))
    before = await _state(db_url)
    with pytest.raises(VcfProblem) as failure:
        await ingest(db_url, _request(bad))
    message = str(failure.value)
    for part in expected:
        assert part in message, message
    assert "`b'" not in message and "mode=" not in message, message   # pysam's repr noise
    assert "Errno" not in message, message
    assert await _state(db_url) == before
    assert len(await _stored(db_url)) == before[0][0][2]


async def test_info_counts_the_genotypes_may_trust_are_loaded(db_url, tmp_path):
    """The check of INFO counts against the genotypes refuses only counts that make more
    carriers than the genotypes name: fewer by nhomalt (a hemizygous call counted as
    homozygous) hide more, never less, and load; a file whose counts the genotypes
    contradict loads with its individuals, its counts then read from the genotypes."""
    fewer = _counted(tmp_path / "fewer.vcf",
                     "chr1\t300\t.\tA\tG\t.\tPASS\tAC=2;AN=4;nhomalt=1\tGT\t0|1\t0|1\n")
    await ingest(db_url, _request(fewer))
    assert {r[1]: r[6:] for r in await _stored(db_url)}[299] == (2, 4, 1)     # AC, AN, carriers
    stale = _counted(tmp_path / "stale.vcf",
                     "chr1\t300\t.\tA\tG\t.\tPASS\tAC=3;AN=4;nhomalt=1\tGT\t0|1\t.|.\n")
    people = tmp_path / "people.json"
    people.write_text(json.dumps([{"subject": {"id": s}} for s in ("S1", "S2")]))
    await ingest(db_url, _request(stale, "GDI-FI-SYN-002", individuals=people))
    assert {r[1]: r[6:] for r in await _stored(db_url, "GDI-FI-SYN-002")}[299] == (1, 2, 1)


def _from_genotypes(path: Path) -> bool:
    """Whether ingest, without individuals, reads the file's counts from its genotypes; a
    file whose header cannot be read is refused before that matters (False)."""
    try:
        layout = inspect_vcf(path, GRCH38)
    except VcfProblem:
        return False
    return dataclasses.replace(layout, carriers_wanted=False).counts_from_genotypes


class _ListedBeforeTheSwap(asyncpg.Connection):
    """A connection whose cleanup lists, besides the staging tables there are, the table
    `_LISTED` names as one: what a cleanup read while an ingest still loaded it, before that
    ingest swapped it in and let go of its dataset's lock."""

    async def fetch(self, query: str, *args: object, **kwargs: Any) -> list[Any]:
        rows = await super().fetch(query, *args, **kwargs)
        if "obj_description" in query:
            rows = [*rows, {"relname": _LISTED[0], "comment": DATASET, "old_default": None}]
        return rows


_LISTED: list[str] = []


async def test_a_staging_table_swapped_in_is_never_dropped_as_abandoned(db_url, info_vcf):
    """A cleanup (each ingest's, the node's start, `db clean`) lists the staging tables,
    then locks each one's dataset: one an ingest swapped in meanwhile is the dataset's
    partition by then, and was dropped, the dataset listed with its rows and answering none
    (found by a review, 2026-12-05). So is an ingest's own staging table once its swap has
    committed, should the ingest be stopped after (SIGTERM, Ctrl-C: `drop_staging`)."""
    report = await ingest(db_url, _request(info_vcf))
    conn = await asyncpg.connect(db_url, connection_class=_ListedBeforeTheSwap)
    try:
        _LISTED[:] = [await conn.fetchval("SELECT partition_table FROM datasets "
                                          "WHERE id = $1", DATASET)]
        assert await store.drop_abandoned_staging(conn) == []
        assert not await store.drop_staging(conn, _LISTED[0])
    finally:
        await conn.close()
    assert len(await _stored(db_url)) == report.rows


async def test_an_ingest_stopped_after_its_swap_leaves_the_version_it_swapped_in(
        db_url, info_vcf, monkeypatch):
    """Stopped (the CLI cancels its task on SIGTERM and Ctrl-C) once its swap has committed,
    while it asks which datasets share its people, an ingest dropped its staging table in
    its cleanup: by then the dataset's partition, so the new version was listed with no
    rows (found by a review, 2026-12-05). The version it swapped in stays whole, and the
    ingest says it put it in place (InterruptedAfterSwap), where the cancellation alone read
    as "nothing changed" (a review, 2026-12-06)."""
    from beacon import individuals_store
    from beacon.ingest import InterruptedAfterSwap
    committed, sharing = asyncio.Event(), individuals_store.sharing

    async def slowly(conn: asyncpg.Connection, dataset_id: str) -> dict[str, int]:
        committed.set()
        await asyncio.sleep(30)
        return await sharing(conn, dataset_id)

    monkeypatch.setattr(individuals_store, "sharing", slowly)
    task = asyncio.create_task(ingest(db_url, _request(info_vcf)))
    await asyncio.wait_for(committed.wait(), 120)
    task.cancel()
    with pytest.raises(InterruptedAfterSwap) as raised:
        await task
    assert raised.value.version == 1
    datasets, _ = await _state(db_url)
    assert datasets[0][1] == 1 and len(await _stored(db_url)) == datasets[0][2] > 0


async def test_a_cleanup_leaves_a_staging_table_in_use_and_says_so(db_url, caplog):
    """A staging table some session holds (a dump reading it, a killed ingest's backend not
    yet gone) is left for the next cleanup after a second's wait, said in a warning: the
    drop waited behind it, into the node's start's statement timeout, and the node did not
    start (found by a review, 2026-12-05). Free again, it goes."""
    setup, holder = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        left = await store.create_staging(setup, "GDI-FI-LEFT-001")     # a killed ingest's
        await setup.execute("SET statement_timeout = '5s'")             # as the node's pool
        async with holder.transaction():
            await holder.execute(f"LOCK TABLE {left} IN ACCESS SHARE MODE")
            began = time.monotonic()
            assert await store.drop_abandoned_staging(setup) == []
            assert time.monotonic() - began < 4
        assert left in caplog.text and "in use, left for the next cleanup" in caplog.text
        assert await store.drop_abandoned_staging(setup) == [left]
    finally:
        await setup.close()
        await holder.close()


@pytest.mark.parametrize(("dataset_id", "aliases", "shared"), [
    ("GDI-FI-SYN-002", ["FI-SYN-1"], "FI-SYN-1"),           # an alias the first holds
    ("GDI-FI-SYN-002", [DATASET], DATASET),                  # the first's id as an alias
    ("GDI-FI-SYN-009", [], "GDI-FI-SYN-009"),                # the first's alias as an id
])
async def test_a_dataset_sharing_a_key_with_another_is_refused(db_url, info_vcf, dataset_id,
                                                               aliases, shared):
    """A ControlledAccessGrants visa names a dataset by its id or any alias: two datasets
    sharing one would be granted together. Refused before the load, the node unchanged
    (found by fuzzing the metadata file: an alias naming another dataset was taken)."""
    await ingest(db_url, _request(info_vcf, metadata={"aliases": ["FI-SYN-1",
                                                                  "GDI-FI-SYN-009"]}))
    before = await _state(db_url)
    with pytest.raises(KeyConflict) as refused:
        await ingest(db_url, _request(info_vcf, dataset_id, metadata={"aliases": aliases}))
    assert f"{shared!r} names {DATASET}" in str(refused.value)
    assert await _state(db_url) == before
    if dataset_id != "GDI-FI-SYN-009":          # with keys of its own, it loads
        await ingest(db_url, _request(info_vcf, dataset_id, metadata={"aliases": ["FI-2"]}))


async def test_the_swap_decides_a_key_taken_since_the_load_began(db_url, info_vcf):
    """Two ingests that each passed the check before their load: the swap checks again,
    under its lock, so the second of two datasets taking one key is refused."""
    await ingest(db_url, _request(info_vcf, metadata={"aliases": ["FI-SYN-1"]}))
    before = await _state(db_url)
    conn = await asyncpg.connect(db_url)
    second = await asyncpg.connect(db_url)
    try:
        table = await store.create_staging(conn, "GDI-FI-SYN-002")
        await store.index_staging(conn, second, table, "GDI-FI-SYN-002")
        version = store.DatasetVersion(
            id="GDI-FI-SYN-002", assembly="GRCh38", access_level="CONTROLLED", title="T",
            description="", variant_count=0, record_count=0, sample_count=0,
            max_variant_length=0, source={}, metadata={"aliases": ["FI-SYN-1"]},
            genotyped=False)
        with pytest.raises(KeyConflict, match="'FI-SYN-1' names GDI-FI-SYN-001"):
            await store.swap_in(conn, version, table)
        await store.drop_table(conn, table)
    finally:
        await second.close()
        await conn.close()
    assert await _state(db_url) == before


INDEX_FAILURE = """
    CREATE FUNCTION fail_gist() RETURNS event_trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_query() LIKE '%_locus ON%' THEN
            PERFORM pg_sleep(60);                 -- the btree, still sorting when ...
        ELSIF current_query() LIKE '%USING gist%' THEN
            RAISE EXCEPTION 'could not extend file (test)' USING ERRCODE = '53100';
        END IF;
    END $$;
    CREATE EVENT TRIGGER fail_gist ON ddl_command_start WHEN TAG IN ('CREATE INDEX')
        EXECUTE FUNCTION fail_gist();"""


async def test_an_index_build_failing_beside_the_btree_cancels_it_and_keeps_the_version(
        db_url, info_vcf):
    """The GiST, built on the second connection, fails (a real error of the server's, from an
    event trigger) while the locus btree is still running on the first: the btree is
    cancelled, the server's own error comes out as it is, the staging table is dropped and
    the previous version stays."""
    await ingest(db_url, _request(info_vcf))
    before = await _state(db_url)
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(INDEX_FAILURE)
        began = asyncio.get_running_loop().time()
        with pytest.raises(asyncpg.DiskFullError, match="could not extend file"):
            await ingest(db_url, _request(info_vcf))
        assert asyncio.get_running_loop().time() - began < 30     # not after the btree's 60 s
    finally:
        await conn.execute("DROP EVENT TRIGGER fail_gist; DROP FUNCTION fail_gist()")
        await conn.close()
    assert await _state(db_url) == before


async def test_skip_invalid_counts_and_loads_the_rest(db_url, tmp_path):
    path = write_vcf_text(tmp_path / "skip.vcf", HEADER + GOOD_LINES
                          + "chr1\t400\t.\tAXG\tG\t.\t.\t.\tGT\t0|1\t0|0\n")
    report: IngestReport = await ingest(db_url, _request(path, skip_invalid=True))
    assert (report.records, report.rows, report.skipped_records) == (4, 3, 1)
    assert "REF 'AXG'" in (report.first_skip or "")


@pytest.mark.parametrize("sites_only", [False, True], ids=["genotypes", "info-counts"])
async def test_alleles_longer_than_the_node_stores_are_refused_at_their_line(db_url, tmp_path,
                                                                           sites_only):
    """A sequence-resolved deletion and insertion of 8,000 bases (long-read SV callsets have
    them): refused as `file:line: reason`, or skipped and counted with --skip-invalid, the
    rest loaded; the longest that fits loads. Before, the locus btree's build stopped the
    ingest with PostgreSQL's `index row size … exceeds btree version 4 maximum 2704`, naming
    no file or line, --skip-invalid or not. Both the general reader and the INFO-count fast
    path's indexes (`info-counts`) refuse them."""
    bases = "".join(random.Random(8).choices("ACGT", k=8000))     # compresses too little
    head = (HEADER.replace("\tFORMAT\tS1\tS2", "") if sites_only else HEADER).replace(
        "##INFO=<ID=END", '##INFO=<ID=AC,Number=A,Type=Integer,Description="AC">\n'
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="AN">\n'
        '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="h">\n##INFO=<ID=END')
    info, tail = ("AC=1;AN=4;nhomalt=0", "") if sites_only else (".", "\tGT\t0|1\t0|0")
    fits = ALLELE_BASES - 1                           # REF one base, ALT the rest
    records = [(100, "A", "G"), (5000, "A" + bases, "A"), (9000, "A", "A" + bases),
               (12000, "A", "A" + bases[:fits - 1]), (20000, "C", "T")]
    lines = "".join(f"chr1\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t{info}{tail}\n"
                    for pos, ref, alt in records)
    path = write_vcf_text(tmp_path / "long.vcf", head + lines)
    with pytest.raises(VcfProblem) as problem:
        await ingest(db_url, _request(path))
    assert str(problem.value) == (
        f"{path}:{head.count(chr(10)) + 2}: alleles of 8,002 bases (REF and ALT together, "
        f"trimmed) are longer than the node stores ({ALLELE_BASES:,}): write the SV as a "
        "symbolic allele (<DEL>, <INS>) with END or SVLEN")
    report = await ingest(db_url, _request(path, skip_invalid=True))
    assert (report.records, report.rows, report.skipped_records) == (5, 3, 2)
    assert [(r[1] + 1, len(r[3]) + len(r[4])) for r in sorted(await _stored(db_url))] == [
        (100, 2), (12000, ALLELE_BASES), (20000, 2)]


@pytest.mark.parametrize("sites_only", [False, True], ids=["genotypes", "info-counts"])
@pytest.mark.parametrize("first,second", [
    ("1000 A G", "1000 AT GT,A"),           # the second's first ALT trims to 1000 A>G
    ("2000 C T", "2000 C T"),               # one record twice (the SNV fast path's)
    ("2999 AT AG", "3000 T G"),             # a padded SNV trimmed onto the next POS
    ("27661825 AC AG", "27661826 C G"),     # the same, across two regions' boundary
], ids=["trimmed-alt", "repeated", "padded", "two-regions"])
async def test_a_variant_in_two_records_is_refused_or_skipped_naming_both_lines(
        db_url, tmp_path, sites_only, first, second):
    """Two records that trim to one variant (chromosome, start, end and alleles: its id)
    made two rows under one id, each with part of the carriers and counts (numTotalResults
    2, each AC 1/AN 8, where the file says AC 2/AN 8): refused, naming the later line and
    the earlier (they are found to be one variant after the load, whichever workers read
    them); the previous version stays. With --skip-invalid the later record is skipped
    whole (each of its ALTs), counted and reported as `file:line: reason` as an invalid
    record is, and the first stays as it was: its counts, not the later's (before, the
    ingest stopped all the same)."""
    head = (HEADER.replace("\tFORMAT\tS1\tS2", "") if sites_only else HEADER).replace(
        "##INFO=<ID=END", '##INFO=<ID=AC,Number=A,Type=Integer,Description="AC">\n'
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="AN">\n'
        '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="h">\n##INFO=<ID=END')

    def line(record: str, later: bool = False) -> str:
        """The record with one carrier of each ALT; the later, two of each (homozygous)."""
        pos, ref, alts = record.split()
        n = alts.count(",") + 1
        info = (f"AC={','.join(['2' if later else '1'] * n)};AN=4;"
                f"nhomalt={','.join(['1' if later else '0'] * n)}" if sites_only else ".")
        calls = {(1, False): "0|1\t0|0", (1, True): "1|1\t0|0", (2, True): "1|1\t2|2"}
        tail = "" if sites_only else f"\tGT\t{calls[n, later]}"
        return f"chr1\t{pos}\t.\t{ref}\t{alts}\t.\tPASS\t{info}{tail}\n"
    records = [f"{p} A G" for p in (100, 200, 300)] + [first]
    good = await ingest(db_url, _request(write_vcf_text(                # read as the next
        tmp_path / "good.vcf", head + "".join(map(line, records[:3])))))
    path = write_vcf_text(tmp_path / "dup.vcf", head + "".join(map(line, records))
                          + line(second, later=True))
    assert vcf.plan_regions(vcf.inspect_vcf(path, GRCH38))[1].start == 27661825
    later = head.count("\n") + len(records) + 1
    named = f"{path}:{later}: the same variant as line {later - 1} (GRCh38:1:"
    with pytest.raises(VcfProblem) as problem:
        await ingest(db_url, _request(path))
    assert str(problem.value).startswith(named), str(problem.value)
    assert "bcftools norm" in str(problem.value)
    assert sorted(r[1] for r in await _stored(db_url)) == [99, 199, 299]
    assert good.version == 1

    report = await ingest(db_url, _request(path, skip_invalid=True))
    assert (report.records, report.rows, report.skipped_records) == (5, 4, 1)
    assert (report.first_skip or "").startswith(named), report.first_skip
    stored = await _stored(db_url)
    kept = vcf.inspect_vcf(write_vcf_text(tmp_path / "first.vcf", head + line(first)),
                           GRCH38)
    [(_, start, end, ref, alt)] = [row[:5] for row in vcf.read_rows(
        kept, None, vcf.ReadOptions(use_genotypes=not sites_only,
                                    samples_available=not sites_only), vcf.ChunkStats())]
    assert [r[1:5] for r in stored] == sorted(
        [(p - 1, p, "A", "G") for p in (100, 200, 300)] + [(start, end, ref, alt)], key=repr)
    assert {r[6] for r in stored} == {1}                  # the first record's counts
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval("SELECT variant_count FROM datasets") == 4
        assert await conn.fetchval("SELECT sum(variants) FROM variant_bins") == 4
    finally:
        await conn.close()


async def test_one_variant_twice_in_a_record_is_refused_at_its_line(db_url, tmp_path):
    """`A G,G` (or ALTs trimmed alike, `AT GT,G...`): refused at its line, naming both
    ALTs, or skipped and counted with --skip-invalid, the rest loaded."""
    path = write_vcf_text(tmp_path / "alts.vcf", HEADER + GOOD_LINES
                          + "chr1\t400\t.\tA\tC,G,G\t.\tPASS\t.\tGT\t1|2\t0|3\n"
                          + "chr1\t500\t.\tAT\tGT,G\t.\tPASS\t.\tGT\t0|1\t0|2\n")
    with pytest.raises(VcfProblem) as problem:
        await ingest(db_url, _request(path))
    assert str(problem.value).startswith(
        f"{path}:{HEADER.count(chr(10)) + 4}: ALT 3 is the same variant as ALT 2 "
        "(GRCh38:1:399:A:G, trimmed as stored)"), str(problem.value)
    report = await ingest(db_url, _request(path, skip_invalid=True))
    assert (report.records, report.rows, report.skipped_records) == (5, 5, 1)
    assert sorted((r[1], r[3], r[4]) for r in await _stored(db_url))[-2:] == [
        (499, "A", "G"), (499, "AT", "G")]


@pytest.mark.parametrize("sites_only", [False, True], ids=["genotypes", "info-counts"])
def test_an_alt_nobody_carries_is_no_variant_and_its_site_is_called(tmp_path, sites_only):
    """AC 0 (a cohort's file subset to fewer people, as `bcftools view -s` leaves its rows):
    the ALT is no variant of the dataset, on the SNV and indel fast paths, the multi-allelic
    one and the general reader alike; a record of such ALTs alone is a site called
    reference, with its allele number. They were stored, found and counted as variants."""
    head = (HEADER.replace("\tFORMAT\tS1\tS2", "") if sites_only else HEADER).replace(
        "##INFO=<ID=END", '##INFO=<ID=AC,Number=A,Type=Integer,Description="AC">\n'
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="AN">\n##INFO=<ID=END')
    records = [("100", "A", "G", "0", "0|0\t0|0"), ("200", "AC", "A", "0", "0|0\t0|0"),
               ("300", "A", "C,G", "1,0", "0|1\t0|0"), ("400", "A", "C,G", "0,0", "0|0\t0|0"),
               ("500", "a", "g", "0", "0|0\t0|0")]
    lines = "".join(f"chr1\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t"
                    + (f"AC={ac};AN=4\n" if sites_only else f".\tGT\t{calls}\n")
                    for pos, ref, alt, ac, calls in records)
    layout = inspect_vcf(write_vcf_text(tmp_path / "ac0.vcf", head + lines), GRCH38)
    stats = ChunkStats()
    rows = list(read_rows(layout, None, ReadOptions(not sites_only, not sites_only), stats))
    assert [(r[1], r[3], r[4]) for r in rows] == [(299, "A", "C")]
    assert stats.sites == [("1", 99, 100, 4), ("1", 199, 201, 4), ("1", 399, 400, 4),
                           ("1", 499, 500, 4)]
    assert stats.skipped_alleles == 6


@pytest.mark.parametrize("spelling", [str.upper, str.lower], ids=["fast-path", "general-path"])
def test_indels_at_pos_1_are_typed_and_alts_equal_to_ref_are_no_variants(tmp_path, spelling):
    """VCF pads an indel at a chromosome's first base with the base after it: `A>TA` at 1 is
    an insertion of one base and `TA>A` at 2 a deletion of one, where they were stored as
    INDEL of length 2. An ALT that is REF (`A>A`, `AC>ATC,AC`'s second) is no variant and
    was stored as one, `A>A`: it is skipped as `*` is, and a record of no other ALT kept as
    a site called reference. The same on the sites-only fast path (upper-case bases) and
    off it (lower-case)."""
    lines = ["chr1\t1\t.\tA\tTA\t.\tPASS\tAC=1;AN=10;nhomalt=0",
             "chr1\t2\t.\tTA\tA\t.\tPASS\tAC=2;AN=10;nhomalt=0",
             "chr1\t100\t.\tA\tA\t.\tPASS\tAC=3;AN=10;nhomalt=0",
             "chr1\t200\t.\tAC\tATC,AC\t.\tPASS\tAC=4,1;AN=10;nhomalt=0,0",
             "chr1\t300\t.\tC\tT\t.\tPASS\tAC=5;AN=10;nhomalt=1"]
    written = ["\t".join([*f[:3], spelling(f[3]), spelling(f[4]), *f[5:]])
               for f in (line.split("\t") for line in lines)]
    path = write_vcf_text(tmp_path / "pad.vcf", SITES_HEADER + "\n".join(written) + "\n")
    stats = ChunkStats()
    rows = [row[:10] for row in read_rows(inspect_vcf(path, GRCH38), None,
                                          ReadOptions(False, False), stats)]
    assert rows == [("1", 0, 1, "A", "TA", "INS", 1, 1, 10, 1),
                    ("1", 1, 3, "TA", "A", "DEL", 1, 2, 10, 2),
                    ("1", 199, 200, "A", "AT", "INS", 1, 4, 10, 4),
                    ("1", 299, 300, "C", "T", "SNP", 1, 5, 10, 4)]
    assert (stats.skipped_alleles, stats.sites) == (2, [("1", 99, 100, 10)])


async def test_alts_equal_to_ref_and_indels_at_pos_1_from_genotypes(db_url, tmp_path):
    """As above, for a file counted from its genotypes, loaded."""
    path = write_vcf_text(tmp_path / "pad.vcf", HEADER
                          + "chr1\t1\t.\tA\tTA\t.\tPASS\t.\tGT\t0|1\t0|0\n"
                          + "chr1\t2\t.\tTA\tA\t.\tPASS\t.\tGT\t1|1\t0|1\n"
                          + "chr1\t100\t.\tA\tA\t.\tPASS\t.\tGT\t0|1\t0|0\n"
                          + "chr1\t200\t.\tAC\tATC,AC\t.\tPASS\t.\tGT\t0|1\t2|2\n")
    report = await ingest(db_url, _request(path))
    assert (report.records, report.rows, report.skipped_records) == (4, 3, 0)
    assert await _stored(db_url) == [("1", 0, 1, "A", "TA", "INS", 1, 4, 1),
                                     ("1", 1, 3, "TA", "A", "DEL", 3, 4, 2),
                                     ("1", 199, 200, "A", "AT", "INS", 1, 4, 1)]


@pytest.mark.parametrize("spelling", [str.upper, str.lower], ids=["fast-path", "general-path"])
@pytest.mark.parametrize("counts, alts, reason", [
    ("AC=5,7;AN=100;nhomalt=1", "G",
     r"INFO AC=5,7 has 2 values for 1 ALT: AC is one per ALT \(Number=A\)"),
    ("AC=5;AN=100;nhomalt=1,0", "G",
     r"INFO nhomalt=1,0 has 2 values for 1 ALT: nhomalt is one per ALT \(Number=A\)"),
    ("AC=5;AN=100,3;nhomalt=1", "G",       # a TypeError on the fast path, naming no line
     r"INFO AN=100,3 has 2 values for 1 ALT: AN is one number \(Number=1\)"),
    ("AC=5;AN=100;nhomalt=1", "G,T",
     r"INFO AC=5 has 1 value for 2 ALTs: AC is one per ALT \(Number=A\)"),
], ids=["AC", "nhomalt", "AN", "two-alts"])
def test_info_counts_of_another_number_than_the_alts_are_refused_at_their_line(
        tmp_path, spelling, counts, alts, reason):
    """`AC=5,7` for one ALT: the fast path stored the 5, the general path (lower-case bases)
    no counts at all, silently. Which value is whose cannot be told: refused at its line on
    both, or skipped and counted with --skip-invalid."""
    text = (SITES_HEADER + "chr1\t100\t.\tA\tG\t.\tPASS\tAC=1;AN=10;nhomalt=0\n"
            + f"chr1\t200\t.\t{spelling('A')}\t{spelling(alts)}\t.\tPASS\t{counts}\n")
    layout = inspect_vcf(write_vcf_text(tmp_path / "number.vcf", text), GRCH38)
    with pytest.raises(VcfProblem, match=r"number\.vcf\.gz:8: " + reason + "$"):
        list(read_rows(layout, None, ReadOptions(False, False), ChunkStats()))
    stats = ChunkStats()
    rows = list(read_rows(layout, None, ReadOptions(False, False, skip_invalid=True), stats))
    assert [row[:10] for row in rows] == [("1", 99, 100, "A", "G", "SNP", 1, 1, 10, 1)]
    assert stats.skipped_records == 1


TRIPLOID = {   # a record and the GT it is refused for, read three ways
    "genotypes": ("chr1\t400\t.\tA\tG\t.\tPASS\t.\tGT\t./1\t0/1/1\t1/1/1\n", "0/1/1"),
    # INFO counts declared, none on this record: its region is read again with the samples
    "info-counts": ("chr1\t400\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1|1|1\t0/0\n", "1|1|1"),
    "reference-only": ("chr1\t400\t.\tA\t.\t.\tPASS\t.\tGT\t0/0\t0/0/0\t0\n", "0/0/0"),
}


@pytest.mark.parametrize("case", sorted(TRIPLOID))
async def test_calls_of_more_than_two_alleles_are_refused_at_their_line(db_url, tmp_path,
                                                                         case):
    """A population's counts are read from which samples carry an allele, are homozygous
    for it and called one (beacon/populations.py), which cannot hold `1/1/1`'s three copies:
    `./1 0/1/1 1/1/1` was stored as AC=6, AN=7 and served as alleleCount 3 of 5 (found by
    a probe). Refused at its line wherever GT is read, or skipped with --skip-invalid."""
    record, gt = TRIPLOID[case]
    header = HEADER.replace("\tS2", "\tS2\tS3")
    info = "."
    if case == "info-counts":
        header = header.replace("##FORMAT", '##INFO=<ID=AC,Number=A,Type=Integer,Description="x">\n'
                                '##INFO=<ID=AN,Number=1,Type=Integer,Description="x">\n'
                                '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="x">\n'
                                "##FORMAT")
        info = "AC=1;AN=6;nhomalt=0"
    good = "".join(f"chr1\t{p}\t.\tA\tG\t.\tPASS\t{info}\tGT\t0|1\t0|0\t0|0\n"
                   for p in (100, 200, 300))
    path = write_vcf_text(tmp_path / "ploidy.vcf", header + good + record)
    with pytest.raises(VcfProblem) as problem:
        await ingest(db_url, _request(path))
    assert str(problem.value) == (f"{path}:{header.count(chr(10)) + 4}: GT '{gt}': ploidy "
                                  "above 2 is not supported")
    report = await ingest(db_url, _request(path, skip_invalid=True))
    assert (report.records, report.rows, report.skipped_records) == (4, 3, 1)
    assert "ploidy above 2" in (report.first_skip or "")
    assert sorted(r[1] for r in await _stored(db_url)) == [99, 199, 299]


async def test_vcf_4_4_calls_with_a_leading_phasing_indicator_count_their_alleles(db_url,
                                                                                  tmp_path):
    """VCF 4.4 lets a call say the first allele's phasing too (`|0/1`, `/1`), and htslib
    writes it where it is not the one inferred: `|0/1`, a diploid call, was refused as
    "ploidy above 2" (its empty first item counted as an allele)."""
    header = HEADER.replace("VCFv4.2", "VCFv4.4").replace("\tS2", "\tS2\tS3")
    path = write_vcf_text(tmp_path / "v44.vcf",
                          header + "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t|0/1\t/1\t/1/1\n")
    report = await ingest(db_url, _request(path))
    assert report.rows == 1
    # AC: 1 + 1 + 2 of AN 2 + 1 + 2, carried by all three
    assert await _stored(db_url) == [("1", 99, 100, "A", "G", "SNP", 4, 5, 3)]


FILTERED = {"PASS": 100, ".": 200, "LowQual": 300, "LowQual;q10": 400, "q10": 500}


def _filtered_vcf(directory: Path, genotypes: bool, index: bool) -> Path:
    """A record per FILTER value of FILTERED, plus a second q10 one with two ALTs."""
    declared = ('##FILTER=<ID=LowQual,Description="Low quality">\n'
                '##FILTER=<ID=q10,Description="Quality below 10">\n')
    header = (HEADER if genotypes else SITES_HEADER).replace("#CHROM", declared + "#CHROM")
    tail = "\tGT\t0|1\t1|1" if genotypes else ""
    info = "." if genotypes else "AC=3;AN=4;nhomalt=1"
    lines = [f"chr1\t{pos}\t.\tA\tG\t.\t{value}\t{info}{tail}\n"
             for value, pos in FILTERED.items()]
    info2 = "." if genotypes else "AC=1,1;AN=4"
    tail2 = "\tGT\t0|1\t0|2" if genotypes else ""
    lines.append(f"chr1\t600\t.\tA\tG,T\t.\tq10\t{info2}{tail2}\n")
    kind = "genotypes" if genotypes else "sites"
    return write_vcf_text(directory / f"filtered-{kind}.vcf", header + "".join(lines),
                          index=index)


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "plain"])
@pytest.mark.parametrize("genotypes", [True, False], ids=["genotypes", "sites"])
async def test_records_failing_filter_are_skipped_and_counted(db_url, tmp_path, genotypes,
                                                              index):
    """Only PASS and '.' records load by default (failed QC calls are not variants to
    answer for); the others are counted by FILTER value in the report and the dataset's
    source. `keep_filtered` loads them all."""
    path = _filtered_vcf(tmp_path, genotypes, index)
    report = await ingest(db_url, _request(path))
    assert report.failed_filter == {"LowQual": 1, "LowQual;q10": 1, "q10": 2}
    assert (report.records, report.rows, report.skipped_records) == (6, 2, 0)
    assert sorted(row[1] for row in await _stored(db_url)) == [99, 199]
    conn = await asyncpg.connect(db_url)
    try:
        source = json.loads(await conn.fetchval("SELECT source FROM datasets WHERE id = $1",
                                                DATASET))
    finally:
        await conn.close()
    assert source["recordsFailingFilter"] == {"LowQual": 1, "LowQual;q10": 1, "q10": 2}
    kept = await ingest(db_url, _request(path, keep_filtered=True))
    assert (kept.failed_filter, kept.rows) == ({}, 7)
    assert sorted(row[1] for row in await _stored(db_url)) == [99, 199, 299, 399, 499, 599,
                                                                599]


async def test_first_ingest_failure_leaves_no_dataset(db_url, tmp_path):
    path = write_vcf_text(tmp_path / "bad.vcf", HEADER + "chr1\t5\t.\tQ\tG\t.\t.\t.\tGT\t0|1\t0|0\n")
    with pytest.raises(VcfProblem):
        await ingest(db_url, _request(path))
    assert await _state(db_url) == ([], [])


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
async def test_a_file_none_of_whose_records_can_be_placed_is_refused_keeping_the_version(
        db_url, tmp_path, index):
    """Records on contigs the assembly does not name (`chr01`, another genome's) are skipped
    and counted as a decoy's are; a file of nothing else loaded as an empty version, which
    replaced the dataset's with exit 0. It is refused, naming its contigs, and the version
    in place stays."""
    good = write_vcf_text(tmp_path / "good.vcf", HEADER + GOOD_LINES)
    await ingest(db_url, _request(good))
    before = await _state(db_url)
    lines = GOOD_LINES.replace("chr1\t", "chr01\t") + GOOD_LINES.replace("chr1\t", "scaffold_7\t")
    path = write_vcf_text(tmp_path / "off.vcf", HEADER + lines, index=index)
    with pytest.raises(VcfProblem) as problem:
        await ingest(db_url, _request(path))
    assert str(problem.value) == (
        f"{path}: none of its 6 records lies on GRCh38's chromosomes (contigs chr01 3, "
        "scaffold_7 3): is the file on another genome, or are its contigs named as no "
        "assembly names them (1, chr1, NC_000001.11 are chromosome 1)?")
    assert await _state(db_url) == before


async def test_a_file_every_record_of_which_is_skipped_is_refused_keeping_the_version(
        db_url, tmp_path):
    """Every record failing its FILTER, or invalid and skipped on request (--skip-invalid),
    loaded an empty version that replaced the dataset's, exit 0, its counts reported as if
    a load. It is refused saying why each was left out, and the version in place stays."""
    good = write_vcf_text(tmp_path / "good.vcf", HEADER + GOOD_LINES)
    await ingest(db_url, _request(good))
    before = await _state(db_url)
    failing = write_vcf_text(tmp_path / "failing.vcf", HEADER.replace(
        "##INFO", '##FILTER=<ID=LowQual,Description="Low quality">\n##INFO')
        + GOOD_LINES.replace("PASS", "LowQual"))
    with pytest.raises(VcfProblem) as problem:
        await ingest(db_url, _request(failing))
    assert str(problem.value) == (
        f"{failing}: none of its 3 records would be loaded (3 failing FILTER: LowQual 3; "
        "--keep-filtered loads them): the version the dataset has stays")
    assert await _state(db_url) == before
    invalid = write_vcf_text(tmp_path / "invalid.vcf", HEADER + GOOD_LINES.replace(
        "\tA\tG\t", "\tA\tZ\t"))
    with pytest.raises(VcfProblem, match=r"none of its 3 records would be loaded \(3 invalid, "
                                         r"skipped as --skip-invalid asked"):
        await ingest(db_url, _request(invalid, skip_invalid=True))
    assert await _state(db_url) == before
    await ingest(db_url, _request(failing, keep_filtered=True))      # loaded when asked
    assert await _state(db_url) != before


async def test_grch37_file_is_placed_on_grch37(db_url, tmp_path):
    path = write_vcf(VcfSpec(tmp_path / "b37.vcf.gz", records=1000, samples=2, seed=3,
                             assembly="GRCh37")).path
    await ingest(db_url, _request(path, assembly=GRCH37))
    assert await _stored(db_url) == expected_rows(path)
    with pytest.raises(VcfProblem, match="the header says GRCh37 .*, --assembly says GRCh38: the file is not on GRCh38"):
        await ingest(db_url, _request(path, "GDI-FI-SYN-002"))


B37 = "##fileformat=VCFv4.1\n{}#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t1000\t.\tA\tG\t.\tPASS\t.\n"


@pytest.mark.parametrize("lines,said", [
    ("##reference=GRCh37\n", "##reference=GRCh37, line 2"),
    ("##reference=file:///ref/human_g1k_v37.fasta\n",
     "##reference=file:///ref/human_g1k_v37.fasta, line 2"),
    ("##assembly=hg19\n", "##assembly=hg19, line 2"),
    ("##contig=<ID=1,assembly=b37>\n", "##contig=<ID=1,assembly=b37>, line 2"),
    ("##contig=<ID=chr1,length=249250621>\n", "##contig=<ID=chr1,length=249250621>, line 2"),
    ("##contig=<ID=NC_000001.10>\n", "##contig=<ID=NC_000001.10>, line 2")],
    ids=["reference", "reference-file", "assembly", "contig-assembly", "contig-length",
         "contig-accession"])
def test_the_headers_assembly_is_taken_when_none_is_given_and_refused_against_another(
        tmp_path, lines, said):
    """A GRCh37 header loaded as GRCh38 made every answer wrong, silently. Without an
    assembly given, the header's is taken and the layout says why; given another, the file is
    refused at the line, unless forced (contig lengths are checked even so)."""
    path = tmp_path / "b37.vcf"
    path.write_text(B37.format(lines))
    layout = inspect_vcf(path, None)
    assert (layout.assembly.id, layout.assembly_reason) == ("GRCh37",
                                                            f"the header says so ({said})")
    with pytest.raises(VcfProblem) as refused:
        inspect_vcf(path, GRCH38)
    advice = ("the file is not on GRCh38; correct --assembly" if "length" in lines
              else "correct --assembly, or add --force-assembly")
    assert str(refused.value).startswith(
        f"{path}:2: the header says GRCh37 ({said.rsplit(', line', 1)[0]}), --assembly says "
        f"GRCh38: {advice}")
    assert inspect_vcf(path, GRCH37).assembly_reason == "--assembly"
    if "length" not in lines:
        forced = inspect_vcf(path, GRCH38, force_assembly=True)
        assert forced.assembly.id == "GRCh38"
        assert forced.assembly_reason == f"--assembly, over the header's {said}"


@pytest.mark.parametrize("lines,problem", [
    ("##reference=hg19\n##contig=<ID=chr1,length=248956422>\n",
     (":2: the header says GRCh37 (##reference=hg19) and GRCh38 (##contig=<ID=chr1,"
      "length=248956422>, line 3): give --assembly, with --force-assembly")),
    ("##reference=hg18.fa\n", (":2: the header says NCBI36 (##reference=hg18.fa), an "
                               "assembly this node does not hold (GRCh38, GRCh37)"))],
    ids=["both", "other"])
def test_a_header_naming_two_assemblies_or_one_not_held_is_refused(tmp_path, lines, problem):
    path = tmp_path / "odd.vcf"
    path.write_text(B37.format(lines))
    with pytest.raises(VcfProblem, match=re.escape(f"{path}{problem}")):
        inspect_vcf(path, None)


def test_a_header_naming_no_assembly_is_on_the_default(tmp_path):
    path = tmp_path / "plain.vcf"
    path.write_text(B37.format("##reference=file:///data/ref.fa\n"))
    layout = inspect_vcf(path, None)
    assert (layout.assembly.id, layout.assembly_reason) == (
        "GRCh38", "the default: the header names no assembly")


async def test_without_an_assembly_a_grch37_file_loads_on_grch37(db_url, tmp_path):
    path = write_vcf(VcfSpec(tmp_path / "b37.vcf.gz", records=1000, samples=2, seed=3,
                             assembly="GRCh37")).path
    report = await ingest(db_url, _request(path, assembly=None))
    assert (report.assembly, report.assembly_reason) == (
        "GRCh37", "the header says so (##reference=GRCh37, line 2)")
    assert await _stored(db_url) == expected_rows(path)
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval("SELECT assembly FROM datasets WHERE id = $1",
                                   DATASET) == "GRCh37"
    finally:
        await conn.close()


def test_flags_override_metadata_and_default_is_controlled(tmp_path):
    meta = DatasetMetadata(identifier=DATASET, title="T", accessLevel="REGISTERED",
                           assembly="GRCh37", country="FI")
    assert make_request(tmp_path, DATASET).access_level is AccessLevel.CONTROLLED
    from_file = make_request(tmp_path, DATASET, metadata=meta)
    assert (from_file.access_level, from_file.assembly.id) == (AccessLevel.REGISTERED, "GRCh37")
    assert from_file.metadata["country"] == "FI"
    flagged = make_request(tmp_path, DATASET, metadata=meta, access_level="public",
                           assembly="hg38")
    assert (flagged.access_level, flagged.assembly.id) == (AccessLevel.PUBLIC, "GRCh38")
    assert make_request(tmp_path, DATASET).assembly is None          # the header's
    unstated = DatasetMetadata(identifier=DATASET, title="T")
    assert make_request(tmp_path, DATASET, metadata=unstated).assembly is None
    assert from_file.assembly_given_by == "the metadata file's assembly"
    with pytest.raises(MetadataError, match="--force-assembly"):
        make_request(tmp_path, DATASET, force_assembly=True)


@pytest.mark.parametrize("dataset_id,problem", [
    ("FI-001", "not in GDI form"), ("GDI-FI-SYN-001'; DROP TABLE datasets;--", "not in GDI form"),
    ("gdi-fi-syn-001", "not in GDI form")])
def test_dataset_id_must_be_in_gdi_form(tmp_path, dataset_id, problem):
    with pytest.raises(MetadataError, match=problem):
        make_request(tmp_path, dataset_id)


def test_a_metadata_file_with_a_byte_order_mark_is_read(tmp_path):
    """As the configuration, the phenopackets and a CSV are: refused before ("Unexpected
    UTF-8 BOM"), where editors on Windows write one."""
    from catalogue.metadata import load_metadata
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({
        "identifier": DATASET, "title": "t", "description": "d", "publisher": "p"}).encode())
    assert load_metadata(path).identifier == DATASET


def test_metadata_identifier_must_match_dataset_flag(tmp_path):
    meta = DatasetMetadata(identifier="GDI-FI-SYN-002", title="T")
    with pytest.raises(MetadataError, match="must be the same key"):
        make_request(tmp_path, DATASET, metadata=meta)


# --- individuals ---------------------------------------------------------------------------------

def _people(*changes: dict) -> str:
    """Phenopackets of HEADER's samples S1 and S2 as a JSON array, the second with `changes`."""
    second = {"subject": {"id": "S2"}}
    for change in changes:
        second |= change
    return json.dumps([{"subject": {"id": "S1"}}, second])


# (file name, content, the refusal after `file:2: `); each once stopped the ingest with another
# exception, naming no record (found by a review)
BAD_PEOPLE = {
    # orjson's TypeError writing the Beacon record
    "surrogate_in_a_feature": ("p.json", _people({"phenotypicFeatures": [
        {"type": {"id": "HP:0001250", "label": "Seizure \ud83d"}}]}),
        "phenotypicFeatures[0].type.label: holds a lone UTF-16 surrogate (\\ud83d"),
    # not in the Beacon record: UnicodeEncodeError in the COPY, inside the swap
    "surrogate_in_a_histology": ("p.json", _people({"biosamples": [
        {"id": "B1", "histologicalDiagnosis": {"id": "NCIT:C4349", "label": "x \udc00"}}]}),
        "biosamples[0].histologicalDiagnosis.label: holds a lone UTF-16 surrogate (\\udc00"),
    # OverflowError from math.isfinite()
    "integer_past_a_float": ("p.json", _people({"measurements": [
        {"assay": {"id": "LOINC:8302-2"}, "value": {"quantity": {"value": 10 ** 400}}}]}),
        "measurements[0].value.quantity.value: an integer of 401 digits, not a number a float"),
    # json.loads's plain ValueError (not JSONDecodeError): Python's int max str digits
    "integer_past_python": ("p.jsonl", '{"subject": {"id": "S1"}}\n'
                            '{"subject": {"id": "S2"}, "extra": 1' + "0" * 5000 + "}\n",
                            "extra: an integer of 5,001 digits, longer than a number is read"),
}


@pytest.mark.parametrize("case", sorted(BAD_PEOPLE))
async def test_a_phenopacket_the_node_cannot_hold_is_refused_at_its_record_keeping_the_version(
        db_url, tmp_path, case):
    vcf = write_vcf_text(tmp_path / "people.vcf", HEADER + GOOD_LINES)
    good = _write(tmp_path / "good.json", _people())
    await ingest(db_url, _request(vcf, individuals=good))
    before = await _state(db_url)
    name, content, reason = BAD_PEOPLE[case]
    bad = _write(tmp_path / name, content)
    with pytest.raises(PhenopacketProblem) as problem:
        await ingest(db_url, _request(vcf, individuals=bad))
    assert str(problem.value).startswith(f"{bad}:2: {reason}")
    assert await _state(db_url) == before


@pytest.mark.parametrize("first_with_people", [True, False])
async def test_a_version_accounted_otherwise_than_the_one_in_place_is_refused_keeping_it(
        db_url, tmp_path, first_with_people):
    """A file with INFO counts and samples is loaded with its samples' genotypes read
    (--individuals: each variant names its carriers, each caller's answers charged to them)
    or from INFO alone (nobody named: one account per caller). A new version loaded the
    other way would start every caller's standing afresh, and a question answered across
    the swap was judged by one accounting and counted in the other (a review, 2026-12-06):
    refused before the load, the version in place unchanged; loaded the same way, it
    loads, and after a removal, the other way too."""
    text = HEADER.replace("##FORMAT", "".join(
        f'##INFO=<ID={name},Number={number},Type=Integer,Description="{name}">\n'
        for name, number in (("AC", "A"), ("AN", "1"), ("nhomalt", "A"))) + "##FORMAT")
    vcf = write_vcf_text(tmp_path / "counted.vcf", text + GOOD_LINES.replace(
        "PASS\t.\t", "PASS\tAC=1;AN=4;nhomalt=0\t"))
    people = _write(tmp_path / "people.json", _people())
    first, other = ({"individuals": people}, {}) if first_with_people else ({}, {
        "individuals": people})
    await ingest(db_url, _request(vcf, **first))
    before = await _state(db_url)
    with pytest.raises(AccountingChange) as refused:
        await ingest(db_url, _request(vcf, **other))
    said = str(refused.value)
    assert said.startswith(f"{DATASET}: the version in place was loaded with ")
    assert said.index("genotypes read" if first_with_people else "from INFO") < said.index(
        ", this one with ")
    assert f"gdi-node remove {DATASET}" in said
    assert await _state(db_url) == before
    await ingest(db_url, _request(vcf, **first))            # as before: a new version
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchrow("SELECT version, genotyped FROM datasets WHERE id = $1",
                                   DATASET) == (2, first_with_people)
        assert await store.delete_dataset(conn, DATASET)
    finally:
        await conn.close()
    await ingest(db_url, _request(vcf, **other))


async def test_samples_whose_names_differ_only_by_a_trailing_space_each_load_their_phenopacket(
        db_url, tmp_path):
    """htslib keeps a sample named `S1 ` as written, beside `S1`; a phenopacket's subject id
    was stripped, so `S1 `'s was refused as "subject 'S1' is not a sample of the VCF" (found
    by a review). Each loads its own now, its record under its own id."""
    text = HEADER.replace("\tS1\tS2\n", "\tS1 \tS1\n") + GOOD_LINES
    vcf = write_vcf_text(tmp_path / "spaced.vcf", text)
    people = _write(tmp_path / "people.json", json.dumps([
        {"subject": {"id": "S1", "sex": "MALE"}}, {"subject": {"id": "S1 ", "sex": "FEMALE"}}]))
    report = await ingest(db_url, _request(vcf, individuals=people))
    assert (report.samples, report.phenopackets) == (2, 2)
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT sample_index, id, sex, record FROM individuals "
                                "WHERE dataset_id = $1 ORDER BY sample_index", DATASET)
    finally:
        await conn.close()
    assert [(r[0], r[1], r[2], json.loads(r[3])["id"]) for r in rows] == [
        (0, "S1 ", "FEMALE", "S1 "), (1, "S1", "MALE", "S1")]


async def test_the_report_counts_onsets_and_ages_not_given_as_an_age(db_url, tmp_path):
    """Held as unknown by design, which age filters do not see: the report says how many, for
    the operator to learn (the CLI prints it)."""
    vcf = write_vcf_text(tmp_path / "people.vcf", HEADER + GOOD_LINES)
    people = _write(tmp_path / "people.json", _people({
        "subject": {"id": "S2", "timeAtLastEncounter": {"ontologyClass": {"id": "HP:0003581"}}},
        "diseases": [{"term": {"id": "NCIT:C3117"},
                      "onset": {"ageRange": {"start": {"iso8601duration": "P40Y"}}}},
                     {"term": {"id": "NCIT:C2991"},
                      "onset": {"age": {"iso8601duration": "P4Y"}}}]}))
    report = await ingest(db_url, _request(vcf, individuals=people))
    assert (report.phenopackets, report.unaged) == (2, 2)
    plain = _write(tmp_path / "plain.json", _people())
    assert (await ingest(db_url, _request(vcf, individuals=plain))).unaged == 0
