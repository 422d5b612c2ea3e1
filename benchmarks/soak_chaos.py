"""A soak under chaos: a million readings through the three-broker stack while kill -9 strikes
its brokers, Connect, the registry, PostgreSQL and the monitor, then what was stored.

Against a running three-broker local stack (`medrical stack up --brokers 3`), this streams
`--readings` simulated readings at a steady `--rate` to a topic of its own, stored by a JDBC
sink connector of its own and scored by a `medrical monitor` of its own (a child process),
whose alerts a second sink stores. Spread evenly over the stream, it kills (SIGKILL) one
target after another (`--plan`: brokers, connect, registry, postgres, monitor; `broker` is a
broker at random) and brings each back after `--back-after` seconds (`medrical chaos kill
... --back-after`; the monitor is restarted by this script, as a supervisor would).

Meanwhile it samples the progress of each stage of the pipeline against the work that had
reached it: readings acknowledged by Kafka (against those produced), rows stored (against
those acknowledged) and readings scored, the monitor's committed offsets (against those
acknowledged). For each kill, until the next: how long each stage stood still while it had
work (its longest halt, from its last progress to the next) and the stall, the longest of
them; how long after the kill each stage again held every reading that had reached it more
than `--fresh` seconds earlier, and the recovery, the latest of them ("-": not before the next
kill); the producer's longest delivery (produce() to acknowledgement) of readings produced
around it; and how long the service took to be healthy again. The same halts over an
undisturbed stretch before the first kill are the baseline. At the end: the stall's and the
recovery's maximum and median over the kills; readings sent, acknowledged, in the topic,
stored (rows, distinct), lost and duplicated; the monitor's alerts in Kafka and in PostgreSQL
against those of an uninterrupted run: the monitor's engine over the same readings in memory,
with no Kafka at all. The figures print as Markdown (`--json` for all of them).

    .venv/bin/python benchmarks/soak_chaos.py [--readings 1000000] [--rate 1500] [--json]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition
from psycopg import sql

from medrical.config import MedricalConfig, load_config
from medrical.kafka_clients import client_conf
from medrical.monitor import AlertEngine, VitalsEvent
from medrical.producing.topics import ensure_topic
from medrical.reliability import (
    Outcome,
    ProgressTrace,
    SteadyLoad,
    committed_records,
    describe_outcome,
    stored_counts,
)
from medrical.simulation import Simulator
from medrical.sink import ConnectClient
from medrical.sink.alerts import alerts_sink_config
from medrical.sink.deploy import (
    connector_config,
    connector_password_file,
    deploy_connector,
    remove_connector,
)
from medrical.stack.chaos import Action, Chaos
from medrical.stack.manager import LocalStack

MEDRICAL = Path(sys.executable).with_name("medrical")
ALERT_KEY = ("alert_id",)
DEFAULT_PLAN = "kafka-1,connect,kafka-2,postgres,registry,kafka-3,monitor,connect,broker,postgres"


def say(line: str) -> None:
    """Progress to stderr: stdout holds the figures (or the JSON)."""
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def committed(consumer: Consumer, topic: str, partitions: int, timeout_s: float = 30.0) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=timeout_s))


class RowCounter:
    """Rows of the soak's table, over one connection kept open between counts (the upsert on
    the reading's key keeps them distinct, so a plain count(*) will do while sampling)."""

    def __init__(self, config: MedricalConfig, table: str) -> None:
        self.config, self.table = config, table
        self.connection: psycopg.Connection[Any] | None = None

    def count(self) -> int | None:
        """None while PostgreSQL does not answer."""
        try:
            if self.connection is None or self.connection.closed:
                conninfo = {**self.config.postgres.connect_kwargs(), "connect_timeout": 2}
                self.connection = psycopg.connect(**conninfo, autocommit=True)
            exists = self.connection.execute(
                "SELECT to_regclass(%s)", (f'public."{self.table}"',)
            ).fetchone()
            if exists is None or exists[0] is None:
                return 0
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.table))
            row = self.connection.execute(query).fetchone()
            return int(row[0]) if row else None
        except psycopg.Error:
            self.close()
            return None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def sample_every(
    interval_s: float,
    halt: threading.Event,
    trace: ProgressTrace,
    done: Callable[[], int | None],
    due: Callable[[], int],
) -> threading.Thread:
    """A thread that records, every `interval_s`, what a stage has done against what had
    reached it (read first, so that a stage that keeps up is never seen behind)."""

    def loop() -> None:
        while not halt.wait(interval_s):
            arrived = due()
            trace.record(time.monotonic(), done(), arrived)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class Monitor:
    """`medrical monitor` over one topic as a child process, restartable after a kill."""

    def __init__(self, topic: str, group: str, log_file: Path) -> None:
        self.topic, self.group, self.log_file = topic, group, log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(MEDRICAL),
                    "monitor",
                    "--no-connector",
                    "--topics",
                    f"^{self.topic}$",
                    "--group",
                    self.group,
                    "--instance-id",
                    self.group,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> int:
        assert self.process is not None
        pid = self.process.pid
        os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        return pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_config()
    stack = LocalStack(config.stack)
    if stack.brokers != 3:
        sys.exit("soak_chaos needs a three-broker stack: `medrical stack up --brokers 3`.")
    plan = args.plan.split(",")
    name = uuid.uuid4().hex[:8]
    topic = f"biometrics_soak_{name}"
    connector = f"soak-{name}"
    partitions = 3
    ensure_topic(config, topic, partitions=partitions)
    with ConnectClient(config.connect) as client:
        deploy_connector(
            client, connector, connector_config(config, topics_regex=f"^{topic}$"), report=say
        )
    monitor = Monitor(topic, f"soak-{name}", Path(f"/tmp/medrical-soak-{name}-monitor.log"))  # noqa: S108
    if args.monitor:
        with ConnectClient(config.connect) as client:
            conf = alerts_sink_config(
                config,
                topics_regex=f"^alerts_soak_{name}$",
                password_file=connector_password_file(config),
            )
            deploy_connector(client, alerts_connector(name), conf, report=say)
        monitor.start()
    chaos = Chaos(stack, report=lambda event: say(event.line()))
    start_ms = int(time.time() * 1000)
    readings = ward(args, start_ms).readings()
    load = SteadyLoad(config, topic, readings, rate=args.rate, count=args.readings)
    probe = Consumer(
        client_conf(config, **{"group.id": f"soak-{name}", "enable.auto.commit": False})
    )
    # The samplers' own clients: a consumer's calls are not to be shared between threads.
    offsets = Consumer(
        client_conf(config, **{"group.id": f"soak-{name}", "enable.auto.commit": False})
    )
    rows = RowCounter(config, topic)

    def scored() -> int | None:
        try:
            return committed(offsets, topic, partitions, timeout_s=5.0)
        except KafkaException:
            return None

    def acknowledged() -> int:
        return load.timeline.delivered

    halt = threading.Event()
    traces = {"acknowledged": ProgressTrace(), "stored": ProgressTrace()}
    if args.monitor:
        traces["scored"] = ProgressTrace()
    kills: list[dict[str, Any]] = []
    samplers: list[threading.Thread] = []
    duration = args.readings / args.rate
    try:
        load.start()
        samplers += [
            sample_every(0.2, halt, traces["acknowledged"], acknowledged, load.sent),
            sample_every(args.sample, halt, traces["stored"], rows.count, acknowledged),
        ]
        if args.monitor:
            samplers.append(sample_every(args.sample, halt, traces["scored"], scored, acknowledged))
        # The sink and the monitor take some seconds to reach their pace: not a baseline.
        baseline_start = time.monotonic() + 20.0
        for index, target in enumerate(plan):
            due = load.timeline.started + duration * (index + 1) / (len(plan) + 1)
            time.sleep(max(0.0, due - time.monotonic()))
            if target == "monitor" and not args.monitor:
                continue
            killed_at, wall_clock = time.monotonic(), time.strftime("%H:%M:%S", time.gmtime())
            # Restarts slower than the stream's pace push later kills past its end: say so.
            streaming = load.running
            if target == "monitor":
                pid = monitor.kill()
                say(f"kill   monitor (pid {pid}): sent SIGKILL")
                time.sleep(args.back_after)
                monitor.start()
                service = "monitor"
            else:
                service = chaos.act(Action.KILL, target, back_after_s=args.back_after)[0].name
            kills.append(
                {
                    "target": service,
                    "at": wall_clock,
                    "killed_at": killed_at,
                    "back_s": time.monotonic() - killed_at,
                    "while_streaming": streaming,
                }
            )
        load.wait()
        summary = load.stop()
        say(f"load done: {summary.describe()}")
        final_rows = RowCounter(config, topic)
        wait_until(lambda: (final_rows.count() or 0) >= summary.delivered, 600)
        final_rows.close()
        if args.monitor:
            wait_until(lambda: committed(probe, topic, partitions) >= summary.delivered, 600)
        time.sleep(3.0)
        halt.set()
        monitor.stop()
        alerts = compare_alerts(config, args, name, start_ms) if args.monitor else {}
    finally:
        halt.set()
        monitor.stop()
        with ConnectClient(config.connect) as client:
            remove_connector(client, connector)
            remove_connector(client, alerts_connector(name))
    for sampler in samplers:
        sampler.join(timeout=30)
    rows.close()
    offsets.close()
    timeline = load.timeline
    first_kill = kills[0]["killed_at"] if kills else time.monotonic()
    baseline_max = timeline.max_latency_s(since=baseline_start, until=first_kill - 1.0)
    baseline_halts = {
        stage: trace.longest_halt(baseline_start, first_kill, inside=True)
        for stage, trace in traces.items()
    }
    for position, kill in enumerate(kills):
        since = kill["killed_at"]
        following = kills[position + 1]["killed_at"] if position + 1 < len(kills) else None
        kill["delivery_max_s"] = timeline.max_latency_s(
            since=since - 1.0, until=None if following is None else following - 1.0
        )
        halted = {stage: trace.longest_halt(since, following) for stage, trace in traces.items()}
        recovered = {
            stage: trace.caught_up_after(since, following, args.fresh)
            for stage, trace in traces.items()
        }
        kill["halted_s"] = halted
        kill["stall_s"] = max(halted.values())
        kill["recovered_s"] = recovered
        late = [value for value in recovered.values() if value is None]
        kill["recovery_s"] = None if late else max(v for v in recovered.values() if v is not None)
        kill["at_s"] = round(since - timeline.started, 1)
        del kill["killed_at"]
    stalls = [kill["stall_s"] for kill in kills]
    recoveries = [kill["recovery_s"] for kill in kills if kill["recovery_s"] is not None]
    outcome = Outcome.of(config, topic, summary)
    probe.close()
    return {
        "readings": args.readings,
        "rate_per_s": args.rate,
        "back_after_s": args.back_after,
        "baseline_max_latency_s": baseline_max,
        "baseline_halted_s": baseline_halts,
        "kills": kills,
        "stall_max_s": max(stalls, default=None),
        "stall_median_s": median(stalls),
        "recovery_max_s": max(recoveries, default=None),
        "recovery_median_s": median(recoveries),
        "not_recovered_before_next_kill": len(kills) - len(recoveries),
        **outcome.as_dict(),
        "elapsed_s": summary.elapsed_s,
        "alerts": alerts,
    }


def alerts_connector(name: str) -> str:
    return f"soak-alerts-{name}"


def ward(args: argparse.Namespace, start_ms: int) -> Simulator:
    """The soak's ward; the same start time gives the same readings, hence the same alert ids."""
    return Simulator(args.patients, args.seed, "mix", interval_s=1.0, start_ms=start_ms)


def compare_alerts(
    config: MedricalConfig, args: argparse.Namespace, name: str, start_ms: int
) -> dict[str, Any]:
    """The soak's alerts, committed in Kafka and stored in PostgreSQL, against an uninterrupted
    run: the monitor's engine over the same readings in memory, with no Kafka at all (its
    state is per patient, and the alert ids are deterministic)."""
    say(f"reference run: the monitor's engine over the same {args.readings:,} readings")
    engine = AlertEngine()
    reference_ids: list[str] = []
    for reading in itertools.islice(ward(args, start_ms).readings(), args.readings):
        event = VitalsEvent.from_mapping(reading.to_record())
        reference_ids.extend(alert.alert_id for alert in engine.process(event, raised_at=0).alerts)
    soak_ids = [a["alert_id"] for a in committed_records(config, f"alerts_soak_{name}")]
    table = f"alerts_soak_{name}"
    wait_until(functools.partial(alerts_stored, config, table, len(set(soak_ids))), 180)
    stored = stored_counts(config, table, ALERT_KEY)
    return {
        "reference": len(reference_ids),
        "in_kafka": len(soak_ids),
        "lost": len(set(reference_ids) - set(soak_ids)),
        "extra": len(set(soak_ids) - set(reference_ids)),
        "duplicated_in_kafka": len(soak_ids) - len(set(soak_ids)),
        "stored_rows": stored.rows,
        "stored_distinct": stored.distinct,
    }


def alerts_stored(config: MedricalConfig, table: str, expected: int) -> bool:
    return stored_counts(config, table, ALERT_KEY).distinct >= expected


def wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception as exc:  # a service still coming back
            say(f"waiting: {str(exc).splitlines()[0][:120]}")
        time.sleep(2.0)
    say(f"gave up waiting after {timeout_s:.0f} s")


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def report(result: dict[str, Any]) -> str:
    """The figures as Markdown, ready for docs/reliability.md."""
    stages = list(result["baseline_halted_s"])
    halts = ", ".join(f"{stage} {result['baseline_halted_s'][stage]:.1f} s" for stage in stages)
    lines = [
        f"{result['readings']:,} readings at {result['rate_per_s']:,.0f}/s on three brokers, "
        f"{len(result['kills'])} kill -9s, each target back after {result['back_after_s']:g} s. "
        f"Undisturbed (before the first kill): longest delivery "
        f"{result['baseline_max_latency_s']:.2f} s; longest halt {halts}.",
        "",
        f"| at (UTC) | kill -9 | healthy again | longest delivery | halted ({' / '.join(stages)}) "
        f"| stall | caught up ({' / '.join(stages)}) | recovery |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kill in result["kills"]:
        when = kill["at"] + ("" if kill["while_streaming"] else " (after the stream)")
        halted = " / ".join(seconds(kill["halted_s"][stage]) for stage in stages)
        caught_up = " / ".join(seconds(kill["recovered_s"][stage]) for stage in stages)
        columns = [
            when,
            kill["target"],
            seconds(kill["back_s"]),
            f"{kill['delivery_max_s']:.2f} s",
            halted,
            seconds(kill["stall_s"]),
            caught_up,
            seconds(kill["recovery_s"]),
        ]
        lines.append("| " + " | ".join(columns) + " |")
    lines += [
        "",
        f"Stall: max {seconds(result['stall_max_s'])}, median "
        f"{seconds(result['stall_median_s'])}. Recovery: max {seconds(result['recovery_max_s'])}, "
        f"median {seconds(result['recovery_median_s'])}"
        + (
            f" ({result['not_recovered_before_next_kill']} kill(s) not caught up before the next "
            "kill: -)."
            if result["not_recovered_before_next_kill"]
            else "."
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    # A restart of Kafka, Connect or the registry takes up to a minute on a busy 2-core machine:
    # 1,500/s spreads ten kills over about eleven minutes of stream, one a minute.
    parser.add_argument("--rate", type=float, default=1500.0, help="readings per second")
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--plan", default=DEFAULT_PLAN, help="comma-separated kill targets")
    parser.add_argument("--back-after", type=float, default=8.0, help="s a target stays dead")
    parser.add_argument("--fresh", type=float, default=5.0, help="s of lag counted as fresh")
    parser.add_argument(
        "--sample", type=float, default=0.5, help="s between counts of stored and scored readings"
    )
    parser.add_argument("--monitor", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(report(result))
    alerts = result["alerts"]
    if alerts:
        print(
            f"  alerts: {alerts['in_kafka']:,} committed in Kafka against {alerts['reference']:,} "
            f"of the uninterrupted run: lost {alerts['lost']}, extra {alerts['extra']}, "
            f"repeated {alerts['duplicated_in_kafka']}; stored {alerts['stored_rows']:,} rows "
            f"({alerts['stored_distinct']:,} distinct)"
        )
    print(f"  {describe_outcome(result)}")


if __name__ == "__main__":
    main()
