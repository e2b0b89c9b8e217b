"""Verifying a JWT (an access token or a visa) against the trusted-issuer configuration.

Order of checks, each failing closed: bounded size and three segments; the JSON type of every
claim the node reads, `sub` present (auth/claims.py: a malformed claim is a refusal, never an
exception further on); the issuer, by exact match, from the allow-list; the algorithm, pinned per
issuer; a visa's format (below); no key material taken from the token (`jwk`, `x5u`, `x5c`
refused; a visa's `jku` only when it is its issuer's `jwks_uri` or one of its `visa_jku`); the
key from the issuer's JWKS by `kid`; then signature, `exp`, `iat`, `nbf`, `iss`, and `aud` when
the issuer has an audience configured, with a small leeway for clock skew.

A visa is one of two formats (GA4GH Passport v1.2, "Visa Format"; AAI OIDC Profile v1.2): a
Visa Document Token names its keys by `jku` and has no `openid` scope; a Visa Access Token has
no `jku` and the `openid` scope, and is an access token of its issuer's: the AAI Profile makes
one more than an hour old (by `iat`) invalid unless its issuer's /userinfo (or /token) endpoint
confirms it still holds. The node does not ask (that polling has rules of its own: at most
hourly, the answer's claims replacing the token's), so it fails closed: such a visa is refused
once an hour old, and counts at most until then (auth/passport.py). A visa of neither format is
refused.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import jwt
from pydantic import ValidationError

from auth.claims import Claims
from auth.issuers import TrustedIssuer
from auth.jwks import JwksCache, KeyNotFound

MAX_TOKEN_BYTES = 16_384
MAX_HEADER_BYTES = 1_024
LEEWAY_SECONDS = 30
VISA_ACCESS_TOKEN_SECONDS = 3600     # the AAI Profile's hour, for a visa without jku
OPENID = "openid"
_KEY_HEADERS = ("jwk", "x5u", "x5c")


class InvalidToken(Exception):
    """Why a token was refused; safe to show (it never contains the token)."""


class SigningKeyUnavailable(InvalidToken):
    """The token names a key its issuer's JWKS does not hold, or the JWKS could not be read.
    Either may pass (an unreachable issuer, a key published late), so a visa dropped for it
    makes the caller's passport incomplete rather than settled."""


def bearer_token(authorization: str | None) -> str | None:
    """The token of an Authorization header's value; None without a header, InvalidToken for
    any other scheme or an empty token. The one parse of the header, for the node (what is
    verified is what the network forwards), the catalogue and the development AAI alike."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("expected 'Authorization: Bearer <token>'")
    try:        # bytes that are not UTF-8 reach here as lone surrogates (aiohttp's decoding),
        token.encode()          # which every use of the token (its hash, its JWT) failed on:
    except UnicodeEncodeError:  # a 500 on every endpoint, where it is an invalid token
        raise InvalidToken("the token is not UTF-8 text") from None
    return token.strip()


C = TypeVar("C", bound=Claims)


@dataclass(frozen=True)
class VerifiedToken(Generic[C]):
    issuer: TrustedIssuer
    claims: C


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too large")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise InvalidToken("not a signed JWT (expected three non-empty segments)")
    if len(parts[0]) > MAX_HEADER_BYTES:
        raise InvalidToken("token header too large")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"malformed token ({exc})") from None
    return header, claims


def _key_location(header: dict[str, Any], issuer: TrustedIssuer,
                  purpose: Literal["access", "visa"]) -> str:
    present = [name for name in _KEY_HEADERS if name in header]
    if present:
        raise InvalidToken(f"key material in the token header ({', '.join(present)}) is "
                           "not accepted")
    jku = header.get("jku")
    if jku is None and issuer.jwks_uri:
        return issuer.jwks_uri
    # the issuer's own jwks_uri holds the configured keys, whoever names it
    if purpose == "visa" and jku is not None and jku in (issuer.jwks_uri, *issuer.visa_jku):
        return jku
    raise InvalidToken("jku is not one this issuer is configured to use")


def _visa_format(header: dict[str, Any], claims: Claims) -> None:
    """InvalidToken unless the visa is a Visa Document Token or a Visa Access Token less
    than an hour old (the module's docstring says why)."""
    openid = OPENID in claims.scopes
    if header.get("jku") is not None:
        if openid:
            raise InvalidToken("a visa with jku (a Visa Document Token) must not have the "
                               "openid scope")
        return
    if not openid:
        raise InvalidToken("a visa must have jku or a scope with openid (Passport v1.2, Visa "
                           "Format)")
    if time.time() > claims.iat + VISA_ACCESS_TOKEN_SECONDS + LEEWAY_SECONDS:
        raise InvalidToken("a visa without jku (a Visa Access Token) issued more than an hour "
                           "ago: its issuer would have to confirm it, which this node does "
                           "not ask")


def _typed(unverified: dict[str, Any], kind: type[C]) -> C:
    """The claims as `kind` declares them; the reason names claims and types, never values."""
    try:
        return kind.model_validate(unverified)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        raise InvalidToken(f"malformed claims ({problems})") from None


async def verify(token: str, lookup: Callable[[str], TrustedIssuer | None],
                 jwks: JwksCache, kind: type[C]) -> VerifiedToken[C]:
    """The token's claims as `kind`, once every check passed; InvalidToken otherwise."""
    header, unverified = _unverified(token)
    if kind.purpose == "access" and "ga4gh_visa_v1" in unverified:
        # a broker signs its visas with its access tokens' keys: one of a user's visas,
        # copied out of a Passport, would otherwise pass as that user's access token
        raise InvalidToken("a visa is not an access token (it carries ga4gh_visa_v1)")
    claims = _typed(unverified, kind)
    issuer = lookup(claims.iss)
    if issuer is None:
        raise InvalidToken("issuer is not trusted for this purpose")
    algorithm = header.get("alg")
    if algorithm not in issuer.algorithms:
        raise InvalidToken(f"algorithm {algorithm!r} is not accepted for this issuer")
    if kind.purpose == "visa":
        _visa_format(header, claims)
    try:
        key = await jwks.key(_key_location(header, issuer, kind.purpose), header.get("kid"))
    except KeyNotFound:
        raise SigningKeyUnavailable("signing key not found at the issuer") from None
    audience = issuer.audience if kind.purpose == "access" else None
    try:
        # exp, iat, iss and sub are present: the claims' model requires them
        jwt.decode(token, key=key, algorithms=[algorithm], issuer=issuer.issuer,
                   audience=audience, leeway=LEEWAY_SECONDS,
                   options={"verify_aud": audience is not None})
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
    return VerifiedToken(issuer, claims)
