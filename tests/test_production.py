"""Production mode (`environment = prod`, node/production.py): the node, the catalogue and the
development AAI refuse development trust and secrets, as real processes, naming the rule."""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.request

import aiohttp
import pytest

from auth.dev_issuer import trusted_issuer_entry
from auth.issuers import TrustedIssuer
from node.production import catalogue_refusals, node_refusals
from node.settings import CatalogueSettings, Settings
from tests.conftest import ROOT, free_port
from tests.test_cli import _env, gdi_node

PUBLIC = "https://beacon.example.fi/"      # where researchers reach a production node
CATALOGUE = "https://catalogue.example.org"  # where harvesters and networks reach the catalogue
HTTPS_ISSUER = {"issuer": "https://aai.example.org", "jwks_uri": "https://aai.example.org/jwks",
                "access_tokens": True, "visas": False}


def _refused(result: subprocess.CompletedProcess, rule: str) -> None:
    assert result.returncode == 2, result.stderr
    assert f"refusing to start in production (rule {rule})" in result.stderr


def test_plain_http_issuer_and_catalogue_are_refused(db_url):
    issuer = {**HTTPS_ISSUER, "jwks_uri": "http://aai.example.org/jwks"}
    result = gdi_node("serve", "--port", str(free_port()), env=_env(
        DATABASE_URL=db_url, GDI_NODE_ENVIRONMENT="production",
        GDI_NODE_TRUSTED_ISSUERS=json.dumps([issuer]),
        GDI_NODE_CATALOGUE_URL="http://catalogue.example.org"))
    _refused(result, "https-only")
    assert "http://aai.example.org/jwks" in result.stderr and "catalogue_url" in result.stderr


def test_a_plain_http_peer_is_refused(db_url):
    """A configured peer is sent researchers' tokens, and every caller's pseudonym and
    purpose: over http it was let through, where a catalogue-discovered one was not."""
    peers = [{"id": "org.example.se", "url": "https://beacon.example.se/api"},
             {"id": "org.example.no", "url": "http://beacon.example.no/api",
              "forward_tokens_from": ["https://aai.example.org"]}]
    result = gdi_node("serve", "--port", str(free_port()), env=_env(
        DATABASE_URL=db_url, GDI_NODE_ENVIRONMENT="prod", GDI_NODE_PEERS=json.dumps(peers),
        GDI_NODE_TRUSTED_ISSUERS=json.dumps([HTTPS_ISSUER])))
    _refused(result, "https-only")
    assert "peers[1].url http://beacon.example.no/api" in result.stderr
    assert "peers[0]" not in result.stderr
    settings = Settings(environment="prod", peers=peers[:1], public_base_url=PUBLIC)
    assert node_refusals(settings) == []


def test_network_trust_wider_than_a_network_nodes_subnet_is_refused(db_url):
    """0.0.0.0/0 let any client mint a fresh anonymous budget per question with
    X-Beacon-Network-Caller; a node's own address or its /24 (IPv4) or /64 (IPv6) is fine."""
    result = gdi_node("serve", "--port", str(free_port()), env=_env(
        DATABASE_URL=db_url, GDI_NODE_ENVIRONMENT="prod",
        GDI_NODE_TRUSTED_NETWORK_ADDRESSES="192.0.2.10,0.0.0.0/0,::/0"))
    _refused(result, "narrow-network-trust")
    assert "trusted_network_addresses entry 0.0.0.0/0" in result.stderr
    assert "trusted_network_addresses entry ::/0" in result.stderr
    assert "192.0.2.10" not in result.stderr
    for wide in ["10.0.0.0/23", "2001:db8::/63", "0.0.0.0/0"]:
        settings = Settings(environment="prod", trusted_network_addresses=[wide],
                            public_base_url=PUBLIC)
        assert [r.rule for r in node_refusals(settings)] == ["narrow-network-trust"], wide
    narrow = Settings(environment="prod", public_base_url=PUBLIC, trusted_network_addresses=[
        "192.0.2.10", "198.51.100.0/24", "2001:db8:10::7", "2001:db8:10::/64"])
    assert node_refusals(narrow) == []
    assert node_refusals(narrow.model_copy(update={"environment": "dev"})) == []


def test_a_jwks_cooldown_under_a_second_is_refused(db_url):
    """At a cooldown of 0, each token naming a kid its issuer's keys do not hold (or whose
    signature they do not verify) had the node fetch the issuer's JWKS again: anyone could
    make it ask the issuer once per forged token. A second and more is fine, and so is any
    cooldown on a node that trusts no issuer (it fetches no keys)."""
    closed = f"https://127.0.0.1:{free_port()}"            # its discovery asked, refused
    issuer = {**HTTPS_ISSUER, "issuer": closed, "jwks_uri": f"{closed}/jwks"}
    result = gdi_node("serve", "--port", str(free_port()), env=_env(
        DATABASE_URL=db_url, GDI_NODE_ENVIRONMENT="prod", GDI_NODE_PUBLIC_BASE_URL=PUBLIC,
        GDI_NODE_TRUSTED_ISSUERS=json.dumps([issuer]), GDI_NODE_JWKS_COOLDOWN_SECONDS="0"))
    _refused(result, "jwks-cooldown")
    assert "jwks_cooldown_seconds 0 is under 1" in result.stderr
    issuers = [TrustedIssuer.model_validate(HTTPS_ISSUER)]
    for cooldown, rules in [(0.5, ["jwks-cooldown"]), (1, []), (30, [])]:
        settings = Settings(environment="prod", public_base_url=PUBLIC,
                            trusted_issuers=issuers, jwks_cooldown_seconds=cooldown)
        assert [r.rule for r in node_refusals(settings)] == rules, cooldown
        assert node_refusals(settings.model_copy(update={"environment": "dev"})) == []
    assert node_refusals(Settings(environment="prod", public_base_url=PUBLIC,
                                  jwks_cooldown_seconds=0)) == []


@pytest.mark.parametrize("secret", ["catalogue", "database", "database-query", "replica"])
def test_the_compose_files_secrets_are_refused(db_url, secret):
    """A database password is refused given either way libpq and asyncpg take one: in the
    URL's user part, or as its query's `password` (which the rule did not look in); and in
    a read replica's URL, which the rule did not look at: a replica is a copy of the
    primary, its roles and their passwords included."""
    env = _env(DATABASE_URL=db_url, GDI_NODE_ENVIRONMENT="prod",
               GDI_NODE_CATALOGUE_URL="https://catalogue.example.org")
    if secret == "catalogue":
        env["GDI_NODE_CATALOGUE_TOKEN"] = "dev-only-fi-catalogue-token"
    elif secret == "database":
        env["DATABASE_URL"] = "postgresql://gdi:dev-only-postgres-password@127.0.0.1:1/fi"
    elif secret == "database-query":
        env["DATABASE_URL"] = ("postgresql://gdi@127.0.0.1:1/fi?sslmode=disable&"
                               "password=dev-only-postgres-password")
    else:
        env["GDI_NODE_DATABASE_REPLICA_URLS"] = (
            "postgresql://gdi@127.0.0.1:1/fi,"
            "postgresql://gdi:dev-only-postgres-password@127.0.0.1:2/fi")
    result = gdi_node("serve", "--port", str(free_port()), env=env)
    _refused(result, "no-development-secrets")
    assert "dev-only-fi" not in result.stderr and "dev-only-postgres" not in result.stderr


def test_a_catalogue_refuses_a_development_database_password_in_the_query():
    settings = CatalogueSettings(environment="prod", public_base_url=CATALOGUE, database_url=(
        "postgresql://gdi@db/catalogue?password=dev-only-postgres-password"))
    assert [r.rule for r in catalogue_refusals(settings)] == ["no-development-secrets"]


def test_a_node_trusting_the_development_aai_is_refused(db_url):
    port = free_port()
    aai = subprocess.Popen([sys.executable, "-m", "node.cli", "aai", "serve", "--port",
                            str(port)], env=_env(), cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                        f"{url}/.well-known/openid-configuration", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the AAI did not start"
                time.sleep(0.2)
        result = gdi_node("serve", "--port", str(free_port()), env=_env(
            DATABASE_URL=db_url, GDI_NODE_ENVIRONMENT="prod",
            GDI_NODE_TRUSTED_ISSUERS=json.dumps([trusted_issuer_entry(url)])))
    finally:
        aai.terminate()
        aai.wait(timeout=30)
    _refused(result, "no-development-aai")


def test_the_development_aai_and_a_development_catalogue_refuse_production():
    _refused(gdi_node("aai", "serve", "--port", str(free_port()),
                      env=_env(GDI_NODE_ENVIRONMENT="prod")), "no-development-aai")
    nodes = [{"id": "org.example.gdi.fi", "token": "dev-only-fi-catalogue-token"}]
    _refused(gdi_node("catalogue", "serve", "--port", str(free_port()),
                      env=_env(GDI_CATALOGUE_ENVIRONMENT="production",
                               GDI_CATALOGUE_NODES=json.dumps(nodes))),
             "no-development-secrets")


@pytest.mark.parametrize("origin", ["http://127.0.0.1:5051", "https://10.1.2.3",
                                    "http://localhost:8080", "https://[::1]:443",
                                    "http://192.168.0.7", "https://127.1", "https://0",
                                    "https://0x7f000001", "https://localhost.",
                                    "https://10.258"])
def test_a_production_catalogue_refuses_internal_origins_unless_allowed(origin, tmp_path):
    nodes = [{"id": "fi", "token": "a-real-secret-0123456789", "origins": [origin]}]
    env = _env(GDI_CATALOGUE_ENVIRONMENT="prod", GDI_CATALOGUE_NODES=json.dumps(nodes),
               GDI_CATALOGUE_DATA_DIR=str(tmp_path))
    _refused(gdi_node("catalogue", "serve", "--port", str(free_port()), env=env),
             "no-internal-origins")
    settings = CatalogueSettings(environment="prod", nodes=nodes, public_base_url=CATALOGUE)
    assert [r.rule for r in catalogue_refusals(settings)] == ["no-internal-origins"]
    allowed = settings.model_copy(update={"allow_internal_origins": True})
    assert catalogue_refusals(allowed) == []
    public = CatalogueSettings(environment="prod", public_base_url=CATALOGUE, nodes=[
        {**nodes[0], "origins": ["https://beacon.example.fi"]}])
    assert catalogue_refusals(public) == []


async def test_a_clean_production_node_starts_and_says_prod(db_url):
    port = free_port()
    node = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "serve", "--port", str(port)], cwd=ROOT,
        env=_env(DATABASE_URL=db_url, GDI_NODE_ENVIRONMENT="production",
                 GDI_NODE_PUBLIC_BASE_URL=PUBLIC,
                 GDI_NODE_TRUSTED_ISSUERS=json.dumps([HTTPS_ISSUER])),
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/api/info") as response:
                        info = await response.json()
                        break
                except aiohttp.ClientError:
                    assert node.poll() is None and time.monotonic() < deadline
                    await asyncio.sleep(0.2)
        assert info["response"]["environment"] == "prod"
    finally:
        node.terminate()
        node.wait(timeout=30)


def test_every_secret_of_the_compose_file_carries_the_development_marker():
    """The rule `no-development-secrets` knows the compose file's secrets by their marker."""
    text = (ROOT / "docker-compose.yml").read_text()
    secrets = re.findall(r"(?:PASSWORD|TOKEN):\s*(\S+)", text)
    secrets += re.findall(r'"token":\s*"([^"]+)"', text)
    secrets += re.findall(r"postgresql://[^:]+:([^@]+)@", text)
    assert len(secrets) >= 5
    assert all("dev-only" in secret for secret in secrets), secrets


@pytest.mark.parametrize(("url", "rule"), [(None, "public-base-url"),
                                           ("http://beacon.example.fi/", "https-only")])
def test_a_production_node_names_where_researchers_reach_it(url, rule):
    """Without public_base_url, a production node's Beacon, FAIR Data Point and catalogue
    records named http://0.0.0.0:5050, an address no researcher reaches; over plain http,
    researchers' tokens would go there in the clear (found by a review, 2026-12-05)."""
    refusals = node_refusals(Settings(environment="prod", public_base_url=url))
    assert [r.rule for r in refusals] == [rule]
    assert node_refusals(Settings(environment="prod", public_base_url=PUBLIC)) == []
    assert node_refusals(Settings(environment="dev", public_base_url=url)) == []


@pytest.mark.parametrize(("url", "rule"), [(None, "public-base-url"),
                                           ("https://localhost:5060", "public-base-url"),
                                           ("http://catalogue.example.org", "https-only")])
def test_a_production_catalogue_names_where_it_is_reached(url, rule, tmp_path):
    """As a node: without public_base_url, a production catalogue's FAIR Data Point named
    itself http://0.0.0.0:5060 (the image's host), an address no harvester reaches, whose
    IRIs the GDI portal's harvester (which keeps a record only under the URL it fetched)
    dropped; over plain http, the registry that networks take their peers from could be
    rewritten on the way."""
    nodes = [{"id": "fi", "token": "a-real-secret-0123456789",
              "origins": ["https://beacon.example.fi"]}]
    refusals = catalogue_refusals(CatalogueSettings(environment="prod", nodes=nodes,
                                                    public_base_url=url))
    assert [r.rule for r in refusals] == [rule]
    assert catalogue_refusals(CatalogueSettings(environment="prod", nodes=nodes,
                                                public_base_url=CATALOGUE)) == []
    assert catalogue_refusals(CatalogueSettings(environment="dev", public_base_url=url)) == []
    env = _env(GDI_CATALOGUE_ENVIRONMENT="prod", GDI_CATALOGUE_NODES=json.dumps(nodes),
               GDI_CATALOGUE_DATA_DIR=str(tmp_path))
    _refused(gdi_node("catalogue", "serve", "--port", str(free_port()), env=env),
             "public-base-url")


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://portal.example.org"])
def test_a_production_node_refuses_plain_http_browser_origins(origin):
    """A CORS origin lets that page's scripts call /api and /network/api with the
    researcher's token: a plain-http page (a developer's portal on localhost left in, or a
    real one without TLS) is one anyone on its network can rewrite, its scripts then
    holding and sending that token. The catalogue's read-only origins carry no token."""
    settings = Settings(environment="prod", public_base_url=PUBLIC,
                        cors_origins=["https://portal.example.org", origin])
    refusals = node_refusals(settings)
    assert [r.rule for r in refusals] == ["https-only"]
    assert f"cors_origins entry 2 {origin}" in str(refusals[0])
    assert node_refusals(settings.model_copy(update={"environment": "dev"})) == []


@pytest.mark.parametrize("url", ["https://localhost:5050", "https://127.0.0.1",
                                 "https://[::1]:8443", "https://0.0.0.0:5050",
                                 "https://beacon.localhost", "https://127.1", "https://0",
                                 "https://2130706433:8443", "https://017700000001",
                                 "https://localhost.", "https://beacon.localhost."])
def test_a_production_node_refuses_a_public_base_url_no_researcher_reaches(url):
    """The rule's reason, a public URL naming an address no researcher reaches, held only
    for an unset one: a development configuration's `https://localhost:5050` (or the
    image's 0.0.0.0) was taken, and the node's Beacon, FAIR Data Point and catalogue
    records named it. A private address stays allowed (a federation in one network)."""
    refusals = node_refusals(Settings(environment="prod", public_base_url=url))
    assert [r.rule for r in refusals] == ["public-base-url"]
    assert node_refusals(Settings(environment="prod",
                                  public_base_url="https://10.1.2.3/gdi")) == []


async def test_the_issuers_checked_for_the_development_aai_are_asked_at_once():
    """Three trusted issuers whose discovery documents answer only once all three are asked
    (or after 3 s), each the development AAI's. A production node's start asked them one
    after another, so each issuer that does not answer held the start for its 10 s timeout
    in turn (as the registry's discovery did before it was made concurrent); now all at
    once, and each is refused by its own answer."""
    from aiohttp import web

    from node.production import development_issuers
    from tests.conftest import issuers_answering_together
    async with contextlib.AsyncExitStack() as stack:
        together = await issuers_answering_together(stack, lambda name: web.json_response(
            {"gdi_development_only": name != "b"}))
        url = together.url
        settings = Settings(environment="prod", public_base_url=PUBLIC, trusted_issuers=[
            {"issuer": f"{url}/{name}"} for name in ("a", "b", "c")])
        session = await stack.enter_async_context(aiohttp.ClientSession())
        refusals = await development_issuers(settings, session)
    assert sorted(together.asked) == ["a", "b", "c"]
    assert together.seen_when_answered == [3, 3, 3]   # one after another: [1, 2, 3], 6 s
    assert [r.detail for r in refusals] == [f"trusted issuer {url}/{name} is the development "
                                            "AAI" for name in ("a", "c")]
