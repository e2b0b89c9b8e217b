"""The `gdi-node` console script's entry point, which imports the CLI only when called.

multiprocessing's spawn start method re-runs the parent's main script in every child, as
`__mp_main__`, without calling it. The console script imports its entry point's module at its
top, so an entry point in node.cli made each ingest worker import the whole CLI (settings,
pydantic, aiohttp: about half a second per worker) before reading a single record; here the
child imports this module alone. `python -m node.cli` never had the cost: spawn does not
re-run a package's `__main__`.
"""
from __future__ import annotations


def main() -> None:
    from node.cli import main as cli

    cli()
