"""JSON responses serialised with orjson (several times faster than the stdlib on big bodies)."""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json")


def written_json_response(body: bytes) -> web.Response:
    """A 200 of JSON its caller has written already (to know that it could be)."""
    return web.Response(body=body, content_type="application/json")
