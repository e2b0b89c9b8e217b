"""Trusted issuers: who may sign access tokens and visas for this node, with what, for whom.

Everything a token could claim about how to check it (algorithm, key location, issuer
spelling) is decided here, from configuration, and never taken from the token itself. So is
whose word counts for whom: a `sub` is unique only within its issuer, so an issuer's users may
present only visas signed by the issuers it is configured to accept (by default itself), and
a signer's ControlledAccessGrants count only from the sources it is configured to relay.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from auth.documents import issuer_document
from auth.urls import http_url

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)
ALLOWED_ALGORITHMS = ("RS256", "ES256")
DEVELOPMENT_AAI_CLAIM = "gdi_development_only"   # in the development AAI's discovery document
DISCOVERY_RETRY_SECONDS = 30.0   # between discovery fetches of issuers not yet trusted
DISCOVERY_SECONDS = 10.0         # a discovery document's fetch, at start or on a token's retry
# ... and for the page (sign_in_endpoints): as long as the page's own script waits for it
# (node/web/app.js), as a page's load waits for it
PAGE_DISCOVERY_SECONDS = 5.0


def _fetched_url(url: str) -> str:
    """An issuer's URL (auth/urls.py's rule) without a user name or password: the issuer and
    its userinfo endpoint are published to every browser (/web/config.json, the page's
    Content-Security-Policy), each URL is named in the log's warnings, and aiohttp will not
    send a URL's credentials beside a token's Authorization header, so a userinfo endpoint
    holding them dropped every researcher's visas (found by a review, 2026-12-05)."""
    url = http_url(url)
    if "@" in urlsplit(url).netloc:
        raise ValueError("an issuer's URL holds no user name or password: it is published, "
                         "logged, and cannot go with a token")
    return url


class TrustedIssuer(BaseModel):
    """One issuer, as the operator configures it (e.g. LS Login, or the development AAI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(description="The exact `iss` value, compared byte for byte")
    jwks_uri: str | None = Field(
        default=None, description="Where the issuer's signing keys are published; unset = "
                                  "read from the issuer's OIDC discovery document at start")
    userinfo_endpoint: str | None = Field(
        default=None, description="Returns ga4gh_passport_v1 visas for an access token; "
                                  "unset = read from the discovery document at start, for "
                                  "an issuer of access tokens with visas = true")
    algorithms: tuple[str, ...] = ("RS256",)
    audience: str | None = Field(default=None,
                                 description="Required `aud` of access tokens, if any")
    access_tokens: bool = True
    visas: bool = False
    visa_jku: tuple[str, ...] = Field(
        default=(), description="jku URLs this issuer may sign visas with, besides jwks_uri")
    accepted_visa_issuers: tuple[str, ...] | None = Field(
        default=None, description="Visa signers (`iss`, exactly) whose visas this issuer's "
                                  "users may present, each configured with visas = true; "
                                  "unset = this issuer alone")
    accepted_grant_sources: tuple[str, ...] | None = Field(
        default=None, description="`source` values (e.g. a DAC or REMS URL, exactly) whose "
                                  "ControlledAccessGrants visas signed by this issuer grant "
                                  "access; unset = this issuer's own URL alone")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [alg for alg in value if alg not in ALLOWED_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"algorithms must be among {', '.join(ALLOWED_ALGORITHMS)}")
        return value

    @field_validator("issuer")
    @classmethod
    def _a_url(cls, value: str) -> str:
        """OpenID Connect's `iss` is a URL, which discovery appends to. One with a trailing
        space, a tab or no scheme (a copying slip) matched no token's `iss`: every token of
        it refused, or, left to discovery, fetched at a URL that is none, nothing said at
        start. Held to the rule of the URLs the node fetches (auth/urls.py)."""
        return _fetched_url(value)

    @field_validator("audience")
    @classmethod
    def _an_audience(cls, value: str | None) -> str | None:
        """`aud` is compared exactly: an empty one (a template's variable left unset) or one
        with a pasted space matched no token, and each of the issuer's tokens was a 401."""
        if value is not None and (not value or value != value.strip()):
            raise ValueError("empty, or with white space around it, which no token's aud "
                             "holds; leave it out to accept tokens without this check")
        return value

    @field_validator("jwks_uri", "userinfo_endpoint")
    @classmethod
    def _fetched(cls, value: str | None) -> str | None:
        return value if value is None else _fetched_url(value)

    @field_validator("visa_jku")
    @classmethod
    def _fetched_each(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(map(_fetched_url, value))

    @model_validator(mode="after")
    def _visa_settings_need_visas(self) -> TrustedIssuer:
        if not self.visas and (self.accepted_visa_issuers is not None
                               or self.accepted_grant_sources is not None):
            raise ValueError("accepted_visa_issuers and accepted_grant_sources apply only to "
                             "an issuer with visas = true")
        return self

    @property
    def complete(self) -> bool:
        """Whether the configuration gives every URL the node fetches for this issuer: its
        JWKS, and, for an issuer of access tokens with visas, the userinfo endpoint its
        users' visas come from. One configured with its jwks_uri alone was trusted at once,
        never discovered, and its users' visas never asked for: each researcher answered
        without them, nothing said, where docs/auth.md says an omitted userinfo_endpoint is
        read from the discovery document (found by a review, 2026-12-06)."""
        return self.jwks_uri is not None and (
            self.userinfo_endpoint is not None or not (self.access_tokens and self.visas))

    @property
    def visa_signers(self) -> tuple[str, ...]:
        """Whose visas this issuer's users may present."""
        return (self.issuer,) if self.accepted_visa_issuers is None else (
            self.accepted_visa_issuers)

    @property
    def grant_sources(self) -> tuple[str, ...]:
        """Whose ControlledAccessGrants, signed by this issuer, grant access."""
        return (self.issuer,) if self.accepted_grant_sources is None else (
            self.accepted_grant_sources)


@dataclass(frozen=True)
class SignInEndpoints:
    """What a browser signing in with an issuer calls besides its discovery document, as
    that document names them: node/http/web.py lets the page's Content-Security-Policy
    reach their origins. A provider's token endpoint may be on another origin than its
    issuer (Google's: accounts.google.com, oauth2.googleapis.com), and the page, allowed
    the issuer's alone, could never exchange its code."""

    token: str | None = None
    userinfo: str | None = None


def accepted_grant_sources(issuers: list[TrustedIssuer]) -> set[str]:
    """Every `source` whose ControlledAccessGrants some issuer trusted for visas relays."""
    return {source for issuer in issuers if issuer.visas for source in issuer.grant_sources}


class IssuerRegistry:
    """Exact-match lookup: `https://aai.example/` and `https://aai.example` are two issuers.

    Issuers configured without a URL the node fetches (TrustedIssuer.complete: a jwks_uri,
    or an issuer of access tokens with visas its userinfo_endpoint) are completed from
    their discovery document by `discover`; one that cannot be completed stays out of the
    registry, waiting (`waiting`: its tokens get 503, auth/authenticate.py): its document
    unreachable or unusable, or a URL it gives not one the configuration would take
    (auth/urls.py), or plain http where only https is (in production).

    In production every issuer waits for its discovery document, even one configured with
    its URLs: only the document says whether it is the development AAI (DEVELOPMENT_AAI_CLAIM),
    which hands out tokens to anyone, and such an issuer unreachable at start was trusted
    unchecked. Its tokens are not answered until a fetch has shown it is not; an issuer still
    waiting is fetched again when one of its tokens (or, a visa signer, visas:
    auth/passport.py) comes, at most every
    DISCOVERY_RETRY_SECONDS (`retry`), so an IdP outage at start neither stops the node nor
    leaves the issuer untrusted for good. Once trusted, a token's lookup is the one dict
    read it always was."""

    def __init__(self, issuers: list[TrustedIssuer], *, production: bool = False) -> None:
        self.production = production
        self._by_issuer = {} if production else {i.issuer: i for i in issuers if i.complete}
        self.undiscovered = [i for i in issuers if production or not i.complete]
        self._signing_in = [i for i in issuers if i.access_tokens]
        # by issuer, once its discovery document has been read (sign_in_endpoints)
        self._sign_in: dict[str, SignInEndpoints] = {}
        self._next_retry = 0.0
        self._next_sign_in_read = 0.0
        self._retrying: asyncio.Lock | None = None
        signers = {i.issuer for i in issuers if i.visas}
        for holder in issuers:
            for unknown in set(holder.visa_signers if holder.visas else ()) - signers:
                log.warning("%s accepts visas from %s, which is not a trusted issuer with "
                            "visas = true; those visas will be dropped", holder.issuer, unknown)

    async def discover(self, session: aiohttp.ClientSession, *, sign_in: bool = False,
                       timeout: float = DISCOVERY_SECONDS) -> None:
        """Every issuer waiting, all at once: one after another, each unreachable one held
        the node's start (and a token's retry) for its 10 s timeout in turn. With `sign_in`,
        also every issuer of access tokens whose document has not been read (one configured
        with its URLs, never discovered outside production), for its SignInEndpoints."""
        waiting = list(self.undiscovered)
        unread = [i for i in self._signing_in if sign_in and i not in waiting
                  and i.issuer not in self._sign_in]
        asked = [*waiting, *unread]
        documents = await asyncio.gather(*(_document(issuer, session, timeout)
                                           for issuer in asked))
        for issuer, document in zip(asked, documents, strict=True):
            found = _discovered(issuer, document, self.production) if issuer in waiting else None
            if found is _DEVELOPMENT:
                self.undiscovered.remove(issuer)       # for good: never its tokens
            elif found is not None:
                self._by_issuer[found.issuer] = found
                self.undiscovered.remove(issuer)
            if issuer.access_tokens and isinstance(document, dict):
                self._sign_in[issuer.issuer] = (SignInEndpoints() if found is _DEVELOPMENT
                                                else _sign_in(issuer, document, self.production))
            elif issuer in unread:
                log.warning("OIDC discovery for %s failed (%s): the page's sign-in reaches "
                            "its issuer's origin alone", issuer.issuer, document)
        self._next_retry = time.monotonic() + DISCOVERY_RETRY_SECONDS

    async def sign_in_endpoints(self, session: aiohttp.ClientSession
                                ) -> Mapping[str, SignInEndpoints]:
        """By issuer of access tokens, what a browser signing in with it calls, as its
        discovery document names them; an issuer whose document is not read yet is read
        first (issuers still waiting with it, so a page's visit retries them as a token
        does: a researcher whose page could not reach the token endpoint had no token to
        send), at most every DISCOVERY_RETRY_SECONDS, one read at a time, within
        PAGE_DISCOVERY_SECONDS. One still unread is absent."""
        if all(i.issuer in self._sign_in for i in self._signing_in):
            return self._sign_in
        if self._retrying is None:
            self._retrying = asyncio.Lock()
        async with self._retrying:
            if time.monotonic() >= self._next_sign_in_read and not all(
                    i.issuer in self._sign_in for i in self._signing_in):
                await self.discover(session, sign_in=True, timeout=PAGE_DISCOVERY_SECONDS)
                self._next_sign_in_read = time.monotonic() + DISCOVERY_RETRY_SECONDS
        return self._sign_in

    def waiting(self, iss: str, purpose: Literal["access", "visa"] | None = None) -> bool:
        """Whether `iss` is a configured issuer still waiting for a usable discovery
        document: neither trusted nor refused for good. With `purpose`, only one that its
        document would make trusted for it (`access_tokens`, `visas`): a token of an issuer
        trusted for visas alone is refused whatever its document says, not answered as if
        it might be good once it is read."""
        return any(i.issuer == iss and (purpose is None or (
            i.access_tokens if purpose == "access" else i.visas)) for i in self.undiscovered)

    async def retry(self, iss: str, session: aiohttp.ClientSession) -> bool:
        """Whether `iss`, not trusted now, is after discovering the issuers still waiting
        (when DISCOVERY_RETRY_SECONDS have passed since the last try; one try at a time)."""
        if not self.waiting(iss):
            return False
        if self._retrying is None:
            self._retrying = asyncio.Lock()
        async with self._retrying:
            if time.monotonic() >= self._next_retry:
                await self.discover(session)
        return iss in self._by_issuer

    def for_access_token(self, iss: str) -> TrustedIssuer | None:
        issuer = self._by_issuer.get(iss)
        return issuer if issuer and issuer.access_tokens else None

    def for_visa(self, iss: str, holder: TrustedIssuer) -> TrustedIssuer | None:
        """The signer of a visa that a user of `holder` (the access token's issuer) presents,
        if the node takes its word for them: one of holder's visa_signers, trusted for visas.
        Visas are never pooled across issuers: a `sub` of one is nobody at another."""
        if not holder.visas or iss not in holder.visa_signers:
            return None
        issuer = self._by_issuer.get(iss)
        return issuer if issuer and issuer.visas else None

    def __bool__(self) -> bool:
        return bool(self._by_issuer or self.undiscovered)


def discovery_url(issuer: str) -> str:
    """Where OIDC Discovery puts an issuer's document (its trailing slash is not doubled)."""
    return f"{issuer.rstrip('/')}/.well-known/openid-configuration"


async def discovery_document(issuer: str, session: aiohttp.ClientSession,
                             timeout: float = DISCOVERY_SECONDS) -> object:
    """The issuer's discovery document as JSON; aiohttp.ClientError, TimeoutError or
    ValueError when it cannot be had. aiohttp is imported here, not with the module: the
    node's settings name trusted issuers, and a CLI command that never discovers one (an
    ingest) should not pay for loading an HTTP client (a tenth of a second or more)."""
    import aiohttp
    return await issuer_document(session, discovery_url(issuer),
                                 aiohttp.ClientTimeout(total=timeout))


# `_discovered`'s answer for it: a marker, never looked up, so not a URL
_DEVELOPMENT = TrustedIssuer.model_construct(issuer="(the development AAI)")


async def _document(issuer: TrustedIssuer, session: aiohttp.ClientSession,
                    timeout: float) -> dict[str, object] | str:
    """The issuer's discovery document, or why it is not one: a document naming another
    issuer is not its."""
    import aiohttp
    try:
        document = await discovery_document(issuer.issuer, session, timeout)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    if not isinstance(document, dict) or document.get("issuer") != issuer.issuer:
        return "the document names another issuer"
    return document


def _discovered(issuer: TrustedIssuer, document: dict[str, object] | str,
                production: bool) -> TrustedIssuer | None:
    """The issuer completed by its discovery document (a URL configured wins), the URLs it
    gives checked as configured ones are: a `userinfo_endpoint` that is not a string was a
    TypeError on every passport-scoped token (a 500), and a plain http one, in production,
    would be sent bearer tokens in the clear. In production, `_DEVELOPMENT` when the
    document marks the development AAI."""
    url = discovery_url(issuer.issuer)
    if isinstance(document, str):
        log.error("OIDC discovery for %s failed (%s); its tokens will not be answered",
                  issuer.issuer, document)
        return None
    if production and document.get(DEVELOPMENT_AAI_CLAIM) is True:
        log.error("trusted issuer %s is the development AAI (its discovery document says "
                  "%s), in production; its tokens are refused", issuer.issuer,
                  DEVELOPMENT_AAI_CLAIM)
        return _DEVELOPMENT
    if issuer.jwks_uri is None and not isinstance(document.get("jwks_uri"), str):
        log.error("discovery document at %s has no jwks_uri; not trusted", url)
        return None
    discovered = {name: document.get(name) for name in ("jwks_uri", "userinfo_endpoint")
                  if getattr(issuer, name) is None}
    try:     # validated, as model_copy would not
        found = TrustedIssuer.model_validate({**issuer.model_dump(), **discovered})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        log.error("discovery document at %s gives unusable URLs (%s); not trusted", url,
                  problems)
        return None
    plain = [name for name in discovered
             if production and urlsplit(getattr(found, name) or "").scheme.lower() == "http"]
    if plain:
        log.error("discovery document at %s gives plain http URLs (%s), in production; not "
                  "trusted", url, ", ".join(plain))
        return None
    if not found.complete:
        log.warning("%s has no userinfo_endpoint (configured or in its discovery document): "
                    "its users' visas are read only from Passport tokens", issuer.issuer)
    return found


def _sign_in(issuer: TrustedIssuer, document: dict[str, object],
             production: bool) -> SignInEndpoints:
    """The SignInEndpoints the document names, each held to the rule of the URLs the node
    fetches, and in production to https: a code sent in the clear is anyone's token. One
    that is not is left out, and said."""
    found: dict[str, str] = {}
    for name, field in (("token_endpoint", "token"), ("userinfo_endpoint", "userinfo")):
        value = document.get(name)
        if value is None:
            continue
        try:
            url = _fetched_url(value) if isinstance(value, str) else None
        except ValueError:
            url = None
        if url is None or (production and urlsplit(url).scheme.lower() == "http"):
            log.error("discovery document of %s gives an unusable %s (%s); the page's "
                      "sign-in with it cannot reach it", issuer.issuer, name,
                      "plain http, in production" if url else "not a URL")
            continue
        found[field] = url
    return SignInEndpoints(**found)
