"""Membership inference (Shringarpure & Bustamante, AJHG 2015) over real HTTP against a node
with the DEFAULT disclosure configuration, and against the same data with its allele floor and
budget switched off, to show that the attack works and that the defaults are what stop it.

The attack: the attacker holds a target's genome and asks the beacon about the target's
alternate alleles, one boolean sequence query each (referenceName, 0-based start,
alternateBases), rarest first by reference frequency, until its budget answers 429 or it has
asked QUERIES_PER_TARGET. A likelihood-ratio test on the yes/no answers (beacon size N,
genotyping error 1e-6) scores each target; the threshold is the 95th percentile of the
non-members' scores (5% false positives), and power is the fraction of members above it.

The model: a beacon of 100 simulated individuals (tests/membership_attack.py: an f^-2
spectrum, so that, as in whole genomes, every target carries more alleles far below the floor
than a budget lets an attacker ask about); 100 non-members from the same population, their
genomes known to the attacker and never ingested; the true frequencies as its reference panel;
50 members and 50 non-members attacked. Each target is attacked by a fresh caller with the full
default budget, all targets at once: an anonymous caller from a loopback address of its own
(the node keeps anonymous budgets per address), a bona fide caller with an identity of its own
at the dev AAI (bob for the first target, researchers like him for the others, so that no
budget needs deleting between targets). A caller's queries go one at a time, as a patient
attacker's would.

Two settings: (a) bona fide callers against a REGISTERED copy, (b) anonymous callers against a
PUBLIC copy. The result (printed with -s, seed 14, the secret fixed): with the defaults, power
0.10 in both, the false-positive rate plus the noise of 50 targets (asserted <= 0.15): every
allele the attack can afford to ask about is below the 5-carrier floor, so every answer, member
or not, is no. With floor and budget off, power 1.00 in both after 50 queries per target
(asserted >= 0.5).

An attacker who knows the floor asks about the alleles just above it instead, where "k - 1
other carriers" makes a member's answer yes and a non-member's no. Against a sharp floor that
has power 1.00 within either budget. The default smooth floor with per-person loss accounting
(beacon/visibility.py, beacon/losses.py) holds it to 0.14 at most over four statistics, for
anonymous callers stopped by their budget after 300 questions and for bona fide ones, whom
their budget does not stop, after 600 (the test_floor_aware_attack_* tests; each bona fide
target a fresh identity of its own). Asked as counts of individuals carrying each allele
instead, the same attack is held the same (test_floor_aware_attack_through_individuals; 0.76
before those counts were accounted), and with a filter every member passes, which gives each
count the smooth floor of sets' draw too (test_floor_aware_attack_through_filtered_individuals). Asked in rounds with the dataset ingested again between
them, it gets exactly the answers it gets without the re-ingests
(test_floor_aware_attack_across_new_versions). Asked as ranges at record granularity, five
of the target's alleles to a range or all of them in one, it is held too
(test_floor_aware_attack_through_narrow_ranges, ..._through_one_wide_range): an answer's
near-floor variants are judged one after another, each under the view the charges of those
before it left (one range over all of them, judged under the view before it, had power
0.76). QUERIES_PER_TARGET bounds the first tests' runtime: it
stops no anonymous caller (the budget's 429 comes first, after 300 queries), and bona fide
callers stop at it, using at most 1,550 of their 3,000 units.

The model stops at 5% (tests/membership_attack.py F_MAX); with common sites added, on a node
of its own, an anonymous attacker that first runs most members out of its loss budget with
50 questions, then asks the target's alleles carried by about 31 others, where the smooth
floor's top shows a variant carried by 32 whoever is counted, has power 0.80
(test_exhausting_the_counted_people_does_not_open_the_bands_top, an expected failure;
docs/privacy.md item 4).
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import ClientSession, TCPConnector

from auth.access import AccessLevel
from auth.dev_issuer import DevUser, trusted_issuer_entry
from auth.issuers import TrustedIssuer
from beacon.assemblies import GRCH38
from beacon.disclosure import DEFAULT_TIERS
from beacon.ingest import IngestRequest, ingest
from beacon.visibility import Floor
from node.app import create_app
from node.settings import DisclosureSettings, Settings, TierSettings
from tests.conftest import (
    node_database,
    serve_app,
    serve_dev_aai,
    write_vcf_text,
)
from tests.membership_attack import (
    Population,
    floor_aware_order,
    floor_aware_score,
    power,
    rarest_first,
    sb_score,
    simulate,
    smooth_aware_score,
    with_common,
)

PUBLIC, REGISTERED = "GDI-FI-SYN-001", "GDI-FI-SYN-002"
RENEWED = "GDI-FI-SYN-003"         # a PUBLIC copy its test ingests again, round by round
ROUNDS = 5                         # of the attack across new versions, 60 questions each
VACUOUS = "HP:0001250"             # a feature every member has (the fixture's phenopackets)
MEMBERS = NON_MEMBERS = 100
TARGETS = 50                       # members attacked, and as many non-members
CANDIDATE_SITES = 800_000          # ~68,000 carried by members; ~1,000 alleles per genome
SEED = 14
QUERIES_PER_TARGET = 310           # just past the anonymous budget of 300 units
QUERIES_WITHOUT_DEFENCE = 50       # already decisive against the loosened node
# bona fide identities: one per target of the default-attack test, then a fresh one per target
# of the floor-aware test, then of the attack across copies (per-person losses are kept per
# caller, so none is reused)
RESEARCHERS = 4 * TARGETS + 2 * MEMBERS
COPIES = (PUBLIC, REGISTERED, RENEWED)    # one VCF: the same people, which a researcher sees
ANONYMOUS_FLOOR = DEFAULT_TIERS["anonymous"].floor        # smooth, with loss accounting
BONA_FIDE_FLOOR = DEFAULT_TIERS["bona_fide"].floor        # the same
BONA_FIDE_QUERIES = 600            # bona fide budgets do not stop the attack; this does
FLOOR = ANONYMOUS_FLOOR.k
SMOOTH = (ANONYMOUS_FLOOR.width, ANONYMOUS_FLOOR.scale)
LOOSENED = DisclosureSettings(
    anonymous=TierSettings(allele_floor=1, count_step=1, budget_per_window=0, budget_per_day=0),
    bona_fide=TierSettings(allele_floor=1, budget_per_window=0, budget_per_day=0))


@dataclass(frozen=True)
class Nodes:
    defaults: str                  # base URL of the node with the default configuration
    loosened: str                  # of the node on the same database, floor and budget off
    researchers: list[str]         # access tokens of bona fide researchers, one per target
    renew: Callable[[], Any]       # ingests the members' VCF as RENEWED again: a new version


@dataclass(frozen=True)
class Setting:
    dataset: str
    bona_fide: bool


SETTINGS = {"bona fide, REGISTERED": Setting(REGISTERED, True),
            "anonymous, PUBLIC": Setting(PUBLIC, False)}


@dataclass(frozen=True)
class Attacked:
    """One target's attack: its alleles in the order asked, the answers, whether a 429
    ended it."""

    sites: np.ndarray
    answers: list[bool]
    refused: bool


def _targets(count: int = TARGETS) -> list[int]:
    """The members attacked, then as many non-members."""
    return [*range(count), *range(MEMBERS, MEMBERS + count)]


@pytest.fixture(scope="module")
def population() -> Population:
    return simulate(MEMBERS, NON_MEMBERS, CANDIDATE_SITES, SEED)


async def _token(client: ClientSession, aai_url: str, user: str) -> str:
    async with client.post(f"{aai_url}/token", data={
            "grant_type": "password", "username": user, "password": user}) as response:
        assert response.status == 200
        return (await response.json())["access_token"]


@pytest.fixture(scope="module")
async def nodes(pg_server_url: str, population: Population,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Nodes]:
    """The members' VCF as a PUBLIC and a REGISTERED dataset, served by a node with the
    default configuration and by one with floor and budget off, both trusting a dev AAI
    whose users are bob and, bona fide like him, a researcher for every other target."""
    directory = tmp_path_factory.mktemp("membership")
    vcf = write_vcf_text(directory / "members.vcf", population.vcf())
    # every member has the one feature VACUOUS names: a filter of it selects everyone
    phenopackets = directory / "members.jsonl"
    phenopackets.write_text("".join(json.dumps({
        "id": f"P{i:03d}", "subject": {"id": f"M{i:03d}"},
        "phenotypicFeatures": [{"type": {"id": VACUOUS, "label": "Seizure"}}]}) + "\n"
        for i in range(population.members)))
    users = ["bob", *(f"researcher{i}" for i in range(1, RESEARCHERS))]
    async with AsyncExitStack() as stack:
        _, aai_url = await serve_dev_aai(stack, users=[
            DevUser(name=user, password=user, bona_fide=True) for user in users])
        url = await stack.enter_async_context(node_database(pg_server_url))

        def load(dataset: str, level: AccessLevel) -> Any:
            return ingest(url, IngestRequest(vcf, dataset, GRCH38, level, dataset, workers=2,
                                             individuals=phenopackets))

        for dataset, level in ((PUBLIC, AccessLevel.PUBLIC),
                               (REGISTERED, AccessLevel.REGISTERED),
                               (RENEWED, AccessLevel.PUBLIC)):
            await load(dataset, level)
        # one known key for the smooth floor's draws, so that the result is the same each run
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("UPDATE disclosure_secret SET secret = 'membership-14'")
        finally:
            await connection.close()
        bases = []
        for disclosure in (DisclosureSettings(), LOOSENED):
            settings = Settings(database_url=url, data_dir=directory / "node",
                                beacon_id="org.test.membership", disclosure=disclosure,
                                trusted_issuers=[TrustedIssuer(**trusted_issuer_entry(aai_url))])
            bases.append(await serve_app(stack, create_app(settings)))
        async with ClientSession() as client:
            tokens = await asyncio.gather(*[_token(client, aai_url, user) for user in users])
        yield Nodes(bases[0], bases[1], list(tokens), lambda: load(RENEWED, AccessLevel.PUBLIC))


def _variant_question(session: ClientSession, population: Population, dataset: str,
                      site: int) -> Any:
    """Does the dataset hold this allele: a boolean sequence query."""
    return session.get(f"/api/datasets/{dataset}/g_variants", params={
        "referenceName": "1", "start": str(population.positions[site] - 1),
        "alternateBases": population.alts[site], "requestedGranularity": "boolean"})


def _individuals_question(session: ClientSession, population: Population, dataset: str,
                          site: int) -> Any:
    """Does anyone in the dataset carry this allele: a count of individuals with a sequence
    condition, as the portal asks one (a count of none is 0; of any, at least 1)."""
    return session.post(f"/api/datasets/{dataset}/individuals", json={
        "meta": {}, "query": {"requestParameters": {
            "referenceName": "1", "start": [int(population.positions[site]) - 1],
            "alternateBases": population.alts[site]}, "requestedGranularity": "count"}})


def _filtered_individuals_question(session: ClientSession, population: Population,
                                   dataset: str, site: int) -> Any:
    """_individuals_question with a filter every member passes: the count of a set the
    filters chose, which the smooth floor of sets draws for (beacon/disclosure.py
    report_individuals), on the same people as the variant's own answer."""
    return session.post(f"/api/datasets/{dataset}/individuals", json={
        "meta": {}, "query": {"requestParameters": {
            "referenceName": "1", "start": [int(population.positions[site]) - 1],
            "alternateBases": population.alts[site]}, "requestedGranularity": "count",
            "filters": [{"id": VACUOUS, "scope": "individual"}]}})


Question = Callable[[ClientSession, Population, str, int], Any]


async def _ask(session: ClientSession, population: Population, dataset: str,
               sites: np.ndarray, limit: int, question: Question = _variant_question
               ) -> Attacked:
    """The first `limit` of these alleles, one query at a time, until the budget says 429
    (or, for a dataset whose variants name nobody, the caller's account for it says 403)."""
    answers: list[bool] = []
    for site in sites[:limit]:
        async with question(session, population, dataset, site) as response:
            body = await response.json()
            if response.status in (429, 403):
                return Attacked(sites, answers, True)
            assert response.status == 200, body
            answers.append(body["responseSummary"]["exists"])
    return Attacked(sites, answers, False)


async def _attack(nodes: Nodes, base: str, setting: Setting, population: Population,
                  order: Callable[[Population, int], np.ndarray], run: int,
                  limit: int = QUERIES_PER_TARGET, targets: int = TARGETS,
                  first_researcher: int = 0, question: Question = _variant_question
                  ) -> list[Attacked]:
    """Every target attacked at once, each by a fresh caller with the full budget: anonymous
    from its own address, 127.0.<run>.<n> (a run never reuses another's spent addresses), or
    bona fide with its own identity, from `first_researcher` on (each attacks the default node
    once only)."""
    async def attack(index: int, target: int) -> Attacked:
        headers = ({"Authorization": f"Bearer {nodes.researchers[first_researcher + index]}"}
                   if setting.bona_fide else {})
        async with ClientSession(
                base, headers=headers,
                connector=TCPConnector(local_addr=(f"127.0.{run}.{index + 1}", 0))) as session:
            return await _ask(session, population, setting.dataset, order(population, target),
                              limit, question)
    return list(await asyncio.gather(*[attack(i, t) for i, t in enumerate(_targets(targets))]))


def _check_answers(population: Population, attacked: Sequence[Attacked], floor: Floor) -> None:
    """The node said yes exactly to the alleles at least `floor` members carry; under a smooth
    floor, to some of those between its k and its upper end, to none below and to all above."""
    carriers = population.carriers
    for target in attacked:
        asked = carriers[target.sites[:len(target.answers)]]
        yes = np.asarray(target.answers, dtype=bool)
        if floor.smooth:
            assert (asked[yes] >= floor.k).all() and yes[asked >= floor.upper].all()
        else:
            assert (yes == (asked >= floor.k)).all()


def _power(population: Population, attacked: Sequence[Attacked],
           score: Callable[[np.ndarray, list[bool]], float]) -> float:
    scores = [score(population.frequencies[t.sites], t.answers) for t in attacked]
    half = len(scores) // 2                       # members first, then as many non-members
    return power(scores[:half], scores[half:])


def _sb(frequencies: np.ndarray, answers: list[bool]) -> float:
    return sb_score(frequencies, answers, MEMBERS)


def _report(name: str, attacked: Sequence[Attacked], measured: float) -> None:
    asked = sum(len(t.answers) for t in attacked)
    yes = sum(sum(t.answers) for t in attacked)
    refused = sum(t.refused for t in attacked)
    print(f"\nmembership power, {name}: {measured:.2f} ({len(attacked) // 2} members, "
          f"{len(attacked) // 2} "
          f"non-members, 5% false positives; {asked / len(attacked):.0f} queries per target, "
          f"{yes} of {asked} answered yes; {refused}/{len(attacked)} targets stopped by 429)")


@pytest.mark.parametrize("name", SETTINGS)
async def test_defaults_stop_the_attack_that_works_without_them(nodes, population, name):
    setting = SETTINGS[name]
    run = 2 * list(SETTINGS).index(name)
    defended = await _attack(nodes, nodes.defaults, setting, population, rarest_first, run)
    undefended = await _attack(nodes, nodes.loosened, setting, population, rarest_first,
                               run + 1, QUERIES_WITHOUT_DEFENCE)
    _check_answers(population, defended,
                   BONA_FIDE_FLOOR if setting.bona_fide else ANONYMOUS_FLOOR)
    _check_answers(population, undefended, Floor(1))
    defended_power = _power(population, defended, _sb)
    undefended_power = _power(population, undefended, _sb)
    _report(f"{name}, defaults", defended, defended_power)
    _report(f"{name}, floor and budget off", undefended, undefended_power)
    if not setting.bona_fide:      # the anonymous budget, not the cap, ended every attack
        assert all(t.refused for t in defended)
    assert undefended_power >= 0.5
    assert defended_power <= 0.15


async def test_floor_aware_attack_within_the_anonymous_budget(nodes, population):
    """Setting (b)'s callers and budget, but an attacker who knows the floor (it is published)
    asks first about the alleles whose answer a member's own copy is most likely to turn from
    no to yes (carried by 4 others). Against a sharp floor it has power 1.00; the default's
    smooth floor with per-person loss accounting holds every statistic the attacker may use at
    or below 0.15 (its own floor-aware likelihood ratio, one that knows the smooth floor,
    Shringarpure & Bustamante's, the count of yes), and nothing carried by fewer than the
    floor's k people is ever shown. All 100 members and 100 non-members are attacked (at 50
    each, one target moves the power by 0.02, and the threshold is the non-members' third
    highest score)."""
    attacked = await _attack(nodes, nodes.defaults, SETTINGS["anonymous, PUBLIC"], population,
                             _floor_aware, run=4, targets=MEMBERS)
    _check_answers(population, attacked, ANONYMOUS_FLOOR)
    measured = _floor_aware_powers(population, attacked, "anonymous, PUBLIC")
    assert all(t.refused for t in attacked)          # each spent its whole budget
    assert max(measured.values()) <= 0.15


async def test_floor_aware_attack_within_the_bona_fide_budget(nodes, population):
    """Setting (a)'s bona fide callers on the REGISTERED copy, the floor-aware attacker, each
    with a fresh identity. Their budget (3,000 units an hour) does not stop them, so each asks
    BONA_FIDE_QUERIES: past the alleles carried by 3 to 6 others, which the floor-aware order
    asks first, an answer is a yes for member and non-member alike or a no for both. The same
    smooth floor with per-person loss accounting holds every statistic at or below 0.15."""
    attacked = await _attack(nodes, nodes.defaults, SETTINGS["bona fide, REGISTERED"],
                             population, _floor_aware, run=6, targets=MEMBERS,
                             limit=BONA_FIDE_QUERIES, first_researcher=2 * TARGETS)
    _check_answers(population, attacked, BONA_FIDE_FLOOR)
    measured = _floor_aware_powers(population, attacked, "bona fide, REGISTERED")
    assert not any(t.refused for t in attacked)
    assert max(measured.values()) <= 0.15


async def test_floor_aware_attack_through_individuals(nodes, population):
    """The floor-aware attack of the test above, asked as counts of individuals carrying
    each allele (`/datasets/{id}/individuals` with a sequence condition) instead of as
    variant queries. A count of individuals is noisy and rounded, but whether it is 0
    is not: it says whether the allele is shown to the caller, the same yes or no. So the
    variant conditions of individuals queries must be answered as the caller may see them
    and charged like any other answer near the floor; the same four statistics stay at or
    below 0.15."""
    attacked = await _attack(nodes, nodes.defaults, SETTINGS["anonymous, PUBLIC"], population,
                             _floor_aware, run=8, targets=MEMBERS,
                             question=_individuals_question)
    _check_answers(population, attacked, ANONYMOUS_FLOOR)
    measured = _floor_aware_powers(population, attacked, "anonymous, PUBLIC, individuals")
    assert all(t.refused for t in attacked)
    assert max(measured.values()) <= 0.15


async def test_floor_aware_attack_through_filtered_individuals(nodes, population):
    """The attack through counts of individuals, each asked with a filter that every member
    passes. The filters chose the set, so its count gets the smooth floor of sets' draw
    besides the variant's own answer: a second look at the same carriers, which the loss
    accounting must charge them for (beacon/losses.py charge_set): 0.06 at most with the
    default tiers (seed 14; 0.09 while the set was drawn under the view before the
    variant's own charges), 0.12 while the draw was charged to nobody."""
    attacked = await _attack(nodes, nodes.defaults, SETTINGS["anonymous, PUBLIC"], population,
                             _floor_aware, run=10, targets=MEMBERS,
                             question=_filtered_individuals_question)
    _check_answers(population, attacked, ANONYMOUS_FLOOR)
    measured = _floor_aware_powers(population, attacked,
                                   "anonymous, PUBLIC, individuals with a vacuous filter")
    assert all(t.refused for t in attacked)
    assert max(measured.values()) <= 0.15


async def test_floor_aware_attack_across_new_versions(nodes, population):
    """The anonymous floor-aware attack on a copy of its own, asked in ROUNDS rounds of 60
    questions by the same callers, with the same VCF and phenopackets ingested again between
    rounds: a new version each time, as an operator re-ingests a corrected cohort. Each new
    version used to start every caller's loss accounts again, so that the people an
    attacker had run out of were counted again in the next round's answers. A new version
    of the same people now carries the accounts over (beacon/visibility.py keep_accounts):
    every target's answers are exactly those of the same attack asked without re-ingests,
    by other callers of the same copy before it, and the budget's 429 ends both at the same
    question: power 0.10 at most over the four statistics (seed 14), where the accounts
    started again with each version gave 0.30 (S&B), 0.24 (smooth-aware and yes) and 0.12
    (floor-aware), with 1,217 yes answers against 614."""
    setting = Setting(RENEWED, False)
    continuous = await _attack(nodes, nodes.defaults, setting, population, _floor_aware,
                               run=12)
    rounds: list[list[Attacked]] = []
    for i in range(ROUNDS):
        if i:
            report = await nodes.renew()
            assert report.accounts is not None and report.accounts.carried
        rounds.append(await _attack(
            nodes, nodes.defaults, setting, population,
            lambda p, t, skip=60 * i: _floor_aware(p, t)[skip:], run=13, limit=60))
    joined = [Attacked(whole.sites, [a for part in parts for a in part.answers], False)
              for whole, parts in zip(continuous, zip(*rounds))]
    measured = _floor_aware_powers(population, joined, "anonymous, PUBLIC, across new versions")
    for whole, across in zip(continuous, joined):
        assert across.answers == whole.answers
    assert all(t.refused and len(t.answers) == 300 for t in continuous)
    assert max(measured.values()) <= 0.15


async def test_floor_aware_attack_across_copies_of_the_same_people(nodes, population):
    """The bona fide floor-aware attack asking every allele of every copy at once: the
    fixture's VCF is loaded as three datasets a researcher sees (PUBLIC, REGISTERED and the
    PUBLIC copy the test above ingests again), each with a smooth-floor draw of its own.
    Each copy's yes or no is one more observation of the same people. With a loss budget
    over each person in each copy, the copies gave three times the answers before anyone
    ran out: power 0.26 (S&B statistic; 0.22 yes, 0.18 smooth-aware, 0.12 floor-aware; 50
    members and 50 non-members, 600 alleles each, seed 14). A person's losses now add up
    over the copies (beacon/losses.py `_others`), so the copies spend one budget: 0.18 at
    most (0.18 S&B, 0.16 smooth-aware, 0.12 floor-aware, 0.10 yes), what one copy asked
    1,800 alleles gives (0.18 smooth-aware, 0.16 floor-aware and yes, 0.08 S&B, measured
    once by hand): the copies give no more than asking as many questions of one."""
    async def attack(index: int, target: int) -> Attacked:
        researcher = nodes.researchers[2 * TARGETS + 2 * MEMBERS + index]
        async with ClientSession(nodes.defaults, headers={
                "Authorization": f"Bearer {researcher}"}) as session:
            return await _ask_copies(session, population, _floor_aware(population, target),
                                     BONA_FIDE_QUERIES)
    attacked = list(await asyncio.gather(*[attack(i, t) for i, t in enumerate(_targets())]))
    _check_answers(population, attacked, BONA_FIDE_FLOOR)
    measured = _floor_aware_powers(population, attacked, "bona fide, three copies")
    assert not any(t.refused for t in attacked)
    assert max(measured.values()) <= 0.2


async def _ask_copies(session: ClientSession, population: Population, sites: np.ndarray,
                      limit: int) -> Attacked:
    """The first `limit` of these alleles, each asked of every dataset at once, until the
    budget says 429: each copy's answer in COPIES order, its allele repeated as often."""
    answers: list[bool] = []
    for site in sites[:limit]:
        async with session.get("/api/g_variants", params={
                "referenceName": "1", "start": str(population.positions[site] - 1),
                "alternateBases": population.alts[site], "requestedGranularity": "count",
                "includeResultsetResponses": "ALL"}) as response:
            body = await response.json()
            if response.status == 429:
                break
            assert response.status == 200, body
            seen = {s["id"]: s["exists"] for s in body["response"]["resultSets"]}
            answers += [seen[copy] for copy in COPIES]
    asked = len(answers) // len(COPIES)
    return Attacked(np.repeat(sites[:asked], len(COPIES)), answers, asked < min(limit, len(sites)))



# The attack through ranges (docs/privacy.md item 4): one answer about many variants, each
# judged under the caller's view as it stood before the answer, its charges made after.
NARROW_RANGES = (150, 5)           # the target's first 150 alleles, 5 to a range: 30 questions
WIDE_RANGE = (300, 300)            # the first 300 in one range: one question
RANGE_GATE = 4                     # targets attacked at once: 200 ranges of thousands of rows
                                   # at once pass the node's 5 s statement limit (a 503)


def _ranges(population: Population, target: int, alleles: int, group: int
            ) -> list[np.ndarray]:
    """The ranges a floor-aware attacker asks: the target's first `alleles` in floor-aware
    order, sorted by position and cut into runs of `group` consecutive ones (the shortest
    ranges holding that many of them, given which), each run's sites; the run holding the
    best-ranked allele asked first, and so on."""
    chosen = _floor_aware(population, target)[:alleles]
    rank = {int(site): i for i, site in enumerate(chosen)}
    by_position = np.sort(chosen)
    runs = [by_position[i:i + group] for i in range(0, len(by_position), group)]
    return sorted(runs, key=lambda run: min(rank[int(s)] for s in run))


async def _ask_ranges(session: ClientSession, population: Population, runs: Sequence[np.ndarray]
                      ) -> Attacked:
    """Each run's range (from its first allele to its last) asked of the PUBLIC copy at
    record granularity, the whole range on one page, one range at a time until the budget
    says 429: per allele of the runs, whether its record was listed. Nothing listed may be
    carried by fewer than k members. A 503 (the statement limit, on a loaded machine) is
    asked again, twice at most."""
    sites: list[int] = []
    answers: list[bool] = []
    for run in runs:
        first, last = int(population.positions[run[0]]), int(population.positions[run[-1]])
        for _ in range(3):
            async with session.get(f"/api/datasets/{PUBLIC}/g_variants", params={
                    "referenceName": "1", "start": str(first - 1), "end": str(last),
                    "requestedGranularity": "record", "limit": "1000"}) as response:
                body = await response.json()
                if response.status != 503:
                    break
        if response.status == 429:
            return Attacked(np.array(sites, dtype=int), answers, True)
        assert response.status == 200, body
        results = [r for s in body["response"]["resultSets"] for r in s["results"]]
        assert len(results) < 1000                      # the whole range on one page
        listed = {(r["variation"]["location"]["interval"]["start"]["value"] + 1,
                   r["variation"]["alternateBases"]) for r in results}
        shown = np.searchsorted(population.positions, [position for position, _ in listed])
        assert (population.carriers[shown] >= FLOOR).all()
        answers += [(int(population.positions[s]), str(population.alts[s])) in listed
                    for s in run]
        sites += [int(s) for s in run]
    return Attacked(np.array(sites, dtype=int), answers, False)


async def _attack_through_ranges(nodes: Nodes, population: Population, run: int,
                                 alleles: int, group: int) -> dict[str, float]:
    """Every member and as many non-members attacked through ranges (`_ranges`), each by a
    fresh anonymous caller from 127.0.<run>.<n>, RANGE_GATE at a time (each caller's
    accounts are its own, so which go together changes no answer); the four statistics of
    the floor-aware attack over the alleles asked, and the ranges' sizes, printed."""
    gate = asyncio.Semaphore(RANGE_GATE)

    async def attack(index: int, target: int) -> Attacked:
        async with gate, ClientSession(nodes.defaults, connector=TCPConnector(
                local_addr=(f"127.0.{run}.{index + 1}", 0))) as session:
            return await _ask_ranges(session, population, _ranges(population, target,
                                                                  alleles, group))
    targets = _targets(MEMBERS)
    attacked = list(await asyncio.gather(*[attack(i, t) for i, t in enumerate(targets)]))
    _check_answers(population, attacked, ANONYMOUS_FLOOR)
    assert not any(t.refused for t in attacked)
    carriers = population.carriers
    spans = [carriers[run[0]:run[-1] + 1] for t in targets
             for run in _ranges(population, t, alleles, group)]
    print(f"\nranges, {alleles} alleles {group} to a range: {len(spans) / len(targets):.0f} "
          f"questions per target; variants held per range: mean "
          f"{np.mean([(s > 0).sum() for s in spans]):.0f}, of them near the floor "
          f"({FLOOR} to {ANONYMOUS_FLOOR.upper - 1} carriers) "
          f"{np.mean([((s >= FLOOR) & (s < ANONYMOUS_FLOOR.upper)).sum() for s in spans]):.0f}")
    return _floor_aware_powers(population, attacked,
                               f"anonymous, PUBLIC, ranges of {group} alleles")


async def test_floor_aware_attack_through_narrow_ranges(nodes, population):
    """The anonymous floor-aware attacker asking ranges instead of single variants: the
    target's first 150 alleles in floor-aware order, by position, five to a range (30
    questions; each range holds 1,800 variants on average, 64 of them near the floor), the
    whole range listed at record granularity, read off per allele (listed or not). An
    answer's near-floor variants are judged one after another, in the order of their keys,
    each under the view the charges of those before it left (beacon/losses.py `_judged`):
    a range tells what its variants asked one by one would. Held: 0.09 at most (0.06
    floor-aware, 0.07 smooth-aware, 0.09 S&B, 0.02 yes; seed 14, 31 of 30,000 alleles
    listed). Judged all under the view before the answer, it was 0.11 (38 listed), and
    the wider each range the more one answer told: 30 to a range 0.15, ranked by an
    attacker who knows the smooth floor 0.20 (measured once by hand); one range over
    everything is the next test's."""
    measured = await _attack_through_ranges(nodes, population, 40, *NARROW_RANGES)
    assert max(measured.values()) <= 0.15


async def test_floor_aware_attack_through_one_wide_range(nodes, population):
    """The attack of the test above with one range: the target's first 300 alleles in
    floor-aware order lie all over the dataset, so their one range (one question) holds
    67,500 of its 67,925 variants, 2,400 of them near the floor, on one page. Judged all
    under the caller's fresh view, as if no loss budget were kept (the smooth floor alone,
    read for 300 of the target's alleles at once), it had power 0.76 (smooth-aware; 0.41
    floor-aware, 0.58 S&B, 0.57 yes; seed 14, 3,471 of 60,000 alleles listed), against 0.14
    at most for the same attacker asking one variant at a time. Judged one after another,
    each under the view the charges of those before it left, most members run out within
    the answer: 0.11 at most (0.07 floor-aware, 0.09 smooth-aware, 0.11 S&B, 0.09 yes; 81
    of 60,000 listed). The same range asked at count granularity told nothing even before
    (0.00: about 286 for every caller, member or not), and five ranges of 30 alleles each
    at count granularity, by their counts' sum, 0.05 (measured once by hand): the count
    adds up the draws of thousands of other variants."""
    measured = await _attack_through_ranges(nodes, population, 41, *WIDE_RANGE)
    assert max(measured.values()) <= 0.15


def _floor_aware(population: Population, target: int) -> np.ndarray:
    return floor_aware_order(population, target, FLOOR)


def _floor_aware_powers(population: Population, attacked: Sequence[Attacked],
                        name: str) -> dict[str, float]:
    """The attacker's power under each statistic it may use, each reported."""
    scores = {
        "floor-aware": lambda f, a: floor_aware_score(f, a, MEMBERS, FLOOR),
        "smooth-aware": lambda f, a: smooth_aware_score(f, a, MEMBERS, FLOOR, SMOOTH),
        "S&B": _sb,
        "yes": lambda f, a: float(sum(a)),
    }
    measured = {statistic: _power(population, attacked, score)
                for statistic, score in scores.items()}
    for statistic, value in measured.items():
        _report(f"{name}, defaults, attacker aware of the floor, {statistic} statistic",
                attacked, value)
    return measured


# The attack on the top of the smooth floor's band (docs/privacy.md item 4): a node of its
# own, whose dataset holds common alleles too.
TOP = ANONYMOUS_FLOOR.upper        # 32: carried by this many, a variant is shown to anyone
EXHAUSTING = 50                    # questions first spent running the counted people out
TOP_TARGETS = 30                   # members attacked, and as many non-members
LOSS_BUDGET = DEFAULT_TIERS["anonymous"].loss_budget


@dataclass(frozen=True)
class CommonNode:
    base: str                      # the node's base URL, default configuration
    database: str                  # its database, to read the callers' accounts
    population: Population         # the model's population with common sites


@pytest.fixture(scope="module")
async def common_node(pg_server_url: str, population: Population,
                      tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CommonNode]:
    """The members' genotypes with COMMON_SITES common sites besides (`with_common`), as a
    PUBLIC dataset of a node of its own with the default configuration (the other tests'
    node keeps the model's sites, and their figures)."""
    common = with_common(population, SEED)
    async with AsyncExitStack() as stack:
        base, url = await _node_of_its_own(stack, pg_server_url, tmp_path_factory.mktemp(
            "common"), common.vcf(), PUBLIC, "org.test.membership.common")
        yield CommonNode(base, url, common)


async def _node_of_its_own(stack: AsyncExitStack, pg_server_url: str, directory: Path,
                           vcf_text: str, dataset: str, beacon_id: str) -> tuple[str, str]:
    """A node with the default configuration on a database of its own holding `vcf_text`
    as the PUBLIC `dataset`, the draws' key fixed: its base URL and its database's."""
    vcf = write_vcf_text(directory / "data.vcf", vcf_text)
    url = await stack.enter_async_context(node_database(pg_server_url))
    await ingest(url, IngestRequest(vcf, dataset, GRCH38, AccessLevel.PUBLIC, dataset,
                                    workers=2))
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("UPDATE disclosure_secret SET secret = 'membership-14'")
    finally:
        await connection.close()
    settings = Settings(database_url=url, data_dir=directory / "node", beacon_id=beacon_id,
                        disclosure=DisclosureSettings())
    return await serve_app(stack, create_app(settings)), url


def _exhausting_then_top(population: Population, target: int) -> np.ndarray:
    """The questions of an attacker of the band's top: first EXHAUSTING alleles its reference
    expects 10 to 16 members to carry, none of them the target's, whose answers charge most
    members past the loss budget; then the target's alleles whose answer differs most
    between member and non-member under a sharp floor at TOP, since a variant carried by
    TOP people or more is shown whoever the caller has run out of, and one carried by fewer
    is judged by the few people still counted."""
    expected = population.members * (1 - (1 - population.frequencies) ** 2)
    spenders = np.setdiff1d(np.flatnonzero((expected > 10) & (expected < 16)),
                            population.alleles(target))
    rng = np.random.default_rng(SEED + target)
    return np.concatenate([rng.choice(spenders, EXHAUSTING, replace=False),
                           floor_aware_order(population, target, TOP)])


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "the genotyped default shows a variant carried by `upper` or more whoever the caller "
    "has exhausted, so running the counted people out opens a sharp edge at the band's "
    "top: power 0.80 on the node, docs/privacy.md item 4; passes once the engine judges "
    "the top by the people still counted, and must then become a plain test"))
async def test_exhausting_the_counted_people_does_not_open_the_bands_top(common_node):
    """Anonymous callers, each within its budget of 300 questions: 50 about alleles the
    reference expects 10 to 16 members to carry (none the target's), whose near-floor
    answers charge their carriers until most members are past the loss budget and no longer
    counted for the caller; then the target's common alleles carried by about TOP - 1
    others, scored by the likelihood ratio of a sharp floor at TOP (and by its yes). A
    member's allele is carried by TOP people when the others are TOP - 1, and shown
    outright; a non-member's by TOP - 1 falls in the band, judged by the few people still
    counted: hidden. Power 0.80 (top-aware; 0.77 yes; seed 14, 93 of 100 members past the
    loss budget per caller), against 0.00 for the same callers asking 300 of the target's
    alleles and nothing first (every answer yes; measured once by hand): an expected
    failure while the engine is unchanged. With the top judged by the people still
    counted, the emulation (bench/membership_defences.py) held this attacker to 0.08. A
    node of its own (`common_node`) and 30 targets of each kind keep it to about a
    minute."""
    population = common_node.population

    async def attack(index: int, target: int) -> Attacked:
        async with ClientSession(common_node.base, connector=TCPConnector(
                local_addr=(f"127.0.20.{index + 1}", 0))) as session:
            return await _ask(session, population, PUBLIC,
                              _exhausting_then_top(population, target), QUERIES_PER_TARGET)
    attacked = list(await asyncio.gather(*[attack(i, t)
                                           for i, t in enumerate(_targets(TOP_TARGETS))]))
    connection = await asyncpg.connect(common_node.database)
    try:
        exhausted = [int((np.frombuffer(row["charged"], dtype="<f4") > LOSS_BUDGET).sum())
                     for row in await connection.fetch("SELECT charged FROM disclosure_losses")]
    finally:
        await connection.close()
    asked = [Attacked(t.sites[EXHAUSTING:], t.answers[EXHAUSTING:], t.refused)
             for t in attacked]
    carriers = population.carriers
    for target in attacked:              # nothing carried by fewer than k is ever shown
        yes = np.asarray(target.answers, dtype=bool)
        assert (carriers[target.sites[:len(yes)]][yes] >= FLOOR).all()
    assert all(t.refused and len(t.answers) == 300 for t in attacked)
    half = len(asked) // 2
    scores = {
        "top-aware": [floor_aware_score(population.frequencies[t.sites], t.answers, MEMBERS,
                                        TOP) for t in asked],
        "yes": [float(sum(t.answers)) for t in asked],
    }
    measured = {name: power(values[:half], values[half:]) for name, values in scores.items()}
    for name, value in measured.items():
        _report(f"anonymous, PUBLIC with common sites, counted people exhausted first, then "
                f"the band's top, {name} statistic", asked, value)
    print(f"members past the loss budget per caller: mean {np.mean(exhausted):.0f} of "
          f"{MEMBERS} ({len(exhausted)} callers)")
    assert max(measured.values()) <= 0.15


# The attack on a sites-only copy of the members (docs/privacy.md item 4, "Variants that name
# nobody"): AC, AN and nhomalt count each variant's carriers exactly, and name none of them.
SITES = "GDI-FI-SITES-001"


@pytest.fixture(scope="module")
async def sites_node(pg_server_url: str, population: Population,
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CommonNode]:
    """The members' sites as a sites-only VCF (`Population.sites_only_vcf`), PUBLIC, on a
    node of its own with the default configuration."""
    async with AsyncExitStack() as stack:
        base, url = await _node_of_its_own(stack, pg_server_url, tmp_path_factory.mktemp(
            "sites"), population.sites_only_vcf(), SITES, "org.test.membership.sites")
        yield CommonNode(base, url, population)


async def test_floor_aware_attack_on_a_sites_only_copy(sites_node, population):
    """The anonymous floor-aware attack of setting (b) on a sites-only copy of the members,
    whose variants name nobody to charge: with the smooth floor alone it had power 0.68 (a
    probe, seed 14; docs/privacy.md item 4). Each caller's answers about the copy's variants
    near the floor now charge one account of its own for the dataset, and once it is past
    the loss budget the dataset answers that caller nothing more (beacon/accounts.py): every
    statistic stays at or below 0.15 (0.13 at most, seed 14), when the refusal comes (fewer
    answers before it, or more) included, and nothing carried by fewer than k is shown."""
    attacked = await _attack(Nodes(sites_node.base, "", [], None), sites_node.base,
                             Setting(SITES, False), population, _floor_aware, run=30,
                             targets=MEMBERS)
    _check_answers(population, attacked, ANONYMOUS_FLOOR)
    measured = _floor_aware_powers(population, attacked, "anonymous, sites-only PUBLIC")
    asked = [float(len(t.answers)) for t in attacked]
    for name, scores in (("answers before the refusal", asked),
                         ("fewer answers before the refusal", [-a for a in asked])):
        measured[name] = power(scores[:MEMBERS], scores[MEMBERS:])
        _report(f"anonymous, sites-only PUBLIC, {name}", attacked, measured[name])
    connection = await asyncpg.connect(sites_node.database)
    try:
        spent = await connection.fetchval("SELECT count(*) FROM disclosure_accounts "
                                          "WHERE spent > $1", LOSS_BUDGET)
    finally:
        await connection.close()
    print(f"callers whose account for the dataset was spent: {spent} of {len(attacked)}")
    assert all(t.refused for t in attacked)     # each refused, by its account or budget
    assert max(measured.values()) <= 0.15
