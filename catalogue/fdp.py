"""A FAIR Data Point's documents: where one is served (FDP_PATH, the resource kinds below it)
and each resource of a site rendered in the serialisation a client chose, with the validator
and date HTTP caching needs. The node and the catalogue service serve these alike
(node/http/fdp.py); no HTTP here."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from rdflib import Graph, URIRef

from catalogue.negotiation import RdfFormat
from catalogue.rdf import PREFIXES, FdpSite, resource_graph, resource_modified

FDP_PATH = "/fdp"                # where node and catalogue serve their FAIR Data Point
KINDS = ("catalog", "dataset", "distribution", "service")
JSON_LD_CONTEXT = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()}


@dataclass(frozen=True)
class Document:
    body: bytes
    etag: str                    # a strong validator: a hash of the body
    last_modified: str | None    # the Last-Modified header's value


def render(site: FdpSite, path: str, rdf_format: RdfFormat) -> Document | None:
    """The resource at `path` below the site's root ("" for the root); None if there is none."""
    graph = resource_graph(site, path)
    if graph is None:
        return None
    context = ({"context": _context_for(graph)} if rdf_format.rdflib_name == "json-ld"
               else {})
    body = graph.serialize(format=rdf_format.rdflib_name, encoding="utf-8", **context)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Document(body, etag, http_date(resource_modified(site, path)))


def _context_for(graph: Graph) -> dict[str, str]:
    """The JSON-LD context without the prefixes an IRI of the graph continues with `//`:
    rdflib wrote `http://www.w3.org/ns/dcat#//x` as `dcat://x`, which JSON-LD reads as the
    absolute IRI `dcat://x` (a compact IRI's suffix may not start with `//`), so the
    JSON-LD and the Turtle of one document stated different IRIs (found by a review,
    2026-12-05). Without the prefix such an IRI, and the prefix's terms, are written whole."""
    iris = {str(term) for triple in graph for term in triple if isinstance(term, URIRef)}
    return {prefix: namespace for prefix, namespace in JSON_LD_CONTEXT.items()
            if not any(iri.startswith(namespace + "//") for iri in iris)}


def http_date(moment: datetime | None) -> str | None:
    """`moment` as an HTTP date, rounded up to the next whole second (a client must not take
    a change within the second it last fetched for none). None for no moment, or for one
    an HTTP date cannot write (after 9999-12-31T23:59:59Z once rounded up): aiohttp, given
    such a date, raised while the answer was being made, and the document was a 500."""
    if moment is None:
        return None
    try:
        rounded = moment.astimezone(UTC).replace(microsecond=0)
        if moment.microsecond:
            rounded += timedelta(seconds=1)
    except OverflowError:
        return None
    return format_datetime(rounded, usegmt=True)
