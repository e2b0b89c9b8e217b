"""An ingest request from what an operator gives: the command-line flags and the dataset's
metadata file. It lives in the shell because it joins the two cores' vocabularies: the
catalogue's metadata model and the Beacon's ingest request."""
from __future__ import annotations

from pathlib import Path

from auth.access import AccessLevel
from auth.dataset_id import InvalidDatasetId, check_dataset_id
from auth.urls import http_url
from beacon.assemblies import ASSEMBLIES, find_assembly
from beacon.disclosure import DisclosurePolicy, dataset_overrides
from beacon.ingest import IngestRequest
from catalogue.metadata import DatasetMetadata, MetadataError
from catalogue.record import MAX_TITLE, refuse_unstorable


def make_request(path: Path, dataset_id: str, *, assembly: str | None = None,
                 access_level: str | None = None, metadata: DatasetMetadata | None = None,
                 title: str | None = None, skip_invalid: bool = False,
                 workers: int = 0, individuals: Path | None = None,
                 keep_filtered: bool = False, force_assembly: bool = False,
                 metadata_file: Path | None = None,
                 policy: DisclosurePolicy | None = None,
                 grant_sources: tuple[str, ...] | None = None) -> IngestRequest:
    """Combine command-line flags with the metadata file: a flag wins over the file, and with
    neither the dataset is CONTROLLED, the level that reveals the least. An assembly neither
    names is left to the file's header (beacon/vcf.py `choose_assembly`). MetadataError
    names what cannot be used; what `metadata` holds as read from `metadata_file`, if given,
    as `file: field: reason`, the form of load_metadata's refusals. `policy`: the node's,
    which the metadata's disclosure overrides are checked with (the defaults' if not given).
    `grant_sources` (--grant-source): whose grants grant the dataset, each a URL as a visa's
    `source` is; None keeps those the dataset names."""
    try:
        check_dataset_id(dataset_id)
    except InvalidDatasetId as exc:
        raise MetadataError(str(exc)) from None
    if metadata is not None and metadata.identifier != dataset_id:
        raise MetadataError(f"--dataset {dataset_id} differs from the metadata file's "
                            f"identifier {metadata.identifier}: they must be the same key")
    assembly_name = assembly or (metadata.assembly if metadata else None)
    given_by = "--assembly" if assembly else "the metadata file's assembly"
    resolved = find_assembly(assembly_name) if assembly_name is not None else None
    if assembly_name is not None and resolved is None:
        unknown = (f"unknown assembly {assembly_name!r} (known: {', '.join(ASSEMBLIES)} "
                   "and their aliases)")
        raise MetadataError(unknown if assembly or metadata_file is None
                            else f"{metadata_file}: assembly: {unknown}")
    if force_assembly and resolved is None:
        raise MetadataError("--force-assembly loads on the assembly --assembly (or the "
                            "metadata file) names, and none is named")
    if title:
        _check_title(title)
    if grant_sources is not None:
        check_grant_sources(grant_sources, "--grant-source")
    level = (AccessLevel(access_level.upper()) if access_level
             else metadata.access_level if metadata else AccessLevel.CONTROLLED)
    extra = metadata.extra_metadata() if metadata else {}
    _check_disclosure(extra, metadata_file, policy or DisclosurePolicy())
    return IngestRequest(
        path=path, dataset_id=dataset_id, assembly=resolved, access_level=level,
        title=title or (metadata.title if metadata else f"Dataset {dataset_id}"),
        description=metadata.description if metadata else "",
        metadata=extra,
        skip_invalid=skip_invalid, workers=workers, individuals=individuals,
        keep_filtered=keep_filtered, assembly_given_by=given_by,
        force_assembly=force_assembly, grant_sources=grant_sources)


def check_grant_sources(sources: tuple[str, ...], option: str) -> None:
    """MetadataError naming `option` unless each source is a URL, as a visa's `source` is
    (GA4GH Passport v1.2), which the node compares byte for byte: a copying slip (a trailing
    space, a name that is no URL) would match no visa, and the dataset be granted to no one,
    nothing said."""
    for source in sources:
        try:
            http_url(source)
        except ValueError as exc:
            shown = repr(source) if len(source) <= 80 else f"{source[:80]!r}..."
            raise MetadataError(f"{option}: {shown} is {exc} (as a visa's source is; "
                                "compared byte for byte)") from None


def _check_title(title: str) -> None:
    """--title under a metadata file's rules for a title (catalogue/metadata.py), which it
    overrules: a longer one loaded, and its dataset was then left out of the catalogue;
    a byte not UTF-8 in it (a lone surrogate as Python reads the command line) failed the
    ingest naming nothing."""
    try:
        refuse_unstorable(title, "--title")
    except ValueError as exc:
        raise MetadataError(str(exc)) from None
    if len(title) > MAX_TITLE:
        raise MetadataError(f"--title: {len(title)} characters, at most {MAX_TITLE}")


def _check_disclosure(metadata: dict[str, object], metadata_file: Path | None,
                      policy: DisclosurePolicy) -> None:
    """Refused at ingest, named: a dataset whose override the node would ignore (its own
    rules would apply instead, beacon/disclosure.py) is not what its operator meant. The
    reason (`disclosure.anonymous.allele_floor: must be at least 1`) follows the file's
    name, as every other refusal of a metadata file's content does. Checked with the
    node's rules for each tier, which the node merges it with."""
    try:
        dataset_overrides(metadata, policy.tiers)
    except ValueError as exc:
        raise MetadataError(f"{metadata_file}: {exc}" if metadata_file else str(exc)) from None
