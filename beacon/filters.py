"""Beacon v2 filters on individuals, checked and turned into SQL conditions; and the GDI
portal's population filters on a variant query (`population_filter`), checked as every
filter is (`filter_item`).

Forms (Beacon v2 filtering terms, all ANDed): ontology `{id, includeDescendantTerms (default
true), similarity}`, alphanumeric `{id, operator, value}`, and the strings a GET sends: a bare
term id (`filters=NCIT:C16576,...`) or `id:` an operator and a value, the spec's form of an
alphanumeric one (`filters=LOINC:8302-2:>=180`). Real clients add `"operator": null, "value":
null` to ontology filters and `scope` to every one; both are tolerated, and a null
`includeDescendantTerms`, `similarity` or `scope` is its default.

A filter the node cannot evaluate is refused with a 400 naming it (`filters[1].id`), never
dropped: dropping it would widen the answer (the EGA reference implementation's issue #200
returned every individual for a numeric filter it ignored). An ontology term no individual
holds is not an error: it matches nobody, which is the true answer. An id in ICD-10's block
form that WHO does not list (`ICD10:E10-E12`) is refused: it reads as a range of codes, and
what a term matches was resolved at ingest from WHO's blocks alone, so it would match nobody
whoever holds codes in that range. Custom filters are refused where no dataset asked declares
them: a bare id that is not a term always (no dataset holds one), and an id of the CURIE form
whose prefix is no ontology the node knows (`demographic.ethnicity:asian`, the spec's
dataset-specific terms) unless the terms of a dataset asked use its prefix, checked once the
datasets are known (beacon/individuals.py undeclared).

A request holds at most MAX_FILTERS filters, refused past it with a 400 naming `filters`:
each term is a join or a condition of one statement, whose planning grows faster than their
number (64 took 0.2-0.4 s of the database's CPU on a dataset of ten individuals, 200 took
7 s, and a thousand ran out of the statement's parameters: a 500).

Hierarchies were resolved at ingest (each individual's `ancestry` holds its terms and all
their ancestors), so `includeDescendantTerms` is an array membership test, not an ontology
walk. Durations compare as durations (beacon/durations.py: days), numbers as numbers.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from beacon.durations import AGE, ONSET, duration_days
from beacon.ontology import is_curie, primary, unlisted_icd10_block
from beacon.request_error import RequestError

# Alphanumeric fields whose values are ISO 8601 durations (stored as days); any ontology term
# with an operator names a measurement's assay, compared as a number.
DURATION_FIELDS = (ONSET, AGE)
_OPERATORS = {"=": "=", "<": "<", ">": ">", "!": "<>", ">=": ">=", "<=": "<="}
_KEYS = ("id", "operator", "value", "scope", "includeDescendantTerms", "similarity")
_JSON_KINDS = {bool: "a boolean", list: "an array", dict: "an object"}
MAX_FILTERS = 32          # 32 terms plan in ~65 ms; the GDI portal sends a handful
# The scope of individuals' filters: the entry type's name, and the plural the spec's own
# request example writes (framework/json/requests/examples-sections/filteringTerms-example.json:
# `"scope": "individuals"`); listed singular (beacon/info.py filtering_terms)
_SCOPES = ("individual", "individuals")


@dataclass(frozen=True)
class TermFilter:
    """Individuals holding the term (or, with descendants, any term below it)."""

    id: str
    descendants: bool = True
    # the filter's place in the request (`filters[n]`), to name it where its id is refused
    # once the datasets asked are known (beacon/individuals.py undeclared); not part of
    # what the filter is
    position: int = field(default=0, compare=False, repr=False)

    def condition(self) -> tuple[str, list[object]]:
        column = "i.ancestry" if self.descendants else "i.terms"
        return f"{{}} = ANY({column})", [self.id]


@dataclass(frozen=True)
class ValueFilter:
    """Individuals with at least one value of `field` for which `value <operator> v` holds
    (`!`: one that differs; an individual with no value of the field never matches)."""

    field: str
    operator: str
    value: float
    # as sent, for the request summary; not part of what the filter is (P30Y is P360M)
    text: str = field(compare=False, repr=False)
    # its place in the request, as a TermFilter's: an assay of a custom vocabulary is
    # refused by it once the datasets asked are known (beacon/individuals.py undeclared)
    position: int = field(default=0, compare=False, repr=False)

    def condition(self) -> tuple[str, list[object]]:
        return ("EXISTS (SELECT 1 FROM individual_values x WHERE x.dataset_id = i.dataset_id "
                "AND x.sample_index = i.sample_index AND x.field = {} "
                f"AND x.value {_OPERATORS[self.operator]} {{}})"), [self.field, self.value]


Filter = TermFilter | ValueFilter


def parse_filters(raw: list[Any]) -> tuple[Filter, ...]:
    """The filters of a request on individuals; RequestError naming the first one the node
    cannot evaluate."""
    bounded(raw)
    return tuple(dict.fromkeys(_parse(item, n) for n, item in enumerate(raw)))


def bounded(raw: list[Any]) -> None:
    """RequestError when a request holds more filters than any question needs."""
    if len(raw) > MAX_FILTERS:
        raise RequestError("filters", f"at most {MAX_FILTERS} filters in one request, "
                                      f"not {len(raw)}")


# A filter as a GET writes it (the spec's docs/filters.md): `id`, or `id:` an operator and a
# value (`age:>P70Y`, `LOINC:8302-2:>=180`, `HP_0032443:!unknown medical history`). The id
# ends at the first `:` an operator follows: a CURIE's own `:` is followed by its code, which
# holds none (beacon/ontology.py). Two-character operators first. An operator the node does
# not know (`LOINC:8302-2:~180`, `age:≥P70Y`) is read as one too, to be refused by name: read
# as a term it matched nobody, a false "no".
_GET_FORM = re.compile(r"(?P<id>.+?):(?P<operator>>=|<=|[=<>!]|[~\u2264\u2265\u2260][~<>=!]*)"
                       r"(?P<value>.*)", re.DOTALL)


def filter_item(item: Any, where: str, scopes: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """A filter as sent (an object, or a string as GET sends it: a term id, or `id:` an
    operator and a value, `_GET_FORM`) with its id, checked for what every filter needs
    whatever it is on: known keys, an id, a scope this endpoint serves (`scopes`; none
    given is this endpoint's). The individuals' filters below and the datasets'
    (beacon/datasets.py) take it from there."""
    if isinstance(item, str):
        written = _GET_FORM.fullmatch(item)
        item = {"id": item} if written is None else written.groupdict()
    if not isinstance(item, dict):
        raise RequestError(where, "must be an object with an id, or a term id")
    unknown = sorted(set(item).difference(_KEYS))
    if unknown:
        raise RequestError(f"{where}.{unknown[0]}", "unknown filter key (a filter's keys are "
                                                    f"{', '.join(_KEYS)})")
    # No key takes an array or an object, and one nested near the JSON parser's limit would
    # exhaust the stack where a refusal below quotes it (`{operator!r}`)
    for key, value in item.items():
        if isinstance(value, (list, dict)):
            raise RequestError(f"{where}.{key}", "cannot be " + _JSON_KINDS[type(value)]
                               + "; a filter's values are strings, numbers and booleans")
    term = item.get("id")
    if not isinstance(term, str) or not term.strip():
        raise RequestError(f"{where}.id", "required: a term id or a field name")
    given = item.get("scope")
    if given is not None and given not in scopes:
        raise RequestError(f"{where}.scope", f"{given!r} is not served here; this endpoint's "
                                             "filters are of scope "
                                             + " or ".join(map(repr, scopes)))
    return item, term.strip()


def _parse(raw: Any, position: int) -> Filter:
    where = f"filters[{position}]"
    item, term = filter_item(raw, where, _SCOPES)
    operator, value = item.get("operator"), item.get("value")
    if operator is None and value is None:
        return _ontology(item, term, where, position)
    return _alphanumeric(term, operator, value, where, position)


def _ontology(item: dict[str, Any], term: str, where: str, position: int) -> TermFilter:
    if not is_curie(term):
        raise RequestError(f"{where}.id", f"{term!r} is neither an ontology term (PREFIX:code) "
                                          "nor, without an operator, an alphanumeric field; "
                                          "custom filters are not offered (see "
                                          "/api/filtering_terms)")
    # checked as held (`primary`): `icd10:e10-e12`, checked as written, passed as no ICD-10
    # id and was then held as ICD10:E10-E12, a term nobody holds
    held = primary(term)
    holder = unlisted_icd10_block(held)
    if holder is not None:
        raise RequestError(f"{where}.id", f"{term!r} is not a block of ICD-10 (WHO, 2019): a "
                                          "range of codes is matched only as one of WHO's "
                                          "blocks or chapters"
                                          + (f"; the smallest holding it is {holder}"
                                             if holder else ""))
    similarity = item.get("similarity", "exact")
    if similarity not in (None, "exact"):
        raise RequestError(f"{where}.similarity", f"{similarity!r} is not supported; only "
                                                  "exact matches (with descendant terms)")
    # null is not specified, the schema's default (true), as a null similarity or scope is
    # theirs: clients that send `"operator": null` beside a term write every field of it
    descendants = item.get("includeDescendantTerms")
    descendants = True if descendants is None else descendants
    if not isinstance(descendants, bool):
        raise RequestError(f"{where}.includeDescendantTerms", "must be true or false")
    return TermFilter(held, descendants, position)     # as the terms were stored at ingest


def _alphanumeric(term: str, operator: Any, value: Any, where: str,
                  position: int) -> ValueFilter:
    if operator is None:        # absent or null: said as such, not as Python's `None`
        raise RequestError(f"{where}.operator", f"required with a value: one of "
                                                f"{' '.join(_OPERATORS)}")
    if not isinstance(operator, str) or operator not in _OPERATORS:   # a list: unhashable
        raise RequestError(f"{where}.operator", f"{operator!r} is not one of "
                                                f"{' '.join(_OPERATORS)}")
    if value is None:
        raise RequestError(f"{where}.value", f"required with operator {operator!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RequestError(f"{where}.value", "must be a number or an ISO 8601 duration, not "
                                             + _JSON_KINDS.get(type(value), "that"))
    text = str(value).strip()
    if term in DURATION_FIELDS:
        try:
            return ValueFilter(term, operator, duration_days(text), text, position)
        except ValueError as exc:       # its message names the value and what is wrong
            raise RequestError(f"{where}.value", str(exc)) from None
    if not is_curie(term):
        # the spec's GET examples write a term as its IRI's end (`PATO_0000011:>P70Y`)
        written = (f"; a term is written PREFIX:code here ({term.replace('_', ':', 1)})"
                   if _IRI_END.fullmatch(term) else "")
        raise RequestError(f"{where}.id", f"{term!r} is not an alphanumeric field of this "
                                          f"node ({', '.join(DURATION_FIELDS)}, or a "
                                          f"measurement's assay term){written}")
    if not _NUMBER.fullmatch(text):
        raise RequestError(f"{where}.value", f"{text!r} is not a number")
    number = float(text)
    if not math.isfinite(number):
        raise RequestError(f"{where}.value", f"{text!r} is not a finite number")
    return ValueFilter(primary(term), operator, number, text, position)  # as ingest holds assays


_IRI_END = re.compile(r"[A-Za-z]+_[0-9]+", re.ASCII)     # an OBO term's IRI: .../HP_0032443
# A measurement's value, a number or a string of one (as the portal sends it), in ASCII
# digits: float() also takes other scripts' digits (`١٨٠`), `1_000`, `nan` and `infinity`,
# which no client means as a measurement, and filters on ages refuse them already.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


# The GDI portal's filters on a variant query, of a scope of its own (docs/beacon.md,
# "Population filters"): the population whose frequencies each record lists, not which
# variants match (gdi-userportal-dataset-discovery-service, BeaconGVariantsRequestMapper)
POPULATION_SCOPE = "population"
_POPULATION_FILTERS = {"sexFilter": "sex", "countryFilter": "country"}
_SEXES = {"male": "M", "m": "M", "ncit:c20197": "M", "female": "F", "f": "F",
          "ncit:c16576": "F"}
# A client whose filter class holds every field of the spec's filters (the portal's is
# generated from their anyOf) writes the ontology filters' too, null or at their defaults:
# taken so, as meaning nothing for a population
_ONTOLOGY_DEFAULTS = {"includeDescendantTerms": (None, True, False), "similarity": (None, "exact")}


def population_filter(filters: list[Any]) -> tuple[str, tuple[str, ...]]:
    """The population a variant query's filters name together (`FI_M`; a sex alone `M`, a
    country alone `FI`) and the filters as echoed (`sexFilter=M`); RequestError naming the
    first filter that is not a population's, or that names none the node labels. Its keys,
    id and values are checked as every filter's are (filter_item)."""
    named: dict[str, str] = {}
    echo = []
    for n, raw in enumerate(filters):
        where = f"filters[{n}]"
        if not isinstance(raw, dict) or raw.get("scope") != POPULATION_SCOPE:
            raise RequestError("filters", "variants are not filtered by individuals' terms "
                                          "here; filters apply to /api/individuals (see "
                                          "/api/filtering_terms), but for a population's, "
                                          "which narrow each record's frequencies: "
                                          '{"id": "sexFilter" or "countryFilter", '
                                          '"operator": "=", "value": ..., '
                                          f'"scope": "{POPULATION_SCOPE}"}}')
        item, term = filter_item(raw, where, (POPULATION_SCOPE,))
        for key, value in item.items():
            if key in _ONTOLOGY_DEFAULTS and not any(
                    value is taken or (type(value) is str and value == taken)
                    for taken in _ONTOLOGY_DEFAULTS[key]):
                raise RequestError(f"{where}.{key}", "does not apply to a population "
                                                     "filter: leave it out")
        # stripped, as every filter's id is read (it was matched as sent, so " sexFilter",
        # which the individuals' filters would take, was refused here)
        kind = _POPULATION_FILTERS.get(term)
        if kind is None:
            raise RequestError(f"{where}.id", f"{term!r} is not a population filter here: "
                                              "sexFilter or countryFilter")
        if kind in named:
            raise RequestError(f"{where}.id", f"{term!r} given twice: a population has one "
                                              f"{kind}")
        operator = item.get("operator")
        if operator not in (None, "="):
            shown = repr(operator) if isinstance(operator, str) else "that"
            raise RequestError(f"{where}.operator", f"{shown} is not supported: a "
                                                    "population is named with =")
        value = item.get("value")
        if not isinstance(value, str):
            raise RequestError(f"{where}.value", "must be a string: "
                                                 + ("male or female" if kind == "sex" else
                                                    "a country's ISO 3166-1 alpha-2 code"))
        if kind == "sex":
            letter = _SEXES.get(value.strip().lower())
            if letter is None:
                raise RequestError(f"{where}.value", f"{value!r} is not a sex the populations "
                                                     "are labelled by: male or female (M, F, "
                                                     "NCIT:C20197, NCIT:C16576)")
            named[kind] = letter
        else:
            code = value.strip()
            if not (len(code) == 2 and code.isascii() and code.isalpha()):
                raise RequestError(f"{where}.value", f"{value!r} is not a country of birth as "
                                                     "the populations are labelled: its ISO "
                                                     "3166-1 alpha-2 code (FI, SE)")
            named[kind] = code.upper()
        echo.append(f"{term}={named[kind]}")
    label = "_".join(named[kind] for kind in ("country", "sex") if kind in named)
    return label, tuple(echo)


def conditions(filters: tuple[Filter, ...]) -> tuple[tuple[str, ...], list[object]]:
    """The filters' WHERE conditions on individuals `i`, `{}` where each argument goes."""
    parts, args = [], []
    for item in filters:
        condition, values = item.condition()
        parts.append(condition)
        args += values
    return tuple(parts), args


def echo(filters: tuple[Filter, ...]) -> list[str]:
    """The filters as the response's request summary repeats them (the schema takes
    strings): a term's id, or `field operator value`."""
    return [f.id if isinstance(f, TermFilter) else f"{f.field}{f.operator}{f.text}"
            for f in filters]
