"""Instructions per request under valgrind (not a test): bench/query.py's comparison, made
deterministic.

Run from the repository root, with the project's virtualenv and valgrind on PATH
(`apt-get install -y valgrind`):

    python bench/instructions.py [--records 1000000] [--requests 300] [--warmup 300]
                                 [--tree DIR ...] [--token] [--disclosure] [--genotyped]
                                 [--workdir bench/out] [--database-url URL]

Wall-clock figures on a shared 2-core machine swing by tens of percent between runs of the
same code (docs/benchmarks.md), more than most single changes to the node are worth. The
number of instructions a server executes per request does not: it repeats to within about
half a percent, so a change can be judged by it. It does not weigh cache misses, which is why
bench/query.py stays the benchmark that counts; this one says which change moved how much.

bench/query.py's dataset is ingested into one PostgreSQL, and its sequence-count workload is
sent, one request at a time on one keep-alive connection, to each server in turn, each run
under callgrind (`--instr-atstart=no`): the ceiling (ii), the floor (i) with the no-op reset,
and the node, once per --tree (another checkout of this repository, e.g. a `git worktree`
of an earlier commit; default: this one), with the node's default disclosure rules and a
budget the run never exhausts, as bench/query.py's node; with --disclosure, each node once
more with disclosure control off, as bench/query.py's "no disclosure" row, and the cost of
disclosure control in instructions (issue 14's alternative to its req/s target: at most 10%
more). With --genotyped the nodes ask bench/query.py's genotyped copy of the file instead
(its samples' genotypes read, so the one anonymous caller's losses are accounted, and every
answer waits for its turn at them: beacon/losses.py). Counting starts after the warm-up requests and
stops after the measured ones (`callgrind_control`), so start-up is not counted. Each server
process is started and stopped here, by pid. Only the server's user-space instructions are
counted: not the kernel's, not PostgreSQL's.

Every server runs with GDI_NODE_AUDIT_FLUSH_SECONDS=3600 (`callgrind`, which the other
benchmarks' --instructions modes use too). A node writes its audit trail every second and
whenever 256 entries wait (beacon/audit.py); a write costs some 700k instructions besides
its entries'. Under callgrind a server runs 30-60 times slower, so a write each second held
only the 15-40 entries of that second, and its fixed cost, counted per request, grew with
how slowly the machine ran at the time: two runs of one tree differed by 12-17k of 1.9M
(bench/federation.py --overhead, docs/benchmarks.md). With the timer an hour, the trail is
written every 256 entries, as it is whenever a node answers a few hundred requests a
second, and the count does not depend on the machine's pace.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.query import (
    BUDGET_NEVER_BINDS,
    CALLGRIND,
    DISCLOSURE_OFF,
    HOST,
    aai_token,
    absolute,
    at_least_one,
    checkout,
    child_env,
    database,
    exit_on_sigterm,
    free_port,
    genotyped_copy,
    ingest,
    reachable,
    require_tools,
    sample_variants,
    started,
    synthetic_vcf,
    trust,
    workload,
)

STARTUP_TIMEOUT = 180.0            # start-up under valgrind is some 20-50 times slower
# The audit trail written every 256 entries, not each (dilated) second: the module's docstring
AUDIT_UNDER_CALLGRIND = {"GDI_NODE_AUDIT_FLUSH_SECONDS": "3600"}


def _send(port: int, paths: list[str], count: int, offset: int,
          headers: dict[str, str], bodies: list[bytes] | None = None) -> None:
    """GET each path in turn, or with `bodies`: POST each body in turn to paths[0]."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        for i in range(count):
            n = offset + i
            if bodies is None:
                path, method, body = paths[n % len(paths)], "GET", None
            else:
                path, method, body = paths[0], "POST", bodies[n % len(bodies)]
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                sys.exit(f"request answered {response.status}: {method} {path} {body!r}")
    finally:
        connection.close()


def _wait_ready(process: subprocess.Popen[bytes], port: int, probe: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode} while starting")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", probe)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"server not ready after {STARTUP_TIMEOUT:.0f} s")


def callgrind(command: list[str], cwd: Path, env: dict[str, str], port: int, probe: str,
              paths: list[str], requests: int, warmup: int,
              headers: dict[str, str] | None = None, bodies: list[bytes] | None = None
              ) -> float:
    """Instructions per measured request of one server process (GETs of `paths`, or POSTs
    of `bodies` to paths[0])."""
    with tempfile.TemporaryDirectory(prefix="gdi-callgrind-") as out:
        profile = Path(out) / "callgrind.out"
        process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={profile}", *command],
            cwd=cwd, env={**env, **AUDIT_UNDER_CALLGRIND}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            _wait_ready(process, port, probe)
            _send(port, paths, warmup, 0, headers or {}, bodies)
            control = ["callgrind_control"]
            subprocess.run([*control, "--instr=on", str(process.pid)], check=True,
                           capture_output=True)
            _send(port, paths, requests, warmup, headers or {}, bodies)
            subprocess.run([*control, "--instr=off", str(process.pid)], check=True,
                           capture_output=True)
            subprocess.run([*control, "--dump", str(process.pid)], check=True,
                           capture_output=True)
        finally:
            process.terminate()
            process.wait(60)
        totals = [int(line.split()[1]) for dump in Path(out).glob("callgrind.out*")
                  for line in dump.read_text().splitlines()
                  if line.startswith(("summary:", "totals:"))]
    return max(totals, default=0) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=at_least_one, default=1_000_000)
    parser.add_argument("--requests", type=at_least_one, default=300, help="measured, per server")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--tree", type=checkout, action="append",
                        help="a checkout whose node to measure (repeatable; default: this one)")
    parser.add_argument("--workdir", type=absolute, default=ROOT / "bench" / "out")
    parser.add_argument("--database-url", type=reachable,
                        help="external PostgreSQL (default: embedded)")
    parser.add_argument("--token", action="store_true",
                        help="also each node with every request carrying a bearer token of "
                             "the development AAI (started here), as bench/query.py's token row")
    parser.add_argument("--disclosure", action="store_true",
                        help="also each node with disclosure control off, and what the "
                             "default rules cost in instructions")
    parser.add_argument("--genotyped", action="store_true",
                        help="the nodes ask a copy of the file loaded with its samples' "
                             "phenopackets, so the caller's losses are accounted")
    args = parser.parse_args()
    require_tools(parser, *CALLGRIND)
    exit_on_sigterm()
    args.workdir.mkdir(parents=True, exist_ok=True)
    vcf = synthetic_vcf(args.workdir, args.records)
    with database(args.database_url) as (url, _), ExitStack() as stack:
        ingest(vcf, url)
        paths = workload("sequence", "count", asyncio.run(sample_variants(url)).variants)
        env = child_env(stack.enter_context(genotyped_copy(args.workdir, vcf, url))
                        if args.genotyped else url)
        me = [sys.executable, str(ROOT / "bench" / "query.py")]
        print(f"sequence count, {args.requests} requests after {args.warmup} of warm-up, one "
              "connection; server user-space instructions per request", flush=True)
        node = [sys.executable, "-m", "node.cli", "serve", "--host", HOST, "--port"]
        env["GDI_NODE_DISCLOSURE"] = BUDGET_NEVER_BINDS
        servers: list[tuple[str, Path, str, Callable[[str], list[str]], dict[str, str],
                            dict[str, str]]] = [
            ("(ii) ceiling", ROOT, paths[0], lambda port: [*me, "--serve-ceiling", port], {},
             {}),
            ("(i) floor, no-op reset", ROOT, paths[0],
             lambda port: [*me, "--serve-floor", port, url, "--reset", "noop"], {}, {})]
        for tree in args.tree or [ROOT]:
            servers.append((f"node {tree.resolve()}", tree.resolve(), "/ready",
                            lambda port: [*node, port], {}, {}))
            if args.disclosure:
                servers.append((f"node {tree.resolve()}, no disclosure", tree.resolve(),
                                "/ready", lambda port: [*node, port], {},
                                {"GDI_NODE_DISCLOSURE": DISCLOSURE_OFF}))
        if args.token:
            aai_port = free_port()
            aai_url = f"http://{HOST}:{aai_port}"
            stack.enter_context(started(
                "aai", [sys.executable, "-m", "node.cli", "aai", "serve", "--host", HOST,
                        "--port", str(aai_port)], env, aai_port,
                "/.well-known/openid-configuration"))
            env["GDI_NODE_TRUSTED_ISSUERS"] = trust(aai_url)
            bearer = {"Authorization": f"Bearer {aai_token(aai_url, 'carol')}"}
            for tree in args.tree or [ROOT]:
                servers.append((f"node {tree.resolve()} + token", tree.resolve(), "/ready",
                                lambda port: [*node, port], bearer, {}))
        figures: dict[str, float] = {}
        for name, tree, probe, command, headers, extra in servers:
            port = free_port()
            figures[name] = callgrind(command(str(port)), tree,
                                      {**env, "PYTHONPATH": str(tree), **extra},
                                      port, probe, paths, args.requests, args.warmup, headers)
            print(f"{name:<40} {figures[name] / 1000:8.1f} k", flush=True)
        floor = figures["(i) floor, no-op reset"]
        for name, value in figures.items():
            if name.startswith("node"):
                print(f"{name}: {value / floor:.2f}x the floor's instructions")
        for tree in (args.tree or [ROOT]) if args.disclosure else []:
            on, off = (figures[f"node {tree.resolve()}{s}"] for s in ("", ", no disclosure"))
            print(f"node {tree.resolve()}: disclosure control costs {on / off - 1:+.1%} "
                  f"instructions per request (target <= +10%: "
                  f"{'met' if on / off <= 1.10 else 'NOT met'}; the server's alone, not "
                  "PostgreSQL's: bench/query.py's pg µs/req column has those)")

if __name__ == "__main__":
    main()
