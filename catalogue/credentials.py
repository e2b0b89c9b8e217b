"""The nodes allowed to publish to the catalogue, each with its shared secret.

Nodes authenticate with a per-node shared secret sent as `Authorization: Bearer <token>`:
it needs no AAI to be running, is one line of configuration on each side, and a leaked token
is revoked by changing one entry. The catalogue may keep only the token's SHA-256
(`token_sha256`) so its configuration does not hold the secret itself; presented tokens are
hashed and compared in constant time either way.
"""
from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class NodeCredential(BaseModel):
    """One node allowed to publish: its id (the path segment of /api/nodes/{id}) and secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    token: SecretStr | None = None
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _exactly_one_secret(self) -> NodeCredential:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError(f"node {self.id!r}: give exactly one of token, token_sha256")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError(f"node {self.id!r}: token must be at least 16 characters")
        return self

    def _digest(self) -> bytes:
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        assert self.token is not None
        return hashlib.sha256(self.token.get_secret_value().encode()).digest()

    def accepts(self, presented: str) -> bool:
        """Constant-time comparison of digests (equal length whatever the input)."""
        return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self._digest())
