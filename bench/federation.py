"""Federation benchmark (not a test): what does asking the network cost over asking one node?

Run from the repository root, with the project's virtualenv and wrk on PATH:

    python bench/federation.py [--records 100000] [--requests 5000] [--connections 8]
                               [--repeat 3] [--time-cap 20] [--workdir bench/out]
                               [--database-url URL] [--client wrk|python]
    python bench/federation.py --instructions [--tree DIR ...]    # needs valgrind
    python bench/federation.py --overhead [--parts instructions,load,frozen] [--repeat 7]
                               [--frozen-requests 200] [--frozen-timeout 0.5] [--tree DIR ...]

One PostgreSQL (embedded unless --database-url) holds four databases: three nodes', each with
its own synthetic VCF (seeds 1, 2, 3; PUBLIC, ingested with `gdi-node ingest`), and the
aggregator's (empty). Four `gdi-node serve` processes on 127.0.0.1 are started (and stopped,
by pid) here: the three nodes and an aggregator whose peers are the three nodes, all with the
default disclosure rules and a budget the run never exhausts (bench/query.py's node rows'
BUDGET_NEVER_BINDS). The workload
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

--overhead (issue 19): the aggregator alone, measured against the least any aiohttp
aggregator does. No node and no data: the three peers are constant-answer servers (a few
lines of asyncio answering every request with one fixed, schema-valid Beacon count response,
made by the node's own response builder), so neither PostgreSQL nor the nodes are measured;
PostgreSQL only holds the aggregator's (empty) database. The reference is a bare aiohttp
fan-out proxy (--serve-proxy): for GET /network/api/g_variants?... it sends the same three
GETs to the three peers over one shared ClientSession (no cookie jar, no per-request timer,
as the node's), concurrently under one timeout, reads each body in full and answers them
concatenated: no parsing, no validation, no merge. Both get the same request list
(sequence queries at count granularity). Parts:

  instructions  each of the two under callgrind (bench/instructions.py), one request at a
                time: user-space instructions per network request and their ratio (target:
                aggregator <= 1.3x the proxy); --tree adds the aggregator of another checkout
  load          wrk at --connections (default 8) against each, --repeat interleaved runs,
                medians by req/s: network req/s of the aggregator / the proxy's (target
                >= 0.8); wall-clock on a shared machine, so indicative
  frozen        one constant peer SIGSTOPped (by the pid this script started; SIGCONT in a
                finally): --frozen-requests sequential network requests (capped at
                --frozen-cap seconds) against an aggregator with peer_timeout_seconds =
                --frozen-timeout, then a few at the node's default timeout, each time in
                turns with a bare proxy of the same timeout (what the machine itself adds);
                p50/p99 of the network answer against the per-peer timeout + 50 ms, and
                every answer must list the frozen peer as `timeout` (unavailable), the others
                `ok`, and hold no resultSet of the frozen peer
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import shutil
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.query import (
    BUDGET_NEVER_BINDS,
    CALLGRIND,
    CEILING_BODY,
    HEADER,
    HOST,
    SAMPLES,
    SEED,
    WRK_SCRIPT,
    Cell,
    Server,
    absolute,
    at_least_one,
    checkout,
    child_env,
    connection_counts,
    create_databases,
    database,
    drop_database,
    exit_on_sigterm,
    format_cell,
    free_port,
    ingest,
    measure,
    positive_seconds,
    reachable,
    require_tools,
    sampled,
    server_loop,
    started,
    workload,
)

NODES = {"org.bench.fi": ("GDI-FI-BENCH-1", 1), "org.bench.se": ("GDI-SE-BENCH-1", 2),
         "org.bench.es": ("GDI-ES-BENCH-1", 3)}
AGGREGATOR = "org.bench.network"
SAMPLED_PER_NODE = 700
TARGET_MS = 5.0


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
        # wrk is one anonymous caller, whose default budget would run out within a row's
        # warm-up, leaving the rows to measure 429s: the default rules, a budget never spent
        rules = {"GDI_NODE_DISCLOSURE": BUDGET_NEVER_BINDS}
        for beacon_id in NODES:
            port = free_port()
            nodes[beacon_id] = stack.enter_context(started(
                beacon_id, [*command, str(port)],
                {**child_env(urls[beacon_id]), **rules, "GDI_NODE_BEACON_ID": beacon_id}, port,
                "/ready"))
        peers = [{"id": b, "url": f"{s.base}/api"} for b, s in nodes.items()]
        network_env = {**child_env(urls[AGGREGATOR]), **rules, "GDI_NODE_BEACON_ID": AGGREGATOR,
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


# --- aggregator overhead (issue 19): constant peers, a bare proxy, a frozen peer -------------

OVERHEAD_PARTS = ("instructions", "load", "frozen")
INSTRUCTIONS_TARGET = 1.3          # aggregator instructions <= 1.3x the bare proxy's
LOAD_TARGET = 0.8                  # aggregator req/s >= 0.8x the bare proxy's
FROZEN_MARGIN_MS = 50.0            # p99 with a frozen peer <= per-peer timeout + 50 ms
PORTAL_DISCARDS_AFTER_S = 5.0      # the GDI portal's Beacon network drops a slower node
OVERHEAD_PATHS = 2100              # as many as the load rows' sampled variants
CONSTANT_HITS = (7, 3, 12)         # each constant peer's count
BACK_TRIES = 20                    # requests after SIGCONT until every peer is ok again
PROXY = "bare fan-out proxy"
NETWORK_ROW = "aggregator"


def overhead_paths() -> list[str]:
    """Sequence queries at count granularity, as the load rows send them, on made-up
    variants (seeded): the constant peers answer the same whatever is asked."""
    rng = random.Random(f"overhead-{SEED}")
    variants = [(str(rng.randint(1, 22)), rng.randrange(10_000, 50_000_000), "A",
                 rng.choice("CGT")) for _ in range(OVERHEAD_PATHS)]
    return ["/network" + p for p in workload("sequence", "count", variants)]


def constant_answer(beacon_id: str, dataset: str, hits: int, path: str) -> dict:
    """A node's count answer to `path`, made by the node's own response builder
    (beacon/answer.py): one PUBLIC dataset with `hits` exact."""
    from urllib.parse import parse_qsl, urlsplit

    from beacon.answer import envelope
    from beacon.request import query_from_get
    query = query_from_get(parse_qsl(urlsplit(path).query))
    assert query is not None, path
    result_set = {"id": dataset, "setType": "dataset", "exists": True, "beaconId": beacon_id,
                  "resultsCount": hits, "countPrecision": "exact", "results": [],
                  "info": {"returnedGranularity": "count"}}
    return envelope(beacon_id, query, "count", True, hits, [result_set],
                    {"countPrecision": "exact"})


def schema_check(answer: dict) -> str:
    """The constant answer against the Beacon v2 count response schema, when the schemas are
    there (tests/beacon_schemas.py finds them); an invalid one stops the run."""
    from tests.beacon_schemas import BEACON_V2, RESPONSE_SCHEMAS, validator_for
    if not BEACON_V2.found():
        return "not checked against the Beacon v2 schemas (none found: BEACON_SCHEMAS)"
    validator = validator_for(BEACON_V2.path(), RESPONSE_SCHEMAS["count"])
    errors = [e.message for e in validator.iter_errors(answer)]
    if errors:
        sys.exit(f"the constant answer is not a Beacon count response: {errors[:3]}")
    return "valid against beaconCountResponse.json"


class _Constant(asyncio.Protocol):
    """HTTP/1.1 keep-alive, GET only: every request (its header block) gets `answer`."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a TCP connection's: writable (uvloop's is no subclass of asyncio.Transport)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        requests = self.buffer.count(b"\r\n\r\n")
        if requests and self.transport is not None:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(self.answer * requests)


def serve_constant(port: int, body_file: Path) -> None:
    """A peer that costs next to nothing: the same bytes for every request."""
    body = body_file.read_bytes()
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body)) + body

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Constant(answer), HOST, port)
        await server.serve_forever()
    with asyncio.Runner(loop_factory=server_loop) as runner:
        runner.run(serve())


def serve_proxy(port: int, bases: list[str], timeout: float) -> None:
    """The floor of any aiohttp aggregator: the same three GETs, answers concatenated (those
    in within `timeout`)."""
    import aiohttp
    from aiohttp import web
    from yarl import URL

    session_key = web.AppKey("session", aiohttp.ClientSession)
    headers = {"Accept": "application/json"}

    async def client(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=None)) as session:
            app[session_key] = session
            yield

    async def one(session: aiohttp.ClientSession, url: URL) -> bytes:
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            return await response.read()

    async def fan_out(request: web.Request) -> web.Response:
        """All at once, one timer for all (as the node's fan-out); what is not in by then
        is cancelled and left out."""
        session = request.app[session_key]
        query = request.rel_url.raw_query_string
        tasks = [asyncio.ensure_future(one(session, URL(f"{base}/g_variants?{query}",
                                                        encoded=True))) for base in bases]
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return web.Response(body=b"".join(t.result() for t in tasks if t in done),
                            content_type="application/json")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.cleanup_ctx.append(client)
    app.add_routes([web.get("/network/api/g_variants", fan_out), web.get("/ready", ready)])
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, loop=server_loop())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


@dataclass
class Overhead:
    """What --overhead starts once and every part uses."""

    args: argparse.Namespace
    paths: list[str]
    paths_file: Path
    peers: dict[str, Server]               # beacon id -> constant peer
    bodies: dict[str, bytes]
    network_env: dict[str, str]
    bases: list[str]                       # the peers' API roots
    node_command: list[str]                # without the port
    postmaster: int | None
    proxy_timeout: float

    def proxy_command(self, timeout: float | None = None) -> list[str]:
        """Without the port."""
        return [sys.executable, str(ROOT / "bench" / "federation.py"), "--serve-proxy",
                json.dumps(self.bases), "--proxy-timeout",
                f"{timeout if timeout is not None else self.proxy_timeout:g}"]


def check_overhead_servers(o: Overhead, network: Server, proxy: Server) -> str:
    """Both answer what they should: the aggregator every peer ok and the counts summed,
    the proxy the three bodies concatenated."""
    good = 0
    for path in o.paths[:20]:
        merged = _get(network.base + path)
        statuses = [p["status"] for p in merged["info"]["network"]["peers"]]
        good += (statuses == ["ok"] * 3
                 and merged["responseSummary"]["numTotalResults"] == sum(CONSTANT_HITS)
                 and len(merged["response"]["resultSets"]) == 3)
        with urllib.request.urlopen(proxy.base + path, timeout=10) as response:
            good += response.read() == b"".join(o.bodies.values())
    return (f"aggregator: 3 peers ok, total {sum(CONSTANT_HITS)}, 3 resultSets; proxy: the 3 "
            f"bodies concatenated: {good}/40 checks")


def overhead_instructions(o: Overhead) -> float:
    """(a) Each server under callgrind, one request at a time, the same list."""
    from bench.instructions import callgrind
    args = o.args
    print(f"\n(a) instructions: {args.instruction_requests} network requests after "
          f"{args.warmup} of warm-up, one connection, each server under callgrind; its "
          "user-space instructions per network request", flush=True)
    trees = [t.resolve() for t in args.tree or [ROOT]]
    servers = [(PROXY, o.proxy_command(), child_env(None), ROOT)]
    servers += [(NETWORK_ROW if tree == ROOT else f"{NETWORK_ROW} {tree}", o.node_command,
                 o.network_env, tree) for tree in trees]
    figures = {}
    for name, command, env, tree in servers:
        port = free_port()
        figures[name] = callgrind(_with_port(command, port), tree,
                                  {**env, "PYTHONPATH": str(tree)}, port, "/ready", o.paths,
                                  args.instruction_requests, args.warmup)
        print(f"  {name:<24} {figures[name] / 1000:8.1f} k", flush=True)
    ratios = {name: value / figures[PROXY] for name, value in figures.items() if name != PROXY}
    for name, ratio in ratios.items():
        print(f"(a) {name} / bare proxy = {ratio:.2f}x instructions per network request  "
              f"(target <= {INSTRUCTIONS_TARGET}: {_verdict(ratio <= INSTRUCTIONS_TARGET)})",
              flush=True)
    # the verdict is this tree's where it was measured, whatever order --tree gave
    return ratios.get(NETWORK_ROW, ratios[next(iter(ratios))])


def _with_port(command: list[str], port: int) -> list[str]:
    """The command with its port: `--port N` for the node, the port argument for the proxy."""
    if "--serve-proxy" in command:
        i = command.index("--serve-proxy")
        return [*command[:i + 1], str(port), *command[i + 1:]]
    return [*command, "--port", str(port)]


def overhead_load(o: Overhead, network: Server, proxy: Server) -> dict[int, float]:
    """(b) wrk against each, interleaved (who goes first alternates), medians by req/s."""
    args = o.args
    rows = [(NETWORK_ROW, network), (PROXY, proxy)]
    ratios = {}
    for c in args.connections:
        print(f"\n(b) load, {c} connections: {args.requests:,} requests per row after a "
              f"warm-up, time cap {args.time_cap:.0f} s, load generator {args.client}, "
              f"{args.repeat} interleaved runs; load average {_load()} at the start", flush=True)
        print(HEADER, flush=True)
        runs: dict[str, list[Cell]] = {name: [] for name, _ in rows}
        for i in range(args.repeat):
            for name, server in rows if i % 2 == 0 else rows[::-1]:
                cell = measure(name, server, o.paths_file, args, c, o.postmaster)
                runs[name].append(cell)
                print(format_cell(cell), flush=True)
        medians = {name: sorted(cells, key=lambda x: x.result["rps"])[len(cells) // 2]
                   for name, cells in runs.items()}
        print(f"medians (by req/s) of {args.repeat} runs; load average {_load()} at the end:")
        for cell in medians.values():
            print(format_cell(cell), flush=True)
        ratios[c] = medians[NETWORK_ROW].result["rps"] / medians[PROXY].result["rps"]
        per_run = [a.result["rps"] / b.result["rps"]
                   for a, b in zip(runs[NETWORK_ROW], runs[PROXY])]
        cpu = medians[NETWORK_ROW].server_us / medians[PROXY].server_us
        print(f"(b) {c} connections: aggregator / bare proxy = {ratios[c]:.2f}x network req/s "
              f"(runs: {', '.join(f'{r:.2f}' for r in per_run)}; target >= {LOAD_TARGET}: "
              f"{_verdict(ratios[c] >= LOAD_TARGET)}); server CPU per request "
              f"{cpu:.2f}x the proxy's", flush=True)
    return ratios


def _load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


@dataclass
class Frozen:
    timeout: float                 # the aggregator's peer_timeout_seconds
    latencies: list[float]         # ms per network answer, peer frozen
    proxy: list[float]             # ms per answer of the bare proxy (same timeout), interleaved
    wrong: list[str]               # answers not as a frozen peer must be reported
    example: dict                  # the frozen peer's line in the first answer
    back: tuple[int, float] | None   # after SIGCONT: every peer ok again at request N, s

    def line(self) -> str:
        p50, p99 = _percentile(self.latencies, 0.50), _percentile(self.latencies, 0.99)
        target = self.timeout * 1000 + FROZEN_MARGIN_MS
        return (f"peer timeout {self.timeout:g} s: {len(self.latencies)} sequential network "
                f"requests, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(self.latencies):.1f} "
                f"ms (target p99 <= {target:.0f} ms: {_verdict(p99 <= target)}); the bare "
                f"proxy, same timeout, interleaved: p50 {_percentile(self.proxy, 0.50):.1f} "
                f"ms, p99 {_percentile(self.proxy, 0.99):.1f} ms, max {max(self.proxy):.1f} "
                f"ms; frozen peer reported as timeout, others ok, no resultSet of it: "
                f"{len(self.latencies) - len(self.wrong)}/{len(self.latencies)}; every peer ok "
                f"again after SIGCONT: {self._back()}")

    def _back(self) -> str:
        if self.back is None:
            return f"NO (not in {BACK_TRIES} requests)"
        requests, seconds = self.back
        return ("at the first request" if requests == 1 else
                f"from request {requests} ({seconds:.1f} s: the thawed peer first works "
                "through the connections queued while it was stopped)")


class _Client:
    """Sequential requests on one keep-alive connection, timed."""

    def __init__(self, server: Server) -> None:
        self.name = server.name
        self.connection = http.client.HTTPConnection(HOST, int(server.base.rsplit(":", 1)[1]),
                                                     timeout=60)

    def ask(self, path: str) -> tuple[float, bytes]:
        began = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        ms = (time.perf_counter() - began) * 1000
        if response.status != 200:
            sys.exit(f"{self.name} answered {response.status}: {body[:300]!r}")
        return ms, body


def frozen_peer(o: Overhead, timeout: float | None, count: int, cap: float) -> Frozen:
    """(c) An aggregator of its own (peer_timeout_seconds = `timeout`, None = the node's
    default) and a bare proxy with the same timeout; one constant peer stopped with SIGSTOP
    for `count` sequential requests to each, in turns (or `cap` seconds), and SIGCONT
    whatever happens."""
    from node.settings import Settings
    env = dict(o.network_env)
    if timeout is not None:
        env["GDI_NODE_PEER_TIMEOUT_SECONDS"] = f"{timeout:g}"
    effective = timeout if timeout is not None else Settings.model_fields[
        "peer_timeout_seconds"].default
    hits = dict(zip(o.peers, CONSTANT_HITS))
    victim_id, *others = o.peers
    victim = o.peers[victim_id]
    rest = b"".join(o.bodies[b] for b in others)
    with ExitStack() as servers:
        port = free_port()
        network = _Client(servers.enter_context(started(
            "aggregator, frozen peer", _with_port(o.node_command, port), env, port, "/ready")))
        port = free_port()
        proxy = _Client(servers.enter_context(started(
            "proxy, frozen peer", _with_port(o.proxy_command(effective), port),
            child_env(None), port, "/ready")))
        for path in o.paths[:20]:                        # warm-up, every peer answering
            network.ask(path)
            proxy.ask(path)
        latencies: list[float] = []
        proxied: list[float] = []
        wrong: list[str] = []
        example: dict = {}
        os.kill(victim.proc.pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            for i in range(count):
                if time.monotonic() - began > cap:
                    break
                path = o.paths[(20 + i) % len(o.paths)]
                ms, body = network.ask(path)
                latencies.append(ms)
                ms, proxy_body = proxy.ask(path)
                proxied.append(ms)
                merged = json.loads(body)
                lines = {p["id"]: p for p in merged["info"]["network"]["peers"]}
                example = example or lines[victim_id]
                tagged = [s["beaconId"] for s in merged.get("response", {}).get("resultSets", [])]
                if not (lines[victim_id]["status"] == "timeout"
                        and all(lines[b]["status"] == "ok" for b in others)
                        and sorted(tagged) == sorted(others)
                        and merged["responseSummary"]["numTotalResults"]
                        == sum(hits[b] for b in others)):
                    wrong.append(json.dumps(merged["info"]["network"])[:300])
                if proxy_body != rest:
                    wrong.append(f"proxy: {proxy_body[:200]!r}")
        finally:
            os.kill(victim.proc.pid, signal.SIGCONT)
        back = None                  # the first answer with every peer ok again
        resumed = time.perf_counter()
        for i in range(BACK_TRIES):
            after = json.loads(network.ask(o.paths[i])[1])
            if [p["status"] for p in after["info"]["network"]["peers"]] == ["ok"] * 3:
                back = (i + 1, time.perf_counter() - resumed)
                break
        network.connection.close()
        proxy.connection.close()
    for line in wrong[:3]:
        print(f"  not as a frozen peer must be reported: {line}", flush=True)
    return Frozen(effective, latencies, proxied, wrong, example, back)


def run_overhead(args: argparse.Namespace, url: str, postmaster: int | None) -> None:
    import orjson

    from node.settings import Settings
    fields = Settings.model_fields
    peer_timeout = fields["peer_timeout_seconds"].default
    deadline = fields["network_deadline_seconds"].default
    paths = overhead_paths()
    paths_file = args.workdir / "federation-overhead-sequence-count.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    (args.workdir / "query-wrk.lua").write_text(WRK_SCRIPT)
    me = [sys.executable, str(ROOT / "bench" / "federation.py")]
    print(f"aggregator overhead: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"load average {_load()}; node defaults: peer_timeout_seconds {peer_timeout:g}, "
          f"network_deadline_seconds {deadline:g}", flush=True)
    verdicts = []
    with ExitStack() as stack:
        peers: dict[str, Server] = {}
        bodies: dict[str, bytes] = {}
        for (beacon_id, (dataset, _)), hits in zip(NODES.items(), CONSTANT_HITS):
            answer = constant_answer(beacon_id, dataset, hits, paths[0])
            if not bodies:
                print(f"constant peers: the node's count answer for one dataset, "
                      f"{schema_check(answer)}", flush=True)
            bodies[beacon_id] = orjson.dumps(answer)
            body_file = args.workdir / f"federation-constant-{beacon_id}.json"
            body_file.write_bytes(bodies[beacon_id])
            port = free_port()
            peers[beacon_id] = stack.enter_context(started(
                f"constant {beacon_id}", [*me, "--serve-constant", str(port), str(body_file)],
                child_env(None), port, "/ready"))
        print(f"constant answers: {', '.join(f'{len(b)} bytes' for b in bodies.values())}",
              flush=True)
        network_env = {**child_env(url), "GDI_NODE_BEACON_ID": AGGREGATOR,
                       "GDI_NODE_PEERS": json.dumps([{"id": b, "url": f"{s.base}/api"}
                                                     for b, s in peers.items()])}
        o = Overhead(args, paths, paths_file, peers, bodies, network_env,
                     [f"{s.base}/api" for s in peers.values()],
                     [sys.executable, "-m", "node.cli", "serve", "--host", HOST, "--workers",
                      "1"], postmaster, peer_timeout)
        if "instructions" in args.parts or "load" in args.parts:
            with ExitStack() as servers:
                port = free_port()
                network = servers.enter_context(started(
                    NETWORK_ROW, _with_port(o.node_command, port), network_env, port, "/ready"))
                port = free_port()
                proxy = servers.enter_context(started(
                    PROXY, _with_port(o.proxy_command(), port), child_env(None), port,
                    "/ready"))
                print(check_overhead_servers(o, network, proxy), flush=True)
                if "load" in args.parts:
                    for c, ratio in overhead_load(o, network, proxy).items():
                        verdicts.append(f"(b) network req/s at {c} connections, aggregator / "
                                        f"bare proxy: {ratio:.2f}x (target >= {LOAD_TARGET}: "
                                        f"{_verdict(ratio >= LOAD_TARGET)}; wall-clock on a "
                                        "shared machine: indicative)")
        if "instructions" in args.parts:
            ratio = overhead_instructions(o)
            verdicts.insert(0, f"(a) instructions per network request, aggregator / bare "
                               f"proxy: {ratio:.2f}x (target <= {INSTRUCTIONS_TARGET}: "
                               f"{_verdict(ratio <= INSTRUCTIONS_TARGET)})")
        if "frozen" in args.parts:
            print("\n(c) one peer frozen (SIGSTOP): sequential requests, aggregator and bare "
                  "proxy in turns", flush=True)
            runs = [frozen_peer(o, args.frozen_timeout, args.frozen_requests, args.frozen_cap)]
            print(f"  {runs[0].line()}", flush=True)
            print(f"  the frozen peer's line: {json.dumps(runs[0].example)}", flush=True)
            if args.frozen_default_requests:
                runs.append(frozen_peer(o, None, args.frozen_default_requests,
                                        args.frozen_cap))
                print(f"  {runs[1].line()}", flush=True)
            for run in runs:
                verdicts.append(f"(c) {run.line()}")
            limit = min(peer_timeout, deadline)
            verdicts.append(
                f"(c) default per-peer timeout {peer_timeout:g} s, network deadline "
                f"{deadline:g} s: a frozen peer costs at most {limit:g} s + the merge, "
                f"{PORTAL_DISCARDS_AFTER_S - limit:g} s inside the GDI portal's "
                f"{PORTAL_DISCARDS_AFTER_S:g} s ({_verdict(limit <= 0.6 * PORTAL_DISCARDS_AFTER_S)}"
                "; well inside = at most 60% of it)")
    print("\nverdicts:")
    for line in verdicts:
        print(f"  {line}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=at_least_one, default=100_000, help="VCF records per node")
    parser.add_argument("--requests", type=at_least_one, default=5_000, help="measured requests per row")
    parser.add_argument("--connections", default="8", type=connection_counts)
    parser.add_argument("--repeat", type=at_least_one, default=3, help="interleaved runs per row")
    parser.add_argument("--workdir", type=absolute, default=ROOT / "bench" / "out")
    parser.add_argument("--database-url", type=reachable, help="external PostgreSQL (default: embedded)")
    parser.add_argument("--time-cap", type=positive_seconds, default=20.0, help="seconds per row, at most")
    parser.add_argument("--client", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--instructions", action="store_true",
                        help="count the aggregator's instructions under callgrind instead")
    parser.add_argument("--warmup", type=int, default=300, help="with --instructions")
    parser.add_argument("--tree", type=checkout, action="append",
                        help="with --instructions (or --overhead): a checkout whose aggregator "
                             "to measure")
    parser.add_argument("--overhead", action="store_true",
                        help="the aggregator against a bare fan-out proxy, constant peers "
                             "(issue 19); no nodes, no data")
    parser.add_argument("--parts", default=",".join(OVERHEAD_PARTS),
                        type=lambda s: [v for v in s.split(",") if v.strip()],
                        help="with --overhead: which of " + ",".join(OVERHEAD_PARTS))
    parser.add_argument("--instruction-requests", type=at_least_one, default=300,
                        help="with --overhead: measured requests under callgrind")
    parser.add_argument("--frozen-requests", type=at_least_one, default=200,
                        help="with --overhead: sequential requests while a peer is frozen")
    parser.add_argument("--frozen-timeout", type=positive_seconds, default=0.5,
                        help="with --overhead: the aggregator's peer_timeout_seconds then")
    parser.add_argument("--frozen-default-requests", type=int, default=20,
                        help="with --overhead: then as many at the node's default timeout")
    parser.add_argument("--frozen-cap", type=positive_seconds, default=240.0,
                        help="with --overhead: seconds per frozen-peer run, at most")
    # child modes, used by the script itself
    parser.add_argument("--serve-constant", nargs=2, metavar=("PORT", "BODY_FILE"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--serve-proxy", nargs=2, metavar=("PORT", "BASES_JSON"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--proxy-timeout", type=float, default=3.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := set(args.parts) - set(OVERHEAD_PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}")
    if args.instructions and args.requests == parser.get_default("requests"):
        args.requests = 300
    if args.serve_constant or args.serve_proxy:
        return args
    if args.instructions or (args.overhead and "instructions" in args.parts):
        require_tools(parser, *CALLGRIND)
    if args.client == "wrk" and not args.instructions and (not args.overhead
                                                           or "load" in args.parts):
        require_tools(parser, "wrk")
    return args


@contextmanager
def created(server_url: str, names: list[str]) -> Iterator[dict[str, str]]:
    """Fresh databases for the run, dropped at its end however it ends: on a --database-url
    server nothing else would remove them."""
    try:
        yield asyncio.run(create_databases(server_url, names))
    finally:
        for name in names:
            asyncio.run(drop_database(server_url, name))


def main() -> None:
    from synthetic_data.vcf import cached_vcf
    args = parse_args()
    if args.serve_constant:
        return serve_constant(int(args.serve_constant[0]), Path(args.serve_constant[1]))
    if args.serve_proxy:
        return serve_proxy(int(args.serve_proxy[0]), json.loads(args.serve_proxy[1]),
                           args.proxy_timeout)
    exit_on_sigterm()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.overhead:
        began = time.monotonic()
        with database(args.database_url) as (server_url, postmaster), \
                created(server_url, ["gdi_bench_overhead"]) as url:
            run_overhead(args, url["gdi_bench_overhead"], postmaster)
        print(f"\nwall {time.monotonic() - began:.0f} s", flush=True)
        return
    vcfs = {b: cached_vcf(args.workdir, args.records, SAMPLES, seed)
            for b, (_, seed) in NODES.items()}
    names = {b: f"gdi_bench_{b.rsplit('.', 1)[1]}" for b in [*NODES, AGGREGATOR]}
    with database(args.database_url) as (server_url, postmaster), \
            created(server_url, list(names.values())) as by_name:
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
