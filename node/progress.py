"""Ingest progress for people: a tqdm bar on a terminal, a log line every few seconds otherwise."""
from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("gdi_node.ingest")


class IngestProgress:
    """Receives (records so far, fraction of the genome covered) from the ingest coordinator.

    The record total is unknown up front; it is estimated from the fraction of the file's
    contigs already covered, which is what the ETA rests on."""

    def __init__(self, label: str, interval: float = 5.0) -> None:
        self.label = label
        self.interactive = sys.stderr.isatty()
        self.bar = tqdm(desc=label, unit=" rec", unit_scale=True, dynamic_ncols=True,
                        disable=not self.interactive)
        self.interval = interval
        self.started = self.last_log = time.monotonic()

    def __call__(self, records: int, fraction: float | None) -> None:
        if self.interactive:
            if fraction and fraction > 0.02:
                self.bar.total = max(records, int(records / fraction))
            self.bar.update(records - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last_log >= self.interval:
            self.last_log = now
            rate = records / max(now - self.started, 1e-9)
            pct = f" ({fraction:.0%})" if fraction is not None else ""
            log.info("%s: %d records%s, %.0f records/s", self.label, records, pct, rate)

    def close(self) -> None:
        if self.interactive and self.bar.total:
            self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()
