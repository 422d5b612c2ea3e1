"""The pipeline view: events/s in, rows/s stored, alerts/s and each stage's lag, over time.

The figures are those of `medrical stack status` (`medrical.lag`), measured every few seconds
while a page shows them, and kept for a few minutes for the sparklines. Rates come from two
measurements some seconds apart (the end offsets of the topics, and for the sinks the
position they committed, which Connect commits once the rows are written), so that they move
as the pipeline does, where the status's input rate is the mean of the last minute.

`PipelineHistory` is the pure part (samples in, the view out); `PipelineSampler` measures in a
thread of its own, and only while someone looks: a dashboard nobody watches the pipeline of
asks nothing of Kafka for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from medrical.errors import MedricalError
from medrical.lag import StageLag, TopicFlow

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 2.0
# Connect commits a sink's offsets every 5 s (offset.flush.interval.ms): a rate over less
# would show the commits, not the flow.
RATE_OVER_S = 10.0
WINDOW_S = 300.0
IDLE_AFTER_S = 30.0


@dataclass(frozen=True)
class Sample:
    at_ms: int
    flows: tuple[TopicFlow, ...]
    alerts_received: int | None = None
    """The monitor's alerts the dashboard's feed has received so far. An alerts_* topic's end
    offsets also count the monitor's transaction markers (one per partition it wrote to, per
    transaction), so where this count is known, alerts/s comes from it."""


def _is_input(topic: str) -> bool:
    return topic.startswith("biometrics_")


def _is_alerts(topic: str) -> bool:
    return topic.startswith("alerts_")


def _sink_position(flow: TopicFlow) -> int:
    """What the topic's sinks have consumed and stored, summed over its sinks."""
    return sum(flow.end_offset - stage.readings for stage in flow.stages if stage.stage == "sink")


def _per_s(now: int, then: int, seconds: float) -> float:
    # A topic deleted and created again under the same name starts from 0.
    return max(0, now - then) / seconds if seconds > 0 else 0.0


def _seconds(newer: TopicFlow, older: TopicFlow, newer_at_ms: int, older_at_ms: int) -> float:
    """The time between two readings of a topic's offsets: when they were read, if known (a
    measurement can take seconds on a busy machine), else when the measurements began."""
    if newer.read_at_ms and older.read_at_ms:
        return (newer.read_at_ms - older.read_at_ms) / 1000
    return (newer_at_ms - older_at_ms) / 1000


def _rates(newer: Sample, older: Sample) -> dict[str, float]:
    """Events/s in, rows/s stored, alerts/s between two samples, over the topics in both."""
    before = {flow.topic: flow for flow in older.flows}
    events = stored = alerts = 0.0
    for flow in newer.flows:
        old = before.get(flow.topic)
        if old is None:
            continue
        seconds = _seconds(flow, old, newer.at_ms, older.at_ms)
        rate = _per_s(flow.end_offset, old.end_offset, seconds)
        if _is_input(flow.topic):
            events += rate
        elif _is_alerts(flow.topic):
            alerts += rate
        stored += _per_s(_sink_position(flow), _sink_position(old), seconds)
    if newer.alerts_received is not None and older.alerts_received is not None:
        seconds = (newer.at_ms - older.at_ms) / 1000
        alerts = _per_s(newer.alerts_received, older.alerts_received, seconds)
    return {
        "events_in_per_s": round(events, 1),
        "rows_stored_per_s": round(stored, 1),
        "alerts_per_s": round(alerts, 2),
    }


class PipelineHistory:
    """The samples of the last `window_s`, and the view they make."""

    def __init__(self, window_s: float = WINDOW_S, rate_over_s: float = RATE_OVER_S) -> None:
        self.window_s = window_s
        self.rate_over_s = rate_over_s
        self._samples: deque[Sample] = deque()
        self._rates: deque[dict[str, float]] = deque()
        self.error: str | None = None
        self.error_at_ms: int | None = None

    def add(self, sample: Sample) -> None:
        self._rates.append(self._rate_at(sample))
        self._samples.append(sample)
        self.error = self.error_at_ms = None
        cutoff = sample.at_ms - self.window_s * 1000
        while self._samples and self._samples[0].at_ms < cutoff:
            self._samples.popleft()
            self._rates.popleft()

    def failed(self, message: str, at_ms: int) -> None:
        """A measurement failed (Kafka unreachable): the view says so and keeps the last figures."""
        self.error, self.error_at_ms = message, at_ms

    def _rate_at(self, sample: Sample) -> dict[str, float]:
        # The newest earlier sample at least rate_over_s older; the oldest one kept if none is.
        older = None
        for candidate in reversed(self._samples):
            older = candidate
            if sample.at_ms - candidate.at_ms >= self.rate_over_s * 1000:
                break
        if older is None:
            return {"events_in_per_s": 0.0, "rows_stored_per_s": 0.0, "alerts_per_s": 0.0}
        return _rates(sample, older)

    def view(self) -> dict[str, Any]:
        samples = list(self._samples)
        times = [s.at_ms for s in samples]
        rates = list(self._rates)
        latest = samples[-1] if samples else None
        return {
            "sampled_at": latest.at_ms if latest else None,
            "error": self.error,
            "error_at": self.error_at_ms,
            "window_s": self.window_s,
            "rate_over_s": self.rate_over_s,
            "times": times,
            "now": rates[-1] if rates else None,
            "series": {
                key: [r[key] for r in rates]
                for key in ("events_in_per_s", "rows_stored_per_s", "alerts_per_s")
            },
            "topics": _topics(samples, self.rate_over_s) if latest else [],
        }


def _topics(samples: Sequence[Sample], rate_over_s: float) -> list[dict[str, Any]]:
    """The latest sample's topics, each with its input rate and its stages' lag over time."""
    latest = samples[-1]
    by_time = [{flow.topic: flow for flow in sample.flows} for sample in samples]
    older = next(
        (s for s in reversed(samples[:-1]) if latest.at_ms - s.at_ms >= rate_over_s * 1000),
        samples[0],
    )
    before = {flow.topic: flow for flow in older.flows}
    out = []
    for flow in latest.flows:
        old = before.get(flow.topic)
        rate = 0.0
        if old is not None:
            seconds = _seconds(flow, old, latest.at_ms, older.at_ms)
            rate = _per_s(flow.end_offset, old.end_offset, seconds)
        stages = []
        for stage in flow.stages:
            readings: list[int | None] = []
            lag_s: list[float | None] = []
            for flows in by_time:
                found = _stage(flows.get(flow.topic), stage.group)
                readings.append(found.readings if found else None)
                lag_s.append(round(found.seconds, 1) if found else None)
            stages.append({**stage.as_json(), "series_readings": readings, "series_seconds": lag_s})
        lagging = any(s["lag_readings"] for s in stages)
        first = by_time[0].get(flow.topic)
        moved = flow.end_offset > (first.end_offset if first is not None else 0)
        out.append(
            {
                "topic": flow.topic,
                "records": flow.records,
                "input_per_s": round(rate, 1),
                "dead_letters": flow.dead_letters,
                "stages": stages,
                # Neither input over the window nor a stage behind: listed apart on the page.
                "active": lagging or moved or rate > 0,
            }
        )
    out.sort(key=lambda t: (not t["active"], t["topic"]))
    return out


def _stage(flow: TopicFlow | None, group: str) -> StageLag | None:
    if flow is None:
        return None
    return next((stage for stage in flow.stages if stage.group == group), None)


class PipelineSampler:
    """Measures the pipeline every `interval_s` in a thread of its own, while pages ask for
    the view (for `idle_after_s` after the last time one did), and keeps the history."""

    def __init__(
        self,
        open_measure: Callable[[], tuple[Callable[[], Iterable[TopicFlow]], Callable[[], None]]],
        *,
        interval_s: float = SAMPLE_INTERVAL_S,
        idle_after_s: float = IDLE_AFTER_S,
        history: PipelineHistory | None = None,
        alerts_received: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`open_measure` gives a function that measures now and one that releases what it
        holds (Kafka clients): called in the sampling thread, again after each idle spell.
        `alerts_received` counts the monitor's alerts received so far (see `Sample`)."""
        self._open_measure = open_measure
        self._alerts_received = alerts_received
        self.interval_s = interval_s
        self.idle_after_s = idle_after_s
        self.history = history or PipelineHistory()
        self._clock = clock
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._last_asked = 0.0
        self._thread: threading.Thread | None = None

    def view(self) -> dict[str, Any]:
        """The view as measured so far; asking keeps (or starts) the measuring."""
        with self._lock:
            self._last_asked = self._clock()
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="medrical-pipeline", daemon=True
                )
                self._thread.start()
            self._wanted.set()
            view = self.history.view()
        view["interval_s"] = self.interval_s
        return view

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(15.0)

    def _idle(self) -> bool:
        with self._lock:
            idle = self._clock() - self._last_asked > self.idle_after_s
            if idle:
                self._wanted.clear()
            return idle

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wanted.wait()
            if self._stopping.is_set():
                return
            measure, release = self._open_measure()
            try:
                while not self._stopping.is_set() and not self._idle():
                    self.sample_once(measure)
                    self._stopping.wait(self.interval_s)
            finally:
                release()

    def sample_once(self, measure: Callable[[], Iterable[TopicFlow]]) -> None:
        at_ms = int(self._clock() * 1000)
        alerts = self._alerts_received() if self._alerts_received is not None else None
        try:
            flows = tuple(measure())
        except MedricalError as exc:
            log.warning("pipeline view: %s", exc)
            with self._lock:
                self.history.failed(str(exc), at_ms)
            return
        with self._lock:
            self.history.add(Sample(at_ms, flows, alerts))
