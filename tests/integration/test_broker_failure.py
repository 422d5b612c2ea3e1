"""A broker crash on the real stack: what it leaves behind, and how the monitor rides it out.

Each test here kills the local stack's Kafka with SIGKILL (by its PID file) and brings it back
the way a user would (`medrical stack up`).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from medrical.config import MedricalConfig
from medrical.kafka_clients import client_conf
from medrical.monitor.records import alerts_topic_for
from tests.integration.helpers import (
    MEDRICAL,
    caught_up,
    cli_env,
    hanging_partitions,
    kill_service,
    monitor_logging_to,
    progress,
    read_alerts,
    restart_stack,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_transaction_open_at_a_broker_kill_is_aborted_not_left_hanging(
    live_config: MedricalConfig,
) -> None:
    # A single KRaft node restarted after SIGKILL must not skip the abort markers of the
    # transactions that time out while it re-registers with its own controller: a partition
    # left with an open transaction blocks every read_committed reader for ever. The outage
    # outlasts the transaction's timeout, so the broker aborts it as soon as it is back.
    topic = f"it_txn_{uuid.uuid4().hex[:10]}"
    admin = AdminClient(client_conf(live_config))
    for future in admin.create_topics([NewTopic(topic, num_partitions=6)]).values():
        future.result(timeout=30)
    producer = Producer(
        client_conf(
            live_config,
            **{"transactional.id": f"it-{topic}", "transaction.timeout.ms": 5_000},
        )
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for partition in range(6):
        producer.produce(topic, value=b"never committed", partition=partition)
    assert producer.flush(30) == 0
    kill_service(live_config, "kafka")
    time.sleep(6)  # the outage itself: longer than the transaction timeout
    restart_stack(live_config)
    wait_for(
        lambda: True if hanging_partitions(live_config, topic) == [] else None,
        timeout_s=60,
        what="the broker to abort the transaction on every partition",
    )


# -- the monitor through a broker crash -----------------------------------------------------
# One deterministic ward, produced to one topic per run: 200 patients of the mixed scenario for
# 12 simulated hours (144,000 readings, a backlog the monitor works through for several
# seconds). An undisturbed monitor over one copy gives the reference alerts.

WARD = (
    "--patients", "200", "--scenario", "mix", "--seed", "11",
    "--start", "2026-01-01T00:00:00Z", "--interval", "60", "--speed", "max", "--count", "144000",
)  # fmt: skip
READINGS = 144_000


def produce_ward(config: MedricalConfig, name: str) -> str:
    """The ward above on a fresh topic `biometrics_<name>`; returns the topic."""
    topic = f"biometrics_{name}"
    done = subprocess.run(
        [str(MEDRICAL), "produce", "--topic", topic, *WARD],
        env=cli_env(config),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return topic


def alert_multiset(config: MedricalConfig, topic: str) -> Counter[tuple[Any, ...]]:
    return Counter(
        (a["alert_id"], a["kind"], a["event_time"], a["score"])
        for a in read_alerts(config, alerts_topic_for(topic))
    )


def wait_for_a_fifth(config: MedricalConfig, group: str, topic: str) -> None:
    wait_for(
        lambda: True if progress(config, group, topic)[0] >= READINGS // 5 else None,
        timeout_s=120,
        interval_s=0.2,
        what="the monitor to work through a fifth of the backlog",
    )


@pytest.fixture(scope="module")
def reference(live_config: MedricalConfig, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The ward's alerts from an undisturbed monitor: the multiset every fault run must give."""
    topic = produce_ward(live_config, f"itref_{uuid.uuid4().hex[:8]}")
    group = f"it-ref-{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("reference") / "monitor.log"
    with monitor_logging_to(live_config, topic, group, log) as monitor:
        wait_for(lambda: caught_up(live_config, group, topic), timeout_s=240, what="the reference")
        assert monitor.poll() is None, log.read_text()
    alerts = alert_multiset(live_config, topic)
    assert sum(alerts.values()) > 100  # the ward does deteriorate
    assert max(alerts.values()) == 1  # and every alert id is once
    return alerts


def test_the_monitor_rides_out_a_broker_kill_mid_backlog_with_the_same_alerts(
    live_config: MedricalConfig, reference: Counter[tuple[Any, ...]], tmp_path: Path
) -> None:
    topic = produce_ward(live_config, f"itride_{uuid.uuid4().hex[:8]}")
    group = f"it-ride-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "monitor.log"
    with monitor_logging_to(live_config, topic, group, log) as monitor:
        wait_for_a_fifth(live_config, group, topic)
        kill_service(live_config, "kafka")
        time.sleep(3)  # the outage itself
        restart_stack(live_config)
        wait_for(lambda: caught_up(live_config, group, topic), timeout_s=240, what="the rest")
        assert monitor.poll() is None, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text, text
    # The outage shows either as a quiet spell (no answer for a while, then an answer) or, when
    # it falls inside a commit, as a commit that timed out and a rewind to the last one.
    if "Kafka does not answer" in text:
        assert "Kafka answers again" in text, text
    else:
        assert "rewinding to the last commit" in text, text
    assert alert_multiset(live_config, topic) == reference


def test_a_monitor_that_gives_up_on_kafka_exits_69_and_its_restart_gives_the_same_alerts(
    live_config: MedricalConfig, reference: Counter[tuple[Any, ...]], tmp_path: Path
) -> None:
    topic = produce_ward(live_config, f"itexit_{uuid.uuid4().hex[:8]}")
    group = f"it-exit-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "monitor.log"
    with monitor_logging_to(
        live_config, topic, group, log, "--kafka-outage-timeout", "3"
    ) as monitor:
        wait_for_a_fifth(live_config, group, topic)
        kill_service(live_config, "kafka")
        code = monitor.wait(timeout=120)
    restart_stack(live_config)
    text = log.read_text()
    assert code == 69, text
    assert "Traceback" not in text, text
    assert "Kafka: unreachable for" in text, text
    with monitor_logging_to(live_config, topic, group, tmp_path / "again.log") as again:
        wait_for(lambda: caught_up(live_config, group, topic), timeout_s=240, what="the rest")
        assert again.poll() is None
    assert alert_multiset(live_config, topic) == reference
