"""Peers of an aggregating node: other Beacons a network query fans out to."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from node.urls import Url


def _api_root(url: str) -> str:
    """`url` (an http(s) URL, node/urls.py) as a root every path of the API is added to;
    ValueError, never quoting it, when it holds a user name or password, a query or a
    fragment. A password went with every request, and into the log line of each failed one;
    and aiohttp refuses a URL's credentials beside an Authorization header, so each request
    whose token was forwarded to that peer was a 500. A path added after a query or a
    fragment is inside it (`/api?key=1/g_variants?...`): every question asked the peer's
    root."""
    if "@" in urlsplit(url).netloc:
        raise ValueError("a peer's URL holds no user name or password: it would go with "
                         "every request and into the log")
    if "?" in url or "#" in url:
        raise ValueError("a peer's URL is the root of its API, with no query or fragment: "
                         "every path is added to it")
    return url


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
    url: Annotated[Url, AfterValidator(_api_root)] = Field(
        description="Base URL of the peer's Beacon API, e.g. https://fi.example/api")
    forward_tokens_from: tuple[str, ...] = Field(
        default=(), description="Issuers whose researcher tokens may be passed on to this peer "
                                "(exact `iss` values); a token from any other issuer is never sent")
