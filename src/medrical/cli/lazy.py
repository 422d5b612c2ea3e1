"""The root command group, with sub-commands imported only when one is run.

`medrical --help` lists every command from the short help kept here, and `medrical news2 ...`
imports only `cli/news2.py`: the registry client, the Kafka client, FastAPI and pydantic are
imported by the commands that use them. A unit test keeps the short help here equal to each
command's own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:  # typer runs on its own copy of click; these are its types
    from typer._click.core import Command, Context


@dataclass(frozen=True)
class LazyCommand:
    module: str
    attribute: str
    help: str


COMMANDS: dict[str, LazyCommand] = {
    "news2": LazyCommand(
        "medrical.cli.news2",
        "news2",
        "Compute a NEWS2 score (RCP 2017) from one set of observations.",
    ),
    "produce": LazyCommand(
        "medrical.cli.produce",
        "produce",
        "Stream synthetic patients' vital signs to a Kafka topic, Avro-encoded, keyed by patient.",
    ),
    "demo": LazyCommand(
        "medrical.cli.demo",
        "demo",
        "Bring up the local stack if needed, apply the sink connector, and stream a ward of "
        "patients (one reading per patient per second, in real time) until Ctrl+C.",
    ),
    "dashboard": LazyCommand(
        "medrical.cli.dashboard",
        "dashboard",
        "Serve a live ward dashboard: tiles by NEWS2 risk, alerts, patient charts.",
    ),
    "stack": LazyCommand(
        "medrical.cli.stack",
        "stack_app",
        "Run Kafka, the schema registry, Kafka Connect and PostgreSQL locally.",
    ),
    "chaos": LazyCommand(
        "medrical.cli.chaos",
        "chaos_app",
        "Kill, stop, start, pause or resume a service of the local stack (by its PID file), "
        "once or every so often, and print what was done and when.",
    ),
    "configure": LazyCommand(
        "medrical.cli.configure",
        "configure_app",
        "Write the configuration file: by questions on a terminal, or from flags with "
        "--non-interactive. Secrets are read from files, the environment or hidden prompts.",
    ),
    "config": LazyCommand(
        "medrical.cli.config",
        "config_app",
        "Show the effective configuration, or check that every service answers.",
    ),
    "connector": LazyCommand(
        "medrical.cli.connector",
        "connector_app",
        "Manage the JDBC sink connector that stores each biometrics_<name> topic in a "
        "PostgreSQL table of the same name.",
    ),
    "dead-letters": LazyCommand(
        "medrical.cli.dead_letters",
        "dead_letters_app",
        "The records the sink could not read (not Avro, or a schema id the registry does not "
        "know), kept in medrical_dead_letters with their error: list them, and replay chosen "
        "ones to their source topic once the cause is fixed.",
    ),
    "test": LazyCommand(
        "medrical.cli.checks",
        "test_app",
        "Check the configured environment live: produce and read back, or sink into "
        "PostgreSQL. Each check uses a fresh topic and cleans up after itself.",
    ),
    "monitor": LazyCommand(
        "medrical.cli.monitor",
        "monitor_app",
        "Score every biometrics_* topic with NEWS2 and raise alerts on alerts_<name>, exactly "
        "once. Synthetic data; not for clinical use.",
    ),
}


def load_command(name: str) -> Command:
    """The real command: its module imported, built by typer, its help plain text."""
    entry = COMMANDS[name]
    target: Any = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    plain_help(command)
    return command


def plain_help(command: Command) -> None:
    """Help as plain text, for every command alike: Rich markup would swallow a "[default: 10]"
    written into a help string, and importing Rich's formatting costs most of a second of
    start-up on a busy machine."""
    command.rich_markup_mode = None  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        known = super().get_command(ctx, cmd_name)
        if known is not None or cmd_name not in COMMANDS:
            return known
        # Only its name and short help are needed to list it; running it goes through
        # resolve_command, which loads the real one.
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name].help)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] in COMMANDS:
            return args[0], load_command(args[0]), args[1:]
        return super().resolve_command(ctx, args)
