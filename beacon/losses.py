"""Each caller's realised privacy loss per person, under the smooth floor (beacon/visibility.py).

The smooth floor alone makes each answer about a variant just above the floor only weakly
dependent on any one person, but an attacker asking about hundreds of a target's alleles adds
those weak signals up. So, as Raisaro et al. (JAMIA 2017) propose per person, and with the
accounting of personalised differential privacy: every variant near the floor (fewer than
`Floor.upper` carriers) that a caller is shown charges each person counted in it the loss the
answer realised, log p(c) / p(c - 1) (nearly nothing for a variant carried by many, infinite
for one carried by exactly k, where that person made it shown at all). A person whose total
for a caller passes the tier's `loss_budget` is no longer counted in that caller's answers
(`CallerView`): they stop contributing before their membership can be read off. Variants the
caller was shown stay shown, so a person being dropped cannot be seen as a variant turning
hidden. `bench/membership_defences.py` emulated this: the floor-aware attack's power 0.13 at
most, against 1.00 with the sharp floor (docs/privacy.md).

It runs only for an answer that touched the near-floor band (the first, shared statement's
rarest match says so), in a transaction holding the caller's lock for the dataset, so that
parallel questions of one caller are charged one after the other, and on the primary: the
losses are written. Variants known only by their AC (no genotypes) have no people to charge:
they get the smooth floor without the accounting. A new dataset version starts from nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import numpy as np
from asyncpg import BitString

from beacon import store
from beacon.disclosure import Rules
from beacon.request import VariantQuery
from beacon.visibility import CARRIERS, KEY, CallerView

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 11))"


@dataclass
class _Losses:
    charged: np.ndarray        # float32 per sample
    shown: list[str]

    def view(self, budget: float) -> CallerView:
        counted = np.packbits(self.charged <= budget).tobytes()
        return CallerView(BitString.frombytes(counted, len(self.charged)), self.shown)


async def _load(conn: asyncpg.Connection, caller: str, row: store.DatasetRow) -> _Losses:
    found = await conn.fetchrow(
        "SELECT version, charged, shown FROM disclosure_losses "
        "WHERE caller = $1 AND dataset_id = $2", caller, row.id)
    if found is None or found["version"] != row.version:
        return _Losses(np.zeros(row.sample_count, dtype=np.float32), [])
    return _Losses(np.frombuffer(found["charged"], dtype="<f4").copy(), list(found["shown"]))


async def _save(conn: asyncpg.Connection, caller: str, row: store.DatasetRow,
                losses: _Losses) -> None:
    await conn.execute(
        "INSERT INTO disclosure_losses (caller, dataset_id, version, charged, shown) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (caller, dataset_id) DO UPDATE SET "
        "version = EXCLUDED.version, charged = EXCLUDED.charged, shown = EXCLUDED.shown, "
        "updated_at = now()", caller, row.id, row.version,
        losses.charged.astype("<f4").tobytes(), losses.shown)


@dataclass(frozen=True)
class Given:
    """What one caller was given of one dataset: its matches, and a page of records."""

    matches: store.Matches | None
    records: list[store.VariantRow]


async def answer_as_seen(conn: asyncpg.Connection, caller: str, row: store.DatasetRow,
                         rules: Rules, query: VariantQuery, chromosome: str | None, span: int,
                         page: tuple[int, int] | None) -> Given:
    """The dataset's answer to `query` as `caller` may see it (its matches, and the records
    of `page` = (skip, limit) if given), charging what the answer shows near the floor."""
    floor = rules.floor
    async with conn.transaction():
        await conn.execute(_LOCK, f"{caller} {row.id}")
        losses = await _load(conn, caller, row)
        view = losses.view(rules.loss_budget)
        key, args = store.count_query(query, [row.id], chromosome, span, floor, view)
        matches = (await store.count_batch(conn, key, [args]))[0].get(row.id)
        records = await store.fetch_variants(conn, query, row.id, chromosome, span, floor,
                                             *page, view=view) if page and matches else []
        conditions = key.conditions          # the count's own, with its arguments `args`
        near = await conn.fetch(
            f"SELECT {KEY}, carrier_bits & $1, bit_count(carrier_bits & $1) FROM variants "
            f"WHERE {store.numbered(conditions, first=2)} AND carrier_bits IS NOT NULL "
            f"AND {CARRIERS} < {floor.upper} AND NOT ({KEY} = ANY(${len(args) + 2}::text[]))",
            view.counted, *args, losses.shown) if matches else []
        for variant, bits, counted in near:
            people = np.unpackbits(np.frombuffer(bits.bytes, dtype=np.uint8),
                                   count=row.sample_count).astype(bool)
            losses.charged[people] += np.float32(floor.shown_loss(counted))
            losses.shown.append(variant)
        if near:
            await _save(conn, caller, row, losses)
    return Given(matches, records)
