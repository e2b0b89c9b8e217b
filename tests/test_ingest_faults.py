"""Faults around an ingest, with real processes: kill -9 of `gdi-node ingest` while its
workers load leaves no process, no database session and no open stdout behind, and its staging
table goes at the next cleanup; kill -9 of one of its workers, or the server ending its
sessions, fails it at once, leaving no process; a staging table whose dataset is being loaded
is left alone."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from beacon import store
from beacon.ingest import CLEANUP_SECONDS
from beacon.ingest_worker import CLOSE_SECONDS, ORPHAN_POLL_SECONDS, _close
from beacon.workdirs import PREFIX
from synthetic_data.vcf import VcfSpec, write_vcf
from tests.conftest import ROOT, node_database, write_vcf_text
from tests.test_cli import _env, gdi_node

DATASET = "GDI-FI-KILL-001"


def _descendants(pid: int) -> list[int]:
    """Its children, theirs and so on: the workers are the children of a fork server."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, wanted = [], {pid}
    while wanted:
        wanted = {child for child, parent in parents.items() if parent in wanted}
        found += sorted(wanted)
    return found


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ignores(pid: int, signum: int) -> bool:
    """Whether the process ignores the signal (its SIG_IGN mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    raise AssertionError(f"no SigIgn for {pid}")


async def _staging_tables(conn: asyncpg.Connection) -> list[str]:
    return [r[0] for r in await conn.fetch(
        "SELECT relname FROM pg_class WHERE relname LIKE 'variants\\_gdi\\_fi\\_kill%' "
        "AND relkind = 'r' AND NOT relispartition")]


async def _other_sessions(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND pid <> pg_backend_pid()")


async def _loading(db_url: str, tmp_path: Path, conn: asyncpg.Connection,
                   vcf: Path | None = None, workers: int = 2,
                   own_group: bool = False) -> subprocess.Popen[bytes]:
    """`gdi-node ingest` of `vcf` (a 200,000-record file) with `workers`, once they are
    copying; `own_group`: in a process group of its own, as a shell's foreground job is,
    which a terminal's Ctrl-C signals as a whole."""
    vcf = vcf or write_vcf(VcfSpec(tmp_path / "big.vcf.gz", records=200_000, samples=100,
                                   seed=5)).path
    # started with SIGHUP's and SIGINT's defaults, as a terminal's job is: a test run under
    # `nohup` (as a CI script may be) passes its ignored SIGHUP on, and one started in the
    # background by a shell without job control its ignored SIGINT, which the ingest
    # rightly keeps (Python installs no KeyboardInterrupt where SIGINT is ignored)
    previous = {signum: signal.signal(signum, signal.SIG_DFL)
                for signum in (signal.SIGHUP, signal.SIGINT)}
    try:
        ingest = subprocess.Popen([sys.executable, "-m", "node.cli", "ingest", str(vcf),
                                   "--dataset", DATASET, "--workers", str(workers)],
                                  env=_env(DATABASE_URL=db_url,
                                           TMPDIR=str(_temporary(tmp_path))),
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=own_group)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    deadline = time.monotonic() + 60
    # the workers, their fork server and the resource tracker
    while not (await _staging_tables(conn) and len(_descendants(ingest.pid)) >= workers + 2):
        assert ingest.poll() is None, ingest.stderr.read().decode()
        assert time.monotonic() < deadline, "the load never started"
        await asyncio.sleep(0.05)
    # every worker copying: they connect before the staging table exists, and a file this
    # size is loaded in well under a second on a fast machine
    while await _copying(conn) < workers:
        assert ingest.poll() is None, ingest.stderr.read().decode()
        assert time.monotonic() < deadline, "the workers never copied"   # (a busy machine)
        await asyncio.sleep(0.01)
    return ingest


def _temporary(tmp_path: Path) -> Path:
    """The ingest's temporary directory (TMPDIR): what a killed one leaves stays in the
    test's directory, where it can be seen."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return tmp_path / "tmp"


async def _copying(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                               "AND query LIKE 'COPY %'")


async def _nothing_left(conn: asyncpg.Connection, processes: list[int]) -> None:
    deadline = time.monotonic() + 20
    while [p for p in processes if _alive(p)] or await _other_sessions(conn):
        assert time.monotonic() < deadline, (
            [p for p in processes if _alive(p)], await _other_sessions(conn))
        await asyncio.sleep(0.1)


async def _failed_at_once(ingest: subprocess.Popen[bytes], conn: asyncpg.Connection,
                          processes: list[int]) -> bytes:
    """The ingest's stderr, once it has failed within a minute, leaving no process, session
    or staging table."""
    out, err = ingest.communicate(timeout=60)
    assert ingest.returncode == 1, err.decode()
    assert b"version" not in out
    await _nothing_left(conn, processes)
    assert await _staging_tables(conn) == []
    return err


async def test_kill_9_during_the_load_leaves_nothing_running_and_clean_drops_its_table(
        db_url, tmp_path):
    env = _env(DATABASE_URL=db_url, TMPDIR=str(_temporary(tmp_path)))
    conn = await asyncpg.connect(db_url)
    ingest = None
    try:
        ingest = await _loading(db_url, tmp_path, conn)
        children = _descendants(ingest.pid)   # two workers, their server, the resource tracker
        os.kill(ingest.pid, signal.SIGKILL)
        out, _ = ingest.communicate(timeout=20)   # EOF: nothing else holds its stdout
        assert b"version" not in out
        await _nothing_left(conn, children)
        left = await _staging_tables(conn)
        assert len(left) == 1
        # and its temporary files: the workers' logs (a prepared copy of a plain-gzip file,
        # as big as the file, would be there too)
        files = list(_temporary(tmp_path).glob(f"{PREFIX}*"))
        assert len(files) == 1 and (files[0] / "logs").is_dir()
        cleaned = gdi_node("db", "clean", env=env)
        assert cleaned.returncode == 0, cleaned.stderr
        assert cleaned.stdout.splitlines() == [f"dropped {left[0]}", f"removed {files[0]}"]
        assert await _staging_tables(conn) == []
        assert not files[0].exists()
        assert gdi_node("db", "clean", env=env).stdout.strip() == "nothing to clean"
    finally:
        if ingest is not None and ingest.poll() is None:
            ingest.kill()
        await conn.close()


async def test_a_worker_killed_during_the_load_fails_the_ingest_and_leaves_nothing(
        db_url, tmp_path):
    """A worker that dies (kill -9, the out-of-memory killer) fails the ingest at once: exit
    1 naming it, no process, session or staging table left. The first time, the ingest
    waited for good: it cancelled the other jobs while the pool was failing them, which
    ended the pool's manager thread (beacon/ingest.py `_abandon`)."""
    conn = await asyncpg.connect(db_url)
    ingest = None
    try:
        ingest = await _loading(db_url, tmp_path, conn)
        processes = _descendants(ingest.pid)
        workers = [p for p in processes if _parent(p) not in (ingest.pid, None)]
        assert len(workers) == 2, processes
        os.kill(workers[0], signal.SIGKILL)
        err = await _failed_at_once(ingest, conn, processes)
        assert b"terminated abruptly" in err and b"nothing was loaded" in err, err.decode()
    finally:
        if ingest is not None and ingest.poll() is None:
            ingest.kill()
        await conn.close()


async def test_sigterm_during_the_load_ends_the_ingest_as_ctrl_c_does(db_url, tmp_path):
    """SIGTERM, what a supervisor, `docker compose down` or `kill` sends, to the command
    alone: it stops as at Ctrl-C, exit 1, "Aborted!", its staging table dropped, no process
    or session left. Before, Python's default for SIGTERM ended it on the spot, exit -15,
    with the staging table left to the next ingest and multiprocessing's warning of leaked
    semaphores on stderr."""
    conn = await asyncpg.connect(db_url)
    ingest = None
    try:
        ingest = await _loading(db_url, tmp_path, conn)
        processes = _descendants(ingest.pid)
        os.kill(ingest.pid, signal.SIGTERM)
        err = await _failed_at_once(ingest, conn, processes)
        assert err.decode().strip() == "Aborted!", err.decode()
    finally:
        if ingest is not None and ingest.poll() is None:
            ingest.kill()
        await conn.close()


@pytest.fixture(scope="module")
def big_vcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file whose load lasts long enough to be interrupted mid-COPY, made once."""
    return write_vcf(VcfSpec(tmp_path_factory.mktemp("big") / "big.vcf.gz", records=200_000,
                             samples=100, seed=5)).path


@pytest.mark.parametrize(("signum", "group"), [(signal.SIGINT, True), (signal.SIGTERM, True),
                                               (signal.SIGINT, False), (signal.SIGHUP, True)],
                         ids=["ctrl-c", "sigterm-to-group", "sigint-alone", "hang-up"])
async def test_a_signal_to_the_ingest_or_its_group_mid_copy_ends_it_cleanly(
        db_url, tmp_path, big_vcf, signum, group):
    """Ctrl-C at a terminal signals the command's whole process group: the coordinator, the
    fork server and every worker. The ingest stops as at SIGTERM: exit 1 within seconds,
    "Aborted!" alone on stderr, its staging table dropped, no process or session left, the
    dataset's previous version still there and its lock free. Before, the workers took the
    SIGINT too: their COPYs broke off mid-stream and each hung closing its connection, the
    coordinator waited for them for good with the lock held (blocking its event loop, so
    that no further signal did anything); SIGTERM to the group killed the fork server, which
    broke the pool while its jobs were being cancelled (`Exception in thread ...
    InvalidStateError`, then 5 s before the workers were killed); and SIGINT to the
    coordinator alone logged `Future exception was never retrieved` with the workers'
    tracebacks. Whether a worker takes the signal itself is checked as such: the race it
    caused did not show every time. A closed terminal or ssh session (SIGHUP to the group)
    ended the ingest on the spot (exit 129), its staging table and temporary files left to
    the next ingest or `db clean` (found by a review, 2026-12-05)."""
    env = _env(DATABASE_URL=db_url)
    small_vcf = write_vcf(VcfSpec(tmp_path / "small.vcf.gz", records=1000, samples=3,
                                  seed=7)).path
    first = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, env=env)
    assert first.returncode == 0, first.stderr
    conn = await asyncpg.connect(db_url)
    ingest = None
    try:
        ingest = await _loading(db_url, tmp_path, conn, big_vcf, own_group=group)
        processes = _descendants(ingest.pid)
        # the fork server, the workers and multiprocessing's resource tracker leave the
        # signal to the coordinator, from the workers' start (beacon/fork_server_signals.py)
        assert [p for p in processes if not (_ignores(p, signal.SIGINT)
                                             and _ignores(p, signal.SIGTERM)
                                             and _ignores(p, signum))] == []
        assert not _ignores(ingest.pid, signum)
        began = time.monotonic()
        if group:
            os.killpg(ingest.pid, signum)
        else:
            os.kill(ingest.pid, signum)
        loop = asyncio.get_running_loop()
        out, err = await loop.run_in_executor(None, lambda: ingest.communicate(timeout=30))
        assert time.monotonic() - began < 10, err.decode()
        assert ingest.returncode == 1, err.decode()
        assert b"version" not in out
        assert err.decode().strip() == "Aborted!", err.decode()
        await _nothing_left(conn, processes)
        assert await _staging_tables(conn) == []
        assert await conn.fetchval("SELECT version FROM datasets WHERE id = $1", DATASET) == 1
        again = gdi_node("ingest", str(small_vcf), "--dataset", DATASET, env=env, timeout=60)
        assert again.returncode == 0, again.stderr
        assert await conn.fetchval("SELECT version FROM datasets WHERE id = $1", DATASET) == 2
    finally:
        if ingest is not None and ingest.poll() is None:
            if group:
                os.killpg(ingest.pid, signal.SIGKILL)
            else:
                ingest.kill()
            ingest.wait(timeout=10)
        await conn.close()


async def test_ctrl_c_stops_a_worker_mid_region_at_once(db_url, tmp_path):
    """A worker stops reading at its next progress report once its ingest is abandoned
    (beacon/ingest_worker.py `_reporter`). Before, the COPY the coordinator cancelled in the
    database went on taking the worker's rows until its region was read (asyncpg sends a
    whole iterable before it reads the server's error): a file of one region (plain text,
    not indexed) made every Ctrl-C wait CLEANUP_SECONDS, then kill the workers."""
    header = ("##fileformat=VCFv4.2\n##reference=GRCh38\n"
              "##contig=<ID=chr1,length=248956422>\n"
              '##INFO=<ID=AC,Number=A,Type=Integer,Description="AC">\n'
              '##INFO=<ID=AN,Number=1,Type=Integer,Description="AN">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    vcf = tmp_path / "one-region.vcf"
    with vcf.open("w") as out:
        out.write(header)
        for first in range(0, 1_000_000, 100_000):
            out.write("".join(f"chr1\t{10 * n + 1}\t.\tA\tG\t.\t.\tAC=1;AN=10\n"
                              for n in range(first, first + 100_000)))
    conn = await asyncpg.connect(db_url)
    ingest = None
    try:
        ingest = await _loading(db_url, tmp_path, conn, vcf, workers=1, own_group=True)
        processes = _descendants(ingest.pid)
        began = time.monotonic()
        os.killpg(ingest.pid, signal.SIGINT)
        loop = asyncio.get_running_loop()
        out, err = await loop.run_in_executor(None, lambda: ingest.communicate(timeout=60))
        assert time.monotonic() - began < CLEANUP_SECONDS, err.decode()
        assert ingest.returncode == 1, err.decode()
        assert err.decode().strip() == "Aborted!", err.decode()
        await _nothing_left(conn, processes)
        assert await _staging_tables(conn) == []
    finally:
        if ingest is not None and ingest.poll() is None:
            os.killpg(ingest.pid, signal.SIGKILL)
            ingest.wait(timeout=10)
        await conn.close()


async def test_a_worker_ending_aborts_a_connection_its_server_does_not_close(db_url):
    """A worker ending closes its connection (beacon/ingest_worker.py `_close`), and a server
    that does not answer the close (hung, or a session left mid-COPY) has it aborted within
    CLOSE_SECONDS. Before, the worker waited for good, and the coordinator for the worker."""
    from tests.test_hardening import Relay
    relay = Relay(db_url)
    await relay.start()
    loop = asyncio.new_event_loop()             # a worker's own, run in a thread here
    try:
        conn = await asyncio.to_thread(loop.run_until_complete, asyncpg.connect(relay.url))
        relay.freeze()
        began = time.monotonic()
        await asyncio.wait_for(asyncio.to_thread(_close, loop, conn), CLOSE_SECONDS + 10)
        assert time.monotonic() - began < CLOSE_SECONDS + 2
        assert conn.is_closed()
    finally:
        relay.thaw()
        await relay.close()
        loop.close()


async def test_the_server_ending_a_copy_mid_load_fails_the_ingest_at_once(db_url, tmp_path):
    """PostgreSQL ending a worker's session during its COPY (a failover, an administrator's
    pg_terminate_backend, a backend that crashed) fails the ingest at once: exit 1 saying
    so, no process left. Before, a worker whose socket was full when its session ended
    waited for good for it to take more rows (asyncpg 0.32's COPY; beacon/copy_in.py), and
    the ingest with it. The COPY's server process is stopped first, so that
    the socket fills, as a busy server's does: a region of a million sites is one COPY of
    megabytes, more than a socket holds."""
    header = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
              '##INFO=<ID=AC,Number=A,Type=Integer,Description="AC">\n'
              '##INFO=<ID=AN,Number=1,Type=Integer,Description="AN">\n'
              '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="hom">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    lines = "".join(f"chr1\t{position}\t.\tA\tG\t.\t.\tAC=1;AN=10;nhomalt=0\n"
                    for position in range(1, 1_000_001))
    vcf = write_vcf_text(tmp_path / "one-region.vcf", header + lines)
    conn = await asyncpg.connect(db_url)
    ingest = None
    try:
        ingest = await _loading(db_url, tmp_path, conn, vcf, workers=1)
        processes = _descendants(ingest.pid)
        copying = await conn.fetchval("SELECT pid FROM pg_stat_activity WHERE datname = "
                                      "current_database() AND query LIKE 'COPY %'")
        assert copying is not None, "the COPY was over before it could be stopped"
        os.kill(copying, signal.SIGSTOP)
        try:
            await asyncio.sleep(1.0)
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", copying)
        finally:
            os.kill(copying, signal.SIGCONT)
        err = await _failed_at_once(ingest, conn, processes)
        assert b"the server ended the session during the COPY" in err, err.decode()
    finally:
        if ingest is not None and ingest.poll() is None:
            ingest.kill()
        await conn.close()


async def test_a_staging_table_of_a_running_ingest_is_left_alone(db_url, pool):
    loading, idle = await pool.acquire(), await pool.acquire()
    try:
        running = await store.create_staging(loading, DATASET)
        abandoned = await store.create_staging(idle, "GDI-FI-KILL-002")
        async with store.dataset_lock(loading, DATASET):
            assert await store.drop_abandoned_staging(idle) == [abandoned]
        assert await store.drop_abandoned_staging(idle) == [running]
    finally:
        await pool.release(loading)
        await pool.release(idle)


@pytest.mark.parametrize("pidfd", ["pidfd", "polling"])
def test_a_worker_ends_when_its_coordinator_does(pidfd):
    """A worker watches its coordinator (beacon/ingest_worker.py `_die_with`): through a
    pidfd on Linux 5.3 and later, else by asking every ORPHAN_POLL_SECONDS, the path a kernel
    without pidfd_open takes (here by making it unavailable). Either way the worker ends
    soon after the coordinator, here a process that is killed."""
    coordinator = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    unavailable = "" if pidfd == "pidfd" else (
        "def missing(pid):\n    raise OSError(38, 'Function not implemented')\n"
        "os.pidfd_open = missing\n")
    worker = subprocess.Popen(
        [sys.executable, "-c", "import os, time\n" + unavailable +
         "from beacon.ingest_worker import _die_with\n"
         f"_die_with({coordinator.pid})\n"
         "print('watching', flush=True)\ntime.sleep(60)\nos._exit(3)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "watching\n"
        time.sleep(0.2)
        assert worker.poll() is None                     # its coordinator still runs
        coordinator.kill()
        coordinator.wait()
        began = time.monotonic()
        assert worker.wait(timeout=10) == 1
        assert time.monotonic() - began < ORPHAN_POLL_SECONDS + 2
    finally:
        for process in (coordinator, worker):
            if process.poll() is None:
                process.kill()
                process.wait()


async def test_sigterm_while_the_database_does_not_answer_ends_the_ingest(db_url, tmp_path):
    """SIGTERM (or Ctrl-C) to an ingest whose database server stopped answering mid-load
    (hung, SIGSTOPped, behind a network that drops its packets): it stops within seconds,
    exit 1, saying what it could not clean up; once the server answers again nothing of
    its is left but the staging table, which `gdi-node db clean` drops. Before, it waited for
    good: the cleanup's statements and the connections' graceful close waited for the
    server."""
    from tests.test_hardening import Relay
    relay = Relay(db_url)
    await relay.start()
    conn = await asyncpg.connect(db_url)
    ingest = None
    try:
        ingest = await _loading(relay.url, tmp_path, conn)
        processes = _descendants(ingest.pid)
        relay.freeze()
        await asyncio.sleep(0.5)
        began = time.monotonic()
        os.kill(ingest.pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        out, err = await loop.run_in_executor(None, lambda: ingest.communicate(timeout=60))
        # the COPYs' cancel, then the jobs, each given CLEANUP_SECONDS
        assert time.monotonic() - began < 2 * CLEANUP_SECONDS + 5, err.decode()
        assert ingest.returncode == 1, err.decode()
        assert b"version" not in out and b"Aborted!" in err, err.decode()
        assert b"did not answer" in err and b"could not drop" in err, err.decode()
        relay.thaw()
        await relay.close()
        await _nothing_left(conn, processes)
        cleaned = gdi_node("db", "clean", env=_env(DATABASE_URL=db_url))
        assert cleaned.returncode == 0, cleaned.stderr
        assert await _staging_tables(conn) == []
    finally:
        if ingest is not None and ingest.poll() is None:
            ingest.kill()
        relay.thaw()
        await relay.close()
        await conn.close()


def test_a_full_disk_while_copying_a_plain_gzip_file_is_said_as_such(db_url, tmp_path):
    """A plain-gzip VCF is copied uncompressed to the temporary directory to be bgzipped:
    a write failing there (a full disk; RLIMIT_FSIZE here, which fails a write as a full
    disk does, with another errno) names that copy and says to free space or set TMPDIR.
    It was caught with the reading's errors, taken for a corrupt file, and the VCF refused
    as "not bgzip-compressed" (found by a review, 2026-12-05)."""
    import gzip
    import resource
    with gzip.open(write_vcf(VcfSpec(tmp_path / "b.vcf.gz", records=20_000, samples=10,
                                     seed=3)).path) as bgzipped:
        text = bgzipped.read()
    plain = tmp_path / "plain.vcf.gz"
    plain.write_bytes(gzip.compress(text))

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(text) // 2, len(text) // 2))
    result = subprocess.run([sys.executable, "-m", "node.cli", "ingest", str(plain),
                             "--dataset", "GDI-FI-FULL-001"],
                            env=_env(DATABASE_URL=db_url, TMPDIR=str(_temporary(tmp_path))),
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            preexec_fn=limited, check=False)
    assert result.returncode == 1, result.stderr
    assert "prepared/plain.vcf: could not write this uncompressed copy of the plain-gzip " \
           "file (File too large): free space here, or set TMPDIR" in result.stderr
    assert "Traceback" not in result.stderr


async def test_an_ingest_outlives_a_server_ending_idle_sessions(db_url, tmp_path):
    """The coordinator holds the dataset's lock on a session that waits through the whole
    load while the workers copy: a server ending idle sessions (idle_session_timeout, set
    here for the database) ended it, and the ingest failed after its load, at the index
    build ("connection is closed"; found by a review, 2026-12-05). Its sessions are never
    ended for idling now."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET "
                           "idle_session_timeout = ''300ms''', current_database()); END $$")
        vcf = write_vcf(VcfSpec(tmp_path / "idle.vcf.gz", records=200_000, samples=20,
                                seed=3)).path
        result = gdi_node("ingest", str(vcf), "--dataset", "GDI-FI-IDLE-001", "--workers", "1",
                          env=_env(DATABASE_URL=db_url, TMPDIR=str(_temporary(tmp_path))),
                          timeout=600)
        assert result.returncode == 0, result.stderr
    finally:
        await conn.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET "
                           "idle_session_timeout', current_database()); END $$")
        await conn.close()


def test_workers_the_server_refuses_are_said_to_be_refused(db_url, tmp_path):
    """A worker whose connection the server refuses (here a role allowed 3 connections: two
    workers started at once and the coordinator take them, the six more `--workers 8`
    starts as the regions come are refused) fails its jobs saying so, and what to do.
    Refused in the pool's initializer, it broke the pool: "A child process terminated
    abruptly", as for a worker the OOM killer ended (found by a review, 2026-12-05)."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit
    role = f"limited_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()
    # not a superuser, whom no connection limit binds: the database's owner instead
    asyncio.run(admin(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 3; DO $$ BEGIN EXECUTE "
                      f"format('ALTER DATABASE %I OWNER TO {role}', current_database()); "
                      "END $$"))
    try:
        parts = urlsplit(db_url)
        limited = urlunsplit(parts._replace(
            netloc=parts.netloc.replace(parts.username or "", role, 1)
            if parts.username else f"{role}@{parts.netloc}"))
        vcf = write_vcf(VcfSpec(tmp_path / "many.vcf.gz", records=20_000, samples=4,
                                seed=3)).path
        result = gdi_node("ingest", str(vcf), "--dataset", "GDI-FI-LIMIT-001", "--workers",
                          "8", env=_env(DATABASE_URL=limited,
                                        TMPDIR=str(_temporary(tmp_path))), timeout=300)
        assert result.returncode == 1, result.stderr
        assert "a worker could not connect to the database (TooManyConnectionsError" in \
            result.stderr, result.stderr
        assert "ask for fewer with --workers" in result.stderr
        assert "terminated abruptly" not in result.stderr
    finally:
        asyncio.run(admin("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I OWNER TO %I', "
                          "current_database(), current_user); END $$; "
                          f"DROP OWNED BY {role}; DROP ROLE {role}"))



async def test_an_interrupt_once_the_version_is_in_place_says_so(pg_server_url, tmp_path,
                                                                monkeypatch):
    """An interrupt (Ctrl-C, SIGTERM) that cancels the ingest after its swap committed, while
    it reads what the report says of the people other datasets share: the new version is in
    place and answers, and was said as "Aborted!", exit 1, which reads as the all-or-nothing
    ingest's "nothing changed" (found by a review, 2026-12-06). The command says which
    version was put in place."""
    from auth.access import AccessLevel
    from beacon import individuals_store
    from beacon.assemblies import GRCH38
    from beacon.ingest import IngestRequest, InterruptedAfterSwap, ingest
    vcf = write_vcf(VcfSpec(tmp_path / "a.vcf.gz", records=50, samples=4, seed=3)).path
    request = IngestRequest(vcf, "GDI-FI-SYN-001", GRCH38, AccessLevel.PUBLIC,
                            "GDI-FI-SYN-001", workers=1)

    async def interrupted(*args: object) -> None:
        raise asyncio.CancelledError
    async with node_database(pg_server_url) as db_url:
        first = await ingest(db_url, request)
        monkeypatch.setattr(individuals_store, "sharing", interrupted)
        with pytest.raises(InterruptedAfterSwap) as raised:
            await ingest(db_url, request)
        assert raised.value.version == first.version + 1
        assert str(raised.value).startswith(
            f"GDI-FI-SYN-001: interrupted after version {first.version + 1} was put in place")
        conn = await asyncpg.connect(db_url)
        try:
            assert await conn.fetchval(
                "SELECT version FROM datasets WHERE id = 'GDI-FI-SYN-001'") == first.version + 1
            assert await _staging_tables(conn) == []
        finally:
            await conn.close()
