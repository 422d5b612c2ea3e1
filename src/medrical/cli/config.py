"""`medrical configure`, `medrical configure ssl`, `medrical config show|check`."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import typer

from medrical.cli import _state
from medrical.config import (
    describe_config,
    ssl_dir_for,
)
from medrical.errors import ServiceUnavailableError
from medrical.health import DEFAULT_TIMEOUT_S, CheckResult, check_all

logger = logging.getLogger(__name__)

config_app = typer.Typer(
    help="Show the effective configuration, or check that every service answers.",
    no_args_is_help=True,
)

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
    results = check_all(
        _state.config(), timeout, allow_exposed_secrets=allow_exposed_secrets or None
    )
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
