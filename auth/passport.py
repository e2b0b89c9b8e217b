"""GA4GH Passport visas: where they come from, which ones count, what they grant.

A person is the pair (issuer, sub) of their access token: a `sub` is unique only within its
issuer. So a visa counts only when all of these hold:
- the access token's issuer is trusted for visas (`visas = true`), and the visa came with
  that token: inline in its Passport, or from that issuer's userinfo endpoint (when the
  token's scope asks for `ga4gh_passport_v1`), whose `sub` must be the token's;
- the visa's `sub` is the token's `sub`. LinkedIdentities visas are not evaluated: they link
  nothing and grant nothing;
- the visa's signer (`iss`) is one the token's issuer accepts for its users
  (`accepted_visa_issuers`, by default the issuer itself) and is itself trusted for visas;
- it verifies (signature by the signer's keys, `exp`, `iat`, one of the two visa formats:
  auth/tokens.py), has the shape `ga4gh_visa_v1` requires, says `by` where its type must
  (AcceptedTermsAndPolicies, ControlledAccessGrants: Passport v1.2), has no non-empty
  `conditions` (not evaluated, so not honoured), and was not `asserted` in the future (beyond
  the clock-skew leeway).
A ControlledAccessGrants visa grants only when asserted `by` a DAC (`dac`), a signing official
(`so`) or the source's own system (`system`): `self` is the user's own claim, `peer` another
researcher's, and any other value one the spec does not define. And only when its `source` is
one its signer is configured to relay grants from (`accepted_grant_sources`, by default the
signer itself); and of a dataset naming the sources that govern it, only when its `source` is
one of them (auth/policy.py governed_keys). A visa that fails any check is dropped, never
half-trusted: it grants nothing, and the caller is answered at the level of the visas that
remain.

Registered access (bona fide) needs both halves with the Registered Access value: the terms
accepted (AcceptedTermsAndPolicies, by anyone the spec names, the user included: accepting
terms is the user's own act) and a researcher status someone else attests
(ResearcherStatus `by` a signing official `so`, the source's `system` or a `peer`). A status
the user asserts (`self`), one with no `by` (the spec's "unknown" authority, which no policy
expecting a value may accept) or any other value makes no one bona fide; nor does `dac`, the
decision-maker for a grant, not an attester of who someone is.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass

import aiohttp

from auth.claims import AccessClaims, VisaClaims
from auth.documents import issuer_document
from auth.issuers import IssuerRegistry, TrustedIssuer
from auth.jwks import JwksCache
from auth.policy import GrantKey
from auth.tokens import (
    LEEWAY_SECONDS,
    OPENID,
    VISA_ACCESS_TOKEN_SECONDS,
    InvalidToken,
    NotYetValid,
    SigningKeyUnavailable,
    VerifiedToken,
    verify,
)

log = logging.getLogger(__name__)
BONA_FIDE = "https://doi.org/10.1038/s41431-018-0219-y"
BONA_FIDE_TYPES = ("AcceptedTermsAndPolicies", "ResearcherStatus")   # both, value BONA_FIDE
PASSPORT_SCOPE = "ga4gh_passport_v1"
GRANT = "ControlledAccessGrants"
TERMS, STATUS = BONA_FIDE_TYPES
BY_REQUIRED = frozenset({TERMS, GRANT})     # "MUST include the by claim" (Passport v1.2)
ASSERTERS = frozenset({"self", "peer", "system", "so", "dac"})     # Passport v1.2's `by`
GRANTING_ASSERTERS = frozenset({"dac", "so", "system"})
STATUS_ATTESTERS = frozenset({"so", "system", "peer"})
USERINFO_TIMEOUT = aiohttp.ClientTimeout(total=5)
# The most visas one token's passport is read for (after repeats are dropped): each is a
# signature check on the event loop, and each one dropped a log line. A userinfo document's
# bound (a megabyte) allowed some 1,300 signed visas, a quarter of a second of the loop
# for one token, or half a million entries that are not visas (`0,`), as many log lines.
MAX_VISAS = 200


@dataclass(frozen=True)
class Visa:
    type: str
    value: str
    by: str | None
    expires: float
    source: str


@dataclass(frozen=True)
class Passport:
    """The visas that count for a token, and whether gathering them finished. An incomplete
    passport (userinfo unreachable or answering nonsense, a visa's signing key not found) may
    be a passing failure, so the caller built from it is cached only briefly."""

    visas: tuple[Visa, ...]
    complete: bool
    until: float = math.inf
    """When the first visa dropped as not yet valid (NotYetValid) becomes valid: what the
    passport says holds until then."""


async def passport_of(access: VerifiedToken[AccessClaims], bearer: str,
                      registry: IssuerRegistry, jwks: JwksCache,
                      session: aiohttp.ClientSession) -> Passport:
    """The visas that count for the subject (issuer, sub) of a verified access token."""
    if not access.issuer.visas:
        return Passport((), complete=True)
    inline = access.claims.ga4gh_passport_v1
    tokens = inline if inline is not None else await _userinfo_visas(access, bearer, session)
    complete = tokens is not None
    visas = []
    until = math.inf
    for raw in _bounded(tokens or [], access.issuer.issuer):
        try:
            if not isinstance(raw, str):
                raise InvalidToken("a visa that is not a JWT string")
            visas.append(_visa_of(await _verified_visa(raw, access.issuer, registry, jwks,
                                                       session), access.claims.sub))
        except SigningKeyUnavailable as exc:
            complete = False
            log.info("visa dropped for now: %s", exc)
        except NotYetValid as exc:
            until = min(until, exc.valid_from)
            log.info("visa dropped until it is valid: %s", exc)
        except InvalidToken as exc:
            log.info("visa dropped: %s", exc)
    return Passport(tuple(visas), complete, until)


async def _verified_visa(raw: str, holder: TrustedIssuer, registry: IssuerRegistry,
                         jwks: JwksCache, session: aiohttp.ClientSession
                         ) -> VerifiedToken[VisaClaims]:
    """The visa verified against its signer, one `holder`'s users may present. A signer
    still waiting for its discovery document (IssuerRegistry: in production every issuer
    does, elsewhere one configured without jwks_uri) is fetched again here, as an access
    token's issuer is when its tokens come (auth/authenticate.py): a visa signer issues no
    tokens, so one unreachable at the node's start waited until a restart, its visas
    dropped as an untrusted issuer's and the caller cached so for an hour. While it still
    waits, its visa is dropped for now (SigningKeyUnavailable: the passport incomplete, the
    caller held for seconds), as for a JWKS that cannot be read."""
    waiting: list[str] = []

    def signer(iss: str) -> TrustedIssuer | None:
        found = registry.for_visa(iss, holder)
        if found is None and holder.visas and iss in holder.visa_signers and (
                registry.waiting(iss, "visa")):
            waiting.append(iss)
        return found
    try:
        return await verify(raw, signer, jwks, VisaClaims)
    except InvalidToken:
        if not waiting:
            raise
    if not await registry.retry(waiting[0], session):
        raise SigningKeyUnavailable("the visa's signer's discovery document could not be "
                                    "read; retry later")
    return await verify(raw, functools.partial(registry.for_visa, holder=holder), jwks,
                        VisaClaims)


async def _userinfo_visas(access: VerifiedToken[AccessClaims], bearer: str,
                          session: aiohttp.ClientSession) -> list[object] | None:
    """The visa JWTs the token's issuer lists for it; None when its userinfo could not be
    used (unreachable, an error status, not JSON, about another `sub`)."""
    endpoint = access.issuer.userinfo_endpoint
    if PASSPORT_SCOPE not in access.claims.scopes or not endpoint:
        return []
    try:
        document = await issuer_document(session, endpoint, USERINFO_TIMEOUT,
                                         {"Authorization": f"Bearer {bearer}"})
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("userinfo from %s failed: %s", endpoint, exc)
        return None
    if not isinstance(document, dict) or document.get("sub") != access.claims.sub:
        log.warning("userinfo from %s is not about the token's sub; visas ignored", endpoint)
        return None
    listed = document.get(PASSPORT_SCOPE, [])
    if not isinstance(listed, list):
        log.warning("userinfo from %s: %s is not a list; visas ignored", endpoint,
                    PASSPORT_SCOPE)
        return None
    return listed


def _bounded(tokens: list[object], issuer: str) -> list[object]:
    """The passport's entries, a visa listed again dropped (it is the same visa), the first
    MAX_VISAS of them; the rest ignored with one warning, not one line each."""
    seen: set[str] = set()
    distinct = []
    for raw in tokens:
        if isinstance(raw, str):
            if raw in seen:
                continue
            seen.add(raw)
        distinct.append(raw)
    if len(distinct) > MAX_VISAS:
        log.warning("%d visas beyond the first %d ignored (a passport of %s's)",
                    len(distinct) - MAX_VISAS, MAX_VISAS, issuer)
    return distinct[:MAX_VISAS]


def _visa_of(token: VerifiedToken[VisaClaims], sub: str) -> Visa:
    """The visa, if it is `sub`'s and may mean what it says; InvalidToken (dropped) if not."""
    claims, assertion = token.claims, token.claims.ga4gh_visa_v1
    if claims.sub != sub:
        raise InvalidToken("visa is for another sub (LinkedIdentities are not evaluated)")
    if assertion.asserted > time.time() + LEEWAY_SECONDS:
        raise NotYetValid("visa asserted in the future", assertion.asserted - LEEWAY_SECONDS)
    if assertion.conditions:
        raise InvalidToken("visa has conditions, which this node does not evaluate")
    if assertion.by is None and assertion.type in BY_REQUIRED:
        raise InvalidToken(f"a {assertion.type} visa without by (Passport v1.2 requires it)")
    if assertion.type == GRANT and assertion.by not in GRANTING_ASSERTERS:
        raise InvalidToken(f"a grant asserted by {assertion.by[:40]!r} grants nothing")
    if assertion.type == GRANT and assertion.source not in token.issuer.grant_sources:
        raise InvalidToken(f"{token.issuer.issuer} is not trusted to relay grants from that "
                           "source")
    # a Visa Access Token holds for an hour from its issuing (auth/tokens.py): so does the
    # caller built from it
    expires = (min(claims.exp, claims.iat + VISA_ACCESS_TOKEN_SECONDS)
               if OPENID in claims.scopes else claims.exp)
    return Visa(assertion.type, assertion.value, assertion.by, expires, assertion.source)


def is_bona_fide(visas: tuple[Visa, ...]) -> bool:
    """Registered access needs both halves: terms accepted AND a researcher status that
    someone other than the user attests (the module's docstring says who)."""
    def holds(kind: str, by: frozenset[str]) -> bool:
        return any(v.type == kind and v.value == BONA_FIDE and v.by in by for v in visas)
    return holds(TERMS, ASSERTERS) and holds(STATUS, STATUS_ATTESTERS)


def grants(visas: tuple[Visa, ...]) -> frozenset[GrantKey]:
    """Each granted dataset key, alone (for a dataset naming no grant source) and with the
    source that made the grant (for one naming its sources: auth/policy.py governed_keys)."""
    return frozenset(key for v in visas if v.type == GRANT
                     for key in (v.value, (v.value, v.source)))
