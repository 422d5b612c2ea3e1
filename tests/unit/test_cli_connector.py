"""`medrical connector ...` without a Connect cluster: show-config offline, errors when down."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.config import MASK
from medrical.errors import ExitCode
from tests.unit.cli_harness import closed_port, isolate_cli, run_cli

DB_PASSWORD = "pg-s3cret-Xq"
REGISTRY_USER_INFO = "reg-user:reg-s3cret-Zw"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


run = run_cli


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
    assert config["connector.class"] == "io.medrical.connect.sink.CopySinkConnector"
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
