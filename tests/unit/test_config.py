"""The configuration model: layers, sources, DSN parsing, errors, masking and files on disk."""

from __future__ import annotations

import logging
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from medrical.config import (
    MASK,
    LoadedConfig,
    default_config_dir,
    describe_config,
    load_config,
    load_config_with_sources,
    mask_url,
    parse_postgres_dsn,
)
from medrical.config.ssl_files import install_ssl_files
from medrical.config.store import render_toml, save_settings
from medrical.errors import ConfigError, ExitCode
from tests.unit.pem import authority, client, client_files


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "config"
    monkeypatch.setenv("MEDRICAL_CONFIG_DIR", str(directory))
    return directory / "config.toml"


@pytest.fixture
def medrical_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI's logging setup stops propagation; caplog listens on the root logger.
    monkeypatch.setattr(logging.getLogger("medrical"), "propagate", True)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def pem_files(directory: Path) -> tuple[Path, Path, Path]:
    return client_files(directory)


def load(
    config_file: Path,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> LoadedConfig:
    """Load from the config directory `config_file` lives in, with only the given environment."""
    assert config_file.parent == default_config_dir()
    return load_config_with_sources(None, overrides, environ or {})


# --- layers ------------------------------------------------------------------------------------


def test_defaults_point_every_service_at_the_local_stack(config_file: Path) -> None:
    loaded = load(config_file)
    config = loaded.config
    assert config.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert config.registry.url == "http://127.0.0.1:18081/apis/ccompat/v7"
    assert config.connect.url == "http://127.0.0.1:18083"
    assert config.postgres.port == 15432
    assert config.postgres.password_file == config.stack.postgres_password_file
    assert loaded.source_of("kafka.bootstrap_servers") == "default (local stack)"
    assert loaded.source_of("postgres.database") == "default"
    assert not loaded.file_exists


def test_each_layer_overrides_the_one_below(config_file: Path) -> None:
    write(config_file, '[kafka]\nbootstrap_servers = "file:9092"\nsasl_username = "from-file"\n')
    assert load(config_file).config.kafka.bootstrap_servers == "file:9092"

    environ = {"KAFKA_BOOTSTRAP_SERVERS": "alias:9092"}
    loaded = load(config_file, environ=environ)
    assert loaded.config.kafka.bootstrap_servers == "alias:9092"
    assert loaded.source_of("kafka.bootstrap_servers") == "env KAFKA_BOOTSTRAP_SERVERS"
    assert loaded.source_of("kafka.sasl_username") == "file"

    environ["MEDRICAL_KAFKA__BOOTSTRAP_SERVERS"] = "explicit:9092"
    loaded = load(config_file, environ=environ)
    assert loaded.config.kafka.bootstrap_servers == "explicit:9092"
    assert loaded.source_of("kafka.bootstrap_servers") == "env MEDRICAL_KAFKA__BOOTSTRAP_SERVERS"

    loaded = load(
        config_file, environ=environ, overrides={"kafka": {"bootstrap_servers": "flag:9092"}}
    )
    assert loaded.config.kafka.bootstrap_servers == "flag:9092"
    assert loaded.source_of("kafka.bootstrap_servers") == "flag"
    assert loaded.config.kafka.sasl_username == "from-file"


@pytest.mark.parametrize(
    ("name", "value", "setting", "expected"),
    [
        ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL", "kafka.security_protocol", "SASL_SSL"),
        ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "kafka.sasl_mechanism", "SCRAM-SHA-512"),
        ("KAFKA_SASL_USERNAME", "alice", "kafka.sasl_username", "alice"),
        ("SCHEMA_REGISTRY_URL", "https://sr:443", "registry.url", "https://sr:443"),
        ("KAFKA_CONNECT_URL", "https://connect:443", "connect.url", "https://connect:443"),
        ("MEDRICAL_POSTGRES__PORT", "6543", "postgres.port", 6543),
        ("MEDRICAL_STACK__KAFKA_PORT", "29999", "stack.kafka_port", 29999),
    ],
)
def test_environment_names_reach_their_setting(
    config_file: Path, name: str, value: str, setting: str, expected: object
) -> None:
    loaded = load(config_file, environ={name: value})
    section, _, field = setting.partition(".")
    assert getattr(getattr(loaded.config, section), field) == expected
    assert loaded.source_of(setting) == f"env {name}"


@pytest.mark.parametrize(
    ("name", "setting"),
    [
        ("KAFKA_SASL_PASSWORD", "kafka.sasl_password"),
        ("KAFKA_SSL_KEY_PASSWORD", "kafka.ssl_key_password"),
        ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "registry.basic_auth_user_info"),
        ("KAFKA_CONNECT_BASIC_AUTH_USER_INFO", "connect.basic_auth_user_info"),
        ("MEDRICAL_POSTGRES__PASSWORD", "postgres.password"),
    ],
)
def test_secret_environment_names_become_masked_secrets(
    config_file: Path, name: str, setting: str
) -> None:
    loaded = load(config_file, environ={name: "s3cr3t-value"})
    section, _, field = setting.partition(".")
    assert getattr(getattr(loaded.config, section), field).get_secret_value() == "s3cr3t-value"
    shown = {view.name: view for view in describe_config(loaded)}[setting]
    assert shown.value == MASK
    assert shown.source == f"env {name}"


@pytest.mark.parametrize(
    ("name", "setting"),
    [
        ("KAFKA_SSL_CA_LOCATION", "ssl_ca_location"),
        ("KAFKA_SSL_CERTIFICATE_LOCATION", "ssl_certificate_location"),
        ("KAFKA_SSL_KEY_LOCATION", "ssl_key_location"),
    ],
)
def test_kafka_ssl_paths_come_from_the_environment(
    config_file: Path, tmp_path: Path, name: str, setting: str
) -> None:
    pem = tmp_path / "x.pem"
    pem.write_bytes(authority().cert_pem)
    pem.chmod(0o600)
    loaded = load(config_file, environ={"KAFKA_SECURITY_PROTOCOL": "SSL", name: str(pem)})
    assert getattr(loaded.config.kafka, setting) == pem
    assert loaded.config.kafka.client_config()[setting.replace("_", ".")] == str(pem)


def test_extra_librdkafka_properties_pass_through_from_file_and_env(config_file: Path) -> None:
    write(config_file, '[kafka.extra]\n"linger.ms" = "20"\n"acks" = "all"\n')
    environ = {"MEDRICAL_KAFKA__EXTRA": '{"acks": "1"}'}
    loaded = load(config_file, environ=environ)
    conf = loaded.config.kafka.client_config()
    assert conf["linger.ms"] == "20"
    assert conf["acks"] == "1"
    assert loaded.source_of("kafka.extra.linger.ms") == "file"
    assert loaded.source_of("kafka.extra.acks") == "env MEDRICAL_KAFKA__EXTRA"


def test_extra_from_the_environment_must_be_a_json_object(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="MEDRICAL_KAFKA__EXTRA is not a JSON object"):
        load(config_file, environ={"MEDRICAL_KAFKA__EXTRA": "linger.ms=20"})


def test_empty_environment_values_are_ignored(config_file: Path) -> None:
    loaded = load(config_file, environ={"KAFKA_BOOTSTRAP_SERVERS": ""})
    assert loaded.config.kafka.bootstrap_servers == "127.0.0.1:19092"


def test_home_relative_paths_are_expanded(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    ca, _, _ = pem_files(home / "certs")
    monkeypatch.setenv("HOME", str(home))
    config = load_config(environ={}, overrides={"registry": {"ssl_ca_location": "~/certs/ca.pem"}})
    assert config.registry.ssl_ca_location == ca


# --- PostgreSQL connection strings -------------------------------------------------------------


def test_database_url_is_split_into_fields(config_file: Path) -> None:
    url = "postgresql://app%40user:p%40ss%3Aword@db.example.com:6432/vitals?sslmode=require"
    loaded = load(config_file, environ={"DATABASE_URL": url})
    postgres = loaded.config.postgres
    assert (postgres.host, postgres.port, postgres.database) == ("db.example.com", 6432, "vitals")
    assert postgres.user == "app@user"
    assert postgres.resolved_password() == "p@ss:word"
    assert postgres.sslmode == "require"
    assert postgres.password_file is None
    assert loaded.source_of("postgres.host") == "env DATABASE_URL"
    assert postgres.jdbc_url() == "jdbc:postgresql://db.example.com:6432/vitals?sslmode=require"
    assert postgres.connect_kwargs()["password"] == "p@ss:word"


def test_a_dsn_without_port_means_postgresql_default_port() -> None:
    assert parse_postgres_dsn("postgres://db.example.com/vitals") == {
        "host": "db.example.com",
        "port": 5432,
        "database": "vitals",
    }


def test_keyword_dsn_is_understood() -> None:
    fields = parse_postgres_dsn("host=db port=5433 dbname=vitals user=app password='a b\\'c'")
    assert fields == {
        "host": "db",
        "port": 5433,
        "database": "vitals",
        "user": "app",
        "password": "a b'c",
    }


def test_unknown_dsn_parameters_are_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture, medrical_logs: None
) -> None:
    with caplog.at_level(logging.WARNING, logger="medrical"):
        fields = parse_postgres_dsn("postgresql://db/vitals?application_name=x&sslmode=disable")
    assert fields["sslmode"] == "disable"
    assert "application_name" in caplog.text


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://user:hunter2@db:port/vitals", "port"),
        ("mysql://user:hunter2@db/vitals", "scheme"),
        ("host=db password", "missing"),
        ("", "names no host"),
    ],
)
def test_a_bad_database_url_is_a_config_error_that_hides_the_password(
    config_file: Path, url: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(config_file, environ={"DATABASE_URL": url or " "})
    message = str(caught.value)
    assert message.startswith("DATABASE_URL is not a valid PostgreSQL connection string")
    assert reason in message
    assert "hunter2" not in message
    assert caught.value.exit_code == ExitCode.CONFIG


def test_a_dsn_in_the_file_expands_and_fields_beside_it_win(config_file: Path) -> None:
    write(config_file, '[postgres]\ndsn = "postgresql://app@db:6000/vitals"\ndatabase = "other"\n')
    loaded = load(config_file)
    assert loaded.config.postgres.host == "db"
    assert loaded.config.postgres.database == "other"
    assert loaded.source_of("postgres.host") == "file"


def test_flags_override_database_url(config_file: Path) -> None:
    loaded = load(
        config_file,
        environ={"DATABASE_URL": "postgresql://app@db/vitals"},
        overrides={"postgres": {"host": "flag-host"}},
    )
    assert loaded.config.postgres.host == "flag-host"
    assert loaded.config.postgres.database == "vitals"


# --- bad input ---------------------------------------------------------------------------------


def test_malformed_toml_names_the_file(config_file: Path) -> None:
    write(config_file, "[kafka\nbootstrap_servers = 1\n")
    with pytest.raises(ConfigError) as caught:
        load(config_file)
    assert f"the configuration file {config_file} is not valid TOML" in str(caught.value)
    assert "line 1" in str(caught.value)


def test_unknown_key_names_the_setting_and_the_valid_ones(config_file: Path) -> None:
    write(config_file, '[kafka]\nbootstrap = "x:1"\n')
    with pytest.raises(ConfigError) as caught:
        load(config_file)
    assert str(caught.value).startswith(f"unknown setting kafka.bootstrap in {config_file}.")
    assert "bootstrap_servers" in str(caught.value)
    assert caught.value.setting == "kafka.bootstrap"


def test_unknown_section_from_the_environment_names_the_variable(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="in the environment variable MEDRICAL_KAFKAA__X"):
        load(config_file, environ={"MEDRICAL_KAFKAA__X": "1"})


@pytest.mark.parametrize(
    ("toml", "environ", "where"),
    [
        ("[postgres]\nport = 99999\n", {}, "in "),
        ("", {"MEDRICAL_POSTGRES__PORT": "abc"}, "MEDRICAL_POSTGRES__PORT"),
        ("[stack]\nkafka_port = 0\n", {}, "in "),
    ],
)
def test_bad_port_names_setting_and_where_it_was_set(
    config_file: Path, toml: str, environ: dict[str, str], where: str
) -> None:
    write(config_file, toml)
    with pytest.raises(ConfigError) as caught:
        load(config_file, environ=environ)
    message = str(caught.value)
    assert message.startswith("invalid setting ")
    assert "port" in message
    assert where in message


def test_bad_security_protocol_lists_the_valid_ones(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="'SASL_SSL'"):
        load(config_file, environ={"KAFKA_SECURITY_PROTOCOL": "TLS"})


def test_missing_certificate_fails_naming_the_setting(config_file: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    write(config_file, f'[kafka]\nsecurity_protocol = "SSL"\nssl_ca_location = "{missing}"\n')
    with pytest.raises(ConfigError) as caught:
        load(config_file)
    assert str(caught.value).startswith(
        f"kafka.ssl_ca_location in {config_file} points at {missing}, which does not exist."
    )


def test_certificate_paths_unused_by_plaintext_are_not_checked(config_file: Path) -> None:
    write(config_file, '[kafka]\nssl_ca_location = "/nowhere/ca.pem"\n')
    assert load(config_file).config.kafka.security_protocol == "PLAINTEXT"


def test_a_directory_is_not_a_certificate(config_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"registry.ssl_ca_location .* is not a file"):
        load(config_file, environ={"SCHEMA_REGISTRY_SSL_CA_LOCATION": str(tmp_path)})


def test_an_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml", environ={})


# --- the kept Aiven files ----------------------------------------------------------------------


def test_kept_ssl_files_are_used_when_ssl_has_no_paths(config_file: Path) -> None:
    ca, cert, key = pem_files(config_file.parent / "ssl")
    loaded = load(config_file, environ={"KAFKA_SECURITY_PROTOCOL": "SSL"})
    kafka = loaded.config.kafka
    assert (kafka.ssl_ca_location, kafka.ssl_certificate_location, kafka.ssl_key_location) == (
        ca,
        cert,
        key,
    )
    assert loaded.source_of("kafka.ssl_key_location").startswith("default (ssl/")


def test_kept_ssl_files_give_only_the_ca_to_sasl_ssl(config_file: Path) -> None:
    ca, _, _ = pem_files(config_file.parent / "ssl")
    kafka = load(config_file, environ={"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}).config.kafka
    assert kafka.ssl_ca_location == ca
    assert kafka.ssl_key_location is None


def test_kept_ssl_files_are_ignored_by_plaintext(config_file: Path) -> None:
    pem_files(config_file.parent / "ssl")
    assert load(config_file).config.kafka.ssl_ca_location is None


def test_a_key_readable_by_others_is_warned_about(
    config_file: Path, caplog: pytest.LogCaptureFixture, medrical_logs: None
) -> None:
    _, _, key = pem_files(config_file.parent / "ssl")
    key.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="medrical"):
        load(config_file, environ={"KAFKA_SECURITY_PROTOCOL": "SSL"})
    assert f"the Kafka client key {key} can be read by other users" in caplog.text
    assert "chmod 600" in caplog.text

    caplog.clear()
    key.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="medrical"):
        load(config_file, environ={"KAFKA_SECURITY_PROTOCOL": "SSL"})
    assert "can be read by other users" not in caplog.text


def test_a_config_file_holding_secrets_readable_by_others_is_warned_about(
    config_file: Path, caplog: pytest.LogCaptureFixture, medrical_logs: None
) -> None:
    write(config_file, '[kafka]\nsasl_password = "x"\n').chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="medrical"):
        load(config_file)
    assert "the configuration file" in caplog.text
    assert '"x"' not in caplog.text


# --- writing -----------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_settings_writes_0600_and_merges(config_file: Path) -> None:
    save_settings({"kafka": {"bootstrap_servers": "a:1", "sasl_username": "u"}})
    save_settings({"kafka": {"sasl_username": None}, "postgres": {"port": 6000}})
    assert mode(config_file) == 0o600
    assert mode(config_file.parent) == 0o700
    assert tomllib.loads(config_file.read_text()) == {
        "kafka": {"bootstrap_servers": "a:1"},
        "postgres": {"port": 6000},
    }
    assert [p.name for p in config_file.parent.iterdir()] == ["config.toml"]


def test_save_settings_refuses_invalid_values_and_keeps_the_file(config_file: Path) -> None:
    save_settings({"postgres": {"port": 6000}})
    before = config_file.read_text()
    with pytest.raises(ConfigError, match=r"postgres\.port"):
        save_settings({"postgres": {"port": 70000}})
    assert config_file.read_text() == before


def test_rendered_toml_reads_back_the_same(config_file: Path) -> None:
    data = {
        "kafka": {
            "bootstrap_servers": 'a"b\\c\n\t\x7f\x01é😀',
            "ssl_endpoint_identification": False,
            "extra": {"linger.ms": "20", "sasl.oauthbearer.config": "x=y"},
        },
        "postgres": {"port": 5432},
    }
    assert tomllib.loads(render_toml(data)) == data


def test_install_ssl_files_copies_the_trio_0600(config_file: Path, tmp_path: Path) -> None:
    ca, cert, key = pem_files(tmp_path / "download")
    key.chmod(0o644)
    installed = install_ssl_files(ca, cert, key, config_file.parent / "ssl").paths
    ssl_dir = config_file.parent / "ssl"
    assert installed == {
        "ssl_ca_location": ssl_dir / "ca.pem",
        "ssl_certificate_location": ssl_dir / "service.cert",
        "ssl_key_location": ssl_dir / "service.key",
    }
    assert (ssl_dir / "service.key").read_bytes() == client().key_pem
    assert all(mode(path) == 0o600 for path in installed.values())


def test_install_ssl_files_rejects_a_non_pem_file_and_writes_nothing(
    config_file: Path, tmp_path: Path
) -> None:
    ca, cert, key = pem_files(tmp_path / "download")
    key.write_text("not a key")
    with pytest.raises(ConfigError, match=r"the client key \(--key\) .* is not a PEM file"):
        install_ssl_files(ca, cert, key, config_file.parent / "ssl")
    assert not (config_file.parent / "ssl").exists()


def _installed_trio(config_file: Path, tmp_path: Path) -> dict[str, bytes]:
    ca, cert, key = pem_files(tmp_path / "first")
    install_ssl_files(ca, cert, key, config_file.parent / "ssl")
    ssl_dir = config_file.parent / "ssl"
    return {path.name: path.read_bytes() for path in ssl_dir.iterdir() if path.is_file()}


def _swap(tmp_path: Path, **files: bytes) -> tuple[Path, Path, Path]:
    ca, cert, key = pem_files(tmp_path / "second")
    paths = {"ca": ca, "cert": cert, "key": key}
    for name, content in files.items():
        paths[name].write_bytes(content)
    return ca, cert, key


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"key": client().cert_pem}, r"the client key \(--key\) .* holds a certificate, not a"),
        ({"cert": client().key_pem}, r"--cert\) .* holds a private key, not a certificate"),
        ({"ca": client().key_pem}, r"the CA certificate \(--ca\) .* holds a private key"),
        (
            {"key": client("Other CA").key_pem},
            r"the client key \(--key\) .* does not belong to the client certificate",
        ),
        (
            {"ca": authority("Other CA").cert_pem},
            r"the client certificate \(--cert\) .* is not signed by the CA certificate",
        ),
    ],
)
def test_install_ssl_files_proves_the_trio_before_replacing_a_working_one(
    config_file: Path, tmp_path: Path, given: dict[str, bytes], message: str
) -> None:
    before = _installed_trio(config_file, tmp_path)
    ca, cert, key = _swap(tmp_path, **given)
    with pytest.raises(ConfigError, match=message):
        install_ssl_files(ca, cert, key, config_file.parent / "ssl")
    ssl_dir = config_file.parent / "ssl"
    assert {p.name: p.read_bytes() for p in ssl_dir.iterdir() if p.is_file()} == before


def test_an_installation_keeps_the_previous_trio_and_can_put_it_back(
    config_file: Path, tmp_path: Path
) -> None:
    before = _installed_trio(config_file, tmp_path)
    ca, cert, key = _swap(
        tmp_path,
        ca=authority("Other CA").cert_pem,
        cert=client("Other CA").cert_pem,
        key=client("Other CA").key_pem,
    )
    installation = install_ssl_files(ca, cert, key, config_file.parent / "ssl")
    ssl_dir = config_file.parent / "ssl"
    assert (ssl_dir / "service.key").read_bytes() == client("Other CA").key_pem
    assert {p.name: p.read_bytes() for p in (ssl_dir / "previous").iterdir()} == before
    assert all(mode(p) == 0o600 for p in (ssl_dir / "previous").iterdir())
    installation.roll_back()
    assert {p.name: p.read_bytes() for p in ssl_dir.iterdir() if p.is_file()} == before


# --- showing -----------------------------------------------------------------------------------


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("https://user:pw@reg.example:443/x") == f"https://user:{MASK}@reg.example:443/x"
    assert mask_url("https://reg.example/x") == "https://reg.example/x"


def test_describe_config_masks_every_secret(config_file: Path) -> None:
    secrets = ["sasl-pw", "key-pw", "sr-user:sr-pw", "kc-user:kc-pw", "pg-pw", "oauth-secret"]
    environ = {
        "KAFKA_SASL_PASSWORD": secrets[0],
        "KAFKA_SSL_KEY_PASSWORD": secrets[1],
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": secrets[2],
        "KAFKA_CONNECT_BASIC_AUTH_USER_INFO": secrets[3],
        "DATABASE_URL": f"postgresql://app:{secrets[4]}@db/vitals",
        "SCHEMA_REGISTRY_URL": "https://sr-user:url-pw@sr.example",
        "MEDRICAL_KAFKA__EXTRA": f'{{"sasl.oauthbearer.client.secret": "{secrets[5]}"}}',
    }
    shown = repr(describe_config(load(config_file, environ=environ)))
    for secret in [*secrets, "sr-pw", "kc-pw", "url-pw"]:
        assert secret not in shown
    assert shown.count(MASK) == 7


def test_public_client_configs_still_work(config_file: Path) -> None:
    config = load_config(
        environ={
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "KAFKA_SASL_USERNAME": "u",
            "KAFKA_SASL_PASSWORD": "p",
            "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "a:b",
        }
    )
    conf = config.kafka.client_config()
    assert conf["security.protocol"] == "sasl_ssl"
    assert (conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) == (
        "SCRAM-SHA-256",
        "u",
        "p",
    )
    assert config.registry.client_config()["basic.auth.user.info"] == "a:b"


def test_save_settings_keeps_the_users_comments_and_layout(config_file: Path) -> None:
    original = (
        "# Our shared Kafka, see the wiki.\n"
        "[kafka]\n"
        'bootstrap_servers = "kafka.internal:9092"  # the load balancer\n'
        "\n"
        "[postgres]\n"
        "# Reporting replica.\n"
        'host = "db.internal"\n'
    )
    config_file.parent.mkdir(parents=True)
    config_file.write_text(original)
    save_settings({"kafka": {"sasl_username": "app"}, "postgres": {"host": None}})
    saved = config_file.read_text()
    assert "# Our shared Kafka, see the wiki." in saved
    assert '"kafka.internal:9092"  # the load balancer' in saved
    assert tomllib.loads(saved) == {
        "kafka": {"bootstrap_servers": "kafka.internal:9092", "sasl_username": "app"}
    }
