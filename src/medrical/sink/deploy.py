"""Putting the sink connector in place: check the plugin, validate, create or update, wait."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medrical.config import LOOPBACK, MedricalConfig
from medrical.errors import ConfigError
from medrical.sink.client import ConnectClient, ConnectorState
from medrical.sink.connector import (
    AIVEN_SINK_CLASS,
    COPY_SINK_CLASS,
    DEBEZIUM_SINK_CLASS,
    DEFAULT_FLAVOR,
    DEFAULT_TOPICS_REGEX,
    MEDRICAL_AVRO_CONVERTER,
    Flavor,
    sink_config,
)
from medrical.stack.layout import StackLayout
from medrical.waiting import poll

log = logging.getLogger(__name__)

_PLUGIN_HINTS = {
    AIVEN_SINK_CLASS: "It is Aiven's JDBC sink (github.com/aiven/jdbc-connector-for-apache-kafka), "
    "available on Aiven's managed Connect; on the local stack use --flavor copy or debezium.",
    COPY_SINK_CLASS: "It is Medrical's own COPY sink, which `medrical stack fetch` builds into "
    "the stack's plugins/medrical-copy-sink folder; copy that folder into the worker's "
    "plugin.path, or use --flavor debezium.",
    DEBEZIUM_SINK_CLASS: "It is Debezium's JDBC sink (io.debezium:debezium-connector-jdbc); "
    "the local stack installs it, other Connect clusters need it in their plugin.path.",
}


def uses_local_connect(config: MedricalConfig) -> bool:
    """Whether Connect is the local stack's, whose worker can read the stack's secrets file."""
    url = (config.connect.url or "").rstrip("/")
    return url in {
        f"{scheme}://{host}:{config.stack.connect_port}"
        for scheme in ("http", "https")
        for host in (LOOPBACK, "localhost")
    }


def connector_password_file(config: MedricalConfig) -> Path | None:
    """The secrets file the local Connect worker reads the database password from, when the
    connector runs on the local stack's Connect against its PostgreSQL; None otherwise (the
    password then travels in the connector's configuration, as managed Connect requires)."""
    if uses_local_connect(config) and config.uses_local_postgres:
        return StackLayout.of(config.stack).connect_secrets_file
    return None


def connector_config(
    config: MedricalConfig,
    *,
    flavor: Flavor = DEFAULT_FLAVOR,
    topics_regex: str = DEFAULT_TOPICS_REGEX,
) -> dict[str, str]:
    """The connector's configuration for this environment (secrets unmasked: for Connect only)."""
    return sink_config(
        config,
        flavor=flavor,
        topics_regex=topics_regex,
        password_file=connector_password_file(config),
    )


@dataclass(frozen=True)
class Deployment:
    name: str
    created: bool
    state: ConnectorState


def deploy_connector(
    client: ConnectClient,
    name: str,
    conf: dict[str, str],
    *,
    timeout_s: float = 60.0,
    report: Callable[[str], None] = log.info,
) -> Deployment:
    """Create or update the connector and wait until it and its tasks run.

    Raises ConfigError when Connect lacks the plugin or its validation finds problems (each
    one listed), and ConnectorFailedError (with the task's error) when it does not start.
    """
    connector_class = conf["connector.class"]
    if connector_class not in client.plugins():
        raise ConfigError(
            f"Kafka Connect at {client.url} has no plugin {connector_class}.",
            hint=_PLUGIN_HINTS.get(connector_class),
        )
    converters = {conf.get("key.converter"), conf.get("value.converter")}
    if MEDRICAL_AVRO_CONVERTER in converters and MEDRICAL_AVRO_CONVERTER not in client.plugins(
        connectors_only=False
    ):
        raise ConfigError(
            f"Kafka Connect at {client.url} has no converter {MEDRICAL_AVRO_CONVERTER}.",
            hint="It is Medrical's own (medrical-connect.jar, which `medrical stack fetch` "
            "builds into the stack's plugins/apicurio-converter folder); copy that folder "
            "into the worker's plugin.path.",
        )
    problems = client.validate(name, conf)
    if problems:
        listing = "".join(f"\n  - {problem}" for problem in problems)
        raise ConfigError(
            f"Kafka Connect found {len(problems)} problem(s) in the configuration of "
            f"connector {name!r}:{listing}",
            hint="See `medrical connector show-config` and `medrical config show`.",
        )
    before = client.status(name)
    created = client.apply(name, conf)
    if before is not None and before.failed:
        # Connect keeps reporting the failure of the tasks that ran the old configuration
        # until new ones start; restart them now so that the wait below sees the new ones.
        client.restart(name)
    report(f"connector {name} {'created' if created else 'updated'}; waiting for it to run")
    tasks = int(conf.get("tasks.max", "1"))
    state = client.wait_running(name, timeout_s=timeout_s, tasks=tasks)
    return Deployment(name, created, state)


def remove_connector(client: ConnectClient, name: str, *, timeout_s: float = 15.0) -> bool:
    """Delete the connector and wait until Connect no longer reports it; False if absent.

    Connect answers the DELETE before its workers have let go of the tasks, so the status
    would otherwise still show the connector for a moment.
    """
    if not client.delete(name):
        return False
    poll(lambda: client.status(name), timeout_s=timeout_s, interval_s=0.2, done=lambda s: s is None)
    return True
