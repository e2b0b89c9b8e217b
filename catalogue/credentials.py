"""The nodes allowed to publish to the catalogue, each with its shared secret and the origins
its registered URLs must be under.

Nodes authenticate with a per-node shared secret sent as `Authorization: Bearer <token>`:
it needs no AAI to be running, is one line of configuration on each side, and a leaked token
is revoked by changing one entry. The catalogue may keep only the token's SHA-256
(`token_sha256`) so its configuration does not hold the secret itself; presented tokens are
hashed and compared in constant time either way.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import socket
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL, the port always written; None for anything
    else (another scheme, no host, credentials in the URL, a malformed port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host           # an IPv6 address
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


def host_address(url: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a URL's host is: an IP address as written, `localhost` (and a name below
    it) the loopback; None for any other name, whose address is the DNS's word."""
    host = urlsplit(url).hostname or ""
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]        # the root's dot: `localhost.` is localhost
    if host == "localhost" or host.endswith(".localhost"):
        return ipaddress.ip_address("127.0.0.1")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        # `127.1`, `0`, `0x7f000001`, `017700000001`: what browsers (the URL standard's
        # IPv4 parser) and the resolver (inet_aton) take as IPv4 addresses, and this read
        # as names, public ones
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


# A host in the dotted forms inet_aton takes: one to four parts, each decimal, octal or hex
_LEGACY_IPV4 = re.compile(r"(?:(?:0[xX][0-9A-Fa-f]*|[0-9]+)\.){0,3}(?:0[xX][0-9A-Fa-f]*|[0-9]+)")


def is_internal(origin: str) -> bool:
    """Loopback, private, link-local or unspecified: an address inside someone's network."""
    address = host_address(origin)
    return address is not None and (
        address.is_loopback or address.is_private or address.is_link_local
        or address.is_unspecified or address.is_reserved)


# A node's id (its Beacon's `beacon_id`): a path segment of /api/nodes/{id} and of its FAIR
# Data Point's catalog address, as written, with nothing a URL would escape or a client
# unescape (a `:` in it made the catalog's address unharvestable: written %3A, asked as `:`).
NODE_ID = r"^[A-Za-z0-9._-]+$"
MAX_NODE_NAME = 200     # a node's name as it registers (its Beacon's name, GDI_NODE_BEACON_NAME)


def not_only_dots(value: str) -> str:
    """A NODE_ID of dots only (`.`, `..`) is a path segment URLs resolve away: the catalog
    `/fdp/catalog/..` is asked as `/fdp` (and a push to `/api/nodes/..` as `/api`), so such
    a node could be neither harvested nor pushed."""
    if value.strip(".") == "":
        raise ValueError("is only dots, which a URL path resolves away (/fdp/catalog/.. is "
                         "/fdp); use letters or digits")
    return value


def unsendable(secret: str) -> bool:
    """Whether a bearer token cannot go in an Authorization header as given: empty, or
    holding white space or a control character (a file's newline, a pasted space), which
    HTTP strips or refuses. The node's token and the catalogue's copy of it are held to it,
    so that neither side is given one the other can never match."""
    return re.fullmatch(r"[^\s\x00-\x1f\x7f]+", secret) is None


class NodeCredential(BaseModel):
    """One node allowed to publish: its id (the path segment of /api/nodes/{id}) and secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=NODE_ID)
    token: SecretStr | None = None
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    origins: tuple[str, ...] = Field(
        default=(), description="Origins (scheme://host[:port]) the node's beaconUrl and "
                                "fdpUrl must be under; none = it cannot register")

    _id_not_only_dots = field_validator("id")(not_only_dots)

    @field_validator("origins")
    @classmethod
    def _origins(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        """Stored in one form (port written); a path or query would make the rule unclear."""
        normal = []
        for number, value in enumerate(values, 1):
            origin = origin_of(value)
            if origin is None or urlsplit(value).path not in ("", "/") or "?" in value:
                raise ValueError(f"origin {number} is not an origin such as "
                                 "https://node.example.org")
            normal.append(origin)
        return tuple(normal)

    @model_validator(mode="after")
    def _exactly_one_secret(self) -> NodeCredential:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError(f"node {self.id!r}: give exactly one of token, token_sha256")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError(f"node {self.id!r}: token must be at least 16 characters")
        if self.token is not None and unsendable(self.token.get_secret_value()):
            raise ValueError(f"node {self.id!r}: token holds white space or a control "
                             "character (a file's newline?), which no Authorization header "
                             "carries")
        return self

    def digest(self) -> bytes:
        """The secret's SHA-256, whichever way it was given: what tells two secrets apart."""
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        assert self.token is not None
        return hashlib.sha256(self.token.get_secret_value().encode()).digest()

    def allows(self, url: str) -> bool:
        """The node may name `url` (its Beacon or FAIR Data Point) to every network that reads
        the registry: only under the origins the catalogue's operator configured for it, so
        a node credential cannot point networks at arbitrary hosts and ports."""
        return origin_of(url) in self.origins

    def outside(self, beacon_url: str, fdp_url: str) -> list[str]:
        """`beaconUrl URL`, `fdpUrl URL` for each of a node's URLs it does not `allow`: one
        rule for a registration and for a registered node checked again at start."""
        return [f"{name} {url}" for name, url in (("beaconUrl", beacon_url),
                                                  ("fdpUrl", fdp_url))
                if not self.allows(url)]

    def accepts(self, presented: str) -> bool:
        """Constant-time comparison of digests (equal length whatever the input)."""
        return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self.digest())
