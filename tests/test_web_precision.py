"""What the researchers' page (docs/web.md) says of counts it cannot state exactly (totals of
rounded counts, frequencies of rounded allele counts) and of answers that are not answers
(a network that asked nobody, a catalogue's refusal), in Debian's headless Chromium against
real nodes on 127.0.0.1 (the fixtures and helpers of tests/test_web.py)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from aiohttp import ClientSession, web

from auth.access import AccessLevel
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from node.app import create_app
from node.database import create_pool
from node.settings import DisclosureSettings, Settings, TierSettings
from tests.conftest import free_port, node_database, serve_app, write_vcf_text
from tests.test_web import (  # noqa: F401 - fixtures
    FI_OPEN,
    SE_PEOPLE,
    SE_PUBLIC,
    SE_SAMPLES,
    SE_SITES,
    TITLES,
    Page,
    WebNetwork,
    _catalogue_page,
    _phenopackets,
    _vcf,
    browser,
    network_over,
    tab,
    web_network,
)

TWO = ("GDI-XX-TWO-001", "GDI-XX-TWO-002")


@asynccontextmanager
async def two_rounded_datasets(pg_server_url: str, directory: Path) -> AsyncIterator[str]:
    """A node with the default disclosure (its sharp floor) holding two datasets in which
    17-7674944-G-A is carried by six people: each answers a count of 1 variant rounded up
    to 5, and the node's total is their sum, 10, stated `rounded` (next multiple of 5)."""
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(node_database(pg_server_url))
        packets = directory / "two.json"
        packets.write_text(_phenopackets(SE_PEOPLE))
        for dataset in TWO:
            await ingest(db, IngestRequest(
                write_vcf_text(directory / f"{dataset}.vcf", _vcf(SE_SAMPLES, SE_SITES)),
                dataset, GRCH38, AccessLevel.PUBLIC, f"Cohort {dataset}", workers=1,
                individuals=packets, metadata={"country": "SE"}))
        settings = Settings(database_url=db, data_dir=directory, beacon_id="org.test.two",
                            beacon_name="Two rounded datasets",
                            disclosure=DisclosureSettings(anonymous=TierSettings(smooth_width=0)))
        pool = await create_pool(db, settings)
        stack.push_async_callback(pool.close)
        yield await serve_app(stack, create_app(settings, pool))


async def test_a_total_of_rounded_counts_is_not_worded_as_one_rounded_count(
        pg_server_url: str, tmp_path: Path, tab: Page):  # noqa: F811 - the fixture
    """Two datasets each answer "1 to 5" (a count of 1 rounded up to 5); the node's total is
    10, `rounded` to the next multiple of 5. Worded as one rounded count, the status line said
    "total 6 to 10": at least 6, where the two hold 2 at least. A total of several rounded
    counts is the sum of what each may be (2 to 10)."""
    async with two_rounded_datasets(pg_server_url, tmp_path) as url:
        await tab.open(url)
        await tab.search("17-7674944-G-A")
        counts = [r["Count"] for r in await tab.rows()]
        assert counts == ["1 to 5 rounded up to a multiple of 5"] * 2, counts
        status = await tab.text("#status")
        assert "6 to 10" not in status, status
        assert "total 2 to 10" in status, status


async def _counting_peer(stack: AsyncExitStack) -> str:
    """A Beacon of other software: every variant query answered with a count and no
    resultSets, its precision stated (10, rounded up to a multiple of 5); its base URL."""
    async def count(request: web.Request) -> web.Response:
        return web.json_response({
            "meta": {"beaconId": "org.other.beacon", "apiVersion": "v2.0.0",
                     "returnedGranularity": "count"},
            "responseSummary": {"exists": True, "numTotalResults": 10,
                                "countPrecision": "rounded",
                                "countAdjustedTo": ["rounded up to a multiple of 5"]}})
    app = web.Application()
    app.add_routes([web.get("/api/g_variants", count), web.post("/api/g_variants", count)])
    return await serve_app(stack, app)


async def test_a_peers_count_without_datasets_keeps_the_precision_it_stated(
        pg_server_url: str, tmp_path: Path, tab: Page):  # noqa: F811 - the fixture
    """A peer answering a count for all its datasets (no resultSets, as other software
    may), rounded up to a multiple of 5: its line in the network's answer keeps the
    precision it stated, and the page's row for it says "6 to 10", where it showed the
    bare 10, as exact."""
    async with AsyncExitStack() as stack:
        peer = await _counting_peer(stack)
        url = await stack.enter_async_context(
            network_over(pg_server_url, tmp_path, "org.other.beacon", peer))
        async with ClientSession() as client, client.get(
                f"{url}/network/api/g_variants", params={
                    "referenceName": "17", "start": "7674943", "referenceBases": "G",
                    "alternateBases": "A", "requestedGranularity": "count"}) as response:
            line = (await response.json())["info"]["network"]["peers"][0]
        assert {key: line.get(key) for key in ("numTotalResults", "countPrecision",
                                                "countAdjustedTo")} == {
            "numTotalResults": 10, "countPrecision": "rounded",
            "countAdjustedTo": ["rounded up to a multiple of 5"]}, line
        await tab.open(url)
        await tab.search("17-7674944-G-A")
        rows = [r for r in await tab.rows() if r["Dataset"] == "(all its datasets)"]
        assert [r["Count"] for r in rows] == ["6 to 10 rounded up to a multiple of 5"], rows


async def test_frequencies_from_rounded_counts_are_not_shown_as_exact(
        web_network: WebNetwork, tab: Page):  # noqa: F811 - the fixtures
    """An anonymous caller of SE's dataset (the default disclosure: counts rounded up to a
    multiple of 5) gets its variant's record with the whole dataset's frequency made of
    rounded counts: 6 alleles of 24 (0.25) come as 10 of 25, 0.4000. The page showed
    "0.4000 10 25" as it shows FI's exact ones, nothing saying they were rounded, a
    frequency 60% off read to four decimals. The table now says its counts are rounded as
    the dataset's count is; FI's exact ones say nothing of the kind."""
    await tab.open(web_network.network_url)
    await tab.search("17-7674944-G-A")
    se = tab.page.locator("section.dataset-records", has_text=TITLES[SE_PUBLIC])
    cells = (await se.locator("table.frequencies tbody").inner_text()).split("\t")
    assert cells[1:4] == ["0.4000", "10", "25"], cells
    said = await se.locator(".populations").inner_text()
    assert "rounded up to a multiple of 5" in said, said
    fi = tab.page.locator("section.dataset-records", has_text=TITLES[FI_OPEN])
    assert "rounded" not in await fi.locator(".populations").inner_text()


async def test_a_network_whose_catalogue_lists_no_node_yet_is_still_searched(
        pg_server_url: str, tmp_path: Path, tab: Page):  # noqa: F811 - the fixture
    """A network taking its peers from the catalogue (peers_from_catalogue) whose catalogue
    could not be read as the page opened has no peers in its /info: the page took it for a
    node without peers, asked the node's own /api (no dataset of its own) for every search
    until reloaded, and said "Not found" of what the network holds once its catalogue is
    read. Its config says it is a network: it is asked as one, and its answer, which asked
    no node (its info.network.catalogue says why), is no "not found" either: it was shown
    as "Not found at 0 of 1 node", a row "(all datasets) not found" of the node's own."""
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(node_database(pg_server_url))
        settings = Settings(database_url=db, data_dir=tmp_path, beacon_id="org.test.cat-net",
                            beacon_name="Network of the catalogue's nodes",
                            catalogue_url=f"http://127.0.0.1:{free_port()}",
                            peers_from_catalogue=True, peer_timeout_seconds=1.0)
        pool = await create_pool(db, settings)
        stack.push_async_callback(pool.close)
        url = await serve_app(stack, create_app(settings, pool))
        await tab.open(url)
        await tab.search("17-7674944-G-A")
        assert (await tab.text("#get-url")).startswith(f"{url}/network/api/g_variants?")
        status = await tab.text("#status")
        assert status.startswith('No answer (this is not "not found")'), status
        assert "could not read its list of nodes from its catalogue" in status, status
        assert "not found" not in await tab.page.locator("#result-table").inner_text()


async def test_a_catalogue_refusal_of_another_type_is_read_as_absent(
        pg_server_url: str, tmp_path: Path, tab: Page):  # noqa: F811 - the fixture
    """A catalogue's refusal whose `error.message` is no text (an object, as another party's
    service may write one) was written as JavaScript writes an object, "The catalogue
    answered 400: [object Object]."; one JavaScript cannot write as text ({"toString": 1})
    threw, and the status said "Searching the catalogue…" for ever. Such a message is read
    as absent, as every other value of the catalogue's of another type is."""
    node_port = free_port()

    async def datasets(request: web.Request) -> web.Response:
        message = {"en": "bad"} if request.query.get("q") == "object" else {"toString": 1}
        return web.json_response({"error": {"message": message}}, status=400, headers={
            "Access-Control-Allow-Origin": f"http://127.0.0.1:{node_port}"})

    async with _catalogue_page(pg_server_url, tmp_path, tab, node_port, datasets) as page:
        box = page.get_by_label("Find in the catalogue")
        for searches, words in enumerate(("object", "hostile"), 1):
            await box.fill(words)
            await box.press("Enter")
            await page.wait_for_selector(f'body[data-catalogue-searches="{searches}"]',
                                         timeout=5000)
            assert await tab.text("#catalogue-status") == "The catalogue answered 400.", words
    tab.errors[:] = [e for e in tab.errors if "Failed to load resource" not in e]
