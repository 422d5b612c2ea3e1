"""Creating biometrics topics ahead of their first event.

A sink that subscribes by pattern learns of a new topic only when it next refreshes its
metadata, so a topic that exists before the connector starts is stored from its first event.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from medrical.config import MedricalConfig
from medrical.errors import ServiceUnavailableError
from medrical.kafka_clients import client_conf

DEFAULT_PARTITIONS = 3


def ensure_topic(
    config: MedricalConfig,
    topic: str,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    topic_config: dict[str, str] | None = None,
) -> bool:
    """Create `topic` unless it exists (with the cluster's default replication and the given
    topic settings); True when it was created."""
    admin = AdminClient(client_conf(config))
    # replication_factor=-1 lets the cluster choose: 1 on the local stack, 3 on a managed one.
    future = admin.create_topics(
        [
            NewTopic(
                topic,
                num_partitions=partitions,
                replication_factor=-1,
                config=topic_config or {},
            )
        ]
    )[topic]
    try:
        future.result(timeout=30)
    except KafkaException as exc:
        if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise ServiceUnavailableError("Kafka", f"cannot create topic {topic}: {exc}") from exc
    return True


def delete_topic(config: MedricalConfig, topic: str) -> None:
    admin = AdminClient(client_conf(config))
    # Keep `admin` referenced until the result is in: dropping it ends the request.
    admin.delete_topics([topic])[topic].result(timeout=30)
