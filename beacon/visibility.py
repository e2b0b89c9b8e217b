"""Which variants a tier sees: the allele floor, sharp or smooth, as SQL.

The sharp floor (a tier's with `smooth_width` 0) shows a variant carried by at least k people
and hides the rest. An attacker who knows k asks about a target's alleles carried by k - 1
others, where the target's own copy turns "no" into "yes": within the anonymous budget that
membership attack has power 1.00 (tests/test_membership.py). The **smooth floor** removes the
edge: a variant carried by c >= k people is shown with probability

    p(c) = 1 / (1 + exp(-(c - k - width) / scale))

decided by one draw per variant, a keyed hash of the variant and the node's secret (which never
leaves PostgreSQL): every caller and every repetition sees the same answer, so asking again
reveals nothing, and no caller can compute the draws. Below k nothing is ever shown; from
`upper` carriers (p within 1e-6 of 1) everything is. With a per-caller budget of realised
privacy loss per person (beacon/losses.py) it held the floor-aware attack to power 0.14 at
most on the node (tests/test_membership.py, width 6, scale 1.5; docs/privacy.md).

A caller's own view (`CallerView`) counts only the people that caller has not exhausted, and
keeps showing the variants it was shown before (so that a person dropped later cannot be told
from a variant turning hidden).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg import BitString

from beacon.limits import INT4_MAX

# How many individuals carry a variant: its carriers, else (a sites-only VCF's AC without
# nhomalt, or one whose genotypes were not read) the fewest people its allele count can come
# from, ceil(AC / 2), a person holding at most two copies; else 0, so a variant whose
# frequency is unknown is below any floor above 1. Fails closed: AC itself stood in until
# 2026-12-05, and AC 5 from two homozygous people and one heterozygous passed a floor of 5
# though 3 people carry it. On haploid chrY and chrM ceil(AC / 2) counts fewer than carry
# it, which hides more, never less. `ac / 2 + ac % 2`, not `(ac + 1) / 2`, which overflows
# at an AC of 2^31 - 1 (INFO takes one). Bins written before hold AC: migration 0027.
CARRIERS = "coalesce(carriers, ac / 2 + ac % 2, 0)"
_TAIL = 14          # scales above k + width where p(c) is within 1e-6 of 1: always shown
# The variant's draw, uniform in [0, 1): 32 bits of a keyed hash of its identity.
DRAW = ("(('x' || substr(md5((SELECT secret FROM disclosure_secret) || dataset_id || ':' || "
        "chromosome || ':' || start_pos || ':' || ref || ':' || alt || ':' || end_pos), 1, 8)"
        ")::bit(32)::bigint / 4294967296.0)")
# A variant's identity within its dataset, as a caller's shown variants are kept.
KEY = "(chromosome || ':' || start_pos || ':' || ref || ':' || alt || ':' || end_pos)"


def answered(dataset: str = "variants.dataset_id") -> str:
    """SQL: where a caller's (`{}`) earlier answer about the variant in hand is, if it has
    one, in `dataset` (the variant's own, or `{}`: an argument): answers given for the
    dataset's current version only (beacon/losses.py keeps them)."""
    return ("FROM disclosure_answers a JOIN datasets d ON d.id = a.dataset_id "
            f"AND d.version = a.version WHERE a.caller = {{}} AND a.dataset_id = {dataset} "
            f"AND a.variant = {KEY}")


@dataclass(frozen=True, slots=True)
class KeptAccounts:
    """What `keep_accounts` did with the callers' accounts of the version in place, for the
    operator (`gdi-node ingest` says it): how many callers had some; whether they were
    carried to the new version, with how many answers, for how many of its people (those
    the earlier version held), or dropped."""

    callers: int
    carried: bool
    answers: int = 0
    people: int = 0


async def keep_accounts(conn: asyncpg.Connection, dataset_id: str, earlier: str, staged: str,
                        version: int, samples: list[str], people: list[str]) -> KeptAccounts:
    """Every caller's losses and answers of the dataset, carried from the version in place
    to the one being swapped in, or dropped; in the swap's transaction, before the earlier
    version's partition (`earlier`) is dropped. `staged`: the new version's table; both
    names checked by the store. `version`: the new one's number; `samples`: its sample
    ids, in order; `people`: the version in place's, in order.

    Carried whenever the new version holds any of the earlier one's people (by sample id):
    a re-ingest of the same cohort, corrected, grown, or without people who withdrew their
    consent. (Each new version dropped them until 2026-12-04: a caller started again from
    nothing with each, its budget regained over every person it had run out of.) Each
    person keeps what it was charged, wherever the new version places it (a new one starts
    from nothing, a person gone takes its charges with it), and the caller keeps its answers
    about each variant whose carriers are the same people as before, which it would be
    given again, and the sets of individuals it was answered about when the samples are
    the same ones in the same order (a set's key is a digest of its members over the
    version's samples, the same set only then). Any other answer is dropped, so that its
    variant is answered and charged afresh: a variant gone, or whose carriers changed, is
    another question. Dropped, as before, when the new version holds none of the earlier
    people (docs/privacy.md, "A new version of the dataset").

    The variants answered about are compared first (`_Comparison`), while queries still
    run: what their carriers were and are does not change during the swap. Then `variants`
    is taken as the drop takes it, so that no caller's turn at the accounts (which holds it
    shared: beacon/losses.py `turn`) is under way or starts, and only then are the accounts
    read and written, and the variants answered about meanwhile compared. An answer's key
    is text (`KEY`): it is found in both versions through the locus btrees by its
    chromosome and start as the text spells them, so a chromosome whose name holds a ':'
    (none of the assemblies' chromosomes) is not found, and its answers are dropped, never
    kept for another variant. Both tables are keyed by caller first, so this reads them
    whole: once per ingest; every row is of the version in place (a turn writes only that
    one's, migration 0021 removed the others). Here, not beside the accounting in
    beacon/losses.py, so that the swap does not wait for that module's numpy to load (60 ms
    of every ingest)."""
    held = len(set(people).intersection(samples))
    kept = held > 0 and len(set(samples)) == len(samples)    # a repeated id fails the ingest
    appended = len(samples) >= len(people) and samples[:len(people)] == people
    compare = _Comparison(dataset_id, earlier, staged, people, samples, appended)
    if kept:
        await conn.execute(f'CREATE TEMP TABLE {_SAME} (variant text COLLATE "C" PRIMARY KEY, '
                           "same boolean NOT NULL) ON COMMIT DROP")
        await compare.answered(conn)
    await conn.execute("LOCK TABLE ONLY variants IN ACCESS EXCLUSIVE MODE")
    if not kept:
        await conn.execute("DELETE FROM disclosure_answers WHERE dataset_id = $1", dataset_id)
        return KeptAccounts(_counted(await conn.execute(
            "DELETE FROM disclosure_losses WHERE dataset_id = $1", dataset_id)), False)
    await compare.answered(conn)                   # the variants answered about meanwhile
    await conn.execute(
        f"""DELETE FROM disclosure_answers a WHERE a.dataset_id = $1 AND CASE
                WHEN {_KEPT_SET} THEN NOT $2
                ELSE NOT EXISTS (SELECT 1 FROM {_SAME} c WHERE c.variant = a.variant AND c.same)
            END""", dataset_id, samples == people)
    if appended:
        await conn.execute("UPDATE disclosure_losses SET charged = charged || $2 "
                           "WHERE dataset_id = $1", dataset_id,
                           bytes(4 * (len(samples) - len(people))))
    else:
        await compare.move_losses(conn)
    answers = await conn.execute("UPDATE disclosure_answers SET version = $2 "
                                 "WHERE dataset_id = $1", dataset_id, version)
    callers = await conn.execute("UPDATE disclosure_losses SET version = $2, "
                                 "updated_at = now() WHERE dataset_id = $1", dataset_id, version)
    return KeptAccounts(_counted(callers), True, _counted(answers), held)


@dataclass(frozen=True)
class _Comparison:
    """Which variants answered about are carried by the same people in both versions, and
    where each person's charges go (`keep_accounts`). `appended`: the earlier people come
    first in the new version, in their order (the same samples, or new ones after them):
    the carriers are compared in SQL, bit strings padded; otherwise in numpy (imported only
    then), each variant's earlier carriers placed where the new version has them."""

    dataset_id: str
    earlier: str
    staged: str
    people: list[str]
    samples: list[str]
    appended: bool

    async def answered(self, conn: asyncpg.Connection) -> None:
        """Compare the variants answered about that are not yet in _SAME, into it."""
        unseen = (f"(SELECT DISTINCT variant FROM disclosure_answers d WHERE "
                  f"d.dataset_id = $1 AND d.variant NOT LIKE 'set %' AND NOT EXISTS "
                  f"(SELECT 1 FROM {_SAME} c WHERE c.variant = d.variant)) AS a")
        both = _both(self.earlier, self.staged)
        if self.appended:
            await conn.execute(
                f"""INSERT INTO {_SAME} SELECT a.variant, coalesce((SELECT n.carrier_bits =
                        o.carrier_bits || repeat('0', $2)::varbit {both}), false) FROM {unseen}""",
                self.dataset_id, len(self.samples) - len(self.people))
            return
        import numpy as np

        source, held, gone = self._places()
        compared: list[tuple[str, bool]] = []
        async for variant, before, after in conn.cursor(
                f"""SELECT a.variant, m.* FROM {unseen} CROSS JOIN LATERAL
                        (SELECT o.carrier_bits, n.carrier_bits {both}) AS m""",
                self.dataset_id, prefetch=_BATCH):
            same = before is not None and after is not None
            if same:
                old = _bits(before, len(self.people))
                new = _bits(after, len(self.samples))
                same = bool(not (old & gone).any() and not new[~held].any()
                            and np.array_equal(old[source[held]], new[held]))
            compared.append((variant, same))
            if len(compared) == _BATCH:
                await _insert(conn, compared)
        await _insert(conn, compared)

    async def move_losses(self, conn: asyncpg.Connection) -> None:
        """Each caller's charges, moved to where the new version places each person."""
        import numpy as np

        source, held, _ = self._places()
        moved: list[tuple[str, str, bytes]] = []
        # a batch at a time: a caller's losses are 4 bytes a person, and a node has many
        async for caller, charged in conn.cursor(
                "SELECT caller, charged FROM disclosure_losses WHERE dataset_id = $1",
                self.dataset_id, prefetch=_BATCH):
            placed = np.zeros(len(self.samples), dtype="<f4")
            placed[held] = np.frombuffer(charged, dtype="<f4")[source[held]]
            moved.append((caller, self.dataset_id, placed.tobytes()))
            if len(moved) == _BATCH:
                await _placed(conn, moved)
        await _placed(conn, moved)

    def _places(self) -> tuple[Any, Any, Any]:
        """For each new sample, its earlier index (-1: new); which are held; which of the
        earlier people are gone."""
        import numpy as np

        place = {person: i for i, person in enumerate(self.people)}
        source = np.array([place.get(sample, -1) for sample in self.samples], dtype=np.int64)
        held = source >= 0
        gone = np.ones(len(self.people), dtype=bool)
        gone[source[held]] = False
        return source, held, gone


async def keep_set_answers(conn: asyncpg.Connection, dataset_id: str) -> None:
    """Every caller's answers about sets of individuals that the other datasets holding the
    dataset's people hold (the same samples in the same order: `datasets.people`), given to
    it too; in the swap's transaction, once its people's key is made
    (beacon/individuals_store.py replace). A set is drawn alike in every such dataset
    (beacon/losses.py charge_set), so its kept answer is each one's: without it here, a
    copy whose others were then removed or given other samples drew the set afresh against
    the people still counted, and an answer other than the one kept would say that someone
    in the set had run out since."""
    if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM datasets me JOIN datasets o ON o.people = me.people "
            "AND o.id <> me.id WHERE me.id = $1)", dataset_id):
        return                          # no copy: the answers are not read at all
    await conn.execute(
        f"""INSERT INTO disclosure_answers (caller, dataset_id, version, variant, shown)
            SELECT a.caller, me.id, me.version, a.variant, a.shown
              FROM datasets me JOIN datasets o ON o.people = me.people AND o.id <> me.id
              JOIN disclosure_answers a ON a.dataset_id = o.id AND a.version = o.version
             WHERE me.id = $1 AND {_KEPT_SET}
            ON CONFLICT (caller, dataset_id, variant) DO NOTHING""", dataset_id)


def _bits(found: asyncpg.BitString, count: int) -> Any:
    import numpy as np
    return np.unpackbits(np.frombuffer(found.bytes, dtype=np.uint8), count=count).astype(bool)


_SAME = "carried_variants"      # the swap's temporary table of the variants compared
_BATCH = 1_000                  # rows read and written at a time by numpy's comparisons


async def _insert(conn: asyncpg.Connection, compared: list[tuple[str, bool]]) -> None:
    """Add these variants' comparisons to _SAME, and empty the list."""
    await conn.execute(f"INSERT INTO {_SAME} SELECT * FROM unnest($1::text[], $2::bool[])",
                       [v for v, _ in compared], [same for _, same in compared])
    compared.clear()


async def _placed(conn: asyncpg.Connection, moved: list[tuple[str, str, bytes]]) -> None:
    """Write these callers' moved losses, and empty the list."""
    await conn.executemany("UPDATE disclosure_losses SET charged = $3 "
                           "WHERE caller = $1 AND dataset_id = $2", moved)
    moved.clear()


def _counted(status: str) -> int:
    """The rows a statement's command tag says it touched ("UPDATE 3", "DELETE 0")."""
    return int(status.rsplit(" ", 1)[1])


# An answer about a set of individuals (beacon/disclosure.py `_set_draw`: "set <seed>
# <bucket>"; a variant's key starts with its chromosome, which holds no space).
_KEPT_SET = "a.variant LIKE 'set %'"
# The start an answer's key spells, if it is one (an integer); else NULL, which finds none.
_SPELT_START = ("CASE WHEN split_part(a.variant, ':', 2) ~ '^[0-9]{1,9}$' "
                "THEN split_part(a.variant, ':', 2)::integer END")


def _both(earlier: str, staged: str) -> str:
    """SQL: the variant of an answer (`a`) in the earlier version's table (`o`) and the new
    one's (`n`), if it is in both."""
    return (f"FROM {earlier} o JOIN {staged} n USING (chromosome, start_pos, ref, alt, end_pos) "
            f"WHERE o.chromosome = split_part(a.variant, ':', 1) "
            f"AND o.start_pos = {_SPELT_START} AND {KEY} = a.variant")


@dataclass(frozen=True, slots=True)
class Floor:
    """A tier's allele floor: `k` people at least; `width` 0 = sharp, else smooth."""

    k: int
    width: int = 0
    scale: float = 1.5

    @property
    def smooth(self) -> bool:
        return self.width > 0

    @property
    def upper(self) -> int:
        """Carried by this many or more, a variant is always shown (to the tier; a caller's
        losses never hide it): the smooth floor's top, or k itself when sharp. At most
        PostgreSQL's integer, which the statements take a floor's values as (no variant is
        carried by more people): with rules at their largest (beacon/disclosure.py
        RULE_MAX), k + width went past it, a 500."""
        if not self.smooth:
            return self.k
        return min(self.k + self.width + math.ceil(_TAIL * self.scale), INT4_MAX)

    @property
    def middle(self) -> int:
        """Where p(c) is one half: k + width."""
        return min(self.k + self.width, INT4_MAX)

    def probability(self, carriers: float) -> float:
        """P(a variant carried by this many people is shown); a set of individuals' size with
        its jitter too (beacon/disclosure.py _set_draw), which need not be whole."""
        if carriers < self.k:
            return 0.0
        if not self.smooth or carriers >= self.upper:
            return 1.0
        # the logistic in the form whose exp cannot overflow (a small scale, a wide floor)
        z = (carriers - self.middle) / self.scale
        if z >= 0:
            return 1 / (1 + math.exp(-z))
        e = math.exp(z)
        return e / (1 + e)

    def shown_loss(self, carriers: float) -> float:
        """The privacy loss a shown answer realises for each person counted in it:
        log p(c) / p(c - 1), what being one of its carriers changed the odds of "shown" by
        (infinite at c = k, where one person made it shown at all)."""
        before = self.probability(carriers - 1)
        return math.inf if before == 0 else math.log(self.probability(carriers) / before)

    def hidden_loss(self, carriers: float) -> float:
        """The privacy loss a hidden answer realises for each person counted in it:
        |log (1 - p(c)) / (1 - p(c - 1))|, what being one of its carriers changed the odds of
        "hidden" by (nothing below k, where it is hidden either way)."""
        after = 1 - self.probability(carriers)       # never 0 for a hidden variant
        return math.log((1 - self.probability(carriers - 1)) / after) if after else math.inf

    def drawn(self) -> str:
        """SQL: a variant carried by k or more (and fewer than `upper`) is shown to the tier,
        its draw against p of its carriers; the floor's values written in, as part of a
        statement's shape."""
        exponent = _bounded(f"-(({CARRIERS}) - {self.middle})::float8 / {self.scale}")
        return f"{DRAW} <= 1 / (1 + exp({exponent}))"

    def condition(self, view: CallerView | None = None) -> tuple[str, list[object]]:
        """The SQL condition (`{}` where each argument goes) a variant meets to be shown, and
        its arguments: to the tier, or to one caller (`view`, in a query of its dataset
        alone)."""
        if not self.smooth:
            return (f"{CARRIERS} >= {{}}", [self.k]) if self.k > 1 else ("TRUE", [])
        args = [] if view is None else [view.counted]
        return (_SHOWN_TO_CALLER if view is not None else _SHOWN_TO_TIER,
                [self.upper, self.k,
                 *([view.caller, view.dataset_id] if view is not None else []),
                 *args, self.k, *args, self.middle, self.scale])


def _smooth_sql(per_caller: bool) -> str:
    """`Floor.condition`'s smooth condition, to the tier or to one caller."""
    if per_caller:
        counted = f"coalesce(bit_count(carrier_bits & {{}}), {CARRIERS})"
        # shown to the caller before, so kept shown: an index lookup per near-floor row (a
        # list of every variant it was shown, as an argument, grew with its answers)
        pinned = f"EXISTS (SELECT 1 {answered('{}')} AND a.shown) OR "
    else:
        counted, pinned = CARRIERS, ""
    exponent = _bounded(f"-(({counted}) - {{}})::float8 / {{}}")
    shown = f"({counted}) >= {{}} AND {DRAW} <= 1 / (1 + exp({exponent})))"
    return f"({CARRIERS} >= {{}} OR ({CARRIERS} >= {{}} AND ({pinned}({shown})))"


def _bounded(exponent: str) -> str:
    """SQL: `exponent` within +-700, where PostgreSQL's exp neither overflows nor underflows
    (it raises an error for either: a small scale, or a width at its largest, made counts a
    500; found by tests/test_fuzz_ingest.py). It changes no draw's outcome: past 50 either
    way p is within 2^-70 of 0 or 1, finer than a draw's 2^-32 steps."""
    return f"least(greatest({exponent}, -700), 700)"


# made once: every count asks one, and the same string object keeps the batch key's hash
_SHOWN_TO_TIER, _SHOWN_TO_CALLER = _smooth_sql(False), _smooth_sql(True)


@dataclass(frozen=True, slots=True)
class CallerView:
    """What one caller may still learn of a dataset: the people still counted for it (a bit
    per sample, 1 = counted); the variants it was shown stay shown (the statement looks them
    up among the caller's answers in the dataset, `answered`)."""

    counted: BitString
    caller: str
    dataset_id: str
