"""Medrical's command line: parses arguments and dispatches; no business logic lives here."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from medrical.cli import _state
from medrical.cli.lazy import LazyGroup
from medrical.errors import ExitCode, MedricalError
from medrical.logs import setup_logging
from medrical.redaction import redact

app = typer.Typer(
    name="medrical",
    help="Synthetic patient vital signs, streamed through Kafka into PostgreSQL. "
    "All data is synthetic; Medrical is not a medical device.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
    rich_markup_mode=None,  # see medrical.cli.lazy.plain_help
)


def _version(value: bool) -> None:
    if value:
        from medrical import __version__

        typer.echo(f"medrical {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="More logs.")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only warnings and errors.")] = False,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="Configuration file (TOML) to read.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    setup_logging(level)
    _state.set_config_file(config_file)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            from medrical.cli.menu import run_menu

            # Each choice runs as `medrical [--config FILE] <command>` would.
            prefix = ["--config", str(config_file)] if config_file else []
            raise typer.Exit(run_menu(lambda arguments: _run([*prefix, *arguments])))
        typer.echo(ctx.get_help())


def _run(args: list[str] | None = None, prog_name: str = "medrical") -> int:
    """Run the CLI and turn every foreseeable failure into a message and an exit code."""
    try:
        # In non-standalone mode click returns the code of a typer.Exit instead of raising it.
        result = app(args=args, prog_name=prog_name, standalone_mode=False)
    except MedricalError as exc:
        typer.secho(f"error: {redact(str(exc))}", fg=typer.colors.RED, err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return ExitCode.INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return ExitCode.INTERRUPTED
    except typer.TyperException as exc:  # usage errors: bad or missing options, exit 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc}", err=True)
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    return result if isinstance(result, int) else ExitCode.OK


def main() -> None:
    sys.exit(_run())


def configure_main() -> None:
    """`medrical-configure`, the seed's name for `medrical configure`."""
    sys.exit(_run(["configure", *sys.argv[1:]], prog_name="medrical-configure"))
