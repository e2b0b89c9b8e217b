"""`gdi-node aai …`: the development AAI (OIDC + GA4GH Passports) and its tokens, for tests,
demos and the compose stack. Not for production."""
from __future__ import annotations

import json
from pathlib import Path

import click

from node.cli.common import (
    HTTP_URL,
    PORT,
    SERVICE_SECONDS,
    configure_logs,
    fail,
    json_answer,
    listen,
    run_against,
    serve,
    settings_of,
)
from node.urls import http_root


@click.group()
def aai() -> None:
    """Development AAI (OIDC + GA4GH Passports) for tests, demos and compose. Not for production."""


@aai.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=5080, show_default=True)
@click.option("--issuer", type=HTTP_URL, help="Public URL of the AAI (default http://HOST:PORT).")
@click.option("--users", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON config with users, passwords and visas (default: alice, bob, carol).")
@click.option("--key-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep signing keys here across restarts (default: new keys each start).")
@click.pass_context
def aai_serve(ctx: click.Context, host: str, port: int, issuer: str | None,
              users: Path | None, key_dir: Path | None) -> None:
    """Run the development AAI (never with GDI_NODE_ENVIRONMENT=prod)."""
    from auth.dev_issuer import DevIssuer, load_config, trusted_issuer_entry
    from node.http.aai_api import create_aai_app
    from node.production import aai_refusals, refuse
    configure_logs(ctx, settings_of(ctx), server=True)
    if refuse(aai_refusals(settings_of(ctx))):
        fail("the development AAI does not start: a production rule is broken (logged above)",
             2)
    try:
        config = load_config(users, issuer or http_root(host, port))
        dev = DevIssuer(config, key_dir)
    except ValueError as exc:
        fail(str(exc), 2)
    listener = listen(host, port, "aai serve", "pass --port")
    click.echo("trust it from a node with GDI_NODE_TRUSTED_ISSUERS='"
               + json.dumps([trusted_issuer_entry(config.issuer, config.audience)]) + "'",
               err=True)
    serve(create_aai_app(dev), "development AAI", listener, config.issuer,
          settings_of(ctx).event_loop)


@aai.command("token")
@click.option("--user", required=True, help="A user of the development AAI.")
@click.option("--password", help="Default: the user name (the built-in demo users).")
@click.option("--url", type=HTTP_URL, default="http://127.0.0.1:5080", show_default=True,
              help="The development AAI.")
def aai_token(user: str, password: str | None, url: str) -> None:
    """Print an access token for USER (for scripts: TOKEN=$(gdi-node aai token --user carol))."""
    click.echo(run_against(url, _fetch_token(url, user, password or user)))


async def _fetch_token(url: str, user: str, password: str) -> str:
    import aiohttp
    form = {"grant_type": "password", "username": user, "password": password}
    timeout = aiohttp.ClientTimeout(total=SERVICE_SECONDS)
    async with (aiohttp.ClientSession(timeout=timeout) as session,
                session.post(f"{url}/token", data=form) as response):
        body = await json_answer(response, "access_token")
        if response.status != 200:
            fail(f"{url}/token refused: {body.get('error_description', response.status)}")
        return str(body["access_token"])
