"""Which RDF serialisation a FAIR Data Point client gets: `?format=` first, then `Accept` with
q-values (RFC 9110 §12.5.1: the most specific matching range decides a type's weight).
Turtle wins ties and answers `*/*` or no Accept at all, as the GDI portal's harvester and the
FDP reference expect."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RdfFormat:
    media_type: str
    rdflib_name: str
    short_name: str


TURTLE = RdfFormat("text/turtle", "turtle", "ttl")
JSON_LD = RdfFormat("application/ld+json", "json-ld", "jsonld")
# What DCAT-AP harvesters ask first (data.europa.eu's "DCAT-AP" source, CKAN's dcat
# harvester's default), and the FAIR Data Point reference serves: a node they harvested got
# a 406 for `Accept: application/rdf+xml`.
RDF_XML = RdfFormat("application/rdf+xml", "xml", "rdf")
FORMATS: tuple[RdfFormat, ...] = (TURTLE, JSON_LD, RDF_XML)   # preference order on ties


class NegotiationError(ValueError):
    """The request names a format the server cannot produce; `status` says how to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def choose(format_param: str | None, accept: str | None) -> RdfFormat:
    if format_param is not None:
        for rdf_format in FORMATS:
            if format_param == rdf_format.short_name:
                return rdf_format
        raise NegotiationError(400, f"format={format_param!r}: expected one of "
                                    f"{', '.join(f.short_name for f in FORMATS)}")
    if accept is None or not accept.strip():
        return TURTLE
    ranges = _parse(accept)
    best, best_q = None, 0.0
    for rdf_format in FORMATS:
        q = _weight(rdf_format.media_type, ranges)
        if q > best_q:
            best, best_q = rdf_format, q
    if best is None:
        raise NegotiationError(406, f"cannot produce {accept!r}; available: "
                                    f"{', '.join(f.media_type for f in FORMATS)}")
    return best


def _parse(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for item in accept.split(","):
        media_range, *params = (part.strip() for part in item.split(";"))
        if not media_range:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((media_range.lower(), q))
    return ranges


def _weight(media_type: str, ranges: list[tuple[str, float]]) -> float:
    """q of the most specific range matching media_type (exact > type/* > */*)."""
    main = media_type.split("/")[0]
    for candidate in (media_type, f"{main}/*", "*/*"):
        matching = [q for media_range, q in ranges if media_range == candidate]
        if matching:
            return max(matching)
    return 0.0
