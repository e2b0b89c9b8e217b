"""What operators configure: the node's settings (GDI_NODE_*) and the catalogue service's
(GDI_CATALOGUE_*), each from environment variables, an optional TOML file, and defaults.

Precedence, highest first: explicit arguments, environment, the TOML file named by
GDI_NODE_CONFIG (or `--config`; GDI_CATALOGUE_CONFIG for the catalogue), built-in defaults.
DATABASE_URL is honoured as well as GDI_NODE_DATABASE_URL because container platforms set the
former. The cores never read these: the shell builds each core's own small configuration
from them (`Settings.beacon_identity`, `CatalogueSettings.harvest_config`, ...).
"""
from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
from importlib.metadata import version
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, get_args
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from auth.issuers import TrustedIssuer
from auth.urls import http_url
from beacon.limits import INT4_MAX
from catalogue.credentials import (
    MAX_NODE_NAME,
    NODE_ID,
    NodeCredential,
    not_only_dots,
    unsendable,
)
from catalogue.record import EMAIL, MAX_NAME
from catalogue.vocabulary import assigned_country
from node.federation.peers import REQUESTS_IN_FLIGHT, Peer
from node.urls import DatabaseUrl, Origin, RootUrl, beacon_key, http_root

if TYPE_CHECKING:   # the cores' configurations; imported when built, not by every command
    from beacon.disclosure import DisclosurePolicy
    from beacon.info import BeaconIdentity
    from beacon.workload import QueryLimits
    from catalogue.harvest import HarvestConfig
    from catalogue.site import CatalogueIdentity

CONFIG_ENV = "GDI_NODE_CONFIG"
# Bounds of numeric settings: beyond them a value is a mistake, and one that would break the
# start (a statement timeout PostgreSQL cannot hold, a pool of a billion connection slots that
# asyncpg allocates up front) or every query (a disclosure rule beyond PostgreSQL's integer,
# INT4_MAX)
DAY = 86_400
YEAR = 366 * DAY
MAX_POOL = 10_000            # connections per process; PostgreSQL's max_connections is ~100
MAX_WORKERS = 1_024          # processes
_ENV_FIELD = re.compile(r'error parsing value for field "(\w+)" from source "\w*Env\w*"')
CATALOGUE_CONFIG_ENV = "GDI_CATALOGUE_CONFIG"


def configuration_error(exc: Exception) -> str:
    """What is wrong with a configuration, as `field: reason` per problem and never the value
    given: values may be secrets (a catalogue token, a node's shared secret, a database URL's
    password), and pydantic's own message quotes them, whole settings dicts included."""
    if isinstance(exc, SettingsError) and (field := _ENV_FIELD.match(str(exc))):
        # a complex setting (a list, a table) from the environment, which must be JSON; the
        # library's own words name its source class
        cause = exc.__cause__
        detail = (f" ({cause.msg} at column {cause.colno})"
                  if isinstance(cause, json.JSONDecodeError)
                  else f" ({cause})" if isinstance(cause, ValueError) else "")
        return f"{field[1]}: not valid JSON in the environment{detail}"
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "; ".join(f"{'.'.join(map(str, _given_as(e['loc']))) or 'settings'}: "
                     + (_not_a_setting(exc.title, e["loc"]) if e["type"] == "extra_forbidden"
                        else e["msg"].removeprefix("Value error, "))
                     for e in exc.errors(include_url=False, include_input=False))


def _not_a_setting(title: str, loc: tuple[int | str, ...]) -> str:
    """A key of the TOML file (or a table in it) that names no setting, with the setting
    meant, as a variable naming none is refused (`_Environment`): it was pydantic's "Extra
    inputs are not permitted", which named no setting (found by a review, 2026-12-05)."""
    model: Any = {"Settings": Settings, "CatalogueSettings": CatalogueSettings}.get(title)
    for part in loc[:-1]:                   # down to the table holding the key
        field = model.model_fields.get(part) if model and isinstance(part, str) else None
        if field is not None:
            model = _model_in(field.annotation)
        elif not isinstance(part, int):    # a list's index: its items' model
            model = None
    names = [name for name, field in model.model_fields.items()
             for name in (name, field.alias) if name] if model else []
    meant = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.75)
    return "not a setting" + (f" ({meant[0]}?)" if meant else "")


def _model_in(annotation: Any) -> Any:
    """The pydantic model an annotation holds (`TierSettings`, `list[Peer]`,
    `X | None`), None if it holds none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in get_args(annotation) if (m := _model_in(arg)) is not None),
                None)


def _given_as(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """`loc` naming what the operator set: the sources key the node's database URL by its
    first name, GDI_NODE_DATABASE_URL, wherever it came from, and one from DATABASE_URL or
    the file's `database_url` was refused as a variable that was not set."""
    if loc[:1] != ("GDI_NODE_DATABASE_URL",):
        return loc
    return (node_database_setting(), *loc[1:])


def node_database_setting() -> str:
    """Where the node's database URL is set, for a message telling the operator to check
    it: the environment (read case-insensitively, its GDI_NODE_ name winning over the plain
    DATABASE_URL that container platforms set), else the file's `database_url`."""
    variables = {name.upper() for name in os.environ}
    return next((name for name in ("GDI_NODE_DATABASE_URL", "DATABASE_URL")
                 if name in variables), "database_url")


def _pool_bounds(minimum: int, maximum: int) -> None:
    """asyncpg opens a pool's minimum at start: one above the maximum grew the pool to it,
    past the connections the operator meant (and past what the workers' warning counts)."""
    if minimum > maximum:
        raise ValueError(f"db_pool_min ({minimum}) must not be more than db_pool_max "
                         f"({maximum})")


class ServiceSettings(BaseSettings):
    """What every gdi-node service (node, catalogue) reads alike: init arguments, then the
    environment, then the TOML file named by the environment variable `config_env`; where it
    listens, the URL it is reached at, how it logs, and how long a request's body may take
    to arrive."""

    config_env: ClassVar[str] = CONFIG_ENV

    host: str = "127.0.0.1"
    port: int = Field(default=5050, ge=1, le=65535)
    public_base_url: RootUrl | None = Field(
        default=None, description="URL the service is reached at from outside; default "
                                  "http://host:port")
    log_format: str = Field(default="text", pattern="^(text|json)$")
    log_level: str = "INFO"
    environment: str = Field(
        default="dev", pattern="^(prod|test|dev|staging)$",
        description="prod (also spelt production) refuses development trust and secrets "
                    "(node/production.py)")
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, le=DAY, description="Longest a request's body may take to arrive "
                                        "once its headers have (a 408 after): aiohttp "
                                        "bounds slow headers and idle connections, not a "
                                        "slow body")
    event_loop: str = Field(
        default="uvloop", pattern="^(uvloop|asyncio)$",
        description="The server's event loop: uvloop (libuv; a fifth fewer instructions an "
                    "individuals count) or asyncio (the standard library's)")

    @field_validator("host")
    @classmethod
    def _an_address(cls, value: str) -> str:
        """An empty host (a compose file's variable left unset) or one with white space (a
        pasted space, a file's newline) was taken, and `serve` failed as it listened,
        naming no setting (found by a review, 2026-12-05)."""
        if not value or any(c.isspace() for c in value):
            raise ValueError("empty, or holding white space: give an address or host name "
                             "such as 127.0.0.1, 0.0.0.0 or ::")
        return value

    @field_validator("environment", mode="before")
    @classmethod
    def _one_spelling(cls, value: object) -> object:
        """`prod` is the Beacon v2 spelling (/api/info shows it); `production` means it too."""
        return "prod" if isinstance(value, str) and value.lower() == "production" else value

    @property
    def base_url(self) -> str:
        return self.public_base_url or http_root(self.host, self.port)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _Environment(settings_cls)]
        config_file = os.environ.get(cls.config_env)
        if config_file:
            try:
                found = Path(config_file).is_file()
                directory = not found and Path(config_file).is_dir()
            except OSError as exc:                  # a name too long for the file system
                raise ValueError(f"{cls.config_env}={config_file[:200]}: "
                                 f"{exc.strerror or exc}") from None
            if directory:
                raise ValueError(f"{cls.config_env}={config_file}: a directory, not a config "
                                 "file")
            if not found:
                raise FileNotFoundError(f"{cls.config_env}={config_file}: no such config file")
            sources.append(_TomlFile(settings_cls, toml_file=config_file))
        return tuple(sources)


class _Environment(EnvSettingsSource):
    """The environment, as pydantic-settings reads it (its model's `env_prefix`), except
    that a JSON setting nested beyond Python's parser is a ValueError, which it reports as
    that setting's, where its RecursionError named none and was a traceback; and that a
    variable of the prefix naming no setting is refused, as an unknown key of the TOML file
    is: a misspelt GDI_NODE_DATABSE_URL was ignored, and the node started an embedded
    database of its own and served it, empty, as the node."""

    def __call__(self) -> dict[str, Any]:
        prefix = self.env_prefix.upper()
        settings = [name.upper() for name in self.settings_cls.model_fields]
        known = {*settings, getattr(self.settings_cls, "config_env", "").removeprefix(prefix)}
        aliases = {choice.upper() for field in self.settings_cls.model_fields.values()
                   if isinstance(field.validation_alias, AliasChoices)
                   for choice in field.validation_alias.choices if isinstance(choice, str)}
        for name in sorted(os.environ):
            given = name.upper()
            if given.startswith(prefix) or given in aliases:
                _utf8(name, os.environ[name])
            if given.startswith(prefix) and given.removeprefix(prefix) not in known:
                meant = difflib.get_close_matches(given.removeprefix(prefix), settings, n=1,
                                                  cutoff=0.75)
                raise ValueError(f"{name}: not a setting"      # its name only: values are
                                 + (f" ({prefix}{meant[0]}?)" if meant else ""))  # secrets
        return super().__call__()

    def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except RecursionError:
            raise ValueError("nested too deeply to read") from None


def _utf8(name: str, value: str) -> None:
    """A value the environment gave in another encoding (Latin-1) reaches Python with each
    such byte as a lone surrogate, which no JSON answer can hold: the node's start ended in
    a traceback. Refused as `NAME: not UTF-8 text (byte 0x..)`, never quoting the value."""
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        byte = ord(value[exc.start]) - 0xDC00
        raise ValueError(f"{name}: not UTF-8 text (byte 0x{byte & 0xFF:02x})") from None


class _TomlFile(TomlConfigSettingsSource):
    """The configuration file, read past a UTF-8 byte order mark (which some editors write);
    one that cannot be read, is not UTF-8 or not TOML is refused as `file:line: reason`."""

    def _read_file(self, file_path: Path) -> dict[str, Any]:     # type: ignore[override]
        # imported here: most commands read no file, and every one starts by reading settings
        import tomllib
        try:
            data = Path(file_path).read_bytes().removeprefix(b"\xef\xbb\xbf")
        except OSError as exc:
            raise ValueError(f"{file_path}: {exc.strerror or exc}") from None
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ValueError(f"{file_path}:{line}: not UTF-8 text "
                             f"(byte 0x{data[exc.start]:02x})") from None
        try:
            return tomllib.loads(text)
        except RecursionError:                  # Python's parser, not the file, gave up
            raise ValueError(f"{file_path}: not TOML this node can read: nested too "
                             "deeply") from None
        except tomllib.TOMLDecodeError as exc:
            reason = str(exc)
            if (at := re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", reason)):
                raise ValueError(f"{file_path}:{at[2]}: not TOML: {at[1]} "
                                 f"(column {at[3]})") from None
            raise ValueError(f"{file_path}: not TOML: "
                             f"{reason.replace('(at end of document)', 'at the end')}") from None



def _unmapped(network: IPv4Network | IPv6Network) -> IPv4Network | IPv6Network:
    """An IPv4-mapped network (::ffff:192.0.2.10, ::ffff:192.0.2.0/120) as the IPv4 network
    it maps: a dual-stack socket's IPv4 client is matched by its IPv4 address
    (node/http/caller.py `_within`), so a mapped entry never matched, and the network's
    callers silently shared one budget again."""
    mapped = (network.network_address.ipv4_mapped
              if isinstance(network, IPv6Network) and network.prefixlen >= 96 else None)
    return network if mapped is None else IPv4Network(f"{mapped}/{network.prefixlen - 96}")


def _listed(value: object) -> object:
    """A list setting as the environment gives it: a JSON list or a comma-separated list
    (`NoDecode` fields, which pydantic-settings would otherwise take as JSON only)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except RecursionError:              # Python's parser, not the value, gave up
                raise ValueError("JSON nested too deeply to read") from None
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


# Where the next URL of a comma-separated list of database URLs starts: at a comma before a
# scheme, the only comma that is the list's. A libpq URL lists its own hosts with commas
# (postgresql://gdi@h1:5432,h2:5433/gdi), and the list split at every comma cut it in pieces
_NEXT_DATABASE_URL = re.compile(r"\s*,[\s,]*(?=postgres(?:ql)?://)", re.IGNORECASE)
_DATABASE_SCHEME = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)


def _database_urls_listed(value: object) -> object:
    """A list of database URLs as the environment gives it: a JSON list, or URLs separated
    by commas (and spaces, a trailing comma the list's), each starting `postgresql://` or
    `postgres://`. A comma after a URL's hosts, in its database name or parameters, is
    refused rather than guessed at: it may be the URL's or the list's before a text that
    is no URL; the JSON list takes it. The errors never quote the text (a password)."""
    if not isinstance(value, str) or value.strip().startswith("["):
        return _listed(value)
    text = value.strip(" \t\r\n,")
    if not text:
        return []
    if not _DATABASE_SCHEME.match(text):
        raise ValueError("not URLs each starting postgresql:// or postgres://, separated by "
                         "commas (or a JSON list of them): the text before the first URL is "
                         "not one")
    urls = _NEXT_DATABASE_URL.split(text)
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:              # a broken [IPv6] host: DatabaseUrl says so
            continue
        if "," in parts.path or "," in parts.query or "," in parts.fragment:
            raise ValueError("a comma after a URL's hosts (in its database name or "
                             "parameters) cannot be told from the list's: give the URLs as "
                             "a JSON list")
    return urls


def _not_blank(value: str) -> str:
    """A text the service publishes as its name, description, version or organisation: one
    left empty or of spaces (a template's variable) went out as it was."""
    if not value.strip():
        raise ValueError("blank: it is published as the service's own")
    return value


def _a_path(value: object) -> object:
    """A directory setting as given: an empty one (`GDI_NODE_DATA_DIR=`, a compose file's
    variable left unset) was the path `.`, whatever directory each command started in.
    A leading `~` is the home directory, as a shell reads it: written in the TOML file or
    quoted in the environment, where no shell expands it, `~/gdi-node` made a directory
    named `~` wherever a command started, and the embedded PostgreSQL, which expands it,
    did not start (found by a review, 2026-12-05)."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("empty: give the directory's path")
    if isinstance(value, str | Path) and str(value).startswith("~"):
        home = os.path.expanduser(value)
        if home.startswith("~"):
            raise ValueError("its ~ names no home directory here: give the full path")
        return home
    return value


class TierSettings(BaseModel):
    """One tier's disclosure rules (beacon/disclosure.py); unset = that tier's default."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    allele_floor: int | None = Field(default=None, ge=1, le=INT4_MAX)
    count_step: int | None = Field(default=None, ge=1, le=INT4_MAX)
    budget_per_window: int | None = Field(default=None, ge=0, le=INT4_MAX)
    budget_per_day: int | None = Field(default=None, ge=0, le=INT4_MAX)
    rare_cost: int | None = Field(default=None, ge=1, le=INT4_MAX)
    rare_below: int | None = Field(default=None, ge=0, le=INT4_MAX)
    count_noise: int | None = Field(default=None, ge=0, le=INT4_MAX)
    smooth_width: int | None = Field(default=None, ge=0, le=INT4_MAX)
    smooth_scale: float | None = Field(default=None, gt=0, le=INT4_MAX)
    loss_budget: float | None = Field(default=None, ge=0, le=INT4_MAX)
    population_floor: int | None = Field(default=None, ge=0, le=INT4_MAX)

    @field_validator("*", mode="before")
    @classmethod
    def _not_true_or_false(cls, value: object) -> object:
        """A rule is a number: `allele_floor = true` was read as 1, the floor off, and
        `population_floor = true` as every population (a dataset's `disclosure` refuses
        them: beacon/disclosure.py dataset_overrides)."""
        if isinstance(value, bool):    # a ValueError, which pydantic words: not a TypeError
            raise ValueError("must be a number, not true or false")  # noqa: TRY004
        return value


def _twice(values: list[str]) -> list[str]:
    """The values given more than once, sorted."""
    return sorted({v for v in values if values.count(v) > 1})


# Where a node's reverse proxy sits unless the operator says otherwise: loopback, the
# private IPv4 networks (RFC 1918) and IPv6 unique local addresses (RFC 4193)
PROXY_NETWORKS = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                  "fc00::/7")


class DisclosureSettings(BaseModel):
    """What callers may learn (docs/privacy.md). In TOML, a [disclosure] table; in the
    environment, GDI_NODE_DISCLOSURE as JSON."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    anonymous: TierSettings = Field(default_factory=TierSettings)
    bona_fide: TierSettings = Field(default_factory=TierSettings)
    granted: TierSettings = Field(default_factory=TierSettings)
    purpose_required: bool = Field(
        default=False, description="individual-level queries must declare a purpose of use "
                                   "(meta.purposeOfUse or X-Purpose-Of-Use) on every "
                                   "dataset; a dataset can ask for it on its own")
    anonymous_discovery: bool = Field(
        default=False, description="REGISTERED and CONTROLLED datasets answer anonymous "
                                   "callers' queries (boolean, through the floor and budget); "
                                   "off = anonymous callers do not learn they exist")
    budget_window_seconds: int = Field(default=3600, ge=1, le=YEAR)
    answer_time_floor_ms: int = Field(
        default=50, ge=0, le=10_000,
        description="An answer that asked a dataset whose caller's tier keeps privacy losses "
                    "(smooth floor, genotypes) is sent no sooner than this many milliseconds "
                    "after the request arrived (one that took longer, at its next multiple): "
                    "the first answer about a variant near the floor takes the caller's "
                    "lock and writes its charges, and without a floor its time would tell "
                    "such a variant from one below it (docs/privacy.md, \"Timing\"); "
                    "0 = off")
    client_address_header: str | None = Field(
        default=None, description="Header a trusted proxy puts the client's address in "
                                  "(its last entry across all its lines counts, e.g. "
                                  "X-Forwarded-For; one trusted proxy that appends); unset = "
                                  "the connection's peer address identifies anonymous callers")
    client_address_proxies: list[IPv4Network | IPv6Network] = Field(
        default_factory=lambda: [ipaddress.ip_network(n) for n in PROXY_NETWORKS],
        description="Addresses or networks of the proxies client_address_header is read "
                    "from: from any other connection it is ignored and the connection's "
                    "address counts, for a client reaching the node past the proxy could "
                    "name any address, a fresh budget each; default loopback and private "
                    "networks, where a reverse proxy sits (0.0.0.0/0 and ::/0: anyone)")
    anonymous_ipv6_prefix: int = Field(
        default=64, ge=32, le=128,
        description="An anonymous IPv6 caller is its address's network of this many leading "
                    "bits, one budget and one set of loss accounts for all of it: a host is "
                    "given a /64 and can use any address in it, each a fresh budget if "
                    "counted alone; 128 = each address on its own. IPv4 callers (an IPv4 "
                    "client of a dual-stack socket, ::ffff:192.0.2.1, too) are each address")


    @field_validator("client_address_header")
    @classmethod
    def _a_header_name(cls, value: str | None) -> str | None:
        """An HTTP field name (RFC 9110 token): one no request can carry was never found,
        and every anonymous caller behind the proxy counted as the proxy, unsaid."""
        if value is not None and not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", value):
            raise ValueError("not a header name such as X-Forwarded-For (no colon, no "
                             "white space)")
        return value

    @model_validator(mode="after")
    def _tiers_hold(self) -> DisclosureSettings:
        """Each tier's rules as the node will use them (its settings over the defaults)
        hold together: a rule checked alone could still make the tier unusable (a
        `rare_cost` above the tier's default budget), found only when the first question
        was refused."""
        from beacon.disclosure import DEFAULT_TIERS
        for tier, rules in DEFAULT_TIERS.items():
            try:
                dataclasses.replace(rules, **getattr(self, tier).model_dump(exclude_none=True))
            except ValueError as exc:
                raise ValueError(f"{tier}.{exc}") from None
        return self


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GDI_NODE_", extra="forbid",
                                      allow_inf_nan=False)

    database_url: DatabaseUrl | None = Field(
        default=None, validation_alias=AliasChoices("GDI_NODE_DATABASE_URL", "DATABASE_URL",
                                                    "database_url"),
        description="PostgreSQL URL; unset = start an embedded PostgreSQL in data_dir")
    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("gdi-node"),
                           description="Directory the node owns (embedded database lives here)")
    beacon_id: str = Field(default="org.example.gdi-node", pattern=NODE_ID, max_length=200,
                           description="Reverse-domain identifier of this Beacon (letters, "
                                       "digits, '.', '_', '-'): its FAIR Data Point catalog's "
                                       "path segment and its id in the catalogue")
    # Past what the catalogue registers, every publication of the node was refused
    beacon_name: str = Field(default="GDI reference node", max_length=MAX_NODE_NAME)
    beacon_description: str = "Federated genomic variant discovery (GA4GH Beacon v2) for 1+MG / GDI"
    beacon_version: str = Field(default_factory=lambda: version("gdi-node"),
                                description="Version in /api/info and service-info; default: "
                                            "the installed package's")
    organisation_id: str = "org.example"
    # The FAIR Data Point's publisher (a foaf:Agent needs a name): empty, every document
    # of it was a 503 for as long as the node ran; past a record's bound, no dataset was
    # published.
    organisation_name: str = Field(default="Example GDI node operator", min_length=1,
                                   max_length=MAX_NAME)
    organisation_url: str | None = None
    contact_url: str = "mailto:beacon@example.org"
    db_pool_min: int = Field(default=2, ge=1, le=MAX_POOL)
    db_pool_max: int = Field(default=10, ge=1, le=MAX_POOL)
    database_replica_urls: Annotated[list[DatabaseUrl], NoDecode] = Field(
        default_factory=list,
        description="Streaming replicas of database_url (in the environment a JSON list, or "
                    "URLs separated by commas, a multi-host URL's own commas kept) "
                    "that read-only queries are sent to once they have replayed the datasets' "
                    "current versions (node/replicas.py); writes stay on the primary")
    # At least 0.05 s, as audit_flush_seconds: a nanosecond was taken, a loop reading each
    # replica without rest, and during an outage a warning at every turn (found by a review,
    # 2026-12-05)
    replica_poll_seconds: float = Field(
        default=0.5, ge=0.05, le=DAY, description="How often each replica's replay position is read; a "
                                       "replica not answering is out of rotation until it does")
    count_lanes: int = Field(
        default=2, ge=1, le=MAX_POOL, description="Pool connections that answer variant count queries in "
                                     "batches (beacon/count_batcher.py): more lets PostgreSQL "
                                     "run more of them at once, fewer makes larger batches")
    query_timeout_seconds: float = Field(
        default=5.0, gt=0, le=DAY, description="Longest any statement on the node's pool may run "
                                       "(statement_timeout), positional variant queries "
                                       "included; a query that takes longer is a 503")
    wide_query_timeout_seconds: float = Field(
        default=30.0, gt=0, le=DAY, description="Longest a wide variant query (no position, or a "
                                        "window over narrow_window_bases) may take, waiting "
                                        "for a wide lane included (beacon/workload.py)")
    wide_query_lanes: int = Field(
        default=1, ge=1, le=MAX_POOL, description="Wide variant queries running at once, each on one "
                                     "pool connection and one PostgreSQL core")
    narrow_window_bases: int = Field(
        default=1_000_000, ge=1, le=INT4_MAX, description="The widest range or bracket window still "
                                             "answered as a positional (narrow) query")
    ingest_workers: int = Field(default=0, ge=0, le=MAX_WORKERS,
                                description="0 = one per CPU core")
    workers: int = Field(
        default=0, ge=0, le=MAX_WORKERS, description="Processes `gdi-node serve` answers with on its one port, "
                                     "each with a pool of up to db_pool_max connections; 0 = "
                                     "one per CPU core, 1 = one process (no supervisor)")
    disclosure: DisclosureSettings = Field(default_factory=DisclosureSettings)
    trusted_issuers: list[TrustedIssuer] = Field(
        default_factory=list, description="Issuers whose access tokens and visas are checked; "
                                          "none = every caller is anonymous")
    hide_controlled_datasets: bool = Field(
        default=False, description="CONTROLLED datasets are invisible (not just boolean) to "
                                   "callers without a grant")
    jwks_cooldown_seconds: float = Field(default=30.0, ge=0, le=DAY)
    jwks_max_age_seconds: float = Field(default=300.0, ge=0, le=DAY)
    jwks_keep_seconds: float = Field(
        default=DAY, ge=0, le=DAY,
        description="How long an issuer's keys verify after they were last read, while its "
                    "JWKS cannot be read again (an outage); past it its tokens are answered "
                    "503 until it can, so a key withdrawn while the JWKS was unreadable "
                    "stops verifying")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$",
                                description="ISO 3166-1 alpha-2 code of the node's country")
    catalogue_url: RootUrl | None = Field(
        default=None, description="Catalogue service to register and publish with; unset = "
                                  "do not publish")
    catalogue_token: SecretStr | None = Field(
        default=None, description="This node's credential at the catalogue (shared secret)")
    peers: list[Peer] = Field(
        default_factory=list, description="Beacons that /network/api fans out to")
    peers_from_catalogue: bool = Field(
        default=False, description="Also fan out to every node the catalogue's registry lists")
    audit_flush_seconds: float = Field(
        default=1.0, ge=0.05, le=3600,
        description="How often the audit trail's waiting entries are written (and whenever "
                    "256 wait): a crash loses at most this long's entries; longer batches "
                    "fewer writes under light load (beacon/audit.py)")
    peer_timeout_seconds: float = Field(default=3.0, gt=0, le=DAY)
    network_deadline_seconds: float = Field(default=5.0, gt=0, le=DAY)
    network_requests_in_flight: int = Field(
        default=REQUESTS_IN_FLIGHT, ge=1, le=MAX_POOL,
        description="Network requests (/network/api, asking the peers) answered at once by "
                    "each process; one more waits a second for one of them to end, then is "
                    "a 503 with Retry-After. Each may hold its peers' answers, 64 MiB read, "
                    "some 6 times that parsed for honest peers' records and up to 2 GiB for "
                    "hostile ones': lower it where peers are not trusted (docs/federation.md)")
    trusted_network_addresses: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="Addresses (192.0.2.10) or networks (192.0.2.0/24) of network nodes "
                    "whose X-Beacon-Network-Caller this node honours: their anonymous "
                    "callers are budgeted and loss-accounted each on their own, not all as "
                    "the network node (comma-separated in the environment); none = the "
                    "header is ignored (docs/federation.md)")
    cors_origins: Annotated[list[Origin], NoDecode] = Field(
        default_factory=list, description="Browser origins (scheme://host[:port]) whose "
                                          "scripts may call /api and /network/api "
                                          "(comma-separated or a JSON list in the "
                                          "environment, as the catalogue's); none = no CORS "
                                          "headers")
    default_assembly: str = Field(
        default="GRCh38", description="The assembly a variant query with a position but no "
                                      "assemblyId is answered on, when neither its reference "
                                      "name nor its datasets say (GRCh38, GRCh37 or an alias)")
    api_alias_roots: list[str] = Field(
        default_factory=list, description="Further paths the Beacon API (/api) is served "
                                          "under, every endpoint, e.g. /beacon/v2.0.0 for a "
                                          "client that calls {base URL}/v2.0.0/g_variants")

    _replica_list = field_validator("database_replica_urls", mode="before")(
        _database_urls_listed)
    # comma-separated too, as the catalogue's: the node took JSON only, and refused the
    # catalogue's form of the same setting (found by a review, 2026-12-05)
    _origin_list = field_validator("cors_origins", mode="before")(_listed)
    _data_dir_given = field_validator("data_dir", mode="before")(_a_path)
    _shown = field_validator("beacon_name", "beacon_description", "beacon_version",
                             "organisation_id", "organisation_name")(_not_blank)

    @field_validator("peers")
    @classmethod
    def _one_peer_an_id(cls, value: list[Peer]) -> list[Peer]:
        """Each peer's id tags its answers and names its line in info.network.peers: of two
        under one id the network asked only the last, and the other was missing from every
        answer, as if never configured."""
        if twice := _twice([p.id for p in value]):
            raise ValueError("two peers under one id, which tags each one's answers: "
                             + ", ".join(repr(i) for i in twice))
        return value

    @field_validator("peers")
    @classmethod
    def _one_peer_a_url(cls, value: list[Peer]) -> list[Peer]:
        """One Beacon under two ids was asked twice: its datasets came twice and its count
        was added twice to the network's total, as a registry node at a configured peer's
        URL would be had the network not skipped it (node/federation/network.py). One URL
        as node/urls.py `beacon_key` decides it; refused naming the ids, never quoting a
        URL."""
        seen: dict[str, str] = {}
        for peer in value:
            where = beacon_key(peer.url)
            if where in seen:
                raise ValueError(f"peers {seen[where]!r} and {peer.id!r} are at one URL: "
                                 "the one Beacon would be asked twice and counted twice")
            seen[where] = peer.id
        return value

    @field_validator("trusted_issuers")
    @classmethod
    def _one_entry_an_issuer(cls, value: list[TrustedIssuer]) -> list[TrustedIssuer]:
        """Tokens find their issuer by `iss` (auth/issuers.py IssuerRegistry): of two entries
        for one, the last alone counted, the other's audience, visas or algorithms dropped
        without a word."""
        if twice := _twice([i.issuer for i in value]):
            raise ValueError("an issuer configured twice, of which only one would count: "
                             + ", ".join(repr(i) for i in twice))
        return value

    @field_validator("trusted_network_addresses", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        """Each entry an address or a network, named by its number and never quoted (as
        elsewhere); a network written with host bits (10.0.0.1/8) is refused rather than
        widened or narrowed: which one the operator meant, the node cannot tell."""
        entries = _listed(value)
        if not isinstance(entries, list):
            return entries                 # pydantic refuses it as not a list
        networks: list[IPv4Network | IPv6Network] = []
        for number, entry in enumerate(entries, 1):
            if isinstance(entry, IPv4Network | IPv6Network):
                networks.append(entry)
                continue
            if not isinstance(entry, str):        # pydantic words a ValueError, not a TypeError
                raise ValueError(f"entry {number} is not text: an IP address or "  # noqa: TRY004
                                 "network (192.0.2.10, 192.0.2.0/24, 2001:db8::/32)")
            try:
                networks.append(_unmapped(ipaddress.ip_network(entry.strip())))
            except ValueError as exc:
                if "host bits set" in str(exc):
                    raise ValueError(f"entry {number} has bits set past its prefix: write "
                                     "the network's own address (10.0.0.0/8, not "
                                     "10.0.0.1/8)") from None
                raise ValueError(f"entry {number} is not an IP address or network "
                                 "(192.0.2.10, 192.0.2.0/24, 2001:db8::/32)") from None
        return networks

    @field_validator("catalogue_token")
    @classmethod
    def _bearer(cls, value: SecretStr | None) -> SecretStr | None:
        """Sent as `Authorization: Bearer <token>`: an empty one was taken as set (401s,
        logged at every retry), and one with its file's newline was refused by aiohttp as
        header injection, which publishing retried for as long as the node ran."""
        if value is not None and unsendable(value.get_secret_value()):
            raise ValueError("empty, or holds white space or a control character (a file's "
                             "newline?), which no Authorization header carries")
        return value

    @field_validator("organisation_url")
    @classmethod
    def _welcome_url(cls, value: str | None) -> str | None:
        """Published as /api/info's welcomeUrl and service-info's organization.url, RFC 3986
        URLs: `example.org` went out as given, and an empty one was taken as unset."""
        return value if value is None else http_url(value)

    @field_validator("contact_url")
    @classmethod
    def _contact(cls, value: str) -> str:
        """A URL (RFC 3986) or an email as `mailto:` (RFC 2368), as /api/info and
        service-info say: a bare address went out as given, and never became the catalogue
        records' contact point, which is read from a mailto: URL."""
        if value.startswith("mailto:"):
            if not re.match(EMAIL, value.removeprefix("mailto:")):
                raise ValueError("not an email address after mailto:")
            return value
        try:
            return http_url(value)
        except ValueError:
            raise ValueError("not a mailto: or http(s) URL such as "
                             "mailto:beacon@example.org") from None

    _iso_country = field_validator("country")(assigned_country)
    _id_not_only_dots = field_validator("beacon_id")(not_only_dots)

    @field_validator("default_assembly")
    @classmethod
    def _known_assembly(cls, value: str) -> str:
        """Kept as the assembly's own id (hg19 is GRCh37), which datasets are stored under."""
        from beacon.assemblies import ASSEMBLIES, find_assembly
        assembly = find_assembly(value)
        if assembly is None:
            raise ValueError(f"not a supported assembly ({', '.join(ASSEMBLIES)} and aliases)")
        return assembly.id

    @field_validator("api_alias_roots")
    @classmethod
    def _alias_roots(cls, roots: list[str]) -> list[str]:
        """Each a path of its own: not a root the node already serves, nor below one.
        FDP_PATH's module loads rdflib (a tenth of a second), so only when there are roots."""
        if not roots:
            return roots
        from catalogue.fdp import FDP_PATH
        served = ("/api", "/network", "/health", "/ready", "/metrics", FDP_PATH)
        for number, root in enumerate(roots, 1):        # the value unquoted, as elsewhere
            if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", root):
                raise ValueError(f"root {number} is not a path like /beacon/v2.0.0 (no "
                                 "trailing /)")
            taken = next((t for t in served if f"{root}/".startswith(f"{t}/")
                          or f"{t}/".startswith(f"{root}/")), None)
            if taken is not None:
                raise ValueError(f"root {number} overlaps {taken}, which the node serves")
        if len(set(roots)) != len(roots):
            raise ValueError("a root is given twice")
        return roots

    @model_validator(mode="after")
    def _pool_within_bounds(self) -> Settings:
        _pool_bounds(self.db_pool_min, self.db_pool_max)
        return self

    @model_validator(mode="after")
    def _registry_to_read(self) -> Settings:
        """Without the catalogue's URL there is no registry to read: the network asked only
        its configured peers, and its answers said nothing of why."""
        if self.peers_from_catalogue and self.catalogue_url is None:
            raise ValueError("peers_from_catalogue needs catalogue_url, the catalogue whose "
                             "registry lists the peers")
        return self

    @model_validator(mode="after")
    def _tokens_forwarded_from_trusted_issuers(self) -> Settings:
        """A peer is passed a researcher's token only when its issuer, as verified, is in
        the peer's `forward_tokens_from`; an issuer there that is not trusted for access
        tokens here (a typo, a trailing slash) is one whose tokens never arrive verified, so
        that peer silently got none and answered every researcher as anonymous."""
        verified = {i.issuer for i in self.trusted_issuers if i.access_tokens}
        for number, peer in enumerate(self.peers):
            if unknown := [f"[{n}]" for n, i in enumerate(peer.forward_tokens_from)
                           if i not in verified]:
                raise ValueError(   # by position, never quoting a value, as elsewhere
                    f"peers[{number}].forward_tokens_from{', '.join(unknown)}: not an issuer "
                    "trusted for access tokens here (trusted_issuers, exact `iss` values), "
                    "whose tokens would never be passed on")
        return self

    @model_validator(mode="after")
    def _keys_kept_past_their_age(self) -> Settings:
        """Keys are re-read once older than jwks_max_age_seconds: kept for less, every token
        of an issuer would be refused between the two, its JWKS answering or not."""
        if self.jwks_keep_seconds < self.jwks_max_age_seconds:
            raise ValueError(f"jwks_keep_seconds ({self.jwks_keep_seconds:g}) must be at least "
                             f"jwks_max_age_seconds ({self.jwks_max_age_seconds:g})")
        return self

    @model_validator(mode="after")
    def _pool_outlasts_lanes(self) -> Settings:
        """Lanes hold their connections while counts keep coming: record queries and the
        rest need at least one more, or they would wait for the counts to stop."""
        lanes = self.count_lanes + self.wide_query_lanes
        if lanes >= self.db_pool_max:
            raise ValueError(f"count_lanes + wide_query_lanes ({lanes}) must be less than "
                             f"db_pool_max ({self.db_pool_max})")
        return self

    def disclosure_policy(self) -> DisclosurePolicy:
        from beacon.disclosure import DEFAULT_TIERS, DisclosurePolicy
        tiers = {tier: dataclasses.replace(rules, **getattr(self.disclosure, tier).model_dump(
                     exclude_none=True)) for tier, rules in DEFAULT_TIERS.items()}
        return DisclosurePolicy(tiers=tiers,
                                anonymous_discovery=self.disclosure.anonymous_discovery,
                                hide_controlled=self.hide_controlled_datasets,
                                window_seconds=self.disclosure.budget_window_seconds,
                                purpose_required=self.disclosure.purpose_required)

    def query_limits(self) -> QueryLimits:
        from beacon.workload import QueryLimits
        return QueryLimits(narrow_seconds=self.query_timeout_seconds,
                           wide_seconds=self.wide_query_timeout_seconds,
                           wide_lanes=self.wide_query_lanes,
                           narrow_window=self.narrow_window_bases)

    def beacon_identity(self) -> BeaconIdentity:
        from beacon.info import BeaconIdentity
        return BeaconIdentity(
            id=self.beacon_id, name=self.beacon_name, description=self.beacon_description,
            version=self.beacon_version, environment=self.environment,
            organisation_id=self.organisation_id, organisation_name=self.organisation_name,
            organisation_url=self.organisation_url, contact_url=self.contact_url,
            base_url=self.base_url)


class CatalogueSettings(ServiceSettings):
    """The catalogue service: its own database, identity, the nodes that may publish to it
    (catalogue/credentials.py), and how it harvests them."""

    model_config = SettingsConfigDict(env_prefix="GDI_CATALOGUE_", extra="forbid",
                                      allow_inf_nan=False)
    config_env: ClassVar[str] = CATALOGUE_CONFIG_ENV

    # No alias (as the node's, for DATABASE_URL): environment variables are read
    # case-insensitively, so a `database_url` alias took the node's DATABASE_URL as the
    # catalogue's database
    database_url: DatabaseUrl | None = Field(
        default=None,
        description="PostgreSQL URL of the catalogue's own database; unset = embedded in data_dir")
    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("gdi-catalogue"))
    port: int = Field(default=5060, ge=1, le=65535)
    title: str = "GDI federated dataset catalogue"
    description: str = "Datasets published by the nodes of a GDI federation"
    # The catalogue's FAIR Data Point's publisher: empty, or longer than an Agent's name,
    # its every document was a 503.
    publisher_name: str = Field(default="GDI catalogue operator", min_length=1,
                                max_length=MAX_NAME)
    nodes: list[NodeCredential] = Field(
        default_factory=list, description="Nodes allowed to register and publish")
    allow_internal_origins: bool = Field(
        default=False, description="In production, nodes' origins may be loopback or private "
                                   "addresses (a federation inside one private network)")
    harvest_interval_seconds: float = Field(default=300.0, ge=0, le=DAY,
                                            description="0 = no harvesting")
    harvest_timeout_seconds: float = Field(default=10.0, gt=0, le=DAY,
                                           description="Per document fetched from a node")
    harvest_max_documents: int = Field(default=1000, ge=1, le=INT4_MAX,
                                       description="Documents fetched per node per harvest")
    db_pool_min: int = Field(default=1, ge=1, le=MAX_POOL)
    db_pool_max: int = Field(default=5, ge=1, le=MAX_POOL)
    cors_origins: Annotated[list[Origin], NoDecode] = Field(
        default_factory=list,
        description="Browser origins (scheme://host[:port]) whose scripts may read the "
                    "read-only search and list endpoints (GET /api/datasets, "
                    "/api/datasets/{id}, /api/nodes), e.g. the nodes' pages; comma-separated "
                    "or a JSON list in the environment; none = no CORS headers")

    _origin_list = field_validator("cors_origins", mode="before")(_listed)
    _data_dir_given = field_validator("data_dir", mode="before")(_a_path)
    _shown = field_validator("title", "description", "publisher_name")(_not_blank)

    @field_validator("nodes")
    @classmethod
    def _unique_ids(cls, value: list[NodeCredential]) -> list[NodeCredential]:
        if twice := _twice([n.id for n in value]):
            raise ValueError(f"duplicate node ids: {twice}")
        # One secret for two nodes (one's `token`, the other's `token_sha256` of it, where the
        # configuration does not show it) let each node's token publish on the other's path,
        # its 403 gone (found by a review, 2026-12-05). Compared by digest, so never quoted.
        by_digest: dict[bytes, list[str]] = {}
        for node in value:
            by_digest.setdefault(node.digest(), []).append(node.id)
        shared = [ids for ids in by_digest.values() if len(ids) > 1]
        if shared:
            raise ValueError("nodes sharing one secret (token or token_sha256): " + "; ".join(
                " and ".join(repr(i) for i in ids) for ids in shared))
        return value

    @model_validator(mode="after")
    def _pool_within_bounds(self) -> CatalogueSettings:
        _pool_bounds(self.db_pool_min, self.db_pool_max)
        return self

    @model_validator(mode="after")
    def _walks_fit_their_interval(self) -> CatalogueSettings:
        """The interval bounds one node's walk too (HarvestConfig.deadline_seconds): shorter
        than one document may take, a node answering within its timeout was cut off every
        round, never harvested."""
        if 0 < self.harvest_interval_seconds < self.harvest_timeout_seconds:
            raise ValueError(f"harvest_interval_seconds ({self.harvest_interval_seconds:g}) "
                             "must be 0 (no scheduled harvest) or at least "
                             f"harvest_timeout_seconds ({self.harvest_timeout_seconds:g}), "
                             "how long one document may take")
        return self

    def harvest_config(self) -> HarvestConfig:
        from catalogue.harvest import HarvestConfig
        return HarvestConfig(interval_seconds=self.harvest_interval_seconds,
                             timeout_seconds=self.harvest_timeout_seconds,
                             max_documents=self.harvest_max_documents)

    def catalogue_identity(self) -> CatalogueIdentity:
        from catalogue.site import CatalogueIdentity
        return CatalogueIdentity(base_url=self.base_url, title=self.title,
                                 description=self.description,
                                 publisher_name=self.publisher_name)
