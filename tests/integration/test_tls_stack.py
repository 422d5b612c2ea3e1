"""The local stack in TLS mode, end to end: mutual TLS and SASL_SSL to Kafka, HTTPS with basic
auth to the registry, SSL-only PostgreSQL with verify-full, and every refusal a user can meet.

The session starts a TLS stack of its own (`tls_stack` in tests/conftest.py: ports 100 above the
plain test stack's, shifted by MEDRICAL_TEST_PORT_OFFSET) and stops it by its PID files at the
end.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from medrical.config import MedricalConfig, load_config
from medrical.config.store import render_toml
from medrical.errors import ConfigError, MedricalError, ServiceUnavailableError
from medrical.kafka_clients import ensure_kafka_reachable
from medrical.monitor.records import alerts_topic_for
from medrical.producing import BiometricsProducer
from medrical.schemas.registry import registry_client
from medrical.sink import ConnectClient, sink_config
from medrical.sink.alerts import alerts_sink_config
from medrical.sink.connector import BYTE_ARRAY_CONVERTER
from medrical.stack import process
from medrical.stack.layout import SERVICES, StackLayout
from medrical.stack.manager import CLIENT_CONFIG_SASL_SSL, CLIENT_CONFIG_SSL
from medrical.stack.tls import issue, new_ca
from tests.integration.helpers import (
    inherited_env,
    monitor_until_caught_up,
    read_alerts,
    running_dashboard,
    synthetic_reading,
    unique_topic,
    wait_for,
    wait_for_rows,
    ward,
)

pytestmark = pytest.mark.integration

# A refusal must come well within this, never as a hang.
REFUSAL_BOUND_S = 20.0


def _config(layout: StackLayout, name: str, **overrides: Any) -> MedricalConfig:
    return load_config(layout.client / name, overrides=overrides, environ={})


@pytest.fixture(scope="session")
def mtls_config(tls_stack: StackLayout) -> MedricalConfig:
    return _config(tls_stack, CLIENT_CONFIG_SSL)


@pytest.fixture(scope="session")
def sasl_config(tls_stack: StackLayout) -> MedricalConfig:
    return _config(tls_stack, CLIENT_CONFIG_SASL_SSL)


def _produce_and_sink(config: MedricalConfig, prefix: str) -> None:
    topic = unique_topic(prefix)
    name = f"it-{topic}"
    readings = [synthetic_reading(i, patients=5) for i in range(100)]
    with BiometricsProducer(config, topic) as producer:
        for reading in readings:
            producer.send(reading)
    assert producer.stats.delivered == len(readings)
    conf = sink_config(
        config, topics_regex=topic, password_file=StackLayout.of(config.stack).connect_secrets_file
    )
    assert "verify-full" in conf["connection.url"]
    assert conf["value.converter.apicurio.registry.url"].startswith("https://")
    with ConnectClient(config.connect) as client:
        try:
            assert client.validate(name, conf) == []
            client.apply(name, conf)
            client.wait_running(name, timeout_s=60)
            stored = client.config(name)
            assert stored is not None
            # Secrets are references to the worker's secrets file, never the values (the COPY
            # sink leaves the key undecoded, so only the value's converter asks the registry).
            assert stored["key.converter"] == BYTE_ARRAY_CONVERTER
            for key in ("connection.password", "value.converter.apicurio.auth.password"):
                assert stored[key].startswith("${file:"), key
            wait_for_rows(config, topic, len(readings), timeout_s=90)
        finally:
            client.delete(name)


# --- the whole path over each transport ----------------------------------------------------------


def test_pipeline_over_mutual_tls(mtls_config: MedricalConfig) -> None:
    assert mtls_config.kafka.security_protocol == "SSL"
    assert mtls_config.kafka.ssl_endpoint_identification
    assert mtls_config.postgres.sslmode == "verify-full"
    _produce_and_sink(mtls_config, "mtls")


def test_pipeline_over_sasl_ssl(sasl_config: MedricalConfig) -> None:
    assert sasl_config.kafka.security_protocol == "SASL_SSL"
    assert sasl_config.kafka.ssl_certificate_location is None
    _produce_and_sink(sasl_config, "sasl")


@pytest.mark.parametrize("transport", ["mtls", "sasl"])
def test_monitor_alerts_over_each_transport(
    transport: str, mtls_config: MedricalConfig, sasl_config: MedricalConfig
) -> None:
    """The monitor reads, scores and commits its alerts over TLS; they reach PostgreSQL."""
    config = mtls_config if transport == "mtls" else sasl_config
    topic = unique_topic(f"tlsmon_{transport}")
    alerts_topic = alerts_topic_for(topic)
    records = ward({"S": ("sepsis", 1), "T": ("stable", 2)}, hours=12, interval_s=60)
    with BiometricsProducer(config, topic) as producer:
        for record in records:
            producer.send(record)
    monitor_until_caught_up(config, topic)
    alerts = read_alerts(config, alerts_topic)
    assert {a["patient_id"] for a in alerts} == {"SP-000001"}
    assert "high" in {a["risk"] for a in alerts if a["kind"] == "escalation"}

    name = f"it-alerts-{uuid.uuid4().hex[:8]}"
    conf = alerts_sink_config(
        config,
        topics_regex=alerts_topic,
        password_file=StackLayout.of(config.stack).connect_secrets_file,
    )
    assert "verify-full" in conf["connection.url"]
    with ConnectClient(config.connect) as client:
        try:
            client.apply(name, conf)
            client.wait_running(name, timeout_s=60)
            wait_for_rows(config, alerts_topic, len(alerts), timeout_s=90)
        finally:
            client.delete(name)


def test_postgres_connection_is_encrypted_and_verified(mtls_config: MedricalConfig) -> None:
    with psycopg.connect(**mtls_config.postgres.connect_kwargs()) as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row == (True,)


def test_configure_from_stack_then_config_check(
    tls_stack: StackLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented one-step command, then `config check` finds every service OK."""
    # The stack's settings come from the file `configure from-stack` writes.
    env = {
        **inherited_env(),
        "MEDRICAL_STACK__HOME": str(tls_stack.home),
        "MEDRICAL_CONFIG_DIR": str(tmp_path),
    }
    configure = _medrical(["configure", "from-stack", "--sasl-ssl"], env)
    assert configure.returncode == 0, configure.stderr
    check = _medrical(["config", "check", "--timeout", "10"], env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(" OK ") == 4
    assert (tmp_path / "config.toml").stat().st_mode & 0o077 == 0
    assert (tmp_path / "ssl" / "service.key").stat().st_mode & 0o077 == 0


def test_live_checks_and_the_dashboard_over_mutual_tls(
    tls_stack: StackLayout, mtls_config: MedricalConfig, tmp_path: Path
) -> None:
    """`medrical test producer|connector` pass over mTLS, and the dashboard's own consumer
    shows patients streamed over it."""
    # The stack's settings come from the file `configure from-stack` writes.
    env = {
        **inherited_env(),
        "MEDRICAL_STACK__HOME": str(tls_stack.home),
        "MEDRICAL_CONFIG_DIR": str(tmp_path),
    }
    assert _medrical(["configure", "from-stack"], env).returncode == 0
    for check in (["test", "producer", "--count", "200"], ["test", "connector", "--count", "200"]):
        outcome = _medrical(check, env)
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr

    with running_dashboard(env) as url:
        topic = unique_topic("tlsdash")
        with BiometricsProducer(mtls_config, topic) as producer:

            def streamed() -> int | None:
                now_ms = int(time.time() * 1000)
                for index in range(5):
                    producer.send({**synthetic_reading(index, patients=5), "event_time": now_ms})
                producer.flush(5)
                seen = httpx.get(f"{url}api/patients", timeout=5).json()
                return len(seen) if len(seen) >= 5 else None

            wait_for(streamed, timeout_s=60, interval_s=1, what="patients on the dashboard")


def _medrical(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medrical", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


# --- refusals: one clear message, bounded in time ------------------------------------------------


def _refused(config: MedricalConfig, expected: type[MedricalError]) -> MedricalError:
    started = time.monotonic()
    with pytest.raises(expected) as caught:
        ensure_kafka_reachable(config, timeout_s=8)
    assert time.monotonic() - started < REFUSAL_BOUND_S
    return caught.value


def test_plaintext_client_is_told_the_listener_speaks_tls(tls_stack: StackLayout) -> None:
    config = _config(tls_stack, CLIENT_CONFIG_SSL, kafka={"security_protocol": "PLAINTEXT"})
    error = _refused(config, ServiceUnavailableError)
    assert "expects TLS" in str(error)
    assert error.exit_code == 69


def test_certificate_from_another_ca_is_refused(tls_stack: StackLayout, tmp_path: Path) -> None:
    intruder = issue(new_ca("Another CA"), "intruder", client=True)
    cert, key = tmp_path / "intruder.cert", tmp_path / "intruder.key"
    cert.write_bytes(intruder.cert_pem)
    key.write_bytes(intruder.key_pem)
    key.chmod(0o600)
    config = _config(
        tls_stack,
        CLIENT_CONFIG_SSL,
        kafka={"ssl_certificate_location": str(cert), "ssl_key_location": str(key)},
    )
    error = _refused(config, ServiceUnavailableError)
    assert "did not accept ours" in str(error)


def test_wrong_scram_password_is_refused(tls_stack: StackLayout) -> None:
    config = _config(tls_stack, CLIENT_CONFIG_SASL_SSL, kafka={"sasl_password": "not-the-one"})
    error = _refused(config, ServiceUnavailableError)
    assert "refused the SASL credentials of user 'medrical'" in str(error)
    assert "not-the-one" not in str(error)


def test_expired_client_certificate_is_refused_before_connecting(
    tls_stack: StackLayout, tmp_path: Path
) -> None:
    ca_key = tls_stack.tls.ca_key.read_bytes()
    from medrical.stack.tls import Issued

    ca = Issued(tls_stack.tls.ca_cert.read_bytes(), ca_key)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    expired = issue(ca, "medrical", client=True, not_before=long_ago, valid_days=1)
    cert, key = tmp_path / "service.cert", tmp_path / "service.key"
    cert.write_bytes(expired.cert_pem)
    key.write_bytes(expired.key_pem)
    key.chmod(0o600)
    config = _config(
        tls_stack,
        CLIENT_CONFIG_SSL,
        kafka={"ssl_certificate_location": str(cert), "ssl_key_location": str(key)},
    )
    error = _refused(config, ConfigError)
    assert "expired on" in str(error)
    assert error.exit_code == 78


def test_unreadable_key_file_is_refused(tls_stack: StackLayout, tmp_path: Path) -> None:
    key = tmp_path / "service.key"
    key.write_text("this is not a key\n", encoding="utf-8")
    key.chmod(0o600)
    config = _config(tls_stack, CLIENT_CONFIG_SSL, kafka={"ssl_key_location": str(key)})
    error = _refused(config, ConfigError)
    assert "the client key (kafka.ssl_key_location)" in str(error)
    assert "is not a PEM file" in str(error)


def test_key_readable_by_others_is_refused_unless_allowed(
    tls_stack: StackLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "service.key"
    key.write_bytes((tls_stack.client / "service.key").read_bytes())
    key.chmod(0o644)
    config = _config(tls_stack, CLIENT_CONFIG_SSL, kafka={"ssl_key_location": str(key)})
    error = _refused(config, ConfigError)
    assert "can be read by other users" in str(error)
    monkeypatch.setenv("MEDRICAL_ALLOW_EXPOSED_SECRETS", "1")
    assert ensure_kafka_reachable(config, timeout_s=8) == 1


def test_registry_call_without_credentials_is_refused(tls_stack: StackLayout) -> None:
    config = _config(tls_stack, CLIENT_CONFIG_SSL)
    config.registry.basic_auth_user_info = None
    registry = registry_client(config)
    started = time.monotonic()
    try:
        with pytest.raises(ServiceUnavailableError, match="requires credentials"):
            registry.get_subjects()
    finally:
        registry.close()
    assert time.monotonic() - started < REFUSAL_BOUND_S


def test_registry_with_an_untrusted_certificate_is_refused(
    tls_stack: StackLayout, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(new_ca("Another CA").cert_pem)
    config = _config(tls_stack, CLIENT_CONFIG_SSL, registry={"ssl_ca_location": str(other)})
    registry = registry_client(config)
    try:
        with pytest.raises(ServiceUnavailableError, match="is not trusted"):
            registry.get_subjects()
    finally:
        registry.close()


def test_connect_rest_api_is_https_and_refuses_a_call_without_credentials(
    tls_stack: StackLayout, mtls_config: MedricalConfig
) -> None:
    assert mtls_config.connect.url is not None
    assert mtls_config.connect.url.startswith("https://")
    ca = ssl.create_default_context(cafile=str(tls_stack.tls.ca_cert))
    with httpx.Client(verify=ca, timeout=10) as http:
        assert http.get(f"{mtls_config.connect.url}/connectors").status_code == 401
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{mtls_config.stack.connect_port}/connectors", timeout=5)
    with ConnectClient(mtls_config.connect) as client:
        assert "io.debezium.connector.jdbc.JdbcSinkConnector" in client.plugins()


def test_postgres_refuses_a_connection_without_tls(mtls_config: MedricalConfig) -> None:
    kwargs = mtls_config.postgres.connect_kwargs() | {"sslmode": "disable"}
    kwargs.pop("sslrootcert", None)
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(**kwargs)


def test_cli_refusal_is_one_message_and_exit_69(tls_stack: StackLayout, tmp_path: Path) -> None:
    settings = load_config(tls_stack.client / CLIENT_CONFIG_SASL_SSL, environ={})
    tree = {
        "kafka": {
            "bootstrap_servers": settings.kafka.bootstrap_servers,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "medrical",
            "sasl_password": "wrong-password",
            "ssl_ca_location": str(tls_stack.client / "ca.pem"),
        },
        "stack": {"home": str(tls_stack.home)},
    }
    config_file = tmp_path / "config.toml"
    config_file.write_text(render_toml(tree), encoding="utf-8")
    config_file.chmod(0o600)
    env = {**os.environ, "MEDRICAL_CONFIG_DIR": str(tmp_path)}
    result = _medrical(["test", "producer", "--count", "5"], env)
    assert result.returncode == 69, result.stderr
    assert "Traceback" not in result.stderr
    assert "refused the SASL credentials" in result.stderr
    assert "wrong-password" not in result.stderr + result.stdout


# --- secrets hygiene -----------------------------------------------------------------------------


def _stack_secrets(layout: StackLayout) -> list[str]:
    files = [
        layout.postgres_password_file,
        layout.kafka_sasl_password_file,
        layout.registry_password_file,
    ]
    return [path.read_text(encoding="utf-8").strip() for path in files]


def test_no_secret_on_any_stack_process_command_line(tls_stack: StackLayout) -> None:
    secrets = _stack_secrets(tls_stack)
    for service in SERVICES:
        tracked = process.running(tls_stack.pid_file(service))
        assert tracked is not None, service
        cmdline = Path(f"/proc/{tracked.pid}/cmdline").read_bytes().decode(errors="replace")
        for secret in secrets:
            assert secret not in cmdline, f"a secret on the command line of {service}"


def test_secret_files_are_private(tls_stack: StackLayout) -> None:
    private = [
        *tls_stack.secrets.iterdir(),
        tls_stack.tls.ca_key,
        tls_stack.tls.server_key,
        tls_stack.tls.stack_key,
        *tls_stack.client.iterdir(),
    ]
    for path in private:
        assert path.stat().st_mode & 0o077 == 0, path


def test_config_show_masks_every_secret(tls_stack: StackLayout) -> None:
    env = {**os.environ, "MEDRICAL_CONFIG_DIR": str(tls_stack.client)}
    for name in (CLIENT_CONFIG_SSL, CLIENT_CONFIG_SASL_SSL):
        result = _medrical(["--config", str(tls_stack.client / name), "config", "show"], env)
        assert result.returncode == 0, result.stderr
        for secret in _stack_secrets(tls_stack):
            assert secret not in result.stdout + result.stderr


def test_zz_no_password_in_any_log_of_the_run(tls_stack: StackLayout) -> None:
    """Runs last (by name): every log of the whole TLS run, searched for every password."""
    secrets = _stack_secrets(tls_stack)
    logs = list(tls_stack.logs.glob("*"))
    assert {path.stem for path in logs} >= set(SERVICES)
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        for secret in secrets:
            assert secret not in text, f"a password in {log.name}"
