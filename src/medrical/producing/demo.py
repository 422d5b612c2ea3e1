"""The demo's pieces that are not command-line parsing: is the local stack in use, and how to
look at the stored data without ever printing the database password."""

from __future__ import annotations

import shlex

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
