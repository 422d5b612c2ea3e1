"""How the monitor's clients are configured: the input consumer, the transactional producer,
the changelog reader and the admin client; the registry lookup of writer schemas, and the
encoding of alerts.

Only configuration and lookups here, no network I/O at import or build time: `stream` builds
the clients from these settings and connects in `run`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.serialization import MessageField, SerializationContext

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.errors import InputError, ServiceUnavailableError
from medrical.kafka_clients import avro_serializer, client_conf
from medrical.monitor.alerts import Alert
from medrical.monitor.options import MonitorOptions
from medrical.monitor.records import ALERT_KEY, ALERT_VALUE, alert_record
from medrical.schemas.wire import WireFormatError

TRANSACTION_TIMEOUT_MS = 10_000
"""A crashed monitor's open transaction is aborted by the broker after this long."""


class _Quiet:
    """librdkafka's own log lines at debug level: the monitor tells what matters itself."""

    _log = logging.getLogger("medrical.librdkafka")

    def log(self, level: int, message: str, *args: Any) -> None:
        self._log.debug(message, *args)


@dataclass(frozen=True)
class ClientSettings:
    """librdkafka settings of each client the monitor runs."""

    consumer: dict[str, Any]
    producer: dict[str, Any]
    restore: dict[str, Any]
    admin: dict[str, Any]


def client_settings(
    config: MedricalConfig,
    opts: MonitorOptions,
    instance: str,
    error_cb: Callable[[Any], None],
) -> ClientSettings:
    """The settings for `opts`; `instance` names this process in its transactional id, and
    `error_cb` hears the consumer's client-level errors (brokers down and the like)."""
    extra = dict(config.kafka.extra)
    quiet = _Quiet()
    consumer = client_conf(
        config,
        logger=quiet,
        error_cb=error_cb,
        **{
            "group.id": opts.group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10_000,
            # Outlast an outage: the loop does not poll while it waits for Kafka.
            "max.poll.interval.ms": int((opts.kafka_outage_timeout_s + 60) * 1000),
            "topic.metadata.refresh.interval.ms": 10_000,
            "fetch.wait.max.ms": 50,
        },
    )
    if opts.instance_id is not None:
        consumer["group.instance.id"] = opts.instance_id
    producer = client_conf(
        config,
        logger=quiet,
        **{
            "transactional.id": f"medrical-monitor.{opts.group}.{instance}",
            "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
        },
    )
    restore = client_conf(
        config,
        logger=quiet,
        **{
            "group.id": f"{opts.group}.restore",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        },
    )
    admin = client_conf(config, logger=quiet)
    for settings in (consumer, producer, restore, admin):
        settings.update(extra)
    return ClientSettings(consumer, producer, restore, admin)


def schema_fetcher(registry: SchemaRegistryClient) -> Callable[[int], str]:
    """The text of a writer schema by its id, for `wire.CachedAvroDecoder`.

    An id nobody registered is the message's fault (WireFormatError: skipped as invalid); a
    registry that does not answer is not (ServiceUnavailableError).
    """
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    def fetch(schema_id: int) -> str:
        try:
            text = registry.get_schema(schema_id).schema_str
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:  # a message framed with an id nobody registered
                raise WireFormatError(f"unknown schema id {schema_id}") from exc
            raise ServiceUnavailableError(
                "schema registry",
                f"cannot fetch the schema with id {schema_id} ({exc}).",
            ) from exc
        if text is None:
            raise InputError(f"the schema registry holds no schema text for id {schema_id}")
        return str(text)

    return fetch


AlertEncoder = Callable[[str, Alert], tuple[bytes, bytes]]
"""An alert for a topic as its (key, value) bytes."""


def alert_encoder(registry: SchemaRegistryClient) -> AlertEncoder:
    """Alerts in the Confluent wire format, their schemas registered like AvroSerializer does."""
    encode_key = avro_serializer(registry, schemas.schema_text(ALERT_KEY))
    encode_value = avro_serializer(registry, schemas.schema_text(ALERT_VALUE))

    def encode(topic: str, alert: Alert) -> tuple[bytes, bytes]:
        key = encode_key(
            {"patient_id": alert.patient_id}, SerializationContext(topic, MessageField.KEY)
        )
        value = encode_value(alert_record(alert), SerializationContext(topic, MessageField.VALUE))
        assert key is not None  # None only for a None record
        assert value is not None
        return key, value

    return encode
