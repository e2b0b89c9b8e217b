"""HTTP layer of the development AAI (auth/dev_issuer.py): OIDC discovery, the JWKS of its
access-token and visa keys, the token endpoint, userinfo with GA4GH Passport visas, and the
authorization-code flow with PKCE a web page signs in with (a login page at /authorize; the
code exchanged at /token with its code_verifier; browsers sent back only to the configured
`redirect_uris`, whose origins may also read discovery and /token from a page's script).
Development only: it hands out tokens for configured users and passwords."""
from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from auth.dev_issuer import CodeRefused, DevIssuer, DevIssuerConfig, DevUser
from auth.passport import PASSPORT_SCOPE
from auth.tokens import InvalidToken, bearer_token
from node.http.body import BodyRefused, arrived
from node.production import DEVELOPMENT_AAI_CLAIM
from node.settings import ServiceSettings

# the node's and the catalogue's default (the AAI has no settings of its own)
BODY_TIMEOUT_SECONDS = ServiceSettings.model_fields["body_timeout_seconds"].default


def _oauth_error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


async def _form(request: web.Request, timeout_seconds: float) -> dict[str, str] | None:
    """The body's form fields that are text (a file part is not a field here); None when
    the body is no form aiohttp can read (not UTF-8, a broken multipart). A body that does
    not decode as its Content-Encoding says (a 500, before) or has not arrived within
    `timeout_seconds` (it held its connection for good) is a BodyRefused (_unread_bodies)."""
    try:
        form = await arrived(request, timeout_seconds, request.post)
    except ValueError:                      # UnicodeDecodeError included
        return None
    return {key: value for key, value in form.items() if isinstance(value, str)}


@web.middleware
async def _unread_bodies(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    """A body the AAI does not take (node/http/body.py) as the OAuth error it is; the rest
    of it was not read, so the connection ends."""
    try:
        return await handler(request)
    except BodyRefused as exc:
        response = _oauth_error(exc.status, "invalid_request", exc.message)
        response.force_close()
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


_LOGIN_STYLE = ("body{font:1rem/1.5 system-ui,sans-serif;max-width:24rem;margin:2rem auto;"
                "padding:0 1rem}label{display:block;margin-top:.75rem}input{font:inherit;"
                "width:100%;box-sizing:border-box;padding:.4rem}button{font:inherit;"
                "margin-top:1rem;padding:.4rem 1rem}.error{color:#a00}")


def _login_page(config: DevIssuerConfig, params: dict[str, str], error: str = "",
                status: int = 200) -> web.Response:
    """The login form: the authorization request travels on in hidden fields."""
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items())
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in: development AAI</title><style>{_LOGIN_STYLE}</style></head><body><main>
<h1>Sign in</h1><p>Development AAI at {html.escape(config.issuer)}: for tests and demos only.
Signing in sends you back to {html.escape(params.get("redirect_uri", ""))}.</p>{alert}
<form method="post" action="authorize">{hidden}
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></main></body></html>"""
    csp = ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
           f"form-action 'self' {_origin(params.get('redirect_uri', ''))}")
    return web.Response(text=body, content_type="text/html", status=status,
                        headers={"Content-Security-Policy": csp, "Cache-Control": "no-store",
                                 "Referrer-Policy": "no-referrer"})


def _authorization_request(issuer: DevIssuer, query: dict[str, str]) -> dict[str, str]:
    """The parameters of an authorization request; raises the answer when it is refused: a
    400 for an unknown client or redirect URI (never sent there), else a redirect with
    `error`."""
    params = {k: query.get(k, "") for k in ("response_type", "client_id", "redirect_uri",
                                            "state", "code_challenge", "code_challenge_method")}
    if params["client_id"] != issuer.config.audience or not issuer.redirect_allowed(
            params["redirect_uri"]):
        raise web.HTTPBadRequest(
            text="unknown client_id, or a redirect_uri this development AAI is not configured "
                 "for (DevIssuerConfig.redirect_uris)")
    refusal = None
    if params["response_type"] != "code":
        refusal = ("unsupported_response_type", "only response_type=code")
    elif params["code_challenge_method"] != "S256" or not params["code_challenge"]:
        refusal = ("invalid_request",
                   "PKCE is required: code_challenge with code_challenge_method=S256")
    if refusal is not None:
        raise web.HTTPFound(_back(params, error=refusal[0], error_description=refusal[1]))
    return params


def _back(params: dict[str, str], **answer: str) -> str:
    """The redirect URI with the answer (and the request's state) in its query string."""
    answer = {**answer, **({"state": params["state"]} if params["state"] else {})}
    joiner = "&" if "?" in params["redirect_uri"] else "?"
    return params["redirect_uri"] + joiner + urlencode(answer)


def _page_origins(issuer: DevIssuer) -> Callable:
    """CORS for the web pages the AAI may send browsers back to: their scripts read
    discovery, exchange codes at /token (simple requests) and read userinfo with the token
    (after a preflight, answered here)."""
    origins = {_origin(uri) for uri in issuer.config.redirect_uris}

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin in origins:
            return web.Response(status=204, headers={
                "Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Max-Age": "600"})
        response = await handler(request)
        if origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response
    return middleware


def create_aai_app(issuer: DevIssuer,
                   body_timeout_seconds: float = BODY_TIMEOUT_SECONDS) -> web.Application:
    """The development AAI's OIDC endpoints, answering from `issuer`; a request's body must
    arrive within `body_timeout_seconds`."""
    base = issuer.config.issuer

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": base, "jwks_uri": f"{base}/jwks",
            "token_endpoint": issuer.config.token_endpoint or f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "authorization_endpoint": f"{base}/authorize",
            DEVELOPMENT_AAI_CLAIM: True,          # production nodes refuse to trust it
            "grant_types_supported": ["password", "client_credentials", "authorization_code"],
            "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", PASSPORT_SCOPE],
            "id_token_signing_alg_values_supported": ["RS256"]})

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [issuer.access_key.jwk()]})

    async def visa_jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [issuer.visa_key.jwk()]})

    async def authorize_page(request: web.Request) -> web.Response:
        params = _authorization_request(issuer, dict(request.query))
        return _login_page(issuer.config, params)

    async def authorize(request: web.Request) -> web.Response:
        form = await _form(request, body_timeout_seconds)
        if form is None:
            raise web.HTTPBadRequest(text="the body is not a form of UTF-8 text")
        params = _authorization_request(issuer, form)
        user = issuer.authenticate(form.get("username", ""), form.get("password", ""))
        if user is None:
            return _login_page(issuer.config, params, "Unknown user or wrong password.", 401)
        code = issuer.issue_code(user, params["client_id"], params["redirect_uri"],
                                 params["code_challenge"])
        raise web.HTTPFound(_back(params, code=code))

    async def token(request: web.Request) -> web.Response:
        form = await _form(request, body_timeout_seconds)
        if form is None:
            return _oauth_error(400, "invalid_request", "the body is not a form of UTF-8 text")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            try:
                user = issuer.redeem_code(form.get("code", ""), form.get("client_id", ""),
                                          form.get("redirect_uri", ""),
                                          form.get("code_verifier", ""))
            except CodeRefused as exc:
                return _oauth_error(400, "invalid_grant", str(exc))
            return _token_answer(user)
        if grant == "password":
            username, password = form.get("username", ""), form.get("password", "")
        elif grant == "client_credentials":
            username, password = form.get("client_id", ""), form.get("client_secret", "")
        else:
            return _oauth_error(400, "unsupported_grant_type", "use password, "
                                "client_credentials or authorization_code")
        user = issuer.authenticate(username, password)
        if user is None:
            return _oauth_error(401, "invalid_grant", "unknown user or wrong password")
        return _token_answer(user)

    def _token_answer(user: DevUser) -> web.Response:
        return web.json_response({"access_token": issuer.access_token(user),
                                  "token_type": "Bearer",
                                  "expires_in": issuer.config.token_seconds,
                                  "scope": f"openid {PASSPORT_SCOPE}"},
                                 headers={"Cache-Control": "no-store"})

    async def userinfo(request: web.Request) -> web.Response:
        try:
            bearer = bearer_token(request.headers.get("Authorization"))
        except InvalidToken:
            bearer = None
        user = issuer.user_of(bearer) if bearer is not None else None
        if user is None:
            return _oauth_error(401, "invalid_token", "not a token of this issuer")
        return web.json_response({"sub": user.name, PASSPORT_SCOPE: issuer.visas(user)})

    app = web.Application(middlewares=[_page_origins(issuer), _unread_bodies])
    app.add_routes([web.get("/.well-known/openid-configuration", discovery),
                    web.get("/jwks", jwks), web.get("/visa-jwks", visa_jwks),
                    web.get("/authorize", authorize_page), web.post("/authorize", authorize),
                    web.post("/token", token), web.get("/userinfo", userinfo)])
    return app
