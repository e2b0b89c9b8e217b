"""Trusted issuers: who may sign access tokens and visas for this node, with what, for whom.

Everything a token could claim about how to check it (algorithm, key location, issuer
spelling) is decided here, from configuration, and never taken from the token itself.
"""
from __future__ import annotations

import logging

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)
ALLOWED_ALGORITHMS = ("RS256", "ES256")


class TrustedIssuer(BaseModel):
    """One issuer, as the operator configures it (e.g. LS Login, or the development AAI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(description="The exact `iss` value, compared byte for byte")
    jwks_uri: str | None = Field(
        default=None, description="Where the issuer's signing keys are published; unset = "
                                  "read from the issuer's OIDC discovery document at start")
    userinfo_endpoint: str | None = Field(
        default=None, description="Returns ga4gh_passport_v1 visas for an access token")
    algorithms: tuple[str, ...] = ("RS256",)
    audience: str | None = Field(default=None,
                                 description="Required `aud` of access tokens, if any")
    access_tokens: bool = True
    visas: bool = False
    visa_jku: tuple[str, ...] = Field(
        default=(), description="jku URLs this issuer may sign visas with, besides jwks_uri")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [alg for alg in value if alg not in ALLOWED_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"algorithms must be among {ALLOWED_ALGORITHMS}, got {list(value)}")
        return value


class IssuerRegistry:
    """Exact-match lookup: `https://aai.example/` and `https://aai.example` are two issuers.

    Issuers configured without a jwks_uri are completed from their discovery document by
    `discover`; one that cannot be completed stays out of the registry (its tokens get 401)."""

    def __init__(self, issuers: list[TrustedIssuer]) -> None:
        self._by_issuer = {i.issuer: i for i in issuers if i.jwks_uri}
        self.undiscovered = [i for i in issuers if not i.jwks_uri]

    async def discover(self, session: aiohttp.ClientSession) -> None:
        for issuer in list(self.undiscovered):
            found = await _discovered(issuer, session)
            if found is not None:
                self._by_issuer[found.issuer] = found
                self.undiscovered.remove(issuer)

    def for_access_token(self, iss: object) -> TrustedIssuer | None:
        issuer = self._by_issuer.get(iss) if isinstance(iss, str) else None
        return issuer if issuer and issuer.access_tokens else None

    def for_visa(self, iss: object) -> TrustedIssuer | None:
        issuer = self._by_issuer.get(iss) if isinstance(iss, str) else None
        return issuer if issuer and issuer.visas else None

    def __bool__(self) -> bool:
        return bool(self._by_issuer)


async def _discovered(issuer: TrustedIssuer,
                      session: aiohttp.ClientSession) -> TrustedIssuer | None:
    url = f"{issuer.issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            response.raise_for_status()
            document = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.error("OIDC discovery for %s failed (%s); its tokens will be refused",
                  issuer.issuer, exc)
        return None
    if not isinstance(document, dict) or document.get("issuer") != issuer.issuer:
        log.error("discovery document at %s names another issuer; not trusted", url)
        return None
    if not isinstance(document.get("jwks_uri"), str):
        log.error("discovery document at %s has no jwks_uri; not trusted", url)
        return None
    return issuer.model_copy(update={
        "jwks_uri": document["jwks_uri"],
        "userinfo_endpoint": issuer.userinfo_endpoint or document.get("userinfo_endpoint")})
