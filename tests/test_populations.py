"""Allele frequencies by population, as the GDI portal's allele-frequency page reads them.

A VCF written here (40 samples; autosomal SNVs, chrX sites inside and outside the
pseudo-autosomal region, chrY and chrM sites, missing calls, haploid and diploid male X calls)
and phenopackets giving each sample a sex and a country of birth. The expected rows are
counted here from the genotype strings, person by person, with the zygosity rules written out
(gnomAD's: a male outside the PARs of X and Y counts once, as hemizygous); the node's come
from its bit strings. Compared label by label: the dataset, each country, each country and
sex, each sex.
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import ClientSession

from auth.access import AccessLevel
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from node.app import create_app
from node.database import create_pool
from node.federation.peers import Peer
from node.settings import DisclosureSettings, Settings, TierSettings
from tests.beacon_schemas import ERROR_SCHEMA, RECORD_SCHEMA, RESPONSE_SCHEMAS
from tests.conftest import (
    OPEN_DISCLOSURE,
    node_database,
    serve_app,
    serve_node,
    write_vcf_text,
)

DATASET = "GDI-FI-SYN-001"
SAMPLES = 40
LABEL = re.compile(r"^(?:([A-Z]{2})(?:_([MF]))?|([MF]))$")     # the portal's parser
# The default rules, but populations given to anonymous callers as far as the floor allows
POPULATIONS = DisclosureSettings(anonymous=TierSettings(population_floor=1))
# (contig, 1-based POS): autosome, X inside PAR1, X outside the PARs, Y outside, MT
SITES = [("chr1", 1_000_000), ("chr1", 1_000_100), ("chrX", 1_000_000), ("chrX", 50_000_000),
         ("chrX", 50_000_100), ("chrY", 10_000_000), ("chrM", 3000)]
CONTIGS = {"chr1": 248956422, "chrX": 156040895, "chrY": 57227415, "chrM": 16569}


@dataclass
class Person:
    id: str
    sex: str
    country: str
    calls: list[str]


def _people() -> list[Person]:
    rng = random.Random(16)
    people = []
    for n in range(SAMPLES):
        sex = rng.choice(["MALE", "FEMALE"])
        country = rng.choices(["FI", "SE", "EE"], weights=[6, 3, 1])[0]
        calls = []
        for contig, pos in SITES:
            if rng.random() < 0.05:
                calls.append("./." if contig != "chrM" else ".")
                continue
            af = 0.3 if pos % 200 == 0 else 0.15
            if contig == "chrM":
                calls.append(str(int(rng.random() < af)))
            elif contig in ("chrX", "chrY") and sex == "MALE" and not (
                    contig == "chrX" and pos < 2_781_479):
                allele = int(rng.random() < af)
                calls.append(str(allele) if rng.random() < 0.5 else f"{allele}/{allele}")
            elif contig == "chrY":
                calls.append(".")                       # females have no Y
            else:
                calls.append(f"{int(rng.random() < af)}/{int(rng.random() < af)}")
        people.append(Person(f"S{n:02d}", sex, country, calls))
    return people


PEOPLE = _people()


def _vcf() -> str:
    lines = ["##fileformat=VCFv4.2",
             *(f"##contig=<ID={c},length={n}>" for c, n in CONTIGS.items()),
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        *(p.id for p in PEOPLE)])]
    for k, (contig, pos) in enumerate(SITES):
        lines.append("\t".join([contig, str(pos), ".", "A", "G", ".", "PASS", ".", "GT",
                                *(p.calls[k] for p in PEOPLE)]))
    return "\n".join(lines) + "\n"


def _expected(site: int) -> dict[str, dict[str, Any]]:
    """Each population's row for one site, counted person by person."""
    contig, pos = SITES[site]
    hemizygous = contig in ("chrX", "chrY") and not (contig == "chrX" and pos <= 2_781_479)
    groups: dict[str, list[Person]] = {DATASET: PEOPLE}
    for p in PEOPLE:
        letter = p.sex[0]
        for label in (p.country, f"{p.country}_{letter}", letter):
            groups.setdefault(label, []).append(p)
    rows = {}
    for label, members in groups.items():
        ac = an = hom = het = hemi = 0
        for p in members:
            alleles = [a for a in p.calls[site].split("/") if a != "."]
            if not alleles:
                continue
            alt = alleles.count("1")
            if contig == "chrM":
                an, ac, hom = an + 1, ac + alt, hom + (alt > 0)
            elif hemizygous and p.sex == "MALE":
                an, ac, hemi = an + 1, ac + (alt > 0), hemi + (alt > 0)
            elif contig == "chrY":
                continue
            else:
                an, ac = an + len(alleles), ac + alt
                hom, het = hom + (alt == 2), het + (alt == 1)
        rows[label] = {"population": label, "alleleFrequency": ac / an if an else 0.0,
                       "alleleCount": ac, "alleleNumber": an, "alleleCountHomozygous": hom,
                       "alleleCountHeterozygous": het, "alleleCountHemizygous": hemi}
    return rows


@pytest.fixture(scope="module")
async def nodes(pg_server_url: str, tmp_path_factory) -> AsyncIterator[dict[str, ClientSession]]:
    directory = tmp_path_factory.mktemp("populations")
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        vcf = write_vcf_text(directory / "people.vcf", _vcf())
        packets = directory / "people.json"
        packets.write_text(json.dumps([{"id": p.id, "subject": {
            "id": p.id, "sex": p.sex, "countryOfBirth": p.country}} for p in PEOPLE]))
        await ingest(db_url, IngestRequest(vcf, DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
                                           workers=1, individuals=packets))
        conn = await asyncpg.connect(db_url)
        try:    # one known key: the smooth floor's draws, so the records it shows, the same
                # every run (with some random keys it shows only 2 of the 7 sites at its floor)
            await conn.execute("UPDATE disclosure_secret SET secret = 'populations'")
        finally:
            await conn.close()
        clients = {}
        for name, changes in (("open", {"disclosure": OPEN_DISCLOSURE}), ("default", {}),
                              ("populations", {"disclosure": POPULATIONS})):
            settings = Settings(database_url=db_url, beacon_id="org.test.populations",
                                data_dir=directory / name, **changes)
            clients[name], _ = await serve_node(stack, settings)
        # a network whose one peer is a node of the open rules (the portal may be pointed
        # at either)
        peer = Settings(database_url=db_url, beacon_id="org.test.populations",
                        data_dir=directory / "peer", disclosure=OPEN_DISCLOSURE)
        pool = await create_pool(db_url, peer)
        stack.push_async_callback(pool.close)
        peer_url = await serve_app(stack, create_app(peer, pool))
        network_db = await stack.enter_async_context(node_database(pg_server_url))
        clients["network"], _ = await serve_node(stack, Settings(
            database_url=network_db, beacon_id="org.test.network", data_dir=directory / "net",
            disclosure=OPEN_DISCLOSURE,
            peers=[Peer(id="org.test.populations", url=f"{peer_url}/api")]))
        yield clients


async def _records(client: ClientSession, parameters: dict[str, Any], limit: int = 1000,
                   skip: int = 0) -> dict[str, Any]:
    """The portal's request: flat requestParameters, record granularity, limit 1000."""
    async with client.post("/api/g_variants", json={"meta": {}, "query": {
            "requestParameters": parameters, "requestedGranularity": "record",
            "pagination": {"skip": skip, "limit": limit}}}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def _rows(body: dict[str, Any]) -> dict[tuple[str, int], dict[str, dict[str, Any]]]:
    found = {}
    for result_set in body["response"]["resultSets"]:
        for record in result_set["results"]:
            location = record["variation"]["location"]
            rows = record["frequencyInPopulations"][0]["frequencies"]
            found[(location["sequence_id"], location["interval"]["start"]["value"])] = {
                r["population"]: r for r in rows}
    return found


@pytest.mark.parametrize("site", range(len(SITES)))
async def test_every_population_row_is_counted_from_the_genotypes(nodes, site, beacon_schema):
    contig, pos = SITES[site]
    body = await _records(nodes["open"], {"referenceName": contig, "start": pos - 1,
                                          "end": pos, "assemblyId": "GRCh38"})
    assert beacon_schema(RESPONSE_SCHEMAS["record"], body) == []
    [record] = body["response"]["resultSets"][0]["results"]
    assert beacon_schema(RECORD_SCHEMA, record) == []
    [rows] = _rows(body).values()
    assert rows == _expected(site)
    assert body["response"]["resultSets"][0].get("beaconId") in (None, "org.test.populations")


async def test_the_portal_filters_rows_by_label(nodes):
    """Position-only query with limit 1000, every overlapping variant; each label the portal
    filters by (`FI`, `FI_M`, `M`) is present, parses with its regex, with the right numbers."""
    body = await _records(nodes["open"], {"referenceName": "X", "start": 49_999_000,
                                          "end": 50_001_000})
    found = _rows(body)
    assert len(found) == 2
    for (_, start), rows in found.items():
        site = SITES.index(("chrX", start + 1))
        for label in ("FI", "FI_M", "M"):
            assert rows[label] == _expected(site)[label]
        assert all(LABEL.fullmatch(label) for label in rows if label != DATASET)


def _listed_by_people(labels: list[str], floor: int) -> set[str]:
    """The populations a tier with `floor` may see, worked out on the people themselves: in
    order, each whose Venn regions with those before it all hold `floor` people or none."""
    members = {label: {i for i, p in enumerate(PEOPLE) if label in (
        DATASET, p.country, p.sex[0], f"{p.country}_{p.sex[0]}")} for label in labels}
    chosen: list[str] = []
    for label in labels:
        trial = [*chosen, label]
        regions = Counter(tuple(i in members[t] for t in trial) for i in range(len(PEOPLE)))
        if len(members[label]) >= floor and all(
                n >= floor for key, n in regions.items() if any(key)):
            chosen.append(label)
    return set(chosen)


async def test_default_policy_gives_the_whole_dataset_row_only(nodes):
    """An anonymous caller and the default rules: the whole dataset's row, lumped and
    rounded as any count of the tier, and no population's (`population_floor` 0)."""
    body = await _records(nodes["default"], {"referenceName": "1", "start": 999_999,
                                             "end": 1_000_000})
    [rows] = _rows(body).values()
    assert list(rows) == [DATASET]
    truth = _expected(0)[DATASET]["alleleCount"]
    assert rows[DATASET]["alleleCount"] == max(5, -(-truth // 5) * 5)


async def test_populations_given_lump_small_counts_and_omit_small_populations(nodes):
    """An anonymous caller on the PUBLIC dataset, the default rules but for
    `population_floor` 1 (populations given as far as the floor of 5 allows): populations of
    fewer than 5 people are not listed, nor those that would tell apart a smaller group (the
    whole less FI and SE: the few born in EE); counts from 1 to 5 read 5 (rounded up to the
    anonymous step of 5), and a row with such a count of one zygosity gives no split by
    zygosity."""
    site = 0
    body = await _records(nodes["populations"], {"referenceName": "1", "start": 999_999,
                                                 "end": 1_000_000})
    [rows] = _rows(body).values()
    expected = _expected(site)
    order = [DATASET, *sorted(label for label in expected if len(label) == 2),
             *sorted(label for label in expected if "_" in label),
             *sorted(label for label in expected if len(label) == 1)]
    assert set(rows) == _listed_by_people(order, 5)
    assert set(rows) < {label for label in expected if len(_listed_by_people([label], 5))}
    for label, row in rows.items():
        truth = expected[label]
        split = ("alleleCountHomozygous", "alleleCountHeterozygous")
        lumped = any(0 < truth[key] <= 5 for key in split)
        for key in ("alleleCount", *([] if lumped else split)):
            value = row[key]
            assert value % 5 == 0
            assert value == (0 if truth[key] == 0 else max(5, -(-truth[key] // 5) * 5))
        assert lumped is not (split[0] in row)


async def test_a_miss_says_how_many_alleles_were_called_at_the_site(nodes):
    """"Not seen in 76 alleles" is not "never sequenced": a sequence query for an allele the
    VCF does not hold, at a site it records, reports the site's allele number; a position
    with no record reports none."""
    async def miss(pos: int) -> dict[str, Any]:
        async with nodes["open"].get("/api/g_variants", params={
                "referenceName": "1", "start": str(pos - 1), "referenceBases": "A",
                "alternateBases": "T", "includeResultsetResponses": "MISS",
                "requestedGranularity": "count"}) as response:
            [result_set] = (await response.json())["response"]["resultSets"]
        assert result_set["exists"] is False
        return result_set["info"]
    called = sum(len([a for a in p.calls[0].split("/") if a != "."]) for p in PEOPLE)
    assert (await miss(SITES[0][1]))["alleleNumber"] == called
    assert "alleleNumber" not in await miss(SITES[0][1] + 7)


async def _sites_only(stack: AsyncExitStack, pg_server_url: str, directory: Path,
                      records: list[str], **changes: Any) -> ClientSession:
    """A node serving a sites-only file (contigs 1, 2 and X) of `records`, whose header
    declares the INFO keys they use, as Integer (AN and `AN_<label>` Number=1, the rest
    Number=A). Open disclosure unless `changes` say else."""
    keys = sorted({item.split("=")[0] for line in records
                   for item in line.split("\t")[7].split(";")})
    header = ["##fileformat=VCFv4.2", "##contig=<ID=1,length=248956422>",
              "##contig=<ID=2,length=242193529>", "##contig=<ID=X,length=156040895>",
              *(f'##INFO=<ID={key},Number={1 if key.split("_")[0] == "AN" else "A"},'
                'Type=Integer,Description="x">' for key in keys),
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    vcf = write_vcf_text(directory / "sites.vcf", "\n".join([*header, *records]) + "\n")
    db_url = await stack.enter_async_context(node_database(pg_server_url))
    await ingest(db_url, IngestRequest(vcf, DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
                                       workers=1))
    settings = Settings(database_url=db_url, beacon_id="org.test.sites",
                        data_dir=directory / "node",
                        **({"disclosure": OPEN_DISCLOSURE} | changes))
    client, _ = await serve_node(stack, settings)
    return client


def _by_alt(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {r["variation"]["alternateBases"]: r["frequencyInPopulations"][0]["frequencies"]
            for r in body["response"]["resultSets"][0]["results"]}


async def test_a_sites_only_file_gives_its_populations_from_info(pg_server_url, tmp_path,
                                                                beacon_schema):
    """`AC_<label>`, `AN_<label>`, `nhomalt_<label>`, `nhemi_<label>` for labels of the
    portal's form; other INFO keys (gnomAD's `AC_afr`) are not populations here. The whole
    dataset comes first, from AC and AN; without nhomalt, with no homozygous or heterozygous
    count (no one is hemizygous on an autosome)."""
    header = ["##fileformat=VCFv4.2", "##contig=<ID=1,length=248956422>",
              '##INFO=<ID=AC,Number=A,Type=Integer,Description="x">',
              '##INFO=<ID=AN,Number=1,Type=Integer,Description="x">']
    for label in ("FI", "FI_M", "M", "afr"):
        header += [f'##INFO=<ID=AC_{label},Number=A,Type=Integer,Description="x">',
                   f'##INFO=<ID=AN_{label},Number=1,Type=Integer,Description="x">',
                   f'##INFO=<ID=nhomalt_{label},Number=A,Type=Integer,Description="x">']
    header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    info = ("AC=9,3;AN=200;AC_FI=7,2;AN_FI=150;nhomalt_FI=1,0;AC_FI_M=4,1;AN_FI_M=70;"
            "nhomalt_FI_M=0,0;AC_M=5,2;AN_M=100;nhomalt_M=1,0;AC_afr=2,1;AN_afr=50;"
            "nhomalt_afr=0,0")
    vcf = write_vcf_text(tmp_path / "sites.vcf", "\n".join(header) + f"\n1\t500\t.\tA\tG,T\t.\tPASS\t{info}\n")
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        await ingest(db_url, IngestRequest(vcf, DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
                                           workers=1))
        settings = Settings(database_url=db_url, beacon_id="org.test.sites",
                            data_dir=tmp_path / "node", disclosure=OPEN_DISCLOSURE)
        client, _ = await serve_node(stack, settings)
        body = await _records(client, {"referenceName": "1", "start": 499, "end": 500})
    assert beacon_schema(RESPONSE_SCHEMAS["record"], body) == []
    by_alt = _by_alt(body)
    assert by_alt["G"] == [
        {"population": DATASET, "alleleFrequency": 9 / 200, "alleleCount": 9,
         "alleleNumber": 200, "alleleCountHemizygous": 0},
        {"population": "FI", "alleleFrequency": 7 / 150, "alleleCount": 7, "alleleNumber": 150,
         "alleleCountHomozygous": 1, "alleleCountHeterozygous": 5, "alleleCountHemizygous": 0},
        {"population": "FI_M", "alleleFrequency": 4 / 70, "alleleCount": 4, "alleleNumber": 70,
         "alleleCountHomozygous": 0, "alleleCountHeterozygous": 4, "alleleCountHemizygous": 0},
        {"population": "M", "alleleFrequency": 5 / 100, "alleleCount": 5, "alleleNumber": 100,
         "alleleCountHomozygous": 1, "alleleCountHeterozygous": 3, "alleleCountHemizygous": 0}]
    assert [r["alleleCount"] for r in by_alt["T"]] == [3, 2, 1, 2]


async def test_a_sites_only_file_gives_the_whole_dataset_and_only_the_zygosity_it_states(
        pg_server_url, tmp_path, beacon_schema):
    """The whole dataset's row (AC 10, AN 200, nhomalt 2) comes first, as with genotypes;
    before, a file with populations gave only theirs. SE_F has no nhomalt_SE_F: its
    homozygous and heterozygous counts are not given, where before they read 0 and 4. On chrX
    outside the PARs a population without nhemi (SE), and the whole dataset (whose nhemi is
    not read), give their homozygous carriers and no more: the rest of AC is heterozygous
    and hemizygous carriers in proportions the file does not say."""
    records = [("2\t1000\t.\tA\tG,T\t.\tPASS\tAC=10,3;AN=200;nhomalt=2,0;AC_FI=6,1;"
                "AN_FI=120;nhomalt_FI=1,0;AC_SE_F=4,2;AN_SE_F=80"),
               ("X\t50000000\t.\tA\tG\t.\tPASS\tAC=5;AN=150;nhomalt=1;AC_EE=3;AN_EE=90;"
                "nhomalt_EE=1;nhemi_EE=1;AC_SE=2;AN_SE=60;nhomalt_SE=1")]
    async with AsyncExitStack() as stack:
        client = await _sites_only(stack, pg_server_url, tmp_path, records)
        body = await _records(client, {"referenceName": "2", "start": 0, "end": 5000,
                                       "datasetIds": DATASET})
        on_x = await _records(client, {"referenceName": "X", "start": 49_999_999,
                                       "end": 50_000_000, "datasetIds": DATASET})
    for response in (body, on_x):
        assert beacon_schema(RESPONSE_SCHEMAS["record"], response) == []
        for record in response["response"]["resultSets"][0]["results"]:
            assert beacon_schema(RECORD_SCHEMA, record) == []
    by_alt = _by_alt(body)
    assert by_alt["G"] == [
        {"population": DATASET, "alleleFrequency": 10 / 200, "alleleCount": 10,
         "alleleNumber": 200, "alleleCountHomozygous": 2, "alleleCountHeterozygous": 6,
         "alleleCountHemizygous": 0},
        {"population": "FI", "alleleFrequency": 6 / 120, "alleleCount": 6, "alleleNumber": 120,
         "alleleCountHomozygous": 1, "alleleCountHeterozygous": 4, "alleleCountHemizygous": 0},
        {"population": "SE_F", "alleleFrequency": 4 / 80, "alleleCount": 4,
         "alleleNumber": 80, "alleleCountHemizygous": 0}]
    assert [(r["population"], r["alleleCount"], r.get("alleleCountHomozygous"))
            for r in by_alt["T"]] == [(DATASET, 3, 0), ("FI", 1, 0), ("SE_F", 2, None)]
    assert _by_alt(on_x)["G"] == [
        {"population": DATASET, "alleleFrequency": 5 / 150, "alleleCount": 5,
         "alleleNumber": 150, "alleleCountHomozygous": 1},
        {"population": "EE", "alleleFrequency": 3 / 90, "alleleCount": 3, "alleleNumber": 90,
         "alleleCountHomozygous": 1, "alleleCountHeterozygous": 0, "alleleCountHemizygous": 1},
        {"population": "SE", "alleleFrequency": 2 / 60, "alleleCount": 2, "alleleNumber": 60,
         "alleleCountHomozygous": 1}]


async def test_a_file_of_ac_and_an_alone_gives_them_as_the_tiers_counts(pg_server_url,
                                                                        tmp_path):
    """A sites-only file with AC and AN and no populations: the whole dataset's row,
    rounded up to the anonymous step (AC 41 reads 45, AN 202 reads 205), where it was given
    exact to every caller; exact under an open tier."""
    records = ["2\t1000\t.\tA\tG\t.\tPASS\tAC=41;AN=202"]
    rows = {}
    for name, disclosure in (("default", DisclosureSettings()), ("open", OPEN_DISCLOSURE)):
        (tmp_path / name).mkdir()
        async with AsyncExitStack() as stack:
            client = await _sites_only(stack, pg_server_url, tmp_path / name, records,
                                       disclosure=disclosure)
            rows[name] = _by_alt(await _records(client, {"referenceName": "2", "start": 0,
                                                         "end": 5000}))["G"]
    assert rows == {
        "default": [{"population": DATASET, "alleleFrequency": 45 / 205, "alleleCount": 45,
                     "alleleNumber": 205}],
        "open": [{"population": DATASET, "alleleFrequency": 41 / 202, "alleleCount": 41,
                  "alleleNumber": 202}]}


async def test_a_record_whose_rows_are_all_withheld_has_no_frequencies(pg_server_url,
                                                                         tmp_path,
                                                                         beacon_schema):
    """A sites-only file giving populations and no AC or AN, to a tier without a floor but
    without populations: no row is given, and the record has no frequencyInPopulations
    rather than an empty list, which the schema refuses."""
    records = ["2\t1000\t.\tA\tG\t.\tPASS\tAC_FI=30;AN_FI=1000;AC_SE=20;AN_SE=800"]
    tier = TierSettings(allele_floor=1, count_step=1, smooth_width=0, budget_per_window=0,
                        budget_per_day=0)
    async with AsyncExitStack() as stack:
        client = await _sites_only(stack, pg_server_url, tmp_path, records,
                                   disclosure=DisclosureSettings(anonymous=tier))
        body = await _records(client, {"referenceName": "2", "start": 0, "end": 5000})
    [record] = body["response"]["resultSets"][0]["results"]
    assert "frequencyInPopulations" not in record
    assert beacon_schema(RECORD_SCHEMA, record) == []


async def test_a_sites_only_file_tells_no_small_group_by_subtraction(pg_server_url, tmp_path):
    """Under the default anonymous tier (floor 5, step 5): the whole dataset (AN 2000, 1000
    people) less FI (AN 1200) less SE_F (AN 796) is 2 people, whose 4 alleles a caller would
    read as AC - AC_FI - AC_SE_F. So with the whole dataset and FI listed, SE_F is not; a
    population the file leaves out (SE, here SE_F's country) was a cell of 0 in the rows'
    arithmetic and the remainder read 400 people. At a site where the three add up, all are
    listed. One allele left over (AN 2001) is someone too."""
    records = [("2\t1000\t.\tA\tG\t.\tPASS\tAC=200;AN=2000;nhomalt=10;AC_FI=120;"
                "AN_FI=1200;nhomalt_FI=5;AC_SE_F=76;AN_SE_F=796;nhomalt_SE_F=3"),
               ("2\t2000\t.\tA\tG\t.\tPASS\tAC=200;AN=2000;nhomalt=10;AC_FI=120;"
                "AN_FI=1200;nhomalt_FI=5;AC_SE_F=80;AN_SE_F=800;nhomalt_SE_F=3"),
               ("2\t3000\t.\tA\tG\t.\tPASS\tAC=200;AN=2001;nhomalt=10;AC_FI=120;"
                "AN_FI=1200;nhomalt_FI=5;AC_SE_F=80;AN_SE_F=800;nhomalt_SE_F=3")]
    async with AsyncExitStack() as stack:
        client = await _sites_only(stack, pg_server_url, tmp_path, records,
                                   disclosure=POPULATIONS)
        body = await _records(client, {"referenceName": "2", "start": 0, "end": 5000})
    listed = {r["variation"]["location"]["interval"]["start"]["value"]:
              [f["population"] for f in r["frequencyInPopulations"][0]["frequencies"]]
              for r in body["response"]["resultSets"][0]["results"]}
    assert listed == {999: [DATASET, "FI"], 1999: [DATASET, "FI", "SE_F"],
                      2999: [DATASET, "FI"]}


async def test_a_miss_at_a_reference_only_record_or_block_says_what_was_called(pg_server_url,
                                                                              tmp_path):
    """An all-sites VCF's ALT `.` record and a gVCF reference block (`<NON_REF>`, END) are
    sites called reference: a sequence query finding nothing there reports their allele
    number; past the block's END, nothing."""
    lines = [
        "##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
        '##ALT=<ID=NON_REF,Description="any other allele">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="end of the block">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3",
        "chr1\t1000\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/1",
        "chr1\t2000\t.\tC\t.\t.\tPASS\t.\tGT\t0/0\t0/0\t./.",
        "chr1\t3000\t.\tT\t<NON_REF>\t.\tPASS\tEND=3100\tGT\t0/0\t0/0\t0/0"]
    vcf = write_vcf_text(tmp_path / "blocks.vcf", "\n".join(lines) + "\n")
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        report = await ingest(db_url, IngestRequest(vcf, DATASET, GRCH38, AccessLevel.PUBLIC,
                                                    DATASET, workers=1))
        assert report.rows == 1
        settings = Settings(database_url=db_url, beacon_id="org.test.blocks",
                            data_dir=tmp_path / "node", disclosure=OPEN_DISCLOSURE)
        client, _ = await serve_node(stack, settings)

        async def miss(pos: int) -> dict[str, Any]:
            async with client.get("/api/g_variants", params={
                    "referenceName": "1", "start": str(pos - 1), "alternateBases": "A",
                    "includeResultsetResponses": "MISS",
                    "requestedGranularity": "count"}) as response:
                [result_set] = (await response.json())["response"]["resultSets"]
            return result_set["info"]
        assert (await miss(2000))["alleleNumber"] == 4          # one sample not called
        assert (await miss(3050))["alleleNumber"] == 6          # inside the block
        assert (await miss(1000))["alleleNumber"] == 6          # the variant's own site
        assert "alleleNumber" not in await miss(3101)           # past the block's END


async def test_a_miss_under_a_floor_does_not_tell_a_hidden_variants_site(pg_server_url,
                                                                          tmp_path):
    """Two all-sites VCFs of 40 people, alike but for one person's private allele at 1005
    (A>G, hidden by the anonymous floor): every position of each is a record, variant or
    reference-only. An anonymous miss at any of them answers alike in both, so it does not
    tell whether that person is in the dataset. It answered each reference-only site's
    allele number and nothing at the hidden variant's: the one silent position in a called
    region was a membership test in one question (a review, 2026-12-05). A site with a
    variant the caller sees still says what was called there."""
    people = [f"S{i}" for i in range(40)]
    header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                         "FORMAT", *people])]

    def record(pos: int, ref: str, alt: str, calls: list[str]) -> str:
        return "\t".join(["chr1", str(pos), ".", ref, alt, ".", "PASS", ".", "GT", *calls])

    datasets = {"GDI-FI-WITH-1": True, "GDI-FI-WITHOUT-1": False}
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        for dataset, with_target in datasets.items():
            lines = [record(pos, "A", "G", ["0/1"] + ["0/0"] * 39)
                     if pos == 1005 and with_target else record(pos, "A", ".", ["0/0"] * 40)
                     for pos in range(1000, 1011)]
            lines.append(record(5000, "C", "T", ["0/1"] * 40))      # shown to anyone
            vcf = write_vcf_text(tmp_path / f"{dataset}.vcf", "\n".join(header + lines) + "\n")
            await ingest(db_url, IngestRequest(vcf, dataset, GRCH38, AccessLevel.PUBLIC,
                                               dataset, workers=1))
        settings = Settings(database_url=db_url, beacon_id="org.test.an",
                            data_dir=tmp_path / "node", disclosure=DisclosureSettings())
        client, _ = await serve_node(stack, settings)

        async def miss(dataset: str, pos: int, ref: str, alt: str) -> dict[str, Any]:
            async with client.get(f"/api/datasets/{dataset}/g_variants", params={
                    "referenceName": "1", "start": str(pos - 1), "referenceBases": ref,
                    "alternateBases": alt, "includeResultsetResponses": "MISS",
                    "requestedGranularity": "count"}) as response:
                body = await response.json()
            assert body["responseSummary"]["exists"] is False, body
            [result_set] = body["response"]["resultSets"]
            return result_set["info"]

        answers = {dataset: [await miss(dataset, pos, "A", "G") for pos in range(1000, 1011)]
                   for dataset in datasets}
        assert answers["GDI-FI-WITH-1"] == answers["GDI-FI-WITHOUT-1"]
        assert not any("alleleNumber" in info for info in answers["GDI-FI-WITH-1"])
        for dataset in datasets:
            assert (await miss(dataset, 5000, "C", "A"))["alleleNumber"] == 80


async def test_allele_numbers_count_the_alleles_called(pg_server_url, tmp_path):
    """A half-call (`./1`, `0/.`) names one allele and a haploid call (`1`) one: each adds 1
    to the allele number, as bcftools +fill-tags counts AN, not 2 as a diploid call does;
    a male's call outside the PARs of X counts once whatever it says (gnomAD's rule).
    Expected numbers worked out by hand, sample by sample, in the comments."""
    # S1 M, S2 F, S3 unknown, S4 F, S5 unknown, S6 M; all born in FI
    sexes = ["MALE", "FEMALE", "UNKNOWN_SEX", "FEMALE", "UNKNOWN_SEX", "MALE"]
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
             "##contig=<ID=chrX,length=156040895>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *(f"S{n}" for n in range(1, 7))]),
             # called alleles 1, 1, 1, 0, 2, 2: AN 7 (bcftools +fill-tags: AN=7;AC=5)
             "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t./1\t0/.\t1\t./.\t1/1\t0/1",
             # outside the PARs: males S1, S6 once each; S2 1, S3 1, S4 2, S5 none: AN 6
             "chrX\t5000000\t.\tA\tG\t.\tPASS\t.\tGT\t1\t./1\t1\t0/1\t.\t0/0"]
    vcf = write_vcf_text(tmp_path / "half.vcf", "\n".join(lines) + "\n")
    packets = tmp_path / "half.json"
    packets.write_text(json.dumps([{"id": f"S{n}", "subject": {
        "id": f"S{n}", "sex": sex, "countryOfBirth": "FI"}} for n, sex in enumerate(sexes, 1)]))
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        await ingest(db_url, IngestRequest(vcf, DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
                                           workers=1, individuals=packets))
        settings = Settings(database_url=db_url, beacon_id="org.test.half",
                            data_dir=tmp_path / "node", disclosure=OPEN_DISCLOSURE)
        client, _ = await serve_node(stack, settings)
        autosome = await _records(client, {"referenceName": "1", "start": 99, "end": 100})
        x = await _records(client, {"referenceName": "X", "start": 4_999_999, "end": 5_000_000})
    [autosome_rows] = _rows(autosome).values()
    [x_rows] = _rows(x).values()

    def numbers(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
        return {label: (row["alleleCount"], row["alleleNumber"]) for label, row in rows.items()}
    # chr1: M = S1 (1 of 1 called) + S6 (1 of 2); F = S2 (0 of 1) + S4 (none)
    assert numbers(autosome_rows) == {DATASET: (5, 7), "FI": (5, 7), "FI_M": (2, 3),
                                      "FI_F": (0, 1), "M": (2, 3), "F": (0, 1)}
    # chrX: M = S1 (1, once) + S6 (0, once); F = S2 (1 of 1) + S4 (1 of 2)
    assert numbers(x_rows) == {DATASET: (4, 6), "FI": (4, 6), "FI_M": (1, 2),
                               "FI_F": (2, 3), "M": (1, 2), "F": (2, 3)}
    dataset = autosome_rows[DATASET]           # S5 homozygous; S1, S3, S6 one copy each
    assert (dataset["alleleCountHomozygous"], dataset["alleleCountHeterozygous"]) == (1, 3)
    assert x_rows["M"]["alleleCountHemizygous"] == 1


# --- membership read off a small population's rows ------------------------------------------

_SMALL = {"SE": range(6), "NO": range(6, 13), "DK": range(13, 21)}   # the rest born in FI
_MEMBERS = 100


def _born(person: int) -> str:
    """The country of birth of member `person`, and of the stranger `person` + 100 (whom the
    attacker takes to be born in the same country)."""
    return next((c for c, people in _SMALL.items() if person % _MEMBERS in people), "FI")


async def _node_holding(stack: AsyncExitStack, pg_server_url: str, tmp_path: Path,
                        lines: list[str], packets: list[dict[str, Any]] | None = None,
                        **settings: Any) -> ClientSession:
    """A node of its own database serving one PUBLIC dataset, the VCF `lines` with the
    phenopackets `packets`, until `stack` closes; `settings` its Settings' changes."""
    db_url = await stack.enter_async_context(node_database(pg_server_url))
    vcf = write_vcf_text(tmp_path / "people.vcf", "\n".join(lines) + "\n")
    individuals = None
    if packets is not None:
        individuals = tmp_path / "people.json"
        individuals.write_text(json.dumps(packets))
    await ingest(db_url, IngestRequest(vcf, DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
                                       workers=1, individuals=individuals))
    client, _ = await serve_node(stack, Settings(
        database_url=db_url, beacon_id="org.test.populations", data_dir=tmp_path / "d",
        **settings))
    return client


def _members_and_strangers(seed: int, low: float, high: float, sites: int
                           ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Genotypes (0, 1 or 2 ALTs) at `sites` SNVs of allele frequencies drawn between `low`
    and `high`, of _MEMBERS members (the first rows) and as many strangers; the sites none
    of the members carries left out; their positions; and the members' VCF's lines."""
    rng = np.random.default_rng(seed)
    frequencies = rng.uniform(low, high, sites)
    genotypes = rng.binomial(2, frequencies, size=(2 * _MEMBERS, sites)).astype(np.int8)
    genotypes = genotypes[:, (genotypes[:_MEMBERS] > 0).any(axis=0)]
    positions = 10_000 + 10 * np.arange(genotypes.shape[1])
    calls = np.array(["0/0", "0/1", "1/1"])
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *(f"M{i:03d}" for i in range(_MEMBERS))])]
    lines += [f"chr1\t{pos}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls[genotypes[:_MEMBERS, s]])
              for s, pos in enumerate(positions)]
    return genotypes, positions, lines


async def test_small_populations_do_not_tell_who_is_in_them(pg_server_url, tmp_path):
    """The attacker holds a genome and knows where its owner was born. Reading a dataset's
    record pages, a population row that gives 0 for any allele of theirs says that they are
    not among its people; one that never does says they are. Under the default rules a
    probe (2026-12-03) told each of the 21 members born in SE, NO or DK (populations of 6
    to 8) from each of 21 strangers of the same countries, anonymously, in three record
    pages: lumping counts from 1 to k hides how many carry an allele, not whether any do.
    Now an anonymous caller gets the whole dataset's row only, and the attack decides
    nothing; given the populations (`population_floor` 1, an operator's choice), it decides
    every one, which is what the default withholds."""
    genotypes, positions, lines = _members_and_strangers(7, 0.01, 0.4, 3000)
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        vcf = write_vcf_text(tmp_path / "people.vcf", "\n".join(lines) + "\n")
        packets = tmp_path / "people.json"
        packets.write_text(json.dumps([{"id": f"P{i:03d}", "subject": {
            "id": f"M{i:03d}", "countryOfBirth": _born(i)}} for i in range(_MEMBERS)]))
        await ingest(db_url, IngestRequest(vcf, DATASET, GRCH38, AccessLevel.PUBLIC, DATASET,
                                           workers=1, individuals=packets))
        attacked = {}
        for name, changes in (("default", {}), ("populations", {"disclosure": POPULATIONS})):
            client, _ = await serve_node(stack, Settings(
                database_url=db_url, beacon_id="org.test.populations",
                data_dir=tmp_path / name, **changes))
            rows: dict[int, dict[str, dict[str, Any]]] = {}
            for skip in range(3):                 # the whole range: pages 1 to 3 (skip pages)
                body = await _records(client, {"referenceName": "1", "start": 0,
                                               "end": 1_000_000}, limit=1000, skip=skip)
                rows.update({position: row for (_, position), row in _rows(body).items()})
            column = {int(pos) - 1: s for s, pos in enumerate(positions)}
            if name == "default":
                assert all(list(row) == [DATASET] for row in rows.values())

            def member(person: int, rows: dict = rows, column: dict = column) -> bool:
                """No 0 in their population's row, for any of their alleles shown."""
                country = _born(person)
                told = [row[country]["alleleCount"] for position, row in rows.items()
                        if country in row and genotypes[person, column[position]]]
                return bool(told) and 0 not in told

            small = [i for people in _SMALL.values() for i in people]
            attacked[name] = (sum(map(member, small)),
                              sum(member(_MEMBERS + i) for i in small), len(rows))
    members, strangers, shown = attacked["populations"]
    assert (members, strangers) == (21, 0), attacked        # the attack works where it can
    members, strangers, shown = attacked["default"]
    assert shown > 1000 and (members, strangers) == (0, 0), attacked


def test_a_population_floor_above_the_allele_floor_bounds_every_group_told_apart() -> None:
    """`population_floor` n above the floor k: every group the rows tell apart holds n
    people (FI's 79 of 100 leave 21 others, told apart by the whole dataset's row less
    FI's), and the whole dataset's row is given however few it holds; 0 gives it alone,
    and a tier without floors every row."""
    from beacon.disclosure import Rules
    from beacon.populations import Frequency, frequencies
    rows = [Frequency(label, size, 10, 2 * int(size), None, None, None)
            for label, size in ((DATASET, 100), ("FI", 79), ("SE", 21))]

    def given(**rules: int) -> list[str]:
        return [row["population"] for row in frequencies(rows, Rules(**rules), False)]

    assert given(allele_floor=5, population_floor=20) == [DATASET, "FI", "SE"]
    assert given(allele_floor=5, population_floor=22) == [DATASET]
    assert given(allele_floor=5, population_floor=1000) == [DATASET]
    assert given(allele_floor=5, population_floor=0) == [DATASET]
    assert given(population_floor=0) == [DATASET]
    assert given() == [DATASET, "FI", "SE"]


def test_neither_anonymous_nor_bona_fide_callers_get_populations_by_default() -> None:
    """The default tiers' rules, and a dataset's own `disclosure` opting one tier in: the
    whole dataset's row only, but for a grant or the dataset's opt-in; a negative
    `population_floor` in a dataset's metadata is refused, naming it."""
    from beacon.disclosure import DisclosurePolicy, dataset_overrides
    from beacon.populations import Frequency, frequencies
    rows = [Frequency(label, size, 10, 2 * size, None, None, None)
            for label, size in ((DATASET, 1000), ("FI", 600), ("SE", 400))]
    policy = DisclosurePolicy()

    def given(tier: str, metadata: dict[str, Any]) -> list[str]:
        return [r["population"] for r in frequencies(rows, policy.rules(tier, metadata))]

    assert given("anonymous", {}) == given("bona_fide", {}) == [DATASET]
    assert given("granted", {}) == [DATASET, "FI", "SE"]
    opted = {"disclosure": {"bona_fide": {"population_floor": 100}}}
    assert given("bona_fide", opted) == [DATASET, "FI", "SE"]
    assert given("anonymous", opted) == [DATASET]
    with pytest.raises(ValueError, match=r"^disclosure\.anonymous\.population_floor: must not "
                                         r"be negative"):
        dataset_overrides({"disclosure": {"anonymous": {"population_floor": -1}}})


async def test_the_whole_dataset_row_does_not_tell_who_is_homozygous(pg_server_url, tmp_path):
    """The zygosity split of the whole dataset's row is a population row of its own: the
    homozygous carriers. Lumping 1 to k as k (and withholding the split beside a lumped
    count) hides how many of them there are, not whether any: a split shown with 0
    homozygous says that nobody in the dataset is homozygous for the allele. An attacker
    holding a genome reads each allele its owner holds twice: a member makes every such
    split lumped or above 0, a stranger's shows 0 for one allele or another. Under the
    default rules this told members from strangers, anonymously, in two record pages,
    outside the smooth floor and the loss accounts; a tier given no population
    (`population_floor` 0) is now given no split either."""
    genotypes, positions, lines = _members_and_strangers(11, 0.02, 0.3, 2000)
    async with AsyncExitStack() as stack:
        client = await _node_holding(stack, pg_server_url, tmp_path, lines)
        rows: dict[int, dict[str, Any]] = {}
        for skip in range(2):
            body = await _records(client, {"referenceName": "1", "start": 0,
                                           "end": 1_000_000}, limit=1000, skip=skip)
            rows.update({position: row[DATASET] for (_, position), row in _rows(body).items()})
    column = {int(pos) - 1: s for s, pos in enumerate(positions)}
    assert len(rows) > 500
    assert not any("alleleCountHemizygous" in row for row in rows.values())

    def member(person: int) -> bool:
        """No split showing 0 homozygous for any allele they hold twice."""
        told = [row.get("alleleCountHomozygous") for position, row in rows.items()
                if genotypes[person, column[position]] == 2]
        return 0 not in told

    members = sum(map(member, range(_MEMBERS)))
    strangers = sum(member(_MEMBERS + i) for i in range(_MEMBERS))
    assert members == _MEMBERS and strangers == _MEMBERS, (members, strangers)


async def test_a_miss_says_what_was_called_as_the_callers_tier_reports_counts(pg_server_url,
                                                                             tmp_path):
    """The alleles called at a missed site are a count of the dataset's: under the default
    anonymous tier (counts rounded up to 5) a miss reports them as the variant's own record
    does (82 alleles, 41 people: 85), and a dataset the caller may only know at boolean level
    reports none, as its resultsCount is 0. The miss said 82 to both, exact, where the
    record and the datasets' sampleCount are rounded."""
    people = [f"S{i}" for i in range(41)]
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *people]),
             "\t".join(["chr1", "5000", ".", "C", "T", ".", "PASS", ".", "GT",
                        *["0/1"] * 41])]
    vcf = write_vcf_text(tmp_path / "site.vcf", "\n".join(lines) + "\n")
    levels = {DATASET: AccessLevel.PUBLIC, "GDI-FI-SYN-003": AccessLevel.CONTROLLED}
    async with AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(node_database(pg_server_url))
        for dataset, level in levels.items():
            await ingest(db_url, IngestRequest(vcf, dataset, GRCH38, level, dataset, workers=1))
        settings = Settings(database_url=db_url, beacon_id="org.test.an",
                            data_dir=tmp_path / "node",
                            disclosure=DisclosureSettings(anonymous_discovery=True))
        client, _ = await serve_node(stack, settings)
        [record] = (await _records(client, {"referenceName": "1", "start": 4999,
                                            "alternateBases": "T", "datasetIds": [DATASET]})
                    )["response"]["resultSets"][0]["results"]
        assert record["frequencyInPopulations"][0]["frequencies"][0]["alleleNumber"] == 85
        async with client.get("/api/g_variants", params={
                "referenceName": "1", "start": "4999", "alternateBases": "A",
                "includeResultsetResponses": "MISS",
                "requestedGranularity": "count"}) as response:
            body = await response.json()
    sets = {s["id"]: s for s in body["response"]["resultSets"]}
    assert sets[DATASET]["info"] == {"returnedGranularity": "count", "alleleNumber": 85}
    assert sets["GDI-FI-SYN-003"]["info"] == {"returnedGranularity": "boolean"}


async def test_a_miss_counts_the_alleles_called_as_the_sites_record_does(pg_server_url,
                                                                         tmp_path):
    """A miss's alleles called at a site were the file's AN, which counts a man's diploid
    chrX call (`0/0`, as a caller of ploidy 2 writes it) twice and a woman's chrY call at
    all: "not seen in 32 alleles" at a chrY site whose own record counts 10 (its 10 men),
    and 32 on chrX and the mitochondrion where the record counts 22 and 16. The miss now
    counts them as the site's record does, and so at a site called reference (an all-sites
    VCF's ALT `.` record, 100 bases on), counted at ingest alike."""
    people = [*((f"M{i}", "MALE") for i in range(10)), *((f"F{i}", "FEMALE") for i in range(6))]
    sites = {"chrX": ("50000000", ["0/0"] * 10 + ["0/1"] * 6),
             "chrY": ("10000000", ["0/1"] * 10 + ["0/0"] * 6),
             "chrM": ("3000", ["1/1"] * 10 + ["0/0"] * 6)}
    lines = ["##fileformat=VCFv4.2",
             *(f"##contig=<ID={c},length={CONTIGS[c]}>" for c in sites),
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *(p for p, _ in people)]),
             *(line for contig, (pos, calls) in sites.items() for line in (
                 "\t".join([contig, pos, ".", "A", "G", ".", "PASS", ".", "GT", *calls]),
                 "\t".join([contig, str(int(pos) + 100), ".", "A", ".", ".", "PASS", ".", "GT",
                            *(call.replace("1", "0") for call in calls)])))]
    packets = [{"id": p, "subject": {"id": p, "sex": sex}} for p, sex in people]
    async with AsyncExitStack() as stack:
        client = await _node_holding(stack, pg_server_url, tmp_path, lines, packets,
                                     disclosure=OPEN_DISCLOSURE)
        for contig, (pos, _) in sites.items():
            [record] = (await _records(client, {"referenceName": contig,
                                                "start": int(pos) - 1, "alternateBases": "G"})
                        )["response"]["resultSets"][0]["results"]
            number = record["frequencyInPopulations"][0]["frequencies"][0]["alleleNumber"]
            for at in (int(pos), int(pos) + 100):
                async with client.get("/api/g_variants", params={
                        "referenceName": contig, "start": str(at - 1), "alternateBases": "T",
                        "includeResultsetResponses": "MISS",
                        "requestedGranularity": "count"}) as response:
                    [result_set] = (await response.json())["response"]["resultSets"]
                assert result_set["exists"] is False
                assert result_set["info"]["alleleNumber"] == number == {
                    "chrX": 22, "chrY": 10, "chrM": 16}[contig], (contig, at)


def _one_man_born_in_fi(sites: dict[str, list[int]]) -> tuple[list[str], list[dict]]:
    """A VCF's lines and phenopackets: born in FI, 39 women and one man (F000); born in SE,
    40 men and 10 women. At each chrY and chrX (outside the PARs) site of `sites` every SE man
    carries the ALT, every woman is heterozygous (on X), and the FI man carries it at the
    even sites only; chr1 sites are heterozygous for everyone."""
    people = [("F000", "MALE", "FI"), *((f"F{i:03d}", "FEMALE", "FI") for i in range(1, 40)),
              *((f"S{i:03d}", "MALE", "SE") for i in range(40)),
              *((f"S{i:03d}", "FEMALE", "SE") for i in range(40, 50))]
    lines = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c},length={n}>" for c, n in
                                       CONTIGS.items() if c != "chrM"),
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *(p[0] for p in people)])]
    for contig, positions in sites.items():
        for n, pos in enumerate(positions):
            calls = []
            for person, sex, country in people:
                if contig == "chr1":
                    calls.append("0/1")
                elif sex == "FEMALE":
                    calls.append("." if contig == "chrY" else "0/1")
                else:
                    calls.append("1" if country == "SE" or n % 2 == 0 else "0")
            lines.append("\t".join([contig, str(pos), ".", "A", "G", ".", "PASS", ".", "GT",
                                    *calls]))
    packets = [{"id": p, "subject": {"id": p, "sex": sex, "countryOfBirth": country}}
               for p, sex, country in people]
    return lines, packets


async def _one_man_rows(pg_server_url: str, tmp_path: Path
                        ) -> dict[str, dict[int, dict[str, dict[str, Any]]]]:
    """The rows of `_one_man_born_in_fi`'s records (a chr1 site, six of chrY and six of
    chrX outside the PARs) given to an anonymous caller under the default rules but for
    `population_floor` 1 (populations given as far as the floor of 5 allows), per contig and
    position. On chr1, FI, SE, SE_M and SE_F are listed: every group they tell apart holds
    10 people or more."""
    sites = {"chr1": [1_000_000], "chrY": [10_000_000 + 100 * n for n in range(6)],
             "chrX": [50_000_000 + 100 * n for n in range(6)]}
    lines, packets = _one_man_born_in_fi(sites)
    async with AsyncExitStack() as stack:
        client = await _node_holding(stack, pg_server_url, tmp_path, lines, packets,
                                     disclosure=POPULATIONS)
        found: dict[str, dict[int, dict[str, dict[str, Any]]]] = {}
        for contig, positions in sites.items():
            body = await _records(client, {"referenceName": contig, "start": positions[0] - 1,
                                           "end": positions[-1]})
            found[contig] = {pos: row for (_, pos), row in _rows(body).items()}
            assert len(found[contig]) == len(positions), contig
    [autosomal] = found["chr1"].values()
    assert set(autosomal) == {DATASET, "FI", "SE", "SE_M", "SE_F"}
    return found


async def test_rows_on_chry_tell_apart_no_group_of_men_smaller_than_the_floor(
        pg_server_url, tmp_path):
    """On chrY only men are called, so FI's row there (40 people, one man) was its one
    man's, and the whole dataset's less SE's was him too: FI's alleleCount read 5 (1
    lumped) where he carries the allele and 0 where he does not, his Y genotype read
    anonymously. A row on chrY is judged by its men: the whole dataset's is given, and M's
    (the same men), no other."""
    found = await _one_man_rows(pg_server_url, tmp_path)
    for pos, rows in found["chrY"].items():
        assert set(rows) == {DATASET, "M"}, (pos, rows)


@pytest.mark.parametrize("sexes", [True, False])
async def test_people_of_unknown_sex_count_on_chry_as_men(pg_server_url, tmp_path, sexes):
    """On chrY only men were counted, so a dataset loaded without phenopackets (or whose
    phenopackets give no sex), none of whose people is a man, read every chrY record it
    found for its carriers as an allele count of 0 in 0 alleles. Its people of unknown sex
    count there as men do, once; women are not counted (10 men and 6 of 10 people of unknown
    sex carry the allele, the 10 women have no call)."""
    people = [*((f"M{i}", "MALE") for i in range(10)), *((f"F{i}", "FEMALE") for i in range(10)),
              *((f"U{i}", None) for i in range(10))]
    calls = ["1"] * 10 + ["."] * 10 + ["1"] * 6 + ["0"] * 4
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID=chrY,length={CONTIGS['chrY']}>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *(p for p, _ in people)]),
             "\t".join(["chrY", "10000000", ".", "A", "G", ".", "PASS", ".", "GT", *calls])]
    packets = [{"id": p, "subject": {"id": p, **({"sex": sex} if sex else {})}}
               for p, sex in people] if sexes else None
    async with AsyncExitStack() as stack:
        client = await _node_holding(stack, pg_server_url, tmp_path, lines, packets,
                                     disclosure=OPEN_DISCLOSURE)
        rows = _rows(await _records(client, {"referenceName": "Y", "start": 9_999_999,
                                             "end": 10_000_000}))
    [found] = rows.values()
    assert found[DATASET] == {
        "population": DATASET, "alleleFrequency": 16 / 20, "alleleCount": 16,
        "alleleNumber": 20, "alleleCountHomozygous": 0, "alleleCountHeterozygous": 0,
        "alleleCountHemizygous": 16}
    if sexes:
        assert (found["M"]["alleleCount"], found["M"]["alleleNumber"]) == (10, 10)
        assert (found["F"]["alleleCount"], found["F"]["alleleNumber"]) == (0, 0)


async def test_a_split_on_chrx_tells_apart_no_group_of_men_smaller_than_the_floor(
        pg_server_url, tmp_path):
    """Outside the PARs of chrX the zygosity split's hemizygous count is a row's men's. FI's
    split (given where none of its counts is 1 to 5, lumped) was withheld exactly where its
    one man carries the allele, and given with 0 hemizygous where he does not: his X
    genotype, anonymously; the whole dataset's hemizygous count less SE_M's allele count was
    him too. A row's split there is given only where its men's row is listed (SE's: SE_M)."""
    found = await _one_man_rows(pg_server_url, tmp_path)
    for pos, rows in found["chrX"].items():
        assert "alleleCountHemizygous" not in rows["FI"], (pos, rows["FI"])
        assert "alleleCountHemizygous" not in rows[DATASET], (pos, rows[DATASET])
        assert rows["SE"]["alleleCountHemizygous"] == 40, (pos, rows["SE"])


async def test_a_population_mostly_uncalled_at_a_site_gives_no_frequency_above_one(
        pg_server_url, tmp_path):
    """Populations given (`population_floor` 1) with exact counts (`count_step` 1, as bona
    fide callers have them): at a site where one of FI's 40 people is called, a
    heterozygote, FI's row read alleleCount 5 (1, lumped up to the floor) of alleleNumber 2,
    alleleFrequency 2.5, which the model says lies between 0 and 1, and told that FI's one
    person called there carries the allele. The allele number is a count of the group's
    alleles like the allele count, and is lumped as it is."""
    people = [*(f"F{i:03d}" for i in range(40)), *(f"S{i:03d}" for i in range(40))]
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                        "FORMAT", *people]),
             "\t".join(["chr1", "5000", ".", "C", "T", ".", "PASS", ".", "GT", "0/1",
                        *["./."] * 39, *["0/1"] * 40])]
    packets = [{"id": p, "subject": {"id": p, "sex": "FEMALE",
                                     "countryOfBirth": "FI" if p[0] == "F" else "SE"}}
               for p in people]
    async with AsyncExitStack() as stack:
        client = await _node_holding(stack, pg_server_url, tmp_path, lines, packets,
                                     disclosure=DisclosureSettings(anonymous=TierSettings(
                                         population_floor=1, count_step=1)))
        [rows] = _rows(await _records(client, {"referenceName": "1", "start": 4999,
                                               "alternateBases": "T"})).values()
    assert rows["SE"]["alleleCount"] == 40 and rows["SE"]["alleleNumber"] == 80
    for label, row in rows.items():
        assert 0 <= row["alleleFrequency"] <= 1, (label, row)
        assert row["alleleCount"] <= row["alleleNumber"], (label, row)
    assert rows["FI"]["alleleNumber"] == 5, rows["FI"]


def _portal_request(parameters: dict[str, Any], filters: list[dict[str, Any]],
                    granularity: str = "record") -> dict[str, Any]:
    """The body the GDI portal's discovery service POSTs to /g_variants with a sex and a
    country of birth chosen (gdi-userportal-dataset-discovery-service, commit 02ccbde,
    src/main/java/.../beacon/persistence/BeaconGVariantsRequestMapper.java, map() lines
    76-110: `sex` and `countryOfBirth` taken out of the request parameters (line 27), each
    sent as a filter of scope `population`, `sexFilter` with the sex enum's value (`male`,
    `female`, lines 84-89) and `countryFilter` with the ISO 3166-1 alpha-2 code of the
    country's ISO3 enum (lines 90-96); HIT, record, testMode false, the default page,
    BeaconRequestMeta's apiVersion "2.0")."""
    return {"meta": {"apiVersion": "2.0"}, "query": {
        "filters": filters, "includeResultsetResponses": "HIT",
        "pagination": {"skip": 0, "limit": 1}, "requestParameters": parameters,
        "requestedGranularity": granularity, "testMode": False}}


def _sex(value: str) -> dict[str, Any]:
    return {"id": "sexFilter", "operator": "=", "value": value, "scope": "population"}


def _country(value: str) -> dict[str, Any]:
    return {"id": "countryFilter", "operator": "=", "value": value, "scope": "population"}


# The portal's variant: chr1:1,000,000 A>G, as its params name it (start an array)
PORTAL_VARIANT = {"referenceName": "1", "start": [999_999], "referenceBases": "A",
                  "alternateBases": "G", "assemblyId": "GRCh38"}
# (the filters as the portal sends them, the population they name, their echo)
PORTAL_POPULATIONS = [
    ([_sex("male"), _country("FI")], "FI_M", ["sexFilter=M", "countryFilter=FI"]),
    ([_sex("female")], "F", ["sexFilter=F"]), ([_country("SE")], "SE", ["countryFilter=SE"]),
    # as a filter class holding every field of the spec's filters writes them
    ([{**_sex("MALE"), "includeDescendantTerms": True, "similarity": "exact"},
      {**_country("SE"), "includeDescendantTerms": None, "similarity": None}], "SE_M",
     ["sexFilter=M", "countryFilter=SE"]),
    # ids padded as values may be (and every other filter's id is read stripped)
    ([{**_sex(" female "), "id": " sexFilter"}, {**_country("FI"), "id": "countryFilter\t"}],
     "FI_F", ["sexFilter=F", "countryFilter=FI"]),
    ([_country("ee"), _sex("F")], "EE_F", ["countryFilter=EE", "sexFilter=F"])]   # the last


async def _post(client: ClientSession, body: dict[str, Any], status: int = 200
                ) -> dict[str, Any]:
    async with client.post("/api/g_variants", json=body) as response:
        assert response.status == status, await response.text()
        return await response.json()


@pytest.mark.parametrize("node", ["open", "populations", "default"])
async def test_the_portals_population_filters_narrow_the_rows_to_their_population(
        nodes, node, beacon_schema):
    """The portal's sex and country filters (scope `population`) were a 400 ("variants are
    not filtered by individuals' terms here"), a review's "population-model decision"
    (2026-12-05). They name one population (FI_M; F; SE; EE_F), and each record lists that
    population's row alone: the very row the record lists without them, as the caller's tier
    is given it (every row on the open node; those the floor lists, with population_floor 1;
    none under the default rules, where the record has no frequencyInPopulations). The
    dataset's count, existence and records are the unfiltered query's: narrowed to a
    population they would tell its membership where its row is withheld."""
    plain = await _post(nodes[node], _portal_request(PORTAL_VARIANT, []))
    [plain_set] = plain["response"]["resultSets"]
    [plain_record] = plain_set["results"]
    plain_rows = {r["population"]: r for r in plain_record.get(
        "frequencyInPopulations", [{"frequencies": []}])[0]["frequencies"]}
    for filters, label, echo in PORTAL_POPULATIONS:
        body = await _post(nodes[node], _portal_request(PORTAL_VARIANT, filters))
        assert beacon_schema(RESPONSE_SCHEMAS["record"], body) == []
        [result_set] = body["response"]["resultSets"]
        assert {k: result_set[k] for k in ("exists", "resultsCount")} == {
            k: plain_set[k] for k in ("exists", "resultsCount")}
        [record] = result_set["results"]
        assert record["variantInternalId"] == plain_record["variantInternalId"]
        expected = [plain_rows[label]] if label in plain_rows else []
        rows = record["frequencyInPopulations"][0]["frequencies"] if expected else []
        assert rows == expected, (node, label)
        assert ("frequencyInPopulations" in record) is bool(expected)
        assert body["meta"]["receivedRequestSummary"]["filters"] == echo
    if node == "open":      # every row given: the rows are the genotypes' counts
        assert rows == [_expected(0)["EE_F"]]


@pytest.mark.parametrize("changes,field,says", [
    ({"filters": [_sex("male"), _country("FIN")]}, "filters[1].value", "alpha-2"),
    ({"filters": [_sex("other")]}, "filters[0].value", "female"),
    ({"filters": [{**_sex("male"), "operator": ">"}]}, "filters[0].operator", "="),
    ({"filters": [{**_sex("male"), "id": "ageFilter"}]}, "filters[0].id", "countryFilter"),
    ({"filters": [_sex("male"), _sex("male")]}, "filters[1].id", "one sex"),
    ({"filters": [_country("FI"), _country("SE")]}, "filters[1].id", "one country"),
    ({"filters": [{**_sex("male"), "value": ["male"]}]}, "filters[0].value", "string"),
    ({"filters": [{**_sex("male"), "operator": {"eq": "="}}]}, "filters[0].operator",
     "an object"),
    ({"filters": [_country("FI"), {**_sex("male"), "id": ["sexFilter"]}]}, "filters[1].id",
     "an array"),
    ({"filters": [{**_sex("male"), "bogus": 1}]}, "filters[0].bogus", "unknown"),
    ({"filters": [{**_sex("male"), "similarity": "high"}]}, "filters[0].similarity",
     "population"),
    ({"filters": [_sex("male")], "requestedGranularity": "count"}, "requestedGranularity",
     "record"),
    ({"filters": [_sex("male"), {"id": "NCIT:C20197"}]}, "filters", "population"),
])
async def test_a_population_filter_the_node_cannot_answer_is_a_400_naming_it(
        nodes, changes, field, says, beacon_schema):
    """A form the portal could send and the node cannot answer is refused by name, saying
    what is taken: ISO3 (the portal's earlier `countryFilter` value), a sex it does not
    know, another operator or id, either filter twice, a value that is not a string (an
    array or object anywhere refused as every filter's is, beacon/filters.py filter_item), a
    population at count granularity (it narrows rows, which only records carry), and a
    filter of individuals beside one of a population (as before, variants are not filtered
    by individuals' terms)."""
    body = _portal_request(PORTAL_VARIANT, [])
    body["query"].update(changes)
    error = await _post(nodes["open"], body, 400)
    assert beacon_schema(ERROR_SCHEMA, error) == []
    message = error["error"]["errorMessage"]
    assert message.split(":")[0] == field, message
    assert says in message, message


async def test_the_network_passes_the_portals_population_filters_on(nodes, beacon_schema):
    """The portal may be pointed at a network (/network/api): it refused the filters as the
    node did; it passes them on, and its answer holds the peer's narrowed rows, the filters
    echoed as the node echoes them."""
    body = _portal_request(PORTAL_VARIANT, [_sex("male"), _country("FI")])
    async with nodes["network"].post("/network/api/g_variants", json=body) as response:
        assert response.status == 200, await response.text()
        merged = await response.json()
    assert beacon_schema(RESPONSE_SCHEMAS["record"], merged) == []
    direct = await _post(nodes["open"], body)
    [merged_set] = merged["response"]["resultSets"]
    [record] = merged_set["results"]
    assert record == direct["response"]["resultSets"][0]["results"][0]
    assert record["frequencyInPopulations"][0]["frequencies"] == [_expected(0)["FI_M"]]
    assert merged["meta"]["receivedRequestSummary"]["filters"] == [
        "sexFilter=M", "countryFilter=FI"]


async def test_differencing_the_portals_population_filters_tells_no_small_group(nodes):
    """An attacker's differencing of the population filters (a review, 2026-12-05): every
    population the cohort has (FI, FI_F, SE_M, EE, M, F, ...) asked as the portal's filters,
    over every site, by an anonymous caller given populations as far as the floor of 5
    allows. FI_F against FI against F against the whole dataset would tell a group of 1 to 4
    people apart (EE's 4; the 2 men born in EE are M less FI_M less SE_M) had the filters
    narrowed anything themselves: each filtered record lists exactly the row it lists
    without them, or none, and every group of people that all the rows the attacker
    gathered, across every filter, tell apart holds 0 or at least 5 of the people counted
    at the site (on chrY its men)."""
    labels = sorted({label for p in PEOPLE for label in (
        p.country, p.sex[0], f"{p.country}_{p.sex[0]}")})
    regions = {"1": (999_000, 1_001_000), "X": (0, 60_000_000), "Y": (9_999_000, 10_001_000),
               "MT": (0, 16_569)}
    checked = 0
    for chromosome, (start, end) in regions.items():
        parameters = {"referenceName": chromosome, "start": [start], "end": [end],
                      "assemblyId": "GRCh38"}
        plain = _rows(await _post(nodes["populations"], _limit(_portal_request(
            parameters, []))))
        gathered: dict[tuple[str, int], set[str]] = {place: set() for place in plain}
        for label in labels:
            country, _, sex = label.partition("_") if len(label) != 1 else ("", "", label)
            filters = [*([_country(country)] if country else []),
                       *([_sex({"M": "male", "F": "female"}[sex])] if sex else [])]
            body = await _post(nodes["populations"], _limit(_portal_request(parameters,
                                                                            filters)))
            for record in (r for result_set in body["response"]["resultSets"]
                           for r in result_set["results"]):
                location = record["variation"]["location"]
                place = (location["sequence_id"], location["interval"]["start"]["value"])
                rows = record.get("frequencyInPopulations", [{"frequencies": []}])[0][
                    "frequencies"]
                assert rows == ([plain[place][label]] if label in plain[place] else []), (
                    place, label)
                gathered[place].update(row["population"] for row in rows)
        checked += len(gathered)
        for (_, start_pos), told in gathered.items():
            counted = [p for p in PEOPLE if chromosome != "Y" or p.sex == "MALE"]
            groups = Counter(tuple(label in (p.country, p.sex[0], f"{p.country}_{p.sex[0]}")
                                   for label in sorted(told)) for p in counted)
            assert all(n >= 5 for n in groups.values()), (chromosome, start_pos, told, groups)
            assert told, (chromosome, start_pos)      # the floor lists some population
    assert checked >= 4         # the sites the smooth floor shows this tier (its key fixed)


def _limit(body: dict[str, Any]) -> dict[str, Any]:
    """The portal's request, every record of the region on one page."""
    body["query"]["pagination"]["limit"] = 100
    return body
