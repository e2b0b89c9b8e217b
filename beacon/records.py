"""A stored variant as a Beacon v2 genomicVariation record, with a VRS-style location and
the dataset's allele frequency. caseLevelData is never produced: no subject-level data leaves
the node through the Beacon."""
from __future__ import annotations

from typing import Any

from beacon.assemblies import ASSEMBLIES, Assembly
from beacon.store import DatasetRow, VariantRow


def variant_id(assembly: Assembly, row: VariantRow) -> str:
    """`assembly:chromosome:start:ref:alt` (0-based start); symbolic alleles add `:end`, since
    two SVs of one type at one position differ only there."""
    base = f"{assembly.id}:{row.chromosome}:{row.start_pos}:{row.ref}:{row.alt}"
    return f"{base}:{row.end_pos}" if row.alt.startswith("<") else base


def parse_variant_id(value: str) -> tuple[Assembly, str, int, str, str, int | None] | None:
    """The parts of a variantInternalId, or None if it is not one of ours."""
    parts = value.split(":")
    if len(parts) not in (5, 6) or parts[0] not in ASSEMBLIES:
        return None
    assembly = ASSEMBLIES[parts[0]]
    chromosome = assembly.normalise(parts[1])
    try:
        start = int(parts[2])
        end = int(parts[5]) if len(parts) == 6 else None
    except ValueError:
        return None
    if chromosome is None or start < 0:
        return None
    return assembly, chromosome, start, parts[3], parts[4], end


def genomic_variation(row: VariantRow, dataset: DatasetRow, base_url: str) -> dict[str, Any]:
    assembly = ASSEMBLIES[dataset.assembly]
    record: dict[str, Any] = {
        "variantInternalId": variant_id(assembly, row),
        "variation": {
            "variantType": row.variant_type, "referenceBases": row.ref,
            # The schema admits bases only: a symbolic SV allele (<DEL>) is "N" here, its type
            # and span are in variantType and location, its VCF spelling in the id.
            "alternateBases": "N" if row.alt.startswith("<") else row.alt,
            "location": {"type": "SequenceLocation",
                         "sequence_id": f"refseq:{assembly.refseq[row.chromosome]}",
                         "interval": {"type": "SequenceInterval",
                                      "start": {"type": "Number", "value": row.start_pos},
                                      "end": {"type": "Number", "value": row.end_pos}}}},
    }
    if row.af is not None:
        record["frequencyInPopulations"] = [{
            "source": dataset.title, "sourceReference": f"{base_url}/api/datasets/{dataset.id}",
            "version": f"{dataset.id} v{dataset.version}",
            "frequencies": [{"population": dataset.id, "alleleFrequency": row.af,
                             "alleleCount": row.ac, "alleleNumber": row.an}]}]
    return record

