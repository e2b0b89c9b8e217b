"""The researchers' web page: `/` and its assets under `/web/`, served from the package
(node/web/: HTML, one script, one style sheet, written here; no CDN, no build step, nothing
fetched at run time). The page itself talks to the node's JSON APIs (`/api`, or
`/network/api` when the node has peers) and to the network's trusted OIDC provider for
sign-in (authorization code with PKCE): docs/web.md.

`/web/config.json` tells the page what it cannot read from the Beacon API: the issuers it may
sign researchers in with (trusted issuers that issue access tokens; the client id is the
issuer's configured audience), and the catalogue service it may search (catalogue_url).

`/api/docs` (and `{alias root}/docs`) is the interactive API page: Swagger UI's dist files
from the `swagger-ui-py` package (served at `/web/swagger-ui/`, read from the installed
package, nothing fetched elsewhere), started by node/web/docs.js on the API's own
`openapi.json`, with a policy that allows only this node.

Headers. The page's own Content-Security-Policy lets it load its own script and style sheet
and connect only to this node, what its sign-in asks of the trusted issuers (their
discovery documents, and the token endpoints and userinfo those name) and the catalogue;
node/http/middleware.py keeps it instead of adding the JSON one (`default-src 'none'`,
under which no page can run), and adds the other headers every answer carries.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources, util
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from auth.issuers import SignInEndpoints, TrustedIssuer
from node.http.app_keys import AUTHENTICATOR, SETTINGS
from node.settings import Settings

_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


# Swagger UI's files the API page loads, from the swagger-ui-py package's static directory
SWAGGER_PACKAGE = "swagger_ui"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")


def _asset(body: bytes, name: str) -> Asset:
    return Asset(body, _TYPES["." + name.rsplit(".", 1)[-1]],
                 '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def _assets() -> dict[str, Asset]:
    """Every file of node/web/ by name, read once at start (they are small: docs/web.md)."""
    found: dict[str, Asset] = {}
    for entry in resources.files("node").joinpath("web").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = _asset(entry.read_bytes(), entry.name)
    return found


def swagger_directory() -> Path | None:
    """Where the installed swagger-ui-py keeps Swagger UI's dist files (found without
    importing the package, whose own server adapters this node does not use)."""
    spec = util.find_spec(SWAGGER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    return static if all((static / name).is_file() for name in SWAGGER_FILES) else None


def _swagger_assets() -> dict[str, Asset]:
    directory = swagger_directory()
    if directory is None:
        return {}
    return {name: _asset((directory / name).read_bytes(), name) for name in SWAGGER_FILES}


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else None


# An origin as a policy's host-source writes it: a host name or an address in brackets, and a
# port. What else a URL's netloc may hold (`;`, `'`, a comma), from a discovery document
# anyone's provider writes, would end the directive and start another
_SOURCE = re.compile(r"https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _sign_in_urls(issuer: TrustedIssuer, endpoints: SignInEndpoints) -> tuple[str | None, ...]:
    """What the page's sign-in asks of an issuer (node/web/app.js): its discovery document
    (at the issuer's origin), its token endpoint and its userinfo (the configured one first,
    as the page asks it)."""
    return issuer.issuer, endpoints.token, issuer.userinfo_endpoint or endpoints.userinfo


def page_policy(settings: Settings,
                sign_in: Mapping[str, SignInEndpoints] | None = None) -> str:
    """The page's Content-Security-Policy: its own script and styles only, no inline code,
    connections to this node, to what its sign-in asks of the trusted issuers, and to the
    catalogue service (its search). An issuer's token endpoint and userinfo are where its
    discovery document says (`sign_in`, as the node read it: auth/issuers.py): allowed the
    issuer's origin alone, the page could not exchange its code with a provider whose token
    endpoint is elsewhere (Google's)."""
    sign_in = sign_in or {}
    issuers = sorted({o for i in settings.trusted_issuers if i.access_tokens
                      for url in _sign_in_urls(i, sign_in.get(i.issuer, SignInEndpoints()))
                      if url and (o := _origin(url)) and _SOURCE.fullmatch(o)})
    catalogue = _origin(settings.catalogue_url or "")
    others = [*issuers, *([catalogue] if catalogue and catalogue not in issuers else [])]
    connect = " ".join(["'self'", *others])
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; form-action 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")


def page_config(settings: Settings) -> dict[str, object]:
    """What the page needs beyond the Beacon API: the node, whether it asks a network (its
    /network/api: peers configured or from the catalogue), the issuers to sign in with and
    the catalogue service to search (null when the node has none)."""
    return {"beaconId": settings.beacon_id, "beaconName": settings.beacon_name,
            "network": bool(settings.peers) or settings.peers_from_catalogue,
            "issuers": [{"issuer": i.issuer, "clientId": i.audience or settings.beacon_id,
                         **({"userinfo": i.userinfo_endpoint} if i.userinfo_endpoint else {})}
                        for i in settings.trusted_issuers if i.access_tokens],
            "catalogue": settings.catalogue_url if _origin(settings.catalogue_url or "")
            else None}


# The API page: Swagger UI's script and styles and ours, no inline code; "Try it out" asks
# this node only (docs.js points the description's server at the page's own origin).
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


def _unchanged(request: web.Request, etag: str) -> bool:
    """If-None-Match as RFC 9110 (13.1.2) reads it: a list, or `*`, compared weakly. Only the
    ETag as sent matched, and a proxy that compresses (nginx's gzip) weakens the ETag it
    passes on (`W/"…"`): a page behind one was sent whole on every visit."""
    return any(tag.value in ("*", etag.strip('"')) for tag in request.if_none_match or ())


async def _send(request: web.Request, body: bytes, content_type: str, etag: str | None,
                policy: str) -> web.StreamResponse:
    """The answer with the page's headers (see the module's docstring)."""
    # Cross-Origin-Opener-Policy: a page of another site that opened this one (window.open)
    # kept its handle through the sign-in, and changing only its fragment made the signed-in
    # tab search with the researcher's token, spending their budget (found by a review,
    # 2026-12-06); same-origin takes the handle away
    headers = {"Content-Security-Policy": policy, "Cache-Control": "no-cache",
               "Cross-Origin-Opener-Policy": "same-origin"}
    if etag is not None:
        headers["ETag"] = etag
    if etag is not None and _unchanged(request, etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={**headers, "Content-Type":
                                            f"{content_type}; charset=utf-8"})


def routes() -> list[web.RouteDef]:
    """`/` (the page), `/web/config.json`, `/web/{asset}` and `/web/swagger-ui/{file}`."""
    assets = _assets()
    swagger = _swagger_assets()

    async def page(request: web.Request) -> web.StreamResponse:
        index = assets["index.html"]
        sign_in = await request.app[AUTHENTICATOR].sign_in_endpoints()
        return await _send(request, index.body, index.content_type, index.etag,
                           page_policy(request.app[SETTINGS], sign_in))

    async def asset(request: web.Request) -> web.StreamResponse:
        found = assets.get(request.match_info["name"])
        if found is None or found.content_type == "text/html":
            raise web.HTTPNotFound()
        return await _send(request, found.body, found.content_type, found.etag,
                           "default-src 'none'; frame-ancestors 'none'")

    async def config(request: web.Request) -> web.StreamResponse:
        body = json.dumps(page_config(request.app[SETTINGS])).encode()
        return await _send(request, body, "application/json", None,
                           "default-src 'none'; frame-ancestors 'none'")

    async def swagger_asset(request: web.Request) -> web.StreamResponse:
        found = swagger.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return await _send(request, found.body, found.content_type, found.etag,
                           "default-src 'none'; frame-ancestors 'none'")

    return [web.get("/", page), web.get("/web/config.json", config),
            web.get("/web/{name}", asset), web.get("/web/swagger-ui/{name}", swagger_asset)]


def docs_routes() -> list[web.RouteDef]:
    """`/api/docs`, the interactive API page (Swagger UI), when swagger-ui-py is installed;
    node/app.py serves it under each alias root too. The page loads `openapi.json` beside
    itself, so under an alias root it reads that root's description."""
    if swagger_directory() is None:
        return []
    page_asset = _assets()["docs.html"]

    async def docs(request: web.Request) -> web.StreamResponse:
        return await _send(request, page_asset.body, page_asset.content_type,
                           page_asset.etag, DOCS_POLICY)

    return [web.get("/api/docs", docs)]
