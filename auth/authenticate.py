"""From a bearer token to a `Caller`, verified once and then cached until it expires.

The cache key is a hash of the token (the token itself is never stored or logged). An entry
lives until the earliest of the token's and its visas' expiry, and at most an hour, so a
cached answer never outlives what it was derived from; nor a visa dropped as not yet valid
(Passport.until), which then counts. A caller whose visas could not all be
gathered (userinfo failing, a visa's key not found) is cached for seconds only: a passing
failure must not downgrade a researcher for the token's whole life, nor be retried on every
request. Concurrent requests with one token share one verification, so a burst costs one
userinfo call.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping

import aiohttp

from auth.claims import AccessClaims
from auth.issuers import (
    DISCOVERY_RETRY_SECONDS,
    IssuerRegistry,
    SignInEndpoints,
    TrustedIssuer,
)
from auth.jwks import JwksCache
from auth.passport import grants, is_bona_fide, passport_of
from auth.policy import Caller, Identity
from auth.tokens import InvalidToken, IssuerUnavailable, VerifiedToken, verify

MAX_CACHE_SECONDS = 3600
INCOMPLETE_CACHE_SECONDS = 5
MAX_CACHED = 10_000


class Authenticator:
    def __init__(self, registry: IssuerRegistry, session: aiohttp.ClientSession,
                 jwks: JwksCache) -> None:
        self.registry = registry
        self.session = session
        self.jwks = jwks
        self._cache: OrderedDict[bytes, tuple[float, Caller]] = OrderedDict()
        self._verifying: dict[bytes, asyncio.Task[Caller]] = {}

    async def caller(self, bearer: str) -> Caller:
        """The verified caller, or InvalidToken: a bad token is refused, never downgraded."""
        if not self.registry:
            raise InvalidToken("this node trusts no token issuer")
        key = hashlib.sha256(bearer.encode()).digest()
        cached = self._cache.get(key)
        if cached and cached[0] > time.time():
            return cached[1]
        task = self._verifying.get(key)
        if task is None:
            task = asyncio.create_task(self._verified(key, bearer))
            self._verifying[key] = task
            task.add_done_callback(functools.partial(self._settled, key))
        # shielded: a request that goes away does not cancel the others' verification
        return await asyncio.shield(task)

    async def sign_in_endpoints(self) -> Mapping[str, SignInEndpoints]:
        """IssuerRegistry.sign_in_endpoints, read with the issuers' session."""
        return await self.registry.sign_in_endpoints(self.session)

    async def _verify_waiting(self, bearer: str) -> VerifiedToken[AccessClaims]:
        """`verify`, while some issuer waits for its discovery document: a token of one is
        verified again once the registry has tried to discover it (IssuerRegistry.retry);
        IssuerUnavailable while it still waits (its document unreachable or unusable), as
        for a JWKS that cannot be read: that says nothing about the token."""
        missed: list[str] = []

        def lookup(iss: str) -> TrustedIssuer | None:
            found = self.registry.for_access_token(iss)
            if found is None and self.registry.waiting(iss, "access"):
                missed.append(iss)
            return found
        try:
            return await verify(bearer, lookup, self.jwks, AccessClaims)
        except InvalidToken:
            if not missed:
                raise
            if not await self.registry.retry(missed[0], self.session):
                if self.registry.waiting(missed[0]):
                    raise IssuerUnavailable("the issuer's discovery document could not be "
                                            "read; retry later",
                                            DISCOVERY_RETRY_SECONDS) from None
                raise
        return await verify(bearer, self.registry.for_access_token, self.jwks, AccessClaims)

    def _settled(self, key: bytes, task: asyncio.Task[Caller]) -> None:
        del self._verifying[key]
        if not task.cancelled():
            task.exception()     # retrieved here too, in case every waiter went away

    async def _verified(self, key: bytes, bearer: str) -> Caller:
        access = await (self._verify_waiting(bearer) if self.registry.undiscovered else
                        verify(bearer, self.registry.for_access_token, self.jwks, AccessClaims))
        passport = await passport_of(access, bearer, self.registry, self.jwks, self.session)
        caller = Caller(identity=Identity(access.issuer.issuer, access.claims.sub),
                        token_id=access.claims.jti or "",
                        registered=is_bona_fide(passport.visas), grants=grants(passport.visas))
        longest = MAX_CACHE_SECONDS if passport.complete else INCOMPLETE_CACHE_SECONDS
        expires = min([access.claims.exp, time.time() + longest, passport.until]
                      + [v.expires for v in passport.visas])
        self._cache[key] = (expires, caller)
        self._cache.move_to_end(key)      # a re-verified token is the newest, not the oldest
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return caller
