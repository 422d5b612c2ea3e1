"""The whole pipeline on the real engines: Avro to Kafka -> JDBC sink -> a PostgreSQL table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import psycopg
import pytest

from medrical.config import MedricalConfig
from medrical.producing import BiometricsProducer
from medrical.sink import ConnectClient
from tests.integration.helpers import (
    apply_connector,
    readings_sink_conf,
    sink_caught_up,
    synthetic_reading,
    table_row_count,
    unique_topic,
    wait_for,
    wait_for_rows,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def connector(live_config: MedricalConfig) -> Iterator[tuple[str, str]]:
    topic = unique_topic("skeleton")
    name = f"it-{topic}"
    yield topic, name
    with ConnectClient(live_config.connect) as client:
        client.delete(name)


def test_produced_rows_land_in_an_auto_created_table(
    live_config: MedricalConfig, connector: tuple[str, str]
) -> None:
    topic, name = connector
    readings = [synthetic_reading(i) for i in range(300)]

    with BiometricsProducer(live_config, topic) as producer:
        for reading in readings:
            producer.send(reading)
    assert producer.stats.delivered == len(readings)
    assert producer.stats.failed == 0

    conf = readings_sink_conf(live_config, topic)
    assert conf["topics.regex"] != "biometrics_(.*)"  # this test's own topic only
    apply_connector(live_config, name, conf, validate=True)
    with ConnectClient(live_config.connect) as client:
        stored = client.config(name)
    assert stored is not None
    # The stored configuration refers to the password; it never holds it.
    assert stored["connection.password"].startswith("${file:")

    wait_for_rows(live_config, topic, len(readings), timeout_s=90)

    with psycopg.connect(**live_config.postgres.connect_kwargs()) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s",
                (topic,),
            ).fetchall()
        )
        rows = conn.execute(
            f"SELECT patient_id, event_time, heart_rate, spo2, on_oxygen, consciousness "  # noqa: S608
            f'FROM "{topic}" ORDER BY event_time'
        ).fetchall()

    assert types["event_time"].startswith("timestamp")
    assert types["heart_rate"] == "integer"
    assert types["body_temperature"] in ("real", "double precision")
    assert types["on_oxygen"] == "boolean"
    assert types["patient_id"] in ("text", "character varying")
    # The optional ground-truth onset becomes a nullable timestamp column like event_time.
    assert types["onset_time"].startswith("timestamp")

    expected = [
        (
            r["patient_id"],
            dt.datetime.fromtimestamp(int(str(r["event_time"])) / 1000, dt.UTC).replace(
                tzinfo=None
            ),
            r["heart_rate"],
            r["spo2"],
            r["on_oxygen"],
            r["consciousness"],
        )
        for r in readings
    ]
    normalised = [
        (
            row[0],
            row[1].replace(tzinfo=None)
            if row[1].tzinfo is None
            else row[1].astimezone(dt.UTC).replace(tzinfo=None),
            *row[2:],
        )
        for row in rows
    ]
    assert normalised == expected


def test_a_redelivered_event_is_stored_once(
    live_config: MedricalConfig, connector: tuple[str, str]
) -> None:
    """Upsert on (patient_id, event_time): sending the same readings twice keeps one row each."""
    topic, name = connector
    readings = [synthetic_reading(i) for i in range(50)]
    with BiometricsProducer(live_config, topic) as producer:
        for reading in readings + readings:
            producer.send(reading)
    apply_connector(live_config, name, readings_sink_conf(live_config, topic))
    wait_for_rows(live_config, topic, len(readings), timeout_s=90)
    # Once the sink has committed past the second copy of every record, count again.
    wait_for(
        lambda: sink_caught_up(live_config, name, topic),
        timeout_s=60,
        what="the sink to commit the end of the topic",
    )
    assert table_row_count(live_config, topic) == len(readings)
