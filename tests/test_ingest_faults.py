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
from beacon.ingest_worker import ORPHAN_POLL_SECONDS
from synthetic_data.vcf import VcfSpec, write_vcf
from tests.conftest import ROOT, write_vcf_text
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


async def _staging_tables(conn: asyncpg.Connection) -> list[str]:
    return [r[0] for r in await conn.fetch(
        "SELECT relname FROM pg_class WHERE relname LIKE 'variants\\_gdi\\_fi\\_kill%' "
        "AND relkind = 'r' AND NOT relispartition")]


async def _other_sessions(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND pid <> pg_backend_pid()")


async def _loading(db_url: str, tmp_path: Path, conn: asyncpg.Connection,
                   vcf: Path | None = None, workers: int = 2) -> subprocess.Popen[bytes]:
    """`gdi-node ingest` of `vcf` (a 200,000-record file) with `workers`, once they are
    copying."""
    vcf = vcf or write_vcf(VcfSpec(tmp_path / "big.vcf.gz", records=200_000, samples=100,
                                   seed=5)).path
    ingest = subprocess.Popen([sys.executable, "-m", "node.cli", "ingest", str(vcf),
                               "--dataset", DATASET, "--workers", str(workers)],
                              env=_env(DATABASE_URL=db_url), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    env = _env(DATABASE_URL=db_url)
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
        cleaned = gdi_node("db", "clean", env=env)
        assert cleaned.returncode == 0, cleaned.stderr
        assert cleaned.stdout.strip() == f"dropped {left[0]}"
        assert await _staging_tables(conn) == []
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
