"""Reading a request's body, for the handlers of the node, the catalogue and the development
AAI alike: within a time limit, and decoded as its Content-Encoding says to the end of its
stream.

aiohttp bounds slow headers and idle connections, never a slow body: a client that promised
a body and then sent it slowly, or not at all, held its connection and a handler for good.
aiohttp's decoder raises RequestPayloadError for a body that does not decode, which handlers
that caught only ValueError answered with a 500. And it does not check that a gzip stream
ends (its trailer holds the length and checksum of what it packs): a gzip body cut short was
read as whatever of it had arrived, one cut after its header as no body at all, and so an
empty query answered 200. So the node and the catalogue take their bodies as sent
(UNDECODED, their applications' handler_args) and `read_body` decodes a body with a
Content-Encoding itself, refusing one whose stream does not end; a body without one, nearly
every body, is read as aiohttp reads it, with no decoding step added.

A refusal is a BodyRefused, which each service answers in its own error form, and after
which the connection ends: the rest of the body was not read.
"""
from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import hdrs, web
from aiohttp.web import RequestPayloadError

T = TypeVar("T")

# An application's handler_args for read_body: aiohttp hands its handlers bodies as sent
UNDECODED = {"auto_decompress": False}
# The codings read_body decodes, by name (RFC 9110 8.4.1.3: x-gzip is gzip); a body in any
# other, a list of several (`gzip, gzip`) too, is a 415, never handed on as sent: br and zstd
# were the only ones refused (aiohttp decodes them only with packages not installed here),
# and a body in another reached the handler packed, "not valid JSON"
_DECODED_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}
_UNCODED = ("", "identity")
_UNDECODABLE = "body: cannot be decoded as its Content-Encoding says"
_DECODED = web.RequestKey("decoded_body", bytes)     # read_body's, for its later callers
_MAX_MEMBERS = 1024         # streams in one body, as aiohttp's decoder allows
_CHUNK = 1 << 16


class BodyRefused(Exception):
    """A body a handler cannot take: its HTTP status and a message naming `body`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def said_too_large(request: web.BaseRequest) -> BodyRefused | None:
    """The 413 of a body whose Content-Length says it is larger than the application takes
    (client_max_size), or None: refused before it is read (`arrived`), and before a client
    that waits to be asked for it (Expect: 100-continue) is asked (node/http/server.py)."""
    length = request.content_length
    if length is not None and length > request.client_max_size > 0:
        return BodyRefused(413, f"body: more than {request.client_max_size} bytes")
    return None


async def arrived(request: web.Request, timeout_seconds: float,
                  read: Callable[[], Awaitable[T]]) -> T:
    """What `read` (request.read, request.post) makes of the body, which must arrive in full
    within `timeout_seconds`: else a BodyRefused 408, a 413 when it is larger than the
    application takes (client_max_size), and a 400 when aiohttp's decoder fails on it
    (RequestPayloadError). A body that came with its headers, as a small one does, is
    there already and read without a timer (the node's fast path's cost,
    bench/individuals.py --instructions)."""
    try:
        if not request.content.is_eof():
            # a length past the limit said up front is refused at once: read, it held the
            # connection until the body's time was up (30 s), then a 408, for a body never
            # to be taken (found by a review, 2026-12-06)
            if (refused := said_too_large(request)) is not None:
                raise refused
            async with asyncio.timeout(timeout_seconds):
                return await read()
        return await read()
    except TimeoutError:
        raise BodyRefused(408, f"body: not received in full within {timeout_seconds:g} s"
                          ) from None
    except web.HTTPRequestEntityTooLarge:
        # aiohttp's own words ("Maximum request body size N exceeded.") named no field; as
        # a packed body past the limit is refused (_decoded)
        raise BodyRefused(413, f"body: more than {request.client_max_size} bytes") from None
    except RequestPayloadError:
        # Nothing more of this body will be read: without its end marked, aiohttp reads on
        # after the answer (its lingering close), meets the same error and logs it as an
        # unhandled exception with its traceback (aiohttp issue #1918)
        request.content.feed_eof()
        raise BodyRefused(400, _UNDECODABLE) from None


async def read_body(request: web.Request, timeout_seconds: float) -> bytes:
    """The body, as `arrived` reads it, decoded as its Content-Encoding says (gzip, deflate;
    identity, or none, as sent; any other a BodyRefused 415); for an application created with
    UNDECODED. Decoded once per request, however many read it."""
    raw = await arrived(request, timeout_seconds, request.read)
    coding = request.headers.get(hdrs.CONTENT_ENCODING)
    if coding is None:
        return raw
    if _DECODED not in request:
        coding = coding.strip().lower() if coding.isascii() else coding  # as aiohttp reads it
        if coding in _UNCODED:
            request[_DECODED] = raw
            return raw
        unpacked = _DECODED_CODINGS.get(coding)
        if unpacked is None:
            raise BodyRefused(415, f"body: Content-Encoding {coding[:100]} is not one this "
                                   "service decodes (gzip, deflate)")
        if not raw:
            # no stream at all is no gzip or deflate stream: answered as an empty query
            # (a 200) it was what a body cut after its header was before
            raise BodyRefused(400, _UNDECODABLE)
        request[_DECODED] = _decoded(raw, unpacked, request.client_max_size)
    return request[_DECODED]


def _decoded(raw: bytes, coding: str, limit: int) -> bytes:
    """`raw` unpacked to the end of its stream, at most `limit` bytes of it (client_max_size,
    which aiohttp's decoder held a body to; 0 is none). As aiohttp's: a deflate body is
    zlib's format or raw deflate, and a body may hold up to _MAX_MEMBERS streams one after
    another (RFC 1952's gzip members), each unpacked from chunks of at most _CHUNK bytes so
    that a body of many small ones costs no more than one."""
    wbits = (16 + zlib.MAX_WBITS if coding == "gzip"
             else zlib.MAX_WBITS if raw[0] & 0x0F == 8 else -zlib.MAX_WBITS)
    out = bytearray()
    unpacker, members = None, 0
    view = memoryview(raw)
    for start in range(0, len(view), _CHUNK):
        data = view[start:start + _CHUNK]
        while data:
            if unpacker is None or unpacker.eof:
                members += 1
                if members > _MAX_MEMBERS:
                    raise BodyRefused(400, f"body: more than {_MAX_MEMBERS} compressed "
                                           "streams one after another")
                unpacker = zlib.decompressobj(wbits)
            try:
                out += unpacker.decompress(data, limit + 1 - len(out) if limit else 0)
            except zlib.error:
                raise BodyRefused(400, _UNDECODABLE) from None
            if limit and len(out) > limit:
                raise BodyRefused(413, f"body: more than {limit} bytes once decoded")
            # below the limit, a stream takes all it is given up to its end
            data = unpacker.unused_data if unpacker.eof else b""
    if unpacker is None or not unpacker.eof:
        raise BodyRefused(400, _UNDECODABLE)         # cut short: its stream never ended
    return bytes(out)
