"""The disclosure engine's rules on their own (beacon/disclosure.py): who sees which dataset,
how counts are reported, how configuration and a dataset's metadata set the rules. The attacks
they defeat run against a live node in tests/test_disclosure.py and tests/test_membership.py."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import random
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from auth.policy import ANONYMOUS, Caller, Identity
from beacon.datasets import visible
from beacon.disclosure import (
    DEFAULT_TIERS,
    DRAWS_PER_SET,
    RULE_MAX,
    DisclosurePolicy,
    ReportedCount,
    Rules,
    ceiling,
    combined_precision,
    needs_seeds,
    precision_fields,
    report,
    report_individuals,
    tier_of,
)
from beacon.store import DatasetRow
from catalogue.metadata import DatasetMetadata, MetadataError
from node.ingest_request import make_request
from node.settings import Settings

if TYPE_CHECKING:
    from asyncpg import BitString

KEYS = frozenset({"GDI-FI-SYN-001"})
PERSON = Identity("https://aai.example", "someone")
BONA_FIDE = Caller(PERSON, registered=True)
GRANTED = Caller(PERSON, registered=True, grants=KEYS)
PLAIN_TOKEN = Caller(PERSON)
# a grant from the dataset's access committee, without the bona fide visas
GRANT_ONLY = Caller(PERSON, grants=KEYS)


@pytest.mark.parametrize(("caller", "level", "options", "expected"), [
    (ANONYMOUS, "PUBLIC", {}, "record"),
    (ANONYMOUS, "REGISTERED", {}, None),          # anonymous callers do not learn it exists
    (ANONYMOUS, "CONTROLLED", {}, None),
    (PLAIN_TOKEN, "CONTROLLED", {}, None),        # a token without bona fide status: the same
    (ANONYMOUS, "REGISTERED", {"anonymous_discovery": True}, "boolean"),
    (ANONYMOUS, "CONTROLLED", {"anonymous_discovery": True}, "boolean"),
    (ANONYMOUS, "CONTROLLED", {"anonymous_discovery": True, "hide_controlled": True}, None),
    (BONA_FIDE, "REGISTERED", {}, "count"),
    (BONA_FIDE, "CONTROLLED", {}, "count"),
    (BONA_FIDE, "CONTROLLED", {"hide_controlled": True}, None),
    (GRANTED, "CONTROLLED", {"hide_controlled": True}, "record"),
    (GRANTED, "REGISTERED", {}, "count"),
    # as docs/auth.md's table says: a grant, with or without the bona fide visas, is a count
    # on a REGISTERED dataset (it was a boolean without them, less than a bona fide caller
    # without a grant sees; found by a review, 2026-12-05)
    (GRANT_ONLY, "REGISTERED", {}, "count"),
    (GRANT_ONLY, "CONTROLLED", {}, "record"),
])
def test_who_sees_which_dataset(caller, level, options, expected):
    assert ceiling(DisclosurePolicy(**options), level, KEYS, caller) == expected


def test_tiers():
    assert [tier_of(c, KEYS) for c in (ANONYMOUS, PLAIN_TOKEN, BONA_FIDE, GRANTED)] == [
        "anonymous", "anonymous", "bona_fide", "granted"]
    assert tier_of(GRANTED, frozenset({"GDI-FI-SYN-002"})) == "bona_fide"


@pytest.mark.parametrize(("count", "step", "value"), [
    (0, 5, 0), (1, 5, 5), (5, 5, 5), (6, 5, 10), (3, 1, 3), (0, 1, 0)])
def test_counts_round_up_so_exists_and_count_agree(count, step, value):
    reported = report(count, Rules(count_step=step))
    assert reported.value == value
    assert reported.exists is (count > 0)


def test_precision_fields_say_how_a_count_was_adjusted():
    exact, rounded = report(3, Rules()), report(3, Rules(count_step=5))
    assert precision_fields([exact]) == {"countPrecision": "exact"}
    assert precision_fields([]) == {"countPrecision": "exact"}
    assert precision_fields([exact, rounded, report(1, Rules(count_step=10))]) == {
        "countPrecision": "rounded",
        "countAdjustedTo": ["next multiple of 5", "next multiple of 10"]}


def test_a_total_with_a_part_of_unknown_precision_states_none():
    """A part without `countPrecision` (a Beacon v2.0 peer) or with a value of no known
    meaning: the total is not exact as far as anyone said, nor known to be adjusted."""
    rounded = {"countPrecision": "rounded", "countAdjustedTo": ["next multiple of 5"]}
    assert combined_precision([{"countPrecision": "exact"}, {}]) == {}
    assert combined_precision([{}, rounded]) == {"countAdjustedTo": ["next multiple of 5"]}
    assert combined_precision([{"countPrecision": "roughly"}]) == {}
    assert combined_precision([{"countPrecision": "exact"}, rounded]) == rounded


@pytest.mark.parametrize("count", [
    ReportedCount(3), ReportedCount(5, 5), ReportedCount(0, 5), ReportedCount(10, 10, 10, 0),
    ReportedCount(12, 1, 10, 3), ReportedCount(10, 10, 10, 3), ReportedCount(20, 10, 0, 2),
    report_individuals(1, Rules(allele_floor=5, count_step=5, count_noise=2), ("ab", "cd"))])
def test_one_counts_precision_is_what_combining_it_alone_says(count):
    """precision_fields' shortcut for one count: the general combination's answer."""
    assert precision_fields([count]) == combined_precision(
        [{"countPrecision": count.precision, "countAdjustedTo": count.adjusted_to}])


def test_an_override_the_nodes_rules_make_invalid_is_refused_at_ingest(monkeypatch):
    """A dataset's override is checked with the node's rules for its tier, as the node
    applies it: `rare_cost` 400 checked alone was accepted at ingest (no budget), and the
    node, finding it above the anonymous budget of 300, ignored the whole override, its
    floor of 20 with it, and answered anonymous callers with the floor of 5."""
    disclosure = {"anonymous": {"allele_floor": 20, "rare_cost": 400}}
    # stored by a node that took it, its stricter rules still hold (test_an_override_the_
    # nodes_rules_stopped_fitting_keeps_its_stricter_rules)
    assert DisclosurePolicy().rules("anonymous", {"disclosure": disclosure}).allele_floor == 20
    metadata = DatasetMetadata.model_validate({
        "identifier": "GDI-FI-SYN-001", "title": "t", "description": "d",
        "accessLevel": "PUBLIC", "disclosure": disclosure})
    with pytest.raises(MetadataError, match=r"disclosure\.anonymous\.rare_cost: must be at "
                                            r"most budget_per_window \(300\)"):
        make_request(Path("x.vcf.gz"), "GDI-FI-SYN-001", metadata=metadata)
    # a node whose anonymous budget takes it
    monkeypatch.setenv("GDI_NODE_DISCLOSURE", '{"anonymous": {"budget_per_window": 500}}')
    policy = Settings().disclosure_policy()
    assert make_request(Path("x.vcf.gz"), "GDI-FI-SYN-001", metadata=metadata,
                        policy=policy).metadata["disclosure"] == disclosure
    assert policy.rules("anonymous", {"disclosure": disclosure}).allele_floor == 20


def test_an_override_the_nodes_rules_stopped_fitting_keeps_its_stricter_rules():
    """An override loaded when the node's rules took it, which they no longer do (a budget
    lowered below its `rare_cost`), or stored before a check refused a part of it: the
    node ignored it whole, and a dataset whose operator had raised its floor to 20 was
    answered with the floor of 5, an exact count and no budget of its own, silently. Each
    rule of it that is valid alone now holds where it is stricter than the node's (the
    floor, the step, the noise, the width; the smaller budget that is one), the rest are
    the node's, and `rare_cost` is held to the budget (every rare question costs a whole
    window): a rule the operator tightened is never loosened."""
    policy = DisclosurePolicy()
    anonymous = DEFAULT_TIERS["anonymous"]
    stale = {"disclosure": {"anonymous": {"allele_floor": 20, "count_step": 10,
                                          "rare_cost": 400, "rare_below": 40,
                                          "budget_per_day": 50, "count_noise": 1,
                                          "smooth_scale": 3.0}}}
    assert policy.rules("anonymous", stale) == dataclasses.replace(
        anonymous, allele_floor=20, count_step=10, rare_cost=50, rare_below=40,
        budget_per_day=50)
    # a part refused whatever the node's rules: the rest of it still holds, where stricter
    older = {"disclosure": {"anonymous": {"allele_floor": 20, "colour": "red",
                                          "count_step": 1, "population_floor": 3},
                            "bona_fide": {"loss_budget": 0.25, "budget_per_window": 0}}}
    assert policy.rules("anonymous", older) == dataclasses.replace(anonymous, allele_floor=20)
    assert policy.rules("bona_fide", older) == dataclasses.replace(
        DEFAULT_TIERS["bona_fide"], loss_budget=0.25)
    # unlimited (0) budgets and no loss accounting are the loosest
    opened = DisclosurePolicy(tiers={**DEFAULT_TIERS, "granted": Rules()})
    tightened = {"disclosure": {"granted": {"budget_per_window": 10, "loss_budget": 0.5,
                                            "smooth_width": 4, "allele_floor": 5,
                                            "population_floor": 0, "rare_cost": 20}}}
    assert opened.rules("granted", tightened) == Rules(
        budget_per_window=10, loss_budget=0.5, smooth_width=4, allele_floor=5,
        population_floor=0, rare_cost=10)


def test_a_datasets_metadata_overrides_its_tiers_rules_and_nothing_else():
    policy = DisclosurePolicy()
    loosened = {"disclosure": {"anonymous": {"allele_floor": 1, "count_step": 1}}}
    assert policy.rules("anonymous", loosened) == dataclasses.replace(
        DEFAULT_TIERS["anonymous"], allele_floor=1, count_step=1)
    assert policy.rules("bona_fide", loosened) == DEFAULT_TIERS["bona_fide"]
    for invalid in ({"disclosure": {"anonymous": {"allele_floor": 0}}},
                    {"disclosure": {"anonymous": {"allele_floor": True}}},
                    {"disclosure": {"anonymous": {"allele_floor": 5.5}}},
                    {"disclosure": {"anonymous": {"smooth_scale": 0}}},
                    {"disclosure": {"anonymous": {"loss_budget": -1}}},
                    {"disclosure": {"anonymous": {"allele_floor": 2**63 - 1}}},
                    {"disclosure": {"anonymous": {"smooth_scale": 1e308}}},
                    {"disclosure": {"anonymous": {"loss_budget": math.inf}}},
                    {"disclosure": "none"}):
        assert policy.rules("anonymous", invalid) == DEFAULT_TIERS["anonymous"]
    # the smooth floor's scale and the loss budget need not be whole numbers
    smoother = {"disclosure": {"bona_fide": {"smooth_width": 5, "smooth_scale": 2.5,
                                             "loss_budget": 0.25}}}
    rules = policy.rules("bona_fide", smoother)
    assert (rules.floor.scale, rules.loss_budget) == (2.5, 0.25)
    assert DEFAULT_TIERS["bona_fide"].floor.scale == 1.5
    # a width of 0 makes it sharp, and a sharp floor keeps no losses
    sharp = policy.rules("bona_fide", {"disclosure": {"bona_fide": {"smooth_width": 0}}})
    assert not sharp.floor.smooth and not sharp.accounts_losses
    # a floor of 1 shows everything, whatever the width: loosening stays loosening
    loose = policy.rules("anonymous", loosened)
    assert not loose.floor.smooth and not loose.accounts_losses


def test_the_settings_bound_the_rules_where_the_rules_do():
    """The settings refuse a rule past the bound the rules themselves keep (RULE_MAX), so a
    configured rule fails with its setting's name, never later as a Rules error."""
    from node.settings import TierSettings
    for name, field_info in TierSettings.model_fields.items():
        assert any(getattr(m, "le", None) == RULE_MAX for m in field_info.metadata), name
    assert Rules(allele_floor=RULE_MAX, smooth_width=RULE_MAX, count_step=RULE_MAX,
                 smooth_scale=RULE_MAX, loss_budget=RULE_MAX).allele_floor == RULE_MAX


def test_settings_build_the_policy_from_the_defaults(monkeypatch):
    monkeypatch.setenv("GDI_NODE_DISCLOSURE", '{"anonymous": {"allele_floor": 10}, '
                                              '"anonymous_discovery": true}')
    policy = Settings().disclosure_policy()
    assert policy.tiers["anonymous"].allele_floor == 10
    assert policy.tiers["anonymous"].budget_per_window == 300          # default kept
    assert policy.tiers["bona_fide"] == DEFAULT_TIERS["bona_fide"]
    assert policy.anonymous_discovery is True
    monkeypatch.setenv("GDI_NODE_DISCLOSURE", '{"anonymous": {"allele_floor": 0}}')
    with pytest.raises(ValueError, match="allele_floor"):
        Settings()


def test_a_rare_cost_above_a_tiers_budget_is_refused_naming_both(monkeypatch):
    """A question needs `rare_cost` units left to be asked: above the budget, a tier
    answered nothing, every question refused and told to retry in 1 s. Refused when the
    rules are made, and by the settings with the tier's name, over the default budgets as
    well as its own."""
    assert Rules(budget_per_window=5, rare_cost=5).rare_cost == 5
    assert Rules(rare_cost=50).rare_cost == 50                    # no budget: never asked
    for budgets in ({"budget_per_window": 4}, {"budget_per_window": 10, "budget_per_day": 4}):
        with pytest.raises(ValueError, match="rare_cost: must be at most budget_per_"):
            Rules(rare_cost=5, **budgets)
    monkeypatch.setenv("GDI_NODE_DISCLOSURE", '{"anonymous": {"rare_cost": 301}}')
    with pytest.raises(ValueError, match=r"anonymous\.rare_cost: must be at most "
                                         r"budget_per_window \(300\)"):
        Settings()
    monkeypatch.setenv("GDI_NODE_DISCLOSURE", '{"anonymous": {"rare_cost": 301, '
                                              '"budget_per_window": 400}}')
    assert Settings().disclosure_policy().tiers["anonymous"].rare_cost == 301


@pytest.mark.parametrize(("disclosure", "message"), [
    ({"anonymous": {"allele_floor": 0}}, "disclosure.anonymous.allele_floor"),
    ({"anonymous": {"allele_floor": 2**31}},
     "disclosure.anonymous.allele_floor: must be at most 2,147,483,647"),
    ({"bona_fide": {"count_step": 2**63 - 1}}, "disclosure.bona_fide.count_step: must be at most"),
    ({"granted": {"smooth_scale": 1e308}}, "disclosure.granted.smooth_scale: must be at most"),
    ({"everyone": {"allele_floor": 2}}, "disclosure.everyone"),
    ({"anonymous": {"floor": 2}}, "disclosure.anonymous.floor"),
    ({"purposeRequired": "yes"}, "disclosure.purposeRequired"),
])
def test_an_invalid_override_in_a_metadata_file_is_refused_at_ingest(disclosure, message):
    metadata = DatasetMetadata.model_validate({
        "identifier": "GDI-FI-SYN-001", "title": "t", "description": "d",
        "accessLevel": "PUBLIC", "disclosure": disclosure})
    with pytest.raises(MetadataError, match=message):
        make_request(Path("x.vcf.gz"), "GDI-FI-SYN-001", metadata=metadata)


def test_a_purpose_is_required_where_the_node_or_the_dataset_asks():
    asks = {"disclosure": {"purposeRequired": True, "anonymous": {"count_step": 10}}}
    assert DisclosurePolicy().needs_purpose(asks)
    assert DisclosurePolicy().rules("anonymous", asks).count_step == 10   # tiers still read
    assert not DisclosurePolicy().needs_purpose({})
    assert DisclosurePolicy(purpose_required=True).needs_purpose({})
    assert DisclosurePolicy().needs_purpose({"disclosure": {"purposeRequired": 1}})  # invalid


@pytest.mark.parametrize(("count", "floor", "step", "value", "precision"), [
    (0, 5, 1, 0, "imprecise"), (1, 5, 1, 0, "imprecise"), (4, 5, 1, 0, "imprecise"),
    (5, 5, 1, 5, "exact"), (6, 5, 1, 6, "exact"), (3, 5, 5, 0, "imprecise"),
    (7, 5, 5, 10, "rounded"), (0, 1, 1, 0, "exact"), (2, 1, 1, 2, "exact")])
def test_counts_of_individuals_below_the_floor_are_none(count, floor, step, value,
                                                        precision):
    """Fewer than k individuals are reported as none, and every count of the tier carries
    the same notes, so that a 0 does not say whether nobody or a few matched. Counts from 1
    to k were reported as k: a filter that selects one person (a rare disease) plus a
    variant condition then told whether that person carries the variant, every time."""
    rules = Rules(allele_floor=floor, count_step=step)
    reported = report_individuals(count, rules)
    assert (reported.value, reported.precision) == (value, precision)
    assert reported.exists is (count >= floor)
    assert reported.adjusted_to == report_individuals(0, rules).adjusted_to
    noisy = dataclasses.replace(rules, count_noise=2)
    digests = [hashlib.md5(str(n).encode()).hexdigest() for n in range(50)]
    noisy_values = {report_individuals(count, noisy, (d,)).value for d in digests}
    assert noisy_values == {0} if value == 0 else min(noisy_values) >= floor


def test_noise_is_sticky_to_its_seeds_and_never_makes_a_count_vanish():
    rules = Rules(allele_floor=1, count_noise=2)
    seeds = ("0f" * 16, "a1" * 16)
    assert report_individuals(40, rules, seeds) == report_individuals(40, rules, seeds)
    digests = [hashlib.md5(str(n).encode()).hexdigest() for n in range(50)]
    values = {report_individuals(40, rules, (d, "a1" * 16)).value for d in digests}
    assert len(values) > 3 and all(26 <= v <= 54 for v in values)
    assert all(report_individuals(1, rules, (d,)).value >= 1 for d in digests)
    floored = Rules(allele_floor=5, count_noise=2)
    assert all(report_individuals(5, floored, (d,)).value >= 5 for d in digests)
    assert report_individuals(0, rules, seeds).value == 0
    assert report_individuals(40, rules, seeds).precision == "imprecise"


@pytest.mark.parametrize("filtered", [False, True])
def test_a_count_is_reported_without_its_seeds_exactly_where_none_is_needed(filtered):
    """needs_seeds says which counts the statement may leave unseeded (beacon/
    individuals_store.py `_digests`): where it is false, every count is reported the same
    with its seeds as without them; where it is true, some count is not. The default tiers
    need them, a grant does not."""
    digests = [hashlib.md5(str(n).encode()).hexdigest() for n in range(40)]
    tiers = [*DEFAULT_TIERS.values(), Rules(allele_floor=5, count_step=5),
             Rules(allele_floor=5, smooth_width=6), Rules(allele_floor=1, count_noise=1),
             Rules(allele_floor=3, smooth_width=4, smooth_scale=1.0, count_step=2)]
    for rules in tiers:
        differs = any(report_individuals(count, rules, (a, b), filtered=filtered)
                      != report_individuals(count, rules, ("", ""), filtered=filtered)
                      for count in range(45) for a, b in itertools.pairwise(digests))
        assert needs_seeds(rules, filtered) is differs, rules
    assert needs_seeds(DEFAULT_TIERS["anonymous"], filtered)
    assert needs_seeds(DEFAULT_TIERS["bona_fide"], filtered)
    assert not needs_seeds(DEFAULT_TIERS["granted"], filtered)


def test_sets_near_the_floor_are_reported_as_the_smooth_floor_draws():
    """Under a smooth floor a set of c people (k <= c < the floor's top) is reported at all
    with probability p(c + the set's jitter); sets of fewer than k never, from the top
    always. A sharp line at k let a tracker read a person's genotype off one question
    (tests/test_individuals.py::test_a_tracker_at_the_floor_reads_no_genotype). The draw
    is the question's and the set's together: asked again, the same; the same set asked
    another way, drawn anew, so a changed answer does not prove a changed set."""
    rules = Rules(allele_floor=5, count_step=1, smooth_width=6, smooth_scale=1.5)
    floor = rules.floor
    digests = [hashlib.md5(str(n).encode()).hexdigest() for n in range(4000)]
    question = hashlib.md5(b"question").hexdigest()
    for count in (4, 5, 8, 11, 14, floor.upper - 1, floor.upper, 200):   # no noise: no jitter
        expected = floor.probability(count)
        shown = [report_individuals(count, rules, (d, question)).exists for d in digests]
        assert abs(sum(shown) / len(shown) - expected) < 0.03, (count, expected)
    assert not any(report_individuals(4, rules, (d, question)).exists for d in digests)
    assert all(report_individuals(floor.upper, rules, (d,)).exists for d in digests)
    assert [report_individuals(11, rules, (d, question)) for d in digests[:100]] == [
        report_individuals(11, rules, (d, question)) for d in digests[:100]]
    # the same sets under two questions each: at p 1/2 they disagree half the time when
    # their questions fall in two of the set's draws, which three times in four they do
    questions = [hashlib.md5(f"q{n}".encode()).hexdigest() for n in range(40)]
    disagree = [report_individuals(11, rules, (d, a)).exists
                != report_individuals(11, rules, (d, b)).exists
                for d in digests[:200] for a, b in itertools.pairwise(questions)]
    assert 0.33 < sum(disagree) / len(disagree) < 0.42
    assert not report_individuals(11, rules, (digests[0],)).exists     # seeds missing: none
    # no filters: everyone, or the carriers of variants their own floor already drew
    assert all(report_individuals(5, rules, (d, question), filtered=False).exists
               for d in digests)
    notes = report_individuals(0, rules).adjusted_to
    assert notes == report_individuals(40, rules, (digests[0], question)).adjusted_to
    assert f"5 to {floor.upper - 1} reported as 0 at random, the fewer the likelier" in notes


def test_rewording_a_question_gets_a_set_few_draws():
    """The questions that select one set are many (an age bound moved by half a day), and
    each drew anew: a set of k, shown by a draw of a few percent, was shown at least once
    among 150 rewordings for 48% of such sets, and a set of k - 1 never is, so that "some"
    proved k (a review). A set now gets DRAWS_PER_SET draws whatever the questions, with
    probability p(c + the set's jitter), the jitter its own layer of the noise, so that
    their share tells c + jitter, as the mean of their counts does, not c."""
    rules = Rules(allele_floor=5, count_step=5, count_noise=2, smooth_width=6,
                  smooth_scale=1.5)
    questions = [hashlib.md5(f"q{n}".encode()).hexdigest() for n in range(150)]
    sets = [hashlib.md5(f"set {n}".encode()).hexdigest() for n in range(400)]
    ever = [any(report_individuals(5, rules, (one, q)).exists for q in questions)
            for one in sets]
    assert sum(ever) / len(ever) < 0.15, sum(ever)
    for one in sets[:40]:
        outcomes = {report_individuals(11, rules, (one, q)).exists for q in questions}
        shares = [report_individuals(11, rules, (one, q)).exists for q in questions]
        assert len(outcomes) <= 2
        assert min(abs(sum(shares) / len(shares) - j / DRAWS_PER_SET)
                   for j in range(DRAWS_PER_SET + 1)) < 0.12
    jitters = [random.Random(int(one[:16], 16)).gauss(0, 2) for one in sets]
    high = [one for one, j in zip(sets, jitters) if j > 2]
    low = [one for one, j in zip(sets, jitters) if j < -2]
    share = {name: sum(report_individuals(11, rules, (one, questions[0])).exists
                       for one in group) / len(group)
             for name, group in (("high", high), ("low", low))}
    assert share["high"] > share["low"] + 0.3, share         # p(11 + jitter), not p(11)


def _lumped(n: int, rules: Rules) -> int:
    """A population's count as the tier reads it: rounded up to the step, 1 to the floor
    reported as the floor (rounded)."""
    floor = report(rules.allele_floor, rules).value if rules.allele_floor > 1 else 0
    value = report(n, rules).value
    return floor if 0 < value <= floor else value


@pytest.mark.parametrize(("floor", "step"), [(1, 1), (5, 1), (5, 5), (3, 10)])
def test_population_rows_report_counts_as_the_engine_does(floor, step):
    """beacon/populations.py writes the engine's rounding out as integer arithmetic (a record
    page calls it per population per record): it must agree with `report` and the lumping
    rule for every count; a row with a lumped count of one zygosity gives none, which its
    exact allele count would undo (homozygous = (alleles - heterozygous) / 2)."""
    from beacon.populations import Frequency, frequencies
    rules = Rules(allele_floor=floor, count_step=step, count_noise=3)
    quiet = Rules(allele_floor=floor, count_step=step)
    for n in range(40):
        [row] = frequencies([Frequency("FI", 50, n, n + 7, n // 3, n // 2, n // 4)], rules)
        assert row["alleleCount"] == _lumped(n, quiet)
        assert row["alleleNumber"] == _lumped(n + 7, quiet)
        parts = (n // 3, n // 2, n // 4)
        if any(0 < part and _lumped(part, quiet) <= _lumped(1, quiet) for part in parts) and (
                floor > 1):
            assert "alleleCountHomozygous" not in row and "alleleCountHeterozygous" not in row
            continue
        assert row["alleleCountHomozygous"] == _lumped(n // 3, quiet)
        assert row["alleleCountHeterozygous"] == _lumped(n // 2, quiet)
        assert row["alleleCountHemizygous"] == _lumped(n // 4, quiet)
    assert frequencies([Frequency("FI_F", floor - 1, 3, 8, 0, 3, 0)], rules) == (
        [] if floor > 1 else frequencies([Frequency("FI_F", 0, 3, 8, 0, 3, 0)], rules))


def _random_population(seed: int) -> tuple[
        int, list[tuple[int, str, str | None]],
        list[tuple[str, BitString, BitString, int, int]], dict[str, set[int]]]:
    """From `seed`: a file's sample count (1 to 60), its individuals (nine samples in ten
    described: a sex, or unknown, and a country of up to three, or none), their population
    rows, and the samples each row holds."""
    from beacon.populations import population_rows
    rng = random.Random(seed)
    samples = rng.randint(1, 60)
    countries = rng.sample(["FI", "SE", "ES", "DE"], rng.randint(1, 3))
    individuals = [(i, rng.choice(["MALE", "FEMALE", "MALE", "FEMALE", "UNKNOWN_SEX"]),
                    rng.choice([*countries, *countries, None]))
                   for i in range(samples) if rng.random() < 0.9]
    rows = population_rows(individuals, samples, "GDI-FI-X-001")
    members = {label: {i for i, bit in enumerate(bits.as_string().replace(" ", "")) if bit == "1"}
               for label, bits, _, _, _ in rows}
    return samples, individuals, rows, members


@pytest.mark.parametrize("seed", range(300))
def test_population_rows_tell_apart_no_group_smaller_than_the_floor(seed):
    """Whatever sums and differences of the listed rows a caller takes, every group of
    individuals it can tell apart holds 0 or at least k (checked on the individuals
    themselves: the regions of the listed populations' Venn diagram). Before, a population
    was listed whenever it held k: the whole dataset less its men and its women was its one
    person of unknown sex, whose genotype a bona fide researcher read off each record."""
    from beacon.populations import listed
    samples, _, rows, members = _random_population(seed)
    for floor in (2, 3, 5, 10):
        shown = listed(tuple((label, size) for label, _, _, size, _ in rows), floor)
        # the whole dataset's row is the variant's own frequency: listed whatever its size,
        # and alone it tells apart no group but everyone
        assert "GDI-FI-X-001" in shown
        if samples < floor:
            assert shown == {"GDI-FI-X-001"}
            continue
        assert all(len(members[label]) >= floor for label in shown)
        regions: dict[tuple[bool, ...], int] = {}
        for i in range(samples):
            key = tuple(i in members[label] for label in sorted(shown))
            regions[key] = regions.get(key, 0) + 1
        assert all(n >= floor for key, n in regions.items() if any(key)), (floor, shown)


@pytest.mark.parametrize("seed", range(300))
def test_a_sites_only_files_rows_tell_apart_no_group_smaller_than_the_floor(seed):
    """A sites-only file names any populations it likes (SE_F without SE, FI and M without
    FI_M) and sizes them by AN, whole dataset included (`from_info`: AN/2 people, by
    halves). Whatever sums and differences of the listed rows a caller takes, every group it
    can tell apart holds no allele or those of at least k people (2k alleles), checked on
    the people themselves, each called with 0, 1 or 2 alleles. Before, a country left out
    was a cell of 0: the whole dataset less FI less SE_F read as the people born in SE, and
    listed a remainder of two people."""
    import random

    from beacon.populations import from_info, listed
    rng = random.Random(seed)
    countries = rng.sample(["FI", "SE", "ES"], rng.randint(1, 3))
    people = [(rng.choice([*countries, None]), rng.choice(["M", "F", "M", "F", None]),
               rng.choice([2, 2, 2, 2, 2, 1, 0])) for _ in range(rng.randint(1, 80))]

    def members(label: str) -> set[int]:
        return {i for i, (country, sex, _) in enumerate(people) if label == "GDI-X" or label in (
            country, sex, f"{country}_{sex}")}
    labels = ["GDI-X", *countries, *(f"{c}_{s}" for c in countries for s in "MF"), "M", "F"]
    named = [label for label in labels if rng.random() < 0.6]
    counts = {label: [0, sum(people[i][2] for i in members(label)), None, None]
              for label in named if label != "GDI-X"}
    whole = sum(n for _, _, n in people) if "GDI-X" in named else None
    rows = from_info("GDI-X", 0 if whole is not None else None, whole, None, counts, "2")
    for floor in (2, 3, 5, 10):
        shown = listed(tuple((f.label, f.size) for f in rows), floor, complete=False)
        if shown == {"GDI-X"}:        # the whole dataset's row alone: everyone, whatever size
            continue
        regions: dict[tuple[bool, ...], int] = {}
        for i, (_, _, alleles) in enumerate(people):
            key = tuple(i in members(label) for label in sorted(shown))
            regions[key] = regions.get(key, 0) + alleles
        assert all(n == 0 or n >= 2 * floor for key, n in regions.items() if any(key)), (
            floor, shown, named)


def test_one_person_of_unknown_sex_is_not_the_whole_less_men_and_women():
    """50 people, one of unknown sex: the whole dataset, M and F cannot all be listed."""
    from beacon.populations import listed, population_rows
    individuals = [(i, "MALE" if i < 23 else "FEMALE" if i < 49 else "UNKNOWN_SEX", "FI")
                   for i in range(50)]
    rows = population_rows(individuals, 50, "GDI-FI-SYN-001")
    shown = listed(tuple((label, size) for label, _, _, size, _ in rows), 5)
    assert "GDI-FI-SYN-001" in shown and not {"M", "F"} <= shown
    assert not {"FI", "FI_M", "FI_F"} <= shown


def _dataset(dataset_id: str, aliases: list[str]) -> DatasetRow:
    return DatasetRow(id=dataset_id, assembly="GRCh38", access_level="CONTROLLED",
                      title=dataset_id, description="", variant_count=0, record_count=0,
                      sample_count=0, max_variant_length=1, source={},
                      metadata={"aliases": aliases}, genotyped=False, version=1,
                      created_at=None, updated_at=None)  # type: ignore[arg-type]


def test_a_key_two_datasets_share_grants_neither():
    """Datasets loaded before ingest refused shared keys (beacon/store.py check_keys): an
    alias another dataset also holds, as its id or an alias, names neither of them, so one
    visa cannot grant both; each dataset's own id still grants it."""
    rows = [_dataset("GDI-FI-SYN-001", ["FI-1", "SHARED"]),
            _dataset("GDI-FI-SYN-002", ["GDI-FI-SYN-001", "SHARED", "FI-2"])]
    policy = DisclosurePolicy()
    granted = {key: {d: seen.tier for d, seen in visible(rows, Caller(
        PERSON, registered=True, grants=frozenset({key})), policy).items()}
        for key in ("GDI-FI-SYN-001", "FI-1", "SHARED", "FI-2", "GDI-FI-SYN-002")}
    assert granted == {
        "GDI-FI-SYN-001": {"GDI-FI-SYN-001": "granted", "GDI-FI-SYN-002": "bona_fide"},
        "FI-1": {"GDI-FI-SYN-001": "granted", "GDI-FI-SYN-002": "bona_fide"},
        "SHARED": {"GDI-FI-SYN-001": "bona_fide", "GDI-FI-SYN-002": "bona_fide"},
        "FI-2": {"GDI-FI-SYN-001": "bona_fide", "GDI-FI-SYN-002": "granted"},
        "GDI-FI-SYN-002": {"GDI-FI-SYN-001": "bona_fide", "GDI-FI-SYN-002": "granted"}}


@pytest.mark.parametrize("seed", range(300))
def test_counts_of_men_alone_tell_apart_no_group_of_men_smaller_than_the_floor(seed):
    """Some counts are of a row's men alone: every row on chrY outside the PARs, and on
    chrX outside them the hemizygous count of a split and the rows of men (FI_M, M). Whatever
    sums and differences of those a caller takes, every group of men it tells apart holds 0
    or at least k, and so does every group of the others that the split's homozygous and
    heterozygous counts, and the rows of women, tell apart (checked on the individuals
    themselves). Judged by all their people, a country of 40 with one man listed his Y
    genotype, and its split on chrX his X genotype (tests/test_populations.py)."""
    from beacon.populations import InPopulation, frequencies, frequency
    samples, individuals, rows, members = _random_population(seed)
    men = {i for i, sex, _ in individuals if sex == "MALE"}

    def told_apart(people: set[int], labels: set[str]) -> list[int]:
        regions: dict[tuple[bool, ...], int] = {}
        for i in people:
            key = tuple(i in members[label] for label in sorted(labels))
            regions[key] = regions.get(key, 0) + 1
        return [n for key, n in regions.items() if any(key)]

    for floor in (2, 3, 5, 10):
        def given(kind: str, floor: int = floor) -> list[dict]:
            return frequencies([frequency(InPopulation(label, size, males, *[0] * 8), kind)
                                for label, _, _, size, males in rows],
                               Rules(allele_floor=floor, population_floor=1),
                               hemizygous=kind == "X")
        on_y = {r["population"] for r in given("Y")}
        if on_y != {"GDI-FI-X-001"}:
            assert all(n >= floor for n in told_apart(men, on_y)), (floor, on_y)
        on_x = given("X")
        split = {r["population"] for r in on_x if "alleleCountHemizygous" in r}
        for people, alone in ((men, ("M", "_M")), (set(range(samples)) - men, ("F", "_F"))):
            labels = split | {r["population"] for r in on_x
                              if r["population"].endswith(alone[1]) or r["population"] == alone[0]}
            assert all(n >= floor for n in told_apart(people, labels)), (floor, labels)
