"""Query classes and their limits (beacon/workload.py), on real PostgreSQL and real HTTP.

A statement that outlives its class's limit is a 503 with Retry-After and a Beacon body that
says which limit and what helps, never a 500; wide queries run on their own lanes, so a busy
wide lane neither holds up a narrow query nor leaves its settings on a pooled connection.
Latency under a flood of wide queries is measured by bench/query.py (the mixed-load row),
not here.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import pytest

from beacon.count_batcher import CountBatcher
from beacon.dataset_cache import DatasetCache
from beacon.hung_server import EVERY_SECONDS, Watchdog
from beacon.request import VariantQuery, query_from_get
from beacon.workload import Queries, QueryLimits, QueryTimeout, WideLanes, is_wide
from node.database import create_pool
from node.settings import DisclosureSettings
from tests.test_hardening import (
    DATASET,
    _beacon_error,
    _node_settings,
    loaded,
    served,
    watched_pool,
)

__all__ = ["loaded"]                       # the fixture: one small public dataset
NARROW = "/api/g_variants?referenceName=1&start=99&alternateBases=G&requestedGranularity=count"
WIDE = "/api/g_variants?referenceName=1&start=0&end=200000000&requestedGranularity=count"


def _query(path: str) -> VariantQuery:
    query = query_from_get(parse_qsl(urlsplit(path).query))
    assert query is not None
    return query


@pytest.mark.parametrize(("path", "wide"), [
    (NARROW, False),
    ("/api/g_variants?referenceName=1&start=0&end=1000000", False),     # exactly the window
    ("/api/g_variants?referenceName=1&start=0&end=1000001", True),
    (WIDE, True),
    ("/api/g_variants?referenceName=1&start=10,20&end=30,1000010", False),
    ("/api/g_variants?referenceName=1&start=10,20&end=30,1000011", True),
    ("/api/g_variants?variantType=DEL", True),                          # no position at all
    ("/api/g_variants?referenceName=1&variantType=DEL", True),          # a whole chromosome
])
def test_a_query_is_wide_unless_it_pins_a_window(path, wide):
    assert is_wide(_query(path), QueryLimits(narrow_window=1_000_000)) is wide


async def _locked_variants(url: str) -> asyncpg.Connection:
    """A session holding an exclusive lock on the variants: every query on them waits, and
    the waiting counts against its statement timeout, as a slow scan's time would."""
    holder = await asyncpg.connect(url)
    await holder.execute("BEGIN; LOCK TABLE variants IN ACCESS EXCLUSIVE MODE")
    return holder


async def test_a_query_over_its_limit_is_a_503_naming_the_limit(db_url, loaded, tmp_path: Path,
                                                                beacon_schema):
    settings = _node_settings(db_url, tmp_path, query_timeout_seconds=0.3,
                              wide_query_timeout_seconds=0.6)
    async with served(settings) as node:            # the node's own pool, as `serve` opens it
        holder = await _locked_variants(db_url)
        try:
            narrow, wide = await asyncio.gather(node.get(NARROW), node.get(WIDE))
            message = await _beacon_error(narrow, 503, beacon_schema)
            assert "0.3 s for positional queries" in message and "retry later" in message
            assert narrow.headers["Retry-After"].isdigit()
            message = await _beacon_error(wide, 503, beacon_schema)
            assert "0.6 s for wide queries" in message and "1,000,000 bases" in message
            assert wide.headers["Retry-After"].isdigit()
        finally:
            await holder.close()                     # its transaction ends, the lock goes
        for path in (NARROW, WIDE):                  # and the same node answers again
            response = await node.get(path)
            assert response.status == 200, await response.text()
            assert (await response.json())["responseSummary"]["numTotalResults"] >= 1


@pytest.mark.parametrize("table", ["budget_spent", "datasets"])
async def test_a_statement_past_the_limit_beside_the_query_is_a_503_too(
        db_url, loaded, tmp_path: Path, beacon_schema, table):
    """The statements a request makes beside its variant query run on the same pool under
    its statement_timeout: a fresh caller's budget lease (budget_spent), the datasets' list
    reloaded after a change (datasets). Past the limit they were a 500 with a traceback (a
    probe); they are the load's, a 503 with Retry-After, as the variant query's own."""
    # the default tiers: the anonymous caller's queries are budgeted
    settings = _node_settings(db_url, tmp_path, query_timeout_seconds=0.3,
                              wide_query_timeout_seconds=0.6).model_copy(
                                  update={"disclosure": DisclosureSettings()})
    async with served(settings) as node:
        holder = await asyncpg.connect(db_url)
        try:
            await holder.execute(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            if table == "datasets":              # the list is read again on its next use
                notifier = await asyncpg.connect(db_url)
                await notifier.execute("NOTIFY gdi_node_datasets")
                await notifier.close()
                await asyncio.sleep(0.2)
            response = await node.get(NARROW)
            message = await _beacon_error(response, 503, beacon_schema)
            assert "limit of 0.3 s" in message and "retry later" in message, message
            assert response.headers["Retry-After"].isdigit()
        finally:
            await holder.close()
        response = await node.get(NARROW)
        assert response.status == 200, await response.text()


async def test_a_busy_wide_lane_holds_up_wide_queries_only(db_url, loaded, settings):
    limits = QueryLimits(narrow_seconds=5, wide_seconds=0.5, wide_lanes=1)
    pool = await create_pool(db_url, settings, server_settings=limits.pool_settings())
    counts = CountBatcher(pool, 1)
    queries = Queries(pool, counts, limits)
    lanes = WideLanes(pool, limits)
    default_workers = await pool.fetchval("SHOW max_parallel_workers_per_gather")
    try:
        # The only lane is held (by the test, until it says so) ...
        release = asyncio.Event()
        holder = asyncio.create_task(lanes.run(lambda c: release.wait()))
        await asyncio.sleep(0.05)
        # ... another wide query waits for the lane until its time is up ...
        with pytest.raises(QueryTimeout) as waited:
            await lanes.run(lambda c: c.fetchval("SELECT 1"))
        assert waited.value.wide
        # ... while narrow counts are answered meanwhile (through their own lanes).
        assert (await queries.count(_query(NARROW), [DATASET], "1", 5_000, 1))[DATASET].count == 1
        assert not holder.done()
        release.set()
        await holder
        # A statement outliving the limit is ended by the server (statement_timeout).
        with pytest.raises(QueryTimeout):
            await lanes.run(lambda c: c.execute("SELECT pg_sleep(30)"))
        # A wide query answers; the settings it ran under were the
        # transaction's, so no pooled connection keeps them.
        assert (await queries.count(_query(WIDE), [DATASET], "1", 5_000, 1))[DATASET].count == 3
        for _ in range(pool.get_size() + 1):
            async with pool.acquire() as connection:
                assert await connection.fetchval("SHOW statement_timeout") == "5s"
                assert await connection.fetchval(
                    "SHOW max_parallel_workers_per_gather") == default_workers
    finally:
        await counts.close()
        await pool.close()


async def test_wide_statements_run_without_parallel_workers_planned_for_their_values(
        db_url, loaded, settings):
    limits = QueryLimits(wide_seconds=2)
    pool = await create_pool(db_url, settings, server_settings=limits.pool_settings())
    try:
        seen = await WideLanes(pool, limits).run(lambda c: c.fetchrow(
            "SELECT current_setting('statement_timeout') AS timeout, "
            "current_setting('max_parallel_workers_per_gather') AS workers, "
            "current_setting('plan_cache_mode') AS plans"))
        assert seen["workers"] == "0"
        assert seen["timeout"] in ("2s", "1999ms", "1998ms", "1997ms")   # what is left of 2 s
        assert seen["plans"] == "force_custom_plan"        # planned for their values
        # nor do the pool's narrow statements (index lookups: bench/scale.py), whose plans
        # are generic (planning a batched count each time cost more than running it)
        assert await pool.fetchval("SHOW max_parallel_workers_per_gather") == "0"
        assert await pool.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
    finally:
        await pool.close()


async def test_the_watchdog_closes_a_connection_whose_statement_outlives_its_bound(db_url):
    """What a server that does not answer leaves the node (beacon/hung_server.py): the
    watchdog closes the connection of a statement past its deadline, and what waited on it
    fails as on a lost connection, within the bound and a look; a statement done in time,
    and its connection, are left alone."""
    watchdog = Watchdog(0.3)
    watchdog.start()
    slow, quick = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        watchdog.watch(quick)
        assert await quick.fetchval("SELECT 1") == 1
        watchdog.done(quick)
        began = asyncio.get_running_loop().time()
        watchdog.watch(slow)
        with pytest.raises(asyncpg.ConnectionDoesNotExistError):
            await slow.fetchval("SELECT pg_sleep(10)")
        assert asyncio.get_running_loop().time() - began < 0.3 + EVERY_SECONDS + 0.5
        assert slow.is_closed()
        await asyncio.sleep(0.3 + EVERY_SECONDS)
        assert not quick.is_closed() and await quick.fetchval("SELECT 2") == 2
    finally:
        await watchdog.close()
        await quick.close()
        await slow.close()


async def test_a_dataset_list_reload_on_a_server_that_does_not_answer_ends(pg_server_url):
    """Every request waits for the dataset list's reload once it is older than its TTL
    (beacon/dataset_cache.py): on a server that does not answer, the watchdog ends it, as
    it ends the queries. Before, every request after the TTL waited for good."""
    async with watched_pool(pg_server_url) as (relay, pool, watchdog):
        cache = DatasetCache(pool, ttl=0, watchdog=watchdog)
        assert await cache.all() == []
        relay.freeze()
        began = asyncio.get_running_loop().time()
        async with asyncio.timeout(20):                 # for good, before
            with pytest.raises(asyncpg.ConnectionDoesNotExistError):
                await cache.all()
        assert asyncio.get_running_loop().time() - began < 0.5 + EVERY_SECONDS + 0.5
        relay.thaw()
        assert await cache.all() == []


async def test_a_callers_turn_queues_in_the_process_for_at_most_its_class_limit(db_url, loaded,
                                                                              settings):
    """Answers waiting for one caller's turn (Queries.writing's `turn`) wait in the process,
    one at a time on a connection, each no longer than its class's limit: a 503 naming it,
    as a statement waiting for a lane or the server is; another caller's turn does not wait
    for them; and a turn with nobody waiting is forgotten."""
    limits = QueryLimits(narrow_seconds=0.5, wide_seconds=0.8)
    pool = await create_pool(db_url, settings, server_settings=limits.pool_settings())
    counts = CountBatcher(pool, 1)
    queries = Queries(pool, counts, limits)
    try:
        release, started = asyncio.Event(), asyncio.Event()

        async def slow(connection: asyncpg.Connection) -> int:
            started.set()
            await release.wait()
            return 1

        holder = asyncio.create_task(queries.writing(False, slow, "address 192.0.2.1 D"))
        await started.wait()
        for wide in (False, True):
            began = asyncio.get_running_loop().time()
            with pytest.raises(QueryTimeout) as late:
                await queries.writing(wide, lambda c: c.fetchval("SELECT 1"),
                                      "address 192.0.2.1 D")
            waited = asyncio.get_running_loop().time() - began
            assert late.value.wide == wide
            assert (0.8 if wide else 0.5) <= waited < 5, waited
        assert await queries.writing(False, lambda c: c.fetchval("SELECT 2"),
                                     "address 192.0.2.2 D") == 2
        release.set()
        assert await holder == 1
        assert await queries.writing(False, lambda c: c.fetchval("SELECT 3"),
                                     "address 192.0.2.1 D") == 3
        assert queries._turns._locks == {}
    finally:
        await counts.close()
        await pool.close()
