"""A stored variant as a Beacon v2 genomicVariation record, with a VRS-style location and
the dataset's allele frequency. caseLevelData is never produced: no subject-level data leaves
the node through the Beacon."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from beacon import populations
from beacon.assemblies import ASSEMBLIES, Assembly, find_assembly
from beacon.disclosure import Rules
from beacon.request import RequestError, checked_bases, plain_number
from beacon.store import DatasetRow, VariantRow

_FORM = "assembly:chromosome:start:ref:alt, or assembly:chromosome:start:ref:<SV>:end"


def variant_id(assembly: Assembly, row: VariantRow) -> str:
    """`assembly:chromosome:start:ref:alt` (0-based start); symbolic alleles add `:end`, since
    two SVs of one type at one position differ only there."""
    base = f"{assembly.id}:{row.chromosome}:{row.start_pos}:{row.ref}:{row.alt}"
    return f"{base}:{row.end_pos}" if row.alt.startswith("<") else base


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
    """The parts of an id `variant_id` could have written; anything else is a RequestError
    naming variantInternalId. Each part is held to its request parameter's rules
    (beacon/request.py: assembly names and aliases, checked_bases, plain_number), since it
    reaches the same SQL, and the start more strictly: positions are plain ASCII numbers
    (int() would also take `+5`, `5_000` and other scripts' digits) on the chromosome (ingest
    stores nothing beyond its end), alleles are bases or a symbolic allele, never `%` or `_`
    (a LIKE pattern would read them). A symbolic allele may hold colons (`<DEL:ME:ALU>`)."""
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
    if rest.startswith("<"):
        alt, closed, end_text = rest.partition(">:")
        alt, end = alt + closed[:1], plain_number(end_text)
        if not closed or end is None or not start < end <= length:
            raise _refused(value, f"a symbolic allele is followed by its end, after the start "
                                  f"and at most {length}")
    elif ":" in rest:
        raise _refused(value, f"only a symbolic allele has an end ({_FORM})")
    else:
        alt = rest
    try:
        ref = checked_bases("referenceBases", ref, symbolic=False)
        alt = checked_bases("alternateBases", alt, symbolic=end is not None)
    except RequestError as exc:
        raise _refused(value, str(exc)) from None
    return VariantId(assembly, chromosome, start, ref, alt, end)


def _refused(value: str, reason: str) -> RequestError:
    return RequestError("variantInternalId", f"{value!r}: {reason}")


def genomic_variation(row: VariantRow, dataset: DatasetRow, base_url: str,
                      rules: Rules | None = None) -> dict[str, Any]:
    """A variant as the Beacon model's record; its frequencies per population (when the
    dataset has genotypes) as the caller's tier `rules` may see them."""
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
    if row.populations:
        frequencies = populations.frequencies(
            [populations.frequency(populations.InPopulation(*p), dataset.assembly,
                                   row.chromosome, row.start_pos) for p in row.populations],
            rules or Rules())
    elif row.info_populations:
        frequencies = populations.frequencies(
            populations.from_info(orjson.loads(row.info_populations)), rules or Rules())
    elif row.af is not None:
        frequencies = [{"population": dataset.id, "alleleFrequency": row.af,
                        "alleleCount": row.ac, "alleleNumber": row.an}]
    else:
        return record
    record["frequencyInPopulations"] = [{
        "source": dataset.title, "sourceReference": f"{base_url}/api/datasets/{dataset.id}",
        "version": f"{dataset.id} v{dataset.version}", "frequencies": frequencies}]
    return record

