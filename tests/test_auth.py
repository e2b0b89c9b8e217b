"""Access control against a running node and a running development AAI on 127.0.0.1, with keys
minted for this run: an attack matrix of real and forged JWTs, each with its exact outcome,
granularity per caller, and JWKS key rotation."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from auth.access import AccessLevel
from auth.dev_issuer import (
    DevIssuer,
    DevIssuerConfig,
    SigningKey,
    trusted_issuer_entry,
)
from auth.issuers import TrustedIssuer
from auth.passport import BONA_FIDE
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from node.app import create_app
from node.database import create_pool
from node.http.aai_api import create_aai_app
from node.settings import Settings
from tests.beacon_schemas import ERROR_SCHEMA, RESPONSE_SCHEMAS
from tests.conftest import free_port, node_database, write_vcf_text

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
    settings = Settings(database_url=url, data_dir=directory, beacon_id="org.test.auth",
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
    now = int(time.time())
    claims = {"iss": stack.aai_url, "sub": "mallory", "iat": now, "exp": now + 600,
              "ga4gh_visa_v1": {"type": kind, "value": value, "source": stack.aai_url,
                                "by": "dac", "asserted": now}}
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


async def _granularities(stack: Stack, token: str | None, schema=None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await stack.node.get("/api/g_variants", params={
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


async def test_attack_matrix_every_bad_token_is_refused_with_401(stack, beacon_schema):
    for attack, token in _forged(stack).items():
        response = await stack.node.get("/api/g_variants", params=QUERY,
                                        headers={"Authorization": f"Bearer {token}"})
        body = await response.json()
        assert response.status == 401, attack
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        assert body["error"]["errorCode"] == 401, attack
        assert beacon_schema(ERROR_SCHEMA, body) == []
        assert token not in json.dumps(body) or len(token) < 20


@pytest.mark.parametrize("header", ["Basic YWxpY2U6YWxpY2U=", "Bearer", "Bearer ", "bearer"])
async def test_malformed_authorization_headers_are_401_not_anonymous(stack, header):
    response = await stack.node.get("/api/info", headers={"Authorization": header})
    assert response.status == 401


async def test_valid_token_without_visas_is_not_more_than_anonymous(stack):
    anonymous = await _granularities(stack, None)
    token = stack.aai.access_key.sign(_claims(stack))
    assert await _granularities(stack, token) == anonymous == {
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
}


@pytest.mark.parametrize("attack", sorted(VISA_ATTACKS))
async def test_bad_visas_grant_nothing(stack, attack):
    token = _passport(stack, [VISA_ATTACKS[attack](stack)])
    seen = await _granularities(stack, token)
    assert seen[CONTROLLED] == "boolean" and seen[OTHER] == "boolean"


async def test_exact_grant_and_configured_alias_grant_record_access(stack):
    for value in (CONTROLLED, ALIAS):
        seen = await _granularities(stack, _passport(
            stack, [_visa(stack, "ControlledAccessGrants", value)]))
        assert seen[CONTROLLED] == "record" and seen[OTHER] == "boolean"


@pytest.mark.parametrize("kinds,expected", [
    (("AcceptedTermsAndPolicies",), "boolean"), (("ResearcherStatus",), "boolean"),
    (("AcceptedTermsAndPolicies", "ResearcherStatus"), "count")])
async def test_bona_fide_needs_both_halves(stack, kinds, expected):
    token = _passport(stack, [_visa(stack, kind, BONA_FIDE) for kind in kinds])
    assert (await _granularities(stack, token))[REGISTERED] == expected


async def test_bona_fide_with_another_value_is_not_registered(stack):
    token = _passport(stack, [_visa(stack, k, "https://example.org/terms")
                              for k in ("AcceptedTermsAndPolicies", "ResearcherStatus")])
    assert (await _granularities(stack, token))[REGISTERED] == "boolean"


async def _aai_token(stack: Stack, user: str) -> str:
    async with ClientSession() as client:
        async with client.post(f"{stack.aai_url}/token", data={
                "grant_type": "password", "username": user, "password": user}) as response:
            assert response.status == 200
            return (await response.json())["access_token"]


@pytest.mark.parametrize("user,expected", [
    (None, {PUBLIC: "record", REGISTERED: "boolean", CONTROLLED: "boolean", OTHER: "boolean"}),
    ("alice", {PUBLIC: "record", REGISTERED: "boolean", CONTROLLED: "boolean",
               OTHER: "boolean"}),
    ("bob", {PUBLIC: "record", REGISTERED: "count", CONTROLLED: "boolean", OTHER: "boolean"}),
    ("carol", {PUBLIC: "record", REGISTERED: "count", CONTROLLED: "record", OTHER: "boolean"}),
])
async def test_granularity_per_dataset_for_aai_users(stack, beacon_schema, user, expected):
    token = await _aai_token(stack, user) if user else None
    assert await _granularities(stack, token, beacon_schema) == expected


async def test_wrong_password_gets_no_token(stack):
    async with ClientSession() as client:
        async with client.post(f"{stack.aai_url}/token", data={
                "grant_type": "password", "username": "carol", "password": "x"}) as response:
            assert response.status == 401


async def test_count_granularity_request_is_capped_per_dataset(stack, beacon_schema):
    token = await _aai_token(stack, "carol")
    response = await stack.node.get("/api/g_variants", params={
        **QUERY, "requestedGranularity": "count", "includeResultsetResponses": "ALL"},
        headers={"Authorization": f"Bearer {token}"})
    body = await response.json()
    assert body["meta"]["returnedGranularity"] == "count"
    assert beacon_schema(RESPONSE_SCHEMAS["count"], body) == []
    sets = {s["id"]: s for s in body["response"]["resultSets"]}
    assert sets[CONTROLLED]["resultsCount"] == 2 and sets[OTHER]["resultsCount"] == 0
    assert body["responseSummary"]["numTotalResults"] == 6      # PUBLIC, REGISTERED, CONTROLLED


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
    assert access[-1].datasets[CONTROLLED] == "record"
    assert any(getattr(r, "decision", None) == "refused" for r in records)
    for record in records:
        assert token not in json.dumps(record.__dict__, default=str)


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
    settings = Settings(database_url=url, data_dir=tmp_path, jwks_cooldown_seconds=1.0,
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
            now = int(time.time())
            old_key_token = withdrawn.sign({"iss": issuer_url, "sub": "u", "iat": now,
                                            "exp": now + 300, "jti": uuid.uuid4().hex})
            assert await status(old_key_token) == 401        # its key left the JWKS
            await asyncio.sleep(1.1)
            before = len(fetches)
            flood = [jwt.encode({"iss": issuer_url, "sub": "u", "iat": int(time.time()),
                                 "exp": int(time.time()) + 60}, withdrawn.private,
                                algorithm="RS256", headers={"kid": f"made-up-{i}"})
                     for i in range(50)]
            results = await asyncio.gather(*(status(t) for t in flood))
            assert set(results) == {401}
            assert len(fetches) - before == 1
    finally:
        await node.close()
        await pool.close()


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
