"""Poison on a biometrics topic: `medrical monitor`, run as a user runs it, skips and counts
every undecodable or foreign message and scores every reading around them."""

from __future__ import annotations

import json
import re
import struct
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema

from medrical.config import MedricalConfig
from medrical.kafka_clients import client_conf, registry_client
from medrical.producing.producer import BiometricsProducer
from tests.integration.helpers import (
    caught_up,
    monitor_process,
    stop_process,
    synthetic_reading,
    unique_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

FOREIGN = json.dumps(
    {"type": "record", "name": "Foreign", "fields": [{"name": "n", "type": "long"}]}
)


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + body


def test_the_monitor_skips_and_counts_poison_and_scores_every_reading(
    live_config: MedricalConfig,
) -> None:
    topic = unique_topic("poison")
    registry = registry_client(live_config)
    try:
        foreign_id = registry.register_schema(f"{topic}-foreign-value", Schema(FOREIGN, "AVRO"))
    finally:
        registry.close()
    poison = [
        b"",
        b"not avro at all",
        b"\x01\x00\x00\x00\x01garbage",  # wrong magic byte
        framed(2**31 - 1, b"\x02"),  # a schema id nobody registered
        framed(foreign_id, b"\x02"),  # a foreign record, well formed
        framed(foreign_id, b"\xff\xff\xff"),  # a foreign record, truncated
        b'{"patient_id": "P-1", "event_time": 0}',  # JSON, not Avro
    ]
    good = [synthetic_reading(index) for index in range(40)]

    with BiometricsProducer(live_config, topic) as producer:
        for record in good[:20]:
            producer.send(record)
    raw = Producer(client_conf(live_config))
    for value in poison:
        raw.produce(topic, value=value, key=b"P-000001")
    assert raw.flush(30) == 0
    with BiometricsProducer(live_config, topic) as producer:
        for record in good[20:]:
            producer.send(record)

    group = f"it-poison-{uuid.uuid4().hex[:8]}"
    process = monitor_process(live_config, topic, group, f"{group}-1")
    try:
        wait_for(
            lambda: caught_up(live_config, group, topic) if process.poll() is None else False,
            timeout_s=180,
            what="the monitor to commit past the poison",
        )
        assert process.poll() is None, "the monitor kept running"
    finally:
        code, output = stop_process(process)
    assert code == 0, output
    assert "Traceback" not in output
    summary = re.search(
        r"scored (\d+) readings .*\((\d+) repeated or out of order, (\d+) invalid\)", output
    )
    assert summary is not None, output
    scored, ignored, invalid = (int(group) for group in summary.groups())
    assert invalid == len(poison), output
    assert scored + ignored == len(good), output
