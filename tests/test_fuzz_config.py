"""What operators configure, fuzzed within bounds: the node's and the catalogue's TOML files
and their GDI_NODE_* / GDI_CATALOGUE_* variables, mutated as values (another type, an edge
number, infinity, an empty or over-long text, a NUL) and as text (a byte changed or put in,
a line dropped or doubled, the file cut short), then read as the command line reads them.

The oracle is what an operator may rely on whatever they write:
- it loads, or it is refused with the exception the command line words (`gdi-node`'s
  `invalid configuration: ...`, node/cli/__init__.py), never another;
- the refusal says what is wrong in the node's words: the setting (or the variable, or the
  file and its line), never Python's words, and never a secret the file holds (the database
  URL's password, the catalogue token, a node's token);
- what loads, starts: every value the start derives (the pool's statement timeout, the
  disclosure policy, the Beacon identity, production's refusals, the application and its
  routes) is derived without an exception, every URL the node or the catalogue will call is
  an absolute http(s) URL, and every database URL is one the driver parses (tried, without
  connecting anywhere but 127.0.0.1, where nothing listens on the ports written here).

Seeded and bounded like the HTTP fuzz (tests/test_fuzz_http.py: GDI_FUZZ_SEED,
GDI_FUZZ_ROUNDS, a time bound per test); in-process, no server is started.
"""
from __future__ import annotations

import asyncio
import copy
import json
import math
import os
import random
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from node.app import create_app
from node.catalogue_app import create_app as create_catalogue_app
from node.database import DatabaseUnavailable, connect
from node.production import catalogue_refusals, node_refusals
from node.settings import (
    CATALOGUE_CONFIG_ENV,
    CONFIG_ENV,
    CatalogueSettings,
    Settings,
    configuration_error,
)
from tests.test_fuzz_http import PYTHON_WORDS, ROUNDS, _mutate, _paths, fuzz_rounds

SECRETS = ("S3cretPw", "S3cretToken", "S3cretNode")
NESTED = "[" * 5000 + "]" * 5000     # a JSON or TOML value beyond Python's parsers
# What a refusal must not say either: the settings library's words for its own sources.
LIBRARY_WORDS = re.compile(r"SettingsSource|pydantic|tomllib|TOMLDecodeError|\bbytes? in position")

NODE = {
    "host": "127.0.0.1", "port": 5050, "public_base_url": "https://fi.example.org/",
    "log_format": "json", "log_level": "INFO", "environment": "dev",
    "database_url": "postgresql://gdi:S3cretPw@127.0.0.1:1/gdi",
    "database_replica_urls": ["postgresql://gdi:S3cretPw@127.0.0.1:2/gdi"],
    "beacon_id": "org.example.fi", "beacon_name": "FI node", "organisation_id": "org.example",
    "organisation_url": "https://example.org", "contact_url": "mailto:beacon@example.org",
    "db_pool_min": 2, "db_pool_max": 10, "replica_poll_seconds": 0.5, "count_lanes": 2,
    "body_timeout_seconds": 30.0,
    "query_timeout_seconds": 5.0, "wide_query_timeout_seconds": 30.0, "wide_query_lanes": 1,
    "narrow_window_bases": 1_000_000, "ingest_workers": 2, "workers": 1,
    "disclosure": {
        "anonymous": {"allele_floor": 5, "count_step": 5, "budget_per_window": 100,
                      "smooth_scale": 1.5, "loss_budget": 2.0},
        "granted": {"allele_floor": 1},
        "purpose_required": False, "anonymous_discovery": True,
        "budget_window_seconds": 3600, "answer_time_floor_ms": 50,
        "client_address_header": "X-Forwarded-For", "anonymous_ipv6_prefix": 64},
    "trusted_issuers": [{"issuer": "https://login.example.org/oidc/",
                         "jwks_uri": "https://login.example.org/oidc/jwk",
                         "userinfo_endpoint": "https://login.example.org/oidc/userinfo",
                         "algorithms": ["RS256", "ES256"], "audience": "gdi-node",
                         "visas": True, "visa_jku": ["https://login.example.org/oidc/jwk"]}],
    "hide_controlled_datasets": False, "jwks_cooldown_seconds": 30.0,
    "jwks_max_age_seconds": 300.0, "country": "FI",
    "catalogue_url": "https://catalogue.example.org", "catalogue_token": "S3cretToken",
    "peers": [{"id": "org.example.se", "url": "https://se.example.org/api",
               "forward_tokens_from": ["https://login.example.org/oidc/"]}],
    "peers_from_catalogue": False, "peer_timeout_seconds": 3.0,
    "network_deadline_seconds": 5.0, "cors_origins": ["https://portal.example.org"],
    "trusted_network_addresses": ["192.0.2.10", "2001:db8::/32"],
    "default_assembly": "GRCh38", "api_alias_roots": ["/beacon/v2.0.0"],
}
CATALOGUE = {
    "host": "127.0.0.1", "port": 5060, "public_base_url": "https://catalogue.example.org",
    "database_url": "postgresql://cat:S3cretPw@127.0.0.1:1/catalogue",
    "title": "GDI catalogue", "environment": "prod",
    "nodes": [{"id": "org.example.fi", "token": "S3cretNode-for-the-fuzz",
               "origins": ["https://fi.example.org"]},
              {"id": "org.example.se", "token_sha256": "ab" * 32}],
    "harvest_interval_seconds": 300.0, "harvest_timeout_seconds": 10.0,
    "harvest_max_documents": 1000, "db_pool_min": 1, "db_pool_max": 5,
    "body_timeout_seconds": 30.0, "cors_origins": ["https://fi.example.org"],
}
# What a number may be made, TOML's floats included (infinity, NaN), and what a text may.
NUMBERS: list[Any] = [math.inf, -math.inf, math.nan, 1e308, -0.0, 5e-324, 0, -1, 0.5, 2**31,
                      2**31 - 1, 2**63 - 1, -(2**63), 10**12, 10**30]
TEXTS: list[Any] = ["postgresql://gdi:S3cretPw@[::1/gdi",
                    "postgresql://gdi:S3cretPw@127.0.0.1:port/gdi", "mysql://127.0.0.1/x",
                    "postgresql://gdi:S3cretPw@127.0.0.1:99999/gdi", "not a url",
                    "ftp://example.org", "https://", "http://[::1", "/relative/api",
                    "https://exa mple.org", "javascript:alert(1)", "https://host:0/",
                    "https://host:65536/", "", " ", "\u202e", "x" * 5000]


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, DEL is escaped as TOML requires, and a
    lone surrogate, which neither TOML nor UTF-8 can hold, becomes U+FFFD."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f").encode(
        "utf-8", "surrogatepass").decode("utf-8", "replace")


def _toml(value: Any) -> str | None:
    """`value` spelt in TOML (None: TOML has no null, so the key is left out)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else (("-inf" if value < 0 else "inf")
                                                if math.isinf(value) else repr(value))
    if isinstance(value, int):
        return str(value) if -(2**63) <= value < 2**63 else _string(str(value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(v for v in map(_toml, value) if v is not None) + "]"
    return "{" + ", ".join(f"{_string(str(k))} = {text}" for k, v in value.items()
                           if (text := _toml(v)) is not None) + "}"


def toml_document(settings: dict[str, Any]) -> str:
    return "".join(f"{_string(str(key))} = {text}\n" for key, value in settings.items()
                   if (text := _toml(value)) is not None)


def _mutated_settings(base: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """`base` with one to three values changed: numbers to an edge or a TOML float, texts to
    a broken URL or an empty or long one, anything to anything (tests/test_fuzz_http.py)."""
    document = copy.deepcopy(base)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        places = _paths(document)[1:]
        numbers = [p for p in places if _leaf(document, p) in ("int", "float")]
        texts = [p for p in places if _leaf(document, p) == "str"]
        draw = rng.random()
        if numbers and draw < 0.4:
            _put(document, rng.choice(numbers), rng.choice(NUMBERS))
        elif texts and draw < 0.6:
            _put(document, rng.choice(texts), rng.choice(TEXTS))
        else:
            document = _mutate(document, rng)
    return document if isinstance(document, dict) else {"junk": document}


def _leaf(document: Any, place: tuple) -> str:
    for step in place:
        document = document[step]
    return type(document).__name__


def _put(document: Any, place: tuple, value: Any) -> None:
    for step in place[:-1]:
        document = document[step]
    document[place[-1]] = value


def _mutated_text(text: str, rng: random.Random) -> bytes:
    """The file's text broken as an editor or a copy might break it."""
    data = bytearray(text.encode())
    lines = text.splitlines(keepends=True)
    how = rng.choice(["byte", "insert", "drop", "double", "cut", "bom", "crlf"])
    if how == "byte":
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == "insert":
        at = rng.randrange(len(data))
        data[at:at] = rng.choice([b"\xff", b"\x00", b"[", b"]", b"=", b'"', b"\n", b"#",
                                  b"[disclosure]\n", b"\xe9t\xe9", "\u202e".encode(),
                                  b"\nx = " + NESTED.encode() + b"\n"])
    elif how == "drop":
        lines.pop(rng.randrange(len(lines)))
        data = bytearray("".join(lines).encode())
    elif how == "double":
        line = rng.choice(lines)
        data = bytearray((text + line).encode())
    elif how == "cut":
        del data[rng.randrange(len(data)):]
    elif how == "bom":
        data[0:0] = b"\xef\xbb\xbf"
    else:
        data = bytearray(text.replace("\n", "\r\n").encode())
    return bytes(data)


def _env_value(value: Any) -> str:
    """A value as an operator would put it in the environment."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json.dumps(value)


def _is_toml(data: bytes) -> bool:
    """Whether Python's parser reads it; arrays nested past its recursion limit it cannot
    (the node refuses them as nested too deeply; seed 5602 made one, where this check
    itself raised RecursionError)."""
    try:
        tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return False
    return True


def _refusal_problem(message: str) -> str | None:
    if not message.strip():
        return "an empty refusal"
    if PYTHON_WORDS.search(message) or LIBRARY_WORDS.search(message):
        return "a refusal in Python's or the library's words"
    if any(secret in message for secret in SECRETS):
        return "a refusal that shows a secret"
    return None


def _http_urls(settings: Settings | CatalogueSettings) -> list[tuple[str, str]]:
    """(setting, URL) of every URL the service will call or put in its answers."""
    urls = [("public_base_url", settings.base_url),
            *[("cors_origins", o) for o in settings.cors_origins]]
    if isinstance(settings, Settings):
        urls += [("catalogue_url", settings.catalogue_url)]
        urls += [(f"peers.{p.id}.url", p.url) for p in settings.peers]
        urls += [(f"trusted_issuers.{i.issuer}.{name}", getattr(i, name))
                 for i in settings.trusted_issuers for name in ("jwks_uri", "userinfo_endpoint")]
    return [(name, url) for name, url in urls if url is not None]


def _not_http(url: str) -> bool:
    try:
        parsed = URL(url)
    except ValueError:
        return True
    return not (parsed.is_absolute() and parsed.scheme in ("http", "https") and parsed.host)


def _unusable_number(value: Any, at: str = "") -> str | None:
    """The first number in the settings that is not finite or beyond PostgreSQL's integer,
    which the statements take the disclosure rules, windows and budgets as."""
    if isinstance(value, dict):
        return next((found for k, v in value.items()
                     if (found := _unusable_number(v, f"{at}.{k}")) is not None), None)
    if isinstance(value, (list, tuple)):
        return next((found for i, v in enumerate(value)
                     if (found := _unusable_number(v, f"{at}.{i}")) is not None), None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not (
            math.isfinite(value) and abs(value) < 2**31):
        return f"{at.lstrip('.')} = {value!r}"
    return None


async def _start_problem(settings: Settings | CatalogueSettings) -> str | None:
    """What the service's start would trip over in settings that loaded, if anything."""
    try:
        if isinstance(settings, Settings):
            settings.query_limits().pool_settings()
            settings.disclosure_policy()
            settings.beacon_identity()
            node_refusals(settings)
            create_app(settings)
            urls = [settings.database_url, *settings.database_replica_urls]
        else:
            settings.harvest_config()
            settings.catalogue_identity()
            catalogue_refusals(settings)
            create_catalogue_app(settings)
            urls = [settings.database_url]
    except Exception as exc:      # noqa: BLE001 -- any exception is the finding
        return f"the start fails: {exc!r:.300}"
    if (number := _unusable_number(settings.model_dump())) is not None:
        return f"a number no statement or timer takes: {number}"
    bad = [name for name, url in _http_urls(settings) if _not_http(url)]
    if bad:
        return f"loaded URLs that are not absolute http(s) URLs: {bad}"
    for url in urls:
        if url is None or not re.fullmatch(r"postgres(ql)?://[^@/]*@127\.0\.0\.1:[12]/\w*", url):
            continue        # only where nothing listens, and only on loopback
        try:
            await asyncio.wait_for(connect(url), 5)
        except DatabaseUnavailable:
            continue
        except Exception as exc:      # noqa: BLE001
            return f"a database URL the driver cannot take: {exc!r:.200}"
    return None


async def _round(rng: random.Random, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 kind: type[Settings | CatalogueSettings]) -> str | None:
    node = kind is Settings
    base, config_env, prefix = ((NODE, CONFIG_ENV, "GDI_NODE_") if node else
                                (CATALOGUE, CATALOGUE_CONFIG_ENV, "GDI_CATALOGUE_"))
    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(prefix)
                     or n in ("DATABASE_URL", CONFIG_ENV, CATALOGUE_CONFIG_ENV)]:
            patch.delenv(name)
        file = tmp_path / f"{'node' if node else 'catalogue'}-{rng.randrange(10**9)}.toml"
        way = rng.choice(["values", "values", "text", "env", "env+values"])
        settings = _mutated_settings(base, rng) if way in ("values", "env+values") else base
        data = (_mutated_text(toml_document(base), rng) if way == "text"
                else toml_document(settings).encode())
        file.write_bytes(data)
        patch.setenv(config_env, str(file))
        key = rng.choice(sorted(base))
        variable = f"{prefix}{key.upper()}"
        if way.startswith("env"):
            value = _mutated_settings({key: base[key]}, rng).get(key, rng.choice(NUMBERS + TEXTS))
            if rng.random() < 0.05:     # beyond Python's parsers: it was a traceback
                value = NESTED
            patch.setenv(variable, _env_value(value).replace("\x00", ""))
        what = f"{way}: {data[:1500]!r} {variable}={os.environ.get(variable)!r}"
        try:
            loaded = kind()
        except (FileNotFoundError, ValueError) as exc:
            message = configuration_error(exc)
            problem = _refusal_problem(message)
            if problem is None and not _is_toml(data) and str(file) not in message:
                problem = "a refusal of a file TOML cannot read that does not name the file"
            if problem is None and way == "env" and variable not in message \
                    and key not in message:
                problem = "a variable's refusal that names neither it nor its setting"
            return f"{problem}: {message[:300]!r}; {what}" if problem else None
        except Exception as exc:      # noqa: BLE001 -- the command line would print a traceback
            return f"refused with {exc!r:.300}, which the command line does not word; {what}"
        problem = await _start_problem(loaded)
        return f"{problem}; {what}" if problem else None


@pytest.mark.parametrize("kind", [Settings, CatalogueSettings], ids=["node", "catalogue"])
async def test_fuzzed_configuration_loads_or_is_refused_in_the_nodes_words(
        kind, tmp_path, monkeypatch):
    await fuzz_rounds(f"config-{kind.__name__}", ROUNDS * 2 // 5,
                      lambda rng: _round(rng, tmp_path, monkeypatch, kind), seconds=60)
