"""Reading what the node fetches over HTTP as the input it is: bounded in size, and, for an
issuer's JSON documents (its discovery document, its JWKS, a user's userinfo), parsed so that
anything unusable is one `ValueError`. A trusted issuer's answers are still input from the
network: a body larger than any such document, one that is not JSON, or JSON nested deeper
than the parser's recursion limit (which raised RecursionError: a 500 for the caller whose
token sent the node there) is refused where each document is read, like any other unusable
answer. `bounded_body` serves the catalogue's harvest and the network's peers too, and
`parsed_json` the node's publication to the catalogue and the CLI's reading of services'
answers.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:    # not loaded by a command that never fetches (auth/issuers.py)
    import aiohttp

MAX_DOCUMENT_BYTES = 1 << 20     # a JWKS of a hundred keys is about 150 kB
_CHUNK = 64 * 1024


async def bounded_body(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None past `limit` bytes (read no further). Not
    `response.content.read(limit + 1)`: that returns what has arrived so far, up to the
    limit, so a body longer than one read of the network (about 128 kB) came back cut
    short, and a large enough FAIR Data Point document was harvested as malformed."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def issuer_document(session: aiohttp.ClientSession, url: str,
                          timeout: aiohttp.ClientTimeout,
                          headers: dict[str, str] | None = None) -> object:
    """The JSON at `url`; aiohttp.ClientError (an error status among them), TimeoutError or
    ValueError when it cannot be had. A redirect is not followed but refused, naming where
    it led: the URL is the one configured (or discovered and checked as configured ones
    are), and followed, a redirect reached what no check had seen, an https issuer's keys
    or a bearer token's userinfo read from a plain http URL, which production refuses to
    configure (found by a review, 2026-12-05)."""
    async with session.get(url, headers=headers, timeout=timeout,
                           allow_redirects=False) as response:
        if 300 <= response.status < 400:
            raise ValueError(f"redirected ({response.status}) to "
                             f"{response.headers.get('Location', '(nowhere said)')!r:.200}: "
                             "configure the URL it leads to")
        response.raise_for_status()
        body = await bounded_body(response, MAX_DOCUMENT_BYTES)
    if body is None:
        raise ValueError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    return parsed_json(body)


def parsed_json(body: bytes) -> object:
    """`body` as JSON; ValueError when it is not, or nested beyond the parser's recursion
    limit (whose RecursionError no caller expects)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
