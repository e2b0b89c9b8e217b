"""`gdi-node`: the one command operators and scripts use, one command group per role — the
node's own commands (beacon_node.py), `db`, `catalogue`, `aai` and `audit` — sharing their
helpers through node/cli/common.py. Heavy imports wait until a command needs them.

Shell completion is click's: `eval "$(_GDI_NODE_COMPLETE=bash_source gdi-node)"` (zsh_source,
fish_source for those shells)."""
from __future__ import annotations

import gc
import os

import click
from click.core import ParameterSource

from node.cli.aai import aai
from node.cli.audit import audit
from node.cli.beacon_node import datasets, ingest_cmd, remove, serve, synth
from node.cli.catalogue import catalogue
from node.cli.common import HELP_ASKED, configure_logs, fail
from node.cli.db import db
from node.settings import (
    CATALOGUE_CONFIG_ENV,
    CONFIG_ENV,
    Settings,
    configuration_error,
)


class _Commands(click.Group):
    """The main group, noting whether a command's help is asked (`HELP_ASKED`): the group
    reads the settings before the command parses its own `--help`, so with one setting
    wrong, `gdi-node serve --help` said "invalid configuration" and showed no help, the
    one thing an operator mending the setting may want."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[HELP_ASKED] = any(a in self.get_help_option_names(ctx) for a in args)
        return super().parse_args(ctx, args)


@click.group(cls=_Commands)
@click.version_option(package_name="gdi-node", prog_name="gdi-node")
@click.option("--config", type=click.Path(dir_okay=False), envvar=CONFIG_ENV,
              help=f"The node's TOML configuration file (also ${CONFIG_ENV}); the "
                   f"catalogue service's is ${CATALOGUE_CONFIG_ENV}.")
@click.option("-v", "--verbose", "verbosity", count=True,
              help="Log what the command does (INFO); -vv: everything (DEBUG).")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbosity: int) -> None:
    """GDI federated discovery node: GA4GH Beacon v2 over VCFs in PostgreSQL."""
    if config:
        os.environ[CONFIG_ENV] = config
    try:
        settings = Settings()
    except (FileNotFoundError, ValueError) as exc:      # pydantic's ValidationError included
        refusal = f"invalid configuration: {configuration_error(exc)}"
        if ctx.get_parameter_source("config") is ParameterSource.COMMANDLINE:
            # the file named as the operator named it, not as the variable it is passed by
            refusal = refusal.replace(f"{CONFIG_ENV}={config}", f"--config {config}")
        if not ctx.meta.get(HELP_ASKED):
            fail(refusal, 2)
        # the command shows its help and ends; were it to run after all (`--help` the value
        # of one of its options), settings_of refuses it as above
        ctx.obj = {"settings": None, "refusal": refusal, "verbosity": verbosity}
        return
    ctx.obj = {"settings": settings, "verbosity": verbosity}
    configure_logs(ctx, settings, server=False)
    # What a finished command leaves is freed by the operating system at exit; without this,
    # the interpreter's last collections walk every object first: 25-50 ms of every command
    # here, 1% of a million-record ingest (docs/benchmarks.md).
    ctx.call_on_close(gc.freeze)


for command in (serve, ingest_cmd, synth, datasets, remove, aai, db, catalogue, audit):
    main.add_command(command)
