"""Peers of an aggregating node: other Beacons a network query fans out to."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from node.urls import RootUrl

MAX_PEER_BODY = 16 * 1024 * 1024   # a larger answer is refused, not buffered
# All the peers' answers to one request together, as read: each peer's bound alone let a
# request read its peers times 16 MiB (a registry lists whatever its credential holders
# register, thousands of URLs), all held, as parsed, until the merge
MAX_NETWORK_BODIES = 4 * MAX_PEER_BODY
# What one network request may hold: its peers' answers as parsed, up to this many times
# their bytes (a hostile peer's `[{}, {}, ...]` or `[[], [], ...]`: 24 to 31 times as read
# by the network, measured on Python 3.11 with tracemalloc; a node's records about 6 times)
PARSED_PER_BYTE = 32
# What the network requests of one process may hold together, and so (at MAX_NETWORK_BODIES
# each, parsed) how many are answered at once by default (Settings.network_requests_in_flight):
# a third of the 24 GiB of the machine the benchmarks run on (docs/benchmarks.md), the
# database and the node's other work beside it
NETWORK_MEMORY = 8 * 1024**3
REQUESTS_IN_FLIGHT = NETWORK_MEMORY // (MAX_NETWORK_BODIES * PARSED_PER_BYTE)      # 4


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
