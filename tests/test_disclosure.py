"""Disclosure control under attack: nothing about an allele below the visibility floor is learnt.

Threat model (DOMAIN.md §9). Shringarpure & Bustamante (AJHG 2015) showed that a beacon saying
yes or no on rare alleles tells whether a known genome is in its dataset, in a few thousand
queries. A floor applied to each response's count does not stop it: two overlapping counts
differ by exactly the variants in their difference (count [a, b+1) - count [a, b) says whether
a variant starts at b), and a window slid over boolean answers turns true where a singleton
lies. The default policy (beacon/disclosure.py) instead makes an allele carried by fewer than 5
individuals not exist, in the SQL, for anonymous callers and bona fide researchers alike.

How this suite proves it: two nodes on real PostgreSQL, served over real HTTP with the default
policy (no disclosure override), hold the same three datasets (PUBLIC, REGISTERED, CONTROLLED),
except that the control node's copy lacks every allele carried by fewer than 5 individuals.
Each attack sends the same requests to both, as an anonymous caller and as a bona fide
researcher (a token from a development AAI): any difference in an answer (exists, counts,
records, countPrecision, even the budget left) would be something learnt from the sub-floor
alleles, which are all the two nodes differ by. Each answer is also held to what the visible
alleles alone give, so an attack that learnt nothing because nothing was answered fails too;
it carries `countPrecision` as the caller's tier says and validates against the Beacon v2
schemas. A caller granted the CONTROLLED dataset does see the sub-floor alleles on the first
node: they are there, only hidden.

The VCF is written here with 12 samples, so every allele's carriers are exact: singletons, a
doubleton, floor - 1, an allele whose AC (6) reaches the floor though its carriers (3) do not,
multi-allelic sites whose alleles are each below the floor though together above it, a
deletion and a 400-base SV, each 10 bases from its neighbours so that windows and brackets can
isolate it, among common alleles and alleles at the floor.

Budgets (beacon/budget.py) are per caller and dataset: each test gets fresh nodes whose
`budget_spent` was emptied, as a new caller would, and stays within the anonymous 300 units.
"""
from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp import ClientSession

from auth.access import AccessLevel
from auth.dev_issuer import DevIssuer, trusted_issuer_entry
from auth.issuers import TrustedIssuer
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from node.app import create_app
from node.database import create_pool
from node.federation.peers import Peer
from node.settings import Settings
from tests.beacon_schemas import COLLECTIONS_SCHEMA, ERROR_SCHEMA, RESPONSE_SCHEMAS
from tests.conftest import (
    node_database,
    serve_app,
    serve_dev_aai,
    write_vcf_text,
)

PUBLIC, REGISTERED, CONTROLLED = "GDI-FI-SYN-001", "GDI-FI-SYN-002", "GDI-FI-SYN-003"
LEVELS = {PUBLIC: AccessLevel.PUBLIC, REGISTERED: AccessLevel.REGISTERED,
          CONTROLLED: AccessLevel.CONTROLLED}
MADE_UP = "GDI-FI-SYN-999"
NODE_ID = "org.test.disclosure"
FLOOR = 5                  # the default allele floor of anonymous and bona fide callers
ANONYMOUS_STEP = 5         # anonymous counts are rounded up to a multiple of this
SAMPLES = 12
GRANULARITIES = ("boolean", "count", "record")


@dataclass(frozen=True)
class Allele:
    alt: str
    carriers: int
    hom: int = 0           # of the carriers, how many carry it on both chromosomes


@dataclass(frozen=True)
class Site:
    chrom: str
    pos: int               # VCF POS, 1-based
    ref: str
    alleles: tuple[Allele, ...]
    info: str = "."


SITES = (
    Site("chr1", 1000, "A", (Allele("G", 12, 4),)),
    Site("chr1", 1010, "C", (Allele("T", 1),)),                 # singleton
    Site("chr1", 1020, "G", (Allele("A", 5),)),                 # at the floor: seen, rare
    Site("chr1", 1030, "T", (Allele("C", 2, 2),)),              # doubleton, AC 4
    Site("chr1", 1040, "A", (Allele("C", 4),)),                 # floor - 1
    Site("chr1", 1050, "C", (Allele("A", 10),)),
    Site("chr1", 1060, "G", (Allele("T", 3, 3),)),              # AC 6 >= floor, carriers 3
    Site("chr1", 1070, "T", (Allele("G", 9, 1),)),
    Site("chr1", 1080, "ACGT", (Allele("A", 1),)),              # singleton deletion
    Site("chr1", 1100, "A", (Allele("<DEL>", 1),), "END=1500;SVTYPE=DEL"),   # singleton SV
    Site("chr1", 2000, "A", (Allele("G", 4),)),                 # three floor - 1 G alleles
    Site("chr1", 2001, "C", (Allele("G", 4),)),
    Site("chr1", 2002, "T", (Allele("G", 4),)),
    Site("chr1", 2003, "A", (Allele("G", 1),)),                 # beside a singleton G
    Site("chr1", 2004, "C", (Allele("T", 10),)),
    Site("chr1", 2010, "C", (Allele("G", 11, 2),)),
    Site("chr1", 2020, "A", (Allele("G", 6), Allele("T", 1))),  # one seen, one singleton
    Site("chr1", 2030, "G", (Allele("A", 4), Allele("C", 4))),  # 8 carriers, 4 per allele
    Site("chr2", 500, "A", (Allele("G", 12),)),
    Site("chr2", 600, "C", (Allele("T", 1),)),
)


@dataclass(frozen=True)
class Variant:
    """An allele as the node stores and names it (beacon/records.py)."""

    id: str
    chrom: str
    start: int             # 0-based
    end: int
    ref: str
    alt: str
    carriers: int


def _variant(site: Site, allele: Allele) -> Variant:
    chrom, start = site.chrom.removeprefix("chr"), site.pos - 1
    if allele.alt.startswith("<"):
        end = int(site.info.split("END=")[1].split(";")[0])
        name = f"GRCh38:{chrom}:{start}:{site.ref}:{allele.alt}:{end}"
    else:
        end, name = start + len(site.ref), f"GRCh38:{chrom}:{start}:{site.ref}:{allele.alt}"
    return Variant(name, chrom, start, end, site.ref, allele.alt, allele.carriers)


VARIANTS = sorted((_variant(s, a) for s in SITES for a in s.alleles),
                  key=lambda v: (v.chrom, v.start, v.ref, v.alt))
VISIBLE = [v for v in VARIANTS if v.carriers >= FLOOR]
HIDDEN = [v for v in VARIANTS if v.carriers < FLOOR]
HEADER = "\n".join([
    "##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
    "##contig=<ID=chr2,length=242193529>",
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
    '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
               *(f"S{i}" for i in range(1, SAMPLES + 1))])])


def _vcf(keep: Callable[[Allele], bool]) -> str:
    """SITES with only the alleles `keep` accepts (a site left with none is dropped), each
    allele carried by samples of its own, so AC, AN and carriers are the same in every VCF
    that keeps it."""
    lines = [HEADER]
    for site in SITES:
        alleles = [a for a in site.alleles if keep(a)]
        if not alleles:
            continue
        genotypes, first = ["0|0"] * SAMPLES, 0
        for index, allele in enumerate(alleles, 1):
            for n in range(allele.carriers):
                genotypes[first + n] = f"{index}|{index}" if n < allele.hom else f"0|{index}"
            first += allele.carriers
        lines.append("\t".join([site.chrom, str(site.pos), ".", site.ref,
                                ",".join(a.alt for a in alleles), ".", "PASS", site.info, "GT",
                                *genotypes]))
    return "\n".join(lines) + "\n"


def _matches(variant: Variant, params: dict[str, str]) -> bool:
    """Whether a visible variant answers a query, as beacon/store.py's conditions read the
    query forms the attacks use (every visible variant is an SNV, so any variantType other
    than SNP matches none)."""
    if params.get("referenceName", variant.chrom) != variant.chrom:
        return False
    for name, bases in (("referenceBases", variant.ref), ("alternateBases", variant.alt)):
        wanted = params.get(name)
        if wanted is not None and not (len(wanted) == len(bases) and all(
                w in ("N", b) for w, b in zip(wanted, bases))):
            return False
    if params.get("variantType", "SNP") != "SNP":
        return False
    start = [int(p) for p in params.get("start", "").split(",") if p]
    end = [int(p) for p in params.get("end", "").split(",") if p]
    if len(start) == 2:
        return start[0] <= variant.start < start[1] and end[0] <= variant.end < end[1]
    if end:
        return start[0] < variant.end and variant.start < end[0]
    return not start or variant.start == start[0]


def _rounded(count: int, step: int) -> int:
    return step * math.ceil(count / step)


# --- the nodes and the callers ---------------------------------------------------------------

@dataclass
class World:
    """What the module shares: the AAI, and each node's database (subject: every allele;
    control: the visible ones only; aggregator: none, it asks its peer)."""

    aai: DevIssuer
    aai_url: str
    databases: dict[str, str]
    pools: dict[str, asyncpg.Pool]
    directory: Path

    def settings(self, name: str, **changes: Any) -> Settings:
        """A node's settings: the default disclosure policy, trusting the AAI."""
        return Settings(**{"database_url": self.databases[name], "beacon_id": NODE_ID,
                           "data_dir": self.directory / name, "trusted_issuers": [
                               TrustedIssuer(**trusted_issuer_entry(self.aai_url))],
                           **changes})


@pytest.fixture(scope="module")
async def world(pg_server_url: str, tmp_path_factory) -> AsyncIterator[World]:
    directory = tmp_path_factory.mktemp("disclosure")
    async with AsyncExitStack() as stack:
        aai, aai_url = await serve_dev_aai(stack)
        databases, pools = {}, {}
        vcfs = {"subject": _vcf(lambda a: True),
                "control": _vcf(lambda a: a.carriers >= FLOOR), "aggregator": None}
        for name, text in vcfs.items():
            databases[name] = await stack.enter_async_context(node_database(pg_server_url))
            if text is not None:
                path = write_vcf_text(directory / f"{name}.vcf", text)
                for dataset_id, level in LEVELS.items():
                    await ingest(databases[name], IngestRequest(
                        path, dataset_id, GRCH38, level, dataset_id, workers=1))
            # one key everywhere: the smooth floor's draws (beacon/visibility.py) are then the
            # same on the subject and the control node, as the node's own would be
            connection = await asyncpg.connect(databases[name])
            try:
                await connection.execute("UPDATE disclosure_secret SET secret = 'disclosure'")
            finally:
                await connection.close()
        world = World(aai, aai_url, databases, pools, directory)
        for name in vcfs:
            pools[name] = await create_pool(databases[name], world.settings(name))
            stack.push_async_callback(pools[name].close)
        yield world


@dataclass
class Pair:
    """Clients of two nodes that differ only by the sub-floor alleles."""

    subject: ClientSession
    control: ClientSession
    urls: dict[str, str]


@pytest.fixture
async def pair(world: World) -> AsyncIterator[Pair]:
    """Fresh subject and control nodes with empty budgets: each attack is a new caller with
    the whole budget (`budget_spent` is what callers spent; new apps hold no leases)."""
    async with AsyncExitStack() as stack:
        clients, urls = {}, {}
        for name in ("subject", "control"):
            await world.pools[name].execute("DELETE FROM budget_spent")
            await world.pools[name].execute("DELETE FROM disclosure_losses")
            await world.pools[name].execute("DELETE FROM disclosure_answers")
            urls[name] = await serve_app(stack, create_app(world.settings(name),
                                                           world.pools[name]))
            clients[name] = await stack.enter_async_context(ClientSession(base_url=urls[name]))
        yield Pair(clients["subject"], clients["control"], urls)


@dataclass(frozen=True)
class Caller:
    name: str
    token: str | None
    datasets: dict[str, str]     # the datasets the caller may know of: the most it may see
    step: int                    # its counts are rounded up to a multiple of this


@pytest.fixture(params=["anonymous", "bona fide"])
def caller(request: pytest.FixtureRequest, world: World) -> Caller:
    if request.param == "anonymous":
        return Caller("anonymous", None, {PUBLIC: "record"}, ANONYMOUS_STEP)
    return Caller("bona fide", world.aai.access_token(world.aai.users["bob"]),
                  {PUBLIC: "record", REGISTERED: "count", CONTROLLED: "count"}, 1)


async def _get(client: ClientSession, path: str, params: dict[str, str] | None,
               token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.get(path, params=params, headers=headers) as response:
        return response.status, await response.json()


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs from one request to the next: how long each peer
    of a network took."""
    for line in body.get("info", {}).get("network", {}).get("peers", []):
        line.pop("ms", None)
    return body


@dataclass
class Attacker:
    """One caller sending each request to the subject and the control node alike."""

    pair: Pair
    caller: Caller
    validate: Callable[[str, object], list[str]]

    async def ask(self, path: str, params: dict[str, str],
                  found: list[Variant] | None = None, default: str = "boolean"
                  ) -> dict[str, Any]:
        """The subject's answer, asserted identical to the control's and checked against
        `found` (by default the visible variants the query matches)."""
        params = {"includeResultsetResponses": "ALL", **params}
        (status, body), (control_status, control) = await asyncio.gather(
            _get(self.pair.subject, path, params, self.caller.token),
            _get(self.pair.control, path, params, self.caller.token))
        assert status == 200, body
        assert (status, _comparable(body)) == (control_status, _comparable(control)), (
            f"{self.caller.name} learnt a sub-floor allele from {path} {params}")
        if found is None:
            found = [v for v in VISIBLE if _matches(v, params)]
        self._check(body, params, found, default)
        return body

    def _check(self, body: dict[str, Any], params: dict[str, str], found: list[Variant],
               default: str) -> None:
        """A valid Beacon answer giving each dataset the caller may know at most what the
        visible variants alone give (the default floor is smooth for both tiers: each variant
        near it is shown by its draw and the caller's losses), its records among them in
        their order, counted as precisely as its tier allows, and saying so. That nothing
        below the floor is among them is the comparison with the control node."""
        returned = body["meta"]["returnedGranularity"]
        assert self.validate(RESPONSE_SCHEMAS[returned], body) == []
        summary = body["responseSummary"]
        assert not summary["exists"] or found
        requested = params.get("requestedGranularity", default)
        if requested == "boolean":
            assert returned == "boolean" and set(summary) == {"exists"}
            assert "response" not in body
            return
        ids = [v.id for v in found]
        sets = {s["id"]: s for s in body["response"]["resultSets"]}
        assert set(sets) == set(self.caller.datasets)
        for dataset_id, ceiling in self.caller.datasets.items():
            result_set = sets[dataset_id]
            granularity = GRANULARITIES[min(GRANULARITIES.index(requested),
                                            GRANULARITIES.index(ceiling))]
            assert result_set["info"]["returnedGranularity"] == granularity
            assert result_set["exists"] is bool(result_set["resultsCount"])
            assert result_set["resultsCount"] <= _rounded(len(found), self.caller.step)
            self._check_precision(result_set, result_set["resultsCount"])
            records = [r["variantInternalId"] for r in result_set["results"]]
            assert records == [i for i in ids if i in records]
            if granularity != "record":
                assert records == []
        self._check_precision(summary, summary["numTotalResults"])

    def _check_precision(self, part: dict[str, Any], count: int) -> None:
        """`countPrecision` on every count, `countAdjustedTo` exactly when rounded; a tier
        that rounds says so of every count but 0 (which rounds to itself)."""
        precision = part["countPrecision"]
        assert precision in ("exact", "rounded")
        assert part.get("countAdjustedTo") == (
            [f"next multiple of {self.caller.step}"] if precision == "rounded" else None)
        assert count % self.caller.step == 0
        if count or self.caller.step == 1:
            assert precision == ("rounded" if self.caller.step > 1 else "exact")


@pytest.fixture
def attacker(pair: Pair, caller: Caller, beacon_schema) -> Attacker:
    return Attacker(pair, caller, beacon_schema)


# --- the attacks -------------------------------------------------------------------------------

def _range(chrom: str, start: int, end: int, **more: str) -> dict[str, str]:
    return {"referenceName": chrom, "start": str(start), "end": str(end), **more}


def _bracket(chrom: str, start: tuple[int, int], end: tuple[int, int]) -> dict[str, str]:
    return {"referenceName": chrom, "start": f"{start[0]},{start[1]}",
            "end": f"{end[0]},{end[1]}"}


def _differencing_queries() -> list[dict[str, str]]:
    """Counts that differ by one base at each sub-floor allele's start: ranges ending just
    before and just after it, starting at it and just after it, brackets with and without it;
    a grid of overlapping ranges around the singleton at 1010 and the at-floor allele at 1020;
    and the totals of each chromosome and of the dataset, to difference against the rest."""
    queries: list[dict[str, str]] = [{}, {"referenceName": "1"}, {"referenceName": "2"}]
    for chrom, t in sorted({(v.chrom, v.start) for v in HIDDEN}):
        queries += [_range(chrom, t - 5, t), _range(chrom, t - 5, t + 1),
                    _range(chrom, t, t + 5), _range(chrom, t + 1, t + 5),
                    _bracket(chrom, (t, t + 1), (t + 1, t + 2)),
                    _bracket(chrom, (t - 5, t), (t, t + 600)),
                    _bracket(chrom, (t - 5, t + 1), (t, t + 600))]
    queries += [_range("1", a, b) for a in (995, 1009, 1010, 1019, 1020)
                for b in (1010, 1011, 1020, 1021, 1045, 1600) if b > a]
    return [{**q, "requestedGranularity": "count"} for q in queries]


async def test_count_differencing_learns_nothing_below_the_floor(attacker):
    counts = [(await attacker.ask("/api/g_variants", q))["responseSummary"]["numTotalResults"]
              for q in _differencing_queries()]
    assert 0 in counts and max(counts) > 0      # the queries straddle visible alleles too


def _window_queries() -> list[dict[str, str]]:
    """Boolean windows: one base wide over every position of both clusters and around
    chromosome 2's singleton, seven wide every three bases over the first cluster, and a few
    that only the SV (1100-1500) overlaps."""
    windows = [("1", s, s + 1) for s in [*range(1005, 1085), *range(1995, 2035)]]
    windows += [("2", s, s + 1) for s in range(595, 603)]
    windows += [("1", s, s + 7) for s in range(996, 1090, 3)]
    windows += [("1", 1200, 1201), ("1", 1300, 1310), ("1", 1499, 1500), ("1", 1100, 1499)]
    return [_range(*w, requestedGranularity="boolean") for w in windows]


async def test_sliding_boolean_windows_learn_nothing_below_the_floor(attacker):
    answers = {(await attacker.ask("/api/g_variants", q))["responseSummary"]["exists"]
               for q in _window_queries()}
    assert answers == {True, False}


def _allele_queries() -> list[dict[str, str]]:
    """Windows asking for one ALT: G windows 1, 2 and 4 bases wide over the three floor - 1 G
    alleles beside the singleton G (2000-2003) and up to the common G at 2010; each ALT (and
    N) at each of those positions and at both multi-allelic sites; REF and ALT together;
    deletions by their alleles, by the symbolic allele and by variantType."""
    queries = [_range("1", s, s + width, alternateBases="G")
               for width in (1, 2, 4) for s in range(1996, 2012)]
    queries += [{"referenceName": "1", "start": str(t), "alternateBases": alt}
                for t in (1999, 2000, 2001, 2002, 2003, 2019, 2029) for alt in "ACGTN"]
    queries += [{"referenceName": "1", "start": "2019", "referenceBases": "A",
                 "alternateBases": "T"},
                {"referenceName": "1", "start": "2029", "referenceBases": "G",
                 "alternateBases": "C"},
                {"referenceName": "1", "start": "1079", "referenceBases": "ACGT",
                 "alternateBases": "A"},
                {"referenceName": "1", "start": "1099", "alternateBases": "<DEL>"},
                _range("1", 1000, 1600, variantType="DEL"),
                _range("1", 1075, 1085, variantType="INDEL"),
                _range("1", 1995, 2035, variantType="SNP")]
    return [{**q, "requestedGranularity": "count"} for q in queries]


async def test_allele_specific_windows_learn_nothing_below_the_floor(attacker):
    for query in _allele_queries():
        await attacker.ask("/api/g_variants", query)


async def _pages(attacker: Attacker, api: str, query: dict[str, str], limit: int) -> list[str]:
    """Every record of the PUBLIC dataset a query matches, page by page until one is empty."""
    ids: list[str] = []
    for number in itertools.count():                       # skip counts pages
        body = await attacker.ask(f"{api}/g_variants", {
            **query, "requestedGranularity": "record", "skip": str(number),
            "limit": str(limit)})
        page = next(s for s in body["response"]["resultSets"] if s["id"] == PUBLIC)["results"]
        if not page:
            break
        ids += [r["variantInternalId"] for r in page]
    return ids


async def test_record_pages_never_hold_a_sub_floor_allele(attacker):
    for limit in (1, 2, 3):
        ids = await _pages(attacker, "/api", _range("1", 0, 3000), limit)
        _all_visible(ids, [v.id for v in VISIBLE if v.chrom == "1"])
    ids = await _pages(attacker, "/api", {}, 2)
    _all_visible(ids, [v.id for v in VISIBLE])
    assert not set(ids) & {v.id for v in HIDDEN}


def _all_visible(ids: list[str], visible: list[str]) -> None:
    """Some of the visible variants (the smooth floor's), in order."""
    assert ids and ids == [i for i in visible if i in ids]


async def test_single_variant_ids_below_the_floor_are_not_found(attacker):
    for variant in VARIANTS:
        await attacker.ask(f"/api/g_variants/{quote(variant.id, safe=':')}", {},
                           found=[variant] if variant in VISIBLE else [], default="record")


async def test_dataset_listing_shows_the_tier_only_its_datasets_with_counts_rounded(
        pair, caller, beacon_schema):
    status, body = await _get(pair.subject, "/api/datasets", None, caller.token)
    assert status == 200 and beacon_schema(COLLECTIONS_SCHEMA, body) == []
    listed = {c["id"]: c["info"] for c in body["response"]["collections"]}
    assert set(listed) == set(caller.datasets)
    assert body["responseSummary"]["numTotalResults"] == len(caller.datasets)
    for info in listed.values():
        assert info["sampleCount"] == _rounded(SAMPLES, caller.step)
        assert "variantCount" not in info       # a tier with a floor: see the test below
        if caller.step > 1:
            assert info["sampleCountPrecision"] == "rounded"
            assert info["sampleCountAdjustedTo"] == [f"next multiple of {caller.step}"]
        else:
            assert "sampleCountPrecision" not in info and "sampleCountAdjustedTo" not in info


async def test_hidden_datasets_are_as_unknown_as_missing_ones(pair, world, beacon_schema):
    """REGISTERED and CONTROLLED named by an anonymous caller are refused as a dataset that
    does not exist is, word for word; a bona fide researcher is answered."""
    token = world.aai.access_token(world.aai.users["bob"])
    sequence = {"referenceName": "1", "start": "1009", "alternateBases": "T"}
    for hidden in (REGISTERED, CONTROLLED):
        for path, params in (("/api/g_variants", {**sequence, "datasetIds": hidden}),
                             (f"/api/datasets/{hidden}", None),
                             (f"/api/datasets/{hidden}/g_variants", sequence)):
            status, body = await _get(pair.subject, path, params, None)
            made_up = await _get(pair.subject, path.replace(hidden, MADE_UP), params and {
                k: v.replace(hidden, MADE_UP) for k, v in params.items()}, None)
            assert status in (400, 404) and beacon_schema(ERROR_SCHEMA, body) == []
            assert (status, body["error"]["errorMessage"].replace(hidden, MADE_UP)) == (
                made_up[0], made_up[1]["error"]["errorMessage"])
            assert (await _get(pair.subject, path, params, token))[0] == 200


async def test_dataset_variant_counts_do_not_count_sub_floor_alleles(pair, caller):
    """The listing, compared with the control's: a count of every allele would tell the tier
    how many alleles it may not see (and, across versions, how many a new individual
    brought), so a tier with a floor gets none, and the listings are the same."""
    listings = []
    for client in (pair.subject, pair.control):
        status, body = await _get(client, "/api/datasets", None, caller.token)
        assert status == 200
        listings.append({c["id"]: {k: v for k, v in c["info"].items()
                                   if k not in ("createDateTime", "updateDateTime")}
                         for c in body["response"]["collections"]})
    assert listings[0] == listings[1]
    assert all("variantCount" not in info for info in listings[0].values())


def _starts_in(query: dict[str, str], low: int, high: int) -> bool:
    """Whether a query's (first) start lies in [low, high): a sample of an attack."""
    start = query.get("start", "").split(",")[0]
    return start != "" and low <= int(start) < high


async def test_the_network_endpoint_learns_nothing_below_the_floor(pair, caller, world,
                                                                   beacon_schema):
    """Two aggregators, one with the subject node as its peer, one with the control under
    the same peer id; the bona fide caller's token is forwarded to the peer."""
    async with AsyncExitStack() as stack:
        clients = {}
        for name in ("subject", "control"):
            peer = Peer(id=NODE_ID, url=f"{pair.urls[name]}/api",
                        forward_tokens_from=(world.aai_url,))
            settings = world.settings("aggregator", beacon_id="org.test.network", peers=[peer])
            url = await serve_app(stack, create_app(settings, world.pools["aggregator"]))
            clients[name] = await stack.enter_async_context(ClientSession(base_url=url))
        network = Attacker(Pair(clients["subject"], clients["control"], {}), caller,
                           beacon_schema)
        queries = [q for q in _differencing_queries() if _starts_in(q, 1000, 1100)]
        queries += [q for q in _window_queries() if _starts_in(q, 1995, 2010)]
        queries += [q for q in _allele_queries() if "end" not in q]
        for query in queries:
            body = await network.ask("/network/api/g_variants", query)
            assert [(line["status"], line["tokenForwarded"])
                    for line in body["info"]["network"]["peers"]] == [
                ("ok", caller.token is not None)]
        _all_visible(await _pages(network, "/network/api", _range("1", 0, 3000), 3),
                     [v.id for v in VISIBLE if v.chrom == "1"])
        for variant in HIDDEN:
            await network.ask(f"/network/api/g_variants/{quote(variant.id, safe=':')}", {},
                              found=[], default="record")
        status, listing = await _get(clients["subject"], "/network/api/datasets", None,
                                     caller.token)
        assert status == 200 and beacon_schema(COLLECTIONS_SCHEMA, listing) == []
        assert {c["id"] for c in listing["response"]["collections"]} == set(caller.datasets)


# --- what the attacks rest on ------------------------------------------------------------------

def test_the_nodes_run_the_default_policy(world):
    """The attacks are against the default configuration: no override loosened it."""
    policy = world.settings("subject").disclosure_policy()
    anonymous, bona_fide = policy.tiers["anonymous"], policy.tiers["bona_fide"]
    assert (anonymous.allele_floor, anonymous.count_step) == (FLOOR, ANONYMOUS_STEP)
    assert (bona_fide.allele_floor, bona_fide.count_step) == (FLOOR, 1)
    assert not policy.anonymous_discovery


async def test_a_grant_sees_the_sub_floor_alleles_the_control_lacks(pair, world):
    """The sub-floor alleles are in the subject node's data, named as this suite names them:
    a caller granted CONTROLLED sees them there, and only the visible ones on the control;
    the same caller, bona fide only on REGISTERED, counts the visible ones on both."""
    token = world.aai.access_token(world.aai.users["carol"])
    expected = {"subject": VARIANTS, "control": VISIBLE}
    counted = {}
    for name, client in (("subject", pair.subject), ("control", pair.control)):
        status, body = await _get(client, "/api/g_variants", {
            "datasetIds": f"{CONTROLLED},{REGISTERED}", "requestedGranularity": "record",
            "limit": "100", "includeResultsetResponses": "ALL"}, token)
        assert status == 200, body
        sets = {s["id"]: s for s in body["response"]["resultSets"]}
        assert [r["variantInternalId"] for r in sets[CONTROLLED]["results"]] == [
            v.id for v in expected[name]]
        assert sets[CONTROLLED]["countPrecision"] == "exact"
        assert sets[REGISTERED]["info"]["returnedGranularity"] == "count"
        counted[name] = sets[REGISTERED]["resultsCount"]
    # the smooth floor shows some of the visible ones, the same on both
    assert 0 < counted["subject"] == counted["control"] <= len(VISIBLE)


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals"])
@pytest.mark.parametrize("granularity", ["boolean", "count", "record"])
async def test_an_assembly_no_dataset_is_on_is_answered_at_the_callers_granularity(
        pair, caller, beacon_schema, path, granularity):
    """Asked on GRCh37, where no dataset is, the answer is at the granularity the same
    question gets on GRCh38, where they all are (the most the caller may see of a dataset it
    knows): nothing found, counted where it would be. It was boolean, whatever was asked,
    with no numTotalResults for a count."""
    query = {"referenceName": "1", "start": "0", "end": "100000",
             "requestedGranularity": granularity, "includeResultsetResponses": "ALL"}
    answers = {}
    for assembly in ("GRCh38", "GRCh37"):
        status, answers[assembly] = await _get(pair.subject, path,
                                               {**query, "assemblyId": assembly}, caller.token)
        assert status == 200, answers[assembly]
    returned = answers["GRCh38"]["meta"]["returnedGranularity"]
    assert returned == (granularity if path == "/api/g_variants" or granularity != "record"
                        else "count")         # individuals' records need a grant
    elsewhere = answers["GRCh37"]
    assert elsewhere["meta"]["returnedGranularity"] == returned
    assert elsewhere["responseSummary"] == ({"exists": False} if returned == "boolean" else {
        "exists": False, "numTotalResults": 0, "countPrecision": "exact"})
    assert elsewhere.get("response", {}).get("resultSets", []) == []
    assert beacon_schema(RESPONSE_SCHEMAS[returned], elsewhere) == []


async def test_a_node_without_datasets_counts_nothing_when_asked_to(world, beacon_schema):
    """None the caller may know of: a count of 0 (which says no more than `exists: false`),
    or a boolean where that is what was asked."""
    async with AsyncExitStack() as stack:
        url = await serve_app(stack, create_app(world.settings("aggregator"),
                                                world.pools["aggregator"]))
        client = await stack.enter_async_context(ClientSession(base_url=url))
        for granularity, returned in (("boolean", "boolean"), ("count", "count"),
                                      ("record", "count")):
            status, body = await _get(client, "/api/g_variants", {
                "geneId": "TP53", "requestedGranularity": granularity}, None)
            assert status == 200, body
            assert body["meta"]["returnedGranularity"] == returned
            assert body["responseSummary"].get("numTotalResults", 0) == 0
            assert beacon_schema(RESPONSE_SCHEMAS[returned], body) == []
