"""The synthetic 1+MG federation: three national nodes (FI, SE, ES) with three datasets each.

The datasets differ on purpose so that loading the whole federation walks every ingest path:
PUBLIC / REGISTERED / CONTROLLED access, chr-prefixed and bare contig names, files with INFO
AC/AN/AF/nhomalt and GT-only files, and one GRCh37 dataset among GRCh38 ones.

Each dataset also has a phenopacket for every VCF sample (synthetic_data.phenopackets), for
individual-level discovery over the same samples: a JSON array, except one dataset written as
JSON Lines so that both forms are read.

Gene and protein queries are served from the files' own annotations, so some datasets carry
SnpEff `ANN`, others VEP `CSQ`, and some none (answered from gene coordinates alone); on each
chromosome that holds genes of `beacon.genes`, a fifth of the random records lie inside them,
and every file holds the real variants of `synthetic_data.annotate.KNOWN_CHANGES` (TP53
p.Arg175His, BRAF p.Val600Glu) on its assembly, annotated with their true consequence where
the file is annotated.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from auth.access import AccessLevel
from catalogue.metadata import DatasetMetadata
from catalogue.record import HEALTH_THEME
from catalogue.vocabulary import EHDS_REGULATION, HUMAN_GENOMIC
from synthetic_data.annotate import KNOWN_CHANGES
from synthetic_data.phenopackets import write_phenopackets
from synthetic_data.vcf import (
    PlantedVariant,
    VcfSpec,
    VcfSummary,
    sample_names,
    write_vcf,
)

COUNTRIES: tuple[str, ...] = ("FI", "SE", "ES")
_GENES_SHARE = 0.2


@dataclass(frozen=True)
class _Node:
    """Who publishes a country's datasets."""

    publisher: str
    contact_email: str
    population: str
    creator: str


@dataclass(frozen=True)
class _Design:
    """One dataset slot: what it is about and which file shape it gets."""

    number: int
    access: AccessLevel
    assembly: str
    chr_prefix: bool
    info_counts: bool
    title: str
    description: str
    keywords: tuple[str, ...]
    phenopackets_jsonl: bool = False
    annotation: Literal["ANN", "CSQ"] | None = None


@dataclass(frozen=True)
class SyntheticDataset:
    """A dataset of the federation: its catalogue record, the VCF that backs it and the
    phenopackets of the VCF's samples."""

    metadata: DatasetMetadata
    spec: VcfSpec
    metadata_path: Path
    phenopackets_path: Path


_NODES = {
    "FI": _Node("Synthetic Genomes Finland", "beacon@fi.synthetic-genomes.example.org", "Finnish",
                "Synthetic Biobank Helsinki"),
    "SE": _Node("Synthetic Genomes Sweden", "beacon@se.synthetic-genomes.example.org", "Swedish",
                "Synthetic Biobank Uppsala"),
    "ES": _Node("Synthetic Genomes Spain", "beacon@es.synthetic-genomes.example.org", "Spanish",
                "Synthetic Biobank Barcelona"),
}

_POPULATION = _Design(
    1, AccessLevel.PUBLIC, "GRCh38", True, True,
    "{population} population reference panel (synthetic)",
    "Whole-genome variant calls of synthetic {population} reference individuals, released "
    "openly as an allele-frequency resource. No real person's data.",
    ("synthetic", "population reference", "allele frequency", "whole genome"))
_CARDIO = _Design(
    2, AccessLevel.REGISTERED, "GRCh38", False, True,
    "{population} cardiometabolic cohort (synthetic)",
    "Whole-genome variant calls of a synthetic {population} cohort recruited for "
    "cardiometabolic research; visible to registered researchers.",
    ("synthetic", "cardiovascular disease", "type 2 diabetes", "cohort"))
_RARE = _Design(
    3, AccessLevel.CONTROLLED, "GRCh38", True, False,
    "{population} rare disease patients (synthetic)",
    "Genotypes of synthetic {population} rare disease patients and relatives; access requires "
    "a ControlledAccessGrants visa.",
    ("synthetic", "rare disease", "1+MG", "patients"))

# Per country, the three slots with their file shapes varied so the mix covers every path.
_DESIGNS: dict[str, tuple[_Design, ...]] = {
    "FI": (replace(_POPULATION, annotation="ANN"), replace(_CARDIO, annotation="CSQ"), _RARE),
    "SE": (replace(_POPULATION, chr_prefix=False, info_counts=False),
           replace(_CARDIO, assembly="GRCh37", annotation="ANN"),
           replace(_RARE, info_counts=True, phenopackets_jsonl=True, annotation="CSQ")),
    "ES": (replace(_POPULATION, annotation="CSQ"),
           replace(_CARDIO, chr_prefix=True, info_counts=False, annotation="ANN"),
           replace(_RARE, chr_prefix=False, info_counts=True)),
}


def federation(outdir: Path, records: int = 10_000, samples: int = 50, seed: int = 42,
               countries: tuple[str, ...] | None = None) -> list[SyntheticDataset]:
    """The datasets (not yet written); countries filters FI/SE/ES."""
    chosen = countries or COUNTRIES
    unknown = set(chosen) - set(COUNTRIES)
    if unknown:
        raise ValueError(f"no synthetic node for {sorted(unknown)}; known: {COUNTRIES}")
    return [_dataset(outdir, country, design, records, samples, seed)
            for country in COUNTRIES if country in chosen for design in _DESIGNS[country]]


def write_dataset(dataset: SyntheticDataset) -> VcfSummary:
    """Write the VCF, its .tbi, the metadata JSON that `gdi-node ingest --metadata` reads and
    the phenopackets of the VCF's samples (born in the dataset's country, bar migrants)."""
    dataset.spec.path.parent.mkdir(parents=True, exist_ok=True)
    record = dataset.metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
    dataset.metadata_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    # Its own seed, so that the phenotypes are not drawn from the genotypes' random stream.
    seed = zlib.crc32(f"{dataset.spec.seed}:phenopackets".encode("ascii"))
    write_phenopackets(dataset.phenopackets_path, sample_names(dataset.spec),
                       dataset.metadata.country, seed,
                       jsonl=dataset.phenopackets_path.suffix == ".jsonl")
    return write_vcf(dataset.spec)


def write_federation(outdir: Path, records: int = 10_000, samples: int = 50, seed: int = 42,
                     countries: tuple[str, ...] | None = None
                     ) -> list[tuple[SyntheticDataset, VcfSummary]]:
    return [(dataset, write_dataset(dataset))
            for dataset in federation(outdir, records, samples, seed, countries)]


def _dataset(outdir: Path, country: str, design: _Design, records: int, samples: int,
             seed: int) -> SyntheticDataset:
    node = _NODES[country]
    identifier = f"GDI-{country}-SYN-{design.number:03d}"
    metadata = DatasetMetadata(
        identifier=identifier,
        title=design.title.format(population=node.population),
        description=design.description.format(population=node.population),
        accessLevel=design.access,
        assembly=design.assembly,
        country=country,
        keywords=[*design.keywords, design.assembly],
        aliases=[f"{country}-SYN-{design.number}"],
        publisher=node.publisher,
        creator=node.creator,
        contactEmail=node.contact_email,
        contactName=f"{node.publisher} data access desk",
        healthCategories=[HUMAN_GENOMIC],
        applicableLegislation=[EHDS_REGULATION],
        themes=[HEALTH_THEME],
    )
    folder = outdir / country.lower()
    spec = VcfSpec(
        path=folder / f"{identifier}.vcf.gz",
        records=records,
        samples=samples,
        # crc32, not hash(): the seed must not change between interpreter runs.
        seed=zlib.crc32(f"{seed}:{identifier}".encode("ascii")),
        assembly=design.assembly,
        chr_prefix=design.chr_prefix,
        info_counts=design.info_counts,
        sample_prefix=f"{country}{design.number}_",
        annotation=design.annotation,
        genes_share=_GENES_SHARE,
        planted=tuple(PlantedVariant(k.chromosome, k.pos, k.ref, (k.alt,))
                      for k in KNOWN_CHANGES if k.assembly_id == design.assembly),
    )
    suffix = "jsonl" if design.phenopackets_jsonl else "json"
    return SyntheticDataset(metadata, spec, folder / f"{identifier}.json",
                            folder / f"{identifier}.phenopackets.{suffix}")
