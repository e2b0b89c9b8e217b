"""`python -m node.cli`: the same as `gdi-node`, under that name in help and completion (the
benchmarks and tests start it this way)."""
from node.cli import main

main(prog_name="gdi-node")
