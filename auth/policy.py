"""How much of a dataset a caller's credentials allow (DOMAIN.md §5); the Beacon's
disclosure policy (beacon/disclosure.py `ceiling`) builds on it and is what answers use.

PUBLIC: record for anyone. REGISTERED: count for bona fide researchers and holders of a
grant for it, boolean otherwise.
CONTROLLED: record with a ControlledAccessGrants visa for that dataset, otherwise boolean,
or hidden altogether when the operator configures it. A grant matches a dataset by exact
string against its identifier and aliases, never by a prefix, suffix or last URL segment;
and, for a dataset naming the sources that govern it, only a grant from one of them
(`governed_keys`).
The returned granularity is then the lowest of this, the request and the entry type.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from auth.access import AccessLevel

GRANULARITIES = ("boolean", "count", "record")
GrantKey = str | tuple[str, str]
"""What a grant is matched by: a dataset key (its id or an alias) alone, or with the `source`
that made the grant. A caller holds both for each grant (auth/passport.py `grants`); a
dataset is matched by its keys alone when it names no grant source, by (key, source) for each
of its sources when it does (`governed_keys`). So one set intersection, as before, decides
both kinds, and the per-request cost of a grant stays that."""


def governed_keys(keys: Iterable[str], sources: Iterable[str]) -> frozenset[GrantKey]:
    """The grant keys of a dataset known by `keys` and governed by `sources`. In GA4GH
    Passports a grant's `source` is the body that decided it: with two DACs' grants
    accepted, one DAC's grant of a dataset the other governs granted it. A dataset naming
    its sources is granted only by theirs; one naming none by a grant from any source the
    node accepts (auth/issuers.py `grant_sources`)."""
    sources = tuple(sources)
    if not sources:
        return frozenset(keys)
    return frozenset((key, source) for key in keys for source in sources)


@dataclass(frozen=True)
class Identity:
    """A person as this node knows them: `sub` is unique only within its issuer, so the same
    `sub` at two trusted issuers is two people, and neither's visas count for the other."""

    issuer: str
    sub: str


@dataclass(frozen=True)
class Caller:
    """Who is asking (None: anonymous), bona fide status and the grant keys they hold: each
    dataset key they hold a grant of, alone and with the grant's source (`GrantKey`)."""

    identity: Identity | None = None
    token_id: str = ""
    registered: bool = False
    grants: frozenset[GrantKey] = field(default_factory=frozenset)

    @property
    def subject(self) -> str | None:
        """The `sub` alone, for the audit line (which names the issuer beside it)."""
        return self.identity.sub if self.identity else None

    @property
    def issuer(self) -> str | None:
        return self.identity.issuer if self.identity else None


ANONYMOUS = Caller()


def max_granularity(access_level: AccessLevel | str, dataset_keys: frozenset[GrantKey],
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
