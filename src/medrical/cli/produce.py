"""`medrical produce`: simulated (or replayed) patients' vital signs to a Kafka topic."""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, get_args

import typer

from medrical import schemas
from medrical.cli import _state
from medrical.errors import InputError
from medrical.kafka_clients import ensure_kafka_reachable
from medrical.producing.plan import WardSpec, WorkerJob, plan
from medrical.producing.run import (
    Limits,
    Pacing,
    RunSummary,
    check_delivery,
    produce_dry_run,
    produce_to_kafka,
    replay_readings,
)
from medrical.producing.workers import run_workers
from medrical.schemas import DEFAULT_TOPIC
from medrical.simulation import FIELD_NAMES, MIX, WHOLE_WARD, CsvReplay, Reading, RowProblem, Shard
from medrical.simulation.simulator import Cadence
from medrical.timestamps import epoch_ms_from_iso

log = logging.getLogger(__name__)

DEFAULT_PATIENTS = 10

_SIMULATION = "Simulation"
_PACING = "Pacing and limits"
_REPLAY = "Replay a CSV file"
_SCALE = "Many cores and machines"
_METRICS = "Metrics"


def parse_speed(text: str | None) -> float | None:
    """`--speed`: a positive number of simulated seconds per second, or `max`."""
    if text is None or text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise InputError(f"--speed must be a positive number or 'max', not {text!r}.") from None
    if not speed > 0 or speed == float("inf"):
        raise InputError(f"--speed must be a positive number or 'max', not {text!r}.")
    return speed


def parse_start(text: str | None) -> int | None:
    """`--start`: an ISO-8601 time (UTC when it names no offset), as epoch milliseconds."""
    if text is None:
        return None
    try:
        return epoch_ms_from_iso(text)
    except ValueError as exc:
        raise InputError(
            f"--start must be an ISO-8601 time such as 2026-01-01T08:00:00Z: {exc}."
        ) from None


def parse_columns(pairs: list[str]) -> dict[str, str]:
    """`--column FIELD=HEADER`, repeated."""
    columns: dict[str, str] = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        if not sep or not field.strip() or not header.strip():
            raise InputError(
                f"--column takes FIELD=HEADER, not {pair!r}.",
                hint=f"Fields are: {', '.join(FIELD_NAMES)}.",
            )
        columns[field.strip()] = header.strip()
    return columns


def status_line() -> Callable[[str], None] | None:
    """A live status line on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(text: str) -> None:
        sys.stderr.write(f"\r\x1b[2K{text}")
        sys.stderr.flush()

    return show


def _report_problem(problem: RowProblem) -> None:
    typer.echo(f"skipped {problem}", err=True)


def produce(
    topic: Annotated[
        str, typer.Option("--topic", "-t", help="biometrics_<name>; <name> becomes the table.")
    ] = DEFAULT_TOPIC,
    patients: Annotated[
        int | None,
        typer.Option(
            help=f"Simulated patients [default: {DEFAULT_PATIENTS}].", rich_help_panel=_SIMULATION
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Same seed, same stream [default: random, logged].", rich_help_panel=_SIMULATION
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            help=f"A built-in scenario, or '{MIX}' for a ward of several [default: {MIX}].",
            rich_help_panel=_SIMULATION,
        ),
    ] = None,
    scenario_file: Annotated[
        Path | None,
        typer.Option(help="A scenario of your own (TOML).", rich_help_panel=_SIMULATION),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds of event time between two readings of a patient [default: 1].",
            rich_help_panel=_SIMULATION,
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="Event time of the first reading, ISO-8601 [default: now].",
            rich_help_panel=_SIMULATION,
        ),
    ] = None,
    cadence: Annotated[
        str | None,
        typer.Option(
            help="monitor: every vital each reading; ward: observation rounds [default: monitor].",
            rich_help_panel=_SIMULATION,
        ),
    ] = None,
    artifact_rate: Annotated[
        float | None,
        typer.Option(
            help="Chance (0-1) that a reading starts a probe-off or motion artifact.",
            rich_help_panel=_SIMULATION,
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Cap on events per second, all patients together.", rich_help_panel=_PACING
        ),
    ] = None,
    speed: Annotated[
        str | None,
        typer.Option(
            help="Seconds of event time per wall-clock second, or 'max' "
            "[default: 1 (real time); 'max' with --dry-run or with --rate alone].",
            rich_help_panel=_PACING,
        ),
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Stop after this many events.", rich_help_panel=_PACING)
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop after this many wall-clock seconds.", rich_help_panel=_PACING),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="No network: print each event as a JSON line on stdout, schema-checked.",
        ),
    ] = False,
    replay: Annotated[
        Path | None,
        typer.Option(
            help="Replay readings from a CSV file instead of simulating.", rich_help_panel=_REPLAY
        ),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            help="FIELD=HEADER: read FIELD from column HEADER (repeatable; other fields are "
            "matched by header name).",
            rich_help_panel=_REPLAY,
        ),
    ] = None,
    rebase: Annotated[
        bool,
        typer.Option(
            "--rebase",
            help="Shift the file's times so that its first row falls on --start (or now).",
            rich_help_panel=_REPLAY,
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes that together simulate the ward (patients dealt out among them).",
            rich_help_panel=_SCALE,
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="K/N: simulate the K-th of N shares of the ward (one per machine; needs --seed).",
            rich_help_panel=_SCALE,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics while producing "
            "(0: any free port; with --workers, worker N on PORT+N-1) [default: off].",
            min=0,
            max=65535,
            rich_help_panel=_METRICS,
        ),
    ] = None,
) -> None:
    """Stream synthetic patients' vital signs to a Kafka topic, Avro-encoded, keyed by patient.

    --speed paces event time against the wall clock; --rate caps the events per second. Each
    event waits for both, so the slower wins; --rate alone sends as fast as the cap allows.
    Ctrl+C (or SIGTERM) stops cleanly: in-flight events are flushed and the run counts as a
    success. A second Ctrl+C stops at once. --workers N splits the ward among N processes;
    --shard K/N (with the same --seed everywhere) splits it among machines.
    """
    schemas.check_topic(topic)
    start_ms = parse_start(start)
    pacing = Pacing(speed=_effective_speed(speed, rate=rate, dry_run=dry_run), rate=rate)
    limits = Limits(count=count, duration_s=duration)
    share = WHOLE_WARD if shard is None else Shard.parse(shard)
    if workers is not None and dry_run:
        raise InputError(
            "--dry-run writes one stream from one process; drop --workers.",
            hint="--shard K/N splits a dry run.",
        )
    if metrics_port is not None and dry_run:
        raise InputError("--metrics-port measures deliveries to Kafka; drop --dry-run.")

    skipped: Callable[[], int] = lambda: 0  # noqa: E731
    readings: Iterable[Reading]
    origin_ms: int | None = None
    if replay is not None:
        simulator_flags = {
            "--patients": patients,
            "--seed": seed,
            "--scenario": scenario,
            "--scenario-file": scenario_file,
            "--interval": interval,
            "--cadence": cadence,
            "--artifact-rate": artifact_rate,
        }
        given = [flag for flag, value in simulator_flags.items() if value is not None]
        scale_flags = (("--workers", workers), ("--shard", shard))
        given += [flag for flag, value in scale_flags if value is not None]
        if given:
            raise InputError(f"--replay takes its readings from the file; drop {', '.join(given)}.")
        if start_ms is not None and not rebase:
            raise InputError("--start with --replay needs --rebase.")
        if rebase and start_ms is None:
            start_ms = _now_ms()
        source = CsvReplay(replay, columns=parse_columns(column or []), start_ms=start_ms)
        source.check_readable()
        readings = replay_readings(source, _report_problem)
        skipped = lambda: source.skipped  # noqa: E731
    else:
        if column or rebase:
            raise InputError("--column and --rebase apply to --replay only.")
        if seed is None:
            if not share.whole:
                raise InputError(
                    "--shard needs --seed: every shard must simulate the same ward.",
                    hint=f"For example: --shard {share} --seed 42 on every machine.",
                )
            seed = random.SystemRandom().randrange(2**31)
            log.info("seed %d (give --seed %d to repeat this stream)", seed, seed)
        ward = WardSpec(
            patients=patients if patients is not None else DEFAULT_PATIENTS,
            seed=seed,
            scenario=scenario
            if scenario is not None
            else (MIX if scenario_file is None else "stable"),
            start_ms=start_ms if start_ms is not None else _now_ms(),
            scenario_file=scenario_file,
            interval_s=interval if interval is not None else 1.0,
            cadence=_cadence(cadence),
            artifact_rate=artifact_rate if artifact_rate is not None else 0.0,
            shard=share,
        )
        origin_ms = ward.start_ms
        simulator = ward.simulator()  # checks the arguments before any worker starts
        if workers is not None:
            jobs = plan(
                topic,
                ward,
                workers,
                pacing,
                limits,
                log_level=logging.getLogger("medrical").level,
                metrics_port=metrics_port,
            )
            _produce_with_workers(topic, jobs)
            return
        readings = simulator.readings()

    if dry_run:
        summary = produce_dry_run(
            readings, pacing=pacing, limits=limits, skipped=skipped, origin_ms=origin_ms
        )
        typer.echo(f"dry run: {summary.describe(dry_run=True)}", err=True)
        return
    status = status_line()
    from medrical.producing.metrics import producer_metrics

    with producer_metrics(metrics_port, _announce_metrics) as metrics:
        summary = produce_to_kafka(
            _state.config(),
            topic,
            readings,
            pacing=pacing,
            limits=limits,
            skipped=skipped,
            on_status=status,
            origin_ms=origin_ms,
            metrics=metrics,
        )
    print_summary(topic, summary, status_shown=status is not None)
    check_delivery(summary)


def _announce_metrics(url: str) -> None:
    typer.echo(f"metrics on {url}", err=True)


def _produce_with_workers(topic: str, jobs: list[WorkerJob]) -> None:
    config = _state.config()
    # Fail fast, once, before any worker starts, when Kafka cannot be reached.
    ensure_kafka_reachable(config, timeout_s=5.0)
    status = status_line()
    result = run_workers(config, jobs, on_status=status)
    print_summary(
        f"{topic}: {result.workers} workers", result.summary, status_shown=status is not None
    )
    result.check()
    check_delivery(result.summary)


def _effective_speed(text: str | None, *, rate: float | None, dry_run: bool) -> float | None:
    if text is not None:
        return parse_speed(text)
    if dry_run or rate is not None:
        return None
    return 1.0


def _cadence(text: str | None) -> Cadence:
    choices: tuple[Cadence, ...] = get_args(Cadence)
    for choice in choices:
        if text is None or text == choice:
            return choice
    raise InputError(f"--cadence must be one of {', '.join(choices)}, not {text!r}.")


def _now_ms() -> int:
    return round(datetime.now(UTC).timestamp() * 1000)


def print_summary(target: str, summary: RunSummary, *, status_shown: bool) -> None:
    if status_shown:
        sys.stderr.write("\r\x1b[2K")
    typer.echo(f"{target}: {summary.describe()}", err=True)
