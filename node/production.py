"""What a node, the catalogue service and the development AAI refuse to start with in
production (`environment = prod`, also spelt `production`).

Each rule has a name, which the refusal logs, so an operator knows which line to change:
- `https-only`: a trusted issuer (issuer, jwks_uri, userinfo_endpoint, visa jku), the
  catalogue a node publishes to, a configured peer, or a browser origin allowed to call the
  node (`cors_origins`: its scripts send researchers' tokens), over plain http: tokens, keys
  and secrets would cross the network in the clear or from a forgeable source (a peer is sent
  researchers' tokens and, with or without one, the caller's pseudonym and purpose of use). The URLs an issuer's discovery document
  gives are held to it when the node reads them: such an issuer is not refused at start (it
  may be unreachable then) but stays untrusted, its tokens refused (auth/issuers.py);
- `no-development-aai`: a trusted issuer whose discovery document marks it as the development
  AAI (`gdi_development_only`), which hands out tokens to anyone who knows a user name; and the
  development AAI itself, which refuses to serve at all in production;
- `no-development-secrets`: a secret carrying the compose file's marker `dev-only` (its
  catalogue tokens and database passwords are public demo values), a read replica's
  database password included;
- `no-internal-origins`: a node allowed to register URLs at a loopback or private address
  (networks reading the registry would send queries into the catalogue's own network),
  unless the catalogue says `allow_internal_origins`;
- `public-base-url`: a node without `public_base_url`, whose Beacon, FAIR Data Point and
  catalogue records would name it `http://0.0.0.0:5050` or a loopback address, an address
  no researcher reaches, or with one naming such an address or `localhost` itself (`https-only` too, where it is plain http: researchers' tokens go
  there); and a catalogue without one (or with one at such an address), whose FAIR Data
  Point would name `http://0.0.0.0:5060` (`https-only` where plain http: networks read
  their peers from its registry);
- `narrow-network-trust`: a `trusted_network_addresses` entry wider than a /24 (IPv4) or a
  /64 (IPv6): every client inside it could name itself a fresh network caller on each question
  and get a fresh anonymous budget and fresh loss accounts (docs/federation.md);
- `jwks-cooldown`: `jwks_cooldown_seconds` under MIN_JWKS_COOLDOWN: a token naming a `kid`
  its issuer's keys do not hold, or whose signature they do not verify, has the node read the
  issuer's JWKS again once per cooldown, so at 0 anyone sending forged tokens made the node
  fetch its issuer's keys once for each (found by a review, 2026-12-06).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from auth.issuers import DEVELOPMENT_AAI_CLAIM, TrustedIssuer, discovery_document
from catalogue.credentials import host_address, is_internal
from node.database import passwords
from node.settings import CatalogueSettings, ServiceSettings, Settings

log = logging.getLogger(__name__)
PRODUCTION = "prod"
DEVELOPMENT_MARKER = "dev-only"           # in every secret of docker-compose.yml
# The widest trusted_network_addresses entry production takes: a network node's own subnet
# (a /24, a site's /64), never a provider's range, let alone /0.
WIDEST_NETWORK_TRUST = {4: 24, 6: 64}
# The shortest jwks_cooldown_seconds production takes: one read of an issuer's keys a second
# at most, whatever callers send (the default is 30)
MIN_JWKS_COOLDOWN = 1.0


@dataclass(frozen=True)
class Refusal:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"refusing to start in production (rule {self.rule}): {self.detail}"


def _plain_http(url: str | None) -> bool:
    return url is not None and urlsplit(url).scheme.lower() == "http"


def _this_host(url: str) -> bool:
    """A loopback or unspecified address, or `localhost`: the host itself. Not a private
    address, which a federation inside one network reaches (as the catalogue's
    `allow_internal_origins` allows)."""
    address = host_address(url)
    return address is not None and (address.is_loopback or address.is_unspecified)


def _public_base_url(url: str | None, shown: str, named_by: str, in_clear: str,
                     reached_by: str) -> list[Refusal]:
    """What refuses a production service's public_base_url: unset (`named_by`, its
    documents, would name `shown`, its own listening address), plain http (what would go
    `in_clear`), or this host itself (which `reached_by`, those who call it, never reach)."""
    if url is None:
        return [Refusal("public-base-url", f"public_base_url is not set; {named_by} would "
                                           f"name {shown}")]
    if _plain_http(url):
        return [Refusal("https-only", f"public_base_url {url} is plain http; {in_clear} "
                                      "in the clear")]
    if _this_host(url):
        return [Refusal("public-base-url", f"public_base_url {url} names this host itself, "
                                           f"{reached_by}")]
    return []


def _issuer_urls(issuer: TrustedIssuer) -> list[str | None]:
    return [issuer.issuer, issuer.jwks_uri, issuer.userinfo_endpoint, *issuer.visa_jku]


def _development_secret(value: str | None) -> bool:
    return value is not None and DEVELOPMENT_MARKER in value


def _development_password(database_url: str | None) -> bool:
    """Whether any password the URL gives is a development value: `user:password@` or a
    `?password=` (which only the former was looked for in)."""
    return database_url is not None and any(_development_secret(password)
                                            for password in passwords(database_url))


def node_refusals(settings: Settings) -> list[Refusal]:
    """What the node's configuration alone breaks (discovery is `development_issuers`)."""
    if settings.environment != PRODUCTION:
        return []
    refusals = [Refusal("https-only", f"trusted issuer {issuer.issuer} is reached over http "
                                      f"({url})")
                for issuer in settings.trusted_issuers
                for url in _issuer_urls(issuer) if _plain_http(url)]
    refusals += [Refusal("https-only", f"peers[{number}].url {peer.url} is plain http; the "
                                       "peer would be sent researchers' tokens, and every "
                                       "caller's pseudonym and purpose of use, in the clear")
                 for number, peer in enumerate(settings.peers) if _plain_http(str(peer.url))]
    refusals += [Refusal("https-only", f"cors_origins entry {number} {origin} is plain http; "
                                       "that page's scripts, which anyone on its network "
                                       "can rewrite, would hold and send researchers' "
                                       "tokens")
                 for number, origin in enumerate(settings.cors_origins, 1)
                 if _plain_http(origin)]
    refusals += [Refusal("narrow-network-trust", f"trusted_network_addresses entry {network} "
                                                 f"is wider than /"
                                                 f"{WIDEST_NETWORK_TRUST[network.version]}; "
                                                 "any client inside it could mint fresh "
                                                 "anonymous budgets with "
                                                 "X-Beacon-Network-Caller")
                 for network in settings.trusted_network_addresses
                 if network.prefixlen < WIDEST_NETWORK_TRUST[network.version]]
    if settings.trusted_issuers and settings.jwks_cooldown_seconds < MIN_JWKS_COOLDOWN:
        refusals.append(Refusal("jwks-cooldown", f"jwks_cooldown_seconds "
                                                 f"{settings.jwks_cooldown_seconds:g} is under "
                                                 f"{MIN_JWKS_COOLDOWN:g}; each forged token "
                                                 "would have the node fetch its issuer's keys"))
    refusals += _public_base_url(
        settings.public_base_url, settings.base_url,
        "the node's Beacon, FAIR Data Point and catalogue records",
        "researchers' tokens would go there", "an address no researcher reaches")
    if _plain_http(settings.catalogue_url):
        refusals.append(Refusal("https-only", f"catalogue_url {settings.catalogue_url} is "
                                              "plain http; the node's token would travel in "
                                              "the clear"))
    development = {"catalogue_token": _development_secret(
                       settings.catalogue_token and settings.catalogue_token.get_secret_value()),
                   "database_url password": _development_password(settings.database_url),
                   # a replica is a copy of the primary, its roles' passwords included
                   **{f"database_replica_urls[{number}] password": _development_password(url)
                      for number, url in enumerate(settings.database_replica_urls)}}
    refusals += [Refusal("no-development-secrets", f"{name} is a development value "
                                                   f"(contains {DEVELOPMENT_MARKER!r})")
                 for name, found in development.items() if found]
    return refusals


def catalogue_refusals(settings: CatalogueSettings) -> list[Refusal]:
    if settings.environment != PRODUCTION:
        return []
    refusals = [Refusal("no-development-secrets", f"the token of node {node.id} is a "
                                                  f"development value (contains "
                                                  f"{DEVELOPMENT_MARKER!r})")
                for node in settings.nodes
                if node.token is not None and _development_secret(node.token.get_secret_value())]
    if _development_password(settings.database_url):
        refusals.append(Refusal("no-development-secrets", "database_url password is a "
                                                          "development value"))
    refusals += _public_base_url(
        settings.public_base_url, settings.base_url, "the catalogue's FAIR Data Point",
        "the registry networks take their peers from would travel", "which no harvester "
        "reaches")
    if not settings.allow_internal_origins:
        refusals += [Refusal("no-internal-origins", f"node {node.id} may register URLs at "
                                                    f"{origin}, an internal address")
                     for node in settings.nodes for origin in node.origins if is_internal(origin)]
    return refusals


def aai_refusals(settings: ServiceSettings) -> list[Refusal]:
    if settings.environment != PRODUCTION:
        return []
    return [Refusal("no-development-aai", "the development AAI hands out tokens for configured "
                                          "passwords and never runs in production")]


async def development_issuers(settings: Settings,
                              session: aiohttp.ClientSession) -> list[Refusal]:
    """Trusted issuers whose discovery document says they are the development AAI. An issuer
    that cannot be reached now is not refused here: its tokens are refused until a fetch of
    its document has shown it is not (auth/issuers.py IssuerRegistry). All are asked at
    once: one after another, each issuer not answering held the start for its 10 s timeout
    in turn."""
    if settings.environment != PRODUCTION:
        return []
    marked = await asyncio.gather(*(_development(issuer, session)
                                    for issuer in settings.trusted_issuers))
    return [Refusal("no-development-aai", f"trusted issuer {issuer.issuer} is the development "
                                          "AAI")
            for issuer, development in zip(settings.trusted_issuers, marked, strict=True)
            if development]


async def _development(issuer: TrustedIssuer, session: aiohttp.ClientSession) -> bool:
    """Whether the issuer's discovery document, if it can be read, marks the development
    AAI."""
    try:
        document = await discovery_document(issuer.issuer, session)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    return isinstance(document, dict) and document.get(DEVELOPMENT_AAI_CLAIM) is True


def refuse(refusals: list[Refusal]) -> bool:
    """Log each refusal (the rule it breaks); True when there was any."""
    for refusal in refusals:
        log.error("%s", refusal)
    return bool(refusals)
