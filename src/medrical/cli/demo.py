"""`medrical demo`: the whole pipeline in one command, on the local stack (see medrical.demo)."""

from __future__ import annotations

from typing import Annotated

import typer

from medrical.cli import _state
from medrical.demo import (
    DEMO_DASHBOARD_PORT,
    DEMO_METRICS_PORT,
    DEMO_PATIENTS,
    DemoPlan,
    run_demo,
)
from medrical.schemas import DEFAULT_TOPIC
from medrical.simulation.scenario import MIX
from medrical.sink.connector import DEFAULT_CONNECTOR_NAME, DEFAULT_TOPICS_REGEX


def _say(line: str) -> None:
    typer.echo(line, err=True)


def demo(
    patients: Annotated[int, typer.Option(min=1, help="Patients on the ward.")] = DEMO_PATIENTS,
    scenario: Annotated[
        str, typer.Option(help=f"A built-in scenario, or '{MIX}' for a ward of several.")
    ] = MIX,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: at Ctrl+C).")
    ] = None,
    topic: Annotated[str, typer.Option("--topic", "-t", help="biometrics_<name>.")] = DEFAULT_TOPIC,
    seed: Annotated[int | None, typer.Option(help="Same seed, same ward.")] = None,
    name: Annotated[str, typer.Option("--name", help="Connector name.")] = DEFAULT_CONNECTOR_NAME,
    topics_regex: Annotated[
        str, typer.Option("--topics-regex", help="Topics the connector reads.")
    ] = DEFAULT_TOPICS_REGEX,
    monitor: Annotated[
        bool, typer.Option("--monitor/--no-monitor", help="Score the ward and raise alerts.")
    ] = True,
    dashboard: Annotated[
        bool, typer.Option("--dashboard/--no-dashboard", help="Serve the ward in the browser.")
    ] = True,
    dashboard_port: Annotated[
        int, typer.Option(min=1, max=65535, help="The dashboard's port on 127.0.0.1.")
    ] = DEMO_DASHBOARD_PORT,
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics/--no-metrics",
            help="Serve Prometheus metrics: the producer's on --metrics-port, the dashboard's "
            "at its /metrics.",
        ),
    ] = True,
    metrics_port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="The producer's metrics port on 127.0.0.1 (0: any free one)."
        ),
    ] = DEMO_METRICS_PORT,
) -> None:
    """Bring up the local stack if needed, apply the sink connector, and stream a ward of
    patients (one reading per patient per second, in real time) until Ctrl+C."""
    from medrical.cli.produce import print_summary, status_line
    from medrical.producing.run import check_delivery

    plan = DemoPlan(
        topic=topic,
        connector_name=name,
        topics_regex=topics_regex,
        patients=patients,
        scenario=scenario,
        seed=seed,
        duration_s=duration,
        monitor=monitor,
        dashboard=dashboard,
        dashboard_port=dashboard_port,
        metrics_port=metrics_port if metrics else None,
    )
    status = status_line()
    summary = run_demo(
        _state.config(),
        plan,
        config_file=_state.config_file(),
        say=_say,
        show=typer.echo,
        on_status=status,
    )
    print_summary(topic, summary, status_shown=status is not None)
    check_delivery(summary)
