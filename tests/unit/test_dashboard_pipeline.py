"""The pipeline view: rates from successive lag measurements, lag over time, and its route."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from fastapi.testclient import TestClient

from medrical.dashboard.app import create_app
from medrical.dashboard.context import DashboardSettings
from medrical.dashboard.pipeline import PipelineHistory, PipelineSampler, Sample
from medrical.dashboard.ward import WardState
from medrical.errors import ServiceUnavailableError
from medrical.lag import StageLag, TopicFlow
from tests.unit.test_dashboard_api import FakeStore

T0 = 1_767_225_600_000


def flows(readings_end: int, sink_behind: int, alerts_end: int = 0) -> tuple[TopicFlow, ...]:
    return (
        TopicFlow(
            "biometrics_a",
            records=readings_end,
            input_per_s=0.0,
            stages=(
                StageLag("sink", "connect-s", sink_behind, sink_behind / 100),
                StageLag("monitor", "medrical-monitor", 0, 0.0),
            ),
            end_offset=readings_end,
        ),
        TopicFlow("alerts_a", records=alerts_end, input_per_s=0.0, end_offset=alerts_end),
        TopicFlow("biometrics_idle", records=50, input_per_s=0.0, end_offset=50),
    )


def test_rates_come_from_end_offsets_and_the_sinks_positions_over_the_rate_window() -> None:
    history = PipelineHistory(rate_over_s=10)
    # 100 readings/s in; the sink's committed position moves by 5 s commits, 100 rows/s.
    for second in range(0, 21, 2):
        stored = (second // 5) * 5 * 100
        history.add(Sample(T0 + second * 1000, flows(second * 100, second * 100 - stored, second)))
    view = history.view()
    assert view["now"]["events_in_per_s"] == 100.0
    assert view["now"]["rows_stored_per_s"] == 100.0
    assert view["now"]["alerts_per_s"] == 1.0
    assert len(view["times"]) == len(view["series"]["events_in_per_s"]) == 11
    topics = {t["topic"]: t for t in view["topics"]}
    assert topics["biometrics_a"]["input_per_s"] == 100.0
    sink = topics["biometrics_a"]["stages"][0]
    assert sink["stage"] == "sink"
    assert sink["lag_readings"] == 0  # 20 s: a commit has just landed
    assert sink["series_readings"][:4] == [0, 200, 400, 100]
    assert topics["biometrics_a"]["active"]
    assert not topics["biometrics_idle"]["active"]
    assert [t["topic"] for t in view["topics"]][-1] == "biometrics_idle"


def test_rates_count_from_when_the_offsets_were_read() -> None:
    # On a busy machine a measurement takes seconds: its start is not when it read the offsets.
    history = PipelineHistory(rate_over_s=10)
    first = replace(flows(1000, 0)[0], read_at_ms=T0 + 3000)
    second = replace(flows(1500, 0)[0], read_at_ms=T0 + 8000)
    history.add(Sample(T0, (first,)))
    history.add(Sample(T0 + 10_000, (second,)))
    assert history.view()["now"]["events_in_per_s"] == 100.0
    assert history.view()["topics"][0]["input_per_s"] == 100.0


def test_a_stopped_sink_shows_as_growing_lag_and_no_rows_stored() -> None:
    history = PipelineHistory(rate_over_s=10)
    for second in range(0, 31, 2):
        history.add(Sample(T0 + second * 1000, flows(second * 100, second * 100)))
    view = history.view()
    assert view["now"]["rows_stored_per_s"] == 0.0
    assert view["now"]["events_in_per_s"] == 100.0
    series = view["topics"][0]["stages"][0]["series_readings"]
    assert series == sorted(series)
    assert series[-1] == 3000


def test_alerts_per_second_count_the_alerts_received_not_the_transaction_markers() -> None:
    history = PipelineHistory(rate_over_s=10)
    # Each second one transaction writes a marker into the alerts topic: offsets 1/s, no alert.
    for second in range(0, 21, 2):
        history.add(Sample(T0 + second * 1000, flows(second * 100, 0, second), second // 10))
    assert history.view()["now"]["alerts_per_s"] == 0.1


def test_old_samples_leave_the_window_and_a_recreated_topic_counts_from_zero() -> None:
    history = PipelineHistory(window_s=10, rate_over_s=2)
    history.add(Sample(T0, flows(5000, 0)))
    history.add(Sample(T0 + 2000, flows(10, 0)))
    assert history.view()["now"]["events_in_per_s"] == 0.0
    history.add(Sample(T0 + 20_000, flows(30, 0)))
    assert history.view()["times"] == [T0 + 20_000]


def test_a_failed_measurement_is_shown_and_the_last_figures_kept() -> None:
    history = PipelineHistory()
    history.add(Sample(T0, flows(100, 0)))
    history.failed("Kafka is unreachable", T0 + 4000)
    view = history.view()
    assert view["error"] == "Kafka is unreachable"
    assert view["error_at"] == T0 + 4000
    assert view["sampled_at"] == T0
    history.add(Sample(T0 + 6000, flows(200, 0)))
    assert history.view()["error"] is None


class FakeKafka:
    """Measurements that count their calls; the first fails as an unreachable Kafka would."""

    def __init__(self) -> None:
        self.calls = 0
        self.opened = 0
        self.released = 0
        self.measured = threading.Event()

    def open(self) -> tuple[object, object]:
        self.opened += 1
        return self.measure, self.release

    def measure(self) -> Iterable[TopicFlow]:
        self.calls += 1
        self.measured.set()
        if self.calls == 1:
            raise ServiceUnavailableError("Kafka", "no broker")
        return flows(self.calls * 10, 0)

    def release(self) -> None:
        self.released += 1


def test_the_sampler_measures_only_while_asked_and_releases_its_clients() -> None:
    kafka = FakeKafka()
    now = [100.0]
    sampler = PipelineSampler(
        kafka.open,  # type: ignore[arg-type]
        interval_s=0.01,
        idle_after_s=5,
        clock=lambda: now[0],
    )
    assert kafka.opened == 0, "nothing is measured before a page asks"
    first = sampler.view()
    assert first["sampled_at"] is None
    assert kafka.measured.wait(5)
    while kafka.calls < 3:
        kafka.measured.clear()
        kafka.measured.wait(5)
    now[0] += 60  # nobody asked for a minute: the sampler goes idle and lets go of Kafka
    for _ in range(500):
        if kafka.released:
            break
        threading.Event().wait(0.01)
    assert kafka.released == 1
    calls = kafka.calls
    threading.Event().wait(0.1)
    assert kafka.calls == calls
    view = sampler.view()
    assert view["sampled_at"] is not None
    assert view["error"] is None
    sampler.stop()
    assert kafka.opened == kafka.released


def test_the_route_serves_the_view_and_is_404_without_one() -> None:
    history = PipelineHistory()
    history.add(Sample(T0, flows(100, 10)))
    sampler = PipelineSampler(lambda: (lambda: [], lambda: None), history=history)
    settings = DashboardSettings(allowed_hosts=None, pipeline=sampler)
    with TestClient(create_app(WardState(), FakeStore(), settings)) as client:
        view = client.get("/api/pipeline").json()
        assert view["topics"][0]["stages"][0]["lag_readings"] == 10
        assert view["interval_s"] == 2.0
        page = client.get("/pipeline")
        assert page.status_code == 200
        assert "pipeline.js" in page.text
    sampler.stop()
    with TestClient(
        create_app(WardState(), FakeStore(), DashboardSettings(allowed_hosts=None))
    ) as c:
        assert c.get("/api/pipeline").status_code == 404
