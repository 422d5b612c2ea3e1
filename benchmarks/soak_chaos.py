"""A soak under chaos: a million readings through the three-broker stack while kill -9 strikes
its brokers, Connect, the registry, PostgreSQL and the monitor, then what was stored.

Against a running three-broker local stack (`medrical stack up --brokers 3`), this streams
`--readings` simulated readings at a steady `--rate` to a topic of its own, stored by a JDBC
sink connector of its own and scored by a `medrical monitor` of its own (a child process),
whose alerts a second sink stores. Spread evenly over the stream, it kills (SIGKILL) one
target after another (`--plan`: brokers, connect, registry, postgres, monitor; `broker` is a
broker at random) and brings each back after `--back-after` seconds (`medrical chaos kill
... --back-after`; the monitor is restarted by this script, as a supervisor would).

For each kill: the producer's stall (its longest delivery, produce() to acknowledgement, of
readings produced from just before the kill until just before the next), against the longest
of an undisturbed stretch before the first kill; how long the service took to be healthy
again; and the recovery, from the kill until the table again held every reading more than
`--fresh` seconds old (and, for the monitor, until it had again scored every such reading).
At the end: readings sent, acknowledged, in the topic, stored (rows, distinct), lost and
duplicated; the monitor's alerts in Kafka and in PostgreSQL against those of an uninterrupted
run: the monitor's engine over the same readings in memory, with no Kafka at all.

    .venv/bin/python benchmarks/soak_chaos.py [--readings 1000000] [--rate 1500] [--json]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from medrical.config import MedricalConfig, load_config
from medrical.kafka_clients import client_conf
from medrical.monitor import AlertEngine, VitalsEvent
from medrical.producing.topics import ensure_topic
from medrical.reliability import (
    Outcome,
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


def committed(consumer: Consumer, topic: str, partitions: int) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=30))


@dataclass
class Sample:
    at: float
    delivered: int
    stored: int
    scored: int | None


@dataclass
class Progress:
    """Samples, once a second, of what was acknowledged, stored and scored."""

    samples: list[Sample] = field(default_factory=list)
    halt: threading.Event = field(default_factory=threading.Event)

    def fresh_after(
        self,
        since: float,
        until: float | None,
        fresh_s: float,
        of: Callable[[Sample], int | None],
    ) -> float:
        """Seconds from `since` until `of(sample)` again reached what was acknowledged
        `fresh_s` earlier, after the last time before `until` it fell behind (0.0 if it
        never did)."""
        behind_until = None
        for sample in self.samples:
            if sample.at < since + fresh_s or (until is not None and sample.at >= until):
                continue
            reached = of(sample)
            earlier = self.delivered_at(sample.at - fresh_s)
            if reached is not None and reached < earlier:
                behind_until = sample.at
        if behind_until is None:
            return 0.0
        following = [s.at for s in self.samples if s.at > behind_until]
        return (following[0] if following else behind_until) - since

    def delivered_at(self, moment: float) -> int:
        before = [s.delivered for s in self.samples if s.at <= moment]
        return before[-1] if before else 0


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
    progress = Progress()
    start_ms = int(time.time() * 1000)
    readings = ward(args, start_ms).readings()
    load = SteadyLoad(config, topic, readings, rate=args.rate, count=args.readings)
    probe = Consumer(
        client_conf(config, **{"group.id": f"soak-{name}", "enable.auto.commit": False})
    )

    def sample() -> None:
        while not progress.halt.wait(1.0):
            try:
                scored = committed(probe, topic, partitions) if args.monitor else None
                stored = stored_counts(config, topic).distinct
            except Exception as exc:  # PostgreSQL or Kafka down: this second goes unsampled
                say(f"sample skipped: {str(exc).splitlines()[0][:120]}")
                continue
            progress.samples.append(
                Sample(time.monotonic(), load.timeline.delivered, stored, scored)
            )

    sampler = threading.Thread(target=sample, daemon=True)
    kills: list[dict[str, Any]] = []
    duration = args.readings / args.rate
    try:
        load.start()
        sampler.start()
        baseline_start = time.monotonic() + 10.0
        for index, target in enumerate(plan):
            due = load.timeline.started + duration * (index + 1) / (len(plan) + 1)
            time.sleep(max(0.0, due - time.monotonic()))
            if target == "monitor" and not args.monitor:
                continue
            killed_at = time.monotonic()
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
                    "killed_at": killed_at,
                    "back_s": time.monotonic() - killed_at,
                    "while_streaming": streaming,
                }
            )
        load.wait()
        summary = load.stop()
        say(f"load done: {summary.describe()}")
        wait_until(lambda: stored_counts(config, topic).distinct >= summary.delivered, 600)
        if args.monitor:
            wait_until(lambda: committed(probe, topic, partitions) >= summary.delivered, 600)
        time.sleep(3.0)
        progress.halt.set()
        monitor.stop()
        alerts = compare_alerts(config, args, name, start_ms) if args.monitor else {}
    finally:
        progress.halt.set()
        monitor.stop()
        with ConnectClient(config.connect) as client:
            remove_connector(client, connector)
            remove_connector(client, alerts_connector(name))
    timeline = load.timeline
    first_kill = kills[0]["killed_at"] if kills else time.monotonic()
    baseline_max = timeline.max_latency_s(since=baseline_start, until=first_kill - 1.0)
    for position, kill in enumerate(kills):
        since = kill["killed_at"] - 1.0
        following = kills[position + 1]["killed_at"] if position + 1 < len(kills) else None
        until = following - 1.0 if following is not None else None
        kill["stall_s"] = timeline.max_latency_s(since=since, until=until)
        kill["sink_recovered_s"] = progress.fresh_after(
            kill["killed_at"], following, args.fresh, lambda s: s.stored
        )
        if args.monitor:
            kill["monitor_recovered_s"] = progress.fresh_after(
                kill["killed_at"], following, args.fresh, lambda s: s.scored
            )
        kill["at_s"] = round(kill.pop("killed_at") - timeline.started, 1)
    outcome = Outcome.of(config, topic, summary)
    probe.close()
    return {
        "readings": args.readings,
        "rate_per_s": args.rate,
        "back_after_s": args.back_after,
        "baseline_max_latency_s": baseline_max,
        "kills": kills,
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
    parser.add_argument("--monitor", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['readings']:,} readings at {result['rate_per_s']:,.0f}/s on three brokers, "
        f"{len(result['kills'])} kill -9s, each target back after {result['back_after_s']:g} s; "
        f"undisturbed longest delivery {result['baseline_max_latency_s']:.3f} s (baseline):"
    )
    for kill in result["kills"]:
        monitor = (
            f", monitor fresh again {kill['monitor_recovered_s']:.1f} s"
            if "monitor_recovered_s" in kill
            else ""
        )
        print(
            f"  {kill['at_s']:>6.1f} s kill -9 {kill['target']:<8} stall {kill['stall_s']:.2f} s, "
            f"back {kill['back_s']:.1f} s, table fresh again {kill['sink_recovered_s']:.1f} s"
            f"{monitor} after the kill" + ("" if kill["while_streaming"] else " (after the stream)")
        )
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
