"""Controlled terms the GDI metadata model (its SHACL shapes) accepts, and their defaults.

The values are those the shapes in gdi-metadata list with sh:in or sh:defaultValue, so a record
built from them validates.
"""
from __future__ import annotations

import pycountry

EU_COUNTRY = "http://publications.europa.eu/resource/authority/country/"
GDI_CORE = "http://data.gdi.eu/core/p2/"
HEALTH_CATEGORIES: tuple[str, ...] = tuple(
    GDI_CORE + name for name in ("HealthCategoryHumanGenetic", "HealthCategoryHumanEpigenomic",
                                 "HealthCategoryHumanGenomic"))
HUMAN_GENOMIC = GDI_CORE + "HealthCategoryHumanGenomic"
EHDS_REGULATION = "http://data.europa.eu/eli/reg/2025/327/oj"
"""The ELI of the European Health Data Space regulation, the shapes' default legislation."""
# The assemblies a record may name, and the INSDC accession IRI its RDF names each by
ASSEMBLIES = {"GRCh37": "https://identifiers.org/insdc.gca:GCA_000001405.1",
              "GRCh38": "https://identifiers.org/insdc.gca:GCA_000001405.15"}


def gdi_health_categories(values: list[str]) -> list[str]:
    """`values` if each is a health category the GDI shapes list (ValueError otherwise): the
    one check of a metadata file's and of a catalogue record's, pushed or harvested. The
    record did not check, and the catalogue published documents the shapes refuse."""
    unknown = [v for v in values if v not in HEALTH_CATEGORIES]
    if unknown:
        raise ValueError(f"{unknown} not in the GDI health categories {list(HEALTH_CATEGORIES)}")
    return values


def country_iri(alpha_2: str) -> str:
    """The EU country authority names countries by ISO 3166-1 alpha-3 code."""
    country = pycountry.countries.get(alpha_2=alpha_2)
    if country is None:
        raise ValueError(f"{alpha_2!r} is not an ISO 3166-1 alpha-2 country code")
    return EU_COUNTRY + country.alpha_3


def assigned_country(value: str | None) -> str | None:
    """`value` if it is None or a code ISO 3166-1 assigns (ValueError otherwise): the one check
    of every country a node states (its setting, a dataset's metadata, a catalogue record, a
    registration). The pattern `[A-Z]{2}` alone let `UK` through, which `country_iri` then
    refused while writing RDF: every FAIR Data Point document of the node's datasets, or the
    catalogue's of a record pushed with it, was a 500."""
    if value is not None:
        country_iri(value)
    return value


def country_code(iri: str) -> str | None:
    """The alpha-2 code of an EU country authority IRI; None for anything else."""
    if not iri.startswith(EU_COUNTRY):
        return None
    country = pycountry.countries.get(alpha_3=iri[len(EU_COUNTRY):])
    return country.alpha_2 if country else None
