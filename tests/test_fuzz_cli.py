"""`gdi-node`'s options fuzzed within bounds: every command that does not serve, with its
options and arguments given values an operator might mistype or a script might pass (empty,
negative, huge, not a number, a path that is a directory or a binary file or absent, a URL
that is not one, a date that is not one, text that looks like an option), in-process
through click's test runner.

The oracle is what an operator may rely on whatever they type:
- the command ends with exit code 0, 1 or 2, never an exception the command line does not
  word (a traceback);
- what it prints says what is wrong in the node's words (or click's, for an option), never
  Python's.

Nothing leaves 127.0.0.1: the node's and the catalogue's databases, the catalogue and the
AAI are given as ports nothing listens on, so a command that gets past its options is
refused at once, in one line. The servers (`serve`, `catalogue serve`, `aai serve`) are left
out: a valid set of options would start one; tests/test_cli.py holds their options' checks.
Seeded and bounded like tests/test_fuzz_http.py (GDI_FUZZ_SEED, GDI_FUZZ_ROUNDS).
"""
from __future__ import annotations

import asyncio
import random
from pathlib import Path

from click.testing import CliRunner

from node.cli import main
from tests.conftest import free_port
from tests.test_fuzz_http import PYTHON_WORDS, ROUNDS, fuzz_rounds

ROUND_SECONDS = 30               # one command, at most; it answers in well under one


def _values(folder: Path, dead: str) -> list[str]:
    """What an option's value or an argument may be."""
    return ["", " ", "-1", "0", "1", "20", "99999999999999999999", "1.5", "nan", "inf",
            "x" * 3000, "é", "\u202e", "\x7f", "--json", "-v", "GDI-FI-SYN-001", "FI",
            "PUBLIC", "public", "GRCh38", "hg19", "2026-13-45", "2026-01-01",
            "2026-01-01T00:00:00+99:00", "token https://aai.example bob", "address 10.0.0.1",
            dead, "http://[::1", "not a url", "ftp://127.0.0.1/", "/nonexistent/file",
            str(folder), str(folder / "binary.gz"), str(folder / "meta.json"),
            str(folder / "people.csv"), str(folder / "empty.vcf"), "../../etc/passwd"]


# command words, then (option, takes a value) of each; None: a positional argument
COMMANDS: list[tuple[list[str], list[tuple[str | None, bool]]]] = [
    (["ingest"], [(None, True), ("--dataset", True), ("--assembly", True),
                  ("--access-level", True), ("--metadata", True), ("--title", True),
                  ("--skip-invalid", False), ("--workers", True), ("--individuals", True)]),
    (["remove"], [(None, True), ("--yes", False)]),
    (["datasets"], [("--json", False)]),
    (["db", "status"], []), (["db", "migrate"], []), (["db", "clean"], []),
    (["audit", "list"], [("--since", True), ("--caller", True), ("--dataset", True),
                         ("--limit", True), ("--json", False)]),
    (["audit", "summary"], [("--since", True), ("--json", False)]),
    (["catalogue", "search"], [(None, True), ("--url", True), ("--country", True),
                               ("--access-rights", True), ("--limit", True),
                               ("--json", False)]),
    (["catalogue", "publish"], []), (["catalogue", "harvest"], []),
    (["aai", "token"], [("--user", True), ("--password", True), ("--url", True)]),
]


def _round(rng: random.Random, runner: CliRunner, folder: Path, dead: str,
           env: dict[str, str]) -> str | None:
    words, options = rng.choice(COMMANDS)
    values = _values(folder, dead)
    # not -vv: DEBUG logs a driver's traceback on purpose
    args = [rng.choice(["--config", "-v"])] if rng.random() < 0.1 else []
    if args == ["--config"]:
        args.append(rng.choice(values))
    args += words
    for name, takes in rng.sample(options, k=rng.randint(0, len(options))):
        if name is not None:
            args.append(name)
        if takes:
            args.append(rng.choice(values))
    if words == ["catalogue", "search"] or words == ["aai", "token"]:
        # only 127.0.0.1, where nothing listens, or no URL at all
        args = [dead if a.startswith(("http://", "ftp://")) and a != "http://[::1" else a
                for a in args]
        if "--url" not in args:
            args += ["--url", dead]
    result = runner.invoke(main, args, env=env, catch_exceptions=True)
    said = f"{result.stdout}{result.stderr}"
    shown = f"gdi-node {' '.join(a[:60] for a in args)!s}: exit {result.exit_code}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"{shown}: {type(result.exception).__name__}: {result.exception!s:.300}"
    if result.exit_code not in (0, 1, 2):
        return f"{shown}: exit code {result.exit_code}: {said[-300:]!r}"
    if PYTHON_WORDS.search(said):
        return f"{shown}: in Python's words: {said[-400:]!r}"
    return None


async def test_fuzzed_command_lines_end_in_the_nodes_words(tmp_path, monkeypatch):
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "binary.gz").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe" * 50)
    (folder / "meta.json").write_text('{"identifier": "GDI-FI-SYN-001", "title": "T"}')
    (folder / "people.csv").write_text("id,sex\nS1,female\n")
    (folder / "empty.vcf").write_text("")
    dead = f"http://127.0.0.1:{free_port()}"
    dead_database = f"postgresql://gdi@127.0.0.1:{free_port()}/gdi"
    env = {"GDI_NODE_DATABASE_URL": dead_database, "GDI_CATALOGUE_DATABASE_URL": dead_database,
           "GDI_NODE_DATA_DIR": str(tmp_path / "home"), "GDI_NODE_CATALOGUE_URL": dead,
           "GDI_NODE_CONFIG": "", "GDI_CATALOGUE_CONFIG": "", "DATABASE_URL": ""}
    for name in ("GDI_NODE_DISCLOSURE", "GDI_NODE_PEERS", "GDI_NODE_TRUSTED_ISSUERS"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    async def one(rng: random.Random) -> str | None:
        # in a thread of its own: the commands run their own event loops
        return await asyncio.wait_for(asyncio.to_thread(
            _round, rng, runner, folder, dead, env), ROUND_SECONDS)

    await fuzz_rounds("cli", ROUNDS, one, seconds=90)
