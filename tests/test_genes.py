"""The gene fact table: lookups as a geneId query makes them, and coordinates checked against
values confirmed from Ensembl's published exports (1-based there, 0-based half-open here)."""
from __future__ import annotations

import pytest

from beacon.assemblies import ASSEMBLIES
from beacon.genes import Gene, gene, genes, genes_at

# (symbol, assembly, chromosome, Ensembl 1-based start, end): GRCh38 from Ensembl releases
# ~100-110, GRCh37 from Ensembl GRCh37 (GENCODE 19) BioMart exports.
CONFIRMED = (
    ("TP53", "GRCh38", "17", 7_661_779, 7_687_550),
    ("TP53", "GRCh37", "17", 7_565_097, 7_590_856),
    ("BRCA1", "GRCh38", "17", 43_044_295, 43_170_245),
    ("BRCA2", "GRCh37", "13", 32_889_611, 32_973_805),
    ("CFTR", "GRCh38", "7", 117_287_120, 117_715_971),
    ("KRAS", "GRCh37", "12", 25_357_723, 25_403_870),
    ("FMR1", "GRCh38", "X", 147_911_919, 147_951_125),
    ("SRY", "GRCh37", "Y", 2_654_896, 2_655_740),
)


@pytest.mark.parametrize(("symbol", "assembly", "chromosome", "first", "last"), CONFIRMED)
def test_confirmed_coordinates_are_stored_zero_based_half_open(
        symbol: str, assembly: str, chromosome: str, first: int, last: int) -> None:
    found = gene(symbol, assembly)
    assert found is not None
    assert (found.chromosome, found.start, found.end) == (chromosome, first - 1, last)
    assert found.overlaps(first - 1, first) and found.overlaps(last - 1, last)
    assert not found.overlaps(first - 2, first - 1) and not found.overlaps(last, last + 1)


def test_lookup_by_symbol_in_any_case_or_hgnc_id_and_assembly_alias() -> None:
    tp53 = gene("TP53", "GRCh38")
    assert isinstance(tp53, Gene)
    assert gene("tp53", "GRCh38") == gene(" Tp53 ", "hg38") == gene("HGNC:11998", "GRCh38")
    assert gene("hgnc:11998", "GRCh38") == tp53
    assert (tp53.hgnc_id, tp53.ensembl_gene, tp53.strand) == (
        "HGNC:11998", "ENSG00000141510", "-")
    assert (tp53.ensembl_transcript, tp53.refseq_transcript) == (
        "ENST00000269305", "NM_000546.6")
    assert gene("TP53", "GRCh37").assembly_id == "GRCh37"
    assert gene("TP53", "hg19") == gene("TP53", "GRCh37")


def test_lookup_by_ensembl_gene_id_versioned_or_not() -> None:
    """The spec calls geneId a gene identifier, HGNC symbols suggested, and its geneIds
    examples pair BRCA1 with ENSG00000012048: the table's Ensembl ids name its genes too
    (they were looked up as symbols and found nothing)."""
    assert gene("ENSG00000141510", "GRCh38") == gene("TP53", "GRCh38")
    assert gene("ensg00000012048.23", "GRCh37") == gene("BRCA1", "GRCh37")


def test_unknown_gene_is_none_and_unknown_assembly_is_refused() -> None:
    assert gene("NOTAGENE", "GRCh38") is None
    assert gene("HGNC:0", "GRCh38") is None
    assert gene("LDLR", "GRCh37") is None            # not confirmed on GRCh37: left out
    with pytest.raises(ValueError, match="unknown assembly"):
        gene("TP53", "GRCh36")


@pytest.mark.parametrize("assembly", ["GRCh38", "GRCh37"])
def test_table_is_sound(assembly: str) -> None:
    table = genes(assembly)
    assert len(table) >= 30
    assert len({g.symbol for g in table}) == len({g.hgnc_id for g in table}) == len(table)
    lengths = ASSEMBLIES[assembly].lengths
    for row in table:
        assert 0 <= row.start < row.end <= lengths[row.chromosome], row
        assert row.strand in "+-" and row.hgnc_id.startswith("HGNC:"), row
        assert row.ensembl_gene.startswith("ENSG") and row.assembly_id == assembly
    chromosomes = {g.chromosome for g in table}
    assert {"X", "Y"} <= chromosomes


def test_both_assemblies_agree_on_chromosome_strand_and_transcripts() -> None:
    for on38 in genes("GRCh38"):
        on37 = gene(on38.symbol, "GRCh37")
        if on37 is None:
            continue
        assert (on37.chromosome, on37.strand, on37.hgnc_id, on37.ensembl_transcript) == (
            on38.chromosome, on38.strand, on38.hgnc_id, on38.ensembl_transcript)


def test_genes_at_finds_the_genes_a_range_overlaps() -> None:
    assert [g.symbol for g in genes_at("GRCh38", "17", 7_675_087, 7_675_088)] == ["TP53"]
    assert [g.symbol for g in genes_at("GRCh38", "7", 140_753_335, 140_753_336)] == ["BRAF"]
    assert genes_at("GRCh38", "17", 7_687_550, 7_687_551) == ()
    assert genes_at("GRCh37", "17", 7_675_087, 7_675_088) == ()
