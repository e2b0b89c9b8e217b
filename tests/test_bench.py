"""The benchmark scripts as docs/benchmarks.md runs them, in their smallest configuration: the
project's performance claims come only from them, so they must run, measure what they say,
and clean up after themselves. Real subprocesses, a real PostgreSQL, real HTTP on 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest

from tests.conftest import write_vcf_text

ROOT = Path(__file__).resolve().parent.parent
# bench/ingest.py's baselines are bcftools pipelines, its memory figure GNU time's
NO_PIPELINES = shutil.which("bcftools") is None or not Path("/usr/bin/time").is_file()


def bench(script: str, *args: str, timeout: float = 240,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], check=False,
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def rows(out: str, prefix: str) -> list[list[str]]:
    """The table lines of `prefix`'s rows, split at runs of spaces after the row's name."""
    return [line[len(prefix):].split() for line in out.splitlines() if line.startswith(prefix)]


async def bench_databases(server_url: str) -> list[str]:
    conn = await asyncpg.connect(server_url)
    try:
        return [r["datname"] for r in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'gdi\\_bench\\_%'")]
    finally:
        await conn.close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
async def test_federation_rows_measure_answers_and_its_databases_are_dropped(
        pg_server_url, tmp_path):
    done = bench("federation.py", "--records", "2000", "--requests", "400", "--connections",
                 "8", "--repeat", "1", "--time-cap", "5", "--workdir", str(tmp_path),
                 "--database-url", pg_server_url)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = rows(done.stdout, "node ") + rows(done.stdout, "network (3 peers)")
    assert len(measured) == 8, done.stdout        # each row, and again as the median
    for columns in measured:                      # req/s p50 p99 errors hits srv pg load q/trip
        assert columns[-6] == "0", done.stdout    # a refusal is not what a row measures
    assert await bench_databases(pg_server_url) == []


def path_without(tool: str, tmp_path: Path) -> str:
    """A PATH holding everything the machine's does but `tool`: links, one directory."""
    bare = tmp_path / "bin"
    bare.mkdir()
    for directory in reversed(os.environ["PATH"].split(os.pathsep)):
        if os.path.isdir(directory):
            for entry in os.scandir(directory):
                if entry.name != tool:
                    (bare / entry.name).unlink(missing_ok=True)
                    (bare / entry.name).symlink_to(entry.path)
    return str(bare)


@pytest.mark.parametrize(("script", "args", "tool"), [
    ("query.py", ["--records", "2000", "--client", "wrk"], "wrk"),
    ("query.py", ["--records", "2000", "--only", "mixed"], "wrk"),
    ("federation.py", ["--records", "2000", "--client", "wrk"], "wrk"),
    ("federation.py", ["--records", "2000", "--instructions"], "valgrind"),
    ("federation.py", ["--overhead", "--parts", "instructions"], "callgrind_control"),
    ("individuals.py", ["--quick"], "wrk"),
    ("individuals.py", ["--quick", "--instructions"], "valgrind"),
    ("instructions.py", ["--records", "2000"], "valgrind"),
    ("scale.py", ["--quick"], "wrk"),
    ("ingest.py", ["--records", "2000"], "bcftools"),
])
def test_a_missing_tool_is_named_before_anything_runs(script, args, tool, tmp_path):
    work = tmp_path / "work"
    done = bench(script, *args, "--workdir", str(work), timeout=60,
                 env={"PATH": path_without(tool, tmp_path)})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"{tool} not found" in done.stderr
    assert not work.exists() or not any(work.iterdir())     # nothing generated first


@pytest.mark.parametrize(("script", "option", "value"), [
    ("ingest.py", "--repeat", "0"),
    ("ingest.py", "--records", "0"),
    ("ingest.py", "--samples", "-1"),
    ("query.py", "--connections", ","),
    ("query.py", "--repeat", "0"),
    ("federation.py", "--requests", "0"),
    ("federation.py", "--frozen-timeout", "-1"),
    ("individuals.py", "--connections", "0"),
    ("instructions.py", "--requests", "0"),
    ("scale.py", "--sizes", "0"),
    ("scale.py", "--time-cap", "0"),
    ("scale.py", "--setting", "work_mem"),
    ("ranges.py", "--queries", "0"),
    ("handler_steps.py", "--rounds", "0"),
    ("instructions.py", "--tree", "/nonexistent"),
    ("federation.py", "--tree", "bench"),
    ("individuals.py", "--tree", "/nonexistent"),
    *((script, "--database-url", "postgresql://nobody@127.0.0.1:1/none") for script in (
        "ingest.py", "query.py", "federation.py", "individuals.py", "instructions.py",
        "scale.py", "ranges.py", "handler_steps.py")),
])
def test_a_bad_value_is_refused_naming_its_option_before_anything_runs(script, option, value, tmp_path):
    work = tmp_path / "work"
    done = bench(script, option, value, "--workdir", str(work), timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"argument {option}" in done.stderr
    assert not work.exists()


def processes_in(directory: Path, besides: int) -> list[psutil.Process]:
    """Live processes whose command line names `directory` (the embedded PostgreSQL's data
    directory is in it), but `besides`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if process.pid != besides and any(str(directory) in part
                                           for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.mark.skipif(NO_PIPELINES, reason="bcftools or GNU time not installed (.ci/run has them)")
def test_a_terminated_run_stops_its_postgresql_and_removes_its_data(tmp_path):
    run = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "ingest.py"), "--records", "2000", "--samples",
         "10", "--workdir", str(tmp_path / "work")], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "work" / "parse-pysam.log").exists():   # the server is up
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert any("postgres" in process.name() for process in processes_in(tmp_path, run.pid))
        run.send_signal(signal.SIGTERM)        # as `timeout` or a cancelled job ends it
        run.wait(60)
        deadline = time.monotonic() + 15
        while (left := processes_in(tmp_path, run.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == []
        assert list(tmp_path.glob("gdi-bench-pg-*")) == []
    finally:
        run.kill()
        for process in processes_in(tmp_path, run.pid):   # what this test started, by pid
            process.send_signal(signal.SIGINT)             # PostgreSQL's fast shutdown


def test_handler_steps_measures_every_step_of_the_node_as_it_is_now(db_url, tmp_path):
    done = bench("handler_steps.py", "--records", "2000", "--requests", "400", "--rounds", "1",
                 "--workdir", str(tmp_path), "--database-url", db_url)
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout.split("\nstep ", 1)[1].splitlines()[1:]
    assert [line[:14].strip() for line in table] == [
        "floor", "+ fast GET", "+ full GET", "+ datasets", "+ answer", "node handler"]


@pytest.mark.skipif(NO_PIPELINES, reason="bcftools or GNU time not installed (.ci/run has them)")
def test_ingest_pipelines_load_the_rows_the_node_loads(tmp_path):
    done = bench("ingest.py", "--records", "2000", "--samples", "10", "--workdir", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = {line[:14].strip(): line[14:].split()[0] for line in done.stdout.splitlines()
              if line.startswith("(")}
    # 10 samples leave some ALTs carried by nobody (AC 0), which the node does not load
    assert loaded["(b')"] == loaded["(c)"] == loaded["(a) read_rows"], done.stdout
    assert "target (c)/(b) >= 1.20" in done.stdout and "target (c)/(b') >= 0.60" in done.stdout


@pytest.mark.skipif(NO_PIPELINES, reason="bcftools or GNU time not installed (.ci/run has them)")
def test_a_relative_workdir_is_where_the_script_was_started(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--records", "2000",
                           "--samples", "10", "--workdir", "out"], cwd=tmp_path, check=False,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "ingest.maxrss").is_file()
    assert not (ROOT / "out").exists()


def test_the_mixed_row_is_not_run_without_its_flood(tmp_path):
    done = bench("query.py", "--only", "mixed", "--client", "python", "--workdir",
                 str(tmp_path / "work"), timeout=60)
    assert done.returncode == 2
    assert "--only mixed: the flood is sent by wrk" in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_options_given_beside_quick_are_kept(tmp_path):
    done = bench("individuals.py", "--quick", "--records", "3000", "--individuals", "100",
                 "--requests", "60", "--time-cap", "5", "--workdir", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3,000 variants x 100 individuals" in done.stdout
    assert "60 requests per row after a warm-up, median of 1" in done.stdout


@pytest.mark.parametrize("queries", ["0", "-3"])
def test_a_defence_is_not_judged_on_no_questions(queries):
    done = bench("membership_defences.py", "--seeds", "1", "--only", "smooth 6", "--queries",
                 queries, timeout=60)
    assert done.returncode == 2
    assert "argument --queries: must be at least 1" in done.stderr
    assert "holds" not in done.stdout


def test_the_parse_child_imports_only_what_it_measures(tmp_path):
    """(a)'s max RSS is the parse's: the helpers the parent imports from bench/query.py would
    add theirs to it."""
    vcf = write_vcf_text(tmp_path / "one.vcf", "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
                         '##INFO=<ID=AC,Number=A,Type=Integer,Description="AC">\n'
                         '##INFO=<ID=AN,Number=1,Type=Integer,Description="AN">\n'
                         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                         "chr1\t100\t.\tA\tG\t.\tPASS\tAC=1;AN=2\n")
    done = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "bench" / "ingest.py"),
                           "--parse", "pysam", str(vcf)], cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"rows": 1' in done.stdout
    assert "bench.query" not in done.stderr
