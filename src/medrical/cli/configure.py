"""`medrical configure`, `medrical configure ssl` and `medrical configure from-stack`: write the
configuration file from flags (derived from the model, see `configure_flags`), `--set
section.field=value`, or questions on a terminal."""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from medrical.cli import _state
from medrical.cli.configure_flags import FLAGS, Flag, with_flag_parameters
from medrical.cli.questions import Changes, absolute, ask_for_the_rest, set_change
from medrical.config import (
    SSL_CA_FILE,
    SSL_CERT_FILE,
    SSL_KEY_FILE,
    load_config_with_sources,
    parse_postgres_dsn,
    read_config_file,
    ssl_dir_for,
)
from medrical.config.secrets import is_secret_setting
from medrical.config.sources import leaves
from medrical.config.store import save_settings
from medrical.errors import ConfigError, InputError
from medrical.files import is_exposed, read_text

logger = logging.getLogger(__name__)

configure_app = typer.Typer(
    invoke_without_command=True,
    help="Write the configuration file: by questions on a terminal, or from flags with "
    "--non-interactive. Secrets are read from files, the environment or hidden prompts.",
)


def _read_secret_file(path: Path, option: str) -> str:
    text = read_text(
        path.expanduser(), what=option, hint="Give a readable file holding only the secret."
    )
    return text.rstrip("\r\n")


def _warn_if_on_command_line(ctx: typer.Context, param: str, option: str, envvar: str) -> None:
    source = ctx.get_parameter_source(param)
    if source is not None and source.name == "COMMANDLINE":
        logger.warning(
            "%s on the command line can be read by other users in the process list; "
            "prefer %s-file, the %s environment variable, or the interactive prompt",
            option,
            option,
            envvar,
        )


def _flag_value(ctx: typer.Context, flag: Flag, values: dict[str, Any]) -> Any:
    """The value a flag gives its setting, or None when it was not given."""
    if flag.secret:
        file = values.get(flag.file_param)
        if file is not None:
            return _read_secret_file(file, f"{flag.option}-file")
        value = values.get(flag.param)
        if value is not None:
            _warn_if_on_command_line(ctx, flag.param, flag.option, flag.envvar)
        return value
    value = values.get(flag.param)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return absolute(value)
    return value


def _kafka_properties(pairs: Sequence[str]) -> dict[str, str | None]:
    properties: dict[str, str | None] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise InputError(
                f"--kafka-property {pair!r} is not KEY=VALUE.",
                hint="Give a librdkafka property, e.g. --kafka-property linger.ms=20 "
                "(an empty value removes it).",
            )
        properties[key.strip()] = value or None
    return properties


def _assignments(ctx: typer.Context, pairs: Sequence[str]) -> Changes:
    """`--set section.field=value` (or `kafka.extra.PROPERTY=value`); an empty value removes."""
    changes: Changes = {}
    for pair in pairs:
        setting, equals, value = pair.partition("=")
        section, _, field = setting.strip().partition(".")
        if not equals or not field:
            raise InputError(
                f"--set {pair.partition('=')[0]!r}... is not SECTION.FIELD=VALUE.",
                hint="For example --set postgres.port=6543 or --set kafka.extra.linger.ms=20.",
            )
        if is_secret_setting(setting.strip()):
            _warn_if_on_command_line(ctx, "assignments", f"--set {setting.strip()}", "its")
        if section == "kafka" and field.startswith("extra."):
            extra = changes.setdefault("kafka", {}).setdefault("extra", {})
            extra[field.removeprefix("extra.")] = value or None
        else:
            set_change(changes, section, field, value or None)
    return changes


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@configure_app.callback()
@with_flag_parameters
def configure(
    ctx: typer.Context,
    postgres_dsn: Annotated[
        str | None,
        typer.Option(
            help="postgresql://USER@HOST:PORT/DATABASE?sslmode=...; keep the password out of it.",
            rich_help_panel="PostgreSQL",
        ),
    ] = None,
    kafka_property: Annotated[
        list[str] | None,
        typer.Option(
            help="Extra librdkafka property KEY=VALUE, repeatable; KEY= removes it.",
            rich_help_panel="Kafka",
        ),
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="SECTION.FIELD=VALUE",
            help="Any setting of `medrical config show`, repeatable; an empty value removes it.",
        ),
    ] = None,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--non-interactive",
            help="Ask for the settings not given as flags (the default on a terminal), or only "
            "apply the flags.",
        ),
    ] = None,
    **values: Any,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if interactive is None:
        if not _stdin_is_terminal():
            raise InputError(
                "`medrical configure` asks questions, but its input is not a terminal.",
                hint="Give the settings as flags with --non-interactive (see --help), or pass "
                "--interactive to read the answers from standard input.",
            )
        interactive = True

    changes: Changes = {}
    if postgres_dsn is not None:
        dsn_fields = parse_postgres_dsn(postgres_dsn, setting="--postgres-dsn")
        if "password" in dsn_fields:
            logger.warning(
                "--postgres-dsn holds a password, which other users can read in the process "
                "list; give it by the MEDRICAL_POSTGRES__PASSWORD variable or the prompt"
            )
        for field, value in dsn_fields.items():
            set_change(changes, "postgres", field, value)
    for flag in FLAGS:
        value = _flag_value(ctx, flag, values)
        if value is not None:
            set_change(changes, flag.section, flag.field, value)
    if "password_file" in changes.get("postgres", {}):
        set_change(changes, "postgres", "password", None)
    if kafka_property:
        changes.setdefault("kafka", {})["extra"] = _kafka_properties(kafka_property)
    for section, fields in _assignments(ctx, assignments or []).items():
        for field, value in fields.items():
            if isinstance(value, dict) and isinstance(changes.get(section, {}).get(field), dict):
                changes[section][field].update(value)
            else:
                set_change(changes, section, field, value)

    path = _state.config_file()
    if interactive:
        current = load_config_with_sources(path, environ={}, must_exist=False)
        ask_for_the_rest(current, changes)
    if not changes:
        typer.echo("Nothing to change.", err=True)
        return
    saved = save_settings(changes, path)
    typer.echo(f"Saved the configuration to {saved}.", err=True)
    typer.echo("Run `medrical config check` to test it.", err=True)


# --- configure ssl -----------------------------------------------------------------------------


@configure_app.command("ssl")
def configure_ssl(
    ca: Annotated[Path, typer.Option("--ca", help="The CA certificate, ca.pem.")],
    cert: Annotated[Path, typer.Option("--cert", help="The client certificate, service.cert.")],
    key: Annotated[Path, typer.Option("--key", help="The client key, service.key.")],
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="A TOML file of further settings to merge in the same step (SASL, registry "
            "and PostgreSQL credentials), such as the one `medrical stack up --tls` writes.",
        ),
    ] = None,
) -> None:
    """Copy the three Aiven-style files into the config directory's ssl/ (0600) and use them."""
    _install_client_files(ca, cert, key, settings)


@configure_app.command("from-stack")
def configure_from_stack(
    sasl_ssl: Annotated[
        bool,
        typer.Option(
            "--sasl-ssl",
            help="Reach Kafka by SCRAM over TLS (the SASL_SSL listener) instead of by client "
            "certificate (mutual TLS).",
        ),
    ] = False,
) -> None:
    """Use the local TLS stack (`medrical stack up --tls`): its CA, client certificate and key,
    SASL and registry credentials, in one step."""
    from medrical.stack.layout import StackLayout
    from medrical.stack.manager import CLIENT_CONFIG_SASL_SSL, CLIENT_CONFIG_SSL

    layout = StackLayout.of(_state.config().stack)
    client = layout.client
    snippet = client / (CLIENT_CONFIG_SASL_SSL if sasl_ssl else CLIENT_CONFIG_SSL)
    if not snippet.is_file():
        raise ConfigError(
            f"the local stack has no client configuration in {client}.",
            setting="stack.home",
            hint="Start it with `medrical stack up --tls` first (same stack.home).",
        )
    _install_client_files(
        client / SSL_CA_FILE,
        client / SSL_CERT_FILE,
        client / SSL_KEY_FILE,
        snippet,
    )


def _install_client_files(ca: Path, cert: Path, key: Path, settings_file: Path | None) -> None:
    """Install the trio into ssl/, merge the settings file (if any), save, in one step."""
    sources = [("the client key", key)]
    extra: Changes = {}
    if settings_file is not None:
        sources.append(("the settings file", settings_file))
        extra = read_config_file(settings_file.expanduser(), required=True)
    for what, source in sources:
        if is_exposed(source.expanduser()):
            # The copies are 0600; the original stays where others can read it.
            logger.warning(
                "%s %s can be read by other users; Medrical uses a private copy, "
                "consider deleting the original",
                what,
                source,
            )
    from medrical.config.ssl_files import install_ssl_files

    path = _state.config_file()
    installation = install_ssl_files(ca, cert, key, ssl_dir_for(path))
    installed = installation.paths
    originals = {
        str(source.expanduser().resolve()): str(installed[field])
        for field, source in (
            ("ssl_ca_location", ca),
            ("ssl_certificate_location", cert),
            ("ssl_key_location", key),
        )
    }
    # Paths in the settings file that name the files just copied now name the copies.
    changes: Changes = {
        section: {
            name: originals.get(value, value) if isinstance(value, str) else value
            for name, value in fields.items()
        }
        for section, fields in extra.items()
        if isinstance(fields, dict)
    }
    # An error in what the settings file holds names that file, not the command line.
    origins = {name: f"file {settings_file}" for name, _ in leaves(changes)}
    kafka = changes.setdefault("kafka", {})
    kafka.setdefault("ssl_ca_location", str(installed["ssl_ca_location"]))
    try:
        current = load_config_with_sources(path, environ={}, must_exist=False).config
        protocol = kafka.get("security_protocol", current.kafka.security_protocol)
        if protocol == "PLAINTEXT":
            kafka["security_protocol"] = protocol = "SSL"
        if protocol == "SSL" or settings_file is None:
            kafka["ssl_certificate_location"] = str(installed["ssl_certificate_location"])
            kafka["ssl_key_location"] = str(installed["ssl_key_location"])
        saved = save_settings(changes, path, origins=origins)
    except BaseException:
        installation.roll_back()
        raise
    for target in installed.values():
        typer.echo(f"Installed {target}", err=True)
    if installation.kept:
        typer.echo(
            f"The previous files are kept in {installation.previous} until `medrical config "
            "check` reaches Kafka with the new ones.",
            err=True,
        )
    typer.echo(f"Saved the configuration to {saved} (Kafka by {protocol}).", err=True)
    typer.echo("Run `medrical config check` to test it.", err=True)
