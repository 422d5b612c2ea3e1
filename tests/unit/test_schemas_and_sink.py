"""The event schemas, the topic rule, and the sink configurations (all pure)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from medrical import schemas
from medrical.config import MedricalConfig, PostgresSettings
from medrical.errors import InputError
from medrical.producing.topics import DEFAULT_PARTITIONS
from medrical.sink.alerts import alerts_sink_config
from medrical.sink.connector import (
    MEDRICAL_AVRO_CONVERTER,
    apicurio_api_url,
    mask_secrets,
    sink_config,
)

CONTRACT_FIELDS = [
    "patient_id",
    "event_time",
    "heart_rate",
    "systolic_bp",
    "diastolic_bp",
    "body_temperature",
    "spo2",
    "respiratory_rate",
    "consciousness",
    "on_oxygen",
]


def test_the_value_schema_keeps_the_public_field_names_in_order() -> None:
    names = schemas.field_names()
    assert names[: len(CONTRACT_FIELDS)] == CONTRACT_FIELDS
    assert names[len(CONTRACT_FIELDS) :] == ["scenario", "spo2_scale", "onset_time"]
    assert schemas.field_names(schemas.BIOMETRICS_VALUE_V1) == CONTRACT_FIELDS


def test_every_field_documents_its_unit_or_meaning() -> None:
    schema = json.loads(schemas.schema_text(schemas.BIOMETRICS_VALUE))
    assert schema["namespace"] == "io.medrical"
    assert all(field.get("doc") for field in schema["fields"])
    event_time = next(f for f in schema["fields"] if f["name"] == "event_time")
    assert event_time["type"] == {"type": "long", "logicalType": "timestamp-millis"}


def test_new_fields_are_a_backward_compatible_evolution() -> None:
    """Readers on the new schema read what writers of version 1 wrote."""
    v1 = parse_schema(json.loads(schemas.schema_text(schemas.BIOMETRICS_VALUE_V1)))
    v2 = parse_schema(json.loads(schemas.schema_text(schemas.BIOMETRICS_VALUE)))
    record = dict.fromkeys(CONTRACT_FIELDS) | {
        "patient_id": "P-000001",
        "event_time": 1_767_225_600_000,
        "heart_rate": 72,
    }
    buffer = io.BytesIO()
    schemaless_writer(buffer, v1, record)
    buffer.seek(0)
    read = schemaless_reader(buffer, v1, v2)
    assert isinstance(read, dict)
    assert read["heart_rate"] == 72
    assert read["scenario"] is None
    assert read["spo2_scale"] is None
    assert read["onset_time"] is None


@pytest.mark.parametrize("topic", ["biometrics_default", "biometrics_ward_3", "biometrics_a"])
def test_topics_the_sink_can_map_are_accepted(topic: str) -> None:
    assert schemas.check_topic(topic) == topic


@pytest.mark.parametrize(
    "topic",
    ["default", "biometrics_", "biometrics_Ward", "biometrics_ward-a", "biometrics_a.b", "x" * 60],
)
def test_topics_the_sink_cannot_map_are_refused(topic: str) -> None:
    with pytest.raises(InputError, match="cannot be stored by the sink"):
        schemas.check_topic(topic)


def test_a_record_with_a_wrong_type_is_refused() -> None:
    with pytest.raises(InputError, match="does not fit"):
        schemas.check_record({"patient_id": "P-1", "event_time": "yesterday"})


def _config(tmp_path: Path) -> MedricalConfig:
    password = tmp_path / "pw"
    password.write_text("s3cret-value\n")
    return MedricalConfig(postgres=PostgresSettings(password_file=password))


def test_debezium_sink_stores_each_topic_in_its_own_table(tmp_path: Path) -> None:
    conf = sink_config(_config(tmp_path), flavor="debezium")
    assert conf["connector.class"] == "io.debezium.connector.jdbc.JdbcSinkConnector"
    assert conf["topics.regex"] == "biometrics_(.*)"
    assert conf["collection.name.format"] == "${topic}"
    assert conf["schema.evolution"] == "basic"
    assert conf["connection.url"] == "jdbc:postgresql://127.0.0.1:15432/medrical"
    assert (
        conf["value.converter.apicurio.registry.url"] == "http://127.0.0.1:18081/apis/registry/v2"
    )
    assert conf["errors.deadletterqueue.topic.name"] == "medrical_dead_letters"
    assert conf["connection.password"] == "s3cret-value"


def test_the_copy_sink_is_the_default_and_stores_each_topic_in_its_own_table(
    tmp_path: Path,
) -> None:
    conf = sink_config(_config(tmp_path))
    assert conf["connector.class"] == "io.medrical.connect.sink.CopySinkConnector"
    assert conf["topics.regex"] == "biometrics_(.*)"
    assert conf["collection.name.format"] == "${topic}"
    assert conf["primary.key.fields"] == "patient_id,event_time"
    assert conf["connection.url"] == "jdbc:postgresql://127.0.0.1:15432/medrical"
    assert conf["connection.password"] == "s3cret-value"
    assert conf["errors.deadletterqueue.topic.name"] == "medrical_dead_letters"
    # The key is not stored, so it is not decoded either; the value waits out the registry.
    assert conf["key.converter"] == "org.apache.kafka.connect.converters.ByteArrayConverter"
    assert conf["value.converter"] == MEDRICAL_AVRO_CONVERTER
    assert int(conf["tasks.max"]) == DEFAULT_PARTITIONS
    # A poll is one COPY: a partition's fetch must hold a whole poll of readings.
    records = int(conf["consumer.override.max.poll.records"])
    assert records >= 10_000
    assert int(conf["consumer.override.max.partition.fetch.bytes"]) >= records * 200
    assert not any(key.startswith("consumer.override.enable.auto") for key in conf)
    assert "consumer.override.auto.offset.reset" not in conf
    retry_window_ms = int(conf["medrical.retry.budget.ms"])
    assert 30_000 <= retry_window_ms < 300_000  # inside the consumer's poll interval
    alerts = alerts_sink_config(MedricalConfig())
    assert alerts["primary.key.fields"] == "alert_id"
    assert "primary.key.mode" not in alerts
    assert alerts["consumer.override.isolation.level"] == "read_committed"


def test_the_sink_writes_large_batches_with_a_task_per_partition() -> None:
    conf = sink_config(MedricalConfig(), flavor="debezium")
    assert int(conf["tasks.max"]) == DEFAULT_PARTITIONS
    # One poll fills one write: a batch is as large as what the consumer hands over.
    assert int(conf["batch.size"]) == int(conf["consumer.override.max.poll.records"]) >= 1000
    assert int(conf["consumer.override.metadata.max.age.ms"]) <= 5_000
    # Nothing that could skip or lose a committed row: offsets stay Connect's to commit, after
    # Debezium's writes; no reset to the end; one statement per row inside one transaction.
    assert not any(key.startswith("consumer.override.enable.auto") for key in conf)
    assert "consumer.override.auto.offset.reset" not in conf
    assert "dialect.postgres.unnest.insert.enabled" not in conf
    alerts = alerts_sink_config(MedricalConfig(), flavor="debezium")
    assert alerts["batch.size"] == conf["batch.size"]
    assert alerts["primary.key.mode"] == "record_value"


def test_a_password_file_reference_replaces_the_password(tmp_path: Path) -> None:
    secrets_file = tmp_path / "connect-secrets.properties"
    conf = sink_config(_config(tmp_path), password_file=secrets_file)
    assert conf["connection.password"] == f"${{file:{secrets_file}:postgres.password}}"
    assert "s3cret-value" not in json.dumps(conf)


def test_aiven_flavor_reproduces_the_original_connector(tmp_path: Path) -> None:
    conf = sink_config(_config(tmp_path), flavor="aiven")
    assert conf["connector.class"] == "io.aiven.connect.jdbc.JdbcSinkConnector"
    assert conf["value.converter"] == "io.confluent.connect.avro.AvroConverter"
    assert conf["insert.mode"] == "insert"
    assert conf["table.name.format"] == "${topic}"
    assert conf["auto.create"] == conf["auto.evolve"] == "true"
    assert conf["topics.regex"] == "biometrics_(.*)"


def test_masking_hides_passwords_but_keeps_references(tmp_path: Path) -> None:
    masked = mask_secrets(sink_config(_config(tmp_path)))
    assert masked["connection.password"] == "********"
    ref = mask_secrets({"connection.password": "${file:/x:postgres.password}"})
    assert ref["connection.password"] == "${file:/x:postgres.password}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:1/apis/ccompat/v7", "http://h:1/apis/registry/v2"),
        ("https://h/apis/registry/v3", "https://h/apis/registry/v2"),
        ("http://h:1", "http://h:1/apis/registry/v2"),
    ],
)
def test_the_converter_url_is_derived_from_the_registry_url(given: str, expected: str) -> None:
    assert apicurio_api_url(given) == expected
