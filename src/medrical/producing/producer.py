"""A Kafka producer of biometrics events: idempotent, acks=all, batched, compressed.

Records are Avro-encoded in the Confluent wire format by `schemas.wire.FramedAvroEncoder`,
which registers the schemas under `<topic>-key` and `<topic>-value` exactly as
confluent-kafka's AvroSerializer would and writes the same bytes, a few times faster. Records
are keyed by patient so that a patient's events stay in order on one partition.

Only failed deliveries call back (`delivery.report.only.error`): a Python callback per
acknowledged message cost more than the encoding. A message that is neither failed nor still
in the client's queue has been acknowledged, so the delivered count is exact once flushed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.kafka_clients import (
    avro_encoder,
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


def _nothing_pending() -> int:
    return 0


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    first_error: str | None = None
    started: float = field(default_factory=time.monotonic)
    pending: Callable[[], int] = field(default=_nothing_pending, repr=False)
    """How many sent messages still await their acknowledgement (the client's queue)."""

    @property
    def delivered(self) -> int:
        return max(0, self.sent - self.failed - self.pending())

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
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
        **producer_overrides: Any,
    ) -> None:
        """`on_delivery` sees every delivery report, acknowledgements too (to time each
        delivery, for one): it costs a Python call per message, so only when asked for."""
        self.topic = schemas.check_topic(topic)
        self._observer = on_delivery
        if check_reachable:
            ensure_kafka_reachable(config)
        registry = registry_client(config)
        self._registry = registry
        url = config.registry.url
        self._key_encoder = avro_encoder(
            registry, url, schemas.schema_text(schemas.BIOMETRICS_KEY), self.topic, "key"
        )
        self._value_encoder = avro_encoder(
            registry, url, schemas.schema_text(value_schema), self.topic, "value"
        )
        conf = client_conf(
            config,
            **{
                **PRODUCER_DEFAULTS,
                "delivery.report.only.error": on_delivery is None,
                "on_delivery": self._on_delivery,
                **producer_overrides,
            },
        )
        # Pass-through properties from the configuration win over our defaults.
        conf.update(config.kafka.extra)
        self._producer = Producer(conf)
        self.stats = DeliveryStats(pending=self._producer.__len__)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        # Successes are counted by what left the queue; they call back only when a
        # configuration turned delivery.report.only.error off.
        if error is not None:
            self.stats.failed += 1
            if self.stats.first_error is None:
                self.stats.first_error = str(error)
        if self._observer is not None:
            self._observer(error, message)

    def send(self, record: Mapping[str, Any]) -> None:
        key = self._key_encoder({"patient_id": record["patient_id"]})
        value = self._value_encoder(record)
        try:
            self._producer.produce(self.topic, value, key)
        except BufferError:
            self._produce_when_room(value, key)
        self.stats.sent += 1
        self._producer.poll(0)

    def _produce_when_room(self, value: bytes, key: bytes) -> None:
        """The local queue is full: serve delivery reports until there is room."""
        while True:
            self._producer.poll(0.05)
            try:
                self._producer.produce(self.topic, value, key)
            except BufferError:
                continue
            return

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
