"""Deterministic synthetic multi-sample VCF 4.2 files for tests, demos and ingest benchmarks.

Real cohort VCFs cannot leave their node, so ingest and query are exercised on files that look
like them: a skewed allele-frequency spectrum, the SNV / MNP / indel / multi-allelic (with `*`)
/ symbolic-SV mix that reaches every normalisation path, haploid Y and MT, ~1% missing calls,
and INFO AC/AN/AF/nhomalt that agree exactly with the GT columns, so a test can check what the
node stored against the file itself.

The ingest benchmark needs a 1M-record, 100-sample file, so records are made in numpy batches:
every GT is fixed width, which lets the sample columns be built as one byte matrix, and only the
few short leading columns are formatted per record. Never built through pysam's VariantRecord,
which is orders of magnitude slower at 100 samples.

Gene and protein queries need variants inside genes: `genes_share` places that fraction of each
chromosome's random records inside the genes `beacon.genes` holds on it, and `annotation`
writes SnpEff `ANN` or VEP `CSQ` for the records inside those genes (synthetic_data.annotate).
Both default off, and then draw nothing from the random stream, so files made without them
stay byte for byte what they were.

Measured (1 core): 1M records x 100 samples, GRCh38, INFO counts, .tbi included, in 19 s
wall (~52k records/s, 31 MB .vcf.gz, ~115 MB peak RSS), with
    time python -c "from pathlib import Path; from synthetic_data.vcf import VcfSpec, write_vcf;
    write_vcf(VcfSpec(Path('/tmp/bench.vcf.gz'), records=1_000_000, samples=100))"
"""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pysam

from beacon.assemblies import ASSEMBLIES, CHROMOSOMES, Assembly
from beacon.genes import genes
from synthetic_data.annotate import HEADER_LINES, Annotator

CLASSES: tuple[str, ...] = ("SNV", "MNP", "INS", "DEL", "MULTI", "SV_DEL", "SV_DUP")
_CLASS_SHARES = (0.80, 0.02, 0.06, 0.06, 0.05, 0.005, 0.005)
_HAPLOID = frozenset({"Y", "MT"})
_COUNT_KEYS = frozenset({"AC", "AN", "AF", "nhomalt"})
_BATCH = 20_000
# Random records keep POS >= 2 and this far from the contig end, so a 30-base REF or a
# multi-allelic REF is always strictly inside the contig.
_END_MARGIN = 40
_MISSING_RATE = 0.01
_STAR_RATE = 0.3
_MAX_ALTS = 4  # three alleles plus '*': keeps every allele index one character wide
_SV_SIZES = (50, 1_000_000)
# Beta(0.1, 2): with 100 samples ~60% of sites are singletons and ~20% have AF > 5%.
_AF_BETA = (0.1, 2.0)
_MAX_TOTAL_AF = 0.95
_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
_SUBSTITUTES = {"A": "CGT", "C": "GTA", "G": "TAC", "T": "ACG"}
_ALLELE_CHARS = np.frombuffer(b".0123456789", dtype=np.uint8)
_MULTI_PATTERNS: tuple[tuple[str, ...], ...] = (
    ("SNV", "SNV"), ("SNV", "DEL"), ("SNV", "INS"), ("DEL", "INS"),
    ("SNV", "SNV", "SNV"), ("SNV", "SNV", "DEL"), ("SNV", "DEL", "INS"),
)
_FIXED_HEADER = (
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End position of the variant">',
    '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="Difference in length between REF and ALT">',
    '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
    '##ALT=<ID=DEL,Description="Deletion">',
    '##ALT=<ID=DUP,Description="Duplication">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
)
_COUNT_HEADER = (
    '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes, per ALT">',
    '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of called alleles">',
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency AC/AN, per ALT">',
    ('##INFO=<ID=nhomalt,Number=A,Type=Integer,'
     'Description="Diploid samples homozygous for the ALT, per ALT">'),
)


@dataclass(frozen=True)
class PlantedVariant:
    """A record a test needs at a known place, merged into the random ones in sort order."""

    chromosome: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    genotypes: tuple[str, ...] | None = None
    info: dict[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class VcfSpec:
    """Everything that determines the file: the same spec always gives the same bytes."""

    path: Path
    records: int = 1000
    samples: int = 50
    seed: int = 1
    assembly: str = "GRCh38"
    chr_prefix: bool = True
    info_counts: bool = True
    chromosomes: tuple[str, ...] | None = None
    planted: tuple[PlantedVariant, ...] = ()
    sample_prefix: str = "SAMPLE"
    annotation: Literal["ANN", "CSQ"] | None = None    # SnpEff ANN or VEP CSQ in INFO
    genes_share: float = 0.0    # of each chromosome's random records, placed in table genes


@dataclass(frozen=True)
class VcfSummary:
    """What was written, so a test can compare it with what the node ingested."""

    path: Path
    records: int
    samples: int
    alt_alleles: int
    by_class: dict[str, int]


@dataclass
class _Alleles:
    """REF/ALT/INFO of records of one class, in the order of the positions given."""

    ref: list[str]
    alt: list[str]
    n_alts: list[int]
    info: list[str]
    stars: int = 0


@dataclass
class _Sites:
    """One batch of records as columns, so genotypes can be drawn for the batch at once."""

    pos: list[int]
    ref: list[str]
    alt: list[str]
    n_alts: np.ndarray
    info: list[str]
    genotypes: dict[int, tuple[str, ...]]
    by_class: Counter[str]
    alt_alleles: int


@dataclass
class _Counts:
    """Per-record INFO counts, each list cut to that record's number of ALTs."""

    ac: list[list[int]]
    an: list[int]
    nhomalt: list[list[int]]


def write_vcf(spec: VcfSpec) -> VcfSummary:
    """Write spec.path (BGZF) and its .tbi; memory stays at one batch whatever the size."""
    _check(spec)
    assembly = ASSEMBLIES[spec.assembly]
    chromosomes = _chromosomes(spec)
    rng = np.random.default_rng(spec.seed)
    random_counts = _allocate(spec.records - len(spec.planted), chromosomes, assembly)
    by_class: Counter[str] = Counter(dict.fromkeys(CLASSES, 0))
    alt_alleles = 0
    annotator = Annotator(spec.annotation, spec.assembly) if spec.annotation else None
    # pysam's BGZFile crashes the process (a segfault) where it cannot open the file; Python
    # says why instead (an OSError naming the file), so the file is opened here first
    spec.path.open("wb").close()
    with pysam.BGZFile(str(spec.path), "wb") as out:
        out.write(_header(spec, assembly, chromosomes).encode("ascii"))
        for chromosome, n_random in zip(chromosomes, random_counts):
            planted = [p for p in spec.planted if p.chromosome == chromosome]
            contig = _contig_name(chromosome, spec.chr_prefix)
            ploidy = 1 if chromosome in _HAPLOID else 2
            spans = _gene_spans(spec, chromosome)
            for sites in _batches(rng, n_random, planted, assembly.length(chromosome), spans,
                                  spec.genes_share):
                if annotator is not None:
                    _annotate(annotator, sites, chromosome)
                out.write(_render(rng, sites, contig, spec, ploidy).encode("ascii"))
                by_class.update(sites.by_class)
                alt_alleles += sites.alt_alleles
    pysam.tabix_index(str(spec.path), preset="vcf", force=True)
    return VcfSummary(spec.path, spec.records, spec.samples, alt_alleles, dict(by_class))


def sample_names(spec: VcfSpec) -> list[str]:
    """The file's sample columns in order, known without writing it, so that data keyed on
    the samples (phenopackets) can be made alongside. Zero-padded so they sort as they stand."""
    width = max(5, len(str(spec.samples)))
    return [f"{spec.sample_prefix}{i:0{width}d}" for i in range(1, spec.samples + 1)]


def _classify(ref: str, alts: tuple[str, ...]) -> str:
    """The by_class bucket of a record; OTHER for shapes the generator never makes itself."""
    if len(alts) > 1:
        return "MULTI"
    alt = alts[0]
    if alt.startswith("<"):
        return {"<DEL>": "SV_DEL", "<DUP>": "SV_DUP"}.get(alt, "OTHER")
    if not re.fullmatch("[ACGTN]+", alt):
        return "OTHER"
    if len(alt) == len(ref):
        return "SNV" if len(ref) == 1 else "MNP"
    return "INS" if len(alt) > len(ref) else "DEL"


def _check(spec: VcfSpec) -> None:
    if not spec.path.name.endswith(".vcf.gz"):
        raise ValueError(f"{spec.path}: output must end in .vcf.gz")
    if spec.assembly not in ASSEMBLIES:
        raise ValueError(f"unknown assembly {spec.assembly!r}; known: {sorted(ASSEMBLIES)}")
    if spec.samples < 1 or spec.records < len(spec.planted):
        raise ValueError("need at least one sample and records >= number of planted variants")
    if not 0.0 <= spec.genes_share < 1.0:
        raise ValueError(f"genes_share {spec.genes_share} is not a fraction in [0, 1)")
    unknown = set(spec.chromosomes or ()) - set(CHROMOSOMES)
    if unknown:
        raise ValueError(f"unknown chromosomes {sorted(unknown)}; use canonical names")
    chromosomes = _chromosomes(spec)
    assembly = ASSEMBLIES[spec.assembly]
    if len({(p.chromosome, p.pos) for p in spec.planted}) < len(spec.planted):
        raise ValueError("two planted variants share a chromosome and POS")
    for planted in spec.planted:
        _check_planted(planted, spec, chromosomes, assembly)


def _check_planted(planted: PlantedVariant, spec: VcfSpec, chromosomes: tuple[str, ...],
                   assembly: Assembly) -> None:
    if planted.chromosome not in chromosomes:
        raise ValueError(f"{planted}: chromosome not among those written")
    if not 1 <= planted.pos <= assembly.length(planted.chromosome) or not planted.alts:
        raise ValueError(f"{planted}: POS outside the contig or no ALT")
    if spec.info_counts and _COUNT_KEYS & planted.info.keys():
        raise ValueError(f"{planted}: AC/AN/AF/nhomalt are computed from the genotypes")
    if planted.genotypes is not None:
        if len(planted.genotypes) != spec.samples:
            raise ValueError(f"{planted}: {spec.samples} genotypes needed")
        _text_counts(planted.genotypes, len(planted.alts))


def _chromosomes(spec: VcfSpec) -> tuple[str, ...]:
    """Karyotypic order whatever order the spec lists them in, because records are sorted so."""
    wanted = set(spec.chromosomes or CHROMOSOMES)
    return tuple(c for c in CHROMOSOMES if c in wanted)


def _contig_name(chromosome: str, chr_prefix: bool) -> str:
    if not chr_prefix:
        return chromosome
    return "chrM" if chromosome == "MT" else f"chr{chromosome}"


def _allocate(total: int, chromosomes: tuple[str, ...], assembly: Assembly) -> list[int]:
    """Records per chromosome in proportion to length (largest remainder, so they sum exactly)."""
    lengths = np.array([assembly.length(c) for c in chromosomes], dtype=np.float64)
    share = total * lengths / lengths.sum()
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(counts - share, kind="stable")[:total - int(counts.sum())]] += 1
    return counts.tolist()


def _header(spec: VcfSpec, assembly: Assembly, chromosomes: tuple[str, ...]) -> str:
    lines = ["##fileformat=VCFv4.2", f"##reference={assembly.id}",
             "##source=gdi-node synthetic_data"]
    lines += [f"##contig=<ID={_contig_name(c, spec.chr_prefix)},length={assembly.length(c)},"
              f"assembly={assembly.id}>" for c in chromosomes]
    lines += _COUNT_HEADER if spec.info_counts else ()
    lines += _FIXED_HEADER
    lines += [HEADER_LINES[spec.annotation]] if spec.annotation else []
    lines += _planted_info_header(spec.planted, spec.annotation)
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                            "FORMAT", *sample_names(spec)]))
    return "\n".join(lines) + "\n"


def _planted_info_header(planted: tuple[PlantedVariant, ...],
                         annotation: str | None) -> list[str]:
    """Declare INFO keys only planted records use, so strict readers accept the file (a
    planted annotation of the file's own style is declared with the style)."""
    declared = {"END", "SVLEN", "SVTYPE", annotation}
    types: dict[str, str] = {}
    for variant in planted:
        for key, value in variant.info.items():
            if key not in declared:
                types.setdefault(key, "Integer" if isinstance(value, int) else "String")
    return [f'##INFO=<ID={key},Number=.,Type={kind},Description="Planted by a test">'
            for key, kind in types.items()]


def _positions(rng: np.random.Generator, n: int, taken: np.ndarray, length: int) -> np.ndarray:
    """n distinct sorted POS that avoid the planted ones (one record per POS keeps truth simple)."""
    low, high = 2, length - _END_MARGIN
    if n + len(taken) > high - low + 1:
        raise ValueError(f"{n} records do not fit on a contig of {length} bp")
    drawn = rng.choice(high - low + 1, size=n + len(taken), replace=False) + low
    return np.sort(drawn[~np.isin(drawn, taken)][:n])


def _gene_spans(spec: VcfSpec, chromosome: str) -> np.ndarray:
    """(start, end) 0-based of the table's genes on a chromosome, when records go into them."""
    if not spec.genes_share:
        return np.empty((0, 2), dtype=np.int64)
    return np.array([(g.start, g.end) for g in genes(spec.assembly) if g.chromosome == chromosome],
                    dtype=np.int64).reshape(-1, 2)


def _gene_positions(rng: np.random.Generator, n: int, spans: np.ndarray, taken: np.ndarray,
                    length: int) -> np.ndarray:
    """Up to n distinct POS inside the genes, each gene equally likely whatever its size, so a
    short gene (HBB, SRY) gets records as well as DMD's two megabases; positions that collide
    are dropped, the caller draws the rest uniformly."""
    which = rng.integers(0, len(spans), n)
    starts, sizes = spans[which, 0], spans[which, 1] - spans[which, 0]
    drawn = starts + 1 + (rng.random(n) * sizes).astype(np.int64)
    drawn = np.unique(drawn[(drawn >= 2) & (drawn <= length - _END_MARGIN)])
    return drawn[~np.isin(drawn, taken)]


def _batches(rng: np.random.Generator, n_random: int, planted: list[PlantedVariant],
             length: int, spans: np.ndarray, share: float) -> Iterator[_Sites]:
    """One chromosome's records in POS order, planted ones merged in, a batch at a time."""
    planted_pos = np.array([p.pos for p in planted], dtype=np.int64)
    in_genes = np.empty(0, dtype=np.int64)
    if len(spans) and round(n_random * share):
        in_genes = _gene_positions(rng, round(n_random * share), spans, planted_pos, length)
    elsewhere = _positions(rng, n_random - len(in_genes),
                           np.concatenate([planted_pos, in_genes]), length)
    positions = np.concatenate([np.sort(np.concatenate([in_genes, elsewhere])), planted_pos])
    owner = np.concatenate([np.full(n_random, -1), np.arange(len(planted))])
    order = np.argsort(positions, kind="stable")
    positions, owner = positions[order], owner[order]
    for start in range(0, len(positions), _BATCH):
        stop = start + _BATCH
        yield _sites(rng, positions[start:stop], owner[start:stop], planted, length)


def _sites(rng: np.random.Generator, positions: np.ndarray, owner: np.ndarray,
           planted: list[PlantedVariant], length: int) -> _Sites:
    n = len(positions)
    sites = _Sites(positions.tolist(), [""] * n, [""] * n, np.ones(n, dtype=np.int64),
                   [""] * n, {}, Counter(), 0)
    random_rows = np.flatnonzero(owner < 0)
    classes = rng.choice(len(CLASSES), size=len(random_rows), p=_CLASS_SHARES)
    for code, name in enumerate(CLASSES):
        rows = random_rows[classes == code]
        alleles = _MAKERS[name](rng, positions[rows], length)
        for row, ref, alt, info in zip(rows.tolist(), alleles.ref, alleles.alt, alleles.info):
            sites.ref[row], sites.alt[row], sites.info[row] = ref, alt, info
        sites.n_alts[rows] = alleles.n_alts
        sites.by_class[name] += len(rows)
        sites.alt_alleles += sum(alleles.n_alts) - alleles.stars
    for row in np.flatnonzero(owner >= 0).tolist():
        _place(sites, row, planted[owner[row]])
    return sites


def _place(sites: _Sites, row: int, variant: PlantedVariant) -> None:
    sites.ref[row], sites.alt[row] = variant.ref, ",".join(variant.alts)
    sites.info[row] = ";".join(f"{key}={value}" for key, value in variant.info.items())
    sites.n_alts[row] = len(variant.alts)
    if variant.genotypes is not None:
        sites.genotypes[row] = variant.genotypes
    sites.by_class[_classify(variant.ref, variant.alts)] += 1
    sites.alt_alleles += sum(alt not in ("*", ".") for alt in variant.alts)


def _annotate(annotator: Annotator, sites: _Sites, chromosome: str) -> None:
    """Add the annotation of records inside genes to their INFO, unless a planted record
    brings its own."""
    found = annotator.info(chromosome, np.asarray(sites.pos), sites.ref, sites.alt)
    for row, item in found.items():
        extra = sites.info[row]
        if not any(part.startswith(annotator.key) for part in extra.split(";")):
            sites.info[row] = f"{extra};{item}" if extra else item


def _bases(rng: np.random.Generator, n: int, width: int) -> list[str]:
    """n random ACGT strings of one width, made in one go and sliced."""
    text = _ACGT[rng.integers(0, 4, (n, width))].tobytes().decode("ascii")
    return [text[i * width:(i + 1) * width] for i in range(n)]


def _single(ref: list[str], alt: list[str], info: list[str] | None = None) -> _Alleles:
    return _Alleles(ref, alt, [1] * len(ref), info or [""] * len(ref))


def _snv(rng: np.random.Generator, positions: np.ndarray, length: int) -> _Alleles:
    ref = _bases(rng, len(positions), 1)
    shift = rng.integers(0, 3, len(positions)).tolist()
    return _single(ref, [_SUBSTITUTES[r][s] for r, s in zip(ref, shift)])


def _mnp(rng: np.random.Generator, positions: np.ndarray, length: int) -> _Alleles:
    sizes = rng.integers(2, 4, len(positions)).tolist()
    ref = [bases[:size] for bases, size in zip(_bases(rng, len(positions), 3), sizes)]
    shifts = rng.integers(0, 3, (len(positions), 3)).tolist()
    alt = ["".join(_SUBSTITUTES[b][s] for b, s in zip(r, shift)) for r, shift in zip(ref, shifts)]
    return _single(ref, alt)


def _ins(rng: np.random.Generator, positions: np.ndarray, length: int) -> _Alleles:
    sizes = rng.integers(2, 22, len(positions)).tolist()
    alt = [bases[:size] for bases, size in zip(_bases(rng, len(positions), 21), sizes)]
    return _single([a[0] for a in alt], alt)


def _del(rng: np.random.Generator, positions: np.ndarray, length: int) -> _Alleles:
    sizes = rng.integers(2, 31, len(positions)).tolist()
    ref = [bases[:size] for bases, size in zip(_bases(rng, len(positions), 30), sizes)]
    return _single(ref, [r[0] for r in ref])


def _multi(rng: np.random.Generator, positions: np.ndarray, length: int) -> _Alleles:
    """Multi-allelic sites as callers write them: one REF long enough for the deletion, SNV
    ALTs padded to REF length, and sometimes a '*' for an overlapping upstream deletion."""
    n = len(positions)
    patterns = rng.integers(0, len(_MULTI_PATTERNS), n).tolist()
    ref_sizes = rng.integers(2, 7, n).tolist()
    ins_sizes = rng.integers(1, 11, n).tolist()
    stars = (rng.random(n) < _STAR_RATE).tolist()
    made = _Alleles([], [], [], [""] * n, stars=sum(stars))
    for bases, pattern, ref_size, ins_size, star in zip(
            _bases(rng, n, 16), patterns, ref_sizes, ins_sizes, stars):
        kinds = _MULTI_PATTERNS[pattern]
        ref = bases[:ref_size] if "DEL" in kinds else bases[0]
        substitutes = iter(_SUBSTITUTES[ref[0]])
        alleles = [_multi_alt(kind, ref, substitutes, bases[6:6 + ins_size]) for kind in kinds]
        alleles += ["*"] if star else []
        made.ref.append(ref)
        made.alt.append(",".join(alleles))
        made.n_alts.append(len(alleles))
    return made


def _multi_alt(kind: str, ref: str, substitutes: Iterator[str], inserted: str) -> str:
    """SNVs change the first base and keep the rest of REF, as a caller pads them."""
    if kind == "SNV":
        return next(substitutes) + ref[1:]
    return ref[0] if kind == "DEL" else ref + inserted


def _sv(svtype: str) -> Callable[[np.random.Generator, np.ndarray, int], _Alleles]:
    sign = -1 if svtype == "DEL" else 1

    def make(rng: np.random.Generator, positions: np.ndarray, length: int) -> _Alleles:
        """Log-uniform sizes, cut so END stays strictly inside the contig."""
        low, high = np.log10(_SV_SIZES[0]), np.log10(_SV_SIZES[1])
        sizes = np.rint(10 ** rng.uniform(low, high, len(positions))).astype(np.int64)
        sizes = np.minimum(sizes, length - 1 - positions)
        info = [f"SVTYPE={svtype};END={end};SVLEN={sign * size}"
                for end, size in zip((positions + sizes).tolist(), sizes.tolist())]
        return _single(_bases(rng, len(positions), 1), [f"<{svtype}>"] * len(positions), info)

    return make


_MAKERS: dict[str, Callable[[np.random.Generator, np.ndarray, int], _Alleles]] = {
    "SNV": _snv, "MNP": _mnp, "INS": _ins, "DEL": _del, "MULTI": _multi,
    "SV_DEL": _sv("DEL"), "SV_DUP": _sv("DUP"),
}


def _haplotypes(rng: np.random.Generator, n_alts: np.ndarray, samples: int,
                ploidy: int) -> np.ndarray:
    """Allele index per record and haplotype (int8, -1 missing), in Hardy-Weinberg from a
    skewed AF per ALT; every ALT gets one forced carrier so few records are monomorphic."""
    n, width = len(n_alts), samples * ploidy
    absent = np.arange(_MAX_ALTS) >= n_alts[:, None]
    freqs = rng.beta(*_AF_BETA, (n, _MAX_ALTS))
    freqs[absent] = 0.0
    freqs *= np.minimum(1.0, _MAX_TOTAL_AF / np.maximum(freqs.sum(1, keepdims=True), 1e-12))
    bounds = np.cumsum(freqs, axis=1).astype(np.float32)
    bounds[absent] = -1.0
    draws = rng.random((n, width), dtype=np.float32)
    below = np.zeros((n, width), dtype=np.int8)
    for j in range(_MAX_ALTS):
        below += draws < bounds[:, j:j + 1]
    alleles = np.where(below > 0, n_alts[:, None].astype(np.int8) + 1 - below, 0).astype(np.int8)
    carrier = rng.integers(0, width, n)
    for allele in range(1, _MAX_ALTS + 1):
        rows = np.flatnonzero(n_alts >= allele)
        alleles[rows, (carrier[rows] + allele - 1) % width] = allele
    missing = rng.random((n, samples)) < _MISSING_RATE
    alleles.reshape(n, samples, ploidy)[missing] = -1
    return alleles


def _gt_columns(alleles: np.ndarray, samples: int, ploidy: int) -> list[str]:
    """Sample columns of each record, newline included: 'a|b' or './.' (diploid), 'a' or '.'."""
    n = len(alleles)
    calls = alleles.reshape(n, samples, ploidy)
    cells = np.empty((n, samples, 2 * ploidy), dtype=np.uint8)
    cells[..., 0::2] = _ALLELE_CHARS[calls + 1]
    if ploidy == 2:
        cells[..., 1] = np.where(calls[..., 0] < 0, ord("/"), ord("|"))
    cells[..., -1] = ord("\t")
    cells[:, -1, -1] = ord("\n")
    text = cells.tobytes().decode("ascii")
    width = samples * 2 * ploidy
    return [text[i * width:(i + 1) * width] for i in range(n)]


def _counts(alleles: np.ndarray, n_alts: np.ndarray, ploidy: int) -> _Counts:
    most = int(n_alts.max())
    ac = np.stack([(alleles == j).sum(1) for j in range(1, most + 1)], axis=1)
    if ploidy == 2:
        first, second = alleles[:, 0::2], alleles[:, 1::2]
        homozygous = np.where(first == second, first, -1)
        nhomalt = np.stack([(homozygous == j).sum(1) for j in range(1, most + 1)], axis=1)
    else:
        nhomalt = np.zeros_like(ac)
    k = n_alts.tolist()
    return _Counts([row[:size] for row, size in zip(ac.tolist(), k)],
                   (alleles >= 0).sum(1).tolist(),
                   [row[:size] for row, size in zip(nhomalt.tolist(), k)])


def _text_counts(genotypes: tuple[str, ...], n_alts: int) -> tuple[list[int], int, list[int]]:
    """AC, AN and nhomalt of GT strings given by a test; rejects alleles beyond the ALTs."""
    ac, nhomalt, an = [0] * n_alts, [0] * n_alts, 0
    for genotype in genotypes:
        alleles = re.split("[|/]", genotype)
        if not all(a == "." or (a.isdigit() and int(a) <= n_alts) for a in alleles):
            raise ValueError(f"genotype {genotype!r} is not a GT for {n_alts} ALT alleles")
        called = [int(a) for a in alleles if a != "."]
        an += len(called)
        for allele in called:
            if allele:
                ac[allele - 1] += 1
        if len(alleles) == 2 and len(called) == 2 and called[0] == called[1] > 0:
            nhomalt[called[0] - 1] += 1
    return ac, an, nhomalt


def _count_info(ac: list[int], an: int, nhomalt: list[int]) -> str:
    af = ",".join(f"{c / an:.6g}" for c in ac) if an else ",".join("." * len(ac))
    return f"AC={','.join(map(str, ac))};AN={an};AF={af};nhomalt={','.join(map(str, nhomalt))}"


def _render(rng: np.random.Generator, sites: _Sites, contig: str, spec: VcfSpec,
            ploidy: int) -> str:
    alleles = _haplotypes(rng, sites.n_alts, spec.samples, ploidy)
    columns = _gt_columns(alleles, spec.samples, ploidy)
    for row, genotypes in sites.genotypes.items():
        columns[row] = "\t".join(genotypes) + "\n"
    info = sites.info
    if spec.info_counts:
        counts = _counts(alleles, sites.n_alts, ploidy)
        for row, genotypes in sites.genotypes.items():
            counts.ac[row], counts.an[row], counts.nhomalt[row] = _text_counts(
                genotypes, int(sites.n_alts[row]))
        info = [";".join(filter(None, (_count_info(ac, an, nh), extra)))
                for ac, an, nh, extra in zip(counts.ac, counts.an, counts.nhomalt, info)]
    return "".join(f"{contig}\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t{text or '.'}\tGT\t{gts}"
                   for pos, ref, alt, text, gts in zip(sites.pos, sites.ref, sites.alt, info,
                                                       columns))


def cached_vcf(directory: Path, records: int, samples: int, seed: int) -> Path:
    """A synthetic file kept between runs (benchmarks need the same 1M-record file each
    time; it takes ~20 s to write). Written under a temporary name first, so an interrupted
    run never leaves a partial file that looks complete."""
    path = directory / f"synthetic-{records}x{samples}-seed{seed}.vcf.gz"
    index = Path(f"{path}.tbi")
    if path.is_file() and index.is_file():
        return path
    partial = directory / f"partial-{path.name}"
    write_vcf(VcfSpec(partial, records=records, samples=samples, seed=seed))
    os.replace(f"{partial}.tbi", index)
    os.replace(partial, path)
    return path
