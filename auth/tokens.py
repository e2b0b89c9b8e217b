"""Verifying a JWT (an access token or a visa) against the trusted-issuer configuration.

Order of checks, each failing closed: bounded size and three segments; the JSON type of every
claim the node reads, `sub` present (auth/claims.py: a malformed claim is a refusal, never an
exception further on); the issuer, by exact match, from the allow-list; the algorithm, pinned per
issuer; a visa's format (below); no key material taken from the token (`jwk`, `x5u`, `x5c`
refused; a visa's `jku` only when it is its issuer's `jwks_uri` or one of its `visa_jku`); the
key from the issuer's JWKS by `kid`; then signature, `exp`, `iat`, `nbf`, `iss`, and `aud` when
the issuer has an audience configured, with a small leeway for clock skew. A signature that
fails with the key held for its `kid` has the issuer's keys read again when the cooldown
allows (an issuer may replace the key under a `kid` it keeps), and is a 401 otherwise.

A visa is one of two formats (GA4GH Passport v1.2, "Visa Format"; AAI OIDC Profile v1.2): a
Visa Document Token names its keys by `jku` and has no `openid` scope; a Visa Access Token has
no `jku`, the `openid` scope and no `aud` (the AAI Profile forbids it), and is an
access token of its issuer's: the AAI Profile makes one more than an hour old (by `iat`) invalid unless its issuer's /userinfo (or /token) endpoint
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
from auth.jwks import JwksCache, KeyNotFound, KeysUnavailable

MAX_TOKEN_BYTES = 16_384
MAX_HEADER_BYTES = 1_024
LEEWAY_SECONDS = 30
VISA_ACCESS_TOKEN_SECONDS = 3600     # the AAI Profile's hour, for a visa without jku
OPENID = "openid"
_KEY_HEADERS = ("jwk", "x5u", "x5c")


class InvalidToken(Exception):
    """Why a token was refused; safe to show: it never contains the token nor any text of
    it (a claim's or a header's value), only names of this module's choosing. The reason
    reaches the `gdi_node.audit` log line, the 401's body and its `WWW-Authenticate` header
    (node/http/caller.py), where a token's text forged log lines and broke the 401's
    header, so a refusal wording a library's exception words it by the exception's type
    (`_pyjwt_reason`), never by its message."""


class NotYetValid(InvalidToken):
    """The token is not valid yet, but may be from `valid_from` on: issued (`iat`), valid
    from (`nbf`) or, a visa, asserted after now, beyond the leeway (a signer's clock a
    little ahead of this node's), and not expired by then. A visa dropped for it is
    counted once it is valid (auth/passport.py), not withheld for the caller's cached life."""

    def __init__(self, reason: str, valid_from: float) -> None:
        super().__init__(reason)
        self.valid_from = valid_from


class BadSignature(InvalidToken):
    """The signature verifies with none of the keys the issuer's keys hold for its kid,
    which may have been replaced since they were read (`verify`)."""


class UnusableKey(InvalidToken):
    """The key held for the token's kid cannot verify it (shorter than NIST's minimum, or not
    of the algorithm's kind); another key listed under that kid may (`_decoded`)."""


class SigningKeyUnavailable(InvalidToken):
    """The token names a key its issuer's JWKS does not hold, or the JWKS could not be read.
    Either may pass (an unreachable issuer, a key published late), so a visa dropped for it
    makes the caller's passport incomplete rather than settled."""


class IssuerUnavailable(SigningKeyUnavailable):
    """The issuer could not be read (its JWKS, jwks.KeysUnavailable, or its discovery
    document, auth/authenticate.py), or its JWKS, read before the token was issued, lacks
    the token's key and may not be read again yet (`verify`): the token may well be good.
    An access token is then answered 503 with Retry-After (`retry_after`, when the node
    next asks the issuer), not 401: invalid_token (RFC 6750) tells a client its token is
    bad, which makes it drop the token and sign its user out for the issuer's outage
    (node/http/caller.py)."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


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
        raise InvalidToken(f"malformed token: {_pyjwt_reason(exc)}") from None
    return header, claims


# Each PyJWT failure as a refusal words it, by its type (the most specific one listed, by the
# exception's MRO). PyJWT's own message is not used: it checks `crit` before any signature
# and its "Unsupported critical extension: {ext}" quotes the header's text, so an unsigned
# token's line break or U+2028 there forged a line of the gdi_node.audit log, and a CR LF
# made aiohttp refuse to write the 401's WWW-Authenticate header: an "Unhandled exception"
# at ERROR and a dropped connection instead of the 401 (found by a review, 2026-12-05).
# Other messages quote no text of the token today, but any of them may in another version.
_PYJWT_REASONS: dict[type[jwt.PyJWTError], str] = {
    jwt.InvalidSignatureError: "signature verification failed",
    jwt.ExpiredSignatureError: "the token has expired (exp)",
    jwt.ImmatureSignatureError: "the token is not yet valid (nbf or iat in the future)",
    jwt.InvalidAudienceError: "the audience (aud) is not this node's",
    jwt.InvalidIssuerError: "the issuer (iss) does not match",
    jwt.InvalidIssuedAtError: "iat is not a number",
    jwt.MissingRequiredClaimError: "a required claim is missing",
    jwt.InvalidAlgorithmError: "the algorithm (alg) is not accepted",
    jwt.InvalidKeyError: "the issuer's key is not usable for this algorithm",
    jwt.DecodeError: "a segment is not base64url-encoded JSON, or not an object",
    # what PyJWT raises as itself: a header it refuses (a `crit` naming an extension it does
    # not support or not a list of names, a `kid` that is not a string, `b64`)
    jwt.InvalidTokenError: "a header parameter is not accepted (crit, kid or b64)",
}
# The claims a MissingRequiredClaimError may name: PyJWT's names, never the token's
_REQUIRED_CLAIMS = frozenset({"aud", "iss", "exp", "iat", "nbf", "sub", "jti"})
# The algorithms a refusal names: JWA's names (RFC 7518), never a header's other text
_NAMED_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
                               "ES256", "ES256K", "ES384", "ES512", "PS256", "PS384", "PS512",
                               "EdDSA", "Ed25519", "Ed448"})


def _pyjwt_reason(exc: jwt.PyJWTError) -> str:
    """Why PyJWT refused a token, from the exception's type alone (`_PYJWT_REASONS` says
    why); the claim a missing-claim error names, which is PyJWT's, not the token's."""
    if isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim in _REQUIRED_CLAIMS:
        return f"the token is missing the {exc.claim} claim"
    reason = next((_PYJWT_REASONS[kind] for kind in type(exc).__mro__
                   if kind in _PYJWT_REASONS), None)
    return reason or f"refused by the JWT library ({type(exc).__name__})"


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
    """InvalidToken unless the visa is a Visa Document Token or a Visa Access Token (no
    `aud`) less than an hour old (the module's docstring says why)."""
    openid = OPENID in claims.scopes
    if header.get("jku") is not None:
        if openid:
            raise InvalidToken("a visa with jku (a Visa Document Token) must not have the "
                               "openid scope")
        return
    if not openid:
        raise InvalidToken("a visa must have jku or a scope with openid (Passport v1.2, Visa "
                           "Format)")
    if claims.aud is not None:
        raise InvalidToken("a visa without jku (a Visa Access Token) must not have aud (AAI "
                           "Profile, Visa Access Token Format)")
    if time.time() > claims.iat + VISA_ACCESS_TOKEN_SECONDS + LEEWAY_SECONDS:
        raise InvalidToken("a visa without jku (a Visa Access Token) issued more than an hour "
                           "ago: its issuer would have to confirm it, which this node does "
                           "not ask")


def _typed(unverified: dict[str, Any], kind: type[C]) -> C:
    """The claims as `kind` declares them; the reason names claims and types, never values:
    a location is a field's name or a list's index (no model here has a dict, whose keys
    would be the token's), and pydantic's messages, without the input, quote none of it
    (auth/claims.py's own validator names a character by its code point)."""
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
        # named only when it is one of JWA's names: the header is not yet verified, and its
        # `alg` could be any text up to MAX_HEADER_BYTES (see _PYJWT_REASONS)
        known = isinstance(algorithm, str) and algorithm in _NAMED_ALGORITHMS
        named = repr(algorithm) if known else "named in the header"
        raise InvalidToken(f"the algorithm {named} is not accepted for this issuer")
    if kind.purpose == "visa":
        _visa_format(header, claims)
    audience = issuer.audience if kind.purpose == "access" else None
    location = _key_location(header, issuer, kind.purpose)
    keys = await _signing_keys(jwks, location, header.get("kid"), algorithm, token, claims,
                               issuer.issuer, audience)
    try:
        _decoded(token, keys, algorithm, issuer.issuer, audience, claims)
    except BadSignature as exc:
        # the issuer may have replaced the key under its kid since the keys were read (a
        # rotation keeping the kid): read again when the cooldown allows, the refusal
        # standing while the keys held for its kid are still those
        keys = await _signing_keys(jwks, location, header.get("kid"), algorithm, token,
                                   claims, issuer.issuer, audience, failed=(keys, exc))
        _decoded(token, keys, algorithm, issuer.issuer, audience, claims)
    return VerifiedToken(issuer, claims)


async def _signing_keys(jwks: JwksCache, location: str, kid: str | None, algorithm: str,
                        token: str, claims: Claims, issuer: str, audience: str | None,
                        failed: tuple[tuple[jwt.PyJWK, ...], InvalidToken] | None = None
                        ) -> tuple[jwt.PyJWK, ...]:
    """The keys at `location` the token names. IssuerUnavailable when the keys cannot be
    read, or were read before the token was issued and may not be read again yet, and its
    key is not among them: it may be one the issuer published since. `failed`: the keys
    found before, none of which verified the token, and that refusal, which stands unless
    the keys, read again as the cooldown allows, hold others for its kid
    (jwks.JwksCache.keys): answered 503 as a kid not held is, every forged token (a
    tampered signature, a fresh iat) was a 503 for the cooldown, not the 401 of an invalid
    token (the suite's run, 2026-12-06)."""
    try:
        return await jwks.keys(location, kid, algorithm, failed[0] if failed else None)
    except KeysUnavailable:
        raise IssuerUnavailable("the issuer's signing keys could not be read; retry later",
                                jwks.cooldown) from None
    except KeyNotFound as exc:
        if failed:
            # a signature that fails is the token's refusal (401) until a read of the keys
            # gives its kid another key: a forged token's fresh iat no reason to answer 503
            raise failed[1] from None
        if exc.read_before is not None and claims.iat + LEEWAY_SECONDS > exc.read_before:
            # the keys were read before the token was issued, and the cooldown allows no
            # read now: its key may be one the issuer published since (a rotation), so the
            # token is not known to be bad, and a 401 would make its client drop it; unless
            # it is, whatever its key: expired, not yet valid, another's
            _decoded(token, None, algorithm, issuer, audience, claims)
            raise IssuerUnavailable("the token's signing key is not among the issuer's keys "
                                    "read before it was issued; retry later",
                                    jwks.cooldown) from None
        raise SigningKeyUnavailable("signing key not found at the issuer") from None


def _decoded(token: str, keys: tuple[jwt.PyJWK, ...] | None, algorithm: str, issuer: str,
             audience: str | None, claims: Claims) -> None:
    """InvalidToken unless PyJWT's checks pass: the signature by one of `keys` (None: not
    checked, the others alone), `exp`, `iat`, `nbf`, `iss`, and `aud` when there is an
    audience. The others are checked once a key verifies the signature (PyJWT checks it
    first), so a refusal other than of the signature is the token's whatever the key.
    BadSignature when no key verifies it; a key's own refusal (below) when that is all."""
    if keys is None:
        return _checked(token, None, algorithm, issuer, audience, claims)
    refusal: InvalidToken | None = None
    for key in keys:
        try:
            return _checked(token, key, algorithm, issuer, audience, claims)
        except BadSignature as exc:
            refusal = exc
        except UnusableKey as exc:
            refusal = refusal or exc
    raise refusal or BadSignature(_PYJWT_REASONS[jwt.InvalidSignatureError])


def _checked(token: str, key: jwt.PyJWK | None, algorithm: str, issuer: str,
             audience: str | None, claims: Claims) -> None:
    """`_decoded` with one key. A key shorter than NIST's minimum (an RSA key under 2048
    bits) verifies nothing (UnusableKey): PyJWT only warned, and whoever factors such a key
    signs tokens as anyone, with any visas."""
    checks = ({"verify_signature": False, "verify_exp": True, "verify_iat": True,
               "verify_nbf": True, "verify_iss": True} if key is None
              else {"enforce_minimum_key_length": True})
    try:
        # exp, iat, iss and sub are present: the claims' model requires them
        jwt.decode(token, key=key, algorithms=[algorithm], issuer=issuer, audience=audience,
                   leeway=LEEWAY_SECONDS,
                   options={**checks, "verify_aud": audience is not None})
    except jwt.ImmatureSignatureError as exc:
        valid_from = max(claims.iat, claims.nbf or claims.iat) - LEEWAY_SECONDS
        if valid_from < claims.exp + LEEWAY_SECONDS:
            raise NotYetValid(_pyjwt_reason(exc), valid_from) from None
        raise InvalidToken(_pyjwt_reason(exc)) from None
    except jwt.InvalidSignatureError as exc:
        raise BadSignature(_pyjwt_reason(exc)) from None
    except jwt.InvalidKeyError as exc:
        raise UnusableKey(_pyjwt_reason(exc)) from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(_pyjwt_reason(exc)) from None
