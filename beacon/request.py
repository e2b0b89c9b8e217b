"""Beacon v2 requests as real clients send them, parsed into one `VariantQuery`.

Accepted shapes (DOMAIN.md §2): a POST body with `requestParameters` flat (what every
implementation and the GDI portal send), wrapped as `{"g_variant": {...}}` (what the schema
says), or an empty list `[]` (what the portal sends for "no parameters"); and GET query
strings with lists comma-joined (`start=100,200`) or repeated (`start=100&start=200`). The
request is echoed back wrapped, so responses validate. Every refusal names the field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from beacon.assemblies import ASSEMBLIES, Assembly, find_assembly

Granularity = Literal["boolean", "count", "record"]
Include = Literal["HIT", "MISS", "ALL", "NONE"]
MAX_LIMIT = 1000
MAX_POSITION = 2**31 - 1          # the database's integer columns; no chromosome is longer
Position = Annotated[int, Field(ge=0, le=MAX_POSITION)]
_BASES = re.compile(r"^[ACGTN]+$")
_SYMBOLIC = re.compile(r"^<[A-Z][A-Z0-9:_]*>$")
# What a requested variantType matches among stored types (beacon/vcf.py's vocabulary).
VARIANT_TYPES: dict[str, frozenset[str]] = {
    "SNP": frozenset({"SNP"}), "SNV": frozenset({"SNP"}), "MNP": frozenset({"MNP"}),
    "MNV": frozenset({"MNP"}), "INS": frozenset({"INS"}), "DEL": frozenset({"DEL"}),
    "INDEL": frozenset({"INS", "DEL", "INDEL"}), "DUP": frozenset({"DUP"}),
    "INV": frozenset({"INV"}), "BND": frozenset({"BND"}),
    "CNV": frozenset({"CNV", "DEL", "DUP"}),
}
_UNSUPPORTED = ("geneId", "aminoacidChange", "genomicAlleleShortForm", "mateName")


class RequestError(ValueError):
    """Client input this node refuses; `field` names the offending parameter."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(f"{field_name}: {message}")


class VariantParameters(BaseModel):
    """The g_variant request parameters (spec names; unknown names are refused)."""

    model_config = ConfigDict(extra="forbid")

    assemblyId: str | None = None
    referenceName: str | None = None
    start: list[Position] | None = Field(default=None, min_length=1, max_length=2)
    end: list[Position] | None = Field(default=None, min_length=1, max_length=2)
    referenceBases: str | None = None
    alternateBases: str | None = None
    variantType: str | None = None
    variantMinLength: Position | None = None
    variantMaxLength: Position | None = None
    datasetIds: list[str] | None = None
    geneId: str | None = None
    aminoacidChange: str | None = None
    genomicAlleleShortForm: str | None = None
    mateName: str | None = None

    @field_validator("start", "end", "datasetIds", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, str)) else value


class Pagination(BaseModel):
    model_config = ConfigDict(extra="ignore")   # currentPage/nextPage tokens are not used

    skip: Position = 0
    limit: int = Field(default=10, ge=0, le=MAX_LIMIT)


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requestParameters: VariantParameters = Field(default_factory=VariantParameters)
    filters: list[Any] = Field(default_factory=list)
    includeResultsetResponses: Include = "HIT"
    pagination: Pagination = Field(default_factory=Pagination)
    requestedGranularity: Granularity = "boolean"
    testMode: bool = False
    datasetIds: list[str] | None = None

    @field_validator("requestParameters", mode="before")
    @classmethod
    def _unwrap(cls, value: Any) -> Any:
        if value in (None, [], {}):
            return {}
        if isinstance(value, dict) and set(value) == {"g_variant"}:
            return value["g_variant"] or {}
        return value


class RequestBody(BaseModel):
    """A Beacon v2 POST body (`meta` is accepted and otherwise ignored)."""

    model_config = ConfigDict(extra="forbid")

    meta: dict[str, Any] = Field(default_factory=dict)
    query: Query = Field(default_factory=Query)

    @model_validator(mode="before")
    @classmethod
    def _empty_body(cls, value: Any) -> Any:
        return {} if value is None else value


@dataclass(frozen=True)
class VariantQuery:
    """What to look for, validated and normalised; knows nothing of HTTP or SQL."""

    assembly: Assembly | None = None
    reference_name: str | None = None       # as sent; normalised per dataset assembly
    kind: Literal["none", "sequence", "range", "bracket"] = "none"
    start: tuple[int, ...] = ()
    end: tuple[int, ...] = ()
    reference_bases: str | None = None
    alternate_bases: str | None = None
    variant_types: frozenset[str] | None = None
    min_length: int | None = None
    max_length: int | None = None
    dataset_ids: tuple[str, ...] | None = None
    granularity: Granularity = "boolean"
    include: Include = "HIT"
    skip: int = 0
    limit: int = 10
    test_mode: bool = False
    echo: dict[str, Any] = field(default_factory=dict)

    def chromosome_on(self, assembly: Assembly) -> str | None:
        return assembly.normalise(self.reference_name) if self.reference_name else None


def _bases(name: str, value: str | None, *, symbolic: bool) -> str | None:
    if value is None:
        return None
    upper = value.upper()
    if _BASES.fullmatch(upper) or (symbolic and _SYMBOLIC.fullmatch(upper)):
        return upper
    if value == "":
        raise RequestError(name, "the empty (fully trimmed) form is not supported; send "
                                 "VCF-style alleles with their padding base")
    raise RequestError(name, f"{value!r} is not a sequence of A, C, G, T and N (wildcard)")


def _coordinates(p: VariantParameters) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    start, end = tuple(p.start or ()), tuple(p.end or ())
    if not start and not end:
        return "none", (), ()
    if not start:
        raise RequestError("start", "required when end is given")
    if p.referenceName is None:
        raise RequestError("referenceName", "required with start/end")
    if len(start) == 1 and not end:
        if p.alternateBases is None and p.variantType is None:
            raise RequestError("alternateBases", "required for a query with start and no end "
                                                 "(or give variantType)")
        return "sequence", start, end
    if len(start) == 1 and len(end) == 1:
        if end[0] <= start[0]:
            raise RequestError("end", f"must be greater than start ({end[0]} <= {start[0]})")
        return "range", start, end
    if len(start) == 2 and len(end) == 2:
        for name, pair in (("start", start), ("end", end)):
            if pair[1] < pair[0]:
                raise RequestError(name, f"bracket [{pair[0]},{pair[1]}] is reversed")
        return "bracket", start, end
    raise RequestError("end", "give one start (sequence), one start and one end (range) or "
                              "two of each (bracket)")


def _variant_types(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    types = VARIANT_TYPES.get(value.upper())
    if types is None:
        raise RequestError("variantType", f"{value!r} is not one of {', '.join(VARIANT_TYPES)}")
    return types


def _assembly(p: VariantParameters) -> Assembly | None:
    if p.assemblyId is None:
        if p.referenceName and not any(a.normalise(p.referenceName) for a in ASSEMBLIES.values()):
            raise RequestError("referenceName", f"{p.referenceName!r} is not a chromosome of "
                                                "any supported assembly")
        return None
    assembly = find_assembly(p.assemblyId)
    if assembly is None:
        raise RequestError("assemblyId", f"{p.assemblyId!r} is not a supported assembly "
                                         f"({', '.join(ASSEMBLIES)} and aliases)")
    if p.referenceName and assembly.normalise(p.referenceName) is None:
        raise RequestError("referenceName", f"{p.referenceName!r} is not a chromosome of "
                                            f"{assembly.id}")
    return assembly


def to_query(body: RequestBody) -> VariantQuery:
    """Semantic checks the schema cannot express, then the normalised query."""
    q, p = body.query, body.query.requestParameters
    for name in _UNSUPPORTED:
        if getattr(p, name) is not None:
            raise RequestError(name, "not supported by this node (no annotation data); query "
                                     "by position instead")
    if q.filters:
        raise RequestError("filters", "this node offers no filtering terms (see "
                                      "/api/filtering_terms)")
    if (p.variantMinLength is not None and p.variantMaxLength is not None
            and p.variantMinLength > p.variantMaxLength):
        raise RequestError("variantMinLength", "greater than variantMaxLength")
    kind, start, end = _coordinates(p)
    dataset_ids = q.datasetIds or p.datasetIds
    echo = p.model_dump(exclude_none=True)
    return VariantQuery(
        assembly=_assembly(p), reference_name=p.referenceName, kind=kind,  # type: ignore[arg-type]
        start=start, end=end,
        reference_bases=_bases("referenceBases", p.referenceBases, symbolic=False),
        alternate_bases=_bases("alternateBases", p.alternateBases, symbolic=True),
        variant_types=_variant_types(p.variantType), min_length=p.variantMinLength,
        max_length=p.variantMaxLength,
        dataset_ids=tuple(dict.fromkeys(dataset_ids)) if dataset_ids else None,
        granularity=q.requestedGranularity, include=q.includeResultsetResponses,
        skip=q.pagination.skip, limit=q.pagination.limit, test_mode=q.testMode,
        echo={"g_variant": echo} if echo else {})


def parse_body(raw: Any) -> RequestBody:
    try:
        return RequestBody.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc) from None


def _first_error(exc: ValidationError, prefix: str = "") -> RequestError:
    error = exc.errors()[0]
    path = prefix + ".".join(str(p) for p in error["loc"] if not isinstance(p, int)) or "body"
    if error["type"] == "extra_forbidden":
        return RequestError(path, "unknown parameter")
    return RequestError(path, error["msg"])


# GET: spellings seen in the spec's documents and in clients, mapped to the body's names.
_GET_ALIASES = {"assemblyID": "assemblyId", "granularity": "requestedGranularity",
                "includeResultSetResponses": "includeResultsetResponses",
                "datasets": "datasetIds", "datasetId": "datasetIds"}
_GET_QUERY_KEYS = {"requestedGranularity", "includeResultsetResponses", "testMode", "filters"}
_GET_PAGINATION = {"skip", "limit"}
_GET_LISTS = {"start", "end", "datasetIds", "filters"}


def _get_value(key: str, values: list[str]) -> Any:
    if key in _GET_LISTS:
        return [item.strip() for v in values for item in v.split(",") if item.strip()]
    if len(values) > 1:
        raise RequestError(key, "given more than once")
    value = values[0]
    if key == "testMode":
        return value.lower() in ("true", "1", "yes")
    return value


def parse_get(pairs: list[tuple[str, str]]) -> RequestBody:
    """A GET query string as the equivalent POST body."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(_GET_ALIASES.get(key, key), []).append(value)
    parameters: dict[str, Any] = {}
    query: dict[str, Any] = {"pagination": {}}
    for key, values in grouped.items():
        value = _get_value(key, values)
        if key in _GET_QUERY_KEYS:
            query[key] = value
        elif key in _GET_PAGINATION:
            query["pagination"][key] = value
        else:
            parameters[key] = value
    query["requestParameters"] = parameters
    try:
        # Straight to Query: a GET has no `meta`, and skipping the envelope's validation
        # is measurable on the hot path.
        return RequestBody.model_construct(meta={}, query=Query.model_validate(query))
    except ValidationError as exc:
        raise _first_error(exc, prefix="query.") from None
