"""Allele frequencies by population: what the GDI portal's allele-frequency page reads.

Populations follow the Genome of Europe labels the portal filters by exact match
(`^(?:([A-Z]{2})(?:_([MF]))?|([MF]))$`): `FI` (country of birth), `FI_M` / `FI_F` (country and
sex), `M` / `F` (sex); the whole dataset is labelled with the dataset's id, as before. Each is
a bit string over the dataset's samples (`populations` table, written at ingest with the
individuals), so a variant's counts in it are `bit_count`s of the variant's carrier, homozygous,
missing-call and one-allele-call bits under the population's (beacon/store.py fetches them
with each record page): nothing per population is stored per variant, and nothing is
recomputed when it is read.

Zygosity follows gnomAD: outside the pseudo-autosomal regions, a male's call on chrX or chrY
counts once, as hemizygous (whatever ploidy the caller wrote); on chrY only males count, and
those of unknown sex as males (`site_frequencies`: a woman's call there is noise, but a VCF
loaded without phenopackets names no man, and its every chrY record read 0 of 0 alleles). A
mitochondrial call is haploid: a carrier counts once, as homozygous (homoplasmic). Everyone
else, individuals of unknown sex on chrX too, counts the alleles their call names: two for a
diploid call, one for a half-call (`./1`) or a haploid one (`1`), as bcftools +fill-tags
counts AN.

For a tier with a floor k, every group of individuals a caller can tell apart from the
rows is of 0 or at least k individuals (`listed`): a population of fewer than k is not
listed, nor one whose difference from the rows listed before it (the whole dataset less its
men and women: those of unknown sex; men less Finnish men) would be a smaller group. Before,
only the first rule held, and a bona fide researcher read one person's genotype as the whole
dataset's counts less the men's and the women's. Counts from 1 to k are reported as k
(rounded to the tier's step), and a row with such a count gives no split by zygosity, which
its exact allele count would undo (homozygous = (alleles - heterozygous) / 2). Lumping is
per row: two nested rows whose counts are exact tell their difference, a group of at least
k. The frequency is the reported allele count over the reported allele number.

That holds a count to the floor, not a membership: a population's row says whether any of
its people carry each variant shown, so a caller holding someone's genome tells whether
they are in it (every variant of theirs the row gives as 0 says no). So anonymous callers
and bona fide researchers get the whole dataset's row only, by default (a tier's
`population_floor` 0; docs/privacy.md), without its split by zygosity, whose homozygous
carriers are a population too, and an operator gives them populations of at least
a size it chooses, knowing what such rows tell.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
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
    order = [whole, *sorted((g for g in groups if g != whole), key=_rank)]
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
    one_allele: int        # individuals whose call names one allele: `./1`, `0/.`, `1`
    male_one_allele: int


class Frequency(NamedTuple):
    """A population's allele counts for one variant, before disclosure. Its size is that of
    the people its counts are of, which `listed` judges it by: on chrY outside the PARs its
    men and those of unknown sex, where FI's row of 40 people was its one man's Y genotype
    (and the whole dataset's less SE's was him too). A sites-only file's population is
    sized by halves (AN/2) and may leave its zygosity unsaid (None): reported as 0, a count
    the file never gave would read as a fact."""

    label: str
    size: float            # individuals counted; a sites-only file's AN/2
    allele_count: int
    allele_number: int
    homozygous: int | None
    heterozygous: int | None
    hemizygous: int | None


def ploidy(assembly_id: str, chromosome: str, start: int) -> str:
    """How a site's calls count (once per record, not per population): `MT` haploid, `Y`
    males (and those of unknown sex, `site_frequencies`) only, `X` males hemizygous, `2`
    diploid."""
    if chromosome == "MT":
        return "MT"
    if hemizygous_region(assembly_id, chromosome, start):
        return chromosome
    return "2"


def frequency(c: InPopulation, kind: str) -> Frequency:
    """A population's counts at a site whose calls count as `kind` (`ploidy`). The allele
    number counts the alleles called, as bcftools +fill-tags counts AN: two for a diploid
    call, one for a call that names one (a half-call `./1`, a haploid call `1`), where a
    male's hemizygous call or a mitochondrial one counts once whatever it names. A carrier
    whose call names one allele is heterozygous: it holds one copy (the allele count is
    heterozygous + 2 * homozygous, + hemizygous)."""
    if kind == "2":
        het = c.carriers - c.homozygous
        return Frequency(c.label, c.size, het + 2 * c.homozygous,
                         2 * (c.size - c.missing) - c.one_allele, c.homozygous, het, 0)
    if kind == "MT":
        return Frequency(c.label, c.size, c.carriers, c.size - c.missing, c.carriers, 0, 0)
    male_called = c.males - c.male_missing
    if kind == "Y":
        return Frequency(c.label, c.males, c.male_carriers, male_called, 0, 0, c.male_carriers)
    others_called = (c.size - c.males) - (c.missing - c.male_missing)
    others_alleles = 2 * others_called - (c.one_allele - c.male_one_allele)
    hom = c.homozygous - c.male_homozygous
    het = (c.carriers - c.male_carriers) - hom
    return Frequency(c.label, c.size, het + 2 * hom + c.male_carriers,
                     others_alleles + male_called, hom, het, c.male_carriers)


def site_frequencies(rows: Sequence[InPopulation], kind: str) -> list[Frequency]:
    """Every population's counts at a site whose calls count as `kind` (`ploidy`), from all
    of a dataset's rows (`population_rows`: a population missing is empty). On chrY outside
    the PARs a person of unknown sex counts as a man, once, as hemizygous: their rows are a
    population's less its men's and its women's (FI less FI_M and FI_F; the whole dataset
    less M and F), so a dataset loaded without phenopackets, none of whose people has a
    sex, counts its calls there; by men alone, every chrY record of such a dataset, found
    for its carriers, read an allele count of 0 in 0 alleles. `listed` judges each row by
    the people it counts, so a group of unknown sex is held to the floor as men are."""
    if kind != "Y":
        return [frequency(c, kind) for c in rows]
    by_label = {c.label: c for c in rows}
    out = []
    for c in rows:
        size = carriers = missing = 0           # of unknown sex: none in M, F, FI_M, FI_F
        if (women := _women_of(c.label)) is not None:
            w = by_label.get(women) or InPopulation(women, *[0] * 10)
            size, carriers, missing = (c.size - c.males - w.size,
                                       c.carriers - c.male_carriers - w.carriers,
                                       c.missing - c.male_missing - w.missing)
        hemizygous = c.male_carriers + carriers
        out.append(Frequency(c.label, c.males + size, hemizygous,
                             c.males - c.male_missing + size - missing, 0, 0, hemizygous))
    return out


def called_alleles(an: int, rows: Sequence[Sequence[Any]] | None, kind: str) -> int:
    """The alleles called at a site whose calls count as `kind`, as its record's whole
    dataset row counts them (`site_frequencies`, from the variant's bit counts under every
    population, `rows`, the dataset's row first), or the file's AN where the variant has no
    genotypes (its record's row reads that AN). A miss's "not seen in N alleles" said the
    file's AN: on chrY 40 where its record said 10 (the women's `0/0` counted), on chrX and
    the mitochondrion a man's diploid call twice."""
    if not rows:
        return an
    return site_frequencies([InPopulation(*row) for row in rows], kind)[0].allele_number


def from_info(whole: str, ac: int | None, an: int | None, carriers: int | None,
              counts: dict[str, list[int | None]], kind: str) -> list[Frequency]:
    """A sites-only file's rows, in `population_rows`' order: the whole dataset (`whole`) from
    INFO AC, AN and nhomalt (`carriers` is AC - nhomalt, beacon/vcf.py; None without it),
    then each population of `counts` ({label: [AC, AN, nhomalt, nhemi]}, beacon/vcf.py
    population_keys; None where the file does not say). A population's size is AN/2 by
    halves (diploid): an odd allele left over by a difference of rows is still someone.
    Heterozygous carriers are what is left of AC once the homozygous and hemizygous are
    taken out, so they are unknown where either is; hemizygous ones, unsaid, are none away
    from chrX and chrY (`kind`, `ploidy`), unknown on them (nhemi is not read for the
    whole dataset)."""
    rows = [*([(whole, [ac, an, None if carriers is None else ac - carriers, None])]
              if ac is not None and an else []),
            *sorted(counts.items(), key=lambda item: _rank(item[0]))]
    out = []
    for label, (count, number, hom, hemi) in rows:
        if hemi is None and kind not in ("X", "Y"):
            hemi = 0
        het = None if hom is None or hemi is None else max(count - 2 * hom - hemi, 0)
        out.append(Frequency(label, number / 2, count, number, hom, het, hemi))
    return out


def _rank(label: str) -> tuple[int, str]:
    """`population_rows`' order: countries, countries by sex, sexes."""
    return (0 if len(label) == 2 else 1 if "_" in label else 2), label


_SPLIT = ("alleleCountHomozygous", "alleleCountHeterozygous", "alleleCountHemizygous")
Cell = tuple[str | None, str | None]      # (country of birth, sex), None: not known


@lru_cache(maxsize=1024)
def listed(sizes: tuple[tuple[str, float], ...], floor: int,
           complete: bool = True) -> frozenset[str]:
    """The labels of `sizes` ((label, individuals), in their order of priority) a tier with
    floor k lists: the whole dataset's, then each population in turn, if every group of
    individuals a caller could tell apart from it and the labels listed before it holds 0 or
    at least k individuals.

    Every population is a union of cells, (country of birth, sex) with either unknown, and
    the cells' sizes follow from the populations' (those of unknown sex born in FI: FI less
    FI_M and FI_F; the rest of the whole dataset: it less every other cell). The groups a
    caller can tell apart are the sets of cells that the listed populations all cover alike;
    any sum or difference of their rows is a sum over such groups. A label that is neither a
    sex, a country nor both is the whole dataset; cells in no listed population are not told
    apart from anyone.

    A population missing from `sizes` is empty where they are the genotypes' rows
    (`population_rows`, `complete`). A sites-only file's (`from_info`, sizes AN/2) name
    whichever populations it likes: SE_F without SE, FI and M without FI_M. A cell of a
    population it leaves out is 0 here and its people are counted in the cells about it
    (FI_M's both in FI's unknown sex and in M's unknown country, and taken twice from the
    rest), which is harmless while the groups sum those cells back together: so a group is
    summed before it is judged, and a country and a sex are never both listed without
    their intersection's row, which alone would tell FI_M's people apart from the rest's.
    A group below 0 (AN_FI above AN) is judged too small."""
    size = dict(sizes)
    countries = sorted({label[:2] for label, _ in sizes if _country(label)})
    cells: dict[Cell, float] = {(c, s): size.get(f"{c}_{s}", 0)
                                for c in countries for s in ("M", "F")}
    for country in countries:
        cells[(country, None)] = size.get(country, 0) - cells[(country, "M")] - cells[
            (country, "F")] if country in size else 0
    for sex in ("M", "F"):
        cells[(None, sex)] = size.get(sex, 0) - sum(cells[(c, sex)] for c in countries) if (
            sex in size) else 0
    whole = next((n for label, n in sizes if _whole(label)), None)
    cells[(None, None)] = whole - sum(cells.values()) if whole is not None else 0

    def covered(label: str) -> frozenset[Cell]:
        if label in ("M", "F"):
            return frozenset((c, label) for c in (*countries, None))
        if _country(label):
            return frozenset(cell for cell in cells if cell[0] == label[:2]
                             and (len(label) == 2 or cell[1] == label[3]))
        return frozenset(cells)

    def unmet(label: str) -> bool:
        """A country and a sex listed together, their intersection's size unknown."""
        if complete:
            return False
        if label in ("M", "F"):
            return any(len(other) == 2 and _country(other) and f"{other}_{label}" not in size
                       for other in labels)
        return len(label) == 2 and _country(label) and any(
            other in ("M", "F") and f"{label}_{other}" not in size for other in labels)

    # the whole dataset's row first, whatever its size (the variant's own frequency, of the
    # carriers the floor let it be shown for), and every population judged with it
    labels = [label for label, _ in sizes if _whole(label)]
    chosen = [covered(label) for label in labels]
    for label, n in sizes:
        if _whole(label) or n < floor or unmet(label):
            continue
        trial = [*chosen, covered(label)]
        groups: dict[tuple[bool, ...], float] = {}
        for cell, people in cells.items():
            key = tuple(cell in population for population in trial)
            if any(key):                  # in no listed population: not told apart
                groups[key] = groups.get(key, 0) + people
        if all(people == 0 or people >= floor for people in groups.values()):
            chosen.append(trial[-1])
            labels.append(label)
    return frozenset(labels)


def _country(label: str) -> bool:
    """`FI` or `FI_M`: a country of birth, alone or with a sex (the Genome of Europe form)."""
    return len(label) in (2, 4) and label[:2].isalpha() and label[:2].isupper() and (
        len(label) == 2 or label[2:] in ("_M", "_F"))


def _shown_labels(rows: Sequence[Frequency], floor: int, least: int,
                  complete: bool) -> frozenset[str] | None:
    """The labels of `rows` a tier with floor k and `population_floor` `least` is given
    (None: all). With `least` 0 only the whole dataset's: a population's row says, for each
    variant shown, whether any of its people carry it, and so whether someone whose genome
    the caller holds is one of them (a variant their population's row gives as 0 is one
    they do not carry). Counts from 1 to k read k, which hides how many, not whether any;
    and where the other rows are exact, the whole dataset's less theirs is that population's
    row anyway. A probe told each member of populations of 6 to 8 people from a stranger of
    the same country every time, anonymously, in three record pages (21 of 21, none of 21
    strangers). Above k, `least` is what every group the rows tell apart must hold. The whole
    dataset's row is given however small the dataset: it is the variant's own frequency, of
    the carriers the floor let it be shown for."""
    if least == 0:
        return frozenset(f.label for f in rows if _whole(f.label))
    bound = max(floor, least)
    return listed(tuple((f.label, f.size) for f in rows), bound, complete) if bound > 1 else None


def _whole(label: str) -> bool:
    """Whether `label` is the whole dataset's (its id), not a sex or a country."""
    return label not in ("M", "F") and not _country(label)


def _men_of(label: str) -> str | None:
    """The label of the men among `label`'s people (FI: FI_M, the whole dataset: M); None
    where it holds no men (F, FI_F)."""
    if label in ("M", "F") or (_country(label) and len(label) == 4):
        return None if label.endswith("F") else label
    return f"{label}_M" if _country(label) else "M"


def _women_of(label: str) -> str | None:
    """The label of the women among `label`'s people (FI: FI_F, the whole dataset: F); None
    where it is of one sex (M, F, FI_M, FI_F)."""
    if label in ("M", "F") or (_country(label) and len(label) == 4):
        return None
    return f"{label}_F" if _country(label) else "F"


def frequencies(rows: Sequence[Frequency], rules: Rules, complete: bool = True,
                hemizygous: bool = False) -> list[dict[str, Any]]:
    """The Beacon `frequencies[]` rows of one variant, as the caller's tier may see them:
    the populations its floor and population floor give (`_shown_labels`); counts rounded
    up to its step, those from 1 to the floor lumped (every listed population, and every
    group told apart by them, holds at least k individuals, so a small count says how many
    of them, not which of them), the allele number alike (2 of a population's alleles
    called at a site, one person's, beside an allele count lumped to 5 was a frequency of
    2.5 that told that person carries it; lumped, the allele count never passes it); a
    zygosity the row does not know (`Frequency`) is left out. `complete`
    as for `listed`. At a `hemizygous` site (chrX outside the PARs) a row's split is given
    only where its men's row is listed too: its hemizygous count is theirs, and FI's of one
    man was given as 0 where he did not carry the allele and withheld (lumped) where he
    did. Written out as integer arithmetic: a page of records calls this for
    every population of every record (tests/test_disclosure_policy.py holds it to those
    rules)."""
    floor, step = rules.allele_floor, rules.count_step
    lumped = report(floor, rules).value if floor > 1 else 0
    shown_labels = _shown_labels(rows, floor, rules.population_floor, complete)
    # the split is a population row of its own (the homozygous carriers; on chrX outside
    # the PARs, the men as hemizygous): one given as 0 says that none of them carry the
    # allele, so a tier given no population (under a floor) is given no split either
    split_given = floor <= 1 or rules.population_floor > 0

    def shown(n: int) -> int:
        value = -(-n // step) * step if n > 0 else 0
        return lumped if 0 < value <= lumped else value

    out = []
    for f in rows:
        if shown_labels is not None and f.label not in shown_labels:
            continue
        ac, an = shown(f.allele_count), shown(f.allele_number)
        row = {"population": f.label, "alleleFrequency": ac / an if an else 0.0,
               "alleleCount": ac, "alleleNumber": an}
        hom, het, hemi = f.homozygous, f.heterozygous, f.hemizygous
        if not split_given or (hemizygous and shown_labels is not None and (
                men := _men_of(f.label)) is not None and men not in shown_labels):
            out.append(row)
            continue
        if hom is not None and het is not None and hemi is not None:   # the genotypes' rows
            split = (shown(hom), shown(het), shown(hemi))
            if not (lumped and lumped in split):  # 0 is never lumped: shown(n) > 0 for n > 0
                row.update(alleleCountHomozygous=split[0], alleleCountHeterozygous=split[1],
                           alleleCountHemizygous=split[2])
        else:
            known = {key: shown(n) for key, n in zip(_SPLIT, (hom, het, hemi)) if n is not None}
            if not (lumped and lumped in known.values()):
                row.update(known)
        out.append(row)
    return out
