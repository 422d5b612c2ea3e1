"""Shared construction of confluent-kafka clients and the schema registry client."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy

from medrical.config import MedricalConfig
from medrical.errors import ServiceUnavailableError

_librdkafka_log = logging.getLogger("medrical.librdkafka")


def client_conf(config: MedricalConfig, **overrides: Any) -> dict[str, Any]:
    conf: dict[str, Any] = dict(config.kafka.client_config())
    conf["logger"] = _librdkafka_log
    conf.update(overrides)
    return conf


REGISTRY_TIMEOUT_S = 10


def registry_client(config: MedricalConfig) -> SchemaRegistryClient:
    """A registry client whose calls end within a bounded time, never hang."""
    return SchemaRegistryClient({"timeout": REGISTRY_TIMEOUT_S, **config.registry.client_config()})


def serializer_conf() -> dict[str, Any]:
    """AvroSerializer settings: subjects named `<topic>-key` / `<topic>-value`.

    Named explicitly: recent clients otherwise first look the subject up through the
    associations API, which Confluent-compatible registries other than Confluent's lack.
    """
    return {"subject.name.strategy": topic_subject_name_strategy}


def ensure_kafka_reachable(config: MedricalConfig, timeout_s: float = 10.0) -> int:
    """Ask the cluster for its metadata; return the broker count or raise a clear error."""
    admin = AdminClient(client_conf(config))
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:  # KafkaException carries librdkafka's reason
        raise ServiceUnavailableError(
            "Kafka",
            f"no answer from {config.kafka.bootstrap_servers} within {timeout_s:.0f} s ({exc}).",
            hint="Is the cluster up (`medrical stack status`) and is "
            "kafka.bootstrap_servers right (`medrical config show`)?",
        ) from exc
    return len(metadata.brokers)
