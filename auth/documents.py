"""Reading a JSON document from an issuer: its discovery document, its JWKS, a user's
userinfo. A trusted issuer's answers are still input from the network: a body larger than any
such document, one that is not JSON, or JSON nested deeper than the parser's recursion limit
(which raised RecursionError: a 500 for the caller whose token sent the node there) is one
`ValueError`, handled where each document is read like any other unusable answer.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:    # not loaded by a command that never fetches (auth/issuers.py)
    import aiohttp

MAX_DOCUMENT_BYTES = 1 << 20     # a JWKS of a hundred keys is about 150 kB


async def issuer_document(session: aiohttp.ClientSession, url: str,
                          timeout: aiohttp.ClientTimeout,
                          headers: dict[str, str] | None = None) -> object:
    """The JSON at `url`; aiohttp.ClientError (an error status among them), TimeoutError or
    ValueError when it cannot be had."""
    async with session.get(url, headers=headers, timeout=timeout) as response:
        response.raise_for_status()
        body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
