"""`medrical connector ...` without a Connect cluster: show-config offline, errors when down."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medrical.cli import _run
from medrical.config import ENV_ALIASES, MASK
from medrical.errors import ExitCode

DB_PASSWORD = "pg-s3cret-Xq"
REGISTRY_USER_INFO = "reg-user:reg-s3cret-Zw"


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MEDRICAL_CONFIG_DIR", str(tmp_path / "config"))
    for name in [*ENV_ALIASES, "DATABASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("MEDRICAL_") and "__" in name:
            monkeypatch.delenv(name)
    # The command line points Medrical's logger at the (temporary) stderr; put it back.
    medrical_logger = logging.getLogger("medrical")
    saved = (medrical_logger.handlers[:], medrical_logger.level, medrical_logger.propagate)
    yield
    medrical_logger.handlers[:], medrical_logger.level, medrical_logger.propagate = saved


def run(*args: str, env: dict[str, str] | None = None) -> Outcome:
    runner = CliRunner()
    with runner.isolation(env=env) as (stdout, stderr, _):
        code = _run(list(args))
        return Outcome(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# A managed environment, as an Aiven user configures it: secrets in the environment.
MANAGED = {
    "DATABASE_URL": f"postgresql://avnadmin:{DB_PASSWORD}@pg.example.com:22345/defaultdb"
    "?sslmode=require",
    "SCHEMA_REGISTRY_URL": "https://kafka.example.com:22347",
    "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": REGISTRY_USER_INFO,
    "KAFKA_CONNECT_URL": "https://connect.example.com:443",
}


def show_config(*flags: str, env: dict[str, str] | None = None) -> dict[str, str]:
    outcome = run("connector", "show-config", *flags, env=env)
    assert outcome.code == 0, outcome.stderr
    config: dict[str, str] = json.loads(outcome.stdout)
    return config


def test_show_config_for_the_local_stack_refers_to_the_secrets_file() -> None:
    config = show_config()
    assert config["name"] == "medrical-biometrics-sink"
    assert config["connector.class"] == "io.debezium.connector.jdbc.JdbcSinkConnector"
    assert config["topics.regex"] == "biometrics_(.*)"
    # Connect reads the password from the stack's secrets file; the config only points at it.
    assert config["connection.password"].startswith("${file:")
    assert config["connection.password"].endswith("connect-secrets.properties:postgres.password}")


def test_show_config_aiven_reproduces_the_seeds_connector_with_secrets_masked() -> None:
    outcome = run("connector", "show-config", "--flavor", "aiven", "--name", "sink", env=MANAGED)
    assert outcome.code == 0, outcome.stderr
    assert DB_PASSWORD not in outcome.stdout
    assert "reg-s3cret" not in outcome.stdout
    config = json.loads(outcome.stdout)
    assert config["name"] == "sink"
    expected = {
        "connector.class": "io.aiven.connect.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "key.converter": "io.confluent.connect.avro.AvroConverter",
        "key.converter.schema.registry.url": "https://kafka.example.com:22347",
        "key.converter.basic.auth.credentials.source": "USER_INFO",
        "key.converter.basic.auth.user.info": MASK,
        "value.converter": "io.confluent.connect.avro.AvroConverter",
        "value.converter.schema.registry.url": "https://kafka.example.com:22347",
        "value.converter.basic.auth.credentials.source": "USER_INFO",
        "value.converter.basic.auth.user.info": MASK,
        "topics.regex": "biometrics_(.*)",
        "connection.url": "jdbc:postgresql://pg.example.com:22345/defaultdb?sslmode=require",
        "connection.user": "avnadmin",
        "connection.password": MASK,
        "insert.mode": "insert",
        "table.name.format": "${topic}",
        "auto.create": "true",
        "auto.evolve": "true",
    }
    assert {key: config[key] for key in expected} == expected


def test_show_config_masks_a_password_inside_the_registry_url() -> None:
    env = {**MANAGED, "SCHEMA_REGISTRY_URL": "https://user:url-s3cret@kafka.example.com:22347"}
    outcome = run("connector", "show-config", "--flavor", "aiven", env=env)
    assert outcome.code == 0, outcome.stderr
    assert "url-s3cret" not in outcome.stdout
    config = json.loads(outcome.stdout)
    assert config["value.converter.schema.registry.url"] == (
        f"https://user:{MASK}@kafka.example.com:22347"
    )


def test_show_config_debezium_for_a_managed_database_masks_the_password() -> None:
    outcome = run("connector", "show-config", "--topics-regex", "biometrics_ward_a", env=MANAGED)
    assert outcome.code == 0, outcome.stderr
    assert DB_PASSWORD not in outcome.stdout
    config = json.loads(outcome.stdout)
    assert config["connection.password"] == MASK
    assert config["topics.regex"] == "biometrics_ward_a"


def test_show_config_refuses_an_unknown_flavor() -> None:
    outcome = run("connector", "show-config", "--flavor", "confluent")
    assert outcome.code == ExitCode.USAGE


@pytest.mark.parametrize("command", [["apply"], ["status"], ["delete"]])
def test_an_unreachable_connect_exits_69(command: list[str]) -> None:
    env = {"KAFKA_CONNECT_URL": f"http://127.0.0.1:{closed_port()}"}
    started = time.monotonic()
    outcome = run("connector", *command, env=env)
    assert outcome.code == ExitCode.UNAVAILABLE
    assert "Kafka Connect" in outcome.stderr
    assert time.monotonic() - started < 10
