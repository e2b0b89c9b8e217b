"""The GDI SHACL shapes (shapes/ of $GDI_METADATA or ../shared/gdi-metadata; tests needing
them skip without, tests/beacon_schemas.py), loaded once, and a validation helper for tests of
any FAIR Data Point (node or catalogue service)."""
from __future__ import annotations

from functools import cache

from pyshacl import validate
from rdflib import Graph

from tests.beacon_schemas import GDI_METADATA

# Some shape files use prefixes they do not declare (Identifier.ttl: foaf); declared here
# first, a file's own declarations still win.
_SHAPE_PREFIXES = "@prefix foaf: <http://xmlns.com/foaf/0.1/> .\n"


@cache
def gdi_shapes() -> Graph:
    shapes = GDI_METADATA.folder() / "shapes"
    graph = Graph()
    for path in sorted(shapes.glob("*.ttl")):
        graph.parse(data=_SHAPE_PREFIXES + path.read_text(encoding="utf-8"), format="turtle")
    return graph


def shacl_violations(graph: Graph) -> str:
    """'' when the graph conforms to the GDI shapes, else pySHACL's report."""
    conforms, _, text = validate(graph, shacl_graph=gdi_shapes())
    return "" if conforms else text
