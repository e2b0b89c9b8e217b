"""Reference assemblies the node can place variants on, and contig-name normalisation.

Variants are stored under one canonical chromosome name per assembly ('1'..'22', 'X', 'Y',
'MT') so that a query for `chr17`, `17`, `NC_000017.11` or `refseq:NC_000017.11` finds the same
rows. The RefSeq versions differ between GRCh37 and GRCh38, so an accession also pins the
assembly: `NC_000017.10` is never matched against GRCh38 data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

CHROMOSOMES: tuple[str, ...] = tuple(str(i) for i in range(1, 23)) + ("X", "Y", "MT")

_GRCH38_LENGTHS = (
    248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636,
    138394717, 133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345,
    83257441, 80373285, 58617616, 64444167, 46709983, 50818468, 156040895, 57227415, 16569,
)
_GRCH37_LENGTHS = (
    249250621, 243199373, 198022430, 191154276, 180915260, 171115067, 159138663, 146364022,
    141213431, 135534747, 135006516, 133851895, 115169878, 107349540, 102531392, 90354753,
    81195210, 78077248, 59128983, 63025520, 48129895, 51304566, 155270560, 59373566, 16569,
)
# RefSeq accession versions of NC_0000NN for chromosomes 1..24 (X=23, Y=24).
_GRCH38_REFSEQ_VERSIONS = (11, 12, 12, 12, 10, 12, 14, 11, 12, 11, 10, 12, 11, 9, 10, 10, 11, 10,
                           10, 11, 9, 11, 11, 10)
_GRCH37_REFSEQ_VERSIONS = (10, 11, 11, 11, 9, 11, 13, 10, 11, 10, 9, 11, 10, 8, 9, 9, 10, 9,
                           9, 10, 8, 10, 10, 9)
_MT_REFSEQ = "NC_012920.1"
_MT_GENBANK = "J01415.2"


@dataclass(frozen=True)
class Assembly:
    """One reference assembly: canonical chromosome names and lengths (its own names are
    find_assembly's)."""

    id: str
    lengths: dict[str, int]
    refseq: dict[str, str]
    _names: dict[str, str] = field(repr=False)
    # spellings of the mitochondrion (upper case) that, in a VCF, name another sequence than
    # this assembly's unless the header's length says it is this one's (`file_chromosome`)
    other_mitochondria: frozenset[str] = frozenset()

    def normalise(self, name: str) -> str | None:
        """Canonical chromosome for a contig or referenceName, or None if not on this assembly.
        A name spelt as the table holds it (`1`, `X`) is looked up first: it needs none of
        the rest, and every query asks it twice (its datasets' choice, its statement)."""
        found = self._names.get(name)
        if found is not None:
            return found
        key = name.strip()
        if key.lower().startswith("refseq:"):
            key = key[len("refseq:"):]
        return self._names.get(key) or self._names.get(key.upper())

    def length(self, chromosome: str) -> int:
        return self.lengths[chromosome]

    def file_chromosome(self, name: str, length: int | None) -> str | None:
        """The chromosome a VCF's contig is, given its header length if any: `normalise`'s,
        but a mitochondrion spelt as one of `other_mitochondria` without a length is another
        sequence, as one of another length is. A query's `chrM` is still MT: `normalise`."""
        chrom = self.normalise(name)
        if chrom == "MT" and length is None and name.strip().upper() in self.other_mitochondria:
            return None
        return chrom


def _build(assembly_id: str, lengths: tuple[int, ...], refseq_versions: tuple[int, ...],
           genbank_version: int, other_mitochondria: frozenset[str] = frozenset()) -> Assembly:
    names: dict[str, str] = {}
    refseq: dict[str, str] = {}
    for index, chrom in enumerate(CHROMOSOMES):
        if chrom == "MT":
            accessions = [_MT_REFSEQ, _MT_GENBANK]
            spellings = ["MT", "M", "CHRM", "CHRMT"]
        else:
            accessions = [f"NC_{index + 1:06d}.{refseq_versions[index]}",
                          f"CM{663 + index:06d}.{genbank_version}"]
            spellings = [chrom, f"CHR{chrom}"]
        refseq[chrom] = accessions[0]
        for spelling in spellings + accessions:
            names[spelling.upper()] = chrom
    names.update({"chrM": "MT", "chrMT": "MT"})
    return Assembly(assembly_id, dict(zip(CHROMOSOMES, lengths)), refseq, names,
                    other_mitochondria)


# A patch release places the chromosomes where its assembly does (patches add scaffolds), so
# every patch names the same assembly: GRCh38.p1..p14 and GRCh37.p1..p13, and the accession
# versions from the first release's to the last patch's: GenBank GCA_000001405.15 (GRCh38)
# to .29 (GRCh38.p14) and RefSeq GCF_000001405.26 to .40 (GRCh38.p13 = .39, the spec's
# example); GCA_000001405.1 (GRCh37) to .14 (GRCh37.p13) and GCF_000001405.13 to .25.
_PATCHES = {"GRCh38": 14, "GRCh37": 13}
_ACCESSION = re.compile(r"^GC([AF])_000001405\.(\d{1,3})$")
_ACCESSION_VERSIONS = {("A", "GRCh38"): range(15, 30), ("F", "GRCh38"): range(26, 41),
                       ("A", "GRCh37"): range(1, 15), ("F", "GRCh37"): range(13, 26)}
_PATCH_NAME = re.compile(r"^(GRCH3[78])(?:\.P(\d{1,2}))?$")
_UCSC = {"HG38": "GRCh38", "HG19": "GRCh37"}

GRCH38 = _build("GRCh38", _GRCH38_LENGTHS, _GRCH38_REFSEQ_VERSIONS, 2)
# UCSC's hg19 calls GRCh37's chromosomes chr1..chrY, but its chrM is not GRCh37's MT: it is
# the Yoruba sequence (NC_001807, 16,571 bases), GRCh37's the rCRS (NC_012920, 16,569), and
# past base ~300 their positions differ. A `chrM` (or `M`, its name without `chr`) on GRCh37
# is hg19's, unless its length is the rCRS's (hg38's chrM is the rCRS, as GRCh38's MT).
GRCH37 = _build("GRCh37", _GRCH37_LENGTHS, _GRCH37_REFSEQ_VERSIONS, 1,
                frozenset({"CHRM", "M"}))
ASSEMBLIES: dict[str, Assembly] = {a.id: a for a in (GRCH38, GRCH37)}
DEFAULT_ASSEMBLY = GRCH38.id


def find_assembly(name: str) -> Assembly | None:
    """The assembly an `assemblyId` names, if known: its name with or without a patch level
    (GRCh38, GRCh38.p13), its UCSC name (hg38) or the GenBank or RefSeq accession of any of
    its patch releases (GCA_000001405.15, GCF_000001405.39); any letter case."""
    key = name.strip().upper()
    if key in _UCSC:
        return ASSEMBLIES[_UCSC[key]]
    if named := _PATCH_NAME.fullmatch(key):
        assembly = next(a for a in ASSEMBLIES.values() if a.id.upper() == named[1])
        patch = named[2]
        return assembly if patch is None or 1 <= int(patch) <= _PATCHES[assembly.id] else None
    if accession := _ACCESSION.fullmatch(key):
        version = int(accession[2])
        return next((ASSEMBLIES[assembly_id] for (kind, assembly_id), versions
                     in _ACCESSION_VERSIONS.items()
                     if kind == accession[1] and version in versions), None)
    return None


def implied_assembly(reference_name: str) -> Assembly | None:
    """The one assembly a reference name belongs to, when it says (a RefSeq or GenBank
    accession of one assembly's chromosome: NC_000017.11 is GRCh38's); None for names every
    assembly shares (17, chr17, the mitochondrion's accessions) or none has."""
    holders = [a for a in ASSEMBLIES.values() if a.normalise(reference_name)]
    return holders[0] if len(holders) == 1 else None


# What a VCF header calls an assembly by, beyond find_assembly's names: the FASTA names of the
# 1000 Genomes references (human_g1k_v37, hs37d5, hs38DH) and of GATK's bundles
# (Homo_sapiens_assembly19 is b37, …38 hg38), and assemblies the node does not hold, which a
# file on them must not be loaded as one it does.
_HEADER_NAMES = re.compile(
    r"(?<![a-z0-9])(grch3[78](?:\.p\d+)?|gc[af]_000001405\.\d+|hg19|hg38|b37|b38|hs37d5|"
    r"hs38(?:dh|d1)?|g1k_v37|homo_sapiens_assembly(?:19|38)|ncbi36|hg18|b36|chm13(?:v[0-9.]+)?|t2t)"
    r"(?![a-z0-9])", re.IGNORECASE)
_FILE_NAMES = {"b37": "GRCh37", "hs37d5": "GRCh37", "g1k_v37": "GRCh37",
               "homo_sapiens_assembly19": "GRCh37", "b38": "GRCh38", "hs38": "GRCh38",
               "hs38dh": "GRCh38", "hs38d1": "GRCh38", "homo_sapiens_assembly38": "GRCh38",
               "ncbi36": "NCBI36", "hg18": "NCBI36", "b36": "NCBI36", "chm13": "T2T-CHM13",
               "t2t": "T2T-CHM13", "grch37": "GRCh37", "grch38": "GRCh38"}


def named_assemblies(text: str) -> list[str]:
    """The assemblies a header's value names (`##reference=file:///ref/human_g1k_v37.fasta`,
    `assembly=b37`), as ids, in order, once each: an id of ASSEMBLIES, or NCBI36 or
    T2T-CHM13, which the node does not hold. A patch level beyond the last names its
    assembly still; an accession of no patch release names none."""
    found: list[str] = []
    for match in _HEADER_NAMES.finditer(text):
        name = match[1].lower()
        held = find_assembly(name)
        base = "chm13" if name.startswith("chm13") else name.split(".")[0]   # no patch
        named = held.id if held else _FILE_NAMES.get(base)
        if named is not None and named not in found:
            found.append(named)
    return found


def assembly_of_length(chromosome: str, length: int) -> str | None:
    """The one assembly whose `chromosome` has this length (they differ for every
    chromosome but the mitochondrion), or None."""
    holders = [a.id for a in ASSEMBLIES.values() if a.lengths.get(chromosome) == length]
    return holders[0] if len(holders) == 1 else None
