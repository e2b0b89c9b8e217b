"""The node after its database ended every session (what a PostgreSQL restart does to it):
the listener for dataset changes comes back by itself, counts what it missed as a change, and
a dataset ingested afterwards is served at once, not after the cache's TTL."""
from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import asyncpg

from auth.access import AccessLevel
from beacon import store
from beacon.assemblies import GRCH38
from beacon.dataset_cache import DatasetCache
from beacon.ingest import IngestRequest, ingest
from tests.conftest import write_vcf_text

VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##INFO=<ID=AC,Number=A,Type=Integer,Description="AC">
##INFO=<ID=AN,Number=1,Type=Integer,Description="AN">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
chr1\t100\t.\tA\tG\t.\tPASS\tAC=1;AN=2
"""


async def _end_every_session(db_url: str) -> int:
    admin = await asyncpg.connect(db_url)
    try:
        return await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    finally:
        await admin.close()


async def _eventually(check, seconds: float) -> float:
    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < seconds, "not within the time allowed"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_a_dataset_ingested_after_the_sessions_ended_is_served_at_once(node, db_url,
                                                                            tmp_path):
    async def listed() -> int:
        async with node.get("/api/datasets") as response:
            return (await response.json())["responseSummary"]["numTotalResults"]

    assert await listed() == 0                      # cached now, for up to 30 s
    assert await _end_every_session(db_url) >= 1   # the listener's session among them
    path = write_vcf_text(tmp_path / "one.vcf", VCF)
    await ingest(db_url, IngestRequest(path, "GDI-FI-SYN-001", GRCH38, AccessLevel.PUBLIC,
                                       "One variant", workers=1))

    async def served() -> bool:
        return await listed() == 1
    await _eventually(served, 5)                    # the cache's TTL is 30 s


async def test_a_reconnected_listener_tells_subscribers_what_it_may_have_missed(pool, db_url):
    cache = DatasetCache(pool)
    await cache.start(db_url)
    told: list[bool] = []
    cache.subscribe(lambda: told.append(True))
    try:
        await _end_every_session(db_url)

        async def republished() -> bool:
            return bool(told)
        await _eventually(republished, 5)
    finally:
        await cache.stop()


class _BlackHole:
    """A TCP proxy on 127.0.0.1 to the database server. `cut` makes the flows it carries
    black holes, forwarding nothing and closing nothing, as a NAT or a load balancer that
    dropped an idle flow does (no FIN, no RST); flows opened after pass."""

    def __init__(self, db_url: str) -> None:
        parts = urlsplit(db_url)
        self.db_url, self.socket_dir = db_url, parse_qs(parts.query).get("host", [None])[0]
        self.flows: list[list[bool]] = []               # per flow: [forwarding]
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        """Its URL: the database's, reached through it."""
        conn = await asyncpg.connect(self.db_url)
        try:
            self.port = await conn.fetchval("SELECT current_setting('port')::int")
        finally:
            await conn.close()
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        parts = urlsplit(self.db_url)
        return (f"postgresql://{parts.username}@127.0.0.1:"
                f"{self.server.sockets[0].getsockname()[1]}{parts.path}")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up = await (asyncio.open_unix_connection(f"{self.socket_dir}/.s.PGSQL.{self.port}")
                    if self.socket_dir else
                    asyncio.open_connection(urlsplit(self.db_url).hostname, self.port))
        flow = [True]
        self.flows.append(flow)
        self.writers += [writer, up[1]]

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if not flow[0]:
                    return                              # swallowed, and nothing more read
                sink.write(data)
                await sink.drain()
        await asyncio.gather(pump(reader, up[1]), pump(up[0], writer), return_exceptions=True)

    def cut(self) -> None:
        for flow in self.flows:
            flow[0] = False

    def close(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()


async def test_a_silently_cut_listener_is_made_again(pool, db_url, monkeypatch):
    """A listener whose connection is cut silently never sees it end: it is asked to answer
    every HEARTBEAT_SECONDS and made again when it does not, which tells the subscribers of
    what it may have missed. Such a listener was never made again, and no later change
    reached the catalogue publisher or the replica router (found by a review, 2026-12-05)."""
    from beacon import dataset_cache
    monkeypatch.setattr(dataset_cache, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(dataset_cache, "HEARTBEAT_TIMEOUT_SECONDS", 0.5)
    proxy = _BlackHole(db_url)
    cache = DatasetCache(pool)
    await cache.start(await proxy.start())
    told: list[bool] = []
    cache.subscribe(lambda: told.append(True))
    try:
        await asyncio.sleep(0.5)
        assert not told                               # it answers: nothing to tell
        proxy.cut()
        cut = cache._listener

        async def made_again() -> bool:
            return bool(told) and cache._listener is not None and cache._listener is not cut
        await _eventually(made_again, 10)             # on a flow of its own
    finally:
        proxy.close()
        await cache.stop()


async def test_requests_that_find_the_list_old_together_share_one_read(pool, monkeypatch):
    """Each used to read the list itself, one pool connection apiece: under load, the
    pool's every connection at each TTL's end."""
    reads = 0
    read = store.list_datasets

    async def counted(conn):
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05)                   # the read takes a while
        return await read(conn)

    monkeypatch.setattr(store, "list_datasets", counted)
    cache = DatasetCache(pool, ttl=0.2)
    assert await cache.all() == [] and reads == 1
    await asyncio.sleep(0.25)                       # old now
    answers = await asyncio.gather(*[cache.all() for _ in range(30)])
    assert answers == [[]] * 30 and reads == 2
    await asyncio.sleep(0.25)                       # old again
    waiting = [asyncio.create_task(cache.all()) for _ in range(3)]
    await asyncio.sleep(0.01)                       # the read under way
    waiting[0].cancel()                             # a request gone away stops no one's read
    assert [await w for w in waiting[1:]] == [[], []] and reads == 3


async def test_a_list_read_before_a_change_is_not_kept(pool, db_url, tmp_path, monkeypatch):
    """A read under way when an ingest commits may have seen the list before it. Kept, it
    hid the new dataset (or kept a removed one in view) for the TTL, 30 s."""
    read = store.list_datasets
    seen_before, release = asyncio.Event(), asyncio.Event()

    async def read_then_wait(conn):
        rows = await read(conn)
        if not seen_before.is_set():
            seen_before.set()
            await release.wait()                    # answered after the change's notice
        return rows

    monkeypatch.setattr(store, "list_datasets", read_then_wait)
    cache = DatasetCache(pool)
    await cache.start(db_url)
    changed = asyncio.Event()
    cache.subscribe(changed.set)
    try:
        first = asyncio.create_task(cache.all())
        await seen_before.wait()
        path = write_vcf_text(tmp_path / "one.vcf", VCF)
        await ingest(db_url, IngestRequest(path, "GDI-FI-SYN-001", GRCH38, AccessLevel.PUBLIC,
                                           "One variant", workers=1))
        async with asyncio.timeout(5):
            await changed.wait()
        release.set()
        assert await first == []                    # begun before the change: as it was
        assert [row.id for row in await cache.all()] == ["GDI-FI-SYN-001"]
        assert [row.id for row in await cache.derived("ids", lambda rows: rows)] == [
            "GDI-FI-SYN-001"]
    finally:
        await cache.stop()


async def test_a_change_the_listener_missed_is_told_when_a_reload_finds_it(
        pool, db_url, tmp_path):
    """A listener cut silently misses the changes committed until its heartbeat finds it
    gone (up to HEARTBEAT_SECONDS + HEARTBEAT_TIMEOUT_SECONDS, 15 s); meanwhile the list,
    reloaded at its TTL's end, may show one. The subscribers must hear of what the node now
    describes: the replica router, which otherwise kept a replica that had not replayed the
    new version in rotation (the node listed version 2 and answered from version 1), and
    the catalogue publisher. They heard nothing until the heartbeat's reconnection."""
    proxy = _BlackHole(db_url)
    cache = DatasetCache(pool, ttl=0.2)
    await cache.start(await proxy.start())
    told: list[bool] = []
    cache.subscribe(lambda: told.append(True))
    try:
        assert await cache.all() == []
        proxy.cut()
        path = write_vcf_text(tmp_path / "one.vcf", VCF)
        await ingest(db_url, IngestRequest(path, "GDI-FI-SYN-001", GRCH38, AccessLevel.PUBLIC,
                                           "One variant", workers=1))
        await asyncio.sleep(0.3)                      # the list is old: reloaded
        assert [row.id for row in await cache.all()] == ["GDI-FI-SYN-001"]
        assert told
        told.clear()
        await asyncio.sleep(0.3)                      # the same list again: nothing to tell
        assert [row.id for row in await cache.all()] == ["GDI-FI-SYN-001"]
        assert not told
    finally:
        proxy.close()
        await cache.stop()
