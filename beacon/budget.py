"""Query budgets per caller and dataset (beacon/disclosure.py's third part), in PostgreSQL.

What a caller may spend is counted in the database (`budget_take`, migration 0002), so it holds
across worker processes and restarts. Asking it on every query would cost a round trip per
request, so a process takes units in small leases (a twentieth of the window's budget, at
most 100) and spends them locally; a lease left unused for `LEASE_SECONDS` is dropped, its
units staying spent. Across processes the total therefore holds exactly; a restart forfeits
what its leases held, and a process refuses a caller while another still holds units of its
budget (docs/privacy.md, "What the leases cost"): both err towards refusing.

A query costs one unit per dataset it asks. When it hits a variant just above the floor
(`disclosure.is_rare`) it costs `rare_cost` units: the extra is recorded after the answer,
even beyond the budget, so the next query is refused instead.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

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
            f"query budget for dataset {dataset_id} spent ({rules.budget_per_window} units per "
            f"{window_seconds} s, {rules.budget_per_day} per day; a query costs 1 unit per "
            f"dataset, {rules.rare_cost} when it finds a rare variant); retry in "
            f"{retry_after} s")


@dataclass
class _Lease:
    units: int
    window_left: int | None          # as the database said when the lease was taken
    day_left: int | None
    taken_at: float


@dataclass(frozen=True)
class Left:
    """What a caller has left of a dataset's budget after a query (for the response's info)."""

    window: int | None
    day: int | None


class Budgets:
    """One per application: the leases this process holds, per caller and dataset."""

    def __init__(self, pool: asyncpg.Pool, policy: DisclosurePolicy,
                 watchdog: Watchdog | None = None) -> None:
        """`watchdog` ends taking a lease on a server that does not answer
        (beacon/hung_server.py); without one, it waits for good."""
        self._pool = pool
        self._watchdog = watchdog
        self._window = policy.window_seconds
        self._leases: dict[tuple[str, str], _Lease] = {}

    async def spend(self, caller: str, dataset_id: str, rules: Rules, units: int = 1,
                    *, force: bool = False) -> Left:
        """Spend `units` of the caller's budget for a dataset; BudgetExceeded if they are not
        there (unless `force`: then they are recorded anyway)."""
        key = (caller, dataset_id)
        lease = self._leases.get(key)
        now = time.monotonic()
        if lease is not None and now - lease.taken_at > LEASE_SECONDS:
            del self._leases[key]            # its unused units stay spent
            lease = None
        if lease is None or lease.units < units:
            lease = await self._take(caller, dataset_id, rules, units, force, lease)
        lease.units -= units
        return Left(_minus(lease.window_left, lease.units), _minus(lease.day_left, lease.units))

    def give_back(self, caller: str, dataset_id: str, units: int = 1) -> None:
        """Return `units` spent of this process's lease and not used after all (charge: the
        query was refused for another dataset). Into the lease held now, which may be a later
        one than the units came from: they were taken from the database all the same, so
        what is used stays within what was taken. Without a lease (pruned) they stay spent,
        which errs towards refusing."""
        lease = self._leases.get((caller, dataset_id))
        if lease is not None:
            lease.units += units

    async def _take(self, caller: str, dataset_id: str, rules: Rules, units: int, force: bool,
                    lease: _Lease | None) -> _Lease:
        if len(self._leases) > MAX_LEASES:  # forget callers gone quiet (their units stay spent)
            now = time.monotonic()
            self._leases = {k: v for k, v in self._leases.items()
                            if now - v.taken_at <= LEASE_SECONDS}
        held = lease.units if lease is not None else 0
        needed = units - held
        limit = min(x for x in (rules.budget_per_window, rules.budget_per_day) if x)
        wanted = needed if force else max(needed, min(MAX_LEASE, limit // 20))
        async with self._pool.acquire() as connection:
            taking = connection.fetchrow(
                "SELECT * FROM budget_take($1, $2, $3, $4, $5, $6, $7, $8)", caller,
                dataset_id, wanted, needed, force, self._window, rules.budget_per_window,
                rules.budget_per_day)
            row = await (taking if self._watchdog is None else
                         self._watchdog.run(connection, taking))
        if not row["taken"]:
            raise BudgetExceeded(dataset_id, row["retry_after"], rules, self._window)
        # Other requests of this caller may have taken units meanwhile (each found the lease
        # short): everything taken joins the one lease, so none is lost, and the database's
        # lowest "left" is the latest.
        current = self._leases.setdefault((caller, dataset_id), _Lease(
            0, row["window_left"], row["day_left"], time.monotonic()))
        current.units += row["taken"]
        current.window_left = _lowest(current.window_left, row["window_left"])
        current.day_left = _lowest(current.day_left, row["day_left"])
        current.taken_at = time.monotonic()
        return current


def _lowest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _minus(left: int | None, held: int) -> int | None:
    """What the database counts as left, plus what this process's lease still holds."""
    return None if left is None else max(0, left + held)


async def charge(budgets: Budgets, caller: str, datasets: list[tuple[str, Rules]]
                 ) -> dict[str, Left]:
    """One unit per dataset a query asks, before it runs (BudgetExceeded: it does not).

    A query refused for one dataset is answered nothing, so the units it took of the
    datasets before that one go back (Budgets.give_back): without that, a caller whose
    budget for one dataset was spent lost a unit of every other dataset it asked with it,
    on every refused query."""
    left: dict[str, Left] = {}
    try:
        for dataset_id, rules in datasets:
            if rules.budgeted:
                left[dataset_id] = await budgets.spend(caller, dataset_id, rules)
    except BudgetExceeded:
        for dataset_id in left:
            budgets.give_back(caller, dataset_id)
        raise
    return left


async def charge_rare(budgets: Budgets, caller: str, hits: list[tuple[str, Rules]],
                      left: dict[str, Left]) -> dict[str, int]:
    """The extra cost of datasets whose answer found a rare variant, recorded even past the
    budget (the answer is given); the units each query spent, per dataset."""
    spent = dict.fromkeys(left, 1)
    for dataset_id, rules in hits:
        if rules.budgeted and rules.rare_cost > 1:
            left[dataset_id] = await budgets.spend(caller, dataset_id, rules,
                                                   rules.rare_cost - 1, force=True)
            spent[dataset_id] = rules.rare_cost
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
