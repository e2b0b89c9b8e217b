"""The rules for changing what the catalogue holds, shared by pushes and harvests.

A node's publication is its full current snapshot: records in it are upserted, the node's
other datasets are withdrawn. A node may only publish records whose IRI lies under the FAIR
Data Point it registered and whose Beacon is at the origin of the Beacon it registered (the
origins its credential allows), and never an identifier another node actively holds — the
identifier is the federation's one key (DOMAIN.md §1), so silently moving it would hand one
node's dataset (and the access grants naming it) to another. And a registered node stays in
the registry only while the configuration admits it (`expel_unadmitted`).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from catalogue import store
from catalogue.credentials import NodeCredential, origin_of
from catalogue.record import CatalogueRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    reason: str          # unregistered | duplicate | outside | conflict
    message: str
    dataset: str | None = None


class Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def under(iri: str, fdp_url: str) -> bool:
    return iri.startswith(fdp_url.rstrip("/") + "/")


def problems(node: store.NodeRow, records: Iterable[CatalogueRecord]) -> list[Refusal]:
    """What is wrong with a snapshot before the database is asked about other nodes."""
    records = list(records)
    found = []
    for identifier, count in Counter(r.identifier for r in records).items():
        if count > 1:
            found.append(Refusal("duplicate", f"dataset {identifier} appears {count} times in "
                                 "the snapshot", identifier))
    beacon_origin = origin_of(node.beacon_url)
    for record in records:
        if not under(record.iri, node.fdp_url):
            found.append(Refusal(
                "outside", f"dataset {record.identifier}: iri {record.iri} is not under node "
                f"{node.id}'s registered fdpUrl {node.fdp_url}", record.identifier))
        # Published as the dataset's dcat:endpointURL, where the portal sends researchers:
        # held to the registration's origin, or a node's credential put any host and port
        # in the federation's catalogue, which its registration may not name
        if origin_of(record.beacon_url) != beacon_origin:
            found.append(Refusal(
                "outside", f"dataset {record.identifier}: beaconUrl {record.beacon_url} is not "
                f"at the origin {beacon_origin} of node {node.id}'s registered beaconUrl "
                f"{node.beacon_url}", record.identifier))
    return found


def _unregistered(node_id: str) -> Refused:
    return Refused(Refusal("unregistered", f"node {node_id} is not registered: "
                           f"PUT /api/nodes/{node_id} first"))


async def registered(pool: asyncpg.Pool, node_id: str) -> store.NodeRow:
    node = await store.get_node(pool, node_id)
    if node is None:
        raise _unregistered(node_id)
    return node


async def apply_snapshot(pool: asyncpg.Pool, node_id: str, records: list[CatalogueRecord], *,
                         withdraw_absent: bool = True,
                         keep_iris: Iterable[str] = ()) -> store.Reconciled:
    """All or nothing: the first problem refuses the whole snapshot."""
    node = await registered(pool, node_id)
    found = problems(node, records)
    if found:
        raise Refused(found[0])
    async with pool.acquire() as conn:
        try:
            return await store.reconcile(conn, node_id, [r.to_json() for r in records],
                                         withdraw_absent=withdraw_absent, keep_iris=keep_iris)
        except store.Unregistered:      # retired since registered() was asked
            raise _unregistered(node_id) from None
        except store.HeldElsewhere as exc:
            identifier, holder = min(exc.held.items())
            raise Refused(Refusal("conflict", f"dataset {identifier} is already published by "
                                  f"node {holder}", identifier)) from None


def not_admitted(node: store.NodeRow, credentials: Iterable[NodeCredential]) -> str | None:
    """Why the configuration no longer admits a registered node (None: it does): no
    credential for it, or a registered URL outside its credential's origins, as a
    registration naming it would be refused now."""
    credential = next((c for c in credentials if c.id == node.id), None)
    if credential is None:
        return "no credential configured for it"
    outside = credential.outside(node.beacon_url, node.fdp_url)
    if outside:
        return (f"{' and '.join(outside)} not under its origins "
                f"{', '.join(credential.origins) or '(none configured)'}")
    return None


async def expel_unadmitted(pool: asyncpg.Pool,
                           credentials: Iterable[NodeCredential]) -> dict[str, list[str]]:
    """Retire the registered nodes the configuration no longer admits and withdraw their
    datasets (store.retire_nodes), as the service and `gdi-node catalogue harvest` start.
    The registry was never checked again: an expelled node stayed listed, searchable and
    harvested, and every network taking its peers from the registry kept sending queries to
    URLs now outside its credential's origins."""
    credentials = list(credentials)
    reasons = {node.id: reason for node in await store.list_nodes(pool)
               if (reason := not_admitted(node, credentials)) is not None}
    retired = await store.retire_nodes(pool, sorted(reasons)) if reasons else {}
    for node_id, withdrawn in retired.items():
        log.warning("node %s retired: %s; datasets withdrawn: %s", node_id, reasons[node_id],
                    ", ".join(withdrawn) or "none")
    return retired
