"""The GDI dataset identifier: the one key that ties a catalogue record, a Beacon resultSet
and the value of the ControlledAccessGrants visa that grants access to it (DOMAIN.md §1).

It lives beside the access policy because a visa names a dataset by it, and because both the
Beacon (which refuses to load a dataset under another form) and the catalogue (whose metadata
files carry it) check it the same way.
"""
from __future__ import annotations

import re

GDI_DATASET_ID = re.compile(r"^(GOE|GDI)-[A-Z]{2}-[A-Z]+-[0-9]+$")


class InvalidDatasetId(ValueError):
    """A dataset identifier not in GDI form; the message shows the expected form."""


def check_dataset_id(dataset_id: str) -> str:
    if not GDI_DATASET_ID.fullmatch(dataset_id):
        raise InvalidDatasetId(
            f"dataset id {_shown(dataset_id)} is not in GDI form "
            "(expected like GDI-FI-SYN-001: ^(GOE|GDI)-[A-Z]{2}-[A-Z]+-[0-9]+$)")
    return dataset_id


def _shown(dataset_id: str) -> str:
    """The id as a refusal quotes it: at most 80 characters of it, so that a mistaken
    argument (a file's contents, say) does not fill the operator's screen."""
    if len(dataset_id) <= 80:
        return repr(dataset_id)
    return f"{dataset_id[:80]!r}... ({len(dataset_id)} characters)"
