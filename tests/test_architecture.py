"""The layering of docs/design/architecture.md holds: import-linter's contracts in
pyproject.toml (the shell `node` on top; `beacon` and `catalogue` independent; `auth` below
them; no `aiohttp.web` in a core), and the cores reach the shell by no other route."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORES = ("auth", "beacon", "catalogue", "synthetic_data")


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_no_core_mentions_the_shell_or_aiohttp_web_even_lazily():
    """What import-linter cannot see: imports inside strings or behind importlib."""
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for core in CORES for path in sorted((ROOT / core).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "aiohttp.web" in line or "from aiohttp import web" in line
        or "import_module(\"node" in line or line.strip().startswith(("from node", "import node"))]
    assert offending == []


def _loaded(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter holds once it has run `code`."""
    probe = f"{code}; import sys; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.split()


def test_an_ingest_worker_imports_only_the_reader_and_the_copy():
    """Each ingest worker is a fresh interpreter (spawn): what its module imports, every
    ingest pays per worker, however small the file. The query models (pydantic), the
    disclosure arithmetic (numpy) and the HTTP stack are the coordinator's, not the worker's."""
    assert _loaded("import beacon.ingest_worker", (
        "pydantic", "numpy", "aiohttp", "beacon.request", "beacon.answer", "beacon.individuals",
        "node")) == []


def test_request_parsing_loads_no_vcf_reader_or_database_driver():
    """Parsing a request trims a sequence query's alleles as ingest trims a VCF's, by one
    function (beacon/alleles.py): it came from the VCF reader, whose import loaded pysam and
    asyncpg (the store) into everything that only parses a query."""
    assert _loaded("import beacon.request",
                   ("pysam", "asyncpg", "beacon.vcf", "beacon.store")) == []


def test_the_ingest_command_loads_no_http_client_rdf_or_accounting_before_its_load():
    """`gdi-node ingest` starts by importing the CLI, its settings and the ingest: at 1M
    records that start is a tenth of the command's time, and it used to load aiohttp (the
    trusted issuers' discovery), rdflib (a settings check's FDP path) and numpy with the
    query model (the individuals' answers, the losses), a third of a second in all, none of
    which an ingest uses before it swaps the version in (docs/benchmarks.md). Nor yarl (the
    settings' URL checks, 15 ms) or tomllib (no configuration file read, 7 ms)."""
    assert _loaded("import node.cli, node.ingest_request, node.progress, node.database, "
                   "beacon.ingest; from node.settings import Settings; Settings()", (
                       "aiohttp", "yarl", "tomllib", "rdflib", "numpy", "beacon.losses",
                       "beacon.answer", "beacon.individuals", "catalogue.fdp")) == []


def test_the_coordinator_never_imports_what_makes_the_fork_server_ignore_ctrl_c():
    """beacon/fork_server_signals.py ignores SIGINT and SIGTERM where it is imported: in the
    ingest's fork server, and so its workers, not in the command that starts the ingest."""
    assert _loaded("import node.cli.beacon_node, beacon.ingest, beacon.fork_server; "
                   "beacon.fork_server.start()", ("beacon.fork_server_signals",)) == []


def test_the_console_script_rerun_by_a_spawned_worker_imports_no_cli():
    """multiprocessing's spawn runs the parent's main script again in each worker, as
    `__mp_main__` (what an ingest's workers do under `gdi-node ingest`): the installed
    `gdi-node` script must then import its small entry module, not the CLI and its
    settings, pydantic and aiohttp."""
    script = Path(sys.executable).parent / "gdi-node"      # beside the interpreter: a venv
    assert script.is_file(), f"{script}: the package is not installed (pip install -e .)"
    assert _loaded(f"import runpy; runpy.run_path({str(script)!r}, run_name='__mp_main__')",
                   ("node.cli", "node.settings", "pydantic", "aiohttp")) == []
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
    assert version.stdout.startswith("gdi-node, version ")
