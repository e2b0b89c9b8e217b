"""Count queries answered together (beacon/count_batcher.py) must each get their own answer.

The batcher queues count queries, and its lanes send each waiting group of same-shaped
queries as one statement; a lone query gets a plain statement of its own. These tests run it against a real
PostgreSQL holding test_query_properties' generated VCF: every member's counts must equal
what the same query gets alone (the plain statement), and a batch must fail, or be
cancelled, exactly for the members it carried. That the lone answers themselves are right is
what test_query_properties checks against its brute force.
"""
from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientSession
from hypothesis import given
from hypothesis import strategies as st

from auth.access import AccessLevel
from beacon.assemblies import GRCH38
from beacon.count_batcher import MAX_BATCH, CountBatcher
from beacon.disclosure import Rules
from beacon.ingest import IngestRequest, ingest
from beacon.request import VariantQuery, query_from_get
from beacon.store import Matches
from node.database import create_pool
from node.settings import Settings
from tests import test_query_properties
from tests.conftest import write_vcf_text
from tests.test_query_properties import (
    EXAMPLES,
    SEQUENCE_ROWS,
    at_position,
    brackets,
    count,
    in_brackets,
    overlapping,
    ranges,
    with_wildcard,
)

loaded = test_query_properties.loaded     # the fixture: the generated VCF, ingested
SPAN = 5_000                               # longer than any generated variant


def _query(params: dict[str, str]) -> VariantQuery:
    query = query_from_get(list({**params, "requestedGranularity": "count"}.items()))
    assert query is not None
    return query


@st.composite
def count_cases(draw: st.DrawFn) -> tuple[dict[str, str], int]:
    """A range, bracket or sequence query (its shape is its batch) and the brute force's count."""
    kind = draw(st.sampled_from(("range", "bracket", "sequence", "sequence+ref")))
    if kind == "range":
        chromosome, start, end = draw(ranges())
        return ({"referenceName": chromosome, "start": str(start), "end": str(end)},
                len(overlapping(chromosome, start, end)))
    if kind == "bracket":
        chromosome, a, b, c, d = draw(brackets())
        return ({"referenceName": chromosome, "start": f"{a},{b}", "end": f"{c},{d}"},
                len(in_brackets(chromosome, a, b, c, d)))
    variant = draw(st.sampled_from(SEQUENCE_ROWS))
    start = variant.start + draw(st.sampled_from((0, 0, 1)))
    alt = draw(st.one_of(st.just(variant.alt), with_wildcard(variant.alt)))
    params = {"referenceName": "1", "start": str(start), "alternateBases": alt}
    ref = None
    if kind == "sequence+ref":
        params["referenceBases"] = ref = draw(with_wildcard(variant.ref))
    return params, len(at_position("1", start, alt, ref))


async def _metric(node: ClientSession, name: str) -> float:
    text = await (await node.get("/metrics")).text()
    return next(float(line.split()[-1]) for line in text.splitlines()
                if line.startswith(f"{name}_total "))


@EXAMPLES
@given(cases=st.lists(count_cases(), min_size=2, max_size=30))
async def test_counts_sent_together_each_equal_the_brute_force(
        loaded: str, node: ClientSession, cases: list[tuple[dict[str, str], int]]) -> None:
    """Mixed shapes sent at once over HTTP, so the node batches some of them: every answer
    is still its own query's (no member gets a neighbour's count, none is lost)."""
    before = await _metric(node, "gdi_node_count_queries")
    answers = await asyncio.gather(*(count(node, params) for params, _ in cases))
    assert answers == [expected for _, expected in cases], [params for params, _ in cases]
    assert await _metric(node, "gdi_node_count_queries") - before == len(cases)


async def test_one_turn_of_same_shaped_counts_is_one_round_trip(
        loaded: str, pool: asyncpg.Pool) -> None:
    """Twenty sequence queries and five range queries started together: two statements, and
    each member's counts are those it gets alone."""
    trips: list[int] = []
    batcher = CountBatcher(pool, 2, trips.append)
    queries = [_query({"referenceName": "1", "start": str(v.start), "alternateBases": v.alt})
               for v in SEQUENCE_ROWS[:20]]
    queries += [_query({"referenceName": "1", "start": str(s), "end": str(s + 700)})
                for s in range(2_000, 12_000, 2_000)]
    together = await asyncio.gather(*(batcher.count(q, [loaded], "1", SPAN, 1) for q in queries))
    assert sorted(trips) == [5, 20]
    alone = [await batcher.count(q, [loaded], "1", SPAN, 1) for q in queries]
    assert trips[2:] == [1] * len(queries)
    assert together == alone
    assert all(counts[loaded].count >= 1 for counts in together[:20])   # each its own hit


async def test_a_failed_round_trip_fails_each_of_its_members(db_url: str, loaded: str,
                                                              settings: Settings) -> None:
    """A database error reaches every member of the batch, as it would a lone query."""
    closed = await create_pool(db_url, settings)
    await closed.close()
    batcher = CountBatcher(closed, 2)
    query = _query({"referenceName": "1", "start": "1000", "end": "2000"})
    outcomes = await asyncio.gather(*(batcher.count(query, [loaded], "1", SPAN, 1)
                                      for _ in range(3)), return_exceptions=True)
    assert all(isinstance(o, asyncpg.InterfaceError) for o in outcomes), outcomes


async def test_a_cancelled_member_leaves_the_others_answered(loaded: str,
                                                            pool: asyncpg.Pool) -> None:
    """A request that goes away (client disconnected) does not take its batch with it."""
    batcher = CountBatcher(pool, 2)
    queries = [_query({"referenceName": "1", "start": str(v.start), "alternateBases": v.alt})
               for v in SEQUENCE_ROWS[:3]]
    tasks = [asyncio.create_task(batcher.count(q, [loaded], "1", SPAN, 1)) for q in queries]
    await asyncio.sleep(0)                 # all three joined the batch
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert done[0] == await batcher.count(queries[0], [loaded], "1", SPAN, 1)
    assert done[2] == await batcher.count(queries[2], [loaded], "1", SPAN, 1)


@pytest.mark.parametrize("turns", [1, 2])
async def test_closing_cancels_the_members_in_flight(loaded: str, pool: asyncpg.Pool,
                                                     turns: int) -> None:
    """At shutdown the round trips not yet answered are cancelled, and so are their
    requests, whether the round trip had begun (after 2 turns) or not (after 1)."""
    batcher = CountBatcher(pool, 2)
    query = _query({"referenceName": "1", "start": "1000", "end": "20000"})
    tasks = [asyncio.create_task(batcher.count(query, [loaded], "1", SPAN, 1)) for _ in range(2)]
    for _ in range(turns):
        await asyncio.sleep(0)
    await batcher.close()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes), outcomes


@pytest.mark.parametrize("members", [1, MAX_BATCH + 44])
async def test_batches_of_any_size_answer_every_member(loaded: str, pool: asyncpg.Pool,
                                                      members: int) -> None:
    """More members than one statement takes (MAX_BATCH) are split, none dropped."""
    trips: list[int] = []
    batcher = CountBatcher(pool, 2, trips.append)
    rows = (SEQUENCE_ROWS * 2)[:members]
    queries = [_query({"referenceName": "1", "start": str(v.start), "alternateBases": v.alt})
               for v in rows]
    together = await asyncio.gather(*(batcher.count(q, [loaded], "1", SPAN, 1) for q in queries))
    assert trips == ([1] if members == 1 else [MAX_BATCH, 44])
    assert [c[loaded].count if loaded in c else 0 for c in together] == [
        len(at_position("1", v.start, v.alt, None)) for v in rows]


async def test_counts_recover_when_the_server_ends_the_sessions(loaded: str, pool: asyncpg.Pool,
                                                                db_url: str) -> None:
    """PostgreSQL ends every session of the pool (restart, failover) under a steady stream
    of counts: members then in flight may fail, with the errors a lone query would get, and
    the counts asked later are answered again, on fresh connections."""
    batcher = CountBatcher(pool, 2)
    queries = [_query({"referenceName": "1", "start": str(v.start), "alternateBases": v.alt})
               for v in SEQUENCE_ROWS[:40]]
    expected = [await batcher.count(q, [loaded], "1", SPAN, 1) for q in queries]
    admin = await asyncpg.connect(db_url)
    try:
        stream: list[asyncio.Task[dict[str, Matches]]] = []
        for wave in range(150):               # bounded: 150 turns of 4 new counts each,
            # one turn apart, so the lane always finds the next group waiting
            stream += [asyncio.create_task(batcher.count(queries[(wave * 4 + i) % 40],
                                                         [loaded], "1", SPAN, 1))
                       for i in range(4)]
            if wave == 10:
                await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid()")
            await asyncio.sleep(0)
        outcomes = await asyncio.gather(*stream, return_exceptions=True)
    finally:
        await admin.close()
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, asyncpg.PostgresConnectionError | asyncpg.InterfaceError
                          | asyncpg.InternalClientError)     # asyncpg, mid-termination
               for o in failed), failed
    assert outcomes[-40:] == [expected[i % 40] for i in range(len(outcomes) - 40,
                                                             len(outcomes))], failed



async def test_floors_whose_scale_is_written_as_a_whole_number_batch_with_the_others(
        db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    """A dataset's `disclosure` may give a tier's `smooth_scale` as a whole number (2), which
    stays an int in its Rules, while the tiers' defaults are floats (1.5). Two callers of
    two tiers asking the same dataset at once share a statement (the scale is an argument,
    not part of its shape): each must get its own answer, as it gets alone, whichever
    arrived first. Variants carried by 2 to 8 of 40 people, the floor (2) to its middle
    (2 + 6), where the larger scale shows each with a higher probability against the same
    draw: its count is larger unless none of some 250 variants' draws falls between the
    two (a chance of about 1 in 20,000). Carried by 2 to 30, above the middle too, where
    the larger scale shows fewer, the two counts came out equal in a CI run, the variants
    shown differing (the draws follow the database's secret, new for each test database)."""
    samples = 40
    header = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
              + "\t".join(f"S{i}" for i in range(samples)) + "\n")
    rows = [f"chr1\t{1000 + 10 * n}\t.\tA\tG\t.\tPASS\t.\tGT\t"
            + "\t".join("0/1" if i < 2 + n % 7 else "0/0" for i in range(samples)) + "\n"
            for n in range(300)]
    path = write_vcf_text(tmp_path / "smooth.vcf", header + "".join(rows))
    await ingest(db_url, IngestRequest(path, "GDI-FI-SMOOTH-1", GRCH38, AccessLevel.PUBLIC,
                                       "Smooth", workers=1))
    tier = Rules(allele_floor=2, smooth_width=6)
    floors = [dataclasses.replace(tier, smooth_scale=2).floor, tier.floor]
    query = _query({"referenceName": "1", "start": "0", "end": "10000"})
    batcher = CountBatcher(pool, 1)
    alone = [await batcher.count(query, ["GDI-FI-SMOOTH-1"], "1", SPAN, f) for f in floors]
    assert alone[0]["GDI-FI-SMOOTH-1"].count > alone[1]["GDI-FI-SMOOTH-1"].count
    for order in (floors, floors[::-1]):
        together = await asyncio.gather(*(batcher.count(query, ["GDI-FI-SMOOTH-1"], "1", SPAN,
                                                        floor) for floor in order))
        assert together == (alone if order is floors else alone[::-1])
