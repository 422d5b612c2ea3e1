"""Alert latency of `medrical monitor` on a live stack, and its decode and scoring throughput.

Three measurements, in one run:

1. Throughput, in-process, no server: the alert engine scoring ready-made readings (scoring
   alone), against the monitor's path from Confluent-framed Avro bytes (cached fastavro reader
   -> checked reading -> engine), and the decoders alone (the cached reader against
   confluent-kafka's AvroDeserializer, over an in-memory registry). The cached reader alone
   is the baseline the monitor's drain rate is held against.

2. Backlog drain, live: `--backlog` readings of a mixed ward are produced first, then one
   `medrical monitor` process, and then two in one group, work through them; each drain rate
   counts from the first committed offset to the last (decode, carry-forward, scoring,
   alerts, state and transactions all included).

3. Latency, live: `medrical monitor` runs as its own process against the stack the
   environment configures (the usual MEDRICAL_* / KAFKA_BOOTSTRAP_SERVERS variables or the
   configuration file), while this process sends `--patients` patients' readings, one per
   patient per `--interval` seconds, stamped with the wall clock as event time. From a
   staggered moment on, each patient's vitals turn bad (NEWS2 7+ with a red score), so that
   escalation and red-score alerts keep arriving through the run. For every alert:
   event time -> alert produced (the alert record's Kafka timestamp, set when the monitor
   produced it), and event time -> alert visible to a read_committed consumer (which adds
   the wait for the transaction's commit), overall and per 30 s of the run. The group's lag
   is sampled every 5 s, and the monitor's commit-time histogram read from its
   `--metrics-port` at the end.

Run against the running local stack (the hospital-scale figures of docs/monitor.md):

    .venv/bin/python benchmarks/bench_monitor_latency.py --patients 10000 --duration 300
        [--backlog 300000] [--json]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import schemaless_writer
from prometheus_client.parser import text_string_to_metric_families

from medrical import schemas
from medrical.config import MedricalConfig, load_config
from medrical.kafka_clients import client_conf
from medrical.monitor import AlertEngine
from medrical.monitor.events import reading_fields
from medrical.monitor.records import alerts_topic_for
from medrical.producing import BiometricsProducer
from medrical.schemas.registry import registry_client
from medrical.schemas.wire import CachedAvroDecoder
from medrical.simulation import Simulator

START_MS = 1_767_225_600_000
MEDRICAL = Path(sys.executable).with_name("medrical")


# -- 1. throughput --------------------------------------------------------------------------


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def throughput(events: int, patients: int) -> dict[str, float]:
    simulator = Simulator(patients, 11, "mix", interval_s=1.0, start_ms=START_MS)
    records = [r.to_record() for r in itertools.islice(simulator.readings(), events)]
    text = schemas.schema_text(schemas.BIOMETRICS_VALUE)
    parsed = schemas.parsed_schema(schemas.BIOMETRICS_VALUE)
    header = struct.pack(">bI", 0, 1)
    payloads = []
    for record in records:
        body = io.BytesIO()
        body.write(header)
        schemaless_writer(body, parsed, record)
        payloads.append(body.getvalue())
    prebuilt = [reading_fields(record) for record in records]

    engine = AlertEngine()
    started = time.perf_counter()
    for fields in prebuilt:
        engine.process_fields(fields, raised_at=fields[1])
    scoring = _rate(len(prebuilt), time.perf_counter() - started)

    engine = AlertEngine()
    decoder = CachedAvroDecoder(lambda _: text)
    started = time.perf_counter()
    for payload in payloads:
        fields = reading_fields(decoder.decode(payload))
        engine.process_fields(fields, raised_at=fields[1])
    decode_and_score = _rate(len(payloads), time.perf_counter() - started)

    started = time.perf_counter()
    for payload in payloads:
        decoder.decode(payload)
    cached_decode = _rate(len(payloads), time.perf_counter() - started)

    registry = SchemaRegistryClient.new_client({"url": "mock://bench"})
    try:
        context = SerializationContext("biometrics_bench", MessageField.VALUE)
        serialize = AvroSerializer(registry, text)
        framed = [serialize(record, context) for record in records]
        deserialize = AvroDeserializer(registry)
        started = time.perf_counter()
        for payload in framed:
            deserialize(payload, context)
        deserializer_decode = _rate(len(framed), time.perf_counter() - started)
    finally:
        registry.close()
    return {
        "events": float(len(records)),
        "scoring_per_s": scoring,
        "decode_and_score_per_s": decode_and_score,
        "score_share_of_decode_and_score": decode_and_score / scoring,
        "cached_decoder_per_s": cached_decode,
        "avro_deserializer_per_s": deserializer_decode,
        "cached_over_deserializer": cached_decode / deserializer_decode,
    }


# -- 2. latency -----------------------------------------------------------------------------


def vitals(patient: int, event_time: int, bad: bool) -> dict[str, Any]:
    """A reading scoring 0, or (when bad) 9 with a red score in respiration rate."""
    wobble = patient % 3
    return {
        "patient_id": f"B-{patient:06d}",
        "event_time": event_time,
        "heart_rate": 118 + wobble if bad else 72 + wobble,
        "systolic_bp": 98 if bad else 124,
        "diastolic_bp": 60 if bad else 78,
        "body_temperature": 38.6 if bad else 36.8,
        "spo2": 95 if bad else 98,
        "respiratory_rate": 27 if bad else 15,
        "consciousness": "A",
        "on_oxygen": False,
        "scenario": "bench",
        "spo2_scale": 1,
    }


class AlertCollector(threading.Thread):
    """Reads the alerts topic as a read_committed consumer and records latencies."""

    def __init__(self, config: MedricalConfig, topic: str) -> None:
        super().__init__(daemon=True)
        self.topic = topic
        self.produced_ms: list[int] = []
        self.visible_ms: list[int] = []
        self.seen_at: list[float] = []  # when each alert was read (s since the epoch)
        self.stop = threading.Event()
        self._consumer = Consumer(
            client_conf(
                config,
                **{
                    "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
                    "isolation.level": "read_committed",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 10,
                },
            )
        )
        self._registry = registry_client(config)
        self._decoder = CachedAvroDecoder(lambda i: str(self._registry.get_schema(i).schema_str))

    def run(self) -> None:
        self._consumer.subscribe([self.topic])
        while not self.stop.is_set():
            # A short timeout: consume() waits for a full batch until it expires.
            for message in self._consumer.consume(200, timeout=0.005):
                now = int(time.time() * 1000)
                if message.error() is not None:
                    continue
                alert = self._decoder.decode(message.value() or b"")
                _, produced = message.timestamp()
                self.produced_ms.append(produced - alert["event_time"])
                self.visible_ms.append(now - alert["event_time"])
                self.seen_at.append(now / 1000)
        self._consumer.close()
        self._registry.close()


def _percentiles(values: list[int]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"count": len(values), "p50_ms": None, "p99_ms": None, "max_ms": None}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "count": len(values),
        "p50_ms": cuts[49],
        "p99_ms": cuts[98],
        "max_ms": float(max(values)),
    }


def _windows(
    collector: AlertCollector, started: float, every_s: float
) -> list[dict[str, float | None]]:
    """Latency percentiles per `every_s` of the run, by when the alert was read: where in the
    run the tail comes from."""
    buckets: dict[int, tuple[list[int], list[int]]] = {}
    for at, produced_ms, visible_ms in zip(
        collector.seen_at, collector.produced_ms, collector.visible_ms, strict=True
    ):
        bucket = buckets.setdefault(int((at - started) // every_s), ([], []))
        bucket[0].append(produced_ms)
        bucket[1].append(visible_ms)
    out: list[dict[str, float | None]] = []
    for index in sorted(buckets):
        produced, visible = buckets[index]
        p, v = _percentiles(produced), _percentiles(visible)
        out.append({
            "from_s": index * every_s,
            "count": len(produced),
            "produced_p99_ms": p["p99_ms"],
            "visible_p99_ms": v["p99_ms"],
            "visible_max_ms": v["max_ms"],
        })  # fmt: skip
    return out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lag(config: MedricalConfig, group: str, topic: str, partitions: int) -> int:
    consumer = Consumer(client_conf(config, **{"group.id": group, "enable.auto.commit": False}))
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = consumer.committed(tps, timeout=10)
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
    finally:
        consumer.close()
    return sum(end - max(tp.offset, 0) for tp, end in zip(committed, ends, strict=True))


class LagSampler(threading.Thread):
    """The group's lag every `every_s` seconds, off the sending loop."""

    def __init__(
        self, config: MedricalConfig, group: str, topic: str, partitions: int, every_s: float
    ) -> None:
        super().__init__(daemon=True)
        self._args = (config, group, topic, partitions)
        self._every_s = every_s
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.time()
        while not self.stop.wait(self._every_s):
            try:
                self.samples.append((time.time() - started, _lag(*self._args)))
            except Exception as exc:  # a sample missed is reported, not fatal
                print(f"lag sample failed: {exc}", file=sys.stderr)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _commit_times(port: int) -> dict[str, float | None]:
    """The monitor's transaction commit time (its histogram): count, mean, and the bounds of
    the buckets holding p50 and p99."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    buckets: dict[float, float] = {}
    count = total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "medrical_monitor_transaction_commit_seconds_bucket":
                buckets[float(sample.labels["le"])] = sample.value
            elif sample.name == "medrical_monitor_transaction_commit_seconds_count":
                count = sample.value
            elif sample.name == "medrical_monitor_transaction_commit_seconds_sum":
                total = sample.value

    def bound(q: float) -> float | None:
        return next((le for le in sorted(buckets) if buckets[le] >= q * count), None)

    return {
        "count": count,
        "mean_ms": 1000 * total / count if count else None,
        "p50_ms_at_most": None if (b := bound(0.5)) is None else 1000 * b,
        "p99_ms_at_most": None if (b := bound(0.99)) is None else 1000 * b,
    }


def _monitor(
    topic: str, group: str, instance: str, metrics_port: int | None = None
) -> subprocess.Popen[bytes]:
    command = [str(MEDRICAL), "-q", "monitor", "--no-connector", "--topics", f"^{topic}$"]
    if metrics_port is not None:
        command += ["--metrics-port", str(metrics_port)]
    return subprocess.Popen(
        [*command, "--group", group, "--instance-id", instance],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _stop(monitor: subprocess.Popen[bytes]) -> str:
    if monitor.poll() is None:
        monitor.send_signal(signal.SIGTERM)
    out, _ = monitor.communicate(timeout=60)
    return out.decode().strip().splitlines()[-1] if out else ""


def _create(admin: AdminClient, topic: str, partitions: int) -> None:
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions)]).values():
        future.result()


def _delete(admin: AdminClient, topics: list[str]) -> None:
    for future in admin.delete_topics(topics).values():
        try:
            future.result()
        except Exception as exc:  # best-effort clean-up of the benchmark's own topics
            print(f"could not delete a benchmark topic: {exc}", file=sys.stderr)


def drain(config: MedricalConfig, backlog: int, partitions: int) -> dict[str, Any]:
    """Backlog drain rate of one monitor process, then of two in one group."""
    name = f"bench_drain_{uuid.uuid4().hex[:8]}"
    topic = f"biometrics_{name}"
    admin = AdminClient(client_conf(config))
    _create(admin, topic, partitions)
    ward = ["--patients", "1000", "--scenario", "mix", "--seed", "7", "--interval", "60"]
    start = ["--start", "2026-01-01T00:00:00Z", "--speed", "max", "--count", str(backlog)]
    subprocess.run(
        [str(MEDRICAL), "-q", "produce", "--topic", topic, *ward, *start],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result: dict[str, Any] = {"readings": backlog}
    try:
        for processes in (1, 2):
            group = f"bench-{processes}-{name}"
            monitors = [_monitor(topic, group, f"{group}-{i}") for i in range(processes)]
            launched = time.time()
            first: tuple[float, int, float] | None = None
            while True:
                done = backlog - _lag(config, group, topic, partitions)
                now = time.time()
                if first is None and done > 0:
                    first = (now, done, sum(_cpu_seconds(m.pid) for m in monitors))
                if done >= backlog or now - launched > 900:
                    break
                time.sleep(0.2)
            cpu = sum(_cpu_seconds(m.pid) for m in monitors)
            summaries = [_stop(m) for m in monitors]
            if first is None or done < backlog:
                raise SystemExit(f"the monitor did not drain the backlog: {summaries}")
            seconds = now - first[0]
            result[f"processes_{processes}"] = {
                "readings_per_s": (backlog - first[1]) / seconds if seconds > 0 else None,
                # CPU the monitor processes spent per reading, all of them together.
                "cpu_us_per_reading": 1e6 * (cpu - first[2]) / max(1, backlog - first[1]),
                "seconds_from_launch": now - launched,
                "summaries": summaries,
            }
    finally:
        _delete(admin, [topic, alerts_topic_for(topic)])
    return result


def latency(
    config: MedricalConfig, patients: int, interval_s: float, duration_s: float, partitions: int
) -> dict[str, Any]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    topic = f"biometrics_{name}"
    admin = AdminClient(client_conf(config))
    _create(admin, topic, partitions)
    group = f"bench-{name}"
    metrics_port = _free_port()
    monitor = _monitor(topic, group, group, metrics_port)
    collector = AlertCollector(config, alerts_topic_for(topic))
    sampler = LagSampler(config, group, topic, partitions, every_s=5.0)
    # Send each reading within milliseconds: its event time is the send time.
    overrides: dict[str, Any] = {"linger.ms": 5}
    producer = BiometricsProducer(config, topic, **overrides)
    try:
        # Patients turn bad one after another over the middle of the run, so that alerts
        # (60 s of confirmation later) arrive at a steady pace while the full load runs.
        warmup_s = 20.0
        turns_bad = [
            warmup_s + (duration_s - warmup_s - 80.0) * p / patients for p in range(patients)
        ]
        started = time.time()
        collector.start()
        sampler.start()
        cpu_before: float | None = None
        sent = 0
        slot = 0
        period_ms = interval_s * 1000
        while True:
            now = time.time()
            elapsed = now - started
            if elapsed >= duration_s:
                break
            if cpu_before is None and elapsed >= warmup_s:
                cpu_before, wall_before, sent_before = _cpu_seconds(monitor.pid), now, sent
            # Each patient is due once per interval, staggered evenly across it.
            due = int((elapsed * 1000) / period_ms * patients)
            while slot < due:
                patient = slot % patients
                event_time = int(time.time() * 1000)
                bad = elapsed >= turns_bad[patient]
                producer.send(vitals(patient, event_time, bad))
                sent += 1
                slot += 1
            producer.poll(0)
            time.sleep(0.005)
        producer.flush(30)
        assert cpu_before is not None
        monitor_cpu = (_cpu_seconds(monitor.pid) - cpu_before) / (time.time() - wall_before)
        achieved = (sent - sent_before) / (time.time() - wall_before)
        sampler.stop.set()
        sampler.join(timeout=30)
        time.sleep(3.0)
        lag = _lag(config, group, topic, partitions)
        commits = _commit_times(metrics_port)
    finally:
        producer.close()
        summary = _stop(monitor)
        collector.stop.set()
        collector.join(timeout=30)
        _delete(admin, [topic, alerts_topic_for(topic)])
    lags = [lag for _, lag in sampler.samples]
    half = len(lags) // 2
    return {
        "patients": patients,
        "interval_s": interval_s,
        "offered_readings_per_s": patients / interval_s,
        "achieved_readings_per_s": achieved,
        "readings_sent": sent,
        "monitor_cpu_cores": monitor_cpu,
        "lag_at_end": lag,
        "lag_max": max(lags, default=None),
        "lag_max_first_half": max(lags[:half], default=None),
        "lag_max_second_half": max(lags[half:], default=None),
        "lag_samples": sampler.samples,
        "event_to_alert_produced": _percentiles(collector.produced_ms),
        "event_to_alert_visible_read_committed": _percentiles(collector.visible_ms),
        "windows": _windows(collector, started, 30.0),
        "commit_time": commits,
        "monitor_summary": summary,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0, help="s between readings")
    parser.add_argument("--duration", type=float, default=300.0, help="s of live load")
    parser.add_argument("--backlog", type=int, default=300_000, help="readings to drain")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--events", type=int, default=200_000, help="for the throughput part")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-drain", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.duration < 120:
        parser.error("--duration must be at least 120 s (alerts need 60 s of confirmation)")

    result: dict[str, Any] = {"throughput": throughput(args.events, 1000)}
    if not args.skip_drain:
        result["drain"] = drain(load_config(), args.backlog, args.partitions)
    if not args.skip_live:
        result["latency"] = latency(
            load_config(), args.patients, args.interval, args.duration, args.partitions
        )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    t = result["throughput"]
    print(f"Throughput, one core, {t['events']:.0f} simulated events:")
    print(f"  scoring alone (events ready):     {t['scoring_per_s']:>9,.0f} /s")
    print(f"  decode + event + score:           {t['decode_and_score_per_s']:>9,.0f} /s  "
          f"({t['score_share_of_decode_and_score']:.2f} of scoring alone)")  # fmt: skip
    print(f"  cached fastavro reader alone:     {t['cached_decoder_per_s']:>9,.0f} /s")
    print(f"  AvroDeserializer alone:           {t['avro_deserializer_per_s']:>9,.0f} /s  "
          f"(cached reader {t['cached_over_deserializer']:.1f}x faster)")  # fmt: skip
    if "drain" in result:
        d = result["drain"]
        baseline = t["cached_decoder_per_s"]
        print(f"Backlog drain, {d['readings']:,} readings, whole monitor processes:")
        for processes in (1, 2):
            rate = d[f"processes_{processes}"]["readings_per_s"]
            cpu_us = d[f"processes_{processes}"]["cpu_us_per_reading"]
            print(f"  {processes} process(es): {rate:>9,.0f} readings/s  "
                  f"({rate / baseline:.2f} of the cached reader alone; "
                  f"{cpu_us:.1f} us of monitor CPU per reading)")  # fmt: skip
    if "latency" in result:
        lat = result["latency"]
        print(
            f"Latency, {lat['patients']} patients x 1 reading / {lat['interval_s']:g} s "
            f"(offered {lat['offered_readings_per_s']:,.0f}/s, achieved "
            f"{lat['achieved_readings_per_s']:,.0f}/s; monitor used "
            f"{lat['monitor_cpu_cores']:.2f} of {lat['cpus']} cores; lag max "
            f"{lat['lag_max']} (first half {lat['lag_max_first_half']}, second half "
            f"{lat['lag_max_second_half']}), at end {lat['lag_at_end']}):"
        )
        for label, key in (
            ("event time -> alert produced", "event_to_alert_produced"),
            (
                "event time -> alert visible (read_committed)",
                "event_to_alert_visible_read_committed",
            ),
        ):
            p = lat[key]
            print(
                f"  {label}: n={p['count']} p50={p['p50_ms']} ms p99={p['p99_ms']} ms "
                f"max={p['max_ms']} ms"
            )
        c = lat["commit_time"]
        print(
            f"  transaction commits: {c['count']:.0f}, mean {c['mean_ms']:.1f} ms, "
            f"p50 <= {c['p50_ms_at_most']} ms, p99 <= {c['p99_ms_at_most']} ms"
        )
        print("  by 30 s of the run (when read): alerts, p99 produced / visible, max visible")
        for w in lat["windows"]:
            print(
                f"    {w['from_s']:>4.0f} s: {w['count']:>5} alerts  {w['produced_p99_ms']} / "
                f"{w['visible_p99_ms']} ms  max {w['visible_max_ms']} ms"
            )
        print(f"  monitor: {lat['monitor_summary']}")


if __name__ == "__main__":
    main()
