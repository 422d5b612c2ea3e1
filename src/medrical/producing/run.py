"""The produce loop: pacing, stopping and counting, apart from any command line.

Two knobs pace the stream, and they answer different questions:

- ``speed`` paces *event time*: how many seconds of the readings' own clock pass per
  wall-clock second (1.0 = real time, 60.0 = an hour a minute, ``None`` = as fast as possible).
- ``rate`` caps the *total* events per wall-clock second, across all patients.

Each event waits until both allow it, so the slower of the two wins. The loop stops at the
first of: ``count`` events sent, ``duration_s`` wall-clock seconds passed, the source running
dry (a replayed file), or a stop request (SIGINT/SIGTERM). A stop request is a normal end: the
loop drains what is in flight and reports, it does not fail.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.errors import InputError, MedricalError
from medrical.kafka_clients import ensure_kafka_reachable
from medrical.producing.producer import BiometricsProducer
from medrical.producing.sinks import EventSink, JsonLinesSink, KafkaSink
from medrical.simulation import CsvReplay, Reading, RowProblem, seconds_until_due
from medrical.stopping import StopFlag, StopOnSignals

if TYPE_CHECKING:
    from medrical.producing.metrics import ProducerMetrics

# Sleep in slices no longer than this, so that a stop request or delivery reports are served
# promptly while the loop waits for an event to fall due.
_WAIT_SLICE_S = 0.1
_STATUS_EVERY_S = 0.5


class DeliveryFailedError(MedricalError):
    """Some events were sent but never acknowledged by Kafka."""


@dataclass(frozen=True)
class Pacing:
    """When events are due: see the module's docstring for how the two knobs combine."""

    speed: float | None = None
    rate: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("speed", self.speed), ("rate", self.rate)):
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise InputError(f"The {name} must be a positive number, not {value!r}.")

    def seconds_until_due(
        self, reading: Reading, index: int, first_event_ms: int, elapsed_s: float
    ) -> float:
        by_event_time = seconds_until_due(
            reading.event_time,
            first_event_ms=first_event_ms,
            elapsed_s=elapsed_s,
            speed=self.speed,
        )
        by_rate = 0.0 if self.rate is None else max(0.0, index / self.rate - elapsed_s)
        return max(by_event_time, by_rate)


@dataclass(frozen=True)
class Limits:
    count: int | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise InputError(f"--count must be at least 1, not {self.count}.")
        if self.duration_s is not None and (
            not math.isfinite(self.duration_s) or self.duration_s <= 0
        ):
            raise InputError(f"--duration must be a positive number, not {self.duration_s}.")


@dataclass(frozen=True)
class RunSummary:
    sent: int
    delivered: int
    failed: int
    skipped: int
    elapsed_s: float
    stopped_by: str
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.delivered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def describe(self, *, dry_run: bool = False) -> str:
        if dry_run:
            text = f"{self.sent} events written"
        else:
            text = f"{self.sent} sent, {self.delivered} delivered, {self.failed} failed"
        text += f", {self.rate:,.0f} events/s over {self.elapsed_s:.1f} s"
        if self.skipped:
            text += f", {self.skipped} bad row(s) skipped"
        return f"{text} ({self.stopped_by})"


Progress = Callable[[int, int, int], None]
"""Called with (sent, delivered, failed) about twice a second while the loop runs."""


def run_loop(
    readings: Iterable[Reading],
    sink: EventSink,
    *,
    pacing: Pacing,
    limits: Limits,
    stop: StopFlag,
    skipped: Callable[[], int] = lambda: 0,
    on_status: Callable[[str], None] | None = None,
    on_progress: Progress | None = None,
    origin_ms: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RunSummary:
    """Send readings to `sink` at the pace asked for, until a limit or a stop request.

    `origin_ms` is the event time that falls due when the loop starts (default: the first
    reading's): a shard of a ward starts from the ward's start, not from its own first patient.
    """
    source: Iterator[Reading] = iter(readings)
    if not stop:
        # A simulated ward is drawn and settled at its first reading: seconds for a ward of
        # 100,000 patients. That happens before the clock starts, so that it counts neither
        # in the run's time and rate nor against its pace or its --duration.
        first = next(source, None)
        if first is not None:
            source = itertools.chain((first,), source)
    started = clock()
    deadline = None if limits.duration_s is None else started + limits.duration_s
    count = limits.count
    first_event_ms: int | None = origin_ms
    # As fast as possible and without a deadline, nothing needs the clock between two events.
    timed = pacing.speed is not None or pacing.rate is not None or deadline is not None
    reporting = on_status is not None or on_progress is not None
    next_status = started + _STATUS_EVERY_S
    stopped_by = "source exhausted"
    index = 0
    send = sink.send
    while True:
        if count is not None and index >= count:
            stopped_by = f"--count {count} reached"
            break
        if stop:
            stopped_by = stop.reason or "stopped"
            break
        reading = next(source, None)
        if reading is None:
            break
        if timed:
            if first_event_ms is None:
                first_event_ms = reading.event_time
            wait_s = pacing.seconds_until_due(reading, index, first_event_ms, clock() - started)
            if deadline is not None and clock() + wait_s >= deadline:
                # This event would only fall due after the deadline: stop on time, not after.
                _wait_until(sink, stop, clock, deadline)
                stopped_by = f"--duration {limits.duration_s:g} s reached"
                break
            if wait_s > 0:
                _wait_until(sink, stop, clock, clock() + wait_s)
                if stop:
                    stopped_by = stop.reason or "stopped"
                    break
        send(reading)
        index += 1
        if reporting and clock() >= next_status:
            next_status = clock() + _STATUS_EVERY_S
            sent, delivered, failed = sink.counts()
            if on_progress is not None:
                on_progress(sent, delivered, failed)
            if on_status is not None:
                elapsed = clock() - started
                on_status(
                    f"{sent} sent, {delivered} delivered, {failed} failed, "
                    f"{sent / elapsed if elapsed > 0 else 0:,.0f} events/s"
                )
    sink.finish()
    sent, delivered, failed = sink.counts()
    return RunSummary(
        sent=sent,
        delivered=delivered,
        failed=failed,
        skipped=skipped(),
        elapsed_s=clock() - started,
        stopped_by=stopped_by,
        first_error=getattr(sink, "first_error", None),
    )


def _wait_until(sink: EventSink, stop: StopFlag, clock: Callable[[], float], until: float) -> None:
    while not stop:
        remaining = until - clock()
        if remaining <= 0:
            return
        sink.wait(min(remaining, _WAIT_SLICE_S))


def check_delivery(summary: RunSummary) -> None:
    """Raise DeliveryFailedError when any event was not acknowledged."""
    if summary.failed:
        reason = f" First error: {summary.first_error}." if summary.first_error else ""
        raise DeliveryFailedError(
            f"{summary.failed} of {summary.sent} events were not delivered.{reason}",
            hint="Check the cluster (`medrical config check`).",
        )


def replay_readings(
    replay: CsvReplay, on_problem: Callable[[RowProblem], None]
) -> Iterator[Reading]:
    """The replay's readings, reporting each skipped row as soon as it is met."""
    reported = 0

    def report_new() -> None:
        nonlocal reported
        while reported < len(replay.problems):
            on_problem(replay.problems[reported])
            reported += 1

    for reading in replay:
        report_new()
        yield reading
    report_new()


def produce_to_kafka(
    config: MedricalConfig,
    topic: str,
    readings: Iterable[Reading],
    *,
    pacing: Pacing,
    limits: Limits,
    skipped: Callable[[], int] = lambda: 0,
    on_status: Callable[[str], None] | None = None,
    on_progress: Progress | None = None,
    origin_ms: int | None = None,
    stop: StopFlag | None = None,
    reachable_timeout_s: float = 5.0,
    metrics: ProducerMetrics | None = None,
) -> RunSummary:
    """Produce readings to `topic` until a limit or a signal; failing fast when Kafka is down.

    SIGINT/SIGTERM stop the loop cleanly (see `StopOnSignals`), as does setting `stop`; what
    was sent is flushed. With `metrics`, the producer's counts and delivery latencies go there.
    """
    schemas.check_topic(topic)
    ensure_kafka_reachable(config, timeout_s=reachable_timeout_s)
    on_delivery = None if metrics is None else metrics.on_delivery
    with (
        BiometricsProducer(
            config, topic, check_reachable=False, on_delivery=on_delivery
        ) as producer,
        StopOnSignals(stop if stop is not None else StopFlag()) as flag,
    ):
        if metrics is not None:
            metrics.watch(topic, producer.stats)
        return run_loop(
            readings,
            KafkaSink(producer),
            pacing=pacing,
            limits=limits,
            stop=flag,
            skipped=skipped,
            on_status=on_status,
            on_progress=on_progress,
            origin_ms=origin_ms,
        )


def produce_dry_run(
    readings: Iterable[Reading],
    *,
    pacing: Pacing,
    limits: Limits,
    out: IO[str] | None = None,
    skipped: Callable[[], int] = lambda: 0,
    origin_ms: int | None = None,
) -> RunSummary:
    """Write readings as JSON lines (no network) until a limit, a signal, or a closed pipe."""
    with StopOnSignals(StopFlag()) as stop:
        return run_loop(
            readings,
            JsonLinesSink(stop, out),
            pacing=pacing,
            limits=limits,
            stop=stop,
            skipped=skipped,
            origin_ms=origin_ms,
        )
