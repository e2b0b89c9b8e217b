"""One Beacon response for the whole network, from the peers' outcomes. No HTTP here.

Merge rules (docs/federation.md): every resultSet and collection a peer returned is passed
on as the peer sent it, tagged with the peer's id as `beaconId` (the resultSet schema allows
extra properties; EGA's beacon-network-facade tags the same way). `exists` is true when any
peer said so. `numTotalResults` is the sum of the totals the peers that found something
reported at count or record granularity, after each peer's own access decisions and count floor: nothing is recounted
here, so a count a peer withheld cannot reappear (the sum stops at network.MAX_COUNT,
2^53 - 1, the largest count a peer may report). The returned granularity is the highest any
peer answered at, and never above the requested one: a peer's answer is taken only as far as
the lower of what was asked and what the peer says it answered (its records only at record,
its count not at boolean, and at count only the schema's fields of its resultSets). Every
peer, answered or not, has a line in `info.network.peers`; a peer that timed out, failed or
answered nonsense is listed there with its status and is simply absent from the results,
which is different from a peer that answered "not found".
"""
from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from msgspec import UNSET, to_builtins

from auth.policy import GRANULARITIES
from auth.urls import http_url
from beacon import answer, info
from beacon.datasets import DatasetsQuery, collections_envelope
from beacon.disclosure import PRECISIONS, combined_precision
from beacon.info import BeaconIdentity
from beacon.request import Page, VariantQuery, listing_info
from node.federation.network import (
    MAX_COUNT,
    PeerAnswer,
    PeerList,
    PeerOutcome,
    PeerSet,
)
from node.logs import shown

NETWORK_API = "/network/api"
_RANK = {granularity: rank for rank, granularity in enumerate(GRANULARITIES)}
MAX_GENE_NOTES = 4        # a peer's info.geneId: one note per assembly it holds datasets on
MAX_NOTED_IDS = 1000      # dataset ids in one of a peer's notes: a longer list is not passed on
MAX_TEXT = 300            # characters of a peer's free text its line passes on
MAX_URL = 2000            # characters of a peer's welcomeUrl its line passes on
MAX_ENTRY_TYPES = 64      # of a peer's /map (the spec's default model has 8)
_ENTRY_TYPE = re.compile(r"\w{1,100}", re.ASCII)


def network_info(outcomes: list[PeerOutcome], peers: PeerList, *, described: bool = False
                 ) -> dict[str, Any]:
    """`info.network`: one line per peer, plus what the network says of its answer when
    `described` (Network.document's outcomes, whose answers are that: info_line, map_line)."""
    lines = []
    for outcome in outcomes:
        line = outcome.report()
        if described and outcome.answer is not None:
            line.update(outcome.answer)
        lines.append(line)
    return {"network": _network(lines, peers)}


def peer_notes(info: Any) -> dict[str, Any]:
    """What a peer's answer says of the datasets it did not ask, for its line: those a query
    without a purpose of use left out (`purposeRequired`) and those on another assembly
    (`onOtherAssemblies`), as a node says them (node/http/beacon_api.py), when they have
    that shape, and those that answer the caller nothing more (`refused`: its account
    for them spent, beacon/accounts.py). The network dropped them with the rest of the
    peer's `info`, and a researcher read "not found" of datasets never asked. So, too, a geneId the peer's gene
    table does not hold on an assembly (`geneId`, beacon/answer.py genes_not_placed): its
    "not found" was never a look at the gene's span."""
    notes: dict[str, Any] = {}
    if type(info) is not dict:
        return notes
    required = info.get("purposeRequired")
    if _ids(required):
        notes["purposeRequired"] = _shown_ids(required)
    refused = info.get("refused")
    if _ids(refused):
        notes["refused"] = _shown_ids(refused)
    others = info.get("onOtherAssemblies")
    if type(others) is dict and 0 < len(others) <= MAX_GENE_NOTES and all(
            type(assembly) is str and _ids(ids) for assembly, ids in others.items()):
        notes["onOtherAssemblies"] = {shown(assembly[:40]): _shown_ids(ids)
                                      for assembly, ids in others.items()}
    genes = info.get("geneId")
    if type(genes) is dict and 0 < len(genes) <= MAX_GENE_NOTES and all(
            type(assembly) is str and type(said) is str for assembly, said in genes.items()):
        # free text of the peer's, as its error message: each character that does not
        # print as its escape, and bounded (node/logs.py shown)
        notes["geneId"] = {shown(assembly[:40]): shown(said[:300])
                           for assembly, said in genes.items()}
    return notes


def _ids(value: Any) -> bool:
    """Whether a peer's `value` is a list of dataset ids, as a node writes one: not empty,
    strings only, at most MAX_NOTED_IDS."""
    return (type(value) is list and 0 < len(value) <= MAX_NOTED_IDS
            and all(type(v) is str for v in value))


def _shown_ids(ids: list[str]) -> list[str]:
    """A peer's dataset ids as its line gives them: each character that does not print as
    its escape, each cut to 200 characters (node/logs.py shown), as its geneId notes and
    error messages are. Passed on as sent, a line break or an ESC sequence in an id forged
    a line of whatever shows the network's answer, and one id could be megabytes (found by
    a review, 2026-12-05)."""
    return [shown(i[:200]) for i in ids]


def _network(lines: list[dict[str, Any]], peers: PeerList) -> dict[str, Any]:
    network: dict[str, Any] = {"peers": lines}
    if peers.catalogue is not None:
        network["catalogue"] = peers.catalogue
    return network


def _tagged(outcome: PeerOutcome, key: str) -> list[dict[str, Any]]:
    """The peer's items under `response.key`, tagged with its id in place: the peer's JSON is
    this request's own parse, which nothing reads after the merge, so a copy of each item
    would serve no one (it cost 0.3% of a network request's instructions,
    bench/federation.py --overhead). The tag replaces a `beaconId` the peer gave, where the
    peer gave it, as a copy with it would. Where the model took the peer's answer and
    converted it (VariantAnswer.checked: a count spelt "0"), the fields it checked are
    passed on as it holds them, over the peer's (found by tests/test_fuzz_network.py: the
    network's answer was invalid with the peer's string)."""
    response = outcome.raw.get("response") if isinstance(outcome.raw, dict) else None
    items = response.get(key, []) if isinstance(response, dict) else []
    if items and outcome.answer is not outcome.raw:
        items = [{**item, **checked}
                 for item, checked in zip(items, outcome.answer["response"][key])]
    for item in items:
        item["beaconId"] = outcome.peer.id
    return items


def merge_variants(beacon_id: str, query: VariantQuery, outcomes: list[PeerOutcome],
                   peers: PeerList, *, schemas: list[dict[str, str]] | None = None,
                   filters: list[str] | None = None) -> dict[str, Any]:
    """The network's answer to `query`: a Beacon response envelope (beacon/answer.py)
    filled from what the peers answered (their VariantAnswer.checked answers); of genomic
    variations, or of the entry type `schemas` names (individuals, selected by `filters`),
    whose answers have the same shape. One pass over the peers, which builds their lines in
    `info.network` on the way: with the answers as dicts (VariantAnswer.checked), the merge
    costs half the instructions it did in passes over the models (3% of a network request's,
    bench/federation.py --overhead). A node's answers come read into types (a PeerAnswer,
    network._variant_answer), which the merge reads as they are: made dicts first, three
    peers' answers cost 27k instructions more, of the 39k their reading saves."""
    exists, total = False, 0
    # A peer answers at most as asked, but one may not (DOMAIN.md: the returned granularity
    # is the lowest of the requested and the allowed), and what it says it answered at may
    # not be what it sent: each peer's answer is taken at the lower of the granularity asked
    # and the one it states (meta.returnedGranularity), and what it sent above that is left
    # out, its count (above boolean) and its records (above count). Capped at the asked one
    # only, a peer saying `count` had its records passed on in an answer labelled count.
    ceiling = _RANK[query.granularity]
    highest = 0                         # the rank of the highest granularity answered at
    lines: list[dict[str, Any]] = []
    result_sets: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    exact = True            # every summary so far states an exact count and no adjustment
    uncounted = False       # a peer found something and said not how much, or said nothing
    for outcome in outcomes:
        line = outcome.report()
        lines.append(line)
        checked = outcome.answer
        if checked is None:
            # Unavailable, its count is nobody's to know: counted as 0, the others' total was
            # `exact`, of a network that was not all asked (found by a review, 2026-12-05).
            # An `ok` without an answer is a dataset's "not here", which is known: none.
            uncounted = uncounted or outcome.status != "ok"
            continue
        typed = type(checked) is PeerAnswer     # a node's shape, read straight into types
        if typed:
            summary = checked.responseSummary
            found, stated = summary.exists, checked.meta.returnedGranularity
            count = summary.numTotalResults
        else:
            summary = checked["responseSummary"]
            found, stated = summary["exists"], checked["meta"]["returnedGranularity"]
            count = summary.get("numTotalResults")
        info = checked.info if typed else (
            outcome.raw.get("info") if type(outcome.raw) is dict else None)
        # peer_notes of what is no dict is none: most answers have no `info`, and a call
        # each cost a network request some hundreds of instructions
        if type(info) is dict and (notes := peer_notes(info)):
            line.update(notes)
        rank = _RANK[stated]
        if rank > ceiling:  # noqa: PLR1730 - min()'s call costs 1.2k instructions more
            rank = ceiling
        line["exists"] = found
        line["returnedGranularity"] = granularity = GRANULARITIES[rank]
        if found:
            exists = True
        if not rank:                    # a boolean answer: no count, no resultSets (envelope)
            uncounted = uncounted or found
            continue
        if rank > highest:  # noqa: PLR1730 - as min() above
            highest = rank
        if type(count) is int:          # a checked count is an int, or absent
            line["numTotalResults"] = count
            precision = summary.countPrecision if typed else summary.get("countPrecision")
            if precision != "exact":    # a node's usual count: nothing more on its line
                _stated(line, precision, summary.countAdjustedTo if typed
                        else summary.get("countAdjustedTo"))
            # A peer that found nothing adds 0, whatever count it gave beside that: EGA's
            # beacon2-pi-api gives its floor (DOMAIN.md), which was added to the total, and
            # a network of it alone said `exists: false` beside a count of 5
            if found:
                total += count
                # found, and counted none (a floor hiding what it found): as uncounted
                uncounted = uncounted or not count
        elif found:
            uncounted = True
        if typed:
            summaries.append(summary)
            if exact and (summary.countPrecision != "exact"
                          or summary.countAdjustedTo is not UNSET):
                exact = False
            if checked.response:
                if rank == _RECORD:
                    line["pagination"] = page_answered(query.page, info, [
                        (len(s.results), s.resultsCount, s.countPrecision == "exact")
                        for s in checked.response.resultSets])
                peer_id = outcome.peer.id
                for item in checked.response.resultSets:    # no comprehension's frame
                    result_sets.append(_relayed(item, peer_id, rank, granularity))
            continue
        if checked is outcome.raw:
            # the peer's JSON as it came, which VariantAnswer.checked found of the model's
            # shape: `response` is absent or holds a list of resultSets, each a dict; tagged
            # here, as _tagged does, without its checks and its call (the merge of three
            # peers' count answers was 4% of a network request's instructions)
            response = checked.get("response")
            summaries.append(summary)
            if exact and (summary.get("countPrecision") != "exact"
                          or "countAdjustedTo" in summary):
                exact = False
            if response is None:
                continue
            sets = response["resultSets"]
            peer_id = outcome.peer.id
            for item in sets:
                item["beaconId"] = peer_id
        else:
            sets = _tagged(outcome, "resultSets")
            raw_summary = (outcome.raw.get("responseSummary")
                           if isinstance(outcome.raw, dict) else None)
            # the total's precision is its parts': a boolean answer is none of them
            if isinstance(raw_summary, dict):
                summaries.append(raw_summary)
                exact = False
        if rank < _RECORD:
            result_sets += _as_counted(sets, granularity)
            continue
        if checked.get("response") is not None:     # as a typed answer's (above)
            line["pagination"] = page_answered(query.page, info, [
                (len(s["results"]), s["resultsCount"], s.get("countPrecision") == "exact")
                for s in sets])
        result_sets += sets
    returned = GRANULARITIES[highest]
    # A peer that found something without counting it (a boolean answer of `exists: true`,
    # or a count answer stating none, or 0), or did not answer, adds a count nobody knows:
    # the total's precision is
    # then unknown and none is stated, as for a Beacon v2.0 peer's count of no stated
    # precision (combined_precision, here given a part stating none). Left out of it, one
    # boolean peer's `exists: true` beside a count peer's exact 0 merged to `exists: true,
    # numTotalResults: 0, countPrecision: exact` (found by a review, 2026-12-05).
    if uncounted:
        exact = False
        summaries.append({})
    # what combined_precision gives when every part is exact and unadjusted, as a node's
    # are, without its pass over them (9k instructions a network request of 1.83M)
    precision = ({"countPrecision": "exact"} if exact else combined_precision(
        [s if type(s) is dict else to_builtins(s) for s in summaries]))
    if total > MAX_COUNT:
        precision = _capped(precision)
        total = MAX_COUNT
    body = answer.envelope(beacon_id, query, returned, exists, total,
                           result_sets, precision, schemas=schemas, filters=filters)
    # A node's own note of the page it serves (a limit above its 1000) is no network's: the
    # network pages nothing itself, and each peer's line says the page it answered
    info = body.setdefault("info", {})
    info.pop("pagination", None)
    info["network"] = _network(lines, peers)
    return body


def page_answered(page: Page, info: Any, sets: list[tuple[int, int, bool]]
                  ) -> dict[str, int]:
    """The page a peer answered with records, as its line states it (`pagination`): `skip`
    as asked, `limit` the records a page of it holds, so that a reader asking each of its
    datasets for page `skip + 1` of `limit` records sees every record once. A peer may
    return fewer than the `limit` asked (its own most a page holds, as a node's 1000): asked
    for the next page with the limit asked, it skipped those in between where it reads
    `skip` as pages of that limit, and a reader counting pages of it took its second page
    for records past the first limit. The page's size is the one the peer states (a node's
    `info.pagination.limit`), else, on a first page (whose first record is the first
    however the peer reads `skip`), the records of a set it returned fewer of than asked
    and than its exact count says it holds; else the limit asked. `sets`: (records
    returned, resultsCount, whether that count is exact) of each of its resultSets."""
    asked = page.limit                  # 0: all there are, or the most the peer returns
    size = asked
    stated = info.get("pagination") if type(info) is dict else None
    stated = stated.get("limit") if type(stated) is dict else None
    if type(stated) is int and 0 < stated <= MAX_COUNT and (not asked or stated < asked):
        size = stated
    elif not page.skip:
        size = max((returned for returned, count, exact in sets
                    if exact and 0 < returned < count and (not asked or returned < asked)),
                   default=asked)
    if not size:                        # all asked, and all there is returned
        size = max((returned for returned, _, _ in sets), default=0)
    return {"skip": page.skip, "limit": size}


CAPPED = f"more than {MAX_COUNT} reported as {MAX_COUNT}"


def _capped(precision: dict[str, Any]) -> dict[str, Any]:
    """The precision of a total that passed MAX_COUNT and is reported as MAX_COUNT: the
    coarsest, `imprecise`, with CAPPED among its adjustments. Reported with its peers'
    precision, the sum of two exact counts of 2^53 - 1 was "exact" at 2^53 - 1, half of
    what they said (found by a review, 2026-12-05)."""
    return {"countPrecision": "imprecise",
            "countAdjustedTo": list(dict.fromkeys([*precision.get("countAdjustedTo", ()),
                                                   CAPPED]))}


# What a resultSet of a count answer passes on: the schema's fields (beaconResultsets.json,
# ResultsetInstance; `results` empty and `info` only its returnedGranularity), the count's
# precision (Beacon v2.2, as a node states it on each set), and the network's tag. Of the
# fields that hold more than a string or a number, only what their schemas define: a
# `countPrecision` one of PRECISIONS, a `countAdjustedTo` a list of strings, and each
# handover its schema's fields (_handovers). The keys alone were checked, so a peer
# answering `count` with `countAdjustedTo: [{...a record...}]`, or a handover carrying
# `"records": [...]`, had them passed on (found by a review, 2026-12-05).
# (`_counted` writes those before its checked fields, and beaconId last, as they came)
_COUNTED_OWN = ("id", "setType", "exists", "resultsCount")
_COUNTED_FIELDS = (*_COUNTED_OWN, "beaconId")
_RECORD = _RANK["record"]
# the keys of a set passed on as it came (_as_counted), and of its info; a set with
# `resultsHandovers` (no node sends them; the model checked them) is always made anew
_AS_COUNTED = frozenset((*_COUNTED_FIELDS, "countPrecision", "countAdjustedTo", "results",
                         "info"))
_COUNTED_INFO = frozenset(("returnedGranularity", "alleleNumber"))


def _as_counted(sets: list[dict[str, Any]], granularity: str) -> list[dict[str, Any]]:
    """A peer's resultSets as an answer at `granularity` (count) holds them: without
    records, and without any other key of the peer's, which the schema does not define and
    which could hold them as well (`"records": [...]`, `"info": {"leak": ...}`): a set's
    `info` is its returnedGranularity only, its own where lower (a dataset the caller may
    only know exists), else `granularity`. A set that is that already, as a node's count
    answer's are, is passed on as it came: built anew, the sets of three peers cost 2% of
    a network request's instructions (bench/federation.py --overhead)."""
    ceiling = _RANK[granularity]
    return [s if _passes_as_counted(s, ceiling) else _counted(s, granularity) for s in sets]


def _relayed(item: PeerSet, peer_id: str, rank: int, granularity: str) -> dict[str, Any]:
    """A resultSet of a node's shape (network.PeerSet) as the merge passes it on, tagged:
    what a set of the peer's JSON as it came would be (merge_variants), in the order of the
    set's fields. Below record, one that is not already what an answer at `granularity`
    holds of it is made so (_counted); its types leave only what _passes_as_counted checks
    of its values: an `info`, no records, and the granularity it states."""
    info = item.info
    if rank < _RECORD and (info is UNSET or item.results
                           or _RANK.get(info.returnedGranularity, _RECORD) > rank):
        whole = to_builtins(item)
        whole["beaconId"] = peer_id
        return _counted(whole, granularity)
    relayed: dict[str, Any] = {"id": item.id, "setType": item.setType, "exists": item.exists,
                               "beaconId": peer_id, "resultsCount": item.resultsCount}
    if item.countPrecision is not UNSET:
        relayed["countPrecision"] = item.countPrecision
    if item.countAdjustedTo is not UNSET:
        relayed["countAdjustedTo"] = item.countAdjustedTo
    relayed["results"] = item.results
    if info is not UNSET:
        relayed["info"] = ({"returnedGranularity": info.returnedGranularity}
                           if info.alleleNumber is UNSET else
                           {"returnedGranularity": info.returnedGranularity,
                            "alleleNumber": info.alleleNumber})
    return relayed


def _passes_as_counted(s: dict[str, Any], ceiling: int) -> bool:
    """Whether the resultSet `s` is already what an answer at the granularity of rank
    `ceiling` (below record) holds of it (_as_counted), and passes on as it came."""
    info = s.get("info")
    # the cheapest tests first; an `info` of one key is its returnedGranularity alone
    return (type(info) is dict and not s["results"]
            and type(own := info.get("returnedGranularity")) is str
            and _RANK.get(own, _RECORD) <= ceiling and s.keys() <= _AS_COUNTED
            and (len(info) == 1 or (info.keys() <= _COUNTED_INFO
                                    and _allele_number(info) == info["alleleNumber"]))
            and ("countPrecision" not in s or s["countPrecision"] in PRECISIONS)
            and ("countAdjustedTo" not in s or _strings(s["countAdjustedTo"])
                 == s["countAdjustedTo"]))


def _counted(s: dict[str, Any], granularity: str) -> dict[str, Any]:
    """The resultSet `s` made anew as an answer at `granularity` holds it (_as_counted):
    a `countPrecision` not of the schema's values is left out, as is a `countAdjustedTo`
    holding no string (of one holding other things, its strings are kept)."""
    info = s.get("info")
    kept = {key: s[key] for key in _COUNTED_OWN if key in s}
    if handovers := _handovers(s.get("resultsHandovers")):
        kept["resultsHandovers"] = handovers
    if s.get("countPrecision") in PRECISIONS:
        kept["countPrecision"] = s["countPrecision"]
    if adjusted := _strings(s.get("countAdjustedTo")):
        kept["countAdjustedTo"] = adjusted
    if "beaconId" in s:
        kept["beaconId"] = s["beaconId"]
    own = info.get("returnedGranularity") if isinstance(info, dict) else None
    lower = isinstance(own, str) and _RANK.get(own, _RECORD) < _RANK[granularity]
    about: dict[str, Any] = {"returnedGranularity": own if lower else granularity}
    if (number := _allele_number(info)) is not None:
        about["alleleNumber"] = number       # "not seen in N alleles" (docs/beacon.md)
    return {**kept, "results": [], "info": about}


def _handovers(value: Any) -> list[dict[str, Any]]:
    """A set's `resultsHandovers` as a count answer passes them on: each made anew of its
    schema's fields only (beaconCommonComponents.json Handover: `handoverType`, `url`,
    `note`; its type an ontology term, `id` and `label`), the strings the model checked
    (network.PeerHandover). The schema lets a handover and its type carry more, which the
    model reads past; passed on, a handover's `"records": [...]` went with a count."""
    made = []
    for handover in value if isinstance(value, list) else []:
        kind = handover.get("handoverType") if isinstance(handover, dict) else None
        if not (isinstance(kind, dict) and isinstance(kind.get("id"), str)
                and isinstance(handover.get("url"), str)):
            continue
        made.append({"handoverType": _texts(kind, ("id", "label")),
                     **_texts(handover, ("url", "note"))})
    return made


def _allele_number(info: Any) -> int | None:
    """A set's `info.alleleNumber` (a node's miss: the alleles called at the site) where it
    is one, a count: passed on at count as at record."""
    number = info.get("alleleNumber") if isinstance(info, dict) else None
    return number if type(number) is int and 0 <= number <= MAX_COUNT else None


def merge_collections(beacon_id: str, outcomes: list[PeerOutcome], peers: PeerList,
                      query: DatasetsQuery) -> dict[str, Any]:
    """Datasets of every peer (their CollectionsAnswer.checked answers), each tagged with its
    beaconId; totals as the peers gave them; the request `query` echoed as received."""
    summaries = [o.answer["responseSummary"] for o in outcomes if o.answer is not None]
    collections = [c for o in outcomes if o.answer is not None for c in _tagged(o, "collections")]
    body = collections_envelope(
        beacon_id, collections, exists=any(s["exists"] for s in summaries),
        total=min(sum(s["numTotalResults"] or 0 for s in summaries), MAX_COUNT), query=query)
    body["info"] = network_info(outcomes, peers)
    return body


def found_nowhere(outcomes: list[PeerOutcome]) -> bool:
    """Every peer answered, and none holds the entry: the network's 404. While a peer is
    unavailable the entry may be there, so the answer is a 200 naming that peer. A network
    without peers asked none, and answers an empty network (200), as on its other routes."""
    return bool(outcomes) and all(o.status == "ok" and o.answer is None for o in outcomes)


def info_line(answer: dict[str, Any]) -> dict[str, Any]:
    """What the network says of a peer's /info (its DocumentAnswer.checked `answer`): its
    name, apiVersion and organisation's name as printable text cut to 300 characters, as
    its error message (node/logs.py shown), and its welcomeUrl only when it is an http(s)
    URL (auth/urls.py). They went on as sent: a line break, an ESC sequence or U+202E to
    whatever logs or shows the network's /info, a megabyte-long name cached and sent in
    every /info for a minute, a `javascript:` welcomeUrl to a page linking it (found by a
    review, 2026-12-05)."""
    response = answer["response"]
    organization = response.get("organization")
    line = {key: shown(response[key][:MAX_TEXT]) for key in ("name", "apiVersion")
            if isinstance(response.get(key), str)}
    welcome = response.get("welcomeUrl")
    if isinstance(welcome, str) and len(welcome) <= MAX_URL and _http(welcome):
        line["welcomeUrl"] = welcome
    if isinstance(organization, dict) and isinstance(organization.get("name"), str):
        line["organization"] = shown(organization["name"][:MAX_TEXT])
    return line


def _http(url: str) -> bool:
    try:
        http_url(url)
    except ValueError:
        return False
    return True


# Entry type ids peers of an older version give, by the id this node gives the same type:
# nodes up to 0.5 called variants `genomicVariation`, where the spec's default model
# (beaconMap.json, beaconConfiguration.json) says `genomicVariant`.
_FORMER_ENTRY_TYPES = {"genomicVariation": "genomicVariant"}


def map_line(answer: dict[str, Any]) -> dict[str, Any]:
    """What the network says of a peer's /map: its entry types, each by the id this node
    gives it (an older peer's `genomicVariation` is `genomicVariant`, the same type); only
    ids (word characters, as the spec's are), the first MAX_ENTRY_TYPES of them in order:
    every key of a peer's endpointSets went on, any text, as many as it sent."""
    sets = answer["response"].get("endpointSets")
    if not isinstance(sets, dict):
        return {}
    return {"entryTypes": sorted({_FORMER_ENTRY_TYPES.get(kind, kind) for kind in sets
                                  if _ENTRY_TYPE.fullmatch(kind)})[:MAX_ENTRY_TYPES]}


def network_beacon_info(beacon: BeaconIdentity, outcomes: list[PeerOutcome],
                        peers: PeerList) -> dict[str, Any]:
    """This node's Beacon information as the network's entry point, with its peers
    (`outcomes`: Network.document's, each answer its peer's info_line)."""
    return info.beacon_info(beacon, [], api_root=NETWORK_API,
                            extra=network_info(outcomes, peers, described=True))


def network_service_info(beacon: BeaconIdentity) -> dict[str, Any]:
    """The network's GA4GH service-info, which a GDI portal or a service registry asks of
    every Beacon-like service, an aggregator too: a Beacon's type, the node's organisation,
    contact and version. Its id is the node's with `.network` after it: the network is
    another service than the node's /api, at another URL, and a registry keys services by
    id (the schema: "globally unique so it can be used in ... Service Registry"). Nothing
    of the peers' data, which it does not hold, and no peer is asked: no createdAt or
    updatedAt, which the node's give of its own datasets."""
    node = info.service_info(beacon, [])
    return {**node, "id": f"{beacon.id}.network", "name": f"{beacon.name} (network)",
            "description": f"The Beacon network of {beacon.name}: one Beacon v2 API at "
                          f"{beacon.base_url}{NETWORK_API} that asks its peers' Beacons, "
                          "each applying its own access rules, and merges their answers; "
                          "it holds no data of its own."}


def network_map(beacon: BeaconIdentity, outcomes: list[PeerOutcome],
                peers: PeerList, served: Collection[str]) -> dict[str, Any]:
    """The node's map below the network's root, of the entry endpoints the network serves
    (`served`, its paths below the root), plus each peer's entry types (`outcomes`:
    Network.document's, each answer its peer's map_line)."""
    return {**info.beacon_map(beacon, NETWORK_API, served),
            "info": network_info(outcomes, peers, described=True)}


def network_terms(beacon: BeaconIdentity, query: info.TermsQuery, outcomes: list[PeerOutcome],
                  peers: PeerList) -> dict[str, Any]:
    """The network's filtering_terms answer: every peer's whole list merged (merge_terms),
    in id order as a node lists its own, then paged as a node pages its own
    (info.TermsQuery.listed), so that page 2 of the network's list is page 2 of the merged list,
    not the peers' second pages put together (which skipped and repeated terms). Each page
    lists the resources of its own terms' prefixes, as a node's does, letter case aside as
    a node names them (one resource for `Lab.Group:` and `lab.group:`, named by one of the
    two): matched letter for letter, the page of the other spelling's terms listed no
    resource of theirs, and the GDI portal offered them nowhere (found by a review,
    2026-12-07). A peer's resource naming no prefix cannot be matched to a term and is
    listed on every page."""
    terms, resources = merge_terms(outcomes)
    terms.sort(key=lambda term: term["id"])         # Python's str order is COLLATE "C"'s
    listed = query.listed(terms)
    prefixes = {term["id"].split(":", 1)[0].casefold() for term in listed}
    body: dict[str, Any] = {
        "meta": info.informational_meta(beacon, test_mode=query.test_mode),
        "response": {"filteringTerms": listed,
                     "resources": [r for r in resources if "nameSpacePrefix" not in r
                                   or r["nameSpacePrefix"].casefold() in prefixes]}}
    body["info"] = {**listing_info(query.page, query.test_mode),
                    **network_info(outcomes, peers)}
    return body


def merge_terms(outcomes: list[PeerOutcome]) -> tuple[list[dict[str, Any]],
                                                      list[dict[str, Any]]]:
    """The peers' terms, each once (by id), labelled and typed as a node merges its
    datasets' terms (`_described`), with every scope any gives it and `beaconIds`, the peers
    offering it (the schema lets a term carry more properties); their ontology resources,
    each once. Of what a peer sends, only
    the schema's properties of the schema's types are passed on: a peer's nonsense (a scope
    that is a list, a label that is a number) would otherwise make the network's answer
    invalid (found by tests/test_fuzz_network.py).

    Each scope and peer id is added in constant time, so the merge takes time in proportion
    to what the peers sent (at most MAX_PEER_BODY each): a term's scopes are gathered as a
    dict's keys (in the order first given), not searched for in a list, which took 7 s of
    the node's one event loop for a term a peer listed twice with 40,000 scopes."""
    terms: dict[str, dict[str, Any]] = {}
    resources: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.answer is None:
            continue
        peer_id = outcome.peer.id
        listed = outcome.answer["response"].get("filteringTerms")
        for term in listed if isinstance(listed, list) else []:
            if not (isinstance(term, dict) and isinstance(term.get("id"), str)
                    and isinstance(term.get("type"), str)):
                continue
            values = _strings(term.get("values"))      # the schema's: at least one
            merged = terms.setdefault(term["id"], {
                **_texts(term, ("id", "type", "label")), **({"values": values} if values else {}),
                "scopes": {}, "beaconIds": []})
            _described(merged, term)
            merged["scopes"].update(dict.fromkeys(_strings(term.get("scopes"))))
            # the peers' ids are unique, each outcome one peer's: a peer already offering
            # the term (listing it twice) is the last one added
            if not merged["beaconIds"] or merged["beaconIds"][-1] != peer_id:
                merged["beaconIds"].append(peer_id)
        known = outcome.answer["response"].get("resources")
        for resource in known if isinstance(known, list) else []:
            if isinstance(resource, dict) and isinstance(resource.get("id"), str):
                resources.setdefault(resource["id"], _texts(resource, _RESOURCE_KEYS))
    for merged in terms.values():
        merged["scopes"] = list(merged["scopes"])
    return list(terms.values()), list(resources.values())


def _described(merged: dict[str, Any], term: dict[str, Any]) -> None:
    """`merged` (the term as merged so far) labelled and typed by one more peer's `term`, by
    the rule of a node's own merge (beacon/info.py merged_description), a label that is the
    term's id being none: it is what a node writes of a term it holds no label of. The first
    peer's label and type were kept: a term came unlabelled, or alphanumeric, by the order
    of the peers (found by a review, 2026-12-05)."""
    label = term.get("label")
    label, merged["type"] = info.merged_description(
        (merged.get("label"), merged["type"]),
        (label if isinstance(label, str) else None, term["type"]), unlabelled=term["id"])
    if label is not None:
        merged["label"] = label


_RESOURCE_KEYS = ("id", "name", "url", "version", "nameSpacePrefix", "iriPrefix")


def _texts(item: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """The string properties among `keys` of a peer's item."""
    return {key: item[key] for key in keys if isinstance(item.get(key), str)}


def _stated(line: dict[str, Any], precision: Any, adjusted: Any) -> None:
    """What a peer stated of its count's precision, on its line beside the count: a
    `countPrecision` of the schema's values, a `countAdjustedTo`'s strings. Without them a
    peer answering with a count and no resultSets (software other than this node's) had
    its rounded or bounded count shown bare, as exact, where the page lists it."""
    if precision in PRECISIONS:
        line["countPrecision"] = precision
    if adjusted := _strings(adjusted):
        line["countAdjustedTo"] = adjusted


def _strings(value: Any) -> list[str]:
    """The strings of a peer's list (none of anything else)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
