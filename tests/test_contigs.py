"""Real VCF headers list many contigs the Beacon does not serve: none stops an ingest.

Headers in the forms GATK, DRAGEN, bcftools and the 1000 Genomes releases write them, for
hg19 (UCSC names, its 16,571-base chrM, `_random`/`chrUn_gl…`), GRCh37 (hs37d5: bare names,
`GL000…`, `hs37d5`, `NC_007605`), hg38 (`_alt`, `_random`, `chrUn_…`, `chrEBV`, `HLA-…`) and
GRCh38 (the 1000 Genomes analysis set). Records on the assembly's chromosomes load; records on
anything else are skipped and counted per contig (the CLI and `/api/datasets` source say how
many); a listed contig without records costs nothing.
"""
from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from auth.access import AccessLevel
from beacon.assemblies import GRCH37, GRCH38, Assembly
from beacon.ingest import IngestRequest, ingest
from tests.conftest import node_database, write_vcf_text

CONTIGS = {
    "hg19": (GRCH37, [("chr1", 249250621), ("chr1_gl000191_random", 106433),
                      ("chrUn_gl000211", 166566), ("chrX", 155270560), ("chrY", 59373566),
                      ("chrM", 16571)]),
    "GRCh37-hs37d5": (GRCH37, [("1", 249250621), ("X", 155270560), ("Y", 59373566),
                               ("MT", 16569), ("GL000207.1", 4262), ("NC_007605", 171823),
                               ("hs37d5", 35477943)]),
    "hg38": (GRCH38, [("chr1", 248956422), ("chr1_KI270706v1_random", 175055),
                      ("chr1_KI270762v1_alt", 354444), ("chrUn_KI270302v1", 2274),
                      ("chrX", 156040895), ("chrY", 57227415), ("chrM", 16569),
                      ("chrEBV", 171823), ("HLA-A*01:01:01:01", 3503)]),
    "GRCh38-1kg": (GRCH38, [("chr1", 248956422), ("chrX", 156040895), ("chrM", 16569),
                            ("chr3_KI270777v1_alt", 173649), ("chrUn_JTFH01000001v1_decoy",
                                                             25139)]),
}
# (contig, POS): on the assembly; then records on contigs it does not serve
ON = {"hg19": [("chr1", 1000), ("chrX", 5000)], "GRCh37-hs37d5": [("1", 1000), ("MT", 100)],
      "hg38": [("chr1", 1000), ("chrM", 100)], "GRCh38-1kg": [("chr1", 1000), ("chrX", 9000)]}
OFF = {"hg19": [("chr1_gl000191_random", 50), ("chrM", 100), ("chrM", 200)],
       "GRCh37-hs37d5": [("GL000207.1", 10), ("hs37d5", 500)],
       "hg38": [("chr1_KI270762v1_alt", 10), ("chrEBV", 20), ("HLA-A*01:01:01:01", 30)],
       "GRCh38-1kg": [("chrUn_JTFH01000001v1_decoy", 40)]}


def _vcf(directory: Path, name: str, assembly: Assembly, index: bool) -> Path:
    contigs = CONTIGS[name][1]
    order = [c for c, _ in contigs]
    header = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c},length={n}>" for c, n in contigs),
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2"]
    records = sorted(ON[name] + OFF[name], key=lambda r: (order.index(r[0]), r[1]))
    lines = [f"{c}\t{pos}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1" for c, pos in records]
    suffix = "indexed" if index else "plain"
    return write_vcf_text(directory / f"{name}-{suffix}.vcf", "\n".join(header + lines) + "\n",
                          index=index)


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
@pytest.mark.parametrize("name", list(CONTIGS))
async def test_a_real_header_loads_and_counts_what_it_skips(db_url, tmp_path, name, index):
    from node.migrate import NODE_MIGRATIONS, apply_migrations
    conn = await asyncpg.connect(db_url)
    try:
        await apply_migrations(conn, NODE_MIGRATIONS)
    finally:
        await conn.close()
    assembly = CONTIGS[name][0]
    path = _vcf(tmp_path, name, assembly, index)
    report = await ingest(db_url, IngestRequest(path, "GDI-FI-SYN-001", assembly,
                                                AccessLevel.PUBLIC, name, workers=2))
    expected: dict[str, int] = {}
    for contig, _ in OFF[name]:
        expected[contig] = expected.get(contig, 0) + 1
    assert report.elsewhere == expected
    assert report.rows == len(ON[name])
    conn = await asyncpg.connect(db_url)
    try:
        stored = await conn.fetch("SELECT chromosome, start_pos FROM variants ORDER BY 1, 2")
        source = await conn.fetchval("SELECT source::text FROM datasets")
    finally:
        await conn.close()
    assert [(r[0], r[1] + 1) for r in stored] == sorted(
        (assembly.normalise(c), pos) for c, pos in ON[name])
    assert "recordsOffAssembly" in source


# hg19's chrM as headers write it without a length: a contig line with none, or none at all
# (htslib reads records on a contig the header does not list); with GRCh37's own 16,569 (the
# rCRS, as a file lifted over to it says) it is GRCh37's MT.
HG19_CHRM = {"no length": ["##contig=<ID=chrM>"], "no contig line": [],
             "no length, any case": ["##contig=<ID=CHRM>"],
             "the rCRS's length": ["##contig=<ID=chrM,length=16569>"]}


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
@pytest.mark.parametrize("declared", list(HG19_CHRM))
async def test_hg19_chrm_without_a_length_is_not_grch37_mt(pg_server_url, tmp_path, declared,
                                                           index):
    """UCSC hg19's chrM is the Yoruba mitochondrion (NC_001807, 16,571 bases), GRCh37's MT the
    rCRS (NC_012920, 16,569): past base ~300 their positions differ. A chrM of GRCh37 whose
    header gives no length was loaded as MT, its variants answered at the wrong positions;
    it is now left aside as the 16,571-base one is, unless its length says it is the rCRS."""
    chrm = "CHRM" if "any case" in declared else "chrM"
    header = ["##fileformat=VCFv4.2", "##reference=hg19",
              "##contig=<ID=chr1,length=249250621>", *HG19_CHRM[declared],
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2"]
    records = [("chr1", 1000), (chrm, 310), (chrm, 16000)]
    lines = [f"{c}\t{pos}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1" for c, pos in records]
    path = write_vcf_text(tmp_path / "hg19.vcf", "\n".join(header + lines) + "\n", index=index)
    async with node_database(pg_server_url) as url:
        report = await ingest(url, IngestRequest(path, "GDI-FI-SYN-001", None,
                                                 AccessLevel.PUBLIC, "hg19", workers=2))
        conn = await asyncpg.connect(url)
        try:
            stored = await conn.fetch("SELECT chromosome, start_pos FROM variants ORDER BY 1, 2")
        finally:
            await conn.close()
    assert report.assembly == GRCH37.id
    if declared == "the rCRS's length":
        assert report.elsewhere == {}
        assert [(r[0], r[1] + 1) for r in stored] == [("1", 1000), ("MT", 310), ("MT", 16000)]
    else:
        assert report.elsewhere == {chrm: 2}
        assert [(r[0], r[1] + 1) for r in stored] == [("1", 1000)]
