"""Peers of an aggregating node: other Beacons a network query fans out to."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from node.urls import RootUrl


def _a_tag(value: str) -> str:
    """A peer's id tags its resultSets and names its line in info.network.peers: empty, or
    with white space around it (a pasted space), it tagged them with nothing a client could
    tell, or with another id than the peer's own."""
    if not value or value != value.strip() or not value.isprintable():
        raise ValueError("empty, with white space around it or a control character in it: "
                         "it tags the peer's answers")
    return value


class Peer(BaseModel):
    """One peer Beacon, as the operator configures it (or as the catalogue's registry lists it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, AfterValidator(_a_tag)] = Field(
        description="The peer's beaconId; every resultSet it returns is tagged with it")
    url: RootUrl = Field(
        description="Base URL of the peer's Beacon API, e.g. https://fi.example/api")
    forward_tokens_from: tuple[str, ...] = Field(
        default=(), description="Issuers whose researcher tokens may be passed on to this peer "
                                "(exact `iss` values); a token from any other issuer is never sent")
