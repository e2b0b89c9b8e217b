"""Issuers' public keys, fetched with aiohttp and cached by `kid` and algorithm.

By both: RFC 7517 lets one kid name keys of different types held as alternatives (an RSA
and an EC key), and keyed by kid alone the one listed last replaced the others, whose tokens
were then refused. A key published for encryption (`use: enc`) is no signing key and is
skipped: listed after a signing key of its kid it had replaced it, and it verified
signatures.

An unknown `kid` triggers one refresh of that JWKS, at most once per cooldown, however many
tokens ask (a flood of made-up kids costs one fetch); a set older than `max_age` is re-read
too. A refresh replaces the key set, so a key the issuer has withdrawn stops verifying at the
next refresh. A refresh that fails keeps the keys read before, for an issuer's passing
outage, but only for `keep` after they were last read: past it no key of that JWKS verifies
until it is read again. Kept for as long as the JWKS could not be read, a key the issuer
withdrew (after a compromise, say) went on verifying while whoever held it kept the JWKS
from being read (found by a review, 2026-12-05). A key missing because the JWKS could not be
read (KeysUnavailable) is told apart from one the JWKS, read, does not hold: the first says
nothing about the token (the node answers it 503, not 401). So may the second, when the keys
were read before the token was issued and the cooldown allows no read for it: KeyNotFound
says when they were read (`read_before`), and auth/tokens.py compares that with the token's
`iat`. A key that did not verify a token is read again when the cooldown allows (`keys`'s
`failed`): an issuer may replace the key under a kid it keeps. Keys listed under one kid and
algorithm are each tried (the first MAX_KEYS_PER_KID): rotating that way, an issuer lists the
old and the new key together, and kept one per kid, the one listed last refused every token
of the other (found by a review, 2026-12-06).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
import jwt

from auth.documents import issuer_document

log = logging.getLogger(__name__)
# The most keys tried for one kid and algorithm: each is a signature check of every token
# naming it, and a JWKS of a megabyte holds a couple of thousand keys
MAX_KEYS_PER_KID = 4


class KeyNotFound(Exception):
    """No key with that kid at that JWKS (after a refresh, if the cooldown allowed one).
    `read_before`: when (time.time) the keys searched were read, if not for this lookup (the
    cooldown allowed none): a key published since, as an issuer rotating its keys does, may
    be the one, which a token issued after that read may be signed with (auth/tokens.py);
    None when they were read for it."""

    def __init__(self, message: str, read_before: float | None = None) -> None:
        super().__init__(message)
        self.read_before = read_before


class KeysUnavailable(KeyNotFound):
    """The JWKS could not be read: never, or not within `keep`, or its last fetch failed and
    the keys kept do not hold the kid (one the issuer may have published since). Unlike a
    kid missing from a JWKS just read, this says nothing about the token, only that the
    issuer cannot be asked now."""


@dataclass
class _KeySet:
    # kid, algorithm: the keys listed under them, in the JWKS's order
    keys: dict[tuple[str | None, str], tuple[jwt.PyJWK, ...]] = field(default_factory=dict)
    fetched_at: float = float("-inf")      # the last fetch, read or failed
    read_at: float = float("-inf")         # the last fetch that read the keys
    read_on: float = float("-inf")         # when that was, by the clock tokens' iat are on
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JwksCache:
    def __init__(self, session: aiohttp.ClientSession, *, cooldown: float = 30.0,
                 max_age: float = 300.0, keep: float = 86_400.0, timeout: float = 5.0) -> None:
        self.session = session
        self.cooldown = cooldown
        self.max_age = max_age
        self.keep = keep
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._sets: dict[str, _KeySet] = {}

    async def keys(self, jwks_uri: str, kid: str | None, algorithm: str,
                   failed: tuple[jwt.PyJWK, ...] | None = None) -> tuple[jwt.PyJWK, ...]:
        """The keys of that kid for that algorithm (a JWA name, the issuer's pinned one), any
        of which may have signed a token naming them.
        `failed`: the keys this gave before, none of which verified the token: sought as a kid
        not held is (read again when the cooldown allows, KeyNotFound while they are still
        the ones held), since an issuer may replace the key under a kid, which RFC 7515 makes
        a hint. Held for good, a key so replaced refused every token of the new one until the
        set's max age (found by a review, 2026-12-06)."""
        entry = self._sets.setdefault(jwks_uri, _KeySet())
        wanted = (kid, algorithm)
        refreshed = False
        if entry.keys.get(wanted) in (None, failed) or self._stale(entry):
            async with entry.lock:
                since = time.monotonic() - entry.fetched_at
                if (entry.keys.get(wanted) in (None, failed) or self._stale(entry)) and (
                        since >= self.cooldown):
                    await self._refresh(jwks_uri, entry)
                    refreshed = entry.read_at == entry.fetched_at
        if time.monotonic() - entry.read_at > self.keep:
            raise KeysUnavailable(f"the keys at {jwks_uri} were last read more than "
                                  f"{self.keep:g} s ago")
        found = entry.keys.get(wanted)
        if found is failed:
            found = None
        if not found and entry.read_at < entry.fetched_at:
            raise KeysUnavailable(f"no key {kid!r} among those kept from {jwks_uri}, whose "
                                  "last fetch failed")
        if not found:
            raise KeyNotFound(f"no {algorithm} key {kid!r} at {jwks_uri}",
                              None if refreshed else entry.read_on)
        return found

    def _stale(self, entry: _KeySet) -> bool:
        """A set older than max_age is re-read, so withdrawn keys stop verifying; so is one
        past `keep`, which no longer verifies, at each cooldown until it is read."""
        now = time.monotonic()
        return now - entry.fetched_at > self.max_age or now - entry.read_at > self.keep

    async def _refresh(self, jwks_uri: str, entry: _KeySet) -> None:
        entry.fetched_at = time.monotonic()      # even a failed fetch waits out the cooldown
        began = time.time()
        try:
            document = await issuer_document(self.session, jwks_uri, self.timeout)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("JWKS fetch from %s failed: %s", jwks_uri, exc)
            return
        listed = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(listed, list):
            log.warning("JWKS at %s is not a JWK Set (an object with a list of keys)",
                        jwks_uri)
            return
        keys: dict[tuple[str | None, str], list[jwt.PyJWK]] = {}
        for data in listed:
            if not isinstance(data, dict) or not isinstance(kid := data.get("kid"), str | None):
                log.warning("skipping an entry of the JWKS at %s: not a key with a string "
                            "kid", jwks_uri)
                continue
            if data.get("use", "sig") != "sig":
                log.warning("skipping key %.80r at %s: not a signing key (use %.20r)", kid,
                            jwks_uri, data["use"])
                continue
            try:
                key = jwt.PyJWK.from_dict(data)
                keys.setdefault((kid, key.algorithm_name), []).append(key)
            # PyJWT's reading of a key raises what it meets: PyJWKError, ValueError, a
            # TypeError for an `alg` that is a list, NotImplementedError for `"alg": "none"`.
            # Whatever it is, that key is unusable, and the others still count.
            except Exception as exc:  # noqa: BLE001
                log.warning("skipping unusable key %.80r at %s: %r", kid, jwks_uri, exc)
        if beyond := [f"{kid!r:.80}" for (kid, _), listed_keys in keys.items()
                      if len(listed_keys) > MAX_KEYS_PER_KID]:
            log.warning("JWKS at %s lists more than %d keys under one kid and algorithm "
                        "(%s): the first %d listed are used", jwks_uri, MAX_KEYS_PER_KID,
                        ", ".join(beyond[:5]), MAX_KEYS_PER_KID)
        entry.keys = {wanted: tuple(listed_keys[:MAX_KEYS_PER_KID])
                      for wanted, listed_keys in keys.items()}
        entry.read_at, entry.read_on = entry.fetched_at, began
