"""Broker failover under a steady load: how long producing stalls when a broker is killed,
and whether every reading is still stored exactly once.

Against a running local stack (the stack the environment configures; three brokers with
`medrical stack up --brokers 3`, or the default one, where every kill stops the pipeline until
the broker is back), this sends simulated readings at a steady `--rate` to a topic of its
own, stored by a JDBC sink connector of its own, and after an undisturbed `--baseline`
kills each broker in turn with SIGKILL (`medrical chaos kill kafka-N --back-after ...`),
`--gap` seconds apart. For each kill it reports the stall (the longest delivery latency,
produce() to acknowledgement, of readings produced from just before the kill until the next
one) against the same run's undisturbed baseline, and the recovery (from the kill until the
last delayed reading was acknowledged). At the end: readings sent, acknowledged, in the
topic, and stored (rows and distinct readings), and the stack's resident memory at its peak.

    .venv/bin/python benchmarks/bench_failover.py [--rate 2000] [--back-after 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from medrical.config import MedricalConfig, load_config
from medrical.producing.topics import ensure_topic
from medrical.reliability import Outcome, SteadyLoad, describe_outcome, stored_counts
from medrical.simulation import Reading, Simulator
from medrical.sink import ConnectClient
from medrical.sink.deploy import connector_config, deploy_connector, remove_connector
from medrical.stack import process
from medrical.stack.chaos import Action, Chaos
from medrical.stack.manager import LocalStack


def say(line: str) -> None:
    """Progress to stderr: stdout holds the figures (or the JSON)."""
    print(line, file=sys.stderr, flush=True)


class MemoryPeak(threading.Thread):
    """Samples the resident memory of every stack process; keeps the peak of their sum."""

    def __init__(self, stack: LocalStack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.peak_mib = 0.0
        self.by_service: dict[str, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(2.0):
            sample = {}
            for service in self.stack.services:
                tracked = process.running(service.pid_file)
                if tracked is not None:
                    sample[service.name] = tracked.resident_mib() or 0.0
            if sum(sample.values()) > self.peak_mib:
                self.peak_mib, self.by_service = sum(sample.values()), sample


def readings(seed: int) -> Iterator[Reading]:
    return Simulator(200, seed, "mix", interval_s=1.0).readings()


def wait_stored(config: MedricalConfig, table: str, count: int, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if stored_counts(config, table).distinct >= count:
            break
        time.sleep(1.0)
    return time.monotonic() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_config()
    stack = LocalStack(config.stack)
    name = uuid.uuid4().hex[:8]
    topic = f"biometrics_failover_{name}"
    connector = f"bench-failover-{name}"
    ensure_topic(config, topic)
    with ConnectClient(config.connect) as client:
        deploy_connector(
            client, connector, connector_config(config, topics_regex=f"^{topic}$"), report=say
        )
    chaos = Chaos(stack, report=lambda event: say(event.line()))
    memory = MemoryPeak(stack)
    memory.start()
    kills: list[dict[str, Any]] = []
    overrides = dict(option.split("=", 1) for option in args.producer_option)
    load = SteadyLoad(config, topic, readings(args.seed), rate=args.rate, **overrides)
    try:
        with load:
            # The first deliveries wait for the producer's id: not part of the baseline.
            time.sleep(args.warmup)
            baseline_start = time.monotonic()
            time.sleep(args.baseline)
            baseline_end = time.monotonic()
            nodes = [node.name for node in stack.kafka_nodes]
            for index in range(args.kills):
                target = nodes[index % len(nodes)]
                killed_at = time.monotonic()
                chaos.act(Action.KILL, target, back_after_s=args.back_after)
                healthy_at = time.monotonic()
                time.sleep(max(0.0, killed_at + args.gap - time.monotonic()))
                kills.append(
                    {
                        "broker": target,
                        "killed_at": killed_at,
                        "healthy_after_s": healthy_at - killed_at,
                    }
                )
            time.sleep(5.0)
        summary = load.stop()
        timeline = load.timeline
        # Readings in flight at the first kill stall with it: end the baseline a second early.
        baseline_max = timeline.max_latency_s(since=baseline_start, until=baseline_end - 1.0)
        # Delayed by a kill: slower than anything of the baseline, and than a second.
        delayed = max(1.0, 2 * baseline_max)
        for position, kill in enumerate(kills):
            since = kill["killed_at"] - 1.0
            # Up to a second before the next kill, whose in-flight readings are its own.
            following = kills[position + 1]["killed_at"] if position + 1 < len(kills) else None
            until = following - 1.0 if following is not None else None
            kill["stall_s"] = timeline.max_latency_s(since=since, until=until)
            last_ack = timeline.last_delayed_ack(delayed, since, until)
            kill["recovered_after_s"] = max(0.0, last_ack - kill["killed_at"])
            kill["at_s"] = round(kill.pop("killed_at") - timeline.started, 1)
        catch_up_s = wait_stored(config, topic, summary.delivered, args.store_timeout)
        outcome = Outcome.of(config, topic, summary)
    finally:
        memory.halt.set()
        with ConnectClient(config.connect) as client:
            remove_connector(client, connector)
    return {
        "brokers": stack.brokers,
        "rate_per_s": args.rate,
        "baseline_s": args.baseline,
        "baseline_max_latency_s": baseline_max,
        "producer_options": overrides,
        "kills": kills,
        **outcome.as_dict(),
        "sink_caught_up_after_load_s": catch_up_s,
        "peak_resident_mib": memory.peak_mib,
        "latency_profile": [
            (round(at, 1), round(latency, 3)) for at, latency in timeline.profile(1.0)
        ],
        "peak_resident_by_service_mib": memory.by_service,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="readings per second")
    parser.add_argument("--warmup", type=float, default=10.0, help="s before the baseline")
    parser.add_argument("--baseline", type=float, default=30.0, help="s undisturbed first")
    parser.add_argument("--kills", type=int, default=3, help="brokers killed, in turn")
    parser.add_argument("--gap", type=float, default=40.0, help="s from one kill to the next")
    parser.add_argument("--back-after", type=float, default=10.0, help="s a broker stays dead")
    parser.add_argument("--store-timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--producer-option", action="append", default=[], help="librdkafka KEY=VALUE"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    base = result["baseline_max_latency_s"]
    print(
        f"Steady {result['rate_per_s']:,.0f} readings/s on {result['brokers']} broker(s); "
        f"undisturbed {result['baseline_s']:.0f} s first: max delivery latency {base:.3f} s "
        "(baseline)"
        + (f"; producer options {result['producer_options']}" if result["producer_options"] else "")
    )
    for kill in result["kills"]:
        ratio = kill["stall_s"] / base if base > 0 else float("inf")
        print(
            f"  kill -9 {kill['broker']}: stall {kill['stall_s']:.3f} s ({ratio:.0f}x baseline), "
            f"delayed readings all acknowledged {kill['recovered_after_s']:.2f} s after the "
            f"kill; broker back and healthy {kill['healthy_after_s']:.1f} s after it"
        )
    print(f"  {describe_outcome(result)}")
    by_service = ", ".join(
        f"{name} {mib:.0f}" for name, mib in result["peak_resident_by_service_mib"].items()
    )
    print(f"  stack resident memory at its peak: {result['peak_resident_mib']:,.0f} MiB "
          f"({by_service})")  # fmt: skip


if __name__ == "__main__":
    main()
