"""Prometheus metrics of the producer and the dashboard, read the way Prometheus reads them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, generate_latest

from medrical.dashboard.app import create_app
from medrical.dashboard.context import DashboardSettings
from medrical.dashboard.metrics import DashboardMetrics
from medrical.dashboard.ward import WardState
from medrical.errors import InputError
from medrical.metrics import read_samples, serve_metrics
from medrical.producing.metrics import ProducerMetrics, producer_metrics
from medrical.producing.producer import DeliveryStats
from tests.unit.cli_harness import isolate_cli, run_cli
from tests.unit.test_dashboard_api import FakeStore, closed_settings
from tests.unit.test_dashboard_core import START, reading


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


@dataclass
class FakeMessage:
    seconds: float | None

    def latency(self) -> float | None:
        return self.seconds


def scrape(registry: CollectorRegistry) -> dict[str, float]:
    return read_samples(generate_latest(registry).decode())


def test_producer_counts_are_the_delivery_stats_at_scrape_time() -> None:
    metrics = ProducerMetrics()
    pending = [3]
    stats = DeliveryStats(pending=lambda: pending[0])
    metrics.watch("biometrics_a", stats)
    stats.sent, stats.failed = 10, 1
    first = scrape(metrics.registry)
    assert first['medrical_producer_events_sent_total{topic="biometrics_a"}'] == 10
    assert first['medrical_producer_events_delivered_total{topic="biometrics_a"}'] == 6
    assert first['medrical_producer_events_failed_total{topic="biometrics_a"}'] == 1
    assert first['medrical_producer_events_in_flight{topic="biometrics_a"}'] == 3
    pending[0] = 0
    assert (
        scrape(metrics.registry)['medrical_producer_events_delivered_total{topic="biometrics_a"}']
        == 9
    )


def test_delivery_latency_is_observed_for_acknowledged_events_only() -> None:
    metrics = ProducerMetrics()
    for seconds in (0.004, 0.02, 0.3):
        metrics.on_delivery(None, FakeMessage(seconds))  # type: ignore[arg-type]
    metrics.on_delivery(object(), FakeMessage(5.0))  # type: ignore[arg-type]
    metrics.on_delivery(None, FakeMessage(None))  # type: ignore[arg-type]
    samples = scrape(metrics.registry)
    assert samples["medrical_producer_delivery_latency_seconds_count"] == 3
    assert samples["medrical_producer_delivery_latency_seconds_sum"] == pytest.approx(0.324)
    assert samples['medrical_producer_delivery_latency_seconds_bucket{le="0.005"}'] == 1
    assert samples['medrical_producer_delivery_latency_seconds_bucket{le="0.5"}'] == 3


def test_metrics_are_served_on_loopback_and_stop_with_the_block() -> None:
    registry = CollectorRegistry()
    Counter("medrical_test_things", "Things.", registry=registry).inc(2)
    with serve_metrics(registry, 0) as (host, port):
        assert host == "127.0.0.1"
        response = httpx.get(f"http://{host}:{port}/metrics", timeout=5)
        assert read_samples(response.text)["medrical_test_things_total"] == 2
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{host}:{port}/metrics", timeout=5)


def test_a_taken_metrics_port_says_which_and_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(InputError, match=f"127.0.0.1:{port} is already in use"),
            serve_metrics(CollectorRegistry(), port),
        ):
            pass


def test_no_port_means_no_metrics() -> None:
    announced: list[str] = []
    with producer_metrics(None, announced.append) as metrics:
        assert metrics is None
    assert announced == []


def test_produce_refuses_metrics_with_a_dry_run(isolated: Path) -> None:
    outcome = run_cli("produce", "--dry-run", "--count", "1", "--metrics-port", "0")
    assert outcome.code == 2
    assert "drop --dry-run" in outcome.stderr


def test_produce_refuses_worker_metrics_ports_past_the_last(isolated: Path) -> None:
    outcome = run_cli(
        "produce", "--workers", "3", "--count", "3", "--seed", "1", "--metrics-port", "65534"
    )
    assert outcome.code == 2
    assert "past 65535" in outcome.stderr


@pytest.fixture
def ward() -> WardState:
    return WardState()


def test_dashboard_metrics_are_off_unless_asked_for(ward: WardState) -> None:
    app = create_app(ward, FakeStore(), DashboardSettings(allowed_hosts=None))
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404


@pytest.fixture
def metered(ward: WardState) -> Iterator[tuple[DashboardMetrics, TestClient]]:
    settings = closed_settings()
    settings.metrics = DashboardMetrics(ward)
    with TestClient(create_app(ward, FakeStore(), settings)) as client:
        yield settings.metrics, client


def test_dashboard_counts_readings_and_times_each_push(
    ward: WardState, metered: tuple[DashboardMetrics, TestClient]
) -> None:
    _metrics, client = metered
    ward.apply_reading(reading("P-1", at=START), "biometrics_a", origin_ms=START)
    seen = ward.last_seq
    ward.apply_reading(reading("P-1", at=START + 1000), "biometrics_a", origin_ms=START + 1000)
    ward.apply_reading(reading("P-2", at=START + 1000), "biometrics_a", origin_ms=START + 1000)
    ward.apply_reading({"patient_id": "P-3"}, "biometrics_a")  # rejected: no event time
    last_event_id = {"last-event-id": f"{ward.instance}-{seen}"}
    client.get("/api/stream", headers=last_event_id)
    client.get("/api/stream", headers=last_event_id, params={"patient_id": "P-2"})
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = read_samples(response.text)
    assert samples["medrical_dashboard_readings_applied_total"] == 3
    assert samples["medrical_dashboard_readings_rejected_total"] == 1
    assert samples["medrical_dashboard_patients"] == 2
    # Two changes pushed to the ward's page, one to P-2's; the event time lies in the past.
    assert samples["medrical_dashboard_push_delay_seconds_count"] == 3
    assert samples["medrical_dashboard_push_delay_seconds_sum"] > 3 * 86400
    # Both streams have ended.
    assert samples["medrical_dashboard_sse_clients"] == 0


def test_dashboard_counts_open_streams(
    ward: WardState, metered: tuple[DashboardMetrics, TestClient]
) -> None:
    metrics, _client = metered
    metrics.sse_clients.inc()
    assert scrape(metrics.registry)["medrical_dashboard_sse_clients"] == 1
