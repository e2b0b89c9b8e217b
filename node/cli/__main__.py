"""`python -m node.cli`: the same as `gdi-node` (the benchmarks start servers this way)."""
from node.cli import main

main()
