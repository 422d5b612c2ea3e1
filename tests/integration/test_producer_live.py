"""The producer on the real engines: its own Avro encoder against the real registry, read back
by confluent-kafka's AvroDeserializer, and `produce --workers` splitting one ward."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.kafka_clients import avro_encoder, avro_serializer, client_conf, registry_client
from medrical.producing import BiometricsProducer
from medrical.producing.topics import delete_topic, ensure_topic
from medrical.simulation import Simulator
from tests.integration.helpers import START_MS, unique_topic

pytestmark = pytest.mark.integration


def read_topic(
    config: MedricalConfig, topic: str, timeout_s: float = 60
) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of `topic`, read from the start of each partition to its end."""
    consumer = Consumer(
        client_conf(
            config,
            **{
                "group.id": f"it-reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    messages: list[tuple[bytes, bytes]] = []
    try:
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        pending = set(partitions)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                error = message.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    pending.discard(message.partition())
                    continue
                messages.append((message.key() or b"", message.value() or b""))
        assert not pending, f"could not read {topic} to its end"
    finally:
        consumer.close()
    return messages


def as_sent(decoded: dict[str, Any]) -> dict[str, Any]:
    """A record as AvroDeserializer returns it, back in the shape it was sent: event_time in
    milliseconds, the float32 temperature rounded to its 0.1 resolution."""
    record = dict(decoded)
    record["event_time"] = round(decoded["event_time"].timestamp() * 1000)
    if record["body_temperature"] is not None:
        record["body_temperature"] = round(record["body_temperature"], 1)
    return record


def test_encoder_registers_like_avro_serializer_on_the_real_registry(
    live_config: MedricalConfig,
) -> None:
    topic = unique_topic("enc")
    text = schemas.schema_text(schemas.BIOMETRICS_VALUE)
    registry = registry_client(live_config)
    try:
        ours = avro_encoder(registry, live_config.registry.url, text, topic, "value")
        theirs = avro_serializer(registry, text)
        context = SerializationContext(topic, MessageField.VALUE)
        simulator = Simulator(10, 4, "mix", start_ms=START_MS, cadence="ward")
        records = [r.to_record() for r in itertools.islice(simulator.readings(), 200)]
        for record in records:
            assert ours(record) == theirs(record, context)
        assert ours.schema_id == registry.get_latest_version(f"{topic}-value").schema_id
        # A client that knows nothing of our caches reads it from the registry itself.
        fresh = registry_client(live_config)
        try:
            deserialize = AvroDeserializer(fresh)
            for record in records:
                decoded = deserialize(ours(record), context)
                assert isinstance(decoded, dict)
                assert as_sent(decoded) == record
        finally:
            fresh.close()
        registry.delete_subject(f"{topic}-value")
    finally:
        registry.close()


def test_every_sent_reading_is_stored_once_and_reads_back(live_config: MedricalConfig) -> None:
    topic = unique_topic("send")
    ensure_topic(live_config, topic)
    simulator = Simulator(25, 9, "mix", start_ms=START_MS, artifact_rate=0.01)
    records = [r.to_record() for r in itertools.islice(simulator.readings(), 5000)]
    try:
        with BiometricsProducer(live_config, topic) as producer:
            for record in records:
                producer.send(record)
            assert producer.flush() == 0
        assert (producer.stats.sent, producer.stats.delivered, producer.stats.failed) == (
            5000,
            5000,
            0,
        )
        registry = registry_client(live_config)
        try:
            values = AvroDeserializer(registry)
            keys = AvroDeserializer(registry)
            value_context = SerializationContext(topic, MessageField.VALUE)
            key_context = SerializationContext(topic, MessageField.KEY)
            back = []
            for key, value in read_topic(live_config, topic):
                record = values(value, value_context)
                assert isinstance(record, dict)
                assert keys(key, key_context) == {"patient_id": record["patient_id"]}
                back.append(as_sent(record))
        finally:
            registry.close()
        order = ("event_time", "patient_id")
        assert sorted(back, key=lambda r: [r[k] for k in order]) == sorted(
            records, key=lambda r: [r[k] for k in order]
        )
    finally:
        delete_topic(live_config, topic)
