"""Where each value comes from: defaults < the TOML file < environment variables (well-known
names such as `KAFKA_BOOTSTRAP_SERVERS` or `DATABASE_URL`, then `MEDRICAL_<SECTION>__<FIELD>`)
< command-line flags. Every effective value keeps its origin, as `config show` prints it, and
every error names the setting and where it was set.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medrical.config.dsn import DSN_HINT, parse_postgres_dsn
from medrical.config.model import (
    LOCAL_STACK_FILLED,
    SECTIONS,
    MedricalConfig,
    value_at,
)
from medrical.config.paths import (
    SSL_CA_FILE,
    SSL_CERT_FILE,
    SSL_DIR_NAME,
    SSL_KEY_FILE,
    config_file_path,
    ssl_dir_for,
)
from medrical.config.secrets import is_secret_setting
from medrical.errors import ConfigError
from medrical.files import is_exposed, read_text

logger = logging.getLogger(__name__)

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

Tree = dict[str, Any]

# Origin labels: "file" (the configuration file), "file <path>" (another TOML file, such as
# `configure ssl --settings`), "env <NAME>", "flag", "default ...".
FLAG = "flag"
FILE = "file"


@dataclass(frozen=True)
class Layer:
    tree: Tree
    # Dotted setting name -> its origin label.
    origins: dict[str, str]


def leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{name}.")
        else:
            yield name, value


def labelled(tree: Tree, label: str) -> Layer:
    return Layer(tree, {name: label for name, _ in leaves(tree)})


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        elif isinstance(value, Mapping):
            merged[key] = merge({}, value)
        else:
            merged[key] = value
    return merged


def where(label: str, file_path: Path) -> str:
    """An origin label as the words of a message: "in the environment variable X"..."""
    if label == FILE:
        return f"in {file_path}"
    if label.startswith("file "):
        return f"in {label.removeprefix('file ')}"
    if label.startswith("env "):
        return f"in the environment variable {label.removeprefix('env ')}"
    if label == FLAG:
        return "on the command line"
    return "by default"


def expand_dsn(layer: Layer, describe: str) -> Layer:
    """Turn a `dsn` key of the postgres section into its fields; fields named beside it win."""
    postgres = layer.tree.get("postgres")
    if not isinstance(postgres, dict) or "dsn" not in postgres:
        return layer
    tree = merge({}, layer.tree)
    section = tree["postgres"]
    dsn = section.pop("dsn")
    origins = dict(layer.origins)
    label = origins.pop("postgres.dsn", describe)
    if not isinstance(dsn, str):
        raise ConfigError(
            f"postgres.dsn {describe} must be a string.", setting="postgres.dsn", hint=DSN_HINT
        )
    for field, value in parse_postgres_dsn(dsn, setting=f"postgres.dsn {describe}").items():
        if field not in section:
            section[field] = value
            origins[f"postgres.{field}"] = label
    return Layer(tree, origins)


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


def env_layer(environ: Mapping[str, str]) -> Layer:
    tree: Tree = {}
    origins: dict[str, str] = {}

    def put(section: str, field: str, value: Any, name: str) -> None:
        tree.setdefault(section, {})[field] = value
        for leaf, _ in leaves({section: {field: value}}):
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
    return Layer(tree, origins)


def read_config_file(path: Path, *, required: bool = False) -> Tree:
    """The raw content of a TOML configuration file; {} when it does not exist (yet)."""
    if not path.exists():
        if required:
            raise ConfigError(
                f"the configuration file {path} does not exist.",
                hint="Give an existing file to --config, or run `medrical configure` to write one.",
            )
        return {}
    text = read_text(
        path,
        what="the configuration file",
        hint="Check its permissions, or move it away and run `medrical configure` again.",
    )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the configuration file {path} is not valid TOML: {exc}.",
            hint="Fix that line, or move the file away and run `medrical configure` again.",
        ) from None


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
        expand_dsn(labelled(file_data, FILE), f"in {file_path}"),
        env_layer(env),
        expand_dsn(labelled(merge({}, overrides or {}), FLAG), "on the command line"),
    ]
    merged: Tree = {}
    sources: dict[str, str] = {}
    for layer in layers:
        merged = merge(merged, layer.tree)
        sources.update(layer.origins)
    config = validate(merged, sources, file_path)
    for setting in LOCAL_STACK_FILLED:
        if setting not in sources and value_at(config, setting) is not None:
            sources[setting] = "default (local stack)"
    _use_kept_ssl_files(config, sources, ssl_dir_for(file_path))
    check_files(config, sources, file_path)
    _warn_about_exposed_secrets(config, file_path, file_data)
    return LoadedConfig(config, sources, file_path, file_path.is_file())


def validate(tree: Tree, sources: Mapping[str, str], file_path: Path) -> MedricalConfig:
    """The model of a merged tree; an invalid value is a ConfigError naming its origin."""
    try:
        return MedricalConfig.model_validate(tree)
    except ValidationError as exc:
        raise _explain(exc, sources, file_path) from None


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
    label = _origin(setting, sources)
    place = where(label, file_path)
    if first["type"] == "extra_forbidden":
        section_model = SECTIONS.get(loc[0]) if len(loc) == 2 else None
        if section_model is not None:
            known = ", ".join(section_model.model_fields)
            hint = f"Remove it or correct its name; the [{loc[0]}] settings are: {known}."
        else:
            hint = f"Remove it or correct its name; the sections are: {', '.join(SECTIONS)}."
        return ConfigError(f"unknown setting {setting} {place}.", setting=setting, hint=hint)
    reason = first["msg"].removeprefix("Value error, ")
    reason = reason[:1].lower() + reason[1:]
    return ConfigError(
        f"invalid setting {setting} {place}: {reason}.",
        setting=setting,
        hint=_fix_hint(label, file_path),
    )


def _fix_hint(label: str, file_path: Path) -> str:
    if label.startswith("env "):
        return f"Correct or unset {label.removeprefix('env ')}."
    if label == FLAG:
        return "Correct that option."
    if label.startswith("file "):
        return f"Correct it in {label.removeprefix('file ')}."
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


def check_files(config: MedricalConfig, sources: Mapping[str, str], file_path: Path) -> None:
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
            place = where(_origin(setting, sources), file_path)
            raise ConfigError(
                f"{setting} {place} points at {path}, which {problem}.",
                setting=setting,
                hint="Give the path of a readable PEM file, or run `medrical configure ssl`.",
            )


def holds_secret(tree: Tree) -> bool:
    return any(is_secret_setting(name) for name, _ in leaves(tree))


def _warn_about_exposed_secrets(config: MedricalConfig, file_path: Path, file_data: Tree) -> None:
    secret_files: list[tuple[str, Path]] = []
    if config.kafka.uses_tls and config.kafka.ssl_key_location is not None:
        secret_files.append(("the Kafka client key", config.kafka.ssl_key_location))
    if config.postgres.password is None and config.postgres.password_file is not None:
        secret_files.append(("the PostgreSQL password file", config.postgres.password_file))
    if holds_secret(file_data):
        secret_files.append(("the configuration file", file_path))
    for what, path in secret_files:
        if is_exposed(path):
            logger.warning(
                "%s %s can be read by other users; restrict it with `chmod 600 %s`",
                what,
                path,
                path,
            )
