"""The small interactive menu `medrical` opens when run with no arguments on a terminal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import typer

Dispatch = Callable[[list[str]], int]


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: str
    describe: str
    arguments: Callable[[], list[str] | None]


def _produce_arguments() -> list[str] | None:
    patients = typer.prompt("Patients", default=10, type=int)
    count = typer.prompt("Events to send (0 = until Ctrl+C)", default=0, type=int)
    arguments = ["produce", "--patients", str(patients)]
    return [*arguments, "--count", str(count)] if count > 0 else arguments


def _test_arguments() -> list[str] | None:
    choices = ("producer", "connector")
    while True:
        which = typer.prompt("Check the producer or the connector", default=choices[0])
        if which.strip().lower() in choices:
            return ["test", which.strip().lower()]
        typer.echo(f"Answer {' or '.join(choices)}.", err=True)


ITEMS: tuple[MenuItem, ...] = (
    MenuItem(
        "1",
        "configure",
        "write the configuration (Kafka, registry, Connect, PostgreSQL)",
        lambda: ["configure"],
    ),
    MenuItem("2", "produce", "stream simulated patients to Kafka", _produce_arguments),
    MenuItem("3", "test", "live check of the producer or the connector", _test_arguments),
    MenuItem(
        "4",
        "stack status",
        "the local stack's services and their health",
        lambda: ["stack", "status"],
    ),
    MenuItem("5", "demo", "the whole pipeline on the local stack, until Ctrl+C", lambda: ["demo"]),
)
QUIT = ("q", "quit", "exit")


def render() -> str:
    lines = ["", "Medrical: synthetic vital signs (not a medical device)"]
    lines += [f"  {item.key}) {item.label:<13} {item.describe}" for item in ITEMS]
    lines.append("  q) quit")
    return "\n".join(lines)


def run_menu(dispatch: Dispatch) -> int:
    """Offer the menu until the user quits; return the exit code of the last command run."""
    last = 0
    by_key = {item.key: item for item in ITEMS} | {item.label: item for item in ITEMS}
    while True:
        typer.echo(render())
        try:
            choice = typer.prompt("Choose", default="q").strip().lower()
        except (EOFError, typer.Abort):
            return last
        if choice in QUIT:
            return last
        item = by_key.get(choice)
        if item is None:
            typer.echo(f"No such choice: {choice!r}.", err=True)
            continue
        try:
            arguments = item.arguments()
        except typer.Abort:
            continue
        if arguments is not None:
            last = dispatch(arguments)
