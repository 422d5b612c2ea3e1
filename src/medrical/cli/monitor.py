"""`medrical monitor`: NEWS2 alerting on the live stream, and `medrical monitor evaluate`."""

from __future__ import annotations

import logging
import shlex
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from medrical.cli import _state
from medrical.config import MedricalConfig
from medrical.errors import InputError
from medrical.monitor import assessment
from medrical.monitor.policy import AlertPolicy
from medrical.monitor.stream import (
    DEFAULT_GROUP,
    DEFAULT_OUTAGE_TIMEOUT_S,
    DEFAULT_TOPICS,
    MonitorOptions,
    MonitorSummary,
    StreamMonitor,
)
from medrical.monitor.view import WardView
from medrical.simulation import MIX, Simulator
from medrical.simulation.simulator import Cadence
from medrical.stopping import StopFlag, StopOnSignals
from medrical.timestamps import epoch_ms_from_iso

log = logging.getLogger(__name__)

_EVALUATE_SIMULATED = "Offline: simulate in-process"
_BENCH = "Policies side by side"
EVALUATION_START = "2026-01-01T00:00:00Z"

monitor_app = typer.Typer(
    help="Score every biometrics_* topic with NEWS2 and raise alerts on alerts_<name>, "
    "exactly once. Synthetic data; not for clinical use.",
)


@monitor_app.callback(invoke_without_command=True)
def monitor(
    ctx: typer.Context,
    group: Annotated[
        str,
        typer.Option(help="Consumer group; monitors in one group share the partitions."),
    ] = DEFAULT_GROUP,
    topics: Annotated[
        str,
        typer.Option(help="Regular expression of the input topics (librdkafka: ^...)."),
    ] = DEFAULT_TOPICS,
    instance_id: Annotated[
        str | None,
        typer.Option(
            help="A stable name for this process (static group member, transactional id): "
            "a restart under it takes over at once."
        ),
    ] = None,
    commit_interval: Annotated[
        float,
        typer.Option(help="Seconds per transaction: alerts become visible this often."),
    ] = 0.1,
    connector: Annotated[
        bool,
        typer.Option(
            "--connector/--no-connector",
            help="Create or update the alerts sink connector (alerts_* -> PostgreSQL) first.",
        ),
    ] = True,
    view: Annotated[
        bool, typer.Option("--view", help="Show a live ward view (on a terminal only).")
    ] = False,
    kafka_outage_timeout: Annotated[
        float,
        typer.Option(help="Seconds to wait for Kafka when it stops answering; past that, exit 69."),
    ] = DEFAULT_OUTAGE_TIMEOUT_S,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics (0: any free port) "
            "[default: off].",
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            help="The early-warning policy that scores the stream: news2, mews, qsofa, limits, a "
            "limits file (*.toml), module:callable or an installed plug-in. Alerts name it; give "
            "each policy a --group of its own."
        ),
    ] = "news2",
) -> None:
    """Run the monitor until SIGINT or SIGTERM, then print what it scored and raised."""
    if ctx.invoked_subcommand is not None:
        return
    if not 0 < commit_interval <= 10:
        raise InputError(f"--commit-interval must lie in (0, 10] seconds, not {commit_interval}")
    if not 0 < kafka_outage_timeout <= 86_400:
        raise InputError(
            f"--kafka-outage-timeout must lie in (0, 86400] seconds, not {kafka_outage_timeout}"
        )
    from medrical.policies import load_policy

    options = MonitorOptions(
        group=group,
        topics=topics,
        instance_id=instance_id,
        commit_interval_s=commit_interval,
        kafka_outage_timeout_s=kafka_outage_timeout,
        policy=AlertPolicy(scoring=load_policy(policy)),
    )
    config = _state.config()
    if connector:
        _apply_alerts_connector(config)
    ward: WardView | None = None
    if view:
        if sys.stdout.isatty():
            ward = WardView()
        else:
            log.warning("--view needs a terminal; running without it")
    with ExitStack() as running:
        on_commit = None
        if metrics_port is not None:
            from medrical.metrics import serve_metrics
            from medrical.monitor.metrics import MonitorMetrics

            metrics = MonitorMetrics()
            host, port = running.enter_context(serve_metrics(metrics.registry, metrics_port))
            typer.echo(f"metrics on http://{host}:{port}/metrics", err=True)
            on_commit = metrics.committed
        stop = running.enter_context(StopOnSignals(StopFlag()))
        mon = running.enter_context(
            StreamMonitor(config, options, observer=ward, on_commit=on_commit)
        )
        if metrics_port is not None:
            metrics.watch(mon)
        log.info("monitoring %s as group %s with %s", topics, group, policy)
        summary = mon.run(stop) if ward is None else _run_with_view(mon, ward, stop)
    if stop.reason:
        log.info("%s", stop.reason)
    typer.echo(summary.describe())


def _run_with_view(mon: StreamMonitor, ward: WardView, stop: StopFlag) -> MonitorSummary:
    from rich.live import Live

    with Live(ward, refresh_per_second=2, screen=False, transient=False):
        return mon.run(stop)


def _apply_alerts_connector(config: MedricalConfig) -> None:
    from medrical.sink.alerts import ALERTS_CONNECTOR_NAME, alerts_sink_config
    from medrical.sink.client import ConnectClient
    from medrical.sink.deploy import connector_password_file, deploy_connector

    conf = alerts_sink_config(config, password_file=connector_password_file(config))
    with ConnectClient(config.connect) as client:
        deploy_connector(client, ALERTS_CONNECTOR_NAME, conf)
    log.info("alerts sink connector %s is running", ALERTS_CONNECTOR_NAME)


@monitor_app.command("evaluate")
def evaluate(
    topic: Annotated[
        str | None,
        typer.Option(
            "--topic",
            "-t",
            help="Evaluate what the sinks stored for biometrics_<name> and alerts_<name>.",
        ),
    ] = None,
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate",
            help="Instead, simulate a ward and run the alert engine in-process.",
            rich_help_panel=_EVALUATE_SIMULATED,
        ),
    ] = False,
    patients: Annotated[
        int,
        typer.Option(help="Simulated patients.", rich_help_panel=_EVALUATE_SIMULATED),
    ] = 100,
    hours: Annotated[
        float,
        typer.Option(help="Simulated hours.", rich_help_panel=_EVALUATE_SIMULATED),
    ] = 12.0,
    scenario: Annotated[
        str,
        typer.Option(
            help=f"A built-in scenario, or '{MIX}' for a ward of several.",
            rich_help_panel=_EVALUATE_SIMULATED,
        ),
    ] = MIX,
    seed: Annotated[int, typer.Option(help="Same seed, same ward.")] = 1,
    interval: Annotated[
        float,
        typer.Option(
            help="Seconds of event time between two readings of a patient.",
            rich_help_panel=_EVALUATE_SIMULATED,
        ),
    ] = 15.0,
    cadence: Annotated[
        str,
        typer.Option(
            help="monitor (every vital each reading) or ward (observation rounds).",
            rich_help_panel=_EVALUATE_SIMULATED,
        ),
    ] = "monitor",
    start: Annotated[
        str,
        typer.Option(
            help="Event time of the first reading (ISO-8601). Fixed by default, so that the same "
            "command gives the same table: the simulated vitals follow the time of day.",
            rich_help_panel=_EVALUATE_SIMULATED,
        ),
    ] = EVALUATION_START,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            help="Scenarios to leave out (neither stable nor deteriorating) "
            "[default: recovery]; repeat it, or give 'none'."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            help="Compare this early-warning policy: news2, mews, qsofa, limits, a limits file "
            "(*.toml), module:callable or an installed plug-in; repeat it.",
            rich_help_panel=_BENCH,
        ),
    ] = None,
    seeds: Annotated[
        int,
        typer.Option(
            help="Simulate this many wards (seeds --seed, --seed + 1, ...) and pool them.",
            rich_help_panel=_BENCH,
        ),
    ] = 1,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Also write report.md and its plots into this folder.", rich_help_panel=_BENCH
        ),
    ] = None,
    patients_per_nurse: Annotated[
        float, typer.Option(help="For the alert load per nurse-shift.", rich_help_panel=_BENCH)
    ] = 8.0,
    shift_hours: Annotated[
        float, typer.Option(help="For the alert load per nurse-shift.", rich_help_panel=_BENCH)
    ] = 12.0,
    jobs: Annotated[
        int,
        typer.Option(
            help="Simulate this many seeds at once, in processes of their own (same figures).",
            rich_help_panel=_BENCH,
        ),
    ] = 1,
) -> None:
    """Alert quality per scenario: detection delay, missed deteriorations, false alerts.

    With --policy, --seeds or --report: every policy side by side on the same wards.
    """
    if simulate == (topic is not None):
        raise InputError(
            "Give either --topic (stored readings and alerts) or --simulate (offline).",
            hint="For example: medrical monitor evaluate --simulate --patients 100 --hours 12",
        )
    if cadence not in ("monitor", "ward"):
        raise InputError(f"--cadence must be monitor or ward, not {cadence!r}")
    ignored = assessment.DEFAULT_IGNORED
    if ignore:
        ignored = frozenset(name for name in ignore if name != "none")
    if not 1 <= seeds <= 100:
        raise InputError(f"--seeds must lie in 1..100, not {seeds}")
    if not 1 <= jobs <= 16:
        raise InputError(f"--jobs must lie in 1..16, not {jobs}")
    if policy or seeds > 1 or report is not None:
        _compare(
            topic, patients, hours, scenario, seed, seeds, interval, cadence, start, ignored,
            policy, report, patients_per_nurse, shift_hours, as_json, jobs,
        )  # fmt: skip
        return
    if simulate:
        mode: Cadence = "ward" if cadence == "ward" else "monitor"
        simulator = Simulator(
            patients, seed, scenario, interval_s=interval, cadence=mode, start_ms=_start_ms(start)
        )
        result = assessment.simulate(simulator, hours, ignored_scenarios=ignored)
    else:
        assert topic is not None
        from medrical.schemas import check_topic

        result = assessment.from_postgres(
            _state.config(), check_topic(topic), ignored_scenarios=ignored
        )
    typer.echo(assessment.as_json(result) if as_json else assessment.as_text(result))


def _start_ms(start: str) -> int:
    try:
        return epoch_ms_from_iso(start)
    except ValueError:
        raise InputError(
            f"--start must be an ISO-8601 time such as {EVALUATION_START}, not {start!r}."
        ) from None


def _compare(
    topic: str | None,
    patients: int,
    hours: float,
    scenario: str,
    seed: int,
    seeds: int,
    interval: float,
    cadence: str,
    start: str,
    ignored: frozenset[str],
    specs: list[str] | None,
    report: Path | None,
    patients_per_nurse: float,
    shift_hours: float,
    as_json: bool,
    jobs: int,
) -> None:
    from medrical.bench import report as bench_report
    from medrical.bench import run
    from medrical.bench.compare import Staffing
    from medrical.policies import load_policies

    policies = load_policies(specs)
    try:
        staffing = Staffing(patients_per_nurse, shift_hours)
    except ValueError as exc:
        raise InputError(f"--patients-per-nurse/--shift-hours: {exc}") from None
    words = ["medrical", "monitor", "evaluate"]
    if topic is None:
        start_ms = _start_ms(start)
        mode: Cadence = "ward" if cadence == "ward" else "monitor"
        comparison = run.simulated(
            run.Ward(patients, scenario, interval, mode, start_ms),
            range(seed, seed + seeds),
            hours,
            policies,
            ignored_scenarios=ignored,
            staffing=staffing,
            jobs=jobs,
        )
        words += ["--simulate", "--patients", str(patients), "--hours", f"{hours:g}"]
        words += ["--scenario", scenario, "--seed", str(seed), "--seeds", str(seeds)]
        words += ["--interval", f"{interval:g}", "--cadence", cadence, "--start", start]
    else:
        from medrical.schemas import check_topic

        comparison = run.stored(
            _state.config(), check_topic(topic), policies, ignored_scenarios=ignored,
            staffing=staffing,
        )  # fmt: skip
        words += ["--topic", topic]
    for spec in specs or ["news2"]:
        words += ["--policy", spec]
    if ignored != assessment.DEFAULT_IGNORED:
        for name in sorted(ignored) or ["none"]:
            words += ["--ignore", name]
    words += [
        "--patients-per-nurse",
        f"{patients_per_nurse:g}",
        "--shift-hours",
        f"{shift_hours:g}",
    ]
    if report is not None:
        words += ["--report", str(report)]
        for path in bench_report.write_report(report, comparison, shlex.join(words)):
            log.info("wrote %s", path)
    typer.echo(bench_report.as_json(comparison) if as_json else bench_report.as_text(comparison))
