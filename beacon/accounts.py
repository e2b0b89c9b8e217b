"""One loss account per caller and dataset, for variants whose carriers nobody can name.

A sites-only VCF (AC, AN and nhomalt: gnomAD's convention) counts each variant's carriers
exactly but says who none of them are, so beacon/losses.py has nobody to charge, and its
variants near the floor were answered by the smooth floor alone: each answer telling a
little, 300 of them told a caller holding someone's genome whether they are in the cohort
(power 0.68 anonymously; docs/privacy.md item 4, "Variants that name nobody"). Here,
as emulated first (bench/membership_defences.py --sites-only, rule A'), every answer about
a near-floor variant (k to `Floor.upper` carriers) adds to the caller's account for the
dataset what it would charge each person counted in it (log p(c) / p(c - 1) shown,
log (1 - p(c - 1)) / (1 - p(c)) hidden), as if one person were in them all: the account
bounds everyone's loss. Once it is past the tier's `loss_budget`, the dataset answers that
caller nothing more, whatever it is asked: a refusal of every question alike leaves no edge
to read, where hiding only the band would leave a sharp floor at its top (power 0.86 in
the emulation). The answer whose own charges take it past the budget is refused too (they
are charged all the same): the emulation asked one variant per question and gave that
answer, but one range's answer told a review's probe the status of every near-floor
variant in it, 540, for one account. Each variant is charged once per caller (its answer
kept in `disclosure_answers`), and a shown variant stays what the tier's draw made it, the
same for every caller.

The check and the charge are made in the caller's turn (its lock, as beacon/losses.py
`turn` takes it, in one call: `disclosure_account_turn`, migration 0029), so that parallel
questions cannot all pass an account that the first of them spends. The account
outlives the dataset's versions: a new one holds people nobody can tell from the earlier
ones' (migration 0029).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import asyncpg

from beacon import store
from beacon.disclosure import Rules
from beacon.losses import turn, turn_key
from beacon.request import VariantQuery
from beacon.visibility import CARRIERS, KEY, Floor, answered


@dataclass(frozen=True, slots=True)
class Accounted:
    """A dataset's answer to a caller from its account: its matches as the tier shows them
    (None: none), or `refused`, its account spent before this question."""

    matches: store.Matches | None
    refused: bool = False


REFUSED = Accounted(None, refused=True)


def refusal(rules: Rules) -> str:
    """Why a dataset answers a caller nothing more, as its answers say it."""
    return ("the caller's disclosure account for this dataset is spent: its answers about "
            "variants near the allele floor, whose carriers the dataset does not name, "
            f"realised the tier's loss budget ({rules.loss_budget:g}), and the dataset "
            "answers this caller nothing more (docs/privacy.md, \"Variants that name "
            "nobody\")")


class AccountSpent(Exception):
    """Every dataset a question named answers its caller nothing more (`REFUSED`): a 403
    naming them, where an answer without them would read as "not found"."""

    def __init__(self, refused: dict[str, str]) -> None:
        self.refused = refused
        super().__init__("; ".join(f"dataset {dataset_id}: {why}"
                                   for dataset_id, why in refused.items()))


def account_tally(caller: str, floor: Floor) -> store.Tally:
    """What the shared count (made with the sharp floor k) adds for a caller answered from
    its account: how many matches are near the floor, how many of those the tier's draw
    shows and the rarest of them, the rarest above the band, and the near ones the caller
    was never answered about, each with its carriers and whether it is shown: what its
    turn charges."""
    return store.Tally(*_tally_sql(floor), (caller,))


@lru_cache(maxsize=64)
def _tally_sql(floor: Floor) -> tuple[str, tuple[str, ...]]:
    """`account_tally`'s join and aggregates, made once per floor (the same string objects
    keep the batch key's hash cached)."""
    near = f"{CARRIERS} < {floor.upper}"
    shown = f"{near} AND {floor.drawn()}"
    join = f"LEFT JOIN LATERAL (SELECT TRUE AS given {answered()} AND {near}) AS answered ON TRUE"
    return (join,
            (f"count(*) FILTER (WHERE {near})", f"count(*) FILTER (WHERE {shown})",
             f"min({CARRIERS}) FILTER (WHERE {shown})",
             f"min({CARRIERS}) FILTER (WHERE NOT ({near}))",
             (f"array_agg(ROW({KEY}, {CARRIERS}, {floor.drawn()})) "
              f"FILTER (WHERE {near} AND answered.given IS NULL)")))


async def answer_from_account(conn: asyncpg.Connection, caller: str, row: store.DatasetRow,
                              rules: Rules, query: VariantQuery, chromosome: str | None,
                              span: int, matches: store.Matches | None) -> Accounted:
    """The dataset's answer to `caller`, in its turn: REFUSED if its account was spent
    before, or is once this answer's near-floor matches it was never answered about are
    charged to it (and kept); else `matches` (the shared count's, with `account_tally`'s
    aggregates) as the tier shows them. The turn is one call (`disclosure_account_turn`,
    migration 0029: the caller's lock, the account read and charged), one round trip where
    three (the lock, the charge, the commit) cost each answer 62% more instructions than the
    tier's own. Of the version in place in the turn: one swapped in since the count is
    counted again in a turn held for it (beacon/losses.py `turn`), and charged as that one
    holds it."""
    floor = rules.floor
    state = await _charge(conn, caller, row.id, floor, rules.loss_budget, matches,
                          (row.version, row.created_at))
    if state is not None and state["spent"] <= rules.loss_budget and (
            state["version"], state["created_at"]) != (row.version, row.created_at):
        async with turn(conn, caller):
            key, args = store.count_query(query, [row.id], chromosome, span, Floor(floor.k),
                                          tally=account_tally(caller, floor))
            matches = (await store.count_batch(conn, key, [args]))[0].get(row.id)
            state = await _charge(conn, caller, row.id, floor, rules.loss_budget, matches,
                                  (state["version"], state["created_at"]))
    if state is None:
        return Accounted(None)                      # removed since: nothing to answer
    if state["spent"] > rules.loss_budget or (
            state["after"] is not None and state["after"] > rules.loss_budget):
        return REFUSED
    return Accounted(_shown(matches))


def _shown(matches: store.Matches | None) -> store.Matches | None:
    """What the tier shows of `matches` (counted with the sharp floor k): every match above
    the band, and those near it its draw shows."""
    if matches is None:
        return None
    near, shown, rarest_shown, above, _ = matches.tally
    count = matches.count - near + shown
    if not count:
        return None
    return store.Matches(count, min(c for c in (rarest_shown, above) if c is not None))


async def _charge(conn: asyncpg.Connection, caller: str, dataset_id: str, floor: Floor,
                  budget: float, matches: store.Matches | None,
                  version: tuple[int, object]) -> asyncpg.Record | None:
    """The caller's turn at its account for the dataset (`disclosure_account_turn`): the
    account as the turn found it (spent, and the version in place), with the near-floor
    matches it was never answered about charged to it, if it had room and the version in
    place is `version` (the one they were counted in), and kept where that leaves it within
    the budget; and what it holds then (`after`; NULL: nothing charged). A parallel question
    of the caller's that answered some of them first, in its own turn, kept them, and they
    are charged once. None: the dataset is gone."""
    fresh = matches.tally[4] if matches is not None else None
    # nothing to charge (an answer asked again), the turn taken all the same: NULL arrays,
    # which unnest alike (no rows), where asyncpg checked three empty ones against
    # collections.abc's classes, in Python (21k instructions an answer)
    keys = shown = losses = None
    if fresh:
        keys = [key for key, _, _ in fresh]
        shown = [drawn for _, _, drawn in fresh]
        losses = [floor.shown_loss(carriers) if drawn else floor.hidden_loss(carriers)
                  for _, carriers, drawn in fresh]
    return await conn.fetchrow(_TURN, turn_key(caller), caller, dataset_id, keys, shown,
                               losses, budget, *version)


_TURN = "SELECT * FROM disclosure_account_turn($1, $2, $3, $4, $5, $6, $7, $8, $9)"
