"""The JDBC sink that stores each `alerts_<name>` topic of the monitor in its own table."""

from __future__ import annotations

from pathlib import Path

from medrical.config import MedricalConfig
from medrical.sink.connector import DEFAULT_FLAVOR, Flavor, sink_config

ALERTS_CONNECTOR_NAME = "medrical-alerts-sink"
ALERTS_TOPICS_REGEX = "alerts_(.*)"


def alerts_sink_config(
    config: MedricalConfig,
    *,
    topics_regex: str = ALERTS_TOPICS_REGEX,
    password_file: Path | None = None,
    flavor: Flavor = DEFAULT_FLAVOR,
) -> dict[str, str]:
    """The biometrics sink's configuration, upserting on `alert_id` instead.

    The monitor writes alerts in Kafka transactions; the sink's consumer reads only committed
    ones, and the upsert on the deterministic alert id collapses any alert stored twice.
    """
    conf = sink_config(
        config, flavor=flavor, topics_regex=topics_regex, password_file=password_file
    )
    if flavor == "debezium":
        conf["primary.key.mode"] = "record_value"
    conf["primary.key.fields"] = "alert_id"
    conf["consumer.override.isolation.level"] = "read_committed"
    return conf
