"""`medrical demo`'s pipeline, given its configuration: the local stack if it is the one in use,
the topic, the sink connector, the monitor and the dashboard as companion processes, and the
ward streamed in real time until the duration or Ctrl+C. Also how to look at the stored data
without ever printing the database password."""

from __future__ import annotations

import random
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medrical.config import LOOPBACK, MedricalConfig
from medrical.sink.deploy import uses_local_connect

if TYPE_CHECKING:  # the producing stack is imported when the demo runs, not before
    from medrical.producing.run import RunSummary

DEMO_PATIENTS = 20
DEMO_DASHBOARD_PORT = 18880
DEMO_METRICS_PORT = 18881


@dataclass(frozen=True)
class DemoPlan:
    """What the demo streams and what runs beside it."""

    topic: str
    connector_name: str
    topics_regex: str
    patients: int = DEMO_PATIENTS
    scenario: str = "mix"
    seed: int | None = None
    duration_s: float | None = None
    monitor: bool = True
    dashboard: bool = True
    dashboard_port: int = DEMO_DASHBOARD_PORT
    metrics_port: int | None = DEMO_METRICS_PORT
    """The producer's Prometheus metrics (None: off; the dashboard's are at its /metrics)."""


def run_demo(
    config: MedricalConfig,
    plan: DemoPlan,
    *,
    config_file: Path | None,
    say: Callable[[str], None],
    show: Callable[[str], None],
    on_status: Callable[[str], None] | None = None,
) -> RunSummary:
    """Bring up what the plan needs and stream until it ends; returns the producer's summary.

    `say` gets progress (stderr), `show` the lines a user acts on (stdout); `config_file` is
    passed on to the companions, so that they read the same configuration as the demo.
    """
    from medrical.producing.metrics import producer_metrics
    from medrical.producing.run import Limits, Pacing, produce_to_kafka
    from medrical.producing.topics import ensure_topic
    from medrical.schemas import check_topic
    from medrical.simulation import Simulator
    from medrical.sink import ConnectClient
    from medrical.sink.deploy import connector_config, deploy_connector

    check_topic(plan.topic)
    if uses_local_stack(config):
        from medrical.stack.manager import LocalStack

        stack = LocalStack(config.stack)
        if not all(service.healthy for service in stack.status()):
            say("starting the local stack")
            stack.up(report=say)
    else:
        say(f"using the configured services (Kafka at {config.kafka.bootstrap_servers})")
    # Created before the connector starts, so the sink stores it from the first event.
    ensure_topic(config, plan.topic)
    conf = connector_config(config, topics_regex=plan.topics_regex)
    with ConnectClient(config.connect) as client:
        deploy_connector(client, plan.connector_name, conf, report=say)
    for line in look_at_the_data(config, plan.topic):
        show(line)
    chosen = companions(
        monitor=plan.monitor,
        dashboard=plan.dashboard,
        dashboard_port=plan.dashboard_port,
        metrics=plan.metrics_port is not None,
        monitor_metrics_port=None if not plan.metrics_port else plan.metrics_port + 1,
    )
    start_companions(config, chosen, config_file=config_file)
    for companion in chosen:
        say(f"{companion.name} running; its log: {companion.log_file(config)}")
    if plan.dashboard:
        show(f"The ward, live: http://127.0.0.1:{plan.dashboard_port}/")
    try:
        stop_hint = f"for {plan.duration_s:g} s" if plan.duration_s else "until Ctrl+C"
        say(
            f"streaming {plan.patients} patients to {plan.topic}, one reading each per second, "
            f"{stop_hint}"
        )
        seed = plan.seed if plan.seed is not None else random.SystemRandom().randrange(2**31)
        if plan.metrics_port is not None and plan.dashboard:
            show(f"Dashboard metrics: http://127.0.0.1:{plan.dashboard_port}/metrics")
        if plan.metrics_port and plan.monitor:
            show(f"Monitor metrics: http://127.0.0.1:{plan.metrics_port + 1}/metrics")
        with producer_metrics(plan.metrics_port, lambda url: show(f"Producer metrics: {url}")) as (
            metrics
        ):
            return produce_to_kafka(
                config,
                plan.topic,
                Simulator(plan.patients, seed, plan.scenario).readings(),
                pacing=Pacing(speed=1.0),
                limits=Limits(duration_s=plan.duration_s),
                on_status=on_status,
                metrics=metrics,
            )
    finally:
        stop_companions(config, chosen)


def uses_local_stack(config: MedricalConfig) -> bool:
    """Whether Kafka and Connect are the local stack's (so `stack up` can provide them)."""
    local_kafka = config.kafka.bootstrap_servers in (
        config.stack.bootstrap_servers(),
        f"{LOOPBACK}:{config.stack.kafka_port}",
        f"localhost:{config.stack.kafka_port}",
    )
    return local_kafka and uses_local_connect(config)


def look_at_the_data(config: MedricalConfig, table: str) -> list[str]:
    """Lines telling where rows land and a psql command to see them; never the password."""
    pg = config.postgres
    conninfo = f"host={pg.host} port={pg.port} dbname={pg.database} user={pg.user}"
    if pg.sslmode != "prefer":
        conninfo += f" sslmode={pg.sslmode}"
    # The table name is a topic name already checked against TOPIC_PATTERN.
    columns = "patient_id, event_time, heart_rate, spo2, respiratory_rate, scenario"
    query = f'SELECT {columns} FROM "{table}" ORDER BY event_time DESC LIMIT 10'  # noqa: S608
    psql = f"psql {shlex.quote(conninfo)} -c {shlex.quote(query)}"
    lines = [
        f"Rows land in PostgreSQL table {table} "
        f"(database {pg.database} at {pg.host}:{pg.port}, user {pg.user}).",
    ]
    if pg.password is None and pg.password_file is not None:
        lines += [
            f"The password is in {pg.password_file}; look at the data with:",
            f'  PGPASSWORD="$(cat {shlex.quote(str(pg.password_file))})" {psql}',
        ]
    else:
        lines += [
            "Look at the data with (psql asks for the postgres.password you configured):",
            f"  {psql}",
        ]
    return lines


@dataclass(frozen=True)
class Companion:
    """A `medrical` sub-command the demo runs beside the producer, as a child process."""

    name: str
    args: tuple[str, ...]

    def pid_file(self, config: MedricalConfig) -> Path:
        return config.stack.home / "run" / f"demo-{self.name}.pid"

    def log_file(self, config: MedricalConfig) -> Path:
        return config.stack.home / "logs" / f"demo-{self.name}.log"


def companions(
    *,
    monitor: bool,
    dashboard: bool,
    dashboard_port: int,
    metrics: bool = False,
    monitor_metrics_port: int | None = None,
) -> list[Companion]:
    chosen = []
    if monitor:
        # With metrics, the monitor's are served on the port after the producer's.
        args = (
            ("monitor",)
            if monitor_metrics_port is None
            else ("monitor", "--metrics-port", str(monitor_metrics_port))
        )
        chosen.append(Companion("monitor", args))
    if dashboard:
        args = ("dashboard", "--port", str(dashboard_port))
        chosen.append(Companion("dashboard", (*args, "--metrics") if metrics else args))
    return chosen


def start_companions(
    config: MedricalConfig, chosen: list[Companion], *, config_file: Path | None = None
) -> None:
    """Start each companion, with the same configuration file and environment as the demo."""
    from medrical.stack import process

    base = [sys.executable, "-m", "medrical"]
    if config_file is not None and config_file.is_file():
        base += ["--config", str(config_file)]
    for companion in chosen:
        process.stop(companion.pid_file(config))  # one left over by an earlier demo
        process.spawn(
            [*base, *companion.args],
            pid_file=companion.pid_file(config),
            log_file=companion.log_file(config),
        )


def stop_companions(config: MedricalConfig, chosen: list[Companion]) -> None:
    from medrical.stack import process

    for companion in reversed(chosen):
        process.stop(companion.pid_file(config), timeout_s=20)
