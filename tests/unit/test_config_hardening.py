"""Hostile configuration: credentials never reach a message or a display, and malformed
connection strings, URLs and values end in one clear line with exit 78, never a traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.config import MASK, load_config
from medrical.errors import ConfigError, ExitCode
from medrical.files import write_private
from medrical.redaction import forget_secrets, mask_url, redact, remember_secret
from tests.unit.cli_harness import Outcome, closed_port, isolate_cli, run_cli


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


def assert_clean_failure(outcome: Outcome, code: int, *secrets: str) -> None:
    assert outcome.code == code, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert len(outcome.errors) == 1, outcome.stderr
    for secret in secrets:
        assert secret not in outcome.stdout + outcome.stderr


# --- credentials in messages ------------------------------------------------------------------


def test_redact_masks_url_passwords_secret_pairs_and_remembered_values() -> None:
    text = (
        "cannot reach http://ops:pa/ss@connect.example:8083 (refused); "
        "sasl.oauthbearer.config=clientId=app clientSecret=0auth-S3cret; token: tk-remembered"
    )
    remember_secret("tk-remembered")
    try:
        shown = redact(text)
    finally:
        forget_secrets()
    assert "pa/ss" not in shown
    assert "0auth-S3cret" not in shown
    assert "tk-remembered" not in shown
    assert f"http://ops:{MASK}@connect.example:8083" in shown
    assert "clientId=app" in shown


def test_mask_url_of_an_unparsable_url_masks_instead_of_failing() -> None:
    assert mask_url("http://u:p4ss@[::1") == f"http://u:{MASK}@[::1"
    assert mask_url("http://[::1") == "http://[::1"


@pytest.mark.parametrize(
    "command",
    [("connector", "status"), ("connector", "delete"), ("connector", "apply", "--timeout", "1")],
)
def test_a_connect_url_with_credentials_is_masked_when_connect_cannot_be_reached(
    command: tuple[str, ...],
) -> None:
    url = f"http://ops:c0nnect-S3cret@127.0.0.1:{closed_port()}"
    outcome = run_cli(*command, env={"KAFKA_CONNECT_URL": url})
    assert_clean_failure(outcome, ExitCode.UNAVAILABLE, "c0nnect-S3cret")
    assert f"ops:{MASK}@127.0.0.1" in outcome.stderr


def test_a_registry_url_with_credentials_is_masked_in_config_check() -> None:
    env = {
        "SCHEMA_REGISTRY_URL": f"http://sr:reg-S3cret@127.0.0.1:{closed_port()}",
        "KAFKA_CONNECT_URL": f"http://kc:kc-S3cret@127.0.0.1:{closed_port()}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
    }
    outcome = run_cli("config", "check", "--timeout", "1", env=env)
    assert_clean_failure(outcome, ExitCode.UNAVAILABLE, "reg-S3cret", "kc-S3cret")


def test_config_show_masks_the_oauthbearer_config() -> None:
    extra = {"sasl.oauthbearer.config": "clientId=app clientSecret=0auth-S3cret"}
    env = {"MEDRICAL_KAFKA__EXTRA": json.dumps(extra)}
    for flags in ((), ("--json",)):
        outcome = run_cli("config", "show", *flags, env=env)
        assert outcome.code == 0, outcome.stderr
        assert "0auth-S3cret" not in outcome.stdout + outcome.stderr
        assert "sasl.oauthbearer.config" in outcome.stdout


def test_connector_show_config_masks_a_password_that_starts_like_a_reference() -> None:
    env = {
        "DATABASE_URL": "postgresql://app@db.example.com/vitals",
        "MEDRICAL_POSTGRES__PASSWORD": "${not-a-reference",
        "KAFKA_CONNECT_URL": "https://connect.example.com",
    }
    outcome = run_cli("connector", "show-config", env=env)
    assert outcome.code == 0, outcome.stderr
    assert "not-a-reference" not in outcome.stdout
    assert json.loads(outcome.stdout)["connection.password"] == MASK


def test_connector_show_config_keeps_a_provider_reference_visible() -> None:
    outcome = run_cli("connector", "show-config")
    assert json.loads(outcome.stdout)["connection.password"].startswith("${file:")


def test_a_database_url_with_an_unencoded_slash_in_its_password_is_refused_unseen() -> None:
    env = {"DATABASE_URL": "postgresql://u:1234/S3cr3t@h/db"}
    for command in (("config", "show"), ("config", "show", "--json"), ("connector", "show-config")):
        outcome = run_cli(*command, env=env)
        assert_clean_failure(outcome, ExitCode.CONFIG, "S3cr3t")
        assert "percent-encoded" in outcome.stderr


# --- connection strings and URLs that cannot be parsed ----------------------------------------


BAD_DSNS = ["postgresql://[::1/db", "host=[::1 dbname=x", "host=h port=² dbname=x", "port=true"]


@pytest.mark.parametrize("dsn", BAD_DSNS)
def test_a_bad_dsn_in_the_environment_is_a_config_error(dsn: str) -> None:
    for name in ("DATABASE_URL", "MEDRICAL_POSTGRES__DSN"):
        outcome = run_cli("config", "show", env={name: dsn})
        assert_clean_failure(outcome, ExitCode.CONFIG)
        assert name in outcome.errors[0]


@pytest.mark.parametrize("dsn", BAD_DSNS)
def test_a_bad_dsn_in_the_file_is_a_config_error(config_dir: Path, dsn: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text(f"[postgres]\ndsn = {json.dumps(dsn)}\n")
    outcome = run_cli("config", "check", "--timeout", "1")
    assert_clean_failure(outcome, ExitCode.CONFIG)
    assert "config.toml" in outcome.errors[0]


@pytest.mark.parametrize("dsn", BAD_DSNS)
def test_a_bad_dsn_given_to_configure_is_a_config_error(config_dir: Path, dsn: str) -> None:
    outcome = run_cli("configure", "--non-interactive", "--postgres-dsn", dsn)
    assert_clean_failure(outcome, ExitCode.CONFIG)
    assert "--postgres-dsn" in outcome.errors[0]
    assert not (config_dir / "config.toml").exists()


@pytest.mark.parametrize(
    ("variable", "command"),
    [
        ("SCHEMA_REGISTRY_URL", ("config", "show")),
        ("SCHEMA_REGISTRY_URL", ("config", "check", "--timeout", "1")),
        ("KAFKA_CONNECT_URL", ("config", "show")),
        ("KAFKA_CONNECT_URL", ("config", "check", "--timeout", "1")),
        ("KAFKA_CONNECT_URL", ("connector", "status")),
    ],
)
def test_a_url_with_an_unclosed_ipv6_bracket_is_a_config_error(
    variable: str, command: tuple[str, ...]
) -> None:
    outcome = run_cli(*command, env={variable: "http://user:url-S3cret@[::1"})
    assert_clean_failure(outcome, ExitCode.CONFIG, "url-S3cret")
    assert variable in outcome.errors[0]


# --- smaller ----------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["[stack]\nkafka_port = true", "[postgres]\nport = false"])
def test_a_boolean_is_not_a_port(config_dir: Path, setting: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text(setting + "\n")
    with pytest.raises(ConfigError, match="not true or false"):
        load_config(environ={})


@pytest.mark.parametrize("heap", ["-512", "0", "12"])
def test_a_heap_too_small_to_start_a_jvm_is_refused(heap: str) -> None:
    with pytest.raises(ConfigError, match=r"stack\.kafka_heap_mb .* at least 64 MiB"):
        load_config(environ={"MEDRICAL_STACK__KAFKA_HEAP_MB": heap})


def test_settings_file_errors_name_the_settings_file(config_dir: Path, tmp_path: Path) -> None:
    from tests.unit.pem import client_files

    ca, cert, key = client_files(tmp_path / "download")
    settings = tmp_path / "settings.toml"
    settings.write_text("[postgres]\nport = 70000\n")
    outcome = run_cli(
        "configure", "ssl", "--ca", str(ca), "--cert", str(cert), "--key", str(key),
        "--settings", str(settings),
    )  # fmt: skip
    assert_clean_failure(outcome, ExitCode.CONFIG)
    assert f"postgres.port in {settings}" in outcome.errors[0]
    assert "command line" not in outcome.errors[0]
    # Nothing was installed: the copies were put back when the settings were refused.
    assert not (config_dir / "ssl" / "service.key").exists()


def test_a_private_file_is_never_written_through_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    target = tmp_path / "secrets" / "postgres.password"
    target.parent.mkdir()
    # The names a predictable writer would use for its temporary file, and the target itself.
    for name in (f".{target.name}.tmp", target.name):
        (target.parent / name).symlink_to(victim)
    write_private(target, b"s3cret\n")
    assert victim.read_text() == "untouched"
    assert not target.is_symlink()
    assert target.read_bytes() == b"s3cret\n"
    assert os.stat(target).st_mode & 0o777 == 0o600
