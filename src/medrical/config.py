"""Medrical's one typed configuration model.

Values come from, lowest precedence first: defaults (which point at the local stack started by
`medrical stack up`) < the TOML file in the user's config directory < environment variables
(`MEDRICAL_<SECTION>__<FIELD>`) < command-line flags. Secrets are `SecretStr`: masked whenever
printed, never passed to a child process on its command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

LOOPBACK = "127.0.0.1"

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def default_config_dir() -> Path:
    """Where the user's configuration lives (XDG), overridable by MEDRICAL_CONFIG_DIR."""
    explicit = os.environ.get("MEDRICAL_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "medrical"


def default_stack_home() -> Path:
    """Where the local stack keeps its data, logs and PID files (XDG data dir)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "medrical" / "stack"


def default_cache_dir() -> Path:
    """Where downloaded engines are kept; `stack reset` never touches it."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medrical"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"port {value} is outside 1-65535")
    return value


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
    java_home: Path | None = None
    kafka_heap_mb: int = 512
    connect_heap_mb: int = 512
    registry_heap_mb: int = 384

    _ports = field_validator(
        "kafka_port",
        "controller_port",
        "registry_port",
        "registry_management_port",
        "connect_port",
        "postgres_port",
    )(_check_port)

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

    def client_config(self) -> dict[str, str]:
        """librdkafka properties for confluent-kafka clients."""
        if not self.bootstrap_servers:
            raise ValueError("bootstrap_servers is not resolved")
        conf: dict[str, str] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
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
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = (
        "prefer"
    )
    sslrootcert: Path | None = None

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


def config_file_path() -> Path:
    return default_config_dir() / "config.toml"


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """`MEDRICAL_<SECTION>__<FIELD>=value` -> {"section": {"field": value}}."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("MEDRICAL_") or "__" not in name:
            continue
        section, _, field = name.removeprefix("MEDRICAL_").lower().partition("__")
        tree.setdefault(section, {})[field] = value
    return tree


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> MedricalConfig:
    """Build the effective configuration: defaults < TOML file < environment < overrides."""
    import tomllib

    from pydantic import ValidationError

    from medrical.errors import ConfigError

    env = dict(os.environ if environ is None else environ)
    file_path = path or config_file_path()
    data: dict[str, Any] = {}
    if file_path.is_file():
        try:
            data = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"cannot read the configuration file {file_path}: {exc}.",
                hint="Fix it, or run `medrical configure` to write a new one.",
            ) from exc
    elif path is not None:
        raise ConfigError(f"the configuration file {path} does not exist.")
    data = _merge(data, _env_overrides(env))
    data = _merge(data, overrides or {})
    try:
        return MedricalConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        setting = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"invalid setting {setting}: {first['msg']}.",
            setting=setting,
            hint=f"Check {setting} in {file_path} or the MEDRICAL_* environment.",
        ) from exc
