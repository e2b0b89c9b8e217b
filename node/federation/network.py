"""Asking every peer of the network at once: who the peers are, what each is sent, how long
each may take, and whether what came back is a Beacon answer. No aiohttp handlers here
(node/http/network_api.py); the merge of the answers is node/federation/merge.py.

Every peer is asked concurrently, each over a pool of connections of its own (PeerSessions,
node/federation/transport.py, its connections bounded per peer). A peer has
`peer_timeout_seconds` for the whole exchange; whatever is still running when the
network's `network_deadline_seconds` run out is cancelled. Each peer then has one outcome: `ok` (a Beacon answer of the expected shape),
`timeout`, `error` (no connection, an answer cut short, an HTTP status other than 200, or
an answer past what all the peers' answers to one request may take, MAX_NETWORK_BODIES)
or `invalid` (not HTTP, not JSON, too large, or not the Beacon response asked for). An
outcome other than `ok` means "unavailable", never "not found"; when no peer answered nor
refused the question itself, the network is down (NetworkDown: a 503, not an empty answer).

The caller's bearer token goes to a peer only when its verified issuer is one the peer is
configured to receive tokens from (`Peer.forward_tokens_from`); every other peer is asked
anonymously. Peers listed by the catalogue's registry get no token unless the same id is
configured in `settings.peers`.

Every request to a peer names, in VIA_HEADER, the networks it has passed through (their
beaconIds, this node's last). A peer's URL may be a network's root, even this node's own
(the registry lists whatever URL its credential holders register), and aiohttp lets a
handler run on when its caller has gone: without the path, one query would ask itself
again and again for good, spending every peer's budget. `onward_path` refuses a request that
has already passed through this node, or through MAX_NETWORK_HOPS networks.

Every peer is told who asked in NETWORK_CALLER_HEADER: a keyed hash of the peer's URL and the
caller's budget key (node/http/caller.py caller_key), another at each peer
(caller_pseudonyms), never the key itself, which for an
anonymous caller is the researcher's address (an IPv6 one's /64: one pseudonym for all of
it, one budget at a trusting peer, as here). A peer forwarded the token needs it too: a
token without bona fide status or a grant counts as its address there, not its subject
(beacon.disclosure counted_by_token), and without the pseudonym as the network node's. A peer that trusts this node's address
(Settings.trusted_network_addresses) budgets and loss-accounts each such caller on its own;
without it, every anonymous caller of the network would be one caller at every peer, and one
researcher spending that budget would make the peer refuse all the others (docs/federation.md,
"Anonymous callers at the peers").
"""
from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, Self, get_args
from urllib.parse import urlsplit

import aiohttp
import msgspec
import orjson
from aiohttp import hdrs
from multidict import CIMultiDict, istr
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from yarl import URL

from auth.documents import bounded_body
from beacon.individuals import PURPOSE_HEADER
from beacon.request import Granularity
from node.federation.peers import MAX_NETWORK_BODIES, MAX_PEER_BODY, Peer
from node.federation.slots import RequestSlots
from node.federation.transport import (
    MAX_INTERIM,
    Bound,
    CutShort,
    NotHttp,
    NotUnpacked,
    PastBound,
    PeerPool,
    PeerPools,
    TransportError,
)
from node.logs import shown
from node.production import PRODUCTION
from node.settings import Settings
from node.urls import beacon_key

log = logging.getLogger(__name__)

PeerStatus = Literal["ok", "timeout", "error", "invalid"]
DOCUMENT_TTL_SECONDS = 60.0        # peers' /info and /map
CATALOGUE_TTL_SECONDS = 60.0       # the catalogue's list of nodes
CATALOGUE_RETRY_SECONDS = 10.0     # after the registry could not be read
# How long a request waits for the registry's list to be read again before it is answered
# from the list read before (the read goes on for the next requests): a frozen registry
# otherwise held each such request for a whole peer timeout before its peers were asked
CATALOGUE_WAIT_SECONDS = 0.5
MAX_REGISTRY_BODY = 4 * 1024 * 1024     # the catalogue's node list: ~200 bytes a node
# Connections open at once to one peer (PeerSessions): a frozen peer holds that many sockets
# at most, each until its timer ends (32 peers' 1,024 is a process's default limit of open
# files), and a healthy one answering in 5 ms takes 6,400 requests a second through them;
# the peers beyond OWN_SESSIONS share a session that bounds them per host and port
PEER_CONNECTIONS = 32
OWN_SESSIONS = 64             # 1+MG's countries, a few nodes each
NO_CONNECTION = "no connection to the peer"
PAST_NETWORK_BOUND = (f"answer not read further: the peers' answers to this request passed "
                      f"{MAX_NETWORK_BODIES} bytes together")
NOT_JSON = "answer is not JSON"
# orjson reads JSON nested up to 1024 levels deep, and writes it up to 254: what a peer's
# answer passes on (records, datasets) is written as the peer sent it, as deep
MAX_WRITTEN_DEPTH = 254
TOO_DEEP = f"answer nested deeper than the network passes on ({MAX_WRITTEN_DEPTH} levels)"
_GRANULARITIES = get_args(Granularity)
# The largest count a peer may report: the largest integer JSON's clients (the GDI portal's
# JavaScript) read exactly, 2^53 - 1. A peer's larger count is not a count but an invalid
# answer; and the network's sums of counts this size stay within the 64 bits its JSON
# writer takes (two peers' counts of 2^64 - 1 once made a network answer a 500, found by
# tests/test_fuzz_network.py), saturating at it (merge.py).
MAX_COUNT = 2**53 - 1
# The networks a request has passed through (beaconIds, comma-separated, in order); and how
# many it may have passed before a network refuses it: a network of networks of networks
# (e.g. European, national, regional) is the deepest asked for, and each level multiplies
# the requests by its peers.
VIA_HEADER = "X-Beacon-Network-Via"
MAX_NETWORK_HOPS = 3
# Who asked, for the peers asked without a token: the first PSEUDONYM_LENGTH hex digits of the
# caller's budget key's HMAC-SHA256 under a key of the peer's own, the HMAC-SHA256 of its URL
# (node/urls.py beacon_key) under the node's network_caller_secret (128 bits: no two callers
# of one network share a budget by chance). What a peer takes is exactly that shape
# (node/http/caller.py), so no spelling of one caller is a second budget.
NETWORK_CALLER_HEADER = "X-Beacon-Network-Caller"
PSEUDONYM_LENGTH = 32
PSEUDONYM = re.compile(f"[0-9a-f]{{{PSEUDONYM_LENGTH}}}")
# (peer, caller) pairs whose pseudonym is kept, not hashed again per request: 4,096
# callers of a network of four peers
PSEUDONYMS_KEPT = 16384


def caller_pseudonyms(secret: bytes) -> Callable[[str, str], str]:
    """The pseudonym at the peer at a given URL of a budget key (NETWORK_CALLER_HEADER)
    under `secret`: stable, so a caller keeps one budget at each peer; keyed, so a peer
    cannot test guessed addresses against it; and another at each peer, so peers cannot
    link one caller's questions across each other (nor can anyone who registers a node
    with the catalogue, and is asked as a peer). One pseudonym went to every peer (found by
    a review, 2026-12-05); made per peer since, each caller's pseudonym changed once. The
    peer is its Beacon (node/urls.py `beacon_key` of its URL), not the id it is listed
    under: a registry's credential holder lists a node under whatever id they choose, and
    keyed by the id, each new id given the node's URL (the registry's entry listed first
    is the one asked) told it new pseudonyms of every caller of the network, a fresh budget
    and fresh loss accounts there for each; keyed by its URL since 2026-12-06 (found by a
    review), each caller's pseudonym changed once more. Kept for the PSEUDONYMS_KEPT pairs
    seen last: the hash would otherwise be made for every network request, which
    bench/federation.py --overhead counts. A key's text as it is, lone surrogates included
    (a token's `sub` may hold one)."""
    @lru_cache(maxsize=4 * OWN_SESSIONS)
    def peer_key(peer_url: str) -> bytes:
        return hmac.new(secret, b"peer " + beacon_key(peer_url).encode("utf-8", "surrogatepass"),
                        hashlib.sha256).digest()

    @lru_cache(maxsize=PSEUDONYMS_KEPT)
    def pseudonym(peer_url: str, key: str) -> str:
        return hmac.new(peer_key(peer_url), key.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]
    return pseudonym


class NetworkDown(Exception):
    """No peer of the network could answer a query: each timed out, could not be reached,
    failed (HTTP 5xx, a redirect) or sent what is no Beacon answer, and none refused it
    (network_down). The network's outage, answered 503 with Retry-After as a node's own
    is, never `exists: false`, which said "nowhere" of what no peer was able to look for."""

    def __init__(self, outcomes: list[PeerOutcome]) -> None:
        named = ", ".join(f"{o.peer.id} ({o.status})" for o in outcomes[:MAX_NAMED_DOWN])
        more = len(outcomes) - MAX_NAMED_DOWN
        super().__init__(f"no peer of the network could answer: {named}"
                         + (f" and {more} more" if more > 0 else "") + "; retry later")


MAX_NAMED_DOWN = 10       # peers a NetworkDown's message names; the rest are counted


def network_down(outcomes: list[PeerOutcome]) -> bool:
    """Every peer was asked and none answered, nor refused the question itself (a 4xx, a
    Beacon error: PeerOutcome.refused, whose reasons its line gives in a 200). A network
    without peers asked none, and answers an empty network (200)."""
    if not outcomes:
        return False
    for o in outcomes:      # a loop, not all() of a generator: 2.5k instructions fewer
        if o.status == "ok" or o.refused:
            return False
    return True


class NetworkLoop(Exception):
    """A request the network refuses to pass on: it has come round to this node, or through
    too many networks. The asking network then lists this node as failed, naming why."""


def onward_path(via: str | None, beacon_id: str) -> str:
    """The VIA_HEADER value for the peers of this node (`beacon_id`) of a request that came
    with `via`; NetworkLoop when that request already passed through this node or through
    MAX_NETWORK_HOPS networks."""
    if not via:
        return beacon_id
    passed = [hop.strip() for hop in via.split(",")]
    # the caller's text, quoted in the 508's message: each character that does not print
    # as its escape (node/logs.py `shown`), as a peer's error message (_error_message)
    if beacon_id in passed:
        raise NetworkLoop(f"network loop: this request has already passed through "
                          f"{beacon_id} (via {shown(via[:300])}); a peer of the network "
                          "leads back to it")
    if len(passed) >= MAX_NETWORK_HOPS:
        raise NetworkLoop(f"network loop: this request has already passed through "
                          f"{len(passed)} networks (via {shown(via[:300])}), the most a "
                          f"network passes on is {MAX_NETWORK_HOPS}")
    return f"{via},{beacon_id}"


# --- what the network relies on in a peer's answer -------------------------------------------

class _Open(BaseModel):
    """Only the fields the merge reads are checked; everything else passes through, from
    the peer's JSON as sent (PeerOutcome.raw): other keys are allowed and not copied into
    the model (extra="ignore"; "allow" kept a copy nobody reads, 2% of a network request's
    instructions, bench/federation.py --overhead)."""

    model_config = ConfigDict(extra="ignore")

    @staticmethod
    def read_at_once(body: bytes) -> PeerAnswer | dict[str, Any] | None:
        """The checked answer (and PeerOutcome.raw) straight from a peer's 200 `body`, where
        an answer can be read faster than whole (VariantAnswer's: _variant_answer, a
        PeerAnswer or dicts); None: read it whole, with orjson, and `checked`."""
        return None

    @classmethod
    def checked(cls, raw: Any) -> dict[str, Any]:
        """The checked fields of the peer's JSON `raw` (validated, as the model holds them);
        ValidationError if it is not this answer."""
        return cls.model_validate(raw).model_dump()


class PeerMeta(_Open):
    beaconId: str
    returnedGranularity: Granularity


def _not_a_boolean(value: Any) -> Any:
    """A count is a number (or its digits, as docs/federation.md allows: "3"), never a
    boolean, which pydantic's lax int takes as 0 or 1: a peer's `true` was a count of 1,
    added to the network's total."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a boolean")
    return value


Count = Annotated[int, BeforeValidator(_not_a_boolean), Field(ge=0, le=MAX_COUNT)]


# `exists` is strict: a peer's "yes", "true" or 1 is no answer of true (pydantic's lax bool
# took them as one).
class PeerSummary(_Open):
    exists: StrictBool
    numTotalResults: Count | None = None


# The Beacon schemas' CURIE (beaconCommonComponents.json), which a handover's type must be.
CURIE = r"^\w[^:]+:.+$"


# A handover's optional fields are `Field(default=None)` with a non-optional type: pydantic
# does not validate a default, so a field left out is accepted and one sent as null is not,
# as the schema says (a null is not a string).
class PeerHandoverType(_Open):
    id: str = Field(pattern=CURIE)
    label: str = Field(default=None)


class PeerHandover(_Open):
    handoverType: PeerHandoverType
    url: str
    note: str = Field(default=None)


class PeerResultSet(_Open):
    """A resultSet, which the network passes on as the peer sent it (merge.py `_tagged`).
    So its optional fields the schema constrains are checked too, or a peer's `"info":
    "P30Y"` would make the network's answer invalid (found by tests/test_fuzz_network.py).
    They are checked and left out of the model's dump (`exclude`): what passes on is the
    peer's own, which the check found valid."""

    id: str
    setType: str
    exists: StrictBool
    resultsCount: Count
    results: list[dict[str, Any]]
    info: dict[str, Any] = Field(default=None, exclude=True)
    resultsHandovers: list[PeerHandover] = Field(default=None, exclude=True)


class PeerResultSets(_Open):
    resultSets: list[PeerResultSet]


class VariantAnswer(_Open):
    """A boolean, count or resultSets response of an entry endpoint."""

    meta: PeerMeta
    responseSummary: PeerSummary
    response: PeerResultSets | None = None

    @classmethod
    def checked(cls, raw: Any) -> dict[str, Any]:
        """`raw` itself when each field above is there with exactly the type the model would
        hold (so reading it from `raw` reads what the model would), which every answer of a
        node is; anything else is left to the model, which accepts and converts it, or words
        the error. Building the five models cost more than three times as much as these
        checks: 4% of a network request's instructions (bench/federation.py --overhead)."""
        if type(raw) is dict and _fits_variant_answer(raw):
            return raw
        return super().checked(raw)


def _fits_variant_answer(raw: dict[str, Any]) -> bool:
    """Whether VariantAnswer would take `raw` (the peer's JSON) as it is (see
    VariantAnswer.checked). A required key that is missing is a KeyError."""
    try:
        meta = raw["meta"]
        if not (type(meta) is dict and type(meta["beaconId"]) is str
                and meta["returnedGranularity"] in _GRANULARITIES):
            return False
    except KeyError:
        return False
    return _fits_beyond_meta(raw)


def _fits_beyond_meta(raw: dict[str, Any]) -> bool:
    """_fits_variant_answer's checks of everything but `meta`."""
    try:
        summary = raw["responseSummary"]
        if not (type(summary) is dict and type(summary["exists"]) is bool):
            return False
        total = summary.get("numTotalResults")
        if total is not None and not (type(total) is int and 0 <= total <= MAX_COUNT):
            return False
        response = raw.get("response")
        if response is None:
            return True
        sets = response["resultSets"] if type(response) is dict else None
        if type(sets) is not list:
            return False
        for s in sets:
            if not (type(s) is dict and type(s["id"]) is str and type(s["setType"]) is str
                    and type(s["exists"]) is bool):
                return False
            count, results = s["resultsCount"], s["results"]
            if not (type(count) is int and 0 <= count <= MAX_COUNT and type(results) is list
                    and ("info" not in s or type(s["info"]) is dict)
                    and "resultsHandovers" not in s):       # rare: the model checks them
                return False
            for result in results:
                if type(result) is not dict:
                    return False
    except KeyError:
        return False
    return True


class _WireMeta(msgspec.Struct, gc=False):
    beaconId: str
    returnedGranularity: Granularity


# --- a node's answer, read straight into types (_variant_answer) -----------------------------
# The fields of a peer's variant answer as this node writes them (beacon/answer.py), in its
# order, and nothing else: any other key in the summary, the response or a resultSet (a
# `resultsHandovers`, a set's `info` holding more than a node's), or a value of another type,
# and the answer is not this shape but left to the reading below, as before (decoding it
# again costs only such answers). An answer read so is a PeerAnswer, which the merge reads as
# it is (merge.py), and relays in the order of these fields: a peer writing the same fields
# in another order has its resultSets relayed in this one (JSON's members have none).
# Not tracked by the garbage collector (gc=False: 3k instructions fewer for three peers'
# answers): what is decoded from JSON holds no cycle, and nothing refers back to it.

_WireCount = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


class PeerSetInfo(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    returnedGranularity: str
    alleleNumber: _WireCount | msgspec.UnsetType = msgspec.UNSET


# A set's countPrecision read into types is one of the schema's values (Beacon v2.2;
# beacon/disclosure.py PRECISIONS), as merge.py passes it on at count; a set stating any
# other is read as dicts, and merge.py leaves it out at count (found by a review,
# 2026-12-05: a count answer's fields passed on whatever they held). Checked by msgspec as
# it decodes, so a node's answer costs the merge no look at each set's value.
_WirePrecision = Literal["exact", "rounded", "imprecise"]


class PeerSet(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    id: str
    setType: str
    exists: bool
    beaconId: str | msgspec.UnsetType = msgspec.UNSET
    resultsCount: _WireCount
    countPrecision: _WirePrecision | msgspec.UnsetType = msgspec.UNSET
    countAdjustedTo: list[str] | msgspec.UnsetType = msgspec.UNSET
    results: list[dict[str, Any]]
    info: PeerSetInfo | msgspec.UnsetType = msgspec.UNSET


class PeerAnswerSummary(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    exists: bool
    numTotalResults: _WireCount | None | msgspec.UnsetType = msgspec.UNSET
    countPrecision: str | msgspec.UnsetType = msgspec.UNSET
    countAdjustedTo: list[str] | msgspec.UnsetType = msgspec.UNSET


class PeerAnswerSets(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    resultSets: list[PeerSet]


class PeerAnswer(msgspec.Struct, gc=False):
    """A peer's variant answer of a node's shape: `meta` as far as the network reads it (the
    rest of it, and any other key at the top, read past as below), the rest typed."""

    meta: _WireMeta
    responseSummary: PeerAnswerSummary
    response: PeerAnswerSets | None | msgspec.UnsetType = msgspec.UNSET
    info: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET    # merge.py peer_notes


_TYPED = msgspec.json.Decoder(PeerAnswer)


class _WireVariantAnswer(msgspec.Struct):
    """What _variant_answer reads of a peer's JSON not of a node's shape (PeerAnswer):
    `meta` as far as the network reads it, the rest whole."""

    meta: _WireMeta
    responseSummary: dict[str, Any]
    response: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET
    info: Any = msgspec.UNSET                                   # merge.py peer_notes


_VARIANT_WIRE = msgspec.json.Decoder(_WireVariantAnswer)


def _variant_answer(body: bytes) -> PeerAnswer | dict[str, Any] | None:
    """A peer's 200 answer to a variant or individuals request, read at once as what
    VariantAnswer.checked would give for it as it is (and its PeerOutcome.raw); None when it
    is not such an answer, or not plain ASCII, and it is left to orjson and the model, which
    word the error. An answer of a node's shape is read straight into a PeerAnswer, whose
    types check it as _fits_beyond_meta does and more (86k instructions for three peers'
    answers to 47k, bench/federation.py --overhead); any other into dicts. Of `meta` only
    the two fields the merge reads are kept, and the rest of it (most of it the echo of the
    request, receivedRequestSummary) is read past, not made into objects: reading each
    whole answer with orjson was the aggregator's largest own cost, 30k instructions a
    peer, and this reads it in 18k. What msgspec reads past it checks only for JSON's
    syntax, and only what the network drops: only ASCII answers come here, because it would
    not check the UTF-8 of what it reads past, where orjson refuses an answer that is not
    UTF-8 anywhere."""
    if not body.isascii():
        return None
    try:
        return _TYPED.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        pass
    try:
        wire = _VARIANT_WIRE.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        return None
    meta = wire.meta
    raw = {"meta": {"beaconId": meta.beaconId, "returnedGranularity": meta.returnedGranularity},
           "responseSummary": wire.responseSummary}
    if wire.response is not msgspec.UNSET:
        raw["response"] = wire.response
    if wire.info is not msgspec.UNSET:
        raw["info"] = wire.info
    return raw if _fits_beyond_meta(raw) else None


# VariantAnswer.read_at_once is _variant_answer itself, not a method calling it (a frame per
# peer fewer); set here, after the types it reads into
VariantAnswer.read_at_once = staticmethod(_variant_answer)  # type: ignore[method-assign]


class PeerCollection(_Open):
    id: str


class PeerCollections(_Open):
    collections: list[PeerCollection]


class CollectionsAnswer(_Open):
    meta: dict[str, Any]
    responseSummary: PeerSummary
    response: PeerCollections


class DocumentAnswer(_Open):
    """An informational response (/info, /map): meta and a response object."""

    meta: dict[str, Any]
    response: dict[str, Any]


class _CatalogueNode(_Open):
    id: str = Field(min_length=1)
    beaconUrl: str = Field(min_length=1)


class _CatalogueNodes(_Open):
    nodes: list[_CatalogueNode]


def _registry_peer(node: _CatalogueNode, https_only: bool) -> Peer | None:
    """The registry's node as a peer; None, with a warning, when its beaconUrl is not a URL
    a configured peer may have (an absolute http(s) URL, no password, no query: peers.py),
    or plain http where only https is (in production: a peer is sent the caller's pseudonym
    and purpose of use, which would cross the network in the clear, as a configured one's
    would; node/production.py refuses those at start). The others are still asked. The
    warning quotes the URL only when it holds no '@', which may end a password."""
    try:
        peer = Peer(id=node.id, url=node.beaconUrl)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        log.warning("catalogue registry lists node %s at %r, %s: not asked", node.id,
                    "(a URL holding '@')" if "@" in node.beaconUrl else node.beaconUrl[:200],
                    reason)
        return None
    if https_only and urlsplit(peer.url).scheme.lower() == "http":
        log.warning("catalogue registry lists node %s at %s, plain http, in production: not "
                    "asked", node.id, peer.url[:200])
        return None
    return peer


def _not_redirected(response: aiohttp.ClientResponse) -> None:
    """ValueError naming where the registry's redirect led: not followed (the catalogue's
    URL is the one configured, as an issuer's, auth/documents.py), and not read as the node
    list either, which reported a moved registry (http to https) as one answering
    malformed JSON, the redirect's body."""
    if 300 <= response.status < 400:
        raise ValueError(f"redirected ({response.status}) to "
                         f"{response.headers.get(hdrs.LOCATION, '(nowhere said)')!r:.200}, "
                         "not followed: configure the URL it leads to")


class PeerSessions:
    """The outgoing connections of the network: to its peers (node/federation/transport.py),
    one pool per peer's base URL, each of PEER_CONNECTIONS connections; and the registry's
    session (aiohttp's, one request a minute). Under one pool of aiohttp's default 100
    connections for all, one frozen peer held every connection (each of its requests holds
    one until its timer ends), and the healthy peers' requests queued for one until theirs
    ran out too: 48 of 150 concurrent network requests reported a healthy peer `timeout`. A
    request waiting for one of its peer's connections waits within that peer's timer
    (Network.ask_all), so a frozen peer still costs at most `peer_timeout_seconds`. Peers
    beyond OWN_SESSIONS (a registry listing thousands) share four peers' worth of
    connections, each origin within PEER_CONNECTIONS: the sockets a node holds stay bounded,
    whatever the registry lists.

    No cookies: the connections serve every caller, so a cookie one peer sets must never
    ride along on another caller's request. No timeout of their own: every use sets its own
    (the fan-out one timer for all peers)."""

    def __init__(self) -> None:
        self._pools = PeerPools(PEER_CONNECTIONS, OWN_SESSIONS, 4 * PEER_CONNECTIONS)
        self._registry: aiohttp.ClientSession | None = None
        self._closed = False

    def of(self, base_url: str) -> PeerPool:
        """The pool of the peer at `base_url`; NoConnection once closed (the peer's line
        `error`, a request the node's end overtook)."""
        return self._pools.of(base_url)

    def registry(self) -> aiohttp.ClientSession:
        """The session the registry's list is read with; once closed, a ClientError (the read
        keeps the last list, Network._read) rather than a new session nobody would close, as
        a read the node's end overtook made."""
        if self._closed:
            raise aiohttp.ClientConnectionError("the network is closing")
        if self._registry is None:
            self._registry = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=None))
        return self._registry

    async def close(self) -> None:
        self._closed = True
        self._pools.close()
        if self._registry is not None:
            await self._registry.close()
            self._registry = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


# --- one request, one outcome per peer -------------------------------------------------------
# Not frozen: these are made for every network request, and a frozen dataclass sets each field
# through object.__setattr__ (four times the cost; together 2% of a network request's
# instructions, bench/federation.py --overhead). Nothing changes them once made.

@dataclass(slots=True)
class PeerRequest:
    """A request as every peer receives it, below the peer's API root (e.g. "/g_variants");
    `via`: the networks it has passed through, this one last (onward_path)."""

    method: str
    path: str
    via: str
    query_string: str = ""
    body: bytes | None = None
    purpose: str | None = None      # X-Purpose-Of-Use, as the caller sent it
    request_id: str | None = None   # X-Request-ID: the network's own request's (REQUEST_ID)


@dataclass(slots=True)
class PeerOutcome:
    peer: Peer
    status: PeerStatus
    ms: float
    detail: str = ""
    # The answer's checked fields (`_Open.checked`), or a variant answer of a node's shape
    # as read (a PeerAnswer, and its `raw`); None unless ok (or ok and not found).
    # Network.document's: what the network says of the answer, and no `raw`.
    answer: PeerAnswer | dict[str, Any] | None = None
    raw: Any = None                      # the peer's JSON as sent, for passing results on
    token_forwarded: bool = False
    retry_after: int | None = None       # a refusal's Retry-After, in seconds (_seconds)
    # The peer answered the request with a refusal of its own (HTTP 4xx, a loop's 508, or a
    # Beacon error body sent with 200): it is up, and said no to this question
    # (network_down), where a 5xx, a redirect, a timeout or no Beacon answer say it is not.
    refused: bool = False

    def report(self) -> dict[str, Any]:
        """The peer's line in the response's info.network.peers. `ms` to a tenth as
        round(ms * 10) / 10, not round(ms, 1), whose correctly rounded decimal costs
        twice as much (0.5% of a network request's instructions, bench/federation.py
        --overhead); the two differ only at a tie, in a timing."""
        line: dict[str, Any] = {"id": self.peer.id, "status": self.status,
                                "ms": round(self.ms * 10) / 10,
                                "tokenForwarded": self.token_forwarded}
        if self.detail:
            line["detail"] = self.detail
        if self.retry_after is not None:
            line["retryAfter"] = self.retry_after
        if self.refused:                # up, and said no: not "unavailable" to a reader
            line["refused"] = True
        return line


@dataclass(slots=True)
class PeerList:
    peers: list[Peer]
    catalogue: dict[str, Any] | None = None    # the registry's status, when one is used


class Network:
    """The peers of this node and the caches of what they said; one per application."""

    def __init__(self, settings: Settings, sessions: PeerSessions,
                 caller_secret: bytes,
                 answered: Callable[[list[tuple[str, str]]], None]) -> None:
        """`caller_secret`: the key of the callers' pseudonyms (beacon/budget.py
        network_caller_secret); `answered([(peer id, outcome), ...])`: told each request's
        peers' outcomes at once, for the operator's /metrics (node/http/metrics.py
        Metrics.peers_answered)."""
        self._settings = settings
        self._sessions = sessions
        self._answered = answered
        self.pseudonym = caller_pseudonyms(caller_secret)
        # (peer id, URL, path): (when asked, outcome), Network.document's
        self._documents: dict[tuple[str, str, str], tuple[float, PeerOutcome]] = {}
        self._catalogue: tuple[float, list[Peer], dict[str, Any]] | None = None  # until
        self._reading: asyncio.Task[None] | None = None     # the registry's read under way
        self._configured = list(settings.peers)      # each id once (Settings)
        self._configured_list = PeerList(self._configured)
        peer_timeout = settings.peer_timeout_seconds
        deadline = settings.network_deadline_seconds
        self._limit = min(peer_timeout, deadline)     # ask_all's one timer
        self._late = (f"no answer within the peer timeout ({peer_timeout:g} s)"
                      if peer_timeout <= deadline else
                      f"no answer within the network deadline ({deadline:g} s)")
        # the network requests answered at once (node/federation/slots.py): each handler
        # asking its peers holds one until its answer is made, and `document` while it asks
        self.slots = RequestSlots(settings.network_requests_in_flight, self._limit)

    async def peers(self) -> PeerList:
        """Configured peers, then the registry's nodes that are not one of them
        (_catalogue_peers)."""
        if not self._settings.peers_from_catalogue:      # with a catalogue_url (Settings)
            return self._configured_list
        listed, status = await self._catalogue_peers()
        return PeerList(self._configured + listed, status)

    async def _catalogue_peers(self) -> tuple[list[Peer], dict[str, Any]]:
        """The registry's nodes, kept for CATALOGUE_TTL_SECONDS; when the registry cannot be
        read, the last list read (if any), and the registry is tried again only after
        CATALOGUE_RETRY_SECONDS, so a frozen catalogue does not slow every query. One read
        at a time, which the requests that find the list out of date wait for at most
        CATALOGUE_WAIT_SECONDS where a list was read before (then answered from it, the read
        going on), and whole only while there is none: a frozen registry held every such
        request for up to `peer_timeout_seconds` before its fan-out's own, 6 s with the
        defaults against the GDI portal's 5 s (docs/federation.md)."""
        kept = self._catalogue
        if kept is not None and time.monotonic() < kept[0]:
            return kept[1], kept[2]
        reading = self._reading
        if reading is None:
            reading = self._reading = asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait([reading], timeout=None if kept is None else CATALOGUE_WAIT_SECONDS)
        if reading.done():
            reading.result()             # what no read foresaw fails the request, as it did
        kept = self._catalogue
        assert kept is not None                  # the read's, or the one before it
        return kept[1], kept[2]

    async def _read(self) -> None:
        """The registry's list read into `_catalogue`: a failure keeps the last list."""
        try:
            now = time.monotonic()
            stale = self._catalogue[1] if self._catalogue else []
            url = f"{self._settings.catalogue_url}/api/nodes"
            try:
                async with asyncio.timeout(self._settings.peer_timeout_seconds):
                    async with self._sessions.registry().get(
                            url, allow_redirects=False) as response:
                        _not_redirected(response)
                        response.raise_for_status()
                        body = await bounded_body(response, MAX_REGISTRY_BODY)
                        if body is None:
                            raise ValueError(f"answer larger than {MAX_REGISTRY_BODY} bytes")
                        listed = _CatalogueNodes.model_validate_json(body)
            except (aiohttp.ClientError, TimeoutError, ValidationError, ValueError) as exc:
                log.warning("catalogue registry %s unavailable: %s", url, _describe(exc))
                # the registry's text may be in it (a ValidationError quotes its input)
                status = {"status": "error", "detail": shown(_describe(exc)),
                          "stalePeers": len(stale)}
                self._catalogue = (now + CATALOGUE_RETRY_SECONDS, stale, status)
                return
            self._catalogue = (now + CATALOGUE_TTL_SECONDS, self._listed_peers(listed.nodes),
                               {"status": "ok"})
        finally:
            self._reading = None

    async def close(self) -> None:
        """The registry's read under way, if any, ended: it uses the peers' sessions, which
        close after this."""
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.wait([self._reading])

    def _listed_peers(self, nodes: list[_CatalogueNode]) -> list[Peer]:
        """The registry's `nodes` asked as peers: each id once (the last listed), none
        configured under the same id (asked as configured), and none at a URL already
        asked, a configured peer's or a node's listed before it, which a warning names.
        That is one Beacon under two ids (an operator configuring a node under an id of
        its own, to forward tokens to it): asked again, its datasets came twice and its
        count was added twice to the network's total. One URL as the settings decide it for
        two configured peers (node/urls.py `beacon_key`): compared exactly here, a URL
        whose scheme or host was cased otherwise was asked again."""
        https_only = self._settings.environment == PRODUCTION
        asked = {beacon_key(p.url): p.id for p in self._configured}
        configured = {p.id for p in self._configured}
        peers = []
        for node in {n.id: n for n in nodes}.values():
            peer = _registry_peer(node, https_only)
            if peer is None or peer.id in configured:
                continue
            where = beacon_key(peer.url)
            if where in asked:
                log.warning("catalogue registry lists node %s at %s, where %s is asked: not "
                            "asked again", peer.id, peer.url, asked[where])
                continue
            asked[where] = peer.id
            peers.append(peer)
        return peers

    async def fan_out(self, request: PeerRequest, expect: type[_Open], *,
                      caller: str | None = None, bearer: str | None = None,
                      issuer: str | None = None, not_found_is_empty: bool = False
                      ) -> tuple[list[PeerOutcome], PeerList]:
        """Ask every peer; an outcome for each, in peer order, by the network's deadline.
        `caller`: who asked, as its budget key (node/http/caller.py caller_key), which
        every peer is told the pseudonym of."""
        # the configured peers without the coroutine of `peers` (2k instructions)
        peers = (await self.peers() if self._settings.peers_from_catalogue
                 else self._configured_list)
        outcomes = await self.ask_all(peers.peers, request, expect, caller=caller,
                                      bearer=bearer, issuer=issuer,
                                      not_found_is_empty=not_found_is_empty)
        return outcomes, peers

    async def ask_all(self, peers: list[Peer], request: PeerRequest, expect: type[_Open],
                      *, bearer: str | None, issuer: str | None, caller: str | None = None,
                      not_found_is_empty: bool = False) -> list[PeerOutcome]:
        """Every peer at once. All start together, so one timer serves as each peer's timeout
        and the network's deadline: whichever is shorter (a timer per peer cost 5% of a
        network request's instructions; bench/federation.py --instructions)."""
        if not peers:
            return []
        # The same for every peer: the headers with the token, and without it, but for the
        # caller's pseudonym, which is the peer's own (caller_pseudonyms); and what follows
        # the peer's root in the URL.
        anonymous = _headers(request, None)
        forwards = ([issuer in peer.forward_tokens_from for peer in peers]
                    if bearer is not None and issuer is not None else [False] * len(peers))
        with_token = _headers(request, bearer) if True in forwards else anonymous
        path, query = request.path, request.query_string
        # the loop's create_task, not ensure_future, which first asks whether each is a
        # future (0.4% of a network request's instructions, bench/federation.py
        # --overhead), nor asyncio.create_task, which finds the loop again for each peer
        create_task = asyncio.get_running_loop().create_task
        bound = Bound(MAX_NETWORK_BODIES)
        # One loop per peer for its headers and its task, and one for the outcomes and
        # what /metrics is told, not five comprehensions' frames and a call per peer to
        # name the caller (some 7k instructions of a network request, bench/federation.py
        # --overhead --parts instructions)
        tasks = []
        for peer, forward in zip(peers, forwards):
            headers = with_token if forward else anonymous
            if caller is not None:
                # the caller named as its pseudonym at this peer: a copy per peer, the copy
                # of a CIMultiDict being cheaper than its making
                headers = headers.copy()
                headers[_CALLER] = self.pseudonym(peer.url, caller)
            tasks.append(create_task(self._ask(
                peer, request, _peer_url(peer.url, path, query), expect, headers, forward,
                not_found_is_empty, bound)))
        limit = self._limit
        try:
            await _all_done(tasks, limit)
        finally:
            # those still asking at the timer, or all when the caller cancelled (its client
            # gone, where handlers are cancelled then; a shutdown): they ran on, each until
            # its peer answered, however long a frozen one took, holding its connection and
            # what it read, no longer counted in any request's slot (slots.py)
            pending = []
            for task in tasks:
                if not task.done():
                    pending.append(task)
            for task in pending:
                task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        outcomes = []
        # Which peers are down, for the operator: it was in each answer's
        # info.network.peers and the log only, and a network's /metrics showed its own
        # answers 200 while a country's node had been unreachable for hours.
        answered = []
        for peer, task, forward in zip(peers, tasks, forwards):
            outcome = (PeerOutcome(peer, "timeout", limit * 1000, self._late,
                                   token_forwarded=forward)
                       if task in pending else task.result())
            outcomes.append(outcome)
            answered.append((outcome.peer.id, "refused" if outcome.refused else outcome.status))
        self._answered(answered)
        return outcomes

    async def document(self, path: str, via: str,
                       line: Callable[[dict[str, Any]], dict[str, Any]]
                       ) -> tuple[list[PeerOutcome], PeerList]:
        """Every peer's /info or /map, asked anonymously (`via`: PeerRequest's), each
        answer as what the network says of it, its `line` (merge.info_line, map_line):
        the outcome's `answer` is that, and nothing else of the peer's answer is kept.
        Outcomes are kept for DOCUMENT_TTL_SECONDS, so a portal polling the network does
        not poll every node; kept with the peer's answer, two peers' 16 MiB answers held
        1.7 GB. Failures are not kept, nor are peers no longer asked (the registry no
        longer lists them); an outcome is kept per peer id and URL, so a peer is never
        listed under another's id that shares its URL."""
        peers = await self.peers()
        now = time.monotonic()
        asked = {(p.id, p.url) for p in peers.peers}
        self._documents = {key: hit for key, hit in self._documents.items()
                           if key[:2] in asked and now - hit[0] < DOCUMENT_TTL_SECONDS}
        fresh = {p.id: hit[1] for p in peers.peers
                 if (hit := self._documents.get((p.id, p.url, path)))}
        missing = [p for p in peers.peers if p.id not in fresh]
        if missing:             # the peers' answers, held while asked (a slot: slots.py)
            async with self.slots:
                answers = await self.ask_all(missing, PeerRequest("GET", path, via),
                                             DocumentAnswer, bearer=None, issuer=None)
        else:
            answers = []
        for outcome in answers:
            if outcome.answer is not None:
                outcome = PeerOutcome(outcome.peer, outcome.status, outcome.ms,
                                      outcome.detail, line(outcome.answer),
                                      token_forwarded=outcome.token_forwarded)
                self._documents[(outcome.peer.id, outcome.peer.url, path)] = (now, outcome)
            fresh[outcome.peer.id] = outcome
        return [fresh[p.id] for p in peers.peers], peers

    async def _ask(self, peer: Peer, request: PeerRequest, url: URL, expect: type[_Open],
                   headers: CIMultiDict[str], forwarded: bool,
                   not_found_is_empty: bool, bound: Bound) -> PeerOutcome:
        """`bound`: what is left of MAX_NETWORK_BODIES, shared by the request's peers."""
        began = time.perf_counter()
        after, refused = None, False
        try:                                  # timed by ask_all, which cancels it
            answer = await self._sessions.of(peer.url).request(
                request.method, url, headers, request.body, bound, MAX_PEER_BODY)
            body, code = answer.body, answer.status
            if code in _REFUSED_FOR_NOW:
                after = answer.retry_after
        except PastBound:
            status, detail, checked, raw = "error", PAST_NETWORK_BOUND, None, None
        except TransportError as exc:
            # The transport's own words ("Connect call failed", "Server disconnected") would
            # tell any caller what listens at an address the registry names: the operator's
            # log gets them, the answer names the peer only, and what became of its answer.
            log.info("peer %s (%s) unavailable: %s", peer.id, peer.url, _describe(exc))
            status, detail = _failed(exc)
            checked, raw = None, None
        else:
            try:
                status, detail, checked, raw = _judged(body, code, expect, not_found_is_empty)
            except Exception:       # whatever a peer sends is its own outcome
                # A hostile peer's answer is the input least bounded: what no check foresaw
                # in it (a message nested past Python's recursion limit was one, found by a
                # review, 2026-12-06) is that peer's `invalid` line, never the network's 500.
                log.warning("peer %s (%s): its answer could not be read", peer.id, peer.url,
                            exc_info=True)
                status, detail, checked, raw = "invalid", UNREADABLE, None, None
            # the peer's own refusal of the question (PeerOutcome.refused)
            refused = status == "error" and (code == 200 or 400 <= code < 500 or code == 508)
        return PeerOutcome(peer, status, (time.perf_counter() - began) * 1000, detail, checked,
                           raw, forwarded,
                           None if after is None or status != "error" else _seconds(after),
                           refused)


def _peer_url(root: str, path: str, query: str) -> URL:
    """The URL of `path` (below the API root, percent-encoded) and `query` at the peer whose
    API root is `root`: URL(f"{root}{path}?{query}", encoded=True), made from the root's
    parts (_root_parts) rather than by parsing the whole again for each peer of each request
    (42k instructions of a network request of 1.87M, bench/federation.py --overhead)."""
    parts = _root_parts(root)
    if parts is None or "#" in query:      # a '#' ends the query in the URL parsed whole
        return URL(f"{root}{path}?{query}" if query else f"{root}{path}", encoded=True)
    scheme, authority, prefix = parts
    return URL.build(scheme=scheme, authority=authority, path=f"{prefix}{path}",
                     query_string=query, encoded=True)


@lru_cache(maxsize=4 * OWN_SESSIONS)
def _root_parts(root: str) -> tuple[str, str, str] | None:
    """A peer's API root as the scheme, authority and path _peer_url builds on; None (parse
    the whole URL each time) for a root that building would not give back exactly, which no
    root the settings take is (an absolute http(s) URL, no query, no fragment)."""
    whole = URL(f"{root}/x?y", encoded=True)
    if not whole.raw_path.endswith("/x"):
        return None
    parts = whole.scheme, whole.raw_authority, whole.raw_path[:-2]
    built = URL.build(scheme=parts[0], authority=parts[1], path=f"{parts[2]}/x",
                      query_string="y", encoded=True)
    return parts if built == whole and str(built) == str(whole) else None


# The statuses whose Retry-After a peer's line passes on: a refusal for now (RFC 9110 10.2.3)
_REFUSED_FOR_NOW = frozenset((429, 503))
MAX_RETRY_AFTER = 10**9         # seconds: a larger one (or date) is passed on as this


def _seconds(after: str) -> int | None:
    """A peer's Retry-After as the seconds to wait: its delay-seconds, or the seconds until
    its HTTP-date (0 once past; a date naming no zone is GMT, as HTTP's are); None when it
    is neither (RFC 9110 10.2.3)."""
    after = after.strip()
    if re.fullmatch(r"[0-9]{1,10}", after):
        return min(int(after), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(after)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = (when - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):   # what the parser raises
        return None
    return min(max(math.ceil(wait), 0), MAX_RETRY_AFTER)


# What became of an answer that could not be read, by what the transport raised (_failed)
CUT_SHORT = "answer cut short: the connection ended before the end the answer announced"
NOT_UNPACKED = "answer's Content-Encoding could not be unpacked"
NOT_HTTP = ("answer is not HTTP the network reads: a malformed status line or header, "
            "a header line longer than 8190 bytes, or more than "
            f"{MAX_INTERIM} interim (1xx) answers before it")


def _failed(exc: TransportError) -> tuple[PeerStatus, str]:
    """The status and detail of a peer whose exchange raised `exc`. A peer that answered
    but whose answer could not be read is not "no connection": an answer that is not HTTP
    (headers too large, a bad status line) or whose gzip cannot be unpacked is `invalid`,
    as a 200 that is not JSON; one cut short (fewer bytes than its Content-Length or its
    chunks announced) is `error`, as a connection reset."""
    if isinstance(exc, NotUnpacked):
        return "invalid", NOT_UNPACKED
    if isinstance(exc, CutShort):
        return "error", CUT_SHORT
    if isinstance(exc, NotHttp):
        return "invalid", NOT_HTTP
    return "error", NO_CONNECTION


def _judged(body: bytes | None, code: int, expect: type[_Open], not_found_is_empty: bool
            ) -> tuple[PeerStatus, str, PeerAnswer | dict[str, Any] | None, Any]:
    """A peer's answer (`body`, HTTP status `code`) as its outcome's status, detail, checked
    answer and JSON (PeerOutcome)."""
    if body is None:
        return "invalid", f"answer larger than {MAX_PEER_BODY} bytes", None, None
    if code == 200 and (read := expect.read_at_once(body)) is not None:
        return "ok", "", read, read
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        if code != 200:         # a status other than 200 is the peer's word, JSON or not
            return "error", f"{_http_status(code)}, not JSON", None, None
        return "invalid", NOT_JSON, None, None
    if code == 404 and not_found_is_empty:
        return "ok", "no such entry at this peer", None, None
    if code != 200:
        return "error", f"{_http_status(code)}{_error_message(raw)}", None, None
    try:
        return "ok", "", expect.checked(raw), raw
    except ValidationError as exc:
        if (error := _beacon_error(raw)) is not None:
            return "error", f"{_http_status(code)}, a Beacon error{error}", None, None
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return "invalid", f"not a Beacon response: {where}: {first['msg']}", None, None


def _beacon_error(raw: Any) -> str | None:
    """Of an answer sent with 200 that is not the response asked for, its error's code and
    message when it is a Beacon error body (`error` beside no `responseSummary`), as some
    Beacons answer a refusal: the peer's refusal in its words, where it was `invalid` with
    the schema's complaint of a field the error has no reason to hold."""
    if not (isinstance(raw, dict) and isinstance(raw.get("error"), dict)
            and "responseSummary" not in raw):
        return None
    code = raw["error"].get("errorCode")
    return (f" {code}" if isinstance(code, int) and not isinstance(code, bool)
            and 0 <= code < 1000 else "") + _error_message(raw)


NOT_ASKED = "answered for datasets not asked"
UNREADABLE = "an answer the network could not read"


def within_datasets(outcomes: list[PeerOutcome], asked: Collection[str] | None,
                    key: str) -> list[PeerOutcome]:
    """`outcomes` with each answer holding, under `response.key` (resultSets, collections),
    an entry of a dataset not `asked` made `invalid`, naming them; `asked` None: the
    question named no datasets, and every peer answers for its own. A question naming its
    datasets (the path's, or datasetIds) is answered for those alone, as a node answers
    it: a peer answering for others, one ignoring the scope or a registered node claiming
    what it was not asked, had them passed on and its count added to the network's answer
    about those datasets. Its count cannot be told apart from them, so none of its answer
    is taken."""
    if not asked:
        return outcomes
    wanted = set(asked)
    checked = []
    for outcome in outcomes:
        others = [i for i in dict.fromkeys(_answered_ids(outcome.answer, key))
                  if i not in wanted]
        checked.append(outcome if not others else PeerOutcome(
            outcome.peer, "invalid", outcome.ms,
            f"{NOT_ASKED}: {shown(', '.join(others)[:300])}",
            token_forwarded=outcome.token_forwarded))
    return checked


def _answered_ids(answer: PeerAnswer | dict[str, Any] | None, key: str) -> list[str]:
    """The ids of the entries under `response.key` of a peer's checked `answer`."""
    if type(answer) is PeerAnswer:
        response = answer.response
        return [s.id for s in response.resultSets] if response else []
    response = answer.get("response") if type(answer) is dict else None
    entries = response.get(key) if type(response) is dict else None
    return [e["id"] for e in entries] if type(entries) is list else []


def without_unwritable(outcomes: list[PeerOutcome]) -> list[PeerOutcome]:
    """`outcomes` with each answer that cannot be written as JSON made as it would have been
    read whole (`_as_read_whole`), or `invalid`. For when the network's answer could not be
    written (node/http/network_api.py): the parts of a peer's answer the merge passes on
    are written as they came, so one peer's record 300 levels deep made the network's
    answer a 500. Looked for only then: a check of each answer as it arrives would cost
    every network request for what only a hostile peer sends."""
    return [outcome if outcome.raw is None or _writable(outcome.raw) else _as_read_whole(outcome)
            for outcome in outcomes]


def _as_read_whole(outcome: PeerOutcome) -> PeerOutcome:
    """A peer's `outcome` whose answer cannot be written, as it would be had its answer been
    read whole by orjson. Read at once (_variant_answer, whose answer is its `raw`), an
    integer past 64 bits (10**25 in a record) stays exact, which the writer refuses, where
    orjson reads it as a double (1e+25), or refuses the answer as not JSON when no double
    holds it: so it is read again, by orjson, from its JSON written by msgspec, which writes
    such an integer as its digits. What orjson read and still cannot be written is nested
    deeper than MAX_WRITTEN_DEPTH, the one way a parsed answer cannot be."""
    def invalid(detail: str) -> PeerOutcome:
        return PeerOutcome(outcome.peer, "invalid", outcome.ms, detail,
                           token_forwarded=outcome.token_forwarded)

    if outcome.answer is not outcome.raw:       # read whole already
        return invalid(TOO_DEEP)
    try:
        raw = orjson.loads(msgspec.json.encode(outcome.raw))
    except (msgspec.EncodeError, RecursionError):
        return invalid(TOO_DEEP)
    except orjson.JSONDecodeError:
        return invalid(NOT_JSON)
    if not _writable(raw):
        return invalid(TOO_DEEP)
    return PeerOutcome(outcome.peer, outcome.status, outcome.ms, outcome.detail, raw, raw,
                       outcome.token_forwarded)


def _writable(raw: Any) -> bool:
    """Whether orjson writes the peer's JSON `raw` (a PeerAnswer as its dicts would be)."""
    try:
        orjson.dumps(raw, default=msgspec.to_builtins)
    except orjson.JSONEncodeError:
        return False
    return True


async def _all_done(tasks: list[asyncio.Task[PeerOutcome]], limit: float) -> None:
    """Until every task is done or `limit` seconds have passed: asyncio.wait(tasks,
    timeout=limit) without what it does besides, which cost 1.5% of a network request's
    instructions (bench/federation.py --overhead): an isinstance check of each task against
    the Coroutine ABC, three sets and a second coroutine."""
    waiter = asyncio.get_running_loop().create_future()
    left = len(tasks)

    def one_done(_: object) -> None:
        nonlocal left
        left -= 1
        if not left:
            _release(waiter)

    timer = waiter.get_loop().call_later(limit, _release, waiter)
    for task in tasks:
        task.add_done_callback(one_done)
    try:
        await waiter
    finally:
        timer.cancel()
        for task in tasks:
            task.remove_done_callback(one_done)


def _release(waiter: asyncio.Future[None]) -> None:
    """The waiter of `_all_done` released, once: by the last task or by the timer."""
    if not waiter.done():
        waiter.set_result(None)


def _headers(request: PeerRequest, bearer: str | None) -> CIMultiDict[str]:
    """What every peer is sent with `request` (with `bearer`, as its token). A CIMultiDict,
    which aiohttp takes as it is, where it would convert a dict for each peer (0.2% of a
    network request's instructions, bench/federation.py --overhead).

    The network's request id goes along: a peer takes it as its own (node/http/metrics.py),
    so its audit entry, which names the network node as the caller of an anonymous
    question, carries the id of the network's entry naming who asked. Who asked goes along
    as its pseudonym at each peer (NETWORK_CALLER_HEADER, added by Network.ask_all), with a token
    too: a peer budgets a bona fide researcher's or a grant holder's token by its subject,
    and any other by the address it asks from (node/http/caller.py caller_key). That header is
    most of what naming the caller costs the network, 13k to 20k instructions per network
    request of 1.9M (aiohttp copies and writes each header once per peer; bench/federation.py
    --overhead, PYTHONHASHSEED=0), measured when one pseudonym went to every peer."""
    headers = CIMultiDict({hdrs.ACCEPT: "application/json", _VIA: request.via})
    if request.request_id is not None:
        headers[_REQUEST_ID] = request.request_id
    if bearer is not None:
        headers[hdrs.AUTHORIZATION] = f"Bearer {bearer}"
    if request.body is not None:
        headers[hdrs.CONTENT_TYPE] = "application/json"
    if request.purpose is not None:
        headers[_PURPOSE] = request.purpose
    return headers


# The names of the headers _headers sets, as istr (aiohttp's own names are): a CIMultiDict
# takes an istr's folded form as it is, and folds a str name again each time it stores or
# looks one up, which aiohttp does three times per peer (its headers, the request's, the
# default ones' check): 11k instructions a network request of 1.9M (bench/federation.py
# --overhead). What a peer receives is the same, byte for byte.
_VIA, _CALLER, _PURPOSE = istr(VIA_HEADER), istr(NETWORK_CALLER_HEADER), istr(PURPOSE_HEADER)
_REQUEST_ID = istr("X-Request-ID")


def _http_status(code: int) -> str:
    """A peer's HTTP status other than 200, for its detail: a redirect, which the network
    does not follow (a peer's URL is its API root), says so."""
    return f"HTTP {code} (a redirect, not followed)" if 300 <= code < 400 else f"HTTP {code}"


def _error_message(raw: Any) -> str:
    """A Beacon error body's message, for the operator reading the peer's status: a
    character that does not print as its escape (node/logs.py `shown`). The peer's text
    went into the outcome's `detail` as sent, so a line break, an ESC sequence or U+202E
    reached the caller, and whatever logs or shows the network's answer (found by a
    review, 2026-12-05)."""
    error = raw.get("error") if isinstance(raw, dict) else None
    message = error.get("errorMessage") if isinstance(error, dict) else None
    # a string, as the schema has it: an array nested a thousand deep, which orjson reads,
    # took Python's repr past its recursion limit, a 500 for the whole network's answer
    return f": {shown(message[:300])}" if isinstance(message, str) and message else ""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
