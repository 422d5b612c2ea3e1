"""Configuration files of the stack's engines, as pure functions of the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medrical.config import (
    LOOPBACK,
    STACK_NODE_PORT_FIELDS,
    STACK_PORT_FIELDS,
    SaslMechanism,
    StackSettings,
)
from medrical.stack.layout import TlsFiles

CONNECT_GROUP = "medrical-connect"
# The SCRAM user Medrical's clients authenticate as on the SASL_SSL listener, and the
# registry's basic-auth user.
KAFKA_SASL_USER = "medrical"
KAFKA_SASL_MECHANISM: SaslMechanism = "SCRAM-SHA-512"
REGISTRY_USER = "medrical"
# Environment variable the registry reads its user's password from (never its command line).
REGISTRY_PASSWORD_ENV = "MEDRICAL_REGISTRY_PASSWORD"  # noqa: S105 (a name, not a password)


def kafka_server_properties(
    settings: StackSettings,
    data_dir: Path,
    tls: TlsFiles | None = None,
    *,
    node: int = 1,
    brokers: int = 1,
) -> str:
    """Node `node` of a stack of `brokers` combined broker+controller nodes."""
    kafka, ctrl = settings.node_port("kafka", node), settings.node_port("controller", node)
    # Every topic's replicas come from here: the monitor, producers and Connect create theirs
    # with the cluster's default replication factor (-1), so one setting decides them all.
    replication, min_isr = ("1", "1") if brokers == 1 else ("3", "2")
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "listeners": f"PLAINTEXT://{LOOPBACK}:{kafka},CONTROLLER://{LOOPBACK}:{ctrl}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{kafka}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        "default.replication.factor": replication,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replication,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        # Abort a crashed producer's timed-out transaction within a second of its timeout, not
        # up to ten: readers of committed offsets wait on it (a restarted monitor, for one).
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
        # After a SIGKILL the restarted node's controller still holds its old registration
        # until that session expires, then fences it: every partition loses its leader for a
        # moment. Abort markers the transaction coordinator sends in that moment are dropped
        # as if the partitions had been deleted, leaving transactions open for ever (every
        # read_committed reader stops there). A short session fences the old registration
        # before the coordinator has loaded anything to abort.
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "1500",
        "auto.create.topics.enable": "true",
        # A demo stack: keep a week of data, in small segments, so disks stay small.
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    if brokers == 1:
        # A dynamic quorum of one, formatted --standalone.
        lines["controller.quorum.bootstrap.servers"] = f"{LOOPBACK}:{ctrl}"
    else:
        lines |= _kafka_cluster(settings, brokers)
    if tls is not None:
        lines |= _kafka_tls(settings, tls, node)
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def _kafka_cluster(settings: StackSettings, brokers: int) -> dict[str, str]:
    """A static quorum of every node, quick failover, and threads for a two-core machine."""
    voters = ",".join(
        f"{node}@{LOOPBACK}:{settings.node_port('controller', node)}"
        for node in range(1, brokers + 1)
    )
    return {
        "controller.quorum.voters": voters,
        # The short session above also fences a killed node, and moves its partitions'
        # leaders, within 1.5 s; heartbeats four times as often keep a live node on a busy
        # machine from missing its session. A killed quorum leader is replaced after 1 s
        # without its answer rather than 2 s. Producing stalls about this long (both, for the
        # node that led the quorum: a new controller first waits a whole session).
        "broker.heartbeat.interval.ms": "250",
        "controller.quorum.fetch.timeout.ms": "1000",
        "controller.quorum.election.timeout.ms": "500",
        # A node back from a kill takes its share of leaders again within half a minute.
        "leader.imbalance.check.interval.seconds": "30",
        # Three JVMs share two cores and a few GiB: fewer threads and a smaller cleaner buffer
        # than a production broker's (loopback traffic of one demo needs no more).
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
    }


def _kafka_tls(settings: StackSettings, tls: TlsFiles, node: int = 1) -> dict[str, str]:
    """Mutual TLS on the node's Kafka port (as Aiven's SSL listeners), SCRAM over TLS on its
    SASL port.

    No plaintext client listener is left: the broker reaches its own SSL listener with its
    server certificate (which also allows client authentication). Only the controller
    listener, which serves the brokers alone, stays plaintext on loopback.
    """
    ssl_port, sasl_port, ctrl = (
        settings.node_port("kafka", node),
        settings.node_port("kafka_sasl", node),
        settings.node_port("controller", node),
    )
    return {
        "listeners": (
            f"SSL://{LOOPBACK}:{ssl_port},SASL_SSL://{LOOPBACK}:{sasl_port},"
            f"CONTROLLER://{LOOPBACK}:{ctrl}"
        ),
        "advertised.listeners": f"SSL://{LOOPBACK}:{ssl_port},SASL_SSL://{LOOPBACK}:{sasl_port}",
        "inter.broker.listener.name": "SSL",
        "listener.security.protocol.map": "SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls.server_keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls.ca_cert),
        "ssl.client.auth": "required",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        # The SASL_SSL listener authenticates by password, not by certificate.
        "listener.name.sasl_ssl.ssl.client.auth": "none",
        "sasl.enabled.mechanisms": KAFKA_SASL_MECHANISM,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": KAFKA_SASL_MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
    }


def kafka_tls_client_properties(tls: TlsFiles) -> dict[str, str]:
    """Java client settings for the stack's own mutual-TLS identity (Connect's worker)."""
    return {
        "security.protocol": "SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls.stack_keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls.ca_cert),
        "ssl.endpoint.identification.algorithm": "https",
    }


def connect_worker_properties(
    settings: StackSettings, plugin_dir: Path, secrets_file: Path, tls: TlsFiles | None = None
) -> str:
    lines = {
        "bootstrap.servers": settings.bootstrap_servers(),
        "group.id": CONNECT_GROUP,
        "config.storage.topic": "_medrical_connect_configs",
        "offset.storage.topic": "_medrical_connect_offsets",
        "status.storage.topic": "_medrical_connect_status",
        # -1: the cluster's default replication factor (1 on one broker, 3 on three).
        "config.storage.replication.factor": "-1",
        "offset.storage.replication.factor": "-1",
        "status.storage.replication.factor": "-1",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "listeners": f"http://{LOOPBACK}:{settings.connect_port}",
        "rest.advertised.host.name": LOOPBACK,
        "rest.advertised.port": str(settings.connect_port),
        "plugin.path": str(plugin_dir),
        "plugin.discovery": "hybrid_warn",
        "offset.flush.interval.ms": "5000",
        # Connector configurations refer to secrets (${file:...:key}) rather than hold them.
        "config.providers": "file",
        "config.providers.file.class": (
            "org.apache.kafka.common.config.provider.FileConfigProvider"
        ),
        "config.providers.file.param.allowed.paths": str(secrets_file.parent),
    }
    if tls is not None:
        # The REST API too: HTTPS with the stack's server certificate, and basic auth.
        lines |= {
            "listeners": f"https://{LOOPBACK}:{settings.connect_port}",
            "rest.advertised.listener": "https",
            "listeners.https.ssl.keystore.type": "PKCS12",
            "listeners.https.ssl.keystore.location": str(tls.rest_keystore),
            # Worker properties resolve config providers too: the password stays in its file.
            "listeners.https.ssl.keystore.password": (
                f"${{file:{secrets_file}:{CONNECT_REST_KEYSTORE_SECRET_KEY}}}"
            ),
            "listeners.https.ssl.client.auth": "none",
            "listeners.https.ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
            "rest.extension.classes": CONNECT_BASIC_AUTH_EXTENSION,
        }
        client = kafka_tls_client_properties(tls)
        # The worker's own clients, and those it makes for connectors' tasks (consumers, the
        # dead-letter producer, admin), each need the settings under their prefix.
        for prefix in ("", "consumer.", "producer.", "admin."):
            lines |= {f"{prefix}{key}": value for key, value in client.items()}
    return "".join(f"{key}={value}\n" for key, value in lines.items())


CONNECT_BASIC_AUTH_EXTENSION = (
    "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
)
CONNECT_USER = "medrical"
# The key, in the secrets file, under which the REST keystore's password is kept.
CONNECT_REST_KEYSTORE_SECRET_KEY = "rest.keystore.password"  # noqa: S105 - a name, not a secret


def connect_jaas_config(users_file: Path) -> str:
    """The JAAS entry Connect's basic-auth extension reads; it names the users file only."""
    return (
        "KafkaConnect {\n"
        "  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n"
        f'  file="{users_file}";\n'
        "};\n"
    )


def log4j2_config(log_name: str) -> str:
    """A log4j2 YAML-free properties config: INFO to stdout (redirected to the log file)."""
    return (
        f"name = {log_name}\n"
        "appender.console.type = Console\n"
        "appender.console.name = STDOUT\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.stdout.ref = STDOUT\n"
        "logger.reflections.name = org.reflections\n"
        "logger.reflections.level = ERROR\n"
    )


def registry_system_properties(
    settings: StackSettings, postgres_db: str, tls: TlsFiles | None = None
) -> dict[str, str]:
    """Apicurio Registry (Quarkus) settings; the datasource password goes by environment."""
    props = {
        "quarkus.http.host": LOOPBACK,
        "quarkus.http.port": str(settings.registry_port),
        "quarkus.management.host": LOOPBACK,
        "quarkus.management.port": str(settings.registry_management_port),
        "apicurio.storage.kind": "sql",
        "apicurio.storage.sql.kind": "postgresql",
        "apicurio.datasource.url": (
            f"jdbc:postgresql://{LOOPBACK}:{settings.postgres_port}/{postgres_db}"
        ),
        "apicurio.datasource.username": "medrical",
        # A small pool: the registry of a demo stack serves a handful of clients.
        "apicurio.datasource.jdbc.initial-size": "2",
        "apicurio.datasource.jdbc.min-size": "2",
        "apicurio.datasource.jdbc.max-size": "10",
        "quarkus.log.level": "INFO",
        "quarkus.analytics.disabled": "true",
    }
    if tls is not None:
        props |= _registry_tls(settings, postgres_db, tls)
    return props


def _registry_tls(settings: StackSettings, postgres_db: str, tls: TlsFiles) -> dict[str, str]:
    """HTTPS only, every API behind basic auth (Quarkus embedded users), PostgreSQL by TLS.

    The user's password is a reference to an environment variable, which Quarkus expands: the
    command line shows the reference, never the password.
    """
    user = REGISTRY_USER
    return {
        "quarkus.http.ssl-port": str(settings.registry_port),
        "quarkus.http.insecure-requests": "disabled",
        "quarkus.http.ssl.certificate.files": str(tls.server_cert),
        "quarkus.http.ssl.certificate.key-files": str(tls.server_key),
        "quarkus.http.ssl.protocols": "TLSv1.3,TLSv1.2",
        # Quarkus warns that this one is fixed at build time, yet honours it: without it the
        # registry answers 401 to every request, with or without credentials.
        "quarkus.http.auth.basic": "true",
        "quarkus.security.users.embedded.enabled": "true",
        "quarkus.security.users.embedded.plain-text": "true",
        f"quarkus.security.users.embedded.users.{user}": f"${{{REGISTRY_PASSWORD_ENV}}}",
        f"quarkus.security.users.embedded.roles.{user}": "sr-admin",
        "quarkus.http.auth.permission.everything.paths": "/*",
        "quarkus.http.auth.permission.everything.policy": "authenticated",
        "apicurio.datasource.url": (
            f"jdbc:postgresql://{LOOPBACK}:{settings.postgres_port}/{postgres_db}"
            f"?sslmode=verify-full&sslrootcert={tls.ca_cert}"
        ),
    }


# --- PostgreSQL with SSL required ---------------------------------------------------------------


def postgres_tls_options(cert: Path, key: Path, hba_file: Path) -> list[str]:
    """`postgres -c` settings: TLS on, and an hba file that accepts TLS connections only."""
    options = {
        "ssl": "on",
        "ssl_cert_file": str(cert),
        "ssl_key_file": str(key),
        "ssl_min_protocol_version": "TLSv1.2",
        "hba_file": str(hba_file),
    }
    return [part for key, value in options.items() for part in ("-c", f"{key}={value}")]


def postgres_tls_hba() -> str:
    """Only `hostssl` lines: a connection without TLS finds no line and is refused."""
    return (
        "# Written by `medrical stack up --tls`: TLS and a SCRAM password, from loopback only.\n"
        "# TYPE   DATABASE  USER  ADDRESS        METHOD\n"
        f"hostssl  all       all   {LOOPBACK}/32   scram-sha-256\n"
    )


# --- the client configuration `stack up --tls` hands out ----------------------------------------


def client_settings(
    settings: StackSettings,
    *,
    protocol: str,
    ca: Path,
    cert: Path,
    key: Path,
    sasl_password: str,
    registry_password: str,
    connect_password: str,
) -> dict[str, Any]:
    """Medrical's settings for the TLS stack, by the transport to Kafka ("SSL" or "SASL_SSL").

    The result holds secrets: it is written to a 0600 file only.
    """
    kafka: dict[str, Any] = {
        "security_protocol": protocol,
        "ssl_ca_location": str(ca),
        "ssl_endpoint_identification": True,
    }
    if protocol == "SSL":
        kafka |= {
            "bootstrap_servers": settings.bootstrap_servers("kafka"),
            "ssl_certificate_location": str(cert),
            "ssl_key_location": str(key),
        }
    else:
        kafka |= {
            "bootstrap_servers": settings.bootstrap_servers("kafka_sasl"),
            "sasl_mechanism": KAFKA_SASL_MECHANISM,
            "sasl_username": KAFKA_SASL_USER,
            "sasl_password": sasl_password,
        }
    stack: dict[str, Any] = {
        "home": str(settings.home),
        "tls": True,
        "brokers": settings.broker_count,
        **{name: getattr(settings, name) for name in STACK_PORT_FIELDS},
        **{
            name: getattr(settings, name)
            for name in STACK_NODE_PORT_FIELDS
            if getattr(settings, name) is not None
        },
    }
    return {
        "kafka": kafka,
        "registry": {
            "url": f"https://{LOOPBACK}:{settings.registry_port}/apis/ccompat/v7",
            "basic_auth_user_info": f"{REGISTRY_USER}:{registry_password}",
            "ssl_ca_location": str(ca),
        },
        "connect": {
            "url": f"https://{LOOPBACK}:{settings.connect_port}",
            "basic_auth_user_info": f"{CONNECT_USER}:{connect_password}",
            "ssl_ca_location": str(ca),
        },
        "postgres": {"sslmode": "verify-full", "sslrootcert": str(ca)},
        "stack": stack,
    }
