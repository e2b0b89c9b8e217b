"""Allele frequencies by population: what the GDI portal's allele-frequency page reads.

Populations follow the Genome of Europe labels the portal filters by exact match
(`^(?:([A-Z]{2})(?:_([MF]))?|([MF]))$`): `FI` (country of birth), `FI_M` / `FI_F` (country and
sex), `M` / `F` (sex); the whole dataset is labelled with the dataset's id, as before. Each is
a bit string over the dataset's samples (`populations` table, written at ingest with the
individuals), so a variant's counts in it are `bit_count`s of the variant's carrier, homozygous
and missing bits under the population's (beacon/store.py fetches them with each record page):
nothing per population is stored per variant, and nothing is recomputed when it is read.

Zygosity follows gnomAD: outside the pseudo-autosomal regions, a male's call on chrX or chrY
counts once, as hemizygous (whatever ploidy the caller wrote); on chrY only males count. A
mitochondrial call is haploid: a carrier counts once, as homozygous (homoplasmic). Individuals
of unknown sex count as diploid on chrX.

Every count passes the disclosure engine (beacon/disclosure.py) as counts of individuals do,
without noise: for a tier with a floor k, a population of fewer than k individuals is not
listed, and counts from 1 to k are reported as k (rounded to the tier's step), so a
subpopulation's singleton is not told apart from k carriers. The frequency is the reported
allele count over the reported allele number.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from asyncpg import BitString

from beacon.disclosure import Rules, report

# Pseudo-autosomal regions, 0-based half-open (GRC assembly reports; UCSC coordinates).
_PAR: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {
    "GRCh38": {"X": ((10_000, 2_781_479), (155_701_382, 156_030_895)),
               "Y": ((10_000, 2_781_479), (56_887_902, 57_217_415))},
    "GRCh37": {"X": ((60_000, 2_699_520), (154_931_043, 155_260_560)),
               "Y": ((10_000, 2_649_520), (59_034_049, 59_363_566))},
}


def hemizygous_region(assembly_id: str, chromosome: str, start: int) -> bool:
    """Whether males carry one copy here: chrX or chrY outside the pseudo-autosomal regions."""
    regions = _PAR[assembly_id].get(chromosome)
    return regions is not None and not any(a <= start < b for a, b in regions)


def _bits(members: set[int], samples: int) -> BitString:
    """Bit i (from the left, as get_bit counts) set for each member i."""
    data = bytearray((samples + 7) // 8)
    for i in members:
        data[i // 8] |= 0x80 >> (i % 8)
    return BitString.frombytes(bytes(data), samples)


def population_rows(individuals: Sequence[tuple[int, str, str | None]], samples: int,
                    whole: str) -> list[tuple[str, BitString, BitString, int, int]]:
    """(label, members, males, size, males) per population of a dataset, from its
    individuals' (sample_index, sex, country of birth); `whole` labels everyone."""
    groups: dict[str, set[int]] = {whole: set(range(samples))}
    males = {i for i, sex, _ in individuals if sex == "MALE"}
    for index, sex, country in individuals:
        letter = {"MALE": "M", "FEMALE": "F"}.get(sex)
        labels = ([country] if country else []) + ([letter] if letter else []) + (
            [f"{country}_{letter}"] if country and letter else [])
        for label in labels:
            groups.setdefault(label, set()).add(index)
    order = [whole, *sorted(g for g in groups if g != whole and "_" not in g and len(g) == 2),
             *sorted(g for g in groups if "_" in g), *sorted(g for g in groups if len(g) == 1)]
    return [(label, _bits(groups[label], samples), _bits(groups[label] & males, samples),
             len(groups[label]), len(groups[label] & males)) for label in order]


class InPopulation(NamedTuple):
    """One variant's bit counts under one population (beacon/store.py fetches them). Named
    tuples, not dataclasses: a record page builds one per population per record."""

    label: str
    size: int              # individuals
    males: int
    carriers: int          # individuals with any copy of the ALT
    male_carriers: int
    homozygous: int        # individuals with two copies
    male_homozygous: int
    missing: int           # individuals without a call
    male_missing: int


class Frequency(NamedTuple):
    """A population's allele counts for one variant, before disclosure."""

    label: str
    size: int
    allele_count: int
    allele_number: int
    homozygous: int
    heterozygous: int
    hemizygous: int


def ploidy(assembly_id: str, chromosome: str, start: int) -> str:
    """How a site's calls count (once per record, not per population): `MT` haploid, `Y`
    males only, `X` males hemizygous, `2` diploid."""
    if chromosome == "MT":
        return "MT"
    if hemizygous_region(assembly_id, chromosome, start):
        return chromosome
    return "2"


def frequency(c: InPopulation, kind: str) -> Frequency:
    """A population's counts at a site whose calls count as `kind` (`ploidy`)."""
    if kind == "2":
        het = c.carriers - c.homozygous
        return Frequency(c.label, c.size, het + 2 * c.homozygous, 2 * (c.size - c.missing),
                         c.homozygous, het, 0)
    if kind == "MT":
        return Frequency(c.label, c.size, c.carriers, c.size - c.missing, c.carriers, 0, 0)
    male_called = c.males - c.male_missing
    if kind == "Y":
        return Frequency(c.label, c.size, c.male_carriers, male_called, 0, 0, c.male_carriers)
    others_called = (c.size - c.males) - (c.missing - c.male_missing)
    hom = c.homozygous - c.male_homozygous
    het = (c.carriers - c.male_carriers) - hom
    return Frequency(c.label, c.size, het + 2 * hom + c.male_carriers,
                     2 * others_called + male_called, hom, het, c.male_carriers)


def from_info(counts: dict[str, list[int]]) -> list[Frequency]:
    """A sites-only file's counts per population (beacon/vcf.py population_keys): AC, AN,
    homozygous and hemizygous individuals as the file gives them; heterozygous ones are what
    is left of AC, and the population's size is taken as AN/2 (diploid)."""
    return [Frequency(label, an // 2, ac, an, hom, max(ac - 2 * hom - hemi, 0), hemi)
            for label, (ac, an, hom, hemi) in counts.items()]


def frequencies(rows: Sequence[Frequency], rules: Rules) -> list[dict[str, Any]]:
    """The Beacon `frequencies[]` rows of one variant, as the caller's tier may see them:
    `report_individuals` without noise for the counts, `report` for the allele number,
    written out as integer arithmetic (a page of records calls this for every population
    of every record; tests/test_disclosure_policy.py holds it to those functions)."""
    floor, step = rules.allele_floor, rules.count_step
    lumped = report(floor, rules).value if floor > 1 else 0

    def shown(n: int) -> int:
        value = -(-n // step) * step if n > 0 else 0
        return lumped if 0 < value <= lumped else value

    out = []
    for f in rows:
        if floor > 1 and f.size < floor:
            continue                       # a population this small is not told apart
        ac, an = shown(f.allele_count), -(-f.allele_number // step) * step
        out.append({"population": f.label, "alleleFrequency": ac / an if an else 0.0,
                    "alleleCount": ac, "alleleNumber": an,
                    "alleleCountHomozygous": shown(f.homozygous),
                    "alleleCountHeterozygous": shown(f.heterozygous),
                    "alleleCountHemizygous": shown(f.hemizygous)})
    return out
