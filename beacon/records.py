"""A stored variant as a Beacon v2 genomicVariation record, with a VRS-style location and
the dataset's allele frequency. caseLevelData is never produced: no subject-level data leaves
the node through the Beacon."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from beacon import populations
from beacon.alleles import BREAKEND
from beacon.annotations import protein_change_forms
from beacon.assemblies import ASSEMBLIES, Assembly, find_assembly
from beacon.disclosure import Rules
from beacon.request import checked_bases, plain_number
from beacon.request_error import RequestError
from beacon.store import DatasetRow, VariantRow, variant_id

_FORM = "assembly:chromosome:start:ref:alt, or assembly:chromosome:start:ref:<SV>:end"


@dataclass(frozen=True, slots=True)
class VariantId:
    """The parts of a variantInternalId: an allele at a position, `end` for symbolic ones."""

    assembly: Assembly
    chromosome: str
    start: int
    ref: str
    alt: str
    end: int | None


def parse_variant_id(value: str) -> VariantId:
    """The parts of an id `store.variant_id` could have written; anything else is a
    RequestError naming variantInternalId. Each part is held to its request parameter's rules
    (beacon/request.py: assembly names and aliases, checked_bases, plain_number), since it
    reaches the same SQL, and the start more strictly: positions are plain ASCII numbers
    (int() would also take `+5`, `5_000` and other scripts' digits) on the chromosome (ingest
    stores nothing beyond its end), alleles are bases or a symbolic allele, never `%` or `_`
    (a LIKE pattern would read them). A symbolic allele may hold colons (`<DEL:ME:ALU>`), and
    so may a breakend (`G]17:198982]`: its mate), the one allele neither bases nor symbolic:
    an id the node gives it was refused as an allele with an end."""
    parts = value.split(":", 4)
    if len(parts) != 5:
        raise _refused(value, f"not of the form {_FORM}")
    assembly_id, name, start_text, ref, rest = parts
    assembly = find_assembly(assembly_id)
    if assembly is None:
        raise _refused(value, f"assembly {assembly_id!r} is not one of {', '.join(ASSEMBLIES)}")
    chromosome = assembly.normalise(name)
    if chromosome is None:
        raise _refused(value, f"{name!r} is not a chromosome of {assembly.id}")
    length = assembly.length(chromosome)
    start = plain_number(start_text)
    if start is None or start >= length:
        raise _refused(value, f"start {start_text!r} is not a position on chromosome "
                              f"{chromosome} (0 to {length - 1})")
    end: int | None = None
    breakend = False
    if rest.startswith("<"):
        alt, closed, end_text = rest.partition(">:")
        alt, end = alt + closed[:1], plain_number(end_text)
        if not closed or end is None or not start < end <= length:
            raise _refused(value, f"a symbolic allele is followed by its end, after the start "
                                  f"and at most {length}")
    elif BREAKEND.fullmatch(rest.upper()):
        # its colon is its mate's position, not an end; compared as the record writes it,
        # the mate named as the file names it (`]chr17:198983]T`)
        alt, breakend = rest, True
    elif ":" in rest:
        raise _refused(value, f"only a symbolic allele has an end ({_FORM})")
    else:
        alt = rest
    try:
        ref = checked_bases("referenceBases", ref, symbolic=False)
        if not breakend:
            alt = checked_bases("alternateBases", alt, symbolic=end is not None)
    except RequestError as exc:
        raise _refused(value, str(exc)) from None
    return VariantId(assembly, chromosome, start, ref, alt, end)


def _refused(value: str, reason: str) -> RequestError:
    return RequestError("variantInternalId", f"{value!r}: {reason}")


# Sequence Ontology ids of the consequence terms SnpEff and VEP write (both use SO names):
# Ensembl's calculated consequences, the closed set VEP writes (release 105 added the three
# splice terms), then the terms SnpEff writes beyond them. A term missing here is left out of
# molecularEffects: SnpEff's in-frame indels and VEP's NMD_transcript_variant were.
_SO_IDS = {
    "transcript_ablation": "SO:0001893", "splice_acceptor_variant": "SO:0001574",
    "splice_donor_variant": "SO:0001575", "stop_gained": "SO:0001587",
    "frameshift_variant": "SO:0001589", "stop_lost": "SO:0001578", "start_lost": "SO:0002012",
    "transcript_amplification": "SO:0001889", "feature_elongation": "SO:0001907",
    "feature_truncation": "SO:0001906",
    "inframe_insertion": "SO:0001821", "inframe_deletion": "SO:0001822",
    "missense_variant": "SO:0001583", "protein_altering_variant": "SO:0001818",
    "splice_donor_5th_base_variant": "SO:0001787", "splice_region_variant": "SO:0001630",
    "splice_donor_region_variant": "SO:0002170",
    "splice_polypyrimidine_tract_variant": "SO:0002169",
    "incomplete_terminal_codon_variant": "SO:0001626", "start_retained_variant": "SO:0002019",
    "stop_retained_variant": "SO:0001567", "synonymous_variant": "SO:0001819",
    "coding_sequence_variant": "SO:0001580", "mature_miRNA_variant": "SO:0001620",
    "5_prime_UTR_variant": "SO:0001623", "3_prime_UTR_variant": "SO:0001624",
    "non_coding_transcript_exon_variant": "SO:0001792", "intron_variant": "SO:0001627",
    "NMD_transcript_variant": "SO:0001621", "non_coding_transcript_variant": "SO:0001619",
    "coding_transcript_variant": "SO:0001968",
    "upstream_gene_variant": "SO:0001631", "downstream_gene_variant": "SO:0001632",
    "TFBS_ablation": "SO:0001895", "TFBS_amplification": "SO:0001892",
    "TF_binding_site_variant": "SO:0001782", "regulatory_region_ablation": "SO:0001894",
    "regulatory_region_amplification": "SO:0001891",
    "regulatory_region_variant": "SO:0001566", "intergenic_variant": "SO:0001628",
    "sequence_variant": "SO:0001060",
    # SnpEff's
    "conservative_inframe_insertion": "SO:0001823", "disruptive_inframe_insertion": "SO:0001824",
    "conservative_inframe_deletion": "SO:0001825", "disruptive_inframe_deletion": "SO:0001826",
    "exon_loss_variant": "SO:0001572", "gene_fusion": "SO:0001565",
    "bidirectional_gene_fusion": "SO:0002086", "feature_ablation": "SO:0001879",
    "rearranged_at_DNA_level": "SO:0000904", "initiator_codon_variant": "SO:0001582",
    "5_prime_UTR_premature_start_codon_gain_variant": "SO:0001988",
    "5_prime_UTR_truncation": "SO:0002013", "3_prime_UTR_truncation": "SO:0002015",
    "intragenic_variant": "SO:0002011", "intergenic_region": "SO:0000605",
    "conserved_intergenic_variant": "SO:0002017", "conserved_intron_variant": "SO:0002018",
    "exon_variant": "SO:0001791", "gene_variant": "SO:0001564",
    "transcript_variant": "SO:0001576", "structural_interaction_variant": "SO:0002093",
    "rare_amino_acid_variant": "SO:0002008", "duplication": "SO:1000035",
    "inversion": "SO:1000036",
}


def molecular_attributes(annotation: str) -> dict[str, Any]:
    """The Beacon record's molecularAttributes from an ALT's stored ANN/CSQ entries
    (beacon/vcf.py): its genes (both of a fusion's, which SnpEff joins with `&`; an entry
    naming no symbol, as VEP without --symbol writes it, by its gene id), consequences (SO
    terms; a name without a known SO id is left out, as the model asks for ontology terms)
    and protein changes in the short form."""
    entries = orjson.loads(annotation)
    genes = sorted({gene for e in entries if (named := e[0] or (e[5] if len(e) > 5 else None))
                    for gene in named.split("&") if gene})
    effects = sorted({c for e in entries for c in e[2] if c in _SO_IDS})
    changes = sorted({_short(e[4]) for e in entries if e[4]})
    attributes: dict[str, Any] = {}
    if genes:
        attributes["geneIds"] = genes
    if effects:
        attributes["molecularEffects"] = [{"id": _SO_IDS[c], "label": c} for c in effects]
    if changes:
        attributes["aminoacidChanges"] = changes
    return attributes


def _short(hgvs_p: str) -> str:
    """`p.Val600Glu` as researchers type it, `V600E`; a change not in that form as stored."""
    try:
        forms = protein_change_forms(hgvs_p)
    except ValueError:                    # p.? and the like, stored as written
        return hgvs_p
    bare = [f for f in forms if not f.startswith("p.")]
    return min(bare, key=len) if bare else hgvs_p


def genomic_variation(row: VariantRow, dataset: DatasetRow, base_url: str,
                      rules: Rules, population: str | None = None) -> dict[str, Any]:
    """A variant as the Beacon model's record; its frequencies per population (from the
    genotypes, or a sites-only file's INFO) as the caller's tier `rules` may see them, of
    `population` alone where the query names one (the GDI portal's population filters): a
    row the record lists anyway, so the filter tells nothing the rows do not."""
    assembly = ASSEMBLIES[dataset.assembly]
    record: dict[str, Any] = {
        "variantInternalId": variant_id(assembly.id, (row.chromosome, row.start_pos,
                                                      row.end_pos, row.ref, row.alt)),
        "variation": {
            "variantType": row.variant_type, "referenceBases": row.ref,
            # The schema admits bases only: a symbolic SV allele (<DEL>) or a breakend
            # (G]17:198982], which failed the schema) is "N" here, its type and span are in
            # variantType and location, its VCF spelling in the id.
            "alternateBases": "N" if row.alt.strip("ACGTN") else row.alt,
            "location": {"type": "SequenceLocation",
                         "sequence_id": f"refseq:{assembly.refseq[row.chromosome]}",
                         "interval": {"type": "SequenceInterval",
                                      "start": {"type": "Number", "value": row.start_pos},
                                      "end": {"type": "Number", "value": row.end_pos}}}},
    }
    if row.annotation and (attributes := molecular_attributes(row.annotation)):
        record["molecularAttributes"] = attributes
    if row.populations:
        kind = populations.ploidy(dataset.assembly, row.chromosome, row.start_pos)
        frequencies = populations.frequencies(
            populations.site_frequencies([populations.InPopulation(*p) for p in row.populations],
                                         kind), rules, hemizygous=kind == "X")
    elif row.info_populations:
        kind = populations.ploidy(dataset.assembly, row.chromosome, row.start_pos)
        frequencies = populations.frequencies(
            populations.from_info(dataset.id, row.ac, row.an, row.carriers,
                                  orjson.loads(row.info_populations), kind),
            rules, complete=False, hemizygous=kind == "X")
    elif row.ac is not None and row.an:
        # a file that gives AC and AN alone: rounded and lumped as the tier's counts are
        # (an anonymous caller was given them exact, where every other count is rounded to 5)
        frequencies = populations.frequencies(
            [populations.Frequency(dataset.id, row.an / 2, row.ac, row.an, None, None, None)],
            rules, complete=False)
    else:
        return record
    if population is not None:
        frequencies = [f for f in frequencies if f["population"] == population]
    if not frequencies:     # none the tier is given: the schema's list holds one at least
        return record
    record["frequencyInPopulations"] = [{
        "source": dataset.title, "sourceReference": f"{base_url}/api/datasets/{dataset.id}",
        "version": f"{dataset.id} v{dataset.version}", "frequencies": frequencies}]
    return record

