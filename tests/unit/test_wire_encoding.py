"""The encoding side of the wire format: the same bytes as fastavro, registered like
AvroSerializer, read back by AvroDeserializer (against the registry client's mock://)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema, schemaless_writer

from medrical import schemas
from medrical.errors import InputError, ServiceUnavailableError
from medrical.schemas.registry import avro_encoder, avro_serializer, schema_registrar
from medrical.schemas.wire import (
    CachedAvroDecoder,
    EncodeError,
    FramedAvroEncoder,
    RecordEncoder,
    registry_text,
    schema_id_of,
    subject_name,
)
from medrical.simulation import Simulator

START_MS = 1_767_225_600_000
TOPIC = "biometrics_wire_tests"
VALUE = SerializationContext(TOPIC, MessageField.VALUE)
KEY = SerializationContext(TOPIC, MessageField.KEY)


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> Iterator[SchemaRegistryClient]:
    # One mock registry per test: mock:// clients of the same URL share their state.
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())
    client = SchemaRegistryClient.new_client({"url": f"mock://wire-{name}"})
    yield client
    client.close()


def fastavro_bytes(schema: Any, record: Any) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), record)
    return buffer.getvalue()


def schema_json(name: str) -> Any:
    return json.loads(schemas.schema_text(name))


def simulated_records(count: int) -> list[dict[str, Any]]:
    # Ward rounds and artifacts leave fields null, so both branches of every union are met.
    simulator = Simulator(
        40, 3, "mix", start_ms=START_MS, cadence="ward", artifact_rate=0.02, interval_s=30
    )
    return [reading.to_record() for reading in itertools.islice(simulator.readings(), count)]


# --- bodies: byte for byte what fastavro writes ------------------------------------------------


@pytest.mark.parametrize("name", [schemas.BIOMETRICS_VALUE, schemas.BIOMETRICS_VALUE_V1])
def test_simulated_records_encode_as_fastavro_does(name: str) -> None:
    schema = schema_json(name)
    encoder = RecordEncoder(schema)
    records = simulated_records(3000)
    assert any(record["systolic_bp"] is None for record in records)
    assert any(record["heart_rate"] is None for record in records)
    for record in records:
        assert encoder.encode(record) == fastavro_bytes(schema, record)


def test_keys_encode_as_fastavro_does() -> None:
    schema = schema_json(schemas.BIOMETRICS_KEY)
    encoder = RecordEncoder(schema)
    for patient_id in ("P-000001", "P-123456", "", "Ünïcode-患者"):
        record = {"patient_id": patient_id}
        assert encoder.encode(record) == fastavro_bytes(schema, record)


EVERY_PRIMITIVE = {
    "type": "record",
    "name": "Every",
    "fields": [
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "s", "type": "string"},
        {"name": "b", "type": "bytes"},
        {"name": "t", "type": "boolean"},
        {"name": "n", "type": "null"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "oi", "type": ["null", "int"], "default": None},
        {"name": "io", "type": ["int", "null"]},
        {"name": "of", "type": ["null", "float"], "default": None},
        {"name": "os", "type": ["null", "string"], "default": None},
        {"name": "ob", "type": ["null", "boolean"], "default": None},
    ],
}
PLAIN = {
    "i": 0,
    "l": 0,
    "f": 0.0,
    "d": 0.0,
    "s": "",
    "b": b"",
    "t": False,
    "n": None,
    "ts": 0,
    "oi": None,
    "io": None,
    "of": None,
    "os": None,
    "ob": None,
}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"i": -1, "l": -(1 << 63), "oi": (1 << 31) - 1, "io": -(1 << 31)},
        {"l": (1 << 63) - 1, "ts": START_MS, "i": 63, "oi": 64, "io": -64, "ob": True},
        {"f": -0.0, "d": -0.0, "of": -0.0},
        {"f": math.inf, "d": -math.inf, "of": math.nan},
        {"f": 36, "d": 7, "of": 38},  # ints where floats are due: fastavro accepts them
        {"f": 1e-45, "d": 1e308, "of": 37.7},
        {"s": "é" * 200, "os": "A", "b": bytes(range(256))},
        {"t": True, "ob": False},
        # Beyond the fast path, fastavro decides: a datetime for a timestamp, a missing
        # field with a default, a float too large for float32.
        {"ts": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        {"f": 1e39},
    ],
)
def test_every_primitive_encodes_as_fastavro_does(change: dict[str, Any]) -> None:
    record = {**PLAIN, **change}
    encoder = RecordEncoder(EVERY_PRIMITIVE)
    assert encoder.encode(record) == fastavro_bytes(EVERY_PRIMITIVE, record)
    # Twice: the second time from the memo.
    assert encoder.encode(record) == fastavro_bytes(EVERY_PRIMITIVE, record)


def test_missing_field_takes_its_default_as_fastavro_does() -> None:
    record = {key: value for key, value in PLAIN.items() if key != "oi"}
    assert RecordEncoder(EVERY_PRIMITIVE).encode(record) == fastavro_bytes(EVERY_PRIMITIVE, record)


def test_memo_tells_equal_values_of_other_types_apart() -> None:
    """1 == True == 1.0 as dict keys, 0.0 == -0.0: the memo must not mix their encodings."""
    encoder = RecordEncoder(EVERY_PRIMITIVE)
    encoder.encode({**PLAIN, "oi": 1, "f": 0.0})
    assert encoder.encode({**PLAIN, "f": -0.0}) == fastavro_bytes(
        EVERY_PRIMITIVE, {**PLAIN, "f": -0.0}
    )
    for wrong in (True, 1.0, "1"):
        with pytest.raises(EncodeError):
            encoder.encode({**PLAIN, "oi": wrong})


@pytest.mark.parametrize(
    "change",
    [{"i": 1 << 31}, {"oi": -(1 << 31) - 1}, {"s": 5}, {"t": 1}, {"b": "text"}, {"i": None}],
)
def test_values_fastavro_refuses_are_refused(change: dict[str, Any]) -> None:
    record = {**PLAIN, **change}
    try:
        expected: bytes | None = fastavro_bytes(EVERY_PRIMITIVE, record)
    except Exception:  # fastavro's own refusal, whatever its class
        expected = None
    encoder = RecordEncoder(EVERY_PRIMITIVE)
    if expected is None:
        with pytest.raises(EncodeError, match="does not fit") as caught:
            encoder.encode(record)
        assert isinstance(caught.value, InputError)
    else:  # fastavro writes some of these without checking: so must we
        assert encoder.encode(record) == expected


def test_other_schemas_are_written_by_fastavro() -> None:
    nested = {
        "type": "record",
        "name": "Outer",
        "fields": [
            {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [
                {"name": "x", "type": "int"}]}},
            {"name": "colour", "type": {"type": "enum", "name": "C", "symbols": ["RED", "BLUE"]}},
            {"name": "many", "type": {"type": "array", "items": "long"}},
            {"name": "either", "type": ["null", "int", "string"]},
        ],
    }  # fmt: skip
    record = {"inner": {"x": 5}, "colour": "BLUE", "many": [1, 2, 3], "either": "x"}
    assert RecordEncoder(nested).encode(record) == fastavro_bytes(nested, record)
    assert RecordEncoder("long").encode(7) == fastavro_bytes("long", 7)  # type: ignore[arg-type]


# --- registration and framing, as AvroSerializer does them ------------------------------------


def test_subject_and_registry_text_follow_avro_serializer() -> None:
    assert subject_name(TOPIC, "value") == f"{TOPIC}-value"
    assert subject_name(TOPIC, "key") == f"{TOPIC}-key"
    assert registry_text('  {"type": "record"}\n') == '{"type": "record"}'
    assert registry_text('"string"') == '{"type":"string"}'


@pytest.mark.parametrize("ours_first", [True, False])
def test_same_subject_same_id_same_bytes_as_avro_serializer(
    registry: SchemaRegistryClient, ours_first: bool
) -> None:
    text = schemas.schema_text(schemas.BIOMETRICS_VALUE)
    ours = avro_encoder(registry, "mock://", text, TOPIC, "value")
    theirs = avro_serializer(registry, text)
    records = simulated_records(500)
    first = ours(records[0]) if ours_first else theirs(records[0], VALUE)
    assert first is not None
    for record in records:
        assert ours(record) == theirs(record, VALUE)
    assert registry.get_subjects() == [f"{TOPIC}-value"]
    latest = registry.get_latest_version(f"{TOPIC}-value")
    assert latest.version == 1  # both registered one and the same schema
    assert ours.schema_id == latest.schema_id == schema_id_of(ours(records[0]))


def test_keys_are_framed_like_avro_serializer_does(registry: SchemaRegistryClient) -> None:
    text = schemas.schema_text(schemas.BIOMETRICS_KEY)
    ours = avro_encoder(registry, "mock://", text, TOPIC, "key")
    theirs = avro_serializer(registry, text)
    for number in range(1, 50):
        key = {"patient_id": f"P-{number:06d}"}
        assert ours(key) == theirs(key, KEY)
    assert registry.get_subjects() == [f"{TOPIC}-key"]


def test_avro_deserializer_reads_our_output(registry: SchemaRegistryClient) -> None:
    encode = avro_encoder(
        registry, "mock://", schemas.schema_text(schemas.BIOMETRICS_VALUE), TOPIC, "value"
    )
    deserialize = AvroDeserializer(registry)
    decoder = CachedAvroDecoder(lambda i: str(registry.get_schema(i).schema_str))
    for record in simulated_records(300):
        payload = encode(record)
        decoded = deserialize(payload, VALUE)
        assert isinstance(decoded, dict)
        moment = dt.datetime.fromtimestamp(record["event_time"] / 1000, dt.UTC)
        assert decoded["event_time"] == moment
        for field in ("patient_id", "heart_rate", "spo2", "consciousness", "on_oxygen"):
            assert decoded[field] == record[field]
        if record["body_temperature"] is not None:  # float32 on the wire
            assert decoded["body_temperature"] == pytest.approx(record["body_temperature"])
        assert decoder.decode(payload) == {
            **decoded,
            "event_time": record["event_time"],
            "onset_time": record["onset_time"],
        }


def test_registers_once_then_uses_the_cached_id() -> None:
    calls: list[tuple[str, str]] = []

    def register(subject: str, text: str) -> int:
        calls.append((subject, text))
        return 41

    encoder = FramedAvroEncoder(
        "\n" + schemas.schema_text(schemas.BIOMETRICS_VALUE), f"{TOPIC}-value", register
    )
    assert calls == []  # nothing at construction, as AvroSerializer
    payloads = [encoder(record) for record in simulated_records(50)]
    assert calls == [(f"{TOPIC}-value", schemas.schema_text(schemas.BIOMETRICS_VALUE).strip())]
    assert {schema_id_of(payload) for payload in payloads} == {41}
    assert all(payload[:5] == b"\x00\x00\x00\x00\x29" for payload in payloads)


def test_threads_at_first_use_register_once() -> None:
    calls: list[str] = []
    gate = threading.Barrier(8)

    def register(subject: str, _text: str) -> int:
        calls.append(subject)
        return 7

    encoder = FramedAvroEncoder(schemas.schema_text(schemas.BIOMETRICS_KEY), "s-key", register)

    def first_use() -> None:
        gate.wait(timeout=10)
        encoder({"patient_id": "P-000001"})

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert calls == ["s-key"]


def test_a_refused_schema_is_a_service_error_naming_the_subject() -> None:
    class Refusing:
        def register_schema_full_response(self, *_args: Any, **_kwargs: Any) -> Any:
            raise SchemaRegistryError(409, 409, "incompatible schema")

    register = schema_registrar(Refusing(), "http://127.0.0.1:1/apis/ccompat/v7")  # type: ignore[arg-type]
    encoder = FramedAvroEncoder(schemas.schema_text(schemas.BIOMETRICS_KEY), "t-key", register)
    with pytest.raises(ServiceUnavailableError, match="refused the schema of t-key"):
        encoder({"patient_id": "P-000001"})
