"""The core commands on the real engines: produce, connector, the live checks and the demo."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from medrical.cli import _run
from medrical.config import MedricalConfig
from medrical.errors import ExitCode
from medrical.sink import ConnectClient
from tests.integration.helpers import (
    stack_env,
    table_row_count,
    unique_topic,
    wait_for,
    wait_for_rows,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    medrical_logger = logging.getLogger("medrical")
    saved = (medrical_logger.handlers[:], medrical_logger.level, medrical_logger.propagate)
    yield
    medrical_logger.handlers[:], medrical_logger.level, medrical_logger.propagate = saved


def run(config: MedricalConfig, *args: str) -> Outcome:
    runner = CliRunner()
    with runner.isolation(env=stack_env(config.stack)) as (stdout, stderr, _):
        code = _run(list(args))
        return Outcome(code, stdout.getvalue().decode(), stderr.getvalue().decode())


@pytest.fixture
def topic_and_connector(live_config: MedricalConfig) -> Iterator[tuple[str, str]]:
    topic = unique_topic("cli")
    name = f"it-{topic}"
    yield topic, name
    with ConnectClient(live_config.connect) as client:
        client.delete(name)


def test_produce_then_connector_apply_stores_every_event(
    live_config: MedricalConfig, topic_and_connector: tuple[str, str]
) -> None:
    topic, name = topic_and_connector
    produced = run(
        live_config, "produce", "--topic", topic, "--count", "1000", "--patients", "20",
        "--seed", "5", "--speed", "max",
    )  # fmt: skip
    assert produced.code == 0, produced.stderr
    assert produced.stdout == ""
    assert "1000 sent, 1000 delivered, 0 failed" in produced.stderr

    applied = run(live_config, "connector", "apply", "--name", name, "--topics-regex", topic)
    assert applied.code == 0, applied.stderr
    # The sink runs one task per input partition: three here, all running.
    header = f"{name}: RUNNING (RUNNING, RUNNING, RUNNING)"
    assert header in applied.stdout
    assert "created" in applied.stderr
    again = run(live_config, "connector", "apply", "--name", name, "--topics-regex", topic)
    assert again.code == 0, again.stderr
    assert "updated" in again.stderr

    wait_for_rows(live_config, topic, 1000, timeout_s=60)

    status = run(live_config, "connector", "status", "--name", name)
    assert status.code == 0, status.stderr
    assert status.stdout.splitlines()[:4] == [header] + [f"  task {i}: RUNNING" for i in range(3)]

    deleted = run(live_config, "connector", "delete", "--name", name)
    assert deleted.code == 0
    gone = run(live_config, "connector", "status", "--name", name)
    assert gone.code == ExitCode.FAILURE
    assert "no connector named" in gone.stderr


def test_connector_apply_with_the_aiven_flavor_names_the_missing_plugin(
    live_config: MedricalConfig, topic_and_connector: tuple[str, str]
) -> None:
    topic, name = topic_and_connector
    outcome = run(
        live_config, "connector", "apply", "--flavor", "aiven", "--name", name,
        "--topics-regex", topic,
    )  # fmt: skip
    assert outcome.code == ExitCode.CONFIG
    assert "no plugin io.aiven.connect.jdbc.JdbcSinkConnector" in outcome.stderr


def test_medrical_test_producer_passes(live_config: MedricalConfig) -> None:
    outcome = run(live_config, "test", "producer", "--count", "1000")
    assert outcome.code == 0, outcome.stderr
    assert "producer check passed" in outcome.stdout
    assert "consumed  1000 events" in outcome.stdout


def test_medrical_test_connector_passes_and_cleans_up(live_config: MedricalConfig) -> None:
    outcome = run(live_config, "test", "connector", "--count", "1000", "--deadline", "60")
    assert outcome.code == 0, outcome.stderr
    assert "all 1000 rows after" in outcome.stdout
    topic = outcome.stdout.split()[3]
    assert topic.startswith("biometrics_check_")
    assert table_row_count(live_config, topic) is None  # the table was dropped
    with ConnectClient(live_config.connect) as client:
        assert client.status(f"medrical-check-{topic.removeprefix('biometrics_check_')}") is None


def test_demo_streams_a_ward_into_postgres(
    live_config: MedricalConfig, topic_and_connector: tuple[str, str]
) -> None:
    topic, name = topic_and_connector
    outcome = run(
        live_config, "demo", "--duration", "3", "--patients", "5", "--topic", topic,
        "--name", name, "--topics-regex", topic, "--metrics-port", "0",
    )  # fmt: skip
    assert outcome.code == 0, outcome.stderr
    assert "Producer metrics: http://127.0.0.1:" in outcome.stdout
    assert f"Rows land in PostgreSQL table {topic}" in outcome.stdout
    assert "psql 'host=127.0.0.1" in outcome.stdout
    password = live_config.postgres.resolved_password()
    assert password
    assert password not in outcome.stdout + outcome.stderr
    assert "0 failed" in outcome.stderr
    rows = wait_for(
        lambda: table_row_count(live_config, topic) or None, timeout_s=60, what="demo rows"
    )
    assert 10 <= rows <= 20  # five patients, one reading a second, for three seconds
