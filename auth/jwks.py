"""Issuers' public keys, fetched with aiohttp and cached by `kid`.

An unknown `kid` triggers one refresh of that JWKS, at most once per cooldown, however many
tokens ask (a flood of made-up kids costs one fetch); a set older than `max_age` is re-read
too. A refresh replaces the key set, so a key the issuer has withdrawn stops verifying at the
next refresh.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
import jwt

log = logging.getLogger(__name__)


class KeyNotFound(Exception):
    """No key with that kid at that JWKS (after a refresh, if the cooldown allowed one)."""


@dataclass
class _KeySet:
    keys: dict[str | None, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JwksCache:
    def __init__(self, session: aiohttp.ClientSession, *, cooldown: float = 30.0,
                 max_age: float = 300.0, timeout: float = 5.0) -> None:
        self.session = session
        self.cooldown = cooldown
        self.max_age = max_age
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._sets: dict[str, _KeySet] = {}

    async def key(self, jwks_uri: str, kid: str | None) -> jwt.PyJWK:
        entry = self._sets.setdefault(jwks_uri, _KeySet())
        if kid not in entry.keys or self._stale(entry):
            async with entry.lock:
                since = time.monotonic() - entry.fetched_at
                if (kid not in entry.keys or self._stale(entry)) and since >= self.cooldown:
                    await self._refresh(jwks_uri, entry)
        found = entry.keys.get(kid)
        if found is None:
            raise KeyNotFound(f"no key {kid!r} at {jwks_uri}")
        return found

    def _stale(self, entry: _KeySet) -> bool:
        """A set older than max_age is re-read, so withdrawn keys stop verifying."""
        return time.monotonic() - entry.fetched_at > self.max_age

    async def _refresh(self, jwks_uri: str, entry: _KeySet) -> None:
        entry.fetched_at = time.monotonic()      # even a failed fetch waits out the cooldown
        try:
            async with self.session.get(jwks_uri, timeout=self.timeout) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
            keys = {}
            for data in document.get("keys", []):
                try:
                    keys[data.get("kid")] = jwt.PyJWK.from_dict(data)
                except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
                    log.warning("skipping unusable key %s at %s: %s", data.get("kid"),
                                jwks_uri, exc)
            entry.keys = keys
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
            log.warning("JWKS fetch from %s failed: %s", jwks_uri, exc)
