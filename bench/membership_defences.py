"""Candidate defences against the floor-aware membership attack, emulated before building one.

tests/test_membership.py shows that the node's defaults stop Shringarpure & Bustamante's
attack (rarest alleles first) but not an attacker who knows the allele floor and asks about
the alleles just above it (`test_floor_aware_attack_within_the_anonymous_budget`, an expected
failure). Building a defence into the SQL path is costly, so this script first emulates the
node's boolean answers under each candidate, over the test's population model
(tests/membership_attack.py: 100 members, 100 non-members, 50 of each attacked, one fresh
caller per target, the default anonymous budget of 300 units with near-floor hits costing 5),
and prints the attacker's power at a 5% false-positive rate for several statistics an attacker
could use: the floor-aware likelihood ratio, Shringarpure & Bustamante's, and plain counts of
"yes" answers (overall and in the first 20). A defence is good only if every statistic stays
at or below 0.15, on every seed.

Candidates:
- `floor`: today's sharp floor k (a variant carried by fewer than k members does not exist);
- `jitter m`: each variant's floor drawn once, secretly, from k..k+m (sticky, global);
- `exposure E`: per caller, every member who carried E near-floor variants the caller was
  told exist no longer counts toward near-floor variants answered to that caller afterwards
  (variants already shown stay shown): Raisaro et al.'s per-individual budget;
- `jitter m + exposure E`: both;
- `..., misses pay`: a near-floor variant's carriers are charged even when it is hidden from
  the caller (as personalised differential privacy would charge them).

Variants carried by `RARE_BELOW` members or more are shown to everyone, outside any
per-individual budget: otherwise every caller asking about common variants would exhaust
everyone's budget within a few hundred questions.

The smooth candidates answer `--queries` questions per target (default 300, the anonymous
budget, which they charge one unit each; 600 covers every allele of a target whose answer can
differ between member and non-member, and the bona fide budget allows it).

Run: python bench/membership_defences.py [--seeds 1 2 3] [--queries 600] (about 2 s per seed
and candidate; the smooth ones 10-15 s at 600).
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.query import at_least_one
from tests.membership_attack import (  # the test's model, from the repository
    Population,
    floor_aware_order,
    floor_aware_score,
    power,
    sb_score,
    shown_probability,
    simulate,
    smooth_aware_score,
)

MEMBERS = NON_MEMBERS = 100
TARGETS = 100             # every member, and as many non-members
SITES = 800_000
FLOOR, RARE_BELOW, RARE_COST, BUDGET, CAP = 5, 10, 5, 300, 310   # the anonymous defaults


@dataclass(frozen=True)
class Defence:
    name: str
    jitter: int = 0        # m: each variant's floor is k + a secret draw from 0..m
    exposure: int = 0      # E: 0 = no per-individual budget
    charge_misses: bool = False   # a near-floor variant's carriers pay even when it is hidden
    smooth: tuple[float, float] | None = None   # (m, s): shown with a logistic probability
    loss_budget: float = 0.0      # per member and caller, of realised privacy loss
    charge_hidden: bool = True    # a hidden answer at or above the floor is charged too


def _smooth_answers(population: Population, draws: np.ndarray, sites: np.ndarray,
                    defence: Defence, queries: int) -> list[bool]:
    """One caller's answers under the smooth floor with per-member accounting: every answer
    about a variant at or above the floor charges each member counted in it the privacy loss
    that answer realised, log P(answer | count) / P(answer | count - 1); a member whose loss
    exceeds the budget is no longer counted in this caller's answers. Every answer costs one
    unit, so the budget's spending tells nothing about the counts."""
    assert defence.smooth is not None
    carrying = population.genotypes[:population.members] > 0
    loss = np.zeros(population.members)
    given: dict[int, bool] = {}
    answers = []
    for site in sites[:queries]:
        if site not in given:
            counted = carrying[:, site] & (loss <= defence.loss_budget)
            count = int(counted.sum())
            shown, before = shown_probability(np.array([count, count - 1]), FLOOR, defence.smooth)
            yes = bool(shown >= draws[site])
            if count >= FLOOR and (yes or defence.charge_hidden):
                ratio = shown / before if yes else (1 - before) / max(1 - shown, 1e-300)
                loss[counted] += np.log(ratio) if ratio < np.inf else np.inf
            given[site] = yes
        answers.append(given[site])
    return answers


def _answers(population: Population, floors: np.ndarray, sites: np.ndarray,
             defence: Defence) -> list[bool]:
    """One caller's boolean answers about `sites`, asked in order, until its budget is spent."""
    carriers = population.carriers
    carrying = population.genotypes[:population.members] > 0
    exposure = np.zeros(population.members, dtype=int)
    shown: set[int] = set()
    spent, answers = 0, []
    for site in sites[:CAP]:
        count = carriers[site]
        if count >= RARE_BELOW:
            yes = True
        elif count < (FLOOR if defence.charge_misses else floors[site]):
            yes = False
        elif site in shown:
            yes = True
        else:
            who = carrying[:, site]
            counted = (who & (exposure < defence.exposure)).sum() if defence.exposure else count
            yes = bool(counted >= floors[site])
            if (yes or defence.charge_misses) and defence.exposure:
                shown.add(site)
                exposure[who] += 1
        if spent + 1 > BUDGET:
            break                                       # the node answers 429
        spent += RARE_COST if yes and count < RARE_BELOW else 1
        answers.append(yes)
    return answers


def _powers(population: Population, defence: Defence, seed: int, queries: int
            ) -> dict[str, float]:
    rng = np.random.default_rng(seed + 1_000)
    floors = FLOOR + rng.integers(0, defence.jitter + 1, len(population.frequencies))
    targets = [*range(TARGETS), *range(MEMBERS, MEMBERS + TARGETS)]
    orders = [floor_aware_order(population, t, FLOOR) for t in targets]
    if defence.smooth is None:
        answers = [_answers(population, floors, order, defence) for order in orders]
    else:
        draws = rng.random(len(population.frequencies))
        answers = [_smooth_answers(population, draws, order, defence, queries)
                   for order in orders]
    frequencies = [population.frequencies[order] for order in orders]
    statistics: dict[str, Callable[[np.ndarray, list[bool]], float]] = {
        "floor-aware LR": lambda f, a: floor_aware_score(f, a, MEMBERS, FLOOR),
        "S&B LR": lambda f, a: sb_score(f, a, MEMBERS),
        "yes": lambda f, a: float(sum(a)),
        "yes in first 20": lambda f, a: float(sum(a[:20])),
    }
    if defence.smooth is not None:
        statistics["smooth-aware LR"] = lambda f, a: smooth_aware_score(f, a, MEMBERS, FLOOR, defence.smooth)
    result = {"smooth-aware LR": float("nan")}
    for name, statistic in statistics.items():
        scores = [statistic(f, a) for f, a in zip(frequencies, answers)]
        result[name] = power(scores[:TARGETS], scores[TARGETS:])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", default="", help="candidates whose name contains this")
    parser.add_argument("--queries", type=at_least_one, default=BUDGET,
                        help="questions per target under the smooth candidates, which charge "
                             "one unit each (the bona fide budget does not stop them: 600)")
    args = parser.parse_args()
    seeds = args.seeds
    defences = [Defence("floor"), Defence("jitter 4", jitter=4),
                Defence("exposure 3", exposure=3), Defence("exposure 10", exposure=10),
                Defence("jitter 2 + exposure 3", jitter=2, exposure=3),
                Defence("jitter 4 + exposure 5", jitter=4, exposure=5),
                Defence("jitter 4 + exposure 3, misses pay", jitter=4, exposure=3,
                        charge_misses=True),
                Defence("jitter 8 + exposure 2, misses pay", jitter=8, exposure=2,
                        charge_misses=True),
                Defence("smooth 3/1 + loss budget 1", smooth=(3, 1), loss_budget=1.0),
                Defence("smooth 3/1 + loss budget 2", smooth=(3, 1), loss_budget=2.0),
                Defence("smooth 5/1.5 + loss budget 1", smooth=(5, 1.5), loss_budget=1.0),
                Defence("smooth 5/1.5 + loss budget 1, shown only", smooth=(5, 1.5),
                        loss_budget=1.0, charge_hidden=False),
                Defence("smooth 5/1.5 + loss budget 0.5, shown only", smooth=(5, 1.5),
                        loss_budget=0.5, charge_hidden=False),
                Defence("smooth 5/1.5 + loss budget 0.5", smooth=(5, 1.5), loss_budget=0.5),
                Defence("smooth 6/1.5 + loss budget 0.5", smooth=(6, 1.5), loss_budget=0.5)]
    print(f"floor-aware attack, power at 5% false positives ({TARGETS} members, {TARGETS} "
          f"non-members, anonymous budget {BUDGET}); seeds {seeds}; worst over seeds\n")
    defences = [d for d in defences if args.only in d.name]
    populations = {seed: simulate(MEMBERS, NON_MEMBERS, SITES, seed) for seed in seeds}
    header = None
    for defence in defences:
        runs = [_powers(populations[seed], defence, seed, args.queries) for seed in seeds]
        worst = {name: max(r[name] for r in runs) for name in runs[0]}
        if header is None:
            header = "defence".ljust(36) + "".join(n.rjust(17) for n in worst)
            print(header)
        verdict = "holds" if max(v for v in worst.values() if not math.isnan(v)) <= 0.15 else "fails"
        print(defence.name.ljust(36) + "".join("-".rjust(17) if math.isnan(v) else f"{v:17.2f}"
                                               for v in worst.values())
              + f"   {verdict}")


if __name__ == "__main__":
    main()
