"""Serving an application until SIGINT/SIGTERM, for every role the program runs (node,
catalogue, development AAI): in-flight requests get a few seconds to finish. Also what
aiohttp's server may log of a request it could not parse (never a header's value), and what
it answers one (an application's own error body, `answer_unparsed`).

The address is taken first (`listen`), before the database starts or anything is logged, so
a port in use is one error at once; "serving on" is logged once requests are answered.

`gdi-node serve --workers N` (node/cli/supervisor.py) runs the application in N processes on
one port: `listen_for_workers` takes the address once per worker and `run_worker` serves in
each, stopped by its supervisor.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import hdrs, web, web_protocol, web_response, web_urldispatcher
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from auth.tokens import MAX_TOKEN_BYTES
from node.http.body import said_too_large
from node.urls import http_root

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 10
# What a request still running after the drain (`_UnderWay`) is given before it is cut:
# aiohttp's shutdown waits its `shutdown_timeout` for it, then as long again once it has
# asked it to end, then cancels it, so it is given half of this. Given SHUTDOWN_SECONDS, a
# request past the drain (a wide query, whose limit may be 30 s) held the stop for 20 s
# more, where README says 10: 30 s in all, Kubernetes' default grace, whose SIGKILL loses
# the audit entries not yet written.
AFTER_DRAIN_SECONDS = SHUTDOWN_SECONDS
SERVER_NAME = "gdi-node"        # every answer's Server header: no version of anything
# aiohttp refuses a header line longer than 8190 bytes itself, with a plain-text 400. The node
# takes tokens up to auth.tokens.MAX_TOKEN_BYTES, so its limit leaves room for that and more:
# a token too large for the node then gets its own 401 with a Beacon error body. Passed as
# the application's handler_args (node/app.py), so the tests' servers use it too.
MAX_HEADER_FIELD_BYTES = 2 * MAX_TOKEN_BYTES


class _WithoutRequestLines(logging.Filter):
    """aiohttp logs a request it cannot parse with the parser's exception, whose message
    quotes the start of the offending line: for an oversized Authorization header, the
    token. The record keeps its message and the exception's name; the quote is dropped.
    A client's malformed request is not the server's error, so it is a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.msg} ({type(error).__name__}, answered {error.code})"
            record.exc_info = record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_QUIET = _WithoutRequestLines()


def hide_request_lines() -> None:
    """Filter aiohttp's server log (idempotent: a logger holds the one filter once), and
    name the server `gdi-node` where aiohttp answers a request it could not parse itself:
    that answer skips every middleware, and so the Server header the node's set
    (node/http/middleware.py EVERY_RESPONSE), and gave aiohttp's default,
    "Python/3.11 aiohttp/3.14.5", the versions a scanner matches to their advisories.
    aiohttp reads that default from its module each time it answers (3.9 to 3.14). That
    answer is the application's own where it gave one (`answer_unparsed`), as is the answer
    to an expectation the server does not meet (`_meet_expectation`): called before the
    routes are made, which take the default expect handler when made."""
    logging.getLogger("aiohttp.server").addFilter(_QUIET)
    web_response.SERVER_SOFTWARE = SERVER_NAME
    web_protocol.RequestHandler.handle_error = _handle_error     # type: ignore[method-assign]
    web_urldispatcher._default_expect_handler = _meet_expectation


# What an application answers a request aiohttp refused before any middleware: (the request,
# None where it could not be parsed; status, message) -> response
UnparsedAnswer = Callable[[web.Request | None, int, str], web.Response]
# each application's answer, what it calls itself and its advice for a request line too long
_UNPARSED: weakref.WeakKeyDictionary[web.Application, tuple[UnparsedAnswer, str, str]] = (
    weakref.WeakKeyDictionary())
_AIOHTTPS_ANSWER = web_protocol.RequestHandler.handle_error
_AIOHTTPS_EXPECT = web_urldispatcher._default_expect_handler


def answer_unparsed(app: web.Application, answer: UnparsedAnswer, *, service: str = "this node",
                    long_line: str = "send the query as a POST body") -> None:
    """Have `app` answer a request aiohttp cannot parse (a URL past its line limit, a header
    past its field limit, bytes that are no HTTP) with `answer`, in its own error form.
    aiohttp answers such a request itself, before any middleware, in plain text quoting the
    offending line ("Got more than 8190 bytes when reading: bytearray(b'/api/g_variants?
    ...')", or a token's start), which no Beacon client reads; it offers no hook for it, so
    hide_request_lines replaces its RequestHandler.handle_error, which asks the application
    whose server read the request (tests/test_hardening.py holds it to each aiohttp).
    Being the one place these requests reach, `answer` counts them too (node/http/metrics.py
    refused): no middleware sees them. An HTTP/1.1 request that expects anything but
    100-continue (RFC 9110 10.1.1) gets `answer`'s 417 too, and one that expects it with a
    Content-Length past the application's limit `answer`'s 413 (`_meet_expectation`).
    `service`: what the messages call the server; `long_line`: what a request line too long
    is advised (the node's queries may be POSTed, the catalogue's search may not)."""
    _UNPARSED[app] = (answer, service, long_line)


async def _meet_expectation(request: web.Request) -> web.StreamResponse | None:
    """Every route's expect handler (aiohttp's default, replaced by hide_request_lines).
    aiohttp calls it before any middleware, and its own refusal of an expectation other than
    100-continue was a plain-text 417 quoting the header ("Unknown Expect: ..."), which no
    Beacon client reads; an application that answers in its own form (answer_unparsed)
    answers it there, quoting nothing sent. aiohttp asks for any body (100 Continue), and
    one whose Content-Length is past the application's limit was asked for, then refused
    by its handler (node/http/body.py): its client sent all of it for nothing; it gets the
    handler's 413 at once. Its connection ends: the body may never come."""
    unparsed = _UNPARSED.get(request.app)
    if unparsed is None or request.version != HttpVersion11:
        return await _AIOHTTPS_EXPECT(request)
    answer, service, _ = unparsed
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        response = answer(request, 417,
                          f"Expect: {service} meets no expectation but 100-continue")
    elif (refused := said_too_large(request)) is not None:
        response = answer(request, refused.status, refused.message)
    else:
        return await _AIOHTTPS_EXPECT(request)
    response.force_close()
    return response


def _handle_error(handler: web_protocol.RequestHandler, request: web.BaseRequest,
                  status: int = 500, exc: BaseException | None = None,
                  message: str | None = None) -> web.StreamResponse:
    """aiohttp's answer (which also logs, and refuses where an answer has begun), or, for a
    request it could not parse, its application's (answer_unparsed)."""
    plain = _AIOHTTPS_ANSWER(handler, request, status, exc, message)
    if not isinstance(exc, HttpProcessingError):
        return plain
    server = getattr(handler, "_manager", None)           # the Server of one application
    app = getattr(getattr(server, "request_handler", None), "__self__", None)
    # none where a web.Server serves a handler of its own (no weak reference to None)
    unparsed = _UNPARSED.get(app) if isinstance(app, web.Application) else None
    if unparsed is None:
        return plain
    answer, service, long_line = unparsed
    response = answer(None, status, _unparsed_message(exc, handler.max_line_size, service,
                                                      long_line))
    response.force_close()          # as aiohttp's: what follows on the connection is unread
    return response


def _unparsed_message(error: HttpProcessingError, line_limit: int, service: str,
                      long_line: str) -> str:
    """What a request aiohttp could not parse is told, quoting nothing it sent. A line too
    long names its limit, aiohttp's second argument: the request line's (`line_limit`) or a
    header's."""
    if isinstance(error, LineTooLong):
        limit = error.args[1] if len(error.args) > 1 else line_limit
        if limit == line_limit:
            return (f"request: a request line longer than {limit} bytes, more than {service} "
                    f"reads; {long_line}")
        return f"request: a header longer than {limit} bytes, more than {service} reads"
    return f"request: not an HTTP request {service} can read"


class CannotListen(Exception):
    """The address could not be taken: `error` says why (EADDRINUSE: another server has it)."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {error.strerror or error}")
        self.error = error


@dataclass(frozen=True)
class Listener:
    """A server's address, taken: what `run` serves on and names in its log."""

    host: str
    port: int
    sockets: list[socket.socket]


def listen(host: str, port: int, reuse_port: bool = False) -> Listener:
    """Sockets bound and listening on every address `host` names, as asyncio's own server
    would bind them (SO_REUSEADDR, IPv6 sockets IPv6 only); connections wait in the backlog
    until the application has started. `reuse_port`: SO_REUSEPORT, so that other sockets of
    this user may listen on the same address too (`listen_for_workers`)."""
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen()
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CannotListen(host, port, exc) from exc
    return Listener(host, port, sockets)


# Linux spreads the connections to a port over the sockets listening on it with SO_REUSEPORT
# (by a hash of each connection's addresses); other systems accept the option without
# balancing, so there every worker accepts from the same sockets instead.
_BALANCED_REUSEPORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listen_for_workers(host: str, port: int, workers: int) -> list[Listener]:
    """The address, taken for each of `workers` processes, as `listen` takes it for one.

    With several workers on Linux, each gets sockets of its own on the same address
    (SO_REUSEPORT), so the kernel hands each worker its share of new connections. One socket
    shared by all (the classic pre-fork server) leaves that to whichever process wakes
    first, and asyncio accepts a whole backlog at once: one worker would take most keep-alive
    connections. The sockets stay open in the supervisor, so connections that arrive while a
    worker is replaced wait in its socket's backlog for the replacement.

    SO_REUSEPORT would also let another server of this user join the port unnoticed: a plain
    socket is bound first, so a port in use is still a CannotListen (and port 0 picks the
    port all workers then share)."""
    first = listen(host, port)
    if workers == 1 or not _BALANCED_REUSEPORT:
        return [first] * workers
    port = first.sockets[0].getsockname()[1]
    for sock in first.sockets:
        sock.close()
    listeners: list[Listener] = []
    try:
        for _ in range(workers):
            listeners.append(listen(host, port, reuse_port=True))
    except CannotListen:
        for listener in listeners:
            for sock in listener.sockets:
                sock.close()
        raise
    return listeners


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A server's event loop (ServiceSettings.event_loop: uvloop or asyncio). uvloop's by
    default: its loop and transports are libuv and Cython where asyncio's are Python, which
    took a fifth of the instructions off an individuals count (907 k to 724 k) and an eighth
    off a network request of three peers (1,802 k to 1,559 k), 5-10% more answers a second
    on 2 cores (docs/benchmarks.md, stop 67). `asyncio` is the standard library's, for an
    operator who wants it (asyncio's debug mode, say)."""
    if kind == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def default_loop() -> asyncio.AbstractEventLoop:
    """A new loop of the kind servers run on by default (ServiceSettings.event_loop): the
    benchmarks' reference servers and the tests run on it, so that a node they start
    in-process runs as a deployed one does, and a ratio against the node compares code,
    not loops."""
    from node.settings import ServiceSettings
    return new_loop(ServiceSettings.model_fields["event_loop"].default)


def run(app: web.Application, role: str, listener: Listener, public_base_url: str | None,
        event_loop: str) -> None:
    """Serve on a new loop of `event_loop`'s kind (`new_loop`) until SIGINT, SIGTERM or
    SIGHUP; the application's start-up errors propagate (the database's as
    node.database.DatabaseUnavailable). SIGHUP is a closed terminal or ssh session:
    Python's default ended the process on the spot, cutting the requests under way and
    losing the audit entries not yet written."""
    loop = new_loop(event_loop)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, _UNDER_WAY.stop, f"{signal.Signals(sig).name} received")
    _serve(app, role, listener, public_base_url, loop)


def _serve(app: web.Application, role: str, listener: Listener, public_base_url: str | None,
           loop: asyncio.AbstractEventLoop) -> None:
    """Serve on `loop`, whose owner (`run`, `run_worker`) has set up how the server stops."""
    hide_request_lines()
    app.middlewares.insert(0, _UNDER_WAY.middleware)

    def serving(_: str) -> None:      # aiohttp's banner, called once every site is started
        log.info("%s serving on %s%s, on %s's event loop", role,
                 http_root(listener.host, listener.port),
                 f" (public base URL {public_base_url})" if public_base_url else "",
                 type(loop).__module__.partition(".")[0])

    web.run_app(app, sock=listener.sockets, access_log=None, shutdown_timeout=AFTER_DRAIN_SECONDS / 2,
                print=serving, handle_signals=False, loop=loop)


class _UnderWay:
    """The requests under way, which a stop lets finish before aiohttp's shutdown begins.
    That shutdown stops reading every connection at once (and then waits for the handlers):
    a request whose body was still arriving got no more of it, waited out the shutdown's
    SHUTDOWN_SECONDS and was cut without an answer. Until they have finished (or
    SHUTDOWN_SECONDS have passed) the server still reads, and accepts; a request still
    running then is cut AFTER_DRAIN_SECONDS later."""

    def __init__(self) -> None:
        self.count = 0
        self.stopping: asyncio.Task[None] | None = None     # the drain, once stopping

    @web.middleware
    async def middleware(self, request: web.Request, handler: Callable[
            [web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        self.count += 1
        try:
            return await handler(request)
        finally:
            self.count -= 1

    def stop(self, why: str) -> None:
        """Stop once (a second signal while the requests finish is ignored)."""
        if self.stopping is None:
            log.info("%s; stopping", why)
            self.stopping = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                while self.count:
                    await asyncio.sleep(0.05)
        asyncio.get_running_loop().call_soon(_graceful_exit)


def _graceful_exit() -> None:
    """aiohttp's way out of its run_app, raised in a callback as its signal handler does."""
    raise web.GracefulExit()


_UNDER_WAY = _UnderWay()      # one server per process


def stopping() -> bool:
    """Whether this process's server is stopping, letting its requests under way finish:
    /ready says so (node/http/health.py), so that a load balancer sends no more."""
    return _UNDER_WAY.stopping is not None


def run_worker(app: web.Application, role: str, listener: Listener, supervisor_fd: int,
               public_base_url: str | None, event_loop: str) -> None:
    """`run` in a worker process of node/cli/supervisor.py (which has it ignore SIGINT):
    stopped gracefully by SIGTERM, once (a second one while it drains is ignored), or when
    its supervisor is gone, which closes the pipe `supervisor_fd` reads (a supervisor killed
    outright leaves no worker serving on). `event_loop`: as `run`'s."""
    loop = new_loop(event_loop)

    def stop(why: str) -> None:
        loop.remove_reader(supervisor_fd)
        _UNDER_WAY.stop(why)

    loop.add_signal_handler(signal.SIGTERM, stop, "SIGTERM received")
    loop.add_reader(supervisor_fd, stop, f"supervisor (pid {os.getppid()}) is gone")
    _serve(app, role, listener, public_base_url, loop)
