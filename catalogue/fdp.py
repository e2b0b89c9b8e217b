"""A FAIR Data Point's documents: where one is served (FDP_PATH, the resource kinds below it)
and each resource of a site rendered in the serialisation a client chose, with the validator
and date HTTP caching needs. The node and the catalogue service serve these alike
(node/http/fdp.py); no HTTP here."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from rdflib import Graph, Literal, URIRef

from catalogue.negotiation import RdfFormat
from catalogue.rdf import PREFIXES, FdpSite, resource_graph, resource_modified

FDP_PATH = "/fdp"                # where node and catalogue serve their FAIR Data Point
KINDS = ("catalog", "dataset", "distribution", "service")
JSON_LD_CONTEXT = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Document:
    body: bytes
    etag: str                    # a strong validator: a hash of the body
    last_modified: str | None    # the Last-Modified header's value


def render(site: FdpSite, path: str, rdf_format: RdfFormat) -> Document | None:
    """The resource at `path` below the site's root ("" for the root); None if there is none.
    The root and the catalogs, which list every dataset, are rendered once per site (which
    the node and the catalogue keep until their datasets change) and serialisation: each
    request rendered them again, 0.2 s of the event loop for a catalog of 2,000 datasets, so
    a few clients asking for it over and over held up every other request (found by a
    review, 2026-12-06). A dataset's documents are small and many, and are not kept."""
    kept = path == "" or path.startswith("catalog/")
    if kept and isinstance(found := site.rendered.get((path, rdf_format.media_type)), Document):
        return found
    document = _render(site, path, rdf_format)
    if kept and document is not None:
        site.rendered[(path, rdf_format.media_type)] = document
    return document


def _render(site: FdpSite, path: str, rdf_format: RdfFormat) -> Document | None:
    graph = resource_graph(site, path)
    if graph is None:
        return None
    context = ({"context": _context_for(graph)} if rdf_format.rdflib_name == "json-ld"
               else {})
    if rdf_format.rdflib_name == "xml":
        graph = _xml_writable(graph)
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


def _xml_writable(graph: Graph) -> Graph:
    """`graph` with each character XML 1.0 cannot hold in a literal (the C0 controls but TAB,
    LF and CR; U+FFFE, U+FFFF) as U+FFFD. A record's text may hold them (a vertical tab
    pasted from a word processor: Turtle and JSON-LD escape it), and rdflib wrote them as
    they are, a document no XML parser reads."""
    if not any(isinstance(o, Literal) and _NOT_XML.search(o) for o in graph.objects()):
        return graph
    writable = Graph()
    for prefix, namespace in graph.namespaces():
        writable.bind(prefix, namespace)
    for s, p, o in graph:
        if isinstance(o, Literal) and _NOT_XML.search(o):
            o = Literal(_NOT_XML.sub("\ufffd", o), lang=o.language, datatype=o.datatype)
        writable.add((s, p, o))
    return writable


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
