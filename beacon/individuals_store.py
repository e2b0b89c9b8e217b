"""All SQL touching individuals: writing a dataset's with its variants' swap, counting and
paging those a query selects, and the filtering terms they hold.

A query's individuals are one statement: the variants it matches (the same conditions as a
variant query, allele floor included: beacon/store.py) are folded into one bit string per
dataset with `bit_or` over their carrier bits, and the dataset's individuals are filtered by
their bit in it and by the filters' conditions (beacon/filters.py). No carrier list ever
leaves the database. docs/design/storage.md ("Individuals") has the measurements.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import asyncpg

INDIVIDUAL_COLUMNS = ("dataset_id", "sample_index", "id", "sex", "country", "terms", "ancestry",
                      "record")
VALUE_COLUMNS = ("dataset_id", "sample_index", "field", "value")
TERM_COLUMNS = ("dataset_id", "id", "label", "kind", "individuals")
POPULATION_COLUMNS = ("dataset_id", "label", "position", "members", "males", "size",
                      "male_count")


@dataclass(frozen=True)
class IndividualsLoad:
    """A dataset's individuals as rows for its tables (beacon/individuals.py makes them)."""

    individuals: list[tuple]    # INDIVIDUAL_COLUMNS without dataset_id
    values: list[tuple]         # VALUE_COLUMNS without dataset_id
    terms: list[tuple]          # TERM_COLUMNS without dataset_id
    populations: list[tuple]    # POPULATION_COLUMNS without dataset_id


async def replace(conn: asyncpg.Connection, dataset_id: str, load: IndividualsLoad) -> None:
    """The dataset's individuals become `load`'s; run inside the swap's transaction, so
    readers see the old individuals with the old variants, then the new with the new."""
    await conn.execute("DELETE FROM individuals WHERE dataset_id = $1", dataset_id)
    await conn.execute("DELETE FROM individual_terms WHERE dataset_id = $1", dataset_id)
    await conn.execute("DELETE FROM populations WHERE dataset_id = $1", dataset_id)
    for table, columns, rows in (("individuals", INDIVIDUAL_COLUMNS, load.individuals),
                                 ("individual_values", VALUE_COLUMNS, load.values),
                                 ("individual_terms", TERM_COLUMNS, load.terms),
                                 ("populations", POPULATION_COLUMNS, load.populations)):
        if rows:
            await conn.copy_records_to_table(table, columns=columns,
                                             records=((dataset_id, *row) for row in rows))


@dataclass(frozen=True)
class Selection:
    """Which individuals a query selects: its variant conditions (None: no variant
    condition) and its filters' conditions, each with `{}` where its argument goes, and the
    arguments in that order. The datasets are the variant conditions' first argument, or the
    first of the filters' when there is no variant condition."""

    variant: tuple[str, ...] | None
    filters: tuple[str, ...]
    args: list[object]
    key: str            # the question as normalised, without its datasets: a noise seed


@lru_cache(maxsize=256)
def _from_where(variant: tuple[str, ...] | None, filters: tuple[str, ...]) -> str:
    numbers = iter(range(1, 1000))

    def numbered(conditions: list[str] | tuple[str, ...]) -> str:
        """Each `{}` (a condition may hold several) becomes the next $n, in order."""
        return " AND ".join(c.format(*(f"${next(numbers)}" for _ in range(c.count("{}"))))
                            for c in conditions)

    if variant is None:
        return "FROM individuals i WHERE " + numbered(["i.dataset_id = ANY({}::text[])",
                                                       *filters])
    hits = numbered(variant)
    return (f"FROM (SELECT dataset_id, bit_or(carrier_bits) AS bits FROM variants "
            f"WHERE {hits} AND carrier_bits IS NOT NULL GROUP BY dataset_id) AS h "
            f"JOIN individuals i ON i.dataset_id = h.dataset_id WHERE "
            + numbered(["get_bit(h.bits, i.sample_index) = 1", *filters]))


# The two seeds of a count's noise (beacon/disclosure.py report_individuals), hashes keyed by
# the node's secret, which never leaves the database: which individuals matched (the same set
# draws the same noise), and the query as normalised (the same question draws the same noise).
_SECRET = "(SELECT secret FROM disclosure_secret)"
_SET_DIGEST = (f"md5({_SECRET} || i.dataset_id || ':' "
               "|| string_agg(i.sample_index::text, ',' ORDER BY i.sample_index))")


async def count(conn: asyncpg.Connection | asyncpg.Pool, selection: Selection
                ) -> dict[str, tuple[int, str, str]]:
    """How many individuals the selection holds, per dataset (datasets with none absent),
    with the keyed digests of which ones and of the question."""
    n = len(selection.args) + 1
    rows = await conn.fetch(f"SELECT i.dataset_id, count(*), {_SET_DIGEST}, "
                            f"md5({_SECRET} || i.dataset_id || ':' || ${n}::text) "
                            f"{_from_where(selection.variant, selection.filters)} "
                            f"GROUP BY i.dataset_id", *selection.args, selection.key)
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


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
