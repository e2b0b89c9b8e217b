"""Test data from outside this repository, which their licences keep out of it: the Beacon v2
schemas responses are validated against, and the GDI SHACL shapes (tests/shacl.py).

Each is found through an environment variable naming a checkout of its upstream repository,
or else beside this checkout in ../shared. Absent, the tests that need it skip with one reason
saying how to get it, and every other test runs; with GDI_REQUIRE_SCHEMAS=1 (.ci/run sets it)
they fail instead, so CI cannot pass by skipping them.

The schema paths below are relative to a checkout of github.com/ga4gh-beacon/beacon-v2."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

REQUIRE = "GDI_REQUIRE_SCHEMAS"
_SHARED = Path(__file__).resolve().parent.parent.parent / "shared"

_RESPONSES = "framework/json/responses"
RESPONSE_SCHEMAS = {"boolean": f"{_RESPONSES}/beaconBooleanResponse.json",
                    "count": f"{_RESPONSES}/beaconCountResponse.json",
                    "record": f"{_RESPONSES}/beaconResultsetsResponse.json"}
COLLECTIONS_SCHEMA = f"{_RESPONSES}/beaconCollectionsResponse.json"
ERROR_SCHEMA = f"{_RESPONSES}/beaconErrorResponse.json"
INFO_SCHEMA = f"{_RESPONSES}/beaconInfoResponse.json"
MAP_SCHEMA = f"{_RESPONSES}/beaconMapResponse.json"
ENTRY_TYPES_SCHEMA = f"{_RESPONSES}/beaconEntryTypesResponse.json"
SERVICE_INFO_SCHEMA = f"{_RESPONSES}/ga4gh-service-info-1-0-0-schema.json"
# Dereferenced in the repository's bin/: the model's own refers to VRS 1.3 on w3id.org.
RECORD_SCHEMA = "bin/deref_schemas/genomicVariations/defaultSchema.json"
# Where the repository's own documents point at themselves, read from the checkout instead.
_UPSTREAM = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"


@dataclass(frozen=True)
class External:
    """Test data found through `variable`, else in ../shared/`shared_name`, when `marker` is
    in that folder; `what` and `upstream` say what it is and where to get it."""

    variable: str
    shared_name: str
    marker: str
    what: str
    upstream: str

    def path(self) -> Path:
        configured = os.environ.get(self.variable)
        return Path(configured) if configured else _SHARED / self.shared_name

    def found(self) -> bool:
        return (self.path() / self.marker).is_file()

    def missing(self) -> str:
        """Why the tests that need it did not run (skipped, or failed when required)."""
        reason = (f"{self.what} not found: set {self.variable} to a checkout of "
                  f"{self.upstream} (none at {self.path()})")
        return f"{reason}; {REQUIRE}=1 requires them" if required() else reason

    def folder(self) -> Path:
        """The folder, or the calling test skips (fails when required) saying why."""
        if self.found():
            return self.path()
        if required():
            pytest.fail(self.missing(), pytrace=False)
        pytest.skip(self.missing())


def required() -> bool:
    return os.environ.get(REQUIRE) == "1"


BEACON_V2 = External("BEACON_SCHEMAS", "beacon-v2", INFO_SCHEMA, "Beacon v2 schemas",
                     "https://github.com/ga4gh-beacon/beacon-v2")
GDI_METADATA = External("GDI_METADATA", "gdi-metadata", "shapes/Dataset.ttl", "GDI SHACL shapes",
                        "https://github.com/GenomicDataInfrastructure/gdi-metadata")
EXTERNAL = (BEACON_V2, GDI_METADATA)


def validator_for(root: Path, schema: str) -> Draft202012Validator:
    """A validator of the schema at `root`/`schema` that resolves every $ref offline: relative
    ones against the file, the repository's raw GitHub URLs against the checkout, and the
    models' ../common/info.json (missing upstream) as framework/json/common/info.json."""
    path = (root / schema).resolve()
    document = dict(json.loads(path.read_text()), **{"$id": path.as_uri()})
    return validator_of(root, document)


def validator_of(root: Path, document: dict[str, Any]) -> Draft202012Validator:
    """A validator of a schema given as a document (one the node's OpenAPI description
    declares, naming the schemas by their raw GitHub URLs), resolved as validator_for's."""
    def retrieve(uri: str) -> Resource[Any]:
        if uri.startswith(_UPSTREAM):
            path = root / uri.removeprefix(_UPSTREAM)
        else:
            path = Path(uri.removeprefix("file://"))
            if not path.exists() and path.name == "info.json" and "models" in path.parts:
                path = root / "framework/json/common/info.json"
        if not uri.startswith(("file://", _UPSTREAM)) or not path.is_file():
            raise NoSuchResource(ref=uri)
        return Resource.from_contents(json.loads(path.read_text()))

    return Draft202012Validator(document, registry=Registry(retrieve=retrieve))


def answer_errors(validate: Callable[[str, object], list[str]], collections: bool,
                  document: dict) -> list[str]:
    """What is wrong with an entry endpoint's 200 answer: its envelope against the schema of
    its kind (a collections response, or the granularity it returned), and every variant
    record it lists against the record schema."""
    schema = (COLLECTIONS_SCHEMA if collections
              else RESPONSE_SCHEMAS[document["meta"]["returnedGranularity"]])
    errors = validate(schema, document)
    for result_set in document.get("response", {}).get("resultSets", []):
        for record in result_set["results"]:
            errors += validate(RECORD_SCHEMA, record)
    return errors
