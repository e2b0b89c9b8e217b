"""Federation benchmark (not a test): what does asking the network cost over asking one node?

Run from the repository root, with the project's virtualenv and wrk on PATH:

    python bench/federation.py [--records 100000] [--requests 5000] [--connections 8]
                               [--repeat 3] [--time-cap 20] [--workdir bench/out]
                               [--database-url URL] [--client wrk|python]
    python bench/federation.py --instructions [--tree DIR ...]    # needs valgrind

One PostgreSQL (embedded unless --database-url) holds four databases: three nodes', each with
its own synthetic VCF (seeds 1, 2, 3; PUBLIC, ingested with `gdi-node ingest`), and the
aggregator's (empty). Four `gdi-node serve` processes on 127.0.0.1 are started (and stopped,
by pid) here: the three nodes and an aggregator whose peers are the three nodes. The workload
is bench/query.py's sequence query at count granularity, over variants sampled from all three
datasets (so a query is usually a hit on one node and a miss on the others). Each row sends
the same list: to each node's /api/g_variants, and to the aggregator's /network/api/g_variants,
which asks all three nodes for every request. Rows run --repeat times in turns; the median
run (by p50) of each counts. Load generation, CPU columns and latency definitions are
bench/query.py's; `srv µs/req` of the network row is the aggregator process alone.

fan-out overhead = network p50 - slowest node p50, measured in the same run on the same
machine: what the aggregator adds on top of waiting for its slowest peer. On 2 cores the
network row also shares the CPU between wrk, the aggregator, three nodes and PostgreSQL.

For scale, the run also measures what the HTTP client alone costs: this process making the
aggregator's kind of outgoing requests (one shared aiohttp session, three at a time, each
under a timeout, body read in full) to bench/query.py's constant-body server, in CPU µs per
request. Three of those are the least CPU any aiohttp aggregator spends per network request.

--instructions: instead of the load rows, the aggregator (of this checkout, or of each --tree)
runs under callgrind and bench/instructions.py counts its user-space instructions per
network request, one request at a time: deterministic where the load rows are noisy.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.query import (
    CEILING_BODY,
    HEADER,
    HOST,
    SAMPLES,
    WRK_SCRIPT,
    Cell,
    Server,
    child_env,
    database,
    format_cell,
    free_port,
    ingest,
    measure,
    sampled,
    started,
    workload,
)

NODES = {"org.bench.fi": ("GDI-FI-BENCH-1", 1), "org.bench.se": ("GDI-SE-BENCH-1", 2),
         "org.bench.es": ("GDI-ES-BENCH-1", 3)}
AGGREGATOR = "org.bench.network"
SAMPLED_PER_NODE = 700
TARGET_MS = 5.0


async def create_databases(server_url: str, names: list[str]) -> dict[str, str]:
    """A fresh database per name on the one server; their URLs."""
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg
    conn = await asyncpg.connect(server_url)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(server_url)
    return {name: urlunsplit(parts._replace(path=f"/{name}")) for name in names}


async def sample(url: str, dataset: str) -> list[tuple[str, int, str, str]]:
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        return await sampled(conn, dataset, SAMPLED_PER_NODE)
    finally:
        await conn.close()


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def check_sums(nodes: dict[str, Server], network: Server, paths: list[str]) -> str:
    """The network's total must be the nodes' totals summed, with every peer answering."""
    agree = 0
    for path in paths[:20]:
        merged = _get(network.base + "/network" + path)
        total = sum(_get(n.base + path)["responseSummary"]["numTotalResults"]
                    for n in nodes.values())
        statuses = {p["status"] for p in merged["info"]["network"]["peers"]}
        agree += merged["responseSummary"]["numTotalResults"] == total and statuses == {"ok"}
    return f"network total = sum of the nodes' totals, all peers ok: {agree}/20 queries"


async def _client_cost(url: str, count: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        async def one() -> bytes:
            async with asyncio.timeout(5):
                async with session.get(url, allow_redirects=False) as response:
                    return await response.read()
        for _ in range(100):                     # warm-up; the connections stay open
            await one()
        began, rounds = time.process_time(), count // 3
        for _ in range(rounds):
            await asyncio.gather(one(), one(), one())
        return (time.process_time() - began) / (rounds * 3) * 1e6


def client_cost(stack: ExitStack, count: int) -> str:
    port = free_port()
    ceiling = stack.enter_context(started(
        "ceiling", [sys.executable, str(ROOT / "bench" / "query.py"), "--serve-ceiling",
                    str(port)], child_env(None), port, "/api/g_variants"))
    cost = asyncio.run(_client_cost(ceiling.base + "/api/g_variants", count))
    return (f"aiohttp client alone: {cost:.0f} µs CPU per outgoing request ({count:,} requests, "
            f"3 at a time, {len(CEILING_BODY)}-byte answers): {3 * cost:.0f} µs per network "
            "request at the least")


def aggregator_instructions(args: argparse.Namespace, command: list[str],
                            env: dict[str, str], paths: list[str]) -> None:
    from bench.instructions import callgrind
    print(f"network sequence count, {args.requests} requests after {args.warmup} of warm-up, "
          "one connection; aggregator user-space instructions per network request")
    for tree in [t.resolve() for t in args.tree or [ROOT]]:
        port = free_port()
        count = callgrind([*command, str(port)], tree, {**env, "PYTHONPATH": str(tree)}, port,
                          "/ready", paths, args.requests, args.warmup)
        print(f"aggregator {tree}: {count / 1000:.1f} k", flush=True)


def run(args: argparse.Namespace, urls: dict[str, str], postmaster: int | None,
        variants: list[tuple[str, int, str, str]]) -> None:
    (args.workdir / "query-wrk.lua").write_text(WRK_SCRIPT)
    paths = workload("sequence", "count", variants)
    node_file = args.workdir / "federation-node-sequence-count.txt"
    network_file = args.workdir / "federation-network-sequence-count.txt"
    node_file.write_text("\n".join(paths) + "\n")
    network_file.write_text("\n".join("/network" + p for p in paths) + "\n")
    command = [sys.executable, "-m", "node.cli", "serve", "--host", HOST, "--port"]
    with ExitStack() as stack:
        nodes: dict[str, Server] = {}
        for beacon_id in NODES:
            port = free_port()
            nodes[beacon_id] = stack.enter_context(started(
                beacon_id, [*command, str(port)],
                {**child_env(urls[beacon_id]), "GDI_NODE_BEACON_ID": beacon_id}, port, "/ready"))
        peers = [{"id": b, "url": f"{s.base}/api"} for b, s in nodes.items()]
        network_env = {**child_env(urls[AGGREGATOR]), "GDI_NODE_BEACON_ID": AGGREGATOR,
                       "GDI_NODE_PEERS": json.dumps(peers)}
        if args.instructions:
            aggregator_instructions(args, command, network_env,
                                    network_file.read_text().split())
            return
        port = free_port()
        network = stack.enter_context(started(
            "network", [*command, str(port)], network_env, port, "/ready"))
        print(check_sums(nodes, network, paths), flush=True)
        print(client_cost(stack, args.requests), flush=True)
        rows = [*((f"node {b.rsplit('.', 1)[1]}", s, node_file) for b, s in nodes.items()),
                ("network (3 peers)", network, network_file)]
        runs: dict[str, list[Cell]] = {name: [] for name, _, _ in rows}
        for c in args.connections:
            print(f"\n{c} connections: {args.requests:,} requests per row after a warm-up, "
                  f"time cap {args.time_cap:.0f} s per row, load generator {args.client}, "
                  f"{args.repeat} interleaved runs", flush=True)
            print(HEADER, flush=True)
            for _ in range(args.repeat):
                for name, server, path in rows:
                    cell = measure(name, server, path, args, c, postmaster)
                    runs[name].append(cell)
                    print(format_cell(cell), flush=True)
            medians = {name: sorted(cells, key=lambda x: x.result["p50"])[len(cells) // 2]
                       for name, cells in runs.items()}
            print(f"medians (by p50) of {args.repeat} runs:")
            for cell in medians.values():
                print(format_cell(cell), flush=True)
            slowest = max((cell for name, cell in medians.items() if name.startswith("node")),
                          key=lambda x: x.result["p50"])
            overhead = medians["network (3 peers)"].result["p50"] - slowest.result["p50"]
            print(f"\n{c:>2} connections: fan-out overhead = network p50 - slowest node p50 "
                  f"({slowest.row}) = {overhead:.2f} ms  (target < {TARGET_MS:g} ms: "
                  f"{'met' if overhead < TARGET_MS else 'NOT met'})", flush=True)
            runs = {name: [] for name in runs}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="VCF records per node")
    parser.add_argument("--requests", type=int, default=5_000, help="measured requests per row")
    parser.add_argument("--connections", default="8",
                        type=lambda s: [int(v) for v in s.split(",") if v.strip()])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per row")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--database-url", help="external PostgreSQL (default: embedded)")
    parser.add_argument("--time-cap", type=float, default=20.0, help="seconds per row, at most")
    parser.add_argument("--client", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--instructions", action="store_true",
                        help="count the aggregator's instructions under callgrind instead")
    parser.add_argument("--warmup", type=int, default=300, help="with --instructions")
    parser.add_argument("--tree", type=Path, action="append",
                        help="with --instructions: a checkout whose aggregator to measure")
    args = parser.parse_args()
    if args.instructions and args.requests == parser.get_default("requests"):
        args.requests = 300
    return args


def main() -> None:
    from synthetic_data.vcf import cached_vcf
    args = parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    vcfs = {b: cached_vcf(args.workdir, args.records, SAMPLES, seed)
            for b, (_, seed) in NODES.items()}
    with database(args.database_url) as (server_url, postmaster):
        names = {b: f"gdi_bench_{b.rsplit('.', 1)[1]}" for b in [*NODES, AGGREGATOR]}
        by_name = asyncio.run(create_databases(server_url, list(names.values())))
        urls = {b: by_name[n] for b, n in names.items()}
        variants = []
        for beacon_id, (dataset, _) in NODES.items():
            ingest(vcfs[beacon_id], urls[beacon_id], dataset)
            variants += asyncio.run(sample(urls[beacon_id], dataset))
        variants.sort(key=lambda v: (v[1], v[0]))     # interleave the nodes' variants
        print(f"federation benchmark: 3 nodes x {args.records:,} records, "
              f"{len(variants):,} sampled variants, {os.cpu_count()} CPUs, Python "
              f"{sys.version.split()[0]}; logging at WARNING", flush=True)
        run(args, urls, postmaster, variants)


if __name__ == "__main__":
    main()
