"""The HTTP API fuzzed, within bounds: requests the GDI portal and Beacon clients send, with one
to three parts mutated, to every route and method the node serves, on the synthetic FI node
(its VCFs and phenopackets through the real ingest). A throwaway fuzzer once found a 500 (a
`limit` above 2^63-1 on a GET); this keeps the search in the suite, and its first runs found
three more (a NUL in a filter term or an individual's id, a filter operator that is a list).

It is a plain seeded random loop, not hypothesis: hypothesis's draws cluster around earlier
examples, and in 500 examples a test it never sent that limit to a route it breaks. The
seed is fixed, so what it finds repeats until it is mended, and every request that breaks
the oracle is reported, not only the first. For a longer search, GDI_FUZZ_SEED changes the
seed and GDI_FUZZ_ROUNDS the number of requests per test (each test stops after SECONDS).

The oracle is what a client may rely on whatever it sends:
- never a 5xx (the database is up, a dead peer is the network's own answer), and nothing
  logged as an unhandled error;
- a refusal under /api or /network/api is a schema-valid Beacon error body, in the node's
  words (never Python's: `NoneType`, `invalid literal`, ...);
- a 200 to a Beacon endpoint validates against its response schema, and its variant records
  against the record schema.

Two nodes share one database: one opened up (exact counts, every tier), one with the
default disclosure rules (the budget and the loss accounting; its answer time floor off,
for speed, tests/test_smooth_floor.py covers it), each fanning out to the other and to a
port nothing listens on. Callers are anonymous, or hold a valid, a forged or a junk token.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientError, ClientSession

from auth.dev_issuer import trusted_issuer_entry
from auth.issuers import TrustedIssuer
from beacon.ingest import ingest
from catalogue.metadata import load_metadata
from node.app import create_app
from node.database import create_pool
from node.federation.peers import Peer
from node.ingest_request import make_request
from node.settings import DisclosureSettings, Settings
from synthetic_data.federation import SyntheticDataset, write_federation
from tests.beacon_schemas import (
    COLLECTIONS_SCHEMA,
    ENTRY_TYPES_SCHEMA,
    ERROR_SCHEMA,
    INFO_SCHEMA,
    MAP_SCHEMA,
    RECORD_SCHEMA,
    RESPONSE_SCHEMAS,
)
from tests.conftest import (
    OPEN_DISCLOSURE,
    free_port,
    node_database,
    raw_status,
    serve_app,
    serve_dev_aai,
)

# aiohttp's limit (its default max_line_size, which the node keeps): a longer request line
# is refused by its parser before the node's handlers see the request, with the node's
# Beacon error body (node/http/server.py answer_unparsed)
MAX_REQUEST_LINE = 8190
FILTERING_TERMS_SCHEMA = "framework/json/responses/beaconFilteringTermsResponse.json"
CONFIGURATION_SCHEMA = "framework/json/responses/beaconConfigurationResponse.json"
SEED = os.environ.get("GDI_FUZZ_SEED", "2026-12-02")
ROUNDS = int(os.environ.get("GDI_FUZZ_ROUNDS", "1500"))
SECONDS = 120                       # each test's bound in time, whatever ROUNDS says
# What a refusal must never say: Python's words for its own failures.
PYTHON_WORDS = re.compile(r"Traceback|NoneType|object has no attribute|invalid literal for|"
                          r"index out of range|unsupported operand|not subscriptable|"
                          r"KeyError|TypeError|ValueError|AttributeError|unhashable|"
                          r"asyncpg|psycopg|Errno|codec can't|\bFile \"")

NASTY: list[Any] = [
    None, True, False, 0, -1, 1.5, -0.0, 1e308, 2**31, 2**63 - 1, 2**63, 2**64, 10**30,
    -(2**63) - 1, "", " ", "x" * 5000, "\x00", "NCIT:\x00C3117", "é", "\U0001F4A5",
    "'; DROP TABLE variants; --", "%", "%00", "../../etc/passwd", "{id}", "P30Y", "P-1Y",
    "P99999999999999999999Y", "PT", "1e9", "NaN", "Infinity", "-5", "0,10", "10,0", "1,2,3",
    "GRCh38:17:7674944:C:T", "chr17", "<DEL>", "NCIT:C3117", "HP:0000118", "ICD10:C18",
    [], {}, [None], {"id": None}, ["x"] * 40, [[1, 2], [3]], {"id": "NCIT:C16576"},
]
# A number's edges (of int32, int64, uint64, a double's integers), for where a number was:
# a limit above 2^63-1 was once a 500.
EDGES = [0, -1, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30,
         -(2**31) - 1, -(2**63) - 1]
KEYS = ["referenceName", "start", "end", "referenceBases", "alternateBases", "variantType",
        "assemblyId", "datasetIds", "variantMinLength", "variantMaxLength", "geneId",
        "aminoacidChange", "genomicAlleleShortForm", "skip", "limit", "requestedGranularity",
        "includeResultsetResponses", "testMode", "filters", "id", "operator", "value",
        "scope", "includeDescendantTerms", "similarity", "purposeOfUse", "pagination",
        "requestParameters", "query", "meta", "currentPage", "junk"]


def _portal_body(granularity: str, parameters: Any, filters: list[Any]) -> dict[str, Any]:
    return {"meta": {"apiVersion": "v2.0", "purposeOfUse": "DUO:0000006"},
            "query": {"includeResultsetResponses": "HIT", "requestedGranularity": granularity,
                      "testMode": False, "pagination": {"skip": 0, "limit": 10},
                      "filters": filters, "requestParameters": parameters}}


SEQUENCE = {"assemblyId": "GRCh38", "referenceName": "17", "start": [7674944],
            "referenceBases": "C", "alternateBases": "T"}
RANGE = {"referenceName": "17", "start": "7600000", "end": "7700000", "variantType": "SNP"}
BRACKET = {"referenceName": "1", "start": [1000, 2000000], "end": [3000000, 5000000]}
GENE = {"geneId": "BRCA2", "aminoacidChange": "p.Val600Glu"}
BODIES = [
    _portal_body("record", None, [{"id": "NCIT:C16576", "scope": "individual"}]),
    _portal_body("count", SEQUENCE, [{"id": "NCIT:C3117", "includeDescendantTerms": False}]),
    _portal_body("count", RANGE, [{"id": "diseases.ageOfOnset.iso8601duration",
                                   "operator": ">", "value": "P30Y", "scope": "individual"}]),
    _portal_body("boolean", BRACKET, [{"id": "NCIT:C20197", "operator": None,
                                       "value": None}]),
    _portal_body("record", GENE, [{"id": "ICD10:C18", "scope": "individual"}]),
    _portal_body("count", [], []),
    _portal_body("record", {"genomicAlleleShortForm": "NC_000017.11:g.7674944C>T"}, []),
]
QUERY_STRINGS = [
    [("referenceName", "17"), ("start", "7674944"), ("referenceBases", "C"),
     ("alternateBases", "T"), ("assemblyId", "GRCh38")],
    [("referenceName", "chr17"), ("start", "7600000"), ("end", "7700000"),
     ("requestedGranularity", "count")],
    [("referenceName", "1"), ("start", "1000,2000000"), ("end", "3000000,5000000")],
    [("filters", "NCIT:C16576,NCIT:C3117"), ("requestedGranularity", "count")],
    [("geneId", "TP53"), ("limit", "5"), ("skip", "1")],
    [("requestedGranularity", "record"), ("skip", "0"), ("limit", "10")],
    [],
]
# One mutation most of the time: a request wrong in one place reaches the code that reads
# that place; one wrong in three is refused at the first.
MUTATIONS = [1] * 6 + [2] * 3 + [3]


@dataclass
class Fuzzed:
    nodes: dict[str, ClientSession]
    routes: list[tuple[str, str]]           # (method, path pattern)
    ids: dict[str, list[str]]               # per path parameter kind, real values
    tokens: list[str | None]


async def synthetic_node_database(stack: AsyncExitStack, pg_server_url: str, folder: Path
                                  ) -> tuple[str, list[SyntheticDataset]]:
    """A database holding the synthetic FI node (three datasets, their individuals) until
    `stack` closes: its URL and the datasets."""
    db_url = await stack.enter_async_context(node_database(pg_server_url))
    written = [d for d, _ in write_federation(folder, records=400, samples=12, seed=3,
                                              countries=("FI",))]
    for dataset in written:
        metadata = load_metadata(dataset.metadata_path)
        await ingest(db_url, make_request(dataset.spec.path, metadata.identifier,
                                          metadata=metadata, workers=1,
                                          individuals=dataset.phenopackets_path))
    return db_url, written


@pytest.fixture(scope="module")
async def fuzzed(pg_server_url: str, tmp_path_factory) -> AsyncIterator[Fuzzed]:
    folder = tmp_path_factory.mktemp("fuzz-http")
    async with AsyncExitStack() as stack:
        aai, aai_url = await serve_dev_aai(stack)
        db_url, written = await synthetic_node_database(stack, pg_server_url, folder)
        ports = {"open": free_port(), "default": free_port()}
        dead = f"http://127.0.0.1:{free_port()}/api"
        default_rules = DisclosureSettings(anonymous_discovery=True, answer_time_floor_ms=0)
        nodes, app = {}, None
        for name, rules in (("open", OPEN_DISCLOSURE), ("default", default_rules)):
            other = "default" if name == "open" else "open"
            node_settings = Settings(
                database_url=db_url, data_dir=folder / name, beacon_id=f"org.test.fuzz.{name}",
                port=ports[name], disclosure=rules, peer_timeout_seconds=1.0,
                trusted_issuers=[TrustedIssuer(**trusted_issuer_entry(aai_url))],
                peers=[Peer(id=f"org.test.fuzz.{other}",
                            url=f"http://127.0.0.1:{ports[other]}/api"),
                       Peer(id="org.test.fuzz.dead", url=dead)])
            pool = await create_pool(db_url, node_settings)
            stack.push_async_callback(pool.close)
            app = create_app(node_settings, pool)
            url = await serve_app(stack, app, ports[name])
            nodes[name] = await stack.enter_async_context(ClientSession(base_url=url))
        routes = sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                         if r.resource is not None and r.method != "*"})
        status, found = await _call(nodes["open"], "POST", "/api/g_variants", json.dumps(
            _portal_body("record", {"referenceName": "1", "start": [0], "end": [249_000_000]},
                         [])))
        assert status == 200, found
        variants = [r["variantInternalId"] for s in found["response"]["resultSets"]
                    for r in s["results"]][:5]
        people = json.loads(written[0].phenopackets_path.read_text())
        ids = {"id": [d.metadata.identifier for d in written] + variants
               + [p["subject"]["id"] for p in people[:3]],
               "kind": ["catalog", "dataset", "distribution"], "key": [], "name": [
                   "index.html", "app.js", "swagger-ui.css", "config.json"]}
        bob, carol = (aai.access_token(aai.users[name]) for name in ("bob", "carol"))
        # mostly callers the node answers (anonymous, bona fide, granted), sometimes a token
        # it must refuse (junk, a forged signature, an unsigned header and claims)
        tokens = [None] * 6 + [bob] * 3 + [carol] * 3 + ["junk", carol[:-4] + "AAAA",
                                                         "e30.e30." + "a" * 20]
        yield Fuzzed(nodes, routes, ids, tokens)


async def _call(client: ClientSession, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with client.request(method, path, data=body, headers=headers or {}) as response:
        raw = await response.read()
        kind = response.content_type
        return response.status, (json.loads(raw) if kind == "application/json" and raw
                                 else raw)


# --- mutations -------------------------------------------------------------------------------

def _nasty(rng: random.Random) -> Any:
    """One of NASTY, a copy (a later mutation may add a key into a {} drawn here)."""
    return copy.deepcopy(rng.choice(NASTY))


def _paths(document: Any, at: tuple = ()) -> list[tuple]:
    """Every place in a JSON document (the root included)."""
    places = [at]
    if isinstance(document, dict):
        for key, value in document.items():
            places += _paths(value, (*at, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            places += _paths(value, (*at, index))
    return places


def _mutate(document: Any, rng: random.Random, keys: list[str] = KEYS) -> Any:
    """The document with one place replaced, removed, wrapped, spelt as text, or given an
    extra key (one of `keys`); a number is replaced by one of its edges half the time."""
    place = rng.choice(_paths(document))
    how = rng.choice(["replace", "replace", "remove", "wrap", "add", "text"])
    if not place:
        return _nasty(rng) if how == "replace" else document
    parent = document
    for step in place[:-1]:
        parent = parent[step]
    last = place[-1]
    if how == "replace":
        number = isinstance(parent[last], int) and not isinstance(parent[last], bool)
        parent[last] = rng.choice(EDGES) if number and rng.random() < 0.5 else _nasty(rng)
    elif how == "remove":
        del parent[last]
    elif how == "wrap":
        parent[last] = [parent[last]]
    elif how == "text":
        parent[last] = json.dumps(parent[last])
    elif isinstance(parent[last], dict):
        parent[last][rng.choice(keys)] = _nasty(rng)
    return document


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


NUMERIC_KEYS = {"start", "end", "skip", "limit", "variantMinLength", "variantMaxLength"}
# what else a number may be spelt as in a query string: Python's int() takes several
NUMBER_SPELLINGS = ["1.5", "-0", "+5", "1e3", "0x10", " 5", "5 ", "1_000", "\u0663", "5,",
                    ",5", "5,,6"]


def _text_for(key: str, rng: random.Random) -> str:
    """A query string value for `key`: for a number, mostly its edges and odd spellings."""
    if key in NUMERIC_KEYS and rng.random() < 0.7:
        return str(rng.choice(EDGES)) if rng.random() < 0.6 else rng.choice(NUMBER_SPELLINGS)
    return _as_text(_nasty(rng))


def _fill(pattern: str, fuzzed: Fuzzed, rng: random.Random) -> str:
    """The route's path with each {parameter} a real value or a nasty one, URL-quoted."""
    def value(match: re.Match) -> str:
        real = fuzzed.ids.get(match.group(1))
        chosen = rng.choice(real) if real and rng.random() < 0.8 else _as_text(_nasty(rng))
        return quote(chosen, safe="") or "%20"
    return re.sub(r"\{(\w+)\}", value, pattern)


@dataclass
class Sent:
    """One fuzzed request: `path` is its route's path filled in, `target` adds the query."""

    method: str
    path: str
    target: str
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _portal_post(fuzzed: Fuzzed, rng: random.Random) -> Sent:
    path = _fill(rng.choice([p for m, p in fuzzed.routes if m == "POST"]), fuzzed, rng)
    body = copy.deepcopy(rng.choice(BODIES))
    for _ in range(rng.choice(MUTATIONS)):
        body = _mutate(body, rng)
    headers = {"Content-Type": "application/json"}
    if rng.random() < 0.3:
        purpose = _as_text(_nasty(rng))[:200]
        headers["X-Purpose-Of-Use"] = "".join(c for c in purpose if c.isprintable())
    return Sent("POST", path, path, json.dumps(body), headers)


# the routes that answer queries: most of the query strings go to them
ENTRY_ROUTE = re.compile(r"/api/(g_variants|individuals|datasets|filtering_terms)")


def _query_string(fuzzed: Fuzzed, rng: random.Random) -> Sent:
    method, pattern = rng.choice(fuzzed.routes if rng.random() < 0.4 else [
        (m, p) for m, p in fuzzed.routes if m == "GET" and ENTRY_ROUTE.search(p)])
    path = _fill(pattern, fuzzed, rng)
    pairs = list(rng.choice(QUERY_STRINGS))
    for _ in range(rng.choice(MUTATIONS)):
        how = rng.choice(["replace", "add", "add", "remove", "repeat"])
        if how == "add" or not pairs:
            key = rng.choice(KEYS)
            pairs.append((key, _text_for(key, rng)))
            continue
        index = rng.randrange(len(pairs))
        if how == "replace":
            pairs[index] = (pairs[index][0], _text_for(pairs[index][0], rng))
        elif how == "remove":
            del pairs[index]
        else:
            pairs.append(pairs[index])
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    accept = rng.choice([None, "application/json", "text/turtle", "application/ld+json",
                         "text/html", "*/*", "x/y;q=9"])
    return Sent(method, path, f"{path}?{query}" if query else path, None,
                {"Accept": accept} if accept else {})


RAW_BODIES = [b"", b" ", b"{", b"[]", b"null", b"0", b'"x"', b"\xff\xfe\x00", b"NaN",
              b'{"query": NaN}', b'{"query": Infinity}', b'{"a": "\\ud800"}',
              b"[" * 5000 + b"]" * 5000, b'{"query": {"filters": ' + b"[" * 900 + b"]" * 900
              + b"}}", b'{"meta": {}, "query": {}}' * 2, b"\xef\xbb\xbf{}",
              b'{"query": {"requestParameters": {"start": 1e400}}}']
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/json; charset=latin-1", ""]


def _raw_post(fuzzed: Fuzzed, rng: random.Random) -> Sent:
    path = _fill(rng.choice([p for m, p in fuzzed.routes if m == "POST"]), fuzzed, rng)
    body = (rng.choice(RAW_BODIES) if rng.random() < 0.6
            else rng.randbytes(rng.randint(0, 64)))
    kind = rng.choice(CONTENT_TYPES)
    return Sent("POST", path, path, body, {"Content-Type": kind} if kind else {})


# --- the oracle -------------------------------------------------------------------------------

def _schema_of(path: str, document: dict[str, Any]) -> str | None:
    """The response schema a 200 from this Beacon path must validate against."""
    tail = re.sub(r"^/(network/)?api", "", path).rstrip("/")
    fixed = {"": INFO_SCHEMA, "/info": INFO_SCHEMA, "/map": MAP_SCHEMA,
             "/entry_types": ENTRY_TYPES_SCHEMA, "/configuration": CONFIGURATION_SCHEMA,
             "/filtering_terms": FILTERING_TERMS_SCHEMA,
             "/individuals/filtering_terms": FILTERING_TERMS_SCHEMA}
    if tail in fixed:
        return fixed[tail]
    if tail in ("/service-info", "/openapi.json", "/docs"):
        return None
    if re.fullmatch(r"/datasets(/[^/]+)?", tail):
        return COLLECTIONS_SCHEMA
    return RESPONSE_SCHEMAS[document["meta"]["returnedGranularity"]]


def _problem(sent: Sent, status: int, document: Any, beacon_schema) -> str | None:
    """What is wrong with the answer to `sent`, if anything."""
    if status >= 500:
        return "a 5xx"
    if too_long(sent) and status != 400:
        return "not a 400 for a request line too long"
    if re.match(r"^/(network/)?api(/|$)", sent.path) is None or sent.method == "HEAD":
        return None
    if status >= 400:
        if not isinstance(document, dict) or beacon_schema(ERROR_SCHEMA, document):
            return "a refusal that is not a Beacon error body"
        message = document["error"]["errorMessage"]
        if not message.strip() or PYTHON_WORDS.search(message):
            return "a refusal in Python's words, or none"
    elif status == 200 and isinstance(document, dict):
        schema = _schema_of(sent.path, document)
        errors = beacon_schema(schema, document) if schema else []
        if re.search(r"g_variants(/[^/]+)?/?$", sent.path):
            for result_set in document.get("response", {}).get("resultSets", []):
                for record in result_set.get("results", []):
                    errors += beacon_schema(RECORD_SCHEMA, record)
        if errors:
            return f"an answer not valid against its schema: {errors[:3]}"
    return None


def too_long(sent: Sent) -> bool:
    """Whether aiohttp's parser refuses the request line before any handler sees it."""
    return len(f"{sent.method} {sent.target} HTTP/1.1") > MAX_REQUEST_LINE


def logged_errors(caplog, since: int) -> list[str]:
    """What the servers logged at ERROR since record number `since`, each with its exception."""
    return [f"{r.getMessage()} ({r.exc_info[1]!r:.200})" if r.exc_info else r.getMessage()
            for r in caplog.records[since:] if r.levelno >= logging.ERROR]


def failure(problem: str | None, errors: list[str], what: str) -> str | None:
    """The report of a request that broke the oracle (`what` says what was sent and
    answered), or None."""
    if not (problem or errors):
        return None
    return f"{problem or 'logged'}{' ' + str(errors)[:400] if errors else ''}: {what}"


async def fuzz_rounds(name: str, rounds: int,
                      one: Callable[[random.Random], Awaitable[str | None]],
                      seconds: float = SECONDS) -> None:
    """Up to `rounds` rounds of `one` (within `seconds`), each drawing what it sends from
    the seeded `rng` and giving the report of an answer that broke the oracle, or None;
    every report is shown, not only the first."""
    rng = random.Random(f"{SEED}:{name}")
    failures: list[str] = []
    deadline = time.monotonic() + seconds
    done = 0
    for done in range(1, rounds + 1):
        report = await one(rng)
        if report:
            failures.append(report)
        if time.monotonic() > deadline:
            break
    assert not failures, (f"{len(failures)} of {done} rounds (seed {SEED!r}):\n"
                          + "\n".join(failures[:10]))


async def _fuzz(fuzzed: Fuzzed, beacon_schema, caplog, name: str,
                make: Callable[[Fuzzed, random.Random], Sent]) -> None:
    """Requests made by `make`, each to a node and as a caller drawn at random: every one
    whose answer breaks the oracle, or that the node logged an error for, is reported."""
    caplog.set_level(logging.ERROR)

    async def one(rng: random.Random) -> str | None:
        sent = make(fuzzed, rng)
        node = rng.choice(sorted(fuzzed.nodes))
        token = rng.choice(fuzzed.tokens)
        if token is not None:
            sent.headers["Authorization"] = f"Bearer {token}"
        logged = len(caplog.records)
        try:
            status, document = await _call(fuzzed.nodes[node], sent.method, sent.target,
                                           sent.body, sent.headers)
        except ClientError:
            if not too_long(sent):
                raise
            return None     # aiohttp's parser refused the line and closed before the answer
        return failure(_problem(sent, status, document, beacon_schema),
                       logged_errors(caplog, logged),
                       f"{sent.method} {sent.target[:300]} to {node}, body "
                       f"{str(sent.body)[:300]} -> {status} {str(document)[:300]}")
    await fuzz_rounds(name, ROUNDS, one)


# --- the tests ---------------------------------------------------------------------------------

async def test_mutated_portal_bodies_never_fail_the_node(fuzzed, beacon_schema, caplog):
    await _fuzz(fuzzed, beacon_schema, caplog, "portal", _portal_post)


async def test_mutated_query_strings_on_every_route_never_fail_the_node(
        fuzzed, beacon_schema, caplog):
    await _fuzz(fuzzed, beacon_schema, caplog, "query", _query_string)


# The headers the node reads, and one it does not: their values arrive as bytes, which no
# HTTP client sends broken, and aiohttp hands bytes that are not UTF-8 on as lone surrogates
HEADER_NAMES = [b"Authorization", b"X-Purpose-Of-Use", b"X-Request-ID", b"Accept",
                b"Accept-Encoding", b"Content-Type", b"If-None-Match", b"If-Modified-Since",
                b"Origin", b"Access-Control-Request-Method", b"Access-Control-Request-Headers",
                b"X-Forwarded-For", b"Cookie", b"Accept-Language", b"X-Junk"]
HEADER_VALUES = [b"Bearer ", b"DUO:0000006", b"text/turtle", b"application/ld+json;q=0.5",
                 b'"etag"', b"Mon, 01 Jan 2024 00:00:00 GMT", b"http://127.0.0.1:1", b"*"]


def _raw_header(rng: random.Random) -> bytes:
    """A header whose value is real with bytes put in, or bytes alone (no CR or LF, which
    would end it): invalid UTF-8, control characters, Latin-1."""
    noise = bytes(rng.choice([b for b in range(256) if b not in (10, 13)])
                  for _ in range(rng.randint(1, 12)))
    name = rng.choice(HEADER_NAMES)
    if name == b"Authorization" and rng.random() < 0.5:     # a token, not a broken scheme
        return name + b": Bearer " + noise
    value = rng.choice(HEADER_VALUES)
    at = rng.randint(0, len(value))
    value = value[:at] + noise + value[at:] if rng.random() < 0.7 else noise
    return name + b": " + value


async def test_header_bytes_no_client_would_send_never_fail_the_node(fuzzed, caplog):
    """Found by a probe of this kind: a bearer token, and an X-Purpose-Of-Use, of bytes that
    are not UTF-8, each a 500. Oracle: never a 5xx, nothing logged as an unhandled error."""
    caplog.set_level(logging.ERROR)
    bases = {name: str(client._base_url) for name, client in fuzzed.nodes.items()}

    async def one(rng: random.Random) -> str | None:
        method, pattern = rng.choice(fuzzed.routes)
        path = _fill(pattern, fuzzed, rng)
        if rng.random() < 0.3:
            path += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in rng.choice(QUERY_STRINGS))
        node = rng.choice(sorted(bases))
        header = _raw_header(rng)
        logged = len(caplog.records)
        line = f"{method} {path} HTTP/1.1".encode()
        status = await raw_status(bases[node], line, header)
        return failure("a 5xx" if status >= 500 else None, logged_errors(caplog, logged),
                       f"{line[:200]!r} with {header[:100]!r} to {node} -> {status}")
    await fuzz_rounds("header bytes", ROUNDS, one)


async def test_bodies_that_are_not_json_or_not_a_request_are_refused_cleanly(
        fuzzed, beacon_schema, caplog):
    await _fuzz(fuzzed, beacon_schema, caplog, "raw", _raw_post)
