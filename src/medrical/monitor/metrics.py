"""`medrical monitor --metrics-port`: the monitor's figures for Prometheus.

The counts are the run's summary, read when Prometheus scrapes (alerts count once their
transaction committed); the lag per partition is what the consumer last heard of each end, so a
scrape costs no request to Kafka. Only the commit time is observed as it happens.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from medrical.metrics import LATENCY_BUCKETS_S
from medrical.monitor.stream import StreamMonitor, lag_of


class _MonitorCollector(Collector):
    def __init__(self) -> None:
        self.monitor: StreamMonitor | None = None

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        monitor = self.monitor
        if monitor is None:
            return
        summary = monitor.summary
        counters = (
            ("readings_scored", "Readings scored with NEWS2.", summary.readings),
            ("readings_ignored", "Readings repeated or out of order.", summary.ignored),
            (
                "decode_errors",
                "Records that could not be decoded or read as a reading (skipped).",
                summary.invalid,
            ),
            ("transactions", "Transactions committed.", summary.transactions),
            (
                "transactions_aborted",
                "Transactions aborted (rewound).",
                summary.aborted,
            ),
        )
        for name, text, value in counters:
            yield CounterMetricFamily(f"medrical_monitor_{name}", text, value=value)
        alerts = CounterMetricFamily(
            "medrical_monitor_alerts",
            "Alerts raised and committed, by kind.",
            labels=["kind"],
        )
        for kind, count in sorted(summary.alerts_by_kind.items()):
            alerts.add_metric([kind], count)
        yield alerts
        lag = GaugeMetricFamily(
            "medrical_monitor_lag_readings",
            "Readings behind the end of each assigned input partition.",
            labels=["topic", "partition"],
        )
        for (topic, partition), behind in sorted(lag_of(monitor).items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag


class MonitorMetrics:
    """The metrics of one monitor process, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._collector = _MonitorCollector()
        self.registry.register(self._collector)
        self._commit = Histogram(
            "medrical_monitor_transaction_commit_seconds",
            "Time to commit one transaction (alerts, state, offsets).",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def watch(self, monitor: StreamMonitor) -> None:
        self._collector.monitor = monitor

    def committed(self, seconds: float) -> None:
        self._commit.observe(seconds)
