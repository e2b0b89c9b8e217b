"""`gdi-node catalogue …`: run the catalogue service, publish this node to it, search it.

`serve`, `harvest` and `retire` read the catalogue's settings (GDI_CATALOGUE_*); `publish` reads the
node's (catalogue_url, catalogue_token). Heavy imports wait until a command needs them.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from catalogue.record import AccessRights
from node.cli.common import (
    HTTP_URL,
    PORT,
    SERVICE_SECONDS,
    configure_logs,
    connection,
    fail,
    json_answer,
    listen,
    run,
    run_against,
    settings_of,
)
from node.cli.common import serve as serve_app
from node.settings import CatalogueSettings, configuration_error
from node.urls import without_trailing_slash

if TYPE_CHECKING:
    from node.publication.push import Published
    from node.settings import Settings

CATALOGUE_DATABASE = "GDI_CATALOGUE_DATABASE_URL"


def _catalogue_settings(**overrides: Any) -> CatalogueSettings:
    try:
        settings = CatalogueSettings()
    except (FileNotFoundError, ValueError) as exc:      # pydantic's ValidationError included
        fail(f"invalid catalogue configuration: {configuration_error(exc)}", 2)
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})


@click.group()
def catalogue() -> None:
    """The federation's dataset catalogue service, and this node's publishing to it."""


@catalogue.command("serve")
@click.option("--host", help="Address to listen on (default: GDI_CATALOGUE_HOST, else 127.0.0.1).")
@click.option("--port", type=PORT, help="Port to listen on (default: GDI_CATALOGUE_PORT, else 5060).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the catalogue service (configured by GDI_CATALOGUE_* / GDI_CATALOGUE_CONFIG)."""
    from node.catalogue_app import create_app
    from node.production import catalogue_refusals, refuse
    settings = _catalogue_settings(host=host, port=port)
    configure_logs(ctx, settings, server=True)
    if refuse(catalogue_refusals(settings)):
        fail("the catalogue does not start: a production rule is broken (logged above)", 2)
    listener = listen(settings.host, settings.port, "catalogue serve", "set GDI_CATALOGUE_PORT")
    serve_app(create_app(settings), "catalogue", listener, settings.base_url,
              settings.event_loop, CATALOGUE_DATABASE)


@catalogue.command("publish")
@click.pass_context
def publish_cmd(ctx: click.Context) -> None:
    """Register this node and push its datasets to GDI_NODE_CATALOGUE_URL now."""
    from node.publication.push import PublishError
    settings = settings_of(ctx)
    missing = [name for name, value in (("GDI_NODE_CATALOGUE_URL", settings.catalogue_url),
                                        ("GDI_NODE_CATALOGUE_TOKEN", settings.catalogue_token))
               if not value]
    if missing:
        fail(f"no catalogue to publish to: set {' and '.join(missing)}", 2)
    try:
        published = run(_publish(settings))
    except PublishError as exc:
        fail(f"publishing to {settings.catalogue_url} failed: {exc}")
    click.echo(f"published {len(published.upserted)} datasets to {settings.catalogue_url}"
               + (f"; withdrawn: {', '.join(published.withdrawn)}" if published.withdrawn
                  else ""))


async def _publish(settings: Settings) -> Published:
    import aiohttp

    from beacon.store import list_datasets
    from node.publication.push import publish
    from node.publication.records import records_for
    async with connection(settings) as conn:
        rows = await list_datasets(conn)
    async with aiohttp.ClientSession() as session:
        return await publish(session, settings, records_for(rows, settings))


@catalogue.command("search")
@click.argument("text", required=False, default="")
@click.option("--url", type=HTTP_URL, help="Catalogue service (default: GDI_NODE_CATALOGUE_URL "
                                           "or http://127.0.0.1:5060).")
@click.option("--country", help="ISO 3166-1 alpha-2 code, e.g. FI.")
@click.option("--access-rights", type=click.Choice([r.value for r in AccessRights],
                                                   case_sensitive=False))
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@click.pass_context
def search(ctx: click.Context, text: str, url: str | None, country: str | None,
           access_rights: str | None, limit: int, as_json: bool) -> None:
    """Find datasets in the catalogue by free TEXT and filters."""
    base = without_trailing_slash(url or settings_of(ctx).catalogue_url
                                  or "http://127.0.0.1:5060")
    params = {"q": text, "country": country and country.upper(),
              "accessRights": access_rights and access_rights.upper(), "limit": str(limit)}
    answer = run_against(base, _search(base, {k: v for k, v in params.items() if v}))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    from node.logs import shown
    click.echo(f"{answer['total']} datasets")
    for d in answer["datasets"]:
        # Any node's text: a line break in a title forged a row, and its escape sequences
        # reached the operator's terminal as they came
        click.echo(shown(f"{d['identifier']!s:<20} {d.get('country') or '--'!s:<3} "
                         f"{d['accessRights']!s:<11} {d['nodeId']!s:<24} {d['title']}"))


def _listing(answer: dict) -> bool:
    """Whether a search's answer holds the datasets the listing prints: another service at
    the URL, or a broken one, made it a KeyError or TypeError traceback."""
    datasets = answer["datasets"]
    return isinstance(datasets, list) and all(
        isinstance(d, dict) and {"identifier", "accessRights", "nodeId", "title"} <= d.keys()
        for d in datasets)


async def _search(base: str, params: dict[str, str]) -> dict:
    import aiohttp
    async with aiohttp.ClientSession() as session, session.get(
            f"{base}/api/datasets", params=params,
            timeout=aiohttp.ClientTimeout(total=SERVICE_SECONDS)) as response:
        answer = await json_answer(response, "total", "datasets")
        if response.status == 200 and not _listing(answer):
            fail(f"{base}/api/datasets answered without the datasets expected: is it the "
                 "catalogue service?")
        if response.status != 200:
            error = answer.get("error")
            fail(f"{base}: HTTP {response.status}: "
                 f"{error.get('message', error) if isinstance(error, dict) else answer}")
        return answer


@catalogue.command("harvest")
@click.pass_context
def harvest_cmd(ctx: click.Context) -> None:
    """Harvest every registered node's FAIR Data Point once, and print what changed; exit 1
    when a node's harvest failed (each is printed first)."""
    settings = _catalogue_settings()
    from node.logs import shown
    configure_logs(ctx, settings, server=False)
    outcomes = run(_harvest(settings), CATALOGUE_DATABASE)
    for outcome in outcomes:
        click.echo(outcome.summary(shown))
    # A failed node was printed FAILED with exit 0: a scheduled run (`… || alert`) could
    # not tell that a node went unharvested
    failed = [o.node_id for o in outcomes if not o.healthy]
    if failed:
        fail(f"the harvest of {len(failed)} of {len(outcomes)} nodes failed: "
             f"{', '.join(failed)}")


async def _harvest(settings: CatalogueSettings) -> list:
    """As the service harvests: the nodes this configuration no longer admits retired first,
    so that they are not harvested."""
    from catalogue.harvest import harvest_all, harvest_session
    from catalogue.holdings import expel_unadmitted
    from node.catalogue_app import catalogue_pool
    async with (catalogue_pool(settings) as pool,
                harvest_session() as session):
        await expel_unadmitted(pool, settings.nodes)
        return await harvest_all(pool, session, settings.harvest_config())


@catalogue.command("retire")
@click.argument("node_id")
@click.pass_context
def retire_cmd(ctx: click.Context, node_id: str) -> None:
    """Remove NODE_ID from the registry now and withdraw its datasets (GDI_CATALOGUE_*).

    A running catalogue stops listing, harvesting and offering it at once. Remove its
    credential too (GDI_CATALOGUE_NODES): with one, the node registers again on its next push.
    """
    settings = _catalogue_settings()
    configure_logs(ctx, settings, server=False)
    retired = run(_retire(settings, node_id), CATALOGUE_DATABASE)
    if node_id not in retired:
        fail(f"node {node_id} is not in the registry (never registered, or retired already)")
    click.echo(f"retired {node_id}; withdrawn: {', '.join(retired[node_id]) or 'none'}")
    if any(c.id == node_id for c in settings.nodes):
        click.echo(f"note: node {node_id} still has a credential in GDI_CATALOGUE_NODES; it "
                   "registers again on its next push until that is removed", err=True)


async def _retire(settings: CatalogueSettings, node_id: str) -> dict[str, list[str]]:
    from catalogue import store
    from node.catalogue_app import catalogue_pool
    async with catalogue_pool(settings) as pool:
        return await store.retire_nodes(pool, [node_id])
