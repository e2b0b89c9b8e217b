"""All SQL of the catalogue service: the node registry and the dataset records they publish.

A node's publication (pushed or harvested) is reconciled in one transaction holding that
node's row lock, so a push and a harvest of the same node cannot interleave.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class Reconciled:
    upserted: list[str]
    withdrawn: list[str]


class HeldElsewhere(Exception):
    """Identifiers another node holds (active); the snapshot was not applied."""

    def __init__(self, held: dict[str, str]) -> None:
        super().__init__(", ".join(f"{i} (held by {n})" for i, n in sorted(held.items())))
        self.held = held


_NODE_COLUMNS = ", ".join(NodeRow.__dataclass_fields__)
_DATASET_COLUMNS = ", ".join(f"d.{c}" for c in DatasetEntry.__dataclass_fields__)


async def upsert_node(db: Executor, node: NodeRegistration) -> NodeRow:
    row = await db.fetchrow(
        f"""INSERT INTO nodes (id, name, country, beacon_url, fdp_url, last_seen)
            VALUES ($1, $2, $3, $4, $5, now())
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country,
                beacon_url = EXCLUDED.beacon_url, fdp_url = EXCLUDED.fdp_url,
                last_seen = now()
            RETURNING {_NODE_COLUMNS}""",
        node.id, node.name, node.country, node.beacon_url, node.fdp_url)
    return NodeRow(**dict(row))


async def get_node(db: Executor, node_id: str) -> NodeRow | None:
    row = await db.fetchrow(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE id = $1", node_id)
    return NodeRow(**dict(row)) if row else None


async def list_nodes(db: Executor) -> list[NodeRow]:
    rows = await db.fetch(f"SELECT {_NODE_COLUMNS} FROM nodes ORDER BY id")
    return [NodeRow(**dict(r)) for r in rows]


async def record_harvest(db: Executor, node_id: str, healthy: bool, error: str | None) -> None:
    """A harvest's outcome; only a reachable node counts as seen."""
    await db.execute(
        """UPDATE nodes SET healthy = $2, last_error = $3,
               last_seen = CASE WHEN $2 THEN now() ELSE last_seen END
           WHERE id = $1""", node_id, healthy, error)


async def reconcile(conn: asyncpg.Connection, node_id: str, records: list[dict[str, Any]], *,
                    withdraw_absent: bool = True,
                    keep_iris: Iterable[str] = ()) -> Reconciled:
    """Make `records` the node's active datasets: upsert each (a changed record bumps
    updated_at) and, with `withdraw_absent`, withdraw the node's other active datasets except
    those whose IRI is in `keep_iris` (documents a harvest could not read)."""
    identifiers = [r["identifier"] for r in records]
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM nodes WHERE id = $1 FOR UPDATE", node_id)
        held = await conn.fetch(
            """SELECT identifier, node_id FROM datasets
               WHERE identifier = ANY($1::text[]) AND node_id <> $2 AND status = 'active'
               FOR UPDATE""", identifiers, node_id)
        if held:
            raise HeldElsewhere({r["identifier"]: r["node_id"] for r in held})
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
               RETURNING d.identifier""", node_id, records)]
        withdrawn: list[str] = []
        if withdraw_absent:
            withdrawn = [r["identifier"] for r in await conn.fetch(
                """UPDATE datasets SET status = 'withdrawn', withdrawn_at = now(),
                       updated_at = now()
                   WHERE node_id = $1 AND status = 'active'
                     AND NOT (identifier = ANY($2::text[]))
                     AND NOT (record ->> 'iri' = ANY($3::text[]))
                   RETURNING identifier""", node_id, identifiers, list(keep_iris))]
        await conn.execute("UPDATE nodes SET last_seen = now() WHERE id = $1", node_id)
    return Reconciled(sorted(upserted), sorted(withdrawn))


def _where(query: DatasetQuery) -> tuple[str, list[object]]:
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = ["TRUE"]
    if query.text:
        conditions.append(f"(d.search @@ websearch_to_tsquery('english', {arg(query.text)})"
                          f" OR d.identifier = {arg(query.text.strip())})")
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


async def search(db: Executor, query: DatasetQuery) -> tuple[int, list[DatasetEntry]]:
    """The total matching and one page of them, best text match first, then by identifier."""
    where, args = _where(query)
    source = f"FROM datasets d JOIN nodes n ON n.id = d.node_id WHERE {where}"
    total = await db.fetchval(f"SELECT count(*) {source}", *args)
    rank = "ts_rank(d.search, websearch_to_tsquery('english', $1)) DESC, " if query.text else ""
    n = len(args)
    rows = await db.fetch(
        f"SELECT {_DATASET_COLUMNS} {source} ORDER BY {rank}d.identifier "
        f"LIMIT ${n + 1} OFFSET ${n + 2}", *args, query.limit, query.skip)
    return total, [DatasetEntry(**dict(r)) for r in rows]


async def get_dataset(db: Executor, identifier: str) -> DatasetEntry | None:
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
