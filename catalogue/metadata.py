"""The dataset metadata file an operator hands to `gdi-node ingest --metadata`.

The identifier is the one key that ties the catalogue record, the Beacon resultSet id and the
ControlledAccessGrants visa value together (DOMAIN.md §1); its form is checked once, by
auth/dataset_id.py, which the Beacon's ingest uses too.

The GDI metadata model requires a publisher and a description on every dataset, so a metadata
file must state both (`REQUIRED_IN_FILE`). A dataset ingested without a file (`gdi-node ingest
--title`) has neither; its catalogue record then takes the node's defaults (node/publication/records.py).
Controlled terms default to what the GDI shapes expect (catalogue/vocabulary.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from auth.access import AccessLevel
from auth.dataset_id import check_dataset_id
from catalogue.record import (
    COUNTRY_CODE,
    EMAIL,
    ENGLISH,
    EU_DATA_THEME,
    HEALTH_THEME,
    IRI,
    MAX_DESCRIPTION,
    MAX_EMAIL,
    MAX_IRIS,
    MAX_KEYWORDS,
    MAX_NAME,
    MAX_TITLE,
    IriText,
    Keyword,
    Language,
    refuse_unstorable,
)
from catalogue.vocabulary import (
    EHDS_REGULATION,
    HUMAN_GENOMIC,
    assigned_country,
    gdi_health_categories,
)

REQUIRED_IN_FILE = ("publisher", "description")
# What a property checked by a pattern must be, told in place of the pattern: a contactEmail
# without a domain was refused with a regular expression of a hundred characters
EXPECTED_FORM = {
    "contactEmail": "an email address with a domain, e.g. desk@biobank.example.fi (no white "
                    "space, quotes or any of <>{}|\\^`)",
    "country": "an ISO 3166-1 alpha-2 code in capitals, e.g. FI",
}


class MetadataError(ValueError):
    """A metadata file or value that cannot be used; the message names the file and field."""


class DatasetMetadata(BaseModel):
    """One dataset's descriptive record; unknown keys are kept and stored as free metadata."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    identifier: str
    # The catalogue record's bounds (catalogue/record.py): a longer text loaded, and then
    # its record was refused by the catalogue
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    access_level: AccessLevel = Field(default=AccessLevel.CONTROLLED, alias="accessLevel")
    # None: not stated, and an ingest loads on the one the VCF's header names, else the
    # default (beacon/vcf.py `choose_assembly`); a default here would overrule the header
    assembly: str | None = None
    country: str | None = Field(default=None, pattern=COUNTRY_CODE)
    keywords: list[Keyword] = Field(default_factory=list, max_length=MAX_KEYWORDS)
    # The language the title, description and keywords are written in: they were published
    # tagged `@en` whatever it was (found by a review, 2026-12-05). Not `language`, which
    # DCAT's dct:language gives the data's own, and a file may already hold as free metadata
    metadata_language: Language = Field(
        default=ENGLISH, alias="metadataLanguage",
        description="BCP 47 tag of the title, description and keywords; \"\": none")
    aliases: list[str] = Field(default_factory=list)
    publisher: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    creator: str | None = Field(default=None, min_length=1, max_length=MAX_NAME,
                                description="Who produced the data; default the publisher")
    contact_email: str | None = Field(default=None, alias="contactEmail", pattern=EMAIL,
                                      max_length=MAX_EMAIL)
    contact_name: str | None = Field(default=None, alias="contactName", min_length=1,
                                     max_length=MAX_NAME)
    health_categories: list[IriText] = Field(default_factory=lambda: [HUMAN_GENOMIC],
                                             alias="healthCategories", min_length=1,
                                             max_length=MAX_IRIS)
    applicable_legislation: list[IriText] = Field(default_factory=lambda: [EHDS_REGULATION],
                                                  alias="applicableLegislation", min_length=1,
                                                  max_length=MAX_IRIS)
    themes: list[IriText] = Field(default_factory=lambda: [HEALTH_THEME], min_length=1,
                                  max_length=MAX_IRIS)

    @field_validator("identifier")
    @classmethod
    def _gdi_identifier(cls, value: str) -> str:
        return check_dataset_id(value)

    _iso_country = field_validator("country")(assigned_country)

    _gdi_health_categories = field_validator("health_categories")(gdi_health_categories)

    @field_validator("applicable_legislation")
    @classmethod
    def _iris(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not IRI.fullmatch(v)]
        if bad:
            raise ValueError(f"{bad} are not http(s) IRIs (e.g. {EHDS_REGULATION})")
        return values

    @field_validator("themes")
    @classmethod
    def _health_theme(cls, values: list[str]) -> list[str]:
        foreign = [v for v in values if not (v.startswith(EU_DATA_THEME) and IRI.fullmatch(v))]
        if foreign:
            raise ValueError(f"{foreign} are not EU data-theme IRIs ({EU_DATA_THEME}...)")
        if HEALTH_THEME not in values:
            raise ValueError(f"must include {HEALTH_THEME}: every GDI dataset is a health one")
        return values

    def extra_metadata(self) -> dict[str, Any]:
        """Everything beyond the columns the database keeps separately, under the names the
        metadata file documents (`contactEmail`, `healthCategories`, ...): the node serves
        them as they are stored, in each dataset's `info`, where clients and the web page
        read those names. A free key spelling a field's Python name (`contact_email` beside
        `contactEmail`) is dropped: the field holds the value, checked."""
        renamed = {name for name, field in type(self).model_fields.items()
                   if field.alias not in (None, name)}
        dumped = self.model_dump(mode="json", by_alias=True,
                                 exclude={"identifier", "title", "description", "access_level",
                                          "assembly"})
        return {key: value for key, value in dumped.items() if key not in renamed}


def load_metadata(path: Path) -> DatasetMetadata:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MetadataError(f"{path}: metadata file not found") from None
    except OSError as exc:                         # a directory, no permission
        raise MetadataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        raw = json.loads(data.decode("utf-8-sig"))     # a byte order mark, as the rest read
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} "
                            f"(column {exc.colno})") from None
    except RecursionError:                     # Python's parser, not the file, gave up
        raise MetadataError(f"{path}: JSON nested too deeply to read") from None
    if not isinstance(raw, dict):
        raise MetadataError(f"{path}: expected a JSON object")
    try:
        refuse_unstorable(raw)      # PostgreSQL's text and jsonb hold neither
    except ValueError as exc:
        raise MetadataError(f"{path}: {exc}") from None
    problems = [f"{name}: required in a metadata file" for name in REQUIRED_IN_FILE
                if raw.get(name) is None or (isinstance(raw[name], str) and not raw[name].strip())]
    try:
        metadata = DatasetMetadata.model_validate(raw)
    except ValidationError as exc:
        problems += [_problem(e) for e in exc.errors()]
    if problems:
        raise MetadataError(f"{path}: {'; '.join(problems)}")
    return metadata


def _problem(error: ErrorDetails) -> str:
    """One of pydantic's errors as `property: reason`, a pattern's as the form expected."""
    name = ".".join(map(str, error["loc"])) or "<root>"
    if error["type"] == "string_pattern_mismatch" and name in EXPECTED_FORM:
        return f"{name}: {error['input']!r} is not {EXPECTED_FORM[name]}"
    return f"{name}: {error['msg'].removeprefix('Value error, ')}"
