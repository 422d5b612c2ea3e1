"""Polling helpers for integration tests: wait on a condition with a deadline, no bare sleeps."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import psycopg

from medrical.config import MedricalConfig

T = TypeVar("T")


START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def synthetic_reading(index: int, patients: int = 7) -> dict[str, object]:
    """The index-th of a plain, valid stream of readings over `patients` patients."""
    return {
        "patient_id": f"P-{index % patients + 1:06d}",
        "event_time": START_MS + index * 1000,
        "heart_rate": 60 + index % 40,
        "systolic_bp": 110 + index % 30,
        "diastolic_bp": 70 + index % 10,
        "body_temperature": 36.5,
        "spo2": 95 + index % 5,
        "respiratory_rate": 12 + index % 8,
        "consciousness": "A",
        "on_oxygen": index % 2 == 0,
        "scenario": "stable",
        "spo2_scale": 1,
    }


def unique_topic(prefix: str = "it") -> str:
    return f"biometrics_{prefix}_{uuid.uuid4().hex[:10]}"


def wait_for(
    probe: Callable[[], T | None], *, timeout_s: float, interval_s: float = 0.5, what: str
) -> T:
    """Call `probe` until it returns something other than None, or fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception as exc:  # the condition may not be reachable yet
            last = exc
            result = None
        if result is not None:
            return result
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last})")


def table_row_count(config: MedricalConfig, table: str) -> int | None:
    """Rows in a table, or None while the table does not exist."""
    with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
        if exists is None or exists[0] is None:
            return None
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608
        return int(row[0]) if row else 0


def sink_caught_up(config: MedricalConfig, connector: str, topic: str) -> bool | None:
    """True once the sink connector's consumer group has committed the end of every partition
    of `topic` (Connect names that group `connect-<connector>`); None before."""
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    from medrical.kafka_clients import client_conf

    admin = AdminClient(client_conf(config))
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(
        f"connect-{connector}", [TopicPartition(topic, p) for p in partitions]
    )
    committed = admin.list_consumer_group_offsets([request])[request.group_id].result(timeout=10)
    consumer = Consumer(client_conf(config, **{"group.id": f"probe-{uuid.uuid4().hex}"}))
    try:
        for tp in committed.topic_partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), 10)
            if tp.offset < high:
                return None
    finally:
        consumer.close()
    return True
