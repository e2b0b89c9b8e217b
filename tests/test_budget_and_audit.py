"""Query budgets and the audit trail (beacon/budget.py, beacon/audit.py), over real HTTP on
real PostgreSQL: a caller over budget is refused with 429, Retry-After and a Beacon error
body; the budget is one budget across worker processes and survives a restart (the point of
keeping it in the database); a rare hit costs more; and `gdi-node audit` shows the operator
what was disclosed, as disclosed, and never a token.

One dataset of twelve individuals: a variant all carry (common), one two carry (rare: above
the floor of 2, below rare_below 10) and one a single individual carries (below the floor,
so absent)."""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
import pytest
from aiohttp import ClientSession

from auth.access import AccessLevel
from auth.dev_issuer import trusted_issuer_entry
from auth.issuers import TrustedIssuer
from beacon.assemblies import GRCH38
from beacon.copy_in import copy_in
from beacon.ingest import IngestRequest, ingest
from node.app import create_app
from node.settings import DisclosureSettings, Settings, TierSettings
from tests.beacon_schemas import ERROR_SCHEMA
from tests.conftest import (
    ROOT,
    free_port,
    node_database,
    raw_status,
    serve_app,
    serve_dev_aai,
    write_vcf_text,
)
from tests.test_cli import _env, gdi_node
from tests.test_hardening import Relay, _pipe

DATASET = "GDI-FI-SYN-001"
SAMPLES = 12
VCF = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
       '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
       "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
       + "\t".join(f"S{i}" for i in range(SAMPLES)) + "\n"
       + "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(["0|1"] * 2 + ["0|0"] * 10) + "\n"
       + "chr1\t200\t.\tC\tT\t.\tPASS\t.\tGT\t" + "\t".join(["0|1"] * SAMPLES) + "\n"
       + "chr1\t300\t.\tG\tA\t.\tPASS\t.\tGT\t" + "\t".join(["1|1"] + ["0|0"] * 11) + "\n")
RARE = "/api/g_variants?referenceName=1&start=99&alternateBases=G&requestedGranularity=count"
COMMON = "/api/g_variants?referenceName=1&start=199&alternateBases=T&requestedGranularity=count"
HIDDEN = "/api/g_variants?referenceName=1&start=299&alternateBases=A&requestedGranularity=count"

BUDGET = 20
RARE_COST = 5
ANONYMOUS = TierSettings(allele_floor=2, count_step=5, budget_per_window=BUDGET,
                         budget_per_day=0, rare_cost=RARE_COST, rare_below=10, smooth_width=0)
# Sharp floors in both tiers: the answers below are the tiers' rules, not a smooth floor's
# draw, which is keyed by the node's secret minted per run (a bona fide default floor hides
# the 12-carrier COMMON in about one run of 15).
BONA_FIDE = TierSettings(allele_floor=2, count_step=1, budget_per_window=1000,
                         budget_per_day=0, rare_cost=RARE_COST, rare_below=10, smooth_width=0)
DISCLOSURE = DisclosureSettings(anonymous=ANONYMOUS, bona_fide=BONA_FIDE)
# common questions a budget answers in one process: a question needs RARE_COST units left
# (it may find a rare variant), so the last RARE_COST - 1 are never spent
ANSWERED = BUDGET - RARE_COST + 1
WINDOW = DISCLOSURE.budget_window_seconds
ANONYMOUS_CALLER = "address 127.0.0.1"


@pytest.fixture
async def loaded(pg_server_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with the node's schema and the dataset, PUBLIC; its URL."""
    async with node_database(pg_server_url) as url:
        path = write_vcf_text(tmp_path / "budget.vcf", VCF)
        await ingest(url, IngestRequest(path, DATASET, GRCH38, AccessLevel.PUBLIC, "Budget",
                                        workers=1))
        yield url


def _settings(url: str, directory: Path, **changes: Any) -> Settings:
    return Settings(database_url=url, data_dir=directory / "node", beacon_id="org.test.budget",
                    disclosure=DISCLOSURE, **changes)


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[ClientSession]:
    """A client of a node opening its own pool, as `gdi-node serve` does; leaving it shuts
    the node down, which writes what the audit trail still buffers."""
    async with AsyncExitStack() as stack:
        base = await serve_app(stack, create_app(settings))
        yield await stack.enter_async_context(ClientSession(base_url=base))


def _budget(body: dict[str, Any]) -> dict[str, Any]:
    return body["info"]["budget"][DATASET]


async def _audit_rows(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch("SELECT caller, endpoint, datasets::text AS datasets "
                                "FROM audit_trail ORDER BY at")
    finally:
        await conn.close()


# --- one process ------------------------------------------------------------------------------

async def test_over_budget_is_a_429_with_retry_after_and_the_budget_shown_before(
        loaded, tmp_path, beacon_schema):
    async with served(_settings(loaded, tmp_path)) as node:
        left = []
        for _ in range(ANSWERED + 1):
            response = await node.get(COMMON)
            body = await response.json()
            if response.status == 429:
                break
            assert response.status == 200, body
            assert _budget(body)["windowSeconds"] == WINDOW and _budget(body)["dayLeft"] is None
            left.append(_budget(body)["windowLeft"])
        assert left == list(range(BUDGET - 1, BUDGET - ANSWERED - 1, -1))
        assert response.status == 429
        assert beacon_schema(ERROR_SCHEMA, body) == []
        assert body["error"]["errorCode"] == 429
        assert f"query budget for dataset {DATASET} spent" in body["error"]["errorMessage"]
        # the limits that hold, not an unlimited day's 0 (which reads as no budget at all)
        assert f"({BUDGET} units per {WINDOW} s;" in body["error"]["errorMessage"]
        retry_after = response.headers["Retry-After"]
        # a take counts for the window and two minutes (migration 0022)
        assert retry_after.isdigit() and 1 <= int(retry_after) <= WINDOW + 120
        again = await node.get(RARE)                     # every query form, not just that one
        assert again.status == 429


async def test_a_rare_hit_costs_rare_cost_units(loaded, tmp_path):
    async with served(_settings(loaded, tmp_path)) as node:
        rare = await (await node.get(RARE)).json()
        assert rare["responseSummary"]["exists"] is True
        assert _budget(rare)["windowLeft"] == BUDGET - RARE_COST
        common = await (await node.get(COMMON)).json()
        assert _budget(common)["windowLeft"] == BUDGET - RARE_COST - 1
    spent = [json.loads(r["datasets"])[DATASET]["spent"] for r in await _audit_rows(loaded)]
    assert spent == [RARE_COST, 1]


async def test_a_head_is_charged_and_audited_as_its_get(loaded, tmp_path):
    """A HEAD is answered as its GET (RFC 9110), so it costs what the GET costs and its
    audit entry is the GET's question. It was read as a POST with an empty body: the empty
    query, answered, charged and audited (boolean) whatever its query string asked, and a
    query string the GET refuses (start=abc) was charged and audited too."""
    async with served(_settings(loaded, tmp_path)) as node:
        for method in ("GET", "HEAD", "GET"):
            assert (await node.request(method, COMMON)).status == 200
        refused = COMMON.replace("start=199", "start=abc")
        assert (await node.head(refused)).status == (await node.get(refused)).status == 400
        assert _budget(await (await node.get(COMMON)).json())["windowLeft"] == BUDGET - 4
    entry = {DATASET: {"tier": "anonymous", "granularity": "count", "exists": True,
                       "count": 5, "spent": 1}}
    assert [json.loads(r["datasets"]) for r in await _audit_rows(loaded)] == [entry] * 4


async def test_an_individuals_count_reported_as_none_costs_what_a_miss_costs(
        pg_server_url, tmp_path):
    """A count of individuals below the floor is reported as none, and costs one unit, as
    any miss does. It cost RARE_COST (a rare hit), where nobody at all cost one, so the
    budget the answer shows (info.budget) told that someone is there, which the floor hides:
    here that the dataset holds one woman."""
    people = [{"id": f"S{i}-pp", "subject": {"id": f"S{i}",
                                             "sex": "FEMALE" if i == 0 else "MALE"},
               "metaData": {"created": "2026-12-05T00:00:00Z", "createdBy": "tests",
                            "phenopacketSchemaVersion": "2.0"}} for i in range(SAMPLES)]
    async with node_database(pg_server_url) as url:
        packets = tmp_path / "people.json"
        packets.write_text(json.dumps(people))
        await ingest(url, IngestRequest(write_vcf_text(tmp_path / "budget.vcf", VCF),
                                        DATASET, GRCH38, AccessLevel.PUBLIC, "Budget",
                                        workers=1, individuals=packets))
        async with served(_settings(url, tmp_path)) as node:
            response = await node.post("/api/individuals", json={"query": {
                "filters": [{"id": "NCIT:C16576"}], "requestedGranularity": "count"}})
            body = await response.json()
    assert response.status == 200, body
    assert body["responseSummary"]["numTotalResults"] == 0
    assert _budget(body)["windowLeft"] == BUDGET - 1


async def test_a_rare_question_needs_rare_cost_units_left(loaded, tmp_path):
    """With fewer than RARE_COST units left a question is refused, before anything is found:
    the extra cost of a rare hit was charged after the answer, past the budget, so a caller
    with one unit left was answered about a rare variant and spent RARE_COST - 1 more than
    its budget (and a burst of such questions, each passing on one unit, many times it)."""
    async with served(_settings(loaded, tmp_path)) as node:
        for _ in range(ANSWERED):
            assert (await node.get(COMMON)).status == 200
        assert (await node.get(RARE)).status == 429
    conn = await asyncpg.connect(loaded)
    try:
        assert await conn.fetchval("SELECT sum(units) FROM budget_spent") <= BUDGET
    finally:
        await conn.close()
    spent = [json.loads(r["datasets"])[DATASET]["spent"] for r in await _audit_rows(loaded)]
    assert spent == [1] * ANSWERED + [0]                 # the refused one spent nothing


async def test_a_question_refused_for_its_budget_is_in_the_audit_trail(loaded, tmp_path):
    """A question refused with 429 is recorded, once, with who asked and the datasets it
    asked, refused and spending nothing: the trail held answered questions only, so a
    caller asking on past its budget (what a membership attack does) left no trace of it
    for the operator, where the access log names no caller."""
    async with served(_settings(loaded, tmp_path)) as node:
        for _ in range(ANSWERED):
            assert (await node.get(COMMON)).status == 200
        individuals = await node.get("/api/individuals?referenceName=1&start=199"
                                     "&alternateBases=T",
                                     headers={"X-Purpose-Of-Use": "DUO:0000006"})
        assert individuals.status == 429
        refused = await node.get(RARE, headers={"X-Request-ID": "refused-1"})
        assert refused.status == 429
    rows = await _audit_rows(loaded)
    assert len(rows) == ANSWERED + 2
    assert [(r["caller"], r["endpoint"]) for r in rows[-2:]] == [
        (ANONYMOUS_CALLER, "/api/individuals"), (ANONYMOUS_CALLER, "/api/g_variants")]
    assert [json.loads(r["datasets"]) for r in rows[-2:]] == [
        {DATASET: {"tier": "anonymous", "refused": "budget",
                   "retryAfter": int(individuals.headers["Retry-After"]),
                   "purpose": "DUO:0000006", "spent": 0}},
        {DATASET: {"tier": "anonymous", "refused": "budget",
                   "retryAfter": int(refused.headers["Retry-After"]), "spent": 0}}]
    env = _env(DATABASE_URL=loaded)
    [listed] = _cli_json(env, "audit", "list", "--json", "--limit", "1")
    assert listed["requestId"] == "refused-1"
    assert listed["query"]["requestParameters"] == {"g_variant": {
        "referenceName": "1", "start": [99], "alternateBases": "G"}}     # what it asked
    table = gdi_node("audit", "list", "--limit", "1", env=env)
    assert f"{DATASET} [anonymous] refused (budget spent), spent 0" in table.stdout, table


async def test_a_bodys_null_purpose_leaves_the_headers_purpose_stated(loaded, tmp_path):
    """`"purposeOfUse": null` in the body states none, as leaving it out does, so the
    header's purpose is the query's: a client writing each field of its model had the
    header's purpose dropped, its entry recording none and a dataset asking for one
    refusing the query (400). A string in the body is still the body's."""
    settings = Settings(database_url=loaded, data_dir=tmp_path / "node",
                        beacon_id="org.test.budget",
                        disclosure=DISCLOSURE.model_copy(update={"purpose_required": True}))
    query = {"requestParameters": {"referenceName": "1", "start": [199],
                                   "alternateBases": "T"}}
    async with served(settings) as node:
        for meta in ({"purposeOfUse": None}, {}):
            answered = await node.post("/api/individuals", json={"meta": meta, "query": query},
                                       headers={"X-Purpose-Of-Use": "DUO:0000007"})
            assert answered.status == 200, await answered.text()
        unstated = await node.post("/api/individuals",
                                   json={"meta": {"purposeOfUse": None}, "query": query})
        assert unstated.status == 400
    purposes = [json.loads(r["datasets"])[DATASET]["purpose"]
                for r in await _audit_rows(loaded)]
    assert purposes == ["DUO:0000007", "DUO:0000007"]


async def test_audit_list_shows_the_purpose_each_question_declared(loaded, tmp_path):
    """`gdi-node audit list` prints an individuals question's declared purpose of use with
    each dataset, as the trail records it: the table left it out, so an operator reading it
    saw every question as stating none (only `--json` had it)."""
    async with served(_settings(loaded, tmp_path)) as node:
        for headers in ({"X-Purpose-Of-Use": "DUO:0000006"}, {}):
            answered = await node.get("/api/individuals?referenceName=1&start=199"
                                      "&alternateBases=T", headers=headers)
            assert answered.status == 200, await answered.text()
    table = gdi_node("audit", "list", env=_env(DATABASE_URL=loaded)).stdout
    # newest first
    unstated, stated = [line for line in table.splitlines() if "/api/individuals" in line]
    assert stated.endswith(f"{DATASET} [anonymous, boolean] found, spent 1, "
                           "purpose DUO:0000006"), table
    assert unstated.endswith(f"{DATASET} [anonymous, boolean] found, spent 1"), table


# --- worker processes and a restart -------------------------------------------------------------

class Workers:
    """`gdi-node serve` processes this test started, each stopped by its own PID."""

    def __init__(self, url: str, directory: Path) -> None:
        self.env = _env(DATABASE_URL=url, GDI_NODE_DATA_DIR=str(directory / "node"),
                        GDI_NODE_LOG_LEVEL="WARNING",
                        GDI_NODE_DISCLOSURE=DISCLOSURE.model_dump_json())
        self.directory = directory
        self.processes: list[tuple[subprocess.Popen, Path]] = []

    async def start(self, count: int) -> list[str]:
        """Start `count` workers on the same database; their base URLs once all are ready."""
        started = [self._spawn(free_port()) for _ in range(count)]
        for process, base in started:
            await _wait_ready(process, base, deadline=45)
        return [base for _, base in started]

    def _spawn(self, port: int) -> tuple[subprocess.Popen, str]:
        log = self.directory / f"serve-{port}.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "node.cli", "serve", "--host", "127.0.0.1", "--port",
                 str(port)], env=self.env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        self.processes.append((process, log))
        return process, f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """SIGTERM (a graceful stop, as in production) to each process started here."""
        stopping, self.processes = self.processes, []
        for process, _ in stopping:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in stopping:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for process, log in stopping:
            assert process.returncode == 0, log.read_text()[-3000:]


async def test_a_question_answered_nothing_by_a_503_spends_nothing(loaded, tmp_path):
    """A question charged, then answered nothing (a 503: its statement outlived the
    query's limit behind a lock) spends nothing of the budget. It kept the RARE_COST
    units taken before the answer, so under an outage a caller's budget drained on 503s."""
    async with served(_settings(loaded, tmp_path, query_timeout_seconds=1)) as node:
        assert (await node.get(COMMON)).status == 200                  # 1 unit
        blocker = await asyncpg.connect(loaded)
        try:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE variants IN ACCESS EXCLUSIVE MODE")
                failed = await node.get(COMMON)
        finally:
            await blocker.close()
        assert failed.status == 503 and failed.headers["Retry-After"].isdigit()
        assert _budget(await (await node.get(COMMON)).json())["windowLeft"] == BUDGET - 2


async def _wait_ready(process: subprocess.Popen, base: str, deadline: float) -> None:
    end = time.monotonic() + deadline
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end and process.poll() is None:
            try:
                async with session.get(f"{base}/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{base} not ready within {deadline} s (exit code {process.poll()})")


async def test_budget_holds_across_two_workers_and_a_restart(loaded, tmp_path):
    workers = Workers(loaded, tmp_path)
    try:
        bases = await workers.start(2)
        answered, refused, left = 0, set(), []
        async with aiohttp.ClientSession() as session:
            for i in range(2 * BUDGET + 4):
                base = bases[i % 2]
                async with session.get(base + COMMON) as response:
                    body = await response.json()
                    if response.status == 429:
                        refused.add(base)
                        if len(refused) == 2:
                            break
                        continue
                    assert response.status == 200, body
                    answered += 1
                    left.append(_budget(body)["windowLeft"])
        assert refused == set(bases)
        # a lease here is the RARE_COST units a question needs (a twentieth of 20 is 1), all
        # but one given back after a common answer: each worker that answered holds
        # RARE_COST - 1 unspent when the budget ends
        assert answered == BUDGET - 2 * (RARE_COST - 1)
        assert left == sorted(left, reverse=True) and len(set(left)) == len(left)
        workers.stop()
        [base] = await workers.start(1)
        async with (aiohttp.ClientSession() as session,
                    session.get(base + COMMON) as response):
            assert response.status == 429, await response.text()
            assert int(response.headers["Retry-After"]) >= 1
    finally:
        workers.stop()
    rows = await _audit_rows(loaded)                     # written at each worker's shutdown
    refusals = [r for r in rows if "refused" in json.loads(r["datasets"])[DATASET]]
    assert (len(rows) - len(refusals), len(refusals)) == (answered, 3)
    assert {r["caller"] for r in rows} == {ANONYMOUS_CALLER}


async def test_a_datasets_raised_floor_holds_after_the_nodes_budget_falls_below_its_cost(
        pg_server_url, tmp_path):
    """A dataset loaded with its floor raised to 20 and a rare cost of 10, which the node's
    budget of 20 took. The operator then lowered the anonymous budget to 5: the override no
    longer fits the node's rules, and the node ignored it whole, so the 12 carriers of a
    variant the dataset's floor hid were answered "found" with the node's floor of 2. The
    override's stricter rules now hold (its floor), its cost held to the budget."""
    raised = {"disclosure": {"anonymous": {"allele_floor": 20, "rare_cost": 10}}}
    answers = []
    async with node_database(pg_server_url) as url:
        path = write_vcf_text(tmp_path / "raised.vcf", VCF)
        await ingest(url, IngestRequest(path, DATASET, GRCH38, AccessLevel.PUBLIC, "Raised",
                                        metadata=raised, workers=1))
        for budget in (BUDGET, 5):
            tier = ANONYMOUS.model_copy(update={"budget_per_window": budget})
            settings = _settings(url, tmp_path / str(budget)).model_copy(update={
                "disclosure": DISCLOSURE.model_copy(update={"anonymous": tier})})
            async with served(settings) as node, node.get(COMMON) as response:
                body = await response.json()
                assert response.status == 200, body
                answers.append(body["responseSummary"]["exists"])
            conn = await asyncpg.connect(url)
            try:                        # the next node's caller starts with a whole budget
                await conn.execute("DELETE FROM budget_spent")
            finally:
                await conn.close()
    assert answers == [False, False]


# --- the audit trail ----------------------------------------------------------------------------

async def test_audit_trail_shows_what_was_disclosed_and_never_a_token(loaded, tmp_path):
    async with AsyncExitStack() as stack:
        aai, aai_url = await serve_dev_aai(stack)
        token = aai.access_token(aai.users["bob"])              # bona fide
        trust = [TrustedIssuer(**trusted_issuer_entry(aai_url))]
        async with served(_settings(loaded, tmp_path, trusted_issuers=trust)) as node:
            for path in (COMMON, HIDDEN, RARE):
                assert (await node.get(path)).status == 200
            response = await node.get(COMMON, headers={"Authorization": f"Bearer {token}"})
            assert response.status == 200, await response.text()
    bob = f"token {aai_url} bob"
    env = _env(DATABASE_URL=loaded)

    listed = _cli_json(env, "audit", "list", "--json")
    assert [(e["caller"], e["endpoint"], e["datasets"]) for e in listed] == [
        (bob, "/api/g_variants", {DATASET: {"tier": "bona_fide", "granularity": "count",
                                            "exists": True, "count": 1, "spent": 1}}),
        (ANONYMOUS_CALLER, "/api/g_variants",     # one carrier of two, the count rounded to 5
         {DATASET: {"tier": "anonymous", "granularity": "count", "exists": True, "count": 5,
                    "spent": RARE_COST}}),
        (ANONYMOUS_CALLER, "/api/g_variants",     # below the floor: not there
         {DATASET: {"tier": "anonymous", "granularity": "count", "exists": False,
                    "count": 0, "spent": 1}}),
        (ANONYMOUS_CALLER, "/api/g_variants",
         {DATASET: {"tier": "anonymous", "granularity": "count", "exists": True, "count": 5,
                    "spent": 1}})]
    moments = [datetime.fromisoformat(e["at"]) for e in listed]
    assert moments == sorted(moments, reverse=True)
    assert all(e["requestId"] for e in listed)

    assert _cli_json(env, "audit", "list", "--json", "--limit", "1") == listed[:1]
    assert _cli_json(env, "audit", "list", "--json", "--caller", bob) == listed[:1]
    assert _cli_json(env, "audit", "list", "--json", "--dataset", DATASET) == listed
    assert _cli_json(env, "audit", "list", "--json", "--dataset", "GDI-FI-SYN-999") == []
    later = (moments[0].astimezone(UTC) + timedelta(days=1)).date().isoformat()
    assert _cli_json(env, "audit", "list", "--json", "--since", later) == []
    earlier = (moments[-1] - timedelta(seconds=1)).isoformat()
    assert _cli_json(env, "audit", "list", "--json", "--since", earlier) == listed

    assert _cli_json(env, "audit", "summary", "--json") == _summed(listed)
    if len({row["day"] for row in _summed(listed)}) == 1:      # not run across midnight UTC
        assert [(r["caller"], r["requests"], r["hits"], r["spent"]) for r in _summed(listed)
                ] == [(ANONYMOUS_CALLER, 3, 2, RARE_COST + 2), (bob, 1, 1, 1)]
    assert _cli_json(env, "audit", "summary", "--json", "--since", later) == []
    # --until: before then (the entries' range halved at the newest); summary's --caller
    newest = moments[0].isoformat()
    assert _cli_json(env, "audit", "list", "--json", "--until", newest) == listed[1:]
    assert _cli_json(env, "audit", "list", "--json", "--since", earlier,
                     "--until", later) == listed
    assert _cli_json(env, "audit", "summary", "--json", "--until", newest) == _summed(
        listed[1:])
    assert _cli_json(env, "audit", "summary", "--json", "--caller", bob) == _summed(
        listed[:1])

    table = gdi_node("audit", "list", env=env)
    assert table.returncode == 0, table.stderr
    assert f"{DATASET} [anonymous, count] count 5, spent {RARE_COST}" in table.stdout
    assert f"{DATASET} [anonymous, count] count 0, spent 1" in table.stdout
    summary = gdi_node("audit", "summary", env=env)
    assert summary.returncode == 0 and bob in summary.stdout, summary.stderr

    stored = " ".join(r["caller"] + r["datasets"] for r in await _audit_rows(loaded))
    assert token not in stored
    assert not any(part in stored for part in token.split("."))
    assert all(token not in out for out in (table.stdout, summary.stdout))


async def test_the_audit_trail_names_what_each_question_asked(loaded, tmp_path):
    """Each entry holds the question as the node read it (the answer's
    meta.receivedRequestSummary), so the operator reads who asked what: the trail named the
    endpoint alone, and a caller asking about one variant after another (a membership
    attack) left entries that differed only by the count told."""
    async with served(_settings(loaded, tmp_path)) as node:
        assert (await node.get(RARE)).status == 200
        # with meta the answer repeats that tells nothing of the question: not kept (a
        # request's 600 kB of it were a 600 kB entry, a refused one's too)
        posted = await node.post("/api/g_variants", json={"meta": {
            "apiVersion": "v" * 100_000, "requestedSchemas": ["s" * 100_000] * 5}, "query": {
            "requestParameters": {"referenceName": "1", "start": [199], "alternateBases": "T"},
            "requestedGranularity": "count"}})
        assert posted.status == 200
        assert (await node.get("/api/datasets")).status == 200
    env = _env(DATABASE_URL=loaded)
    asked = [entry["query"] for entry in reversed(_cli_json(env, "audit", "list", "--json"))]
    assert [(q["requestParameters"], q["requestedGranularity"]) for q in asked[:2]] == [
        ({"g_variant": {"referenceName": "1", "start": [99], "alternateBases": "G"}}, "count"),
        ({"g_variant": {"referenceName": "1", "start": [199], "alternateBases": "T"}},
         "count")]
    assert "requestParameters" not in asked[2] and asked[2]["filters"] == []
    assert all(set(q) <= {"requestParameters", "filters", "requestedGranularity", "pagination",
                          "includeResultsetResponses"} for q in asked), asked
    assert asked[1]["pagination"] == {"skip": 0, "limit": 10}
    table = gdi_node("audit", "list", env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "referenceName=1 start=99 alternateBases=G count " in lines[3], lines
    assert "referenceName=1 start=199 alternateBases=T count " in lines[2], lines


async def test_audit_list_prints_one_line_per_entry_whatever_its_path_holds(
        pg_server_url, tmp_path):
    """A caller granted a dataset asks for an individual whose id (in the path) holds a
    line break, an escape and a right-to-left override: `audit list` prints that entry on
    one line, those characters escaped. The path was printed as the node decoded it, so
    the caller wrote the operator's table a line of its own choosing (an entry of another
    caller), and could colour or reorder what the terminal showed."""
    from auth.dev_issuer import DevUser
    forged = "\n2026-01-01 00:00:00  address 192.0.2.1  \x1b[2J\u202e"
    async with node_database(pg_server_url) as url, AsyncExitStack() as stack:
        path = write_vcf_text(tmp_path / "granted.vcf", VCF)
        await ingest(url, IngestRequest(path, DATASET, GRCH38, AccessLevel.CONTROLLED,
                                        "Granted", workers=1))
        aai, aai_url = await serve_dev_aai(stack, users=[
            DevUser(name="dave", password="dave", grants=[DATASET])])
        token = aai.access_token(aai.users["dave"])
        trust = [TrustedIssuer(**trusted_issuer_entry(aai_url))]
        async with served(_settings(url, tmp_path, trusted_issuers=trust)) as node:
            response = await node.get("/api/individuals/S1" + quote(forged, safe=""),
                                      headers={"Authorization": f"Bearer {token}"})
            assert response.status == 200, await response.text()
        [entry] = _cli_json(_env(DATABASE_URL=url), "audit", "list", "--json")
        assert entry["endpoint"] == "/api/individuals/S1" + forged      # kept as asked
        table = gdi_node("audit", "list", env=_env(DATABASE_URL=url))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith(entry["at"][:10]), lines
    assert "\x1b" not in table.stdout and "\u202e" not in table.stdout
    assert "/api/individuals/S1\\n2026-01-01" in lines[1]


def _summed(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What `audit summary` should say of these `audit list` entries, in its order: latest
    UTC day first, then the busiest caller and dataset."""
    sums: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in listed:
        day = datetime.fromisoformat(entry["at"]).astimezone(UTC).date().isoformat()
        for dataset_id, told in entry["datasets"].items():
            row = sums.setdefault((day, entry["caller"], dataset_id), {
                "day": day, "caller": entry["caller"], "dataset": dataset_id, "requests": 0,
                "hits": 0, "spent": 0})
            row["requests"] += 1
            row["hits"] += told["exists"]
            row["spent"] += told["spent"]
    by_day = sorted(sums.values(), key=lambda r: (r["caller"], r["dataset"]))
    by_day.sort(key=lambda r: r["requests"], reverse=True)
    return sorted(by_day, key=lambda r: r["day"], reverse=True)


def _cli_json(env: dict[str, str], *args: str) -> Any:
    result = gdi_node(*args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("args,named", [
    (("audit", "list", "--since", "yesterday"), "--since"),
    (("audit", "summary", "--since", "2025-02-30"), "--since"),
    (("audit", "list", "--limit", "0"), "--limit"),
    (("audit", "list", "--since", "2025-02-01", "--until", "2025-01-31"), "--until"),
    (("audit", "summary", "--since", "2025-02-01", "--until", "2025-02-01"), "--until"),
    # past the years 1 to 9999 once in UTC: the database's "date value out of range" (a probe)
    (("audit", "list", "--since", "9999-12-31T23:00:00-05:00"), "--since"),
    (("audit", "summary", "--since", "0001-01-01T00:00:00+05:00"), "--since"),
])
def test_audit_refuses_bad_input_naming_the_option(db_url, args, named):
    result = gdi_node(*args, env=_env(DATABASE_URL=db_url))
    assert result.returncode != 0
    assert f"'{named}'" in result.stderr and "Traceback" not in result.stderr


def test_audit_of_a_node_nobody_asked_says_so(db_url):
    result = gdi_node("audit", "list", env=_env(DATABASE_URL=db_url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no audit entries"


@pytest.mark.parametrize("concurrent", [1, 16, 64])
async def test_one_callers_concurrent_queries_get_the_whole_budget(db_url, pool, concurrent):
    """Requests of one caller that find its lease short at the same moment each take units;
    all of them join the one lease, so the caller gets exactly the budget, however many of
    its requests run at once (each taking a lease of its own once cost most of it)."""
    from beacon.budget import BudgetExceeded, Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    rules = Rules(budget_per_window=100, budget_per_day=1000)
    budgets = Budgets(pool, DisclosurePolicy())
    answered = refused = 0

    async def one() -> None:
        nonlocal answered, refused
        try:
            await budgets.spend("address 192.0.2.7", "GDI-FI-SYN-001", rules)
            answered += 1
        except BudgetExceeded:
            refused += 1
    for _ in range(300 // concurrent + 1):             # bounded: 300 queries and a few more
        await asyncio.gather(*(one() for _ in range(concurrent)))
    assert (answered, refused > 0) == (100, True)
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent") == 100


async def test_a_query_refused_for_one_dataset_spends_nothing_of_the_others(pool):
    """A query asking datasets A and B is refused (429) when B's budget is spent, and is
    answered nothing: A's unit, charged first, goes back. It stayed spent, so a caller
    retrying such a query lost a unit of A each time."""
    from beacon.budget import BudgetExceeded, Budgets, charge
    from beacon.disclosure import DisclosurePolicy, Rules
    roomy, spent = Rules(budget_per_window=20), Rules(budget_per_window=1)
    budgets = Budgets(pool, DisclosurePolicy())
    caller, both = "address 192.0.2.9", [("A", roomy), ("B", spent)]
    await charge(budgets, caller, both)
    for _ in range(5):
        with pytest.raises(BudgetExceeded):
            await charge(budgets, caller, both)
    assert (await charge(budgets, caller, [("A", roomy)]))["A"].window == 18
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent WHERE dataset_id = 'A'") == 2


async def test_a_query_spent_in_two_datasets_is_told_when_both_have_room(pool):
    """A query asking two datasets is answered once both have room, so its Retry-After is
    the later of their two moments, in whichever order it names them: the first refusal's
    was told, a window's hour where the other dataset's day was spent (midnight UTC, or
    the one after), and the question was refused again then. And nothing is spent of
    either."""
    from beacon.budget import BudgetExceeded, Budgets, charge
    from beacon.disclosure import DisclosurePolicy, Rules
    hourly, daily = Rules(budget_per_window=1), Rules(budget_per_day=1)
    budgets = Budgets(pool, DisclosurePolicy())
    caller, both = "address 192.0.2.10", [("HOUR", hourly), ("DAY", daily)]
    await charge(budgets, caller, both)
    told = []
    for order in (both, both[::-1]):
        with pytest.raises(BudgetExceeded) as refused:
            await charge(budgets, caller, order)
        told.append(refused.value.retry_after)
    midnight = await pool.fetchval(
        "SELECT date_trunc('day', clock_timestamp(), 'UTC') + interval '1 day'")
    to_midnight = await _seconds_until(pool, midnight)
    window = DisclosurePolicy().window_seconds + 60       # the window, its minute and more
    latest = max(to_midnight, window)
    assert told[0] == told[1] and told[0] >= latest - 5, (told, latest)
    # the refusal names the dataset whose moment is the later: the day's but in the last
    # hour before midnight UTC, where the window's is (this assertion named the day's
    # whatever the hour, and failed every evening from 23:00 UTC)
    named = {"DAY": "1 unit per day;", "HOUR": "1 unit per 3600 s;"}
    if abs(to_midnight - window) > 30:           # else either may be the later by a second
        named = {"DAY": named["DAY"]} if to_midnight > window else {"HOUR": named["HOUR"]}
    assert any(str(refused.value).startswith(f"query budget for dataset {dataset} spent ({unit}")
               for dataset, unit in named.items()), (str(refused.value), to_midnight)
    # the datasets after a refusal are asked when they would have room, and nothing is taken
    # of them: a take would hold units in this process that lapse, spent, unless asked again
    with pytest.raises(BudgetExceeded) as refused:
        await charge(budgets, caller, [*both, ("FRESH", Rules(budget_per_window=300))])
    assert refused.value.retry_after == told[0]
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent") == 2


async def test_a_caller_refused_again_and_again_asks_the_database_once_a_dataset(pool):
    """What the datasets after a refused one are asked (when they would have room) is
    remembered until then: a caller asking on past its budget over many datasets cost
    the database a statement per dataset per question, where a refusal costs one."""
    from beacon.budget import BudgetExceeded, Budgets, charge
    from beacon.disclosure import DisclosurePolicy, Rules
    spent, daily = Rules(budget_per_window=1), Rules(budget_per_day=1)
    budgets = Budgets(pool, DisclosurePolicy())
    caller = "address 192.0.2.11"
    asked = [("FIRST", spent), *((f"D{n}", daily) for n in range(10))]
    await charge(budgets, caller, asked)                    # every dataset's one unit
    probes = []
    ask = budgets._ask

    async def counted(connection, caller, dataset_id, rules, wanted, needed):
        if wanted == 0:
            probes.append(dataset_id)
        return await ask(connection, caller, dataset_id, rules, wanted, needed)
    budgets._ask = counted
    told = set()
    for _ in range(5):
        with pytest.raises(BudgetExceeded) as refused:
            await charge(budgets, caller, asked)
        told.add(refused.value.retry_after)
    assert sorted(probes) == sorted(f"D{n}" for n in range(10))     # once each
    assert max(told) - min(told) <= 1 and min(told) > WINDOW           # told alike each time


async def test_a_budget_at_its_largest_saturates_instead_of_overflowing(pool):
    """A rare question at the largest cost a rule takes (RULE_MAX) takes the whole budget
    and the next is refused. budget_take, forced past the budget, fills a minute's bucket to
    2^31 - 1 units and stops there (migration 0016), where forced rare charges overflowed
    PostgreSQL's integer (a 500 for an answered query); what they spent is still spent."""
    from beacon.budget import BudgetExceeded, Budgets, Left, charge, settle
    from beacon.disclosure import RULE_MAX, DisclosurePolicy, Rules
    rules = Rules(budget_per_window=RULE_MAX, budget_per_day=RULE_MAX, rare_cost=RULE_MAX,
                  rare_below=RULE_MAX)
    budgets = Budgets(pool, DisclosurePolicy())
    caller, dataset = "address 192.0.2.8", "GDI-FI-SYN-001"
    left = await charge(budgets, caller, [(dataset, rules)])
    assert left == {dataset: Left(0, 0)}
    assert settle(budgets, caller, [(dataset, rules)], {dataset}, left) == {dataset: RULE_MAX}
    with pytest.raises(BudgetExceeded):
        await charge(budgets, caller, [(dataset, rules)])
    for _ in range(3):
        row = await pool.fetchrow("SELECT * FROM budget_take($1, $2, $3, $3, true, 3600, $3, $3)",
                                  caller, dataset, RULE_MAX - 1)
        assert row["taken"] == RULE_MAX - 1 and row["window_left"] < 0
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent") == RULE_MAX
    with pytest.raises(BudgetExceeded):
        await Budgets(pool, DisclosurePolicy()).spend(caller, dataset, rules)   # no lease


async def test_a_burst_of_questions_that_may_be_rare_is_answered_within_the_budget(pool):
    """40 questions of one caller at once, each of which may find a rare variant: no more
    pass than the budget pays for at 5 units each. One unit was taken per question before
    the answer and the rest after, forced past the budget, so 20 passed, and had each found
    a rare variant they spent 100 units of a budget of 20."""
    from beacon.budget import BudgetExceeded, Budgets, charge
    from beacon.disclosure import DisclosurePolicy, Rules
    rules = Rules(budget_per_window=20, rare_cost=5, rare_below=10)
    budgets = Budgets(pool, DisclosurePolicy())
    asked = [("DS", rules)]
    charged = await asyncio.gather(*(charge(budgets, "address 192.0.2.10", asked)
                                     for _ in range(40)), return_exceptions=True)
    assert all(isinstance(c, dict | BudgetExceeded) for c in charged), charged
    assert sum(isinstance(c, dict) for c in charged) == 20 // 5
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent") == 20


async def test_a_common_answer_gives_back_what_a_rare_one_would_have_cost_more(pool):
    """`settle` after the answer: RARE_COST units were taken, all but one go back where no
    rare variant was found, so common questions spend the budget one unit each, to the
    last RARE_COST - 1 units (a question needs that many left)."""
    from beacon.budget import BudgetExceeded, Budgets, Left, charge, settle
    from beacon.disclosure import DisclosurePolicy, Rules
    rules = Rules(budget_per_window=300, budget_per_day=1000, rare_cost=5, rare_below=10)
    budgets = Budgets(pool, DisclosurePolicy())
    caller, asked = "address 192.0.2.11", [("DS", rules)]
    left = await charge(budgets, caller, asked)
    assert left == {"DS": Left(295, 995)}
    assert settle(budgets, caller, asked, set(), left) == {"DS": 1}
    assert left == {"DS": Left(299, 999)}
    left = await charge(budgets, caller, asked)
    assert settle(budgets, caller, asked, {"DS"}, left) == {"DS": 5}
    assert left == {"DS": Left(294, 994)}
    answered = 0
    with pytest.raises(BudgetExceeded):
        for _ in range(300):                                  # bounded
            settle(budgets, caller, asked, set(), await charge(budgets, caller, asked))
            answered += 1
    assert answered == 294 - 4


async def test_units_spent_are_never_more_than_the_database_gave(pool):
    """A question needing 5 units finds 2 in the lease and takes 3 from the database (all it
    has room for); meanwhile two others spend the 2 locally. The lease once went 2 units
    below zero: answered, never taken from the database, and forgiven when it lapsed."""
    from beacon.budget import Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    rules = Rules(budget_per_window=300, budget_per_day=9)   # a lease: as much as needed
    budgets = Budgets(pool, DisclosurePolicy())
    caller = "address 192.0.2.12"
    left = await budgets.spend(caller, "DS", rules, 3)
    budgets.give_back(caller, "DS", 2, left.source)             # 1 used, 2 held
    await asyncio.gather(budgets.spend(caller, "DS", rules, 5),
                         budgets.spend(caller, "DS", rules), budgets.spend(caller, "DS", rules))
    used = 1 + 5 + 1 + 1
    held = budgets._leases[(caller, "DS")].units
    assert held >= 0
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent") - held == used


async def test_a_take_counts_in_the_window_and_the_day_as_long_as_its_units_are_spent(pool):
    """A process spends a take's units up to LEASE_SECONDS after it, and the database files
    the take under its minute: counted for the window and one minute more, a take late in
    its minute left the count while its units were still answered (419 answers in 60 s on
    a budget of 400, a probe), and a take at 23:59 did not count in the next day, whose
    whole budget its units were spent on top of. Now each counts for the window and two
    minutes, and in the day from two minutes before midnight (migration 0022)."""
    caller = "address 192.0.2.30"
    now = await pool.fetchval("SELECT date_trunc('minute', clock_timestamp())")
    # two minutes before this minute: its units were spendable until up to a minute ago
    await pool.execute("INSERT INTO budget_spent VALUES ($1, 'W', $2, 20)", caller,
                       now - timedelta(minutes=2))
    row = await pool.fetchrow("SELECT * FROM budget_take($1, 'W', 1, 1, false, 60, 400, 0)",
                              caller)
    assert row["window_left"] == 400 - 20 - 1
    midnight = await pool.fetchval(
        "SELECT date_trunc('day', clock_timestamp(), 'UTC')")
    await pool.executemany("INSERT INTO budget_spent VALUES ($1, 'D', $2, $3)", [
        (caller, midnight - timedelta(minutes=1), 7),    # spent into today
        (caller, midnight - timedelta(minutes=10), 50)])  # spent yesterday
    row = await pool.fetchrow("SELECT * FROM budget_take($1, 'D', 1, 1, false, 60, 0, 100)",
                              caller)
    assert row["day_left"] == 100 - 7 - 1


async def test_spending_past_every_window_is_forgotten_and_nothing_a_take_counts(
        loaded, tmp_path):
    """A row per caller, dataset and minute of use was kept for good: every anonymous
    caller's address, personal data past any use, and a busy node's every minute. A node
    deletes at start, then hourly, the minutes older than its window or a day, whichever is
    longer, and ten more (Budgets.forget_spent): none a take reads, so every caller's
    budget left is as before."""
    from beacon.budget import Budgets
    from beacon.disclosure import DisclosurePolicy
    caller = "address 192.0.2.40"
    pool = await asyncpg.create_pool(loaded, min_size=1, max_size=2)
    try:
        now = await pool.fetchval("SELECT date_trunc('minute', clock_timestamp())")
        ages = {"2 days": timedelta(days=2), "25 hours": timedelta(hours=25),
                "a day and 5 minutes": timedelta(days=1, minutes=5),
                "2 minutes": timedelta(minutes=2)}
        await pool.executemany("INSERT INTO budget_spent VALUES ($1, $2, $3, 3)",
                               [(caller, name, now - age) for name, age in ages.items()])

        async def left() -> dict[str, tuple[int, int]]:
            rows = {name: await pool.fetchrow(
                "SELECT * FROM budget_take($1, $2, 0, 0, false, 3600, 400, 1000)", caller,
                name) for name in ages}
            return {name: (row["window_left"], row["day_left"]) for name, row in rows.items()}
        before = await left()
        long_window = Budgets(pool, DisclosurePolicy(window_seconds=3 * 86_400))
        assert await long_window.forget_spent() == 0        # a window of 3 days keeps all
        async with served(_settings(loaded, tmp_path)) as client:
            assert (await client.get("/api/info")).status == 200
            for _ in range(100):                       # the first turn runs as it starts
                kept = await pool.fetch("SELECT dataset_id FROM budget_spent "
                                        "WHERE caller = $1 ORDER BY minute", caller)
                if len(kept) < 4:
                    break
                await asyncio.sleep(0.05)
        assert [r["dataset_id"] for r in kept] == ["a day and 5 minutes", "2 minutes"]
        assert await left() == before
    finally:
        await pool.close()


async def _seconds_until(pool, moment) -> float:
    return await pool.fetchval("SELECT extract(epoch FROM $1::timestamptz - clock_timestamp())",
                               moment)


async def _take_and_bracket(pool, moment, *take):
    """budget_take's row, and the seconds until `moment` measured just before and just after
    it. Its retry_after is the ceiling of those seconds at its own clock, which lies between
    the two: [after, before + 1] holds however long the machine takes between the
    statements (measuring once after it failed when that was more than the fraction of a
    second the ceiling added)."""
    before = await _seconds_until(pool, moment)
    row = await pool.fetchrow("SELECT * FROM budget_take($1, $2, $3, $4, false, 600, $5, $6)",
                              *take)
    after = await _seconds_until(pool, moment)
    return row, before, after


async def test_retry_after_is_when_the_question_would_be_answered_in_the_window(pool):
    """Refused in its window, a question is told when enough units leave it for the units
    it needs, not when the oldest minute leaves, however little that frees (migration
    0023): behind a minute of 1 unit, a question needing 5 was refused again then."""
    caller = "address 192.0.2.32"
    now = await pool.fetchval("SELECT date_trunc('minute', clock_timestamp())")
    await pool.executemany("INSERT INTO budget_spent VALUES ($1, 'W', $2, $3)", [
        (caller, now - timedelta(minutes=5), 1),
        (caller, now - timedelta(minutes=4), 300),
        (caller, now - timedelta(minutes=1), 99)])            # 400 of 400 in the window
    # the minute of 300 counts until two minutes past the window after it
    row, before, after = await _take_and_bracket(
        pool, now - timedelta(minutes=4) + timedelta(minutes=12), caller, "W", 5, 5, 400, 0)
    assert row["taken"] == 0
    assert after <= row["retry_after"] <= before + 1
    row, before, after = await _take_and_bracket(             # 1 frees with the oldest
        pool, now - timedelta(minutes=5) + timedelta(minutes=12), caller, "W", 1, 1, 400, 0)
    assert row["taken"] == 0
    assert after <= row["retry_after"] <= before + 1


async def test_retry_after_a_spent_day_counts_what_the_next_day_inherits(pool):
    """With the day spent, a question is told the next midnight (UTC), or the one after
    if what the day's last two minutes took, which counts into the next day (migration
    0022), leaves it too little there: told midnight, it was refused again for a day."""
    midnight = await pool.fetchval(
        "SELECT date_trunc('day', clock_timestamp(), 'UTC') + interval '1 day'")
    caller = "address 192.0.2.33"
    await pool.executemany("INSERT INTO budget_spent VALUES ($1, $2, $3, $4)", [
        (caller, "EARLY", midnight - timedelta(hours=23, minutes=59), 98),
        (caller, "LATE", midnight - timedelta(minutes=1), 98)])   # the day's last minute
    for dataset, then in (("EARLY", midnight), ("LATE", midnight + timedelta(days=1))):
        row, before, after = await _take_and_bracket(pool, then, caller, dataset, 5, 5, 0, 100)
        assert row["taken"] == 0
        assert after <= row["retry_after"] <= before + 1, dataset


async def test_a_caller_asking_now_and_then_gets_its_whole_budget(pool, monkeypatch):
    """A caller asking once a minute or less often (a researcher at the web page) finds its
    last lease lapsed at each question, so a question takes what it needs, not a lease:
    each took a lease of 15 (of an hourly 300), spent one and let 14 lapse, spent, and was
    refused after 20 questions in the hour, having asked 20 units' worth."""
    from beacon import budget
    from beacon.budget import LEASE_SECONDS, BudgetExceeded, Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    clock = [time.monotonic()]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    rules = Rules(budget_per_window=300, budget_per_day=1000)
    budgets = Budgets(pool, DisclosurePolicy())
    answered = 0
    for _ in range(40):                     # 40 minutes and more: within the hour's window
        try:
            await budgets.spend("address 192.0.2.40", "DS", rules)
            answered += 1
        except BudgetExceeded:
            break
        clock[0] += LEASE_SECONDS + 1
    assert answered == 40
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent") == 40
    # a burst still takes leases: one take for the first question, one for the next 15
    for _ in range(16):
        await budgets.spend("address 192.0.2.41", "DS", rules)
    assert await pool.fetchval("SELECT count(*) FROM budget_spent "
                               "WHERE caller = 'address 192.0.2.41'") == 1
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent "
                               "WHERE caller = 'address 192.0.2.41'") == 16


async def test_units_left_of_a_take_are_not_spent_past_its_life(pool):
    """A lease keeps its takes apart: units left of one take when the next is taken lapse
    LEASE_SECONDS after their own take, not the next one's (when a lease was one count and
    one time, they lived on with each renewal, past the database's count of them); and
    units given back go to the take they came from, not a later one."""
    from beacon.budget import LEASE_SECONDS, Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    rules = Rules(budget_per_window=100)             # a lease of 5
    budgets = Budgets(pool, DisclosurePolicy())
    caller, key = "address 192.0.2.31", ("address 192.0.2.31", "DS")
    await budgets.spend(caller, "DS", rules)                     # take 0: the 1 it needs
    first = await budgets.spend(caller, "DS", rules, 3)          # take 1: 5, 2 left
    await budgets.spend(caller, "DS", rules, 4)                  # take 2: 5; 2 + 5 - 4
    lease = budgets._leases[key]
    assert [t.units for t in lease.takes] == [0, 0, 3]
    budgets.give_back(caller, "DS", 2, first.source)             # back to take 1
    assert [t.units for t in lease.takes] == [0, 2, 3]
    for take in lease.takes[:2]:                                 # take 1's life is over
        take.at -= LEASE_SECONDS + 1
    assert budgets._held(key).units == 3
    assert budgets.give_back(caller, "DS", 1, first.source) is None     # stays spent
    assert budgets._held(key).units == 3


async def test_a_question_waiting_on_a_refused_take_is_refused_only_if_it_needs_as_much(pool):
    """A question waiting for another's take of the same caller is refused with it only if
    it needs as many units or more: with 3 left, a question needing 5 is refused and one
    needing 1, which waited for it, is answered; so are two more, and the next refused."""
    from beacon.budget import BudgetExceeded, Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    rules = Rules(budget_per_window=20)                        # a lease: as much as needed
    budgets = Budgets(pool, DisclosurePolicy())
    caller = "address 192.0.2.14"
    await budgets.spend(caller, "DS", rules, 17)
    outcomes = await asyncio.gather(budgets.spend(caller, "DS", rules, 5),
                                    budgets.spend(caller, "DS", rules), return_exceptions=True)
    assert isinstance(outcomes[0], BudgetExceeded) and outcomes[1].window == 2
    await budgets.spend(caller, "DS", rules, 2)
    with pytest.raises(BudgetExceeded):
        await budgets.spend(caller, "DS", rules)
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent") == 20


async def test_a_question_waiting_on_a_smaller_refused_take_is_told_when_its_own_is_met(pool):
    """Two questions of one caller at once, the first needing 1 unit and the second 5,
    which waits for the first's take: refused, each is told when its own need would be
    met. The second was told the first's Retry-After (when 1 unit frees, 12 minutes on)
    and refused again then, though 5 free only 52 minutes on."""
    from beacon.budget import BudgetExceeded, Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    caller = "address 192.0.2.40"
    now = await pool.fetchval("SELECT date_trunc('minute', clock_timestamp())")
    await pool.executemany("INSERT INTO budget_spent VALUES ($1, 'W', $2, $3)", [
        (caller, now - timedelta(minutes=50), 1), (caller, now - timedelta(minutes=10), 9)])
    budgets = Budgets(pool, DisclosurePolicy())
    small, big = await asyncio.gather(*(budgets.spend(caller, "W", Rules(budget_per_window=10),
                                                      units) for units in (1, 5)),
                                      return_exceptions=True)
    assert isinstance(small, BudgetExceeded) and isinstance(big, BudgetExceeded)
    one = await _seconds_until(pool, now - timedelta(minutes=50) + timedelta(minutes=62))
    five = await _seconds_until(pool, now - timedelta(minutes=10) + timedelta(minutes=62))
    assert one - 2 <= small.retry_after <= one + 1
    assert five - 2 <= big.retry_after <= five + 1


async def test_retry_after_counts_the_units_held_that_lapse_before_then(pool):
    """A question needing 5 while this process holds 3 asks the database for 2; refused,
    it is told when the database alone can give all 5, since the 3 held lapse
    (LEASE_SECONDS) long before 2 free. Told when 2 free, it was refused again then."""
    from beacon.budget import LEASE_SECONDS, BudgetExceeded, Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    caller, key = "address 192.0.2.41", ("address 192.0.2.41", "W")
    now = await pool.fetchval("SELECT date_trunc('minute', clock_timestamp())")
    await pool.execute("INSERT INTO budget_spent VALUES ($1, 'W', $2, 2)", caller,
                       now - timedelta(minutes=50))
    rules = Rules(budget_per_window=20)
    budgets = Budgets(pool, DisclosurePolicy())
    left = await budgets.spend(caller, "W", rules, 4)           # a take of 4
    budgets.give_back(caller, "W", 3, left.source)             # 1 used, 3 held
    await pool.fetchrow("SELECT * FROM budget_take($1, 'W', 14, 14, false, 3600, 20, 0)",
                        caller)                                 # 2 + 4 + 14: all 20 taken
    with pytest.raises(BudgetExceeded) as refused:
        await budgets.spend(caller, "W", rules, 5)
    wait = refused.value.retry_after
    assert wait > LEASE_SECONDS
    # `wait` seconds on, in the database and in this process: answered
    await pool.execute("UPDATE budget_spent SET minute = minute - make_interval(secs => $1)",
                       float(wait))
    for take in budgets._leases[key].takes:
        take.at -= wait
    assert (await budgets.spend(caller, "W", rules, 5)).window is not None


async def test_a_take_that_fails_gives_back_what_the_query_took_before_it(pool, db_url):
    """A query asking datasets A and B whose take for B fails (the database refusing it)
    or is cancelled (the client gone while the take waits) is answered nothing: A's units
    go back, as they do when B is refused. They stayed spent."""
    from beacon.budget import Budgets, charge
    from beacon.disclosure import DisclosurePolicy, Rules
    rules = Rules(budget_per_window=100)
    budgets = Budgets(pool, DisclosurePolicy())
    caller = "address 192.0.2.42"
    for _ in range(2):                               # the second takes a lease
        await charge(budgets, caller, [("A", rules)])
    held = budgets._leases[(caller, "A")].units
    assert held > 0
    await pool.execute("ALTER FUNCTION budget_take RENAME TO budget_take_gone")
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await charge(budgets, caller, [("A", rules), ("B", rules)])
    finally:
        await pool.execute("ALTER FUNCTION budget_take_gone RENAME TO budget_take")
    assert budgets._leases[(caller, "A")].units == held
    blocker = await asyncpg.connect(db_url)          # holds B's take at budget_take's lock
    try:
        async with blocker.transaction():
            await blocker.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 11))",
                                  f"{caller}{chr(31)}B")
            task = asyncio.create_task(charge(budgets, caller, [("A", rules), ("B", rules)]))
            for _ in range(100):                 # bounded: until the take waits on the lock
                if (caller, "B") in budgets._taking:
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        await blocker.close()
    assert budgets._leases[(caller, "A")].units == held


async def test_what_is_left_is_as_the_latest_take_says(pool):
    """The budget left shown with an answer (info.budget.windowLeft) is the database's word
    at the latest take: the lowest it had ever said was kept while the lease lived, so once
    older minutes left the window a caller asking steadily was told it had far less left
    than it had (79 where 359 were)."""
    from beacon.budget import Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    caller, key = "address 192.0.2.44", ("address 192.0.2.44", "W")
    clock = await pool.fetchval("SELECT clock_timestamp()")
    # 300 units that leave the window (and its two minutes more) 100 s from now
    await pool.execute("INSERT INTO budget_spent VALUES ($1, 'W', $2, 300)", caller,
                       clock + timedelta(seconds=100) - timedelta(minutes=62))
    rules = Rules(budget_per_window=400)                        # a lease of 20
    budgets = Budgets(pool, DisclosurePolicy())
    for _ in range(2):                        # the first takes 1, the next a lease: 79 left
        await budgets.spend(caller, "W", rules)
    for seconds in (50, 55):                                    # takes 50 s and 105 s on
        await pool.execute("UPDATE budget_spent SET minute = minute - "
                           "make_interval(secs => $1)", float(seconds))
        for take in budgets._leases[key].takes:
            take.at -= seconds
        await budgets.spend(caller, "W", rules, budgets._leases[key].units)
        left = await budgets.spend(caller, "W", rules)
    counted = await pool.fetchval("SELECT sum(units) FROM budget_spent WHERE minute > "
                                  "clock_timestamp() - interval '62 minutes'")
    assert left.window == 400 - counted + budgets._leases[key].units > 300


async def test_a_fresh_callers_burst_is_not_refused_while_its_lease_holds_units(pool):
    """150 questions of a fresh caller at once into one process: all answered, from one
    take at a time. Each question that found the lease short took a lease of its own: the
    first 20 took the budget of 300 and the other 130 were refused for an hour while this
    process held 280 units of it unused."""
    from beacon.budget import Budgets
    from beacon.disclosure import DisclosurePolicy, Rules
    rules = Rules(budget_per_window=300, budget_per_day=1000)
    budgets = Budgets(pool, DisclosurePolicy())
    await asyncio.gather(*(budgets.spend("address 192.0.2.13", "DS", rules)
                           for _ in range(150)))
    held = budgets._leases[("address 192.0.2.13", "DS")].units
    assert await pool.fetchval("SELECT sum(units) FROM budget_spent") - held == 150
    assert held < 15                                 # not a lease more than it needed


async def test_the_network_caller_secret_is_one_and_its_absence_said(pool):
    """Every worker process must name a caller alike to the peers: a second secret (which
    any process might have read) is refused by the table, and none at all stops the node's
    start with what to do, where it was an AttributeError's traceback (a review)."""
    from beacon.budget import network_caller_secret
    secret = await network_caller_secret(pool)
    assert len(secret) == 72
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute("INSERT INTO network_caller_secret VALUES ('another')")
    await pool.execute("DELETE FROM network_caller_secret")
    with pytest.raises(RuntimeError, match="INSERT INTO network_caller_secret"):
        await network_caller_secret(pool)


async def test_a_full_batch_is_written_without_waiting_for_the_timer(pool):
    """FLUSH_ENTRIES waiting are written at once, whatever `flush_seconds` says, so that a
    batch stays small under load; fewer wait for the timer."""
    from beacon.audit import FLUSH_ENTRIES, AuditTrail
    trail = AuditTrail(pool, flush_seconds=3600)
    trail.start()
    try:
        for n in range(FLUSH_ENTRIES - 1):
            trail.record(f"r{n}", "address 192.0.2.7", "/api/g_variants", {}, {})
        await asyncio.sleep(0.3)
        assert await pool.fetchval("SELECT count(*) FROM audit_trail") == 0
        trail.record("last", "address 192.0.2.7", "/api/g_variants", {}, {})
        async with asyncio.timeout(10):
            while await pool.fetchval("SELECT count(*) FROM audit_trail") < FLUSH_ENTRIES:
                await asyncio.sleep(0.02)
    finally:
        await trail.close()
    assert await pool.fetchval("SELECT count(*) FROM audit_trail") == FLUSH_ENTRIES


async def test_a_full_batch_that_cannot_be_written_is_tried_at_the_timers_pace(pool, caplog):
    """A full buffer (FLUSH_ENTRIES waiting) on a trail that cannot be written is tried
    again every `flush_seconds`, not at once and for as long as the database is down."""
    from beacon.audit import FLUSH_ENTRIES, AuditTrail
    trail = AuditTrail(pool, flush_seconds=0.25)
    await pool.execute("ALTER TABLE audit_trail RENAME TO audit_trail_away")
    try:
        for n in range(FLUSH_ENTRIES + 10):
            trail.record(f"r{n}", "address 192.0.2.7", "/api/g_variants", {}, {})
        trail.start()
        await asyncio.sleep(1.0)
        tries = [r for r in caplog.records if "not written yet" in r.getMessage()]
        assert 2 <= len(tries) <= 6, len(tries)
    finally:
        await pool.execute("ALTER TABLE audit_trail_away RENAME TO audit_trail")
    async with asyncio.timeout(10):
        while await pool.fetchval("SELECT count(*) FROM audit_trail") < FLUSH_ENTRIES + 10:
            await asyncio.sleep(0.05)
    await trail.close()


async def test_audit_entries_wait_for_a_trail_that_cannot_be_written(pool):
    """An entry is never dropped because one write failed: it stays buffered, in order
    with those recorded meanwhile, and the next write takes them all."""
    from beacon.audit import AuditTrail
    trail = AuditTrail(pool)
    answered = {"GDI-FI-SYN-001": {"tier": "anonymous", "granularity": "count", "exists": True,
                                   "count": 20, "spent": 1}}
    trail.record("r1", "address 192.0.2.7", "/api/individuals", answered, {})
    await pool.execute("ALTER TABLE audit_trail RENAME TO audit_trail_away")
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await trail.flush()
        trail.record("r2", "address 192.0.2.8", "/api/g_variants", {}, {})
    finally:
        await pool.execute("ALTER TABLE audit_trail_away RENAME TO audit_trail")
    await trail.flush()
    rows = await pool.fetch("SELECT request_id, caller, endpoint, datasets FROM audit_trail "
                            "ORDER BY at, request_id")
    assert [tuple(r) for r in rows] == [
        ("r1", "address 192.0.2.7", "/api/individuals", json.dumps(answered,
                                                                   separators=(",", ":"))),
        ("r2", "address 192.0.2.8", "/api/g_variants", "{}")]
    await trail.flush()                                # nothing left: nothing written twice
    assert await pool.fetchval("SELECT count(*) FROM audit_trail") == 2


async def test_behind_a_proxy_the_last_forwarded_address_is_the_caller(loaded, tmp_path):
    """The last entry of the configured header counts when it is an IP address. Anything
    else counts against the proxy (the connection's peer), as without the header: bytes
    that are not UTF-8 there were a 500 (the budget's statement), and any text a fresh
    budget for each spelling."""
    settings = _settings(loaded, tmp_path)
    settings = settings.model_copy(update={"disclosure": DISCLOSURE.model_copy(
        update={"client_address_header": "X-Forwarded-For"})})
    async with AsyncExitStack() as stack:
        base = await serve_app(stack, create_app(settings))
        async with ClientSession(base_url=base) as node:
            for forwarded in ("203.0.113.9, 198.51.100.7", "198.51.100.7, anyone",
                              "[2001:db8::1]", "2001:DB8::1"):
                async with node.get(COMMON, headers={"X-Forwarded-For": forwarded}) as answer:
                    assert answer.status == 200, forwarded
        status = await raw_status(base, f"GET {COMMON} HTTP/1.1".encode(),
                                  b"X-Forwarded-For: 198.51.100.7, \xff\xfe")
        assert status == 200
    assert [r["caller"] for r in await _audit_rows(loaded)] == [
        "address 198.51.100.7", ANONYMOUS_CALLER, "address 2001:db8::/64",
        "address 2001:db8::/64", ANONYMOUS_CALLER]


async def _forwarded_statuses(base: str, addresses: list[str],
                              extra: dict[str, str] | None = None) -> list[int]:
    """The status of a common question from each of `addresses` in turn, as a proxy names
    them in X-Forwarded-For (with `extra` headers)."""
    async with ClientSession(base_url=base) as node:
        statuses = []
        for address in addresses:
            async with node.get(COMMON, headers={"X-Forwarded-For": address,
                                                 **(extra or {})}) as answer:
                statuses.append(answer.status)
        return statuses


async def test_anonymous_ipv6_callers_are_budgeted_by_their_64(loaded, tmp_path):
    """A host is given a /64 and may use any address in it: each address counted on its own,
    2001:db8::1, ::2 and ::3 each had a full budget and its own loss accounts, so a host had
    as many as it cared to use. Addresses of one /64 now share one budget, another /64 has
    its own, and an IPv4 client of a dual-stack socket (::ffff:198.51.100.7) is its IPv4
    address: one budget however it connects."""
    settings = _settings(loaded, tmp_path)
    settings = settings.model_copy(update={"disclosure": DISCLOSURE.model_copy(
        update={"client_address_header": "X-Forwarded-For"})})
    one_host = ["2001:db8::1", "2001:db8::2", "2001:db8::3"]
    dual = ["198.51.100.7", "::ffff:198.51.100.7"]
    async with AsyncExitStack() as stack:
        base = await serve_app(stack, create_app(settings))
        shared = await _forwarded_statuses(
            base, [one_host[i % 3] for i in range(ANSWERED + 1)])
        other = await _forwarded_statuses(base, ["2001:db8:0:1::1"])
        mapped = await _forwarded_statuses(base, [dual[i % 2] for i in range(ANSWERED + 1)])
    assert shared == [200] * ANSWERED + [429]
    assert other == [200]
    assert mapped == [200] * ANSWERED + [429]
    assert {r["caller"] for r in await _audit_rows(loaded)} == {
        "address 2001:db8::/64", "address 2001:db8:0:1::/64", "address 198.51.100.7"}


async def test_a_signed_in_caller_without_bona_fide_status_is_budgeted_by_its_address(
        loaded, tmp_path):
    """A token without bona fide status or a grant is answered at the anonymous tier, and
    signing up at a trusted issuer (Life Science Login takes any social account) costs a
    minute: counted by its (issuer, sub), each account was a full anonymous budget and a
    fresh set of loss accounts from one address, as each IPv6 address of a /64 was. Such a
    caller now counts as its address, whichever account it signs in with or none; a bona
    fide researcher (vetted, its status asserted by a visa) keeps a budget of its own."""
    from auth.dev_issuer import DevUser
    async with AsyncExitStack() as stack:
        aai, aai_url = await serve_dev_aai(stack, users=[
            DevUser(name=name, password=name) for name in ("sock1", "sock2")] + [
            DevUser(name="bob", password="bob", bona_fide=True),
            DevUser(name="dave", password="dave", grants=["GDI-FI-SYN-999"])])
        tokens = {name: {"Authorization": f"Bearer {aai.access_token(aai.users[name])}"}
                  for name in ("sock1", "sock2", "bob", "dave")}
        trust = [TrustedIssuer(**trusted_issuer_entry(aai_url))]
        async with served(_settings(loaded, tmp_path, trusted_issuers=trust)) as node:
            statuses = []
            for _ in range(ANSWERED):
                async with node.get(COMMON, headers=tokens["sock1"]) as answer:
                    statuses.append(answer.status)
            for headers in (tokens["sock2"], {}, tokens["bob"], tokens["dave"]):
                async with node.get(COMMON, headers=headers) as answer:
                    statuses.append(answer.status)
    assert statuses == [200] * ANSWERED + [429, 429, 200, 200]
    assert {r["caller"] for r in await _audit_rows(loaded)} == {
        ANONYMOUS_CALLER, f"token {aai_url} bob", f"token {aai_url} dave"}


def test_an_anonymous_callers_name_follows_the_ipv6_prefix_setting():
    """At 128 an IPv6 address is itself, as before the setting, without a length; a zone
    (fe80::1%eth0) is no part of its network; what is not an address is named as given."""
    from node.http.caller import _anonymous
    assert [_anonymous(address, 128) for address in (
        "2001:db8::1", "::ffff:192.0.2.1", "192.0.2.1")] == [
        "2001:db8::1", "192.0.2.1", "192.0.2.1"]
    assert [_anonymous(address, 48) for address in (
        "2001:db8:1:2::1", "fe80::1%eth0", "192.0.2.1", None)] == [
        "2001:db8:1::/48", "fe80::/48", "192.0.2.1", "unknown"]


async def test_a_trusted_network_nodes_callers_keep_their_names_with_ipv6_prefixes(
        loaded, tmp_path):
    """The IPv6 prefix is an anonymous caller's, not a trusted network node's: from the
    trusted 2001:db8:10::7 a pseudonym counts as `network 2001:db8:10::7 <pseudonym>`, and
    its neighbour in the same /64, untrusted, naming a pseudonym is that /64's one budget. A
    trusted IPv4 network node on a dual-stack socket is named by its IPv4 address."""
    settings = _settings(loaded, tmp_path,
                         trusted_network_addresses=["2001:db8:10::7", "192.0.2.10"])
    settings = settings.model_copy(update={"disclosure": DISCLOSURE.model_copy(
        update={"client_address_header": "X-Forwarded-For"})})
    header = {"X-Beacon-Network-Caller": "a" * 32}
    async with AsyncExitStack() as stack:
        base = await serve_app(stack, create_app(settings))
        for address in ("2001:db8:10::7", "2001:db8:10::8", "::ffff:192.0.2.10"):
            assert await _forwarded_statuses(base, [address], header) == [200]
    assert [r["caller"] for r in await _audit_rows(loaded)] == [
        f"network 2001:db8:10::7 {'a' * 32}", "address 2001:db8:10::/64",
        f"network 192.0.2.10 {'a' * 32}"]


async def test_a_client_written_forwarded_line_is_not_a_fresh_budget(loaded, tmp_path):
    """A proxy that keeps the client's X-Forwarded-For lines and adds its own after them
    (HAProxy's `option forwardfor`): the proxy's entry, the last across all lines, is the
    caller. The first line counted once, so each address a client wrote there was a fresh
    anonymous budget, and the audit trail named that address."""
    settings = _settings(loaded, tmp_path)
    settings = settings.model_copy(update={"disclosure": DISCLOSURE.model_copy(
        update={"client_address_header": "X-Forwarded-For"})})
    async with AsyncExitStack() as stack:
        base = await serve_app(stack, create_app(settings))
        statuses = [await raw_status(base, f"GET {COMMON} HTTP/1.1".encode(),
                                     f"X-Forwarded-For: 203.0.113.{i}\r\n"
                                     "X-Forwarded-For: 198.51.100.7".encode())
                    for i in range(ANSWERED + 1)]
    assert statuses == [200] * ANSWERED + [429]
    assert {r["caller"] for r in await _audit_rows(loaded)} == {"address 198.51.100.7"}


async def test_a_forwarded_address_from_past_the_proxy_is_not_a_fresh_budget(loaded, tmp_path):
    """`client_address_header` read from any connection: a client reaching the node past
    its proxy named any address there, a fresh anonymous budget and loss account for each.
    It is read only from `client_address_proxies` now (by default loopback and private
    networks, where a reverse proxy sits): from another connection the header is ignored
    and the connection's address is the caller. The test's client, 127.0.0.1, stands for
    the proxy in the default, and for a client past it where the proxy is 192.0.2.1."""
    settings = _settings(loaded, tmp_path)
    for proxies, callers in (([], {"address 127.0.0.1"}),
                             (["192.0.2.1"], {"address 127.0.0.1"}),
                             (None, {f"address 203.0.113.{i}" for i in range(ANSWERED + 1)})):
        disclosure = DISCLOSURE.model_copy(update={"client_address_header": "X-Forwarded-For"})
        if proxies is not None:
            disclosure = DisclosureSettings.model_validate(
                {**disclosure.model_dump(), "client_address_proxies": proxies})
        conn = await asyncpg.connect(loaded)             # each round a fresh budget
        try:
            await conn.execute("TRUNCATE budget_spent, audit_trail")
        finally:
            await conn.close()
        async with AsyncExitStack() as stack:
            base = await serve_app(stack, create_app(settings.model_copy(
                update={"disclosure": disclosure})))
            statuses = [await raw_status(base, f"GET {COMMON} HTTP/1.1".encode(),
                                         f"X-Forwarded-For: 203.0.113.{i}".encode())
                        for i in range(ANSWERED + 1)]
        assert statuses == ([200] * (ANSWERED + 1) if proxies is None
                            else [200] * ANSWERED + [429]), proxies
        assert {r["caller"] for r in await _audit_rows(loaded)} == callers, proxies
    assert str(DisclosureSettings().client_address_proxies[0]) == "127.0.0.0/8"


def test_a_trusted_network_node_is_known_by_its_address_on_a_dual_stack_socket():
    """A node listening on both IPv4 and IPv6 sees an IPv4 client as ::ffff:192.0.2.10; an
    operator trusting that network node writes 192.0.2.10 (or its network)."""
    from ipaddress import ip_network

    from node.http.caller import _within
    trusted = [ip_network("192.0.2.0/28"), ip_network("2001:db8::/32")]
    assert [_within(address, trusted) for address in (
        "192.0.2.10", "::ffff:192.0.2.10", "2001:db8::7", "192.0.2.16", "::ffff:192.0.2.16",
        "unknown", None)] == [True, True, True, False, False, False, False]


def test_audit_list_words_a_network_entry_per_peer():
    """A network request's entry (/network/api) is keyed by the peers asked: `audit list`
    says what each answered, and a peer that did not answer is not "not found"."""
    from node.cli.audit import _disclosed
    assert _disclosed({
        "org.test.se": {"peer": "timeout", "tokenForwarded": False},
        "org.test.fi": {"peer": "ok", "tokenForwarded": True, "granularity": "count",
                        "exists": True, "count": 5}}) == (
        "org.test.fi [peer ok, count] count 5; org.test.se [peer timeout]")


@pytest.mark.parametrize("failure", ["table", "session"])
async def test_entries_not_written_at_shutdown_are_logged_in_full(pool, caplog, monkeypatch,
                                                                  failure):
    """At shutdown with the trail unwritable (the primary down), each entry still waiting
    is logged in full at ERROR, as one the database refuses is, so the operator can put it
    back: only their number was, and who had asked what was lost with the process. So
    when the session ended mid-COPY (asyncpg's InternalClientError, which the writer
    takes as a failed write), where the node's shutdown raised it and logged nothing."""
    from beacon import audit
    trail = audit.AuditTrail(pool)
    told = {DATASET: {"tier": "anonymous", "granularity": "count", "exists": True,
                      "count": 5, "spent": 1}}
    trail.record("r1", "address 192.0.2.7", "/api/g_variants", told, {})
    trail.record("r2", "address 192.0.2.8", "/api/individuals", {}, {})
    if failure == "session":
        async def ended(*args: Any) -> None:
            """The trail's COPY, on a session the server ended while it ran."""
            raise asyncpg.InternalClientError("the session ended during the COPY")
        monkeypatch.setattr(audit, "copy_in", ended)
        await trail.close()
    else:
        await pool.execute("ALTER TABLE audit_trail RENAME TO audit_trail_away")
        try:
            await trail.close()
        finally:
            await pool.execute("ALTER TABLE audit_trail_away RENAME TO audit_trail")
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert said[0].startswith("audit trail: 2 entries not written at shutdown"), said
    logged = [line.partition("entry not written: ")[2] for line in said[1:]]
    assert len(logged) == 2, said
    for line, request_id, caller, endpoint, datasets in zip(
            logged, ("r1", "r2"), ("address 192.0.2.7", "address 192.0.2.8"),
            ("/api/g_variants", "/api/individuals"), (told, {})):
        stored = json.dumps(datasets, separators=(",", ":"))
        head, _, entry_id = line.rpartition(", ")
        assert line.startswith("(datetime.datetime(") and head.endswith(
            f"'{request_id}', '{caller}', '{endpoint}', {stored!r}, '{{}}'"), line
        assert entry_id.removesuffix(")").isdigit(), line      # the entry's id (0028)


async def test_an_entry_the_database_refuses_is_dropped_not_holding_back_the_rest(pool, caplog):
    """A NUL, which PostgreSQL's text cannot hold, once held back every entry after it for
    good (each attempt failed on it), and all were lost at shutdown. Now each entry the
    database refuses is logged in full and dropped, and the others are written."""
    from beacon.audit import AuditTrail
    trail = AuditTrail(pool)
    for request_id, caller in [("r1", "address 192.0.2.7"), ("r2", "token https://aai x\x00"),
                               ("r3", "address 192.0.2.8"), ("r4", "token https://aai \ud800"),
                               ("r5", "address 192.0.2.9")]:
        trail.record(request_id, caller, "/api/g_variants", {}, {})
    await trail.flush()
    rows = await pool.fetch("SELECT request_id FROM audit_trail ORDER BY at, request_id")
    assert [r["request_id"] for r in rows] == ["r1", "r3", "r5"]
    refused = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refused) == 2 and "'r2'" in refused[0] and "'r4'" in refused[1], refused
    await trail.flush()                                # nothing left over, nothing twice
    assert await pool.fetchval("SELECT count(*) FROM audit_trail") == 3


async def test_the_trails_writer_outlives_an_error_it_did_not_expect(pool, monkeypatch, caplog):
    """The writer once caught only network and database errors: any other ended it, and
    every later entry stayed unwritten until the node stopped."""
    from beacon import audit
    failed: list[bool] = []

    async def failing_once(*args: Any) -> None:
        """The trail's COPY, but the first raises what no write expects."""
        if not failed:
            failed.append(True)
            raise RuntimeError("unexpected")
        await copy_in(*args)
    monkeypatch.setattr(audit, "copy_in", failing_once)
    trail = audit.AuditTrail(pool, flush_seconds=0.05)
    trail.start()
    try:
        trail.record("r1", "address 192.0.2.7", "/api/g_variants", {}, {})
        for _ in range(100):            # written by the writer, not by the close below
            if written := await pool.fetch("SELECT request_id FROM audit_trail"):
                break
            await asyncio.sleep(0.05)
    finally:
        await trail.close()
    assert [r["request_id"] for r in written] == ["r1"]
    assert any("unexpected" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)


async def test_entries_past_the_buffer_are_dropped_oldest_first_and_said(pool, monkeypatch,
                                                                         caplog):
    """Past MAX_BUFFER entries waiting (the trail's database down while replicas answer
    the queries), the oldest go: said in an ERROR with how many, where they went silently."""
    from beacon import audit
    monkeypatch.setattr(audit, "MAX_BUFFER", 3)
    trail = audit.AuditTrail(pool)
    await pool.execute("ALTER TABLE audit_trail RENAME TO audit_trail_away")
    try:
        trail.record("r1", "address 192.0.2.7", "/api/g_variants", {}, {})
        trail.record("r2", "address 192.0.2.7", "/api/g_variants", {}, {})
        with pytest.raises(asyncpg.UndefinedTableError):
            await trail.flush()
        assert not [r for r in caplog.records if r.levelno == logging.ERROR]
        for request_id in ("r3", "r4", "r5"):
            trail.record(request_id, "address 192.0.2.7", "/api/g_variants", {}, {})
        with pytest.raises(asyncpg.UndefinedTableError):
            await trail.flush()
    finally:
        await pool.execute("ALTER TABLE audit_trail_away RENAME TO audit_trail")
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert said == [("audit trail: 2 entries dropped, the oldest (at most 3 wait while the "
                     "trail cannot be written)")]
    await trail.flush()
    rows = await pool.fetch("SELECT request_id FROM audit_trail ORDER BY at")
    assert [r["request_id"] for r in rows] == ["r3", "r4", "r5"]


async def test_a_trail_write_on_a_server_that_does_not_answer_ends(pg_server_url,
                                                                   monkeypatch):
    """The trail's COPY on a server that stops answering waited for good (and with it the
    node's shutdown, which writes the trail last); the watchdog ends it, the entries wait
    for the next write."""
    from beacon import audit
    from beacon.hung_server import EVERY_SECONDS
    from tests.test_hardening import watched_pool
    monkeypatch.setattr(audit, "WRITE_SECONDS", 0.5)
    async with watched_pool(pg_server_url) as (relay, pool, watchdog):
        trail = audit.AuditTrail(pool, watchdog)
        trail.record("r1", "address 192.0.2.7", "/api/g_variants", {}, {})
        relay.freeze()
        began = time.monotonic()
        async with asyncio.timeout(20):                 # for good, before
            with pytest.raises(asyncpg.ConnectionDoesNotExistError):
                await trail.flush()
        assert time.monotonic() - began < 0.5 + EVERY_SECONDS + 0.5
        relay.thaw()
        await trail.flush()
        assert await pool.fetchval("SELECT request_id FROM audit_trail") == "r1"


class _CutAfterCommit(Relay):
    """A relay to PostgreSQL that, once armed, forwards a COPY and the statements after it,
    but closes the client's connection in place of the server's answer that the write is
    committed (its ReadyForQuery, idle, after the COPY): the write is in the database while
    the client sees its connection lost, as when a connection drops, or the watchdog ends a
    write, just as the server finishes it."""

    armed = False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await self.upstream()
        self._writers |= {writer, upstream_writer}

        async def answers() -> None:
            seen = b""
            try:
                while data := await upstream_reader.read(65536):
                    if self.armed:
                        seen += data
                        copied = seen.find(b"COPY ")
                        if copied >= 0 and b"Z\x00\x00\x00\x05I" in seen[copied:]:
                            self.armed = False
                            writer.transport.abort()
                            upstream_writer.close()
                            return
                    writer.write(data)
                    await writer.drain()
            finally:
                writer.close()
        await asyncio.gather(_pipe(reader, upstream_writer, self._flowing), answers(),
                             return_exceptions=True)
        self._writers -= {writer, upstream_writer}


async def test_a_batch_written_but_not_acknowledged_is_not_written_twice(pg_server_url):
    """A batch whose write the server committed but whose client saw the connection lost
    (the acknowledgement lost in a dropped connection, or a watchdog ending the write as it
    finished) is put back and written again: each entry is in the trail once, not twice
    (the retry wrote every entry of the batch a second time, and `audit summary` counted
    each of those requests twice)."""
    from beacon.audit import AuditTrail
    async with node_database(pg_server_url) as url:
        relay = _CutAfterCommit(url)
        await relay.start()
        pool = await asyncpg.create_pool(relay.url, min_size=1, max_size=2)
        try:
            trail = AuditTrail(pool)
            for n in range(5):
                trail.record(f"r{n}", "address 192.0.2.7", "/api/g_variants", {}, {})
            relay.armed = True
            with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
                await trail.flush()
            assert not relay.armed                  # cut where it should have been
            direct = await asyncpg.connect(url)
            try:
                assert await direct.fetchval("SELECT count(*) FROM audit_trail") == 5
                # the retry, with an entry recorded since: the batch's one COPY fails on
                # the entries already there, and the batch is written skipping them
                trail.record("r5", "address 192.0.2.7", "/api/g_variants", {}, {})
                await trail.flush()
                rows = await direct.fetch("SELECT request_id, count(*) FROM audit_trail "
                                          "GROUP BY 1 ORDER BY 1")
            finally:
                await direct.close()
            assert [tuple(r) for r in rows] == [(f"r{n}", 1) for n in range(6)]
        finally:
            await pool.close()
            await relay.close()
