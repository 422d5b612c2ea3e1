"""Producer throughput on a running stack, against a same-run baseline.

Measures, each on a topic of its own (3 partitions), until every event is acknowledged
(acks=all, idempotent, lz4):

- raw:       fastavro encode + the 5-byte Confluent frame + confluent-kafka's Producer, no
             serializer objects: the baseline, measured first and again last;
- client:    Producer.produce of bytes encoded beforehand, the client's own ceiling (for
             reference: no Avro at all);
- send:      `BiometricsProducer.send` (Medrical's encoder for key and value, delivery counts);
- loop:      the whole `medrical produce --speed max` loop (simulation, pacing checks, sending);
- workers:   `produce --workers 1` and `--workers 2` (processes; their start-up is not counted);
- 100k:      the produce loop over a ward of 100,000 patients (drawn first, timed apart);

and prints events/s, the ratio to the baseline (the mean of its two runs), and the CPU time
each event cost the producing processes (all their threads, librdkafka's included; for
--workers the workers' own processes, their start-up of an interpreter and imports included).
On a machine shared with the broker and other work, events/s follow whatever CPU is left
over, while the CPU time per event stays put: it tells whether a path does more work or only
got less of the machine. The stack comes from the usual configuration: by default the local
stack of `medrical stack up`.
Usage: python benchmarks/bench_producer.py [EVENTS]
"""

from __future__ import annotations

import io
import itertools
import resource
import struct
import sys
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema
from fastavro import schemaless_writer

from medrical import schemas
from medrical.config import MedricalConfig, load_config
from medrical.kafka_clients import client_conf
from medrical.producing.plan import WardSpec, plan
from medrical.producing.producer import PRODUCER_DEFAULTS, BiometricsProducer
from medrical.producing.run import Limits, Pacing, RunSummary, produce_to_kafka
from medrical.producing.topics import delete_topic, ensure_topic
from medrical.producing.workers import run_workers
from medrical.schemas.registry import registry_client
from medrical.simulation import Simulator

START_MS = 1_767_225_600_000
WARD = 50
LARGE_WARD = 100_000


def records(count: int) -> list[dict[str, Any]]:
    readings = Simulator(WARD, 1, "mix", start_ms=START_MS).readings()
    return [next(readings).to_record() for _ in range(count)]


def _produce_all(producer: Producer, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)


def _register(config: MedricalConfig, topic: str) -> tuple[int, int]:
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
    return key_id, value_id


def bench_raw(config: MedricalConfig, topic: str, batch: list[dict[str, Any]]) -> float:
    key_id, value_id = _register(config, topic)
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
        _produce_all(producer, topic, [(key_buffer.getvalue(), value_buffer.getvalue())])
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - started
    assert remaining == 0, f"{remaining} raw events undelivered"
    return len(batch) / elapsed


def bench_client(config: MedricalConfig, topic: str, batch: list[dict[str, Any]]) -> float:
    key_id, value_id = _register(config, topic)
    key_schema = schemas.parsed_schema(schemas.BIOMETRICS_KEY)
    value_schema = schemas.parsed_schema(schemas.BIOMETRICS_VALUE)
    messages = []
    for record in batch:
        key, value = io.BytesIO(struct.pack(">bI", 0, key_id)), io.BytesIO()
        key.seek(5)
        schemaless_writer(key, key_schema, {"patient_id": record["patient_id"]})
        value.write(struct.pack(">bI", 0, value_id))
        schemaless_writer(value, value_schema, record)
        messages.append((key.getvalue(), value.getvalue()))
    producer = Producer(client_conf(config, **PRODUCER_DEFAULTS))
    started = time.perf_counter()
    _produce_all(producer, topic, messages)
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - started
    assert remaining == 0, f"{remaining} client events undelivered"
    return len(batch) / elapsed


def bench_send(config: MedricalConfig, topic: str, batch: list[dict[str, Any]]) -> float:
    with BiometricsProducer(config, topic) as producer:
        producer.send(batch[0])  # registers the schemas, as the raw path did beforehand
        producer.flush()
        started = time.perf_counter()
        for record in batch:
            producer.send(record)
        remaining = producer.flush(60)
        elapsed = time.perf_counter() - started
    assert remaining == 0, f"{remaining} events undelivered"
    assert producer.stats.failed == 0, f"{producer.stats.failed} events failed"
    assert producer.stats.delivered == len(batch) + 1
    return len(batch) / elapsed


def delivered_rate(summary: RunSummary, count: int) -> float:
    """Events/s of a run that must have delivered every one of its `count` events."""
    assert summary.failed == 0, summary
    assert summary.delivered == count, summary
    return summary.delivered / summary.elapsed_s


def bench_loop(config: MedricalConfig, topic: str, count: int, patients: int = WARD) -> float:
    simulator = Simulator(patients, 1, "mix", start_ms=START_MS)
    summary = produce_to_kafka(
        config, topic, simulator.readings(), pacing=Pacing(), limits=Limits(count=count)
    )
    return delivered_rate(summary, count)


def bench_workers(config: MedricalConfig, topic: str, count: int, workers: int) -> float:
    ward = WardSpec(WARD, 1, "mix", START_MS)
    jobs = plan(topic, ward, workers, Pacing(), Limits(count=count))
    result = run_workers(config, jobs)
    result.check()
    summary = result.summary
    return delivered_rate(summary, count)


def cpu_s() -> float:
    """CPU seconds used so far by this process (every thread) and by its ended children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_large_ward(
    config: MedricalConfig, topic: str, count: int
) -> tuple[float, float, float, float]:
    """(events/s, CPU seconds of drawing and settling the ward, seconds of the same, MiB of
    peak resident memory added)."""
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = cpu_s()
    started = time.perf_counter()
    simulator = Simulator(LARGE_WARD, 1, "mix", start_ms=START_MS)
    readings = simulator.readings()
    # Drawing the ward and settling every patient happen before the first reading: timed
    # apart from the sending.
    first = next(readings)
    drawn_s = time.perf_counter() - started
    drawing_cpu_s = cpu_s() - cpu_before
    summary = produce_to_kafka(
        config,
        topic,
        itertools.chain([first], readings),
        pacing=Pacing(),
        limits=Limits(count=count),
    )
    rate = delivered_rate(summary, count)
    added_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    return rate, drawing_cpu_s, drawn_s, added_mib


def drop_topics(config: MedricalConfig, topics: Collection[str]) -> None:
    """Delete a run's topics and their subjects."""
    for topic in topics:
        delete_topic(config, topic)
    registry = registry_client(config)
    try:
        for topic in topics:
            for subject in (f"{topic}-key", f"{topic}-value"):
                try:
                    registry.delete_subject(subject)
                except Exception as exc:  # leftovers are harmless; say so and go on
                    print(f"could not delete subject {subject}: {exc}", file=sys.stderr)
    finally:
        registry.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    config = load_config()
    batch = records(count)
    run_id = uuid.uuid4().hex[:8]
    names = ("warmup", "raw", "client", "send", "loop", "w1", "w2", "large", "raw2")
    topics = {name: f"biometrics_bench_{name}_{run_id}" for name in names}
    for topic in topics.values():
        ensure_topic(config, topic)
    figures: dict[str, float] = {}
    cpu_per_event_us: dict[str, float] = {}
    ward: dict[str, float] = {}

    def large() -> float:
        rate, ward["drawing_cpu_s"], ward["drawn_s"], ward["added_mib"] = bench_large_ward(
            config, topics["large"], count
        )
        return rate

    runs: list[tuple[str, Callable[[], float]]] = [
        ("raw", lambda: bench_raw(config, topics["raw"], batch)),
        ("client", lambda: bench_client(config, topics["client"], batch)),
        ("send", lambda: bench_send(config, topics["send"], batch)),
        ("loop", lambda: bench_loop(config, topics["loop"], count)),
        ("w1", lambda: bench_workers(config, topics["w1"], count, 1)),
        ("w2", lambda: bench_workers(config, topics["w2"], count, 2)),
        ("large", large),
        ("raw2", lambda: bench_raw(config, topics["raw2"], batch)),
    ]
    try:
        # The broker's first produce of a run pays for coordinator loading: not measured.
        bench_raw(config, topics["warmup"], batch[: max(1, count // 20)])
        for name, run in runs:
            before = cpu_s()
            figures[name] = run()
            # The large ward's drawing is not part of its sending.
            used_s = cpu_s() - before - (ward["drawing_cpu_s"] if name == "large" else 0.0)
            cpu_per_event_us[name] = used_s / count * 1e6
    finally:
        drop_topics(config, topics.values())
    baseline = (figures["raw"] + figures["raw2"]) / 2
    print(f"events per run: {count:,} (acks=all, idempotent, lz4, 3 partitions)")
    print(
        f"baseline: raw fastavro + Producer, first {figures['raw']:,.0f} and last "
        f"{figures['raw2']:,.0f} events/s, mean {baseline:,.0f}"
    )
    cpu_per_event_us["baseline"] = (cpu_per_event_us["raw"] + cpu_per_event_us["raw2"]) / 2
    rows = [
        ("raw fastavro + Producer (mean)", "baseline", baseline),
        ("client ceiling (pre-encoded bytes)", "client", figures["client"]),
        ("BiometricsProducer.send", "send", figures["send"]),
        (f"produce loop, {WARD} patients", "loop", figures["loop"]),
        ("produce --workers 1", "w1", figures["w1"]),
        ("produce --workers 2", "w2", figures["w2"]),
        (f"produce loop, {LARGE_WARD:,} patients", "large", figures["large"]),
    ]
    print(f"{'path':38s} {'events/s':>10s}   ratio   CPU us/event")
    for label, name, rate in rows:
        cpu_us = cpu_per_event_us[name]
        print(f"{label:38s} {rate:>10,.0f}   {rate / baseline:5.2f}   {cpu_us:8.1f}")
    print(
        f"{LARGE_WARD:,} patients drawn and settled in {ward['drawn_s']:.1f} s "
        f"({ward['drawing_cpu_s']:.1f} s of CPU, before the first reading, not in the figures "
        f"above), peak memory +{ward['added_mib']:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
