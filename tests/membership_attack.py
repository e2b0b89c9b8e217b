"""The membership-inference attack of tests/test_membership.py without its HTTP: the simulated
population, which of a target's alleles the attacker asks about and in what order, and the
likelihood-ratio statistics it decides membership with.

The population: every site has an alternate-allele frequency f, drawn with density
proportional to f^-2 between F_MIN and F_MAX (the excess of rare variants recent population
growth left in human genomes: every genome carries about as many alleles in each decade of
frequency), and every individual two independent haplotypes. The attacker knows the true
frequencies (a perfect reference panel) and the genomes of its targets.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# 1/F_MIN = 2 x 5,000: the rarest alleles are single copies in a population of 5,000 people.
# Alleles commoner than F_MAX (5%) are carried by about ten members of a 100-person beacon or
# more: far above a floor at k, seen by every tier, member or not, they tell an attacker of
# that floor nothing, and an attacker asking the rarest first never reaches them (an edge at
# 20 or 30 carriers is attacked with them: `with_common`).
F_MIN = 1e-4
F_MAX = 0.05
DELTA = 1e-6               # Shringarpure & Bustamante's genotyping error rate
BASES = np.array(list("ACGT"))
# Common sites `with_common` adds: f uniform in 5 to 50%.
COMMON_SITES, COMMON = 20_000, (0.05, 0.5)


@dataclass(frozen=True)
class Population:
    """Members (the beacon's samples) first, then non-members from the same population."""

    frequencies: np.ndarray    # per site: the population's alternate-allele frequency
    genotypes: np.ndarray      # individuals x sites: alternate copies, 0..2
    positions: np.ndarray      # per site: 1-based VCF POS on chromosome 1
    refs: np.ndarray
    alts: np.ndarray
    members: int

    @property
    def carriers(self) -> np.ndarray:
        """Per site, how many members carry it: what the node counts against its floor."""
        return (self.genotypes[:self.members] > 0).sum(axis=0)

    def alleles(self, individual: int) -> np.ndarray:
        """The sites where `individual` carries the alternate allele."""
        return np.flatnonzero(self.genotypes[individual])

    def vcf(self) -> str:
        """The members' genotypes as a VCF, one biallelic SNV per site any member carries."""
        sites = np.flatnonzero(self.carriers)
        calls = np.array(["0/0", "0/1", "1/1"])[self.genotypes[:self.members, sites].T]
        header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
                  '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
                  "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                             "FORMAT", *(f"M{i:03d}" for i in range(self.members))])]
        rows = [f"chr1\t{self.positions[s]}\t.\t{self.refs[s]}\t{self.alts[s]}\t.\tPASS\t.\tGT\t"
                + "\t".join(row) for s, row in zip(sites, calls)]
        return "\n".join(header + rows) + "\n"

    def sites_only_vcf(self) -> str:
        """The members' sites as a sites-only VCF, gnomAD's way: INFO AC, AN and nhomalt,
        from which the node counts each variant's carriers exactly (AC - nhomalt) without
        knowing who they are."""
        sites = np.flatnonzero(self.carriers)
        copies = self.genotypes[:self.members, sites]
        header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
                  '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">',
                  '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">',
                  '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="Homozygotes">',
                  "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
        rows = [f"chr1\t{self.positions[s]}\t.\t{self.refs[s]}\t{self.alts[s]}\t.\tPASS\t"
                f"AC={ac};AN={2 * self.members};nhomalt={hom}"
                for s, ac, hom in zip(sites, copies.sum(axis=0), (copies == 2).sum(axis=0))]
        return "\n".join(header + rows) + "\n"


def simulate(members: int, non_members: int, candidate_sites: int, seed: int) -> Population:
    """A population with these many members and non-members; of `candidate_sites` drawn from
    the spectrum, those nobody carries are dropped. Given its number of copies among all
    haplotypes, a site's copies sit on a uniformly random set of them, which is exactly
    independent draws with frequency f, without drawing every haplotype at every site."""
    rng = np.random.default_rng(seed)
    haplotypes = 2 * (members + non_members)
    u = rng.random(candidate_sites)
    frequencies = 1 / (1 / F_MIN - u * (1 / F_MIN - 1 / F_MAX))    # inverse CDF of f^-2
    copies = rng.binomial(haplotypes, frequencies)
    kept = np.flatnonzero(copies)
    carried = np.zeros((haplotypes, len(kept)), dtype=np.int8)
    for column, site in enumerate(kept):
        carried[rng.choice(haplotypes, copies[site], replace=False), column] = 1
    refs = rng.integers(0, 4, len(kept))
    alts = (refs + rng.integers(1, 4, len(kept))) % 4
    return Population(frequencies=frequencies[kept], genotypes=carried[0::2] + carried[1::2],
                      positions=10_000 + 10 * np.arange(len(kept)), refs=BASES[refs],
                      alts=BASES[alts], members=members)


def with_common(population: Population, seed: int) -> Population:
    """The population and COMMON_SITES sites with f uniform in COMMON, drawn for members
    and non-members alike: the model stops at 5% (`F_MAX`: no floor at k reaches
    them), but an edge at 20 or 30 carriers (the smooth floor's top, `Floor.upper`) is
    attacked with alleles carried by a fifth or a third of everyone, of which a real genome
    holds hundreds of thousands."""
    rng = np.random.default_rng(seed + 2_000)
    frequencies = rng.uniform(*COMMON, COMMON_SITES)
    people = len(population.genotypes)
    genotypes = (rng.random((2, people, COMMON_SITES)) < frequencies).sum(axis=0, dtype=np.int8)
    start = int(population.positions[-1]) + 10
    return Population(
        frequencies=np.concatenate([population.frequencies, frequencies]),
        genotypes=np.concatenate([population.genotypes, genotypes], axis=1),
        positions=np.concatenate([population.positions,
                                  start + 10 * np.arange(COMMON_SITES)]),
        refs=np.concatenate([population.refs, np.full(COMMON_SITES, "A")]),
        alts=np.concatenate([population.alts, np.full(COMMON_SITES, "G")]),
        members=population.members)


def rarest_first(population: Population, target: int) -> np.ndarray:
    """The target's alleles in the order Shringarpure & Bustamante ask them: rarest in the
    reference first, since a rare allele found in the beacon most likely came from the target."""
    sites = population.alleles(target)
    return sites[np.argsort(population.frequencies[sites], kind="stable")]


def sb_score(frequencies: np.ndarray, answers: Sequence[bool], beacon_size: int,
             delta: float = DELTA) -> float:
    """Shringarpure & Bustamante's log-likelihood ratio of "not in the beacon" over "in it"
    for these answers, negated: high = member. An allele is absent from N individuals with
    probability D_N = (1 - f)^2N; from a beacon holding the target, only if genotyping missed
    its copy (delta) and the other N - 1 lack it: delta D_N-1. LR = prod_i P(x_i | not in) /
    P(x_i | in)."""
    f = frequencies[:len(answers)]
    absent = (1 - f) ** (2 * beacon_size)
    absent_without_target = (1 - f) ** (2 * (beacon_size - 1))
    yes = np.asarray(answers, dtype=bool)
    ratio = np.where(yes, np.log((1 - absent) / (1 - delta * absent_without_target)),
                     np.log(absent / (delta * absent_without_target)))
    return -float(ratio.sum())


def _at_least(k: int, n: int, p: np.ndarray) -> np.ndarray:
    """P(Binomial(n, p) >= k), elementwise."""
    below = sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k))
    return np.clip(1 - below, 1e-12, 1 - 1e-12)


def floor_odds(frequencies: np.ndarray, beacon_size: int, floor: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """P(the beacon says yes) for a member's allele and a non-member's, when it shows only
    alleles at least `floor` of its N individuals carry: a member's allele needs floor - 1
    carriers among the other N - 1, a non-member's `floor` among all N."""
    carrier = 1 - (1 - frequencies) ** 2
    return (_at_least(floor - 1, beacon_size - 1, carrier),
            _at_least(floor, beacon_size, carrier))


def floor_aware_order(population: Population, target: int, floor: int) -> np.ndarray:
    """The target's alleles in the order an attacker who knows the floor asks them: those
    whose answer differs most between member and non-member first (just above the floor);
    those far below it, which the node answers no to whoever asks, last."""
    sites = population.alleles(target)
    member, non_member = floor_odds(population.frequencies[sites], population.members, floor)
    return sites[np.argsort(non_member - member, kind="stable")]


def floor_aware_score(frequencies: np.ndarray, answers: Sequence[bool], beacon_size: int,
                      floor: int) -> float:
    """The log-likelihood ratio of "member" over "non-member" under floor_odds: high = member."""
    member, non_member = floor_odds(frequencies[:len(answers)], beacon_size, floor)
    yes = np.asarray(answers, dtype=bool)
    return float(np.where(yes, np.log(member / non_member),
                          np.log((1 - member) / (1 - non_member))).sum())


def shown_probability(carriers: np.ndarray, floor: int, smooth: tuple[float, float]
                      ) -> np.ndarray:
    """P(shown) for variants carried by these many, under a smooth floor (width m, scale s;
    beacon/visibility.py Floor.probability, elementwise): 0 below the floor, then a logistic
    rising through floor + m."""
    width, scale = smooth
    carriers = np.asarray(carriers, dtype=float)
    return np.where(carriers < floor, 0.0,
                    1 / (1 + np.exp(-(carriers - floor - width) / scale)))


def smooth_aware_score(frequencies: np.ndarray, answers: Sequence[bool], beacon_size: int,
                       floor: int, smooth: tuple[float, float]) -> float:
    """The likelihood ratio of an attacker who knows the smooth floor: P(yes) for a member's
    allele is E[p(1 + O)], O ~ Binomial(N - 1, carrier frequency); a non-member's E[p(O)]."""
    carrier = 1 - (1 - frequencies[:len(answers)]) ** 2
    counts = np.arange(0, 60)

    def expected(n: int, plus: int) -> np.ndarray:
        pmf = np.array([[math.comb(n, j) * q ** j * (1 - q) ** (n - j) for j in counts]
                        for q in carrier]).reshape(len(carrier), len(counts))
        return np.clip(pmf @ shown_probability(counts + plus, floor, smooth), 1e-12, 1 - 1e-12)

    member, non_member = expected(beacon_size - 1, 1), expected(beacon_size, 0)
    yes = np.asarray(answers, dtype=bool)
    return float(np.where(yes, np.log(member / non_member),
                          np.log((1 - member) / (1 - non_member))).sum())


def power(member_scores: Sequence[float], non_member_scores: Sequence[float],
          false_positive_rate: float = 0.05) -> float:
    """The fraction of members scoring above the non-members' (1 - rate) quantile: the
    attacker's power at that false-positive rate, calibrated on targets it knows are out."""
    threshold = np.quantile(non_member_scores, 1 - false_positive_rate)
    return float(np.mean(np.asarray(member_scores) > threshold))
