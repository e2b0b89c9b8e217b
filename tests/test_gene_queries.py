"""Gene, protein and genomic HGVS queries, answered from the VCF's own annotations.

Three generator-made GRCh38 files hold the same planted real variants (TP53 p.Arg175His,
BRAF p.Val600Glu) among random records, a fifth of them inside genes: one annotated by SnpEff
(`ANN`), one by VEP (`CSQ`), one not annotated. The oracle reads the files with pysam and a
split on `|`, never through the node's annotation code.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import pysam
import pytest
from aiohttp import ClientSession

from auth.access import AccessLevel
from beacon import store
from beacon.annotations import protein_change_forms
from beacon.answer import placed
from beacon.assemblies import GRCH38
from beacon.genes import gene
from beacon.ingest import IngestRequest, ingest
from beacon.request import parse_body, to_query
from node.settings import Settings
from synthetic_data.annotate import KNOWN_CHANGES
from synthetic_data.vcf import PlantedVariant, VcfSpec, write_vcf
from tests.beacon_schemas import ERROR_SCHEMA, RECORD_SCHEMA, RESPONSE_SCHEMAS
from tests.conftest import OPEN_DISCLOSURE, node_database, serve_node, write_vcf_text
from tests.vcf_oracle import expected_rows

STYLES = {"GDI-FI-SYN-001": "ANN", "GDI-FI-SYN-002": "CSQ", "GDI-FI-SYN-003": None}
TP53 = (7_661_778, 7_687_550)      # GRCh38, 0-based half-open (beacon/genes/GRCh38.tsv)


@pytest.fixture(scope="module")
async def world(pg_server_url: str, tmp_path_factory) -> AsyncIterator[tuple[ClientSession,
                                                                             dict[str, Path]]]:
    directory = tmp_path_factory.mktemp("genes")
    planted = tuple(PlantedVariant(k.chromosome, k.pos, k.ref, (k.alt,))
                    for k in KNOWN_CHANGES if k.assembly_id == "GRCh38")
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        files = {}
        for dataset_id, style in STYLES.items():
            files[dataset_id] = write_vcf(VcfSpec(
                directory / f"{dataset_id}.vcf.gz", records=4000, samples=8, seed=21,
                annotation=style, genes_share=0.3, planted=planted,
                chromosomes=("7", "17"))).path
            await ingest(db_url, IngestRequest(files[dataset_id], dataset_id, GRCH38,
                                               AccessLevel.PUBLIC, dataset_id, workers=1))
        settings = Settings(database_url=db_url, beacon_id="org.test.genes",
                            data_dir=directory / "node", disclosure=OPEN_DISCLOSURE)
        client, _ = await serve_node(stack, settings)
        yield client, files


async def _ask(client: ClientSession, parameters: dict[str, Any], granularity: str = "record",
               status: int = 200) -> dict[str, Any]:
    async with client.post("/api/g_variants", json={"query": {
            "requestParameters": parameters, "requestedGranularity": granularity,
            "includeResultsetResponses": "ALL", "pagination": {"limit": 1000}}}) as response:
        body = await response.json()
        assert response.status == status, body
        return body


def _by_dataset(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in body["response"]["resultSets"]}


def _tp53_alts(path: Path) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """(every ALT overlapping TP53's span, the ALTs of records whose annotation names TP53)
    as (0-based start, ALT), from the file itself; multi-allelic records counted for every
    ALT of theirs (the generator annotates each ALT of a record in a gene)."""
    overlapping, annotated = set(), set()
    with pysam.VariantFile(str(path)) as vcf:
        for rec in vcf.fetch("chr17" if "chr17" in vcf.header.contigs else "17"):
            alts = [a for a in rec.alts or () if a not in ("*", ".")]
            if not alts or rec.stop <= TP53[0] or rec.start >= TP53[1]:
                continue
            values = [str(v) for key in ("ANN", "CSQ") if key in rec.info
                      for v in (rec.info[key] if isinstance(rec.info[key], tuple)
                                else [rec.info[key]])]
            named = any("|TP53|" in v for v in values)
            for alt in alts:
                overlapping.add((rec.start, alt))
                if named:
                    annotated.add((rec.start, alt))
    return overlapping, annotated


async def test_a_gene_finds_what_the_annotations_put_in_it(world, beacon_schema):
    client, files = world
    body = await _ask(client, {"geneId": "tp53"})
    assert beacon_schema(RESPONSE_SCHEMAS["record"], body) == []
    sets = _by_dataset(body)
    for dataset_id, style in STYLES.items():
        overlapping, annotated = _tp53_alts(files[dataset_id])
        expected = annotated if style else overlapping
        records = sets[dataset_id]["results"]
        assert sets[dataset_id]["resultsCount"] == len(expected) > 1, dataset_id
        assert len(records) == len(expected)
        for record in records:
            assert beacon_schema(RECORD_SCHEMA, record) == []
            interval = record["variation"]["location"]["interval"]
            assert interval["start"]["value"] < TP53[1] and interval["end"]["value"] > TP53[0]
            if style:
                assert "TP53" in record["molecularAttributes"]["geneIds"]
            else:
                assert "molecularAttributes" not in record


@pytest.mark.parametrize("change", ["R175H", "p.R175H", "p.Arg175His", "Arg175His"])
async def test_a_protein_change_in_every_form_finds_the_planted_variant(world, change):
    client, _ = world
    for parameters in ({"aminoacidChange": change},
                       {"geneId": "TP53", "aminoacidChange": change}):
        sets = _by_dataset(await _ask(client, parameters))
        for dataset_id, style in STYLES.items():
            if style is None:                 # no annotations: no protein change is known
                assert sets[dataset_id]["exists"] is False
                continue
            [record] = [r for r in sets[dataset_id]["results"]
                        if r["variation"]["location"]["interval"]["start"]["value"]
                        == 7_675_087]
            attributes = record["molecularAttributes"]
            assert attributes["aminoacidChanges"] == ["R175H"]
            assert {"id": "SO:0001583", "label": "missense_variant"} in \
                attributes["molecularEffects"]


async def test_genomic_hgvs_is_a_sequence_query(world):
    client, _ = world
    sets = _by_dataset(await _ask(client, {"genomicAlleleShortForm":
                                           "NC_000017.11:g.7675088C>T"}, "count"))
    assert {d: s["resultsCount"] for d, s in sets.items()} == dict.fromkeys(STYLES, 1)
    sets = _by_dataset(await _ask(client, {"genomicAlleleShortForm": "17:g.7675088C>G"},
                                  "count"))
    assert all(s["exists"] is False for s in sets.values())


@pytest.mark.parametrize("identifier", ["ENSG00000141510", "ENSG00000141510.18"])
async def test_a_table_genes_ensembl_id_finds_what_its_symbol_does(world, identifier):
    """The spec's geneId is a gene identifier (its geneIds examples: BRCA1, ENSG00000012048);
    TP53's Ensembl id found nothing, where its symbol finds its variants."""
    client, _ = world
    by_symbol = _by_dataset(await _ask(client, {"geneId": "TP53"}, "count"))
    by_id = _by_dataset(await _ask(client, {"geneId": identifier}, "count"))
    assert {d: s["resultsCount"] for d, s in by_id.items()} == {
        d: s["resultsCount"] for d, s in by_symbol.items()}
    assert all(s["resultsCount"] > 0 for s in by_id.values())


@pytest.mark.parametrize("identifier", ["HGNC:11998", "hgnc:11998", "Hgnc:11998"])
async def test_an_hgnc_id_in_any_case_finds_what_its_symbol_does(world, identifier):
    """identifiers.org writes HGNC's CURIEs with a lower-case prefix (`hgnc:11998`), and
    the table looks ids up in any case, as symbols: the lower-case form was a 400 saying it
    is not an HGNC id."""
    client, _ = world
    by_symbol = _by_dataset(await _ask(client, {"geneId": "TP53"}, "count"))
    by_id = _by_dataset(await _ask(client, {"geneId": identifier}, "count"))
    assert {d: s["resultsCount"] for d, s in by_id.items()} == {
        d: s["resultsCount"] for d, s in by_symbol.items()}


async def test_a_symbol_no_table_or_annotation_knows_finds_nothing(world):
    client, _ = world
    sets = _by_dataset(await _ask(client, {"geneId": "NOTAGENE1"}, "count"))
    assert all(s["exists"] is False for s in sets.values())


@pytest.mark.parametrize(("parameters", "field"), [
    ({"geneId": "TP53; DROP"}, "geneId"),
    ({"geneId": "TP53", "referenceName": "17", "start": 7_670_000, "end": 7_680_000}, "geneId"),
    ({"aminoacidChange": "v600e"}, "aminoacidChange"),
    ({"genomicAlleleShortForm": "NC_000017.11:c.524G>A"}, "genomicAlleleShortForm"),
    ({"genomicAlleleShortForm": "NC_000017.10:g.7578406C>T", "assemblyId": "GRCh38"},
     "genomicAlleleShortForm"),
    # the HGVS names chromosome 17: a referenceName of 1 beside it was dropped, and 17 answered
    ({"genomicAlleleShortForm": "17:g.7675088C>T", "referenceName": "1"},
     "genomicAlleleShortForm"),
    # a deletion is no insertion: was a silent exists: false
    ({"genomicAlleleShortForm": "17:g.7675088del", "variantType": "INS"}, "variantType"),
    # an insertion longer than any allele stored in bases was a silent exists: false
    ({"genomicAlleleShortForm": "17:g.7675088_7675089ins" + "ACGT" * 600},
     "genomicAlleleShortForm"),
])
async def test_malformed_gene_and_protein_queries_are_refused_by_name(world, parameters, field,
                                                                      beacon_schema):
    client, _ = world
    body = await _ask(client, parameters, status=400)
    assert beacon_schema(ERROR_SCHEMA, body) == []
    assert body["error"]["errorMessage"].startswith(f"{field}:")


FRAMESHIFTS = {1000: "p.Asn459TyrfsTer24", 2000: "p.Asn459TyrfsTer30",
               3000: "p.Asn459SerfsTer5", 4000: "p.Asn459fs", 5000: "p.Asn459Tyr"}


@pytest.mark.parametrize(("change", "found"), [
    ("N459Yfs*24", {1000}), ("N459YfsX24", {1000}), ("p.Asn459TyrfsTer24", {1000}),
    ("N459Yfs*30", {2000}), ("N459fs*24", {1000}),
    ("N459Yfs", {1000, 2000}), ("p.Asn459Tyrfs", {1000, 2000}),
    ("p.(Asn459Tyrfs)", {1000, 2000}), ("N459Sfs", {3000}),
    ("N459fs", {1000, 2000, 3000, 4000}), ("p.Asn459fs", {1000, 2000, 3000, 4000}),
    ("N459Y", {5000}),
])
async def test_a_frameshift_is_found_by_the_short_forms_hgvs_allows(pg_server_url, tmp_path,
                                                                   beacon_schema, change, found):
    """HGVS lets a frameshift leave out its stop (`p.Asn459Tyrfs`) and its new residue
    (`p.Asn459fs`): either finds the variants annotated with a frameshift there (and that
    residue), where before only the full form did. A form saying more than an annotation
    finds it not: `N459Yfs*30` is not `p.Asn459TyrfsTer24`, nor is `N459Yfs` SnpEff's short
    `p.Asn459fs`. A record still shows its change as annotated."""
    header = ["##fileformat=VCFv4.2", "##contig=<ID=17,length=83257441>",
              ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
               'Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|'
               'HGVSc|HGVSp">'), "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    records = [f"17\t{pos}\t.\tA\tAT\t.\tPASS\tAC=3;AN=10;CSQ=T|frameshift_variant|HIGH|TP53|"
               f"ENSG00000141510|Transcript|ENST00000269305.9|c.1375dup|"
               f"ENSP00000269305.4:{hgvs_p}" for pos, hgvs_p in FRAMESHIFTS.items()]
    vcf = write_vcf_text(tmp_path / "frameshifts.vcf", "\n".join([*header, *records]) + "\n")
    async with AsyncExitStack() as stack:
        client = await _node_of(stack, pg_server_url, vcf, "GDI-FI-FS-001", tmp_path)
        async with client.get("/api/g_variants", params={
                "aminoacidChange": change, "datasetIds": "GDI-FI-FS-001",
                "requestedGranularity": "record"}) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
    assert beacon_schema(RESPONSE_SCHEMAS["record"], body) == []
    [result_set] = body["response"]["resultSets"]
    records_found = {r["variation"]["location"]["interval"]["start"]["value"] + 1: r
                     for r in result_set["results"]}
    assert set(records_found) == found
    for pos, record in records_found.items():
        short = record["molecularAttributes"]["aminoacidChanges"]
        assert short == [min((f for f in protein_change_forms(FRAMESHIFTS[pos])
                              if not f.startswith("p.")), key=len)]


CSQ_INFO = ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
            'Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|'
            'HGVSc|HGVSp">')
ANN_INFO = ('##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: '
            "'Allele | Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | "
            "Feature_ID | Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length | "
            "CDS.pos / CDS.length | AA.pos / AA.length | Distance | ERRORS / WARNINGS / INFO' "
            '">')


async def _node_of(stack: AsyncExitStack, pg_server_url: str, vcf: Path, dataset: str,
                   path: Path) -> ClientSession:
    """A node of its own database holding `vcf` as `dataset` (PUBLIC, an open policy), served
    until `stack` closes: a client bound to it."""
    db_url = await stack.enter_async_context(node_database(pg_server_url))
    await ingest(db_url, IngestRequest(vcf, dataset, GRCH38, AccessLevel.PUBLIC, dataset,
                                       workers=1))
    settings = Settings(database_url=db_url, beacon_id="org.test.genes", data_dir=path / "node",
                        disclosure=OPEN_DISCLOSURE)
    client, _ = await serve_node(stack, settings)
    return client


async def _csq_node(stack: AsyncExitStack, pg_server_url: str, path: Path,
                    records: list[str], info: str = CSQ_INFO) -> ClientSession:
    """A node holding one annotated file of `records` (chromosome 17; VEP's CSQ unless `info`
    declares another), as GDI-FI-CSQ-001."""
    header = ["##fileformat=VCFv4.2", "##contig=<ID=17,length=83257441>", info,
              '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">',
              '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
              '##ALT=<ID=DUP,Description="Duplication">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    vcf = write_vcf_text(path / "annotated.vcf", "\n".join([*header, *records]) + "\n")
    return await _node_of(stack, pg_server_url, vcf, "GDI-FI-CSQ-001", path)


@pytest.mark.parametrize(("gene", "found"), [("NESTED1", 1), ("nested1", 1), ("HOST1", 0)])
async def test_a_gene_and_protein_change_must_be_one_annotations(pg_server_url, tmp_path, gene,
                                                                 found):
    """geneId with aminoacidChange asks for that change in that gene: a variant inside a
    gene nested in another's intron, missense in the one and intronic in the other, is not
    found by the host gene and the nested gene's change (it was: the gene and the change were
    each looked for among all the variant's annotations)."""
    record = ("17\t1000\t.\tA\tT\t.\tPASS\tAC=3;AN=10;CSQ="
              "T|missense_variant|MODERATE|NESTED1|ENSG00000000001|Transcript|ENST00000000001|"
              "c.1799T>A|ENSP00000000001.1:p.Val600Glu,"
              "T|intron_variant|MODIFIER|HOST1|ENSG00000000002|Transcript|ENST00000000002||")
    async with AsyncExitStack() as stack:
        client = await _csq_node(stack, pg_server_url, tmp_path, [record])
        for granularity in ("count", "record"):
            sets = _by_dataset(await _ask(client, {"geneId": gene, "aminoacidChange": "V600E"},
                                          granularity))
            assert sets["GDI-FI-CSQ-001"]["resultsCount"] == found, granularity
        sets = _by_dataset(await _ask(client, {"geneId": gene}, "count"))
        assert sets["GDI-FI-CSQ-001"]["resultsCount"] == 1


async def test_a_gene_finds_no_variant_annotated_only_as_near_it(pg_server_url, tmp_path):
    """A gene the table does not hold is looked up in the annotations, which also name the
    genes a variant lies up to 5 kb up- or downstream of (VEP's and SnpEff's default): such
    a variant is not in the gene, as a table gene's span leaves it out too. It was found."""
    entry = "T|{}|MODIFIER|NEARBY1|ENSG00000000003|Transcript|ENST00000000003||"
    records = [f"17\t{pos}\t.\tA\tT\t.\tPASS\tAC=3;AN=10;CSQ=" + ",".join(
                   entry.format(effect) for effect in effects)
               for pos, effects in ((1000, ["upstream_gene_variant"]),
                                    (2000, ["downstream_gene_variant"]),
                                    (3000, ["intron_variant"]),
                                    (4000, ["upstream_gene_variant", "5_prime_UTR_variant"]))]
    async with AsyncExitStack() as stack:
        client = await _csq_node(stack, pg_server_url, tmp_path, records)
        sets = _by_dataset(await _ask(client, {"geneId": "NEARBY1"}))
    found = {r["variation"]["location"]["interval"]["start"]["value"] + 1
             for r in sets["GDI-FI-CSQ-001"]["results"]}
    assert found == {3000, 4000}


@pytest.mark.parametrize("gene", ["BRCA1", "NBR1", "nbr1"])
async def test_a_fusion_is_found_by_either_of_its_genes(pg_server_url, tmp_path, gene):
    """SnpEff names the two genes an SV fuses in one Gene_Name, `BRCA1&NBR1`: the SV is
    found by either gene, the one in the table (its span) and the one known to the
    annotations alone. It was found by neither: the stored gene was `BRCA1&NBR1`."""
    record = ("17\t43100000\t.\tA\t<DUP>\t.\tPASS\tAC=1;AN=10;SVTYPE=DUP;END=43200000;ANN="
              "<DUP>|gene_fusion|HIGH|BRCA1&NBR1|ENSG00000012048&ENSG00000188554|gene_variant|"
              "ENSG00000012048|||n.1_2dup||||||")
    async with AsyncExitStack() as stack:
        client = await _csq_node(stack, pg_server_url, tmp_path, [record], ANN_INFO)
        sets = _by_dataset(await _ask(client, {"geneId": gene}))
    [result] = sets["GDI-FI-CSQ-001"]["results"]
    assert result["molecularAttributes"]["geneIds"] == ["BRCA1", "NBR1"]


@pytest.mark.parametrize(("parameters", "found"), [
    ({"geneId": "TP53"}, {7_675_088}), ({"geneId": "ENSG00000141510"}, {7_675_088}),
    ({"geneId": "TP53", "aminoacidChange": "R175H"}, {7_675_088}),
    ({"geneId": "ENSG00000147894"}, {7_600_000}),
    ({"geneId": "ENSG00000147894.17", "aminoacidChange": "G5S"}, {7_600_000}),
    ({"geneId": "HGNC:11998", "aminoacidChange": "R175H"}, {7_675_088}),
])
async def test_a_gene_is_found_by_the_annotations_gene_id(pg_server_url, tmp_path, parameters,
                                                          found):
    """VEP run without --symbol leaves SYMBOL empty and names the gene by its Ensembl id
    (Gene): TP53's missense in TP53's span was found by no geneId, where a file without
    annotations answers it by the span; and an Ensembl id the table does not hold finds
    the variants its annotations name by it (C9orf72's, here on a made-up position)."""
    records = [
        ("17\t7600000\t.\tG\tA\t.\tPASS\tAC=3;AN=10;CSQ=A|missense_variant|MODERATE|C9orf72|"
         "ENSG00000147894|Transcript|ENST00000379995|c.14G>A|ENSP00000369332.1:p.Gly5Ser"),
        ("17\t7675088\t.\tC\tT\t.\tPASS\tAC=3;AN=10;CSQ=T|missense_variant|MODERATE||"
         "ENSG00000141510|Transcript|ENST00000269305|c.524G>A|ENSP00000269305.4:p.Arg175His")]
    async with AsyncExitStack() as stack:
        client = await _csq_node(stack, pg_server_url, tmp_path, records)
        body = await _ask(client, parameters)
    results = _by_dataset(body)["GDI-FI-CSQ-001"]["results"]
    assert {r["variation"]["location"]["interval"]["start"]["value"] + 1
            for r in results} == found
    if found == {7_675_088}:
        assert results[0]["molecularAttributes"]["geneIds"] == ["ENSG00000141510"]


@pytest.mark.parametrize(("gene", "note"), [
    ("F5", "F5 is not in the node's gene table on GRCh38 (it is on GRCh37)"),
    ("MSH2", "MSH2 is not in the node's gene table on GRCh38:"),
    ("HGNC:7325", "HGNC:7325 is not in the node's gene table on GRCh38:"),
    ("TP53", None), ("LDLR", None),
])
async def test_a_gene_the_table_does_not_hold_on_the_assembly_says_so(pg_server_url, tmp_path,
                                                                     gene, note):
    """F5 is in the gene table on GRCh37 only (its GRCh38 span was not confirmed): asked of
    a GRCh38 dataset without annotations it was a silent `exists: false`, read as "no
    variant in F5" where the node never looked at F5's span. The answer's info now says, per
    assembly of the datasets asked, that the gene was looked up in the annotations alone
    and on which assembly the table holds it."""
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=17,length=83257441>",
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
             "17\t7675088\t.\tC\tT\t.\tPASS\tAC=3;AN=10"]
    vcf = write_vcf_text(tmp_path / "plain.vcf", "\n".join(lines) + "\n")
    async with AsyncExitStack() as stack:
        client = await _node_of(stack, pg_server_url, vcf, "GDI-FI-PLAIN-001", tmp_path)
        body = await _ask(client, {"geneId": gene}, "count")
        async with client.get("/api/individuals", params={"geneId": gene}) as response:
            individuals = await response.json()
    said = body.get("info", {}).get("geneId")
    if note is None:
        assert said is None
        return
    assert body["responseSummary"]["exists"] is False
    assert said["GRCh38"].startswith(note), said
    assert "annotations alone" in said["GRCh38"]
    assert individuals["info"]["geneId"] == said


CSQ_HGNC_INFO = CSQ_INFO.replace('HGVSp">', 'HGVSp|SYMBOL_SOURCE|HGNC_ID">')


@pytest.mark.parametrize(("gene", "found"), [
    ("HGNC:7325", {1000}), ("hgnc:7325", {1000}), ("MSH2", {1000}),
    ("HGNC:7128", {2000}), ("MLH3", {2000}), ("HGNC:1", set())])
async def test_an_hgnc_id_is_found_by_the_annotations_hgnc_ids(pg_server_url, tmp_path, gene,
                                                               found):
    """VEP run with --symbol names each gene's HGNC id (HGNC_ID): MSH2's, which the table
    does not hold, found nothing by it, where its symbol finds the variant. Older releases
    write the number alone (`7128`)."""
    entry = "T|missense_variant|MODERATE|{}|{}|Transcript|{}|c.1A>T|p.Met1Leu|HGNC|{}"
    records = [f"17\t{pos}\t.\tA\tT\t.\tPASS\tAC=3;AN=10;CSQ=" + entry.format(*names)
               for pos, names in (
                   (1000, ("MSH2", "ENSG00000095002", "ENST00000233146", "HGNC:7325")),
                   (2000, ("MLH3", "ENSG00000119684", "ENST00000355774", "7128")))]
    async with AsyncExitStack() as stack:
        client = await _csq_node(stack, pg_server_url, tmp_path, records, CSQ_HGNC_INFO)
        body = await _ask(client, {"geneId": gene, "aminoacidChange": "M1L"})
    results = _by_dataset(body)["GDI-FI-CSQ-001"]["results"]
    assert {r["variation"]["location"]["interval"]["start"]["value"] + 1
            for r in results} == found


SV_HEADER = ["##fileformat=VCFv4.2", "##contig=<ID=chr17,length=83257441>",
             "##contig=<ID=chrX,length=156040895>", "##contig=<ID=chrY,length=57227415>",
             '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">',
             '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
             '##ALT=<ID=DEL,Description="Deletion">', '##ALT=<ID=DUP,Description="Dup">',
             '##ALT=<ID=INS,Description="Insertion">',
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2"]
# Around the edges of TP53 (0-based [7661778, 7687550)), DMD (X, [31097676, 33339441)) and
# SRY (Y, [2786854, 2787699)): the bases either side of each end, deletions reaching in from
# before the gene, SVs over it, a multi-allelic record with a `*`, lower-case bases
EDGE_RECORDS = [
    "chr17\t7600000\t.\tA\t<DEL>\t.\tPASS\tSVTYPE=DEL;END=7700000\tGT\t0/1\t0/0",
    "chr17\t7661700\t.\tA\t<DEL>\t.\tPASS\tSVTYPE=DEL;END=7661778\tGT\t0/1\t0/0",
    "chr17\t7661701\t.\tA\t<DEL>\t.\tPASS\tSVTYPE=DEL;END=7661779\tGT\t0/1\t0/0",
    "chr17\t7661770\t.\tACGTACGTA\tA\t.\tPASS\t.\tGT\t0/1\t0/0",
    "chr17\t7661771\t.\tCGTACGTACG\tC\t.\tPASS\t.\tGT\t0/1\t0/0",
    "chr17\t7661778\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0",
    "chr17\t7661779\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/1",
    "chr17\t7661800\t.\tA\tC,T,*\t.\tPASS\t.\tGT\t1/2\t0/3",
    "chr17\t7661810\t.\tacg\ta\t.\tPASS\t.\tGT\t0/1\t0/0",
    "chr17\t7687550\t.\tG\tA\t.\tPASS\t.\tGT\t0/1\t0/0",
    "chr17\t7687551\t.\tG\tA\t.\tPASS\t.\tGT\t0/1\t0/0",
    "chr17\t7687560\t.\tA\t<DUP>\t.\tPASS\tSVTYPE=DUP;END=7687600\tGT\t0/1\t0/0",
    "chrX\t31000000\t.\tA\t<DUP>\t.\tPASS\tSVTYPE=DUP;END=31097677\tGT\t0/1\t0/0",
    "chrX\t31097676\t.\tA\tG\t.\tPASS\t.\tGT\t1\t0/1",
    "chrX\t31097677\t.\tC\tT\t.\tPASS\t.\tGT\t1\t0/0",
    "chrX\t33339441\t.\tG\tA\t.\tPASS\t.\tGT\t0/1\t0/0",
    "chrX\t33339442\t.\tG\tA\t.\tPASS\t.\tGT\t0/1\t0/0",
    "chrY\t2786854\t.\tG\tA\t.\tPASS\t.\tGT\t1\t.",
    "chrY\t2786855\t.\tG\tA\t.\tPASS\t.\tGT\t1\t.",
    "chrY\t2787699\t.\tT\tC\t.\tPASS\t.\tGT\t1\t.",
    "chrY\t2787700\t.\tT\tC\t.\tPASS\t.\tGT\t1\t.",
]


async def test_a_gene_without_annotations_finds_what_overlaps_its_span_by_the_oracle(
        pg_server_url, tmp_path):
    """In a file without annotations a table gene finds every ALT overlapping its span, its
    first and last bases included (0-based half-open, from Ensembl's 1-based ends), on X
    and Y too: checked against tests/vcf_oracle.py's reading of the file, with and without
    variantType."""
    vcf = write_vcf_text(tmp_path / "edges.vcf", "\n".join([*SV_HEADER, *EDGE_RECORDS]) + "\n")
    rows = expected_rows(vcf)
    async with AsyncExitStack() as stack:
        client = await _node_of(stack, pg_server_url, vcf, "GDI-FI-EDGE-001", tmp_path)
        for symbol in ("TP53", "DMD", "SRY"):
            found = gene(symbol, "GRCh38")
            assert found is not None
            for variant_type in (None, "DEL", "SNP", "DUP"):
                parameters = {"geneId": symbol.lower()}
                if variant_type:
                    parameters["variantType"] = variant_type
                sets = _by_dataset(await _ask(client, parameters))
                got = sorted((r["variation"]["location"]["interval"]["start"]["value"],
                              r["variation"]["location"]["interval"]["end"]["value"],
                              r["variation"]["variantType"])
                             for r in sets["GDI-FI-EDGE-001"]["results"])
                expected = sorted((row[1], row[2], row[5]) for row in rows
                                  if row[0] == found.chromosome and found.overlaps(row[1], row[2])
                                  and variant_type in (None, row[5]))
                assert got == expected, (symbol, variant_type)
                assert got or variant_type, symbol


@pytest.mark.parametrize(("parameters", "index"), [
    ({"aminoacidChange": "R175H"}, "protein_changes"), ({"geneId": "MSH2"}, "genes"),
    ({"geneId": "MSH2", "aminoacidChange": "M1L"}, "genes")])
async def test_a_protein_change_or_gene_is_looked_up_in_its_index(pg_server_url, tmp_path,
                                                                  parameters, index):
    """aminoacidChange alone (and geneId of a gene the table does not hold) reads no
    position: its match must be a lookup in the GIN index ingest builds for it (migration
    0006), not a read of every variant of the dataset. `x = ANY(protein_changes)` is not
    an operator a GIN index answers: every annotated variant of the dataset was read from
    the index (its `IS NOT NULL`) and the change looked for in each."""
    entry = "T|missense_variant|MODERATE|{}|ENSG{:011d}|Transcript|ENST1|c.1A>T|{}"
    records = [f"17\t{1000 + i}\t.\tA\tT\t.\tPASS\tAC=3;AN=10;CSQ=" + entry.format(
        "MSH2" if i == 7 else f"OTHER{i}", i, "p.Arg175His" if i == 3 else "p.Met1Leu")
        for i in range(40)]
    header = ["##fileformat=VCFv4.2", "##contig=<ID=17,length=83257441>", CSQ_INFO,
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    vcf = write_vcf_text(tmp_path / "indexed.vcf", "\n".join([*header, *records]) + "\n")
    async with node_database(pg_server_url) as db_url:
        await ingest(db_url, IngestRequest(vcf, "GDI-FI-GIN-001", GRCH38, AccessLevel.PUBLIC,
                                           "GDI-FI-GIN-001", workers=1))
        query = placed(to_query(parse_body({"query": {"requestParameters": parameters}})),
                       "GRCh38")
        key, args = store.count_query(query, ["GDI-FI-GIN-001"], None, 1, 1)
        conn = await asyncpg.connect(db_url)
        try:
            partition = await conn.fetchval(
                "SELECT partition_table FROM datasets WHERE id = 'GDI-FI-GIN-001'")
            async with conn.transaction():
                # the planner reads a table this small whole; what is asked is whether it can
                # do otherwise
                await conn.execute("SET LOCAL enable_seqscan = off")
                plan = "\n".join(r[0] for r in await conn.fetch(
                    "EXPLAIN " + store._lone_sql(key.conditions, key.join, key.aggregates,
                                                 key.bins), *args))
            alone = await store.count_batch(conn, key, [args])
            together = await store.count_batch(conn, key, [args, args])   # the batch's SQL
        finally:
            await conn.close()
    column = "changes" if index == "protein_changes" else "genes"
    assert f"Bitmap Index Scan on {partition}_{column}" in plan, plan
    assert f"Index Cond: ({index} " in plan, plan
    assert [found["GDI-FI-GIN-001"].count for found in (*alone, *together)] == [1, 1, 1]


@pytest.mark.parametrize(("hgvs", "found"), [
    ("17:g.101_102del", set()), ("17:g.101_102delCA", set()), ("17:g.301_302del", {300}),
    ("17:g.200_201insA", set()), ("17:g.400_401insA", {400}), ("17:g.401dupA", {400}),
    ("17:g.100_102delinsG", {100}), ("17:g.200delinsGA", {200}),
])
async def test_a_genomic_hgvs_indel_is_that_indel_not_a_delins_there(pg_server_url, tmp_path,
                                                                     hgvs, found):
    """HGVS states no padding base, which the query asks as `N`: a deletion `NCA>N` also
    matched the delins `TCA>G` stored there, and an insertion `N>NA` the delins `T>GA`,
    where the trimmed alleles of a sequence query (the same `N`) are held to their type. A
    del, ins or dup is now that type; a delins any."""
    records = ["17\t100\t.\tTCA\tG\t.\tPASS\tAC=3;AN=10", "17\t200\t.\tT\tGA\t.\tPASS\tAC=3;AN=10",
               "17\t300\t.\tTCA\tT\t.\tPASS\tAC=3;AN=10", "17\t400\t.\tT\tTA\t.\tPASS\tAC=3;AN=10"]
    async with AsyncExitStack() as stack:
        client = await _csq_node(stack, pg_server_url, tmp_path, records)
        sets = _by_dataset(await _ask(client, {"genomicAlleleShortForm": hgvs}))
    assert {r["variation"]["location"]["interval"]["start"]["value"] + 1
            for r in sets["GDI-FI-CSQ-001"]["results"]} == found


async def test_a_multi_allelic_sv_vep_annotated_as_one_is_found_by_its_gene(pg_server_url,
                                                                            tmp_path):
    """VEP annotates a record of symbolic ALTs as one structural variant, its Allele the
    variant's class (`copy_number_variation` for a CNV caller's `<DEL>,<DUP>`): no entry
    spelt either ALT, so neither kept any, and TP53 found neither in this annotated file."""
    lines = [CSQ_INFO, '##INFO=<ID=AC,Number=A,Type=Integer,Description="Count">',
             '##INFO=<ID=AN,Number=1,Type=Integer,Description="Number">',
             '##ALT=<ID=DEL,Description="Deletion">']
    info = "\n".join(lines)
    record = ("17\t7670000\t.\tA\t<DEL>,<DUP>\t.\tPASS\tSVTYPE=CNV;END=7680000;AC=1,2;AN=10;"
              "CSQ=copy_number_variation|transcript_variant|MODIFIER|TP53|ENSG00000141510|"
              "Transcript|ENST00000269305||")
    async with AsyncExitStack() as stack:
        client = await _csq_node(stack, pg_server_url, tmp_path, [record], info)
        sets = _by_dataset(await _ask(client, {"geneId": "TP53"}))
    results = sets["GDI-FI-CSQ-001"]["results"]
    assert sorted(r["variation"]["variantType"] for r in results) == ["DEL", "DUP"]
    assert all(r["molecularAttributes"]["geneIds"] == ["TP53"] for r in results)
