"""`medrical monitor`'s Kafka shell: NEWS2 alerting on every `biometrics_*` topic, exactly once.

One consumer group reads the readings; its members share the partitions. Each assigned input
partition gets its own `AlertEngine`, so a patient's state lives with the partition their
readings arrive on (the producer keys by patient).

The pieces, each with one job:

- `StreamMonitor` (here): the loop. It consumes batches, decodes and scores each reading,
  hands alerts and state to the transaction, and commits every `commit_interval_s`.
- `transactions.TransactionalOutput`: the checkpoint unit. One Kafka transaction holds the
  alerts raised (on `alerts_<name>`), the changed patients' state and a checkpoint (on the
  group's compacted changelog), and the consumer group's input offsets: all visible, or none.
- `store.ChangelogStore`: the state store. It writes that state and restores it: a
  partition's changelog read to its stable end with `read_committed` is the state as of the
  committed offset, which the checkpoint proves.
- `topics.TopicAdmin`: creates the alerts and changelog topics of a new input.
- `outage.Outage`: the clock of a Kafka outage, and its account in the log.

Rebalances: the callbacks only record what happened. A newly assigned partition is paused and
marked for restore; the loop restores it, seeks it to its committed offset and resumes it.
On revocation the open transaction is committed first. On a lost assignment it is aborted.

Failures: when a transaction cannot commit (aborted, fenced, outlived its timeout during a
broker outage), the monitor aborts what is open (a fenced producer is replaced by a new one
under the same transactional id, which settles whatever the old one left), then rewinds every
partition: state from the changelog, positions from the committed offsets. Whatever became of
the uncertain transaction, that is consistent, and since alert ids and engine state are
deterministic, reprocessing raises exactly the alerts an undisturbed run raises. While Kafka
does not answer, the monitor waits; past `kafka_outage_timeout_s` it gives up (exit 69).

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
from collections.abc import Callable, Mapping
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
from medrical.monitor.events import VitalsEvent, reading_fields
from medrical.monitor.outage import Outage, transient
from medrical.monitor.policy import AlertPolicy
from medrical.monitor.records import ALERT_KEY, ALERT_VALUE, alert_record, check_group
from medrical.monitor.store import ChangelogStore, PartitionState, StateMismatch
from medrical.monitor.topics import TopicAdmin
from medrical.monitor.transactions import (
    ProducerLost,
    TransactionalOutput,
    TransactionFailed,
)
from medrical.schemas.wire import CachedAvroDecoder, WireFormatError

log = logging.getLogger(__name__)

DEFAULT_GROUP = "medrical-monitor"
DEFAULT_TOPICS = "^biometrics_.*"
SILENCE_TICK_MS = 10_000
"""How often, in event time, a partition looks for silent patients."""
TRANSACTION_TIMEOUT_MS = 10_000
"""A crashed monitor's open transaction is aborted by the broker after this long."""
DEFAULT_OUTAGE_TIMEOUT_S = 300.0
CATCH_UP_COMMIT_S = 1.0
"""While a backlog is drained (full batches), transactions may last this long: fewer state
records per reading, at the cost of alerts becoming visible later, which matters only live."""
_KAFKA_TIMEOUT_S = 30.0
# A batch is handed over when full or after this long: short, so that a reading waits for
# few others before it is scored.
_POLL_TIMEOUT_S = 0.01
_MISMATCH_RETRIES = 5


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
    batch_size: int = 2000
    kafka_outage_timeout_s: float = DEFAULT_OUTAGE_TIMEOUT_S
    policy: AlertPolicy = field(default_factory=AlertPolicy)

    def __post_init__(self) -> None:
        check_group(self.group)
        if self.commit_interval_s <= 0:
            raise InputError("the commit interval must be positive")
        if self.batch_size < 1:
            raise InputError("the batch size must be at least 1")
        if not self.kafka_outage_timeout_s > 0:
            raise InputError("the Kafka outage timeout must be positive")
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
    rewinds: int = 0
    restored: int = 0
    started: float = field(default_factory=time.monotonic)

    def describe(self) -> str:
        elapsed = time.monotonic() - self.started
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.alerts_by_kind.items()))
        text = (
            f"scored {self.readings} readings in {elapsed:.1f} s "
            f"({self.ignored} repeated or out of order, {self.invalid} invalid); "
            f"raised {self.alerts} alerts" + (f" ({kinds})" if kinds else "") + "; "
            f"{self.transactions} transactions committed, {self.aborted} aborted"
        )
        if self.rewinds:
            text += f"; rewound {self.rewinds} time(s) to the last commit"
        return text


class _Quiet:
    """librdkafka's own log lines at debug level: the monitor tells what matters itself."""

    _log = logging.getLogger("medrical.librdkafka")

    def log(self, level: int, message: str, *args: Any) -> None:
        self._log.debug(message, *args)


class StreamMonitor:
    """The consume-score-alert loop; see the module docstring. Use as a context manager.

    The constructor only builds clients (no network I/O); `run` connects.
    """

    def __init__(
        self,
        config: MedricalConfig,
        options: MonitorOptions | None = None,
        *,
        observer: MonitorObserver | None = None,
        on_commit: Callable[[float], None] | None = None,
    ) -> None:
        """`on_commit` is told how many seconds each transaction's commit took."""
        self.options = opts = options or MonitorOptions()
        self.summary = MonitorSummary()
        self._config = config
        self._observer = observer
        self._on_commit = on_commit
        self._outage = Outage(opts.kafka_outage_timeout_s)
        instance = opts.instance_id or uuid.uuid4().hex[:12]
        extra = dict(config.kafka.extra)
        quiet = _Quiet()
        consumer_conf = client_conf(
            config,
            logger=quiet,
            error_cb=self._client_error,
            **{
                "group.id": opts.group,
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 10_000,
                # Outlast an outage: the loop does not poll while it waits for Kafka.
                "max.poll.interval.ms": int((opts.kafka_outage_timeout_s + 60) * 1000),
                "topic.metadata.refresh.interval.ms": 10_000,
                "fetch.wait.max.ms": 50,
            },
        )
        if opts.instance_id is not None:
            consumer_conf["group.instance.id"] = opts.instance_id
        consumer_conf.update(extra)
        producer_conf = client_conf(
            config,
            logger=quiet,
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
            logger=quiet,
            **{
                "group.id": f"{opts.group}.restore",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
        restore_conf.update(extra)
        self._registry = registry_client(config)
        self._decoder = CachedAvroDecoder(self._fetch_schema)
        self._alert_key = avro_serializer(self._registry, schemas.schema_text(ALERT_KEY))
        self._alert_value = avro_serializer(self._registry, schemas.schema_text(ALERT_VALUE))
        admin_conf = client_conf(config, logger=quiet, **extra)
        self._topics = TopicAdmin(AdminClient(admin_conf), opts.group, timeout_s=_KAFKA_TIMEOUT_S)
        self._consumer = Consumer(consumer_conf)
        self._store = ChangelogStore(
            Consumer(restore_conf),
            lambda: AdminClient(admin_conf),
            timeout_s=_KAFKA_TIMEOUT_S,
            settle_s=TRANSACTION_TIMEOUT_MS / 1000 + 30,
        )
        self._output = TransactionalOutput(lambda: Producer(producer_conf), self._outage)
        self._partitions: dict[tuple[str, int], PartitionState] = {}
        self._pending_alerts: list[tuple[str, Alert]] = []
        # When the oldest reading not yet committed was handled; None when all is committed.
        self._pending_since: float | None = None
        self._lagging = False
        self._closed = False

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: StopSignal) -> MonitorSummary:
        """Consume until `stop` turns true, then commit what is open; return the summary."""
        self._outage.stopping = lambda: bool(stop)
        ensure_kafka_reachable(self._config)
        self._output.start()
        self._consumer.subscribe(
            [self.options.topics],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            self._loop(stop)
        except KafkaException as exc:  # what no retry and no rewind can get past
            raise MonitorError(f"Kafka failed: {exc.args[0].str()}") from exc
        return self.summary

    def _loop(self, stop: StopSignal) -> None:
        opts = self.options
        while not stop:
            if any(not part.ready for part in self._partitions.values()):
                self._restore_pending()
            messages = self._consumer.consume(opts.batch_size, timeout=_POLL_TIMEOUT_S)
            self._lagging = len(messages) == opts.batch_size
            if messages and self._outage.ongoing:
                self._outage.up()
            try:
                for message in messages:
                    self._handle(message)
                self._output.poll()
            except TransactionFailed as failure:
                self._rewind(failure)
            if self._pending_since is not None:
                interval = CATCH_UP_COMMIT_S if self._lagging else opts.commit_interval_s
                if time.monotonic() - self._pending_since >= max(interval, opts.commit_interval_s):
                    self._commit_or_rewind()
            elif self._outage.ongoing:
                self._probe_kafka()
        self._commit_or_rewind()

    def _handle(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            self._consumer_error(error)
            return
        topic = message.topic() or ""
        partition = message.partition() or 0
        part = self._partitions.get((topic, partition))
        if part is None or not part.ready:  # revoked, or waiting for its restore
            return
        offset = message.offset() or 0
        if part.next_offset is not None and offset < part.next_offset:
            return  # fetched before a rewind
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        part.next_offset = offset + 1
        try:
            record = self._decoder.decode(message.value() or b"")
            fields = reading_fields(record)
        except InputError as exc:
            self._invalid(topic, partition, offset, exc)
            return
        raised_at = int(time.time() * 1000)
        engine = part.engine
        alerts = engine.process_fields(fields, raised_at=raised_at)
        if alerts is None:
            self.summary.ignored += 1
            return
        self.summary.readings += 1
        patient_id = fields[0]
        part.dirty.add(patient_id)
        for alert in alerts:
            self._emit(part, alert)
        if self._observer is not None:
            self._observer.reading(
                topic, VitalsEvent.from_mapping(record), engine.scored(patient_id)
            )
        event_time = fields[1]
        previous = part.watermark
        if previous is None or event_time > previous:
            part.watermark = event_time
            if previous is None or event_time // SILENCE_TICK_MS > previous // SILENCE_TICK_MS:
                for alert in engine.check_silence(event_time, raised_at=raised_at):
                    part.dirty.add(alert.patient_id)
                    self._emit(part, alert)

    def _invalid(self, topic: str, partition: int, offset: int, exc: InputError) -> None:
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

    def _emit(self, part: PartitionState, alert: Alert) -> None:
        topic = part.alerts_topic
        key = self._alert_key(
            {"patient_id": alert.patient_id},
            SerializationContext(topic, MessageField.KEY),
        )
        value = self._alert_value(
            alert_record(alert), SerializationContext(topic, MessageField.VALUE)
        )
        self._output.produce(topic, value, key)
        self._pending_alerts.append((part.topic, alert))
        if self._observer is not None:
            self._observer.alert(part.topic, alert)

    # -- transactions -----------------------------------------------------------------------

    def _commit(self) -> None:
        """Write changed state, checkpoints and offsets into a transaction and commit it."""
        if self._pending_since is None and not self._output.in_transaction:
            return
        parts = list(self._partitions.values())
        offsets = [tp for part in parts if (tp := self._store.flush(part, self._output))]
        started = time.monotonic()
        self._output.commit(offsets, self._consumer.consumer_group_metadata())
        if self._on_commit is not None:
            self._on_commit(time.monotonic() - started)
        self._pending_since = None
        for part in parts:
            self._store.committed(part)
        self.summary.transactions += 1
        self.summary.alerts += len(self._pending_alerts)
        self.summary.alerts_by_kind.update(a.kind.value for _, a in self._pending_alerts)
        self._pending_alerts.clear()

    def _commit_or_rewind(self) -> None:
        try:
            self._commit()
        except TransactionFailed as failure:
            self._rewind(failure)

    def _rewind(self, failure: TransactionFailed | str) -> None:
        """Back to the last commit: abort what is open, restore every partition from Kafka.

        A fenced producer is replaced first (`TransactionalOutput.reset`), which settles the
        transaction it left: committed or aborted, the committed offsets then say which.
        """
        log.warning("%s; rewinding to the last commit", failure)
        self.summary.aborted += 1
        self.summary.rewinds += 1
        self._pending_alerts.clear()
        self._pending_since = None
        if isinstance(failure, ProducerLost):
            self._output.reset()
        else:
            self._output.abort()
        for part in self._partitions.values():
            part.reset(self.options.policy)
        if self._partitions:
            self._consumer.pause([TopicPartition(t, p) for t, p in self._partitions])

    def _restore_pending(self) -> None:
        """Restore every partition not ready yet, seek it to its committed offset, resume it."""
        parts = [part for part in self._partitions.values() if not part.ready]
        self._outage.retry(
            "creating the alerts and state topics",
            lambda: self._topics.ensure_outputs({p.topic for p in parts}),
        )
        tps = [TopicPartition(p.topic, p.partition) for p in parts]
        for attempt in range(_MISMATCH_RETRIES):
            # read_committed: this waits for offsets still pending in a transaction; the
            # changelog written beside them settles with them.
            committed = self._outage.retry(
                "reading the committed offsets",
                lambda: self._consumer.committed(tps, timeout=_KAFKA_TIMEOUT_S),
            )
            offsets = {(tp.topic, tp.partition): tp.offset for tp in committed}
            for part in parts:
                part.reset(self.options.policy)
            try:
                restored = self._outage.retry(
                    "restoring patient state",
                    lambda offsets=offsets: self._store.restore(parts, offsets),  # type: ignore[misc]
                )
                break
            except StateMismatch as exc:
                if attempt == _MISMATCH_RETRIES - 1:
                    raise MonitorError(
                        f"patient state and committed offsets disagree: {exc}",
                        hint="Stop every monitor of this group and start again; if it stays, "
                        "start a new group (--group) to rebuild the state from the readings.",
                    ) from exc
                log.info("%s; reading it again", exc)
                time.sleep(1.0)
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self._seek(TopicPartition(tp.topic, tp.partition, offset))
        for part in parts:
            part.ready = True
        self._consumer.resume(tps)
        self.summary.restored += restored
        log.info(
            "restored %d patient state record(s) of %s",
            restored,
            ", ".join(f"{p.topic}[{p.partition}]" for p in parts),
        )

    def _seek(self, tp: TopicPartition) -> None:
        try:
            self._consumer.seek(tp)
        except KafkaException as exc:
            # A partition not yet fetched has no position to move: it starts from the
            # committed offset (or the reset policy) when resumed, which is where we are.
            if exc.args[0].code() != KafkaError._STATE:
                raise

    # -- rebalancing ------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        consumer.assign(assigned)
        consumer.pause(assigned)
        for tp in assigned:
            self._partitions[(tp.topic, tp.partition)] = PartitionState.assigned(
                tp.topic, tp.partition, self.options.group, self.options.policy
            )
        log.info(
            "assigned %s",
            ", ".join(f"{t.topic}[{t.partition}]" for t in assigned) or "nothing",
        )

    def _on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        if not self._closed:  # on close, `run` has committed; what is left is uncommitted
            self._commit_or_rewind()
        for tp in revoked:
            self._partitions.pop((tp.topic, tp.partition), None)
        log.info("revoked %d partition(s)", len(revoked))

    def _on_lost(self, consumer: Consumer, lost: list[TopicPartition]) -> None:
        # The group moved on without us: our offsets would be refused, so drop the work.
        if self._output.in_transaction or self._pending_since is not None:
            self._rewind("the group reassigned our partitions")
        for tp in lost:
            self._partitions.pop((tp.topic, tp.partition), None)
        log.warning("lost %d partition(s) to the group", len(lost))

    # -- Kafka's health ---------------------------------------------------------------------

    def _client_error(self, error: KafkaError) -> None:
        if error.fatal():
            log.error("Kafka consumer: %s", error.str())
        elif error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._outage.down(error.str())
        else:
            log.debug("Kafka consumer: %s", error.str())

    def _consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise MonitorError(f"Kafka consumer failed: {error.str()}")
        if error.code() != KafkaError._PARTITION_EOF:
            log.debug("consumer: %s", error.str())

    def _probe_kafka(self) -> None:
        """While the outage clock runs, ask for metadata: an answer stops it."""
        try:
            self._consumer.list_topics(timeout=1.0)
        except KafkaException as exc:
            if not transient(exc):
                raise
            self._outage.down(str(exc.args[0].str()))
            return
        self._outage.up()

    def _fetch_schema(self, schema_id: int) -> str:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            text = self._registry.get_schema(schema_id).schema_str
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:  # a message framed with an id nobody registered
                raise WireFormatError(f"unknown schema id {schema_id}") from exc
            raise ServiceUnavailableError(
                "schema registry",
                f"cannot fetch the schema with id {schema_id} ({exc}).",
            ) from exc
        if text is None:
            raise InputError(f"the schema registry holds no schema text for id {schema_id}")
        return str(text)

    # -- shutdown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Abort what is still open, leave the group, release every client."""
        if self._closed:
            return
        self._closed = True
        try:
            self._output.close()
            self._consumer.close()
        finally:
            self._store.close()
            self._registry.close()

    def __enter__(self) -> StreamMonitor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def lag_of(monitor: StreamMonitor) -> dict[tuple[str, int], int]:
    """Readings behind the end of each assigned partition, by what the client last heard of
    the end (no request to the broker): for the metrics, from another thread."""
    lags = {}
    for (topic, partition), part in list(monitor._partitions.items()):
        if part.next_offset is None:
            continue
        try:
            _low, high = monitor._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
        except KafkaException:  # not fetched from yet
            continue
        if high >= 0:
            lags[(topic, partition)] = max(0, high - part.next_offset)
    return lags


def partitions_of(monitor: StreamMonitor) -> Mapping[tuple[str, int], AlertEngine]:
    """The engines of the partitions assigned right now (for tests and the ward view)."""
    return {key: part.engine for key, part in monitor._partitions.items()}
