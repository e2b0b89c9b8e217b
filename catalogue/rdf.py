"""Catalogue records as DCAT-AP 3 / HealthDCAT-AP RDF (GDI profile), arranged as a FAIR Data
Point, and read back. Pure functions: no HTTP, no database.

Paths under a site's base URL (every subject IRI is built from it, so an IRI is the URL it is
fetched from, byte for byte, as the GDI portal's harvester demands):

    ""                    fdp-o:FAIRDataPoint      ldp:contains / fdp-o:metadataCatalog catalogs
    catalog/{id}          dcat:Catalog             dcat:dataset, ldp:contains its datasets
    dataset/{id}          dcat:Dataset             ldp:contains / dcat:distribution
    distribution/{id}     dcat:Distribution        (one per dataset: its Beacon)
    service/{id}          dcat:DataService         the Beacon endpoint serving the dataset

The dataset document also describes its distribution, data service and assembly inline, so a
harvester can rebuild the whole CatalogueRecord from that one document (`read_dataset`).

Choices where DCAT-AP leaves room, read back by `read_dataset`:
- assembly: the distribution dct:conformsTo the assembly's INSDC accession IRI (a dct:Standard
  labelled "GRCh38"); the data's coordinates conform to that reference.
- a record rendered on another site than its node (the catalogue service): the subject is the
  rendering site's IRI and `dct:source` names the record's own node IRI. A node's own document
  is the record's IRI whatever its dct:source says (DCAT's dataset it was derived from).
- country: dct:spatial with the EU country authority IRI (ISO alpha-3).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cached_property
from urllib.parse import quote

from pydantic import ValidationError
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, XSD
from rdflib.term import Node

from catalogue.record import (
    ENGLISH,
    AccessRights,
    Agent,
    CatalogueRecord,
    ContactPoint,
    problems_of,
)
from catalogue.vocabulary import ASSEMBLIES, EHDS_REGULATION, country_code, country_iri

FDP_O = Namespace("https://w3id.org/fdp/fdp-o#")
LDP = Namespace("http://www.w3.org/ns/ldp#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
HEALTHDCATAP = Namespace("http://healthdataportal.eu/ns/health#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
BEACON_V2 = URIRef("https://github.com/ga4gh-beacon/beacon-v2")
PREFIXES = {"dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "vcard": VCARD, "dcatap": DCATAP,
            "healthdcatap": HEALTHDCATAP, "fdp-o": FDP_O, "ldp": LDP, "xsd": XSD, "rdfs": RDFS}


class RdfError(ValueError):
    """A resource typed dcat:Dataset that cannot be read as a record; says what is wrong."""


@dataclass(frozen=True)
class CatalogView:
    """One dcat:Catalog: a node's datasets on its own FDP, or one node's in the catalogue's."""

    id: str
    title: str
    description: str
    publisher: Agent
    records: tuple[CatalogueRecord, ...]
    # When the catalog last changed as its records' `modified` cannot say: a removal (a
    # node's), or any change of what the catalogue holds of the node (catalogue/site.py).
    # Without it the catalog's date went back when the newest dataset was removed, and
    # stayed when a dataset older than the newest shown was added
    changed: datetime | None = None

    @cached_property
    def modified(self) -> datetime | None:
        """Its latest record's `modified`, or its last change if later (None: neither)."""
        return _latest(self.records, [self.changed])


@dataclass(frozen=True)
class FdpSite:
    """One FAIR Data Point; base_url has no trailing slash and is the root's IRI."""

    base_url: str
    title: str
    description: str
    publisher: Agent
    catalogs: tuple[CatalogView, ...]
    changed: datetime | None = None       # the last change, of a catalog no longer shown too
    # When each document's content (by path) last changed with no newer date of its data to
    # say so (catalogue/document_dates.py): a change of what the publisher's settings put in
    # it (its base URL, names, counts' rounding). Its date is that when later; without it,
    # such a change left every date as it was, and a harvester reading by date kept the old
    contents_changed: Mapping[str, datetime] = field(default_factory=dict)

    @cached_property
    def modified(self) -> datetime | None:
        """The root's date from its data: its latest catalog's, or its last removal if
        later (`dates` adds the changes of the documents' contents)."""
        return max([d for d in (self.changed, *(c.modified for c in self.catalogs))
                    if d is not None], default=None)

    @cached_property
    def dates(self) -> dict[str, datetime | None]:
        """Each document's date, by path: its data's (a record's `modified`, a catalog's or
        the root's), or its content's last change if later; a catalog's is never before its
        datasets', nor the root's before its catalogs'. Once per site (kept between
        requests), for both the documents' dates and their Last-Modified."""
        changed = self.contents_changed
        dates: dict[str, datetime | None] = {}
        for path, (kind, item) in self.documents.items():
            if kind in _RECORD_KINDS:
                dates[path] = _latest_of(item.modified, changed.get(path))
        for catalog in self.catalogs:
            path = f"catalog/{quote(catalog.id, safe='')}"
            dates[path] = _latest_of(catalog.modified, changed.get(path), *(
                dates[f"dataset/{quote(r.identifier, safe='')}"] for r in catalog.records))
        dates[""] = _latest_of(self.modified, changed.get(""), *(
            dates[f"catalog/{quote(c.id, safe='')}"] for c in self.catalogs))
        return dates

    def records(self) -> list[CatalogueRecord]:
        """Its records, each `modified` as its dataset's document says (`dates`): what a
        harvest reads back, so a push of them states what a harvest of the site finds."""
        return [record.model_copy(update={"modified": self.dates[
                    f"dataset/{quote(record.identifier, safe='')}"]})
                for catalog in self.catalogs for record in catalog.records]

    @cached_property
    def rendered(self) -> dict[tuple[str, str], object]:
        """Documents already rendered from this site, by path and serialisation: filled and
        read by catalogue/fdp.py `render`, for as long as the site is kept."""
        return {}

    @cached_property
    def documents(self) -> dict[str, tuple[str, object]]:
        """Each document's path below base_url (percent-encoded, as in its IRI) and what it
        shows; built once per site, which the node and the catalogue keep between requests."""
        found: dict[str, tuple[str, object]] = {"": ("root", self)}
        for catalog in self.catalogs:
            found.setdefault(f"catalog/{quote(catalog.id, safe='')}", ("catalog", catalog))
            for record in catalog.records:
                key = quote(record.identifier, safe="")
                for kind in _RECORD_KINDS:
                    found.setdefault(f"{kind}/{key}", (kind, record))
        return found


def resource_iri(base_url: str, kind: str, key: str) -> str:
    return f"{base_url}/{kind}/{quote(key, safe='')}"


def dataset_iri(base_url: str, identifier: str) -> str:
    return resource_iri(base_url, "dataset", identifier)


def resource_graph(site: FdpSite, path: str) -> Graph | None:
    """The document at `path` (relative to base_url, percent-encoded as in the IRI);
    None when the site has no such resource."""
    return _document(site, path, dated=True)


def _document(site: FdpSite, path: str, *, dated: bool) -> Graph | None:
    """The document at `path`; without its date (`dct:modified`, the root's
    `fdp-o:metadataModified`) unless `dated`."""
    found = _find(site, path)
    if found is None:
        return None
    graph = _graph()
    kind, item = found
    modified = site.dates.get(path) if dated else None
    if kind == "root":
        _root(graph, site, modified)
    elif kind == "catalog":
        _catalog(graph, site, item, modified)
    elif kind == "dataset":
        _dataset(graph, site.base_url, item, modified)
    else:
        _DESCRIBE[kind](graph, site.base_url, item)
    return graph


def resource_modified(site: FdpSite, path: str) -> datetime | None:
    """The document's date (`FdpSite.dates`): the latest `modified` of the records it shows,
    its catalog's or site's last change (`changed`, a removal), or its content's, whichever
    is latest, so a harvester deciding by the date sees each of them (None: none)."""
    return site.dates.get(path) if _find(site, path) is not None else None


def content_digests(site: FdpSite, known: Mapping[tuple[str, str], bytes] | None = None
                    ) -> dict[str, tuple[tuple[str, str], bytes]]:
    """Each document's path, with what it is made of (`_made_of`) and a digest of its content
    but its date, which moves with its content (catalogue/document_dates.py). A document
    made of what `known` holds is not rendered again: 6,000 documents of 2,000 datasets
    took 2.5 s to render, on every reload of the datasets."""
    known = known or {}
    digests = {}
    for path, (kind, item) in site.documents.items():
        made_of = _made_of(site, kind, item)
        digest = known.get(made_of)
        if digest is None:
            graph = _document(site, path, dated=False)
            assert graph is not None
            lines = sorted(" ".join(term.n3() for term in triple) for triple in graph)
            digest = hashlib.sha256("\n".join(lines).encode()).digest()
        digests[path] = (made_of, digest)
    return digests


def _made_of(site: FdpSite, kind: str, item: object) -> tuple[str, str]:
    """Everything a document is rendered from but its date, as text (more than it shows,
    never less): two documents made of the same are the same document."""
    if isinstance(item, CatalogueRecord):
        return kind, f"{site.base_url}\n{item.model_dump_json(exclude={'modified'})}"
    if isinstance(item, CatalogView):
        return kind, "\n".join([site.base_url, item.id, item.title, item.description,
                                 item.publisher.model_dump_json(),
                                 *(r.identifier for r in item.records)])
    return kind, "\n".join([site.base_url, site.title, site.description,
                             site.publisher.model_dump_json(), *(c.id for c in site.catalogs)])


def _latest_of(*moments: datetime | None) -> datetime | None:
    return max([m for m in moments if m is not None], default=None)


def _latest(records: Iterable[CatalogueRecord],
            changes: Iterable[datetime | None]) -> datetime | None:
    return max([r.modified for r in records if r.modified is not None]
               + [c for c in changes if c is not None], default=None)


def contained(graph: Graph, fetched_url: str) -> list[str]:
    """The documents the one at `fetched_url` lists as its children: its own `ldp:contains`
    (as this FAIR Data Point writes them), those of an LDP container whose
    `ldp:membershipResource` it is, its `fdp-o:metadataCatalog` (a root's catalogs) and its
    `dcat:dataset` (a catalog's datasets). The FAIR Data Point reference implementation
    writes only the last three, its `ldp:contains` on a container such as `…/dataset/`,
    and the GDI portal's harvester follows them: read from the IRI alone, such a node
    showed no dataset, and a harvest withdrew every one it had pushed."""
    subject = URIRef(fetched_url)
    children = {*graph.objects(subject, LDP.contains),
                *graph.objects(subject, FDP_O.metadataCatalog),
                *graph.objects(subject, DCAT.dataset)}
    for container in graph.subjects(LDP.membershipResource, subject):
        children.update(graph.objects(container, LDP.contains))
    return sorted(str(o) for o in children if isinstance(o, URIRef))


def read_dataset(graph: Graph, fetched_url: str, *,
                 shown_elsewhere: bool = False) -> CatalogueRecord | None:
    """The record of the dcat:Dataset whose IRI is `fetched_url`; None if there is none.

    Its IRI is `fetched_url`, the node's document a harvest reads; `shown_elsewhere`: the
    document is another site's rendering of it (the catalogue's), whose `dct:source` names
    the record's IRI on its node. A node's dct:source is DCAT's "dataset from which the
    described dataset is derived" (a DOI): read as the record's IRI, it was refused as not
    under the node's FAIR Data Point, and the node's pushed dataset withdrawn."""
    subject = URIRef(fetched_url)
    if (subject, RDF.type, DCAT.Dataset) not in graph:
        return None
    reader = _Reader(graph, subject)
    distribution = reader.beacon_distribution()
    contact = reader.optional(DCAT.contactPoint)
    spatial = [country_code(str(o)) for o in graph.objects(subject, DCTERMS.spatial)]
    # read in the order the problems were always named in (the identifier's first)
    identifier = str(reader.one(DCTERMS.identifier))
    title, description = reader.text(DCTERMS.title), reader.text(DCTERMS.description)
    access_rights, keywords = reader.access_rights(), reader.keywords()
    try:
        return CatalogueRecord(
            identifier=identifier,
            iri=str(shown_elsewhere and reader.optional(DCTERMS.source) or subject),
            title=str(title), titleLanguage=_language(title),
            description=str(description), descriptionLanguage=_language(description),
            accessRights=access_rights,
            keywords=list(keywords), keywordLanguages={
                keyword: _language(value) for keyword, value in keywords.items()},
            themes=reader.iris(DCAT.theme),
            healthCategories=reader.iris(HEALTHDCATAP.healthCategory),
            applicableLegislation=reader.iris(DCATAP.applicableLegislation),
            publisher=reader.agent(DCTERMS.publisher), creator=reader.agent(DCTERMS.creator),
            contactPoint=reader.contact(contact) if contact is not None else None,
            country=next((c for c in spatial if c), None),
            assembly=reader.assembly(distribution),
            numberOfRecords=(None if (records := reader.optional(
                HEALTHDCATAP.numberOfRecords)) is None else records.toPython()),
            numberOfUniqueIndividuals=(None if (individuals := reader.optional(
                HEALTHDCATAP.numberOfUniqueIndividuals)) is None else individuals.toPython()),
            issued=reader.datetime(DCTERMS.issued), modified=reader.datetime(DCTERMS.modified),
            beaconUrl=reader.endpoint(distribution))
    except ValidationError as exc:
        raise RdfError(f"dataset <{fetched_url}>: {problems_of(exc)}") from None


def _find(site: FdpSite, path: str) -> tuple[str, object] | None:
    return site.documents.get(path)


def _graph() -> Graph:
    graph = Graph()
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace)
    return graph


def _text(value: str, language: str = ENGLISH) -> Literal:
    """A text in `language`, a BCP 47 tag ("": untagged). A node's own texts are English."""
    return Literal(value, lang=language or None)


def _agent(graph: Graph, role: str, agent: Agent, contact: Node | None = None) -> BNode:
    """Blank nodes get fixed labels (unique within a document) so that one document always
    serialises to the same bytes, and so to the same ETag."""
    node = BNode(role)
    graph.add((node, RDF.type, FOAF.Agent))
    graph.add((node, FOAF.name, _text(agent.name, agent.name_language)))
    if agent.identifier:
        graph.add((node, DCTERMS.identifier, Literal(agent.identifier)))
    if contact is not None:
        graph.add((node, DCAT.contactPoint, contact))
    return node


def _root(graph: Graph, site: FdpSite, modified: datetime | None) -> None:
    root = URIRef(site.base_url)
    graph.add((root, RDF.type, FDP_O.FAIRDataPoint))
    graph.add((root, RDF.type, FDP_O.MetadataService))
    graph.add((root, DCTERMS.title, _text(site.title)))
    graph.add((root, DCTERMS.description, _text(site.description)))
    graph.add((root, DCTERMS.publisher, _agent(graph, "publisher", site.publisher)))
    graph.add((root, FDP_O.metadataIdentifier, Literal(site.base_url)))
    for catalog in site.catalogs:
        iri = URIRef(resource_iri(site.base_url, "catalog", catalog.id))
        graph.add((root, LDP.contains, iri))
        graph.add((root, FDP_O.metadataCatalog, iri))
    if modified is not None:
        graph.add((root, FDP_O.metadataModified, Literal(modified, datatype=XSD.dateTime)))


def _catalog(graph: Graph, site: FdpSite, catalog: CatalogView,
             modified: datetime | None) -> None:
    subject = URIRef(resource_iri(site.base_url, "catalog", catalog.id))
    graph.add((subject, RDF.type, DCAT.Catalog))
    graph.add((subject, DCTERMS.title, _text(catalog.title)))
    graph.add((subject, DCTERMS.description, _text(catalog.description)))
    graph.add((subject, DCTERMS.publisher, _agent(graph, "publisher", catalog.publisher)))
    graph.add((subject, DCATAP.applicableLegislation, URIRef(EHDS_REGULATION)))
    graph.add((subject, DCTERMS.isPartOf, URIRef(site.base_url)))
    for record in catalog.records:
        dataset = URIRef(dataset_iri(site.base_url, record.identifier))
        graph.add((subject, DCAT.dataset, dataset))
        graph.add((subject, LDP.contains, dataset))
    if modified is not None:
        graph.add((subject, DCTERMS.modified, Literal(modified, datatype=XSD.dateTime)))


def _dataset(graph: Graph, base_url: str, record: CatalogueRecord,
             modified: datetime | None) -> None:
    """`modified`: the document's date (FdpSite.dates), the record's or later; None: none."""
    subject = URIRef(dataset_iri(base_url, record.identifier))
    distribution = URIRef(resource_iri(base_url, "distribution", record.identifier))
    add = graph.add
    add((subject, RDF.type, DCAT.Dataset))
    add((subject, DCTERMS.identifier, Literal(record.identifier, datatype=XSD.string)))
    if record.iri != str(subject):
        add((subject, DCTERMS.source, URIRef(record.iri)))
    add((subject, DCTERMS.title, _text(record.title, record.title_language)))
    add((subject, DCTERMS.description, _text(record.description,
                                             record.description_language)))
    add((subject, DCTERMS.accessRights, URIRef(record.access_rights.iri)))
    for predicate, iris in ((DCATAP.applicableLegislation, record.applicable_legislation),
                            (HEALTHDCATAP.healthCategory, record.health_categories),
                            (DCAT.theme, record.themes)):
        for iri in iris:
            add((subject, predicate, URIRef(iri)))
    for keyword in record.keywords:
        add((subject, DCAT.keyword, _text(keyword, record.keyword_language(keyword))))
    contact = _contact(graph, record.contact_point) if record.contact_point else None
    if contact is not None:
        add((subject, DCAT.contactPoint, contact))
    add((subject, DCTERMS.publisher, _agent(graph, "publisher", record.publisher, contact)))
    add((subject, DCTERMS.creator, _agent(graph, "creator", record.creator)))
    for predicate, when in ((DCTERMS.issued, record.issued),
                            (DCTERMS.modified, modified)):
        if when is not None:
            add((subject, predicate, Literal(when, datatype=XSD.dateTime)))
    for predicate, count in ((HEALTHDCATAP.numberOfRecords, record.number_of_records),
                             (HEALTHDCATAP.numberOfUniqueIndividuals,
                              record.number_of_unique_individuals)):
        if count is not None:
            add((subject, predicate, Literal(count, datatype=XSD.nonNegativeInteger)))
    if record.country:
        add((subject, DCTERMS.spatial, URIRef(country_iri(record.country))))
    add((subject, DCAT.distribution, distribution))
    add((subject, LDP.contains, distribution))
    _distribution(graph, base_url, record)


def _contact(graph: Graph, contact: ContactPoint) -> BNode:
    node = BNode("contact")
    graph.add((node, RDF.type, VCARD.Kind))
    graph.add((node, VCARD.fn, _text(contact.name, contact.name_language)))
    graph.add((node, VCARD.hasEmail, URIRef(f"mailto:{contact.email}")))
    return node


def _distribution(graph: Graph, base_url: str, record: CatalogueRecord) -> None:
    subject = URIRef(resource_iri(base_url, "distribution", record.identifier))
    service = URIRef(resource_iri(base_url, "service", record.identifier))
    assembly = URIRef(ASSEMBLIES[record.assembly])
    add = graph.add
    add((subject, RDF.type, DCAT.Distribution))
    add((subject, DCTERMS.title, _text(f"GA4GH Beacon v2 access to {record.title}")))
    add((subject, DCAT.accessURL, URIRef(f"{record.beacon_url}/datasets/"
                                          f"{quote(record.identifier, safe='')}")))
    for iri in record.applicable_legislation:
        add((subject, DCATAP.applicableLegislation, URIRef(iri)))
    add((subject, DCTERMS.conformsTo, assembly))
    add((assembly, RDF.type, DCTERMS.Standard))
    add((assembly, RDFS.label, Literal(record.assembly)))
    add((subject, DCAT.accessService, service))
    add((subject, LDP.contains, service))
    _service(graph, base_url, record)


def _service(graph: Graph, base_url: str, record: CatalogueRecord) -> None:
    subject = URIRef(resource_iri(base_url, "service", record.identifier))
    graph.add((subject, RDF.type, DCAT.DataService))
    graph.add((subject, DCTERMS.title, _text(f"GA4GH Beacon v2 serving {record.identifier}")))
    graph.add((subject, DCAT.endpointURL, URIRef(record.beacon_url)))
    graph.add((subject, DCTERMS.conformsTo, BEACON_V2))
    graph.add((subject, DCAT.servesDataset, URIRef(dataset_iri(base_url, record.identifier))))


_RECORD_KINDS = ("dataset", "distribution", "service")     # the documents of one record
_DESCRIBE = {"distribution": _distribution, "service": _service}     # a dataset's is dated


_OTHER_LANGUAGE = 3     # the rank of a text in neither English nor untagged
# DCAT-AP 3's dates beside xsd:date and xsd:dateTime (its DateOrDateTimeDataType): a year or a
# month, each with an optional zone. rdflib leaves both as text, and a node's dataset issued
# `"2023"^^xsd:gYear` was refused whole. Read as the period's first moment, as a date is.
_PERIODS = {XSD.gYear: re.compile(r"(-?\d{4,})(Z|[+-]\d\d:\d\d)?"),
            XSD.gYearMonth: re.compile(r"(-?\d{4,})-(\d\d)(Z|[+-]\d\d:\d\d)?")}


def _first_moment(value: Literal) -> datetime | None:
    """The first moment of an xsd:gYear or xsd:gYearMonth, in its zone (UTC when it names
    none); None when it is not one."""
    found = _PERIODS[value.datatype].fullmatch(str(value))
    if found is None:
        return None
    year, *month, zone = found.groups()
    offset = timedelta(0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        return datetime(int(year), int(month[0]) if month else 1, 1,
                        tzinfo=timezone(offset))
    except ValueError:                  # month 13, year 0 or beyond 9999, a zone past 24 h
        return None


def _language_rank(language: str | None) -> int:
    """How much a text in `language` is wanted: English, regional English, none, any other."""
    tag = (language or "").lower()
    return 0 if tag == ENGLISH else 1 if tag.startswith(ENGLISH + "-") else 2 if not tag else (
        _OTHER_LANGUAGE)


def _language(text: Literal) -> str:
    """A text's language tag as its node wrote it ("": none), which the record keeps."""
    return text.language or ""


class _Reader:
    """Reads one dataset's properties, naming the missing or invalid one when it fails."""

    def __init__(self, graph: Graph, subject: URIRef) -> None:
        self.graph = graph
        self.subject = subject

    def fail(self, what: str) -> RdfError:
        return RdfError(f"dataset <{self.subject}>: {what}")

    def optional(self, predicate: URIRef, subject: Node | None = None) -> Node | None:
        return next(iter(sorted(self.graph.objects(subject or self.subject, predicate))), None)

    def one(self, predicate: URIRef, subject: Node | None = None) -> Node:
        value = self.optional(predicate, subject)
        if value is None:
            raise self.fail(f"missing {self.graph.qname(predicate)} on "
                            f"{'the dataset' if subject is None else subject}")
        return value

    def text(self, predicate: URIRef, subject: Node | None = None) -> Literal:
        """One language's value, its tag kept (`_language`): English (`en`, then a regional
        `en-GB`, in any case: BCP 47 tags are case-insensitive, and rdflib keeps them as
        written), else untagged, else any. Only `en` counted, so a node's `@en-GB` text lost
        to its `@de` one, whose tag sorts first, and the German was served on as English."""
        values = [v for v in self.graph.objects(subject or self.subject, predicate)
                  if isinstance(v, Literal)]
        if not values:
            raise self.fail(f"missing {self.graph.qname(predicate)}"
                            + ("" if subject is None else f" on {subject}"))
        return min(values, key=lambda v: (_language_rank(v.language), v))

    def keywords(self) -> dict[str, Literal]:
        """The keywords in English (`en` or a regional `en-GB`, in any case) and the untagged
        ones; a node giving none such keeps those of one language, the first by tag. DCAT
        gives a keyword once per language, and every language's were taken, searched and
        served on tagged `@en`, a German one beside its English twin. By text, each with the
        tag it is kept with: a text given with two of them (`"BRCA1"@en, "BRCA1"`), the one
        `text` would take."""
        values = [v for v in self.graph.objects(self.subject, DCAT.keyword)
                  if isinstance(v, Literal)]
        wanted = [v for v in values if _language_rank(v.language) < _OTHER_LANGUAGE]
        if not wanted and values:
            first = min(v.language.lower() for v in values if v.language)
            wanted = [v for v in values if v.language and v.language.lower() == first]
        kept: dict[str, Literal] = {}
        for value in sorted(wanted, key=lambda v: (_language_rank(v.language), v)):
            kept.setdefault(str(value), value)
        return kept

    def iris(self, predicate: URIRef) -> list[str]:
        """All IRI values; the GDI shapes require at least one for each property read so."""
        values = [str(o) for o in self.graph.objects(self.subject, predicate)
                  if isinstance(o, URIRef)]
        if not values:
            raise self.fail(f"missing {self.graph.qname(predicate)} (an IRI)")
        return values

    def datetime(self, predicate: URIRef) -> datetime | None:
        """An optional date: an xsd:dateTime, or an xsd:date (DCAT's other usual form), read
        as its midnight in UTC; None if the dataset has none. Only xsd:dateTime was read,
        so a node writing `dct:issued "2024-02-01"^^xsd:date` had every dataset refused."""
        value = self.optional(predicate)
        if value is None:
            return None
        parsed = value.toPython() if isinstance(value, Literal) else None
        if isinstance(value, Literal) and value.datatype in _PERIODS:
            parsed = _first_moment(value)
        if isinstance(parsed, date) and not isinstance(parsed, datetime):
            parsed = datetime.combine(parsed, time(), UTC)
        if not isinstance(parsed, datetime):
            raise self.fail(f"{self.graph.qname(predicate)} {value!r} is not an xsd:dateTime, "
                            "xsd:date, xsd:gYear or xsd:gYearMonth")
        return parsed

    def access_rights(self) -> AccessRights:
        value = str(self.one(DCTERMS.accessRights))
        for rights in AccessRights:
            if rights.iri == value:
                return rights
        raise self.fail(f"dct:accessRights <{value}> is not an EU access-right term")

    def agent(self, predicate: URIRef) -> Agent:
        node = self.one(predicate)
        identifier = self.optional(DCTERMS.identifier, node)
        name = self.text(FOAF.name, node)
        return Agent(name=str(name), nameLanguage=_language(name),
                     identifier=str(identifier) if identifier is not None else None)

    def contact(self, node: Node) -> ContactPoint:
        email = str(self.one(VCARD.hasEmail, node))
        if not email.startswith("mailto:"):
            raise self.fail(f"vcard:hasEmail <{email}> is not a mailto: IRI")
        name = self.text(VCARD.fn, node)
        return ContactPoint(name=str(name), nameLanguage=_language(name),
                            email=email[len("mailto:"):])

    def beacon_distribution(self) -> Node:
        """The distribution whose access service has an endpoint (the Beacon)."""
        for distribution in sorted(self.graph.objects(self.subject, DCAT.distribution)):
            for service in self.graph.objects(distribution, DCAT.accessService):
                if self.optional(DCAT.endpointURL, service) is not None:
                    return distribution
        raise self.fail("no dcat:distribution with a dcat:accessService that has a "
                        "dcat:endpointURL (the Beacon)")

    def endpoint(self, distribution: Node) -> str:
        service = self.one(DCAT.accessService, distribution)
        return str(self.one(DCAT.endpointURL, service))

    def assembly(self, distribution: Node) -> str:
        by_iri = {iri: name for name, iri in ASSEMBLIES.items()}
        for standard in self.graph.objects(distribution, DCTERMS.conformsTo):
            if str(standard) in by_iri:
                return by_iri[str(standard)]
        raise self.fail(f"distribution {distribution} has no dct:conformsTo naming a reference "
                        f"assembly (one of {sorted(by_iri)})")
