"""The synthetic phenopackets are the ground truth of the individual-level tests, so they are
checked here as a reader sees them (the files, the VCF header through pysam), not through the
generator's own draws."""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pysam
import pytest

from beacon.phenopackets import read_individuals
from synthetic_data.federation import SyntheticDataset, federation, write_federation
from synthetic_data.phenopackets import (
    BIRTH_COUNTRIES,
    CHEMOTHERAPY,
    COLECTOMY,
    COLORECTAL_CANCER,
    DISEASES,
    FOLFOX,
    MIGRANT_SHARE,
    SEXES,
    Disease,
    write_phenopackets,
)
from synthetic_data.vcf import sample_names

COHORT = 2000


def _read(path: Path) -> list[dict]:
    """A phenopackets file in either form, read the way its suffix says."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return json.loads(text)


def _years(time_element: dict) -> int:
    duration = time_element["age"]["iso8601duration"]
    assert duration.startswith("P") and duration.endswith("Y"), duration
    return int(duration[1:-1])


def _terms(node: object) -> Iterator[str]:
    """Every ontology class id anywhere in a phenopacket (objects with exactly id and label)."""
    if isinstance(node, dict):
        if node.keys() == {"id", "label"}:
            yield node["id"]
        for value in node.values():
            yield from _terms(value)
    elif isinstance(node, list):
        for value in node:
            yield from _terms(value)


def _has(packet: dict, disease: Disease) -> dict | None:
    ids = {term.id for term in disease.terms}
    return next((d for d in packet.get("diseases", []) if d["term"]["id"] in ids), None)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[SyntheticDataset]:
    folder = tmp_path_factory.mktemp("federation")
    return [dataset for dataset, _ in write_federation(folder, records=1000, samples=20, seed=5)]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    path = tmp_path_factory.mktemp("cohort") / "cohort.json"
    returned = write_phenopackets(path, [f"S{i:05d}" for i in range(COHORT)], "FI", seed=2024)
    assert _read(path) == returned
    return returned


def test_one_phenopacket_per_vcf_sample(written: list[SyntheticDataset]) -> None:
    # No two synthetic datasets share a sample id: each holds people of its own, so the
    # federation never has a caller drawn and accounted twice for one person
    # (docs/privacy.md, "the same people in several datasets").
    ids = [name for dataset in written for name in sample_names(dataset.spec)]
    assert len(written) == 9 and len(ids) == len(set(ids)) == 9 * 20
    for dataset in written:
        with pysam.VariantFile(str(dataset.spec.path)) as vcf:
            samples = list(vcf.header.samples)
        assert samples == sample_names(dataset.spec) and len(samples) == 20
        packets = _read(dataset.phenopackets_path)
        assert [p["subject"]["id"] for p in packets] == samples
        assert [p["id"] for p in packets] == [f"{s}-phenopacket" for s in samples]
        births = Counter(p["subject"]["countryOfBirth"] for p in packets)
        assert births.most_common(1)[0][0] == dataset.metadata.country
        assert set(births) <= set(BIRTH_COUNTRIES)


def test_federation_paths_and_both_file_forms(written: list[SyntheticDataset],
                                              tmp_path: Path) -> None:
    for dataset in written:
        country, identifier = dataset.metadata.country, dataset.metadata.identifier
        assert dataset.phenopackets_path.parent == dataset.spec.path.parent
        assert dataset.phenopackets_path.name.startswith(f"{identifier}.phenopackets.")
        assert country.lower() == dataset.phenopackets_path.parent.name
    jsonl = [d for d in written if d.phenopackets_path.suffix == ".jsonl"]
    assert [d.metadata.identifier for d in jsonl] == ["GDI-SE-SYN-003"]
    lines = jsonl[0].phenopackets_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 20 and all(isinstance(json.loads(line), dict) for line in lines)
    arrays = [d for d in written if d.phenopackets_path.suffix == ".json"]
    assert len(arrays) == 8
    assert all(len(json.loads(d.phenopackets_path.read_text())) == 20 for d in arrays)
    # The same packets either way: only the framing differs.
    packets = [tmp_path / "a.json", tmp_path / "a.jsonl"]
    for path in packets:
        write_phenopackets(path, ["X1", "X2", "X3"], "ES", 9, jsonl=path.suffix == ".jsonl")
    assert _read(packets[0]) == _read(packets[1])


def test_deterministic_by_seed(written: list[SyntheticDataset], tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.json" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (3, 3, 4)):
        write_phenopackets(path, [f"S{i}" for i in range(50)], "SE", seed)
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()
    # A dataset's phenopackets depend on the federation seed and the dataset alone, not on
    # which other countries were written alongside.
    again = write_federation(tmp_path / "se", records=1000, samples=20, seed=5,
                             countries=("SE",))
    before = {d.metadata.identifier: d for d in written}
    for dataset, _ in again:
        assert dataset.phenopackets_path.read_bytes() == (
            before[dataset.metadata.identifier].phenopackets_path.read_bytes())
    assert federation(tmp_path) == federation(tmp_path)


def test_prevalences_within_loose_bounds(cohort: list[dict]) -> None:
    for disease in DISEASES:
        share = sum(_has(p, disease) is not None for p in cohort) / COHORT
        slack = 4 * math.sqrt(disease.prevalence * (1 - disease.prevalence) / COHORT) + 0.005
        assert abs(share - disease.prevalence) < slack, (disease.terms[0], share)
    sexes = Counter(p["subject"]["sex"] for p in cohort)
    assert set(sexes) == set(SEXES)
    assert 0.45 < sexes["FEMALE"] / COHORT < 0.55 and 0.45 < sexes["MALE"] / COHORT < 0.55
    assert 0.002 < sexes["UNKNOWN_SEX"] / COHORT < 0.025
    ages = [_years(p["subject"]["timeAtLastEncounter"]) for p in cohort]
    assert min(ages) >= 18 and max(ages) <= 90 and 40 < sum(ages) / COHORT < 60
    # Hypertension is an old person's disease: much commoner past 65 than under 45.
    hypertension = DISEASES[0]
    old = [p for p, a in zip(cohort, ages) if a >= 65]
    young = [p for p, a in zip(cohort, ages) if a < 45]
    assert (sum(_has(p, hypertension) is not None for p in old) / len(old)
            > 3 * sum(_has(p, hypertension) is not None for p in young) / len(young))


def test_onsets_inside_window_and_never_after_age(cohort: list[dict]) -> None:
    for packet in cohort:
        age = _years(packet["subject"]["timeAtLastEncounter"])
        for disease in DISEASES:
            entry = _has(packet, disease)
            if entry is None:
                continue
            onset = _years(entry["onset"])
            low, high = disease.onset
            assert low <= onset <= min(high, age), (packet["id"], entry)
            if disease.recent_years is not None:
                assert onset >= age - disease.recent_years
        times = [f["onset"] for f in packet.get("phenotypicFeatures", []) if "onset" in f]
        times += [m["timeObserved"] for m in packet["measurements"]]
        for action in packet.get("medicalActions", []):
            times += [a["performed"] for a in action.values() if "performed" in a]
            times += [a["startTime"] for a in action.values() if "startTime" in a]
        assert all(_years(t) <= age for t in times)


def test_migrants_about_ten_percent(cohort: list[dict], tmp_path: Path) -> None:
    births = Counter(p["subject"]["countryOfBirth"] for p in cohort)
    assert abs((COHORT - births["FI"]) / COHORT - MIGRANT_SHARE) < 0.03
    assert set(births) == set(BIRTH_COUNTRIES)
    outside = write_phenopackets(tmp_path / "pt.json", [f"S{i}" for i in range(300)], "PT", 1)
    assert {p["subject"]["countryOfBirth"] for p in outside} >= {"PT", "FI", "SE", "ES"}
    with pytest.raises(ValueError, match="alpha-2"):
        write_phenopackets(tmp_path / "bad.json", ["S1"], "fin", 1)
    with pytest.raises(ValueError, match="alpha-2"):    # the ingest refuses it (not assigned)
        write_phenopackets(tmp_path / "bad.json", ["S1"], "UK", 1)


def test_features_follow_diseases_and_measurements(cohort: list[dict]) -> None:
    by_feature = {f.id: d for d in DISEASES for f in d.features}
    excluded = 0
    for packet in cohort:
        features = packet.get("phenotypicFeatures", [])
        ids = [f["type"]["id"] for f in features]
        assert len(ids) == len(set(ids)) and all(i.startswith("HP:") for i in ids)
        excluded += sum(f.get("excluded", False) for f in features)
        for feature in features:
            if "onset" in feature:  # a disease's feature starts with one of its diseases
                onsets = [_years(entry["onset"]) for d in DISEASES
                          if feature["type"]["id"] in {f.id for f in d.features}
                          and (entry := _has(packet, d)) is not None]
                assert _years(feature["onset"]) in onsets
            elif feature["type"]["id"] in by_feature and not feature.get("excluded"):
                raise AssertionError(f"{packet['id']}: disease feature without onset")
        height, bmi = (m["value"]["quantity"]["value"] for m in packet["measurements"])
        assert 140 <= height <= 210 and 16 <= bmi <= 55
        obese = {"type": {"id": "HP:0001513", "label": "Obesity"}} in features
        assert obese == (bmi >= 30)
    assert 0.03 < excluded / COHORT < 0.07
    heights = {sex: [] for sex in ("FEMALE", "MALE")}
    for packet in cohort:
        if packet["subject"]["sex"] in heights:
            heights[packet["subject"]["sex"]].append(packet["measurements"][0])
    mean = {sex: sum(m["value"]["quantity"]["value"] for m in ms) / len(ms)
            for sex, ms in heights.items()}
    assert mean["MALE"] - mean["FEMALE"] > 8
    assert {m["assay"]["id"] for p in cohort for m in p["measurements"]} == {
        "LOINC:8302-2", "LOINC:39156-5"}


def test_colorectal_cancer_staged_and_treated(cohort: list[dict]) -> None:
    stages = [term.json() for term in COLORECTAL_CANCER.stages]
    patients, treated = 0, Counter()
    for packet in cohort:
        entry = _has(packet, COLORECTAL_CANCER)
        actions = packet.get("medicalActions", [])
        if entry is None:
            assert not actions
            continue
        patients += 1
        stage = stages.index(entry["diseaseStage"][0])
        assert entry["term"]["id"].startswith("ICD10:C18.") and entry["term"]["id"] != (
            "ICD10:C18.1")
        assert all(a["treatmentTarget"] == entry["term"] for a in actions)
        procedures = [a["procedure"] for a in actions if "procedure" in a]
        assert all(p["performed"] == entry["onset"] for p in procedures)
        codes = [p["code"] for p in procedures]
        assert COLECTOMY.json() in codes or stage == 3
        agents = [a["treatment"]["agent"] for a in actions if "treatment" in a]
        assert agents in ([], [agent.json() for agent in FOLFOX])
        assert (CHEMOTHERAPY.json() in codes) == bool(agents)
        assert not agents or stage >= 2
        treated[stage] += bool(agents)
    assert patients >= 20 and treated[0] == treated[1] == 0 < treated[2]


def test_every_term_has_its_resource(cohort: list[dict]) -> None:
    for packet in cohort[:200]:
        prefixes = {r["namespacePrefix"] for r in packet["metaData"]["resources"]}
        used = {term.split(":", 1)[0] for term in _terms(packet)}
        assert used <= prefixes, used - prefixes
        assert packet["metaData"]["phenopacketSchemaVersion"] == "2.0"
        assert packet["metaData"]["createdBy"] == "synthetic_data"


def test_node_reads_every_written_file(written: list[SyntheticDataset], cohort: list[dict],
                                       tmp_path: Path) -> None:
    """What the node ingests (beacon.phenopackets) from both file forms, field by field."""
    for dataset in written:
        individuals = read_individuals(dataset.phenopackets_path)
        packets = _read(dataset.phenopackets_path)
        assert [i.id for i in individuals] == sample_names(dataset.spec)
        for individual, packet in zip(individuals, packets):
            subject = packet["subject"]
            assert individual.sex == subject["sex"]
            assert individual.country_of_birth == subject["countryOfBirth"]
            assert individual.age == subject["timeAtLastEncounter"]["age"]["iso8601duration"]
            assert [d.term.id for d in individual.diseases] == [
                d["term"]["id"] for d in packet.get("diseases", [])]
    path = tmp_path / "cohort.jsonl"
    write_phenopackets(path, [p["subject"]["id"] for p in cohort], "FI", seed=2024, jsonl=True)
    individuals = read_individuals(path)
    assert len(individuals) == COHORT
    for individual, packet in zip(individuals, cohort):
        present = [f["type"]["id"] for f in packet.get("phenotypicFeatures", [])
                   if not f.get("excluded")]
        assert [t.id for t in individual.features] == present
        assert [d.onset for d in individual.diseases] == [
            d["onset"]["age"]["iso8601duration"] for d in packet.get("diseases", [])]
        assert [m.assay.id for m in individual.measurements] == [
            "LOINC:8302-2", "LOINC:39156-5"]
        cancer = _has(packet, COLORECTAL_CANCER)
        if cancer is not None:
            disease = next(d for d in individual.diseases if d.term.id == cancer["term"]["id"])
            assert [s.id for s in disease.stages] == [cancer["diseaseStage"][0]["id"]]
        actions = packet.get("medicalActions", [])
        assert [t.id for t in individual.treatments] == [
            a["treatment"]["agent"]["id"] for a in actions if "treatment" in a]
        assert [t.id for t in individual.procedures] == [
            a["procedure"]["code"]["id"] for a in actions if "procedure" in a]
