"""Prometheus metrics on the real engines: each endpoint scraped over HTTP while events flow,
its counters compared with what was produced and with what Kafka holds."""

from __future__ import annotations

import functools
import itertools
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from medrical.config import MedricalConfig
from medrical.kafka_clients import client_conf
from medrical.metrics import read_samples, serve_metrics
from medrical.producing import BiometricsProducer
from medrical.producing.metrics import ProducerMetrics
from medrical.producing.run import Limits, Pacing, produce_to_kafka
from medrical.producing.topics import ensure_topic
from medrical.simulation import Simulator
from tests.integration.helpers import (
    START_MS,
    child_env,
    monitor_logging_to,
    running_dashboard,
    synthetic_reading,
    unique_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

EVENTS = 3000


def scrape(url: str) -> dict[str, float]:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return read_samples(response.text)


def messages_in(config: MedricalConfig, topic: str) -> int:
    consumer = Consumer(client_conf(config, **{"group.id": "medrical-metrics-probe"}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            total += high - low
        return total
    finally:
        consumer.close()


def test_producer_counters_move_exactly_with_the_events_produced(
    live_config: MedricalConfig,
) -> None:
    topic = unique_topic("metrics")
    metrics = ProducerMetrics()
    sent_key = f'medrical_producer_events_sent_total{{topic="{topic}"}}'
    delivered_key = f'medrical_producer_events_delivered_total{{topic="{topic}"}}'
    failed_key = f'medrical_producer_events_failed_total{{topic="{topic}"}}'
    with serve_metrics(metrics.registry, 0) as (host, port):
        url = f"http://{host}:{port}/metrics"
        during: list[tuple[int, dict[str, float]]] = []

        def scrape_during(sent: int, _delivered: int, _failed: int) -> None:
            during.append((sent, scrape(url)))

        summary = produce_to_kafka(
            live_config,
            topic,
            Simulator(20, 5, "mix", start_ms=START_MS).readings(),
            pacing=Pacing(rate=2000),
            limits=Limits(count=EVENTS),
            on_progress=scrape_during,
            metrics=metrics,
        )
        after = scrape(url)
    assert summary.delivered == EVENTS
    assert during, "no scrape while producing"
    previous = 0.0
    for sent, samples in during:
        # What Prometheus sees never runs ahead of the producer, nor goes back.
        assert samples[sent_key] >= sent
        assert previous <= samples[delivered_key] <= samples[sent_key] <= EVENTS
        previous = samples[delivered_key]
    assert during[0][1][sent_key] < EVENTS
    assert after[sent_key] == EVENTS
    assert after[delivered_key] == EVENTS
    assert after[failed_key] == 0
    assert after["medrical_producer_delivery_latency_seconds_count"] == EVENTS
    assert after['medrical_producer_delivery_latency_seconds_bucket{le="+Inf"}'] == EVENTS
    assert messages_in(live_config, topic) == EVENTS


def test_produce_metrics_port_serves_while_it_runs(live_config: MedricalConfig) -> None:
    topic = unique_topic("metrics_cli")
    process = subprocess.Popen(
        [sys.executable, "-m", "medrical", "produce", "--topic", topic, "--patients", "5",
         "--rate", "50", "--duration", "120", "--metrics-port", "0"],
        env=child_env(live_config.stack),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = wait_for(
            lambda: _metrics_line(process),
            timeout_s=60,
            interval_s=0.1,
            what="metrics URL",
        )
        url = line.split("metrics on ", 1)[1].strip()
        key = f'medrical_producer_events_delivered_total{{topic="{topic}"}}'
        wait_for(
            lambda: True if scrape(url).get(key, 0) >= 50 else None,
            timeout_s=60,
            what="50 deliveries counted",
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            rest = process.stderr.read()
            process.stderr.close()
    assert process.returncode == 0, rest
    summary = re.search(r": (\d+) sent, (\d+) delivered, 0 failed", rest)
    assert summary is not None, rest
    assert messages_in(live_config, topic) == int(summary[1]) == int(summary[2])


def test_each_produce_worker_serves_its_own_metrics(live_config: MedricalConfig) -> None:
    topic = unique_topic("metrics_workers")
    process = subprocess.Popen(
        [sys.executable, "-m", "medrical", "produce", "--topic", topic, "--patients", "6",
         "--seed", "3", "--rate", "60", "--duration", "120", "--workers", "2",
         "--metrics-port", "0"],
        env=child_env(live_config.stack),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    key = f'medrical_producer_events_delivered_total{{topic="{topic}"}}'
    scraped: dict[str, float] = {}
    try:
        urls: dict[str, str] = {}
        while len(urls) < 2:
            line = wait_for(
                lambda: _metrics_line(process), timeout_s=60, interval_s=0.1, what="metrics URLs"
            )
            # Each worker's own line; its log says the same in its own words.
            announced = re.match(r"(worker \d+): metrics on (\S+)", line)
            if announced is not None:
                urls[announced[1]] = announced[2]
        assert set(urls) == {"worker 1", "worker 2"}
        assert len(set(urls.values())) == 2, "each worker on a port of its own"

        def counted(url: str) -> float | None:
            delivered = scrape(url).get(key, 0)
            return delivered if delivered >= 30 else None

        for worker, url in urls.items():
            scraped[worker] = wait_for(
                functools.partial(counted, url),
                timeout_s=60,
                what=f"30 deliveries counted by {worker}",
            )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        rest = ""
        if process.stderr is not None:
            rest = process.stderr.read()
            process.stderr.close()
    assert process.returncode == 0, rest
    summary = re.search(r"2 workers: (\d+) sent, (\d+) delivered, 0 failed", rest)
    assert summary is not None, rest
    # Each worker counts its own deliveries; together no more than the run delivered.
    assert sum(scraped.values()) <= int(summary[2]) == messages_in(live_config, topic)


def _metrics_line(process: subprocess.Popen[str]) -> str | None:
    assert process.stderr is not None
    line = process.stderr.readline()
    if not line:
        raise AssertionError(f"produce ended (exit code {process.poll()}) without metrics")
    return line if "metrics on http://" in line else None


@pytest.fixture
def dashboard_metrics(live_config: MedricalConfig) -> Iterator[str]:
    with running_dashboard(child_env(live_config.stack), "--metrics") as url:
        yield url


def test_dashboard_metrics_count_readings_streams_and_pushes(
    live_config: MedricalConfig, dashboard_metrics: str
) -> None:
    url = f"{dashboard_metrics}metrics"
    topic = unique_topic("metrics_dash")
    ensure_topic(live_config, topic)
    applied = "medrical_dashboard_readings_applied_total"
    with BiometricsProducer(live_config, topic) as producer:
        # The dashboard reads from the latest offsets of topics it has found: send a warm-up
        # patient until it is seen, then count exactly from there.
        warm_up = itertools.count()

        def seen() -> bool | None:
            producer.send({**synthetic_reading(next(warm_up)), "patient_id": "P-WARM-UP"})
            producer.flush(10)
            return True if scrape(url)[applied] > 0 else None

        wait_for(seen, timeout_s=90, what="the dashboard to follow the topic")
        counts: list[float] = []

        def settled() -> float | None:
            counts.append(scrape(url)[applied])
            return counts[-1] if counts[-2:-1] == counts[-1:] else None

        base = wait_for(settled, timeout_s=30, what="a settled count")
        stream_open = threading.Event()
        pushes: list[str] = []
        reader = threading.Thread(
            target=_follow_stream, args=(dashboard_metrics, stream_open, pushes)
        )
        reader.start()
        try:
            assert stream_open.wait(30), "the live stream did not open"
            assert scrape(url)["medrical_dashboard_sse_clients"] == 1
            for index in range(200):
                producer.send(synthetic_reading(index, patients=10))
            producer.flush(30)
            wait_for(
                lambda: True if scrape(url)[applied] == base + 200 else None,
                timeout_s=60,
                what="200 more readings counted",
            )
            wait_for(
                lambda: True if pushes else None,
                timeout_s=30,
                what="a batch pushed to the page",
            )
        finally:
            reader.join(timeout=60)
    samples = scrape(url)
    assert samples[applied] == base + 200
    assert samples["medrical_dashboard_push_delay_seconds_count"] >= 1
    wait_for(
        lambda: True if scrape(url)["medrical_dashboard_sse_clients"] == 0 else None,
        timeout_s=30,
        what="the closed stream to be counted out",
    )


def _follow_stream(base_url: str, opened: threading.Event, pushes: list[str]) -> None:
    """Read the live stream until the first batch arrives (or a minute has passed)."""
    with httpx.stream("GET", f"{base_url}api/stream", timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("event: snapshot"):
                opened.set()
            elif line.startswith("event: batch"):
                pushes.append(line)
                return


def test_monitor_metrics_count_what_it_scored(live_config: MedricalConfig, tmp_path: Path) -> None:
    topic = unique_topic("metrics_mon")
    group = f"medrical-monitor-it-{topic.rsplit('_', 1)[1]}"
    with BiometricsProducer(live_config, topic) as producer:
        for index in range(300):
            producer.send(synthetic_reading(index, patients=10))
        assert producer.flush(30) == 0
    log = tmp_path / "monitor.log"
    with monitor_logging_to(live_config, topic, group, log, "--metrics-port", "0") as process:
        url = wait_for(
            lambda: _metrics_url_in(log.read_text()),
            timeout_s=60,
            interval_s=0.2,
            what="URL",
        )

        def scored_and_committed() -> dict[str, float] | None:
            found = scrape(url)
            if found.get("medrical_monitor_readings_scored_total") != 300:
                return None
            committed = found.get("medrical_monitor_transaction_commit_seconds_count", 0)
            return found if committed > 0 else None

        samples = wait_for(
            scored_and_committed,
            timeout_s=120,
            what="300 readings scored and committed",
        )
        lag_key = "medrical_monitor_lag_readings"
        assert any(key.startswith(lag_key) for key in samples), samples
        wait_for(
            lambda: all(v == 0 for k, v in scrape(url).items() if k.startswith(lag_key)) or None,
            timeout_s=60,
            what="no lag left",
        )
        assert samples["medrical_monitor_decode_errors_total"] == 0
        assert samples["medrical_monitor_transactions_total"] >= 1
    assert process.returncode == 0, log.read_text()
    assert "scored 300 readings" in log.read_text()


def _metrics_url_in(text: str) -> str | None:
    found = re.search(r"metrics on (http://\S+)", text)
    return None if found is None else found[1]
