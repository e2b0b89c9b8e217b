"""HTTP layer of the development AAI (auth/dev_issuer.py): OIDC discovery, the JWKS of its
access-token and visa keys, the token endpoint and userinfo with GA4GH Passport visas.
Development only: it hands out tokens for configured users and passwords."""
from __future__ import annotations

from aiohttp import web

from auth.dev_issuer import DevIssuer
from auth.passport import PASSPORT_SCOPE
from auth.tokens import InvalidToken, bearer_token
from node.production import DEVELOPMENT_AAI_CLAIM


def _oauth_error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


def create_aai_app(issuer: DevIssuer) -> web.Application:
    """The development AAI's OIDC endpoints, answering from `issuer`."""
    base = issuer.config.issuer

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": base, "jwks_uri": f"{base}/jwks", "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            DEVELOPMENT_AAI_CLAIM: True,          # production nodes refuse to trust it
            "grant_types_supported": ["password", "client_credentials"],
            "scopes_supported": ["openid", PASSPORT_SCOPE],
            "id_token_signing_alg_values_supported": ["RS256"]})

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [issuer.access_key.jwk()]})

    async def visa_jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [issuer.visa_key.jwk()]})

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        grant = form.get("grant_type")
        if grant == "password":
            username, password = str(form.get("username", "")), str(form.get("password", ""))
        elif grant == "client_credentials":
            username = str(form.get("client_id", ""))
            password = str(form.get("client_secret", ""))
        else:
            return _oauth_error(400, "unsupported_grant_type", "use password or "
                                                               "client_credentials")
        user = issuer.authenticate(username, password)
        if user is None:
            return _oauth_error(401, "invalid_grant", "unknown user or wrong password")
        return web.json_response({"access_token": issuer.access_token(user),
                                  "token_type": "Bearer",
                                  "expires_in": issuer.config.token_seconds,
                                  "scope": f"openid {PASSPORT_SCOPE}"})

    async def userinfo(request: web.Request) -> web.Response:
        try:
            bearer = bearer_token(request.headers.get("Authorization"))
        except InvalidToken:
            bearer = None
        user = issuer.user_of(bearer) if bearer is not None else None
        if user is None:
            return _oauth_error(401, "invalid_token", "not a token of this issuer")
        return web.json_response({"sub": user.name, PASSPORT_SCOPE: issuer.visas(user)})

    app = web.Application()
    app.add_routes([web.get("/.well-known/openid-configuration", discovery),
                    web.get("/jwks", jwks), web.get("/visa-jwks", visa_jwks),
                    web.post("/token", token), web.get("/userinfo", userinfo)])
    return app
