"""SnpEff ANN / VEP CSQ parsing, protein changes and genomic HGVS: the request side and the
ingest side must meet on the same stored values, on headers and records as the tools write
them, and on the synthetic files the generator writes."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pysam
import pytest

from beacon.annotations import (
    Annotation,
    AnnotationLayout,
    GenomicAllele,
    annotations,
    annotations_of,
    indexed_protein_changes,
    normalise_aminoacid_change,
    parse_genomic_hgvs,
    protein_change_forms,
    protein_change_pattern,
    vep_alleles,
)
from beacon.assemblies import GRCH38
from beacon.records import molecular_attributes
from beacon.vcf import ChunkStats, ReadOptions, VcfProblem, inspect_vcf, read_rows
from synthetic_data.annotate import KNOWN_CHANGES
from synthetic_data.federation import federation, write_federation
from synthetic_data.vcf import PlantedVariant, VcfSpec, write_vcf
from tests.conftest import write_vcf_text

# Header lines as the tools write them: SnpEff 4.3t (note the space before the closing quote)
# and VEP's default --vcf --symbol --hgvs output; gnomAD's adds ALLELE_NUM among others.
SNPEFF = ('##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: '
          "'Allele | Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | "
          "Feature_ID | Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length | "
          "CDS.pos / CDS.length | AA.pos / AA.length | Distance | ERRORS / WARNINGS / INFO' \">")
SNPEFF_LOF = ('##INFO=<ID=LOF,Number=.,Type=String,Description="Predicted loss of function '
              "effects for this variant. Format: 'Gene_Name | Gene_ID | "
              "Number_of_transcripts_in_gene | Percent_of_transcripts_affected'\">")
VEP = ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl '
       "VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|EXON|"
       "INTRON|HGVSc|HGVSp|cDNA_position|CDS_position|Protein_position|Amino_acids|Codons|"
       'Existing_variation|DISTANCE|STRAND|FLAGS|SYMBOL_SOURCE|HGNC_ID">')
VEP_ALLELE_NUM = ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations '
                  "from Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|"
                  "Feature|BIOTYPE|EXON|INTRON|HGVSc|HGVSp|cDNA_position|CDS_position|"
                  "Protein_position|Amino_acids|Codons|Existing_variation|ALLELE_NUM|DISTANCE|"
                  'STRAND|FLAGS|VARIANT_CLASS|MINIMISED|SYMBOL_SOURCE|HGNC_ID">')
VEP_AS_ANN = ('##INFO=<ID=ANN,Number=.,Type=String,Description="Consequence annotations from '
              "Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|"
              'BIOTYPE|EXON|INTRON|HGVSc|HGVSp">')


def _vcf(tmp_path: Path, info_lines: tuple[str, ...], records: tuple[str, ...]) -> Path:
    path = tmp_path / "annotated.vcf"
    header = ["##fileformat=VCFv4.2", "##contig=<ID=7,length=159345973>",
              "##contig=<ID=17,length=83257441>", *info_lines,
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    path.write_text("\n".join([*header, *records]) + "\n")
    return path


def _read(path: Path) -> tuple[AnnotationLayout | None, list[pysam.VariantRecord]]:
    with pysam.VariantFile(str(path)) as vcf:
        return AnnotationLayout.from_header(vcf.header), list(vcf)


def _snpeff_entry(allele: str, effect: str, gene: str, hgvs_c: str, hgvs_p: str,
                  feature_type: str = "transcript", feature: str = "ENST00000269305.4") -> str:
    columns = (allele, effect, "MODERATE", gene, "ENSG00000141510", feature_type, feature,
               "protein_coding", "7/11", hgvs_c, hgvs_p, "", "", "", "", "")
    return "|".join(columns)


def _vep_entry(allele: str, effect: str, hgvs_c: str, hgvs_p: str,
               allele_num: str | None = None) -> str:
    head = [allele, effect, "MODERATE", "TP53", "ENSG00000141510", "Transcript",
            "ENST00000269305", "protein_coding", "5/11", "", hgvs_c, hgvs_p, "", "", "", "",
            "", ""]
    tail = ["", "-1", "", "HGNC", "HGNC:11998"]
    return "|".join(head + ([allele_num, "", "-1", "", "SNV", "", "HGNC", "HGNC:11998"]
                            if allele_num is not None else tail))


def test_snpeff_header_as_snpeff_writes_it(tmp_path: Path) -> None:
    layout, _ = _read(_vcf(tmp_path, (SNPEFF, SNPEFF_LOF), ()))
    assert layout is not None and len(layout.fields) == 1
    field = layout.fields[0]
    assert (field.key, field.tool, len(field.columns)) == ("ANN", "SnpEff", 16)
    assert field.columns[:4] == ("Allele", "Annotation", "Annotation_Impact", "Gene_Name")
    assert (field.hgvs_c, field.hgvs_p, field.allele_num) == (9, 10, None)


def test_vep_header_reads_its_format_wherever_the_columns_are(tmp_path: Path) -> None:
    plain, _ = _read(_vcf(tmp_path, (VEP,), ()))
    assert plain is not None
    field = plain.fields[0]
    assert (field.tool, field.gene, field.transcript, field.hgvs_p) == ("VEP", 3, 6, 11)
    assert field.columns[-1] == "HGNC_ID" and field.allele_num is None
    numbered, _ = _read(_vcf(tmp_path, (VEP_ALLELE_NUM,), ()))
    assert numbered is not None and numbered.fields[0].allele_num == 18
    as_ann, _ = _read(_vcf(tmp_path, (VEP_AS_ANN,), ()))
    assert as_ann is not None and (as_ann.fields[0].key, as_ann.fields[0].tool) == ("ANN", "VEP")


def test_files_without_annotations_and_unreadable_descriptions(tmp_path: Path) -> None:
    none, _ = _read(_vcf(tmp_path, ('##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',),
                         ()))
    assert none is None
    with pytest.raises(ValueError, match="declares no annotation format"):
        _read(_vcf(tmp_path, ('##INFO=<ID=CSQ,Number=.,Type=String,Description="VEP">',), ()))


@pytest.mark.parametrize("declared", ["Number=.,Type=Integer", "Number=0,Type=Flag",
                                      "Number=1,Type=Float"])
def test_an_annotation_field_not_declared_text_is_refused(tmp_path: Path,
                                                          declared: str) -> None:
    """An annotation key declared as numbers or a flag has no `|`-separated entries to read:
    the header is refused naming the key, where its first record stopped the load with
    Python's "'int' object has no attribute 'split'" (or "'bool' object is not iterable")."""
    header = ("##fileformat=VCFv4.2", "##contig=<ID=17,length=83257441>",
              VEP.replace("Number=.,Type=String", declared),
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    path = write_vcf_text(tmp_path / "typed.vcf",
                          "\n".join([*header, "17\t7675088\t.\tC\tT\t.\tPASS\tCSQ=1"]) + "\n")
    with pytest.raises(VcfProblem, match="annotation header: INFO CSQ is declared Type="):
        inspect_vcf(path, GRCH38)


def test_snpeff_record_single_alt_owns_every_entry(tmp_path: Path) -> None:
    ann = ",".join([
        _snpeff_entry("C", "missense_variant", "TP53", "c.701A>G", "p.Tyr234Cys"),
        _snpeff_entry("C", "missense_variant&splice_region_variant", "TP53", "c.305A>G",
                      "p.Tyr102Cys", feature="ENST00000509690.1"),
        _snpeff_entry("C", "intergenic_region", "TP53-WRAP53", "n.7577580T>C", "",
                      feature_type="intergenic_region", feature="TP53-WRAP53"),
    ])
    layout, [record] = _read(_vcf(tmp_path, (SNPEFF,), (f"17\t7577580\t.\tT\tC\t.\t.\tANN={ann}",)))
    assert layout is not None
    [entries] = annotations(layout, record)
    assert entries[0] == Annotation("TP53", "ENSG00000141510", "ENST00000269305.4",
                                    ("missense_variant",), "MODERATE", "c.701A>G", "p.Tyr234Cys")
    assert entries[1].consequence == ("missense_variant", "splice_region_variant")
    assert (entries[2].gene, entries[2].transcript, entries[2].hgvs_p) == (None, None, None)


def test_snpeff_multiallelic_indels_are_matched_by_the_alt_as_written(tmp_path: Path) -> None:
    ann = ",".join([
        _snpeff_entry("A", "frameshift_variant", "TP53", "c.10_12del", "p.Arg4fs"),
        _snpeff_entry("ACGTT", "frameshift_variant", "TP53", "c.12_13insA", "p.Arg4fs"),
    ])
    layout, [record] = _read(_vcf(tmp_path, (SNPEFF,),
                                  (f"17\t7577580\t.\tACGT\tA,ACGTT,*\t.\t.\tANN={ann}",)))
    assert layout is not None
    deletion, insertion, star = annotations(layout, record)
    assert [a.hgvs_c for a in deletion] == ["c.10_12del"]
    assert [a.hgvs_c for a in insertion] == ["c.12_13insA"]
    assert star == ()


@pytest.mark.parametrize(("ref", "alts", "written"), [
    ("ACACG", "ACACACGCACA,ACACA", ("ACGCACA", "ACACA")),
    ("TTGTGTGTGTGTGG", "TTGTGTGTGTGTGTGT,TTGTGTGTGTGTGTGTGT", ("TGT", "TGTGT")),
    ("ACACG", "ACAC,ACACGAA", ("ACAC", "ACACGAA")),
])
def test_snpeff_multiallelic_complex_indels_are_matched_as_snpeff_abbreviates_them(
        tmp_path: Path, ref: str, alts: str, written: tuple[str, str]) -> None:
    """On a multi-allelic record SnpEff names an ALT that is no plain insertion or deletion
    by what follows the prefix it shares with REF (SnpEff issue #197's examples): matched
    by the ALT as written alone, such an ALT owned none of its entries, so its gene and
    protein change found nothing and its record had no molecularAttributes."""
    ann = ",".join([
        _snpeff_entry(written[0], "frameshift_variant", "GENEA", "c.10_12del", "p.Arg4fs"),
        _snpeff_entry(written[1], "missense_variant", "GENEB", "c.13A>G", "p.Lys5Glu"),
    ])
    layout, [record] = _read(_vcf(tmp_path, (SNPEFF,),
                                  (f"17\t7577580\t.\t{ref}\t{alts}\t.\t.\tANN={ann}",)))
    assert layout is not None
    first, second = annotations(layout, record)
    assert [a.gene for a in first] == ["GENEA"]
    assert [a.gene for a in second] == ["GENEB"]


def test_vep_alleles_drop_the_shared_padding_base_of_indel_sites() -> None:
    assert vep_alleles("ACGT", ["A", "ACGTT", "*"]) == ["-", "CGTT", "*"]
    assert vep_alleles("A", ["AT", "C"]) == ["AT", "C"]          # first bases differ
    assert vep_alleles("G", ["A", "T"]) == ["A", "T"]            # SNVs as written
    assert vep_alleles("AC", ["A"]) == ["-"]
    assert vep_alleles("A", ["AGG"]) == ["GG"]
    assert vep_alleles("CA", ["TG"]) == ["TG"]                   # MNP as written


def test_vep_multiallelic_by_trimmed_allele_minimal_spelling_and_allele_num(
        tmp_path: Path) -> None:
    csq = ",".join([_vep_entry("-", "frameshift_variant", "ENST00000269305.4:c.10_12del", ""),
                    _vep_entry("CGTT", "frameshift_variant", "ENST00000269305.4:c.12_13insA",
                               ""),
                    _vep_entry("*", "coding_sequence_variant", "", "")])
    layout, [record] = _read(_vcf(tmp_path, (VEP,),
                                  (f"17\t7577580\t.\tACGT\tA,ACGTT,*\t.\t.\tCSQ={csq}",)))
    assert layout is not None
    deletion, insertion, star = annotations(layout, record)
    assert [a.hgvs_c for a in deletion] == ["c.10_12del"]        # transcript prefix removed
    assert [a.hgvs_c for a in insertion] == ["c.12_13insA"]
    assert [a.consequence for a in star] == [("coding_sequence_variant",)]
    # --minimal: each ALT trimmed on its own, ACGT>ACGTT being a T inserted.
    minimal = ",".join([_vep_entry("-", "frameshift_variant", "c.1del", ""),
                        _vep_entry("T", "frameshift_variant", "c.2dup", "")])
    by_minimal = annotations_of(layout, "ACGT", ("A", "ACGTT"), {"CSQ": (minimal,)})
    assert [[a.hgvs_c for a in alt] for alt in by_minimal] == [["c.1del"], ["c.2dup"]]
    # ALLELE_NUM decides alone, even when the spellings would say otherwise.
    numbered, _ = _read(_vcf(tmp_path, (VEP_ALLELE_NUM,), ()))
    assert numbered is not None
    entries = (_vep_entry("T", "missense_variant", "c.1A>T", "p.Lys1Ter", "2"),
               _vep_entry("T", "missense_variant", "c.1A>G", "p.Lys1Glu", "1"))
    first, second = annotations_of(numbered, "A", ("G", "T"), {"CSQ": entries})
    assert [a.hgvs_p for a in first] == ["p.Lys1Glu"]
    assert [a.hgvs_p for a in second] == ["p.Lys1Ter"]


def test_vep_escapes_and_protein_prefix_are_undone(tmp_path: Path) -> None:
    csq = _vep_entry("T", "synonymous_variant", "ENST00000269305.4:c.165G>A",
                     "ENSP00000269305.4:p.Leu55%3D")
    layout, [record] = _read(_vcf(tmp_path, (VEP,), (f"17\t7579000\t.\tC\tT\t.\t.\tCSQ={csq}",)))
    assert layout is not None
    [[entry]] = annotations(layout, record)
    assert (entry.hgvs_c, entry.hgvs_p, entry.gene, entry.transcript) == (
        "c.165G>A", "p.Leu55=", "TP53", "ENST00000269305")


@pytest.mark.parametrize("escaped", ["TP%0053", "p.Arg175His%00"])
def test_an_escaped_nul_is_refused_at_its_line(tmp_path: Path, escaped: str) -> None:
    """A value whose %-escapes hide a NUL (`%00`) cannot be stored (PostgreSQL text holds
    none): the file is refused at the record's line, saying why, where the load failed at
    the COPY with the database's "invalid byte sequence for encoding UTF8: 0x00" alone."""
    csq = _vep_entry("T", "missense_variant", "c.524G>A", "p.Arg175His")
    csq = csq.replace("TP53" if escaped.startswith("TP") else "p.Arg175His", escaped)
    path = write_vcf_text(tmp_path / "escaped.vcf", "\n".join([
        "##fileformat=VCFv4.2", "##contig=<ID=17,length=83257441>", VEP,
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
        f"17\t7675088\t.\tC\tT\t.\tPASS\tCSQ={csq}"]) + "\n")
    options = ReadOptions(use_genotypes=False, samples_available=False)
    with pytest.raises(VcfProblem, match=r"escaped\.vcf\.gz:5: .*%00"):
        list(read_rows(inspect_vcf(path, GRCH38), None, options, ChunkStats()))


def test_unreadable_protein_changes_stay_as_written_and_joined_values_are_split() -> None:
    layout = _layout_from((VEP,))
    start_lost = _vep_entry("G", "start_lost", "c.1A>G", "ENSP00000269305.4:p.?")
    missense = _vep_entry("G", "missense_variant", "c.2T>G", "p.Met1Arg")
    [found] = annotations_of(layout, "A", ("G",), {"CSQ": f"{start_lost},{missense}"})
    assert [a.hgvs_p for a in found] == ["p.?", "p.Met1Arg"]


@pytest.mark.parametrize(("name", "genes"), [
    ("FGFR3&TACC3", ("FGFR3", "TACC3")), ("FGFR3&", ("FGFR3",)), ("&", ())])
def test_a_fusions_genes_are_each_named_and_never_empty(name: str, genes: tuple) -> None:
    """SnpEff joins the genes an SV fuses with `&`; a side left empty names no gene (it was
    stored, and shown in geneIds, as the gene '')."""
    entry = _snpeff_entry("<DUP>", "gene_fusion", name, "n.1_2dup", "", "gene_variant")
    [[found]] = annotations_of(_layout_from((SNPEFF,)), "A", ("<DUP>",), {"ANN": (entry,)})
    assert found.genes == genes
    detail = json.dumps([[found.gene, None, list(found.consequence), None, None]])
    assert molecular_attributes(detail).get("geneIds", []) == list(genes)


def test_gnomad_vep_key_is_read(tmp_path: Path) -> None:
    layout, _ = _read(_vcf(tmp_path, (VEP.replace("ID=CSQ", "ID=vep"),), ()))
    assert layout is not None and (layout.fields[0].key, layout.fields[0].tool) == (
        "vep", "VEP")


def test_symbolic_alt_owns_vep_class_named_entries() -> None:
    layout = _layout_from((VEP,))
    entry = _vep_entry("deletion", "transcript_ablation", "", "")
    [found] = annotations_of(layout, "T", ("<DEL>",), {"CSQ": (entry,)})
    assert [a.consequence for a in found] == [("transcript_ablation",)]


def _layout_from(lines: tuple[str, ...]) -> AnnotationLayout:
    header = pysam.VariantHeader()
    for line in lines:
        header.add_line(line)
    layout = AnnotationLayout.from_header(header)
    assert layout is not None
    return layout


@pytest.mark.parametrize(("written", "canonical", "short"), [
    ("V600E", "p.Val600Glu", "V600E"),
    ("p.V600E", "p.Val600Glu", "V600E"),
    ("Val600Glu", "p.Val600Glu", "V600E"),
    ("p.Val600Glu", "p.Val600Glu", "V600E"),
    ("p.(Val600Glu)", "p.Val600Glu", "V600E"),
    ("NP_004324.2:p.Val600Glu", "p.Val600Glu", "V600E"),
    ("p.R213*", "p.Arg213Ter", "R213*"),
    ("R213X", "p.Arg213Ter", "R213*"),
    ("p.Arg213Ter", "p.Arg213Ter", "R213*"),
    ("p.Leu55=", "p.Leu55=", "L55="),
    ("p.Leu55%3D", "p.Leu55=", "L55="),
    ("L55=", "p.Leu55=", "L55="),
    ("p.Val119Val", "p.Val119=", "V119="),
    ("p.Arg213GlyfsTer5", "p.Arg213GlyfsTer5", "R213Gfs*5"),
    ("R213Gfs*5", "p.Arg213GlyfsTer5", "R213Gfs*5"),
    ("p.His650fs", "p.His650fs", "H650fs"),
    ("p.Lys12_Val14del", "p.Lys12_Val14del", "K12_V14del"),
    ("p.Gly4dup", "p.Gly4dup", "G4dup"),
    ("p.Cys28delinsTrpVal", "p.Cys28delinsTrpVal", "C28delinsWV"),
    ("p.Lys2_Leu3insGlnSer", "p.Lys2_Leu3insGlnSer", "K2_L3insQS"),
    ("p.*110Qext*17", "p.Ter110GlnextTer17", "*110Qext*17"),
    ("p.Met1?", "p.Met1?", "M1?"),
])
def test_protein_changes_normalise_both_ways(written: str, canonical: str, short: str) -> None:
    assert normalise_aminoacid_change(written) == canonical
    forms = protein_change_forms(written)
    assert forms == {canonical, canonical[2:], f"p.{short}", short}
    assert all(normalise_aminoacid_change(form) == canonical for form in forms)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "names no protein change"),
    ("v600e", "upper-case one-letter"),
    ("p.Val600Glux", "three-letter"),
    ("p.Val600", "not a protein change"),
    ("600E", "not a protein change"),
    ("p.?", "not a protein change"),
    ("V٦٠٠E", "cannot read"),                       # was p.Val٦٠٠Glu
    ("BRAF", "cannot read"),
    # positions in ASCII digits (`\d` read other scripts', a change no annotation holds)
    ("p.Val\uff16\uff10\uff10Glu", "cannot read"),
])
def test_protein_changes_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_aminoacid_change(text)


STORED_CHANGES = ("p.Asn459TyrfsTer24", "p.Asn459TyrfsTer30", "p.Asn459TyrfsTer?",
                  "p.Asn459SerfsTer5", "p.Asn459fs", "p.Asn4590TyrfsTer24", "p.Asn459Tyr",
                  "p.Val600Glu", "p.Val6000Glu", "p.Leu55=", "p.Met1?", "p.Lys601_Glu602del")


@pytest.mark.parametrize("query", ["N459Yfs*24", "N459Yfs", "N459fs", "N459fs*24",
                                   "N459YfsX?", "N459Y", "V600E", "L55=", "M1?",
                                   "K601_E602del"])
def test_a_changes_pattern_finds_what_its_index_entry_does(query: str) -> None:
    """geneId with aminoacidChange matches each annotation entry's change by a pattern: it
    must find exactly the stored changes the aminoacidChange index files under the query."""
    change = normalise_aminoacid_change(query)
    pattern = re.compile(protein_change_pattern(change))
    assert {s for s in STORED_CHANGES if pattern.fullmatch(s)} == {
        s for s in STORED_CHANGES if change in indexed_protein_changes(s)}


@pytest.mark.parametrize(("text", "expected"), [
    ("NC_000017.11:g.7674858C>A", GenomicAllele("GRCh38", "17", 7_674_857, "C", "A")),
    ("refseq:NC_000017.10:g.7578406C>T", GenomicAllele("GRCh37", "17", 7_578_405, "C", "T")),
    ("17:g.7674858C>A", GenomicAllele(None, "17", 7_674_857, "C", "A")),
    ("chr17:g.7674858C>A", GenomicAllele(None, "17", 7_674_857, "C", "A")),
    ("NC_012920.1:m.8993T>G", GenomicAllele(None, "MT", 8_992, "T", "G")),
    ("17:g.123_125del", GenomicAllele(None, "17", 121, "NNNN", "N", "DEL")),
    ("17:g.123del", GenomicAllele(None, "17", 121, "NN", "N", "DEL")),
    ("17:g.123delC", GenomicAllele(None, "17", 121, "NC", "N", "DEL")),
    ("17:g.123_124insACG", GenomicAllele(None, "17", 122, "N", "NACG", "INS")),
    ("17:g.123_125delinsAT", GenomicAllele(None, "17", 122, "NNN", "AT")),
    ("17:g.123_125dupCTG", GenomicAllele(None, "17", 121, "N", "NCTG", "INS")),
])
def test_genomic_hgvs_becomes_the_vcf_style_allele(text: str, expected: GenomicAllele) -> None:
    assert parse_genomic_hgvs(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("NM_000546.6:c.524G>A", "needs the transcript's alignment"),
    ("NC_000017.12:g.7674858C>A", "not a chromosome or RefSeq chromosome accession"),
    ("17:g.(?_123)_(125_?)del", "uncertain positions"),
    ("17:g.123_125dup", "needs its bases"),
    ("17:g.123_127insA", "flanking positions"),
    ("17:g.999999999C>A", "outside chromosome 17"),
    # int() refused 5,000 digits advising sys.set_int_max_str_digits(), which the 400 repeated
    ("17:g." + "1" * 5000 + "C>A", "past the end of every chromosome"),
    ("17:g.١٢٣C>A", "is not a substitution"),       # Arabic-Indic digits were read as 123
    ("17:g.1del", "no padding base"),
    ("17:g.5C>C", "changes nothing"),
    ("17:g.5_6delA", "1 bases given for 2 positions"),
    ("17:m.5C>A", "mitochondrial"),
    ("7674858C>A", "not a genomic HGVS expression"),
    # a span no allele in bases is stored with: refused before its Ns are spelt out (2e8
    # of them, in a request, took the node's memory; past the chromosome, a MemoryError)
    ("17:g.100_3000099del", "longer than the node stores"),
    ("17:g.100_3000099delinsA", "longer than the node stores"),
    ("17:g.100_9999999999del", "longer than the node stores"),
    ("17:g.100_99999999999del", "past the end of every chromosome"),
    # inserted bases no allele in bases is stored with (REF and ALT together, as ingest
    # refuses longer ones): answered exists: false, where a longer deletion was this 400
    ("17:g.100_101ins" + "A" * 2000, "longer than the node stores"),
    ("17:g.100delins" + "A" * 2000, "longer than the node stores"),
    # positions are ASCII digits, as every number of a query (`\d` read other scripts')
    ("17:g.\u0661\u0660\u0660C>A", "not a substitution"),
    ("17:g.\uff11\uff10\uff10_\uff11\uff10\uff12del", "not a substitution"),
])
def test_genomic_hgvs_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_genomic_hgvs(text)


@pytest.mark.parametrize("style", ["ANN", "CSQ"])
def test_generated_annotations_parse_back_from_pysam_records(tmp_path: Path, style: str) -> None:
    r175h = PlantedVariant("17", 7_675_088, "C", ("T",))
    multi = PlantedVariant("17", 7_670_000, "ACGT", ("A", "ACGTT", "*"))
    spec = VcfSpec(tmp_path / f"{style}.vcf.gz", records=3000, samples=3, seed=11,
                   annotation=style, genes_share=0.3, planted=(r175h, multi))
    write_vcf(spec)
    again = tmp_path / f"again-{style}.vcf.gz"
    write_vcf(VcfSpec(again, records=3000, samples=3, seed=11, annotation=style,
                      genes_share=0.3, planted=(r175h, multi)))
    assert again.read_bytes() == spec.path.read_bytes()
    with pysam.VariantFile(str(spec.path)) as vcf:
        layout = AnnotationLayout.from_header(vcf.header)
        assert layout is not None and layout.fields[0].tool == (
            "SnpEff" if style == "ANN" else "VEP")
        annotated = 0
        for record in vcf:
            per_alt = annotations(layout, record)
            assert len(per_alt) == (len(record.alts) if style in record.info else 0)
            if per_alt:
                annotated += 1
                for alt, found in zip(record.alts, per_alt, strict=True):
                    assert len(found) == (0 if alt == "*" else 1), (record.pos, alt)
            if record.pos == r175h.pos:
                assert per_alt == [(Annotation("TP53", "ENSG00000141510", "ENST00000269305",
                                               ("missense_variant",), "MODERATE", "c.524G>A",
                                               "p.Arg175His",
                                               "HGNC:11998" if style == "CSQ" else None),)]
            if record.pos == multi.pos:
                deletion, insertion, star = per_alt
                assert deletion[0].consequence == ("inframe_deletion",)      # 3 bases
                assert insertion[0].consequence == ("frameshift_variant",)   # 1 base
                assert star == ()
    assert annotated > 3000 * 0.3 * 0.5


def test_genes_share_puts_records_into_genes_and_off_keeps_files_unchanged(
        tmp_path: Path) -> None:
    plain, zero = tmp_path / "plain.vcf.gz", tmp_path / "zero.vcf.gz"
    write_vcf(VcfSpec(plain, records=2000, samples=2, seed=4))
    write_vcf(VcfSpec(zero, records=2000, samples=2, seed=4, genes_share=0.0))
    assert plain.read_bytes() == zero.read_bytes()
    shared = tmp_path / "shared.vcf.gz"
    write_vcf(VcfSpec(shared, records=2000, samples=2, seed=4, genes_share=0.5,
                      chromosomes=("17",)))
    tp53 = (7_661_779, 7_687_550)
    with pysam.VariantFile(str(shared)) as vcf:
        positions = [r.pos for r in vcf]
    assert len(positions) == 2000 == len(set(positions))
    assert sum(tp53[0] <= p <= tp53[1] for p in positions) > 50
    with pytest.raises(ValueError, match="genes_share"):
        write_vcf(VcfSpec(tmp_path / "bad.vcf.gz", genes_share=1.0))


def test_federation_mixes_ann_csq_and_none_with_known_changes(tmp_path: Path) -> None:
    datasets = federation(tmp_path)
    assert {d.spec.annotation for d in datasets} == {"ANN", "CSQ", None}
    assert all(d.spec.genes_share > 0 for d in datasets)
    known38 = {(k.chromosome, k.pos) for k in KNOWN_CHANGES if k.assembly_id == "GRCh38"}
    for dataset in datasets:
        planted = {(p.chromosome, p.pos) for p in dataset.spec.planted}
        assert planted == {(k.chromosome, k.pos) for k in KNOWN_CHANGES
                           if k.assembly_id == dataset.spec.assembly}
    assert any(d.spec.assembly == "GRCh37" and d.spec.annotation for d in datasets)
    assert known38
    written = write_federation(tmp_path / "fi", records=300, samples=2, seed=3,
                               countries=("FI",))
    found = {}
    for dataset, _ in written:
        with pysam.VariantFile(str(dataset.spec.path)) as vcf:
            layout = AnnotationLayout.from_header(vcf.header)
            for record in vcf.fetch(vcf.header.contigs.keys()[16], 7_675_087, 7_675_088):
                found[dataset.spec.annotation] = (
                    annotations(layout, record)[0] if layout else None)
    assert found["ANN"][0].hgvs_p == found["CSQ"][0].hgvs_p == "p.Arg175His"
    assert found[None] is None


@pytest.mark.parametrize(("consequences", "effects"), [
    # SnpEff's own SO terms for in-frame indels, lost exons and fusions
    (["conservative_inframe_deletion"], {"SO:0001825"}),
    (["disruptive_inframe_insertion"], {"SO:0001824"}),
    (["exon_loss_variant", "splice_region_variant"], {"SO:0001572", "SO:0001630"}),
    (["gene_fusion"], {"SO:0001565"}),
    # VEP's, from Ensembl's calculated consequences (the splice terms of release 105)
    (["splice_donor_5th_base_variant", "intron_variant"], {"SO:0001787", "SO:0001627"}),
    (["missense_variant", "NMD_transcript_variant"], {"SO:0001583", "SO:0001621"}),
    (["non_coding_transcript_variant"], {"SO:0001619"}),
])
def test_the_tools_so_terms_are_each_a_molecular_effect(consequences: list[str],
                                                        effects: set[str]) -> None:
    """Every consequence the two tools write is a Sequence Ontology term: a record's
    molecularEffects held the 23 terms of a short list alone, and an in-frame deletion
    SnpEff calls `conservative_inframe_deletion` showed none."""
    detail = json.dumps([["TP53", "ENST00000269305", consequences, None, None]])
    found = molecular_attributes(detail)["molecularEffects"]
    assert {e["id"] for e in found} == effects
    assert {e["label"] for e in found} == set(consequences)
