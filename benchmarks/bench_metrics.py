"""What Prometheus metrics cost the producer: the produce loop with metrics off and on, same run.

Runs the whole `medrical produce --speed max` loop (simulation, sending, acks=all, idempotent,
lz4) on a topic of its own per run, alternating off, on, off, on, ..., so that a drift of the
machine or the broker falls on both sides alike. "On" is what `--metrics-port` does: the
counters read at scrape time, and a delivery report per event for the latency histogram,
with the metrics served on a loopback port and scraped every second meanwhile, as Prometheus
would. Prints events/s of each run, the medians, and on/off.
The stack comes from the usual configuration: by default the local stack of `medrical stack up`.
Usage: python benchmarks/bench_metrics.py [EVENTS] [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import threading
import uuid

import httpx
from bench_producer import drop_topics

from medrical.config import MedricalConfig, load_config
from medrical.metrics import read_samples, serve_metrics
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


def run_scraped(config: MedricalConfig, topic: str, count: int) -> float:
    metrics = ProducerMetrics()
    done = threading.Event()
    with serve_metrics(metrics.registry, 0) as (host, port):
        url = f"http://{host}:{port}/metrics"

        def scrape() -> None:
            while not done.wait(1.0):
                httpx.get(url, timeout=5).raise_for_status()

        scraper = threading.Thread(target=scrape)
        scraper.start()
        try:
            rate = run(config, topic, count, metrics)
        finally:
            done.set()
            scraper.join()
        samples = read_samples(httpx.get(url, timeout=5).text)
    assert samples["medrical_producer_delivery_latency_seconds_count"] == count, samples
    return rate


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
    try:
        # The broker's first produce of a run pays for coordinator loading: not measured.
        run(config, topics[0], max(1, count // 20), None)
        for index in range(rounds):
            off.append(run(config, topics[1 + 2 * index], count, None))
            on.append(run_scraped(config, topics[2 + 2 * index], count))
    finally:
        drop_topics(config, topics)
    print(f"events per run: {count:,}, {rounds} rounds, produce loop of {WARD} patients")
    print("metrics off (baseline): " + ", ".join(f"{rate:,.0f}" for rate in off) + " events/s")
    print("metrics on, scraped 1/s: " + ", ".join(f"{rate:,.0f}" for rate in on) + " events/s")
    baseline, metered = statistics.median(off), statistics.median(on)
    print(
        f"median off {baseline:,.0f} events/s, on {metered:,.0f} events/s, "
        f"on/off {metered / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
