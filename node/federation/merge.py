"""One Beacon response for the whole network, from the peers' outcomes. No HTTP here.

Merge rules (docs/federation.md): every resultSet and collection a peer returned is passed
on as the peer sent it, tagged with the peer's id as `beaconId` (the resultSet schema allows
extra properties; EGA's beacon-network-facade tags the same way). `exists` is true when any
peer said so. `numTotalResults` is the sum of the totals the peers reported at count or record
granularity, after each peer's own access decisions and count floor: nothing is recounted
here, so a count a peer withheld cannot reappear. The returned granularity is the highest any
peer answered at. Every peer, answered or not, has a line in `info.network.peers`; a peer
that timed out, failed or answered nonsense is listed there with its status and is simply
absent from the results, which is different from a peer that answered "not found".
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auth.policy import highest
from beacon import answer, info
from beacon.datasets import collections_envelope
from beacon.disclosure import combined_precision
from beacon.info import BeaconIdentity
from beacon.request import VariantQuery
from node.federation.network import (
    CollectionsAnswer,
    DocumentAnswer,
    PeerList,
    PeerOutcome,
    VariantAnswer,
)

NETWORK_API = "/network/api"


def network_info(outcomes: list[PeerOutcome], peers: PeerList,
                 detail: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
    """`info.network`: one line per peer, plus what each answered when `detail` says."""
    lines = []
    for outcome in outcomes:
        line = outcome.report()
        if detail and outcome.answer is not None:
            line.update(detail(outcome.answer))
        lines.append(line)
    network: dict[str, Any] = {"peers": lines}
    if peers.catalogue is not None:
        network["catalogue"] = peers.catalogue
    return {"network": network}


def _variant_line(answer: VariantAnswer) -> dict[str, Any]:
    line: dict[str, Any] = {"exists": answer.responseSummary.exists,
                            "returnedGranularity": answer.meta.returnedGranularity}
    if answer.responseSummary.numTotalResults is not None:
        line["numTotalResults"] = answer.responseSummary.numTotalResults
    return line


def _tagged(outcome: PeerOutcome, key: str) -> list[dict[str, Any]]:
    response = outcome.raw.get("response") if isinstance(outcome.raw, dict) else None
    items = response.get(key, []) if isinstance(response, dict) else []
    return [{**item, "beaconId": outcome.peer.id} for item in items]


def merge_variants(beacon_id: str, query: VariantQuery, outcomes: list[PeerOutcome],
                   peers: PeerList, *, schemas: list[dict[str, str]] | None = None,
                   filters: list[str] | None = None) -> dict[str, Any]:
    """The network's answer to `query`: a Beacon response envelope (beacon/answer.py)
    filled from what the peers answered; of genomic variations, or of the entry type
    `schemas` names (individuals, selected by `filters`), whose answers have the same
    shape."""
    answered = [o for o in outcomes if isinstance(o.answer, VariantAnswer)]
    answers = [o.answer for o in answered if isinstance(o.answer, VariantAnswer)]
    returned = highest(*(a.meta.returnedGranularity for a in answers)) if answers else "boolean"
    total = sum(a.responseSummary.numTotalResults or 0 for a in answers
                if a.meta.returnedGranularity != "boolean")
    result_sets = [s for o in answered for s in _tagged(o, "resultSets")]
    body = answer.envelope(beacon_id, query, returned,
                           any(a.responseSummary.exists for a in answers), total, result_sets,
                           _total_precision([o.raw for o in answered]), schemas=schemas,
                           filters=filters)
    body["info"] = {**body.get("info", {}), **network_info(outcomes, peers, _variant_line)}
    return body


def _total_precision(raws: list[Any]) -> dict[str, Any]:
    """The network total's precision: combined from the peers' summaries."""
    summaries = (raw.get("responseSummary") if isinstance(raw, dict) else None for raw in raws)
    return combined_precision(s for s in summaries if isinstance(s, dict))


def merge_collections(beacon_id: str, outcomes: list[PeerOutcome], peers: PeerList, *,
                      skip: int, limit: int) -> dict[str, Any]:
    """Datasets of every peer, each tagged with its beaconId; totals as the peers gave them."""
    answers = [o.answer for o in outcomes if isinstance(o.answer, CollectionsAnswer)]
    collections = [c for o in outcomes if isinstance(o.answer, CollectionsAnswer)
                   for c in _tagged(o, "collections")]
    body = collections_envelope(
        beacon_id, collections, exists=any(a.responseSummary.exists for a in answers),
        total=sum(a.responseSummary.numTotalResults or 0 for a in answers), skip=skip,
        limit=limit)
    body["info"] = network_info(outcomes, peers)
    return body


def found_nowhere(outcomes: list[PeerOutcome]) -> bool:
    """Every peer answered, and none holds the entry: the network's 404. While a peer is
    unavailable the entry may be there, so the answer is a 200 naming that peer."""
    return all(o.status == "ok" and o.answer is None for o in outcomes)


def _info_line(answer: DocumentAnswer) -> dict[str, Any]:
    response = answer.response
    organization = response.get("organization")
    line = {key: response[key] for key in ("name", "apiVersion", "welcomeUrl")
            if isinstance(response.get(key), str)}
    if isinstance(organization, dict) and isinstance(organization.get("name"), str):
        line["organization"] = organization["name"]
    return line


def _map_line(answer: DocumentAnswer) -> dict[str, Any]:
    sets = answer.response.get("endpointSets")
    return {"entryTypes": sorted(sets)} if isinstance(sets, dict) else {}


def network_beacon_info(beacon: BeaconIdentity, outcomes: list[PeerOutcome],
                        peers: PeerList) -> dict[str, Any]:
    """This node's Beacon information as the network's entry point, with its peers."""
    return info.beacon_info(beacon, [], api_root=NETWORK_API,
                            extra=network_info(outcomes, peers, _info_line))


def network_map(beacon: BeaconIdentity, outcomes: list[PeerOutcome],
                peers: PeerList) -> dict[str, Any]:
    """The node's map below the network's root (the network serves the same entry
    endpoints), plus each peer's entry types."""
    return {**info.beacon_map(beacon, NETWORK_API),
            "info": network_info(outcomes, peers, _map_line)}
