"""The catalogue service fuzzed, within bounds, as tests/test_fuzz_http.py fuzzes the node:
searches with mutated parameters, dataset and FAIR Data Point paths with mutated ids, and a
node's registration and dataset snapshot with one to three parts mutated, sent with its own
token, another node's, a wrong one or none. Seeded the same way (GDI_FUZZ_SEED,
GDI_FUZZ_ROUNDS).

The oracle, for every request: never a 5xx and nothing logged as an unhandled error; a
refusal is the catalogue's JSON error (`error.code`, `error.message`) in its own words; and
whatever was accepted, the catalogue still answers its search and its FAIR Data Point.

The last test is the harvest from a hostile node's side: its FAIR Data Point's documents
changed, harvested round after round, each harvest held to an outcome (an exception ends
the catalogue's harvest loop for every node). Its first runs found two NULs reaching the
database: in a harvested publisher's name, and in a stored harvest error.
"""
from __future__ import annotations

import copy
import json
import logging
import random
import re
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from catalogue import store
from catalogue.harvest import harvest_all
from catalogue.record import CatalogueRecord
from node.catalogue_app import create_app as create_catalogue
from tests.conftest import free_port, raw_status, serve_app
from tests.test_catalogue_service import (
    NODE,
    OTHER,
    TOKENS,
    _catalogue_db,
    _catalogue_settings,
    _record,
    _registration,
    _snapshot,
    registered_fake,
)
from tests.test_fuzz_http import (
    KEYS,
    MUTATIONS,
    PYTHON_WORDS,
    ROUNDS,
    Sent,
    _as_text,
    _mutate,
    _nasty,
    _raw_header,
    _text_for,
    failure,
    fuzz_rounds,
    logged_errors,
    too_long,
)

FDP = "http://fi.example/fdp"
SEARCH_KEYS = ["q", "node", "country", "accessRights", "theme", "assembly", "status", "skip",
               "limit", "sort", "access_rights", "junk"]
SEARCHES = [[("q", "cardio"), ("sort", "title")], [("country", "FI"), ("status", "any"),
                                                  ("sort", "modified")],
            [("accessRights", "PUBLIC"), ("limit", "5"), ("skip", "0")],
            [("theme", "HEAL"), ("assembly", "GRCh38")], []]


@dataclass
class Catalogue:
    http: aiohttp.ClientSession
    url: str


@pytest.fixture(scope="module")
async def catalogue(pg_server_url: str, tmp_path_factory) -> AsyncIterator[Catalogue]:
    """A catalogue with the FI node registered and two of its datasets published."""
    port = free_port()
    settings = _catalogue_settings(Path(tmp_path_factory.mktemp("fuzz-catalogue")), port)
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(_catalogue_db(pg_server_url, settings))
        url = await serve_app(stack, create_catalogue(settings, pool), port)
        http = await stack.enter_async_context(aiohttp.ClientSession(base_url=url))
        auth = {"Authorization": f"Bearer {TOKENS[NODE]}"}
        for path, body in ((f"/api/nodes/{NODE}", _registration(FDP)),
                           (f"/api/nodes/{NODE}/datasets", _snapshot(
                               _record("GDI-FI-SYN-001", FDP), _record("GDI-FI-SYN-002", FDP)))):
            async with http.put(path, json=body, headers=auth) as response:
                assert response.status == 200, await response.text()
        yield Catalogue(http, url)


def _search(rng: random.Random) -> Sent:
    pairs = list(rng.choice(SEARCHES))
    for _ in range(rng.choice(MUTATIONS)):
        key = rng.choice(SEARCH_KEYS) if rng.random() < 0.5 or not pairs else None
        if key is not None:
            pairs.append((key, _text_for(key, rng)))
        else:
            index = rng.randrange(len(pairs))
            pairs[index] = (pairs[index][0], _text_for(pairs[index][0], rng))
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    return Sent("GET", "/api/datasets", f"/api/datasets?{query}")


def _lookup(rng: random.Random) -> Sent:
    key = rng.choice(["GDI-FI-SYN-001", "GDI-FI-SYN-003", _as_text(_nasty(rng))])
    path = rng.choice(["/api/datasets/{}", "/fdp/dataset/{}", "/fdp/distribution/{}",
                       "/api/nodes", "/fdp", "/fdp/catalog/{}"]).format(quote(key, safe="")
                                                                       or "%20")
    return Sent(rng.choice(["GET", "HEAD", "GET"]), path, path)


# What a mutation may add to a registration or a record: the request's keys and theirs,
# the optional ones the base leaves out among them (contactPoint, themes, an agent's id)
PUBLICATION_KEYS = KEYS + [
    "name", "country", "beaconUrl", "fdpUrl", "records", "identifier", "iri", "title",
    "description", "accessRights", "keywords", "themes", "healthCategories",
    "applicableLegislation", "publisher", "creator", "contactPoint", "email", "assembly",
    "numberOfRecords", "numberOfUniqueIndividuals", "issued", "modified"]


# Values of a record's fields a node could send that each were accepted once and broke the
# catalogue's FAIR Data Point or its write (found by a probe, not by the mutations above,
# which seldom make a value of the right type that is wrong): a date without a time zone or
# past HTTP's last year, an identifier or vocabulary the GDI shapes refuse, a lone
# surrogate, a text past the search index's bound, a Beacon outside the node's origin.
RECORD_VALUES: dict[str, list[Any]] = {
    "issued": ["2024-03-01T00:00:00", "9999-12-31T23:59:59.500000Z",
               "0001-01-01T00:00:00+14:00", "2024-03-01"],
    "modified": ["2024-03-01T00:00:00", "9999-12-31T23:59:59.500000Z",
                 "9999-12-31T23:00:00-14:00", "2024-03-01T00:00:00.5+05:30"],
    "identifier": ["not-a-gdi-id", "", ".", "a:b", "GDI-FI-SYN-" + "9" * 3000],
    "healthCategories": [["http://example.org/x"], []],
    "themes": [[], ["http://example.org/x"]],
    "title": ["Variants \ud800", "t" * 1001],
    "description": [" ".join(f"w{n:x}" for n in range(60_000))],    # distinct words, 420 kB
    "keywords": [["\udfff"], ["k"] * 101, ["k" * 201]],
    "beaconUrl": ["http://attacker.example:6666/api", "https://fi.example/api"],
}


def _mutated(body: Any, rng: random.Random) -> Any:
    """One mutation of a publication: half of a snapshot's inside one of its records, where
    one place among the whole snapshot's is seldom drawn, and of those a third a field given
    one of RECORD_VALUES."""
    records = body.get("records") if isinstance(body, dict) else None
    if isinstance(records, list) and records and rng.random() < 0.5:
        index = rng.randrange(len(records))
        if isinstance(records[index], dict) and rng.random() < 1 / 3:
            field = rng.choice(list(RECORD_VALUES))
            records[index][field] = copy.deepcopy(rng.choice(RECORD_VALUES[field]))
        else:
            records[index] = _mutate(records[index], rng, PUBLICATION_KEYS)
        return body
    return _mutate(body, rng, PUBLICATION_KEYS)


def _publish(rng: random.Random) -> Sent:
    registration = rng.random() < 0.4
    body: Any = (_registration(FDP) if registration else _snapshot(
        _record("GDI-FI-SYN-001", FDP), _record("GDI-FI-SYN-004", FDP)))
    body = copy.deepcopy(json.loads(json.dumps(body)))
    for _ in range(rng.choice(MUTATIONS)):
        body = _mutated(body, rng)
    node = rng.choice([NODE] * 4 + [OTHER, "org.test.unknown", _as_text(_nasty(rng))])
    path = f"/api/nodes/{quote(node, safe='') or '%20'}" + ("" if registration
                                                           else "/datasets")
    token = rng.choice([TOKENS[NODE]] * 6 + [TOKENS[OTHER], "wrong", None])
    return Sent("PUT", path, path, json.dumps(body),
                {"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})


def _problem(sent: Sent, status: int, raw: bytes, kind: str) -> str | None:
    if status >= 500:
        return "a 5xx"
    if too_long(sent):
        return None if status == 400 else "not aiohttp's 400 for a request line too long"
    if status < 400 or sent.method == "HEAD" or not sent.path.startswith("/api/"):
        return None
    if kind != "application/json":
        return f"a refusal as {kind}"
    error = json.loads(raw).get("error") if raw else None
    if not isinstance(error, dict) or not error.get("code") or not error.get("message"):
        return "a refusal without error.code and error.message"
    if PYTHON_WORDS.search(str(error["message"])):
        return "a refusal in Python's words"
    return None


async def _still_published(catalogue: Catalogue) -> str | None:
    """What a publication accepted broke of the catalogue's FAIR Data Point (None: nothing):
    its root and the node's catalog, and each dataset document of the node's, answer 200.
    Checked after each, as a harvester reads it: the snapshot a later round sends replaces
    what broke it (a zone-less date was accepted, and /fdp was a 500 until then)."""
    paths = ["/fdp", f"/fdp/catalog/{NODE}"]
    async with catalogue.http.get("/api/datasets", params={"node": NODE}) as response:
        if response.status != 200:
            return f"the search answered {response.status}"
        paths += [f"/fdp/dataset/{quote(d['identifier'], safe='')}"
                  for d in (await response.json())["datasets"]]
    for path in paths:
        async with catalogue.http.get(path, headers={"Accept": "text/turtle"}) as response:
            if response.status != 200:
                return f"then {path} answered {response.status}"
    return None


async def _fuzz(catalogue: Catalogue, caplog, name: str,
                make: Callable[[random.Random], Sent]) -> None:
    caplog.set_level(logging.ERROR)

    async def one(rng: random.Random) -> str | None:
        sent = make(rng)
        logged = len(caplog.records)
        try:
            async with catalogue.http.request(sent.method, sent.target, data=sent.body,
                                              headers=sent.headers) as response:
                raw = await response.read()
                problem = _problem(sent, response.status, raw, response.content_type)
                status = response.status
        except aiohttp.ClientError:
            if not too_long(sent):
                raise
            return None     # aiohttp's parser refused the line and closed before the answer
        if problem is None and sent.method == "PUT" and status < 300:
            problem = await _still_published(catalogue)
        return failure(problem, logged_errors(caplog, logged),
                       f"{sent.method} {sent.target[:300]}, body {str(sent.body)[:300]} -> "
                       f"{status} {raw[:300]!r}")
    await fuzz_rounds(f"catalogue:{name}", ROUNDS, one)
    for path in ("/api/datasets?status=any", "/api/nodes", "/fdp"):
        async with catalogue.http.get(path) as response:
            assert response.status == 200, path         # what was accepted broke nothing


async def test_mutated_searches_and_lookups_never_fail_the_catalogue(catalogue, caplog):
    await _fuzz(catalogue, caplog, "read",
                lambda rng: _search(rng) if rng.random() < 0.6 else _lookup(rng))


async def test_mutated_registrations_and_snapshots_are_refused_cleanly(catalogue, caplog):
    await _fuzz(catalogue, caplog, "publish", _publish)


async def test_header_bytes_no_client_would_send_never_fail_the_catalogue(catalogue, caplog):
    """As tests/test_fuzz_http.py sends the node: a node's token of bytes that are not UTF-8
    was a 500 of the catalogue's registration and snapshot."""
    caplog.set_level(logging.ERROR)
    targets = [("GET", "/api/nodes"), ("GET", "/api/datasets?q=cardio"),
               ("GET", "/api/datasets/GDI-FI-SYN-001"), ("GET", "/fdp"),
               ("GET", f"/fdp/catalog/{NODE}"), ("GET", "/health"), ("OPTIONS", "/api/nodes"),
               ("PUT", f"/api/nodes/{NODE}"), ("PUT", f"/api/nodes/{NODE}/datasets")]

    async def one(rng: random.Random) -> str | None:
        method, path = rng.choice(targets)
        header = _raw_header(rng)
        logged = len(caplog.records)
        status = await raw_status(catalogue.url, f"{method} {path} HTTP/1.1".encode(), header)
        return failure("a 5xx" if status >= 500 else None, logged_errors(caplog, logged),
                       f"{method} {path} with {header[:100]!r} -> {status}")
    await fuzz_rounds("catalogue:header bytes", ROUNDS, one)


# --- the harvest, from a hostile node's side ---------------------------------------------------

# What a literal's text or an IRI of a node's FAIR Data Point may become
LITERALS = ["", " ", "x" * 5000, "\\u0000", "\\ud800", "é", "-5", "1e400", "NaN", "P30Y",
            "2024-13-45", "2024-02-01T00:00:00", "9999-12-31T23:59:59.5Z",
            "9999999999999999999999", "GRCh99", "FI\\nSE", '\\"', "http://x"]
IRIS = ["<>", "<#x>", "<../../x>", "<http://evil.example/fdp>", "<mailto:x@y>",
        "<http://127.0.0.1:1/fdp>", "<urn:x>", "<http://fi.example/fdp/dataset/GDI-FI-SYN-001>"]


def _mutated_turtle(text: str, rng: random.Random) -> tuple[str, str]:
    """One change to a Turtle document: a literal's text or an IRI replaced, a line dropped,
    doubled or swapped, a byte changed, or the end cut off; and what was done."""
    lines = text.split("\n")
    how = rng.choice(["literal", "literal", "iri", "iri", "drop", "double", "swap", "byte",
                      "cut"])
    if how in ("literal", "iri"):
        pattern = r'"(?:[^"\\\n]|\\.)*"' if how == "literal" else r"<[^<>\s]*>"
        found = list(re.finditer(pattern, text))
        if found:
            match = rng.choice(found)
            new = (f'"{rng.choice(LITERALS)}"' if how == "literal" else
                   rng.choice(IRIS + [m.group(0) for m in found]))
            return text[:match.start()] + new + text[match.end():], f"{how} {new[:40]!r}"
    if how in ("drop", "double", "swap") and len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        if how == "drop":
            del lines[i]
        elif how == "double":
            lines.insert(i, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines), f"{how} line {i}"
    if how == "byte" and text:
        i = rng.randrange(len(text))
        return text[:i] + chr(rng.choice([0, 0x7f, 0xe9, 0xfffd, 0x1F4A5])) + text[i + 1:], \
            f"byte {i}"
    cut = rng.randrange(len(text) + 1)
    return text[:cut], f"cut at {cut}"


async def test_a_hostile_fdp_never_breaks_the_harvest(pg_server_url, tmp_path, caplog):
    """A registered node whose FAIR Data Point serves its real documents with one to three
    changed (a literal, an IRI, a line, a byte, the end cut off), harvested round after
    round: the harvest of every node ends with an outcome (an exception would end the
    catalogue's harvest loop for every node), nothing is logged as an unhandled error, a
    record it takes is one a push could send (CatalogueRecord), one it withdraws keeps only
    its identifier, and the catalogue still answers its search and its FAIR Data Point."""
    caplog.set_level(logging.ERROR)
    port = free_port()
    settings = _catalogue_settings(tmp_path, port)
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(_catalogue_db(pg_server_url, settings))
        url = await serve_app(stack, create_catalogue(settings, pool), port)
        fake = await registered_fake(stack, pool, accessRights="NON_PUBLIC")
        http = await stack.enter_async_context(aiohttp.ClientSession())
        documents: dict[str, str] = {}
        for path in ("/fdp", "/fdp/catalog/main", "/fdp/dataset/GDI-FI-SYN-001",
                     "/fdp/dataset/GDI-FI-SYN-002"):
            async with http.get(fake.base + path, headers={"Accept": "text/turtle"}) as got:
                assert got.status == 200, path
                documents[path] = await got.text()
        [first] = await harvest_all(pool, http, settings.harvest_config())
        assert first.healthy and first.upserted == ["GDI-FI-SYN-001", "GDI-FI-SYN-002"]

        async def one(rng: random.Random) -> str | None:
            changed: dict[str, str] = {}
            for _ in range(rng.choice(MUTATIONS)):
                path = rng.choice(list(documents))
                changed[path], done = _mutated_turtle(changed.get(path, documents[path]), rng)
                changed[path + " "] = done
            fake.broken = {p: (200, text) for p, text in changed.items() if not p.endswith(" ")}
            what = "; ".join(f"{p.strip()}: {d}" for p, d in changed.items() if p.endswith(" "))
            logged = len(caplog.records)
            try:
                outcomes = await harvest_all(pool, http, settings.harvest_config())
            except Exception as exc:  # noqa: BLE001 -- what the oracle is for
                raised = " < ".join(f"{Path(f.filename).name}:{f.lineno}"
                                    for f in traceback.extract_tb(exc.__traceback__)[::-1][:8])
                return (f"{what}: the harvest raised {type(exc).__name__}: {exc!s:.300} "
                        f"(at {raised})")
            unexpected = [r.getMessage()[:200] for r in caplog.records[logged:]
                          if not r.getMessage().startswith(f"harvest of node {NODE} failed")]
            problems = [f"logged {m}" for m in unexpected]
            if [o.node_id for o in outcomes] != [NODE]:
                problems.append(f"outcomes {outcomes}")
            _, stored = await store.search(pool, store.DatasetQuery(status=None, limit=100))
            for entry in stored:        # a withdrawn one is its identifier only
                if entry.status == "active":
                    CatalogueRecord.model_validate(entry.record)     # raises if not one
                elif entry.record != {"identifier": entry.identifier}:
                    problems.append(f"withdrawn {entry.identifier} kept {entry.record}")
            for path in ("/api/datasets", "/fdp"):
                async with http.get(url + path) as response:
                    if response.status != 200:
                        problems.append(f"{path} answered {response.status}")
            return f"{what}: {'; '.join(problems)}" if problems else None
        await fuzz_rounds("catalogue:harvest", ROUNDS, one)
