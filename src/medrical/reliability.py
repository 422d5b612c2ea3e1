"""Measuring what a fault costs the pipeline: a steady load whose every delivery is timed, and
counts of what was stored.

Used by the failover benchmarks and the chaos tests alike: start a `SteadyLoad`, inject the
fault (`medrical.stack.chaos`), stop the load, then ask its `DeliveryTimeline` how long
producing stalled around the fault and `stored_counts` whether every reading landed once. A
`ProgressTrace` per stage (acknowledged, stored, scored), sampled meanwhile, tells how long
that stage stood still around each fault and when it had caught up again.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message

from medrical.config import MedricalConfig
from medrical.producing.producer import BiometricsProducer
from medrical.producing.run import Limits, Pacing, RunSummary, run_loop
from medrical.producing.sinks import KafkaSink
from medrical.simulation import Reading
from medrical.stopping import StopFlag
from medrical.topic_reading import messages_in

_BUCKETS_PER_S = 10


class DeliveryTimeline:
    """The delivery latency of every reading (produce() to acknowledgement), kept as the
    maximum per tenth of a second of produce time, so a long soak stays small in memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self._max: dict[int, float] = {}
        self.delivered = 0
        self.failed = 0
        self._lock = threading.Lock()

    def observe(self, error: KafkaError | None, message: Message) -> None:
        """A producer's delivery report (see BiometricsProducer's `on_delivery`)."""
        latency = message.latency()
        now = self._clock()
        seconds = float(latency) if latency is not None else 0.0
        bucket = int((now - seconds - self.started) * _BUCKETS_PER_S)
        with self._lock:
            if error is not None:
                self.failed += 1
                return
            self.delivered += 1
            if seconds > self._max.get(bucket, -1.0):
                self._max[bucket] = seconds

    def max_latency_s(self, since: float | None = None, until: float | None = None) -> float:
        """The longest delivery of readings produced between two clock readings (all of the
        run by default); 0.0 when none was delivered then."""
        return max((value for _, value in self._window(since, until)), default=0.0)

    def last_delayed_ack(self, delayed_s: float, since: float, until: float | None = None) -> float:
        """About when the last reading produced in the window and delivered slower than
        `delayed_s` was acknowledged (a clock reading); `since` when none was that slow."""
        return max(
            (at + value for at, value in self._window(since, until) if value > delayed_s),
            default=since,
        )

    def profile(self, step_s: float = 1.0) -> list[tuple[float, float]]:
        """(seconds since the start, longest delivery) for each `step_s` of produce time."""
        steps: dict[int, float] = {}
        for at, value in self._window(None, None):
            step = int((at - self.started) // step_s)
            steps[step] = max(value, steps.get(step, 0.0))
        return [(step * step_s, steps[step]) for step in sorted(steps)]

    def _window(self, since: float | None, until: float | None) -> list[tuple[float, float]]:
        """(produce time as a clock reading, longest delivery) of each bucket in the window."""
        low = -1 if since is None else int((since - self.started) * _BUCKETS_PER_S)
        high = None if until is None else int((until - self.started) * _BUCKETS_PER_S)
        with self._lock:
            return [
                (self.started + bucket / _BUCKETS_PER_S, value)
                for bucket, value in self._max.items()
                if bucket >= low and (high is None or bucket <= high)
            ]


@dataclass(frozen=True)
class Halt:
    """A stretch in which a stage of the pipeline had work and did none of it: from the last
    sample that showed it progressing (or first showed it with work) to the next that did."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class ProgressTrace:
    """Samples of one stage's progress (readings acknowledged, stored or scored) against the
    work that had reached it by then, to tell how long it stood still and when it caught up.

    `done` is None when the stage could not be read (its server down): such a sample neither
    ends a halt nor starts one.
    """

    def __init__(self) -> None:
        self._samples: list[tuple[float, int | None, int]] = []
        self._lock = threading.Lock()

    def record(self, at: float, done: int | None, due: int) -> None:
        with self._lock:
            self._samples.append((at, done, due))

    def samples(self) -> list[tuple[float, int | None, int]]:
        with self._lock:
            return list(self._samples)

    def halts(self) -> list[Halt]:
        """Every stretch between two samples of progress in which the stage had work, in
        order: while it keeps up, each is about one sampling interval long."""
        halts: list[Halt] = []
        mark: tuple[float, int, bool] | None = None  # when, how much done, work pending then
        for at, done, due in self.samples():
            if done is None:
                continue
            if mark is None or done > mark[1]:
                if mark is not None and mark[2]:
                    halts.append(Halt(mark[0], at))
                mark = (at, done, done < due)
            elif done >= due:
                mark = (at, done, False)  # idle: nothing to do is no halt
            elif not mark[2]:
                mark = (at, done, True)  # work arrived: a halt may start here
        return halts

    def longest_halt(
        self, since: float | None = None, until: float | None = None, *, inside: bool = False
    ) -> float:
        """The longest halt that overlaps the window (0.0 if none); with `inside`, the longest
        that lies wholly in it (for a baseline, which a fault just after must not reach)."""

        def counted(halt: Halt) -> bool:
            if inside:
                return (since is None or halt.start >= since) and (
                    until is None or halt.end <= until
                )
            return (since is None or halt.end > since) and (until is None or halt.start < until)

        return max((halt.seconds for halt in self.halts() if counted(halt)), default=0.0)

    def caught_up_after(self, since: float, until: float | None, lag_s: float) -> float | None:
        """Seconds from `since` until the stage had again done all the work that had reached it
        `lag_s` earlier, after the last sample before `until` at which it had not (0.0 if it
        never fell that far behind); None if it was still behind at the last sample before
        `until`."""
        samples = [s for s in self.samples() if until is None or s[0] < until]
        times = [at for at, _, _ in samples]
        behind_at: float | None = None
        caught_up_at: float | None = None
        for at, done, _ in samples:
            if at < since or done is None:
                continue
            earlier = bisect.bisect_right(times, at - lag_s) - 1
            if earlier >= 0 and done < samples[earlier][2]:
                behind_at, caught_up_at = at, None
            elif behind_at is not None and caught_up_at is None:
                caught_up_at = at
        if behind_at is None:
            return 0.0
        return None if caught_up_at is None else caught_up_at - since


class SteadyLoad:
    """Readings sent at a steady rate by a thread of its own, every delivery timed.

    Use as a context manager; leaving it (or `stop()`) ends the stream and drains it.
    """

    def __init__(
        self,
        config: MedricalConfig,
        topic: str,
        readings: Iterable[Reading],
        *,
        rate: float,
        count: int | None = None,
        **producer_overrides: Any,
    ) -> None:
        self.timeline = DeliveryTimeline()
        self._producer = BiometricsProducer(
            config, topic, on_delivery=self.timeline.observe, **producer_overrides
        )
        self._readings = readings
        self._pacing = Pacing(rate=rate)
        self._limits = Limits(count=count)
        self._stop = StopFlag()
        self._thread = threading.Thread(target=self._run, name="medrical-steady-load")
        self.summary: RunSummary | None = None
        self.error: BaseException | None = None
        self._closed = False

    def _run(self) -> None:
        try:
            self.summary = run_loop(
                self._readings,
                KafkaSink(self._producer, flush_timeout_s=120),
                pacing=self._pacing,
                limits=self._limits,
                stop=self._stop,
            )
        except BaseException as exc:  # handed to the caller of stop()
            self.error = exc

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def sent(self) -> int:
        return int(self._producer.stats.sent)

    def start(self) -> SteadyLoad:
        self._thread.start()
        return self

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait until the load has sent its `count` (or was stopped)."""
        self._thread.join(timeout_s)

    def stop(self) -> RunSummary:
        """End the stream (if it has not ended), drain it, and return its summary."""
        self._stop.set("load stopped")
        self._thread.join()
        if not self._closed:
            self._closed = True
            self._producer.close()
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        return self.summary

    def __enter__(self) -> SteadyLoad:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class StoredCounts:
    rows: int
    distinct: int  # distinct keys: a record stored twice counts once


READING_KEY = ("patient_id", "event_time")


def stored_counts(
    config: MedricalConfig, table: str, key: Sequence[str] = READING_KEY
) -> StoredCounts:
    """Rows of a table and its distinct keys (a reading's by default, e.g. ("alert_id",) for
    an alerts table); (0, 0) before the table exists."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
        if exists is None or exists[0] is None:
            return StoredCounts(0, 0)
        query = sql.SQL("SELECT count(*), count(DISTINCT ({})) FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(column) for column in key), sql.Identifier(table)
        )
        row = conn.execute(query).fetchone()
    return StoredCounts(int(row[0]), int(row[1])) if row else StoredCounts(0, 0)


def committed_records(
    config: MedricalConfig, topic: str, *, timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """Every committed record of an Avro topic (read_committed), decoded, partition by
    partition in offset order: what a transactional writer such as the monitor made visible,
    each repeat included."""
    from medrical.schemas.registry import registry_client
    from medrical.schemas.wire import CachedAvroDecoder
    from medrical.topic_reading import read_to_end

    registry = registry_client(config)
    try:
        decoder = CachedAvroDecoder(lambda i: str(registry.get_schema(i).schema_str))
        messages = read_to_end(config, topic, isolation="read_committed", timeout_s=timeout_s)
        return [dict(decoder.decode(message.value() or b"")) for message in messages]
    finally:
        registry.close()


@dataclass(frozen=True)
class Outcome:
    """What a stream under faults ended with: sent, acknowledged, in the topic, stored."""

    sent: int
    acknowledged: int
    failed: int
    in_topic: int
    stored: StoredCounts

    @classmethod
    def of(cls, config: MedricalConfig, topic: str, summary: RunSummary) -> Outcome:
        return cls(
            summary.sent,
            summary.delivered,
            summary.failed,
            messages_in(config, topic),
            stored_counts(config, topic),
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "failed": self.failed,
            "in_topic": self.in_topic,
            "stored_rows": self.stored.rows,
            "stored_distinct": self.stored.distinct,
            "lost": self.acknowledged - self.stored.distinct,
            "duplicated_rows": self.stored.rows - self.stored.distinct,
            "duplicated_in_topic": self.in_topic - self.acknowledged,
        }

    def describe(self) -> str:
        return describe_outcome(self.as_dict())


def describe_outcome(figures: Mapping[str, int]) -> str:
    """One line of an `Outcome.as_dict()` (as a benchmark's JSON holds it)."""
    d = figures
    return (
        f"sent {d['sent']:,}, acknowledged {d['acknowledged']:,}, failed {d['failed']}, "
        f"in the topic {d['in_topic']:,}, stored {d['stored_rows']:,} rows "
        f"({d['stored_distinct']:,} distinct): lost {d['lost']}, duplicated "
        f"{d['duplicated_rows']} rows / {d['duplicated_in_topic']} messages"
    )
