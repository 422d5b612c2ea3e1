"""The lag of every stage on the real engines: a sink that stops shows exactly what it has not
stored, and drops back to 0 once it runs again; `stack status --json` reports the same."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from medrical import lag
from medrical.config import MedricalConfig
from medrical.kafka_clients import client_conf
from medrical.lag import StageLag
from medrical.metrics import read_samples
from medrical.producing import BiometricsProducer
from medrical.producing.topics import ensure_topic
from medrical.sink import ConnectClient, sink_config
from tests.integration.helpers import synthetic_reading, unique_topic, wait_for
from tests.integration.test_cli_pipeline import run

pytestmark = pytest.mark.integration


@pytest.fixture
def sunk_topic(live_config: MedricalConfig) -> Iterator[tuple[str, str]]:
    topic = unique_topic("lag")
    ensure_topic(live_config, topic)
    name = f"medrical-it-{topic}"
    with ConnectClient(live_config.connect) as client:
        client.apply(name, sink_config(live_config, topics_regex=topic))
        client.wait_running(name, timeout_s=60)
    yield topic, name
    with ConnectClient(live_config.connect) as client:
        client.delete(name)


def scrape(url: str) -> dict[str, float]:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return read_samples(response.text)


def produce(config: MedricalConfig, topic: str, first: int, count: int) -> None:
    with BiometricsProducer(config, topic) as producer:
        for index in range(first, first + count):
            producer.send(synthetic_reading(index))
        assert producer.flush(30) == 0


def sink_lag(config: MedricalConfig, topic: str, connector: str) -> StageLag | None:
    for flow in lag.measure(config):
        if flow.topic == topic:
            for stage in flow.stages:
                if stage.group == f"connect-{connector}":
                    return stage
    return None


def paused(config: MedricalConfig, name: str) -> bool | None:
    with ConnectClient(config.connect) as client:
        state = client.status(name)
    if state is None or state.connector_state != "PAUSED":
        return None
    return True if all(task == "PAUSED" for task in state.task_states) else None


def test_a_paused_sink_lags_by_what_came_in_and_catches_up_to_zero(
    live_config: MedricalConfig, sunk_topic: tuple[str, str]
) -> None:
    topic, name = sunk_topic
    produce(live_config, topic, 0, 200)
    caught_up = wait_for(
        lambda: (s := sink_lag(live_config, topic, name)) and (s if s.readings == 0 else None),
        timeout_s=90,
        what="the sink to store the first 200",
    )
    assert caught_up.stage == "sink"
    assert caught_up.seconds == 0
    # The engines' own metrics tell the same story, through the JMX exporter.
    services = {
        row["service"]: row
        for row in map(
            json.loads, run(live_config, "stack", "status", "--json").stdout.splitlines()
        )
        if "service" in row
    }
    kafka = scrape(services["kafka" if "kafka" in services else "kafka-1"]["metrics"])
    connect_metrics = scrape(services["connect"]["metrics"])
    assert (
        kafka[f'kafka_server_brokertopicmetrics_messagesinpersec_total{{topic="{topic}"}}'] == 200
    )
    assert "kafka_server_replicamanager_underreplicatedpartitions" in kafka
    read = sum(
        value
        for key, value in connect_metrics.items()
        if key.startswith("kafka_connect_sink_task_sink_record_read_total")
        and f'connector="{name}"' in key
    )
    assert read == 200
    connect = httpx.Client(base_url=str(live_config.connect.url), timeout=15)
    tasks = connect.get(f"/connectors/{name}/status").raise_for_status().json()["tasks"]
    assert tasks  # every task the connector runs is counted as running
    assert connect_metrics[
        f'kafka_connect_connector_tasks{{connector="{name}",state="running"}}'
    ] == len(tasks)

    connect.put(f"/connectors/{name}/pause").raise_for_status()
    try:
        wait_for(
            lambda: paused(live_config, name),
            timeout_s=60,
            what="the connector to pause",
        )
        produce(live_config, topic, 200, 300)
        behind = wait_for(
            lambda: (s := sink_lag(live_config, topic, name)) and (s if s.readings else None),
            timeout_s=30,
            what="the paused sink's lag",
        )
        assert behind.readings == 300
        assert behind.seconds > 0
        # A reader kept for a view that refreshes finds the oldest unread record every time.
        with lag.LagReader(live_config) as reader:
            for _ in range(3):
                [again] = [
                    stage
                    for flow in reader.measure()
                    if flow.topic == topic
                    for stage in flow.stages
                    if stage.group == f"connect-{name}"
                ]
                assert (again.readings, again.seconds > 0) == (300, True)
        outcome = run(live_config, "stack", "status", "--json")
        flows = [json.loads(line) for line in outcome.stdout.splitlines()]
        flow = next(entry for entry in flows if entry.get("topic") == topic)
        assert flow["records"] == 500
        assert flow["input_per_s"] >= round(300 / lag.RATE_WINDOW_S, 1)
        assert flow["dead_letters"] == 0
        stage = next(s for s in flow["stages"] if s["group"] == f"connect-{name}")
        assert stage["stage"] == "sink"
        assert stage["lag_readings"] == 300
        assert stage["lag_seconds"] > 0
    finally:
        connect.put(f"/connectors/{name}/resume").raise_for_status()
        connect.close()
    after = wait_for(
        lambda: (s := sink_lag(live_config, topic, name)) and (s if s.readings == 0 else None),
        timeout_s=90,
        what="the sink's lag to drop to 0",
    )
    assert after.seconds == 0


def test_a_group_that_read_every_committed_transaction_lags_zero(
    live_config: MedricalConfig,
) -> None:
    """Past the last record of a transaction lies its commit marker, which a read_committed
    consumer never hands out: a group that read everything stops before it and is not behind.
    Two dozen such topics are measured in one go (each partition once, not a poll's timeout
    each)."""
    topics = [unique_topic("txlag") for _ in range(24)]
    for topic in topics:
        ensure_topic(live_config, topic)
    producer = Producer(client_conf(live_config, **{"transactional.id": f"it-{topics[0]}"}))
    producer.init_transactions(30)
    producer.begin_transaction()
    for topic in topics:
        for index in range(10):
            producer.produce(topic, b"reading", f"P-{index}".encode())
    producer.commit_transaction(30)
    # Each group has read what the transaction wrote, as a consumer that read it all commits.
    for topic in topics:
        consumer = Consumer(
            client_conf(
                live_config,
                **{
                    "group.id": f"medrical-monitor-{topic}",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                },
            )
        )
        try:
            consumer.subscribe([topic])
            read = 0
            deadline = time.monotonic() + 60
            while read < 10 and time.monotonic() < deadline:
                read += sum(1 for m in consumer.consume(10, 1.0) if m.error() is None)
            assert read == 10
            consumer.commit(asynchronous=False)
        finally:
            consumer.close()
    flows = {flow.topic: flow for flow in lag.measure(live_config) if flow.topic in topics}
    assert sorted(flows) == sorted(topics)
    for flow in flows.values():
        assert flow.input_per_s >= round(10 / lag.RATE_WINDOW_S, 1)
        [stage] = flow.stages
        assert (stage.stage, stage.readings, stage.seconds) == ("monitor", 0, 0.0)
