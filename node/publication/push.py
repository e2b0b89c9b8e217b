"""A node registering with the catalogue service and pushing its full dataset snapshot.

The catalogue may be down or restarting when the node starts or ingests, so a publication is
retried with exponential backoff and jitter, bounded in attempts and in total time. Refusals
that retrying cannot heal (bad token, another node's identifier, invalid records) stop at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import aiohttp

from auth.documents import bounded_body, parsed_json
from beacon.dataset_cache import DatasetCache
from catalogue.record import CatalogueRecord
from node.publication.records import fdp_base_url, records_for
from node.settings import Settings

log = logging.getLogger(__name__)
RecordSource = Callable[[], Awaitable[list[CatalogueRecord]]]
MAX_ANSWER_BYTES = 1 << 20      # the catalogue answers a push with two lists of identifiers
RETRY_AFTER_SECONDS = 10.0      # between rounds of backoff while the catalogue stays away
# after the catalogue refused the publication (a 4xx: the token, the node's id, a record):
# what heals it is the operator's change at the catalogue, or the node's datasets changing
REFUSED_RETRY_AFTER_SECONDS = 600.0


class PublishError(Exception):
    """The publication did not reach the catalogue; the message says why."""


class _Permanent(PublishError):
    pass


@dataclass(frozen=True)
class Backoff:
    """Delays stay short (at most `max_delay`) so that a node publishes within seconds of the
    catalogue's return from an outage, not minutes later."""

    attempts: int = 6
    first_delay: float = 1.0
    max_delay: float = 10.0
    total_seconds: float = 120.0
    request_timeout: float = 10.0

    def delays(self) -> Iterator[float]:
        """Exponential with equal jitter: half the step fixed, half random, so restarted
        nodes do not all retry at the same instant."""
        for attempt in range(self.attempts - 1):
            step = min(self.max_delay, self.first_delay * 2 ** attempt)
            yield step / 2 + random.uniform(0, step / 2)


@dataclass(frozen=True)
class Published:
    upserted: list[str]
    withdrawn: list[str]
    attempts: int


def registration(settings: Settings) -> dict[str, str | None]:
    return {"name": settings.beacon_name, "country": settings.country,
            "beaconUrl": f"{settings.base_url}/api", "fdpUrl": fdp_base_url(settings)}


async def _put(session: aiohttp.ClientSession, url: str, token: str, body: object,
               timeout: float) -> dict:
    """The catalogue's answer (a JSON object); PublishError (retried) for anything else,
    _Permanent for its refusals. Its answer is input: one that was not an object, or JSON
    nested beyond the parser, was an AttributeError or a RecursionError out of `publish`."""
    async with session.put(url, json=body, headers={"Authorization": f"Bearer {token}"},
                           timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        raw = await bounded_body(response, MAX_ANSWER_BYTES)
    try:
        answer = parsed_json(raw) if raw is not None else None
    except ValueError:
        answer = None
    if response.status == 200:
        if not isinstance(answer, dict):
            raise PublishError(f"{url}: HTTP 200 but not the catalogue's answer (a JSON "
                               "object)")
        return answer
    error = answer.get("error") if isinstance(answer, dict) else None
    message = f"{url}: HTTP {response.status}: " + str(
        error.get("message") if isinstance(error, dict)
        else (raw or b"")[:200].decode("utf-8", "replace"))
    if 400 <= response.status < 500 and response.status not in (408, 429):
        raise _Permanent(message)
    raise PublishError(message)


async def _attempt(session: aiohttp.ClientSession, settings: Settings,
                   records: list[CatalogueRecord], timeout: float) -> dict:
    assert settings.catalogue_url and settings.catalogue_token
    base = f"{settings.catalogue_url}/api/nodes/{settings.beacon_id}"
    token = settings.catalogue_token.get_secret_value()
    await _put(session, base, token, registration(settings), timeout)
    snapshot = {"records": [r.to_json() for r in records]}
    return await _put(session, f"{base}/datasets", token, snapshot, timeout)


async def publish(session: aiohttp.ClientSession, settings: Settings,
                  records: list[CatalogueRecord], backoff: Backoff = Backoff()) -> Published:
    """Register and push `records` as the node's full snapshot; PublishError if it failed."""
    if not settings.catalogue_url or settings.catalogue_token is None:
        raise _Permanent("catalogue_url and catalogue_token must both be set to publish")
    started = time.monotonic()
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            answer = await _attempt(session, settings, records, backoff.request_timeout)
            log.info("published %d datasets to %s (attempt %d)", len(records),
                     settings.catalogue_url, attempt)
            return Published(answer.get("upserted", []), answer.get("withdrawn", []), attempt)
        except _Permanent as exc:
            log.error("catalogue refused the publication, not retried until the datasets "
                      "change or for %.0f minutes: %s", REFUSED_RETRY_AFTER_SECONDS / 60, exc)
            raise
        except (PublishError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            delay = next(delays, None)
            if delay is None or time.monotonic() - started + delay > backoff.total_seconds:
                log.error("publishing to %s failed after %d attempts: %s",
                          settings.catalogue_url, attempt, reason)
                raise PublishError(f"{attempt} attempts failed; last: {reason}") from None
            log.warning("publishing to %s failed (attempt %d, retry in %.1f s): %s",
                        settings.catalogue_url, attempt, delay, reason)
            await asyncio.sleep(delay)


class Publisher:
    """Publishes once at start and again whenever `changed()` is called (the node's dataset
    cache calls it on every ingest or removal); a failed publication is retried later:
    after `retry_after` when the catalogue could not be reached, after `refused_retry_after`
    when it refused (a 4xx, which the catalogue's operator must heal). Retried every 10 s,
    a refusal logged "not retrying" every 10 s (found by a review, 2026-12-06)."""

    def __init__(self, settings: Settings, records: RecordSource,
                 backoff: Backoff = Backoff(), retry_after: float = RETRY_AFTER_SECONDS,
                 refused_retry_after: float = REFUSED_RETRY_AFTER_SECONDS) -> None:
        self.settings = settings
        self.records = records
        self.backoff = backoff
        self.retry_after = retry_after
        self.refused_retry_after = refused_retry_after
        self._changed = asyncio.Event()

    def changed(self) -> None:
        self._changed.set()

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                self._changed.clear()
                wait: float | None = None
                try:
                    await publish(session, self.settings, await self.records(), self.backoff)
                except _Permanent:
                    wait = self.refused_retry_after     # logged by publish()
                except PublishError:
                    wait = self.retry_after             # logged by publish()
                except Exception:
                    wait = self.retry_after
                    log.exception("publishing to the catalogue failed")
                try:
                    await asyncio.wait_for(self._changed.wait(), wait)
                except TimeoutError:
                    pass


@contextlib.asynccontextmanager
async def publishing(settings: Settings, cache: DatasetCache,
                     published: RecordSource | None = None) -> AsyncIterator[None]:
    """While open, publish the node's datasets in the background (nothing happens without a
    catalogue_url): start-up never waits for the catalogue. Without catalogue_token there is
    nothing to publish with: said once, unless the URL is there for the registry
    (peers_from_catalogue); the publisher found it out every 10 s and said nothing.
    `published`: the records as the node's FAIR Data Point dates them (node/app.py), so that
    a push states the `modified` a harvest of it reads; by default, the datasets' own."""
    if not settings.catalogue_url:
        yield
        return
    if settings.catalogue_token is None:
        if not settings.peers_from_catalogue:
            log.warning("GDI_NODE_CATALOGUE_TOKEN is not set: the node's datasets are not "
                        "published to the catalogue at %s", settings.catalogue_url)
        yield
        return
    async def records() -> list[CatalogueRecord]:
        return records_for(await cache.all(), settings)

    publisher = Publisher(settings, published or records)
    cache.subscribe(publisher.changed)
    task = asyncio.create_task(publisher.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
