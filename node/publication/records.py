"""A node's catalogue records and FAIR Data Point site, from its dataset rows and settings:
the shell joins the Beacon's dataset rows and access rule to the catalogue's record model.

A row's metadata holds what the operator's metadata file said (catalogue/metadata.py). What a
dataset ingested without a file lacks comes from the node's settings: publisher and creator
`organisation_name`, country `country`, contact point `contact_url` when it is a mailto: URL,
and a description generated from the title.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime

from pydantic import ValidationError

from auth.access import AccessLevel
from beacon.disclosure import DisclosurePolicy, report
from beacon.store import DatasetRow
from catalogue.fdp import FDP_PATH
from catalogue.metadata import DatasetMetadata
from catalogue.rdf import CatalogView, FdpSite, dataset_iri
from catalogue.record import (
    EMAIL,
    ENGLISH,
    MAX_EMAIL,
    AccessRights,
    Agent,
    CatalogueRecord,
    ContactPoint,
    problems_of,
)
from node.settings import Settings

log = logging.getLogger(__name__)


def fdp_base_url(settings: Settings) -> str:
    return settings.base_url + FDP_PATH


def record_for(row: DatasetRow, settings: Settings,
               policy: DisclosurePolicy | None = None) -> CatalogueRecord:
    """The dataset's record. Its counts are what an anonymous caller of the Beacon may see
    of them (rounded up to that tier's step, 5 by default): the record is public, and its
    exact sample count told anyone that a dataset held 3 people, the listing count the
    Beacon's /datasets rounds (docs/privacy.md). Its number of records only where that
    tier's floor hides no variant, as /datasets gives `variantCount`: the stored count
    holds every VCF record, those below the floor too, so a version's count against the
    one before told, to within the step, how many private variants a person added had
    brought (found by a review, 2026-12-05). Its number of individuals only where the VCF
    has sample columns: a sites-only file's allele counts come from people it does not
    name, and its 0 told every harvester the dataset held nobody (found by a review,
    2026-12-06); HealthDCAT-AP takes a dataset without it. `policy`: the settings' own,
    made once by a caller recording many datasets."""
    anonymous = (policy or settings.disclosure_policy()).rules("anonymous", row.metadata)
    metadata = DatasetMetadata.model_validate(
        {**row.metadata, "identifier": row.id, "title": row.title,
         "description": row.description, "access_level": row.access_level,
         "assembly": row.assembly})
    publisher = metadata.publisher or settings.organisation_name
    language = metadata.metadata_language
    return CatalogueRecord(
        identifier=row.id, iri=dataset_iri(fdp_base_url(settings), row.id), title=row.title,
        titleLanguage=language,
        description=metadata.description or _default_description(row, publisher),
        descriptionLanguage=language if metadata.description else ENGLISH,
        accessRights=AccessRights.of(metadata.access_level), keywords=metadata.keywords,
        keywordLanguages=dict.fromkeys(metadata.keywords, language),
        themes=metadata.themes, healthCategories=metadata.health_categories,
        applicableLegislation=metadata.applicable_legislation,
        publisher=Agent(name=publisher), creator=Agent(name=metadata.creator or publisher),
        contactPoint=_contact(metadata, publisher, settings),
        country=metadata.country or settings.country, assembly=row.assembly,
        numberOfRecords=(report(row.record_count, anonymous).value
                         if anonymous.allele_floor == 1 else None),
        numberOfUniqueIndividuals=(report(row.sample_count, anonymous).value
                                   if row.sample_count else None),
        issued=row.created_at, modified=row.updated_at, beaconUrl=f"{settings.base_url}/api")


def records_for(rows: Iterable[DatasetRow], settings: Settings) -> list[CatalogueRecord]:
    """The records the node publishes: every dataset (catalogue metadata is public, whatever
    the Beacon tells anonymous callers), but with hide_controlled_datasets no CONTROLLED one,
    as the Beacon hides them from everyone without a grant."""
    records, policy = [], settings.disclosure_policy()
    for row in rows:
        if settings.hide_controlled_datasets and row.access_level == AccessLevel.CONTROLLED:
            continue
        try:
            records.append(record_for(row, settings, policy))
        except ValidationError as exc:
            # metadata stored before a rule that refuses it now (a theme IRI RDF cannot
            # write): that dataset is left out, not every document of the node a 500
            log.warning("dataset %s is not published: its metadata cannot be (%s); load it "
                        "again with its metadata mended", row.id, problems_of(exc))
    return records


def node_site(settings: Settings, rows: Iterable[DatasetRow],
              removed: datetime | None = None) -> FdpSite:
    """The node's FAIR Data Point: one catalog (id = beacon_id) holding its datasets, dated
    by their latest `modified` or the last removal (`removed`) if later."""
    publisher = Agent(name=settings.organisation_name)
    catalog = CatalogView(
        id=settings.beacon_id, title=f"{settings.beacon_name} datasets",
        description=f"Genomic variant datasets of {settings.organisation_name}, discoverable "
                    f"through the GA4GH Beacon v2 at {settings.base_url}/api.",
        publisher=publisher, records=tuple(records_for(rows, settings)), changed=removed)
    return FdpSite(base_url=fdp_base_url(settings), title=f"{settings.beacon_name} FAIR Data Point",
                   description=settings.beacon_description, publisher=publisher,
                   catalogs=(catalog,))


def _default_description(row: DatasetRow, publisher: str) -> str:
    return (f"{row.title}: genomic variants on {row.assembly} held by {publisher}, "
            f"discoverable through GA4GH Beacon v2.")


def _contact(metadata: DatasetMetadata, publisher: str,
             settings: Settings) -> ContactPoint | None:
    email = metadata.contact_email
    if email is None and settings.contact_url.startswith("mailto:"):
        email = settings.contact_url[len("mailto:"):]
    if not email or len(email) > MAX_EMAIL or not re.fullmatch(EMAIL, email):
        return None
    return ContactPoint(name=metadata.contact_name or publisher, email=email)
