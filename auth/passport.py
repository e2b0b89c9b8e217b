"""GA4GH Passport visas: where they come from, which ones count, what they grant.

Visas come inside a Passport JWT presented as the bearer token, or from the issuer's
userinfo endpoint when the access token's scope asks for `ga4gh_passport_v1`. A visa that
fails any check is dropped, never half-trusted: it grants nothing, and the caller is
answered at the level of the visas that remain.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from auth.issuers import IssuerRegistry
from auth.jwks import JwksCache
from auth.tokens import InvalidToken, VerifiedToken, verify

log = logging.getLogger(__name__)
BONA_FIDE = "https://doi.org/10.1038/s41431-018-0219-y"
PASSPORT_SCOPE = "ga4gh_passport_v1"
_REQUIRED = ("type", "value", "source", "by", "asserted")


@dataclass(frozen=True)
class Visa:
    type: str
    value: str
    source: str
    issuer: str
    expires: int


async def visa_tokens(access: VerifiedToken, bearer: str,
                      session: aiohttp.ClientSession) -> list[str]:
    """The visa JWTs that come with a verified access token or Passport."""
    inline = access.claims.get(PASSPORT_SCOPE)
    if isinstance(inline, list):
        return [v for v in inline if isinstance(v, str)]
    scopes = str(access.claims.get("scope", "")).split()
    endpoint = access.issuer.userinfo_endpoint
    if PASSPORT_SCOPE not in scopes or not endpoint:
        return []
    try:
        async with session.get(endpoint, headers={"Authorization": f"Bearer {bearer}"},
                               timeout=aiohttp.ClientTimeout(total=5)) as response:
            response.raise_for_status()
            document = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("userinfo from %s failed: %s", endpoint, exc)
        return []
    listed = document.get(PASSPORT_SCOPE) if isinstance(document, dict) else None
    return [v for v in listed if isinstance(v, str)] if isinstance(listed, list) else []


def _visa_of(token: VerifiedToken, subject: str) -> Visa:
    claims = token.claims
    if claims["sub"] != subject:
        raise InvalidToken("visa is for another subject")
    body: Any = claims.get("ga4gh_visa_v1")
    if not isinstance(body, dict) or any(not body.get(k) for k in _REQUIRED):
        raise InvalidToken("ga4gh_visa_v1 lacks type, value, source, by or asserted")
    if "conditions" in body:
        raise InvalidToken("visa conditions are not evaluated by this node")
    return Visa(str(body["type"]), str(body["value"]), str(body["source"]),
                token.issuer.issuer, int(claims["exp"]))


async def verified_visas(tokens: list[str], subject: str, registry: IssuerRegistry,
                         jwks: JwksCache) -> list[Visa]:
    visas = []
    for raw in tokens:
        try:
            visas.append(_visa_of(await verify(raw, registry.for_visa, jwks, "visa"), subject))
        except InvalidToken as exc:
            log.info("visa dropped: %s", exc)
    return visas


def is_bona_fide(visas: list[Visa]) -> bool:
    """Registered access needs both halves: terms accepted AND researcher status."""
    kinds = {v.type for v in visas if v.value == BONA_FIDE}
    return {"AcceptedTermsAndPolicies", "ResearcherStatus"} <= kinds


def grants(visas: list[Visa]) -> frozenset[str]:
    return frozenset(v.value for v in visas if v.type == "ControlledAccessGrants")
