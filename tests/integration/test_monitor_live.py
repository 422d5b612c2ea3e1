"""`medrical monitor` on the real engines: alerts from a live stream, and exactly once across
a kill -9 and a restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from medrical.config import MedricalConfig
from medrical.monitor import AlertEngine, VitalsEvent
from medrical.monitor.records import alerts_topic_for
from medrical.monitor.stream import MonitorOptions, StreamMonitor, partitions_of
from medrical.sink.alerts import alerts_sink_config
from medrical.stack.layout import StackLayout
from medrical.stopping import StopFlag
from tests.integration.helpers import (
    START_MS,
    apply_connector,
    caught_up,
    monitor_process,
    monitor_until_caught_up,
    produce,
    progress,
    read_alerts,
    stop_process,
    table_row_count,
    unique_topic,
    wait_for,
    wait_for_rows,
    ward,
)

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
MEDRICAL = Path(sys.executable).with_name("medrical")


def start_sink(config: MedricalConfig, alerts_topics: list[str]) -> str:
    name = f"it-alerts-{uuid.uuid4().hex[:10]}"
    conf = alerts_sink_config(
        config,
        topics_regex="|".join(alerts_topics),
        password_file=StackLayout.of(config.stack).connect_secrets_file,
    )
    apply_connector(config, name, conf, validate=True)
    return name


def stored_alert_ids(config: MedricalConfig, table: str) -> list[str]:
    with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
        query = sql.SQL("SELECT alert_id FROM {}").format(sql.Identifier(table))
        return [row[0] for row in conn.execute(query)]


def test_sepsis_escalates_to_medium_then_high_and_alerts_reach_postgres(
    live_config: MedricalConfig, connectors: list[str]
) -> None:
    topic = unique_topic("monitor")
    alerts_topic = alerts_topic_for(topic)
    # One reading a minute: twelve hours of a ward pass in seconds.
    records = ward({"S": ("sepsis", 1), "T": ("stable", 6)}, hours=12, interval_s=60)
    produce(live_config, [topic], records)
    summary = monitor_until_caught_up(live_config, topic)
    assert summary.readings == len(records)
    assert summary.invalid == 0

    alerts = read_alerts(live_config, alerts_topic)
    assert len(alerts) == summary.alerts
    assert {a["patient_id"] for a in alerts} == {"SP-000001"}, "no alert for a stable patient"
    escalations = sorted(
        (a for a in alerts if a["kind"] == "escalation"), key=lambda a: a["event_time"]
    )
    assert [a["risk"] for a in escalations][:2] == ["medium", "high"]
    medium, high = escalations[:2]
    # The scenario's fever starts at 2 h and its circulation fails from 4 h on.
    assert (
        START_MS + 2 * HOUR_MS < medium["event_time"] < high["event_time"] < START_MS + 12 * HOUR_MS
    )
    assert medium["score"] >= 5
    assert high["score"] >= 7

    connectors.append(start_sink(live_config, [alerts_topic]))
    wait_for_rows(live_config, alerts_topic, len(alerts), timeout_s=60)
    assert sorted(stored_alert_ids(live_config, alerts_topic)) == sorted(
        a["alert_id"] for a in alerts
    )


def test_kill_9_and_restart_give_the_same_alerts_as_an_uninterrupted_run(
    live_config: MedricalConfig, connectors: list[str]
) -> None:
    name = uuid.uuid4().hex[:8]
    steady, interrupted = f"biometrics_steady_{name}", f"biometrics_killed_{name}"
    # A mixed ward joins its scenarios part-way, so alerts fall all along the stream.
    records = ward({"M": ("mix", 60)}, hours=12, interval_s=60)
    produce(live_config, [steady, interrupted], records)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        group = f"it-steady-{name}"
        process = monitor_process(live_config, steady, group, "steady")
        processes.append(process)
        wait_for(
            lambda: caught_up(live_config, group, steady),
            timeout_s=180,
            what="the uninterrupted monitor to finish",
        )
        code, out = stop_process(process)
        assert code == 0, out
        assert f"scored {len(records)} readings" in out

        group = f"it-killed-{name}"
        process = monitor_process(live_config, interrupted, group, "killed")
        processes.append(process)

        def mid_stream() -> bool | None:
            done, total = progress(live_config, group, interrupted)
            assert done < total, "the monitor finished before it could be killed"
            return True if done > 0 else None

        wait_for(mid_stream, timeout_s=180, interval_s=0.05, what="the monitor to commit some")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        before, total = progress(live_config, group, interrupted)
        assert 0 < before < total

        process = monitor_process(live_config, interrupted, group, "killed")
        processes.append(process)
        wait_for(
            lambda: caught_up(live_config, group, interrupted),
            timeout_s=180,
            what="the restarted monitor to finish",
        )
        code, out = stop_process(process)
        assert code == 0, out
        # The restart resumed where the committed work ended: it scored only the rest.
        assert f"scored {total - before} readings" in out
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()

    reference = read_alerts(live_config, alerts_topic_for(steady))
    replayed = read_alerts(live_config, alerts_topic_for(interrupted))
    reference_ids = [a["alert_id"] for a in reference]
    replayed_ids = [a["alert_id"] for a in replayed]
    assert len(reference_ids) > 10
    assert len(set(reference_ids)) == len(reference_ids)
    assert len(set(replayed_ids)) == len(replayed_ids), "an alert was repeated"
    assert set(replayed_ids) == set(reference_ids)

    tables = [alerts_topic_for(steady), alerts_topic_for(interrupted)]
    connectors.append(start_sink(live_config, tables))
    for table in tables:
        wait_for(
            lambda table=table: (
                True  # type: ignore[misc]
                if table_row_count(live_config, table) == len(reference_ids)
                else None
            ),
            timeout_s=180,
            what=f"{len(reference_ids)} rows in table {table}",
        )
    assert set(stored_alert_ids(live_config, tables[1])) == set(reference_ids)
    assert set(stored_alert_ids(live_config, tables[0])) == set(reference_ids)


def reference_alert_ids(records: list[dict[str, Any]]) -> set[str]:
    """The alerts the pure engine raises over the same readings, with no Kafka at all."""
    engine = AlertEngine()
    ids: set[str] = set()
    for record in records:
        outcome = engine.process(VitalsEvent.from_mapping(record), raised_at=0)
        ids.update(alert.alert_id for alert in outcome.alerts)
    return ids


def test_a_second_monitor_takes_over_partitions_with_their_patients_state(
    live_config: MedricalConfig,
) -> None:
    topic = unique_topic("shared")
    records = ward({"M": ("mix", 40)}, hours=12, interval_s=60)
    half = len(records) // 2
    group = f"it-shared-{uuid.uuid4().hex[:8]}"
    options = MonitorOptions(group=group, topics=f"^{topic}$")
    produce(live_config, [topic], records[:half])

    stops = [StopFlag(), StopFlag()]
    workers: list[threading.Thread] = []
    with (
        StreamMonitor(live_config, options) as first,
        StreamMonitor(live_config, options) as second,
    ):
        try:
            workers.append(threading.Thread(target=first.run, args=(stops[0],)))
            workers[0].start()
            wait_for(
                lambda: caught_up(live_config, group, topic),
                timeout_s=180,
                what="the first monitor to finish the first half",
            )
            # The second member joins: the group rebalances, and the partitions it receives
            # carry patients whose state the first monitor built.
            workers.append(threading.Thread(target=second.run, args=(stops[1],)))
            workers[1].start()
            wait_for(
                lambda: True if partitions_of(second) else None,
                timeout_s=180,
                what="the second monitor to be assigned partitions",
            )
            produce(live_config, [topic], records[half:])
            wait_for(
                lambda: caught_up(live_config, group, topic),
                timeout_s=180,
                what="both monitors to finish",
            )
        finally:
            for stop in stops:
                stop.set()
            for worker in workers:
                worker.join(timeout=30)
        assert not any(worker.is_alive() for worker in workers)
        assert first.summary.readings + second.summary.readings == len(records)
        assert second.summary.readings > 0

    alerts = read_alerts(live_config, alerts_topic_for(topic))
    ids = [a["alert_id"] for a in alerts]
    assert len(set(ids)) == len(ids), "an alert was repeated"
    assert set(ids) == reference_alert_ids(records)
