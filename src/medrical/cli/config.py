"""`medrical configure`, `medrical configure ssl`, `medrical config show|check`."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from medrical.cli import _state
from medrical.config import (
    MASK,
    SSL_CA_FILE,
    SSL_CERT_FILE,
    SSL_KEY_FILE,
    LoadedConfig,
    SaslMechanism,
    SecurityProtocol,
    SslMode,
    describe_config,
    load_config_with_sources,
    mask_url,
    parse_postgres_dsn,
    read_config_file,
    ssl_dir_for,
)
from medrical.config.sources import leaves
from medrical.config.store import save_settings
from medrical.errors import ConfigError, InputError, ServiceUnavailableError
from medrical.files import is_exposed
from medrical.health import DEFAULT_TIMEOUT_S, CheckResult, check_all

logger = logging.getLogger(__name__)

configure_app = typer.Typer(
    invoke_without_command=True,
    help="Write the configuration file: by questions on a terminal, or from flags with "
    "--non-interactive. Secrets are read from files, the environment or hidden prompts.",
)
config_app = typer.Typer(
    help="Show the effective configuration, or check that every service answers.",
    no_args_is_help=True,
)

Changes = dict[str, dict[str, Any]]

_PANEL_KAFKA = "Kafka"
_PANEL_REGISTRY = "Schema registry"
_PANEL_CONNECT = "Kafka Connect"
_PANEL_POSTGRES = "PostgreSQL"


def _set(changes: Changes, section: str, field: str, value: Any) -> None:
    changes.setdefault(section, {})[field] = value


def _read_secret_file(path: Path, option: str) -> str:
    try:
        return path.expanduser().read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"cannot read {option} {path}: {reason}.",
            hint="Give a readable file holding only the secret.",
        ) from None


def _secret(
    ctx: typer.Context,
    value: str | None,
    file: Path | None,
    *,
    param: str,
    option: str,
    envvar: str,
) -> str | None:
    """A secret from its file option, or from its value option (normally fed by `envvar`)."""
    if file is not None:
        return _read_secret_file(file, f"{option}-file")
    if value is None:
        return None
    source = ctx.get_parameter_source(param)
    if source is not None and source.name == "COMMANDLINE":
        logger.warning(
            "%s on the command line can be read by other users in the process list; "
            "prefer %s-file, the %s environment variable, or the interactive prompt",
            option,
            option,
            envvar,
        )
    return value


def _absolute(path: Path | None) -> str | None:
    # Stored absolute, so that the file means the same whatever directory a command runs from.
    return None if path is None else str(path.expanduser().resolve())


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


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@configure_app.callback()
def configure(
    ctx: typer.Context,
    kafka_bootstrap_servers: Annotated[
        str | None,
        typer.Option(help="host:port[,host:port...]", rich_help_panel=_PANEL_KAFKA),
    ] = None,
    security_protocol: Annotated[
        str | None,
        typer.Option(
            help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.", rich_help_panel=_PANEL_KAFKA
        ),
    ] = None,
    sasl_mechanism: Annotated[
        str | None,
        typer.Option(help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.", rich_help_panel=_PANEL_KAFKA),
    ] = None,
    sasl_username: Annotated[str | None, typer.Option(rich_help_panel=_PANEL_KAFKA)] = None,
    sasl_password: Annotated[
        str | None,
        typer.Option(
            envvar="KAFKA_SASL_PASSWORD",
            help="Better given by its environment variable or --sasl-password-file.",
            rich_help_panel=_PANEL_KAFKA,
        ),
    ] = None,
    sasl_password_file: Annotated[
        Path | None,
        typer.Option(help="File holding the SASL password.", rich_help_panel=_PANEL_KAFKA),
    ] = None,
    ssl_ca: Annotated[
        Path | None, typer.Option(help="CA certificate (ca.pem).", rich_help_panel=_PANEL_KAFKA)
    ] = None,
    ssl_cert: Annotated[
        Path | None,
        typer.Option(help="Client certificate (service.cert).", rich_help_panel=_PANEL_KAFKA),
    ] = None,
    ssl_key: Annotated[
        Path | None, typer.Option(help="Client key (service.key).", rich_help_panel=_PANEL_KAFKA)
    ] = None,
    ssl_key_password: Annotated[
        str | None,
        typer.Option(
            envvar="KAFKA_SSL_KEY_PASSWORD",
            help="Better given by its environment variable or --ssl-key-password-file.",
            rich_help_panel=_PANEL_KAFKA,
        ),
    ] = None,
    ssl_key_password_file: Annotated[
        Path | None,
        typer.Option(help="File holding the client key's password.", rich_help_panel=_PANEL_KAFKA),
    ] = None,
    ssl_endpoint_identification: Annotated[
        bool | None,
        typer.Option(
            "--ssl-endpoint-identification/--no-ssl-endpoint-identification",
            help="Check that the broker's certificate names its host.",
            rich_help_panel=_PANEL_KAFKA,
        ),
    ] = None,
    kafka_property: Annotated[
        list[str] | None,
        typer.Option(
            help="Extra librdkafka property KEY=VALUE, repeatable; KEY= removes it.",
            rich_help_panel=_PANEL_KAFKA,
        ),
    ] = None,
    registry_url: Annotated[str | None, typer.Option(rich_help_panel=_PANEL_REGISTRY)] = None,
    registry_user_info: Annotated[
        str | None,
        typer.Option(
            envvar="SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
            help="USER:PASSWORD; better given by its environment variable or a file.",
            rich_help_panel=_PANEL_REGISTRY,
        ),
    ] = None,
    registry_user_info_file: Annotated[
        Path | None,
        typer.Option(help="File holding USER:PASSWORD.", rich_help_panel=_PANEL_REGISTRY),
    ] = None,
    registry_ca: Annotated[
        Path | None, typer.Option(help="CA certificate.", rich_help_panel=_PANEL_REGISTRY)
    ] = None,
    connect_url: Annotated[str | None, typer.Option(rich_help_panel=_PANEL_CONNECT)] = None,
    connect_user_info: Annotated[
        str | None,
        typer.Option(
            envvar="KAFKA_CONNECT_BASIC_AUTH_USER_INFO",
            help="USER:PASSWORD; better given by its environment variable or a file.",
            rich_help_panel=_PANEL_CONNECT,
        ),
    ] = None,
    connect_user_info_file: Annotated[
        Path | None,
        typer.Option(help="File holding USER:PASSWORD.", rich_help_panel=_PANEL_CONNECT),
    ] = None,
    connect_ca: Annotated[
        Path | None, typer.Option(help="CA certificate.", rich_help_panel=_PANEL_CONNECT)
    ] = None,
    postgres_dsn: Annotated[
        str | None,
        typer.Option(
            help="postgresql://USER@HOST:PORT/DATABASE?sslmode=...; keep the password out of it.",
            rich_help_panel=_PANEL_POSTGRES,
        ),
    ] = None,
    postgres_host: Annotated[str | None, typer.Option(rich_help_panel=_PANEL_POSTGRES)] = None,
    postgres_port: Annotated[int | None, typer.Option(rich_help_panel=_PANEL_POSTGRES)] = None,
    postgres_database: Annotated[str | None, typer.Option(rich_help_panel=_PANEL_POSTGRES)] = None,
    postgres_user: Annotated[str | None, typer.Option(rich_help_panel=_PANEL_POSTGRES)] = None,
    postgres_password: Annotated[
        str | None,
        typer.Option(
            envvar="MEDRICAL_POSTGRES__PASSWORD",
            help="Better given by its environment variable or the prompt.",
            rich_help_panel=_PANEL_POSTGRES,
        ),
    ] = None,
    postgres_password_file: Annotated[
        Path | None,
        typer.Option(
            help="File the password is read from at each run (it is not copied).",
            rich_help_panel=_PANEL_POSTGRES,
        ),
    ] = None,
    postgres_sslmode: Annotated[
        str | None,
        typer.Option(help="disable ... verify-full.", rich_help_panel=_PANEL_POSTGRES),
    ] = None,
    postgres_sslrootcert: Annotated[
        Path | None, typer.Option(help="CA certificate.", rich_help_panel=_PANEL_POSTGRES)
    ] = None,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--non-interactive",
            help="Ask for the settings not given as flags (the default on a terminal), or only "
            "apply the flags.",
        ),
    ] = None,
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

    def secret(value: str | None, file: Path | None, param: str, envvar: str) -> str | None:
        option = "--" + param.replace("_", "-")
        return _secret(ctx, value, file, param=param, option=option, envvar=envvar)

    if postgres_dsn is not None:
        dsn_fields = parse_postgres_dsn(postgres_dsn, setting="--postgres-dsn")
        if "password" in dsn_fields:
            logger.warning(
                "--postgres-dsn holds a password, which other users can read in the process "
                "list; give it by the MEDRICAL_POSTGRES__PASSWORD variable or the prompt"
            )
        for field, value in dsn_fields.items():
            _set(changes, "postgres", field, value)

    plain = {
        ("kafka", "bootstrap_servers"): kafka_bootstrap_servers,
        ("kafka", "security_protocol"): security_protocol and security_protocol.upper(),
        ("kafka", "sasl_mechanism"): sasl_mechanism and sasl_mechanism.upper(),
        ("kafka", "sasl_username"): sasl_username,
        ("kafka", "ssl_ca_location"): _absolute(ssl_ca),
        ("kafka", "ssl_certificate_location"): _absolute(ssl_cert),
        ("kafka", "ssl_key_location"): _absolute(ssl_key),
        ("kafka", "ssl_endpoint_identification"): ssl_endpoint_identification,
        ("registry", "url"): registry_url,
        ("registry", "ssl_ca_location"): _absolute(registry_ca),
        ("connect", "url"): connect_url,
        ("connect", "ssl_ca_location"): _absolute(connect_ca),
        ("postgres", "host"): postgres_host,
        ("postgres", "port"): postgres_port,
        ("postgres", "database"): postgres_database,
        ("postgres", "user"): postgres_user,
        ("postgres", "sslmode"): postgres_sslmode,
        ("postgres", "sslrootcert"): _absolute(postgres_sslrootcert),
        ("kafka", "sasl_password"): secret(
            sasl_password, sasl_password_file, "sasl_password", "KAFKA_SASL_PASSWORD"
        ),
        ("kafka", "ssl_key_password"): secret(
            ssl_key_password, ssl_key_password_file, "ssl_key_password", "KAFKA_SSL_KEY_PASSWORD"
        ),
        ("registry", "basic_auth_user_info"): secret(
            registry_user_info,
            registry_user_info_file,
            "registry_user_info",
            "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        ),
        ("connect", "basic_auth_user_info"): secret(
            connect_user_info,
            connect_user_info_file,
            "connect_user_info",
            "KAFKA_CONNECT_BASIC_AUTH_USER_INFO",
        ),
        ("postgres", "password"): secret(
            postgres_password, None, "postgres_password", "MEDRICAL_POSTGRES__PASSWORD"
        ),
    }
    for (section, field), value in plain.items():
        if value is not None:
            _set(changes, section, field, value)
    if postgres_password_file is not None:
        _set(changes, "postgres", "password_file", _absolute(postgres_password_file))
        _set(changes, "postgres", "password", None)
    if kafka_property:
        changes.setdefault("kafka", {})["extra"] = _kafka_properties(kafka_property)

    path = _state.config_file()
    if interactive:
        current = load_config_with_sources(path, environ={}, must_exist=False)
        _ask_for_the_rest(current, changes)
    if not changes:
        typer.echo("Nothing to change.", err=True)
        return
    saved = save_settings(changes, path)
    typer.echo(f"Saved the configuration to {saved}.", err=True)
    typer.echo("Run `medrical config check` to test it.", err=True)


# --- Questions ---------------------------------------------------------------------------------


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
        if answer.isdigit() and 1 <= int(answer) <= 65535:
            return int(answer)
        typer.echo("Please answer a port number between 1 and 65535.", err=True)


def _ask_for_the_rest(current: LoadedConfig, changes: Changes) -> None:
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
            _set(changes, section, field, answer)

    typer.echo("Kafka", err=True)
    ask("kafka", "bootstrap_servers", "  Bootstrap servers (host:port,...)")
    if not given("kafka", "security_protocol"):
        protocol = _ask_choice(
            "  Security protocol", now("kafka", "security_protocol"), get_args(SecurityProtocol)
        )
        if protocol is not None and protocol != now("kafka", "security_protocol"):
            _set(changes, "kafka", "security_protocol", protocol)
    protocol = now("kafka", "security_protocol")
    if protocol.startswith("SASL"):
        if not given("kafka", "sasl_mechanism"):
            mechanism = _ask_choice(
                "  SASL mechanism",
                now("kafka", "sasl_mechanism") or "PLAIN",
                get_args(SaslMechanism),
            )
            if mechanism is not None:
                _set(changes, "kafka", "sasl_mechanism", mechanism)
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
            changes["kafka"][field] = _absolute(Path(value))

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
            _set(changes, "postgres", "port", port)
    ask("postgres", "database", "  Database")
    ask("postgres", "user", "  User")
    if not given("postgres", "password") and not given("postgres", "password_file"):
        has_password = config.postgres.resolved_password() is not None
        answer = _ask("  Password", MASK if has_password else None, secret=True)
        if answer is not None:
            _set(changes, "postgres", "password", answer)
    if not given("postgres", "sslmode"):
        mode = _ask_choice("  SSL mode", now("postgres", "sslmode"), get_args(SslMode))
        if mode is not None and mode != now("postgres", "sslmode"):
            _set(changes, "postgres", "sslmode", mode)


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    return str(value)


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


# --- config show / check -----------------------------------------------------------------------


@config_app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Print the effective configuration, secrets masked, and where each value came from."""
    loaded = _state.loaded_config()
    views = describe_config(loaded)
    if as_json:
        document = {
            "config_file": str(loaded.file_path),
            "config_file_exists": loaded.file_exists,
            "settings": {view.name: {"value": view.value, "source": view.source} for view in views},
        }
        typer.echo(json.dumps(document, indent=2))
        return
    state = "" if loaded.file_exists else " (absent: defaults apply)"
    typer.echo(f"# configuration file: {loaded.file_path}{state}")
    width = max(len(view.name.partition(".")[2]) for view in views)
    section = ""
    for view in views:
        view_section, _, field = view.name.partition(".")
        if view_section != section:
            section = view_section
            typer.echo(f"\n[{section}]")
        shown = "(not set)" if view.value is None else _human(view.value)
        typer.echo(f"{field:<{width}} = {shown:<40} # {view.source}")


def _human(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@config_app.command("check")
def check(
    timeout: Annotated[
        float,
        typer.Option(min=0.5, max=120.0, help="Seconds to wait for each service."),
    ] = DEFAULT_TIMEOUT_S,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    allow_exposed_secrets: Annotated[
        bool,
        typer.Option(
            "--allow-exposed-secrets",
            help="Use a client key other users can read (refused otherwise; also "
            "MEDRICAL_ALLOW_EXPOSED_SECRETS=1 for every command).",
        ),
    ] = False,
) -> None:
    """Reach Kafka, the schema registry, Kafka Connect and PostgreSQL; exit 69 if any fails."""
    if allow_exposed_secrets:
        from medrical.kafka_clients import ALLOW_EXPOSED_SECRETS_ENV

        os.environ[ALLOW_EXPOSED_SECRETS_ENV] = "1"
    results = check_all(_state.config(), timeout)
    _forget_previous_ssl_files(results)
    if as_json:
        typer.echo(json.dumps([_result_document(result) for result in results], indent=2))
    else:
        for result in results:
            typer.echo(_result_line(result))
    failed = [result.service for result in results if not result.ok]
    if failed:
        raise ServiceUnavailableError(
            "config check",
            f"{len(failed)} of {len(results)} services failed: {', '.join(failed)}.",
            hint="See the lines above for what each one said.",
        )


def _forget_previous_ssl_files(results: list[CheckResult]) -> None:
    """The client files kept by `configure ssl` are no longer needed once Kafka accepted the
    new ones."""
    from medrical.config.ssl_files import PREVIOUS_DIR, remove_previous

    ssl_dir = ssl_dir_for(_state.config_file())
    kafka_ok = any(result.service == "kafka" and result.ok for result in results)
    if kafka_ok and (ssl_dir / PREVIOUS_DIR).is_dir():
        remove_previous(ssl_dir)
        logger.info("Kafka accepted the new client files; removed the previous ones")


def _result_line(result: CheckResult) -> str:
    if result.ok:
        return f"{result.service:<16} OK      {result.target} ({result.detail})"
    problem = result.problem.value if result.problem else "failed"
    return f"{result.service:<16} FAILED  {result.target}: {problem}: {result.detail}"


def _result_document(result: CheckResult) -> dict[str, Any]:
    return {
        "service": result.service,
        "target": result.target,
        "ok": result.ok,
        "detail": result.detail,
        "problem": result.problem.value if result.problem else None,
        "elapsed_s": round(result.elapsed_s, 3),
    }
