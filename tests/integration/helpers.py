"""Integration test helpers: waiting with deadlines (no bare sleeps), synthetic streams, and
reading back what the engines hold."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from medrical.config import (
    STACK_NODE_PORT_FIELDS,
    STACK_PORT_FIELDS,
    MedricalConfig,
    StackSettings,
)
from medrical.kafka_clients import client_conf
from medrical.monitor.stream import MonitorOptions, StreamMonitor
from medrical.reliability import committed_records
from medrical.simulation import Simulator
from medrical.sink import ConnectClient, sink_config
from medrical.stack.layout import StackLayout
from medrical.stopping import StopFlag

T = TypeVar("T")


START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def synthetic_reading(index: int, patients: int = 7) -> dict[str, object]:
    """The index-th of a plain, valid stream of readings over `patients` patients."""
    return {
        "patient_id": f"P-{index % patients + 1:06d}",
        "event_time": START_MS + index * 1000,
        "heart_rate": 60 + index % 40,
        "systolic_bp": 110 + index % 30,
        "diastolic_bp": 70 + index % 10,
        "body_temperature": 36.5,
        "spo2": 95 + index % 5,
        "respiratory_rate": 12 + index % 8,
        "consciousness": "A",
        "on_oxygen": index % 2 == 0,
        "scenario": "stable",
        "spo2_scale": 1,
    }


def unique_topic(prefix: str = "it") -> str:
    return f"biometrics_{prefix}_{uuid.uuid4().hex[:10]}"


def wait_for(
    probe: Callable[[], T | None], *, timeout_s: float, interval_s: float = 0.5, what: str
) -> T:
    """Call `probe` until it returns something other than None, or fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception as exc:  # the condition may not be reachable yet
            last = exc
            result = None
        if result is not None:
            return result
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last})")


def table_row_count(config: MedricalConfig, table: str) -> int | None:
    """Rows in a table, or None while the table does not exist."""
    with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
        if exists is None or exists[0] is None:
            return None
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608
        return int(row[0]) if row else 0


def wait_for_rows(config: MedricalConfig, table: str, count: int, timeout_s: float = 90) -> None:
    """Wait until `table` exists and holds exactly `count` rows."""
    wait_for(
        lambda: True if table_row_count(config, table) == count else None,
        timeout_s=timeout_s,
        what=f"{count} rows in table {table}",
    )


def sink_caught_up(config: MedricalConfig, connector: str, topic: str) -> bool | None:
    """True once the sink connector's consumer group has committed the end of every partition
    of `topic` (Connect names that group `connect-<connector>`); None before."""
    admin = AdminClient(client_conf(config))
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(
        f"connect-{connector}", [TopicPartition(topic, p) for p in partitions]
    )
    committed = admin.list_consumer_group_offsets([request])[request.group_id].result(timeout=10)
    consumer = Consumer(client_conf(config, **{"group.id": f"probe-{uuid.uuid4().hex}"}))
    try:
        for tp in committed.topic_partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), 10)
            if tp.offset < high:
                return None
    finally:
        consumer.close()
    return True


def ward(
    patients: dict[str, tuple[str, int]], hours: float, interval_s: float
) -> list[dict[str, Any]]:
    """Readings of several simulated groups, merged in event-time order, ids prefixed."""
    streams = []
    for prefix, (scenario, count) in patients.items():
        simulator = Simulator(count, 7, scenario, interval_s=interval_s, start_ms=START_MS)
        total = round(hours * 3600 / interval_s) * count
        streams.append(
            [
                {**r.to_record(), "patient_id": f"{prefix}{r.patient_id}"}
                for r in itertools.islice(simulator.readings(), total)
            ]
        )
    return sorted(itertools.chain(*streams), key=lambda r: (r["event_time"], r["patient_id"]))


def read_alerts(config: MedricalConfig, topic: str) -> list[dict[str, Any]]:
    """Every committed alert on `topic`, as a read_committed consumer sees them."""
    return committed_records(config, topic, timeout_s=30)


def progress(config: MedricalConfig, group: str, topic: str) -> tuple[int, int]:
    """(messages the group has committed, messages in the topic)."""
    consumer = Consumer(
        client_conf(
            config,
            **{"group.id": group, "enable.auto.commit": False, "isolation.level": "read_committed"},
        )
    )
    try:
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        tps = [TopicPartition(topic, p) for p in partitions]
        # Committed offsets of a killed transactional producer stay unstable until the broker
        # aborts its transaction (its timeout, then the broker's cleanup interval).
        committed = consumer.committed(tps, timeout=45)
        done = sum(max(tp.offset, 0) for tp in committed)
        total = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps)
    finally:
        consumer.close()
    return done, total


def caught_up(config: MedricalConfig, group: str, topic: str) -> bool | None:
    done, total = progress(config, group, topic)
    return True if done == total else None


def monitor_until_caught_up(config: MedricalConfig, topic: str, timeout_s: float = 180) -> Any:
    """Run a monitor of its own group over `topic` in a thread until it has committed every
    reading; return its summary."""
    group = f"it-{uuid.uuid4().hex[:10]}"
    stop = StopFlag()
    with StreamMonitor(config, MonitorOptions(group=group, topics=f"^{topic}$")) as monitor:
        worker = threading.Thread(target=monitor.run, args=(stop,))
        worker.start()
        try:
            wait_for(
                lambda: caught_up(config, group, topic),
                timeout_s=timeout_s,
                what="the monitor to commit every reading",
            )
        finally:
            stop.set()
            worker.join(timeout=30)
        assert not worker.is_alive()
        return monitor.summary


def stack_env(settings: StackSettings) -> dict[str, str]:
    """A stack's settings as the environment variables a user would set for a child command
    (its home and every port; the database password stays in the stack's file)."""
    env = {"MEDRICAL_STACK__HOME": str(settings.home)}
    for name in (*STACK_PORT_FIELDS, *STACK_NODE_PORT_FIELDS):
        value = getattr(settings, name)
        if value is not None:
            env[f"MEDRICAL_STACK__{name.upper()}"] = str(value)
    return env


def inherited_env() -> dict[str, str]:
    """This process's environment without the calling shell's own stack settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MEDRICAL_STACK__")}


def child_env(settings: StackSettings) -> dict[str, str]:
    """The environment for a child `medrical` pointed at a test stack."""
    return {**inherited_env(), **stack_env(settings)}


@contextmanager
def running_dashboard(env: dict[str, str], *args: str) -> Iterator[str]:
    """`medrical dashboard` on a free loopback port as a child process; yields its URL and
    stops it by its own PID (SIGINT, then SIGKILL) on the way out."""
    process = subprocess.Popen(
        [sys.executable, "-m", "medrical", "dashboard", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, f"no URL printed (exit code {process.poll()})"
        yield line.split(" on ", 1)[1].split()[0]
    finally:
        interrupt(process, timeout_s=20)
        if process.stdout is not None:
            process.stdout.close()


def interrupt(process: subprocess.Popen[Any], *, timeout_s: float) -> None:
    """Ctrl+C for a child, by its own PID; SIGKILL if it has not ended within `timeout_s`."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def readings_sink_conf(config: MedricalConfig, topics_regex: str) -> dict[str, str]:
    """The readings sink over `topics_regex`, its password in the test stack's secrets file."""
    return sink_config(
        config,
        topics_regex=topics_regex,
        password_file=StackLayout.of(config.stack).connect_secrets_file,
    )


def apply_connector(
    config: MedricalConfig, name: str, conf: dict[str, str], *, validate: bool = False
) -> None:
    """Apply a connector (checked by Connect first with `validate`) and wait until it runs."""
    with ConnectClient(config.connect) as client:
        if validate:
            assert client.validate(name, conf) == []
        client.apply(name, conf)
        client.wait_running(name, timeout_s=60)


def kill_service(config: MedricalConfig, service: str) -> int:
    """SIGKILL one service of the local stack, by the PID in its PID file; returns the PID."""
    from medrical.stack.chaos import Action, Chaos, ChaosEvent
    from medrical.stack.manager import LocalStack

    events: list[ChaosEvent] = []
    _, done = Chaos(LocalStack(config.stack), report=events.append).act(Action.KILL, service)
    assert done, f"{service} is not running"
    pid = events[0].pid
    assert pid is not None
    return pid


def restart_stack(config: MedricalConfig) -> None:
    """What a user runs after a crash: `medrical stack up` starts whatever is not running."""
    from medrical.stack.manager import LocalStack

    LocalStack(config.stack).up(report=lambda _line: None)


def settle(config: MedricalConfig, connector: str, topic: str, count: int) -> None:
    """Wait until `topic`'s table holds `count` rows and the sink has committed the end of the
    topic."""
    wait_for_rows(config, topic, count, timeout_s=180)
    wait_for(
        lambda: sink_caught_up(config, connector, topic),
        timeout_s=90,
        what="the sink to commit the end of the topic",
    )


def hanging_partitions(config: MedricalConfig, topic: str) -> list[int]:
    """Partitions of `topic` whose last stable offset lags their end: an open transaction."""
    ends = {}
    for isolation in ("read_committed", "read_uncommitted"):
        consumer = Consumer(
            client_conf(
                config,
                **{"group.id": f"it-lso-{uuid.uuid4().hex[:8]}", "isolation.level": isolation},
            )
        )
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends[isolation] = [
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in sorted(partitions)
            ]
        finally:
            consumer.close()
    return [
        p
        for p, (stable, end) in enumerate(
            zip(ends["read_committed"], ends["read_uncommitted"], strict=True)
        )
        if stable < end
    ]


MEDRICAL = Path(sys.executable).with_name("medrical")


def produce(config: MedricalConfig, topics: Iterable[str], records: list[dict[str, Any]]) -> None:
    """Send `records` to each of `topics`, every one delivered."""
    from medrical.producing import BiometricsProducer

    for topic in topics:
        with BiometricsProducer(config, topic) as producer:
            for record in records:
                producer.send(record)
        assert producer.stats.delivered == len(records)


def cli_env(config: MedricalConfig) -> dict[str, str]:
    """The environment of a `medrical` child pointed at the test stack, as a user would."""
    stack = config.stack
    settings = {
        "HOME": str(stack.home),
        "KAFKA_PORT": str(stack.kafka_port),
        "CONTROLLER_PORT": str(stack.controller_port),
        "REGISTRY_PORT": str(stack.registry_port),
        "REGISTRY_MANAGEMENT_PORT": str(stack.registry_management_port),
        "CONNECT_PORT": str(stack.connect_port),
        "POSTGRES_PORT": str(stack.postgres_port),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDRICAL_STACK__")}
    env.update({f"MEDRICAL_STACK__{name}": value for name, value in settings.items()})
    return env


def _monitor_command(topic: str, group: str, *options: str) -> list[str]:
    command = [str(MEDRICAL), "monitor", "--no-connector", "--topics", f"^{topic}$"]
    return [*command, "--group", group, *options]


def monitor_process(
    config: MedricalConfig, topic: str, group: str, instance: str, *options: str
) -> subprocess.Popen[bytes]:
    """`medrical monitor` over one topic as a child process (stdout and stderr piped)."""
    return subprocess.Popen(
        _monitor_command(topic, group, "--instance-id", instance, *options),
        env=cli_env(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@contextmanager
def monitor_logging_to(
    config: MedricalConfig, topic: str, group: str, log: Path, *options: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`medrical monitor` over one topic, its output in `log` (a long run never fills a pipe);
    stopped by SIGTERM (SIGKILL if it lingers) on the way out unless it has ended."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            _monitor_command(topic, group, *options),
            env=cli_env(config),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def stop_process(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    """SIGTERM a child (SIGKILL if it lingers); its exit code and output."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return process.returncode, out.decode()
