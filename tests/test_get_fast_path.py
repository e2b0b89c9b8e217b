"""The GET fast path (`query_from_get`) against the full parser (`to_query(parse_get(...))`):
for any query string, the fast path either steps aside (None) or gives exactly the query --
or exactly the refusal -- the full path gives. Its speed is measured by bench/query.py."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beacon.request import parse_get, query_from_get, to_query
from beacon.request_error import RequestError

VALID_INTS = st.one_of(st.integers(0, 2000).map(str), st.integers(0, 2**31 - 1).map(str))
INTS = st.one_of(VALID_INTS, VALID_INTS, VALID_INTS,
                 st.sampled_from(["-1", "01", "1.0", " 2", "2 ", "", "9999999999", "2147483648",
                                  "1e3", "٣", "0x10", "+5"]))
LISTS = st.one_of(INTS, st.lists(INTS, min_size=1, max_size=3).map(",".join))
BASES = st.sampled_from(["A", "c", "N", "AN", "ACGT", "", "X", "<DEL>", "<del>", "A C"])
VALUES: dict[str, st.SearchStrategy[str]] = {
    "referenceName": st.sampled_from(["1", "chr1", "X", "chrM", "MT", "NC_000001.11",
                                      "refseq:NC_000017.11", "NC_000001.10", "99", "", "chr"]),
    "assemblyId": st.sampled_from(["GRCh38", "grch37", "hg19", "GCF_000001405.26", "mm10", ""]),
    "start": LISTS, "end": LISTS,
    "referenceBases": BASES, "alternateBases": BASES,
    "variantType": st.sampled_from(["SNP", "snv", "DEL", "CNV", "indel", "BOGUS", ""]),
    "variantMinLength": INTS, "variantMaxLength": INTS, "skip": INTS, "limit": INTS,
    "requestedGranularity": st.sampled_from(["boolean", "count", "record", "RECORD", ""]),
    "includeResultsetResponses": st.sampled_from(["HIT", "MISS", "ALL", "NONE", "hit"]),
}
OFF_PATH: dict[str, st.SearchStrategy[str]] = {   # aliases, lists, flags, filters, unknowns
    "granularity": st.sampled_from(["count", "record"]),
    "datasetIds": st.sampled_from(["GDI-FI-SYN-001", "A,B", ""]),
    "testMode": st.sampled_from(["true", "false"]),
    "filters": st.sampled_from(["", "HP:0001"]), "geneId": st.just("BRCA1"),
    "unknown": st.just("1"),
}


def _pairs(values: dict[str, st.SearchStrategy[str]], *, unique: bool) -> st.SearchStrategy:
    return st.lists(st.sampled_from(sorted(values)).flatmap(
        lambda key: values[key].map(lambda value: (key, value))), max_size=7,
        unique_by=(lambda pair: pair[0]) if unique else None)


# Mostly each fast-path key at most once (so it answers or refuses often), sometimes anything.
PAIRS = st.one_of(_pairs(VALUES, unique=True), _pairs(VALUES, unique=True),
                  _pairs(VALUES | OFF_PATH, unique=False))


def _outcome(parse):
    try:
        return parse(), None
    except RequestError as exc:
        return None, str(exc)


@settings(max_examples=3000, deadline=None)
@given(PAIRS)
def test_fast_path_answers_exactly_as_the_full_parser_or_steps_aside(pairs):
    fast, fast_error = _outcome(lambda: query_from_get(pairs))
    if fast is None and fast_error is None:
        return                                     # not plain: the full path decides
    full, full_error = _outcome(lambda: to_query(parse_get(pairs)))
    assert fast_error == full_error
    assert fast == full
    if fast is not None:                           # echoed in the same key order, too
        assert list(fast.echo.get("g_variant", {})) == list(full.echo.get("g_variant", {}))


@pytest.mark.parametrize("query", [
    "referenceName=1&start=225948001&alternateBases=A&requestedGranularity=count",
    "referenceName=chr17&start=7661778&end=7687490&variantType=DEL&requestedGranularity=record",
    "assemblyId=GRCh37&referenceName=X&start=100,200&end=300,400&skip=10&limit=5",
    ("referenceName=NC_000001.11&start=1000&referenceBases=N&alternateBases=A"
     "&includeResultsetResponses=ALL"),
])
def test_the_queries_clients_send_most_take_the_fast_path(query):
    pairs = [tuple(p.split("=", 1)) for p in query.split("&")]
    fast = query_from_get(pairs)
    assert fast is not None
    assert fast == to_query(parse_get(pairs))


@pytest.mark.parametrize("pairs", [
    [("referenceName", "99"), ("start", "5"), ("alternateBases", "A")],
    [("assemblyId", "GRCh37"), ("referenceName", "NC_000017.11"), ("start", "5"),
     ("alternateBases", "A")],
    [("assemblyId", "mm10"), ("referenceName", "1"), ("start", "5"), ("alternateBases", "A")],
])
def test_a_refused_place_is_refused_every_time(pairs):
    """Which assembly a query is on is remembered per (assemblyId, referenceName); a refusal
    is not, so asking again is refused again, in the same words."""
    refusals = []
    for _ in range(2):
        with pytest.raises(RequestError) as refused:
            query_from_get(pairs)
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    assert refusals[0].startswith(("referenceName:", "assemblyId:"))


# Query strings as sent: the characters a query string's fields are made of, those yarl
# decodes ('+', '%' and escapes, not all valid) and those it splits at
RAW_QUERIES = st.lists(st.sampled_from(
    ["a", "Z", "0", "=", "&", "+", "%", "%20", "%2B", "%3D", "%26", "%zz", ",", ".", "-", "_",
     "~", "referenceName", "start", ";", "!", "'", "(", "*", "é", "%C3%A9", "%FF"]),
    max_size=12).map("".join)


@settings(max_examples=1000, deadline=None)
@given(RAW_QUERIES)
def test_the_query_strings_pairs_are_what_request_query_reads(raw):
    """request_query reads a query string holding no percent-encoding itself
    (node/http/beacon_api.py _query_pairs): the same pairs as request.query, in order."""
    from aiohttp.test_utils import make_mocked_request

    from node.http.beacon_api import _query_pairs
    request = make_mocked_request("GET", f"/api/g_variants?{raw}")
    assert list(_query_pairs(request)) == list(request.query.items())
