"""Access control against a running node and a running development AAI on 127.0.0.1, with keys
minted for this run: an attack matrix of real and forged JWTs, each with its exact outcome,
granularity per caller, and JWKS key rotation."""
from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import logging
import random
import string
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import asyncpg
import jwt
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer, make_mocked_request
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from auth.access import AccessLevel
from auth.authenticate import INCOMPLETE_CACHE_SECONDS
from auth.claims import AccessClaims
from auth.dev_issuer import (
    DevIssuer,
    DevIssuerConfig,
    DevUser,
    SigningKey,
    trusted_issuer_entry,
)
from auth.issuers import IssuerRegistry, TrustedIssuer
from auth.jwks import MAX_KEYS_PER_KID, JwksCache, KeyNotFound
from auth.passport import (
    BONA_FIDE,
    BONA_FIDE_TYPES,
    GRANT,
    MAX_VISAS,
    Passport,
    passport_of,
)
from auth.tokens import InvalidToken, verify
from beacon import store
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from node.app import create_app
from node.database import create_pool
from node.http import beacon_api, network_api
from node.http.aai_api import create_aai_app
from node.http.app_keys import SETTINGS
from node.http.caller import refusal
from node.logs import JsonFormatter, TextFormatter
from node.settings import DisclosureSettings, Settings
from tests.beacon_schemas import ERROR_SCHEMA, RESPONSE_SCHEMAS
from tests.conftest import (
    OPEN_DISCLOSURE,
    free_port,
    issuers_answering_together,
    node_database,
    raw_status,
    send_slowly,
    serve_app,
    write_vcf_text,
)

PUBLIC, REGISTERED, CONTROLLED, OTHER = ("GDI-FI-SYN-001", "GDI-FI-SYN-002", "GDI-FI-SYN-003",
                                         "GDI-FI-SYN-004")
ALIAS = "https://fdp.example.fi/dataset/GDI-FI-SYN-003"
VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1
chr1\t200\t.\tC\tT\t.\tPASS\t.\tGT\t0|1\t0|0
"""
QUERY = {"referenceName": "1", "start": "0", "end": "1000", "requestedGranularity": "record"}



@dataclass
class Stack:
    node: ClientSession
    aai: DevIssuer
    aai_url: str
    attacker: SigningKey
    attacker_url: str
    settings: Settings
    pool: asyncpg.Pool


@pytest.fixture(scope="module")
async def stack(pg_server_url: str, tmp_path_factory) -> AsyncIterator[Stack]:
    """A node with four datasets trusting a development AAI; plus an attacker's JWKS."""
    aai_port, attacker_port = free_port(), free_port()
    aai_url = f"http://127.0.0.1:{aai_port}"
    aai = DevIssuer(DevIssuerConfig(issuer=aai_url))
    aai_server = TestServer(create_aai_app(aai), host="127.0.0.1", port=aai_port)
    attacker = SigningKey("aai-access-1", None)          # same kid as the real key
    attacker_app = web.Application()

    async def attacker_jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [attacker.jwk()]})
    attacker_app.router.add_get("/jwks", attacker_jwks)
    attacker_server = TestServer(attacker_app, host="127.0.0.1", port=attacker_port)
    await aai_server.start_server()
    await attacker_server.start_server()

    async with node_database(pg_server_url) as url:
        async for stack in _node_trusting(url, tmp_path_factory.mktemp("auth"), aai, aai_url,
                                          attacker, f"http://127.0.0.1:{attacker_port}"):
            yield stack
    for server in (aai_server, attacker_server):
        await server.close()


async def _node_trusting(url: str, directory: Path, aai: DevIssuer, aai_url: str,
                         attacker: SigningKey, attacker_url: str) -> AsyncIterator[Stack]:
    path = write_vcf_text(directory / "a.vcf", VCF)
    levels = {PUBLIC: AccessLevel.PUBLIC, REGISTERED: AccessLevel.REGISTERED,
              CONTROLLED: AccessLevel.CONTROLLED, OTHER: AccessLevel.CONTROLLED}
    for dataset_id, level in levels.items():
        metadata = {"aliases": [ALIAS]} if dataset_id == CONTROLLED else {}
        await ingest(url, IngestRequest(path, dataset_id, GRCH38, level, dataset_id,
                                        metadata=metadata, workers=1))
    settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=url, data_dir=directory, beacon_id="org.test.auth",
                        trusted_issuers=[TrustedIssuer(**trusted_issuer_entry(aai_url))],
                        jwks_cooldown_seconds=0)
    pool = await create_pool(url, settings)
    node_server = TestServer(create_app(settings, pool), host="127.0.0.1")
    await node_server.start_server()
    async with ClientSession(base_url=str(node_server.make_url(""))) as client:
        yield Stack(client, aai, aai_url, attacker, attacker_url, settings, pool)
    await node_server.close()
    await pool.close()


def _claims(stack: Stack, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": stack.aai_url, "sub": "mallory", "aud": "gdi-node", "iat": now,
              "exp": now + 600, "jti": uuid.uuid4().hex, "scope": "openid"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _visa(stack: Stack, kind: str, value: str, *, key: SigningKey | None = None,
          **changes: Any) -> str:
    """A Visa Document Token (keys at the AAI's visa jku), asserted `by` as the development
    AAI asserts it: a grant by a DAC, anything else by the source's system."""
    now = int(time.time())
    by = "dac" if kind == "ControlledAccessGrants" else "system"
    claims = {"iss": stack.aai_url, "sub": "mallory", "iat": now, "exp": now + 600,
              "ga4gh_visa_v1": {"type": kind, "value": value, "source": stack.aai_url,
                                "by": by, "asserted": now}}
    claims.update(changes)
    return (key or stack.aai.visa_key).sign(claims, headers={"jku": stack.aai.visa_jku})


def _passport(stack: Stack, visas: list[str]) -> str:
    return stack.aai.access_key.sign(_claims(stack, ga4gh_passport_v1=visas))


def _b64(part: dict | bytes) -> str:
    raw = part if isinstance(part, bytes) else json.dumps(part).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(header: dict, claims: dict) -> str:
    return f"{_b64(header)}.{_b64(claims)}."


def _hmac_signed(header: dict, claims: dict, secret: bytes) -> str:
    """The classic confusion attack: HMAC keyed with the issuer's public key (PyJWT itself
    refuses to produce it, so it is built by hand)."""
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def _granularities(node: ClientSession, token: str | None,
                         schema=None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await node.get("/api/g_variants", params={
        **QUERY, "includeResultsetResponses": "ALL"}, headers=headers)
    body = await response.json()
    assert response.status == 200, body
    if schema:
        assert schema(RESPONSE_SCHEMAS[body["meta"]["returnedGranularity"]], body) == []
    if "response" not in body:
        return {}
    return {s["id"]: s["info"]["returnedGranularity"] for s in body["response"]["resultSets"]}


def _forged(stack: Stack) -> dict[str, str]:
    """Each forged or broken token, by the attack it tries."""
    real = stack.aai.access_key
    public_pem = real.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "alg none": _unsigned({"alg": "none", "typ": "JWT"}, _claims(stack)),
        "HS256 with the issuer's public key": _hmac_signed(
            {"alg": "HS256", "typ": "JWT", "kid": real.kid}, _claims(stack), public_pem),
        "unknown kid": jwt.encode(_claims(stack), other, algorithm="RS256",
                                  headers={"kid": "nobody"}),
        "right kid, wrong key": stack.attacker.sign(_claims(stack)),
        "key from an untrusted jku": stack.attacker.sign(
            _claims(stack), headers={"jku": f"{stack.attacker_url}/jwks"}),
        "key embedded as jwk": stack.attacker.sign(
            _claims(stack), headers={"jwk": stack.attacker.jwk()}),
        "key from x5u": stack.attacker.sign(
            _claims(stack), headers={"x5u": f"{stack.attacker_url}/cert.pem"}),
        "wrong iss": real.sign(_claims(stack, iss="https://evil.example")),
        "iss with a trailing slash": real.sign(_claims(stack, iss=stack.aai_url + "/")),
        "wrong aud": real.sign(_claims(stack, aud="someone-else")),
        "expired": real.sign(_claims(stack, exp=int(time.time()) - 3600)),
        "not yet valid": real.sign(_claims(stack, nbf=int(time.time()) + 3600)),
        "issued in the future": real.sign(_claims(stack, iat=int(time.time()) + 3600)),
        "missing exp": real.sign(_claims(stack, exp=None)),
        "missing sub": real.sign(_claims(stack, sub=None)),
        "oversized header": real.sign(_claims(stack), headers={"pad": "x" * 4000}),
        "garbage": "not-a-token",
        "two segments": "abc.def",
        "tampered payload": _tamper(real.sign(_claims(stack))),
    }


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def _assert_refused(stack: Stack, token: str, beacon_schema, attack: str) -> None:
    """401 with `WWW-Authenticate` and a Beacon error body that does not quote the token."""
    response = await stack.node.get("/api/g_variants", params=QUERY,
                                    headers={"Authorization": f"Bearer {token}"})
    assert response.status == 401, attack
    body = await response.json()
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert body["error"]["errorCode"] == 401, attack
    assert beacon_schema(ERROR_SCHEMA, body) == []
    assert token not in json.dumps(body) or len(token) < 20


async def _serve_jwks(stack: AsyncExitStack, published: Callable[[], object]) -> str:
    """The URL of a server on 127.0.0.1 whose /jwks answers `published()` as it is then."""
    app = web.Application()

    async def serve(request: web.Request) -> web.Response:
        return web.json_response(published())
    app.router.add_get("/jwks", serve)
    return await serve_app(stack, app)


async def test_attack_matrix_every_bad_token_is_refused_with_401(stack, beacon_schema):
    for attack, token in _forged(stack).items():
        await _assert_refused(stack, token, beacon_schema, attack)


def _in_an_hour() -> int:
    return int(time.time()) + 3600


MALFORMED_CLAIMS = {
    "exp a numeric string": lambda s: {"exp": str(_in_an_hour())},
    "exp true": lambda s: {"exp": True},
    "exp a list": lambda s: {"exp": [_in_an_hour()]},
    "exp infinite": lambda s: {"exp": float("inf")},
    "iat a numeric string": lambda s: {"iat": str(int(time.time()))},
    "nbf a numeric string": lambda s: {"nbf": str(int(time.time()))},
    "sub a number": lambda s: {"sub": 42},
    "sub empty": lambda s: {"sub": ""},
    # a NUL was a 500 (PostgreSQL's text cannot hold it: budget, audit trail); a line break
    # would forge lines of `gdi-node audit list`
    "sub with a NUL": lambda s: {"sub": "mallory\x00"},
    "sub with a line break": lambda s: {"sub": "mallory\n2026-12-02 10:00:00  address 10.0.0.1"},
    "sub with a C1 control": lambda s: {"sub": "mallory\x85"},
    # Unicode's own line breaks, which editors, log viewers and Python's splitlines honour,
    # and characters that disguise a line (U+202E shows the rest of it reversed)
    "sub with a line separator": lambda s: {"sub": "mallory\u20282026-12-02 10:00:00  x"},
    "sub with a paragraph separator": lambda s: {"sub": "mallory\u2029x"},
    "sub with a right-to-left override": lambda s: {"sub": "alice\u202eecila"},
    "sub with a zero-width space": lambda s: {"sub": "ali\u200bce"},
    "sub with a no-break space": lambda s: {"sub": "alice\u00a0"},
    # as invisible at the end of a line or in a padded column (`gdi-node audit list`)
    "sub ending in a space": lambda s: {"sub": "alice "},
    "sub beginning with a space": lambda s: {"sub": " alice"},
    "jti with a line break": lambda s: {"jti": "1\n2026-12-02 10:00:00 INFO forged"},
    "iss a list": lambda s: {"iss": [s.aai_url]},
    "aud a number": lambda s: {"aud": 7},
    "scope a list": lambda s: {"scope": ["openid", "ga4gh_passport_v1"]},
    "jti an object": lambda s: {"jti": {"id": 1}},
    "ga4gh_passport_v1 a string": lambda s: {"ga4gh_passport_v1": "eyJ.eyJ.sig"},
    # a visa (signed with the access tokens' key, as brokers do) presented as the bearer
    # token: it was the visa's subject, identified
    "a visa as the access token": lambda s: {"ga4gh_visa_v1": {
        "type": "ResearcherStatus", "value": "https://example.org/bona-fide",
        "source": s.aai_url, "by": "system", "asserted": int(time.time())}},
}


def _signed_as_is(key: SigningKey, claims: dict[str, Any]) -> str:
    """Signed without PyJWT's claim checks (it refuses to encode some malformed claims)."""
    payload = json.dumps(claims).encode()       # float("inf") becomes Infinity, as sent
    return jwt.PyJWS().encode(payload, key.private, algorithm="RS256",
                              headers={"kid": key.kid})


@pytest.mark.parametrize("malformed", sorted(MALFORMED_CLAIMS))
async def test_malformed_claims_of_a_trusted_issuer_are_401_not_500(stack, beacon_schema,
                                                                  malformed):
    """Signed by the trusted issuer's real key: only the claim's JSON type is wrong."""
    claims = _claims(stack, **MALFORMED_CLAIMS[malformed](stack))
    token = _signed_as_is(stack.aai.access_key, claims)
    await _assert_refused(stack, token, beacon_schema, malformed)


async def test_a_sub_that_would_forge_or_disguise_a_line_is_refused_by_its_code_point(stack):
    """The 401 says which claim and which character, never the value; a `sub` of printable
    non-ASCII letters still passes."""
    for sub, point in (("mallory\u2028x", "U+2028"), ("alice\u202eecila", "U+202E")):
        token = _signed_as_is(stack.aai.access_key, _claims(stack, sub=sub))
        response = await stack.node.get("/api/info", headers={"Authorization": f"Bearer {token}"})
        message = (await response.json())["error"]["errorMessage"]
        assert response.status == 401 and f"sub: Value error, must hold only printable " \
            f"characters, not {point}" in message, message
        assert sub not in message
    token = _signed_as_is(stack.aai.access_key, _claims(stack, sub="jörg@example.org"))
    response = await stack.node.get("/api/info", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200


async def test_a_sub_longer_than_openid_connects_255_characters_is_a_401_not_a_500(
        stack, beacon_schema):
    """OpenID Connect Core (2, ID Token) caps `sub` at 255 ASCII characters. Unbounded, a
    signed `sub` of 3,000 letters was a 500 on every query of a node keeping budgets: the
    caller's key did not fit PostgreSQL's index of the budget (btree rows of at most
    2,704 bytes)."""
    rng = random.Random(57)
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits)
        node = await exits.enter_async_context(_node_with(
            stack, [_trusted(url)], disclosure=DisclosureSettings()))
        for length, expected in ((255, 200), (256, 401), (3000, 401)):
            sub = "".join(rng.choice(string.ascii_letters) for _ in range(length))
            token = aai.access_key.sign(_claims(stack, iss=url, sub=sub))
            response = await node.get("/api/g_variants", params=QUERY,
                                      headers={"Authorization": f"Bearer {token}"})
            body = await response.json()
            assert response.status == expected, (length, body)
            if expected == 401:
                assert "sub: String should have at most 255 characters" in (
                    body["error"]["errorMessage"])
                assert beacon_schema(ERROR_SCHEMA, body) == []


async def test_a_token_of_bytes_that_are_not_utf8_is_a_401_not_a_500(stack):
    """aiohttp hands such bytes on as lone surrogates, which every use of the token (its
    hash for the cache, its JWT) failed on: a 500 on every endpoint of the node and the AAI."""
    node = str(stack.node._base_url)
    for base, line in ((node, b"GET /api/info HTTP/1.1"), (node, b"GET /fdp HTTP/1.1"),
                       (stack.aai_url, b"GET /userinfo HTTP/1.1")):
        status = await raw_status(base, line, b"Authorization: Bearer abc\xff\xfedef")
        assert status == 401, (base, line)


@pytest.mark.parametrize("header", ["Basic YWxpY2U6YWxpY2U=", "Bearer", "Bearer ", "bearer"])
async def test_malformed_authorization_headers_are_401_not_anonymous(stack, header):
    response = await stack.node.get("/api/info", headers={"Authorization": header})
    assert response.status == 401


@pytest.mark.parametrize("path", ["/api/info", "/api/datasets", "/api/g_variants",
                                  "/api/service-info"])
@pytest.mark.parametrize("header", [False, True])
async def test_a_token_in_the_url_is_a_400_naming_access_token_never_anonymous(
        stack, beacon_schema, path, header):
    """RFC 6750 2.3's `access_token` query parameter, which the node does not take (a URL
    is kept in browsers' histories and proxies' logs: RFC 6750 5.3). Ignored, it answered
    the caller as anonymous, a silent downgrade of a caller who meant to be known; with a
    header as well, two tokens, one of them unread. A 400 naming it, its value not quoted."""
    token = stack.aai.access_key.sign(_claims(stack))
    params = {**(QUERY if path == "/api/g_variants" else {}), "access_token": token}
    response = await stack.node.get(path, params=params, headers={
        "Authorization": f"Bearer {token}"} if header else {})
    body = await response.json()
    assert response.status == 400, body
    assert body["error"]["errorMessage"].startswith("access_token: ")
    assert beacon_schema(ERROR_SCHEMA, body) == []
    assert token not in json.dumps(body)
    assert (await stack.node.get(path, params={"access_tokens": "x"})).status in (200, 400)


async def test_valid_token_without_visas_is_not_more_than_anonymous(stack):
    anonymous = await _granularities(stack.node, None)
    token = stack.aai.access_key.sign(_claims(stack))
    assert await _granularities(stack.node, token) == anonymous == {
        PUBLIC: "record", REGISTERED: "boolean", CONTROLLED: "boolean", OTHER: "boolean"}


VISA_ATTACKS = {
    "visa signed by an untrusted issuer": lambda s: _visa(
        s, "ControlledAccessGrants", CONTROLLED, key=s.attacker, iss="https://evil.example"),
    "visa signed with a key not at the issuer's jku": lambda s: _visa(
        s, "ControlledAccessGrants", CONTROLLED, key=s.attacker),
    "expired visa": lambda s: _visa(s, "ControlledAccessGrants", CONTROLLED,
                                    exp=int(time.time()) - 60),
    "visa for another sub": lambda s: _visa(s, "ControlledAccessGrants", CONTROLLED,
                                            sub="someone-else"),
    "prefix of the dataset id": lambda s: _visa(s, "ControlledAccessGrants", CONTROLLED[:-1]),
    "suffix-extended dataset id": lambda s: _visa(s, "ControlledAccessGrants",
                                                  CONTROLLED + "1"),
    "URL ending in the dataset id": lambda s: _visa(
        s, "ControlledAccessGrants", f"https://evil.example/{CONTROLLED}"),
    "visa with conditions": lambda s: _visa(
        s, "ControlledAccessGrants", CONTROLLED, ga4gh_visa_v1={
            "type": "ControlledAccessGrants", "value": CONTROLLED, "source": s.aai_url,
            "by": "dac", "asserted": int(time.time()),
            "conditions": [[{"type": "AffiliationAndRole", "value": "const:x"}]]}),
    "grant of the wrong type": lambda s: _visa(s, "AffiliationAndRole", CONTROLLED),
    "grant asserted by self (the user's own claim)": lambda s: _grant(s, by="self"),
    "grant asserted by a peer": lambda s: _grant(s, by="peer"),
    "grant asserted by a 'by' the spec does not define": lambda s: _grant(s, by="admin"),
    "grant from a source its signer is not trusted to relay": lambda s: _grant(
        s, source="https://rems.elsewhere.example"),
    "grant asserted in the future": lambda s: _grant(s, asserted=_in_an_hour()),
    "asserted a numeric string": lambda s: _grant(s, asserted=str(int(time.time()))),
    "value a list": lambda s: _grant(s, value=[CONTROLLED]),
    "by missing": lambda s: _grant(s, by=None),
    "ga4gh_visa_v1 not an object": lambda s: _visa(
        s, "ControlledAccessGrants", CONTROLLED, ga4gh_visa_v1=[CONTROLLED]),
    "visa exp a numeric string": lambda s: _visa(
        s, "ControlledAccessGrants", CONTROLLED, exp=str(_in_an_hour())),
    "visa sub a number": lambda s: _visa(s, "ControlledAccessGrants", CONTROLLED, sub=7),
}


def _grant(stack: Stack, **assertion: Any) -> str:
    """A ControlledAccessGrants visa for CONTROLLED, signed by the trusted AAI's visa key,
    with `assertion` changing its ga4gh_visa_v1 (None removes a field)."""
    body = {"type": "ControlledAccessGrants", "value": CONTROLLED, "source": stack.aai_url,
            "by": "dac", "asserted": int(time.time()), **assertion}
    return _visa(stack, "ControlledAccessGrants", CONTROLLED,
                 ga4gh_visa_v1={k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize("attack", sorted(VISA_ATTACKS))
async def test_bad_visas_grant_nothing(stack, attack):
    """The visa is dropped; the token itself stays valid (200)."""
    token = _passport(stack, [VISA_ATTACKS[attack](stack)])
    seen = await _granularities(stack.node, token)
    assert seen[CONTROLLED] == "boolean" and seen[OTHER] == "boolean"


@pytest.mark.parametrize("by", ["dac", "so", "system"])
async def test_grants_asserted_by_a_dac_signing_official_or_system_grant(stack, by):
    seen = await _granularities(stack.node, _passport(stack, [_grant(stack, by=by)]))
    assert seen[CONTROLLED] == "record"


async def test_linked_identities_are_ignored(stack):
    """LinkedIdentities are not evaluated: linking mallory to carol does not make carol's
    grant mallory's (nor does the link itself grant anything)."""
    link = _visa(stack, "LinkedIdentities", f"carol,{quote(stack.aai_url, safe='')}")
    carols = _visa(stack, "ControlledAccessGrants", CONTROLLED, sub="carol")
    seen = await _granularities(stack.node, _passport(stack, [link, carols]))
    assert seen[CONTROLLED] == "boolean"


async def test_exact_grant_and_configured_alias_grant_record_access(stack):
    for value in (CONTROLLED, ALIAS):
        seen = await _granularities(stack.node, _passport(
            stack, [_visa(stack, "ControlledAccessGrants", value)]))
        assert seen[CONTROLLED] == "record" and seen[OTHER] == "boolean"


@pytest.mark.parametrize("kinds,expected", [
    (("AcceptedTermsAndPolicies",), "boolean"), (("ResearcherStatus",), "boolean"),
    (("AcceptedTermsAndPolicies", "ResearcherStatus"), "count")])
async def test_bona_fide_needs_both_halves(stack, kinds, expected):
    token = _passport(stack, [_visa(stack, kind, BONA_FIDE) for kind in kinds])
    assert (await _granularities(stack.node, token))[REGISTERED] == expected


async def test_bona_fide_with_another_value_is_not_registered(stack):
    token = _passport(stack, [_visa(stack, k, "https://example.org/terms")
                              for k in ("AcceptedTermsAndPolicies", "ResearcherStatus")])
    assert (await _granularities(stack.node, token))[REGISTERED] == "boolean"


def _grant_claims(stack: Stack, *, issued: int | None = None, **changes: Any) -> dict:
    """A grant for CONTROLLED issued at `issued` (default now) with the openid scope, as a
    Visa Access Token has it; `changes` change its claims (None removes one)."""
    now = int(time.time())
    iat = now if issued is None else issued
    claims = {"iss": stack.aai_url, "sub": "mallory", "iat": iat, "exp": now + 600,
              "jti": uuid.uuid4().hex, "scope": "openid",
              "ga4gh_visa_v1": {"type": "ControlledAccessGrants", "value": CONTROLLED,
                                "source": stack.aai_url, "by": "dac", "asserted": iat},
              **changes}
    return {k: v for k, v in claims.items() if v is not None}


def _visa_access_token(stack: Stack, **changes: Any) -> str:
    """A Visa Access Token: no jku, signed with the key of the AAI's jwks_uri."""
    return stack.aai.access_key.sign(_grant_claims(stack, **changes))


# Each visa, what it gives on CONTROLLED, and what the node logs when it drops it (GA4GH
# Passport v1.2 "Visa Format"; AAI OIDC Profile v1.2, Conformance for Claim Clearinghouses)
VISA_FORMATS = {
    "a visa access token issued now": (lambda s: _visa_access_token(s), "record", None),
    "a visa access token issued 59 minutes ago": (
        lambda s: _visa_access_token(s, issued=int(time.time()) - 59 * 60), "record", None),
    "a visa access token issued 61 minutes ago": (
        lambda s: _visa_access_token(s, issued=int(time.time()) - 61 * 60), "boolean",
        "more than an hour ago"),
    "a visa access token issued two days ago": (
        lambda s: _visa_access_token(s, issued=int(time.time()) - 2 * 86400), "boolean",
        "more than an hour ago"),
    "a visa with neither jku nor a scope": (
        lambda s: _visa_access_token(s, scope=None), "boolean", "must have jku or a scope"),
    "a visa without jku whose scope lacks openid": (
        lambda s: _visa_access_token(s, scope="ga4gh_passport_v1"), "boolean",
        "must have jku or a scope"),
    "a visa document token with the openid scope": (
        lambda s: _visa(s, "ControlledAccessGrants", CONTROLLED, scope="openid"), "boolean",
        "must not have the openid scope"),
    "a visa document token whose jku is the issuer's own jwks_uri": (
        lambda s: s.aai.access_key.sign(_grant_claims(s, scope=None),
                                        headers={"jku": f"{s.aai_url}/jwks"}), "record", None),
    # "The payload claims MUST NOT include aud" (AAI OIDC Profile, Visa Access Token Format)
    "a visa access token with aud": (
        lambda s: _visa_access_token(s, aud="gdi-node"), "boolean", "must not have aud"),
}


@pytest.mark.parametrize("case", sorted(VISA_FORMATS))
async def test_a_visa_is_a_document_token_or_an_access_token_under_an_hour_old(
        stack, caplog, case):
    """A visa without jku is a Visa Access Token: the node does not ask its issuer whether
    one more than an hour old still holds, so it refuses it (fails closed). A visa of
    neither format is dropped, the reason logged; a jku that is the issuer's own jwks_uri
    names keys the node already trusts."""
    make, expected, reason = VISA_FORMATS[case]
    caplog.set_level(logging.INFO, logger="auth.passport")
    seen = await _granularities(stack.node, _passport(stack, [make(stack)]))
    assert seen[CONTROLLED] == expected
    dropped = [r.getMessage() for r in caplog.records if r.name == "auth.passport"]
    assert (reason is None and not dropped) or any(reason in m for m in dropped), dropped


async def _passport_read_directly(stack: Stack, visas: list[str]) -> Passport:
    """The visas that count for mallory's Passport carrying `visas`, read by auth/ itself
    (the node's caller keeps only what they grant), keys fetched from the AAI over HTTP."""
    registry = IssuerRegistry([TrustedIssuer(**trusted_issuer_entry(stack.aai_url))])
    token = _passport(stack, visas)
    async with ClientSession() as session:
        jwks = JwksCache(session)
        access = await verify(token, registry.for_access_token, jwks, AccessClaims)
        return await passport_of(access, token, registry, jwks, session)


async def test_by_is_required_only_where_the_passport_spec_requires_it(stack):
    """`by` is OPTIONAL but in AcceptedTermsAndPolicies and ControlledAccessGrants: a
    ResearcherStatus or AffiliationAndRole without it is a visa (which no policy needing a
    `by` accepts); the two types that must say it are dropped without it."""
    def without_by(kind: str, value: str) -> str:
        return _visa(stack, kind, value, ga4gh_visa_v1={
            "type": kind, "value": value, "source": stack.aai_url,
            "asserted": int(time.time())})
    passport = await _passport_read_directly(stack, [
        without_by(kind, value) for kind, value in [
            ("ResearcherStatus", BONA_FIDE), ("AffiliationAndRole", "member@uni.example"),
            ("AcceptedTermsAndPolicies", BONA_FIDE), ("ControlledAccessGrants", CONTROLLED)]])
    assert passport.complete
    assert sorted((v.type, v.by) for v in passport.visas) == [
        ("AffiliationAndRole", None), ("ResearcherStatus", None)]


async def test_a_visa_access_token_counts_until_an_hour_after_it_was_issued(stack):
    """The caller built from it is cached no longer than the visa holds, however late its
    `exp`; a Visa Document Token holds until its `exp`."""
    issued = int(time.time()) - 600
    passport = await _passport_read_directly(stack, [
        _visa_access_token(stack, issued=issued, exp=issued + 86400),
        _visa(stack, "ControlledAccessGrants", OTHER, iat=issued, exp=issued + 86400)])
    assert sorted((v.value, v.expires) for v in passport.visas) == [
        (CONTROLLED, issued + 3600), (OTHER, issued + 86400)]


async def test_a_grant_with_an_empty_conditions_list_grants(stack):
    """Only a non-empty `conditions` must be refused by a node that does not evaluate them."""
    seen = await _granularities(stack.node, _passport(stack, [_grant(stack, conditions=[])]))
    assert seen[CONTROLLED] == "record"


@pytest.mark.parametrize("terms_by,status_by,expected", [
    ("self", "so", "count"), ("self", "system", "count"), ("system", "peer", "count"),
    ("dac", "so", "count"), ("peer", "so", "count"),
    ("self", "self", "boolean"),         # a status the researcher asserts of themselves
    ("so", None, "boolean"),             # no `by`: an unknown authority
    ("so", "dac", "boolean"),            # a DAC decides grants; it does not attest status
    ("so", "admin", "boolean"),          # not a `by` the spec defines
    ("admin", "so", "boolean"), (None, "so", "boolean")])
async def test_bona_fide_needs_a_status_someone_else_attests(stack, terms_by, status_by,
                                                             expected):
    def half(kind: str, by: str | None) -> str:
        body = {"type": kind, "value": BONA_FIDE, "source": stack.aai_url, "by": by,
                "asserted": int(time.time())}
        return _visa(stack, kind, BONA_FIDE,
                     ga4gh_visa_v1={k: v for k, v in body.items() if v is not None})
    token = _passport(stack, [half("AcceptedTermsAndPolicies", terms_by),
                              half("ResearcherStatus", status_by)])
    assert (await _granularities(stack.node, token))[REGISTERED] == expected


async def _aai_token(stack: Stack, user: str) -> str:
    async with ClientSession() as client, client.post(f"{stack.aai_url}/token", data={
            "grant_type": "password", "username": user, "password": user}) as response:
        assert response.status == 200
        return (await response.json())["access_token"]


@pytest.mark.parametrize("user,expected", [
    (None, {PUBLIC: "record", REGISTERED: "boolean", CONTROLLED: "boolean", OTHER: "boolean"}),
    ("alice", {PUBLIC: "record", REGISTERED: "boolean", CONTROLLED: "boolean",
               OTHER: "boolean"}),
    # bona fide researchers discover CONTROLLED data at count level (docs/privacy.md)
    ("bob", {PUBLIC: "record", REGISTERED: "count", CONTROLLED: "count", OTHER: "count"}),
    ("carol", {PUBLIC: "record", REGISTERED: "count", CONTROLLED: "record", OTHER: "count"}),
])
async def test_granularity_per_dataset_for_aai_users(stack, beacon_schema, user, expected):
    token = await _aai_token(stack, user) if user else None
    assert await _granularities(stack.node, token, beacon_schema) == expected


async def test_a_body_that_is_no_utf8_form_is_a_400_not_a_500(stack):
    """aiohttp's form reader raised UnicodeDecodeError for it, which the development AAI
    answered with a 500."""
    async with ClientSession() as client:
        async with client.post(f"{stack.aai_url}/token", data=b"grant_type=\xff\x8b",
                               headers={"Content-Type": "application/x-www-form-urlencoded"}
                               ) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "invalid_request"
        async with client.post(f"{stack.aai_url}/authorize", data=b"username=\xff",
                               headers={"Content-Type": "application/x-www-form-urlencoded"}
                               ) as response:
            assert response.status == 400


async def test_a_body_that_does_not_decode_or_arrive_in_time_is_an_oauth_error(caplog):
    """The development AAI reads its forms as the node reads bodies (node/http/body.py): one
    that did not decode as its Content-Encoding says was a 500 logged with its traceback
    (aiohttp's RequestPayloadError is no ValueError), and one dripped slowly held its
    connection for good. Both are now OAuth errors, and the connection ends."""
    caplog.set_level(logging.INFO)
    async with AsyncExitStack() as exits:
        _, url = await _serve_aai(exits, app_of=partial(create_aai_app,
                                                        body_timeout_seconds=0.5))
        form = b"grant_type=password&username=carol&password=carol"
        async with ClientSession() as client:
            for path in ("/token", "/authorize"):
                for encoding, sent in (("gzip", b"junkjunk"), ("deflate", b"\x78junkjunk")):
                    async with client.post(url + path, data=sent, headers={
                            "Content-Type": "application/x-www-form-urlencoded",
                            "Content-Encoding": encoding}) as response:
                        assert response.status == 400, (path, await response.text())
                        assert await response.json() == {
                            "error": "invalid_request", "error_description":
                                "body: cannot be decoded as its Content-Encoding says"}
                        assert response.headers["Connection"] == "close"
            async with client.post(url + "/token", data=gzip.compress(form), headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Content-Encoding": "gzip"}) as response:
                assert response.status == 200, await response.text()
        port = urlsplit(url).port
        head = (b"POST /token HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n")
        answers = await asyncio.gather(
            send_slowly(port, head + b"Content-Length: 1000\r\n\r\ng", [], 0.2, 5),
            send_slowly(port, head + b"Content-Length: 1000\r\n\r\ng", [b"r"] * 100, 0.2, 5),
            send_slowly(port, head.replace(b"application/x-www-form-urlencoded",
                                     b"multipart/form-data; boundary=b")
                        + b"Content-Length: 1000\r\n\r\n--b\r\n", [b"C"] * 100, 0.2, 5))
        for answer, seconds in answers:
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            assert b"\r\nConnection: close\r\n" in answer, answer
            error = json.loads(answer.partition(b"\r\n\r\n")[2])
            assert error["error"] == "invalid_request", error
            assert error["error_description"].startswith("body: not received in full"), error
            assert seconds < 3, seconds
        answer, _ = await send_slowly(port, head + b"Content-Length: %d\r\n\r\n" % len(form)
                                      + form[:10], [form[10:]], 0.2, 5)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_wrong_password_gets_no_token(stack):
    async with ClientSession() as client, client.post(f"{stack.aai_url}/token", data={
            "grant_type": "password", "username": "carol", "password": "x"}) as response:
        assert response.status == 401


async def test_passwords_beyond_ascii_log_in_or_are_refused_never_a_500(stack):
    """`secrets.compare_digest` refuses a text beyond ASCII: a user whose password is
    "Sälasana" could not log in (a 500 each time), nor could anyone try such a password."""
    async with AsyncExitStack() as exits:
        _, url = await _serve_aai(exits, users=[DevUser(name="sanna", password="Sälasana-1"),
                                                DevUser(name="carol", password="carol")])
        async with ClientSession() as client:
            for user, password, status in (("sanna", "Sälasana-1", 200),
                                           ("sanna", "Salasana-1", 401),
                                           ("carol", "Sälasana-1", 401)):
                async with client.post(f"{url}/token", data={
                        "grant_type": "password", "username": user,
                        "password": password}) as response:
                    assert response.status == status, (user, password, await response.text())


async def test_a_pkce_challenge_beyond_ascii_is_a_refused_code_not_a_500(stack):
    """The challenge is compared as bytes too (compare_digest refuses such text)."""
    params = {"response_type": "code", "client_id": "gdi-node", "state": "s",
              "redirect_uri": "http://127.0.0.1:5050/", "code_challenge": "défi",
              "code_challenge_method": "S256"}
    async with ClientSession() as client:
        async with client.post(f"{stack.aai_url}/authorize", allow_redirects=False, data={
                **params, "username": "carol", "password": "carol"}) as response:
            assert response.status == 302
            code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
        async with client.post(f"{stack.aai_url}/token", data={
                "grant_type": "authorization_code", "code": code, "client_id": "gdi-node",
                "redirect_uri": params["redirect_uri"],
                "code_verifier": "v" * 43}) as response:
            assert response.status == 400, await response.text()
            assert (await response.json())["error"] == "invalid_grant"


async def test_count_granularity_request_is_capped_per_dataset(stack, beacon_schema):
    token = await _aai_token(stack, "carol")
    response = await stack.node.get("/api/g_variants", params={
        **QUERY, "requestedGranularity": "count", "includeResultsetResponses": "ALL"},
        headers={"Authorization": f"Bearer {token}"})
    body = await response.json()
    assert body["meta"]["returnedGranularity"] == "count"
    assert beacon_schema(RESPONSE_SCHEMAS["count"], body) == []
    sets = {s["id"]: s for s in body["response"]["resultSets"]}
    assert sets[CONTROLLED]["resultsCount"] == 2 and sets[OTHER]["resultsCount"] == 2
    assert body["responseSummary"]["numTotalResults"] == 8      # all four, OTHER at count


async def test_hidden_controlled_datasets_vanish_for_callers_without_grant(stack):
    """hide_controlled_datasets: without a grant, no trace in listings, queries or ids."""
    settings = stack.settings.model_copy(update={"hide_controlled_datasets": True})
    server = TestServer(create_app(settings, stack.pool), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession(base_url=str(server.make_url(""))) as client:
            listed = await (await client.get("/api/datasets")).json()
            assert {c["id"] for c in listed["response"]["collections"]} == {PUBLIC, REGISTERED}
            named = await client.get("/api/g_variants", params={**QUERY,
                                                                "datasetIds": CONTROLLED})
            assert named.status == 400                      # as unknown as a missing dataset
            assert (await client.get(f"/api/datasets/{CONTROLLED}")).status == 404
            token = await _aai_token(stack, "carol")
            body = await (await client.get("/api/g_variants", params={
                **QUERY, "includeResultsetResponses": "ALL"},
                headers={"Authorization": f"Bearer {token}"})).json()
            seen = {s["id"] for s in body["response"]["resultSets"]}
            assert seen == {PUBLIC, REGISTERED, CONTROLLED}
    finally:
        await server.close()


async def test_audit_log_names_subject_and_never_the_token(stack, caplog):
    token = await _aai_token(stack, "carol")
    with caplog.at_level("INFO", logger="gdi_node.audit"):
        await stack.node.get("/api/g_variants", params=QUERY,
                             headers={"Authorization": f"Bearer {token}"})
        await stack.node.get("/api/info", headers={"Authorization": "Bearer forged.token.x"})
    records = [r for r in caplog.records if r.name == "gdi_node.audit"]
    access = [r for r in records if r.getMessage() == "access"]
    assert access and access[-1].sub == "carol" and access[-1].token_id
    assert access[-1].issuer == stack.aai_url       # a subject is (issuer, sub)
    assert access[-1].datasets[CONTROLLED] == "record"
    assert any(getattr(r, "decision", None) == "refused" for r in records)
    for record in records:
        assert token not in json.dumps(record.__dict__, default=str)


# An audit line as the text log writes it, put whole into an unsigned token's `crit` header,
# after a line break of each kind: PyJWT checks `crit` before any signature and named the
# extension in its message, which was the refusal's reason as it came (found by a review,
# 2026-12-05)
FORGED_AUDIT_LINE = ("2026-12-05 10:00:00,000 INFO    gdi_node.audit: access sub=carol "
                     f"datasets={{'{CONTROLLED}': 'record'}}")
LINE_BREAKS = {"LF": "\n", "CR LF": "\r\n", "CR": "\r", "NEL": "\x85",
               "line separator": "\u2028", "paragraph separator": "\u2029",
               "vertical tab": "\x0b"}


def _crit_token(stack: Stack, extension: str) -> str:
    """A token no one signed (its signature is text) whose header makes `extension`
    critical: refused, whatever `extension` says, before its signature is looked at."""
    header = {"alg": "RS256", "kid": stack.aai.access_key.kid, "crit": [extension]}
    return f"{_b64(header)}.{_b64(_claims(stack))}.{_b64(b'not a signature')}"


def _one_line_each(records: list[logging.LogRecord]) -> list[str]:
    """The records as each log format writes them, every one that is not a single line."""
    broken = []
    for formatter in (TextFormatter(), JsonFormatter()):
        for record in records:
            written = formatter.format(record)
            if len(written.splitlines()) != 1:
                broken.append(written)
    return broken


@pytest.mark.parametrize("separator", sorted(LINE_BREAKS))
async def test_an_unsigned_tokens_crit_header_reaches_neither_the_audit_log_nor_the_401(
        stack, caplog, separator):
    """The reason of the 401 is PyJWT's failure by its kind, not its message: the audit log
    had a forged `access` line for carol (text format, LF, NEL or U+2028), and with CR LF
    aiohttp refused to write the WWW-Authenticate header quoting it, so the caller got a
    dropped connection and the log an "Unhandled exception" at ERROR instead of the 401."""
    token = _crit_token(stack, f"x{LINE_BREAKS[separator]}{FORGED_AUDIT_LINE}")
    with caplog.at_level(logging.INFO):
        response = await stack.node.get("/api/info",
                                        headers={"Authorization": f"Bearer {token}"})
        body = await response.json()
    assert response.status == 401, body
    message = body["error"]["errorMessage"]
    assert message == ("invalid token: malformed token: a header parameter is not accepted "
                       "(crit, kid or b64)"), message
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"') and "carol" not in challenge
    refused = [r for r in caplog.records
               if r.name == "gdi_node.audit" and getattr(r, "decision", None) == "refused"]
    assert refused and all("carol" not in r.reason for r in refused), refused
    assert not _one_line_each([r for r in caplog.records if r.name == "gdi_node.audit"])
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("reason", [
    "crit x\r\nSet-Cookie: session=attacker", f"crit x\n{FORGED_AUDIT_LINE}",
    f"crit x\u2028{FORGED_AUDIT_LINE}", "crit x\x85y\x00z\x1b[2J", "crit jörg \\ \"quoted\""])
async def test_a_refusal_whose_reason_holds_controls_is_still_one_printable_401(
        stack, caplog, reason):
    """Whatever a reason says (auth/tokens.py words none with the token's text, but one
    did), the 401 is written: its WWW-Authenticate value printable ASCII alone (a CR LF
    there made aiohttp drop the connection), its body's message and the audit line without
    a control or a line break of any kind."""
    app = web.Application()
    app[SETTINGS] = stack.settings
    request = make_mocked_request("GET", "/api/info", app=app)
    with caplog.at_level(logging.INFO, logger="gdi_node.audit"):
        response = refusal(request, InvalidToken(reason))
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="crit ')
    assert all(" " <= c <= "~" for c in challenge), repr(challenge)
    assert challenge.count('"') == 4, challenge        # the quoted string is not ended early
    message = json.loads(response.body)["error"]["errorMessage"]
    assert message.startswith("invalid token: crit ") and message.isprintable(), message
    records = [r for r in caplog.records if r.name == "gdi_node.audit"]
    assert records and records[-1].reason.isprintable(), records
    assert not _one_line_each(records)


BAD_TOKEN = {"Authorization": "Bearer forged.token.value"}
# Every route whose handler has no test mode: the node's and the network's descriptions, the
# FAIR Data Point, the pages. A test-mode request skips authentication only where it is
# answered empty, on an entry endpoint (docs/beacon.md)
WITHOUT_TEST_MODE = ["/", "/api", "/api/info", "/api/service-info", "/api/configuration",
                     "/api/map", "/api/entry_types", "/api/openapi.json", "/api/docs", "/fdp",
                     "/network/api/info", "/network/api/map", "/network/api/configuration",
                     "/network/api/entry_types", "/network/api/service-info"]


@pytest.mark.parametrize("path", WITHOUT_TEST_MODE)
async def test_a_bad_token_is_a_401_with_test_mode_on_a_route_that_has_none(stack, path):
    """`?testMode=true` made a garbage token anonymous on every route: this one answered
    as to an anonymous caller, where the same token without it is a 401 (found by a review,
    2026-12-05). The route does answer anonymous callers: the 401 is the token's."""
    anonymous = await stack.node.get(path, params={"testMode": "true"})
    assert anonymous.status == 200, (path, anonymous.status)
    for query in ({}, {"testMode": "true"}, {"testMode": "1"}):
        response = await stack.node.get(path, params=query, headers=BAD_TOKEN)
        assert response.status == 401, (path, query, response.status)
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_the_routes_that_answer_test_mode_are_the_entry_endpoints_and_no_other():
    """Which routes let a bad token through in test mode is marked on their handlers
    (beacon_api.answers_test_mode): exactly the entry endpoints, the routes that take a
    POST body, of the node and of the network. A new route is one or the other."""
    table = [*beacon_api.routes(), *network_api.routes()]
    posted = {route.path for route in table if route.method == "POST"}
    assert len(posted) >= 20, posted
    marked = {route.path: route.handler in beacon_api._TEST_MODE_HANDLERS for route in table}
    assert {path for path, answers in marked.items() if answers} == posted


@pytest.mark.parametrize("path", ["/api/g_variants", "/api/individuals", "/api/datasets",
                                  f"/api/datasets/{PUBLIC}", "/api/filtering_terms",
                                  "/network/api/g_variants", "/network/api/individuals",
                                  "/network/api/datasets", "/network/api/filtering_terms"])
async def test_a_bad_token_with_test_mode_on_an_entry_endpoint_is_answered_empty(stack, path):
    """Where test mode is answered, the node's and the network's entry endpoints, it still
    skips authentication as the framework requires: anonymous, none of the node's data."""
    for method, given in (("GET", {"params": {"testMode": "true"}}),
                          ("POST", {"json": {"meta": {}, "query": {"testMode": True}}})):
        response = await stack.node.request(method, path, headers=BAD_TOKEN, **given)
        body = await response.json()
        assert response.status == 200, (method, path, body)
        assert body["meta"]["testMode"] is True, body
        assert not body.get("response", {}).get("resultSets"), body
        assert not body.get("response", {}).get("collections"), body
        assert not body.get("response", {}).get("filteringTerms"), body
        refused = await stack.node.request(method, path, headers=BAD_TOKEN)
        assert refused.status == 401, (method, path)


async def test_key_rotation_and_refresh_cooldown(pg_server_url, tmp_path):
    """The issuer adds a key, signs with it, then withdraws the old one; a flood of unknown
    kids costs one JWKS fetch per cooldown."""
    keys = {"k1": SigningKey("k1", None)}
    fetches = []
    port = free_port()
    issuer_url = f"http://127.0.0.1:{port}"

    async def serve_jwks(request: web.Request) -> web.Response:
        fetches.append(time.monotonic())
        return web.json_response({"keys": [k.jwk() for k in keys.values()]})
    app = web.Application()
    app.router.add_get("/jwks", serve_jwks)
    jwks_server = TestServer(app, host="127.0.0.1", port=port)
    await jwks_server.start_server()
    async with node_database(pg_server_url) as url:
        try:
            await _rotation_scenario(url, tmp_path, issuer_url, keys, fetches)
        finally:
            await jwks_server.close()


async def _rotation_scenario(url: str, tmp_path: Path, issuer_url: str,
                             keys: dict[str, SigningKey], fetches: list[float]) -> None:
    settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=url, data_dir=tmp_path, jwks_cooldown_seconds=1.0,
                        jwks_max_age_seconds=1.0, trusted_issuers=[TrustedIssuer(
                            issuer=issuer_url, jwks_uri=f"{issuer_url}/jwks")])
    pool = await create_pool(url, settings)
    node = TestServer(create_app(settings, pool), host="127.0.0.1")
    await node.start_server()

    def token(kid: str) -> str:
        now = int(time.time())
        return keys[kid].sign({"iss": issuer_url, "sub": "u", "iat": now, "exp": now + 300,
                               "jti": uuid.uuid4().hex})
    try:
        async with ClientSession(base_url=str(node.make_url(""))) as client:
            async def status(bearer: str) -> int:
                response = await client.get("/api/info",
                                            headers={"Authorization": f"Bearer {bearer}"})
                return response.status

            assert await status(token("k1")) == 200
            keys["k2"] = SigningKey("k2", None)
            await asyncio.sleep(1.1)
            assert await status(token("k2")) == 200          # unknown kid -> refresh
            assert await status(token("k1")) == 200          # old key still published
            withdrawn = keys.pop("k1")
            await asyncio.sleep(1.1)
            assert await status(token("k2")) == 200          # max age passed -> re-read
            # issued before the keys were last read (a token issued since may be signed with
            # a key published since: test_a_key_published_after_the_last_jwks_read_...)
            now = int(time.time())
            old_key_token = withdrawn.sign({"iss": issuer_url, "sub": "u", "iat": now - 120,
                                            "exp": now + 300, "jti": uuid.uuid4().hex})
            assert await status(old_key_token) == 401        # its key left the JWKS
            await asyncio.sleep(1.1)
            before = len(fetches)
            flood = [jwt.encode({"iss": issuer_url, "sub": "u", "iat": int(time.time()) - 120,
                                 "exp": int(time.time()) + 60}, withdrawn.private,
                                algorithm="RS256", headers={"kid": f"made-up-{i}"})
                     for i in range(50)]
            results = await asyncio.gather(*(status(t) for t in flood))
            assert set(results) == {401}
            assert len(fetches) - before == 1
    finally:
        await node.close()
        await pool.close()


async def test_keys_verify_through_an_issuers_outage_only_for_as_long_as_they_are_kept():
    """A JWKS that cannot be read again keeps the keys read before, for an issuer's passing
    outage, but only for `keep` after they were last read; then none verifies until the
    JWKS is read again. Kept for as long as it failed, a key the issuer withdrew verified
    for as long as whoever held it kept the JWKS from being read (a review, 2026-12-05)."""
    key, up = SigningKey("k1", None), [True]

    async def serve_jwks(request: web.Request) -> web.Response:
        return (web.json_response({"keys": [key.jwk()]}) if up[0]
                else web.Response(status=503))
    app = web.Application()
    app.router.add_get("/jwks", serve_jwks)
    async with AsyncExitStack() as stack:
        url = f"{await serve_app(stack, app)}/jwks"
        async with ClientSession() as session:
            cache = JwksCache(session, cooldown=0, max_age=0.05, keep=0.5)
            assert await cache.keys(url, "k1", "RS256")
            up[0] = False
            await asyncio.sleep(0.1)                      # past max_age: read again, failed
            assert await cache.keys(url, "k1", "RS256")    # within keep: still verifies
            await asyncio.sleep(0.5)
            with pytest.raises(KeyNotFound, match="last read more than 0.5 s ago"):
                await cache.keys(url, "k1", "RS256")
            up[0] = True
            assert await cache.keys(url, "k1", "RS256")    # read again: verifies again
    with pytest.raises(ValueError, match="jwks_keep_seconds"):
        Settings(jwks_keep_seconds=60, jwks_max_age_seconds=300)


async def test_keys_sharing_a_kid_each_verify_and_an_encryption_key_verifies_nothing(
        caplog):
    """RFC 7517 lets one kid name keys of different types (an RSA and an EC key held as
    alternatives), and an issuer may publish encryption keys (`use: enc`) beside its
    signing keys. Keyed by kid alone, the key listed last replaced the others: a token
    signed with the RSA key was refused while the EC key shared its kid, and one signed
    with the signing key while an encryption key came after it; and a key published for
    encryption verified signatures."""
    rsa_key, enc_key = SigningKey("k", None), SigningKey("k", None)
    ec_private = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_private.public_key())),
              "kid": "k", "alg": "ES256", "use": "sig"}
    published = {"keys": [rsa_key.jwk(), ec_jwk, {**enc_key.jwk(), "use": "enc"}]}

    async with AsyncExitStack() as stack:
        base = await _serve_jwks(stack, lambda: published)
        issuer = TrustedIssuer(issuer=base, jwks_uri=f"{base}/jwks",
                               algorithms=("RS256", "ES256"))
        async with ClientSession() as session:
            jwks = JwksCache(session, cooldown=0)
            now = int(time.time())
            claims = {"iss": base, "sub": "u", "iat": now, "exp": now + 300}

            async def sub(token: str) -> str:
                verified = await verify(token, {base: issuer}.get, jwks, AccessClaims)
                return verified.claims.sub
            assert await sub(rsa_key.sign(claims)) == "u"
            assert await sub(jwt.encode(claims, ec_private, algorithm="ES256",
                                        headers={"kid": "k"})) == "u"
            with pytest.raises(InvalidToken):
                await sub(enc_key.sign(claims))
    assert "not a signing key (use 'enc')" in caplog.text


async def test_keys_listed_under_one_kid_and_algorithm_each_verify(caplog):
    """An issuer rotating its key under the kid it keeps lists the old and the new key
    together while tokens of both live. Kept one per kid and algorithm, the key listed last
    replaced the other, whose tokens were each a 401. Each is tried now, up to
    MAX_KEYS_PER_KID of them (each a signature check of every token naming the kid); a key
    listed under no kid of the token verifies nothing."""
    old, new, other = (SigningKey("k", None) for _ in range(3))
    published = {"keys": [old.jwk(), new.jwk()]}

    async with AsyncExitStack() as stack:
        base = await _serve_jwks(stack, lambda: published)
        issuer = TrustedIssuer(issuer=base, jwks_uri=f"{base}/jwks")
        async with ClientSession() as session:
            jwks = JwksCache(session, cooldown=0)
            now = int(time.time())
            claims = {"iss": base, "sub": "u", "iat": now, "exp": now + 300}

            async def sub(token: str) -> str:
                verified = await verify(token, {base: issuer}.get, jwks, AccessClaims)
                return verified.claims.sub
            assert await sub(old.sign(claims)) == "u"
            assert await sub(new.sign(claims)) == "u"
            with pytest.raises(InvalidToken, match="signature verification failed"):
                await sub(other.sign(claims))
            published["keys"] = [SigningKey("k", None).jwk()
                                 for _ in range(MAX_KEYS_PER_KID)] + [old.jwk()]
            jwks = JwksCache(session, cooldown=0)                # read anew
            with pytest.raises(InvalidToken, match="signature verification failed"):
                await sub(old.sign(claims))             # the first MAX_KEYS_PER_KID only
    assert f"more than {MAX_KEYS_PER_KID} keys under one kid" in caplog.text


async def test_an_issuers_document_that_redirects_is_refused_naming_where(caplog):
    """The JWKS (as the discovery document and userinfo) is read at the URL configured, or
    discovered and checked as configured ones are: a redirect is refused, naming where it
    led. Followed, it reached what no check had seen: an https issuer's keys, or a token's
    userinfo, read from a plain http URL (found by a review, 2026-12-05)."""
    key = SigningKey("k1", None)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        return web.json_response({"keys": [key.jwk()]})
    app = web.Application()
    app.router.add_get("/jwks", moved)
    app.router.add_get("/elsewhere", elsewhere)
    async with AsyncExitStack() as stack:
        base = await serve_app(stack, app)
        async with ClientSession() as session:
            cache = JwksCache(session)
            with pytest.raises(KeyNotFound):
                await cache.keys(f"{base}/jwks", "k1", "RS256")
            assert await cache.keys(f"{base}/elsewhere", "k1", "RS256")    # as it is there
    assert "redirected (302) to '/elsewhere': configure the URL it leads to" in caplog.text


async def test_issuer_configured_by_discovery_alone(stack):
    """jwks_uri and userinfo come from the issuer's discovery document, whose `issuer` must
    be the configured one exactly; otherwise that issuer's tokens are refused."""
    by_discovery = TrustedIssuer(issuer=stack.aai_url, audience="gdi-node", visas=True,
                                 visa_jku=(stack.aai.visa_jku,))
    mismatched = TrustedIssuer(issuer=stack.aai_url + "/", audience="gdi-node")
    token = await _aai_token(stack, "carol")
    levels = []
    for issuer in (by_discovery, mismatched):
        settings = stack.settings.model_copy(update={"trusted_issuers": [issuer]})
        server = TestServer(create_app(settings, stack.pool), host="127.0.0.1")
        await server.start_server()
        try:
            async with ClientSession(base_url=str(server.make_url(""))) as client:
                response = await client.get("/api/g_variants", params={
                    **QUERY, "datasetIds": CONTROLLED},
                    headers={"Authorization": f"Bearer {token}"})
                body = await response.json()
                levels.append(body["meta"]["returnedGranularity"] if response.status == 200
                              else response.status)
        finally:
            await server.close()
    assert levels == ["record", 401]


async def test_an_issuer_configured_without_its_userinfo_endpoint_reads_it_by_discovery(
        stack):
    """docs/auth.md: `jwks_uri` and `userinfo_endpoint` may be left out, the node reading
    them from the discovery document. With its jwks_uri configured alone, an issuer was
    trusted at once and never discovered (outside production): its users' visas were never
    asked for, and carol, with a grant, was answered as anyone without one."""
    issuer = TrustedIssuer(issuer=stack.aai_url, jwks_uri=f"{stack.aai_url}/jwks",
                           audience="gdi-node", visas=True, visa_jku=(stack.aai.visa_jku,))
    async with _node_with(stack, [issuer]) as node:
        seen = await _granularities(node, await _aai_token(stack, "carol"))
    assert seen[CONTROLLED] == "record" and seen[REGISTERED] == "count", seen


@asynccontextmanager
async def _node_with(stack: Stack, issuers: list[TrustedIssuer],
                     **changes: Any) -> AsyncIterator[ClientSession]:
    """Another node on the stack's database, trusting `issuers` instead (and its settings
    changed by `changes`)."""
    settings = stack.settings.model_copy(update={"trusted_issuers": issuers, **changes})
    async with AsyncExitStack() as exits:
        url = await serve_app(exits, create_app(settings, stack.pool))
        async with ClientSession(base_url=url) as client:
            yield client


async def _serve_aai(exits: AsyncExitStack, app_of=create_aai_app,
                     users: list[DevUser] | None = None) -> tuple[DevIssuer, str]:
    """Another development AAI on 127.0.0.1, with its own keys (and `users`, else the
    default ones), until `exits` closes."""
    port = free_port()
    aai = DevIssuer(DevIssuerConfig(issuer=f"http://127.0.0.1:{port}",
                                    **({"users": users} if users else {})))
    return aai, await serve_app(exits, app_of(aai), port)


def _access_only(url: str) -> TrustedIssuer:
    return TrustedIssuer(issuer=url, jwks_uri=f"{url}/jwks",
                         userinfo_endpoint=f"{url}/userinfo", audience="gdi-node")


def _trusted(url: str, **changes: Any) -> TrustedIssuer:
    return TrustedIssuer(**{**trusted_issuer_entry(url), **changes})


@pytest.mark.parametrize("trust", ["access tokens only", "visas of its own"])
@pytest.mark.parametrize("delivery", ["inline passport", "userinfo"])
async def test_another_issuers_user_with_the_same_sub_gets_nothing_from_copied_visas(
        stack, trust, delivery):
    """Issuer B also has a "carol". Her token from B carries the AAI's carol's visas, copied:
    inline in a B passport or from B's userinfo. A subject is (issuer, sub), so they are not
    hers, whether B is trusted for access tokens only or also signs visas of its own."""
    copied = stack.aai.visas(stack.aai.users["carol"])
    async with AsyncExitStack() as exits:
        other, other_url = await _serve_aai(exits)
        other.visas = lambda user: copied                  # B's userinfo hands them out
        b = _access_only(other_url) if trust == "access tokens only" else _trusted(other_url)
        node = await exits.enter_async_context(
            _node_with(stack, [_trusted(stack.aai_url), b]))
        now = int(time.time())
        token = (other.access_key.sign({
            "iss": other_url, "sub": "carol", "aud": "gdi-node", "iat": now, "exp": now + 600,
            "ga4gh_passport_v1": copied}) if delivery == "inline passport"
            else other.access_token(other.users["carol"]))
        seen = await _granularities(node, token)
        assert seen[CONTROLLED] == "boolean" and seen[REGISTERED] == "boolean"
        carol = await _granularities(node, await _aai_token(stack, "carol"))
        assert carol[CONTROLLED] == "record"              # the visas themselves are good


def _dac_grant(dac: DevIssuer, dac_url: str) -> str:
    """A DAC's visa granting mallory the CONTROLLED dataset, signed now by its visa key."""
    now = int(time.time())
    return dac.visa_key.sign({
        "iss": dac_url, "sub": "mallory", "iat": now, "exp": now + 600,
        "ga4gh_visa_v1": {"type": "ControlledAccessGrants", "value": CONTROLLED,
                          "source": dac_url, "by": "dac", "asserted": now}},
        headers={"jku": dac.visa_jku})


async def test_accepted_visa_issuers_let_users_present_another_signers_visas(stack):
    """A DAC signs visas (trusted for visas, not access tokens); the AAI's users may present
    them only once the AAI's entry lists the DAC in accepted_visa_issuers."""
    async with AsyncExitStack() as exits:
        dac, dac_url = await _serve_aai(exits)
        visa = _dac_grant(dac, dac_url)
        token = _passport(stack, [visa])
        dac_entry = _trusted(dac_url, access_tokens=False)
        async with _node_with(stack, [_trusted(stack.aai_url), dac_entry]) as node:
            assert (await _granularities(node, token))[CONTROLLED] == "boolean"
        accepting = _trusted(stack.aai_url, accepted_visa_issuers=(stack.aai_url, dac_url))
        async with _node_with(stack, [accepting, dac_entry]) as node:
            assert (await _granularities(node, token))[CONTROLLED] == "record"


async def test_accepted_grant_sources_name_whose_grants_count(stack):
    """A grant's `source` must be one its signer is configured to relay (default: the signer
    itself); configuring a list replaces that default."""
    rems = "https://rems.example.fi/"
    token = _passport(stack, [_grant(stack, source=rems), _grant(stack, value=OTHER)])
    async with _node_with(stack, [_trusted(stack.aai_url, accepted_grant_sources=(rems,))]) \
            as node:
        seen = await _granularities(node, token)
    assert seen[CONTROLLED] == "record" and seen[OTHER] == "boolean"


@asynccontextmanager
async def _governed(stack: Stack, dataset_id: str, sources: tuple[str, ...]
                    ) -> AsyncIterator[None]:
    """The stack's dataset naming `sources` as those whose grants grant it, until the block
    ends (then none again, as the other tests expect it)."""
    async with stack.pool.acquire() as conn:
        assert await store.set_grant_sources(conn, dataset_id, sources)
    try:
        yield
    finally:
        async with stack.pool.acquire() as conn:
            await store.set_grant_sources(conn, dataset_id, ())


async def _dataset_info(node: ClientSession, token: str, dataset_id: str) -> dict[str, Any]:
    response = await node.get(f"/api/datasets/{dataset_id}",
                              headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    return (await response.json())["response"]["collections"][0]["info"]


async def test_a_dataset_naming_its_grant_sources_is_granted_only_by_theirs(stack):
    """Two DACs' grants accepted: DAC B's grant of the dataset B governs grants it, DAC A's
    does not, its records and counts staying at the tier without the grant (bona fide: a
    count, and no variant total under the tier's allele floor); a dataset naming no source
    is granted by either, as before. Until 2026-12-07 any accepted source granted any
    dataset, one DAC's grant a dataset another governs."""
    dac_a, dac_b = "https://rems.dac-a.example/", "https://rems.dac-b.example/"
    bona_fide = [_visa(stack, kind, BONA_FIDE) for kind in BONA_FIDE_TYPES]
    by_a = _passport(stack, [*bona_fide, _grant(stack, source=dac_a),
                             _grant(stack, source=dac_a, value=OTHER)])
    by_b = _passport(stack, [*bona_fide, _grant(stack, source=dac_b)])
    both = _trusted(stack.aai_url, accepted_grant_sources=(dac_a, dac_b))
    async with (_governed(stack, CONTROLLED, (dac_b,)),
                _node_with(stack, [both], disclosure=DisclosureSettings()) as node):
        seen = await _granularities(node, by_a)
        assert (seen[CONTROLLED], seen[OTHER]) == ("count", "record")
        assert "variantCount" not in await _dataset_info(node, by_a, CONTROLLED)
        assert (await _granularities(node, by_b))[CONTROLLED] == "record"
        assert "variantCount" in await _dataset_info(node, by_b, CONTROLLED)


async def test_the_development_aais_grants_follow_the_sources_a_dataset_names(stack):
    """carol's grants from the development AAI (its userinfo, its own URL as their source)
    grant a dataset naming the AAI among its sources, and not one naming another."""
    token = await _aai_token(stack, "carol")
    async with _governed(stack, CONTROLLED, ("https://rems.example.org/", stack.aai_url)), \
            _node_with(stack, [_trusted(stack.aai_url)]) as node:
        assert (await _granularities(node, token))[CONTROLLED] == "record"
    async with _governed(stack, CONTROLLED, ("https://rems.example.org/",)), \
            _node_with(stack, [_trusted(stack.aai_url)]) as node:
        assert (await _granularities(node, token))[CONTROLLED] == "count"


async def test_a_start_accepting_several_grant_sources_warns_of_every_dataset_naming_none(
        stack, caplog):
    """Any accepted source grants a dataset naming none, at every access level: a grant
    puts its holder in the granted tier there (a REGISTERED dataset's variants below the
    allele floor and its variant count; a PUBLIC one's individual records), so DAC A's
    grant of a REGISTERED dataset DAC B governs gives what B's would. Said at start where
    several sources are accepted, not where one is. Until 2026-12-07 only the CONTROLLED
    datasets were named, and an operator, told nothing of the others, left them open."""
    caplog.set_level(logging.WARNING, logger="node.app")
    dac_a, dac_b = "https://a.example/", "https://b.example/"
    both = _trusted(stack.aai_url, accepted_grant_sources=(dac_a, dac_b))
    bona_fide = [_visa(stack, kind, BONA_FIDE) for kind in BONA_FIDE_TYPES]
    by_a = _passport(stack, [*bona_fide, _grant(stack, source=dac_a, value=REGISTERED)])

    def warned() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == "node.app" and "name none of their own" in r.getMessage()]
    async with _governed(stack, CONTROLLED, (dac_a,)), \
            _node_with(stack, [both], disclosure=DisclosureSettings()) as node:
        assert "variantCount" in await _dataset_info(node, by_a, REGISTERED)
    assert warned() == [(
        f"grants from 2 sources are accepted ({dac_a}, {dac_b}), and the datasets "
        f"{PUBLIC} (PUBLIC), {REGISTERED} (REGISTERED), {OTHER} (CONTROLLED) name none of "
        "their own: a grant from any of them grants each, its holder answered in the granted "
        "tier there (gdi-node datasets grant-sources ID --grant-source URL names whose do)")]
    caplog.clear()
    async with _governed(stack, REGISTERED, (dac_b,)), \
            _node_with(stack, [both], disclosure=DisclosureSettings()) as node:
        assert "variantCount" not in await _dataset_info(node, by_a, REGISTERED)
    assert REGISTERED not in warned()[0]
    caplog.clear()
    async with _node_with(stack, [_trusted(stack.aai_url)]) as node:
        assert (await node.get("/health")).status == 200
    assert warned() == []


@pytest.mark.parametrize("setting", ["accepted_visa_issuers", "accepted_grant_sources"])
def test_visa_settings_need_an_issuer_trusted_for_visas(setting):
    with pytest.raises(ValueError, match="visas = true"):
        TrustedIssuer(issuer="https://aai.example", visas=False,
                      **{setting: ["https://dac.example"]})


@pytest.mark.parametrize("issuer", ["https://aai.example.org/oidc/ ", " https://aai.example.org",
                                    "https://aai.example.org/\toidc", "aai.example.org",
                                    "https:///oidc", ""])
def test_an_issuer_that_is_no_url_is_refused_in_the_configuration(issuer, monkeypatch):
    """OpenID Connect's `iss` is a URL (discovery appends to it). A copied issuer with a
    trailing space, a tab or no scheme matched no token's `iss`: every token of it was
    refused, or, left to discovery, fetched at a URL that is none, with nothing said at
    start. Refused where it is configured, naming the field."""
    with pytest.raises(ValidationError, match="issuer"):
        TrustedIssuer(issuer=issuer, jwks_uri="https://aai.example.org/jwks")
    monkeypatch.setenv("GDI_NODE_TRUSTED_ISSUERS", json.dumps([{"issuer": issuer}]))
    with pytest.raises(ValidationError, match="trusted_issuers.0.issuer"):
        Settings()


@dataclass
class _Faults:
    """What a development AAI does wrong (paths answering 503, a slow userinfo), and how many
    times each path was asked."""

    failing: set[str]
    userinfo_delay: float = 0.0
    calls: Counter = field(default_factory=Counter)
    replaced: dict[str, bytes] = field(default_factory=dict)     # path: the body it answers

    def app_of(self, aai: DevIssuer) -> web.Application:
        @web.middleware
        async def faulty(request: web.Request, handler) -> web.StreamResponse:
            self.calls[request.path] += 1
            if request.path in self.failing:
                return web.json_response({"error": "temporarily_unavailable"}, status=503)
            if request.path in self.replaced:
                return web.Response(body=self.replaced[request.path],
                                    content_type="application/json")
            if request.path == "/userinfo":
                await asyncio.sleep(self.userinfo_delay)
            return await handler(request)
        app = create_aai_app(aai)
        app.middlewares.append(faulty)
        return app


@pytest.mark.parametrize("path", ["/userinfo", "/visa-jwks"])
async def test_a_failure_gathering_visas_is_retried_after_seconds(stack, path):
    """A failing userinfo (or visa JWKS) downgrades carol briefly, not for her token's life;
    and the failure is cached for those seconds, not retried on every request."""
    faults = _Faults(failing={path})
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        node = await exits.enter_async_context(_node_with(stack, [_trusted(url)]))
        token = aai.access_token(aai.users["carol"])
        assert (await _granularities(node, token))[CONTROLLED] == "boolean"
        asked = faults.calls[path]
        assert (await _granularities(node, token))[CONTROLLED] == "boolean"
        assert faults.calls[path] == asked
        faults.failing.clear()
        await asyncio.sleep(INCOMPLETE_CACHE_SECONDS + 0.5)
        assert (await _granularities(node, token))[CONTROLLED] == "record"
        assert (await _granularities(node, token))[CONTROLLED] == "record"
        assert faults.calls["/userinfo"] == 2


async def test_concurrent_requests_with_one_token_make_one_userinfo_call(stack):
    faults = _Faults(failing=set(), userinfo_delay=0.3)
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        node = await exits.enter_async_context(_node_with(stack, [_trusted(url)]))
        token = aai.access_token(aai.users["carol"])
        seen = await asyncio.gather(*(_granularities(node, token) for _ in range(10)))
    assert [s[CONTROLLED] for s in seen] == ["record"] * 10
    assert faults.calls["/userinfo"] == 1


# What a broken issuer's JSON documents were: each a 500 for the caller whose token sent the
# node to read it (found by tests/test_fuzz_auth.py)
NESTED = b"[" * 100_000 + b"]" * 100_000                 # beyond the JSON parser's recursion
BROKEN_JWKS = {
    "keys null": lambda aai: b'{"keys": null}',
    "keys a number": lambda aai: b'{"keys": 5}',
    "a key's alg a list": lambda aai: json.dumps(
        {"keys": [{**aai.access_key.jwk(), "alg": ["RS256"]}]}).encode(),
    "a key's alg none": lambda aai: json.dumps(
        {"keys": [{**aai.access_key.jwk(), "alg": "none"}]}).encode(),
    "a key's kid a list": lambda aai: json.dumps(
        {"keys": [{**aai.access_key.jwk(), "kid": [aai.access_key.kid]}]}).encode(),
    "nested beyond the parser": lambda aai: NESTED,
    "larger than any key set": lambda aai: json.dumps(
        {"keys": [aai.access_key.jwk()], "pad": "x" * (1 << 20)}).encode(),
}


# A JWKS the node cannot read at all: whether a token of its issuer is good is unknown
UNREADABLE_JWKS = frozenset({"keys null", "keys a number", "nested beyond the parser",
                             "larger than any key set"})


@pytest.mark.parametrize("broken", sorted(BROKEN_JWKS))
async def test_a_broken_jwks_never_lets_its_issuers_tokens_through(stack, beacon_schema,
                                                                   broken):
    """A JWKS read whose keys are unusable refuses the token (401: no key verifies it); one
    that cannot be read at all is the issuer's outage (503 with Retry-After, as for a JWKS
    that is down): neither is ever answered as to an anonymous caller."""
    faults = _Faults(failing=set())
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        faults.replaced["/jwks"] = BROKEN_JWKS[broken](aai)
        node = await exits.enter_async_context(_node_with(stack, [_trusted(url)]))
        response = await node.get("/api/g_variants", params=QUERY, headers={
            "Authorization": f"Bearer {aai.access_token(aai.users['carol'])}"})
        body = await response.json()
        assert response.status == (503 if broken in UNREADABLE_JWKS else 401), body
        assert beacon_schema(ERROR_SCHEMA, body) == []


async def test_a_jwks_that_is_down_is_a_503_with_retry_after_never_a_401_nor_public(
        stack, beacon_schema):
    """RFC 6750's invalid_token says the token is bad, and a client drops it (signs its user
    out); while the issuer's JWKS cannot be read the node cannot tell, so it answers 503
    with Retry-After, the JWKS cooldown, and no data. Once the JWKS is read again the same
    token is answered; a kid the JWKS, read, does not hold is still a 401."""
    faults = _Faults(failing={"/jwks"})
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        node = await exits.enter_async_context(_node_with(
            stack, [_trusted(url)], jwks_cooldown_seconds=7))
        token = aai.access_token(aai.users["carol"])
        bearer = {"Authorization": f"Bearer {token}"}
        for path in ("/api/g_variants", "/api/info"):
            response = await node.get(path, params=QUERY, headers=bearer)
            body = await response.json()
            assert response.status == 503, body
            assert response.headers["Retry-After"] == "7"
            assert "WWW-Authenticate" not in response.headers
            assert beacon_schema(ERROR_SCHEMA, body) == []
            assert "could not be read" in body["error"]["errorMessage"]
            assert "response" not in body and token not in json.dumps(body)
        # /metrics tells the issuer's outage from the node's own (docs/deploy.md)
        metrics = await (await node.get("/metrics")).text()
        assert ('gdi_node_http_requests_total{cause="issuer",method="GET",route="/api/info",'
                'status="503"} 1.0') in metrics, metrics
    faults = _Faults(failing={"/jwks"})
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        node = await exits.enter_async_context(_node_with(stack, [_trusted(url)]))
        token = aai.access_token(aai.users["carol"])
        seen = await node.get("/api/g_variants", params=QUERY,
                              headers={"Authorization": f"Bearer {token}"})
        assert seen.status == 503
        faults.failing.clear()
        assert (await _granularities(node, token))[CONTROLLED] == "record"
        unknown = aai.access_key.sign(_claims(stack, iss=url), headers={"kid": "nobody"})
        seen = await node.get("/api/info", headers={"Authorization": f"Bearer {unknown}"})
        assert seen.status == 401


@pytest.mark.parametrize("broken", ["nested beyond the parser", "larger than any userinfo"])
async def test_a_broken_userinfo_drops_the_visas_and_answers(stack, broken):
    """Carol's grant is not read from such a document: she is answered without it."""
    faults = _Faults(failing=set())
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        faults.replaced["/userinfo"] = (NESTED if broken.startswith("nested") else json.dumps(
            {"sub": "carol", "ga4gh_passport_v1": aai.visas(aai.users["carol"]),
             "pad": "x" * (1 << 20)}).encode())
        node = await exits.enter_async_context(_node_with(stack, [_trusted(url)]))
        seen = await _granularities(node, aai.access_token(aai.users["carol"]))
    assert seen[CONTROLLED] == "boolean"


async def test_a_userinfo_longer_than_one_network_read_gives_its_visas(stack):
    """Read whole up to the bound, not by one read of what has arrived (about 128 kB)."""
    faults = _Faults(failing=set())
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        faults.replaced["/userinfo"] = json.dumps(
            {"sub": "carol", "ga4gh_passport_v1": aai.visas(aai.users["carol"]),
             "pad": "x" * 300_000}).encode()
        node = await exits.enter_async_context(_node_with(stack, [_trusted(url)]))
        seen = await _granularities(node, aai.access_token(aai.users["carol"]))
    assert seen[CONTROLLED] == "record"


async def test_a_passport_of_repeated_or_countless_visas_costs_at_most_max_visas_checks(
        stack, caplog):
    """A visa listed again is the same visa: checked once. Past MAX_VISAS entries the rest
    are ignored, with one warning: a userinfo of a megabyte held some 500,000 entries
    (`0,`) or 1,300 signed visas, each checked and each dropped one logged, on the event
    loop (a quarter of a second for one token's visas, half a million log lines)."""
    caplog.set_level(logging.INFO, logger="auth.passport")
    faults = _Faults(failing=set())
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        now = int(time.time())
        expired = aai.visa_key.sign(
            {"iss": url, "sub": "carol", "iat": now - 7200, "exp": now - 3600,
             "ga4gh_visa_v1": {"type": GRANT, "value": OTHER, "source": url, "by": "dac",
                               "asserted": now - 7200}}, headers={"jku": aai.visa_jku})
        visas = aai.visas(aai.users["carol"])
        node = await exits.enter_async_context(_node_with(stack, [_trusted(url)]))
        faults.replaced["/userinfo"] = json.dumps(
            {"sub": "carol", "ga4gh_passport_v1": [expired] * 300 + visas * 100}).encode()
        seen = await _granularities(node, aai.access_token(aai.users["carol"]))
        assert seen[CONTROLLED] == "record" and seen[OTHER] != "record"
        dropped = [r for r in caplog.records if r.getMessage().startswith("visa dropped")]
        assert len(dropped) == 1, len(dropped)
        caplog.clear()
        faults.replaced["/userinfo"] = json.dumps(
            {"sub": "carol", "ga4gh_passport_v1": list(range(100_000)) + visas}).encode()
        seen = await _granularities(node, aai.access_token(aai.users["carol"]))
        assert seen[CONTROLLED] == "boolean"            # listed past the bound: not read
        dropped = [r for r in caplog.records if r.getMessage().startswith("visa dropped")]
        assert len(dropped) == MAX_VISAS
        beyond = 100_000 + len(visas) - MAX_VISAS
        assert f"{beyond} visas beyond the first {MAX_VISAS} ignored" in caplog.text


async def _unverifiable(response, beacon_schema) -> None:
    """A 503 with Retry-After and a Beacon error body, no data and no invalid_token
    challenge: the token's issuer could not be read, so whether the token is good is
    unknown (a 401 made the node's page drop it and sign its user out)."""
    body = await response.json()
    assert response.status == 503, body
    assert response.headers["Retry-After"].isdigit()
    assert "WWW-Authenticate" not in response.headers and "response" not in body
    assert beacon_schema(ERROR_SCHEMA, body) == []


async def test_a_discovery_document_beyond_the_parser_leaves_its_issuer_untrusted(
        stack, beacon_schema):
    """The node starts, and does not answer the tokens of an issuer it could not discover:
    503 while it waits for a usable document."""
    faults = _Faults(failing=set(), replaced={"/.well-known/openid-configuration": NESTED})
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        node = await exits.enter_async_context(_node_with(stack, [TrustedIssuer(
            issuer=url, audience="gdi-node")]))
        response = await node.get("/api/g_variants", params=QUERY, headers={
            "Authorization": f"Bearer {aai.access_token(aai.users['carol'])}"})
        await _unverifiable(response, beacon_schema)


async def test_issuers_waiting_for_discovery_are_asked_at_once():
    """Three issuers to discover, whose discovery documents answer only once all three are
    asked (or after 3 s): asked one after another, each unreachable issuer held the node's
    start for its 10 s timeout in turn. All are asked at once now, and each answer is still
    its own issuer's (here a 404: each stays waiting)."""
    async with AsyncExitStack() as stack:
        together = await issuers_answering_together(stack, lambda _: web.Response(status=404))
        url = together.url
        registry = IssuerRegistry([TrustedIssuer(issuer=f"{url}/{name}")
                                   for name in ("a", "b", "c")])
        session = await stack.enter_async_context(ClientSession())
        await registry.discover(session)
    assert sorted(together.asked) == ["a", "b", "c"]
    assert together.seen_when_answered == [3, 3, 3]   # one after another: [1, 2, 3], 6 s
    assert [registry.waiting(f"{url}/{name}") for name in ("a", "b", "c")] == [True] * 3


# What an issuer's discovery document may give instead of its URLs: each was taken as it came
# (a userinfo_endpoint that is not a string was a 500 for every token asking for visas)
BROKEN_DISCOVERY = {
    "userinfo_endpoint a number": {"userinfo_endpoint": 123},
    "userinfo_endpoint a list": {"userinfo_endpoint": ["http://127.0.0.1:1/userinfo"]},
    "userinfo_endpoint not http(s)": {"userinfo_endpoint": "ftp://127.0.0.1/userinfo"},
    "jwks_uri without a host": {"jwks_uri": "http:///jwks"},
}


def _discovery(url: str, **changes: Any) -> bytes:
    return json.dumps({"issuer": url, "jwks_uri": f"{url}/jwks",
                       "userinfo_endpoint": f"{url}/userinfo", **changes}).encode()


@pytest.mark.parametrize("broken", [None, *sorted(BROKEN_DISCOVERY)])
async def test_a_discovery_document_with_unusable_urls_leaves_its_issuer_untrusted(
        stack, beacon_schema, broken):
    """Its URLs are checked as configured ones are: the issuer is one whose discovery failed
    (503 while it waits for a usable document), never a 500; the intact document makes
    carol's grant count."""
    faults = _Faults(failing=set())
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        faults.replaced["/.well-known/openid-configuration"] = _discovery(
            url, **BROKEN_DISCOVERY.get(broken, {}))
        node = await exits.enter_async_context(_node_with(stack, [TrustedIssuer(
            issuer=url, audience="gdi-node", visas=True, visa_jku=(aai.visa_jku,))]))
        token = aai.access_token(aai.users["carol"])
        if broken is None:
            assert (await _granularities(node, token))[CONTROLLED] == "record"
            return
        response = await node.get("/api/g_variants", params=QUERY,
                                  headers={"Authorization": f"Bearer {token}"})
        await _unverifiable(response, beacon_schema)


@pytest.mark.parametrize("document", ["unmarked", "development AAI"])
async def test_in_production_an_issuer_is_trusted_only_once_its_discovery_clears_it(
        stack, caplog, monkeypatch, document):
    """Only an issuer's discovery document says whether it is the development AAI (which
    hands out tokens to anyone), and a production node checked it at start alone, skipping
    an issuer it could not reach: one unreachable then was trusted unchecked. Its tokens are
    now answered 503 until a fetch has cleared it, fetched again as they come (the retry
    interval zeroed here), never refused for good for an outage; a document that marks it
    refuses it for good (401), logged, without fetching it again per token."""
    monkeypatch.setattr("auth.issuers.DISCOVERY_RETRY_SECONDS", 0.0)
    discovery = "/.well-known/openid-configuration"
    faults = _Faults(failing={discovery})
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits, faults.app_of)
        node = await exits.enter_async_context(_node_with(stack, [_trusted(url)],
                                                          environment="prod"))
        token = aai.access_token(aai.users["carol"])

        async def status() -> int:
            response = await node.get("/api/g_variants", params=QUERY,
                                      headers={"Authorization": f"Bearer {token}"})
            return response.status
        assert await status() == 503
        assert await status() == 503            # still unreachable: fetched again, waits
        assert faults.calls[discovery] >= 2
        faults.failing.clear()
        if document == "unmarked":
            faults.replaced[discovery] = _discovery(url)
            assert (await _granularities(node, token))[CONTROLLED] == "record"
        else:                                   # the development AAI's own document
            assert await status() == 401
            assert any(record.levelname == "ERROR" and url in record.getMessage()
                       and "development AAI" in record.getMessage()
                       for record in caplog.records)
        fetched = faults.calls[discovery]
        assert await status() == (200 if document == "unmarked" else 401)
        assert faults.calls[discovery] == fetched


@pytest.mark.parametrize("environment,expected", [("dev", "record"), ("prod", 401)])
async def test_in_production_plain_http_urls_from_discovery_leave_the_issuer_untrusted(
        stack, environment, expected):
    """Configured http URLs stop a production node from starting (node/production.py); the
    ones discovery gives are held to the same rule when read: the userinfo endpoint would
    be sent bearer tokens in the clear. (The issuer itself is http here, as 127.0.0.1 has
    no TLS; in production it is https, and its discovery document is what names http.)"""
    async with AsyncExitStack() as exits:
        aai, url = await _serve_aai(exits)
        node = await exits.enter_async_context(_node_with(stack, [TrustedIssuer(
            issuer=url, audience="gdi-node", visas=True, visa_jku=(aai.visa_jku,))],
            environment=environment))
        token = aai.access_token(aai.users["carol"])
        response = await node.get("/api/g_variants", params={**QUERY, "datasetIds": CONTROLLED},
                                  headers={"Authorization": f"Bearer {token}"})
        body = await response.json()
        assert (body["meta"]["returnedGranularity"] if response.status == 200
                else response.status) == expected


@pytest.mark.parametrize("environment", ["dev", "prod"])
async def test_a_visa_signer_unreachable_at_start_is_retried_and_its_visas_counted(
        stack, monkeypatch, environment):
    """A DAC signs visas for the AAI's users and issues no access tokens of its own. It
    waits for its discovery document (in production every issuer does; elsewhere one
    configured without jwks_uri), which it could not serve when the node started. Only an
    access token's issuer was fetched again as its tokens came, so the DAC waited until a
    restart, its grants dropped as signed by an untrusted issuer, and the caller cached so
    for an hour: a passing outage at start withheld every DAC grant for good. Its visas are
    what it has instead of tokens: one makes the node fetch it again (the retry interval
    zeroed here), and while it waits the caller is held for seconds only."""
    monkeypatch.setattr("auth.issuers.DISCOVERY_RETRY_SECONDS", 0.0)
    discovery = "/.well-known/openid-configuration"
    dac_faults, aai_faults = _Faults(failing={discovery}), _Faults(failing=set())
    async with AsyncExitStack() as exits:
        aai, aai_url = await _serve_aai(exits, aai_faults.app_of)
        dac, dac_url = await _serve_aai(exits, dac_faults.app_of)
        # unmarked documents: in production the development AAI's own is refused for good
        aai_faults.replaced[discovery] = _discovery(aai_url)
        visa = _dac_grant(dac, dac_url)
        token = aai.access_key.sign({**_claims(stack, iss=aai_url),
                                     "ga4gh_passport_v1": [visa]})
        # in production with its URLs (the document's http ones would be refused there)
        dac_entry = (_trusted(dac_url, access_tokens=False) if environment == "prod" else
                     TrustedIssuer(issuer=dac_url, access_tokens=False, visas=True,
                                   visa_jku=(dac.visa_jku,)))
        accepting = _trusted(aai_url, accepted_visa_issuers=(aai_url, dac_url))
        node = await exits.enter_async_context(
            _node_with(stack, [accepting, dac_entry], environment=environment))
        assert (await _granularities(node, token))[CONTROLLED] == "boolean"
        dac_faults.failing.clear()
        dac_faults.replaced[discovery] = _discovery(dac_url)
        await asyncio.sleep(INCOMPLETE_CACHE_SECONDS + 0.5)
        assert (await _granularities(node, token))[CONTROLLED] == "record"
        assert dac_faults.calls[discovery] >= 2


async def test_a_key_published_after_the_last_jwks_read_is_a_503_within_the_cooldown(
        pg_server_url, tmp_path, beacon_schema):
    """An issuer rotating its keys publishes a new one and signs with it at once. A token of
    it, come within the cooldown after the node last read the JWKS (here 30 s, the
    default), names a kid the node has not seen, and may not read again yet: whether the
    token is good is not known, so it is a 503 with Retry-After, as for a JWKS that cannot
    be read. It was a 401 invalid_token, which makes a client drop a good token and sign its
    user out (the node's page does). A kid missing from keys read after the token was
    issued (by its iat) is still a 401: no such key was published."""
    keys = {"k1": SigningKey("k1", None)}

    async with node_database(pg_server_url) as url, AsyncExitStack() as exits:
        issuer_url = await _serve_jwks(exits, lambda: {"keys": [k.jwk() for k in
                                                                keys.values()]})
        settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=url, data_dir=tmp_path,
                            trusted_issuers=[TrustedIssuer(issuer=issuer_url,
                                                           jwks_uri=f"{issuer_url}/jwks")])
        pool = await create_pool(url, settings)
        exits.push_async_callback(pool.close)
        node = await exits.enter_async_context(ClientSession(
            base_url=await serve_app(exits, create_app(settings, pool))))

        def token(kid: str, issued: float, expires: int = 300) -> str:
            return keys[kid].sign({"iss": issuer_url, "sub": "u", "iat": issued,
                                   "exp": int(time.time()) + expires, "jti": uuid.uuid4().hex})

        async def get(bearer: str):
            return await node.get("/api/info", headers={"Authorization": f"Bearer {bearer}"})
        assert (await get(token("k1", int(time.time())))).status == 200     # JWKS read
        await asyncio.sleep(0.01)
        keys["k2"] = SigningKey("k2", None)                 # rotated: published, signing
        fresh = await get(token("k2", time.time()))
        await _unverifiable(fresh, beacon_schema)
        assert 0 < int(fresh.headers["Retry-After"]) <= 30
        assert (await get(token("k2", int(time.time()) - 120))).status == 401
        # bad whatever its key: expired, or issued in the future beyond the leeway
        assert (await get(token("k2", time.time(), expires=-100))).status == 401
        assert (await get(token("k2", time.time() + 3600))).status == 401


async def test_a_key_replaced_under_its_kid_is_read_again_as_a_new_kid_is(
        pg_server_url, tmp_path, beacon_schema):
    """An issuer may rotate a key keeping its kid (RFC 7515 makes a kid a hint, and only
    asks that keys listed together differ): a token signed with the new key names a kid the
    node holds the old key for. That kid's key was never read again until the set's max age
    (300 s), each such token a 401 invalid_token, which signs its user out. Now a signature
    that fails has the JWKS read again when the cooldown allows (then 200); while it does
    not, a failing signature is a 401, as any token's that does not verify (a 503 there
    made every forged token with a fresh iat a 503)."""
    keys = {"k1": SigningKey("k1", None)}

    async with node_database(pg_server_url) as url, AsyncExitStack() as exits:
        issuer_url = await _serve_jwks(exits, lambda: {"keys": [k.jwk() for k in
                                                                keys.values()]})
        settings = Settings(disclosure=OPEN_DISCLOSURE, database_url=url, data_dir=tmp_path,
                            jwks_cooldown_seconds=1.0,
                            trusted_issuers=[TrustedIssuer(issuer=issuer_url,
                                                           jwks_uri=f"{issuer_url}/jwks")])
        pool = await create_pool(url, settings)
        exits.push_async_callback(pool.close)
        node = await exits.enter_async_context(ClientSession(
            base_url=await serve_app(exits, create_app(settings, pool))))

        def token(key: SigningKey, issued: float) -> str:
            return key.sign({"iss": issuer_url, "sub": "u", "iat": issued,
                             "exp": int(time.time()) + 300, "jti": uuid.uuid4().hex})

        async def get(bearer: str):
            return await node.get("/api/info", headers={"Authorization": f"Bearer {bearer}"})
        old = keys["k1"]
        assert (await get(token(old, time.time()))).status == 200         # JWKS read
        keys["k1"] = SigningKey("k1", None)                 # rotated, the kid kept
        fresh = await get(token(keys["k1"], time.time()))
        assert fresh.status == 401                          # within the cooldown
        forged = token(old, time.time())[:-4] + "AAAA"     # a tampered signature, fresh iat
        assert (await get(forged)).status == 401
        await asyncio.sleep(1.1)
        assert (await get(token(keys["k1"], time.time()))).status == 200  # read again
        # the keys now read after it was issued: a signature failing is a bad token
        assert (await get(token(old, time.time() - 120))).status == 401


async def test_a_trusted_issuers_rsa_key_shorter_than_2048_bits_verifies_nothing():
    """A key under NIST's 2048 bits (SP 800-131A) that a trusted issuer's JWKS publishes,
    a legacy 1024-bit one say, or the 24-bit one a fuzzed JWKS held, verified tokens, PyJWT
    only warning: whoever factors it signs tokens as anyone, with any visas. Refused as a
    key not usable for the algorithm (401), as failing closed would have it; a 2048-bit key
    of the same JWKS verifies."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    strong = SigningKey("strong", None)
    weak_jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key())),
                "kid": "weak", "alg": "RS256", "use": "sig"}

    async with AsyncExitStack() as stack:
        base = await _serve_jwks(stack, lambda: {"keys": [weak_jwk, strong.jwk()]})
        issuer = TrustedIssuer(issuer=base, jwks_uri=f"{base}/jwks")
        async with ClientSession() as session:
            jwks = JwksCache(session, cooldown=0)
            now = int(time.time())
            claims = {"iss": base, "sub": "u", "iat": now, "exp": now + 300}
            verified = await verify(strong.sign(claims), {base: issuer}.get, jwks, AccessClaims)
            assert verified.claims.sub == "u"
            forged = jwt.encode(claims, weak, algorithm="RS256", headers={"kid": "weak"})
            with pytest.raises(InvalidToken, match="key is not usable"):
                await verify(forged, {base: issuer}.get, jwks, AccessClaims)


async def test_a_token_of_an_issuer_never_trusted_for_access_tokens_is_a_401_while_it_waits(
        stack, beacon_schema):
    """A DAC trusted to sign visas only (access_tokens = false), waiting for its discovery
    document. A token it signed is refused whatever that document says, yet while it waited
    the token was a 503 "retry later", as if it might be good once the DAC answered: its
    client retried for as long as the DAC was down, never told its token is not one this
    node takes. The token of an issuer waiting that is trusted for them stays a 503."""
    discovery = "/.well-known/openid-configuration"
    faults = _Faults(failing={discovery})
    async with AsyncExitStack() as exits:
        dac, dac_url = await _serve_aai(exits, faults.app_of)
        aai, aai_url = await _serve_aai(exits, faults.app_of)
        node = await exits.enter_async_context(_node_with(stack, [
            TrustedIssuer(issuer=dac_url, access_tokens=False, visas=True),
            TrustedIssuer(issuer=aai_url, audience="gdi-node")]))

        async def get(token: str):
            return await node.get("/api/g_variants", params=QUERY,
                                  headers={"Authorization": f"Bearer {token}"})
        refused = await get(dac.access_token(dac.users["carol"]))
        assert refused.status == 401, await refused.text()
        assert "not trusted for this purpose" in (await refused.json())["error"]["errorMessage"]
        await _unverifiable(await get(aai.access_token(aai.users["carol"])), beacon_schema)


async def test_a_visa_not_yet_valid_is_counted_once_it_is_not_an_hour_later(stack):
    """A grant signed by a clock a little ahead of the node's: asserted, or issued (`iat`),
    beyond the 30 s leeway. It is dropped, rightly, but the caller was cached as settled,
    for the token's life (up to an hour), so the grant stayed withheld long after it had
    become valid. The caller is now cached only until the first dropped visa becomes
    valid, then verified again."""
    now = int(time.time())
    asserted_ahead = _grant(stack, asserted=now + 33)
    issued_ahead = _visa(stack, "ControlledAccessGrants", OTHER, iat=now + 33)
    token = _passport(stack, [asserted_ahead, issued_ahead])
    seen = await _granularities(stack.node, token)
    assert seen[CONTROLLED] == "boolean" and seen[OTHER] == "boolean"
    await asyncio.sleep(max(0.0, now + 4.5 - time.time()))
    seen = await _granularities(stack.node, token)
    assert seen[CONTROLLED] == "record" and seen[OTHER] == "record"
