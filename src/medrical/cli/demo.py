"""`medrical demo`: the whole pipeline in one command, on the local stack."""

from __future__ import annotations

import random
from typing import Annotated

import typer

from medrical.cli import _state
from medrical.cli.produce import DEFAULT_TOPIC, print_summary, status_line
from medrical.config import MedricalConfig
from medrical.producing.demo import (
    DEMO_PATIENTS,
    companions,
    look_at_the_data,
    start_companions,
    stop_companions,
    uses_local_stack,
)
from medrical.producing.run import Limits, Pacing, check_delivery, produce_to_kafka
from medrical.producing.topics import ensure_topic
from medrical.schemas import check_topic
from medrical.simulation import MIX, Simulator
from medrical.sink import DEFAULT_CONNECTOR_NAME, DEFAULT_TOPICS_REGEX, ConnectClient
from medrical.sink.deploy import connector_config, deploy_connector
from medrical.stack.manager import LocalStack


def _say(line: str) -> None:
    typer.echo(line, err=True)


def demo(
    patients: Annotated[int, typer.Option(min=1, help="Patients on the ward.")] = DEMO_PATIENTS,
    scenario: Annotated[
        str, typer.Option(help=f"A built-in scenario, or '{MIX}' for a ward of several.")
    ] = MIX,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds [default: Ctrl+C].")
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
    ] = 18880,
) -> None:
    """Bring up the local stack if needed, apply the sink connector, and stream a ward of
    patients (one reading per patient per second, in real time) until Ctrl+C."""
    check_topic(topic)
    config = _state.config()
    if uses_local_stack(config):
        stack = LocalStack(config.stack)
        if not all(service.healthy for service in stack.status()):
            _say("starting the local stack")
            stack.up(report=_say)
    else:
        _say(f"using the configured services (Kafka at {config.kafka.bootstrap_servers})")
    # Created before the connector starts, so the sink stores it from the first event.
    ensure_topic(config, topic)
    conf = connector_config(config, topics_regex=topics_regex)
    with ConnectClient(config.connect) as client:
        deploy_connector(client, name, conf, report=_say)
    guidance = look_at_the_data(config, topic)
    for line in guidance:
        typer.echo(line)
    chosen = companions(monitor=monitor, dashboard=dashboard, dashboard_port=dashboard_port)
    start_companions(config, chosen)
    for companion in chosen:
        _say(f"{companion.name} running; its log: {companion.log_file(config)}")
    if dashboard:
        typer.echo(f"The ward, live: http://127.0.0.1:{dashboard_port}/")
    try:
        _stream(config, topic, patients, scenario, seed, duration)
    finally:
        stop_companions(config, chosen)


def _stream(
    config: MedricalConfig,
    topic: str,
    patients: int,
    scenario: str,
    seed: int | None,
    duration: float | None,
) -> None:
    stop_hint = f"for {duration:g} s" if duration else "until Ctrl+C"
    _say(f"streaming {patients} patients to {topic}, one reading each per second, {stop_hint}")
    readings = Simulator(
        patients,
        seed if seed is not None else random.SystemRandom().randrange(2**31),
        scenario,
    ).readings()
    status = status_line()
    summary = produce_to_kafka(
        config,
        topic,
        readings,
        pacing=Pacing(speed=1.0),
        limits=Limits(duration_s=duration),
        on_status=status,
    )
    print_summary(topic, summary, status_shown=status is not None)
    check_delivery(summary)
