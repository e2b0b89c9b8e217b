"""The node after its database ended every session (what a PostgreSQL restart does to it):
the listener for dataset changes comes back by itself, counts what it missed as a change, and
a dataset ingested afterwards is served at once, not after the cache's TTL."""
from __future__ import annotations

import asyncio
import time

import asyncpg

from auth.access import AccessLevel
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
