"""A development AAI: an OIDC provider for tests, demos and the compose stack. Never for
production: it hands out tokens for configured users and passwords.

Its HTTP layer (node/http/aai_api.py) serves discovery, a JWKS for access tokens, a token
endpoint (password, client_credentials and authorization_code grants), a login page for the
authorization-code flow with PKCE (S256 only, redirect URIs limited to `redirect_uris`: the
node's web page signs researchers in with it), and userinfo returning GA4GH Passport
visas; this module holds the users, keys, pending authorization codes and what it signs. The visas are signed
with a separate key published at a `jku` URL, as brokers such as LS Login do. Keys are
generated at start, or read from (and written to) a configured directory; never committed.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auth.passport import BONA_FIDE, BONA_FIDE_TYPES, GRANT, PASSPORT_SCOPE


class DevUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    password: str
    bona_fide: bool = False
    grants: list[str] = Field(default_factory=list, description="dataset ids or aliases")


class DevIssuerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer: str = "http://127.0.0.1:5080"
    audience: str = "gdi-node"
    token_seconds: int = Field(default=3600, ge=60)
    visa_seconds: int = Field(default=86400, ge=60)
    users: list[DevUser] = Field(default_factory=lambda: [
        DevUser(name="alice", password="alice"),
        DevUser(name="bob", password="bob", bona_fide=True),
        DevUser(name="carol", password="carol", bona_fide=True,
                grants=["GDI-FI-SYN-003", "GDI-SE-SYN-003", "GDI-ES-SYN-003"]),
    ])
    # The authorization-code flow sends a browser back only to one of these, compared
    # exactly (scheme, host, port, path; no query string): a web page of a node, by default
    # a node or network served on 127.0.0.1:5050 as in the README and the compose stack.
    redirect_uris: list[str] = Field(default_factory=lambda: [
        "http://127.0.0.1:5050/", "http://localhost:5050/"])
    code_seconds: int = Field(default=60, ge=5, description="an authorization code's life")
    # Where its discovery document says its token endpoint is, unset = its own /token: a
    # provider's may be on another origin (Google's), which a page's policy must allow
    # (node/http/web.py); this AAI served there too (the same DevIssuer) tries that out
    token_endpoint: str | None = None


def load_config(path: Path | None, issuer: str | None = None) -> DevIssuerConfig:
    """The users file's configuration (the default one without a file), at `issuer`;
    ValueError as `file: reason` (`file:line: reason` for JSON it cannot read, and past a
    byte order mark, as a metadata file: pydantic's own words named no line, and a file an
    editor began with a mark was not JSON at line 1), which never quotes the file's values
    (its passwords)."""
    if path is None:
        config = DevIssuerConfig()
    else:
        try:
            text = path.read_bytes().decode("utf-8-sig")
            json.loads(text)                   # its syntax, with the line of a slip
            config = DevIssuerConfig.model_validate_json(text)
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})"
                             ) from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} "
                             f"(column {exc.colno})") from None
        except RecursionError:                 # Python's parser, not the file, gave up
            raise ValueError(f"{path}: JSON nested too deeply to read") from None
        except ValidationError as exc:
            raise ValueError(f"{path}: " + "; ".join(
                (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + e["msg"]
                for e in exc.errors(include_url=False, include_input=False))) from None
    return config.model_copy(update={"issuer": issuer.rstrip("/")}) if issuer else config


class SigningKey:
    """An RSA key with its kid; its private half lives only in memory or in `key_dir`."""

    def __init__(self, kid: str, key_dir: Path | None) -> None:
        self.kid = kid
        path = key_dir / f"{kid}.pem" if key_dir else None
        if path and path.exists():
            try:
                loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (OSError, ValueError, TypeError) as exc:   # TypeError: it wants a password
                raise ValueError(f"{path}: not a readable unencrypted PEM private key "
                                 f"({type(exc).__name__})") from None
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"{path}: not an RSA private key")
            self.private = loaded
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if path:
                try:         # a directory under a file, or one the AAI may not write in
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(self.private.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()))
                    path.chmod(0o600)
                except OSError as exc:
                    raise ValueError(f"{path.parent}: cannot keep the signing keys there "
                                     f"({exc.strerror or exc})") from None

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256",
                          headers={"kid": self.kid, **(headers or {})})


@dataclass(frozen=True)
class PendingCode:
    """An authorization code handed to a browser, until the page exchanges it (once)."""

    user: DevUser
    client_id: str
    redirect_uri: str
    code_challenge: str
    expires: float


_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")     # RFC 7636 4.1


class CodeRefused(Exception):
    """An authorization code exchange refused; the message says why (OAuth invalid_grant)."""


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class DevIssuer:
    def __init__(self, config: DevIssuerConfig, key_dir: Path | None = None) -> None:
        self.config = config
        self.access_key = SigningKey("aai-access-1", key_dir)
        self.visa_key = SigningKey("aai-visa-1", key_dir)
        self.users = {u.name: u for u in config.users}
        self._codes: dict[str, PendingCode] = {}

    def redirect_allowed(self, redirect_uri: str) -> bool:
        return redirect_uri in self.config.redirect_uris

    def issue_code(self, user: DevUser, client_id: str, redirect_uri: str,
                   code_challenge: str) -> str:
        """A one-time authorization code for `user`, bound to the client, the redirect URI
        and the PKCE challenge (expired codes are forgotten here too)."""
        now = time.monotonic()
        self._codes = {c: p for c, p in self._codes.items() if p.expires > now}
        code = secrets.token_urlsafe(24)
        self._codes[code] = PendingCode(user, client_id, redirect_uri, code_challenge,
                                        now + self.config.code_seconds)
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str,
                    verifier: str) -> DevUser:
        """The user of a code, which is spent whatever the outcome (RFC 6749 4.1.2: a code
        is used once); CodeRefused when it is unknown, expired, or not issued for this client,
        redirect URI and verifier."""
        pending = self._codes.pop(code, None)
        if pending is None or pending.expires <= time.monotonic():
            raise CodeRefused("unknown, used or expired authorization code")
        if pending.client_id != client_id or pending.redirect_uri != redirect_uri:
            raise CodeRefused("the code was issued to another client or redirect_uri")
        if not _VERIFIER.fullmatch(verifier) or not _same(pkce_challenge(verifier),
                                                          pending.code_challenge):
            raise CodeRefused("code_verifier does not match the code_challenge")
        return pending.user

    @property
    def visa_jku(self) -> str:
        return f"{self.config.issuer}/visa-jwks"

    def access_token(self, user: DevUser) -> str:
        now = int(time.time())
        return self.access_key.sign({
            "iss": self.config.issuer, "sub": user.name, "aud": self.config.audience,
            "iat": now, "exp": now + self.config.token_seconds, "jti": secrets.token_hex(8),
            "scope": f"openid {PASSPORT_SCOPE}"})

    def visas(self, user: DevUser) -> list[str]:
        assertions = [(kind, BONA_FIDE) for kind in BONA_FIDE_TYPES if user.bona_fide]
        assertions += [(GRANT, grant) for grant in user.grants]
        now = int(time.time())
        return [self.visa_key.sign({
            "iss": self.config.issuer, "sub": user.name, "iat": now,
            "exp": now + self.config.visa_seconds, "jti": secrets.token_hex(8),
            "ga4gh_visa_v1": {"type": kind, "value": value, "source": self.config.issuer,
                              "by": "dac" if kind == GRANT else "system",
                              "asserted": now}},
            headers={"jku": self.visa_jku, "typ": "JWT"}) for kind, value in assertions]

    def authenticate(self, username: str, password: str) -> DevUser | None:
        user = self.users.get(username)
        return user if user and _same(user.password, password) else None

    def user_of(self, bearer: str) -> DevUser | None:
        try:
            claims = jwt.decode(bearer, self.access_key.private.public_key(),
                                algorithms=["RS256"], issuer=self.config.issuer,
                                audience=self.config.audience)
        except jwt.PyJWTError:
            return None
        return self.users.get(claims["sub"])


def trusted_issuer_entry(issuer_url: str, audience: str = "gdi-node") -> dict[str, Any]:
    """What a node's configuration needs to trust this development AAI."""
    return {"issuer": issuer_url, "jwks_uri": f"{issuer_url}/jwks",
            "userinfo_endpoint": f"{issuer_url}/userinfo", "audience": audience,
            "access_tokens": True, "visas": True, "visa_jku": [f"{issuer_url}/visa-jwks"]}


def _same(given: str, expected: str) -> bool:
    """Equal, compared in constant time. As bytes: `secrets.compare_digest` refuses a text
    with a character beyond ASCII (TypeError), which made a password such as "Sälasana", or
    a login attempt with one, a 500."""
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"),
                                  expected.encode("utf-8", "surrogatepass"))
