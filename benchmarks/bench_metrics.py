"""What Prometheus metrics cost the producer and the monitor: metrics off and on, same run.

The producer: runs the whole `medrical produce --speed max` loop (simulation, sending,
acks=all, idempotent, lz4) on a topic of its own per run, alternating off, on, off, on, ...,
so that a drift of the machine or the broker falls on both sides alike. "On" is what
`--metrics-port` does: the counters read at scrape time, and a delivery report per event for
the latency histogram, with the metrics served on a loopback port and scraped every second
meanwhile, as Prometheus would.

The monitor: drains the first "off" run's topic (EVENTS readings) with the monitor's loop
(decode, NEWS2, alerts, changelog, transactions every 0.1 s), a consumer group of its own per
run, alternating off and on the same way; "on" is what the monitor's `--metrics-port` does
(commit times into a histogram, the lag gauges, counts read at scrape time), scraped every
second. A drain's rate counts from its first scored reading to its last.

Prints the rates of each run, the medians, and on/off.
The stack comes from the usual configuration: by default the local stack of `medrical stack up`.
Usage: python benchmarks/bench_metrics.py [EVENTS] [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from bench_producer import drop_topics
from prometheus_client import CollectorRegistry

from medrical.config import MedricalConfig, load_config
from medrical.metrics import read_samples, serve_metrics
from medrical.monitor.metrics import MonitorMetrics
from medrical.monitor.options import MonitorOptions
from medrical.monitor.records import alerts_topic_for, changelog_topic_for
from medrical.monitor.stream import StreamMonitor
from medrical.producing.metrics import ProducerMetrics
from medrical.producing.run import Limits, Pacing, produce_to_kafka
from medrical.producing.topics import ensure_topic
from medrical.simulation import Simulator

START_MS = 1_767_225_600_000
WARD = 50


def run(config: MedricalConfig, topic: str, count: int, metrics: ProducerMetrics | None) -> float:
    summary = produce_to_kafka(
        config,
        topic,
        Simulator(WARD, 1, "mix", start_ms=START_MS).readings(),
        pacing=Pacing(),
        limits=Limits(count=count),
        metrics=metrics,
    )
    assert summary.failed == 0, summary
    assert summary.delivered == count, summary
    return summary.delivered / summary.elapsed_s


@contextmanager
def scraped(registry: CollectorRegistry) -> Iterator[str]:
    """The registry served on a free loopback port and scraped every second, as Prometheus
    would; yields its URL."""
    done = threading.Event()
    with serve_metrics(registry, 0) as (host, port):
        url = f"http://{host}:{port}/metrics"

        def scrape() -> None:
            while not done.wait(1.0):
                httpx.get(url, timeout=5).raise_for_status()

        scraper = threading.Thread(target=scrape)
        scraper.start()
        try:
            yield url
        finally:
            done.set()
            scraper.join()


def run_scraped(config: MedricalConfig, topic: str, count: int) -> float:
    metrics = ProducerMetrics()
    with scraped(metrics.registry) as url:
        rate = run(config, topic, count, metrics)
        samples = read_samples(httpx.get(url, timeout=5).text)
    assert samples["medrical_producer_delivery_latency_seconds_count"] == count, samples
    return rate


class Drained:
    """The monitor's stop signal: true once it has taken in `count` readings; notes when the
    first one was scored and when the last was."""

    def __init__(self, monitor: StreamMonitor, count: int) -> None:
        self.monitor, self.count = monitor, count
        self.first: tuple[float, int] | None = None
        self.last = 0.0

    def __bool__(self) -> bool:
        summary = self.monitor.summary
        done = summary.readings + summary.ignored + summary.invalid
        now = time.monotonic()
        if self.first is None and done:
            self.first = (now, done)
        if done >= self.count:
            self.last = now
            return True
        return False


def drain(config: MedricalConfig, topic: str, count: int, group: str, metered: bool) -> float:
    options = MonitorOptions(group=group, topics=f"^{topic}$")
    metrics = MonitorMetrics() if metered else None
    with StreamMonitor(
        config, options, on_commit=metrics.committed if metrics is not None else None
    ) as monitor:
        drained = Drained(monitor, count)
        if metrics is None:
            monitor.run(drained)
        else:
            metrics.watch(monitor)
            with scraped(metrics.registry) as url:
                monitor.run(drained)
                samples = read_samples(httpx.get(url, timeout=5).text)
            assert samples["medrical_monitor_readings_scored_total"] > 0, samples
    assert drained.first is not None, "the monitor scored nothing"
    start, before = drained.first
    return (count - before) / (drained.last - start)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    config = load_config()
    run_id = uuid.uuid4().hex[:8]
    topics = [f"biometrics_bench_metrics_{run_id}_{i}" for i in range(2 * rounds + 1)]
    for topic in topics:
        ensure_topic(config, topic)
    off: list[float] = []
    on: list[float] = []
    monitor_off: list[float] = []
    monitor_on: list[float] = []
    groups = [f"medrical-monitor-bench-metrics-{run_id}-{i}" for i in range(2 * rounds)]
    backlog = topics[1]
    try:
        # The broker's first produce of a run pays for coordinator loading: not measured.
        run(config, topics[0], max(1, count // 20), None)
        for index in range(rounds):
            off.append(run(config, topics[1 + 2 * index], count, None))
            on.append(run_scraped(config, topics[2 + 2 * index], count))
        for index in range(rounds):
            monitor_off.append(drain(config, backlog, count, groups[2 * index], False))
            monitor_on.append(drain(config, backlog, count, groups[2 * index + 1], True))
    finally:
        made = [alerts_topic_for(backlog), *(changelog_topic_for(g, backlog) for g in groups)]
        drop_topics(config, [*topics, *made])
    print(f"events per run: {count:,}, {rounds} rounds, {WARD} patients")
    report("producer", "events/s", off, on)
    report("monitor", "readings/s", monitor_off, monitor_on)


def report(name: str, unit: str, off: list[float], on: list[float]) -> None:
    print(f"{name}, metrics off (baseline): " + ", ".join(f"{r:,.0f}" for r in off) + f" {unit}")
    print(f"{name}, metrics on, scraped 1/s: " + ", ".join(f"{r:,.0f}" for r in on) + f" {unit}")
    baseline, metered = statistics.median(off), statistics.median(on)
    print(
        f"{name}: median off {baseline:,.0f} {unit}, on {metered:,.0f} {unit}, "
        f"on/off {metered / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
