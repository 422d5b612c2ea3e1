"""The sink when a service blinks, on the real engines: a registry outage at the start of a new
topic, a two-minute PostgreSQL outage, poison bytes, and dead letters replayed.

Each test compares what the table holds with the stream it was sent (every reading once, as an
undisturbed run stores it) and counts the dead letters of its own topic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from medrical.config import MedricalConfig
from medrical.kafka_clients import client_conf
from medrical.producing import BiometricsProducer
from medrical.producing.topics import ensure_topic
from medrical.sink import ConnectClient
from medrical.sink.connector import APICURIO_AVRO_CONVERTER
from medrical.sink.dead_letters import DeadLetter, read_dead_letters
from medrical.stack.layout import SUPERVISOR, StackLayout
from tests.integration.helpers import (
    apply_connector,
    kill_service,
    readings_sink_conf,
    restart_stack,
    settle,
    synthetic_reading,
    table_row_count,
    unique_topic,
    wait_for,
)
from tests.integration.test_cli_pipeline import run

pytestmark = pytest.mark.integration


@pytest.fixture
def topic_and_connector(live_config: MedricalConfig) -> Iterator[tuple[str, str]]:
    topic = unique_topic("faults")
    ensure_topic(live_config, topic)
    name = f"medrical-it-{topic}"
    yield topic, name
    with ConnectClient(live_config.connect) as client:
        client.delete(name)


def _dead_letters(config: MedricalConfig, topic: str) -> list[DeadLetter]:
    return [letter for letter in read_dead_letters(config) if letter.topic == topic]


def _stored_keys(config: MedricalConfig, topic: str) -> set[tuple[str, object]]:
    with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
        rows = conn.execute(f'SELECT patient_id, event_time FROM "{topic}"').fetchall()  # noqa: S608
    assert len(rows) == len(set(rows)), "a reading was stored twice"
    return set(rows)


def test_registry_outage_at_the_start_of_a_new_topic_diverts_nothing(
    live_config: MedricalConfig, topic_and_connector: tuple[str, str]
) -> None:
    topic, name = topic_and_connector
    readings = [synthetic_reading(i, patients=20) for i in range(3000)]
    with BiometricsProducer(live_config, topic) as producer:
        producer.send(readings[0])
        producer.flush()
        # The producer has registered and cached the schemas; the sink has never seen them.
        kill_service(live_config, "registry")
        for reading in readings[1:]:
            producer.send(reading)
    assert producer.stats.delivered == len(readings)
    apply_connector(live_config, name, readings_sink_conf(live_config, topic))
    connect_log = StackLayout.of(live_config.stack).log_file("connect")
    try:
        # The sink meets the outage on its very first record of the topic.
        wait_for(
            lambda: True if f"of a record of {topic}" in connect_log.read_text() else None,
            timeout_s=60,
            what="the sink to wait for the registry",
        )
        assert table_row_count(live_config, topic) is None, "the sink read without a registry?"
    finally:
        restart_stack(live_config)
    settle(live_config, name, topic, len(readings))
    assert len(_stored_keys(live_config, topic)) == len(readings)
    assert _dead_letters(live_config, topic) == []
    with ConnectClient(live_config.connect) as client:
        state = client.status(name)
    assert state is not None
    assert state.running


def test_two_minute_postgres_outage_ends_with_every_reading_stored_once(
    live_config: MedricalConfig, topic_and_connector: tuple[str, str]
) -> None:
    """PostgreSQL (and with it the registry's storage) goes away for two minutes under a live
    stream: the sink's retries, then the stack's supervisor, bring it back with no manual step."""
    topic, name = topic_and_connector
    apply_connector(live_config, name, readings_sink_conf(live_config, topic))
    supervisor_log = StackLayout.of(live_config.stack).log_file(SUPERVISOR)
    restarts_before = _restarts_logged(supervisor_log, name)
    sent = 0
    stop = threading.Event()

    def stream() -> None:
        nonlocal sent
        with BiometricsProducer(live_config, topic) as producer:
            while not stop.is_set():
                for _ in range(20):
                    producer.send(synthetic_reading(sent, patients=20))
                    sent += 1
                stop.wait(0.1)  # about 200 readings per second

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        wait_for(
            lambda: True if (table_row_count(live_config, topic) or 0) > 0 else None,
            timeout_s=60,
            what="the first rows",
        )
        kill_service(live_config, "postgres")
        outage_started = time.monotonic()
        stop.wait(120)  # the outage itself, with the stream still running
        assert time.monotonic() - outage_started >= 120
    finally:
        try:
            restart_stack(live_config)
        finally:
            stop.set()
            streamer.join(timeout=60)
    assert not streamer.is_alive()
    settle(live_config, name, topic, sent)
    assert len(_stored_keys(live_config, topic)) == sent
    assert _dead_letters(live_config, topic) == []
    # The outage outlasted the sink's own retries; the supervisor restarted the task and said so.
    assert _restarts_logged(supervisor_log, name) > restarts_before


def _restarts_logged(log_file: Path, name: str) -> int:
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if "restarting" in line and name in line)


def test_poison_goes_to_the_dead_letters_and_the_sink_keeps_running(
    live_config: MedricalConfig, topic_and_connector: tuple[str, str]
) -> None:
    topic, name = topic_and_connector
    apply_connector(live_config, name, readings_sink_conf(live_config, topic))
    good = [synthetic_reading(i) for i in range(200)]
    raw = Producer(client_conf(live_config))
    with BiometricsProducer(live_config, topic) as producer:
        for reading in good[:100]:
            producer.send(reading)
        producer.flush()
        for poison in (b"not avro at all", b"\x00\x00\x00\x7f\xffgarbage"):
            raw.produce(topic, value=poison, partition=0)
        assert raw.flush(30) == 0
        for reading in good[100:]:
            producer.send(reading)
    settle(live_config, name, topic, len(good))
    letters = wait_for(
        lambda: _dead_letters(live_config, topic) or None, timeout_s=30, what="dead letters"
    )
    assert sorted(letter.value or b"" for letter in letters) == sorted(
        [b"not avro at all", b"\x00\x00\x00\x7f\xffgarbage"]
    )
    assert {letter.stage for letter in letters} == {"VALUE_CONVERTER"}
    assert all(letter.source_partition == 0 and letter.exception for letter in letters)

    listed = run(live_config, "dead-letters", "list", "--topic", topic)
    assert listed.code == 0, listed.stderr
    assert listed.stdout.count(f"{topic}[0]@") == 2
    assert "VALUE_CONVERTER" in listed.stdout
    status = run(live_config, "connector", "status", "--name", name)
    assert status.code == 0, status.stderr
    assert f"dead letters from {topic}: 2 (2 not replayed)" in status.stdout


def test_a_replay_stores_dead_letters_exactly_once(
    live_config: MedricalConfig, topic_and_connector: tuple[str, str]
) -> None:
    """Good readings dead-lettered by the sink's old configuration (the stock converter, here
    pointed at a registry that is not there) reach the table once replayed, exactly once."""
    topic, name = topic_and_connector
    readings = [synthetic_reading(i) for i in range(150)]
    with BiometricsProducer(live_config, topic) as producer:
        for reading in readings:
            producer.send(reading)
    legacy = {
        key: value
        for key, value in readings_sink_conf(live_config, topic).items()
        if ".medrical." not in key
    }
    for prefix in ("key.converter", "value.converter"):
        legacy[prefix] = APICURIO_AVRO_CONVERTER
        legacy[f"{prefix}.apicurio.registry.url"] = "http://127.0.0.1:9/apis/registry/v2"
    apply_connector(live_config, name, legacy)
    wait_for(
        lambda: True if len(_dead_letters(live_config, topic)) == len(readings) else None,
        timeout_s=90,
        what="every reading in the dead letters",
    )
    # The cause fixed: the same connector (same consumer group, past those offsets) as
    # Medrical configures it now.
    apply_connector(live_config, name, readings_sink_conf(live_config, topic))
    assert table_row_count(live_config, topic) is None

    replayed = run(live_config, "dead-letters", "replay", "--topic", topic)
    assert replayed.code == 0, replayed.stderr
    assert f"{len(readings)} dead letter(s) replayed" in replayed.stderr
    settle(live_config, name, topic, len(readings))

    again = run(live_config, "dead-letters", "replay", "--topic", topic)
    assert again.code == 0
    assert "nothing to replay" in again.stderr
    forced = run(live_config, "dead-letters", "replay", "--topic", topic, "--again")
    assert forced.code == 0, forced.stderr
    settle(live_config, name, topic, len(readings))
    assert len(_stored_keys(live_config, topic)) == len(readings)
    status = run(live_config, "connector", "status", "--name", name)
    assert f"dead letters from {topic}: {len(readings)} (0 not replayed)" in status.stdout
