"""Catalogue search as a person types it (issue 18, item 9; migration 0003, catalogue/store.py):
words as prefixes, typos through pg_trgm, a ranked list, the matched words highlighted as safe
HTML, and no text that reaches SQL as anything but a bind parameter. Against a real
PostgreSQL (embedded, or $TEST_DATABASE_URL), over the catalogue's real HTTP API."""
from __future__ import annotations

import json
import random
import string
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from pydantic import ValidationError

from catalogue import store
from catalogue.record import MAX_DESCRIPTION
from node.catalogue_app import create_app as create_catalogue
from node.database import create_pool
from node.http.catalogue_api import marked_html
from node.migrate import CATALOGUE_MIGRATIONS
from node.settings import CatalogueSettings
from tests.conftest import fresh_database, serve_app

FI, SE = "org.test.fi", "org.test.se"
RECORDS = {
    FI: [
        {"identifier": "GDI-FI-SYN-010", "title": "Cardiomyopathy registry",
         "description": "Variants of a heart registry.", "keywords": ["heart"]},
        {"identifier": "GDI-FI-SYN-011", "title": "Heart study",
         "description": "Exomes of patients with cardiomyopathy.", "keywords": []},
        {"identifier": "GDI-FI-SYN-012", "title": "Kardiomyopathy panel",          # 1 typo
         "description": "Gene panel.", "keywords": []},
        {"identifier": "GDI-FI-SYN-013", "title": "Cardiomyopahty exomes",         # 2 typos
         "description": "Exomes.", "keywords": []},
        {"identifier": "GDI-FI-SYN-014", "title": "Follow-up cohort",
         "description": "The follow-up of GDI-FI-SYN-013.", "keywords": ["cohort"]},
    ],
    SE: [
        {"identifier": "GDI-SE-SYN-020", "title": "Swedish population <b>reference</b>",
         "description": "Allele frequencies & <script>alert(1)</script> studies.",
         "keywords": ["population", "GRCh38"]},
        {"identifier": "GDI-SE-SYN-021", "title": "Tumour genomes",
         "description": "Somatic variants.", "keywords": ["oncology"]},
    ],
}
ALL = sorted(r["identifier"] for records in RECORDS.values() for r in records)
HOSTILE = [
    "'; DROP TABLE datasets; --", "' OR '1'='1", "cardio:* | !x", "cardio & (", ")) <-> ((",
    "a\\", "\\'", '"unterminated', "!!!", "::*", "-", "OR", "x:*A", "$1", "%", "_",
    "\x00cardio", "cardio\x00'", "🙂 cardio", "ca" * 250, "NULL", "\"\"\"'''",
]


@dataclass
class Search:
    url: str
    pool: asyncpg.Pool
    http: aiohttp.ClientSession

    async def get(self, **params: str) -> tuple[int, dict]:
        async with self.http.get(f"{self.url}/api/datasets", params=params) as response:
            return response.status, await response.json(content_type=None)

    async def ids(self, q: str, **params: str) -> list[str]:
        status, body = await self.get(q=q, **params)
        assert status == 200, body
        return [d["identifier"] for d in body["datasets"]]

    async def first(self, q: str) -> dict:
        status, body = await self.get(q=q)
        assert status == 200 and body["datasets"], body
        return body["datasets"][0]


async def _publish(pool: asyncpg.Pool) -> None:
    for node, country in ((FI, "FI"), (SE, "SE")):
        await store.upsert_node(pool, store.NodeRegistration(
            node, f"Node {country}", country, f"http://{country}.example/api",
            f"http://{country}.example/fdp"))
        async with pool.acquire() as conn:
            await store.reconcile(conn, node, RECORDS[node])


@pytest.fixture
async def search(pg_server_url: str, tmp_path: Path) -> AsyncIterator[Search]:
    # Both nodes admitted, or the catalogue's start retires them (catalogue.holdings)
    nodes = [{"id": node, "token": f"token-of-{node}-for-tests",
              "origins": [f"http://{country}.example"]} for node, country in ((FI, "FI"),
                                                                             (SE, "SE"))]
    settings = CatalogueSettings(data_dir=tmp_path, harvest_interval_seconds=0, nodes=nodes)
    async with fresh_database(pg_server_url) as url:
        pool = await create_pool(url, settings, CATALOGUE_MIGRATIONS)
        try:
            await _publish(pool)
            async with AsyncExitStack() as stack:
                base = await serve_app(stack, create_catalogue(settings, pool))
                http = await stack.enter_async_context(aiohttp.ClientSession())
                yield Search(base, pool, http)
        finally:
            await pool.close()


async def test_a_word_begun_finds_the_words_it_begins(search: Search):
    # Titles before descriptions; 013 by its own (misspelt) title.
    assert await search.ids("cardio") == ["GDI-FI-SYN-010", "GDI-FI-SYN-013",
                                          "GDI-FI-SYN-011"]
    assert await search.ids("CARDIOMYO") == ["GDI-FI-SYN-010", "GDI-FI-SYN-013",
                                             "GDI-FI-SYN-011"]
    # "populat" is no prefix of the English stem "popul": the words as written answer it.
    for begun in ("popu", "populat", "populati", "population", "populations"):
        assert await search.ids(begun) == ["GDI-SE-SYN-020"], begun
    assert await search.ids("grch") == ["GDI-SE-SYN-020"]          # a keyword
    assert await search.ids("swed popul") == ["GDI-SE-SYN-020"]    # every word, each a prefix
    assert await search.ids("swed tumo") == []


async def test_the_web_search_syntax_still_holds(search: Search):
    assert await search.ids("tumour OR population") == ["GDI-SE-SYN-020", "GDI-SE-SYN-021"]
    # Such a query matches as written: no near words bring back what -word excluded.
    assert await search.ids("heart -registry") == ["GDI-FI-SYN-011"]
    assert await search.ids("heart -registri") == ["GDI-FI-SYN-011"]
    assert await search.ids('"heart study"') == ["GDI-FI-SYN-011"]
    assert await search.ids('"study heart"') == []
    # Stemmed: "studies" finds "study" too (the word as written ranks higher).
    assert await search.ids("studies") == ["GDI-SE-SYN-020", "GDI-FI-SYN-011"]
    # A word typed halfway and a word in another form, in one query.
    assert await search.ids("populat allele frequency") == ["GDI-SE-SYN-020"]
    assert await search.ids("heart -populat") == ["GDI-FI-SYN-010", "GDI-FI-SYN-011"]


async def test_a_misspelt_word_finds_the_word_meant(search: Search):
    # One letter left out: "Cardiomyopathy" (0.71), "Cardiomyopahty" (0.71); two letters
    # off, "Kardiomyopathy" (0.45) is under pg_trgm's threshold (0.5).
    assert await search.ids("cardiomyopaty") == [
        "GDI-FI-SYN-010", "GDI-FI-SYN-011", "GDI-FI-SYN-013"]
    assert await search.ids("tumor genomes") == ["GDI-SE-SYN-021"]
    assert await search.ids("oncologyy") == ["GDI-SE-SYN-021"]
    assert await search.ids("swedsh") == ["GDI-SE-SYN-020"]
    assert await search.ids("xylophone") == []


async def test_ranked_identifier_then_text_rank_then_similarity(search: Search):
    # Title (weight A) before description (B); then the records that match only by
    # similarity, one typo (0.67) before two (0.58).
    assert await search.ids("cardiomyopathy") == [
        "GDI-FI-SYN-010", "GDI-FI-SYN-011", "GDI-FI-SYN-012", "GDI-FI-SYN-013"]
    # The identifier itself first, then a record that only mentions it.
    assert await search.ids("GDI-FI-SYN-013") == ["GDI-FI-SYN-013", "GDI-FI-SYN-014"]
    # Filters, paging and the total still apply to ranked results.
    status, page = await search.get(q="cardiomyopathy", skip="1", limit="2")
    assert status == 200 and page["total"] == 4
    assert [d["identifier"] for d in page["datasets"]] == ["GDI-FI-SYN-011", "GDI-FI-SYN-012"]
    status, past = await search.get(q="cardiomyopathy", skip="10")
    assert status == 200 and (past["total"], past["datasets"]) == (4, [])
    assert await search.ids("heart", country="SE") == []
    assert await search.ids("studies", node=SE) == ["GDI-SE-SYN-020"]


async def test_a_parameter_given_twice_is_refused_naming_it(search: Search):
    """`country=FI&country=SE` was answered with Finland's datasets only, the second filter
    dropped without a word: a caller reading it as "FI or SE" (or a client that appends a
    filter to a URL that had one) got a wrong list that looked right."""
    for twice in ("country=FI&country=SE", "skip=1&skip=2", "q=heart&q=tumour",
                  "node=org.test.fi&node=org.test.se"):
        name = twice.partition("=")[0]
        async with search.http.get(f"{search.url}/api/datasets?{twice}") as response:
            body = await response.json()
        assert response.status == 400 and body["error"]["code"] == "invalid_parameter", body
        assert body["error"]["message"].startswith(f"{name}: "), body
    # One value each, with other parameters, is still a search.
    status, body = await search.get(country="SE", limit="1")
    assert status == 200 and body["total"] == 2


async def test_a_filter_value_no_record_can_hold_is_refused_naming_it(search: Search):
    """`assembly=hg38` or `country=UK` was answered with no datasets, as if the federation
    held none on GRCh38 or from Great Britain: a record's assembly is GRCh37 or GRCh38 and
    its country an assigned ISO code (`UK` is not; `GB` is), as `accessRights=public` is
    already a 400."""
    for name, value in (("assembly", "hg38"), ("assembly", "grch38"), ("assembly", ""),
                        ("country", "UK"), ("country", "XX")):
        status, body = await search.get(**{name: value})
        assert status == 400 and body["error"]["code"] == "invalid_parameter", body
        assert body["error"]["message"].startswith(f"{name}: "), body
    for name, value in (("assembly", "GRCh37"), ("assembly", "GRCh38"), ("country", "GB")):
        status, body = await search.get(**{name: value})
        assert status == 200, body


async def test_a_theme_neither_an_eu_code_nor_an_iri_is_refused_naming_it(search: Search):
    """`theme=heal` (the EU authority's codes are upper case), an empty theme or `://` were
    each answered with no datasets, as if no dataset had the theme."""
    for value in ("heal", "", "://", "Health"):
        status, body = await search.get(theme=value)
        assert status == 400 and body["error"]["message"].startswith("theme: "), body


async def test_an_empty_node_filter_is_refused_not_dropped(search: Search):
    """`node=` (a page building `node=${id}` with no node chosen) listed every node's
    datasets, the filter dropped without a word."""
    status, body = await search.get(node="")
    assert status == 400 and body["error"]["message"].startswith("node: "), body
    assert await search.ids("", node=SE) == ["GDI-SE-SYN-020", "GDI-SE-SYN-021"]
    for value in ("HEAL", "OP_DATPRO", ("http://publications.europa.eu/resource/authority/"
                                        "data-theme/HEAL")):
        status, body = await search.get(theme=value)
        assert status == 200, body


async def test_an_identifier_in_lower_case_finds_its_dataset_first(search: Search):
    """Case does not matter to a search, but `gdi-fi-syn-013` found only the dataset whose
    description mentions GDI-FI-SYN-013, not that dataset: the identifier was compared as
    typed, and GDI identifiers are upper case."""
    assert await search.ids("gdi-fi-syn-013") == ["GDI-FI-SYN-013", "GDI-FI-SYN-014"]
    assert await search.ids(" Gdi-Fi-Syn-013 ") == ["GDI-FI-SYN-013", "GDI-FI-SYN-014"]


async def test_matched_words_come_back_highlighted_as_safe_html(search: Search):
    found = await search.first("cardio")
    assert found["highlight"] == {
        "title": "<mark>Cardiomyopathy</mark> registry",
        "description": "Variants of a heart registry.",
        "keywords": ["heart"]}
    typo = (await search.get(q="cardiomyopaty"))[1]["datasets"]
    assert [d["highlight"]["title"] for d in typo] == [
        "<mark>Cardiomyopathy</mark> registry", "Heart study",
        "<mark>Cardiomyopahty</mark> exomes"]
    assert typo[1]["highlight"]["description"] == \
        "Exomes of patients with <mark>cardiomyopathy</mark>."
    # The record's own markup is text: escaped, never passed through.
    swedish = await search.first("populat studies")
    assert swedish["title"] == "Swedish population <b>reference</b>"
    assert swedish["highlight"] == {
        "title": "Swedish <mark>population</mark> &lt;b&gt;reference&lt;/b&gt;",
        "description": "Allele frequencies &amp; &lt;script&gt;alert(1)&lt;/script&gt; "
                       "<mark>studies</mark>.",
        "keywords": ["<mark>population</mark>", "GRCh38"]}
    # Stems mark every form: "study" finds and marks "studies" and "study".
    assert (await search.first("study"))["highlight"]["title"] == "Heart <mark>study</mark>"
    # Without words to search there is nothing to highlight.
    status, plain = await search.get()
    assert status == 200 and all("highlight" not in d for d in plain["datasets"])


async def test_a_word_is_found_whatever_accents_it_is_typed_or_written_with(search: Search):
    """Titles in the federation's languages, typed on any keyboard: `genomica` found no
    "Genómica", nor `vasterbotten` a "Västerbotten", nor `genómica` a "genomica" written
    without its accent (migration 0006). The word found is marked as written."""
    es = "org.test.es"
    await store.upsert_node(search.pool, store.NodeRegistration(
        es, "Node ES", "ES", "http://ES.example/api", "http://ES.example/fdp"))
    async with search.pool.acquire() as conn:
        await store.reconcile(conn, es, [
            {"identifier": "GDI-ES-SYN-030", "title": "Genómica de la población española",
             "description": "Variantes de José y de Málaga.", "keywords": ["genómica"]},
            {"identifier": "GDI-ES-SYN-031", "title": "Västerbotten genomica sin acento",
             "description": "Ääni.", "keywords": []}])
    for typed in ("genomica", "GENÓMICA", "genómica"):
        assert await search.ids(typed) == ["GDI-ES-SYN-030", "GDI-ES-SYN-031"], typed
    for typed, expected in (("vasterbotten", "GDI-ES-SYN-031"), ("Väster", "GDI-ES-SYN-031"),
                            ("jose malaga", "GDI-ES-SYN-030"), ("poblacion", "GDI-ES-SYN-030"),
                            ("aani", "GDI-ES-SYN-031")):
        assert await search.ids(typed) == [expected], typed
    found = await search.first("jose genomica")
    assert found["highlight"] == {
        "title": "<mark>Genómica</mark> de la población española",
        "description": "Variantes de <mark>José</mark> y de Málaga.",
        "keywords": ["<mark>genómica</mark>"]}
    assert await search.ids("-malaga genomica") == ["GDI-ES-SYN-031"]


async def test_no_words_lists_everything_like_no_query(search: Search):
    for empty in ("", "   ", "!!!", "-", "\"\"", "\x00", "_"):
        status, body = await search.get(q=empty)
        assert status == 200, (empty, body)
        assert [d["identifier"] for d in body["datasets"]] == ALL, repr(empty)
        assert body["total"] == len(ALL) and all("highlight" not in d for d in body["datasets"])
    assert store.query_text("  cardio\x00 ") == "cardio"
    assert store.query_text("!?-") is None


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
async def test_query_text_is_only_ever_data(search: Search, hostile: str):
    status, body = await search.get(q=hostile)
    assert status == 200, body
    assert body["total"] == len(body["datasets"]) <= len(ALL)
    async with search.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM datasets") == len(ALL)


@pytest.mark.parametrize("noisy", ["\x00cardio", "cardio\x00'", "🙂 cardio", "cardio & (",
                                   "cardio:*", "(cardio)", "'cardio'", "cardio;--"])
async def test_words_among_punctuation_are_still_searched(search: Search, noisy: str):
    assert await search.ids(noisy) == ["GDI-FI-SYN-010", "GDI-FI-SYN-013", "GDI-FI-SYN-011"]


async def test_sql_text_in_a_query_finds_nothing_it_does_not_say(search: Search):
    assert await search.ids("' OR '1'='1") == []
    assert await search.ids("'; DROP TABLE datasets; --") == []
    async with search.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM datasets") == len(ALL)


def _prose(rng: random.Random, size: int) -> str:
    words = iter(lambda: "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))), "")
    text = ""
    while len(text) < size:
        text += next(words) + " "
    return text[:size]


async def test_many_short_words_cost_little_and_more_than_32_are_refused(search: Search):
    """250 one-letter words (within q's 500 characters) over 40 records with the longest
    description held a connection about a second a row, and a page of them ended in a 503
    after the 15 s statement timeout: the typo highlight compared every word of each record
    with the whole text, once per field and keyword. Now q has at most 32 words, and the
    typo highlight is computed once a row, only for rows no word matched (these 32 words:
    ~1 s on a loaded 2-core machine, ~0.4 s for q=heart; 5 s before)."""
    rng = random.Random(1)
    records = [{"identifier": f"GDI-FI-SYN-{100 + i}", "title": "heart cohort",
                "description": _prose(rng, MAX_DESCRIPTION), "keywords": ["heart", "cohort"]}
               for i in range(40)]
    async with search.pool.acquire() as conn:
        await store.reconcile(conn, FI, records, withdraw_absent=False)
    worst = " ".join(rng.choices(string.ascii_lowercase, k=32))
    started = time.monotonic()
    status, body = await search.get(q=worst, limit="100")
    elapsed = time.monotonic() - started
    assert status == 200 and body["total"] == 40, body.get("error")
    assert elapsed < 3, f"32 one-letter words took {elapsed:.1f} s"
    assert "<mark>" in body["datasets"][0]["highlight"]["description"]
    for over in (" ".join(rng.choices(string.ascii_lowercase, k=250)),
                 "-".join(["a"] * 33)):             # a-a-a: 33 terms, 1 word by spaces
        status, body = await search.get(q=over)
        assert status == 400 and body["error"]["code"] == "invalid_parameter", body
        assert body["error"]["message"].startswith("q: "), body
        assert "at most 32" in body["error"]["message"]


def test_marked_html_escapes_everything_but_the_marks():
    assert marked_html((("<i>a</i> & ", False), ("b\"'", True))) == \
        "&lt;i&gt;a&lt;/i&gt; &amp; <mark>b&quot;&#x27;</mark>"


async def test_without_pg_trgm_search_keeps_prefixes_and_drops_typos(pg_server_url: str,
                                                                     tmp_path: Path):
    """A server where the catalogue's role may not create extensions: the migration warns and
    installs the fallback, and search still finds prefixes and stems, not typos, and words
    with their accents as written (migration 0006)."""
    role, password = f"h_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    admin = await asyncpg.connect(pg_server_url)
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        async with fresh_database(pg_server_url) as url:
            owner = await asyncpg.connect(url)
            try:
                await owner.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
                await owner.execute(f"REVOKE CREATE ON DATABASE \"{urlsplit(url).path[1:]}\" "
                                    f"FROM PUBLIC, {role}")
            finally:
                await owner.close()
            parts = urlsplit(url)
            as_role = urlunsplit(parts._replace(
                netloc=f"{role}:{password}@{parts.netloc.rpartition('@')[2]}"))
            pool = await create_pool(as_role, CatalogueSettings(data_dir=tmp_path),
                                     CATALOGUE_MIGRATIONS)
            try:
                async with pool.acquire() as conn:
                    assert not await conn.fetchval(
                        "SELECT EXISTS (SELECT FROM pg_extension "
                        "WHERE extname IN ('pg_trgm', 'unaccent'))")
                await _publish(pool)
                for text, expected in (("cardio", ["GDI-FI-SYN-010", "GDI-FI-SYN-013",
                                                   "GDI-FI-SYN-011"]),
                                       ("populat", ["GDI-SE-SYN-020"]),
                                       ("cardiomyopaty", [])):
                    total, found = await store.search(pool, store.DatasetQuery(text=text))
                    assert [f.identifier for f in found] == expected, text
                    assert total == len(expected)
                async with pool.acquire() as conn:
                    await store.reconcile(conn, SE, [*RECORDS[SE], {
                        "identifier": "GDI-SE-SYN-022", "title": "Genómica", "keywords": []}])
                for text, expected in (("genómica", ["GDI-SE-SYN-022"]), ("genomica", [])):
                    found = (await store.search(pool, store.DatasetQuery(text=text)))[1]
                    assert [f.identifier for f in found] == expected, text
                found = (await store.search(pool, store.DatasetQuery(text="cardio")))[1][0]
                assert found.highlight is not None
                assert found.highlight.title == (("Cardiomyopathy", True), (" registry", False))
            finally:
                await pool.close()
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


# --- CORS for the nodes' pages (docs/catalogue.md, docs/web.md) -------------------------------

PAGE, OTHER_PAGE = "http://127.0.0.1:5050", "https://node.example.org"


def test_cors_origins_are_read_as_a_list_a_comma_list_or_json(monkeypatch, tmp_path: Path):
    assert CatalogueSettings(data_dir=tmp_path).cors_origins == []
    listed = CatalogueSettings(data_dir=tmp_path, cors_origins=[PAGE, OTHER_PAGE + "/"])
    assert listed.cors_origins == [PAGE, OTHER_PAGE]
    monkeypatch.setenv("GDI_CATALOGUE_CORS_ORIGINS", f"{PAGE}, {OTHER_PAGE}")
    assert CatalogueSettings(data_dir=tmp_path).cors_origins == [PAGE, OTHER_PAGE]
    monkeypatch.setenv("GDI_CATALOGUE_CORS_ORIGINS", json.dumps([OTHER_PAGE]))
    assert CatalogueSettings(data_dir=tmp_path).cors_origins == [OTHER_PAGE]
    for wrong in ("*", "https://node.example.org/page", "node.example.org", "ftp://x.org"):
        monkeypatch.setenv("GDI_CATALOGUE_CORS_ORIGINS", wrong)
        with pytest.raises(ValidationError):
            CatalogueSettings(data_dir=tmp_path)


async def test_cors_only_for_configured_origins_and_only_on_reads(search: Search,
                                                                  tmp_path: Path):
    """Configured origins get Access-Control-Allow-Origin on GET /api/datasets, one dataset
    and /api/nodes, and a preflight for a GET; never credentials, never for a PUT, another
    path or an origin not configured. Without the setting (`search`'s catalogue): none."""
    settings = CatalogueSettings(data_dir=tmp_path, harvest_interval_seconds=0,
                                 cors_origins=f"{PAGE},{OTHER_PAGE}")
    async with AsyncExitStack() as stack:
        base = await serve_app(stack, create_catalogue(settings, search.pool))
        http = search.http

        async def ask(method: str, url: str, origin: str | None,
                      **headers: str) -> aiohttp.ClientResponse:
            sent = {**({"Origin": origin} if origin else {}), **headers}
            async with http.request(method, url, headers=sent) as response:
                await response.read()
                return response

        for path in ("/api/datasets?q=cardio", "/api/datasets/GDI-FI-SYN-010", "/api/nodes",
                     "/api/datasets/GDI-XX-404"):
            for origin in (PAGE, OTHER_PAGE):
                response = await ask("GET", base + path, origin)
                assert response.status in (200, 404), path
                assert response.headers["Access-Control-Allow-Origin"] == origin, path
                assert "Origin" in response.headers.getall("Vary"), path
                assert "Access-Control-Allow-Credentials" not in response.headers
            for origin in ("http://evil.example", None):
                response = await ask("GET", base + path, origin)
                assert "Access-Control-Allow-Origin" not in response.headers, (path, origin)
                assert "Origin" in response.headers.getall("Vary"), path
        preflight = await ask("OPTIONS", base + "/api/datasets", PAGE,
                              **{"Access-Control-Request-Method": "GET"})
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == PAGE
        assert preflight.headers["Access-Control-Allow-Methods"] == "GET"
        assert "Access-Control-Allow-Credentials" not in preflight.headers
        for method in ("PUT", "DELETE"):
            refused = await ask("OPTIONS", base + "/api/nodes/org.test.fi", PAGE,
                                **{"Access-Control-Request-Method": method})
            assert refused.status == 405
            assert "Access-Control-Allow-Origin" not in refused.headers
        put = await ask("PUT", base + "/api/nodes/org.test.fi", PAGE)
        assert put.status == 401 and "Access-Control-Allow-Origin" not in put.headers
        for path in ("/health", "/fdp"):
            response = await ask("GET", base + path, PAGE)
            assert "Access-Control-Allow-Origin" not in response.headers, path
        unset = await ask("GET", search.url + "/api/datasets?q=cardio", PAGE)
        assert unset.status == 200 and "Access-Control-Allow-Origin" not in unset.headers
        assert "Vary" not in unset.headers


async def test_a_search_is_sorted_by_title_or_by_the_latest_modified(search: Search):
    """The GDI portal lists datasets by relevance, by title, or the latest modified first;
    the catalogue listed by rank or identifier only, and `sort` was refused as an unknown
    parameter (found by a review, 2026-12-05). Ties go by identifier, so pages never
    overlap; a record without `modified` comes last."""
    modified = {"GDI-SE-SYN-021": "2025-01-01T00:00:00Z", "GDI-FI-SYN-010": "2024-03-01T00:00:00Z",
                "GDI-FI-SYN-014": "2023-06-01T00:00:00+02:00"}
    for identifier, when in modified.items():
        await search.pool.execute(
            "UPDATE datasets SET record = record || jsonb_build_object('modified', $2::text) "
            "WHERE identifier = $1", identifier, when)
    titles = {r["identifier"]: r["title"] for records in RECORDS.values() for r in records}
    by_title = sorted(ALL, key=lambda identifier: titles[identifier].lower())
    assert await search.ids("", sort="title") == by_title
    assert await search.ids("", sort="title", skip="3", limit="3") == by_title[3:6]
    assert await search.ids("", sort="modified") == [*modified, *(
        i for i in ALL if i not in modified)]
    assert await search.ids("cardio", sort="title") == ["GDI-FI-SYN-013", "GDI-FI-SYN-010",
                                                        "GDI-FI-SYN-011"]
    assert await search.ids("cardio", sort="relevance") == await search.ids("cardio")
    status, body = await search.get(sort="newest")
    assert status == 400 and body["error"]["message"].startswith("sort:"), body
