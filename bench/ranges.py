"""Range-query benchmark (not a test): what a dataset's long variants cost a short range.

Run from the repository root, with the project's virtualenv:

    python bench/ranges.py [--records 1000000] [--queries 300] [--repeat 3]
                           [--workdir bench/out] [--database-url URL]

Until issue 19, a range's SQL scanned the locus btree from `start - max_variant_length`: the
synthetic data's structural variants reach ~1 Mb (synthetic_data/vcf.py: 1% SVs, log-uniform
50 bp to 1 Mb), so a 1 kb range read the index entries of 1 Mb. Now (beacon/store.py)
variants up to LONG_VARIANT bases are read on the btree from LONG_VARIANT bases left of the
range, the longer ones on a GiST index of their spans (`before` below is the old condition,
spelt here; `after` is beacon/store.py's own).

The synthetic VCF (seed 1, 100 samples, bench/query.py's cached file) is ingested as
GDI-XX-BENCH-1 into an embedded PostgreSQL (deleted at exit) unless --database-url names a
server. --queries windows per width (1 kb, 100 kb, 1 Mb) are drawn with a fixed seed, on
chromosomes in proportion to their length, so many hold no variant. Each row is timed on one
connection, statements run as the node runs them (asyncpg's prepared statements, so after a
few runs PostgreSQL may keep a generic plan): a count alone, a batch of 16 counts in one
statement (beacon/store.py count_batch), and a record page (limit 10). Rows alternate before
and after, --repeat rounds, medians over the rounds of each row's median. Before timing,
both conditions must give the same counts and pages for every window. Then EXPLAIN
(ANALYZE) of every lone count sums the rows its index scans returned (what was read to find
the matches), its execution and its planning time (ms, over all the width's windows), and
one 1 kb count's plan is printed.

On the shared 2-core machine the figures are indicative; the index rows are exact.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg

from beacon import store
from beacon.assemblies import ASSEMBLIES, CHROMOSOMES
from beacon.request import VariantQuery
from bench.query import (
    DATASET,
    absolute,
    at_least_one,
    database,
    exit_on_sigterm,
    ingest,
    reachable,
    synthetic_vcf,
)

WIDTHS = {"1 kb": 1_000, "100 kb": 100_000, "1 Mb": 1_000_000}
BATCH = 16
PAGE = 10


def windows(n: int, width: int, seed: int) -> list[tuple[str, int]]:
    """(chromosome, start) of n windows, chromosomes in proportion to their length."""
    assembly = ASSEMBLIES["GRCh38"]
    names = [c for c in CHROMOSOMES if c != "MT"]      # MT is shorter than a 1 Mb window
    rng = random.Random(seed)
    chosen = rng.choices(names, weights=[assembly.length(c) for c in names], k=n)
    return [(c, rng.randrange(0, assembly.length(c) - width)) for c in chosen]


def before(chromosome: str, start: int, end: int, span: int) -> tuple[tuple[str, ...], list]:
    """The range condition before issue 19: the btree from the longest variant's length left."""
    return (("dataset_id = ANY({}::text[])", "chromosome = {}", "start_pos >= {}",
             "start_pos < {}", "end_pos > {}"),
            [[DATASET], chromosome, max(start - span, 0), end, start])


def after(chromosome: str, start: int, end: int, span: int) -> tuple[tuple[str, ...], list]:
    query = VariantQuery(reference_name=chromosome, kind="range", start=(start,), end=(end,))
    return store.variant_conditions(query, [DATASET], chromosome, span, 1)


FORMS = {"before": before, "after": after}


def count_sql(conditions: tuple[str, ...]) -> str:
    return (f"SELECT dataset_id, count(*), min({store.CARRIERS}) FROM variants "
            f"WHERE {store.numbered(conditions)} GROUP BY dataset_id")


def page_sql(conditions: tuple[str, ...]) -> str:
    """The page statement: for the old condition, the old one (one scan in locus order;
    the page order of now, so that both return the same rows)."""
    if store._SHORT_OR_LONG in conditions:
        return store._page_sql(conditions)
    n = sum(c.count("{}") for c in conditions)
    return (f"SELECT {store._VARIANT_COLUMNS} FROM variants v WHERE {store.numbered(conditions)}"
            f" ORDER BY {store._PAGE_ORDER} LIMIT ${n + 1} OFFSET ${n + 2}")


async def counts(conn: asyncpg.Connection, form: str, spots: list[tuple[str, int]], width: int,
                 span: int) -> list[int]:
    found = []
    for chromosome, start in spots:
        conditions, args = FORMS[form](chromosome, start, start + width, span)
        rows = await conn.fetch(count_sql(conditions), *args)
        found.append(rows[0][1] if rows else 0)
    return found


async def pages(conn: asyncpg.Connection, form: str, spots: list[tuple[str, int]], width: int,
                span: int) -> list[list[tuple]]:
    found = []
    for chromosome, start in spots:
        conditions, args = FORMS[form](chromosome, start, start + width, span)
        rows = await conn.fetch(page_sql(conditions), *args, PAGE, 0)
        found.append([tuple(r)[:6] for r in rows])
    return found


async def batches(conn: asyncpg.Connection, form: str, spots: list[tuple[str, int]], width: int,
                  span: int) -> list[int]:
    found = []
    for i in range(0, len(spots), BATCH):
        members = [FORMS[form](c, s, s + width, span) for c, s in spots[i:i + BATCH]]
        conditions = members[0][0]
        key = store.CountKey(conditions, tuple(tuple(a) for a in members[0][1]
                                               if isinstance(a, list)))
        answers = await store.count_batch(conn, key, [args for _, args in members])
        found += [a[DATASET].count if a else 0 for a in answers]
    return found


async def timed(run, conn: asyncpg.Connection, form: str, spots: list[tuple[str, int]],
                width: int, span: int) -> float:
    """Median milliseconds per query of one pass (a batch's time shared by its members)."""
    per: list[float] = []
    step = BATCH if run is batches else 1
    for i in range(0, len(spots), step):
        began = time.perf_counter()
        await run(conn, form, spots[i:i + step], width, span)
        per.append((time.perf_counter() - began) * 1000 / len(spots[i:i + step]))
    return statistics.median(per)


def index_rows(plan: dict) -> int:
    """Rows the plan's index scans returned: the entries read to find the matches."""
    own = plan["Actual Rows"] * plan.get("Actual Loops", 1) if "Index" in plan["Node Type"] else 0
    return round(own) + sum(index_rows(p) for p in plan.get("Plans", []))


async def explained(conn: asyncpg.Connection, form: str, spots: list[tuple[str, int]],
                    width: int, span: int) -> tuple[int, float, float]:
    """Index rows, execution and planning time (ms, a custom plan each) summed over every
    lone count."""
    rows, run, plan_ms = 0, 0.0, 0.0
    for chromosome, start in spots:
        conditions, args = FORMS[form](chromosome, start, start + width, span)
        plan = json.loads(await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + count_sql(conditions), *args))[0]
        rows += index_rows(plan["Plan"])
        run += plan["Execution Time"]
        plan_ms += plan["Planning Time"]
    return rows, run, plan_ms


async def main_async(args: argparse.Namespace, url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        span = await conn.fetchval("SELECT max_variant_length FROM datasets WHERE id = $1",
                                   DATASET)
        version = await conn.fetchval("SHOW server_version")
        print(f"PostgreSQL {version}; {DATASET}: longest variant {span:,} bases, "
              f"{await conn.fetchval(f'SELECT count(*) FROM variants WHERE {store._LONG}'):,} "
              f"longer than {store.LONG_VARIANT:,}; {args.queries} windows per width\n")
        spots = {name: windows(args.queries, width, seed) for seed, (name, width)
                 in enumerate(WIDTHS.items(), 1)}
        for name, width in WIDTHS.items():
            for check in (counts, batches, pages):
                old = await check(conn, "before", spots[name], width, span)
                new = await check(conn, "after", spots[name], width, span)
                assert old == new, f"{check.__name__} {name}: before and after disagree"
        print("every count, batched count and page agrees before and after\n")
        print(f"{'range':>7} {'statement':>14} {'before ms':>10} {'after ms':>9} "
              f"{'index rows before':>18} {'after':>8} {'run ms before':>14} {'after':>7} "
              f"{'plan ms before':>15} {'after':>7}")
        for name, width in WIDTHS.items():
            explain = {f: await explained(conn, f, spots[name], width, span) for f in FORMS}
            for label, run in (("count", counts), (f"batch of {BATCH}", batches),
                               (f"page of {PAGE}", pages)):
                rounds: dict[str, list[float]] = {f: [] for f in FORMS}
                for _ in range(args.repeat):
                    for form in FORMS:
                        rounds[form].append(await timed(run, conn, form, spots[name], width,
                                                        span))
                old, new = (statistics.median(rounds[f]) for f in FORMS)
                old_plan, new_plan = explain["before"], explain["after"]
                rows = (f"{old_plan[0]:>18,} {new_plan[0]:>8,} {old_plan[1]:>14.1f} "
                        f"{new_plan[1]:>7.1f} {old_plan[2]:>15.1f} {new_plan[2]:>7.1f}"
                        if run is counts else "")
                print(f"{name:>7} {label:>14} {old:>10.3f} {new:>9.3f} {rows}", flush=True)
        chromosome, start = spots["1 kb"][0]
        conditions, values = after(chromosome, start, start + 1_000, span)
        plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + count_sql(conditions),
                                *values)
        print(f"\nafter, a 1 kb count ({chromosome}:{start:,}):")
        print("\n".join("  " + r[0] for r in plan))
    finally:
        await conn.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=at_least_one, default=1_000_000)
    parser.add_argument("--queries", type=at_least_one, default=300)
    parser.add_argument("--repeat", type=at_least_one, default=3)
    parser.add_argument("--workdir", type=absolute, default=ROOT / "bench" / "out")
    parser.add_argument("--database-url", type=reachable)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    exit_on_sigterm()
    args.workdir.mkdir(parents=True, exist_ok=True)
    vcf = synthetic_vcf(args.workdir, args.records)
    with database(args.database_url) as (url, _):
        ingest(vcf, url)
        asyncio.run(main_async(args, url))


if __name__ == "__main__":
    main()
