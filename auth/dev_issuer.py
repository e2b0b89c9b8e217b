"""A development AAI: an OIDC provider for tests, demos and the compose stack. Never for
production: it hands out tokens for configured users and passwords.

Its HTTP layer (node/http/aai_api.py) serves discovery, a JWKS for access tokens, a token
endpoint (password and client_credentials grants), and userinfo returning GA4GH Passport
visas; this module holds the users, keys and what it signs. The visas are signed
with a separate key published at a `jku` URL, as brokers such as LS Login do. Keys are
generated at start, or read from (and written to) a configured directory; never committed.
"""
from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field

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


def load_config(path: Path | None, issuer: str | None = None) -> DevIssuerConfig:
    config = (DevIssuerConfig.model_validate_json(path.read_text()) if path
              else DevIssuerConfig())
    return config.model_copy(update={"issuer": issuer}) if issuer else config


class SigningKey:
    """An RSA key with its kid; its private half lives only in memory or in `key_dir`."""

    def __init__(self, kid: str, key_dir: Path | None) -> None:
        self.kid = kid
        path = key_dir / f"{kid}.pem" if key_dir else None
        if path and path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self.private = loaded
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(self.private.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
                path.chmod(0o600)

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256",
                          headers={"kid": self.kid, **(headers or {})})


class DevIssuer:
    def __init__(self, config: DevIssuerConfig, key_dir: Path | None = None) -> None:
        self.config = config
        self.access_key = SigningKey("aai-access-1", key_dir)
        self.visa_key = SigningKey("aai-visa-1", key_dir)
        self.users = {u.name: u for u in config.users}

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
        return user if user and secrets.compare_digest(user.password, password) else None

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
