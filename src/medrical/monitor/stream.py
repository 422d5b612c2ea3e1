"""`medrical monitor`'s Kafka shell: NEWS2 alerting on every `biometrics_*` topic, exactly once.

One consumer group reads the readings; its members share the partitions. Each assigned input
partition gets its own `AlertEngine`, so a patient's state lives with the partition their
readings arrive on (the producer keys by patient).

Exactly once, end to end inside Kafka: every cycle of about `commit_interval_s` runs in one
Kafka transaction holding

- the alerts raised, on `alerts_<name>` (Avro, alert-value.avsc, keyed by patient),
- the new state of every patient touched, on the group's compacted changelog topic (see
  `records`), on the partition number of the input partition,
- the consumer group's input offsets (`send_offsets_to_transaction`).

Either all three become visible or none does. When a partition is assigned (start, restart,
rebalance) its patients' states are read back from the changelog with `read_committed`, which
yields exactly the state as of the committed input offset, and consuming resumes there: a
restart neither loses nor repeats an alert. On revocation the open transaction is committed
first, then the partition's state dropped. Alert ids are deterministic (UUIDv5 of patient,
kind and event time) and the alerts sink upserts on them, so even a store that reads the topic
at least once keeps each alert once.

Silence needs a clock. Live, wall-clock time would make alerts depend on when a replay runs,
so the monitor uses each partition's watermark: the newest event time processed on it. Every
`SILENCE_TICK_MS` of watermark progress, patients whose last reading lies more than the
policy's silence time behind the watermark raise a silent alert. A partition whose readings all
stop raises none (its watermark stops too); that is the price of deterministic replays.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.errors import InputError, MedricalError, ServiceUnavailableError
from medrical.kafka_clients import (
    avro_serializer,
    client_conf,
    ensure_kafka_reachable,
    registry_client,
)
from medrical.monitor.alerts import Alert
from medrical.monitor.engine import AlertEngine, ScoredReading
from medrical.monitor.events import VitalsEvent
from medrical.monitor.policy import AlertPolicy
from medrical.monitor.records import (
    ALERT_KEY,
    ALERT_VALUE,
    alert_record,
    alerts_topic_for,
    changelog_topic_for,
    check_group,
    decode_state,
    encode_state,
)
from medrical.schemas.wire import CachedAvroDecoder, WireFormatError

log = logging.getLogger(__name__)

DEFAULT_GROUP = "medrical-monitor"
DEFAULT_TOPICS = "^biometrics_.*"
SILENCE_TICK_MS = 10_000
"""How often, in event time, a partition looks for silent patients."""
TRANSACTION_TIMEOUT_MS = 10_000
"""A crashed monitor's open transaction is aborted by the broker after this long."""
_KAFKA_TIMEOUT_S = 30.0
# A batch is handed over when full or after this long: short, so that a reading waits for
# few others before it is scored.
_POLL_TIMEOUT_S = 0.01
_RESTORE_TIMEOUT_S = 60.0


class MonitorError(MedricalError):
    """The monitor cannot go on: fenced by another instance, or Kafka failed for good."""


class StopSignal(Protocol):
    """Anything that turns true when the loop should stop (e.g. producing.run.StopFlag)."""

    def __bool__(self) -> bool: ...


class MonitorObserver(Protocol):
    """Told about every scored reading and alert, e.g. to draw a ward view."""

    def reading(self, topic: str, event: VitalsEvent, scored: ScoredReading) -> None: ...

    def alert(self, topic: str, alert: Alert) -> None: ...


@dataclass(frozen=True)
class MonitorOptions:
    """How the monitor consumes; the defaults are the CLI's.

    `instance_id`, when given, names this process stably: it becomes the group's static member
    id and part of the transactional id, so a restart under the same id takes over at once
    and aborts whatever its crashed predecessor left open. Without one, a crashed member's
    partitions move after the session timeout and its open transaction is aborted after
    TRANSACTION_TIMEOUT_MS.
    """

    group: str = DEFAULT_GROUP
    topics: str = DEFAULT_TOPICS
    instance_id: str | None = None
    commit_interval_s: float = 0.1
    batch_size: int = 500
    policy: AlertPolicy = field(default_factory=AlertPolicy)

    def __post_init__(self) -> None:
        check_group(self.group)
        if self.commit_interval_s <= 0:
            raise InputError("the commit interval must be positive")
        if self.batch_size < 1:
            raise InputError("the batch size must be at least 1")
        if self.instance_id is not None:
            check_group(self.instance_id)


@dataclass
class MonitorSummary:
    """Counts over the run; alerts count only once their transaction committed."""

    readings: int = 0
    ignored: int = 0
    invalid: int = 0
    alerts: int = 0
    alerts_by_kind: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    aborted: int = 0
    started: float = field(default_factory=time.monotonic)

    def describe(self) -> str:
        elapsed = time.monotonic() - self.started
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.alerts_by_kind.items()))
        return (
            f"scored {self.readings} readings in {elapsed:.1f} s "
            f"({self.ignored} repeated or out of order, {self.invalid} invalid); "
            f"raised {self.alerts} alerts" + (f" ({kinds})" if kinds else "") + "; "
            f"{self.transactions} transactions committed, {self.aborted} aborted"
        )


@dataclass
class _Partition:
    """An assigned input partition: its engine and its progress in the open transaction."""

    topic: str
    partition: int
    engine: AlertEngine
    alerts_topic: str
    changelog_topic: str
    watermark: int | None = None
    next_offset: int | None = None
    dirty: set[str] = field(default_factory=set)

    def restored(self) -> None:
        times = [self.engine.export_patient(p)["last_event_time"] for p in self.engine.patients()]
        known = [t for t in times if t is not None]
        self.watermark = max(known) if known else None


class StreamMonitor:
    """The consume-score-alert loop; see the module docstring. Use as a context manager."""

    def __init__(
        self,
        config: MedricalConfig,
        options: MonitorOptions | None = None,
        *,
        observer: MonitorObserver | None = None,
    ) -> None:
        self.options = options or MonitorOptions()
        self.summary = MonitorSummary()
        self._observer = observer
        ensure_kafka_reachable(config)
        opts = self.options
        instance = opts.instance_id or uuid.uuid4().hex[:12]
        self._registry = registry_client(config)
        self._decoder = CachedAvroDecoder(self._fetch_schema)
        self._alert_key = avro_serializer(self._registry, schemas.schema_text(ALERT_KEY))
        self._alert_value = avro_serializer(self._registry, schemas.schema_text(ALERT_VALUE))
        extra = dict(config.kafka.extra)
        consumer_conf = client_conf(
            config,
            **{
                "group.id": opts.group,
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 10_000,
                "topic.metadata.refresh.interval.ms": 10_000,
            },
        )
        if opts.instance_id is not None:
            consumer_conf["group.instance.id"] = opts.instance_id
        consumer_conf.update(extra)
        producer_conf = client_conf(
            config,
            **{
                "transactional.id": f"medrical-monitor.{opts.group}.{instance}",
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
            },
        )
        producer_conf.update(extra)
        restore_conf = client_conf(
            config,
            **{
                "group.id": f"{opts.group}.restore",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
        restore_conf.update(extra)
        self._admin = AdminClient(client_conf(config, **extra))
        self._consumer = Consumer(consumer_conf)
        self._restorer = Consumer(restore_conf)
        self._producer = Producer(producer_conf)
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._in_transaction = False
        self._pending_alerts: list[tuple[str, Alert]] = []
        self._known_topics: set[str] = set()
        self._closed = False
        try:
            self._producer.init_transactions(_KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            self.close()
            raise MonitorError(f"cannot start Kafka transactions: {exc}") from exc

    def _fetch_schema(self, schema_id: int) -> str:
        try:
            text = self._registry.get_schema(schema_id).schema_str
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:  # a message framed with an id nobody registered
                raise WireFormatError(f"unknown schema id {schema_id}") from exc
            raise ServiceUnavailableError(
                "schema registry", f"cannot fetch the schema with id {schema_id} ({exc})."
            ) from exc
        except Exception as exc:  # the HTTP client's own errors: unreachable, timed out
            raise ServiceUnavailableError(
                "schema registry",
                f"cannot fetch the schema with id {schema_id} ({exc}).",
                hint="Is registry.url right (`medrical config show`)?",
            ) from exc
        if text is None:
            raise InputError(f"the schema registry holds no schema text for id {schema_id}")
        return text

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: StopSignal) -> MonitorSummary:
        """Consume until `stop` turns true, then commit what is open; return the summary."""
        self._consumer.subscribe(
            [self.options.topics],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        opts = self.options
        began = time.monotonic()
        while not stop:
            messages = self._consumer.consume(
                opts.batch_size, timeout=min(_POLL_TIMEOUT_S, opts.commit_interval_s)
            )
            for message in messages:
                self._handle(message)
            if self._in_transaction and time.monotonic() - began >= opts.commit_interval_s:
                self._commit()
            if not self._in_transaction:
                began = time.monotonic()
        self._commit()
        return self.summary

    def _handle(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise MonitorError(f"Kafka consumer failed: {error}")
            log.warning("consumer: %s", error)
            return
        topic, partition, offset = _coordinates(message)
        part = self._partitions.get((topic, partition))
        if part is None:  # a straggler of a partition revoked within this very batch
            return
        if not self._in_transaction:
            self._producer.begin_transaction()
            self._in_transaction = True
        part.next_offset = offset + 1
        try:
            event = VitalsEvent.from_mapping(self._decoder.decode(message.value() or b""))
        except InputError as exc:
            self.summary.invalid += 1
            if self.summary.invalid <= 10 or self.summary.invalid % 1000 == 0:
                log.warning(
                    "skipping %s[%d]@%d (%d invalid so far): %s",
                    topic,
                    partition,
                    offset,
                    self.summary.invalid,
                    exc,
                )
            return
        raised_at = int(time.time() * 1000)
        outcome = part.engine.process(event, raised_at=raised_at)
        if outcome.reading is None:
            self.summary.ignored += 1
            return
        self.summary.readings += 1
        part.dirty.add(event.patient_id)
        for alert in outcome.alerts:
            self._emit(part, alert)
        if self._observer is not None:
            self._observer.reading(topic, event, outcome.reading)
        previous = part.watermark
        if previous is None or event.event_time > previous:
            part.watermark = event.event_time
            if (
                previous is None
                or event.event_time // SILENCE_TICK_MS > previous // SILENCE_TICK_MS
            ):
                for alert in part.engine.check_silence(event.event_time, raised_at=raised_at):
                    part.dirty.add(alert.patient_id)
                    self._emit(part, alert)

    def _emit(self, part: _Partition, alert: Alert) -> None:
        topic = part.alerts_topic
        key = self._alert_key(
            {"patient_id": alert.patient_id}, SerializationContext(topic, MessageField.KEY)
        )
        value = self._alert_value(
            alert_record(alert), SerializationContext(topic, MessageField.VALUE)
        )
        self._produce(topic, key, value)
        self._pending_alerts.append((part.topic, alert))
        if self._observer is not None:
            self._observer.alert(part.topic, alert)

    def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None
    ) -> None:
        kwargs: dict[str, Any] = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)

    # -- transactions -----------------------------------------------------------------------

    def _commit(self, parts: Iterable[_Partition] | None = None) -> None:
        """Write dirty states and offsets into the open transaction and commit it."""
        if not self._in_transaction:
            return
        offsets = []
        for part in self._partitions.values() if parts is None else parts:
            for patient_id in part.dirty:
                state = encode_state(part.engine.export_patient(patient_id))
                self._produce(part.changelog_topic, patient_id.encode(), state, part.partition)
            part.dirty.clear()
            if part.next_offset is not None:
                offsets.append(TopicPartition(part.topic, part.partition, part.next_offset))
        try:
            if offsets:
                self._producer.send_offsets_to_transaction(
                    offsets, self._consumer.consumer_group_metadata(), _KAFKA_TIMEOUT_S
                )
            self._producer.commit_transaction(_KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            self._transaction_failed(exc)
            return
        self._in_transaction = False
        self.summary.transactions += 1
        self.summary.alerts += len(self._pending_alerts)
        self.summary.alerts_by_kind.update(a.kind.value for _, a in self._pending_alerts)
        self._pending_alerts.clear()

    def _transaction_failed(self, exc: KafkaException) -> None:
        error: KafkaError = exc.args[0]
        if error.txn_requires_abort():
            log.warning("aborting the transaction and rewinding: %s", error)
            self._abort()
            self._rewind()
            return
        raise MonitorError(
            f"Kafka transaction failed: {error}",
            hint="Another monitor with the same --instance-id may have taken over."
            if error.fatal()
            else None,
        ) from exc

    def _abort(self) -> None:
        if not self._in_transaction:
            return
        try:
            self._producer.abort_transaction(_KAFKA_TIMEOUT_S)
        finally:
            self._in_transaction = False
            self.summary.aborted += 1
            self._pending_alerts.clear()

    def _rewind(self) -> None:
        """Back to the last commit: states from the changelog, positions from the offsets."""
        parts = list(self._partitions.values())
        for part in parts:
            part.engine = AlertEngine(self.options.policy)
            part.next_offset = None
            part.dirty.clear()
        self._restore(parts)
        if not parts:
            return
        committed = self._consumer.committed(
            [TopicPartition(p.topic, p.partition) for p in parts], timeout=_KAFKA_TIMEOUT_S
        )
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self._consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    # -- rebalancing ------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        parts = []
        for tp in assigned:
            part = _Partition(
                tp.topic,
                tp.partition,
                AlertEngine(self.options.policy),
                alerts_topic_for(tp.topic),
                changelog_topic_for(self.options.group, tp.topic),
            )
            self._partitions[(tp.topic, tp.partition)] = part
            parts.append(part)
        self._ensure_topics({tp.topic for tp in assigned})
        if assigned:
            # With read_committed this waits for offsets still pending in another member's
            # transaction; once they are stable, so is the changelog written beside them.
            consumer.committed(assigned, timeout=_KAFKA_TIMEOUT_S)
        self._restore(parts)
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in parts) or "nothing")

    def _on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        self._commit()
        for tp in revoked:
            self._partitions.pop((tp.topic, tp.partition), None)
        log.info("revoked %d partition(s)", len(revoked))

    def _on_lost(self, consumer: Consumer, lost: list[TopicPartition]) -> None:
        # The group moved on without us: our offsets would be refused, so drop the work.
        self._abort()
        for tp in lost:
            self._partitions.pop((tp.topic, tp.partition), None)
        log.warning("lost %d partition(s) to the group", len(lost))
        self._rewind()

    def _ensure_topics(self, inputs: set[str]) -> None:
        """Create the alerts and changelog topics of new inputs, partitioned like them."""
        wanted = []
        for topic in sorted(inputs - self._known_topics):
            metadata = self._consumer.list_topics(topic, timeout=_KAFKA_TIMEOUT_S)
            count = len(metadata.topics[topic].partitions)
            wanted.append(NewTopic(alerts_topic_for(topic), num_partitions=count))
            wanted.append(
                NewTopic(
                    changelog_topic_for(self.options.group, topic),
                    num_partitions=count,
                    config={"cleanup.policy": "compact"},
                )
            )
        if not wanted:
            return
        futures = self._admin.create_topics(wanted, request_timeout=_KAFKA_TIMEOUT_S)
        for name, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise ServiceUnavailableError(
                        "Kafka", f"cannot create topic {name}: {exc.args[0]}"
                    ) from exc
        self._known_topics |= inputs

    def _watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        # A topic created a moment ago may not have a partition leader yet.
        deadline = time.monotonic() + _KAFKA_TIMEOUT_S
        while True:
            try:
                low, high = self._restorer.get_watermark_offsets(tp, timeout=_KAFKA_TIMEOUT_S)
                return int(low), int(high)
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise ServiceUnavailableError(
                        "Kafka", f"no offsets for {tp.topic}[{tp.partition}]: {exc}"
                    ) from exc
                time.sleep(0.2)

    def _restore(self, parts: list[_Partition]) -> None:
        """Read each partition's changelog to its end (committed records only)."""
        ends: dict[tuple[str, int], int] = {}
        for part in parts:
            tp = TopicPartition(part.changelog_topic, part.partition)
            low, high = self._watermarks(tp)
            if high > low:
                ends[(part.changelog_topic, part.partition)] = high
        if not ends:
            for part in parts:
                part.restored()
            return
        by_key = {(p.changelog_topic, p.partition): p for p in parts}
        self._restorer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        deadline = time.monotonic() + _RESTORE_TIMEOUT_S
        restored = 0
        try:
            while ends:
                if time.monotonic() > deadline:
                    raise MonitorError(
                        f"could not read the patient state of {len(ends)} partition(s) within "
                        f"{_RESTORE_TIMEOUT_S:.0f} s",
                        hint="Is a transaction still open? It is aborted after "
                        f"{TRANSACTION_TIMEOUT_MS / 1000:.0f} s.",
                    )
                for message in self._restorer.consume(1000, timeout=0.2):
                    topic, partition, offset = _coordinates(message)
                    key = (topic, partition)
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            ends.pop(key, None)
                            continue
                        raise MonitorError(f"reading patient state: {error}")
                    part = by_key[key]
                    payload = message.value()
                    patient = (message.key() or b"").decode()
                    if payload is None:
                        part.engine.forget_patient(patient)
                    else:
                        part.engine.restore_patient(decode_state(payload))
                        restored += 1
                    if offset + 1 >= ends.get(key, 0):
                        ends.pop(key, None)
        finally:
            self._restorer.unassign()
        for part in parts:
            part.restored()
        log.info("restored %d patient state record(s)", restored)

    # -- shutdown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Abort what is still open, leave the group, release every client."""
        if self._closed:
            return
        self._closed = True
        try:
            self._abort()
        except KafkaException as exc:
            log.warning("abort on close: %s", exc)
        try:
            self._consumer.close()
        finally:
            self._restorer.close()
            self._producer.flush(_KAFKA_TIMEOUT_S)
            self._registry.close()

    def __enter__(self) -> StreamMonitor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _coordinates(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed message (never None for those)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise MonitorError("Kafka returned a message without topic, partition or offset")
    return topic, partition, offset


def partitions_of(monitor: StreamMonitor) -> Mapping[tuple[str, int], AlertEngine]:
    """The engines of the partitions assigned right now (for tests and the ward view)."""
    return {key: part.engine for key, part in monitor._partitions.items()}
