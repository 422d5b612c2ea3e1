"""Medrical's one typed configuration model: what each setting is and what it may hold.

Where values come from is `sources`; how they are shown is `display`; how they are saved is
`store`. Secrets are `SecretStr`: masked whenever printed, never passed to a child process on
its command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from medrical.config.paths import default_cache_dir, default_stack_home

LOOPBACK = "127.0.0.1"

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode reads `port = true` as 1; a boolean is never a number here.
    if isinstance(value, bool):
        raise ValueError("a number is expected, not true or false")
    return value


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"port {value} is outside 1-65535")
    return value


def _check_heap(value: int) -> int:
    if value < 64:
        raise ValueError(f"{value} MiB is too small: a heap needs at least 64 MiB")
    return value


def _check_service_url(value: str | None) -> str | None:
    """An http(s) URL with a host; the error never quotes the URL, it may hold a password."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        reason = "its IPv6 address lacks a bracket" if "IPv6" in str(exc) else "its port is bad"
        raise ValueError(f"it is not a valid URL ({reason})") from None
    if parts.scheme not in ("http", "https", "mock"):
        raise ValueError("it must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("it names no host")
    return value


Port = Annotated[int, BeforeValidator(_no_bool), AfterValidator(_check_port)]
HeapMb = Annotated[int, BeforeValidator(_no_bool), AfterValidator(_check_heap)]
ServiceUrl = Annotated[str | None, AfterValidator(_check_service_url)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="after")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        # A TOML file or an environment variable holds "~/certs/ca.pem" literally.
        if isinstance(value, Path):
            return value.expanduser()
        return value


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
# The ports of the second and third Kafka node (`medrical stack up --brokers 3`); unset, each is
# KAFKA_NODE_PORT_STEP above the same port of the node before it (19102, 19112, ...).
STACK_NODE_PORT_FIELDS = (
    "kafka_2_port",
    "kafka_3_port",
    "controller_2_port",
    "controller_3_port",
    "kafka_sasl_2_port",
    "kafka_sasl_3_port",
    # The Prometheus JMX exporters; unset, each follows its engine's port (see below).
    "kafka_metrics_port",
    "connect_metrics_port",
)
KAFKA_NODE_PORT_STEP = 10
KAFKA_METRICS_PORT_SHIFT = 3
CONNECT_METRICS_PORT_SHIFT = 1
STACK_BROKER_COUNTS = (1, 3)
# Where the stack records how many Kafka nodes its data was formatted for, under stack.home.
KAFKA_BROKERS_FILE = Path("data") / "kafka-brokers"

KafkaPortKind = Literal["kafka", "controller", "kafka_sasl"]


class StackSettings(Section):
    """The local stack: where it lives and which loopback ports it serves on.

    Defaults keep clear of the well-known ports (5432, 8081, 8083, 9092) a developer's own
    services may already hold.
    """

    home: Path = Field(default_factory=default_stack_home)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    kafka_port: Port = 19092
    controller_port: Port = 19093
    registry_port: Port = 18081
    registry_management_port: Port = 18082
    connect_port: Port = 18083
    postgres_port: Port = 15432
    # `medrical stack up --tls`: mutual TLS on kafka_port, SASL_SSL (SCRAM-SHA-512) on
    # kafka_sasl_port, HTTPS with basic auth for the registry, SSL-only PostgreSQL.
    tls: bool = False
    kafka_sasl_port: Port = 19094
    # `medrical stack up --brokers 3`: three KRaft nodes, each broker and controller, with
    # replication factor 3 and min.insync.replicas 2. A stack keeps the count its data was
    # made with until `medrical stack reset`.
    brokers: int = 1
    kafka_2_port: Port | None = None
    kafka_3_port: Port | None = None
    controller_2_port: Port | None = None
    controller_3_port: Port | None = None
    kafka_sasl_2_port: Port | None = None
    kafka_sasl_3_port: Port | None = None
    # Prometheus metrics of the engines (the JMX exporter agent in Kafka's and Connect's JVMs).
    # Unset, each node's is its Kafka port + 3 (19095, 19105, 19115) and Connect's its REST
    # port + 1 (18084), so that a stack whose ports are moved takes its metrics along.
    kafka_metrics_port: Port | None = None
    connect_metrics_port: Port | None = None
    java_home: Path | None = None
    kafka_heap_mb: HeapMb = 512
    connect_heap_mb: HeapMb = 512
    registry_heap_mb: HeapMb = 384

    @field_validator("brokers", mode="before")
    @classmethod
    def _check_brokers(cls, value: Any) -> Any:
        _no_bool(value)
        if str(value).strip() not in {str(count) for count in STACK_BROKER_COUNTS}:
            raise ValueError(f"the local stack runs 1 or 3 brokers, not {value}")
        return int(value)

    @property
    def recorded_brokers(self) -> int | None:
        """How many Kafka nodes the stack's data was made with; None before its first start."""
        try:
            return int((self.home / KAFKA_BROKERS_FILE).read_text(encoding="ascii"))
        except (OSError, ValueError):
            # A stack made before the count was recorded ran one node.
            return 1 if (self.home / "data" / "kafka" / "meta.properties").exists() else None

    @property
    def broker_count(self) -> int:
        """The brokers of this stack: as its data was made, else as the setting asks."""
        return self.recorded_brokers or self.brokers

    @staticmethod
    def node_port_setting(kind: KafkaPortKind, node: int) -> str:
        return f"{kind}_port" if node == 1 else f"{kind}_{node}_port"

    def node_port(self, kind: KafkaPortKind, node: int) -> int:
        """A port of Kafka node `node` (1-3): its own setting, else the scheme's."""
        chosen = getattr(self, self.node_port_setting(kind, node))
        if chosen is not None:
            return int(chosen)
        base: int = getattr(self, f"{kind}_port")
        return base + KAFKA_NODE_PORT_STEP * (node - 1)

    def kafka_metrics_port_of(self, node: int) -> int:
        """Where node `node` (1-3) serves its Prometheus metrics."""
        if self.kafka_metrics_port is not None:
            return self.kafka_metrics_port + KAFKA_NODE_PORT_STEP * (node - 1)
        return self.node_port("kafka", node) + KAFKA_METRICS_PORT_SHIFT

    @property
    def connect_metrics(self) -> int:
        """Where Kafka Connect serves its Prometheus metrics."""
        if self.connect_metrics_port is not None:
            return self.connect_metrics_port
        return self.connect_port + CONNECT_METRICS_PORT_SHIFT

    def bootstrap_servers(self, kind: KafkaPortKind = "kafka") -> str:
        """Every node's address: a client still finds the cluster when one node is down."""
        return ",".join(
            f"{LOOPBACK}:{self.node_port(kind, node)}" for node in range(1, self.broker_count + 1)
        )

    @property
    def postgres_password_file(self) -> Path:
        return self.home / "secrets" / "postgres.password"

    @property
    def connect_secrets_file(self) -> Path:
        """A properties file read by Connect's FileConfigProvider, so stored connector
        configurations refer to the database password instead of holding it."""
        return self.home / "secrets" / "connect-secrets.properties"


class KafkaSettings(Section):
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


class RegistrySettings(Section):
    url: ServiceUrl = None
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


class ConnectSettings(Section):
    url: ServiceUrl = None
    basic_auth_user_info: SecretStr | None = None
    ssl_ca_location: Path | None = None


class PostgresSettings(Section):
    host: str = LOOPBACK
    port: Port | None = None
    database: str = "medrical"
    user: str = "medrical"
    password: SecretStr | None = None
    # Read the password from this file when `password` is not set (the local stack's way).
    password_file: Path | None = None
    sslmode: SslMode = "prefer"
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
            if self.sslrootcert and self.sslmode in ("verify-ca", "verify-full"):
                # The JDBC driver otherwise looks for ~/.postgresql/root.crt of Connect's user.
                url += f"&sslrootcert={self.sslrootcert}"
        return url


class MedricalConfig(Section):
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
            self.kafka.bootstrap_servers = stack.bootstrap_servers()
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


SECTIONS: dict[str, type[Section]] = {
    "kafka": KafkaSettings,
    "registry": RegistrySettings,
    "connect": ConnectSettings,
    "postgres": PostgresSettings,
    "stack": StackSettings,
}

# Settings the after-validator fills from the local stack when nothing else set them.
LOCAL_STACK_FILLED = (
    "kafka.bootstrap_servers",
    "registry.url",
    "connect.url",
    "postgres.port",
    "postgres.password_file",
)


def value_at(config: MedricalConfig, setting: str) -> Any:
    section, _, field = setting.partition(".")
    return getattr(getattr(config, section), field)
