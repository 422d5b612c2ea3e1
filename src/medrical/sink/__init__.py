"""The Kafka Connect JDBC sink that stores each `biometrics_<name>` topic in its own table."""

from medrical.sink.client import ConnectClient, ConnectorState
from medrical.sink.connector import (
    DEFAULT_CONNECTOR_NAME,
    DEFAULT_FLAVOR,
    DEFAULT_TOPICS_REGEX,
    Flavor,
    sink_config,
)

__all__ = [
    "DEFAULT_CONNECTOR_NAME",
    "DEFAULT_FLAVOR",
    "DEFAULT_TOPICS_REGEX",
    "ConnectClient",
    "ConnectorState",
    "Flavor",
    "sink_config",
]
