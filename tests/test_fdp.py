"""The node's FAIR Data Point over real HTTP: a harvester's crawl from the root, every document
valid against the GDI SHACL shapes in Turtle and JSON-LD, IRIs equal to fetched URLs, content
negotiation, caching headers, the round trip RDF -> record, and failure modes (missing
metadata, broken database, hidden datasets)."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from math import ceil
from pathlib import Path
from urllib.parse import urljoin

import asyncpg
import pytest
from aiohttp import ClientResponse, ClientSession, web
from aiohttp.test_utils import TestServer
from pyshacl import validate
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from auth.access import AccessLevel
from beacon import store
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from catalogue.document_dates import note_contents
from catalogue.fdp import render
from catalogue.metadata import MetadataError, load_metadata
from catalogue.negotiation import RDF_XML, TURTLE
from catalogue.rdf import (
    HEALTHDCATAP,
    CatalogView,
    FdpSite,
    RdfError,
    contained,
    read_dataset,
    resource_graph,
)
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
    Agent,
    CatalogueRecord,
)
from node.app import create_app
from node.database import connect, create_pool
from node.http.app_keys import DATASETS
from node.http.fdp import fdp_routes
from node.ingest_request import make_request
from node.migrate import apply_migrations
from node.publication.records import record_for
from node.settings import DisclosureSettings, Settings
from synthetic_data.federation import write_federation
from tests.conftest import (
    OPEN_DISCLOSURE,
    free_port,
    node_database,
    serve_app,
    write_vcf_text,
)
from tests.shacl import gdi_shapes, shacl_violations

FDP_O = Namespace("https://w3id.org/fdp/fdp-o#")
BARE = "GDI-FI-BARE-001"                 # ingested without a metadata file
CONTROLLED = "GDI-FI-SYN-003"
FORMATS = {"text/turtle": "turtle", "application/ld+json": "json-ld",
           "application/rdf+xml": "xml"}

Node = Callable[..., Awaitable[tuple[ClientSession, Settings, asyncpg.Pool]]]
SH_RESULT_PATH = URIRef("http://www.w3.org/ns/shacl#resultPath")


@pytest.fixture(scope="session")
def shapes() -> Graph:
    return gdi_shapes()


def violations(graph: Graph, shapes: Graph) -> str:
    return shacl_violations(graph)


def violated_paths(graph: Graph, shapes: Graph) -> set[URIRef]:
    _, results, _ = validate(graph, shacl_graph=shapes)
    return set(results.objects(None, SH_RESULT_PATH))


def _vcf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "fdp-vcfs"


@pytest.fixture(scope="module")
async def loaded_db(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[str]:
    """One database for the module: the synthetic FI node's three datasets (PUBLIC,
    REGISTERED, CONTROLLED) from their metadata files, plus one ingested with a title only."""
    folder = _vcf_dir(tmp_path_factory)
    async with node_database(pg_server_url) as url:
        written = write_federation(folder, records=300, samples=4, seed=3, countries=("FI",))
        for dataset, _ in written:
            metadata = load_metadata(dataset.metadata_path)
            await ingest(url, make_request(dataset.spec.path, metadata.identifier,
                                           metadata=metadata, workers=1))
        await ingest(url, make_request(written[0][0].spec.path, BARE, title="Bare panel",
                                       workers=1))
        yield url


@pytest.fixture
async def fdp_node(loaded_db: str, tmp_path: Path) -> AsyncIterator[Node]:
    """start(**settings) -> (client, settings, pool): a node on a port chosen up front, so
    that with no public_base_url its base URL is the very address it listens on."""
    started: list[tuple[TestServer, ClientSession, asyncpg.Pool]] = []

    async def start(**changes: object) -> tuple[ClientSession, Settings, asyncpg.Pool]:
        port = free_port()
        settings = Settings(**{"disclosure": OPEN_DISCLOSURE, **changes},
                            database_url=loaded_db, data_dir=tmp_path / "node", port=port,
                            beacon_id="org.test.fdp", country="FI")
        pool = await create_pool(loaded_db, settings)
        server = TestServer(create_app(settings, pool), host="127.0.0.1", port=port)
        await server.start_server()
        client = ClientSession(base_url=f"http://127.0.0.1:{port}")
        started.append((server, client, pool))
        return client, settings, pool

    yield start
    for server, client, pool in started:
        await client.close()
        await server.close()
        await pool.close()


def http_date(value: str) -> int:
    """Seconds since the epoch; the node rounds Last-Modified up to the next whole second so a
    client's If-Modified-Since never predates the change it saw."""
    return int(parsedate_to_datetime(value).timestamp())


async def _rows(db_url: str) -> dict[str, store.DatasetRow]:
    conn = await connect(db_url)
    try:
        return {row.id: row for row in await store.list_datasets(conn)}
    finally:
        await conn.close()


async def fetch(client: ClientSession, url: str, accept: str = "text/turtle",
                **headers: str) -> tuple[ClientResponse, bytes]:
    async with client.get(url, headers={"Accept": accept, **headers}) as response:
        return response, await response.read()


# What a harvester deciding by date reads: the catalog's and the root's Last-Modified, their
# dct:modified and fdp-o:metadataModified, and how many datasets the catalog lists
Dates = tuple[int, int, datetime, datetime, int]


@asynccontextmanager
async def _fdp_node(url: str, tmp_path: Path,
                    **settings: object) -> AsyncIterator[tuple[ClientSession, web.Application]]:
    """A client of a node over `url` serving its FAIR Data Point on 127.0.0.1, and the
    node's application."""
    port = free_port()
    configured = Settings(**{"disclosure": OPEN_DISCLOSURE, **settings}, database_url=url,
                          port=port, data_dir=tmp_path / "node", beacon_id="org.test.fdp",
                          country="FI")
    pool = await create_pool(url, configured)
    app = create_app(configured, pool)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with ClientSession(base_url=f"http://127.0.0.1:{port}") as client:
            yield client, app
    finally:
        await server.close()
        await pool.close()


async def _dates(client: ClientSession) -> Dates:
    catalog, body = await fetch(client, "/fdp/catalog/org.test.fdp")
    graph = parse(body, "text/turtle", "http://127.0.0.1/fdp/catalog/x")
    root, root_body = await fetch(client, "/fdp")
    root_graph = parse(root_body, "text/turtle", "http://127.0.0.1/fdp")
    return (http_date(catalog.headers["Last-Modified"]), http_date(root.headers["Last-Modified"]),
            next(graph.objects(None, DCTERMS.modified)).toPython(),
            next(root_graph.objects(None, FDP_O.metadataModified)).toPython(),
            len(list(graph.objects(None, DCAT.dataset))))


async def _dates_once_listing(client: ClientSession, datasets: int) -> Dates:
    """The dates once the catalog lists `datasets` (the node hears of a change by NOTIFY)."""
    for _ in range(200):
        found = await _dates(client)
        if found[4] == datasets:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"the catalog still lists {found[4]} datasets, not {datasets}")


def _moved_forward(after: Dates, before: Dates) -> bool:
    return all(later > earlier for later, earlier in zip(after[:4], before[:4]))


def published(record: CatalogueRecord, read: CatalogueRecord) -> CatalogueRecord:
    """`record` dated as the one `read` from its document, when that is later: each node of
    this module's database listens on a port of its own, its base URL in every document,
    so a document is dated by the start of the node that published it first with this one's
    (catalogue/document_dates.py)."""
    assert read.modified is not None and record.modified is not None
    assert read.modified >= record.modified
    return record.model_copy(update={"modified": read.modified})


def parse(body: bytes, media_type: str, public_id: str) -> Graph:
    return Graph().parse(data=body, format=FORMATS[media_type], publicID=public_id)


async def crawl(client: ClientSession, settings: Settings, media_type: str
                ) -> dict[str, Graph]:
    """Breadth-first over ldp:contains from the root, as ckanext-fairdatapoint does."""
    root = f"{settings.base_url}/fdp"
    queue, graphs = [root], {}
    while queue:
        url = queue.pop(0)
        path = url.removeprefix(settings.base_url)
        assert path != url, f"{url} is not under the node's base URL {settings.base_url}"
        response, body = await fetch(client, path, media_type)
        assert response.status == 200, (url, response.status, body)
        assert response.content_type == media_type
        graphs[url] = parse(body, media_type, url)
        queue += [child for child in contained(graphs[url], url) if child not in graphs]
    return graphs


@pytest.mark.parametrize("media_type", list(FORMATS))
async def test_every_document_is_valid_gdi_metadata_at_its_own_url(fdp_node, loaded_db, shapes,
                                                                    media_type):
    client, settings, _ = await fdp_node()
    graphs = await crawl(client, settings, media_type)
    fdp = f"{settings.base_url}/fdp"
    rows = await _rows(loaded_db)
    expected = {fdp, f"{fdp}/catalog/org.test.fdp"} | {
        f"{fdp}/{kind}/{dataset}" for dataset in rows
        for kind in ("dataset", "distribution", "service")}
    assert set(graphs) == expected
    types = {"": FDP_O.FAIRDataPoint, "catalog": DCAT.Catalog, "dataset": DCAT.Dataset,
             "distribution": DCAT.Distribution, "service": DCAT.DataService}
    for url, graph in graphs.items():
        kind = url.removeprefix(fdp).lstrip("/").partition("/")[0]
        assert (URIRef(url), RDF.type, types[kind]) in graph, f"{url} is not typed {kind}"
        assert violations(graph, shapes) == "", url
    assert (URIRef(fdp), DCTERMS.title, None) in graphs[fdp]
    assert (URIRef(fdp), DCTERMS.publisher, None) in graphs[fdp]
    catalog = graphs[f"{fdp}/catalog/org.test.fdp"]
    assert {str(o) for o in catalog.objects(None, DCAT.dataset)} == {
        f"{fdp}/dataset/{d}" for d in rows}


@pytest.mark.parametrize("media_type", list(FORMATS))
async def test_read_back_record_equals_the_record_built_from_the_database(
        fdp_node, loaded_db, media_type):
    client, settings, _ = await fdp_node()
    for dataset, row in (await _rows(loaded_db)).items():
        url = f"{settings.base_url}/fdp/dataset/{dataset}"
        response, body = await fetch(client, f"/fdp/dataset/{dataset}", media_type)
        assert response.status == 200
        record = read_dataset(parse(body, media_type, url), url)
        assert record == published(record_for(row, settings), record)
        assert record.iri == url
        assert (record.number_of_records, record.number_of_unique_individuals) == (
            row.record_count, row.sample_count) == (300, 4)
        assert record.beacon_url == f"{settings.base_url}/api"
        assert record.issued == row.created_at and record.modified >= row.updated_at


async def test_published_counts_are_what_anonymous_callers_may_see(fdp_node, loaded_db):
    """The records are public: their counts are rounded as the Beacon's /datasets rounds
    them for anonymous callers (up to 5 by default). The exact sample count told anyone
    that a dataset held 4 people, CONTROLLED ones included. The number of records is left
    out under the anonymous floor, as /datasets leaves out `variantCount`: it counts the
    variants below the floor too, so two versions' counts told how many private variants
    a person added had brought (a review, 2026-12-05)."""
    client, settings, _ = await fdp_node(disclosure=DisclosureSettings())
    for dataset in await _rows(loaded_db):
        url = f"{settings.base_url}/fdp/dataset/{dataset}"
        response, body = await fetch(client, f"/fdp/dataset/{dataset}")
        assert response.status == 200
        graph = parse(body, "text/turtle", url)
        record = read_dataset(graph, url)
        assert (record.number_of_records, record.number_of_unique_individuals) == (None, 5)
        assert not list(graph.objects(None, HEALTHDCATAP.numberOfRecords))




async def test_a_start_hiding_the_controlled_datasets_moves_the_dates_forward(
        pg_server_url, loaded_db, tmp_path, tmp_path_factory):
    """A node started again with hide_controlled_datasets drops its CONTROLLED datasets
    from the FAIR Data Point, no row deleted: the catalog and the root kept the date of the
    newest dataset still shown, so a harvester deciding by the date kept the datasets the
    operator had just hidden (migration 0033)."""
    fi = _vcf_dir(tmp_path_factory) / "fi"
    async with node_database(pg_server_url) as url:
        for dataset, vcf, level in (("GDI-FI-HID-001", "GDI-FI-SYN-001.vcf.gz", "CONTROLLED"),
                                    ("GDI-FI-NEW-001", "GDI-FI-SYN-002.vcf.gz", "PUBLIC")):
            await ingest(url, make_request(fi / vcf, dataset, title=dataset, workers=1,
                                           access_level=level))

        async def dates(hide: bool) -> Dates:       # one base URL: no other change
            async with _fdp_node(url, tmp_path, hide_controlled_datasets=hide,
                                 public_base_url="https://fi.example.org") as (client, _):
                return await _dates(client)

        before = await dates(hide=False)
        assert before[4] == 2
        await asyncio.sleep(1.1)           # Last-Modified has whole seconds
        after = await dates(hide=True)
        assert after[4] == 1
        assert _moved_forward(after, before), (before, after)
        assert await dates(hide=True) == after      # the same setting again: nothing new


async def test_a_sites_only_dataset_publishes_no_number_of_individuals(pg_server_url, tmp_path,
                                                                       shapes):
    """A sites-only VCF's allele counts come from people it does not name (AN=2000 here):
    its sample count, 0, was published as the dataset's number of unique individuals,
    telling every harvester that it held nobody. It is left out, as HealthDCAT-AP allows."""
    header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
              '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">',
              '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    vcf = write_vcf_text(tmp_path / "sites.vcf", "\n".join(
        [*header, "chr1\t100\t.\tA\tG\t.\tPASS\tAC=30;AN=2000"]) + "\n")
    async with node_database(pg_server_url) as url:
        await ingest(url, make_request(vcf, "GDI-FI-SITES-001", access_level="PUBLIC",
                                       workers=1))
        row = (await _rows(url))["GDI-FI-SITES-001"]
    assert row.sample_count == 0
    settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=url,
                        public_base_url="https://n.example.org")
    record = record_for(row, settings)
    assert record.number_of_unique_individuals is None
    site = FdpSite(base_url="https://n.example.org/fdp", title="t", description="d",
                   publisher=record.publisher,
                   catalogs=(CatalogView("c", "t", "d", record.publisher, (record,)),))
    graph = resource_graph(site, "dataset/GDI-FI-SITES-001")
    assert not list(graph.objects(None, HEALTHDCATAP.numberOfUniqueIndividuals))
    assert violations(graph, shapes) == ""
    assert read_dataset(graph, record.iri) == record

async def test_metadata_file_properties_and_node_defaults_reach_the_record(fdp_node, loaded_db):
    client, settings, _ = await fdp_node(organisation_name="Operator Oy",
                                      contact_url="mailto:desk@operator.example.fi")
    rows = await _rows(loaded_db)
    synthetic = record_for(rows["GDI-FI-SYN-001"], settings)
    assert synthetic.publisher == Agent(name="Synthetic Genomes Finland")
    assert synthetic.creator == Agent(name="Synthetic Biobank Helsinki")
    assert synthetic.contact_point.email == "beacon@fi.synthetic-genomes.example.org"
    assert (synthetic.country, synthetic.assembly, synthetic.access_rights) == (
        "FI", "GRCh38", "PUBLIC")
    assert "allele frequency" in synthetic.keywords
    bare = record_for(rows[BARE], settings)
    assert bare.publisher == bare.creator == Agent(name="Operator Oy")
    assert bare.title == "Bare panel" and bare.title in bare.description
    assert bare.contact_point.email == "desk@operator.example.fi"
    assert bare.access_rights == "NON_PUBLIC"          # no file, no flag: CONTROLLED
    _, body = await fetch(client, f"/fdp/dataset/{BARE}")
    url = f"{settings.base_url}/fdp/dataset/{BARE}"
    read = read_dataset(parse(body, "text/turtle", url), url)
    assert read == published(bare, read)


# The metadata file's names of the four values ingest once stored under their Python names
DOCUMENTED = {"contactEmail": "contact_email", "contactName": "contact_name",
              "healthCategories": "health_categories",
              "applicableLegislation": "applicable_legislation"}


async def test_datasets_show_the_metadata_files_names(fdp_node, loaded_db):
    """A dataset loaded from its metadata file (load_metadata and make_request, as `gdi-node
    ingest --metadata` does) is listed by /api/datasets under the file's names, which
    docs/catalogue.md documents and the web page reads (`info.contactEmail`: its mailto:
    link); before, these four were shown under their Python names and the link never
    appeared. The healthCategories dataset filter reads the same name."""
    client, _, _ = await fdp_node()
    async with client.get("/api/datasets") as response:
        listed = {d["id"]: d["info"] for d in (await response.json())["response"]["collections"]}
    synthetic = listed["GDI-FI-SYN-001"]
    assert synthetic["contactEmail"] == "beacon@fi.synthetic-genomes.example.org"
    assert synthetic["contactName"] and synthetic["healthCategories"]
    assert synthetic["applicableLegislation"]
    for info in listed.values():
        assert not set(DOCUMENTED.values()) & set(info), info
    genomic = {"query": {"filters": [{"id": "healthCategories", "operator": "=",
                                      "value": "HealthCategoryHumanGenomic"}]}}
    async with client.post("/api/datasets", json=genomic) as response:
        found = {d["id"] for d in (await response.json())["response"]["collections"]}
    assert found == set(listed) - {BARE}            # the bare dataset states no category


async def test_metadata_stored_under_python_names_is_renamed_by_its_migration(pg_server_url,
                                                                              tmp_path):
    """A database whose datasets were loaded before the fix holds those four values under
    their Python names; its migration (0017) renames them, keeping a value already stated
    under the file's name, so that the API and the page show one name whatever the path."""
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(COMPLETE | {"contactEmail": "desk@biobank.example.fi",
                                           "contactName": "Desk"}))
    loaded = load_metadata(path)
    before = loaded.model_dump(mode="json", exclude={      # what ingest stored before the fix
        "identifier", "title", "description", "access_level", "assembly",
        "metadata_language"})                               # a later field
    later = {"metadataLanguage"}
    assert set(DOCUMENTED.values()) <= set(before)
    vcf = write_vcf_text(tmp_path / "one.vcf", (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=248956422>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\n"))
    both = "GDI-FI-SYN-002"             # stated under both names: the file's name is kept
    async with node_database(pg_server_url) as url:
        for dataset_id, metadata in ((loaded.identifier, before),
                                     (both, {**before, "contactEmail": "new@biobank.example.fi"})):
            await ingest(url, IngestRequest(vcf, dataset_id, GRCH38, AccessLevel.PUBLIC, "T",
                                            metadata=metadata, workers=1))
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("DELETE FROM schema_migrations WHERE name = 'metadata_names'")
            assert [m.name for m in await apply_migrations(conn)] == ["metadata_names"]
        finally:
            await conn.close()
        rows = await _rows(url)
    expected = {k: v for k, v in loaded.extra_metadata().items() if k not in later}
    assert rows[loaded.identifier].metadata == expected
    assert rows[both].metadata == {**expected, "contactEmail": "new@biobank.example.fi"}


async def test_a_dataset_whose_stored_metadata_no_longer_holds_is_left_out(fdp_node, loaded_db,
                                                                           caplog):
    """Metadata stored before a rule that refuses it now (a theme IRI RDF cannot write, which
    ingest once took) leaves that dataset out of the FAIR Data Point, logged; before, every
    document of the node that showed it was a 500."""
    conn = await connect(loaded_db)                    # its jsonb codec takes Python values
    stored = await conn.fetchval("SELECT metadata FROM datasets WHERE id = $1", CONTROLLED)
    try:
        await conn.execute("UPDATE datasets SET metadata = $2 WHERE id = $1", CONTROLLED,
                           {**stored, "themes": [HEALTH_THEME, HEALTH_THEME + " X"]})
        client, settings, _ = await fdp_node()
        graphs = await crawl(client, settings, "text/turtle")     # every document a 200
    finally:
        await conn.execute("UPDATE datasets SET metadata = $2 WHERE id = $1", CONTROLLED,
                           stored)
        await conn.close()
    datasets = {url.rsplit("/", 1)[1] for url in graphs if "/dataset/" in url}
    assert CONTROLLED not in datasets and len(datasets) == len(await _rows(loaded_db)) - 1
    assert any(CONTROLLED in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


async def test_configured_public_base_url_names_every_resource(fdp_node, loaded_db, shapes):
    public = "https://gdi.example.org/fi-node"
    client, settings, _ = await fdp_node(public_base_url=public + "/")
    assert settings.base_url == public
    graphs = await crawl(client, settings, "text/turtle")
    assert len(graphs) == 2 + 3 * len(await _rows(loaded_db))
    bound = f"http://127.0.0.1:{settings.port}"
    for url, graph in graphs.items():
        assert url.startswith(public + "/fdp")
        assert not [t for triple in graph for t in triple if str(t).startswith(bound)]
    dataset = f"{public}/fdp/dataset/GDI-FI-SYN-001"
    record = read_dataset(graphs[dataset], dataset)
    assert record.iri == dataset and record.beacon_url == public + "/api"
    assert read_dataset(graphs[dataset], dataset.replace(public, bound)) is None


@pytest.mark.parametrize("accept,expected", [
    (None, "text/turtle"),
    ("*/*", "text/turtle"),
    ("text/turtle", "text/turtle"),
    ("application/ld+json", "application/ld+json"),
    ("application/rdf+xml", "application/rdf+xml"),       # a DCAT-AP harvester's first
    ("application/rdf+xml, text/turtle;q=0.9", "application/rdf+xml"),
    ("text/turtle;q=0.5, application/ld+json;q=0.9", "application/ld+json"),
    ("application/ld+json;q=0.4, text/turtle", "text/turtle"),
    ("application/*;q=0.8, text/turtle;q=0.1", "application/ld+json"),
    ("text/*, application/ld+json;q=0", "text/turtle"),
    ("text/html, */*;q=0.1", "text/turtle"),
    ("text/html", 406),
    ("text/turtle;q=0, application/ld+json;q=0", 406),
    ("application/json", 406),
])
async def test_content_negotiation_by_accept(fdp_node, accept, expected):
    client, _, _ = await fdp_node()
    headers = {} if accept is None else {"Accept": accept}
    async with client.get("/fdp/dataset/GDI-FI-SYN-001", headers=headers,
                          skip_auto_headers=["Accept"]) as response:
        body = await response.read()
        assert response.headers["Vary"] == "Accept"
        if expected == 406:
            assert response.status == 406 and b"text/turtle" in body
            return
        assert response.status == 200 and response.content_type == expected
        assert len(parse(body, expected, "http://x/")) > 10


@pytest.mark.parametrize("query,accept,status,expected", [
    ("ttl", "application/ld+json", 200, "text/turtle"),
    ("jsonld", "text/turtle", 200, "application/ld+json"),
    ("jsonld", "text/html", 200, "application/ld+json"),
    ("rdf", "text/turtle", 200, "application/rdf+xml"),
    ("xml", "text/turtle", 400, "text/plain"),
])
async def test_format_parameter_wins_over_accept(fdp_node, query, accept, status, expected):
    client, _, _ = await fdp_node()
    response, body = await fetch(client, f"/fdp?format={query}", accept)
    assert (response.status, response.content_type) == (status, expected)
    assert response.headers["Vary"] == "Accept"
    if status == 400:
        assert b"format" in body


async def test_etag_304_and_last_modified_follow_the_data(fdp_node, loaded_db,
                                                          tmp_path_factory):
    client, _, _ = await fdp_node()
    first, body = await fetch(client, "/fdp/catalog/org.test.fdp")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    latest = max(r.updated_at for r in (await _rows(loaded_db)).values())
    # (or the start of this node, its base URL in every document: `published`)
    assert http_date(first.headers["Last-Modified"]) >= ceil(latest.timestamp())
    again, same = await fetch(client, "/fdp/catalog/org.test.fdp")
    assert (again.headers["ETag"], same) == (etag, body)
    cached, nothing = await fetch(client, "/fdp/catalog/org.test.fdp", **{"If-None-Match": etag})
    assert (cached.status, nothing, cached.headers["ETag"]) == (304, b"", etag)
    assert cached.headers["Vary"] == "Accept"
    other, _ = await fetch(client, "/fdp/catalog/org.test.fdp", **{"If-None-Match": '"stale"'})
    assert other.status == 200
    as_jsonld, _ = await fetch(client, "/fdp/catalog/org.test.fdp", "application/ld+json",
                               **{"If-None-Match": etag})
    assert as_jsonld.status == 200 and as_jsonld.headers["ETag"] != etag

    dataset_doc, _ = await fetch(client, f"/fdp/dataset/{BARE}")
    bare_before = (await _rows(loaded_db))[BARE].updated_at
    assert http_date(dataset_doc.headers["Last-Modified"]) >= ceil(bare_before.timestamp())
    vcf = _vcf_dir(tmp_path_factory) / "fi" / "GDI-FI-SYN-002.vcf.gz"
    await ingest(loaded_db, make_request(vcf, BARE, title="Bare panel", workers=1))
    bare_after = (await _rows(loaded_db))[BARE].updated_at
    assert bare_after > bare_before
    changed, _ = await fetch(client, "/fdp/catalog/org.test.fdp", **{"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag
    assert http_date(changed.headers["Last-Modified"]) == ceil(bare_after.timestamp())


async def test_a_date_no_http_date_can_write_leaves_out_last_modified_not_the_document():
    """aiohttp, given the date 9999-12-31T23:59:59.5Z, rounded it up past HTTP's last year and
    raised while the answer was being made, after the rendering's guard: the document was a
    500. A record's dates are bounded now (catalogue/record.py); a catalog's date of its last
    removal comes from a database, and whatever it says the document is served, without
    Last-Modified."""
    last = datetime(9999, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    port = free_port()
    publisher = Agent(name="P")
    site = FdpSite(f"http://127.0.0.1:{port}/fdp", "t", "d", publisher,
                   (CatalogView("main", "t", "d", publisher, (), changed=last),))

    async def site_for(request: web.Request) -> FdpSite:
        return site

    app = web.Application()
    app.add_routes(fdp_routes(site_for))
    async with AsyncExitStack() as stack, ClientSession() as client:
        base = await serve_app(stack, app, port)
        for path in ("/fdp", "/fdp/catalog/main"):
            async with client.get(base + path, headers={"Accept": "text/turtle"}) as response:
                assert response.status == 200, path
                assert "Last-Modified" not in response.headers
                graph = Graph().parse(data=await response.text(), format="turtle")
            assert Literal(last) in set(graph.objects()), path


async def test_unknown_resources_are_plain_404_and_root_slash_redirects(fdp_node):
    client, _, _ = await fdp_node()
    for path in ("/fdp/dataset/GDI-XX-NONE-001", "/fdp/catalog/elsewhere",
                 "/fdp/distribution/GDI-XX-NONE-001", "/fdp/service/nope"):
        response, body = await fetch(client, path)
        assert response.status == 404 and response.content_type == "text/plain", path
        assert path.encode() in body
    async with client.get("/fdp/", allow_redirects=False) as response:
        assert response.status == 308 and response.headers["Location"] == "../fdp"


async def test_the_root_slash_redirect_stays_under_a_proxys_path_and_keeps_the_query(
        fdp_node):
    """Behind a proxy serving the node under a path (public base URL
    https://gdi.example.org/fi-node), `/fdp/` redirected to `/fdp`, which the client
    resolved to https://gdi.example.org/fdp, outside the node; and `?format=jsonld` was
    dropped, so the root came back as Turtle."""
    public = "https://gdi.example.org/fi-node"
    client, _, _ = await fdp_node(public_base_url=public)
    for query in ("", "?format=jsonld"):
        async with client.get("/fdp/" + query, allow_redirects=False) as response:
            assert response.status == 308
            assert urljoin(f"{public}/fdp/{query}", response.headers["Location"]) == \
                f"{public}/fdp{query}"
    async with client.get("/fdp/?format=jsonld") as response:
        assert response.status == 200 and response.content_type == "application/ld+json"


async def test_hidden_controlled_datasets_are_not_published(fdp_node, loaded_db):
    client, settings, _ = await fdp_node(hide_controlled_datasets=True)
    graphs = await crawl(client, settings, "text/turtle")
    fdp = f"{settings.base_url}/fdp"
    assert f"{fdp}/dataset/GDI-FI-SYN-001" in graphs
    assert not any(CONTROLLED in url or BARE in url for url in graphs)   # both CONTROLLED
    for kind in ("dataset", "distribution", "service"):
        response, _ = await fetch(client, f"/fdp/{kind}/{CONTROLLED}")
        assert response.status == 404
    rows = await _rows(loaded_db)
    assert rows[CONTROLLED].access_level == AccessLevel.CONTROLLED


async def test_broken_database_answers_503_never_an_empty_200(fdp_node, caplog):
    """An unavailable database is the outage's, said in a line per request without a
    traceback (each logged one with its traceback: a probe, `pg_ctl stop`)."""
    client, _, pool = await fdp_node()
    await pool.close()          # before any request has filled the node's dataset cache
    caplog.set_level(logging.INFO)
    for accept in FORMATS:
        response, body = await fetch(client, "/fdp", accept)
        assert response.status == 503 and response.content_type == "text/plain"
        assert body.strip() and response.headers["Retry-After"] == "30"
        assert response.headers["Vary"] == "Accept"
    said = [r for r in caplog.records if r.name == "node.http.fdp"]
    assert said and not [r for r in said if r.exc_info or r.levelno >= logging.ERROR]


COMPLETE = {"identifier": "GDI-FI-SYN-001", "title": "T", "description": "D.",
            "publisher": "P"}


@pytest.mark.parametrize("content,named", [
    ({k: v for k, v in COMPLETE.items() if k != "publisher"}, "publisher"),
    (COMPLETE | {"publisher": None}, "publisher"),
    ({k: v for k, v in COMPLETE.items() if k != "description"}, "description"),
    (COMPLETE | {"description": "  "}, "description"),
    (COMPLETE | {"title": ""}, "title"),
    (COMPLETE | {"healthCategories": ["http://example.org/cancer"]}, "healthCategories"),
    (COMPLETE | {"applicableLegislation": ["EHDS"]}, "applicableLegislation"),
    (COMPLETE | {"themes": ["http://publications.europa.eu/resource/authority/data-theme/ECON"]},
     "themes"),
    (COMPLETE | {"contactEmail": "nobody@localhost"}, "contactEmail"),
    (COMPLETE | {"country": "XX"}, "country"),
    # loaded, then every document showing them was a 500: RDF cannot write them as IRIs
    (COMPLETE | {"themes": ["http://publications.europa.eu/resource/authority/data-theme/HEAL",
                            "http://publications.europa.eu/resource/authority/data-theme/A B"]},
     "themes"),
    (COMPLETE | {"contactEmail": "desk>@biobank.example.fi"}, "contactEmail"),
    (COMPLETE | {"contactEmail": 'desk@bio"bank.example.fi'}, "contactEmail"),
    # loaded, and then refused by the catalogue: past what its search index takes
    (COMPLETE | {"title": "t" * (MAX_TITLE + 1)}, "title"),
    (COMPLETE | {"description": "d" * (MAX_DESCRIPTION + 1)}, "description"),
    (COMPLETE | {"keywords": ["k"] * (MAX_KEYWORDS + 1)}, "keywords"),
    (COMPLETE | {"keywords": ["ok", "k" * (MAX_KEYWORD + 1)]}, "keywords.1"),
    (COMPLETE | {"publisher": "p" * (MAX_NAME + 1)}, "publisher"),
    (COMPLETE | {"creator": "c" * (MAX_NAME + 1)}, "creator"),
    (COMPLETE | {"contactName": "c" * (MAX_NAME + 1)}, "contactName"),
    (COMPLETE | {"contactEmail": "d" * 250 + "@fi.example"}, "contactEmail"),
    (COMPLETE | {"applicableLegislation": ["http://eli.example/" + "x" * MAX_IRI]},
     "applicableLegislation.0"),
    (COMPLETE | {"applicableLegislation": [f"http://eli.example/{i}"
                                           for i in range(MAX_IRIS + 1)]},
     "applicableLegislation"),
    (COMPLETE | {"themes": [HEALTH_THEME] + [f"{EU_DATA_THEME}T{i}" for i in range(MAX_IRIS)]},
     "themes"),
    # loaded, and the ingest failed with `str is not valid UTF-8`, naming neither
    (COMPLETE | {"keywords": ["ok", "bad \ud800"]}, "keywords.1: holds a lone surrogate"),
    # a tag RDF cannot write: every document showing the dataset would be a 500
    (COMPLETE | {"metadataLanguage": "Finnish language"}, "metadataLanguage"),
    (COMPLETE | {"note \udfff": "x"},
     r"object: a key holds a lone surrogate \(U\+DFFF\).*'note \\udfff'"),
])
def test_metadata_file_with_a_missing_or_bad_property_is_refused_naming_it(tmp_path, content,
                                                                           named):
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(content))
    with pytest.raises(MetadataError, match=rf"{path}: (.*; )?{named}"):
        load_metadata(path)


@pytest.mark.parametrize("content,said", [
    (COMPLETE | {"contactEmail": "nobody"},
     "contactEmail: 'nobody' is not an email address with a domain"),
    (COMPLETE | {"contactEmail": "desk@biobank.example.fi "},
     "contactEmail: 'desk@biobank.example.fi ' is not an email address with a domain"),
    (COMPLETE | {"country": "fi"},
     "country: 'fi' is not an ISO 3166-1 alpha-2 code in capitals"),
    (COMPLETE | {"country": "Finland"},
     "country: 'Finland' is not an ISO 3166-1 alpha-2 code in capitals"),
])
def test_a_malformed_email_or_country_is_refused_saying_what_is_expected(tmp_path, content,
                                                                          said):
    """The operator is told what to write, not shown the pattern the value failed: a
    contactEmail without a domain was refused as `String should match pattern
    '^[^@:\\s\\x00-\\x20...`, a regular expression of a hundred characters, and `fi` as
    `String should match pattern '^[A-Z]{2}$'` (found walking the operator's docs)."""
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(content))
    with pytest.raises(MetadataError) as refused:
        load_metadata(path)
    assert said in str(refused.value)
    assert "should match pattern" not in str(refused.value)


def test_metadata_file_defaults_are_the_gdi_shapes_defaults(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(COMPLETE))
    loaded = load_metadata(path)
    assert loaded.health_categories == ["http://data.gdi.eu/core/p2/HealthCategoryHumanGenomic"]
    assert loaded.applicable_legislation == ["http://data.europa.eu/eli/reg/2025/327/oj"]
    assert loaded.themes == ["http://publications.europa.eu/resource/authority/data-theme/HEAL"]
    assert loaded.creator is None         # the record takes the publisher


async def _a_dataset_graph(loaded_db: str) -> tuple[Graph, str, Settings]:
    settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=loaded_db, public_base_url="https://n.example.org")
    record = record_for((await _rows(loaded_db))["GDI-FI-SYN-001"], settings)
    site = FdpSite(base_url="https://n.example.org/fdp", title="t", description="d",
                   publisher=record.publisher,
                   catalogs=(CatalogView("c", "t", "d", record.publisher, (record,)),))
    return resource_graph(site, "dataset/GDI-FI-SYN-001"), record.iri, settings


async def test_rdf_xml_holds_text_xml_cannot(loaded_db, shapes):
    """A record's text may hold characters XML 1.0 cannot (a vertical tab pasted from a word
    processor): Turtle escapes them, and rdflib wrote them into RDF/XML as they were, a
    document no XML parser reads. There each is U+FFFD; Turtle keeps the text as it is."""
    _, _, settings = await _a_dataset_graph(loaded_db)
    record = record_for((await _rows(loaded_db))["GDI-FI-SYN-001"], settings).model_copy(
        update={"title": "Cohort\x01 one", "description": "Line\x0bbreak \ufffe end"})
    site = FdpSite(base_url="https://n.example.org/fdp", title="t", description="d",
                   publisher=record.publisher,
                   catalogs=(CatalogView("c", "t", "d", record.publisher, (record,)),))
    path = "dataset/GDI-FI-SYN-001"
    xml = render(site, path, RDF_XML)
    graph = Graph().parse(data=xml.body, format="xml", publicID=record.iri)
    read = read_dataset(graph, record.iri)
    assert (read.title, read.description) == ("Cohort\ufffd one", "Line\ufffdbreak \ufffd end")
    assert violations(graph, shapes) == ""
    turtle = Graph().parse(data=render(site, path, TURTLE).body, format="turtle")
    assert read_dataset(turtle, record.iri) == record


@pytest.mark.parametrize("predicate", [DCTERMS.accessRights, DCTERMS.publisher,
                                       DCTERMS.creator, HEALTHDCATAP.healthCategory,
                                       DCTERMS.identifier, DCAT.theme, DCTERMS.description])
async def test_validation_and_reader_catch_a_missing_required_property(loaded_db, shapes,
                                                                       predicate):
    graph, url, _ = await _a_dataset_graph(loaded_db)
    assert violations(graph, shapes) == ""
    graph.remove((URIRef(url), predicate, None))
    assert violated_paths(graph, shapes) == {predicate}
    with pytest.raises(RdfError, match=f"missing {graph.qname(predicate)}"):
        read_dataset(graph, url)


async def test_validation_catches_malformed_values(loaded_db, shapes):
    graph, url, _ = await _a_dataset_graph(loaded_db)
    subject = URIRef(url)
    graph.set((subject, DCTERMS.identifier, Literal("FI-SYN-1")))
    assert "pattern" in violations(graph, shapes).lower()
    graph, url, _ = await _a_dataset_graph(loaded_db)
    contact = graph.value(URIRef(url), DCAT.contactPoint)
    graph.set((contact, URIRef("http://www.w3.org/2006/vcard/ns#hasEmail"),
               Literal("someone@example.org")))
    assert violations(graph, shapes)
    with pytest.raises(RdfError, match="hasEmail"):
        read_dataset(graph, url)


async def test_a_record_shown_on_another_site_keeps_its_node_iri(loaded_db, shapes):
    graph, node_iri, _ = await _a_dataset_graph(loaded_db)
    record = read_dataset(graph, node_iri)
    catalogue = FdpSite(base_url="https://catalogue.example.org/fdp", title="c",
                        description="d", publisher=record.publisher,
                        catalogs=(CatalogView("fi", "t", "d", record.publisher, (record,)),))
    shown = resource_graph(catalogue, "dataset/GDI-FI-SYN-001")
    shown_at = "https://catalogue.example.org/fdp/dataset/GDI-FI-SYN-001"
    assert (URIRef(shown_at), DCTERMS.source, URIRef(node_iri)) in shown
    assert read_dataset(shown, shown_at, shown_elsewhere=True) == record
    assert violations(shown, shapes) == ""
    assert resource_graph(catalogue, "dataset/GDI-FI-SYN-002") is None
    assert contained(resource_graph(catalogue, "catalog/fi"),
                     "https://catalogue.example.org/fdp/catalog/fi") == [shown_at]


async def test_removing_the_newest_dataset_moves_the_dates_forward(pg_server_url, loaded_db,
                                                                  tmp_path, tmp_path_factory):
    """The catalog's dct:modified, the root's fdp-o:metadataModified and their Last-Modified
    were the latest `modified` of the datasets shown, so removing the newest moved them back
    although the documents had just changed: a harvester deciding by the date missed it."""
    fi = _vcf_dir(tmp_path_factory) / "fi"
    async with node_database(pg_server_url) as url:
        for dataset, vcf in (("GDI-FI-OLD-001", "GDI-FI-SYN-001.vcf.gz"),
                             ("GDI-FI-NEW-001", "GDI-FI-SYN-002.vcf.gz")):
            await ingest(url, make_request(fi / vcf, dataset, title=dataset, workers=1))
        async with _fdp_node(url, tmp_path) as (client, _):
            before = await _dates(client)
            assert before[4] == 2
            await asyncio.sleep(1.1)       # Last-Modified has whole seconds
            conn = await connect(url)
            try:
                assert await store.delete_dataset(conn, "GDI-FI-NEW-001")
            finally:
                await conn.close()
            after = await _dates_once_listing(client, 1)
            assert _moved_forward(after, before), (before, after)


async def test_hiding_the_newest_dataset_by_ingesting_it_controlled_moves_the_dates_forward(
        pg_server_url, loaded_db, tmp_path, tmp_path_factory):
    """With hide_controlled_datasets, a dataset ingested again as CONTROLLED leaves the FAIR
    Data Point, its row kept: the catalog and the root took the date of the newest dataset
    still shown, older than before, so a harvester deciding by the date kept the hidden
    dataset (migration 0032)."""
    fi = _vcf_dir(tmp_path_factory) / "fi"
    async with node_database(pg_server_url) as url:
        for dataset, vcf in (("GDI-FI-OLD-001", "GDI-FI-SYN-001.vcf.gz"),
                             ("GDI-FI-NEW-001", "GDI-FI-SYN-002.vcf.gz")):
            await ingest(url, make_request(fi / vcf, dataset, title=dataset, workers=1,
                                           access_level="PUBLIC"))
        async with _fdp_node(url, tmp_path, hide_controlled_datasets=True) as (client, _):
            before = await _dates(client)
            assert before[4] == 2
            await asyncio.sleep(1.1)       # Last-Modified has whole seconds
            await ingest(url, make_request(fi / "GDI-FI-SYN-002.vcf.gz", "GDI-FI-NEW-001",
                                           title="GDI-FI-NEW-001", workers=1,
                                           access_level="CONTROLLED"))
            after = await _dates_once_listing(client, 1)
            assert _moved_forward(after, before), (before, after)


async def test_removing_a_hidden_dataset_leaves_the_fair_data_point_as_it_was(
        pg_server_url, loaded_db, tmp_path, tmp_path_factory):
    """With hide_controlled_datasets, a CONTROLLED dataset is on no document of the FAIR Data
    Point, and its removal changes none: every removal was noted (migration 0018), so the
    catalog's and the root's dates, Last-Modified and ETag moved, telling every anonymous
    reader that a hidden dataset had been there until then (migration 0036)."""
    fi = _vcf_dir(tmp_path_factory) / "fi"
    async with node_database(pg_server_url) as url:
        for dataset, vcf, level in (("GDI-FI-OLD-001", "GDI-FI-SYN-001.vcf.gz", "PUBLIC"),
                                    ("GDI-FI-HID-001", "GDI-FI-SYN-002.vcf.gz", "CONTROLLED")):
            await ingest(url, make_request(fi / vcf, dataset, title=dataset, workers=1,
                                           access_level=level))
        async with _fdp_node(url, tmp_path, hide_controlled_datasets=True) as (client, app):
            async def documents() -> list[tuple[str, str, bytes]]:
                shown = []
                for path in ("/fdp", "/fdp/catalog/org.test.fdp"):
                    response, body = await fetch(client, path)
                    shown.append((response.headers["ETag"],
                                  response.headers["Last-Modified"], body))
                return shown

            before = await documents()
            assert b"GDI-FI-HID-001" not in b"".join(body for *_, body in before)
            await asyncio.sleep(1.1)       # Last-Modified has whole seconds
            conn = await connect(url)
            try:
                assert await store.delete_dataset(conn, "GDI-FI-HID-001")
            finally:
                await conn.close()
            for _ in range(200):                   # the node hears of it by NOTIFY
                if "GDI-FI-HID-001" not in [r.id for r in await app[DATASETS].all()]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the node never heard of the removal")
            assert await documents() == before


ONE = "GDI-FI-ONE-001"
DOCUMENTS = ("", "/catalog/org.test.fdp", f"/dataset/{ONE}", f"/distribution/{ONE}",
             f"/service/{ONE}")
Published = dict[str, tuple[str, int, object]]


async def _published(client: ClientSession) -> Published:
    """Each document's ETag, Last-Modified and the date it states (dct:modified, the root's
    fdp-o:metadataModified; None for a distribution or a service, which state none)."""
    published = {}
    for path in DOCUMENTS:
        response, body = await fetch(client, "/fdp" + path)
        assert response.status == 200, path
        graph = parse(body, "text/turtle", "http://127.0.0.1/fdp" + path)
        stated = next(iter([*graph.objects(None, DCTERMS.modified),
                            *graph.objects(None, FDP_O.metadataModified)]), None)
        published[path] = (response.headers["ETag"],
                           http_date(response.headers["Last-Modified"]),
                           None if stated is None else stated.toPython())
    return published


def _moved(after: Published, before: Published) -> set[str]:
    """The documents whose ETag, Last-Modified and stated date all moved; every other one
    is asserted unchanged."""
    moved = set()
    for path, (etag, last_modified, stated) in after.items():
        was = before[path]
        if after[path] == was:
            continue
        assert etag != was[0] and last_modified > was[1], (path, was, after[path])
        assert stated is None or stated > was[2], (path, was, after[path])
        moved.add(path)
    return moved


async def test_a_change_of_what_the_documents_say_moves_the_dates_of_those_it_changes(
        pg_server_url, loaded_db, tmp_path, tmp_path_factory, shapes):
    """A document was dated by its datasets alone (their versions, removals): a node started
    again with another count_step (the documents' rounded counts), organisation (their
    publisher), name (the FAIR Data Point's and catalog's titles) or base URL (every IRI)
    served the new metadata under the old dct:modified, Last-Modified, and a harvester
    reading only what changed by date kept the old. Each moves the dates of the documents
    it changes, the catalog's and the root's with their datasets', and no other; a start
    with the same settings moves none (migration 0038)."""
    fi = _vcf_dir(tmp_path_factory) / "fi"
    async with node_database(pg_server_url) as url:
        await ingest(url, make_request(fi / "GDI-FI-SYN-001.vcf.gz", ONE, title=ONE,
                                       workers=1, access_level="PUBLIC"))
        settings: dict[str, object] = {"public_base_url": "https://fi.example.org"}

        async def published(**changes: object) -> Published:
            settings.update(changes)
            async with _fdp_node(url, tmp_path, **settings) as (client, _):
                return await _published(client)

        first = await published()
        assert await published() == first                   # a start with no change
        rounded = OPEN_DISCLOSURE.anonymous.model_copy(update={"count_step": 5})
        changes: list[tuple[dict[str, object], set[str]]] = [
            ({"disclosure": OPEN_DISCLOSURE.model_copy(update={"anonymous": rounded})},
             {"", "/catalog/org.test.fdp", f"/dataset/{ONE}"}),
            ({"organisation_name": "Operator Oy"},
             {"", "/catalog/org.test.fdp", f"/dataset/{ONE}"}),
            ({"beacon_name": "Another name"}, {"", "/catalog/org.test.fdp"}),
            ({"public_base_url": "https://beacon.fi.example.org"}, set(DOCUMENTS))]
        before = first
        for change, moved in changes:
            await asyncio.sleep(1.1)           # Last-Modified has whole seconds
            after = await published(**change)
            assert _moved(after, before) == moved, change
            assert await published() == after, change       # and started again: nothing
            before = after
        async with _fdp_node(url, tmp_path, **settings) as (client, _):
            _, body = await fetch(client, f"/fdp/dataset/{ONE}")
        iri = f"https://beacon.fi.example.org/fdp/dataset/{ONE}"
        assert violations(parse(body, "text/turtle", iri), shapes) == ""


async def test_if_modified_since_gets_304_only_while_nothing_changed(
        pg_server_url, loaded_db, tmp_path, tmp_path_factory):
    """A harvester asking with If-Modified-Since (the Last-Modified it read) got the whole
    document each time, If-Modified-Since never evaluated: it gets 304 while the document
    is unchanged, a node's restart included, and the document once it changed, the
    organisation's name here (migration 0038). If-None-Match, when given, decides."""
    fi = _vcf_dir(tmp_path_factory) / "fi"
    async with node_database(pg_server_url) as url:
        await ingest(url, make_request(fi / "GDI-FI-SYN-001.vcf.gz", ONE, title=ONE,
                                       workers=1, access_level="PUBLIC"))
        base = "https://fi.example.org"
        async with _fdp_node(url, tmp_path, public_base_url=base) as (client, _):
            read = {path: (await fetch(client, "/fdp" + path))[0].headers
                    for path in DOCUMENTS}

        async def asked(client: ClientSession, path: str, **headers: str) -> int:
            since = {"If-Modified-Since": read[path]["Last-Modified"], **headers}
            response, body = await fetch(client, "/fdp" + path, **since)
            assert (response.status == 304) == (body == b"")
            return response.status

        async with _fdp_node(url, tmp_path, public_base_url=base) as (client, _):
            assert {path: await asked(client, path) for path in DOCUMENTS} == dict.fromkeys(
                DOCUMENTS, 304)
            assert await asked(client, "", **{"If-None-Match": '"other"'}) == 200
        await asyncio.sleep(1.1)               # Last-Modified has whole seconds
        async with _fdp_node(url, tmp_path, public_base_url=base,
                             organisation_name="Operator Oy") as (client, _):
            assert {path: await asked(client, path) for path in DOCUMENTS} == {
                "": 200, "/catalog/org.test.fdp": 200, f"/dataset/{ONE}": 200,
                f"/distribution/{ONE}": 304, f"/service/{ONE}": 304}
            for path in ("", f"/dataset/{ONE}"):
                assert await asked(client, path, **{"If-None-Match": read[path]["ETag"]}) == 200


async def test_a_metadata_file_in_another_language_is_published_in_it(loaded_db, shapes,
                                                                     tmp_path):
    """An operator describing a dataset in Finnish, saying so (`metadataLanguage`): its
    title, description and keywords were published tagged `@en` whatever language they
    were in, false metadata to every harvester. They are tagged as the file says, the
    names untagged as before, and the catalogue reads the record back as it was built."""
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(COMPLETE | {
        "title": "Suomalainen sydänaineisto", "description": "Synteettisiä variantteja.",
        "keywords": ["sydän"], "metadataLanguage": "fi"}), encoding="utf-8")
    metadata = load_metadata(path)
    row = replace((await _rows(loaded_db))["GDI-FI-SYN-001"], title=metadata.title,
                  description=metadata.description, metadata=metadata.extra_metadata())
    settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=loaded_db,
                        public_base_url="https://n.example.org")
    record = record_for(row, settings)
    site = FdpSite(base_url="https://n.example.org/fdp", title="t", description="d",
                   publisher=record.publisher,
                   catalogs=(CatalogView("c", "t", "d", record.publisher, (record,)),))
    graph = resource_graph(site, "dataset/GDI-FI-SYN-001")
    subject = URIRef(record.iri)
    assert {(str(o), o.language) for p in (DCTERMS.title, DCTERMS.description, DCAT.keyword)
            for o in graph.objects(subject, p)} == {
        ("Suomalainen sydänaineisto", "fi"), ("Synteettisiä variantteja.", "fi"),
        ("sydän", "fi")}
    assert violations(graph, shapes) == ""
    assert read_dataset(graph, record.iri) == record
    english = record_for((await _rows(loaded_db))["GDI-FI-SYN-001"], settings)
    assert (english.title_language, english.description_language,
            english.keyword_languages) == ("en", "en", {})


async def test_an_if_modified_since_no_date_can_hold_is_ignored(fdp_node):
    """An If-Modified-Since of a year past what a date holds (a client's or a fuzzer's)
    raised OverflowError while aiohttp parsed it, and the document was a 500: it is not a
    valid HTTP-date, ignored (RFC 9110 §13.1.3), the document sent whole; the page's
    assets alike."""
    client, _, _ = await fdp_node()
    for since in ("Mon, 07 Dec 99999999999999999999 05:00:00 GMT", "garbage", ""):
        for path in ("/fdp", "/fdp/catalog/org.test.fdp", "/"):
            response, body = await fetch(client, path, **{"If-Modified-Since": since})
            assert response.status == 200 and body, (since, path, response.status)


async def test_workers_noting_a_change_at_once_date_it_alike(pg_server_url):
    """Two workers of one node (`--workers`), started at once with a setting that changes a
    document, note its new content together: the one that waited for the other's row read
    the row as it was before that one's change (its statement's snapshot), and served the
    new content under the old date, the other under the new, a 304 to an If-Modified-Since
    of the old for a changed document. Both date it by the one change noted."""
    async with node_database(pg_server_url) as url:
        first, second, holder = [await connect(url) for _ in range(3)]
        try:
            dated = datetime(2026, 1, 1, tzinfo=UTC)
            assert await note_contents(first, {"": (b"old", dated)}) == {}
            async with holder.transaction():       # any writer of the row a moment longer
                await holder.execute("SELECT 1 FROM fdp_documents WHERE path = '' FOR UPDATE")
                noting = [asyncio.create_task(note_contents(conn, {"": (b"new", dated)}))
                          for conn in (first, second)]
                await asyncio.sleep(0.3)
            noted = await asyncio.gather(*noting)
            assert noted[0] == noted[1] and set(noted[0]) == {""}, noted
            assert await note_contents(first, {"": (b"new", dated)}) == noted[0]
            # a node's worker not reloaded yet, noting what it still shows (older data),
            # writes nothing: noted, the others' newer content was dated before its own
            older = datetime(2025, 1, 1, tzinfo=UTC)
            assert await note_contents(second, {"": (b"older", older)},
                                       forward_only=True) == noted[0]
            assert await note_contents(first, {"": (b"new", dated)},
                                       forward_only=True) == noted[0]
        finally:
            for conn in (first, second, holder):
                await conn.close()
