"""The network endpoints (/network/api) against real peers on 127.0.0.1: three nodes, each its
own database and datasets at mixed access levels, trusting one development AAI; and small
real servers that misbehave (sleep, answer non-JSON, non-Beacon JSON, HTTP 500), record the
Authorization header they got, or serve the catalogue's list of nodes. Checks the merge
(tags, totals, count floors, granularity per caller), timeouts and the deadline, invalid
answers, token forwarding, the catalogue registry, caching of /info and /map, and that every
answer validates against the Beacon v2 schemas."""
from __future__ import annotations

import asyncio
import copy
import email.utils
import gc
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import orjson
import pytest
from aiohttp import ClientConnectionError, ClientSession, TCPConnector, web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from yarl import URL

from auth.access import AccessLevel
from auth.dev_issuer import (
    DevIssuer,
    trusted_issuer_entry,
)
from auth.issuers import TrustedIssuer
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from beacon.responses import request_summary, response_meta
from node.app import create_app
from node.database import create_pool
from node.federation import network as network_module
from node.federation.network import (
    MAX_NETWORK_BODIES,
    MAX_NETWORK_HOPS,
    MAX_PEER_BODY,
    MAX_REGISTRY_BODY,
    NETWORK_CALLER_HEADER,
    OWN_SESSIONS,
    PEER_CONNECTIONS,
    VIA_HEADER,
    PeerSessions,
    _peer_url,
)
from node.federation.peers import Peer
from node.federation.slots import RequestSlots
from node.http.app_keys import NETWORK
from node.settings import Settings, configuration_error
from tests.beacon_schemas import (
    COLLECTIONS_SCHEMA,
    ENTRY_TYPES_SCHEMA,
    ERROR_SCHEMA,
    INFO_SCHEMA,
    MAP_SCHEMA,
    RESPONSE_SCHEMAS,
    SERVICE_INFO_SCHEMA,
)
from tests.conftest import (
    OPEN_DISCLOSURE,
    free_port,
    node_database,
    serve_app,
    serve_dev_aai,
    write_vcf_text,
)

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
"""
# node id: {dataset id: (access level, number of variants, metadata)}
NODES: dict[str, dict[str, tuple[AccessLevel, int, dict[str, Any]]]] = {
    "org.test.fi": {"GDI-FI-SYN-001": (AccessLevel.PUBLIC, 4, {}),
                    "GDI-FI-SYN-002": (AccessLevel.REGISTERED, 3, {}),
                    "GDI-FI-SYN-003": (AccessLevel.CONTROLLED, 2, {})},
    "org.test.se": {"GDI-SE-SYN-001": (AccessLevel.PUBLIC, 5, {}),
                    "GDI-SE-SYN-003": (AccessLevel.CONTROLLED, 3, {})},
    "org.test.es": {"GDI-ES-SYN-001": (AccessLevel.PUBLIC, 6, {}),
                    # one carrier each, below this dataset's allele floor
                    "GDI-ES-SYN-002": (AccessLevel.PUBLIC, 2,
                                       {"disclosure": {"anonymous": {"allele_floor": 5}}})},
}
FLOORED = "GDI-ES-SYN-002"
QUERY = {"referenceName": "1", "start": "0", "end": "100000", "requestedGranularity": "record",
         "includeResultsetResponses": "ALL"}


def _vcf(count: int) -> str:
    return HEADER + "".join(f"chr1\t{100 * (i + 1)}\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\n"
                            for i in range(count))



@dataclass
class Fakes:
    """Misbehaving, recording and registry servers: one aiohttp app, one prefix per peer."""

    url: str
    release: asyncio.Event
    authorization: dict[str, list[str | None]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    via: dict[str, list[str | None]] = field(default_factory=dict)    # VIA_HEADER, by peer
    callers: dict[str, list[str | None]] = field(default_factory=dict)  # NETWORK_CALLER_HEADER
    nodes: list[dict[str, str]] = field(default_factory=list)

    def peer(self, name: str, *trusted: str) -> Peer:
        return Peer(id=name, url=f"{self.url}/{name}/api", forward_tokens_from=trusted)


# A peer's /info name forging a log line, with an ESC sequence and a right-to-left override,
# a megabyte long
LOUD_NAME = "Peer\n2026-12-05 INFO granted\x1b[2K\u202e" + "x" * 2**20


def _boolean_answer(beacon_id: str) -> dict[str, Any]:
    return {"meta": response_meta(beacon_id, "boolean", request_summary()),
            "responseSummary": {"exists": True}}


HANDOVER = {"handoverType": {"id": "EDAM:3016", "label": "VCF"},
            "url": "https://peer.example.org/handover/vcf", "note": "the matching records"}
# What a fake peer's one resultSet carries beside the schema's required fields, by its name
RESULT_SET_EXTRAS: dict[str, dict[str, Any]] = {
    "badinfo": {"info": "P30Y"},                                    # info must be an object
    "badhandover": {"resultsHandovers": [{"handoverType": {"id": "VCF"}, "url": "x"}]},
    "handover": {"info": {"returnedGranularity": "count"}, "resultsHandovers": [HANDOVER]},
}


# What a fake peer's answer says of the datasets it did not ask, in its top-level `info`
PEER_NOTES: dict[str, dict[str, Any]] = {
    "notes.good": {"purposeRequired": ["GDI-XX-P-1"], "onOtherAssemblies": {
        "GRCh37": ["GDI-XX-37-1"]}, "refused": ["GDI-XX-R-1"],
        "budget": {"GDI-XX-1": {"windowLeft": 3}}},
    "notes.bad": {"purposeRequired": "GDI-XX-P-1", "onOtherAssemblies": {"GRCh37": [7]},
                  "refused": {"GDI-XX-R-1": "spent"}},
    "notes.gene": {"geneId": {"GRCh38": "F5 is not in the node's gene table on GRCh38 (it is "
                                        "on GRCh37)\n\x1b[2Kforged", "GRCh37": "x" * 400}},
    "notes.badgene": {"geneId": {"GRCh38": ["not", "text"]}},
    "notes.forged": {"purposeRequired": ["GDI-XX-P-1\n\x1b[2Kforged", "D" * 300],
                     "onOtherAssemblies": {"GRCh37\u202e": ["GDI-XX-37-1\r"]},
                     "refused": ["GDI-XX-R-1\x1b[2K"]},
    "notes.many": {"purposeRequired": [f"GDI-XX-P-{i}" for i in range(1001)]},
}

# Fake peers reporting counts at and past the largest a peer may (network.MAX_COUNT)
HUGE_COUNTS = {"huge.1": 2**53 - 1, "huge.2": 2**53 - 1, "toohuge": 2**53}

# Someone's record, as a peer answering `count` could hide it in a field of a resultSet
SMUGGLED = {"variantInternalId": "smuggled-variant-1", "carrier": "smuggled-person-42"}
# What a fake peer's one resultSet, in a count answer, carries in the schema's fields
SMUGGLING_EXTRAS: dict[str, dict[str, Any]] = {
    "smuggle.adjusted": {"info": {"returnedGranularity": "count"},
                         "countAdjustedTo": ["next multiple of 5", SMUGGLED]},
    "smuggle.precision": {"countPrecision": "smuggled-person-42"},
    "smuggle.handover": {"resultsHandovers": [{
        **HANDOVER, "records": [SMUGGLED],
        "handoverType": {**HANDOVER["handoverType"], "carrier": SMUGGLED["carrier"]}}]},
}


def _count_answer(beacon_id: str, extras: dict[str, Any], count: int = 1,
                  **summary: Any) -> dict[str, Any]:
    return {"meta": response_meta(beacon_id, "count", request_summary("count")),
            "responseSummary": {"exists": True, "numTotalResults": count, **summary},
            "response": {"resultSets": [{"id": f"{beacon_id}-set", "setType": "dataset",
                                         "exists": True, "resultsCount": count, "results": [],
                                         **extras}]}}


def _lax_answer(name: str) -> dict[str, Any]:
    """A count answer with one field of the kind pydantic's lax mode converts: a boolean
    count, an `exists` that is a string or a number; or a count spelt in digits, which the
    network takes."""
    answer = _count_answer(name, {}, 3)
    summary, result_set = answer["responseSummary"], answer["response"]["resultSets"][0]
    {"lax.truecount": lambda: summary.update(numTotalResults=True),
     "lax.truesetcount": lambda: result_set.update(resultsCount=True),
     "lax.yes": lambda: summary.update(exists="yes"),
     "lax.one": lambda: result_set.update(exists=1),
     "lax.digits": lambda: summary.update(numTotalResults="3")}[name]()
    return answer


OVERSHARED = "overshare-variant-1"
# A peer's error message with a line break that forges a log line, an ESC sequence and a
# right-to-left override
FORGED = "db down\n2026-12-05T10:00:00 INFO gdi_node.audit granted sub=admin\x1b[2K\u202e"


def _record_answer(beacon_id: str) -> dict[str, Any]:
    return {"meta": response_meta(beacon_id, "record", request_summary("record")),
            "responseSummary": {"exists": True, "numTotalResults": 2, "countPrecision": "exact"},
            "response": {"resultSets": [{
                "id": f"{beacon_id}-set", "setType": "dataset", "exists": True,
                "resultsCount": 2, "countPrecision": "exact",
                "info": {"returnedGranularity": "record"},
                "results": [{"variantInternalId": OVERSHARED, "variation": {
                    "location": {"type": "SequenceLocation", "sequence_id": "refseq:NC_000001.11",
                                 "interval": {"type": "SequenceInterval",
                                              "start": {"type": "Number", "value": 99},
                                              "end": {"type": "Number", "value": 100}}},
                    "alternateBases": "G", "referenceBases": "A",
                    "variantType": "SNP"}}]}]}}


# Fake peers holding CAPPED_RECORDS records in one dataset, each returning at most its cap
# per page (the first number of its name) whatever `limit` asks: one reading `skip` as pages
# of the records it returns (".pages", as the spec and a node read it), one as pages of the
# `limit` asked (".limit", as another Beacon may)
CAPPED = ("capped.3.pages", "capped.2.limit")
CAPPED_RECORDS = 7


def _capped_dataset(name: str) -> str:
    return f"GDI-XX-CAP{name.split('.')[1]}-001"


def _capped_answer(name: str, query: Any) -> dict[str, Any]:
    """`name`'s page of its CAPPED_RECORDS records for `query` (a GET's)."""
    cap, reading = int(name.split(".")[1]), name.split(".")[2]
    asked = int(query.get("limit", "10"))
    size = min(asked, cap) if asked else cap
    first = int(query.get("skip", "0")) * (size if reading == "pages" else asked or cap)
    records = [{"variantInternalId": f"{name}-{i}"}
               for i in range(first, min(first + size, CAPPED_RECORDS))]
    return {"meta": response_meta(name, "record", request_summary("record")),
            "responseSummary": {"exists": True, "numTotalResults": CAPPED_RECORDS,
                                "countPrecision": "exact"},
            "response": {"resultSets": [{
                "id": _capped_dataset(name), "setType": "dataset", "exists": True,
                "resultsCount": CAPPED_RECORDS, "countPrecision": "exact",
                "info": {"returnedGranularity": "record"}, "results": records}]}}


LEAKED = "leaked-secret"


def _mislabelled_answer(beacon_id: str) -> dict[str, Any]:
    """A record answer whose meta says a lower granularity (the end of `beacon_id`), its set
    carrying records under keys of its own too."""
    answer = _record_answer(beacon_id)
    answer["meta"]["returnedGranularity"] = beacon_id.rsplit(".", 1)[1]
    result_set = answer["response"]["resultSets"][0]
    result_set.update({"records": result_set["results"],
                       "info": {"returnedGranularity": "count", "leak": LEAKED}})
    return answer


def _gzip_bomb() -> bytes:
    """A count answer padded past MAX_PEER_BODY, as gzip: its Content-Length, the packed
    size, far below the bound."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)      # a gzip member
    answer = json.dumps(_count_answer("gzipbomb", {}, 7)).encode()
    padded = answer[:-1] + b', "pad": "'
    block = b" " * 2**20
    parts = [packer.compress(padded)]
    parts += [packer.compress(block) for _ in range(MAX_PEER_BODY // len(block) + 1)]
    return b"".join([*parts, packer.compress(b'"}'), packer.flush()])


# Peers whose answers are each within MAX_PEER_BODY, together past MAX_NETWORK_BODIES
PADDED = [*(f"padded.{n}" for n in range(3)), *(f"padded.gzip.{n}" for n in range(2))]


def _padded_answer(name: str) -> bytes:
    """A boolean answer padded to 15 MiB in the part of `meta` the network reads past; as
    gzip (a few kB) for a name holding `gzip`, counted only as it unpacks."""
    answer = json.dumps(_boolean_answer(name)).encode()
    padded = b'{"pad": "' + b" " * (15 * 2**20) + b'", ' + answer[1:]
    if "gzip" not in name:
        return padded
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(padded) + packer.flush()


# Deeper than the network's JSON writer goes (orjson reads 1024 levels, writes 254)
DEEP: list[Any] = []
for _ in range(300):
    DEEP = [DEEP]


def _deep_answer(name: str, tail: str) -> dict[str, Any]:
    """A record answer, or a datasets answer, passing on something DEEP."""
    if tail.startswith("datasets"):
        return {"meta": {"beaconId": name}, "responseSummary": {"exists": True,
                                                                "numTotalResults": 1},
                "response": {"collections": [{"id": f"{name}-set", "deep": DEEP}]}}
    answer = _record_answer(name)
    answer["response"]["resultSets"][0]["results"][0]["deep"] = DEEP
    return answer


MANY = 40_000       # scopes of a term, count adjustments: what took seconds to merge


def _many_scopes_terms(name: str) -> dict[str, Any]:
    """One term listed twice, with MANY scopes."""
    term = {"id": "NCIT:C17998", "type": "ontologyTerm", "label": "Unknown",
            "scopes": [f"scope{i}" for i in range(MANY)]}
    return {"meta": {"beaconId": name}, "response": {"filteringTerms": [term, term]}}


def _many_adjustments(name: str) -> dict[str, Any]:
    """A count whose summary states MANY adjustments."""
    answer = _count_answer(name, {}, 5)
    answer["responseSummary"].update({"countPrecision": "rounded", "countAdjustedTo": [
        f"next multiple of {i}" for i in range(MANY)]})
    return answer


# One term as two peers list it: one without its label (a node then writes the id as its
# label; another Beacon may write an empty one) and as an alphanumeric term, the other
# labelled and as an ontology term (a node lists a measurement's assay so when someone also
# holds it as a term)
TERM_LISTS: dict[str, list[dict[str, Any]]] = {
    "terms.bare": [{"id": "NCIT:C16576", "type": "alphanumeric", "label": "NCIT:C16576",
                    "scopes": ["individual"]},
                   {"id": "HP:0001627", "type": "ontology", "scopes": ["individual"]},
                   {"id": "NCIT:C20197", "type": "ontology", "label": "",
                    "scopes": ["individual"]}],
    "terms.full": [{"id": "NCIT:C16576", "type": "ontology", "label": "female",
                    "scopes": ["individual"]},
                   {"id": "HP:0001627", "type": "ontology", "label": "Abnormal heart morphology",
                    "scopes": ["individual"]},
                   {"id": "NCIT:C20197", "type": "ontology", "label": "male",
                    "scopes": ["individual"]}]}


def _fakes_app(fakes: Fakes) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        name, tail = request.match_info["name"], request.match_info["tail"]
        fakes.hits[f"{name}/{tail}"] = fakes.hits.get(f"{name}/{tail}", 0) + 1
        fakes.authorization.setdefault(name, []).append(request.headers.get("Authorization"))
        fakes.via.setdefault(name, []).append(request.headers.get(VIA_HEADER))
        fakes.callers.setdefault(name, []).append(request.headers.get(NETWORK_CALLER_HEADER))
        if name == "slow":
            await asyncio.wait_for(fakes.release.wait(), 30)
        if name == "nojson":
            return web.Response(text="<html>gateway says hello</html>", content_type="text/html")
        if name == "notbeacon":
            return web.json_response({"hello": "world", "responseSummary": {"exists": "maybe"}})
        if name == "fail":
            return web.json_response({"error": {"errorCode": 500, "errorMessage": "db down"}},
                                     status=500)
        if name.startswith("busy."):        # a refusal saying when to come back, or not
            status, after = {"busy.seconds": (429, "120"),
                             "busy.date": (503, email.utils.format_datetime(
                                 datetime.now(UTC) + timedelta(hours=1), usegmt=True)),
                             "busy.nonsense": (503, "soon"),
                             "busy.ok": (200, "120")}[name]
            if status == 200:
                return web.json_response(_boolean_answer(name), headers={"Retry-After": after})
            return web.json_response({"error": {"errorCode": status, "errorMessage": "busy"}},
                                     status=status, headers={"Retry-After": after})
        if name == "fail200":               # a Beacon error body, sent with 200
            return web.json_response({"meta": {"beaconId": name, "apiVersion": "v2.0"},
                                      "error": {"errorCode": 400,
                                                "errorMessage": "unknown filter"}})
        if name in RESULT_SET_EXTRAS:
            return web.json_response(_count_answer(name, RESULT_SET_EXTRAS[name]))
        if name in PEER_NOTES:
            return web.json_response({**_count_answer(name, {}), "info": PEER_NOTES[name]})
        if name in HUGE_COUNTS:
            return web.json_response(_count_answer(name, {}, HUGE_COUNTS[name]))
        if name.startswith("exactmax."):    # the largest count a peer may send, exact
            return web.json_response(_count_answer(
                name, {"countPrecision": "exact"}, 2**53 - 1, countPrecision="exact"))
        if name == "exactzero":             # found nothing, and says so exactly
            return web.json_response(_count_answer(
                name, {"exists": False, "countPrecision": "exact"}, 0, exists=False,
                countPrecision="exact"))
        if name == "pifloor":               # EGA's beacon2-pi-api: not found, its floor as count
            return web.json_response(_count_answer(name, {"exists": False}, 5, exists=False))
        if name == "foundzero":             # found, and an exact count of none
            return web.json_response(_count_answer(
                name, {"countPrecision": "exact"}, 0, countPrecision="exact"))
        if name == "boolno":                # a boolean peer that found nothing
            return web.json_response({**_boolean_answer(name),
                                      "responseSummary": {"exists": False}})
        if name in SMUGGLING_EXTRAS:
            return web.json_response(_count_answer(name, SMUGGLING_EXTRAS[name]))
        if name.startswith("nested."):      # an error message 1,020 arrays deep
            return web.Response(body=b'{"error": {"errorCode": 400, "errorMessage": '
                                + b"[" * 1020 + b"]" * 1020 + b"}}",
                                status=int(name.partition(".")[2]),
                                content_type="application/json")
        if name == "forger":                # an error message forging a log line, and more
            return web.json_response({"error": {"errorCode": 500, "errorMessage": FORGED}},
                                     status=500)
        if name in CAPPED and tail.endswith("g_variants"):
            if tail.startswith("datasets/") and tail.split("/")[1] != _capped_dataset(name):
                return web.json_response({"error": {"errorCode": 404,
                                                    "errorMessage": "no such dataset"}},
                                         status=404)
            return web.json_response(_capped_answer(name, request.query))
        if name == "overshare":             # records, whatever the granularity asked
            return web.json_response(_record_answer(name))
        if name.startswith("hugeint."):      # a record holding 10**25, in ASCII or not
            answer = _record_answer(name)
            answer["response"]["resultSets"][0]["results"][0].update(
                huge=10**25, name="Åsa" if name.endswith("utf8") else "Asa")
            return web.Response(body=json.dumps(answer, ensure_ascii=False).encode(),
                                content_type="application/json")
        if name.startswith("lax."):
            return web.json_response(_lax_answer(name))
        if name.startswith("said."):        # records, whatever its meta says it answered
            return web.json_response(_mislabelled_answer(name))
        if name == "v20":                   # a Beacon v2.0 count: no countPrecision
            return web.json_response(_count_answer(name, {}, 7))
        if name == "gzipbomb":
            return web.Response(body=_gzip_bomb(), headers={"Content-Encoding": "gzip"},
                                content_type="application/json")
        if name in PADDED:
            return web.Response(body=_padded_answer(name), content_type="application/json",
                                headers={"Content-Encoding": "gzip"} if "gzip" in name else {})
        if name == "otherset":              # its own set, whichever datasets were asked
            if re.fullmatch(r"datasets/[^/]+", tail):
                return web.json_response({
                    "meta": {"beaconId": name},
                    "responseSummary": {"exists": True, "numTotalResults": 1},
                    "response": {"collections": [{"id": f"{name}-set"}]}})
            return web.json_response(_count_answer(name, {}, 7))
        if name == "deep":
            return web.json_response(_deep_answer(name, tail))
        if name == "manyscopes":
            return web.json_response(_many_scopes_terms(name))
        if name.startswith("adjusted."):
            return web.json_response(_many_adjustments(name))
        if name in TERM_LISTS:
            return web.json_response({"meta": {"beaconId": name},
                                      "response": {"filteringTerms": TERM_LISTS[name]}})
        if name == "bigdoc":                # an /info or /map padded to a megabyte
            return web.json_response({"meta": {"beaconId": name}, "response": {
                "id": name, "name": f"Peer {name}", "endpointSets": {"dataset": {}},
                "pad": ["x" * 1000] * 1000}})
        if name == "loud" and tail in ("info", "map"):   # what no client should get as sent
            return web.json_response({"meta": {"beaconId": name}, "response": {
                "id": name, "name": LOUD_NAME, "apiVersion": "v2.0\x00",
                "welcomeUrl": "javascript:alert(document.cookie)",
                "organization": {"id": name, "name": "Org\r\nX-Injected: 1"},
                "endpointSets": {"dataset": {}, "evil\ntype": {},
                                 **{f"type{i}": {} for i in range(10_000)}}}})
        if tail in ("info", "map"):
            # a node of 0.5 or before called variants genomicVariation
            sets = {kind: {"entryType": kind, "rootUrl": f"{fakes.url}/{name}/api/{path}"}
                    for kind, path in (("dataset", "datasets"), ("individual", "individuals"),
                                       ("genomicVariation", "g_variants"))
                    } if name == "older" else {}
            return web.json_response({"meta": {"beaconId": name, "apiVersion": "v2.0.1",
                                               "returnedSchemas": []},
                                      "response": {"id": name, "name": f"Peer {name}",
                                                   "endpointSets": sets}})
        return web.json_response(_boolean_answer(name))

    async def registry(request: web.Request) -> web.Response:
        fakes.hits["catalogue"] = fakes.hits.get("catalogue", 0) + 1
        return web.json_response({"nodes": fakes.nodes})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/api/nodes")

    async def freezing(request: web.Request) -> web.Response:
        """The registry's list once, then nothing until the fakes are released."""
        fakes.hits["freezing"] = fakes.hits.get("freezing", 0) + 1
        if fakes.hits["freezing"] > 1:
            await fakes.release.wait()
        return web.json_response({"nodes": fakes.nodes})

    app = web.Application()
    app.router.add_get("/api/nodes", registry)
    app.router.add_get("/moved/api/nodes", moved)
    app.router.add_get("/freezing/api/nodes", freezing)
    app.router.add_route("*", "/{name}/api/{tail:.*}", handle)
    return app


@dataclass
class Network:
    aai: DevIssuer
    aai_url: str
    other_aai: DevIssuer
    other_url: str
    nodes: dict[str, ClientSession]          # beacon id -> client of that node
    node_urls: dict[str, str]
    fakes: Fakes
    pool: asyncpg.Pool
    aggregator_url: str
    directory: Path
    databases: dict[str, str]                # beacon id -> that node's database URL

    def peers(self, *trusted: str) -> list[Peer]:
        return [Peer(id=i, url=f"{u}/api", forward_tokens_from=trusted)
                for i, u in self.node_urls.items()]

    def token(self, user: str, issuer: DevIssuer | None = None) -> str:
        issuer = issuer or self.aai
        return issuer.access_token(issuer.users[user])

    @asynccontextmanager
    async def aggregator(self, peers: list[Peer], **changes: Any) -> AsyncIterator[ClientSession]:
        """A node with an empty database whose /network/api fans out to `peers`."""
        async with self.aggregator_app(peers, **changes) as (client, _):
            yield client

    @asynccontextmanager
    async def aggregator_app(self, peers: list[Peer], **changes: Any
                             ) -> AsyncIterator[tuple[ClientSession, web.Application]]:
        """`aggregator`, and its application (to look at what it keeps)."""
        async with (self.aggregator_served(peers, **changes) as (url, app),
                    ClientSession(base_url=url) as client):
            yield client, app

    @asynccontextmanager
    async def aggregator_served(self, peers: list[Peer], **changes: Any
                                ) -> AsyncIterator[tuple[str, web.Application]]:
        """`aggregator_app`'s node on 127.0.0.1, its URL (for clients of its own)."""
        settings = Settings(
            database_url=self.aggregator_url, data_dir=self.directory, beacon_id="org.test.net",
            trusted_issuers=[TrustedIssuer(**trusted_issuer_entry(self.aai_url)),
                             TrustedIssuer(**trusted_issuer_entry(self.other_url))],
            peers=peers, **changes)
        app = create_app(settings, self.pool)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield str(server.make_url("")), app
        finally:
            await server.close()


@pytest.fixture(scope="module")
async def network(pg_server_url: str, tmp_path_factory) -> AsyncIterator[Network]:
    directory = tmp_path_factory.mktemp("federation")
    async with AsyncExitStack() as stack:
        issuers = []
        for _ in range(2):
            issuers.append(await serve_dev_aai(stack))
        (aai, aai_url), (other, other_url) = issuers
        trust = [TrustedIssuer(**trusted_issuer_entry(aai_url))]
        clients, urls, databases = {}, {}, {}
        for beacon_id, datasets in NODES.items():
            db = databases[beacon_id] = await stack.enter_async_context(
                node_database(pg_server_url))
            for dataset_id, (level, count, metadata) in datasets.items():
                path = write_vcf_text(directory / f"{dataset_id}.vcf", _vcf(count))
                await ingest(db, IngestRequest(path, dataset_id, GRCH38, level, dataset_id,
                                               metadata=metadata, workers=1))
            settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=db, data_dir=directory, beacon_id=beacon_id,
                                trusted_issuers=trust)
            pool = await create_pool(db, settings)
            stack.push_async_callback(pool.close)
            urls[beacon_id] = await serve_app(stack, create_app(settings, pool))
            clients[beacon_id] = await stack.enter_async_context(
                ClientSession(base_url=urls[beacon_id]))
        fakes = Fakes("", asyncio.Event())
        fakes.url = await serve_app(stack, _fakes_app(fakes))
        stack.callback(fakes.release.set)          # runs first: slow handlers end
        aggregator_db = await stack.enter_async_context(node_database(pg_server_url))
        pool = await create_pool(aggregator_db, Settings(disclosure=OPEN_DISCLOSURE, database_url=aggregator_db))
        stack.push_async_callback(pool.close)
        yield Network(aai, aai_url, other, other_url, clients, urls, fakes, pool,
                      aggregator_db, directory, databases)


@pytest.fixture
def check(beacon_schema):
    """Fetch, assert the status, validate the body against the schema for its kind."""
    async def run(client: ClientSession, path: str, *, params: dict | None = None,
                  body: dict | None = None, token: str | None = None, status: int = 200,
                  schema: str | None = None, headers: dict | None = None) -> dict:
        headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        if body is None:
            response = await client.get(path, params=params, headers=headers)
        else:
            response = await client.post(path, data=json.dumps(body), headers={
                **headers, "Content-Type": "application/json"})
        document = await response.json()
        assert response.status == status, document
        chosen = schema or (ERROR_SCHEMA if status != 200 else
                            RESPONSE_SCHEMAS[document["meta"]["returnedGranularity"]])
        assert beacon_schema(chosen, document) == []
        return document
    return run


def _peer_lines(document: dict) -> dict[str, dict]:
    return {line["id"]: line for line in document["info"]["network"]["peers"]}


async def _direct(network: Network, check, token: str | None = None,
                  params: dict | None = None) -> dict[str, dict]:
    return {beacon_id: await check(client, "/api/g_variants", params=params or QUERY,
                                   token=token)
            for beacon_id, client in network.nodes.items()}


def _result_sets(direct: dict[str, dict], merged: dict) -> tuple[dict, dict]:
    """The nodes' resultSets and the network's, by (beaconId, dataset id): each node names
    itself on its resultSets as the network does."""
    def keyed(sets: list[dict]) -> dict:
        return {(s["beaconId"], s["id"]): {k: v for k, v in s.items() if k != "beaconId"}
                for s in sets}
    expected = keyed([s for d in direct.values() for s in d["response"]["resultSets"]])
    assert {b for b, _ in expected} == {b for b, d in direct.items()
                                        if d["response"]["resultSets"]}
    return expected, keyed(merged["response"]["resultSets"])


async def test_merged_result_sets_are_tagged_and_totals_are_the_peers_sums(network, check):
    async with network.aggregator(network.peers()) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    direct = await _direct(network, check)
    expected, got = _result_sets(direct, merged)
    assert got == expected
    assert {beacon_id for beacon_id, _ in got} == set(NODES)
    assert merged["responseSummary"]["numTotalResults"] == sum(
        d["responseSummary"]["numTotalResults"] for d in direct.values())
    assert merged["responseSummary"]["exists"] is True
    assert merged["meta"]["beaconId"] == "org.test.net"
    lines = _peer_lines(merged)
    assert {i: line["status"] for i, line in lines.items()} == dict.fromkeys(NODES, "ok")
    assert all(line["tokenForwarded"] is False for line in lines.values())


async def test_paging_through_the_network_visits_every_record_of_every_peer_once(
        network, check):
    """Four records a page, of peers returning at most 3 and 2 (one reading `skip` as pages
    of what it returns, one as pages of the `limit` asked, neither saying so) and of nodes
    holding fewer or more: each peer's line says the page it answered (`pagination`; a
    node's the size it states when asked for all), and asking each dataset
    for the next one (skip + 1, that limit) until its exact count is reached lists each of
    its records once. Asked for the next page with the limit asked, the peer returning 2 a
    page skipped the 2 records between, and page 2 of the one returning 3 was taken for
    records 5 to 7: paging stopped at its 6th."""
    limit, params = 4, {**QUERY, "limit": "4"}
    peers = [*network.peers(), *(network.fakes.peer(name) for name in CAPPED)]
    everything = {(beacon_id, s["id"]): [r["variantInternalId"] for r in s["results"]]
                  for beacon_id, d in (await _direct(network, check, params={
                      **QUERY, "limit": "1000"})).items()
                  for s in d["response"]["resultSets"]}
    everything.update({(name, _capped_dataset(name)): [f"{name}-{i}"
                                                       for i in range(CAPPED_RECORDS)]
                       for name in CAPPED})
    seen: dict[tuple[str, str], list[str]] = {}
    async with network.aggregator(peers) as net:
        first = await check(net, "/network/api/g_variants", params=params)
        lines = _peer_lines(first)
        assert {name: lines[name]["pagination"] for name in CAPPED} == {
            "capped.3.pages": {"skip": 0, "limit": 3}, "capped.2.limit": {"skip": 0, "limit": 2}}
        assert {lines[i]["pagination"]["limit"] for i in network.node_urls} == {limit}
        for result_set in first["response"]["resultSets"]:
            key = (result_set["beaconId"], result_set["id"])
            page, shown = lines[key[0]]["pagination"], result_set["results"]
            if not shown:
                continue
            seen[key] = [r["variantInternalId"] for r in shown]
            for _ in range(10):
                if page["skip"] * page["limit"] + len(shown) >= result_set["resultsCount"]:
                    break
                following = await check(
                    net, f"/network/api/datasets/{key[1]}/g_variants",
                    params={**params, "skip": str(page["skip"] + 1),
                            "limit": str(page["limit"])})
                page = _peer_lines(following)[key[0]]["pagination"]
                [shown] = [s["results"] for s in following["response"]["resultSets"]
                           if s["beaconId"] == key[0]]
                seen[key] += [r["variantInternalId"] for r in shown]
        # all, or the most each returns: a node's page is the 1000 it states
        every = await check(net, "/network/api/g_variants", params={**QUERY, "limit": "0"})
    assert {line["id"]: line["pagination"]["limit"] for line in _peer_lines(every).values()} == {
        **dict.fromkeys(network.node_urls, 1000), "capped.3.pages": 3, "capped.2.limit": 2}
    assert "pagination" not in every["info"]       # a node's note, not the network's
    assert {k: v for k, v in everything.items() if v} == seen
    assert max(map(len, seen.values())) == CAPPED_RECORDS > limit


async def test_post_answers_as_get_does(network, check):
    body = {"meta": {"apiVersion": "v2.0"}, "query": {
        "requestParameters": {"referenceName": "1", "start": [0], "end": [100000]},
        "requestedGranularity": "count", "includeResultsetResponses": "ALL"}}
    async with network.aggregator(network.peers()) as net:
        posted = await check(net, "/network/api/g_variants", body=body)
        got = await check(net, "/network/api/g_variants",
                          params={**QUERY, "requestedGranularity": "count"})
    assert posted["meta"]["returnedGranularity"] == "count"
    assert posted["responseSummary"] == got["responseSummary"]
    assert sorted((s["beaconId"], s["id"], s["resultsCount"])
                  for s in posted["response"]["resultSets"]) == sorted(
        (s["beaconId"], s["id"], s["resultsCount"]) for s in got["response"]["resultSets"])
    assert posted["meta"]["receivedRequestSummary"]["requestParameters"] == {
        "g_variant": {"referenceName": "1", "start": [0], "end": [100000]}}


async def test_a_peers_allele_floor_is_kept(network, check):
    async with network.aggregator(network.peers()) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
        response = await net.get(f"/network/api/datasets/{FLOORED}/g_variants", params=QUERY)
        scoped_text = await response.text()
    floored = next(s for s in merged["response"]["resultSets"] if s["id"] == FLOORED)
    assert (floored["exists"], floored["resultsCount"], floored["results"]) == (False, 0, [])
    scoped = json.loads(scoped_text)
    assert scoped["responseSummary"] == {"exists": False, "numTotalResults": 0,
                                         "countPrecision": "exact"}
    assert [s["id"] for s in scoped["response"]["resultSets"]] == [FLOORED]
    assert '"resultsCount":2' not in scoped_text.replace(" ", "")
    # The others said "no such dataset": answered, not unavailable.
    assert {line["status"] for line in _peer_lines(scoped).values()} == {"ok"}


async def test_granularity_per_dataset_follows_the_caller(network, check):
    peers = network.peers(network.aai_url)
    async with network.aggregator(peers) as net:
        anonymous = await check(net, "/network/api/g_variants", params=QUERY)
        carol = await check(net, "/network/api/g_variants", params=QUERY,
                            token=network.token("carol"))
    def levels(document: dict) -> dict[str, str]:
        return {s["id"]: s["info"]["returnedGranularity"]
                for s in document["response"]["resultSets"]}
    assert levels(anonymous) == {"GDI-FI-SYN-001": "record", "GDI-FI-SYN-002": "boolean",
                                 "GDI-FI-SYN-003": "boolean", "GDI-SE-SYN-001": "record",
                                 "GDI-SE-SYN-003": "boolean", "GDI-ES-SYN-001": "record",
                                 FLOORED: "record"}
    assert levels(carol) == {**levels(anonymous), "GDI-FI-SYN-002": "count",
                             "GDI-FI-SYN-003": "record", "GDI-SE-SYN-003": "record"}
    assert anonymous["responseSummary"]["numTotalResults"] == 4 + 5 + 6
    # FLOORED's own floor is for anonymous callers: carol, bona fide, sees its 2 variants
    assert carol["responseSummary"]["numTotalResults"] == 4 + 3 + 2 + 5 + 3 + 6 + 2
    assert all(line["tokenForwarded"] for line in _peer_lines(carol).values())
    direct = await _direct(network, check, token=network.token("carol"))
    assert carol["responseSummary"]["numTotalResults"] == sum(
        d["responseSummary"]["numTotalResults"] for d in direct.values())


async def test_a_slow_peer_is_reported_as_timed_out_and_the_rest_answer(network, check):
    peers = [*network.peers(), network.fakes.peer("slow")]
    async with network.aggregator(peers, peer_timeout_seconds=0.5,
                                  network_deadline_seconds=2.0) as net:
        began = time.monotonic()
        merged = await check(net, "/network/api/g_variants", params=QUERY)
        elapsed = time.monotonic() - began
    assert elapsed < 1.5
    lines = _peer_lines(merged)
    assert lines["slow"]["status"] == "timeout" and "peer timeout" in lines["slow"]["detail"]
    assert {s["beaconId"] for s in merged["response"]["resultSets"]} == set(NODES)


async def test_the_network_deadline_cancels_what_is_still_running(network, check):
    peers = [*network.peers(), network.fakes.peer("slow")]
    async with network.aggregator(peers, peer_timeout_seconds=10,
                                  network_deadline_seconds=0.7) as net:
        began = time.monotonic()
        merged = await check(net, "/network/api/g_variants", params=QUERY)
        elapsed = time.monotonic() - began
    assert 0.7 <= elapsed < 1.5
    assert _peer_lines(merged)["slow"]["status"] == "timeout"
    assert "network deadline" in _peer_lines(merged)["slow"]["detail"]
    assert merged["responseSummary"]["numTotalResults"] == 4 + 5 + 6


FROZEN_LOAD = 150       # concurrent network requests: above aiohttp's 100 connections a session


async def test_a_frozen_peer_does_not_starve_the_others_of_connections(network, tmp_path):
    """A peer whose process is stopped (SIGSTOP) holds every connection made to it until its
    timer ends. With one outgoing session of aiohttp's default 100 connections, 150
    concurrent network requests left the healthy peer's requests queued for a connection
    until they timed out too (48 of 150), and a token's first verification, whose JWKS
    came over the same session, waited behind them. Now a frozen peer costs only its own
    answers: the healthy peer is `ok` in every answer, the token verifies."""
    port = free_port()
    frozen = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with ClientSession() as probe:
            for _ in range(200):
                try:
                    async with probe.get(f"http://127.0.0.1:{port}/") as response:
                        await response.read()
                    break
                except ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("the peer to freeze never listened")
        os.kill(frozen.pid, signal.SIGSTOP)
        peers = [Peer(id="frozen", url=f"http://127.0.0.1:{port}/api"),
                 network.fakes.peer("v20")]
        async with (network.aggregator_served(peers, peer_timeout_seconds=2,
                                              network_deadline_seconds=3,
                                              network_requests_in_flight=FROZEN_LOAD + 1
                                              ) as (url, _),
                    ClientSession(base_url=url, connector=TCPConnector(limit=0)) as client):
            async def lines(token: str | None = None, after: float = 0) -> dict[str, dict]:
                await asyncio.sleep(after)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with client.get("/network/api/g_variants", headers=headers, params={
                        **QUERY, "requestedGranularity": "count"}) as response:
                    document = await response.json()
                    assert response.status == 200, document
                return _peer_lines(document)
            answers = await asyncio.gather(*(lines() for _ in range(FROZEN_LOAD)),
                                           lines(network.token("carol"), after=0.5))
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
        frozen.kill()
        await asyncio.wait_for(frozen.wait(), 10)
    assert [a["v20"]["status"] for a in answers] == ["ok"] * (FROZEN_LOAD + 1)
    assert {a["frozen"]["status"] for a in answers} == {"timeout"}


@asynccontextmanager
async def _served_as_in_production(app: web.Application, port: int) -> AsyncIterator[str]:
    """`app` served on 127.0.0.1:`port` as `gdi-node serve` serves it (web.run_app): a
    handler runs on when its client has gone. TestServer cancels it instead, which would
    hide a fan-out that outlives its caller."""
    runner = web.AppRunner(app, handler_cancellation=False, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _requests_served(client: ClientSession) -> int:
    """Every request the node has answered (its /metrics)."""
    text = await (await client.get("/metrics")).text()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("gdi_node_http_requests_total{"))


async def test_a_peer_leading_back_to_the_network_is_refused_as_a_loop(network, check):
    """A peer whose URL is this node's own /network/api, and two nodes peering each other's:
    the request that comes round again is refused (508, naming the loop), the asking node
    lists that peer as failed with the reason, answers within its deadline, and then asks
    no more. Before, each request started a fan-out that never ended: the handlers ran on
    after their callers had gone (handler cancellation is off, as in production)."""
    deadline = 1.0
    ports = {name: free_port() for name in ("org.test.self", "org.test.a", "org.test.b")}
    loops = {"org.test.self": "org.test.self", "org.test.a": "org.test.b",
             "org.test.b": "org.test.a"}
    async with AsyncExitStack() as stack:
        clients = {}
        for name, port in ports.items():
            peer = loops[name]
            settings = Settings(
                database_url=network.aggregator_url, data_dir=network.directory, beacon_id=name,
                peers=[Peer(id=peer, url=f"http://127.0.0.1:{ports[peer]}/network/api")],
                peer_timeout_seconds=deadline, network_deadline_seconds=deadline)
            url = await stack.enter_async_context(
                _served_as_in_production(create_app(settings, network.pool), port))
            clients[name] = await stack.enter_async_context(ClientSession(base_url=url))
        answers = {}
        for name, client in clients.items():
            began = time.monotonic()
            answers[name] = await check(client, "/network/api/g_variants", params=QUERY)
            assert time.monotonic() - began < deadline
        info = await check(clients["org.test.self"], "/network/api/info", schema=INFO_SCHEMA)
        # a asks b, which asks a, which refuses: b's answer to a (asked here as a asks it)
        # says so, and a lists b as answering, a network whose one peer failed
        as_a_asks = await check(clients["org.test.b"], "/network/api/g_variants", params=QUERY,
                                headers={VIA_HEADER: "org.test.a"})
        refused = [_peer_lines(answers["org.test.self"])["org.test.self"],
                   _peer_lines(info["response"])["org.test.self"],
                   _peer_lines(as_a_asks)["org.test.a"]]
        for line in refused:
            assert line["status"] == "error"
            assert line["detail"].startswith("HTTP 508: network loop: this request has "
                                             "already passed through"), line
        assert {name: _peer_lines(answers[name])[loops[name]]["status"]
                for name in ("org.test.a", "org.test.b")} == dict.fromkeys(
                    ("org.test.a", "org.test.b"), "ok")
        await asyncio.sleep(deadline)
        before = {name: await _requests_served(client) for name, client in clients.items()}
        await asyncio.sleep(2 * deadline)
        after = {name: await _requests_served(client) for name, client in clients.items()}
        # the first /metrics read is the one request more
        assert after == {name: count + 1 for name, count in before.items()}


async def test_a_request_through_too_many_networks_is_refused(network, check):
    """The path of networks a request has passed through reaches each peer, this node last;
    a request that has passed through this node, or MAX_NETWORK_HOPS networks, is refused
    before any peer is asked."""
    fakes = network.fakes
    fakes.via.clear()
    async with network.aggregator([fakes.peer("recording")]) as net:
        await check(net, "/network/api/g_variants", params=QUERY)
        await check(net, "/network/api/g_variants", params=QUERY,
                    headers={VIA_HEADER: "org.test.eu"})
        hops = ",".join(f"org.test.{i}" for i in range(MAX_NETWORK_HOPS))
        for via in (hops, "org.test.eu, org.test.net"):
            refused = await check(net, "/network/api/g_variants", params=QUERY, status=508,
                                  headers={VIA_HEADER: via})
            assert "network loop" in refused["error"]["errorMessage"]
        # the caller's text quoted in the 508 only as printable text (found by a review,
        # 2026-12-05: an ESC sequence or U+202E went back as sent)
        refused = await check(net, "/network/api/g_variants", params=QUERY, status=508,
                              headers={VIA_HEADER: "org.test.eu\u202e,org.test.net"})
        message = refused["error"]["errorMessage"]
        assert message.isprintable() and "(via org.test.eu\\u202e,org.test.net)" in message
    assert fakes.via["recording"] == ["org.test.net", "org.test.eu,org.test.net"]


async def test_broken_peers_are_unavailable_not_absent(network, check):
    closed = Peer(id="gone", url=f"http://127.0.0.1:{free_port()}/api")
    fakes = network.fakes
    peers = [*network.peers(), fakes.peer("nojson"), fakes.peer("notbeacon"),
             fakes.peer("fail"), fakes.peer("fail200"), closed]
    async with network.aggregator(peers) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
        boolean = await check(net, "/network/api/g_variants",
                              params={**QUERY, "datasetIds": "GDI-XX-NONE",
                                      "requestedGranularity": "boolean"})
    lines = _peer_lines(merged)
    assert {i: lines[i]["status"] for i in ("nojson", "notbeacon", "fail", "fail200", "gone")
            } == {"nojson": "invalid", "notbeacon": "invalid", "fail": "error",
                  "fail200": "error", "gone": "error"}
    assert "not JSON" in lines["nojson"]["detail"]
    assert lines["notbeacon"]["detail"] == "not a Beacon response: meta: Field required"
    assert lines["fail"]["detail"] == "HTTP 500: db down"
    # A Beacon error sent with 200 (as some Beacons do) is the peer's refusal, in its words,
    # where it was `invalid`, "not a Beacon response: meta.returnedGranularity: ..."
    assert lines["fail200"]["detail"] == "HTTP 200, a Beacon error 400: unknown filter"
    assert lines["gone"]["detail"] == "no connection to the peer"    # not the transport's words
    # the one that said no is up (`refused`, which a reader such as the web page tells
    # from an outage); those that failed or sent nonsense are not
    assert {i for i, line in lines.items() if line.get("refused")} == {"fail200"}
    assert all(line.get("refused", True) is True for line in lines.values())
    assert {s["beaconId"] for s in merged["response"]["resultSets"]} == set(NODES)
    assert merged["responseSummary"]["numTotalResults"] == 4 + 5 + 6
    # A peer refusing the request (unknown dataset) is an error with the peer's reason.
    assert "unknown dataset" in _peer_lines(boolean)["org.test.fi"]["detail"]
    assert _peer_lines(boolean)["org.test.fi"]["refused"] is True


async def test_each_peers_outcome_is_counted_in_the_networks_metrics(network, check):
    """A network's /metrics counted its own answers only, 200 while a country's node had
    been unreachable for hours: which peers were down was in each answer's
    info.network.peers and the log. Each peer's outcome is now counted by peer id: ok,
    refused (up, and said no: a Beacon error with 200 here), error, invalid."""
    from prometheus_client.parser import text_string_to_metric_families
    closed = Peer(id="gone", url=f"http://127.0.0.1:{free_port()}/api")
    fakes = network.fakes
    peers = [*network.peers(), fakes.peer("nojson"), fakes.peer("fail200"),
             fakes.peer("fail"), closed]
    async with network.aggregator(peers) as net:
        for _ in range(2):
            await check(net, "/network/api/g_variants", params=QUERY)
        text = await (await net.get("/metrics")).text()
    counted = {(sample.labels["peer"], sample.labels["outcome"]): sample.value
               for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "gdi_node_network_peer_answers_total"}
    assert counted == {**{(node, "ok"): 2 for node in NODES}, ("nojson", "invalid"): 2,
                       ("fail200", "refused"): 2, ("fail", "error"): 2, ("gone", "error"): 2}


async def test_a_peers_retry_after_reaches_its_line(network, check):
    """A peer refusing for now (429, 503) says when to ask again in Retry-After, seconds or
    an HTTP date (RFC 9110 10.2.3): the network dropped it, so a researcher or portal read
    `HTTP 429` with nothing of when, and asked again at once. It is the line's
    `retryAfter`, in seconds; one that is neither form, or beside an answer, is not."""
    names = ("busy.seconds", "busy.date", "busy.nonsense", "busy.ok")
    async with network.aggregator([network.fakes.peer(name) for name in names]) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    lines = _peer_lines(merged)
    assert [lines[name]["status"] for name in names] == ["error", "error", "error", "ok"]
    assert lines["busy.seconds"]["retryAfter"] == 120
    assert lines["busy.seconds"]["detail"] == "HTTP 429: busy"
    assert 3500 < lines["busy.date"]["retryAfter"] <= 3600
    assert "retryAfter" not in lines["busy.nonsense"] and "retryAfter" not in lines["busy.ok"]


async def test_a_peers_error_message_reaches_the_caller_only_as_printable_text(
        network, check):
    """A peer's `errorMessage` goes into its line's `detail` with each character that does
    not print as its escape: a line break, an ESC sequence and U+202E went to the caller as
    sent, to forge a line of whatever logs or shows the network's answer (found by a
    review, 2026-12-05)."""
    async with network.aggregator([network.fakes.peer("forger"), *network.peers()[:1]]) as net:
        merged = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    detail = _peer_lines(merged)["forger"]["detail"]
    assert detail == ("HTTP 500: db down\\n2026-12-05T10:00:00 INFO gdi_node.audit granted "
                      "sub=admin\\x1b[2K\\u202e")
    assert detail.isprintable()


async def test_a_peers_error_message_nested_past_the_recursion_limit_is_its_own_line(
        network, check):
    """An `errorMessage` that is an array nested 1,020 deep (orjson reads 1,024 levels) took
    Python's repr past its recursion limit where the message was made text: every network
    route answered 500 while that peer answered so, sent with 400 or as a Beacon error
    body with 200 (found by a review, 2026-12-06). A message that is not text is left out,
    and the peer's line says what it answered."""
    peers = [network.fakes.peer("nested.400"), network.fakes.peer("nested.200"),
             *network.peers()[:1]]
    async with network.aggregator(peers) as net:
        merged = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    lines = _peer_lines(merged)
    assert (lines["nested.400"]["status"], lines["nested.400"]["detail"]) == (
        "error", "HTTP 400")
    assert (lines["nested.200"]["status"], lines["nested.200"]["detail"]) == (
        "error", "HTTP 200, a Beacon error 400")
    assert [line["status"] for name, line in lines.items() if "nested" not in name] == ["ok"]


async def test_an_answer_no_check_foresaw_failing_is_its_peers_line_not_a_500(
        network, check, monkeypatch):
    """Whatever fails in reading one peer's answer (a check of its content raising what no
    one foresaw, as the nested message above did) is that peer's `invalid` line: the other
    peers are answered, and the network is not a 500."""
    judged = network_module._judged

    def failing(body: bytes | None, *args: Any) -> Any:
        if body is not None and b'"failing' in body:
            raise RecursionError("maximum recursion depth exceeded")
        return judged(body, *args)
    monkeypatch.setattr(network_module, "_judged", failing)
    async with network.aggregator([network.fakes.peer("failing"), *network.peers()[:1]]) as net:
        merged = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    lines = _peer_lines(merged)
    assert (lines["failing"]["status"], lines["failing"]["detail"]) == (
        "invalid", network_module.UNREADABLE)
    assert [line["status"] for name, line in lines.items() if name != "failing"] == ["ok"]


_COUNT_BODY = json.dumps(_count_answer("raw", {})).encode()
# Answers no aiohttp server would send, as bytes, by the peer's name
RAW_ANSWERS = {
    "cut": (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (len(_COUNT_BODY) + 100)) + _COUNT_BODY,
    "chunkcut": (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % (len(_COUNT_BODY) + 100))
                + _COUNT_BODY,
    "badgzip": (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
                b"\r\nContent-Length: 20\r\n\r\n" + b"x" * 20),
    "bighead": (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 20_000 + b"\r\nContent-Length: %d\r\n\r\n"
                % len(_COUNT_BODY)) + _COUNT_BODY,
    "nothttp": b"HELLO\r\n\r\n",
    "redirect": (b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/\r\n"
                 b"Content-Type: text/html\r\nContent-Length: 33\r\n\r\n"
                 b"<html>moved, see elsewhere</html>"),
}


@asynccontextmanager
async def _raw_peers() -> AsyncIterator[str]:
    """A server on 127.0.0.1 answering /{name}/api/... with RAW_ANSWERS[name], then closing
    the connection; its URL."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(RAW_ANSWERS[head.split(b" ")[1].decode().split("/")[1]])
        await writer.drain()
        writer.close()
    async with _raw_server(answer) as url:
        yield url


@asynccontextmanager
async def _raw_server(serve: Any) -> AsyncIterator[str]:
    """An asyncio server on 127.0.0.1 answering each connection with `serve(reader,
    writer)`, bytes no aiohttp server would send; its URL."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_an_answer_that_cannot_be_read_is_reported_as_what_it_is(network, check):
    """A peer that connected and answered, but whose answer could not be read, was reported
    "no connection to the peer"; and a 302 with an HTML body `invalid`, "not JSON", the
    status kept for a 200 that is not JSON. Now: an answer cut short is an `error` saying
    so, one whose gzip cannot be unpacked or that is not HTTP (a 20 kB header) `invalid`
    saying so, and a redirect an `error` naming its status."""
    async with _raw_peers() as url:
        peers = [Peer(id=name, url=f"{url}/{name}/api") for name in RAW_ANSWERS]
        async with network.aggregator([*peers, *network.peers()[:1]]) as net:   # one answers
            merged = await check(net, "/network/api/g_variants",
                                 params={**QUERY, "requestedGranularity": "count"})
    lines = _peer_lines(merged)
    assert {name: (lines[name]["status"], lines[name]["detail"]) for name in RAW_ANSWERS} == {
        "cut": ("error", network_module.CUT_SHORT),
        "chunkcut": ("error", network_module.CUT_SHORT),
        "badgzip": ("invalid", network_module.NOT_UNPACKED),
        "bighead": ("invalid", network_module.NOT_HTTP),
        "nothttp": ("invalid", network_module.NOT_HTTP),
        "redirect": ("error", "HTTP 302 (a redirect, not followed), not JSON")}


@asynccontextmanager
async def _short_keepalive_peer(answers: list[str]) -> AsyncIterator[str]:
    """A peer on 127.0.0.1 that answers the first request of each connection (a count, kept
    alive) and closes the connection as the next one arrives, unanswered: a server whose
    keep-alive ends before the client's (uvicorn's 5 s, gunicorn's 2 s, against aiohttp's
    15 s) at the moment a request is sent on it. `answers`: the method of each request
    answered. Its API root's URL."""
    body = json.dumps(_count_answer("keepalive", {})).encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for turn in range(2):
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                if turn:                                   # closed, the request unanswered
                    return
                answers.append(head.split(b" ")[0].decode())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()
    async with _raw_server(serve) as url:
        yield f"{url}/api"


async def test_a_post_on_a_connection_the_peer_just_closed_is_sent_again(network, check):
    """A peer closing a kept-alive connection as the network sends on it: aiohttp sends a GET
    again on a new connection, never a POST, so every other POST to such a peer was its
    line's `error`, "no connection to the peer", the peer up and answering. A Beacon query
    changes nothing at the peer: a POST is sent again too, once."""
    body = {"meta": {"apiVersion": "v2.0"}, "query": {
        "requestParameters": {"referenceName": "1", "start": [0], "end": [100000]},
        "requestedGranularity": "count"}}
    answers: list[str] = []
    async with _short_keepalive_peer(answers) as url, \
            network.aggregator([Peer(id="keepalive", url=url)]) as net:
        for ask in range(3):
            merged = await (check(net, "/network/api/g_variants", body=body) if ask % 2 == 0
                            else check(net, "/network/api/g_variants", params=COUNT_QUERY))
            line = _peer_lines(merged)["keepalive"]
            assert line["status"] == "ok", (ask, line)
            assert merged["responseSummary"]["numTotalResults"] == 1
    assert answers == ["POST", "GET", "POST"]


async def test_a_peers_result_sets_pass_on_only_as_the_schema_takes_them(network, check):
    """A resultSet passes on as its peer sent it, so a peer's `info` that is not an object,
    or a handover without the schema's fields, makes that peer `invalid` rather than the
    network's answer invalid (check validates it); a valid handover passes on as sent."""
    fakes = network.fakes
    peers = [*network.peers(), *(fakes.peer(name) for name in RESULT_SET_EXTRAS)]
    async with network.aggregator(peers) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)   # resultSets
    lines = _peer_lines(merged)
    assert {name: lines[name]["status"] for name in RESULT_SET_EXTRAS} == {
        "badinfo": "invalid", "badhandover": "invalid", "handover": "ok"}
    assert lines["badinfo"]["detail"] == ("not a Beacon response: response.resultSets.0.info: "
                                          "Input should be a valid dictionary")
    assert lines["badhandover"]["detail"].startswith(
        "not a Beacon response: response.resultSets.0.resultsHandovers.0.handoverType.id: ")
    passed = {s["beaconId"]: s for s in merged["response"]["resultSets"]}
    assert passed["handover"]["resultsHandovers"] == [HANDOVER]
    assert passed["handover"]["info"] == {"returnedGranularity": "count"}
    assert not passed.keys() & {"badinfo", "badhandover"}
    assert merged["responseSummary"]["numTotalResults"] == 4 + 5 + 6 + 1


async def test_what_a_peer_did_not_ask_reaches_its_line(network, check):
    """A peer's answer says which datasets it left out (on another assembly, or requiring a
    purpose of use not stated: docs/beacon.md; or refusing the caller, its account for
    them spent: docs/privacy.md) in its `info`, which the network dropped
    with the rest of it: a researcher read "not found" of datasets never asked. Its line
    carries them, and a gene its table does not hold (`geneId`), of the shapes a node
    writes only; nothing else of the peer's `info`."""
    fakes = network.fakes
    peers = [*network.peers(), *(fakes.peer(name) for name in PEER_NOTES)]
    async with network.aggregator(peers) as net:
        merged = await check(net, "/network/api/g_variants",
                             params={**QUERY, "assemblyId": "GRCh37"})
    lines = _peer_lines(merged)
    for beacon_id, datasets in NODES.items():          # the nodes' datasets are GRCh38's
        assert lines[beacon_id]["onOtherAssemblies"] == {"GRCh38": sorted(datasets)}, (
            lines[beacon_id])     # each of them known to anonymous callers (OPEN_DISCLOSURE)
        assert "purposeRequired" not in lines[beacon_id]
    good = lines["notes.good"]
    assert (good["purposeRequired"], good["onOtherAssemblies"], good["refused"]) == (
        ["GDI-XX-P-1"], {"GRCh37": ["GDI-XX-37-1"]}, ["GDI-XX-R-1"])
    assert "budget" not in good
    assert lines["notes.bad"]["status"] == "ok"
    assert not lines["notes.bad"].keys() & {"purposeRequired", "onOtherAssemblies", "refused"}
    # a gene its table does not hold on an assembly, as a node says it: the peer's text
    # as printable escapes, each cut to 300 characters; another shape is not passed on
    assert lines["notes.gene"]["geneId"] == {
        "GRCh38": "F5 is not in the node's gene table on GRCh38 (it is on GRCh37)\\n"
                  "\\x1b[2Kforged", "GRCh37": "x" * 300}
    assert "geneId" not in lines["notes.badgene"] and lines["notes.badgene"]["status"] == "ok"
    # dataset ids alike: printable, each cut to 200 characters; more than 1,000 not passed on
    forged = lines["notes.forged"]
    assert (forged["purposeRequired"], forged["onOtherAssemblies"]) == (
        ["GDI-XX-P-1\\n\\x1b[2Kforged", "D" * 200], {"GRCh37\\u202e": ["GDI-XX-37-1\\r"]})
    assert forged["refused"] == ["GDI-XX-R-1\\x1b[2K"]
    assert "purposeRequired" not in lines["notes.many"]


async def test_a_peer_answering_above_the_granularity_asked_is_taken_only_as_asked(
        network, check):
    """A peer that answers with records whatever it is asked (not as the Beacon spec says)
    does not raise the network's answer above the requested granularity: asked boolean, the
    network says boolean with no count and no record; asked count, it counts the peer's
    total and passes on its set without the records. Before, a boolean query was answered
    at record, with the count (countPrecision exact) and the record, and echoed boolean."""
    fi = Peer(id="org.test.fi", url=f"{network.node_urls['org.test.fi']}/api")
    async with network.aggregator([fi, network.fakes.peer("overshare")]) as net:
        answers = {granularity: await check(
            net, "/network/api/g_variants", params={**QUERY, "requestedGranularity": granularity},
            schema=RESPONSE_SCHEMAS[granularity]) for granularity in ("boolean", "count", "record")}
    for granularity, merged in answers.items():
        assert merged["meta"]["returnedGranularity"] == granularity
        assert merged["meta"]["receivedRequestSummary"]["requestedGranularity"] == granularity
        assert _peer_lines(merged)["overshare"]["returnedGranularity"] == granularity
        assert (OVERSHARED in json.dumps(merged)) == (granularity == "record")
    boolean, count = answers["boolean"], answers["count"]
    assert boolean["responseSummary"] == {"exists": True} and "response" not in boolean
    assert "numTotalResults" not in _peer_lines(boolean)["overshare"]
    assert count["responseSummary"]["numTotalResults"] == 4 + 2
    overshared = next(s for s in count["response"]["resultSets"] if s["beaconId"] == "overshare")
    assert (overshared["resultsCount"], overshared["results"],
            overshared["info"]["returnedGranularity"]) == (2, [], "count")


async def test_a_peer_is_taken_only_at_the_granularity_it_says_it_answered(network, check):
    """A peer's answer is taken at the lower of the granularity asked and the one its meta
    states. Before, only the asked one capped it: a peer saying `count` but sending records
    had them passed on (asked record) in a set labelled count, and a peer saying `boolean`
    had its count and records passed on too. At count, a set passes on only the schema's
    fields: records under another key, or other keys in its `info`, are left out too."""
    fi = Peer(id="org.test.fi", url=f"{network.node_urls['org.test.fi']}/api")
    said = [network.fakes.peer("said.count"), network.fakes.peer("said.boolean")]
    async with network.aggregator([fi, *said]) as net:
        answers = {granularity: await check(
            net, "/network/api/g_variants", params={**QUERY, "requestedGranularity": granularity},
            schema=RESPONSE_SCHEMAS[granularity]) for granularity in ("count", "record")}
    for granularity, merged in answers.items():
        text = json.dumps(merged)
        assert OVERSHARED not in text and LEAKED not in text, granularity
        lines = _peer_lines(merged)
        assert (lines["said.count"]["returnedGranularity"], lines["said.count"]["numTotalResults"]
                ) == ("count", 2)
        assert lines["said.boolean"]["returnedGranularity"] == "boolean"
        assert "numTotalResults" not in lines["said.boolean"]
        assert merged["responseSummary"]["numTotalResults"] == 4 + 2
        sets = {s["beaconId"]: s for s in merged["response"]["resultSets"]}
        assert "said.boolean" not in sets
        assert sets["said.count"] == {
            "id": "said.count-set", "setType": "dataset", "exists": True, "resultsCount": 2,
            "countPrecision": "exact", "results": [], "info": {"returnedGranularity": "count"},
            "beaconId": "said.count"}
    assert answers["record"]["meta"]["returnedGranularity"] == "record"       # fi's records


async def test_a_count_is_no_boolean_and_exists_no_string(network, check):
    """A count of `true` was taken as 1 (pydantic's lax int) and added to the total, and an
    `exists` of "yes" or 1 as true: now such a peer is invalid, naming the field. A count
    spelt in digits is still one."""
    names = ("lax.truecount", "lax.truesetcount", "lax.yes", "lax.one", "lax.digits")
    async with network.aggregator([network.fakes.peer(name) for name in names]) as net:
        merged = await check(net, "/network/api/g_variants",
                             params={**QUERY, "requestedGranularity": "count"})
    lines = _peer_lines(merged)
    assert {name: lines[name]["status"] for name in names} == {
        **dict.fromkeys(names, "invalid"), "lax.digits": "ok"}
    assert lines["lax.truecount"]["detail"] == (
        "not a Beacon response: responseSummary.numTotalResults: Input should be a valid "
        "integer, not a boolean")
    assert lines["lax.truesetcount"]["detail"].startswith(
        "not a Beacon response: response.resultSets.0.resultsCount: ")
    assert lines["lax.yes"]["detail"] == (
        "not a Beacon response: responseSummary.exists: Input should be a valid boolean")
    assert lines["lax.one"]["detail"].startswith(
        "not a Beacon response: response.resultSets.0.exists: ")
    assert merged["responseSummary"]["numTotalResults"] == 3
    assert [s["beaconId"] for s in merged["response"]["resultSets"]] == ["lax.digits"]


async def test_peers_counts_are_bounded_and_their_sum_too(network, check):
    """A count past 2^53 - 1 (the largest JSON's clients read exactly) is not one: that peer
    is invalid. The sum of the counts the peers may send stops there, so that it never
    passes the 64 bits the network's JSON writer takes (two peers' counts of 2^64 - 1 once
    made the network's answer a 500)."""
    fakes = network.fakes
    async with network.aggregator([fakes.peer(name) for name in HUGE_COUNTS]) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    lines = _peer_lines(merged)
    assert [lines[name]["status"] for name in HUGE_COUNTS] == ["ok", "ok", "invalid"]
    assert lines["toohuge"]["detail"] == (
        "not a Beacon response: responseSummary.numTotalResults: Input should be less than "
        f"or equal to {2**53 - 1}")
    assert merged["responseSummary"]["numTotalResults"] == 2**53 - 1
    assert [s["resultsCount"] for s in merged["response"]["resultSets"]] == [2**53 - 1] * 2


async def test_a_gzip_answer_is_bounded_as_it_unpacks(network, check):
    """MAX_PEER_BODY bounds a peer's answer as read, unpacked: a gzip body of less than
    32 kB (its Content-Length, the packed size) that unpacks past the bound is `invalid`,
    read no further than the bound. Before, an answer whose Content-Length was within the
    bound was read whole: 61 kB unpacked to 63 MB of JSON, accepted, and 255 kB cost 770 MB."""
    assert len(_gzip_bomb()) < 2**15
    async with network.aggregator([*network.peers(), network.fakes.peer("gzipbomb")]) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    line = _peer_lines(merged)["gzipbomb"]
    assert (line["status"], line["detail"]) == (
        "invalid", f"answer larger than {MAX_PEER_BODY} bytes")
    assert merged["responseSummary"]["numTotalResults"] == 4 + 5 + 6


async def test_the_peers_answers_to_one_request_are_bounded_together(network, check):
    """Each peer's answer is bounded (MAX_PEER_BODY) and so are all of a request's together
    (MAX_NETWORK_BODIES): a network of N peers read N times 16 MiB for one request, and a
    registry lists whatever its credential holders register, each at URLs of their own.
    Five answers of 15 MiB, three sent as they are and two as gzip, each within its bound:
    those read while the request's bound holds are `ok`, the rest are each an `error` line
    saying why, never read further; the nodes' small answers are read as ever."""
    peers = [*network.peers(), *(network.fakes.peer(name) for name in PADDED)]
    async with network.aggregator(peers, peer_timeout_seconds=60,
                                  network_deadline_seconds=60) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    lines = _peer_lines(merged)
    assert all(lines[name]["status"] == "ok" for name in NODES), lines
    padded = [lines[name] for name in PADDED]
    over = [line for line in padded if line["status"] != "ok"]
    assert 1 <= len(over) and len(padded) - len(over) <= MAX_NETWORK_BODIES // (15 * 2**20)
    past = (f"answer not read further: the peers' answers to this request passed "
            f"{MAX_NETWORK_BODIES} bytes together")
    assert {(line["status"], line["detail"]) for line in over} == {("error", past)}, over
    assert merged["responseSummary"]["numTotalResults"] == 4 + 5 + 6


async def test_a_peer_answer_nested_deeper_than_the_network_writes_is_invalid(network, check):
    """A peer's JSON is read up to 1024 levels deep (orjson) and what it passes on is written
    as it came, up to 254 levels: a record or a dataset nested 300 levels deep made the whole
    network's answer a 500. Now that peer is `invalid`, and the others' answers stand."""
    async with network.aggregator([*network.peers(), network.fakes.peer("deep")]) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
        listed = await check(net, "/network/api/datasets", schema=COLLECTIONS_SCHEMA)
    for document in (merged, listed):
        line = _peer_lines(document)["deep"]
        assert (line["status"], line["detail"]) == (
            "invalid", "answer nested deeper than the network passes on (254 levels)")
    assert {s["beaconId"] for s in merged["response"]["resultSets"]} == set(NODES)
    assert merged["responseSummary"]["numTotalResults"] == 4 + 5 + 6
    assert {c["beaconId"] for c in listed["response"]["collections"]} == set(NODES)


async def test_a_record_holding_a_huge_integer_passes_on_as_read_whole(network, check):
    """A record holding 10**25 in an ASCII answer (read at once, the integer kept exact)
    made the network's answer unwritable, and its peer `invalid` as "nested deeper than
    ...", where the same answer read whole (not ASCII) passed on as 1e+25. Both pass on."""
    peers = [network.fakes.peer("hugeint.ascii"), network.fakes.peer("hugeint.utf8")]
    async with network.aggregator(peers) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    assert {line["status"] for line in _peer_lines(merged).values()} == {"ok"}
    assert [s["results"][0]["huge"] for s in merged["response"]["resultSets"]] == [1e25] * 2


async def _timed(client: ClientSession, path: str, params: dict | None = None
                 ) -> tuple[float, dict]:
    """The seconds `client` waited for the answer to GET `path`, and the answer (a 200)."""
    began = time.perf_counter()
    async with client.get(path, params=params) as response:
        document = await response.json()
    assert response.status == 200, document
    return time.perf_counter() - began, document


async def test_merging_many_scopes_or_adjustments_does_not_stall_the_network(
        network, beacon_schema):
    """The merge takes each scope of a term, and each count adjustment, in constant time: a
    term a peer listed twice with 40,000 scopes, or two peers' 40,000 countAdjustedTo
    each, took 6 to 7 s of list searches, during which the node answered no one (the merge
    runs on its one event loop). Each scope and adjustment is still given once, in the
    order first given."""
    fakes = network.fakes
    async with network.aggregator([fakes.peer("manyscopes")]) as net:
        terms_took, terms = await _timed(net, "/network/api/filtering_terms")
    async with network.aggregator([fakes.peer("adjusted.1"), fakes.peer("adjusted.2")]) as net:
        counts_took, counted = await _timed(net, "/network/api/g_variants",
                                            {**QUERY, "requestedGranularity": "count"})
    assert beacon_schema("framework/json/responses/beaconFilteringTermsResponse.json",
                         terms) == []
    assert beacon_schema(RESPONSE_SCHEMAS["count"], counted) == []
    (term,) = terms["response"]["filteringTerms"]
    assert term["scopes"] == [f"scope{i}" for i in range(MANY)]
    assert term["beaconIds"] == ["manyscopes"]
    assert counted["responseSummary"]["countAdjustedTo"] == [
        f"next multiple of {i}" for i in range(MANY)]
    assert terms_took < 1 and counts_took < 1, (terms_took, counts_took)


async def test_a_total_with_a_peers_count_of_unknown_precision_does_not_claim_exact(
        network, check):
    """The nodes' counts are exact and say so; a Beacon v2.0 peer's says nothing of its
    precision (it may round, or drop counts under a floor): the network's total of them all
    states no `countPrecision`, while a total of the nodes' alone is exact."""
    async with network.aggregator([*network.peers(), network.fakes.peer("v20")]) as net:
        merged = await check(net, "/network/api/g_variants",
                             params={**QUERY, "requestedGranularity": "count"})
    async with network.aggregator(network.peers()) as net:
        known = await check(net, "/network/api/g_variants",
                            params={**QUERY, "requestedGranularity": "count"})
    assert _peer_lines(merged)["v20"]["status"] == "ok"
    assert merged["responseSummary"] == {"exists": True, "numTotalResults": 4 + 5 + 6 + 7}
    precisions = {s["id"]: s.get("countPrecision") for s in merged["response"]["resultSets"]}
    assert (precisions["v20-set"], precisions["GDI-FI-SYN-001"]) == (None, "exact")
    assert known["responseSummary"]["countPrecision"] == "exact"


async def test_a_total_missing_an_unavailable_peers_count_does_not_claim_exact(network,
                                                                             check):
    """A peer that did not answer (here no connection) has a count nobody knows, as a Beacon
    v2.0 peer's precision: the network's total of the others was still `exact`, a claim of
    the whole network's count that nobody made. It states no `countPrecision`; a dataset's
    peers answering "not here" (404) are known to hold none, and the total stays exact."""
    gone = Peer(id="gone", url=f"http://127.0.0.1:{free_port()}/api")
    count = {**QUERY, "requestedGranularity": "count"}
    async with network.aggregator([*network.peers(), gone]) as net:
        partial = await check(net, "/network/api/g_variants", params=count)
        scoped_partial = await check(net, "/network/api/datasets/GDI-SE-SYN-001/g_variants",
                                     params=count)
    async with network.aggregator(network.peers()) as net:
        scoped = await check(net, "/network/api/datasets/GDI-SE-SYN-001/g_variants",
                             params=count)
    assert _peer_lines(partial)["gone"]["status"] == "error"
    assert partial["responseSummary"] == {"exists": True, "numTotalResults": 4 + 5 + 6}
    assert scoped_partial["responseSummary"] == {"exists": True, "numTotalResults": 5}
    assert scoped["responseSummary"] == {"exists": True, "numTotalResults": 5,
                                         "countPrecision": "exact"}


async def test_a_count_answer_passes_on_only_what_its_schema_fields_may_hold(network, check):
    """At count, a resultSet's fields pass on only as their schema defines them: a
    `countAdjustedTo` its strings, a `countPrecision` one of the schema's values, and each
    handover its schema's fields (its type an `id` and a `label`). Only the set's keys were
    checked, so a record in a `countAdjustedTo`, in a handover's `records` or its type, or
    a `countPrecision` holding any text, passed on in an answer labelled count (found by a
    review, 2026-12-05)."""
    peers = [network.fakes.peer(name) for name in SMUGGLING_EXTRAS]
    async with network.aggregator(peers) as net:
        merged = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    assert merged["meta"]["returnedGranularity"] == "count"
    assert {line["status"] for line in _peer_lines(merged).values()} == {"ok"}
    assert "smuggled" not in json.dumps(merged)
    sets = {s["beaconId"]: s for s in merged["response"]["resultSets"]}
    assert sets["smuggle.adjusted"]["countAdjustedTo"] == ["next multiple of 5"]
    assert "countPrecision" not in sets["smuggle.precision"]
    assert sets["smuggle.handover"]["resultsHandovers"] == [HANDOVER]
    assert merged["responseSummary"]["numTotalResults"] == 3


async def test_a_total_past_the_largest_count_is_not_called_exact(network, check):
    """Two peers' exact counts of 2^53 - 1 sum past the largest count the network reports:
    the total, reported as 2^53 - 1, is `imprecise` and says it was capped. It was reported
    with the peers' precision, `exact`, half of what they said (found by a review,
    2026-12-05)."""
    peers = [network.fakes.peer("exactmax.1"), network.fakes.peer("exactmax.2")]
    async with network.aggregator(peers) as net:
        merged = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    assert merged["responseSummary"] == {
        "exists": True, "numTotalResults": 2**53 - 1, "countPrecision": "imprecise",
        "countAdjustedTo": [f"more than {2**53 - 1} reported as {2**53 - 1}"]}
    assert [s["countPrecision"] for s in merged["response"]["resultSets"]] == ["exact"] * 2


async def test_a_peer_that_found_something_without_a_count_leaves_the_total_unknown(
        network, check):
    """A boolean peer's `exists: true` beside a count peer's exact 0 merged to `exists:
    true, numTotalResults: 0, countPrecision: exact`: the boolean peer's count is unknown,
    so the total states no precision, as with a Beacon v2.0 peer's (found by a review,
    2026-12-05). A boolean peer that found nothing adds nothing: the total stays exact."""
    fakes = network.fakes
    async with network.aggregator([fakes.peer("boolyes"), fakes.peer("exactzero")]) as net:
        unknown = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    async with network.aggregator([fakes.peer("boolno"), fakes.peer("exactzero")]) as net:
        known = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    assert _peer_lines(unknown)["boolyes"]["returnedGranularity"] == "boolean"
    assert unknown["responseSummary"] == {"exists": True, "numTotalResults": 0}
    assert known["responseSummary"] == {"exists": False, "numTotalResults": 0,
                                        "countPrecision": "exact"}


async def test_a_peer_that_found_something_counting_none_leaves_the_total_unknown(
        network, check):
    """A peer's `exists: true` beside a count of 0 (a count floor reporting what it hides
    as none) says it found something without saying how much, as a boolean peer's `exists:
    true` does: the total states no precision. Taken as its count, the network answered
    `exists: true, numTotalResults: 0, countPrecision: exact`, which no node states
    (docs/privacy.md: `exists` never contradicts the count)."""
    fakes = network.fakes
    async with network.aggregator([fakes.peer("foundzero"), fakes.peer("exactzero")]) as net:
        merged = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    assert merged["responseSummary"] == {"exists": True, "numTotalResults": 0}
    assert _peer_lines(merged)["foundzero"]["numTotalResults"] == 0


async def test_a_peer_saying_not_found_beside_a_count_adds_nothing_to_the_total(
        network, check):
    """EGA's beacon2-pi-api reports `exists: false` beside a count equal to its floor
    (DOMAIN.md): its count was added to the network's total, so a network of it alone
    answered `exists: false, numTotalResults: 5`, the contradiction docs/privacy.md says a
    node never states, and beside a real node the total counted 5 the peer said it had not
    found. A peer that found nothing adds 0 (docs/federation.md); its own line and
    resultSets still say what it sent."""
    pi = network.fakes.peer("pifloor")
    async with network.aggregator([pi]) as net:
        alone = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    async with network.aggregator([*network.peers(), pi]) as net:
        beside = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    assert alone["responseSummary"]["exists"] is False
    assert alone["responseSummary"]["numTotalResults"] == 0
    assert beside["responseSummary"]["numTotalResults"] == 4 + 5 + 6
    assert _peer_lines(beside)["pifloor"]["numTotalResults"] == 5
    assert [(s["exists"], s["resultsCount"]) for s in beside["response"]["resultSets"]
            if s["beaconId"] == "pifloor"] == [(False, 5)]


async def test_the_token_goes_only_to_peers_trusting_its_issuer(network, check):
    fakes = network.fakes
    peers = [fakes.peer("trusting", network.aai_url), fakes.peer("untrusting"),
             fakes.peer("other-only", network.other_url)]
    fakes.authorization.clear()
    token, other = network.token("bob"), network.token("bob", network.other_aai)
    async with network.aggregator(peers) as net:
        await check(net, "/network/api/g_variants", params=QUERY, token=token)
        await check(net, "/network/api/g_variants", params=QUERY, token=other)
        await check(net, "/network/api/g_variants", params=QUERY)
    assert fakes.authorization["trusting"] == [f"Bearer {token}", None, None]
    assert fakes.authorization["untrusting"] == [None, None, None]
    assert fakes.authorization["other-only"] == [None, f"Bearer {other}", None]


async def test_an_invalid_token_is_401_and_no_peer_is_asked(network, check):
    fakes = network.fakes
    fakes.authorization.clear()
    async with network.aggregator([fakes.peer("trusting", network.aai_url)]) as net:
        response = await net.get("/network/api/g_variants", params=QUERY,
                                 headers={"Authorization": "Bearer not-a-token"})
        assert response.status == 401 and "WWW-Authenticate" in response.headers
        forged = network.token("carol")[:-4] + "AAAA"
        await check(net, "/network/api/g_variants", params=QUERY, token=forged, status=401)
    assert "trusting" not in fakes.authorization


async def test_bad_requests_are_refused_as_the_node_refuses_them(network, check):
    fakes = network.fakes
    fakes.authorization.clear()
    async with network.aggregator([fakes.peer("trusting")]) as net:
        bad = await check(net, "/network/api/g_variants", params={"start": "x"}, status=400)
        await check(net, "/network/api/g_variants/not-an-id", status=400)
        response = await net.post("/network/api/g_variants", data=b"{not json")
        assert response.status == 400
    assert bad["error"]["errorMessage"].startswith("query.requestParameters.start")
    assert fakes.authorization == {}


async def test_variant_by_id_datasets_and_scoped_queries(network, check, beacon_schema):
    async with network.aggregator(network.peers()) as net:
        by_id = await check(net, "/network/api/g_variants/GRCh38:1:99:A:G")
        datasets = await check(net, "/network/api/datasets", schema=COLLECTIONS_SCHEMA)
        one = await check(net, "/network/api/datasets/GDI-SE-SYN-001", schema=COLLECTIONS_SCHEMA)
        scoped = await check(net, "/network/api/datasets/GDI-SE-SYN-001/g_variants",
                             params={**QUERY, "requestedGranularity": "count"})
        await check(net, "/network/api/datasets/GDI-XX-NONE/g_variants", params=QUERY,
                    status=404)
    assert by_id["meta"]["returnedGranularity"] == "record"
    assert sorted((s["beaconId"], s["id"]) for s in by_id["response"]["resultSets"]
                  if s["results"]) == [("org.test.es", "GDI-ES-SYN-001"),
                                       ("org.test.fi", "GDI-FI-SYN-001"),
                                       ("org.test.se", "GDI-SE-SYN-001")]
    assert sorted((c["beaconId"], c["id"]) for c in datasets["response"]["collections"]) == \
        sorted((b, d) for b, sets in NODES.items() for d in sets)
    assert datasets["responseSummary"]["numTotalResults"] == 7
    assert [(c["beaconId"], c["id"]) for c in one["response"]["collections"]] == [
        ("org.test.se", "GDI-SE-SYN-001")]
    assert [(s["beaconId"], s["id"], s["resultsCount"])
            for s in scoped["response"]["resultSets"]] == [("org.test.se", "GDI-SE-SYN-001", 5)]


async def test_a_peer_answering_for_datasets_not_asked_is_invalid(network, check):
    """A question naming its datasets (the path's, or `datasetIds`) is answered by each peer
    for those alone, as a node answers it: a peer answering for others (one ignoring the
    scope, or a registered node claiming what it was not asked) had its sets passed on
    and its count added to the network's answer about that one dataset. That peer is
    `invalid`, naming the sets; asked of every dataset, its own sets are its answer."""
    count = {**QUERY, "requestedGranularity": "count"}
    async with network.aggregator([*network.peers(), network.fakes.peer("otherset")]) as net:
        scoped = await check(net, "/network/api/datasets/GDI-SE-SYN-001/g_variants",
                             params=count)
        named = await check(net, "/network/api/g_variants",
                            params={**count, "datasetIds": "GDI-SE-SYN-001"})
        one = await check(net, "/network/api/datasets/GDI-SE-SYN-001",
                          schema=COLLECTIONS_SCHEMA)
        everything = await check(net, "/network/api/g_variants", params=count)
    for document in (scoped, named, one):
        line = _peer_lines(document)["otherset"]
        assert (line["status"], line["detail"]) == (
            "invalid", "answered for datasets not asked: otherset-set"), line
    for document in (scoped, named):
        assert [(s["beaconId"], s["id"]) for s in document["response"]["resultSets"]] == [
            ("org.test.se", "GDI-SE-SYN-001")]
        assert document["responseSummary"]["numTotalResults"] == 5
    assert [(c["beaconId"], c["id"]) for c in one["response"]["collections"]] == [
        ("org.test.se", "GDI-SE-SYN-001")]
    assert one["responseSummary"]["numTotalResults"] == 1
    assert _peer_lines(everything)["otherset"]["status"] == "ok"
    assert everything["responseSummary"]["numTotalResults"] == 4 + 5 + 6 + 7


async def _peer_trail(url: str, request_id: str) -> list[tuple[str, str]]:
    """(caller, endpoint) of a peer's audit entries under `request_id`, once written (a
    node writes its trail every second)."""
    conn = await asyncpg.connect(url)
    try:
        for _ in range(50):
            rows = await conn.fetch("SELECT caller, endpoint FROM audit_trail "
                                    "WHERE request_id = $1", request_id)
            if rows:
                return [tuple(r) for r in rows]
            await asyncio.sleep(0.1)
        return []
    finally:
        await conn.close()


async def test_a_scoped_individuals_query_naming_another_dataset_is_refused(network, check):
    """/network/api/datasets/{id}/individuals refuses `datasetIds` naming another dataset
    (400 naming datasetIds, no peer asked), as its g_variants route and a node do: it passed
    the body on, asking every peer about a dataset the path does not name."""
    fakes = network.fakes
    async with network.aggregator([fakes.peer("scope.recorder")]) as net:
        for path in ("individuals", "g_variants"):
            refused = await check(net, f"/network/api/datasets/GDI-FI-SYN-001/{path}",
                                  params={"datasetIds": "GDI-SE-SYN-001"}, status=400)
            assert refused["error"]["errorMessage"].startswith("datasetIds: conflicts"), path
            posted = await check(
                net, f"/network/api/datasets/GDI-FI-SYN-001/{path}", status=400, body={
                    "meta": {}, "query": {"requestParameters": {
                        "datasetIds": ["GDI-SE-SYN-001"]}}})
            assert posted["error"]["errorMessage"].startswith("datasetIds: conflicts"), path
    assert not [hit for hit in fakes.hits if hit.startswith("scope.recorder/")]


# Ids whose path segment a proxy that decodes %2F (or %5C, or dot segments) in front of a
# peer would route outside the peer's /api, with the caller's token
TRAVERSING = ("..%2F..%2Fadmin", "%2E%2E", "%2e", "x%5C..%5Cadmin", "a%2Fb")


async def test_an_id_that_would_leave_the_peers_api_is_refused(network, beacon_schema):
    """An id in the path is passed on as it came, percent-encoded: `..%2F..%2Fadmin` asked
    every peer for /api/datasets/..%2F..%2Fadmin, which a proxy decoding %2F routes to
    /admin, with the caller's token where it is forwarded. Such an id (holding '/' or '\\',
    or '.' or '..') names no dataset or variant: 400 naming it, and no peer is asked."""
    fakes = network.fakes
    async with network.aggregator([fakes.peer("path.recorder", network.aai_url)]) as net:
        for raw in TRAVERSING:
            for path in (f"datasets/{raw}", f"datasets/{raw}/g_variants",
                         f"datasets/{raw}/individuals", f"g_variants/{raw}",
                         f"g_variants/{raw}/individuals"):
                async with net.get(URL(f"/network/api/{path}", encoded=True),
                                   headers={"Authorization":
                                            f"Bearer {network.token('carol')}"}) as response:
                    document = await response.json()
                assert response.status == 400, (path, document)
                assert beacon_schema(ERROR_SCHEMA, document) == []
                assert document["error"]["errorMessage"].startswith("id: "), (path, document)
    assert not [hit for hit in fakes.hits if hit.startswith("path.recorder/")]


async def test_a_network_root_sent_percent_encoded_is_refused_before_any_peer_is_asked(
        network, beacon_schema):
    """aiohttp routes on the decoded path, so `/network/%61pi/...` reached the network's
    handlers, which strip the root from the path as sent: every peer was asked
    `{root}/network/%61pi/...`, off its API (a false 404 "found nowhere", and tokens
    forwarded to that path; found by a review, 2026-12-05). Such a path is a 400 naming
    it, and no peer is asked."""
    fakes = network.fakes
    fakes.hits.clear()
    query = "referenceName=1&start=0&end=100000&requestedGranularity=count"
    async with (network.aggregator_served([fakes.peer("recording")]) as (url, _),
                ClientSession() as client):
        for path in ("/network/%61pi/datasets/GDI-FI-SYN-001/g_variants?" + query,
                     "/network/%61pi/g_variants?" + query, "/network/%61pi/datasets"):
            async with client.get(URL(f"{url}{path}", encoded=True)) as response:
                document = await response.json()
            assert response.status == 400, (path, document)
            assert beacon_schema(ERROR_SCHEMA, document) == []
            assert path.split("?")[0] in document["error"]["errorMessage"]
        async with client.get(URL(f"{url}/network/api/g_variants?{query}", encoded=True)
                              ) as response:
            assert response.status == 200
    assert [hit for hit in fakes.hits if hit.startswith("recording/")] == [
        "recording/g_variants"]


async def test_network_questions_are_audited_and_traced_to_the_peers_entries(network, check):
    """Each peer counts an anonymous network question against the network node (here
    127.0.0.1, as any caller of the network would be), so only the network's own entry can
    say who asked. It names the caller, every peer asked and what the network passed on of
    its answer, and its request id is the one the peers' entries carry. Before, the network
    wrote no entry and sent no id: a question was traceable to no one."""
    disclosure = OPEN_DISCLOSURE.model_copy(update={"client_address_header": "X-Forwarded-For"})
    client = {"X-Forwarded-For": "198.51.100.7"}
    count = {**QUERY, "requestedGranularity": "count"}
    async with network.aggregator(network.peers(), disclosure=disclosure) as net:
        asked = {}
        for path, params, status in (("/network/api/g_variants", count, 200),
                                     ("/network/api/datasets", None, 200),
                                     ("/network/api/datasets/GDI-XX-NONE/g_variants", count,
                                      404)):
            async with net.get(path, params=params, headers=client) as response:
                assert response.status == status
                asked[path] = (response.headers["X-Request-ID"], await response.json())
    variants_id, merged = asked["/network/api/g_variants"]
    rows = {r["endpoint"]: (r["request_id"], r["caller"], json.loads(r["datasets"]))
            for r in await network.pool.fetch(
                "SELECT request_id, caller, endpoint, datasets FROM audit_trail "
                "WHERE request_id = any($1::text[])", [i for i, _ in asked.values()])}
    assert set(rows) == set(asked)
    assert all(caller == "address 198.51.100.7" for _, caller, _ in rows.values())
    assert rows["/network/api/g_variants"] == (variants_id, "address 198.51.100.7", {
        line["id"]: {"peer": "ok", "tokenForwarded": False, "granularity": "count",
                     "exists": line["exists"], "count": line["numTotalResults"]}
        for line in _peer_lines(merged).values()})
    assert set(rows["/network/api/g_variants"][2]) == set(NODES)
    assert rows["/network/api/datasets/GDI-XX-NONE/g_variants"][2] == {
        beacon_id: {"peer": "ok", "tokenForwarded": False} for beacon_id in NODES}
    # what was asked, as the answer read it (a 404's too, which has no answer to say it)
    queries = {r["endpoint"]: json.loads(r["query"]) for r in await network.pool.fetch(
        "SELECT endpoint, query FROM audit_trail WHERE request_id = any($1::text[])",
        [i for i, _ in asked.values()])}
    summary = merged["meta"]["receivedRequestSummary"]
    assert queries["/network/api/g_variants"] == {
        key: summary[key] for key in ("requestParameters", "filters", "requestedGranularity",
                                      "pagination", "includeResultsetResponses")}
    assert queries["/network/api/datasets/GDI-XX-NONE/g_variants"] == queries[
        "/network/api/g_variants"]
    for beacon_id, url in network.databases.items():
        for path, endpoint in (("/network/api/g_variants", "/api/g_variants"),
                               ("/network/api/datasets", "/api/datasets")):
            assert await _peer_trail(url, asked[path][0]) == [
                ("address 127.0.0.1", endpoint)], (beacon_id, path)


async def test_the_networks_entry_of_an_individuals_question_keeps_its_purpose(network):
    """The purpose of use of an individuals question is in the network's entry, with each
    peer asked (as a node keeps it with each dataset), and in each peer's, which it
    reaches as sent: the network's entry, the one naming who asked, left it out, so its
    operator could not say for what a caller had asked the peers about individuals."""
    body = {"meta": {}, "query": {"requestedGranularity": "count",
                                  "requestParameters": {"referenceName": "1", "start": "99",
                                                        "alternateBases": "G"}}}
    async with (network.aggregator(network.peers()) as net,
                net.post("/network/api/individuals", json=body,
                         headers={"X-Purpose-Of-Use": "DUO:0000006"}) as response):
        assert response.status == 200, await response.text()
        request_id = response.headers["X-Request-ID"]
    [told] = await network.pool.fetch("SELECT datasets FROM audit_trail WHERE request_id = $1",
                                      request_id)
    peers = json.loads(told["datasets"])
    assert set(peers) == set(NODES)
    assert {peer.get("purpose") for peer in peers.values()} == {"DUO:0000006"}
    for url in network.databases.values():
        assert await _peer_trail(url, request_id)          # written, then read as a whole
        conn = await asyncpg.connect(url)
        try:
            entries = await conn.fetch("SELECT datasets FROM audit_trail "
                                       "WHERE request_id = $1", request_id)
        finally:
            await conn.close()
        assert {dataset.get("purpose") for entry in entries
                for dataset in json.loads(entry["datasets"]).values()} == {"DUO:0000006"}


async def test_a_test_mode_question_to_the_network_is_audited_nowhere(network):
    """A test-mode request audits nothing (docs/beacon.md), at the network as at a node: the
    network wrote an entry per peer asked for one (found by a review, 2026-12-05), though
    it asks them in test mode, which they audit nowhere either."""
    count = {**QUERY, "requestedGranularity": "count", "testMode": "true"}
    async with network.aggregator(network.peers()) as net:
        asked = []
        for method, path, given in (
                ("GET", "/network/api/g_variants", {"params": count}),
                ("GET", "/network/api/datasets", {"params": {"testMode": "true"}}),
                ("GET", "/network/api/datasets/GDI-XX-NONE/g_variants", {"params": count}),
                ("POST", "/network/api/individuals", {"json": {"meta": {}, "query": {
                    "testMode": True, "requestedGranularity": "count"}}})):
            async with net.request(method, path, **given) as response:
                body = await response.json()
                assert response.status in (200, 404), body
                asked.append(response.headers["X-Request-ID"])
    assert not await network.pool.fetch("SELECT 1 FROM audit_trail WHERE "
                                        "request_id = any($1::text[])", asked)


# Anonymous callers at the peers (docs/federation.md): a peer's anonymous budget, small here
NETWORK_BUDGET = 3
BUDGETED = "GDI-BU-SYN-001"
COUNT_QUERY = {**QUERY, "requestedGranularity": "count"}


async def _budgeted_peer(stack: AsyncExitStack, network: Network, pg_server_url: str,
                         beacon_id: str, trusted: list[str],
                         client_address_header: str | None = None,
                         issuers: list[TrustedIssuer] | None = None) -> tuple[Peer, str]:
    """A node of one PUBLIC dataset whose anonymous callers have NETWORK_BUDGET questions,
    trusting network nodes at `trusted` (and the token `issuers`), served until `stack`
    closes (its own pool, as `gdi-node serve`): the peer, and its database's URL."""
    database = await stack.enter_async_context(node_database(pg_server_url))
    path = write_vcf_text(network.directory / f"{beacon_id}.vcf", _vcf(2))
    await ingest(database, IngestRequest(path, BUDGETED, GRCH38, AccessLevel.PUBLIC, BUDGETED,
                                         workers=1))
    tier = OPEN_DISCLOSURE.anonymous.model_copy(update={"budget_per_window": NETWORK_BUDGET})
    settings = Settings(disclosure=OPEN_DISCLOSURE.model_copy(update={
                            "anonymous": tier, "client_address_header": client_address_header}),
                        database_url=database, data_dir=network.directory, beacon_id=beacon_id,
                        trusted_network_addresses=trusted, trusted_issuers=issuers or [])
    url = await serve_app(stack, create_app(settings))
    return Peer(id=beacon_id, url=f"{url}/api"), database


async def _client_at(stack: AsyncExitStack, address: str, url: str) -> ClientSession:
    """A client of `url` connecting from `address` (any 127.0.0.x is this machine's)."""
    return await stack.enter_async_context(ClientSession(
        base_url=url, connector=TCPConnector(local_addr=(address, 0))))


async def _network_count(client: ClientSession) -> tuple[dict[str, str], str]:
    """Each peer's outcome of a network count question (`429` for a budget spent), and the
    request's id."""
    async with client.get("/network/api/g_variants", params=COUNT_QUERY) as response:
        document = await response.json()
        assert response.status == 200, document
        return ({peer: "429" if line.get("detail", "").startswith("HTTP 429") else
                 line["status"] for peer, line in _peer_lines(document).items()},
                response.headers["X-Request-ID"])


async def test_anonymous_callers_of_the_network_have_their_own_budgets_at_a_trusting_peer(
        network, pg_server_url):
    """Two anonymous researchers asking through one network, from 127.0.0.2 and 127.0.0.3:
    a peer trusting the network node (127.0.0.1) counts each on its own, under a pseudonym
    of its own, so one spending its budget leaves the other answered; a peer that does not
    trust it counts both as the network node, as every peer did before (the second
    researcher's first question was a 429 there). Each keeps one budget, and a peer learns
    neither's address."""
    async with AsyncExitStack() as stack:
        trusting, trusting_db = await _budgeted_peer(stack, network, pg_server_url,
                                                     "org.test.trusting", ["127.0.0.1"])
        plain, plain_db = await _budgeted_peer(stack, network, pg_server_url,
                                               "org.test.plain", [])
        url, _ = await stack.enter_async_context(network.aggregator_served([trusting, plain]))
        first, second = [await _client_at(stack, address, url)
                         for address in ("127.0.0.2", "127.0.0.3")]
        spent = [await _network_count(first) for _ in range(NETWORK_BUDGET + 1)]
        other, other_id = await _network_count(second)
        assert [outcome for outcome, _ in spent] == [
            {"org.test.trusting": "ok", "org.test.plain": "ok"}] * NETWORK_BUDGET + [
            {"org.test.trusting": "429", "org.test.plain": "429"}]
        assert other == {"org.test.trusting": "ok", "org.test.plain": "429"}
        trusted = {request_id: await _peer_trail(trusting_db, request_id)
                   for request_id in (spent[0][1], spent[1][1], other_id)}
        shared = [await _peer_trail(plain_db, request_id) for request_id, in
                  ((spent[0][1],), (spent[1][1],))]
    assert shared == [[("address 127.0.0.1", "/api/g_variants")]] * 2
    (mine,), (again,), (theirs,) = trusted.values()
    assert mine == again and mine != theirs          # one budget each
    for (caller, endpoint), address in ((mine, "127.0.0.2"), (theirs, "127.0.0.3")):
        kind, network_address, pseudonym = caller.split(" ")
        assert (kind, network_address, endpoint) == ("network", "127.0.0.1", "/api/g_variants")
        assert re.fullmatch("[0-9a-f]{32}", pseudonym)
        assert pseudonym != hashlib.sha256(f"address {address}".encode()).hexdigest()[:32]
        assert address not in caller
    rows = await network.pool.fetch("SELECT caller FROM audit_trail WHERE request_id = "
                                    "any($1::text[])", [spent[0][1], other_id])
    assert sorted(r["caller"] for r in rows) == ["address 127.0.0.2", "address 127.0.0.3"]


async def test_a_forwarded_token_without_bona_fide_status_is_the_callers_pseudonym(
        network, pg_server_url):
    """A signed-in caller without bona fide status is counted by its address at a node
    (node/http/caller.py caller_key), not by the token's subject, which anybody may sign up
    for again: asking through the network, whose peer is forwarded the token, it is the one
    caller the peer trusting the network node knows its address's questions by (its
    pseudonym, with the token or without), where given no pseudonym beside the token it
    would be the network node itself, every such caller of the network sharing one budget."""
    aai = [TrustedIssuer(**trusted_issuer_entry(network.aai_url))]
    async with AsyncExitStack() as stack:
        peer, database = await _budgeted_peer(stack, network, pg_server_url,
                                              "org.test.tokens", ["127.0.0.1"], issuers=aai)
        forwarded = Peer(id=peer.id, url=peer.url, forward_tokens_from=[network.aai_url])
        url, _ = await stack.enter_async_context(network.aggregator_served([forwarded]))
        client = await _client_at(stack, "127.0.0.2", url)
        asked = []
        for token in (network.token("alice"), None, network.token("bob")):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with client.get("/network/api/g_variants", params=COUNT_QUERY,
                                  headers=headers) as response:
                document = await response.json()
                assert response.status == 200, document
                assert _peer_lines(document)["org.test.tokens"]["status"] == "ok", document
                asked.append(response.headers["X-Request-ID"])
        (alice,), (anonymous,), (bob,) = [await _peer_trail(database, request_id)
                                          for request_id in asked]
    assert alice == anonymous and alice[0].startswith("network 127.0.0.1 ")
    assert bob == (f"token {network.aai_url} bob", "/api/g_variants")


async def test_a_network_caller_named_from_an_untrusted_address_is_no_fresh_budget(
        network, pg_server_url):
    """A client asking a peer directly, from an address the peer does not trust, naming a
    new network caller each time: the header is ignored, and the client's one budget runs
    out as without it. From the trusted address, a value not of the network's shape, or
    two, are refused naming the header, not counted against the network node's budget."""
    async with AsyncExitStack() as stack:
        peer, database = await _budgeted_peer(stack, network, pg_server_url, "org.test.peer",
                                              ["127.0.0.1"])
        spoofing = await _client_at(stack, "127.0.0.2", peer.url.removesuffix("/api"))
        statuses = []
        for number in range(NETWORK_BUDGET + 1):
            async with spoofing.get("/api/g_variants", params=COUNT_QUERY, headers={
                    NETWORK_CALLER_HEADER: f"{number:032x}"}) as response:
                statuses.append(response.status)
        assert statuses == [200] * NETWORK_BUDGET + [429]
        trusted = await _client_at(stack, "127.0.0.1", peer.url.removesuffix("/api"))
        for headers in ([(NETWORK_CALLER_HEADER, "127.0.0.2")],
                        [(NETWORK_CALLER_HEADER, "A" * 32)],
                        [(NETWORK_CALLER_HEADER, "0" * 33)],
                        [(NETWORK_CALLER_HEADER, "0" * 32), (NETWORK_CALLER_HEADER, "1" * 32)]):
            async with trusted.get("/api/g_variants", params=COUNT_QUERY,
                                   headers=CIMultiDict(headers)) as response:
                body = await response.json()
                assert response.status == 400, (headers, body)
                assert body["error"]["errorMessage"].startswith(f"{NETWORK_CALLER_HEADER}: ")
        async with trusted.get("/api/g_variants", params=COUNT_QUERY) as response:
            assert response.status == 200          # the network node's own budget, unspent
        callers = await _peer_trail(database, response.headers["X-Request-ID"])
    assert callers == [("address 127.0.0.1", "/api/g_variants")]


async def test_a_proxy_entry_that_is_no_address_is_no_fresh_budget_behind_a_trusted_proxy(
        network, pg_server_url):
    """Behind client_address_header, a last entry that is not an address counts against the
    proxy; where the proxy's address is trusted (a proxy on a network node's host), the
    header was then honoured, and every client behind it named itself a fresh budget with
    each question (a review: 23 of 23 answered on a budget of 20). Only an address read as
    such is trusted with the header; a proper entry still is."""
    async with AsyncExitStack() as stack:
        peer, database = await _budgeted_peer(stack, network, pg_server_url, "org.test.proxied",
                                              ["127.0.0.1"], "X-Forwarded-For")
        proxied = await _client_at(stack, "127.0.0.1", peer.url.removesuffix("/api"))
        statuses = []
        for number in range(NETWORK_BUDGET + 1):
            async with proxied.get("/api/g_variants", params=COUNT_QUERY, headers={
                    "X-Forwarded-For": "198.51.100.7:40000",
                    NETWORK_CALLER_HEADER: f"{number:032x}"}) as response:
                statuses.append(response.status)
        assert statuses == [200] * NETWORK_BUDGET + [429]
        async with proxied.get("/api/g_variants", params=COUNT_QUERY, headers={
                "X-Forwarded-For": "127.0.0.1", NETWORK_CALLER_HEADER: "a" * 32}) as response:
            assert response.status == 200
        callers = await _peer_trail(database, response.headers["X-Request-ID"])
    assert callers == [(f"network 127.0.0.1 {'a' * 32}", "/api/g_variants")]


async def test_peers_are_told_the_callers_pseudonym(network, check):
    """A peer asked anonymously gets the caller's pseudonym, the same for the same caller,
    another for another (a token's holder too, where its token is not forwarded); a peer
    given the token gets it too, beside the token (which for a bona fide researcher's it
    ignores: test_a_forwarded_token_without_bona_fide_status_is_the_callers_pseudonym)."""
    fakes = network.fakes
    peers = [fakes.peer("trusting", network.aai_url), fakes.peer("untrusting")]
    fakes.callers.clear()
    token = network.token("bob")
    async with network.aggregator(peers) as net:
        for asked in (None, None, token):
            await check(net, "/network/api/g_variants", params=QUERY, token=asked)
    anonymous, again, bob = fakes.callers["untrusting"]
    trusted, trusted_again, with_token = fakes.callers["trusting"]
    assert trusted == trusted_again and with_token not in (None, trusted)
    assert trusted != anonymous          # a pseudonym of its own at each peer
    assert anonymous == again and bob != anonymous
    assert all(re.fullmatch("[0-9a-f]{32}", p) for p in (anonymous, bob, trusted, with_token))


async def test_each_peer_is_told_a_pseudonym_of_its_own_for_one_caller(network, check):
    """Peers asked anonymously, a registry-listed one included, each get the caller's
    pseudonym at that peer: stable per peer (a peer's budgets still see one caller), and
    none the same as another's, so peers cannot link one caller's questions across each
    other. One pseudonym went to every peer, even to a node anybody may register with the
    catalogue (found by a review, 2026-12-05)."""
    fakes = network.fakes
    names = ("pseudo.a", "pseudo.b", "anyone.registered")
    fakes.nodes[:] = [{"id": "anyone.registered",
                       "beaconUrl": f"{fakes.url}/anyone.registered/api"}]
    fakes.callers.clear()
    try:
        async with network.aggregator([fakes.peer("pseudo.a"), fakes.peer("pseudo.b")],
                                      peers_from_catalogue=True,
                                      catalogue_url=fakes.url) as net:
            for _ in range(2):
                await check(net, "/network/api/g_variants", params=QUERY)
    finally:
        fakes.nodes.clear()
    told = {name: fakes.callers[name] for name in names}
    assert all(len(set(seen)) == 1 and re.fullmatch("[0-9a-f]{32}", seen[0])
               for seen in told.values()), told
    assert len({seen[0] for seen in told.values()}) == len(names), told


async def test_a_node_listed_under_another_id_is_told_the_same_pseudonym(network, check):
    """The registry lists whatever its credential holders register, under the ids they
    choose: keyed by the id a node is listed under, the node at one URL listed under a new
    id (first, the one asked) was told a new pseudonym of every caller of the network, at
    a trusting peer a fresh budget and fresh loss accounts for each id. Keyed by the URL,
    as a Beacon: the same caller is the same pseudonym there under any id."""
    fakes = network.fakes
    fakes.callers.clear()
    try:
        for listed_as in ("rotating.1", "rotating.2"):
            fakes.nodes[:] = [{"id": listed_as, "beaconUrl": f"{fakes.url}/rotating/api"}]
            fakes.hits.pop("catalogue", None)
            async with network.aggregator([fakes.peer("pseudo.a")], peers_from_catalogue=True,
                                          catalogue_url=fakes.url) as net:
                answer = await check(net, "/network/api/g_variants", params=QUERY)
            assert listed_as in _peer_lines(answer)
    finally:
        fakes.nodes.clear()
    first, again = fakes.callers["rotating"]
    assert re.fullmatch("[0-9a-f]{32}", first) and again == first
    assert fakes.callers["pseudo.a"][0] != first


async def test_info_and_map_are_cached_and_describe_the_network(network, check):
    fakes = network.fakes
    peers = [*network.peers(), fakes.peer("cached"), fakes.peer("fail"), fakes.peer("older")]
    async with network.aggregator(peers) as net:
        first = await check(net, "/network/api/info", schema=INFO_SCHEMA)
        again = await check(net, "/network/api/", schema=INFO_SCHEMA)
        beacon_map = await check(net, "/network/api/map", schema=MAP_SCHEMA)
        await check(net, "/network/api/map", schema=MAP_SCHEMA)
        await check(net, "/network/api/entry_types", schema=ENTRY_TYPES_SCHEMA)
    assert fakes.hits["cached/info"] == 1 and fakes.hits["cached/map"] == 1
    assert fakes.hits["fail/info"] == 2                # failures are asked again
    peers_info = {p["id"]: p for p in first["response"]["info"]["network"]["peers"]}
    assert peers_info["cached"]["name"] == "Peer cached"
    assert peers_info["org.test.fi"]["status"] == "ok" and peers_info["fail"]["status"] == "error"
    assert again["response"]["info"] == {**first["response"]["info"], "network": {
        "peers": again["response"]["info"]["network"]["peers"]}}
    root = beacon_map["response"]["endpointSets"]["genomicVariant"]["rootUrl"]
    assert root.endswith("/network/api/g_variants")
    map_lines = {p["id"]: p for p in beacon_map["info"]["network"]["peers"]}
    # the spec's id, and an older peer's genomicVariation is the same entry type
    for peer in ("org.test.se", "older"):
        assert map_lines[peer]["entryTypes"] == ["dataset", "genomicVariant", "individual"]


async def test_the_network_describes_itself_as_a_ga4gh_service(network, check):
    """A GDI portal or a service registry asks every Beacon-like service, an aggregator
    too, for its GA4GH service-info (the Beacon v2 framework's /service-info, which
    describes a Beacon for "clients ... or beacon aggregators"); the network had none
    below /network/api (404). Its own: an id of its own (a registry keys services by id,
    and the node's /api/service-info is another service at another URL), the type a
    Beacon's, and nothing of data it does not hold (no peer is asked, no dates of datasets
    as the node's service-info gives of its own)."""
    fakes = network.fakes
    async with network.aggregator([*network.peers(), fakes.peer("cached")]) as net:
        asked = dict(fakes.hits)
        described = await check(net, "/network/api/service-info", schema=SERVICE_INFO_SCHEMA)
        node = await check(net, "/api/service-info", schema=SERVICE_INFO_SCHEMA)
        assert dict(fakes.hits) == asked                    # no peer asked
    assert described["type"] == {"group": "org.ga4gh", "artifact": "beacon",
                                 "version": node["type"]["version"]}
    assert described["id"] == "org.test.net.network" != node["id"]
    assert described["organization"] == node["organization"]
    assert not {"createdAt", "updatedAt"} & described.keys()
    assert not [value for value in described.values() if isinstance(value, (int, float))]


async def test_a_peers_info_and_map_reach_its_line_only_as_printable_bounded_text(
        network, check):
    """What the network says of a peer's /info and /map is the peer's text: its name,
    organisation and apiVersion went on as sent, a line break, an ESC sequence or U+202E,
    and a megabyte, cached and sent in every /network/api/info for a minute; its
    welcomeUrl whatever it held (`javascript:`), and its entry types every key of its
    endpointSets. Now each text is printable escapes cut to 300 characters, as a peer's
    error message; a welcomeUrl only an http(s) URL; entry types only ids, at most 64."""
    async with network.aggregator([network.fakes.peer("loud")]) as net:
        info = await check(net, "/network/api/info", schema=INFO_SCHEMA)
        beacon_map = await check(net, "/network/api/map", schema=MAP_SCHEMA)
    [line] = info["response"]["info"]["network"]["peers"]
    assert line["name"] == "Peer\\n2026-12-05 INFO granted\\x1b[2K\\u202e" + "x" * (
        300 - len("Peer\n2026-12-05 INFO granted\x1b[2K\u202e"))
    assert (line["organization"], line["apiVersion"]) == ("Org\\r\\nX-Injected: 1",
                                                          "v2.0\\x00")
    assert "welcomeUrl" not in line
    [mapped] = beacon_map["info"]["network"]["peers"]
    assert len(mapped["entryTypes"]) == 64 and "dataset" in mapped["entryTypes"]
    assert all(re.fullmatch(r"\w+", kind) for kind in mapped["entryTypes"])


async def test_the_info_and_map_cache_keeps_only_what_the_network_says_of_a_peer(
        network, check):
    """The cache of the peers' /info and /map keeps the line the network gives each (its
    name, organisation, entry types), not the peer's answer: it kept each whole, parsed,
    for 60 s, and two peers' 16 MiB answers held 1.7 GB."""
    async with network.aggregator_app([network.fakes.peer("bigdoc")]) as (net, app):
        info_answer = await check(net, "/network/api/info", schema=INFO_SCHEMA)
        map_answer = await check(net, "/network/api/map", schema=MAP_SCHEMA)
        gc.collect()
        kept = repr(app[NETWORK]._documents)
    assert info_answer["response"]["info"]["network"]["peers"][0]["name"] == "Peer bigdoc"
    assert map_answer["info"]["network"]["peers"][0]["entryTypes"] == ["dataset"]
    assert "bigdoc/api" in kept and "x" * 1000 not in kept and len(kept) < 5000, len(kept)


async def test_the_info_cache_forgets_peers_the_registry_no_longer_lists(network, check,
                                                                          monkeypatch):
    """A peer the catalogue's registry has stopped listing has its /info and /map dropped
    from the cache: they were kept for good, one entry per URL the registry ever listed."""
    monkeypatch.setattr(network_module, "CATALOGUE_TTL_SECONDS", 0.0)   # read every time
    fakes = network.fakes
    fakes.nodes[:] = [{"id": name, "beaconUrl": f"{fakes.url}/{name}/api"}
                      for name in ("listed.1", "listed.2")]
    async with network.aggregator_app([], peers_from_catalogue=True,
                                      catalogue_url=fakes.url) as (net, app):
        first = await check(net, "/network/api/info", schema=INFO_SCHEMA)
        await check(net, "/network/api/map", schema=MAP_SCHEMA)
        kept = repr(app[NETWORK]._documents)
        del fakes.nodes[0]
        again = await check(net, "/network/api/info", schema=INFO_SCHEMA)
        kept_after = repr(app[NETWORK]._documents)
    assert "/listed.1/api" in kept and "/listed.2/api" in kept
    assert "/listed.1/api" not in kept_after and "/listed.2/api" in kept_after
    assert [p["id"] for p in first["response"]["info"]["network"]["peers"]] == [
        "listed.1", "listed.2"]
    assert [p["id"] for p in again["response"]["info"]["network"]["peers"]] == ["listed.2"]


async def test_peers_from_the_catalogue_get_no_token_unless_configured(network, check):
    """A listed node is asked anonymously unless configured under its id; one whose
    beaconUrl is no http(s) URL is not asked, and the others still are."""
    fakes = network.fakes
    fakes.nodes[:] = [{"id": "listed", "beaconUrl": f"{fakes.url}/listed/api", "country": "FI"},
                      {"id": "configured", "beaconUrl": f"{fakes.url}/elsewhere/api"},
                      {"id": "broken", "beaconUrl": "http://[::1/api"},
                      {"id": "bracketed", "beaconUrl": "http://[2001:db8::7]%zz:5050/api"}]
    fakes.authorization.clear()
    fakes.hits.pop("catalogue", None)
    token = network.token("bob")
    async with network.aggregator([fakes.peer("configured", network.aai_url)],
                                  peers_from_catalogue=True, catalogue_url=fakes.url) as net:
        first = await check(net, "/network/api/g_variants", params=QUERY, token=token)
        await check(net, "/network/api/g_variants", params=QUERY, token=token)
    assert set(_peer_lines(first)) == {"configured", "listed"}
    assert first["info"]["network"]["catalogue"] == {"status": "ok"}
    assert fakes.authorization["listed"] == [None, None]
    assert fakes.authorization["configured"] == [f"Bearer {token}"] * 2
    assert "elsewhere" not in fakes.authorization
    assert fakes.hits["catalogue"] == 1


@pytest.mark.parametrize(("url", "why"), [
    ("https://gdi:S3cret@fi.example/api", "user name or password"),
    ("https://fi.example/api?key=S3cret", "query or fragment"),
    ("https://fi.example/api#S3cret", "query or fragment"),
    ("https://fi.example/api?", "query or fragment"),
    # more than an address in the brackets, which the client's URLs refuse: every network
    # request was a 500 (found by a review, 2026-12-06)
    ("http://[2001:db8::7]%zz:5050/api", "not an absolute http(s) URL"),
    ("http://[2001:db8::7]x:5050/api", "not an absolute http(s) URL"),
    ("http://x[::1]:5050/api", "not an absolute http(s) URL")])
def test_a_peer_url_that_is_no_api_root_is_refused_when_the_configuration_is_read(url, why):
    """A peer's URL is the root every path of the API is added to: one holding a password
    was sent it on every request, logged with it, and made a 500 of each request whose token
    was forwarded to that peer (aiohttp will not send a URL's credentials and an
    Authorization header); one with a query or fragment had every path added inside it
    (`/api?key=1/g_variants?...`), so every question asked the peer's root. Refused, never
    quoting the value."""
    with pytest.raises(ValueError) as refused:
        Settings(peers=[{"id": "fi", "url": url}])
    message = configuration_error(refused.value)
    assert message.startswith("peers.0.url: ") and why in message, message
    assert "S3cret" not in message


def test_two_configured_peers_under_one_id_are_refused_when_the_configuration_is_read():
    """Every resultSet is tagged with its peer's id, and each peer has its line under it: of
    two peers configured under one id the network asked only the last, and the other had
    no line in any answer, as if it had never been configured. Refused, naming the id."""
    peers = [{"id": "fi", "url": "https://fi.example/api"},
             {"id": "se", "url": "https://se.example/api"},
             {"id": "fi", "url": "https://fi-2.example/api"}]
    with pytest.raises(ValueError) as refused:
        Settings(peers=peers)
    assert configuration_error(refused.value) == (
        "peers: two peers under one id, which tags each one's answers: 'fi'")


@pytest.mark.parametrize("second", ["https://fi.example/api/", "HTTPS://FI.Example/api",
                                    "https://fi.example:443/api", "https://FI.example:443/api/",
                                    "https://fi.example/%61pi", "https://fi.example/a%70%69",
                                    "https://fi.example/./api", "https://fi.example/x/../api",
                                    "https://fi.example/api/%2e", "https://fi.example./api"])
def test_two_configured_peers_at_one_url_are_refused_when_the_configuration_is_read(second):
    """One Beacon configured under two ids was asked twice: its datasets came twice and its
    count was added twice to the network's total. Refused naming both ids, however the URL
    was written (a trailing slash, the scheme's and host's case, the scheme's default port
    written out, a letter of the path percent-encoded, a dot segment, the host's trailing
    dot); a path differing in case, or another port, is another URL."""
    peers = [{"id": "fi", "url": "https://fi.example/api"},
             {"id": "se", "url": "https://se.example/api"},
             {"id": "fi-again", "url": second}]
    with pytest.raises(ValueError) as refused:
        Settings(peers=peers)
    assert configuration_error(refused.value) == (
        "peers: peers 'fi' and 'fi-again' are at one URL: the one Beacon would be asked "
        "twice and counted twice")
    apart = Settings(peers=[*peers[:2], {"id": "fi-2", "url": "https://fi.example/API"},
                            {"id": "fi-3", "url": "https://fi.example:8443/api"},
                            {"id": "fi-4", "url": "http://fi.example:443/api"}])
    assert [p.id for p in apart.peers] == ["fi", "se", "fi-2", "fi-3", "fi-4"]


def test_a_peers_token_issuer_that_is_not_trusted_is_refused_when_the_configuration_is_read():
    """A token is passed on only when its verified issuer is in the peer's
    `forward_tokens_from`: an issuer there that this node does not trust for access tokens
    (here a trailing slash, and one trusted for visas alone) never verifies, so that peer
    silently answered every researcher as anonymous. Refused, naming the peer and
    the issuers by position, never quoting a value."""
    trusted = [{"issuer": "https://aai.example/oidc", "jwks_uri": "https://aai.example/jwk"},
               {"issuer": "https://visas.example", "jwks_uri": "https://visas.example/jwk",
                "access_tokens": False, "visas": True}]
    peers = [{"id": "fi", "url": "https://fi.example/api",
              "forward_tokens_from": ["https://aai.example/oidc"]},
             {"id": "se", "url": "https://se.example/api",
              "forward_tokens_from": ["https://aai.example/oidc/", "https://visas.example"]}]
    with pytest.raises(ValueError) as refused:
        Settings(peers=peers, trusted_issuers=trusted)
    assert configuration_error(refused.value) == (
        "settings: peers[1].forward_tokens_from[0], [1]: not an issuer trusted for access "
        "tokens here (trusted_issuers, exact `iss` values), whose tokens would never be "
        "passed on")
    assert Settings(peers=peers[:1], trusted_issuers=trusted).peers[0].forward_tokens_from


def test_peers_from_a_catalogue_without_its_url_are_refused_when_the_configuration_is_read():
    """`peers_from_catalogue` without `catalogue_url` asked no registry and said nothing: a
    network meant to ask every registered node asked only its configured peers (with none,
    it answered every question `exists: false`), and its answers carried no registry
    status to show why. Refused, naming the setting it needs."""
    with pytest.raises(ValueError) as refused:
        Settings(peers_from_catalogue=True)
    assert configuration_error(refused.value) == (
        "settings: peers_from_catalogue needs catalogue_url, the catalogue whose registry "
        "lists the peers")
    assert Settings(peers_from_catalogue=True,
                    catalogue_url="https://catalogue.example").peers_from_catalogue


async def test_a_registry_peer_whose_url_holds_a_password_is_not_asked(network, check, caplog):
    """As a configured peer's URL holding one is refused, a listed node's is left out (a
    warning names it and why, not the password), and the others are asked."""
    fakes = network.fakes
    fakes.nodes[:] = [{"id": "cred", "beaconUrl": fakes.url.replace(
                          "http://", "http://gdi:S3cret@") + "/cred/api"},
                      {"id": "listed", "beaconUrl": f"{fakes.url}/listed/api"}]
    fakes.authorization.clear()
    fakes.hits.pop("catalogue", None)
    async with network.aggregator([], peers_from_catalogue=True, catalogue_url=fakes.url) as net:
        answer = await check(net, "/network/api/g_variants", params=QUERY)
    assert set(_peer_lines(answer)) == {"listed"}
    assert "cred" not in fakes.authorization
    warned = [r.getMessage() for r in caplog.records if "node cred at" in r.getMessage()]
    assert len(warned) == 1 and "no user name or password" in warned[0], warned
    assert "S3cret" not in caplog.text


async def _listed_twice(network: Network, check, caplog, fi_root: str, listed: str,
                        listed_again: str) -> tuple[dict, list[str]]:
    """The network's answer when the registry lists org.test.fi again at `fi_root` and
    one node twice (at `listed`, `listed_again`), and the warnings naming who was not
    asked again: each as the one Beacon it is, asked once, whatever spelling of its URL."""
    network.fakes.nodes[:] = [{"id": "org.registry.fi", "beaconUrl": f"{fi_root}/api"},
                              {"id": "listed", "beaconUrl": listed},
                              {"id": "listed.again", "beaconUrl": listed_again}]
    network.fakes.hits.pop("catalogue", None)
    async with network.aggregator(network.peers(), peers_from_catalogue=True,
                                  catalogue_url=network.fakes.url) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    assert set(_peer_lines(merged)) == {*NODES, "listed"}
    assert merged["responseSummary"]["numTotalResults"] == 4 + 5 + 6
    warned = [r.getMessage() for r in caplog.records if "not asked again" in r.getMessage()]
    assert [w.split(" at ")[0] for w in warned] == [
        "catalogue registry lists node org.registry.fi",
        "catalogue registry lists node listed.again"], warned
    return merged, warned


async def test_a_registry_node_at_a_url_already_asked_is_not_asked_again(network, check,
                                                                          caplog):
    """A node the registry lists under an id of its own at a configured peer's URL (the
    operator configured it under another id, to forward tokens to it), or at the URL of a
    node listed before it, is the same Beacon: asked again, its datasets came twice and its
    count was added twice to the network's total. The configured peer (or the first listed)
    is asked, once."""
    url = network.fakes.url
    merged, warned = await _listed_twice(network, check, caplog, network.node_urls[
        "org.test.fi"], f"{url}/listed/api", f"{url}/listed/api/")
    assert "where org.test.fi is asked" in warned[0] and "where listed is asked" in warned[1]
    assert sorted(s["id"] for s in merged["response"]["resultSets"]
                  if s["beaconId"] != "listed") == sorted(d for sets in NODES.values()
                                                          for d in sets)


async def test_a_registry_node_at_a_url_cased_otherwise_is_not_asked_again(network, check,
                                                                            caplog):
    """Whether two URLs name one Beacon is decided as the settings decide it for two
    configured peers (node/urls.py `beacon_key`): the registry listing a configured peer's
    URL with its scheme or host cased otherwise, or a node listed before it so, was asked
    again, its datasets twice in the answer and its count twice in the total."""
    url = network.fakes.url
    await _listed_twice(network, check, caplog, network.node_urls["org.test.fi"].upper(),
                        f"{url}/listed/api", f"{url.replace('http:', 'HTTP:')}/listed/api/")


async def test_a_registry_node_at_a_url_spelt_otherwise_is_not_asked_again(network, check,
                                                                           caplog):
    """A URL's path with a letter percent-encoded (`/%61pi`) or a dot segment in it names
    the same Beacon (RFC 3986 6.2.2.2, 6.2.2.3; a node routes `/%61pi/info` as
    `/api/info`). Compared as written, a node the registry listed so beside itself was
    asked again, its count twice in the network's total, and under another id: it was told
    another pseudonym of each caller, a second budget and a second set of loss accounts
    for every caller of the network, one more for each spelling a registrant listed."""
    url = network.fakes.url
    await _listed_twice(network, check, caplog, network.node_urls["org.test.fi"] + "/x/..",
                        f"{url}/listed/api", f"{url}/listed/%61pi")


async def test_in_production_a_registry_peer_over_plain_http_is_not_asked(network, check):
    """A listed node at a plain http URL would be sent the caller's pseudonym and purpose in
    the clear: in production it is left out, as a configured one is refused at start; an
    https one is still listed (asked, and here unreachable)."""
    fakes = network.fakes
    fakes.nodes[:] = [{"id": "plain", "beaconUrl": f"{fakes.url}/listed/api"},
                      {"id": "secured", "beaconUrl": "https://127.0.0.1:9/api"}]
    fakes.hits.pop("catalogue", None)
    configured = network.peers()[:1]          # a peer that answers: the network is up
    for environment, asked in (("dev", {"plain", "secured"}), ("prod", {"secured"})):
        async with network.aggregator(configured, peers_from_catalogue=True,
                                      catalogue_url=fakes.url, environment=environment) as net:
            answer = await check(net, "/network/api/g_variants", params=QUERY)
        assert set(_peer_lines(answer)) == asked | {configured[0].id}, environment


async def test_a_registry_answer_too_large_is_refused_unread(network, check):
    """The catalogue's node list is read up to MAX_REGISTRY_BODY (4 MB), as every other
    document the node fetches; before, it was read whole, however large."""
    fakes = network.fakes
    fakes.nodes[:] = [{"id": "listed", "beaconUrl": f"{fakes.url}/listed/api",
                       "description": "x" * MAX_REGISTRY_BODY}]
    async with network.aggregator(network.peers(), peers_from_catalogue=True,
                                  catalogue_url=fakes.url) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    catalogue = merged["info"]["network"]["catalogue"]
    assert catalogue == {"status": "error", "stalePeers": 0, "detail": (
        f"ValueError: answer larger than {MAX_REGISTRY_BODY} bytes")}
    assert set(_peer_lines(merged)) == set(NODES)


async def test_a_registry_that_redirects_is_reported_as_redirected(network, check):
    """The registry's redirect is not followed (the catalogue's URL is the one configured),
    and said so, naming where it led: its body was read as the node list, and the status
    read `ValidationError: ... Invalid JSON ... 302: Found`, a malformed registry where the
    operator had configured a URL that moved (http to https)."""
    fakes = network.fakes
    fakes.nodes[:] = [{"id": "listed", "beaconUrl": f"{fakes.url}/listed/api"}]
    fakes.hits.pop("catalogue", None)
    async with network.aggregator(network.peers(), peers_from_catalogue=True,
                                  catalogue_url=f"{fakes.url}/moved") as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    assert merged["info"]["network"]["catalogue"] == {
        "status": "error", "stalePeers": 0, "detail": (
            "ValueError: redirected (302) to '/api/nodes', not followed: configure the URL "
            "it leads to")}
    assert set(_peer_lines(merged)) == set(NODES) and "catalogue" not in fakes.hits


async def test_a_registry_that_freezes_does_not_hold_the_networks_answers(network, check,
                                                                          monkeypatch):
    """Once the registry's list is read, a request that finds it out of date waits for it to
    be read again only a moment, then is answered from the list read before, the read
    going on: each such request waited for the frozen registry for a whole peer timeout
    before its own fan-out, 6 s with the defaults, where the GDI portal gives a node 5 s
    (docs/federation.md). Here the peer timeout is 60 s, so an answer that waited for the
    read would come long after the registry's second read is known to be held."""
    monkeypatch.setattr(network_module, "CATALOGUE_TTL_SECONDS", 0.0)   # read every time
    fakes = network.fakes
    fakes.nodes[:] = [{"id": "listed", "beaconUrl": f"{fakes.url}/listed/api"}]
    fakes.hits.pop("freezing", None)
    async with network.aggregator([], peers_from_catalogue=True, peer_timeout_seconds=60,
                                  network_deadline_seconds=60,
                                  catalogue_url=f"{fakes.url}/freezing") as net:
        first = await check(net, "/network/api/g_variants", params=QUERY)
        held = asyncio.create_task(check(net, "/network/api/g_variants", params=QUERY))
        done, _ = await asyncio.wait([held], timeout=30)
        assert done, "the network's answer waited for the frozen registry"
        second = held.result()
        assert fakes.hits["freezing"] == 2 and not fakes.release.is_set()   # still held
    assert set(_peer_lines(first)) == set(_peer_lines(second)) == {"listed"}
    assert second["info"]["network"]["catalogue"] == {"status": "ok"}


async def test_an_unreachable_catalogue_is_reported_and_configured_peers_answer(network, check):
    async with network.aggregator(network.peers(), peers_from_catalogue=True,
                                  catalogue_url=f"http://127.0.0.1:{free_port()}") as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    catalogue = merged["info"]["network"]["catalogue"]
    assert catalogue["status"] == "error" and catalogue["stalePeers"] == 0
    assert {s["beaconId"] for s in merged["response"]["resultSets"]} == set(NODES)


async def test_a_node_without_peers_answers_an_empty_network(network, check):
    async with network.aggregator([]) as net:
        merged = await check(net, "/network/api/g_variants", params=QUERY)
    assert merged["responseSummary"] == {"exists": False}
    assert merged["info"]["network"]["peers"] == []
    async with network.aggregator([]) as net:
        # no peer said "not here": no 404, which all() of no outcomes was
        dataset = await check(net, "/network/api/datasets/GDI-FI-SYN-001",
                              schema=COLLECTIONS_SCHEMA)
        scoped = await check(net, "/network/api/datasets/GDI-FI-SYN-001/g_variants",
                             params=QUERY)
    for document in (dataset, scoped):
        assert document["responseSummary"]["exists"] is False
        assert document["info"]["network"]["peers"] == []


async def test_a_network_none_of_whose_peers_could_answer_is_an_outage(network, check):
    """Every peer down (no connection, timed out, HTTP 5xx, no Beacon answer): each query
    route answers 503 with Retry-After naming each peer and what became of it, and audits
    the peers it asked. It answered 200 `exists: false`, "nowhere" of what no peer could
    look for, which a researcher (and the GDI portal) read as "no dataset holds it". A peer
    that refused the question itself (HTTP 4xx, a Beacon error sent with 200) is up: the
    network answers 200 with its line, as before."""
    fakes = network.fakes
    down = [Peer(id="gone", url=f"http://127.0.0.1:{free_port()}/api"),
            fakes.peer("slow"), fakes.peer("fail"), fakes.peer("notbeacon")]
    paths = ["/network/api/g_variants", "/network/api/individuals", "/network/api/datasets",
             "/network/api/datasets/GDI-FI-SYN-001", "/network/api/filtering_terms",
             "/network/api/datasets/GDI-FI-SYN-001/g_variants",
             "/network/api/g_variants/GRCh38:1:100:A:G"]
    message = ("no peer of the network could answer: gone (error), slow (timeout), "
               "fail (error), notbeacon (invalid); retry later")
    async with network.aggregator(down, peer_timeout_seconds=0.3,
                                  network_deadline_seconds=1.0) as net:
        for path in paths:
            body = await check(net, path, status=503,
                               params=COUNT_QUERY if path.endswith("g_variants") else None)
            assert body["error"]["errorMessage"] == message, path
        async with net.get(paths[0], params=COUNT_QUERY) as response:
            assert response.status == 503 and int(response.headers["Retry-After"]) > 0
            request_id = response.headers["X-Request-ID"]
        info = await check(net, "/network/api/info", schema=INFO_SCHEMA)   # still described
    assert set(_peer_lines(info["response"])) == {"gone", "slow", "fail", "notbeacon"}
    asked = await network.pool.fetchval("SELECT datasets FROM audit_trail WHERE request_id = $1",
                                        request_id)
    assert set(json.loads(asked)) == {"gone", "slow", "fail", "notbeacon"}
    # one peer refusing the question (a 4xx or a Beacon error) is a network that is up
    async with network.aggregator([*down[:1], fakes.peer("fail200")]) as net:
        merged = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
    assert _peer_lines(merged)["fail200"]["status"] == "error"
    assert merged["responseSummary"]["exists"] is False


async def test_individuals_are_federated_as_the_peers_answer_them(network, check):
    """The network's individuals answer is the peers' own, tagged; the filters and the
    variant condition reach each peer as sent, and the purpose header travels with them."""
    body = {"meta": {}, "query": {"requestedGranularity": "count",
                                  "includeResultsetResponses": "ALL",
                                  "filters": [{"id": "NCIT:C17998", "scope": "individual"}],
                                  "requestParameters": {"referenceName": "1", "start": "99",
                                                        "alternateBases": "G"}}}
    token = network.token("bob")
    async with network.aggregator(network.peers(network.aai_url)) as net:
        merged = await check(net, "/network/api/individuals", body=body, token=token)
    direct = {beacon_id: await check(client, "/api/individuals", body=body, token=token)
              for beacon_id, client in network.nodes.items()}
    expected, got = _result_sets(direct, merged)
    assert got == expected and {b for b, _ in got} == set(NODES)
    # each VCF's first sample carries the variant at POS 100: one individual per dataset
    assert {s["resultsCount"] for s in got.values()
            if s["info"]["returnedGranularity"] == "count"} == {1}
    assert merged["meta"]["returnedSchemas"] == [
        {"entityType": "individual", "schema": "ga4gh-beacon-individual-v2.0.0"}]
    assert merged["meta"]["receivedRequestSummary"]["filters"] == ["NCIT:C17998"]


# Two more real peers whose individuals hold different terms, some the same (their sex,
# the ontologies' roots): (subject, sex, phenotypic feature or disease) by peer id
TERM_PEERS = {"org.test.terms.a": [("S1", "FEMALE", "HP:0001250"), ("S2", "MALE", "ICD10:C18.2")],
              "org.test.terms.b": [("S1", "FEMALE", "HP:0002315"),
                                   ("S2", "FEMALE", "MONDO:0100096")]}


def _term_packet(subject: str, sex: str, term: str) -> dict[str, Any]:
    held = ({"phenotypicFeatures": [{"type": {"id": term}}]} if term.startswith("HP:")
            else {"diseases": [{"term": {"id": term}}]})
    return {"id": f"{subject}-pp", "subject": {"id": subject, "sex": sex}, **held,
            "metaData": {"created": "2026-11-30T00:00:00Z", "createdBy": "tests",
                         "phenopacketSchemaVersion": "2.0"}}


@pytest.fixture(scope="module")
async def term_peers(network: Network, pg_server_url: str) -> AsyncIterator[list[Peer]]:
    async with AsyncExitStack() as stack:
        peers = []
        for beacon_id, people in TERM_PEERS.items():
            db = await stack.enter_async_context(node_database(pg_server_url))
            packets = network.directory / f"{beacon_id}.json"
            packets.write_text(json.dumps([_term_packet(*person) for person in people]))
            vcf = write_vcf_text(network.directory / f"{beacon_id}.vcf", _vcf(1))
            await ingest(db, IngestRequest(vcf, "GDI-XX-TERMS-001", GRCH38, AccessLevel.PUBLIC, "T",
                                           workers=1, individuals=packets))
            settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=db,
                                data_dir=network.directory, beacon_id=beacon_id)
            pool = await create_pool(db, settings)
            stack.push_async_callback(pool.close)
            peers.append(Peer(id=beacon_id,
                              url=f"{await serve_app(stack, create_app(settings, pool))}/api"))
        yield peers


async def test_the_networks_terms_are_paged_as_one_merged_list(network, check, term_peers):
    """Page k of the network's terms is page k of the peers' whole lists merged (each term
    once, in id order as a node lists its own), not the peers' k-th pages put together;
    `limit` above the most a node returns is answered as a node answers it."""
    schema = "framework/json/responses/beaconFilteringTermsResponse.json"
    wholes = []
    for peer in term_peers:
        async with ClientSession() as client:
            wholes.append(await check(client, f"{peer.url}/filtering_terms", schema=schema))
    offered: dict[str, list[str]] = {}
    for peer, whole in zip(term_peers, wholes):
        for term in whole["response"]["filteringTerms"]:
            offered.setdefault(term["id"], []).append(peer.id)
    merged = sorted(offered)
    own = [{t["id"] for t in w["response"]["filteringTerms"]} for w in wholes]
    assert own[0] - own[1] and own[1] - own[0] and own[0] & own[1]   # the lists differ
    size = 2
    assert len(merged) > 2 * size
    async with network.aggregator(term_peers) as net:
        for skip in range(len(merged) // size + 2):
            params = {"skip": str(skip), "limit": str(size)}
            got = await check(net, "/network/api/filtering_terms", params=params, schema=schema)
            posted = await check(net, "/network/api/filtering_terms", schema=schema, body={
                "meta": {}, "query": {"pagination": {"skip": skip, "limit": size}}})
            page = merged[skip * size:(skip + 1) * size]
            for document in (got, posted):
                terms = document["response"]["filteringTerms"]
                assert [t["id"] for t in terms] == page, skip
                assert all(t["beaconIds"] == offered[t["id"]] for t in terms)
                assert {r["nameSpacePrefix"] for r in document["response"]["resources"]} == {
                    t.split(":")[0] for t in page}
                assert "pagination" not in document["info"]
        everything = await check(net, "/network/api/filtering_terms", schema=schema)
        assert [t["id"] for t in everything["response"]["filteringTerms"]] == merged
        above = await check(net, "/network/api/filtering_terms", params={"limit": "5000"},
                            schema=schema)
        assert [t["id"] for t in above["response"]["filteringTerms"]] == merged
        assert above["info"]["pagination"]["limit"] == 1000
        refused = await check(net, "/network/api/filtering_terms", params={"skip": "-1"},
                              status=400)
        assert "skip" in refused["error"]["errorMessage"]


async def test_each_network_terms_page_names_the_resource_of_each_term_letter_case_aside(
        network, check, pg_server_url):
    """A node lists one resource per prefix letter case aside (a custom vocabulary's terms
    are held as written: `Lab.Group:a` and `lab.group:b` are two vocabularies' terms, one
    resource `lab.group`), named by the first spelling. The network kept a peer's resource
    on a page only where its `nameSpacePrefix` was a listed term's prefix letter for
    letter: the page of `lab.group:b` alone listed no resource, so the GDI portal (which
    offers a term only under the resource of its prefix in lower case) offered it nowhere."""
    schema = "framework/json/responses/beaconFilteringTermsResponse.json"
    people = [("S1", "FEMALE", "Lab.Group:a"), ("S2", "MALE", "lab.group:b")]
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(node_database(pg_server_url))
        packets = network.directory / "cased.json"
        packets.write_text(json.dumps([_term_packet(*person) for person in people]))
        vcf = write_vcf_text(network.directory / "cased.vcf", _vcf(1))
        await ingest(db, IngestRequest(vcf, "GDI-XX-CASED-001", GRCH38, AccessLevel.PUBLIC, "T",
                                       workers=1, individuals=packets))
        settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=db,
                            data_dir=network.directory, beacon_id="org.test.cased")
        pool = await create_pool(db, settings)
        stack.push_async_callback(pool.close)
        peer = Peer(id="org.test.cased",
                    url=f"{await serve_app(stack, create_app(settings, pool))}/api")
        async with network.aggregator([peer]) as net:
            whole = await check(net, "/network/api/filtering_terms", schema=schema)
            ids = [t["id"] for t in whole["response"]["filteringTerms"]]
            assert {"Lab.Group:a", "lab.group:b"} <= set(ids), ids
            for skip in range(len(ids)):
                page = await check(net, "/network/api/filtering_terms", schema=schema,
                                   params={"skip": str(skip), "limit": "1"})
                [term] = page["response"]["filteringTerms"]
                assert [r["id"] for r in page["response"]["resources"]] == [
                    term["id"].split(":")[0].lower()], page


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types throughout (7 == 7.0 == True would not tell)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _as_held(raw: Any, held: Any) -> Any:
    """`raw` read where the model holds `held` (a key it left out reads as None)."""
    if isinstance(held, dict):
        return {k: _as_held(raw.get(k) if isinstance(raw, dict) else raw, v)
                for k, v in held.items()}
    if isinstance(held, list):
        return [_as_held(r, h) for r, h in zip(raw, held)] if len(raw) == len(held) else raw
    return raw


def _mutated_answers() -> Any:
    """(place, value, raw): a peer's count answer with `value` put at `place` (`...`: the
    key taken out), at every place the network checks, with and without a handover."""
    handover = {"handoverType": {"id": "EDAM:3016", "label": "VCF"}, "url": "https://x.org/v"}

    def answer(handovers: bool) -> dict[str, Any]:
        result_set = {"id": "d", "setType": "dataset", "exists": True, "resultsCount": 7,
                      "results": [{"a": 1}], "info": {"returnedGranularity": "count"}}
        return copy.deepcopy({
            "meta": {"beaconId": "org.x", "returnedGranularity": "count", "more": 1},
            "responseSummary": {"exists": True, "numTotalResults": 7},
            "response": {"resultSets": [{**result_set, "resultsHandovers": [handover]}
                                        if handovers else result_set]}})
    places = [("meta",), ("meta", "beaconId"), ("meta", "returnedGranularity"),
              ("responseSummary",), ("responseSummary", "exists"),
              ("responseSummary", "numTotalResults"), ("response",),
              ("response", "resultSets"), ("response", "resultSets", 0)] + [
        ("response", "resultSets", 0, key)
        for key in ("id", "setType", "exists", "resultsCount", "results", "info",
                    "resultsHandovers")] + [
        ("response", "resultSets", 0, "results", 0)]
    in_handover = [("response", "resultSets", 0, "resultsHandovers", 0, key)
                   for key in ("handoverType", "url", "note")] + [
        ("response", "resultSets", 0, "resultsHandovers", 0, "handoverType", key)
        for key in ("id", "label")]
    values = [..., None, "x", "record", "true", 1, 0, -1, 7.0, 7.5, True, [], [{}], {},
              "EDAM:3016", [handover], 2**53 - 1, 2**53, 2**64 - 1]
    for handovers, where in ((False, places), (True, places + in_handover)):
        for place in where:
            for value in values:
                raw = answer(handovers)
                parent = raw
                for step in place[:-1]:
                    parent = parent[step]
                if value is ...:
                    if isinstance(parent, dict):
                        parent.pop(place[-1], None)
                    else:
                        del parent[place[-1]]
                else:
                    parent[place[-1]] = copy.deepcopy(value)
                yield place, value, raw


def test_a_peer_answer_is_checked_as_the_model_checks_it():
    """VariantAnswer.checked reads an answer from the peer's JSON only when the model would
    hold the same values; it accepts, converts and refuses exactly as the model does. A
    resultSet's `info` and `resultsHandovers`, which pass on as the peer sent them, are
    refused by both where the Beacon schema would not take them."""
    from pydantic import ValidationError

    from node.federation.network import VariantAnswer

    refused_by_schema = 0
    for place, value, raw in _mutated_answers():
        try:
            held = VariantAnswer.model_validate(raw).model_dump()
        except ValidationError as exc:
            with pytest.raises(ValidationError) as refused:
                VariantAnswer.checked(raw)
            assert refused.value.errors() == exc.errors(), (place, value)
            refused_by_schema += "info" in place or "resultsHandovers" in place
            continue
        checked = VariantAnswer.checked(raw)
        assert _same(_as_held(checked, held), held), (place, value)
        # never in the model's dump: merge.py passes the peer's own on
        for held_set in (held["response"] or {}).get("resultSets", []):
            assert not held_set.keys() & {"info", "resultsHandovers"}
    assert refused_by_schema > 100       # of 119 with `info` or a handover's field wrong


# Integers past 64 bits in a record: orjson reads the first three as doubles, and refuses
# the last (no double holds it) as not JSON; msgspec, reading an answer at once, keeps each
# exact, which the network's JSON writer refuses.
HUGE_INTEGERS = (10**25, -(10**25), 2**64, 10**400)


def test_an_answer_read_at_once_holding_a_huge_integer_ends_as_read_whole(
        monkeypatch: pytest.MonkeyPatch):
    """An answer read at once (network._variant_answer) holding an integer past 64 bits
    could not be written, and its peer was made `invalid` as "nested deeper than ...", its
    answer read whole was `ok` (the integer a double, 1e+25), or `invalid` as not JSON.
    Now, when the network's answer cannot be written (network.without_unwritable), each
    path ends alike: the same status and detail, the same answer, and one that is
    written."""
    from node.federation import network
    from node.federation.network import (
        PeerOutcome,
        VariantAnswer,
        _judged,
        without_unwritable,
    )

    peer = Peer(id="org.x", url="http://127.0.0.1:9/api")

    def ended(body: bytes, whole: bool) -> PeerOutcome:
        with monkeypatch.context() as patch:
            if whole:
                patch.setattr(network, "_variant_answer", lambda body: None)
            status, detail, checked, raw = _judged(body, 200, VariantAnswer, False)
        [outcome] = without_unwritable([PeerOutcome(peer, status, 1.0, detail, checked, raw)])
        return outcome

    for huge in HUGE_INTEGERS:
        answer = _record_answer("org.x")
        answer["response"]["resultSets"][0]["results"][0]["huge"] = huge
        body = json.dumps(answer).encode()
        assert network._variant_answer(body) is not None        # the fast path reads it
        fast, whole = ended(body, whole=False), ended(body, whole=True)
        assert (fast.status, fast.detail) == (whole.status, whole.detail), huge
        assert (fast.status, fast.detail) == (("invalid", "answer is not JSON")
                                              if huge == 10**400 else ("ok", "")), huge
        if fast.status == "ok":
            # meta is read past, in part; read into types (network.PeerAnswer), the
            # resultSet's members come in their order, the same as JSON values
            for part in ("responseSummary", "response"):
                assert fast.raw[part] == whole.raw[part]
            assert fast.answer is fast.raw
            assert fast.raw["response"]["resultSets"][0]["results"][0]["huge"] == float(huge)


def test_a_peer_answer_read_at_once_is_judged_as_read_whole(monkeypatch: pytest.MonkeyPatch):
    """A peer's answer read at once (network._variant_answer: `meta` read past but for the
    two fields the merge reads) is judged exactly as when read whole by orjson and checked:
    the same status and detail, and where ok, the same fields. It is taken for every answer
    VariantAnswer.checked takes as it is, so the fast path is the path of a node's answers;
    and answers that are not UTF-8, or whose skipped part is not JSON, are still refused."""
    from node.federation import network
    from node.federation.network import VariantAnswer, _judged

    def judged_whole(body: bytes) -> tuple[Any, ...]:
        with monkeypatch.context() as patch:
            patch.setattr(network, "_variant_answer", lambda body: None)
            return _judged(body, 200, VariantAnswer, False)

    def reads(status: str, checked: Any) -> Any:
        if status != "ok":
            return None
        if isinstance(checked, network.PeerAnswer):         # read into types: its fields
            checked = msgspec.to_builtins(checked)
        meta = checked["meta"]
        return {**checked, "meta": {"beaconId": meta["beaconId"],
                                    "returnedGranularity": meta["returnedGranularity"]}}

    fast = 0
    for place, value, raw in _mutated_answers():
        body = json.dumps(raw).encode()
        status, detail, checked, _ = _judged(body, 200, VariantAnswer, False)
        whole = judged_whole(body)
        assert (status, detail) == whole[:2], (place, value)
        assert _same(reads(status, checked), reads(*whole[::2])), (place, value)
        if type(raw) is dict and network._fits_variant_answer(raw):
            assert network._variant_answer(body) is not None, (place, value)
            fast += 1
    assert fast > 30
    good = json.dumps({"meta": {"beaconId": "org.x", "returnedGranularity": "count", "more": 1},
                       "responseSummary": {"exists": True}})
    assert _judged(good.encode(), 200, VariantAnswer, False)[0] == "ok"
    for body in (good.replace('"more": 1', '"more": "\\ud800"').encode(),
                 good.replace('"more": 1', '"more": [1,]').encode(),
                 good.replace('"more": 1', '"more": "\xff"').encode("latin-1"),
                 good.replace('"more": 1', '"more": ' + "[" * 2000 + "]" * 2000).encode()):
        assert judged_whole(body)[0] == "invalid"
        assert _judged(body, 200, VariantAnswer, False)[:2] == judged_whole(body)[:2]


def _node_answers(granularity: str) -> list[dict[str, Any]]:
    """Three peers' answers at `granularity` as a node writes them (beacon/answer.py
    envelope, its resultSets' fields in its order): a hit, a miss with its allele number, a
    rounded count with its adjustment."""
    from beacon.answer import envelope
    from beacon.request import query_from_get

    query = query_from_get([("referenceName", "1"), ("start", "5"), ("alternateBases", "A"),
                            ("requestedGranularity", granularity)])
    counted = granularity != "boolean"
    records = ([{"variantInternalId": "v1", "n": [1, {"a": None}]}] if granularity == "record"
               else [])
    precisions = [{"countPrecision": "exact"}, {"countPrecision": "exact"},
                  {"countPrecision": "rounded", "countAdjustedTo": ["ten"]}]
    answers = []
    for n, (hits, precision) in enumerate(zip((3, 0, 10), precisions)):
        beacon_id = f"org.n{n}"
        about: dict[str, Any] = {"returnedGranularity": granularity}
        if not hits:
            about["alleleNumber"] = 812
        shown = {"id": f"D{n}", "setType": "dataset", "exists": hits > 0, "beaconId": beacon_id,
                 "resultsCount": hits if counted else 0}
        if counted:
            shown.update(precision)
        shown["results"] = records if hits else []
        shown["info"] = about
        answers.append(envelope(beacon_id, query, granularity, hits > 0, hits if counted else 0,
                                [shown], precision if counted else {}))
    return answers


def _network_written(bodies: list[bytes], granularity: str, typed: bool,
                     monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], bytes]:
    """The peers' answers (`bodies`) judged, and the network's answer written, as the
    network does (node/http/network_api.py): read into types where an answer is of a node's
    shape, or (`typed` False) each as before, into dicts."""
    from beacon.request import query_from_get
    from node.federation.merge import merge_variants
    from node.federation.network import PeerList, PeerOutcome, VariantAnswer, _judged
    from node.http.network_api import _told, _written

    query = query_from_get([("referenceName", "1"), ("start", "5"), ("alternateBases", "A"),
                            ("requestedGranularity", granularity)])
    peers = [Peer(id=f"org.n{n}", url=f"http://127.0.0.1:{9000 + n}/api")
             for n in range(len(bodies))]
    with monkeypatch.context() as patch:
        if not typed:       # a decoder nothing is of: every answer read as before
            patch.setattr(network_module, "_TYPED", msgspec.json.Decoder(int))
        judged = [_judged(body, 200, VariantAnswer, False) for body in bodies]
    outcomes = [PeerOutcome(peer, status, 1.5, detail, checked, raw)
                for peer, (status, detail, checked, raw) in zip(peers, judged)]
    body, written = _written(lambda taken: merge_variants("org.net", query, taken,
                                                          PeerList(peers)), outcomes)
    told = list(_told(body["info"]["network"]["peers"]).values())
    return [(status, detail, type(checked).__name__) for status, detail, checked, _ in judged
            ] + told, written


def test_a_node_answer_read_into_types_is_merged_as_before(monkeypatch: pytest.MonkeyPatch):
    """A node's answers are read straight into types (network.PeerAnswer), and the network
    answers them byte for byte as when they were read into dicts, with the same audit
    lines; at every granularity asked, and whatever the peers' own."""
    for asked in ("boolean", "count", "record"):
        for given in ("boolean", "count", "record"):
            bodies = [orjson.dumps(a) for a in _node_answers(given)]
            typed, written = _network_written(bodies, asked, True, monkeypatch)
            before, written_before = _network_written(bodies, asked, False, monkeypatch)
            assert [kind for _, _, kind in typed[:3]] == ["PeerAnswer"] * 3
            assert [kind for _, _, kind in before[:3]] == ["dict"] * 3
            assert written == written_before, (asked, given)
            assert typed[3:] == before[3:]


def _reordered(value: Any, rng: Any) -> Any:
    """`value` with every object's members in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _reordered(item, rng) for key, item in items[::-1]}
    if isinstance(value, list):
        return [_reordered(item, rng) for item in value]
    return value


def test_another_order_or_fewer_fields_is_merged_as_the_same_json(
        monkeypatch: pytest.MonkeyPatch):
    """Another implementation's answers, with a node's fields in another order, or fewer of
    them (no beaconId, no precision, no `info`, `response` null or absent), are read into
    types too, and answered as the same JSON values as before (their resultSets' members
    in the types' order: JSON's have none), with the same audit lines."""
    import random

    rng = random.Random(5)
    for granularity in ("boolean", "count", "record"):
        for trial in range(20):
            answers = _reordered(_node_answers(granularity), rng)
            first, second, third = answers
            for result_set in (first.get("response") or {"resultSets": []})["resultSets"]:
                for key in ("beaconId", "countPrecision", "countAdjustedTo", "info"):
                    if rng.random() < 0.5:
                        result_set.pop(key, None)
            second["responseSummary"].pop("countPrecision", None)
            if trial % 3 == 0:
                third.pop("response", None)
            elif trial % 3 == 1:
                third["response"] = None
            bodies = [orjson.dumps(a) for a in answers]
            typed, written = _network_written(bodies, granularity, True, monkeypatch)
            before, written_before = _network_written(bodies, granularity, False, monkeypatch)
            assert [kind for _, _, kind in typed[:3]] == ["PeerAnswer"] * 3
            assert orjson.loads(written) == orjson.loads(written_before)
            assert typed[3:] == before[3:]


def test_an_answer_not_of_a_node_shape_is_read_as_before(monkeypatch: pytest.MonkeyPatch):
    """An answer holding a key the types do not declare, or a value of another type, is
    read into dicts as before, or refused as before: the same status and detail, the same
    written answer, the same audit lines."""
    def changed(change: Any) -> dict[str, Any]:
        answer = _node_answers("count")[0]
        change(answer["responseSummary"], answer["response"]["resultSets"][0], answer)
        return answer

    changes = [
        lambda summary, s, a: summary.update(extra=1),
        lambda summary, s, a: summary.update(numTotalResults="3"),
        lambda summary, s, a: summary.update(countPrecision=3),
        lambda summary, s, a: summary.update(countAdjustedTo="ten"),
        lambda summary, s, a: summary.update(exists="true"),
        lambda summary, s, a: s.update(records=[{"id": "v"}]),
        lambda summary, s, a: s.update(resultsHandovers=[HANDOVER]),
        lambda summary, s, a: s.update(info={"returnedGranularity": "count", "leak": 1}),
        lambda summary, s, a: s.update(info={"returnedGranularity": 5}),
        lambda summary, s, a: s.update(info={"returnedGranularity": "count",
                                             "alleleNumber": -1}),
        lambda summary, s, a: s.update(info=None),
        lambda summary, s, a: s.update(info="P30Y"),
        lambda summary, s, a: s.update(beaconId=3),
        lambda summary, s, a: s.update(countPrecision=None),
        lambda summary, s, a: s.update(resultsCount=2**53),
        lambda summary, s, a: s.update(resultsCount=True),
        lambda summary, s, a: s.update(results=[1]),
        lambda summary, s, a: s.pop("results"),
        lambda summary, s, a: a["response"].update(more=1),
        lambda summary, s, a: a["meta"].update(returnedGranularity="all"),
    ]
    # of a node's shape, but more than a count answer holds: made a count answer's set
    # (merge._counted) as before
    overshared = [lambda summary, s, a: s.update(info={"returnedGranularity": "record"}),
                  lambda summary, s, a: s.update(results=[{"id": "v"}]),
                  lambda summary, s, a: s.pop("info")]
    for n, change in enumerate(changes + overshared):
        bodies = [orjson.dumps(changed(change)), *map(orjson.dumps, _node_answers("count")[1:])]
        for asked in ("count", "record"):
            typed, written = _network_written(bodies, asked, True, monkeypatch)
            before, written_before = _network_written(bodies, asked, False, monkeypatch)
            assert (typed[0][2] == "PeerAnswer") == (n >= len(changes)), n
            assert [typed[0][:2], *typed[3:]] == [before[0][:2], *before[3:]], n
            assert written == written_before, n


async def test_each_peer_has_a_pool_of_its_own_and_a_registry_of_thousands_one_group():
    """A peer's connections are its own pool's (a frozen one holds only those); peers
    beyond OWN_SESSIONS, as a registry of thousands lists, have a pool per origin within
    one group bounded at four peers' worth, so the sockets a node keeps are bounded too,
    and all are closed."""
    sessions = PeerSessions()
    urls = [f"http://127.0.0.{1 + n // 200}:{5000 + n % 200}/api" for n in range(OWN_SESSIONS + 9)]
    made = [sessions.of(url) for url in urls]
    assert sessions.of(urls[0]) is made[0]
    assert len({id(p) for p in made[:OWN_SESSIONS]}) == OWN_SESSIONS
    assert all(p.limit == PEER_CONNECTIONS for p in made)
    assert {p.group_limit for p in made[:OWN_SESSIONS]} == {None}
    group = made[OWN_SESSIONS:]
    assert len({id(p) for p in group}) == len(group)
    assert {p.group_limit for p in group} == {4 * PEER_CONNECTIONS}
    # another API root at an origin of the group: that origin's pool
    assert sessions.of(urls[-1].replace("/api", "/other/api")) is group[-1]
    await sessions.close()
    assert all(p.closed for p in made)


async def test_closed_sessions_open_no_registry_session():
    """Once closed (the node stopping), the registry's session is refused, not made anew: a
    registry read the node's end overtook opened one that nobody closed."""
    sessions = PeerSessions()
    first = sessions.registry()
    await sessions.close()
    assert first.closed
    with pytest.raises(ClientConnectionError):
        sessions.registry()


@pytest.mark.parametrize("root", ["http://127.0.0.1:4567/api", "https://fi.example",
                                  "http://[::1]:80/a/b", "https://u:p@h.example/x%20y/api",
                                  "https://h.example/a?b", "https://h.example/a#f"])
def test_peer_url_is_the_url_parsed_whole(root: str) -> None:
    """Each peer's URL, built from its root's parts, is the one the whole text parses to."""
    from yarl import URL
    for path in ("/g_variants", "/datasets/a%2Fb/g_variants", "", "/g_variants/x:y"):
        for query in ("", "referenceName=1&start=2", "a=%20b+c?d", "x=/?#"):
            built = _peer_url(root, path, query)
            whole = URL(f"{root}{path}?{query}" if query else f"{root}{path}", encoded=True)
            assert (built, str(built), built.raw_path, built.raw_query_string,
                    built.host_port_subcomponent) == (whole, str(whole), whole.raw_path,
                                                      whole.raw_query_string,
                                                      whole.host_port_subcomponent)


@dataclass
class HeldPeer:
    """A peer on 127.0.0.1 whose answers (a count) are held, while `holding` is set when they
    arrive, until `release` is set, or whose answers are an HTTP 500 while `failing`;
    `arrived`: the requests it has had, `left`: those whose asker went away while held."""

    peer: Peer | None = None
    holding: bool = True
    failing: bool = False
    arrived: int = 0
    left: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _arrival: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, count: int, *, left: bool = False) -> None:
        """Until `count` requests have arrived (or `left`), at most 20 s (a bound, not a
        timing)."""
        async with asyncio.timeout(20):
            while (self.left if left else self.arrived) < count:
                self._arrival.clear()
                await self._arrival.wait()


async def _held_peer(stack: AsyncExitStack) -> HeldPeer:
    held = HeldPeer()

    async def answer(request: web.Request) -> web.Response:
        held.arrived += 1
        held._arrival.set()
        if held.failing:
            return web.json_response({"error": {"errorCode": 500, "errorMessage": "down"}},
                                     status=500)
        if held.holding:
            try:
                await asyncio.wait_for(held.release.wait(), 60)
            except asyncio.CancelledError:      # the asker went away (TestServer cancels)
                held.left += 1
                held._arrival.set()
                raise
        return web.json_response(_count_answer("held", {}))

    app = web.Application()
    app.router.add_route("*", "/api/{tail:.*}", answer)
    held.peer = Peer(id="held", url=f"{await serve_app(stack, app)}/api")
    stack.callback(held.release.set)        # runs before the server closes: held answers end
    return held


IN_FLIGHT = 3
BUSY = "network requests at once"       # what the 503 of a network at its limit says


async def test_a_network_request_beyond_those_in_flight_waits_then_is_a_503(network, check,
                                                                            caplog):
    """Nothing bounded the network requests answered at once, each holding up to
    MAX_NETWORK_BODIES of its peers' answers (parsed, some 30 times that): enough of them
    together took the node's memory. Now `network_requests_in_flight` are answered at once;
    one more, after a short wait for a slot, is a 503 with Retry-After and a Beacon error,
    asking no peer, while the others complete; a slot freed is taken by the next. The
    refusals are logged once as they start and once as they end, with their number."""
    caplog.set_level(logging.INFO, logger="node.federation.slots")
    async with AsyncExitStack() as stack:
        peer = await _held_peer(stack)
        net = await stack.enter_async_context(network.aggregator(
            [peer.peer], network_requests_in_flight=IN_FLIGHT, peer_timeout_seconds=20,
            network_deadline_seconds=30))
        held = [asyncio.create_task(check(net, "/network/api/g_variants", params=COUNT_QUERY))
                for _ in range(IN_FLIGHT)]
        await peer.until(IN_FLIGHT)
        async with asyncio.timeout(15):
            busy = await check(net, "/network/api/g_variants", params=COUNT_QUERY, status=503)
            async with net.get("/network/api/datasets") as response:
                assert response.status == 503
                assert response.headers["Retry-After"] == "20"     # the fan-out's timer
        assert BUSY in busy["error"]["errorMessage"]
        assert "network_requests_in_flight" in busy["error"]["errorMessage"]
        assert peer.arrived == IN_FLIGHT                # the refused ones asked no peer
        peer.release.set()
        for answered in await asyncio.gather(*held):
            assert _peer_lines(answered)["held"]["status"] == "ok"
        again = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
        assert _peer_lines(again)["held"]["status"] == "ok"
        metrics = await (await net.get("/metrics")).text()
    logged = [r.getMessage() for r in caplog.records if r.name == "node.federation.slots"]
    assert len(logged) == 2 and logged[0].startswith("network requests at their limit")
    assert logged[1] == "network requests below their limit again, 2 refused with 503"
    assert re.search(r'gdi_node_http_requests_total\{cause="network_busy",method="GET",'
                     r'route="/network/api/g_variants",status="503"\} 1\.0', metrics)


async def test_a_slot_handed_to_a_request_cancelled_before_it_runs_goes_to_the_next():
    """The slots hand a slot given back to the longest waiting request. One cancelled (its
    client gone) after the slot was handed to it but before it ran on gives that slot to the
    next waiting request, rather than keep it for good; the requests wait in turn."""
    slots = RequestSlots(1, 3.0)
    order: list[str] = []

    async def wait(name: str) -> None:
        async with slots:
            order.append(name)

    await slots.__aenter__()
    first = asyncio.create_task(wait("first"))
    second = asyncio.create_task(wait("second"))
    await asyncio.sleep(0)                  # both waiting, first before second
    await slots.__aexit__(None, None, None)     # the slot is handed to `first`
    first.cancel()                          # which is cancelled before it runs on
    async with asyncio.timeout(5):          # a bound, not a timing
        await second
    assert first.cancelled() and order == ["second"]
    async with asyncio.timeout(5):          # and the slot is free again after it
        async with slots:
            order.append("third")
    assert order == ["second", "third"]


async def test_a_network_requests_slot_is_given_back_on_errors_timeouts_and_disconnects(
        network, check):
    """With one slot, a request that failed (its peer's 500: the network down, a 503 of its
    own), timed out, or whose client went away mid-request gives its slot back: the next
    request is answered, not refused as one past the limit. A request cancelled as its
    client went away (as aiohttp's test server, and a runner with handler_cancellation,
    cancel it) ends its requests to the peers too: they ran on until the peer answered."""
    async with AsyncExitStack() as stack:
        peer = await _held_peer(stack)
        async with network.aggregator([peer.peer], network_requests_in_flight=1,
                                      peer_timeout_seconds=0.3,
                                      network_deadline_seconds=1) as net:
            peer.failing = True
            for _ in range(2):
                down = await check(net, "/network/api/g_variants", params=COUNT_QUERY,
                                   status=503)
                assert down["error"]["errorMessage"].startswith("no peer of the network")
            peer.failing = False
            for _ in range(2):
                late = await check(net, "/network/api/g_variants", params=COUNT_QUERY,
                                   status=503)
                assert "held (timeout)" in late["error"]["errorMessage"]
        net = await stack.enter_async_context(network.aggregator(
            [peer.peer], network_requests_in_flight=1, peer_timeout_seconds=20,
            network_deadline_seconds=30))
        arrived, left = peer.arrived, peer.left
        gone = asyncio.create_task(net.get("/network/api/g_variants", params=COUNT_QUERY))
        await peer.until(arrived + 1)
        async with asyncio.timeout(15):
            busy = await check(net, "/network/api/g_variants", params=COUNT_QUERY, status=503)
        assert BUSY in busy["error"]["errorMessage"]
        gone.cancel()                   # the client goes away, its request still at the peer
        await asyncio.gather(gone, return_exceptions=True)
        peer.holding = False            # what comes now is answered at once; `gone` is held
        answered = await check(net, "/network/api/g_variants", params=COUNT_QUERY)
        assert _peer_lines(answered)["held"]["status"] == "ok"
        assert not peer.release.is_set()
        # and what the request had asked of its peers ended with it, not at the peer's leisure
        await peer.until(left + 1, left=True)


async def test_a_terms_label_and_type_are_merged_by_the_nodes_rule_whatever_the_peer_order(
        network, check):
    """A term two peers list is labelled where any peer labels it (a label that is its id,
    what a node writes for a term it holds no label of, an empty one, or none, is no label),
    and `ontology` where any peer lists it so (its id alone filters too), as a node merges
    its datasets' terms (beacon/info.py merged_terms). The network took the first peer's
    label and type: the answer depended on the order of the peers, and a term the portal
    could offer by its label, and filter by id, came unlabelled, as alphanumeric. A first
    peer's empty label was kept so, where the node's merge takes the other's."""
    schema = "framework/json/responses/beaconFilteringTermsResponse.json"
    fakes = network.fakes
    for names in (["terms.bare", "terms.full"], ["terms.full", "terms.bare"]):
        async with network.aggregator([fakes.peer(name) for name in names]) as net:
            merged = await check(net, "/network/api/filtering_terms", schema=schema)
        terms = {t["id"]: t for t in merged["response"]["filteringTerms"]}
        assert {i: (t.get("label"), t["type"], t["beaconIds"]) for i, t in terms.items()} == {
            "NCIT:C16576": ("female", "ontology", names),
            "HP:0001627": ("Abnormal heart morphology", "ontology", names),
            "NCIT:C20197": ("male", "ontology", names)}, names
