"""Medrical's COPY sink on the real engines: the same tables as Debezium's JDBC sink, every
reading once through redeliveries, a worker killed mid-drain and a schema that grows, and only
the records PostgreSQL refuses in the dead letters.

Each test compares what the table holds with the stream it was sent, or with what Debezium's
sink stored of the very same stream.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.producing import BiometricsProducer
from medrical.producing.topics import ensure_topic
from medrical.sink import ConnectClient
from medrical.sink.connector import sink_config
from medrical.sink.dead_letters import read_dead_letters
from medrical.stack.layout import StackLayout
from tests.integration.helpers import (
    apply_connector,
    kill_service,
    readings_sink_conf,
    restart_stack,
    settle,
    sink_caught_up,
    synthetic_reading,
    table_row_count,
    unique_topic,
    wait_for,
)

pytestmark = pytest.mark.integration


def _produce(
    config: MedricalConfig,
    topic: str,
    records: list[dict[str, Any]],
    value_schema: str = schemas.BIOMETRICS_VALUE,
) -> None:
    with BiometricsProducer(config, topic, value_schema=value_schema) as producer:
        for record in records:
            producer.send(record)
        assert producer.flush(60) == 0


def _apply(
    config: MedricalConfig, connectors: list[str], topic: str, conf: dict[str, str] | None = None
) -> str:
    name = f"medrical-it-{topic}"
    connectors.append(name)
    apply_connector(config, name, conf or readings_sink_conf(config, f"^{topic}$"), validate=True)
    return name


def _rows(config: MedricalConfig, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
        columns = _columns(conn, table)
        order = ", ".join(f'"{name}"' for name, _ in columns)
        query = f'SELECT {order} FROM "{table}" ORDER BY patient_id, event_time'  # noqa: S608
        return conn.execute(query).fetchall()


def _columns(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, str]]:
    return [
        (str(name), f"{kind} {'NULL' if nullable == 'YES' else 'NOT NULL'}")
        for name, kind, nullable in conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_name = %s ORDER BY column_name",
            (table,),
        )
    ]


def _primary_key(conn: psycopg.Connection[Any], table: str) -> list[str]:
    return [
        str(row[0])
        for row in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attname",
            (f'"{table}"',),
        )
    ]


def _dead_letter_count(config: MedricalConfig, topic: str) -> int:
    return sum(1 for letter in read_dead_letters(config) if letter.topic == topic)


def test_the_copy_sink_stores_what_debeziums_stores(
    live_config: MedricalConfig, connectors: list[str]
) -> None:
    """The same 5,000 readings (with nulls, text needing escapes, an onset time) through each
    sink: the same columns, types, primary key and rows."""
    copy_topic, debezium_topic = unique_topic("copy"), unique_topic("dbz")
    readings = [synthetic_reading(i, patients=50) for i in range(5000)]
    for i, reading in enumerate(readings):
        if i % 7 == 0:
            reading["heart_rate"] = None
            reading["consciousness"] = None
        if i % 11 == 0:
            reading["scenario"] = 'tab\there, "quoted", back\\slash,\nnew line, ünïcode'
        if i % 13 == 0:
            reading["onset_time"] = reading["event_time"]
            reading["body_temperature"] = 38.25
    for topic in (copy_topic, debezium_topic):
        ensure_topic(live_config, topic)
        _produce(live_config, topic, readings)
    copy_name = _apply(live_config, connectors, copy_topic)
    secrets = StackLayout.of(live_config.stack).connect_secrets_file
    debezium = sink_config(
        live_config, flavor="debezium", topics_regex=f"^{debezium_topic}$", password_file=secrets
    )
    debezium_name = _apply(live_config, connectors, debezium_topic, debezium)
    settle(live_config, copy_name, copy_topic, len(readings))
    settle(live_config, debezium_name, debezium_topic, len(readings))
    with psycopg.connect(**live_config.postgres.connect_kwargs()) as conn:
        assert _columns(conn, copy_topic) == _columns(conn, debezium_topic)
        assert _primary_key(conn, copy_topic) == ["event_time", "patient_id"]
        assert _primary_key(conn, debezium_topic) == ["event_time", "patient_id"]
    copied = _rows(live_config, copy_topic)
    assert len(copied) == len(readings)
    assert copied == _rows(live_config, debezium_topic)
    assert _dead_letter_count(live_config, copy_topic) == 0


def test_a_stream_sent_again_with_changes_is_stored_once_the_last_values_winning(
    live_config: MedricalConfig, connectors: list[str]
) -> None:
    """3,000 readings, then the same keys again (the first 1,000 with a new heart rate, some
    twice in one batch): 3,000 rows holding the values sent last."""
    topic = unique_topic("copyagain")
    ensure_topic(live_config, topic)
    first = [synthetic_reading(i, patients=30) for i in range(3000)]
    _produce(live_config, topic, first)
    name = _apply(live_config, connectors, topic)
    settle(live_config, name, topic, len(first))
    again = [dict(reading) for reading in first]
    for reading in again[:1000]:
        reading["heart_rate"] = 150
    _produce(live_config, topic, again + again[:500])
    wait_for(
        lambda: sink_caught_up(live_config, name, topic),
        timeout_s=90,
        what="the sink to commit the end of the topic",
    )
    with psycopg.connect(**live_config.postgres.connect_kwargs()) as conn:
        count, distinct, high = conn.execute(
            f"SELECT count(*), count(DISTINCT (patient_id, event_time)),"  # noqa: S608
            f' count(*) FILTER (WHERE heart_rate = 150) FROM "{topic}"'
        ).fetchone() or (0, 0, 0)
    assert (count, distinct, high) == (3000, 3000, 1000)


def test_a_worker_killed_mid_drain_leaves_every_reading_stored_once(
    live_config: MedricalConfig, connectors: list[str]
) -> None:
    """`kill -9` of the Connect worker while it drains 60,000 readings: after the restart the
    table holds exactly the keys sent, as an undisturbed drain leaves it."""
    topic = unique_topic("copykill")
    ensure_topic(live_config, topic)
    readings = [synthetic_reading(i, patients=600) for i in range(60_000)]
    _produce(live_config, topic, readings)
    name = _apply(live_config, connectors, topic)
    wait_for(
        lambda: True if (table_row_count(live_config, topic) or 0) > 0 else None,
        timeout_s=60,
        interval_s=0.05,
        what="the first rows",
    )
    stored_at_kill = table_row_count(live_config, topic) or 0
    kill_service(live_config, "connect")
    restart_stack(live_config)
    settle(live_config, name, topic, len(readings))
    with psycopg.connect(**live_config.postgres.connect_kwargs()) as conn:
        keys = conn.execute(f'SELECT patient_id, event_time FROM "{topic}"').fetchall()  # noqa: S608
    assert len(keys) == len(set(keys)) == len(readings)
    expected = {(r["patient_id"], r["event_time"]) for r in readings}
    assert {(p, int(t.timestamp() * 1000)) for p, t in keys} == expected
    assert stored_at_kill < len(readings), "the drain ended before the kill; nothing was tested"


def test_a_schema_that_grows_adds_columns_and_keeps_the_rows_before(
    live_config: MedricalConfig, connectors: list[str]
) -> None:
    """Readings of the first schema (without scenario, spo2_scale, onset_time), then of the
    current one: the table gains the three columns, the first rows hold nulls in them."""
    topic = unique_topic("copygrow")
    ensure_topic(live_config, topic)
    old = [synthetic_reading(i) for i in range(500)]
    for reading in old:
        for field in ("scenario", "spo2_scale", "onset_time"):
            reading.pop(field, None)
    _produce(live_config, topic, old, value_schema=schemas.BIOMETRICS_VALUE_V1)
    name = _apply(live_config, connectors, topic)
    settle(live_config, name, topic, len(old))
    new = [synthetic_reading(i) for i in range(500, 1000)]
    _produce(live_config, topic, new)
    settle(live_config, name, topic, len(old) + len(new))
    with psycopg.connect(**live_config.postgres.connect_kwargs()) as conn:
        columns = dict(_columns(conn, topic))
        nulls = conn.execute(
            f'SELECT count(*) FROM "{topic}" WHERE scenario IS NULL'  # noqa: S608
        ).fetchone()
    assert columns["scenario"] == "text NULL"
    assert columns["spo2_scale"] == "integer NULL"
    assert columns["onset_time"] == "timestamp without time zone NULL"
    assert nulls == (len(old),)


def test_only_the_reading_postgres_refuses_goes_to_the_dead_letters(
    live_config: MedricalConfig, connectors: list[str]
) -> None:
    """2,000 readings, one of them with a NUL character PostgreSQL's text cannot hold: 1,999
    rows, one dead letter naming the database's refusal, the connector still running."""
    topic = unique_topic("copynul")
    ensure_topic(live_config, topic)
    readings = [synthetic_reading(i, patients=20) for i in range(2000)]
    readings[1234]["scenario"] = "stable\x00"
    _produce(live_config, topic, readings)
    name = _apply(live_config, connectors, topic)
    settle(live_config, name, topic, len(readings) - 1)
    wait_for(
        lambda: _dead_letter_count(live_config, topic) or None,
        timeout_s=60,
        what="the refused reading in the dead letters",
    )
    letters = [letter for letter in read_dead_letters(live_config) if letter.topic == topic]
    assert len(letters) == 1
    assert letters[0].stage == "TASK_PUT"
    assert "0x00" in (letters[0].message or ""), letters[0].message
    assert letters[0].value is not None  # the reading's own bytes, as they came
    assert table_row_count(live_config, topic) == len(readings) - 1
    with ConnectClient(live_config.connect) as client:
        state = client.status(name)
    assert state is not None
    assert state.running


def test_a_table_without_the_key_fails_the_task_and_diverts_nothing(
    live_config: MedricalConfig, connectors: list[str]
) -> None:
    """A table of the topic's name made beforehand without a primary key: a batch stored twice
    would be stored twice, so the task fails naming the cause, and no reading goes anywhere."""
    topic = unique_topic("copynokey")
    ensure_topic(live_config, topic)
    with psycopg.connect(**live_config.postgres.connect_kwargs()) as conn:
        conn.execute(f'CREATE TABLE "{topic}" (patient_id text, event_time timestamp)')
    _produce(live_config, topic, [synthetic_reading(i) for i in range(100)])
    name = f"medrical-it-{topic}"
    connectors.append(name)
    with ConnectClient(live_config.connect) as client:
        client.apply(name, readings_sink_conf(live_config, f"^{topic}$"))

        def failure() -> str | None:
            state = client.status(name)
            return (state.trace or "") if state is not None and state.failed else None

        trace = wait_for(failure, timeout_s=90, what="the task to fail")
    assert "has no primary key or unique index" in trace, trace
    assert table_row_count(live_config, topic) == 0
    assert _dead_letter_count(live_config, topic) == 0
