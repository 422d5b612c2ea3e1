"""`medrical configure`, `configure ssl`, `config show` and `config check` as a user runs them."""

from __future__ import annotations

import json
import re
import socket
import stat
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.config import MASK
from medrical.errors import ExitCode
from tests.unit.cli_harness import isolate_cli, run_cli
from tests.unit.pem import client, client_files


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for directory in isolate_cli(tmp_path, monkeypatch):
        yield directory / "config.toml"


run = run_cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def show_json() -> dict[str, dict[str, object]]:
    outcome = run("config", "show", "--json")
    assert outcome.code == 0, outcome.stderr
    settings: dict[str, dict[str, object]] = json.loads(outcome.stdout)["settings"]
    return settings


def pem_files(directory: Path) -> tuple[Path, Path, Path]:
    return client_files(directory)


# --- configure, non-interactive ----------------------------------------------------------------


def test_non_interactive_configure_round_trips_through_config_show(
    config_file: Path, tmp_path: Path
) -> None:
    user_info = tmp_path / "registry-user-info"
    user_info.write_text("sr-user:sr-secret\n")
    outcome = run(
        "configure",
        "--non-interactive",
        "--kafka-bootstrap-servers",
        "kafka.example:12345",
        "--security-protocol",
        "sasl_ssl",
        "--sasl-mechanism",
        "SCRAM-SHA-256",
        "--sasl-username",
        "avnadmin",
        "--registry-url",
        "https://registry.example:443",
        "--registry-user-info-file",
        str(user_info),
        "--connect-url",
        "https://connect.example:443",
        "--postgres-host",
        "pg.example",
        "--postgres-port",
        "6543",
        "--postgres-database",
        "vitals",
        "--postgres-sslmode",
        "require",
        "--kafka-property",
        "linger.ms=20",
    )
    assert outcome.code == 0, outcome.stderr
    assert f"Saved the configuration to {config_file}" in outcome.stderr
    assert mode(config_file) == 0o600
    assert mode(config_file.parent) == 0o700

    settings = show_json()
    assert settings["kafka.bootstrap_servers"] == {"value": "kafka.example:12345", "source": "file"}
    assert settings["kafka.security_protocol"]["value"] == "SASL_SSL"
    assert settings["kafka.sasl_mechanism"]["value"] == "SCRAM-SHA-256"
    assert settings["registry.basic_auth_user_info"] == {"value": MASK, "source": "file"}
    assert settings["postgres.port"] == {"value": 6543, "source": "file"}
    assert settings["postgres.sslmode"]["value"] == "require"
    assert settings["kafka.extra.linger.ms"]["value"] == "20"
    assert tomllib.loads(config_file.read_text())["registry"]["basic_auth_user_info"] == (
        "sr-user:sr-secret"
    )


def test_configure_changes_only_what_it_is_given(config_file: Path) -> None:
    assert run("configure", "--non-interactive", "--postgres-host", "a").code == 0
    assert run("configure", "--non-interactive", "--postgres-user", "b").code == 0
    assert run("configure", "--non-interactive", "--kafka-property", "acks=all").code == 0
    assert run("configure", "--non-interactive", "--kafka-property", "acks=").code == 0
    assert tomllib.loads(config_file.read_text()) == {"postgres": {"host": "a", "user": "b"}}


def test_configure_without_anything_to_do_writes_nothing(config_file: Path) -> None:
    outcome = run("configure", "--non-interactive")
    assert outcome.code == 0
    assert "Nothing to change." in outcome.stderr
    assert not config_file.exists()


def test_secret_from_the_environment_is_stored_without_warning(config_file: Path) -> None:
    outcome = run(
        "configure",
        "--non-interactive",
        "--security-protocol",
        "SASL_SSL",
        env={"KAFKA_SASL_PASSWORD": "env-secret"},
    )
    assert outcome.code == 0, outcome.stderr
    assert "process list" not in outcome.stderr
    assert tomllib.loads(config_file.read_text())["kafka"]["sasl_password"] == "env-secret"


def test_secret_given_on_the_command_line_is_warned_about(config_file: Path) -> None:
    outcome = run("configure", "--non-interactive", "--sasl-password", "cli-secret")
    assert outcome.code == 0, outcome.stderr
    assert "--sasl-password on the command line can be read by other users" in outcome.stderr
    assert "cli-secret" not in outcome.stderr + outcome.stdout


def test_postgres_dsn_flag_warns_when_it_holds_a_password(config_file: Path) -> None:
    outcome = run(
        "configure", "--non-interactive", "--postgres-dsn", "postgresql://app:pw@db:7000/vitals"
    )
    assert outcome.code == 0, outcome.stderr
    assert "--postgres-dsn holds a password" in outcome.stderr
    assert tomllib.loads(config_file.read_text())["postgres"] == {
        "host": "db",
        "port": 7000,
        "user": "app",
        "password": "pw",
        "database": "vitals",
    }


def test_postgres_password_file_is_referenced_not_copied(config_file: Path, tmp_path: Path) -> None:
    secret = tmp_path / "pg.password"
    secret.write_text("pg-secret\n")
    outcome = run("configure", "--non-interactive", "--postgres-password-file", str(secret))
    assert outcome.code == 0, outcome.stderr
    assert "pg-secret" not in config_file.read_text()
    assert show_json()["postgres.password_file"]["value"] == str(secret)


def test_configure_without_a_terminal_asks_for_non_interactive(config_file: Path) -> None:
    outcome = run("configure", "--kafka-bootstrap-servers", "x:1")
    assert outcome.code == ExitCode.USAGE
    assert outcome.errors == [
        "error: `medrical configure` asks questions, but its input is not a terminal. "
        "Give the settings as flags with --non-interactive (see --help), or pass "
        "--interactive to read the answers from standard input."
    ]
    assert not config_file.exists()


def test_bad_kafka_property_is_a_usage_error(config_file: Path) -> None:
    outcome = run("configure", "--non-interactive", "--kafka-property", "linger.ms")
    assert outcome.code == ExitCode.USAGE
    assert len(outcome.errors) == 1
    assert "is not KEY=VALUE" in outcome.errors[0]


# --- configure, interactive --------------------------------------------------------------------


def test_interactive_configure_asks_with_current_values_and_hides_passwords(
    config_file: Path,
) -> None:
    run("configure", "--non-interactive", "--postgres-database", "vitals")
    answers = [
        "broker.example:9093",  # bootstrap servers
        "sasl_ssl",  # security protocol
        "scram-sha-512",  # mechanism
        "alice",  # username
        "kafka-secret",  # password (hidden)
        "",  # CA path: keep
        "https://sr.example",  # registry url
        "",  # registry user info: none
        "",  # connect url: keep
        "kc:kc-secret",  # connect user info (hidden)
        "pg.example",  # host
        "70000",  # port: rejected, asked again
        "6432",  # port
        "",  # database: keep "vitals"
        "",  # user: keep
        "pg-secret",  # password (hidden)
        "verify-full",  # sslmode
    ]
    outcome = run("configure", "--interactive", input="\n".join(answers) + "\n")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert "Database [vitals]" in outcome.stdout
    assert "Bootstrap servers (host:port,...) [127.0.0.1:19092]" in outcome.stdout
    assert "SASL password (hidden; Enter for none)" in outcome.stdout
    assert "Please answer a port number" in outcome.stderr
    for secret in ("kafka-secret", "kc-secret", "pg-secret"):
        assert secret not in outcome.stdout + outcome.stderr
    assert tomllib.loads(config_file.read_text()) == {
        "postgres": {
            "database": "vitals",
            "host": "pg.example",
            "port": 6432,
            "password": "pg-secret",
            "sslmode": "verify-full",
        },
        "kafka": {
            "bootstrap_servers": "broker.example:9093",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "alice",
            "sasl_password": "kafka-secret",
        },
        "registry": {"url": "https://sr.example"},
        "connect": {"basic_auth_user_info": "kc:kc-secret"},
    }
    assert mode(config_file) == 0o600


def test_interactive_configure_keeps_everything_on_enter(config_file: Path) -> None:
    outcome = run("configure", "--interactive", input="\n" * 20)
    assert outcome.code == 0, outcome.stderr
    assert "Nothing to change." in outcome.stderr
    assert not config_file.exists()


def test_interactive_configure_skips_questions_answered_by_flags(config_file: Path) -> None:
    outcome = run(
        "configure", "--interactive", "--kafka-bootstrap-servers", "given:1", input="\n" * 20
    )
    assert outcome.code == 0, outcome.stderr
    assert "Bootstrap servers" not in outcome.stdout
    assert tomllib.loads(config_file.read_text()) == {"kafka": {"bootstrap_servers": "given:1"}}


# --- configure ssl -----------------------------------------------------------------------------


def test_configure_ssl_copies_the_aiven_files_and_uses_them(
    config_file: Path, tmp_path: Path
) -> None:
    ca, cert, key = pem_files(tmp_path / "download")
    key.chmod(0o644)
    outcome = run("configure", "ssl", "--ca", str(ca), "--cert", str(cert), "--key", str(key))
    assert outcome.code == 0, outcome.stderr
    ssl_dir = config_file.parent / "ssl"
    assert sorted(p.name for p in ssl_dir.iterdir()) == ["ca.pem", "service.cert", "service.key"]
    assert mode(ssl_dir / "service.key") == 0o600
    assert (ssl_dir / "service.key").read_bytes() == client().key_pem
    settings = show_json()
    assert settings["kafka.security_protocol"]["value"] == "SSL"
    assert settings["kafka.ssl_key_location"] == {
        "value": str(ssl_dir / "service.key"),
        "source": "file",
    }


def test_configure_ssl_with_a_missing_file_fails_cleanly(config_file: Path, tmp_path: Path) -> None:
    ca, cert, _ = pem_files(tmp_path / "download")
    missing = tmp_path / "download" / "nope.key"
    outcome = run("configure", "ssl", "--ca", str(ca), "--cert", str(cert), "--key", str(missing))
    assert outcome.code == ExitCode.CONFIG
    assert outcome.errors == [
        f"error: cannot read the client key (--key) {missing}: No such file or directory. "
        "Give the path of the file your Kafka provider handed out."
    ]
    assert "Traceback" not in outcome.stderr
    assert not (config_file.parent / "ssl").exists()


def test_a_group_readable_key_is_warned_about_by_every_command(
    config_file: Path, tmp_path: Path
) -> None:
    _, _, key = pem_files(tmp_path / "mine")
    key.chmod(0o640)
    outcome = run(
        "config",
        "show",
        env={"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEY_LOCATION": str(key)},
    )
    assert outcome.code == 0
    assert "can be read by other users" in outcome.stderr
    assert f"chmod 600 {key}" in outcome.stderr


# --- config show -------------------------------------------------------------------------------


def test_config_show_never_prints_a_secret(config_file: Path, tmp_path: Path) -> None:
    password_file = tmp_path / "sasl"
    password_file.write_text("file-secret")
    assert (
        run(
            "configure",
            "--non-interactive",
            "--sasl-password-file",
            str(password_file),
            "--registry-url",
            "https://u:url-secret@sr.example",
        ).code
        == 0
    )
    env = {
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "user:env-secret",
        "DATABASE_URL": "postgresql://app:dsn-secret@db/vitals",
        "MEDRICAL_KAFKA__EXTRA": '{"sasl.oauthbearer.client.secret": "extra-secret"}',
    }
    human = run("config", "show", env=env)
    as_json = run("config", "show", "--json", env=env)
    for outcome in (human, as_json):
        assert outcome.code == 0, outcome.stderr
        text = outcome.stdout + outcome.stderr
        for secret in ("file-secret", "url-secret", "env-secret", "dsn-secret", "extra-secret"):
            assert secret not in text
    assert re.search(r"^password += \*{8} ", human.stdout, re.MULTILINE)
    assert "# env DATABASE_URL" in human.stdout
    settings = json.loads(as_json.stdout)["settings"]
    assert settings["postgres.password"] == {"value": MASK, "source": "env DATABASE_URL"}
    assert settings["registry.url"]["value"] == f"https://u:{MASK}@sr.example"


def test_config_show_says_when_defaults_apply(config_file: Path) -> None:
    outcome = run("config", "show")
    assert outcome.code == 0
    assert f"# configuration file: {config_file} (absent: defaults apply)" in outcome.stdout
    assert "# default (local stack)" in outcome.stdout


def test_config_show_reads_the_file_given_by_config(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[postgres]\nhost = "elsewhere"\n')
    outcome = run("--config", str(other), "config", "show", "--json")
    assert outcome.code == 0, outcome.stderr
    assert json.loads(outcome.stdout)["settings"]["postgres.host"]["value"] == "elsewhere"


@pytest.mark.parametrize(
    ("file_text", "env", "expected"),
    [
        ("[kafka\n", {}, "is not valid TOML"),
        ('[kafka]\nbootstrap = "x"\n', {}, "unknown setting kafka.bootstrap in "),
        ("[postgres]\nport = 99999\n", {}, "invalid setting postgres.port in "),
        ("", {"MEDRICAL_POSTGRES__PORT": "x"}, "MEDRICAL_POSTGRES__PORT"),
        ("", {"DATABASE_URL": "postgresql://a:pw@h:bad/db"}, "DATABASE_URL is not a valid"),
        (
            "",
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/nowhere/ca.pem"},
            "kafka.ssl_ca_location in the environment variable KAFKA_SSL_CA_LOCATION points at "
            "/nowhere/ca.pem, which does not exist.",
        ),
    ],
)
@pytest.mark.parametrize("command", [["config", "show"], ["config", "check"]])
def test_bad_configuration_is_one_clear_error_with_exit_78(
    config_file: Path, file_text: str, env: dict[str, str], expected: str, command: list[str]
) -> None:
    if file_text:
        config_file.parent.mkdir(parents=True)
        config_file.write_text(file_text)
    outcome = run(*command, env=env)
    assert outcome.code == ExitCode.CONFIG
    assert len(outcome.errors) == 1
    assert expected in outcome.errors[0]
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert "pw@" not in outcome.stderr


def test_a_bad_port_flag_to_configure_is_exit_78(config_file: Path) -> None:
    outcome = run("configure", "--non-interactive", "--postgres-port", "99999")
    assert outcome.code == ExitCode.CONFIG
    assert outcome.errors == [
        "error: invalid setting postgres.port on the command line: port 99999 is outside "
        "1-65535. Correct that option."
    ]
    assert not config_file.exists()


# --- config check ------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_config_check_reports_closed_ports_as_unreachable_quickly(config_file: Path) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{closed_port()}",
        "KAFKA_CONNECT_URL": f"http://127.0.0.1:{closed_port()}",
        "DATABASE_URL": f"postgresql://app:pw@127.0.0.1:{closed_port()}/vitals",
    }
    started = time.monotonic()
    outcome = run("config", "check", "--timeout", "1", env=env)
    elapsed = time.monotonic() - started
    assert outcome.code == ExitCode.UNAVAILABLE
    lines = outcome.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["kafka", "schema", "kafka", "postgresql"]
    assert all("FAILED" in line and ": unreachable: " in line for line in lines), lines
    assert outcome.errors == [
        "error: config check: 4 of 4 services failed: kafka, schema registry, kafka connect, "
        "postgresql. See the lines above for what each one said."
    ]
    assert elapsed < 10


def test_config_check_json_gives_one_result_per_service(config_file: Path) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{closed_port()}",
        "KAFKA_CONNECT_URL": f"http://127.0.0.1:{closed_port()}",
        "DATABASE_URL": f"postgresql://app@127.0.0.1:{closed_port()}/vitals",
    }
    outcome = run("config", "check", "--timeout", "1", "--json", env=env)
    assert outcome.code == ExitCode.UNAVAILABLE
    results = json.loads(outcome.stdout)
    assert [result["service"] for result in results] == [
        "kafka",
        "schema registry",
        "kafka connect",
        "postgresql",
    ]
    assert {result["problem"] for result in results} == {"unreachable"}
    assert not any(result["ok"] for result in results)


# --- flags derived from the model --------------------------------------------------------------


def test_configure_set_writes_any_setting_and_removes_an_empty_one(config_file: Path) -> None:
    outcome = run(
        "configure",
        "--non-interactive",
        "--set",
        "postgres.port=6543",
        "--set",
        "kafka.extra.linger.ms=20",
        "--set",
        "stack.tls=true",
    )
    assert outcome.code == 0, outcome.stderr
    settings = show_json()
    assert settings["postgres.port"] == {"value": 6543, "source": "file"}
    assert settings["kafka.extra.linger.ms"] == {"value": "20", "source": "file"}
    assert settings["stack.tls"]["value"] is True
    assert run("configure", "--non-interactive", "--set", "postgres.port=").code == 0
    assert show_json()["postgres.port"]["source"] == "default (local stack)"


def test_configure_set_of_an_unknown_setting_names_it(config_file: Path) -> None:
    outcome = run("configure", "--non-interactive", "--set", "kafka.bootstrap=x:1")
    assert outcome.code == ExitCode.CONFIG
    assert outcome.errors[0].startswith("error: unknown setting kafka.bootstrap on the command")
    assert not config_file.exists()
    outcome = run("configure", "--non-interactive", "--set", "no-dot")
    assert outcome.code == ExitCode.USAGE


def test_configure_choices_come_from_the_model_and_ignore_case(config_file: Path) -> None:
    outcome = run("configure", "--non-interactive", "--security-protocol", "sasl_ssl")
    assert outcome.code == 0, outcome.stderr
    assert show_json()["kafka.security_protocol"]["value"] == "SASL_SSL"
    outcome = run("configure", "--non-interactive", "--postgres-sslmode", "sometimes")
    assert outcome.code == ExitCode.USAGE
    assert "verify-full" in outcome.stderr
