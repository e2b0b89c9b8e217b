"""Beacon v2 requests as real clients send them, parsed into one `VariantQuery`.

Accepted shapes (DOMAIN.md §2): a POST body with `requestParameters` flat (what every
implementation and the GDI portal send), wrapped as `{"g_variant": {...}}` (what the schema
says), or an empty list `[]` (what the portal sends for "no parameters"); and GET query
strings with lists comma-joined (`start=100,200`) or repeated (`start=100&start=200`). The
request is echoed back wrapped, so responses validate. Every refusal names the field.

What the spec's own examples send is accepted too: a `$schema` beside `meta` and `query` (and
inside `requestParameters`), `requestedGranularity` and `pagination` beside `query` rather than
in it (inside wins where both are given), `requestParameters` wrapped per entry type with
`datasets: {datasetIds}` beside `g_variant`, the EFO and SO copy-number terms as
`variantType`, and the trimmed alleles (an empty `alternateBases` for a deletion, an empty
`referenceBases` for an insertion), which become the VCF-style query the store answers.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar, get_args

import msgspec
import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from beacon.alleles import PADDING, minimal
from beacon.annotations import normalise_aminoacid_change, parse_genomic_hgvs
from beacon.assemblies import ASSEMBLIES, Assembly, find_assembly, implied_assembly
from beacon.filters import population_filter
from beacon.limits import INT4_MAX
from beacon.request_error import RequestError

_Item = TypeVar("_Item")
Granularity = Literal["boolean", "count", "record"]
Include = Literal["HIT", "MISS", "ALL", "NONE"]
MAX_LIMIT = 1000                  # records per page at most; `limit: 0` asks for this many
MAX_POSITION = INT4_MAX           # the database's integer columns; no chromosome is longer
# The largest `limit` taken (and capped to MAX_LIMIT): a signed 64-bit integer, the widest a
# JSON client commonly sends. The response echoes the limit asked, and a larger one could
# not be written as JSON (orjson), which made it a 500 instead of a 400 naming the field.
MAX_REQUESTED_LIMIT = 2**63 - 1


def _plain_integer(value: Any) -> Any:
    """A number as plain_number reads one when it arrives as text (ASCII digits only), and
    never a boolean: pydantic's int took `true` as 1, and `+1`, `1_000` and other scripts'
    digits as int() does, all of which a variantInternalId's start refuses
    (beacon/records.py); the two parsers reach the same SQL and hold positions alike."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")  # noqa: TRY004 - a 400 (pydantic)
    if isinstance(value, str) and not _digits(value):
        raise ValueError(f"{value!r} is not a number of digits 0-9")
    return value


# The bounds before the validator: after it, pydantic writes them into the JSON schema
# (/api/openapi.json) as `ge`/`le`, which no JSON Schema validator knows, not as
# minimum/maximum; enforced the same either way.
Position = Annotated[int, Field(ge=0, le=MAX_POSITION), BeforeValidator(_plain_integer)]
SYMBOLIC = re.compile(r"^<[A-Z][A-Z0-9:_]*>$")      # upper-cased; <DEL>, <DEL:ME:ALU>, ...
# What a requested variantType matches among stored types (beacon/vcf.py's vocabulary).
_VCF_TYPES: dict[str, frozenset[str]] = {
    "SNP": frozenset({"SNP"}), "SNV": frozenset({"SNP"}), "MNP": frozenset({"MNP"}),
    "MNV": frozenset({"MNP"}), "INS": frozenset({"INS"}), "DEL": frozenset({"DEL"}),
    "INDEL": frozenset({"INS", "DEL", "INDEL"}), "DUP": frozenset({"DUP"}),
    "INV": frozenset({"INV"}), "BND": frozenset({"BND"}),
    "CNV": frozenset({"CNV", "DEL", "DUP"}),
}
# The copy-number terms of the spec's "CNV Term Use Comparison" table (docs/variant-queries.md
# of ga4gh-beacon/beacon-v2), each equated there with the VCF type it stands for: gains with
# DUP, losses with DEL. A loss's or gain's level (low, high, complete, focal) is not in VCF
# data, so each level matches every loss or gain. EFO:0030066 (relative copy number
# variation, the parent of both) and SO:0001019 (copy_number_variation) are either: CNV.
_COPY_NUMBER_TERMS = {
    "EFO:0030070": "DUP", "EFO:0030071": "DUP", "EFO:0030072": "DUP", "EFO:0030073": "DUP",
    "SO:0001742": "DUP",
    "EFO:0030067": "DEL", "EFO:0030068": "DEL", "EFO:0020073": "DEL", "EFO:0030069": "DEL",
    "SO:0001743": "DEL",
    "EFO:0030066": "CNV", "SO:0001019": "CNV",
}
VARIANT_TYPES: dict[str, frozenset[str]] = {
    **_VCF_TYPES, **{term: _VCF_TYPES[kind] for term, kind in _COPY_NUMBER_TERMS.items()}}
# Spec parameters this node refuses by name (to_query; beacon/openapi.py declares none of them)
UNSUPPORTED = ("mateName",)
# an HGNC id in ASCII digits, as every number of a query: `\d` took fullwidth ones, an id
# no gene has, answered as not found where it is a 400 naming geneId. Its prefix in any
# case, as symbols: identifiers.org writes `hgnc:11998`
_GENE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,30}|(?i:HGNC):[0-9]{1,6})$")


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


def given_parameter(parameters: VariantParameters, *, besides: str | None = None) -> str | None:
    """The first request parameter given (in the schema's order) other than `besides`: what
    an endpoint the parameters cannot select refuses by name (a variant's id path, the
    filtering terms, the datasets), one rule for all, each wording its own refusal. A
    parameter sent as null is not given: the OpenAPI document declares each nullable, and a
    null one was refused as given ("the path already names the variant")."""
    given = parameters.model_fields_set
    return next((name for name in VariantParameters.model_fields
                 if name in given and name != besides
                 and getattr(parameters, name) is not None), None)


class Pagination(BaseModel):
    model_config = ConfigDict(extra="ignore")   # currentPage/nextPage tokens are not used

    skip: Position = 0                          # pages, not records (the spec's Skip)
    # 0 = all; above MAX_LIMIT capped, not refused (up to MAX_REQUESTED_LIMIT)
    limit: Annotated[int, BeforeValidator(_plain_integer)] = Field(
        default=10, ge=0, le=MAX_REQUESTED_LIMIT)


@dataclass(slots=True)
class Page:
    """The page a request asks for, as the spec defines it: `skip` counts pages of `limit`
    records (skip 2, limit 8: records 17 to 24), and `limit: 0` means "all, or the most the
    beacon allows". This node returns at most MAX_LIMIT records per page: a larger limit, or
    0, is answered with MAX_LIMIT, and `note` says so. A value, never changed once made."""

    skip: int = 0          # pages to skip, as asked
    limit: int = 10        # records per page, as asked

    @property
    def size(self) -> int:
        """The records per page this node returns."""
        return min(self.limit, MAX_LIMIT) if self.limit else MAX_LIMIT

    @property
    def offset(self) -> int:
        """The records before the page."""
        return self.skip * self.size

    def of(self, items: list[_Item]) -> list[_Item]:
        """This page of `items`, all there are in the order listed."""
        return items[self.offset:self.offset + self.size]

    def summary(self) -> dict[str, int]:
        """The pagination as the request gave it (`receivedRequestSummary.pagination`)."""
        return {"skip": self.skip, "limit": self.limit}

    def note(self) -> dict[str, Any] | None:
        """What a response's `info.pagination` says when the page is not the one asked for."""
        if self.limit and self.limit <= MAX_LIMIT:      # size == limit, without the property
            return None
        reason = ("limit 0 asks for all results" if not self.limit else
                  f"limit {self.limit} is above the most this node returns")
        return {"limit": self.size, "reason": f"{reason}: pages hold at most {MAX_LIMIT} "
                                              f"records here; skip counts pages of "
                                              f"{self.size}"}


# The requestParameters wrappers by entry type that a variant query reads (Query._unwrap)
_WRAPPERS = ("g_variant", "datasets")


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requestParameters: VariantParameters = Field(default_factory=VariantParameters)
    filters: list[Any] = Field(default_factory=list)
    includeResultsetResponses: Include = "HIT"
    pagination: Pagination = Field(default_factory=Pagination)
    requestedGranularity: Granularity = "boolean"
    # A JSON boolean only, as node/http/middleware.py reads it (asks_test_mode): read loosely
    # ("true", 1), a body the middleware did not take as test mode was answered as one
    testMode: StrictBool = False
    datasetIds: list[str] | None = None

    @field_validator("includeResultsetResponses", mode="before")
    @classmethod
    def _hit_if_null(cls, value: Any) -> Any:
        """The framework's IncludeResultsetResponses: "If null (not specified), the default
        value of 'HIT' is assumed" (a null was a 400 naming it)."""
        return "HIT" if value is None else value

    @field_validator("requestParameters", mode="before")
    @classmethod
    def _unwrap(cls, value: Any) -> Any:
        """Flat, or wrapped by entry type as the schema says (`g_variant`, and `datasets`
        holding datasetIds, as the spec's MAX example sends them); a `$schema` (the
        requestParameters schema declares one) is dropped. What stands beside the wrappers
        is read as flat parameters, so that one no model knows is refused by its own name:
        it was refused as the wrapper's (`g_variant: unknown parameter`), which is one. A
        parameter given both inside a wrapper and beside it is refused by name. A list of one
        object is that object: the GDI portal's dataset search sends a variant facet so
        (its individuals request builds the parameters as a list of maps), and it was a 400.
        Several are several variant conditions, which no query here combines: refused
        rather than one of them answered."""
        if value in (None, [], {}):
            return {}
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            if len(value) > 1:
                raise ValueError(f"{len(value)} objects: one variant condition a request "
                                 f"(send one object, or ask once for each)")
            return cls._unwrap(value[0])
        if not isinstance(value, dict):
            return value
        value = {k: v for k, v in value.items() if k != "$schema"}
        wrappers = [key for key in _WRAPPERS if key in value]
        if not wrappers:
            return value
        merged = {k: v for k, v in value.items() if k not in _WRAPPERS}
        beside = set(merged)
        for key in wrappers:
            part = value[key]
            if part is None:
                continue
            if not isinstance(part, dict):
                raise ValueError(f"{key} must be an object")  # noqa: TRY004 - a 400 (pydantic)
            if key == "datasets" and not set(part) <= {"datasetIds"}:
                raise ValueError("datasets holds only datasetIds")
            inside = {k: v for k, v in part.items() if k != "$schema"}
            if twice := sorted(beside & set(inside)):
                raise ValueError(f"{twice[0]} given both in {key} and beside it")
            merged.update(inside)
        return merged


class RequestBody(BaseModel):
    """A Beacon v2 POST body. Of `meta`, `apiVersion` and `requestedSchemas` are read, to be
    repeated in the answer's request summary (`requested_meta`); the rest is the caller's
    (`purposeOfUse`, beacon/individuals.py) or ignored.

    The request-body schema declares a `$schema` beside `meta` and `query`; the spec's query
    examples also put `requestedGranularity` and `pagination` there. All are accepted: the
    `$schema` is ignored, the other two mean what they mean inside `query`; given in both
    places, the one inside `query` is taken."""

    model_config = ConfigDict(extra="forbid")

    schema_reference: str | None = Field(default=None, alias="$schema")
    meta: dict[str, Any] = Field(default_factory=dict)
    query: Query = Field(default_factory=Query)
    requestedGranularity: Granularity | None = None
    pagination: Pagination | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_body(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _beside_query(self) -> RequestBody:
        given = self.query.model_fields_set
        if self.requestedGranularity is not None and "requestedGranularity" not in given:
            self.query.requestedGranularity = self.requestedGranularity
        if self.pagination is not None and "pagination" not in given:
            self.query.pagination = self.pagination
        return self


# A request's meta.apiVersion (None: not stated) and meta.requestedSchemas, as received.
RequestMeta = tuple[str | None, tuple[dict[str, str], ...]]
_SCHEMA_KEYS = ("entityType", "schema")
# The most schemas one request may ask: each is repeated in the answer (one an entry type is
# what clients ask), and a 1 MB body of 260,000 was answered with 3.6 MB and 0.3 s of the
# node's time, and of each network peer's it was passed on to
MAX_REQUESTED_SCHEMAS = 32


def requested_meta(meta: dict[str, Any]) -> RequestMeta:
    """What a request's meta asks of the answer, `apiVersion` and `requestedSchemas`, checked
    for the answer's `receivedRequestSummary` to repeat as received (the spec's: "what was
    requested", not the node's own values); RequestError naming what the summary could not
    repeat as the schema has it. A schema is an object of `entityType` and `schema` (its
    other keys are not repeated), or a string naming it (`["ejprd-resources-v1.0.0"]`, as
    EJP-RD's clients send it; a GET's `requestedSchema`). The answer is in the node's one
    schema per entry type whatever is asked, as `returnedSchemas` says: no other is served,
    and asking for one was never refused."""
    version = meta.get("apiVersion")
    if version is not None and (not isinstance(version, str) or not version.strip()):
        # not quoted: a value nested a thousand deep has no repr (RecursionError, a 500)
        raise RequestError("meta.apiVersion", "must be an API version, a string such as v2.0.1")
    asked = meta.get("requestedSchemas")
    if asked is None:
        return version, ()
    if not isinstance(asked, list):
        raise RequestError("meta.requestedSchemas", "must be a list of {entityType, schema}")
    if len(asked) > MAX_REQUESTED_SCHEMAS:
        raise RequestError("meta.requestedSchemas", f"at most {MAX_REQUESTED_SCHEMAS} schemas "
                                                    f"in one request, not {len(asked)}")
    schemas = []
    for n, item in enumerate(asked):
        where = f"meta.requestedSchemas[{n}]"
        if isinstance(item, str):
            item = {"schema": item}
        if not isinstance(item, dict):
            raise RequestError(where, "must be an object {entityType, schema} or a schema id")
        for key in _SCHEMA_KEYS:
            if key in item and not isinstance(item[key], str):
                raise RequestError(f"{where}.{key}", "must be a string")
        schemas.append({key: item[key] for key in _SCHEMA_KEYS if key in item})
    return version, tuple(schemas)


@dataclass(slots=True)
class VariantQuery:
    """What to look for, validated and normalised; knows nothing of HTTP or SQL.

    A value: never changed after it is made (derive with dataclasses.replace). Not declared
    frozen because a frozen dataclass sets each field through object.__setattr__, which made
    this and _Parameters the largest single cost of parsing a GET (docs/benchmarks.md)."""

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
    skip: int = 0                  # records before the page (page.offset), for the store
    limit: int = 10                # records on the page (page.size), never 0
    test_mode: bool = False
    echo: dict[str, Any] = field(default_factory=dict)
    page: Page = field(default_factory=Page)     # as asked, for the request summary
    gene: str | None = None                # geneId (upper case): placed per assembly
    protein_change: str | None = None      # aminoacidChange, canonical (p.Val600Glu)
    # meta.apiVersion and meta.requestedSchemas as received, for the request summary
    # (requested_meta); answered in the node's version and schemas whatever they say
    api_version: str | None = None
    requested_schemas: tuple[dict[str, str], ...] = ()
    # the names the annotations may give the gene, once placed on an assembly
    # (beacon/answer.py placed): a table gene's symbol, Ensembl and HGNC ids, else the
    # geneId (an Ensembl id without its version)
    gene_names: tuple[str, ...] = ()
    # the population whose frequencies each record lists (`FI_M`, `FI`, `M`: the GDI
    # portal's population filters, `population_filter`), and those filters as echoed
    population: str | None = None
    population_filters: tuple[str, ...] = ()

    def chromosome_on(self, assembly: Assembly) -> str | None:
        return assembly.normalise(self.reference_name) if self.reference_name else None

    def check_on(self, assembly: Assembly) -> None:
        """RequestError naming `start` unless a positional query's (first) start is a position
        on its chromosome on `assembly`, as a variantInternalId's must be (beacon/records.py):
        past the end it names no place, and was answered `exists: false` where the same
        position in an id is a 400. Ends are bounds and may reach past it (`end=250000000`
        for "to the chromosome's end"); nothing is stored there."""
        chromosome = self.chromosome_on(assembly) if self.kind != "none" else None
        if chromosome is not None and self.start[0] >= (length := assembly.length(chromosome)):
            on = f"chromosome {chromosome} of {assembly.id} (0 to {length - 1})"
            given = self._start_given()
            if given is None or given == self.start[0]:
                raise RequestError("start", f"{self.start[0]} is not a position on {on}")
            raise RequestError("start", f"{given} with its alleles reaches past the end of "
                                        f"{on}: they differ first at {self.start[0]}")

    def _start_given(self) -> int | None:
        """The first start as the caller gave it, before trimming the alleles' shared bases
        moved it: a refusal names it, where the moved start alone named a position the
        caller never sent (`start=248956421` with `AC>AG` was refused as "start: 248956422",
        found by a review, 2026-12-05)."""
        given = self.echo.get("g_variant", {}).get("start")
        first = given[0] if isinstance(given, list) and given else given
        return first if type(first) is int else None


def checked_bases(name: str, value: str | None, *, symbolic: bool) -> str | None:
    """An allele as the SQL takes it (upper case; bases, or a symbolic allele where one may
    stand); RequestError naming `name` for anything else, `%` and `_` included. An empty
    (trimmed) allele is _alleles' to turn into bases first."""
    if value is None:
        return None
    upper = value.upper()
    # `not upper.strip(...)`: nothing but those letters, as BASES.fullmatch says, without a
    # regular expression's call (about 3k instructions an allele, callgrind)
    if (upper and not upper.strip("ACGTN")) or (symbolic and SYMBOLIC.fullmatch(upper)):
        return upper
    raise RequestError(name, f"{value!r} is not a sequence of A, C, G, T and N (wildcard)")


@dataclass(slots=True)
class _Parameters:
    """The request parameters as plain values, however they arrived (POST body or GET)."""

    assembly_id: str | None = None
    reference_name: str | None = None
    start: tuple[int, ...] = ()
    end: tuple[int, ...] = ()
    reference_bases: str | None = None
    alternate_bases: str | None = None
    variant_type: str | None = None
    min_length: int | None = None
    max_length: int | None = None


def _coordinates(p: _Parameters) -> str:
    start, end = p.start, p.end
    if not start and not end:
        return "none"
    if not start:
        raise RequestError("start", "required when end is given")
    if p.reference_name is None:
        raise RequestError("referenceName", "required with start/end")
    if len(start) == 1 and not end:
        if p.alternate_bases is None and p.variant_type is None:
            raise RequestError("alternateBases", "required for a query with start and no end "
                                                 "(or give variantType)")
        return "sequence"
    if len(start) == 1 and len(end) == 1:
        if end[0] <= start[0]:
            raise RequestError("end", f"must be greater than start ({end[0]} <= {start[0]})")
        return "range"
    if len(start) == 2 and len(end) == 2:
        for name, pair in (("start", start), ("end", end)):
            if pair[1] < pair[0]:
                raise RequestError(name, f"bracket [{pair[0]},{pair[1]}] is reversed")
        return "bracket"
    raise RequestError("end", "give one start (sequence), one start and one end (range) or "
                              "two of each (bracket)")


def _variant_types(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    types = VARIANT_TYPES.get(value.upper())
    if types is None:
        raise RequestError("variantType", f"{value!r} is not one of {', '.join(_VCF_TYPES)} "
                                          "or a copy-number term (EFO:0030067 copy number "
                                          "loss, EFO:0030070 gain, ...; docs/beacon.md)")
    return types


# What a query's alleles ask of the store (_alleles): its start(s), reference and alternate
# bases and variant types. A tuple: a dataclass made for each query cost it about 1.5k
# instructions (callgrind)
_Alleles = tuple[tuple[int, ...], str | None, str | None, frozenset[str] | None]


def _alleles(p: _Parameters, kind: str) -> _Alleles:
    """The alleles as the store holds them. A trimmed allele (the spec's empty
    `alternateBases` for a deletion, empty `referenceBases` for an insertion) names the
    variant by its first changed base; the store keeps VCF's form, one padding base to the
    left (beacon/vcf.py). So a deletion of R at s is the DEL at s - 1 with bases N+R > N, an
    insertion of A at s the INS at s - 1 with N > N+A, `N` the padding base, whichever it
    is, and the same on both sides: the lone one is PADDING, the other allele's first base
    (store.variant_conditions). The type alone did not make it so: an allele trimmed from a
    multi-allelic record can keep its shared base on the right (`TAC T,AC` holds `TA>A`, T
    deleted), and was found as the deletion of the A after it (a range asking for any
    deletion still finds it). Sequence and bracket queries name where a variant starts, so
    their start moves left with it; a range matches the stored (padded) span."""
    types = _variant_types(p.variant_type)
    reference, alternate = p.reference_bases, p.alternate_bases
    if reference != "" and alternate != "":
        reference = checked_bases("referenceBases", reference, symbolic=False)
        alternate = checked_bases("alternateBases", alternate, symbolic=True)
        start = p.start
        if kind == "sequence" and reference is not None and alternate is not None:
            at, reference, alternate = stored_form(start[0], reference, alternate)
            start = (at,)
        return start, reference, alternate, types
    if reference == "" and alternate == "":
        raise RequestError("alternateBases", "referenceBases and alternateBases cannot both "
                                             "be empty")
    if alternate == "":
        trimmed, stored, deleted = "alternateBases", "DEL", checked_bases(
            "referenceBases", reference, symbolic=False)
        reference = None if deleted is None else "N" + deleted
        # any deletion in a range (no bases given, no start named): one whose shared base is
        # on the right is one too, its ALT a base all the same
        alternate = "N" if deleted is None and kind == "range" else PADDING
    else:
        inserted = checked_bases("alternateBases", alternate, symbolic=False)
        if inserted is None:
            raise RequestError("alternateBases", "required with an empty referenceBases "
                                                 "(the inserted bases)")
        trimmed, stored, reference, alternate = "referenceBases", "INS", PADDING, "N" + inserted
    if types is not None and stored not in types:
        raise RequestError("variantType", f"{p.variant_type!r} cannot be the variant an empty "
                                          f"{trimmed} stands for ({stored})")
    start = p.start
    if kind == "sequence" and start[0] == 0:
        raise RequestError("start", "a trimmed allele at 0 has no base to its left to pad "
                                    "it with; send the VCF-style alleles")
    if kind in ("sequence", "bracket"):
        start = tuple(max(s - 1, 0) for s in start)
    return start, reference, alternate, frozenset({stored})


def stored_form(start: int, ref: str, alt: str) -> tuple[int, str, str]:
    """A sequence query's (or variantInternalId's) start and alleles as ingest stores them:
    trimmed by the function that trims the VCF's (beacon/alleles.py `minimal`), so `ACGT>ACG` at
    999, as the VCF line `1 1000 ACGT ACG` or a padded, left-aligned gnomAD or ClinVar
    spelling writes it, is the deletion `GT>G` at 1001 it was stored as. Only alleles in
    plain bases are trimmed: a symbolic ALT or a breakend is stored as written, and an `N` is
    a pattern (any one base), not a base both alleles share (`AN>GN` asks for a two-base
    MNP; the same bases on both sides would have been trimmed away). A start the trimming
    moves past any chromosome (the database's integers) is refused rather than failing in
    the SQL."""
    if "N" in ref or alt.strip("ACGT"):
        return start, ref, alt
    at, ref, alt = minimal(start, ref, alt)
    if at > MAX_POSITION:
        raise RequestError("start", f"the alleles {ref}>{alt} trimmed start at {at}, beyond "
                                    "any chromosome")
    return at, ref, alt


@lru_cache(maxsize=1024)
def _assembly(assembly_id: str | None, reference_name: str | None) -> Assembly | None:
    """The stated assembly, or the one the reference name implies (an accession of one
    assembly's chromosome); None when neither says (select_datasets then takes the node's
    default, beacon/answer.py). Remembered: clients ask about the same few dozen names, and
    working it out normalises the name on every assembly, a quarter of a plain query's
    parse. A refusal raises each time; it is not remembered."""
    if assembly_id is None:
        if not reference_name:
            return None
        if not any(a.normalise(reference_name) for a in ASSEMBLIES.values()):
            raise RequestError("referenceName", f"{reference_name!r} is not a chromosome of "
                                                "any supported assembly")
        return implied_assembly(reference_name)
    assembly = find_assembly(assembly_id)
    if assembly is None:
        raise RequestError("assemblyId", f"{assembly_id!r} is not a supported assembly "
                                         f"({', '.join(ASSEMBLIES)} and aliases)")
    if reference_name and assembly.normalise(reference_name) is None:
        raise RequestError("referenceName", f"{reference_name!r} is not a chromosome of "
                                            f"{assembly.id}")
    return assembly


def _variant_query(p: _Parameters, dataset_ids: list[str] | None,
                   granularity: Granularity, include: Include, page: Page, test_mode: bool,
                   echo: dict[str, Any], meta: RequestMeta = (None, ())) -> VariantQuery:
    """Semantic checks the schema cannot express, then the normalised query: one code path
    for POST bodies and GET query strings, so both refuse and answer alike. An assembly the
    reference name implies is echoed as the assemblyId the query was answered on."""
    if p.min_length is not None and p.max_length is not None and p.min_length > p.max_length:
        raise RequestError("variantMinLength", "greater than variantMaxLength")
    if p.reference_name == "":     # no chromosome's name: it matched every chromosome
        raise RequestError("referenceName", "empty; name a chromosome (1 to 22, X, Y, MT or "
                                            "an accession such as NC_000017.11) or leave it out")
    kind = _coordinates(p)
    start, reference_bases, alternate_bases, variant_types = _alleles(p, kind)
    assembly = _assembly(p.assembly_id, p.reference_name)
    if assembly is not None and p.assembly_id is None:
        echo = {"assemblyId": assembly.id, **echo}
    # the default page's records without its two properties' calls (about 2k instructions)
    offset, size = (0, 10) if page is _DEFAULT_PAGE else (page.offset, page.size)
    # Every field by position, in the order VariantQuery declares them: by keyword, matching
    # 20 names cost 13.4k instructions a query, positionally 5.1k (callgrind, a hot loop)
    query = VariantQuery(
        assembly, p.reference_name, kind, start, p.end,  # type: ignore[arg-type]
        reference_bases, alternate_bases, variant_types, p.min_length, p.max_length,
        tuple(dict.fromkeys(dataset_ids)) if dataset_ids else None, granularity, include,
        offset, size, test_mode, {"g_variant": echo} if echo else {}, page, None, None,
        meta[0], meta[1])
    if assembly is not None:       # else once the assembly is chosen (beacon/answer.py)
        query.check_on(assembly)
    return query


def to_query(body: RequestBody, *, with_filters: bool = False) -> VariantQuery:
    """The normalised query of a parsed body (POST, or GET off the fast path); its filters
    are the caller's to parse (`with_filters`: individuals, beacon/filters.py) or refused."""
    q, p = body.query, body.query.requestParameters
    for name in UNSUPPORTED:
        if getattr(p, name) is not None:
            raise RequestError(name, "not supported by this node (no mates of breakends are "
                                     "stored); query by position instead")
    population = (population_filter(q.filters) if q.filters and not with_filters
                  else None)
    if population is not None and q.requestedGranularity != "record":
        raise RequestError("requestedGranularity", "population filters narrow the records' "
                                                   "frequencyInPopulations, which only "
                                                   "records carry: ask for record")
    plain = _Parameters(p.assemblyId, p.referenceName, tuple(p.start or ()), tuple(p.end or ()),
                        p.referenceBases, p.alternateBases, p.variantType, p.variantMinLength,
                        p.variantMaxLength)
    if p.genomicAlleleShortForm is not None:
        plain = _short_form(p.genomicAlleleShortForm, plain)
    echo = p.model_dump(exclude_none=True)
    if q.datasetIds:        # asked beside the parameters (asked_datasets): echoed with them
        echo["datasetIds"] = q.datasetIds
    query = _variant_query(plain, dataset_ids=asked_datasets(q),
                           granularity=q.requestedGranularity,
                           include=q.includeResultsetResponses,
                           page=Page(q.pagination.skip, q.pagination.limit),
                           test_mode=q.testMode, echo=echo, meta=requested_meta(body.meta))
    if population is not None:
        query = dataclasses.replace(query, population=population[0],
                                    population_filters=population[1])
    if p.geneId is None and p.aminoacidChange is None:
        return query
    return dataclasses.replace(query, gene=_gene(p.geneId, query),
                               protein_change=_protein_change(p.aminoacidChange))


def asked_datasets(query: Query) -> list[str] | None:
    """The datasets a request names: `datasetIds` beside its requestParameters or within
    them; RequestError naming it where both name datasets, not the same ones (those beside
    were answered and the others dropped without a word)."""
    beside, within = query.datasetIds, query.requestParameters.datasetIds
    if beside and within and set(beside) != set(within):
        raise RequestError("datasetIds", "given beside the requestParameters and within "
                                         "them, naming other datasets: give them once")
    # an empty id (`[""]`, a client's empty choice) was refused as an unknown dataset
    # named by nothing ("unknown dataset(s): "), which left the client to guess which
    if any(not asked.strip() for asked in (beside or within or ())):
        raise RequestError("datasetIds", "an empty dataset id names no dataset: give each "
                                         "dataset's id, or leave datasetIds out")
    return beside or within


def _short_form(text: str, given: _Parameters) -> _Parameters:
    """genomicAlleleShortForm (genomic HGVS, `NC_000017.11:g.7674858C>A`) as the sequence
    query it names; given alongside a chromosome, positions or alleles it would contradict
    them (a referenceName was replaced by the HGVS's chromosome, and echoed as asked)."""
    if (given.reference_name is not None or given.start or given.end
            or given.reference_bases is not None or given.alternate_bases is not None):
        raise RequestError("genomicAlleleShortForm", "give either it or referenceName, start, "
                                                     "end and alleles, not both")
    try:
        allele = parse_genomic_hgvs(text)
    except ValueError as exc:
        raise RequestError("genomicAlleleShortForm", str(exc)) from None
    stated = find_assembly(given.assembly_id) if given.assembly_id else None
    if stated and allele.assembly_id and stated.id != allele.assembly_id:
        raise RequestError("genomicAlleleShortForm", f"{text!r} is on {allele.assembly_id}, "
                                                     f"not the assemblyId {stated.id}")
    types = _variant_types(given.variant_type)
    if allele.variant_type and types is not None and allele.variant_type not in types:
        raise RequestError("variantType", f"{given.variant_type!r} cannot be the variant "
                                          f"{text!r} names ({allele.variant_type})")
    start, ref, alt = allele.start, allele.ref, allele.alt
    if allele.variant_type is not None:
        # a deletion or insertion is asked as the trimmed allele it names (`_alleles`), whose
        # padding base is the same on both sides: as `N` > `NN`, g.6001del found `TA>A` (the
        # T at 6000 deleted), which a multi-allelic `TAC T,AC` holds
        start, ref, alt = start + 1, ref[1:], alt[1:]
    return dataclasses.replace(given, assembly_id=given.assembly_id or allele.assembly_id,
                               reference_name=allele.chromosome, start=(start,),
                               reference_bases=ref, alternate_bases=alt,
                               variant_type=allele.variant_type or given.variant_type)


def _gene(value: str | None, query: VariantQuery) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not _GENE.fullmatch(value):
        raise RequestError("geneId", f"{value!r} is not an HGNC symbol (e.g. TP53) or id "
                                     "(HGNC:11998)")
    if query.kind != "none" or query.reference_name is not None:
        raise RequestError("geneId", "give either a gene or a position (referenceName, start, "
                                     "end), not both")
    return value.upper()


def _protein_change(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_aminoacid_change(value)
    except ValueError as exc:
        raise RequestError("aminoacidChange", str(exc)) from None


def parse_body(raw: Any) -> RequestBody:
    try:
        return RequestBody.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc) from None


def _first_error(exc: ValidationError, prefix: str = "") -> RequestError:
    """The first problem, naming its field, in the node's words where pydantic's are its own:
    a value that is no object named the model it should have been ("Input should be a valid
    dictionary or instance of RequestBody"), and a check's own words came after "Value
    error, "."""
    error = exc.errors()[0]
    path = prefix + ".".join(str(p) for p in error["loc"] if not isinstance(p, int)) or "body"
    if error["type"] == "extra_forbidden":
        return RequestError(path, "unknown parameter")
    if error["type"] == "model_type":
        return RequestError(path, "must be a JSON object")
    if error["type"] == "value_error":
        return RequestError(path, str(error["ctx"]["error"]))
    return RequestError(path, error["msg"])


# GET: spellings seen in the spec's documents and in clients, mapped to the body's names.
GET_ALIASES = {"assemblyID": "assemblyId", "granularity": "requestedGranularity",
               "includeResultSetResponses": "includeResultsetResponses",
               "datasets": "datasetIds", "datasetId": "datasetIds",
               "geneid": "geneId", "allele": "genomicAlleleShortForm"}
# Of those, the names the spec's own OpenAPI gives the GET parameters (endpoints.json of
# genomicVariations): not deprecated spellings, the spec's
SPEC_GET_NAMES = frozenset({"geneid", "allele"})
# The spec's GET parameter naming the schema asked for: a body's meta.requestedSchemas
REQUESTED_SCHEMA = "requestedSchema"
_GET_QUERY_KEYS = {"requestedGranularity", "includeResultsetResponses", "testMode", "filters"}
_GET_PAGINATION = {"skip", "limit"}
_GET_LISTS = {"start", "end", "datasetIds", "filters"}
_POSITIONS = {"start", "end"}
# A GET's testMode: anything else is a 400 naming it (`maybe` was silently false).
_GET_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


# A GET filter's duration with a decimal comma (`filters=AGE:<P1,5Y`, which POST takes as
# `"value": "P1,5Y"`, beacon/durations.py) is split by the list's commas into `AGE:<P1` and
# `5Y`; the pieces are joined again where neither could be a filter alone: the first ends in a
# duration's number after an operator (no designator yet: no duration), the second is a
# fraction and designators only (no `:`: neither a term nor a field's filter).
_UNFINISHED_DURATION = re.compile(r"[=<>!]P[0-9YMWDTHS.,]*[0-9]\Z", re.IGNORECASE)
_DURATION_REST = re.compile(r"[0-9]+[YMWDHS][0-9YMWDTHS.,]*", re.IGNORECASE)


def _filter_items(values: list[str]) -> list[str]:
    """A GET's filters: comma-separated, but for the comma of a duration (above), within one
    `filters` parameter and with nothing around that comma (`P1, 5Y` is no duration)."""
    items: list[str] = []
    for value in values:
        pieces: list[str] = []
        for piece in value.split(","):
            if (pieces and _DURATION_REST.fullmatch(piece)
                    and _UNFINISHED_DURATION.search(pieces[-1])):
                pieces[-1] += "," + piece
            else:
                pieces.append(piece)
        items += [piece.strip() for piece in pieces if piece.strip()]
    return items


def _get_value(key: str, values: list[str]) -> Any:
    """A GET parameter's value as the body would give it. An empty item of a list is left out
    (`datasetIds=A,`), but for a position's: a bracket written with an open end
    (`start=,1000&end=,1100`) was answered as the range its other bounds make, a question
    not asked, where the body's null bound is a 400."""
    if key == "filters":
        return _filter_items(values)
    if key in _GET_LISTS:
        items = [item.strip() for v in values for item in v.split(",")]
        if key in _POSITIONS and "" in items:
            raise RequestError(key, f"an empty bound in {','.join(values)!r}: give each bound "
                                    "as a number (an open end as 0, or as a position past the "
                                    "chromosome's end)")
        return [item for item in items if item]
    if len(values) > 1:
        raise RequestError(key, "given more than once")
    value = values[0]
    if key == "testMode":
        if (flag := _GET_FLAGS.get(value.lower())) is None:
            raise RequestError(key, f"must be true or false, not {value!r}")
        return flag
    return value


# What a test-mode answer's `info.testMode` says (node/http/beacon_api.py, listing_info).
TEST_MODE_NOTE = ("test mode: answered without authentication and from none of this node's "
                  "data, in the shape asked: it shows the request was understood, not what "
                  "the node holds")


def listing_info(page: Page | None, test_mode: bool) -> dict[str, Any]:
    """A listing's `info` (the datasets, the filtering terms): what the node did with a page
    it does not serve as asked, and the test-mode note; empty when there is neither. One
    for both listings, so they say it alike."""
    info: dict[str, Any] = {}
    if page is not None and (note := page.note()) is not None:
        info["pagination"] = note
    if test_mode:
        info["testMode"] = TEST_MODE_NOTE
    return info


def asks_test_mode(posted: bool, pairs: Iterable[tuple[str, str]], body: bytes) -> bool:
    """Whether a request is in test mode, read as its parser will read it (a POST body's
    `query.testMode` when `posted`, else the query string's `testMode`, as a GET's and a
    HEAD's are read); False for anything that does not parse.
    The framework says a beacon MUST answer a test-mode request "skipping any user
    authentication": node/http/middleware.py lets such a request through a token that does
    not verify, as anonymous, and the answer holds none of the node's data."""
    if not posted:
        values = [value for key, value in pairs if key == "testMode"]
        return len(values) == 1 and _GET_FLAGS.get(values[0].lower(), False)
    try:
        raw = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return False
    query = raw.get("query") if isinstance(raw, dict) else None
    return isinstance(query, dict) and query.get("testMode") is True


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(GET_ALIASES.get(key, key), []).append(value)
    return grouped


def parse_get(pairs: Iterable[tuple[str, str]]) -> RequestBody:
    """A GET query string as the equivalent POST body (`requestedSchema` as its
    meta.requestedSchemas)."""
    parameters: dict[str, Any] = {}
    query: dict[str, Any] = {"pagination": {}}
    meta: dict[str, Any] = {}
    for key, values in _grouped(pairs).items():
        value = _get_value(key, values)
        if key == REQUESTED_SCHEMA:
            if not value.strip():
                raise RequestError(key, "empty; name a schema (e.g. "
                                        "ga4gh-beacon-variant-v2.0.0) or leave it out")
            meta["requestedSchemas"] = [{"schema": value}]
        elif key in _GET_QUERY_KEYS:
            query[key] = value
        elif key in _GET_PAGINATION:
            query["pagination"][key] = value
        else:
            parameters[key] = value
    query["requestParameters"] = parameters
    try:
        # Straight to Query: a GET's only meta is the requestedSchema read above, and
        # skipping the envelope's validation is measurable on the hot path.
        return RequestBody.model_construct(meta=meta, query=Query.model_validate(query))
    except ValidationError as exc:
        raise _first_error(exc, prefix="query.") from None


# The GET fast path: the plain, well-formed query strings clients send most, turned into a
# VariantQuery without building pydantic models (in a busy server their validation and
# serialisation cost several times what a micro-benchmark shows; docs/benchmarks.md).
# Anything else -- an unknown or repeated key, an alias, a value outside these forms --
# returns None and takes the full path, which also words every refusal.
_FAST_STRINGS = frozenset({"assemblyId", "referenceName", "referenceBases", "alternateBases",
                           "variantType"})
# numeric keys: how many comma-joined numbers each takes (0: one number, not a list)
_FAST_NUMBERS = {"start": 2, "end": 2, "variantMinLength": 0, "variantMaxLength": 0}
_FAST_KEYS = _FAST_STRINGS | set(_FAST_NUMBERS) | {
    "requestedGranularity", "includeResultsetResponses", "skip", "limit"}
_ECHO_RANK = {name: rank for rank, name in enumerate(VariantParameters.model_fields)}
_GRANULARITIES = frozenset(get_args(Granularity))
_INCLUDES = frozenset(get_args(Include))


def _digits(text: str) -> bool:
    """ASCII digits only: no sign, spaces, `_` or other scripts' digits, which int() takes."""
    return text.isdigit() and text.isascii()


def plain_number(value: str, high: int = MAX_POSITION) -> int | None:
    """A number of ASCII digits only, at most `high`; else None. Stricter than int(), which
    takes a sign, surrounding spaces, `_` between digits and other scripts' digits."""
    if not _digits(value) or len(value) > 10:
        return None
    number = int(value)
    return number if number <= high else None


def _fast_number(value: str, most: int) -> int | list[int] | None:
    """A plain number, or (`most` > 0) a comma-joined list of at most `most` numbers."""
    if not most:
        return plain_number(value)
    if "," not in value:            # one number, as most are: no list of them to check
        number = plain_number(value)
        return None if number is None else [number]
    items = value.split(",")
    numbers = [plain_number(item) for item in items] if len(items) <= most else [None]
    return None if None in numbers else numbers  # type: ignore[return-value]


def query_from_get(pairs: Iterable[tuple[str, str]]) -> VariantQuery | None:
    """The query of a plain GET, equal to to_query(parse_get(pairs)); None = not plain."""
    given: dict[str, str] = {}
    for key, value in pairs:
        if key in given or key not in _FAST_KEYS:
            return None
        given[key] = value
    granularity = given.pop("requestedGranularity", "boolean")
    include = given.pop("includeResultsetResponses", "HIT")
    if granularity not in _GRANULARITIES or include not in _INCLUDES:
        return None
    page = _get_page(given)
    if page is None:
        return None
    echo: dict[str, Any] = {}
    for key, value in given.items():
        if key in _FAST_STRINGS:
            echo[key] = value
        elif (number := _fast_number(value, _FAST_NUMBERS[key])) is None:
            return None
        else:
            echo[key] = number
    return _plain_query(echo, granularity, include, page)  # type: ignore[arg-type]


def _get_page(given: dict[str, str]) -> Page | None:
    """The page of a plain GET's `skip` and `limit` (taken out of `given`); None where one
    is not a plain number. Without either, as most GETs are, the one shared default page
    (_plain_page's): checking and making one cost about 3k instructions a request."""
    if "skip" not in given and "limit" not in given:
        return _DEFAULT_PAGE
    skip = plain_number(given.pop("skip")) if "skip" in given else 0
    limit = plain_number(given.pop("limit")) if "limit" in given else 10
    return None if skip is None or limit is None else Page(skip, limit)


def _plain_query(echo: dict[str, Any], granularity: Granularity, include: Include,
                 page: Page, meta: RequestMeta = (None, ())) -> VariantQuery:
    """A fast path's query from the parameters it read (`echo`, as given) and its body's
    `meta` (a GET has none): the full path's semantic checks and normalising, with the echo
    in the model's key order."""
    return _ordered_query({k: echo[k] for k in sorted(echo, key=_ECHO_RANK.__getitem__)},
                          granularity, include, page, meta)


def _ordered_query(echo: dict[str, Any], granularity: Granularity, include: Include,
                   page: Page, meta: RequestMeta) -> VariantQuery:
    """_plain_query's, of an `echo` already in the model's key order."""
    parameters = _Parameters(
        echo.get("assemblyId"), echo.get("referenceName"), tuple(echo.get("start", ())),
        tuple(echo.get("end", ())), echo.get("referenceBases"), echo.get("alternateBases"),
        echo.get("variantType"), echo.get("variantMinLength"), echo.get("variantMaxLength"))
    # by position: keywords took matching eight names a query
    return _variant_query(parameters, None, granularity, include, page, False, echo, meta)


# The POST fast path: the plain bodies clients send most -- `{"meta": {...}, "query":
# {"requestParameters": {...}, "filters": [...], "requestedGranularity": "count",
# "includeResultsetResponses": "HIT", "testMode": false, "pagination": {}}}`, the GDI portal's
# shape -- turned into a VariantQuery without building pydantic models, as query_from_get
# does for GETs. Values must already have the model's exact types (strings, integers, lists
# of one or two integers); anything else -- a number as a string, a null, a wrapped or
# `$schema`-carrying requestParameters, test mode, pagination beyond skip and limit,
# datasetIds, a gene -- returns None and takes the full path, which also words every refusal.
_POST_BODY_KEYS = frozenset({"meta", "query"})
_POST_QUERY_KEYS = frozenset({"requestParameters", "filters", "requestedGranularity",
                              "includeResultsetResponses", "testMode", "pagination"})
_POST_NUMBERS = frozenset({"variantMinLength", "variantMaxLength"})
_POST_LISTS = frozenset({"start", "end"})


@dataclass(slots=True)
class PlainBody:
    """A plain POST body as the fast path read it: its variant query, its filters as sent
    (the caller's to parse, beacon/filters.py) and its `meta`."""

    query: VariantQuery
    filters: list[Any]
    meta: dict[str, Any]


def _plain_position(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_POSITION


def _plain_positions(value: Any) -> list[int] | None:
    """`start`/`end` as the model takes them (one number, or a list of one or two), or None
    where the value is not plainly that."""
    if type(value) is list:
        # the elements tested in line: all(map(_plain_position, value)) took a call each
        if 1 <= len(value) <= 2 and all(type(v) is int and 0 <= v <= MAX_POSITION
                                        for v in value):
            return value
        return None
    return [value] if _plain_position(value) else None


def _plain_page(value: Any) -> Page | None:
    """`pagination` as the model takes it when it holds only plain `skip` and `limit`. An
    empty one (or none), as most bodies send, is the default page, one Page shared (a
    value): checking and making one cost about 8k instructions a request."""
    if type(value) is not dict:
        return None
    if not value:
        return _DEFAULT_PAGE
    if not value.keys() <= _PAGE_KEYS:
        return None
    skip, limit = value.get("skip", 0), value.get("limit", 10)
    if not (_plain_position(skip) and type(limit) is int
            and 0 <= limit <= MAX_REQUESTED_LIMIT):
        return None
    return Page(skip, limit)


_DEFAULT_PAGE = Page()
_PAGE_KEYS = frozenset({"skip", "limit"})


def query_from_post(raw: Any, *, with_filters: bool = False) -> PlainBody | None:
    """The query of a plain POST body, equal to to_query(parse_body(raw), with_filters=...)
    with the body's filters and meta; None = not plain. Filters are plain only where the
    caller takes them (`with_filters`), else the full path refuses them."""
    if type(raw) is not dict or not raw.keys() <= _POST_BODY_KEYS:
        return None
    meta, query = raw.get("meta", {}), raw.get("query", {})
    if type(meta) is not dict or type(query) is not dict or not query.keys() <= _POST_QUERY_KEYS:
        return None
    filters = query.get("filters", [])
    granularity = query.get("requestedGranularity", "boolean")
    include = query.get("includeResultsetResponses", "HIT")
    # absent: the default page (a `null` one is not plain: the full path refuses it)
    page = _plain_page(query["pagination"]) if "pagination" in query else _DEFAULT_PAGE
    if (type(filters) is not list or (filters and not with_filters)
            or type(granularity) is not str or granularity not in _GRANULARITIES
            or type(include) is not str or include not in _INCLUDES
            or query.get("testMode", False) is not False or page is None):
        return None
    given = query.get("requestParameters")
    if type(given) is not dict:           # none, or an empty list, asks nothing
        if given is not None and given != []:
            return None
        given = {}
    echo: dict[str, Any] = {}
    for key, value in given.items():
        if key in _FAST_STRINGS:
            if type(value) is not str:
                return None
            echo[key] = value
        elif key in _POST_LISTS:
            if (positions := _plain_positions(value)) is None:
                return None
            echo[key] = positions
        elif key in _POST_NUMBERS and _plain_position(value):
            echo[key] = value
        else:
            return None
    try:
        asked = requested_meta(meta)
    except RequestError:
        return None                 # the full path words the refusal
    return PlainBody(_plain_query(echo, granularity, include, page,  # type: ignore[arg-type]
                                  asked), filters, meta)


# The POST fast path's first reading: the body decoded by msgspec straight into these types,
# so that its type and range checks, which query_from_post makes in Python on orjson's
# objects, are made in C while it is read (query_from_post and orjson.loads were about 70k
# instructions of an individuals count, callgrind). What they refuse -- an unknown key, a
# value of another type or out of range, a `null` -- is read as before (post_query), which
# takes or refuses it as it always did; what they take is exactly what query_from_post
# takes. `meta` and `filters` are kept as their JSON text and read by orjson, so that their
# values are orjson's (an integer past 64 bits is its float; msgspec keeps it whole), as
# is every refusal of their text (msgspec skips over it without checking it all).
_TypedPosition = Annotated[int, msgspec.Meta(ge=0, le=MAX_POSITION)]
_TypedPositions = (Annotated[list[_TypedPosition], msgspec.Meta(min_length=1, max_length=2)]
                   | _TypedPosition | msgspec.UnsetType)


class _TypedParameters(msgspec.Struct, forbid_unknown_fields=True):
    """The parameters the fast path takes, in VariantParameters' order (the echo's)."""

    assemblyId: str | msgspec.UnsetType = msgspec.UNSET
    referenceName: str | msgspec.UnsetType = msgspec.UNSET
    start: _TypedPositions = msgspec.UNSET
    end: _TypedPositions = msgspec.UNSET
    referenceBases: str | msgspec.UnsetType = msgspec.UNSET
    alternateBases: str | msgspec.UnsetType = msgspec.UNSET
    variantType: str | msgspec.UnsetType = msgspec.UNSET
    variantMinLength: _TypedPosition | msgspec.UnsetType = msgspec.UNSET
    variantMaxLength: _TypedPosition | msgspec.UnsetType = msgspec.UNSET


class _TypedPage(msgspec.Struct, forbid_unknown_fields=True):
    skip: _TypedPosition = 0
    limit: Annotated[int, msgspec.Meta(ge=0, le=MAX_REQUESTED_LIMIT)] = 10


_NO_FILTERS = msgspec.Raw(b"[]")
_NO_META = msgspec.Raw(b"{}")


class _TypedQuery(msgspec.Struct, forbid_unknown_fields=True):
    requestParameters: _TypedParameters | None = None
    filters: msgspec.Raw = _NO_FILTERS
    requestedGranularity: Granularity = "boolean"
    includeResultsetResponses: Include = "HIT"
    testMode: bool = False
    pagination: _TypedPage | msgspec.UnsetType = msgspec.UNSET


class _TypedBody(msgspec.Struct, forbid_unknown_fields=True):
    meta: msgspec.Raw = _NO_META
    query: _TypedQuery = msgspec.field(default_factory=_TypedQuery)


_TYPED_BODY = msgspec.json.Decoder(_TypedBody)


def post_query(body: bytes, *, with_filters: bool = False) -> PlainBody | None:
    """The query of a plain POST body as sent (bytes), equal to query_from_post of its JSON;
    None = not plain, or not JSON."""
    try:
        typed = _TYPED_BODY.decode(body)
        meta_text = bytes(typed.meta)
        read = _METAS.get(meta_text)
        if read is None:
            read = _read_meta(meta_text)
        filters = orjson.loads(bytes(typed.query.filters))
    except (msgspec.DecodeError, orjson.JSONDecodeError, RecursionError):
        # RecursionError: nested deeper than msgspec reads, which orjson may still take
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return query_from_post(raw, with_filters=with_filters)
    query = typed.query
    meta, asked = read
    if (asked is None or type(filters) is not list or (filters and not with_filters)
            or query.testMode):
        return None                 # not plain; a refusal the full path words
    # the parameters given, in the model's order; one position is a list of it
    echo = (msgspec.to_builtins(query.requestParameters)
            if query.requestParameters is not None else {})
    if type(echo.get("start")) is int:
        echo["start"] = [echo["start"]]
    if type(echo.get("end")) is int:
        echo["end"] = [echo["end"]]
    given = query.pagination
    page = _DEFAULT_PAGE if given is msgspec.UNSET else Page(given.skip, given.limit)
    return PlainBody(_ordered_query(echo, query.requestedGranularity,
                                    query.includeResultsetResponses, page, asked),
                     filters, meta)


# post_query's memory of the metas it read, by their JSON text: a client sends the same one
# with every body (`{"apiVersion": "v2.0"}`), and reading it (orjson, requested_meta) cost
# about 5k instructions a body. Bounded as beacon/individuals.py's filters' memory is; a
# meta that is not plain is not remembered (its refusal is the full path's to word).
_METAS: dict[bytes, tuple[dict[str, Any], RequestMeta | None]] = {}
_METAS_MOST = 1024
_METAS_LONGEST = 1024


def _read_meta(text: bytes) -> tuple[dict[str, Any], RequestMeta | None]:
    """A body's meta as JSON text: the meta (shared by every body that sends this text, so
    never changed: it is only read, for the purpose of use) and what it asks of the answer
    (requested_meta); None for what it asks where it is not plain. orjson's error raises."""
    meta = orjson.loads(text)
    if type(meta) is not dict:
        return {}, None
    try:
        read: tuple[dict[str, Any], RequestMeta | None] = (meta, requested_meta(meta))
    except RequestError:
        return meta, None
    if len(text) <= _METAS_LONGEST:
        if len(_METAS) >= _METAS_MOST:
            _METAS.clear()
        _METAS[text] = read
    return read
