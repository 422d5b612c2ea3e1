"""Reading a topic from its beginning to where it ends now, and counting what it holds: for the
dead-letter commands, the reliability reports and the tests, which all need "everything there
is" rather than a stream."""

from __future__ import annotations

import time
import uuid
from typing import Literal

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from medrical.config import MedricalConfig
from medrical.errors import MedricalError, ServiceUnavailableError
from medrical.kafka_clients import client_conf

Isolation = Literal["read_uncommitted", "read_committed"]


def read_to_end(
    config: MedricalConfig,
    topic: str,
    *,
    isolation: Isolation = "read_uncommitted",
    timeout_s: float = 30.0,
) -> list[Message]:
    """Every message of `topic` up to each partition's end now, in offset order within each
    partition; [] if the topic does not exist. With read_committed, only what transactions
    committed (and up to the first still open)."""
    consumer = Consumer(
        client_conf(
            config,
            **{
                "group.id": f"medrical-reader-{uuid.uuid4().hex[:8]}",
                "isolation.level": isolation,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    try:
        described = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if described is None or described.error is not None:
            return []
        pending = set()
        for partition in sorted(described.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            if high > low:
                pending.add(partition)
        if not pending:
            return []
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(pending)])
        messages = []
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                error = message.error()
                if error is None:
                    messages.append(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                else:
                    raise ServiceUnavailableError("Kafka", f"reading {topic}: {error.str()}")
        if pending:
            raise ServiceUnavailableError(
                "Kafka", f"could not read {topic} to its end within {timeout_s:.0f} s."
            )
        return messages
    except MedricalError:
        raise
    except Exception as exc:  # KafkaException and friends: name the service
        raise ServiceUnavailableError("Kafka", f"reading {topic}: {exc}") from exc
    finally:
        consumer.close()


def messages_in(config: MedricalConfig, topic: str) -> int:
    """Messages in a topic (the sum of its partitions' end offsets: a repeat would show); 0 if
    the topic does not exist."""
    consumer = Consumer(
        client_conf(config, **{"group.id": f"medrical-reader-{uuid.uuid4().hex[:8]}"})
    )
    try:
        described = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if described is None or described.error is not None:
            return 0
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in described.partitions
        )
    finally:
        consumer.close()
