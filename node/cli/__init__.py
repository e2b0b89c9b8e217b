"""`gdi-node`: the one command operators and scripts use, one command group per role — the
node's own commands (beacon_node.py), `db`, `catalogue`, `aai` and `audit` — sharing their
helpers through node/cli/common.py. Heavy imports wait until a command needs them."""
from __future__ import annotations

import os

import click

from node.cli.aai import aai
from node.cli.audit import audit
from node.cli.beacon_node import datasets, ingest_cmd, remove, serve, synth
from node.cli.catalogue import catalogue
from node.cli.common import fail
from node.cli.db import db
from node.settings import CONFIG_ENV, Settings, configuration_error


@click.group()
@click.option("--config", type=click.Path(dir_okay=False), envvar=CONFIG_ENV,
              help=f"TOML configuration file (also ${CONFIG_ENV}).")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """GDI federated discovery node: GA4GH Beacon v2 over VCFs in PostgreSQL."""
    from node.logs import configure_logging
    if config:
        os.environ[CONFIG_ENV] = config
    try:
        settings = Settings()
    except (FileNotFoundError, ValueError) as exc:      # pydantic's ValidationError included
        fail(f"invalid configuration: {configuration_error(exc)}", 2)
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = {"settings": settings}


for command in (serve, ingest_cmd, synth, datasets, remove, aai, db, catalogue, audit):
    main.add_command(command)
