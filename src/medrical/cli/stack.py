"""`medrical stack ...`: the local stack of real engines."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from medrical.cli import _state
from medrical.config import STACK_BROKER_COUNTS
from medrical.errors import InputError, StackError
from medrical.stack import fetch
from medrical.stack.layout import SERVICES, SUPERVISOR
from medrical.stack.manager import LocalStack

if TYPE_CHECKING:
    from medrical.lag import TopicFlow

stack_app = typer.Typer(
    help="Run Kafka, the schema registry, Kafka Connect and PostgreSQL locally.",
    no_args_is_help=True,
)


def _stack() -> LocalStack:
    return LocalStack(_state.config().stack)


def _say(line: str) -> None:
    typer.echo(line, err=True)


@stack_app.command()
def up(
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Serve Kafka by mutual TLS and SASL_SSL, the registry by HTTPS with basic auth "
            "and PostgreSQL by SSL only, with a throw-away CA made here (also: stack.tls).",
        ),
    ] = False,
    brokers: Annotated[
        int | None,
        typer.Option(
            "--brokers",
            help="Kafka nodes: 1, or 3 (replication factor 3, min.insync.replicas 2) "
            "[default: stack.brokers, or as the stack's data was made].",
        ),
    ] = None,
) -> None:
    """Start every service (fetching the engines the first time) and wait until each is healthy."""
    settings = _state.config().stack
    if tls:
        settings = settings.model_copy(update={"tls": True})
    if brokers is not None:
        if brokers not in STACK_BROKER_COUNTS:
            raise InputError(f"--brokers takes 1 or 3, not {brokers}.")
        settings = settings.model_copy(update={"brokers": brokers})
    stack = LocalStack(settings)
    started = time.monotonic()
    timings = stack.up(report=_say)
    if timings:
        _say(f"stack up in {time.monotonic() - started:.1f} s; data in {stack.layout.home}")
    else:
        _say("stack already running")
    if stack.settings.tls:
        _say(
            f"client certificate, key and CA (ca.pem, service.cert, service.key) in "
            f"{stack.layout.client}"
        )
        _say(
            "use them in one step: `medrical configure from-stack` (mutual TLS) or "
            "`medrical configure from-stack --sasl-ssl`"
        )


@stack_app.command()
def down() -> None:
    """Stop the processes this stack started (by their PID files)."""
    stopped = _stack().down(report=_say)
    if not stopped:
        _say("stack was not running")


@stack_app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show each service, where it listens, its health and resident memory; per biometrics_*
    and alerts_* topic the input rate, how far the sinks and the monitor lag (readings and
    seconds) and the dead letters; the supervisor, and every failed connector task (exit 1 if
    a service is unhealthy or a task failed)."""
    stack = _stack()
    rows = stack.status()
    for row in rows:
        if as_json:
            entry: dict[str, object] = {
                "service": row.name,
                "address": row.address,
                "pid": row.pid,
                "healthy": row.healthy,
                "detail": row.detail,
                "resident_mib": round(row.resident_mib, 1) if row.resident_mib else None,
            }
            if row.role is not None:
                entry |= {"role": row.role, "leads": list(row.leads or [])}
            if row.metrics is not None:
                entry["metrics"] = row.metrics
            typer.echo(json.dumps(entry))
        else:
            memory = f"{row.resident_mib:7.0f} MiB" if row.resident_mib else "        -  "
            state = "healthy" if row.healthy else ("down" if row.pid is None else "unhealthy")
            pid = str(row.pid) if row.pid else "-"
            detail = row.detail
            if row.role is not None and row.pid is not None:
                detail += f"; {row.role}, leads {len(row.leads or ())} partition(s)"
            if row.metrics is not None and row.pid is not None:
                detail += f"; metrics {row.metrics}"
            typer.echo(f"{row.name:<9} {state:<9} {pid:>7} {memory}  {row.address:<48} {detail}")
    kafka_up = any(row.healthy for row in rows if row.name.startswith("kafka"))
    flows = _pipeline_flows(stack) if kafka_up else []
    for flow in flows:
        typer.echo(json.dumps(flow.as_json()) if as_json else flow.describe())
    healthy = all(row.healthy for row in rows)
    supervisor = stack.supervisor_pid()
    problems = stack.connector_problems() if rows[-1].healthy else []
    if as_json:
        typer.echo(
            json.dumps(
                {"service": SUPERVISOR, "pid": supervisor, "healthy": supervisor is not None}
            )
        )
        for problem in problems:
            typer.echo(json.dumps({"connector_problem": problem}))
    else:
        state = "running" if supervisor is not None else "down"
        typer.echo(f"{SUPERVISOR:<9} {state:<9} restarts failed connector tasks (pid {supervisor})")
        for problem in problems:
            typer.echo(problem)
    if not healthy or problems or (rows[-1].healthy and supervisor is None):
        raise typer.Exit(1)


def _pipeline_flows(stack: LocalStack) -> list[TopicFlow]:
    from medrical import lag
    from medrical.sink.dead_letters import read_dead_letters, summarise

    config = stack.client_config()

    def dead_letters() -> dict[str, int]:
        return {summary.topic: summary.count for summary in summarise(read_dead_letters(config))}

    return lag.measure(config, dead_letters)


@stack_app.command()
def logs(
    service: Annotated[
        str | None,
        typer.Argument(
            help=f"One of: {', '.join((*SERVICES, SUPERVISOR))} (kafka-1 to kafka-3 with 3 "
            "brokers)."
        ),
    ] = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines.")] = 40,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing.")] = False,
) -> None:
    """Print the last lines of a service's log (all services when none is named)."""
    from medrical.stack.process import tail

    stack = _stack()
    known = (*(s.name for s in stack.services), SUPERVISOR)
    if service is not None and service not in known:
        raise InputError(f"unknown service {service!r}; choose one of {', '.join(known)}.")
    chosen = [service] if service else list(known)
    for name in chosen:
        if len(chosen) > 1:
            typer.echo(f"==> {name} <==")
        typer.echo(tail(stack.log_path(name), lines))
    if follow and service:
        path = stack.log_path(service)
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            handle.seek(0, 2)
            while True:
                line = handle.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    time.sleep(0.3)


@stack_app.command()
def reset(
    force: Annotated[bool, typer.Option("--force", help="Stop the stack first.")] = False,
) -> None:
    """Wipe the stack's data (topics, tables, schemas); downloaded engines are kept."""
    stack = _stack()
    if force:
        stack.down(report=_say)
    stack.reset()
    _say(f"stack data wiped at {stack.layout.home}")


@stack_app.command("fetch")
def fetch_command() -> None:
    """Download and verify the pinned engines without starting anything."""
    settings = _state.config().stack
    target = fetch.fetch_engines(settings.cache_dir)
    _say(f"engines ready in {target}")
    for name, version in fetch.pinned_versions().items():
        typer.echo(f"{name:<20} {version}")


__all__ = ["StackError", "stack_app"]
