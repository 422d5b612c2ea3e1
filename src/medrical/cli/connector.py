"""`medrical connector apply|status|delete|show-config`: the JDBC sink on Kafka Connect."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from medrical.cli import _state
from medrical.errors import MedricalError
from medrical.sink import (
    DEFAULT_CONNECTOR_NAME,
    DEFAULT_FLAVOR,
    DEFAULT_TOPICS_REGEX,
    ConnectClient,
    Flavor,
)
from medrical.sink.client import ConnectorState, explain_trace
from medrical.sink.connector import mask_secrets
from medrical.sink.dead_letters import TopicSummary
from medrical.sink.deploy import connector_config, deploy_connector, remove_connector
from medrical.sink.supervisor import DEFAULT_MATCH

connector_app = typer.Typer(
    help="Manage the JDBC sink connector that stores each biometrics_<name> topic in a "
    "PostgreSQL table of the same name.",
    no_args_is_help=True,
)

NameOption = Annotated[str, typer.Option("--name", "-n", help="Connector name.")]
FlavorOption = Annotated[
    Flavor,
    typer.Option(
        help="copy: Medrical's COPY sink (the local stack builds it; the fastest); "
        "debezium: Debezium's JDBC sink (the local stack has it too); "
        "aiven: Aiven's JDBC sink, as on Aiven's managed Connect.",
    ),
]
RegexOption = Annotated[
    str, typer.Option("--topics-regex", help="Topics the connector reads (a Java regex).")
]


class ConnectorNotRunningError(MedricalError):
    """`connector status` found the connector absent, failed or not yet running."""


def _say(line: str) -> None:
    typer.echo(line, err=True)


@connector_app.command()
def apply(
    name: NameOption = DEFAULT_CONNECTOR_NAME,
    flavor: FlavorOption = DEFAULT_FLAVOR,
    topics_regex: RegexOption = DEFAULT_TOPICS_REGEX,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the connector and its tasks to run.")
    ] = 60.0,
) -> None:
    """Create or update the connector (validated first), then wait until it runs."""
    config = _state.config()
    conf = connector_config(config, flavor=flavor, topics_regex=topics_regex)
    with ConnectClient(config.connect) as client:
        deployment = deploy_connector(client, name, conf, timeout_s=timeout, report=_say)
    typer.echo(_state_line(deployment.state))


@connector_app.command()
def status(
    name: NameOption = DEFAULT_CONNECTOR_NAME,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Show the connector's state and its tasks' (with the error trace when one failed), and
    its dead letters per source topic with the latest error.

    Exits 1 unless the connector and all its tasks are running.
    """
    config = _state.config()
    with ConnectClient(config.connect) as client:
        state = client.status(name)
    if state is None:
        raise ConnectorNotRunningError(
            f"Kafka Connect at {config.connect.url} has no connector named {name!r}.",
            hint="Create it with `medrical connector apply`.",
        )
    summaries, unknown = _dead_letter_summaries(name)
    if as_json:
        document = {
            "name": state.name,
            "state": state.connector_state,
            "tasks": list(state.task_states),
            "trace": state.trace,
            "dead_letters": None
            if unknown
            else [
                {
                    "topic": summary.topic,
                    "count": summary.count,
                    "not_replayed": summary.pending,
                    "latest_error": summary.latest_error,
                }
                for summary in summaries
            ],
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(_state_line(state))
        for number, task_state in enumerate(state.task_states):
            typer.echo(f"  task {number}: {task_state}")
        if unknown:
            typer.echo(f"  dead letters: unknown ({unknown})")
        elif not summaries:
            typer.echo("  dead letters: none")
        for summary in summaries:
            typer.echo(
                f"  dead letters from {summary.topic}: {summary.count} "
                f"({summary.pending} not replayed); latest: {summary.latest_error[:200]}"
            )
        if state.failed and state.trace:
            typer.echo(f"cause: {explain_trace(state.trace)}")
            typer.echo(state.trace.rstrip())
    if not state.running:
        raise ConnectorNotRunningError(f"connector {name!r} is not running.")


@connector_app.command()
def supervise(
    match: Annotated[
        str, typer.Option(help="Watch the connectors whose whole name matches this regex.")
    ] = DEFAULT_MATCH,
    interval: Annotated[float, typer.Option(help="Seconds between two looks.")] = 2.0,
    local_stack: Annotated[
        bool,
        typer.Option(
            "--local-stack",
            help="Watch every connector of the local stack's Connect, reached as the stack "
            "runs now (how `stack up` starts it).",
        ),
    ] = False,
) -> None:
    """Restart failed tasks of Medrical's connectors, with back-off, until Ctrl+C.

    Kafka Connect leaves a failed task failed. The sink fails its task on purpose when the
    registry or PostgreSQL stays away longer than its own retries; this brings it back once
    the service is. The local stack runs it for you; run it beside a managed Connect.
    """
    from medrical.sink.supervisor import supervise as run_supervisor
    from medrical.stopping import StopFlag, StopOnSignals

    config = _state.config()
    if local_stack:
        from medrical.stack.manager import LocalStack

        config = LocalStack(config.stack).client_config()
        match = ".*"
    with ConnectClient(config.connect) as client, StopOnSignals(StopFlag()) as stop:
        _say(f"{_now()} watching connectors matching {match!r} on {client.url}")
        restarts = run_supervisor(
            client,
            match=match,
            interval_s=interval,
            should_stop=lambda: bool(stop),
            report=lambda line: _say(f"{_now()} {line}"),
        )
    _say(f"{_now()} stopped ({stop.reason}); {restarts} restart(s) made")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@connector_app.command()
def delete(name: NameOption = DEFAULT_CONNECTOR_NAME) -> None:
    """Delete the connector (its tables and topics stay)."""
    config = _state.config()
    with ConnectClient(config.connect) as client:
        deleted = remove_connector(client, name)
    _say(f"connector {name} deleted" if deleted else f"no connector named {name}; nothing to do")


@connector_app.command("show-config")
def show_config(
    name: NameOption = DEFAULT_CONNECTOR_NAME,
    flavor: FlavorOption = DEFAULT_FLAVOR,
    topics_regex: RegexOption = DEFAULT_TOPICS_REGEX,
) -> None:
    """Print the connector's configuration as JSON, secrets masked (no network needed)."""
    conf = connector_config(_state.config(), flavor=flavor, topics_regex=topics_regex)
    typer.echo(json.dumps({"name": name, **mask_secrets(conf)}, indent=4))


def _dead_letter_summaries(name: str) -> tuple[list[TopicSummary], str | None]:
    """This connector's dead letters per source topic, or why they could not be read."""
    from medrical.sink.dead_letters import read_dead_letters, summarise

    try:
        letters = read_dead_letters(_state.config())
    except MedricalError as exc:
        return [], str(exc)
    return summarise(letter for letter in letters if letter.connector == name), None


def _state_line(state: ConnectorState) -> str:
    tasks = ", ".join(state.task_states) or "no tasks"
    return f"{state.name}: {state.connector_state} ({tasks})"
