"""Configuration precedence and the migration runner."""
from __future__ import annotations

import json
import math
import re

import asyncpg
import pytest

from auth.access import AccessLevel
from beacon.assemblies import GRCH38
from beacon.ingest import IngestRequest, ingest
from node.migrate import (
    NODE_MIGRATIONS,
    apply_migrations,
    available_migrations,
    pending_migrations,
)
from node.settings import CONFIG_ENV, CatalogueSettings, Settings, configuration_error
from tests.conftest import ROOT, carriers_vcf, node_database, write_vcf_text


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("DATABASE_URL", "GDI_NODE_DATABASE_URL", "GDI_NODE_PORT", CONFIG_ENV):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_defaults_are_loopback_and_embedded(clean_env):
    settings = Settings()
    assert (settings.host, settings.port, settings.database_url) == ("127.0.0.1", 5050, None)
    assert settings.base_url == "http://127.0.0.1:5050"


def test_prefixed_database_url_wins_over_plain(clean_env):
    clean_env.setenv("DATABASE_URL", "postgresql://plain/db")
    assert Settings().database_url == "postgresql://plain/db"
    clean_env.setenv("GDI_NODE_DATABASE_URL", "postgresql://prefixed/db")
    assert Settings().database_url == "postgresql://prefixed/db"


def test_config_file_is_below_environment(clean_env, tmp_path):
    config = tmp_path / "node.toml"
    config.write_text('port = 6060\nbeacon_id = "org.fi.node"\n'
                      'public_base_url = "https://beacon.example.fi/"\n')
    clean_env.setenv(CONFIG_ENV, str(config))
    settings = Settings()
    assert (settings.port, settings.beacon_id) == (6060, "org.fi.node")
    assert settings.base_url == "https://beacon.example.fi"
    clean_env.setenv("GDI_NODE_PORT", "7070")
    assert Settings().port == 7070


def test_unknown_config_keys_and_missing_file_are_errors(clean_env, tmp_path):
    config = tmp_path / "node.toml"
    config.write_text("prot = 1\n")
    clean_env.setenv(CONFIG_ENV, str(config))
    with pytest.raises(ValueError, match="prot"):
        Settings()
    clean_env.setenv(CONFIG_ENV, str(tmp_path / "absent.toml"))
    with pytest.raises(FileNotFoundError, match="absent.toml"):
        Settings()


def test_an_environment_variable_naming_no_setting_is_refused_naming_it(clean_env):
    """A misspelt variable was ignored: GDI_NODE_DATABSE_URL, and the node started an
    embedded database of its own and served it, empty, as the node. Like an unknown key of
    the TOML file, it is refused, named (never its value), with the setting meant."""
    assert _refusal_of(clean_env, "GDI_NODE_DATABSE_URL",
                       "postgresql://gdi:s3cret@db.internal/gdi") == (
        "GDI_NODE_DATABSE_URL: not a setting (GDI_NODE_DATABASE_URL?)")
    # read case-insensitively, as settings are
    assert _refusal_of(clean_env, "gdi_node_colour", "blue") == "gdi_node_colour: not a setting"
    clean_env.setenv("GDI_CATALOGUE_HARVEST_INTERVAL", "60")
    with pytest.raises(ValueError) as refused:
        CatalogueSettings()
    assert configuration_error(refused.value) == (
        "GDI_CATALOGUE_HARVEST_INTERVAL: not a setting (GDI_CATALOGUE_HARVEST_INTERVAL_SECONDS?)")
    assert Settings().port == 5050                    # the node's settings read only GDI_NODE_*


def test_the_catalogue_never_takes_the_nodes_plain_database_url(clean_env, tmp_path):
    """DATABASE_URL is the node's (container platforms set it): the catalogue's setting is
    GDI_CATALOGUE_DATABASE_URL alone. It read DATABASE_URL too, case-insensitively through
    its `database_url` alias, so on a host or container set up for a node it served from
    the node's database, which docs/catalogue.md says never to do (both have a `datasets`
    table), where unset means its own embedded one."""
    clean_env.delenv("GDI_CATALOGUE_DATABASE_URL", raising=False)
    clean_env.delenv("GDI_CATALOGUE_CONFIG", raising=False)
    clean_env.setenv("DATABASE_URL", "postgresql://gdi@db.internal/node")
    assert CatalogueSettings().database_url is None
    clean_env.setenv("GDI_CATALOGUE_DATABASE_URL", "postgresql://gdi@db.internal/catalogue")
    assert CatalogueSettings().database_url == "postgresql://gdi@db.internal/catalogue"
    config = tmp_path / "catalogue.toml"
    config.write_text('database_url = "postgresql://gdi@db.internal/from-file"\n')
    clean_env.delenv("GDI_CATALOGUE_DATABASE_URL")
    clean_env.setenv("GDI_CATALOGUE_CONFIG", str(config))
    assert CatalogueSettings().database_url == "postgresql://gdi@db.internal/from-file"
    assert CatalogueSettings(database_url="postgresql://gdi@h/given").database_url == (
        "postgresql://gdi@h/given")


@pytest.mark.parametrize("toml,said", [
    ('databse_url = "postgresql://gdi:s3cret@db.internal/gdi"\n',
     "databse_url: not a setting (database_url?)"),
    ("colour = 1\n", "colour: not a setting"),
    ("[disclosure.anonymous]\nallele_flor = 3\n",
     "disclosure.anonymous.allele_flor: not a setting (allele_floor?)"),
    ('[[trusted_issuers]]\nissuer = "https://aai.example.org"\nvisa_jkus = []\n',
     "trusted_issuers.0.visa_jkus: not a setting (visa_jku?)"),
])
def test_a_config_file_key_naming_no_setting_is_refused_with_the_setting_meant(
        clean_env, tmp_path, toml, said):
    """As a variable naming no setting is (above): a misspelt key of the TOML file was
    refused in pydantic's words, `databse_url: Extra inputs are not permitted`, naming no
    setting, where the README says the setting meant is named (found walking the
    operator's docs). Never the value."""
    config = tmp_path / "node.toml"
    config.write_text(toml)
    clean_env.setenv(CONFIG_ENV, str(config))
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value) == said


def _refusal(**given) -> str:
    with pytest.raises(ValueError) as refused:
        Settings(**given)
    return configuration_error(refused.value)


def _refusal_of(env: pytest.MonkeyPatch, name: str, value: str,
                read: type[Settings | CatalogueSettings] = Settings) -> str:
    """The refusal of the settings `read` with the variable `name` set to `value`, which is
    unset again after."""
    env.setenv(name, value)
    try:
        with pytest.raises(ValueError) as refused:
            read()
    finally:
        env.delenv(name)
    return configuration_error(refused.value)


def test_a_file_toml_cannot_read_is_refused_at_its_line(clean_env, tmp_path):
    """As `file:line: reason`, the file named (tomllib's own message names neither), and a
    file that is not UTF-8 in the node's words, not the codec's."""
    config = tmp_path / "node.toml"
    clean_env.setenv(CONFIG_ENV, str(config))
    config.write_text('port = 6060\nbeacon_id = "org.fi\n')
    with pytest.raises(ValueError) as refused:
        Settings()
    assert str(refused.value) == (f"{config}:2: not TOML: Illegal character '\\n' "
                                  "(column 20)")
    config.write_text('port = 6060\nport = 6061\n')
    with pytest.raises(ValueError, match=rf"^{config}:2: not TOML: Cannot overwrite a value"):
        Settings()
    config.write_bytes(b'port = 6060\nbeacon_name = "Turku \xe9"\n')
    with pytest.raises(ValueError) as refused:
        Settings()
    assert str(refused.value) == f"{config}:2: not UTF-8 text (byte 0xe9)"


def test_a_config_path_that_is_a_directory_is_refused_as_one(clean_env, tmp_path):
    """GDI_CATALOGUE_CONFIG=/etc/gdi-catalogue (the directory meant to hold it; the node's
    variable is also `--config`'s, which click checks first) was refused as `no such config
    file`, which sent the operator looking for a path that exists."""
    clean_env.setenv("GDI_CATALOGUE_CONFIG", str(tmp_path))
    with pytest.raises(ValueError) as refused:
        CatalogueSettings()
    assert configuration_error(refused.value) == (
        f"GDI_CATALOGUE_CONFIG={tmp_path}: a directory, not a config file")
    clean_env.setenv(CONFIG_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="a directory, not a config file"):
        Settings()


def test_a_config_file_name_the_file_system_cannot_hold_is_refused(clean_env):
    """It was an OSError from the check that the file exists (found by fuzzing the
    command line, tests/test_fuzz_cli.py): a traceback."""
    clean_env.setenv(CONFIG_ENV, "x" * 3000)
    with pytest.raises(ValueError, match=r"^GDI_NODE_CONFIG=x{200}: File name too long$"):
        Settings()


def test_a_byte_order_mark_is_read_past(clean_env, tmp_path):
    """Some Windows editors start a UTF-8 file with one; TOML itself does not allow it."""
    config = tmp_path / "node.toml"
    config.write_bytes(b'\xef\xbb\xbfport = 6060\n')
    clean_env.setenv(CONFIG_ENV, str(config))
    assert Settings().port == 6060


def test_a_variable_that_is_not_utf8_is_refused_naming_it(clean_env):
    """A value written in Latin-1 (an old env file, a terminal) reaches Python with its byte
    as a lone surrogate: it was taken, and the node's start ended in a traceback building
    its OpenAPI document (`str is not valid UTF-8`), as would every JSON answer naming it.
    Refused as the config file's non-UTF-8 text is, the variable named, its value not."""
    assert _refusal_of(clean_env, "GDI_NODE_BEACON_NAME", "Turku \udce9") == (
        "GDI_NODE_BEACON_NAME: not UTF-8 text (byte 0xe9)")
    assert _refusal_of(clean_env, "DATABASE_URL", "postgresql://gdi:S3cr\udce9t@db/gdi") == (
        "DATABASE_URL: not UTF-8 text (byte 0xe9)")
    assert _refusal_of(clean_env, "GDI_CATALOGUE_TITLE", "Katalog \udcf6",
                       CatalogueSettings) == "GDI_CATALOGUE_TITLE: not UTF-8 text (byte 0xf6)"


def test_a_list_from_the_environment_that_is_not_json_names_its_setting(clean_env):
    clean_env.setenv("GDI_NODE_PEERS", '[{"id": "se"')
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value) == (
        "peers: not valid JSON in the environment (Expecting ',' delimiter at column 13)")


def test_a_country_iso_does_not_assign_is_refused(clean_env):
    """`UK` matched the setting's pattern; every FAIR Data Point document of a dataset
    without a country of its own then failed to name it in RDF, a 500."""
    clean_env.setenv("GDI_NODE_COUNTRY", "UK")
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value).startswith("country: ")
    clean_env.setenv("GDI_NODE_COUNTRY", "GB")
    assert Settings().country == "GB"


def test_trusted_network_addresses_are_addresses_or_networks(clean_env):
    """Comma-separated or JSON in the environment; an address is its own network. An entry
    that is neither, or a network written with host bits (which of the two networks it
    could mean the node cannot tell), is refused by its number, unquoted. None by default:
    the header is then ignored from everyone."""
    clean_env.delenv("GDI_NODE_TRUSTED_NETWORK_ADDRESSES", raising=False)
    assert Settings().trusted_network_addresses == []
    clean_env.setenv("GDI_NODE_TRUSTED_NETWORK_ADDRESSES", "192.0.2.10, 2001:db8::/32")
    assert [str(n) for n in Settings().trusted_network_addresses] == ["192.0.2.10/32",
                                                                      "2001:db8::/32"]
    clean_env.setenv("GDI_NODE_TRUSTED_NETWORK_ADDRESSES", '["10.0.0.0/8"]')
    assert [str(n) for n in Settings().trusted_network_addresses] == ["10.0.0.0/8"]
    # IPv4-mapped, as the IPv4 network it maps: a dual-stack socket's IPv4 client is
    # matched by its IPv4 address, so a mapped entry never matched anyone
    clean_env.setenv("GDI_NODE_TRUSTED_NETWORK_ADDRESSES", "::ffff:192.0.2.10,::ffff:10.0.0.0/104")
    assert [str(n) for n in Settings().trusted_network_addresses] == ["192.0.2.10/32",
                                                                      "10.0.0.0/8"]
    for given, reason in (("10.0.0.0/8,proxy.example.org", "entry 2 is not an IP address"),
                          ("10.0.0.1/8", "entry 1 has bits set past its prefix"),
                          ("[10]", "entry 1 is not text")):
        clean_env.setenv("GDI_NODE_TRUSTED_NETWORK_ADDRESSES", given)
        with pytest.raises(ValueError) as refused:
            Settings()
        said = configuration_error(refused.value)
        assert said.startswith(f"trusted_network_addresses: {reason}"), said
        assert "proxy.example.org" not in said and "10.0.0.1/8" not in said.split("(")[0]


NESTED = "[" * 50_000 + "]" * 50_000          # beyond Python's parsers: it was a traceback


def test_settings_nested_beyond_the_parsers_are_refused_in_the_nodes_words(clean_env,
                                                                            tmp_path):
    config = tmp_path / "node.toml"
    config.write_text(f"peers = {NESTED}\n")
    clean_env.setenv(CONFIG_ENV, str(config))
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value).endswith(
        f"{config}: not TOML this node can read: nested too deeply")
    clean_env.delenv(CONFIG_ENV)
    clean_env.setenv("GDI_NODE_PEERS", NESTED)          # pydantic-settings' own parse
    with pytest.raises(ValueError) as nested:
        Settings()
    assert configuration_error(nested.value) == (
        "peers: not valid JSON in the environment (nested too deeply to read)")
    clean_env.delenv("GDI_NODE_PEERS")
    with pytest.raises(ValueError) as refused:
        Settings(database_replica_urls=NESTED)
    assert configuration_error(refused.value) == (
        "database_replica_urls: JSON nested too deeply to read")


@pytest.mark.parametrize("given", [
    {"query_timeout_seconds": math.inf}, {"peer_timeout_seconds": math.nan},
    {"query_timeout_seconds": 1e308}, {"db_pool_max": 10**12},
    {"disclosure": {"anonymous": {"allele_floor": 2**31}}},
    {"disclosure": {"bona_fide": {"smooth_scale": math.inf}}},
    {"workers": 10**9},
])
def test_numbers_the_start_or_the_statements_cannot_take_are_refused(clean_env, given):
    """Infinity made the pool's statement timeout an OverflowError in every worker, which the
    supervisor restarted until it gave up; a pool of 10^12 made asyncpg allocate its slots
    until the workers were killed; a floor beyond PostgreSQL's integer failed every query."""
    name = next(iter(given))
    assert _refusal(**given).startswith(name)


@pytest.mark.parametrize("prefix", [31, 129, -1, True])
def test_an_ipv6_prefix_that_is_no_hosts_network_is_refused(clean_env, prefix):
    """Anonymous IPv6 callers are counted by their network of this many bits: under 32 one
    budget would be a whole provider's, past 128 there is no such network."""
    refusal = _refusal(disclosure={"anonymous_ipv6_prefix": prefix})
    assert refusal.startswith("disclosure.anonymous_ipv6_prefix: Input should be "), refusal
    assert "than or equal to" in refusal
    assert [Settings(disclosure={"anonymous_ipv6_prefix": taken}).disclosure
            .anonymous_ipv6_prefix for taken in (32, 128)] == [32, 128]
    assert Settings().disclosure.anonymous_ipv6_prefix == 64


@pytest.mark.parametrize("beacon_id", ["org.probe:lp", "org probe", "org.probe/lp",
                                       "org.pröbe", ""])
def test_a_beacon_id_a_url_would_escape_is_refused(clean_env, beacon_id):
    """The id is the path segment of the node's FAIR Data Point catalog: with a `:` in it
    the catalog's address was written `%3A`, which the catalogue's harvester asked as `:`
    and got a 404, so the node was never harvested. Refused as the catalogue's node ids
    are."""
    assert _refusal(beacon_id=beacon_id).startswith("beacon_id")



def test_an_empty_publisher_name_is_refused_at_start(clean_env):
    """organisation_name (the node's) and publisher_name (the catalogue's) name their FAIR
    Data Point's publisher, a foaf:Agent that needs a name: empty, they were taken, and
    every FDP document was then a 503 for as long as the service ran."""
    assert _refusal(organisation_name="").startswith("organisation_name: ")
    with pytest.raises(ValueError) as refused:
        CatalogueSettings(publisher_name="")
    assert configuration_error(refused.value).startswith("publisher_name: ")

@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_blank_name_description_or_version_is_refused_at_start(clean_env, blank):
    """What /api/info, service-info and the FAIR Data Points show as the service's name,
    description, version and organisation (a Beacon's `name` and `organization.id` are
    required, a DCAT catalog's title and description too): a variable left empty or of
    spaces, from a template, was published as it was, a Beacon named nothing, a publisher
    of spaces (`organisation_name` refused only the empty one)."""
    for field in ("beacon_name", "beacon_description", "beacon_version", "organisation_id",
                  "organisation_name"):
        assert _refusal(**{field: blank}).startswith(f"{field}: "), field
    for field in ("title", "description", "publisher_name"):
        with pytest.raises(ValueError) as refused:
            CatalogueSettings(**{field: blank})
        assert configuration_error(refused.value).startswith(f"{field}: "), field


@pytest.mark.parametrize("peer_id", ["", "  ", "org.example.se ", "\norg.example.se"])
def test_a_peer_id_that_tags_nothing_is_refused(clean_env, peer_id):
    """A peer's id tags each of its resultSets (`beaconId`) and names its line in
    info.network.peers: empty, of spaces or with a pasted space around it, its answers were
    tagged with nothing a client could tell, or with another id than the peer's own."""
    message = _refusal(peers=[{"id": peer_id, "url": "https://se.example.org/api"}])
    assert message.startswith("peers.0.id: "), message


def test_a_beacon_name_the_catalogue_would_not_register_is_refused(clean_env):
    """The node registers at the catalogue under its beacon_name, which the catalogue takes
    up to 200 characters (node/http/catalogue_api.py): a longer one started, and its every
    publication was refused, the node never listed for networks to ask."""
    assert _refusal(beacon_name="x" * 201).startswith("beacon_name: ")
    assert Settings(beacon_name="x" * 200).beacon_name == "x" * 200


def test_an_issuer_trusted_twice_is_refused_naming_it(clean_env):
    """Issuers are looked up by `iss` (auth/issuers.py IssuerRegistry): of two entries for
    one, the last alone counted, and the other's audience, visas or algorithms were
    dropped without a word (an operator listing LS Login once for access tokens and once
    for visas got no visas). The same issuer with and without a trailing slash is two
    issuers: `iss` is compared byte for byte."""
    aai = "https://login.example.org/oidc/"
    with pytest.raises(ValueError) as refused:
        Settings(trusted_issuers=[{"issuer": aai, "audience": "gdi-node"},
                                  {"issuer": aai, "visas": True, "access_tokens": False}])
    assert configuration_error(refused.value) == (
        f"trusted_issuers: an issuer configured twice, of which only one would count: '{aai}'")
    assert len(Settings(trusted_issuers=[{"issuer": aai}, {"issuer": aai.rstrip("/")}])
               .trusted_issuers) == 2


@pytest.mark.parametrize("setting", ["audit_flush_seconds", "replica_poll_seconds"])
def test_a_loop_period_too_short_to_rest_is_refused(clean_env, setting):
    """A nanosecond was taken: a loop writing the audit trail, or reading each replica,
    without rest, and during a database outage a warning at every turn."""
    assert _refusal(**{setting: 1e-9}) == (
        f"{setting}: Input should be greater than or equal to 0.05")
    assert getattr(Settings(**{setting: 0.05}), setting) == 0.05


@pytest.mark.parametrize("audience", ["", " ", "gdi-node ", "\tgdi-node"])
def test_an_audience_no_token_can_hold_is_refused(clean_env, audience):
    """`aud` is compared exactly: an empty audience (a template's variable left unset) or one
    with a pasted space matched no token, and every token of that issuer was a 401 (`the
    audience (aud) is not this node's`), found by the first researcher, not at start."""
    message = _refusal(trusted_issuers=[{"issuer": "https://login.example.org/oidc/",
                                         "audience": audience}])
    assert message.startswith("trusted_issuers.0.audience: "), message
    assert Settings(trusted_issuers=[{"issuer": "https://login.example.org/oidc/",
                                      "audience": "gdi-node"}]).trusted_issuers[0].audience


@pytest.mark.parametrize("field", ["issuer", "jwks_uri", "userinfo_endpoint", "visa_jku"])
def test_a_trusted_issuers_url_holding_a_password_is_refused(clean_env, field):
    """A userinfo_endpoint of `https://gdi:S3cret@aai.example/userinfo` was published to
    anyone in /web/config.json and in the page's Content-Security-Policy, written in the
    log's warnings, and never answered: aiohttp will not send a URL's credentials with the
    token's Authorization header, so every researcher's visas were dropped. Refused as a
    peer's URL holding one is, never quoting the value."""
    aai = "https://login.example.org/oidc"
    given = aai.replace("https://", "https://gdi:S3cret@")
    entry = {"issuer": aai, "jwks_uri": f"{aai}/jwks", "userinfo_endpoint": f"{aai}/userinfo",
             "visas": True, "visa_jku": [f"{aai}/visa-jwks"]}
    entry[field] = [f"{given}/visa-jwks"] if field == "visa_jku" else (
        given if field == "issuer" else f"{given}/{field}")
    message = _refusal(trusted_issuers=[entry])
    assert message.startswith(f"trusted_issuers.0.{field}") and (
        "user name or password" in message), message
    assert "S3cret" not in message


@pytest.mark.parametrize("node_id", [".", "..", "..."])
def test_a_node_id_of_dots_only_is_refused_in_both_settings(clean_env, node_id):
    """`..` matched the id pattern, but a URL path resolves it away: the catalog
    `/fdp/catalog/..` was asked as `/fdp` and a push to `/api/nodes/..` went to `/api`,
    so that node could be neither harvested nor pushed. A dot inside an id stays allowed."""
    message = _refusal(beacon_id=node_id)
    assert message.startswith("beacon_id: ") and "only dots" in message, message
    with pytest.raises(ValueError) as refused:
        CatalogueSettings(nodes=[{"id": node_id, "token": "t" * 20}])
    message = configuration_error(refused.value)
    assert message.startswith("nodes.0.id: ") and "only dots" in message, message
    assert Settings(beacon_id="org.example..node").beacon_id == "org.example..node"


@pytest.mark.parametrize(("given", "field"), [
    ({"public_base_url": "beacon.example.fi"}, "public_base_url"),
    # no URL holds it, and RDF cannot write it: the FAIR Data Point's documents name it
    ({"public_base_url": "https://beacon.example.fi/a>b"}, "public_base_url"),
    ({"catalogue_url": "ftp://catalogue.example.org"}, "catalogue_url"),
    ({"peers": [{"id": "se", "url": "http://[::1"}]}, "peers.0.url"),
    ({"cors_origins": ["http://[::1"]}, "cors_origins.0"),
    ({"trusted_issuers": [{"issuer": "https://aai.example", "jwks_uri": "/jwks"}]},
     "trusted_issuers.0.jwks_uri"),
    ({"database_url": "postgresql://gdi:S3cret@[::1/gdi"}, "database_url"),
    ({"database_url": "postgresql://gdi:S3cret@db:port/gdi"}, "database_url"),
    ({"database_replica_urls": ["mysql://gdi:S3cret@db/gdi"]}, "database_replica_urls.0"),
    # a bidirectional control (RFC 3987 forbids them in IRIs; no host holds one): taken, and
    # the first publication or userinfo fetch failed, for as long as the node ran
    ({"catalogue_url": "https://catalogue.examp\u202ele.org"}, "catalogue_url"),
    ({"trusted_issuers": [{"issuer": "https://aai.example",
                           "userinfo_endpoint": "https://\u202eaai.example/userinfo"}]},
     "trusted_issuers.0.userinfo_endpoint"),
    ({"public_base_url": "https://beacon.example.fi/\u200bgdi"}, "public_base_url"),
])
def test_urls_are_checked_when_the_configuration_is_read(clean_env, given, field):
    """Not when the first request needs them (a node that served `beacon.example.fi/api` as
    its welcome URL, a database URL that was a traceback); the refusal never quotes the
    value, which may hold a password."""
    message = _refusal(**given)
    assert message.startswith(f"{field}: not ") and "S3cret" not in message


@pytest.mark.parametrize("url", ["https://beacon.example.fi/?lang=fi",
                                 "https://beacon.example.fi/#top",
                                 "https://gdi:S3cret@beacon.example.fi"])
@pytest.mark.parametrize("field", ["public_base_url", "catalogue_url"])
def test_a_base_url_with_a_query_a_fragment_or_a_password_is_refused(clean_env, url, field):
    """Paths are added to these (`{public_base_url}/api/...`, the FAIR Data Point's IRIs,
    `{catalogue_url}/api/nodes/...`): after a query or a fragment they are inside it, and
    every URL the node published or called was its root's (`/?lang=fi/api/g_variants`). A
    password in the public URL was published in /api/info and every FDP document, and one in
    the catalogue's went with its token and into the logs. Refused, as a peer's URL is, and
    never quoted."""
    message = _refusal(**{field: url})
    assert message.startswith(f"{field}: "), message
    assert "S3cret" not in message
    if field == "public_base_url":
        with pytest.raises(ValueError) as refused:
            CatalogueSettings(public_base_url=url)
        assert configuration_error(refused.value).startswith("public_base_url: ")
    assert Settings(**{field: "https://beacon.example.fi/gdi/"}).model_dump()[field] == (
        "https://beacon.example.fi/gdi")


@pytest.mark.parametrize(("field", "given"), [
    ("organisation_url", "example.org"), ("organisation_url", ""),
    ("organisation_url", "https://example .org"), ("contact_url", "beacon@example.org"),
    ("contact_url", ""), ("contact_url", "mailto:"), ("contact_url", "www.example.org/contact"),
])
def test_the_operators_urls_without_a_scheme_are_refused(clean_env, field, given):
    """/api/info's organization.welcomeUrl and contactUrl, and service-info's
    organization.url and contactUrl (`format: uri`), are RFC 3986 URLs (an email as
    `mailto:`): `example.org` or a bare address was published as given, a link that goes
    nowhere, and the bare address never became the catalogue records' contact point
    (node/publication/records.py reads a mailto: URL). An empty organisation_url was taken
    as unset, the node's own URL published instead."""
    assert _refusal(**{field: given}).startswith(f"{field}: "), given
    settings = Settings(organisation_url="https://example.org/",
                        contact_url="mailto:beacon@example.org")
    assert (settings.organisation_url, settings.contact_url) == ("https://example.org/",
                                                                 "mailto:beacon@example.org")
    assert Settings(contact_url="https://example.org/contact").contact_url == (
        "https://example.org/contact")


@pytest.mark.parametrize("token", ["", "   ", "S3cret-fi-catalogue-token\n",
                                   "S3cret fi catalogue token", "S3cret\tfi-catalogue"])
def test_a_catalogue_token_no_authorization_header_can_carry_is_refused(clean_env, token):
    """Sent as `Authorization: Bearer <token>`: an empty one was taken as set (the catalogue
    answered 401, logged at every retry), and one read with its file's newline (a
    Kubernetes secret, an env file) was refused by aiohttp as header injection, which the
    node took for a passing failure and retried for as long as it ran, publishing
    nothing. Refused at start, never quoted."""
    clean_env.setenv("GDI_NODE_CATALOGUE_TOKEN", token)
    with pytest.raises(ValueError) as refused:
        Settings()
    message = configuration_error(refused.value)
    assert message.startswith("catalogue_token: "), message
    assert "S3cret" not in message
    clean_env.setenv("GDI_NODE_CATALOGUE_TOKEN", "S3cret-fi-catalogue-token")
    assert Settings().catalogue_token.get_secret_value() == "S3cret-fi-catalogue-token"


@pytest.mark.parametrize("given", ["", "   ", "localhost ", "10.0.0.5\n"])
def test_a_host_no_address_can_be_is_refused(clean_env, given):
    """`GDI_NODE_HOST=` (a compose file's variable left unset) or a host read with a pasted
    space or its file's newline was taken, and `serve` then failed as it listened
    (`cannot listen on :5050: Name or service not known`), the setting unnamed. Refused when
    the configuration is read, as the README says of a value the node cannot start with,
    for the catalogue's too."""
    assert _refusal_of(clean_env, "GDI_NODE_HOST", given).startswith("host: ")
    assert _refusal_of(clean_env, "GDI_CATALOGUE_HOST", given,
                       CatalogueSettings).startswith("host: ")
    assert Settings(host="::1").host == "::1"


@pytest.mark.parametrize("given", ["", "   "])
def test_an_empty_data_dir_is_refused(clean_env, given):
    """`GDI_NODE_DATA_DIR=` (a compose file's `${DATA_DIR}` left unset) was read as the
    path `.`: the embedded database and the synthetic data went into whatever directory
    each command was started in, a fresh empty database in each. Refused, for the
    catalogue's too."""
    clean_env.setenv("GDI_NODE_DATA_DIR", given)
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value).startswith("data_dir: ")
    clean_env.setenv("GDI_CATALOGUE_DATA_DIR", given)
    with pytest.raises(ValueError) as refused:
        CatalogueSettings()
    assert configuration_error(refused.value).startswith("data_dir: ")
    clean_env.setenv("GDI_NODE_DATA_DIR", "/var/lib/gdi-node")
    assert str(Settings().data_dir) == "/var/lib/gdi-node"


@pytest.mark.parametrize("header", ["", " ", "X-Forwarded-For:", "X Forwarded For",
                                    "X-Real-IP\n"])
def test_a_client_address_header_no_request_can_carry_is_refused(clean_env, header):
    """Anonymous budgets count the address in this header: one no request can carry (an
    empty name, a colon copied from a header line, a space) was never found, so every
    anonymous caller behind the proxy counted as the proxy, all sharing one budget and one
    set of loss accounts, and nothing said so."""
    message = _refusal(disclosure={"client_address_header": header})
    assert message.startswith("disclosure.client_address_header: "), message
    assert Settings(disclosure={"client_address_header": "X-Forwarded-For"}).disclosure \
        .client_address_header == "X-Forwarded-For"


def test_a_bad_database_url_is_named_where_it_was_given(clean_env, tmp_path):
    """The node's database URL is GDI_NODE_DATABASE_URL, DATABASE_URL or the file's
    `database_url`: a bad one from DATABASE_URL (a container platform's) or from the file
    was refused as GDI_NODE_DATABASE_URL's, a variable the operator had not set."""
    problem = "not a PostgreSQL URL such as postgresql://user:password@host:5432/database"
    clean_env.setenv("DATABASE_URL", "mysql://gdi:S3cret@db/gdi")
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value) == f"DATABASE_URL: {problem}"
    clean_env.setenv("GDI_NODE_DATABASE_URL", "mysql://gdi:S3cret@db/gdi")
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value) == f"GDI_NODE_DATABASE_URL: {problem}"
    clean_env.delenv("GDI_NODE_DATABASE_URL")
    clean_env.delenv("DATABASE_URL")
    config = tmp_path / "node.toml"
    config.write_text('database_url = "mysql://gdi:S3cret@db/gdi"\n')
    clean_env.setenv(CONFIG_ENV, str(config))
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value) == f"database_url: {problem}"


@pytest.mark.parametrize("token", ["S3cret-fi-catalogue-token\n", " S3cret-fi-catalogue-token",
                                   "S3cret fi catalogue token"])
def test_a_node_token_no_authorization_header_can_carry_is_refused_by_the_catalogue(
        clean_env, token):
    """The catalogue's side of the node's catalogue_token: one read with its file's newline
    or a pasted space met a node that can send no such token (HTTP strips a header's
    surrounding white space; the node refuses it), so that node's every publication was a
    401. Refused at start, naming the node, never quoting the token."""
    with pytest.raises(ValueError) as refused:
        CatalogueSettings(nodes=[{"id": "org.example.fi", "token": token}])
    message = configuration_error(refused.value)
    assert message.startswith("nodes.0: node 'org.example.fi': token "), message
    assert "S3cret" not in message


def test_a_database_url_of_several_hosts_is_taken(clean_env):
    """asyncpg tries `h1:5432,h2:5433` in turn; the check is the driver's rule."""
    url = "postgresql://gdi@db1:5432,db2:5433/gdi"
    assert Settings(database_url=url).database_url == url


def test_count_lanes_leave_the_pool_a_connection(clean_env):
    """Count and wide lanes hold connections while queries keep coming; records need one
    more."""
    assert Settings(count_lanes=2, db_pool_max=4).count_lanes == 2
    with pytest.raises(ValueError, match=r"count_lanes \+ wide_query_lanes \(4\) must be less "
                                         r"than db_pool_max \(4\)"):
        Settings(count_lanes=3, db_pool_max=4)
    with pytest.raises(ValueError, match="wide_query_lanes"):
        Settings(count_lanes=1, wide_query_lanes=3, db_pool_max=4)
    clean_env.setenv("GDI_NODE_DB_POOL_MAX", "2")
    with pytest.raises(ValueError, match="count_lanes"):
        Settings()


def test_a_pool_minimum_above_its_maximum_is_refused(clean_env):
    """asyncpg grew such a pool to its minimum, past the maximum the connection-count warning
    reckons with: refused, naming both."""
    assert Settings(db_pool_min=10, db_pool_max=10).db_pool_min == 10
    clean_env.setenv("GDI_NODE_DB_POOL_MIN", "60")
    clean_env.setenv("GDI_NODE_DB_POOL_MAX", "10")
    with pytest.raises(ValueError) as refused:
        Settings()
    assert configuration_error(refused.value) == (
        "settings: db_pool_min (60) must not be more than db_pool_max (10)")
    with pytest.raises(ValueError, match=r"db_pool_min \(6\) must not be more than "
                                         r"db_pool_max \(5\)"):
        CatalogueSettings(db_pool_min=6)


def test_a_harvest_interval_shorter_than_one_documents_timeout_is_refused(clean_env):
    """The interval is also how long one node's walk may take (catalogue/harvest.py
    `deadline_seconds`): below the time a single document may take, a node whose documents
    came within their timeout was cut off every round (`not read within 1 s`), never
    harvested, while rounds came every second. 0 (no scheduled harvest) stays."""
    clean_env.setenv("GDI_CATALOGUE_HARVEST_INTERVAL_SECONDS", "1")
    with pytest.raises(ValueError) as refused:
        CatalogueSettings()
    assert configuration_error(refused.value) == (
        "settings: harvest_interval_seconds (1) must be 0 (no scheduled harvest) or at least "
        "harvest_timeout_seconds (10), how long one document may take")
    clean_env.setenv("GDI_CATALOGUE_HARVEST_INTERVAL_SECONDS", "0")
    assert CatalogueSettings().harvest_interval_seconds == 0
    assert CatalogueSettings(harvest_interval_seconds=10).harvest_interval_seconds == 10


async def test_migrations_apply_once_and_record_themselves(db_url):
    conn = await asyncpg.connect(db_url)
    try:
        assert [m.version for m in await pending_migrations(conn)] == [
            m.version for m in available_migrations()]
        first = await apply_migrations(conn)
        assert [m.version for m in first] == [m.version for m in available_migrations()]
        assert await apply_migrations(conn) == []
        assert await pending_migrations(conn) == []
        recorded = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        assert [(r["version"], r["name"]) for r in recorded] == [
            (m.version, m.name) for m in available_migrations()]
    finally:
        await conn.close()


async def test_readiness_probes_read_the_migration_files_once(db_url, monkeypatch):
    """/ready asks for the pending migrations on every probe (each few seconds, from each
    orchestrator): it read and parsed every migration file twice a probe."""
    from importlib import resources

    from node import migrate
    migrate.available_migrations.cache_clear()
    opened = []
    files = resources.files
    monkeypatch.setattr(migrate.resources, "files",
                        lambda package: opened.append(package) or files(package))
    conn = await asyncpg.connect(db_url)
    try:
        for _ in range(3):
            await pending_migrations(conn)
    finally:
        await conn.close()
    assert opened == [migrate.NODE_MIGRATIONS]


@pytest.mark.parametrize("rule", ["allele_floor", "population_floor", "loss_budget"])
def test_a_rule_given_true_or_false_is_refused(clean_env, rule):
    """`allele_floor = true` was read as 1, the floor off, and `population_floor = true` as
    every population the floor allows: a rule is a number, as a dataset's `disclosure`
    already said."""
    refusal = _refusal(disclosure={"anonymous": {rule: True}})
    assert refusal.startswith(f"disclosure.anonymous.{rule}"), refusal
    assert "not true or false" in refusal


def _image_environment() -> dict[str, str]:
    """The GDI_ variables the Dockerfile's final stage sets with ENV (KEY=VALUE pairs, lines
    continued with a backslash), as every container of the image starts with them."""
    final = (ROOT / "Dockerfile").read_text(encoding="utf-8").rsplit("\nFROM ", 1)[1]
    settings = " ".join(line.strip().removesuffix("\\") for block in final.split("\nENV ")[1:]
                        for line in block.split("\n")[:1 + block.count("\\\n")])
    return dict(pair.split("=", 1) for pair in settings.split() if pair.startswith("GDI_"))


def _documented(table: str, name: str) -> dict[str, str]:
    """Each setting a Markdown table's first column names (`NAME` in backquotes, several to
    a row), with its row's default cell."""
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and not set(cells[0]) <= set("-"):
            for found in re.findall(name, cells[0]):
                rows[found] = cells[1]
    return rows


def _plain_defaults(rows: dict[str, str]) -> dict[str, str]:
    """The rows whose defaults are plain numbers, one per setting named in the row."""
    by_cell: dict[str, list[str]] = {}
    for setting, cell in rows.items():
        by_cell.setdefault(cell, []).append(setting)
    plain = {}
    for cell, settings in by_cell.items():
        numbers = re.findall(r"`?([0-9][0-9.]*)`?", cell)
        if numbers and len(numbers) == len(settings) and re.fullmatch(r"[`0-9., ]+", cell):
            plain.update(zip(settings, numbers, strict=True))
    return plain


@pytest.mark.parametrize(("kind", "document", "start", "name"), [
    (Settings, "README.md", "## Configuration", r"`GDI_NODE_([A-Z_]+)`"),
    (CatalogueSettings, "docs/catalogue.md", "| setting | default | meaning |", r"`(\w+)`"),
])
def test_the_documented_settings_are_the_settings(kind, document, start, name):
    """The operator's tables of settings (the node's in the README, the catalogue's in
    docs/catalogue.md) name every setting and no other, with the defaults the code has:
    the catalogue's left out its pool and logging, which an operator sharing a
    PostgreSQL needs to size."""
    text = (ROOT / document).read_text().split(start, 1)[1]
    rows = _documented(text[text.index("\n|"):].split("\n\n", 1)[0], name)
    documented = {setting.lower() for setting in rows}
    fields = set(kind.model_fields)
    assert documented - fields == set() and fields - documented == set(), document
    for setting, default in _plain_defaults(rows).items():
        code = kind.model_fields[setting.lower()].default
        assert (default if isinstance(code, str) else float(default)) == code, setting


def test_the_image_serves_every_settings_role_on_every_interface_in_json_lines(clean_env):
    """docs/deploy.md, "The image": one image for every role, which listens on 0.0.0.0 and
    logs JSON lines. `catalogue serve` reads GDI_CATALOGUE_*, not GDI_NODE_*: before, the
    image set only the node's, so its catalogue listened on the container's loopback, where
    nothing outside reached it, and logged text (the compose file set both for it)."""
    for key in ("GDI_CATALOGUE_HOST", "GDI_CATALOGUE_LOG_FORMAT", "GDI_CATALOGUE_CONFIG"):
        clean_env.delenv(key, raising=False)
    image = _image_environment()
    assert image["GDI_NODE_HOST"] == "0.0.0.0"
    for name, value in image.items():
        clean_env.setenv(name, value)
    for settings in (Settings(), CatalogueSettings()):
        assert (settings.host, settings.log_format) == ("0.0.0.0", "json"), type(settings)


async def test_rows_of_no_variant_loaded_before_they_were_skipped_are_removed(pg_server_url,
                                                                             tmp_path):
    """An ingest has skipped an ALT nobody carries (AC 0) since 2026-12-05, and one equal to
    REF since 2026-12-03; a dataset loaded before kept their rows through every migration,
    so an upgraded node answered that they exist, and counted and listed them, where the
    same file loaded now misses them. The migrations leave the dataset as an ingest of
    today loads it: rows, variant count and bins."""
    samples = ["S0", "S1", "S2"]
    header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                         "FORMAT", *samples])]
    carried = [("100", "A", "G", "0/1"), ("200", "C", "T", "1/1"), ("3000000", "G", "A", "0/1")]
    vcf = write_vcf_text(tmp_path / "carried.vcf", "\n".join(
        header + [f"chr1\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT\t{gt}\t0/0\t0/0"
                  for pos, ref, alt, gt in carried]) + "\n")
    async with node_database(pg_server_url) as url:
        await ingest(url, IngestRequest(vcf, "GDI-FI-OLD-1", GRCH38, AccessLevel.PUBLIC, "old",
                                        workers=1))
        conn = await asyncpg.connect(url)
        try:
            table = await conn.fetchval("SELECT partition_table FROM datasets")
            state = {"count": "SELECT variant_count FROM datasets",
                     "rows": f"SELECT * FROM {table} ORDER BY start_pos, alt",
                     "bins": "SELECT * FROM variant_bins ORDER BY chromosome, bin"}
            loaded = {name: await conn.fetch(sql) for name, sql in state.items()}
            # as an ingest before the fix loaded the same file with two more records nobody
            # carries (0/0 0/0 0/0): one beside the carried variants' bin, one in a bin alone
            # and one whose ALT is its REF (C>C), as an ingest before 2026-12-03 loaded it
            for start, alt in ((99, "T"), (20_000_000, "C"), (199, "C")):
                await conn.execute(
                    f"INSERT INTO {table} (chromosome, start_pos, end_pos, ref, alt, "
                    "variant_type, length, ac, an, carriers, carrier_bits, hom_bits, "
                    "missing_bits, genes, protein_changes) SELECT chromosome, $1, $1 + 1, ref, "
                    "$2, variant_type, length, 0, an, 0, B'000', B'000', missing_bits, genes, "
                    f"protein_changes FROM {table} WHERE start_pos = 99 AND ac > 0", start, alt)
            await conn.execute(f"UPDATE {table} SET ref = 'C', ac = 2, carriers = 1, "
                               "carrier_bits = B'100' WHERE start_pos = 199 AND ac = 0")
            await conn.execute("UPDATE datasets SET variant_count = variant_count + 3")
            await conn.execute("UPDATE variant_bins SET variants = variants + 2, rarest = 0 "
                               "WHERE bin = 0")
            await conn.execute("INSERT INTO variant_bins SELECT dataset_id, chromosome, "
                               "20000000 >> 16, 1, 0 FROM variant_bins WHERE bin = 0")
            await conn.execute("UPDATE datasets SET updated_at = (SELECT applied_at FROM "
                               "schema_migrations WHERE version = 25) - interval '1 day'")
            assert await conn.fetchval(f"SELECT count(*) FROM {table} "
                                       "WHERE ac = 0 OR ref = alt") == 3
            await conn.execute("DELETE FROM schema_migrations WHERE version > 33")
            await apply_migrations(conn, NODE_MIGRATIONS)
            assert {name: await conn.fetch(sql) for name, sql in state.items()} == loaded
        finally:
            await conn.close()


async def test_measured_assays_loaded_before_filters_found_them_are_held_as_terms(
        pg_server_url, tmp_path):
    """An ontology filter on a measured assay's id has found those measured since
    2026-12-05 (an ingest writes the assay into their terms); a dataset loaded before kept
    its rows through every migration, so an upgraded node counted nobody measured for
    `LOINC:8302-2`, a false 0, where the same files loaded now count all 30. The
    migrations leave its individuals, term bits and filtering terms as an ingest of today
    writes them. A dataset loaded in between (its measured people's terms holding the
    assay, before the migration after the fix) is left as it is."""
    height = "LOINC:8302-2"
    people = [{"subject": {"id": f"S{n}"},
               "measurements": [{"assay": {"id": height, "label": "Body height"},
                                 "value": {"quantity": {"unit": {"id": "UCUM:cm"},
                                                        "value": 150 + n}}}] if n < 30 else [],
               "medicalActions": [{"procedure": {"code": {"id": height}}}] if n >= 38 else []}
              for n in range(40)]
    (tmp_path / "people.json").write_text(json.dumps(people))
    vcf = carriers_vcf(tmp_path / "people.vcf", [(7670000, 40)])
    async with node_database(pg_server_url) as url:
        for dataset in ("GDI-FI-OLD-1", "GDI-FI-NEW-1"):
            await ingest(url, IngestRequest(vcf, dataset, GRCH38, AccessLevel.PUBLIC, dataset,
                                            workers=1, individuals=tmp_path / "people.json"))
        conn = await asyncpg.connect(url)
        try:
            state = {"people": "SELECT dataset_id, sample_index, terms, ancestry FROM "
                               "individuals ORDER BY 1, 2",
                     "bits": "SELECT * FROM term_members ORDER BY dataset_id, term",
                     "listed": "SELECT * FROM individual_terms ORDER BY dataset_id, id"}
            loaded = {name: await conn.fetch(sql) for name, sql in state.items()}
            assert [tuple(r) for r in await conn.fetch(
                "SELECT kind, individuals FROM individual_terms WHERE id = $1", height)] == [
                ("alphanumeric", 32)] * 2
            # as an ingest before the fix wrote them: the assay a term of its two holders
            # alone, and counted by them (migration 0031 counts its holders on such rows)
            old = "dataset_id = 'GDI-FI-OLD-1'"
            await conn.execute("UPDATE individuals SET terms = array_remove(terms, $1), "
                               "ancestry = array_remove(ancestry, $1) "
                               f"WHERE sample_index < 30 AND {old}", height)
            holders = "0" * 38 + "11"
            await conn.execute("UPDATE term_members SET exact = $2::text::varbit, "
                               f"descendants = $2::text::varbit WHERE term = $1 AND {old}",
                               height, holders)
            await conn.execute(f"UPDATE individual_terms SET individuals = 2 WHERE id = $1 "
                               f"AND {old}", height)
            await conn.execute("UPDATE datasets SET updated_at = (SELECT applied_at FROM "
                               "schema_migrations WHERE version = 25) - interval '1 day'")
            await conn.execute("DELETE FROM schema_migrations WHERE version > 33")
            await apply_migrations(conn, NODE_MIGRATIONS)
            assert {name: await conn.fetch(sql) for name, sql in state.items()} == loaded
        finally:
            await conn.close()
