"""A Kafka producer of biometrics events: idempotent, acks=all, batched, compressed.

Records are Avro-encoded with confluent-kafka's AvroSerializer against the configured schema
registry (any Confluent-compatible API), keyed by patient so that a patient's events stay in
order on one partition. Delivery reports are counted; nothing is flushed per message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.errors import ServiceUnavailableError
from medrical.kafka_clients import (
    avro_serializer,
    client_conf,
    ensure_kafka_reachable,
    registry_client,
)

PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 256 * 1024,
    "message.timeout.ms": 60_000,
}


@dataclass
class DeliveryStats:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    first_error: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def in_flight(self) -> int:
        return self.sent - self.delivered - self.failed

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.delivered / elapsed if elapsed > 0 else 0.0


class BiometricsProducer:
    """Send biometrics records (dicts shaped like the value schema) to one topic."""

    def __init__(
        self,
        config: MedricalConfig,
        topic: str,
        *,
        value_schema: str = schemas.BIOMETRICS_VALUE,
        check_reachable: bool = True,
        **producer_overrides: Any,
    ) -> None:
        self.topic = schemas.check_topic(topic)
        self.stats = DeliveryStats()
        if check_reachable:
            ensure_kafka_reachable(config)
        registry = registry_client(config)
        self._registry = registry
        self._registry_url = config.registry.url
        self._key_serializer = avro_serializer(
            registry, schemas.schema_text(schemas.BIOMETRICS_KEY)
        )
        self._value_serializer = avro_serializer(registry, schemas.schema_text(value_schema))
        conf = client_conf(config, **{**PRODUCER_DEFAULTS, **producer_overrides})
        # Pass-through properties from the configuration win over our defaults.
        conf.update(config.kafka.extra)
        self._producer = Producer(conf)
        self._key_context = SerializationContext(self.topic, MessageField.KEY)
        self._value_context = SerializationContext(self.topic, MessageField.VALUE)

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.stats.delivered += 1
        else:
            self.stats.failed += 1
            if self.stats.first_error is None:
                self.stats.first_error = str(error)

    def send(self, record: Mapping[str, Any]) -> None:
        try:
            key = self._key_serializer({"patient_id": record["patient_id"]}, self._key_context)
            value = self._value_serializer(dict(record), self._value_context)
        except SchemaRegistryError as exc:
            raise ServiceUnavailableError(
                "schema registry", f"{self._registry_url} refused the schema: {exc}"
            ) from exc
        except Exception as exc:
            if "connect" in str(exc).lower() or "timed out" in str(exc).lower():
                raise ServiceUnavailableError(
                    "schema registry",
                    f"cannot reach {self._registry_url} ({exc}).",
                    hint="Check registry.url (`medrical config show`).",
                ) from exc
            raise
        while True:
            try:
                self._producer.produce(
                    self.topic, key=key, value=value, on_delivery=self._on_delivery
                )
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self._producer.poll(0.05)
        self.stats.sent += 1
        self._producer.poll(0)

    def poll(self, timeout_s: float = 0.0) -> None:
        self._producer.poll(timeout_s)

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for outstanding deliveries; return how many are still undelivered."""
        remaining: int = self._producer.flush(timeout_s)
        return remaining

    def close(self, timeout_s: float = 30.0) -> int:
        """Flush, then release the registry client's connections; return undelivered count."""
        remaining = self.flush(timeout_s)
        self._registry.close()
        return remaining

    def __enter__(self) -> BiometricsProducer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
