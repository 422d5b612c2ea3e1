"""`medrical monitor`'s Kafka shell: NEWS2 alerting on every `biometrics_*` topic, exactly once.

One consumer group reads the readings; its members share the partitions. Each assigned input
partition gets its own `AlertEngine`, so a patient's state lives with the partition their
readings arrive on (the producer keys by patient).

The pieces, each with one job:

- `StreamMonitor` (here): the loop. It consumes batches, decodes and scores each reading,
  hands alerts and state to the transaction, and commits every `commit_interval_s`. A commit
  runs while the loop goes on scoring; what it produces meanwhile joins the next transaction,
  and the commit's bookkeeping (counts, the partitions' committed offsets) waits until the
  commit has landed.
- `transactions.TransactionalOutput`: the checkpoint unit. One Kafka transaction holds the
  alerts raised (on `alerts_<name>`), the changed patients' state and a checkpoint (on the
  group's compacted changelog), and the consumer group's input offsets: all visible, or none.
- `store.ChangelogStore`: the state store. It writes that state and restores it: a
  partition's changelog read to its stable end with `read_committed` is the state as of the
  committed offset, which the checkpoint proves.
- `topics.TopicAdmin`: creates the alerts and changelog topics of a new input.
- `recovery.recover`: makes a newly assigned or rewound partition ready, from the loop.
- `outage.Outage`: the clock of a Kafka outage, and its account in the log.
- `clients`: the clients' settings, the writer-schema lookup and the alerts' encoding;
  `options`: what the monitor is asked to do and what it reports.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from medrical.config import MedricalConfig
from medrical.errors import InputError
from medrical.kafka_clients import ensure_kafka_reachable, registry_client
from medrical.monitor.alerts import Alert
from medrical.monitor.clients import (
    TRANSACTION_TIMEOUT_MS,
    alert_encoder,
    client_settings,
    schema_fetcher,
)
from medrical.monitor.engine import AlertEngine
from medrical.monitor.events import VitalsEvent, reading_fields
from medrical.monitor.options import (
    DEFAULT_GROUP,
    DEFAULT_OUTAGE_TIMEOUT_S,
    DEFAULT_TOPICS,
    MonitorError,
    MonitorObserver,
    MonitorOptions,
    MonitorSummary,
    StopSignal,
)
from medrical.monitor.outage import Outage
from medrical.monitor.recovery import KAFKA_TIMEOUT_S, recover
from medrical.monitor.store import ChangelogStore, PartitionState
from medrical.monitor.topics import TopicAdmin
from medrical.monitor.transactions import (
    ProducerLost,
    TransactionalOutput,
    TransactionFailed,
)
from medrical.schemas.wire import CachedAvroDecoder

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_OUTAGE_TIMEOUT_S",
    "DEFAULT_TOPICS",
    "TRANSACTION_TIMEOUT_MS",
    "MonitorError",
    "MonitorObserver",
    "MonitorOptions",
    "MonitorSummary",
    "StopSignal",
    "StreamMonitor",
    "lag_of",
    "partitions_of",
]

log = logging.getLogger(__name__)

SILENCE_TICK_MS = 10_000
"""How often, in event time, a partition looks for silent patients."""
CATCH_UP_COMMIT_S = 1.0
"""While a backlog is drained, transactions may last this long: fewer state records per
reading, at the cost of alerts becoming visible later, which matters only live."""
CATCH_UP_BATCHES = 10
"""A backlog is this many full batches in a row (20,000 readings at the default size): a live
stream that fell a second behind after a pause is not one, and keeps its short transactions."""
# A batch is handed over when full or after this long: short, so that a reading waits for
# few others before it is scored.
_POLL_TIMEOUT_S = 0.01


@dataclass
class _Checkpoint:
    """What a commit holds: each partition's offset, and the alerts raised."""

    offsets: list[tuple[PartitionState, int]] = field(default_factory=list)
    alerts: list[tuple[str, Alert]] = field(default_factory=list)


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
        settings = client_settings(config, opts, instance, self._outage.client_error)
        self._registry = registry_client(config)
        self._decoder = CachedAvroDecoder(schema_fetcher(self._registry))
        self._encode_alert = alert_encoder(self._registry)
        self._topics = TopicAdmin(
            AdminClient(settings.admin), opts.group, timeout_s=KAFKA_TIMEOUT_S
        )
        self._consumer = Consumer(settings.consumer)
        self._store = ChangelogStore(
            Consumer(settings.restore),
            lambda: AdminClient(settings.admin),
            timeout_s=KAFKA_TIMEOUT_S,
            settle_s=TRANSACTION_TIMEOUT_MS / 1000 + 30,
        )
        self._output = TransactionalOutput(lambda: Producer(settings.producer), self._outage)
        self._partitions: dict[tuple[str, int], PartitionState] = {}
        self._pending_alerts: list[tuple[str, Alert]] = []
        # The commit running, if any: its offsets per partition and the alerts it holds.
        self._committing: _Checkpoint | None = None
        # When the oldest reading not yet committed was handled; None when all is committed.
        self._pending_since: float | None = None
        self._full_batches = 0  # full batches in a row: how far behind the loop is
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
            self._full_batches = self._full_batches + 1 if len(messages) == opts.batch_size else 0
            if messages and self._outage.ongoing:
                self._outage.up()
            try:
                self._handle(messages)
                self._output.poll()
                self._settle(block=False)
            except TransactionFailed as failure:
                self._rewind(failure)
            if self._pending_since is not None:
                draining = self._full_batches >= CATCH_UP_BATCHES
                interval = CATCH_UP_COMMIT_S if draining else opts.commit_interval_s
                if time.monotonic() - self._pending_since >= max(interval, opts.commit_interval_s):
                    self._commit_or_rewind(wait=False)
            elif self._outage.ongoing:
                self._outage.probe(self._consumer)
        self._commit_or_rewind()

    def _handle(self, messages: list[Message]) -> None:
        """Decode, check and score a batch; alerts and changed patients go to the transaction.

        The hot path: per reading only what must be per reading (one wall-clock time for the
        batch, the partition looked up once per run of messages from it).
        """
        partitions = self._partitions
        decode = self._decoder.decode
        summary = self.summary
        observer = self._observer
        raised_at = int(time.time() * 1000)
        key: tuple[str, int] | None = None
        part: PartitionState | None = None
        for message in messages:
            error = message.error()
            if error is not None:
                self._consumer_error(error)
                continue
            topic = message.topic() or ""
            partition = message.partition() or 0
            if key is None or key[0] != topic or key[1] != partition:
                key = (topic, partition)
                part = partitions.get(key)
            if part is None or not part.ready:  # revoked, or waiting for its restore
                continue
            offset = message.offset() or 0
            if part.next_offset is not None and offset < part.next_offset:
                continue  # fetched before a rewind
            if self._pending_since is None:
                self._pending_since = time.monotonic()
            part.next_offset = offset + 1
            try:
                record = decode(message.value() or b"")
                fields = reading_fields(record)
            except InputError as exc:
                self._invalid(topic, partition, offset, exc)
                continue
            engine = part.engine
            alerts = engine.process_fields(fields, raised_at=raised_at)
            if alerts is None:
                summary.ignored += 1
                continue
            summary.readings += 1
            patient_id = fields[0]
            part.dirty.add(patient_id)
            for alert in alerts:
                self._emit(part, alert)
            if observer is not None:
                observer.reading(topic, VitalsEvent.from_mapping(record), engine.scored(patient_id))
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
        key, value = self._encode_alert(topic, alert)
        self._output.produce(topic, value, key)
        self._pending_alerts.append((part.topic, alert))
        if self._observer is not None:
            self._observer.alert(part.topic, alert)

    # -- transactions -----------------------------------------------------------------------

    def _commit(self, *, wait: bool = True) -> None:
        """Write changed state, checkpoints and offsets into the transaction and commit it;
        without `wait`, return once the commit has begun (a commit still running before is
        waited for first)."""
        self._settle(block=True)
        if self._pending_since is None and not self._output.in_transaction:
            return
        parts = list(self._partitions.values())
        offsets = []
        checkpoint = _Checkpoint(alerts=self._pending_alerts)
        for part in parts:
            tp = self._store.flush(part, self._output)
            if tp is not None:
                offsets.append(tp)
                checkpoint.offsets.append((part, tp.offset))
        self._pending_alerts = []
        self._pending_since = None
        self._committing = checkpoint
        self._output.begin_commit(offsets, self._consumer.consumer_group_metadata())
        if wait:
            self._settle(block=True)

    def _settle(self, *, block: bool) -> None:
        """Once the running commit has landed, count it and move the committed offsets."""
        checkpoint = self._committing
        if checkpoint is None or not self._output.finish_commit(block=block):
            return
        self._committing = None
        if self._on_commit is not None:
            self._on_commit(self._output.last_commit_s)
        for part, offset in checkpoint.offsets:
            self._store.committed(part, offset)
        self.summary.transactions += 1
        self.summary.alerts += len(checkpoint.alerts)
        self.summary.alerts_by_kind.update(a.kind.value for _, a in checkpoint.alerts)

    def _commit_or_rewind(self, *, wait: bool = True) -> None:
        try:
            self._commit(wait=wait)
        except TransactionFailed as failure:
            self._rewind(failure)

    def _rewind(self, failure: TransactionFailed | str) -> None:
        """Back to the last commit: abort what is open, restore every partition from Kafka.

        A fenced producer is replaced first (`TransactionalOutput.reset`), which settles the
        transaction it left: committed or aborted, the committed offsets then say which.
        """
        log.warning("%s; rewinding to the last commit", failure)
        lost = isinstance(failure, ProducerLost)
        if self._committing is not None and not lost:
            try:  # a commit that lands meanwhile is counted; rewinding starts from it
                self._settle(block=True)
            except ProducerLost:
                lost = True
            except TransactionFailed:
                pass
        self._committing = None
        self.summary.aborted += 1
        self.summary.rewinds += 1
        self._pending_alerts.clear()
        self._pending_since = None
        if lost:
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
        restored = recover(
            parts,
            self._consumer,
            self._store,
            self._topics,
            self._outage,
            self.options.policy,
        )
        self.summary.restored += restored
        log.info(
            "restored %d patient state record(s) of %s",
            restored,
            ", ".join(f"{p.topic}[{p.partition}]" for p in parts),
        )

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
        if (
            self._output.in_transaction
            or self._output.committing
            or self._pending_since is not None
        ):
            self._rewind("the group reassigned our partitions")
        for tp in lost:
            self._partitions.pop((tp.topic, tp.partition), None)
        log.warning("lost %d partition(s) to the group", len(lost))

    # -- Kafka's health ---------------------------------------------------------------------

    def _consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise MonitorError(f"Kafka consumer failed: {error.str()}")
        if error.code() != KafkaError._PARTITION_EOF:
            log.debug("consumer: %s", error.str())

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
