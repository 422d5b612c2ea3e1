"""The pure cores behind the sink's resilience: restart planning, following the stack's mode,
dead letters, and the connector settings that keep transient failures out of the dead letters."""

from __future__ import annotations

from pathlib import Path

import pytest

from medrical.config import MedricalConfig
from medrical.errors import InputError
from medrical.sink import sink_config
from medrical.sink.client import ConnectorState, TaskState, explain_trace
from medrical.sink.connector import MEDRICAL_AVRO_CONVERTER
from medrical.sink.dead_letters import DeadLetter, parse_dead_letter, select, summarise
from medrical.sink.follow import rebased
from medrical.sink.supervisor import RestartPlanner, RestartPolicy, describe


def _state(name: str, *task_states: str, trace: str | None = "boom") -> ConnectorState:
    tasks = tuple(
        TaskState(number, state, trace if state == "FAILED" else None)
        for number, state in enumerate(task_states)
    )
    return ConnectorState(name, "RUNNING", tuple(task_states), trace, tasks)


POLICY = RestartPolicy(first_delay_s=2, max_delay_s=8, stable_after_s=30)


def test_a_failed_task_is_restarted_after_the_first_delay_then_less_and_less_often() -> None:
    planner = RestartPlanner(POLICY)
    failed = {"medrical-sink": _state("medrical-sink", "FAILED")}
    assert planner.plan(failed, now=0) == []
    assert planner.plan(failed, now=1.9) == []
    first = planner.plan(failed, now=2)
    assert [(r.connector, r.task_id, r.attempt) for r in first] == [("medrical-sink", 0, 1)]
    assert first[0].next_delay_s == 4
    # Still failed after the restart: the next waits 4 s, then 8 s, then 8 s (the cap).
    times: list[float] = []
    now = 2.0
    while len(times) < 3:
        now += 0.5
        if planner.plan(failed, now=now):
            times.append(now)
    assert [round(b - a, 1) for a, b in zip([2.0, *times], times, strict=False)] == [4.5, 8.5, 8.5]


def test_a_task_running_long_enough_starts_its_back_off_afresh() -> None:
    planner = RestartPlanner(POLICY)
    failed = {"s": _state("s", "FAILED")}
    running = {"s": _state("s", "RUNNING")}
    planner.plan(failed, now=0)
    assert planner.plan(failed, now=2)[0].attempt == 1
    planner.plan(running, now=3)
    planner.plan(running, now=40)  # stable for 37 s > 30 s
    planner.plan(failed, now=41)
    again = planner.plan(failed, now=43)
    assert again[0].attempt == 1


def test_a_failed_connector_itself_is_restarted_and_described() -> None:
    planner = RestartPlanner(POLICY)
    state = ConnectorState("c", "FAILED", (), None, (), connector_trace="x\nCaused by: y: why")
    planner.plan({"c": state}, now=0)
    (restart,) = planner.plan({"c": state}, now=5)
    assert restart.task_id is None
    assert describe(restart).startswith("restarting connector c (restart 1 in a row")
    assert restart.reason == "y: why"


def test_explain_trace_names_the_deepest_cause_and_what_hibernate_means() -> None:
    trace = (
        "org.apache.kafka.connect.errors.ConnectException: Exiting\n\tat a.b(C.java:1)\n"
        "Caused by: org.hibernate.HibernateException: Unable to determine Dialect without "
        "JDBC metadata (please set ...)\n\tat d.e(F.java:2)\n"
    )
    explained = explain_trace(trace)
    assert explained.startswith("the sink's task could not open a connection to PostgreSQL")
    assert explained.endswith("Unable to determine Dialect without JDBC metadata (please set ...)")
    assert explain_trace(None) == "no trace"


def test_rebased_replaces_transport_settings_and_keeps_the_rest() -> None:
    existing = {
        "connector.class": "x",
        "topics.regex": "biometrics_(.*)",
        "primary.key.fields": "alert_id",
        "connection.url": "jdbc:postgresql://127.0.0.1:1/medrical?sslmode=verify-full",
        "value.converter.apicurio.registry.url": "https://127.0.0.1:2/apis/registry/v2",
        "value.converter.apicurio.auth.password": "${file:/s:registry.password}",
    }
    fresh = {
        "connector.class": "x",
        "topics.regex": "other",
        "primary.key.fields": "patient_id,event_time",
        "connection.url": "jdbc:postgresql://127.0.0.1:1/medrical",
        "value.converter.apicurio.registry.url": "http://127.0.0.1:2/apis/registry/v2",
    }
    updated = rebased(existing, fresh)
    assert updated == {
        "connector.class": "x",
        "topics.regex": "biometrics_(.*)",
        "primary.key.fields": "alert_id",
        "connection.url": "jdbc:postgresql://127.0.0.1:1/medrical",
        "value.converter.apicurio.registry.url": "http://127.0.0.1:2/apis/registry/v2",
    }
    assert updated is not None
    assert rebased(updated, fresh) is None


def _letter(offset: int, topic: str = "biometrics_a", timestamp: int = 0) -> DeadLetter:
    return parse_dead_letter(
        0,
        offset,
        timestamp,
        None,
        b"junk",
        [
            ("__connect.errors.topic", topic.encode()),
            ("__connect.errors.partition", b"2"),
            ("__connect.errors.offset", str(100 + offset).encode()),
            ("__connect.errors.stage", b"VALUE_CONVERTER"),
            ("__connect.errors.exception.class.name", b"org.SerializationException"),
            ("__connect.errors.exception.message", b"Unknown magic byte"),
            ("__connect.errors.connector.name", b"medrical-biometrics-sink"),
            ("trace-id", b"abc"),
        ],
    )


def test_a_dead_letter_carries_connects_context_and_keeps_the_original_headers() -> None:
    letter = parse_dead_letter(
        3, 17, 5, b"k", b"v", [("__connect.errors.topic", b"biometrics_x"), ("h", b"1")]
    )
    assert letter.id == "3:17"
    assert (letter.topic, letter.key, letter.value) == ("biometrics_x", b"k", b"v")
    assert letter.headers == (("h", b"1"),)
    full = _letter(1)
    assert full.as_json() == {
        "id": "0:1",
        "timestamp_ms": 0,
        "topic": "biometrics_a",
        "partition": 2,
        "offset": 101,
        "connector": "medrical-biometrics-sink",
        "stage": "VALUE_CONVERTER",
        "exception": "org.SerializationException",
        "message": "Unknown magic byte",
        "replayed": False,
    }


def test_summaries_and_selection_of_dead_letters() -> None:
    from dataclasses import replace

    letters = [
        _letter(0, "biometrics_a", 10),
        replace(_letter(1, "biometrics_a", 30), replayed=True),
        _letter(2, "biometrics_b", 20),
    ]
    summaries = summarise(letters)
    assert [(s.topic, s.count, s.pending) for s in summaries] == [
        ("biometrics_a", 2, 1),
        ("biometrics_b", 1, 1),
    ]
    assert summaries[0].latest_error.startswith("VALUE_CONVERTER: org.SerializationException")
    assert [x.id for x in select(letters, topic="biometrics_a")] == ["0:0"]
    chosen = select(letters, ids=["0:1", "0:2"], include_replayed=True)
    assert [x.id for x in chosen] == ["0:1", "0:2"]
    with pytest.raises(InputError, match="no dead letter with id 9:9"):
        select(letters, ids=["9:9"])


def test_the_sink_waits_out_transient_failures_instead_of_diverting_them(tmp_path: Path) -> None:
    conf = sink_config(MedricalConfig(), flavor="debezium", password_file=tmp_path / "secrets")
    assert conf["errors.tolerance"] == "all"  # poison still goes to the dead letters
    for prefix in ("key.converter", "value.converter"):
        assert conf[prefix] == MEDRICAL_AVRO_CONVERTER
        assert int(conf[f"{prefix}.medrical.retry.budget.ms"]) >= 30_000
        assert conf[f"{prefix}.apicurio.registry.fault-tolerant-refresh"] == "true"
    assert conf["connection.restart.on.errors"] == "true"
    retry_window_ms = int(conf["flush.max.retries"]) * int(conf["flush.retry.delay.ms"])
    # Inside the consumer's poll interval (5 minutes), so a retrying task keeps its partitions.
    assert 30_000 <= retry_window_ms < 300_000
