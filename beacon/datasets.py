"""The dataset entry type: each loaded dataset as a Beacon v2 collection record, and the
requests that select datasets (`datasetIds`, dataset-level filters, pages).

Dataset filters are evaluated on what each dataset's record states (`info`: its metadata
file's values, its access level and assembly), so a listed dataset shows why it matched. A
filter the node cannot evaluate is refused with a 400 naming it, never dropped (which would
list every dataset):

* an ontology term `{"id": "DUO:0000042"}` (includeDescendantTerms as the ontology module
  knows the hierarchy; it holds none for DUO, so the term itself) matches a dataset whose
  metadata declares it among its data use conditions, in the Beacon dataset model's form
  `dataUseConditions: {duoDataUse: [{id: ...}]}`; other ontologies describe no dataset here;
* an alphanumeric `{"id": FIELD, "operator": "=" or "!", "value": ...}` on FIELDS: `=` a
  dataset stating that value, `!` one not stating it; a `%` in the value stands for any
  number of characters (the spec's AlphanumericFilter).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auth.policy import Caller, GrantKey, governed_keys
from beacon.assemblies import find_assembly
from beacon.disclosure import (
    DisclosurePolicy,
    ReportedCount,
    Rules,
    Tier,
    ceiling,
    report,
    tier_of,
)
from beacon.filters import bounded, filter_item
from beacon.info import ENTRY_TYPES, returned_schemas
from beacon.ontology import ancestors, is_curie, primary
from beacon.request import (
    Page,
    RequestBody,
    RequestMeta,
    asked_datasets,
    given_parameter,
    listing_info,
    requested_meta,
)
from beacon.request_error import RequestError
from beacon.responses import request_summary, response_meta
from beacon.store import DatasetRow, grant_keys

DATASET = next(e for e in ENTRY_TYPES if e.id == "dataset")


def dataset_record(row: DatasetRow, rules: Rules) -> dict[str, Any]:
    """Catalogue-level facts only (the same the FAIR Data Point publishes), never variants;
    its counts as precise as the caller's tier may see them (beacon/disclosure.py), and its
    variant total only to a tier without an allele floor. No sample count for a VCF
    without sample columns (a sites-only file), as the FAIR Data Point leaves it out
    (node/publication/records.py): its allele counts come from people it does not name,
    and its 0 said the dataset held nobody."""
    counts: dict[str, Any] = {}
    if row.sample_count:
        samples = report(row.sample_count, rules)
        counts.update({"sampleCount": samples.value, **_precision("sampleCount", samples)})
    if rules.allele_floor == 1:     # the stored total counts every variant, rare ones too: a
        variants = report(row.variant_count, rules)     # tier with a floor would learn how
        counts.update({"variantCount": variants.value,  # many it may not see
                       **_precision("variantCount", variants)})
    return {"id": row.id, "name": row.title, "description": row.description,
            "createDateTime": row.created_at.isoformat(),
            "updateDateTime": row.updated_at.isoformat(), "version": str(row.version),
            "info": {**{k: v for k, v in row.metadata.items() if v not in (None, [], "")},
                     "accessLevel": row.access_level, "assembly": row.assembly, **counts}}


def _precision(name: str, count: ReportedCount) -> dict[str, Any]:
    if count.step == 1:
        return {}
    return {f"{name}Precision": count.precision, f"{name}AdjustedTo": count.adjusted_to}


@dataclass(frozen=True)
class Seen:
    """A dataset as one caller may know it: the most they may see, their tier and its rules."""

    row: DatasetRow
    ceiling: str
    tier: Tier
    rules: Rules

    @property
    def keeps_losses(self) -> bool:
        """Whether the caller's realised privacy losses are kept for this dataset
        (beacon/losses.py): its tier's rules keep them, and the dataset's genotypes say
        whom to charge (a dataset without them is answered as the tier sees it)."""
        return self.rules.accounts_losses and self.row.genotyped

    @property
    def keeps_account(self) -> bool:
        """Whether the caller's answers about the dataset are charged to one account of its
        own instead (beacon/accounts.py): its tier's rules keep losses, and its variants
        name nobody to charge."""
        return self.rules.accounts_losses and not self.row.genotyped


def dataset_keys(rows: list[DatasetRow]) -> dict[str, frozenset[GrantKey]]:
    """What a ControlledAccessGrants visa must hold to grant each dataset: a string naming
    it, matched exactly (its id, and its metadata's aliases that no other dataset holds, as
    its id or an alias), and, for a dataset naming the sources that govern it, one of those
    as the grant's `source` (auth/policy.py governed_keys). An ingest refuses a dataset
    sharing a key (beacon/store.py `check_keys`); two datasets loaded before that did share
    one would be granted by one visa, so a shared alias names neither of them here (access
    control fails closed), while each keeps its own id."""
    holders: dict[str, set[str]] = {}
    listed = {row.id: grant_keys(row.id, row.metadata.get("aliases")) for row in rows}
    for dataset_id, keys in listed.items():
        for key in keys:
            holders.setdefault(key, set()).add(dataset_id)
    return {row.id: governed_keys((key for key in listed[row.id]
                                   if key == row.id or holders[key] == {row.id}),
                                  row.grant_sources)
            for row in rows}


def visible(rows: list[DatasetRow], caller: Caller, policy: DisclosurePolicy
            ) -> dict[str, Seen]:
    """Each dataset the caller may know of, with what they may see of it."""
    seen = {}
    named = dataset_keys(rows)
    for row in rows:
        keys = named[row.id]
        allowed = ceiling(policy, row.access_level, keys, caller)
        if allowed is not None:
            tier = tier_of(caller, keys)
            seen[row.id] = Seen(row, allowed, tier, policy.rules(tier, row.metadata))
    return seen


def _stated(key: str) -> Callable[[DatasetRow], list[str]]:
    """The values a dataset's metadata states under `key` (one value or a list)."""
    def values(row: DatasetRow) -> list[str]:
        value = row.metadata.get(key)
        items = value if isinstance(value, list) else [value]
        return [item for item in items if isinstance(item, str)]
    return values


def _last_segment(iri: str) -> str:
    """An authority term's code: `HEAL` of .../data-theme/HEAL."""
    return iri.rstrip("/").rsplit("/", 1)[-1]


def _assembly_value(value: str) -> str | None:
    assembly = find_assembly(value)
    return assembly.id if assembly else None


@dataclass(frozen=True)
class DatasetField:
    """An alphanumeric dataset filter: the values a dataset states, and a value as compared
    (None: not a value of the field)."""

    values: Callable[[DatasetRow], list[str]]
    compared: Callable[[str], str | None]
    example: str


FIELDS: dict[str, DatasetField] = {
    "accessLevel": DatasetField(lambda row: [row.access_level],
                                lambda v: v.upper() if v.upper() in (
                                    "PUBLIC", "REGISTERED", "CONTROLLED") else None,
                                "PUBLIC, REGISTERED or CONTROLLED"),
    "assemblyId": DatasetField(lambda row: [row.assembly], _assembly_value,
                               "GRCh38, GRCh37 or an alias"),
    "country": DatasetField(_stated("country"),
                            lambda v: v.upper() if len(v) == 2 and v.isalpha() else None,
                            "an ISO 3166-1 alpha-2 code"),
    "keywords": DatasetField(_stated("keywords"), str.casefold, "a keyword"),
    "themes": DatasetField(_stated("themes"), lambda v: _last_segment(v).upper(),
                           "an EU data theme, HEAL or its IRI"),
    "healthCategories": DatasetField(_stated("healthCategories"),
                                     lambda v: _last_segment(v).casefold(),
                                     "a GDI health category, e.g. HealthCategoryHumanGenomic, "
                                     "or its IRI"),
}
_SCOPES = ("dataset", "datasets")
DUO = "DUO:"


@dataclass(frozen=True)
class DatasetFilter:
    """One dataset filter: a DUO term (`field` None) or `field operator value`."""

    id: str
    field: str | None = None
    operator: str = "="
    value: str = ""
    descendants: bool = True

    def matches(self, row: DatasetRow) -> bool:
        if self.field is None:
            held = _data_use_terms(row)
            return any(self.id == term or (self.descendants and self.id in ancestors(term))
                       for term in held)
        spec = FIELDS[self.field]       # stated values compared as the request's value is
        found = any(_alike(spec.compared(item), self.value) for item in spec.values(row))
        return found if self.operator == "=" else not found

    def echo(self) -> str:
        return self.id if self.field is None else f"{self.field}{self.operator}{self.value}"


def _alike(stated: str | None, value: str) -> bool:
    """Whether a stated value (as compared) is the filter's: equal, or, where the value holds
    `%`, matching it with each `%` standing for any number of characters, as the spec's
    AlphanumericFilter has it (they were compared as written, and matched nothing). Each
    part between two `%` is found at its first place after the last (which finds a match
    if there is one), never by a regular expression: `.*` for each `%` backtracks, seconds
    for a caller's `%p%p%p...%x` against a long keyword."""
    if "%" not in value or stated is None:
        return stated == value
    first, *middle, last = value.split("%")
    end = len(stated) - len(last)
    if end < len(first) or not stated.startswith(first) or not stated.endswith(last):
        return False
    at = len(first)
    for part in middle:
        at = stated.find(part, at, end)
        if at < 0:
            return False
        at += len(part)
    return True


def _data_use_terms(row: DatasetRow) -> list[str]:
    """The data use terms the dataset's metadata declares, each as a filter reads it (DUO's
    prefix as DUO writes it, beacon/ontology.py primary): compared as the metadata file
    writes them, a dataset declaring `duo:0000006` (bioregistry's spelling) was found by no
    filter on it in any spelling (found by a review, 2026-12-07)."""
    conditions = row.metadata.get("dataUseConditions")
    uses = conditions.get("duoDataUse") if isinstance(conditions, dict) else None
    return [primary(u["id"]) for u in uses or []
            if isinstance(u, dict) and isinstance(u.get("id"), str)]


def dataset_filters(raw: list[Any]) -> tuple[DatasetFilter, ...]:
    """The filters of a /datasets request; RequestError naming the first the node cannot
    evaluate (`filters[1].operator`)."""
    bounded(raw)
    return tuple(dict.fromkeys(_dataset_filter(item, f"filters[{n}]")
                               for n, item in enumerate(raw)))


def _dataset_filter(raw: Any, where: str) -> DatasetFilter:
    item, term = filter_item(raw, where, _SCOPES)
    operator, value = item.get("operator"), item.get("value")
    if operator is None and value is None:
        return _term_filter(item, term, where)
    if term not in FIELDS:
        raise RequestError(f"{where}.id", f"{term!r} is not a dataset field here "
                                          f"({', '.join(FIELDS)})")
    if operator not in ("=", "!"):
        given = "required with a value:" if operator is None else f"{operator!r} is not"
        raise RequestError(f"{where}.operator", f"{given} = or ! (a dataset states a value "
                                                "or not)")
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{where}.value", f"required: {FIELDS[term].example}")
    compared = FIELDS[term].compared(value.strip())
    if compared is None:
        raise RequestError(f"{where}.value", f"{value!r} is not {FIELDS[term].example}")
    return DatasetFilter(term, term, operator, compared)


def _term_filter(item: dict[str, Any], term: str, where: str) -> DatasetFilter:
    if term in FIELDS:
        raise RequestError(f"{where}.operator", f"required with the field {term!r} "
                                                "(= or !, and a value)")
    if not is_curie(term) or not term.upper().startswith(DUO):
        raise RequestError(f"{where}.id", f"{term!r} does not describe datasets here: dataset "
                                          f"filters are DUO terms and the fields "
                                          f"{', '.join(FIELDS)} (individuals' terms filter "
                                          "/api/individuals)")
    if item.get("similarity") not in (None, "exact"):
        raise RequestError(f"{where}.similarity", f"{item['similarity']!r} is not supported; "
                                                  "only exact matches")
    descendants = item.get("includeDescendantTerms")     # null: not specified, the default
    descendants = True if descendants is None else descendants
    if not isinstance(descendants, bool):
        raise RequestError(f"{where}.includeDescendantTerms", "must be true or false")
    return DatasetFilter(DUO + term[len(DUO):], descendants=descendants)


@dataclass(frozen=True)
class DatasetsQuery:
    """What a /datasets request selects and which page of it; and, for the answer's request
    summary to repeat, what else it asked: a granularity (datasets are listed as records
    whatever it is; none asked is read as record) and resultSets (none here), the API
    version and schemas of its meta (beacon/request.py requested_meta)."""

    dataset_ids: tuple[str, ...] | None
    filters: tuple[DatasetFilter, ...]
    page: Page
    test_mode: bool
    granularity: str
    include: str
    meta: RequestMeta

    def summary(self) -> dict[str, Any]:
        """`meta.receivedRequestSummary`: the request as received; the datasets it names as
        the spec's example body names them, `{"datasets": {"datasetIds": [...]}}`, however
        they were asked."""
        asked = {"datasets": {"datasetIds": list(self.dataset_ids)}} if self.dataset_ids else None
        summary = request_summary(self.granularity, skip=self.page.skip, limit=self.page.limit,
                                  schemas=list(self.meta[1]), parameters=asked,
                                  api_version=self.meta[0])
        summary.update({"includeResultsetResponses": self.include, "testMode": self.test_mode,
                        "filters": [f.echo() for f in self.filters]})
        return summary

    def select(self, seen: list[Seen]) -> list[Seen]:
        """The visible datasets named (an unknown or hidden one is a 400) and matching every
        filter."""
        if self.dataset_ids:
            known = {d.row.id: d for d in seen}
            unknown = [d for d in self.dataset_ids if d not in known]
            if unknown:
                raise RequestError("datasetIds", f"unknown dataset(s): {', '.join(unknown)}")
            seen = [known[d] for d in self.dataset_ids]
        return [d for d in seen if all(f.matches(d.row) for f in self.filters)]


def datasets_query(body: RequestBody) -> DatasetsQuery:
    """A /datasets request: `datasetIds` (in the query or its requestParameters) and filters
    select; any other request parameter is refused, as it would select nothing here."""
    query = body.query
    parameters = query.requestParameters
    if (other := given_parameter(parameters, besides="datasetIds")) is not None:
        raise RequestError(f"requestParameters.{other}", "not a parameter of datasets "
                                                         "(datasetIds and filters select them)")
    ids = asked_datasets(query)
    given = query.model_fields_set
    return DatasetsQuery(tuple(dict.fromkeys(ids)) if ids else None,
                         dataset_filters(query.filters),
                         Page(query.pagination.skip, query.pagination.limit), query.testMode,
                         query.requestedGranularity if "requestedGranularity" in given
                         else "record", query.includeResultsetResponses,
                         requested_meta(body.meta))


def collections_response(beacon_id: str, datasets: list[Seen], query: DatasetsQuery
                         ) -> dict[str, Any]:
    """A page of `datasets` (already selected), with the request echoed as received, and what
    the node did with a page it does not serve as asked."""
    shown = query.page.of(datasets)
    body = collections_envelope(beacon_id, [dataset_record(d.row, d.rules) for d in shown],
                                exists=bool(datasets), total=len(datasets), query=query)
    if info := listing_info(query.page, query.test_mode):
        body["info"] = info
    return body


def collections_envelope(beacon_id: str, collections: list[dict[str, Any]], *, exists: bool,
                         total: int, query: DatasetsQuery) -> dict[str, Any]:
    """A dataset collections response holding `collections`: the node's own page of datasets,
    or the network's datasets of every peer (node/federation/merge.py); the request `query`
    echoed as received, and `meta.testMode` for a test-mode one."""
    schemas = returned_schemas(DATASET)
    return {"meta": response_meta(beacon_id, "record", query.summary(), schemas,
                                  test_mode=query.test_mode),
            "responseSummary": {"exists": exists, "numTotalResults": total},
            "response": {"collections": collections}}
