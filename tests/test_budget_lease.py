"""A lease's takes (beacon/budget.py `_Lease`) against a plain model of them: random takes,
spends, give-backs, lapses and the passing of time, on a lease and on the model written as
the lease was until 2026-12-06 (summing and walking every take on each spend), agreeing on
every step: which take units are drawn from, what a spend returns, what a give-back restores
and answers, what is held and when the first of it lapses. No database: Budgets' leases
alone, its `_held` and `give_back` as a request uses them."""
from __future__ import annotations

import random

import pytest

from beacon import budget
from beacon.budget import LEASE_SECONDS, Budgets, _Lease, _Take
from beacon.disclosure import DisclosurePolicy


class _Model:
    """A lease as it was: a list of [units, at], oldest first, summed and walked."""

    def __init__(self) -> None:
        self.takes: list[list[float]] = []
        self.window_left: int | None = None
        self.day_left: int | None = None

    def units(self) -> int:
        return sum(take[0] for take in self.takes)

    def lapse(self, now: float) -> float:
        return min((take[1] + LEASE_SECONDS - now for take in self.takes if take[0]),
                   default=float("inf"))

    def spend(self, units: int) -> list[float]:
        first = None
        for take in self.takes:
            if take[0]:
                first = first or take
                drawn = min(take[0], units)
                take[0] -= drawn
                units -= drawn
                if not units:
                    break
        assert first is not None and not units, "spent more than the lease holds"
        return first


def _model_held(leases: dict[str, _Model], now: float) -> _Model | None:
    lease = leases.get("key")
    if lease is None:
        return None
    if lease.takes[0][1] < now - LEASE_SECONDS:
        lease.takes = [take for take in lease.takes if take[1] >= now - LEASE_SECONDS]
        if not lease.takes:
            del leases["key"]
            return None
    return lease


def _model_give_back(leases: dict[str, _Model], units: int, source: list[float] | None
                     ) -> tuple[int | None, int | None] | None:
    lease = leases.get("key")
    if lease is None or not any(take is source for take in lease.takes):
        return None
    assert source is not None
    source[0] += units
    held = lease.units()
    return budget._minus(lease.window_left, held), budget._minus(lease.day_left, held)


def _run(seed: int, steps: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    clock = [1000.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    budgets = Budgets(None, DisclosurePolicy())     # type: ignore[arg-type]  # no database
    model: dict[str, _Model] = {}
    key = ("caller", "DS")
    twin: dict[int, list[float]] = {}                   # id(_Take) -> the model's take
    sources: list[tuple[_Take | None, list[float] | None]] = [(None, None)]
    for _ in range(steps):
        op = rng.random()
        if op < 0.25:                                   # a take (how _take adds one)
            units = rng.choice((0, 1, 1, 2, 3, 5, 8, 20))
            window, day = rng.choice((None, 50)), rng.choice((None, 7))
            take = _Take(units, clock[0])
            lease = budgets._leases.setdefault(key, _Lease(None, None))
            lease.add(take)
            lease.window_left, lease.day_left = window, day
            mine = model.setdefault("key", _Model())
            twin[id(take)] = [units, clock[0]]
            mine.takes.append(twin[id(take)])
            mine.window_left, mine.day_left = window, day
            sources.append((take, twin[id(take)]))      # kept alive: ids stay unique
        elif op < 0.55:                                 # a spend (Budgets.spend's path)
            lease, mine = budgets._held(key), _model_held(model, clock[0])
            assert (lease is None) == (mine is None)
            if lease is None or mine is None:
                continue
            assert lease.units == mine.units()
            units = rng.choice((0, 1, 1, 1, 2, 3, 5, 6))
            if rng.random() < 0.05:
                units = mine.units() + rng.randint(0, 2)    # all, or more than it holds
            try:
                expected = mine.spend(units)
            except AssertionError:
                with pytest.raises(AssertionError):
                    lease.spend(units)
            else:
                source = lease.spend(units)
                assert twin[id(source)] is expected
                sources.append((source, expected))
        elif op < 0.8:                                  # a give-back, to any take spent from
            units = rng.choice((0, 1, 1, 2, 4, 5))
            source, expected = sources[max(0, len(sources) - 1 - int(rng.expovariate(0.3)))
                                       if rng.random() < 0.9 else rng.randrange(len(sources))]
            left = budgets.give_back(*key, units, source)
            told = _model_give_back(model, units, expected)
            assert (None if left is None else (left.window, left.day)) == told
            assert left is None or left.source is source
        elif op < 0.95:                                 # time passes
            clock[0] += rng.choice((0.0, 0.5, 3.0, 10.0, 25.0, LEASE_SECONDS))
        else:                                           # a lease pruned in bulk (_take)
            if key in budgets._leases and rng.random() < 0.2:
                del budgets._leases[key]
                del model["key"]
        lease, mine = budgets._leases.get(key), model.get("key")
        assert (lease is None) == (mine is None)
        if lease is not None and mine is not None:
            assert [[t.units, t.at] for t in lease.takes] == mine.takes
            assert [twin[id(t)] for t in lease.takes] == mine.takes
            assert all(twin[id(t)] is m for t, m in zip(lease.takes, mine.takes, strict=True))
            assert lease.units == mine.units()
            assert lease.lapse(clock[0]) == mine.lapse(clock[0])


@pytest.mark.parametrize("seed", range(40))
def test_a_lease_spends_gives_back_and_lapses_as_the_walk_over_its_takes_did(seed, monkeypatch):
    """Random takes, spends, give-backs (to takes spent, pruned or not), lapses and pruning,
    on a lease and on the model of every take summed and walked (as the lease was before
    its running total): the same take drawn from and returned, the same units per take, the
    same held, lapse and Left, at every step."""
    _run(seed, 600, monkeypatch)


def test_a_lease_spends_from_a_take_given_back_before_the_empty_ones_after_it(monkeypatch):
    """A take given back units after later ones were emptied is spent first, then the
    first later take holding units, past the emptied ones (the order of the walk)."""
    clock = [0.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    lease = _Lease(None, None)
    takes = [_Take(1, 0.0), _Take(1, 1.0), _Take(1, 2.0), _Take(5, 3.0)]
    for take in takes:
        lease.add(take)
    assert lease.spend(3) is takes[0]                   # 0, 0, 0, 5
    lease.give_back(takes[0], 2)                        # 2, 0, 0, 5
    assert lease.units == 7 and lease.lapse(10.0) == LEASE_SECONDS - 10.0
    assert lease.spend(3) is takes[0]                   # 0, 0, 0, 4
    assert [t.units for t in takes] == [0, 0, 0, 4]
    assert lease.lapse(10.0) == 3.0 + LEASE_SECONDS - 10.0
    lease.give_back(takes[2], 1)                        # 0, 0, 1, 4
    lease.give_back(takes[1], 1)                        # 0, 1, 1, 4
    assert lease.spend(2) is takes[1] and [t.units for t in takes] == [0, 0, 0, 4]
    lease.drop(2.5)                                     # the first three's life is over
    assert lease.takes == [takes[3]] and lease.units == 4
    assert not lease.holds(takes[0]) and lease.holds(takes[3])


def test_callers_gone_quiet_are_forgotten_without_walking_every_lease_at_each_take(
        monkeypatch):
    """Past MAX_LEASES leases, a take walked every lease held to drop the quiet ones, and
    again at the next take while that many callers were active: a process serving more
    active callers than that paid a walk of all of them per take. Now a walk drops the
    quiet ones, and the next comes only once the leases have doubled since: a few walks for
    a hundred new callers, none of an active caller's lease lost, every quiet one gone."""
    clock = [1000.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(budget, "MAX_LEASES", 4)
    budgets = Budgets(None, DisclosurePolicy())     # type: ignore[arg-type]  # no database

    def lease(at: float) -> _Lease:
        held = _Lease(None, None)
        held.add(_Take(1, at))
        return held

    for n in range(6):                                  # quiet: their last take too old
        budgets._leases[(f"quiet {n}", "DS")] = lease(clock[0] - LEASE_SECONDS - 1)
    walks = 0
    for n in range(100):                                # active callers, one take each
        before = budgets._leases
        budgets._forget_quiet()
        walks += budgets._leases is not before
        budgets._leases[(f"active {n}", "DS")] = lease(clock[0])
    assert not any(caller.startswith("quiet") for caller, _ in budgets._leases)
    assert len(budgets._leases) == 100
    assert 1 <= walks <= 6                              # a walk per take: 96


def test_moments_past_are_forgotten_without_walking_every_wait_at_each_refusal(monkeypatch):
    """The same for the Retry-After moments `wait` remembers per caller and dataset."""
    clock = [1000.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(budget, "MAX_LEASES", 4)
    budgets = Budgets(None, DisclosurePolicy())     # type: ignore[arg-type]  # no database
    for n in range(6):
        budgets._waits[(f"past {n}", "DS")] = (1, clock[0] - 1)
    walks = 0
    for n in range(100):
        before = budgets._waits
        budgets._forget_past(clock[0])
        walks += budgets._waits is not before
        budgets._waits[(f"waiting {n}", "DS")] = (1, clock[0] + 30)
    assert not any(caller.startswith("past") for caller, _ in budgets._waits)
    assert len(budgets._waits) == 100
    assert 1 <= walks <= 6


def test_what_a_burst_left_is_forgotten_once_it_has_gone_quiet(monkeypatch):
    """A walk came only once the leases had doubled since the last: after a burst of callers,
    quiet since, up to twice its peak stayed in memory until as many new callers had come.
    Now a take LEASE_SECONDS after the last walk walks them too, and a quiet burst is gone
    at the first take after it; within LEASE_SECONDS of a walk it walks no sooner than the
    doubling says. The same for the moments `wait` remembers."""
    clock = [1000.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(budget, "MAX_LEASES", 4)
    budgets = Budgets(None, DisclosurePolicy())     # type: ignore[arg-type]  # no database
    for n in range(100):                            # the burst: each a take, then quiet
        budgets._forget_quiet()
        held = _Lease(None, None)
        held.add(_Take(1, clock[0]))
        budgets._leases[(f"burst {n}", "DS")] = held
        budgets._forget_past(clock[0])
        budgets._waits[(f"burst {n}", "DS")] = (1, clock[0] + 30)
    assert len(budgets._leases) > 50 and len(budgets._waits) > 50
    clock[0] += LEASE_SECONDS / 2                   # not yet quiet: kept, and not walked
    before = budgets._leases
    budgets._forget_quiet()
    assert budgets._leases is before
    clock[0] += LEASE_SECONDS / 2 + 1               # quiet now: the next take walks them
    budgets._forget_quiet()
    budgets._forget_past(clock[0])
    assert budgets._leases == {} and budgets._waits == {}
