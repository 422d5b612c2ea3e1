"""`medrical test producer|connector`: live checks of the configured environment."""

from __future__ import annotations

from typing import Annotated

import typer

from medrical import checks
from medrical.cli import _state
from medrical.sink import DEFAULT_FLAVOR, Flavor

test_app = typer.Typer(
    help="Check the configured environment live: produce and read back, or sink into "
    "PostgreSQL. Each check uses a fresh topic and cleans up after itself.",
    no_args_is_help=True,
)

EventsOption = Annotated[int, typer.Option("--count", "-n", min=1, help="How many events to send.")]
KeepOption = Annotated[
    bool, typer.Option("--keep", help="Keep the test topic (and connector, table) afterwards.")
]


def _say(line: str) -> None:
    typer.echo(line, err=True)


@test_app.command()
def producer(
    count: EventsOption = checks.DEFAULT_EVENTS,
    keep: KeepOption = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed for reading every event back.")
    ] = 60.0,
) -> None:
    """Send events to a fresh topic, read them back, and check each arrived, decodes with its
    schema and keeps its patient's order."""
    result = checks.check_producer(
        _state.config(), events=count, keep=keep, timeout_s=timeout, report=_say
    )
    typer.echo(f"producer check passed on {result.topic}")
    typer.echo(
        f"  produced  {result.produced.events} events in {result.produced.seconds:.2f} s "
        f"({result.produced.events_per_s:,.0f} events/s, delivery confirmed)"
    )
    typer.echo(
        f"  consumed  {result.consumed} events in {result.seconds_to_consume_all:.2f} s, "
        f"all decoded, in order for each of {result.patients} patients"
    )


@test_app.command()
def connector(
    count: EventsOption = checks.DEFAULT_EVENTS,
    keep: KeepOption = False,
    deadline: Annotated[
        float, typer.Option(help="Seconds allowed for every row to reach PostgreSQL.")
    ] = 120.0,
    flavor: Annotated[Flavor, typer.Option(help="Which JDBC sink to check.")] = DEFAULT_FLAVOR,
) -> None:
    """Publish to a brand-new topic, apply a connector for it, and time how long until its
    table exists and holds every row."""
    result = checks.check_connector(
        _state.config(), events=count, flavor=flavor, keep=keep, deadline_s=deadline, report=_say
    )
    typer.echo(f"connector check passed: {result.topic} -> table {result.topic}")
    typer.echo(
        f"  produced        {result.produced.events} events in {result.produced.seconds:.2f} s"
    )
    typer.echo(f"  running after   {result.seconds_to_running:.2f} s")
    typer.echo(f"  table after     {result.seconds_to_table:.2f} s")
    typer.echo(f"  all {result.rows} rows after {result.seconds_to_all_rows:.2f} s")
