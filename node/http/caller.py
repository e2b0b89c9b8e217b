"""Bearer tokens on every node request (node/http/middleware.py asks `caller_of`): no header =
anonymous; a header that does not verify = 401 with `WWW-Authenticate` and a Beacon error
body, never a silent downgrade to public; two headers = 400.
One audit line per access decision, naming the subject and token id, never the token."""
from __future__ import annotations

import ipaddress
import logging

from aiohttp import web

from auth.policy import ANONYMOUS, Caller
from auth.tokens import InvalidToken, bearer_token
from beacon.request import RequestError
from beacon.responses import error_body
from node.http.app_keys import AUTHENTICATOR, CALLER, SETTINGS
from node.http.metrics import REQUEST_ID
from node.http.responses import json_response

audit_log = logging.getLogger("gdi_node.audit")


def _challenge(description: str) -> str:
    cleaned = description.replace('"', "'").replace("\\", "/")[:200]
    return f'Bearer error="invalid_token", error_description="{cleaned}"'


def request_token(request: web.Request) -> str | None:
    """The request's bearer token; None without an Authorization header. Two headers are
    refused (400), not resolved: a proxy and the node could each pick a different one, and
    what the node verified must be what the network forwards."""
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
    audit_log.info("token refused", extra={"request_id": request.get(REQUEST_ID),
                                           "decision": "refused", "reason": str(exc)})
    body = error_body(request.app[SETTINGS].beacon_id, 401, f"invalid token: {exc}")
    return json_response(body, 401, headers={"WWW-Authenticate": _challenge(str(exc))})


def caller_key(request: web.Request) -> str:
    """Who a budget and the audit trail count a request against: the token's (issuer, sub),
    else the client's address: the connection's peer, or the last entry of the header a
    trusted proxy sets (Settings.disclosure.client_address_header), which is the address
    that proxy saw. The last entry across all of the header's lines, not of its first line:
    a proxy that keeps the client's own lines and adds one (HAProxy's `option forwardfor`)
    puts its entry last, and the first line is the client's to write, a fresh budget for
    each address it names."""
    caller = request.get(CALLER, ANONYMOUS)
    if caller.identity is not None:
        return f"token {caller.identity.issuer} {caller.identity.sub}"
    header = request.app[SETTINGS].disclosure.client_address_header
    lines = request.headers.getall(header, ()) if header else ()
    address = _address(lines[-1].rsplit(",", 1)[-1]) if lines else None
    return f"address {address or request.remote or 'unknown'}"


def _address(entry: str) -> str | None:
    """The forwarded entry as an IP address (written as `ipaddress` writes it), or None.
    What the proxy puts last is an address; anything else (bytes that are not UTF-8, which
    made the budget's statement a 500; any text, which would be a fresh budget for each
    spelling) counts against the connection's peer, the proxy, as without the header."""
    try:
        return str(ipaddress.ip_address(entry.strip().removeprefix("[").removesuffix("]")))
    except ValueError:
        return None


def audit(request: web.Request, decisions: dict[str, str]) -> None:
    """Who saw which datasets at which granularity, for the operator's audit trail."""
    if not audit_log.isEnabledFor(logging.INFO):
        return
    caller = request.get(CALLER, ANONYMOUS)
    audit_log.info("access", extra={"request_id": request.get(REQUEST_ID),
                                    "sub": caller.subject, "token_id": caller.token_id,
                                    "issuer": caller.issuer, "registered": caller.registered,
                                    "datasets": decisions})
