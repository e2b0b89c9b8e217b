"""Bearer tokens on every node request (node/http/middleware.py asks `caller_of`): no header =
anonymous; a header that does not verify = 401 with `WWW-Authenticate` and a Beacon error
body, never a silent downgrade to public; two headers = 400, and so is a token in the URL
(`URL_TOKEN`); a token whose issuer's keys cannot be read now = 503 with Retry-After
(`unverifiable`), neither.
Who a budget counts (`caller_key`): the token's subject (a bona fide researcher's or a grant
holder's), else the client's address (an IPv6 client's network of
Settings.disclosure.anonymous_ipv6_prefix bits), or for a network node this node trusts, the
caller that network names.
One audit line per access decision, naming the subject and token id, never the token."""
from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Iterable
from functools import lru_cache

from aiohttp import web

from auth.policy import ANONYMOUS, Caller
from auth.tokens import InvalidToken, IssuerUnavailable, bearer_token
from beacon.disclosure import counted_by_token
from beacon.request_error import RequestError
from beacon.responses import error_body
from node.federation.network import NETWORK_CALLER_HEADER, PSEUDONYM, PSEUDONYM_LENGTH
from node.http.app_keys import AUTHENTICATOR, CALLER, SETTINGS
from node.http.metrics import REQUEST_ID, unavailable
from node.http.responses import json_response
from node.logs import shown

audit_log = logging.getLogger("gdi_node.audit")
URL_TOKEN = "access_token"      # RFC 6750 2.3's query parameter, which the node does not take


def _challenge(description: str) -> str:
    """The 401's `WWW-Authenticate` value: `description` as printable ASCII alone, any other
    character as `?`, and `"` and `\\` (which would end or escape the quoted string) as `'`
    and `/`. A reason holds no text of the token (auth/tokens.py InvalidToken), but one
    did: an unsigned token's CR LF in its `crit` header reached this header, which aiohttp
    then refused to write, so the caller got a dropped connection instead of the 401 and
    the log an "Unhandled exception" (found by a review, 2026-12-05). RFC 9110 allows only
    visible ASCII, spaces and tabs there (and obsolete Latin-1 no client should be sent)."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in description[:200])
    cleaned = cleaned.replace('"', "'").replace("\\", "/")
    return f'Bearer error="invalid_token", error_description="{cleaned}"'


def request_token(request: web.Request) -> str | None:
    """The request's bearer token; None without an Authorization header. Two headers are
    refused (400), not resolved: a proxy and the node could each pick a different one, and
    what the node verified must be what the network forwards. So is a token in the URL's
    `access_token` (RFC 6750 2.3): a URL is kept in browsers' histories and proxies' logs
    (RFC 6750 5.3), and ignored, it answered its caller as anonymous, a silent downgrade of
    a caller who meant to be known (found by a review, 2026-12-05)."""
    if URL_TOKEN in request.query:
        raise RequestError(URL_TOKEN, "a bearer token goes in the Authorization header "
                                      "('Authorization: Bearer <token>'), never in the URL")
    authorization = request.headers.get("Authorization")
    if authorization is not None and len(request.headers.getall("Authorization")) > 1:
        raise RequestError("Authorization", "given more than once")
    return bearer_token(authorization)


async def caller_of(request: web.Request) -> Caller:
    """The caller a request's Authorization header proves; no header = anonymous.
    Raises InvalidToken for anything else (RequestError for two headers), never falls back to
    anonymous."""
    token = request_token(request)
    if token is None:
        return ANONYMOUS
    return await request.app[AUTHENTICATOR].caller(token)


def refusal(request: web.Request, exc: InvalidToken) -> web.Response:
    """401 with `WWW-Authenticate` and a Beacon error body; audited."""
    reason = shown(str(exc))
    audit_log.info("token refused", extra={"request_id": request.get(REQUEST_ID),
                                           "decision": "refused", "reason": reason})
    body = error_body(request.app[SETTINGS].beacon_id, 401, f"invalid token: {reason}")
    return json_response(body, 401, headers={"WWW-Authenticate": _challenge(str(exc))})


def unverifiable(request: web.Request, exc: IssuerUnavailable) -> web.Response:
    """503 with a Beacon error body and Retry-After, when the node next asks the issuer;
    audited. Not a 401: the token is not known to be bad (auth/tokens.py
    IssuerUnavailable). Not public data either: the caller is not known."""
    reason = shown(str(exc))
    audit_log.info("token not verified", extra={"request_id": request.get(REQUEST_ID),
                                                "decision": "unavailable", "reason": reason})
    body = error_body(request.app[SETTINGS].beacon_id, 503, reason)
    return unavailable(json_response(body, 503, headers={"Retry-After": str(max(1, math.ceil(
        exc.retry_after)))}), "issuer")


def caller_key(request: web.Request) -> str:
    """Who a budget and the audit trail count a request against: the token's (issuer, sub)
    where it is a bona fide researcher's or a grant holder's (beacon.disclosure
    counted_by_token), else the client's address, a token answered at the anonymous tier
    included: the connection's peer, or the last entry of the header a
    trusted proxy sets (Settings.disclosure.client_address_header), which is the address
    that proxy saw, read only from a connection of Settings.disclosure.client_address_proxies.
    The last entry across all of the header's lines, not of its first line:
    a proxy that keeps the client's own lines and adds one (HAProxy's `option forwardfor`)
    puts its entry last, and the first line is the client's to write, a fresh budget for
    each address it names. An IPv6 address counts as its network of
    `anonymous_ipv6_prefix` bits (`address 2001:db8::/64`): a host is given a /64 and
    may use any address in it, so counted per address it had as many budgets, and sets of
    loss accounts, as it chose addresses.

    From an address in Settings.trusted_network_addresses, a request naming its caller in
    NETWORK_CALLER_HEADER counts against `network <address> <pseudonym>`: each anonymous
    caller of that network on its own, where all of them were the network node's one
    budget. From any other address the header is ignored, or every client could name
    itself a fresh budget."""
    caller = request.get(CALLER, ANONYMOUS)
    identity = caller.identity
    if identity is not None and counted_by_token(caller):
        return f"token {identity.issuer} {identity.sub}"
    settings = request.app[SETTINGS]
    header = settings.disclosure.client_address_header
    lines = request.headers.getall(header, ()) if header else ()
    if lines and not _from_proxy(request.remote, *settings.disclosure.client_address_proxies):
        lines = ()             # not through the proxy: the client wrote it, any address
    forwarded = _address(lines[-1].rsplit(",", 1)[-1]) if lines else None
    address = forwarded or request.remote
    # Only an address read as such is trusted with the header: an unreadable forwarded
    # entry counts against the proxy, which may itself be trusted (on a network node's
    # host), and then any client behind it named itself a fresh budget per question
    if (settings.trusted_network_addresses and NETWORK_CALLER_HEADER in request.headers
            and (forwarded is not None or not lines)
            and _within(address, settings.trusted_network_addresses)):
        return f"network {_unmapped(address)} {_network_caller(request)}"
    return f"address {_anonymous(address, settings.disclosure.anonymous_ipv6_prefix)}"


def _unmapped(address: str | None) -> str:
    """`address` as the budgets and audit trail name it: an IPv4 client of a dual-stack
    socket (::ffff:192.0.2.10) by its IPv4 address, as it is named connecting over IPv4,
    so the one client is one caller either way."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return str(mapped or ip)


@lru_cache(maxsize=4096)
def _anonymous(address: str | None, ipv6_prefix: int) -> str:
    """Who an anonymous `address` is: an IPv4 address (mapped ones included) itself; an IPv6
    address its network of `ipv6_prefix` bits (at 128, the address as before, without a
    length). Its zone (fe80::1%eth0) is no part of it: the network is the same on any.
    Remembered: every anonymous answer asks it, and parsing an address costs more than the
    lookup (a node's callers are a few thousand addresses at a time)."""
    named = _unmapped(address)
    try:
        ip = ipaddress.ip_address(named)
    except ValueError:
        return named
    if isinstance(ip, ipaddress.IPv4Address):
        return named
    if ipv6_prefix >= 128:
        return str(ipaddress.IPv6Address(int(ip)))          # without its zone
    return str(ipaddress.IPv6Network((int(ip), ipv6_prefix), strict=False))


def _address(entry: str) -> str | None:
    """The forwarded entry as an IP address (written as `ipaddress` writes it), or None.
    What the proxy puts last is an address; anything else (bytes that are not UTF-8, which
    made the budget's statement a 500; any text, which would be a fresh budget for each
    spelling) counts against the connection's peer, the proxy, as without the header."""
    try:
        return str(ipaddress.ip_address(entry.strip().removeprefix("[").removesuffix("]")))
    except ValueError:
        return None


def _within(address: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
            ) -> bool:
    """Whether `address` is in one of `networks`; an IPv4 client of a dual-stack socket
    (::ffff:192.0.2.10) as its IPv4 address too, as an operator writes it."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any(ip in network or (mapped is not None and mapped in network)
               for network in networks)


@lru_cache(maxsize=4096)
def _from_proxy(address: str | None,
                *proxies: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Whether a connection from `address` is one of the proxies whose client address
    header is read (Settings.disclosure.client_address_proxies): read from any connection,
    a client reaching the node past its proxy named any address there, a fresh anonymous
    budget and loss account each (found by a review, 2026-12-05). Remembered, as
    `_anonymous`: a proxy is one address, asked by every anonymous request."""
    return _within(address, list(proxies))


def _network_caller(request: web.Request) -> str:
    """The pseudonym a trusted network node sent (NETWORK_CALLER_HEADER). A value not of
    the one shape the network makes, or two of them, is a 400 naming the header rather than
    the network node's own budget: a network node sending it is misconfigured or not this
    one's version, which its operator learns from the peer's line in each answer
    (`HTTP 400: X-Beacon-Network-Caller: ...`), where a quiet fallback would bring back one
    shared budget for all its callers unseen."""
    values = request.headers.getall(NETWORK_CALLER_HEADER)
    if len(values) > 1:
        raise RequestError(NETWORK_CALLER_HEADER, "given more than once")
    if PSEUDONYM.fullmatch(values[0]) is None:
        raise RequestError(NETWORK_CALLER_HEADER, f"not a network caller's pseudonym "
                                                  f"({PSEUDONYM_LENGTH} lowercase hexadecimal "
                                                  "digits)")
    return values[0]


def audit(request: web.Request, decisions: Iterable[tuple[str, str]]) -> None:
    """Who saw which datasets at which granularity, for the operator's audit trail.
    `decisions`: (dataset id, granularity) pairs, made into the entry's dict only when the
    log takes it (a dict made for nothing cost every answer's handler about 4k instructions
    with the log off, bench/individuals.py --instructions)."""
    if not audit_log.isEnabledFor(logging.INFO):
        return
    caller = request.get(CALLER, ANONYMOUS)
    audit_log.info("access", extra={"request_id": request.get(REQUEST_ID),
                                    "sub": caller.subject, "token_id": caller.token_id,
                                    "issuer": caller.issuer, "registered": caller.registered,
                                    "datasets": dict(decisions)})
