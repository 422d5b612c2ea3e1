"""Live checks of the configured environment (`medrical test producer|connector`).

Each check works on a topic of its own (`biometrics_check_<random>`), measures what a user
would want to know, and cleans up after itself (topic, schema subjects, connector, table)
unless asked to keep them. A check that finds the system wrong raises CheckFailedError.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from psycopg import sql

from medrical.config import MedricalConfig
from medrical.errors import CheckFailedError, ServiceUnavailableError
from medrical.kafka_clients import client_conf, ensure_kafka_reachable
from medrical.producing.producer import BiometricsProducer
from medrical.producing.topics import delete_topic, ensure_topic
from medrical.schemas.registry import registry_client
from medrical.simulation import Simulator
from medrical.sink import DEFAULT_FLAVOR, ConnectClient, Flavor
from medrical.sink.deploy import connector_config, deploy_connector, remove_connector

log = logging.getLogger(__name__)

DEFAULT_EVENTS = 1000
CHECK_PATIENTS = 25
CHECK_PARTITIONS = 3
# A fixed start keeps every check's readings comparable; the seed varies per run.
_CHECK_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z

Report = Callable[[str], None]


def check_topic_name() -> str:
    """A brand-new topic name the sink can map (`biometrics_check_<hex>`)."""
    return f"biometrics_check_{uuid.uuid4().hex[:12]}"


def _records(count: int) -> list[dict[str, Any]]:
    seed = random.SystemRandom().randrange(2**31)
    readings = Simulator(CHECK_PATIENTS, seed, "mix", start_ms=_CHECK_START_MS).readings()
    return [next(readings).to_record() for _ in range(count)]


@dataclass(frozen=True)
class ProduceMeasure:
    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _produce(config: MedricalConfig, topic: str, records: list[dict[str, Any]]) -> ProduceMeasure:
    with BiometricsProducer(config, topic, check_reachable=False) as producer:
        started = time.monotonic()
        for record in records:
            producer.send(record)
        undelivered = producer.flush()
        elapsed = time.monotonic() - started
        stats = producer.stats
    if stats.failed or undelivered:
        raise CheckFailedError(
            f"{stats.failed + undelivered} of {len(records)} events were not delivered to "
            f"{topic} (first error: {stats.first_error or 'delivery timed out'})."
        )
    return ProduceMeasure(len(records), elapsed)


# --- the producer check ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProducerCheckResult:
    topic: str
    produced: ProduceMeasure
    consumed: int
    seconds_to_consume_all: float
    patients: int


def check_producer(
    config: MedricalConfig,
    *,
    events: int = DEFAULT_EVENTS,
    keep: bool = False,
    timeout_s: float = 60.0,
    report: Report = log.info,
) -> ProducerCheckResult:
    """Send `events` readings to a fresh topic, read them back, and verify each one."""
    ensure_kafka_reachable(config, timeout_s=5.0)
    topic = check_topic_name()
    records = _records(events)
    with _scratch_topic(config, topic, keep=keep, report=report):
        report(f"producing {events} events to {topic}")
        produced = _produce(config, topic, records)
        report(f"produced in {produced.seconds:.2f} s; reading them back")
        started = time.monotonic()
        consumed = _consume_all(config, topic, events, timeout_s)
        seconds = time.monotonic() - started
        _verify(records, consumed)
    patients = len({record["patient_id"] for record in records})
    return ProducerCheckResult(topic, produced, len(consumed), seconds, patients)


def _consume_all(
    config: MedricalConfig, topic: str, expected: int, timeout_s: float
) -> list[dict[str, Any]]:
    """Every value on `topic`, decoded with the schema it was written with, in the order each
    partition holds them."""
    consumer = Consumer(
        client_conf(
            config,
            **{
                "group.id": f"medrical-check-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            },
        )
    )
    registry = registry_client(config)
    try:
        deserializer = AvroDeserializer(registry)
        context = SerializationContext(topic, MessageField.VALUE)
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        consumer.assign([TopicPartition(topic, number, 0) for number in partitions])
        values: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while len(values) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise CheckFailedError(f"reading {topic} failed: {message.error()}")
            try:
                value = deserializer(message.value(), context)
            except Exception as exc:  # any decoding failure is what this check looks for
                raise CheckFailedError(
                    f"event at {topic}[{message.partition()}]@{message.offset()} does not "
                    f"decode with its schema: {exc}"
                ) from exc
            values.append(value)
        return values
    finally:
        consumer.close()
        registry.close()


def _as_sent(value: Any) -> Any:
    """A decoded value in the shape it was sent in: timestamps as epoch milliseconds, and
    single-precision floats (body temperature, to 0.1) back at their one decimal."""
    if isinstance(value, datetime):
        return round(value.astimezone(UTC).timestamp() * 1000)
    if isinstance(value, float):
        return round(value, 1)
    return value


def _verify(sent: list[dict[str, Any]], received: list[dict[str, Any]]) -> None:
    problems: list[str] = []
    if len(received) != len(sent):
        problems.append(f"{len(received)} of {len(sent)} events came back")
    normalised = [{k: _as_sent(v) for k, v in value.items()} for value in received]
    by_patient_sent: dict[str, list[int]] = defaultdict(list)
    for record in sent:
        by_patient_sent[record["patient_id"]].append(record["event_time"])
    by_patient_received: dict[str, list[int]] = defaultdict(list)
    for value in normalised:
        by_patient_received[value["patient_id"]].append(value["event_time"])
    out_of_order = [
        patient
        for patient, times in by_patient_received.items()
        if times != sorted(times) or times != by_patient_sent[patient][: len(times)]
    ]
    if out_of_order:
        problems.append(f"events of {len(out_of_order)} patient(s) came back out of order")
    key = ("patient_id", "event_time")
    sent_by_key = {tuple(record[k] for k in key): record for record in sent}
    differing = sum(
        1 for value in normalised if sent_by_key.get(tuple(value[k] for k in key)) != value
    )
    if differing:
        problems.append(f"{differing} event(s) came back different from what was sent")
    if problems:
        raise CheckFailedError("producer check failed: " + "; ".join(problems) + ".")


# --- the connector check -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorCheckResult:
    topic: str
    connector: str
    produced: ProduceMeasure
    seconds_to_running: float
    seconds_to_table: float
    seconds_to_all_rows: float
    rows: int


def check_connector(
    config: MedricalConfig,
    *,
    events: int = DEFAULT_EVENTS,
    flavor: Flavor = DEFAULT_FLAVOR,
    keep: bool = False,
    deadline_s: float = 120.0,
    report: Report = log.info,
) -> ConnectorCheckResult:
    """Publish to a brand-new topic, apply a connector for it alone, and time the table."""
    ensure_kafka_reachable(config, timeout_s=5.0)
    topic = check_topic_name()
    name = f"medrical-check-{topic.removeprefix('biometrics_check_')}"
    records = _records(events)
    with (
        _scratch_topic(config, topic, keep=keep, report=report),
        ConnectClient(config.connect) as client,
        # Left in reverse: the connector goes before its table, so it cannot recreate it.
        _scratch_table(config, topic, keep=keep, report=report),
        _scratch_connector(client, name, keep=keep, report=report),
    ):
        report(f"producing {events} events to {topic}")
        produced = _produce(config, topic, records)
        conf = connector_config(config, flavor=flavor, topics_regex=topic)
        started = time.monotonic()
        report(f"applying connector {name} for {topic} alone")
        deploy_connector(client, name, conf, timeout_s=min(deadline_s, 60.0), report=report)
        running = time.monotonic() - started
        deadline = started + deadline_s
        to_table = _wait(
            lambda: _row_count(config, topic) is not None,
            deadline,
            f"table {topic} was not created within {deadline_s:.0f} s",
        )
        report(f"table {topic} exists after {to_table - started:.1f} s")
        rows = 0

        def all_rows() -> bool:
            nonlocal rows
            rows = _row_count(config, topic) or 0
            return rows >= events

        try:
            to_rows = _wait(all_rows, deadline, "")
        except CheckFailedError:
            raise CheckFailedError(
                f"only {rows} of {events} rows reached table {topic} within {deadline_s:.0f} s.",
                hint=f"See `medrical connector status --name {name}` (with --keep).",
            ) from None
    return ConnectorCheckResult(
        topic, name, produced, running, to_table - started, to_rows - started, rows
    )


def _wait(condition: Callable[[], bool], deadline: float, failure: str) -> float:
    """Poll `condition` until it holds; return when it did (monotonic clock)."""
    while True:
        if condition():
            return time.monotonic()
        if time.monotonic() >= deadline:
            raise CheckFailedError(failure + ".")
        time.sleep(0.25)


def _row_count(config: MedricalConfig, table: str) -> int | None:
    """Rows in `table`, or None while it does not exist."""
    try:
        with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
            found = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
            if found is None or found[0] is None:
                return None
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            return int(row[0]) if row else 0
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(
            "PostgreSQL",
            f"cannot reach {config.postgres.host}:{config.postgres.port} ({exc}).",
            hint="Check the postgres settings (`medrical config check`).",
        ) from exc


# --- clean-up ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _scratch_topic(
    config: MedricalConfig, topic: str, *, keep: bool, report: Report
) -> Iterator[None]:
    ensure_topic(config, topic, partitions=CHECK_PARTITIONS)
    try:
        yield
    finally:
        if keep:
            report(f"kept topic {topic}")
        else:
            _best_effort(partial(delete_topic, config, topic))
            registry = registry_client(config)
            try:
                for subject in (f"{topic}-key", f"{topic}-value"):
                    _best_effort(partial(registry.delete_subject, subject))
            finally:
                registry.close()


@contextlib.contextmanager
def _scratch_connector(
    client: ConnectClient, name: str, *, keep: bool, report: Report
) -> Iterator[None]:
    try:
        yield
    finally:
        if keep:
            report(f"kept connector {name}")
        else:
            _best_effort(partial(remove_connector, client, name))


@contextlib.contextmanager
def _scratch_table(
    config: MedricalConfig, table: str, *, keep: bool, report: Report
) -> Iterator[None]:
    try:
        yield
    finally:
        if keep:
            report(f"kept table {table}")
        else:

            def drop() -> None:
                with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))

            _best_effort(drop)


def _best_effort(action: Callable[[], object]) -> None:
    """Clean-up must not hide the check's own outcome: log what could not be removed."""
    try:
        action()
    except Exception as exc:
        log.warning("clean-up step failed: %s", exc)
