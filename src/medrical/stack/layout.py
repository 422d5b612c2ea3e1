"""Where the local stack keeps each thing, derived from the settings alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medrical.config import KAFKA_BROKERS_FILE, StackSettings

SERVICES = ("postgres", "kafka", "registry", "connect")
# Medrical's own process beside the engines: restarts failed tasks of the stack's connectors.
SUPERVISOR = "supervisor"


def kafka_node_names(brokers: int) -> list[str]:
    """One broker is "kafka"; the nodes of a three-broker stack are "kafka-1" to "kafka-3"."""
    return ["kafka"] if brokers == 1 else [f"kafka-{node}" for node in range(1, brokers + 1)]


def service_names(brokers: int) -> list[str]:
    """Every service of a stack of `brokers` Kafka nodes, in start-up order."""
    return ["postgres", *kafka_node_names(brokers), "registry", "connect"]


@dataclass(frozen=True)
class StackLayout:
    home: Path

    @classmethod
    def of(cls, settings: StackSettings) -> StackLayout:
        return cls(settings.home)

    @property
    def etc(self) -> Path:
        return self.home / "etc"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"

    @property
    def postgres_password_file(self) -> Path:
        return self.secrets / "postgres.password"

    @property
    def connect_secrets_file(self) -> Path:
        return self.secrets / "connect-secrets.properties"

    # --- TLS mode (`medrical stack up --tls`) ------------------------------------------------

    @property
    def tls(self) -> TlsFiles:
        """The stack's throw-away CA and the server and stack-client identities (0700)."""
        return TlsFiles(self.home / "tls")

    @property
    def client(self) -> Path:
        """Medrical's own client identity in Aiven's layout, and ready configuration files."""
        return self.home / "client"

    @property
    def postgres_tls(self) -> Path:
        """PostgreSQL's copy of the server certificate and key, owned by its own user."""
        return self.data / "postgres-tls"

    @property
    def kafka_sasl_password_file(self) -> Path:
        return self.secrets / "kafka-sasl.password"

    @property
    def registry_password_file(self) -> Path:
        return self.secrets / "registry.password"

    @property
    def connect_password_file(self) -> Path:
        return self.secrets / "connect.password"

    @property
    def connect_users_file(self) -> Path:
        """Connect's REST users (`user: password` lines), read by its JAAS login module."""
        return self.secrets / "connect-users.properties"

    @property
    def connect_jaas_file(self) -> Path:
        return self.etc / "connect-jaas.conf"

    @property
    def mode_file(self) -> Path:
        """Whether the running stack was started with TLS ("tls") or without ("plain")."""
        return self.run / "mode"

    @property
    def kafka_brokers_file(self) -> Path:
        """How many Kafka nodes the data was formatted for (see StackSettings.broker_count)."""
        return self.home / KAFKA_BROKERS_FILE

    @property
    def kafka_cluster_id_file(self) -> Path:
        """The id every node of one cluster is formatted with."""
        return self.data / "kafka-cluster-id"

    def pid_file(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.logs / f"{service}.log"


@dataclass(frozen=True)
class TlsFiles:
    """Where the stack keeps its CA, its server identity and its own client identity."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def server_keystore(self) -> Path:
        return self.folder / "server.keystore.pem"

    @property
    def rest_keystore(self) -> Path:
        """The server identity as PKCS#12, for Connect's REST server (Jetty reads no PEM)."""
        return self.folder / "rest-keystore.p12"

    @property
    def stack_cert(self) -> Path:
        """The client identity of the stack's own probes and of its Connect worker."""
        return self.folder / "stack.cert"

    @property
    def stack_key(self) -> Path:
        return self.folder / "stack.key"

    @property
    def stack_keystore(self) -> Path:
        return self.folder / "stack.keystore.pem"
