"""`gdi-node serve --workers N`: one supervisor process and N workers, each a whole node (its
own pool, count batcher, caches) serving the same port (node/http/server.py's
`listen_for_workers`). One asyncio process uses one core; the workers use N.

What the workers must share lives in PostgreSQL already: query budgets (beacon/budget.py), the
audit trail (beacon/audit.py), the datasets (each worker's cache listens for changes). What
runs at every worker's start is safe to run N times at once: migrations take an advisory lock
(node/migrate.py) and are applied by the supervisor before any worker starts; dropping the
staging tables of interrupted ingests takes each dataset's ingest lock, and a worker that
finds one taken leaves that table to whoever holds it.

The supervisor forks the workers (each inherits the sockets, the settings and the logging
set up once), replaces one that exits unexpectedly, and stops when too many have to be
replaced in a short time: a worker that fails at every start is an error to report, not a
loop to spin in. An outage is not such an error: a worker that cannot reach the database at
its start answers 503 until it can (node/http/stand_in.py) instead of exiting. SIGTERM, SIGINT or SIGHUP to the supervisor is forwarded to every worker as SIGTERM;
it waits for them (killing, by PID, any still running STOP_SECONDS later) and returns.
"""
from __future__ import annotations

import collections
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn

from node.http.server import AFTER_DRAIN_SECONDS, SHUTDOWN_SECONDS

log = logging.getLogger(__name__)
RESTART_WINDOW_SECONDS = 60.0
MIN_RESTARTS = 5          # replacements allowed per window: this many, or one per worker
# a worker's drain: its requests under way, then aiohttp's shutdown, which cuts what still
# runs (SHUTDOWN_SECONDS and AFTER_DRAIN_SECONDS, node/http/server.py), then its cleanup
# (pool, audit)
STOP_SECONDS = SHUTDOWN_SECONDS + AFTER_DRAIN_SECONDS + 20
# SIGHUP too: a closed terminal or ssh session, which signals every worker as well
_STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_BLOCKED = {*_STOPS, signal.SIGCHLD}

# `work(index, supervisor_fd)` serves as worker `index` until stopped; it runs in the forked
# process and reads `supervisor_fd` to learn that the supervisor is gone (end of file).
Work = Callable[[int, int], None]


class CrashLoop(Exception):
    """Workers kept exiting: the supervisor stopped them all instead of replacing them."""


def cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _Tagged(logging.Filter):
    """Every log line of a worker names it (`worker`, `pid`: text lines end with them, JSON
    lines carry them as keys), so N workers' lines on one stderr can be told apart and
    matched with the supervisor's lines about them."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        record.pid = record.process
        return True


class Supervisor:
    """Runs `work` as workers 1..`count`, each in a process of its own, until a stop signal
    or a crash loop (the module's docstring says what it does and why)."""

    def __init__(self, count: int, work: Work) -> None:
        self.count = count
        self.work = work
        self.max_restarts = max(MIN_RESTARTS, count)
        self._workers: dict[int, int] = {}          # pid -> index
        self._restarts: collections.deque[float] = collections.deque()
        self._stopping = False
        self._kill_at: float | None = None
        self._crash: str | None = None
        self._killed = 0

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT; CrashLoop when workers kept exiting, RuntimeError
        when some did not stop in time (killed)."""
        self._wake, self._wake_w = os.pipe()        # the signals' wake-up (set_wakeup_fd)
        self._alive, self._alive_w = os.pipe()      # open while the supervisor lives
        os.set_blocking(self._wake, False)
        os.set_blocking(self._wake_w, False)
        previous_wakeup = signal.set_wakeup_fd(self._wake_w)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOPS}
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, _woken)
        try:
            log.info("supervisor (pid %d) starting %d workers", os.getpid(), self.count)
            for index in range(1, self.count + 1):
                if self._stopping:
                    # a stop signal while they start: those forked after it were sent no
                    # SIGTERM, and were waited for STOP_SECONDS, then killed (exit 1)
                    break
                self._start(index)
            self._supervise()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for fd in (self._wake, self._wake_w, self._alive, self._alive_w):
                os.close(fd)
        if self._crash:
            raise CrashLoop(self._crash)
        if self._killed:
            raise RuntimeError(f"{self._killed} workers did not stop within {STOP_SECONDS} s "
                               "and were killed")
        log.info("supervisor stopped: every worker has exited")

    def _supervise(self) -> None:
        while True:
            self._reap()
            if not self._workers:
                return
            if self._kill_at is not None and time.monotonic() > self._kill_at:
                for pid, index in self._workers.items():
                    log.error("worker %d (pid %d) still running %d s after SIGTERM: killing it",
                              index, pid, STOP_SECONDS)
                    _signal(pid, signal.SIGKILL)
                    self._killed += 1
                self._kill_at = None
            select.select([self._wake], [], [], 1.0)
            try:
                while os.read(self._wake, 512):
                    pass
            except BlockingIOError:
                pass

    def _reap(self) -> None:
        while self._workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self._workers.clear()
                return
            if pid == 0:
                return
            index = self._workers.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            how = f"exit code {code}" if code >= 0 else signal.Signals(-code).name
            if self._stopping:
                log.info("worker %d (pid %d) stopped (%s)", index, pid, how)
                continue
            now = time.monotonic()
            self._restarts.append(now)
            while self._restarts[0] < now - RESTART_WINDOW_SECONDS:
                self._restarts.popleft()
            if len(self._restarts) > self.max_restarts:
                self._crash = (f"workers exited {len(self._restarts)} times within "
                               f"{RESTART_WINDOW_SECONDS:.0f} s (the last, worker {index}, with "
                               f"{how}; their log lines above say why): the server stops")
                log.error("worker %d (pid %d) exited (%s); %s", index, pid, how, self._crash)
                self._stop()
                continue
            log.warning("worker %d (pid %d) exited unexpectedly (%s); starting a replacement",
                        index, pid, how)
            self._start(index)

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        if not self._stopping:
            log.info("%s received: stopping %d workers", signal.Signals(signum).name,
                     len(self._workers))
            self._stop()

    def _stop(self) -> None:
        self._stopping = True
        self._kill_at = time.monotonic() + STOP_SECONDS
        for pid in self._workers:
            _signal(pid, signal.SIGTERM)

    def _start(self, index: int) -> None:
        # Blocked across the fork: a signal's handler must not run in the new worker before
        # it has reset them, nor in the supervisor before the worker is in self._workers.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
        try:
            pid = os.fork()
            if pid == 0:
                self._become_worker(index, mask)
            self._workers[pid] = index
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        log.info("worker %d started (pid %d)", index, pid)

    def _become_worker(self, index: int, mask: set[signal.Signals]) -> NoReturn:
        """The forked process: the supervisor's signal handling undone, its log lines tagged,
        `work` run; never returns into the supervisor's code (os._exit: neither the
        supervisor's atexit handlers, which may stop an embedded PostgreSQL, nor its
        finally blocks run here)."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)   # until the worker's loop runs
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            # Ctrl-C in a terminal, or the terminal's hang-up, signals the supervisor and
            # every worker at once; the supervisor's SIGTERM is the one each worker acts on.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for fd in (self._wake, self._wake_w, self._alive_w):
                os.close(fd)
            _name_process(f"gdi-node w{index}")
            for handler in logging.getLogger().handlers:
                handler.addFilter(_Tagged(index))
            self.work(index, self._alive)
            code = 0
        except SystemExit as exc:                   # node/cli/common.py's fail(): said why
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except BaseException:
            log.exception("worker %d failed", index)
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)


def _woken(signum: int, frame: FrameType | None) -> None:
    """SIGCHLD's handler: its only work is the wake-up byte Python writes for every signal."""


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass                                        # exited meanwhile; reaped next


def _name_process(name: str) -> None:
    """The worker's name in `ps -o comm`, `top` and /proc (Linux; 15 characters at most):
    its full command line stays the supervisor's."""
    try:
        Path("/proc/self/comm").write_text(name[:15])
    except OSError:
        pass
