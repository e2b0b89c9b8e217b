"""Reading VCF/BCF with pysam into variant rows: one row per ALT, 0-based half-open.

No database and no processes here: `inspect_vcf` reads the header and decides how the file can
be read, `read_rows` turns the records of one region (or the whole file) into rows for COPY.
Every problem is a `VcfProblem` naming the file, the line (or contig:POS) and the reason.

Coordinates: start = POS - 1; end = start + len(REF) for sequence alleles, POS + |SVLEN| of
the allele for symbolic SV ones (an <INS> spans its REF), or else INFO END, which is 1-based
inclusive, i.e. already the 0-based exclusive end (`_symbolic_allele`). Alleles are trimmed to
their minimal VCF form (common suffix, then a common prefix beyond one padding base) so a
split multi-allelic site `ACG>A,TCG` yields `ACG>A` and `A>T`, as `bcftools norm -m-any` does.
"""
from __future__ import annotations

import codecs
import errno
import gzip
import json
import math
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import chain, islice, takewhile
from operator import le
from pathlib import Path
from typing import Any

import pysam
from asyncpg import BitString

from beacon.alleles import BREAKEND, minimal, stored_breakend
from beacon.annotations import (
    Annotation,
    AnnotationLayout,
    annotations,
    indexed_protein_changes,
)
from beacon.assemblies import (
    ASSEMBLIES,
    DEFAULT_ASSEMBLY,
    Assembly,
    assembly_of_length,
    implied_assembly,
    named_assemblies,
)
from beacon.limits import ALLELE_BASES, INT4_MAX
from beacon.populations import ploidy
from beacon.store import (
    COPY_COLUMNS,
    LONG_VARIANT,
    VariantKey,
    variant_id,
)

_BASES = re.compile(r"^[ACGTN]+$")
_ONE_BASE = frozenset("ACGTN")
_SYMBOLIC = re.compile(r"^<([A-Z]+)(?::[A-Z0-9:_]+)?>$")
_SV_TYPES = {"DEL": "DEL", "DUP": "DUP", "INS": "INS", "CNV": "CNV", "INV": "INV"}
_NOT_VARIANTS = {"*", ".", "<*>", "<NON_REF>", "<X>"}
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_PROGRESS_EVERY = 25_000
# Records `_read` reads between giving its rows on; it divides _PROGRESS_EVERY
_BATCH_EVERY = 1_000
REGION_BP = 30_000_000       # ~100 regions on GRCh38: balances 2-8 workers, fine progress
LONG_GROUP = 4096            # long rows held back at most, before they are given together
# Where the columns no file without genotypes read, populations or annotations fills begin
_NARROW = COPY_COLUMNS.index("carrier_bits")
_START, _END = COPY_COLUMNS.index("start_pos"), COPY_COLUMNS.index("end_pos")


class VcfProblem(Exception):
    """Bad input, reported as `file:line: reason` (or `file: contig:POS: reason`); in a BCF,
    which has no lines, `line` counts records (`binary`): `file: record N: reason`."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None,
                 locus: str | None = None, binary: bool = False) -> None:
        self.path, self.reason, self.line, self.locus = str(path), reason, line, locus
        self.binary = binary
        where = (f": record {line}" if binary else f":{line}") if line else ""
        at = f" (record {locus})" if locus and not line else ""
        super().__init__(f"{path}{where}: {reason}{at}")

    def __reduce__(self) -> tuple:
        """Rebuilt from its parts when it crosses from a worker process to the coordinator."""
        return (VcfProblem, (self.path, self.reason, self.line, self.locus, self.binary))


class NeedGenotypes(Exception):
    """A record lacks the INFO counts the samples-free fast path relies on."""


@dataclass(frozen=True)
class Region:
    contig: str          # as spelt in the file
    start: int           # 0-based; records *starting* in [start, end) belong to the region
    end: int
    last: bool = False   # the contig's last region also reads records beyond its end, which
                         # are invalid and must be named, not silently left unread


@dataclass(frozen=True)
class VcfLayout:
    """What the header says about how to read the file."""

    path: Path
    assembly: Assembly
    header_lines: int
    samples: int
    sample_names: tuple[str, ...]       # in column order: sample i is individual i
    contigs: dict[str, str]             # file spelling -> canonical chromosome, placeable only
    indexed_contigs: tuple[str, ...]    # contigs with records per the index; () = no index
    info_counts: bool                   # INFO declares AC (A), AN (1) and nhomalt (A)
    # INFO counts per population a sites-only file declares: label -> {AC, AN, nhomalt,
    # nhemi: INFO key}, for labels of the Genome of Europe form (beacon/populations.py)
    population_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    annotation: AnnotationLayout | None = None    # the header's SnpEff ANN / VEP CSQ
    binary: bool = False                # BCF: a problem's place is a record, not a line
    carriers_wanted: bool = True        # read GT for carriers even where INFO has the counts
    # load records whose FILTER is neither PASS nor '.' (failed QC), instead of skipping them
    keep_filtered: bool = False
    assembly_reason: str = ""           # who chose the assembly: the header, the operator
    # contigs the header lists that are not the assembly's chromosomes (decoys, alts,
    # unplaced, chrEBV, HLA, UCSC hg19's chrM): their records are skipped and counted
    elsewhere: dict[str, int] = field(default_factory=dict)   # name -> header length
    # where the samples are individuals: every sample, the men and the women as bits
    # (`sex_masks`), by which a called site's alleles on chrX, chrY and the mitochondrion are
    # counted as a record's rows count them (`_called_alleles`)
    sexes: tuple[int, int, int] | None = None

    @property
    def indexed(self) -> bool:
        return bool(self.indexed_contigs)

    @property
    def counts_from_genotypes(self) -> bool:
        """Count from GT when the samples are there and INFO cannot say it all, or when the
        dataset's individuals are loaded with it (`carriers_wanted`): which individuals carry
        each allele is only in the genotypes. Reading them costs about ten times the INFO fast
        path (docs/benchmarks.md), so a file with INFO counts loaded without individuals is
        read without them."""
        return self.samples > 0 and (not self.info_counts or self.carriers_wanted)


@dataclass
class ChunkStats:
    records: int = 0
    rows: int = 0
    skipped_records: int = 0            # invalid records skipped on request
    skipped_alleles: int = 0            # '*', '.', <NON_REF>: not variants
    elsewhere: dict[str, int] = field(default_factory=dict)   # records per contig off it
    failed_filter: dict[str, int] = field(default_factory=dict)   # records per FILTER value
    max_length: int = 0
    first_skip: str | None = None
    # reference-only records and gVCF blocks: (chromosome, start, end, alleles called), at
    # most SITES_KEPT per region (an all-sites file is not what this is for), the rest counted
    sites: list[tuple[str, int, int, int]] = field(default_factory=list)
    sites_dropped: int = 0


SITES_KEPT = 1_000_000


@dataclass(frozen=True)
class HtslibLog:
    """A file the process's stderr (fd 2) was redirected to, so htslib's reasons can be read.

    htslib prints why a record failed on stderr while pysam only raises 'truncated file'."""

    path: Path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def last_error(self, since: int) -> str | None:
        if not self.path.exists():
            return None
        with self.path.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", errors="replace")
        errors = [line for line in text.splitlines() if line.startswith("[E::")]
        return errors[-1].split("] ", 1)[-1].strip() if errors else None


@dataclass
class ReadOptions:
    # read with the samples: count from GT where the dataset's samples are individuals
    # (`_carrier_bits`), else from INFO AC/AN/nhomalt, and from GT where a record lacks them
    use_genotypes: bool
    samples_available: bool             # a record without INFO counts can fall back to GT
    skip_invalid: bool = False
    progress: Callable[[int, str, int], None] | None = None   # (records, contig, start)
    htslib_log: HtslibLog | None = None

    @classmethod
    def from_the_top(cls, layout: VcfLayout, skip_invalid: bool,
                     htslib_log: HtslibLog | None = None) -> ReadOptions:
        """How a file is read again from the top to put a problem a region found at its
        line (`locate_duplicate`, `skip_duplicates`, ingest_worker `locate_problem`): with its samples, as a
        region holding a record without INFO counts is read (ingest_worker `run_job`);
        without, that record would stop the reading before the problem's line."""
        samples = layout.samples > 0
        return cls(use_genotypes=samples, samples_available=samples,
                   skip_invalid=skip_invalid, htslib_log=htslib_log)


def _carrier_bits(layout: VcfLayout, options: ReadOptions) -> bool:
    """Whether rows say which samples carry each allele: only where the samples are the
    dataset's individuals (`VcfLayout.counts_from_genotypes`). A file with INFO counts
    loaded without --individuals has none, and a region read with its samples because one
    of its records lacks the counts (beacon/ingest_worker.py `run_job`) must store no bits
    either: they made individuals counts of such a dataset answer for the variants that
    shared a region with that record, and for none of the others."""
    return options.use_genotypes and layout.counts_from_genotypes


def _narrow(layout: VcfLayout, options: ReadOptions) -> bool:
    return (not _carrier_bits(layout, options) and not layout.population_keys
            and layout.annotation is None)


def row_columns(layout: VcfLayout, options: ReadOptions) -> tuple[str, ...]:
    """The columns of `read_rows`' rows: store.COPY_COLUMNS, or their first ten where the
    file has no genotypes read, no populations and no annotation to give. The rest would be
    NULL in every row, which COPY writes anyway for the columns it is not given; sending
    them was about 3% of a worker's CPU (docs/benchmarks.md)."""
    return COPY_COLUMNS[:_NARROW] if _narrow(layout, options) else COPY_COLUMNS


def _check_bgzf(path: Path) -> bool:
    """Whether the file is compressed; VcfProblem for a truncated or plain-gzip one."""
    with path.open("rb") as fh:
        magic = fh.read(2)
        if magic != b"\x1f\x8b":
            return False                            # plain text VCF or BCF-uncompressed
        fh.seek(0, os.SEEK_END)
        if fh.tell() < len(_BGZF_EOF):
            raise VcfProblem(path, "truncated bgzip file (shorter than one BGZF block)")
        fh.seek(-len(_BGZF_EOF), os.SEEK_END)
        if fh.read() != _BGZF_EOF:
            raise VcfProblem(path, "truncated or not bgzip-compressed: the BGZF end-of-file "
                                   "block is missing (compress with `bgzip`, not `gzip`)")
    return True


def _check_bom(path: Path, compressed: bool) -> None:
    """A VCF that starts with a UTF-8 byte-order mark (what some Windows editors write):
    htslib finds no `##fileformat` before it and says only that the file is not one."""
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as fh:
            first = fh.read(len(codecs.BOM_UTF8))
    except (OSError, EOFError, zlib.error):     # damaged: pysam's reason, when it opens it
        return
    if first == codecs.BOM_UTF8:
        raise VcfProblem(path, "starts with a UTF-8 byte-order mark; remove it", line=1)


@contextmanager
def quiet_htslib() -> Iterator[None]:
    """htslib's own reports off stderr meanwhile: what it would say there (an index
    missing, a line it cannot index, with the line's whole text) is either normal here or
    named by the reader afterwards, with its line number."""
    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


def open_vcf(path: Path, *, drop_samples: bool = False) -> pysam.VariantFile:
    """Open quietly (a missing index is normal here, and htslib would report it on stderr
    where the reasons for real record errors are collected)."""
    try:
        with quiet_htslib():
            return pysam.VariantFile(str(path), drop_samples=drop_samples)
    except (ValueError, OSError) as exc:
        sample = _sample_problem(path)
        if sample is not None:
            raise VcfProblem(path, sample[1], line=sample[0]) from None
        reason = _plain(exc)
        raise VcfProblem(path, "not a readable VCF/BCF file"
                         + (f" ({reason})" if reason else "")) from None


_PYSAM_NOISE = re.compile(r"(invalid )?file `b'[^`]*'`\s*"      # the path, as bytes
                          r"| ?\(mode=`b'[^`]*'`\)"                # the mode, as bytes
                          r"| - is it VCF/BCF format\?")


def _utf8_reason(exc: UnicodeDecodeError, where: str = "", binary: bool = False) -> str:
    """What is wrong with text pysam could not decode: VCF 4.3 requires UTF-8 (a BCF's text
    too, which iconv cannot convert: it is written again from a UTF-8 VCF)."""
    return (f"not UTF-8 text{where} (byte {exc.object[exc.start]:#04x}); "
            + ("a BCF's text is UTF-8: write it again from a UTF-8 VCF" if binary else
               "a VCF is UTF-8: convert it, e.g. with iconv"))


def _plain(exc: Exception) -> str:
    """pysam's reason for a file it cannot open, without the path and mode it repeats as
    bytes literals (`file `b'/x.vcf'` does not have valid header (mode=`b'r'`) - is it
    VCF/BCF format?`): the problem already names the file. An OSError is said by its
    errno alone (not `[Errno 8] Could not open variant file: Exec format error: 'x.vcf'`):
    htslib sets ENOEXEC when it recognises no format in the file's first bytes."""
    if isinstance(exc, UnicodeDecodeError):
        return _utf8_reason(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOEXEC:
        return "no format htslib knows: a VCF's first line is ##fileformat=VCFv4.x"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return _PYSAM_NOISE.sub("", str(exc)).strip()


def _place_contigs(path: Path, header: pysam.VariantHeader, assembly: Assembly
                   ) -> tuple[dict[str, str], dict[str, int]]:
    """Map the header's contigs onto the assembly: (placed, elsewhere). A chromosome of the
    wrong length means the file is on another assembly, which must stop the ingest; but the
    mitochondrion differs between references of one assembly (UCSC hg19's chrM is 16,571
    bases, the Yoruba sequence; GRCh37's MT the 16,569 rCRS), so a wrong-length one is another
    sequence, left aside with the decoys, alts and unplaced contigs real headers list; so is
    hg19's chrM given no length (`Assembly.file_chromosome`), which was loaded as MT."""
    placed: dict[str, str] = {}
    elsewhere: dict[str, int] = {}
    for name, contig in header.contigs.items():
        length = contig.length
        chrom = assembly.file_chromosome(name, length)
        if chrom is not None and length is not None and length != assembly.length(chrom):
            if chrom != "MT":
                raise VcfProblem(path, f"header contig {name} has length {length}, but "
                                       f"{chrom} on {assembly.id} is {assembly.length(chrom)}: "
                                       f"the file is not on {assembly.id} (use --assembly)")
            chrom = None
        if chrom is None:
            elsewhere[name] = length or 0
        else:
            placed[name] = chrom
    return placed, elsewhere


def _header(path: Path) -> Iterator[str]:
    """A VCF's header lines as written in the file, plain or compressed; none for a BCF."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rt", errors="replace") if compressed
          else path.open("rt", errors="replace")) as fh:
        yield from takewhile(lambda line: line.startswith("#"), fh)


_FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")


def _sample_problem(path: Path) -> tuple[int, str] | None:
    """(line, reason) of a #CHROM line whose fixed columns are not the eight, tab-separated
    (spaces, an editor's doing), or of the first sample name it gives twice, or gives empty
    (a tab at the line's end). htslib refuses such a header with only "does not have valid
    header" (its reason goes to stderr, which is kept quiet), though nothing else of it may
    be wrong."""
    try:
        for number, line in enumerate(_header(path), start=1):
            if line.startswith("#CHROM"):
                columns = line.rstrip("\r\n").split("\t")
                if columns[:8] != list(_FIXED_COLUMNS):
                    return number, ("the #CHROM line does not give the eight columns "
                                    f"{' '.join(_FIXED_COLUMNS)}, separated by tabs (not "
                                    "spaces)")
                seen: set[str] = set()
                for name in columns[9:]:
                    if not name:
                        return number, ("a sample without a name in the #CHROM line (a tab "
                                        "at its end, or two together): each sample needs one")
                    if name in seen:
                        return number, (f"sample {name!r} is named twice in the #CHROM line: "
                                        "each sample needs a name of its own")
                    seen.add(name)
                return None
    except (OSError, EOFError, zlib.error):     # unreadable, cut or damaged: pysam's reason
        return None
    return None


# The longest sample name stored: each is an individual's id, which `individuals` keys by
# (dataset, id) and `individuals_id` indexes, and a btree entry holds at most ~2.7 kB; a
# longer name failed the swap with the database's "index row size exceeds" and no line.
# As many characters as a term id (beacon.phenopackets.TERM_ID_CHARACTERS).
SAMPLE_NAME_CHARACTERS = 256


def _header_problem(path: Path, text: list[str] | None, samples: tuple[str, ...]
                    ) -> VcfProblem | None:
    """What the header's text holds that htslib reads without a word and the load cannot
    use: a header line after the #CHROM line, or a sample name longer than
    SAMPLE_NAME_CHARACTERS. Read line by line (a gzip file, or plain), htslib then took
    that header line for a record and refused the first record after it; through an index
    (a bgzipped file, or a gzip one recompressed), it skipped it as a comment and loaded:
    the same file was refused or loaded by how it was compressed (and a duplicate variant's
    search, reading from the top, failed with no line: a fuzzer's find, 2026-12-05)."""
    chrom = next((n for n, line in enumerate(text or (), start=1)
                  if line.startswith("#CHROM")), None)    # None in a BCF: no text
    if chrom is not None and text is not None and chrom < len(text):
        return VcfProblem(path, "a header line after the #CHROM line, which ends the header: "
                                "move it above that line", line=chrom + 1)
    long = next((name for name in samples if len(name) > SAMPLE_NAME_CHARACTERS), None)
    if long is not None:
        return VcfProblem(path, f"sample name {long[:40]!r}... is {len(long)} characters, more "
                                f"than the node stores ({SAMPLE_NAME_CHARACTERS})", line=chrom)
    if chrom is not None and text is not None:
        return _columns_problem(path, len(text[chrom - 1].rstrip("\r\n").split("\t")),
                                len(text) + 1)
    return None


def _columns_problem(path: Path, named: int, line: int) -> VcfProblem | None:
    """The first record (at `line`) giving more columns than the #CHROM line names (`named`),
    a tab at its end aside: a sample whose name the header lost. htslib reads the columns
    the header names and drops the rest, that sample's calls, without a word (found by a
    review, 2026-12-05). The first record says it for a header that lost a name."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rt", errors="replace") if compressed
          else path.open("rt", errors="replace")) as fh:
        record = next((text for text in fh if not text.startswith("#")), None)
    given = len(record.rstrip("\r\n").rstrip("\t").split("\t")) if record else 0
    if given <= named:
        return None
    return VcfProblem(path, f"{given} columns, where the #CHROM line names {named}: the "
                            "header lacks a column's name (a sample's?), and its values would "
                            "be left unread", line=line)


_CONTIG_FIELD = re.compile(r'(\w+)=("[^"]*"|[^,>]*)')


@dataclass(frozen=True)
class AssemblyStatement:
    """A header line that says which assembly the file is on."""

    assembly: str           # an id of ASSEMBLIES, or one the node does not hold (NCBI36)
    line: int | None        # None in a BCF, which has no lines
    text: str               # what it says, shortened
    length: bool = False    # by a chromosome's length, which no --force-assembly overrules

    def __str__(self) -> str:
        return f"{self.text}" + (f", line {self.line}" if self.line else "")


def _assembly_statements(text: list[str] | None, header: pysam.VariantHeader
                         ) -> list[AssemblyStatement]:
    """What the header says of its assembly, the first line per assembly: `##reference=`
    and `##assembly=` naming one (beacon/assemblies.py `named_assemblies`), and contig lines
    by their `assembly=`, an accession of one assembly's (NC_000001.10) or a chromosome's
    length on one only (chr1 length=249250621 is GRCh37's), kept apart: a length is the
    file's coordinates, not a name. `text`: a VCF's header lines as written, numbered from
    1; a BCF's (None) has no lines, and is read from pysam's `header`."""
    lines = enumerate(text, start=1) if text is not None else (
        (None, line) for line in str(header).splitlines())
    found: dict[tuple[str, bool], AssemblyStatement] = {}
    for number, line in lines:
        line = line.rstrip("\r\n")
        said: list[str] = []
        by_length: str | None = None
        if line.startswith(("##reference=", "##assembly=")):
            said = named_assemblies(line.partition("=")[2])
        elif line.startswith("##contig=<"):
            fields = dict(_CONTIG_FIELD.findall(line[len("##contig=<"):]))
            name = fields.get("ID", "")
            said = named_assemblies(fields.get("assembly", "").strip('"'))
            implied = implied_assembly(name)
            said += [implied.id] if implied else []
            chrom = ASSEMBLIES[DEFAULT_ASSEMBLY].normalise(name)
            length = fields.get("length", "")
            by_length = (assembly_of_length(chrom, int(length))
                         if chrom and length.isdigit() else None)
        for assembly in said:
            text = line if len(line) <= 80 else line[:77] + "..."
            found.setdefault((assembly, False), AssemblyStatement(assembly, number, text))
        if by_length:
            found.setdefault((by_length, True),
                             AssemblyStatement(by_length, number, line[:80], True))
    return sorted(found.values(), key=lambda s: s.line or 0)


def choose_assembly(path: Path, statements: list[AssemblyStatement], given: Assembly | None,
                    given_by: str, force: bool) -> tuple[Assembly, str]:
    """The assembly to load the file on, and why. Coordinates of one assembly loaded as
    another's make every answer wrong, and silently: the operator's assembly (`given`,
    named `given_by`: --assembly, the metadata file) must agree with whatever the header
    says, unless `force`d; without one, the header's, if it names one the node holds and no
    other; else the default, when it names none. Contig lengths are checked after this, as
    ever (`_place_contigs`), forced or not."""
    if given is not None:
        against = [s for s in statements if s.assembly != given.id]
        if against and (not force or any(s.length for s in against)):
            first = next((s for s in against if s.length), against[0])
            if first.length:
                raise VcfProblem(path, f"the header says {first.assembly} ({first.text}), "
                                       f"{given_by} says {given.id}: the file is not on "
                                       f"{given.id}; correct {given_by}", line=first.line)
            raise VcfProblem(path, f"the header says {first.assembly} ({first.text}), "
                                   f"{given_by} says {given.id}: correct {given_by}, or add "
                                   f"--force-assembly to load it on {given.id} all the same",
                             line=first.line)
        overruled = f", over the header's {against[0]}" if against else ""
        return given, f"{given_by}{overruled}"
    if not statements:
        return ASSEMBLIES[DEFAULT_ASSEMBLY], "the default: the header names no assembly"
    first = statements[0]
    other = next((s for s in statements if s.assembly != first.assembly), None)
    if other is not None:
        raise VcfProblem(path, f"the header says {first.assembly} ({first.text}) and "
                               f"{other.assembly} ({other}): give --assembly, with "
                               "--force-assembly since the header contradicts it",
                         line=first.line)
    if first.assembly not in ASSEMBLIES:
        raise VcfProblem(path, f"the header says {first.assembly} ({first.text}), an "
                               f"assembly this node does not hold ({', '.join(ASSEMBLIES)}): "
                               "lift the file over to one", line=first.line)
    return ASSEMBLIES[first.assembly], f"the header says so ({first})"


def check_file(path: Path) -> None:
    """VcfProblem unless `path` is a regular file. A pipe (`<(zcat cohort.vcf.gz)`, a FIFO,
    /dev/stdin) is read once, by whoever opens it first, and an ingest reads its file
    several times, in parallel: its workers, started first, each opened one and waited for a
    writer for good, and the ingest, having said "no such file", waited for them, deaf to
    SIGTERM (found by a review, 2026-12-05)."""
    if path.is_file():
        return
    raise VcfProblem(path, "a directory, not a file" if path.is_dir() else
                     "not a regular file (a pipe, a device or a socket): an ingest reads its "
                     "file more than once, in parallel; write it to a file first"
                     if path.exists() else "no such file")


def inspect_vcf(path: Path, assembly: Assembly | None, given_by: str = "--assembly",
                force_assembly: bool = False) -> VcfLayout:
    """The file's layout, on `assembly` (None: the one its header says, `choose_assembly`)."""
    check_file(path)
    _check_bom(path, _check_bgzf(path))
    try:
        with open_vcf(path) as vf:
            header = vf.header
            info = header.info
            binary = vf.format == "BCF"
            # a VCF's header lines as written, read once: pysam's header text adds lines of
            # its own (an implicit FILTER=PASS), so neither a statement's line nor a
            # record's (header_lines + its number) could be told from it
            text = None if binary else list(_header(path))
            problem = _header_problem(path, text, tuple(header.samples))
            if problem is not None:
                raise problem
            assembly, reason = choose_assembly(
                path, _assembly_statements(text, header), assembly, given_by, force_assembly)
            try:
                placed, elsewhere = _place_contigs(path, header, assembly)
            except AssertionError:          # pysam's check of htslib's contig dictionary
                raise VcfProblem(path, "its header is damaged: its contigs cannot be "
                                       "read") from None
            try:
                annotation = AnnotationLayout.from_header(header)
            except ValueError as exc:
                raise VcfProblem(path, f"annotation header: {exc}") from None
            counts = all(key in info and info[key].number == number
                         and info[key].type == "Integer"
                         for key, number in (("AC", "A"), ("AN", 1), ("nhomalt", "A")))
            try:
                indexed = tuple(vf.index) if vf.index is not None else ()
            except (ValueError, AttributeError):
                indexed = ()
            layout = VcfLayout(path=path, assembly=assembly,
                               header_lines=len(text) if text is not None else 0,
                               samples=len(header.samples),
                               sample_names=tuple(header.samples),
                               contigs=placed, elsewhere=elsewhere,
                               indexed_contigs=indexed, info_counts=bool(counts),
                               population_keys=(population_keys(info) if not header.samples
                                                else {}),
                               annotation=annotation, binary=binary,
                               assembly_reason=reason)
    except UnicodeDecodeError as exc:       # pysam decodes the header's names as UTF-8
        raise VcfProblem(path, _utf8_reason(exc, " in its header",
                                            path.suffix.lower() == ".bcf")) from None
    return layout


_POPULATION_KEY = re.compile(r"^(AC|AN|nhomalt|nhemi)_([A-Z]{2}(?:_[MF])?|[MF])$")
_POPULATION_NUMBERS = {"AC": "A", "AN": 1, "nhomalt": "A", "nhemi": "A"}


def population_keys(info: pysam.VariantHeaderMetadata) -> dict[str, dict[str, str]]:
    """The populations whose counts a sites-only file's INFO declares, as
    `AC_<label>` (Number=A), `AN_<label>` (1), and optionally `nhomalt_<label>`,
    `nhemi_<label>` (A), labels as the GDI portal reads them (`FI`, `FI_M`, `M`). A label
    without both AC and AN is not a population."""
    found: dict[str, dict[str, str]] = {}
    for key in info:
        match = _POPULATION_KEY.fullmatch(key)
        if match and info[key].number == _POPULATION_NUMBERS[match[1]]:
            found.setdefault(match[2], {})[match[1]] = key
    return {label: keys for label, keys in sorted(found.items())
            if "AC" in keys and "AN" in keys}


def _info_populations(rec: pysam.VariantRecord, keys: dict[str, dict[str, str]],
                      index: int) -> str | None:
    """One ALT's counts per population from INFO, as the JSON the row stores:
    {label: [AC, AN, homozygous, hemizygous]}; a population without AC or AN is left out,
    and a count of homozygous or hemizygous carriers the file does not give (undeclared, or
    `.`) is null: not 0, which would read as a fact (beacon/populations.py from_info)."""
    info, rows = rec.info, {}
    n_alts = len(rec.alts or ())
    for label, names in keys.items():
        values = []
        for kind in ("AC", "AN", "nhomalt", "nhemi"):
            value = info.get(names[kind]) if kind in names else None
            if isinstance(value, tuple):
                if len(value) != (1 if kind == "AN" else n_alts):    # as AC's (_info_counts)
                    raise _wrong_number(names[kind], value, n_alts, one=kind == "AN")
                value = value[index]
            if not (value is None or type(value) is int):    # not declared Integer
                found = _integers(info.get(names[kind]), names[kind])
                at = 0 if kind == "AN" else index   # AN is the site's, the rest per ALT
                value = found[at] if found is not None and at < len(found) else None
            values.append(value)
        if values[0] is not None and values[1] is not None:
            _check_counts(f"_{label}", (values[0],), values[1],
                          None if values[2] is None else (values[2],), values[3] or 0)
            rows[label] = values
    return json.dumps(rows, separators=(",", ":")) if rows else None


def _annotation_columns(entries: tuple[Annotation, ...]
                        ) -> tuple[list[str], list[str], str | None]:
    """An ALT's annotation as stored: its genes (upper case, for geneId; each of a fusion's,
    by symbol and by gene id, and those it is in, not only near: `Annotation.genes`,
    `Annotation.gene_ids`, `Annotation.in_gene`), its protein changes (canonical, with a
    frameshift's shorter forms, for aminoacidChange: `indexed_protein_changes`), and the
    entries as JSON for its record and for geneId with aminoacidChange (the gene ids last,
    `&`-joined)."""
    genes = sorted({gene.upper() for e in entries if e.in_gene
                    for gene in (*e.genes, *e.gene_ids)})
    changes = sorted({form for e in entries if e.hgvs_p
                      for form in indexed_protein_changes(e.hgvs_p)})
    detail = json.dumps([[e.gene, e.transcript, list(e.consequence), e.hgvs_c, e.hgvs_p,
                          "&".join(e.gene_ids) or None]
                         for e in entries], separators=(",", ":")) if entries else None
    return genes, changes, detail


def plan_regions(layout: VcfLayout) -> list[Region | None]:
    """The regions an indexed file is read in, each by one worker at a time: every contig of
    the index cut into equal pieces of at most REGION_BP bases. An unindexed file is one
    region, None: read from start to end."""
    if not layout.indexed:
        return [None]
    regions: list[Region | None] = []
    for contig in layout.indexed_contigs:
        length = contig_length(layout, contig)
        pieces = max(1, math.ceil(length / REGION_BP))
        step = math.ceil(length / pieces)
        regions.extend(Region(contig, s, min(s + step, length), s + step >= length)
                       for s in range(0, length, step))
    return regions


def is_elsewhere(layout: VcfLayout, contig: str) -> bool:
    """Whether a contig's records are not on the assembly's chromosomes (skipped, counted).
    One the header does not list has no length: hg19's chrM, so named, is not GRCh37's MT."""
    return contig in layout.elsewhere or (
        contig not in layout.contigs and layout.assembly.file_chromosome(contig, None) is None)


def contig_length(layout: VcfLayout, contig: str) -> int:
    chrom = None if is_elsewhere(layout, contig) else (
        layout.contigs.get(contig) or layout.assembly.normalise(contig))
    if chrom is None:
        return max(layout.elsewhere.get(contig, 0), 1)
    return layout.assembly.length(chrom)


def _sequence_allele(pos: int, ref: str, alt: str) -> tuple[int, str, str, str, int, int]:
    """(start, end, ref, alt, type, length) for an allele spelt in bases. The base REF and
    ALT share after trimming is on the left, or on the right: VCF pads an indel at POS 1 with
    the base after it (`A>TA` at 1 is an insertion of one base, `TA>A` a deletion of one)."""
    if len(ref) != 1 or len(alt) != 1:
        pos, ref, alt = minimal(pos, ref, alt)
    lr, la = len(ref), len(alt)
    if lr == la:
        kind, length = ("SNP" if lr == 1 else "MNP"), lr
    elif la > lr and (alt.startswith(ref) or alt.endswith(ref)):
        kind, length = "INS", la - lr
    elif lr > la and (ref.startswith(alt) or ref.endswith(alt)):
        kind, length = "DEL", lr - la
    else:
        kind, length = "INDEL", max(lr, la)
    return pos, pos + lr, ref, alt, kind, length


def _symbolic_allele(rec: pysam.VariantRecord, index: int, kind: str, binary: bool
                     ) -> tuple[int, int]:
    """(end, length) of a symbolic SV allele, from its SVLEN or else INFO END (`_end`; a
    `binary` record is a BCF's).

    VCF 4.4: SVLEN (Number=A) is each allele's own length and END the record's end, that of
    its longest allele. So a <DEL>, <DUP>, <INV> or <CNV> with an SVLEN ends |SVLEN| bases
    after POS, its padding base, and an <INS> with one spans its REF alone (SVLEN is the
    length inserted); only an allele without an SVLEN takes END. An SVLEN of 0 (VCF 4.2's
    "difference in length between REF and ALT", which some tools write for an inversion)
    says nothing of the span. An <INS> may end at POS (END=POS, as in the VCF 4.2 spec's own
    example and Manta's insertions it could not assemble): its length is then unknown, and
    stored as 1, the least an insertion is. Anything else ends after POS."""
    start, declared = rec.start, rec.header.info
    lengths = _integers(rec.info.get("SVLEN"), "SVLEN") if "SVLEN" in declared else None
    svlen = lengths[index] if lengths is not None and index < len(lengths) else None
    if svlen:
        return start + (len(rec.ref) if kind == "INS" else 1 + abs(svlen)), abs(svlen)
    end = _end(rec, lengths is None, binary)
    if end is None:
        raise ValueError(f"symbolic ALT <{kind}> without INFO END or SVLEN"
                         + (" (SVLEN=0 gives no length)" if svlen == 0 else ""))
    if end < rec.pos:
        raise ValueError(f"INFO END {end} is before POS {rec.pos}")
    if end == rec.pos and kind != "INS":
        raise ValueError(f"INFO END {end} is POS: a <{kind}> spans bases after POS, its "
                         "padding base")
    return end, max(end - start - 1, 1)


def _end(rec: pysam.VariantRecord, no_svlen: bool, binary: bool) -> int | None:
    """INFO END of a record, from `stop` where that can only be END, else from its text.

    Parsing a VCF line, htslib folds into `stop` an END the header declares Integer, if it
    is one value after POS, and an SVLEN where END is missing; nothing else moves `stop` off
    REF's end. So where a VCF record without SVLEN has a `stop` other than REF's end, that is
    END (of an END given twice, the last, where the text gives the first), read at no cost:
    finding END in the record formatted as text (`_stated_end`) costs about 25 us a record
    at 2,000 samples (docs/benchmarks.md). The text is read where `stop` cannot say it: a
    BCF's `stop` is the length it stores, whatever its END says, and one at REF's end may
    be an END htslib dropped (at or before POS, or of several values) or no END."""
    if no_svlen and not binary and rec.stop != rec.start + len(rec.ref):
        declared = rec.header.info
        if "END" in declared and declared["END"].type == "Integer":
            return rec.stop
    return _stated_end(rec)


def _stated_end(rec: pysam.VariantRecord) -> int | None:
    """INFO END as the record's text states it (pysam shows END among no INFO keys)."""
    for item in str(rec).rstrip("\n").split("\t", 8)[7].split(";"):
        key, _, value = item.partition("=")
        if key == "END":
            stated = _integers(value, "END")
            return stated[0] if stated is not None and len(stated) == 1 else None
    return None


@dataclass(frozen=True)
class Genotypes:
    """What a record's GT columns say of each allele index: AC, carriers and, per allele,
    which samples carry it (`carrier_bits`, `hom_bits`: one bit per sample, in sample order,
    as the COPY into PostgreSQL's bit varying takes them)."""

    ac: list[int]
    an: int
    carriers: list[int]
    carrier_bits: list[BitString | None]
    hom_bits: list[BitString | None]
    missing_bits: BitString | None = None      # samples without a call; None: all called
    # samples whose call names one allele (`./1`, `1`), which adds one to an allele number
    # where a diploid call adds two (populations.frequency); None: no such call
    one_allele_bits: BitString | None = None


def _bit_string(flags: str) -> BitString:
    """'0'/'1' per sample as a BitString; through an int, 100 times faster than
    BitString's own parsing of the text at 10,000 samples."""
    padded = flags + "0" * (-len(flags) % 8)
    return BitString.frombytes(int(padded, 2).to_bytes(len(padded) // 8, "big"), len(flags))


def _genotype_counts(rec: pysam.VariantRecord, n_alleles: int, bits: bool = True) -> Genotypes:
    """Counts and carriers of every allele index from the GT of every sample, and with
    `bits` which samples carry each.

    Formatting the record back to text and working on distinct GT strings is several times
    faster than pysam's per-sample objects; distinct genotypes per site are few, so each is
    parsed once and the per-sample work is one C-level map per allele."""
    columns = str(rec).rstrip("\n").split("\t", 9)
    if len(columns) < 10:
        # only a file with samples is read for its genotypes: this record stops before them
        # (htslib refuses one that stops after FORMAT, or short of a sample, itself). Read as
        # none called, it was a variant of AC 0 and AN 0 that no individual carried
        raise ValueError(f"no sample columns, where the header names "
                         f"{len(rec.header.samples)} samples: its genotypes are not given")
    keys = columns[8].split(":")
    if "GT" not in keys:
        # read for its carriers too where the samples are individuals, whose file's INFO
        # counts (the advice alone, before) cannot say who carries an allele
        raise ValueError("FORMAT has no GT: which samples carry each allele (the individuals "
                         "of --individuals) is read from GT alone, and the alleles are "
                         "counted from GT or from INFO AC and AN")
    gt_index = keys.index("GT")
    fields = columns[9].split("\t")
    if gt_index == 0 and len(keys) > 1:
        fields = [f.split(":", 1)[0] for f in fields]
    elif gt_index:
        fields = [(f.split(":") + [""] * gt_index)[gt_index] for f in fields]
    ac, carriers, an = [0] * n_alleles, [0] * n_alleles, 0
    parsed: dict[str, list[int]] = {}
    for gt, n in Counter(fields).items():
        try:
            alleles = _gt_alleles(gt, n_alleles)
        except ValueError:
            if not gt.startswith("-"):
                raise
            # a sample column that stops before its GT (`5` under DP:GT) while others give
            # one: htslib writes the GT it did not find as its vector end, '-65'
            raise ValueError(f"sample {rec.header.samples[fields.index(gt)]} has no GT, "
                             f"which FORMAT {columns[8]} names (a call not made is '.' or "
                             "'./.')") from None
        parsed[gt] = alleles
        an += len(alleles) * n
        for allele in alleles:
            ac[allele] += n
        for allele in set(alleles):
            carriers[allele] += n
    carrier_bits: list[BitString | None] = [None] * n_alleles
    hom_bits: list[BitString | None] = [None] * n_alleles
    if not bits:
        return Genotypes(ac, an, carriers, carrier_bits, hom_bits)
    for allele in range(1, n_alleles):
        if not carriers[allele]:
            carrier_bits[allele] = hom_bits[allele] = _bit_string("0" * len(fields))
            continue
        carrying = {gt: "1" if allele in a else "0" for gt, a in parsed.items()}
        both = {gt: "1" if len(a) == 2 and a[0] == a[1] == allele else "0"
                for gt, a in parsed.items()}
        carrier_bits[allele] = _bit_string("".join(map(carrying.__getitem__, fields)))
        hom_bits[allele] = _bit_string("".join(map(both.__getitem__, fields)))
    missing = {gt: "0" if a else "1" for gt, a in parsed.items()}
    missing_bits = (_bit_string("".join(map(missing.__getitem__, fields)))
                    if "1" in missing.values() else None)
    one = {gt: "1" if len(a) == 1 else "0" for gt, a in parsed.items()}
    one_allele_bits = (_bit_string("".join(map(one.__getitem__, fields)))
                       if "1" in one.values() else None)
    return Genotypes(ac, an, carriers, carrier_bits, hom_bits, missing_bits, one_allele_bits)


def _gt_alleles(gt: str, n_alleles: int) -> list[int]:
    """The allele indices one GT names, missing ones ('.') left out; ValueError naming the
    GT for an index the record does not have (`2/2` on a site with one ALT), which would
    otherwise be counted against another allele or fail with Python's own words; and for a
    call of more than two alleles (`0/1/1`), whose copies a population's counts cannot hold:
    they are read from which samples carry an allele, are homozygous for it or called one
    (beacon/populations.py `frequency`), so `1/1/1` would be served as two copies and a
    diploid call's allele number while AC and AN stored three. VCF 4.4's phasing of the
    first allele (`|0/1`, `/1`, as htslib writes it where it is not the one inferred) is no
    allele: read as one, `|0/1` was refused as above two."""
    alleles = []
    called = gt.removeprefix("|").removeprefix("/").replace("|", "/").split("/")
    if len(called) > 2:
        raise ValueError(f"GT {gt!r}: ploidy above 2 is not supported")
    for allele in called:
        if allele in (".", ""):
            continue
        if not (allele.isdigit() and allele.isascii()) or int(allele) >= n_alleles:
            raise ValueError(f"GT {gt!r} names allele {allele!r}; this record has alleles 0 "
                             f"(REF) to {n_alleles - 1}")
        alleles.append(int(allele))
    return alleles


_IS_INT = int.__instancecheck__
_INTEGER = re.compile(r"-?[0-9]+")


def _integers(value: Any, key: str) -> tuple[int | None, ...] | None:
    """An INFO value as integers, one per comma-separated item ('.' is None); None when the
    record does not carry the key. Declared Integer, htslib gives ints, and None for each
    '.' among them (`nhomalt=1,.`: one ALT's count not known, not a malformed value, which
    refused the record). A key the header does not declare comes as text (htslib reads it
    as a String), and one declared String or Float as text or floats: read as the integers
    they spell, so a file with a header line missing loads as it would with it. Anything else is a ValueError naming the key,
    which refuses the record at its line, rather than a TypeError from the COPY; so is an
    integer beyond what htslib reads as one (±INT4_MAX; its Integer keeps -2^31 for a
    missing value), which the COPY refused as an OverflowError no line could be put to."""
    if value is None:
        return None
    if type(value) is int:
        return (value,)
    items = value if isinstance(value, tuple) else (value,)
    if all(map(_IS_INT, items)):                  # what htslib gives for Integer: C speed
        return items
    numbers: list[int | None] = []
    for item in items:
        for part in item.split(",") if isinstance(item, str) else (item,):
            if part is None or part == ".":
                numbers.append(None)
            elif (type(part) is int or (isinstance(part, float) and part.is_integer())
                  or (isinstance(part, str) and _INTEGER.fullmatch(part))):
                numbers.append(int(part))
            else:
                text = ",".join("." if i is None else str(i) for i in items)
                raise ValueError(f"INFO {key}={text!r} is not an integer"
                                 + (" per ALT" if len(items) > 1 else ""))
    if any(n is not None and not -INT4_MAX <= n <= INT4_MAX for n in numbers):
        text = ",".join("." if i is None else str(i) for i in items)
        raise ValueError(f"INFO {key}={text!r} is out of range: an integer here is at most "
                         f"{INT4_MAX:,} either side of 0")
    return tuple(numbers)


def _info_counts(rec: pysam.VariantRecord, n_alts: int) -> tuple[list[int | None], int | None,
                                                                 list[int | None]]:
    info, declared = rec.info, rec.header.info
    # tuples, also where the header says Number=1 (AC so declared by some tools)
    ac, total, nhom = (_integers(info.get(key), key) if key in declared else None
                       for key in ("AC", "AN", "nhomalt"))
    for key, values, wanted in (("AC", ac, n_alts), ("AN", total, 1), ("nhomalt", nhom, n_alts)):
        if values is not None and len(values) != wanted:
            raise _wrong_number(key, values, n_alts, one=key == "AN")
    an = total[0] if total is not None else None
    if ac is None or an is None or None in ac:
        raise NeedGenotypes()
    if nhom is None or None in nhom:
        carriers: list[int | None] = [None] * n_alts
    else:
        carriers = [a - h for a, h in zip(ac, nhom)]   # het + hom carriers (gnomAD convention)
    _check_counts("", ac, an, nhom if carriers[0] is not None else None)
    return [None, *ac], an, [None, *carriers]


# Records whose INFO counts `check_info_counts` compares with their genotypes: 23 ms of CPU
# at 100 samples, 104 ms at 1,000 (synthetic files), once per ingest.
INFO_CHECKED = 1_000


def check_info_counts(layout: VcfLayout) -> VcfProblem | None:
    """The first record among the file's first INFO_CHECKED whose INFO AC or AN is not what
    its own genotypes count, or whose carriers by INFO (AC - nhomalt) are more than its
    genotypes name, as a problem at its line; None if they all agree. For a file with
    samples loaded from its INFO counts (no --individuals: `counts_from_genotypes` false),
    whose genotypes the load does not read. Counts left stale after genotypes were masked
    (`bcftools filter -S .`, GATK's filtered genotypes set to no-calls) or the samples
    subset without updating INFO (`bcftools view -s -I`) made the allele floor count people
    the file's own genotypes do not name: a variant one sample carries was shown to anyone
    as carried by 32 (found by a review, 2026-12-06). Records the load itself refuses or
    that lack the counts are left to it. A sample of the file, not all of it: reading every
    record's genotypes costs about ten times the counts' fast path."""
    with open_vcf(layout.path) as handle:
        records = islice(handle, INFO_CHECKED)
        number = 0
        while True:
            try:
                rec = next(records, None)
            except (OSError, ValueError, UnicodeDecodeError):
                return None         # a record htslib cannot read: the load says where
            if rec is None:
                return None
            number += 1
            try:
                alts = rec.alts or ()
                ac, an, carriers = _info_counts(rec, len(alts))
                counted = _genotype_counts(rec, len(alts) + 1, bits=False)
            except (NeedGenotypes, ValueError, UnicodeDecodeError):
                continue
            more = [i for i in range(1, len(alts) + 1)
                    if carriers[i] is not None and carriers[i] > counted.carriers[i]]
            if ac[1:] == counted.ac[1:] and an == counted.an and not more:
                continue
            gt_carriers = ",".join(str(counted.carriers[i]) for i in range(1, len(alts) + 1))
            stated = (f"INFO AC={','.join(map(str, ac[1:]))}, AN={an}"
                      + (f" ({','.join(str(c) for c in carriers[1:])} carrier(s) by nhomalt)"
                         if more else ""))
            return VcfProblem(layout.path, (
                f"{stated}, where the record's genotypes count AC="
                f"{','.join(map(str, counted.ac[1:]))}, AN={counted.an} ({gt_carriers} "
                f"carrier(s)) in its {layout.samples} samples: the allele floor would count "
                "people the genotypes do not name. Recompute the counts from the genotypes "
                "(bcftools +fill-tags -- -t AC,AN,nhomalt) or load the genotypes with "
                f"--individuals (checked on the file's first {INFO_CHECKED:,} records)"),
                line=(number if layout.binary else layout.header_lines + number),
                binary=layout.binary)


def _wrong_number(key: str, values: tuple[int | None, ...], n_alts: int,
                  one: bool) -> ValueError:
    """INFO counts of another number than the record's ALTs (AC, nhomalt, a population's
    AC_FI) or one (AN, `one`: AN_FI): which value is whose cannot be told, and taking the
    first, or none, stored counts the file does not state (the fast path took AC=5,7's 5,
    this one stored none, a population's took the first)."""
    text = ",".join("." if v is None else str(v) for v in values)
    alts = f"{n_alts} ALT" + ("s" if n_alts > 1 else "")
    found = f"{len(values)} value" + ("s" if len(values) > 1 else "")
    return ValueError(f"INFO {key}={text} has {found} for {alts}: " + (
        f"{key} is one number (Number=1)" if one else f"{key} is one per ALT (Number=A)"))


def _check_counts(suffix: str, ac: tuple[int, ...], an: int,
                  nhom: tuple[int, ...] | None, nhemi: int = 0) -> None:
    """INFO counts that cannot be (`AC_FI` ... for `suffix` "_FI"): an allele count below 0,
    counts adding up to more than the alleles called, more homozygous carriers than the
    allele's count, or (a population's one ALT) more homozygous and hemizygous carriers
    together: each carries the allele at least once. Stored, they would be frequencies
    above 1 and negative carriers; a ValueError refuses the record at its line instead."""
    if (an >= 0 and min(ac) >= 0 and sum(ac) <= an
            and (nhom is None or (min(nhom) >= 0 and all(map(le, nhom, ac))))
            and (not nhemi or (nhemi > 0 and (nhom or (0,))[0] + nhemi <= ac[0]))):
        return                                    # the usual case, in builtins

    def listed(values: tuple[int, ...]) -> str:
        return ",".join(map(str, values))
    if an < 0 or any(a < 0 for a in ac):
        raise ValueError(f"INFO AC{suffix}={listed(ac)} AN{suffix}={an}: a count below 0")
    if sum(ac) > an:
        raise ValueError(f"INFO AC{suffix}={listed(ac)} adds up to more than "
                         f"AN{suffix}={an}")
    if nhom is not None and any(not 0 <= h <= a for a, h in zip(ac, nhom)):
        raise ValueError(f"INFO nhomalt{suffix}={listed(nhom)} is below 0 or above "
                         f"AC{suffix}={listed(ac)}")
    if nhemi and nhom is None:
        raise ValueError(f"INFO nhemi{suffix}={nhemi} is below 0 or above "
                         f"AC{suffix}={listed(ac)}")
    if nhemi:
        raise ValueError(f"INFO nhemi{suffix}={nhemi} is below 0, or with "
                         f"nhomalt{suffix}={listed(nhom)} above AC{suffix}={listed(ac)}")


def read_rows(layout: VcfLayout, region: Region | None, options: ReadOptions,
              stats: ChunkStats, vf: pysam.VariantFile | None = None) -> Iterator[tuple]:
    """Rows for COPY from one region (or the whole file, with exact line numbers), of
    `row_columns`, the long variants after the others (`_read`).

    `vf` lets a worker reuse one open file for all its regions: opening costs ~50 ms (header
    and index), which adds up over a hundred regions. Biallelic SNVs with INFO counts, most
    records of real files, take an inlined path; everything else goes through `_rows_of`.
    The rows come out of `_read`'s lists through `chain`, in C: a generator between them
    and the COPY cost about 3% of a worker's reading (docs/benchmarks.md)."""
    return chain.from_iterable(_batches(layout, region, options, stats, vf))


def _batches(layout: VcfLayout, region: Region | None, options: ReadOptions,
             stats: ChunkStats, vf: pysam.VariantFile | None) -> Iterator[list[tuple]]:
    with nullcontext(vf) if vf is not None else open_vcf(
            layout.path, drop_samples=not options.use_genotypes) as handle:
        try:
            if region is None:
                yield from _read(layout, None, iter(handle), options, stats)
                return
            mark = options.htslib_log.mark() if options.htslib_log else 0
            try:
                first = _first_record(handle, region)
            except (OSError, ValueError) as exc:    # a broken line the index's fetch parsed
                raise _malformed(layout, region, options, stats, mark, exc) from None
            if first is not None:
                after = yield from _read(layout, region, chain((first,), handle), options,
                                         stats, first.rid)
                if after is not None:
                    _check_index(layout, region, handle, after)
        except UnicodeDecodeError as exc:   # pysam decodes CHROM, REF, ALT and strings
            raise _not_utf8(layout, region, stats, exc) from None


def _rows_by_line(layout: VcfLayout, skip_invalid: bool) -> Iterator[tuple[int, list[tuple]]]:
    """Each record's rows with its line (its number in a BCF), read from the top one record
    at a time through `_read`, so that each row is the load's and each line exact; as
    `locate_problem` reads a file (with its samples, skipping what the load skipped). On the
    duplicates' paths only (`locate_duplicate`, `skip_duplicates`)."""
    stats = ChunkStats()
    options = ReadOptions.from_the_top(layout, skip_invalid)
    with open_vcf(layout.path, drop_samples=not options.use_genotypes) as handle:
        for rec in handle:
            rows = list(chain.from_iterable(_read(layout, None, iter((rec,)), options,
                                                  stats)))
            yield layout.header_lines + stats.records, rows


def _record_word(layout: VcfLayout) -> str:
    return "record" if layout.binary else "line"


def locate_duplicate(layout: VcfLayout, keys: list[VariantKey]
                     ) -> VcfProblem | None:
    """The record repeating a variant of `keys` (chromosome, start, end, REF, ALT as stored)
    that an earlier record holds, as a problem at its line naming the earlier one: the
    staging table found the variant twice (store.DuplicateVariants), which no region's
    reader could see alone."""
    wanted, first = set(keys), {}
    for line, rows in _rows_by_line(layout, skip_invalid=False):
        for row in rows:
            key = row[:5]               # chromosome, start, end, REF, ALT
            if key not in wanted:
                continue
            if key in first:
                return VcfProblem(layout.path, _repeated(
                    layout, key, f"{_record_word(layout)} {first[key]}"), line=line,
                    binary=layout.binary)
            first[key] = line
    return None


@dataclass
class Duplicates:
    """What `--skip-invalid` makes of the records repeating a variant an earlier record
    holds (`skip_duplicates`): the staging rows of every variant involved go (`keys`), and
    the first records' rows of them come back (`kept`, of `columns`); the later records are
    skipped whole, as an invalid record is, and counted."""

    keys: set[VariantKey] = field(default_factory=set)
    kept: list[tuple] = field(default_factory=list)
    columns: tuple[str, ...] = ()
    skipped: int = 0            # records
    rows: int = 0               # the rows they had made
    first: str | None = None    # the first skipped, as `file:line: reason`


def skip_duplicates(layout: VcfLayout, keys: list[VariantKey]
                    ) -> Duplicates:
    """The records to skip for the variants of `keys`, which the staging table holds more
    than once: in file order, a record one of whose variants an earlier record kept holds
    is skipped (all its rows, as a record with an invalid ALT is); the first holding a
    variant keeps it. The staging rows cannot say which record made them (workers read
    regions in parallel, and two rows of one variant may be alike), so every row of the
    variants involved is replaced by the kept records' rows of them, read here as the load
    read them. One more pass over the file, on this path only; what it holds is the keys
    and those rows, a few per duplicate."""
    wanted = set(keys)
    found = Duplicates(set(wanted),
                       columns=row_columns(layout, ReadOptions.from_the_top(layout, True)))
    first: dict[VariantKey, int] = {}   # variant: the line keeping it
    for line, rows in _rows_by_line(layout, skip_invalid=True):
        repeated = next((row[:5] for row in rows if row[:5] in first), None)
        if repeated is None:
            for row in rows:
                if row[:5] in wanted:
                    first[row[:5]] = line
                    found.kept.append(row)
            continue
        found.keys.update(row[:5] for row in rows)
        found.skipped += 1
        found.rows += len(rows)
        if found.first is None:
            found.first = str(VcfProblem(layout.path, _repeated(
                layout, repeated, f"{_record_word(layout)} {first[repeated]}"), line=line,
                binary=layout.binary))
    return found


def _repeated(layout: VcfLayout, key: VariantKey, where: str) -> str:
    """Why a variant found twice is refused, and what to do about it."""
    return (f"the same variant as {where} ({variant_id(layout.assembly.id, key)}, trimmed "
            "as stored): a variant is one record, or its carriers and counts are split "
            "between two; normalise and deduplicate first, e.g. `bcftools norm -f REF.fa "
            "-m -any FILE | bcftools norm -d exact`")


def _not_utf8(layout: VcfLayout, region: Region | None, stats: ChunkStats,
              exc: UnicodeDecodeError) -> VcfProblem:
    """A record that is not UTF-8 text stops the ingest, --skip-invalid or not: the file is
    in another encoding (VCF 4.3 requires UTF-8), which no record of it can be read past."""
    line = layout.header_lines + stats.records if region is None else None
    locus = f"in {region.contig}:{region.start + 1}-{region.end}" if region else None
    return VcfProblem(layout.path, _utf8_reason(exc, binary=layout.binary), line=line,
                      locus=locus, binary=layout.binary)


def _first_record(vf: pysam.VariantFile, region: Region) -> pysam.VariantRecord | None:
    """The region's first record, found by the index. `_read` reads on from it through the
    file until the contig or the region ends: the file is sorted, or it could not have been
    indexed, so what follows the first record of the region is the rest of it. Iterating the
    index's fetch instead would test every line for overlap with the region, parsing its
    position and end once more: about 5,000 instructions a record of 100 samples, an eighth
    of reading it, and next to nothing on a sites-only file's short lines
    (docs/benchmarks.md)."""
    fetched = vf.fetch(region.contig, region.start, None if region.last else region.end)
    for rec in fetched:                 # past those overlapping the region from the left, and
        if rec.start >= region.start:   # past the lines between them and the first record,
            return rec                  # which the index skips without parsing them
        if rec.start < 0:               # POS 0, a telomere, before the contig's first region:
            return rec                  # `_rows_of` refuses it, which skipping did not say
    return None


def _read(layout: VcfLayout, region: Region | None, iterator: Iterator[pysam.VariantRecord],
          options: ReadOptions, stats: ChunkStats, contig: int | None = None
          ) -> Generator[list[tuple], None, pysam.VariantRecord | None]:
    """The rows of the records, in lists of those of _BATCH_EVERY records or fewer: a
    generator's every step cost more than making a row.

    `contig`: the header's number of the region's contig, when the records are read on
    from the region's first (`_first_record`): they end where the contig or the region
    does, and none before it can follow in a sorted file. Contigs are compared by number,
    not name, which pysam would make anew each time.

    Each long variant (longer than store.LONG_VARIANT) is held back and given with the
    others after the short ones, or once LONG_GROUP are held, in the order read. A long
    variant covering a base starts up to its length left of it: among the short rows, each
    of those a range meets would lie on a page of its own (7 pages for a 1 kb range at 100M
    variants, most of a record page's reads); together, they share one or two
    (docs/design/storage.md). Only `_rows_of` gives long rows: the inlined paths give an SNV,
    or a sequence allele no longer than LONG_VARIANT, and so cost nothing for this."""
    placed = dict(layout.contigs)
    lengths = layout.assembly.lengths
    stop = None if region is None or region.last else region.end
    width = len(row_columns(layout, options))
    fast = layout.info_counts and width == _NARROW
    drop_failed = not layout.keep_filtered
    held: list[tuple] = []
    out: list[tuple] = []                   # the rows of this batch
    mark = options.htslib_log.mark() if options.htslib_log else 0
    last_rid, chrom, length = -1, None, 0   # the contig of the record before, placed
    after = None                            # the record after the region, if one was read
    while True:
        try:
            rec = next(iterator)
        except StopIteration:
            break
        except (OSError, ValueError) as exc:
            raise _malformed(layout, region, options, stats, mark, exc) from None
        start, rid = rec.start, rec.rid
        if contig is not None and (rid != contig or (stop is not None and start >= stop)):
            after = rec
            break
        stats.records += 1
        if stats.records % _BATCH_EVERY == 0:
            if out:
                stats.rows += len(out)      # counted as given, not one by one
                yield out
                out = []
            if stats.records % _PROGRESS_EVERY == 0 and options.progress is not None:
                options.progress(stats.records, rec.chrom, start)
        alleles = rec.alleles               # REF and ALTs in one tuple: one call, not two
        if rid != last_rid or chrom is None:    # placed once per contig, not per record
            name = rec.chrom
            chrom = placed.get(name)
            if chrom is None:               # `_rows_of` places it, or says why not
                if is_elsewhere(layout, name):
                    stats.elsewhere[name] = stats.elsewhere.get(name, 0) + 1
                    continue
            else:
                last_rid, length = rid, lengths[chrom]
        if drop_failed:                     # PASS is one filter, '.' none (_failed_filter)
            filters = rec.filter
            failed = len(filters)
            if failed and (failed != 1 or b"PASS" not in filters):
                _failed_filter(filters, stats)
                continue
        if fast and chrom is not None and alleles is not None and 0 <= start < length:
            if len(alleles) == 2:
                ref, alt = alleles
                snv = ref in _ONE_BASE and alt in _ONE_BASE
                # an ALT that is REF is no variant: `_rows_of` skips it (`_not_variant`)
                if ref != alt and (snv or (_BASES.match(ref) and _BASES.match(alt))):
                    info = rec.info
                    # keys as bytes: pysam encodes a str key on every call, a third of the
                    # lookup; subscripts, not `get`: a method call's arguments cost a third
                    # of the rest. One value each, else (AC=5,7, AN=10,3, a '.', a key
                    # the record lacks) a ValueError, TypeError or KeyError sends the
                    # record to `_rows_of`, which refuses counts of another number
                    # (`_wrong_number`), reads the genotypes for a missing AC and stores no
                    # carriers for a missing nhomalt. Checked by the unpacking and
                    # comparing the path does anyway, in a `try` that costs nothing where
                    # nothing is raised
                    try:
                        (count,) = info[b"AC"]
                        an = info[b"AN"]
                        try:
                            (hom,) = info[b"nhomalt"]
                        except KeyError:
                            carriers = None
                            possible = 0 < count <= an      # AC 0: no variant, `_rows_of`
                        else:
                            carriers = count - hom      # counts that can be (_check_counts)
                            # 0 <= carriers <= count <= an, without chaining's stack work
                            possible = carriers >= 0 and hom >= 0 and 0 < count <= an
                    except (KeyError, ValueError, TypeError):
                        possible = False
                    if possible:                # else `_rows_of` names the problem
                        if snv:
                            out.append((chrom, start, start + 1, ref, alt, "SNP", 1, count,
                                        an, carriers))
                            continue
                        # a biallelic indel or MNP in upper-case bases (a fifth of the
                        # benchmark file's records), which `_rows_of` read at several
                        # times this path's cost
                        pos, end, r, a, kind, size = _sequence_allele(start, ref, alt)
                        # else `_rows_of` names the problem, or holds the long variant back
                        if (end <= length and end - pos <= LONG_VARIANT
                                and len(r) + len(a) <= ALLELE_BASES):
                            stats.max_length = max(stats.max_length, end - pos)
                            out.append((chrom, pos, end, r, a, kind, size, count, an,
                                        carriers))
                            continue
            elif len(alleles) > 2:
                rows = _counted_rows(rec, chrom, start, alleles, length, stats)
                if rows is not None:            # else `_rows_of` names the problem
                    out.extend(rows)
                    continue
        try:
            rows = _rows_of(rec, placed, layout, options, stats)
        except (NeedGenotypes, UnicodeDecodeError):     # the latter: read_rows says it
            raise
        except (ValueError, KeyError, IndexError) as exc:
            _invalid(layout, region, options, stats, rec, exc)
            continue
        for row in rows:
            if row[_END] - row[_START] > LONG_VARIANT:
                held.append(row[:width])
            else:
                out.append(row[:width])
        if len(held) >= LONG_GROUP:
            out.extend(held)
            held.clear()
    out.extend(held)
    if out:
        stats.rows += len(out)
        yield out
    return after


_INDEX_AGAIN = ("the index is another file's, or an earlier version's; index the file "
                "again (`tabix -f -p vcf`, or `bcftools index -f`)")


def _check_index(layout: VcfLayout, region: Region, vf: pysam.VariantFile,
                 after: pysam.VariantRecord) -> None:
    """VcfProblem unless the file's index finds `after`, the record read after the region,
    where the region that holds it will look for it (`_first_record`): from the region's
    end, or from its contig's start. An index made for another file (copied beside it, or
    kept while the file was replaced) or for an earlier version of it, but newer than the
    file, is not taken for stale (beacon/prepare.py): a contig it does not list was never
    read, nor the records it has no bins for (those appended since), and the rest of the
    file loaded, exit 0 (found by a review, 2026-12-05). One fetch a region."""
    if after.chrom not in layout.indexed_contigs:
        raise VcfProblem(layout.path, f"its index does not list contig {after.chrom}, which "
                                      f"has records: {_INDEX_AGAIN}", binary=layout.binary)
    if after.start < 0:                 # POS 0: refused where it is read
        return
    begin = region.end if after.chrom == region.contig else 0
    try:
        found = _first_record(vf, Region(after.chrom, begin, after.start + 1))
    except (OSError, ValueError):       # its offsets lead into the middle of a line
        found = None
    if found is None or (found.start, found.alleles) != (after.start, after.alleles):
        raise VcfProblem(layout.path, f"its index does not find the record at "
                                      f"{after.chrom}:{after.pos}, after those of "
                                      f"{region.contig}:{region.start + 1}-{region.end}: "
                                      f"{_INDEX_AGAIN}", binary=layout.binary)


def _counted_rows(rec: pysam.VariantRecord, chrom: str, start: int, alleles: tuple[str, ...],
                  length: int, stats: ChunkStats) -> list[tuple] | None:
    """The rows of a multi-allelic record of ALTs in upper-case bases with INFO counts, as
    `_rows_of` makes them (`_read`'s narrow rows) at a fraction of its cost: such records
    were 6% of the benchmark file's and over a quarter of its reading (docs/benchmarks.md).
    None for whatever `_rows_of` must look at, refuse or count otherwise: an ALT that is not
    bases or is REF, a count missing (`.` among them too) or of another number than the
    ALTs, counts that cannot be, an ALT nobody carries (AC 0), a variant longer than
    LONG_VARIANT or ALLELE_BASES, two ALTs trimmed alike."""
    ref, alts = alleles[0], alleles[1:]
    if not _BASES.match(ref) or any(alt == ref or not _BASES.match(alt) for alt in alts):
        return None
    info, n = rec.info, len(alts)
    try:
        ac, an = info[b"AC"], info[b"AN"]
    except KeyError:
        return None
    try:
        nhom = info[b"nhomalt"]
    except KeyError:
        nhom = None
    if (type(an) is not int or type(ac) is not tuple or len(ac) != n or None in ac
            or (nhom is not None and (type(nhom) is not tuple or len(nhom) != n
                                      or None in nhom))):     # AN=10,3 is a tuple
        return None
    if not (an >= 0 and min(ac) > 0 and sum(ac) <= an       # `_check_counts`; AC 0: none
            and (nhom is None or (min(nhom) >= 0 and all(map(le, nhom, ac))))):
        return None
    carriers = [a - h for a, h in zip(ac, nhom)] if nhom is not None else [None] * n
    rows, spelt, longest = [], set(), 0
    for index, alt in enumerate(alts):
        pos, end, r, a, kind, size = _sequence_allele(start, ref, alt)
        if (end > length or end - pos > LONG_VARIANT or len(r) + len(a) > ALLELE_BASES
                or (pos, end, r, a) in spelt):
            return None
        spelt.add((pos, end, r, a))
        longest = max(longest, end - pos)
        rows.append((chrom, pos, end, r, a, kind, size, ac[index], an, carriers[index]))
    stats.max_length = max(stats.max_length, longest)
    return rows


def _failed_filter(filters: pysam.VariantRecordFilter, stats: ChunkStats) -> None:
    """Count a record that failed its caller's QC, by its FILTER as written (`LowQual;q10`).
    Such calls are not variants a discovery node should answer for: gnomAD's browser and
    most Beacons serve PASS variants only, and a failed call counted as a carrier would be
    a person who may not carry it. The test in `_read` costs about 150 ns a record (a
    tenth of the fast path's), checked before the record's INFO is read."""
    value = ";".join(filters.keys())
    stats.failed_filter[value] = stats.failed_filter.get(value, 0) + 1


def _malformed(layout: VcfLayout, region: Region | None, options: ReadOptions,
               stats: ChunkStats, mark: int, exc: Exception) -> VcfProblem:
    reason = options.htslib_log.last_error(mark) if options.htslib_log else None
    line = layout.header_lines + stats.records + 1 if region is None else None
    locus = f"in {region.contig}:{region.start + 1}-{region.end}" if region else None
    return VcfProblem(layout.path, f"malformed record: {reason or exc}", line=line, locus=locus,
                      binary=layout.binary)


def _invalid(layout: VcfLayout, region: Region | None, options: ReadOptions,
             stats: ChunkStats, rec: pysam.VariantRecord, exc: Exception) -> None:
    """Raise for an invalid record, or count it when the operator asked to skip them."""
    problem = VcfProblem(layout.path, str(exc), locus=f"{rec.chrom}:{rec.pos}",
                         line=layout.header_lines + stats.records if region is None else None,
                         binary=layout.binary)
    if not options.skip_invalid:
        raise problem
    stats.skipped_records += 1
    stats.first_skip = stats.first_skip or str(problem)


def _called_site(rec: pysam.VariantRecord, chrom: str, layout: VcfLayout, genotypes: bool,
                 stats: ChunkStats) -> None:
    """A record without a variant allele: kept as a site called reference, with its allele
    number (from GT where the `genotypes` count, as `_called_alleles` counts them, else
    INFO AN; neither: nothing is known, nothing kept)."""
    if genotypes:
        an: int | None = _called_alleles(rec, chrom, layout) or None
    else:
        an = rec.info.get("AN") if "AN" in rec.header.info else None
    if an is not None:
        _keep_site(rec, chrom, an, stats)


def _called_alleles(rec: pysam.VariantRecord, chrom: str, layout: VcfLayout) -> int:
    """The alleles called at a record's site as a variant's whole-dataset row counts them
    (beacon/populations.py `site_frequencies`): outside the PARs of chrX a man's call once,
    of chrY a call of a man or of someone of unknown sex once and a woman's not at all, on
    the mitochondrion every call once; elsewhere each allele a call names, as bcftools
    counts AN (and so everywhere where the layout holds no sample's sex). Counted as
    bcftools does everywhere, a miss at a site called reference said "not seen in 32
    alleles" on chrY where its 10 men were called, and a variant's record there counts 10."""
    site = _genotype_counts(rec, len(rec.alts or ()) + 1)
    kind = ploidy(layout.assembly.id, chrom, rec.start)
    if kind == "2" or layout.sexes is None:
        return site.an
    everyone, men, women = layout.sexes
    called = everyone & ~(site.missing_bits.to_int() if site.missing_bits is not None else 0)
    if kind == "MT":
        return called.bit_count()
    if kind == "Y":
        return (called & ~women).bit_count()
    others = called & ~men
    one = site.one_allele_bits.to_int() if site.one_allele_bits is not None else 0
    return (called & men).bit_count() + 2 * others.bit_count() - (others & one).bit_count()


def sex_masks(sexes: Sequence[str | None]) -> tuple[int, int, int] | None:
    """Every sample, the men and the women as bits (sample 0 the highest, as BitString's
    int reads them), of samples that are individuals of these sexes (MALE, FEMALE, else
    None); None without any. Made once for the file: a called site is counted with a few
    bit counts, not a loop over the samples, for an all-sites VCF holds a record at every
    position."""
    if not sexes:
        return None
    n = len(sexes)
    men = sum(1 << (n - 1 - i) for i, sex in enumerate(sexes) if sex == "MALE")
    women = sum(1 << (n - 1 - i) for i, sex in enumerate(sexes) if sex == "FEMALE")
    return (1 << n) - 1, men, women


def _keep_site(rec: pysam.VariantRecord, chrom: str, an: int, stats: ChunkStats) -> None:
    """A site called reference over the record's span, with the alleles called there."""
    if len(stats.sites) < SITES_KEPT:
        stats.sites.append((chrom, rec.start, max(rec.stop, rec.start + 1), an))
    else:
        stats.sites_dropped += 1


def _not_variant(ref: str, alt: str) -> bool:
    """An ALT that names no variant: `*`, `.`, `<NON_REF>` and the like, or REF itself
    (`A>A`, or `AC` of `AC>ATC,AC`), which is REF again however trimmed (what `minimal`
    takes off both sides is alike). `ref` is upper case."""
    return alt in _NOT_VARIANTS or alt.upper() == ref


def _rows_of(rec: pysam.VariantRecord, placed: dict[str, str], layout: VcfLayout,
             options: ReadOptions, stats: ChunkStats) -> list[tuple]:
    assembly = layout.assembly
    chrom = placed.get(rec.chrom)
    if chrom is None:
        chrom = assembly.normalise(rec.chrom)
        if chrom is None:
            raise ValueError(f"contig {rec.chrom!r} cannot be placed on {assembly.id}")
        placed[rec.chrom] = chrom
    start = rec.start
    if start < 0:
        raise ValueError("POS 0 is a telomere, not a base a variant can be placed on")
    if start >= assembly.length(chrom):
        raise ValueError(f"POS {rec.pos} is beyond the end of {chrom} on {assembly.id}")
    ref = rec.ref.upper()
    if not _BASES.match(ref):
        raise ValueError(f"REF {rec.ref!r} is not a sequence of A, C, G, T, N")
    alts = rec.alts
    if not alts or all(_not_variant(ref, a) for a in alts):
        stats.skipped_alleles += len(alts or ())
        _called_site(rec, chrom, layout, _carrier_bits(layout, options), stats)
        return []
    no_bits: list[BitString | None] = [None] * (len(alts) + 1)
    carrier_bits, hom_bits, missing_bits, one_allele_bits = no_bits, no_bits, None, None
    if _carrier_bits(layout, options):
        genotypes = _genotype_counts(rec, len(alts) + 1)
        ac, an, carriers = genotypes.ac, genotypes.an, genotypes.carriers
        carrier_bits, hom_bits = genotypes.carrier_bits, genotypes.hom_bits
        missing_bits, one_allele_bits = genotypes.missing_bits, genotypes.one_allele_bits
    else:
        try:
            ac, an, carriers = _info_counts(rec, len(alts))
        except NeedGenotypes:
            if options.use_genotypes:           # read with its samples: counts, no bits
                counted = _genotype_counts(rec, len(alts) + 1, bits=False)
                ac, an, carriers = counted.ac, counted.an, counted.carriers
            elif options.samples_available:
                raise
            else:
                ac, an, carriers = [None] * (len(alts) + 1), None, [None] * (len(alts) + 1)
    per_alt = annotations(layout.annotation, rec) if layout.annotation else []
    rows = []
    spelt: dict[tuple[int, int, str, str], int] = {}    # ALTs by the variant they trim to
    for index, raw_alt in enumerate(alts):
        # an ALT no sample carries (AC 0: a cohort's file subset to fewer people, as
        # `bcftools view -s` leaves it without -c1) is no variant of the dataset: it was
        # answered as found, counted and listed
        if _not_variant(ref, raw_alt) or ac[index + 1] == 0:
            stats.skipped_alleles += 1
            continue
        alt = raw_alt.upper()
        if _BASES.match(alt):
            pos, end, r, a, kind, length = _sequence_allele(start, ref, alt)
        else:
            pos, r, a = start, ref, raw_alt
            symbolic = _SYMBOLIC.match(raw_alt)
            if symbolic and symbolic[1] in _SV_TYPES:
                kind = _SV_TYPES[symbolic[1]]
                end, length = _symbolic_allele(rec, index, kind, layout.binary)
            elif BREAKEND.match(alt):
                kind, end, length, a = "BND", start + 1, 1, stored_breakend(raw_alt)
            else:
                raise ValueError(f"ALT {raw_alt!r} is neither bases, a known symbolic allele "
                                 "nor a breakend")
        if end > assembly.length(chrom):
            raise ValueError(f"variant end {end} is beyond the end of {chrom} on {assembly.id}")
        if len(r) + len(a) > ALLELE_BASES:
            raise ValueError(f"alleles of {len(r) + len(a):,} bases (REF and ALT together, "
                             f"trimmed) are longer than the node stores ({ALLELE_BASES:,}): "
                             "write the SV as a symbolic allele (<DEL>, <INS>) with END or "
                             "SVLEN")
        count = ac[index + 1]
        by_population = (_info_populations(rec, layout.population_keys, index)
                         if layout.population_keys else None)
        annotated = (_annotation_columns(per_alt[index] if per_alt else ())
                     if layout.annotation else (None, None, None))
        if len(alts) > 1:                           # one ALT has no other to repeat
            if (pos, end, r, a) in spelt:
                raise ValueError(f"ALT {index + 1} is " + _repeated(
                    layout, (chrom, pos, end, r, a), f"ALT {spelt[pos, end, r, a] + 1}"))
            spelt[pos, end, r, a] = index
        rows.append((chrom, pos, end, r, a, kind, length, count, an, carriers[index + 1],
                     carrier_bits[index + 1], hom_bits[index + 1], missing_bits,
                     one_allele_bits, by_population, *annotated))
        stats.max_length = max(stats.max_length, end - pos)
    if not rows and an:                 # its ALTs carried by nobody: a site called reference
        _keep_site(rec, chrom, an, stats)
    return rows
