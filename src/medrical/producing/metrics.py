"""`medrical produce --metrics-port`: the producer's figures for Prometheus.

The event counters are read from the producer's own `DeliveryStats` when Prometheus scrapes,
so they cost nothing per event and agree exactly with the run's summary. The delivery latency
(from `produce()` to the broker's acknowledgement, as librdkafka measures it per message) needs
a delivery report for every message, which is what metrics cost the producer; the benchmark
`benchmarks/bench_metrics.py` measures how much.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from confluent_kafka import KafkaError, Message
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from medrical.metrics import LATENCY_BUCKETS_S, serve_metrics
from medrical.producing.producer import DeliveryStats


class _DeliveryCollector(Collector):
    def __init__(self) -> None:
        self.watched: list[tuple[str, DeliveryStats]] = []

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        sent = CounterMetricFamily(
            "medrical_producer_events_sent",
            "Events handed to the Kafka client.",
            labels=["topic"],
        )
        delivered = CounterMetricFamily(
            "medrical_producer_events_delivered",
            "Events acknowledged by Kafka (acks=all).",
            labels=["topic"],
        )
        failed = CounterMetricFamily(
            "medrical_producer_events_failed",
            "Events Kafka did not acknowledge (delivery failed or timed out).",
            labels=["topic"],
        )
        in_flight = GaugeMetricFamily(
            "medrical_producer_events_in_flight",
            "Events sent and not yet acknowledged.",
            labels=["topic"],
        )
        for topic, stats in self.watched:
            sent.add_metric([topic], stats.sent)
            delivered.add_metric([topic], stats.delivered)
            failed.add_metric([topic], stats.failed)
            in_flight.add_metric([topic], stats.in_flight)
        yield from (sent, delivered, failed, in_flight)


class ProducerMetrics:
    """The metrics of one producing process, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._deliveries = _DeliveryCollector()
        self.registry.register(self._deliveries)
        self._latency = Histogram(
            "medrical_producer_delivery_latency_seconds",
            "From produce() to Kafka's acknowledgement, per event.",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def watch(self, topic: str, stats: DeliveryStats) -> None:
        """Report `stats` (a producer's live counts) under `topic` from now on."""
        self._deliveries.watched.append((topic, stats))

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        """A delivery report: the latency of each acknowledged event."""
        if error is None:
            latency = message.latency()
            if latency is not None:
                self._latency.observe(latency)


@contextmanager
def producer_metrics(
    port: int | None, announce: Callable[[str], None]
) -> Iterator[ProducerMetrics | None]:
    """Metrics served on `port` of 127.0.0.1 while the block runs (None: no metrics at all);
    `announce` is told their address."""
    if port is None:
        yield None
        return
    metrics = ProducerMetrics()
    with serve_metrics(metrics.registry, port) as (host, bound):
        announce(f"http://{host}:{bound}/metrics")
        yield metrics
