"""Query budgets per caller and dataset (beacon/disclosure.py's third part), in PostgreSQL.

What a caller may spend is counted in the database (`budget_take`, migration 0002), so it holds
across worker processes and restarts. Asking it on every query would cost a round trip per
request, so a process takes units in small leases (a twentieth of the window's budget, at
most 100) and spends them locally. Each take's units are spent for at most `LEASE_SECONDS`
after it, then dropped, staying spent; the database counts each take for the window and two
minutes more (its minute's rounding and that life, migration 0022), so what is answered
within any window, or any UTC day, holds exactly, across processes. A lease keeps its takes
apart for that (`_Take`): merged into one, units left of an earlier take lived on with the
next one's time, past their own count. A restart forfeits what its leases held, and a
process refuses a caller while another still holds units of its budget (docs/privacy.md,
"What the leases cost"): both err towards refusing.

A query costs one unit per dataset it asks, `rare_cost` units when it hits a variant just
above the floor (`disclosure.is_rare`). It takes `rare_cost` units before it runs (`charge`),
refused when fewer are left, and gives back all but one when its answer found no rare
variant (`settle`): no answer is given that its units were not taken for, however many run
at once, and whether a query is refused never depends on what it will find.
"""
from __future__ import annotations

import asyncio
import heapq
import math
import time
from dataclasses import dataclass, field

import asyncpg

from beacon.disclosure import DisclosurePolicy, Rules
from beacon.hung_server import Watchdog

LEASE_SECONDS = 60.0
MAX_LEASE = 100
MAX_LEASES = 10_000              # callers x datasets held before expired leases are pruned


class BudgetExceeded(Exception):
    """The caller has no budget left for a dataset: a 429 with Retry-After."""

    def __init__(self, dataset_id: str, retry_after: int, rules: Rules,
                 window_seconds: int) -> None:
        self.dataset_id = dataset_id
        self.retry_after = retry_after
        super().__init__(
            f"query budget for dataset {dataset_id} spent ({_limits(rules, window_seconds)}; "
            f"{_cost(rules)}); retry in {retry_after} s")


@dataclass
class _Walk:
    """When a map of callers (leases, or the moments `wait` was told) is next walked to
    forget what no longer counts. Past MAX_LEASES entries: once it holds twice what the last
    walk kept (`limit`), so that walks cost O(1) an entry added; or, holding more than
    MAX_LEASES still, LEASE_SECONDS after the last walk (`at`), so that what a burst left
    goes once it has gone quiet. By the doubling alone, a burst's callers, quiet since,
    stayed in memory until as many new ones had come (up to twice the burst's peak)."""

    limit: int
    at: float

    def due(self, size: int, now: float) -> bool:
        return size > self.limit or (size > MAX_LEASES and now - self.at > LEASE_SECONDS)

    def walked(self, kept: int, now: float) -> None:
        self.limit = max(MAX_LEASES, 2 * kept)
        self.at = now


def _limits(rules: Rules, window_seconds: int) -> str:
    """The limits that hold: an unlimited one's 0 ("0 per day") read as no budget at all."""
    limits = [(rules.budget_per_window, f"per {window_seconds} s"),
              (rules.budget_per_day, "per day")]
    return ", ".join(f"{n} unit{'s' if n != 1 else ''} {per}" for n, per in limits if n)


def _cost(rules: Rules) -> str:
    if rules.rare_cost == 1:
        return "a query costs 1 unit per dataset"
    return (f"a query costs 1 unit per dataset, {rules.rare_cost} when it finds a rare "
            f"variant, and needs {rules.rare_cost} left to be asked")


@dataclass(eq=False)
class _Take:
    """The units one take from the database gave, what is left of them, spent until
    LEASE_SECONDS after `at`."""

    units: int
    at: float
    seq: int = field(default=-1, repr=False)     # its place among its lease's takes, ever


@dataclass
class _Lease:
    """The takes held of a caller's budget for a dataset, oldest first, spent in that order.

    What they hold, where spending starts and when the first units lapse are kept in step
    with each change to a take's units (`add`, `spend`, `give_back`, `drop`), so that each
    costs the same with 600 takes as with 1: summed and walked from the oldest take on every
    spend and give-back, as they were until 2026-12-06, a caller at r requests/s holding
    ~0.6 r takes, a spend cost 22 us at 1,000/s against 2 us. A take's units change only
    through these. Oldest first holds as a caller's takes for a dataset are one at a time,
    each timed by the monotonic clock (Budgets._take): `lapse` and `drop` read the first
    takes alone."""

    window_left: int | None          # as the database said at the latest take
    day_left: int | None
    # oldest first; spent in that order; joined only through `add`
    takes: list[_Take] = field(default_factory=list, init=False)
    _units: int = field(default=0, init=False, repr=False, compare=False)
    # takes dropped before takes[0]: a take's place in `takes` is its seq - _dropped
    _dropped: int = field(default=0, init=False, repr=False, compare=False)
    # the seq before which takes hold no units but those in _refilled, a heap of the seqs
    # given back units after spending had passed them (`give_back`)
    _front: int = field(default=0, init=False, repr=False, compare=False)
    _refilled: list[int] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def units(self) -> int:
        return self._units

    def add(self, take: _Take) -> None:
        """A take's units joining the lease, the latest."""
        take.seq = self._dropped + len(self.takes)
        self.takes.append(take)
        self._units += take.units

    def holds(self, take: _Take) -> bool:
        """Whether `take` is one of the takes held (not dropped, not another lease's)."""
        place = take.seq - self._dropped
        return 0 <= place < len(self.takes) and self.takes[place] is take

    def give_back(self, take: _Take, units: int) -> None:
        """`units` back to `take`, one held (`holds`)."""
        empty = not take.units
        take.units += units
        self._units += units
        if empty and take.units and take.seq < self._front:
            heapq.heappush(self._refilled, take.seq)

    def drop(self, before: float) -> None:
        """Drop the takes of before `before` (the oldest, as takes are oldest first), their
        units staying spent."""
        takes, dropped = self.takes, 0
        while dropped < len(takes) and takes[dropped].at < before:
            self._units -= takes[dropped].units
            dropped += 1
        if dropped:
            del takes[:dropped]
            self._dropped += dropped
            self._front = max(self._front, self._dropped)

    def _first(self) -> _Take | None:
        """The oldest take holding units: given back units after spending passed it, or
        the first at or after `_front` (which moves past the empty ones for good)."""
        takes, refilled = self.takes, self._refilled
        while refilled:
            place = refilled[0] - self._dropped
            if place >= 0 and takes[place].units:
                return takes[place]
            heapq.heappop(refilled)                  # dropped, or spent since
        place = self._front - self._dropped
        while place < len(takes) and not takes[place].units:
            place += 1
        self._front = place + self._dropped
        return takes[place] if place < len(takes) else None

    def lapse(self, now: float) -> float:
        """Seconds until the first of the units held lapses (an empty lease: never): the
        oldest take holding units, takes being oldest first."""
        first = self._first()
        return float("inf") if first is None else first.at + LEASE_SECONDS - now

    def spend(self, units: int) -> _Take:
        """Spend `units` (held), the oldest take's first; the first take they came from."""
        first = None
        while (take := self._first()) is not None:
            first = first or take
            drawn = min(take.units, units)
            take.units -= drawn
            self._units -= drawn
            units -= drawn
            if not units:
                break
        assert first is not None and not units, "spent more than the lease holds"
        return first


@dataclass(frozen=True)
class Left:
    """What a caller has left of a dataset's budget after a query (for the response's info),
    and the take its units were spent from first (`source`: where they may go back,
    Budgets.give_back)."""

    window: int | None
    day: int | None
    source: _Take | None = field(default=None, compare=False, repr=False)


class Budgets:
    """One per application: the leases this process holds, per caller and dataset."""

    def __init__(self, pool: asyncpg.Pool, policy: DisclosurePolicy,
                 watchdog: Watchdog | None = None) -> None:
        """`watchdog` ends taking a lease on a server that does not answer
        (beacon/hung_server.py); without one, it waits for good."""
        self._pool = pool
        self._watchdog = watchdog
        self.window_seconds = policy.window_seconds
        self._leases: dict[tuple[str, str], _Lease] = {}
        # the take in flight per caller and dataset: None once done with units taken, else
        # what it needed and the refusal's Retry-After
        self._taking: dict[tuple[str, str], asyncio.Task[tuple[int, int] | None]] = {}
        # what `wait` was told per caller and dataset: the units it asked the database for,
        # and the moment they are there
        self._waits: dict[tuple[str, str], tuple[int, float]] = {}
        # when each is next walked to forget what no longer counts
        self._leases_walk = _Walk(MAX_LEASES, time.monotonic())
        self._waits_walk = _Walk(MAX_LEASES, time.monotonic())

    async def spend(self, caller: str, dataset_id: str, rules: Rules, units: int = 1) -> Left:
        """Spend `units` of the caller's budget for a dataset from this process's lease,
        taking more from the database while it holds too few; BudgetExceeded if the
        database has too few left.

        One take at a time per caller and dataset: a request that finds the lease short
        while one is in flight waits for it and looks again, refused with it if it needs
        what it needed, else taking for itself (refused, it is told when its own need would
        be met: a request needing 5 refused with one needing 1 was told when 1 unit frees,
        and refused again then, until 2026-12-05). When each such request took a lease of
        its own, a fresh caller's 150 questions at once had 130 refused while the first 20
        left 280 units here unused; and units are only ever spent from a lease holding
        them, where a request once subtracted what it had asked the database for after
        others had spent the units it counted on, leaving the lease owing units the
        database never gave."""
        key = (caller, dataset_id)
        refused: tuple[int, int] | None = None
        while True:
            lease = self._held(key)
            held = 0 if lease is None else lease.units
            if lease is not None and held >= units:
                source = lease.spend(units)
                held -= units
                return Left(_minus(lease.window_left, held), _minus(lease.day_left, held),
                            source)
            if refused is not None and units - held == refused[0]:
                raise BudgetExceeded(dataset_id, refused[1], rules, self.window_seconds)
            taking = self._taking.get(key)
            if taking is None or taking.done():      # done and still here: ended unstarted
                taking = self._taking[key] = asyncio.ensure_future(
                    self._take(caller, dataset_id, rules, units - held))
            # shielded: a request that ends while waiting leaves the take to finish, its
            # units joining the lease for the others
            refused = await asyncio.shield(taking)

    async def wait(self, caller: str, dataset_id: str, rules: Rules, units: int) -> int:
        """Seconds until `units` of the caller's budget for a dataset are there (held here,
        or in the database), taking none: for a query already refused for another dataset
        (`charge`). 1 when they are there now, the least a Retry-After says.

        What the database said is remembered until its moment: it only ever frees room as
        time passes, so asking again before then would be told the same. Asked anew, a
        caller refused again and again over many datasets cost the database one statement
        per dataset per question. Only a Retry-After is made of it, never a refusal."""
        key = (caller, dataset_id)
        lease = self._held(key)
        held = 0 if lease is None else lease.units
        if held >= units:
            return 1
        now = time.monotonic()
        known = self._waits.get(key)
        if known is not None and known[0] == units - held and now < known[1]:
            return max(1, math.ceil(known[1] - now))
        connection = await (self._pool.acquire() if self._watchdog is None else
                            self._watchdog.connection(self._pool))
        try:                                             # wanting none: budget_take's probe
            at, row = await self._ask_beyond(connection, caller, dataset_id, rules, 0,
                                             units - held, lease)
        finally:
            await self._pool.release(connection)
        self._forget_past(now)
        self._waits[key] = (units - held, at + row["retry_after"])
        return row["retry_after"]

    def give_back(self, caller: str, dataset_id: str, units: int, source: _Take | None
                  ) -> Left | None:
        """Return `units` spent and not used after all (`charge`: the query was refused for
        another dataset; `settle`: its answer found no rare variant) to `source`, the take
        they were spent from first (Left.source), while the lease holds it; what is left
        then. Given to a later take, they were spent up to its life, past their own take's
        count in the database. A take dropped (LEASE_SECONDS old, or its lease pruned) keeps
        them spent, which errs towards refusing."""
        lease = self._leases.get((caller, dataset_id))
        if lease is None or source is None or not lease.holds(source):
            return None
        lease.give_back(source, units)
        held = lease.units
        return Left(_minus(lease.window_left, held), _minus(lease.day_left, held), source)

    def _forget_quiet(self) -> None:
        """Drop the leases of callers gone quiet (their units stay spent), walking them all
        only when `_Walk` says: walked at every take past MAX_LEASES, a process with that
        many active callers had paid a walk of all of them per question."""
        now = time.monotonic()
        if self._leases_walk.due(len(self._leases), now):
            self._leases = {k: v for k, v in self._leases.items()
                            if now - v.takes[-1].at <= LEASE_SECONDS}
            self._leases_walk.walked(len(self._leases), now)

    def _forget_past(self, now: float) -> None:
        """Drop the moments `wait` was told that have passed, as `_forget_quiet` does."""
        if self._waits_walk.due(len(self._waits), now):
            self._waits = {k: v for k, v in self._waits.items() if v[1] > now}
            self._waits_walk.walked(len(self._waits), now)

    def _held(self, key: tuple[str, str]) -> _Lease | None:
        """The lease of a caller and dataset without its takes of more than LEASE_SECONDS
        ago, whose units stay spent; None once it holds no take."""
        lease = self._leases.get(key)
        if lease is None:
            return None
        now = time.monotonic()
        if lease.takes[0].at < now - LEASE_SECONDS:
            lease.drop(now - LEASE_SECONDS)
            if not lease.takes:
                del self._leases[key]
                return None
        return lease

    async def _take(self, caller: str, dataset_id: str, rules: Rules, needed: int
                    ) -> tuple[int, int] | None:
        """Take at least `needed` units, a lease's worth if there is room, into the lease;
        if the database has fewer than `needed` left, (needed, Retry-After)."""
        key = (caller, dataset_id)
        try:
            self._forget_quiet()
            # a lease only for a caller that took within its life: one asking now and then
            # found each lease lapsed, and each question took a lease's units (15 of an
            # hourly 300) and spent one, refused after 20 questions an hour (until
            # 2026-12-05); the first question of a burst takes what it needs, the next a lease
            limit = min(x for x in (rules.budget_per_window, rules.budget_per_day) if x)
            wanted = (max(needed, min(MAX_LEASE, limit // 20))
                      if self._held(key) is not None else needed)
            # a pool busy past a start-up's bound: a 503 rather than the queue's wait
            # (beacon/hung_server.py)
            connection = await (self._pool.acquire() if self._watchdog is None else
                                self._watchdog.connection(self._pool))
            try:
                at, row = await self._ask_beyond(connection, caller, dataset_id, rules,
                                                 wanted, needed, self._held(key))
            finally:
                await self._pool.release(connection)
        finally:
            del self._taking[key]
        if not row["taken"]:
            return needed, row["retry_after"]
        # a take of its own in the lease held (a new one if it lapsed or was pruned
        # meanwhile); what the database says is left is as of this take, the latest, as
        # takes of one caller and dataset are one at a time here (the lowest it had said
        # was kept until 2026-12-05: once older minutes left the window, a caller asking
        # steadily was told far less was left than there was)
        take = _Take(row["taken"], at)
        current = self._leases.setdefault(key, _Lease(None, None))
        current.add(take)
        current.window_left, current.day_left = row["window_left"], row["day_left"]
        return None

    async def _ask_beyond(self, connection: asyncpg.Connection, caller: str, dataset_id: str,
                          rules: Rules, wanted: int, needed: int, held: _Lease | None
                          ) -> tuple[float, asyncpg.Record]:
        """`_ask`; refused where the units `held` lapse before its Retry-After, asked again
        for those too, as the database alone must then give them all: told when it gives
        only `needed`, a request holding 3 of the 5 it needs was refused again then, until
        2026-12-05. (Taken after all if the window moved on meanwhile: never lost.) With
        `wanted` 0, a probe taking nothing (`wait`)."""
        at, row = await self._ask(connection, caller, dataset_id, rules, wanted, needed)
        if not row["taken"] and held is not None and (
                row["retry_after"] > held.lapse(time.monotonic())):
            more = needed + held.units
            at, row = await self._ask(connection, caller, dataset_id, rules,
                                      more if wanted else 0, more)
        return at, row

    async def _ask(self, connection: asyncpg.Connection, caller: str, dataset_id: str,
                   rules: Rules, wanted: int, needed: int) -> tuple[float, asyncpg.Record]:
        """One `budget_take`: when its take's life starts, and its row."""
        # the take's life starts before the database's clock reads its time: timed after
        # the call, its units were spent past their count by the call's time
        at = time.monotonic()
        taking = connection.fetchrow(
            "SELECT * FROM budget_take($1, $2, $3, $4, false, $5, $6, $7)", caller,
            dataset_id, wanted, needed, self.window_seconds, rules.budget_per_window,
            rules.budget_per_day)
        return at, await (taking if self._watchdog is None else
                          self._watchdog.run(connection, taking))


    async def forget_spent(self) -> int:
        """Delete the minutes of spending no take counts again, how many: `budget_take`
        reads a caller's minutes of the window and two more, and of the UTC day and its two
        before (migration 0023), so a minute older than the window or a day, whichever is
        longer, and ten more, is never read. Kept, the table gained a row per caller,
        dataset and minute of use for good: a node's every anonymous caller's address,
        personal data kept past any use, and as many rows a year as a busy node's callers
        have minutes (found by a review, 2026-12-05)."""
        kept = max(self.window_seconds, 86_400) + 600
        status = await self._pool.execute(
            "DELETE FROM budget_spent WHERE minute < now() - make_interval(secs => $1)", kept)
        return int(status.rpartition(" ")[2])


def _minus(left: int | None, held: int) -> int | None:
    """What the database counts as left, plus what this process's lease still holds."""
    return None if left is None else max(0, left + held)


async def charge(budgets: Budgets, caller: str, datasets: list[tuple[str, Rules]]
                 ) -> dict[str, Left]:
    """What a query may cost, per dataset it asks, before it runs: `rare_cost` units (1 by
    default), BudgetExceeded when fewer are left; `settle` gives back what its answer did not
    cost. Taken after the answer, the extra cost of a rare hit was forced past the budget:
    every question of a burst found its one unit, and with rare_cost 5 a caller with a
    budget of 300 got 170 rare answers (850 units).

    A query refused for one dataset is answered nothing, so the units it took of the
    datasets before that one go back (`refund`): without that, a caller whose budget for
    one dataset was spent lost units of every other dataset it asked with it, on every
    refused query. So they do when a take fails otherwise (the database down, the request
    cancelled), which kept them spent until 2026-12-05.

    Refused for one dataset, it asks the datasets after it when they would have room
    (`Budgets.wait`, taking nothing), and is refused with the latest of those moments: the
    query is answered only once each has room, and told the first refusal's, it was refused
    again then for another dataset whose day was spent (until 2026-12-05)."""
    left: dict[str, Left] = {}
    refused: BudgetExceeded | None = None
    try:
        for dataset_id, rules in datasets:
            if not rules.budgeted:
                continue
            if refused is None:
                try:
                    left[dataset_id] = await budgets.spend(caller, dataset_id, rules,
                                                           rules.rare_cost)
                except BudgetExceeded as exc:
                    refused = exc
                continue
            later = await budgets.wait(caller, dataset_id, rules, rules.rare_cost)
            if later > refused.retry_after:
                refused = BudgetExceeded(dataset_id, later, rules, budgets.window_seconds)
        if refused is not None:
            raise refused
    except BaseException:
        refund(budgets, caller, datasets, left)
        raise
    return left


def refund(budgets: Budgets, caller: str, datasets: list[tuple[str, Rules]],
           left: dict[str, Left]) -> None:
    """Give back what `charge` took (`left`) for a query answered nothing: refused for
    another dataset, or failed (a 503: the database down or too slow; the request
    cancelled) before its answer was made. A failed answer kept its `rare_cost` spent
    until 2026-12-05, so under an outage a caller's budget drained on 503s."""
    for dataset_id, rules in datasets:
        if dataset_id in left:
            budgets.give_back(caller, dataset_id, rules.rare_cost, left[dataset_id].source)


def settle(budgets: Budgets, caller: str, datasets: list[tuple[str, Rules]], rare: set[str],
           left: dict[str, Left]) -> dict[str, int]:
    """After the answer: the units `charge` took beyond one go back for each dataset whose
    answer found no rare variant (`rare`: those whose did), into the lease, no database
    work either way; `left` is updated. The units each dataset cost, per dataset charged."""
    spent: dict[str, int] = {}
    for dataset_id, rules in datasets:
        if dataset_id not in left:
            continue
        if dataset_id in rare or rules.rare_cost == 1:
            spent[dataset_id] = rules.rare_cost
            continue
        spent[dataset_id] = 1
        now = budgets.give_back(caller, dataset_id, rules.rare_cost - 1,
                                left[dataset_id].source)
        if now is not None:
            left[dataset_id] = now
    return spent


async def network_caller_secret(pool: asyncpg.Pool) -> bytes:
    """The key a network node pseudonymises its anonymous callers' budget keys with before
    its peers see them (node/federation/network.py, caller_pseudonyms): the database's own
    (migration 0020), so every worker process and every restart names a caller alike, where
    a key of each process's would give a caller a fresh budget at every peer per process."""
    secret = await pool.fetchval("SELECT secret FROM network_caller_secret")
    if secret is None:
        raise RuntimeError(
            "the table network_caller_secret holds no secret (migration 0020 made one, and "
            "it holds one row at most): put one back with INSERT INTO network_caller_secret "
            "VALUES (gen_random_uuid()::text || gen_random_uuid()::text)")
    return secret.encode()
