"""All SQL touching individuals: writing a dataset's with its variants' swap, counting and
paging those a query selects, and the filtering terms they hold.

A query's individuals are one statement: the variants it matches (the same conditions as a
variant query, allele floor included: beacon/store.py) are folded into one bit string per
dataset with `bit_or` over their carrier bits. Then one of two paths:

- **bits** (every filter an ontology term, no individual id): the count is
  `bit_count(hits & t1 & t2 ...)`, each `t` the term's row of `term_members` (which
  individuals hold it, exactly or with descendants, as bits over the samples). No
  individual's row is read; a term the dataset does not hold leaves the dataset out.
- **rows** (alphanumeric filters, an individual id, record pages): the dataset's individuals
  are filtered by their bit in the hits and by the filters' conditions (beacon/filters.py).

No carrier list ever leaves the database, but to the node for the loss accounting (one
set's people: `count_with_members`). The count noise's set digest is one function of
the matched set, the set's bit string over the dataset's samples, whichever path found it
(`_digests`). docs/design/storage.md ("Individuals") has the measurements.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import asyncpg

from beacon.copy_in import copy_in

INDIVIDUAL_COLUMNS = ("dataset_id", "sample_index", "id", "sex", "country", "terms", "ancestry",
                      "record")
VALUE_COLUMNS = ("dataset_id", "sample_index", "field", "value")
TERM_COLUMNS = ("dataset_id", "id", "label", "kind", "individuals")
POPULATION_COLUMNS = ("dataset_id", "label", "position", "members", "males", "size",
                      "male_count")
MEMBER_COLUMNS = ("dataset_id", "term", "exact", "descendants")


@dataclass(frozen=True)
class IndividualsLoad:
    """A dataset's individuals as rows for its tables (beacon/individuals.py makes them)."""

    individuals: list[tuple]    # INDIVIDUAL_COLUMNS without dataset_id
    values: list[tuple]         # VALUE_COLUMNS without dataset_id
    terms: list[tuple]          # TERM_COLUMNS without dataset_id
    populations: list[tuple]    # POPULATION_COLUMNS without dataset_id
    members: list[tuple]        # MEMBER_COLUMNS without dataset_id: every term of any ancestry


async def replace(conn: asyncpg.Connection, dataset_id: str, load: IndividualsLoad) -> None:
    """The dataset's individuals become `load`'s; run inside the swap's transaction, so
    readers see the old individuals with the old variants, then the new with the new. With
    them, which of its people other datasets hold (`_share`)."""
    await conn.execute("DELETE FROM individuals WHERE dataset_id = $1", dataset_id)
    await conn.execute("DELETE FROM individual_terms WHERE dataset_id = $1", dataset_id)
    await conn.execute("DELETE FROM populations WHERE dataset_id = $1", dataset_id)
    await conn.execute("DELETE FROM term_members WHERE dataset_id = $1", dataset_id)
    for table, columns, rows in (("individuals", INDIVIDUAL_COLUMNS, load.individuals),
                                 ("individual_values", VALUE_COLUMNS, load.values),
                                 ("individual_terms", TERM_COLUMNS, load.terms),
                                 ("populations", POPULATION_COLUMNS, load.populations),
                                 ("term_members", MEMBER_COLUMNS, load.members)):
        if rows:
            await copy_in(conn, table, ((dataset_id, *row) for row in rows), columns)
    await _share(conn, dataset_id)
    await _name_people(conn, dataset_id)


async def _name_people(conn: asyncpg.Connection, dataset_id: str) -> None:
    """The key of the dataset's people (`datasets.people`, migration 0026), which seeds its
    counts' noise and draws in place of its id (`_digests`): the same for every dataset
    holding the same samples in the same order, so that one VCF loaded as several datasets
    is one set of people to draw on, not one per copy. Kept by a new version with the same
    samples (the callers' answers about sets carry over then: beacon/visibility.py
    keep_accounts); else that of a dataset in place with the same samples; else one of
    its own, `samples <digest>` (the digest of its sample ids in order: which no dataset
    id, GDI form without spaces, equals, nor a key migration 0026 gave from one). Swaps
    take `datasets` one at a time (store.swap_in), so the datasets in place holding the
    same samples hold one key. None without individuals: such a dataset counts nobody."""
    await conn.execute(
        r"""WITH s AS (SELECT md5(string_agg(id, E'\t' ORDER BY sample_index)) AS samples
                         FROM individuals WHERE dataset_id = $1)
            UPDATE datasets d SET samples = s.samples, people = CASE
                WHEN s.samples IS NULL THEN NULL
                WHEN d.samples = s.samples THEN d.people
                ELSE coalesce((SELECT min(o.people) FROM datasets o
                                WHERE o.samples = s.samples AND o.id <> d.id),
                              'samples ' || s.samples) END
              FROM s WHERE d.id = $1""", dataset_id)


async def _share(conn: asyncpg.Connection, dataset_id: str) -> None:
    """`shared_people` (migration 0024) of the dataset's individuals as they now are: where
    each person it shares with another dataset (by sample id) is in each, both ways. A
    caller's losses over a person add up across the datasets holding it (beacon/losses.py),
    so these places must be of the versions in place: they are made in the transaction
    that puts the version in place, and removing a dataset removes its rows (cascade). A
    caller's turn holds the versions in place of every dataset but a new one, which holds
    no losses of that caller until one of its own turns, after this one's."""
    await conn.execute("DELETE FROM shared_people WHERE dataset_id = $1 OR other_id = $1",
                       dataset_id)
    await conn.execute(
        """WITH pairs AS (
               SELECT b.dataset_id AS other_id, a.sample_index AS mine, b.sample_index AS theirs
                 FROM individuals a JOIN individuals b
                   ON b.id = a.id AND b.dataset_id <> a.dataset_id
                WHERE a.dataset_id = $1)
           INSERT INTO shared_people (dataset_id, other_id, positions, other_positions)
           SELECT $1, other_id, string_agg(int4send(mine), '' ORDER BY mine),
                  string_agg(int4send(theirs), '' ORDER BY mine)
             FROM pairs GROUP BY other_id
           UNION ALL
           SELECT other_id, $1, string_agg(int4send(theirs), '' ORDER BY theirs),
                  string_agg(int4send(mine), '' ORDER BY theirs)
             FROM pairs GROUP BY other_id""", dataset_id)


async def sharing(conn: asyncpg.Connection, dataset_id: str) -> dict[str, int]:
    """The other datasets holding samples of the same ids as the dataset's, and how many:
    if they are the same people, a caller is given a smooth-floor draw of each variant in
    each dataset, while its losses over them add up across all (docs/privacy.md, "the same
    people in several datasets"), which the operator is told at ingest."""
    return {r[0]: r[1] for r in await conn.fetch(
        "SELECT other_id, length(positions) / 4 FROM shared_people WHERE dataset_id = $1 "
        "ORDER BY other_id", dataset_id)}


async def sample_ids(conn: asyncpg.Connection, dataset_id: str) -> list[str]:
    """The ids of the dataset's samples in their order (its individuals'), as the version
    in place holds them."""
    return await conn.fetchval("SELECT array_agg(id ORDER BY sample_index) FROM individuals "
                               "WHERE dataset_id = $1", dataset_id) or []


async def alike(conn: asyncpg.Connection, dataset_id: str) -> list[str]:
    """The other datasets holding the same samples in the same order (`_name_people`), whose
    counts of individuals draw as the dataset's do, which the operator is told at ingest."""
    return [r[0] for r in await conn.fetch(
        "SELECT o.id FROM datasets me JOIN datasets o ON o.people = me.people "
        "AND o.id <> me.id WHERE me.id = $1 ORDER BY o.id", dataset_id)]


@dataclass(slots=True)
class Selection:
    """Which individuals a query selects: its variant conditions (None: no variant
    condition) and its filters' conditions, each with `{}` where its argument goes, and the
    arguments in that order. The datasets are the variant conditions' first argument, or the
    first of the filters' when there is no variant condition.

    `terms`, when every filter is an ontology term (one argument each, its id) and something
    is asked: for each filter in order, the `term_members` column it reads (`exact` or
    `descendants`), and the count takes the bits path; None: the rows path.

    `key`: the question as normalised, without its datasets, whose digest seeds the count's
    noise; None where no answer of the count needs a seed (beacon/disclosure.py
    `needs_seeds`: a grant's exact counts), and the statement then hashes nothing.

    A value: never changed after it is made (derive with dataclasses.replace); not declared
    frozen, whose object.__setattr__ for each field cost every count 0.5 µs."""

    variant: tuple[str, ...] | None
    filters: tuple[str, ...]
    args: list[object]
    key: str | None
    terms: tuple[str, ...] | None = None


def _numbering() -> Callable[[Sequence[str]], str]:
    """ANDs conditions, each `{}` (a condition may hold several) the next $n, in order,
    counting on across calls."""
    numbers = iter(range(1, 1000))

    def numbered(conditions: Sequence[str]) -> str:
        return " AND ".join(c.format(*(f"${next(numbers)}" for _ in range(c.count("{}"))))
                            for c in conditions)

    return numbered


_HITS = ("(SELECT dataset_id, bit_or(carrier_bits) AS bits FROM variants "
         "WHERE {} AND carrier_bits IS NOT NULL GROUP BY dataset_id) AS h")


@lru_cache(maxsize=256)
def _from_where(variant: tuple[str, ...] | None, filters: tuple[str, ...]) -> str:
    numbered = _numbering()
    if variant is None:
        return "FROM individuals i WHERE " + numbered(["i.dataset_id = ANY({}::text[])",
                                                       *filters])
    hits = numbered(variant)
    return (f"FROM {_HITS.format(hits)} JOIN individuals i ON i.dataset_id = h.dataset_id "
            "WHERE " + numbered(["get_bit(h.bits, i.sample_index) = 1", *filters]))


# The two seeds of a count's noise (beacon/disclosure.py report_individuals), hashes keyed by
# the node's secret, which never leaves the database: which individuals matched (the same set
# draws the same noise), and the query as normalised (the same question draws the same noise),
# each of the dataset's people (`_people`): the same in every dataset holding the same samples.
# The set is spelt as its bit string over the dataset's samples ('0'/'1', sample order), one
# spelling for both paths: a question reworded to take the other path (a vacuous value filter
# added) must not draw a second, independent set noise to average with the first.
_SECRET = "(SELECT secret FROM disclosure_secret)"


def _digests(dataset: str, bits: str, key: int | None) -> str:
    """The two seeds, `bits` the set's spelling and $`key` the question's; both '' where the
    count is unseeded (its selection's key None): the set's spelling over 10,000 samples is
    a 10,000-character text, whose md5 costs the database about 16 µs a dataset counted,
    growing with the samples, for answers that read no seed."""
    if key is None:
        return "'', ''"
    return (f"md5({_SECRET} || {_people(dataset)} || ':' || {bits}), "
            f"md5({_SECRET} || {_people(dataset)} || ':' || ${key}::text)")


def _people(dataset: str) -> str:
    """Whose draws both seeds are: the key of the dataset's people (`_name_people`), not the
    dataset's id. Keyed by the id, one VCF loaded as a PUBLIC, a REGISTERED and a CONTROLLED
    dataset gave a caller who may count all three DRAWS_PER_SET draws of each set in each
    (beacon/disclosure.py), and three noises per question to average; the copies now
    answer alike (docs/privacy.md, item 5)."""
    return f"(SELECT d.people FROM datasets d WHERE d.id = {dataset})"


@lru_cache(maxsize=256)
def _rows_count(variant: tuple[str, ...] | None, filters: tuple[str, ...], key: int | None,
                members: bool = False) -> str:
    """The rows path: the matched individuals in sample order, each spelt as the zeros since
    the previous one and a '1', the whole padded with zeros to the dataset's sample count;
    the same text as the bits path's `bits::text`, without a row per unmatched individual.
    `members`: that text too (`count`)."""
    gap = ("i.sample_index - 1 - coalesce(lag(i.sample_index) OVER (PARTITION BY i.dataset_id "
           "ORDER BY i.sample_index), -1)")
    bits = ("rpad(string_agg(repeat('0', m.gap) || '1', '' ORDER BY m.sample_index), "
            "(SELECT d.sample_count FROM datasets d WHERE d.id = m.dataset_id), '0')")
    return (f"SELECT m.dataset_id, count(*), {_digests('m.dataset_id', bits, key)}"
            f"{f', {bits}' if members else ''} "
            f"FROM (SELECT i.dataset_id, i.sample_index, {gap} AS gap "
            f"{_from_where(variant, filters)}) AS m GROUP BY m.dataset_id")


@lru_cache(maxsize=256)
def _bits_count(variant: tuple[str, ...] | None, terms: tuple[str, ...], key: int | None,
                members: bool = False) -> str:
    """The bits path: per dataset, the hits (or, with no variant condition, the first
    term's bits) ANDed with each term's row; a dataset without a row for a term has none.
    `members`: the bits as text too (`count`)."""
    numbered = _numbering()
    if variant is None:
        assert terms, "the bits path needs a variant condition or a term"
        source, dataset, bits = "term_members t0", "t0.dataset_id", []
        joined = range(1, len(terms))
        where = " WHERE " + numbered(["t0.dataset_id = ANY({}::text[])", "t0.term = {}"])
    else:
        source, dataset, bits = _HITS.format(numbered(variant)), "h.dataset_id", ["h.bits"]
        joined, where = range(len(terms)), ""
    joins = "".join(f" JOIN term_members t{n} ON t{n}.dataset_id = {dataset} AND "
                    + numbered([f"t{n}.term = {{}}"]) for n in joined)
    bits += [f"t{n}.{column}" for n, column in enumerate(terms)]
    # OFFSET 0 keeps the subquery whole, so the AND is made once per dataset, not once for
    # each of the three expressions that read it.
    return (f"SELECT s.dataset_id, bit_count(s.bits), "
            f"{_digests('s.dataset_id', 's.bits::text', key)}"
            f"{', s.bits::text' if members else ''} "
            f"FROM (SELECT {dataset} AS dataset_id, {' & '.join(bits)} AS bits "
            f"FROM {source}{joins}{where} OFFSET 0) AS s WHERE bit_count(s.bits) > 0")


async def count(conn: asyncpg.Connection | asyncpg.Pool, selection: Selection
                ) -> dict[str, tuple[int, str, str]]:
    """How many individuals the selection holds, per dataset (datasets with none absent),
    with the keyed digests of which ones and of the question."""
    return {r[0]: (r[1], r[2], r[3]) for r in await _counted(conn, selection, False)}


async def count_with_members(conn: asyncpg.Connection, selection: Selection
                             ) -> dict[str, tuple[int, str, str, str]]:
    """`count`, with which individuals: the set as '0'/'1' text over the dataset's samples
    (the loss accounting charges them, beacon/losses.py charge_set). It leaves the
    database only for that."""
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in await _counted(conn, selection, True)}


def _counted(conn: asyncpg.Connection | asyncpg.Pool, selection: Selection,
             members: bool) -> Awaitable[list[asyncpg.Record]]:
    """The count's statement, sent (its callers await it: a coroutine of its own here cost
    each count one more frame)."""
    if selection.key is None:
        key, args = None, selection.args
    else:
        key, args = len(selection.args) + 1, [*selection.args, selection.key]
    sql = (_rows_count(selection.variant, selection.filters, key, members)
           if selection.terms is None else
           _bits_count(selection.variant, selection.terms, key, members))
    return conn.fetch(sql, *args)


async def fetch(conn: asyncpg.Connection | asyncpg.Pool, selection: Selection, skip: int,
                limit: int) -> list[str]:
    """A page of the selection's Beacon individual records (JSON text), in sample order.
    The selection must be of one dataset."""
    n = len(selection.args)
    rows = await conn.fetch(f"SELECT i.record {_from_where(selection.variant, selection.filters)}"
                            f" ORDER BY i.sample_index LIMIT ${n + 1} OFFSET ${n + 2}",
                            *selection.args, limit, skip)
    return [r[0] for r in rows]


@dataclass(frozen=True)
class TermRow:
    dataset_id: str
    id: str
    label: str | None
    kind: str
    individuals: int


async def terms(conn: asyncpg.Connection | asyncpg.Pool, dataset_ids: list[str]
                ) -> list[TermRow]:
    rows = await conn.fetch(f"SELECT {', '.join(TERM_COLUMNS)} FROM individual_terms "
                            "WHERE dataset_id = ANY($1::text[]) ORDER BY id, dataset_id",
                            dataset_ids)
    return [TermRow(*r) for r in rows]


async def prefix_holders(conn: asyncpg.Connection, dataset_ids: list[str],
                         prefixes: list[str]) -> list[tuple[str, str, int]]:
    """(dataset, prefix, the most individuals holding one term of it) for each of the
    datasets' terms of these prefixes (as written: a custom vocabulary's terms are matched
    so, beacon/individuals.py undeclared): which datasets declare a custom filter's
    vocabulary, and whether the filtering terms list a term of it (a term's holders,
    beacon/disclosure.py term_listed)."""
    rows = await conn.fetch("SELECT dataset_id, split_part(id, ':', 1) AS prefix, "
                            "max(individuals) FROM individual_terms "
                            "WHERE dataset_id = ANY($1::text[]) "
                            "AND split_part(id, ':', 1) = ANY($2::text[]) "
                            "GROUP BY 1, 2", dataset_ids, prefixes)
    return [(r[0], r[1], r[2]) for r in rows]
