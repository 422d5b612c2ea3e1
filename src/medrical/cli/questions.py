"""`medrical configure`'s questions on a terminal: every relevant setting no flag gave, with
the current value as the default; secrets typed hidden."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import typer

from medrical.config import (
    MASK,
    LoadedConfig,
    SaslMechanism,
    SecurityProtocol,
    SslMode,
    mask_url,
    ssl_dir_for,
)

Changes = dict[str, dict[str, Any]]


def set_change(changes: Changes, section: str, field: str, value: Any) -> None:
    changes.setdefault(section, {})[field] = value


def absolute(path: Path) -> str:
    # Stored absolute, so that the file means the same whatever directory a command runs from.
    return str(path.expanduser().resolve())


def _ask(label: str, current: Any, *, secret: bool = False) -> str | None:
    """One question; an empty answer keeps the current value and returns None."""
    if secret:
        label += (
            " (hidden; Enter keeps the current one)" if current else " (hidden; Enter for none)"
        )
    elif current is not None and current != "":
        label += f" [{mask_url(str(current))}]"
    answer = typer.prompt(label, default="", show_default=False, hide_input=secret)
    return str(answer).strip() or None


def _ask_choice(label: str, current: str | None, choices: Sequence[str]) -> str | None:
    while True:
        answer = _ask(f"{label} ({', '.join(choices)})", current)
        if answer is None:
            return None
        for choice in choices:
            if answer.upper() == choice.upper():
                return choice
        typer.echo(f"Please answer one of: {', '.join(choices)}.", err=True)


def _ask_port(label: str, current: int | None) -> int | None:
    while True:
        answer = _ask(label, current)
        if answer is None:
            return None
        # ASCII digits only: str.isdigit also accepts "²", which int() refuses.
        if answer.isascii() and answer.isdigit() and len(answer) <= 5 and 1 <= int(answer) <= 65535:
            return int(answer)
        typer.echo("Please answer a port number between 1 and 65535.", err=True)


def ask_for_the_rest(current: LoadedConfig, changes: Changes) -> None:
    """Ask for every relevant setting no flag gave, with the current values as defaults."""
    config = current.config

    def given(section: str, field: str) -> bool:
        return field in changes.get(section, {})

    def now(section: str, field: str) -> Any:
        if given(section, field):
            return changes[section][field]
        return getattr(getattr(config, section), field)

    def ask(section: str, field: str, label: str, *, secret: bool = False) -> None:
        if given(section, field):
            return
        answer = _ask(label, now(section, field), secret=secret)
        if answer is not None and answer != _plain(now(section, field)):
            set_change(changes, section, field, answer)

    typer.echo("Kafka", err=True)
    ask("kafka", "bootstrap_servers", "  Bootstrap servers (host:port,...)")
    if not given("kafka", "security_protocol"):
        protocol = _ask_choice(
            "  Security protocol", now("kafka", "security_protocol"), get_args(SecurityProtocol)
        )
        if protocol is not None and protocol != now("kafka", "security_protocol"):
            set_change(changes, "kafka", "security_protocol", protocol)
    protocol = now("kafka", "security_protocol")
    if protocol.startswith("SASL"):
        if not given("kafka", "sasl_mechanism"):
            mechanism = _ask_choice(
                "  SASL mechanism",
                now("kafka", "sasl_mechanism") or "PLAIN",
                get_args(SaslMechanism),
            )
            if mechanism is not None:
                set_change(changes, "kafka", "sasl_mechanism", mechanism)
        ask("kafka", "sasl_username", "  SASL username")
        ask("kafka", "sasl_password", "  SASL password", secret=True)
    if protocol in ("SSL", "SASL_SSL"):
        kept = ssl_dir_for(current.file_path)
        typer.echo(f"  (Empty paths use the files kept in {kept}, if any.)", err=True)
        ask("kafka", "ssl_ca_location", "  CA certificate path (ca.pem)")
        if protocol == "SSL":
            ask("kafka", "ssl_certificate_location", "  Client certificate path (service.cert)")
            ask("kafka", "ssl_key_location", "  Client key path (service.key)")
    for field in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
        value = changes.get("kafka", {}).get(field)
        if isinstance(value, str):
            changes["kafka"][field] = absolute(Path(value))

    typer.echo("Schema registry", err=True)
    ask("registry", "url", "  URL")
    ask("registry", "basic_auth_user_info", "  Basic-auth user info (USER:PASSWORD)", secret=True)

    typer.echo("Kafka Connect", err=True)
    ask("connect", "url", "  URL")
    ask("connect", "basic_auth_user_info", "  Basic-auth user info (USER:PASSWORD)", secret=True)

    typer.echo("PostgreSQL", err=True)
    ask("postgres", "host", "  Host")
    if not given("postgres", "port"):
        port = _ask_port("  Port", now("postgres", "port"))
        if port is not None and port != now("postgres", "port"):
            set_change(changes, "postgres", "port", port)
    ask("postgres", "database", "  Database")
    ask("postgres", "user", "  User")
    if not given("postgres", "password") and not given("postgres", "password_file"):
        has_password = config.postgres.resolved_password() is not None
        answer = _ask("  Password", MASK if has_password else None, secret=True)
        if answer is not None:
            set_change(changes, "postgres", "password", answer)
    if not given("postgres", "sslmode"):
        mode = _ask_choice("  SSL mode", now("postgres", "sslmode"), get_args(SslMode))
        if mode is not None and mode != now("postgres", "sslmode"):
            set_change(changes, "postgres", "sslmode", mode)


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    return str(value)
