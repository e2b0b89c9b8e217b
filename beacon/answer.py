"""Answering a variant query over the node's datasets: which datasets are asked, at which
granularity each may answer, and the response shape. No HTTP here.

Granularity is decided per dataset (`beacon.disclosure.ceiling`): a PUBLIC dataset may answer
with records while a CONTROLLED one in the same response only says whether it has a hit. The
response's `returnedGranularity` is the highest any dataset answered at. Each resultSet
carries its own in `info.returnedGranularity`; a boolean-level dataset's `resultsCount` is 0,
because its count is not the caller's to see. `numTotalResults` sums only the counts the
caller may see.

What each dataset may reveal is the disclosure engine's (beacon/disclosure.py): its allele
floor is a condition of the SQL, so a variant below it is found by no query form; its counts
are reported as precisely as the caller's tier allows, with `countPrecision` and
`countAdjustedTo` on the summary and on every resultSet.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from auth.policy import highest, lowest
from beacon import store
from beacon.accounts import account_tally, answer_from_account
from beacon.assemblies import ASSEMBLIES, DEFAULT_ASSEMBLY
from beacon.datasets import Seen
from beacon.disclosure import ReportedCount, is_rare, precision_fields, report
from beacon.genes import gene
from beacon.info import ENTRY_TYPES, returned_schemas
from beacon.losses import answer_as_seen, take_turn, tally, turn_key
from beacon.populations import called_alleles, ploidy
from beacon.records import genomic_variation, parse_variant_id
from beacon.request import (
    RequestBody,
    VariantQuery,
    given_parameter,
    stored_form,
    to_query,
)
from beacon.request_error import RequestError
from beacon.responses import request_summary, response_meta
from beacon.visibility import Floor
from beacon.workload import Queries, is_wide

GENOMIC_VARIANT = next(e for e in ENTRY_TYPES if e.id == "genomicVariant")
_SCHEMAS = returned_schemas(GENOMIC_VARIANT)
_EXACT = {"countPrecision": "exact"}


@dataclass
class DatasetAnswer:
    seen: Seen
    granularity: str
    count: ReportedCount                 # as the caller's tier may see it
    rare: bool = False                   # the hit includes a variant just above the floor
    results: list[dict[str, Any]] = field(default_factory=list)
    allele_number: int | None = None     # a miss: alleles called at the site asked
    refused: bool = False                # the caller's account for it is spent: no answer

    @property
    def dataset(self) -> store.DatasetRow:
        return self.seen.row

    @property
    def exists(self) -> bool:
        return self.count.exists


def select_datasets(query: VariantQuery, visible: dict[str, Seen],
                    default_assembly: str = DEFAULT_ASSEMBLY) -> list[Seen]:
    """The datasets a query asks (those named: all must be visible, a hidden one is as unknown
    as a missing one). A query with a position asks one assembly, never two: the same
    coordinates are different places on GRCh37 and GRCh38, so their counts cannot be added.
    That is the stated assembly, else the one the reference name implies (beacon/request.py),
    else the one all the named datasets are on, else the node's `default_assembly`; a start
    past its chromosome's end there is a 400, as in a variantInternalId. A dataset named on
    another assembly than the stated or implied one is a 400 naming datasetIds: it was left
    out, and the answer said "not found" of a dataset never asked. A query without a
    position (filters, a variant type) asks every assembly."""
    if query.dataset_ids:
        unknown = [d for d in query.dataset_ids if d not in visible]
        if unknown:
            raise RequestError("datasetIds", f"unknown dataset(s): {', '.join(unknown)}")
        chosen = [visible[d] for d in query.dataset_ids]
    else:
        chosen = list(visible.values())
    assembly_id = answered_assembly(query, chosen, default_assembly)
    if assembly_id is None:
        return chosen
    if query.dataset_ids and (elsewhere := [c for c in chosen if c.row.assembly != assembly_id]):
        raise RequestError("datasetIds", "the query is answered on " + assembly_id + ", where "
                           + ", ".join(f"{c.row.id} is on {c.row.assembly}" for c in elsewhere)
                           + ": name the datasets of one assembly, or state its assemblyId")
    return [c for c in chosen if c.row.assembly == assembly_id]


def answered_assembly(query: VariantQuery, chosen: list[Seen],
                      default_assembly: str = DEFAULT_ASSEMBLY) -> str | None:
    """The one assembly a positional query is answered on (select_datasets), None for a
    query without a position; `chosen` the datasets it names, or all it may ask."""
    if query.assembly is not None:
        return query.assembly.id                    # its positions checked when parsed
    if query.reference_name is None:
        return None
    if query.dataset_ids:
        named = sorted({c.row.assembly for c in chosen})
        if len(named) > 1:
            raise RequestError("assemblyId", f"required: datasetIds name datasets on "
                                             f"{' and '.join(named)}, where the same "
                                             "position is a different place")
        assembly_id = named[0]
    else:
        assembly_id = default_assembly
    query.check_on(ASSEMBLIES[assembly_id])
    return assembly_id


def on_other_assemblies(query: VariantQuery, visible: dict[str, Seen],
                        default_assembly: str = DEFAULT_ASSEMBLY) -> dict[str, list[str]]:
    """The datasets a positional query naming none did not ask, for they are on another
    assembly than the one it is answered on, by assembly: an answer's `info` lists them, so
    that "not found" on GRCh38 is not read as "not found" in a GRCh37 dataset the caller
    may query. The caller's own datasets only (`visible`), which /api/datasets lists too."""
    if query.dataset_ids:
        return {}
    assembly_id = answered_assembly(query, [], default_assembly)
    others: dict[str, list[str]] = {}
    for seen in visible.values():
        if assembly_id is not None and seen.row.assembly != assembly_id:
            others.setdefault(seen.row.assembly, []).append(seen.row.id)
    return others


def genes_not_placed(query: VariantQuery, datasets: Iterable[Seen]) -> dict[str, str]:
    """Per assembly of the datasets asked on whose gene table a geneId's gene is not, how it
    was answered there (`placed`): from the datasets' annotations alone, where a dataset
    without them finds nothing; and on which assembly the table does hold it. An answer's
    `info` says it, so that "not found" is not read as "no variant in the gene" where the
    gene's span was never looked at (F5 is in the GRCh37 table alone: a GRCh38 dataset
    without annotations was a silent `exists: false`)."""
    if query.gene is None:
        return {}
    notes: dict[str, str] = {}
    for assembly_id in sorted({d.row.assembly for d in datasets}):
        if gene(query.gene, assembly_id) is not None:
            continue
        held = [other for other in ASSEMBLIES if gene(query.gene, other) is not None]
        where = f" (it is on {', '.join(held)})" if held else ""
        notes[assembly_id] = (f"{query.gene} is not in the node's gene table on "
                              f"{assembly_id}{where}: looked up in the datasets' annotations "
                              "alone; a dataset without annotations finds nothing")
    return notes


def located_query(variant_id: str, body: RequestBody, *, with_filters: bool = False
                  ) -> VariantQuery:
    """The query a variantInternalId stands for (records unless another granularity is
    asked): that exact allele, as a sequence query, or a bracket one when the id has an end.
    The id names the variant, so a request parameter that selects variants (any but
    datasetIds) is a 400 naming it: kept, a geneId replaced the position with the gene's span
    and a variantType or length narrowed it to nothing, while the echo showed the id alone.
    What the id leaves open is taken: datasetIds, granularity, pagination, test mode and
    (`with_filters`) the filters that select its individuals (beacon/filters.py). The echo
    is what was asked: the id's allele, as the sequence or bracket query, and datasetIds.
    An id spelling the alleles untrimmed (`GRCh38:1:999:ACGT:ACG`, as a VCF line writes
    them) is looked up as the sequence query it spells, trimmed as stored (`stored_form`):
    it finds the variant whose id is `GRCh38:1:1001:GT:G`, and the echo keeps what was
    asked."""
    parsed = parse_variant_id(variant_id)
    name = given_parameter(body.query.requestParameters, besides="datasetIds")
    if name is not None:
        raise RequestError(name, f"the path already names the variant ({variant_id}); "
                                 "ask /g_variants for variants by parameters")
    if "requestedGranularity" not in body.query.model_fields_set:
        body.query.requestedGranularity = "record"
    query = to_query(body, with_filters=with_filters)
    start, end = parsed.start, parsed.end
    starts, ends = ((start, start + 1), (end, end + 1)) if end is not None else ((start,), ())
    echo: dict[str, Any] = {"assemblyId": parsed.assembly.id, "referenceName": parsed.chromosome,
                            "start": list(starts), **({"end": list(ends)} if ends else {}),
                            "referenceBases": parsed.ref, "alternateBases": parsed.alt}
    if query.dataset_ids:
        echo["datasetIds"] = list(query.dataset_ids)
    at, ref, alt = stored_form(start, parsed.ref, parsed.alt)       # a symbolic one as it is
    return dataclasses.replace(
        query, assembly=parsed.assembly, reference_name=parsed.chromosome,
        reference_bases=ref, alternate_bases=alt,
        kind="bracket" if end is not None else "sequence",
        start=starts if end is not None else (at,), end=ends, echo={"g_variant": echo})


def placed(query: VariantQuery, assembly_id: str) -> VariantQuery:
    """The query on one assembly: a gene (geneId) becomes a range over its span there
    (beacon/genes.py), still asking for the gene, by its symbol or its Ensembl id, where the
    VCF's annotations name genes (VEP without --symbol names them by the id alone), or its
    HGNC id (VEP's HGNC_ID). A symbol or id the table does not hold is asked of the
    annotations alone (an Ensembl id without its version, as they are stored)."""
    if query.gene is None:
        return query
    found = gene(query.gene, assembly_id)
    if found is None:
        name = query.gene.split(".")[0] if query.gene.startswith("ENSG") else query.gene
        return dataclasses.replace(query, gene_names=(name,))
    return dataclasses.replace(query, gene=found.symbol.upper(), kind="range",
                               reference_name=found.chromosome, start=(found.start,),
                               end=(found.end,), gene_names=(
                                   found.symbol.upper(), found.ensembl_gene, found.hgnc_id))


async def answer_datasets(queries: Queries, query: VariantQuery, datasets: list[Seen], *,
                          base_url: str, caller: str | None = None) -> list[DatasetAnswer]:
    """Each dataset's answer, at the most the caller may see of it; `queries` decides where
    each statement runs (beacon/workload.py). Datasets sharing an assembly and an allele floor
    are counted by one statement. Where the caller's tier keeps its losses under a smooth
    floor and that statement matched variants near the floor, the dataset is answered as
    `caller` (its budget key) may see it, from that statement's matches and the ones near the
    floor read by their keys, not the query's range again (beacon/losses.py). A dataset
    whose variants name nobody is answered as the tier sees it, charged to the caller's
    account for it, or refused once that is spent (beacon/accounts.py, `by_account`)."""
    answers = [DatasetAnswer(d, lowest(query.granularity, d.ceiling), report(0, d.rules))
               for d in datasets]
    groups: dict[tuple[str, Floor, str | None, bool], list[DatasetAnswer]] = {}
    for item in answers:
        seen = item.seen
        by_account = caller is not None and seen.keeps_account
        groups.setdefault((item.dataset.assembly, seen.rules.floor,
                           caller if seen.keeps_losses or by_account else None, by_account),
                          []).append(item)
    for (assembly_id, floor, accounted, by_account), group in groups.items():
        on = placed(query, assembly_id)
        chromosome = on.chromosome_on(ASSEMBLIES[assembly_id])
        if on.reference_name and chromosome is None:
            continue                      # e.g. a GRCh37 RefSeq accession on GRCh38 data
        span = max(item.dataset.max_variant_length for item in group)
        # accounted (the caller, its answers near the floor kept): counted with the sharp
        # floor k, whose rarest match says whether a variant near the floor matched, shown to
        # the caller or not (either is charged), and whether its earlier answers decide the
        # answer (`tally`); if none matched, every match is carried by `upper` or more,
        # shown to any caller
        found = await queries.count(
            on, [i.dataset.id for i in group], chromosome, span,
            Floor(floor.k) if accounted else floor,
            (account_tally if by_account else tally)(accounted, floor) if accounted else None)
        seen_rows: dict[str, list[store.VariantRow]] = {}
        # accounted datasets whose count matched nothing near the floor: their page is read
        # after it, outside the caller's turn, so at the band's top, which is what that
        # count found. Read at the tier's floor, a version swapped in between listed its
        # near-floor variants as the tier's draw shows them, uncharged and not under the
        # caller's view: one carried only by people the caller had run out of was listed,
        # and hidden when asked again (found by a review, 2026-12-06).
        above_band: set[str] = set()
        for item in group:
            if not accounted:
                continue
            # each dataset waits for the caller's turn once, whatever its count found: a
            # wait only where something is charged tells a caller that holds its own lock
            # with a slow question whether a variant near the floor matched
            wide = is_wide(on, queries.limits)
            matches = found.get(item.dataset.id)
            if by_account:
                account = await queries.writing(wide, partial(
                    answer_from_account, caller=accounted, row=item.dataset,
                    rules=item.seen.rules, query=on, chromosome=chromosome, span=span,
                    matches=matches), turn_key(accounted))
                item.refused = account.refused
                if account.matches is None:
                    found.pop(item.dataset.id, None)
                else:
                    found[item.dataset.id] = account.matches
                continue
            if matches is None or matches.rarest >= floor.upper:
                await queries.writing(wide, partial(take_turn, caller=accounted),
                                      turn_key(accounted))
                above_band.add(item.dataset.id)
                continue
            given = await queries.writing(wide, partial(
                answer_as_seen, caller=accounted, row=item.dataset, rules=item.seen.rules,
                query=on, chromosome=chromosome, span=span, page=_page(on, item),
                matches=matches), turn_key(accounted))
            if given.matches is None:
                del found[item.dataset.id]
            else:
                found[item.dataset.id], seen_rows[item.dataset.id] = given.matches, given.records
        # "not seen in N alleles": N is a count of the dataset's, so only where the caller
        # may see its counts, and as the tier reports them (the record's alleleNumber is
        # rounded alike); exact, it undid the rounding, and a boolean-level dataset told it
        misses = [item for item in group if item.dataset.id not in found
                  and item.granularity != "boolean" and not item.refused]
        if misses and on.kind == "sequence" and on.include in ("MISS", "ALL"):
            # accounted: a site's variants near the floor may be shown at the tier and hidden
            # from this caller, whose "not seen in N alleles" must not tell which
            at = (chromosome, on.start[0], Floor(floor.upper) if accounted else floor)
            ids = [i.dataset.id for i in misses]
            numbers = await queries.run(False, lambda c, ids=ids, at=at: (
                store.site_allele_numbers(c, ids, *at)))
            # counted as the records' rows count them: a man's chrX call once, on chrY the
            # men's alone (and those of unknown sex)
            kind = ploidy(assembly_id, at[0], at[1])
            for item in misses:
                if (site := numbers.get(item.dataset.id)) is not None:
                    number = max(called_alleles(an, rows, kind) for an, rows in site)
                    item.allele_number = report(number, item.seen.rules).value
        for item in group:
            matches = found.get(item.dataset.id)
            if matches is None:
                continue
            page = _page(on, item)
            rules = item.seen.rules
            if item.dataset.id in seen_rows:
                rows = seen_rows[item.dataset.id]
            elif page is not None:
                rows = await queries.fetch(on, item.dataset.id, chromosome, span, Floor(
                    floor.upper) if item.dataset.id in above_band else floor, *page)
            item.count = report(matches.count, rules)
            item.rare = is_rare(matches.rarest, rules)
            if page is not None:
                item.results = [genomic_variation(r, item.dataset, base_url, rules,
                                                  on.population) for r in rows]
    return answers


def _page(query: VariantQuery, item: DatasetAnswer) -> tuple[int, int] | None:
    """(skip, limit) of the records the item's answer lists, if it lists any."""
    return ((query.skip, query.limit) if item.granularity == "record" and query.limit
            else None)


def unasked_granularity(known: Iterable[Seen],
                        ceiling: Callable[[Seen], str] = lambda seen: seen.ceiling) -> str:
    """The most an answer that asked no dataset (none on the query's assembly, none of those
    named there, none at all) may be given: what the caller would have been given of the
    datasets it knows, had the query been on theirs (`ceiling`: the entry type's cap, the
    variants' by default), so that the answer is at the granularity asked as it would be
    there; a count where it knows none, whose 0 says no more than `exists: false`."""
    caps = [ceiling(seen) for seen in known]
    return highest(*caps) if caps else "count"


def response(beacon_id: str, query: VariantQuery, answers: list[DatasetAnswer],
             info: dict[str, Any] | None = None, *, schemas: list[dict[str, str]] | None = None,
             filters: list[str] | None = None, unasked: str = "count") -> dict[str, Any]:
    """boolean, count or resultSets response, whichever the highest granularity given is;
    of genomic variations unless `schemas` names another entry type (individuals, with the
    `filters` they were selected by). Where no dataset was asked, the granularity asked up
    to `unasked` (unasked_granularity): it was boolean whatever was asked, a count with no
    numTotalResults."""
    # refused datasets (beacon/accounts.py) answered nothing: as if not asked (a loop, not
    # any() over a generator, whose function and generator every response made)
    returned = None
    for item in answers:
        if not item.refused:
            returned = "boolean"
            break
    if returned is None:
        returned = lowest(query.granularity, unasked)
    found, total, counted_parts = False, 0, []
    result_sets = []
    fields = None           # the one counted set's precision, which a total of it repeats
    include = query.include
    for item in answers:
        if item.refused:
            continue                    # named in the answer's info (node/http/beacon_api.py)
        count = item.count
        hit = count.value > 0                       # count.exists, without the property
        granularity = item.granularity
        counted = granularity != "boolean"
        found = found or hit
        if counted:
            if granularity != returned:
                returned = highest(returned, granularity)
            counted_parts.append(count)
            total += count.value
        # includeResultsetResponses: which datasets' resultSets the response lists
        if include == "ALL" or (include != "NONE" and hit == (include == "HIT")):
            about: dict[str, Any] = {"returnedGranularity": granularity}
            if item.allele_number is not None:
                about["alleleNumber"] = item.allele_number    # "not seen in N alleles"
            shown = {"id": item.seen.row.id, "setType": "dataset", "exists": hit,
                     "beaconId": beacon_id, "resultsCount": count.value if counted else 0}
            if counted:
                fields = precision_fields([count])
                shown.update(fields)
            shown["results"] = item.results
            shown["info"] = about
            result_sets.append(shown)
    precision = (fields if fields is not None and len(counted_parts) == 1
                 else precision_fields(counted_parts))
    body = envelope(beacon_id, query, returned, found, total, result_sets, precision,
                    schemas=schemas, filters=filters)
    if info:
        body["info"] = {**body["info"], **info} if "info" in body else dict(info)
    return body


def received(query: VariantQuery, filters: list[str] | None = None) -> dict[str, Any]:
    """`meta.receivedRequestSummary` of an answer to `query` (`filters` as echoed): also what
    the audit trail records as asked, of a question refused for its budget too."""
    page = query.page
    summary = request_summary(query.granularity, skip=page.skip, limit=page.limit,
                              schemas=list(query.requested_schemas), parameters=query.echo,
                              api_version=query.api_version)
    summary["includeResultsetResponses"] = query.include
    summary["testMode"] = query.test_mode
    summary["filters"] = filters or list(query.population_filters)
    return summary


def envelope(beacon_id: str, query: VariantQuery, returned: str, exists: bool, total: int,
             result_sets: list[dict[str, Any]], precision: dict[str, Any] | None = None, *,
             schemas: list[dict[str, str]] | None = None,
             filters: list[str] | None = None) -> dict[str, Any]:
    """A genomicVariant response to `query` at the `returned` granularity: the request
    echoed in meta as received, the summary, and at count or record the resultSets given;
    `meta.testMode` for a test-mode query. The node fills it from its datasets, the network
    (node/federation/merge.py) from its peers' answers."""
    page = query.page
    meta = response_meta(beacon_id, returned, received(query, filters), schemas or _SCHEMAS,
                         test_mode=query.test_mode)
    if returned == "boolean":
        body: dict[str, Any] = {"meta": meta, "responseSummary": {"exists": exists}}
    else:
        counted = {"exists": exists, "numTotalResults": total}
        counted.update(_EXACT if precision is None else precision)
        body = {"meta": meta, "responseSummary": counted,
                "response": {"resultSets": result_sets}}
    if (note := page.note()) is not None:
        body["info"] = {"pagination": note}
    return body
