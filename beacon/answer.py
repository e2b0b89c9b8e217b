"""Answering a variant query over the node's datasets: which datasets are asked, at which
granularity each may answer, the count floor, and the response shape. No HTTP here.

Granularity is decided per dataset (`auth.policy`): a PUBLIC dataset may answer with records
while a CONTROLLED one in the same response only says whether it has a hit. The response's
`returnedGranularity` is the highest any dataset answered at. Each resultSet carries its own
in `info.returnedGranularity`; a boolean-level dataset's `resultsCount` is 0, because its
count is not the caller's to see. `numTotalResults` sums only the counts the caller may see.

Count privacy: a count below a dataset's minimum reportable count is reported as 0 and the
dataset as not found. The total is summed from the reported counts, so it cannot leak the
suppressed number either.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from auth.policy import highest, lowest
from beacon import store
from beacon.assemblies import ASSEMBLIES
from beacon.info import ENTRY_TYPES, returned_schemas
from beacon.records import genomic_variation, parse_variant_id
from beacon.request import RequestBody, RequestError, VariantQuery, to_query
from beacon.responses import request_summary, response_meta
from beacon.workload import Queries

GENOMIC_VARIATION = next(e for e in ENTRY_TYPES if e.id == "genomicVariation")
_SCHEMAS = returned_schemas(GENOMIC_VARIATION)
FLOOR_KEY = "minReportableCount"


@dataclass
class DatasetAnswer:
    dataset: store.DatasetRow
    granularity: str
    count: int = 0                       # as reported: 0 when below the floor
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.count > 0


def select_datasets(query: VariantQuery, visible: dict[str, tuple[store.DatasetRow, str]]
                    ) -> list[tuple[store.DatasetRow, str]]:
    """The datasets a query asks, with the caller's ceiling for each: those named (all must
    be visible; a hidden one is as unknown as a missing one), on the stated assembly."""
    if query.dataset_ids:
        unknown = [d for d in query.dataset_ids if d not in visible]
        if unknown:
            raise RequestError("datasetIds", f"unknown dataset(s): {', '.join(unknown)}")
        chosen = [visible[d] for d in query.dataset_ids]
    else:
        chosen = list(visible.values())
    if query.assembly is not None:
        chosen = [c for c in chosen if c[0].assembly == query.assembly.id]
    return chosen


def located_query(variant_id: str, body: RequestBody) -> VariantQuery:
    """The query a variantInternalId stands for (records unless another granularity is
    asked): that exact allele, as a sequence query, or a bracket one when the id has an end."""
    parsed = parse_variant_id(variant_id)
    if "requestedGranularity" not in body.query.model_fields_set:
        body.query.requestedGranularity = "record"
    start, end = parsed.start, parsed.end
    return dataclasses.replace(
        to_query(body), assembly=parsed.assembly, reference_name=parsed.chromosome,
        reference_bases=parsed.ref, alternate_bases=parsed.alt,
        kind="bracket" if end is not None else "sequence",
        start=(start, start + 1) if end is not None else (start,),
        end=(end, end + 1) if end is not None else (),
        echo={"g_variant": {"assemblyId": parsed.assembly.id, "referenceName": parsed.chromosome,
                            "start": [start], "referenceBases": parsed.ref,
                            "alternateBases": parsed.alt}})


def floor_of(dataset: store.DatasetRow, default: int) -> int:
    value = dataset.metadata.get(FLOOR_KEY)
    return value if isinstance(value, int) and value > 0 else default


async def answer_datasets(queries: Queries, query: VariantQuery,
                          datasets: list[tuple[store.DatasetRow, str]], *, min_count: int,
                          base_url: str) -> list[DatasetAnswer]:
    """`datasets` pairs each dataset with the most the caller may see of it; `queries`
    decides where each statement runs (beacon/workload.py)."""
    answers = [DatasetAnswer(d, lowest(query.granularity, allowed)) for d, allowed in datasets]
    by_assembly: dict[str, list[DatasetAnswer]] = {}
    for item in answers:
        by_assembly.setdefault(item.dataset.assembly, []).append(item)
    for assembly_id, group in by_assembly.items():
        chromosome = query.chromosome_on(ASSEMBLIES[assembly_id])
        if query.reference_name and chromosome is None:
            continue                      # e.g. a GRCh37 RefSeq accession on GRCh38 data
        span = max(item.dataset.max_variant_length for item in group)
        counts = await queries.count(query, [i.dataset.id for i in group], chromosome, span)
        for item in group:
            raw = counts.get(item.dataset.id, 0)
            item.count = raw if raw >= floor_of(item.dataset, min_count) else 0
            if item.granularity == "record" and item.exists and query.limit:
                rows = await queries.fetch(query, item.dataset.id, chromosome, span,
                                           query.skip, query.limit)
                item.results = [genomic_variation(r, item.dataset, base_url) for r in rows]
    return answers


def _shown(include: str, hit: bool) -> bool:
    """includeResultsetResponses: which datasets' resultSets the response lists."""
    return include == "ALL" or (include != "NONE" and hit == (include == "HIT"))


def response(beacon_id: str, query: VariantQuery, answers: list[DatasetAnswer]) -> dict[str, Any]:
    """boolean, count or resultSets response, whichever the highest granularity given is."""
    returned, found, total = "boolean", False, 0
    result_sets = []
    for item in answers:
        hit = item.count > 0
        counted = item.granularity != "boolean"
        found = found or hit
        if counted:
            returned = highest(returned, item.granularity)
            total += item.count
        if _shown(query.include, hit):
            result_sets.append({
                "id": item.dataset.id, "setType": "dataset", "exists": hit,
                "resultsCount": item.count if counted else 0,
                "results": item.results, "info": {"returnedGranularity": item.granularity}})
    return envelope(beacon_id, query, returned, found, total, result_sets)


def envelope(beacon_id: str, query: VariantQuery, returned: str, exists: bool, total: int,
             result_sets: list[dict[str, Any]]) -> dict[str, Any]:
    """A genomicVariation response to `query` at the `returned` granularity: the request
    echoed in meta, the summary, and at count or record the resultSets given. The node fills
    it from its datasets, the network (node/federation/merge.py) from its peers' answers."""
    summary = request_summary(query.granularity, skip=query.skip, limit=query.limit,
                              schemas=_SCHEMAS, parameters=query.echo)
    summary.update({"includeResultsetResponses": query.include, "testMode": query.test_mode,
                    "filters": []})
    body: dict[str, Any] = {"meta": response_meta(beacon_id, returned, summary, _SCHEMAS),
                            "responseSummary": {"exists": exists}}
    if returned != "boolean":
        body["responseSummary"]["numTotalResults"] = total
        body["response"] = {"resultSets": result_sets}
    return body
