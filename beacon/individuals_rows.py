"""A dataset's individuals as ingest writes them: one per VCF sample, with what its
phenopacket (beacon/phenopackets.py), when the operator gives them, says of it. Each
individual's ontology terms are stored with all their ancestors (beacon/ontology.py), so a
filter with descendant terms is answered without an ontology at query time
(beacon/individuals.py).

Apart from the answers' module because ingest needs only this: that one loads the query
model, the disclosure accounting and numpy, a fifth of a second at the start of every
`gdi-node ingest`.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson
from asyncpg import BitString

from beacon.durations import AGE, ONSET, duration_days
from beacon.individuals_store import IndividualsLoad
from beacon.ontology import ancestors, label, primary
from beacon.phenopackets import (
    SEX_TERMS,
    Individual,
    Measurement,
    PhenopacketProblem,
    beacon_record,
)
from beacon.populations import population_rows


def _terms(individual: Individual) -> dict[str, str | None]:
    """Every ontology term the individual holds, with the label its phenopacket gives; an
    HPO term written with a retired id is held under its term's (beacon/ontology.py)."""
    held = [SEX_TERMS[individual.sex], *individual.features, *individual.treatments,
            *individual.procedures, *individual.histology]
    for disease in individual.diseases:
        held += [disease.term, *disease.stages]
    found: dict[str, str | None] = {}
    for term in held:
        held_as = primary(term.id)
        found[held_as] = found.get(held_as) or term.label
    return found


def _values(individual: Individual) -> list[tuple[str, float]]:
    values = [(ONSET, duration_days(d.onset)) for d in individual.diseases if d.onset]
    if individual.age:
        values.append((AGE, duration_days(individual.age)))
    values += [(_assay(m), m.value) for m in individual.measurements]
    return values


def _assay(measurement: Measurement) -> str:
    """The id a measurement's assay is held and filtered under, as a term's is (`primary`):
    held as written, `ncit:C16358` (as bioregistry writes CURIEs) was filtered only as
    written, and an exact filter on `NCIT:C16358` missed it (found by a review,
    2026-12-05)."""
    return primary(measurement.assay.id)


def individuals_load(samples: Sequence[str], individuals: list[Individual] | None,
                     source: Path | None, dataset_id: str) -> IndividualsLoad:
    """The rows of a dataset's individuals: one per VCF sample, with its phenopacket's
    content when `individuals` were given. PhenopacketProblem for a phenopacket of no sample
    of the VCF, or (phenopackets given) a sample without one: either means the two files do
    not belong together."""
    by_id = {i.id: i for i in individuals or []}
    if individuals is not None:
        names = set(samples)
        for individual in individuals:
            if individual.id not in names:
                raise PhenopacketProblem(source or "", individual.record,
                                         f"subject {individual.id!r} is not a sample of the VCF"
                                         + _near_sample(individual.id, samples, source))
        missing = [s for s in samples if s not in by_id]
        if missing:
            raise PhenopacketProblem(source or "", None,
                                     f"{len(missing)} sample(s) of the VCF have no phenopacket "
                                     f"(first: {missing[0]!r}); give one per sample")
    rows, values, labels = [], [], {}
    held: Counter[str] = Counter()
    valued: Counter[str] = Counter()
    either: Counter[str] = Counter()            # held as a term, or measured: `found`
    units: dict[str, tuple[str | None, int]] = {}
    members = _Members(len(samples))
    for index, sample in enumerate(samples):
        individual = by_id.get(sample) or Individual(id=sample, record=0)
        _one_unit(individual, units, source)
        terms = _terms(individual)
        # an ontology filter on a measured assay finds those measured (the Beacon model's
        # `measures[].assayCode` is a term they have); filtering_terms lists it as the
        # alphanumeric field it is (`held` below counts terms only)
        found = set(terms) | {_assay(m) for m in individual.measurements}
        closure = set(found)
        for term in found:
            closure |= ancestors(term)
        members.add(index, found, closure)
        rows.append((index, sample, individual.sex, individual.country_of_birth, sorted(found),
                     sorted(closure), orjson.dumps(beacon_record(individual)).decode()))
        own = _values(individual)
        values += [(index, name, value) for name, value in own]
        held.update(terms.keys())
        valued.update({name for name, _ in own})
        either.update(found)
        for term, given in [*terms.items(),
                            *((_assay(m), m.assay.label) for m in individual.measurements)]:
            labels[term] = labels.get(term) or given
    # one row a term (the table's key; a second row broke the load's COPY, found by
    # fuzzing), whose count is whom an ontology filter on its id finds (disclosure's
    # term_listed judges it): for a measured assay that some hold as a term too, those
    # measured and those holding it. Counted by its holders alone, one holder (1 to k - 1)
    # took a field 40 people have values for off the list, which told that someone holds
    # it as a term (found by a review, 2026-12-06). Its type is the larger group's: beside
    # a group that reaches the floor, whether the other is empty or under it changes
    # neither the listing nor the type.
    listed = [(term, labels[term] or label(term),
               "ontology" if n >= valued[term] else "alphanumeric",
               either[term]) for term, n in held.items()]
    # an assay with the label a phenopacket gives it (the node's tables label no LOINC
    # term: filtering_terms listed none)
    listed += [(name, None if name in (AGE, ONSET) else labels.get(name) or label(name),
                "alphanumeric", n) for name, n in valued.items() if name not in held]
    groups = population_rows([(r[0], r[2], r[3]) for r in rows], len(samples), dataset_id)
    populations = [(label, n, *rest) for n, (label, *rest) in enumerate(groups)]
    return IndividualsLoad(rows, values, sorted(listed), populations if samples else [],
                           members.rows())


def _one_unit(individual: Individual, units: dict[str, tuple[str | None, int]],
              source: Path | None) -> None:
    """PhenopacketProblem for a measurement whose assay an earlier one gave in another unit
    (or one without a unit beside one with): a filter compares a dataset's values of an
    assay as numbers, so body heights of 180 cm and 1.85 m were one taller than 170 and one
    shorter than 10 (found by a review, 2026-12-05). `units`: each assay's first unit and
    the record that gave it, filled here."""
    for measurement in individual.measurements:
        unit = None if measurement.unit is None else measurement.unit.id
        first = units.setdefault(_assay(measurement), (unit, individual.record))
        if first[0] != unit:
            def said(given: str | None) -> str:
                return "without a unit" if given is None else f"in {given}"
            raise PhenopacketProblem(
                source or "", individual.record,
                f"measurements: {measurement.assay.id} is given {said(unit)}, where record "
                f"{first[1]} gives it {said(first[0])}: a filter compares an assay's values "
                "as numbers, so give them in one unit")


def _near_sample(subject_id: str, samples: Sequence[str], source: Path | None) -> str:
    """What to add to "subject 'S1' is not a sample of the VCF" where the VCF has no samples
    at all (a sites-only file), or where a sample's name differs from the id only in white
    space around it, or in how its accents are encoded: ids are compared exactly, as htslib
    keeps the VCF's names, and a CSV's cells lose their white space (beacon/phenopackets.py).
    `é` is one code point in NFC and two (e and a combining accent) in NFD, which macOS's
    file names and some editors write: the two names print alike, and the message showed
    the VCF's name as the very id it said was missing."""
    if not samples:
        return (" (the VCF has no samples: a sites-only file has no individuals; load it "
                "without --individuals)")
    same = unicodedata.normalize("NFC", subject_id)
    encoded = next((s for s in samples if unicodedata.normalize("NFC", s) == same), None)
    if encoded is not None:
        return (f" (the VCF has {encoded!r}, the same letters encoded otherwise: "
                f"{_code_points(encoded)} there, {_code_points(subject_id)} here; a subject "
                "id is compared exactly, so write both files in one Unicode normal form, "
                "e.g. NFC)")
    near = next((s for s in samples if s.strip() == subject_id.strip()), None)
    if near is None:
        return ""
    if source is not None and source.suffix.lower() in (".csv", ".tsv"):
        return (f" (the VCF has {near!r}: a CSV's cells lose the white space around them; "
                "give the phenopackets as JSON)")
    return f" (the VCF has {near!r}: a subject id is compared exactly, white space too)"


def _code_points(name: str) -> str:
    """The code points of `name` past ASCII (U+00E9, U+0301), where two encodings of the
    same letters differ."""
    return " ".join(f"U+{ord(c):04X}" for c in name if not c.isascii()) or "ASCII"


class _Members:
    """Per term of any individual's ancestry, which individuals hold it exactly and which
    with its descendants: bit i (from the left, as get_bit counts, the order of the carrier
    bits) for sample_index i."""

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self.exact: dict[str, bytearray] = {}
        self.descendants: dict[str, bytearray] = {}

    def _set(self, bits: dict[str, bytearray], terms: Iterable[str], index: int) -> None:
        byte, mask = index >> 3, 0x80 >> (index & 7)
        for term in terms:
            row = bits.get(term)
            if row is None:
                row = bits[term] = bytearray((self.samples + 7) // 8)
            row[byte] |= mask

    def add(self, index: int, terms: Iterable[str], closure: Iterable[str]) -> None:
        self._set(self.exact, terms, index)
        self._set(self.descendants, closure, index)

    def rows(self) -> list[tuple[str, BitString, BitString]]:
        """(term, exact, descendants) rows for `term_members`, by term."""
        none = bytes((self.samples + 7) // 8)
        return [(term, BitString.frombytes(bytes(self.exact.get(term, none)), self.samples),
                 BitString.frombytes(bytes(below), self.samples))
                for term, below in sorted(self.descendants.items())]
