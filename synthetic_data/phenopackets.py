"""Deterministic synthetic GA4GH Phenopackets v2, one per VCF sample, so that individual-level
discovery (how many individuals have this disease, sex, age of onset, treatment, and that
variant) runs on the very samples whose genotypes the node holds.

Who: adults aged 18-90 whose ages are spread like an EU population pyramid (flat to 65, then
thinning to a tenth at 90); FEMALE and MALE half and half with ~1% UNKNOWN_SEX; born in the
node's country, but ~10% migrants born in another EU/EEA country. The country of birth is
`subject.countryOfBirth` (ISO 3166-1 alpha-2), this node's documented extension of the
Individual, since the population labels of allele frequencies are by country of birth.

What (the table `DISEASES`; share of adults with it by the last encounter, age of onset):
hypertension 30% (40-70), COVID-19 20% (in the four years before the last encounter),
asthma 8% (2-40), type 2 diabetes 8% (35-75), COPD 5% (41-85), myocardial infarction 3%
(40-90), colorectal cancer 2% (45-85; ICD-10 C18 site, NCIT stage I-IV). A disease's chance
grows with how much of its onset window a person has lived through, scaled so that the adult
population share is the table's, and the onset is drawn from the part lived through, so it is
never after the age at last encounter. Each disease shows as its HPO features (each ~70%);
anyone may report headache, fatigue or, rarely, a seizure; ~5% carry one excluded feature.
Height (by sex) and BMI (higher with diabetes; obesity as a feature from 30) are measurements.
Colorectal cancer is treated: colectomy (SNOMED CT) at diagnosis for stages I-III and half of
stage IV, and a chemotherapy regimen with fluorouracil and oxaliplatin (FOLFOX) for 80% of stage
III and 70% of stage IV (the rest of stage IV gets supportive care only); chemotherapy (NCIT)
as a procedure, the two drugs as treatments with an agent.

Every ontology id and label was checked against public copies of the ontologies and of their
use (the EGA Beacon UI's filters for the colorectal terms); resources name the releases.

Random draws are made column-wise for all samples at once and only the JSON is assembled per
sample. Measured (1 core): 10,000 phenopackets written as a JSON array in 0.5 s wall with
interpreter start-up (0.35-0.45 s of it in write_phenopackets), 22 MB (~2.2 KB each), ~180 MB
peak RSS, with
    time python -c "from pathlib import Path; from synthetic_data.phenopackets import
    write_phenopackets; write_phenopackets(Path('/tmp/pp.json'),
    [f'S{i}' for i in range(10_000)], 'FI', 1)"
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pycountry

# Where migrants are born: the federation's countries and their EU/EEA neighbours.
BIRTH_COUNTRIES: tuple[str, ...] = ("FI", "SE", "ES", "DE", "FR", "IT", "EE", "NO")
MIGRANT_SHARE = 0.10
SEXES: tuple[str, ...] = ("FEMALE", "MALE", "UNKNOWN_SEX")
_SEX_SHARES = (0.495, 0.495, 0.01)
AGES = np.arange(18, 91)
_AGE_SHARES = np.interp(AGES, (18, 65, 90), (1.0, 1.0, 0.1))
_AGE_SHARES = _AGE_SHARES / _AGE_SHARES.sum()
_FEATURE_RATE = 0.7
_EXCLUDED_RATE = 0.05
# Fixed, not the clock: the same seed must give the same bytes.
_CREATED = "2024-06-01T00:00:00Z"


@dataclass(frozen=True)
class Term:
    """An ontology class as phenopackets write it (CURIE and label)."""

    id: str
    label: str

    def json(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label}


@dataclass(frozen=True)
class Disease:
    """One row of the disease table: how it is coded, how common it is, when it starts.

    `terms` holds one term per subtype and a patient gets one of them (colorectal cancer: the
    ICD-10 site); `recent_years` puts the onset within that many years before the last
    encounter, for a disease that has not been around for a lifetime (COVID-19); a cancer
    has `stages` drawn with `stage_shares` (its stage at diagnosis)."""

    terms: tuple[Term, ...]
    prevalence: float
    onset: tuple[int, int]
    features: tuple[Term, ...]
    recent_years: int | None = None
    stages: tuple[Term, ...] = ()
    stage_shares: tuple[float, ...] = ()


_HEADACHE = Term("HP:0002315", "Headache")
_FATIGUE = Term("HP:0012378", "Fatigue")
_SEIZURE = Term("HP:0001250", "Seizure")
_OBESITY = Term("HP:0001513", "Obesity")
_COUGH = Term("HP:0012735", "Cough")
# Reported by anyone, with or without a disease of the table.
_COMMON_FEATURES: tuple[tuple[Term, float], ...] = (
    (_HEADACHE, 0.10), (_FATIGUE, 0.12), (_SEIZURE, 0.01))

COLORECTAL_CANCER = Disease(
    # C18.1 (appendix) is left out: appendiceal tumours are not counted as colorectal cancer.
    terms=(Term("ICD10:C18.0", "Malignant neoplasm of caecum"),
           Term("ICD10:C18.2", "Malignant neoplasm of ascending colon"),
           Term("ICD10:C18.3", "Malignant neoplasm of hepatic flexure"),
           Term("ICD10:C18.4", "Malignant neoplasm of transverse colon"),
           Term("ICD10:C18.5", "Malignant neoplasm of splenic flexure"),
           Term("ICD10:C18.6", "Malignant neoplasm of descending colon"),
           Term("ICD10:C18.7", "Malignant neoplasm of sigmoid colon")),
    prevalence=0.02, onset=(45, 85), features=(Term("HP:0002573", "Hematochezia"),),
    stages=(Term("NCIT:C27966", "Stage I"), Term("NCIT:C28054", "Stage II"),
            Term("NCIT:C27970", "Stage III"), Term("NCIT:C27971", "Stage IV")),
    stage_shares=(0.2, 0.3, 0.3, 0.2))
TYPE_2_DIABETES = Disease(
    (Term("NCIT:C26747", "Type 2 Diabetes Mellitus"),), 0.08, (35, 75),
    (Term("HP:0005978", "Type II diabetes mellitus"),))
DISEASES: tuple[Disease, ...] = (
    Disease((Term("NCIT:C3117", "Hypertension"),), 0.30, (40, 70),
            (Term("HP:0000822", "Hypertension"),)),
    Disease((Term("MONDO:0100096", "COVID-19"),), 0.20, (18, 90),
            (Term("HP:0001945", "Fever"), _COUGH), recent_years=4),
    Disease((Term("NCIT:C28397", "Asthma"),), 0.08, (2, 40),
            (Term("HP:0002099", "Asthma"), Term("HP:0030828", "Wheezing"))),
    TYPE_2_DIABETES,
    Disease((Term("NCIT:C3199", "Chronic Obstructive Pulmonary Disease"),), 0.05, (41, 85),
            (Term("HP:0002094", "Dyspnea"), _COUGH)),
    Disease((Term("NCIT:C27996", "Myocardial Infarction"),), 0.03, (40, 90),
            (Term("HP:0100749", "Chest pain"),)),
    COLORECTAL_CANCER,
)
# Looked for and found absent: any feature the cohort can have.
_EXCLUDABLE: tuple[Term, ...] = tuple(dict.fromkeys(
    [f for d in DISEASES for f in d.features] + [t for t, _ in _COMMON_FEATURES] + [_OBESITY]))

COLECTOMY = Term("SNOMED:23968004", "Colectomy")
CHEMOTHERAPY = Term("NCIT:C15632", "Chemotherapy")
FOLFOX = (Term("NCIT:C505", "Fluorouracil"), Term("NCIT:C1181", "Oxaliplatin"))
# Chemotherapy share per stage index (I-IV).
_CHEMO_SHARES = (0.0, 0.0, 0.8, 0.7)
_STAGE_IV_SURGERY = 0.5

BODY_HEIGHT = Term("LOINC:8302-2", "Body height")
BMI = Term("LOINC:39156-5", "Body mass index (BMI) [Ratio]")
_CENTIMETER = Term("UCUM:cm", "centimeter")
_KG_PER_M2 = Term("UCUM:kg/m2", "kilogram per square meter")
# Mean and standard deviation of adult height in cm, per entry of SEXES.
_HEIGHT_CM = ((165.0, 6.5), (179.0, 7.0), (172.0, 9.0))
_BMI_MEDIAN, _BMI_LOG_SD, _DIABETES_BMI_FACTOR = 26.0, 0.16, 1.15

_RESOURCES: tuple[dict[str, str], ...] = tuple(
    {"id": id_, "name": name, "url": url, "version": version, "namespacePrefix": prefix,
     "iriPrefix": iri}
    for id_, name, url, version, prefix, iri in (
        ("hp", "Human Phenotype Ontology", "http://purl.obolibrary.org/obo/hp.owl",
         "2024-04-26", "HP", "http://purl.obolibrary.org/obo/HP_"),
        ("ncit", "NCI Thesaurus OBO Edition", "http://purl.obolibrary.org/obo/ncit.owl",
         "2024-05-07", "NCIT", "http://purl.obolibrary.org/obo/NCIT_"),
        ("mondo", "Mondo Disease Ontology", "http://purl.obolibrary.org/obo/mondo.owl",
         "2024-09-03", "MONDO", "http://purl.obolibrary.org/obo/MONDO_"),
        ("icd10", "International Classification of Diseases, 10th Revision",
         "https://icd.who.int/browse10", "2019", "ICD10", "https://icd.who.int/browse10/2019/en#/"),
        ("loinc", "Logical Observation Identifiers Names and Codes", "https://loinc.org",
         "2.77", "LOINC", "https://loinc.org/"),
        ("snomedct", "SNOMED CT", "http://snomed.info/sct", "2024-01-01", "SNOMED",
         "http://snomed.info/id/"),
        ("ucum", "Unified Code for Units of Measure", "https://ucum.org", "2.1", "UCUM",
         "https://ucum.org/ucum#"),
    ))


@dataclass
class _Cohort:
    """Every random draw for the samples, made column-wise up front: fast, and the order in
    which the stream is consumed never depends on the values drawn."""

    ages: np.ndarray
    sexes: np.ndarray
    births: list[str]
    onsets: np.ndarray  # (samples, diseases), -1 where the disease is absent
    subtypes: np.ndarray  # (samples, diseases), index into Disease.terms
    shown: list[np.ndarray]  # per disease, (samples, features): feature reported
    stages: np.ndarray
    care: np.ndarray
    common: np.ndarray  # (samples, common features)
    excluded: np.ndarray  # picks among the features a person lacks; -1 for none
    heights: np.ndarray
    bmis: np.ndarray


def write_phenopackets(path: Path, samples: list[str], country: str, seed: int, *,
                       jsonl: bool = False) -> list[dict]:
    """Write one phenopacket per sample, in sample order, as a JSON array (one phenopacket a
    line) or JSON Lines, and return them. The same arguments always give the same bytes."""
    # the code the ingest reads back (beacon/phenopackets.py): upper case, assigned by ISO
    if not re.fullmatch("[A-Z]{2}", country) or pycountry.countries.get(alpha_2=country) is None:
        raise ValueError(f"country {country!r}: expected an ISO 3166-1 alpha-2 code")
    cohort = _draw(np.random.default_rng(seed), len(samples), country)
    packets = [_phenopacket(cohort, i, sample) for i, sample in enumerate(samples)]
    lines = [orjson.dumps(packet) for packet in packets]
    path.write_bytes(b"".join(line + b"\n" for line in lines) if jsonl
                     else b"[\n" + b",\n".join(lines) + b"\n]\n")
    return packets


def risk(disease: Disease, ages: np.ndarray) -> np.ndarray:
    """Chance of having the disease by each age: proportional to the share of its onset window
    lived through, scaled so that over the adult age distribution it averages the prevalence."""
    low, high = disease.onset
    if disease.recent_years is not None:
        exposure = (ages >= low).astype(float)
        population = float((AGES >= low) @ _AGE_SHARES)
    else:
        def lived(a: np.ndarray) -> np.ndarray:
            return np.clip((np.minimum(a, high) - low + 1) / (high - low + 1), 0.0, 1.0)
        exposure, population = lived(ages), float(lived(AGES) @ _AGE_SHARES)
    return disease.prevalence * exposure / population


def _draw(rng: np.random.Generator, n: int, country: str) -> _Cohort:
    ages = rng.choice(AGES, size=n, p=_AGE_SHARES)
    sexes = rng.choice(len(SEXES), size=n, p=_SEX_SHARES)
    abroad = tuple(c for c in BIRTH_COUNTRIES if c != country)
    migrant = rng.random(n) < MIGRANT_SHARE
    where = rng.integers(0, len(abroad), n)
    births = [abroad[w] if m else country for m, w in zip(migrant, where)]
    onsets = np.full((n, len(DISEASES)), -1)
    subtypes = np.zeros((n, len(DISEASES)), dtype=int)
    shown = []
    for k, disease in enumerate(DISEASES):
        has = rng.random(n) < risk(disease, ages)
        low, high = disease.onset
        first = np.full(n, low) if disease.recent_years is None else np.maximum(
            low, ages - disease.recent_years)
        last = np.minimum(high, ages)
        onset = first + np.floor(rng.random(n) * (last - first + 1)).astype(int)
        onsets[:, k] = np.where(has, onset, -1)
        subtypes[:, k] = rng.integers(0, len(disease.terms), n)
        shown.append(rng.random((n, len(disease.features))) < _FEATURE_RATE)
    stage_shares = COLORECTAL_CANCER.stage_shares
    stages = rng.choice(len(stage_shares), size=n, p=stage_shares)
    care = rng.random(n)
    common = rng.random((n, len(_COMMON_FEATURES))) < [p for _, p in _COMMON_FEATURES]
    excluded = np.where(rng.random(n) < _EXCLUDED_RATE,
                        rng.integers(0, len(_EXCLUDABLE), n), -1)
    mean, sd = (np.array(column)[sexes] for column in zip(*_HEIGHT_CM))
    heights = np.clip(rng.normal(mean, sd), 140.0, 210.0)
    diabetic = onsets[:, DISEASES.index(TYPE_2_DIABETES)] >= 0
    bmis = np.clip(rng.lognormal(np.log(_BMI_MEDIAN), _BMI_LOG_SD, n)
                   * np.where(diabetic, _DIABETES_BMI_FACTOR, 1.0), 16.0, 55.0)
    return _Cohort(ages, sexes, births, onsets, subtypes, shown, stages, care, common, excluded,
                   heights, bmis)


def _phenopacket(cohort: _Cohort, i: int, sample: str) -> dict:
    age = int(cohort.ages[i])
    diseases, features, actions = [], {}, []
    for k, disease in enumerate(DISEASES):
        onset = int(cohort.onsets[i, k])
        if onset < 0:
            continue
        term = disease.terms[cohort.subtypes[i, k]]
        entry: dict = {"term": term.json()}
        if disease is COLORECTAL_CANCER:
            stage = int(cohort.stages[i])
            entry["diseaseStage"] = [disease.stages[stage].json()]
            actions += _cancer_care(term, stage, float(cohort.care[i]), onset)
        entry["onset"] = _age(onset)
        diseases.append(entry)
        for feature, shown in zip(disease.features, cohort.shown[k][i]):
            if shown and feature not in features:
                features[feature] = {"type": feature.json(), "onset": _age(onset)}
    for (feature, _), reported in zip(_COMMON_FEATURES, cohort.common[i]):
        if reported and feature not in features:
            features[feature] = {"type": feature.json()}
    bmi = round(float(cohort.bmis[i]), 1)
    if bmi >= 30.0:
        features.setdefault(_OBESITY, {"type": _OBESITY.json()})
    if cohort.excluded[i] >= 0 and len(features) < len(_EXCLUDABLE):  # all come from the pool
        absent = [term for term in _EXCLUDABLE if term not in features]
        term = absent[cohort.excluded[i] % len(absent)]
        features[term] = {"type": term.json(), "excluded": True}
    packet: dict = {
        "id": f"{sample}-phenopacket",
        "subject": {"id": sample, "timeAtLastEncounter": _age(age),
                    "sex": SEXES[cohort.sexes[i]], "countryOfBirth": cohort.births[i]},
    }
    if features:
        packet["phenotypicFeatures"] = list(features.values())
    packet["measurements"] = [
        _measurement(BODY_HEIGHT, _CENTIMETER, round(float(cohort.heights[i]), 1), age),
        _measurement(BMI, _KG_PER_M2, bmi, age)]
    if diseases:
        packet["diseases"] = diseases
    if actions:
        packet["medicalActions"] = actions
    packet["metaData"] = {"created": _CREATED, "createdBy": "synthetic_data",
                          "resources": list(_RESOURCES), "phenopacketSchemaVersion": "2.0"}
    return packet


def _cancer_care(target: Term, stage: int, draw: float, onset: int) -> list[dict]:
    """Colectomy at diagnosis and adjuvant or palliative FOLFOX, by stage (index 0-3). One draw
    decides both, so the stage IV patients operated on are among those who get FOLFOX.

    Chemotherapy (an intervention, not a drug) is written as a procedure and its drugs as
    treatments with an agent: a phenopacket's TherapeuticRegimen would fit the course too, but
    readers that take only procedures and treatments (this node's) would not see it."""
    actions = []
    if stage < 3 or draw < _STAGE_IV_SURGERY:
        actions.append({"procedure": {"code": COLECTOMY.json(), "performed": _age(onset)},
                        "treatmentTarget": target.json()})
    if draw < _CHEMO_SHARES[stage]:
        actions.append({"procedure": {"code": CHEMOTHERAPY.json(), "performed": _age(onset)},
                        "treatmentTarget": target.json()})
        actions += [{"treatment": {"agent": agent.json()}, "treatmentTarget": target.json()}
                    for agent in FOLFOX]
    return actions


def _measurement(assay: Term, unit: Term, value: float, age: int) -> dict:
    return {"assay": assay.json(),
            "value": {"quantity": {"unit": unit.json(), "value": value}},
            "timeObserved": _age(age)}


def _age(years: int) -> dict[str, dict[str, str]]:
    return {"age": {"iso8601duration": f"P{years}Y"}}
