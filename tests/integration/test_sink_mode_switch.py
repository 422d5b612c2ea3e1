"""Connectors follow the stack across `stack up --tls` and back, on a stack of this module's own
(ports 200 above the plain test stack's, shifted by MEDRICAL_TEST_PORT_OFFSET)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.config import StackSettings
from medrical.producing import BiometricsProducer
from medrical.sink import DEFAULT_CONNECTOR_NAME, ConnectClient
from medrical.sink.dead_letters import read_dead_letters
from medrical.stack.manager import LocalStack
from tests.conftest import TEST_PORTS
from tests.integration.helpers import synthetic_reading, wait_for_rows
from tests.integration.test_cli_pipeline import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def plain_settings() -> Iterator[StackSettings]:
    home = Path(tempfile.mkdtemp(prefix="medrical-test-switch-stack-"))
    home.chmod(0o755)  # PostgreSQL's own user must reach its data folder
    ports = {name: port + 200 for name, port in TEST_PORTS.items()}
    ports["kafka_sasl_port"] = ports["kafka_port"] + 2
    settings = StackSettings(home=home, **ports)  # type: ignore[arg-type]
    try:
        yield settings
    finally:
        LocalStack(settings).down()
        shutil.rmtree(home, ignore_errors=True)


def _produce(stack: LocalStack, topic: str, count: int) -> None:
    config = stack.client_config()
    with BiometricsProducer(config, topic) as producer:
        for index in range(count):
            producer.send(synthetic_reading(index, patients=10))
    assert producer.stats.delivered == count


def test_the_sink_follows_the_stack_to_tls_and_back(plain_settings: StackSettings) -> None:
    plain = LocalStack(plain_settings)
    plain.up()
    applied = run(plain.client_config(), "connector", "apply")
    assert applied.code == 0, applied.stderr
    plain.down()

    tls = LocalStack(plain_settings.model_copy(update={"tls": True}))
    tls.up()  # re-applies the connector with the TLS stack's settings
    tls_config = tls.client_config()
    with ConnectClient(tls_config.connect) as client:
        stored = client.config(DEFAULT_CONNECTOR_NAME)
    assert stored is not None
    assert "sslmode=verify-full" in stored["connection.url"]
    assert stored["value.converter.apicurio.registry.url"].startswith("https://")
    _produce(tls, "biometrics_tlscheck", 500)
    wait_for_rows(tls_config, "biometrics_tlscheck", 500, timeout_s=120)
    assert [
        letter for letter in read_dead_letters(tls_config) if letter.topic == "biometrics_tlscheck"
    ] == []
    tls.down()

    plain = LocalStack(plain_settings)
    plain.up()  # and back to the plain stack's settings
    plain_config = plain.client_config()
    with ConnectClient(plain_config.connect) as client:
        stored = client.config(DEFAULT_CONNECTOR_NAME)
    assert stored is not None
    assert "sslmode" not in stored["connection.url"]
    assert not any(key.endswith("auth.password") for key in stored)
    again = run(plain_config, "connector", "apply")
    assert again.code == 0, again.stderr
    _produce(plain, "biometrics_plaincheck", 100)
    wait_for_rows(plain_config, "biometrics_plaincheck", 100, timeout_s=120)
    status = run(plain_config, "connector", "status")
    assert status.code == 0, status.stderr
    assert "dead letters: none" in status.stdout
