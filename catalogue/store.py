"""All SQL of the catalogue service: the node registry and the dataset records they publish.

A node's publication (pushed or harvested) is reconciled in one transaction holding that
node's row lock, so a push and a harvest of the same node cannot interleave. A harvest reads
the node for seconds before it writes, though: what it read is older than a push landing
meanwhile, so its reconcile leaves alone the records changed after it began reading
(`read_at`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

import asyncpg

Executor = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class NodeRegistration:
    id: str
    name: str
    country: str | None
    beacon_url: str
    fdp_url: str


@dataclass(frozen=True)
class NodeRow(NodeRegistration):
    registered_at: datetime
    last_seen: datetime | None
    healthy: bool | None
    last_error: str | None


@dataclass(frozen=True)
class DatasetEntry:
    identifier: str
    node_id: str
    record: dict[str, Any]
    status: str
    withdrawn_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class DatasetQuery:
    text: str | None = None
    node: str | None = None
    country: str | None = None
    access_rights: str | None = None
    theme: str | None = None
    assembly: str | None = None
    status: str | None = "active"        # None = any status
    skip: int = 0
    limit: int = 20
    sort: str = "relevance"              # or one of SORTS


# A field's text as runs of (text, matched by the query), in order.
Marked = tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class Highlight:
    """Where a search's words matched in a record (prefix, stem or typo)."""

    title: Marked
    description: Marked
    keywords: tuple[Marked, ...]


@dataclass(frozen=True)
class Found(DatasetEntry):
    """A dataset a search returned; `highlight` only when it searched by text."""

    highlight: Highlight | None = None


@dataclass(frozen=True)
class Reconciled:
    upserted: list[str]
    withdrawn: list[str]


class Unregistered(Exception):
    """The node is not registered (retired, or never registered): nothing was applied."""


class HeldElsewhere(Exception):
    """Identifiers another node holds (active); the snapshot was not applied."""

    def __init__(self, held: dict[str, str]) -> None:
        super().__init__(", ".join(f"{i} (held by {n})" for i, n in sorted(held.items())))
        self.held = held


# A withdrawal keeps the identifier, its node and when, not the record: its node no longer
# publishes it, and may have withdrawn it to hide it (hide_controlled_datasets: "invisible
# to callers without a grant"), which a snapshot or a harvest cannot tell from a removal.
# The whole record, title, access rights, counts and contact, was served on as `withdrawn`.
_WITHDRAW = """status = 'withdrawn', withdrawn_at = now(), updated_at = now(),
    record = jsonb_build_object('identifier', identifier)"""
_NODE_COLUMNS = ", ".join(NodeRow.__dataclass_fields__)
_DATASET_COLUMNS = ", ".join(f"d.{c}" for c in DatasetEntry.__dataclass_fields__)
_PAGE_COLUMNS = ", ".join(f"p.{c}" for c in DatasetEntry.__dataclass_fields__)
_WORD = re.compile(r"[^\W_]")               # a letter or digit, in any script
_WORDS = re.compile(r"[^\W_]+")
# The most words a search's text may have. Each is a prefix term of both queries, and the
# typo highlight compares every distinct word of each record shown with the whole text: 250
# one-letter words (within 500 characters) cost about a second a row, and a search of 100
# rows outlasted the statement timeout (a 503, its connection held meanwhile).
MAX_QUERY_WORDS = 32
# How often a snapshot is applied when PostgreSQL ends it as a deadlock (store.reconcile)
DEADLOCK_ATTEMPTS = 3
_MARKS = ("\x02", "\x03")                   # catalogue_headline's start and stop (0003)
_MARK_SPLIT = re.compile("([\x02\x03])")
# websearch_to_tsquery's operators: a quote, a word negated by a leading -, OR (any case).
_OPERATORS = re.compile(r'"|(?:^|\s)-[^\W_]|(?:^|\s)or(?:\s|$)', re.IGNORECASE)


async def upsert_node(db: Executor, node: NodeRegistration) -> NodeRow:
    """Register a node, or register it again: that ends its retirement (migration 0004)."""
    row = await db.fetchrow(
        f"""INSERT INTO nodes (id, name, country, beacon_url, fdp_url, last_seen)
            VALUES ($1, $2, $3, $4, $5, now())
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country,
                beacon_url = EXCLUDED.beacon_url, fdp_url = EXCLUDED.fdp_url,
                last_seen = now(), retired_at = NULL
            RETURNING {_NODE_COLUMNS}""",
        node.id, node.name, node.country, node.beacon_url, node.fdp_url)
    return NodeRow(**dict(row))


async def get_node(db: Executor, node_id: str) -> NodeRow | None:
    """A registered node; a retired one is not (it must register again to publish)."""
    row = await db.fetchrow(
        f"SELECT {_NODE_COLUMNS} FROM nodes WHERE id = $1 AND retired_at IS NULL", node_id)
    return NodeRow(**dict(row)) if row else None


async def list_nodes(db: Executor) -> list[NodeRow]:
    """The registry: every node not retired, the ones listed, harvested and offered as peers."""
    rows = await db.fetch(
        f"SELECT {_NODE_COLUMNS} FROM nodes WHERE retired_at IS NULL ORDER BY id")
    return [NodeRow(**dict(r)) for r in rows]


async def retire_nodes(pool: asyncpg.Pool, node_ids: list[str]) -> dict[str, list[str]]:
    """Retire the nodes (those not retired yet) and withdraw their active datasets, in one
    transaction: each retired node's id and the identifiers withdrawn with it."""
    async with pool.acquire() as conn, conn.transaction():
        retired = [r["id"] for r in await conn.fetch(
            """UPDATE nodes SET retired_at = now()
               WHERE id = ANY($1::text[]) AND retired_at IS NULL RETURNING id""", node_ids)]
        rows = await conn.fetch(
            f"""UPDATE datasets SET {_WITHDRAW}
                WHERE node_id = ANY($1::text[]) AND status = 'active'
                RETURNING node_id, identifier""", retired)
    return {node: sorted(r["identifier"] for r in rows if r["node_id"] == node)
            for node in retired}


async def record_harvest(db: Executor, node_id: str, healthy: bool, error: str | None) -> None:
    """A harvest's outcome; only a reachable node counts as seen. The error may quote the
    node's document (a Turtle parser's message quotes the line it failed on), so a NUL in it
    is written as `\\x00`: PostgreSQL's text holds none, and the write failing made the
    whole harvest round fail (found by tests/test_fuzz_catalogue.py). A lone surrogate (an
    IRI written `\\uD800` in Turtle) is spelt out too: UTF-8 cannot encode one, and the
    node's harvest failed unexpectedly with its outcome unwritten, the node still listed
    healthy (found by a review, 2026-12-05)."""
    if error is not None:
        error = error.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
    await db.execute(
        """UPDATE nodes SET healthy = $2, last_error = $3,
               last_seen = CASE WHEN $2 THEN now() ELSE last_seen END
           WHERE id = $1""", node_id, healthy, error)


async def clock(db: Executor) -> datetime:
    """The database's time: what updated_at is written in, so a harvest's `read_at` compares
    with it whatever this host's clock says."""
    return await db.fetchval("SELECT clock_timestamp()")


async def reconcile(conn: asyncpg.Connection, node_id: str, records: list[dict[str, Any]], *,
                    withdraw_absent: bool = True, keep_iris: Iterable[str] = (),
                    read_at: datetime | None = None) -> Reconciled:
    """Make `records` the node's active datasets: upsert each (a changed record bumps
    updated_at) and, with `withdraw_absent`, withdraw the node's other active datasets except
    those whose IRI is in `keep_iris` (documents a harvest could not read).

    `read_at` (a harvest's) is when the records were read from the node: a dataset changed
    after it, by a push, is newer than the reading and is neither overwritten nor withdrawn
    (nor restored when the push withdrew it). A removal pushed while a harvest was under way
    was otherwise undone by it. A push (None) always applies.

    Two nodes writing the same identifiers in different orders (each snapshot's first row
    is one the other writes later) each wait for the other, and PostgreSQL ends one of the
    transactions as a deadlock: that push was a 500. Run again, the one ended waits for the
    other's commit and is decided by it, a conflict or an upsert."""
    keep_iris, attempts = list(keep_iris), 1
    while True:
        try:
            return await _reconcile(conn, node_id, records, withdraw_absent, keep_iris,
                                    read_at)
        except asyncpg.DeadlockDetectedError:
            if attempts == DEADLOCK_ATTEMPTS:
                raise
            attempts += 1


async def _reconcile(conn: asyncpg.Connection, node_id: str, records: list[dict[str, Any]],
                     withdraw_absent: bool, keep_iris: list[str],
                     read_at: datetime | None) -> Reconciled:
    """One transaction of `reconcile`."""
    identifiers = [r["identifier"] for r in records]
    async with conn.transaction():
        # The node's row, locked only while it is not retired: `registered()` was asked before
        # this transaction, and a retirement (retire_nodes) committing in between let the push
        # re-activate the retired node's datasets (found by a review, 2026-12-05). Waiting on
        # the lock, PostgreSQL checks `retired_at` again on the row the retirement wrote.
        if await conn.fetchval("SELECT 1 FROM nodes WHERE id = $1 AND retired_at IS NULL "
                               "FOR UPDATE", node_id) is None:
            raise Unregistered(node_id)
        # A row is taken over only when it is this node's or withdrawn, decided by the
        # INSERT itself: it waits for another push's uncommitted insert of the identifier and
        # then sees it. A SELECT ... FOR UPDATE before the INSERT could not see that insert,
        # and ON CONFLICT then moved the row to this node: two nodes pushing one new (or one
        # withdrawn) identifier at once were both answered 200, and the first was then
        # refused its own dataset (found by a review, 2026-12-05).
        upserted = [r["identifier"] for r in await conn.fetch(
            """INSERT INTO datasets AS d (identifier, node_id, record)
               SELECT x.record ->> 'identifier', $1, x.record
               FROM unnest($2::jsonb[]) AS x(record)
               ON CONFLICT (identifier) DO UPDATE SET
                   node_id = EXCLUDED.node_id, record = EXCLUDED.record, status = 'active',
                   withdrawn_at = NULL,
                   updated_at = CASE WHEN d.record = EXCLUDED.record AND d.status = 'active'
                                     AND d.node_id = EXCLUDED.node_id
                                     THEN d.updated_at ELSE now() END
               WHERE (d.node_id = EXCLUDED.node_id OR d.status = 'withdrawn')
                 AND ($3::timestamptz IS NULL OR d.updated_at <= $3)
               RETURNING d.identifier""", node_id, records, read_at)]
        # Those not written are either another node's active dataset (refused, the whole
        # snapshot rolled back) or, for a harvest, changed by a push after `read_at` (left
        # alone). The INSERT locked each of them, so this sees them as they stay.
        held = await conn.fetch(
            """SELECT identifier, node_id FROM datasets
               WHERE identifier = ANY($1::text[]) AND node_id <> $2 AND status = 'active'""",
            sorted(set(identifiers) - set(upserted)), node_id)
        if held:
            raise HeldElsewhere({r["identifier"]: r["node_id"] for r in held})
        withdrawn: list[str] = []
        if withdraw_absent:
            withdrawn = [r["identifier"] for r in await conn.fetch(
                f"""UPDATE datasets SET {_WITHDRAW}
                   WHERE node_id = $1 AND status = 'active'
                     AND NOT (identifier = ANY($2::text[]))
                     AND NOT (record ->> 'iri' = ANY($3::text[]))
                     AND ($4::timestamptz IS NULL OR updated_at <= $4)
                   RETURNING identifier""", node_id, identifiers, keep_iris, read_at)]
        await conn.execute("UPDATE nodes SET last_seen = now() WHERE id = $1", node_id)
    return Reconciled(sorted(upserted), sorted(withdrawn))


# The user's text ($1, only ever a bind parameter, never SQL text) as two queries, English
# stems and words as typed (without their accents, migration 0006), every word a prefix
# (catalogue_prefix_query, migration 0003),
# over `search`, which holds both forms of every word.
# Written out, not computed once in a CTE, so that the planner sees constants it can fold.
_EN = "catalogue_prefix_query('english', $1)"
_PLAIN = "catalogue_prefix_query('catalogue_plain', $1)"   # as written, accents aside: 0006
_TEXT_MATCH = f"(d.search @@ {_EN} OR d.search @@ {_PLAIN})"
# Typos (pg_trgm, through its index): run once, and not at all when every dataset already
# matched by text.
_TYPO_MATCH = "d.identifier IN (SELECT catalogue_typo_matches($2))"
# The text as a dataset identifier, whatever its case (a GDI identifier is upper case): as
# typed, `gdi-fi-syn-013` missed GDI-FI-SYN-013 and found only what mentions it.
_IDENTIFIER = "d.identifier = upper($1)"
# Best first: the exact identifier, then full-text matches by rank (title and keywords
# weigh more than the description), then typo matches by similarity.
_RANKED = f"""({_IDENTIFIER}) AS exact, {_TEXT_MATCH} AS matched,
    ts_rank(d.search, {_EN}) + ts_rank(d.search, {_PLAIN}) AS rank,
    CASE WHEN {_TEXT_MATCH} THEN 0
         ELSE catalogue_fuzzy_score($2, d.search_text) END AS similarity"""
_ORDER = "exact DESC, matched DESC, rank DESC, similarity DESC, identifier"
# The orders a search may ask for besides relevance (the above with text, else by
# identifier), as the GDI portal lists datasets: by title, and the latest modified first (a
# record without one last); ties by identifier, so that pages never overlap. `{t}` is the
# table the record is read from.
SORTS = {"title": "lower({t}.record ->> 'title'), {t}.identifier",
         "modified": "({t}.record ->> 'modified')::timestamptz DESC NULLS LAST, {t}.identifier"}
# Each field twice: marked by the English stems, and by the words as typed plus, for a record
# only a typo matched, the record's words like the query; the two are merged in _marked.
# The record's words like the query (catalogue_near_words) are the costly part, one
# similarity per distinct word of the record: computed once per row (OFFSET 0 keeps the
# planner from copying the expression into each field's headline, as it did: three times a
# row and once more per keyword), and only for the rows no word matched as a prefix or stem,
# whose fields those words already mark.
_HIGHLIGHT = """jsonb_build_object(
    'title', jsonb_build_array(
        catalogue_headline('english', p.record ->> 'title', h.en),
        catalogue_headline('catalogue_plain', p.record ->> 'title', h.plain)),
    'description', jsonb_build_array(
        catalogue_headline('english', p.record ->> 'description', h.en),
        catalogue_headline('catalogue_plain', p.record ->> 'description', h.plain)),
    'keywords', (SELECT coalesce(jsonb_agg(jsonb_build_array(
                     catalogue_headline('english', k.word, h.en),
                     catalogue_headline('catalogue_plain', k.word, h.plain))
                     ORDER BY k.i), '[]')
                 FROM jsonb_array_elements_text(
                     CASE jsonb_typeof(p.record -> 'keywords') WHEN 'array'
                          THEN p.record -> 'keywords' ELSE '[]' END)
                     WITH ORDINALITY AS k(word, i))) AS highlight"""


def query_text(text: str | None) -> str | None:
    """The query text to search by, or None when it has nothing to search for (empty, only
    spaces or punctuation): then no text condition applies, as for no `q` at all. NUL, which
    PostgreSQL text cannot hold, is dropped."""
    if text is None:
        return None
    cleaned = text.replace("\x00", "").strip()
    return cleaned if _WORD.search(cleaned) else None


def query_words(text: str) -> int:
    """How many words the text has, as MAX_QUERY_WORDS counts them: runs of letters or
    digits, so that `a-b-c` counts three (each is a term of the query), not one."""
    return len(_WORDS.findall(text))


def _typo_text(text: str) -> str | None:
    """What typos are looked for by: the words of a plain query. A query in the web-search
    syntax ("a phrase", -word, OR) matches as it is written (each word still a prefix):
    near words would bring back what -word excluded, or loosen a phrase."""
    return None if _OPERATORS.search(text) else text


def _where(query: DatasetQuery, text: str | None) -> tuple[str, list[object]]:
    """The conditions on `d` (datasets) and `n` (nodes); with `text`, it is $1 and what
    typos are looked for by (_typo_text) $2."""
    args: list[object] = [text, _typo_text(text)] if text else []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = ["TRUE"]
    if text:
        conditions.append(f"({_TEXT_MATCH} OR {_IDENTIFIER} OR {_TYPO_MATCH})")
    if query.node:
        conditions.append(f"d.node_id = {arg(query.node)}")
    if query.country:
        conditions.append(f"coalesce(d.record ->> 'country', n.country) = {arg(query.country)}")
    if query.access_rights:
        conditions.append(f"d.record ->> 'accessRights' = {arg(query.access_rights)}")
    if query.theme:
        conditions.append(f"d.record -> 'themes' ? {arg(query.theme)}")
    if query.assembly:
        conditions.append(f"d.record ->> 'assembly' = {arg(query.assembly)}")
    if query.status:
        conditions.append(f"d.status = {arg(query.status)}")
    return " AND ".join(conditions), args


async def search(db: Executor, query: DatasetQuery) -> tuple[int, list[Found]]:
    """The total matching and one page of them, in the order `query.sort` asks for (by
    relevance: with text, best match first, without, by identifier); with text, each with
    its fields highlighted."""
    text = query_text(query.text)
    where, args = _where(query, text)
    source = f"FROM datasets d JOIN nodes n ON n.id = d.node_id WHERE {where}"
    n = len(args)
    page = f"LIMIT ${n + 1} OFFSET ${n + 2}"
    sort = SORTS.get(query.sort)
    if not text:
        total = await db.fetchval(f"SELECT count(*) {source}", *args)
        order = sort.format(t="d") if sort else "d.identifier"
        rows = await db.fetch(f"SELECT {_DATASET_COLUMNS} {source} ORDER BY {order} {page}",
                              *args, query.limit, query.skip)
        return total, [Found(**dict(r)) for r in rows]
    # One pass over the matches for the page and the total (matching by text costs more).
    rows = await db.fetch(
        f"""WITH p AS (SELECT {_DATASET_COLUMNS}, d.search_text, {_RANKED},
                              count(*) OVER () AS total {source}
                       ORDER BY {sort.format(t="d") if sort else _ORDER} {page})
            SELECT {_PAGE_COLUMNS}, p.total, {_HIGHLIGHT}
            FROM p CROSS JOIN LATERAL (
                SELECT {_EN} AS en, {_PLAIN} || {_EN} || CASE WHEN p.matched
                    THEN ''::tsquery ELSE catalogue_near_words($2, p.search_text) END AS plain
                OFFSET 0) h
            ORDER BY {sort.format(t="p") if sort else _ORDER}""", *args, query.limit,
        query.skip)
    if rows:
        total = rows[0]["total"]
    else:       # none on this page: are there any before it?
        total = await db.fetchval(f"SELECT count(*) {source}", *args) if query.skip else 0
    found = []
    for row in rows:
        values = dict(row)
        marks = values.pop("highlight")
        del values["total"]
        found.append(Found(**values, highlight=Highlight(
            title=_marked(*marks["title"]), description=_marked(*marks["description"]),
            keywords=tuple(_marked(*pair) for pair in marks["keywords"]))))
    return total, found


def _marked(*headlines: str) -> Marked:
    """One field as (text, matched) runs, from its headlines (catalogue_headline: the same
    text with matched words between STX and ETX): a character is matched if any headline
    marks it."""
    text, matched = "", set[int]()
    for headline in headlines:
        text, inside = "", False
        for piece in _MARK_SPLIT.split(headline):
            if piece in _MARKS:
                inside = piece == _MARKS[0]
                continue
            if inside:
                matched.update(range(len(text), len(text) + len(piece)))
            text += piece
    return tuple(("".join(char for _, char in run), mark) for mark, run in groupby(
        enumerate(text), key=lambda item: item[0] in matched))


async def get_dataset(db: Executor, identifier: str) -> DatasetEntry | None:
    """The dataset as held: a withdrawn one is its identifier, node and withdrawal only."""
    if "\x00" in identifier:       # no dataset's: PostgreSQL's text cannot hold a NUL
        return None
    row = await db.fetchrow(
        f"SELECT {_DATASET_COLUMNS} FROM datasets d WHERE d.identifier = $1", identifier)
    return DatasetEntry(**dict(row)) if row else None


async def version(db: Executor) -> int:
    """Moves at every commit that changes nodes or datasets (migration 0002)."""
    return await db.fetchval("SELECT version FROM catalogue_version")


async def active_by_node(db: Executor) -> dict[str, list[dict[str, Any]]]:
    """Every active record, grouped by node id (for the catalogue's own FDP)."""
    rows = await db.fetch("SELECT node_id, record FROM datasets WHERE status = 'active' "
                          "ORDER BY node_id, identifier")
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["node_id"], []).append(row["record"])
    return grouped


async def last_changes(db: Executor) -> dict[str, datetime]:
    """When the catalogue's holding of each node's datasets last changed (a dataset taken,
    changed or withdrawn: the latest `updated_at`, which an unchanged record keeps), by node
    id: its catalog's date on the catalogue's FDP (catalogue/site.py). Its records' own
    `modified` cannot say so: a withdrawal moved the date back, and a node joining with
    datasets older than the newest shown did not move it at all."""
    rows = await db.fetch("SELECT node_id, max(updated_at) AS at FROM datasets "
                          "GROUP BY node_id")
    return {row["node_id"]: row["at"] for row in rows}
