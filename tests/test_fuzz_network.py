"""The network endpoint fuzzed from the other side: peers that answer wrongly. A node fans
its /network/api requests out to one honest peer and two hostile ones. A hostile peer asks
the honest node the same question and passes its answer on with one to three parts mutated
(half of them inside its `response`, which the network passes on; a key added is one of the
request's or of the Beacon response schemas'), or answers with something else (not JSON,
JSON of the wrong shape, an error status, an empty body, a body of the wrong content type).
Seeded like tests/test_fuzz_http.py (GDI_FUZZ_SEED, GDI_FUZZ_ROUNDS: 1,500 network requests
by default). Its first runs found that a peer's resultSet `info` other than an object, and
two peers' counts of 2^64 - 1 (a 500), broke the network's answer.

The oracle, for every network request: never a 5xx, nothing logged as an unhandled error,
an answer valid against its Beacon schema whatever the peers sent (the records in a
peer's resultSets aside: they are passed on as the peer sent them, tagged with its id, and
the honest peer's are checked against the record schema), and every peer with its line in
`info.network.peers` (a peer's nonsense is its status there, never the caller's error).
"""
from __future__ import annotations

import copy
import json
import logging
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientSession, web

from node.app import create_app
from node.database import create_pool
from node.federation.peers import Peer
from node.settings import Settings
from tests.conftest import OPEN_DISCLOSURE, serve_app
from tests.test_fuzz_http import (
    BODIES,
    KEYS,
    MUTATIONS,
    QUERY_STRINGS,
    ROUNDS,
    SEED,
    Sent,
    _mutate,
    _problem,
    failure,
    fuzz_rounds,
    logged_errors,
    synthetic_node_database,
)

HOSTILE = ("org.test.hostile.1", "org.test.hostile.2")
# What a hostile peer may add to its answer besides the request's keys: what the Beacon
# response schemas define, which the honest peer leaves out (a set's resultsHandovers) or
# sends (a set's info: as "P30Y" it once made the network's answer invalid)
ANSWER_KEYS = KEYS + [
    "info", "resultsHandovers", "beaconHandovers", "handoverType", "url", "note", "label",
    "results", "resultsCount", "resultSets", "exists", "numTotalResults", "countPrecision",
    "countAdjustedTo", "returnedGranularity", "beaconId", "setType", "collections",
    "filteringTerms", "resources", "scopes", "type", "values", "endpointSets",
    "organization", "name", "apiVersion", "welcomeUrl"]
# What a hostile peer sends instead of the honest answer mutated
OTHER_ANSWERS: list[tuple[int, str, bytes]] = [
    (200, "application/json", b""), (200, "application/json", b"null"),
    (200, "application/json", b"[]"), (200, "application/json", b'{"meta": {}}'),
    (200, "text/html", b"<html>maintenance</html>"), (200, "application/json", b"{" * 3000),
    (500, "application/json", b'{"error": {"errorCode": 500, "errorMessage": "boom"}}'),
    (404, "application/json", b'{"error": {"errorCode": 404}}'), (502, "text/plain", b"bad"),
    (200, "application/json", (b'{"meta": {"returnedGranularity": "count"}, '
                               b'"responseSummary": {"exists": true, "numTotalResults": -5}}')),
    (200, "application/json", (b'{"meta": {"returnedGranularity": "record"}, '
                               b'"responseSummary": {"exists": true}, '
                               b'"response": {"resultSets": [7, null, {"id": 1}]}}')),
]


def _mutated(document: Any, rng: random.Random) -> Any:
    """One mutation of a peer's answer: half of them inside its `response`, which the
    network passes on (resultSets, collections, terms), where one place among the many of
    the whole answer (its `meta` echoes the request) is seldom drawn."""
    response = document.get("response") if isinstance(document, dict) else None
    if isinstance(response, dict) and rng.random() < 0.5:
        document["response"] = _mutate(response, rng, ANSWER_KEYS)
        return document
    return _mutate(document, rng, ANSWER_KEYS)


@dataclass
class Hostile:
    """What the hostile peers do: each asks the honest node, then answers as `rng` says."""

    honest: ClientSession
    rng: random.Random = field(default_factory=random.Random)
    sent: list[str] = field(default_factory=list)       # what each answered, for reports

    async def answer(self, request: web.Request) -> web.Response:
        rng = self.rng
        if rng.random() < 0.25:
            status, kind, body = rng.choice(OTHER_ANSWERS)
            self.sent.append(f"{request.path}: {status} {body[:80]!r}")
            return web.Response(status=status, body=body, content_type=kind)
        async with self.honest.request(request.method, request.path_qs,
                                       data=await request.read(),
                                       headers={"Content-Type": "application/json"}
                                       ) as response:
            status, honest = response.status, await response.json(content_type=None)
        document = copy.deepcopy(honest)
        mutations = [] if rng.random() < 0.1 else range(rng.choice(MUTATIONS))
        for _ in mutations:
            document = _mutated(document, rng)
        self.sent.append(f"{request.path}: {status} {json.dumps(document)[:200]}")
        return web.Response(status=status, text=json.dumps(document),
                            content_type="application/json")


@dataclass
class Network:
    client: ClientSession            # to the node whose /network/api is fuzzed
    hostile: Hostile
    routes: list[tuple[str, str]]


@pytest.fixture(scope="module")
async def network(pg_server_url: str, tmp_path_factory) -> AsyncIterator[Network]:
    folder = tmp_path_factory.mktemp("fuzz-network")
    async with AsyncExitStack() as stack:
        db_url, _ = await synthetic_node_database(stack, pg_server_url, folder)
        honest_settings = Settings(database_url=db_url, data_dir=folder / "honest",
                                   beacon_id="org.test.honest", disclosure=OPEN_DISCLOSURE)
        pool = await create_pool(db_url, honest_settings)
        stack.push_async_callback(pool.close)
        honest_url = await serve_app(stack, create_app(honest_settings, pool))
        honest = await stack.enter_async_context(ClientSession(base_url=honest_url))
        hostile = Hostile(honest)
        liar = web.Application()
        liar.router.add_route("*", "/{tail:.*}", hostile.answer)
        liar_urls = [await serve_app(stack, liar) for _ in HOSTILE]
        settings = Settings(
            database_url=db_url, data_dir=folder / "aggregator", beacon_id="org.test.aggregator",
            disclosure=OPEN_DISCLOSURE, peer_timeout_seconds=2.0,
            peers=[Peer(id="org.test.honest", url=f"{honest_url}/api"),
                   *(Peer(id=name, url=f"{url}/api") for name, url in zip(HOSTILE, liar_urls))])
        pool = await create_pool(db_url, settings)
        stack.push_async_callback(pool.close)
        app = create_app(settings, pool)
        client = await stack.enter_async_context(
            ClientSession(base_url=await serve_app(stack, app)))
        routes = sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                         if r.resource is not None and r.method in ("GET", "POST")
                         and r.resource.canonical.startswith("/network/api")})
        yield Network(client, hostile, routes)


def _request(network: Network, rng: random.Random) -> Sent:
    method, pattern = rng.choice(network.routes)
    path = pattern.replace("{id}", rng.choice(["GDI-FI-SYN-001", "GDI-FI-SYN-002",
                                               "GRCh38:17:7674944:C:T", "FI1_00001"]))
    if method == "POST":
        return Sent(method, path, path, json.dumps(rng.choice(BODIES)),
                    {"Content-Type": "application/json"})
    pairs = rng.choice(QUERY_STRINGS)
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return Sent(method, path, f"{path}?{query}" if query else path)


def _honest_records(document: Any) -> Any:
    """The answer with the records of the hostile peers' resultSets left out: a peer's
    records are passed on as it sent them (docs/federation.md), each set tagged with its
    `beaconId`, so what the network vouches for is the envelope and the sets' own fields."""
    if not isinstance(document, dict) or not isinstance(document.get("response"), dict):
        return document
    sets = document["response"].get("resultSets")
    if not isinstance(sets, list):
        return document
    honest = [s if s.get("beaconId") not in HOSTILE else {**s, "results": []} for s in sets]
    return {**document, "response": {**document["response"], "resultSets": honest}}


def _peers_problem(path: str, document: dict[str, Any]) -> str | None:
    """Whether every peer has its line in the answer's `info.network.peers` (under
    `response.info` for /info); the entry types and the configuration are the node's own,
    the service-info the network's (no peer asked)."""
    info = document.get("info") or document.get("response", {}).get("info") or {}
    network = info.get("network")
    if network is None:
        fans_out = not path.rstrip("/").endswith(("/entry_types", "/configuration",
                                                  "/service-info"))
        return f"no info.network in the answer to {path}" if fans_out else None
    listed = sorted(line["id"] for line in network.get("peers", []))
    return None if listed == sorted(["org.test.honest", *HOSTILE]) else f"peers {listed}"


async def test_peers_answering_nonsense_never_break_the_network_answer(network, beacon_schema,
                                                                      caplog):
    caplog.set_level(logging.ERROR)
    network.hostile.rng = random.Random(f"{SEED}:network:peers")

    async def one(rng: random.Random) -> str | None:
        sent = _request(network, rng)
        network.hostile.sent.clear()
        logged = len(caplog.records)
        async with network.client.request(sent.method, sent.target, data=sent.body,
                                          headers=sent.headers) as response:
            raw = await response.read()
            status = response.status
            document: Any = (json.loads(raw) if response.content_type == "application/json"
                             and raw else raw)
        problem = _problem(sent, status, _honest_records(document), beacon_schema)
        if problem is None and status == 200 and isinstance(document, dict):
            problem = _peers_problem(sent.path, document)
        return failure(problem, logged_errors(caplog, logged),
                       f"{sent.method} {sent.target} -> {status} {str(document)[:300]}; "
                       f"the hostile peers sent {network.hostile.sent}")
    await fuzz_rounds("network", ROUNDS, one)
