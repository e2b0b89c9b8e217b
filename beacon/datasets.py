"""The dataset entry type: each loaded dataset as a Beacon v2 collection record."""
from __future__ import annotations

from typing import Any

from auth.policy import Caller, max_granularity
from beacon.info import ENTRY_TYPES, returned_schemas
from beacon.responses import request_summary, response_meta
from beacon.store import DatasetRow

DATASET = next(e for e in ENTRY_TYPES if e.id == "dataset")


def dataset_record(row: DatasetRow) -> dict[str, Any]:
    """Catalogue-level facts only (the same the FAIR Data Point publishes), never variants."""
    return {"id": row.id, "name": row.title, "description": row.description,
            "createDateTime": row.created_at.isoformat(),
            "updateDateTime": row.updated_at.isoformat(), "version": str(row.version),
            "info": {"accessLevel": row.access_level, "assembly": row.assembly,
                     "variantCount": row.variant_count, "sampleCount": row.sample_count,
                     **{k: v for k, v in row.metadata.items() if v not in (None, [], "")}}}


def dataset_keys(row: DatasetRow) -> frozenset[str]:
    """The strings a ControlledAccessGrants visa may name this dataset by, matched exactly."""
    aliases = row.metadata.get("aliases") or []
    return frozenset([row.id, *(a for a in aliases if isinstance(a, str))])


def visible(rows: list[DatasetRow], caller: Caller, *, hide_controlled: bool
            ) -> dict[str, tuple[DatasetRow, str]]:
    """Each dataset the caller may know of, with the most they may see of it."""
    seen = {}
    for row in rows:
        allowed = max_granularity(row.access_level, dataset_keys(row), caller,
                                  hide_controlled=hide_controlled)
        if allowed is not None:
            seen[row.id] = (row, allowed)
    return seen


def collections_response(beacon_id: str, rows: list[DatasetRow], *, skip: int = 0,
                         limit: int = 10) -> dict[str, Any]:
    page = rows[skip:skip + limit] if limit else rows[skip:]
    return collections_envelope(beacon_id, [dataset_record(r) for r in page], exists=bool(rows),
                                total=len(rows), skip=skip, limit=limit)


def collections_envelope(beacon_id: str, collections: list[dict[str, Any]], *, exists: bool,
                         total: int, skip: int, limit: int) -> dict[str, Any]:
    """A dataset collections response holding `collections`: the node's own page of datasets,
    or the network's datasets of every peer (node/federation/merge.py)."""
    schemas = returned_schemas(DATASET)
    summary = request_summary("record", skip=skip, limit=limit, schemas=schemas)
    return {"meta": response_meta(beacon_id, "record", summary, schemas),
            "responseSummary": {"exists": exists, "numTotalResults": total},
            "response": {"collections": collections}}
