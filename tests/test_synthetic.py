"""The synthetic VCFs are the ground truth of the ingest and query tests, so they are checked
here against an independent reading of the text (gzip + split), not the generator's own view."""
from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import pysam
import pytest

from auth.access import AccessLevel
from beacon.assemblies import ASSEMBLIES, CHROMOSOMES
from catalogue.metadata import load_metadata
from synthetic_data.federation import federation, write_federation
from synthetic_data.vcf import CLASSES, PlantedVariant, VcfSpec, VcfSummary, write_vcf

PLANTED = (
    PlantedVariant("17", 43_045_712, "G", ("A",), ("0|1", "1|1", "./.", "0|0")),
    PlantedVariant("17", 43_045_800, "ACGT", ("A", "ACGTT", "*"), ("1|2", "3|3", "0/1", "2|0"),
                   {"MARK": "planted"}),
    PlantedVariant("2", 1_000_000, "T", ("<DEL>",), None,
                   {"SVTYPE": "DEL", "END": 1_004_000, "SVLEN": -4000}),
    PlantedVariant("Y", 2_800_000, "C", ("T",), ("1", "0", ".", "1")),
    PlantedVariant("MT", 16_569, "A", ("G",)),
)


def _records(path: Path) -> tuple[list[str], list[list[str]]]:
    with gzip.open(path, "rt") as text:
        lines = text.read().splitlines()
    header = [line for line in lines if line.startswith("#")]
    return header, [line.split("\t") for line in lines if not line.startswith("#")]


def _info(field: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in field.split(";")) if field != "." else {}


def _expected_counts(n_alts: int, genotypes: list[str]) -> dict[str, str]:
    alleles = [re.split("[|/]", gt) for gt in genotypes]
    called = [int(a) for sample in alleles for a in sample if a != "."]
    an = len(called)
    ac = [called.count(j) for j in range(1, n_alts + 1)]
    hom = [sum(len(s) == 2 and s[0] == s[1] == str(j) for s in alleles)
           for j in range(1, n_alts + 1)]
    return {"AC": ",".join(map(str, ac)), "AN": str(an),
            "AF": ",".join(f"{c / an:.6g}" for c in ac), "nhomalt": ",".join(map(str, hom))}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[VcfSpec, VcfSummary]:
    spec = VcfSpec(tmp_path_factory.mktemp("vcf") / "main.vcf.gz", records=5000, samples=4,
                   seed=7, planted=PLANTED)
    return spec, write_vcf(spec)


def test_same_spec_gives_same_bytes_and_seed_changes_them(tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.vcf.gz" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (3, 3, 4)):
        write_vcf(VcfSpec(path, records=1000, samples=4, seed=seed, planted=PLANTED))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert Path(f"{paths[0]}.tbi").read_bytes() == Path(f"{paths[1]}.tbi").read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_pysam_reads_every_record_and_index_fetches(written: tuple[VcfSpec, VcfSummary]) -> None:
    spec, summary = written
    with pysam.VariantFile(str(spec.path)) as vcf:
        assert len(list(vcf)) == spec.records == summary.records
        assert list(vcf.header.samples) == [f"SAMPLE{i:05d}" for i in range(1, 5)]
        brca = [(r.pos, r.ref, r.alts) for r in vcf.fetch("chr17", 43_045_700, 43_045_900)]
    assert (43_045_712, "G", ("A",)) in brca
    assert (43_045_800, "ACGT", ("A", "ACGTT", "*")) in brca


def test_every_class_is_present_and_counts_add_up(written: tuple[VcfSpec, VcfSummary]) -> None:
    spec, summary = written
    _, records = _records(spec.path)
    assert set(summary.by_class) == set(CLASSES)
    assert all(count > 0 for count in summary.by_class.values())
    assert sum(summary.by_class.values()) == len(records) == spec.records
    alts = [a for r in records for a in r[4].split(",") if a not in ("*", ".")]
    assert summary.alt_alleles == len(alts)
    assert sum(len(r[4].split(",")) > 1 for r in records) == summary.by_class["MULTI"]
    assert any("*" in r[4].split(",") for r in records)
    assert 0.7 < summary.by_class["SNV"] / spec.records < 0.9


def test_info_counts_match_genotypes(written: tuple[VcfSpec, VcfSummary]) -> None:
    spec, _ = written
    _, records = _records(spec.path)
    for record in records:
        expected = _expected_counts(len(record[4].split(",")), record[9:])
        info = _info(record[7])
        assert {key: info[key] for key in expected} == expected, record[:8]


def test_genotypes_are_phased_diploid_or_haploid_with_a_few_missing(written: tuple[VcfSpec, VcfSummary]) -> None:
    spec, _ = written
    _, records = _records(spec.path)
    calls = Counter()
    for record in records:
        haploid = record[0] in ("chrY", "chrM")
        for gt in record[9:]:
            shape = ("." if gt == "." else "a") if haploid else (
                "./." if gt == "./." else ("a|b" if re.fullmatch(r"\d\|\d", gt) else gt))
            calls[shape] += 1
    planted_unphased = 1
    assert set(calls) <= {"a", ".", "a|b", "./.", "0/1"}
    assert calls["0/1"] == planted_unphased
    missing = (calls["."] + calls["./."]) / sum(calls.values())
    assert 0.002 < missing < 0.03
    carriers = sum(any(a not in "0|/." for a in "".join(r[9:])) for r in records)
    assert carriers / len(records) > 0.9


def test_positions_sorted_inside_contigs_with_sv_end_inside(written: tuple[VcfSpec, VcfSummary]) -> None:
    spec, _ = written
    header, records = _records(spec.path)
    lengths = dict(re.findall(r"##contig=<ID=([^,]+),length=(\d+)", "\n".join(header)))
    order = {name: i for i, name in enumerate(lengths)}
    keys = [(order[r[0]], int(r[1])) for r in records]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for record in records:
        length, pos = int(lengths[record[0]]), int(record[1])
        assert 1 <= pos and pos + len(record[3]) - 1 <= length
        if record[4].startswith("<"):
            info = _info(record[7])
            assert pos < int(info["END"]) < length
            assert info["SVTYPE"] == record[4].strip("<>")
            size = int(info["END"]) - pos
            assert int(info["SVLEN"]) == (-size if info["SVTYPE"] == "DEL" else size)


def test_header_contigs_follow_prefix_and_assembly(tmp_path: Path) -> None:
    for prefix, assembly in ((True, "GRCh38"), (False, "GRCh37")):
        path = tmp_path / f"{assembly}.vcf.gz"
        write_vcf(VcfSpec(path, records=1000, samples=2, assembly=assembly, chr_prefix=prefix))
        header, records = _records(path)
        contigs = dict(re.findall(r"##contig=<ID=([^,]+),length=(\d+),assembly=" + assembly,
                                  "\n".join(header)))
        names = [("chrM" if c == "MT" else f"chr{c}") if prefix else c for c in CHROMOSOMES]
        assert list(contigs) == names
        lengths = ASSEMBLIES[assembly].lengths
        assert [int(v) for v in contigs.values()] == [lengths[c] for c in CHROMOSOMES]
        assert f"##reference={assembly}" in header
        assert {r[0] for r in records} <= set(names)


def test_gt_only_file_has_no_count_info(tmp_path: Path) -> None:
    path = tmp_path / "gt.vcf.gz"
    write_vcf(VcfSpec(path, records=2000, samples=3, info_counts=False, chr_prefix=False))
    header, records = _records(path)
    assert not any(line.startswith(("##INFO=<ID=AC,", "##INFO=<ID=AN,")) for line in header)
    assert all(not {"AC", "AN", "AF", "nhomalt"} & _info(r[7]).keys() for r in records)
    assert {r[7] for r in records if not r[4].startswith("<")} == {"."}
    assert not any(r[0].startswith("chr") for r in records)


def test_chromosome_restriction_and_haploid_chromosomes(tmp_path: Path) -> None:
    path = tmp_path / "y.vcf.gz"
    write_vcf(VcfSpec(path, records=1000, samples=3, chromosomes=("Y", "21")))
    header, records = _records(path)
    assert [line.split(",")[0] for line in header if line.startswith("##contig")] == [
        "##contig=<ID=chr21", "##contig=<ID=chrY"]
    assert {r[0] for r in records} == {"chr21", "chrY"}
    assert all("|" not in gt and "/" not in gt for r in records if r[0] == "chrY"
               for gt in r[9:])


def test_crowded_short_contig_keeps_one_record_per_pos_and_sv_inside(tmp_path: Path) -> None:
    """MT filled almost to capacity: random POS must dodge the planted ones and long SVs must
    be cut at the contig end, which a sparse genome-wide file rarely provokes."""
    planted = tuple(PlantedVariant("MT", pos, "A", ("C",)) for pos in range(100, 16_000, 500))
    path = tmp_path / "mt.vcf.gz"
    summary = write_vcf(VcfSpec(path, records=16_000, samples=1, chromosomes=("MT",),
                                planted=planted))
    _, records = _records(path)
    positions = [int(r[1]) for r in records]
    assert len(records) == summary.records == 16_000
    assert len(set(positions)) == len(positions)
    assert {p.pos for p in planted} <= set(positions)
    ends = [int(_info(r[7])["END"]) for r in records if r[4].startswith("<")]
    assert ends and max(ends) < 16_569


def test_planted_variants_appear_exactly_as_given(written: tuple[VcfSpec, VcfSummary]) -> None:
    spec, _ = written
    _, records = _records(spec.path)
    by_place = {(r[0], int(r[1])): r for r in records}
    for variant in PLANTED:
        contig = "chrM" if variant.chromosome == "MT" else f"chr{variant.chromosome}"
        record = by_place[(contig, variant.pos)]
        assert (record[3], tuple(record[4].split(","))) == (variant.ref, variant.alts)
        if variant.genotypes is not None:
            assert tuple(record[9:]) == variant.genotypes
        info = _info(record[7])
        assert {key: info[key] for key in variant.info} == {
            key: str(value) for key, value in variant.info.items()}


def test_bad_planted_variant_is_refused(tmp_path: Path) -> None:
    bad = PlantedVariant("1", 100, "A", ("G",), ("0|3", "0|0"))
    with pytest.raises(ValueError, match="not a GT"):
        write_vcf(VcfSpec(tmp_path / "bad.vcf.gz", records=1000, samples=2, planted=(bad,)))


def test_federation_writes_nine_varied_datasets(tmp_path: Path) -> None:
    written = write_federation(tmp_path, records=1000, samples=2, seed=5)
    assert len(written) == 9
    assert Counter(d.metadata.country for d, _ in written) == {"FI": 3, "SE": 3, "ES": 3}
    for dataset, summary in written:
        metadata = load_metadata(dataset.metadata_path)
        assert metadata == dataset.metadata
        country = metadata.country.lower()
        assert dataset.spec.path == tmp_path / country / f"{metadata.identifier}.vcf.gz"
        assert dataset.metadata_path == tmp_path / country / f"{metadata.identifier}.json"
        assert Path(f"{dataset.spec.path}.tbi").exists() and summary.records == 1000
        assert metadata.publisher and metadata.contact_email and metadata.keywords
        assert metadata.assembly == dataset.spec.assembly
        header, records = _records(dataset.spec.path)
        assert f"##reference={metadata.assembly}" in header
        assert records[0][0].startswith("chr") == dataset.spec.chr_prefix
        assert ("AN" in _info(records[0][7])) == dataset.spec.info_counts
    datasets = [d for d, _ in written]
    for country in ("FI", "SE", "ES"):
        levels = {d.metadata.access_level for d in datasets if d.metadata.country == country}
        assert levels == set(AccessLevel)
    assert {d.metadata.identifier for d in datasets if d.spec.assembly == "GRCh37"} == {
        "GDI-SE-SYN-002"}
    assert {d.spec.chr_prefix for d in datasets} == {True, False}
    assert {d.spec.info_counts for d in datasets} == {True, False}
    assert len({d.spec.seed for d in datasets}) == 9


def test_federation_is_deterministic_and_filters_countries(tmp_path: Path) -> None:
    assert federation(tmp_path) == federation(tmp_path)
    only = federation(tmp_path, countries=("SE",))
    assert [d.metadata.identifier for d in only] == [f"GDI-SE-SYN-00{i}" for i in (1, 2, 3)]
    with pytest.raises(ValueError):
        federation(tmp_path, countries=("XX",))
