"""Harvesting registered nodes' FAIR Data Points the way the GDI portal does (DOMAIN.md §4).

`Accept: text/turtle` only, breadth-first from the node's fdpUrl over each document's
children (`rdf.contained`: ldp:contains, fdp-o:metadataCatalog and dcat:dataset, however the
FAIR Data Point writes them), same origin only, a bounded number of documents; a record is
kept only if its subject IRI equals the URL it was fetched from. The result is reconciled
like a push, with two safeguards a push does not need: a harvest that could not read the
root or a catalog withdraws nothing (a node that is down must not lose its datasets), and a
dataset document that cannot be read is reported and keeps its previous record while the
node's other datasets are still taken. And a push wins over a harvest that began before it:
what the harvest read is older.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT

from auth.documents import bounded_body
from catalogue import store
from catalogue.holdings import problems
from catalogue.rdf import PREFIXES, RdfError, contained, read_dataset
from catalogue.record import CatalogueRecord, refuse_unstorable

log = logging.getLogger(__name__)
# rdflib warns, with a traceback, of each literal its datatype cannot hold (a date at
# `T24:00:00`) and each IRI it finds odd, as it parses: one node's document of such terms
# put thousands of tracebacks in the catalogue's log at every harvest. What matters to the
# record, read_dataset reports, once a document.
logging.getLogger("rdflib.term").setLevel(logging.ERROR)
# A dataset document is at most some 200 kB (a record's texts are bounded, catalogue/record.py)
# and a catalog of 10,000 datasets about 1.5 MB. rdflib's parser takes seconds for 2 MB (a
# 4.9 MB document, allowed before, 6 s on a loaded 2-core host), so what a node may serve is
# bounded here and parsed off the event loop, in at most two threads (`_PARSERS`): parsed on
# it, one node's document stalled the whole catalogue service, its API and FAIR Data Point.
MAX_DOCUMENT_BYTES = 2_000_000
# And what it holds: an honest document of 2 MB is some 40,000 statements (about 50 bytes
# each), while an RDF collection, `( 1 1 1 ... )`, makes one of every byte: 2 MB of it was
# 2M statements, 2.5 GB of the service's memory and 31 s of a parser thread (found by a
# review, 2026-12-06).
MAX_DOCUMENT_TRIPLES = 100_000
_PARSERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="harvest-turtle")
# Links off the node's origin are never fetched, but reported: passed over unsaid, a node
# was listed healthy, with no problem, while the datasets they led to were withdrawn. The
# first few by URL, then how many more (a document may hold thousands).
MAX_LINKS_REPORTED = 10
# The longest a problem is kept, logged and stored: one quotes the node's document (an IRI
# of 1.9 MB was quoted whole, once per such document, up to 1.9 GB in a harvest)
MAX_PROBLEM = 1_000
# What a node may answer instead of the Turtle asked for (a node's own FAIR Data Point also
# serves RDF/XML and JSON-LD) and no Turtle parser reads: said so, where it was reported as
# `malformed Turtle` quoting the XML, as if the node had sent Turtle with an error
_NOT_TURTLE = frozenset({"application/rdf+xml", "application/ld+json", "application/json",
                         "text/html", "application/xhtml+xml", "application/xml", "text/xml"})


@dataclass(frozen=True)
class HarvestConfig:
    interval_seconds: float = 300.0     # between rounds of harvest_forever
    timeout_seconds: float = 10.0       # per document fetched from a node
    max_documents: int = 1000           # per node per harvest

    @property
    def deadline_seconds(self) -> float:
        """How long one node's walk may take: one interval (the default interval when no
        harvest is scheduled). A node whose documents each came just inside the timeout
        made a round of 1,000 documents take hours, and no node was harvested meanwhile,
        since the next round waits for the slowest node."""
        return self.interval_seconds or HarvestConfig.interval_seconds


class DocumentError(Exception):
    """A document that could not be fetched or parsed; the message says why."""


@dataclass
class Walk:
    records: list[CatalogueRecord] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)   # dataset URL -> reason
    off_origin: list[str] = field(default_factory=list)    # links not followed (the first few)
    off_origin_count: int = 0
    # dataset links not followed, being no URL or no text the catalogue can store, as
    # reported (the first few)
    unfollowable: list[str] = field(default_factory=list)
    fatal: str | None = None                                    # why nothing may be withdrawn
    documents: int = 0


@dataclass(frozen=True)
class HarvestOutcome:
    node_id: str
    healthy: bool
    problems: list[str]
    upserted: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)

    def summary(self, shown: Callable[[str], str] = str) -> str:
        """The outcome in lines, each problem's text through `shown`: a problem quotes the
        node's documents, and a terminal acted on the escape sequences and line breaks an
        IRI of them held (`gdi-node catalogue harvest` passes node.logs.shown)."""
        state = "ok" if self.healthy else "FAILED"
        text = (f"{self.node_id}: {state}, {len(self.upserted)} datasets, withdrawn "
                f"{self.withdrawn or 'none'}")
        return text + "".join(f"\n  problem: {shown(p)}" for p in self.problems)


def harvest_session() -> aiohttp.ClientSession:
    """The client the harvest fetches every node's documents with, across rounds: it keeps
    no cookies. With aiohttp's cookie jar, a cookie one node's answers set went to every
    other node the harvest asked on that host name (cookies know no port) or below its
    domain, from then on."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _unfollowable(link: str) -> str | None:
    """Why a link of a node's document cannot be followed or kept (None: it can)."""
    try:
        refuse_unstorable(link, "the link")
    except ValueError as exc:
        return str(exc)
    try:
        _origin(link)
    except ValueError as exc:
        return f"not a URL ({exc})"
    return None


def _cut(problem: str) -> str:
    return problem if len(problem) <= MAX_PROBLEM else problem[:MAX_PROBLEM - 1] + "…"


async def fetch_turtle(session: aiohttp.ClientSession, url: str, timeout: float) -> Graph:
    try:
        async with session.get(url, headers={"Accept": "text/turtle"}, allow_redirects=False,
                               timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if 300 <= response.status < 400:    # named, as the operator must register it
                raise DocumentError(
                    f"HTTP {response.status} to "
                    f"{response.headers.get('Location', '(nowhere said)')!r:.200} (a redirect "
                    "is not followed: the node's documents must answer at their own IRIs)")
            if response.status != 200:
                raise DocumentError(f"HTTP {response.status}")
            if response.content_type in _NOT_TURTLE:
                raise DocumentError(f"answered {response.content_type}, not the text/turtle "
                                    "asked for")
            body = await bounded_body(response, MAX_DOCUMENT_BYTES)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DocumentError(f"{type(exc).__name__}: {exc}") from None
    if body is None:
        raise DocumentError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return await asyncio.get_running_loop().run_in_executor(_PARSERS, _parse, body, url)
    except _TooManyStatements:
        raise DocumentError(f"more than {MAX_DOCUMENT_TRIPLES} statements") from None
    except Exception as exc:  # noqa: BLE001 - rdflib raises many unrelated types on bad syntax
        raise DocumentError(f"malformed Turtle: {type(exc).__name__}: {exc}") from None


def _parse(body: bytes, url: str) -> Graph:
    """The document's graph. A leading byte order mark is a signature, not text: rdflib read
    it as a statement, and a node whose documents began with one could not be harvested."""
    graph = _Bounded()
    graph.parse(data=body.decode("utf-8-sig"), format="turtle", publicID=url)
    return graph


class _TooManyStatements(Exception):
    """A document past MAX_DOCUMENT_TRIPLES statements, stopped as it is parsed."""


class _Bounded(Graph):
    """A harvested document's graph: at most MAX_DOCUMENT_TRIPLES statements, and its
    prefixes not bound. The records are read by their IRIs, never by a prefix, and rdflib
    binds each prefix in time that grows with those bound before it: a document declaring
    24,000 prefixes (450 kB) kept a parser thread for half a minute, and, parsed again each
    round, both threads, so that every other node's documents waited past their harvest's
    time (found by a review, 2026-12-06)."""

    def __init__(self) -> None:
        super().__init__(bind_namespaces="none")
        self._statements = 0
        # the prefixes a node's FAIR Data Point writes (catalogue/rdf.py), which name the
        # terms in a harvest's problems (`dct:modified`) as its documents do
        for prefix, namespace in PREFIXES.items():
            super().bind(prefix, namespace)

    def bind(self, *args: Any, **kwargs: Any) -> None:
        return None

    def add(self, triple: Any) -> _Bounded:
        self._statements += 1
        if self._statements > MAX_DOCUMENT_TRIPLES:
            raise _TooManyStatements
        super().add(triple)
        return self


async def walk(session: aiohttp.ClientSession, fdp_url: str, timeout: float,
               max_documents: int) -> Walk:
    """Breadth-first over ldp:contains; a dataset document's own children (distribution,
    service) are not fetched: the dataset document carries the whole record."""
    result = Walk()
    origin = _origin(fdp_url)
    queue: deque[tuple[str, bool]] = deque([(fdp_url, False)])   # (url, declared a dataset)
    seen = {fdp_url}
    while queue:
        url, is_dataset = queue.popleft()
        if result.documents >= max_documents:
            result.fatal = f"stopped after {max_documents} documents (harvest_max_documents)"
            return result
        result.documents += 1
        try:
            graph = await fetch_turtle(session, url, timeout)
            record = read_dataset(graph, url)
        except (DocumentError, RdfError) as exc:
            if not is_dataset:
                result.fatal = _cut(f"<{url}>: {exc}")
                return result
            result.unreadable[url] = _cut(str(exc))
            continue
        if record is not None:
            result.records.append(record)
            continue
        if is_dataset:
            result.unreadable[url] = "no dcat:Dataset whose IRI is the fetched URL"
            continue
        if (URIRef(url), None, None) not in graph:
            result.fatal = _cut(f"<{url}>: the document does not describe its own URL")
            return result
        datasets = {str(o) for o in graph.objects(URIRef(url), DCAT.dataset)}
        for child in contained(graph, url):
            if child in seen:
                continue
            seen.add(child)
            why = _unfollowable(child)
            if why is not None:
                # neither fetched nor kept: `_origin` raised for one that is no URL, and
                # the store for a dataset's PostgreSQL cannot hold, a crash of the node's
                # harvest that left it listed healthy each round (found by a review,
                # 2026-12-06). What a catalog or container so linked holds cannot be read:
                # nothing may be withdrawn.
                said = _cut(f"<{ascii(child)[1:-1]}>: not followed: {why}")
                if child not in datasets:
                    result.fatal = said
                    return result
                if len(result.unfollowable) < MAX_LINKS_REPORTED:
                    result.unfollowable.append(said)
                continue
            if _origin(child) == origin:
                queue.append((child, child in datasets))
            else:
                result.off_origin_count += 1
                if result.off_origin_count <= MAX_LINKS_REPORTED:
                    result.off_origin.append(child)
    return result


async def _reconcile(pool: asyncpg.Pool, node: store.NodeRow, records: list[CatalogueRecord],
                     keep_iris: list[str], reported: list[str],
                     read_at: datetime) -> store.Reconciled:
    """Reconcile, leaving out (and reporting) identifiers other nodes hold, and leaving alone
    what a push changed after `read_at` (store.reconcile)."""
    async with pool.acquire() as conn:
        while True:
            try:
                return await store.reconcile(conn, node.id, [r.to_json() for r in records],
                                             keep_iris=keep_iris, read_at=read_at)
            except store.HeldElsewhere as exc:
                reported += [f"dataset {i} is already published by node {n}"
                             for i, n in sorted(exc.held.items())]
                records = [r for r in records if r.identifier not in exc.held]


async def harvest_node(pool: asyncpg.Pool, session: aiohttp.ClientSession,
                       node: store.NodeRow, config: HarvestConfig) -> HarvestOutcome:
    read_at = await store.clock(pool)       # before the first document is asked for
    try:
        async with asyncio.timeout(config.deadline_seconds):
            found = await walk(session, node.fdp_url, config.timeout_seconds,
                               config.max_documents)
    except TimeoutError:                    # a walk cut short: what it read is partial
        found = Walk(fatal=f"not read within {config.deadline_seconds:g} s "
                           f"(harvest_interval_seconds)")
    if found.fatal is not None:
        log.error("harvest of node %s failed, nothing withdrawn: %s", node.id, found.fatal)
        await store.record_harvest(pool, node.id, False, found.fatal)
        return HarvestOutcome(node.id, False, [found.fatal])
    reported = [f"<{link}>: not followed, not at the origin of the node's fdpUrl "
                f"{node.fdp_url}" for link in found.off_origin]
    if found.off_origin_count > len(found.off_origin):
        reported.append(f"{found.off_origin_count - len(found.off_origin)} more links not "
                        "followed, not at that origin")
    reported += [f"<{url}>: {reason}" for url, reason in found.unreadable.items()]
    reported += found.unfollowable
    refused = problems(node, found.records)
    reported += [p.message for p in refused]
    refused_ids = {p.dataset for p in refused}
    records = [r for r in found.records if r.identifier not in refused_ids]
    keep = list(found.unreadable) + [r.iri for r in found.records if r.identifier in refused_ids]
    try:
        result = await _reconcile(pool, node, records, keep, reported, read_at)
    except store.Unregistered:
        # Retired while it was read: what was read is no longer the catalogue's to hold
        # (store.reconcile refuses it, or the harvest re-activated the node's datasets).
        log.warning("harvest of node %s: retired while it was harvested, nothing applied",
                    node.id)
        return HarvestOutcome(node.id, False, ["retired while it was harvested"])
    reported = [_cut(problem) for problem in reported]
    for problem in reported:
        log.warning("harvest of node %s: %s", node.id, problem)
    await store.record_harvest(pool, node.id, True, "; ".join(reported) or None)
    return HarvestOutcome(node.id, True, reported, result.upserted, result.withdrawn)


async def harvest_all(pool: asyncpg.Pool, session: aiohttp.ClientSession,
                      config: HarvestConfig) -> list[HarvestOutcome]:
    """One harvest of every registered node, concurrently; one node's failure is its own,
    an error its harvest did not expect included (logged with its traceback, the node's
    outcome says so): it no longer takes the other nodes' outcomes with it."""
    nodes = await store.list_nodes(pool)
    done = await asyncio.gather(*(harvest_node(pool, session, n, config) for n in nodes),
                                return_exceptions=True)
    outcomes = []
    for node, outcome in zip(nodes, done):
        if isinstance(outcome, Exception):
            log.error("harvest of node %s failed unexpectedly", node.id, exc_info=outcome)
            outcome = HarvestOutcome(node.id, False, [f"harvest failed: {type(outcome).__name__}"])
            # recorded as any failed harvest is: unrecorded, the node stayed listed healthy
            # round after round while none of its changes applied (a review, 2026-12-06)
            try:
                await store.record_harvest(pool, node.id, False, outcome.problems[0])
            except Exception:               # the catalogue's own database away: logged
                log.exception("harvest of node %s: its failure could not be recorded",
                              node.id)
        elif isinstance(outcome, BaseException):       # cancelled: the service is stopping
            raise outcome
        outcomes.append(outcome)
    return outcomes


async def harvest_forever(pool: asyncpg.Pool, session: aiohttp.ClientSession,
                          config: HarvestConfig) -> None:
    """Harvest every `interval_seconds` for as long as the service runs: a round that fails
    (the catalogue's own database away) is logged, and the next one comes as planned."""
    while True:
        try:
            await harvest_all(pool, session, config)
        except Exception:                  # the loop must outlive any one round
            log.exception("harvest round failed")
        await asyncio.sleep(config.interval_seconds)
