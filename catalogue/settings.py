"""Catalogue service configuration: GDI_CATALOGUE_* environment variables, an optional TOML
file (GDI_CATALOGUE_CONFIG), defaults — the same precedence as the node's settings.

Nodes authenticate with a per-node shared secret sent as `Authorization: Bearer <token>`:
it needs no AAI to be running, is one line of configuration on each side, and a leaked token
is revoked by changing one entry. The catalogue may keep only the token's SHA-256
(`token_sha256`) so its configuration does not hold the secret itself; presented tokens are
hashed and compared in constant time either way.
"""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import ClassVar

import platformdirs
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from node.settings import ServiceSettings

CONFIG_ENV = "GDI_CATALOGUE_CONFIG"


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


class CatalogueSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GDI_CATALOGUE_", extra="forbid")
    config_env: ClassVar[str] = CONFIG_ENV

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GDI_CATALOGUE_DATABASE_URL", "database_url"),
        description="PostgreSQL URL of the catalogue's own database; unset = embedded in data_dir")
    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("gdi-catalogue"))
    port: int = Field(default=5060, ge=1, le=65535)
    title: str = "GDI federated dataset catalogue"
    description: str = "Datasets published by the nodes of a GDI federation"
    publisher_name: str = "GDI catalogue operator"
    nodes: list[NodeCredential] = Field(
        default_factory=list, description="Nodes allowed to register and publish")
    harvest_interval_seconds: float = Field(default=300.0, ge=0, description="0 = no harvesting")
    harvest_timeout_seconds: float = Field(default=10.0, gt=0,
                                           description="Per document fetched from a node")
    harvest_max_documents: int = Field(default=1000, ge=1,
                                       description="Documents fetched per node per harvest")
    db_pool_min: int = Field(default=1, ge=1)
    db_pool_max: int = Field(default=5, ge=1)
    @field_validator("nodes")
    @classmethod
    def _unique_ids(cls, value: list[NodeCredential]) -> list[NodeCredential]:
        ids = [n.id for n in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate node ids: {sorted(i for i in ids if ids.count(i) > 1)}")
        return value



