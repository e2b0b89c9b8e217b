"""Trusted issuers: who may sign access tokens and visas for this node, with what, for whom.

Everything a token could claim about how to check it (algorithm, key location, issuer
spelling) is decided here, from configuration, and never taken from the token itself.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALLOWED_ALGORITHMS = ("RS256", "ES256")


class TrustedIssuer(BaseModel):
    """One issuer, as the operator configures it (e.g. LS Login, or the development AAI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(description="The exact `iss` value, compared byte for byte")
    jwks_uri: str = Field(description="Where the issuer's signing keys are published")
    userinfo_endpoint: str | None = Field(
        default=None, description="Returns ga4gh_passport_v1 visas for an access token")
    algorithms: tuple[str, ...] = ("RS256",)
    audience: str | None = Field(default=None,
                                 description="Required `aud` of access tokens, if any")
    access_tokens: bool = True
    visas: bool = False
    visa_jku: tuple[str, ...] = Field(
        default=(), description="jku URLs this issuer may sign visas with, besides jwks_uri")
    forward_tokens: bool = Field(
        default=False, description="Federation: this issuer's tokens may be passed to peers")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [alg for alg in value if alg not in ALLOWED_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"algorithms must be among {ALLOWED_ALGORITHMS}, got {list(value)}")
        return value


class IssuerRegistry:
    """Exact-match lookup: `https://aai.example/` and `https://aai.example` are two issuers."""

    def __init__(self, issuers: list[TrustedIssuer]) -> None:
        self._by_issuer = {i.issuer: i for i in issuers}

    def for_access_token(self, iss: object) -> TrustedIssuer | None:
        issuer = self._by_issuer.get(iss) if isinstance(iss, str) else None
        return issuer if issuer and issuer.access_tokens else None

    def for_visa(self, iss: object) -> TrustedIssuer | None:
        issuer = self._by_issuer.get(iss) if isinstance(iss, str) else None
        return issuer if issuer and issuer.visas else None

    def __bool__(self) -> bool:
        return bool(self._by_issuer)
