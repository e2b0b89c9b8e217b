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
# How many network requests one process answers at once by default
# (Settings.network_requests_in_flight). A request holds its slot for as long as its slowest
# peer: with one peer frozen, the peer timeout (3 s), so 16 slots carry about 5 requests a
# second through the commonest failure of a network before one is refused (4 refused all
# above 1.3 a second). What 16 may hold: each up to MAX_NETWORK_BODIES (64 MiB) of its
# peers' answers as read, parsed about 6 times that for a node's records (some 6 GiB in all
# where every peer sends its largest answer), but 24 to 31 times for a hostile peer's
# `[{}, {}, ...]` (measured on Python 3.11 with tracemalloc): up to 2 GiB a request, so a
# node asking peers it does not trust (a registry's) sets it to its memory over 2 GiB.
REQUESTS_IN_FLIGHT = 16


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
