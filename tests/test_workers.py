"""`gdi-node serve --workers N` (node/cli/supervisor.py) as operators run it: real processes on
one port over a real PostgreSQL. Both workers answer; a killed worker is replaced while the
port keeps answering; SIGTERM to the supervisor stops every worker, exit code 0, no process
left; workers that keep dying stop the server with an error; workers of a supervisor killed
outright stop too; a worker replaced while the database is down answers 503 until it is back,
and the node stays up; a query budget is one budget whichever worker answers; `--workers 1`
is one process, no supervisor.

Which worker answered is read from the access log (JSON lines carry each worker's `pid`);
the workers are the supervisor's children in /proc (Linux)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict

from auth.access import AccessLevel
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from node.cli import supervisor
from node.cli.supervisor import Supervisor
from node.http.server import AFTER_DRAIN_SECONDS, SHUTDOWN_SECONDS
from tests.conftest import ROOT, free_port, node_database, write_vcf_text
from tests.test_budget_and_audit import (
    BUDGET,
    COMMON,
    DATASET,
    DISCLOSURE,
    RARE_COST,
    VCF,
)
from tests.test_cli import _env, gdi_node
from tests.test_hardening import Relay

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads the workers from /proc")


@pytest.fixture
async def loaded(pg_server_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with the node's schema and one small PUBLIC dataset; its URL."""
    async with node_database(pg_server_url) as url:
        path = write_vcf_text(tmp_path / "workers.vcf", VCF)
        await ingest(url, IngestRequest(path, DATASET, GRCH38, AccessLevel.PUBLIC, "Workers",
                                        workers=1))
        yield url


class Server:
    """One `gdi-node serve` this test started (stopped by its PID), logging JSON to a file;
    on the embedded database when `url` is None."""

    def __init__(self, url: str | None, directory: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = directory / f"serve-{self.port}.log"
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "node.cli", "serve", "--port", str(self.port), *args],
                env=_env(**({} if url is None else {"DATABASE_URL": url}),
                         GDI_NODE_DATA_DIR=str(directory / "node"),
                         GDI_NODE_LOG_FORMAT="json", **env),
                cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)

    async def ready(self, deadline: float = 60) -> None:
        end = time.monotonic() + deadline
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < end and self.process.poll() is None:
                try:
                    async with session.get(f"{self.base}/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"not serving within {deadline} s (exit code "
                             f"{self.process.poll()}):\n{self.log.read_text()[-3000:]}")

    def workers(self, count: int, deadline: float = 60) -> set[int]:
        """The supervisor's `count` living children, once it has that many."""
        end = time.monotonic() + deadline
        while time.monotonic() < end and self.process.poll() is None:
            found = _children(self.process.pid)
            if len(found) == count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"not {count} workers within {deadline} s (exit code "
                             f"{self.process.poll()}):\n{self.log.read_text()[-3000:]}")

    def replaced(self, victim: int, deadline: float = 60) -> bool:
        """After `victim` was killed: True once another worker runs in its place, False if
        the supervisor exited instead."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.process.poll() is not None:
                return False
            found = _children(self.process.pid)
            if len(found) == 2 and victim not in found:
                return True
            time.sleep(0.05)
        raise AssertionError(f"worker {victim} neither replaced nor the server stopped")

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()
                if line.startswith("{")]

    def answered_by(self, status: int) -> set[int]:
        """The PIDs that logged an answer with `status` (the access log, INFO)."""
        return {line.get("pid") for line in self.lines()
                if line["logger"] == "gdi_node.access" and line.get("status") == status}

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, by PID, then its exit code (killed, and the test failed, if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"did not stop within {timeout} s") from None


def _stat(pid: int | str) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, ppid, ...); None: no process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _children(parent: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(entry.name)
            if fields and fields[0] != "Z" and int(fields[1]) == parent:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


async def _answers_fresh(base: str, path: str, times: int
                         ) -> list[tuple[int, CIMultiDict[str], dict | None]]:
    """`times` requests, each on a connection of its own: the kernel spreads new connections
    over the workers (a keep-alive connection stays with the worker that accepted it); each
    answer's status, headers and JSON body (None for another kind)."""
    answers = []
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for _ in range(times):
            async with session.get(base + path) as response:
                answers.append((response.status, CIMultiDict(response.headers),
                                await response.json(content_type=None)
                                if response.content_type == "application/json" else None))
    return answers


async def _get_fresh(base: str, path: str, times: int) -> list[int]:
    """`_answers_fresh`'s statuses."""
    return [status for status, _, _ in await _answers_fresh(base, path, times)]


async def test_two_workers_answer_one_port_a_killed_one_is_replaced_sigterm_stops_all(
        loaded, tmp_path):
    server = Server(loaded, tmp_path, "--workers", "2")
    seen: set[int] = set()
    try:
        await server.ready()
        workers = server.workers(2)
        seen |= workers
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in workers}
        assert names == {"gdi-node w1", "gdi-node w2"}
        assert await _get_fresh(server.base, "/api/info", 40) == [200] * 40
        assert server.answered_by(200) == workers

        # the port is taken for another server, SO_REUSEPORT or not
        taken = gdi_node("serve", "--workers", "2", "--port", str(server.port),
                         env=_env(DATABASE_URL=loaded), timeout=60)
        assert taken.returncode == 1
        assert f"port {server.port} on 127.0.0.1 is already in use" in taken.stderr

        victim = min(workers)
        index = next(line["worker"] for line in server.lines() if line.get("pid") == victim)
        os.kill(victim, signal.SIGKILL)
        assert server.replaced(victim)
        replaced = server.workers(2)
        seen |= replaced
        assert len(replaced - workers) == 1
        assert await _get_fresh(server.base, "/api/info", 40) == [200] * 40
        assert (replaced - workers) <= server.answered_by(200)
        assert any(line["message"] == f"worker {index} (pid {victim}) exited unexpectedly "
                                      "(SIGKILL); starting a replacement"
                   for line in server.lines())
    finally:
        code = server.stop()
    assert code == 0, server.log.read_text()[-3000:]
    assert not any(_alive(pid) for pid in seen), "a worker outlived its supervisor"
    assert server.lines()[-1]["message"] == "supervisor stopped: every worker has exited"


def _requests_counted(text: str, route: str) -> float:
    """The `gdi_node_http_requests_total` of GET `route` answered 200 in a /metrics answer,
    read by Prometheus's own parser (which refuses what is not its text format)."""
    from prometheus_client.parser import text_string_to_metric_families
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "gdi_node_http_requests_total"
               and sample.labels == {"method": "GET", "route": route, "status": "200",
                                     "cause": ""})


async def test_metrics_count_every_workers_requests_and_never_go_back(loaded, tmp_path):
    """Prometheus scrapes the port, and each scrape reached one worker, which counted only
    its own requests: the counters went up and down from scrape to scrape (read as resets,
    rate() jumped) and never showed the node's total. Every worker now answers with all
    the workers' counts, a killed worker's included (its replacement counts on from them)."""
    server = Server(loaded, tmp_path, "--workers", "2")
    try:
        await server.ready()
        server.workers(2)
        sent = 0
        seen: list[float] = []

        async def scraped_until_all_are_counted() -> None:
            """Scrapes (each on a new connection) until one counts every request sent: the
            workers share their counts within a second, later under load."""
            end = time.monotonic() + 20
            while not seen or seen[-1] != sent:
                assert time.monotonic() < end, seen
                seen.extend(_requests_counted(text, "/api/info")
                            for text in await _metrics_fresh(server.base, 4))
                await asyncio.sleep(0.2)
            seen.extend(_requests_counted(text, "/api/info")
                        for text in await _metrics_fresh(server.base, 8))
            assert seen[-8:] == [sent] * 8, seen

        for _ in range(2):
            assert await _get_fresh(server.base, "/api/info", 20) == [200] * 20
            sent += 20
            await scraped_until_all_are_counted()
        victim = min(server.workers(2))
        os.kill(victim, signal.SIGKILL)
        assert server.replaced(victim)
        await scraped_until_all_are_counted()
        assert seen == sorted(seen), seen             # never less than an earlier scrape
    finally:
        assert server.stop() == 0, server.log.read_text()[-3000:]


async def test_hostile_methods_add_no_series_to_the_metrics(loaded, tmp_path):
    """aiohttp's own parser (AIOHTTP_NO_EXTENSIONS, or a platform without its C parser)
    takes any token as a method, and each one a client made up was a series of its own in
    /metrics: memory and Prometheus's series without bound. Methods HTTP does not define
    are counted as one, `other`."""
    server = Server(loaded, tmp_path, "--workers", "1", AIOHTTP_NO_EXTENSIONS="1")
    try:
        await server.ready()
        for number in range(30):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(f"X{number} /api/info HTTP/1.1\r\nHost: x\r\n"
                         "Connection: close\r\n\r\n".encode())
            await writer.drain()
            assert (await reader.readline()).split()[1] == b"405"
            writer.close()
        text, = await _metrics_fresh(server.base, 1)
    finally:
        assert server.stop() == 0
    from prometheus_client.parser import text_string_to_metric_families
    methods = {sample.labels["method"] for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "gdi_node_http_requests_total"}
    assert methods == {"GET", "other"}, methods


async def _metrics_fresh(base: str, times: int) -> list[str]:
    """`times` /metrics answers, each on a connection of its own (as `_answers_fresh`)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        texts = []
        for _ in range(times):
            async with session.get(f"{base}/metrics") as response:
                assert response.status == 200
                texts.append(await response.text())
        return texts


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_hang_up_stops_the_server_gracefully_its_audit_entries_written(
        loaded, tmp_path, workers):
    """A closed terminal (or ssh session) sends SIGHUP to the server's processes, the
    supervisor's and the workers' alike. Python's default ended each on the spot: no
    drain, and the audit trail's waiting entries were lost (and the server "exited" with
    -SIGHUP). It stops now as on SIGTERM: exit 0, every answered request audited."""
    import asyncpg
    server = Server(loaded, tmp_path, "--workers", workers,
                    GDI_NODE_AUDIT_FLUSH_SECONDS="3600")       # written only at the stop
    try:
        await server.ready()
        pids = {server.process.pid}
        if workers == "2":
            pids |= server.workers(2)
        assert await _get_fresh(server.base, COMMON, 6) == [200] * 6
        for pid in pids:                                    # as a terminal signals its group
            os.kill(pid, signal.SIGHUP)
        code = server.process.wait(timeout=60)
    finally:
        server.stop()
    assert code == 0, server.log.read_text()[-3000:]
    conn = await asyncpg.connect(loaded)
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_trail") == 6
    finally:
        await conn.close()


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_request_whose_body_is_still_coming_at_sigterm_is_answered(
        loaded, tmp_path, workers):
    """A stop lets the requests under way finish (up to 10 s), but aiohttp's shutdown stops
    reading its connections first: a POST whose body was still arriving got no more of it,
    waited out the 10 s and was cut without an answer (logged as a 499), and the node
    exited 1. Its body is read and it is answered; the node then stops, exit 0."""
    server = Server(loaded, tmp_path, "--workers", workers)
    try:
        await server.ready()
        if workers == "2":
            server.workers(2)
        body = json.dumps({"meta": {"apiVersion": "v2.0"}, "query": {
            "requestParameters": {"referenceName": "1", "start": [199], "alternateBases": "T"},
            "requestedGranularity": "boolean"}}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /api/g_variants HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body[:10])
        await writer.drain()
        await asyncio.sleep(1.0)                     # the request is under way
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        if workers == "1":      # stopping: ready no more, so a load balancer sends no more
            async with aiohttp.ClientSession() as client, client.get(
                    f"http://127.0.0.1:{server.port}/ready") as response:
                assert response.status == 503
                assert (await response.json())["reason"].startswith("stopping")
        writer.write(body[10:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 15)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        assert "exists" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["responseSummary"]
        code = server.process.wait(timeout=60)
    finally:
        server.stop()
    assert code == 0, server.log.read_text()[-3000:]


async def test_a_request_still_running_after_the_drain_is_cut_and_the_node_stops(
        loaded, tmp_path):
    """A stop lets the requests under way finish for up to SHUTDOWN_SECONDS (10). aiohttp's
    own shutdown, which followed, waited as long twice more for a request still running (a
    wide query, whose limit may be 30 s or more) before cancelling it: the node exited
    after 30 s, where Kubernetes' default grace is 30 s and its SIGKILL loses the audit
    entries not yet written. Such a request is cut AFTER_DRAIN_SECONDS (10) after the drain,
    as README says: the node exits 0 after 20 s, every answered request audited."""
    import asyncpg
    wide = "/api/g_variants?referenceName=1&start=0&end=200000000&requestedGranularity=count"
    server = Server(loaded, tmp_path, "--workers", "1",
                    GDI_NODE_WIDE_QUERY_TIMEOUT_SECONDS="120",
                    GDI_NODE_AUDIT_FLUSH_SECONDS="3600")        # written only at the stop
    holder = await asyncpg.connect(loaded)
    try:
        await server.ready()
        assert await _get_fresh(server.base, COMMON, 3) == [200] * 3
        async with holder.transaction(), aiohttp.ClientSession() as client:
            # what the wide query reads, held: it runs until its 120 s limit
            await holder.execute("LOCK TABLE variants IN ACCESS EXCLUSIVE MODE")
            running = asyncio.ensure_future(client.get(server.base + wide))
            await asyncio.sleep(1.0)
            assert not running.done()
            began = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.process.wait, 60)
            stopped = time.monotonic() - began
            with pytest.raises(aiohttp.ClientError):    # cut: no answer to give
                await running
    finally:
        server.stop()
        await holder.close()
    assert code == 0, server.log.read_text()[-3000:]
    assert stopped < SHUTDOWN_SECONDS + AFTER_DRAIN_SECONDS + 5, stopped    # 31 s, before
    conn = await asyncpg.connect(loaded)
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_trail") == 3
    finally:
        await conn.close()


async def test_workers_that_keep_dying_stop_the_server_with_an_error(loaded, tmp_path):
    server = Server(loaded, tmp_path, "--workers", "2", GDI_NODE_LOG_LEVEL="WARNING")
    try:
        killed = 0
        while killed < 10:
            victim = min(server.workers(2))
            os.kill(victim, signal.SIGKILL)
            killed += 1
            if not server.replaced(victim):
                break
        code = server.process.wait(timeout=60)
    finally:
        server.stop()
    # five replacements in a minute are allowed (node/cli/supervisor.py), the sixth exit stops
    assert killed == 6
    assert code == 1
    text = server.log.read_text()
    assert "error: workers exited 6 times within 60 s" in text
    assert not _children(server.process.pid)


async def _worker_replaced_during_an_outage(server: Server, relay: Relay) -> int:
    """The database cut, one of two serving workers SIGKILLed: its replacement's PID, once it
    has said it answers 503 until the database is back, and two seconds more (its
    predecessors' exits, and the supervisor's, took 0.3 s). Waiting for its word, not for a
    time alone: on a loaded machine its start outlasted the two seconds, and a SIGTERM sent
    before it was standing in found no stand-in to stop."""
    await server.ready()
    workers = server.workers(2)
    await relay.cut()
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    assert server.replaced(victim), server.log.read_text()[-3000:]
    end = time.monotonic() + 60
    while not (standing := [line["pid"] for line in server.lines() if line.get("pid") not in
                            workers and line["message"].startswith("database unavailable at "
                                                                   "start")]):
        assert time.monotonic() < end, server.log.read_text()[-3000:]
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    assert server.process.poll() is None, server.log.read_text()[-3000:]
    now = server.workers(2)
    assert now - workers == {standing[-1]}, server.log.read_text()[-3000:]
    return standing[-1]


async def test_a_worker_replaced_during_a_database_outage_answers_503_until_it_is_back(
        loaded, tmp_path):
    """A worker killed while PostgreSQL is down is replaced by one that cannot reach it at its
    start: it answers as the running worker does, 503 with Retry-After, and serves once the
    database is back. It used to exit at once; its replacements did too, six within 0.3 s,
    and the supervisor took that for a crash loop: it stopped the healthy worker and exited 1,
    the whole node down until restarted by hand."""
    relay = Relay(loaded)
    await relay.start()
    server = Server(relay.url, tmp_path, "--workers", "2")
    try:
        replacement = await _worker_replaced_during_an_outage(server, relay)
        answers = await _answers_fresh(server.base, COMMON, 40)
        assert {status for status, _, _ in answers} == {503}
        for _, headers, body in answers:
            assert int(headers.get("Retry-After") or 0) > 0
            assert headers.get("X-Content-Type-Options") == "nosniff"     # the stand-in's too
            assert body["error"] == {"errorCode": 503, "errorMessage": "the node's database is "
                                                                       "unavailable; retry later"}
        assert replacement in server.answered_by(503)
        assert (await _get_fresh(server.base, "/health", 20)) == [200] * 20
        assert (await _get_fresh(server.base, "/ready", 20)) == [503] * 20

        await relay.start()
        end = time.monotonic() + 60
        while await _get_fresh(server.base, COMMON, 20) != [200] * 20:
            assert time.monotonic() < end, server.log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        assert replacement in server.answered_by(200)
        assert server.workers(2) - {replacement} and replacement in server.workers(2)
        messages = [line["message"] for line in server.lines() if line.get("pid") == replacement]
        assert sum("answering 503 until it is back" in m for m in messages) == 1, messages
        assert any(m.startswith("database available again after") for m in messages), messages
    finally:
        code = await asyncio.to_thread(server.stop)     # the relay runs on this event loop
        await relay.close()
    assert code == 0, server.log.read_text()[-3000:]


def _counted(text: str, status: str) -> float:
    """Every request a /metrics answer counts as answered with `status`, whatever its route
    and method."""
    from prometheus_client.parser import text_string_to_metric_families
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "gdi_node_http_requests_total"
               and sample.labels["status"] == status)


async def test_a_worker_standing_in_during_an_outage_serves_every_workers_metrics(
        loaded, tmp_path):
    """During a database outage, the worker that replaced a dead one (node/http/stand_in.py)
    answered /metrics 503, as any other path: a scrape reaching it failed, so Prometheus saw
    the node go down and up from scrape to scrape (`up` 0) at the one time its operator reads
    the 503s, and the stand-in's own 503s, kept in counts it never served or shared, were
    never counted at all. It now answers /metrics as a worker does, every worker's counts
    with its own, and its counts carry on into the node it starts when the database is
    back: no scrape counts fewer 503s than an earlier one."""
    relay = Relay(loaded)
    await relay.start()
    server = Server(relay.url, tmp_path, "--workers", "2")
    try:
        await _worker_replaced_during_an_outage(server, relay)
        assert await _get_fresh(server.base, COMMON, 40) == [503] * 40
        seen: list[float] = []
        end = time.monotonic() + 20
        while not seen or seen[-1] != 40:
            assert time.monotonic() < end, seen
            seen.extend(_counted(text, "503") for text in await _metrics_fresh(server.base, 4))
            await asyncio.sleep(0.2)
        seen.extend(_counted(text, "503") for text in await _metrics_fresh(server.base, 8))
        assert seen[-8:] == [40] * 8, seen

        await relay.start()
        end = time.monotonic() + 60
        while await _get_fresh(server.base, COMMON, 20) != [200] * 20:
            assert time.monotonic() < end, server.log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        # the stand-in's 503s with the node it started (and any 503 while the pools
        # reconnected)
        after = [_counted(text, "503") for text in await _metrics_fresh(server.base, 8)]
        assert min(after) >= 40 and after == sorted(after), after
    finally:
        code = await asyncio.to_thread(server.stop)     # the relay runs on this event loop
        await relay.close()
    assert code == 0, server.log.read_text()[-3000:]


async def test_a_worker_waiting_for_the_database_stops_on_sigterm(loaded, tmp_path):
    relay = Relay(loaded)
    await relay.start()
    server = Server(relay.url, tmp_path, "--workers", "2")
    try:
        replacement = await _worker_replaced_during_an_outage(server, relay)
        workers = server.workers(2)
    finally:
        code = await asyncio.to_thread(server.stop)     # the relay runs on this event loop
        await relay.close()
    assert code == 0, server.log.read_text()[-3000:]
    assert not any(_alive(pid) for pid in workers)
    assert any(line.get("pid") == replacement and line["message"] == "SIGTERM received; stopping"
               for line in server.lines())
    assert server.lines()[-1]["message"] == "supervisor stopped: every worker has exited"


async def test_workers_stop_when_their_supervisor_is_killed(loaded, tmp_path):
    server = Server(loaded, tmp_path, "--workers", "2")
    try:
        await server.ready()
        workers = server.workers(2)
        server.process.kill()                           # SIGKILL: no forwarding, no cleanup
        server.process.wait(timeout=10)
        end = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < end:
            await asyncio.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "workers outlived a killed supervisor"
        gone = [line for line in server.lines() if "is gone; stopping" in line["message"]]
        assert {line["pid"] for line in gone} == workers
    finally:
        server.stop()


async def test_one_budget_whichever_worker_answers(loaded, tmp_path):
    server = Server(loaded, tmp_path, "--workers", "2",
                    GDI_NODE_DISCLOSURE=DISCLOSURE.model_dump_json())
    try:
        await server.ready()
        workers = server.workers(2)
        statuses = await _get_fresh(server.base, COMMON, 2 * BUDGET)
        answered = statuses.count(200)
        # a question needs RARE_COST units left, all but one given back after a common
        # answer: each worker that answered holds RARE_COST - 1 unspent when the budget ends
        assert answered == BUDGET - 2 * (RARE_COST - 1)
        assert set(statuses) == {200, 429}
        assert await _get_fresh(server.base, COMMON, 20) == [429] * 20
        assert server.answered_by(429) == workers
        assert server.answered_by(200) == workers
    finally:
        assert server.stop() == 0


async def test_workers_on_the_supervisors_embedded_database_say_so(tmp_path):
    """Each worker is handed the URL of the embedded server its supervisor started, and
    logged `database ready (external)` for it, misleading an operator about where the data
    is."""
    server = Server(None, tmp_path, "--workers", "2")
    try:
        await server.ready(deadline=120)
        server.workers(2)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            ready = [line["message"] for line in server.lines()
                     if line["message"].startswith("database ready")]
            if len(ready) == 2:
                break
            await asyncio.sleep(0.2)
        assert ready == ["database ready (embedded)"] * 2, ready
    finally:
        assert server.stop() == 0


async def test_on_the_embedded_database_the_default_workers_fit_its_connections(tmp_path):
    """`gdi-node serve` (the README's first command) starts one worker per core, each with a
    pool of up to db_pool_max connections, and the embedded PostgreSQL allows 97 of them:
    on a machine of more cores than fit (9 or more at the default pool), a warning, then
    workers that could not connect answered their share of requests 503 for good (at start
    past 32 cores; here two cores and pools of 60 show it). With the worker count left to
    the cores, it is now what the embedded server's connections allow, said in a warning;
    GDI_NODE_WORKERS or --workers still choose."""
    if supervisor.cores() < 2:
        pytest.skip("one core: one process, no supervisor")
    server = Server(None, tmp_path, GDI_NODE_DB_POOL_MIN="60", GDI_NODE_DB_POOL_MAX="60")
    try:
        await server.ready(deadline=120)
        await asyncio.sleep(2)        # a worker that cannot connect has said so by now
        assert await _get_fresh(server.base, "/ready", 20) == [200] * 20
        assert len(server.workers(1)) == 1
        warned = [line["message"] for line in server.lines() if line["level"] == "WARNING"]
        assert warned == [("the embedded PostgreSQL allows 97 connections, which 1 worker "
                           "of db_pool_max 60 (and one listening) fits of the "
                           f"{supervisor.cores()} the cores would have: starting 1 (set "
                           "GDI_NODE_WORKERS to choose)")], warned
    finally:
        assert server.stop() == 0


async def test_one_worker_is_one_process_without_a_supervisor(loaded, tmp_path):
    server = Server(loaded, tmp_path, "--workers", "1")
    try:
        await server.ready()
        assert await _get_fresh(server.base, "/api/info", 3) == [200] * 3
        assert not _children(server.process.pid)
        lines = server.lines()
        assert not any("supervisor" in line["message"] or "worker" in line for line in lines)
    finally:
        assert server.stop() == 0


def test_a_taken_port_is_one_line_with_workers():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gdi_node("serve", "--workers", "3", "--port", str(port), env=_env(), timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"error: port {port} on 127.0.0.1 is already in use (another gdi-node serve? stop it or "
        "set GDI_NODE_PORT)")


def test_a_stop_signal_while_the_workers_start_stops_every_worker_at_once(monkeypatch):
    """SIGTERM arriving while the supervisor is still forking its workers (a service manager
    stopping a node it has just started, a Ctrl-C at once): every worker stops, the ones
    not yet forked are never started, and the supervisor returns at once. The workers
    forked after the signal were sent no SIGTERM: the supervisor waited STOP_SECONDS for
    them (40 s), killed them and exited 1. The signal is sent, for real, by the supervisor
    to itself right after forking its first worker (a test cannot time one from outside
    into the fork loop's milliseconds); the workers are forks of the test that sleep."""
    monkeypatch.setattr(supervisor, "STOP_SECONDS", 10.0)
    started = Supervisor._start

    def start_then_stop(self: Supervisor, index: int) -> None:
        started(self, index)
        if index == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Supervisor, "_start", start_then_stop)
    forked: list[int] = []
    began = time.monotonic()
    server = Supervisor(4, lambda index, alive: time.sleep(60))
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    try:
        server.run()
    finally:
        for pid in forked:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert time.monotonic() - began < 5
    assert len(forked) == 1
