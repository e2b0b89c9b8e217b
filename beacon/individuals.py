"""Individuals: a dataset's VCF samples as the people they are, and the answers about them.

Every VCF sample is an individual (sample_index = its column, the bit that says it carries a
variant). Its phenopacket (beacon/phenopackets.py), when the operator gives them, says what is
known of it; without one it is an individual with only its id and carrier bits. Ingest
stores each individual's ontology terms with all their ancestors (beacon/individuals_rows.py),
so a filter with descendant terms is answered without an ontology at query time.

Answers go through the disclosure engine like every other (beacon/disclosure.py): counts of
individuals are reported per tier (floor, step; fewer than the floor reported as none,
`report_individuals`), the variant conditions keep their allele floor (under a smooth
floor, as the caller may see it, charged in its loss accounts: beacon/losses.py), and
individual records are only for a caller granted the dataset.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import orjson

from auth.policy import lowest
from beacon import individuals_store, store
from beacon.answer import DatasetAnswer, placed
from beacon.assemblies import ASSEMBLIES
from beacon.datasets import Seen
from beacon.disclosure import (
    ReportedCount,
    filtered_set_draw,
    is_rare,
    needs_seeds,
    report_individuals,
    term_listed,
)
from beacon.filters import (
    DURATION_FIELDS,
    Filter,
    TermFilter,
    conditions,
    echo,
    parse_filters,
)
from beacon.individuals_store import Selection
from beacon.losses import charge_set, charged_view, turn, turn_key
from beacon.ontology import known_ontology
from beacon.request import PlainBody, RequestBody, VariantQuery, to_query
from beacon.request_error import RequestError
from beacon.visibility import CallerView, Floor
from beacon.workload import Queries, is_wide

# Where a caller declares its purpose of use: the body's `meta.purposeOfUse`, or (a GET has no
# body) this header; a DUO term or text.
PURPOSE_HEADER = "X-Purpose-Of-Use"
# A DUO term as DUO writes its ids (DUO:0000006), its prefix in any letter case as the node
# reads every prefix; what starts `DUO:` is read as one, whatever else follows
_DUO = re.compile(r"(?i:DUO):[0-9]{7}", re.ASCII)
_MOST_PURPOSE = 500         # characters of a purpose kept (the audit trail's)


def purpose_of_use(stated: object, sent: Sequence[str]) -> str | None:
    """The declared purpose of use: the body's `meta.purposeOfUse` (`stated`) or the
    PURPOSE_HEADER's (`sent`: each of its lines, in order; a GET has no body), as recorded in
    the audit trail; a DUO term or printable text, else RequestError naming
    `meta.purposeOfUse` (and the header, where it came from there). Given in both places
    they must agree: the body's was taken, so the trail recorded one purpose while the
    caller's client or gateway had stated another in the header. So must the header's lines
    where it is sent more than once (a client's, and one its gateway adds): the first was
    taken, recorded and passed on to a network's peers, the others dropped, silently. A
    `DUO:` id must be DUO's form: `DUO:12` names no term, and was recorded as one. A body's
    `null` states none, as leaving it out does."""
    purpose = None if stated is None else _purpose(stated, "")
    where = f" (the {PURPOSE_HEADER} header)"
    lines = {_purpose(line, where) for line in sent}
    if len(lines) > 1:
        raise RequestError("meta.purposeOfUse", f"the {PURPOSE_HEADER} header is sent more "
                                                "than once, with different purposes: a query "
                                                "states one purpose of use")
    header = next(iter(lines), None)
    if purpose is not None and header is not None and purpose != header:
        raise RequestError("meta.purposeOfUse", f"disagrees with the {PURPOSE_HEADER} header: "
                                                "a query states one purpose of use (give it "
                                                "in one place, or the same in both)")
    given = purpose if purpose is not None else header
    return given[:_MOST_PURPOSE] if given is not None else None


def _purpose(given: object, where: str) -> str:
    """One place's purpose, stripped: printable text only (a header of bytes that are not
    UTF-8, which aiohttp hands on as lone surrogates, was a 500, and a NUL an audit entry
    the database cannot hold), and a `DUO:` id of DUO's form."""
    if not isinstance(given, str) or not given.strip() or not given.isprintable():
        raise RequestError("meta.purposeOfUse", f"must be a DUO term (e.g. DUO:0000006) or "
                                                f"printable text{where}")
    text = given.strip()
    if text[:4].upper() == "DUO:" and not _DUO.fullmatch(text):
        raise RequestError("meta.purposeOfUse", f"{text[:40]!r}{where} is no DUO term: DUO's ids "
                                                "are DUO: and seven digits (DUO:0000006)")
    return text


@dataclass(slots=True)
class IndividualsQuery:
    """Individuals matching a variant condition (none when `variant` asks nothing) and
    filters; granularity, pagination and the request echo are the variant query's. A value:
    never changed after it is made (derive with dataclasses.replace); not declared frozen,
    whose object.__setattr__ for each field cost every count 0.4 µs (as VariantQuery's,
    beacon/request.py)."""

    variant: VariantQuery
    filters: tuple[Filter, ...] = ()
    purpose: str | None = None
    individual_id: str | None = None       # /individuals/{id}
    # whether `variant` asks anything: worked out once, when the query is made (derived ones
    # too: dataclasses.replace makes them anew), where every count read it several times
    has_variant: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        v = self.variant
        self.has_variant = (v.kind != "none" or v.reference_name is not None
                            or v.reference_bases is not None or v.alternate_bases is not None
                            or v.variant_types is not None or v.min_length is not None
                            or v.max_length is not None or v.gene is not None
                            or v.protein_change is not None)


def individuals_query(body: RequestBody, *, purpose: str | None = None,
                      variant: VariantQuery | None = None,
                      individual_id: str | None = None) -> IndividualsQuery:
    """An individuals request: the body's variant parameters (or `variant`, a variant id's
    query) and its filters, checked; RequestError naming the first problem."""
    if individual_id is not None and "\x00" in individual_id:    # PostgreSQL's text holds none
        raise RequestError("id", f"{individual_id!r} cannot be an individual's id (a NUL)")
    return IndividualsQuery(variant or to_query(body, with_filters=True),
                            _filters(body.query.filters), purpose, individual_id)


def plain_individuals_query(plain: PlainBody, *, purpose: str | None = None
                            ) -> IndividualsQuery:
    """An individuals request from a plain body (beacon/request.py post_query): the
    same query individuals_query makes of the same body."""
    return IndividualsQuery(plain.query, _filters(plain.filters), purpose)


_CHECKED: dict[bytes | str, tuple[Filter, ...]] = {}   # _filters' memory, by _spelling
_CHECKED_MOST = 1024
_CHECKED_LONGEST = 2048     # what the portal sends is a few hundred characters


def _filters(raw: list[Any]) -> tuple[Filter, ...]:
    """The filters, checked, in one order (one question, one key). Remembered by their
    spelling (as JSON, which tells every JSON value from every other: 1 from 1.0 and
    true): clients repeat the same few filter lists (the portal's dropdowns), and checking
    one costs about 4% of a count's instructions (bench/individuals.py --instructions). A
    list that is refused raises each time; it is not remembered, nor is a long one: the 32
    filters of a 1 MB body took 2 MB remembered, so 1,024 such requests took 2 GB (23,000
    filters, before MAX_FILTERS, 5 MB)."""
    try:
        spelled = _spelling(raw)
    except RecursionError:
        # Nested deeper than the stack allows (the JSON parser takes 1,024 levels), which no
        # filter is: parse_filters refuses it, naming the filter and key (filter_item)
        parse_filters(raw)
        raise
    checked = _CHECKED.get(spelled)
    if checked is None:
        checked = tuple(sorted(parse_filters(raw), key=repr))
        if len(spelled) <= _CHECKED_LONGEST:
            if len(_CHECKED) >= _CHECKED_MOST:
                _CHECKED.clear()
                _PARTS.clear()
            _CHECKED[spelled] = checked
            _PARTS[id(checked)] = (checked, _derived(checked))
    return checked


def _spelling(raw: list[Any]) -> bytes | str:
    """The filters' spelling for _filters' memory: orjson's JSON (1k instructions for the
    portal's two terms, where `repr` took 9k), or the `repr` of what orjson does not write
    (nested past its 254 levels, an integer past 64 bits, a lone surrogate). Either tells
    every JSON value from every other; a bytes spelling never equals a str one."""
    try:
        return orjson.dumps(raw)
    except orjson.JSONEncodeError:
        return repr(raw)


@dataclass(frozen=True, slots=True)
class _Parts:
    """What a selection takes of its filters alone (`_selection`): their conditions and
    arguments, the `term_members` column each reads on the bits path (None: one is not an
    ontology term), and their spelling in the question's key (`_key`)."""

    conditions: tuple[str, ...]
    args: tuple[object, ...]
    columns: tuple[str, ...] | None
    spelled: str
    echo: tuple[str, ...]       # as the request summary repeats them (beacon/filters.py echo)
    # the terms of no ontology the node knows, custom filters (`undeclared`), as sent: each
    # its place in the request and its id
    custom: tuple[tuple[int, str], ...]


# _derived of each filter list _filters remembers, by the list's identity (the list itself
# kept beside it, so that the identity is not another's): worked out again for every count,
# they were about a tenth of the node's own instructions on a count (bench/individuals.py
# --instructions). By identity, not equality: ValueFilters equal as filters (1 and 1.0 days)
# are spelt apart in the key.
_PARTS: dict[int, tuple[tuple[Filter, ...], _Parts]] = {}


def _parts(filters: tuple[Filter, ...]) -> _Parts:
    remembered = _PARTS.get(id(filters))
    if remembered is not None and remembered[0] is filters:
        return remembered[1]
    return _derived(filters)


def _derived(filters: tuple[Filter, ...]) -> _Parts:
    filter_conditions, filter_args = conditions(filters)
    columns = tuple("descendants" if item.descendants else "exact" for item in filters
                    if isinstance(item, TermFilter))
    custom = sorted((item.position, term) for item in filters
                    if (term := _named_term(item)) is not None and not known_ontology(term))
    return _Parts(filter_conditions, tuple(filter_args),
                  columns if len(columns) == len(filters) else None, repr(filters),
                  tuple(echo(filters)), tuple(custom))


def _named_term(item: Filter) -> str | None:
    """The term a filter names: a term filter's, a value filter's assay (an age names none).
    A value filter's assay of a custom vocabulary is one of its terms, declared as a term
    filter's is (`undeclared`): unchecked, `Lab.Glucose:fasting` (the dataset's
    `lab.glucose:fasting`) or a vocabulary no dataset has counted nobody, a false 0 (found
    by a review, 2026-12-07)."""
    if isinstance(item, TermFilter):
        return item.id
    return None if item.field in DURATION_FIELDS else item.field


def echoed(filters: tuple[Filter, ...]) -> list[str]:
    """The filters as the response's request summary repeats them (beacon/filters.py echo)."""
    return list(_parts(filters).echo)


async def undeclared(queries: Queries, query: IndividualsQuery, datasets: list[Seen]) -> None:
    """RequestError naming the first custom filter (a term of no ontology the node knows,
    the spec's dataset-specific `demographic.ethnicity:asian`) that none of `datasets`, those
    the query asks, declares: none lists a term of its prefix in the filtering terms, as the
    caller's tier there lets it know them (beacon/disclosure.py term_listed). Read as a term,
    it matched nobody, a false "no" a bare custom id is refused for (beacon/filters.py); so
    the answer does not tell more of a dataset than its filtering terms do. One statement,
    only for a query that holds such a filter. Its prefix is compared as written: a custom
    vocabulary's terms are held and matched as its dataset writes them (beacon/ontology.py
    primary), so `Demographic.Ethnicity:asian`, taken as declared by `demographic.ethnicity`
    terms when the prefixes were compared letter case aside, matched nobody, a false 0."""
    custom = _parts(query.filters).custom
    if not custom:
        return
    rules = {seen.row.id: seen.rules for seen in datasets}
    asked = sorted({_custom_prefix(term) for _, term in custom})
    rows = await queries.run(False, lambda c: individuals_store.prefix_holders(
        c, list(rules), asked)) if rules else []
    declared = {held for dataset_id, held, holders in rows
                if term_listed(holders, rules[dataset_id])}
    for position, term in custom:
        if _custom_prefix(term) not in declared:
            raise RequestError(f"filters[{position}].id",
                               f"{term!r} is a custom filter ({_custom_prefix(term)!r} "
                               "is no ontology this node knows) and no dataset asked declares "
                               "it: none lists a term of its prefix (see /api/filtering_terms)")


def _custom_prefix(term_id: str) -> str:
    """A custom filter's prefix, as written (`undeclared`)."""
    return term_id.partition(":")[0]


def ceiling(seen: Seen) -> str:
    """Counts of individuals follow the dataset's ceiling; their records need a grant."""
    return seen.ceiling if seen.tier == "granted" else lowest(seen.ceiling, "count")


def _key(query: IndividualsQuery, chromosome: str | None, has_variant: bool,
         filters: str) -> str:
    """The question as normalised (a seed of its count's noise, beacon/disclosure.py): what
    selects the individuals, in one spelling, and nothing that varies with the datasets asked
    alongside (the SQL's range bound does), so it cannot be varied to draw fresh noise.
    `filters`: the filters' spelling (_Parts); the whole is the repr of (variant, filters,
    individual id)."""
    v = query.variant
    if not has_variant:
        return f"(None, {filters}, {query.individual_id!r})"
    # the repr of the tuple (chromosome, kind, start, end, ref, alt, sorted types, min, max,
    # gene, protein change), written out: 16.7k instructions a count as repr(tuple), 10.1k
    # so (callgrind, a hot loop); tests/test_individuals.py holds it to the tuple's repr
    types = sorted(v.variant_types) if v.variant_types else []
    return (f"(({chromosome!r}, {v.kind!r}, {v.start!r}, {v.end!r}, {v.reference_bases!r}, "
            f"{v.alternate_bases!r}, {types!r}, {v.min_length!r}, {v.max_length!r}, "
            f"{v.gene!r}, {v.protein_change!r}), {filters}, {query.individual_id!r})")


def _selection(query: IndividualsQuery, dataset_ids: list[str], assembly: str, span: int,
               floor: Floor, view: CallerView | None = None, *, seeded: bool = True
               ) -> Selection | None:
    """None when the query's chromosome is not on this assembly (nothing can match). `view`:
    one caller's view of the floor, for a query of its one dataset (beacon/losses.py).
    `seeded` false: no answer reads the count's seeds (`needs_seeds`), so the selection has
    no key and its statement hashes nothing.

    A count whose filters are all ontology terms (none, with a variant condition) and that
    names no individual takes the bits path (beacon/individuals_store.py): each filter's
    argument is its term id either way, so the arguments are the same for both paths."""
    parts = _parts(query.filters)
    filter_conditions, filter_args = parts.conditions, parts.args
    has_variant = query.has_variant
    if query.individual_id is not None:
        filter_conditions += ("i.id = {}",)
        filter_args += (query.individual_id,)
    terms = _term_columns(query, parts, has_variant)
    if not has_variant:
        key = _key(query, None, False, parts.spelled) if seeded else None
        return Selection(None, filter_conditions, [dataset_ids, *filter_args], key, terms)
    where = _placed(query.variant, assembly)
    if where is None:
        return None
    on, chromosome = where
    variant, args = store.variant_conditions(on, dataset_ids, chromosome, span, floor, view)
    key = None
    if seeded:
        placed_query = query if on is query.variant else dataclasses.replace(query, variant=on)
        key = _key(placed_query, chromosome, True, parts.spelled)
    return Selection(variant, filter_conditions, [*args, *filter_args], key, terms)


def _placed(variant: VariantQuery, assembly: str) -> tuple[VariantQuery, str | None] | None:
    """The variant condition placed on this assembly (a gene: its span there) and its
    chromosome; None when its chromosome is not on the assembly."""
    on = placed(variant, assembly)
    chromosome = on.chromosome_on(ASSEMBLIES[assembly])
    if on.reference_name and chromosome is None:
        return None
    return on, chromosome


def _term_columns(query: IndividualsQuery, parts: _Parts, has_variant: bool
                  ) -> tuple[str, ...] | None:
    """The `term_members` column each filter reads, when the bits path can answer the
    count: every filter an ontology term, no individual id, and something asked (no
    condition at all counts everyone: the rows path)."""
    if query.individual_id is not None or not (query.filters or has_variant):
        return None
    return parts.columns


async def answer_individuals(queries: Queries, query: IndividualsQuery, datasets: list[Seen],
                             caller: str | None = None) -> list[DatasetAnswer]:
    """Each dataset's answer, as much as the caller may see. Datasets sharing an assembly and
    a floor are counted by one statement, except where the caller's tier keeps its losses
    under a smooth floor (`caller`: its budget key) and the query has a variant condition:
    whether any individual carries a matching variant says whether a variant near the floor
    is there, as a variant query's answer does, so each such dataset is answered as the
    caller may see it, and charged for it (beacon/losses.py `charged_view`)."""
    asked = query.variant.granularity
    # each count is set below: a group with nothing to count reports none (`_none`)
    answers = [DatasetAnswer(d, lowest(asked, ceiling(d)), _UNCOUNTED) for d in datasets]
    has_variant = query.has_variant
    grouped: list[tuple[tuple[str, Floor, str | None], list[DatasetAnswer]]]
    if len(answers) == 1:
        # one dataset, as most nodes hold: its own group, whose key is never hashed (a
        # Floor's hash is a Python call; with the max of one span through a generator,
        # 5-8k instructions a count, bench/individuals.py --instructions, stop 65)
        grouped = [(_group(answers[0], caller, has_variant), answers)]
    else:
        groups: dict[tuple[str, Floor, str | None], list[DatasetAnswer]] = {}
        for item in answers:
            groups.setdefault(_group(item, caller, has_variant), []).append(item)
        grouped = list(groups.items())
    filtered = bool(query.filters)
    for (assembly, floor, alone), group in grouped:
        # the lane by the condition as placed on this assembly: a gene is its span here
        on = placed(query.variant, assembly) if has_variant else None
        wide = on is not None and is_wide(on, queries.limits)
        span = (group[0].seen.row.max_variant_length if len(group) == 1
                else max(item.seen.row.max_variant_length for item in group))
        if alone:
            assert caller is not None
            answered = await queries.writing(wide, partial(
                _as_seen, caller=caller, item=group[0], query=query, assembly=assembly,
                span=span), turn_key(caller))
            if answered is None:
                _none(group)
                continue
            found, selection, drawn = answered
        else:
            drawn = None
            # seeds only where an answer reads them: not for a grant's exact counts
            seeded = (needs_seeds(group[0].seen.rules, filtered) if len(group) == 1
                      else any(needs_seeds(item.seen.rules, filtered) for item in group))
            selection = _selection(query, [i.seen.row.id for i in group], assembly, span,
                                   floor, seeded=seeded)
            if selection is None:
                _none(group)
                continue
            found = await queries.run(wide, lambda c, s=selection: individuals_store.count(
                c, s))
        for item in group:
            # (count, the set's seed, the question's: individuals_store.count)
            n, set_seed, question_seed = found.get(item.seen.row.id, (0, "", ""))
            item.count = count = report_individuals(n, item.seen.rules,
                                                    (set_seed, question_seed),
                                                    filtered=filtered, drawn=drawn)
            # a hit as reported: a set below the floor (or drawn out) is reported as none
            # and costs what a miss costs, where its rare cost told that someone is there
            item.rare = count.exists and is_rare(count.value, item.seen.rules)
            # only a set reported at all: one below the floor (or drawn out by it) is a 0,
            # whose records ALL or MISS would otherwise send beside `exists: false`
            if count.exists and item.granularity == "record" and query.variant.limit:
                # the selection narrowed to this dataset, as the count saw it (its first
                # argument is its datasets: individuals_store.Selection)
                one = dataclasses.replace(selection, args=[[item.dataset.id],
                                                           *selection.args[1:]])
                records = await queries.run(wide, lambda c, s=one: individuals_store.fetch(
                    c, s, query.variant.skip, query.variant.limit))
                item.results = [orjson.loads(r) for r in records]
    return answers


def _group(item: DatasetAnswer, caller: str | None, has_variant: bool
           ) -> tuple[str, Floor, str | None]:
    """The statement a dataset's answer is counted by (answer_individuals): its assembly and
    floor's, shared with the datasets of the same; a dataset answered as the caller sees it
    is a group of its own (its id in the key)."""
    row = item.seen.row
    alone = (caller is not None and item.seen.keeps_losses and has_variant)
    return (row.assembly, item.seen.rules.floor, row.id if alone else None)


# What answer_individuals makes each answer first, before its group is counted; every one
# is then given its count, or none's (`_none`)
_UNCOUNTED = ReportedCount(0)


def _none(group: list[DatasetAnswer]) -> None:
    """A group nothing of which can match: each reports none, as its tier reports 0."""
    for item in group:
        item.count = report_individuals(0, item.seen.rules)


async def _as_seen(conn: asyncpg.Connection, *, caller: str, item: DatasetAnswer,
                   query: IndividualsQuery, assembly: str, span: int
                   ) -> tuple[dict[str, tuple[int, str, str]], Selection, bool | None] | None:
    """One dataset's count as the caller may see it, its near-floor variants charged, in
    the transaction holding the caller's lock for the dataset (on the primary); and where
    the question's filters chose the set, whether the smooth floor of sets shows it, drawn
    and charged in the caller's accounts (beacon/losses.py charge_set; None: no draw).
    Whatever the condition matches: a count that matched nothing near the floor could skip
    the lock and the caller's losses, but it would then answer faster than one that did,
    and the time would tell what the floor hides (docs/privacy.md, "Timing")."""
    where = _placed(query.variant, assembly)
    if where is None:
        return None
    rules = item.seen.rules
    async with turn(conn, caller):
        view = await charged_view(conn, caller, item.dataset, rules, *where, span)
        selection = _selection(query, [item.dataset.id], assembly, span, rules.floor, view)
        assert selection is not None
        if not query.filters:
            return await individuals_store.count(conn, selection), selection, None
        found = await individuals_store.count_with_members(conn, selection)
        drawn = None
        counted = found.get(item.dataset.id)
        if counted is not None:
            n, set_seed, question_seed, members = counted
            draw = filtered_set_draw(n, rules, (set_seed, question_seed))
            if draw is not None:
                drawn = await charge_set(conn, caller, item.dataset, rules, draw, members,
                                         view)
        return {dataset: row[:3] for dataset, row in found.items()}, selection, drawn
