"""Connectors follow the stack across `stack up --tls` and back, on the session's TLS stack
(tests/conftest.py): switched to the plain mode and back to TLS, which the rest of the TLS tests
then find as they expect it."""

from __future__ import annotations

import uuid

import pytest

from medrical.config import MedricalConfig, StackSettings
from medrical.producing import BiometricsProducer
from medrical.sink import ConnectClient
from medrical.sink.dead_letters import read_dead_letters
from medrical.sink.deploy import connector_config, deploy_connector
from medrical.stack.layout import StackLayout
from medrical.stack.manager import CLIENT_CONFIG_SSL, LocalStack
from tests.integration.helpers import synthetic_reading, wait_for_rows
from tests.integration.test_cli_pipeline import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _produce(config: MedricalConfig, topic: str, count: int) -> None:
    with BiometricsProducer(config, topic) as producer:
        for index in range(count):
            producer.send(synthetic_reading(index, patients=10))
    assert producer.stats.delivered == count


def _switch(settings: StackSettings, *, tls: bool) -> MedricalConfig:
    """`medrical stack down`, then `medrical stack up [--tls]`; the new mode's client config."""
    LocalStack(settings).down()
    stack = LocalStack(settings.model_copy(update={"tls": tls}))
    stack.up()  # re-applies the connectors with the settings of the mode it now runs in
    return stack.client_config()


def _stored(config: MedricalConfig, name: str) -> dict[str, str]:
    with ConnectClient(config.connect) as client:
        stored = client.config(name)
    assert stored is not None
    return stored


def test_the_sink_follows_the_stack_to_plain_and_back_to_tls(
    tls_stack_settings: StackSettings,
) -> None:
    run_id = uuid.uuid4().hex[:8]
    name = f"medrical-it-switch-{run_id}"
    regex = f"biometrics_switch{run_id}_(.*)"
    tls_config = LocalStack(tls_stack_settings).client_config()
    with ConnectClient(tls_config.connect) as client:
        deploy_connector(client, name, connector_config(tls_config, topics_regex=regex))
    back_on_tls = False
    try:
        plain_config = _switch(tls_stack_settings, tls=False)
        stored = _stored(plain_config, name)
        assert "sslmode" not in stored["connection.url"]
        assert stored["value.converter.apicurio.registry.url"].startswith("http://")
        assert not any(key.endswith("auth.password") for key in stored)
        assert stored["topics.regex"] == regex  # everything but the transport is kept
        # The connector applied on the plain stack (this once failed with "Unable to determine
        # Dialect without JDBC metadata").
        again = run(plain_config, "connector", "apply", "--name", name, "--topics-regex", regex)
        assert again.code == 0, again.stderr
        plain_topic = f"biometrics_switch{run_id}_plaincheck"
        _produce(plain_config, plain_topic, 100)
        wait_for_rows(plain_config, plain_topic, 100, timeout_s=120)

        tls_config = _switch(tls_stack_settings, tls=True)
        back_on_tls = True
        stored = _stored(tls_config, name)
        assert "sslmode=verify-full" in stored["connection.url"]
        assert stored["value.converter.apicurio.registry.url"].startswith("https://")
        tls_topic = f"biometrics_switch{run_id}_tlscheck"
        _produce(tls_config, tls_topic, 500)
        wait_for_rows(tls_config, tls_topic, 500, timeout_s=120)
        letters = read_dead_letters(tls_config)
        assert [letter for letter in letters if letter.topic in (plain_topic, tls_topic)] == []
        client_file = StackLayout.of(tls_stack_settings).client / CLIENT_CONFIG_SSL
        status = run(
            tls_config, "--config", str(client_file), "connector", "status", "--name", name
        )
        assert status.code == 0, status.stderr
        assert "dead letters: none" in status.stdout
    finally:
        if not back_on_tls:  # the TLS tests after this one need their stack as it was
            tls_config = _switch(tls_stack_settings, tls=True)
        with ConnectClient(tls_config.connect) as client:
            client.delete(name)
