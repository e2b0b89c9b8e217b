"""Where a sequence-count request's CPU goes, step by step (not a test, not a throughput figure).

Run from the repository root, with the project's virtualenv:

    python bench/handler_steps.py [--records 1000000] [--requests 1500] [--rounds 5]
                                  [--workdir bench/out] [--database-url URL]

It ingests bench/query.py's dataset and calls handlers in this process: no HTTP, no load
generator. Each step adds one piece of the node's handler to the one before it, and each
does the real database round trip, so the code runs with its caches as cold as in a server.
(Micro-benchmarks of single functions in a loop keep everything hot and under-count by a
factor of several.) The GC is frozen after warm-up, as the node does. It prints, per step,
the median and minimum over --rounds rounds of this process's CPU µs per request (PostgreSQL's
CPU is not included):

  floor          the floor handler of bench/query.py: fetch, sum, small JSON
  + fast GET     + beacon.request.query_from_get (the node's path for plain GETs)
  + full GET     instead: + parse_get and to_query (pydantic; the path for everything else)
  + datasets     + visibility and dataset selection (the fast path's query)
  + answer       the node's answer() instead of the floor's fetch
  node handler   node.http.beacon_api.g_variants, response building and JSON included
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.query import (
    BUDGET_NEVER_BINDS,
    DATASET,
    FLOOR_SQL,
    absolute,
    at_least_one,
    database,
    exit_on_sigterm,
    ingest,
    interleaved_cpu,
    reachable,
    sample_variants,
    server_loop,
    synthetic_vcf,
    workload,
)

Step = Callable[[object], Awaitable[object]]


def steps(app: object) -> dict[str, Step]:
    import orjson
    from aiohttp import web

    from beacon import answer
    from beacon.request import parse_get, query_from_get, to_query
    from node.http import beacon_api
    from node.http.app_keys import POOL, QUERIES, SETTINGS

    pool, queries, settings = app[POOL], app[QUERIES], app[SETTINGS]  # type: ignore[index]

    async def count(request: web.Request) -> int:
        q = request.query
        rows = await pool.fetch(FLOOR_SQL, [DATASET], q["referenceName"].removeprefix("chr"),
                                int(q["start"]), q["alternateBases"])
        return sum(r[1] for r in rows)

    def small(found: int) -> web.Response:
        return web.Response(body=orjson.dumps({"exists": found > 0, "count": found}),
                            content_type="application/json")

    async def floor(request: web.Request) -> web.Response:
        return small(await count(request))

    async def fast_get(request: web.Request) -> web.Response:
        query_from_get(request.query.items())
        return small(await count(request))

    async def full_get(request: web.Request) -> web.Response:
        to_query(parse_get(request.query.items()))
        return small(await count(request))

    async def with_datasets(request: web.Request) -> web.Response:
        query = query_from_get(request.query.items())
        answer.select_datasets(query, await beacon_api._visible(request, request.app))
        return small(await count(request))

    async def with_answer(request: web.Request) -> web.Response:
        query = query_from_get(request.query.items())
        chosen = answer.select_datasets(query, await beacon_api._visible(request, request.app))
        answers = await answer.answer_datasets(queries, query, chosen,
                                               base_url=settings.base_url)
        return small(sum(a.count.value for a in answers))

    return {"floor": floor, "+ fast GET": fast_get, "+ full GET": full_get,
            "+ datasets": with_datasets, "+ answer": with_answer,
            "node handler": beacon_api.g_variants}


async def measure(url: str, paths: list[str], requests: int, rounds: int) -> None:
    """The steps on the node's own application, started as `gdi-node serve` starts it (its
    pool, caches, batcher, policy, budgets and audit), with bench/query.py's node rules: the
    default disclosure control and a budget the run never exhausts."""
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from node.app import create_app
    from node.settings import Settings

    app = create_app(Settings(database_url=url, disclosure=json.loads(BUDGET_NEVER_BINDS)))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        requests_ = [make_mocked_request("GET", path, app=app) for path in paths]
        table = steps(app)

        async def answered(name: str, request: web.Request) -> None:
            """A step measured on refusals (a budget spent, a 500) is not the node's path."""
            if (status := (await table[name](request)).status) != 200:
                sys.exit(f"{name}: {request.path_qs} answered {status}")

        cpu = await interleaved_cpu(table, requests_, rounds, requests, warm=answered,
                                    warm_inputs=200)
    finally:
        await runner.cleanup()
    print(f"{'step':<14} {'median µs':>10} {'min µs':>8}   (CPU of this process per request)")
    for name, values in cpu.items():
        print(f"{name:<14} {statistics.median(values):>10.1f} {min(values):>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=at_least_one, default=1_000_000)
    parser.add_argument("--requests", type=at_least_one, default=1500, help="per step and round")
    parser.add_argument("--rounds", type=at_least_one, default=5)
    parser.add_argument("--workdir", type=absolute, default=ROOT / "bench" / "out")
    parser.add_argument("--database-url", type=reachable,
                        help="external PostgreSQL (default: embedded)")
    args = parser.parse_args()
    exit_on_sigterm()
    args.workdir.mkdir(parents=True, exist_ok=True)
    vcf = synthetic_vcf(args.workdir, args.records)
    with database(args.database_url) as (url, _):
        ingest(vcf, url)
        facts = asyncio.run(sample_variants(url))
        with asyncio.Runner(loop_factory=server_loop) as runner:     # the node's loop
            runner.run(measure(url, workload("sequence", "count", facts.variants),
                               args.requests, args.rounds))


if __name__ == "__main__":
    main()
