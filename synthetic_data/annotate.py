"""Synthetic SnpEff `ANN` and VEP `CSQ` annotations for generated records that fall inside the
genes of `beacon.genes`, so gene, protein and HGVS queries have something to find.

The consequences follow the variant class (missense / synonymous / stop_gained for SNVs,
missense for MNPs, frameshift or in-frame for indels, transcript ablation or amplification for
symbolic deletions and duplications) and the protein changes are made up but well formed: the
codon number comes from the position inside the gene, read along the gene's strand, and the
amino acids from a hash of the position, so an annotation depends only on the record and never
on the random stream (the same record is annotated the same way in every file). A few real
changes (`KNOWN_CHANGES`, e.g. TP53 p.Arg175His) carry their true annotation, so tests can
query them. Records outside the table's genes get no annotation (as VEP with
`--no_intergenic`). Each entry names the gene's canonical transcript; VEP's protein column
carries no ENSP prefix here, since the table holds none.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from beacon.annotations import vep_alleles
from beacon.genes import Gene, genes

Style = Literal["ANN", "CSQ"]

HEADER_LINES: dict[str, str] = {
    "ANN": ('##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: '
            "'Allele | Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | "
            "Feature_ID | Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length "
            "| CDS.pos / CDS.length | AA.pos / AA.length | Distance | ERRORS / WARNINGS / INFO' "
            '">'),
    "CSQ": ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
            "Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|"
            "BIOTYPE|EXON|INTRON|HGVSc|HGVSp|cDNA_position|CDS_position|Protein_position|"
            "Amino_acids|Codons|Existing_variation|DISTANCE|STRAND|FLAGS|SYMBOL_SOURCE|"
            'HGNC_ID">'),
}

_AMINO_ACIDS = ("Ala", "Arg", "Asn", "Asp", "Cys", "Gln", "Glu", "Gly", "His", "Ile", "Leu",
                "Lys", "Met", "Phe", "Pro", "Ser", "Thr", "Trp", "Tyr", "Val")
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
_IMPACT = {"missense_variant": "MODERATE", "synonymous_variant": "LOW",
           "stop_gained": "HIGH", "frameshift_variant": "HIGH",
           "inframe_insertion": "MODERATE", "inframe_deletion": "MODERATE",
           "transcript_ablation": "HIGH", "transcript_amplification": "HIGH"}
_SV_CONSEQUENCE = {"<DEL>": "transcript_ablation", "<DUP>": "transcript_amplification"}
_CODONS = 2000          # made-up protein length: codon numbers stay plausible in long genes


@dataclass(frozen=True)
class KnownChange:
    """A real variant with its real annotation on its gene's canonical transcript."""

    assembly_id: str
    chromosome: str
    pos: int                    # 1-based, as in the VCF
    ref: str
    alt: str
    symbol: str
    consequence: str
    hgvs_c: str
    hgvs_p: str                 # canonical three-letter form


KNOWN_CHANGES: tuple[KnownChange, ...] = (
    # TP53 R175H (rs28934578) and BRAF V600E (rs113488022), on both assemblies.
    KnownChange("GRCh38", "17", 7_675_088, "C", "T", "TP53", "missense_variant",
                "c.524G>A", "p.Arg175His"),
    KnownChange("GRCh37", "17", 7_578_406, "C", "T", "TP53", "missense_variant",
                "c.524G>A", "p.Arg175His"),
    KnownChange("GRCh38", "7", 140_753_336, "A", "T", "BRAF", "missense_variant",
                "c.1799T>A", "p.Val600Glu"),
    KnownChange("GRCh37", "7", 140_453_136, "A", "T", "BRAF", "missense_variant",
                "c.1799T>A", "p.Val600Glu"),
)


@dataclass(frozen=True)
class _Change:
    """What one ALT does to one transcript."""

    consequence: str
    hgvs_c: str | None
    hgvs_p: str | None
    codon: int | None
    cds: int | None


class Annotator:
    """Annotates the records of one file: one style, one assembly."""

    def __init__(self, style: Style, assembly_id: str) -> None:
        self.style = style
        self.key = f"{style}="
        self._genes: dict[str, list[Gene]] = {}
        for gene in genes(assembly_id):
            self._genes.setdefault(gene.chromosome, []).append(gene)
        self._known = {(k.chromosome, k.pos, k.ref, k.alt): k for k in KNOWN_CHANGES
                       if k.assembly_id == assembly_id}

    def info(self, chromosome: str, positions: np.ndarray, refs: Sequence[str],
             alts: Sequence[str]) -> dict[int, str]:
        """INFO items (`ANN=…` / `CSQ=…`) of the records inside the table's genes, by row;
        positions are VCF POS, alts comma-joined as in the ALT column."""
        found: dict[int, list[str]] = {}
        for gene in self._genes.get(chromosome, ()):
            inside = np.flatnonzero((positions > gene.start) & (positions <= gene.end))
            for row in inside.tolist():
                entries = self._entries(gene, int(positions[row]), refs[row],
                                        alts[row].split(","))
                if entries:
                    found.setdefault(row, []).extend(entries)
        return {row: self.key + ",".join(entries) for row, entries in found.items()}

    def _entries(self, gene: Gene, pos: int, ref: str, alts: list[str]) -> list[str]:
        spelled = vep_alleles(ref, alts) if self.style == "CSQ" else alts
        entries = []
        for index, (alt, allele) in enumerate(zip(alts, spelled, strict=True)):
            if alt == "*":
                continue
            known = self._known.get((gene.chromosome, pos, ref, alt))
            if known is not None and known.symbol == gene.symbol:
                change = _known_change(known)
            else:
                change = _change(gene, pos, ref, alt, index)
            if change is not None:
                entries.append(self._entry(gene, allele, change))
        return entries

    def _entry(self, gene: Gene, allele: str, change: _Change) -> str:
        impact = _IMPACT[change.consequence]
        transcript = gene.ensembl_transcript or ""
        if self.style == "ANN":
            protein = change.hgvs_p and _snpeff_protein(change.hgvs_p)
            return "|".join([allele, change.consequence, impact, gene.symbol,
                             gene.ensembl_gene, "transcript", transcript, "protein_coding", "",
                             change.hgvs_c or "", protein or "", "",
                             f"{change.cds}/" if change.cds else "",
                             f"{change.codon}/" if change.codon else "", "", ""])
        hgvs_c = f"{transcript}:{change.hgvs_c}" if change.hgvs_c else ""
        hgvs_p = (change.hgvs_p or "").replace("=", "%3D")      # VEP escapes '=' in VCF
        return "|".join([allele, change.consequence, impact, gene.symbol, gene.ensembl_gene,
                         "Transcript", transcript, "protein_coding", "", "", hgvs_c, hgvs_p,
                         "", str(change.cds or ""), str(change.codon or ""), "", "", "", "",
                         "1" if gene.strand == "+" else "-1", "", "HGNC", gene.hgnc_id])


def _known_change(known: KnownChange) -> _Change:
    codon = int("".join(c for c in known.hgvs_p if c.isdigit()))
    cds = int("".join(c for c in known.hgvs_c.split(">")[0] if c.isdigit()))
    return _Change(known.consequence, known.hgvs_c, known.hgvs_p, codon, cds)


def _change(gene: Gene, pos: int, ref: str, alt: str, index: int) -> _Change | None:
    """A made-up but well-formed coding change, deterministic in the record; None for a
    symbolic ALT the generator never writes itself (planted by a test)."""
    if alt.startswith("<"):
        sv = _SV_CONSEQUENCE.get(alt)
        return _Change(sv, None, None, None, None) if sv else None
    offset = pos - 1 - gene.start if gene.strand == "+" else gene.end - pos
    codon = (offset // 3) % _CODONS + 1
    cds = (codon - 1) * 3 + offset % 3 + 1
    seed = pos * 7919 + index * 104729
    before = _AMINO_ACIDS[pos * 7919 % 20]          # the codon's own residue: same for all ALTs
    after = _AMINO_ACIDS[(pos * 7919 % 20 + 1 + seed // 20 % 19) % 20]
    ref_c, alt_c = _coding(ref, gene), _coding(alt, gene)
    if len(ref) == len(alt):
        kind = seed // 400 % 20
        if len(ref) == 1 and kind >= 18:
            return _Change("stop_gained", f"c.{cds}{ref_c}>{alt_c}",
                           f"p.{before}{codon}Ter", codon, cds)
        if len(ref) == 1 and kind >= 14:
            return _Change("synonymous_variant", f"c.{cds}{ref_c}>{alt_c}",
                           f"p.{before}{codon}=", codon, cds)
        hgvs_c = (f"c.{cds}{ref_c}>{alt_c}" if len(ref) == 1
                  else f"c.{cds}_{cds + len(ref) - 1}delins{alt_c}")
        return _Change("missense_variant", hgvs_c, f"p.{before}{codon}{after}", codon, cds)
    if len(alt) > len(ref):
        inserted = _coding(alt[len(ref):], gene)
        hgvs_c = f"c.{cds}_{cds + 1}ins{inserted}"
        if len(inserted) % 3 == 0:
            added = "".join(_AMINO_ACIDS[(seed + i) % 20] for i in range(len(inserted) // 3))
            return _Change("inframe_insertion", hgvs_c,
                           f"p.{before}{codon}_{after}{codon + 1}ins{added}", codon, cds)
    else:
        deleted = len(ref) - len(alt)
        hgvs_c = (f"c.{cds + 1}del" if deleted == 1
                  else f"c.{cds + 1}_{cds + deleted}del")
        if deleted % 3 == 0:
            last = codon + deleted // 3 - 1
            span = f"{before}{codon}" + (f"_{after}{last}" if last > codon else "")
            return _Change("inframe_deletion", hgvs_c, f"p.{span}del", codon, cds)
    return _Change("frameshift_variant", hgvs_c,
                   f"p.{before}{codon}{after}fsTer{seed % 40 + 2}", codon, cds)


def _coding(bases: str, gene: Gene) -> str:
    """Bases as the transcript reads them: reverse-complemented on the minus strand."""
    return bases if gene.strand == "+" else bases.translate(_COMPLEMENT)[::-1]


def _snpeff_protein(hgvs_p: str) -> str:
    """SnpEff's spelling: a stop as `*`, a synonymous change repeating its amino acid."""
    if hgvs_p.endswith("="):
        return hgvs_p[:-1] + hgvs_p[2:5]
    return hgvs_p.replace("Ter", "*")

