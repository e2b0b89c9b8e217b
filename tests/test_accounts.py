"""One loss account per caller and dataset for variants that name nobody (beacon/accounts.py),
over real HTTP against a node with the default disclosure configuration, on a sites-only VCF
written here whose every variant's carriers are known (AC, nhomalt 0: AC people).

Each answer about a variant near the floor (k to `upper` carriers) adds to the caller's
account what it would charge each person counted in it, once per variant; past the tier's
loss budget the dataset answers that caller nothing more: a 403 naming it where it was the
only dataset asked, an answer without it (`info.refused`) where others were. The answers
given are the tier's, the same for every caller. tests/test_membership.py measures what it
leaves a membership attacker (0.68 before, 0.09 after).
"""
from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientSession, TCPConnector

from auth.access import AccessLevel
from beacon import store
from beacon.assemblies import GRCH38
from beacon.disclosure import DEFAULT_TIERS
from beacon.ingest import IngestRequest, ingest
from beacon.request import VariantQuery
from node.migrate import NODE_MIGRATIONS, apply_migrations
from node.settings import DisclosureSettings, Settings, TierSettings
from tests.beacon_schemas import BEACON_V2, validator_of
from tests.conftest import carriers_vcf, node_database, serve_node, write_vcf_text

SITES = "GDI-FI-ACCOUNT-1"          # sites-only: nobody named
CALLS = "GDI-FI-ACCOUNT-2"          # genotyped, beside it
RULES = DEFAULT_TIERS["anonymous"]
FLOOR = RULES.floor                 # k 5, p one half at 11, upper 32
BUDGET = RULES.loss_budget
PER_COUNT = 20                      # variants carried by each count c
COUNTS = range(FLOOR.k, FLOOR.upper + 8)
REGION = 1_000                      # the variants carried by c start at c * REGION
ABSENT = 90_000                     # a position no variant is at


def _position(c: int, i: int) -> int:
    return c * REGION + 10 * i + 1


def _sites_vcf(path: Path) -> Path:
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
             '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">',
             '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">',
             '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="Homozygotes">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"chr1\t{_position(c, i)}\t.\tA\tG\t.\tPASS\tAC={c};AN=200;nhomalt=0"
              for c in COUNTS for i in range(PER_COUNT)]
    return write_vcf_text(path, "\n".join(lines) + "\n")


def _counted_vcf(path: Path) -> Path:
    """`_sites_vcf`'s variants with 40 samples' genotypes beside their INFO counts: loaded
    without individuals, read from INFO alone (no carriers named)."""
    samples = [f"S{s}" for s in range(40)]
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
             '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">',
             '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">',
             '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="Homozygotes">',
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *samples])]
    lines += ["\t".join(["chr1", str(_position(c, i)), ".", "A", "G", ".", "PASS",
                         f"AC={c};AN=80;nhomalt=0", "GT",
                         *(["0/1"] * c + ["0/0"] * (len(samples) - c))])
              for c in COUNTS for i in range(PER_COUNT)]
    return write_vcf_text(path, "\n".join(lines) + "\n")


def _calls_vcf(path: Path) -> Path:
    """Two variants carried by all 40 samples: shown to anyone, charged to nobody."""
    return carriers_vcf(path, [(ABSENT + 1, 40), (ABSENT + 11, 40)])


class Node:
    """The node under test: its URL, a pool on its database, and where it was loaded from."""

    def __init__(self, base: str, pool: asyncpg.Pool, database: str, directory: Path) -> None:
        self.base, self.pool, self.database, self.directory = base, pool, database, directory

    def caller(self, n: int) -> ClientSession:
        """An anonymous caller of its own: the node keeps anonymous accounts per address."""
        return ClientSession(self.base, connector=TCPConnector(local_addr=(f"127.0.41.{n}", 0)))

    async def spent(self, n: int, dataset: str = SITES) -> float:
        return await self.pool.fetchval(
            "SELECT coalesce((SELECT spent FROM disclosure_accounts WHERE caller = $1 "
            "AND dataset_id = $2), 0)", f"address 127.0.41.{n}", dataset)

    async def shown(self, c: int, i: int) -> bool:
        """Whether the tier shows the variant: its own count, behind the API."""
        query = VariantQuery(kind="sequence", reference_name="1", start=(_position(c, i) - 1,),
                             alternate_bases="G", granularity="count")
        async with self.pool.acquire() as conn:
            key, args = store.count_query(query, [SITES], "1", 1, FLOOR)
            return SITES in (await store.count_batch(conn, key, [args]))[0]


def _settings(database: str, directory: Path, **disclosure: Any) -> Settings:
    return Settings(database_url=database, data_dir=directory / "node",
                    beacon_id="org.test.accounts", ingest_workers=1,
                    disclosure=DisclosureSettings(**disclosure))


async def _load(url: str, sites: Path, directory: Path) -> None:
    """`sites` as the dataset that names nobody, and the genotyped one beside it."""
    for vcf, dataset in ((sites, SITES), (_calls_vcf(directory / "calls.vcf"), CALLS)):
        await ingest(url, IngestRequest(vcf, dataset, GRCH38, AccessLevel.PUBLIC, dataset,
                                        workers=1))


@pytest.fixture
async def node(pg_server_url: str, tmp_path: Path) -> Any:
    """Both datasets on a database of the test's own (each test's callers start afresh)."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(node_database(pg_server_url))
        await _load(url, _sites_vcf(tmp_path / "sites.vcf"), tmp_path)
        client, pool = await serve_node(stack, _settings(url, tmp_path))
        yield Node(str(client._base_url).rstrip("/"), pool, url, tmp_path)


def _loss(c: int, shown: bool) -> float:
    return FLOOR.shown_loss(c) if shown else FLOOR.hidden_loss(c)


async def _ask(session: ClientSession, c: int, i: int, datasets: str = SITES,
               granularity: str = "boolean") -> tuple[int, dict[str, Any], Any]:
    """A sequence question about the i-th variant carried by c (c 0: a position without
    one): its status, body and headers."""
    start = _position(c, i) - 1 if c else ABSENT
    async with session.get("/api/g_variants", params={
            "referenceName": "1", "start": str(start), "alternateBases": "G",
            "datasetIds": datasets, "requestedGranularity": granularity,
            "includeResultsetResponses": "ALL"}) as response:
        return response.status, await response.json(), response.headers


async def test_answers_charge_one_account_until_the_dataset_refuses_the_caller(node):
    """A caller asks about variants near the floor one by one: each is answered as the tier
    shows it, and its loss (shown or hidden) added to the caller's account once, however
    often it is asked; the question whose answer would take the account past the loss
    budget is charged and refused, and from then on the dataset answers that caller
    nothing, whatever is asked (a common variant, a position without one): a 403 naming
    the dataset, for good (no Retry-After). Asked with a dataset beside it, the answer is
    the other's, the refusal in its `info`; another caller is answered as before."""
    # commonest first: each answer's loss grows, and a hidden one costs more than a shown
    asked = [(c, i) for c in range(FLOOR.upper - 1, FLOOR.k - 1, -1) for i in range(5)]
    model = 0.0
    answered: list[tuple[int, int]] = []
    async with node.caller(1) as caller:
        crossed = None
        for c, i in asked:
            status, body, headers = await _ask(caller, c, i)
            if model > BUDGET:                  # spent before: refused, charged nothing
                assert status == 403, body
                break
            shown = await node.shown(c, i)
            model += _loss(c, shown)
            assert await node.spent(1) == pytest.approx(model, rel=1e-9)
            if model > BUDGET:                  # its own charge passes the budget: refused
                assert status == 403, body
                crossed = (c, i)
                continue
            assert status == 200, body
            assert body["responseSummary"]["exists"] is shown
            answered.append((c, i))
            # asked again: the same answer, charged nothing more
            status, again, _ = await _ask(caller, c, i)
            assert status == 200 and again["responseSummary"] == body["responseSummary"]
            assert await node.spent(1) == pytest.approx(model, rel=1e-9)
        else:
            pytest.fail(f"never refused: {model} after {len(answered)} answers")
        assert len(answered) >= 2 and crossed  # some answers before the refusal
        error = body["error"]
        assert error["errorCode"] == 403 and SITES in error["errorMessage"]
        assert "Retry-After" not in headers
        for c, i in ((FLOOR.upper + 5, 0), (0, 0), answered[0]):
            status, body, _ = await _ask(caller, c, i)
            assert status == 403, (c, i, body)
        assert await node.spent(1) == pytest.approx(model, rel=1e-9)
        # the genotyped dataset beside it still answers; the refusal is named
        status, body, _ = await _ask(caller, 0, 0, f"{SITES},{CALLS}", "count")
        assert status == 200, body
        assert [s["id"] for s in body["response"]["resultSets"]] == [CALLS]
        assert body["responseSummary"]["exists"] is True
        assert body["info"]["refused"] == [SITES]
        assert "loss budget" in error["errorMessage"]
    async with node.caller(2) as other:
        status, body, _ = await _ask(other, *answered[0])
        assert status == 200
        assert body["responseSummary"]["exists"] is await node.shown(*answered[0])
    for _ in range(100):                # the trail is written in batches, every second
        trail = [json.loads(row["datasets"]) for row in await node.pool.fetch(
            "SELECT datasets FROM audit_trail WHERE caller = 'address 127.0.41.1' "
            "ORDER BY at")]
        refusals = [entry for entry in trail if entry[SITES].get("refused") == "account"]
        if len(refusals) == 6:          # the 403s and the answer of both datasets
            break
        await asyncio.sleep(0.1)
    assert len(refusals) == 6 and CALLS in refusals[-1]


async def test_a_range_charges_every_variant_near_the_floor_it_matches(node):
    """A range's count and records are the tier's; every match near the floor, shown or
    hidden, is charged (a hidden one tells as much about its carriers), the ones above the
    band nothing."""
    first, last = FLOOR.upper - 3, FLOOR.upper + 2
    expected = 0.0
    shown = set()
    for c in range(first, last + 1):
        for i in range(PER_COUNT):
            if c >= FLOOR.upper or await node.shown(c, i):
                shown.add(_position(c, i))
                expected += _loss(c, True) if c < FLOOR.upper else 0.0
            else:
                expected += _loss(c, False)
    async with node.caller(3) as caller, caller.get("/api/g_variants", params={
            "referenceName": "1", "start": str(first * REGION),
            "end": str((last + 1) * REGION), "datasetIds": SITES,
            "requestedGranularity": "record", "limit": "200"}) as response:
        body = await response.json()
        assert response.status == 200, body
    result = body["response"]["resultSets"][0]
    assert result["resultsCount"] == len(shown)
    assert {r["variation"]["location"]["interval"]["start"]["value"] + 1
            for r in result["results"]} == shown
    assert await node.spent(3) == pytest.approx(expected, rel=1e-6)


async def test_parallel_questions_cannot_all_pass_the_account(node):
    """Thirty questions of one caller at once: each is checked and charged in the caller's
    turn, so that no answer is given that takes the account past the budget, whatever the
    order: the answered ones' losses add up to no more than the budget, and the account
    holds them and those of the refused question that passed it."""
    asked = [(c, i) for c in range(FLOOR.middle, FLOOR.middle + 3) for i in range(10)]
    async with node.caller(4) as caller:
        replies = await asyncio.gather(*[_ask(caller, c, i) for c, i in asked])
    losses = []
    for (c, i), (status, body, _) in zip(asked, replies):
        assert status in (200, 403), body
        if status == 200:
            shown = await node.shown(c, i)
            assert body["responseSummary"]["exists"] is shown
            losses.append(_loss(c, shown))
    assert len(losses) < len(asked)             # some were refused
    assert sum(losses) <= BUDGET < await node.spent(4)


async def test_a_new_version_keeps_the_account(node):
    """A caller refused by a dataset is refused by its next version too: nobody can tell its
    people from the earlier ones', so the account stands; the answers are given afresh."""
    async with node.caller(5) as caller:
        for c, i in [(c, i) for c in range(FLOOR.middle + 3, FLOOR.k - 1, -1)
                     for i in range(PER_COUNT)]:
            if (await _ask(caller, c, i))[0] == 403:
                break
        spent = await node.spent(5)
        assert spent > BUDGET
        await ingest(node.database, IngestRequest(
            _sites_vcf(node.directory / "again.vcf"), SITES, GRCH38, AccessLevel.PUBLIC,
            SITES, workers=1))
        await asyncio.sleep(0.5)                    # the node's datasets cache hears of it
        status, body, _ = await _ask(caller, FLOOR.upper + 1, 0)
        assert status == 403, body
    assert await node.spent(5) == spent
    assert not await node.pool.fetchval(
        "SELECT count(*) FROM disclosure_answers WHERE caller = 'address 127.0.41.5'")


async def test_a_tier_that_keeps_no_losses_keeps_no_account(node):
    """With the tier's loss budget 0 (no accounting), a sites-only dataset is answered by
    the smooth floor alone, as before, and nothing is kept."""
    async with AsyncExitStack() as stack:
        client, _ = await serve_node(stack, _settings(
            node.database, node.directory, anonymous=TierSettings(loss_budget=0)))
        for i in range(PER_COUNT):
            status, body, _ = await _ask(client, FLOOR.k, i)
            assert status == 200 and body["responseSummary"]["exists"] is (
                await node.shown(FLOOR.k, i))
    assert not await node.pool.fetchval("SELECT count(*) FROM disclosure_accounts")


async def test_a_refusal_waits_for_the_answer_time_floor(node):
    """A refusal (the 403) is decided in the caller's turn, after the shared count of what
    the question matches, whose time depends on what is there (a near-floor variant hidden
    by the draw is a row read and listed, a position without one is not): sent as soon as
    it was decided, it told a refused caller, by its time, what the question matched, at no
    charge. It waits for the answer time floor as every answer about the dataset does."""
    wait = 1.0
    async with AsyncExitStack() as stack:
        client, _ = await serve_node(stack, _settings(
            node.database, node.directory, answer_time_floor_ms=round(wait * 1000)))
        async with client.get("/api/g_variants", params={       # the band: spent at once
                "referenceName": "1", "start": str(FLOOR.k * REGION),
                "end": str(FLOOR.upper * REGION), "datasetIds": SITES,
                "requestedGranularity": "count"}) as response:
            assert response.status == 403, await response.text()      # and refused
        for c, i in ((FLOOR.k, 0), (0, 0)):
            began = asyncio.get_running_loop().time()
            status, body, _ = await _ask(client, c, i)
            assert status == 403, body
            assert asyncio.get_running_loop().time() - began >= wait, (c, i)


async def test_a_question_naming_no_dataset_is_answered_without_the_refused_ones(
        pg_server_url, tmp_path):
    """A question naming no dataset, all of whose datasets refuse the caller, is not a 403
    (the caller did not ask them by name, and the network asks a node so): it is answered
    as one that asked none, at the granularity asked, `info.refused` naming them, which the
    network passes on and the page shows."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(node_database(pg_server_url))
        await ingest(url, IngestRequest(_sites_vcf(tmp_path / "sites.vcf"), SITES, GRCH38,
                                        AccessLevel.PUBLIC, SITES, workers=1))
        client, pool = await serve_node(stack, _settings(url, tmp_path))
        async with client.get("/api/g_variants", params={       # the band: spent at once
                "referenceName": "1", "start": str(FLOOR.k * REGION),
                "end": str(FLOOR.upper * REGION), "requestedGranularity": "count"}) as first:
            body = await first.json()
            assert first.status == 200, body
        assert body["info"]["refused"] == [SITES]
        assert body["meta"]["returnedGranularity"] == "count"
        assert body["responseSummary"] == {"exists": False, "numTotalResults": 0,
                                           "countPrecision": "exact"}
        assert body["response"]["resultSets"] == []
        # charged, but none of its hundreds of answers kept: no question reads them again
        assert await pool.fetchval("SELECT spent FROM disclosure_accounts") > BUDGET
        assert not await pool.fetchval("SELECT count(*) FROM disclosure_answers")
        status, named, _ = await _ask(client, FLOOR.upper + 1, 0)    # named: a 403
        assert status == 403 and SITES in named["error"]["errorMessage"]


async def test_a_version_swapped_in_before_the_turn_is_counted_again_in_it(node):
    """An answer whose request resolved the dataset before an ingest swapped a new version
    in, and whose shared count was of that older version, is counted again in the caller's
    turn and charged as the version in place holds it (here, the stale count found nothing
    in a band region that the new version fills)."""
    from beacon.accounts import answer_from_account

    async with node.pool.acquire() as conn:
        stale = next(r for r in await store.list_datasets(conn) if r.id == SITES)
    await ingest(node.database, IngestRequest(
        _sites_vcf(node.directory / "again.vcf"), SITES, GRCH38, AccessLevel.PUBLIC, SITES,
        workers=1))
    c = FLOOR.upper - 2                       # nearly always shown, each for a tiny loss
    query = VariantQuery(kind="range", reference_name="1", start=(c * REGION,),
                         end=((c + 1) * REGION,), granularity="count")
    async with node.pool.acquire() as conn:
        given = await answer_from_account(conn, "address 127.0.41.9", stale, RULES, query,
                                          "1", 1, None)
        key, args = store.count_query(query, [SITES], "1", 1, FLOOR)
        tier = (await store.count_batch(conn, key, [args]))[0][SITES]
    assert not given.refused and given.matches is not None
    assert given.matches.count == tier.count == PER_COUNT
    expected = sum([_loss(c, await node.shown(c, i)) for i in range(PER_COUNT)])
    assert await node.spent(9) == pytest.approx(expected, rel=1e-6)


async def test_a_dataset_migration_0012_took_as_genotyped_from_its_samples_keeps_an_account(
        pg_server_url, tmp_path):
    """Migration 0012 took every dataset in place that had samples as genotyped, its
    genotypes read or not ("accounting them is always right, only slower"): one loaded
    from a VCF's INFO counts without its individuals names nobody (no carrier bits), and
    once the account came (migration 0029) it was not accounted at all, its variants
    answered by the smooth floor alone (the sites-only attack's 0.68), where a dataset
    loaded the same way since is kept to an account. The node's migrations take it as
    what it is, and its answers are charged to the caller's account like any other's."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(node_database(pg_server_url))
        await _load(url, _counted_vcf(tmp_path / "counted.vcf"), tmp_path)
        conn = await asyncpg.connect(url)
        genotyped = "SELECT id, genotyped FROM datasets ORDER BY id"
        try:
            assert await conn.fetchval("SELECT sample_count FROM datasets WHERE id = $1",
                                       SITES) == 40
            assert await conn.fetch(genotyped) == [(SITES, False), (CALLS, True)]
            # as loaded before migration 0012, which took both as genotyped by their samples
            await conn.execute(
                "UPDATE datasets SET genotyped = true, updated_at = (SELECT applied_at "
                "FROM schema_migrations WHERE version = 12) - interval '1 day'")
            # and the migrations after 0029 (none before the fix) applied, as at start-up
            await conn.execute("DELETE FROM schema_migrations WHERE version > 29")
            await apply_migrations(conn, NODE_MIGRATIONS)
            # the one with genotypes is left as it was
            assert await conn.fetch(genotyped) == [(SITES, False), (CALLS, True)]
        finally:
            await conn.close()
        client, pool = await serve_node(stack, _settings(url, tmp_path))
        async with client.get("/api/g_variants", params={       # the band: spent at once
                "referenceName": "1", "start": str(FLOOR.k * REGION),
                "end": str(FLOOR.upper * REGION), "datasetIds": SITES,
                "requestedGranularity": "count"}) as response:
            assert response.status == 403, await response.text()
        assert await pool.fetchval("SELECT spent FROM disclosure_accounts") > BUDGET


async def test_the_refusal_is_an_error_the_openapi_document_declares(node):
    """The 403 of a spent account is declared by every route that answers it (the variant
    routes: a question about individuals is answered by no sites-only dataset), as the
    Beacon error body it is; the document declared 400, 401, 404, 429 and 503 only, and a
    client made from it met an answer it did not describe."""
    async with node.caller(11) as caller:
        async with caller.get("/api/openapi.json") as response:
            described = await response.json()
        async with caller.get("/api/g_variants", params={       # the band: spent at once
                "referenceName": "1", "start": str(FLOOR.k * REGION),
                "end": str(FLOOR.upper * REGION), "datasetIds": SITES}) as response:
            assert response.status == 403
            refused = await response.json()
    routes = {path: operation for path, operation in described["paths"].items()
              if path.endswith(("g_variants", "g_variants/{id}"))}
    assert set(routes) == {"/api/g_variants", "/api/g_variants/{id}",
                           "/api/datasets/{id}/g_variants"}
    for path, methods in routes.items():
        for method, operation in methods.items():
            declared = operation["responses"].get("403")
            assert declared is not None, (method, path)
            schema = declared["content"]["application/json"]["schema"]
            assert list(validator_of(BEACON_V2.folder(), schema).iter_errors(refused)) == []


async def test_a_turn_with_nothing_to_charge_reads_the_account_as_before(node):
    """An answer with nothing fresh to charge sends its turn NULL arrays (beacon/accounts.py
    `_charge`), where it sent empty ones: the turn reads the account alike, within the
    budget or past it, charges nothing and keeps no answer."""
    from beacon.accounts import _TURN

    caller = "address 127.0.41.10"
    async with node.pool.acquire() as conn:
        row = next(r for r in await store.list_datasets(conn) if r.id == SITES)
        await conn.execute("INSERT INTO disclosure_accounts (caller, dataset_id, spent) "
                           "VALUES ($1, $2, 0.25)", caller, SITES)
        turns = {(arrays, budget): dict(await conn.fetchrow(
                     _TURN, caller, caller, SITES, *([[]] * 3 if arrays else [None] * 3), budget,
                     row.version, row.created_at))
                 for arrays in (True, False) for budget in (BUDGET, 0.1)}
        kept = await conn.fetchval("SELECT count(*) FROM disclosure_answers WHERE caller = $1",
                                   caller)
        spent = await conn.fetchval("SELECT spent FROM disclosure_accounts WHERE caller = $1",
                                    caller)
    for budget in (BUDGET, 0.1):
        assert turns[True, budget] == turns[False, budget] == {
            "version": row.version, "created_at": row.created_at, "spent": 0.25,
            "after": None}
    assert kept == 0 and spent == 0.25
