"""`medrical dashboard --metrics`: the dashboard's figures for Prometheus, at `/metrics`.

The ward's counters are read from the ward state when Prometheus scrapes; the live streams
count themselves and time each push, from the Kafka record's timestamp of the change pushed
(when the producer made it) to the moment it is written to the page's stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from medrical.dashboard.ward import LoggedEvent, WardState, now_ms
from medrical.metrics import LATENCY_BUCKETS_S


class _WardCollector(Collector):
    def __init__(self, ward: WardState) -> None:
        self._ward = ward

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        ward = self._ward
        yield CounterMetricFamily(
            "medrical_dashboard_readings_applied",
            "Readings the ward view took in.",
            value=ward.readings_applied,
        )
        yield CounterMetricFamily(
            "medrical_dashboard_readings_rejected",
            "Readings the ward view rejected (invalid, or older than the patient's latest).",
            value=ward.readings_rejected,
        )
        yield GaugeMetricFamily(
            "medrical_dashboard_patients",
            "Patients seen since the dashboard started.",
            value=ward.patient_count,
        )


class DashboardMetrics:
    """The dashboard's metrics, in a registry of their own."""

    def __init__(self, ward: WardState) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_WardCollector(ward))
        self.sse_clients = Gauge(
            "medrical_dashboard_sse_clients",
            "Pages following the live stream (Server-Sent Events) right now.",
            registry=self.registry,
        )
        self._push_delay = Histogram(
            "medrical_dashboard_push_delay_seconds",
            "From a change's Kafka record timestamp to its push to a page, per page.",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def pushed(self, events: Iterable[LoggedEvent], at_ms: int | None = None) -> None:
        """A batch of changes was written to one page's stream."""
        now = now_ms() if at_ms is None else at_ms
        for event in events:
            if event.origin_ms is not None:
                self._push_delay.observe(max(0, now - event.origin_ms) / 1000)
