"""The catalogue service's own FAIR Data Point: one catalog per node, its active datasets.

Records keep their node's IRI (rendered as dct:source), while every subject IRI is the
catalogue's own URL, so the portal's harvester can harvest the catalogue like any node.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
from pydantic import ValidationError

from catalogue import store
from catalogue.document_dates import DocumentDates
from catalogue.fdp import FDP_PATH
from catalogue.rdf import CatalogView, FdpSite
from catalogue.record import Agent, CatalogueRecord, problems_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogueIdentity:
    """What the catalogue's FAIR Data Point says of itself, and where it is reached."""

    base_url: str
    title: str
    description: str
    publisher_name: str


class SiteCache:
    """The site as of the catalogue's last change: a harvester fetching every page of a
    large catalogue would otherwise have every record loaded and validated per page. Dated
    by its documents' changes too (catalogue/document_dates.py): a node registered again
    under another name changes its catalog, and no date moved."""

    def __init__(self) -> None:
        self._version: int | None = None
        self._site: FdpSite | None = None
        self._dates: DocumentDates | None = None

    async def site(self, pool: asyncpg.Pool, identity: CatalogueIdentity) -> FdpSite:
        current = await store.version(pool)
        if self._site is None or current != self._version:
            # Read after the version: at worst newer than it, so rebuilt once more, never stale.
            self._site, self._version = await catalogue_site(pool, identity), current
        if self._dates is None or self._dates.pool is not pool:
            self._dates = DocumentDates(pool)
        return await self._dates.dated(self._site)


async def catalogue_site(pool: asyncpg.Pool, identity: CatalogueIdentity) -> FdpSite:
    """One catalog per node holding active datasets; each dated by the last change of the
    catalogue's holding of the node's datasets too (store.last_changes), and the root by
    every node's, so that a dataset taken or removed moves the dates forward."""
    nodes = await store.list_nodes(pool)
    held = await store.active_by_node(pool)
    changed = await store.last_changes(pool)
    publisher = Agent(name=identity.publisher_name)
    catalogs = tuple(
        CatalogView(id=node.id, title=f"Datasets of {node.name}",
                    description=f"Datasets published by node {node.name} ({node.id}), "
                                f"discoverable through its Beacon at {node.beacon_url}.",
                    publisher=Agent(name=node.name),
                    records=tuple(_readable(held[node.id])), changed=changed.get(node.id))
        for node in nodes if held.get(node.id))
    return FdpSite(base_url=identity.base_url + FDP_PATH, title=identity.title,
                   description=identity.description, publisher=publisher, catalogs=catalogs,
                   changed=max(changed.values(), default=None))


def _readable(stored: list[dict]) -> list[CatalogueRecord]:
    """The node's stored records that are still valid records. One stored before a rule
    that refuses it now (an IRI RDF cannot write, which was the 500 of every document that
    showed it) is left out and logged, not the end of the catalogue's whole site; its node's
    next push or harvest replaces it."""
    records = []
    for raw in stored:
        try:
            records.append(CatalogueRecord.model_validate(raw))
        except ValidationError as exc:
            log.warning("stored record of %s left out of the catalogue's FAIR Data Point: %s",
                        raw.get("identifier"), problems_of(exc))
    return records
