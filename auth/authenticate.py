"""From a bearer token to a `Caller`, verified once and then cached until it expires.

The cache key is a hash of the token (the token itself is never stored or logged). An entry
lives until the earliest of the token's and its visas' expiry, and at most an hour, so a
cached answer never outlives what it was derived from.
"""
from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

import aiohttp

from auth.issuers import IssuerRegistry
from auth.jwks import JwksCache
from auth.passport import grants, is_bona_fide, verified_visas, visa_tokens
from auth.policy import Caller
from auth.tokens import InvalidToken, verify

MAX_CACHE_SECONDS = 3600
MAX_CACHED = 10_000


class Authenticator:
    def __init__(self, registry: IssuerRegistry, session: aiohttp.ClientSession,
                 jwks: JwksCache) -> None:
        self.registry = registry
        self.session = session
        self.jwks = jwks
        self._cache: OrderedDict[bytes, tuple[float, Caller]] = OrderedDict()

    async def caller(self, bearer: str) -> Caller:
        """The verified caller, or InvalidToken: a bad token is refused, never downgraded."""
        key = hashlib.sha256(bearer.encode()).digest()
        cached = self._cache.get(key)
        if cached and cached[0] > time.time():
            return cached[1]
        if not self.registry:
            raise InvalidToken("this node trusts no token issuer")
        access = await verify(bearer, self.registry.for_access_token, self.jwks, "access")
        subject = access.claims["sub"]
        visas = await verified_visas(await visa_tokens(access, bearer, self.session), subject,
                                     self.registry, self.jwks)
        caller = Caller(subject=subject, token_id=str(access.claims.get("jti") or ""),
                        issuer=access.issuer.issuer, registered=is_bona_fide(visas),
                        grants=grants(visas))
        expires = min([access.claims["exp"], time.time() + MAX_CACHE_SECONDS]
                      + [v.expires for v in visas])
        self._cache[key] = (expires, caller)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return caller
