"""Producer throughput on a running stack, against a same-run baseline.

Measures, in one process and on one topic each:

- raw:       fastavro encode + the 5-byte Confluent frame + confluent-kafka's Producer, no
             serializer objects (the floor any Avro producer in Python pays);
- medrical:  `BiometricsProducer.send` (AvroSerializer for key and value, delivery counting);
- produce:   the whole `medrical produce` loop (simulation, pacing checks, sending);

each until every event is acknowledged (acks=all), and prints events/s and the ratio to raw.
The stack comes from the usual configuration (file, environment): by default the local stack
of `medrical stack up`. Usage: python benchmarks/bench_producer.py [EVENTS]
"""

from __future__ import annotations

import io
import struct
import sys
import time
import uuid
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema
from fastavro import schemaless_writer

from medrical import schemas
from medrical.config import load_config
from medrical.kafka_clients import client_conf, registry_client
from medrical.producing.producer import PRODUCER_DEFAULTS, BiometricsProducer
from medrical.producing.run import Limits, Pacing, produce_to_kafka
from medrical.producing.topics import delete_topic, ensure_topic
from medrical.simulation import Simulator

START_MS = 1_767_225_600_000


def records(count: int) -> list[dict[str, Any]]:
    readings = Simulator(50, 1, "mix", start_ms=START_MS).readings()
    return [next(readings).to_record() for _ in range(count)]


def bench_raw(config: Any, topic: str, batch: list[dict[str, Any]]) -> float:
    registry = registry_client(config)
    try:
        key_id = registry.register_schema(
            f"{topic}-key", Schema(schemas.schema_text(schemas.BIOMETRICS_KEY), "AVRO")
        )
        value_id = registry.register_schema(
            f"{topic}-value", Schema(schemas.schema_text(schemas.BIOMETRICS_VALUE), "AVRO")
        )
    finally:
        registry.close()
    key_schema = schemas.parsed_schema(schemas.BIOMETRICS_KEY)
    value_schema = schemas.parsed_schema(schemas.BIOMETRICS_VALUE)
    key_frame = struct.pack(">bI", 0, key_id)
    value_frame = struct.pack(">bI", 0, value_id)
    producer = Producer(client_conf(config, **PRODUCER_DEFAULTS))
    started = time.perf_counter()
    for record in batch:
        key_buffer = io.BytesIO(key_frame)
        key_buffer.seek(5)
        schemaless_writer(key_buffer, key_schema, {"patient_id": record["patient_id"]})
        value_buffer = io.BytesIO(value_frame)
        value_buffer.seek(5)
        schemaless_writer(value_buffer, value_schema, record)
        while True:
            try:
                producer.produce(topic, key=key_buffer.getvalue(), value=value_buffer.getvalue())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - started
    assert remaining == 0, f"{remaining} raw events undelivered"
    return len(batch) / elapsed


def bench_medrical(config: Any, topic: str, batch: list[dict[str, Any]]) -> float:
    with BiometricsProducer(config, topic) as producer:
        producer.send(batch[0])  # registers the schemas, as the raw path did beforehand
        producer.flush()
        started = time.perf_counter()
        for record in batch:
            producer.send(record)
        remaining = producer.flush(60)
        elapsed = time.perf_counter() - started
    assert remaining == 0, f"{remaining} medrical events undelivered"
    assert producer.stats.failed == 0, f"{producer.stats.failed} medrical events failed"
    return len(batch) / elapsed


def bench_produce_loop(config: Any, topic: str, count: int) -> float:
    readings = Simulator(50, 1, "mix", start_ms=START_MS).readings()
    summary = produce_to_kafka(config, topic, readings, pacing=Pacing(), limits=Limits(count=count))
    assert summary.failed == 0
    return summary.delivered / summary.elapsed_s


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    config = load_config()
    batch = records(count)
    run_id = uuid.uuid4().hex[:8]
    topics = {name: f"biometrics_bench_{name}_{run_id}" for name in ("raw", "medrical", "loop")}
    for topic in topics.values():
        ensure_topic(config, topic)
    try:
        raw = bench_raw(config, topics["raw"], batch)
        medrical = bench_medrical(config, topics["medrical"], batch)
        loop = bench_produce_loop(config, topics["loop"], count)
    finally:
        for topic in topics.values():
            delete_topic(config, topic)
        registry = registry_client(config)
        try:
            for topic in topics.values():
                for subject in (f"{topic}-key", f"{topic}-value"):
                    try:
                        registry.delete_subject(subject)
                    except Exception as exc:  # leftovers are harmless; say so and go on
                        print(f"could not delete subject {subject}: {exc}", file=sys.stderr)
        finally:
            registry.close()
    print(f"events per run: {count:,} (acks=all, idempotent, lz4), one process")
    print(f"raw fastavro + Producer       {raw:>10,.0f} events/s   1.00")
    print(f"BiometricsProducer.send       {medrical:>10,.0f} events/s   {medrical / raw:.2f}")
    print(f"produce loop (with simulator) {loop:>10,.0f} events/s   {loop / raw:.2f}")


if __name__ == "__main__":
    main()
