"""How much of a dataset a caller's credentials allow (DOMAIN.md §5); the Beacon's
disclosure policy (beacon/disclosure.py `ceiling`) builds on it and is what answers use.

PUBLIC: record for anyone. REGISTERED: count for bona fide researchers and holders of a
grant for it, boolean otherwise.
CONTROLLED: record with a ControlledAccessGrants visa for that dataset, otherwise boolean,
or hidden altogether when the operator configures it. A grant matches a dataset by exact
string against its identifier and aliases, never by a prefix, suffix or last URL segment.
The returned granularity is then the lowest of this, the request and the entry type.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from auth.access import AccessLevel

GRANULARITIES = ("boolean", "count", "record")


@dataclass(frozen=True)
class Identity:
    """A person as this node knows them: `sub` is unique only within its issuer, so the same
    `sub` at two trusted issuers is two people, and neither's visas count for the other."""

    issuer: str
    sub: str


@dataclass(frozen=True)
class Caller:
    """Who is asking (None: anonymous), bona fide status and the dataset keys they hold
    grants for."""

    identity: Identity | None = None
    token_id: str = ""
    registered: bool = False
    grants: frozenset[str] = field(default_factory=frozenset)

    @property
    def subject(self) -> str | None:
        """The `sub` alone, for the audit line (which names the issuer beside it)."""
        return self.identity.sub if self.identity else None

    @property
    def issuer(self) -> str | None:
        return self.identity.issuer if self.identity else None


ANONYMOUS = Caller()


def max_granularity(access_level: AccessLevel | str, dataset_keys: frozenset[str],
                    caller: Caller, *, hide_controlled: bool = False) -> str | None:
    """The most this caller may see of the dataset; None = the dataset is hidden."""
    level = AccessLevel(access_level)
    if level is AccessLevel.PUBLIC:
        return "record"
    if level is AccessLevel.REGISTERED:
        return "count" if caller.registered or caller.grants & dataset_keys else "boolean"
    if caller.grants & dataset_keys:
        return "record"
    return None if hide_controlled else "boolean"


def lowest(*granularities: str) -> str:
    if len(granularities) == 2:     # as nearly every caller asks: a fourth of min's cost
        first, second = granularities
        return second if GRANULARITIES.index(second) < GRANULARITIES.index(first) else first
    return min(granularities, key=GRANULARITIES.index)


def highest(*granularities: str) -> str:
    if len(granularities) == 2:
        first, second = granularities
        return second if GRANULARITIES.index(second) > GRANULARITIES.index(first) else first
    return max(granularities, key=GRANULARITIES.index)
