"""How far each stage of the pipeline lags behind its input, per `biometrics_*`/`alerts_*` topic.

A topic's stages are the consumer groups that commit offsets on it: Kafka Connect's sinks
(group `connect-<connector>`) and the monitor (group `medrical-monitor`, or another group the
monitor was given whose name starts so). For each, the lag in readings is what lies between its
committed offsets and the end of each partition, and the lag in seconds is the age of the
oldest record it has not yet consumed (0 once it has caught up). A topic's input rate is what
arrived over the last minute, by the records' timestamps.

The figures come from the broker alone (offsets, watermarks and one record per lagging
partition), so that `stack status` shows them whatever runs or does not run. A measurement asks
for every partition's offsets in three batched requests and reads the oldest unread records of
all lagging partitions through one consumer at once, so its cost grows with the number of
partitions by round trips of a few milliseconds, not by a poll's timeout each.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from medrical.config import MedricalConfig
from medrical.errors import ServiceUnavailableError
from medrical.kafka_clients import client_conf

PIPELINE_TOPICS = re.compile(r"^(biometrics|alerts)_")
SINK_GROUP_PREFIX = "connect-"
MONITOR_GROUP_PREFIX = "medrical-monitor"
RATE_WINDOW_S = 60.0
_TIMEOUT_S = 10.0
# confluent-kafka leaves these two class methods unannotated.
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
UNREAD_BUDGET_S = 5.0
"""How long one measurement spends at most reading the oldest unread records; a partition not
read by then counts as behind with its age unknown."""


@dataclass(frozen=True)
class StageLag:
    """One consumer group's distance from the end of one topic."""

    stage: str
    """"sink" or "monitor"."""
    group: str
    readings: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "group": self.group,
            "lag_readings": self.readings,
            "lag_seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class TopicFlow:
    """A pipeline topic: how much came in lately, and how far behind each stage is."""

    topic: str
    records: int
    input_per_s: float
    stages: tuple[StageLag, ...] = ()
    dead_letters: int = 0
    end_offset: int = 0
    """The sum of the partitions' end offsets: what ever came in, so that two measurements
    taken a few seconds apart give the rate of the moment (`records` shrinks with retention)."""
    read_at_ms: int = 0
    """When the end offsets were read (ms since the epoch)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "records": self.records,
            "input_per_s": round(self.input_per_s, 1),
            "stages": [stage.as_json() for stage in self.stages],
            "dead_letters": self.dead_letters,
        }

    def describe(self) -> str:
        stages = ", ".join(
            f"{s.stage} {s.readings} behind ({s.seconds:.1f} s)" for s in self.stages
        )
        return (
            f"{self.topic:<28} {self.input_per_s:8.1f}/s  {stages or 'no consumer group'}; "
            f"{self.dead_letters} dead letter(s)"
        )


def stage_of(group: str) -> str | None:
    """Which stage a consumer group is, or None for groups that are not a stage (the
    dashboard's, probes, the monitor's changelog restore)."""
    if group.startswith(SINK_GROUP_PREFIX):
        return "sink"
    if group.startswith(MONITOR_GROUP_PREFIX) and not group.endswith(".restore"):
        return "monitor"
    return None


@dataclass(frozen=True)
class Partition:
    """One partition's watermarks and the offset at the start of the rate window."""

    low: int
    high: int
    window_start: int


@dataclass(frozen=True)
class Unread:
    """What lies at and after a committed offset of a partition."""

    timestamp_ms: int | None
    """The oldest unread record's timestamp; None when it has none or was not read in time."""
    records: bool = True
    """False when nothing but transaction markers (or aborted records) lies past the offset: a
    read_committed consumer that stopped there has read everything."""


UNKNOWN = Unread(None)


def stage_lag(
    stage: str,
    group: str,
    partitions: Mapping[int, Partition],
    committed: Mapping[int, int],
    unread: Mapping[tuple[int, int], Unread],
    now_ms: int,
) -> StageLag:
    """A group's lag over a topic's partitions, given what was found at each (partition,
    offset) that `unread_points` asked for (a point missing from `unread` is behind with its
    age unknown)."""
    readings = 0
    oldest: int | None = None
    for number, partition in partitions.items():
        offset = _unread_from(partition, committed.get(number))
        behind = max(0, partition.high - offset)
        if not behind:
            continue
        found = unread.get((number, offset), UNKNOWN)
        if not found.records:
            continue
        readings += behind
        if found.timestamp_ms is not None and (oldest is None or found.timestamp_ms < oldest):
            oldest = found.timestamp_ms
    seconds = 0.0 if oldest is None else max(0.0, (now_ms - oldest) / 1000)
    return StageLag(stage, group, readings, seconds)


def unread_points(
    partitions: Mapping[int, Partition], committed: Mapping[int, int]
) -> set[tuple[int, int]]:
    """The (partition, offset) pairs past which a group has records left to read."""
    points = set()
    for number, partition in partitions.items():
        offset = _unread_from(partition, committed.get(number))
        if partition.high > offset:
            points.add((number, offset))
    return points


def _unread_from(partition: Partition, committed: int | None) -> int:
    # A partition the group never committed on: everything kept there is still unread; an
    # offset below the retained start counts from the start.
    return partition.low if committed is None else max(committed, partition.low)


def input_rate(partitions: Iterable[Partition], window_s: float = RATE_WINDOW_S) -> float:
    return sum(p.high - p.window_start for p in partitions) / window_s


@dataclass
class _Reader:
    """The Kafka clients one measurement uses, closed together."""

    config: MedricalConfig
    admin: AdminClient = field(init=False)
    consumer: Consumer = field(init=False)

    def __post_init__(self) -> None:
        self.admin = AdminClient(client_conf(self.config))
        self.consumer = Consumer(
            client_conf(
                self.config,
                **{
                    "group.id": f"medrical-lag-{uuid.uuid4().hex[:12]}",
                    "enable.auto.commit": False,
                    # The monitor's alerts are written in transactions: count what is committed.
                    "isolation.level": "read_committed",
                    # A partition with nothing left but transaction markers says so at once.
                    "enable.partition.eof": True,
                    # ...and a fetch that finds nothing new returns at once, not after 500 ms.
                    "fetch.wait.max.ms": 10,
                },
            )
        )

    def close(self) -> None:
        self.consumer.close()

    def topics(self) -> dict[str, list[int]]:
        metadata = self.admin.list_topics(timeout=_TIMEOUT_S)
        return {
            name: sorted(topic.partitions)
            for name, topic in metadata.topics.items()
            if PIPELINE_TOPICS.match(name) and topic.error is None
        }

    def partitions(
        self, topics: Mapping[str, Sequence[int]], now_ms: int
    ) -> dict[str, dict[int, Partition]]:
        """Every partition's watermarks and the offset at the start of the rate window, in
        three batched requests (the end offsets as a read_committed consumer sees them)."""
        since = int(now_ms - RATE_WINDOW_S * 1000)
        every = [TopicPartition(topic, n) for topic, numbers in topics.items() for n in numbers]
        if not every:
            return {}
        asked = {
            name: self.admin.list_offsets(
                dict.fromkeys(every, spec),
                isolation_level=IsolationLevel.READ_COMMITTED,
                request_timeout=_TIMEOUT_S,
            )
            for name, spec in (
                ("low", _EARLIEST),
                ("high", _LATEST),
                ("since", OffsetSpec.for_timestamp(since)),
            )
        }
        found = {
            name: {
                (tp.topic, tp.partition): future.result().offset for tp, future in futures.items()
            }
            for name, futures in asked.items()
        }
        result: dict[str, dict[int, Partition]] = {topic: {} for topic in topics}
        for tp in every:
            key = (tp.topic, tp.partition)
            low, high, start = found["low"][key], found["high"][key], found["since"][key]
            # No record at or after the window's start: nothing came in within it.
            start = high if start < 0 else min(start, high)
            result[tp.topic][tp.partition] = Partition(low, high, start)
        return result

    def groups(self) -> list[str]:
        listed = self.admin.list_consumer_groups(request_timeout=_TIMEOUT_S).result()
        return sorted(g.group_id for g in listed.valid if stage_of(g.group_id) is not None)

    def committed(self, groups: Sequence[str]) -> dict[str, dict[tuple[str, int], int]]:
        """Every committed offset of each group, by (topic, partition)."""
        # One request per group: librdkafka refuses a list of several ("Currently we support
        # listing offsets for a single consumer group only"); the requests still overlap.
        futures = {
            group: future
            for group in groups
            for future in self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=_TIMEOUT_S
            ).values()
        }
        result: dict[str, dict[tuple[str, int], int]] = {}
        for group, future in futures.items():
            answer = future.result()
            result[group] = {
                (tp.topic, tp.partition): tp.offset
                for tp in answer.topic_partitions
                if tp.offset >= 0 and tp.error is None
            }
        return result

    def unread(
        self, points: Iterable[tuple[str, int, int]], budget_s: float = UNREAD_BUDGET_S
    ) -> dict[tuple[str, int, int], Unread]:
        """What lies at each (topic, partition, offset): every partition is read at once, a
        round for each further offset asked of the same partition, all within `budget_s`."""
        by_partition: dict[tuple[str, int], list[int]] = {}
        for topic, number, offset in points:
            by_partition.setdefault((topic, number), []).append(offset)
        rounds: list[list[TopicPartition]] = []
        for (topic, number), offsets in by_partition.items():
            for index, offset in enumerate(sorted(set(offsets))):
                if index == len(rounds):
                    rounds.append([])
                rounds[index].append(TopicPartition(topic, number, offset))
        deadline = time.monotonic() + budget_s
        found: dict[tuple[str, int, int], Unread] = {}
        for assignment in rounds:
            found.update(self._first_records(assignment, deadline))
        return found

    def _first_records(
        self, assignment: list[TopicPartition], deadline: float
    ) -> dict[tuple[str, int, int], Unread]:
        start = {(tp.topic, tp.partition): tp.offset for tp in assignment}
        found: dict[tuple[str, int, int], Unread] = {}
        done: list[TopicPartition] = []
        self.consumer.assign(assignment)
        try:
            while len(found) < len(start) and (left := deadline - time.monotonic()) > 0:
                for message in self.consumer.consume(500, min(left, 0.05)):
                    topic, number = message.topic(), message.partition()
                    if topic is None or number is None or (topic, number) not in start:
                        continue
                    key = (topic, number, start[(topic, number)])
                    if key in found:
                        continue
                    error = message.error()
                    if error is None:
                        _kind, timestamp = message.timestamp()
                        found[key] = Unread(int(timestamp) if timestamp > 0 else None)
                    elif error.code() == KafkaError._PARTITION_EOF:
                        found[key] = Unread(None, records=False)
                    else:
                        continue
                    # Read no further there; the pause outlives the assignment, so it is
                    # undone before the next measurement assigns the partition again.
                    done.append(TopicPartition(topic, number))
                    self.consumer.pause(done[-1:])
        finally:
            if done:
                self.consumer.resume(done)
            self.consumer.unassign()
        return found


class LagReader:
    """Measurements one after another over the same Kafka clients (for a view that refreshes
    every few seconds); `measure` below takes one and closes its clients. Use from one thread."""

    def __init__(self, config: MedricalConfig) -> None:
        self._config = config
        self._reader: _Reader | None = None

    def __enter__(self) -> LagReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def measure(
        self, dead_letters: Callable[[], Mapping[str, int]] | None = None
    ) -> list[TopicFlow]:
        """Every pipeline topic's flow and each stage's lag, read from Kafka now.

        `dead_letters` gives the sink's dead letters per source topic (read only when given,
        since it reads the whole dead-letter topic).
        """
        if self._reader is None:
            self._reader = _Reader(self._config)
        try:
            return _measure(self._reader, dead_letters)
        except KafkaException as exc:
            # Clients that failed start afresh next time.
            self.close()
            raise ServiceUnavailableError("Kafka", f"reading offsets: {exc}") from exc


def measure(
    config: MedricalConfig, dead_letters: Callable[[], Mapping[str, int]] | None = None
) -> list[TopicFlow]:
    """Every pipeline topic's flow and each stage's lag, read from Kafka now (see
    `LagReader.measure`)."""
    with LagReader(config) as reader:
        return reader.measure(dead_letters)


def _measure(
    reader: _Reader, dead_letters: Callable[[], Mapping[str, int]] | None
) -> list[TopicFlow]:
    now_ms = time.time_ns() // 1_000_000
    topics = reader.topics()
    groups = reader.groups()
    committed = reader.committed(groups) if groups else {}
    letters = dead_letters() if dead_letters is not None else {}
    # Every topic's watermarks first, all near now_ms, before the slower look-ups of the oldest
    # unread records: two measurements a few seconds apart then give a rate of the moment.
    watermarks = reader.partitions(topics, now_ms)
    read_at_ms = time.time_ns() // 1_000_000
    # Which groups are stages of which topic, with their offsets there.
    staged: dict[str, list[tuple[str, dict[int, int]]]] = {topic: [] for topic in watermarks}
    for group in groups:
        by_topic: dict[str, dict[int, int]] = {}
        for (topic, number), offset in committed[group].items():
            by_topic.setdefault(topic, {})[number] = offset
        for topic, offsets in by_topic.items():
            if topic in staged:
                staged[topic].append((group, offsets))
    unread = reader.unread(
        (topic, number, offset)
        for topic, entries in staged.items()
        for _group, offsets in entries
        for number, offset in unread_points(watermarks[topic], offsets)
    )
    found_in: dict[str, dict[tuple[int, int], Unread]] = {topic: {} for topic in watermarks}
    for (topic, number, offset), found in unread.items():
        found_in[topic][(number, offset)] = found
    flows = []
    for topic, partitions in sorted(watermarks.items()):
        stages = []
        for group, offsets in staged[topic]:
            stage = stage_of(group)
            assert stage is not None  # groups() keeps stages only
            stages.append(stage_lag(stage, group, partitions, offsets, found_in[topic], now_ms))
        flows.append(
            TopicFlow(
                topic=topic,
                records=sum(p.high - p.low for p in partitions.values()),
                input_per_s=input_rate(partitions.values()),
                stages=tuple(stages),
                dead_letters=letters.get(topic, 0),
                end_offset=sum(p.high for p in partitions.values()),
                read_at_ms=read_at_ms,
            )
        )
    return flows
