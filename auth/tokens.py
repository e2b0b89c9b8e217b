"""Verifying a JWT (an access token or a visa) against the trusted-issuer configuration.

Order of checks, each failing closed: bounded size and three segments; the JSON type of every
claim the node reads, `sub` present (auth/claims.py: a malformed claim is a refusal, never an
exception further on); the issuer, by exact match, from the allow-list; the algorithm, pinned per
issuer; no key material taken from the token (`jwk`, `x5u`, `x5c` refused; `jku` only where
configured for that issuer's visas); the key from the issuer's JWKS by `kid`; then signature,
`exp`, `iat`, `nbf`, `iss`, and `aud` when the issuer has an audience configured,
with a small leeway for clock skew.
"""
from __future__ import annotations

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
    if purpose == "visa" and jku in issuer.visa_jku:
        return jku
    raise InvalidToken("jku is not one this issuer is configured to use")


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
    claims = _typed(unverified, kind)
    issuer = lookup(claims.iss)
    if issuer is None:
        raise InvalidToken("issuer is not trusted for this purpose")
    algorithm = header.get("alg")
    if algorithm not in issuer.algorithms:
        raise InvalidToken(f"algorithm {algorithm!r} is not accepted for this issuer")
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
