"""Disclosure control: what each caller may learn about a dataset, decided in one place.

Every answer that reveals a count or an existence (variant queries at every granularity,
single variants, the datasets listing, the network through its peers, individuals to come) asks
this module for the dataset's `Rules` for the caller's tier, and applies them:

- **Allele visibility floor** (`allele_floor`, k): a variant carried by fewer than k
  individuals (where carriers are unknown, the fewest its AC can come from, ceil(AC / 2);
  unknown both = not shown) does not exist for the tier. It is left out in the SQL itself
  (beacon/store.py), so it is absent from every query form, count, total and record page
  alike; differencing two overlapping counts or sliding a window over booleans only ever
  finds variants the tier may see anyway. A floor
  applied to each response's count instead (the old minimum reportable count) is defeated by
  exactly those attacks (docs/privacy.md).
- **Count precision** (`count_step`, s): counts are rounded up to a multiple of s, so a
  non-zero count stays non-zero and `exists` never contradicts it; the response says
  `countPrecision: rounded` and `countAdjustedTo`, or `exact`.
- **Budget** (beacon/budget.py): query units per caller and dataset, per sliding window and
  per day; a query that hits a variant just above the floor (fewer than `rare_below`
  carriers) costs `rare_cost` units, since those are what membership inference asks for.
- **Population rows** (`population_floor`, beacon/populations.py): which populations a
  record's allele frequencies are given for besides the whole dataset (none by default
  below a grant: each tells who is among its people).

Tiers: `granted` (a ControlledAccessGrants visa for the dataset), `bona_fide` (a bona fide
researcher), `anonymous` (anyone else, tokens without bona fide status included). Each tier's
rules come from the node's configuration (`DisclosurePolicy`, one documented default) and may
be overridden per dataset by its metadata's `disclosure` object, e.g. an operator loosening a
PUBLIC dataset for anonymous callers: {"anonymous": {"allele_floor": 1}}.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from auth.access import AccessLevel
from auth.policy import Caller, GrantKey, max_granularity
from beacon.limits import INT4_MAX
from beacon.visibility import Floor

Tier = Literal["anonymous", "bona_fide", "granted"]
TIERS: tuple[Tier, ...] = ("anonymous", "bona_fide", "granted")
METADATA_KEY = "disclosure"
PURPOSE_KEY = "purposeRequired"       # in METADATA_KEY beside the tiers: individual queries
# The largest value of any rule: the statements that apply the rules take them as PostgreSQL
# integers. The node's settings had this bound; a dataset's metadata did not, and a floor of
# 2^63 - 1 in it made every variant query of the dataset a 500.
RULE_MAX = INT4_MAX


@dataclass(frozen=True)
class Rules:
    """What one tier may learn of one dataset."""

    allele_floor: int = 1          # k: variants with fewer carriers do not exist; 1 = off
    count_step: int = 1            # counts rounded up to a multiple of this; 1 = exact
    budget_per_window: int = 0     # query units per sliding window; 0 = unlimited
    budget_per_day: int = 0        # query units per UTC day; 0 = unlimited
    rare_cost: int = 1             # units a query costs when it hits a rare variant
    rare_below: int = 0            # carriers: a visible variant below this is rare
    count_noise: int = 0           # individuals: standard deviation of each noise layer
    smooth_width: int = 0          # 0: a sharp floor; else smooth (beacon/visibility.py)
    smooth_scale: float = 1.5      # the smooth floor's logistic scale, in carriers
    loss_budget: float = 0.0       # realised privacy loss per person and caller; 0 = none
    # individuals a population needs for a frequency row of its own (with a floor k, the
    # larger of the two); 0 = the whole dataset's row only (beacon/populations.py)
    population_floor: int = 1

    def __post_init__(self) -> None:
        for name in ("allele_floor", "count_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        for name in ("budget_per_window", "budget_per_day", "rare_below", "count_noise",
                     "population_floor"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        if self.rare_cost < 1:
            raise ValueError("rare_cost: must be at least 1")
        for name in ("budget_per_window", "budget_per_day"):
            # a question needs rare_cost units left to be asked (beacon/budget.py charge):
            # above a budget, every question was refused, told to retry in 1 s
            if 0 < getattr(self, name) < self.rare_cost:
                raise ValueError(f"rare_cost: must be at most {name} "
                                 f"({getattr(self, name)}), or no question is ever answered")
        if self.smooth_width < 0:
            raise ValueError("smooth_width: must not be negative")
        if not self.smooth_scale > 0:
            raise ValueError("smooth_scale: must be more than 0")
        if not self.loss_budget >= 0:
            raise ValueError("loss_budget: must not be negative")
        for name in self.__dataclass_fields__:
            if not getattr(self, name) <= RULE_MAX:         # NaN and infinity too
                raise ValueError(f"{name}: must be at most {RULE_MAX:,}")

    @cached_property
    def floor(self) -> Floor:
        """The allele floor; a floor of 1 (off, e.g. a PUBLIC dataset loosened by its
        operator) shows everything, smooth or not. Made once per Rules (they are frozen):
        every answer reads it, per dataset."""
        width = self.smooth_width if self.allele_floor > 1 else 0
        return Floor(self.allele_floor, width, self.smooth_scale)

    @cached_property
    def accounts_losses(self) -> bool:
        """Whether each caller's realised privacy loss per person is kept (beacon/losses.py):
        only with a smooth floor, whose answers a single person changes by a bounded ratio."""
        return self.loss_budget > 0 and self.floor.smooth

    @property
    def budgeted(self) -> bool:
        return bool(self.budget_per_window or self.budget_per_day)


# The one default (docs/privacy.md): anonymous callers and bona fide researchers see no
# variant carried by fewer than 5 individuals, some of those carried by 5 to 31 (the smooth
# floor, width 6, scale 1.5, with per-person loss accounting, 0.5 per person;
# beacon/visibility.py, beacon/losses.py: the sharp floor let a floor-aware membership attack
# through within either budget), and a budget each, every question one unit (a cost that
# depends on the count is a channel of its own). Anonymous callers get counts rounded up to a
# multiple of 5; bona fide researchers exact counts and ten times the budget. Neither gets a
# population's own frequency row, only the whole dataset's, without its split by zygosity
# (whose homozygous carriers are a population too): a population's row tells whether
# any of its people carry each variant shown, a membership test of everyone in it outside
# the smooth floor and the loss accounts (docs/privacy.md). A grant lifts every limit.
DEFAULT_TIERS: dict[Tier, Rules] = {
    "anonymous": Rules(allele_floor=5, count_step=5, budget_per_window=300,
                       budget_per_day=1000, count_noise=2, smooth_width=6, smooth_scale=1.5,
                       loss_budget=0.5, population_floor=0),
    "bona_fide": Rules(allele_floor=5, count_step=1, budget_per_window=3000,
                       budget_per_day=20000, count_noise=2, smooth_width=6, smooth_scale=1.5,
                       loss_budget=0.5, population_floor=0),
    "granted": Rules(),
}


@dataclass(frozen=True)
class DisclosurePolicy:
    """The node's disclosure configuration (Settings.disclosure builds it)."""

    tiers: dict[Tier, Rules] = field(default_factory=lambda: dict(DEFAULT_TIERS))
    anonymous_discovery: bool = False   # REGISTERED/CONTROLLED visible (boolean) to anonymous
    hide_controlled: bool = False       # CONTROLLED invisible to everyone without a grant
    window_seconds: int = 3600          # the budget's sliding window
    purpose_required: bool = False      # individual-level queries must state a purpose

    def needs_purpose(self, metadata: dict[str, Any]) -> bool:
        """Whether individual-level queries on a dataset must declare a purpose of use: the
        node's setting, or the dataset's own `disclosure.purposeRequired`."""
        try:
            return self.purpose_required or dataset_purpose_required(metadata)
        except ValueError:
            return True        # an invalid setting (refused at ingest) asks for the most

    def rules(self, tier: Tier, metadata: dict[str, Any]) -> Rules:
        """`tier`'s rules for a dataset with this metadata (its `disclosure` overrides).
        An override these rules do not take (refused at ingest, but one loaded when the
        node's rules took it, or stored before a check refused a part of it) is not
        ignored whole: its rules hold where they are stricter (`_stricter`)."""
        try:
            changes = dataset_overrides(metadata).get(tier, {})
            return dataclasses.replace(self.tiers[tier], **changes)
        except ValueError:
            return _stricter(self.tiers[tier], _valid_alone(metadata, tier))


_FRACTIONAL = ("smooth_scale", "loss_budget")     # rules that need not be whole numbers


def dataset_overrides(metadata: dict[str, Any], tiers: dict[Tier, Rules] | None = None
                      ) -> dict[Tier, dict[str, int]]:
    """A dataset's `disclosure` object, checked: per tier, the rules it overrides. The one
    check, for ingest (which refuses the dataset) and for answers (which ignore it);
    ValueError names the offending key as `disclosure.<tier>.<rule>`. With the node's
    `tiers`, each tier's overrides are checked with its rules, as `DisclosurePolicy.rules`
    applies them: checked alone, a `rare_cost` above the node's budget passed at ingest,
    and the node ignored the whole override (a floor of 20 in it included)."""
    value = metadata.get(METADATA_KEY)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem = f"{METADATA_KEY}: must be an object of tiers ({', '.join(TIERS)})"
        raise ValueError(problem)  # noqa: TRY004 - a wrong value in a metadata file
    overrides: dict[Tier, dict[str, int]] = {}
    for tier, changes in value.items():
        where = f"{METADATA_KEY}.{tier}"
        if tier == PURPOSE_KEY:
            dataset_purpose_required(metadata)
            continue
        if tier not in TIERS:
            raise ValueError(f"{where}: not a tier ({', '.join(TIERS)}) nor {PURPOSE_KEY}")
        if not isinstance(changes, dict):
            raise ValueError(f"{where}: must be an object of rules")  # noqa: TRY004
        for rule, number in changes.items():
            if rule not in Rules.__dataclass_fields__:
                raise ValueError(f"{where}.{rule}: not a rule "
                                 f"({', '.join(Rules.__dataclass_fields__)})")
            wanted = (int, float) if rule in _FRACTIONAL else int
            if not isinstance(number, wanted) or isinstance(number, bool):
                problem = (f"{where}.{rule}: must be a number" if rule in _FRACTIONAL
                           else f"{where}.{rule}: must be a whole number")
                raise ValueError(problem)  # noqa: TRY004
        try:
            dataclasses.replace(Rules() if tiers is None else tiers[tier], **changes)
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from None
        overrides[tier] = changes
    return overrides


def _valid_alone(metadata: dict[str, Any], tier: Tier) -> dict[str, float]:
    """The rules of a dataset's `disclosure.<tier>` that are valid each on its own (a known
    rule, of its type, within its bounds), whatever else the object holds."""
    value = metadata.get(METADATA_KEY)
    changes = value.get(tier) if isinstance(value, dict) else None
    valid: dict[str, float] = {}
    for rule, number in (changes.items() if isinstance(changes, dict) else ()):
        wanted = (int, float) if rule in _FRACTIONAL else int
        if (rule not in Rules.__dataclass_fields__ or not isinstance(number, wanted)
                or isinstance(number, bool)):
            continue
        try:
            dataclasses.replace(Rules(), **{rule: number})
        except ValueError:
            continue
        valid[rule] = number
    return valid


_UNLIMITED_AT_0 = ("budget_per_window", "budget_per_day", "loss_budget")   # 0: no limit


def _stricter(rules: Rules, changes: dict[str, float]) -> Rules:
    """`rules` with each of `changes` where it is the stricter: the larger floor, step,
    cost, noise and width; the smaller budget or loss budget where one is a limit at all (0
    is none); a population floor of 0 (the whole dataset's row alone) over any other, else
    the larger. The smooth floor's scale, stricter neither way, stays `rules`'s. The cost of
    a rare hit is then held to the budgets, where it can be the whole of one. An override
    the node's rules stopped taking (a budget lowered below its `rare_cost`) was ignored
    whole: a dataset whose floor its operator had raised to 20 was answered with the node's
    5, silently (found by a review, 2026-12-05)."""
    kept: dict[str, float] = {}
    for rule, number in changes.items():
        given = getattr(rules, rule)
        if rule in _UNLIMITED_AT_0:
            kept[rule] = min(given, number) if given and number else given or number
        elif rule == "population_floor":
            kept[rule] = 0 if not given or not number else max(given, number)
        elif rule != "smooth_scale":
            kept[rule] = max(given, number)
    budgets = [b for b in (kept.get("budget_per_window", rules.budget_per_window),
                           kept.get("budget_per_day", rules.budget_per_day)) if b]
    if budgets:
        kept["rare_cost"] = min(kept.get("rare_cost", rules.rare_cost), *budgets)
    return dataclasses.replace(rules, **kept)


def dataset_purpose_required(metadata: dict[str, Any]) -> bool:
    """The dataset's `disclosure.purposeRequired` (false when absent); ValueError if it is
    not true or false."""
    value = metadata.get(METADATA_KEY)
    required = value.get(PURPOSE_KEY, False) if isinstance(value, dict) else False
    if not isinstance(required, bool):
        raise ValueError(f"{METADATA_KEY}.{PURPOSE_KEY}: must be true or false")  # noqa: TRY004
    return required


def tier_of(caller: Caller, dataset_keys: frozenset[GrantKey]) -> Tier:
    if caller.grants & dataset_keys:
        return "granted"
    return "bona_fide" if caller.registered else "anonymous"


def counted_by_token(caller: Caller) -> bool:
    """Whether a caller's budgets and loss accounts are its token's (issuer, sub) rather
    than its address's: a bona fide researcher's, or a caller's holding a grant, each an
    identity someone vetted. Any other token is answered at the anonymous tier, and an
    account at a trusted issuer costs a minute to make (Life Science Login takes any social
    account): counted by its subject, each account was a full anonymous budget and a fresh
    set of loss accounts from one address, as many as the caller cared to sign up."""
    return caller.identity is not None and (caller.registered or bool(caller.grants))


def ceiling(policy: DisclosurePolicy, access_level: str, dataset_keys: frozenset[GrantKey],
            caller: Caller) -> str | None:
    """The most the caller may see of a dataset (auth.policy), with this policy's rule that
    anonymous callers do not know REGISTERED or CONTROLLED datasets exist unless the operator
    opens boolean discovery to them; None = hidden."""
    level = AccessLevel(access_level)
    tier = tier_of(caller, dataset_keys)
    if tier == "anonymous" and level is not AccessLevel.PUBLIC:
        return "boolean" if policy.anonymous_discovery and not (
            policy.hide_controlled and level is AccessLevel.CONTROLLED) else None
    if tier == "bona_fide" and level is AccessLevel.CONTROLLED:
        return None if policy.hide_controlled else "count"
    return max_granularity(level, dataset_keys, caller, hide_controlled=policy.hide_controlled)


@dataclass(slots=True)
class ReportedCount:
    """A count as the caller may see it, and how it was adjusted. A value: never changed
    after it is made (one is shared, beacon/individuals.py _UNCOUNTED). Not declared frozen,
    as beacon/request.py's VariantQuery is not: a frozen dataclass sets each field through
    object.__setattr__, 0.5 µs of every count's answer."""

    value: int
    step: int = 1
    floor: int = 0         # counts of individuals below this are reported as 0 (individuals)
    noise: int = 0         # standard deviation of each layer of noise added (individuals)
    upper: int = 0         # a smooth floor's top: from floor to upper - 1, 0 at random

    @property
    def exists(self) -> bool:
        return self.value > 0

    @property
    def precision(self) -> str:
        if self.noise or (self.floor and self.value == 0):
            return "imprecise"
        return "exact" if self.step == 1 else "rounded"

    @property
    def adjusted_to(self) -> list[str]:
        """The same notes for every count of a tier, 0 or not: a note only some answers
        carried would tell them apart."""
        notes = [f"noise: two layers of standard deviation {self.noise}"] if self.noise else []
        if self.floor:
            notes.append(f"fewer than {self.floor} reported as 0")
        if self.upper > self.floor:
            notes.append(f"{self.floor} to {self.upper - 1} reported as 0 at random, "
                         "the fewer the likelier")
        return notes + ([] if self.step == 1 else [f"next multiple of {self.step}"])


def report(count: int, rules: Rules) -> ReportedCount:
    """`count` rounded up to the tier's step: 0 stays 0, anything else becomes at least the
    step, so `exists` and the count always agree."""
    return ReportedCount(_rounded(count, rules.count_step), rules.count_step)


def _rounded(count: int, step: int) -> int:
    return step * math.ceil(count / step) if count > 0 else 0


def report_individuals(count: int, rules: Rules, seeds: tuple[str, ...] = (),
                       *, filtered: bool = True, drawn: bool | None = None) -> ReportedCount:
    """A count of individuals, for which a floor per response is not enough: two counts whose
    sets differ by one person (`onset > P30Y` and `onset >= P30Y`) differ by that person.

    1. **The floor** k (`allele_floor`): fewer than k individuals are reported as none, as a
       variant carried by fewer than k people does not exist for the tier. Counts from 1 up
       to k used to be reported as k: noise, lumping and rounding never turn nobody into
       somebody, so filters that select one person (a rare disease) with a variant
       condition added asked whether that person carries the variant, and got the true
       answer each time; and the count of the filters alone told that someone with that
       disease is there, which the filtering terms' list hides.
    2. **The smooth floor** (the tier's, as variants have it: `smooth_width`,
       `smooth_scale`; beacon/visibility.py Floor), for a set the question's filters chose
       (`filtered`): a set of c people, k <= c < `upper`, is reported at all only as
       `_set_draw` draws. A sharp floor was an edge a tracker walks to: with an age bound
       searched until a set holds k - 1 people, adding one person back (dropping an `!`
       filter) answered "some" exactly when that person carried the variant asked about,
       53 of 62 genotypes read with no error (tests/test_individuals.py,
       test_a_tracker_at_the_floor_reads_no_genotype). Next to the edge one person now
       changes the chance of "some" by p(c) - p(c - 1): 1.8% at k, at most 1 / (4 scale)
       (17% at the default 1.5, at k + width). Without filters the set is everyone, or the
       carriers of the variants matched, whose own floor (smooth, with per-person loss
       accounting) already decided whether they are shown: a second, unaccounted draw on
       the same people was a channel of its own (the membership attack through individuals
       counts, tests/test_membership.py, rose from power 0.14 to 0.21). With filters and a
       variant condition, where the caller's losses are kept, each draw is made against the
       set's people the caller still counts, charged to them and kept, as a variant's answer
       is (beacon/losses.py charge_set, beacon/individuals.py _as_seen).
    3. **Sticky noise** (`count_noise`, σ): the sum of two draws from normal distributions of
       standard deviation σ each (rounded to a whole number), seeded by `seeds`: keyed hashes of
       exactly which individuals matched and of the question as normalised
       (beacon/individuals_store.py; the key never leaves the database). Asking the same
       question again, or in other words that normalise alike (P30Y, P360M), gets the same
       answer, so repetition averages nothing away. Two sets differing by one person draw
       independent noise, so their difference no longer tells whether that person is in;
       and two questions selecting the same set draw different noise, so equal answers do
       not tell that nobody lies between them (layered noise, as in Diffix). What remains,
       averaging over many distinct questions, costs budget for every one of them.
       A count reported at all stays at least k.
    4. **Rounding** up to the step, as every count.

    `drawn`: the smooth floor of sets' decision where the loss accounting made it (beacon/
    losses.py charge_set), in place of the draw made here."""
    floor = rules.allele_floor if rules.allele_floor > 1 else 0
    smooth = rules.floor
    upper = smooth.upper if smooth.smooth else 0
    if count < floor:
        return ReportedCount(0, rules.count_step, floor, rules.count_noise, upper)
    layers = _noise_layers(seeds, rules.count_noise) if count > 0 else ()
    if filtered and drawn is None:
        draw = _set_draw(count, layers[0] if layers else 0.0, smooth, seeds)
        drawn = draw is None or draw.shown(smooth, count)
    if filtered and not drawn:
        return ReportedCount(0, rules.count_step, floor, rules.count_noise, upper)
    if layers:
        count = max(floor or 1, count + round(sum(layers)))
    return ReportedCount(_rounded(count, rules.count_step), rules.count_step, floor,
                         rules.count_noise, upper)


def term_listed(holders: int, rules: Rules) -> bool:
    """Whether the filtering terms' list names a term `holders` individuals of a dataset
    hold: at least the floor k (1 where the floor is off), so the list does not tell that
    someone with a rare disease is there. A sharp edge, unlike counts' smooth floor of sets
    (report_individuals), and it need not be smooth: the list's sets are fixed, one per
    term and dataset version, and the caller cannot move them (no filter, no variant
    condition), so there is no edge to walk a tracker to; "this term has k or more holders"
    is what a count of it above 0 says too. Smooth, it would hide from the portal's
    dropdown most terms held by k to a few dozen people, which their counts then answer
    with the smooth floor anyway."""
    return holders >= max(rules.allele_floor, 1)


def needs_seeds(rules: Rules, filtered: bool) -> bool:
    """Whether report_individuals reads a count's `seeds` under these rules: for its noise, or
    for the smooth floor of a set the filters chose. Not under a grant's exact counts, whose
    statement then spends nothing on them (beacon/individuals_store.py `_digests`)."""
    return bool(rules.count_noise) or (filtered and rules.floor.smooth)


def _noise_layers(seeds: tuple[str, ...], noise: int) -> tuple[float, ...]:
    """The noise's draws, one per seed (the set's, then the question's), each normal of
    standard deviation `noise`; none without noise."""
    if not noise:
        return ()
    return tuple(random.Random(int(seed[:16] or "0", 16)).gauss(0, noise)
                 for seed in seeds or ("",))


# How many show-or-hide draws one set gets, whatever the questions that select it: a set
# of k is shown by a draw of a few percent, and a set of k - 1 never, so one "some" among
# enough rewordings of a question proved k; 150 rewordings read 48% of carriers (a review,
# 2026-12-03), 4 draws a set about 9%. More than 1, so that two questions selecting one
# set can still be answered apart (a changed answer proves no changed set).
DRAWS_PER_SET = 4


@dataclass(frozen=True)
class SetDraw:
    """One of a set's DRAWS_PER_SET show-or-hide draws under the smooth floor of sets
    (`_set_draw`): which it is (`key`; None where there are no seeds to draw for, and the
    set is never shown), its uniform number, and the set's jitter. Where a caller's losses
    are kept, the draw is made against the people it still counts, charged to them and
    kept (beacon/losses.py charge_set)."""

    key: str | None
    uniform: float = 1.0
    jitter: float = 0.0

    def shown(self, floor: Floor, count: float) -> bool:
        """Whether a set of `count` people is shown by this draw: when it falls below
        p(count + the set's jitter)."""
        return self.key is not None and self.uniform < floor.probability(count + self.jitter)


def _set_draw(count: int, jitter: float, floor: Floor, seeds: tuple[str, ...]
              ) -> SetDraw | None:
    """The draw for a set of `count` (at least k) people under the tier's floor; None where
    none is made, the set always shown: a sharp floor, or a set from the floor's top up.
    The draw is 32 bits of a hash of the set's seed and one of DRAWS_PER_SET buckets the
    question's seed falls in (keyed digests, so no caller can compute either): two questions
    of one set draw apart unless they share a bucket. The jitter is the set's own layer of
    the noise (`_noise_layers`), fixed for the set: without it, about 150 rewordings (an age
    bound moved by half a day, which selects the same people) each of a set and of that set
    without a target averaged their draws to p(c), and told the target's genotype 9 times in
    10 (a probe, 2026-12-03)."""
    if not floor.smooth or count >= floor.upper:
        return None
    if len(seeds) < 2 or not all(seeds[:2]) or len(seeds[1]) < 32:
        return SetDraw(None)
    bucket = int(seeds[1][24:32], 16) % DRAWS_PER_SET
    both = hashlib.blake2b(f"{seeds[0]}:{bucket}".encode(), digest_size=4).digest()
    return SetDraw(f"set {seeds[0]} {bucket}", int.from_bytes(both) / 4294967296, jitter)


def filtered_set_draw(count: int, rules: Rules, seeds: tuple[str, ...]) -> SetDraw | None:
    """The draw report_individuals makes for a count of `count` individuals whose set the
    question's filters chose, with the same `seeds`; None when it makes none (fewer than the
    floor, reported as 0 whatever the draw; nobody; a sharp floor; a set from the floor's
    top up; no seeds). For the loss accounting, which charges the set's people for it."""
    if count < max(rules.allele_floor, 1):
        return None
    layers = _noise_layers(seeds, rules.count_noise)
    draw = _set_draw(count, layers[0] if layers else 0.0, rules.floor, seeds)
    return draw if draw is not None and draw.key is not None else None


PRECISIONS = ("exact", "rounded", "imprecise")       # Beacon v2.2, finest to coarsest


def precision_fields(counts: list[ReportedCount]) -> dict[str, Any]:
    """`countPrecision` (and `countAdjustedTo` when adjusted, Beacon v2.2) for a summary or
    resultSet reporting these counts (a total: the coarsest of its parts). One count, as
    every resultSet and most summaries report, says its own (combined_precision's answer
    for it, without the sort and the merge), made once for each way a tier reports a count
    (`_FIELDS`): shared, so its callers copy it into what they answer, never change it."""
    if len(counts) == 1:
        count = counts[0]
        key = (count.step, count.floor, count.noise, count.upper, count.value == 0)
        fields = _FIELDS.get(key)
        if fields is None:
            adjusted = count.adjusted_to
            fields = {"countPrecision": count.precision}
            if adjusted:
                fields["countAdjustedTo"] = list(dict.fromkeys(adjusted))
            if len(_FIELDS) >= _FIELDS_MOST:
                _FIELDS.clear()
            _FIELDS[key] = fields
        return fields
    return combined_precision(
        {"countPrecision": c.precision, "countAdjustedTo": c.adjusted_to}
        for c in sorted(counts, key=lambda c: c.step))


# precision_fields of one count, by what its fields depend on (step, floor, noise, upper
# and whether it is 0): a tier's rules, so a few; made for each count, they were about 1k
# instructions of every response's 35k
_FIELDS: dict[tuple[int, int, int, int, bool], dict[str, Any]] = {}
_FIELDS_MOST = 256


def combined_precision(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The precision of a total of counts reported with these fields (this node's, or the
    peers' summaries in the network's total): the coarsest, with every adjustment made, in
    the order first made. A part that states no precision (a Beacon v2.0 peer's: the field
    came with v2.2) or one of no known value leaves the total's unknown, and then none is
    stated: `exact` would claim what nobody said of that part, and the coarsest, `imprecise`,
    that it was adjusted, which nobody said either. The adjustments stated still are, each
    once: gathered as a dict's keys, in constant time each, not searched for in a list (two
    peers stating 40,000 each took 6 s of the network node's one event loop)."""
    precision: str | None = "exact"
    adjusted: dict[str, None] = {}
    for part in parts:
        given = part.get("countPrecision")
        if given not in PRECISIONS:
            precision = None
        elif precision is not None and PRECISIONS.index(given) > PRECISIONS.index(precision):
            precision = given
        more = part.get("countAdjustedTo")
        if isinstance(more, list):
            adjusted.update(dict.fromkeys(a for a in more if isinstance(a, str)))
    return {**({"countPrecision": precision} if precision else {}),
            **({"countAdjustedTo": list(adjusted)} if adjusted else {})}


def is_rare(rarest: int | None, rules: Rules) -> bool:
    """Whether a hit's rarest matched variant (its carriers, or where they are unknown
    ceil(AC / 2), as the floor counts them) is just above the floor: what a membership
    attack asks about, so it costs more budget."""
    return rarest is not None and rarest < rules.rare_below
