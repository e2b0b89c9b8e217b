"""The network's HTTP transport to its peers, black-box: what the network reports of each
peer (its line in `info.network.peers`) when the peer answers over TLS, keeps a connection
alive or closes it, delimits its answer by closing, by Content-Length or by chunks split at
awkward points, sends interim answers, is silent or slow past the peer timeout, and what
the peer receives. Written to pin today's behaviour (aiohttp's client) before the peers'
requests move to a client of the node's own: nothing here looks at the client itself, only
at the network's answers and at the bytes small raw servers on 127.0.0.1 send and receive.

The certificates are made at test time (a CA and its leaves, in the test's own directory),
never kept. Trusting the test's CA is done as an operator would: SSL_CERT_FILE in the
environment of the process that asks (a subprocess here), since today's client reads the
trusted certificates once, when it is imported."""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import re
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.app import create_app
from node.database import create_pool
from node.federation import network as network_module
from node.federation.network import NETWORK_CALLER_HEADER, PEER_CONNECTIONS, VIA_HEADER
from node.federation.peers import Peer
from node.settings import Settings
from tests.conftest import OPEN_DISCLOSURE, ROOT, node_database
from tests.test_federation import COUNT_QUERY, _count_answer, _peer_lines

NET_ID = "org.test.net"
STEADY = "steady"
LIMIT = 20          # seconds: a bound on anything a test waits for, never a timing


# --- the aggregator ------------------------------------------------------------------------

@dataclass
class Aggregator:
    """A node with an empty database (its /network/api asks the peers it is given)."""

    database_url: str
    pool: asyncpg.Pool
    directory: Path

    def settings(self, peers: list[Peer], **changes: Any) -> Settings:
        return Settings(database_url=self.database_url, data_dir=self.directory,
                        beacon_id=NET_ID, peers=peers, **changes)

    @asynccontextmanager
    async def serving(self, peers: list[Peer], **changes: Any) -> AsyncIterator[ClientSession]:
        """A client of the network node asking `peers` and STEADY, a peer answering a count
        of 0 at once (so that the network is not down when none of `peers` answers: that is
        a 503 naming no peer's line), served on 127.0.0.1."""
        async with (self.served(peers, **changes) as url,
                    ClientSession(base_url=url) as client):
            yield client

    @asynccontextmanager
    async def served(self, peers: list[Peer], **changes: Any) -> AsyncIterator[str]:
        """`serving`'s network node, its URL."""
        async with _raw_peer(_keep_alive(lambda _: _ok(0))) as (steady, _):
            server = TestServer(create_app(self.settings(
                [*peers, Peer(id=STEADY, url=steady)], **changes), self.pool),
                host="127.0.0.1")
            await server.start_server()
            try:
                yield str(server.make_url("")).rstrip("/")
            finally:
                await server.close()


@pytest.fixture(scope="module")
async def aggregator(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
                     ) -> AsyncIterator[Aggregator]:
    async with node_database(pg_server_url) as url:
        pool = await create_pool(url, Settings(disclosure=OPEN_DISCLOSURE, database_url=url))
        try:
            yield Aggregator(url, pool, tmp_path_factory.mktemp("transport"))
        finally:
            await pool.close()


async def _asked(net: ClientSession, method: str = "GET", path: str = "/network/api/g_variants",
                 **given: Any) -> tuple[dict, dict[str, str]]:
    """The network's answer (a 200) to one request, and its headers."""
    if method == "GET" and "params" not in given and "?" not in path:
        given["params"] = COUNT_QUERY
    async with asyncio.timeout(LIMIT):
        async with net.request(method, path, **given) as response:
            document = await response.json()
            assert response.status == 200, document
            return document, dict(response.headers)


async def _line(net: ClientSession, name: str = "raw", **given: Any) -> tuple[dict, int | None]:
    """The peer `name`'s line in the network's answer to a count query, and the network's
    total."""
    document, _ = await _asked(net, **given)
    lines = _peer_lines(document)
    assert _summary(lines[STEADY]) == ("ok", ""), lines
    return lines[name], document["responseSummary"].get("numTotalResults")


def _summary(line: dict) -> tuple[str, str]:
    return line["status"], line.get("detail", "")


# --- raw peers -----------------------------------------------------------------------------

def _body(count: int) -> bytes:
    """A peer's count answer of `count`."""
    return json.dumps(_count_answer("raw", {}, count)).encode()


def _ok(count: int, *, version: bytes = b"HTTP/1.1", extra: bytes = b"") -> bytes:
    """A whole 200 answer, delimited by its Content-Length, with `extra` header lines."""
    body = _body(count)
    return (version + b" 200 OK\r\nContent-Type: application/json\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


@dataclass
class Wire:
    """What a raw peer saw: the connections it accepted, how many were open at once at
    most, and each request (the connection's number, its head, its body) in order."""

    accepted: int = 0
    open: int = 0
    most_open: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    requests: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)     # set by a serve

    async def request(self, reader: asyncio.StreamReader, connection: int
                      ) -> tuple[bytes, bytes]:
        """The next request on `connection` (its head, and its body by Content-Length),
        recorded; IncompleteReadError when the client closes the connection instead."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
        body = await reader.readexactly(int(length[1])) if length else b""
        self.requests.append((connection, head, body))
        return head, body


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int, Wire], Awaitable[None]]


@asynccontextmanager
async def _raw_peer(serve: Serve, tls: ssl.SSLContext | None = None
                    ) -> AsyncIterator[tuple[str, Wire]]:
    """A peer on 127.0.0.1 serving each connection with `serve(reader, writer, its number
    (from 1), wire)`, over TLS with `tls`; its API root's URL, and its Wire. Every
    connection's handler still running is cancelled when it closes."""
    wire = Wire()
    handlers: set[asyncio.Task] = set()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        handlers.add(task)
        wire.accepted += 1
        wire.open += 1
        wire.most_open = max(wire.most_open, wire.open)
        try:
            await serve(reader, writer, wire.accepted, wire)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            wire.open -= 1
            handlers.discard(task)
            writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", 0, ssl=tls)
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}/api", wire
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def _keep_alive(answer: Callable[[int], bytes], *, hold: float = 0) -> Serve:
    """Each request on a connection answered with `answer(its index among all the peer's
    requests)`, after `hold` seconds, the connection kept open (at most 1,000 requests)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    connection: int, wire: Wire) -> None:
        for _ in range(1000):
            await wire.request(reader, connection)
            index = len(wire.requests) - 1
            wire.in_flight += 1
            wire.most_in_flight = max(wire.most_in_flight, wire.in_flight)
            try:
                if hold:
                    await asyncio.sleep(hold)
            finally:
                wire.in_flight -= 1
            writer.write(answer(index))
            await writer.drain()
    return serve


def _once(answer: bytes, *, close: bool = True, parts: list[int] | None = None,
          pause: float = 0.0) -> Serve:
    """Every request answered with the bytes `answer`, written in pieces ending at the
    offsets `parts` with `pause` seconds between them, then the connection closed (or,
    not `close`, kept for the next request)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    connection: int, wire: Wire) -> None:
        for _ in range(1000):
            await wire.request(reader, connection)
            start = 0
            for end in [*(parts or []), len(answer)]:
                writer.write(answer[start:end])
                await writer.drain()
                start = end
                if pause and end < len(answer):
                    await asyncio.sleep(pause)
            if close:
                return
    return serve


# --- 1. TLS --------------------------------------------------------------------------------

def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass
class Certificates:
    """A CA's certificate (PEM, a path), and server contexts of leaves it signed: one for
    127.0.0.1 and localhost, one for another host only."""

    ca: Path
    right: ssl.SSLContext
    wrong_host: ssl.SSLContext


def _mint(directory: Path) -> Certificates:
    """A CA and two leaves it signed, in `directory` (the test's, never kept)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("gdi-node transport test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False),
                         critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(stem: str, names: list[x509.GeneralName]) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(_name(stem)).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    ca_ski), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context

    right = leaf("right", [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                           x509.DNSName("localhost")])
    wrong = leaf("wrong", [x509.DNSName("peer.example"),
                           x509.IPAddress(ipaddress.ip_address("127.0.0.2"))])
    return Certificates(ca_path, right, wrong)


# The network node in a process of its own, whose environment trusts the test's CA
# (SSL_CERT_FILE): it asks its peers once, and prints their lines.
_TRUSTING_NODE = """
import asyncio, json, sys
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from node.app import create_app
from node.database import create_pool
from node.federation.peers import Peer
from node.http.server import default_loop
from node.settings import Settings

async def main(given):
    settings = Settings(database_url=given["database"], data_dir=given["directory"],
                        beacon_id="org.test.net", peer_timeout_seconds=5,
                        peers=[Peer(id=i, url=u) for i, u in given["peers"].items()])
    pool = await create_pool(given["database"], settings)
    try:
        server = TestServer(create_app(settings, pool), host="127.0.0.1")
        await server.start_server()
        try:
            async with ClientSession(base_url=str(server.make_url(""))) as client:
                async with client.get("/network/api/g_variants", params=given["query"]) as r:
                    document = await r.json()
                    print(json.dumps({"status": r.status, "document": document}))
        finally:
            await server.close()
    finally:
        await pool.close()

with asyncio.Runner(loop_factory=default_loop) as runner:
    runner.run(main(json.loads(sys.argv[1])))
"""


async def _asked_trusting(aggregator: Aggregator, ca: Path, peers: dict[str, str]
                          ) -> dict[str, dict]:
    """The peers' lines of a network node that trusts `ca` through SSL_CERT_FILE (a process
    of its own, started with it), asking `peers` (id: URL) once."""
    given = {"database": aggregator.database_url, "directory": str(aggregator.directory),
             "peers": peers, "query": COUNT_QUERY}
    environment = {**os.environ, "SSL_CERT_FILE": str(ca), "PYTHONPATH": str(ROOT)}
    environment.pop("SSL_CERT_DIR", None)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _TRUSTING_NODE, json.dumps(given), env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    try:
        out, err = await asyncio.wait_for(child.communicate(), LIMIT)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode()[-3000:]
    answer = json.loads(out.decode().strip().splitlines()[-1])
    assert answer["status"] == 200, answer
    return _peer_lines(answer["document"])


async def test_a_peer_over_tls_whose_ca_is_not_trusted_is_no_connection_and_sent_nothing(
        aggregator: Aggregator, tmp_path: Path):
    """A peer whose certificate no trusted CA signed is not the peer: its line is `error`,
    "no connection to the peer" (the transport's own words go to the log only), and it
    receives no request, so neither the caller's pseudonym nor the purpose of use reaches
    whoever answers at its address. A client that skipped verification would show `ok`."""
    certificates = _mint(tmp_path)
    async with (_raw_peer(_keep_alive(lambda _: _ok(3)), certificates.right) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        line, _ = await _line(net)
    assert _summary(line) == ("error", network_module.NO_CONNECTION)
    assert "refused" not in line and "retryAfter" not in line
    assert wire.requests == []


async def test_a_peer_over_tls_is_asked_when_its_ca_is_trusted_and_refused_for_another_host(
        aggregator: Aggregator, tmp_path: Path):
    """With the CA in SSL_CERT_FILE of the network node's environment (as an operator trusts
    a national CA), a peer at https://127.0.0.1 with a certificate for that IP answers
    `ok`; one whose certificate, signed by the same trusted CA, names another host only
    (peer.example, 127.0.0.2) is refused as no connection, and sent nothing: a client
    checking the chain but not the name would have asked it. Run in a process of its own,
    started with SSL_CERT_FILE: today's client reads the trusted certificates once, at
    import, so setting the variable later in this process does not reach it."""
    certificates = _mint(tmp_path)
    async with (_raw_peer(_keep_alive(lambda _: _ok(3)), certificates.right) as (right, seen),
                _raw_peer(_keep_alive(lambda _: _ok(4)), certificates.wrong_host
                          ) as (wrong, unseen)):
        lines = await _asked_trusting(aggregator, certificates.ca,
                                      {"right": right, "wrong": wrong})
    assert _summary(lines["right"]) == ("ok", "")
    assert _summary(lines["wrong"]) == ("error", network_module.NO_CONNECTION)
    assert len(seen.requests) == 1 and unseen.requests == []


# --- 2.-5. connections and how an answer ends ----------------------------------------------

async def test_sequential_requests_to_a_peer_reuse_one_kept_alive_connection(
        aggregator: Aggregator):
    """A peer answering HTTP/1.1 with a Content-Length keeps its connection: five network
    requests one after another reach it over one connection, each answered in full (the
    count of each answer is its own). A connection per request costs every peer a TCP
    (and, over https, a TLS) handshake per request."""
    async with (_raw_peer(_keep_alive(lambda index: _ok(10 + index))) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        for ask in range(5):
            line, total = await _line(net)
            assert (_summary(line), total) == (("ok", ""), 10 + ask)
    assert wire.accepted == 1
    assert [connection for connection, _, _ in wire.requests] == [1] * 5


async def test_a_connection_the_peer_closes_is_not_asked_again(aggregator: Aggregator):
    """A peer answering `Connection: close` ends the connection: the next request opens a
    new one and is answered. Here the peer answers so but keeps the socket open: a client
    sending its next request on it would never have it answered (the peer reads no more
    there), so every request must arrive on a connection of its own."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    connection: int, wire: Wire) -> None:
        await wire.request(reader, connection)
        writer.write(_ok(20 + len(wire.requests), extra=b"Connection: close\r\n"))
        await writer.drain()
        await asyncio.sleep(LIMIT)     # not closed, nor read: the client must close it
    async with (_raw_peer(serve) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)], peer_timeout_seconds=2) as net):
        for ask in range(3):
            line, total = await _line(net)
            assert (_summary(line), total) == (("ok", ""), 21 + ask)
    assert [connection for connection, _, _ in wire.requests] == [1, 2, 3]


async def test_a_connection_closed_by_the_peer_after_its_answer_is_replaced(
        aggregator: Aggregator):
    """A peer that says `Connection: close` and closes: each network request is answered,
    each over a new connection."""
    async with (_raw_peer(_once(_ok(7, extra=b"Connection: close\r\n"))) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        for _ in range(3):
            line, total = await _line(net)
            assert (_summary(line), total) == (("ok", ""), 7)
    assert wire.accepted == 3


async def test_a_kept_connection_the_peer_closed_while_idle_is_not_used(
        aggregator: Aggregator):
    """A peer that keeps its connection after an answer (no `Connection: close`) and closes
    it a moment later, idle, as servers do when their keep-alive ends (uvicorn's 5 s,
    gunicorn's 2 s): the next request, a GET and then a POST, goes over a new connection
    and is answered, never reported "no connection to the peer" for the closed one."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    connection: int, wire: Wire) -> None:
        await wire.request(reader, connection)
        writer.write(_ok(70 + len(wire.requests)))
        await writer.drain()
        await asyncio.sleep(0.05)           # then closed (by _raw_peer), idle
    post = {"meta": {}, "query": {"requestedGranularity": "count", "requestParameters": {
        "referenceName": "1", "start": [0], "end": [100000]}}}
    async with (_raw_peer(serve) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        for ask in range(4):
            given = {"method": "POST", "json": post} if ask % 2 else {}
            line, total = await _line(net, **given)
            assert (_summary(line), total) == (("ok", ""), 71 + ask), ask
            await asyncio.sleep(0.25)
    assert [connection for connection, _, _ in wire.requests] == [1, 2, 3, 4]


async def test_an_answer_ended_by_the_peer_closing_is_read_whole(aggregator: Aggregator):
    """HTTP/1.1 allows an answer with neither Content-Length nor chunks, ended by the peer
    closing the connection (RFC 9112 6.3, item 8): read to its end, in pieces with pauses
    between them, it is the peer's answer (`ok`, its count), not cut short."""
    body = _body(31)
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body
    head = len(answer) - len(body)
    parts = [head, head + 10, head + len(body) // 2]
    async with (_raw_peer(_once(answer, parts=parts, pause=0.05)) as (url, _),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        for _ in range(2):
            line, total = await _line(net)
            assert (_summary(line), total) == (("ok", ""), 31)


async def test_an_answer_chunked_but_not_last_runs_to_the_connections_end():
    """`Transfer-Encoding: chunked, gzip`: chunked is not the last coding, so the answer
    runs to the connection's end (RFC 9112 6.3), as llhttp reads it: read whole there, not
    cut short for a chunked answer whose last chunk never came."""
    from yarl import URL

    from node.federation.transport import Bound, PeerPool, _Context
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc"
    async with _raw_peer(_once(answer)) as (url, _):
        pool = PeerPool(URL(url), 4, _Context())
        try:
            got = await asyncio.wait_for(_pool_request(pool, url, Bound(1000)), LIMIT)
        finally:
            pool.close()
    assert (got.status, got.body) == (200, b"abc")


async def test_an_http_1_0_answer_is_read_and_its_connection_not_kept(aggregator: Aggregator):
    """An HTTP/1.0 answer with a Content-Length is read (`ok`); HTTP/1.0 keeps no connection
    unless it says so, so the next request goes over a new connection, although this peer
    leaves the socket open (and would never answer there)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    connection: int, wire: Wire) -> None:
        await wire.request(reader, connection)
        writer.write(_ok(40 + len(wire.requests), version=b"HTTP/1.0"))
        await writer.drain()
        await asyncio.sleep(LIMIT)
    async with (_raw_peer(serve) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)], peer_timeout_seconds=2) as net):
        for ask in range(2):
            line, total = await _line(net)
            assert (_summary(line), total) == (("ok", ""), 41 + ask)
    assert wire.accepted == 2


@pytest.mark.parametrize("interim", [
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
], ids=["103", "100", "102-then-103"])
async def test_interim_answers_before_the_answer_are_skipped(aggregator: Aggregator,
                                                             interim: bytes):
    """A 1xx answer (RFC 9110 15.2) is interim: the final answer follows it on the same
    connection, and the network reads that one (`ok`, its count), as today's client does,
    twice in a row over one kept connection. A client taking the 103 as the answer reports
    the peer `error`, "HTTP 103, not JSON", and leaves the 200 to be read as the next
    request's answer."""
    async with (_raw_peer(_keep_alive(lambda index: interim + _ok(50 + index))) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        for ask in range(2):
            line, total = await _line(net)
            assert (_summary(line), total) == (("ok", ""), 50 + ask)
    assert wire.accepted == 1


_HINT = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"


async def _hinting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   connection: int, wire: Wire) -> None:
    """A peer answering with interim answers only, one every few milliseconds, until the
    client closes the connection (or 10,000 of them, or LIMIT seconds). Each comes alone:
    a flood of them the client reads 64 kB at once is a head past MAX_HEAD."""
    await wire.request(reader, connection)
    deadline = time.monotonic() + LIMIT
    for _ in range(10_000):
        if time.monotonic() > deadline:
            break
        writer.write(_HINT)
        await writer.drain()
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("hints", ["bound", "past", "endless"])
async def test_interim_answers_past_their_bound_are_not_http(aggregator: Aggregator, hints: str):
    """A request's interim answers are bounded (MAX_INTERIM): up to the bound they are
    skipped and the final answer read (`ok`); one more, or a peer sending 1xx after 1xx
    without end, is `invalid`, not HTTP the network reads. Unbounded, the endless peer was
    parsed until the peer's timer (its line `timeout`), spending the node's CPU, and one
    more than the bound was read as any other."""
    from node.federation.transport import MAX_INTERIM
    serve = _hinting if hints == "endless" else _once(
        _HINT * (MAX_INTERIM + (hints == "past")) + _ok(7))
    async with (_raw_peer(serve) as (url, _),
                aggregator.serving([Peer(id="raw", url=url)], peer_timeout_seconds=5) as net):
        line, total = await _line(net)
    assert (_summary(line), total) == ((("ok", ""), 7) if hints == "bound" else
                                       (("invalid", network_module.NOT_HTTP), 0))


# --- 6. chunks -------------------------------------------------------------------------------

def _chunked(body: bytes, size: int) -> tuple[bytes, list[int]]:
    """A 200 whose `body` is sent in chunks of `size` bytes (one with an extension, RFC 9112
    7.1.1, and a trailer field after the last), with Content-Length nowhere; and offsets
    to split it at, awkward ones: in the status line, a header's name, a CRLF, a chunk's
    size line (between its digits), its data, and the last chunk."""
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    wire = head
    for n, chunk in enumerate(chunks):
        wire += b"%x%s\r\n" % (len(chunk), b";note=x" if n == 1 else b"") + chunk + b"\r\n"
    tail = b"0\r\nX-Checksum: none\r\n\r\n"
    wire += tail
    first_size = len(head)                       # where the first chunk's size line starts
    splits = {4, 11, len(b"HTTP/1.1 200 OK\r"), len(b"HTTP/1.1 200 OK\r\nContent-Ty"),
              len(head) - 1, len(head) - 3, first_size + 1, first_size + 3,
              first_size + 10, len(wire) - len(tail) + 1, len(wire) - 3}
    return wire, sorted(s for s in splits if 0 < s < len(wire))


async def test_a_chunked_answer_split_at_awkward_points_is_read_whole(aggregator: Aggregator):
    """An answer of many small chunks (2 bytes each, over 200 of them), its bytes split
    across writes in the status line, a header's name, a CRLF, a chunk-size line and the
    last chunk, with a chunk extension and a trailer field: the peer's answer, `ok` with
    its count, twice over one kept connection (a parser losing its place at a split ends
    the answer short, reads the next as garbage, or waits for what never comes)."""
    body = _body(61)
    answer, splits = _chunked(body, 2)
    assert len(body) // 2 > 200
    async with (_raw_peer(_once(answer, close=False, parts=splits, pause=0.01)) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        for _ in range(2):
            line, total = await _line(net)
            assert (_summary(line), total) == (("ok", ""), 61)
    assert wire.accepted == 1


async def test_a_chunked_answer_written_a_byte_at_a_time_is_read_whole(aggregator: Aggregator):
    """Every byte of a chunked answer's head and first chunks its own write: `ok`."""
    answer, _ = _chunked(_body(62), 64)
    async with (_raw_peer(_once(answer, parts=list(range(1, 200)), pause=0.001)) as (url, _),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        line, total = await _line(net)
    assert (_summary(line), total) == (("ok", ""), 62)


# --- 7. Retry-After --------------------------------------------------------------------------

async def test_a_refusal_for_now_passes_on_retry_after_whatever_its_header_names_case(
        aggregator: Aggregator):
    """A 503 or 429's Retry-After reaches the peer's line as `retryAfter` (seconds): header
    names are case-insensitive and a value's surrounding whitespace is not its own (RFC 9110
    5.1, 5.5), so `retry-after:\\t 120 ` is 120. The line stays `error` naming the status and
    the peer's message; a 500's Retry-After is not passed on."""
    error = json.dumps({"error": {"errorCode": 503, "errorMessage": "busy"}}).encode()

    def refusal(status: bytes, header: bytes) -> bytes:
        return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n" + header
                + b"\r\nContent-Length: %d\r\n\r\n" % len(error) + error)

    answers = {"lower": refusal(b"503 Service Unavailable", b"retry-after:\t 120 "),
               "upper": refusal(b"429 Too Many Requests", b"RETRY-AFTER: 7"),
               "plain": (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n"
                         b"Content-Type: text/plain\r\nContent-Length: 4\r\n\r\nbusy"),
               "failed": refusal(b"500 Internal Server Error", b"Retry-After: 9")}
    async with AsyncExitStack() as stack:
        peers = []
        for name, answer in answers.items():
            url, _ = await stack.enter_async_context(_raw_peer(_keep_alive(lambda _, a=answer: a)))
            peers.append(Peer(id=name, url=url))
        net = await stack.enter_async_context(aggregator.serving(peers))
        document, _ = await _asked(net)
    lines = _peer_lines(document)
    assert {name: (lines[name]["status"], lines[name]["detail"], lines[name].get("retryAfter"))
            for name in answers} == {
        "lower": ("error", "HTTP 503: busy", 120),
        "upper": ("error", "HTTP 429: busy", 7),
        "plain": ("error", "HTTP 503, not JSON", 30),
        "failed": ("error", "HTTP 500: busy", None)}


# --- 8.-9. timeouts, and what a late answer must not do ------------------------------------

TIMEOUT = 0.5
LATE = f"no answer within the peer timeout ({TIMEOUT:g} s)"


def _late(kind: str) -> tuple[bytes, bytes]:
    """An answer (count 111) as a peer sends it at once, and the rest it sends after the
    peer timeout: nothing then all of it, its head and all but its last 40 bytes, or half
    of it chunked."""
    plain, chunked = _ok(111), _chunked(_body(111), 50)[0]
    return {"silent": (b"", plain), "body": (plain[:-40], plain[-40:]),
            "chunked": (chunked[:len(chunked) // 2], chunked[len(chunked) // 2:])}[kind]


@pytest.mark.parametrize("kind", ["silent", "body", "chunked"])
async def test_an_answer_late_past_the_timeout_reaches_no_later_request(
        aggregator: Aggregator, kind: str):
    """A peer that accepts the connection and does not answer, or sends part of its answer
    (count 111), before the peer timeout is `timeout` within it. What it sends after the
    network gave up must not be taken as the answer, or the start of the answer, to the
    next request to the same URL (count 222): the first connection is not used again,
    half-read or unread."""
    early, late = _late(kind)
    finished = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    connection: int, wire: Wire) -> None:
        for _ in range(100):
            await wire.request(reader, connection)
            if len(wire.requests) == 1:
                if early:
                    writer.write(early)
                    await writer.drain()
                await asyncio.sleep(TIMEOUT + 0.3)
                try:                    # the network may have closed it: no matter
                    writer.write(late)
                    await writer.drain()
                finally:
                    finished.set()
            else:
                writer.write(_ok(222))
                await writer.drain()
    async with (_raw_peer(serve) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)], peer_timeout_seconds=TIMEOUT
                                   ) as net):
        began = time.monotonic()
        line, total = await _line(net)
        elapsed = time.monotonic() - began
        assert _summary(line) == ("timeout", LATE)
        assert TIMEOUT <= elapsed < TIMEOUT + 1.5
        assert line["ms"] == TIMEOUT * 1000
        async with asyncio.timeout(LIMIT):
            await finished.wait()
        await asyncio.sleep(0.05)
        for _ in range(2):
            line, total = await _line(net)
            assert (_summary(line), total) == (("ok", ""), 222)
    assert [connection for connection, _, _ in wire.requests].count(1) == 1


# --- 10. what a peer receives ----------------------------------------------------------------

REQUEST_LINE = re.compile(rb"(GET|POST) (/\S*) HTTP/1\.1")
HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(\S(?:[^\r\n]*\S)?)?[ \t]*")


def _parsed(head: bytes) -> tuple[str, str, dict[str, str]]:
    """A request head's method, target and headers (names in lower case), checked to be
    well-formed HTTP/1.1: CRLF line ends only, a request line of three parts, each header
    line a token, a colon and a value (no folding), and no header given twice."""
    assert head.endswith(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines), head
    request = REQUEST_LINE.fullmatch(lines[0])
    assert request, lines[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        header = HEADER_LINE.fullmatch(line)
        assert header, line
        name = header[1].decode().lower()
        assert name not in headers, f"{name} twice in {head!r}"
        headers[name] = (header[2] or b"").decode("latin-1")
    return request[1].decode(), request[2].decode(), headers


async def _got_raw(base_url: str, target: str) -> tuple[dict, str]:
    """The network's 200 answer to a GET of `target` sent as bytes, and its request id."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        async with asyncio.timeout(LIMIT):
            writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         "Connection: close\r\n\r\n".encode())
            await writer.drain()
            answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer[:2000]
    request_id = re.search(rb"(?i)\r\nx-request-id: *([^\r]+)", head)[1].decode()
    assert b"chunked" not in head.lower()
    return json.loads(body), request_id


def _common(headers: dict[str, str], port: int, request_id: str) -> None:
    """What every request to a peer carries, asked anonymously."""
    assert headers["host"] == f"127.0.0.1:{port}"
    assert headers["accept"] == "application/json"
    assert headers["x-request-id"] == request_id
    assert headers[VIA_HEADER.lower()] == NET_ID
    assert re.fullmatch("[0-9a-f]{32}", headers[NETWORK_CALLER_HEADER.lower()])
    assert "authorization" not in headers and "cookie" not in headers
    assert "transfer-encoding" not in headers
    assert headers.get("connection", "keep-alive").lower() == "keep-alive"


async def test_a_get_reaches_the_peer_as_the_network_means_it(aggregator: Aggregator):
    """A GET to the network reaches the peer as a well-formed HTTP/1.1 request: its target
    the peer's API root, the path below the network's root, and the query string exactly as
    sent (its percent-encoding kept); Host the peer's address and port; Accept JSON; the
    network's request id, the networks passed through and the caller's pseudonym; no
    token, cookie or body, and no header twice."""
    query = ("referenceName=%31&start=0&end=100000&requestedGranularity=count"
             "&includeResultsetResponses=HIT&assemblyId=GRCh38&alternateBases=%47")
    async with (_raw_peer(_keep_alive(lambda _: _ok(3))) as (url, wire),
                aggregator.served([Peer(id="raw", url=url)]) as network_url):
        # sent as bytes: a client of the network would tidy the query's %31 and %47 first
        document, request_id = await _got_raw(network_url, f"/network/api/g_variants?{query}")
    assert _summary(_peer_lines(document)["raw"]) == ("ok", "")
    [(_, head, body)] = wire.requests
    method, target, sent = _parsed(head)
    assert (method, target, body) == ("GET", f"/api/g_variants?{query}", b"")
    _common(sent, int(url.split(":")[2].split("/")[0]), request_id)
    assert sent.get("content-length", "0") == "0"
    assert "content-type" not in sent and "x-purpose-of-use" not in sent


async def test_a_post_reaches_the_peer_with_its_body_as_sent(aggregator: Aggregator):
    """A POST to the network's individuals reaches the peer as a well-formed HTTP/1.1 POST
    of the same path below its root: the caller's body byte for byte (its spacing and key
    order), its Content-Length exact, Content-Type JSON, no chunking, the purpose of use
    as the caller declared it, and every header once."""
    body = (b'{"query": {"requestParameters": {"referenceName": "1", "start": "99",'
            b'  "alternateBases": "G"}, "requestedGranularity": "count"},\n "meta": {}}')
    async with (_raw_peer(_keep_alive(lambda _: _ok(3))) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        document, headers = await _asked(
            net, "POST", "/network/api/individuals", data=body,
            headers={"Content-Type": "application/json", "X-Purpose-Of-Use": "DUO:0000006"})
        again, _ = await _asked(net, "POST", "/network/api/g_variants", data=body,
                                headers={"Content-Type": "application/json"})
    assert _summary(_peer_lines(document)["raw"]) == ("ok", "")
    assert _summary(_peer_lines(again)["raw"]) == ("ok", "")
    (_, head, received), (_, second_head, second_received) = wire.requests
    method, target, sent = _parsed(head)
    assert (method, target, received) == ("POST", "/api/individuals", body)
    _common(sent, int(url.split(":")[2].split("/")[0]), headers["X-Request-ID"])
    assert sent["content-length"] == str(len(body))
    assert sent["content-type"] == "application/json"
    assert sent["x-purpose-of-use"] == "DUO:0000006"
    method, target, sent = _parsed(second_head)
    assert (method, target, second_received) == ("POST", "/api/g_variants", body)
    assert sent["content-length"] == str(len(body)) and "x-purpose-of-use" not in sent


# --- 11. many at once --------------------------------------------------------------------------

async def test_many_requests_at_once_share_the_peers_bounded_connections(
        aggregator: Aggregator):
    """40 network requests at once to a peer taking 0.3 s an answer: each is answered `ok`,
    and the peer never has more than PEER_CONNECTIONS connections open (those beyond wait
    for one, within the peer's timer), though more than a few at once: a frozen peer then
    holds that many sockets at most, and a slow one is not asked one request at a time."""
    many = 40
    async with (_raw_peer(_keep_alive(lambda index: _ok(index % 7), hold=0.3)) as (url, wire),
                aggregator.serving([Peer(id="raw", url=url)], network_requests_in_flight=64,
                                   peer_timeout_seconds=4, network_deadline_seconds=5) as net):
        answers = await asyncio.gather(*(_line(net) for _ in range(many)))
    assert [_summary(line) for line, _ in answers] == [("ok", "")] * many
    assert sorted(total for _, total in answers) == sorted(i % 7 for i in range(many))
    assert len(wire.requests) == many
    assert 8 <= wire.most_open <= PEER_CONNECTIONS
    assert wire.most_in_flight <= PEER_CONNECTIONS
    assert wire.accepted <= PEER_CONNECTIONS


# --- 12. heads too large ---------------------------------------------------------------------

async def test_an_answer_of_thousands_of_headers_or_a_huge_reason_is_not_http(
        aggregator: Aggregator):
    """An answer with 2,000 small header lines (20 bytes each, 40 kB), or a status line
    whose reason phrase is 20 kB, is not read: the peer's line is `invalid`, "not HTTP the
    network reads" (today's client reads at most 128 header lines, and lines of at most
    8,190 bytes). The network reading such a head whole for every request would let a
    peer make it hold and parse whatever it sends. A peer with 100 headers is still read."""
    body = _body(5)
    many = b"".join(b"X-P%04d: abcdefghi\r\n" % n for n in range(2000))
    assert len(many) == 2000 * 20
    some = b"".join(b"X-P%04d: abcdefghi\r\n" % n for n in range(100))
    answers = {
        "headers": (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + many
                    + b"Content-Length: %d\r\n\r\n" % len(body) + body),
        "reason": (b"HTTP/1.1 200 " + b"O" * 20_000 + b"\r\nContent-Type: application/json"
                   b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body),
        "some": (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + some
                 + b"Content-Length: %d\r\n\r\n" % len(body) + body)}
    async with AsyncExitStack() as stack:
        peers = []
        for name, answer in answers.items():
            url, _ = await stack.enter_async_context(_raw_peer(_once(answer)))
            peers.append(Peer(id=name, url=url))
        net = await stack.enter_async_context(aggregator.serving(peers))
        document, _ = await _asked(net)
    lines = _peer_lines(document)
    assert {name: _summary(lines[name]) for name in answers} == {
        "headers": ("invalid", network_module.NOT_HTTP),
        "reason": ("invalid", network_module.NOT_HTTP),
        "some": ("ok", "")}


# --- the pool itself, driven directly ------------------------------------------------------

def _pool_request(pool: Any, url: str, bound: Any, limit: int = 1000) -> Awaitable[Any]:
    from multidict import CIMultiDict
    from yarl import URL
    return pool.request("GET", URL(f"{url}/x"), CIMultiDict(), None, bound, limit)


@pytest.mark.parametrize("after", [b"X", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"])
@pytest.mark.parametrize("close", [b"", b"Connection: close\r\n"])
async def test_bytes_after_an_answer_do_not_give_its_bytes_back_to_the_bound(
        after: bytes, close: bytes):
    """An answer read whole, followed in the same segment by bytes no request asked for,
    keeps what it took from the request's bound: its bytes are held, so giving them back
    would let the peers together read past MAX_NETWORK_BODIES."""
    from yarl import URL

    from node.federation.transport import Bound, PeerPool, _Context
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + close + b"\r\nhello" + after
    async with _raw_peer(_once(answer, close=False)) as (url, _):
        pool = PeerPool(URL(url), 4, _Context())
        bound = Bound(1000)
        try:
            got = await asyncio.wait_for(_pool_request(pool, url, bound), LIMIT)
            await asyncio.sleep(0.05)
        finally:
            pool.close()
    assert got.body == b"hello"
    assert bound.left == 1000 - 5


async def test_a_request_waiting_for_the_shared_connections_is_woken_when_another_peers_go_idle():
    """Peers beyond OWN_SESSIONS share connections: a request of peer B waiting because
    peer A holds them all may close one of A's once it is idle. It must be woken then, not
    sleep to its timer while A's connections sit idle (and every later B request closes
    one at once)."""
    from node.federation.transport import Bound, PeerPools
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with (_raw_peer(_keep_alive(lambda _: ok, hold=0.3)) as (a, _),
                _raw_peer(_keep_alive(lambda _: ok)) as (b, _)):
        pools = PeerPools(2, 0, 2)
        try:
            held = [asyncio.create_task(_pool_request(pools.of(a), a, Bound(1000)))
                    for _ in range(2)]
            await asyncio.sleep(0.1)
            waiting = await asyncio.wait_for(_pool_request(pools.of(b), b, Bound(1000)), 5)
            assert [(await task).body for task in held] == [b"ok", b"ok"]
        finally:
            pools.close()
    assert waiting.body == b"ok"


async def test_a_shared_connection_freed_reaches_a_waiter_that_can_use_it():
    """A shared connection closed wakes the requests waiting for one: not only the first,
    which may be waiting for its own peer's bound as well (and goes back to waiting), so
    that a request of another peer, which could have used it, sleeps to its timer."""
    from node.federation.transport import Bound, PeerPools
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    closing = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    async with (_raw_peer(_keep_alive(lambda _: ok, hold=3)) as (a, _),
                _raw_peer(_keep_alive(lambda _: closing, hold=0.3)) as (b, _),
                _raw_peer(_keep_alive(lambda _: ok)) as (c, _)):
        pools = PeerPools(1, 0, 2)
        tasks = []
        try:
            tasks.append(asyncio.create_task(_pool_request(pools.of(a), a, Bound(1000))))
            tasks.append(asyncio.create_task(_pool_request(pools.of(b), b, Bound(1000))))
            await asyncio.sleep(0.1)    # the group's two connections, A's and B's, in use
            tasks.append(asyncio.create_task(_pool_request(pools.of(a), a, Bound(1000))))
            await asyncio.sleep(0.05)   # A's second waits first, for A's bound too
            got = await asyncio.wait_for(_pool_request(pools.of(c), c, Bound(1000)), 2)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pools.close()
    assert got.body == b"ok"


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
async def test_an_answer_without_content_takes_nothing_from_the_bound_whatever_its_length(
        status: bytes):
    """A 204 or 304 has no content, whatever Content-Length it names (RFC 9110 8.6): its
    length is not taken from the request's bound, where no body would ever give it back
    (a peer costing the others MAX_PEER_BODY of it for a few bytes)."""
    from yarl import URL

    from node.federation.transport import Bound, PeerPool, _Context
    answer = b"HTTP/1.1 " + status + b"\r\nContent-Length: 300\r\n\r\n"
    async with _raw_peer(_once(answer, close=False)) as (url, _):
        pool = PeerPool(URL(url), 4, _Context())
        bound = Bound(1000)
        try:
            got = await asyncio.wait_for(_pool_request(pool, url, bound), LIMIT)
        finally:
            pool.close()
    assert got.body == b""
    assert bound.left == 1000


async def test_an_answer_whose_length_passes_the_limit_is_too_large_at_its_head():
    """An answer sent unpacked whose Content-Length passes the peer's limit is too large
    (no body, nothing of the bound taken) as soon as its head is read: it was found so only
    when its first body byte came, and a peer that sent the head and then nothing held the
    request until the peer's timer. Its connection is not kept."""
    from yarl import URL

    from node.federation.transport import Bound, PeerPool, _Context
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n"
    async with _raw_peer(_once(answer, close=False)) as (url, wire):
        pool = PeerPool(URL(url), 4, _Context())
        bound = Bound(1000)
        try:
            got = await asyncio.wait_for(_pool_request(pool, url, bound, 1000), LIMIT)
            for _ in range(100):
                if wire.open == 0:
                    break
                await asyncio.sleep(0.02)
        finally:
            pool.close()
        assert wire.open == 0
    assert (got.status, got.body, bound.left) == (200, None, 1000)


async def test_a_request_connecting_when_the_pool_closes_ends_and_leaves_no_socket():
    """The network closing (PeerPools.close) while a request's connection is being made:
    that request ends (NoConnection), sends nothing, and the socket is closed; it was
    used once made, asking a silent peer until its timer, and its socket never closed
    (close() had already marked it closed)."""
    from yarl import URL

    from node.federation.transport import Bound, NoConnection, PeerPool, _Context

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     connection: int, wire: Wire) -> None:
        await wire.request(reader, connection)
        await asyncio.sleep(LIMIT)

    async with _raw_peer(silent) as (url, wire):
        pool = PeerPool(URL(url), 4, _Context())
        task = asyncio.create_task(_pool_request(pool, url, Bound(1000)))
        await asyncio.sleep(0)      # within create_connection
        pool.close()
        try:
            with pytest.raises(NoConnection):
                await asyncio.wait_for(task, 2)
        finally:
            task.cancel()
        for _ in range(100):
            if wire.open == 0:
                break
            await asyncio.sleep(0.02)
        assert wire.open == 0
        assert wire.requests == []


async def test_pools_closed_refuse_every_later_request_and_open_no_connection():
    """PeerPools closed (the network closing) refuse a request started after it, of a peer
    asked before or not (NoConnection), and open no connection: its pools were forgotten,
    and a later request made a new one, whose connections nobody would close."""
    from node.federation.transport import Bound, NoConnection, PeerPools
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with (_raw_peer(_keep_alive(lambda _: ok)) as (asked, before),
                _raw_peer(_keep_alive(lambda _: ok)) as (new, never)):
        pools = PeerPools(2, 1, 2)
        held = pools.of(asked)
        assert (await asyncio.wait_for(_pool_request(held, asked, Bound(1000)), LIMIT)).body == b"ok"
        pools.close()
        try:
            for url in (asked, new):
                with pytest.raises(NoConnection):
                    await asyncio.wait_for(_pool_request(pools.of(url), url, Bound(1000)),
                                           LIMIT)
            with pytest.raises(NoConnection):
                await asyncio.wait_for(_pool_request(held, asked, Bound(1000)), LIMIT)
        finally:
            pools.close()
    assert (before.accepted, never.accepted) == (1, 0)


async def test_a_peer_whose_host_cannot_be_looked_up_is_no_connection(aggregator: Aggregator):
    """A peer URL whose host the resolver refuses before asking (a label past 63 bytes: the
    idna codec's UnicodeError, not an OSError) is that peer's `error` line, not the whole
    network request's failure: a registry may list any URL."""
    long = Peer(id="raw", url=f"http://{'a' * 64}.invalid/api")
    async with aggregator.serving([long]) as net:
        line, _ = await _line(net)
    assert _summary(line) == ("error", network_module.NO_CONNECTION)


@pytest.mark.parametrize("wrapped", [True, False])
async def test_a_deflate_answer_whose_first_chunk_is_one_byte_is_unpacked(
        aggregator: Aggregator, wrapped: bool):
    """A deflate answer (zlib-wrapped, or raw as some servers send it) whose first chunk
    is a single byte: which of the two it is is told by its first two bytes, so not
    before the second has come; taken from the first alone, a zlib stream was read as
    raw deflate, and the peer's answer `invalid`."""
    import zlib
    packer = zlib.compressobj(wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
    packed = packer.compress(_body(63)) + packer.flush()
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n")
    answer = (head + b"1\r\n" + packed[:1] + b"\r\n"
              + b"%x\r\n" % (len(packed) - 1) + packed[1:] + b"\r\n0\r\n\r\n")
    async with (_raw_peer(_once(answer, parts=[len(head) + 6], pause=0.01)) as (url, _),
                aggregator.serving([Peer(id="raw", url=url)]) as net):
        line, total = await _line(net)
    assert (_summary(line), total) == (("ok", ""), 63)


# --- on each of the servers' loops (uvloop's, asyncio's), in a thread of its own -----------

def _on_each_loop(scenario: Callable[[], Awaitable[Any]], loops: tuple[str, ...] = (
        "uvloop", "asyncio")) -> dict[str, Any]:
    """`scenario()` run to its end on a new loop of each kind (node/http/server.py
    new_loop), each in a thread of its own (not the tests' loop); what each returned."""
    from concurrent.futures import ThreadPoolExecutor

    from node.http.server import new_loop

    def run(kind: str) -> Any:
        with asyncio.Runner(loop_factory=lambda: new_loop(kind)) as runner:
            return runner.run(asyncio.wait_for(scenario(), LIMIT))

    with ThreadPoolExecutor(1) as threads:
        return {kind: threads.submit(run, kind).result(LIMIT + 5) for kind in loops}


async def _outcome_of(pool: Any, url: str, bound: Any, limit: int = 1000) -> Any:
    """What the pool's request gave: its answer, or the class of what it raised."""
    try:
        return await _pool_request(pool, url, bound, limit)
    except Exception as exc:    # noqa: BLE001 - the class is the outcome
        return type(exc)
    finally:
        pool.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """The connection ended by a reset (RST), not a close."""
    import socket
    import struct
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _half_answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         connection: int, wire: Wire) -> None:
    """A request read, and half an answer sent to it that only the connection's end could
    end (no Content-Length, no chunks), then a pause before whatever ends it."""
    await wire.request(reader, connection)
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n[1, 2")
    await writer.drain()
    await asyncio.sleep(0.1)


def test_an_answer_ended_by_a_reset_rather_than_a_close_is_cut_short():
    """An answer without Content-Length or chunks ends where the connection does, if it
    ends: a reset (or a TLS peer going without close_notify) is not its end, and what came
    before it was kept as the whole answer, `ok` with a truncated body."""
    from yarl import URL

    from node.federation.transport import Bound, CutShort, PeerPool, _Context

    async def scenario() -> tuple[Any, int]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        connection: int, wire: Wire) -> None:
            await _half_answered(reader, writer, connection, wire)
            _reset(writer)

        async with _raw_peer(serve) as (url, _):
            bound = Bound(1000)
            got = await _outcome_of(PeerPool(URL(url), 4, _Context()), url, bound)
            return got, bound.left

    assert _on_each_loop(scenario) == {"uvloop": (CutShort, 1000), "asyncio": (CutShort, 1000)}


def test_a_tls_answer_ended_without_close_notify_is_cut_short(tmp_path: Path):
    """Over TLS, the end of an answer delimited by the connection's is the peer's
    close_notify: a connection's end without it may be anyone's cutting it (a truncation),
    and the answer is cut short. uvloop's, the servers' loop, tells one from the other
    (asyncio's hands both on as an end of file)."""
    from yarl import URL

    from node.federation.transport import Bound, CutShort, PeerPool, _Context
    certificates = _mint(tmp_path)

    async def scenario(close_notify: bool) -> Any:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        connection: int, wire: Wire) -> None:
            await _half_answered(reader, writer, connection, wire)
            if close_notify:
                writer.write(b"]")
                writer.close()
                await writer.wait_closed()
            else:
                writer.transport.abort()

        async with _raw_peer(serve, certificates.right) as (url, _):
            context = _Context()
            context._context = ssl.create_default_context(cafile=certificates.ca)
            got = await _outcome_of(PeerPool(URL(url), 4, context), url, Bound(1000))
            return got.body if hasattr(got, "body") else got

    assert _on_each_loop(lambda: scenario(False), ("uvloop",)) == {"uvloop": CutShort}
    assert _on_each_loop(lambda: scenario(True)) == {"uvloop": b"[1, 2]", "asyncio": b"[1, 2]"}


async def test_an_answer_of_many_tiny_chunks_is_held_in_about_its_own_size():
    """A peer's answer is bounded in bytes (MAX_PEER_BODY), and held in about that much:
    an answer of a million one-byte chunks (or segments) was held as a million bytes
    objects, some 40 times its size (16 MiB a peer, 64 MiB a request's peers, took GBs)."""
    import tracemalloc

    from yarl import URL

    from node.federation.transport import Bound, PeerPool, _Context
    size = 1_000_000
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              + b"1\r\nx\r\n" * size + b"0\r\n\r\n")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    connection: int, wire: Wire) -> None:
        await wire.request(reader, connection)
        for start in range(0, len(answer), 1 << 16):
            writer.write(answer[start:start + (1 << 16)])
            await writer.drain()
        await asyncio.sleep(LIMIT)

    async with _raw_peer(serve) as (url, _):
        pool = PeerPool(URL(url), 4, _Context())
        tracemalloc.start()
        try:
            got = await asyncio.wait_for(_pool_request(pool, url, Bound(2 * size), size), LIMIT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            pool.close()
    assert got.body == b"x" * size
    assert peak < 6 * size


def test_a_tls_peer_named_with_a_trailing_dot_is_checked_against_its_name(tmp_path: Path):
    """A peer's host named fully qualified, with the root's trailing dot (a name the
    settings and registry take: node/urls.py beacon_key), is checked against its
    certificate's names, which never end in one (RFC 6066 3 SNI too), as aiohttp's client
    checks it: with the dot, every such peer was `no connection` (Hostname mismatch)."""
    from yarl import URL

    from node.federation.transport import Bound, PeerPool, _Context
    certificates = _mint(tmp_path)

    async def scenario() -> Any:
        loop = asyncio.get_running_loop()
        resolve = loop.getaddrinfo

        async def resolved(host: Any, *args: Any, **kwargs: Any) -> Any:
            # "localhost." as the resolver of a host listing it would (the test's does not)
            return await resolve("127.0.0.1" if host in ("localhost.", b"localhost.") else host,
                                 *args, **kwargs)
        loop.getaddrinfo = resolved     # type: ignore[method-assign]
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        async with _raw_peer(_once(answer), certificates.right) as (url, wire):
            url = url.replace("127.0.0.1", "localhost.")
            context = _Context()
            context._context = ssl.create_default_context(cafile=certificates.ca)
            got = await _outcome_of(PeerPool(URL(url), 4, context), url, Bound(1000))
            return (got.body if hasattr(got, "body") else got,
                    [head.split(b"\r\n")[1] for _, head, _ in wire.requests])

    port_free = _on_each_loop(scenario, ("asyncio",))["asyncio"]
    assert port_free[0] == b"ok"
    assert [re.sub(rb":[0-9]+$", b"", line) for line in port_free[1]] == [b"Host: localhost"]
