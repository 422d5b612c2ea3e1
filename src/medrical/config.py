"""Medrical's one typed configuration model.

Values come from, lowest precedence first: defaults (which point at the local stack started by
`medrical stack up`) < the TOML file in the user's config directory < environment variables
(well-known names such as `KAFKA_BOOTSTRAP_SERVERS` or `DATABASE_URL`, then
`MEDRICAL_<SECTION>__<FIELD>`) < command-line flags. Secrets are `SecretStr`: masked whenever
printed, never passed to a child process on its command line. Files holding secrets are written
0600, atomically.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from medrical.errors import ConfigError

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MASK = "********"

# The file names Aiven hands out for a Kafka service; `medrical configure ssl` copies the three
# files under these names into the config directory's `ssl/`.
SSL_DIR_NAME = "ssl"
SSL_CA_FILE = "ca.pem"
SSL_CERT_FILE = "service.cert"
SSL_KEY_FILE = "service.key"

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


def default_config_dir() -> Path:
    """Where the user's configuration lives (XDG), overridable by MEDRICAL_CONFIG_DIR."""
    explicit = os.environ.get("MEDRICAL_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "medrical"


def default_stack_home() -> Path:
    """Where the local stack keeps its data, logs and PID files (XDG data dir).

    PostgreSQL refuses to run as root and root's home is closed to other users, so a stack
    run by root keeps its data under /var/lib, where the postgres user can reach it.
    """
    base = os.environ.get("XDG_DATA_HOME")
    if not base and os.geteuid() == 0:
        return Path("/var/lib/medrical/stack")
    base = base or str(Path.home() / ".local" / "share")
    return Path(base) / "medrical" / "stack"


def default_cache_dir() -> Path:
    """Where downloaded engines are kept; `stack reset` never touches it."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medrical"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="after")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        # A TOML file or an environment variable holds "~/certs/ca.pem" literally.
        if isinstance(value, Path):
            return value.expanduser()
        return value


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"port {value} is outside 1-65535")
    return value


def _check_optional_port(value: int | None) -> int | None:
    return None if value is None else _check_port(value)


# Every port setting of the local stack, by field name.
STACK_PORT_FIELDS = (
    "kafka_port",
    "controller_port",
    "registry_port",
    "registry_management_port",
    "connect_port",
    "postgres_port",
    "kafka_sasl_port",
)


class StackSettings(_Section):
    """The local stack: where it lives and which loopback ports it serves on.

    Defaults keep clear of the well-known ports (5432, 8081, 8083, 9092) a developer's own
    services may already hold.
    """

    home: Path = Field(default_factory=default_stack_home)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    kafka_port: int = 19092
    controller_port: int = 19093
    registry_port: int = 18081
    registry_management_port: int = 18082
    connect_port: int = 18083
    postgres_port: int = 15432
    # `medrical stack up --tls`: mutual TLS on kafka_port, SASL_SSL (SCRAM-SHA-512) on
    # kafka_sasl_port, HTTPS with basic auth for the registry, SSL-only PostgreSQL.
    tls: bool = False
    kafka_sasl_port: int = 19094
    java_home: Path | None = None
    kafka_heap_mb: int = 512
    connect_heap_mb: int = 512
    registry_heap_mb: int = 384

    _ports = field_validator(*STACK_PORT_FIELDS)(_check_port)

    @property
    def postgres_password_file(self) -> Path:
        return self.home / "secrets" / "postgres.password"

    @property
    def connect_secrets_file(self) -> Path:
        """A properties file read by Connect's FileConfigProvider, so stored connector
        configurations refer to the database password instead of holding it."""
        return self.home / "secrets" / "connect-secrets.properties"


class KafkaSettings(_Section):
    bootstrap_servers: str | None = None
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_endpoint_identification: bool = True
    # librdkafka properties passed through unchanged, e.g. {"linger.ms": "20"}.
    extra: dict[str, str] = Field(default_factory=dict)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def client_config(self) -> dict[str, str]:
        """librdkafka properties for confluent-kafka clients."""
        if not self.bootstrap_servers:
            raise ValueError("bootstrap_servers is not resolved")
        conf: dict[str, str] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.uses_tls:
            if self.ssl_ca_location:
                conf["ssl.ca.location"] = str(self.ssl_ca_location)
            if self.ssl_certificate_location:
                conf["ssl.certificate.location"] = str(self.ssl_certificate_location)
            if self.ssl_key_location:
                conf["ssl.key.location"] = str(self.ssl_key_location)
            if self.ssl_key_password:
                conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
            conf["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_endpoint_identification else "none"
            )
        if self.security_protocol.startswith("SASL"):
            conf["sasl.mechanism"] = self.sasl_mechanism or "PLAIN"
            if self.sasl_username:
                conf["sasl.username"] = self.sasl_username
            if self.sasl_password:
                conf["sasl.password"] = self.sasl_password.get_secret_value()
        conf.update(self.extra)
        return conf


class RegistrySettings(_Section):
    url: str | None = None
    basic_auth_user_info: SecretStr | None = None
    ssl_ca_location: Path | None = None

    def client_config(self) -> dict[str, Any]:
        """Configuration for confluent-kafka's SchemaRegistryClient."""
        if not self.url:
            raise ValueError("url is not resolved")
        conf: dict[str, Any] = {"url": self.url}
        if self.basic_auth_user_info:
            conf["basic.auth.user.info"] = self.basic_auth_user_info.get_secret_value()
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = str(self.ssl_ca_location)
        return conf


class ConnectSettings(_Section):
    url: str | None = None
    basic_auth_user_info: SecretStr | None = None
    ssl_ca_location: Path | None = None


class PostgresSettings(_Section):
    host: str = LOOPBACK
    port: int | None = None
    database: str = "medrical"
    user: str = "medrical"
    password: SecretStr | None = None
    # Read the password from this file when `password` is not set (the local stack's way).
    password_file: Path | None = None
    sslmode: SslMode = "prefer"
    sslrootcert: Path | None = None

    _port = field_validator("port")(_check_optional_port)

    def resolved_password(self) -> str | None:
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None and self.password_file.is_file():
            return self.password_file.read_text(encoding="utf-8").strip()
        return None

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for psycopg.connect (the password never lands in a DSN string)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "user": self.user,
            "sslmode": self.sslmode,
            "connect_timeout": 10,
        }
        password = self.resolved_password()
        if password is not None:
            kwargs["password"] = password
        if self.sslrootcert:
            kwargs["sslrootcert"] = str(self.sslrootcert)
        return kwargs

    def jdbc_url(self) -> str:
        url = f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"
        if self.sslmode != "prefer":
            url += f"?sslmode={self.sslmode}"
            if self.sslrootcert and self.sslmode in ("verify-ca", "verify-full"):
                # The JDBC driver otherwise looks for ~/.postgresql/root.crt of Connect's user.
                url += f"&sslrootcert={self.sslrootcert}"
        return url


class MedricalConfig(_Section):
    """Everything Medrical needs to reach Kafka, the registry, Connect and PostgreSQL."""

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    connect: ConnectSettings = Field(default_factory=ConnectSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    stack: StackSettings = Field(default_factory=StackSettings)

    @model_validator(mode="after")
    def _point_unset_services_at_local_stack(self) -> MedricalConfig:
        stack = self.stack
        if not self.kafka.bootstrap_servers:
            self.kafka.bootstrap_servers = f"{LOOPBACK}:{stack.kafka_port}"
        if not self.registry.url:
            self.registry.url = f"http://{LOOPBACK}:{stack.registry_port}/apis/ccompat/v7"
        if not self.connect.url:
            self.connect.url = f"http://{LOOPBACK}:{stack.connect_port}"
        if self.postgres.port is None:
            self.postgres.port = stack.postgres_port
        if (
            self.postgres.password is None
            and self.postgres.password_file is None
            and self.uses_local_postgres
        ):
            self.postgres.password_file = stack.postgres_password_file
        return self

    @property
    def uses_local_postgres(self) -> bool:
        return self.postgres.host in (LOOPBACK, "localhost") and (
            self.postgres.port == self.stack.postgres_port
        )


_SECTIONS: dict[str, type[_Section]] = {
    "kafka": KafkaSettings,
    "registry": RegistrySettings,
    "connect": ConnectSettings,
    "postgres": PostgresSettings,
    "stack": StackSettings,
}

# Settings the after-validator fills from the local stack when nothing else set them.
_LOCAL_STACK_FILLED = (
    "kafka.bootstrap_servers",
    "registry.url",
    "connect.url",
    "postgres.port",
    "postgres.password_file",
)

# Names other Kafka, registry and Connect tools already use; they rank below the explicit
# MEDRICAL_<SECTION>__<FIELD> form. libpq's PG* variables are deliberately not read: many
# shells set PGUSER or PGDATABASE for other work, which would silently redirect Medrical.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "KAFKA_BOOTSTRAP_SERVERS": ("kafka", "bootstrap_servers"),
    "KAFKA_SECURITY_PROTOCOL": ("kafka", "security_protocol"),
    "KAFKA_SASL_MECHANISM": ("kafka", "sasl_mechanism"),
    "KAFKA_SASL_USERNAME": ("kafka", "sasl_username"),
    "KAFKA_SASL_PASSWORD": ("kafka", "sasl_password"),
    "KAFKA_SSL_CA_LOCATION": ("kafka", "ssl_ca_location"),
    "KAFKA_SSL_CERTIFICATE_LOCATION": ("kafka", "ssl_certificate_location"),
    "KAFKA_SSL_KEY_LOCATION": ("kafka", "ssl_key_location"),
    "KAFKA_SSL_KEY_PASSWORD": ("kafka", "ssl_key_password"),
    "SCHEMA_REGISTRY_URL": ("registry", "url"),
    "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": ("registry", "basic_auth_user_info"),
    "SCHEMA_REGISTRY_SSL_CA_LOCATION": ("registry", "ssl_ca_location"),
    "KAFKA_CONNECT_URL": ("connect", "url"),
    "KAFKA_CONNECT_BASIC_AUTH_USER_INFO": ("connect", "basic_auth_user_info"),
    "KAFKA_CONNECT_SSL_CA_LOCATION": ("connect", "ssl_ca_location"),
}
DATABASE_URL_ENV = "DATABASE_URL"
ENV_PREFIX = "MEDRICAL_"


def config_file_path() -> Path:
    return default_config_dir() / "config.toml"


def ssl_dir_for(config_file: Path) -> Path:
    """The `ssl/` directory next to a configuration file, where the Aiven files are kept."""
    return config_file.parent / SSL_DIR_NAME


# --- PostgreSQL connection strings -------------------------------------------------------------

_DSN_FIELDS = {
    "host": "host",
    "port": "port",
    "dbname": "database",
    "user": "user",
    "password": "password",
    "sslmode": "sslmode",
    "sslrootcert": "sslrootcert",
}
_DSN_HINT = "Use the form postgresql://USER:PASSWORD@HOST:5432/DATABASE?sslmode=require."


class _DsnError(ValueError):
    pass


def parse_postgres_dsn(dsn: str, *, setting: str = "postgres.dsn") -> dict[str, Any]:
    """Split a PostgreSQL URL or `key=value` string into `PostgresSettings` fields.

    The error never quotes the string itself: it may hold a password.
    """
    text = dsn.strip()
    try:
        fields = _parse_postgres_url(text) if "://" in text else _parse_keyword_dsn(text)
        if not fields:
            raise _DsnError("it names no host, database or user")
    except _DsnError as exc:
        raise ConfigError(
            f"{setting} is not a valid PostgreSQL connection string: {exc}.",
            setting=setting,
            hint=_DSN_HINT,
        ) from None
    if "host" in fields and "port" not in fields:
        # libpq's own default; without it the local stack's port would be applied to a remote host.
        fields["port"] = 5432
    return fields


def _parse_postgres_url(text: str) -> dict[str, Any]:
    parts = urlsplit(text)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme not in ("postgres", "postgresql"):
        raise _DsnError(f"the scheme is {parts.scheme!r}, not postgresql")
    fields: dict[str, Any] = {}
    if parts.hostname:
        fields["host"] = unquote(parts.hostname)
    try:
        port = parts.port
    except ValueError:
        raise _DsnError("the port is not a number between 0 and 65535") from None
    if port is not None:
        fields["port"] = port
    if parts.username:
        fields["user"] = unquote(parts.username)
    if parts.password:
        fields["password"] = unquote(parts.password)
    database = unquote(parts.path.lstrip("/"))
    if database:
        fields["database"] = database
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        _put_dsn_field(fields, key, value)
    return fields


def _parse_keyword_dsn(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    position = 0
    length = len(text)
    while position < length:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            break
        equals = text.find("=", position)
        if equals < 0:
            raise _DsnError("a keyword is missing its '=value'")
        key = text[position:equals].strip()
        position = equals + 1
        while position < length and text[position] == " ":
            position += 1
        value_chars: list[str] = []
        if position < length and text[position] == "'":
            position += 1
            while True:
                if position >= length:
                    raise _DsnError(f"the quoted value of {key!r} is not closed")
                char = text[position]
                if char == "\\" and position + 1 < length:
                    value_chars.append(text[position + 1])
                    position += 2
                    continue
                position += 1
                if char == "'":
                    break
                value_chars.append(char)
        else:
            while position < length and not text[position].isspace():
                value_chars.append(text[position])
                position += 1
        _put_dsn_field(fields, key, "".join(value_chars))
    return fields


def _put_dsn_field(fields: dict[str, Any], key: str, value: str) -> None:
    name = _DSN_FIELDS.get(key)
    if name is None:
        # Not an error: libpq accepts many more keywords than Medrical's model holds.
        logger.warning(
            "ignoring the PostgreSQL connection parameter %r, Medrical does not use it", key
        )
        return
    if name == "port":
        if not value.isdigit():
            raise _DsnError("the port is not a number")
        fields[name] = int(value)
    else:
        fields[name] = value


# --- Layers and where each value came from -----------------------------------------------------

Tree = dict[str, Any]


@dataclass(frozen=True)
class _Layer:
    tree: Tree
    # Dotted setting name -> a label such as "file", "flag" or "env KAFKA_BOOTSTRAP_SERVERS".
    origins: dict[str, str]


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, f"{name}.")
        else:
            yield name, value


def _labelled(tree: Tree, label: str) -> _Layer:
    return _Layer(tree, {name: label for name, _ in _leaves(tree)})


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        elif isinstance(value, Mapping):
            merged[key] = _merge({}, value)
        else:
            merged[key] = value
    return merged


def _expand_dsn(layer: _Layer, describe: str) -> _Layer:
    """Turn a `dsn` key of the postgres section into its fields; fields named beside it win."""
    postgres = layer.tree.get("postgres")
    if not isinstance(postgres, dict) or "dsn" not in postgres:
        return layer
    tree = _merge({}, layer.tree)
    section = tree["postgres"]
    dsn = section.pop("dsn")
    origins = dict(layer.origins)
    label = origins.pop("postgres.dsn", describe)
    if not isinstance(dsn, str):
        raise ConfigError(
            f"postgres.dsn {describe} must be a string.", setting="postgres.dsn", hint=_DSN_HINT
        )
    for field, value in parse_postgres_dsn(dsn, setting=f"postgres.dsn {describe}").items():
        if field not in section:
            section[field] = value
            origins[f"postgres.{field}"] = label
    return _Layer(tree, origins)


def _parse_extra(value: str, name: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ConfigError(
            f"{name} is not a JSON object of librdkafka properties.",
            setting="kafka.extra",
            hint=f'Set it like {name}=\'{{"linger.ms": "20"}}\'.',
        )
    return {str(key): str(item) for key, item in parsed.items()}


def _env_layer(environ: Mapping[str, str]) -> _Layer:
    tree: Tree = {}
    origins: dict[str, str] = {}

    def put(section: str, field: str, value: Any, name: str) -> None:
        tree.setdefault(section, {})[field] = value
        for leaf, _ in _leaves({section: {field: value}}):
            origins[leaf] = f"env {name}"

    database_url = environ.get(DATABASE_URL_ENV)
    if database_url:
        for field, value in parse_postgres_dsn(database_url, setting=DATABASE_URL_ENV).items():
            put("postgres", field, value, DATABASE_URL_ENV)
    for name, (section, field) in ENV_ALIASES.items():
        value = environ.get(name)
        if value:
            put(section, field, value, name)
    for name in sorted(environ):
        value = environ[name]
        if not name.startswith(ENV_PREFIX) or "__" not in name or not value:
            continue
        section, _, field = name.removeprefix(ENV_PREFIX).lower().partition("__")
        if (section, field) == ("postgres", "dsn"):
            for dsn_field, dsn_value in parse_postgres_dsn(value, setting=name).items():
                put("postgres", dsn_field, dsn_value, name)
        elif (section, field) == ("kafka", "extra"):
            put(section, field, _parse_extra(value, name), name)
        else:
            put(section, field, value, name)
    return _Layer(tree, origins)


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """Every setting the environment gives, as {"section": {"field": value}}."""
    return _env_layer(environ).tree


def read_config_file(path: Path, *, required: bool = False) -> Tree:
    """The raw content of a TOML configuration file; {} when it does not exist (yet)."""
    if not path.exists():
        if required:
            raise ConfigError(
                f"the configuration file {path} does not exist.",
                hint="Give an existing file to --config, or run `medrical configure` to write one.",
            )
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"cannot read the configuration file {path}: {reason}.",
            hint="Check its permissions, or move it away and run `medrical configure` again.",
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the configuration file {path} is not valid TOML: {exc}.",
            hint="Fix that line, or move the file away and run `medrical configure` again.",
        ) from None


# --- Loading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedConfig:
    """The effective configuration and, for every setting, where its value came from."""

    config: MedricalConfig
    sources: dict[str, str]
    file_path: Path
    file_exists: bool

    def source_of(self, setting: str) -> str:
        return self.sources.get(setting, "default")


def load_config(
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> MedricalConfig:
    """Build the effective configuration: defaults < TOML file < environment < overrides."""
    return load_config_with_sources(path, overrides, environ).config


def load_config_with_sources(
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    must_exist: bool | None = None,
) -> LoadedConfig:
    """Like `load_config`, also recording where each effective value came from.

    A file named explicitly must exist unless `must_exist` is False (as for the file
    `medrical configure` is about to write).
    """
    env = os.environ if environ is None else environ
    file_path = path or config_file_path()
    required = path is not None if must_exist is None else must_exist
    file_data = read_config_file(file_path, required=required)
    layers = [
        _expand_dsn(_labelled(file_data, "file"), f"in {file_path}"),
        _env_layer(env),
        _expand_dsn(_labelled(_merge({}, overrides or {}), "flag"), "on the command line"),
    ]
    merged: Tree = {}
    sources: dict[str, str] = {}
    for layer in layers:
        merged = _merge(merged, layer.tree)
        sources.update(layer.origins)
    try:
        config = MedricalConfig.model_validate(merged)
    except ValidationError as exc:
        raise _explain(exc, sources, file_path) from None
    for setting in _LOCAL_STACK_FILLED:
        if setting not in sources and _value_at(config, setting) is not None:
            sources[setting] = "default (local stack)"
    _use_kept_ssl_files(config, sources, ssl_dir_for(file_path))
    _check_files(config, sources, file_path)
    _warn_about_exposed_secrets(config, file_path, file_data)
    return LoadedConfig(config, sources, file_path, file_path.is_file())


def _value_at(config: MedricalConfig, setting: str) -> Any:
    section, _, field = setting.partition(".")
    return getattr(getattr(config, section), field)


def _use_kept_ssl_files(config: MedricalConfig, sources: dict[str, str], ssl_dir: Path) -> None:
    kafka = config.kafka
    if not kafka.uses_tls:
        return
    wanted = [("ssl_ca_location", SSL_CA_FILE)]
    if kafka.security_protocol == "SSL":
        # Client certificates authenticate SSL listeners; SASL_SSL authenticates by password.
        wanted += [("ssl_certificate_location", SSL_CERT_FILE), ("ssl_key_location", SSL_KEY_FILE)]
    for field, filename in wanted:
        candidate = ssl_dir / filename
        if getattr(kafka, field) is None and candidate.is_file():
            setattr(kafka, field, candidate)
            sources[f"kafka.{field}"] = f"default ({SSL_DIR_NAME}/ in the config directory)"


def _where(label: str, file_path: Path) -> str:
    if label == "file":
        return f"in {file_path}"
    if label.startswith("env "):
        return f"in the environment variable {label.removeprefix('env ')}"
    if label == "flag":
        return "on the command line"
    return "by default"


def _origin(setting: str, sources: Mapping[str, str]) -> str:
    if setting in sources:
        return sources[setting]
    for name, label in sources.items():
        if name.startswith(f"{setting}."):
            return label
    return "default"


def _explain(exc: ValidationError, sources: Mapping[str, str], file_path: Path) -> ConfigError:
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    setting = ".".join(loc)
    where = _where(_origin(setting, sources), file_path)
    if first["type"] == "extra_forbidden":
        section_model = _SECTIONS.get(loc[0]) if len(loc) == 2 else None
        if section_model is not None:
            known = ", ".join(section_model.model_fields)
            hint = f"Remove it or correct its name; the [{loc[0]}] settings are: {known}."
        else:
            hint = f"Remove it or correct its name; the sections are: {', '.join(_SECTIONS)}."
        return ConfigError(f"unknown setting {setting} {where}.", setting=setting, hint=hint)
    reason = first["msg"].removeprefix("Value error, ")
    reason = reason[:1].lower() + reason[1:]
    return ConfigError(
        f"invalid setting {setting} {where}: {reason}.",
        setting=setting,
        hint=_fix_hint(_origin(setting, sources), file_path),
    )


def _fix_hint(label: str, file_path: Path) -> str:
    if label.startswith("env "):
        return f"Correct or unset {label.removeprefix('env ')}."
    if label == "flag":
        return "Correct that option."
    return f"Correct it in {file_path}, or run `medrical configure`."


def _file_settings(config: MedricalConfig) -> Iterator[tuple[str, Path]]:
    kafka = config.kafka
    if kafka.uses_tls:
        for field in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
            path = getattr(kafka, field)
            if path is not None:
                yield f"kafka.{field}", path
    if config.registry.ssl_ca_location is not None:
        yield "registry.ssl_ca_location", config.registry.ssl_ca_location
    if config.connect.ssl_ca_location is not None:
        yield "connect.ssl_ca_location", config.connect.ssl_ca_location
    if config.postgres.sslrootcert is not None:
        yield "postgres.sslrootcert", config.postgres.sslrootcert


def _check_files(config: MedricalConfig, sources: Mapping[str, str], file_path: Path) -> None:
    """A certificate or key path that cannot be read fails now, naming the setting, rather than
    later as an obscure TLS error inside a client library."""
    for setting, path in _file_settings(config):
        problem = None
        if not path.exists():
            problem = "does not exist"
        elif not path.is_file():
            problem = "is not a file"
        elif not os.access(path, os.R_OK):
            problem = "cannot be read by this user"
        if problem:
            where = _where(_origin(setting, sources), file_path)
            raise ConfigError(
                f"{setting} {where} points at {path}, which {problem}.",
                setting=setting,
                hint="Give the path of a readable PEM file, or run `medrical configure ssl`.",
            )


def _exposed(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def _warn_about_exposed_secrets(config: MedricalConfig, file_path: Path, file_data: Tree) -> None:
    secret_files: list[tuple[str, Path]] = []
    if config.kafka.uses_tls and config.kafka.ssl_key_location is not None:
        secret_files.append(("the Kafka client key", config.kafka.ssl_key_location))
    if config.postgres.password is None and config.postgres.password_file is not None:
        secret_files.append(("the PostgreSQL password file", config.postgres.password_file))
    if _holds_secret(file_data):
        secret_files.append(("the configuration file", file_path))
    for what, path in secret_files:
        if _exposed(path):
            logger.warning(
                "%s %s can be read by other users; restrict it with `chmod 600 %s`",
                what,
                path,
                path,
            )


_SECRET_FIELDS = {
    "kafka.sasl_password",
    "kafka.ssl_key_password",
    "registry.basic_auth_user_info",
    "connect.basic_auth_user_info",
    "postgres.password",
    "postgres.dsn",
}
_SECRET_WORDS = ("password", "secret", "token", "credential", "jaas", "pem", "user.info")


def is_secret_setting(setting: str) -> bool:
    """Whether a dotted setting name holds a secret (including librdkafka pass-through ones)."""
    if setting in _SECRET_FIELDS:
        return True
    if setting.startswith("kafka.extra."):
        return any(word in setting.lower() for word in _SECRET_WORDS)
    return False


def _holds_secret(tree: Tree) -> bool:
    return any(is_secret_setting(name) for name, _ in _leaves(tree))


# --- Showing -----------------------------------------------------------------------------------

DisplayValue = str | int | bool | None


@dataclass(frozen=True)
class SettingView:
    """One effective setting as it may be shown: secrets already masked."""

    name: str
    value: DisplayValue
    source: str
    secret: bool


def mask_url(url: str) -> str:
    """The URL with the password of any `user:password@` part replaced by the mask."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))


def _display(setting: str, value: Any) -> DisplayValue:
    if value is None:
        return None
    if isinstance(value, SecretStr) or is_secret_setting(setting):
        return MASK
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bool | int):
        return value
    text = str(value)
    return mask_url(text) if "://" in text else text


def describe_config(loaded: LoadedConfig) -> list[SettingView]:
    """Every effective setting, secrets masked, with where its value came from."""
    views: list[SettingView] = []
    for section_name in _SECTIONS:
        section = getattr(loaded.config, section_name)
        for field in type(section).model_fields:
            setting = f"{section_name}.{field}"
            value = getattr(section, field)
            if isinstance(value, dict):
                for key in sorted(value):
                    name = f"{setting}.{key}"
                    views.append(
                        SettingView(
                            name,
                            _display(name, value[key]),
                            loaded.source_of(name),
                            is_secret_setting(name),
                        )
                    )
                continue
            views.append(
                SettingView(
                    setting,
                    _display(setting, value),
                    loaded.source_of(setting),
                    is_secret_setting(setting),
                )
            )
    return views


# --- Writing -----------------------------------------------------------------------------------


def atomic_write(path: Path, content: bytes, mode: int = 0o600) -> None:
    """Write a file so that readers see the old or the new content, never half of it, and so
    that a secret is never readable by others, not even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _toml_key(key: str) -> str:
    if key and set(key) <= _BARE_KEY:
        return key
    return _toml_string(key)


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
    escapes["\r"] = "\\r"
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return _toml_string(value.get_secret_value())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _toml_string(str(value))


def render_toml(data: Mapping[str, Any]) -> str:
    """TOML for Medrical's shape of configuration: sections of scalars and nested tables."""
    lines: list[str] = []

    def table(name: str, content: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in content.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in content.items() if isinstance(v, Mapping)]
        if name and (scalars or not tables):
            if lines:
                lines.append("")
            lines.append(f"[{name}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars if v is not None)
        for key, value in tables:
            table(f"{name}.{_toml_key(key)}" if name else _toml_key(key), value)

    table("", data)
    return "\n".join(lines) + "\n"


def _without_none(tree: Mapping[str, Any]) -> Tree:
    cleaned: Tree = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            inner = _without_none(value)
            if inner:
                cleaned[key] = inner
        elif value is not None:
            cleaned[key] = value
    return cleaned


def save_settings(changes: Mapping[str, Any], path: Path | None = None) -> Path:
    """Merge settings into the configuration file, validate the result, write it 0600.

    A value of None removes that setting from the file, so its default applies again.
    """
    file_path = path or config_file_path()
    current = read_config_file(file_path)
    updated = _without_none(_merge(current, changes))
    sources = {name: "file" for name, _ in _leaves(current)}
    sources.update({name: "flag" for name, _ in _leaves(changes)})
    checked = _expand_dsn(_Layer(updated, dict(sources)), f"in {file_path}")
    try:
        config = MedricalConfig.model_validate(checked.tree)
    except ValidationError as exc:
        raise _explain(exc, sources, file_path) from None
    _check_files(config, sources, file_path)
    atomic_write(file_path, render_toml(updated).encode("utf-8"))
    return file_path


def install_ssl_files(ca: Path, cert: Path, key: Path, ssl_dir: Path) -> dict[str, Path]:
    """Copy the Aiven trio into `ssl_dir` under its usual names, each 0600.

    Returns the new paths by setting name (`ssl_ca_location`...). Every source is read and
    checked before anything is written, so a bad argument leaves the old files in place.
    """
    wanted = [
        ("ssl_ca_location", ca, SSL_CA_FILE, "the CA certificate (--ca)"),
        ("ssl_certificate_location", cert, SSL_CERT_FILE, "the client certificate (--cert)"),
        ("ssl_key_location", key, SSL_KEY_FILE, "the client key (--key)"),
    ]
    contents: list[tuple[str, Path, bytes]] = []
    for field, source, filename, what in wanted:
        try:
            data = source.expanduser().read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {what} {source}: {exc.strerror or exc}.",
                setting=f"kafka.{field}",
                hint="Give the path of the file your Kafka provider handed out.",
            ) from None
        if b"-----BEGIN " not in data:
            raise ConfigError(
                f"{what} {source} is not a PEM file.",
                setting=f"kafka.{field}",
                hint=f"Give the {filename} file your Kafka provider handed out.",
            )
        contents.append((field, ssl_dir / filename, data))
    ssl_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    installed: dict[str, Path] = {}
    for field, target, data in contents:
        atomic_write(target, data, mode=0o600)
        installed[field] = target
    return installed
