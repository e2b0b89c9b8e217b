"""The POST fast path (`query_from_post`) against the full parser (`to_query(parse_body(...))`):
for any body, the fast path either steps aside (None) or gives exactly the query -- or
exactly the refusal -- the full path gives, with the body's own filters and meta. Its speed
is measured by bench/individuals.py."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beacon.request import (
    parse_body,
    post_query,
    query_from_post,
    to_query,
)
from beacon.request_error import RequestError
from tests.test_get_fast_path import _outcome

POSITIONS = st.one_of(st.integers(0, 2000), st.integers(0, 2**31 - 1),
                      st.sampled_from([-1, 2**31, True, 1.0, "7674944", None]))
LISTS = st.one_of(POSITIONS, st.lists(POSITIONS, min_size=0, max_size=3))
BASES = st.sampled_from(["A", "c", "N", "AN", "ACGT", "", "X", "<DEL>", "<del>", "A C", 1, None])
PARAMETERS: dict[str, st.SearchStrategy] = {
    "referenceName": st.sampled_from(["1", "chr1", "X", "chrM", "MT", "NC_000001.11",
                                      "refseq:NC_000017.11", "NC_000001.10", "99", "", 1]),
    "assemblyId": st.sampled_from(["GRCh38", "grch37", "hg19", "GCF_000001405.26", "mm10", ""]),
    "start": LISTS, "end": LISTS,
    "referenceBases": BASES, "alternateBases": BASES,
    "variantType": st.sampled_from(["SNP", "snv", "DEL", "CNV", "indel", "BOGUS", ""]),
    "variantMinLength": POSITIONS, "variantMaxLength": POSITIONS,
}
OFF_PATH: dict[str, st.SearchStrategy] = {       # the full path's alone
    "datasetIds": st.sampled_from([["GDI-FI-SYN-001"], "A", []]),
    "geneId": st.just("BRCA1"), "aminoacidChange": st.just("p.Val600Glu"),
    "genomicAlleleShortForm": st.just("NC_000017.11:g.7674858C>A"),
    "mateName": st.just("1"), "$schema": st.just("x"), "unknown": st.just(1),
}
FILTERS = st.one_of(st.just([]), st.lists(st.sampled_from([
    {"id": "NCIT:C16576", "scope": "individual"}, {"id": "NCIT:C3117"}, "HP:0001250",
    {"id": "diseases.ageOfOnset.iso8601duration", "operator": ">", "value": "P30Y"},
    {"id": "NCIT:C20197", "operator": None, "value": None}, {"id": "bogus"}, 7]),
    max_size=3), st.just(None), st.just("NCIT:C16576"))
QUERY: dict[str, st.SearchStrategy] = {
    "requestParameters": st.one_of(
        st.dictionaries(st.sampled_from(sorted(PARAMETERS)), st.nothing(), max_size=0),
        st.lists(st.sampled_from(sorted(PARAMETERS)), unique=True, max_size=6).flatmap(
            lambda keys: st.fixed_dictionaries({k: PARAMETERS[k] for k in keys})),
        st.lists(st.sampled_from(sorted(PARAMETERS | OFF_PATH)), unique=True, max_size=6
                 ).flatmap(lambda keys: st.fixed_dictionaries(
                     {k: (PARAMETERS | OFF_PATH)[k] for k in keys})),
        st.sampled_from([None, [], "x"])),
    "filters": FILTERS,
    "requestedGranularity": st.sampled_from(["boolean", "count", "record", "RECORD", 1]),
    "includeResultsetResponses": st.sampled_from(["HIT", "MISS", "ALL", "NONE", "hit"]),
    "pagination": st.sampled_from([{}, {"skip": 1, "limit": 5}]),
    "testMode": st.booleans(), "datasetIds": st.just(["GDI-FI-SYN-001"]),
}
MAIN = ("requestParameters", "filters", "requestedGranularity", "includeResultsetResponses")
PLAIN_POSITIONS = st.one_of(st.integers(0, 2000), st.integers(0, 2**31 - 1))
PLAIN_PARAMETERS = PARAMETERS | {
    "start": st.one_of(PLAIN_POSITIONS, st.lists(PLAIN_POSITIONS, min_size=1, max_size=3)),
    "end": st.one_of(PLAIN_POSITIONS, st.lists(PLAIN_POSITIONS, min_size=1, max_size=3)),
    "referenceBases": BASES.filter(lambda b: isinstance(b, str)),
    "alternateBases": BASES.filter(lambda b: isinstance(b, str)),
    "variantMinLength": PLAIN_POSITIONS, "variantMaxLength": PLAIN_POSITIONS}
SKIPS = st.sampled_from([0, 1, 2, -1, 2**31, "1", True, None])
LIMITS = st.sampled_from([0, 5, 10, 1001, -1, "5", 2.0, None, 2**63 - 1, 2**63, 2**64 - 1])
# mostly what the fast path takes (so it answers or refuses often), sometimes anything
PLAIN_QUERY = st.fixed_dictionaries({}, optional={
    "requestParameters": st.lists(st.sampled_from(sorted(PLAIN_PARAMETERS)), unique=True,
                                  max_size=6).flatmap(lambda keys: st.fixed_dictionaries(
                                      {k: PLAIN_PARAMETERS[k] for k in keys})),
    "filters": FILTERS.filter(lambda f: isinstance(f, list)),
    "requestedGranularity": st.sampled_from(["boolean", "count", "record"]),
    "includeResultsetResponses": st.sampled_from(["HIT", "MISS", "ALL", "NONE"]),
    "testMode": st.sampled_from([False, False, True, 0, None]),
    "pagination": st.one_of(
        st.just({}), st.fixed_dictionaries({"skip": SKIPS, "limit": LIMITS}),
        st.fixed_dictionaries({"limit": LIMITS}), st.fixed_dictionaries({"skip": SKIPS}),
        st.fixed_dictionaries({"limit": LIMITS, "currentPage": st.just("x")}),
        st.sampled_from([None, [], "x"]))})
# what a meta may ask of the request summary (beacon/request.py requested_meta), or not
METAS = st.sampled_from([
    {}, {"apiVersion": "v2.0"}, {"purposeOfUse": "DUO:0000006"},
    {"apiVersion": "v2.0", "requestedSchemas": [
        {"entityType": "genomicVariant", "schema": "ga4gh-beacon-variant-v2.0.0"}, "x"]},
    {"requestedSchemas": []}, {"apiVersion": 2}, {"requestedSchemas": [{"schema": 1}]}])
PLAIN_BODIES = st.fixed_dictionaries({}, optional={
    "meta": METAS,
    "query": PLAIN_QUERY})


def _query(keys: list[str]) -> st.SearchStrategy:
    return st.fixed_dictionaries({k: QUERY[k] for k in keys})


ANY_BODIES = st.fixed_dictionaries({}, optional={
    "meta": st.one_of(METAS, st.just([])),
    "query": st.one_of(st.lists(st.sampled_from(MAIN), unique=True).flatmap(_query),
                       st.lists(st.sampled_from(sorted(QUERY)), unique=True).flatmap(_query)),
    "requestedGranularity": st.just("count"), "$schema": st.just("x")})
BODIES = st.one_of(PLAIN_BODIES, PLAIN_BODIES, ANY_BODIES)


@settings(max_examples=3000, deadline=None)
@given(BODIES, st.booleans())
def test_fast_path_answers_exactly_as_the_full_parser_or_steps_aside(raw, with_filters):
    fast, fast_error = _outcome(lambda: query_from_post(raw, with_filters=with_filters))
    if fast is None and fast_error is None:
        return                                     # not plain: the full path decides
    body, full_error = _outcome(lambda: parse_body(raw))
    if body is not None:
        full, full_error = _outcome(lambda: to_query(body, with_filters=with_filters))
    assert fast_error == full_error
    if fast is not None:
        assert fast.query == full
        assert fast.filters == body.query.filters
        assert fast.meta == body.meta
        # echoed in the same key order, too
        assert list(fast.query.echo.get("g_variant", {})) == list(full.echo.get("g_variant", {}))


@pytest.mark.parametrize("raw", [
    {"meta": {"apiVersion": "v2.0"}, "query": {
        "requestParameters": {"referenceName": "2", "start": [227481261], "alternateBases": "A"},
        "filters": [{"id": "NCIT:C16576"}, {"id": "NCIT:C3117"}],
        "requestedGranularity": "count"}},
    {"meta": {}, "query": {"includeResultsetResponses": "HIT", "requestedGranularity": "record",
                           "filters": [{"id": "NCIT:C16576", "scope": "individual"}],
                           "requestParameters": None}},
    {"query": {"requestParameters": {"assemblyId": "GRCh38", "referenceName": "17",
                                     "start": [7661778], "end": [7687490]}}},
    {"meta": {}, "query": {"includeResultsetResponses": "HIT", "requestedGranularity": "record",
                           "testMode": False, "pagination": {},
                           "filters": [{"id": "NCIT:C3117", "scope": "individual",
                                        "operator": None, "value": None}],
                           "requestParameters": {"referenceName": "17", "start": [7674944],
                                                 "alternateBases": "T"}}},
    {"query": {"requestParameters": {}, "pagination": {"skip": 2, "limit": 5}}},
])
def test_the_bodies_clients_send_most_take_the_fast_path(raw):
    fast = query_from_post(raw, with_filters=True)
    assert fast is not None
    body = parse_body(raw)
    assert fast.query == to_query(body, with_filters=True)
    assert fast.filters == body.query.filters


def test_filters_step_aside_where_the_endpoint_refuses_them():
    raw = {"query": {"filters": [{"id": "NCIT:C16576"}]}}
    assert query_from_post(raw) is None            # the full path words the refusal
    with pytest.raises(RequestError, match="filters"):
        to_query(parse_body(raw))


def _read(text: bytes, with_filters: bool) -> tuple[object, object]:
    """post_query's outcome, with the query's echo order beside it (== does not see it)."""
    outcome, error = _outcome(lambda: post_query(text, with_filters=with_filters))
    order = list(outcome.query.echo.get("g_variant", {})) if outcome is not None else None
    return (outcome, order), error


def _as_orjson_reads(text: bytes, with_filters: bool) -> tuple[object, object]:
    """What the fast path gave before its typed reading: orjson, then query_from_post."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return (None, None), None
    outcome, error = _outcome(lambda: query_from_post(raw, with_filters=with_filters))
    order = list(outcome.query.echo.get("g_variant", {})) if outcome is not None else None
    return (outcome, order), error


@settings(max_examples=3000, deadline=None)
@given(BODIES, st.booleans())
def test_the_typed_reading_of_a_body_is_orjsons_and_query_from_posts(raw, with_filters):
    """post_query (msgspec's typed decoding first) takes, refuses and makes exactly what
    orjson's reading and query_from_post do, the echo's key order included."""
    text = orjson.dumps(raw)
    assert _read(text, with_filters) == _as_orjson_reads(text, with_filters)


@pytest.mark.parametrize("text", [
    b"", b" ", b"null", b"[]", b"{}", b'{"query": null}', b'{"meta": null}',
    b'{"query": {"requestParameters": []}}', b'{"query": {"pagination": null}}',
    b'{"query": {"pagination": {"skip": 0, "limit": 10}}}',
    b'{"query": {"pagination": {"skip": 1, "limit": 18446744073709551615}}}',
    (b'{"query": {"requestParameters": {"start": 1.0, "referenceName": "1", '
    b'"alternateBases": "A"}}}'),
    (b'{"query": {"requestParameters": {"start": true, "referenceName": "1", '
    b'"alternateBases": "A"}}}'),
    (b'{"query": {"requestParameters": {"start": 99999999999999999999999, '
    b'"referenceName": "1", "alternateBases": "A"}}}'),
    (b'{"query": {"requestParameters": {"start": [1], "start": [5], "referenceName": "1", '
    b'"alternateBases": "A"}}}'),
    (b'{"query": {"requestParameters": {"alternateBases": "A", "start": 5, '
    b'"referenceName": "1"}}}'),
    b'{"query": {"testMode": true}}', b'{"query": {"testMode": 0}}',
    b'{"query": {"filters": [{"id": "NCIT:C3117", "value": 99999999999999999999999}]}}',
    b'{"query": {"filters": [1e999]}}', b'{"query": {"filters": ["\xff"]}}',
    b'{"meta": {"x": 1e999}}', b'{"meta": {"apiVersion": "\\ud800"}}',
    b'{"meta": {"purposeOfUse": 99999999999999999999999}}',
    b'{"meta": {"apiVersion": "v2"}, "meta": {"apiVersion": 2}}',
    b'{"query": {"requestParameters": {"referenceName": "1\\u0000"}}}',
    b'{"meta": {"x": ' + b"[" * 1020 + b"]" * 1020 + b"}}",
    b'{"query": {"filters": ' + b"[" * 1022 + b"]" * 1022 + b"}}",
    b'{"query": {}} x', b'\xef\xbb\xbf{"query": {}}',
])
@pytest.mark.parametrize("with_filters", [False, True])
def test_bodies_the_typed_reading_refuses_are_read_as_before(text, with_filters):
    (typed, typed_order), typed_error = _read(text, with_filters)
    (read, read_order), read_error = _as_orjson_reads(text, with_filters)
    assert (typed_order, typed_error) == (read_order, read_error)
    assert (typed is None) == (read is None)
    if typed is not None:        # a thousand levels deep: == would pass Python's stack
        assert typed.query == read.query
        assert (list(typed.meta), len(typed.filters)) == (list(read.meta), len(read.filters))


@pytest.mark.parametrize("raw", [
    {"meta": {"apiVersion": "v2.0"}, "query": {
        "requestParameters": {"referenceName": "2", "start": [227481261], "alternateBases": "A"},
        "filters": [{"id": "NCIT:C16576"}, {"id": "NCIT:C3117"}],
        "requestedGranularity": "count"}},
    {"query": {"requestParameters": {"assemblyId": "GRCh38", "referenceName": "17",
                                     "start": 7661778, "end": [7687490]},
               "pagination": {"skip": 2, "limit": 5}, "testMode": False}},
])
def test_the_bodies_clients_send_most_are_read_by_the_typed_decoder(raw, monkeypatch):
    """Not by the reading it falls back to, which would make the test above say nothing."""
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("read as before")
    read = post_query(orjson.dumps(raw), with_filters=True)
    monkeypatch.setattr("beacon.request.query_from_post", refused)
    assert post_query(orjson.dumps(raw), with_filters=True) == read
    assert read is not None and read.query == query_from_post(raw, with_filters=True).query
