"""Each caller's realised privacy loss per person, under the smooth floor (beacon/visibility.py).

The smooth floor alone makes each answer about a variant just above the floor only weakly
dependent on any one person, but an attacker asking about hundreds of a target's alleles adds
those weak signals up. So, as Raisaro et al. (JAMIA 2017) propose per person, and with the
accounting of personalised differential privacy: every answer about a variant near the floor
(k to `Floor.upper` carriers) charges each person counted in it the loss the answer realised:
log p(c) / p(c - 1) if shown (nearly nothing for a variant carried by many, infinite for one
carried by exactly k, where that person made it shown at all), log (1 - p(c - 1)) / (1 - p(c))
if hidden (at most 0.67 at the defaults). Charging only what was shown let a patient attacker
add up the "no"s: 600 floor-aware questions per target reached power 0.17. Each variant is
charged once per caller: one shown stays shown, and one hidden stays hidden (the caller's
view only gets stricter, so p(c) only falls against its fixed draw). A person whose total
for a caller passes the tier's `loss_budget` is no longer counted in that caller's answers
(`CallerView`): they stop contributing before their membership can be read off. Variants the
caller was shown stay shown, so a person being dropped cannot be seen as a variant turning
hidden. An answer about several near-floor variants judges them one after another, each under
the view the charges of those before it left (`_judged`): judged all under the view before
the answer, one range listing 300 of a target's alleles had power 0.76, and 0.11 now. tests/test_membership.py measures the floor-aware attack's power at 0.14 at most
(after 300 questions anonymously, 600 bona fide), against 1.00 with the sharp floor
(docs/privacy.md).

It runs only for an answer that touched the near-floor band (the first, shared statement
counts such a dataset with the sharp floor k, and its rarest match says so), on the primary:
the losses are written. It reads those matches by the keys the shared statement lists
(`tally`), not the query's range again, so that its work grows with them and not with the
range, which a caller could time (`answer_as_seen`). An answer that matched a near-floor
variant the caller was never answered about takes a transaction holding the caller's lock
for the dataset, so that parallel questions of one caller are charged one after the other;
every other answer about the dataset waits for that lock too, or its wait would tell which
answers charge (`turn`). Variants known only by their AC (no genotypes) have no people to
charge: in a dataset with genotypes for the others they get the smooth floor without the
accounting; a dataset none of whose variants has genotypes (`DatasetVersion.genotyped`
false) is not accounted here but charged to one account per caller instead
(beacon/accounts.py), whose answers wait for the same turn. Counts of individuals carrying a matching variant are charged the same
(`charged_view`): whether one is 0 says whether the variant is there.

Versions. The accounts are of the dataset's version in place when the caller's turn reads
them (`_load`), not of the `store.DatasetRow` the request resolved before it: a request waits
(for the node's datasets cache to hear of a swap, and for the caller's turn, behind its
other questions) and an ingest may swap a new version in meanwhile. Charged by the row,
such an answer failed (the row's 40 samples against the new version's 30 carriers' bits, a
500) or, with as many samples, started from nothing under the row's old version number and
wiped the caller's accounts of the new one: a caller regained its budget, and its answers,
by having questions wait across a swap. The turn holds the version in place until it ends
(`turn`). A new version carries the accounts over for the people it still holds, placed
where it holds them (beacon/visibility.py keep_accounts), and each version's losses are only
ever read with its own people.

The same people in several datasets. Each dataset's accounts hold the charges of the
answers about it; a person's standing with a caller is their sum over every dataset holding
it, by sample id (`_others`, `shared_people`): the people a caller ran out of in one copy of
a cohort are out of its answers about every copy (docs/privacy.md, "The same people in
several datasets"). Datasets holding the same samples in the same order draw each set of
individuals alike, and hold one answer about it for a caller (`charge_set`).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import lru_cache

import asyncpg
import numpy as np
from asyncpg import BitString

from beacon import store
from beacon.disclosure import Rules, SetDraw
from beacon.request import VariantQuery
from beacon.visibility import CARRIERS, DRAW, KEY, CallerView, Floor, answered


@dataclass
class _Losses:
    caller: str
    dataset_id: str
    version: int | None        # the dataset's in place in the turn; None: removed since
    charged: np.ndarray        # float32 per sample of that version: this dataset's answers'
    answered: dict[str, bool] = field(default_factory=dict)   # this answer's, to be saved
    # whether the version in place is the one the request resolved: its number and when the
    # dataset was made, as a dataset removed and loaded again starts at version 1 anew
    resolved: bool = True
    # what the caller was charged for the same people in the other datasets holding them
    # (`_others`), per sample of this version; None: no other dataset holds any of them
    others: np.ndarray | None = None

    def counted(self, budget: float) -> np.ndarray:
        """Per sample, whether the caller's answers still count it: its losses, added up
        over every dataset holding it, are within `budget`."""
        total = self.charged if self.others is None else self.charged + self.others
        return total <= budget

    def view(self, budget: float) -> CallerView:
        """Who the caller's answers still count (`counted`), as the statements take it."""
        return self.view_of(self.counted(budget))

    def view_of(self, counted: np.ndarray) -> CallerView:
        """`counted` (per sample) as the statements take it."""
        bits = np.packbits(counted).tobytes()
        return CallerView(BitString.frombytes(bits, len(self.charged)), self.caller,
                          self.dataset_id)


async def _load(conn: asyncpg.Connection, caller: str, row: store.DatasetRow, *,
                with_others: bool = True) -> _Losses:
    """The caller's losses for the dataset's version in place, which the turn holds
    (`turn`), read with its number and size in one statement: whatever version `row` (the
    request's) says. Nothing kept for that version: nothing charged yet. A dataset removed
    since the request resolved it has no variants and no people left to charge.

    With them, if other datasets hold some of its people, what the caller was charged for
    those in each (`_others`), which its view needs: its turn is one for every dataset
    (`turn_key`), so none of those is charged meanwhile. Not `with_others` for losses
    charged under a view already made (`charge_set`): another read of the other datasets'
    accounts, for nothing."""
    found = await conn.fetchrow(_LOAD, caller, row.id)
    if found is None:
        return _Losses(caller, row.id, None, np.zeros(0, dtype=np.float32), resolved=False)
    charged = (np.zeros(found["sample_count"], dtype=np.float32) if found["charged"] is None
               else np.frombuffer(found["charged"], dtype="<f4").copy())
    return _Losses(caller, row.id, found["version"], charged, resolved=(
        found["version"] == row.version and found["created_at"] == row.created_at),
        others=(await _others(conn, caller, row.id, len(charged))
                if with_others and found["shared"] else None))


_LOAD = ("SELECT d.version, d.created_at, d.sample_count, l.charged, "
         "EXISTS (SELECT 1 FROM shared_people s WHERE s.dataset_id = d.id) AS shared "
         "FROM datasets d LEFT JOIN disclosure_losses l ON l.caller = $1 "
         "AND l.dataset_id = d.id AND l.version = d.version WHERE d.id = $2")


async def _others(conn: asyncpg.Connection, caller: str, dataset_id: str, samples: int
                  ) -> np.ndarray:
    """Per sample of the dataset's version in place, what `caller` was charged for the same
    person (by sample id) in every other dataset holding it, added up: each dataset's
    accounts hold its own answers' charges, and a person's standing is their sum. One VCF
    loaded as three datasets gave a tracker a draw and a budget over each person in each
    copy: 12% of a bona fide caller's targets' genotypes against 4% in one (docs/privacy.md,
    "The same people in several datasets"). Both places are of the versions in place,
    which the turn holds (`shared_people`, made by the swap that put either in place)."""
    total = np.zeros(samples, dtype=np.float32)
    for positions, other_positions, charged in await conn.fetch(
            "SELECT s.positions, s.other_positions, l.charged FROM shared_people s "
            "JOIN datasets o ON o.id = s.other_id JOIN disclosure_losses l "
            "ON l.caller = $1 AND l.dataset_id = o.id AND l.version = o.version "
            "WHERE s.dataset_id = $2", caller, dataset_id):
        # each person once per other dataset (`individuals` is UNIQUE on dataset and id)
        total[np.frombuffer(positions, dtype=">i4")] += np.frombuffer(charged, dtype="<f4")[
            np.frombuffer(other_positions, dtype=">i4")]
    return total


async def keep_removed(conn: asyncpg.Connection, dataset_id: str) -> int:
    """Before the dataset is removed (store.delete_dataset, holding `variants` as no turn
    is under way): each caller's charges over its people that other datasets hold too,
    added to the caller's account of one of those (for each person, the first by id
    holding them), so that each person's standing with the caller, the sum over every
    dataset holding them (`_others`), stays what it was. Removing one copy of a cohort
    took what answers about it had charged off every person's standing: a caller regained
    its budget over the people in the copies left, though what it had learnt stayed
    learnt (found by a review, 2026-12-05). Returns how many callers' charges moved."""
    shares = await conn.fetch(
        "SELECT s.other_id, s.positions, s.other_positions, o.version, o.sample_count "
        "FROM shared_people s JOIN datasets o ON o.id = s.other_id "
        "WHERE s.dataset_id = $1 ORDER BY s.other_id", dataset_id)
    if not shares:
        return 0
    placed = np.zeros(await conn.fetchval("SELECT sample_count FROM datasets WHERE id = $1",
                                          dataset_id), dtype=bool)
    moves = []
    for share in shares:
        mine = np.frombuffer(share["positions"], dtype=">i4")
        theirs = np.frombuffer(share["other_positions"], dtype=">i4")
        fresh = ~placed[mine]                   # each person to one dataset: counted once
        placed[mine] = True
        if fresh.any():
            moves.append((share["other_id"], share["version"], share["sample_count"],
                          mine[fresh], theirs[fresh]))
    moved = 0
    for caller, charged in await conn.fetch(
            "SELECT l.caller, l.charged FROM disclosure_losses l JOIN datasets d "
            "ON d.id = l.dataset_id AND d.version = l.version WHERE l.dataset_id = $1",
            dataset_id):
        lost = np.frombuffer(charged, dtype="<f4")
        touched = False
        for other, version, size, mine, theirs in moves:
            if not lost[mine].any():
                continue
            touched = True
            held = await conn.fetchval(
                "SELECT charged FROM disclosure_losses WHERE caller = $1 AND dataset_id = $2 "
                "AND version = $3", caller, other, version)
            total = (np.zeros(size, dtype=np.float32) if held is None
                     else np.frombuffer(held, dtype="<f4").copy())
            total[theirs] += lost[mine]
            await conn.execute(
                "INSERT INTO disclosure_losses (caller, dataset_id, version, charged) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (caller, dataset_id) DO UPDATE SET "
                "version = EXCLUDED.version, charged = EXCLUDED.charged, updated_at = now()",
                caller, other, version, total.astype("<f4").tobytes())
        moved += touched
    return moved


async def _save(conn: asyncpg.Connection, losses: _Losses) -> None:
    """The losses and this answer's answers, as of their version. (The swap that put it in
    place carried the earlier version's to it, or dropped them: visibility.keep_accounts.)"""
    assert losses.version is not None, "a removed dataset has nothing to charge"
    await conn.execute(
        "INSERT INTO disclosure_losses (caller, dataset_id, version, charged) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (caller, dataset_id) DO UPDATE SET "
        "version = EXCLUDED.version, charged = EXCLUDED.charged, updated_at = now()",
        losses.caller, losses.dataset_id, losses.version, losses.charged.astype("<f4").tobytes())
    await conn.execute(
        "INSERT INTO disclosure_answers (caller, dataset_id, version, variant, shown) "
        "SELECT $1, $2, $3, * FROM unnest($4::text[], $5::bool[])",
        losses.caller, losses.dataset_id, losses.version, list(losses.answered),
        list(losses.answered.values()))


# Where the caller's (`{}`) earlier answer about the variant in hand is, if it has one.
_ANSWERED = answered()


def tally(caller: str, floor: Floor) -> store.Tally:
    """What the shared count adds for a caller whose answers near the floor are accounted:
    how many of the matches are near the floor, how many of those the caller is shown (as it
    was before; or, for a variant without genotypes, which has nobody to charge, as the tier
    is), how many it was never answered about, and the rarest it is shown; then the rarest
    of the matches above the band, and where the matches near the floor are (`BAND`), which
    the caller's turn reads by their keys (`answer_as_seen`) rather than the query's range
    again. Answers of an older version of the dataset do not count."""
    return store.Tally(*_tally_sql(floor), (caller,))


# Where each match near the floor is (its key's columns), in the tally's last aggregate.
BAND = ("chromosome", "start_pos", "ref", "alt", "end_pos")


@lru_cache(maxsize=64)
def _tally_sql(floor: Floor) -> tuple[str, tuple[str, ...]]:
    """`tally`'s join and aggregates, made once per floor: every request of an accounted
    caller asks them, and the same string objects keep the batch key's hash cached."""
    near = f"{CARRIERS} < {floor.upper}"
    shown = f"{near} AND (answered.shown OR (carrier_bits IS NULL AND {floor.drawn()}))"
    place = ", ".join(BAND)
    return (f"LEFT JOIN LATERAL (SELECT a.shown {_ANSWERED} AND {near}) AS answered ON TRUE",
            (f"count(*) FILTER (WHERE {near})", f"count(*) FILTER (WHERE {shown})",
             (f"count(*) FILTER (WHERE {near} AND carrier_bits IS NOT NULL "
              f"AND answered.shown IS NULL)"),
             f"min({CARRIERS}) FILTER (WHERE {shown})",
             f"min({CARRIERS}) FILTER (WHERE NOT ({near}))",
             f"array_agg(ROW({place}) ORDER BY {place}) FILTER (WHERE {near})"))


def determined(matches: store.Matches, floor: Floor) -> Given | None:
    """The answer, if the caller's earlier answers determine it (None if not; `matches` as
    `tally` counted them): whatever is shown to anyone, carried by `upper` or more, and the
    near-floor matches it was shown, every other one having been answered hidden. Shown
    stays shown and hidden stays hidden (the caller's view only gets stricter), so the
    answer is the same under any later state, and there is nothing to charge. Its rarest is
    at least `upper` when none near the floor is shown (only a `rare_below` above that would
    tell)."""
    near, shown, unanswered, rarest = matches.tally[:4]  # counts (never NULL), and a min
    if unanswered:
        return None
    count = matches.count - (near or 0) + (shown or 0)
    if not count:
        return Given(None, [])
    return Given(store.Matches(count, floor.upper if rarest is None else rarest), [])


@dataclass(frozen=True)
class Given:
    """What one caller was given of one dataset: its matches, and a page of records."""

    matches: store.Matches | None
    records: list[store.VariantRow]


async def answer_as_seen(conn: asyncpg.Connection, caller: str, row: store.DatasetRow,
                         rules: Rules, query: VariantQuery, chromosome: str | None, span: int,
                         page: tuple[int, int] | None, matches: store.Matches) -> Given:
    """The dataset's answer to `query` as `caller` may see it (its matches, and the records
    of `page` = (skip, limit) if given), charging what the answer shows near the floor;
    `matches` is what the query matches under the tier's sharp floor k, with `tally`'s
    aggregates. If those say the caller's earlier answers determine it (`determined`) and
    no page is asked, nothing is read or charged. Either way it waits for the caller's turn
    (`turn`), as every answer about the dataset does.

    Otherwise the turn reads the matches near the floor by the keys the shared count found
    them at (`_seen`), never the query's range again: the count and the charges are made
    from those and from the count's aggregates (the ones it was never answered about judged
    one after another, `_judged`), and a page of records is read under the caller's view as
    this answer's charges left it, its judged variants kept. It read the range twice more, for the variants to charge and
    for the count as the caller sees it: on a wide range the answer was that much later
    than one without a match near the floor, past the answer time floor (docs/privacy.md,
    "Timing"). A version swapped in since `matches` were counted is read afresh, range and
    all, and charged as any answer is: what the count found was of another version."""
    given = determined(matches, rules.floor)
    if given is not None and (page is None or given.matches is None):
        await take_turn(conn, caller)
        return given
    async with turn(conn, caller):
        losses = await _load(conn, caller, row)
        if not losses.resolved:
            view = await _charged(conn, losses, rules, query, row.id, chromosome, span)
            return await _answer(conn, row, rules, query, chromosome, span, page, view)
        seen = await _seen(conn, losses, rules, row.id, matches)
        # under the view this answer's charges left: its variants judged in turn are kept,
        # those shown by their answers, those hidden by that stricter view
        records = await store.fetch_variants(conn, query, row.id, chromosome, span,
                                             rules.floor, *page,
                                             view=losses.view(rules.loss_budget)) if (
            page and seen) else []
        return Given(seen, records)


async def _seen(conn: asyncpg.Connection, losses: _Losses, rules: Rules, dataset_id: str,
                matches: store.Matches) -> store.Matches | None:
    """What the caller is shown of `matches` (the shared count's, with `tally`'s
    aggregates), with what it shows or hides near the floor charged: as a count of the
    range would count it, every match above the band being shown to every caller, each it
    was answered about before as it was then, and each other near it judged in turn
    (`_judged`); None if nothing is shown."""
    near, *_, above, band = matches.tally
    counted = losses.counted(rules.loss_budget)     # before this answer's charges
    found = await _band(conn, losses.caller, dataset_id, rules, losses.view_of(counted),
                        band or [])
    fresh = [(key, bits, draw) for key, bits, _, _, _, answered, draw in found
             if bits is not None and not answered]
    decided = await _judged(losses, rules, fresh, counted)
    if decided:
        await _save(conn, losses)
    carriers = [carriers for key, bits, _, carriers, shown, answered, _ in found
                if decided.get(key, shown)]
    count = matches.count - near + len(carriers)
    if not count:
        return None
    return store.Matches(count, min(c for c in (above, *carriers) if c is not None))


async def _band(conn: asyncpg.Connection, caller: str, dataset_id: str, rules: Rules,
                view: CallerView, band: list[tuple[str, int, str, str, int]]
                ) -> list[asyncpg.Record]:
    """Each variant near the floor at `band` (keys the shared count found, `BAND`) in the
    dataset's version in place: its key, its carriers still counted for the caller (bits,
    and how many: NULL for one without genotypes), its carriers, whether the caller is
    shown it (`Floor.condition` under `view`) and whether the caller was answered about it
    before. One index lookup each: the work does not grow with the query's range, as
    `_near`'s does."""
    floor = rules.floor
    shown, shown_args = floor.condition(view)
    return await conn.fetch(
        f"SELECT v.* FROM unnest($4::text[], $5::int[], $6::text[], $7::text[], $8::int[]) "
        f"WITH ORDINALITY AS k(c, s, r, a, e, i) CROSS JOIN LATERAL (SELECT {KEY}, "
        f"carrier_bits & $2, bit_count(carrier_bits & $2), {CARRIERS}, "
        f"{store.numbered((shown,), first=9)}, EXISTS (SELECT {_ANSWERED.format('$1')}), "
        f"{DRAW} FROM variants WHERE dataset_id = $3 "
        f"AND chromosome = k.c AND start_pos = k.s AND ref = k.r AND alt = k.a "
        f"AND end_pos = k.e AND {CARRIERS} >= {floor.k} AND {CARRIERS} < {floor.upper}) AS v "
        f"ORDER BY k.i",
        caller, view.counted, dataset_id, *(list(column) for column in zip(*band, strict=True))
        if band else ([] for _ in BAND), *shown_args)


@asynccontextmanager
async def turn(conn: asyncpg.Connection, caller: str) -> AsyncIterator[None]:
    """The caller's turn at the dataset's accounts: a transaction holding the caller's lock
    (one per caller, for every dataset (`turn_key`), across worker processes: an advisory
    lock on the primary), so that parallel questions of one caller are charged one after
    the other. In a transaction already open (a wide lane's), the lock is held until that one
    ends.

    Every answer that asks a dataset whose caller's tier keeps losses waits for this lock
    once, whatever it matched: here, or in `take_turn` when it has nothing to read or
    charge. When only the answers that charged something waited, a caller that held its own
    lock with a slow question learnt from the time of the next whether a variant was carried
    by k people or more (docs/privacy.md, "Timing"). Both send the lock in the round trip
    that opens their transaction: with a round trip more before the lock here, a question
    of the caller's arriving between the two would hold up only answers that charge.

    Then it holds the dataset's version in place until it ends (`_PINNED`), so that the
    accounts read (`_load`), the variants and people they are charged for, and the answer
    are of one version, whatever version the request resolved (beacon/losses.py, "Versions").
    Taken after the caller's lock: held while waiting for that one, it would hold up every
    swap, and every statement queued behind the swap, for as long as the caller's queue."""
    opened = conn.is_in_transaction()
    taken = f"{_lock(caller)}; {_PINNED}"
    try:
        await conn.execute(taken if opened else f"BEGIN; {taken}")
        yield
    except BaseException:
        if not opened:
            await _rolled_back(conn)
        raise
    if not opened:
        await conn.execute("COMMIT")


async def take_turn(conn: asyncpg.Connection, caller: str) -> None:
    """Wait for the caller's turn (`turn`) and end it at once, in one round trip: for an
    answer that has nothing to read or charge in the caller's accounts."""
    if conn.is_in_transaction():
        await conn.execute(_lock(caller))
        return
    try:
        await conn.execute(f"BEGIN; {_lock(caller)}; COMMIT")
    except BaseException:
        await _rolled_back(conn)            # the lock failed (a timeout): no COMMIT
        raise


async def _rolled_back(conn: asyncpg.Connection) -> None:
    """The turn's transaction ended after a failure, where the connection can say it is in
    one. Whatever ROLLBACK itself raises (a connection the watchdog ended, a cancel that
    reached it) is not raised in place of the failure being handled, a cancellation
    included: the pool's reset rolls back what is left when it takes the connection back."""
    if conn.is_closed() or not conn.is_in_transaction():
        return
    with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        await conn.execute("ROLLBACK")


def turn_key(caller: str) -> str:
    """Whose turn `turn` waits for: the caller's (its lock's key, and the in-process
    queue's before it, beacon/workload.py Queries.writing), whichever dataset it asks. It
    was the caller's at each dataset until datasets holding the same people added up
    their losses (`_others`): an answer about one reads the caller's losses in the others,
    which must not be charged meanwhile, and which datasets share people changes with
    their swaps. A request's datasets take their turns one after another anyway, so one
    turn for all holds up only a caller's parallel requests, whose answers about any one
    dataset already waited for each other."""
    return caller


# A swap (store.swap_in) or a removal drops the dataset's partition of `variants`, which
# takes `variants` itself exclusively until it commits: a transaction holding `variants`
# shared sees one version of every dataset until it ends (the dataset's row, its variants,
# its individuals: the swap replaces them all in its one transaction). ONLY: the partitions
# are locked as statements read them, not all at once.
_PINNED = "LOCK TABLE ONLY variants IN ACCESS SHARE MODE"


def _lock(caller: str) -> str:
    """The statement taking the caller's lock (`turn_key`) until the transaction ends. A
    literal, so that it can go in one message with the BEGIN (a message of several
    statements takes no parameters): the key spelt in hex digits, which no text can break
    out of, and hashed as the text itself would be."""
    key = turn_key(caller).encode().hex()
    return ("SELECT pg_advisory_xact_lock(hashtextextended("
            f"convert_from(decode('{key}', 'hex'), 'UTF8'), 11))")


async def charged_view(conn: asyncpg.Connection, caller: str, row: store.DatasetRow,
                       rules: Rules, query: VariantQuery, chromosome: str | None, span: int
                       ) -> CallerView:
    """The caller's view of the dataset (`Floor.condition`) for an answer about the
    variants `query` matches, with what that answer shows or hides near the floor charged:
    every near-floor match the caller was never answered about, shown or hidden as this
    view decides. The answer must be read under this view. A variant answer counts the
    matches (`answer_as_seen`); an individuals answer counts the people carrying them
    (beacon/individuals.py), whose zero or not says the same yes or no, so it is charged the
    same. In the caller's turn (`turn`), so that parallel questions of one caller are
    charged one after the other; of the version in place then, whichever `row` is."""
    return await _charged(conn, await _load(conn, caller, row), rules, query, row.id,
                          chromosome, span)


async def _charged(conn: asyncpg.Connection, losses: _Losses, rules: Rules,
                   query: VariantQuery, dataset_id: str, chromosome: str | None, span: int
                   ) -> CallerView:
    """`charged_view`, from the caller's losses as its turn read them: the view this
    answer's charges leave, under which its variants judged in turn (`_judged`) are read as
    they were judged (kept, those shown; those hidden, hidden by the stricter view)."""
    counted = losses.counted(rules.loss_budget)     # before this answer's charges
    near = await _near(conn, losses.caller, query, dataset_id, chromosome, span, rules,
                       losses.view_of(counted))
    if await _judged(losses, rules, near, counted):
        await _save(conn, losses)
    return losses.view(rules.loss_budget)


# Variants an answer judges (`_judged`) between two turns of the event loop: about 10 ms of
# the process's one thread over 100 samples, 26 ms over 10,000 (timed alone, 2026-12-06)
JUDGED_AT_ONCE = 1000


async def _judged(losses: _Losses, rules: Rules,
                  near: list[asyncpg.Record] | list[tuple[object, ...]],
                  counted: np.ndarray) -> dict[str, bool]:
    """Whether each of this answer's variants near the floor that the caller was never
    answered about (key, carriers still counted as bits, its draw; in the order of their
    keys) is shown, judged one after another, each under the view the charges of those
    before it left: its carriers still counted then, c of them, shown if c >= k and its draw
    <= p(c), as the floor's condition draws it; charged to them (log p(c) / p(c - 1) shown,
    log (1 - p(c - 1)) / (1 - p(c)) hidden) and noted. Judged all under the view before the
    answer, one range told the draws of every near-floor variant in it however far past
    the budget its charges took each carrier: one wide range listed 300 of a target's
    alleles, power 0.76 (tests/test_membership.py); judged in turn, a range tells what its
    variants asked one by one would. `counted`: who the caller's answers counted before
    this one (`_Losses.counted`), updated here as its charges run people out.

    The event loop is given back every JUDGED_AT_ONCE variants (the caller's turn held):
    judged in one go, one anonymous range over 60,000 near-floor variants of 200 samples
    held the worker's loop, every other caller's request with it, for 0.8 to 1.5 s, and a
    chromosome's of a larger cohort for as long as it takes (a review's probe,
    2026-12-06)."""
    floor, budget = rules.floor, rules.loss_budget
    decided: dict[str, bool] = {}
    for n, (variant, bits, draw) in enumerate(near, 1):
        if not n % JUDGED_AT_ONCE:
            await asyncio.sleep(0)
        draw = float(draw)                  # numeric in SQL: a 32-bit hash over 2^32
        people = np.unpackbits(np.frombuffer(bits.bytes, dtype=np.uint8),
                               count=len(losses.charged)).astype(bool) & counted
        c = int(people.sum())
        shown = c >= floor.k and draw <= floor.probability(c)
        losses.charged[people] += np.float32(floor.shown_loss(c) if shown
                                             else floor.hidden_loss(c))
        total = losses.charged[people] + (0 if losses.others is None
                                          else losses.others[people])
        counted[np.flatnonzero(people)[total > budget]] = False
        losses.answered[variant] = decided[variant] = shown
    return decided


async def charge_set(conn: asyncpg.Connection, caller: str, row: store.DatasetRow,
                     rules: Rules, draw: SetDraw, members: str, view: CallerView) -> bool:
    """Whether the set a question's filters chose (`members`: '0'/'1' over the dataset's
    samples) is shown to `caller`, under the smooth floor of sets' `draw` on it
    (beacon/disclosure.py report_individuals), with the people it shows the caller charged
    for it, as a variant's carriers are for its answer: each draw is one more look at the
    same people. Uncharged, a filter every person passes (which narrows nothing) made each
    question about a variant a second, free draw on its carriers.

    As for a variant, the draw is against the people the caller's `view` still counts (its
    size with the set's jitter), and once made it is kept: the same set in the same bucket
    draws the same, so its key joins the caller's answers (`disclosure_answers.variant`,
    beside variants' keys, which it cannot equal: it starts `set `) and a later question
    of it gets the kept answer, charging nothing. A person past the loss budget thus stops
    weighing on new draws, while an answer already given never changes: the set itself is
    not narrowed (that would change its sticky noise and every draw of it, so that the same
    question answered otherwise would tell that someone in it had just run out). In the
    caller's turn (`turn`), after `charged_view`, so that `view`, `members` and the
    accounts are all of the version in place in that turn, whichever `row` is.

    A set's key is of its people, not of the dataset (beacon/individuals_store.py
    `_people`): every dataset holding the same samples in the same order draws it alike,
    and the answer kept is every such dataset's (`_keep_set`), found in whichever holds it
    (`_KEPT`). Kept in the one dataset asked, the same draw in a copy was made afresh
    against the people still counted then, and a set shown in one copy and hidden in
    another said that someone in it had run out between the two questions."""
    assert draw.key is not None, "a set drawn for"
    losses = await _load(conn, caller, row, with_others=False)
    kept = await conn.fetchrow(_KEPT, caller, row.id, draw.key)
    if kept is not None:
        if not kept["here"]:
            await _keep_set(conn, caller, row.id, draw.key, kept["shown"])
        return kept["shown"]
    counted = np.unpackbits(np.frombuffer(view.counted.bytes, dtype=np.uint8),
                            count=len(losses.charged)).astype(bool)
    people = (np.frombuffer(members.encode(), dtype=np.uint8) == ord("1")) & counted
    floor = rules.floor
    still = int(people.sum())
    shown = draw.shown(floor, still)
    size = still + draw.jitter
    losses.charged[people] += np.float32(floor.shown_loss(size) if shown
                                         else floor.hidden_loss(size))
    await _save(conn, losses)
    await _keep_set(conn, caller, row.id, draw.key, shown)
    return shown


# The datasets holding the same people as `me` (its own row included: one without people,
# whose key is NULL, has only itself).
_SAME_PEOPLE = ("FROM datasets me JOIN datasets d ON d.id = me.id OR d.people = me.people "
                "WHERE me.id = $2")
# The caller's ($1) answer about a set ($3) in the dataset ($2) or any holding its people,
# its own first: index lookups, one per such dataset.
_KEPT = ("SELECT a.shown, a.dataset_id = $2 AS here FROM disclosure_answers a JOIN "
         f"(SELECT d.id, d.version {_SAME_PEOPLE}) AS d ON a.dataset_id = d.id "
         "AND a.version = d.version WHERE a.caller = $1 AND a.variant = $3 "
         "ORDER BY here DESC LIMIT 1")


async def _keep_set(conn: asyncpg.Connection, caller: str, dataset_id: str, key: str,
                    shown: bool) -> None:
    """The caller's answer about a set, kept in every dataset in place holding the same
    people as `dataset_id`, so that it is found there after any one of them is removed or
    given other samples. A dataset loaded later with the same people gets it at its swap
    (beacon/visibility.py keep_set_answers), or here when first asked about the set."""
    await conn.execute(
        "INSERT INTO disclosure_answers (caller, dataset_id, version, variant, shown) "
        f"SELECT $1, d.id, d.version, $3, $4 {_SAME_PEOPLE} "
        "ON CONFLICT (caller, dataset_id, variant) DO NOTHING", caller, dataset_id, key, shown)


async def _answer(conn: asyncpg.Connection, row: store.DatasetRow, rules: Rules,
                  query: VariantQuery, chromosome: str | None, span: int,
                  page: tuple[int, int] | None, view: CallerView) -> Given:
    """The answer as the caller's `view` lets it be seen."""
    key, args = store.count_query(query, [row.id], chromosome, span, rules.floor, view)
    matches = (await store.count_batch(conn, key, [args]))[0].get(row.id)
    records = await store.fetch_variants(conn, query, row.id, chromosome, span, rules.floor,
                                         *page, view=view) if page and matches else []
    return Given(matches, records)


async def _near(conn: asyncpg.Connection, caller: str, query: VariantQuery,
                dataset_id: str, chromosome: str | None, span: int, rules: Rules,
                view: CallerView) -> list[asyncpg.Record]:
    """The variants near the floor that match `query` and that the caller has not been
    answered about, in the order of their keys: each one's key, its carriers still counted
    under `view` (bits) and its draw, for `_judged`. Hidden ones count: a "no" tells about
    its carriers too (log (1 - p(c - 1)) / (1 - p(c)), up to 0.67 each at the defaults), and
    an attacker asking a target's near-floor alleles one by one adds those up."""
    floor = rules.floor
    conditions, args = store.variant_conditions(query, [dataset_id], chromosome, span,
                                                Floor(floor.k))
    return await conn.fetch(
        f"SELECT {KEY}, carrier_bits & $2, {DRAW} FROM variants "
        f"WHERE {store.numbered(conditions, first=3)} AND carrier_bits IS NOT NULL "
        f"AND {CARRIERS} < {floor.upper} AND NOT EXISTS (SELECT {_ANSWERED.format('$1')}) "
        f"ORDER BY {', '.join(BAND)}", caller, view.counted, *args)
