"""The produce loop behind `medrical produce`: pacing, limits, stopping and delivery counts."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from typing import Any

import pytest

from medrical.errors import ExitCode, InputError
from medrical.producing.run import DeliveryFailedError, Limits, Pacing, check_delivery, run_loop
from medrical.producing.sinks import KafkaSink
from medrical.simulation import Reading, Simulator
from medrical.stopping import StopFlag, StopOnSignals

START_MS = 1_767_225_600_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RecordingSink:
    clock: FakeClock
    sent: list[tuple[float, Reading]] = field(default_factory=list)
    finished: bool = False
    stop_after: int | None = None
    stop: StopFlag | None = None

    def send(self, reading: Reading) -> None:
        self.sent.append((self.clock.now, reading))
        if self.stop is not None and len(self.sent) == self.stop_after:
            self.stop.set("stopped by SIGINT")

    def wait(self, timeout_s: float) -> None:
        self.clock.now += timeout_s

    def finish(self) -> None:
        self.finished = True

    def counts(self) -> tuple[int, int, int]:
        return len(self.sent), len(self.sent), 0


def readings(patients: int = 4, interval_s: float = 1.0) -> Any:
    return Simulator(patients, 1, "stable", interval_s=interval_s, start_ms=START_MS).readings()


def send_times(sink: RecordingSink) -> list[float]:
    return [round(at - 100.0, 3) for at, _ in sink.sent]


def test_speed_paces_event_time_against_the_wall_clock() -> None:
    clock = FakeClock()
    sink = RecordingSink(clock)
    run_loop(
        readings(patients=2), sink, pacing=Pacing(speed=2.0), limits=Limits(count=5),
        stop=StopFlag(), clock=clock,
    )  # fmt: skip
    # Two patients half a second apart in event time, played at twice real time.
    assert send_times(sink) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert sink.finished


def test_rate_caps_and_the_slower_knob_wins() -> None:
    clock = FakeClock()
    sink = RecordingSink(clock)
    run_loop(
        readings(patients=10), sink, pacing=Pacing(speed=100.0, rate=4.0), limits=Limits(count=3),
        stop=StopFlag(), clock=clock,
    )  # fmt: skip
    assert send_times(sink) == [0.0, 0.25, 0.5]


def test_without_speed_or_rate_events_go_at_once() -> None:
    clock = FakeClock()
    sink = RecordingSink(clock)
    summary = run_loop(
        readings(), sink, pacing=Pacing(), limits=Limits(count=50), stop=StopFlag(), clock=clock
    )
    assert send_times(sink) == [0.0] * 50
    assert summary.stopped_by == "--count 50 reached"


def test_duration_ends_the_run_at_its_deadline() -> None:
    clock = FakeClock()
    sink = RecordingSink(clock)
    summary = run_loop(
        readings(patients=1), sink, pacing=Pacing(speed=1.0), limits=Limits(duration_s=2.5),
        stop=StopFlag(), clock=clock,
    )  # fmt: skip
    assert send_times(sink) == [0.0, 1.0, 2.0]
    assert summary.elapsed_s == pytest.approx(2.5)
    assert summary.stopped_by == "--duration 2.5 s reached"


def test_a_stop_request_ends_the_run_cleanly_and_is_reported() -> None:
    clock = FakeClock()
    stop = StopFlag()
    sink = RecordingSink(clock, stop_after=7, stop=stop)
    summary = run_loop(
        readings(), sink, pacing=Pacing(), limits=Limits(count=100), stop=stop, clock=clock
    )
    assert len(sink.sent) == 7
    assert sink.finished
    assert summary.stopped_by == "stopped by SIGINT"
    check_delivery(summary)  # a clean stop is not a failure


def test_sigint_sets_the_flag_and_restores_the_handler_for_a_second_one() -> None:
    before = signal.getsignal(signal.SIGINT)
    with StopOnSignals(StopFlag()) as stop:
        assert signal.getsignal(signal.SIGINT) is not before
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.reason == "stopped by SIGINT"
        # The first signal gave the default back: a second Ctrl+C interrupts at once.
        assert signal.getsignal(signal.SIGINT) is before
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_stops_too() -> None:
    with StopOnSignals(StopFlag()) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
    assert stop.reason == "stopped by SIGTERM"


@dataclass
class FakeStats:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    first_error: str | None = None


class FakeProducer:
    """Acknowledges all but the events flush cannot deliver in time."""

    def __init__(self, lost: int) -> None:
        self.stats = FakeStats()
        self.lost = lost

    def send(self, record: Any) -> None:
        self.stats.sent += 1

    def poll(self, timeout_s: float = 0.0) -> None:
        pass

    def flush(self, timeout_s: float = 30.0) -> int:
        self.stats.delivered = self.stats.sent - self.lost
        return self.lost


def test_undelivered_events_count_as_failed_and_exit_1() -> None:
    sink = KafkaSink(FakeProducer(lost=3))
    summary = run_loop(readings(), sink, pacing=Pacing(), limits=Limits(count=20), stop=StopFlag())
    assert (summary.sent, summary.delivered, summary.failed) == (20, 17, 3)
    with pytest.raises(DeliveryFailedError) as caught:
        check_delivery(summary)
    assert caught.value.exit_code == ExitCode.FAILURE
    assert "3 of 20 events were not delivered" in str(caught.value)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_pacing_refuses_non_positive_numbers(bad: float) -> None:
    with pytest.raises(InputError):
        Pacing(speed=bad)
    with pytest.raises(InputError):
        Pacing(rate=bad)


def slow_to_draw(clock: FakeClock, draw_s: float, source: Any) -> Any:
    """The readings of a ward that takes `draw_s` of the clock to draw before its first one."""
    clock.now += draw_s
    yield from source


def test_drawing_the_ward_counts_neither_in_the_time_nor_against_the_pace() -> None:
    clock = FakeClock()
    sink = RecordingSink(clock)
    summary = run_loop(
        slow_to_draw(clock, 13.0, readings(patients=2)), sink, pacing=Pacing(speed=2.0),
        limits=Limits(count=5), stop=StopFlag(), clock=clock,
    )  # fmt: skip
    # Paced from the first reading on, as if the ward had been there all along: no burst of
    # readings that fell due while it was drawn.
    assert send_times(sink) == [13.0, 13.25, 13.5, 13.75, 14.0]
    assert summary.elapsed_s == pytest.approx(1.0)


def test_a_duration_shorter_than_the_draw_still_streams_for_that_long() -> None:
    clock = FakeClock()
    sink = RecordingSink(clock)
    summary = run_loop(
        slow_to_draw(clock, 13.0, readings(patients=1)), sink, pacing=Pacing(speed=1.0),
        limits=Limits(duration_s=2.5), stop=StopFlag(), clock=clock,
    )  # fmt: skip
    assert send_times(sink) == [13.0, 14.0, 15.0]
    assert summary.stopped_by == "--duration 2.5 s reached"


def test_a_stop_requested_before_the_loop_draws_nothing() -> None:
    clock = FakeClock()
    sink = RecordingSink(clock)
    stop = StopFlag()
    stop.set("stopped by SIGTERM")
    summary = run_loop(
        slow_to_draw(clock, 13.0, readings()), sink, pacing=Pacing(), limits=Limits(count=5),
        stop=stop, clock=clock,
    )  # fmt: skip
    assert sink.sent == []
    assert clock.now == 100.0
    assert summary.stopped_by == "stopped by SIGTERM"
