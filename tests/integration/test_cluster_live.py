"""The three-broker stack on the real engines: every topic replicated three times, and under a
steady stream scored by a live monitor, the broker coordinating the monitor's transactions
killed with SIGKILL, then Connect, without losing or repeating a reading (compared with what
the producer acknowledged) or an alert (compared with an undisturbed monitor's over the same
readings).

The module starts a three-broker stack of its own (ports 200 above the plain test stack's,
shifted by MEDRICAL_TEST_PORT_OFFSET) and stops it by its PID files at the end.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from medrical.config import MedricalConfig
from medrical.kafka_clients import client_conf
from medrical.monitor.records import alerts_topic_for
from medrical.producing.topics import ensure_topic
from medrical.reliability import SteadyLoad, stored_counts
from medrical.simulation import Simulator
from medrical.sink import ConnectClient
from medrical.sink.deploy import connector_config, deploy_connector
from medrical.stack import process
from medrical.stack.chaos import Action, Chaos, ChaosEvent
from medrical.stack.manager import LocalStack
from tests.conftest import own_stack
from tests.integration.helpers import (
    START_MS,
    caught_up,
    child_env,
    monitor_logging_to,
    monitor_until_caught_up,
    produce,
    progress,
    read_alerts,
    running_dashboard,
    unique_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

RATE = 1000  # readings per second: steady, and light enough for a shared CI machine
READINGS = 40_000


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalStack]:
    with own_stack("cluster", port_shift=200, brokers=3) as settings:
        yield LocalStack(settings)


@pytest.fixture(scope="module")
def cluster_config(cluster: LocalStack) -> MedricalConfig:
    return MedricalConfig(stack=cluster.settings)


def _replication(config: MedricalConfig, topics: list[str]) -> dict[str, tuple[int, str]]:
    """Per topic: replicas of its first partition, and its min.insync.replicas."""
    admin = AdminClient(client_conf(config))
    metadata = admin.list_topics(timeout=10)
    resources = [ConfigResource(ResourceType.TOPIC, topic) for topic in topics]
    configs = {
        resource.name: future.result(timeout=10)
        for resource, future in admin.describe_configs(resources).items()
    }
    return {
        topic: (
            len(metadata.topics[topic].partitions[0].replicas),
            configs[topic]["min.insync.replicas"].value,
        )
        for topic in topics
    }


def test_three_nodes_each_lead_partitions_and_replicate_every_topic_three_times(
    cluster: LocalStack, cluster_config: MedricalConfig
) -> None:
    rows = cluster.status()
    nodes = [row for row in rows if row.role is not None]
    assert [row.name for row in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert all(row.healthy and row.pid for row in rows), [(r.name, r.detail) for r in rows]
    assert all(row.leads for row in nodes), "a node leads no partition"
    assert cluster_config.kafka.bootstrap_servers == cluster.settings.bootstrap_servers()

    topic = unique_topic("replicated")
    ensure_topic(cluster_config, topic)
    internal = ["__consumer_offsets", "_medrical_connect_configs", "_medrical_connect_offsets"]
    replication = _replication(cluster_config, [topic, *internal])
    assert replication == dict.fromkeys([topic, *internal], (3, "2"))


class WardWatch:
    """Reads the dashboard's change number while chaos waits out an outage: the ward kept
    updating if it grew meanwhile."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[int] = []

    def seq(self) -> int:
        return int(httpx.get(f"{self.url}api/snapshot", timeout=5).json()["seq"])

    def during(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.seen.append(self.seq())
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def java_string_hash(text: str) -> int:
    """Java's String.hashCode, which Kafka uses to place a group or a transactional id."""
    value = 0
    for char in text:  # the ids here are ASCII: one UTF-16 unit per character
        value = (31 * value + ord(char)) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def coordinator(admin: AdminClient, internal_topic: str, key: str) -> int:
    """The node leading the partition of `__consumer_offsets` (a group) or of
    `__transaction_state` (a transactional id) that `key` maps to: its coordinator."""
    partitions = admin.list_topics(internal_topic, timeout=10).topics[internal_topic].partitions
    hashed = java_string_hash(key)
    index = (0 if hashed == -(1 << 31) else abs(hashed)) % len(partitions)
    return int(partitions[index].leader)


def test_a_broker_kill_and_a_connect_kill_lose_and_repeat_no_reading_and_no_alert(
    cluster: LocalStack, cluster_config: MedricalConfig, tmp_path: Path
) -> None:
    config = cluster_config
    name = unique_topic("failover").removeprefix("biometrics_")
    topic, reference = f"biometrics_{name}", f"biometrics_ref_{name}"
    connector = f"it-{name}"
    group = instance = f"it-{name}"
    ensure_topic(config, topic)
    ensure_topic(config, reference)
    with ConnectClient(config.connect) as client:
        deploy_connector(client, connector, connector_config(config, topics_regex=f"^{topic}$"))
    events: list[ChaosEvent] = []
    # A minute between readings: hours of a mixed ward, so that alerts fall all along.
    simulator = Simulator(100, 7, "mix", interval_s=60.0, start_ms=START_MS)
    readings = list(itertools.islice(simulator.readings(), READINGS))
    load = SteadyLoad(config, topic, iter(readings), rate=RATE, count=READINGS)
    admin = AdminClient(client_conf(config))
    log = tmp_path / "monitor.log"
    try:
        with (
            monitor_logging_to(config, topic, group, log, "--instance-id", instance) as monitor,
            running_dashboard(child_env(cluster.settings)) as url,
            load,
        ):
            ward_watch = WardWatch(url)
            wait_for(
                lambda: (
                    True
                    if load.sent() > READINGS // 5
                    and ward_watch.seq() > 0
                    and progress(config, group, topic)[0] > 0
                    else None
                ),
                timeout_s=120,
                what="a fifth of the readings sent, shown on the ward and scored",
            )
            # The broker that coordinates the monitor's transactions (it also leads some of
            # the topic's partitions): both must move. The group coordinator, found the same
            # way, checks the placement against what the cluster says.
            described = admin.describe_consumer_groups([group])[group].result(timeout=10)
            assert described.coordinator.id == coordinator(admin, "__consumer_offsets", group)
            node = coordinator(admin, "__transaction_state", f"medrical-monitor.{group}.{instance}")
            # While the broker is dead, the ward is read; while Connect is, nothing is.
            Chaos(cluster, report=events.append, sleep=ward_watch.during).act(
                Action.KILL, cluster.kafka_nodes[node - 1].name, back_after_s=5
            )
            during_broker_outage = list(ward_watch.seen)
            Chaos(cluster, report=events.append).act(Action.KILL, "connect", back_after_s=3)
            load.wait(timeout_s=300)
            summary = load.stop()
            sent_at = time.monotonic()
            behind = wait_for(
                lambda: progress(config, group, topic),
                timeout_s=60,
                what="the monitor's committed offsets",
            )
            try:
                wait_for(
                    lambda: caught_up(config, group, topic),
                    timeout_s=180,
                    what="the monitor to score every reading",
                )
            except AssertionError as exc:  # say where it stands, and what it said
                done, total = progress(config, group, topic)
                raise AssertionError(
                    f"{exc}: {done} of {total} ({behind[0]} of {behind[1]} when the last "
                    f"reading was acknowledged)\n"
                    + "".join(f"{event.line()}\n" for event in events)
                    + log.read_text()
                ) from None
            catch_up_s = time.monotonic() - sent_at
            assert monitor.poll() is None, log.read_text()
        wait_for(
            lambda: True if stored_counts(config, topic).distinct >= summary.delivered else None,
            timeout_s=240,
            what=f"{summary.delivered} readings stored",
        )
    finally:
        with ConnectClient(config.connect) as client:
            client.delete(connector)
    assert [(e.action, e.service.split("-")[0]) for e in events] == [
        (Action.KILL, "kafka"),
        (Action.START, "kafka"),
        (Action.KILL, "connect"),
        (Action.START, "connect"),
    ]
    assert (summary.sent, summary.delivered, summary.failed) == (READINGS, READINGS, 0)
    stored = stored_counts(config, topic)
    assert (stored.rows, stored.distinct) == (READINGS, READINGS)
    # The ward kept changing while a broker was dead (two of three brokers still lead).
    # Two reads are enough to see it change; a busy machine may slow each to seconds.
    assert len(during_broker_outage) >= 2
    assert during_broker_outage[-1] > during_broker_outage[0], during_broker_outage

    # The same readings, undisturbed, to a topic of their own: the alerts must be the same.
    produce(config, [reference], [reading.to_record() for reading in readings])
    monitor_until_caught_up(config, reference)
    expected = [a["alert_id"] for a in read_alerts(config, alerts_topic_for(reference))]
    raised = [a["alert_id"] for a in read_alerts(config, alerts_topic_for(topic))]
    assert len(expected) > 10
    assert len(set(raised)) == len(raised), "an alert was repeated"
    assert set(raised) == set(expected)
    # Figures for the log (not asserted: timings belong to benchmarks/bench_failover.py).
    print(
        f"longest delivery {load.timeline.max_latency_s():.2f} s across a kill of "
        f"{events[0].service} (the monitor's transaction coordinator) and of connect; "
        f"{stored.rows} rows, {len(raised)} alerts; the monitor had scored {behind[0]} of "
        f"{behind[1]} when the last reading was acknowledged, all {catch_up_s:.1f} s later"
    )
    assert all(process.running(s.pid_file) for s in cluster.services), "a service stayed down"
