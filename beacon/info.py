"""Beacon v2 informational responses (/, /info, /service-info, /configuration, /map,
/entry_types), built from the Beacon's identity and the datasets in the database. No HTTP
here.

The entry types this node serves are declared once, in ENTRY_TYPES, and /map, /entry_types
and /configuration are all derived from it, so they cannot disagree with the routes.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from beacon.durations import AGE, ONSET
from beacon.request import (
    Page,
    RequestBody,
    given_parameter,
    listing_info,
)
from beacon.request_error import RequestError
from beacon.store import DatasetRow

API_VERSION = "v2.0.1"
# The OpenAPI document of the entry endpoints, below the node's API root (not the network's)
OPENAPI_PATH = "/openapi.json"
SPEC = "Beacon v2"
_SCHEMA_BASE = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main"


@dataclass(frozen=True)
class BeaconIdentity:
    """Who this Beacon is and where it is reached: what its informational endpoints say.
    The operator configures it; the shell builds it from the node's settings."""

    id: str
    name: str
    description: str
    version: str
    environment: str
    organisation_id: str
    organisation_name: str
    organisation_url: str | None
    contact_url: str
    base_url: str


@dataclass(frozen=True)
class EntryType:
    """One entry type and where it is served below the API root."""

    id: str
    name: str
    schema_id: str
    schema_path: str
    ontology_id: str
    ontology_label: str
    root_path: str
    single_path: str | None
    description: str
    related: tuple[tuple[str, str], ...] = ()     # (returned entry type, path below /api)
    # the entry types an instance holds, which make this one a collection: a resultSet's
    # `setType` names such a type (beaconResultsets.json), and a client looks it up here
    collection_of: tuple[str, ...] = ()
    terms_path: str | None = None     # the filtering terms of its entries, below /api


ENTRY_TYPES: tuple[EntryType, ...] = (
    EntryType(id="genomicVariant", name="Genomic variant",
              schema_id="ga4gh-beacon-variant-v2.0.0",
              schema_path="models/json/beacon-v2-default-model/genomicVariations/defaultSchema.json",
              ontology_id="ENSGLOSSARY:0000092", ontology_label="Variant",
              root_path="/g_variants", single_path="/g_variants/{id}",
              description="A genomic variant (one ALT allele) as found in a dataset.",
              related=(("individual", "/g_variants/{id}/individuals"),)),
    EntryType(id="individual", name="Individual", schema_id="ga4gh-beacon-individual-v2.0.0",
              schema_path="models/json/beacon-v2-default-model/individuals/defaultSchema.json",
              ontology_id="NCIT:C25190", ontology_label="Person",
              root_path="/individuals", single_path="/individuals/{id}",
              terms_path="/individuals/filtering_terms",
              description="A person a dataset's VCF sample was taken from, with what its "
                          "phenopacket says (sex, country of birth, diseases, phenotypes)."),
    EntryType(id="dataset", name="Dataset", schema_id="ga4gh-beacon-dataset-v2.0.0",
              schema_path="models/json/beacon-v2-default-model/datasets/defaultSchema.json",
              ontology_id="NCIT:C47824", ontology_label="Data set",
              root_path="/datasets", single_path="/datasets/{id}",
              description="A set of variants from one VCF, the unit of access control.",
              related=(("genomicVariant", "/datasets/{id}/g_variants"),
                       ("individual", "/datasets/{id}/individuals")),
              collection_of=("genomicVariant", "individual")),
)


def returned_schemas(entry: EntryType) -> list[dict[str, str]]:
    return [{"entityType": entry.id, "schema": entry.schema_id}]


def informational_meta(beacon: BeaconIdentity, schemas: list[dict[str, str]] | None = None,
                       *, test_mode: bool = False) -> dict[str, Any]:
    """An informational response's meta; `testMode` for a test-mode answer (the filtering
    terms'), as every response's meta says it (beacon/responses.py)."""
    meta: dict[str, Any] = {"beaconId": beacon.id, "apiVersion": API_VERSION,
                            "returnedSchemas": schemas or []}
    if test_mode:
        meta["testMode"] = True
    return meta


def _organization(beacon: BeaconIdentity) -> dict[str, Any]:
    org: dict[str, Any] = {"id": beacon.organisation_id, "name": beacon.organisation_name,
                           "contactUrl": beacon.contact_url}
    if beacon.organisation_url:
        org["welcomeUrl"] = beacon.organisation_url
    return org


def _span(datasets: list[DatasetRow]) -> tuple[datetime | None, datetime | None]:
    if not datasets:
        return None, None
    return min(d.created_at for d in datasets), max(d.updated_at for d in datasets)


def beacon_info(beacon: BeaconIdentity, datasets: list[DatasetRow], *, api_root: str = "/api",
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Beacon's information below `api_root`; `info` summarises its datasets unless
    `extra` is given (the network's entry point describes its peers there instead)."""
    created, updated = _span(datasets)
    response: dict[str, Any] = {
        "id": beacon.id, "name": beacon.name,
        "apiVersion": API_VERSION, "environment": beacon.environment,
        "organization": _organization(beacon), "description": beacon.description,
        "version": beacon.version, "welcomeUrl": f"{beacon.base_url}{api_root}",
        "info": extra if extra is not None else {
            "datasets": len(datasets), "assemblies": sorted({d.assembly for d in datasets}),
            "accessLevels": sorted({d.access_level for d in datasets})},
    }
    if created and updated:
        response["createDateTime"] = created.isoformat()
        response["updateDateTime"] = updated.isoformat()
    return {"meta": informational_meta(beacon), "response": response}


def service_info(beacon: BeaconIdentity, datasets: list[DatasetRow]) -> dict[str, Any]:
    created, updated = _span(datasets)
    info: dict[str, Any] = {
        "id": beacon.id, "name": beacon.name,
        "type": {"group": "org.ga4gh", "artifact": "beacon", "version": API_VERSION},
        "description": beacon.description,
        "organization": {"name": beacon.organisation_name,
                         "url": beacon.organisation_url or beacon.base_url},
        "contactUrl": beacon.contact_url, "environment": beacon.environment,
        "version": beacon.version,
    }
    if created and updated:
        info["createdAt"] = created.isoformat()
        info["updatedAt"] = updated.isoformat()
    return info


def _entry_type_definition(entry: EntryType) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "id": entry.id, "name": entry.name, "description": entry.description,
        "partOfSpecification": SPEC,
        "ontologyTermForThisType": {"id": entry.ontology_id, "label": entry.ontology_label},
        "defaultSchema": {"id": entry.schema_id, "name": f"Default schema for {entry.name}",
                          "referenceToSchemaDefinition": f"{_SCHEMA_BASE}/{entry.schema_path}",
                          "schemaVersion": API_VERSION}}
    if entry.collection_of:
        names = {e.id: e.name for e in ENTRY_TYPES}
        definition["aCollectionOf"] = [{"id": held, "name": names[held]}
                                       for held in entry.collection_of]
    return definition


def entry_types(beacon: BeaconIdentity) -> dict[str, Any]:
    return {"meta": informational_meta(beacon),
            "response": {"entryTypes": {e.id: _entry_type_definition(e) for e in ENTRY_TYPES}}}


def configuration(beacon: BeaconIdentity, datasets: list[DatasetRow],
                  levels: list[str] | None = None) -> dict[str, Any]:
    """The configuration; its security levels those of `datasets`, or `levels` (the network's
    entry point, whose peers may hold any)."""
    levels = levels or sorted({d.access_level for d in datasets}) or ["CONTROLLED"]
    return {"meta": informational_meta(beacon), "response": {
        "$schema": f"{_SCHEMA_BASE}/framework/json/configuration/beaconConfigurationSchema.json",
        "maturityAttributes": {"productionStatus": beacon.environment.upper()
                               if beacon.environment in ("dev", "test", "prod") else "DEV"},
        "securityAttributes": {"defaultGranularity": "boolean", "securityLevels": levels},
        "entryTypes": {e.id: _entry_type_definition(e) for e in ENTRY_TYPES}}}


def beacon_map(beacon: BeaconIdentity, api_root: str = "/api",
               served: Collection[str] | None = None) -> dict[str, Any]:
    """The entry endpoints below `api_root`: the node's, or those of the network's that
    `served` holds (its route table's paths below its root), which serves not all of them.
    The network's map listed /individuals/{id}, which it does not serve. Each set names
    the OpenAPI document and the filtering terms where they are served, as the spec's
    default model's map does: a Beacon Network reads verbs and parameters from the one
    (beaconMapSchema.json, openAPIEndpointsDefinition) and the terms to filter by from the
    other; the map named neither."""
    api = f"{beacon.base_url}{api_root}"
    endpoint_sets = {}
    for entry in ENTRY_TYPES:
        endpoint: dict[str, Any] = {"entryType": entry.id, "rootUrl": f"{api}{entry.root_path}"}
        if served is None or OPENAPI_PATH in served:
            endpoint["openAPIEndpointsDefinition"] = f"{api}{OPENAPI_PATH}"
        if entry.single_path and (served is None or entry.single_path in served):
            endpoint["singleEntryUrl"] = f"{api}{entry.single_path}"
        if entry.terms_path and (served is None or entry.terms_path in served):
            endpoint["filteringTermsUrl"] = f"{api}{entry.terms_path}"
        related = [(kind, path) for kind, path in entry.related
                   if served is None or path in served]
        if related:
            endpoint["endpoints"] = {kind: {"returnedEntryType": kind, "url": f"{api}{path}"}
                                     for kind, path in related}
        endpoint_sets[entry.id] = endpoint
    return {"meta": informational_meta(beacon), "response": {
        "$schema": f"{_SCHEMA_BASE}/framework/json/configuration/beaconMapSchema.json",
        "endpointSets": endpoint_sets}}


# The ontologies whose terms the node's data may hold and that it can name, by prefix in
# lower case, a resource's id (`_resources`): name, URL and IRI prefix (Phenopackets
# resource fields).
_RESOURCES = {
    "hp": ("Human Phenotype Ontology", "http://purl.obolibrary.org/obo/hp.owl",
           "http://purl.obolibrary.org/obo/HP_"),
    "ncit": ("NCI Thesaurus", "http://purl.obolibrary.org/obo/ncit.owl",
             "http://purl.obolibrary.org/obo/NCIT_"),
    "mondo": ("Mondo Disease Ontology", "http://purl.obolibrary.org/obo/mondo.owl",
              "http://purl.obolibrary.org/obo/MONDO_"),
    "icd10": ("International Classification of Diseases, 10th revision",
              "https://icd.who.int/browse10/2019/en", "https://icd.who.int/browse10/2019/en#/"),
    "snomed": ("SNOMED CT", "http://snomed.info/sct", "http://snomed.info/id/"),
    "loinc": ("Logical Observation Identifiers Names and Codes", "https://loinc.org",
              "https://loinc.org/"),
    "orpha": ("Orphanet Rare Disease Ontology", "http://www.orpha.net/ORDO/",
              "http://www.orpha.net/ORDO/Orphanet_"),
    "omim": ("Online Mendelian Inheritance in Man", "https://omim.org", "https://omim.org/entry/"),
}


# The labels of the fields the node filters by value, which no ontology labels. A term
# listed without a label is one the GDI portal does not offer (its strategies want a
# non-blank label): the ages it asks for were listed so, as was a term or an assay its
# phenopackets label nowhere, which is labelled with its id.
_FIELD_LABELS = {ONSET: "Age at onset of a disease (ISO 8601 duration)",
                 AGE: "Age at the last encounter (ISO 8601 duration)"}


def _resources(prefixes: Iterable[str]) -> list[dict[str, str]]:
    """One resource per prefix of the listed terms, letter case aside, with the prefix in
    lower case as its id: the GDI portal offers an ontology's terms only under the resource
    whose id is their prefix lower-cased, and refuses a list naming one id twice. SNOMED
    CT's was `snomedct`, and an ontology the table does not name had none, so the portal
    offered none of their terms; such an ontology is named by its prefix (the phenopackets'
    own resources are not kept)."""
    found: dict[str, str] = {}
    for prefix in sorted(prefixes):
        found.setdefault(prefix.casefold(), prefix)
    listed = []
    for key, prefix in sorted(found.items()):
        known = _RESOURCES.get(key)
        listed.append({"id": key, "name": prefix, "nameSpacePrefix": prefix} if known is None
                      else {"id": key, "name": known[0], "url": known[1],
                            "iriPrefix": known[2], "nameSpacePrefix": prefix})
    return listed


_Term = TypeVar("_Term")       # a listed term: the node's (id, label, kind), a peer's dict


@dataclass(frozen=True)
class TermsQuery:
    """What a filtering_terms request asks: a page of the terms (None: every term), and
    whether it is in test mode."""

    page: Page | None
    test_mode: bool

    def listed(self, terms: list[_Term]) -> list[_Term]:
        """What the answer lists of `terms` (in their listed order): the page asked for, or
        every term. One rule for the node's list and the network's merged list
        (node/federation/merge.py), so that page 2 of either is the second page of its
        whole."""
        return terms if self.page is None else self.page.of(terms)


def terms_query(body: RequestBody) -> TermsQuery:
    """A filtering_terms request: `skip` and `limit` page the terms (the spec's parameters
    of the endpoint), as they page records; without either, every term is listed, as it
    always was (the researchers' page and the network's merge read the list whole). What
    would select terms (request parameters, filters, datasetIds) selects none here: a 400
    naming it, as anything the body's model refuses, rather than the whole list answered."""
    query = body.query
    if (name := given_parameter(query.requestParameters)) is not None:
        raise RequestError(f"requestParameters.{name}", "not a parameter of filtering_terms "
                                                        "(skip and limit page the terms)")
    if query.filters:
        raise RequestError("filters", "not a parameter of filtering_terms: the terms are what "
                                      "filters /api/individuals")
    if query.datasetIds is not None:
        raise RequestError("datasetIds", "not a parameter of filtering_terms: it lists the terms of "
                                         "every dataset the caller may know")
    pagination = query.pagination
    page = (Page(pagination.skip, pagination.limit) if pagination.model_fields_set
            & {"skip", "limit"} else None)
    return TermsQuery(page, query.testMode)


def merged_terms(rows: Iterable[tuple[str, str | None, str]]
                 ) -> list[tuple[str, str | None, str]]:
    """Each term of the datasets' rows (id, label, kind; those listed to the caller, in the
    order listed) once: labelled where any of the rows labels it (one dataset's phenopackets
    may leave out the label another's give), and `ontology` where any row is, as one
    dataset lists an assay someone also holds as a term (beacon/individuals_rows.py): its
    id alone filters too. The first dataset's row, taken as it was, made a term's label and
    type depend on the datasets' ids (found by a review, 2026-12-05)."""
    merged: dict[str, tuple[str, str | None, str]] = {}
    for term, label, kind in rows:
        _, known, was = merged.get(term, (term, None, kind))
        merged[term] = (term, *merged_description((known, was), (label, kind)))
    return list(merged.values())


def merged_description(known: tuple[str | None, str], given: tuple[str | None, str],
                       unlabelled: str | None = None) -> tuple[str | None, str]:
    """A term's label and type, of two lists of it: `known` (as merged so far) and one more,
    `given`. Labelled where either labels it, and `ontology` where either lists it so (its
    id alone filters too), else as first listed: the one rule of a node's merge of its
    datasets' terms (merged_terms) and the network's of its peers' (node/federation). A
    missing or empty label is none, and so is `unlabelled` (what a node's /filtering_terms
    writes for a term it holds no label of: its id), kept where neither has another."""
    (label, kind), (other, other_kind) = known, given
    if not label or label == unlabelled:
        label = other if other and other != unlabelled else label or other
    return label, "ontology" if "ontology" in (kind, other_kind) else kind


def filtering_terms(beacon: BeaconIdentity, terms: list[tuple[str, str | None, str]],
                    query: TermsQuery) -> dict[str, Any]:
    """The filtering terms a caller may use and learn exist: (id, label, kind) each, kind
    `ontology` or `alphanumeric`; all of scope individual; the page `query` asks of them.
    The resources are the ontologies the listed terms come from. A test-mode query is given
    no terms (its caller reads none of the node's data for it, as every endpoint answers
    one) and says so."""
    terms = query.listed(terms)
    listed = [{"type": kind, "id": term, "scopes": ["individual"],
               "label": label or _FIELD_LABELS.get(term, term)} for term, label, kind in terms]
    resources = _resources({term.split(":", 1)[0] for term, _, _ in terms if ":" in term})
    body: dict[str, Any] = {"meta": informational_meta(beacon, test_mode=query.test_mode),
                            "response": {"filteringTerms": listed, "resources": resources}}
    if about := listing_info(query.page, query.test_mode):
        body["info"] = about
    return body
