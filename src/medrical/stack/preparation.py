"""Folders, secrets and certificates the stack's services need before any of them starts."""

from __future__ import annotations

import secrets
from pathlib import Path

from medrical.config import SSL_CA_FILE, SSL_CERT_FILE, SSL_KEY_FILE, StackSettings
from medrical.files import write_private
from medrical.stack import rendering
from medrical.stack.layout import StackLayout
from medrical.stack.postgres import PostgresService
from medrical.stack.services import read_secret

# Files `stack up --tls` writes into the stack's client/ folder, beside Aiven's three.
CLIENT_CONFIG_SSL = "medrical-ssl.toml"
CLIENT_CONFIG_SASL_SSL = "medrical-sasl-ssl.toml"


def prepare(settings: StackSettings, layout: StackLayout) -> None:
    """Make the stack's folders and its database password (once), and in TLS mode its CA,
    certificates, passwords and client files."""
    for folder in (layout.etc, layout.run, layout.logs, layout.data):
        folder.mkdir(parents=True, exist_ok=True)
    layout.secrets.mkdir(parents=True, exist_ok=True)
    layout.secrets.chmod(0o700)
    if not layout.postgres_password_file.exists():
        _write(layout.postgres_password_file, secrets.token_urlsafe(24) + "\n")
    password = read_secret(layout.postgres_password_file)
    _write(layout.connect_secrets_file, f"postgres.password={password}\n")
    if settings.tls:
        _prepare_tls(settings, layout)
    _write(layout.mode_file, "tls\n" if settings.tls else "plain\n")


def _write(path: Path, text: str) -> None:
    write_private(path, text.encode("utf-8"))


def _prepare_tls(settings: StackSettings, layout: StackLayout) -> None:
    from medrical.stack import tls

    layout.client.mkdir(parents=True, exist_ok=True, mode=0o700)
    layout.client.chmod(0o700)
    tls.ensure_stack_certificates(
        layout.tls, layout.client, (SSL_CA_FILE, SSL_CERT_FILE, SSL_KEY_FILE)
    )
    for secret_file in (
        layout.kafka_sasl_password_file,
        layout.registry_password_file,
        layout.connect_password_file,
    ):
        if not secret_file.exists():
            _write(secret_file, secrets.token_urlsafe(24) + "\n")
    _write(
        layout.connect_users_file,
        f"{rendering.CONNECT_USER}: {read_secret(layout.connect_password_file)}\n",
    )
    layout.connect_jaas_file.write_text(
        rendering.connect_jaas_config(layout.connect_users_file), encoding="utf-8"
    )
    keystore_password = secrets.token_urlsafe(24)
    tls.write_pkcs12(
        layout.tls.rest_keystore, layout.tls.server_cert, layout.tls.server_key, keystore_password
    )
    _write(
        layout.connect_secrets_file,
        f"postgres.password={read_secret(layout.postgres_password_file)}\n"
        f"registry.password={read_secret(layout.registry_password_file)}\n"
        f"{rendering.CONNECT_REST_KEYSTORE_SECRET_KEY}={keystore_password}\n",
    )
    PostgresService(settings, layout).prepare_tls()
    _write_client_configs(settings, layout)


def _write_client_configs(settings: StackSettings, layout: StackLayout) -> None:
    from medrical.config.store import render_toml

    for protocol, name in (("SSL", CLIENT_CONFIG_SSL), ("SASL_SSL", CLIENT_CONFIG_SASL_SSL)):
        tree = rendering.client_settings(
            settings,
            protocol=protocol,
            ca=layout.client / SSL_CA_FILE,
            cert=layout.client / SSL_CERT_FILE,
            key=layout.client / SSL_KEY_FILE,
            sasl_password=read_secret(layout.kafka_sasl_password_file),
            registry_password=read_secret(layout.registry_password_file),
            connect_password=read_secret(layout.connect_password_file),
        )
        header = (
            "# Medrical's settings for the local TLS stack, written by `medrical stack up "
            "--tls`.\n# Use them in one step: `medrical configure from-stack"
            f"{' --sasl-ssl' if protocol == 'SASL_SSL' else ''}`, or "
            "`medrical --config <this file> ...`.\n"
        )
        _write(layout.client / name, header + render_toml(tree))
