"""Bearer tokens fuzzed: a researcher's real Passport (an access token from the development
AAI carrying three visas: the two bona fide halves and a grant for one controlled dataset),
mutated one to three times each round, sent to a node, and the answer compared with what the
unmutated Passport gets. Seeded like tests/test_fuzz_http.py (GDI_FUZZ_SEED, GDI_FUZZ_ROUNDS:
1,500 requests by default).

Four kinds of mutation, each with the most its answer may be:
- **the token's text** (a character replaced, inserted or deleted, a segment cut, doubled or
  swapped, the token cut short), not signed again: refused (401), or, where the change does
  not change what was signed (the unused low bits of a segment's last character), exactly
  the Passport's answer;
- **its header** (the algorithm, the key's id and location, `crit`, `b64`, `cty`, `zip`,
  types flipped, keys added or removed), signed again with the AAI's real key: refused, or
  exactly the Passport's answer;
- **its claims** (any claim or visa entry replaced by a hostile value, removed, added or
  duplicated), signed again with the AAI's real key: refused, or no more than the
  Passport's answer for every dataset;
- **one of its visas** (its text, or its header or claims signed again with the AAI's real
  visa key), the Passport signed again around it: never refused (a bad visa is dropped, the
  token stays valid), and no more than the Passport's answer for every dataset.

No hostile value is another dataset's identifier, so a re-signed claim can never rightly grant
more than the Passport does. For every request, whatever was sent: never a 5xx, nothing logged
as an error (nor the audit trail failing to write), every log record one line as the text log
writes it, a refusal is a 401 with a Beacon error body whose message holds no control and
`WWW-Authenticate` in printable ASCII, and an answer is valid against its Beacon schema. The
token is never quoted back. Its first runs found a signed `sub` with a NUL (a 500 where a budget
counts the caller, and an audit entry that held back all others).

A second test makes a trusted issuer answer nonsense from its JWKS and userinfo (see its
docstring); its first runs found four 500s there.
"""
from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import random
import string
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from multidict import CIMultiDictProxy

from auth.dev_issuer import SigningKey
from auth.issuers import TrustedIssuer
from auth.passport import BONA_FIDE
from auth.policy import GRANULARITIES
from auth.tokens import MAX_TOKEN_BYTES
from node.logs import TextFormatter
from tests.beacon_schemas import ERROR_SCHEMA, RESPONSE_SCHEMAS
from tests.conftest import free_port, serve_app
from tests.test_auth import (  # noqa: F401  (stack: the fixture this module's tests use)
    CONTROLLED,
    QUERY,
    Stack,
    _claims,
    _node_with,
    _visa,
    stack,
)
from tests.test_fuzz_http import (
    EDGES,
    NASTY,
    ROUNDS,
    _paths,
    failure,
    fuzz_rounds,
    logged_errors,
)

B64 = string.ascii_letters + string.digits + "-_"
# Text that breaks a line or hides part of one. A refusal's reason quoted an unsigned token's
# `crit` header as PyJWT's message had it: its LF, NEL or U+2028 forged an audit log line, its
# CR LF made aiohttp refuse to write the 401's WWW-Authenticate header (a dropped connection
# and an ERROR instead of the 401; found by a review, 2026-12-05)
FORGED_LINE = "2026-12-05 10:00:00,000 INFO    gdi_node.audit: access sub=carol"
LINE_BREAKING = ["x\r\nSet-Cookie: session=attacker", f"x\n{FORGED_LINE}",
                 f"x\u2028{FORGED_LINE}", "x\u2029y", "x\x85y", "x\x0by", "x\x1b[2Ky"]
# What a claim or header value is replaced by, besides tests/test_fuzz_http.py's NASTY and
# EDGES and the text above: times on either side of now, the other values a token's fields
# take, none of them another dataset's identifier
HOSTILE: list[Any] = [*NASTY, *EDGES, *LINE_BREAKING, float("inf"), float("-inf"), float("nan"),
                      "RS256", "none", "HS256", "RS512", "ES256", "JWT", "at+jwt", BONA_FIDE,
                      "ControlledAccessGrants", "ResearcherStatus", "AcceptedTermsAndPolicies",
                      "LinkedIdentities", "dac", "so", "system", "self", "gdi-node", "mallory",
                      "openid ga4gh_passport_v1", ["gdi-node", 1], [[["x"]]], {"a": {"b": []}}]
CLAIM_KEYS = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "azp",
              "ga4gh_passport_v1", "ga4gh_visa_v1", "type", "value", "source", "by",
              "asserted", "conditions", "junk"]
HEADER_KEYS = ["alg", "kid", "typ", "jku", "jwk", "x5u", "x5c", "x5t", "crit", "b64", "cty",
               "zip", "enc", "junk"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(key: SigningKey, header: dict[str, Any], claims: Any) -> str:
    """A JWS signed with RS256 by `key` over exactly this header and these claims, whatever
    they say (PyJWT would set `alg` itself and refuse to write some of them)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def _hostile(rng: random.Random, key: object = None) -> Any:
    """A hostile value for `key`: a header's `crit` is a list of names, so there it is most
    often a hostile name in one (PyJWT refuses any other `crit` before it reads a name),
    half of those a line-breaking one."""
    if key == "crit" and rng.random() < 0.8:
        return [rng.choice(LINE_BREAKING) if rng.random() < 0.5 else
                rng.choice([v for v in HOSTILE if isinstance(v, str)])]
    value = rng.choice(HOSTILE)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return copy.deepcopy(value)


def _mutated_json(document: Any, rng: random.Random, keys: list[str]) -> Any:
    """One change at a place drawn from the whole document: its value replaced by a hostile
    one, removed, or (in an object) a key added, or (in a list) an entry duplicated."""
    document = copy.deepcopy(document)
    path = rng.choice(_paths(document))
    if not path:
        return _hostile(rng) if rng.random() < 0.1 else document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    how = rng.choice(["replace", "replace", "remove", "add", "duplicate"])
    if how == "replace":
        parent[last] = _hostile(rng, last)
    elif how == "remove":
        del parent[last]
    elif how == "add" and isinstance(parent, dict):
        key = rng.choice(keys)
        parent[key] = _hostile(rng, key)
    elif isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    return document


def _mutated_text(token: str, rng: random.Random) -> str:
    """One change to the token's text, not signed again."""
    parts = token.split(".")
    how = rng.choice(["replace", "replace", "insert", "delete", "cut", "segments", "dots"])
    at = rng.randrange(len(token)) if token else 0
    if how == "replace":
        return token[:at] + rng.choice(B64 + ".=+/ ") + token[at + 1:]
    if how == "insert":
        return token[:at] + rng.choice(B64 + ".=") + token[at:]
    if how == "delete":
        return token[:at] + token[at + 1:]
    if how == "cut":
        return token[:at]
    if how == "segments":
        i, j = rng.randrange(len(parts)), rng.randrange(len(parts))
        changed = list(parts)
        changed[i] = rng.choice([parts[j], "", parts[j] * 2, parts[i][::-1]])
        return ".".join(changed)
    return rng.choice([token + ".", "." + token, token + "." + parts[-1], token.replace(".", "..", 1)])


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims, _ = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(header + "==")),
            json.loads(base64.urlsafe_b64decode(claims + "==")))


def _resigned(key: SigningKey, token: str, rng: random.Random, what: str) -> str:
    """The token with its header or its claims changed one to three times, signed again."""
    header, claims = _parts(token)
    for _ in range(rng.randint(1, 3)):
        if what == "header":
            header = _mutated_json(header, rng, HEADER_KEYS)
        else:
            claims = _mutated_json(claims, rng, CLAIM_KEYS)
    return _signed(key, header, claims)


def _at_most(seen: dict[str, str], most: dict[str, str]) -> bool:
    """Whether every dataset is shown at no more than `most` shows it (unseen: hidden)."""
    return all(d in most and GRANULARITIES.index(g) <= GRANULARITIES.index(most[d])
               for d, g in seen.items())


async def _ask(node: ClientSession, token: str) -> tuple[int, Any, CIMultiDictProxy[str]]:
    response = await node.get("/api/g_variants", params={
        **QUERY, "includeResultsetResponses": "ALL"},
        headers={"Authorization": f"Bearer {token}"})
    text = await response.text()
    try:
        return response.status, json.loads(text), response.headers
    except ValueError:
        return response.status, text, response.headers


def _shown(document: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["info"]["returnedGranularity"]
            for s in document.get("response", {}).get("resultSets", [])}


def _problem(status: int, document: Any, headers: CIMultiDictProxy[str], token: str,
             beacon_schema, may_refuse: bool, most: dict[str, str], exact: bool,
             may_wait: bool = False) -> str | None:
    """`may_wait`: the issuer's JWKS may be unreadable, a 503 with Retry-After."""
    if status == 503 and may_wait:
        if not isinstance(document, dict) or beacon_schema(ERROR_SCHEMA, document):
            return "a 503 that is not a Beacon error body"
        return None if headers.get("Retry-After", "").isdigit() else "a 503 without Retry-After"
    if status >= 500:
        return "a 5xx"
    challenge = headers.get("WWW-Authenticate", "")
    if status == 401:
        if not may_refuse:
            return "refused, where a bad visa is dropped and the token stays valid"
        if not isinstance(document, dict) or beacon_schema(ERROR_SCHEMA, document):
            return "a 401 that is not a Beacon error body"
        if not challenge.startswith('Bearer error="invalid_token"'):
            return "a 401 without its WWW-Authenticate challenge"
        if not all(" " <= c <= "~" for c in challenge):
            return f"a WWW-Authenticate challenge that is not printable ASCII: {challenge!r}"
        if not document["error"]["errorMessage"].isprintable():
            return "a 401 whose message holds a control or a line break"
        if len(token) >= 20 and token in json.dumps(document):
            return "the token quoted back"
        return None
    if status != 200 or not isinstance(document, dict):
        return f"neither an answer nor a refusal ({status})"
    errors = beacon_schema(RESPONSE_SCHEMAS[document["meta"]["returnedGranularity"]], document)
    if errors:
        return f"an answer not valid against its schema: {errors[:3]}"
    seen = _shown(document)
    if exact and seen != most:
        return f"answered {seen}, not the Passport's {most} nor refused"
    if not _at_most(seen, most):
        return f"answered {seen}: more than the Passport's {most}"
    return None


def _passport_visas(on: Stack) -> list[str]:
    now = int(time.time())
    return [_visa(on, "AcceptedTermsAndPolicies", BONA_FIDE, exp=now + 3600),
            _visa(on, "ResearcherStatus", BONA_FIDE, exp=now + 3600),
            _visa(on, "ControlledAccessGrants", CONTROLLED, exp=now + 3600)]


def _access(on: Stack, visas: list[Any]) -> str:
    now = int(time.time())
    return on.aai.access_key.sign(_claims(on, exp=now + 3600, ga4gh_passport_v1=visas))


async def test_mutated_passports_never_fail_open(stack, beacon_schema, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    visas = _passport_visas(stack)
    passport = _access(stack, visas)
    status, document, _ = await _ask(stack.node, passport)
    assert status == 200, document
    most = _shown(document)
    assert most[CONTROLLED] == "record" and "count" in most.values(), most

    async def one(rng: random.Random) -> str | None:
        kind = rng.choice(["text", "header", "claims", "visa"])
        token, may_refuse, exact = passport, True, kind in ("text", "header")
        for _ in range(rng.randint(1, 3) if kind == "text" else 1):
            if kind == "text":
                token = _mutated_text(token, rng)
            elif kind in ("header", "claims"):
                token = _resigned(stack.aai.access_key, token, rng, kind)
        if kind == "visa":
            changed = list(visas)
            at = rng.randrange(len(changed))
            how = rng.choice(["text", "header", "claims"])
            changed[at] = (_mutated_text(changed[at], rng) if how == "text" else
                           _resigned(stack.aai.visa_key, changed[at], rng, how))
            token = _access(stack, changed)
            may_refuse = len(token) > MAX_TOKEN_BYTES
        logged = len(caplog.records)
        status, answer, headers = await _ask(stack.node, token)
        await asyncio.sleep(0)
        errors = logged_errors(caplog, logged) + [
            r.getMessage() for r in caplog.records[logged:]      # the trail's retries: an
            if r.name == "beacon.audit" and r.levelno >= logging.WARNING   # entry it refuses
        ] + _lines_broken(caplog.records[logged:])
        return failure(_problem(status, answer, headers, token, beacon_schema, may_refuse,
                                most, exact), errors,
                       f"{kind} mutation -> {status} {str(answer)[:300]}; token "
                       f"{_describe(token)}")
    await fuzz_rounds("passport", ROUNDS, one)


def _lines_broken(records: list[logging.LogRecord]) -> list[str]:
    """Each record (with no traceback, which has lines of its own) that the text log would
    not write on one line."""
    formatter = TextFormatter()
    return [f"a log record on more than one line: {written[:300]!r}" for written in
            (formatter.format(r) for r in records if not r.exc_info)
            if len(written.splitlines()) != 1]


def _describe(token: str) -> str:
    """The token's header and claims where they can be read, else its text (shortened)."""
    try:
        header, claims = _parts(token)
    except (ValueError, UnicodeDecodeError):
        return token[:300]
    return f"header {str(header)[:200]} claims {str(claims)[:400]}"


# --- a trusted issuer answering nonsense ------------------------------------------------------

JWK_KEYS = ["keys", "kty", "kid", "n", "e", "alg", "use", "key_ops", "crv", "x", "y", "d",
            "x5c", "x5t", "k", "junk"]
# What a broken issuer sends instead of its JWKS or userinfo document mutated
NONSENSE: list[tuple[int, str, bytes]] = [
    (200, "application/json", b""), (200, "application/json", b"null"),
    (200, "application/json", b"[]"), (200, "application/json", b"{}"),
    (200, "application/json", b'{"keys": null}'), (200, "application/json", b'{"keys": 5}'),
    (200, "application/json", b'{"keys": "x"}'), (200, "application/json", b'{"keys": [7]}'),
    (200, "application/json", b'{"keys": [{"kty": "RSA"}]}'),
    (200, "application/json", b"[" * 100_000 + b"]" * 100_000),
    (200, "application/json", b'{"a": ' * 5000 + b"1" + b"}" * 5000),
    (200, "application/json", b"\xff\xfe{}"), (200, "application/json", b'{"keys": NaN}'),
    (200, "text/html", b"<html>maintenance</html>"), (500, "text/plain", b"boom"),
    (404, "application/json", b"{}"), (302, "text/plain", b""),
]


@dataclass
class _Broken:
    """What the broken issuer answers next, per path."""

    answers: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)

    async def answer(self, request: web.Request) -> web.Response:
        status, kind, body = self.answers[request.path]
        return web.Response(status=status, body=body, headers={"Content-Type": kind})


def _document(status_kind_body: Any) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(status_kind_body).encode()


async def test_a_trusted_issuer_answering_nonsense_never_fails_open(stack, beacon_schema,  # noqa: F811
                                                                     caplog):
    """A trusted issuer whose JWKS or userinfo is broken or hostile (a document mutated, or
    something else: not JSON, nested beyond reason, an error status). Its access tokens and
    visas are signed right; a fresh key id each round makes the node read the JWKS anew.
    A JWKS round: the token is answered as a caller without visas, or refused, or, where
    the JWKS cannot be read at all, answered 503 with Retry-After. A userinfo
    round (a token asking for its visas there): answered, never refused, and with no more
    than the issuer's three visas give."""
    caplog.set_level(logging.INFO)
    broken = _Broken()
    app = web.Application()
    for path in ("/jwks", "/userinfo"):
        app.router.add_get(path, broken.answer)
    async with AsyncExitStack() as exits:
        port = free_port()
        url = await serve_app(exits, app, port)
        issuer = TrustedIssuer(issuer=url, jwks_uri=f"{url}/jwks",
                               userinfo_endpoint=f"{url}/userinfo", audience="gdi-node",
                               visas=True)
        node = await exits.enter_async_context(_node_with(stack, [issuer]))
        key = SigningKey("round-0", None)

        def signed(kid: str, claims: dict[str, Any], **headers: str) -> str:
            key.kid = kid
            return key.sign(claims, headers=headers)

        def round_of(kid: str, scope: str) -> tuple[str, list[str], dict[str, Any]]:
            now = int(time.time())
            claims = {"iss": url, "sub": "mallory", "aud": "gdi-node", "iat": now,
                      "exp": now + 600, "jti": kid, "scope": scope}
            # Visa Document Tokens whose jku is the issuer's own jwks_uri
            visas = [signed(kid, {"iss": url, "sub": "mallory", "iat": now, "exp": now + 600,
                                  "ga4gh_visa_v1": {"type": kind, "value": value,
                                                    "source": url, "by": by,
                                                    "asserted": now}}, jku=f"{url}/jwks")
                     for kind, value, by in [("AcceptedTermsAndPolicies", BONA_FIDE, "self"),
                                             ("ResearcherStatus", BONA_FIDE, "so"),
                                             ("ControlledAccessGrants", CONTROLLED, "dac")]]
            return signed(kid, claims), visas, {"keys": [{**key.jwk(), "kid": kid}]}

        def honest(kid: str, scope: str) -> str:
            token, visas, jwks = round_of(kid, scope)
            broken.answers["/jwks"] = _document(jwks)
            broken.answers["/userinfo"] = _document({"sub": "mallory",
                                                     "ga4gh_passport_v1": visas})
            return token

        status, document, _ = await _ask(node, honest("honest-1", "openid"))
        assert status == 200, document
        plain = _shown(document)
        status, document, _ = await _ask(node, honest("honest-2", "openid ga4gh_passport_v1"))
        assert status == 200, document
        most = _shown(document)
        assert most[CONTROLLED] == "record" and plain[CONTROLLED] == "boolean", (most, plain)
        rounds = iter(range(1, 10**9))

        async def one(rng: random.Random) -> str | None:
            kid = f"round-{next(rounds)}"
            where = rng.choice(["/jwks", "/userinfo"])
            token = honest(kid, "openid" if where == "/jwks" else "openid ga4gh_passport_v1")
            if rng.random() < 0.3:
                broken.answers[where] = rng.choice(NONSENSE)
            else:
                document = json.loads(broken.answers[where][2])
                for _ in range(rng.randint(1, 3)):
                    document = _mutated_json(document, rng, JWK_KEYS + CLAIM_KEYS)
                broken.answers[where] = _document(document)
            logged = len(caplog.records)
            status, answer, headers = await _ask(node, token)
            await asyncio.sleep(0)
            errors = logged_errors(caplog, logged) + [
                r.getMessage() for r in caplog.records[logged:]
                if r.name == "beacon.audit" and r.levelno >= logging.WARNING]
            jwks = where == "/jwks"
            return failure(_problem(status, answer, headers, token, beacon_schema,
                                    may_refuse=jwks, most=plain if jwks else most,
                                    exact=False, may_wait=jwks), errors,
                           f"{where} {broken.answers[where][0]} "
                           f"{broken.answers[where][2][:300]!r} -> {status} "
                           f"{str(answer)[:300]}")
        await fuzz_rounds("issuer", ROUNDS, one)
