"""All SQL touching datasets and variants: reads, the staging load and the atomic swap.

A dataset's variants live in their own partition of `variants`. An ingest fills a standalone
staging table, indexes it, then in one short transaction drops the old partition and attaches
the new one, so a failure before that commit leaves the previous version intact and queried.
"""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import count
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import orjson

from beacon.alleles import PADDING
from beacon.annotations import protein_change_pattern
from beacon.copy_in import copy_in
from beacon.visibility import CARRIERS, CallerView, Floor

if TYPE_CHECKING:   # an ingest worker imports this module for its COPY, and never parses a query
    from beacon.request import VariantQuery

log = logging.getLogger(__name__)
COPY_COLUMNS = ("chromosome", "start_pos", "end_pos", "ref", "alt", "variant_type", "length",
                "ac", "an", "carriers", "carrier_bits", "hom_bits", "missing_bits",
                "one_allele_bits", "info_populations", "genes", "protein_changes", "annotation")
DATASETS_CHANNEL = "gdi_node_datasets"       # NOTIFY'd whenever the datasets change
# a dataset's partition of `variants`, and of `variant_bins` (`_bins_of`)
_TABLE_NAME = re.compile(r"^variants_[a-z0-9_]{1,40}_[0-9a-f]{8}(_bins)?$")
_LOCK_KEY = "hashtextextended($1, 7)"         # a dataset's ingest lock (dataset_lock)
# A range finds the variants no longer than LONG_VARIANT bases (end_pos - start_pos) on the
# locus btree, starting at most that far left of it, and the longer ones on a GiST index of
# their spans, so a 1 Mb SV in a dataset no longer widens every scan by 1 Mb. The migration
# 0008_long_variants.sql declares the same index, predicate and number on the parent table.
LONG_VARIANT = 1_000
_LONG = f"end_pos - start_pos > {LONG_VARIANT}"
_SPAN = "int8range(start_pos, end_pos)"
_SHORT = "start_pos >= {}"
_LONG_AT = f"{_LONG} AND {_SPAN} @> {{}}::bigint"
_SHORT_OR_LONG = f"({_SHORT} OR ({_LONG_AT}))"
# what the long variants' GiST carries beside its key (migration 0015): all a count of a
# range reads of them (its conditions, and the columns `_RAREST` reads), so that it finds
# them in the index alone (`_counted`)
_RAREST_READS = "carriers, ac"
_LONG_COVERS = f"start_pos, end_pos, {_RAREST_READS}, dataset_id"
# A range count without an allele floor adds up `variant_bins` (migration 0014) for the bins
# of 2^BIN_BITS start positions it covers whole, at least BINNED_FROM of them, and reads the
# variants at its edges and the long ones alone (`_binned`).
BIN_BITS = 16
BINNED_FROM = 2
_EDGES = "((start_pos >= {} AND start_pos < {}) OR start_pos >= {})"
_EDGES_OR_LONG = ("((start_pos >= {} AND start_pos < {}) OR start_pos >= {} OR "
                  f"({_LONG} AND {_SPAN} && int8range({{}}, {{}})))")
_IN_BINS = "chromosome = {} AND bin >= {} AND bin < {}"


@dataclass(frozen=True)
class DatasetVersion:
    """What an ingest learnt about a dataset, written together with the partition swap."""

    id: str
    assembly: str
    access_level: str
    title: str
    description: str
    variant_count: int
    record_count: int
    sample_count: int
    max_variant_length: int
    source: dict[str, Any]
    metadata: dict[str, Any]
    # its variants say which samples carry them (read from the genotypes): what a caller's
    # losses are charged by (beacon/losses.py); without, answers are the tier's (0012)
    genotyped: bool


@dataclass(frozen=True)
class DatasetRow(DatasetVersion):
    """A dataset as stored: its current version's facts, version number and timestamps."""

    version: int
    created_at: datetime
    updated_at: datetime
    # whose ControlledAccessGrants grant it (migration 0037); none: any source accepted
    grant_sources: tuple[str, ...] = ()


_JSON_COLUMNS = ("source", "metadata")
_DATASET_COLUMNS = ", ".join(f"{name}::text AS {name}" if name in _JSON_COLUMNS else name
                             for name in DatasetRow.__dataclass_fields__)


async def list_datasets(conn: asyncpg.Connection | asyncpg.Pool) -> list[DatasetRow]:
    """JSON columns travel as text and are decoded here, so the store works on any
    connection, whatever codecs its owner set up (ingest opens its own)."""
    rows = await conn.fetch(f"SELECT {_DATASET_COLUMNS} FROM datasets ORDER BY id")
    return [DatasetRow(**{**r, **{name: orjson.loads(r[name]) for name in _JSON_COLUMNS},
                          "grant_sources": tuple(r["grant_sources"])})
            for r in rows]


async def set_grant_sources(conn: asyncpg.Connection, dataset_id: str,
                            sources: Iterable[str]) -> bool:
    """The sources whose grants grant the dataset from now on (none: any the node accepts);
    False if there is no such dataset. Notified as a change, so that every node's cached
    list, whose keys decide each caller's grants (beacon/datasets.py), is read again. Not
    a new version, nor a change of what the dataset's documents publish: its dates stay."""
    async with conn.transaction():
        changed = await conn.fetchval(
            "UPDATE datasets SET grant_sources = $2 WHERE id = $1 RETURNING true",
            dataset_id, sorted(set(sources)))
        if changed:
            await conn.execute(f"NOTIFY {DATASETS_CHANNEL}")   # delivered at commit
    return bool(changed)


async def ungoverned(conn: asyncpg.Connection | asyncpg.Pool) -> list[tuple[str, str]]:
    """(id, access level) of each dataset naming no grant source: granted by a grant from
    any source the node accepts. At every access level: a grant puts its holder in the
    granted tier (beacon/disclosure.py tier_of), a REGISTERED dataset's variants below the
    allele floor and a PUBLIC one's individual records with it; the CONTROLLED ones alone
    were listed, and the operator told nothing of the others."""
    return [(row["id"], row["access_level"]) for row in await conn.fetch(
        "SELECT id, access_level FROM datasets WHERE grant_sources = '{}' ORDER BY id")]


def _slug(dataset_id: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", dataset_id.lower()).strip("_")[:40] or "dataset"


def _checked(table: str) -> str:
    """Table names are built here, never from input; this guards the f-strings below."""
    if not _TABLE_NAME.fullmatch(table):
        raise ValueError(f"not a variants table name: {table!r}")
    return table


def _bins_of(table: str) -> str:
    """The partition of `variant_bins` that goes with a partition of `variants`."""
    return _checked(f"{_checked(table)}_bins")


async def _literal(conn: asyncpg.Connection, dataset_id: str) -> str:
    """The dataset id as an SQL literal, quoted by PostgreSQL itself, for the DDL (a partition
    bound, a default, a comment) that takes no parameters."""
    return await conn.fetchval("SELECT quote_literal($1::text)", dataset_id)


class KeyConflict(Exception):
    """A dataset whose id or aliases name another dataset of the node too. A
    ControlledAccessGrants visa names a dataset by any of its keys (beacon/datasets.py
    `dataset_keys`), so a grant of either would grant both: refused, as access control
    fails closed."""


class AccountingChange(Exception):
    """A new version of a dataset whose variants would name their carriers where the version
    in place names nobody, or the other way round. Each caller's answers about the one are
    charged to the people it counted (beacon/losses.py), about the other to the caller's one
    account for the dataset (beacon/accounts.py): the new version would start each caller's
    standing afresh, as no version otherwise does, and a question answered across the swap
    was judged by the accounting of one and counted in the other (a review, 2026-12-06)."""


async def check_accounting(conn: asyncpg.Connection, dataset_id: str, genotyped: bool) -> None:
    """AccountingChange unless the version in place, if any, is `genotyped` as the new one
    is. Called under the dataset's lock (`dataset_lock`), which every ingest and removal of
    it takes, so the version in place cannot change before the swap."""
    before = await conn.fetchval("SELECT genotyped FROM datasets WHERE id = $1", dataset_id)
    if before is None or before == genotyped:
        return
    carriers = "its samples' genotypes read: each variant names its carriers"
    nobody = "its counts read from INFO: no variant names its carriers"
    raise AccountingChange(
        f"{dataset_id}: the version in place was loaded with {carriers if before else nobody}"
        f", this one with {carriers if genotyped else nobody}; callers' answers about the "
        "two are accounted apart (per person, or one account per caller for the dataset), "
        "and this version would start every caller's afresh. Load it as the version in "
        "place was (with or without --individuals alike), under another dataset id, or "
        f"remove the dataset first (`gdi-node remove {dataset_id}`), which drops what its "
        "callers were charged for it")


def grant_keys(dataset_id: str, aliases: Any) -> frozenset[str]:
    """The strings a ControlledAccessGrants visa may name a dataset by: its id and its
    metadata's aliases that are text, matched exactly."""
    listed = aliases if isinstance(aliases, list) else []
    return frozenset([dataset_id, *(a for a in listed if isinstance(a, str))])


async def check_keys(conn: asyncpg.Connection, dataset_id: str,
                     metadata: dict[str, Any]) -> None:
    """KeyConflict when a key of the dataset (its id, its metadata's aliases) is a key of
    another dataset of the node."""
    keys = sorted(grant_keys(dataset_id, metadata.get("aliases")))
    shared = await conn.fetch(
        """SELECT d.id, k.key FROM datasets d CROSS JOIN LATERAL (
               SELECT d.id AS key UNION ALL
               SELECT e #>> '{}' FROM jsonb_array_elements(
                   CASE WHEN jsonb_typeof(d.metadata->'aliases') = 'array'
                        THEN d.metadata->'aliases' ELSE '[]'::jsonb END) e
               WHERE jsonb_typeof(e) = 'string') k
           WHERE d.id <> $1 AND k.key = ANY($2::text[])
           ORDER BY d.id, k.key""", dataset_id, keys)
    if shared:
        named = "; ".join(f"{row['key']!r} names {row['id']}" for row in shared[:5])
        raise KeyConflict(f"{dataset_id}: a key of this dataset (its id or an alias) is a "
                          f"key of another dataset of this node ({named}): a grant of one "
                          "would grant the other; give each dataset keys of its own (the "
                          "metadata file's aliases)")


@asynccontextmanager
async def dataset_lock(conn: asyncpg.Connection, dataset_id: str,
                       busy: Callable[[], None] | None = None) -> AsyncIterator[None]:
    """Serialises ingests of one dataset across processes, and a removal with them (the
    session holds the lock, and loses it with the session: a lost connection has nothing to
    unlock, and the error that lost it is the one to raise). `busy` is called before waiting
    for a holder, if there is one."""
    if busy is None or not await conn.fetchval(f"SELECT pg_try_advisory_lock({_LOCK_KEY})",
                                               dataset_id):
        if busy is not None:
            busy()
        await conn.execute(f"SELECT pg_advisory_lock({_LOCK_KEY})", dataset_id)
    try:
        yield
    finally:
        if not conn.is_closed():
            await conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})", dataset_id)


async def drop_abandoned_staging(conn: asyncpg.Connection) -> list[str]:
    """Staging tables (not partitions) whose dataset no ingest holds the lock of: what
    interrupted ingests left (a 1M-record one is over 100 MB). Each ingest, the node's start
    and `gdi-node db clean` drop them. Each is dropped while its dataset's lock is held, so an
    ingest starting meanwhile waits, then makes a table of its own. A staging table names its
    dataset in its comment (`create_staging`); one made before that, in its dataset_id
    column's default."""
    candidates = await conn.fetch(
        """SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment,
                  pg_get_expr(d.adbin, d.adrelid) AS old_default
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'dataset_id'
           LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
           WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relispartition
             AND c.relname LIKE 'variants\\_%'""")
    dropped, busy = [], []
    for row in candidates:
        literal = re.fullmatch(r"'((?:[^']|'')*)'::text", row["old_default"] or "")
        dataset_id = row["comment"] or (literal[1].replace("''", "'") if literal else None)
        if not _TABLE_NAME.fullmatch(row["relname"]) or dataset_id is None:
            continue
        if not await conn.fetchval(f"SELECT pg_try_advisory_lock({_LOCK_KEY})", dataset_id):
            continue                              # an ingest of that dataset is running
        try:
            # a lock the table waits for (a dump reading it, a session that touched it) is
            # waited for a second at most: behind one, the drop ran into the start's
            # statement timeout and the node did not start (found by a review, 2026-12-05)
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '1s'")
                if await drop_staging(conn, row["relname"]):
                    dropped.append(row["relname"])
        except asyncpg.LockNotAvailableError:
            busy.append(row["relname"])
        finally:
            await conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})", dataset_id)
    if dropped:
        log.warning("dropped staging tables of interrupted ingests: %s", ", ".join(dropped))
    if busy:
        log.warning("staging tables of interrupted ingests in use, left for the next "
                    "cleanup: %s", ", ".join(busy))
    return dropped


async def drop_staging(conn: asyncpg.Connection, table: str) -> bool:
    """Drop a staging table (and its bins) unless it has become a partition, which is the
    dataset's version in place: whether it was dropped. A cleanup listing staging tables
    while an ingest swapped one in, then locking its dataset once that ingest let go,
    dropped the live partition; and an ingest stopped just after its swap committed (its
    report's last read) dropped what it had swapped in. Either left a dataset listed with
    its rows and answering none (found by a review, 2026-12-05). Whoever calls this holds
    the dataset's lock (`dataset_lock`), so no swap of it runs between the check and the
    drop."""
    if await conn.fetchval(
            "SELECT c.relispartition FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = $1",
            table):
        return False
    await drop_table(conn, table)
    return True


async def create_staging(conn: asyncpg.Connection, dataset_id: str, *,
                         annotated: bool = True) -> str:
    """A standalone table shaped like a partition, but without dataset_id while it loads:
    `index_staging` adds that column back with the dataset as its default, which PostgreSQL
    keeps once in the catalogue for every row already there (a "missing" attribute), so no
    row stores the identifier its partition's bound already says (up to 23 bytes of ~140).
    The table's comment names the dataset meanwhile (`drop_abandoned_staging`).
    A row too long for a page's share (carrier bits of thousands of samples) is compressed
    until it fits in 128 bytes if it can be, and kept inline (the bits' STORAGE MAIN): a rare
    allele's bits are nearly all zero and shrink to tens of bytes.

    A file without annotations (`annotated` false) has its genes' and protein changes'
    indexes made here, on the empty table: their predicates hold for none of the rows the
    load writes, so the COPY puts nothing in them, at no cost a row that could be measured
    (1M rows COPYed in 0.87 s with them, 0.89 s without). Made after the load, each scanned
    every row to find none: 0.15 s apiece at 1M rows, beside the locus btree
    (docs/benchmarks.md)."""
    table = _checked(f"variants_{_slug(dataset_id)}_{secrets.token_hex(4)}")
    literal = await _literal(conn, dataset_id)
    await conn.execute(f"""
        CREATE TABLE {table} (LIKE variants INCLUDING DEFAULTS INCLUDING STORAGE)
            WITH (toast_tuple_target = 128);
        ALTER TABLE {table} DROP COLUMN dataset_id;
        COMMENT ON TABLE {table} IS {literal};""")
    if not annotated:
        await _index_annotations(conn, table)
    return table


async def copy_rows(conn: asyncpg.Connection, table: str, rows: Iterable[tuple],
                    columns: tuple[str, ...] = COPY_COLUMNS) -> None:
    """COPY `rows` of `columns` (COPY_COLUMNS or their first ones; the rest are NULL). The
    ingest's reader gives the long variants after the others (beacon/vcf.py `_read`)."""
    await copy_in(conn, _checked(table), rows, columns)


VariantKey = tuple[str, int, int, str, str]     # chromosome, start_pos, end_pos, ref, alt


def variant_id(assembly_id: str, key: VariantKey) -> str:
    """`assembly:chromosome:start:ref:alt` (0-based start); symbolic alleles add `:end`, since
    two SVs of one type at one position differ only there. The id the Beacon gives a record
    (beacon/records.py, which parses it back) and an ingest names a variant found twice by
    (beacon/vcf.py): one spelling, so that the one can be looked up by the other."""
    chromosome, start, end, ref, alt = key
    base = f"{assembly_id}:{chromosome}:{start}:{ref}:{alt}"
    return f"{base}:{end}" if alt.startswith("<") else base


# how many of a file's repeated variants the check names (the ingest reports the first)
_DUPLICATES_NAMED = 100


class DuplicateVariants(Exception):
    """Rows of a staging table that are one variant: the same chromosome, start, end and
    alleles (a variant's identity, `variant_id`, whose end tells symbolic SVs apart), from
    two records or two ALTs trimmed alike. Stored, the variant was two records under one
    id, each with part of its carriers and counts."""

    def __init__(self, keys: list[VariantKey]) -> None:
        self.keys = keys
        super().__init__(f"{len(keys)} variants stored more than once, the first {keys[0]}")


async def index_staging(conn: asyncpg.Connection, second: asyncpg.Connection, table: str,
                        dataset_id: str, *, every_duplicate: bool = False) -> None:
    """The dataset's column back, then the same indexes as the partitioned parent's, so
    ATTACH adopts them instead of building its own. The column's default, a constant, is
    stored once, not per row (no scan: `ADD COLUMN` with a constant default is a catalogue
    change). Whatever rewrites the rows later (VACUUM FULL, CLUSTER) writes the identifier
    into each of them again: correct, only bigger. Its CHECK, which ATTACH needs so that it
    does not scan the rows inside the swap's transaction, is added unchecked and validated
    later (below). Then the version's partition of `variant_bins`.

    The other indexes and the bins are built on the `second` connection while the locus
    btree, the longest build, is sorted on `conn`: they only read the rows and none of
    their locks conflicts with another's. On 2 cores that takes three quarters of the time
    of one build after the other at 1M rows, where the btree's parallel sort leaves a core
    idle, and the same time at 10M, where it does not (docs/benchmarks.md). The genes' and
    protein changes' indexes are there already where `create_staging` made them.

    Then the rows are checked to hold no variant twice (`_repeated`), on `conn`, while
    `second` validates the CHECK, then runs ANALYZE: none needs the others, and a check
    that finds a variant twice fails the ingest, which drops the table, statistics and
    all. The CHECK's scan (0.1 s at 1M rows) had a core to itself before the builds, the
    other idle, when the column came with it; beside `_repeated`, it fits in the time
    ANALYZE leaves of it. DuplicateVariants names the first
    _DUPLICATES_NAMED, or with `every_duplicate` all of them, which `--skip-invalid` needs
    to skip each record repeating one (`replace_duplicates`)."""
    table = _checked(table)
    literal = await _literal(conn, dataset_id)
    await conn.execute(
        f"""ALTER TABLE {table} ADD COLUMN dataset_id text COLLATE "C" NOT NULL
                DEFAULT {literal},
                ADD CONSTRAINT {table}_dataset CHECK (dataset_id = {literal}) NOT VALID""")

    async def locus(c: asyncpg.Connection) -> None:
        await c.execute("SET maintenance_work_mem = '512MB'")
        await c.execute(f"CREATE INDEX {table}_locus ON {table} (chromosome, start_pos, ref, alt)")

    async def validated(c: asyncpg.Connection) -> None:
        await c.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {table}_dataset")
        await c.execute(f"ANALYZE {table}")

    await _together(locus(conn), _index_rest(second, table, literal))
    repeated, _ = await _together(_repeated(conn, table, every_duplicate), validated(second))
    if repeated:
        raise DuplicateVariants(repeated)


async def _together(*steps: Awaitable[Any]) -> list[Any]:
    """The steps' results, run at once (each on its own connection); if one fails, the
    others are cancelled and its error raised as it is."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _repeated(conn: asyncpg.Connection, table: str, every: bool
                    ) -> list[VariantKey]:
    """Variants the staging table holds twice (the first _DUPLICATES_NAMED, or `every`
    one): read in the locus btree's order, where rows of one variant are neighbours.

    Not a UNIQUE btree, which would be free in its build: the parent's index is not unique
    (a unique one must hold dataset_id in every entry), and ATTACH adopts only an index like
    the parent's, so it would build another inside the swap. Nor in the readers: a
    duplicate can come from records at different positions (a padded indel trimmed onto
    another's start), in regions read by different workers, and the biallelic-SNV path does
    no work per record beyond its row.

    First whether any locus (chromosome, start, REF, ALT: the btree's key) is held twice,
    which groups the btree's order as it is; only if one is, the variants, whose end (which
    tells symbolic SVs at one locus apart) the btree does not hold, so that its order is
    sorted again within each locus. At 1M rows the first takes 0.29 s and the two 0.7 s,
    where the second alone took 0.42 s (docs/benchmarks.md)."""
    if await conn.fetchval(f"""SELECT true FROM {table} GROUP BY chromosome, start_pos, ref, alt
                               HAVING count(*) > 1 LIMIT 1""") is None:
        return []
    rows = await conn.fetch(
        f"""SELECT chromosome, start_pos, end_pos, ref, alt FROM {table}
            GROUP BY chromosome, start_pos, ref, alt, end_pos HAVING count(*) > 1
            {"" if every else f"LIMIT {_DUPLICATES_NAMED}"}""")
    return [tuple(row) for row in rows]


async def _index_rest(conn: asyncpg.Connection, table: str, literal: str) -> None:
    """The staging table's indexes other than the locus btree (those of the annotations
    unless `create_staging` made them), then the version's bins."""
    await conn.execute("SET maintenance_work_mem = '512MB'")
    await conn.execute(f"CREATE INDEX {table}_long ON {table} USING gist (chromosome, {_SPAN}) "
                       f"INCLUDE ({_LONG_COVERS}) WHERE {_LONG}")
    await _index_annotations(conn, table)
    await _make_bins(conn, table, literal)


async def _index_annotations(conn: asyncpg.Connection, table: str) -> None:
    """The indexes of geneId and aminoacidChange, which hold the annotated rows only; each
    unless the table has it (made before the load, `create_staging`)."""
    await conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_genes ON {table} USING gin (genes) "
                       f"WHERE genes IS NOT NULL")
    await conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_changes ON {table} "
                       f"USING gin (protein_changes) WHERE protein_changes IS NOT NULL")


async def _make_bins(conn: asyncpg.Connection, table: str, literal: str) -> None:
    """The staging table's bins, from its rows as they are."""
    # the version's bins, a partition of `variant_bins` to be, which `swap_in` attaches,
    # with its key, the CHECK that spares ATTACH a scan, and the comment
    # `drop_abandoned_staging` reads; written in bin order, so that a range's bins lie on few
    # pages, by CREATE TABLE AS (bulk inserts: half the time of INSERT ... SELECT). The hash
    # of a genome's bins spilled to disk in the default work_mem (~190,000 bins of 16,384
    # bases, 82 MB: 63 s at 100M, 30 s in memory; ~47,000 of 65,536 now).
    bins = _bins_of(table)
    await conn.execute(f"""
        SET work_mem = '256MB';
        CREATE TABLE {bins} AS SELECT {literal}::text COLLATE "C" AS dataset_id, chromosome,
                (start_pos >> {BIN_BITS})::integer AS bin, count(*)::integer AS variants,
                min({CARRIERS})::integer AS rarest
            FROM {table} WHERE NOT ({_LONG}) GROUP BY chromosome, start_pos >> {BIN_BITS}
            ORDER BY chromosome, bin;
        RESET work_mem;
        ALTER TABLE {bins} ALTER dataset_id SET NOT NULL, ALTER chromosome SET NOT NULL,
            ALTER bin SET NOT NULL, ALTER variants SET NOT NULL, ALTER rarest SET NOT NULL,
            ADD CONSTRAINT {bins}_dataset CHECK (dataset_id = {literal}),
            ADD PRIMARY KEY (dataset_id, chromosome, bin);
        COMMENT ON TABLE {bins} IS {literal};""")


async def replace_duplicates(conn: asyncpg.Connection, table: str, dataset_id: str,
                             keys: Iterable[VariantKey], rows: list[tuple],
                             columns: tuple[str, ...]) -> None:
    """The staging table (indexed, `index_staging` having found variants in it twice) with
    every row of the variants `keys` replaced by `rows`: the rows of the records kept of
    those repeating a variant (vcf.skip_duplicates). In one transaction; its bins made
    again from the rows left (they count them), then ANALYZE, which index_staging left."""
    table = _checked(table)
    literal = await _literal(conn, dataset_id)
    chromosomes, starts, ends, refs, alts = (list(column) for column in zip(*keys))
    async with conn.transaction():
        await conn.execute(
            f"""DELETE FROM {table} t
                USING unnest($1::text[], $2::integer[], $3::integer[], $4::text[], $5::text[])
                    AS k(chromosome, start_pos, end_pos, ref, alt)
                WHERE t.chromosome = k.chromosome AND t.start_pos = k.start_pos
                  AND t.ref = k.ref AND t.alt = k.alt AND t.end_pos = k.end_pos""",
            chromosomes, starts, ends, refs, alts)
        await copy_in(conn, table, rows, columns)
        await conn.execute(f"DROP TABLE {_bins_of(table)}")
        await _make_bins(conn, table, literal)
    await conn.execute(f"ANALYZE {table}")


async def cancel_writers(conn: asyncpg.Connection, table: str) -> None:
    """Stop other sessions still copying into a staging table that is being abandoned."""
    await conn.execute(
        """SELECT pg_cancel_backend(l.pid) FROM pg_locks l
           WHERE l.relation = to_regclass($1) AND l.pid <> pg_backend_pid()""", _checked(table))


async def drop_table(conn: asyncpg.Connection, table: str) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {_checked(table)}, {_bins_of(table)}")


# A swap or a removal drops a partition, which takes `variants` and `variant_bins` whole,
# and every read queued behind that lock waits with it: behind one long read (a report, a
# dump) each narrow query waited into its statement timeout, a node of 503s for as long as
# the long read ran (found by a review, 2026-12-05). So the transaction waits for its locks
# a moment at a time, and is rolled back and tried again after a pause in which the reads
# queued behind it go through (`_exclusively`); under load it gets its locks within the
# moment, as reads take milliseconds. It is never given up: an ingest's hours are not lost
# to a long read, which before held everything up for as long as this holds only the swap.
_EXCLUSIVE_WAIT = "'250ms'"
_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0)            # then 4 s each time
_T = TypeVar("_T")


async def _exclusively(conn: asyncpg.Connection, attempt: Callable[[], Awaitable[_T]],
                       what: str) -> _T:
    """`attempt` (a transaction that sets `_EXCLUSIVE_WAIT` before the locks it must wait
    for) until it gets them; a log line the 1st, 2nd, 4th, 8th... time it does not, naming
    the sessions holding the tables."""
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except asyncpg.LockNotAvailableError:
            pause = _PAUSES[min(tries, len(_PAUSES)) - 1]
            if tries & (tries - 1) == 0:
                holders = await conn.fetchval(
                    """SELECT string_agg(DISTINCT pid::text, ', ') FROM pg_locks
                       WHERE relation IN ('variants'::regclass, 'variant_bins'::regclass)
                         AND granted AND pid <> pg_backend_pid()""")
                log.warning("%s waits for the sessions reading the variants (%s) to end; "
                            "reads go on meanwhile (tried %d times, next in %.2f s)",
                            what, holders or "gone", tries, pause)
            await asyncio.sleep(pause)


# what swap_in hands `carry`: the connection, the version in place's partition, and the
# new version's number
Carry = Callable[[asyncpg.Connection, str, int], Awaitable[None]]


async def swap_in(conn: asyncpg.Connection, new: DatasetVersion, table: str,
                  also: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
                  carry: Carry | None = None) -> int:
    """Replace the dataset's partitions (of `variants` and `variant_bins`) and row in one
    transaction; returns the new version. `also` writes what belongs to the version beside
    its variants (its individuals) in the same transaction. `carry`, when a version is in
    place, is given its partition and the new version's number before that
    partition is dropped, with the rows of the version in place still there: what each
    caller was told of it is carried to the new one or dropped (beacon/visibility.py
    keep_accounts, which takes `variants` as the drop does, once it has read what needs no
    lock)."""
    table = _checked(table)
    return await _exclusively(conn, lambda: _swap(conn, new, table, also, carry),
                              f"the swap of dataset {new.id}")


async def _swap(conn: asyncpg.Connection, new: DatasetVersion, table: str,
                also: Callable[[asyncpg.Connection], Awaitable[None]] | None,
                carry: Carry | None) -> int:
    """One try at swap_in's transaction."""
    async with conn.transaction():
        # swaps one at a time (first, before any other lock they take), so that two datasets
        # swapped in at once cannot both take the same key; readers are not held up
        await conn.execute("LOCK TABLE datasets IN SHARE ROW EXCLUSIVE MODE")
        await conn.execute(f"SET LOCAL lock_timeout = {_EXCLUSIVE_WAIT}")
        await check_keys(conn, new.id, new.metadata)
        # NO KEY UPDATE: a caller's turn at the dataset's accounts (beacon/losses.py turn)
        # holds `variants`, which the drop below waits for, and its writes check their
        # reference to this row (FOR KEY SHARE): FOR UPDATE made each wait for the other
        old = await conn.fetchrow(
            "SELECT version, partition_table FROM datasets WHERE id = $1 FOR NO KEY UPDATE",
            new.id)
        if old is not None:
            if carry is not None:
                await carry(conn, _checked(old["partition_table"]), old["version"] + 1)
            await drop_table(conn, old["partition_table"])
        literal = await _literal(conn, new.id)
        await conn.execute(
            f"ALTER TABLE variants ATTACH PARTITION {table} FOR VALUES IN ({literal});"
            f"ALTER TABLE variant_bins ATTACH PARTITION {_bins_of(table)} "
            f"FOR VALUES IN ({literal})")
        version = 1 if old is None else old["version"] + 1
        await conn.execute(
            """INSERT INTO datasets (id, assembly, access_level, title, description,
                   variant_count, record_count, sample_count, max_variant_length, version,
                   partition_table, source, metadata, genotyped)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::jsonb,
                       $13::text::jsonb, $14)
               ON CONFLICT (id) DO UPDATE SET
                   assembly = EXCLUDED.assembly, access_level = EXCLUDED.access_level,
                   title = EXCLUDED.title, description = EXCLUDED.description,
                   variant_count = EXCLUDED.variant_count,
                   record_count = EXCLUDED.record_count, sample_count = EXCLUDED.sample_count,
                   max_variant_length = EXCLUDED.max_variant_length,
                   version = EXCLUDED.version, partition_table = EXCLUDED.partition_table,
                   source = EXCLUDED.source, metadata = EXCLUDED.metadata,
                   genotyped = EXCLUDED.genotyped, updated_at = now()""",
            new.id, new.assembly, new.access_level, new.title, new.description,
            new.variant_count, new.record_count, new.sample_count, new.max_variant_length,
            version, table, orjson.dumps(new.source).decode(), orjson.dumps(new.metadata).decode(),
            new.genotyped)
        if also is not None:
            await also(conn)
        await conn.execute(f"NOTIFY {DATASETS_CHANNEL}")   # delivered at commit
    return version


async def last_removal(conn: asyncpg.Connection | asyncpg.Pool) -> datetime | None:
    """When a dataset was last removed (migration 0018; not a CONTROLLED one while they are
    hidden, which no document showed, 0036), ingested again under another access level
    (0032: a hidden one leaves the FAIR Data Point), or hidden or shown again by a start
    under the other hide_controlled_datasets (0033, `note_hiding`); None if none of these
    ever was."""
    return await conn.fetchval("SELECT removed_at FROM dataset_removals")


async def note_hiding(conn: asyncpg.Connection, hide_controlled: bool) -> bool:
    """Record whether the node hides its CONTROLLED datasets (migration 0033), and when it
    hid them last time it did not (or the other way), and it holds one, note a removal
    (migration 0018) and notify the change: those datasets left (or joined) the FAIR Data
    Point with no row deleted. True when it did so. The first start knows no setting before,
    and notes nothing."""
    async with conn.transaction():
        before = await conn.fetchval("SELECT hide_controlled FROM fdp_publication FOR UPDATE")
        if before == hide_controlled:
            return False
        await conn.execute(
            """INSERT INTO fdp_publication (hide_controlled) VALUES ($1)
               ON CONFLICT (one) DO UPDATE SET hide_controlled = EXCLUDED.hide_controlled""",
            hide_controlled)
        if before is None or not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM datasets WHERE access_level = 'CONTROLLED')"):
            return False
        await conn.execute(
            """INSERT INTO dataset_removals (removed_at) VALUES (clock_timestamp())
               ON CONFLICT (one) DO UPDATE
                   SET removed_at = greatest(dataset_removals.removed_at, EXCLUDED.removed_at)""")
        await conn.execute(f"NOTIFY {DATASETS_CHANNEL}")   # delivered at commit
    return True


async def delete_dataset(conn: asyncpg.Connection, dataset_id: str,
                         carry: Callable[[asyncpg.Connection, str], Awaitable[object]]
                         | None = None) -> bool:
    """Drop the dataset's partition and row in one transaction; False if there was none.
    The partition first: its drop waits for a caller's turn at the dataset's accounts
    (beacon/losses.py turn), whose writes check their reference to the row, which the
    DELETE would have held. The row is locked as a swap locks it (store.swap_in), so that
    one under way is waited for and the partition dropped is the one it put in place.
    Both take `datasets` in SHARE ROW EXCLUSIVE first, as a swap does: a removal that took
    the row, then waited for `variants` behind a caller's turn, later needed the table for
    its DELETE while a swap of another dataset, holding the table, waited for `variants`
    behind the removal (a deadlock, an ingest's hours lost at its last step; a probe).
    The partition's lock is waited for as a swap waits for it (`_exclusively`). `carry`,
    once `variants` is held as the drop holds it (no caller's turn under way), is given the
    dataset's id: what callers were charged for its people that other datasets hold moves
    to those (beacon/losses.py keep_removed)."""
    return await _exclusively(conn, lambda: _delete(conn, dataset_id, carry),
                              f"the removal of dataset {dataset_id}")


async def _delete(conn: asyncpg.Connection, dataset_id: str,
                  carry: Callable[[asyncpg.Connection, str], Awaitable[object]] | None
                  ) -> bool:
    """One try at delete_dataset's transaction."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE datasets IN SHARE ROW EXCLUSIVE MODE")
        await conn.execute(f"SET LOCAL lock_timeout = {_EXCLUSIVE_WAIT}")
        table = await conn.fetchval(
            "SELECT partition_table FROM datasets WHERE id = $1 FOR NO KEY UPDATE", dataset_id)
        if table is None:
            return False
        if carry is not None:
            await conn.execute("LOCK TABLE ONLY variants IN ACCESS EXCLUSIVE MODE")
            await carry(conn, dataset_id)
        await drop_table(conn, table)
        await conn.execute("DELETE FROM datasets WHERE id = $1", dataset_id)
        await conn.execute(f"NOTIFY {DATASETS_CHANNEL}")   # delivered at commit
    return True


# --- variant queries -------------------------------------------------------------------------

@dataclass(frozen=True)
class VariantRow:
    dataset_id: str
    chromosome: str
    start_pos: int
    end_pos: int
    ref: str
    alt: str
    variant_type: str
    length: int
    ac: int | None
    an: int | None
    carriers: int | None = None              # a sites-only file's AC - nhomalt (beacon/vcf.py)
    info_populations: str | None = None      # a sites-only file's (JSON, beacon/vcf.py)
    annotation: str | None = None            # its ANN/CSQ entries (JSON, beacon/vcf.py)
    # per population of the dataset (beacon/populations.py InPopulation's fields, in order);
    # None without genotypes
    populations: list[list[Any]] | None = None


_VARIANT_COLUMNS = ", ".join(f for f in VariantRow.__dataclass_fields__ if f != "populations")
# A record's bit counts under each of its dataset's populations, as JSON: one statement for
# the page, and only bit_counts leave the database, never the bits.
_POPULATIONS = """(SELECT json_agg(json_build_array(
        p.label, p.size, p.male_count,
        bit_count(v.carrier_bits & p.members), bit_count(v.carrier_bits & p.males),
        bit_count(v.hom_bits & p.members), bit_count(v.hom_bits & p.males),
        coalesce(bit_count(v.missing_bits & p.members), 0),
        coalesce(bit_count(v.missing_bits & p.males), 0),
        coalesce(bit_count(v.one_allele_bits & p.members), 0),
        coalesce(bit_count(v.one_allele_bits & p.males), 0)) ORDER BY p.position)
    FROM populations p WHERE p.dataset_id = v.dataset_id AND v.carrier_bits IS NOT NULL)::text"""


def _bases_condition(column: str, bases: str) -> tuple[str, str]:
    """`N` matches exactly one base of any kind (LIKE's `_`), never a substring match, and
    never a character that is no base: `_` alone took `NNNNN` for `<DEL>` and twelve Ns for
    the breakend `G]17:198982]`, which are stored as written. Not a regular expression made
    of the pattern: one of 100,000 Ns (a body may send them) takes the database seconds to
    compile, and then fails. A symbolic allele or a breakend (whose mate's name may hold an N,
    `A[NC_000017.11:198984[`) is compared as written."""
    if "N" in bases and not bases.strip("ACGTN"):
        return (f"({column} LIKE {{}} AND translate({column}, 'ACGTN', '') = '')",
                bases.replace("N", "_"))
    return f"{column} = {{}}", bases


_RAREST = f"min({CARRIERS})"
# A variant query's first condition, always: counts take it apart (`_per_dataset`).
_IN_DATASETS = "dataset_id = ANY({}::text[])"
_OVERLAPS = ("start_pos < {}", "end_pos > {}")
# a range on one chromosome and nothing else (`_binned`): where to read from, short or long
_PLAIN_RANGE = {(_IN_DATASETS, "chromosome = {}", *_OVERLAPS, reach): edges
                for reach, edges in ((_SHORT, _EDGES), (_SHORT_OR_LONG, _EDGES_OR_LONG))}


def variant_conditions(query: VariantQuery, dataset_ids: list[str], chromosome: str | None,
                       span: int, floor: int | Floor, view: CallerView | None = None
                       ) -> tuple[tuple[str, ...], list[object]]:
    """The WHERE conditions of a variant query, each with a `{}` where an argument goes (a
    condition may hold several), and the arguments in that order; `span` is the longest
    variant in the queried datasets, which bounds how far left of a range an overlapping one
    can start: up to LONG_VARIANT, the locus btree is read from there; beyond it, from
    LONG_VARIANT bases left, or-ed with the long variants covering the range's start (the
    GiST; docs/design/storage.md, "Long variants"). `floor` is the allele visibility floor
    (beacon/visibility.py; an int: a sharp one), `view` one caller's view of it (a query of
    its one dataset): variants it does not show are not there. List arguments are the ones a
    batch of queries shares (`CountKey`); the others differ from query to query."""
    conditions = [_IN_DATASETS]
    args: list[object] = [dataset_ids]
    floor = Floor(floor) if isinstance(floor, int) else floor
    if floor.k > 1:                                   # a floor of 1 shows everything
        shown, shown_args = floor.condition(view)
        conditions.append(shown)
        args += shown_args
    if chromosome is not None:
        conditions.append("chromosome = {}")
        args.append(chromosome)
    if query.kind == "sequence":
        conditions.append("start_pos = {}")
        args.append(query.start[0])
    elif query.kind == "range":
        start, end = query.start[0], query.end[0]
        conditions += _OVERLAPS
        args += [end, start]
        if span > LONG_VARIANT:
            conditions.append(_SHORT_OR_LONG)
            args += [start - LONG_VARIANT, start]
        else:
            conditions.append(_SHORT)
            args.append(max(start - span, 0))
    elif query.kind == "bracket":
        conditions += ["start_pos >= {}", "start_pos < {}", "end_pos >= {}", "end_pos < {}"]
        args += [query.start[0], query.start[1], query.end[0], query.end[1]]
    for column, other, bases in (("ref", "alt", query.reference_bases),
                                 ("alt", "ref", query.alternate_bases)):
        if bases == PADDING:                # a trimmed allele's padding base, on both sides
            conditions.append(f"{column} = left({other}, 1)")
        elif bases:
            condition, value = _bases_condition(column, bases)
            conditions.append(condition)
            args.append(value)
    if query.gene:
        # placed on the gene's span (beacon/answer.py placed): what the VCF's annotations put
        # in the gene, by any of its names, or, in a file without annotations, whatever lies
        # in its span
        conditions.append("(genes IS NULL OR genes && {}::text[])" if query.kind == "range"
                          else "genes && {}::text[]")
        args.append(list(query.gene_names))
    if query.protein_change:
        # containment, which the GIN index answers: `= ANY` it does not, and read every
        # annotated variant of the dataset from it to look for the change in each
        conditions.append("protein_changes @> ARRAY[{}::text]")
        args.append(query.protein_change)
    if query.gene and query.protein_change:
        # the change on an annotation entry of the gene: the arrays above say only that some
        # entry names the gene and some the change, which a gene nested in another's intron
        # (intronic in the host, missense in the nested gene) meets for the host gene too.
        # An entry names its gene(s) by symbol (0) and by id (5, beacon/vcf.py), each `&`-joined
        conditions.append("EXISTS (SELECT FROM json_array_elements(annotation::json) entry "
                          "WHERE string_to_array(upper(concat_ws('&', entry->>0, entry->>5)), "
                          "'&') && {}::text[] AND entry->>4 ~ {})")
        args += [list(query.gene_names), protein_change_pattern(query.protein_change)]
    if query.variant_types:
        conditions.append("variant_type = ANY({}::text[])")
        args.append(sorted(query.variant_types))
    if query.min_length is not None:
        conditions.append("length >= {}")
        args.append(query.min_length)
    if query.max_length is not None:
        conditions.append("length <= {}")
        args.append(query.max_length)
    return tuple(conditions), args


@lru_cache(maxsize=256)
def numbered(conditions: tuple[str, ...], first: int = 1) -> str:
    """The conditions joined by AND, their `{}` numbered $first, $first + 1, ... in order."""
    return " AND ".join(c.format(*p) for c, p in _dollars(conditions, count(first)))


@dataclass(frozen=True, slots=True)
class CountKey:
    """What count queries must share to be answered by one statement: the shape of their
    WHERE clause and its list arguments (datasets, variant types), which it takes once;
    `bins`, the condition on `variant_bins` of a binned range count (`_binned`)."""

    conditions: tuple[str, ...]
    lists: tuple[tuple[str, ...], ...]
    join: str = ""
    aggregates: tuple[str, ...] = ()
    bins: str = ""


@dataclass(frozen=True, slots=True)
class Tally:
    """More than how many and the rarest, per dataset: aggregates over a count query's
    matches and what a join (LATERAL, one row or none per variant) adds to each, with `{}`
    where an argument goes, the join's first; their arguments follow the conditions'.
    beacon/losses.py asks this way whether a caller's earlier answers determine the answer,
    in the batched count rather than in a statement of its own."""

    join: str
    aggregates: tuple[str, ...]
    args: tuple[object, ...]


def count_query(query: VariantQuery, dataset_ids: list[str], chromosome: str | None,
                span: int, floor: int | Floor, view: CallerView | None = None,
                tally: Tally | None = None) -> tuple[CountKey, list[object]]:
    """A count query as a batch member: its batch's key and its arguments."""
    conditions, args = variant_conditions(query, dataset_ids, chromosome, span, floor, view)
    lists = tuple(tuple(a) for a in args if isinstance(a, list))
    if tally is None:
        binned = _binned(conditions, args)
        if binned is not None:
            return CountKey(binned[0], lists, bins=_IN_BINS), binned[1]
        return CountKey(conditions, lists), args
    return CountKey(conditions, lists, tally.join, tally.aggregates), [*args, *tally.args]


def _binned(conditions: tuple[str, ...], args: list[object]
            ) -> tuple[tuple[str, ...], list[object]] | None:
    """A count's conditions and arguments (`variant_conditions`') made to add up bins, if
    they are a range's on one chromosome and nothing else (every match counts: no allele
    floor, so no caller's view either; no allele, gene, type or length condition) and it
    covers at least BINNED_FROM whole bins: the conditions on `variants`, then `_IN_BINS`'s
    arguments. The bins [first, last) hold the short variants starting in
    [first << BIN_BITS, last << BIN_BITS), every one of which overlaps the range; the
    variants read are those starting in its two edges (the left one from as far left as one
    can reach in, the argument of the plain condition) and the long ones overlapping it,
    wherever they start (a long one in an edge matches twice: one row, counted once). None:
    count it plainly."""
    edges = _PLAIN_RANGE.get(conditions)
    if edges is None:
        return None
    datasets, chromosome, end, start, reach = args[:5]
    first, last = -(-start >> BIN_BITS), end >> BIN_BITS
    if last - first < BINNED_FROM:
        return None
    overlaps = [start, end] if edges == _EDGES_OR_LONG else []
    return ((*conditions[:-1], edges),
            [datasets, chromosome, end, start, reach, first << BIN_BITS, last << BIN_BITS,
             *overlaps, chromosome, first, last])


@lru_cache(maxsize=256)
def _count_batch_sql(conditions: tuple[str, ...], join: str, aggregates: tuple[str, ...],
                     bins: str, types: tuple[str | None, ...]) -> str:
    """One statement counting, per dataset, what each of many same-shaped queries matches.

    Arguments: the list ones (type None), once; then the members' numbers and their other
    arguments as parallel arrays, one row of `unnest` per member. The aggregate inside
    LATERAL keeps each row an index lookup of its own: a plain join lets the planner, blind
    to the values, choose a hash join over a sequential scan of every partition."""
    n_lists = types.count(None)
    list_numbers, own_numbers = count(1), count(n_lists + 2)
    columns, arrays = ["i"], [f"${n_lists + 1}::int[]"]
    arguments = enumerate(types)

    def placed(part: str) -> list[str]:
        places = []
        for i, sql_type in (next(arguments) for _ in range(part.count("{}"))):
            if sql_type is None:
                places.append(f"${next(list_numbers)}")
            else:
                arrays.append(f"${next(own_numbers)}::{sql_type}[]")
                columns.append(f"a{i}")
                places.append(f"q.a{i}")
        return places

    parts = (*_per_dataset(conditions), bins, join, *aggregates)
    each = [(part, placed(part)) for part in parts]
    return _assembled(each, len(conditions),
                      f"unnest({', '.join(arrays)}) AS q({', '.join(columns)})")


@lru_cache(maxsize=256)
def _lone_sql(conditions: tuple[str, ...], join: str, aggregates: tuple[str, ...],
              bins: str) -> str:
    """`count_batch`'s statement for a lone member: its arguments in place, no arrays."""
    parts = (*_per_dataset(conditions), bins, join, *aggregates)
    return _assembled(_dollars(parts, count(1)), len(conditions))


def _dollars(parts: tuple[str, ...], numbers: Iterator[int]) -> list[tuple[str, list[str]]]:
    """Each part with where its arguments go: the next $n of `numbers`, in order."""
    return [(p, [f"${next(numbers)}" for _ in range(p.count("{}"))]) for p in parts]


def _assembled(each: list[tuple[str, list[str]]], n_conditions: int,
               members: str | None = None) -> str:
    """`_counted`'s statement from the parts of a count (its conditions, datasets' first,
    then the bins' condition, the join and the aggregates), each with where its arguments
    go; a range's reach read as its two halves (`_reach_apart`)."""
    (datasets_part, datasets_places), *rest = each
    where, halves = _reach_apart(rest[:n_conditions - 1])
    in_bins, join, *extra = [part.format(*places) for part, places in rest[n_conditions - 1:]]
    return _counted(datasets_part.format(*datasets_places), join, where, extra, in_bins,
                    members, halves)


def _reach_apart(placed: list[tuple[str, list[str]]]
                 ) -> tuple[list[str], tuple[str, str] | None]:
    """The conditions with their arguments in place, a range's reach (`_SHORT_OR_LONG`) left
    out, and that reach as two disjoint halves (None: no such reach): what starts from
    LONG_VARIANT bases left of the range (the locus btree), and the long variants starting
    further left, which all cover the range's start (the GiST)."""
    shared = [c.format(*p) for c, p in placed if c != _SHORT_OR_LONG]
    reach = [p for c, p in placed if c == _SHORT_OR_LONG]
    if not reach:
        return shared, None
    (low, at), = reach
    return shared, (_SHORT.format(low), f"start_pos < {low} AND {_LONG_AT.format(at)}")


def _per_dataset(conditions: tuple[str, ...]) -> tuple[str, ...]:
    """A count's conditions with the datasets' list alone first (`{}`, unnested by
    `_counted`), the rest after it."""
    first, *rest = conditions
    assert first == _IN_DATASETS, first
    return ("{}", *rest)


def _counted(datasets: str, join: str, where: list[str], extra: list[str], bins: str = "",
             members: str | None = None, halves: tuple[str, str] | None = None) -> str:
    """Per dataset in `datasets` (a text[] argument) that a query matches (per row of
    `members`, q, when batched: `q.i` first): how many variants, the rarest, and the `extra`
    aggregates; with `bins`, a condition on `variant_bins`, plus the totals of the bins it
    selects (`_binned`). One aggregate per dataset, over its partition alone, not one GROUP
    BY dataset_id over all of them: hashing each match's dataset_id was a third of a 1 Mb
    count's time at 100M (docs/benchmarks.md).

    With `halves`, the matches are those of `where` and either half, read as two scans:
    one condition with an OR is one bitmap scan, which fetches every match's row; apart,
    the long half is read from its covering index (migration 0015) when nothing else is
    asked of its rows."""
    aggregates = ", ".join(["count(*) AS n", f"{_RAREST} AS rarest",
                            *(f"{a} AS x{j}" for j, a in enumerate(extra))])
    n, rarest, binned = "v.n", "v.rarest", ""
    if bins:
        n, rarest = "v.n + coalesce(b.n, 0)", "least(v.rarest, b.rarest)"
        binned = (f" CROSS JOIN LATERAL (SELECT sum(variants) AS n, min(rarest) AS rarest "
                  f"FROM variant_bins WHERE dataset_id = asked.id AND {bins}) AS b")
    columns = ", ".join(["asked.id", n, rarest, *(f"v.x{j}" for j in range(len(extra)))])
    matched = ["dataset_id = asked.id", *where]
    if halves is None:
        source = f"variants {join} WHERE {' AND '.join(matched)}"
    else:
        read = "*" if join or extra else _RAREST_READS
        source = " UNION ALL ".join(f"SELECT {read} FROM variants WHERE "
                                    + " AND ".join([*matched, half]) for half in halves)
        source = f"({source}) AS variants {join}".rstrip()
    return (f"SELECT {'q.i, ' if members else ''}{columns} FROM "
            f"{f'{members} CROSS JOIN ' if members else ''}unnest({datasets}::text[]) AS asked(id) "
            f"CROSS JOIN LATERAL (SELECT {aggregates} FROM {source}) AS v{binned} "
            f"WHERE {n} > 0")


@dataclass(frozen=True, slots=True)
class Matches:
    """What a count query found in one dataset: how many variants, and how many individuals
    carry the rarest of them (what the disclosure budget prices a hit by)."""

    count: int
    rarest: int
    tally: tuple[int | None, ...] = ()      # the values of the key's aggregates (`Tally`)


_SQL_TYPES = {int: "bigint", str: "text", float: "float8"}


def _array_type(values: list[object]) -> str:
    """The SQL type of the array of one argument's values, one per member: float8 where any
    is a float. A smooth floor's scale is an int for a tier a dataset's `disclosure` gives
    a whole number (2) and a float for another's (1.5), and both share a statement: typed
    by the first member alone, as bigint[], asyncpg cut 1.5 to 1, and the other tier's
    caller was shown variants its floor hides."""
    if any(isinstance(value, float) for value in values):
        return _SQL_TYPES[float]
    return _SQL_TYPES[type(values[0])]


async def count_batch(conn: asyncpg.Connection | asyncpg.Pool, key: CountKey,
                      members: list[list[object]]) -> list[dict[str, Matches]]:
    """Per-dataset matches of each member query, in one round trip, in the members' order.
    A lone member gets a plain statement: the arrays would cost it more than they save."""
    if len(members) == 1:
        rows = await conn.fetch(_lone_sql(key.conditions, key.join, key.aggregates, key.bins),
                                *members[0])
        return [{r[0]: Matches(r[1], r[2], tuple(r[3:])) for r in rows}]
    columns = [None if isinstance(a, list) else [m[j] for m in members]
               for j, a in enumerate(members[0])]
    types = tuple(None if c is None else _array_type(c) for c in columns)
    own = [c for c in columns if c is not None]
    sql = _count_batch_sql(key.conditions, key.join, key.aggregates, key.bins, types)
    rows = await conn.fetch(sql, *key.lists, list(range(len(members))), *own)
    counts: list[dict[str, Matches]] = [{} for _ in members]
    for i, dataset_id, n, rarest, *tally in rows:
        counts[i][dataset_id] = Matches(n, rarest, tuple(tally))
    return counts


# A page's order: the locus index's, then the end, which tells apart SVs sharing a start and
# alleles (a symbolic <DEL> with two ENDs), so that every plan pages alike.
_PAGE_ORDER = "chromosome, start_pos, ref, alt, end_pos"


@lru_cache(maxsize=256)
def _page_sql(conditions: tuple[str, ...]) -> str:
    """A page of records. A range with long variants is two disjoint scans: what starts at
    most LONG_VARIANT bases left of it, in the page's order up to the page's end (the locus
    btree, so a wide range stops there), and the long variants starting further left, which
    all cover the range's start (GiST: as many as overlap one base, sorted with the first).
    One scan with an OR has no order: the planner would sort every match of a wide range,
    or, for the LIMIT, walk the btree from the chromosome's first base."""
    numbers = count(1)
    shared, halves = _reach_apart(_dollars(conditions, numbers))
    limit, offset = f"${next(numbers)}", f"${next(numbers)}"
    page = f"ORDER BY {_PAGE_ORDER} LIMIT {limit} OFFSET {offset}"
    columns = f"{_VARIANT_COLUMNS}, {_POPULATIONS}"
    if halves is None:
        return f"SELECT {columns} FROM variants v WHERE {' AND '.join(shared)} {page}"
    near, far = (" AND ".join([*shared, half]) for half in halves)
    return (f"SELECT {columns} FROM ((SELECT * FROM variants WHERE {near} "
            f"ORDER BY {_PAGE_ORDER} LIMIT {limit}::bigint + {offset}::bigint) "
            f"UNION ALL (SELECT * FROM variants WHERE {far})) AS v {page}")


async def fetch_variants(conn: asyncpg.Connection | asyncpg.Pool, query: VariantQuery,
                         dataset_id: str, chromosome: str | None, span: int,
                         floor: int | Floor, skip: int, limit: int,
                         view: CallerView | None = None) -> list[VariantRow]:
    conditions, args = variant_conditions(query, [dataset_id], chromosome, span, floor, view)
    rows = await conn.fetch(_page_sql(conditions), *args, limit, skip)
    return [VariantRow(*r[:-1], orjson.loads(r[-1]) if r[-1] else None) for r in rows]


async def site_allele_numbers(conn: asyncpg.Connection | asyncpg.Pool, dataset_ids: list[str],
                              chromosome: str, start: int, floor: int | Floor
                              ) -> dict[str, list[tuple[int, list[list[Any]] | None]]]:
    """Alleles called at a site, per dataset: from the variants recorded there that the floor
    lets the caller see (a sub-floor variant's record must not tell that its site exists),
    else, where the floor hides nothing (k = 1), from a reference-only record or gVCF block
    covering it (`called_sites`). Under a floor, a site called reference answered while a
    hidden variant's site did not: in an all-sites VCF or a gVCF, where every site around a
    variant is called reference, the one position answering nothing was the hidden
    variant's, a one-question test of whether its carrier is in the dataset (anonymously,
    outside the smooth floor and the loss accounts; a review, 2026-12-05).

    Per dataset, each such variant's AN and its bit counts under the dataset's populations
    (as a record page fetches them; None without genotypes), from which the number is
    counted as its record's row counts it (beacon/populations.py `called_alleles`): the AN
    column is the file's, bcftools', which counts a man's diploid chrX call twice and a
    woman's chrY call at all; a called reference site's number is that AN."""
    hides = (floor if isinstance(floor, int) else floor.k) > 1
    shown, args = (Floor(floor) if isinstance(floor, int) else floor).condition()
    numbers = count(4)
    rows = await conn.fetch(
        f"SELECT v.dataset_id, v.an, {_POPULATIONS} FROM variants v "
        "WHERE v.dataset_id = ANY($1::text[]) AND v.chromosome = $2 AND v.start_pos = $3 "
        "AND v.an IS NOT NULL AND "
        + shown.format(*(f"${next(numbers)}" for _ in range(shown.count("{}")))),
        dataset_ids, chromosome, start, *args)
    found: dict[str, list[tuple[int, list[list[Any]] | None]]] = {}
    for r in rows:
        found.setdefault(r[0], []).append((r[1], orjson.loads(r[2]) if r[2] else None))
    rest = [d for d in dataset_ids if d not in found]
    if rest and not hides:
        rows = await conn.fetch(
            "SELECT d, s.an FROM unnest($1::text[]) AS d CROSS JOIN LATERAL ("
            "SELECT an, end_pos FROM called_sites WHERE dataset_id = d AND chromosome = $2 "
            "AND start_pos <= $3 ORDER BY start_pos DESC LIMIT 1) AS s WHERE s.end_pos > $3",
            rest, chromosome, start)
        found.update({r[0]: [(r[1], None)] for r in rows})
    return found


async def replace_sites(conn: asyncpg.Connection, dataset_id: str,
                        sites: list[tuple[str, int, int, int]]) -> None:
    """The dataset's called sites become `sites` (inside the swap's transaction)."""
    await conn.execute("DELETE FROM called_sites WHERE dataset_id = $1", dataset_id)
    if sites:
        await copy_in(conn, "called_sites", ((dataset_id, *site) for site in sites),
                      ("dataset_id", "chromosome", "start_pos", "end_pos", "an"))
