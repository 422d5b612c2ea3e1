"""Configuration files of the stack's engines, as pure functions of the settings."""

from __future__ import annotations

from pathlib import Path

from medrical.config import LOOPBACK, StackSettings

CONNECT_GROUP = "medrical-connect"


def kafka_server_properties(settings: StackSettings, data_dir: Path) -> str:
    kafka, ctrl = settings.kafka_port, settings.controller_port
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{LOOPBACK}:{ctrl}",
        "listeners": f"PLAINTEXT://{LOOPBACK}:{kafka},CONTROLLER://{LOOPBACK}:{ctrl}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{kafka}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        # A demo stack: keep a week of data, in small segments, so disks stay small.
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def connect_worker_properties(settings: StackSettings, plugin_dir: Path, secrets_file: Path) -> str:
    lines = {
        "bootstrap.servers": f"{LOOPBACK}:{settings.kafka_port}",
        "group.id": CONNECT_GROUP,
        "config.storage.topic": "_medrical_connect_configs",
        "offset.storage.topic": "_medrical_connect_offsets",
        "status.storage.topic": "_medrical_connect_status",
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
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
    return "".join(f"{key}={value}\n" for key, value in lines.items())


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


def registry_system_properties(settings: StackSettings, postgres_db: str) -> dict[str, str]:
    """Apicurio Registry (Quarkus) settings; the datasource password goes by environment."""
    return {
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
