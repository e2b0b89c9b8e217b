"""The network's requests to its peers, over HTTP/1.1 of its own: kept-alive connections per
peer, the answer parsed by httptools (llhttp, the parser Node.js and uvicorn use), its body
read within the bounds the network sets (MAX_PEER_BODY a peer, MAX_NETWORK_BODIES a request).

Why not aiohttp's client, which the node uses everywhere else: a network request is three
or more peer requests, and aiohttp's client spent about 65 µs of CPU on each (its session,
request and response objects, connector, timers, tracing hooks, cookie and redirect logic
the network turns off but still passes through), against about 25 µs here, measured as
rounds of three concurrent GETs to constant servers on one machine (bench/federation.py
--overhead: most of a network request's cost was its peers' requests). What the network
needs of a client is narrow: GET and POST of a few headers and a small body to a peer's
API root; no redirects (a peer's URL is its root), no cookies, no proxies, no uploads.

What is kept from aiohttp's behaviour, each pinned by tests/test_federation.py and
tests/test_peer_transport.py: the peer's certificate verified against the system's
authorities (SSL_CERT_FILE honoured, as Python's default context does) and its host name
checked; an answer whose status line or a header is longer than MAX_LINE, of more than
MAX_HEADERS header lines, whose head is not HTTP, or that comes after more than
MAX_INTERIM interim (1xx) answers, is NotHttp; one cut short (fewer bytes than its
Content-Length or its chunks announced, the connection ended inside its head, or one the
connection's end delimits ended by a reset or, over TLS, without close_notify) is CutShort;
gzip or deflate answers are unpacked, counted as they unpack, and one that cannot be is
NotUnpacked; a connection the peer closed while idle is found out on its next use, and that
request sent once more, on a new connection, with whatever method (a Beacon query changes
nothing at the peer); idle connections are kept KEEPALIVE_SECONDS at most.
"""
from __future__ import annotations

import asyncio
import re
import ssl
import zlib
from collections import deque
from dataclasses import dataclass

import httptools
from multidict import CIMultiDict
from yarl import URL

KEEPALIVE_SECONDS = 15.0       # aiohttp's: a peer's idle connection kept this long at most
MAX_LINE = 8190                # the status line, and each header line (aiohttp's limits)
MAX_HEAD = 64 * 1024           # the whole head of an answer, whatever its lines
MAX_HEADERS = 128              # header lines of an answer (aiohttp's limit)
# Interim (1xx) answers before a request's final one: a peer sends a 103 Early Hints or two,
# a 102 Processing now and then while it works (a peer timer is seconds), and no 100
# Continue (no request here sends Expect). Unbounded, a peer sending 1xx after 1xx spent
# the node's CPU on parsing them until its timer
MAX_INTERIM = 8
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Sent with every request: gzip and deflate, as aiohttp's client asked for them, are read
_FIXED = "User-Agent: gdi-node\r\nAccept-Encoding: gzip, deflate\r\n"


class TransportError(Exception):
    """An exchange with a peer that gave no answer to read."""


class NoConnection(TransportError):
    """No connection, or it ended before the answer's head did."""


class Closed(NoConnection):
    """A connection used before ended before any byte of the answer: the peer closed it
    while idle (its keep-alive shorter than KEEPALIVE_SECONDS), as the request was sent."""


class CutShort(TransportError):
    """The connection ended before the end the answer announced."""


class NotHttp(TransportError):
    """The answer is not HTTP this client reads."""


class NotUnpacked(TransportError):
    """The answer's Content-Encoding could not be unpacked."""


class PastBound(Exception):
    """A peer's answer would take the request's peers past what they may read together."""


@dataclass(slots=True)
class Bound:
    """What one request's peers may still read, in bytes: taken as each answer is read, by
    whichever peer reads first, and given back by an answer not kept (too large, cut
    short, past this bound)."""

    left: int

    def take(self, size: int) -> None:
        if size > self.left:
            raise PastBound
        self.left -= size


@dataclass(slots=True)
class Answer:
    """A peer's answer: its status, its Retry-After as sent, and its body (None: larger
    than the limit it was read under, and read no further)."""

    status: int
    retry_after: str | None
    body: bytes | None


class _Stop(Exception):
    """Raised in a parser callback to end parsing; what ended it is the exchange's."""


class _Connection(asyncio.Protocol):
    """One kept-alive connection to a peer, one exchange at a time."""

    def __init__(self, pool: PeerPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.used = False
        self._eof = False           # the peer's end of file (over TLS, its close_notify)
        self._waiter: asyncio.Future[Answer] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._bound: Bound | None = None
        self._limit = 0
        self._interims = 0          # this exchange's interim answers so far (MAX_INTERIM)
        self._reset()

    def _reset(self) -> None:
        self._received = False      # any byte of this exchange's answer
        self._head = 0              # bytes of the head read, while it is read
        self._status_line = 0
        self._headers = 0
        self._headed = False
        self._interim = False
        self._status = 0
        self._length: int | None = None
        self._chunked = False
        self._encoding: str | None = None
        self._retry_after: str | None = None
        self._unpacker: zlib._Decompress | None = None
        self._held = b""            # deflate's first byte, until its second tells its kind
        self._whole = False         # Content-Length taken from the bound at once
        self._too_large = False
        self._taken = 0
        # The body read: its first piece as it came, then one bytearray. A list of the
        # pieces held a bytes object per chunk or segment, some 90 bytes for a one-byte
        # chunk: a peer's MAX_PEER_BODY of them took GBs, the bound counting only bytes
        self._body: bytes | bytearray = b""
        self._failure: BaseException | None = None

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport      # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._parser is None:
            self.close()                # bytes no request asked for: not kept
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            # what a callback ended it with (_stop: HttpParserCallbackError), else not HTTP
            self._fail(self._failure or NotHttp())
            return
        if not self._headed and self._waiter is not None:
            self._head += len(data)
            if self._head > MAX_HEAD:
                self._fail(NotHttp())

    def eof_received(self) -> bool:
        self._eof = True
        return False                    # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        if self._waiter is None or self._waiter.done():
            return
        if self._headed and self._length is None and not self._chunked and self._eof:
            # An answer ended by the connection's end: by the peer's end of file only. A
            # reset before it, our own close, or (uvloop) a TLS peer gone without its
            # close_notify is not its end, and what came before was kept as the whole
            # answer, `ok` with a truncated body; it is CutShort below. (An error after
            # the end of file is not the answer's: our request's rest, unread, written
            # to a peer that answered and closed.)
            try:
                self._flush()
            except _Stop:
                self._fail(self._failure or NotUnpacked())
                return
            self._complete()
        elif not self._received:
            self._fail(Closed() if self.used else NoConnection())
        elif self._headed:
            self._fail(CutShort())
        else:                           # within the head: aiohttp's "disconnected" too
            self._fail(NoConnection())

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None:        # an answer no request asked for: not kept
            self._stop(NotHttp())

    def on_status(self, status: bytes) -> None:
        self._status_line += len(status)
        if self._status_line > MAX_LINE:
            self._stop(NotHttp())

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        if len(name) + len(value) + 2 > MAX_LINE or self._headers > MAX_HEADERS:
            self._stop(NotHttp())
        lowered = name.lower()
        if lowered == b"content-length":
            self._length = int(value)       # llhttp has checked it is one number
        elif lowered == b"transfer-encoding":
            # chunked only when the last coding (RFC 9112 6.3): else, as llhttp reads it,
            # the answer runs to the connection's end, and is read whole there
            self._chunked = value.rstrip().lower().endswith(b"chunked")
        elif lowered == b"content-encoding":
            self._encoding = value.decode("latin-1").strip().lower()
        elif lowered == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status < 200:                # an interim answer (103 Early Hints): the next one
            self._interims += 1
            if self._interims > MAX_INTERIM:
                self._stop(NotHttp())
            self._interim = True
            return
        self._headed, self._status = True, status
        encoding = self._encoding
        if encoding in ("gzip", "x-gzip"):
            self._unpacker = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._unpacker = None       # zlib-wrapped or raw: told by its first bytes
        elif encoding not in (None, "", "identity"):
            self._stop(NotUnpacked())
        else:
            self._encoding = None
        # A 204 or 304 has no content whatever length it names (RFC 9110 8.6; llhttp reads
        # none): taken from the bound, no body would give it back
        length = None if status in (204, 304) else self._length
        if self._encoding is None and length is not None and length > self._limit:
            # too large by its own word: not waited for (a peer sending the head and then
            # nothing held the request to its timer). A packed one's length is not its
            # size unpacked (gzip's comment is any length), so it is counted as it unpacks
            self._too_large = True
            self._complete(keep=False)
            raise _Stop
        if self._encoding is None and length is not None:
            assert self._bound is not None
            try:
                self._bound.take(length)
            except PastBound as exc:
                self._stop(exc)
            self._taken, self._whole = length, True

    def on_body(self, body: bytes) -> None:
        if self._encoding is not None:
            body = self._unpacked(body)
        if self._whole:
            self._keep(body)
        elif body:
            self._count(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._reset()
            self._received = True
            return
        if self._encoding is not None:
            self._flush()
        self._complete()

    # --- the body --------------------------------------------------------------------------

    def _unpacked(self, data: bytes) -> bytes:
        unpacker = self._unpacker
        if unpacker is None:            # deflate: zlib's header, or a raw stream
            # told by the first two bytes, which may come in two chunks (or segments):
            # the first held until the second has come, not taken alone as raw deflate
            data, self._held = self._held + data, b""
            if len(data) < 2:
                self._held = data
                return b""
            raw = not (data[0] & 0x0F == 8
                       and ((data[0] << 8) | data[1]) % 31 == 0)
            unpacker = self._unpacker = zlib.decompressobj(-zlib.MAX_WBITS if raw
                                                           else zlib.MAX_WBITS)
        out = []
        try:
            while data:
                room = self._limit + 1 - self._taken - sum(map(len, out))
                piece = unpacker.decompress(data, max(room, 1))
                out.append(piece)
                if room <= len(piece) and unpacker.unconsumed_tail:
                    break               # past the limit: _count says so
                data = unpacker.unconsumed_tail
        except zlib.error:
            self._stop(NotUnpacked())
        return b"".join(out)

    def _flush(self) -> None:
        unpacker = self._unpacker
        if self._encoding is None:
            return
        if unpacker is None or not unpacker.eof:
            self._stop(NotUnpacked())   # no stream, or one cut short
        if unpacker.unused_data:
            self._stop(NotUnpacked())

    def _count(self, body: bytes) -> None:
        if self._too_large:
            return
        if self._taken + len(body) > self._limit:
            self._too_large = True      # read no further: the answer is None
            assert self._bound is not None
            self._bound.left += self._taken
            self._taken = 0
            self._body = b""
            self._complete(keep=False)
            raise _Stop
        assert self._bound is not None
        try:
            self._bound.take(len(body))
        except PastBound as exc:
            self._stop(exc)
        self._taken += len(body)
        self._keep(body)

    def _keep(self, body: bytes) -> None:
        held = self._body
        if not held:
            self._body = body
        elif isinstance(held, bytearray):
            held += body
        else:
            self._body = bytearray(held) + body

    # --- ends of an exchange -----------------------------------------------------------------

    def _stop(self, failure: BaseException) -> None:
        self._failure = failure
        raise _Stop

    def _complete(self, keep: bool = True) -> None:
        waiter, self._waiter = self._waiter, None
        answer = Answer(self._status, self._retry_after,
                        None if self._too_large else bytes(self._body))
        # What it took of the bound is the answer's now: bytes after it in the same segment
        # (fed on by the parser, and failing there) must not give it back through _fail
        self._taken = 0
        if (keep and not self.closed and self._parser is not None
                and self._parser.should_keep_alive()):
            self._parser = None
            self.pool.idle_again(self)
        else:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, failure: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if self._bound is not None:
            self._bound.left += self._taken
            self._taken = 0
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.discard(self)
            if self.transport is not None:
                self.transport.close()

    async def exchange(self, request: bytes, bound: Bound, limit: int) -> Answer:
        """`request` sent whole, its answer read; the connection closed unless the answer
        was read to its end and the peer keeps it alive."""
        loop = asyncio.get_running_loop()
        self._reset()
        self._interims = 0
        self._bound, self._limit = bound, limit
        self._parser = httptools.HttpResponseParser(self)
        waiter = self._waiter = loop.create_future()
        assert self.transport is not None
        self.transport.write(request)
        try:
            return await waiter
        except asyncio.CancelledError:
            if self._waiter is waiter:  # cut off at the timer: never used again
                self._fail(asyncio.CancelledError())
            raise


class _Limit:
    """Connections a group of pools may hold together (the peers beyond OWN_SESSIONS)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.pools: list[PeerPool] = []     # of a group: whose idle connections make room

    def close_an_idle(self) -> None:
        for pool in self.pools:
            if pool.close_an_idle():
                return

    def full(self) -> bool:
        return self.open >= self.limit

    def add(self, waiter: asyncio.Future[None]) -> None:
        """`waiter` queued, after those at the front already done (woken, or cancelled at
        their timer), so that waiting again and again under churn does not grow the queue
        until the next wake-up."""
        waiters = self.waiters
        while waiters and waiters[0].done():
            waiters.popleft()
        waiters.append(waiter)

    def wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def wake_all(self) -> None:
        """Every waiter woken, each to look again (a group's): the first may not be able to
        use the room (its own pool full too, and waits again), where another pool's could,
        and would sleep to its timer if only the first were woken."""
        waiters, self.waiters = self.waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class PeerPool:
    """The kept-alive connections to one peer's origin, `limit` open at once (and within
    `shared`'s, for the peers that share one); a request waits for one within its peer's
    timer (the caller's cancellation)."""

    def __init__(self, url: URL, limit: int, context: _Context,
                 shared: _Limit | None = None) -> None:
        self._host = url.raw_host or ""
        self._port = url.port
        self._tls = url.scheme == "https"
        # The name the certificate is checked against (and sent as SNI): the host without
        # the trailing dot of a fully qualified name ("peer.example."), which no certificate
        # names, as aiohttp's client strips it; with it, such a peer was a hostname mismatch
        self._name = self._host.removesuffix(".")
        self._context = context
        self._own = _Limit(limit)
        self._shared = shared
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self.closed = False
        if shared is not None:
            shared.pools.append(self)

    @property
    def limit(self) -> int:
        return self._own.limit

    @property
    def group_limit(self) -> int | None:
        """The bound of the group this pool shares connections with, if it is in one."""
        return None if self._shared is None else self._shared.limit

    async def request(self, method: str, url: URL, headers: CIMultiDict[str],
                      body: bytes | None, bound: Bound, limit: int) -> Answer:
        """`method` of `url` with `headers` (and `body`), its answer read within `limit`
        bytes and `bound`. A request whose connection, used before, was closed by the peer
        before any answer is sent once more on a new connection."""
        message = _request(method, url, headers, body)
        for again in (False, True):
            connection = await self._connection(fresh=again)
            try:
                return await connection.exchange(message, bound, limit)
            except Closed:
                if again:
                    raise
        raise AssertionError("unreachable")

    async def _connection(self, fresh: bool) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self.closed:
                raise NoConnection("the network is closing")
            if not fresh:
                now = loop.time()
                while self._idle:
                    connection = self._idle.pop()
                    if (not connection.closed and now - connection.idle_since < KEEPALIVE_SECONDS
                            and connection.transport is not None
                            and not connection.transport.is_closing()):
                        connection.used = True
                        return connection
                    connection.close()
            shared = self._shared
            if shared is not None and shared.full() and not self._own.full():
                shared.close_an_idle()   # one kept by another peer of the group, if any
            if not self._own.full() and (shared is None or not shared.full()):
                return await self._connect()
            if fresh and self.close_an_idle():     # room made by closing an idle one
                continue
            waiter = loop.create_future()
            self._own.add(waiter)
            if shared is not None and shared.full():
                shared.add(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._own.wake()    # woken but gone: the next one's turn
                    if shared is not None:
                        shared.wake_all()
                raise

    async def _connect(self) -> _Connection:
        self._own.open += 1
        if self._shared is not None:
            self._shared.open += 1
        connection = _Connection(self)
        self._open.add(connection)
        try:
            await asyncio.get_running_loop().create_connection(
                lambda: connection, self._host, self._port,
                ssl=self._context.get() if self._tls else None,
                server_hostname=self._name if self._tls else None)
        # refused, unreachable, a name not found, TLS; and a host name the resolver refuses
        # before asking (a label past 63 bytes: the idna codec's UnicodeError), which a
        # registry may list, and which was the whole network request's 500
        except (OSError, UnicodeError) as exc:
            connection.close()
            raise NoConnection(str(exc) or type(exc).__name__) from exc
        except BaseException:
            connection.close()
            raise
        if connection.closed:           # the pool closed while it was made: close() found
            if connection.transport is not None:    # no transport to close then
                connection.transport.close()
            raise NoConnection("the network is closing")
        return connection

    def close_an_idle(self) -> bool:
        """The longest idle connection closed, if any; whether one was."""
        if not self._idle:
            return False
        self._idle.pop(0).close()
        return True

    def idle_again(self, connection: _Connection) -> None:
        if self.closed:
            connection.close()
            return
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle.append(connection)
        self._own.wake()
        if self._shared is not None:    # another peer's request, waiting for the group,
            self._shared.wake_all()     # may close this one to make room (_connection)

    def discard(self, connection: _Connection) -> None:
        """`connection` closed: its place freed, once."""
        if connection in self._open:
            self._open.discard(connection)
            self._own.open -= 1
            self._own.wake()
            if self._shared is not None:
                self._shared.open -= 1
                self._shared.wake_all()
        if connection in self._idle:
            self._idle.remove(connection)

    def close(self) -> None:
        self.closed = True
        for connection in list(self._open):
            connection.close()
        for waiter in self._own.waiters:
            if not waiter.done():
                waiter.set_result(None)


class _Context:
    """The TLS context of a node's peers, made at the first https peer's connection (so
    that SSL_CERT_FILE set before it is honoured): Python's default, which verifies the
    peer's certificate and host name against the system's authorities, as aiohttp's."""

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None

    def get(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context


def _request(method: str, url: URL, headers: CIMultiDict[str], body: bytes | None) -> bytes:
    """The request's bytes. A header holding a control character but tab is refused
    (ValueError), as aiohttp refuses it: a line break would end the header and start
    another the caller wrote (RFC 9110 5.5)."""
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host_port_subcomponent}\r\n",
             _FIXED]
    for name, value in headers.items():
        if _FORBIDDEN.search(value) or _FORBIDDEN.search(name) or ":" in name:
            raise ValueError(f"header {name!r}: a control character or colon in it")
        lines.append(f"{name}: {value}\r\n")
    # surrogateescape: bytes the node's server read as they were (a caller's purpose of use
    # not in UTF-8, which aiohttp's server decodes so) go on as they came
    if body is not None:
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        return "".join(lines).encode("utf-8", "surrogateescape") + body
    lines.append("\r\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


class PeerPools:
    """The pools of a node's peers: one per peer's base URL, of `limit` connections, for
    the first `own` base URLs; the peers beyond them share `shared_limit` connections, each
    origin within `limit` (so the sockets a node holds stay bounded, whatever a registry
    lists). Closed, they are closed for good."""

    def __init__(self, limit: int, own: int, shared_limit: int) -> None:
        self._limit, self._own_count = limit, own
        self._own: dict[str, PeerPool] = {}
        self._by_origin: dict[tuple[str, str, int | None], PeerPool] = {}
        self._shared = _Limit(shared_limit)
        self._context = _Context()
        self.closed = False

    def of(self, base_url: str) -> PeerPool:
        """The pool of the peer at `base_url`; NoConnection once closed: a pool made after
        close() opened connections that nobody would close (a request the network's end
        overtook)."""
        if self.closed:
            raise NoConnection("the network is closing")
        pool = self._own.get(base_url)
        if pool is not None:
            return pool
        url = URL(base_url)
        if len(self._own) < self._own_count:
            pool = self._own[base_url] = PeerPool(url, self._limit, self._context)
            return pool
        origin = (url.scheme, url.raw_host or "", url.port)
        pool = self._by_origin.get(origin)
        if pool is None:
            pool = self._by_origin[origin] = PeerPool(url, self._limit, self._context,
                                                      self._shared)
        return pool

    def close(self) -> None:
        self.closed = True
        for pool in [*self._own.values(), *self._by_origin.values()]:
            pool.close()
        self._own, self._by_origin = {}, {}
