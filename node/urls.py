"""Base URLs as operators and clients write them, with or without a trailing slash: stored
without one, so that `f"{base}/api"` is right whichever way they were written. The one place
that normalises and checks them (settings, peers, command-line options): a URL the node will
call or put in its answers is an absolute http(s) URL with a host, refused when the
configuration is read rather than when the first request needs it."""
from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

from auth.urls import http_url


def without_trailing_slash(url: str) -> str:
    return url.rstrip("/")


def http_base_url(url: str) -> str:
    """`url` (auth/urls.py's rule) without a trailing slash."""
    return without_trailing_slash(http_url(url))


_DEFAULT_PORTS = {"http": 80, "https": 443}


def beacon_key(url: str) -> str:
    """What two URLs share when they name one Beacon: `url` (an http(s) URL with no user
    name or password, as settings and registry take it) without a trailing slash, its
    scheme and host lowercased (they are case-insensitive, RFC 3986 6.2.2.1; its path is
    not), its host without the trailing dot of a fully qualified name, its scheme's default
    port left out (6.2.3: `https://fi.example:443/api` is `https://fi.example/api`, and was
    asked and counted twice), and its path as RFC 3986 6.2.2.2 and 6.2.2.3 normalise it
    (`_path_key`). The one rule of both places that ask it, the settings' configured peers
    and the registry's nodes beside them (node/federation/network.py): each had its own,
    and a node the registry listed at a configured peer's URL cased otherwise was asked
    twice, its count added twice to the network's total."""
    parts = urlsplit(_normalised(without_trailing_slash(url)))
    host, colon, port = parts.netloc.rpartition(":")
    if not colon or "]" in port:                # no port, or an IPv6 address's last `:`
        host, colon, port = parts.netloc, "", ""
    netloc = host.removesuffix(".") + colon + port
    return without_trailing_slash(parts._replace(netloc=netloc,
                                                 path=_path_key(parts.path)).geturl())


# RFC 3986 2.3: the characters a path means the same by, percent-encoded or not
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def _path_key(path: str) -> str:
    """`path` with each percent-encoded unreserved character decoded, the other encodings'
    hex digits in upper case (RFC 3986 6.2.2.1-2), and its dot segments removed (6.2.2.3,
    5.2.4). Compared as written, `/%61pi` and `/x/../api` were other Beacons than `/api`,
    where a node routes `/%61pi/info` as `/api/info` (aiohttp decodes the path; a proxy
    normalising paths removes dot segments too): a registry listing a node so beside its
    own URL had it asked twice, counted twice, and told another pseudonym of every caller
    of the network, each a second budget and a second set of loss accounts there (found by
    a review, 2026-12-06)."""
    def decoded(found: re.Match[str]) -> str:
        character = chr(int(found[1], 16))
        return character if character in _UNRESERVED else f"%{found[1].upper()}"
    segments: list[str] = []
    for segment in _PERCENT.sub(decoded, path).split("/"):
        if segment == "..":
            if len(segments) > 1:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    return "/".join(segments)


def _normalised(url: str) -> str:
    """`url` (no user name or password) with its scheme and host lowercased and its
    scheme's default port left out, as RFC 3986 6.2.2.1 and 6.2.3 normalise them."""
    parts = urlsplit(url)
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if parts.port is not None and parts.port == _DEFAULT_PORTS.get(scheme):
        netloc = netloc.rpartition(":")[0]
    return parts._replace(scheme=scheme, netloc=netloc).geturl()


def http_root(host: str, port: int) -> str:
    """`http://HOST:PORT`, where a service listens: an IPv6 address in brackets (RFC 3986,
    3.2.2), which `--host ::1` was not, and the node named itself `http://::1:5050`, no URL,
    in /api/map, its FAIR Data Point's IRIs and its catalogue records (found by a review,
    2026-12-05)."""
    return f"http://[{host}]:{port}" if ":" in host and not host.startswith("[") else (
        f"http://{host}:{port}")


def _origin(origin: str) -> str:
    """An origin as browsers send it (scheme, host and port; no path, not `*`), and as they
    write it (RFC 6454 6.1): scheme and host in lower case, no default port. Kept as
    configured, `https://Portal.example` or `https://portal.example:443` never matched the
    Origin a browser sent, and that portal's scripts were refused without a word."""
    problem = "not an origin like https://node.example.org (scheme, host and port)"
    try:
        origin = _normalised(http_base_url(origin))
    except ValueError:
        raise ValueError(problem) from None
    if not re.fullmatch(r"https?://[^/\s?#@]+", origin):    # no user name: none is sent
        raise ValueError(problem)
    return origin


def _database_url(url: str) -> str:
    """A PostgreSQL URL as asyncpg takes it (one host or several, `host:port,host:port`);
    ValueError, without the URL (it may hold a password), when it is not one."""
    problem = "not a PostgreSQL URL such as postgresql://user:password@host:5432/database"
    try:
        parts = urlsplit(url)
    except ValueError:                             # a broken [IPv6] host
        raise ValueError(problem) from None
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(problem)
    for host in parts.netloc.rpartition("@")[2].split(","):
        after_host = host.rpartition("]")[2] if host.startswith("[") else host
        if ":" in after_host:
            port = after_host.rpartition(":")[2]
            if not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
                raise ValueError(f"{problem} (a port is not a number from 1 to 65535)")
    return url


def _root(url: str) -> str:
    """`url` as a root paths are added to (the node's public base URL, its catalogue's, each
    peer's API root): ValueError, never quoting it, when it holds a query or a fragment (a
    path added after one is inside it: `/api?key=1/g_variants?...` asked a peer's root every
    question), or a user name or password. Such a URL is published in the node's answers,
    or sent with every request and written in the log line of each failed one; and aiohttp
    refuses a URL's credentials beside an Authorization header, so each request whose token
    was forwarded to such a peer was a 500. The one rule of all three: peers had a copy of
    it (node/federation/peers.py)."""
    if "?" in url or "#" in url:
        raise ValueError("a base URL has no query or fragment: paths are added to it")
    if "@" in urlsplit(url).netloc:
        raise ValueError("a base URL holds no user name or password: it would be published, "
                         "or sent with every request and logged")
    return url


# What the node's answers are built on, its catalogue and its peers are called at
RootUrl = Annotated[str, AfterValidator(http_base_url), AfterValidator(_root)]
Origin = Annotated[str, AfterValidator(_origin)]
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
