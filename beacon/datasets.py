"""The dataset entry type: each loaded dataset as a Beacon v2 collection record."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auth.policy import Caller
from beacon.disclosure import (
    DisclosurePolicy,
    ReportedCount,
    Rules,
    Tier,
    ceiling,
    report,
    tier_of,
)
from beacon.info import ENTRY_TYPES, returned_schemas
from beacon.responses import request_summary, response_meta
from beacon.store import DatasetRow

DATASET = next(e for e in ENTRY_TYPES if e.id == "dataset")


def dataset_record(row: DatasetRow, rules: Rules) -> dict[str, Any]:
    """Catalogue-level facts only (the same the FAIR Data Point publishes), never variants;
    its counts as precise as the caller's tier may see them (beacon/disclosure.py), and its
    variant total only to a tier without an allele floor."""
    samples = report(row.sample_count, rules)
    counts: dict[str, Any] = {"sampleCount": samples.value, **_precision("sampleCount", samples)}
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


def dataset_keys(row: DatasetRow) -> frozenset[str]:
    """The strings a ControlledAccessGrants visa may name this dataset by, matched exactly."""
    aliases = row.metadata.get("aliases") or []
    return frozenset([row.id, *(a for a in aliases if isinstance(a, str))])


def visible(rows: list[DatasetRow], caller: Caller, policy: DisclosurePolicy
            ) -> dict[str, Seen]:
    """Each dataset the caller may know of, with what they may see of it."""
    seen = {}
    for row in rows:
        keys = dataset_keys(row)
        allowed = ceiling(policy, row.access_level, keys, caller)
        if allowed is not None:
            tier = tier_of(caller, keys)
            seen[row.id] = Seen(row, allowed, tier, policy.rules(tier, row.metadata))
    return seen


def collections_response(beacon_id: str, datasets: list[Seen], *, skip: int = 0,
                         limit: int = 10) -> dict[str, Any]:
    page = datasets[skip:skip + limit] if limit else datasets[skip:]
    return collections_envelope(beacon_id, [dataset_record(d.row, d.rules) for d in page],
                                exists=bool(datasets), total=len(datasets), skip=skip,
                                limit=limit)


def collections_envelope(beacon_id: str, collections: list[dict[str, Any]], *, exists: bool,
                         total: int, skip: int, limit: int) -> dict[str, Any]:
    """A dataset collections response holding `collections`: the node's own page of datasets,
    or the network's datasets of every peer (node/federation/merge.py)."""
    schemas = returned_schemas(DATASET)
    summary = request_summary("record", skip=skip, limit=limit, schemas=schemas)
    return {"meta": response_meta(beacon_id, "record", summary, schemas),
            "responseSummary": {"exists": exists, "numTotalResults": total},
            "response": {"collections": collections}}
