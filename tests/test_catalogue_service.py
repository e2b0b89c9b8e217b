"""The catalogue service with real node apps publishing to it over HTTP, real PostgreSQL
databases for each, and real local servers standing in for broken nodes."""
from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import re
import string
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from pydantic import SecretStr
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF

from auth.access import AccessLevel
from beacon.assemblies import GRCH37, GRCH38
from beacon.ingest import IngestRequest, ingest
from beacon.store import delete_dataset, list_datasets
from catalogue import fdp as fdp_documents
from catalogue import harvest as harvest_module
from catalogue import store
from catalogue.harvest import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_TRIPLES,
    MAX_LINKS_REPORTED,
    MAX_PROBLEM,
    HarvestConfig,
    HarvestOutcome,
    harvest_all,
    harvest_session,
    walk,
)
from catalogue.rdf import DCATAP, FDP_O, CatalogView, FdpSite, dataset_iri, read_dataset
from catalogue.record import (
    EU_DATA_THEME,
    HEALTH_THEME,
    MAX_DESCRIPTION,
    MAX_IRI,
    MAX_IRIS,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_NAME,
    MAX_TITLE,
    AccessRights,
    Agent,
    CatalogueRecord,
)
from node import catalogue_app
from node.app import create_app as create_node
from node.catalogue_app import create_app as create_catalogue
from node.database import connect, create_pool
from node.http.fdp import fdp_routes
from node.migrate import CATALOGUE_MIGRATIONS as MIGRATIONS
from node.migrate import available_migrations
from node.publication.push import Backoff, Publisher, PublishError, publish
from node.publication.records import records_for
from node.settings import CatalogueSettings, Settings
from tests.conftest import (
    OPEN_DISCLOSURE,
    free_port,
    fresh_database,
    node_database,
    raw_status,
    send_slowly,
    serve_app,
    write_vcf_text,
)
from tests.shacl import shacl_violations
from tests.test_hardening import Relay

NODE, OTHER = "org.test.fi", "org.test.se"
TOKENS = {NODE: "fi-node-secret-0123456789", OTHER: "se-node-secret-0123456789"}
# Where each node listens in these tests, fixed per run: a node may register URLs only under
# the origins the catalogue allows it (catalogue/credentials.py).
PORTS = {NODE: free_port(), OTHER: free_port()}
ORIGINS = {NODE: [f"http://127.0.0.1:{PORTS[NODE]}", "http://fi.example"],
           OTHER: [f"http://127.0.0.1:{PORTS[OTHER]}", "http://se.example"]}
FAST = Backoff(attempts=40, first_delay=0.05, max_delay=0.2, total_seconds=20,
               request_timeout=2)
LDP_CONTAINS = URIRef("http://www.w3.org/ns/ldp#contains")


def _vcf(records: int) -> str:
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2"]
    lines += [f"chr1\t{100 + 10 * i}\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1" for i in range(records)]
    return "\n".join(lines) + "\n"



async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@dataclass
class Catalogue:
    url: str
    pool: asyncpg.Pool
    settings: CatalogueSettings
    http: aiohttp.ClientSession

    async def get(self, path: str, **params: str) -> tuple[int, dict]:
        async with self.http.get(self.url + path, params=params) as response:
            return response.status, await response.json(content_type=None)

    async def put(self, path: str, body: object, token: str | None = None,
                  ) -> tuple[aiohttp.ClientResponse, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs = {"data": body} if isinstance(body, str) else {"json": body}
        async with self.http.put(self.url + path, headers=headers, **kwargs) as response:
            return response, await response.json(content_type=None)

    async def ids(self, **params: str) -> list[str]:
        status, body = await self.get("/api/datasets", **params)
        assert status == 200, body
        return [d["identifier"] for d in body["datasets"]]


@asynccontextmanager
async def _catalogue_db(pg_server_url: str, settings: CatalogueSettings,
                        ) -> AsyncIterator[asyncpg.Pool]:
    async with fresh_database(pg_server_url) as url:
        pool = await create_pool(url, settings, MIGRATIONS)
        try:
            yield pool
        finally:
            await pool.close()


def _catalogue_settings(tmp_path: Path, port: int) -> CatalogueSettings:
    return CatalogueSettings(
        data_dir=tmp_path / "catalogue", port=port, harvest_interval_seconds=0,
        public_base_url=f"http://127.0.0.1:{port}",
        nodes=[{"id": node, "token": token, "origins": ORIGINS[node]}
               for node, token in TOKENS.items()])


@pytest.fixture
async def catalogue(pg_server_url: str, tmp_path: Path) -> AsyncIterator[Catalogue]:
    port = free_port()
    settings = _catalogue_settings(tmp_path, port)
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(_catalogue_db(pg_server_url, settings))
        url = await serve_app(stack, create_catalogue(settings, pool), port)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        yield Catalogue(url, pool, settings, http)


@dataclass
class Node:
    url: str
    db: str
    settings: Settings


@asynccontextmanager
async def _node(pg_server_url: str, directory: Path, node_id: str, country: str,
                catalogue_url: str, datasets: dict[str, tuple], serve: bool = True,
                ) -> AsyncIterator[Node]:
    """A node with its own database holding `datasets` (id -> level, assembly, records,
    metadata), served over HTTP with its public base URL equal to where it listens."""
    directory.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(node_database(pg_server_url))
        for dataset_id, (level, assembly, count, metadata) in datasets.items():
            await _ingest(db, directory, dataset_id, level, assembly, count, metadata)
        port = PORTS[node_id]
        settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=db, data_dir=directory, beacon_id=node_id,
                            beacon_name=f"Node {country}", country=country, port=port,
                            public_base_url=f"http://127.0.0.1:{port}",
                            catalogue_url=catalogue_url,
                            catalogue_token=SecretStr(TOKENS[node_id]))
        if serve:
            pool = await create_pool(db, settings)
            stack.push_async_callback(pool.close)
            await serve_app(stack, create_node(settings, pool), port)
        yield Node(settings.base_url, db, settings)


async def _ingest(db: str, directory: Path, dataset_id: str, level: AccessLevel, assembly,
                  count: int, metadata: dict) -> None:
    path = write_vcf_text(directory / f"{dataset_id}-{count}.vcf", _vcf(count))
    await ingest(db, IngestRequest(path, dataset_id, assembly, level, metadata.pop("title"),
                                   metadata.pop("description", ""), metadata=metadata,
                                   workers=1))


def _fi_datasets() -> dict[str, tuple]:
    return {
        "GDI-FI-SYN-001": (AccessLevel.PUBLIC, GRCH38, 3, {
            "title": "Finnish heart cohort allele frequencies",
            "description": "Aggregated allele frequencies of a synthetic cardiology cohort.",
            "keywords": ["cardiomyopathy"]}),
        "GDI-FI-SYN-002": (AccessLevel.CONTROLLED, GRCH37, 2, {
            "title": "Finnish tumour genomes", "keywords": ["oncology"]}),
    }


def _se_datasets() -> dict[str, tuple]:
    return {"GDI-SE-SYN-001": (AccessLevel.REGISTERED, GRCH38, 4, {
        "title": "Swedish population reference", "keywords": ["population"]})}


async def _harvest(catalogue: Catalogue) -> list[HarvestOutcome]:
    """One harvest round, as the catalogue service runs it."""
    async with harvest_session() as session:
        return await harvest_all(catalogue.pool, session, catalogue.settings.harvest_config())


async def _published(catalogue: Catalogue, node: str, count: int) -> None:
    async def check() -> bool:
        return len(await catalogue.ids(node=node)) == count
    await _eventually(check)


# --- publishing and search --------------------------------------------------------------------

async def test_nodes_publish_and_search_finds_by_text_and_each_filter(pg_server_url, tmp_path,
                                                                      catalogue):
    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", catalogue.url, _fi_datasets()), \
            _node(pg_server_url, tmp_path / "se", OTHER, "SE", catalogue.url, _se_datasets()):
        await _published(catalogue, NODE, 2)
        await _published(catalogue, OTHER, 1)

        assert await catalogue.ids(q="cardiomyopathy") == ["GDI-FI-SYN-001"]
        assert await catalogue.ids(q="cardiology cohorts") == ["GDI-FI-SYN-001"]  # stemmed
        assert sorted(await catalogue.ids(q="tumour OR population")) == ["GDI-FI-SYN-002",
                                                                         "GDI-SE-SYN-001"]
        assert await catalogue.ids(q="GDI-SE-SYN-001") == ["GDI-SE-SYN-001"]
        assert await catalogue.ids(node=OTHER) == ["GDI-SE-SYN-001"]
        assert await catalogue.ids(country="FI") == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        assert await catalogue.ids(accessRights="NON_PUBLIC") == ["GDI-FI-SYN-002"]
        assert await catalogue.ids(accessRights=AccessRights.RESTRICTED.iri) == ["GDI-SE-SYN-001"]
        assert await catalogue.ids(assembly="GRCh37") == ["GDI-FI-SYN-002"]
        assert len(await catalogue.ids(theme="HEAL")) == 3
        assert await catalogue.ids(theme=EU_DATA_THEME + "ECON") == []
        assert await catalogue.ids(q="heart", country="SE") == []

        status, page = await catalogue.get("/api/datasets", skip="1", limit="1")
        assert (status, page["total"], page["skip"], page["limit"]) == (200, 3, 1, 1)
        assert [d["identifier"] for d in page["datasets"]] == ["GDI-FI-SYN-002"]
        status, bad = await catalogue.get("/api/datasets", limit="1000")
        assert status == 400 and "limit" in bad["error"]["message"]
        status, bad = await catalogue.get("/api/datasets", accessRights="OPEN")
        assert status == 400 and "accessRights" in bad["error"]["message"]

        status, one = await catalogue.get("/api/datasets/GDI-FI-SYN-001")
        assert status == 200 and one["nodeId"] == NODE and one["status"] == "active"
        assert one["country"] == "FI" and one["numberOfRecords"] == 3
        assert CatalogueRecord.model_validate(
            {k: v for k, v in one.items() if k not in ("nodeId", "status", "withdrawnAt")})
        assert (await catalogue.get("/api/datasets/GDI-XX-SYN-404"))[0] == 404

        status, registry = await catalogue.get("/api/nodes")
        by_id = {n["id"]: n for n in registry["nodes"]}
        assert set(by_id) == {NODE, OTHER}
        assert by_id[OTHER]["country"] == "SE" and by_id[OTHER]["name"] == "Node SE"
        assert by_id[NODE]["fdpUrl"].endswith("/fdp") and by_id[NODE]["lastSeen"]
        assert set(by_id[NODE]) == {"id", "name", "country", "beaconUrl", "fdpUrl", "lastSeen",
                                    "healthy"}


async def test_reingest_updates_record_and_removal_withdraws(pg_server_url, tmp_path,
                                                             catalogue):
    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", catalogue.url,
                     _fi_datasets()) as node:
        await _published(catalogue, NODE, 2)
        _, before = await catalogue.get("/api/datasets/GDI-FI-SYN-001")

        await _ingest(node.db, tmp_path, "GDI-FI-SYN-001", AccessLevel.PUBLIC, GRCH38, 7,
                      {"title": "Finnish heart cohort, second release"})

        async def updated() -> bool:
            return (await catalogue.get("/api/datasets/GDI-FI-SYN-001"))[1][
                "numberOfRecords"] == 7
        await _eventually(updated)
        _, after = await catalogue.get("/api/datasets/GDI-FI-SYN-001")
        assert after["title"] == "Finnish heart cohort, second release"
        assert datetime.fromisoformat(after["modified"]) > datetime.fromisoformat(
            before["modified"])
        assert after["issued"] == before["issued"]

        conn = await asyncpg.connect(node.db)
        try:
            assert await delete_dataset(conn, "GDI-FI-SYN-002")
            assert not await delete_dataset(conn, "GDI-FI-SYN-002")
        finally:
            await conn.close()

        async def withdrawn() -> bool:
            return await catalogue.ids(node=NODE) == ["GDI-FI-SYN-001"]
        await _eventually(withdrawn)
        assert await catalogue.ids(status="withdrawn") == ["GDI-FI-SYN-002"]
        status, gone = await catalogue.get("/api/datasets/GDI-FI-SYN-002")
        assert status == 200 and gone["status"] == "withdrawn" and gone["withdrawnAt"]
        assert await catalogue.ids(q="tumour") == []



async def test_a_hidden_dataset_is_withdrawn_without_its_record(pg_server_url, tmp_path,
                                                                catalogue):
    """A node that turns on hide_controlled_datasets stops publishing its CONTROLLED ones
    ("invisible to callers without a grant"); the catalogue withdrew them but served their
    whole record on: title, access rights, individuals, contact, by identifier and by a
    search of withdrawn datasets. A withdrawal now keeps the identifier, node and date."""
    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", catalogue.url,
                     _fi_datasets(), serve=False) as node, aiohttp.ClientSession() as http:
        conn = await connect(node.db)
        try:
            rows = await list_datasets(conn)
        finally:
            await conn.close()
        await publish(http, node.settings, records_for(rows, node.settings), FAST)
        assert (await catalogue.get("/api/datasets/GDI-FI-SYN-002"))[1]["title"] == \
            "Finnish tumour genomes"
        hidden = node.settings.model_copy(update={"hide_controlled_datasets": True})
        published = await publish(http, hidden, records_for(rows, hidden), FAST)
        assert published.withdrawn == ["GDI-FI-SYN-002"]

        status, gone = await catalogue.get("/api/datasets/GDI-FI-SYN-002")
        assert status == 200 and gone["status"] == "withdrawn" and gone["withdrawnAt"]
        assert set(gone) == {"identifier", "nodeId", "status", "withdrawnAt"}, gone
        for status_filter in ("withdrawn", "any"):
            assert await catalogue.ids(status=status_filter, q="tumour") == []
        _, listed = await catalogue.get("/api/datasets", status="withdrawn")
        assert [set(d) for d in listed["datasets"]] == [set(gone)]
        for path in ("/fdp", f"/fdp/catalog/{NODE}", "/fdp/dataset/GDI-FI-SYN-002"):
            async with http.get(catalogue.url + path) as response:
                assert "tumour" not in await response.text(), path

        # Published again (the setting turned off): active, with its record.
        await publish(http, node.settings, records_for(rows, node.settings), FAST)
        _, back = await catalogue.get("/api/datasets/GDI-FI-SYN-002")
        assert back["status"] == "active" and back["title"] == "Finnish tumour genomes"

    # A dataset withdrawn before migration 0005 loses its record to it.
    async with catalogue.pool.acquire() as conn:
        await conn.execute("UPDATE datasets SET status = 'withdrawn', withdrawn_at = now() "
                           "WHERE identifier = 'GDI-FI-SYN-002'")
        [migration] = [m for m in available_migrations(MIGRATIONS) if m.version == 5]
        await conn.execute(migration.sql)
        assert await conn.fetchval("SELECT record FROM datasets WHERE identifier = $1",
                                   "GDI-FI-SYN-002") == {"identifier": "GDI-FI-SYN-002"}
        assert (await conn.fetchval("SELECT record FROM datasets WHERE identifier = $1",
                                    "GDI-FI-SYN-001"))["title"]

async def test_publish_survives_catalogue_down_then_up(pg_server_url, tmp_path):
    port = free_port()
    settings = _catalogue_settings(tmp_path, port)
    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", f"http://127.0.0.1:{port}",
                     _fi_datasets(), serve=False) as node, \
            _catalogue_db(pg_server_url, settings) as pool, AsyncExitStack() as stack, \
            aiohttp.ClientSession() as session:
        conn = await connect(node.db)
        try:
            records = records_for(await list_datasets(conn), node.settings)
        finally:
            await conn.close()
        pushing = asyncio.create_task(publish(session, node.settings, records, FAST))
        await asyncio.sleep(0.6)
        assert not pushing.done()
        await serve_app(stack, create_catalogue(settings, pool), port)
        published = await asyncio.wait_for(pushing, 20)
        assert published.attempts > 1
        assert published.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        assert len((await store.search(pool, store.DatasetQuery()))[1]) == 2


async def test_a_node_publishes_within_seconds_of_the_catalogues_return(pg_server_url,
                                                                         tmp_path):
    """After a round of backoff fails, the publisher tries again within seconds (it waited
    five minutes before: a catalogue back after an outage went 271 s without the node)."""
    port = free_port()
    settings = _catalogue_settings(tmp_path, port)
    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", f"http://127.0.0.1:{port}",
                     _fi_datasets(), serve=False) as node, \
            _catalogue_db(pg_server_url, settings) as pool, AsyncExitStack() as stack:
        conn = await connect(node.db)
        try:
            records = records_for(await list_datasets(conn), node.settings)
        finally:
            await conn.close()

        async def snapshot() -> list[CatalogueRecord]:
            return records
        quick = Backoff(attempts=2, first_delay=0.05, max_delay=0.1, total_seconds=1)
        running = asyncio.create_task(Publisher(node.settings, snapshot, quick).run())
        try:
            await asyncio.sleep(1.5)                # the round of backoff has failed
            await serve_app(stack, create_catalogue(settings, pool), port)
            returned = time.monotonic()

            async def arrived() -> bool:
                return len((await store.search(pool, store.DatasetQuery()))[1]) == 2
            await _eventually(arrived, timeout=15)
            assert time.monotonic() - returned < 12
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_publish_gives_up_within_bounds_and_does_not_retry_refusals(pg_server_url,
                                                                          tmp_path, catalogue):
    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI",
                     f"http://127.0.0.1:{free_port()}", {}, serve=False) as node, \
            aiohttp.ClientSession() as session:
        with pytest.raises(PublishError, match="3 attempts failed"):
            await publish(session, node.settings, [], Backoff(attempts=3, first_delay=0.01))

        wrong = node.settings.model_copy(update={
            "catalogue_url": catalogue.url, "catalogue_token": SecretStr("x" * 30)})
        slow = Backoff(attempts=5, first_delay=10)
        started = time.monotonic()
        with pytest.raises(PublishError, match="401"):
            await publish(session, wrong, [], slow)
        assert time.monotonic() - started < 5


async def test_a_refused_publication_waits_for_a_change_not_seconds(pg_server_url, tmp_path,
                                                                    caplog):
    """A catalogue refusing the node (a 4xx: its token, its id, a record) is healed by its
    operator, not by asking again: the publisher asked every 10 s (`retry_after`), logging
    "not retrying" each time. It asks again when the datasets change, or after
    `refused_retry_after`; a catalogue out of reach is still asked again soon."""
    puts: list[str] = []
    status = [401]

    async def refuse(request: web.Request) -> web.Response:
        puts.append(request.path)
        return web.json_response({"error": {"errorCode": status[0], "errorMessage": "no"}},
                                 status=status[0])
    app = web.Application()
    app.router.add_put("/{tail:.*}", refuse)
    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", "http://127.0.0.1:1", {},
                     serve=False) as node, AsyncExitStack() as stack:
        settings = node.settings.model_copy(update={
            "catalogue_url": await serve_app(stack, app),
            "catalogue_token": SecretStr("x" * 30)})

        async def snapshot() -> list[CatalogueRecord]:
            return []
        quick = Backoff(attempts=1, first_delay=0.01, max_delay=0.01, total_seconds=1)
        publisher = Publisher(settings, snapshot, quick, retry_after=0.05,
                              refused_retry_after=60)
        running = asyncio.create_task(publisher.run())
        try:
            async def asked(times: int) -> bool:
                return len(puts) >= times
            await asyncio.sleep(1)
            assert len(puts) == 1, puts                 # refused once, not asked again
            assert "not retried until the datasets change" in caplog.text
            publisher.changed()
            await _eventually(lambda: asked(2), timeout=5)
            await asyncio.sleep(0.5)
            assert len(puts) == 2, puts
            status[0] = 503                             # out of reach: asked again soon
            publisher.changed()
            await _eventually(lambda: asked(6), timeout=5)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


@pytest.mark.parametrize("reads_registry", [False, True], ids=["node", "network"])
async def test_a_node_with_a_catalogue_url_and_no_token_says_it_does_not_publish(
        pg_server_url, tmp_path, catalogue, caplog, reads_registry):
    """catalogue_url without catalogue_token: the publisher found it could not publish,
    logged nothing, and tried again every 10 s for as long as the node ran, so an operator
    who forgot the token was never told the node was not in the catalogue. Now it says so
    once, a warning naming the variable; a network node that only reads the registry
    (peers_from_catalogue) needs no token and is not warned."""
    async with _node(pg_server_url, tmp_path / "net", NODE, "FI", catalogue.url, {},
                     serve=False) as node, AsyncExitStack() as stack:
        settings = node.settings.model_copy(update={"catalogue_token": None,
                                                    "peers_from_catalogue": reads_registry})
        pool = await create_pool(node.db, settings)
        stack.push_async_callback(pool.close)
        with caplog.at_level(logging.INFO, logger="node.publication"):
            await serve_app(stack, create_node(settings, pool))
            await asyncio.sleep(0.5)
    said = [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name.startswith("node.publication")]
    assert said == ([] if reads_registry else [(
        logging.WARNING, (f"GDI_NODE_CATALOGUE_TOKEN is not set: the node's datasets are not "
                          f"published to the catalogue at {catalogue.url}"))])
    assert [n.id for n in await store.list_nodes(catalogue.pool)] == []


@pytest.mark.parametrize("answer", [b"[]", b"null", b'"ok"', b"[" * 100_000 + b"]" * 100_000,
                                    b"<html>gateway</html>"])
async def test_a_catalogue_answering_nonsense_is_a_failed_publication(pg_server_url, tmp_path,
                                                                      answer):
    """What a broken catalogue (or a proxy before it) answers with a 200: not an object, JSON
    nested beyond the parser, not JSON. Each was an AttributeError or a RecursionError out of
    `publish`: a traceback for `gdi-node catalogue publish`, where it is a failed attempt,
    retried, then a PublishError."""
    app = web.Application()

    async def broken(request: web.Request) -> web.Response:
        return web.Response(body=answer, content_type="application/json")
    app.router.add_put("/api/nodes/{node}", broken)
    app.router.add_put("/api/nodes/{node}/datasets", broken)
    async with AsyncExitStack() as stack, aiohttp.ClientSession() as session:
        url = await serve_app(stack, app)
        async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", url, {},
                         serve=False) as node:
            settings = node.settings.model_copy(update={
                "catalogue_url": url, "catalogue_token": SecretStr("x" * 30)})
            with pytest.raises(PublishError, match="2 attempts failed"):
                await publish(session, settings, [], Backoff(attempts=2, first_delay=0.01))


def _record(identifier: str, fdp: str, **changes: object) -> CatalogueRecord:
    values: dict[str, object] = {
        "identifier": identifier, "iri": dataset_iri(fdp, identifier),
        "title": f"Dataset {identifier}", "description": "Synthetic variants",
        "accessRights": "PUBLIC", "keywords": ["synthetic"],
        "healthCategories": ["http://data.gdi.eu/core/p2/HealthCategoryHumanGenomic"],
        "applicableLegislation": ["http://data.europa.eu/eli/reg/2025/327/oj"],
        "publisher": Agent(name="Example"), "creator": Agent(name="Example"), "country": "FI",
        "assembly": "GRCh38", "numberOfRecords": 10, "numberOfUniqueIndividuals": 2,
        "issued": datetime(2024, 1, 1, tzinfo=UTC), "modified": datetime(2024, 2, 1, tzinfo=UTC),
        "beaconUrl": fdp.removesuffix("/fdp") + "/api"}     # where _registration puts it
    values.update(changes)
    return CatalogueRecord.model_validate(values)


def _snapshot(*records: CatalogueRecord) -> dict:
    return {"records": [r.to_json() for r in records]}


def _registration(fdp: str, country: str = "FI") -> dict:
    return {"name": f"Node {country}", "country": country,
            "beaconUrl": fdp.replace("/fdp", "/api"), "fdpUrl": fdp}


async def test_unauthenticated_foreign_and_invalid_publishes_are_refused(catalogue):
    fi_fdp, se_fdp = "http://fi.example/fdp", "http://se.example/fdp"
    path = f"/api/nodes/{NODE}"
    for token in (None, "not-a-known-token-at-all"):
        response, body = await catalogue.put(path, _registration(fi_fdp), token)
        assert response.status == 401, body
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        response, _ = await catalogue.put(path + "/datasets", _snapshot(), token)
        assert response.status == 401
    response, body = await catalogue.put(path, _registration(fi_fdp), TOKENS[OTHER])
    assert response.status == 403 and OTHER in body["error"]["message"]
    # two Authorization headers: a proxy and the catalogue could each read another; the
    # first was taken, whatever the second said
    async with catalogue.http.put(catalogue.url + path, json=_registration(fi_fdp), headers=[
            ("Authorization", f"Bearer {TOKENS[NODE]}"),
            ("Authorization", f"Bearer {TOKENS[OTHER]}")]) as twice:
        body = await twice.json()
    assert twice.status == 400 and body["error"]["message"] == (
        "Authorization: given more than once"), body
    assert (await catalogue.get("/api/nodes"))[1]["nodes"] == []

    for elsewhere in ("http://127.0.0.1:5432/fdp", "http://fi.example:8080/fdp",
                      "https://fi.example/fdp", "http://se.example/fdp",
                      "http://fi.example.attacker.org/fdp", "http://user@fi.example/fdp"):
        response, body = await catalogue.put(path, _registration(elsewhere), TOKENS[NODE])
        assert response.status == 403 and body["error"]["code"] == "outside", elsewhere
        assert "not under the origins" in body["error"]["message"]
    registration = {**_registration(fi_fdp), "beaconUrl": "http://10.0.0.1:22/api"}
    response, body = await catalogue.put(path, registration, TOKENS[NODE])
    assert response.status == 403 and "beaconUrl" in body["error"]["message"]
    assert (await catalogue.get("/api/nodes"))[1]["nodes"] == []
    response, _ = await catalogue.put(path + "/datasets", _snapshot(), TOKENS[NODE])
    assert response.status == 409                                   # not registered yet
    assert (await catalogue.put(path, _registration(fi_fdp), TOKENS[NODE]))[0].status == 200
    fi = _record("GDI-FI-SYN-001", fi_fdp)
    response, body = await catalogue.put(path + "/datasets", _snapshot(fi), TOKENS[NODE])
    assert response.status == 200 and body["upserted"] == ["GDI-FI-SYN-001"]

    se = f"/api/nodes/{OTHER}"
    assert (await catalogue.put(se, _registration(se_fdp, "SE"), TOKENS[OTHER]))[0].status == 200
    response, body = await catalogue.put(se + "/datasets",
                                         _snapshot(_record("GDI-FI-SYN-001", se_fdp)),
                                         TOKENS[OTHER])
    assert response.status == 409 and body["error"]["dataset"] == "GDI-FI-SYN-001"
    assert NODE in body["error"]["message"]
    response, body = await catalogue.put(se + "/datasets",
                                         _snapshot(_record("GDI-SE-SYN-001", fi_fdp)),
                                         TOKENS[OTHER])
    assert response.status == 403 and body["error"]["dataset"] == "GDI-SE-SYN-001"
    assert se_fdp in body["error"]["message"]

    broken = _snapshot(_record("GDI-SE-SYN-002", se_fdp))
    broken["records"][0]["accessRights"] = "OPEN"
    response, body = await catalogue.put(se + "/datasets", broken, TOKENS[OTHER])
    assert response.status == 400
    assert "records.0.accessRights (dataset GDI-SE-SYN-002)" in body["error"]["message"]
    response, body = await catalogue.put(se + "/datasets", "{not json", TOKENS[OTHER])
    assert response.status == 400 and body["error"]["code"] == "invalid_json"
    for field, value in (("themes", [HEALTH_THEME, HEALTH_THEME + " X"]),
                         ("beaconUrl", "http://se.example/api>"),
                         ("contactPoint", {"name": "Desk", "email": "desk@se.example>"})):
        snapshot = _snapshot(_record("GDI-SE-SYN-002", se_fdp))   # an IRI RDF cannot
        snapshot["records"][0][field] = value                    # write: every document
        response, body = await catalogue.put(se + "/datasets", snapshot,   # showing it was
                                             TOKENS[OTHER])                # a 500
        assert response.status == 400 and field in body["error"]["message"], (field, body)
    response, body = await catalogue.put(se, {"name": "x", "beaconUrl": "http://se.example/a",
                                              "fdpUrl": "http://se.example/fdp{x}"},
                                         TOKENS[OTHER])
    assert response.status == 400 and "fdpUrl" in body["error"]["message"], body
    # a code of the right shape that ISO 3166-1 does not assign: the record's RDF could not
    # name its country, and every catalogue document showing it was a 500
    unassigned = _snapshot(_record("GDI-SE-SYN-002", se_fdp))
    unassigned["records"][0]["country"] = "UK"
    response, body = await catalogue.put(se + "/datasets", unassigned, TOKENS[OTHER])
    assert response.status == 400 and "country" in body["error"]["message"], body
    response, body = await catalogue.put(se, {**_registration(se_fdp, "SE"), "country": "UK"},
                                         TOKENS[OTHER])
    assert response.status == 400 and "country" in body["error"]["message"], body
    status = await raw_status(catalogue.url, f"PUT {se} HTTP/1.1".encode(),  # bytes not
                              b"Authorization: Bearer abc\xff\xfedef")          # UTF-8: a 500
    assert status == 401
    deep = "[" * 100_000 + "]" * 100_000          # beyond Python's parser: it was a 500
    response, body = await catalogue.put(se + "/datasets", deep, TOKENS[OTHER])
    assert response.status == 400 and body["error"]["code"] == "invalid_json"
    twice = _record("GDI-SE-SYN-003", se_fdp)
    response, body = await catalogue.put(se + "/datasets", _snapshot(twice, twice), TOKENS[OTHER])
    assert response.status == 400 and body["error"]["dataset"] == "GDI-SE-SYN-003"
    response, body = await catalogue.put(se, {"name": "x", "fdpUrl": "ftp://x"}, TOKENS[OTHER])
    assert response.status == 400 and "beaconUrl" in body["error"]["message"]

    _, everything = await catalogue.get("/api/datasets", status="any")
    assert [(d["identifier"], d["nodeId"]) for d in everything["datasets"]] == [
        ("GDI-FI-SYN-001", NODE)]


async def test_two_nodes_pushing_one_identifier_at_once_leave_it_with_the_first(catalogue):
    """FI's push of an identifier, new or one FI withdrew, is still uncommitted when SE's
    push of it arrives: SE must be refused (409), FI keep its dataset. The held check was a
    SELECT that could not see FI's uncommitted row, and the upsert then moved the row to SE:
    both were answered 200 and FI was refused its own dataset after (found by a review,
    2026-12-05). A trigger only holds FI's transaction open long enough to be sure."""
    fi_fdp, se_fdp = "http://fi.example/fdp", "http://se.example/fdp"
    for node, fdp, country in ((NODE, fi_fdp, "FI"), (OTHER, se_fdp, "SE")):
        response, body = await catalogue.put(f"/api/nodes/{node}", _registration(fdp, country),
                                             TOKENS[node])
        assert response.status == 200, body
    withdrawn = "GDI-FI-SYN-002"
    for snapshot in (_snapshot(_record(withdrawn, fi_fdp)), _snapshot()):
        response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets", snapshot,
                                             TOKENS[NODE])
        assert response.status == 200, body
    await catalogue.pool.execute(f"""
        CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$;
        CREATE TRIGGER slow_commit AFTER INSERT OR UPDATE ON datasets FOR EACH ROW
            WHEN (NEW.node_id = '{NODE}') EXECUTE FUNCTION slow_commit();""")
    for identifier in ("GDI-FI-SYN-001", withdrawn):
        fi_push = asyncio.create_task(catalogue.put(
            f"/api/nodes/{NODE}/datasets", _snapshot(_record(identifier, fi_fdp)), TOKENS[NODE]))
        await asyncio.sleep(0.4)
        se_response, se_body = await catalogue.put(
            f"/api/nodes/{OTHER}/datasets",
            _snapshot(_record(identifier, se_fdp, title="SE's copy")), TOKENS[OTHER])
        fi_response, fi_body = await fi_push
        assert fi_response.status == 200 and fi_body["upserted"] == [identifier], fi_body
        assert se_response.status == 409, (identifier, se_body)
        assert se_body["error"]["dataset"] == identifier and NODE in se_body["error"]["message"]
        _, held = await catalogue.get(f"/api/datasets/{identifier}")
        assert (held["nodeId"], held["status"]) == (NODE, "active"), held
    await catalogue.pool.execute("DROP TRIGGER slow_commit ON datasets")
    response, body = await catalogue.put(
        f"/api/nodes/{NODE}/datasets",
        _snapshot(_record("GDI-FI-SYN-001", fi_fdp), _record(withdrawn, fi_fdp)), TOKENS[NODE])
    assert response.status == 200, body


async def test_two_nodes_pushing_two_identifiers_in_opposite_orders_get_a_200_and_a_409(
        catalogue):
    """FI pushes GDI-FI-SYN-001 then -002 while SE pushes -002 then -001: each writes its
    first row and waits for the other's, and PostgreSQL ends one transaction as a deadlock.
    That push was a 500 (found by a review, 2026-12-05); it must be decided as any other
    conflict: one node holds both, the other is told which it holds. A trigger only slows
    each row's insert, so that the two pushes interleave."""
    fi_fdp, se_fdp = "http://fi.example/fdp", "http://se.example/fdp"
    for node, fdp, country in ((NODE, fi_fdp, "FI"), (OTHER, se_fdp, "SE")):
        response, body = await catalogue.put(f"/api/nodes/{node}", _registration(fdp, country),
                                             TOKENS[node])
        assert response.status == 200, body
    await catalogue.pool.execute("""
        CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$;
        CREATE TRIGGER slow_row BEFORE INSERT ON datasets FOR EACH ROW
            EXECUTE FUNCTION slow_row();""")
    ids = ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
    (fi, fi_body), (se, se_body) = await asyncio.gather(
        catalogue.put(f"/api/nodes/{NODE}/datasets",
                      _snapshot(*(_record(i, fi_fdp) for i in ids)), TOKENS[NODE]),
        catalogue.put(f"/api/nodes/{OTHER}/datasets",
                      _snapshot(*(_record(i, se_fdp) for i in reversed(ids))), TOKENS[OTHER]))
    await catalogue.pool.execute("DROP TRIGGER slow_row ON datasets")
    assert sorted((fi.status, se.status)) == [200, 409], (fi_body, se_body)
    winner, loser = (NODE, se_body) if fi.status == 200 else (OTHER, fi_body)
    assert loser["error"]["code"] == "conflict" and winner in loser["error"]["message"]
    for identifier in ids:
        _, held = await catalogue.get(f"/api/datasets/{identifier}")
        assert (held["nodeId"], held["status"]) == (winner, "active"), held


async def test_a_push_racing_a_retirement_leaves_the_retired_nodes_datasets_withdrawn(
        catalogue, monkeypatch):
    """`gdi-node catalogue retire` commits after a push was found registered and before its
    snapshot is applied: the push must be refused as unregistered and the node's datasets
    stay withdrawn. The push re-activated them, searchable under a node no longer listed and
    blocking every other node's push of their identifiers (found by a review, 2026-12-05)."""
    fi_fdp, se_fdp = "http://fi.example/fdp", "http://se.example/fdp"
    for node, fdp, country in ((NODE, fi_fdp, "FI"), (OTHER, se_fdp, "SE")):
        response, body = await catalogue.put(f"/api/nodes/{node}", _registration(fdp, country),
                                             TOKENS[node])
        assert response.status == 200, body
    snapshot = _snapshot(_record("GDI-FI-SYN-001", fi_fdp))
    response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets", snapshot, TOKENS[NODE])
    assert response.status == 200, body

    reconcile = store.reconcile

    async def retired_meanwhile(*args, **kwargs):
        await store.retire_nodes(catalogue.pool, [NODE])
        return await reconcile(*args, **kwargs)
    monkeypatch.setattr(store, "reconcile", retired_meanwhile)
    response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets", snapshot, TOKENS[NODE])
    monkeypatch.setattr(store, "reconcile", reconcile)
    assert response.status == 409 and body["error"]["code"] == "unregistered", body
    assert await catalogue.ids() == []
    assert await catalogue.ids(status="withdrawn") == ["GDI-FI-SYN-001"]
    response, body = await catalogue.put(f"/api/nodes/{OTHER}/datasets",
                                         _snapshot(_record("GDI-FI-SYN-001", se_fdp)),
                                         TOKENS[OTHER])
    assert response.status == 200 and body["upserted"] == ["GDI-FI-SYN-001"], body


async def test_iris_holding_a_control_character_are_refused(catalogue, tmp_path):
    """U+0001 to U+001F and U+007F are no white space to `\\s`: IRIs holding one were
    accepted, and the catalogue served Turtle whose IRIREF the grammar forbids, refused whole
    by a strict parser (found by a review, 2026-12-05). The node's own URLs keep the rule."""
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    response, body = await catalogue.put(path, {**_registration(fdp), "fdpUrl": fdp + "\x7f"},
                                         TOKENS[NODE])
    assert response.status == 400 and "fdpUrl" in body["error"]["message"], body
    assert (await catalogue.put(path, _registration(fdp), TOKENS[NODE]))[0].status == 200
    for field, value in (
            ("applicableLegislation", ["http://data.europa.eu/eli/reg/2025/327/oj\x01"]),
            ("beaconUrl", "http://fi.example/api\x1b"),
            ("contactPoint", {"name": "Desk", "email": "desk\x02@fi.example"})):
        record = _record("GDI-FI-SYN-001", fdp).to_json() | {field: value}
        response, body = await catalogue.put(path + "/datasets", {"records": [record]},
                                             TOKENS[NODE])
        assert response.status == 400 and field in body["error"]["message"], (field, body)
    assert await catalogue.ids(status="any") == []
    with pytest.raises(ValueError):
        CatalogueSettings(data_dir=tmp_path, public_base_url="http://catalogue.example/\x1f")


async def test_a_date_offset_beyond_fourteen_hours_is_refused_and_fourteen_is_taken(catalogue):
    """xsd:dateTime's time zone lies at most 14:00 from UTC: `+23:59`, which pydantic takes,
    was accepted and served as literals XSD forbids, in the dataset's document and as its
    catalog's and the root's dates (found by a review, 2026-12-05)."""
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    assert (await catalogue.put(path, _registration(fdp), TOKENS[NODE]))[0].status == 200
    for field, value in (("modified", "2024-03-01T00:00:00+23:59"),
                         ("issued", "2024-01-01T00:00:00-14:01")):
        record = _record("GDI-FI-SYN-001", fdp).to_json() | {field: value}
        response, body = await catalogue.put(path + "/datasets", {"records": [record]},
                                             TOKENS[NODE])
        assert response.status == 400, (field, body)
        assert f"records.0.{field} (dataset GDI-FI-SYN-001)" in body["error"]["message"]
        assert "±14:00" in body["error"]["message"]
    record = _record("GDI-FI-SYN-001", fdp).to_json() | {"modified": "2024-03-01T00:00:00+14:00"}
    response, body = await catalogue.put(path + "/datasets", {"records": [record]}, TOKENS[NODE])
    assert response.status == 200, body


# --- harvesting -------------------------------------------------------------------------------

async def test_harvest_of_node_fdp_equals_pushed_records(pg_server_url, tmp_path, catalogue):
    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", catalogue.url,
                     _fi_datasets()) as node, aiohttp.ClientSession() as session:
        await _published(catalogue, NODE, 2)
        conn = await connect(node.db)
        try:
            pushed = records_for(await list_datasets(conn), node.settings)
        finally:
            await conn.close()
        found = await walk(session, f"{node.url}/fdp", 5, 100)
        assert found.fatal is None and found.unreadable == {}
        key = lambda r: r.identifier
        assert sorted(found.records, key=key) == sorted(pushed, key=key)

        before = {e.identifier: e.updated_at for e in
                  (await store.search(catalogue.pool, store.DatasetQuery()))[1]}
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.problems == [] and outcome.withdrawn == []
        assert outcome.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        after = {e.identifier: e.updated_at for e in
                 (await store.search(catalogue.pool, store.DatasetQuery()))[1]}
        assert after == before                       # same records: nothing changed
        node_row = await store.get_node(catalogue.pool, NODE)
        assert node_row.healthy is True and node_row.last_error is None


@dataclass
class FakeNode:
    """A real local HTTP server serving an FDP built from `records`, with chosen documents
    replaced by broken Turtle or errors."""

    records: list[CatalogueRecord]
    broken: dict[str, tuple[int, str]]
    base: str = ""

    def site(self) -> FdpSite:
        catalog = CatalogView(id="main", title="Datasets", description="All of them",
                              publisher=Agent(name="Fake"), records=tuple(self.records))
        return FdpSite(base_url=f"{self.base}/fdp", title="Fake FDP", description="A fake node",
                       publisher=Agent(name="Fake"), catalogs=(catalog,))

    def app(self) -> web.Application:
        @web.middleware
        async def breaking(request: web.Request, handler):
            if request.path in self.broken:
                status, text = self.broken[request.path]
                return web.Response(status=status, text=text, content_type="text/turtle")
            return await handler(request)

        async def site_for(request: web.Request) -> FdpSite:
            return self.site()
        app = web.Application(middlewares=[breaking])
        app.add_routes(fdp_routes(site_for))
        return app

    async def turtle(self, path: str) -> str:
        """The Turtle document it serves at `path`, as a harvest reads it: the start of a
        test's broken copy."""
        async with aiohttp.ClientSession() as session, session.get(
                self.base + path, headers={"Accept": "text/turtle"}) as got:
            assert got.status == 200, (path, got.status)
            return await got.text()


async def registered_fake(stack: AsyncExitStack, pool: asyncpg.Pool,
                          middleware: Callable[..., Awaitable[web.StreamResponse]] | None = None, **second: object) -> FakeNode:
    """A FakeNode serving GDI-FI-SYN-001 and GDI-FI-SYN-002 (with `second`'s changes) until
    `stack` closes, registered with the catalogue as NODE; `middleware` before all of its
    own (a node, or a proxy before it, that misbehaves)."""
    port = free_port()
    fake = FakeNode([], {}, f"http://127.0.0.1:{port}")
    fdp = f"{fake.base}/fdp"
    fake.records = [_record("GDI-FI-SYN-001", fdp), _record("GDI-FI-SYN-002", fdp, **second)]
    app = fake.app()
    if middleware is not None:
        app.middlewares.insert(0, middleware)
    await serve_app(stack, app, port)
    await store.upsert_node(pool, store.NodeRegistration(NODE, "Fake", "FI",
                                                         f"{fake.base}/api", fdp))
    return fake


async def test_malformed_documents_are_reported_and_do_not_disturb_others(catalogue):
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        fdp = f"{fake.base}/fdp"

        async def harvest():
            [outcome] = await _harvest(catalogue)
            return outcome

        assert (await harvest()).upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]

        # A broken dataset document: reported with its URL and reason, its record kept,
        # the other dataset's change still taken.
        fake.records[0] = _record("GDI-FI-SYN-001", fdp, title="Renamed on the node")
        bad_url = dataset_iri(fdp, "GDI-FI-SYN-002")
        fake.broken = {"/fdp/dataset/GDI-FI-SYN-002": (200, "@prefix dct: <http://x/> .\n<a> dct:")}
        outcome = await harvest()
        assert outcome.healthy and outcome.withdrawn == []
        assert len(outcome.problems) == 1 and bad_url in outcome.problems[0]
        assert "malformed Turtle" in outcome.problems[0]
        assert await catalogue.ids() == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        assert (await catalogue.get("/api/datasets/GDI-FI-SYN-001"))[1]["title"] == \
            "Renamed on the node"
        node_row = await store.get_node(catalogue.pool, NODE)
        assert bad_url in node_row.last_error and node_row.healthy

        # A broken catalog, root, or a node that is down: nothing withdrawn.
        fake.records = fake.records[:1]
        for broken in ({"/fdp/catalog/main": (200, "<<< not turtle")},
                       {"/fdp": (500, "boom")}, {"/fdp": (200, "")}):
            fake.broken = broken
            outcome = await harvest()
            assert not outcome.healthy and outcome.upserted == [] and outcome.withdrawn == []
            assert await catalogue.ids() == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
            node_row = await store.get_node(catalogue.pool, NODE)
            assert node_row.healthy is False and "/fdp" in node_row.last_error

        # Healthy again, and the dataset really gone from the node: withdrawn.
        fake.broken = {}
        outcome = await harvest()
        assert outcome.healthy and outcome.withdrawn == ["GDI-FI-SYN-002"]
        assert await catalogue.ids(status="withdrawn") == ["GDI-FI-SYN-002"]
        await stack.aclose()
        outcome = await harvest()                                  # node down
        assert not outcome.healthy and outcome.withdrawn == []
        assert await catalogue.ids() == ["GDI-FI-SYN-001"]


@pytest.mark.parametrize("child", ["http://[x/y", "http://a]b/", "http://x\uff03y/",
                                   "{fdp}/\\u0000x", "{fdp}/\\uD800x"])
async def test_a_link_no_url_or_text_can_hold_is_reported_not_followed(catalogue, child):
    """A catalog whose `dcat:dataset` names a link that is no URL the standard library can
    split, or a same-origin one holding a NUL or half a surrogate pair (Turtle's escapes):
    the first raised in the walk, the second in the store, and the node's harvest failed
    "unexpectedly", round after round, while the node stayed listed healthy and none of
    its changes applied (found by a review, 2026-12-06). The link is reported, printable,
    and neither fetched nor kept; the node's datasets are harvested as before."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        fdp = f"{fake.base}/fdp"
        link = child.format(fdp=fdp)
        catalog = await fake.turtle("/fdp/catalog/main")
        fake.broken = {"/fdp/catalog/main": (200, catalog + (
            f"\n<{fdp}/catalog/main> <http://www.w3.org/ns/dcat#dataset> <{link}> .\n"))}
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy, outcome.problems
        assert outcome.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        [problem] = outcome.problems
        assert problem.startswith("<") and ">: not followed: " in problem, problem
        assert problem.isprintable() and "\x00" not in problem
        node_row = await store.get_node(catalogue.pool, NODE)
        assert node_row.healthy and node_row.last_error == problem


async def test_a_harvest_failing_unexpectedly_is_recorded_as_failed(catalogue, monkeypatch):
    """A node's harvest that fails in a way no check foresaw: its failure is logged with its
    traceback, and recorded as any failed harvest is, where the node stayed listed healthy,
    with no error, round after round (found by a review, 2026-12-06)."""
    async def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no check foresaw this")
    async with AsyncExitStack() as stack:
        await registered_fake(stack, catalogue.pool)
        assert (await _harvest(catalogue))[0].healthy
        monkeypatch.setattr(harvest_module, "walk", failing)
        [outcome] = await _harvest(catalogue)
    assert (outcome.healthy, outcome.problems) == (False, ["harvest failed: RuntimeError"])
    node_row = await store.get_node(catalogue.pool, NODE)
    assert (node_row.healthy, node_row.last_error) == (False, "harvest failed: RuntimeError")


async def test_a_push_landing_mid_harvest_wins_over_what_the_harvest_read(catalogue):
    """The node removes GDI-FI-SYN-002 and renames GDI-FI-SYN-001, and pushes, while a
    harvest that began before is under way and reads the node's documents as they were: the
    harvest must bring back neither the removed dataset nor the old title (it did both, found
    by a prober delaying one document through a proxy)."""
    port = free_port()
    fake = FakeNode([], {}, f"http://127.0.0.1:{port}")
    fdp = f"{fake.base}/fdp"
    fake.records = [_record("GDI-FI-SYN-001", fdp, title="Old title"),
                    _record("GDI-FI-SYN-002", fdp)]
    pushed = _record("GDI-FI-SYN-001", fdp, title="Renamed and pushed")
    pushes: list[dict] = []

    @web.middleware
    async def push_meanwhile(request: web.Request, handler):
        """Once the harvest has read the root, the node's push lands; the node's documents
        stay as the harvest began reading them (the stale reading of a slow harvest)."""
        if request.path == "/fdp/catalog/main" and armed and not pushes:
            response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets",
                                                 _snapshot(pushed), TOKENS[NODE])
            assert response.status == 200, body
            pushes.append(body)
        return await handler(request)

    async with AsyncExitStack() as stack:
        app = fake.app()
        app.middlewares.insert(0, push_meanwhile)
        await serve_app(stack, app, port)
        await store.upsert_node(catalogue.pool, store.NodeRegistration(
            NODE, "Fake", "FI", f"{fake.base}/api", fdp))
        armed = False
        assert (await _harvest(catalogue))[0].upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]

        armed = True
        [outcome] = await _harvest(catalogue)
        assert pushes and pushes[0]["withdrawn"] == ["GDI-FI-SYN-002"]
        assert outcome.healthy and outcome.upserted == [] and outcome.withdrawn == []
        assert await catalogue.ids() == ["GDI-FI-SYN-001"]
        _, removed = await catalogue.get("/api/datasets/GDI-FI-SYN-002")
        assert removed["status"] == "withdrawn" and removed["withdrawnAt"] is not None
        assert (await catalogue.get("/api/datasets/GDI-FI-SYN-001"))[1]["title"] == \
            "Renamed and pushed"

        # A harvest begun after the push takes the node as it is, as before.
        fake.records = [_record("GDI-FI-SYN-001", fdp, title="Renamed again")]
        [outcome] = await _harvest(catalogue)
        assert outcome.upserted == ["GDI-FI-SYN-001"] and outcome.withdrawn == []
        assert (await catalogue.get("/api/datasets/GDI-FI-SYN-001"))[1]["title"] == \
            "Renamed again"


async def test_a_nul_in_a_harvested_document_is_a_problem_not_a_failed_round(catalogue):
    """A node's documents with a NUL, which PostgreSQL's text cannot hold: in a dataset's
    publisher (`\\u0000` in Turtle), that dataset is unreadable and its record kept; in
    the IRI of the catalog the root contains, the node's harvest fails with the reason (which
    names that IRI) stored, the NUL spelt out. Both once escaped the harvest as database
    errors, failing the round for every node (found by tests/test_fuzz_catalogue.py)."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        assert (await _harvest(catalogue))[0].upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        path = "/fdp/dataset/GDI-FI-SYN-002"
        document = await fake.turtle(path)
        assert '"Example"' in document                               # the publisher's name
        fake.broken = {path: (200, document.replace('"Example"', '"Exa\\u0000mple"'))}
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.withdrawn == []
        assert len(outcome.problems) == 1 and "NUL" in outcome.problems[0]
        assert await catalogue.ids() == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]

        root = await fake.turtle("/fdp")
        assert "/fdp/catalog/main" in root                # the catalog it contains
        fake.broken = {"/fdp": (200, root.replace("/fdp/catalog/main", "/fdp/catalog/ma\x00in"))}
        [outcome] = await _harvest(catalogue)
        assert not outcome.healthy and outcome.withdrawn == []
        node_row = await store.get_node(catalogue.pool, NODE)
        assert node_row.healthy is False and "\\x00" in node_row.last_error
        assert "\x00" not in node_row.last_error


async def test_ill_typed_literals_are_one_problem_not_a_traceback_each(catalogue, caplog):
    """A dataset document holding 2,000 dates no xsd:dateTime can be (`T24:00:00`): rdflib
    logged a warning with its traceback for each as it parsed them, 2,000 tracebacks in the
    catalogue's log from one document of a node, at every harvest. The harvest's own
    report says what is wrong with the document, once."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        path = "/fdp/dataset/GDI-FI-SYN-002"
        document = await fake.turtle(path)
        stamp = '"2024-02-01T00:00:00+00:00"^^xsd:dateTime'
        assert stamp in document                                # its dct:modified
        bad = '"2024-02-01T24:00:00Z"^^xsd:dateTime'
        document = document.replace(stamp, bad) + "".join(
            f"<urn:x:{i}> <urn:x:p> {bad} .\n" for i in range(2_000))
        fake.broken = {path: (200, document)}
        caplog.clear()
        [outcome] = await _harvest(catalogue)
    assert outcome.healthy and outcome.upserted == ["GDI-FI-SYN-001"], outcome
    [problem] = outcome.problems
    assert "dct:modified" in problem and "is not an xsd:dateTime" in problem, problem
    logged = [r for r in caplog.records if r.name.startswith("rdflib")]
    assert logged == [], f"{len(logged)} records from rdflib, e.g. {logged[0].getMessage()}"


async def test_a_dataset_without_dates_or_counts_or_dated_by_day_is_harvested(catalogue):
    """Another implementation's FAIR Data Point: a dataset document without dct:issued,
    dct:modified and healthdcatap:numberOfUniqueIndividuals (none of which the GDI shapes
    or HealthDCAT-AP require), and one dated by day (xsd:date, DCAT's other usual form).
    Each was refused, "missing dct:issued" or "is not an xsd:dateTime", where the GDI
    portal's harvester takes them; the catalogue's copy is served as the node gave it,
    valid against the shapes."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        first, second = "/fdp/dataset/GDI-FI-SYN-001", "/fdp/dataset/GDI-FI-SYN-002"
        undated = await fake.turtle(first)
        for statement in ("dct:issued", "dct:modified", "healthdcatap:numberOfUniqueIndividuals"):
            undated, dropped = re.subn(rf"\n\s*{statement} [^;]*;", "", undated)
            assert dropped == 1, statement
        by_day = re.sub(r'"(\d{4}-\d\d-\d\d)T[^"]*"\^\^xsd:dateTime', r'"\1"^^xsd:date',
                        await fake.turtle(second))
        assert by_day.count("^^xsd:date ") + by_day.count("^^xsd:date;") == 2, by_day
        fake.broken = {first: (200, undated), second: (200, by_day)}
        [outcome] = await _harvest(catalogue)
    assert outcome.healthy and outcome.problems == [], outcome
    assert outcome.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
    status, plain = await catalogue.get("/api/datasets/GDI-FI-SYN-001")
    assert status == 200, plain
    assert {key: plain.get(key) for key in ("issued", "modified", "numberOfUniqueIndividuals")
            } == dict.fromkeys(("issued", "modified", "numberOfUniqueIndividuals"))
    status, daily = await catalogue.get("/api/datasets/GDI-FI-SYN-002")
    assert status == 200 and daily["issued"] == "2024-01-01T00:00:00Z", daily
    document = Graph()
    for path in ("/fdp", f"/fdp/catalog/{NODE}", "/fdp/dataset/GDI-FI-SYN-001",
                 "/fdp/dataset/GDI-FI-SYN-002"):
        async with catalogue.http.get(f"{catalogue.url}{path}",
                                      headers={"Accept": "text/turtle"}) as response:
            assert response.status == 200, path
            document.parse(data=await response.text(), format="turtle",
                           publicID=f"{catalogue.url}{path}")
    assert shacl_violations(document) == ""
    undated_iri = URIRef(f"{catalogue.url}/fdp/dataset/GDI-FI-SYN-001")
    assert (undated_iri, DCTERMS.issued, None) not in document


async def test_a_dataset_dated_by_year_or_month_is_harvested(catalogue):
    """DCAT-AP 3 dates a dataset by xsd:date, xsd:dateTime, xsd:gYear or xsd:gYearMonth
    (its DateOrDateTimeDataType): a node's dataset issued `"2023"^^xsd:gYear` or modified
    `"2024-02"^^xsd:gYearMonth` was refused whole, "is not an xsd:dateTime or xsd:date",
    and never taken (found by a review, 2026-12-05). Each is read as its first day's
    midnight, in UTC unless it names its zone."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        first, second = "/fdp/dataset/GDI-FI-SYN-001", "/fdp/dataset/GDI-FI-SYN-002"
        fake.broken = {}
        for path, issued, modified in (
                (first, '"2023"^^xsd:gYear', '"2024-02"^^xsd:gYearMonth'),
                (second, '"2023+02:00"^^xsd:gYear', '"2024-02Z"^^xsd:gYearMonth')):
            document = await fake.turtle(path)
            for stamp, value in (('"2024-01-01T00:00:00+00:00"^^xsd:dateTime', issued),
                                 ('"2024-02-01T00:00:00+00:00"^^xsd:dateTime', modified)):
                assert stamp in document, stamp
                document = document.replace(stamp, value)
            fake.broken[path] = (200, document)
        [outcome] = await _harvest(catalogue)
    assert outcome.healthy and outcome.problems == [], outcome
    assert outcome.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
    for identifier, issued in (("GDI-FI-SYN-001", "2023-01-01T00:00:00Z"),
                               ("GDI-FI-SYN-002", "2023-01-01T00:00:00+02:00")):
        _, held = await catalogue.get(f"/api/datasets/{identifier}")
        assert (held["issued"], held["modified"]) == (issued, "2024-02-01T00:00:00Z"), held


async def test_a_problem_quoting_a_huge_iri_is_cut_short(catalogue):
    """A dataset document whose access-rights IRI is 1.9 MB (within a document's bound):
    the problem quoting it was 1.9 MB, kept in memory, logged and stored as the node's
    last_error, once per such document, up to harvest_max_documents of them (1.9 GB). Each
    problem is cut short now, still naming the document and what is wrong."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        path = "/fdp/dataset/GDI-FI-SYN-002"
        document = await fake.turtle(path)
        rights = "<http://publications.europa.eu/resource/authority/access-right/PUBLIC>"
        huge = f"<http://x.example/{'r' * 1_900_000}>"
        fake.broken = {path: (200, document.replace(rights, huge))}
        [outcome] = await _harvest(catalogue)
    assert outcome.healthy and outcome.upserted == ["GDI-FI-SYN-001"], outcome
    [problem] = outcome.problems
    url = dataset_iri(f"{fake.base}/fdp", "GDI-FI-SYN-002")
    assert problem.startswith(f"<{url}>: dataset <{url}>: dct:accessRights <http://x.example/r")
    assert len(problem) <= MAX_PROBLEM and problem.endswith("…"), len(problem)
    node_row = await store.get_node(catalogue.pool, NODE)
    assert node_row.last_error == problem


async def test_a_lone_surrogate_in_a_harvests_problem_is_stored_spelt_out(catalogue):
    """A node's root naming a catalog IRI written `\\uD800` in Turtle: its harvest fails with
    the reason stored and the node marked unhealthy. The reason, quoting the IRI, could not be
    written (UTF-8 has no lone surrogate), the harvest failed unexpectedly and the node was
    still listed healthy (found by a review, 2026-12-05)."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        assert (await _harvest(catalogue))[0].healthy
        root = f"{fake.base}/fdp"
        fake.broken = {"/fdp": (200, f"<{root}> <{LDP_CONTAINS}> <{root}/catalog/x\\uD800> .\n")}
        [outcome] = await _harvest(catalogue)
        assert not outcome.healthy and outcome.withdrawn == []
        node_row = await store.get_node(catalogue.pool, NODE)
        assert node_row.healthy is False and "catalog/x\\ud800" in node_row.last_error
        _, listed = await catalogue.get("/api/nodes")
        assert listed["nodes"][0]["healthy"] is False


async def test_a_document_longer_than_one_network_read_is_harvested_whole(catalogue):
    """A body was read with one `content.read(limit)`, which returns what has arrived (about
    128 kB), so a longer dataset document was cut short and reported malformed. Here the
    document's triples follow 620 kB of comment: cut short, it would have none."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool, title="Read to its end")
        path = "/fdp/dataset/GDI-FI-SYN-002"
        document = await fake.turtle(path)
        fake.broken = {path: (200, "# A long account of the panel.\n" * 20_000 + document)}
        [outcome] = await _harvest(catalogue)
    assert outcome.problems == [] and outcome.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
    stored = await catalogue.pool.fetchval(
        "SELECT record->>'title' FROM datasets WHERE identifier = 'GDI-FI-SYN-002'")
    assert stored == "Read to its end"


async def test_a_redirect_is_not_followed_and_says_where_it_led(catalogue):
    """A dataset document redirecting to itself (a loop) and a root moved elsewhere: each
    is asked once, never followed, and the problem names where it led, where it said
    `HTTP 302` alone and the operator had to find out what the node had moved to."""
    asked: list[str] = []

    @web.middleware
    async def moved(request: web.Request, handler):
        asked.append(request.path)
        if request.path == "/fdp/dataset/GDI-FI-SYN-002":
            raise web.HTTPFound(request.path)
        if request.path == "/fdp" and armed:
            raise web.HTTPPermanentRedirect("https://moved.example/fdp")
        return await handler(request)

    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool, moved)
        fdp = f"{fake.base}/fdp"
        armed = False
        [outcome] = await _harvest(catalogue)
        url = dataset_iri(fdp, "GDI-FI-SYN-002")
        said = "(a redirect is not followed: the node's documents must answer at their own IRIs)"
        assert outcome.healthy and outcome.problems == [
            f"<{url}>: HTTP 302 to '/fdp/dataset/GDI-FI-SYN-002' {said}"], outcome
        assert asked.count("/fdp/dataset/GDI-FI-SYN-002") == 1, asked
        armed = True
        [outcome] = await _harvest(catalogue)
        assert not outcome.healthy and outcome.problems == [
            f"<{fdp}>: HTTP 308 to 'https://moved.example/fdp' {said}"], outcome


async def test_a_node_answering_rdf_xml_or_json_ld_for_turtle_is_told_so(catalogue):
    """A node (or its proxy) answering the harvest's `Accept: text/turtle` with RDF/XML or
    JSON-LD, which the node's own FAIR Data Point also serves: the harvest still asks for
    Turtle, and says what came instead, where it said `malformed Turtle: BadSyntax` and
    quoted XML, sending the operator to look for an error in Turtle the node never sent."""
    served = {"/fdp": "application/rdf+xml",
              "/fdp/dataset/GDI-FI-SYN-002": "application/ld+json"}
    asked: list[str] = []

    @web.middleware
    async def ignoring_accept(request: web.Request, handler):
        asked.append(request.headers.get("Accept", ""))
        if request.path in served and armed:
            request = request.clone(headers={"Accept": served[request.path]})
        return await handler(request)

    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool, ignoring_accept)
        fdp = f"{fake.base}/fdp"
        armed = False
        assert (await _harvest(catalogue))[0].upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        armed = True
        del served["/fdp"]
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.upserted == ["GDI-FI-SYN-001"], outcome
        url = dataset_iri(fdp, "GDI-FI-SYN-002")
        assert outcome.problems == [
            f"<{url}>: answered application/ld+json, not the text/turtle asked for"]
        served["/fdp"] = "application/rdf+xml"
        [outcome] = await _harvest(catalogue)
        assert not outcome.healthy and outcome.problems == [
            f"<{fdp}>: answered application/rdf+xml, not the text/turtle asked for"], outcome
    assert set(asked) == {"text/turtle"}


async def test_documents_beginning_with_a_byte_order_mark_are_harvested(catalogue):
    """A node (or the tool that wrote its files) starting each Turtle document with a UTF-8
    byte order mark: its root was `malformed Turtle` (rdflib reads U+FEFF as a statement),
    the node unhealthy and nothing of it harvested. The mark is a signature, not text."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool, title="Marked")
        documents = {}
        for path in ("/fdp", "/fdp/catalog/main", "/fdp/dataset/GDI-FI-SYN-002"):
            documents[path] = (200, "\ufeff" + await fake.turtle(path))
        fake.broken = documents
        [outcome] = await _harvest(catalogue)
    assert outcome.healthy and outcome.problems == [], outcome
    assert outcome.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
    assert (await catalogue.get("/api/datasets/GDI-FI-SYN-002"))[1]["title"] == "Marked"


async def test_an_english_text_tagged_en_gb_or_en_us_wins_over_other_languages(catalogue):
    """A node stating its title, description and agents' names in German and in English
    tagged `en-GB` or `en-US` (BCP 47 tags, case-insensitive, which rdflib keeps as
    written): the record must hold the English ones. Only a tag equal to `en` counted, so
    the German text, whose tag sorts first, was taken and served on as `@en`."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        path = "/fdp/dataset/GDI-FI-SYN-002"
        document = await fake.turtle(path)
        replacements = {'"Dataset GDI-FI-SYN-002"@en': '"Datensatz"@de, "English title"@en-GB',
                        '"Synthetic variants"@en': '"Varianten"@de, "English text"@EN-us',
                        'foaf:name "Example"': 'foaf:name "Beispiel"@de, "Example"@en-GB'}
        for old, new in replacements.items():
            assert old in document, old
            document = document.replace(old, new)
        fake.broken = {path: (200, document)}
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.problems == [], outcome
    _, held = await catalogue.get("/api/datasets/GDI-FI-SYN-002")
    assert (held["title"], held["description"]) == ("English title", "English text"), held
    assert held["publisher"]["name"] == held["creator"]["name"] == "Example", held


async def test_keywords_in_other_languages_are_not_served_on_as_english(catalogue):
    """A node giving its keywords in English and German (DCAT's parallel language versions):
    every keyword of every language was taken, searched and served on the catalogue's FAIR
    Data Point tagged `@en`, German ones included (found by a review, 2026-12-05). The
    English ones and the untagged are kept; a node with none such keeps one language's."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        paths = ("/fdp/dataset/GDI-FI-SYN-001", "/fdp/dataset/GDI-FI-SYN-002")
        keywords = ('"synthetic"@en, "synthetisch"@de, "Herz"@DE, "heart"@en-GB, "GRCh38"',
                    '"synteettinen"@fi, "synthetisch"@de, "Herz"@de')
        fake.broken = {}
        for path, replaced in zip(paths, keywords):
            document = await fake.turtle(path)
            assert 'dcat:keyword "synthetic"@en' in document
            fake.broken[path] = (200, document.replace('dcat:keyword "synthetic"@en',
                                                       f"dcat:keyword {replaced}"))
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.problems == [], outcome
        assert (await catalogue.get("/api/datasets/GDI-FI-SYN-001"))[1]["keywords"] == [
            "GRCh38", "heart", "synthetic"]
        assert (await catalogue.get("/api/datasets/GDI-FI-SYN-002"))[1]["keywords"] == [
            "Herz", "synthetisch"]
        assert await catalogue.ids(q="Herz") == ["GDI-FI-SYN-002"]


async def test_a_link_off_the_nodes_origin_is_reported_and_never_fetched(catalogue):
    """A node's root and catalog linking documents at another origin (another port here,
    where a server counts what it is asked): they are not fetched, as before, and each is
    reported. They were passed over without a word: the node listed healthy with no
    problem while its datasets were withdrawn, the operator with nothing to go by."""
    asked: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(status=404)

    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        other_port = free_port()
        other = web.Application()
        other.router.add_get("/{tail:.*}", elsewhere)
        await serve_app(stack, other, other_port)
        assert (await _harvest(catalogue))[0].upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        documents = {}
        for path in ("/fdp", "/fdp/catalog/main"):
            documents[path] = await fake.turtle(path)
        away = f"http://127.0.0.1:{other_port}/fdp/catalog/main"
        off_dataset = f"http://127.0.0.1:{other_port}/fdp/dataset/GDI-FI-SYN-002"
        local_dataset = dataset_iri(f"{fake.base}/fdp", "GDI-FI-SYN-002")
        assert local_dataset in documents["/fdp/catalog/main"]
        fake.broken = {
            "/fdp": (200, documents["/fdp"].replace("ldp:contains <", f"ldp:contains <{away}>, <")),
            "/fdp/catalog/main": (200, documents["/fdp/catalog/main"].replace(local_dataset,
                                                                              off_dataset))}
        assert away in fake.broken["/fdp"][1]
        [outcome] = await _harvest(catalogue)
        assert asked == []
        assert outcome.healthy and outcome.upserted == ["GDI-FI-SYN-001"], outcome
        assert outcome.withdrawn == ["GDI-FI-SYN-002"]
        assert sorted(p for p in outcome.problems if "not followed" in p) == sorted(
            f"<{link}>: not followed, not at the origin of the node's fdpUrl {fake.base}/fdp"
            for link in (away, off_dataset)), outcome.problems
        node_row = await store.get_node(catalogue.pool, NODE)
        assert away in (node_row.last_error or "")

        many = ", ".join(f"<{away}{i}>" for i in range(1000))     # the first few, named
        fake.broken["/fdp"] = (200, documents["/fdp"].replace("ldp:contains <",
                                                              f"ldp:contains {many}, <"))
        [outcome] = await _harvest(catalogue)
        assert asked == [] and outcome.healthy, outcome
        assert len(outcome.problems) == MAX_LINKS_REPORTED + 1, outcome.problems
        assert outcome.problems[-1] == f"{1001 - MAX_LINKS_REPORTED} more links not followed, " \
            "not at that origin"


async def test_a_node_listing_its_children_as_the_fdp_reference_does_is_harvested(catalogue):
    """The FAIR Data Point reference implementation (and the FDPs the GDI portal harvests,
    ckanext-fairdatapoint's test data) links the root to its catalogs with
    `fdp-o:metadataCatalog` and a catalog to its datasets with `dcat:dataset`, and puts
    `ldp:contains` on an LDP container whose `ldp:membershipResource` is the root or the
    catalog, not on the document's own IRI. The harvest read `ldp:contains` of the IRI only:
    it found no dataset in such a node, reported nothing, and withdrew the datasets the node
    had pushed (found by a review, 2026-12-05)."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        fdp = f"{fake.base}/fdp"
        response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets",
                                             _snapshot(*fake.records), TOKENS[NODE])
        assert response.status == 200 and body["upserted"] == [
            "GDI-FI-SYN-001", "GDI-FI-SYN-002"], body
        catalog = f"{fdp}/catalog/main"
        datasets = ", ".join(f"<{dataset_iri(fdp, r.identifier)}>" for r in fake.records)
        prefixes = ("@prefix dcat: <http://www.w3.org/ns/dcat#> .\n"
                    "@prefix dct: <http://purl.org/dc/terms/> .\n"
                    "@prefix ldp: <http://www.w3.org/ns/ldp#> .\n"
                    "@prefix fdp-o: <https://w3id.org/fdp/fdp-o#> .\n")
        fake.broken = {
            "/fdp": (200, prefixes + f"""
                <{fdp}> a fdp-o:FAIRDataPoint ; dct:title "Reference FDP"@en ;
                    fdp-o:metadataCatalog <{catalog}> .
                <{fdp}/catalog/> a ldp:DirectContainer ; ldp:membershipResource <{fdp}> ;
                    ldp:hasMemberRelation fdp-o:metadataCatalog ; ldp:contains <{catalog}> ."""),
            "/fdp/catalog/main": (200, prefixes + f"""
                <{catalog}> a dcat:Catalog ; dct:title "Datasets"@en ; dcat:dataset {datasets} .
                <{fdp}/dataset/> a ldp:DirectContainer ; ldp:membershipResource <{catalog}> ;
                    ldp:hasMemberRelation dcat:dataset ; ldp:contains {datasets} .""")}
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.problems == [], outcome
        assert outcome.withdrawn == [], outcome
        assert outcome.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"], outcome
        assert await catalogue.ids() == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]


async def test_a_dataset_derived_from_another_dct_source_is_harvested_at_its_own_iri(
        catalogue):
    """DCAT's dct:source on a dataset names "a related Dataset from which the described
    Dataset is derived" (DCAT-AP 3): a node stating one (a DOI here) had the harvest take
    that for the record's IRI, refuse the record as not under the node's fdpUrl, and
    withdraw the dataset the node had pushed, at every harvest (found by a review,
    2026-12-05). Only the catalogue's own documents use dct:source for the node's IRI."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        fdp = f"{fake.base}/fdp"
        response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets",
                                             _snapshot(*fake.records), TOKENS[NODE])
        assert response.status == 200, body
        path = "/fdp/dataset/GDI-FI-SYN-002"
        document = await fake.turtle(path)
        assert "    dct:title " in document
        fake.broken = {path: (200, document.replace(
            "    dct:title ", "    dct:source <https://doi.org/10.1234/cohort> ;\n    dct:title "))}
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.problems == [], outcome
        assert outcome.withdrawn == [], outcome
        assert await catalogue.ids() == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        _, held = await catalogue.get("/api/datasets/GDI-FI-SYN-002")
        assert held["iri"] == dataset_iri(fdp, "GDI-FI-SYN-002"), held


async def test_a_harvested_record_the_catalogue_cannot_publish_is_reported_not_taken(
        catalogue):
    """As a push is refused, a harvested dataset document whose date has no time zone is
    unreadable, and one whose Beacon is outside the node's registered origin is left out,
    each reported with its reason; the record harvested before stays, and the catalogue's
    FAIR Data Point answers. The zone-less date was taken, and the catalogue's /fdp was a
    500 for the whole federation (found by a probe)."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        fdp = f"{fake.base}/fdp"
        assert (await _harvest(catalogue))[0].upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        before = (await catalogue.get("/api/datasets/GDI-FI-SYN-002"))[1]
        path = "/fdp/dataset/GDI-FI-SYN-002"
        document = await fake.turtle(path)
        stamp = '"2024-02-01T00:00:00+00:00"'
        assert stamp in document                                # its dct:modified
        fake.broken = {path: (200, document.replace(stamp, '"2024-03-01T00:00:00"'))}
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.withdrawn == [], outcome
        [problem] = outcome.problems
        assert dataset_iri(fdp, "GDI-FI-SYN-002") in problem and "modified" in problem
        await _fdp_answers(catalogue, "/fdp", f"/fdp/catalog/{NODE}", "/fdp/dataset/GDI-FI-SYN-002")
        assert (await catalogue.get("/api/datasets/GDI-FI-SYN-002"))[1] == before

        attacker = "http://attacker.example:6666/api"
        fake.broken = {}
        fake.records[1] = _record("GDI-FI-SYN-002", fdp, beaconUrl=attacker)
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.withdrawn == [], outcome
        [problem] = outcome.problems
        assert f"beaconUrl {attacker} is not at the origin" in problem
        assert (await catalogue.get("/api/datasets/GDI-FI-SYN-002"))[1] == before


async def test_one_nodes_cookies_never_reach_another_node(catalogue):
    """Two nodes on one host name (`localhost`, other ports; cookies know no port, and a
    domain cookie spans every host below it): the cookie one node's answers set, a session
    of its proxy say, was sent by the harvest to the other node in the next round, the
    service's one session keeping it. The harvest needs no cookies and keeps none."""
    cookies: list[str] = []

    @web.middleware
    async def setting(request: web.Request, handler):
        response = await handler(request)
        response.set_cookie("session", "secret-of-se", path="/")
        return response

    @web.middleware
    async def reading(request: web.Request, handler):
        cookies.extend(request.headers.getall("Cookie", []))
        return await handler(request)

    async with AsyncExitStack() as stack:
        for node_id, middleware in ((NODE, reading), (OTHER, setting)):
            port = free_port()
            fake = FakeNode([], {}, f"http://localhost:{port}")
            fake.records = [_record(f"GDI-{'FI' if node_id == NODE else 'SE'}-SYN-001",
                                    f"{fake.base}/fdp")]
            app = fake.app()
            app.middlewares.insert(0, middleware)
            await serve_app(stack, app, port)
            await store.upsert_node(catalogue.pool, store.NodeRegistration(
                node_id, "Fake", "FI", f"{fake.base}/api", f"{fake.base}/fdp"))
        async with harvest_session() as session:
            for _ in range(2):                          # rounds, as harvest_forever runs
                outcomes = await harvest_all(catalogue.pool, session,
                                             catalogue.settings.harvest_config())
                assert all(o.healthy and o.problems == [] for o in outcomes), outcomes
    assert cookies == []


async def test_the_catalogue_answers_while_a_large_document_is_parsed(catalogue):
    """rdflib parsed a node's documents on the event loop: one of the 5 MB a node could serve
    stalled the catalogue service, its API and FAIR Data Point, for 6 s (found by a probe).
    Now parsing is in a thread: while a root of 1.2 MB is parsed (seconds of rdflib's
    time), the catalogue answers requests as they come."""
    port = free_port()
    fdp = f"http://127.0.0.1:{port}/fdp"
    lines = ["@prefix ex: <http://example.org/> .",
             f"<{fdp}> a <{FDP_O.FAIRDataPoint}> ."]
    lines += [f"ex:s{i} ex:p ex:o{i} ." for i in range(45_000)]
    body = "\n".join(lines).encode()
    assert 1_000_000 < len(body) < MAX_DOCUMENT_BYTES

    async def root(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/turtle")

    app = web.Application()
    app.router.add_get("/fdp", root)
    async with AsyncExitStack() as stack:
        await serve_app(stack, app, port)
        await store.upsert_node(catalogue.pool, store.NodeRegistration(
            NODE, "Large", "FI", f"http://127.0.0.1:{port}/api", fdp))
        began = time.monotonic()
        harvest = asyncio.create_task(_harvest(catalogue))
        waits = []
        async with asyncio.timeout(60):
            while not harvest.done():
                sent = time.monotonic()
                async with catalogue.http.get(catalogue.url + "/api/nodes") as response:
                    assert response.status == 200
                waits.append(time.monotonic() - sent)
        [outcome] = await harvest
        took = time.monotonic() - began
    assert outcome.healthy, outcome.problems
    assert len(waits) >= 5 and max(waits) < min(1.0, took / 4), (took, sorted(waits)[-3:])


@pytest.mark.parametrize("cost", ["prefixes", "statements"])
async def test_a_document_made_to_cost_the_parser_is_read_quickly_or_refused(catalogue, cost):
    """A node's root declaring 24,000 prefixes (450 kB): rdflib bound each in time growing
    with those before, and kept a parser thread for tens of seconds, past its harvest's
    time, and parsed again each round, both threads, so that no other node's documents were
    read (found by a review, 2026-12-06); its prefixes are no longer bound, and it is read
    within its harvest's 5 s. A root holding an RDF collection of 100,010 items, 200,020
    statements in 200 kB (2 MB of it held 2.5 GB), is refused once past
    MAX_DOCUMENT_TRIPLES, as too many statements."""
    port = free_port()
    fdp = f"http://127.0.0.1:{port}/fdp"
    lines = [f"<{fdp}> a <{FDP_O.FAIRDataPoint}> ."]
    if cost == "prefixes":
        lines[:0] = [f"PREFIX p{i:x}: <http://example.org/{i:x}/>" for i in range(24_000)]
    else:
        lines.append(f"<{fdp}> <http://example.org/p> ("
                     + " 1" * (MAX_DOCUMENT_TRIPLES // 2 + 10) + " ) .")
    body = "\n".join(lines).encode()

    async def root(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/turtle")

    app = web.Application()
    app.router.add_get("/fdp", root)
    async with AsyncExitStack() as stack, harvest_session() as session:
        await serve_app(stack, app, port)
        await store.upsert_node(catalogue.pool, store.NodeRegistration(
            NODE, "Costly", "FI", f"http://127.0.0.1:{port}/api", fdp))
        [outcome] = await harvest_all(catalogue.pool, session, HarvestConfig(
            interval_seconds=5, timeout_seconds=5))
    if cost == "prefixes":
        assert outcome.healthy and outcome.problems == [], outcome.problems
    else:
        assert not outcome.healthy
        assert outcome.problems == [f"<{fdp}>: more than {MAX_DOCUMENT_TRIPLES} statements"]


async def test_a_slow_node_fails_its_harvest_at_the_interval_and_holds_no_one(catalogue):
    """A node whose dataset documents each come just inside the per-document timeout: its
    walk of 12 documents took 6 s against a 2 s interval (a 1,000-document node, hours),
    and the round, every node's next harvest with it, waited for it. Now its walk fails
    when the interval is up, withdrawing nothing, and the round ends on time."""
    async with AsyncExitStack() as stack:
        port = free_port()
        slow = FakeNode([], {}, f"http://127.0.0.1:{port}")
        slow.records = [_record(f"GDI-FI-SYN-{i:03d}", f"{slow.base}/fdp") for i in range(12)]
        armed = False

        @web.middleware
        async def slowly(request: web.Request, handler):
            if armed and "/dataset/" in request.path:
                await asyncio.sleep(0.5)
            return await handler(request)
        app = slow.app()
        app.middlewares.insert(0, slowly)
        await serve_app(stack, app, port)
        await store.upsert_node(catalogue.pool, store.NodeRegistration(
            NODE, "Slow", "FI", f"{slow.base}/api", f"{slow.base}/fdp"))
        other_port = free_port()
        other = FakeNode([], {}, f"http://127.0.0.1:{other_port}")
        other.records = [_record("GDI-SE-SYN-001", f"{other.base}/fdp", country="SE")]
        await serve_app(stack, other.app(), other_port)
        await store.upsert_node(catalogue.pool, store.NodeRegistration(
            OTHER, "Other", "SE", f"{other.base}/api", f"{other.base}/fdp"))
        config = HarvestConfig(interval_seconds=2, timeout_seconds=1, max_documents=1000)
        async with aiohttp.ClientSession() as session:
            first = {o.node_id: o for o in await harvest_all(catalogue.pool, session, config)}
            assert len(first[NODE].upserted) == 12 and first[OTHER].healthy

            armed = True
            started = time.monotonic()
            outcomes = {o.node_id: o for o in await harvest_all(catalogue.pool, session,
                                                                 config)}
            elapsed = time.monotonic() - started
        assert elapsed < 4, f"the round took {elapsed:.1f} s"
        assert not outcomes[NODE].healthy and outcomes[NODE].withdrawn == []
        assert outcomes[NODE].problems == ["not read within 2 s (harvest_interval_seconds)"]
        assert outcomes[OTHER].healthy and outcomes[OTHER].problems == []
        assert len(await catalogue.ids(node=NODE, limit="100")) == 12
        [row] = [n for n in await store.list_nodes(catalogue.pool) if n.id == NODE]
        assert row.healthy is False and "harvest_interval_seconds" in (row.last_error or "")
    assert HarvestConfig(interval_seconds=0).deadline_seconds == \
        HarvestConfig().interval_seconds


async def test_an_unexpected_error_in_one_nodes_harvest_is_its_own(catalogue, monkeypatch,
                                                                  caplog):
    """A defect met in one node's harvest (simulated: its walk raises what no document can
    make it raise) is that node's failed outcome, logged with its traceback; the other
    nodes are harvested, and the harvest loop goes on to its next round."""
    from catalogue import harvest
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        await store.upsert_node(catalogue.pool, store.NodeRegistration(
            OTHER, "Broken", "SE", "http://127.0.0.1:1/api", "http://127.0.0.1:1/fdp"))
        real_walk = harvest.walk

        async def walk_with_a_defect(session, fdp_url, *args):
            if fdp_url.startswith("http://127.0.0.1:1/"):
                raise KeyError("a defect")
            return await real_walk(session, fdp_url, *args)
        monkeypatch.setattr(harvest, "walk", walk_with_a_defect)
        outcomes = {o.node_id: o for o in await _harvest(catalogue)}
        assert outcomes[NODE].healthy and outcomes[NODE].upserted == [
            "GDI-FI-SYN-001", "GDI-FI-SYN-002"]
        assert not outcomes[OTHER].healthy
        assert outcomes[OTHER].problems == ["harvest failed: KeyError"]
        assert any(r.exc_info and "harvest of node org.test.se" in r.getMessage()
                   for r in caplog.records)

        rounds = 0

        async def counted(*args):
            nonlocal rounds
            rounds += 1
            if rounds == 1:
                raise RuntimeError("a round that fails")
            raise asyncio.CancelledError        # the service stopping, after the second
        monkeypatch.setattr(harvest, "harvest_all", counted)
        with pytest.raises(asyncio.CancelledError):
            await harvest.harvest_forever(catalogue.pool, None,
                                          harvest.HarvestConfig(interval_seconds=0))
        assert rounds == 2 and fake.records


# --- the catalogue's own FAIR Data Point ------------------------------------------------------

async def test_catalogue_fdp_is_valid_and_self_addressed(catalogue):
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])
    await catalogue.put(path + "/datasets", _snapshot(
        _record("GDI-FI-SYN-001", fdp), _record("GDI-FI-SYN-002", fdp, accessRights="NON_PUBLIC")),
        TOKENS[NODE])
    root = f"{catalogue.url}/fdp"
    seen: dict[str, dict[str, Graph]] = {}
    queue = [root]
    while queue:
        url = queue.pop(0)
        seen[url] = {}
        for media, rdf_format in (("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                                  ("application/rdf+xml", "xml")):
            async with catalogue.http.get(url, headers={"Accept": media}) as response:
                assert response.status == 200, url
                graph = Graph().parse(data=await response.text(), format=rdf_format,
                                      publicID=url)
            assert (URIRef(url), None, None) in graph, f"{url} does not describe itself"
            seen[url][rdf_format] = graph
        queue += [str(o) for o in graph.objects(URIRef(url), LDP_CONTAINS)
                  if str(o) not in seen and str(o) not in queue]
    datasets = sorted(u for u in seen if "/dataset/" in u)
    assert datasets == [f"{root}/dataset/GDI-FI-SYN-001", f"{root}/dataset/GDI-FI-SYN-002"]
    assert f"{root}/catalog/{NODE}" in seen
    for rdf_format in ("turtle", "json-ld", "xml"):
        union = Graph()
        for graphs in seen.values():
            union += graphs[rdf_format]
        assert shacl_violations(union) == "", rdf_format
    # the catalogue's copy names the node's IRI, which read_dataset gives back as the record iri
    record = read_dataset(seen[datasets[0]]["turtle"], datasets[0], shown_elsewhere=True)
    assert record == _record("GDI-FI-SYN-001", fdp)


async def test_jsonld_and_turtle_state_one_iri_a_prefix_continued_by_two_slashes(catalogue):
    """A legislation IRI that is a bound namespace followed by `//` was compacted to
    `dcat://x` in JSON-LD, which JSON-LD reads as another, absolute IRI: the two documents
    of one dataset stated different IRIs (found by a review, 2026-12-05)."""
    fdp = "http://fi.example/fdp"
    odd = str(DCAT) + "//x"
    assert (await catalogue.put(f"/api/nodes/{NODE}", _registration(fdp), TOKENS[NODE])
            )[0].status == 200
    legislation = ["http://data.europa.eu/eli/reg/2025/327/oj", odd]
    response, body = await catalogue.put(
        f"/api/nodes/{NODE}/datasets",
        _snapshot(_record("GDI-FI-SYN-001", fdp, applicableLegislation=legislation)),
        TOKENS[NODE])
    assert response.status == 200, body
    url = f"{catalogue.url}/fdp/dataset/GDI-FI-SYN-001"
    for media, rdf_format in (("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                              ("application/rdf+xml", "xml")):
        async with catalogue.http.get(url, headers={"Accept": media}) as response:
            graph = Graph().parse(data=await response.text(), format=rdf_format, publicID=url)
        assert sorted(map(str, graph.objects(URIRef(url), DCATAP.applicableLegislation))) == \
            legislation, rdf_format


async def test_catalogue_fdp_follows_every_change(catalogue):
    """The FDP's pages are kept between requests (catalogue.site.SiteCache), so each change
    must reach them: a push through the API, and a write from another connection, as a
    `gdi-node catalogue harvest` process makes. One transaction moves the version once."""
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])
    await catalogue.put(path + "/datasets", _snapshot(_record("GDI-FI-SYN-001", fdp)),
                        TOKENS[NODE])
    root = f"{catalogue.url}/fdp"

    async def listed() -> list[str]:
        async with catalogue.http.get(f"{root}/catalog/{NODE}",
                                      headers={"Accept": "text/turtle"}) as response:
            if response.status == 404:
                return []
            graph = Graph().parse(data=await response.text(), format="turtle")
        return sorted(str(o).rsplit("/", 1)[1] for o in graph.objects(None, DCAT.dataset))

    assert await listed() == ["GDI-FI-SYN-001"]
    before = await store.version(catalogue.pool)
    await catalogue.put(path + "/datasets", _snapshot(
        _record("GDI-FI-SYN-002", fdp), _record("GDI-FI-SYN-003", fdp)), TOKENS[NODE])
    assert await store.version(catalogue.pool) == before + 1      # one push, one move
    assert await listed() == ["GDI-FI-SYN-002", "GDI-FI-SYN-003"]
    async with catalogue.pool.acquire() as other, other.transaction():   # not through the API
        await store.reconcile(other, NODE, _snapshot(_record("GDI-FI-SYN-003", fdp))["records"])
    assert await listed() == ["GDI-FI-SYN-003"]



async def test_a_node_registered_again_under_another_name_moves_its_catalogs_dates(catalogue):
    """The catalogue's catalog of a node is titled by the node's name and published by it:
    the node registered again under another name changed it, and its dct:modified, the
    root's fdp-o:metadataModified and their Last-Modified stayed, dated by the datasets
    alone, so a harvester reading only what changed by date kept the old name. They move;
    its datasets' documents, which do not show it, do not, nor does the same registration
    again (catalogue migration 0007)."""
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])
    await catalogue.put(path + "/datasets", _snapshot(_record("GDI-FI-SYN-001", fdp)),
                        TOKENS[NODE])

    async def published() -> dict[str, tuple[str, str, list[str]]]:
        shown = {}
        for document in ("", f"/catalog/{NODE}", "/dataset/GDI-FI-SYN-001"):
            async with catalogue.http.get(f"{catalogue.url}/fdp{document}",
                                          headers={"Accept": "text/turtle"}) as response:
                assert response.status == 200, document
                graph = Graph().parse(data=await response.text(), format="turtle")
            stated = [*graph.objects(None, DCTERMS.modified),
                      *graph.objects(None, FDP_O.metadataModified)]
            shown[document] = (response.headers["ETag"], response.headers["Last-Modified"],
                               [str(o) for o in stated])
        return shown

    before = await published()
    await asyncio.sleep(1.1)                   # Last-Modified has whole seconds
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])
    assert await published() == before
    await catalogue.put(path, {**_registration(fdp), "name": "Suomen solmu"}, TOKENS[NODE])
    after = await published()
    assert after["/dataset/GDI-FI-SYN-001"] == before["/dataset/GDI-FI-SYN-001"]
    for document in ("", f"/catalog/{NODE}"):
        assert after[document][0] != before[document][0], document
        assert (parsedate_to_datetime(after[document][1])
                > parsedate_to_datetime(before[document][1])), document
        assert (datetime.fromisoformat(after[document][2][0])
                > datetime.fromisoformat(before[document][2][0])), document


async def test_a_record_changed_again_moves_its_date_past_its_last_change(catalogue):
    """A dataset's document changed with its `modified` unchanged (a node of 0.5.0 started
    with another organisation) is dated by that change; pushed again changed, with a
    `modified` later than the one it had but before that change (the version a node
    ingested while the catalogue was away), its document changed under the same
    dct:modified and Last-Modified, and a harvester asking If-Modified-Since got 304: the
    data's date moved, the document's did not. Each change of content moves it."""
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    document = f"{catalogue.url}/fdp/dataset/GDI-FI-SYN-001"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])

    async def pushed(**changes: object) -> tuple[str, str, datetime]:
        response, _ = await catalogue.put(path + "/datasets", _snapshot(
            _record("GDI-FI-SYN-001", fdp, **changes)), TOKENS[NODE])
        assert response.status == 200
        async with catalogue.http.get(document, headers={"Accept": "text/turtle"}) as read:
            assert read.status == 200
            graph = Graph().parse(data=await read.text(), format="turtle")
        (stated,) = graph.objects(None, DCTERMS.modified)
        return read.headers["ETag"], read.headers["Last-Modified"], stated.toPython()

    await pushed()
    await asyncio.sleep(1.1)                   # Last-Modified has whole seconds
    renamed = await pushed(publisher=Agent(name="Operator Oy"))
    await asyncio.sleep(1.1)
    again = await pushed(publisher=Agent(name="Operator Oy"), title="Version 2",
                         modified=datetime(2024, 3, 1, tzinfo=UTC))
    assert again[0] != renamed[0]
    assert parsedate_to_datetime(again[1]) > parsedate_to_datetime(renamed[1])
    assert again[2] > renamed[2]
    async with catalogue.http.get(document, headers={
            "Accept": "text/turtle", "If-Modified-Since": renamed[1]}) as since:
        assert since.status == 200


async def test_a_record_restored_to_an_older_version_moves_its_date(catalogue):
    """A node restoring its database from a backup after a bad ingest pushes its datasets
    as they were, each with the older `modified` it had: the catalogue's document changed
    back, and its date went back with its data's, so a harvester asking If-Modified-Since
    with the date it read of the bad version got 304 and kept it. A change of content
    dated before the document's date moves it as one of the content alone does."""
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    document = f"{catalogue.url}/fdp/dataset/GDI-FI-SYN-001"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])

    async def pushed(**changes: object) -> tuple[str, str]:
        response, _ = await catalogue.put(path + "/datasets", _snapshot(
            _record("GDI-FI-SYN-001", fdp, **changes)), TOKENS[NODE])
        assert response.status == 200
        async with catalogue.http.get(document, headers={"Accept": "text/turtle"}) as read:
            assert read.status == 200
            return read.headers["ETag"], read.headers["Last-Modified"]

    await pushed()
    bad = await pushed(numberOfRecords=99, modified=datetime(2024, 3, 1, tzinfo=UTC))
    await asyncio.sleep(1.1)                   # Last-Modified has whole seconds
    restored = await pushed()
    assert restored[0] != bad[0]
    assert parsedate_to_datetime(restored[1]) > parsedate_to_datetime(bad[1])
    async with catalogue.http.get(document, headers={
            "Accept": "text/turtle", "If-Modified-Since": bad[1]}) as since:
        assert since.status == 200


async def test_a_catalog_is_rendered_once_per_change_not_per_request(catalogue, monkeypatch):
    """The root and each catalog list every dataset, and were rendered again for every
    request: 0.2 s of the event loop each for a node of 2,000 datasets, so that a few
    clients asking for its catalog over and over held up every other request (/health
    0.56 s). They are rendered once per change and serialisation; a change still shows."""
    rendered: list[str] = []
    resource_graph = fdp_documents.resource_graph

    def counted(site: FdpSite, path: str) -> Graph | None:
        rendered.append(path)
        return resource_graph(site, path)

    monkeypatch.setattr(fdp_documents, "resource_graph", counted)
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])
    await catalogue.put(path + "/datasets", _snapshot(
        _record("GDI-FI-SYN-001", fdp), _record("GDI-FI-SYN-002", fdp)), TOKENS[NODE])

    async def fetched(document: str, accept: str = "text/turtle") -> bytes:
        async with catalogue.http.get(f"{catalogue.url}/fdp{document}",
                                      headers={"Accept": accept}) as response:
            assert response.status == 200, document
            return await response.read()

    catalog = f"/catalog/{NODE}"
    assert len({await fetched(catalog) for _ in range(3)}) == 1
    assert len({await fetched(catalog, "application/ld+json") for _ in range(2)}) == 1
    assert len({await fetched("") for _ in range(2)}) == 1
    assert rendered.count(f"catalog/{NODE}") == 2 and rendered.count("") == 1, rendered
    for _ in range(2):
        await fetched("/dataset/GDI-FI-SYN-001")          # small and many: not kept
    assert rendered.count("dataset/GDI-FI-SYN-001") == 2
    await catalogue.put(path + "/datasets", _snapshot(
        _record("GDI-FI-SYN-001", fdp), _record("GDI-FI-SYN-003", fdp)), TOKENS[NODE])
    graph = Graph().parse(data=await fetched(catalog), format="turtle")
    assert sorted(str(o).rsplit("/", 1)[1] for o in graph.objects(None, DCAT.dataset)) == [
        "GDI-FI-SYN-001", "GDI-FI-SYN-003"]
    assert rendered.count(f"catalog/{NODE}") == 3

async def test_a_withdrawal_moves_the_catalogue_fdps_dates_forward(catalogue):
    """The catalogue's FDP dated its catalogs and root by the newest `modified` shown: the
    newest dataset withdrawn, they went back to the older one's (2024-02)."""
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])
    old = _record("GDI-FI-SYN-001", fdp)
    new = _record("GDI-FI-SYN-002", fdp, modified=datetime(2024, 3, 1, tzinfo=UTC))
    await catalogue.put(path + "/datasets", _snapshot(old, new), TOKENS[NODE])

    async def dates() -> list[datetime]:
        found = []
        for url, term in ((f"/fdp/catalog/{NODE}", DCTERMS.modified),
                          ("/fdp", FDP_O.metadataModified)):
            async with catalogue.http.get(catalogue.url + url,
                                          headers={"Accept": "text/turtle"}) as response:
                graph = Graph().parse(data=await response.text(), format="turtle")
                found += [parsedate_to_datetime(response.headers["Last-Modified"]),
                          next(graph.objects(None, term)).toPython()]
        return found

    before = await dates()
    started = datetime.now(UTC).replace(microsecond=0)
    _, body = await catalogue.put(path + "/datasets", _snapshot(old), TOKENS[NODE])
    assert body["withdrawn"] == ["GDI-FI-SYN-002"]
    assert all(d >= max(started, then) for d, then in zip(await dates(), before))


async def test_datasets_joining_the_catalogue_move_its_fdps_dates_forward(catalogue):
    """SE joins with a dataset last modified in 2023, after FI's of 2024-03: the root gains
    SE's catalog, SE's catalog appears, and FI takes a dataset of 2023 too, yet the root's
    fdp-o:metadataModified, FI's catalog's dct:modified and their Last-Modified stayed at
    2024-03, the newest `modified` shown, so a harvester deciding by the date missed the
    change (found by a review, 2026-12-05, as a removal once moved them back). A catalog
    changes when the catalogue's holding of it does."""
    fi_fdp, se_fdp = "http://fi.example/fdp", "http://se.example/fdp"
    for node, fdp, country in ((NODE, fi_fdp, "FI"), (OTHER, se_fdp, "SE")):
        response, body = await catalogue.put(f"/api/nodes/{node}", _registration(fdp, country),
                                             TOKENS[node])
        assert response.status == 200, body
    newest = _record("GDI-FI-SYN-001", fi_fdp, modified=datetime(2024, 3, 1, tzinfo=UTC))
    await catalogue.put(f"/api/nodes/{NODE}/datasets", _snapshot(newest), TOKENS[NODE])

    async def date(url: str, term: URIRef) -> list[datetime]:
        async with catalogue.http.get(catalogue.url + url,
                                      headers={"Accept": "text/turtle"}) as response:
            graph = Graph().parse(data=await response.text(), format="turtle")
            return [parsedate_to_datetime(response.headers["Last-Modified"]),
                    next(graph.objects(None, term)).toPython()]

    started = datetime.now(UTC).replace(microsecond=0)
    older = {"modified": datetime(2023, 1, 1, tzinfo=UTC), "issued": datetime(2023, 1, 1,
                                                                             tzinfo=UTC)}
    response, body = await catalogue.put(f"/api/nodes/{OTHER}/datasets", _snapshot(
        _record("GDI-SE-SYN-001", se_fdp, **older)), TOKENS[OTHER])
    assert response.status == 200, body
    assert all(d >= started for d in await date("/fdp", FDP_O.metadataModified))
    started = datetime.now(UTC).replace(microsecond=0)
    response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets", _snapshot(
        newest, _record("GDI-FI-SYN-002", fi_fdp, **older)), TOKENS[NODE])
    assert response.status == 200, body
    assert all(d >= started for d in await date(f"/fdp/catalog/{NODE}", DCTERMS.modified))
    assert all(d >= started for d in await date("/fdp", FDP_O.metadataModified))
    # the same snapshot again changes nothing, and moves no date
    unchanged = await date(f"/fdp/catalog/{NODE}", DCTERMS.modified)
    await catalogue.put(f"/api/nodes/{NODE}/datasets", _snapshot(
        newest, _record("GDI-FI-SYN-002", fi_fdp, **older)), TOKENS[NODE])
    assert await date(f"/fdp/catalog/{NODE}", DCTERMS.modified) == unchanged


async def test_a_stored_record_no_longer_valid_is_left_out_of_the_fdp(catalogue, caplog):
    """A record stored before a rule that refuses it now (here a theme IRI RDF cannot write,
    pushed before themes were checked) is left out of the catalogue's FAIR Data Point and
    logged; before, it made every document showing it a 500."""
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])
    await catalogue.put(path + "/datasets", _snapshot(
        _record("GDI-FI-SYN-001", fdp), _record("GDI-FI-SYN-002", fdp)), TOKENS[NODE])
    await catalogue.pool.execute(
        """UPDATE datasets SET record = jsonb_set(record, '{themes}', $1::text::jsonb)
           WHERE identifier = 'GDI-FI-SYN-002'""", json.dumps([HEALTH_THEME + " X"]))
    async with catalogue.http.get(f"{catalogue.url}/fdp/catalog/{NODE}",
                                  headers={"Accept": "text/turtle"}) as response:
        assert response.status == 200
        graph = Graph().parse(data=await response.text(), format="turtle")
    assert sorted(str(o).rsplit("/", 1)[1] for o in graph.objects(None, DCAT.dataset)) == [
        "GDI-FI-SYN-001"]
    assert any("GDI-FI-SYN-002" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


# --- command line -----------------------------------------------------------------------------

async def test_cli_publish_remove_and_search(pg_server_url, tmp_path, catalogue):
    from tests.test_cli import _env, gdi_node

    async with _node(pg_server_url, tmp_path / "fi", NODE, "FI", catalogue.url,
                     _fi_datasets(), serve=False) as node:
        env = _env(DATABASE_URL=node.db, GDI_NODE_BEACON_ID=NODE, GDI_NODE_COUNTRY="FI",
                   GDI_NODE_CATALOGUE_URL=catalogue.url,
                   GDI_NODE_CATALOGUE_TOKEN=TOKENS[NODE],
                   GDI_NODE_PUBLIC_BASE_URL=node.url)     # under the node's allowed origin

        async def run(*args: str, **extra: str):
            return await asyncio.to_thread(gdi_node, *args, env={**env, **extra})

        first = await run("catalogue", "publish")
        assert first.returncode == 0, first.stderr
        assert "published 2 datasets" in first.stdout
        removed = await run("remove", "GDI-FI-SYN-002", "--yes")
        assert removed.returncode == 0 and "removed GDI-FI-SYN-002" in removed.stdout
        again = await run("catalogue", "publish")
        assert "withdrawn: GDI-FI-SYN-002" in again.stdout, again.stderr

        found = await run("catalogue", "search", "heart", "--country", "fi", "--json")
        assert [d["identifier"] for d in json.loads(found.stdout)["datasets"]] == [
            "GDI-FI-SYN-001"]

        refused = await run("catalogue", "publish", GDI_NODE_CATALOGUE_TOKEN="w" * 30)
        assert refused.returncode == 1 and "401" in refused.stderr


async def test_cli_search_prints_a_nodes_title_as_one_line_without_terminal_controls(
        catalogue):
    """Any node of the federation writes the titles `gdi-node catalogue search` prints: one
    holding a line break printed a forged row of the listing, and one holding escape
    sequences (ESC, OSC, C1 controls) reached the operator's terminal as they came, free to
    retitle the window or write the clipboard. They are shown as their escapes now."""
    from tests.test_cli import _env, gdi_node
    fdp = "http://fi.example/fdp"
    assert (await catalogue.put(f"/api/nodes/{NODE}", _registration(fdp), TOKENS[NODE])
            )[0].status == 200
    forged = "GDI-FI-SYN-666  FI  PUBLIC      org.test.fi              Forged row"
    title = f"Heart panel\n{forged}\x1b]52;c;Y3VybCBldmlsfHNo\x07\x9b2J\u2028"
    response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets",
                                         _snapshot(_record("GDI-FI-SYN-001", fdp, title=title)),
                                         TOKENS[NODE])
    assert response.status == 200, body
    found = await asyncio.to_thread(gdi_node, "catalogue", "search", "heart", "--url",
                                    catalogue.url, env=_env())
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert len(lines) == 2 and lines[0] == "1 datasets", found.stdout
    assert lines[1].startswith("GDI-FI-SYN-001") and "\\n" + forged in lines[1], lines
    assert not any(c in found.stdout for c in "\x1b\x07\x9b\u2028"), found.stdout


async def _harvested_by_the_cli(stack: AsyncExitStack, pg_server_url: str, tmp_path: Path
                                ) -> tuple[FakeNode, dict[str, str]]:
    """A catalogue database with the fake node registered, and the environment in which
    `gdi-node catalogue harvest` harvests it, closed with `stack`."""
    from tests.test_cli import _env
    url = await stack.enter_async_context(fresh_database(pg_server_url))
    pool = await create_pool(url, _catalogue_settings(tmp_path, free_port()), MIGRATIONS)
    stack.push_async_callback(pool.close)
    fake = await registered_fake(stack, pool)
    nodes = [{"id": NODE, "token": TOKENS[NODE], "origins": [fake.base]}]
    return fake, _env(GDI_CATALOGUE_DATABASE_URL=url, GDI_CATALOGUE_NODES=json.dumps(nodes),
                      GDI_CATALOGUE_DATA_DIR=str(tmp_path / "catalogue"))


async def test_cli_harvest_prints_a_problem_quoting_a_nodes_document_as_one_line(
        pg_server_url, tmp_path):
    """`gdi-node catalogue harvest` prints each node's problems, which quote its documents:
    an access-rights IRI written with `\\u001B` and `\\u000A` escapes in Turtle (rdflib takes
    them) reached the operator's terminal as an escape sequence and a forged line."""
    from tests.test_cli import gdi_node
    async with AsyncExitStack() as stack:
        fake, env = await _harvested_by_the_cli(stack, pg_server_url, tmp_path)
        path = "/fdp/dataset/GDI-FI-SYN-002"
        document = await fake.turtle(path)
        rights = "<http://publications.europa.eu/resource/authority/access-right/PUBLIC>"
        assert rights in document
        fake.broken = {path: (200, document.replace(
            rights, "<http://x.example/\\u001B]0;pwned\\u0007\\u000Aforged line>"))}
        harvested = await asyncio.to_thread(gdi_node, "catalogue", "harvest", env=env)
    assert harvested.returncode == 0, harvested.stderr
    lines = harvested.stdout.splitlines()
    assert lines[0].startswith(f"{NODE}: ok, 1 datasets"), lines
    assert len(lines) == 2 and "dct:accessRights" in lines[1], lines
    assert "\\x1b]0;pwned\\x07\\nforged line" in lines[1], lines
    assert not any(c in harvested.stdout for c in "\x1b\x07"), harvested.stdout


async def test_cli_harvest_exits_non_zero_when_a_nodes_harvest_failed(pg_server_url, tmp_path):
    """A node whose FAIR Data Point answers 500: `gdi-node catalogue harvest` printed its
    outcome FAILED and exited 0, so a scheduled run (`… || alert`) never told anyone that
    the node was not harvested (found by a review, 2026-12-05)."""
    from tests.test_cli import gdi_node
    async with AsyncExitStack() as stack:
        fake, env = await _harvested_by_the_cli(stack, pg_server_url, tmp_path)
        harvested = await asyncio.to_thread(gdi_node, "catalogue", "harvest", env=env)
        assert harvested.returncode == 0, harvested.stderr
        fake.broken = {"/fdp": (500, "boom")}
        harvested = await asyncio.to_thread(gdi_node, "catalogue", "harvest", env=env)
    assert harvested.stdout.startswith(f"{NODE}: FAILED"), harvested.stdout
    assert harvested.returncode == 1, (harvested.stdout, harvested.stderr)
    assert harvested.stderr.splitlines()[-1] == (
        f"error: the harvest of 1 of 1 nodes failed: {NODE}"), harvested.stderr


async def test_a_restart_under_changed_configuration_retires_nodes_it_no_longer_admits(
        pg_server_url, tmp_path):
    """NODE's credential removed and OTHER's origins changed, then a restart: neither is
    listed (networks take their peers from that list), harvested or on the FDP, and their
    datasets are withdrawn; both stayed, at their old URLs. OTHER registering again under its
    new origin is back; `gdi-node catalogue retire` removes a node from a running catalogue."""
    from tests.test_cli import _env, gdi_node

    fdps = {NODE: "http://fi.example/fdp", OTHER: "http://se.example/fdp"}
    before = _catalogue_settings(tmp_path, free_port())
    async with fresh_database(pg_server_url) as url:
        async with AsyncExitStack() as stack:
            settings = before.model_copy(update={"database_url": url})
            http = await stack.enter_async_context(aiohttp.ClientSession())
            first = Catalogue(await serve_app(stack, create_catalogue(settings)), None,
                              settings, http)
            for node, fdp in fdps.items():
                response, body = await first.put(f"/api/nodes/{node}", _registration(fdp),
                                                 TOKENS[node])
                assert response.status == 200, body
                identifier = "GDI-FI-SYN-001" if node == NODE else "GDI-SE-SYN-001"
                await first.put(f"/api/nodes/{node}/datasets",
                                _snapshot(_record(identifier, fdp)), TOKENS[node])
            assert len((await first.get("/api/nodes"))[1]["nodes"]) == 2

        moved = "http://se-new.example"
        nodes = [{"id": OTHER, "token": TOKENS[OTHER], "origins": [moved]}]
        port = free_port()
        after = CatalogueSettings(data_dir=tmp_path / "catalogue", port=port, database_url=url,
                                  harvest_interval_seconds=0,
                                  public_base_url=f"http://127.0.0.1:{port}", nodes=nodes)
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(aiohttp.ClientSession())
            restarted = Catalogue(await serve_app(stack, create_catalogue(after), port), None,
                                  after, http)
            assert (await restarted.get("/api/nodes"))[1]["nodes"] == []
            assert await restarted.ids() == []
            assert await restarted.ids(status="withdrawn") == ["GDI-FI-SYN-001",
                                                               "GDI-SE-SYN-001"]
            pool = await create_pool(url, after, MIGRATIONS)
            stack.push_async_callback(pool.close)
            async with aiohttp.ClientSession() as session:
                assert await harvest_all(pool, session, after.harvest_config()) == []
            async with http.get(f"{restarted.url}/fdp/catalog/{OTHER}") as response:
                assert response.status == 404

            # Outside its new origins it may not come back; under them it does.
            response, _ = await restarted.put(f"/api/nodes/{OTHER}",
                                              _registration(fdps[OTHER], "SE"), TOKENS[OTHER])
            assert response.status == 403
            response, _ = await restarted.put(
                f"/api/nodes/{OTHER}/datasets",
                _snapshot(_record("GDI-SE-SYN-001", fdps[OTHER])), TOKENS[OTHER])
            assert response.status == 409                      # retired: not registered
            fdp = f"{moved}/fdp"
            response, body = await restarted.put(f"/api/nodes/{OTHER}",
                                                 _registration(fdp, "SE"), TOKENS[OTHER])
            assert response.status == 200, body
            await restarted.put(f"/api/nodes/{OTHER}/datasets",
                                _snapshot(_record("GDI-SE-SYN-001", fdp)), TOKENS[OTHER])
            assert [n["fdpUrl"] for n in (await restarted.get("/api/nodes"))[1]["nodes"]] \
                == [fdp]
            assert await restarted.ids() == ["GDI-SE-SYN-001"]

            env = _env(GDI_CATALOGUE_DATABASE_URL=url,
                       GDI_CATALOGUE_DATA_DIR=str(tmp_path / "catalogue"),
                       GDI_CATALOGUE_NODES=json.dumps(nodes))
            retired = await asyncio.to_thread(gdi_node, "catalogue", "retire", OTHER, env=env)
            assert retired.returncode == 0, retired.stderr
            assert f"retired {OTHER}; withdrawn: GDI-SE-SYN-001" in retired.stdout
            assert "registers again on its next push" in retired.stderr
            assert (await restarted.get("/api/nodes"))[1]["nodes"] == []
            assert await restarted.ids() == []
            again = await asyncio.to_thread(gdi_node, "catalogue", "retire", OTHER, env=env)
            assert again.returncode == 1 and "not in the registry" in again.stderr


def test_node_credentials_from_toml_with_hashed_token(tmp_path, monkeypatch):
    import hashlib

    from pydantic import ValidationError
    digest = hashlib.sha256(TOKENS[NODE].encode()).hexdigest()
    config = tmp_path / "catalogue.toml"
    config.write_text(f'port = 5061\nharvest_interval_seconds = 0\n[[nodes]]\nid = "{NODE}"\n'
                      f'token_sha256 = "{digest}"\n')
    monkeypatch.setenv("GDI_CATALOGUE_CONFIG", str(config))
    monkeypatch.setenv("GDI_CATALOGUE_PORT", "5062")
    settings = CatalogueSettings()
    assert settings.port == 5062 and settings.harvest_interval_seconds == 0
    [credential] = settings.nodes
    assert credential.accepts(TOKENS[NODE]) and not credential.accepts(TOKENS[OTHER])
    assert not credential.accepts(TOKENS[NODE] + " ")
    for bad in ({"id": NODE}, {"id": NODE, "token": "short"},
                {"id": NODE, "token": TOKENS[NODE], "token_sha256": digest}):
        with pytest.raises(ValidationError):
            CatalogueSettings(nodes=[bad])


def test_two_nodes_given_one_secret_are_refused_at_start_naming_both(tmp_path):
    """One node's `token` and another's `token_sha256` of the same secret (the duplicate not
    visible in the configuration) were accepted, and each node's token then published on
    the other's path (found by a review, 2026-12-05)."""
    import hashlib

    from pydantic import ValidationError
    digest = hashlib.sha256(TOKENS[NODE].encode()).hexdigest()
    for other in ({"token_sha256": digest}, {"token": TOKENS[NODE]}):
        with pytest.raises(ValidationError) as refused:
            CatalogueSettings(data_dir=tmp_path, nodes=[
                {"id": NODE, "token": TOKENS[NODE], "origins": ORIGINS[NODE]},
                {"id": OTHER, "origins": ORIGINS[OTHER], **other}])
        assert "sharing one secret" in str(refused.value)
        assert repr(NODE) in str(refused.value) and repr(OTHER) in str(refused.value)
        assert TOKENS[NODE] not in str(refused.value) and digest not in str(refused.value)


async def test_nul_texts_huge_counts_and_unknown_paths_are_refused_as_json(catalogue):
    """Found by tests/test_fuzz_catalogue.py: a NUL in a search parameter or a dataset id, a
    record's text or a count beyond 64 bits reached PostgreSQL and were 500s in aiohttp's
    plain text; a path or method the API does not have was aiohttp's plain-text 404/405."""
    path = f"/api/nodes/{NODE}"
    fdp = "http://fi.example/fdp"
    assert (await catalogue.put(path, _registration(fdp), TOKENS[NODE]))[0].status == 200
    for params, field in (({"node": "a\x00b"}, "node"), ({"theme": "\x00"}, "theme"),
                          ({"assembly": "GRCh38\x00"}, "assembly")):
        status, body = await catalogue.get("/api/datasets", **params)
        assert status == 400 and body["error"]["code"] == "invalid_parameter", body
        assert body["error"]["message"].startswith(f"{field}: "), body
    status, body = await catalogue.get("/api/datasets/GDI-FI-SYN-001%00")
    assert status == 404 and body["error"]["code"] == "not_found", body
    for broken, named in (({"title": "Variants\x00"}, "title: holds a NUL character"),
                          ({"keywords": ["ok", "\x00"]}, "keywords.1: holds a NUL character"),
                          ({"numberOfRecords": 2**64}, "records.0.numberOfRecords")):
        record = _record("GDI-FI-SYN-001", fdp).to_json() | broken
        response, body = await catalogue.put(path + "/datasets", {"records": [record]},
                                             TOKENS[NODE])
        assert response.status == 400, body
        assert named in body["error"]["message"], body
    response, body = await catalogue.put(path, {**_registration(fdp), "name": "FI\x00"},
                                         TOKENS[NODE])
    assert response.status == 400 and "NUL" in body["error"]["message"], body
    async with catalogue.http.get(catalogue.url + "/api/datasets/%7Bid%7D") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
    async with catalogue.http.post(catalogue.url + "/api/datasets") as response:
        assert response.status == 405 and "GET" in response.headers["Allow"]
        assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_a_lone_surrogate_a_refusal_quotes_is_a_400_spelt_out(catalogue):
    """A body naming a lone surrogate where the 400 quotes it (a key not allowed, a refused
    record's identifier): JSON cannot encode one, and the answer was a 500 (found by a
    review, 2026-12-05)."""
    fdp = "http://fi.example/fdp"
    assert (await catalogue.put(f"/api/nodes/{NODE}", _registration(fdp), TOKENS[NODE])
            )[0].status == 200
    valid = _record("GDI-FI-SYN-001", fdp).to_json()
    for body, quoted in (('{"records": [], "\\ud800": 1}', "<body>"),
                         ('{"records": [{"identifier": "\\ud800"}]}', "(dataset \\ud800)"),
                         (json.dumps({"records": [{**valid, "accessRights": "OPEN",
                                                   "identifier": "GDI-FI-SYN-001\ud800"}]}),
                          "(dataset GDI-FI-SYN-001\\ud800)")):
        response, answer = await catalogue.put(f"/api/nodes/{NODE}/datasets", body,
                                               TOKENS[NODE])
        assert response.status == 400, (body, answer)
        assert answer["error"]["code"] == "invalid_body" and quoted in answer["error"]["message"]


async def test_a_body_that_does_not_decode_or_arrive_in_time_is_refused_as_json(
        pg_server_url, tmp_path, caplog):
    """The catalogue reads bodies as the node does (node/http/body.py): one that did not
    decode as its Content-Encoding says was a 500 (aiohttp's RequestPayloadError, or the
    parser's own plain-text 400), a gzip body cut short was taken as what of it arrived, one
    in a charset Python lacks was a 500, and one dripped slowly held its connection for good.
    Now each is the API's JSON error, the connection ended where the body was not read."""
    caplog.set_level(logging.INFO)
    port = free_port()
    settings = CatalogueSettings(**{**_catalogue_settings(tmp_path, port).model_dump(),
                                    "body_timeout_seconds": 0.5})
    path = f"/api/nodes/{NODE}"
    registration = json.dumps(_registration("http://fi.example/fdp")).encode()
    headers = {"Authorization": f"Bearer {TOKENS[NODE]}", "Content-Type": "application/json"}
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(_catalogue_db(pg_server_url, settings))
        url = await serve_app(stack, create_catalogue(settings, pool), port)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        for encoding, sent in (("gzip", b"junkjunk"), ("deflate", b"\x78junkjunk"),
                               ("gzip", gzip.compress(registration)[:-8]),
                               ("gzip", gzip.compress(registration)[:10]),
                               ("deflate", zlib.compress(registration)[:-4])):
            async with http.put(url + path, data=sent, headers={
                    **headers, "Content-Encoding": encoding}) as response:
                body = await response.json()
                assert response.status == 400, (encoding, sent, body)
                assert body["error"] == {
                    "code": "undecodable_body",
                    "message": "body: cannot be decoded as its Content-Encoding says"}, body
                assert response.headers["Connection"] == "close"
        async with http.put(url + path, data=registration, headers={
                **headers, "Content-Type": "application/json; charset=no-such"}) as response:
            body = await response.json()
            assert response.status == 400 and body["error"]["code"] == "invalid_json", body
        async with http.get(url + "/api/nodes") as response:
            assert (await response.json())["nodes"] == []           # none was taken
        head = (b"PUT " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + TOKENS[NODE].encode() + b"\r\nContent-Type: application/json\r\n")
        answers = await asyncio.gather(
            send_slowly(port, head + b"Content-Length: 100000\r\n\r\n{", [], 0.2, 5),
            send_slowly(port, head + b"Content-Length: 100000\r\n\r\n{", [b" "] * 100,
                        0.2, 5),
            send_slowly(port, head + b"Transfer-Encoding: chunked\r\n\r\n",
                        [b"1\r\n \r\n"] * 100, 0.2, 5))
        for answer, seconds in answers:
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            assert b"\r\nConnection: close\r\n" in answer, answer
            error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
            assert error["code"] == "body_timeout" and error["message"].startswith("body: ")
            assert seconds < 3, seconds
        # a body that decodes is taken, compressed or not, slow or not
        async with http.put(url + path, data=gzip.compress(registration), headers={
                **headers, "Content-Encoding": "gzip"}) as response:
            assert response.status == 200, await response.text()
        answer, _ = await send_slowly(port, head + b"Content-Length: %d\r\n\r\n"
                                      % len(registration) + registration[:10],
                                      [registration[10:]], 0.2, 5)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def _fdp_answers(catalogue: Catalogue, *paths: str) -> None:
    """Each of the catalogue's FAIR Data Point documents at `paths` answers 200."""
    for path in paths:
        async with catalogue.http.get(catalogue.url + path,
                                      headers={"Accept": "text/turtle"}) as response:
            assert response.status == 200, (path, await response.text())


async def test_records_the_gdi_shapes_or_the_fdp_cannot_take_are_refused_naming_the_field(
        catalogue):
    """Each was accepted (found by a probe): a date without a time zone made the catalogue's
    /fdp a 500 for the whole federation, one in year 9999 every document showing it; an
    identifier not in GDI form, a health category outside the GDI's, no theme broke the GDI
    shapes every document is to pass; a lone surrogate failed the write, a 500; a beaconUrl
    outside the node's registered origin was published as the dataset's dcat:endpointURL."""
    fi, se = "http://fi.example/fdp", "http://se.example/fdp"
    for node, fdp, country in ((NODE, fi, "FI"), (OTHER, se, "SE")):
        response, body = await catalogue.put(f"/api/nodes/{node}", _registration(fdp, country),
                                             TOKENS[node])
        assert response.status == 200, body
        response, body = await catalogue.put(f"/api/nodes/{node}/datasets", _snapshot(
            _record(f"GDI-{country}-SYN-001", fdp)), TOKENS[node])
        assert response.status == 200, body
    documents = ("/fdp", f"/fdp/catalog/{NODE}", f"/fdp/catalog/{OTHER}",
                 "/fdp/dataset/GDI-FI-SYN-001")
    await _fdp_answers(catalogue, *documents)
    attacker = "http://attacker.example:6666/api"
    for changes, status, named in (
            ({"modified": "2024-03-01T00:00:00"}, 400, "records.1.modified"),
            ({"issued": "2024-03-01T00:00:00"}, 400, "records.1.issued"),
            ({"modified": "9999-12-31T23:59:59.500000Z"}, 400, "records.1.modified"),
            ({"modified": "2999-01-01T00:00:00Z"}, 400, "records.1.modified"),
            ({"issued": "1899-12-31T23:59:59Z"}, 400, "records.1.issued"),
            ({"identifier": "not-a-gdi-id"}, 400, "records.1.identifier"),
            ({"identifier": ""}, 400, "records.1.identifier"),
            ({"identifier": "."}, 400, "records.1.identifier"),
            ({"identifier": "a:b"}, 400, "records.1.identifier"),
            ({"healthCategories": ["http://example.org/x"]}, 400, "records.1.healthCategories"),
            ({"themes": []}, 400, "records.1.themes"),
            ({"assembly": '"GRCh38"'}, 400, "records.1.assembly"),      # found by the fuzz
            ({"title": "Variants \ud800"}, 400, "title: holds a lone surrogate"),
            ({"keywords": ["ok", "\udfff"]}, 400, "keywords.1: holds a lone surrogate"),
            # IRIs the regular expression took that made the RDF/XML of every document
            # holding them one no parser reads (found by a review, 2026-12-06)
            *(({"themes": [HEALTH_THEME, iri]}, 400, "records.1.themes")
              for iri in ("http://x.example/\ufffe", "http://x.example/\uffff",
                          "http://[x/y", "http://a]b/", "http://x\uff03y/")),
            ({"beaconUrl": attacker}, 403, f"beaconUrl {attacker} is not at the origin"),
            ({"beaconUrl": "https://fi.example/api"}, 403, "beaconUrl https://fi.example/api")):
        record = _record("GDI-FI-SYN-002", fi).to_json() | changes
        snapshot = {"records": [_record("GDI-FI-SYN-001", fi).to_json(), record]}
        response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets", snapshot,
                                             TOKENS[NODE])
        assert response.status == status and named in body["error"]["message"], (changes, body)
        await _fdp_answers(catalogue, *documents)
    assert await catalogue.ids(status="any") == ["GDI-FI-SYN-001", "GDI-SE-SYN-001"]
    response, body = await catalogue.put(f"/api/nodes/{NODE}",
                                         {**_registration(fi), "name": "FI \ud800"},
                                         TOKENS[NODE])
    assert response.status == 400 and "lone surrogate" in body["error"]["message"], body


async def test_a_record_at_its_length_bounds_is_indexed_and_one_past_them_is_refused(
        catalogue):
    """A 1.5 MB description of distinct words was a 500 of the push (PostgreSQL: string is
    too long for tsvector), which the node retried for good, publishing none of its
    datasets. A record at every bound, its words all distinct and of three UTF-8 bytes each
    (the largest index a text of its length makes), is taken and found; one past a bound is
    refused naming the field."""
    fi = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    assert (await catalogue.put(path, _registration(fi), TOKENS[NODE]))[0].status == 200
    ideographs = iter(map(chr, range(0x4E00, 0xA000)))     # letters, one a word

    def words(length: int) -> str:
        return " ".join(next(ideographs) for _ in range((length + 1) // 2))

    largest = _record("GDI-FI-SYN-001", fi, title=words(MAX_TITLE),
                      description=words(MAX_DESCRIPTION - 11) + " cardiogram",
                      keywords=[words(MAX_KEYWORD) for _ in range(MAX_KEYWORDS)])
    assert len(largest.description) == MAX_DESCRIPTION
    response, body = await catalogue.put(path + "/datasets", _snapshot(largest), TOKENS[NODE])
    assert response.status == 200, body
    assert await catalogue.ids(q="cardiogram") == ["GDI-FI-SYN-001"]
    assert await catalogue.ids(q=largest.keywords[-1].split()[-1]) == ["GDI-FI-SYN-001"]
    rng = random.Random(1)
    probe = " ".join("".join(rng.choices(string.ascii_lowercase, k=9))   # the probe's 1.5 MB
                     for _ in range(150_000))
    record = _record("GDI-FI-SYN-001", fi).to_json()
    for changes, named in (({"description": probe}, "records.0.description"),
                           ({"title": "t" * (MAX_TITLE + 1)}, "records.0.title"),
                           ({"keywords": ["k"] * (MAX_KEYWORDS + 1)}, "records.0.keywords"),
                           ({"keywords": ["k" * (MAX_KEYWORD + 1)]}, "records.0.keywords.0"),
                           ({"identifier": "GDI-FI-SYN-" + "1" * 3000},
                            "records.0.identifier")):
        response, body = await catalogue.put(path + "/datasets", {"records": [record | changes]},
                                             TOKENS[NODE])
        assert response.status == 400 and named in body["error"]["message"], (named, body)
    assert await catalogue.ids(q="cardiogram") == ["GDI-FI-SYN-001"]


async def test_a_name_too_long_for_a_harvested_document_is_refused_naming_it(catalogue):
    """A publisher, creator or contact of any length was taken (the record bounded its
    texts, not its agents'): a 2.5 MB publisher name made the dataset's document, on the
    node and on the catalogue's own FAIR Data Point, larger than any harvester reads
    (harvest.MAX_DOCUMENT_BYTES), so a push kept a record no harvest could read again."""
    fi = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    assert (await catalogue.put(path, _registration(fi), TOKENS[NODE]))[0].status == 200
    huge = "n" * (MAX_DOCUMENT_BYTES + 500_000)
    record = _record("GDI-FI-SYN-001", fi).to_json()
    contact = {"name": "Desk", "email": "desk@fi.example"}
    for changes, named in (({"publisher": {"name": huge}}, "records.0.publisher.name"),
                           ({"creator": {"name": "C", "identifier": huge}},
                            "records.0.creator.identifier"),
                           ({"contactPoint": contact | {"name": huge}},
                            "records.0.contactPoint.name"),
                           ({"contactPoint": contact | {"email": huge + "@fi.example"}},
                            "records.0.contactPoint.email")):
        response, body = await catalogue.put(path + "/datasets", {"records": [record | changes]},
                                             TOKENS[NODE])
        assert response.status == 400 and named in body["error"]["message"], (named, body)
    longest = {"publisher": {"name": "p" * MAX_NAME, "identifier": "i" * MAX_NAME},
               "contactPoint": {"name": "c" * MAX_NAME, "email": "d" * 240 + "@fi.example"}}
    response, body = await catalogue.put(path + "/datasets", {"records": [record | longest]},
                                         TOKENS[NODE])
    assert response.status == 200, body
    # The catalogue's own publisher is such a name: refused at start, not its FDP a 503
    with pytest.raises(ValueError, match="publisher_name"):
        CatalogueSettings(data_dir=catalogue.settings.data_dir,
                          publisher_name="p" * (MAX_NAME + 1))


async def test_an_iri_too_long_or_too_many_iris_are_refused_naming_the_field(catalogue):
    """Names and texts were bounded so that a dataset's document stays one a harvester
    reads (harvest.MAX_DOCUMENT_BYTES), but not the IRIs: a 2.5 MB `iri` or `beaconUrl`,
    or 40,000 legislation IRIs (written twice, in the dataset and its distribution), were
    taken, and the catalogue's own document for the dataset was past what any harvest,
    its own included, reads. A registration's URLs, written into every document of the
    node's, likewise. A record at the bounds is taken and read back whole from the
    catalogue's FAIR Data Point."""
    fi = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    assert (await catalogue.put(path, _registration(fi), TOKENS[NODE]))[0].status == 200
    long_path = "x" * (MAX_DOCUMENT_BYTES + 500_000)
    record = _record("GDI-FI-SYN-001", fi).to_json()
    legislation = [f"http://data.europa.eu/eli/reg/{i}/oj" for i in range(40_000)]
    for changes, named in (({"iri": f"{fi}/dataset/{long_path}"}, "records.0.iri"),
                           ({"beaconUrl": f"http://fi.example/api/{long_path}"},
                            "records.0.beaconUrl"),
                           ({"themes": [HEALTH_THEME, f"{EU_DATA_THEME}{long_path}"]},
                            "records.0.themes"),
                           ({"applicableLegislation": legislation},
                            "records.0.applicableLegislation"),
                           ({"themes": [f"{EU_DATA_THEME}T{i}" for i in range(MAX_IRIS + 1)]},
                            "records.0.themes")):
        response, body = await catalogue.put(path + "/datasets", {"records": [record | changes]},
                                             TOKENS[NODE])
        assert response.status == 400 and named in body["error"]["message"], (named, body)
    response, body = await catalogue.put(path, _registration(fi) | {
        "beaconUrl": f"http://fi.example/api/{long_path}"}, TOKENS[NODE])
    assert response.status == 400 and "beaconUrl" in body["error"]["message"], body

    def longest(prefix: str) -> str:
        return prefix + "y" * (MAX_IRI - len(prefix))
    largest = record | {
        "iri": longest(f"{fi}/dataset/GDI-FI-SYN-001/"),
        "beaconUrl": longest("http://fi.example/api/"),
        "themes": [HEALTH_THEME] + [longest(f"{EU_DATA_THEME}{i}/") for i in range(MAX_IRIS - 1)],
        "applicableLegislation": [longest(f"http://eli.example/{i}/") for i in range(MAX_IRIS)]}
    response, body = await catalogue.put(path + "/datasets", {"records": [largest]},
                                         TOKENS[NODE])
    assert response.status == 200, body
    async with aiohttp.ClientSession() as session:
        found = await walk(session, f"{catalogue.url}/fdp", 5, 10)
        shown_at = f"{catalogue.url}/fdp/dataset/GDI-FI-SYN-001"
        async with session.get(shown_at, headers={"Accept": "text/turtle"}) as response:
            shown = Graph().parse(data=await response.text(), format="turtle")
    assert found.fatal is None and found.unreadable == {}, found
    # a walk reads each document as a node's, the record at its own IRI; read as the
    # catalogue's rendering, its dct:source gives the node's IRI back
    assert [r.to_json() for r in found.records] == [
        CatalogueRecord.model_validate(largest | {"iri": shown_at}).to_json()]
    assert read_dataset(shown, shown_at, shown_elsewhere=True) == CatalogueRecord.model_validate(
        largest)


async def test_the_catalogues_database_gone_is_a_503_with_retry_after(catalogue, caplog):
    """Before, an unexpected failure was aiohttp's plain-text 500; the database being
    unavailable (here its pool closed under the running service) is an outage: a JSON 503
    with Retry-After, on reads and writes alike, logged once for the outage (as the node
    logs it), not once per request."""
    caplog.set_level(logging.WARNING)
    await catalogue.pool.close()
    for method, path, body in (("GET", "/api/datasets", None), ("GET", "/api/nodes", None),
                               ("PUT", f"/api/nodes/{NODE}", _registration(
                                   "http://fi.example/fdp"))):
        async with catalogue.http.request(method, catalogue.url + path, json=body, headers={
                "Authorization": f"Bearer {TOKENS[NODE]}"}) as response:
            document = await response.json()
            assert response.status == 503, document
            assert response.headers["Retry-After"] == "5"
            assert document["error"]["code"] == "unavailable"
    for _ in range(50):                          # the outage's probe confirms it first
        if any("database unavailable" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.1)
    said = [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(said) == 1 and said[0].endswith("answering 503 until it is back"), said


async def test_a_catalogue_database_that_does_not_answer_is_a_503_in_time(pg_server_url,
                                                                          tmp_path, monkeypatch):
    """A server that stops answering ends no statement and refuses no connection: without
    the catalogue's own bounds (node/catalogue_app.py), a search waited for good. The
    server's own limit is a 503 `timeout`; a frozen server a 503 `unavailable` a second
    after it; all answered again once the server is."""
    monkeypatch.setattr(catalogue_app, "STATEMENT_SECONDS", 1.0)
    monkeypatch.setattr(catalogue_app, "STARTUP_SECONDS", 1.0)
    port = free_port()
    async with fresh_database(pg_server_url) as url, AsyncExitStack() as stack:
        relay = Relay(url)
        await relay.start()
        stack.push_async_callback(relay.close)
        settings = _catalogue_settings(tmp_path, port).model_copy(
            update={"database_url": relay.url})
        base = await serve_app(stack, create_catalogue(settings), port)
        http = await stack.enter_async_context(aiohttp.ClientSession())

        async def search(path: str = "/api/datasets") -> tuple[int, dict, float]:
            began = time.monotonic()
            async with http.get(base + path) as response:
                return response.status, await response.json(), time.monotonic() - began

        assert (await search())[0] == 200
        conn = await asyncpg.connect(url)              # the server's own limit
        try:
            await conn.execute("BEGIN; LOCK TABLE datasets IN ACCESS EXCLUSIVE MODE")
            async with asyncio.timeout(10):            # for good, before
                status, body, seconds = await search()
            assert (status, body["error"]["code"]) == (503, "timeout") and seconds < 3
        finally:
            await conn.close()
        relay.freeze()
        try:
            async with asyncio.timeout(30):            # for good, before
                answers = await asyncio.gather(search(), search("/api/nodes"))
            for status, body, seconds in answers:
                assert (status, body["error"]["code"]) == (503, "unavailable"), body
                assert seconds < 1 + 1 + 1 + 1.5, seconds
        finally:
            relay.thaw()
        async with asyncio.timeout(20):
            while (await search())[0] != 200:
                await asyncio.sleep(0.2)


async def _served_languages(catalogue: Catalogue, identifier: str) -> dict[str, dict]:
    """Each text of the catalogue's dataset document, by format, as {predicate: {(text,
    language or None)}}, each document checked against the GDI shapes."""
    url = f"{catalogue.url}/fdp/dataset/{identifier}"
    served: dict[str, dict] = {}
    for media, rdf_format in (("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                              ("application/rdf+xml", "xml")):
        async with catalogue.http.get(url, headers={"Accept": media}) as response:
            assert response.status == 200, (identifier, media)
            graph = Graph().parse(data=await response.text(), format=rdf_format, publicID=url)
        assert shacl_violations(graph) == "", rdf_format
        subject = URIRef(url)
        texts = {name: {(str(o), o.language) for o in graph.objects(subject, predicate)}
                 for name, predicate in (("title", DCTERMS.title),
                                         ("description", DCTERMS.description),
                                         ("keyword", DCAT.keyword))}
        publisher = graph.value(subject, DCTERMS.publisher)
        texts["publisher"] = {(str(o), o.language)
                              for o in graph.objects(publisher, FOAF.name)}
        served[rdf_format] = texts
    assert served["turtle"] == served["json-ld"] == served["xml"], served
    return served["turtle"]



async def test_harvested_texts_keep_their_language(catalogue):
    """A node whose dataset is described in Finnish only, and one whose texts are untagged:
    the catalogue took each text and served it on tagged `@en`, stating false metadata to
    every harvester downstream (the GDI portal's, data.europa.eu). Each text keeps the tag
    the node gave it (none where it gave none), in Turtle, JSON-LD and RDF/XML, and search
    still finds the Finnish words."""
    async with AsyncExitStack() as stack:
        fake = await registered_fake(stack, catalogue.pool)
        first, second = "/fdp/dataset/GDI-FI-SYN-001", "/fdp/dataset/GDI-FI-SYN-002"
        untagged = await fake.turtle(first)
        for old, new in (('"Dataset GDI-FI-SYN-001"@en', '"Dataset GDI-FI-SYN-001"'),
                         ('"Synthetic variants"@en', '"Synthetic variants"'),
                         ('dcat:keyword "synthetic"@en', 'dcat:keyword "synthetic"')):
            assert old in untagged, old
            untagged = untagged.replace(old, new)
        finnish = await fake.turtle(second)
        for old, new in (('"Dataset GDI-FI-SYN-002"@en', '"Suomalainen sydänaineisto"@fi'),
                         ('"Synthetic variants"@en', '"Synteettisiä variantteja"@fi'),
                         ('dcat:keyword "synthetic"@en', 'dcat:keyword "synteettinen"@fi'),
                         ('foaf:name "Example"', 'foaf:name "Esimerkki"@fi')):
            assert old in finnish, old
            finnish = finnish.replace(old, new)
        fake.broken = {first: (200, untagged), second: (200, finnish)}
        [outcome] = await _harvest(catalogue)
        assert outcome.healthy and outcome.problems == [], outcome
    assert await _served_languages(catalogue, "GDI-FI-SYN-002") == {
        "title": {("Suomalainen sydänaineisto", "fi")},
        "description": {("Synteettisiä variantteja", "fi")},
        "keyword": {("synteettinen", "fi")}, "publisher": {("Esimerkki", "fi")}}
    assert await _served_languages(catalogue, "GDI-FI-SYN-001") == {
        "title": {("Dataset GDI-FI-SYN-001", None)},
        "description": {("Synthetic variants", None)},
        "keyword": {("synthetic", None)}, "publisher": {("Example", None)}}
    assert await catalogue.ids(q="sydänaineisto") == ["GDI-FI-SYN-002"]
    assert await catalogue.ids(q="synteettinen") == ["GDI-FI-SYN-002"]


async def test_pushed_texts_are_english_unless_the_record_says_otherwise(catalogue):
    """A node's push without languages (every node before this field, and records stored
    before it) is English, as it always was: served `@en`, the JSON unchanged. A record
    giving its texts' languages is served with them, and a tag RDF cannot write is a 400
    naming the field."""
    fdp = "http://fi.example/fdp"
    assert (await catalogue.put(f"/api/nodes/{NODE}", _registration(fdp), TOKENS[NODE])
            )[0].status == 200
    english = _record("GDI-FI-SYN-001", fdp).to_json()
    assert not {"titleLanguage", "descriptionLanguage", "keywordLanguages"} & english.keys()
    assert "nameLanguage" not in english["publisher"], english
    finnish = _record("GDI-FI-SYN-002", fdp, title="Suomalainen aineisto",
                      keywords=["syöpä", "synthetic"]).to_json() | {
        "titleLanguage": "fi", "descriptionLanguage": "en-GB",
        "keywordLanguages": {"syöpä": "fi"},
        "publisher": {"name": "Esimerkki", "nameLanguage": "fi"}}
    response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets",
                                         {"records": [english, finnish]}, TOKENS[NODE])
    assert response.status == 200, body
    assert await _served_languages(catalogue, "GDI-FI-SYN-001") == {
        "title": {("Dataset GDI-FI-SYN-001", "en")}, "description": {("Synthetic variants", "en")},
        "keyword": {("synthetic", "en")}, "publisher": {("Example", None)}}
    assert await _served_languages(catalogue, "GDI-FI-SYN-002") == {
        "title": {("Suomalainen aineisto", "fi")}, "description": {("Synthetic variants", "en-GB")},
        "keyword": {("syöpä", "fi"), ("synthetic", "en")}, "publisher": {("Esimerkki", "fi")}}
    _, held = await catalogue.get("/api/datasets/GDI-FI-SYN-001")
    assert {key: value for key, value in held.items() if key in english} == english
    _, held = await catalogue.get("/api/datasets/GDI-FI-SYN-002")
    assert (held["titleLanguage"], held["keywordLanguages"]) == ("fi", {"syöpä": "fi"}), held
    for bad in ({"titleLanguage": "fi fi"}, {"keywordLanguages": {"syöpä": "1x"}},
                {"keywordLanguages": {"absent": "fi"}}):
        response, body = await catalogue.put(f"/api/nodes/{NODE}/datasets",
                                             {"records": [finnish | bad]}, TOKENS[NODE])
        assert response.status == 400, (bad, body)
        assert next(iter(bad)) in body["error"]["message"], body


async def test_a_request_the_catalogue_cannot_parse_gets_its_error_body(catalogue):
    """aiohttp answers a request it cannot parse (a search URL past its line limit, bytes
    that are no HTTP) and an Expect other than 100-continue itself, before any middleware,
    in plain text quoting what was sent ("Got more than 8190 bytes when reading: ..."). The
    node answers them in its own error form (node/http/server.py answer_unparsed); the
    catalogue kept aiohttp's text, which no client of its JSON API reads. Now its own error
    body, quoting nothing sent."""
    marker = "QUOTED" * 2_000
    async with catalogue.http.get(f"{catalogue.url}/api/datasets?q={marker}") as response:
        assert response.status == 400
        assert response.content_type == "application/json", await response.text()
        error = (await response.json())["error"]
        assert error["code"] == "invalid_request", error
        assert "QUOTED" not in error["message"], error
        assert error["message"].startswith("request: a request line longer than"), error
        assert "the catalogue" in error["message"] and "POST" not in error["message"], error
    port = int(catalogue.url.rsplit(":", 1)[1].split("/")[0])
    answer, _ = await send_slowly(port, (
        b"GET /api/datasets HTTP/1.1\r\nHost: x\r\nExpect: QUOTED-ok\r\n"
        b"Connection: close\r\n\r\n"), [], 0.1, 5)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b" 417 " in head.split(b"\r\n")[0], answer
    error = json.loads(body)["error"]
    assert error["code"] == "expectation_failed" and "QUOTED" not in error["message"], error
    # a body past the limit that waits to be asked for (100-continue) is refused, not asked
    answer, _ = await send_slowly(port, (
        f"PUT /api/nodes/{NODE}/datasets HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Content-Type: application/json\r\nContent-Length: 500000000\r\n\r\n").encode(),
        [], 0.1, 5)
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "too_large"
