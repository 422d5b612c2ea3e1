"""The demo's pieces that are not command-line parsing: is the local stack in use, and how to
look at the stored data without ever printing the database password."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from medrical.config import LOOPBACK, MedricalConfig
from medrical.sink.deploy import uses_local_connect

DEMO_PATIENTS = 20


def uses_local_stack(config: MedricalConfig) -> bool:
    """Whether Kafka and Connect are the local stack's (so `stack up` can provide them)."""
    local_kafka = config.kafka.bootstrap_servers in (
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


def companions(*, monitor: bool, dashboard: bool, dashboard_port: int) -> list[Companion]:
    chosen = []
    if monitor:
        chosen.append(Companion("monitor", ("monitor",)))
    if dashboard:
        chosen.append(Companion("dashboard", ("dashboard", "--port", str(dashboard_port))))
    return chosen


def start_companions(config: MedricalConfig, chosen: list[Companion]) -> None:
    """Start each companion, with the same configuration file and environment as the demo."""
    from medrical.cli import _state
    from medrical.stack import process

    base = [sys.executable, "-m", "medrical"]
    if _state.config_file().is_file():
        base += ["--config", str(_state.config_file())]
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
