"""The three-broker stack's settings and renderings, chaos on stand-in processes, and the
delivery timeline, without starting any engine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.cli import _run
from medrical.config import KAFKA_BROKERS_FILE, MedricalConfig, StackSettings
from medrical.errors import InputError, StackError
from medrical.reliability import (
    DeliveryTimeline,
    Outcome,
    ProgressTrace,
    StoredCounts,
    describe_outcome,
)
from medrical.stack import process, rendering
from medrical.stack.chaos import ANY_BROKER, Action, Chaos, ChaosEvent, parse_duration
from medrical.stack.manager import LocalStack


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(home=tmp_path / "stack", cache_dir=tmp_path / "cache")


def _recorded(settings: StackSettings, brokers: int) -> None:
    marker = settings.home / KAFKA_BROKERS_FILE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{brokers}\n")


# --- settings ------------------------------------------------------------------------------------


def test_extra_nodes_listen_ten_ports_above_the_node_before(settings: StackSettings) -> None:
    three = settings.model_copy(update={"brokers": 3})
    assert [three.node_port("kafka", n) for n in (1, 2, 3)] == [19092, 19102, 19112]
    assert [three.node_port("controller", n) for n in (1, 2, 3)] == [19093, 19103, 19113]
    assert [three.node_port("kafka_sasl", n) for n in (1, 2, 3)] == [19094, 19104, 19114]
    assert three.bootstrap_servers() == "127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112"


def test_a_node_port_setting_wins_over_the_scheme(settings: StackSettings) -> None:
    three = settings.model_copy(update={"brokers": 3, "kafka_3_port": 31000})
    assert three.node_port("kafka", 3) == 31000
    assert three.node_port_setting("kafka", 3) == "kafka_3_port"
    assert three.node_port_setting("kafka", 1) == "kafka_port"


def test_only_one_or_three_brokers(settings: StackSettings) -> None:
    with pytest.raises(ValueError, match="1 or 3 brokers"):
        StackSettings(brokers=2)


def test_clients_get_every_node_of_a_three_broker_stack(settings: StackSettings) -> None:
    _recorded(settings, 3)
    config = MedricalConfig(stack=settings)  # the setting says 1: the data says 3
    assert config.kafka.bootstrap_servers == settings.bootstrap_servers()
    assert config.kafka.bootstrap_servers.count(",") == 2


def test_a_stack_made_before_the_count_was_recorded_has_one_broker(
    settings: StackSettings,
) -> None:
    assert settings.recorded_brokers is None
    (settings.home / "data" / "kafka").mkdir(parents=True)
    (settings.home / "data" / "kafka" / "meta.properties").write_text("")
    assert settings.recorded_brokers == 1


# --- renderings ----------------------------------------------------------------------------------


def test_three_nodes_form_a_static_quorum_with_replication_three(
    settings: StackSettings, tmp_path: Path
) -> None:
    props = _props(
        rendering.kafka_server_properties(settings, tmp_path / "data", node=2, brokers=3)
    )
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19093,2@127.0.0.1:19103,3@127.0.0.1:19113"
    )
    assert "controller.quorum.bootstrap.servers" not in props
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19102,CONTROLLER://127.0.0.1:19103"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19102"
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "3", key
    for key in (
        "min.insync.replicas",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "2", key


def test_one_node_keeps_its_quorum_of_one(settings: StackSettings, tmp_path: Path) -> None:
    props = _props(rendering.kafka_server_properties(settings, tmp_path / "data"))
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert "controller.quorum.voters" not in props
    assert props["default.replication.factor"] == props["min.insync.replicas"] == "1"


def test_tls_nodes_each_serve_their_own_ports(settings: StackSettings, tmp_path: Path) -> None:
    from medrical.stack.layout import TlsFiles

    tls = TlsFiles(tmp_path / "tls")
    props = _props(
        rendering.kafka_server_properties(settings, tmp_path / "d", tls, node=3, brokers=3)
    )
    assert props["advertised.listeners"] == "SSL://127.0.0.1:19112,SASL_SSL://127.0.0.1:19114"
    assert "CONTROLLER://127.0.0.1:19113" in props["listeners"]


def test_connect_is_given_every_node(settings: StackSettings, tmp_path: Path) -> None:
    _recorded(settings, 3)
    props = _props(
        rendering.connect_worker_properties(settings, tmp_path / "p", tmp_path / "s" / "f")
    )
    assert props["bootstrap.servers"] == settings.bootstrap_servers()
    assert props["offset.storage.replication.factor"] == "-1"


def test_the_tls_client_files_name_every_node(settings: StackSettings, tmp_path: Path) -> None:
    _recorded(settings, 3)
    tree = rendering.client_settings(
        settings.model_copy(update={"tls": True}),
        protocol="SASL_SSL",
        ca=tmp_path / "ca.pem",
        cert=tmp_path / "c",
        key=tmp_path / "k",
        sasl_password="x",
        registry_password="y",
        connect_password="z",
    )
    assert tree["kafka"]["bootstrap_servers"] == settings.bootstrap_servers("kafka_sasl")
    assert tree["stack"]["brokers"] == 3


# --- the stack -----------------------------------------------------------------------------------


def test_a_three_broker_stack_has_three_kafka_services(settings: StackSettings) -> None:
    stack = LocalStack(settings.model_copy(update={"brokers": 3}))
    names = [service.name for service in stack.services]
    assert names == ["postgres", "kafka-1", "kafka-2", "kafka-3", "registry", "connect"]
    ports = [port.setting for port in stack.service("kafka-2").ports()]
    assert ports == ["kafka_2_port", "controller_2_port", "kafka_metrics_port"]


def test_up_refuses_another_broker_count_than_the_data_was_made_with(
    settings: StackSettings,
) -> None:
    _recorded(settings, 1)
    stack = LocalStack(settings.model_copy(update={"brokers": 3}))
    with pytest.raises(StackError, match=r"made for 1 broker\(s\), not 3") as caught:
        stack.up(report=lambda _line: None)
    assert "stack reset --force" in str(caught.value)


def test_stack_up_takes_one_or_three_brokers(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDRICAL_STACK__HOME", str(settings.home))
    assert _run(["stack", "up", "--brokers", "2"]) == 2
    assert "--brokers takes 1 or 3" in capsys.readouterr().err


def test_status_of_a_stopped_three_broker_stack_lists_each_node(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _recorded(settings, 3)
    monkeypatch.setenv("MEDRICAL_STACK__HOME", str(settings.home))
    assert _run(["stack", "status", "--json"]) == 1
    lines = capsys.readouterr().out.splitlines()
    import json

    rows = [json.loads(line) for line in lines]
    assert [row["service"] for row in rows][1:4] == ["kafka-1", "kafka-2", "kafka-3"]
    assert rows[1]["role"] == "broker+controller"
    assert rows[1]["pid"] is None


# --- chaos on stand-ins --------------------------------------------------------------------------


@pytest.fixture
def stack_with_sleeper(settings: StackSettings) -> Iterator[LocalStack]:
    """A three-broker stack whose kafka-2 is a sleeping Python process (nothing else runs)."""
    stack = LocalStack(settings.model_copy(update={"brokers": 3}))
    service = stack.service("kafka-2")
    process.spawn(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        pid_file=service.pid_file,
        log_file=service.log_file,
    )
    yield stack
    process.stop(service.pid_file, timeout_s=5)


def test_kill_sends_sigkill_by_the_pid_file(stack_with_sleeper: LocalStack) -> None:
    events: list[ChaosEvent] = []
    chaos = Chaos(stack_with_sleeper, report=events.append)
    service = stack_with_sleeper.service("kafka-2")
    tracked = process.running(service.pid_file)
    assert tracked is not None
    _, done = chaos.act(Action.KILL, "kafka-2")
    assert done
    assert not tracked.alive()
    assert [(e.action, e.service, e.pid) for e in events] == [(Action.KILL, "kafka-2", tracked.pid)]
    assert "SIGKILL" in events[0].line()


def test_a_random_broker_is_one_that_runs(stack_with_sleeper: LocalStack) -> None:
    chaos = Chaos(stack_with_sleeper, report=lambda _e: None)
    assert {chaos.resolve(ANY_BROKER).name for _ in range(10)} == {"kafka-2"}


def test_pause_and_resume_after_a_while(stack_with_sleeper: LocalStack) -> None:
    service = stack_with_sleeper.service("kafka-2")
    tracked = process.running(service.pid_file)
    assert tracked is not None
    states: list[str | None] = []
    chaos = Chaos(
        stack_with_sleeper,
        report=lambda _e: None,
        sleep=lambda _s: states.append(process.state(tracked.pid)),
    )
    chaos.act(Action.PAUSE, "kafka-2", back_after_s=5)
    assert states == ["T"]  # stopped while "waiting", running again after
    assert process.state(tracked.pid) in ("S", "R")


def test_acting_on_a_service_that_is_not_running_changes_nothing(
    stack_with_sleeper: LocalStack,
) -> None:
    events: list[ChaosEvent] = []
    _, done = Chaos(stack_with_sleeper, report=events.append).act(Action.PAUSE, "kafka-3")
    assert not done
    assert "not running" in events[0].detail


def test_a_recycled_pid_is_never_signalled(stack_with_sleeper: LocalStack) -> None:
    service = stack_with_sleeper.service("kafka-2")
    tracked = process.running(service.pid_file)
    assert tracked is not None
    forged = stack_with_sleeper.service("kafka-1").pid_file
    forged.write_text(f"{tracked.pid} 1\n")  # kafka-2's PID, another start time
    _, done = Chaos(stack_with_sleeper, report=lambda _e: None).act(Action.KILL, "kafka-1")
    assert not done
    assert tracked.alive()


def test_the_loop_acts_every_so_often_for_so_long(stack_with_sleeper: LocalStack) -> None:
    events: list[ChaosEvent] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += max(seconds, 0.01)

    chaos = Chaos(stack_with_sleeper, report=events.append, sleep=sleep, clock=lambda: now[0])
    rounds = chaos.loop(Action.RESUME, ["kafka-2"], every_s=20, for_s=60)
    assert rounds == 3
    assert [event.action for event in events] == [Action.RESUME] * 3


def test_unknown_targets_and_bad_durations_are_usage_errors(
    stack_with_sleeper: LocalStack,
) -> None:
    with pytest.raises(InputError, match="unknown service 'zookeeper'"):
        Chaos(stack_with_sleeper).check_targets(["broker", "zookeeper"])
    assert parse_duration("20s", option="--every") == 20
    assert parse_duration("5m", option="--for") == 300
    assert parse_duration("1.5", option="--for") == 1.5
    with pytest.raises(InputError, match="--every takes a duration"):
        parse_duration("soon", option="--every")


def test_chaos_cli_usage_errors(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDRICAL_STACK__HOME", str(settings.home))
    assert _run(["chaos", "kill", "broker", "--every", "20s"]) == 2
    assert "--every and --for go together" in capsys.readouterr().err
    assert _run(["chaos", "start", "connect", "--back-after", "5s"]) == 2
    assert "--back-after undoes" in capsys.readouterr().err
    assert _run(["chaos", "kill", "connect"]) == 1  # nothing runs: said, and non-zero
    assert "connect was left as it was" in capsys.readouterr().err


# --- the delivery timeline -----------------------------------------------------------------------


class _Message:
    def __init__(self, latency: float) -> None:
        self._latency = latency

    def latency(self) -> float:
        return self._latency


def test_the_timeline_keeps_the_longest_delivery_by_produce_time() -> None:
    now = [100.0]
    timeline = DeliveryTimeline(clock=lambda: now[0])
    for at, latency in ((101.0, 0.05), (103.0, 0.1), (110.0, 4.0), (110.5, 0.2)):
        now[0] = at
        timeline.observe(None, _Message(latency))  # type: ignore[arg-type]
    assert timeline.delivered == 4
    assert timeline.max_latency_s() == 4.0
    assert timeline.max_latency_s(until=104.0) == 0.1
    # Produced at 106.0, acknowledged at 110.0: in the window after 105 s.
    assert timeline.max_latency_s(since=105.0) == 4.0
    assert timeline.last_delayed_ack(1.0, since=105.0) == pytest.approx(110.0, abs=0.1)
    assert timeline.last_delayed_ack(5.0, since=105.0) == 105.0
    assert [round(v, 2) for _, v in timeline.profile(1.0)] == [0.05, 0.1, 4.0, 0.2]


def test_the_timeline_counts_failures_apart() -> None:
    timeline = DeliveryTimeline()
    timeline.observe(object(), _Message(0.1))  # type: ignore[arg-type]
    assert (timeline.delivered, timeline.failed) == (0, 1)


def test_an_outcome_counts_the_lost_and_the_repeated_against_what_was_acknowledged() -> None:
    outcome = Outcome(
        sent=1000, acknowledged=998, failed=2, in_topic=999, stored=StoredCounts(1001, 997)
    )
    figures = outcome.as_dict()
    repeats = (figures["duplicated_rows"], figures["duplicated_in_topic"])
    assert (figures["lost"], repeats) == (1, (4, 1))
    assert outcome.describe() == describe_outcome(figures)
    assert outcome.describe() == (
        "sent 1,000, acknowledged 998, failed 2, in the topic 999, stored 1,001 rows "
        "(997 distinct): lost 1, duplicated 4 rows / 1 messages"
    )


# --- progress traces -----------------------------------------------------------------------------


def _trace(samples: list[tuple[float, int | None, int]]) -> ProgressTrace:
    trace = ProgressTrace()
    for at, done, due in samples:
        trace.record(at, done, due)
    return trace


def test_a_halt_runs_from_the_last_progress_to_the_next_while_work_waits() -> None:
    # Stored rows against acknowledged readings: steady, then stuck from 12 s to 18 s (its
    # server unreadable at 14 s and 16 s), then caught up.
    trace = _trace(
        [
            (10.0, 100, 150),
            (11.0, 200, 250),
            (12.0, 300, 350),
            (13.0, 300, 450),
            (14.0, None, 550),
            (16.0, None, 750),
            (18.0, 900, 950),
            (19.0, 1000, 1050),
        ]
    )
    assert [h.seconds for h in trace.halts()] == [1.0, 1.0, 6.0, 1.0]
    assert trace.longest_halt() == 6.0
    assert trace.longest_halt(since=13.5) == 6.0  # it overlaps the window
    assert trace.longest_halt(since=18.5) == 1.0
    assert trace.longest_halt(until=11.5) == 1.0
    assert trace.longest_halt(until=15.0) == 6.0  # it began before 15 s
    assert trace.longest_halt(until=15.0, inside=True) == 1.0  # but ended after


def test_a_stage_with_nothing_to_do_is_idle_not_halted() -> None:
    # The stream ended at 100 readings: the stage caught up at 12 s and stays put.
    trace = _trace([(10.0, 50, 100), (11.0, 80, 100), (12.0, 100, 100), (20.0, 100, 100)])
    assert trace.longest_halt() == 1.0
    # New work at 21 s, first done at 23 s: a halt of 2 s, counted from when the work came.
    more = _trace([(12.0, 100, 100), (20.0, 100, 100), (21.0, 100, 120), (23.0, 120, 120)])
    assert more.longest_halt() == 2.0


def test_caught_up_is_when_the_stage_again_holds_what_reached_it_lag_s_earlier() -> None:
    # 100 readings a second arrive; the stage keeps within 1 s until a fault at 10 s stops it
    # (its last progress at 10 s, the next at 15 s), then it works off the backlog.
    samples: list[tuple[float, int | None, int]] = []
    for second in range(25):
        due = 100 * second
        if second < 10:
            done = due - 50
        elif second < 15:
            done = 950
        else:
            done = min(due - 50, 950 + 200 * (second - 14))
        samples.append((float(second), done, due))
    trace = _trace(samples)
    # At 17 s: 1,550 done, 1,500 due at 15 s.
    assert trace.caught_up_after(10.0, None, lag_s=2.0) == 7.0
    assert trace.caught_up_after(0.0, 10.0, lag_s=2.0) == 0.0  # never behind before the fault
    assert trace.caught_up_after(10.0, 15.0, lag_s=2.0) is None  # still behind at the window's end
    assert trace.longest_halt(since=10.0, until=11.0) == 5.0
