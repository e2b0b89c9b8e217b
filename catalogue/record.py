"""A dataset's catalogue record: the one shape that crosses every catalogue boundary.

A node builds it from its database row and metadata file, renders it as DCAT-AP /
HealthDCAT-AP RDF on its FAIR Data Point, and pushes it as JSON to the catalogue service; the
catalogue's harvester reads the same record back from the node's Turtle. Push and harvest of
one dataset must therefore give equal records, which is why every field here is something the
RDF can carry.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from auth.access import AccessLevel
from auth.dataset_id import check_dataset_id
from auth.urls import NOT_IN_URL, http_url
from catalogue.vocabulary import ASSEMBLIES, assigned_country, gdi_health_categories

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
MAX_UTC_OFFSET = timedelta(hours=14)   # the furthest xsd:dateTime's time zone may lie
MAX_COUNT = 2**63 - 1              # a count PostgreSQL's bigint (and JSON to it) holds
# The longest texts a record (and a metadata file) may give. The catalogue indexes title,
# keywords and description for search in one tsvector per dataset, which PostgreSQL caps at
# 1 MB: a 1.5 MB description of distinct words failed the push with a 500, and the node
# retried it for good, publishing none of its datasets. At these lengths the tsvector of
# both of its forms (English stems and words as written) stays under a third of the cap
# whatever the text; tests/test_catalogue_service.py pushes the worst case.
MAX_IDENTIFIER = 200               # the key of the catalogue's B-tree index, and of IRIs
MAX_TITLE = 1_000
MAX_DESCRIPTION = 20_000
MAX_KEYWORD = 200
MAX_KEYWORDS = 100
# An agent's name or identifier and a contact's name, and an email as SMTP bounds it (RFC
# 5321): unbounded, a 2.5 MB publisher name made the dataset's document larger than any
# harvester reads (catalogue/harvest.py), the catalogue's own harvest included
MAX_NAME = 1_000
MAX_EMAIL = 254
# An IRI (the record's, its Beacon's, a theme, category or legislation) and how many of each
# list: unbounded, a 2.5 MB IRI or 40,000 legislation IRIs (written twice, in the dataset
# and its distribution) made the dataset's document larger than any harvester reads, as a
# long name did. At these bounds a dataset's document stays under some 200 kB.
MAX_IRI = 2_000
MAX_IRIS = 20
Keyword = Annotated[str, Field(max_length=MAX_KEYWORD)]
# A text's BCP 47 language tag as RDF writes it (Turtle's LANGTAG, which rdflib also checks
# before it writes one), or "" for a text written without one. A harvested text keeps the
# tag its node gave it: every text was served on tagged `@en`, a Finnish-only title too,
# stating false metadata to every harvester downstream (found by a review, 2026-12-05).
ENGLISH = "en"
UNTAGGED = ""
MAX_LANGUAGE = 64
Language = Annotated[str, Field(pattern=r"^(?:[A-Za-z]+(?:-[A-Za-z0-9]+)*)?$",
                                max_length=MAX_LANGUAGE)]
IriText = Annotated[str, Field(max_length=MAX_IRI)]
# The dates a record may state: time-zoned (a date without a zone could not be compared with
# the others, and the FAIR Data Point's date, the latest of them, was a 500 for the whole
# federation), from 1900 and at most a day ahead of now (a clock a day wrong). A date in
# year 9999 made every document showing it a 500 (Last-Modified rounds up past HTTP's
# last year); one in the far future would pin the catalogue's own dates, which move
# forward only, and hide every later change from a harvester deciding by date.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)


def _unstorable(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` (None: it can)."""
    if "\x00" in text:
        return "holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"holds a lone surrogate (U+{ord(text[exc.start]):04X}), half of a "
                "character, which UTF-8 cannot encode")
    return None


def refuse_unstorable(value: Any, at: str = "") -> Any:
    """`value` (JSON as parsed), refused where it holds a text PostgreSQL cannot store: one
    with a NUL character, or a lone surrogate (JSON's `"\\ud800"` escape reads into one),
    which a record pushed or harvested, or a metadata file, could otherwise carry into a
    database and fail its write (a surrogate failed a node's ingest naming neither the file
    nor the field)."""
    if isinstance(value, str):
        problem = _unstorable(value)
        if problem:
            raise ValueError(f"{at or 'text'}: {problem}")
    elif isinstance(value, dict):
        for key, inner in value.items():
            problem = _unstorable(key)
            if problem:     # named with its escapes: the key as it is cannot be shown
                raise ValueError(f"{at or 'object'}: a key {problem}: {key[:80]!a}")
            refuse_unstorable(inner, f"{at}.{key}" if at else str(key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            refuse_unstorable(inner, f"{at}.{index}" if at else str(index))
    return value


def _writable(iri: str) -> str:
    """Every IRI of a record is written into RDF: one that RDF cannot hold made the document
    it is in a 500, on a node's FAIR Data Point and, pushed or harvested, on the catalogue's
    (found by a probe of metadata files that load). Nor one the standard library cannot
    split as a URL (`http://[x/y`, `http://a]b/`, a full-width `＃` in the host) or holding a
    Unicode non-character (U+FFFE): written, each made the RDF/XML of the document it is in
    one no parser reads, whatever harvester asks for it (found by a review, 2026-12-06);
    `http_url`'s rule, which every URL of the node's settings meets, refuses both."""
    if not IRI.fullmatch(iri):
        raise ValueError("not an http(s) IRI RDF can write (no white space or control "
                         'character, nor any of <>"{}|\\^`)')
    try:
        http_url(iri)
    except ValueError:
        raise ValueError("not an http(s) IRI with a host that a URL parser reads (no "
                         "Unicode non-character, brackets only around an IPv6 address)"
                         ) from None
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
        return refuse_unstorable(data)

    @model_serializer(mode="wrap")
    def _stated_languages(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A language field at its default is left out: the JSON of a record that states
        none stays what it was before the fields, so a node pushes what an older catalogue
        (which forbids unknown fields) takes, and a stored record equals its next push or
        harvest (an unequal one is taken for a change, and its dates moved)."""
        data = handler(self)
        if isinstance(data, dict):
            for name, field in type(self).model_fields.items():
                if name.endswith(("_language", "_languages")) and getattr(
                        self, name) == field.get_default(call_default_factory=True):
                    data.pop(name, None)
                    data.pop(field.alias or name, None)
        return data


class Agent(_Storable):
    """A foaf:Agent (publisher, creator)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(min_length=1, max_length=MAX_NAME)
    name_language: Language = Field(
        default=UNTAGGED, alias="nameLanguage",
        description="The name's BCP 47 language tag; absent or empty: none (a name as such)")
    identifier: str | None = Field(default=None, max_length=MAX_NAME)


class ContactPoint(_Storable):
    """A vcard:Kind with one name and one email."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(min_length=1, max_length=MAX_NAME)
    name_language: Language = Field(
        default=UNTAGGED, alias="nameLanguage",
        description="The name's BCP 47 language tag; absent or empty: none (a name as such)")
    email: str = Field(pattern=EMAIL, max_length=MAX_EMAIL)


class CatalogueRecord(_Storable):
    """One dataset as published; field names are the JSON the catalogue's API speaks."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    identifier: str = Field(max_length=MAX_IDENTIFIER,
                            description="GDI dataset id = Beacon resultSet id = visa value")
    iri: str = Field(max_length=MAX_IRI,
                     description="The dataset's IRI on its node's FAIR Data Point")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    title_language: Language = Field(
        default=ENGLISH, alias="titleLanguage",
        description="The title's BCP 47 language tag; absent: en; empty: none")
    description_language: Language = Field(
        default=ENGLISH, alias="descriptionLanguage",
        description="The description's BCP 47 language tag; absent: en; empty: none")
    access_rights: AccessRights = Field(alias="accessRights")
    keywords: list[Keyword] = Field(default_factory=list, max_length=MAX_KEYWORDS)
    keyword_languages: dict[Keyword, Language] = Field(
        default_factory=dict, alias="keywordLanguages", max_length=MAX_KEYWORDS,
        description="The BCP 47 language tag of each keyword not in English, by keyword "
                    "(empty: none); a keyword not listed is en")
    themes: list[IriText] = Field(default_factory=lambda: [HEALTH_THEME], min_length=1,
                                  max_length=MAX_IRIS)
    health_categories: list[IriText] = Field(alias="healthCategories", min_length=1,
                                             max_length=MAX_IRIS)
    applicable_legislation: list[IriText] = Field(alias="applicableLegislation", min_length=1,
                                                  max_length=MAX_IRIS)
    publisher: Agent
    creator: Agent
    contact_point: ContactPoint | None = Field(default=None, alias="contactPoint")
    country: str | None = Field(default=None, pattern=COUNTRY_CODE,
                                description="ISO 3166-1 alpha-2 code of the holding country")
    assembly: str = Field(description="GRCh37 or GRCh38")
    number_of_records: int | None = Field(
        default=None, alias="numberOfRecords", ge=0, le=MAX_COUNT,
        description="VCF records in the dataset; absent where anonymous callers do not see "
                    "every variant (a node's records count the ones below their floor)")
    # Optional, as in the GDI shapes and HealthDCAT-AP: a node that does not publish them
    # (another implementation's FAIR Data Point) had each dataset refused by the harvest,
    # "missing dct:issued", where the GDI portal's harvester takes it (found by a review,
    # 2026-12-05). This node's own records always carry all three.
    number_of_unique_individuals: int | None = Field(
        default=None, alias="numberOfUniqueIndividuals", ge=0, le=MAX_COUNT)
    issued: AwareDatetime | None = None
    modified: AwareDatetime | None = None
    beacon_url: str = Field(alias="beaconUrl", max_length=MAX_IRI,
                            description="Endpoint of the Beacon that answers for this dataset")

    _iso_country = field_validator("country")(assigned_country)
    _gdi_health_categories = field_validator("health_categories")(gdi_health_categories)

    @field_validator("identifier")
    @classmethod
    def _gdi_identifier(cls, value: str) -> str:
        """The GDI form the shapes require (`dct:identifier`'s sh:pattern), as the node's
        ingest requires it: the record did not check, and the catalogue published documents
        the shapes refuse (`not-a-gdi-id`, an empty identifier)."""
        return check_dataset_id(value)

    @field_validator("assembly")
    @classmethod
    def _named_assembly(cls, value: str) -> str:
        """One the RDF can name (catalogue/rdf.py): another (a tests/test_fuzz_catalogue.py
        snapshot sent `"GRCh38"` in quotes) was accepted, and its dataset document was a
        500."""
        if value not in ASSEMBLIES:
            raise ValueError(f"{value!r:.80} is not one of {', '.join(ASSEMBLIES)}")
        return value

    @field_validator("issued", "modified")
    @classmethod
    def _dated(cls, value: datetime | None) -> datetime | None:
        # xsd:dateTime's time zone is at most 14:00 from UTC: pydantic takes up to 23:59,
        # and the catalogue served a `+23:59` as a literal XSD forbids, in the dataset's
        # document and as its catalog's and the root's dates (found by a review, 2026-12-05)
        if value is None:
            return None
        offset = value.utcoffset()
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise ValueError("has a UTC offset beyond ±14:00, which xsd:dateTime cannot hold")
        if not EARLIEST <= value <= datetime.now(UTC) + AHEAD:
            raise ValueError(f"must lie between {EARLIEST.date()} and a day from now (UTC)")
        return value

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

    @field_validator("keyword_languages")
    @classmethod
    def _not_english(cls, languages: dict[str, str]) -> dict[str, str]:
        """English ones left out, as a keyword not listed is English: a record stating `en`
        equals the same record read back from its RDF."""
        return {keyword: tag for keyword, tag in sorted(languages.items()) if tag != ENGLISH}

    @model_validator(mode="after")
    def _languages_of_keywords(self) -> CatalogueRecord:
        unknown = sorted(set(self.keyword_languages) - set(self.keywords))
        if unknown:
            raise ValueError(f"keywordLanguages: {', '.join(map(repr, unknown))[:200]} "
                             "not among the keywords")
        return self

    def keyword_language(self, keyword: str) -> str:
        """The keyword's language tag ("" for none)."""
        return self.keyword_languages.get(keyword, ENGLISH)

    def to_json(self) -> dict[str, Any]:
        """The record as the catalogue's API speaks it (aliases, JSON types): what a node
        pushes, what the catalogue stores."""
        return self.model_dump(mode="json", by_alias=True)
