"""The GDI SHACL shapes from ../shared/gdi-metadata/shapes, loaded once, and a validation
helper for tests of any FAIR Data Point (node or catalogue service)."""
from __future__ import annotations

from functools import cache

import pytest
from pyshacl import validate
from rdflib import Graph

from tests.conftest import ROOT

SHAPES = ROOT.parent / "shared" / "gdi-metadata" / "shapes"
# Some shape files use prefixes they do not declare (Identifier.ttl: foaf); declared here
# first, a file's own declarations still win.
_SHAPE_PREFIXES = "@prefix foaf: <http://xmlns.com/foaf/0.1/> .\n"


@cache
def gdi_shapes() -> Graph:
    if not SHAPES.is_dir() or not list(SHAPES.glob("*.ttl")):
        pytest.fail(f"GDI SHACL shapes not found at {SHAPES} (expected ../shared/gdi-metadata)")
    graph = Graph()
    for path in sorted(SHAPES.glob("*.ttl")):
        graph.parse(data=_SHAPE_PREFIXES + path.read_text(encoding="utf-8"), format="turtle")
    return graph


def shacl_violations(graph: Graph) -> str:
    """'' when the graph conforms to the GDI shapes, else pySHACL's report."""
    conforms, _, text = validate(graph, shacl_graph=gdi_shapes())
    return "" if conforms else text
