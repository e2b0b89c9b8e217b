"""The dataset metadata file an operator hands to `gdi-node ingest --metadata`.

The identifier is the one key that ties the catalogue record, the Beacon resultSet id and the
ControlledAccessGrants visa value together (DOMAIN.md §1), so its form is checked here, once.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auth.access import AccessLevel

GDI_DATASET_ID = re.compile(r"^(GOE|GDI)-[A-Z]{2}-[A-Z]+-[0-9]+$")


class MetadataError(ValueError):
    """A metadata file or value that cannot be used; the message names the file and field."""


def check_dataset_id(dataset_id: str) -> str:
    if not GDI_DATASET_ID.fullmatch(dataset_id):
        raise MetadataError(
            f"dataset id {dataset_id!r} is not in GDI form "
            "(expected like GDI-FI-SYN-001: ^(GOE|GDI)-[A-Z]{2}-[A-Z]+-[0-9]+$)")
    return dataset_id


class DatasetMetadata(BaseModel):
    """One dataset's descriptive record; unknown keys are kept and stored as free metadata."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    identifier: str
    title: str = Field(min_length=1)
    description: str = ""
    access_level: AccessLevel = Field(default=AccessLevel.CONTROLLED, alias="accessLevel")
    assembly: str = "GRCh38"
    country: str | None = None
    keywords: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    publisher: str | None = None
    contact_email: str | None = Field(default=None, alias="contactEmail")

    @field_validator("identifier")
    @classmethod
    def _gdi_identifier(cls, value: str) -> str:
        return check_dataset_id(value)

    def extra_metadata(self) -> dict[str, Any]:
        """Everything beyond the columns the database keeps separately."""
        return self.model_dump(mode="json", exclude={"identifier", "title", "description",
                                                     "access_level", "assembly"})


def load_metadata(path: Path) -> DatasetMetadata:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetadataError(f"{path}: metadata file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MetadataError(f"{path}: expected a JSON object")
    try:
        return DatasetMetadata.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                             for e in exc.errors())
        raise MetadataError(f"{path}: {problems}") from None
