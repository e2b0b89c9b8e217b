"""Peers of an aggregating node: other Beacons a network query fans out to."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from node.urls import Url


class Peer(BaseModel):
    """One peer Beacon, as the operator configures it (or as the catalogue's registry lists it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="The peer's beaconId; every resultSet it returns is tagged with it")
    url: Url = Field(description="Base URL of the peer's Beacon API, e.g. https://fi.example/api")
    forward_tokens_from: tuple[str, ...] = Field(
        default=(), description="Issuers whose researcher tokens may be passed on to this peer "
                                "(exact `iss` values); a token from any other issuer is never sent")
