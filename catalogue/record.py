"""A dataset's catalogue record: the one shape that crosses every catalogue boundary.

A node builds it from its database row and metadata file, renders it as DCAT-AP /
HealthDCAT-AP RDF on its FAIR Data Point, and pushes it as JSON to the catalogue service; the
catalogue's harvester reads the same record back from the node's Turtle. Push and harvest of
one dataset must therefore give equal records, which is why every field here is something the
RDF can carry.
"""
from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from auth.access import AccessLevel
from auth.urls import NOT_IN_URL
from catalogue.vocabulary import assigned_country

if TYPE_CHECKING:
    from pydantic import ValidationError

EU_ACCESS_RIGHT = "http://publications.europa.eu/resource/authority/access-right/"
EU_DATA_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
HEALTH_THEME = EU_DATA_THEME + "HEAL"


COUNTRY_CODE = r"^[A-Z]{2}$"       # ISO 3166-1 alpha-2
# An http(s) IRI as RDF can write it: no white space and none of the characters Turtle
# cannot hold in an IRI (rdflib refuses to serialise one, and the whole document fails)
IRI = re.compile(f"^https?://[^{NOT_IN_URL}]+$")
# An email address whose mailto: IRI RDF can write, as the GDI Kind shape accepts it
EMAIL = f"^[^@:{NOT_IN_URL}]+@[^@{NOT_IN_URL}]+\\.[^@{NOT_IN_URL}]+$"
MAX_COUNT = 2**63 - 1              # a count PostgreSQL's bigint (and JSON to it) holds


def refuse_nul(value: Any, at: str = "") -> Any:
    """`value` (JSON as parsed), refused where it holds a text PostgreSQL cannot store: one
    with a NUL character, which a record pushed or harvested could otherwise carry into the
    catalogue's database and fail its write."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{at or 'text'}: holds a NUL character")
    elif isinstance(value, dict):
        for key, inner in value.items():
            if "\x00" in key:
                raise ValueError(f"{at or 'object'}: a key holds a NUL character")
            refuse_nul(inner, f"{at}.{key}" if at else str(key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            refuse_nul(inner, f"{at}.{index}" if at else str(index))
    return value


def _writable(iri: str) -> str:
    """Every IRI of a record is written into RDF: one that RDF cannot hold made the document
    it is in a 500, on a node's FAIR Data Point and, pushed or harvested, on the catalogue's
    (found by a probe of metadata files that load)."""
    if not IRI.fullmatch(iri):
        raise ValueError("not an http(s) IRI RDF can write (no white space, nor any of "
                         '<>"{}|\\^`)')
    return iri


def problems_of(exc: ValidationError) -> str:
    """A record's (or a metadata file's) validation problems as `field: reason; ...`."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                     for e in exc.errors(include_url=False))


class AccessRights(StrEnum):
    """The EU access-right authority's terms (DOMAIN.md §4)."""

    PUBLIC = "PUBLIC"
    RESTRICTED = "RESTRICTED"
    NON_PUBLIC = "NON_PUBLIC"

    @classmethod
    def of(cls, level: AccessLevel) -> AccessRights:
        """A Beacon access level as the catalogue states it: registered-only data is
        restricted, grant-only data is not public."""
        return {AccessLevel.PUBLIC: cls.PUBLIC, AccessLevel.REGISTERED: cls.RESTRICTED,
                AccessLevel.CONTROLLED: cls.NON_PUBLIC}[level]

    @property
    def iri(self) -> str:
        return EU_ACCESS_RIGHT + self.value


class _Storable(BaseModel):
    """A model the catalogue's database stores, so no text of it holds a NUL: each checks
    its own input, for a record built of the nested models (catalogue/rdf.py reads a harvested
    document into an Agent before the record) as for one parsed whole from JSON. A harvested
    publisher's name with a NUL once reached the database and failed the harvest round
    (found by tests/test_fuzz_catalogue.py)."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return refuse_nul(data)


class Agent(_Storable):
    """A foaf:Agent (publisher, creator)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    identifier: str | None = None


class ContactPoint(_Storable):
    """A vcard:Kind with one name and one email."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    email: str = Field(pattern=EMAIL)


class CatalogueRecord(_Storable):
    """One dataset as published; field names are the JSON the catalogue's API speaks."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    identifier: str = Field(description="GDI dataset id = Beacon resultSet id = visa value")
    iri: str = Field(description="The dataset's IRI on its node's FAIR Data Point")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    access_rights: AccessRights = Field(alias="accessRights")
    keywords: list[str] = Field(default_factory=list)
    themes: list[str] = Field(default_factory=lambda: [HEALTH_THEME])
    health_categories: list[str] = Field(alias="healthCategories", min_length=1)
    applicable_legislation: list[str] = Field(alias="applicableLegislation", min_length=1)
    publisher: Agent
    creator: Agent
    contact_point: ContactPoint | None = Field(default=None, alias="contactPoint")
    country: str | None = Field(default=None, pattern=COUNTRY_CODE,
                                description="ISO 3166-1 alpha-2 code of the holding country")
    assembly: str = Field(description="GRCh37 or GRCh38")
    number_of_records: int = Field(alias="numberOfRecords", ge=0, le=MAX_COUNT,
                                   description="VCF records in the dataset")
    number_of_unique_individuals: int = Field(alias="numberOfUniqueIndividuals", ge=0,
                                              le=MAX_COUNT)
    issued: datetime
    modified: datetime
    beacon_url: str = Field(alias="beaconUrl",
                            description="Endpoint of the Beacon that answers for this dataset")

    _iso_country = field_validator("country")(assigned_country)

    @field_validator("iri", "beacon_url")
    @classmethod
    def _iri(cls, value: str) -> str:
        return _writable(value)

    @field_validator("themes", "health_categories", "applicable_legislation")
    @classmethod
    def _iris(cls, values: list[str]) -> list[str]:
        return [_writable(value) for value in values]

    @field_validator("keywords", "themes", "health_categories", "applicable_legislation")
    @classmethod
    def _as_set(cls, values: list[str]) -> list[str]:
        """RDF has no order and no duplicates: sorted, unique lists make a record pushed as
        JSON equal to the same record read back from Turtle."""
        return sorted(set(values))

    def to_json(self) -> dict[str, Any]:
        """The record as the catalogue's API speaks it (aliases, JSON types): what a node
        pushes, what the catalogue stores."""
        return self.model_dump(mode="json", by_alias=True)
