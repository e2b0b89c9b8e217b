"""A fact table of well-known human genes on GRCh38 and GRCh37 (`beacon/genes/*.tsv`).

Why a committed table rather than an annotation database: a `geneId` query against a file
that carries no annotations can still be answered as "variants overlapping the gene", and the
synthetic generator can put variants inside real genes, without the node downloading gene
sets. The table's header names its source; coordinates are 0-based half-open like every
coordinate in the node.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from beacon.assemblies import find_assembly


@dataclass(frozen=True)
class Gene:
    """One gene on one assembly: the span of all its transcripts, and its canonical one."""

    symbol: str                 # HGNC symbol
    hgnc_id: str                # HGNC:11998
    ensembl_gene: str           # ENSG…, unversioned
    assembly_id: str
    chromosome: str             # canonical name, as the node stores it ('17', 'X')
    start: int                  # 0-based, included
    end: int                    # excluded
    strand: str                 # '+' or '-'
    ensembl_transcript: str | None      # MANE Select, unversioned ENST
    refseq_transcript: str | None       # MANE Select, versioned NM_

    def overlaps(self, start: int, end: int) -> bool:
        """Whether [start, end) on this gene's chromosome touches the gene."""
        return start < self.end and end > self.start


def gene(symbol: str, assembly_id: str) -> Gene | None:
    """The gene named by an HGNC symbol (any case), HGNC id (`HGNC:11998`) or Ensembl gene
    id, with or without its version (`ENSG00000141510.18`: the spec's geneIds name genes
    so too), on an assembly (any name `find_assembly` knows); None when the table does not
    hold it."""
    by_name = _index(_assembly_id(assembly_id))
    name = symbol.strip().upper()
    return by_name.get(name.split(".")[0] if name.startswith("ENSG") else name)


def genes(assembly_id: str) -> tuple[Gene, ...]:
    """Every gene of the table on an assembly, in the table's order."""
    return _table(_assembly_id(assembly_id))


def genes_at(assembly_id: str, chromosome: str, start: int, end: int) -> tuple[Gene, ...]:
    """The genes that [start, end) on a (canonical) chromosome overlaps."""
    return tuple(g for g in _table(_assembly_id(assembly_id))
                 if g.chromosome == chromosome and g.overlaps(start, end))


def _assembly_id(name: str) -> str:
    assembly = find_assembly(name)
    if assembly is None:
        raise ValueError(f"unknown assembly {name!r}")
    return assembly.id


@cache
def _index(assembly_id: str) -> dict[str, Gene]:
    table = _table(assembly_id)
    return {name.upper(): g for g in table for name in (g.symbol, g.hgnc_id, g.ensembl_gene)}


@cache
def _table(assembly_id: str) -> tuple[Gene, ...]:
    text = resources.files("beacon").joinpath("genes", f"{assembly_id}.tsv").read_text("utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return tuple(
        Gene(symbol=row["symbol"], hgnc_id=row["hgnc_id"], ensembl_gene=row["ensembl_gene"],
             assembly_id=assembly_id, chromosome=row["chromosome"], start=int(row["start"]),
             end=int(row["end"]), strand=row["strand"],
             ensembl_transcript=row["ensembl_transcript"] or None,
             refseq_transcript=row["refseq_transcript"] or None)
        for row in csv.DictReader(lines, delimiter="\t"))
