"""Files operators have: plain gzip and bgzip without an index load, and say what was done.

The file given is never changed; a problem in it is named against it, line included, even
though the node read a prepared copy.
"""
from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import asyncpg
import pysam
import pytest

import beacon.ingest
from auth.access import AccessLevel
from beacon.assemblies import GRCH38
from beacon.ingest import IngestReport, IngestRequest, ingest
from beacon.prepare import Prepared, prepare
from beacon.vcf import VcfProblem
from beacon.workdirs import PREFIX
from node.migrate import NODE_MIGRATIONS, apply_migrations

HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
          "##contig=<ID=chr2,length=242193529>\n"
          '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n")
LINES = "".join(f"chr{c}\t{p}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\n"
                for c in (1, 2) for p in range(1000, 400_000, 10_000))


@pytest.fixture
async def schema(db_url: str) -> str:
    conn = await asyncpg.connect(db_url)
    try:
        await apply_migrations(conn, NODE_MIGRATIONS)
    finally:
        await conn.close()
    return db_url


def _plain_gzip(path: Path, text: str) -> Path:
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def _bgzipped(tmp_path: Path, text: str) -> Path:
    """`text` as cohort.vcf.gz, compressed as tabix does, with no index beside it."""
    plain = tmp_path / "cohort.vcf"
    plain.write_text(text)
    path = Path(f"{plain}.gz")
    pysam.tabix_compress(str(plain), str(path))
    return path


async def _load(db_url: str, path: Path) -> IngestReport:
    return await ingest(db_url, IngestRequest(path, "GDI-FI-SYN-001", GRCH38,
                                              AccessLevel.PUBLIC, "t", workers=2))


async def _refused(db_url: str, path: Path) -> str:
    """The VcfProblem a load of `path` into an empty database ends in, nothing loaded."""
    with pytest.raises(VcfProblem) as problem:
        await _load(db_url, path)
    assert await _rows(db_url) == 0
    return str(problem.value)


async def _rows(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM variants")
    finally:
        await conn.close()


async def test_plain_gzip_is_recompressed_indexed_and_said(schema, tmp_path):
    path = _plain_gzip(tmp_path / "cohort.vcf.gz", HEADER + LINES)
    before = path.read_bytes()
    report = await _load(schema, path)
    assert report.note is not None and report.note.startswith("compressed with plain gzip")
    assert report.regions > 1                         # read in parallel, through an index
    assert report.rows == await _rows(schema) == LINES.count("\n")
    assert path.read_bytes() == before and not Path(f"{path}.tbi").exists()


async def test_the_copy_is_made_in_the_ingests_own_directory_and_leftovers_removed(
        schema, tmp_path, monkeypatch):
    """A killed ingest's copy (as big as the file) is removed by the next ingest; the copy
    is made in a directory of the ingest's own, gone when it ends (beacon/workdirs.py)."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    left = temporary / f"{PREFIX}killed"         # unheld: its ingest is gone
    (left / "prepared").mkdir(parents=True)
    (left / "prepared" / "cohort.vcf").write_text(HEADER + LINES)
    made_in: list[Path] = []

    def seen(path: Path, workdir: Path) -> Prepared:
        made_in.append(workdir)
        assert not left.exists()                   # removed before the copy is made
        return prepare(path, workdir)

    monkeypatch.setattr(beacon.ingest, "prepare", seen)
    path = _plain_gzip(tmp_path / "cohort.vcf.gz", HEADER + LINES)
    report = await _load(schema, path)
    assert report.rows == LINES.count("\n")
    assert made_in[0].parent.parent == temporary
    assert made_in[0].parent.name.startswith(PREFIX)
    assert list(temporary.iterdir()) == []


async def test_unindexed_bgzip_is_indexed_in_a_copy(schema, tmp_path):
    path = _bgzipped(tmp_path, HEADER + LINES)
    report = await _load(schema, path)
    assert report.note is not None and report.note.startswith("no index beside it")
    assert report.regions > 1 and report.rows == LINES.count("\n")
    assert not Path(f"{path}.tbi").exists()          # the operator's folder is left alone


async def test_a_problem_in_a_prepared_file_names_the_file_given(schema, tmp_path):
    bad = LINES + "chr2\t500000\t.\tA\t<WHAT>\t.\tPASS\t.\tGT\t0/1\t1/1\n"
    path = _plain_gzip(tmp_path / "bad.vcf.gz", HEADER + bad)
    line = HEADER.count("\n") + bad.count("\n")
    assert (await _refused(schema, path)).startswith(f"{path}:{line}: ALT '<WHAT>'")


async def test_a_record_skipped_in_a_prepared_file_names_the_file_given(schema, tmp_path):
    """--skip-invalid's report of the first record skipped, an invalid one or one repeating
    an earlier record's variant, names the file given, not the prepared copy read (it named
    a temporary file, gone once the ingest ended)."""
    line = HEADER.count("\n") + LINES.count("\n") + 1
    for name, extra, reason in [
            ("bad.vcf.gz", "chr2\t500000\t.\tA\t<WHAT>\t.\tPASS\t.\tGT\t0/1\t1/1\n",
             ": ALT '<WHAT>'"),
            ("repeated.vcf.gz", LINES.splitlines(keepends=True)[-1],
             f":{line}: the same variant as line {line - 1} (GRCh38:2:")]:
        path = _plain_gzip(tmp_path / name, HEADER + LINES + extra)
        report = await ingest(schema, IngestRequest(path, "GDI-FI-SYN-001", GRCH38,
                                                    AccessLevel.PUBLIC, "t", workers=2,
                                                    skip_invalid=True))
        assert report.note is not None and report.skipped_records == 1
        assert (report.first_skip or "").startswith(f"{path}{reason}"), report.first_skip
        assert report.rows == await _rows(schema) == LINES.count("\n")


async def test_plain_gzip_that_cannot_be_indexed_is_read_from_the_top(schema, tmp_path, capfd):
    """Unsorted: tabix cannot index it, so the recompressed copy is read by one worker and
    the note says so. A line broken in two: the reader names it against the file given, and
    htslib's own report of the line it could not index stays off the operator's terminal
    (found by fuzzing: the fallback looked for the text tabix had already removed, a
    FileNotFoundError reported as the database's)."""
    lines = LINES.splitlines(keepends=True)
    unsorted = _plain_gzip(tmp_path / "unsorted.vcf.gz", HEADER + "".join(lines[5:] + lines[:5]))
    report = await _load(schema, unsorted)
    assert report.note is not None and "could not be indexed" in report.note, report.note
    assert report.regions == 1 and report.rows == await _rows(schema) == len(lines)
    broken = lines[:30] + [lines[30][:20] + "\n" + lines[30][20:]] + lines[31:]
    path = _plain_gzip(tmp_path / "broken.vcf.gz", HEADER + "".join(broken))
    capfd.readouterr()
    with pytest.raises(VcfProblem) as problem:
        await _load(schema, path)
    assert str(problem.value).startswith(f"{path}:{HEADER.count(chr(10)) + 31}:"), problem.value
    assert "[E::" not in capfd.readouterr().err
    assert await _rows(schema) == len(lines)                  # the first version stands


@pytest.mark.parametrize("binary", [False, True], ids=["vcf.gz", "bcf"])
async def test_an_index_older_than_its_file_is_not_used(schema, tmp_path, binary):
    """The file rewritten with more records (on chr1, moving every offset, and on chr3,
    which the old index does not list) beside its old index: every record loads, through
    a new index in a copy, and the note says why. Before, regions were planned from the old
    index's contigs (chr3's records silently left out, exit 0) and its offsets (`Invalid
    BGZF header`); htslib's warning of the older index was kept quiet."""
    header = HEADER.replace("##contig=<ID=chr2,length=242193529>\n",
                            "##contig=<ID=chr2,length=242193529>\n"
                            "##contig=<ID=chr3,length=198295559>\n")
    suffix, fmt, index = (".bcf", "b", ".csi") if binary else (".vcf.gz", "z", ".tbi")
    path = tmp_path / f"cohort{suffix}"

    def write(lines: str) -> None:
        text = tmp_path / "cohort.txt.vcf"
        text.write_text(header + lines)
        with pysam.VariantFile(str(text)) as source, \
                pysam.VariantFile(str(path), f"w{fmt}", header=source.header) as target:
            for record in source:
                target.write(record)

    write(LINES)
    pysam.tabix_index(str(path), preset="bcf" if binary else "vcf", csi=binary, force=True)
    old_index = Path(f"{path}{index}")
    before = old_index.read_bytes()
    more = "".join(f"chr{c}\t{p}\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/0\n"
                   for c in (1, 3) for p in range(500, 300_000, 3_000))
    lines = sorted((LINES + more).splitlines(keepends=True),
                   key=lambda line: (line.split("\t")[0], int(line.split("\t")[1])))
    write("".join(lines))
    written = path.stat().st_mtime_ns
    os.utime(old_index, ns=(written - 2 * 10**9, written - 2 * 10**9))
    report = await _load(schema, path)
    assert report.rows == await _rows(schema) == len(lines)
    assert report.note is not None and report.note.startswith(
        f"its index cohort{suffix}{index} is older than the file"), report.note
    assert "indexed again" in report.note and report.regions > 1
    conn = await asyncpg.connect(schema)
    try:
        per_chromosome = dict(await conn.fetch(
            "SELECT chromosome, count(*) FROM variants GROUP BY chromosome"))
    finally:
        await conn.close()
    assert per_chromosome == {c: sum(line.startswith(f"chr{c}\t") for line in lines)
                              for c in ("1", "2", "3")}
    assert old_index.read_bytes() == before          # the operator's folder is left alone
    pysam.tabix_index(str(path), preset="bcf" if binary else "vcf", csi=binary, force=True)
    report = await _load(schema, path)
    assert report.note is None and report.rows == len(lines)     # indexed again: trusted


async def test_a_file_whose_stale_index_cannot_be_rebuilt_is_read_from_the_top(schema,
                                                                                tmp_path):
    """Unsorted since it was indexed: not read through the old index either, but by one
    worker from the top, every record loaded."""
    text = tmp_path / "cohort.vcf"
    text.write_text(HEADER + LINES)
    path = Path(pysam.tabix_index(str(text), preset="vcf", force=True))
    lines = LINES.splitlines(keepends=True)
    text = tmp_path / "again.vcf"
    text.write_text(HEADER + "".join(lines[5:] + lines[:5]))
    pysam.tabix_compress(str(text), str(path), force=True)
    written = path.stat().st_mtime_ns
    os.utime(f"{path}.tbi", ns=(written - 2 * 10**9, written - 2 * 10**9))
    report = await _load(schema, path)
    assert report.rows == await _rows(schema) == len(lines)
    assert report.note is not None and "read from the top" in report.note, report.note
    assert report.regions == 1


async def test_a_plain_text_vcf_named_gz_is_read_as_the_text_it_is(schema, tmp_path):
    """A VCF decompressed on the way (a download tool, a copy that kept its name) keeps
    `.vcf.gz`: it is read as the plain text it is, and left as it is. Taken by its name for
    an unindexed bgzip file, it was given to tabix to index, which compressed the link to it
    and removed the link, and the ingest said "no such file"."""
    path = tmp_path / "cohort.vcf.gz"
    path.write_text(HEADER + LINES)
    report = await _load(schema, path)
    assert report.rows == await _rows(schema) == LINES.count("\n")
    assert path.read_text() == HEADER + LINES and not Path(f"{path}.tbi").exists()



@pytest.mark.parametrize("damage", [b"not an index\n" * 50, b"\x1f\x8b\x08\x04" + bytes(60),
                                    "truncated"])
async def test_an_index_htslib_cannot_read_is_not_used_and_the_report_says_so(
        schema, tmp_path, damage):
    """A .tbi beside the file, newer than it, that htslib cannot read (not an index, a
    gzip header alone, a real index cut short): htslib opened the file without it, warning
    on the stderr ingest keeps quiet, so the file was read from the top by one worker and the
    report said nothing. It is indexed again in a copy now, read in parallel regions, and
    the report says why; the operator's index is left as it was."""
    path = _bgzipped(tmp_path, HEADER + LINES)
    index = Path(f"{path}.tbi")
    if damage == "truncated":
        pysam.tabix_index(str(path), preset="vcf", force=True)
        damage = index.read_bytes()[:40]
    index.write_bytes(damage)
    report = await _load(schema, path)
    assert report.rows == await _rows(schema) == LINES.count("\n")
    assert report.note == ("its index cohort.vcf.gz.tbi could not be read (damaged, or not "
                           "an index): not used; indexed again for parallel reads (`tabix -f "
                           "-p vcf` on the file skips this step)"), report.note
    assert report.regions > 1 and index.read_bytes() == damage


def _with_the_index_of(path: Path, other_lines: str, tmp_path: Path) -> None:
    """An index of another file beside `path`, written after it: fresh by its time."""
    other = tmp_path / "other.vcf"
    other.write_text(HEADER + other_lines)
    index = Path(f"{pysam.tabix_index(str(other), preset='vcf', force=True)}.tbi")
    Path(f"{path}.tbi").write_bytes(index.read_bytes())


async def test_an_index_not_listing_a_contig_the_file_has_is_refused(schema, tmp_path):
    """An index newer than its file but made for another one (copied beside it; a file
    replaced under a kept index) that lists chr1 alone: the regions are planned from the
    index's contigs, so chr2's records were never read, and half the file loaded, exit 0.
    The record after a contig's last region, on a contig the index does not list, says the
    index is not the file's."""
    path = _bgzipped(tmp_path, HEADER + LINES)
    _with_the_index_of(path, "".join(line for line in LINES.splitlines(keepends=True)
                                     if line.startswith("chr1\t")), tmp_path)
    refusal = await _refused(schema, path)
    assert refusal.startswith(
        f"{path}: its index does not list contig chr2, which has records: the index is "
        "another file's, or an earlier version's"), refusal


async def test_an_index_of_an_earlier_version_of_the_file_is_refused(schema, tmp_path):
    """The index of an earlier version of the file (records appended since), written after
    the file: fresh by its time, it lists every contig, but no bins for the records added, so
    the regions past its last record found none (its fetch) and were left unread: 277 of
    1,000 records loaded, exit 0. A region's end checks that the index finds the record after
    it, as the next region will look for it."""
    header = HEADER.replace("##contig=<ID=chr2,length=242193529>\n", "")
    lines = [f"chr1\t{p}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\n"
             for p in range(1000, 100_000_000, 100_000)]
    earlier = tmp_path / "earlier.vcf"
    earlier.write_text(header + "".join(lines[:200]))
    index = Path(f"{pysam.tabix_index(str(earlier), preset='vcf', force=True)}.tbi")
    path = _bgzipped(tmp_path, header + "".join(lines))
    Path(f"{path}.tbi").write_bytes(index.read_bytes())
    refusal = await _refused(schema, path)
    assert refusal.startswith(
        f"{path}: its index does not find the record at chr1:27701000, after those of "
        "chr1:1-27661825: the index is another file's, or an earlier version's"), refusal
    Path(f"{path}.tbi").unlink()                  # indexed in a copy: every record loads
    report = await _load(schema, path)
    assert report.rows == await _rows(schema) == len(lines)
