"""Serving an application until SIGINT/SIGTERM, for every role the program runs (node,
catalogue, development AAI): in-flight requests get a few seconds to finish. Also what
aiohttp's server may log of a request it could not parse: never a header's value."""
from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from auth.tokens import MAX_TOKEN_BYTES

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 10
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
    """Filter aiohttp's server log (idempotent: a logger holds the one filter once)."""
    logging.getLogger("aiohttp.server").addFilter(_QUIET)


def run(app: web.Application, role: str, host: str, port: int,
        public_base_url: str | None = None) -> None:
    hide_request_lines()
    log.info("%s serving on http://%s:%d%s", role, host, port,
             f" (public base URL {public_base_url})" if public_base_url else "")
    web.run_app(app, host=host, port=port, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS,
                print=None)
