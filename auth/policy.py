"""The one place that decides how much of a dataset a caller may see.

Every Beacon endpoint asks `max_granularity`; the returned granularity is then the lowest of
what was requested, what this allows and what the entry type allows (`lowest`). Callers are
anonymous until token checking lands (the access-control issue extends `Caller`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from auth.access import AccessLevel

GRANULARITIES = ("boolean", "count", "record")


@dataclass(frozen=True)
class Caller:
    """Who is asking: subject, bona fide status and the datasets they hold grants for."""

    subject: str | None = None
    registered: bool = False
    grants: frozenset[str] = field(default_factory=frozenset)


ANONYMOUS = Caller()


def max_granularity(access_level: AccessLevel | str, caller: Caller) -> str:
    level = AccessLevel(access_level)
    if level is AccessLevel.PUBLIC:
        return "record"
    return "boolean"


def lowest(*granularities: str) -> str:
    return min(granularities, key=GRANULARITIES.index)


def highest(*granularities: str) -> str:
    return max(granularities, key=GRANULARITIES.index)
