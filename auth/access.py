"""Access levels a dataset can be published under (DOMAIN.md §5)."""
from __future__ import annotations

from enum import StrEnum


class AccessLevel(StrEnum):
    """How a dataset is exposed; CONTROLLED is the default because it reveals the least."""

    PUBLIC = "PUBLIC"
    REGISTERED = "REGISTERED"
    CONTROLLED = "CONTROLLED"
