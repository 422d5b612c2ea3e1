"""The pure parts of TLS mode: certificate issuance, rendering of TLS configs, client-side
checks of certificate files, and the connector's TLS settings."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import SecretStr

from medrical.client_certificates import check_client_files
from medrical.config import MedricalConfig, StackSettings
from medrical.config.store import render_toml
from medrical.errors import ConfigError
from medrical.sink.connector import mask_secrets, sink_config
from medrical.stack import rendering
from medrical.stack.layout import StackLayout, TlsFiles
from medrical.stack.tls import (
    ensure_stack_certificates,
    expires_soon,
    issue,
    new_ca,
    signed_by,
)

CLIENT_FILES = ("ca.pem", "service.cert", "service.key")


# --- certificates ------------------------------------------------------------------------------


def test_server_certificate_names_loopback_and_allows_both_uses() -> None:
    ca = new_ca()
    server = issue(ca, "127.0.0.1", server=True, client=True)
    cert = server.certificate
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert signed_by(server.cert_pem, ca.cert_pem)


def test_client_certificate_is_for_clients_only_and_not_from_another_ca() -> None:
    ca, other = new_ca(), new_ca("Another CA")
    client = issue(ca, "medrical", client=True)
    usages = client.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert signed_by(client.cert_pem, ca.cert_pem)
    assert not signed_by(client.cert_pem, other.cert_pem)


def test_ca_is_a_ca_and_keys_are_unencrypted_pkcs8() -> None:
    ca = new_ca()
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert ca.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert ca.keystore_pem.index(b"PRIVATE KEY") < ca.keystore_pem.index(b"CERTIFICATE")


def test_a_certificate_for_neither_use_is_refused() -> None:
    with pytest.raises(ValueError, match="server, a client, or both"):
        issue(new_ca(), "nobody")


def test_expiry_is_noticed_two_weeks_ahead() -> None:
    ca = new_ca()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    leaf = issue(ca, "medrical", client=True, not_before=start, valid_days=30)
    assert not expires_soon(leaf.cert_pem, now=start + dt.timedelta(days=10))
    assert expires_soon(leaf.cert_pem, now=start + dt.timedelta(days=20))


def test_stack_certificates_are_made_once_private_and_renewed_when_foreign(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "tls")
    client = tmp_path / "client"
    assert ensure_stack_certificates(files, client, CLIENT_FILES)
    for key in (files.ca_key, files.server_key, files.stack_key, client / "service.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    assert files.folder.stat().st_mode & 0o777 == 0o700
    assert signed_by((client / "service.cert").read_bytes(), files.ca_cert.read_bytes())
    assert (client / "ca.pem").read_bytes() == files.ca_cert.read_bytes()
    # A second start keeps everything.
    assert not ensure_stack_certificates(files, client, CLIENT_FILES)
    # A client certificate from another CA is replaced.
    foreign = issue(new_ca("Another CA"), "medrical", client=True)
    (client / "service.cert").write_bytes(foreign.cert_pem)
    assert ensure_stack_certificates(files, client, CLIENT_FILES)
    assert signed_by((client / "service.cert").read_bytes(), files.ca_cert.read_bytes())


# --- rendering ---------------------------------------------------------------------------------


def _settings(tmp_path: Path) -> StackSettings:
    return StackSettings(home=tmp_path, tls=True)


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_plain_kafka_properties_are_untouched_by_tls_mode(tmp_path: Path) -> None:
    plain = rendering.kafka_server_properties(StackSettings(home=tmp_path), tmp_path / "k")
    assert "ssl." not in plain
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in plain


def test_tls_kafka_requires_client_certificates_and_has_no_plaintext_client_listener(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    tls = StackLayout.of(settings).tls
    props = _properties(rendering.kafka_server_properties(settings, tmp_path / "k", tls))
    assert props["listeners"] == (
        "SSL://127.0.0.1:19092,SASL_SSL://127.0.0.1:19094,CONTROLLER://127.0.0.1:19093"
    )
    assert "PLAINTEXT://" not in props["advertised.listeners"]
    assert props["ssl.client.auth"] == "required"
    assert props["listener.name.sasl_ssl.ssl.client.auth"] == "none"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.location"] == str(tls.server_keystore)
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["inter.broker.listener.name"] == "SSL"
    assert props["advertised.listeners"].count("//127.0.0.1:") == 2  # loopback only


def test_connect_worker_and_its_task_clients_use_tls(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    layout = StackLayout.of(settings)
    props = _properties(
        rendering.connect_worker_properties(
            settings, tmp_path / "plugins", layout.connect_secrets_file, layout.tls
        )
    )
    for prefix in ("", "consumer.", "producer.", "admin."):
        assert props[f"{prefix}security.protocol"] == "SSL"
        assert props[f"{prefix}ssl.keystore.location"] == str(layout.tls.stack_keystore)
        assert props[f"{prefix}ssl.endpoint.identification.algorithm"] == "https"
    # Its REST API: HTTPS only, behind basic auth, and no password in the worker's properties.
    assert props["listeners"] == f"https://127.0.0.1:{settings.connect_port}"
    assert props["listeners.https.ssl.keystore.location"] == str(layout.tls.rest_keystore)
    assert props["listeners.https.ssl.keystore.password"].startswith("${file:")
    assert props["rest.extension.classes"].endswith("BasicAuthSecurityRestExtension")
    assert all(value.startswith("${file:") for key, value in props.items() if "password" in key)
    plain = rendering.connect_worker_properties(
        StackSettings(home=tmp_path), tmp_path / "plugins", layout.connect_secrets_file
    )
    assert "security.protocol" not in plain
    assert "listeners=http://" in plain


def test_connect_jaas_entry_names_the_users_file_only(tmp_path: Path) -> None:
    text = rendering.connect_jaas_config(tmp_path / "users.properties")
    assert text.startswith("KafkaConnect {")
    assert f'file="{tmp_path / "users.properties"}";' in text


def test_registry_is_https_only_behind_basic_auth_with_no_password_in_its_properties(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    tls = StackLayout.of(settings).tls
    props = rendering.registry_system_properties(settings, "registry", tls)
    assert props["quarkus.http.ssl-port"] == str(settings.registry_port)
    assert props["quarkus.http.insecure-requests"] == "disabled"
    assert props["quarkus.http.auth.permission.everything.policy"] == "authenticated"
    assert props["quarkus.security.users.embedded.users.medrical"] == (
        "${MEDRICAL_REGISTRY_PASSWORD}"
    )
    assert "sslmode=verify-full" in props["apicurio.datasource.url"]
    assert "quarkus.http.ssl-port" not in rendering.registry_system_properties(settings, "r")


def test_postgres_accepts_tls_connections_only(tmp_path: Path) -> None:
    hba = [line for line in rendering.postgres_tls_hba().splitlines() if not line.startswith("#")]
    assert hba
    assert all(line.split()[0] == "hostssl" for line in hba)
    assert all(line.split()[-1] == "scram-sha-256" for line in hba)
    options = rendering.postgres_tls_options(tmp_path / "c", tmp_path / "k", tmp_path / "h")
    assert "ssl=on" in options
    assert f"hba_file={tmp_path / 'h'}" in options


def test_client_settings_load_as_a_configuration(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    files = {name: tmp_path / name for name in CLIENT_FILES}
    for path in files.values():
        path.write_text("-----BEGIN X-----\n", encoding="utf-8")
    for protocol, port in (("SSL", settings.kafka_port), ("SASL_SSL", settings.kafka_sasl_port)):
        tree = rendering.client_settings(
            settings,
            protocol=protocol,
            ca=files["ca.pem"],
            cert=files["service.cert"],
            key=files["service.key"],
            sasl_password="sasl-secret",
            registry_password="registry-secret",
            connect_password="connect-secret",
        )
        config = MedricalConfig.model_validate(tree)
        assert config.kafka.bootstrap_servers == f"127.0.0.1:{port}"
        assert config.kafka.security_protocol == protocol
        assert config.registry.url is not None
        assert config.registry.url.startswith("https://")
        assert config.postgres.sslmode == "verify-full"
        assert config.connect.url == f"https://127.0.0.1:{settings.connect_port}"
        assert config.connect.ssl_ca_location == files["ca.pem"]
        assert config.stack.tls
        assert "registry-secret" in render_toml(tree)
        assert "connect-secret" in render_toml(tree)


# --- client-side checks of certificate files ---------------------------------------------------


def _client_files(
    tmp_path: Path, *, valid_days: int = 30, start: dt.datetime | None = None
) -> tuple[Path, Path]:
    leaf = issue(new_ca(), "medrical", client=True, valid_days=valid_days, not_before=start)
    cert, key = tmp_path / "service.cert", tmp_path / "service.key"
    cert.write_bytes(leaf.cert_pem)
    key.write_bytes(leaf.key_pem)
    key.chmod(0o600)
    return cert, key


def _kafka(cert: Path, key: Path) -> MedricalConfig:
    return MedricalConfig.model_validate(
        {
            "kafka": {
                "security_protocol": "SSL",
                "ssl_certificate_location": str(cert),
                "ssl_key_location": str(key),
            }
        }
    )


def test_good_client_files_pass(tmp_path: Path) -> None:
    cert, key = _client_files(tmp_path)
    check_client_files(_kafka(cert, key).kafka)


def test_expired_client_certificate_is_named(tmp_path: Path) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    cert, key = _client_files(tmp_path, valid_days=1, start=start)
    with pytest.raises(ConfigError, match="expired on") as caught:
        check_client_files(_kafka(cert, key).kafka)
    assert caught.value.setting == "kafka.ssl_certificate_location"
    assert caught.value.exit_code == 78


def test_key_of_another_certificate_is_named(tmp_path: Path) -> None:
    cert, _key = _client_files(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _other_cert, other_key = _client_files(other)
    named = r"the client key \(kafka.ssl_key_location\) .* does not belong to the client cert"
    with pytest.raises(ConfigError, match=named):
        check_client_files(_kafka(cert, other_key).kafka)


def test_garbage_key_is_named(tmp_path: Path) -> None:
    cert, key = _client_files(tmp_path)
    key.write_text("not a key", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not a PEM file"):
        check_client_files(_kafka(cert, key).kafka)


def test_an_encrypted_key_needs_its_password(tmp_path: Path) -> None:
    cert, key = _client_files(tmp_path)
    opened = serialization.load_pem_private_key(key.read_bytes(), None)
    key.write_bytes(
        opened.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-secret"),
        )
    )
    config = _kafka(cert, key)
    with pytest.raises(ConfigError, match=r"is encrypted and kafka\.ssl_key_password") as caught:
        check_client_files(config.kafka)
    assert caught.value.setting == "kafka.ssl_key_password"
    wrong = config.kafka.model_copy(update={"ssl_key_password": SecretStr("not-it")})
    with pytest.raises(ConfigError, match="does not open it"):
        check_client_files(wrong)
    check_client_files(
        config.kafka.model_copy(update={"ssl_key_password": SecretStr("key-secret")})
    )


def test_key_readable_by_others_is_refused_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _client_files(tmp_path)
    key.chmod(0o644)
    monkeypatch.delenv("MEDRICAL_ALLOW_EXPOSED_SECRETS", raising=False)
    with pytest.raises(ConfigError, match="can be read by other users"):
        check_client_files(_kafka(cert, key).kafka)
    monkeypatch.setenv("MEDRICAL_ALLOW_EXPOSED_SECRETS", "1")
    check_client_files(_kafka(cert, key).kafka)


def test_plaintext_settings_need_no_files(tmp_path: Path) -> None:
    check_client_files(MedricalConfig().kafka)


# --- the connector over TLS --------------------------------------------------------------------


def _tls_config(tmp_path: Path) -> MedricalConfig:
    ca = tmp_path / "ca.pem"
    return MedricalConfig.model_validate(
        {
            "registry": {
                "url": "https://127.0.0.1:18081/apis/ccompat/v7",
                "basic_auth_user_info": "medrical:registry-secret",
                "ssl_ca_location": str(ca),
            },
            "postgres": {"sslmode": "verify-full", "sslrootcert": str(ca), "password": "pg"},
        }
    )


def test_sink_refers_to_secrets_and_verifies_postgres(tmp_path: Path) -> None:
    secrets = tmp_path / "connect-secrets.properties"
    conf = sink_config(_tls_config(tmp_path), flavor="debezium", password_file=secrets)
    assert conf["connection.url"].endswith(
        f"?sslmode=verify-full&sslrootcert={tmp_path / 'ca.pem'}"
    )
    copy = sink_config(_tls_config(tmp_path), password_file=secrets)
    assert copy["connection.url"] == conf["connection.url"]
    assert {k: v for k, v in copy.items() if k.startswith("value.converter")} == {
        k: v for k, v in conf.items() if k.startswith("value.converter")
    }
    for prefix in ("key.converter", "value.converter"):
        assert conf[f"{prefix}.apicurio.registry.url"] == "https://127.0.0.1:18081/apis/registry/v2"
        assert conf[f"{prefix}.apicurio.auth.username"] == "medrical"
        assert conf[f"{prefix}.apicurio.auth.password"] == (
            f"${{file:{secrets}:registry.password}}"
        )
        assert conf[f"{prefix}.apicurio.rest.request.ssl.ca-bundle.location"] == str(
            tmp_path / "ca.pem"
        )
    assert "registry-secret" not in str(conf)


def test_sink_for_managed_connect_carries_the_password_and_masks_it(tmp_path: Path) -> None:
    conf = sink_config(_tls_config(tmp_path))
    assert conf["value.converter.apicurio.auth.password"] == "registry-secret"
    assert "registry-secret" not in str(mask_secrets(conf))


def test_plain_sink_has_no_tls_settings() -> None:
    conf = sink_config(MedricalConfig())
    assert not any("auth" in key or "ssl" in key for key in conf)
    assert "sslmode" not in conf["connection.url"]
